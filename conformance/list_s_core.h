/* list_s_core.h — the S_CORE conformance tests: S1–S5, S7–S11 (X: tests.h). */
#ifndef EVL_LIST_S_CORE_H
#define EVL_LIST_S_CORE_H

#define EVL__SC_TS EVL_IF_THREADSAFE
#define EVL__SC_ST EVL_IF_STATS
#define EVL__SC_ER EVL_IF_ERRORS
#define EVL__SC_DB EVL_IF_DEBUG
#define EVL__SC_RN EVL_IF_RUNNING

/* clang-format off */
#define EVL_TESTS_S_CORE(X)                                                    \
  X(s1_fifo_order, "S1", IMPL, 0, 0, 10,                                       \
    "1000 call_soon callbacks run in call order in one run_once")              \
  X(s1_next_iteration, "S1", IMPL, 0, 0, 10,                                   \
    "callbacks queued while a batch runs wait for the next iteration")         \
  X(s1_due_now_timer_next_iteration, "S1", IMPL, 0, 0, 10,                     \
    "a call_later(0) made while a batch runs waits for the next iteration")   \
  X(s1_no_starve_timer, "S1", IMPL, 0, 0, 10,                                  \
    "a self-rescheduling callback does not starve a 10 ms timer")              \
  X(s1_no_starve_reader, "S1", IMPL, 0, 0, 10,                                 \
    "a self-rescheduling callback does not starve a ready reader")             \
  X(s1_no_starve_both, "S1", IMPL, 0, 0, 10,                                   \
    "a self-rescheduling callback starves neither a timer nor a reader")       \
  X(s1_due_timer_behind_soon, "S1", IMPL, 0, 0, 10,                            \
    "due timers queue behind callbacks already queued")                        \
  X(s1_ready_before_due_timer, "S1", IMPL, 0, 0, 10,                          \
    "a ready reader's callback is queued before a due timer's (one iteration)")\
  X(s1_post_before_due_timer, "S1", IMPL, 0, EVL__SC_TS, 10,                   \
    "a post and a due timer of one iteration: the post is queued first")       \
  X(s1_ready_behind_soon, "S1", IMPL, 0, 0, 10,                                \
    "a ready reader's callback is queued behind callbacks already queued")     \
  X(s1_null_callback, "S1", IMPL, 0, 0, 10,                                    \
    "call_soon(NULL) gets -EINVAL and schedules nothing")                      \
  X(s2_equal_deadline_order, "S2", IMPL, 0, 0, 15,                             \
    "100 call_at timers with one deadline run in scheduling order")            \
  X(s2_equal_delay_order, "S2", IMPL, 0, 0, 15,                                \
    "100 call_later timers with one delay run in scheduling order")            \
  X(s2_deadline_order_shuffled, "S2", IMPL, 0, 0, 15,                          \
    "timers with shuffled delays run in deadline order, never early")          \
  X(s2_due_together_order, "S2", IMPL, 0, 0, 10,                              \
    "five distinct deadlines due together: one iteration, deadline order")     \
  X(s2_order_after_cancels, "S2", IMPL, 0, 0, 20,                              \
    "2000 timers, 1400 cancelled at random: the rest run once, in order")      \
  X(s2_negative_delay_order, "S2", IMPL, 0, 0, 10,                             \
    "100 negative delays are due at once and run in scheduling order")         \
  X(s2_negative_delays_clamped, "S2", IMPL, 0, 0, 10,                          \
    "zero and negative delays (down to INT64_MIN) run at once, in order")      \
  X(s2_never_early, "S2", IMPL, 0, 0, 20,                                      \
    "call_later of 1 us..100 ms never runs early (independent clock), x3")     \
  X(s2_never_early_call_at, "S2", IMPL, 0, 0, 20,                              \
    "call_at of 1 us..100 ms never runs early (independent clock), x2")        \
  X(s2_never_early_concurrent, "S2", IMPL, 0, 0, 15,                           \
    "55 concurrent timers of 1 us..100 ms, none early")                        \
  X(s2_call_at_past, "S2", IMPL, 0, 0, 10,                                     \
    "call_at in the past (0, 1, now - 1 s, now) runs in the next iteration")   \
  X(s2_null_callback, "S2", IMPL, 0, 0, 10,                                    \
    "call_later/call_at(NULL) get -EINVAL and schedule nothing")               \
  X(s2_huge_delay, "S2", IMPL, 0, 0, 10,                                       \
    "INT64_MAX / UINT64_MAX deadlines never become due now or spin the loop")  \
  X(s3_timer_10ms_waits, "S3", IMPL, 0, EVL__SC_ST, 10,                        \
    "a lone 10 ms timer needs at most 3 backend waits")                        \
  X(s3_sub_resolution_no_spin, "S3", IMPL, 0, EVL__SC_ST, 10,                  \
    "1 ns..999 us timers need at most 3 backend waits each")                   \
  X(s3_idle_sleeps, "S3", IMPL, 0, EVL__SC_ST, 10,                             \
    "200 ms idle beside an idle reader takes at most 3 waits")                 \
  X(s3_signal_no_early, "S3", IMPL, 0, 0, 10,                                  \
    "SIGUSR1 (no SA_RESTART) during a 50 ms wait: run returns 0, not early")   \
  X(s3_setitimer_no_early, "S3", IMPL, 0, 0, 10,                               \
    "SIGALRM every 3 ms during a 50 ms wait: run returns 0, not early")        \
  X(s4_cancel_pending_timer, "S4", IMPL, 0, 0, 10,                             \
    "cancelled pending timers (future and due) never run")                     \
  X(s4_cancel_pending_soon, "S4", IMPL, 0, 0, 10,                              \
    "cancelled pending call_soon callbacks never run")                         \
  X(s4_cancel_in_batch, "S4", IMPL, 0, 0, 10,                                  \
    "a callback cancelled by an earlier one of the same batch never runs")     \
  X(s4_cancel_in_batch_timer, "S4", IMPL, 0, 0, 10,                            \
    "a due timer cancelled by an earlier timer of the same batch never runs")  \
  X(s4_cancel_in_batch_mixed, "S4", IMPL, 0, 0, 10,                            \
    "a due timer cancelled by a call_soon callback of its batch never runs")   \
  X(s4_cancel_after_run, "S4", IMPL, 0, 0, 10,                                 \
    "cancel of a callback or timer that ran returns EVL_EHANDLE")              \
  X(s4_cancel_twice, "S4", IMPL, 0, 0, 10,                                     \
    "the second cancel of a handle returns EVL_EHANDLE")                       \
  X(s4_cancel_invalid_handle, "S4", IMPL, 0, 0, 10,                            \
    "cancel of handle 0 or garbage returns EVL_EHANDLE, cancels nothing")      \
  X(s4_cancel_stale_handle, "S4", IMPL, 0, 0, 10,                              \
    "a handle that ran does not cancel the callback reusing its slot")         \
  X(s4_cancel_self, "S4", IMPL, 0, 0, 10,                                      \
    "a callback cancelling its own handle gets EVL_EHANDLE, harms nothing")    \
  X(s4_cancel_keeps_equal_order, "S4", IMPL, 0, 0, 10,                         \
    "cancels keep equal-deadline order: 100 on one, 2000 on two deadlines")    \
  X(s4_cancel_many, "S4", IMPL, 0, 0, 20,                                      \
    "10 000 cancelled timers never run and leave none pending")                \
  X(s4_cancel_many_half, "S4", IMPL, 0, 0, 20,                                 \
    "cancel 5 000 of 10 000 timers: exactly the others run, once")             \
  X(s4_handles_unique, "S4", IMPL, 0, 0, 10,                                   \
    "3 000 pending handles are non-zero and distinct")                         \
  X(s4_cancel_all_then_wait, "S4", IMPL, 0, 0, 10,                            \
    "every timer cancelled, then a wait: it blocks (no spin) until a reader")  \
  X(s15_rearm_later, "S15", IMPL, 0, EVL_IF_REARM, 10,                         \
    "rearm moves a timer past another one, keeps its handle, never early")   \
  X(s15_rearm_earlier, "S15", IMPL, 0, EVL_IF_REARM, 10,                       \
    "rearm moves a timer before another one")                                \
  X(s15_rearm_equal_deadline_order, "S15", IMPL, 0, EVL_IF_REARM, 15,          \
    "re-armed timers run after equal deadlines scheduled before the re-arm") \
  X(s15_rearm_later_equal_order, "S15", IMPL, 0, EVL_IF_REARM, 10,             \
    "a timer moved later onto others' deadline keeps its re-arm order")     \
  X(s15_rearm_dead_handle, "S15", IMPL, 0, EVL_IF_REARM, 10,                   \
    "rearm of a fired, running, cancelled, call_soon or garbage handle")     \
  X(s15_rearm_due_in_batch, "S15", IMPL, 0, EVL_IF_REARM, 10,                  \
    "a due timer re-armed by an earlier callback of its batch waits")        \
  X(s15_rearm_due_by_post, "S15", IMPL, 0, EVL_IF_REARM | EVL_IF_THREADSAFE,  \
    10, "a due timer re-armed by a post in its iteration waits for the next") \
  X(s15_rearm_keeps_handle, "S15", IMPL, 0, EVL_IF_REARM, 10,                  \
    "a re-armed timer is counted once and cancelled by its handle")          \
  X(s5_time_monotonic, "S5", IMPL, 0, 0, 10,                                   \
    "evl time never decreases and never runs ahead of CLOCK_MONOTONIC")        \
  X(s5_time_refreshed_after_wait, "S5", IMPL, 0, 0, 10,                        \
    "evl time in a 20 ms timer is >= time before scheduling + 20 ms")          \
  X(s5_time_refreshed_each_iteration, "S5", IMPL, 0, 0, 10,                    \
    "evl time after a 30 ms callback is refreshed in the next iteration")      \
  X(s5_delay_from_real_time, "S5", IMPL, 0, 0, 10,                             \
    "call_later after a 30 ms callback is measured from the real time")        \
  X(s7_run_until_stop, "S7", IMPL, 0, 0, 10,                                   \
    "run_forever runs a 100-callback chain until stop, then returns 0")        \
  X(s7_stop_in_batch, "S7", IMPL, 0, 0, 10,                                    \
    "stop in a callback: the batch (reader too) finishes, new ones wait")      \
  X(s7_stop_before_run, "S7", IMPL, 0, 0, 10,                                  \
    "stop before run_forever: one iteration, no wait for a 1 s timer")         \
  X(s7_stop_before_run_idle, "S7", IMPL, 0, 0, 10,                             \
    "stop before run_forever on an idle loop returns without blocking")        \
  X(s7_nested_run, "S7", IMPL, 0, 0, 10,                                       \
    "run_forever / run_once inside a callback get -EBUSY")                     \
  X(s7_second_loop_same_thread, "S7", IMPL, 0, EVL__SC_RN, 10,                 \
    "running a second loop inside a callback of the first gets -EBUSY")        \
  X(s7_get_running_loop, "S7", IMPL, 0, EVL__SC_RN, 10,                        \
    "get_running_loop is the loop inside callbacks, NULL outside")             \
  X(s7_loops_in_threads, "S7", IMPL, 0, 0, 20,                                 \
    "four loops in four threads run their own callbacks independently")        \
  X(s8_close_while_running, "S8", IMPL, 0, 0, 10,                              \
    "loop_close / loop_free inside a callback get -EBUSY; loop goes on")       \
  X(s8_close_twice, "S8", IMPL, 0, 0, 10,                                      \
    "close twice returns 0 both times; free with or without close")            \
  X(s8_calls_after_close, "S8", IMPL, 0, 0, 10,                                \
    "every call on a closed loop returns EVL_ECLOSED")                         \
  X(s8_close_runs_nothing, "S8", IMPL, 0, 0, 10,                               \
    "close runs no queued, due, ready or posted callback")                     \
  X(s8_close_releases_fds, "S8", IMPL, 0, 0, 20,                               \
    "20 used loops closed: fd count back to before, caller's fds open")        \
  X(s8_null_loop, "S8", IMPL, 0, 0, 10,                                        \
    "every call given a NULL loop returns -EINVAL")                            \
  X(s9_posts_4096, "S9", IMPL, 0, EVL__SC_TS, 40,                              \
    "4096 threadsafe posts from a thread run once each, in order")             \
  X(s9_posts_100000, "S9", IMPL, 0, EVL__SC_TS, 40,                            \
    "100 000 posts without pause: none lost, none twice, in order")            \
  X(s9_posts_two_threads, "S9", IMPL, 0, EVL__SC_TS, 40,                       \
    "2 x 50 000 posts from two threads keep per-thread order")                 \
  X(s9_posts_paced, "S9", IMPL, 0, EVL__SC_TS, 20,                             \
    "2000 posts 0-100 us apart, many while the loop wakes: none waits")           \
  X(s9_stop_wakes_blocked_loop, "S9", IMPL, 0, EVL__SC_TS, 30,                 \
    "stop_threadsafe wakes a loop blocked with no timers")                     \
  X(s9_post_wakes_blocked_loop, "S9", IMPL, 0, EVL__SC_TS, 30,                 \
    "call_soon_threadsafe wakes a loop blocked with no timers")                \
  X(s9_post_from_loop_thread, "S9", IMPL, 0, EVL__SC_TS, 20,                   \
    "call_soon_threadsafe from the loop thread itself runs, in order")         \
  X(s9_post_before_run, "S9", IMPL, 0, EVL__SC_TS, 20,                         \
    "posts from a thread before the loop runs wait, then run in order")        \
  X(s10_report_error_handler, "S10", IMPL, 0, EVL__SC_ER, 10,                  \
    "report_error reaches the handler (code, message, arg); loop goes on")     \
  X(s10_default_handler_one_line, "S10", IMPL, 0, EVL__SC_ER, 10,              \
    "the default handler writes exactly one line on stderr")                   \
  X(s10_null_handler_restores_default, "S10", IMPL, 0, EVL__SC_ER, 10,         \
    "set_error_handler(NULL) restores the one-line default")                   \
  X(s11_slow_callback_reported, "S11", IMPL, 0, EVL__SC_DB | EVL__SC_ER, 10,   \
    "debug (config): a 60 ms callback over a 20 ms threshold: one report")     \
  X(s11_slow_callback_set_debug, "S11", IMPL, 0, EVL__SC_DB | EVL__SC_ER, 10,  \
    "debug (set_debug): a 60 ms callback over 20 ms: one report")              \
  X(s11_slow_each_call, "S11", IMPL, 0, EVL__SC_DB | EVL__SC_ER, 10,           \
    "three slow callbacks and timers among fast ones: three reports")          \
  X(s11_fast_not_reported, "S11", IMPL, 0, EVL__SC_DB | EVL__SC_ER, 10,        \
    "default 100 ms threshold: fast and 30 ms callbacks are not reported")     \
  X(s11_not_debug_not_reported, "S11", IMPL, 0, EVL__SC_DB | EVL__SC_ER, 10,   \
    "without debug mode a slow callback is not reported")                      \
  X(s11_slow_reader_reported, "S11", IMPL, 0, EVL__SC_DB | EVL__SC_ER, 10,   \
    "debug: a 60 ms reader callback over 20 ms: one report")                   \
  X(s11_slow_reader_set_debug, "S11", IMPL, 0, EVL__SC_DB | EVL__SC_ER, 10,   \
    "a reader watched before set_debug(1): its 60 ms call is reported")        \
  X(s11_foreign_thread_refused, "S11", IMPL, 0, EVL__SC_DB | EVL__SC_ER, 10,   \
    "debug: non-threadsafe calls from a foreign thread get -EPERM")
/* clang-format on */

#endif
