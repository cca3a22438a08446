/* list_p.h — the P conformance tests: completion-based I/O (P1–P8) over
 * the loop ABI; see tests.h for the X signature. */
#ifndef EVL_LIST_P_H
#define EVL_LIST_P_H
#define EVL_TESTS_P(X)                                                         \
  X(p1_exactly_once, "P1", IMPL, 0, 0, 10,                                     \
    "each operation's callback runs once, never inside the submitting call")   \
  X(p1_task_await, "P1", IMPL, 0, EVL_IF_FUTURES, 10,                          \
    "completion I/O awaited from a task; a cancelled task's recv is gone")     \
  X(p2_cancel_pending, "P2", IMPL, 0, 0, 10,                                   \
    "cancelling a pending recv completes it with -ECANCELED once")             \
  X(p2_cancel_completed, "P2", IMPL, 0, 0, 10,                                 \
    "cancelling a completed operation is EVL_EHANDLE and reruns nothing")      \
  X(p3_close_in_flight, "P3", IMPL, 0, 0, 10,                                  \
    "closing completes every pending operation during close, nothing later")   \
  X(p3_io_close_reuse, "P3", IMPL, 0, 0, 10,                                   \
    "evl_io_close drops the fd's pending ops and bytes; a reused number is "   \
    "new")                                                                     \
  X(p3_accept_close_reuse, "P3", IMPL, 0, 0, 10,                               \
    "evl_io_close of a listening fd closes connections accepted ahead")        \
  X(p4_partial_sends, "P4", IMPL, 0, 0, 20,                                    \
    "a 4 MiB send into a small socket buffer completes with every byte")       \
  X(p5_send_order, "P5", IMPL, 0, 0, 20,                                       \
    "sends on one fd arrive and complete in submission order")                 \
  X(p6_recv_eof, "P6", IMPL, 0, 0, 10, "a recv at EOF completes with 0")       \
  X(p7_errors_delivered, "P7", IMPL, 0, 0, 10,                                 \
    "ECONNRESET, EPIPE and EBADF complete the operation, not lost")            \
  X(p8_accept_connect, "P8", IMPL, 0, 0, 10,                                   \
    "accept and connect over TCP loopback, then an echo")                      \
  X(p8_file_offsets, "P8", IMPL, 0, 0, 10,                                     \
    "evl_write/evl_read at offsets on a regular file")
#endif
