/* report.c — turns a run folder's results.json (plus hyperfine.json,
 * callgrind/ and conform.json) into gnuplot plots, index.html and summary.md.
 * Nothing here measures; everything shown is read from those files. */
#include "bench.h"
#include "json.h"
#include "report.h"

#include <evl/backend.h>

#include <dirent.h>
#include <math.h>
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define REPORT_MAX_IMPL 64

typedef struct report_rec {
  const json *j;
  const json *params;
  const char *bench, *impl, *backend, *metric, *unit, *type;
  int lower; /* better is lower */
  double med, min, max, p10, p90;
  int n;
} report_rec;

typedef struct report {
  const char *dir;
  json *root;
  report_rec *recs;
  int nrecs;
  const char *impls[REPORT_MAX_IMPL]; /* report order: raw first */
  int nimpls;
  bench_buf html, md;
  int nplots;
  char plot_err[256];
} report;

/* ---- small helpers ------------------------------------------------------ */
static void report_html_esc(bench_buf *b, const char *s) {
  for (; s && *s; s++) {
    switch (*s) {
    case '<':
      bench_buf_printf(b, "&lt;");
      break;
    case '>':
      bench_buf_printf(b, "&gt;");
      break;
    case '&':
      bench_buf_printf(b, "&amp;");
      break;
    case '"':
      bench_buf_printf(b, "&quot;");
      break;
    default:
      bench_buf_printf(b, "%c", *s);
    }
  }
}

/* Markdown table cells must not contain a bare '|'. */
static void report_md_esc(bench_buf *b, const char *s) {
  for (; s && *s; s++) {
    if (*s == '|')
      bench_buf_printf(b, "\\|");
    else if (*s == '\n')
      bench_buf_printf(b, " ");
    else
      bench_buf_printf(b, "%c", *s);
  }
}

/* 1234567 -> "1.23 M", keeping 3 significant digits. */
static void report_fmt(double v, char *buf, size_t len) {
  double a = v < 0 ? -v : v;
  if (v != v)
    snprintf(buf, len, "n/a");
  else if (a >= 1e9)
    snprintf(buf, len, "%.3g G", v / 1e9);
  else if (a >= 1e6)
    snprintf(buf, len, "%.3g M", v / 1e6);
  else if (a >= 1e4)
    snprintf(buf, len, "%.3g k", v / 1e3);
  else if (a >= 100)
    snprintf(buf, len, "%.0f", v);
  else
    snprintf(buf, len, "%.3g", v);
}

static int report_is_native(const char *impl) {
  return !strncmp(impl, "native-", 7);
}

static int report_impl_index(const report *r, const char *impl) {
  for (int i = 0; i < r->nimpls; i++)
    if (!strcmp(r->impls[i], impl))
      return i;
  return -1;
}

/* Does the record's params satisfy "k=v k2=v2"? */
static int report_where(const report_rec *rec, const char *where) {
  if (!where || !*where)
    return 1;
  char w[256];
  snprintf(w, sizeof w, "%s", where);
  for (char *save = NULL, *t = strtok_r(w, " ", &save); t;
       t = strtok_r(NULL, " ", &save)) {
    char *eq = strchr(t, '=');
    if (!eq)
      continue;
    *eq = 0;
    const json *v = json_get(rec->params, t);
    char text[64];
    json_to_text(v, text, sizeof text);
    if (!v || strcmp(text, eq + 1))
      return 0;
  }
  return 1;
}

static const report_rec *report_find(const report *r, const char *type,
                                     const char *bench, const char *metric,
                                     const char *where, const char *impl) {
  for (int i = 0; i < r->nrecs; i++) {
    const report_rec *x = &r->recs[i];
    if (!strcmp(x->type, type) && !strcmp(x->bench, bench) &&
        (!metric || !strcmp(x->metric, metric)) && !strcmp(x->impl, impl) &&
        report_where(x, where))
      return x;
  }
  return NULL;
}

/* Cost relative to a baseline: > 1 always means worse than the baseline,
 * whichever direction the metric improves in. */
static double report_ratio(const report_rec *x, const report_rec *base) {
  if (!x || !base || base->med == 0 || x->med == 0)
    return 0;
  return x->lower ? x->med / base->med : base->med / x->med;
}

static const report_rec *report_best_native(const report *r, const char *bench,
                                            const char *metric,
                                            const char *where) {
  const report_rec *best = NULL;
  for (int i = 0; i < r->nimpls; i++) {
    if (!report_is_native(r->impls[i]))
      continue;
    const report_rec *x =
        report_find(r, "measurement", bench, metric, where, r->impls[i]);
    if (x && (!best || (x->lower ? x->med < best->med : x->med > best->med)))
      best = x;
  }
  return best;
}

/* ---- loading ----------------------------------------------------------------
 */
static void report_add_impl(report *r, const char *name) {
  if (report_impl_index(r, name) < 0 && r->nimpls < REPORT_MAX_IMPL)
    r->impls[r->nimpls++] = name;
}

static int report_load(report *r, const char *dir) {
  char path[4096], err[300];
  snprintf(path, sizeof path, "%s/results.json", dir);
  r->dir = dir;
  r->root = json_load(path, err, sizeof err);
  if (!r->root) {
    fprintf(stderr, "evl-bench: %s\n", err);
    return -1;
  }
  const json *recs = json_get(r->root, "records");
  if (!recs || recs->type != JSON_ARR) {
    fprintf(stderr, "evl-bench: %s: no records array\n", path);
    return -1;
  }
  r->recs = calloc((size_t)recs->n + 1, sizeof *r->recs);
  if (!r->recs)
    return -1;
  report_add_impl(r, BENCH_RAW_NAME);
  const json *impls = json_get(r->root, "implementations");
  for (int i = 0; impls && i < impls->n; i++)
    report_add_impl(r, json_str(impls->kids[i], "name", "?"));
  for (int i = 0; i < recs->n; i++) {
    const json *j = recs->kids[i];
    report_rec *x = &r->recs[r->nrecs++];
    x->j = j;
    x->type = json_str(j, "type", "");
    x->bench = json_str(j, "bench", "");
    x->impl = json_str(j, "impl", "");
    x->backend = json_str(j, "backend", "");
    x->metric = json_str(j, "metric", "");
    x->unit = json_str(j, "unit", "");
    x->params = json_get(j, "params");
    x->lower = strcmp(json_str(j, "better", "lower"), "higher") != 0;
    x->med = json_num(j, "median", 0);
    x->min = json_num(j, "min", 0);
    x->max = json_num(j, "max", 0);
    x->p10 = json_num(j, "p10", 0);
    x->p90 = json_num(j, "p90", 0);
    x->n = (int)json_num(j, "n", 0);
    if (!strcmp(x->type, "measurement") || !strcmp(x->type, "curve"))
      report_add_impl(r, x->impl);
  }
  return 0;
}

/* ---- plots ------------------------------------------------------------------
 */
/* One impl's line in a panel: points sorted by x. */
typedef struct report_pt {
  double x, med, min, max;
} report_pt;

static int report_cmp_pt(const void *a, const void *b) {
  double x = ((const report_pt *)a)->x, y = ((const report_pt *)b)->x;
  return (x > y) - (x < y);
}

static void report_safe(const char *in, char *out, size_t len) {
  size_t k = 0;
  for (; *in && k + 1 < len; in++)
    out[k++] =
        (char)((*in >= 'a' && *in <= 'z') || (*in >= 'A' && *in <= 'Z') ||
                       (*in >= '0' && *in <= '9') || *in == '-'
                   ? *in
                   : '_');
  out[k] = 0;
}

/* Runs a gnuplot script body twice, for SVG then PNG. */
static int report_gnuplot(report *r, const char *name, const char *body,
                          int width, int height) {
  char path[4096];
  snprintf(path, sizeof path, "%s/plots/%s.gp", r->dir, name);
  FILE *f = fopen(path, "w");
  if (!f)
    return -errno;
  fprintf(f,
          "# generated by evl-bench --report from results.json\n"
          "set encoding utf8\n"
          "set terminal svg size %d,%d fixed enhanced font 'sans,11' "
          "background '#ffffff'\n"
          "set output '%s.svg'\n%s\n"
          "unset output\n"
          "set terminal pngcairo size %d,%d enhanced font 'sans,10' "
          "background '#ffffff'\n"
          "set output '%s.png'\n%s\n"
          "unset output\n",
          width, height, name, body, width, height, name, body);
  fclose(f);
  char cmd[8192];
  snprintf(cmd, sizeof cmd, "cd '%s/plots' && gnuplot '%s.gp' 2>'%s.log'",
           r->dir, name, name);
  int rc = system(cmd);
  snprintf(path, sizeof path, "%s/plots/%s.svg", r->dir, name);
  struct stat st;
  if (rc != 0 || stat(path, &st) < 0 || st.st_size == 0) {
    snprintf(r->plot_err, sizeof r->plot_err,
             "gnuplot failed for %s (see plots/%s.log)", name, name);
    fprintf(stderr, "evl-bench: %s\n", r->plot_err);
    return -1;
  }
  r->nplots++;
  return 0;
}

static const char *REPORT_STYLE =
    "set grid lc rgb '#dddddd'\n"
    "set key outside right top vertical Left reverse noenhanced\n"
    "set linetype 1 lc rgb '#000000' lw 2 dt 2 pt 1\n"
    "set linetype 2 lc rgb '#1f77b4' lw 2 pt 7\n"
    "set linetype 3 lc rgb '#ff7f0e' lw 2 pt 5\n"
    "set linetype 4 lc rgb '#2ca02c' lw 2 pt 9\n"
    "set linetype 5 lc rgb '#d62728' lw 2 pt 11\n"
    "set linetype 6 lc rgb '#9467bd' lw 2 pt 13\n"
    "set linetype 7 lc rgb '#8c564b' lw 2 pt 4\n"
    "set linetype 8 lc rgb '#e377c2' lw 2 pt 6\n"
    "set linetype 9 lc rgb '#7f7f7f' lw 2 pt 8\n"
    "set linetype 10 lc rgb '#bcbd22' lw 2 pt 10\n"
    "set linetype 11 lc rgb '#17becf' lw 2 pt 12\n"
    "set linetype 12 lc rgb '#393b79' lw 2 pt 14\n"
    "set linetype cycle 12\n";

/* A panel of lines: x from params[xkey], y from the metric's median with
 * min-max error bars, one line per implementation. */
typedef struct report_panel {
  const char *title;
  const char *bench, *type, *metric, *where, *xkey;
} report_panel;

/* Writes the panel's data files and appends its plot command; returns how
 * many lines it has. */
static int report_panel_lines(report *r, const char *name, int pi,
                              const report_panel *p, bench_buf *body) {
  int lines = 0;
  double xmin = INFINITY, xmax = -INFINITY;
  bench_buf cmd = {0};
  for (int i = 0; i < r->nimpls; i++) {
    report_pt pts[256];
    int np = 0;
    for (int k = 0; k < r->nrecs && np < 256; k++) {
      const report_rec *x = &r->recs[k];
      if (strcmp(x->type, "measurement") || strcmp(x->bench, p->bench) ||
          strcmp(x->metric, p->metric) || strcmp(x->impl, r->impls[i]) ||
          !report_where(x, p->where))
        continue;
      pts[np].x = json_num(x->params, p->xkey, 0);
      xmin = fmin(xmin, pts[np].x);
      xmax = fmax(xmax, pts[np].x);
      pts[np].med = x->med;
      pts[np].min = x->min;
      pts[np].max = x->max;
      np++;
    }
    if (!np)
      continue;
    qsort(pts, (size_t)np, sizeof pts[0], report_cmp_pt);
    char safe[128], path[4096];
    report_safe(r->impls[i], safe, sizeof safe);
    snprintf(path, sizeof path, "%s/plots/data/%s_%d_%s.dat", r->dir, name, pi,
             safe);
    FILE *f = fopen(path, "w");
    if (!f)
      continue;
    fprintf(f, "# %s: x median min max\n", r->impls[i]);
    for (int k = 0; k < np; k++)
      fprintf(f, "%g %g %g %g\n", pts[k].x, pts[k].med, pts[k].min, pts[k].max);
    fclose(f);
    bench_buf_printf(&cmd,
                     "%s'data/%s_%d_%s.dat' u 1:2:3:4 w yerrorlines "
                     "lt %d t '%s'",
                     lines ? ", \\\n  " : "plot ", name, pi, safe, i + 1,
                     r->impls[i]);
    lines++;
  }
  /* One x value (a profile with one size) gives gnuplot an empty range. */
  if (lines && xmin == xmax)
    bench_buf_printf(body, "set xrange [%g:%g]\n", xmin > 0 ? xmin / 2 : -1,
                     xmin > 0 ? xmin * 2 : 1);
  else if (lines)
    bench_buf_printf(body, "set autoscale x\n");
  if (lines)
    bench_buf_printf(body, "set title '%s' noenhanced\n%s\n", p->title, cmd.s);
  else
    bench_buf_printf(body,
                     "set title '%s (no data)' noenhanced\nunset key\n"
                     "set label 1 'no data' at graph 0.5,0.5 center\n"
                     "plot [1:2][1:2] NaN notitle\nunset label 1\n"
                     "set key\n",
                     p->title);
  bench_buf_free(&cmd);
  return lines;
}

static int report_lines_plot(report *r, const char *name, const char *title,
                             const char *xlabel, const char *ylabel, int logx,
                             int logy, const report_panel *panels, int npanels,
                             int cols) {
  bench_buf body = {0};
  int rows = (npanels + cols - 1) / cols;
  bench_buf_printf(&body, "%s", REPORT_STYLE);
  bench_buf_printf(&body, "set xlabel '%s'\nset ylabel '%s'\n%s%s", xlabel,
                   ylabel, logx ? "set logscale x\n" : "",
                   logy ? "set logscale y\n" : "");
  if (npanels > 1)
    bench_buf_printf(&body, "set multiplot layout %d,%d title '%s'\n", rows,
                     cols, title);
  int lines = 0;
  for (int i = 0; i < npanels; i++)
    lines += report_panel_lines(r, name, i, &panels[i], &body);
  if (npanels > 1)
    bench_buf_printf(&body, "unset multiplot\n");
  int rc =
      lines ? report_gnuplot(r, name, body.s, 560 * cols + 200, 380 * rows + 40)
            : -1;
  bench_buf_free(&body);
  return rc;
}

/* Clustered bars: one group per implementation, one bar per series. */
typedef struct report_series {
  const char *label;
  const char *bench, *metric, *where;
} report_series;

static int report_bars_plot(report *r, const char *name, const char *title,
                            const char *ylabel, int logy,
                            const report_series *s, int ns) {
  char path[4096];
  snprintf(path, sizeof path, "%s/plots/data/%s.dat", r->dir, name);
  FILE *f = fopen(path, "w");
  if (!f)
    return -errno;
  int rows = 0;
  for (int i = 0; i < r->nimpls; i++) {
    int any = 0;
    for (int k = 0; k < ns; k++)
      any |= report_find(r, "measurement", s[k].bench, s[k].metric, s[k].where,
                         r->impls[i]) != NULL;
    if (!any)
      continue;
    fprintf(f, "\"%s\"", r->impls[i]);
    for (int k = 0; k < ns; k++) {
      const report_rec *x = report_find(r, "measurement", s[k].bench,
                                        s[k].metric, s[k].where, r->impls[i]);
      if (x)
        fprintf(f, " %g %g %g", x->med, x->min, x->max);
      else
        fprintf(f, " NaN NaN NaN");
    }
    fprintf(f, "\n");
    rows++;
  }
  fclose(f);
  if (!rows)
    return -1;
  bench_buf body = {0};
  bench_buf_printf(&body,
                   "%sset title '%s' noenhanced\nset ylabel '%s'\n"
                   "set style data histograms\n"
                   "set style histogram errorbars gap 1 lw 1\n"
                   "set style fill solid 0.8 border -1\n"
                   "set boxwidth 0.9\nset xtics rotate by -35 noenhanced\n"
                   "set yrange [%s:*]\n%s",
                   REPORT_STYLE, title, ylabel, logy ? "*" : "0",
                   logy ? "set logscale y\n" : "");
  for (int k = 0; k < ns; k++)
    bench_buf_printf(&body, "%s'data/%s.dat' u %d:%d:%d%s lt %d t '%s'",
                     k ? ", \\\n  " : "plot ", name, 2 + 3 * k, 3 + 3 * k,
                     4 + 3 * k, k ? "" : ":xtic(1)", k + 2, s[k].label);
  bench_buf_printf(&body, "\n");
  int width = 420 + 24 * rows * (ns + 1);
  int rc = report_gnuplot(r, name, body.s, width > 1300 ? 1300 : width, 460);
  bench_buf_free(&body);
  return rc;
}

/* Percentile curves: x is 1/(1-p), so 90 %, 99 %, 99.9 % are equally spaced
 * (the HdrHistogram layout); one line per implementation. */
static int report_curve_plot(report *r, const char *name, const char *title,
                             const char *ylabel, const report_panel *panels,
                             int npanels, int cols) {
  bench_buf body = {0};
  int rows = (npanels + cols - 1) / cols, lines = 0;
  bench_buf_printf(
      &body,
      "%sset logscale x\nset logscale y\n"
      "set xtics ('0%%%%' 1, '50%%%%' 2, '90%%%%' 10, '99%%%%' 100, "
      "'99.9%%%%' 1000, '99.99%%%%' 10000)\n"
      "set xlabel 'percentile'\nset ylabel '%s'\n",
      REPORT_STYLE, ylabel);
  if (npanels > 1)
    bench_buf_printf(&body, "set multiplot layout %d,%d title '%s'\n", rows,
                     cols, title);
  for (int pi = 0; pi < npanels; pi++) {
    const report_panel *p = &panels[pi];
    bench_buf cmd = {0};
    int here = 0;
    for (int i = 0; i < r->nimpls; i++) {
      const report_rec *x =
          report_find(r, "curve", p->bench, p->metric, p->where, r->impls[i]);
      const json *pts = x ? json_get(x->j, "points") : NULL;
      if (!pts || pts->type != JSON_ARR || !pts->n)
        continue;
      char safe[128], path[4096];
      report_safe(r->impls[i], safe, sizeof safe);
      snprintf(path, sizeof path, "%s/plots/data/%s_%d_%s.dat", r->dir, name,
               pi, safe);
      FILE *f = fopen(path, "w");
      if (!f)
        continue;
      fprintf(f, "# %s: 1/(1-p) value percentile\n", r->impls[i]);
      for (int k = 0; k < pts->n; k++) {
        const json *pt = pts->kids[k];
        if (pt->type != JSON_ARR || pt->n < 2 || pt->kids[1]->type != JSON_NUM)
          continue;
        double pc = pt->kids[0]->num;
        if (pc >= 99.999)
          continue;
        fprintf(f, "%g %g %g\n", 1.0 / (1.0 - pc / 100.0), pt->kids[1]->num,
                pc);
      }
      fclose(f);
      bench_buf_printf(&cmd, "%s'data/%s_%d_%s.dat' u 1:2 w lp lt %d t '%s'",
                       here ? ", \\\n  " : "plot ", name, pi, safe, i + 1,
                       r->impls[i]);
      here++;
    }
    if (here)
      bench_buf_printf(&body, "set title '%s' noenhanced\n%s\n", p->title,
                       cmd.s);
    else
      bench_buf_printf(&body,
                       "set title '%s (no data)' noenhanced\n"
                       "plot [1:10000][1:10] NaN notitle\n",
                       p->title);
    lines += here;
    bench_buf_free(&cmd);
  }
  if (npanels > 1)
    bench_buf_printf(&body, "unset multiplot\n");
  int rc =
      lines ? report_gnuplot(r, name, body.s, 560 * cols + 200, 380 * rows + 40)
            : -1;
  bench_buf_free(&body);
  return rc;
}

/* ---- external inputs: hyperfine, callgrind, conformance -------------------
 */
typedef struct report_cg {
  const char *impl;
  double ir, events;
} report_cg;

static int report_callgrind(report *r, report_cg *out, int cap,
                            const char *kase) {
  int n = 0;
  for (int i = 0; i < r->nimpls && n < cap; i++) {
    char safe[128];
    report_safe(r->impls[i], safe, sizeof safe);
    double per = bench_cg_per_op(r->dir, safe, kase, NULL, 0);
    if (per > 0) {
      out[n].impl = r->impls[i];
      out[n].ir = per;
      out[n].events = 1;
      n++;
    }
  }
  return n;
}

/* ---- HTML and Markdown pieces ------------------------------------------ */
static void report_h2(report *r, const char *id, const char *title,
                      const char *text) {
  bench_buf_printf(&r->html, "<h2 id=\"%s\">", id);
  report_html_esc(&r->html, title);
  bench_buf_printf(&r->html, "</h2>\n");
  bench_buf_printf(&r->md, "\n## %s\n\n", title);
  if (text) {
    bench_buf_printf(&r->html, "<p>");
    report_html_esc(&r->html, text);
    bench_buf_printf(&r->html, "</p>\n");
    bench_buf_printf(&r->md, "%s\n\n", text);
  }
}

static void report_para(report *r, const char *text) {
  bench_buf_printf(&r->html, "<p>");
  report_html_esc(&r->html, text);
  bench_buf_printf(&r->html, "</p>\n");
  bench_buf_printf(&r->md, "%s\n\n", text);
}

static const char report_b64[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* The page carries each SVG inline (base64), so it opens offline alone. */
static void report_embed(report *r, const char *name, const char *alt) {
  char path[4096];
  snprintf(path, sizeof path, "%s/plots/%s.svg", r->dir, name);
  FILE *f = fopen(path, "rb");
  if (!f)
    return;
  bench_buf_printf(&r->html,
                   "<figure><img alt=\"%s\" src=\"data:image/svg+xml;base64,",
                   alt);
  unsigned char in[3];
  size_t k;
  char quad[5] = {0};
  while ((k = fread(in, 1, 3, f)) > 0) {
    unsigned v = (unsigned)in[0] << 16 | (k > 1 ? (unsigned)in[1] << 8 : 0) |
                 (k > 2 ? in[2] : 0);
    quad[0] = report_b64[(v >> 18) & 63];
    quad[1] = report_b64[(v >> 12) & 63];
    quad[2] = k > 1 ? report_b64[(v >> 6) & 63] : '=';
    quad[3] = k > 2 ? report_b64[v & 63] : '=';
    bench_buf_printf(&r->html, "%s", quad);
    if (k < 3)
      break;
  }
  fclose(f);
  bench_buf_printf(&r->html,
                   "\"><figcaption>%s — <a href=\"plots/%s.svg\">SVG</a> · "
                   "<a href=\"plots/%s.png\">PNG</a></figcaption></figure>\n",
                   alt, name, name);
  bench_buf_printf(&r->md, "![%s](plots/%s.png)\n\n", alt, name);
}

/* A wide table: one row per implementation, one column per value of
 * `colkey` (a params key, or "metric" for a list of metrics). */
typedef struct report_table {
  const char *title;
  const char *bench;
  const char *where;
  const char *colkey;  /* params key, or NULL: columns are metrics */
  const char *metrics; /* space-separated; the first is used with colkey */
} report_table;

static void report_cell(report *r, const report_rec *x, const report_rec *raw,
                        const report_rec *nat) {
  char v[32];
  report_fmt(x->med, v, sizeof v);
  double spread = x->med ? (x->max - x->min) / 2 / x->med * 100 : 0;
  bench_buf_printf(&r->html,
                   "<td title=\"n=%d min %g max %g p10 %g p90 %g\">"
                   "%s <span class=u>%s</span> <span class=s>±%.0f%%"
                   "</span>",
                   x->n, x->min, x->max, x->p10, x->p90, v, x->unit, spread);
  bench_buf_printf(&r->md, " %s %s ±%.0f%%", v, x->unit, spread);
  double rr = report_ratio(x, raw), rn = report_ratio(x, nat);
  if (rr > 0 || rn > 0) {
    bench_buf_printf(&r->html, "<br><span class=r>");
    if (rr > 0)
      bench_buf_printf(&r->html, "raw ×%.2f ", rr);
    if (rn > 0)
      bench_buf_printf(&r->html, "nat ×%.2f", rn);
    bench_buf_printf(&r->html, "</span>");
    bench_buf_printf(&r->md, " (");
    if (rr > 0)
      bench_buf_printf(&r->md, "raw ×%.2f%s", rr, rn > 0 ? ", " : "");
    if (rn > 0)
      bench_buf_printf(&r->md, "nat ×%.2f", rn);
    bench_buf_printf(&r->md, ")");
  }
  bench_buf_printf(&r->html, "</td>");
  bench_buf_printf(&r->md, " |");
}

static void report_wide_table(report *r, const report_table *t) {
  /* Columns: distinct values in first-seen order. */
  typedef struct {
    char name[64];
    char where[320];
    const char *metric;
  } col;
  col cols[24];
  int nc = 0;
  char mlist[256];
  snprintf(mlist, sizeof mlist, "%s", t->metrics);
  char *ms[12];
  int nm = 0;
  for (char *save = NULL, *tok = strtok_r(mlist, " ", &save); tok && nm < 12;
       tok = strtok_r(NULL, " ", &save))
    ms[nm++] = tok;
  if (!nm)
    return;
  const char *tw = t->where ? t->where : "";
  if (t->colkey) {
    for (int i = 0; i < r->nrecs && nc < 24; i++) {
      const report_rec *x = &r->recs[i];
      if (strcmp(x->type, "measurement") || strcmp(x->bench, t->bench) ||
          strcmp(x->metric, ms[0]) || !report_where(x, t->where))
        continue;
      char v[64];
      json_to_text(json_get(x->params, t->colkey), v, sizeof v);
      int dup = 0;
      for (int c = 0; c < nc; c++)
        dup |= !strcmp(cols[c].name, v);
      if (dup || !v[0])
        continue;
      snprintf(cols[nc].name, sizeof cols[nc].name, "%s", v);
      snprintf(cols[nc].where, sizeof cols[nc].where, "%.200s%s%.40s=%.60s", tw,
               *tw ? " " : "", t->colkey, v);
      cols[nc].metric = ms[0];
      nc++;
    }
    /* Numeric columns sort numerically (n = 100, 1000, 10000). */
    for (int a = 0; a < nc; a++)
      for (int b = a + 1; b < nc; b++) {
        char *ea, *eb;
        double va = strtod(cols[a].name, &ea), vb = strtod(cols[b].name, &eb);
        if (!*ea && !*eb && vb < va) {
          col tmp = cols[a];
          cols[a] = cols[b];
          cols[b] = tmp;
        }
      }
  } else {
    for (int m = 0; m < nm && nc < 24; m++) {
      snprintf(cols[nc].name, sizeof cols[nc].name, "%s", ms[m]);
      snprintf(cols[nc].where, sizeof cols[nc].where, "%.300s", tw);
      cols[nc].metric = ms[m];
      nc++;
    }
  }
  if (!nc)
    return;
  bench_buf_printf(&r->html, "<table><caption>");
  report_html_esc(&r->html, t->title);
  bench_buf_printf(&r->html, "</caption>\n<tr><th>implementation</th>");
  bench_buf_printf(&r->md, "**%s**\n\n| implementation |", t->title);
  for (int c = 0; c < nc; c++) {
    bench_buf_printf(&r->html, "<th>%s%s", t->colkey ? t->colkey : "",
                     t->colkey ? " = " : "");
    report_html_esc(&r->html, cols[c].name);
    bench_buf_printf(&r->html, "</th>");
    bench_buf_printf(&r->md, " %s%s%s |", t->colkey ? t->colkey : "",
                     t->colkey ? " = " : "", cols[c].name);
  }
  bench_buf_printf(&r->html, "</tr>\n");
  bench_buf_printf(&r->md, "\n|---|");
  for (int c = 0; c < nc; c++)
    bench_buf_printf(&r->md, "---:|");
  bench_buf_printf(&r->md, "\n");
  for (int i = 0; i < r->nimpls; i++) {
    int any = 0;
    for (int c = 0; c < nc; c++)
      any |= report_find(r, "measurement", t->bench, cols[c].metric,
                         cols[c].where, r->impls[i]) != NULL;
    if (!any)
      continue;
    bench_buf_printf(&r->html, "<tr><th>");
    report_html_esc(&r->html, r->impls[i]);
    bench_buf_printf(&r->html, "</th>");
    bench_buf_printf(&r->md, "| %s |", r->impls[i]);
    for (int c = 0; c < nc; c++) {
      const report_rec *x =
          report_find(r, "measurement", t->bench, cols[c].metric, cols[c].where,
                      r->impls[i]);
      if (!x) {
        bench_buf_printf(&r->html, "<td class=na>—</td>");
        bench_buf_printf(&r->md, " — |");
        continue;
      }
      const report_rec *raw =
          strcmp(r->impls[i], BENCH_RAW_NAME)
              ? report_find(r, "measurement", t->bench, cols[c].metric,
                            cols[c].where, BENCH_RAW_NAME)
              : NULL;
      const report_rec *nat =
          report_best_native(r, t->bench, cols[c].metric, cols[c].where);
      if (nat == x)
        nat = NULL;
      report_cell(r, x, raw, nat);
    }
    bench_buf_printf(&r->html, "</tr>\n");
    bench_buf_printf(&r->md, "\n");
  }
  bench_buf_printf(&r->html, "</table>\n");
  bench_buf_printf(&r->md, "\n");
}

/* Every figure of a benchmark in long form, folded away. */
static void report_all_figures(report *r, const char *bench) {
  int rows = 0;
  for (int i = 0; i < r->nrecs; i++)
    rows += !strcmp(r->recs[i].type, "measurement") &&
            !strcmp(r->recs[i].bench, bench);
  if (!rows)
    return;
  bench_buf_printf(&r->html,
                   "<details><summary>all %d %s figures (median, min, max, "
                   "p10, p90 over repeats)</summary>\n<table class=long>"
                   "<tr><th>parameters</th><th>metric</th><th>implementation"
                   "</th><th>backend</th><th>median</th><th>min</th><th>max"
                   "</th><th>p10</th><th>p90</th><th>n</th></tr>\n",
                   rows, bench);
  bench_buf_printf(&r->md,
                   "<details><summary>all %d %s figures</summary>\n\n"
                   "| parameters | metric | implementation | median | min | "
                   "max | p10 | p90 | n |\n|---|---|---|---:|---:|---:|---:|"
                   "---:|---:|\n",
                   rows, bench);
  for (int i = 0; i < r->nrecs; i++) {
    const report_rec *x = &r->recs[i];
    if (strcmp(x->type, "measurement") || strcmp(x->bench, bench))
      continue;
    char p[256], med[32], mn[32], mx[32], p10[32], p90[32];
    json_to_text(x->params, p, sizeof p);
    report_fmt(x->med, med, sizeof med);
    report_fmt(x->min, mn, sizeof mn);
    report_fmt(x->max, mx, sizeof mx);
    report_fmt(x->p10, p10, sizeof p10);
    report_fmt(x->p90, p90, sizeof p90);
    bench_buf_printf(&r->html, "<tr><td>");
    report_html_esc(&r->html, p);
    bench_buf_printf(&r->html, "</td><td>%s (%s)</td><td>", x->metric, x->unit);
    report_html_esc(&r->html, x->impl);
    bench_buf_printf(&r->html, "</td><td>");
    report_html_esc(&r->html, x->backend);
    bench_buf_printf(&r->html,
                     "</td><td>%s</td><td>%s</td><td>%s</td><td>%s</td><td>"
                     "%s</td><td>%d</td></tr>\n",
                     med, mn, mx, p10, p90, x->n);
    bench_buf_printf(&r->md, "| ");
    report_md_esc(&r->md, p);
    bench_buf_printf(&r->md,
                     " | %s (%s) | %s | %s | %s | %s | %s | %s | %d |\n",
                     x->metric, x->unit, x->impl, med, mn, mx, p10, p90, x->n);
  }
  bench_buf_printf(&r->html, "</table></details>\n");
  bench_buf_printf(&r->md, "\n</details>\n\n");
}

/* Skips and notes of one benchmark ("*" for the run). */
static void report_notes(report *r, const char *bench) {
  int any = 0;
  for (int i = 0; i < r->nrecs; i++) {
    const report_rec *x = &r->recs[i];
    int skip = !strcmp(x->type, "skip");
    if ((!skip && strcmp(x->type, "note")) || strcmp(x->bench, bench))
      continue;
    /* The same note from every implementation is said once. */
    const char *text = json_str(x->j, skip ? "reason" : "text", "");
    int dup = 0;
    for (int k = 0; k < i && !dup; k++) {
      const report_rec *y = &r->recs[k];
      dup = !skip && !strcmp(y->type, "note") && !strcmp(y->bench, bench) &&
            !strcmp(json_str(y->j, "text", ""), text);
    }
    if (dup)
      continue;
    if (!any++) {
      bench_buf_printf(&r->html, "<ul class=notes>\n");
    }
    char p[256];
    json_to_text(x->params, p, sizeof p);
    bench_buf_printf(&r->html, "<li><b>%s</b> ", skip ? "skipped" : "note");
    if (skip || !strstr(text, "RLIMIT")) {
      report_html_esc(&r->html, x->impl);
      bench_buf_printf(&r->html, " ");
    }
    if (p[0]) {
      bench_buf_printf(&r->html, "[");
      report_html_esc(&r->html, p);
      bench_buf_printf(&r->html, "] ");
    }
    report_html_esc(&r->html, text);
    bench_buf_printf(&r->html, "</li>\n");
    bench_buf_printf(&r->md, "- **%s** %s%s%s%s%s%s\n",
                     skip ? "skipped" : "note",
                     skip || !strstr(text, "RLIMIT") ? x->impl : "",
                     skip || !strstr(text, "RLIMIT") ? " " : "",
                     p[0] ? "[" : "", p, p[0] ? "] " : "", text);
  }
  if (any) {
    bench_buf_printf(&r->html, "</ul>\n");
    bench_buf_printf(&r->md, "\n");
  }
}

static void report_environment(report *r) {
  const json *env = json_get(r->root, "environment");
  report_h2(r, "environment", "Environment", NULL);
  bench_buf_printf(&r->html, "<table class=env>\n");
  bench_buf_printf(&r->md, "| key | value |\n|---|---|\n");
  for (int i = 0; env && i < env->n; i++) {
    char v[1024];
    json_to_text(env->kids[i], v, sizeof v);
    bench_buf_printf(&r->html, "<tr><th>");
    report_html_esc(&r->html, env->keys[i]);
    bench_buf_printf(&r->html, "</th><td>");
    report_html_esc(&r->html, v);
    bench_buf_printf(&r->html, "</td></tr>\n");
    bench_buf_printf(&r->md, "| %s | ", env->keys[i]);
    report_md_esc(&r->md, v);
    bench_buf_printf(&r->md, " |\n");
  }
  bench_buf_printf(&r->html, "</table>\n");
  const json *impls = json_get(r->root, "implementations");
  bench_buf_printf(&r->html, "<table><caption>implementations</caption><tr>"
                             "<th>name</th><th>usable</th><th>features / why "
                             "not</th></tr>\n");
  bench_buf_printf(&r->md, "\n| implementation | usable | features / why not "
                           "|\n|---|---|---|\n");
  bench_buf_printf(&r->html,
                   "<tr><th>%s</th><td>yes</td><td class=l>hand-written "
                   "epoll, no abstraction: the floor</td></tr>\n",
                   BENCH_RAW_NAME);
  bench_buf_printf(&r->md,
                   "| %s | yes | hand-written epoll, no abstraction: "
                   "the floor |\n",
                   BENCH_RAW_NAME);
  for (int i = 0; impls && i < impls->n; i++) {
    const json *im = impls->kids[i];
    const json *u = json_get(im, "usable");
    int ok = u && u->type == JSON_TRUE;
    const char *what =
        ok ? json_str(im, "features", "") : json_str(im, "reason", "");
    bench_buf_printf(&r->html, "<tr><th>");
    report_html_esc(&r->html, json_str(im, "name", "?"));
    bench_buf_printf(&r->html, "</th><td>%s</td><td class=l>",
                     ok ? "yes" : "no");
    report_html_esc(&r->html, what);
    bench_buf_printf(&r->html, "</td></tr>\n");
    bench_buf_printf(&r->md, "| %s | %s | ", json_str(im, "name", "?"),
                     ok ? "yes" : "no");
    report_md_esc(&r->md, what);
    bench_buf_printf(&r->md, " |\n");
  }
  bench_buf_printf(&r->html, "</table>\n");
  bench_buf_printf(&r->md, "\n");
  report_notes(r, "*");
}

static const char *report_status_class(const char *st) {
  if (!strcmp(st, "PASS"))
    return "ok";
  if (!strcmp(st, "SKIP") || !strcmp(st, "XFAIL"))
    return "sk";
  return "bad";
}

static void report_conformance(report *r) {
  char path[4096], err[300];
  snprintf(path, sizeof path, "%s/conform.json", r->dir);
  report_h2(r, "conformance", "Conformance matrix (evl-conform --json)", NULL);
  json *c = json_load(path, err, sizeof err);
  const json *targets = c ? json_get(c, "targets") : NULL;
  const json *results = c ? json_get(c, "results") : NULL;
  if (!targets || !results || targets->type != JSON_ARR ||
      results->type != JSON_ARR) {
    report_para(r, "No conformance results in this run (conform.json is "
                   "missing or unreadable).");
    json_free(c);
    return;
  }
  const json *sum = json_get(c, "summary");
  char line[256];
  snprintf(line, sizeof line, "%g passed, %g failed, %g skipped.",
           json_num(sum, "passed", 0), json_num(sum, "failed", 0),
           json_num(sum, "skipped", 0));
  report_para(r, line);
  /* Matrix: rows are tests in their order, columns are targets. */
  bench_buf_printf(&r->html, "<div class=scroll><table class=matrix><tr>"
                             "<th>test</th><th>rule</th>");
  bench_buf_printf(&r->md, "| target | kind | passed | failed | skipped |\n"
                           "|---|---|---:|---:|---:|\n");
  for (int t = 0; t < targets->n; t++) {
    const char *label = json_str(targets->kids[t], "label", "?");
    bench_buf_printf(&r->html, "<th class=v><span>");
    report_html_esc(&r->html, label);
    bench_buf_printf(&r->html, "</span></th>");
    int p = 0, f = 0, s = 0;
    for (int i = 0; i < results->n; i++) {
      const json *x = results->kids[i];
      if (strcmp(json_str(x, "target", ""), label))
        continue;
      const char *cls = report_status_class(json_str(x, "status", ""));
      p += cls[0] == 'o';
      s += cls[0] == 's';
      f += cls[0] == 'b';
    }
    bench_buf_printf(&r->md, "| %s | %s | %d | %d | %d |\n", label,
                     json_str(targets->kids[t], "kind", ""), p, f, s);
  }
  bench_buf_printf(&r->html, "</tr>\n");
  const char *prev = "";
  for (int i = 0; i < results->n; i++) {
    const char *test = json_str(results->kids[i], "test", "?");
    if (!strcmp(test, prev))
      continue;
    prev = test;
    bench_buf_printf(&r->html, "<tr><th>%s</th><td>%s</td>", test,
                     json_str(results->kids[i], "rule", ""));
    for (int t = 0; t < targets->n; t++) {
      const char *label = json_str(targets->kids[t], "label", "?");
      const json *hit = NULL;
      for (int k = i; k < results->n && !hit; k++) {
        const json *x = results->kids[k];
        if (!strcmp(json_str(x, "test", ""), test) &&
            !strcmp(json_str(x, "target", ""), label))
          hit = x;
      }
      if (!hit) {
        bench_buf_printf(&r->html, "<td></td>");
        continue;
      }
      const char *st = json_str(hit, "status", "?");
      bench_buf_printf(&r->html, "<td class=%s title=\"",
                       report_status_class(st));
      report_html_esc(&r->html, json_str(hit, "reason", ""));
      bench_buf_printf(&r->html, "\">%.4s</td>", st);
    }
    bench_buf_printf(&r->html, "</tr>\n");
  }
  bench_buf_printf(&r->html, "</table></div>\n");
  bench_buf_printf(&r->md, "\n");
  /* Failures by name, so they are visible without hovering. */
  int nbad = 0;
  for (int i = 0; i < results->n; i++) {
    const json *x = results->kids[i];
    const char *st = json_str(x, "status", "");
    if (report_status_class(st)[0] != 'b')
      continue;
    if (!nbad++) {
      bench_buf_printf(&r->html, "<ul class=notes>\n");
      bench_buf_printf(&r->md, "Failures:\n\n");
    }
    bench_buf_printf(&r->html, "<li><b>%s</b> %s on ", st,
                     json_str(x, "test", "?"));
    report_html_esc(&r->html, json_str(x, "target", "?"));
    bench_buf_printf(&r->html, ": ");
    report_html_esc(&r->html, json_str(x, "reason", ""));
    bench_buf_printf(&r->html, "</li>\n");
    bench_buf_printf(&r->md, "- **%s** %s on %s: ", st,
                     json_str(x, "test", "?"), json_str(x, "target", "?"));
    report_md_esc(&r->md, json_str(x, "reason", ""));
    bench_buf_printf(&r->md, "\n");
  }
  if (nbad) {
    bench_buf_printf(&r->html, "</ul>\n");
    bench_buf_printf(&r->md, "\n");
  }
  json_free(c);
}

/* Implementations the fixed workload could not run (run.sh's pre-check). */
static void report_workload_skips(report *r) {
  char path[4096], line[512];
  snprintf(path, sizeof path, "%s/workload-skips.txt", r->dir);
  FILE *f = fopen(path, "r");
  if (!f)
    return;
  int any = 0;
  while (fgets(line, sizeof line, f)) {
    line[strcspn(line, "\n")] = 0;
    char *tab = strchr(line, '\t');
    if (!tab)
      continue;
    *tab = 0;
    if (!any++)
      bench_buf_printf(&r->html, "<ul class=notes>\n");
    bench_buf_printf(&r->html, "<li><b>skipped</b> ");
    report_html_esc(&r->html, line);
    bench_buf_printf(&r->html, ": ");
    report_html_esc(&r->html, tab + 1);
    bench_buf_printf(&r->html, "</li>\n");
    bench_buf_printf(&r->md, "- **skipped** %s: %s\n", line, tab + 1);
  }
  fclose(f);
  if (any) {
    bench_buf_printf(&r->html, "</ul>\n");
    bench_buf_printf(&r->md, "\n");
  }
}

static void report_hyperfine(report *r) {
  char path[4096], err[300];
  snprintf(path, sizeof path, "%s/hyperfine.json", r->dir);
  json *h = json_load(path, err, sizeof err);
  const json *res = h ? json_get(h, "results") : NULL;
  report_h2(r, "hyperfine", "Whole-process timings (hyperfine)",
            "One fixed workload per implementation (evl-bench --workload: "
            "chain, n=1000, a=100, two runs), timed as a whole process "
            "including start-up and module loading.");
  report_workload_skips(r);
  if (!res || res->type != JSON_ARR || !res->n) {
    report_para(r, "hyperfine.json is missing from this run.");
    json_free(h);
    return;
  }
  FILE *f = NULL;
  snprintf(path, sizeof path, "%s/plots/data/hyperfine.dat", r->dir);
  f = fopen(path, "w");
  bench_buf_printf(&r->html, "<table><tr><th>implementation</th><th>mean</th>"
                             "<th>± stddev</th><th>median</th><th>min</th>"
                             "<th>max</th><th>runs</th></tr>\n");
  bench_buf_printf(&r->md, "| implementation | mean ms | ± stddev | median | "
                           "min | max | runs |\n|---|---:|---:|---:|---:|---:"
                           "|---:|\n");
  for (int i = 0; i < res->n; i++) {
    const json *x = res->kids[i];
    const json *params = json_get(x, "parameters");
    const char *impl = json_str(params, "impl", json_str(x, "command", "?"));
    const json *times = json_get(x, "times");
    double mean = json_num(x, "mean", 0) * 1e3,
           sd = json_num(x, "stddev", 0) * 1e3,
           med = json_num(x, "median", 0) * 1e3,
           mn = json_num(x, "min", 0) * 1e3, mx = json_num(x, "max", 0) * 1e3;
    int runs = times ? times->n : 0;
    bench_buf_printf(&r->html, "<tr><th>");
    report_html_esc(&r->html, impl);
    bench_buf_printf(&r->html,
                     "</th><td>%.1f ms</td><td>%.1f</td><td>%.1f</td>"
                     "<td>%.1f</td><td>%.1f</td><td>%d</td></tr>\n",
                     mean, sd, med, mn, mx, runs);
    bench_buf_printf(&r->md, "| %s | %.1f | %.1f | %.1f | %.1f | %.1f | %d |\n",
                     impl, mean, sd, med, mn, mx, runs);
    if (f)
      fprintf(f, "\"%s\" %g %g %g\n", impl, med, mn, mx);
  }
  bench_buf_printf(&r->html, "</table>\n");
  bench_buf_printf(&r->md, "\n");
  if (f) {
    fclose(f);
    bench_buf body = {0};
    bench_buf_printf(&body,
                     "%sset title 'whole process, fixed chain workload "
                     "(median, min-max)'\nset ylabel 'ms'\n"
                     "set style data histograms\n"
                     "set style histogram errorbars gap 1 lw 1\n"
                     "set style fill solid 0.8 border -1\nset yrange [0:*]\n"
                     "set xtics rotate by -35 noenhanced\nunset key\n"
                     "plot 'data/hyperfine.dat' u 2:3:4:xtic(1) lt 2\n",
                     REPORT_STYLE);
    if (report_gnuplot(r, "hyperfine", body.s, 300 + 60 * res->n, 420) == 0)
      report_embed(r, "hyperfine", "hyperfine: whole-process time");
    bench_buf_free(&body);
  }
  json_free(h);
}

static void report_callgrind_section(report *r) {
  report_h2(r, "callgrind", "User-space instructions per event (callgrind)",
            "Instructions counted by callgrind with collection switched on "
            "only around the timed loop (CALLGRIND_TOGGLE_COLLECT), divided "
            "by the events handled: chain, n=1000, a=100. Deterministic, "
            "so it shows each loop's own overhead where wall time is "
            "dominated by system calls. The wall-clock column is the chain "
            "benchmark's warm ns per event for the same shape.");
  report_cg cg[REPORT_MAX_IMPL], cgt[REPORT_MAX_IMPL];
  report_workload_skips(r);
  int n = report_callgrind(r, cg, REPORT_MAX_IMPL, "chain");
  int nt = report_callgrind(r, cgt, REPORT_MAX_IMPL, "chain_timeouts");
  if (!n && !nt) {
    report_para(r, "No callgrind results in this run.");
    return;
  }
  double raw_ir = 0, nat_ir = 0, nat_irt = 0;
  for (int i = 0; i < n; i++) {
    double per = cg[i].ir / cg[i].events;
    if (!strcmp(cg[i].impl, BENCH_RAW_NAME))
      raw_ir = per;
    if (report_is_native(cg[i].impl) && (!nat_ir || per < nat_ir))
      nat_ir = per;
  }
  for (int i = 0; i < nt; i++) {
    double per = cgt[i].ir / cgt[i].events;
    if (report_is_native(cgt[i].impl) && (!nat_irt || per < nat_irt))
      nat_irt = per;
  }
  char path[4096];
  snprintf(path, sizeof path, "%s/plots/data/callgrind.dat", r->dir);
  FILE *f = fopen(path, "w");
  bench_buf_printf(&r->html,
                   "<table><tr><th>implementation</th><th>instructions / "
                   "event</th><th>with per-fd timeouts</th><th>wall ns / "
                   "event (chain, warm)</th></tr>\n");
  bench_buf_printf(&r->md, "| implementation | instructions / event | with "
                           "per-fd timeouts | wall ns / event |\n|---|---:|"
                           "---:|---:|\n");
  for (int i = 0; i < r->nimpls; i++) {
    const report_cg *a = NULL, *b = NULL;
    for (int k = 0; k < n; k++)
      if (!strcmp(cg[k].impl, r->impls[i]))
        a = &cg[k];
    for (int k = 0; k < nt; k++)
      if (!strcmp(cgt[k].impl, r->impls[i]))
        b = &cgt[k];
    if (!a && !b)
      continue;
    double pa = a ? a->ir / a->events : 0, pb = b ? b->ir / b->events : 0;
    const report_rec *wall =
        report_find(r, "measurement", "chain", "per_event",
                    "n=1000 active=100 timeouts=0 run=warm", r->impls[i]);
    bench_buf_printf(&r->html, "<tr><th>");
    report_html_esc(&r->html, r->impls[i]);
    bench_buf_printf(&r->html, "</th>");
    bench_buf_printf(&r->md, "| %s |", r->impls[i]);
    if (a) {
      bench_buf_printf(&r->html, "<td>%.0f", pa);
      bench_buf_printf(&r->md, " %.0f", pa);
      if (raw_ir && strcmp(r->impls[i], BENCH_RAW_NAME)) {
        bench_buf_printf(&r->html, " <span class=r>raw ×%.2f</span>",
                         pa / raw_ir);
        bench_buf_printf(&r->md, " (raw ×%.2f)", pa / raw_ir);
      }
      if (nat_ir && !report_is_native(r->impls[i])) {
        bench_buf_printf(&r->html, " <span class=r>nat ×%.2f</span>",
                         pa / nat_ir);
        bench_buf_printf(&r->md, " (nat ×%.2f)", pa / nat_ir);
      }
      bench_buf_printf(&r->html, "</td>");
      bench_buf_printf(&r->md, " |");
    } else {
      bench_buf_printf(&r->html, "<td class=na>—</td>");
      bench_buf_printf(&r->md, " — |");
    }
    if (b) {
      bench_buf_printf(&r->html, "<td>%.0f", pb);
      bench_buf_printf(&r->md, " %.0f", pb);
      if (nat_irt && !report_is_native(r->impls[i])) {
        bench_buf_printf(&r->html, " <span class=r>nat ×%.2f</span>",
                         pb / nat_irt);
        bench_buf_printf(&r->md, " (nat ×%.2f)", pb / nat_irt);
      }
      bench_buf_printf(&r->html, "</td>");
      bench_buf_printf(&r->md, " |");
    } else {
      bench_buf_printf(&r->html, "<td class=na>—</td>");
      bench_buf_printf(&r->md, " — |");
    }
    if (wall) {
      bench_buf_printf(&r->html, "<td>%.0f</td></tr>\n", wall->med);
      bench_buf_printf(&r->md, " %.0f |\n", wall->med);
    } else {
      bench_buf_printf(&r->html, "<td class=na>—</td></tr>\n");
      bench_buf_printf(&r->md, " — |\n");
    }
    if (f)
      fprintf(f, "\"%s\" %g %g %g\n", r->impls[i], a ? pa : 0.0 / 0.0,
              b ? pb : 0.0 / 0.0, wall ? wall->med : 0.0 / 0.0);
  }
  bench_buf_printf(&r->html, "</table>\n");
  bench_buf_printf(&r->md, "\n");
  if (f) {
    fclose(f);
    bench_buf body = {0};
    bench_buf_printf(
        &body,
        "%sset multiplot layout 1,2 title 'chain, n=1000, a=100: two views "
        "of the same work'\n"
        "set style data histograms\nset style histogram clustered gap 1\n"
        "set style fill solid 0.8 border -1\nset yrange [0:*]\n"
        "set xtics rotate by -35 noenhanced\n"
        "set key inside top left\n"
        "set title 'user-space instructions per event (callgrind)'\n"
        "set ylabel 'instructions'\n"
        "plot 'data/callgrind.dat' u 2:xtic(1) lt 2 t 'no timeouts', "
        "'' u 3 lt 3 t 'per-fd timeouts'\n"
        "set title 'wall time per event (chain benchmark, warm)'\n"
        "set ylabel 'ns'\nunset key\n"
        "plot 'data/callgrind.dat' u 4:xtic(1) lt 4\n"
        "unset multiplot\n",
        REPORT_STYLE);
    if (report_gnuplot(r, "callgrind", body.s, 1300, 460) == 0)
      report_embed(r, "callgrind",
                   "chain: instructions per event beside wall time");
    bench_buf_free(&body);
  }
}

/* ---- where we stand ----------------------------------------------------- */
/* Geometric mean of impl's cost ratio to `base_impl` (or to the best native
 * when base_impl is NULL) over every figure of bench/metric matching where;
 * 0 when nothing matches. Reported, never asserted. */
static double report_gm(const report *r, const char *impl, const char *bench,
                        const char *metric, const char *where,
                        const char *base_impl, int *count) {
  double logsum = 0;
  int n = 0;
  for (int i = 0; i < r->nrecs; i++) {
    const report_rec *x = &r->recs[i];
    if (strcmp(x->type, "measurement") || strcmp(x->bench, bench) ||
        strcmp(x->metric, metric) || strcmp(x->impl, impl) ||
        !report_where(x, where))
      continue;
    char w[512];
    json_to_text(x->params, w, sizeof w);
    const report_rec *base =
        base_impl ? report_find(r, "measurement", bench, metric, w, base_impl)
                  : report_best_native(r, bench, metric, w);
    double ratio = report_ratio(x, base);
    if (ratio > 0) {
      logsum += log(ratio);
      n++;
    }
  }
  if (count)
    *count = n;
  return n ? exp(logsum / n) : 0;
}

static void report_target_row(report *r, const char *target, const char *figure,
                              double value, double goal, int n) {
  char v[64];
  const char *verdict;
  if (value <= 0) {
    snprintf(v, sizeof v, "no data");
    verdict = "—";
  } else {
    snprintf(v, sizeof v, "×%.2f", value);
    verdict = value <= goal ? "met" : "not yet";
  }
  bench_buf_printf(&r->html, "<tr><td class=l>");
  report_html_esc(&r->html, target);
  bench_buf_printf(&r->html, "</td><td class=l>");
  report_html_esc(&r->html, figure);
  bench_buf_printf(&r->html,
                   "</td><td>%s</td><td>≤ ×%.2f</td><td>%d</td>"
                   "<td class=%s>%s</td></tr>\n",
                   v, goal, n,
                   value <= 0      ? "sk"
                   : value <= goal ? "ok"
                                   : "bad",
                   verdict);
  bench_buf_printf(&r->md, "| %s | %s | %s | ≤ ×%.2f | %d | %s |\n", target,
                   figure, v, goal, n, verdict);
}

static void report_targets(report *r) {
  const char *ref = "ref-epoll";
  report_h2(r, "targets", "Where we stand (targets, not tests)",
            "The project's goals from the benchmark issue, each computed from "
            "the figures below as a cost ratio (geometric mean where several "
            "figures count; 1.00 = the same, below 1 = better). Nothing here "
            "is asserted; it shows the distance to go.");
  bench_buf_printf(&r->html, "<table><tr><th>target</th><th>figures</th>"
                             "<th>ratio</th><th>goal</th><th>n</th>"
                             "<th>verdict</th></tr>\n");
  bench_buf_printf(&r->md, "| target | figures | ratio | goal | n | verdict "
                           "|\n|---|---|---:|---:|---:|---|\n");
  int n;
  double v;
  v = report_gm(r, ref, "chain", "per_event", "timeouts=0 run=warm",
                BENCH_RAW_NAME, &n);
  report_target_row(r, "ref-epoll within 1.10× of raw-epoll: chain",
                    "ns per event, warm, every no-timeout configuration", v,
                    1.10, n);
  v = report_gm(r, ref, "pingpong", "round_trips", "", BENCH_RAW_NAME, &n);
  report_target_row(r, "ref-epoll within 1.10× of raw-epoll: pingpong",
                    "round trips per second", v, 1.10, n);
  v = report_gm(r, ref, "echo", "rps", "mode=closed", BENCH_RAW_NAME, &n);
  report_target_row(r, "ref-epoll within 1.10× of raw-epoll: echo",
                    "requests per second, every closed-loop configuration", v,
                    1.10, n);
  /* The largest n that ran, a=100, with timeouts. */
  char where[128];
  double bestn = 0;
  for (int i = 0; i < r->nrecs; i++) {
    const report_rec *x = &r->recs[i];
    if (!strcmp(x->type, "measurement") && !strcmp(x->bench, "chain") &&
        !strcmp(x->impl, ref) && report_where(x, "active=100 timeouts=1") &&
        json_num(x->params, "n", 0) > bestn)
      bestn = json_num(x->params, "n", 0);
  }
  snprintf(where, sizeof where, "n=%g active=100 timeouts=1 run=warm", bestn);
  v = report_gm(r, ref, "chain", "per_event", where, NULL, &n);
  char fig[160];
  snprintf(fig, sizeof fig, "ns per event, n=%g, a=100, with timeouts, warm",
           bestn);
  report_target_row(r, "ref-epoll faster than every native library: chain", fig,
                    v, 1.0, n);
  static const char *const tm[] = {"insert", "fire", "cancel"};
  for (int k = 0; k < 3; k++) {
    char t[96];
    snprintf(t, sizeof t,
             "ref-epoll faster than every native library: timers (%s)", tm[k]);
    v = report_gm(r, ref, "timers", tm[k], "", NULL, &n);
    report_target_row(r, t, "ns per operation", v, 1.0, n);
  }
  v = report_gm(r, ref, "callbacks", "rate", "", NULL, &n);
  report_target_row(r, "ref-epoll faster than every native library: callbacks",
                    "callbacks per second, chain and fan-out", v, 1.0, n);
  /* p99 no worse than any native: the worst configuration counts. */
  double worst = 0;
  int nw = 0;
  for (int i = 0; i < r->nrecs; i++) {
    const report_rec *x = &r->recs[i];
    if (strcmp(x->type, "measurement") || strcmp(x->bench, "echo") ||
        strcmp(x->metric, "p99") || strcmp(x->impl, ref))
      continue;
    char w[512];
    json_to_text(x->params, w, sizeof w);
    double ratio = report_ratio(x, report_best_native(r, "echo", "p99", w));
    if (ratio > 0) {
      nw++;
      if (ratio > worst)
        worst = ratio;
    }
  }
  report_target_row(r, "echo p99 latency no worse than any native library",
                    "p99, worst configuration, against the best native", worst,
                    1.0, nw);
  /* O(1) backends flat: judged by the backend's O1 bit, never its name. */
  for (int k = 0; k < r->nimpls; k++) {
    const report_rec *lo = NULL, *hi = NULL;
    for (int i = 0; i < r->nrecs; i++) {
      const report_rec *x = &r->recs[i];
      if (strcmp(x->type, "measurement") || strcmp(x->bench, "idle") ||
          strcmp(x->impl, r->impls[k]))
        continue;
      double nn = json_num(x->params, "n", 0);
      if (nn >= 100 && (!lo || nn < json_num(lo->params, "n", 0)))
        lo = x;
      if (!hi || nn > json_num(hi->params, "n", 0))
        hi = x;
    }
    if (!lo || !hi || lo == hi)
      continue;
    const evl_backend_ops *be = NULL;
    char err[160];
    if (evl_backend_lookup(lo->backend, &be, err, sizeof err) < 0 ||
        !(be->features & EVL_BF_O1))
      continue;
    char t[128], f[128];
    snprintf(t, sizeof t, "O(1) backend flat in idle: %s", r->impls[k]);
    snprintf(f, sizeof f, "ns per iteration, n=%g against n=%g",
             json_num(hi->params, "n", 0), json_num(lo->params, "n", 0));
    report_target_row(r, t, f, hi->med / lo->med, 1.2, 2);
  }
  v = report_gm(r, ref, "memory", "bytes", "what=per_timer", NULL, &n);
  report_target_row(r, "fewer bytes per timer than any native library",
                    "heap bytes per pending timer", v, 1.0, n);
  v = report_gm(r, ref, "memory", "bytes", "what=per_fd", NULL, &n);
  report_target_row(r, "fewer bytes per fd than any native library",
                    "heap bytes per registered fd", v, 1.0, n);
  bench_buf_printf(&r->html, "</table>\n");
  bench_buf_printf(&r->md, "\n");
}

/* ---- the page ---------------------------------------------------------- */
static const char *REPORT_CSS =
    "body{font:14px/1.4 system-ui,sans-serif;margin:1.5em auto;max-width:"
    "1400px;padding:0 1em;color:#222}"
    "h1{font-size:1.6em}h2{margin-top:2em;border-bottom:1px solid #ccc}"
    "table{border-collapse:collapse;margin:.8em 0}"
    "td,th{border:1px solid #ddd;padding:3px 7px;text-align:right;"
    "vertical-align:top}"
    "th{background:#f4f4f4;text-align:left}caption{text-align:left;"
    "font-weight:bold;padding:.3em 0}"
    ".u{color:#666;font-size:.85em}.s{color:#888;font-size:.85em}"
    ".r{color:#335;font-size:.8em}.na{color:#aaa;text-align:center}"
    "td.l{text-align:left}td.ok{background:#dfd}table.env "
    "td{text-align:left}table.long td{text-align:right}"
    "figure{margin:1em 0}figure img{max-width:100%;border:1px solid #eee}"
    "figcaption{color:#555;font-size:.9em}"
    ".scroll{overflow-x:auto}table.matrix td{text-align:center;padding:1px "
    "3px;font-size:.75em}table.matrix th{font-size:.8em}"
    "th.v{vertical-align:bottom}th.v span{writing-mode:vertical-rl;"
    "transform:rotate(180deg);white-space:nowrap}"
    "td.ok{background:#dfd}td.sk{background:#eee;color:#777}"
    "td.bad{background:#fbb;font-weight:bold}"
    "ul.notes{color:#444;font-size:.9em}nav a{margin-right:.8em}";

static void report_section(report *r, const char *bench, const char *title,
                           const char *text) {
  report_h2(r, bench, title, text);
  report_notes(r, bench);
}

static void report_body(report *r) {
  /* calibration */
  report_section(r, "calibration", "Calibration: the floor",
                 "Bare system calls and one write + wait + read through "
                 "each selector backend's ABI (no loop): every loop figure "
                 "below sits on top of these.");
  {
    report_table t = {"calibration (ns per operation)", "calibration", "", "op",
                      "ns"};
    report_wide_table(r, &t);
    report_series s[] = {
        {"write+wait+read", "calibration", "ns", "op=write_wait_read"}};
    if (report_bars_plot(r, "calibration", "write + wait + read per backend",
                         "ns", 0, s, 1) == 0)
      report_embed(r, "calibration", "calibration: write+wait+read");
  }
  /* chain */
  report_section(
      r, "chain", "chain (libev / libevent bench.c)",
      "n socketpairs, a of them active, w writes; each read forwards one "
      "byte to the next pair. Optional per-fd timeout (10 s, never fires) "
      "re-armed on every event. ns per event of the warm (second) run; "
      "setup includes one non-blocking iteration so lazy registration is "
      "counted. Cells: median ± half the min–max range; raw × and nat × are "
      "the cost relative to raw-epoll and to the fastest native library "
      "(1.00 = same, > 1 = slower).");
  report_panel cp[] = {
      {"100 active, no timeouts", "chain", "measurement", "per_event",
       "active=100 timeouts=0 run=warm", "n"},
      {"100 active, with timeouts", "chain", "measurement", "per_event",
       "active=100 timeouts=1 run=warm", "n"},
      {"1000 active, no timeouts", "chain", "measurement", "per_event",
       "active=1000 timeouts=0 run=warm", "n"},
      {"1000 active, with timeouts", "chain", "measurement", "per_event",
       "active=1000 timeouts=1 run=warm", "n"},
  };
  if (report_lines_plot(r, "chain", "chain: ns per event (warm run)",
                        "n (socketpairs)", "ns per event", 1, 0, cp, 4, 2) == 0)
    report_embed(r, "chain", "chain: ns per event against n");
  static const report_table chain_tables[] = {
      {"chain, 1 active, no timeouts: ns per event (warm)", "chain",
       "active=1 timeouts=0 run=warm", "n", "per_event"},
      {"chain, 100 active, no timeouts: ns per event (warm)", "chain",
       "active=100 timeouts=0 run=warm", "n", "per_event"},
      {"chain, 100 active, with timeouts: ns per event (warm)", "chain",
       "active=100 timeouts=1 run=warm", "n", "per_event"},
      {"chain, 1000 active, no timeouts: ns per event (warm)", "chain",
       "active=1000 timeouts=0 run=warm", "n", "per_event"},
      {"chain, 1000 active, with timeouts: ns per event (warm)", "chain",
       "active=1000 timeouts=1 run=warm", "n", "per_event"},
      {"chain, 100 active, first (cold) run: ns per event", "chain",
       "active=100 timeouts=0 run=cold", "n", "per_event"},
      {"chain setup, cold, with timeouts: µs to register n fds", "chain",
       "active=100 timeouts=1 run=cold", "n", "setup"},
  };
  for (size_t i = 0; i < sizeof chain_tables / sizeof chain_tables[0]; i++)
    report_wide_table(r, &chain_tables[i]);
  report_panel sp[] = {
      {"setup, cold run, no timeouts", "chain", "measurement", "setup",
       "active=100 timeouts=0 run=cold", "n"},
      {"setup, cold run, with timeouts", "chain", "measurement", "setup",
       "active=100 timeouts=1 run=cold", "n"},
  };
  if (report_lines_plot(r, "chain_setup", "chain: setup time", "n", "µs", 1, 1,
                        sp, 2, 2) == 0)
    report_embed(r, "chain_setup", "chain: setup µs against n");
  report_all_figures(r, "chain");

  /* idle */
  report_section(r, "idle", "idle: one active fd among n idle",
                 "ns per iteration while n registered fds stay idle: flat "
                 "for O(1) backends, growing for poll and select.");
  report_panel ip[] = {
      {"ns per iteration", "idle", "measurement", "per_iteration", "", "n"}};
  if (report_lines_plot(r, "idle", "idle scaling", "n (idle fds)",
                        "ns per iteration", 1, 1, ip, 1, 1) == 0)
    report_embed(r, "idle", "idle: ns per iteration against n");
  {
    report_table t = {"idle: ns per iteration", "idle", "", "n",
                      "per_iteration"};
    report_wide_table(r, &t);
  }
  report_all_figures(r, "idle");

  /* timers */
  report_section(r, "timers", "timers (libuv million_timers)",
                 "Timers at random deadlines: ns per insert, per fire (all "
                 "due, so no sleeping is counted), per cancel (random "
                 "order, plus one non-blocking iteration for lazy "
                 "cancels); heap bytes per pending timer (mallinfo2).");
  {
    report_table t = {"timers", "timers", "", NULL,
                      "insert fire cancel bytes_per_timer"};
    report_wide_table(r, &t);
    report_series s[] = {{"insert", "timers", "insert", ""},
                         {"fire", "timers", "fire", ""},
                         {"cancel", "timers", "cancel", ""}};
    if (report_bars_plot(r, "timers", "timers: ns per operation", "ns", 0, s,
                         3) == 0)
      report_embed(r, "timers", "timers: insert, fire, cancel");
  }
  report_all_figures(r, "timers");

  /* callbacks */
  report_section(r, "callbacks", "callbacks (libuv loop_count)",
                 "call_soon chains (one callback per iteration, S1) and "
                 "fan-out (one callback queues 1000): callbacks per second.");
  {
    report_table t = {"callbacks per second", "callbacks", "", "shape", "rate"};
    report_wide_table(r, &t);
    report_series s[] = {{"chain", "callbacks", "rate", "shape=chain"},
                         {"fan-out", "callbacks", "rate", "shape=fanout"}};
    if (report_bars_plot(r, "callbacks", "callbacks per second", "callbacks/s",
                         1, s, 2) == 0)
      report_embed(r, "callbacks", "callbacks per second");
  }
  report_all_figures(r, "callbacks");

  /* pingpong */
  report_section(r, "pingpong", "pingpong (libuv ping_pongs)",
                 "One TCP loopback connection, both ends on the loop under "
                 "test, one 5-byte message in flight: round trips per "
                 "second.");
  {
    report_table t = {"round trips per second", "pingpong", "", NULL,
                      "round_trips"};
    report_wide_table(r, &t);
    report_series s[] = {{"round trips/s", "pingpong", "round_trips", ""}};
    if (report_bars_plot(r, "pingpong", "pingpong: round trips per second",
                         "trips/s", 0, s, 1) == 0)
      report_embed(r, "pingpong", "pingpong round trips");
  }
  report_all_figures(r, "pingpong");

  /* echo */
  report_section(
      r, "echo", "echo (uvloop's vmbench shape)",
      "TCP echo server on the loop under test (127.0.0.1 only); the load "
      "client runs on its own thread with its own epoll. Closed loop: each "
      "connection sends the next message when the echo is complete. "
      "Constant rate: messages are sent on a fixed schedule and latency is "
      "measured from the scheduled time, so queueing delay is not hidden.");
  report_panel ep[] = {
      {"closed loop, 10 connections", "echo", "measurement", "throughput",
       "mode=closed conc=10", "kib"},
      {"closed loop, 100 connections", "echo", "measurement", "throughput",
       "mode=closed conc=100", "kib"},
  };
  if (report_lines_plot(r, "echo_throughput", "echo throughput",
                        "message size (KiB)", "MiB/s", 1, 0, ep, 2, 2) == 0)
    report_embed(r, "echo_throughput", "echo: MiB/s by message size");
  {
    static const report_table et[] = {
        {"echo, closed loop, 10 connections: requests/s", "echo",
         "mode=closed conc=10", "kib", "rps"},
        {"echo, closed loop, 100 connections: requests/s", "echo",
         "mode=closed conc=100", "kib", "rps"},
        {"echo, closed loop, 10 connections: MiB/s", "echo",
         "mode=closed conc=10", "kib", "throughput"},
        {"echo, closed loop, 10 connections, 1 KiB: latency (µs)", "echo",
         "mode=closed conc=10 kib=1", NULL, "p50 p90 p99 p999 max"},
        {"echo, constant rate, 10 connections, 1 KiB: latency (µs)", "echo",
         "mode=rate conc=10 kib=1", NULL, "p50 p90 p99 p999 max"},
        {"echo, constant rate, 100 connections, 10 KiB: latency (µs)", "echo",
         "mode=rate conc=100 kib=10", NULL, "p50 p90 p99 p999 max"},
    };
    for (size_t i = 0; i < sizeof et / sizeof et[0]; i++)
      report_wide_table(r, &et[i]);
  }
  report_panel lp[] = {
      {"constant rate, 10 conn, 1 KiB", "echo", "curve", "latency",
       "mode=rate conc=10 kib=1", ""},
      {"constant rate, 100 conn, 10 KiB", "echo", "curve", "latency",
       "mode=rate conc=100 kib=10", ""},
      {"closed loop, 10 conn, 1 KiB", "echo", "curve", "latency",
       "mode=closed conc=10 kib=1", ""},
      {"closed loop, 100 conn, 100 KiB", "echo", "curve", "latency",
       "mode=closed conc=100 kib=100", ""},
  };
  if (report_curve_plot(r, "echo_latency", "echo latency percentiles", "µs", lp,
                        4, 2) == 0)
    report_embed(r, "echo_latency", "echo: latency percentile curves");
  report_all_figures(r, "echo");

  /* wakeup */
  report_section(r, "wakeup", "wakeup (libuv async1)",
                 "A second thread posts with call_soon_threadsafe and waits "
                 "for the loop thread's answer: round trips per second and "
                 "latency percentiles.");
  {
    report_table t = {"wakeup", "wakeup", "", NULL,
                      "round_trips p50 p90 p99 p999 max"};
    report_wide_table(r, &t);
  }
  report_panel wp[] = {
      {"cross-thread round trip", "wakeup", "curve", "latency", "", ""}};
  if (report_curve_plot(r, "wakeup_latency",
                        "wakeup: cross-thread round-trip latency", "µs", wp, 1,
                        1) == 0)
    report_embed(r, "wakeup_latency", "wakeup latency percentiles");
  report_all_figures(r, "wakeup");

  /* accuracy */
  report_section(r, "accuracy", "accuracy: timer lateness",
                 "Timers of 1 to 100 ms, all pending at once: how late each "
                 "fires, read by an independent clock in the callback.");
  {
    report_table t = {"lateness (µs)", "accuracy", "", NULL,
                      "p50 p90 p99 max early"};
    report_wide_table(r, &t);
  }
  report_panel ap[] = {
      {"lateness distribution", "accuracy", "curve", "lateness", "", ""}};
  if (report_curve_plot(r, "accuracy", "timer lateness", "µs late", ap, 1, 1) ==
      0)
    report_embed(r, "accuracy", "accuracy: lateness percentiles");
  report_all_figures(r, "accuracy");

  /* memory */
  report_section(r, "memory", "memory",
                 "Heap bytes (glibc mallinfo2: in-use arena plus mmapped "
                 "blocks) per registered fd and per pending timer. Memory "
                 "a library maps itself (io_uring rings) is not counted.");
  {
    report_table t = {"heap bytes per registered fd", "memory", "what=per_fd",
                      "count", "bytes"};
    report_wide_table(r, &t);
    report_table t2 = {"heap bytes per pending timer", "memory",
                       "what=per_timer", "count", "bytes"};
    report_wide_table(r, &t2);
    report_table t3 = {"heap bytes of an empty loop (tables sized up front "
                       "show here, not per fd)",
                       "memory", "what=empty_loop", "count", "bytes"};
    report_wide_table(r, &t3);
    report_series s[] = {
        {"per fd (900 fds)", "memory", "bytes", "what=per_fd count=900"},
        {"per fd (most fds)", "memory", "bytes", "what=per_fd count=8000"},
        {"per timer", "memory", "bytes", "what=per_timer"}};
    if (report_bars_plot(r, "memory", "memory: heap bytes", "bytes", 0, s, 3) ==
        0)
      report_embed(r, "memory", "memory: bytes per fd and per timer");
  }
  report_all_figures(r, "memory");

  report_callgrind_section(r);
  report_hyperfine(r);
}

static int report_write(const char *dir, const char *name, const bench_buf *b) {
  char path[4096];
  snprintf(path, sizeof path, "%s/%s", dir, name);
  FILE *f = fopen(path, "w");
  if (!f) {
    fprintf(stderr, "evl-bench: %s: %s\n", path, strerror(errno));
    return -1;
  }
  fwrite(b->s, 1, b->len, f);
  return fclose(f) == 0 ? 0 : -1;
}

int report_generate(const char *dir) {
  report r = {0};
  if (report_load(&r, dir) < 0)
    return 1;
  char path[4096];
  snprintf(path, sizeof path, "%s/plots", dir);
  mkdir(path, 0777);
  snprintf(path, sizeof path, "%s/plots/data", dir);
  mkdir(path, 0777);
  const json *env = json_get(r.root, "environment");
  char title[512];
  snprintf(title, sizeof title,
           "evlab benchmarks — %s, %s profile, commit %.12s",
           json_str(env, "date", "?"), json_str(env, "profile", "?"),
           json_str(env, "commit", "?"));
  bench_buf_printf(&r.html,
                   "<!DOCTYPE html>\n<html lang=en><head><meta charset=utf-8>"
                   "<title>");
  report_html_esc(&r.html, title);
  bench_buf_printf(&r.html, "</title><style>%s</style></head><body>\n<h1>",
                   REPORT_CSS);
  report_html_esc(&r.html, title);
  bench_buf_printf(&r.html,
                   "</h1>\n<p>Generated by <code>evl-bench --report</code> "
                   "from <a href=\"results.json\">results.json</a>; nothing "
                   "here is written by hand. Every figure is the median of "
                   "its repeats; hover a cell for min, max, p10 and p90. "
                   "Timing is never asserted by any test.</p>\n<nav>");
  static const char *const nav[] = {
      "environment", "targets",  "conformance", "calibration", "chain",
      "idle",        "timers",   "callbacks",   "pingpong",    "echo",
      "wakeup",      "accuracy", "memory",      "callgrind",   "hyperfine"};
  for (size_t i = 0; i < sizeof nav / sizeof nav[0]; i++)
    bench_buf_printf(&r.html, "<a href=\"#%s\">%s</a>", nav[i], nav[i]);
  bench_buf_printf(&r.html, "</nav>\n");
  bench_buf_printf(&r.md,
                   "# %s\n\nGenerated by `evl-bench --report` from "
                   "`results.json`; see `index.html` for the same tables "
                   "with every plot. Cells: median ± half the min–max range "
                   "over repeats; *raw ×* and *nat ×* are the cost relative "
                   "to raw-epoll and to the fastest native library (1.00 = "
                   "same, > 1 = slower or fewer per second).\n",
                   title);
  report_environment(&r);
  report_targets(&r);
  report_conformance(&r);
  report_body(&r);
  bench_buf_printf(&r.html, "</body></html>\n");
  int rc = report_write(dir, "index.html", &r.html);
  rc |= report_write(dir, "summary.md", &r.md);
  fprintf(stderr,
          "evl-bench: report: %d plots, %s/index.html, "
          "%s/summary.md\n",
          r.nplots, dir, dir);
  bench_buf_free(&r.html);
  bench_buf_free(&r.md);
  free(r.recs);
  json_free(r.root);
  return rc ? 1 : 0;
}
