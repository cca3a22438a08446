/* s_core_run.c — S7 tests: run_forever, run_once, stop, nesting, and the
 * running loop of each thread. */
#include "s_core.h"

#include <pthread.h>
#include <stdint.h>
#include <string.h>

/* One test per process: file-level state is this test's state. */
static struct {
  evl_tctx *t;
  evl_loop *loop, *loop2;
  sc_log log;
  int count, rc_forever, rc_once, rc_forever2, rc_once2, running;
  evl_loop *seen, *seen_timer;
  evl_handle nested_timer;
} s7;

static void s7_log_cb(void *arg) {
  sc_log_add(&s7.log, (int)(intptr_t)arg);
}

static void s7_setup(evl_tctx *t) {
  s7.t = t;
  s7.loop = st_loop(t);
  st_watchdog(t, s7.loop, 5000);
}

static void s7_chain_cb(void *arg) {
  (void)arg;
  evl_tctx *t = s7.t;
  if (++s7.count >= 100) {
    T_OK(t, "stop", OPS->stop(s7.loop));
    /* Scheduled after stop: must wait for the next run. */
    T_OK(t, "call_soon", OPS->call_soon(s7.loop, s7_log_cb, (void *)7, NULL));
    return;
  }
  if (s7.count % 10 == 0)
    T_OK(t, "call_later",
         OPS->call_later(s7.loop, 100000, s7_chain_cb, NULL, NULL));
  else
    T_OK(t, "call_soon", OPS->call_soon(s7.loop, s7_chain_cb, NULL, NULL));
}

void test_s7_run_until_stop(evl_tctx *t) {
  s7_setup(t);
  T_OK(t, "call_soon", OPS->call_soon(s7.loop, s7_chain_cb, NULL, NULL));
  sc_run(t, s7.loop);
  T_EQ(t, "chained callbacks before stop", 100, s7.count);
  T_EQ(t, "callbacks scheduled after stop that ran", 0, s7.log.n);
  T_EQ(t, "is_running after run_forever returned", 0, OPS->is_running(s7.loop));
  sc_run_once(t, s7.loop);
  T_EQ(t, "the callback scheduled after stop ran in the next run", 1, s7.log.n);
  st_free(t, s7.loop);
}

static void s7_stopper_cb(void *arg) {
  (void)arg;
  sc_log_add(&s7.log, 0);
  T_OK(s7.t, "stop", s7.t->impl->stop(s7.loop));
  T_OK(s7.t, "call_soon",
       s7.t->impl->call_soon(s7.loop, s7_log_cb, (void *)9, NULL));
}

/* stop() inside a callback: the batch finishes, new callbacks wait. */
static void s7_batch_reader(int fd, unsigned events, void *arg) {
  (void)events;
  (void)arg;
  t_drain(fd);
  s7.count++;
}

void test_s7_stop_in_batch(evl_tctx *t) {
  int p[2];
  t_pipe(t, p);
  t_write_byte(t, p[1]); /* ready before the first wait */
  s7_setup(t);
  T_OK(t, "add_reader", OPS->add_reader(s7.loop, p[0], s7_batch_reader, NULL));
  T_OK(t, "call_soon", OPS->call_soon(s7.loop, s7_stopper_cb, NULL, NULL));
  T_OK(t, "call_soon", OPS->call_soon(s7.loop, s7_log_cb, (void *)1, NULL));
  T_OK(t, "call_later(-1)",
       OPS->call_later(s7.loop, -1, s7_log_cb, (void *)2, NULL));
  T_OK(t, "call_soon", OPS->call_soon(s7.loop, s7_log_cb, (void *)3, NULL));
  sc_run(t, s7.loop);
  int want[] = {0, 1, 3, 2};
  sc_log_expect(t, "the batch that called stop finished, nothing more", &s7.log,
                want, 4);
  T_EQ(t, "reader calls in the batch that called stop", 1, s7.count);
  sc_run_once(t, s7.loop);
  int want2[] = {0, 1, 3, 2, 9};
  sc_log_expect(t, "the callback scheduled by the stopper, next run", &s7.log,
                want2, 5);
  T_EQ(t, "remove_reader", 1, OPS->remove_reader(s7.loop, p[0]));
  st_free(t, s7.loop);
  t_close(p[0]);
  t_close(p[1]);
}

static void s7_stop_now_cb(void *arg) {
  sc_log_add(&s7.log, (int)(intptr_t)arg);
  s7.t->impl->stop(s7.loop);
}

/* stop() before run_forever: one iteration with a zero poll timeout. A
 * pending 1 s timer proves the loop did not wait: had it waited for the
 * timer, the timer would have run. */
void test_s7_stop_before_run(evl_tctx *t) {
  s7_setup(t);
  T_OK(t, "call_later(1 s)",
       OPS->call_later(s7.loop, 1000 * SC_MS, s7_log_cb, (void *)99, NULL));
  T_OK(t, "call_soon", OPS->call_soon(s7.loop, s7_log_cb, (void *)1, NULL));
  T_OK(t, "call_soon", OPS->call_soon(s7.loop, s7_log_cb, (void *)2, NULL));
  evl_loop_stats a = {0}, b;
  if (sc_has(t, EVL_IF_STATS))
    a = sc_stats(t, s7.loop);
  T_OK(t, "stop before run_forever", OPS->stop(s7.loop));
  sc_run(t, s7.loop);
  int want[] = {1, 2};
  sc_log_expect(t, "callbacks run by run_forever after stop", &s7.log, want, 2);
  if (sc_has(t, EVL_IF_STATS)) {
    b = sc_stats(t, s7.loop);
    T_EQ(t, "iterations of run_forever after stop", 1,
         b.iterations - a.iterations);
    T_LE(t, "backend waits of run_forever after stop", 1, b.waits - a.waits);
  }
  /* The stop was consumed: the next run_forever runs until its own stop. */
  T_OK(t, "call_later(5 ms)",
       OPS->call_later(s7.loop, 5 * SC_MS, s7_stop_now_cb, (void *)3, NULL));
  sc_run(t, s7.loop);
  int want2[] = {1, 2, 3};
  sc_log_expect(t, "a second run_forever runs until its own stop", &s7.log,
                want2, 3);
  st_free(t, s7.loop);
}

static void s7_idle_reader(int fd, unsigned events, void *arg) {
  (void)fd;
  (void)events;
  (void)arg;
  sc_log_add(&s7.log, -1);
}

/* stop() on an idle loop before run_forever: it returns without blocking. */
void test_s7_stop_before_run_idle(evl_tctx *t) {
  int p[2];
  t_pipe(t, p);
  s7.t = t;
  s7.loop = st_loop(t); /* no watchdog: nothing may wake this loop */
  T_OK(t, "add_reader (never ready)",
       OPS->add_reader(s7.loop, p[0], s7_idle_reader, NULL));
  T_OK(t, "stop before run_forever", OPS->stop(s7.loop));
  sc_run(t, s7.loop);
  T_EQ(t, "reader of an empty pipe called", 0, s7.log.n);
  T_EQ(t, "remove_reader (was registered)", 1,
       OPS->remove_reader(s7.loop, p[0]));
  st_free(t, s7.loop);
  t_close(p[0]);
  t_close(p[1]);
}

static void s7_nested_stop_cb(void *arg) {
  (void)arg;
  s7.t->impl->stop(s7.loop);
}

static void s7_nested_cb(void *arg) {
  (void)arg;
  /* Were the nested runs allowed, they must still end, so that the test
   * fails with its message instead of hanging: a stop queued for the next
   * iteration ends a nested run_forever, a 200 ms timer a nested run_once. */
  s7.t->impl->call_soon(s7.loop, s7_nested_stop_cb, NULL, NULL);
  s7.t->impl->call_later(s7.loop, 200 * SC_MS, s7_nested_stop_cb, NULL,
                         &s7.nested_timer);
  s7.rc_forever = s7.t->impl->run_forever(s7.loop);
  s7.rc_once = s7.t->impl->run_once(s7.loop);
  s7.running = s7.t->impl->is_running(s7.loop);
  sc_log_add(&s7.log, 0);
}

void test_s7_nested_run(evl_tctx *t) {
  s7_setup(t);
  T_EQ(t, "is_running before run", 0, OPS->is_running(s7.loop));
  T_OK(t, "call_soon", OPS->call_soon(s7.loop, s7_nested_cb, NULL, NULL));
  T_OK(t, "call_soon",
       OPS->call_soon(s7.loop, s7_stop_now_cb, (void *)1, NULL));
  sc_run(t, s7.loop);
  OPS->cancel(s7.loop, s7.nested_timer);
  T_RC(t, "run_forever inside a callback", -EBUSY, s7.rc_forever);
  T_RC(t, "run_once inside a callback", -EBUSY, s7.rc_once);
  T_EQ(t, "is_running inside a callback", 1, s7.running);
  int want[] = {0, 1};
  sc_log_expect(t, "the loop went on after the refused nested runs", &s7.log,
                want, 2);
  T_EQ(t, "is_running after run", 0, OPS->is_running(s7.loop));
  st_free(t, s7.loop);
}

static void s7_second_cb(void *arg) {
  (void)arg;
  s7.rc_forever2 = s7.t->impl->run_forever(s7.loop2);
  s7.rc_once2 = s7.t->impl->run_once(s7.loop2);
  s7.seen = s7.t->impl->get_running_loop();
  s7.t->impl->stop(s7.loop);
}

/* A second loop run on a thread that already runs one: -EBUSY. */
void test_s7_second_loop_same_thread(evl_tctx *t) {
  st_need(t, EVL_IF_RUNNING);
  s7_setup(t);
  s7.loop2 = st_loop(t);
  T_OK(t, "call_soon on loop 2",
       OPS->call_soon(s7.loop2, s7_log_cb, (void *)5, NULL));
  T_OK(t, "call_soon", OPS->call_soon(s7.loop, s7_second_cb, NULL, NULL));
  sc_run(t, s7.loop);
  T_RC(t, "run_forever of loop 2 inside loop 1's callback", -EBUSY,
       s7.rc_forever2);
  T_RC(t, "run_once of loop 2 inside loop 1's callback", -EBUSY, s7.rc_once2);
  T_TRUE(t, "get_running_loop inside loop 1's callback is loop 1",
         s7.seen == s7.loop);
  T_EQ(t, "loop 2 callbacks run while refused", 0, s7.log.n);
  sc_run_once(t, s7.loop2);
  T_EQ(t, "loop 2 runs once loop 1 has returned", 1, s7.log.n);
  st_free(t, s7.loop2);
  st_free(t, s7.loop);
}

static void s7_running_cb(void *arg) {
  (void)arg;
  s7.seen = s7.t->impl->get_running_loop();
}

static void s7_running_timer_cb(void *arg) {
  (void)arg;
  s7.seen_timer = s7.t->impl->get_running_loop();
  s7.t->impl->stop(s7.loop);
}

void test_s7_get_running_loop(evl_tctx *t) {
  st_need(t, EVL_IF_RUNNING);
  s7_setup(t);
  T_TRUE(t, "get_running_loop before run is NULL",
         OPS->get_running_loop() == NULL);
  T_OK(t, "call_soon", OPS->call_soon(s7.loop, s7_running_cb, NULL, NULL));
  T_OK(t, "call_later",
       OPS->call_later(s7.loop, SC_MS, s7_running_timer_cb, NULL, NULL));
  sc_run(t, s7.loop);
  T_TRUE(t, "get_running_loop in a call_soon callback is the loop",
         s7.seen == s7.loop);
  T_TRUE(t, "get_running_loop in a timer callback is the loop",
         s7.seen_timer == s7.loop);
  T_TRUE(t, "get_running_loop after run_forever is NULL",
         OPS->get_running_loop() == NULL);
  s7.seen = NULL;
  T_OK(t, "call_soon", OPS->call_soon(s7.loop, s7_running_cb, NULL, NULL));
  sc_run_once(t, s7.loop);
  T_TRUE(t, "get_running_loop in run_once's callback is the loop",
         s7.seen == s7.loop);
  T_TRUE(t, "get_running_loop after run_once is NULL",
         OPS->get_running_loop() == NULL);
  st_free(t, s7.loop);
}

/* ---- several loops in several threads --------------------------------- */

#define S7_THREADS 3
#define S7_SOON 2000
#define S7_TIMERS 10

typedef struct s7_worker {
  const evl_impl_ops *ops;
  evl_loop *loop;
  pthread_t self;
  int soon, timers, wrong_loop, wrong_thread, rc_new, rc_run, rc_free, err;
} s7_worker;

static void s7_worker_check(s7_worker *w) {
  if (!pthread_equal(pthread_self(), w->self))
    w->wrong_thread++;
  if ((w->ops->features & EVL_IF_RUNNING) &&
      w->ops->get_running_loop() != w->loop)
    w->wrong_loop++;
  if (w->soon >= S7_SOON && w->timers >= S7_TIMERS)
    w->ops->stop(w->loop);
}

static void s7_worker_soon(void *arg) {
  s7_worker *w = arg;
  if (++w->soon < S7_SOON &&
      w->ops->call_soon(w->loop, s7_worker_soon, w, NULL) != 0)
    w->err++;
  s7_worker_check(w);
}

static void s7_worker_timer(void *arg) {
  s7_worker *w = arg;
  if (++w->timers < S7_TIMERS &&
      w->ops->call_later(w->loop, SC_MS, s7_worker_timer, w, NULL) != 0)
    w->err++;
  s7_worker_check(w);
}

static void *s7_worker_main(void *arg) {
  s7_worker *w = arg;
  evl_impl_config cfg = {.size = sizeof cfg};
  w->self = pthread_self();
  w->rc_new = w->ops->loop_new(w->ops->data, &cfg, &w->loop);
  if (w->rc_new != 0)
    return NULL;
  if (w->ops->call_soon(w->loop, s7_worker_soon, w, NULL) != 0 ||
      w->ops->call_later(w->loop, SC_MS, s7_worker_timer, w, NULL) != 0)
    w->err++;
  else
    w->rc_run = w->ops->run_forever(w->loop);
  w->rc_free = w->ops->loop_free(w->loop);
  return NULL;
}

void test_s7_loops_in_threads(evl_tctx *t) {
  s7_worker w[S7_THREADS + 1];
  pthread_t th[S7_THREADS];
  memset(w, 0, sizeof w);
  for (int i = 0; i <= S7_THREADS; i++)
    w[i].ops = OPS;
  for (int i = 0; i < S7_THREADS; i++)
    if (pthread_create(&th[i], NULL, s7_worker_main, &w[i]) != 0)
      T_FAIL(t, "pthread_create failed");
  s7_worker_main(&w[S7_THREADS]); /* the main thread runs one too */
  for (int i = 0; i < S7_THREADS; i++)
    pthread_join(th[i], NULL);
  for (int i = 0; i <= S7_THREADS; i++) {
    T_RC(t, "loop_new in a thread", 0, w[i].rc_new);
    T_EQ(t, "scheduling errors in a thread", 0, w[i].err);
    T_RC(t, "run_forever in a thread", 0, w[i].rc_run);
    T_RC(t, "loop_free in a thread", 0, w[i].rc_free);
    T_EQ(t, "call_soon callbacks run in a thread", S7_SOON, w[i].soon);
    T_EQ(t, "timers run in a thread", S7_TIMERS, w[i].timers);
    T_EQ(t, "callbacks run on a thread other than their loop's", 0,
         w[i].wrong_thread);
    T_EQ(t, "get_running_loop naming another thread's loop", 0,
         w[i].wrong_loop);
  }
}
