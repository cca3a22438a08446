/* list_s_io.h — the S_IO conformance tests (see tests.h for the X signature).
 */
#ifndef EVL_LIST_S_IO_H
#define EVL_LIST_S_IO_H
#define EVL_TESTS_S_IO(X)                                                      \
  X(s6_reader_level_triggered, "S6", IMPL, 0, 0, 5,                            \
    "a reader runs once per iteration while data is unread, then stops")       \
  X(s6_many_ready_all_called, "S6", IMPL, 0, 0, 5,                             \
    "64 fds ready at once: each reader is called, not only the lowest")        \
  X(s6_writer_level_triggered, "S6", IMPL, 0, 0, 5,                            \
    "a writer runs once per iteration while writable, and stops on remove")    \
  X(s6_add_replaces, "S6", IMPL, 0, 0, 5,                                      \
    "adding a reader or writer again replaces it; the old never runs again")   \
  X(s6_remove_returns, "S6", IMPL, 0, 0, 5,                                    \
    "remove_reader/remove_writer return 1 when one was there, then 0")         \
  X(s6_reader_writer_same_fd, "S6", IMPL, 0, 0, 5,                             \
    "reader and writer on one fd both run; removing one keeps the other")      \
  X(s6_remove_before_run, "S6", IMPL, 0, 0, 5,                                 \
    "a reader added and removed before the loop runs never fires")             \
  X(s6_remove_readd_between_iterations, "S6", IMPL, 0, 0, 5,                   \
    "remove then add again between iterations: the new callback runs")         \
  X(s6_remove_self_in_callback, "S6", IMPL, 0, 0, 5,                           \
    "a reader removing itself gets 1 and is never called again")               \
  X(s6_remove_other_in_batch, "S6", IMPL, 0, 0, 5,                             \
    "a reader removed by another callback of the same batch is not called")    \
  X(s6_replace_other_in_batch, "S6", IMPL, 0, 0, 5,                            \
    "a reader replaced within the same batch: the old callback is not called") \
  X(s6_replaced_runs_next_iteration, "S6", IMPL, 0, 0, 5,                      \
    "a reader replaced in the batch where its fd was ready: the replacement "  \
    "runs exactly once in the next iteration, not in that batch")              \
  X(s6_replaced_reused_next_iteration, "S6", IMPL, 0, 0, 5,                    \
    "as above, its fd closed and the number reused by a ready pipe")           \
  X(s6_remove_other_direction_in_batch, "S6", IMPL, 0, 0, 5,                   \
    "reader and writer of one fd removing each other: only one runs")          \
  X(s6_close_reuse_in_callback, "S6", IMPL, 0, 0, 5,                           \
    "fd closed and its number reused in a callback: no stale event, the new "  \
    "watcher works")                                                           \
  X(s6_dup_removed_no_spin, "S6", IMPL, 0, 0, 5,                               \
    "a dup of a removed, closed fd neither fires nor makes the loop spin")     \
  X(s6_close_before_remove_dup_no_spin, "S6", IMPL, 0, 0, 5,                   \
    "closed before remove_reader, dup alive: no callback, no spinning")        \
  X(s6_pipe_eof, "S6", IMPL, 0, 0, 5,                                          \
    "pipe EOF reaches the reader; read() returns 0")                           \
  X(s6_writer_epipe, "S6", IMPL, 0, 0, 5,                                      \
    "a writer on a full pipe is woken when the reader goes; write() EPIPE")    \
  X(s6_hangup_wakes_both, "S6", IMPL, 0, 0, 5,                                 \
    "peer shutdown(SHUT_RDWR) wakes reader (EOF) and full writer (EPIPE)")     \
  X(s6_peer_close_wakes_both, "S6", IMPL, 0, 0, 5,                             \
    "peer close with data unread wakes reader and full writer")                \
  X(s6_local_shutdown_no_wake, "S6", IMPL, 0, 0, 5,                            \
    "local shutdown(SHUT_WR) does not wake the reader; the peer sees EOF")     \
  X(s6_invalid_fd, "S6", IMPL, 0, 0, 5,                                        \
    "add_reader/add_writer of -1 or a closed fd: -EBADF, nothing registered")  \
  X(s6_null_callback, "S6", IMPL, 0, 0, 5,                                     \
    "a NULL callback: -EINVAL, nothing registered, nothing replaced")          \
  X(s6_regular_file, "S6", IMPL, 0, 0, 5,                                      \
    "regular file: always ready on FILES backends, else refused and nothing "  \
    "registered")                                                              \
  X(s6_fd_limit_erange, "S6", IMPL, 0, 0, 5,                                   \
    "fd >= the backend's fd_limit: -ERANGE, nothing registered, ASan-clean")   \
  X(s6_reuse_after_close_replace, "S6", IMPL, 0, 0, 10,                        \
    "fd closed unremoved, number reused, reader added again: it works")        \
  X(s6_reuse_after_close_other_dir, "S6", IMPL, 0, 0, 10,                      \
    "closed writer's number reused, a reader added: it works, no old HUP")     \
  X(s12_signal_pipe_on_reused_number, "S12", IMPL, 0, 0, 10,                   \
    "the signal pipe on a closed-unremoved watcher's number still delivers")   \
  X(s12_signal_pipe_not_replaceable, "S12", IMPL, 0, 0, 10,                    \
    "user add/remove_reader on every fd cannot silence signal delivery")       \
  X(s12_refused_signal_leaves_nothing, "S12", IMPL, 0, 0, 10,                  \
    "a refused signal number opens nothing (no signal pipe)")                  \
  X(s10_default_handler_newline, "S10", IMPL, 0, 0, 10,                        \
    "the default handler prints a message with newlines as one line")          \
  X(s11_stats_foreign_thread_refused, "S11", IMPL, 0, 0, 10,                   \
    "debug mode: loop_stats from another thread while running is -EPERM")      \
  X(s6_closed_fd_above_limit, "S6", IMPL, 0, 0, 10,                            \
    "a closed fd above any fd_limit is -EBADF on every backend")               \
  X(s4_handle_other_loop, "S4", IMPL, 0, 0, 10,                                \
    "a handle of one loop cancels nothing in another: EVL_EHANDLE")            \
  X(s4_own_callbacks_unreachable, "S4", IMPL, 0, 0, 10,                        \
    "a future's queued done-callback survives cancel of foreign handles")      \
  X(s16_child_free_keeps_parent, "S16", IMPL, 0, 0, 10,                        \
    "a child freeing the inherited loop leaves the parent's reader working")   \
  X(s16_child_remove_keeps_parent, "S16", IMPL, 0, 0, 10,                      \
    "after_fork, then remove in the child: the parent's reader still works")   \
  X(s16_inherited_refused, "S16", IMPL, 0, 0, 10,                              \
    "an inherited loop refuses kernel calls with EVL_EFORKED until "           \
    "after_fork")                                                              \
  X(s16_child_loop_own_posts, "S16", IMPL, 0, 0, 15,                           \
    "parent and child loops each wake for their own threads' posts")           \
  X(s16_parent_no_spin, "S16", IMPL, 0, 0, 10,                                 \
    "after the child is done, the parent's idle loop sleeps (no spin)")        \
  X(s6_peer_eof_next_iteration, "S6", IMPL, 0, 0, 10,                          \
    "remove+close of one end: the peer's EOF comes in the next iteration")
#endif
