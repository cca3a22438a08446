/* report_util.c — the report's lookups: records by benchmark, metric,
 * parameters and implementation; ratios; loading results.json. */
#include "bench.h"
#include "json.h"
#include "report.h"
#include "report_int.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---- small helpers ------------------------------------------------------ */
void report_html_esc(bench_buf *b, const char *s) {
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
void report_md_esc(bench_buf *b, const char *s) {
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
void report_fmt(double v, char *buf, size_t len) {
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

int report_is_native(const char *impl) {
  return !strncmp(impl, "native-", 7);
}

int report_is_direct(const char *impl) {
  return !strncmp(impl, BENCH_DIRECT_PREFIX, strlen(BENCH_DIRECT_PREFIX));
}

int report_is_baseline(const char *impl) {
  return report_is_direct(impl) || !strcmp(impl, BENCH_RAW_NAME);
}

const char *report_direct_of(const report *r, const char *impl) {
  if (!report_is_native(impl))
    return NULL;
  char want[96];
  snprintf(want, sizeof want, "%s%s", BENCH_DIRECT_PREFIX, impl + 7);
  int i = report_impl_index(r, want);
  return i < 0 ? NULL : r->impls[i];
}

int report_impl_index(const report *r, const char *impl) {
  for (int i = 0; i < r->nimpls; i++)
    if (!strcmp(r->impls[i], impl))
      return i;
  return -1;
}

/* Does the record's params satisfy "k=v k2=v2"? */
int report_where(const report_rec *rec, const char *where) {
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

const report_rec *report_find(const report *r, const char *type,
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
double report_ratio(const report_rec *x, const report_rec *base) {
  if (!x || !base || base->med == 0 || x->med == 0)
    return 0;
  return x->lower ? x->med / base->med : base->med / x->med;
}

static const report_rec *report_best_of(const report *r, const char *bench,
                                        const char *metric, const char *where,
                                        int (*is)(const char *)) {
  const report_rec *best = NULL;
  for (int i = 0; i < r->nimpls; i++) {
    if (!is(r->impls[i]))
      continue;
    const report_rec *x =
        report_find(r, "measurement", bench, metric, where, r->impls[i]);
    if (x && (!best || (x->lower ? x->med < best->med : x->med > best->med)))
      best = x;
  }
  return best;
}

const report_rec *report_best_native(const report *r, const char *bench,
                                     const char *metric, const char *where) {
  return report_best_of(r, bench, metric, where, report_is_native);
}

const report_rec *report_best_direct(const report *r, const char *bench,
                                     const char *metric, const char *where) {
  return report_best_of(r, bench, metric, where, report_is_direct);
}

int report_repeats(const report_rec *x, double *v, int cap) {
  const json *rep = x ? json_get(x->j, "repeats") : NULL;
  int n = 0;
  for (int i = 0; rep && rep->type == JSON_ARR && i < rep->n && n < cap; i++)
    if (rep->kids[i]->type == JSON_NUM)
      v[n++] = rep->kids[i]->num;
  return n;
}

int report_ratio_ci(const report_rec *x, const report_rec *base, double *lo,
                    double *hi) {
  double a[256], b[256];
  int na = report_repeats(x, a, 256), nb = report_repeats(base, b, 256);
  if (na < 2 || nb < 2)
    return -EINVAL;
  /* A cost: per-second figures are inverted, so > 1 is always worse. */
  int rc = x->lower ? bench_boot_ratio(a, na, b, nb, lo, hi)
                    : bench_boot_ratio(b, nb, a, na, lo, hi);
  return rc;
}

/* ---- loading ----------------------------------------------------------------
 */
static void report_add_impl(report *r, const char *name) {
  if (report_impl_index(r, name) < 0 && r->nimpls < REPORT_MAX_IMPL)
    r->impls[r->nimpls++] = name;
}

int report_load(report *r, const char *dir) {
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
  /* The floors first (raw, then each library used directly), then the
   * implementations in the run's order. */
  report_add_impl(r, BENCH_RAW_NAME);
  const json *impls = json_get(r->root, "implementations");
  for (int pass = 0; pass < 2; pass++)
    for (int i = 0; impls && i < impls->n; i++) {
      const char *name = json_str(impls->kids[i], "name", "?");
      if (report_is_direct(name) == !pass)
        report_add_impl(r, name);
    }
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
    x->ci_lo = json_num(j, "ci_lo", x->min);
    x->ci_hi = json_num(j, "ci_hi", x->max);
    x->n = (int)json_num(j, "n", 0);
    if (!strcmp(x->type, "measurement") || !strcmp(x->type, "curve"))
      report_add_impl(r, x->impl);
  }
  return 0;
}

void report_safe(const char *in, char *out, size_t len) {
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
