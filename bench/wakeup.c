/* wakeup.c — libuv's async1 shape: another thread posts with
 * call_soon_threadsafe, the loop thread answers; round trips and latency. */
#include "bench.h"

#include <errno.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdatomic.h>

typedef struct wakeup {
  bench_ctx *c;
  evl_loop *loop;
  sem_t answered;
  long trips;
  bench_lat lat;
  uint64_t elapsed;
  int rc;
} wakeup;

/* Runs on the loop thread: the answer is a bare semaphore post, so the
 * figure is the loop's wakeup path and not the reply channel's. */
static void wakeup_cb(void *arg) {
  sem_post(&((wakeup *)arg)->answered);
}

static void wakeup_stop_cb(void *arg) {
  wakeup *w = arg;
  w->c->ops->stop(w->loop);
}

static void *wakeup_poster(void *arg) {
  bench_pin(1);
  wakeup *w = arg;
  uint64_t start = bench_now();
  for (long i = 0; i < w->trips; i++) {
    uint64_t t0 = bench_now();
    int rc = w->c->ops->call_soon_threadsafe(w->loop, wakeup_cb, w);
    if (rc < 0) {
      w->rc = rc;
      break;
    }
    while (sem_wait(&w->answered) < 0 && errno == EINTR) {
    }
    bench_lat_add(&w->lat, (double)(bench_now() - t0));
  }
  w->elapsed = bench_now() - start;
  if (w->c->ops->stop_threadsafe)
    w->c->ops->stop_threadsafe(w->loop);
  else
    w->c->ops->call_soon_threadsafe(w->loop, wakeup_stop_cb, w);
  return NULL;
}

static const double wakeup_pcts[] = {0,  10, 25,   50,   75,    90,
                                     95, 99, 99.5, 99.9, 99.99, 100};
#define WAKEUP_NPCT (int)(sizeof wakeup_pcts / sizeof wakeup_pcts[0])

int bench_wakeup(bench_ctx *c) {
  long trips = c->profile == BENCH_FULL ? 100000 : 5000;
  double r[6][64];
  bench_lat all = {0};
  int got = 0, rc = 0;
  for (int rep = 0; rep < c->repeat && rep < 64; rep++) {
    wakeup w = {0};
    w.c = c;
    w.trips = trips;
    sem_init(&w.answered, 0, 0);
    rc = bench_loop_new(c, &w.loop);
    if (rc < 0)
      break;
    pthread_t th;
    rc = -pthread_create(&th, NULL, wakeup_poster, &w);
    if (rc == 0) {
      rc = c->ops->run_forever(w.loop);
      pthread_join(th, NULL);
    }
    bench_loop_free(c, w.loop);
    sem_destroy(&w.answered);
    if (rc == 0)
      rc = w.rc;
    if (rc < 0 || w.lat.n == 0) {
      bench_lat_free(&w.lat);
      break;
    }
    bench_sort(w.lat.v, (int)w.lat.n);
    int n = (int)w.lat.n;
    r[0][got] = (double)n / ((double)w.elapsed / 1e9);
    r[1][got] = bench_pct_sorted(w.lat.v, n, 50) / 1e3;
    r[2][got] = bench_pct_sorted(w.lat.v, n, 90) / 1e3;
    r[3][got] = bench_pct_sorted(w.lat.v, n, 99) / 1e3;
    r[4][got] = bench_pct_sorted(w.lat.v, n, 99.9) / 1e3;
    r[5][got] = w.lat.v[n - 1] / 1e3;
    for (int i = 0; i < n; i++)
      bench_lat_add(&all, w.lat.v[i]);
    bench_lat_free(&w.lat);
    got++;
    if (bench_over_budget(c))
      break;
  }
  if (rc < 0 || !got) {
    bench_lat_free(&all);
    return rc < 0 ? rc : -EIO;
  }
  char params[64];
  snprintf(params, sizeof params, "{\"trips\":%ld}", trips);
  bench_emit(c, "wakeup", params, "round_trips", "trips/s", "higher", r[0],
             got);
  static const char *const names[] = {"p50", "p90", "p99", "p999", "max"};
  for (int k = 0; k < 5; k++)
    bench_emit(c, "wakeup", params, names[k], "us", "lower", r[k + 1], got);
  bench_sort(all.v, (int)all.n);
  double x[WAKEUP_NPCT], y[WAKEUP_NPCT];
  for (int k = 0; k < WAKEUP_NPCT; k++) {
    x[k] = wakeup_pcts[k];
    y[k] = bench_pct_sorted(all.v, (int)all.n, wakeup_pcts[k]) / 1e3;
  }
  bench_emit_curve(c, "wakeup", params, "latency", "percentile", "us", x, y,
                   WAKEUP_NPCT);
  bench_lat_free(&all);
  return 0;
}

/* ---- the report section ----------------------------------------------------
 */
static const bench_panel wakeup_curves[] = {
    {"cross-thread round trip", "latency", "", NULL}};
static const bench_plot wakeup_plots[] = {
    {BENCH_PLOT_CURVES, "wakeup_latency",
     "wakeup: cross-thread round-trip latency", "", "µs",
     "wakeup latency percentiles", 0, 0, 1, wakeup_curves, 1}};
static const bench_table wakeup_tables[] = {
    {"wakeup", "", NULL, "round_trips p50 p90 p99 p999 max"}};
const bench_section bench_section_wakeup = {
    "wakeup (libuv async1)",
    "A second thread posts with call_soon_threadsafe and waits for the loop "
    "thread's answer: round trips per second and latency percentiles.",
    wakeup_plots,
    BENCH_COUNT(wakeup_plots),
    wakeup_tables,
    BENCH_COUNT(wakeup_tables)};
