/* s_core_misuse.c — small misuses every implementation must answer the
 * same way: a message with a newline stays one line (S10), loop_stats from
 * a foreign thread in debug mode is refused (S11), and a closed fd above
 * any backend's fd_limit is -EBADF, not -ERANGE (S6). */
#include <errno.h>
#include <pthread.h>
#include <string.h>

#include "s_core.h"

typedef struct misuse {
  evl_tctx *t;
  evl_loop *loop;
  int rc;
} misuse;

static void misuse_report(void *arg) {
  misuse *m = arg;
  m->rc = m->t->impl->report_error(m->loop, -EIO, "first\nsecond\r\nthird");
  m->t->impl->stop(m->loop);
}

void test_s10_default_handler_newline(evl_tctx *t) {
  st_need(t, EVL_IF_ERRORS);
  misuse m = {t, st_loop(t), 1};
  T_OK(t, "call_soon", OPS->call_soon(m.loop, misuse_report, &m, NULL));
  char out[4096];
  sc_capture c;
  sc_capture_begin(t, &c);
  int rc = OPS->run_forever(m.loop);
  int n = sc_capture_end(t, &c, out, sizeof out);
  T_RC(t, "run_forever", 0, rc);
  T_RC(t, "report_error", 0, m.rc);
  int lines = 0;
  for (int i = 0; i < n; i++)
    lines += out[i] == '\n';
  if (lines != 1 || out[n - 1] != '\n')
    T_FAIL(t,
           "a message with newlines: expected one line on stderr, got %d "
           "lines: \"%.200s\"",
           lines, out);
  st_free(t, m.loop);
}

static void *misuse_stats_thread(void *arg) {
  misuse *m = arg;
  evl_loop_stats st;
  m->rc = m->t->impl->loop_stats(m->loop, &st);
  return NULL;
}

static void misuse_stats_cb(void *arg) {
  misuse *m = arg;
  pthread_t th;
  if (pthread_create(&th, NULL, misuse_stats_thread, m) == 0)
    pthread_join(th, NULL);
  m->t->impl->stop(m->loop);
}

void test_s11_stats_foreign_thread_refused(evl_tctx *t) {
  st_need(t, EVL_IF_DEBUG | EVL_IF_STATS);
  misuse m = {t, st_loop_cfg(t, EVL_LOOP_DEBUG, 0), 1};
  T_OK(t, "call_soon", OPS->call_soon(m.loop, misuse_stats_cb, &m, NULL));
  T_OK(t, "run_forever", OPS->run_forever(m.loop));
  T_RC(t, "loop_stats from another thread while the debug loop runs", -EPERM,
       m.rc);
  st_free(t, m.loop);
}

static void misuse_io(int fd, unsigned events, void *arg) {
  (void)fd, (void)events, (void)arg;
}

void test_s6_closed_fd_above_limit(evl_tctx *t) {
  evl_loop *loop = st_loop(t);
  /* 5000: above select's FD_SETSIZE and never opened by the harness. */
  T_RC(t, "add_reader of a closed fd 5000", -EBADF,
       OPS->add_reader(loop, 5000, misuse_io, NULL));
  T_RC(t, "add_writer of a closed fd 5000", -EBADF,
       OPS->add_writer(loop, 5000, misuse_io, NULL));
  st_free(t, loop);
}
