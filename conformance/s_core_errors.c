/* s_core_errors.c — S10 tests: report_error, the error handler, and the
 * default handler's one line on stderr. */
#include "s_core.h"

#include <stdint.h>
#include <string.h>

/* One test per process: file-level state is this test's state. */
static struct {
  evl_tctx *t;
  evl_loop *loop;
  sc_log log;
  sc_errs errs;
  int rc[4];
} s10;

#define S10_MARK "evl-conform-s10-marker"

static void s10_report_cb(void *arg) {
  int i = (int)(intptr_t)arg;
  static const int codes[] = {-EIO, -ENOSPC, EVL_EHANDLE};
  s10.rc[i] = s10.t->impl->report_error(s10.loop, codes[i], S10_MARK);
  sc_log_add(&s10.log, i);
}

static void s10_stop_cb(void *arg) {
  sc_log_add(&s10.log, (int)(intptr_t)arg);
  s10.t->impl->stop(s10.loop);
}

static void s10_setup(evl_tctx *t) {
  st_need(t, EVL_IF_ERRORS);
  s10.t = t;
  s10.loop = st_loop(t);
  st_watchdog(t, s10.loop, 5000);
}

void test_s10_report_error_handler(evl_tctx *t) {
  s10_setup(t);
  T_OK(t, "set_error_handler",
       OPS->set_error_handler(s10.loop, sc_err_handler, &s10.errs));
  for (int i = 0; i < 3; i++)
    T_OK(t, "call_soon",
         OPS->call_soon(s10.loop, s10_report_cb, (void *)(intptr_t)i, NULL));
  T_OK(t, "call_later",
       OPS->call_later(s10.loop, SC_MS, s10_stop_cb, (void *)3, NULL));
  sc_run(t, s10.loop);
  int want[] = {0, 1, 2, 3};
  sc_log_expect(t, "callbacks run (the loop kept running after errors)",
                &s10.log, want, 4);
  for (int i = 0; i < 3; i++)
    T_RC(t, "report_error", 0, s10.rc[i]);
  T_EQ(t, "error handler calls", 3, s10.errs.n);
  T_RC(t, "first reported code", -EIO, s10.errs.codes[0]);
  T_RC(t, "second reported code", -ENOSPC, s10.errs.codes[1]);
  T_RC(t, "third reported code", EVL_EHANDLE, s10.errs.codes[2]);
  for (int i = 0; i < 3; i++) {
    if (strcmp(s10.errs.messages[i], S10_MARK) != 0)
      T_FAIL(t, "reported message %d: expected \"%s\", got \"%s\"", i, S10_MARK,
             s10.errs.messages[i]);
    T_TRUE(t, "handler got its own argument",
           s10.errs.args[i] == (void *)&s10.errs);
  }
  st_free(t, s10.loop);
}

/* Counts the lines in what the default handler wrote. */
static void s10_expect_one_line(evl_tctx *t, const char *out, int n) {
  int lines = 0;
  for (int i = 0; i < n; i++)
    lines += out[i] == '\n';
  if (lines != 1 || n == 0 || out[n - 1] != '\n')
    T_FAIL(t,
           "default error handler: expected one line on stderr, got %d "
           "bytes in %d lines: \"%.200s\"",
           n, lines, out);
  if (!strstr(out, S10_MARK))
    T_FAIL(t, "default error handler line lacks the message: \"%.200s\"", out);
}

static void s10_default(evl_tctx *t, int set_then_reset) {
  s10_setup(t);
  if (set_then_reset) {
    T_OK(t, "set_error_handler",
         OPS->set_error_handler(s10.loop, sc_err_handler, &s10.errs));
    T_OK(t, "set_error_handler(NULL)",
         OPS->set_error_handler(s10.loop, NULL, NULL));
  }
  T_OK(t, "call_soon",
       OPS->call_soon(s10.loop, s10_report_cb, (void *)0, NULL));
  T_OK(t, "call_soon", OPS->call_soon(s10.loop, s10_stop_cb, (void *)1, NULL));
  char out[4096];
  sc_capture c;
  sc_capture_begin(t, &c);
  int rc = OPS->run_forever(s10.loop);
  int n = sc_capture_end(t, &c, out, sizeof out);
  T_RC(t, "run_forever", 0, rc);
  T_RC(t, "report_error", 0, s10.rc[0]);
  int want[] = {0, 1};
  sc_log_expect(t, "callbacks run", &s10.log, want, 2);
  T_EQ(t, "calls of the handler that was replaced by NULL", 0, s10.errs.n);
  s10_expect_one_line(t, out, n);
  st_free(t, s10.loop);
}

void test_s10_default_handler_one_line(evl_tctx *t) {
  s10_default(t, 0);
}

void test_s10_null_handler_restores_default(evl_tctx *t) {
  s10_default(t, 1);
}
