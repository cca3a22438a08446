/* s_core_timers.c — S2 tests: timer order, never early, odd deadlines. */
#include "s_core.h"

#include <pthread.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#define S2_MAX 128

/* One test per process: file-level state is this test's state. */
static struct {
  evl_tctx *t;
  evl_loop *loop;
  sc_log log;
  int expect; /* stop after this many callbacks */
  /* per timer: delay, independent clock before/after scheduling, firing */
  int64_t delay[S2_MAX];
  uint64_t before[S2_MAX], after[S2_MAX], fired[S2_MAX];
  uint64_t when; /* call_at deadline shared by the equal-deadline timers */
  int early, early_idx;
  uint64_t early_by;
  /* chained never-early runs */
  const int64_t *delays;
  int ndelays, rounds, step, use_at;
  uint64_t t0;
} s2;

static void s2_log_cb(void *arg) {
  int i = (int)(intptr_t)arg;
  if (i >= 0 && i < S2_MAX)
    s2.fired[i] = t_now();
  sc_log_add(&s2.log, i);
  if (s2.expect && s2.log.n == s2.expect)
    s2.t->impl->stop(s2.loop);
}

static void s2_setup(evl_tctx *t, int expect) {
  s2.t = t;
  s2.loop = st_loop(t);
  s2.expect = expect;
  st_watchdog(t, s2.loop, 5000);
}

void test_s2_equal_deadline_order(evl_tctx *t) {
  s2_setup(t, 100);
  s2.when = OPS->time(s2.loop) + 5 * SC_MS;
  for (int i = 0; i < 100; i++)
    T_OK(t, "call_at(same when)",
         OPS->call_at(s2.loop, s2.when, s2_log_cb, (void *)(intptr_t)i, NULL));
  sc_run(t, s2.loop);
  sc_log_expect_seq(t, "100 timers with one deadline, in scheduling order",
                    &s2.log, 100);
  for (int i = 0; i < 100; i++)
    if (s2.fired[i] < s2.when)
      T_FAIL(t, "timer %d ran %llu ns before its call_at deadline", i,
             (unsigned long long)(s2.when - s2.fired[i]));
  st_free(t, s2.loop);
}

void test_s2_equal_delay_order(evl_tctx *t) {
  s2_setup(t, 100);
  /* Each delay is read from a fresh clock, so deadlines never decrease. */
  for (int i = 0; i < 100; i++)
    T_OK(t, "call_later(5 ms)",
         OPS->call_later(s2.loop, 5 * SC_MS, s2_log_cb, (void *)(intptr_t)i,
                         NULL));
  sc_run(t, s2.loop);
  sc_log_expect_seq(t, "100 timers with one delay, in scheduling order",
                    &s2.log, 100);
  st_free(t, s2.loop);
}

void test_s2_deadline_order_shuffled(evl_tctx *t) {
  enum { N = 50 };
  int perm[N];
  for (int i = 0; i < N; i++)
    perm[i] = i;
  uint32_t seed = 12345;
  for (int i = N - 1; i > 0; i--) {
    seed = seed * 1103515245u + 12345u;
    int j = (int)((seed >> 8) % (uint32_t)(i + 1));
    int x = perm[i];
    perm[i] = perm[j];
    perm[j] = x;
  }
  s2_setup(t, N);
  for (int i = 0; i < N; i++) {
    s2.delay[i] = (int64_t)(perm[i] + 1) * 2 * SC_MS;
    s2.before[i] = t_now();
    T_OK(t, "call_later",
         OPS->call_later(s2.loop, s2.delay[i], s2_log_cb, (void *)(intptr_t)i,
                         NULL));
    s2.after[i] = t_now();
  }
  sc_run(t, s2.loop);
  T_EQ(t, "timers run", N, s2.log.n);
  for (int i = 0; i < N; i++)
    if (s2.fired[i] < s2.before[i] + (uint64_t)s2.delay[i])
      T_FAIL(t, "timer %d (delay %lld ms) ran early", i,
             (long long)(s2.delay[i] / SC_MS));
  /* q ran before p: wrong only if q's deadline was surely later than p's
   * (the implementation read its clock somewhere in [before, after]). */
  for (int a = 0; a < N; a++)
    for (int b = a + 1; b < N; b++) {
      int q = s2.log.v[a], p = s2.log.v[b];
      if (s2.after[p] + (uint64_t)s2.delay[p] <
          s2.before[q] + (uint64_t)s2.delay[q])
        T_FAIL(t,
               "timer %d (delay %lld ms) ran before timer %d (delay %lld ms) "
               "whose deadline was earlier",
               q, (long long)(s2.delay[q] / SC_MS), p,
               (long long)(s2.delay[p] / SC_MS));
    }
  st_free(t, s2.loop);
}

void test_s2_negative_delay_order(evl_tctx *t) {
  s2_setup(t, 0);
  for (int i = 0; i < 100; i++)
    T_OK(
        t, "call_later(-1 ms)",
        OPS->call_later(s2.loop, -SC_MS, s2_log_cb, (void *)(intptr_t)i, NULL));
  sc_run_once(t, s2.loop);
  sc_log_expect_seq(t, "100 timers with delay -1 ms after one run_once",
                    &s2.log, 100);
  st_free(t, s2.loop);
}

/* A negative delay is due now (clamped to 0), whatever its size: mixed
 * negative and zero delays keep scheduling order, and INT64_MIN must not
 * wrap around into the far future. */
void test_s2_negative_delays_clamped(evl_tctx *t) {
  static const int64_t d[] = {
      -1, 0, -1000000000LL, INT64_MIN, -SC_MS, INT64_MIN + 1, 0, -7};
  int n = (int)(sizeof d / sizeof d[0]);
  s2_setup(t, 0);
  for (int i = 0; i < 4 * n; i++)
    T_OK(t, "call_later(<= 0)",
         OPS->call_later(s2.loop, d[i % n], s2_log_cb, (void *)(intptr_t)i,
                         NULL));
  sc_run_once(t, s2.loop);
  sc_log_expect_seq(t, "zero and negative delays after one run_once", &s2.log,
                    4 * n);
  st_free(t, s2.loop);
}

/* Chained timers, one at a time: never early by the independent clock. */
static void s2_chain_cb(void *arg);

static void s2_chain_next(void) {
  evl_tctx *t = s2.t;
  if (s2.step >= s2.ndelays * s2.rounds) {
    OPS->stop(s2.loop);
    return;
  }
  int64_t d = s2.delays[s2.step % s2.ndelays];
  s2.t0 = t_now();
  if (s2.use_at) {
    s2.when = OPS->time(s2.loop) + (uint64_t)d;
    T_OK(t, "call_at", OPS->call_at(s2.loop, s2.when, s2_chain_cb, NULL, NULL));
  } else {
    T_OK(t, "call_later", OPS->call_later(s2.loop, d, s2_chain_cb, NULL, NULL));
  }
}

static void s2_chain_cb(void *arg) {
  (void)arg;
  uint64_t now = t_now();
  int64_t d = s2.delays[s2.step % s2.ndelays];
  uint64_t due = s2.use_at ? s2.when : s2.t0 + (uint64_t)d;
  if (now < due && !s2.early) {
    s2.early = 1;
    s2.early_idx = s2.step;
    s2.early_by = due - now;
  }
  s2.step++;
  s2_chain_next();
}

static const int64_t s2_accuracy_delays[] = {
    1000,      100000,     999000,     SC_MS,      1500000,    2 * SC_MS,
    5 * SC_MS, 10 * SC_MS, 20 * SC_MS, 50 * SC_MS, 100 * SC_MS};

static void s2_never_early(evl_tctx *t, int use_at, int rounds) {
  s2_setup(t, 0);
  s2.delays = s2_accuracy_delays;
  s2.ndelays = (int)(sizeof s2_accuracy_delays / sizeof s2_accuracy_delays[0]);
  s2.rounds = rounds;
  s2.use_at = use_at;
  s2_chain_next();
  sc_run(t, s2.loop);
  if (s2.early)
    T_FAIL(t, "%s(%lld us) ran %llu ns before its deadline (round %d)",
           use_at ? "call_at" : "call_later",
           (long long)(s2.delays[s2.early_idx % s2.ndelays] / 1000),
           (unsigned long long)s2.early_by, s2.early_idx / s2.ndelays + 1);
  T_EQ(t, "timers run", s2.ndelays * rounds, s2.step);
  st_free(t, s2.loop);
}

void test_s2_never_early(evl_tctx *t) {
  s2_never_early(t, 0, 3);
}

void test_s2_never_early_call_at(evl_tctx *t) {
  s2_never_early(t, 1, 2);
}

/* Every accuracy delay at once, five copies: a loaded heap is never early. */
void test_s2_never_early_concurrent(evl_tctx *t) {
  int n = (int)(sizeof s2_accuracy_delays / sizeof s2_accuracy_delays[0]);
  s2_setup(t, 5 * n);
  for (int i = 0; i < 5 * n; i++) {
    s2.delay[i] = s2_accuracy_delays[(i * 7) % n];
    s2.before[i] = t_now();
    T_OK(t, "call_later",
         OPS->call_later(s2.loop, s2.delay[i], s2_log_cb, (void *)(intptr_t)i,
                         NULL));
  }
  sc_run(t, s2.loop);
  T_EQ(t, "timers run", 5 * n, s2.log.n);
  for (int i = 0; i < 5 * n; i++)
    if (s2.fired[i] < s2.before[i] + (uint64_t)s2.delay[i])
      T_FAIL(t, "timer %d (delay %lld us) ran %llu ns early", i,
             (long long)(s2.delay[i] / 1000),
             (unsigned long long)(s2.before[i] + (uint64_t)s2.delay[i] -
                                  s2.fired[i]));
  st_free(t, s2.loop);
}

void test_s2_call_at_past(evl_tctx *t) {
  s2_setup(t, 0);
  uint64_t now = OPS->time(s2.loop);
  uint64_t past[] = {0, 1, now > 1000000000u ? now - 1000000000u : 0,
                     now > 0 ? now - 1 : 0, now};
  for (int i = 0; i < 5; i++)
    T_OK(t, "call_at(past)",
         OPS->call_at(s2.loop, past[i], s2_log_cb, (void *)(intptr_t)i, NULL));
  sc_run_once(t, s2.loop);
  T_EQ(t, "call_at in the past: callbacks run by one run_once", 5, s2.log.n);
  st_free(t, s2.loop);
}

static void s2_never_cb(void *arg) {
  (void)arg;
  sc_log_add(&s2.log, 999);
}

void test_s2_null_callback(evl_tctx *t) {
  s2_setup(t, 0);
  T_RC(t, "call_later(NULL callback)", -EINVAL,
       OPS->call_later(s2.loop, -1, NULL, NULL, NULL));
  T_RC(t, "call_at(NULL callback)", -EINVAL,
       OPS->call_at(s2.loop, 0, NULL, NULL, NULL));
  if (sc_has(t, EVL_IF_STATS))
    T_EQ(t, "stats.timers after refused timers (only the watchdog)", 1,
         sc_stats(t, s2.loop).timers);
  /* Both would be due now: a queued NULL would crash here. */
  T_OK(t, "call_soon", OPS->call_soon(s2.loop, s2_never_cb, NULL, NULL));
  sc_run_once(t, s2.loop);
  T_EQ(t, "callbacks run", 1, s2.log.n);
  st_free(t, s2.loop);
}

static void s2_stop_cb(void *arg) {
  (void)arg;
  s2.fired[0] = t_now();
  s2.t->impl->stop(s2.loop);
}

static void s2_huge_reader(int fd, unsigned events, void *arg) {
  (void)events;
  (void)arg;
  t_drain(fd);
  s2.t->impl->stop(s2.loop);
}

static void *s2_huge_writer(void *arg) {
  int fd = *(int *)arg;
  t_sleep_ms(20);
  char c = 'x';
  if (write(fd, &c, 1) != 1)
    s2.early = 1;
  return NULL;
}

/* Huge deadlines are accepted or refused, never wrapped into "due now" and
 * never turned into a zero poll timeout (a spin). */
void test_s2_huge_delay(evl_tctx *t) {
  s2.t = t;
  s2.loop = st_loop(t);
  evl_handle h[4] = {0};
  int rc[4];
  rc[0] = OPS->call_later(s2.loop, INT64_MAX, s2_never_cb, NULL, &h[0]);
  rc[1] = OPS->call_later(s2.loop, INT64_MAX - 1, s2_never_cb, NULL, &h[1]);
  rc[2] = OPS->call_at(s2.loop, UINT64_MAX, s2_never_cb, NULL, &h[2]);
  rc[3] = OPS->call_at(s2.loop, UINT64_MAX - 1, s2_never_cb, NULL, &h[3]);
  for (int i = 0; i < 4; i++)
    if (rc[i] > 0 || (rc[i] < 0 && rc[i] != -EINVAL && rc[i] != -ERANGE &&
                      rc[i] != -EOVERFLOW))
      T_FAIL(t,
             "huge timer %d: expected 0, -EINVAL, -ERANGE or -EOVERFLOW, "
             "got %d (%s)",
             i, rc[i], evl_strerror(rc[i]));
  evl_loop_stats before = {0}, after;
  if (sc_has(t, EVL_IF_STATS))
    before = sc_stats(t, s2.loop);
  T_OK(t, "call_later(20 ms)",
       OPS->call_later(s2.loop, 20 * SC_MS, s2_stop_cb, NULL, NULL));
  uint64_t t0 = t_now();
  sc_run(t, s2.loop);
  T_EQ(t, "huge timers run", 0, s2.log.n);
  TC_GE(t, "never_early", "20 ms timer fired after (ns)", 20 * SC_MS,
        s2.fired[0] - t0);
  if (sc_has(t, EVL_IF_STATS)) {
    after = sc_stats(t, s2.loop);
    T_LE(t, "backend waits before a 20 ms timer beside huge timers", 3,
         after.waits - before.waits);
  }
  /* Only huge timers left: the poll timeout computed from them must not
   * overflow into 0 (a spin). A thread wakes the loop through a pipe. */
  if (sc_has(t, EVL_IF_STATS)) {
    int p[2];
    pthread_t th;
    t_pipe(t, p);
    T_OK(t, "add_reader", OPS->add_reader(s2.loop, p[0], s2_huge_reader, NULL));
    before = sc_stats(t, s2.loop);
    s2.t0 = t_now();
    if (pthread_create(&th, NULL, s2_huge_writer, &p[1]) != 0)
      T_FAIL(t, "pthread_create failed");
    int run_rc = OPS->run_forever(s2.loop);
    pthread_join(th, NULL);
    after = sc_stats(t, s2.loop);
    T_RC(t, "run_forever", 0, run_rc);
    T_EQ(t, "huge timers run", 0, s2.log.n);
    T_LE(t, "backend waits in 20 ms with only huge timers pending", 3,
         after.waits - before.waits);
    OPS->remove_reader(s2.loop, p[0]);
    t_close(p[0]);
    t_close(p[1]);
  }
  for (int i = 0; i < 4; i++)
    if (rc[i] == 0)
      T_RC(t, "cancel a huge timer (still pending)", 0,
           OPS->cancel(s2.loop, h[i]));
  st_free(t, s2.loop);
}
