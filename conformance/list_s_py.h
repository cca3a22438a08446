/* list_s_py.h — S13 and S14 on a Python loop's own API (create_future,
 * add_done_callback, run_until_complete, run_in_executor): each runs a
 * check of impls/python_own.c, and is SKIP on loops that are not Python
 * loops; see tests.h for the X signature. */
#ifndef EVL_LIST_S_PY_H
#define EVL_LIST_S_PY_H
#define EVL_TESTS_S_PY(X)                                                      \
  X(s13_py_callbacks_deferred, "S13", IMPL, 0, 0, 10,                          \
    "Python loop: a future's done-callbacks are queued by call_soon, never "   \
    "run inside set_result or add_done_callback")                              \
  X(s13_py_ruc_stopped_early, "S13", IMPL, 0, 0, 10,                           \
    "Python loop: run_until_complete raises RuntimeError when the loop "       \
    "stops before the future is done")                                         \
  X(s13_py_ruc_result, "S13", IMPL, 0, 0, 10,                                  \
    "Python loop: run_until_complete returns the future's result, raises "     \
    "its exception")                                                           \
  X(s13_py_foreign_future, "S13", IMPL, 0, 0, 10,                              \
    "Python loop: another loop's future is refused by run_until_complete "     \
    "and by await")                                                            \
  X(s14_py_executor_loop_thread, "S14", IMPL, 0, 0, 20,                        \
    "Python loop: run_in_executor runs fn on a worker; the future "            \
    "completes on the loop thread")                                            \
  X(s14_py_ruc_executor, "S14", IMPL, 0, 0, 20,                                \
    "Python loop: run_until_complete waits for run_in_executor's job, "        \
    "returns its result or raises its exception")
#endif
