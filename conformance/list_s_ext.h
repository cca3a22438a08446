/* list_s_ext.h — the S_EXT conformance tests: signals (S12), futures (S13),
 * executor (S14); see tests.h for the X signature. */
#ifndef EVL_LIST_S_EXT_H
#define EVL_LIST_S_EXT_H
#define EVL_TESTS_S_EXT(X)                                                     \
  X(s12_signal_once, "S12", IMPL, 0, EVL_IF_SIGNALS, 10,                       \
    "one signal during a blocking wait runs the handler once, on the loop "    \
    "thread")                                                                  \
  X(s12_signal_burst, "S12", IMPL, 0, EVL_IF_SIGNALS, 10,                      \
    "ten signals back to back give between 1 and 10 calls")                    \
  X(s12_two_deliveries_one_batch, "S12", IMPL, 0, EVL_IF_SIGNALS, 10,          \
    "two deliveries inside one callback give 1 or 2 calls (merged or not)")    \
  X(s12_remove_restores, "S12", IMPL, 0, EVL_IF_SIGNALS, 10,                   \
    "remove restores the previous disposition (own handler and SIG_DFL)")      \
  X(s12_close_restores, "S12", IMPL, 0, EVL_IF_SIGNALS, 10,                    \
    "close removes every handler and restores every disposition")              \
  X(s12_two_loops, "S12", IMPL, 0, EVL_IF_SIGNALS, 10,                         \
    "two loops both get a signal; closing one leaves the other watching")      \
  X(s12_invalid_signal, "S12", IMPL, 0, EVL_IF_SIGNALS, 10,                    \
    "invalid numbers, SIGKILL, SIGSTOP and NULL callbacks get -EINVAL")        \
  X(s12_unwatchable_enotsup, "S12", IMPL, 0, EVL_IF_SIGNALS, 10,               \
    "each valid signal is watched and restored, or refused with -ENOTSUP")     \
  X(s13_callbacks_deferred, "S13", IMPL, 0, EVL_IF_FUTURES, 10,                \
    "done-callbacks never run inside set_result or add_done_callback")         \
  X(s13_set_twice, "S13", IMPL, 0, EVL_IF_FUTURES, 10,                         \
    "a done future refuses set/cancel with -EINVAL; its callback runs once")   \
  X(s13_cancel_then_set, "S13", IMPL, 0, EVL_IF_FUTURES, 10,                   \
    "a cancelled future refuses set with -EINVAL; result is -ECANCELED")       \
  X(s13_ruc_timer, "S13", IMPL, 0, EVL_IF_FUTURES, 10,                         \
    "run_until_complete on a future completed by a timer")                     \
  X(s13_ruc_error, "S13", IMPL, 0, EVL_IF_FUTURES, 10,                         \
    "run_until_complete returns the future's error code")                      \
  X(s13_ruc_threadsafe, "S13", IMPL, 0, EVL_IF_FUTURES | EVL_IF_THREADSAFE,    \
    10, "run_until_complete on a future completed by a threadsafe post")       \
  X(s13_ruc_foreign_busy, "S13", IMPL, 0, EVL_IF_FUTURES, 10,                  \
    "another loop's future gets EVL_EFOREIGN, a running loop -EBUSY")          \
  X(s13_ruc_stopped_early, "S13", IMPL, 0, EVL_IF_FUTURES, 10,                 \
    "stopped before the future is done, run_until_complete returns -EAGAIN")   \
  X(s14_ruc_executor, "S14", IMPL, 0, EVL_IF_EXECUTOR | EVL_IF_FUTURES, 20,    \
    "run_until_complete waits for an executor job and returns its status")     \
  X(s14_loop_thread, "S14", IMPL, 0, EVL_IF_EXECUTOR | EVL_IF_FUTURES, 20,     \
    "fn runs on a worker; the future completes on the loop thread")            \
  X(s14_close_in_flight, "S14", IMPL, 0, EVL_IF_EXECUTOR | EVL_IF_FUTURES, 20, \
    "close with jobs in flight joins workers and calls nothing after")         \
  X(s14_thousand_jobs, "S14", IMPL, 0, EVL_IF_EXECUTOR | EVL_IF_FUTURES, 30,   \
    "1 000 executor jobs each run once and complete once")                     \
  X(s14_cancel_before_start, "S14", IMPL, 0, EVL_IF_EXECUTOR | EVL_IF_FUTURES, \
    20,                                                                        \
    "a job cancelled before it started never runs; its future is cancelled")
#endif
