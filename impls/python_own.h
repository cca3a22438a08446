/* python_own.h — the table the py module exports so that conformance
 * tests can check a Python loop's own futures, run_until_complete and
 * run_in_executor (impls/python_own.c, driven by conformance/s_py_own.c). */
#ifndef EVL_IMPLS_PYTHON_OWN_H
#define EVL_IMPLS_PYTHON_OWN_H

#include <stddef.h>

#include <evl/impl.h>

/* Found with dlsym in the module that holds an implementation's ops:
 * absent, the implementation is not a Python loop. */
#define EVL_PY_OWN_SYMBOL "evl_py_own_api"

/* What a failed check saw: the condition, then expected and actual. */
typedef struct evl_py_own_result {
  char condition[400];
  char expected[200];
  char actual[400];
} evl_py_own_result;

typedef struct evl_py_own_table {
  /* Runs the Python check `name` ("callbacks_deferred", …: the check_*
   * functions of python_own.c) on the Python loop of `loop`, an idle loop
   * made by ops->loop_new, from the thread that would run it. 0 when the
   * check passed, 1 when it failed (out says how; a check that raises
   * fails with the exception as actual), -ENOTSUP when ops is not one of
   * this module's tables, -ENOENT for an unknown name, else -errno. */
  int (*run)(const evl_impl_ops *ops, evl_loop *loop, const char *name,
             evl_py_own_result *out);
} evl_py_own_table;

#endif
