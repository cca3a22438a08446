/* s_core_debug.c — S11 tests: slow-callback reports and the foreign-thread
 * check of debug mode. */
#include "s_core.h"

#include <pthread.h>
#include <stdint.h>
#include <string.h>

/* One test per process: file-level state is this test's state. */
static struct {
  evl_tctx *t;
  evl_loop *loop;
  sc_log log;
  sc_errs errs;
  int pipe_fd;
  evl_handle pending;
  /* results of the foreign thread's calls */
  int rc_soon, rc_later, rc_at, rc_cancel, rc_add, rc_remove, rc_stop,
      rc_threadsafe;
  /* The busy callbacks: how long each spins, when it ended (0: not run). */
  struct {
    int ms;
    uint64_t end;
  } calls[64];
  int ncalls;
  uint64_t t0; /* just before the run */
} s11;

static void s11_log_cb(void *arg) {
  sc_log_add(&s11.log, (int)(intptr_t)arg);
}

/* arg: the index of its entry in s11.calls. */
static void s11_busy_cb(void *arg) {
  int i = (int)(intptr_t)arg;
  sc_busy_ns((uint64_t)s11.calls[i].ms * SC_MS);
  s11.calls[i].end = t_now();
  sc_log_add(&s11.log, s11.calls[i].ms);
}

static void s11_stop_cb(void *arg) {
  (void)arg;
  s11.t->impl->stop(s11.loop);
}

/* Logs, then stops the loop once the timer (2) and, where the loop is
 * thread-safe, the posted callback (3) have both run: a fixed stop time
 * raced the post on slow machines (valgrind). Calls wrongly scheduled by
 * the foreign thread were queued before either, so they would have run. */
static void s11_last_cb(void *arg) {
  sc_log_add(&s11.log, (int)(intptr_t)arg);
  int need3 = (s11.t->impl->features & EVL_IF_THREADSAFE) != 0;
  int seen2 = 0, seen3 = 0;
  for (int i = 0; i < s11.log.n; i++) {
    seen2 |= s11.log.v[i] == 2;
    seen3 |= s11.log.v[i] == 3;
  }
  if (seen2 && (seen3 || !need3))
    s11.t->impl->call_soon(s11.loop, s11_stop_cb, NULL, NULL);
}

/* debug: 0 off, 1 by config, 2 by set_debug. slow_ms 0: the default. */
static void s11_setup(evl_tctx *t, int debug, int slow_ms) {
  st_need(t, EVL_IF_DEBUG | EVL_IF_ERRORS);
  s11.t = t;
  uint64_t slow = (uint64_t)slow_ms * SC_MS;
  if (debug == 1) {
    s11.loop = st_loop_cfg(t, EVL_LOOP_DEBUG, slow);
  } else {
    s11.loop = st_loop_cfg(t, 0, debug == 0 ? slow : 0);
    if (debug == 2) {
      T_OK(t, "set_debug(1)", OPS->set_debug(s11.loop, 1));
      if (slow)
        T_OK(t, "set_slow_callback_ns",
             OPS->set_slow_callback_ns(s11.loop, slow));
    }
  }
  T_OK(t, "set_error_handler",
       OPS->set_error_handler(s11.loop, sc_err_handler, &s11.errs));
  st_watchdog(t, s11.loop, 5000);
}

/* Schedules busy callbacks of ms[i] (timers when i is odd), then stops. */
static void s11_run_busy(evl_tctx *t, const int *ms, int n) {
  s11.ncalls = n;
  for (int i = 0; i < n; i++) {
    s11.calls[i].ms = ms[i];
    void *arg = (void *)(intptr_t)i;
    if (i % 2)
      T_OK(t, "call_later(-1)",
           OPS->call_later(s11.loop, -1, s11_busy_cb, arg, NULL));
    else
      T_OK(t, "call_soon", OPS->call_soon(s11.loop, s11_busy_cb, arg, NULL));
  }
  T_OK(t, "call_later(1 ms)",
       OPS->call_later(s11.loop, SC_MS, s11_stop_cb, NULL, NULL));
  s11.t0 = t_now();
  sc_run(t, s11.loop);
  T_EQ(t, "busy callbacks run", n, s11.log.n);
}

/* Which busy callback a report made at `at` is about: the last one that
 * ended by then. Its window is the wall time from the end of the one
 * before it (or the run's start) to the report: the most the loop can
 * have measured for it. -1 when none had ended. */
static int s11_reported_call(uint64_t at, uint64_t *window) {
  int k = -1;
  uint64_t from = s11.t0;
  for (int i = 0; i < s11.ncalls; i++)
    if (s11.calls[i].end && s11.calls[i].end <= at &&
        (k < 0 || s11.calls[i].end > s11.calls[k].end))
      k = i;
  for (int i = 0; k >= 0 && i < s11.ncalls; i++)
    if (s11.calls[i].end && s11.calls[i].end < s11.calls[k].end &&
        s11.calls[i].end > from)
      from = s11.calls[i].end;
  *window = at > from ? at - from : 0;
  return k;
}

/* Busy callbacks (s11_run_busy): each one that spun for at least the
 * threshold is reported exactly once; one that spun for less may be
 * reported only if the wall time around it really reached the threshold
 * (the process was preempted: S11 measures wall time, as asyncio does),
 * never otherwise. Without busy callbacks: exactly `want` reports. */
static void s11_expect_slow(evl_tctx *t, int want, uint64_t threshold) {
  int nrep = s11.errs.n < SC_ERR_MAX ? s11.errs.n : SC_ERR_MAX;
  if (s11.ncalls == 0 || threshold == 0) {
    T_EQ(t, "slow-callback reports (EVL_ESLOW)", want,
         sc_errs_count(&s11.errs, EVL_ESLOW));
    T_EQ(t, "error handler calls", want, s11.errs.n);
  } else {
    int per[64] = {0}, slow = 0;
    T_EQ(t, "error handler calls that are EVL_ESLOW", s11.errs.n,
         sc_errs_count(&s11.errs, EVL_ESLOW));
    for (int i = 0; i < nrep; i++) {
      uint64_t window;
      int k = s11_reported_call(s11.errs.at[i], &window);
      if (k < 0) {
        T_FAIL(t,
               "slow-callback report %d came before any busy callback "
               "ended",
               i);
        continue;
      }
      /* A second report after callback k: about a later, non-busy
       * callback (the stop), allowed only when it too was preempted. */
      if (per[k] && s11.errs.at[i] - s11.calls[k].end >= threshold)
        continue;
      per[k]++;
      if ((uint64_t)s11.calls[k].ms * SC_MS < threshold && window < threshold)
        T_FAIL(t,
               "slow-callback report %d: callback %d spun %d ms and only "
               "%llu ns passed around it; expected no report below the "
               "%llu ns threshold",
               i, k, s11.calls[k].ms, (unsigned long long)window,
               (unsigned long long)threshold);
    }
    for (int k = 0; k < s11.ncalls; k++) {
      if ((uint64_t)s11.calls[k].ms * SC_MS >= threshold) {
        slow++;
        if (per[k] != 1)
          T_FAIL(t,
                 "callback %d spun %d ms (threshold %llu ns): expected 1 "
                 "slow-callback report, got %d",
                 k, s11.calls[k].ms, (unsigned long long)threshold, per[k]);
      } else if (per[k] > 1) {
        T_FAIL(t, "callback %d: expected at most 1 report, got %d", k, per[k]);
      }
    }
    T_EQ(t, "busy callbacks at or above the threshold (test setup)", want,
         slow);
  }
  for (int i = 0; i < nrep; i++)
    if (s11.errs.durations[i] < threshold)
      T_FAIL(t,
             "slow-callback report %d: duration %llu ns is below the "
             "%llu ns threshold",
             i, (unsigned long long)s11.errs.durations[i],
             (unsigned long long)threshold);
}

void test_s11_slow_callback_reported(evl_tctx *t) {
  s11_setup(t, 1, 20);
  int ms[] = {60};
  s11_run_busy(t, ms, 1);
  s11_expect_slow(t, 1, 20 * SC_MS);
  st_free(t, s11.loop);
}

void test_s11_slow_callback_set_debug(evl_tctx *t) {
  s11_setup(t, 2, 20);
  int ms[] = {60};
  s11_run_busy(t, ms, 1);
  s11_expect_slow(t, 1, 20 * SC_MS);
  st_free(t, s11.loop);
}

/* One report per slow call, for call_soon callbacks and timers alike. */
void test_s11_slow_each_call(evl_tctx *t) {
  s11_setup(t, 1, 20);
  int ms[] = {40, 40, 0, 0, 40};
  s11_run_busy(t, ms, 5);
  s11_expect_slow(t, 3, 20 * SC_MS);
  st_free(t, s11.loop);
}

/* With the default 100 ms threshold, fast and 30 ms callbacks are quiet. */
void test_s11_fast_not_reported(evl_tctx *t) {
  s11_setup(t, 1, 0);
  int ms[64];
  for (int i = 0; i < 64; i++)
    ms[i] = i == 10 ? 30 : 0;
  s11_run_busy(t, ms, 64);
  s11_expect_slow(t, 0, 100 * SC_MS);
  st_free(t, s11.loop);
}

/* Without debug mode nothing is measured, whatever the threshold. */
void test_s11_not_debug_not_reported(evl_tctx *t) {
  s11_setup(t, 0, 20);
  int ms[] = {60};
  s11_run_busy(t, ms, 1);
  s11_expect_slow(t, 0, 0);
  st_free(t, s11.loop);
}

static void s11_io_cb(int fd, unsigned events, void *arg) {
  (void)fd;
  (void)events;
  (void)arg;
  sc_log_add(&s11.log, 1000);
}

static void s11_slow_reader(int fd, unsigned events, void *arg) {
  (void)events;
  (void)arg;
  t_drain(fd);
  sc_busy_ns(60 * SC_MS);
  sc_log_add(&s11.log, 60);
  s11.t->impl->remove_reader(s11.loop, fd);
  s11.t->impl->stop(s11.loop);
}

/* I/O callbacks are measured like the others. */
void test_s11_slow_reader_reported(evl_tctx *t) {
  int p[2];
  t_pipe(t, p);
  t_write_byte(t, p[1]);
  s11_setup(t, 1, 20);
  T_OK(t, "add_reader", OPS->add_reader(s11.loop, p[0], s11_slow_reader, NULL));
  sc_run(t, s11.loop);
  T_EQ(t, "slow reader calls", 1, s11.log.n);
  s11_expect_slow(t, 1, 20 * SC_MS);
  st_free(t, s11.loop);
  t_close(p[0]);
  t_close(p[1]);
}

/* Also a reader that was watched before debug mode was switched on. */
void test_s11_slow_reader_set_debug(evl_tctx *t) {
  int p[2];
  t_pipe(t, p);
  t_write_byte(t, p[1]);
  s11_setup(t, 0, 20);
  T_OK(t, "add_reader", OPS->add_reader(s11.loop, p[0], s11_slow_reader, NULL));
  T_OK(t, "set_debug(1)", OPS->set_debug(s11.loop, 1));
  sc_run(t, s11.loop);
  T_EQ(t, "slow reader calls", 1, s11.log.n);
  s11_expect_slow(t, 1, 20 * SC_MS);
  st_free(t, s11.loop);
  t_close(p[0]);
  t_close(p[1]);
}

static void *s11_foreign(void *arg) {
  (void)arg;
  const evl_impl_ops *ops = s11.t->impl;
  evl_loop *loop = s11.loop;
  s11.rc_soon = ops->call_soon(loop, s11_log_cb, (void *)100, NULL);
  s11.rc_later = ops->call_later(loop, -1, s11_log_cb, (void *)101, NULL);
  s11.rc_at = ops->call_at(loop, 0, s11_log_cb, (void *)102, NULL);
  s11.rc_cancel = ops->cancel(loop, s11.pending);
  s11.rc_add = ops->add_reader(loop, s11.pipe_fd, s11_io_cb, NULL);
  s11.rc_remove = ops->remove_reader(loop, s11.pipe_fd);
  s11.rc_stop = ops->stop(loop);
  if (ops->features & EVL_IF_THREADSAFE)
    s11.rc_threadsafe = ops->call_soon_threadsafe(loop, s11_last_cb, (void *)3);
  return NULL;
}

/* The loop thread waits inside a callback while another thread calls. */
static void s11_foreign_cb(void *arg) {
  (void)arg;
  pthread_t th;
  if (pthread_create(&th, NULL, s11_foreign, NULL) != 0)
    T_FAIL(s11.t, "pthread_create failed");
  pthread_join(th, NULL);
  sc_log_add(&s11.log, 1);
}

void test_s11_foreign_thread_refused(evl_tctx *t) {
  int p[2];
  t_pipe(t, p);
  t_write_byte(t, p[1]); /* a reader added by mistake would run */
  s11_setup(t, 1, 0);
  s11.pipe_fd = p[0];
  T_OK(t, "call_soon", OPS->call_soon(s11.loop, s11_foreign_cb, NULL, NULL));
  T_OK(t, "call_later(2 ms)",
       OPS->call_later(s11.loop, 2 * SC_MS, s11_last_cb, (void *)2,
                       &s11.pending));
  /* Only a safety net: s11_last_cb stops the loop. */
  T_OK(t, "call_later(5 s)",
       OPS->call_later(s11.loop, 5000 * SC_MS, s11_stop_cb, NULL, NULL));
  sc_run(t, s11.loop);
  const int E = -EPERM;
  T_RC(t, "call_soon from a foreign thread", E, s11.rc_soon);
  T_RC(t, "call_later from a foreign thread", E, s11.rc_later);
  T_RC(t, "call_at from a foreign thread", E, s11.rc_at);
  T_RC(t, "cancel from a foreign thread", E, s11.rc_cancel);
  T_RC(t, "add_reader from a foreign thread", E, s11.rc_add);
  T_RC(t, "remove_reader from a foreign thread", E, s11.rc_remove);
  T_RC(t, "stop from a foreign thread", E, s11.rc_stop);
  if (sc_has(t, EVL_IF_THREADSAFE)) {
    T_RC(t, "call_soon_threadsafe from a foreign thread", 0, s11.rc_threadsafe);
    /* The posted callback and the 2 ms timer may run in either order. */
    if (s11.log.n == 3 && s11.log.v[1] == 2 && s11.log.v[2] == 3) {
      s11.log.v[1] = 3;
      s11.log.v[2] = 2;
    }
    int want[] = {1, 3, 2};
    sc_log_expect(t,
                  "callbacks run (refused calls scheduled nothing, the "
                  "refused cancel cancelled nothing)",
                  &s11.log, want, 3);
  } else {
    int want[] = {1, 2};
    sc_log_expect(t, "callbacks run (refused calls scheduled nothing)",
                  &s11.log, want, 2);
  }
  st_free(t, s11.loop);
  t_close(p[0]);
  t_close(p[1]);
}
