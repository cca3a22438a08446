/* list_mutants.h — loops with one deliberate bug each (mutant_loop.c), one
 * row per mutant: the sample loop with that bug must fail the named rule.
 * `make check-mutants` builds build/mutants/mutant_NAME.so with
 * -DMUTANT=NAME and runs `evl-conform --impl it --filter FILTER`.
 *
 * X(name, base, rule, filter, what the bug is, where real loops had it)
 *
 * base: SAMPLE, the sample loop (mutant_loop.c), or REF, the reference core
 * on epoll (mutant_ref.c) for the parts the sample lacks, or BACKEND, a
 * backend plugin (epoll wrapped by mutant_backend.c) run with
 * `evl-conform --backend it --filter FILTER`, or URING, the same wrapping
 * the io_uring backend, whose ring the proactor's engine shares through the
 * wrapper: run with EVL_PROACTOR=uring for the P-rules. Keep
 * `X(name, BASE, "rule", "filter",` on the row's first line: the Makefile
 * and check.sh read the rows with sed.
 */
#ifndef EVL_MUTANTS_LIST_H
#define EVL_MUTANTS_LIST_H
#define EVL_MUTANT_LIST(X)                                                     \
  X(timer_early_ms, SAMPLE, "S2", "s2_never_early*",                           \
    "deadline rounded down to the millisecond: fires up to 1 ms early",        \
    "libuv#4773, libuv#1105, uvloop#739")                                      \
  X(equal_lifo, SAMPLE, "S2", "s2_equal_*",                                    \
    "equal deadlines run last scheduled first",                                \
    "symmetryinvestments/concurrency#35, LadybirdBrowser/ladybird#6260")       \
  X(soon_same_batch, SAMPLE, "S1", "s1_next_iteration",                        \
    "a callback queued while a batch runs joins that batch",                   \
    "libuv#4245 (a 0 ms timer started in a timer callback)")                   \
  X(cancel_queued_timer, SAMPLE, "S4", "s4_cancel_in_batch_timer",             \
    "cancel of a due timer already queued in the batch is ignored", "")        \
  X(stale_handle_cancel, SAMPLE, "S4", "s4_cancel_stale_handle",               \
    "cancel ignores the handle's generation: hits the slot's new owner", "")   \
  X(removed_reader_called, SAMPLE, "S6", "s6_remove_other_in_batch",           \
    "an I/O event keeps the callback seen at collection; removal misses it",   \
    "")                                                                        \
  X(remove_returns_1, SAMPLE, "S6", "s6_remove_returns",                       \
    "remove_reader/remove_writer return 1 with nothing there",                 \
    "uvloop 0.17 returns None either way (impls/python_uvloop_bugs.md #1)")    \
  X(threadsafe_no_wake, SAMPLE, "S9", "s9_post_wakes_blocked_loop",            \
    "call_soon_threadsafe queues without waking the wait",                     \
    "facebook/folly#2559, MagicStack/uvloop#421")                              \
  X(time_not_refreshed, SAMPLE, "S5", "s5_time_refreshed_after_wait",          \
    "time() is the value read when run began, not refreshed after waits", "")  \
  X(delay_from_cached, SAMPLE, "S5", "s5_delay_from_real_time",                \
    "call_later measures the delay from the cached loop time",                 \
    "joyent/libuv#1164, node-v0.x-archive#6147")                               \
  X(stop_mid_batch, SAMPLE, "S7", "s7_stop_in_batch",                          \
    "stop() ends the batch at once; the rest waits for the next run", "")      \
  X(rearm_new_handle, SAMPLE, "S15", "s15_rearm_keeps_handle",                 \
    "rearm is cancel plus a new timer: the old handle is dead", "")            \
  X(heap_down_only, SAMPLE, "S2", "s2_order_after_cancels",                    \
    "cancel fills the heap hole with the last timer, sifted down only",        \
    "joyent/libuv#1284, lf-lang/reactor-uc#395")                               \
  X(timers_before_io, SAMPLE, "S1", "s1_ready_before_due_timer",               \
    "due timers are queued before the ready watchers of the iteration", "")    \
  X(oneshot_reader, SAMPLE, "S6", "s6_reader_level_triggered",                 \
    "a reader is reported once, until added again", "")                        \
  X(io_no_generation, SAMPLE, "S6", "s6_replace*",                             \
    "an I/O event calls whichever callback the fd has when it runs", "")       \
  X(posts_lifo, SAMPLE, "S9", "s9_posts_4096",                                 \
    "posts waiting are taken newest first", "")                                \
  X(nested_run_ok, SAMPLE, "S7", "s7_nested_run",                              \
    "run inside a callback returns 0 at once instead of -EBUSY",               \
    "re-entrant runs: erdewit/nest_asyncio#17")                                \
  X(close_leaks_fd, SAMPLE, "S8", "s8_close_releases_fds",                     \
    "close leaves a duplicate of the wake pipe open",                          \
    "Qihoo360/evpp#23, nats-io/nats.c#376")                                    \
  X(call_soon_after_close, SAMPLE, "S8", "s8_calls_after_close",               \
    "call_soon on a closed loop returns 0 instead of EVL_ECLOSED", "")         \
  X(idle_spin, SAMPLE, "S3", "s3_idle_sleeps",                                 \
    "with any fd watched, the wait never blocks (polls with timeout 0)", "")   \
  X(report_error_swallowed, SAMPLE, "S10", "s10_report_error_handler",         \
    "report_error returns 0 and never reaches the handler", "")                \
  X(signal_once, REF, "S12", "s12_two_loops",                                  \
    "a signal handler runs for the first delivery only",                       \
    "libuv#1106 (SA_RESETHAND one-shot mode)")                                 \
  X(future_sync_done, REF, "S13", "s13_callbacks_deferred",                    \
    "done-callbacks run inside set_result / set_error / cancel",               \
    "concurrent.futures does it (agronholm/pythonfutures#86)")                 \
  X(ruc_stopped_silent, REF, "S13", "s13_ruc_stopped_early",                   \
    "run_until_complete returns 0 when the loop stopped first",                \
    "beeware/gbulb#10, python/cpython#74608")                                  \
  X(executor_inline, REF, "S14", "s14_loop_thread",                            \
    "run_in_executor runs the job inline on the loop thread", "")              \
  X(slow_reported_once, REF, "S11", "s11_slow_each_call",                      \
    "only the first slow callback of a loop is reported", "")                  \
  X(after_fork_noop, REF, "S16", "s16_*",                                      \
    "loop_after_fork returns 0 and rebuilds nothing", "")                      \
  X(timeout_round_down, SAMPLE, "S3", "s3_sub_resolution_no_spin",             \
    "the time to the next timer truncated to ms: polls of 0 until it is due",  \
    "python/asyncio#106, tokio-rs/mio#1614, smol-rs/smol#109")                 \
  X(eintr_full_timeout, SAMPLE, "S3", "s3_s*_no_early",                        \
    "a poll interrupted by a signal restarts with its first timeout",          \
    "capnproto/capnproto#580, oven-sh/bun#34780")                              \
  X(hup_writer_deaf, SAMPLE, "S6", "s6_hangup_wakes_both",                     \
    "a hang-up or error without POLLOUT wakes the reader only",                \
    "tokio-rs/tokio-core#274, LadybirdBrowser/ladybird#7417")                  \
  X(stop_cleared, SAMPLE, "S7", "s7_stop_before_run",                          \
    "run_forever clears a stop requested before it: it runs on",               \
    "libuv/libuv#4430 (stop_flag reset before uv_run), neovim/neovim#37984")   \
  X(rearm_keeps_seq, SAMPLE, "S15", "s15_rearm_equal_deadline_order",          \
    "a re-armed timer keeps its first scheduling order among equal deadlines", \
    "joyent/libuv#701 (equal timeouts run in start order; a restart starts)")  \
  X(doorbell_after_take, SAMPLE, "S9", "s9_posts_paced",                       \
    "posts taken before the wake pipe is drained: a post in between is lost",  \
    "dbmail/dbmail#559 (lost wakeup in cb_queue_drain)")                       \
  X(call_soon_inline, SAMPLE, "P1", "p1_exactly_once",                         \
    "call_soon outside a running loop runs the callback inside the caller",    \
    "microsoft/FASTER#155, joyent/libuv#34 (synchronous completions)")         \
  X(lifo_slot, REF, "T1", "t1_f*",                                             \
    "a callback queued by a running one runs right after it, same batch",      \
    "tokio-rs/tokio#2349, tokio-rs/tokio#5712 (the LIFO slot)")                \
  X(remove_resets_default, REF, "S12", "s12_remove_restores",                  \
    "remove_signal_handler puts back SIG_DFL, not what was there before",      \
    "libuv/libuv#2435, KjellKod/g3log#253")                                    \
  X(self_cancel_drops_batch, SAMPLE, "S4", "s4_cancel_self",                   \
    "a callback cancelling its own handle ends the batch; the rest is lost",   \
    "nodejs/node#9086 (clearImmediate in its own callback)")                   \
  X(one_per_iteration, REF, "T1", "t1_yield_one_iteration",                    \
    "call_soon callbacks run one per iteration, the rest wait",                \
    "nodejs/node-v0.x-archive#5835 (setImmediate: one callback per turn)")     \
  X(signal_last_loop, REF, "S12", "s12_two_loops",                             \
    "a loop adding a signal handler takes the signal from every other loop",   \
    "python/cpython#11145 (one set_wakeup_fd), vibe-d/eventcore#113")          \
  X(executor_cancel_ignored, REF, "S14", "s14_cancel_before_start",            \
    "a job cancelled before a worker took it is run anyway",                   \
    "noxdafox/pebble#33 (tasks are still run after being cancelled)")          \
  X(close_runs_queue, REF, "T6", "t6_nothing_after_close",                     \
    "loop close first runs one last iteration of what is queued",              \
    "libuv/libuv#299 (process closing handles in uv_loop_close, refused)")     \
  X(ready_cap_lowest, SAMPLE, "S6", "s6_many_ready_all_called",                \
    "at most 4 ready fds taken per wait, always the lowest numbers",           \
    "3cky/mbusd#52 (a ready socket never read), valkey-io/valkey#3927")        \
  X(read_off_drops_writer, SAMPLE, "S6", "s6_reader_writer_same_fd",           \
    "remove_reader deletes the fd's whole registration, its writer too",       \
    "hivesolutions/netius#82 (disable_read drops write interest)")             \
  X(held_back_kept, BACKEND, "K6", "k6_*",                                     \
    "entries taken beyond cap wait for the next wait; delete leaves them",     \
    "creytiv/re#266, redis/redis#4877 (events of a closed, reused fd)")        \
  X(hup_reader_only, BACKEND, "K5", "k5_*",                                    \
    "a hang-up or error is a read event: a writer gets nothing",               \
    "apple/swift-nio#277, wingo/fibers#19 (EPOLLHUP mishandled)")              \
  X(delete_enoent_ok, BACKEND, "K1", "k1_delete_unregistered",                 \
    "deleting an fd that is not registered returns 0, not -ENOENT",            \
    "oven-sh/bun#31821, ehsanmok/flare#10 (ENOENT taken as success)")          \
  X(timeout_floor_ms, BACKEND, "K2", "k2_*",                                   \
    "wait timeouts rounded down to whole ms: early, sub-ms ones poll 0",       \
    "rakshasa/libtorrent#757, oven-sh/bun#34780 (epoll_pwait fallback)")       \
  X(submillis_spin, BACKEND, "K2", "k2_no_spin_in_wait",                       \
    "whole-ms waits to the deadline: a sub-ms remainder retried at 0",         \
    "python/asyncio#106, smol-rs/smol#109 (sub-ms timeouts busy-loop)")        \
  X(deadline_overflow, BACKEND, "K2", "k2_extreme_timeouts",                   \
    "now + timeout wraps for a huge timeout: the wait returns at once",        \
    "tokio-rs/tokio#3551 (Instant + Duration::MAX), PX4/PX4-Autopilot#12031")  \
  X(et_always, BACKEND, "K3", "k3_*",                                          \
    "every registration edge-triggered: unread data reported once",            \
    "mtcp-stack/mtcp#297 (level-triggered events forgotten)")                  \
  X(cap_drop_rest, BACKEND, "K4", "k4_*",                                      \
    "a batch larger than cap is cut: the same fds come first every wait",      \
    "ofiwg/libfabric#3221, gramineproject/gramine#340 (maxevents starves)")    \
  X(split_directions, BACKEND, "K4", "k4_one_entry_per_fd",                    \
    "an fd ready both ways comes back as two entries, one per direction",      \
    "python/cpython#110039 (KqueueSelector: one entry per filter)")            \
  X(wake_entry_counted, BACKEND, "K5", "k*",                                   \
    "the wake eventfd's entry dropped but counted: a stale entry reported",    \
    "redis/redis#15446 (select backend counted fds that were not ready)")      \
  X(wake_drained_first, BACKEND, "K2", "k2_wake_before_wait",                  \
    "wait empties the wake eventfd before it polls: an early wake() is lost",  \
    "netty/netty#8644, netty/netty#578 (wakenUp set too early: wake lost)")    \
  X(fork_shared, BACKEND, "K8", "k8_*",                                        \
    "after_fork keeps the parent's epoll: the child's ctl changes it",         \
    "OpenSmalltalk/opensmalltalk-vm#552, eventlet/eventlet#68")                \
  X(fd_limit_off_by_one, BACKEND, "K7", "k7_*",                                \
    "fd_limit 1024 checked with > instead of >=: fd 1024 is accepted",         \
    "cesanta/mongoose#90, brazilofmux/tinymux#946 (FD_SET past FD_SETSIZE)")   \
  X(executor_blocks_loop, REF, "T5", "t5_*",                                   \
    "run_in_executor waits for the job's end: the loop stands still",          \
    "equinor/ert#4385 (a new executor per call: shutdown waits, loop blocks)") \
  X(foreign_soon_queued, REF, "S11", "s11_foreign_thread_refused",             \
    "call_soon from a foreign thread queued thread-safely, not refused",       \
    "Kludex/zuvloop#160, python/asyncio#154 (no thread check in call_soon)")   \
  X(ctl_warns, BACKEND, "K12", "k12_*",                                        \
    "a failed ctl is also told on stderr, as libevent's event_warn does",      \
    "reactphp/stream#31 ([warn] Epoll ADD(1) on fd 6 failed, regular file)")   \
  X(after_fork_deletes, BACKEND, "S16", "s16_*",                               \
    "after_fork deletes every registration from the shared epoll first",       \
    "OpenSmalltalk/opensmalltalk-vm#550 (aioDisable after fork: parent hit)")  \
  X(fixed_fd_table, BACKEND, "K9", "k9_*",                                     \
    "an 8192-entry fd table behind fd_limit 0: fd 8192 and up refused",        \
    "yinqiwen/ardb#68, redis/redis#8225 (fds past the event loop's setsize)")  \
  X(cancel_no_callbacks, REF, "T4", "t4_wait_for_future_timeout",              \
    "cancelling a future drops its done-callbacks: its awaiters never hear",   \
    "qcoro/qcoro#288, dask/distributed#1438 (waiters of a cancel hang)")       \
  X(cancel_soon_ignored, REF, "T3", "t3_cancel_yield_step_gone",               \
    "cancel of a call_soon callback already queued returns 0, it runs anyway", \
    "")                                                                        \
  X(oneshot_writer, REF, "T7", "t7_sock_send_recv",                            \
    "a writer is reported once, then disarmed until it is added again",        \
    "mtcp-stack/mtcp#297 (one event per writable socket), "                    \
    "pjsip/pjproject#3018")                                                    \
  X(eof_as_reset, URING, "P6", "p6_*",                                         \
    "a recv CQE of 0 (end of stream) handed on as -ECONNRESET",                \
    "xtaci/smux#6 (a clean close read as errConnReset), wg/wrk#105")           \
  X(reset_as_eof, URING, "P7", "p7_*",                                         \
    "a recv CQE of -ECONNRESET handed on as 0, an orderly end of stream",      \
    "oven-sh/bun#39600 (ECONNRESET folded into eof), wahern/cqueues#97")       \
  X(short_send_whole, URING, "P4", "p4_*",                                     \
    "a send CQE shorter than the request handed on as the whole length",       \
    "axboe/liburing#78 (a short send is the caller's to resubmit)")            \
  X(accept_blocking, URING, "P8", "p8_accept_connect",                         \
    "accept SQEs entered without SOCK_NONBLOCK | SOCK_CLOEXEC",                \
    "libressl/portable#1323 (accept4 drops SOCK_NONBLOCK), "                   \
    "compio-rs/compio#400")                                                    \
  X(close_skips_delete, BACKEND, "K6", "k6_*",                                 \
    "the delete of a closed fd skipped (\"close removed it from epoll\"): a "  \
    "dup keeps the file and its registration firing under the number",         \
    "h2o/h2o#1100, manticoresoftware/manticoresearch#4057, "                   \
    "joyent/libuv#1100 (always deregister closing fds)")                       \
  X(failed_reads_done, REF, "T2", "t2_*",                                      \
    "future_result of a failed future gives 0 and no value: the code is lost", \
    "ros2/rclpy#412 (await of a failed Future returned None)")                 \
  X(remove_idle_ignored, REF, "P3", "p3_*",                                    \
    "remove_reader/remove_writer outside a run return 1 and change nothing",   \
    "as uvloop's remove_signal_handler outside a run "                         \
    "(impls/python_uvloop_bugs.md #2)")
#endif
