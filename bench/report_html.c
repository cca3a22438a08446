/* report_html.c — the pieces every section is made of, in HTML and
 * Markdown at once: headings, embedded plots, wide tables, notes. */
#include "bench.h"
#include "json.h"
#include "report.h"
#include "report_int.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- HTML and Markdown pieces ------------------------------------------ */
void report_h2(report *r, const char *id, const char *title, const char *text) {
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

void report_para(report *r, const char *text) {
  bench_buf_printf(&r->html, "<p>");
  report_html_esc(&r->html, text);
  bench_buf_printf(&r->html, "</p>\n");
  bench_buf_printf(&r->md, "%s\n\n", text);
}

void report_both(report *r, const char *fmt, ...) {
  va_list ap, ap2;
  va_start(ap, fmt);
  va_copy(ap2, ap);
  int n = vsnprintf(NULL, 0, fmt, ap);
  va_end(ap);
  char *text = n >= 0 ? malloc((size_t)n + 1) : NULL;
  if (text) {
    vsnprintf(text, (size_t)n + 1, fmt, ap2);
    bench_buf_printf(&r->html, "%s", text);
    bench_buf_printf(&r->md, "%s", text);
    free(text);
  }
  va_end(ap2);
}

static const char report_b64[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* The page carries each SVG inline (base64), so it opens offline alone. */
void report_embed(report *r, const char *name, const char *alt) {
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

/* A cell: the median, its 95 % bootstrap interval over the repeats, and
 * its cost against raw-epoll (raw ×), against the fastest library used
 * directly (lib ×) and, for native-X, against direct-X (tax ×: what the
 * adapter adds to the library it wraps). */
static void report_cell(report *r, const report_rec *x, const report_rec *raw,
                        const report_rec *lib, const report_rec *dir) {
  char v[32], lo[32], hi[32];
  report_fmt(x->med, v, sizeof v);
  report_fmt(x->ci_lo, lo, sizeof lo);
  report_fmt(x->ci_hi, hi, sizeof hi);
  bench_buf_printf(&r->html,
                   "<td title=\"n=%d min %g max %g p10 %g p90 %g; 95%% "
                   "interval of the median %g to %g\">"
                   "%s <span class=u>%s</span> <span class=s>[%s–%s]"
                   "</span>",
                   x->n, x->min, x->max, x->p10, x->p90, x->ci_lo, x->ci_hi, v,
                   x->unit, lo, hi);
  bench_buf_printf(&r->md, " %s %s [%s–%s]", v, x->unit, lo, hi);
  double rr = report_ratio(x, raw), rl = report_ratio(x, lib),
         rd = report_ratio(x, dir);
  if (rr > 0 || rl > 0 || rd > 0) {
    bench_buf_printf(&r->html, "<br><span class=r>");
    bench_buf_printf(&r->md, " (");
    const char *sep = "";
    if (rr > 0) {
      bench_buf_printf(&r->html, "raw ×%.2f ", rr);
      bench_buf_printf(&r->md, "raw ×%.2f", rr);
      sep = ", ";
    }
    if (rl > 0) {
      bench_buf_printf(&r->html, "lib ×%.2f ", rl);
      bench_buf_printf(&r->md, "%slib ×%.2f", sep, rl);
      sep = ", ";
    }
    if (rd > 0) {
      bench_buf_printf(&r->html, "<b>tax ×%.2f</b>", rd);
      bench_buf_printf(&r->md, "%s**tax ×%.2f**", sep, rd);
    }
    bench_buf_printf(&r->html, "</span>");
    bench_buf_printf(&r->md, ")");
  }
  bench_buf_printf(&r->html, "</td>");
  bench_buf_printf(&r->md, " |");
}

/* A wide table's column: its heading, and which records fill it. */
typedef struct report_col {
  char name[64];
  char where[320];
  const char *metric;
} report_col;
#define REPORT_MAXCOLS 24

/* By colkey: one column per value of that parameter among the first
 * metric's records, in first-seen order, numeric ones sorted. */
static int report_cols_by_key(const report *r, const char *bench,
                              const bench_table *t, const char *metric,
                              report_col *cols) {
  const char *tw = t->where ? t->where : "";
  int nc = 0;
  for (int i = 0; i < r->nrecs && nc < REPORT_MAXCOLS; i++) {
    const report_rec *x = &r->recs[i];
    if (strcmp(x->type, "measurement") || strcmp(x->bench, bench) ||
        strcmp(x->metric, metric) || !report_where(x, t->where))
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
    cols[nc].metric = metric;
    nc++;
  }
  /* Numeric columns sort numerically (n = 100, 1000, 10000). */
  for (int a = 0; a < nc; a++)
    for (int b = a + 1; b < nc; b++) {
      char *ea, *eb;
      double va = strtod(cols[a].name, &ea), vb = strtod(cols[b].name, &eb);
      if (!*ea && !*eb && vb < va) {
        report_col tmp = cols[a];
        cols[a] = cols[b];
        cols[b] = tmp;
      }
    }
  return nc;
}

static void report_wide_head(report *r, const bench_table *t,
                             const report_col *cols, int nc) {
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
}

/* impl's row, when it has a figure in some column: each cell with its
 * ratios to raw epoll, to the fastest library and to its own library. */
static void report_wide_row(report *r, const char *bench, const char *impl,
                            const report_col *cols, int nc) {
  int any = 0;
  for (int c = 0; c < nc; c++)
    any |= report_find(r, "measurement", bench, cols[c].metric, cols[c].where,
                       impl) != NULL;
  if (!any)
    return;
  bench_buf_printf(&r->html, "<tr><th>");
  report_html_esc(&r->html, impl);
  bench_buf_printf(&r->html, "</th>");
  bench_buf_printf(&r->md, "| %s |", impl);
  for (int c = 0; c < nc; c++) {
    const report_rec *x = report_find(r, "measurement", bench, cols[c].metric,
                                      cols[c].where, impl);
    if (!x) {
      bench_buf_printf(&r->html, "<td class=na>—</td>");
      bench_buf_printf(&r->md, " — |");
      continue;
    }
    const report_rec *raw =
        strcmp(impl, BENCH_RAW_NAME)
            ? report_find(r, "measurement", bench, cols[c].metric,
                          cols[c].where, BENCH_RAW_NAME)
            : NULL;
    /* lib ×: the fastest library used directly, or the fastest native
     * adapter where no direct baseline has this figure. */
    const report_rec *lib =
        report_best_direct(r, bench, cols[c].metric, cols[c].where);
    if (!lib)
      lib = report_best_native(r, bench, cols[c].metric, cols[c].where);
    if (lib == x || report_is_baseline(impl))
      lib = NULL;
    const char *dname = report_direct_of(r, impl);
    const report_rec *dir =
        dname ? report_find(r, "measurement", bench, cols[c].metric,
                            cols[c].where, dname)
              : NULL;
    report_cell(r, x, raw, lib, dir);
  }
  bench_buf_printf(&r->html, "</tr>\n");
  bench_buf_printf(&r->md, "\n");
}

void report_wide_table(report *r, const char *bench, const bench_table *t) {
  /* t->metrics: one column per metric, or (colkey) the first metric's
   * values across colkey. */
  char mlist[256];
  snprintf(mlist, sizeof mlist, "%s", t->metrics);
  char *ms[12];
  int nm = 0;
  for (char *save = NULL, *tok = strtok_r(mlist, " ", &save); tok && nm < 12;
       tok = strtok_r(NULL, " ", &save))
    ms[nm++] = tok;
  if (!nm)
    return;
  report_col cols[REPORT_MAXCOLS];
  int nc = 0;
  if (t->colkey) {
    nc = report_cols_by_key(r, bench, t, ms[0], cols);
  } else {
    const char *tw = t->where ? t->where : "";
    for (int m = 0; m < nm && nc < REPORT_MAXCOLS; m++) {
      snprintf(cols[nc].name, sizeof cols[nc].name, "%s", ms[m]);
      snprintf(cols[nc].where, sizeof cols[nc].where, "%.300s", tw);
      cols[nc].metric = ms[m];
      nc++;
    }
  }
  if (!nc)
    return;
  report_wide_head(r, t, cols, nc);
  for (int i = 0; i < r->nimpls; i++)
    report_wide_row(r, bench, r->impls[i], cols, nc);
  bench_buf_printf(&r->html, "</table>\n");
  bench_buf_printf(&r->md, "\n");
}

/* Every figure of a benchmark in long form, folded away. */
void report_all_figures(report *r, const char *bench) {
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
void report_notes(report *r, const char *bench) {
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
