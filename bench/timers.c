/* timers.c — libuv's million_timers, split: insert, fire and cancel at random
 * deadlines, plus the heap bytes each pending timer costs. */
#include "bench.h"

#include <errno.h>
#include <stdlib.h>

typedef struct timers {
  long fired;
} timers;

static void timers_cb(void *arg) {
  ((timers *)arg)->fired++;
}

/* All deadlines fall in this window; the run waits it out before timing the
 * firing, so the fire figure is processing, never sleeping. */
#define TIMERS_WINDOW_NS 50000000ll

static int timers_once(bench_ctx *c, long n, evl_handle *h, double out[4]) {
  evl_loop *loop;
  int rc = bench_loop_new(c, &loop);
  if (rc < 0)
    return rc;
  uint64_t rng = 42;
  timers t = {0};
  bench_loop_spin(c, loop);
  long long heap0 = bench_heap_bytes();
  uint64_t t0 = bench_now();
  for (long i = 0; i < n && rc == 0; i++)
    rc =
        c->ops->call_later(loop, (int64_t)(bench_rand(&rng) % TIMERS_WINDOW_NS),
                           timers_cb, &t, NULL);
  uint64_t t1 = bench_now();
  long long heap1 = bench_heap_bytes();
  if (rc < 0)
    goto out;
  uint64_t due = t0 + TIMERS_WINDOW_NS + 2000000;
  uint64_t now = bench_now();
  if (now < due)
    bench_sleep_ns(due - now);
  uint64_t t2 = bench_now();
  while (t.fired < n && rc == 0)
    rc = c->ops->run_once(loop);
  uint64_t t3 = bench_now();
  if (rc < 0)
    goto out;
  for (long i = 0; i < n && rc == 0; i++)
    rc = c->ops->call_later(
        loop, 10000000000ll + (int64_t)(bench_rand(&rng) % 10000000000ull),
        timers_cb, &t, &h[i]);
  if (rc < 0)
    goto out;
  /* Cancel in a random order, so no implementation gets its best case. */
  for (long i = n - 1; i > 0; i--) {
    long j = (long)(bench_rand(&rng) % (uint64_t)(i + 1));
    evl_handle x = h[i];
    h[i] = h[j];
    h[j] = x;
  }
  uint64_t t4 = bench_now();
  long refused = 0;
  for (long i = 0; i < n; i++)
    refused += c->ops->cancel(loop, h[i]) < 0;
  /* A lazy cancel pays later: one non-blocking iteration is counted too. */
  bench_loop_spin(c, loop);
  uint64_t t5 = bench_now();
  out[0] = (double)(t1 - t0) / (double)n;
  out[1] = (double)(t3 - t2) / (double)n;
  out[2] = (double)(t5 - t4) / (double)n;
  out[3] = (double)(heap1 - heap0) / (double)n;
  if (refused)
    bench_note(c, "timers", "%ld cancels of pending timers were refused",
               refused);
out:
  bench_loop_free(c, loop);
  return rc;
}

int bench_timers(bench_ctx *c) {
  long n = c->profile == BENCH_FULL ? 10000000 : 1000000;
  evl_handle *h = malloc((size_t)n * sizeof *h);
  if (!h)
    return -ENOMEM;
  double r[4][64];
  int got = 0;
  for (int rep = 0; rep < c->repeat && rep < 64; rep++) {
    double o[4];
    int rc = timers_once(c, n, h, o);
    if (rc < 0) {
      free(h);
      return rc;
    }
    for (int k = 0; k < 4; k++)
      r[k][got] = o[k];
    got++;
    if (bench_over_budget(c))
      break;
  }
  free(h);
  char params[64];
  snprintf(params, sizeof params, "{\"timers\":%ld}", n);
  bench_emit(c, "timers", params, "insert", "ns", "lower", r[0], got);
  bench_emit(c, "timers", params, "fire", "ns", "lower", r[1], got);
  bench_emit(c, "timers", params, "cancel", "ns", "lower", r[2], got);
  bench_emit(c, "timers", params, "bytes_per_timer", "bytes", "lower", r[3],
             got);
  return 0;
}
