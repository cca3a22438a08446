/* list_k.h — the K conformance tests (see tests.h for the X signature). */
#ifndef EVL_LIST_K_H
#define EVL_LIST_K_H
#define EVL_TESTS_K(X)                                                         \
  X(k1_add_modify_delete, "K1", BACKEND, 0, 0, 5,                              \
    "ctl add, modify and delete return 0; a deleted fd can be added again")    \
  X(k1_delete_unregistered, "K1", BACKEND, 0, 0, 5,                            \
    "deleting an fd never registered, or twice, returns -ENOENT")              \
  X(k1_invalid_fd, "K1", BACKEND, 0, 0, 5,                                     \
    "adding fd -1 or a closed fd returns -EBADF and registers nothing")        \
  X(k1_modify_changes_bits, "K1", BACKEND, 0, 0, 5,                            \
    "modify really changes which directions are reported")                     \
  X(k1_regular_file, "K1", BACKEND, 0, 0, 5,                                   \
    "regular file: always ready with FILES, else refused with nothing kept")   \
  X(k1_readd_after_failed_delete, "K1", BACKEND, 0, 0, 5,                      \
    "closed under a dup, delete failed, same file back on the number: add 0")  \
  X(k1_delete_below_highest, "K1", BACKEND, 0, 0, 5,                           \
    "deleting fds below the highest registered: the rest still reported")      \
  X(k2_wait0_empty, "K2", BACKEND, 0, 0, 5,                                    \
    "wait(0) returns 0 at once with nothing ready, also when empty")           \
  X(k2_wait0_ready, "K2", BACKEND, 0, 0, 5,                                    \
    "wait(0) returns an fd that is already ready")                             \
  X(k2_block_until_event, "K2", BACKEND, 0, 0, 10,                             \
    "wait(-1) blocks until another thread makes an fd ready")                  \
  X(k2_extreme_timeouts, "K2", BACKEND, 0, 0, 10,                              \
    "INT64_MIN blocks; INT64_MAX and > 2^31 ms do not overflow into early "    \
    "returns")                                                                 \
  X(k2_block_until_wake, "K2", BACKEND, 0, 0, 10,                              \
    "wait(-1) returns when another thread calls wake()")                       \
  X(k2_wake_before_wait, "K2", BACKEND, 0, 0, 10,                              \
    "a wake() issued just before wait() is not lost")                          \
  X(k2_timeout_not_early, "K2", BACKEND, 0, 0, 10,                             \
    "wait(t) with nothing ready never returns before t (1, 1.5, 10, 25 ms)")   \
  X(k2_empty_timeout, "K2", BACKEND, 0, 0, 10,                                 \
    "an empty backend still honours the wait timeout")                         \
  X(k2_tiny_timeouts_return, "K2", BACKEND, 0, 0, 10,                          \
    "300 waits of 1 ns to 3 us on an idle fd all return, none early")          \
  X(k2_eintr_zero_events, "K2", BACKEND, 0, 0, 10,                             \
    "a signal interrupting wait gives 0 events or -EINTR, no other error")     \
  X(k2_no_spin_in_wait, "K2", BACKEND, 0, 0, 10,                               \
    "sub-ms remainders, a closed registered fd: waits sleep (CPU vs wall)")    \
  X(k3_read_reported_again, "K3", BACKEND, 0, 0, 5,                            \
    "unread data is reported on every wait until drained")                     \
  X(k3_write_reported_again, "K3", BACKEND, 0, 0, 5,                           \
    "a writable socket is reported on every wait")                             \
  X(k3_edge_triggered, "K3", BACKEND, EVL_BF_ET, 0, 5,                         \
    "with EVL_ET an arrival is reported once, not on every wait")              \
  X(k3_oneshot, "K3", BACKEND, EVL_BF_ONESHOT, 0, 5,                           \
    "with EVL_ONESHOT one report, then silence until re-armed by modify")      \
  X(k4_no_starvation, "K4", BACKEND, 0, 0, 10,                                 \
    "64 ready fds, cap 8: every fd reported within 16 waits")                  \
  X(k4_cap_one, "K4", BACKEND, 0, 0, 5,                                        \
    "5 ready fds, cap 1: every fd reported within 10 waits")                   \
  X(k4_one_entry_per_fd, "K4", BACKEND, 0, 0, 5,                               \
    "an fd ready both ways is one entry carrying READ|WRITE")                  \
  X(k5_bits_within_interest, "K5", BACKEND, 0, 0, 5,                           \
    "reported bits stay within interest plus ERR/HUP/RDHUP")                   \
  X(k5_pipe_eof, "K5", BACKEND, 0, 0, 5,                                       \
    "pipe EOF is reported as READ (HUP allowed)")                              \
  X(k5_pipe_reader_gone, "K5", BACKEND, 0, 0, 5,                               \
    "full pipe whose reader closed is reported as WRITE (ERR allowed)")        \
  X(k5_writer_only_peer_closed, "K5", BACKEND, 0, 0, 5,                        \
    "a writer-only socket whose peer closed gets WRITE, never READ")           \
  X(k5_hup_wakes_writer, "K5", BACKEND, 0, 0, 5,                               \
    "peer shutdown(SHUT_RDWR) on a full socket reports WRITE to a writer")     \
  X(k5_reader_only_peer_closed, "K5", BACKEND, 0, 0, 5,                        \
    "a reader-only socket whose peer closed gets READ, never WRITE")           \
  X(k5_local_shutdown_no_read, "K5", BACKEND, 0, 0, 5,                         \
    "local shutdown(SHUT_WR) does not report READ on that socket")             \
  X(k5_rdhup, "K5", BACKEND, EVL_BF_RDHUP, 0, 5,                               \
    "the peer's shutdown(SHUT_WR) is reported as RDHUP with READ")             \
  X(k5_entries_registered, "K5", BACKEND, 0, 0, 5,                             \
    "every entry a registered fd, once: also after wake(), out[] poisoned")    \
  X(k6_no_event_after_delete, "K6", BACKEND, 0, 0, 5,                          \
    "no event for a deleted fd that still has unread data")                    \
  X(k6_delete_inflight, "K6", BACKEND, 0, 0, 5,                                \
    "no event for an fd deleted after its readiness reached the kernel")       \
  X(k6_reuse_number, "K6", BACKEND, 0, 0, 5,                                   \
    "a reused fd number gets no events from the deleted fd")                   \
  X(k6_reuse_inflight, "K6", BACKEND, 0, 0, 5,                                 \
    "closed and reopened between waits, in flight: no stale event")            \
  X(k6_delete_after_close_dup, "K6", BACKEND, 0, 0, 5,                         \
    "fd closed before its delete, dup alive: no event, waits not cut short")   \
  X(k6_dead_registration_reused, "K6", BACKEND, 0, 0, 5,                       \
    "a dead registration under a reused number: only the new file's events")   \
  X(k6_held_back_then_reused, "K6", BACKEND, 0, 0, 5,                          \
    "readiness held back (cap 2), fds deleted, closed, reused: never seen")    \
  X(k7_fd_limit_refused, "K7", BACKEND, 0, 0, 5,                               \
    "fds >= fd_limit get -ERANGE and nothing registered (clean under ASan)")   \
  X(k7_fd_limit_boundary, "K7", BACKEND, 0, 0, 5,                              \
    "fd fd_limit - 1 is accepted and reported")                                \
  X(k8_child_after_fork, "K8", BACKEND, EVL_BF_FORK_REINIT, 0, 10,             \
    "after after_fork() a child can register an fd and wait for it")           \
  X(k8_parent_unaffected, "K8", BACKEND, EVL_BF_FORK_REINIT, 0, 10,            \
    "a child's ctl after after_fork() does not touch the parent's state")      \
  X(k9_ten_thousand_fds, "K9", BACKEND, EVL_BF_O1, 0, 30,                      \
    "10 000 registered fds; the 3 ready ones are reported")
#endif
