/* s_core_close.c — S8 tests: close while running, close twice, calls after
 * close, and what close releases; plus NULL-loop input. */
#include "s_core.h"

#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <unistd.h>

/* One test per process: file-level state is this test's state. */
static struct {
  evl_tctx *t;
  evl_loop *loop;
  sc_log log;
  int rc_close, rc_free;
} s8;

static void s8_log_cb(void *arg) {
  sc_log_add(&s8.log, (int)(intptr_t)arg);
}

static void s8_io_cb(int fd, unsigned events, void *arg) {
  (void)fd;
  (void)events;
  sc_log_add(&s8.log, (int)(intptr_t)arg);
}

static void s8_stop_cb(void *arg) {
  sc_log_add(&s8.log, (int)(intptr_t)arg);
  s8.t->impl->stop(s8.loop);
}

static void s8_close_inside_cb(void *arg) {
  (void)arg;
  s8.rc_close = s8.t->impl->loop_close(s8.loop);
  s8.rc_free = s8.t->impl->loop_free(s8.loop);
  T_OK(s8.t, "call_soon after a refused close",
       s8.t->impl->call_soon(s8.loop, s8_log_cb, (void *)1, NULL));
  T_OK(s8.t, "call_soon(stop) after a refused close",
       s8.t->impl->call_soon(s8.loop, s8_stop_cb, (void *)2, NULL));
}

void test_s8_close_while_running(evl_tctx *t) {
  s8.t = t;
  s8.loop = st_loop(t);
  st_watchdog(t, s8.loop, 5000);
  T_OK(t, "call_soon", OPS->call_soon(s8.loop, s8_close_inside_cb, NULL, NULL));
  /* The stop is queued by the callback itself, not timed: on a slow machine
   * a timer could be due in the very first batch. */
  sc_run(t, s8.loop);
  T_RC(t, "loop_close inside a callback", -EBUSY, s8.rc_close);
  T_RC(t, "loop_free inside a callback", -EBUSY, s8.rc_free);
  int want[] = {1, 2};
  sc_log_expect(t, "the loop kept working after the refused close", &s8.log,
                want, 2);
  st_free(t, s8.loop);
}

void test_s8_close_twice(evl_tctx *t) {
  evl_loop *loop = st_loop(t);
  T_RC(t, "first loop_close", 0, OPS->loop_close(loop));
  T_RC(t, "second loop_close", 0, OPS->loop_close(loop));
  T_RC(t, "loop_free after close", 0, OPS->loop_free(loop));
  loop = st_loop(t);
  T_RC(t, "loop_free without close", 0, OPS->loop_free(loop));
}

/* Every call on a closed loop returns EVL_ECLOSED. */
void test_s8_calls_after_close(evl_tctx *t) {
  int p[2];
  t_pipe(t, p);
  evl_loop *loop = st_loop(t);
  evl_handle h = 0;
  T_OK(t, "call_later(1 s)",
       OPS->call_later(loop, 1000 * SC_MS, s8_log_cb, NULL, &h));
  T_RC(t, "loop_close", 0, OPS->loop_close(loop));
  const int C = EVL_ECLOSED;
  T_RC(t, "call_soon after close", C,
       OPS->call_soon(loop, s8_log_cb, NULL, NULL));
  T_RC(t, "call_later after close", C,
       OPS->call_later(loop, 0, s8_log_cb, NULL, NULL));
  T_RC(t, "call_at after close", C,
       OPS->call_at(loop, 0, s8_log_cb, NULL, NULL));
  T_RC(t, "cancel after close", C, OPS->cancel(loop, h));
  T_RC(t, "add_reader after close", C,
       OPS->add_reader(loop, p[0], s8_io_cb, NULL));
  T_RC(t, "remove_reader after close", C, OPS->remove_reader(loop, p[0]));
  T_RC(t, "add_writer after close", C,
       OPS->add_writer(loop, p[1], s8_io_cb, NULL));
  T_RC(t, "remove_writer after close", C, OPS->remove_writer(loop, p[1]));
  T_RC(t, "run_forever after close", C, OPS->run_forever(loop));
  T_RC(t, "run_once after close", C, OPS->run_once(loop));
  T_RC(t, "stop after close", C, OPS->stop(loop));
  T_EQ(t, "is_running after close", 0, OPS->is_running(loop));
  if (sc_has(t, EVL_IF_THREADSAFE)) {
    T_RC(t, "call_soon_threadsafe after close", C,
         OPS->call_soon_threadsafe(loop, s8_log_cb, NULL));
    T_RC(t, "stop_threadsafe after close", C, OPS->stop_threadsafe(loop));
  }
  if (sc_has(t, EVL_IF_ERRORS)) {
    T_RC(t, "set_error_handler after close", C,
         OPS->set_error_handler(loop, NULL, NULL));
    T_RC(t, "report_error after close", C,
         OPS->report_error(loop, -EIO, "after close"));
  }
  if (sc_has(t, EVL_IF_DEBUG)) {
    T_RC(t, "set_debug after close", C, OPS->set_debug(loop, 1));
    T_RC(t, "set_slow_callback_ns after close", C,
         OPS->set_slow_callback_ns(loop, SC_MS));
  }
  if (sc_has(t, EVL_IF_STATS)) {
    evl_loop_stats s;
    T_RC(t, "loop_stats after close", C, OPS->loop_stats(loop, &s));
  }
  if (sc_has(t, EVL_IF_SIGNALS)) {
    T_RC(t, "add_signal_handler after close", C,
         OPS->add_signal_handler(loop, SIGUSR2, s8_log_cb, NULL));
    T_RC(t, "remove_signal_handler after close", C,
         OPS->remove_signal_handler(loop, SIGUSR2));
  }
  if (sc_has(t, EVL_IF_FUTURES)) {
    evl_future *f = NULL;
    T_RC(t, "future_new after close", C, OPS->future_new(loop, &f));
  }
  T_EQ(t, "callbacks run", 0, s8.log.n);
  T_RC(t, "loop_free", 0, OPS->loop_free(loop));
  t_close(p[0]);
  t_close(p[1]);
}

/* Close runs nothing that was queued, due or ready. */
void test_s8_close_runs_nothing(evl_tctx *t) {
  int p[2];
  t_pipe(t, p);
  t_write_byte(t, p[1]); /* the reader is ready, the writer too */
  evl_loop *loop = st_loop(t);
  T_OK(t, "call_soon", OPS->call_soon(loop, s8_log_cb, (void *)1, NULL));
  T_OK(t, "call_later(-1)",
       OPS->call_later(loop, -1, s8_log_cb, (void *)2, NULL));
  T_OK(t, "call_at(0)", OPS->call_at(loop, 0, s8_log_cb, (void *)3, NULL));
  T_OK(t, "add_reader", OPS->add_reader(loop, p[0], s8_io_cb, (void *)4));
  T_OK(t, "add_writer", OPS->add_writer(loop, p[1], s8_io_cb, (void *)5));
  if (sc_has(t, EVL_IF_THREADSAFE))
    T_OK(t, "call_soon_threadsafe",
         OPS->call_soon_threadsafe(loop, s8_log_cb, (void *)6));
  T_RC(t, "loop_close", 0, OPS->loop_close(loop));
  T_EQ(t, "callbacks run by close", 0, s8.log.n);
  T_RC(t, "loop_free", 0, OPS->loop_free(loop));
  T_EQ(t, "callbacks run by close and free", 0, s8.log.n);
  t_close(p[0]);
  t_close(p[1]);
}

/* Close gives back every fd the loop took, after it ran and used its
 * cross-thread wakeup, and leaves the caller's fds open. */
void test_s8_close_releases_fds(evl_tctx *t) {
  int p[2];
  t_pipe(t, p);
  int n0 = sc_fd_count();
  for (int round = 0; round < 20; round++) {
    evl_loop *loop = st_loop(t);
    T_OK(t, "add_reader", OPS->add_reader(loop, p[0], s8_io_cb, (void *)1));
    T_OK(t, "add_writer", OPS->add_writer(loop, p[1], s8_io_cb, (void *)2));
    if (sc_has(t, EVL_IF_THREADSAFE))
      T_OK(t, "call_soon_threadsafe",
           OPS->call_soon_threadsafe(loop, s8_log_cb, (void *)3));
    T_OK(t, "call_later",
         OPS->call_later(loop, SC_MS, s8_log_cb, (void *)4, NULL));
    sc_run_once(t, loop);
    T_RC(t, "loop_close (watchers still registered)", 0, OPS->loop_close(loop));
    int n1 = sc_fd_count();
    T_EQ(t, "open fds after loop_close vs before loop_new", n0, n1);
    T_RC(t, "loop_free", 0, OPS->loop_free(loop));
    T_EQ(t, "open fds after loop_free vs before loop_new", n0, sc_fd_count());
    T_TRUE(t, "the watched pipe's read end is still open after close",
           fcntl(p[0], F_GETFD) >= 0);
    T_TRUE(t, "the watched pipe's write end is still open after close",
           fcntl(p[1], F_GETFD) >= 0);
  }
  T_TRUE(t, "the writer ran at least once (else nothing was registered)",
         s8.log.n > 0);
  t_close(p[0]);
  t_close(p[1]);
}

/* A NULL loop gets -EINVAL from every call that returns a code. */
void test_s8_null_loop(evl_tctx *t) {
  const int E = -EINVAL;
  T_RC(t, "call_soon(NULL loop)", E,
       OPS->call_soon(NULL, s8_log_cb, NULL, NULL));
  T_RC(t, "call_later(NULL loop)", E,
       OPS->call_later(NULL, 0, s8_log_cb, NULL, NULL));
  T_RC(t, "call_at(NULL loop)", E,
       OPS->call_at(NULL, 0, s8_log_cb, NULL, NULL));
  T_RC(t, "cancel(NULL loop)", E, OPS->cancel(NULL, 1));
  T_RC(t, "add_reader(NULL loop)", E, OPS->add_reader(NULL, 0, s8_io_cb, NULL));
  T_RC(t, "remove_reader(NULL loop)", E, OPS->remove_reader(NULL, 0));
  T_RC(t, "add_writer(NULL loop)", E, OPS->add_writer(NULL, 1, s8_io_cb, NULL));
  T_RC(t, "remove_writer(NULL loop)", E, OPS->remove_writer(NULL, 1));
  T_RC(t, "run_forever(NULL loop)", E, OPS->run_forever(NULL));
  T_RC(t, "run_once(NULL loop)", E, OPS->run_once(NULL));
  T_RC(t, "stop(NULL loop)", E, OPS->stop(NULL));
  T_EQ(t, "is_running(NULL loop)", 0, OPS->is_running(NULL));
  if (sc_has(t, EVL_IF_THREADSAFE)) {
    T_RC(t, "call_soon_threadsafe(NULL loop)", E,
         OPS->call_soon_threadsafe(NULL, s8_log_cb, NULL));
    T_RC(t, "stop_threadsafe(NULL loop)", E, OPS->stop_threadsafe(NULL));
  }
  if (sc_has(t, EVL_IF_ERRORS)) {
    T_RC(t, "set_error_handler(NULL loop)", E,
         OPS->set_error_handler(NULL, NULL, NULL));
    T_RC(t, "report_error(NULL loop)", E, OPS->report_error(NULL, -EIO, "x"));
  }
  if (sc_has(t, EVL_IF_DEBUG)) {
    T_RC(t, "set_debug(NULL loop)", E, OPS->set_debug(NULL, 1));
    T_RC(t, "set_slow_callback_ns(NULL loop)", E,
         OPS->set_slow_callback_ns(NULL, SC_MS));
  }
  if (sc_has(t, EVL_IF_STATS)) {
    evl_loop_stats s;
    T_RC(t, "loop_stats(NULL loop)", E, OPS->loop_stats(NULL, &s));
  }
  /* Like free(NULL), closing or freeing nothing may also succeed. */
  int rc = OPS->loop_close(NULL);
  if (rc != 0 && rc != E)
    T_FAIL(t, "loop_close(NULL): expected 0 or -EINVAL, got %d (%s)", rc,
           evl_strerror(rc));
  rc = OPS->loop_free(NULL);
  if (rc != 0 && rc != E)
    T_FAIL(t, "loop_free(NULL): expected 0 or -EINVAL, got %d (%s)", rc,
           evl_strerror(rc));
  T_EQ(t, "callbacks run", 0, s8.log.n);
}
