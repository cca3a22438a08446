/* s_py_own.c — S13 and S14 on a Python loop's own futures,
 * run_until_complete and run_in_executor: the ops table's futures and
 * executor are evlab's (impls/python.c), so each test runs a check the py
 * module exports (impls/python_own.c) on its loop. */
#include <errno.h>

#include "core/module.h"
#include "harness.h"
#include "impls/python_own.h"

/* The table, when the module that holds the implementation's ops is the
 * py module; NULL for every other implementation (the reference core is
 * in this binary, which exports none). */
static const evl_py_own_table *spo_table(const evl_impl_ops *ops) {
  return ops ? evl__module_symbol_of((void *)ops->loop_new, EVL_PY_OWN_SYMBOL)
             : NULL;
}

/* Runs the check on a new loop; its FAIL line (at the test's own line)
 * names the check's condition, what the rule expects and what the loop
 * did. */
#define SPO_CHECK(t, check) spo_check((t), (check), __LINE__)
static void spo_check(evl_tctx *t, const char *check, int line) {
  const evl_py_own_table *tab = spo_table(OPS);
  if (!tab)
    T_SKIP(t, "not a Python loop: this checks a Python loop's own API");
  evl_loop *loop = st_loop(t);
  evl_py_own_result r;
  int rc = tab->run(OPS, loop, check, &r);
  if (rc == -ENOTSUP)
    T_SKIP(t, "not a Python loop: the py module does not own this table");
  if (rc < 0)
    evl_t_fail(t, __FILE__, line,
               "check %s could not run: expected 0 or 1, got %d (%s)", check,
               rc, evl_strerror(rc));
  if (rc == 1)
    evl_t_fail(t, __FILE__, line, "%s: expected %s, got %s [check %s]",
               r.condition, r.expected, r.actual, check);
  st_free(t, loop);
}

/* S13: add_done_callback on loop.create_future()'s future, before and
 * after set_result: neither runs inside either call; each runs on the
 * running loop in call_soon's order, queued when the future was done (A,
 * between a call_soon made before set_result and one made after) or when
 * added to the done future (B, after both). */
void test_s13_py_callbacks_deferred(evl_tctx *t) {
  SPO_CHECK(t, "callbacks_deferred");
}

/* S13 (-EAGAIN when stopped first): a callback stops the loop before the
 * future is done, or stop() is called just before: run_until_complete
 * raises RuntimeError, the future stays pending (beeware/gbulb#10:
 * returned None). */
void test_s13_py_ruc_stopped_early(evl_tctx *t) {
  SPO_CHECK(t, "ruc_stopped_early");
}

/* S13: run_until_complete returns the result a timer, another thread's
 * call_soon_threadsafe or a coroutine gives the future (that object), and
 * raises the exception a timer sets (that object). */
void test_s13_py_ruc_result(evl_tctx *t) {
  SPO_CHECK(t, "ruc_result");
}

/* S13 (EVL_EFOREIGN): a done future of another loop makes
 * run_until_complete raise before the loop runs a callback; a task of this
 * loop awaiting another loop's future gets an exception. */
void test_s13_py_foreign_future(evl_tctx *t) {
  SPO_CHECK(t, "foreign_future");
}

/* S14: loop.run_in_executor(None, fn) returns a future of this loop; fn
 * runs on another thread; the future is not done while the loop thread is
 * busy 200 ms after fn returned (it completes on the loop thread), and its
 * done-callback runs on the loop thread. */
void test_s14_py_executor_loop_thread(evl_tctx *t) {
  SPO_CHECK(t, "executor_loop_thread");
}

/* S14: run_until_complete on run_in_executor's future, nothing else on the
 * loop: it waits for the 100 ms job (the worker's completion wakes the
 * loop) and returns fn's result, or raises fn's exception. */
void test_s14_py_ruc_executor(evl_tctx *t) {
  SPO_CHECK(t, "ruc_executor");
}
