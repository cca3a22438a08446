/* s_core_sched.c — S1 tests: call_soon FIFO order and next-iteration rules. */
#include <string.h>

#include "s_core.h"

#include <stdint.h>
#include <unistd.h>

/* One test per process: file-level state is this test's state. */
static struct {
  evl_tctx *t;
  evl_loop *loop;
  sc_log log;
  int spins, spins_at_reader, timer_fired, reader_fired, gave_up;
  uint64_t start;
  int rfd;
} s1;

static void s1_log_cb(void *arg) {
  sc_log_add(&s1.log, (int)(intptr_t)arg);
}

void test_s1_fifo_order(evl_tctx *t) {
  evl_loop *loop = st_loop(t);
  for (int i = 0; i < 1000; i++)
    T_OK(t, "call_soon",
         OPS->call_soon(loop, s1_log_cb, (void *)(intptr_t)i, NULL));
  sc_run_once(t, loop);
  sc_log_expect_seq(t, "1000 call_soon callbacks after one run_once", &s1.log,
                    1000);
  st_free(t, loop);
}

/* A schedules C, B schedules D: only A and B belong to the first batch. */
static void s1_next_a(void *arg) {
  (void)arg;
  sc_log_add(&s1.log, 0);
  T_OK(s1.t, "call_soon inside a callback",
       s1.t->impl->call_soon(s1.loop, s1_log_cb, (void *)(intptr_t)2, NULL));
}

static void s1_next_b(void *arg) {
  (void)arg;
  sc_log_add(&s1.log, 1);
  T_OK(s1.t, "call_soon inside a callback",
       s1.t->impl->call_soon(s1.loop, s1_log_cb, (void *)(intptr_t)3, NULL));
}

void test_s1_next_iteration(evl_tctx *t) {
  s1.t = t;
  s1.loop = st_loop(t);
  T_OK(t, "call_soon", OPS->call_soon(s1.loop, s1_next_a, NULL, NULL));
  T_OK(t, "call_soon", OPS->call_soon(s1.loop, s1_next_b, NULL, NULL));
  sc_run_once(t, s1.loop);
  int first[] = {0, 1};
  sc_log_expect(t, "after the first run_once (callbacks queued during it wait)",
                &s1.log, first, 2);
  sc_run_once(t, s1.loop);
  int second[] = {0, 1, 2, 3};
  sc_log_expect(t, "after the second run_once", &s1.log, second, 4);
  st_free(t, s1.loop);
}

static void s1_timer_from_batch(void *arg) {
  (void)arg;
  sc_log_add(&s1.log, 0);
  T_OK(s1.t, "call_later(0) inside a callback",
       s1.t->impl->call_later(s1.loop, 0, s1_log_cb, (void *)1, NULL));
}

/* A timer due at once, scheduled by a running callback, is queued by the
 * next iteration (step 3), not run by this one: a library whose run-once
 * ends with a second timer phase must not let it through. */
void test_s1_due_now_timer_next_iteration(evl_tctx *t) {
  s1.t = t;
  s1.loop = st_loop(t);
  T_OK(t, "call_soon",
       OPS->call_soon(s1.loop, s1_timer_from_batch, NULL, NULL));
  sc_run_once(t, s1.loop);
  int first[] = {0};
  sc_log_expect(t, "after the first run_once (the call_later(0) waits)",
                &s1.log, first, 1);
  sc_run_once(t, s1.loop);
  int second[] = {0, 1};
  sc_log_expect(t, "after the second run_once", &s1.log, second, 2);
  st_free(t, s1.loop);
}

/* Re-schedules itself forever; gives up (and fails the test) after 3 s. */
static void s1_spin_cb(void *arg) {
  (void)arg;
  s1.spins++;
  if (s1.timer_fired && s1.reader_fired) {
    s1.t->impl->stop(s1.loop);
    return;
  }
  if (t_now() - s1.start > 3000 * (uint64_t)SC_MS) {
    s1.gave_up = 1;
    s1.t->impl->stop(s1.loop);
    return;
  }
  T_OK(s1.t, "call_soon from the spinning callback",
       s1.t->impl->call_soon(s1.loop, s1_spin_cb, NULL, NULL));
}

static void s1_spin_timer_cb(void *arg) {
  (void)arg;
  s1.timer_fired = 1;
}

static void s1_spin_reader_cb(int fd, unsigned events, void *arg) {
  (void)events;
  (void)arg;
  if (!s1.reader_fired)
    s1.spins_at_reader = s1.spins;
  s1.reader_fired = 1;
  t_drain(fd);
  s1.t->impl->remove_reader(s1.loop, fd);
}

static void s1_spinner(evl_tctx *t, int with_timer, int with_reader) {
  int p[2] = {-1, -1};
  s1.t = t;
  s1.loop = st_loop(t);
  s1.start = t_now();
  s1.timer_fired = !with_timer;
  s1.reader_fired = !with_reader;
  if (with_timer)
    T_OK(t, "call_later 10 ms",
         OPS->call_later(s1.loop, 10 * SC_MS, s1_spin_timer_cb, NULL, NULL));
  if (with_reader) {
    t_pipe(t, p);
    t_write_byte(t, p[1]);
    T_OK(t, "add_reader",
         OPS->add_reader(s1.loop, p[0], s1_spin_reader_cb, NULL));
  }
  T_OK(t, "call_soon", OPS->call_soon(s1.loop, s1_spin_cb, NULL, NULL));
  sc_run(t, s1.loop);
  T_EQ(t, "spinning callback gave up after 3 s (starvation)", 0, s1.gave_up);
  T_TRUE(t, "10 ms timer ran despite a self-rescheduling callback",
         s1.timer_fired);
  T_TRUE(t, "reader ran despite a self-rescheduling callback", s1.reader_fired);
  if (with_reader)
    T_LE(t, "spinning callback runs before a ready reader runs", 2,
         s1.spins_at_reader);
  st_free(t, s1.loop);
  t_close(p[0]);
  t_close(p[1]);
}

void test_s1_no_starve_timer(evl_tctx *t) {
  s1_spinner(t, 1, 0);
}

void test_s1_no_starve_reader(evl_tctx *t) {
  s1_spinner(t, 0, 1);
}

void test_s1_no_starve_both(evl_tctx *t) {
  s1_spinner(t, 1, 1);
}

/* Run cycle step 3: due timers queue behind callbacks already queued. */
void test_s1_due_timer_behind_soon(evl_tctx *t) {
  evl_loop *loop = st_loop(t);
  T_OK(t, "call_later(-1 ms)",
       OPS->call_later(loop, -SC_MS, s1_log_cb, (void *)(intptr_t)2, NULL));
  T_OK(t, "call_soon", OPS->call_soon(loop, s1_log_cb, (void *)0, NULL));
  T_OK(t, "call_soon", OPS->call_soon(loop, s1_log_cb, (void *)1, NULL));
  sc_run_once(t, loop);
  int want[] = {0, 1, 2};
  sc_log_expect(t, "soon callbacks, then the due timer, in one run_once",
                &s1.log, want, 3);
  st_free(t, loop);
}

static void s1_log_reader(int fd, unsigned events, void *arg) {
  (void)events;
  sc_log_add(&s1.log, (int)(intptr_t)arg);
  s1.t->impl->remove_reader(s1.loop, fd);
}

static int s1_behind_fd;

/* Inside a batch: a reader on a ready pipe, then a callback. */
static void s1_behind_setup_cb(void *arg) {
  (void)arg;
  evl_tctx *t = s1.t;
  T_OK(t, "add_reader (in a callback)",
       OPS->add_reader(s1.loop, s1_behind_fd, s1_log_reader,
                       (void *)(intptr_t)1));
  T_OK(t, "call_soon (in a callback)",
       OPS->call_soon(s1.loop, s1_log_cb, (void *)0, NULL));
}

/* S1 (run cycle, step 3): a callback queued before the wait runs before
 * the callback of a reader that wait found ready — ready watchers are
 * queued behind what is already queued — whether both were set up before
 * the run or inside a callback of the previous batch. */
void test_s1_ready_behind_soon(evl_tctx *t) {
  for (int inside = 0; inside < 2; inside++) {
    int p[2];
    t_pipe(t, p);
    t_write_byte(t, p[1]); /* ready before the first wait */
    memset(&s1.log, 0, sizeof s1.log);
    s1.t = t;
    s1.loop = st_loop(t);
    s1_behind_fd = p[0];
    if (inside) {
      T_OK(t, "call_soon",
           OPS->call_soon(s1.loop, s1_behind_setup_cb, NULL, NULL));
    } else {
      T_OK(t, "add_reader",
           OPS->add_reader(s1.loop, p[0], s1_log_reader, (void *)(intptr_t)1));
      T_OK(t, "call_soon", OPS->call_soon(s1.loop, s1_log_cb, (void *)0, NULL));
    }
    for (int i = 0; i < 5 && s1.log.n < 2; i++)
      sc_run_once(t, s1.loop);
    int want[] = {0, 1};
    sc_log_expect(t,
                  inside ? "set up in a callback: the callback it queued (0), "
                           "then the reader the next wait found ready (1)"
                         : "callback queued before the wait (0), then the "
                           "reader it found ready (1)",
                  &s1.log, want, 2);
    st_free(t, s1.loop);
    t_close(p[0]);
    t_close(p[1]);
  }
}

static void s1_never_cb(void *arg) {
  (void)arg;
  s1.spins++;
}

/* Bad input: a NULL callback is refused and leaves nothing scheduled. */
void test_s1_null_callback(evl_tctx *t) {
  evl_loop *loop = st_loop(t);
  evl_loop_stats before = {0}, after = {0};
  if (sc_has(t, EVL_IF_STATS))
    before = sc_stats(t, loop);
  evl_handle h = 0;
  T_RC(t, "call_soon(NULL callback)", -EINVAL,
       OPS->call_soon(loop, NULL, NULL, &h));
  if (sc_has(t, EVL_IF_THREADSAFE))
    T_RC(t, "call_soon_threadsafe(NULL callback)", -EINVAL,
         OPS->call_soon_threadsafe(loop, NULL, NULL));
  /* A sentinel keeps run_once from blocking; a queued NULL would crash. */
  T_OK(t, "call_soon", OPS->call_soon(loop, s1_never_cb, NULL, NULL));
  sc_run_once(t, loop);
  T_EQ(t, "callbacks run", 1, s1.spins);
  if (sc_has(t, EVL_IF_STATS)) {
    after = sc_stats(t, loop);
    T_EQ(t, "stats.callbacks delta (only the sentinel)", 1,
         after.callbacks - before.callbacks);
  }
  st_free(t, loop);
}
