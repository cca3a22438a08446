/* s_core_rearm.c — S15 tests: rearm and rearm_at move a pending timer and
 * keep its handle; a re-armed timer counts as scheduled at re-arm time. */
#include "s_core.h"

#include <stdint.h>

#define S15_N 16

/* One test per process: file-level state is this test's state. */
static struct {
  evl_tctx *t;
  evl_loop *loop;
  sc_log log;
  evl_handle h[S15_N];
  uint64_t ran_at[S15_N];
  uint64_t armed_at[S15_N]; /* when the timer was (re-)armed */
  int64_t delay[S15_N];     /* with what delay */
  int nran, expect, rc;
} s15;

static void s15_cb(void *arg) {
  int i = (int)(intptr_t)arg;
  if (i >= 0 && i < S15_N)
    s15.ran_at[i] = t_now();
  s15.nran++;
  sc_log_add(&s15.log, i);
  if (s15.expect && s15.nran == s15.expect)
    s15.t->impl->stop(s15.loop);
}

static evl_loop *s15_setup(evl_tctx *t) {
  s15.t = t;
  s15.loop = st_loop(t);
  st_watchdog(t, s15.loop, 5000);
  return s15.loop;
}

static void s15_later(evl_tctx *t, int i, int64_t delay) {
  s15.armed_at[i] = t_now();
  s15.delay[i] = delay;
  T_OK(
      t, "call_later",
      OPS->call_later(s15.loop, delay, s15_cb, (void *)(intptr_t)i, &s15.h[i]));
}

static void s15_rearm(evl_tctx *t, int i, int64_t delay) {
  s15.armed_at[i] = t_now();
  s15.delay[i] = delay;
  T_OK(t, "rearm of a pending timer", OPS->rearm(s15.loop, s15.h[i], delay));
}

/* Never before the last (re-)arm time plus its delay (S2's rule). */
static void s15_not_early(evl_tctx *t, int i) {
  T_GE(t, "ns from the last (re-)arm to the callback", s15.delay[i],
       (long long)(s15.ran_at[i] - s15.armed_at[i]));
}

void test_s15_rearm_later(evl_tctx *t) {
  s15_setup(t);
  s15_later(t, 0, 10 * SC_MS);
  s15_later(t, 1, 30 * SC_MS);
  evl_handle before = s15.h[0];
  s15_rearm(t, 0, 60 * SC_MS);
  T_EQ(t, "handle after rearm", (long long)before, (long long)s15.h[0]);
  s15.expect = 2;
  sc_run(t, s15.loop);
  int want[] = {1, 0};
  sc_log_expect(t, "the timer moved past the other one", &s15.log, want, 2);
  s15_not_early(t, 0);
  st_free(t, s15.loop);
}

void test_s15_rearm_earlier(evl_tctx *t) {
  s15_setup(t);
  s15_later(t, 0, 3000 * SC_MS);
  s15_later(t, 1, 40 * SC_MS);
  s15_rearm(t, 0, 5 * SC_MS);
  s15.expect = 2;
  sc_run(t, s15.loop);
  int want[] = {0, 1};
  sc_log_expect(t, "the timer moved before the other one", &s15.log, want, 2);
  s15_not_early(t, 0);
  st_free(t, s15.loop);
}

/* Ten timers at one deadline; 3 and 7 re-armed to that same deadline, then
 * one more scheduled: they now run after 9, in re-arm order, before 10. */
void test_s15_rearm_equal_deadline_order(evl_tctx *t) {
  s15_setup(t);
  uint64_t when = OPS->time(s15.loop) + 20 * SC_MS;
  for (int i = 0; i < 10; i++)
    T_OK(t, "call_at",
         OPS->call_at(s15.loop, when, s15_cb, (void *)(intptr_t)i, &s15.h[i]));
  T_OK(t, "rearm_at(3, same deadline)",
       OPS->rearm_at(s15.loop, s15.h[3], when));
  T_OK(t, "rearm_at(7, same deadline)",
       OPS->rearm_at(s15.loop, s15.h[7], when));
  T_OK(t, "call_at(10)",
       OPS->call_at(s15.loop, when, s15_cb, (void *)10, &s15.h[10]));
  s15.expect = 11;
  sc_run(t, s15.loop);
  int want[] = {0, 1, 2, 4, 5, 6, 8, 9, 3, 7, 10};
  sc_log_expect(t, "equal deadlines: re-armed ones as if scheduled anew",
                &s15.log, want, 11);
  st_free(t, s15.loop);
}

/* A timer moved to a later deadline that others already have: 0 is due
 * first, then moved onto 1..4's deadline, then 5 is scheduled there. A loop
 * that moves later timers lazily (libev's manual, method 3: the library's
 * timer fires at the old deadline and is started again for the rest) must
 * neither run 0 at its old deadline nor forget its re-arm's place in the
 * scheduling order when it starts it again. */
void test_s15_rearm_later_equal_order(evl_tctx *t) {
  s15_setup(t);
  uint64_t now = OPS->time(s15.loop);
  uint64_t when = now + 40 * SC_MS;
  T_OK(t, "call_at(0, +5 ms)",
       OPS->call_at(s15.loop, now + 5 * SC_MS, s15_cb, (void *)0, &s15.h[0]));
  for (int i = 1; i < 5; i++)
    T_OK(t, "call_at(1..4, +40 ms)",
         OPS->call_at(s15.loop, when, s15_cb, (void *)(intptr_t)i, &s15.h[i]));
  /* Not early means not before `when` itself (as s2_equal_deadline_order
   * reads a call_at deadline): from the loop's time, not from t_now(),
   * which is later than the cached loop time by however long the set-up
   * took, and would ask for more than the deadline under load. */
  s15.armed_at[0] = OPS->time(s15.loop);
  s15.delay[0] = (int64_t)(when - s15.armed_at[0]);
  T_OK(t, "rearm_at(0, +40 ms)", OPS->rearm_at(s15.loop, s15.h[0], when));
  T_OK(t, "call_at(5, +40 ms)",
       OPS->call_at(s15.loop, when, s15_cb, (void *)5, &s15.h[5]));
  s15.expect = 6;
  sc_run(t, s15.loop);
  int want[] = {1, 2, 3, 4, 0, 5};
  sc_log_expect(t, "a timer moved later onto others' deadline: in re-arm order",
                &s15.log, want, 6);
  s15_not_early(t, 0);
  st_free(t, s15.loop);
}

static void s15_rearm_self_cb(void *arg) {
  (void)arg;
  s15.rc = s15.t->impl->rearm(s15.loop, s15.h[0], 10 * SC_MS);
  s15_cb((void *)0);
}

/* What rearm refuses, and that a refusal changes nothing. */
void test_s15_rearm_dead_handle(evl_tctx *t) {
  s15_setup(t);
  /* A timer re-arming itself while it runs: it already fired. */
  T_OK(t, "call_later(-1)",
       OPS->call_later(s15.loop, -1, s15_rearm_self_cb, NULL, &s15.h[0]));
  s15_later(t, 1, -1);
  T_OK(t, "call_soon", OPS->call_soon(s15.loop, s15_cb, (void *)2, &s15.h[2]));
  s15_later(t, 3, 1000 * SC_MS);
  T_OK(t, "cancel", OPS->cancel(s15.loop, s15.h[3]));
  T_RC(t, "rearm of a cancelled timer", EVL_EHANDLE,
       OPS->rearm(s15.loop, s15.h[3], 1 * SC_MS));
  T_RC(t, "rearm of handle 0", EVL_EHANDLE, OPS->rearm(s15.loop, 0, 1));
  T_RC(t, "rearm_at of a garbage handle", EVL_EHANDLE,
       OPS->rearm_at(s15.loop, 0x123456789abcdefull, 1));
  T_RC(t, "rearm of a call_soon handle", -EINVAL,
       OPS->rearm(s15.loop, s15.h[2], 1 * SC_MS));
  sc_run_once(t, s15.loop);
  T_RC(t, "rearm of itself inside its callback", EVL_EHANDLE, s15.rc);
  T_RC(t, "rearm of a timer that ran", EVL_EHANDLE,
       OPS->rearm(s15.loop, s15.h[1], 1 * SC_MS));
  T_RC(t, "rearm of a call_soon that ran", EVL_EHANDLE,
       OPS->rearm(s15.loop, s15.h[2], 1 * SC_MS));
  /* Nothing refused may run again or at all. */
  s15_later(t, 4, 30 * SC_MS);
  s15.expect = s15.nran + 1;
  sc_run(t, s15.loop);
  int want[] = {2, 0, 1, 4}; /* due timers queue behind call_soon (S1) */
  sc_log_expect(t, "callbacks run (refused re-arms change nothing)", &s15.log,
                want, 4);
  st_free(t, s15.loop);
}

static void s15_move_other_cb(void *arg) {
  (void)arg;
  s15.armed_at[1] = t_now();
  s15.delay[1] = 20 * SC_MS;
  s15.rc = s15.t->impl->rearm(s15.loop, s15.h[1], 20 * SC_MS);
  s15_cb((void *)0);
}

/* Two due timers in one batch: the first re-arms the second, which then
 * does not run in this batch — it runs once, at its new deadline. */
void test_s15_rearm_due_in_batch(evl_tctx *t) {
  s15_setup(t);
  uint64_t past = OPS->time(s15.loop) - 2 * SC_MS;
  T_OK(t, "call_at(past)",
       OPS->call_at(s15.loop, past, s15_move_other_cb, NULL, &s15.h[0]));
  T_OK(t, "call_at(past + 1 ns)",
       OPS->call_at(s15.loop, past + 1, s15_cb, (void *)1, &s15.h[1]));
  s15_later(t, 2, 5 * SC_MS);
  s15.expect = 3;
  sc_run(t, s15.loop);
  T_RC(t, "rearm of a due timer whose callback has not started", 0, s15.rc);
  int want[] = {0, 2, 1};
  sc_log_expect(t, "the re-armed due timer ran at its new deadline", &s15.log,
                want, 3);
  s15_not_early(t, 1);
  st_free(t, s15.loop);
}

static void s15_post_rearm_cb(void *arg) {
  (void)arg;
  s15.rc = s15.t->impl->rearm(s15.loop, s15.h[0], 0);
  s15_cb((void *)1);
}

/* A due timer re-armed to now by a cross-thread post that runs in the
 * same iteration: as in s15_rearm_due_in_batch, it leaves this iteration
 * and runs in the next. (A library may hand the post to the adapter while
 * the timer's own event waits in the library's queue: moving the timer
 * must drop that event, not keep it.) */
void test_s15_rearm_due_by_post(evl_tctx *t) {
  s15_setup(t);
  s15_later(t, 0, 1 * SC_MS);
  t_sleep_ms(5); /* due before the iteration starts */
  T_OK(t, "call_soon_threadsafe",
       OPS->call_soon_threadsafe(s15.loop, s15_post_rearm_cb, NULL));
  sc_run_once(t, s15.loop);
  T_RC(t, "rearm(0) of a due timer from a post", 0, s15.rc);
  int first[] = {1};
  sc_log_expect(t, "the iteration that ran the post: the re-armed timer waits",
                &s15.log, first, 1);
  s15.expect = 2;
  sc_run(t, s15.loop);
  int want[] = {1, 0};
  sc_log_expect(t, "then the timer runs once", &s15.log, want, 2);
  st_free(t, s15.loop);
}

/* A re-armed timer is still the one its handle names: stats count it once
 * and cancel stops it. */
void test_s15_rearm_keeps_handle(evl_tctx *t) {
  s15_setup(t);
  s15_later(t, 0, 20 * SC_MS);
  for (int k = 0; k < 100; k++)
    T_OK(t, "rearm, 100 times", OPS->rearm(s15.loop, s15.h[0], 10 * SC_MS));
  if (sc_has(t, EVL_IF_STATS))
    T_EQ(t, "stats.timers (+ watchdog)", 2, sc_stats(t, s15.loop).timers);
  T_RC(t, "cancel through the same handle", 0, OPS->cancel(s15.loop, s15.h[0]));
  T_RC(t, "rearm after cancel", EVL_EHANDLE, OPS->rearm(s15.loop, s15.h[0], 1));
  s15_later(t, 1, 40 * SC_MS);
  s15.expect = 1;
  sc_run(t, s15.loop);
  int want[] = {1};
  sc_log_expect(t, "callbacks run (0 was cancelled)", &s15.log, want, 1);
  st_free(t, s15.loop);
}
