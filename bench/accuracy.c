/* accuracy.c — timers of 1 to 100 ms, all pending at once: how late each one
 * fires, read by an independent clock inside the callback. */
#include "bench.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>

typedef struct accuracy_timer {
  struct accuracy *acc;
  uint64_t due;
} accuracy_timer;

typedef struct accuracy {
  bench_lat late; /* ns; negative = early, an S2 violation */
  long left;
  long early;
} accuracy;

static void accuracy_cb(void *arg) {
  accuracy_timer *t = arg;
  int64_t late = (int64_t)(bench_now() - t->due);
  if (late < 0)
    t->acc->early++;
  bench_lat_add(&t->acc->late, (double)late);
  t->acc->left--;
}

static const double accuracy_pcts[] = {0,  10, 25,   50,   75,    90,
                                       95, 99, 99.5, 99.9, 99.99, 100};
#define ACCURACY_NPCT (int)(sizeof accuracy_pcts / sizeof accuracy_pcts[0])

int bench_accuracy(bench_ctx *c) {
  int ntimers = c->profile == BENCH_FULL ? 2000 : 300;
  accuracy_timer *ts = calloc((size_t)ntimers, sizeof *ts);
  if (!ts)
    return -12;
  double r[5][64];
  bench_lat all = {0};
  int got = 0, rc = 0;
  uint64_t rng = 7;
  for (int rep = 0; rep < c->repeat && rep < 64; rep++) {
    evl_loop *loop;
    rc = bench_loop_new(c, &loop);
    if (rc < 0)
      break;
    accuracy acc = {0};
    acc.left = ntimers;
    for (int i = 0; i < ntimers && rc == 0; i++) {
      /* 1..100 ms, log-uniform, so short and long delays both count. */
      double u = (double)(bench_rand(&rng) % 1000000) / 1e6;
      int64_t delay = (int64_t)(1e6 * pow(100.0, u));
      ts[i].acc = &acc;
      ts[i].due = bench_now() + (uint64_t)delay;
      rc = c->ops->call_later(loop, delay, accuracy_cb, &ts[i], NULL);
    }
    while (rc == 0 && acc.left > 0)
      rc = c->ops->run_once(loop);
    bench_loop_free(c, loop);
    if (rc < 0) {
      bench_lat_free(&acc.late);
      break;
    }
    /* The loop's deadline is taken after our read of the clock, so a
     * correct loop can only look late here, never early. */
    bench_sort(acc.late.v, (int)acc.late.n);
    r[0][got] = bench_pct_sorted(acc.late.v, (int)acc.late.n, 50) / 1e3;
    r[1][got] = bench_pct_sorted(acc.late.v, (int)acc.late.n, 90) / 1e3;
    r[2][got] = bench_pct_sorted(acc.late.v, (int)acc.late.n, 99) / 1e3;
    r[3][got] = acc.late.v[acc.late.n - 1] / 1e3;
    r[4][got] = (double)acc.early;
    for (size_t i = 0; i < acc.late.n; i++)
      bench_lat_add(&all, acc.late.v[i]);
    bench_lat_free(&acc.late);
    got++;
    if (bench_over_budget(c))
      break;
  }
  free(ts);
  if (rc < 0 || !got) {
    bench_lat_free(&all);
    return rc < 0 ? rc : -EIO;
  }
  char params[64];
  snprintf(params, sizeof params, "{\"timers\":%d}", ntimers);
  static const char *const names[] = {"p50", "p90", "p99", "max"};
  for (int k = 0; k < 4; k++)
    bench_emit(c, "accuracy", params, names[k], "us", "lower", r[k], got);
  bench_emit(c, "accuracy", params, "early", "timers", "lower", r[4], got);
  bench_sort(all.v, (int)all.n);
  double x[ACCURACY_NPCT], y[ACCURACY_NPCT];
  for (int k = 0; k < ACCURACY_NPCT; k++) {
    x[k] = accuracy_pcts[k];
    y[k] = bench_pct_sorted(all.v, (int)all.n, accuracy_pcts[k]) / 1e3;
  }
  bench_emit_curve(c, "accuracy", params, "lateness", "percentile", "us", x, y,
                   ACCURACY_NPCT);
  bench_lat_free(&all);
  return 0;
}

/* ---- the report section ----------------------------------------------------
 */
static const bench_panel accuracy_curves[] = {
    {"lateness distribution", "lateness", "", NULL}};
static const bench_plot accuracy_plots[] = {
    {BENCH_PLOT_CURVES, "accuracy", "timer lateness", "", "µs late",
     "accuracy: lateness percentiles", 0, 0, 1, accuracy_curves, 1}};
static const bench_table accuracy_tables[] = {
    {"lateness (µs)", "", NULL, "p50 p90 p99 max early"}};
const bench_section bench_section_accuracy = {
    "accuracy: timer lateness",
    "Timers of 1 to 100 ms, all pending at once: how late each fires, read "
    "by an independent clock in the callback.",
    accuracy_plots,
    BENCH_COUNT(accuracy_plots),
    accuracy_tables,
    BENCH_COUNT(accuracy_tables)};
