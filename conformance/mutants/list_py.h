/* list_py.h — asyncio loops for `make check-mutants`: factories of
 * py_mutants.py (SelectorEventLoop subclasses), run by check.sh as
 * `PYTHONPATH=conformance/mutants evl-conform --impl py:py_mutants:NAME`.
 * Not compiled: check.sh reads the rows with sed, so keep
 * `X(name, PY, "rule", "filter",` and `V(name, PY,` on a row's first line.
 *
 * X(name, PY, rule, filter, what the bug is, where real loops had it): the
 * loop must fail the rule with that --filter.
 * V(name, PY, what differs, the contract's words that allow it): the loop
 * must pass the whole suite, with asyncio's declared deviations only
 * (impls/python_names.c, chosen by its selector).
 */
#ifndef EVL_MUTANTS_LIST_PY_H
#define EVL_MUTANTS_LIST_PY_H
#define EVL_PY_MUTANT_LIST(X)                                                  \
  X(soon_lifo, PY, "S1", "s1_fifo_order",                                      \
    "call_soon rotates the ready deque: newest callback first",                \
    "CabbageDevelopment/qasync#123, HaxeFoundation/haxe#12488")                \
  X(delay_from_cached, PY, "S5", "s5_delay_from_real_time",                    \
    "call_later counts from loop.time() read when the iteration began",        \
    "MagicStack/uvloop#29, dabeaz/curio#139 (stale time for relative delays)") \
  X(threadsafe_no_wake, PY, "S9", "s9_post_wakes_blocked_loop",                \
    "call_soon_threadsafe queues without _write_to_self: the select sleeps",   \
    "MagicStack/uvloop#421, python/cpython#156054 (wakeup write lost)")        \
  X(remove_keeps_key, PY, "S6", "s6_dup_removed_no_spin",                      \
    "remove_reader drops the callback, keeps the selector key: select spins",  \
    "MagicStack/uvloop#61 (fd left in epoll after remove_reader: 100% CPU)")   \
  X(timer_cancel_ignored, PY, "S4", "s4_cancel_pending_timer",                 \
    "TimerHandle.cancel does nothing: the timer stays in the heap and runs",   \
    "chenshuo/muduo#668 (timer callbacks run after cancel)")                   \
  X(stop_cleared, PY, "S7", "s7_stop_before_run",                              \
    "run_forever clears a stop() asked before it and runs on",                 \
    "python/cpython#88391 (asks run_forever to forget an earlier stop)")       \
  X(wall_time, PY, "S5", "s5_time_monotonic",                                  \
    "time() is time.time(): wall clock, steps with settimeofday",              \
    "eventlet/eventlet#270, twisted/twisted#2424")                             \
  X(closed_fd_accepted, PY, "S6", "s6_invalid_fd",                             \
    "add_reader swallows the selector's EBADF: a closed fd is accepted",       \
    "PollSelector does it (py-asyncio-poll's declared s6_invalid_fd)")         \
  X(handler_ignored, PY, "S10", "s10_report_error_handler",                    \
    "call_exception_handler always calls the default handler",                 \
    "erdewit/nest_asyncio#6 (a patched loop ignores the handler set)")         \
  X(ruc_stopped_returns, PY, "S13", "s13_py_ruc_stopped_early",                \
    "run_until_complete returns None when the loop stopped first",             \
    "beeware/gbulb#10, python/cpython#74608")                                  \
  X(callbacks_inline, PY, "S13", "s13_py_callbacks_deferred",                  \
    "create_future's Future calls its done-callbacks inside set_result",       \
    "done-callbacks run synchronously by a Future subclass of the loop")       \
  X(ruc_swallows_error, PY, "S13", "s13_py_ruc_result",                        \
    "run_until_complete reports the future's exception and returns None",      \
    "a failed future's status lost (S13: returns its status)")                 \
  X(foreign_accepted, PY, "S13", "s13_py_foreign_future",                      \
    "run_until_complete polls another loop's future instead of refusing it",   \
    "the loop check asyncio.ensure_future makes, skipped")                     \
  X(executor_inline, PY, "S14", "s14_py_executor_loop_thread",                 \
    "run_in_executor calls fn inline, on the loop thread",                     \
    "an executor stand-in that runs the job in the caller")                    \
  X(executor_off_loop, PY, "S14", "s14_py_executor_loop_thread",               \
    "run_in_executor's future is completed on the worker thread",              \
    "set_result called from the worker, not via call_soon_threadsafe")         \
  X(executor_no_wake, PY, "S14", "s14_py_ruc_executor",                        \
    "the worker queues the result with call_soon: the idle loop sleeps on",    \
    "MagicStack/uvloop#421's lost wake-up, for executor completions")
#define EVL_PY_VARIANT_LIST(V)                                                 \
  V(poll_selector, PY, "SelectorEventLoop on selectors.PollSelector",          \
    "py-asyncio-poll's deviations (s6_invalid_fd: poll() takes any number)")
#endif
