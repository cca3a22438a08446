/* timers.c — libuv's million_timers, split: insert, fire, cancel and re-arm
 * at random deadlines, plus the heap bytes each pending timer costs. */
#include "kernels.h"

#include <errno.h>
#include <stdlib.h>

/* ---- the evl kernel ------------------------------------------------------ */
typedef struct timers_evl {
  evl_loop *loop;
  evl_handle *h;
  bench_rearm_fn rearm; /* the ABI's re-arm, or NULL */
} timers_evl;

static void timers_cb(void *arg) {
  ((bench_timers_state *)arg)->fired++;
}

static int timers_evl_open(bench_timers_state *t) {
  timers_evl *e = calloc(1, sizeof *e);
  if (e)
    e->h = calloc((size_t)t->n, sizeof *e->h);
  if (!e || !e->h) {
    free(e);
    return -ENOMEM;
  }
  e->rearm = bench_rearm_of(t->c->ops);
  t->k = e;
  int rc = bench_loop_new(t->c, &e->loop);
  if (rc == 0)
    rc = bench_loop_spin(t->c, e->loop);
  return rc;
}

static int timers_evl_insert(bench_timers_state *t) {
  timers_evl *e = t->k;
  int rc = 0;
  for (long i = 0; i < t->n && rc == 0; i++)
    rc = t->c->ops->call_later(e->loop, bench_timers_near(t), timers_cb, t,
                               NULL);
  return rc;
}

static int timers_evl_fire(bench_timers_state *t) {
  timers_evl *e = t->k;
  int rc = 0;
  while (t->fired < t->n && rc == 0)
    rc = t->c->ops->run_once(e->loop);
  return rc;
}

static int timers_evl_insert_far(bench_timers_state *t) {
  timers_evl *e = t->k;
  int rc = 0;
  for (long i = 0; i < t->n && rc == 0; i++)
    rc = t->c->ops->call_later(e->loop, bench_timers_far(t), timers_cb, t,
                               &e->h[i]);
  return rc;
}

static int timers_evl_cancel(bench_timers_state *t, long *refused) {
  timers_evl *e = t->k;
  for (long i = 0; i < t->n; i++)
    *refused += t->c->ops->cancel(e->loop, e->h[t->order[i]]) < 0;
  return bench_loop_spin(t->c, e->loop);
}

/* The ABI's re-arm where the implementation has it (EVL_IF_REARM); else
 * what a user must do: cancel and schedule again (a new handle). */
static int timers_evl_rearm(bench_timers_state *t) {
  timers_evl *e = t->k;
  int rc = 0;
  for (long i = 0; i < t->n && rc == 0; i++) {
    evl_handle *h = &e->h[t->order[i]];
    if (e->rearm) {
      rc = e->rearm(e->loop, *h, bench_timers_far(t));
    } else {
      t->c->ops->cancel(e->loop, *h);
      rc = t->c->ops->call_later(e->loop, bench_timers_far(t), timers_cb, t, h);
    }
  }
  return rc;
}

static void timers_evl_close(bench_timers_state *t) {
  timers_evl *e = t->k;
  if (!e)
    return;
  bench_loop_free(t->c, e->loop);
  free(e->h);
  free(e);
  t->k = NULL;
}

static const bench_timers_kernel timers_evl_kernel = {
    timers_evl_open,       timers_evl_insert, timers_evl_fire,
    timers_evl_insert_far, timers_evl_cancel, timers_evl_rearm,
    timers_evl_close};

static const bench_timers_kernel *timers_kernel(const bench_ctx *c) {
  return c->ops ? &timers_evl_kernel : c->direct ? c->direct->timers : NULL;
}

/* ---- one repeat ------------------------------------------------------------
 */
enum { T_INSERT, T_FIRE, T_CANCEL, T_REARM, T_BYTES, T_N };

/* Around each timed phase: callgrind collects only between the two (one
 * dump per case, counted per timer), and the clock is read inside. */
static uint64_t timers_begin(bench_ctx *c) {
  if (c->callgrind)
    bench_cg_start(c);
  return bench_now();
}

static uint64_t timers_end(bench_ctx *c, const char *kase, long n) {
  uint64_t t = bench_now();
  if (c->callgrind)
    bench_cg_case(c, kase, (unsigned long long)n);
  return t;
}

/* Warm-up, not timed: n timers scheduled and cancelled, so that every
 * implementation's tables (the core's slot array and heap, a library's
 * heap array) have grown to n once, as in a long-running program, and its
 * pages are faulted in. Without it the timed insert charges the reference
 * core its table growth (realloc copies, thousands of page faults) while a
 * direct baseline's watchers were allocated and touched in open(). */
static int timers_warm(bench_timers_state *t, const bench_timers_kernel *k) {
  for (long i = 0; i < t->n; i++)
    t->order[i] = i;
  long refused = 0;
  int rc = k->insert_far(t);
  if (rc == 0)
    rc = k->cancel(t, &refused);
  return rc;
}

/* Re-arm and cancel go in a random order, so no implementation gets its
 * best case. */
static void timers_shuffle(bench_timers_state *t) {
  for (long i = 0; i < t->n; i++)
    t->order[i] = i;
  for (long i = t->n - 1; i > 0; i--) {
    long j = (long)(bench_rand(&t->rng) % (uint64_t)(i + 1));
    long x = t->order[i];
    t->order[i] = t->order[j];
    t->order[j] = x;
  }
}

static int timers_once(bench_ctx *c, const bench_timers_kernel *k, long n,
                       long *order, double out[T_N]) {
  bench_timers_state t = {0};
  t.c = c;
  t.n = n;
  t.rng = 42;
  t.order = order;
  long long heap0 = 0;
  int rc = k->open(&t);
  if (rc < 0)
    goto out;
  /* The heap figure spans empty to n pending, the warm-up included. */
  heap0 = bench_heap_bytes();
  rc = timers_warm(&t, k);
  if (rc < 0)
    goto out;
  long refused = 0;
  t.rng = 42;
  uint64_t t0 = timers_begin(c);
  rc = k->insert(&t);
  uint64_t t1 = timers_end(c, "timers_insert", n);
  long long heap1 = bench_heap_bytes();
  if (rc < 0)
    goto out;
  /* Wait until every deadline has passed: firing is timed, sleeping not.
   * Deadlines are read from the clock during the insert, so the last one
   * can be the window past the insert's end (a Python loop, or any loop
   * under valgrind, inserts for longer than the window): waiting from its
   * start let firing count idle waits, and made callgrind's counts depend
   * on timing. */
  uint64_t due = t1 + BENCH_TIMERS_WINDOW_NS + 2000000;
  uint64_t now = bench_now();
  if (now < due)
    bench_sleep_ns(due - now);
  uint64_t t2 = timers_begin(c);
  rc = k->fire(&t);
  uint64_t t3 = timers_end(c, "timers_fire", n);
  if (rc < 0)
    goto out;
  /* Re-arm first, then cancel the re-armed timers. */
  timers_shuffle(&t);
  rc = k->insert_far(&t);
  if (rc < 0)
    goto out;
  uint64_t t4 = timers_begin(c);
  rc = k->rearm(&t);
  uint64_t t5 = timers_end(c, "timers_rearm", n);
  if (rc < 0)
    goto out;
  uint64_t t6 = timers_begin(c);
  rc = k->cancel(&t, &refused);
  uint64_t t7 = timers_end(c, "timers_cancel", n);
  out[T_INSERT] = (double)(t1 - t0) / (double)n;
  out[T_FIRE] = (double)(t3 - t2) / (double)n;
  out[T_REARM] = (double)(t5 - t4) / (double)n;
  out[T_CANCEL] = (double)(t7 - t6) / (double)n;
  out[T_BYTES] = (double)(heap1 - heap0) / (double)n + (double)t.upfront_bytes;
  if (refused)
    bench_note(c, "timers", "%ld cancels of pending timers were refused",
               refused);
out:
  if (t.k)
    k->close(&t);
  return rc;
}

int bench_timers(bench_ctx *c) {
  const bench_timers_kernel *k = timers_kernel(c);
  if (!k) {
    bench_skip(c, "timers", "{}", "not written for %s", c->impl_name);
    return 0;
  }
  /* 5*10^4 keeps the 4-ary heap 8 levels deep, beyond the L1 cache,
   * while the quick profile stays within minutes (the Python loops take
   * several microseconds per timer operation, seven passes of n); full
   * uses libuv's million_timers tenfold. */
  long n = c->profile == BENCH_FULL ? 10000000 : 50000;
  long *order = malloc((size_t)n * sizeof *order);
  if (!order)
    return -ENOMEM;
  double r[T_N][64];
  int got = 0;
  for (int rep = 0; rep < c->repeat && rep < 64; rep++) {
    double o[T_N];
    int rc = timers_once(c, k, n, order, o);
    if (rc < 0) {
      free(order);
      return rc;
    }
    for (int m = 0; m < T_N; m++)
      r[m][got] = o[m];
    got++;
    if (bench_over_budget(c))
      break;
  }
  free(order);
  char params[64];
  snprintf(params, sizeof params, "{\"timers\":%ld}", n);
  bench_emit(c, "timers", params, "insert", "ns", "lower", r[T_INSERT], got);
  bench_emit(c, "timers", params, "fire", "ns", "lower", r[T_FIRE], got);
  bench_emit(c, "timers", params, "cancel", "ns", "lower", r[T_CANCEL], got);
  bench_emit(c, "timers", params, "rearm", "ns", "lower", r[T_REARM], got);
  bench_emit(c, "timers", params, "bytes_per_timer", "bytes", "lower",
             r[T_BYTES], got);
  return 0;
}

/* 20 000 timers: enough for the heap to be several levels deep, small
 * enough for callgrind. */
int bench_cg_timers(bench_ctx *c) {
  const bench_timers_kernel *k = timers_kernel(c);
  if (!k)
    return 0;
  long n = 20000;
  long *order = malloc((size_t)n * sizeof *order);
  if (!order)
    return -ENOMEM;
  double o[T_N];
  int rc = timers_once(c, k, n, order, o);
  free(order);
  return rc;
}

/* ---- the report section ----------------------------------------------------
 */
static const bench_panel timers_bars[] = {
    {"insert", "insert", "", NULL},
    {"fire", "fire", "", NULL},
    {"cancel", "cancel", "", NULL},
    {"re-arm", "rearm", "", NULL},
};
static const bench_plot timers_plots[] = {
    {BENCH_PLOT_BARS, "timers", "timers: ns per operation", "", "ns",
     "timers: insert, fire, cancel, re-arm", 0, 0, 1, timers_bars,
     BENCH_COUNT(timers_bars)}};
static const bench_table timers_tables[] = {
    {"timers", "", NULL, "insert fire cancel rearm bytes_per_timer"}};
const bench_section bench_section_timers = {
    "timers (libuv million_timers)",
    "Timers at random deadlines: ns per insert, per fire (all due, so no "
    "sleeping is counted), per re-arm (a pending timer moved to a new "
    "deadline, keeping its handle: the library's own call in direct-* rows, "
    "the ABI's rearm where the implementation has EVL_IF_REARM, else cancel "
    "plus a new call_later) and per cancel "
    "(random order, plus one non-blocking iteration for lazy cancels); heap "
    "bytes per pending timer (mallinfo2; direct rows add the watcher their "
    "user allocates).",
    timers_plots,
    BENCH_COUNT(timers_plots),
    timers_tables,
    BENCH_COUNT(timers_tables)};
