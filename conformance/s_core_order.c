/* s_core_order.c — what one iteration runs and in which order: timers due
 * together (S2), ready watchers and posts before due timers (S1), deadline
 * order after many cancels (S2), cancel everything then wait (S4), and a
 * watcher replaced in the batch where its fd was ready (S6). */
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "s_core.h"

static struct {
  evl_tctx *t;
  evl_loop *loop;
  sc_log log;
  int post_rc;
} so;

static void so_log_cb(void *arg) {
  sc_log_add(&so.log, (int)(intptr_t)arg);
}

/* The calling thread's CPU time, in ns. */
static uint64_t so_cpu_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void so_setup(evl_tctx *t) {
  memset(&so, 0, sizeof so);
  so.t = t;
  so.loop = st_loop(t);
}

/* S2: five timers with distinct deadlines, scheduled out of order, all due
 * before the loop looks: one iteration runs all five, earliest first. */
void test_s2_due_together_order(evl_tctx *t) {
  so_setup(t);
  static const int order[] = {3, 0, 4, 1, 2};
  uint64_t base = t_now();
  for (int i = 0; i < 5; i++)
    T_OK(t, "call_at",
         OPS->call_at(so.loop, base + (uint64_t)(order[i] + 1) * SC_MS,
                      so_log_cb, (void *)(intptr_t)order[i], NULL));
  t_sleep_ms(10); /* every deadline is now in the past */
  sc_run_once(t, so.loop);
  T_EQ(t, "timers run by the one iteration after all five fell due", 5,
       so.log.n);
  sc_log_expect_seq(t, "timers due together run in deadline order", &so.log, 5);
  st_free(t, so.loop);
}

static void so_reader_cb(int fd, unsigned events, void *arg) {
  (void)events;
  (void)arg;
  sc_log_add(&so.log, 0);
  so.t->impl->remove_reader(so.loop, fd);
}

/* S1 (run cycle, step 3): a ready reader and a due timer in one iteration:
 * the reader's callback is queued first. */
void test_s1_ready_before_due_timer(evl_tctx *t) {
  so_setup(t);
  int p[2];
  t_pipe(t, p);
  t_write_byte(t, p[1]);
  T_OK(t, "add_reader", OPS->add_reader(so.loop, p[0], so_reader_cb, NULL));
  T_OK(t, "call_at(a deadline in the past)",
       OPS->call_at(so.loop, t_now() - SC_MS, so_log_cb, (void *)1, NULL));
  for (int i = 0; i < 5 && so.log.n < 2; i++)
    sc_run_once(t, so.loop);
  int want[] = {0, 1};
  sc_log_expect(t,
                "ready reader (0) and due timer (1) of one iteration: the "
                "reader's callback is queued first",
                &so.log, want, 2);
  st_free(t, so.loop);
  t_close(p[0]);
  t_close(p[1]);
}

static void *so_poster(void *arg) {
  (void)arg;
  so.post_rc = so.t->impl->call_soon_threadsafe(so.loop, so_log_cb, NULL);
  return NULL;
}

/* S1 (step 3): a callback posted from another thread counts as a ready
 * watcher: a post and a due timer found by one iteration run post first.
 * The post is made, from a thread, before the loop runs, so the first wait
 * finds it whatever the loop's doorbell. */
void test_s1_post_before_due_timer(evl_tctx *t) {
  st_need(t, EVL_IF_THREADSAFE);
  so_setup(t);
  T_OK(t, "call_at(a deadline in the past)",
       OPS->call_at(so.loop, t_now() - SC_MS, so_log_cb, (void *)1, NULL));
  pthread_t th;
  if (pthread_create(&th, NULL, so_poster, NULL) != 0)
    T_FAIL(t, "pthread_create failed");
  pthread_join(th, NULL);
  T_RC(t, "call_soon_threadsafe from a thread", 0, so.post_rc);
  for (int i = 0; i < 5 && so.log.n < 2; i++)
    sc_run_once(t, so.loop);
  int want[] = {0, 1};
  sc_log_expect(t,
                "post (0) and due timer (1) of one iteration: the post is "
                "queued first",
                &so.log, want, 2);
  st_free(t, so.loop);
}

/* A small deterministic generator: the same scenario on every run. */
static uint32_t so_rand(uint32_t *s) {
  *s = *s * 1103515245u + 12345u;
  return *s >> 8;
}

#define SO_N 2000
static uint64_t so_deadline[SO_N];
static int so_last, so_disorder, so_ran[SO_N];

static void so_order_cb(void *arg) {
  int i = (int)(intptr_t)arg;
  so_ran[i]++;
  if (so_last >= 0 && so_deadline[i] < so_deadline[so_last] && !so_disorder)
    so_disorder = i + 1;
  if (!so_disorder)
    so_last = i;
}

/* S2/S4: 2000 timers with distinct deadlines; 1400 cancelled in random
 * order (a heap erase that sifts one way only breaks the order); the other
 * 600 run once each, in deadline order. */
void test_s2_order_after_cancels(evl_tctx *t) {
  so_setup(t);
  static evl_handle h[SO_N];
  static int cancelled[SO_N];
  uint32_t seed = 12345;
  uint64_t base = t_now() + 20 * SC_MS;
  /* Distinct deadlines over 40 ms: a shuffled 0..SO_N-1 times 20 us. */
  static int perm[SO_N];
  for (int i = 0; i < SO_N; i++)
    perm[i] = i;
  for (int i = SO_N - 1; i > 0; i--) {
    int j = (int)(so_rand(&seed) % (uint32_t)(i + 1)), x = perm[i];
    perm[i] = perm[j];
    perm[j] = x;
  }
  for (int i = 0; i < SO_N; i++) {
    so_deadline[i] = base + (uint64_t)perm[i] * 20000u;
    T_OK(t, "call_at",
         OPS->call_at(so.loop, so_deadline[i], so_order_cb, (void *)(intptr_t)i,
                      &h[i]));
  }
  int ncancel = 0;
  while (ncancel < SO_N * 7 / 10) {
    int i = (int)(so_rand(&seed) % SO_N);
    if (cancelled[i])
      continue;
    T_OK(t, "cancel", OPS->cancel(so.loop, h[i]));
    cancelled[i] = 1;
    ncancel++;
  }
  so_last = -1;
  T_OK(t, "call_at(stop after the last deadline)",
       OPS->call_at(so.loop, base + (uint64_t)SO_N * 20000u + 5 * SC_MS,
                    so_log_cb, (void *)-1, NULL));
  st_watchdog(t, so.loop, 5000);
  while (so.log.n == 0)
    sc_run_once(t, so.loop);
  if (so_disorder) {
    int i = so_disorder - 1;
    T_FAIL(t,
           "after %d random cancels, timer %d (deadline +%llu us) ran after "
           "timer %d (deadline +%llu us): expected deadline order",
           ncancel, i, (unsigned long long)((so_deadline[i] - base) / 1000),
           so_last, (unsigned long long)((so_deadline[so_last] - base) / 1000));
  }
  for (int i = 0; i < SO_N; i++) {
    if (so_ran[i] != !cancelled[i])
      T_FAIL(t, "timer %d (%s): expected %d runs, got %d", i,
             cancelled[i] ? "cancelled" : "kept", !cancelled[i], so_ran[i]);
  }
  st_free(t, so.loop);
}

static void *so_late_writer(void *arg) {
  t_sleep_ms(100);
  char c = 'x';
  if (write(*(int *)arg, &c, 1) != 1)
    return NULL;
  return NULL;
}

static void so_stop_reader(int fd, unsigned events, void *arg) {
  (void)events;
  (void)arg;
  sc_log_add(&so.log, 7);
  so.t->impl->remove_reader(so.loop, fd);
  so.t->impl->stop(so.loop);
}

/* S4/S3: every pending timer cancelled, then the loop waits: it blocks (its
 * thread uses far less CPU than the time passing) until a reader becomes
 * ready 100 ms later, and runs nothing cancelled. */
void test_s4_cancel_all_then_wait(evl_tctx *t) {
  so_setup(t);
  enum { N = 200 };
  static evl_handle h[N];
  for (int i = 0; i < N; i++)
    T_OK(t, "call_later",
         OPS->call_later(so.loop, (int64_t)(i % 20 + 1) * SC_MS, so_log_cb,
                         (void *)(intptr_t)i, &h[i]));
  for (int i = N - 1; i >= 0; i--)
    T_OK(t, "cancel", OPS->cancel(so.loop, h[i]));
  int p[2];
  t_pipe(t, p);
  /* No watchdog timer: it would be a pending timer. The reader ends it. */
  T_OK(t, "add_reader", OPS->add_reader(so.loop, p[0], so_stop_reader, NULL));
  pthread_t th;
  if (pthread_create(&th, NULL, so_late_writer, &p[1]) != 0)
    T_FAIL(t, "pthread_create failed");
  uint64_t w0 = t_now(), c0 = so_cpu_now();
  sc_run(t, so.loop);
  uint64_t wall = t_now() - w0, cpu = so_cpu_now() - c0;
  pthread_join(th, NULL);
  int want[] = {7};
  sc_log_expect(t, "callbacks run: the reader only, no cancelled timer",
                &so.log, want, 1);
  /* A blocked thread uses next to no CPU; a spinning one, even on a
   * crowded machine, gets far more than a tenth of the time passing.
   * Instrumented builds (EVL_TEST_TIMEOUT_SCALE > 1) spend CPU of their
   * own: the budget grows with the scale. */
  double budget = 0.1 * (t->timeout_scale > 1 ? t->timeout_scale : 1);
  if ((double)cpu > budget * (double)wall)
    T_FAIL(t,
           "the loop spun while every timer was cancelled: %llu us of CPU in "
           "%llu us waiting for a reader (expected under %.0f%%)",
           (unsigned long long)(cpu / 1000), (unsigned long long)(wall / 1000),
           budget * 100);
  st_free(t, so.loop);
  t_close(p[0]);
  t_close(p[1]);
}

/* ---- S6: replaced in the batch where its fd was ready ------------------ */

typedef struct so_w {
  int fd, other_fd, other_writer;
  int reuse; /* close the other's fd and reuse its number */
  int calls, repl_calls, repl_iter;
} so_w;
static so_w so_a, so_b;
static int so_iter, so_replaced_at;

static void so_repl_cb(int fd, unsigned events, void *arg) {
  (void)fd;
  (void)events;
  so_w *w = arg;
  w->repl_calls++;
  if (!w->repl_iter)
    w->repl_iter = so_iter;
}

static void so_first_cb(int fd, unsigned events, void *arg) {
  (void)events;
  so_w *w = arg, *other = w == &so_a ? &so_b : &so_a;
  evl_tctx *t = so.t;
  w->calls++;
  if (so_replaced_at)
    return;
  so_replaced_at = so_iter;
  /* Out of the way, so that only the replacement's fd is watched next. */
  OPS->remove_reader(so.loop, fd);
  if (w->reuse) {
    OPS->remove_reader(so.loop, other->fd);
    int num = other->fd;
    close(other->fd);
    close(other->other_writer);
    int p[2];
    t_pipe(t, p);
    if (p[0] != num)
      T_FAIL(t, "the closed number %d was not reused (got %d)", num, p[0]);
    other->fd = p[0];
    other->other_writer = p[1];
    t_write_byte(t, p[1]);
  }
  T_OK(t, "add_reader (the replacement)",
       OPS->add_reader(so.loop, other->fd, so_repl_cb, other));
}

static void so_replace_case(evl_tctx *t, int reuse) {
  so_setup(t);
  int a[2], b[2];
  t_pipe(t, a);
  t_pipe(t, b);
  so_a = (so_w){.fd = a[0], .other_writer = a[1], .reuse = reuse};
  so_b = (so_w){.fd = b[0], .other_writer = b[1], .reuse = reuse};
  so_iter = so_replaced_at = 0;
  T_OK(t, "add_reader a", OPS->add_reader(so.loop, a[0], so_first_cb, &so_a));
  T_OK(t, "add_reader b", OPS->add_reader(so.loop, b[0], so_first_cb, &so_b));
  t_write_byte(t, a[1]);
  t_write_byte(t, b[1]);
  /* A backend may report one ready fd per wait (K4): go on until one of
   * the two has run and replaced the other, then one more iteration. */
  for (so_iter = 1; so_iter <= 10 && !so_replaced_at; so_iter++)
    sc_run_once(t, so.loop);
  if (!so_replaced_at)
    T_FAIL(t, "neither ready reader ran in 10 iterations");
  sc_run_once(t, so.loop);
  so_w *replaced = so_a.calls ? &so_b : &so_a;
  T_EQ(t, "calls of the replaced reader's old callback", 0, replaced->calls);
  T_EQ(t,
       "calls of the replacement in the iteration after the replacing "
       "batch (fd ready, level-triggered)",
       1, replaced->repl_calls);
  T_EQ(t,
       "iteration of the replacement's first call (the replacing "
       "batch's + 1)",
       so_replaced_at + 1, replaced->repl_iter);
  T_EQ(t, "remove_reader (the replacement)", 1,
       OPS->remove_reader(so.loop, replaced->fd));
  st_free(t, so.loop);
  t_close(so_a.fd);
  t_close(so_a.other_writer);
  t_close(so_b.fd);
  t_close(so_b.other_writer);
}

/* S6: the first of two ready readers replaces the other's callback: the
 * replacement is not called in that batch, and exactly once in the next. */
void test_s6_replaced_runs_next_iteration(evl_tctx *t) {
  so_replace_case(t, 0);
}

/* S6: as above, but the other fd is closed and its number reused by a new
 * ready pipe before the replacement is added. */
void test_s6_replaced_reused_next_iteration(evl_tctx *t) {
  so_replace_case(t, 1);
}
