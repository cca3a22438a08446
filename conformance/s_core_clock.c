/* s_core_clock.c — S5 tests: the loop's clock is monotonic, fresh after
 * every wait, and delays are measured from the real current time. */
#include "s_core.h"

#include <stdint.h>

/* One test per process: file-level state is this test's state. */
static struct {
  evl_tctx *t;
  evl_loop *loop;
  int step, use_at;
  uint64_t t0, t1, when, fired, loop_time;
} s5;

static void s5_setup(evl_tctx *t) {
  s5.t = t;
  s5.loop = st_loop(t);
  st_watchdog(t, s5.loop, 5000);
}

static void s5_mono_cb(void *arg) {
  (void)arg;
  evl_tctx *t = s5.t;
  uint64_t lt = OPS->time(s5.loop), real = t_now();
  if (lt < s5.loop_time)
    T_FAIL(t, "evl time went backwards by %llu ns at step %d",
           (unsigned long long)(s5.loop_time - lt), s5.step);
  if (lt > real)
    T_FAIL(t, "evl time is %llu ns ahead of CLOCK_MONOTONIC at step %d",
           (unsigned long long)(lt - real), s5.step);
  s5.loop_time = lt;
  if (++s5.step >= 200) {
    OPS->stop(s5.loop);
    return;
  }
  if (s5.step % 4 == 0)
    T_OK(t, "call_later",
         OPS->call_later(s5.loop, 100000, s5_mono_cb, NULL, NULL));
  else
    T_OK(t, "call_soon", OPS->call_soon(s5.loop, s5_mono_cb, NULL, NULL));
}

void test_s5_time_monotonic(evl_tctx *t) {
  s5_setup(t);
  s5.loop_time = OPS->time(s5.loop);
  T_LE(t, "evl time before running vs CLOCK_MONOTONIC", t_now(), s5.loop_time);
  T_OK(t, "call_soon", OPS->call_soon(s5.loop, s5_mono_cb, NULL, NULL));
  sc_run(t, s5.loop);
  T_EQ(t, "steps", 200, s5.step);
  st_free(t, s5.loop);
}

static void s5_after_wait_cb(void *arg) {
  (void)arg;
  s5.loop_time = s5.t->impl->time(s5.loop);
  s5.t->impl->stop(s5.loop);
}

void test_s5_time_refreshed_after_wait(evl_tctx *t) {
  s5_setup(t);
  s5.t0 = t_now();
  T_OK(t, "call_later(20 ms)",
       OPS->call_later(s5.loop, 20 * SC_MS, s5_after_wait_cb, NULL, NULL));
  sc_run(t, s5.loop);
  /* Less 1 ms: the loop's clock may count whole milliseconds (S5). Time not
   * refreshed after the wait is some 20 ms short. */
  T_GE(t,
       "evl time in a 20 ms timer's callback - time before scheduling, "
       "less the 1 ms resolution allowed (ns)",
       20 * SC_MS - SC_MS, (long long)(s5.loop_time - s5.t0));
  st_free(t, s5.loop);
}

/* A callback that runs 30 ms must not make the next iteration's time stale. */
static void s5_next_iter_cb(void *arg) {
  (void)arg;
  s5.loop_time = s5.t->impl->time(s5.loop);
  s5.t->impl->stop(s5.loop);
}

static void s5_busy_then_soon_cb(void *arg) {
  (void)arg;
  sc_busy_ns(30 * SC_MS);
  s5.t1 = t_now();
  T_OK(s5.t, "call_soon",
       s5.t->impl->call_soon(s5.loop, s5_next_iter_cb, NULL, NULL));
}

void test_s5_time_refreshed_each_iteration(evl_tctx *t) {
  s5_setup(t);
  T_OK(t, "call_soon",
       OPS->call_soon(s5.loop, s5_busy_then_soon_cb, NULL, NULL));
  sc_run(t, s5.loop);
  /* Less 1 ms, the resolution S5 allows; a time not refreshed for this
   * iteration is 30 ms short. */
  T_GE(t,
       "evl time in the next iteration vs the end of a 30 ms callback, "
       "less the 1 ms resolution allowed",
       s5.t1 - SC_MS, s5.loop_time);
  st_free(t, s5.loop);
}

static void s5_late_cb(void *arg) {
  (void)arg;
  s5.fired = t_now();
  s5.t->impl->stop(s5.loop);
}

static void s5_busy_then_later_cb(void *arg) {
  (void)arg;
  sc_busy_ns(30 * SC_MS);
  s5.t1 = t_now();
  int rc;
  if (s5.use_at) {
    /* call_at from the loop's own time: that time must be fresh too. */
    s5.when = s5.t->impl->time(s5.loop) + 10 * SC_MS;
    rc = s5.t->impl->call_at(s5.loop, s5.when, s5_late_cb, NULL, NULL);
  } else {
    rc = s5.t->impl->call_later(s5.loop, 10 * SC_MS, s5_late_cb, NULL, NULL);
  }
  T_OK(s5.t, "schedule after a 30 ms callback", rc);
}

void test_s5_delay_from_real_time(evl_tctx *t) {
  s5_setup(t);
  T_OK(t, "call_soon",
       OPS->call_soon(s5.loop, s5_busy_then_later_cb, NULL, NULL));
  sc_run(t, s5.loop);
  T_GE(t, "ns from call_later(10 ms) (after a 30 ms callback) to its callback",
       10 * SC_MS, (long long)(s5.fired - s5.t1));
  st_free(t, s5.loop);
}
