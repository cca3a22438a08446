/* report_int.h — what the report's files share: the loaded run and the
 * helpers that read it. */
#ifndef EVL_BENCH_REPORT_INT_H
#define EVL_BENCH_REPORT_INT_H

#include "bench.h"
#include "json.h"

#define REPORT_MAX_IMPL 64

typedef struct report_rec {
  const json *j;
  const json *params;
  const char *bench, *impl, *backend, *metric, *unit, *type;
  int lower; /* better is lower */
  double med, min, max, p10, p90, ci_lo, ci_hi;
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

/* ---- report_util.c --------------------------------------------------------
 */
void report_html_esc(bench_buf *b, const char *s);
void report_md_esc(bench_buf *b, const char *s);
void report_fmt(double v, char *buf, size_t len); /* 3 significant digits */
int report_is_native(const char *impl);
int report_is_direct(const char *impl);
int report_is_baseline(const char *impl); /* raw-epoll or direct-* */
/* "direct-X" for "native-X" when the run has it, else NULL. */
const char *report_direct_of(const report *r, const char *impl);
int report_impl_index(const report *r, const char *impl);
int report_where(const report_rec *rec, const char *where);
const report_rec *report_find(const report *r, const char *type,
                              const char *bench, const char *metric,
                              const char *where, const char *impl);
/* Cost relative to base: > 1 is worse, whatever the metric's direction. */
double report_ratio(const report_rec *x, const report_rec *base);
/* The best figure among native-* (or direct-*) for this bench/metric/where. */
const report_rec *report_best_native(const report *r, const char *bench,
                                     const char *metric, const char *where);
const report_rec *report_best_direct(const report *r, const char *bench,
                                     const char *metric, const char *where);
/* A record's repeats, at most cap; the count. */
int report_repeats(const report_rec *x, double *v, int cap);
/* 95 % bootstrap interval of the cost ratio x/base. 0 or -errno. */
int report_ratio_ci(const report_rec *x, const report_rec *base, double *lo,
                    double *hi);
int report_load(report *r, const char *dir);
void report_safe(const char *in, char *out, size_t len);

/* ---- report_plot.c --------------------------------------------------------
 */
extern const char *const REPORT_STYLE;
int report_gnuplot(report *r, const char *name, const char *body, int width,
                   int height);
/* Draws one of a section's plots; 0 when an SVG was written. */
int report_plot(report *r, const char *bench, const bench_plot *p);

/* ---- report_html.c --------------------------------------------------------
 */
void report_h2(report *r, const char *id, const char *title, const char *text);
void report_para(report *r, const char *text);
/* The same text into the page and summary.md alike (no escaping: for text
 * both read the same). */
void report_both(report *r, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void report_embed(report *r, const char *name, const char *alt);
void report_wide_table(report *r, const char *bench, const bench_table *t);
void report_all_figures(report *r, const char *bench);
void report_notes(report *r, const char *bench);

/* ---- report_extra.c -------------------------------------------------------
 */
void report_environment(report *r);
void report_conformance(report *r);
/* ---- report_py.c: uvloop against asyncio (absent when either is). */
void report_python(report *r);
/* Does the run hold both py-asyncio and py-uvloop (the section exists)? */
int report_python_present(const report *r);
/* Implementations the fixed workload could not run (run.sh's pre-check),
 * as notes: the hyperfine and callgrind sections both lack them. */
void report_workload_skips(report *r);
void report_hyperfine(report *r);
void report_callgrind_section(report *r);

/* ---- report_verdict.c: how a target is judged ----------------------------
 */
/* The figures a target is computed from: pairs (x, base), each a cost ratio. */
#define VERDICT_MAXPAIRS 64
/* Two runs on one machine differ by a few percent beyond what one run's
 * bootstrap interval shows (the load shifts between them; the interval
 * only sees the spread within the run). A wall-clock verdict is decided
 * only when the interval, widened by this much on each side, still clears
 * the goal: otherwise two back-to-back runs could read "met" and
 * "undecided" for the same code. The headline's "a clear lead" is decided
 * the same way. */
#define VERDICT_DRIFT 0.05

typedef struct verdict_pairs {
  const report_rec *x[VERDICT_MAXPAIRS], *base[VERDICT_MAXPAIRS];
  int n;
} verdict_pairs;

/* What a row shows: the wall-clock ratio with its interval (n figures) and,
 * where the target has one, the callgrind ratio (exact). The verdict comes
 * from callgrind when `by_cg`, else from the wall-clock interval. */
typedef struct verdict_fig {
  double wall, lo, hi;
  int n;
  double cg; /* 0: none */
  int by_cg;
  int exact_wall; /* a deterministic figure (heap bytes) */
  int cpu;        /* wall holds a ratio of thread CPU times, not wall times */
  int paired;     /* ratios paired inside one process: VERDICT_DRIFT_PAIRED */
} verdict_fig;

/* Adds the pair when both figures exist and give a ratio. */
void verdict_add(verdict_pairs *p, const report_rec *x, const report_rec *base);
/* Every figure of impl matching bench/metric/where against base_impl's (NULL:
 * the fastest direct library's, else the fastest native's). */
void verdict_collect(const report *r, verdict_pairs *p, const char *impl,
                     const char *bench, const char *metric, const char *where,
                     const char *base_impl);
/* Geometric mean of the pairs' cost ratios with its 95 % bootstrap interval;
 * the count of pairs. */
int verdict_gm(const verdict_pairs *p, double *gm, double *lo, double *hi);
/* f->wall, lo, hi and n from the pairs. */
void verdict_wall(const verdict_pairs *p, verdict_fig *f);
/* One row of the targets table (HTML and markdown), with its verdict. */
void verdict_row(report *r, const char *target, const char *figure,
                 const verdict_fig *f, double goal);
/* Instructions per operation of impl's callgrind case kase; 0 when none. */
double verdict_cg(const report *r, const char *impl, const char *kase);
/* Geometric mean of impl's counts against the leanest direct library's, case
 * by case (its name in *who); 0 when a case is missing. */
double verdict_cg_vs_best(const report *r, const char *impl,
                          const char *const *cases, int ncases,
                          const char **who);
/* impl's count of kase against base's; 0 when either is missing. */
double verdict_cg_vs(const report *r, const char *impl, const char *base,
                     const char *kase);

/* ---- report_headline.c, report_targets.c ---------------------------------
 */
void report_headline(report *r);
void report_targets(report *r);

#endif
