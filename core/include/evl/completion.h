/* completion.h — completion-based I/O (a proactor) over any loop
 * implementation.
 *
 * The program submits an operation and is told when it completed, as with
 * io_uring or asyncio's proactor loop, instead of being told an fd is ready.
 * An evl_proactor is made from (ops, loop), like evl_tasks, and uses only
 * the loop ABI (readers, writers, call_soon), so it serves every
 * implementation: it tries the system call; on EAGAIN it waits for readiness
 * on the loop and tries again.
 *
 * Every submitted operation completes exactly once: its callback runs on the
 * loop thread, never inside the submitting call, with the result — bytes
 * (recv: 0 at EOF), the new fd (accept), 0 (connect, send) or -errno. Buffers
 * and addresses stay the caller's until the callback ran. Operations on one
 * fd in one direction (recv/accept; send/connect) run in submission order,
 * so sends on one fd never interleave.
 */
#ifndef EVL_COMPLETION_H
#define EVL_COMPLETION_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>

#include "evl.h"
#include "impl.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct evl_proactor evl_proactor;
/* Names one submitted operation; 0 is never valid. Generations make an id
 * of an operation that already completed harmless (EVL_EHANDLE). */
typedef uint64_t evl_io_id;
typedef void (*evl_io_done)(ssize_t result, void *arg);

/* The loop stays the caller's; close the proactor before the loop. */
int evl_proactor_new(const evl_impl_ops *ops, evl_loop *loop,
                     evl_proactor **out);
/* The same for an evl_loop made by evl_loop_new(). */
int evl_proactor_new_ref(evl_loop *loop, evl_proactor **out);
/* The native proactor: operations are io_uring submissions. On the
 * reference core over a backend that lends its ring (EVL_BF_COMPLETION:
 * ref-iouring) they share that ring and ride in the loop's own wait, one
 * io_uring_enter per iteration; elsewhere the proactor has a ring of its
 * own, entered once per iteration, whose fd is a reader on the loop (so it
 * serves any implementation). Where the kernel has provided-buffer rings, a
 * recv arms one multishot request per fd that stays armed between recvs:
 * bytes that arrive with no recv pending wait in the proactor's buffers
 * for the next one (so an fd used with evl_recv is read only through it
 * until evl_io_close). -ENOTSUP when built without liburing, the kernel's
 * error when io_uring is unavailable. A cancelled operation that the kernel
 * had already finished still completes with -ECANCELED (received bytes are
 * lost, an accepted fd is closed). */
int evl_proactor_new_uring(const evl_impl_ops *ops, evl_loop *loop,
                           evl_proactor **out);
/* -EBUSY from inside a completion callback. Otherwise every operation whose
 * callback has not run gets it now, inside this call: its result if it had
 * completed, else -ECANCELED (P3); nothing runs later. Frees p. */
int evl_proactor_close(evl_proactor *p);

/* Submitting: 0 with *out (may be NULL), or an error with nothing submitted
 * and no callback: -EINVAL (bad argument), EVL_ECLOSED (closing), -ENOMEM.
 * Errors of the operation itself (-EBADF, -ECONNRESET, -EPIPE, ...) come
 * through the callback. fds must be non-blocking (read/write: regular
 * files). */
int evl_recv(evl_proactor *p, int fd, void *buf, size_t len, evl_io_done cb,
             void *arg, evl_io_id *out);
/* Completes with 0 once all len bytes are sent, or with the first error. */
int evl_send(evl_proactor *p, int fd, const void *buf, size_t len,
             evl_io_done cb, void *arg, evl_io_id *out);
/* The new fd is O_NONBLOCK|O_CLOEXEC; addr/addrlen may be NULL. */
int evl_accept(evl_proactor *p, int fd, struct sockaddr *addr,
               socklen_t *addrlen, evl_io_done cb, void *arg, evl_io_id *out);
/* addr is copied at submission. */
int evl_connect(evl_proactor *p, int fd, const struct sockaddr *addr,
                socklen_t addrlen, evl_io_done cb, void *arg, evl_io_id *out);
/* pread/pwrite at offset (one call; write completes with bytes written). */
int evl_read(evl_proactor *p, int fd, void *buf, size_t len, off_t offset,
             evl_io_done cb, void *arg, evl_io_id *out);
int evl_write(evl_proactor *p, int fd, const void *buf, size_t len,
              off_t offset, evl_io_done cb, void *arg, evl_io_id *out);

/* 0: the operation will complete with -ECANCELED (once, on the loop
 * thread). EVL_EHANDLE: it already completed (its callback ran or is due
 * with its result) or never existed; nothing changes. A cancelled send may
 * have sent a prefix of its bytes. */
int evl_cancel_io(evl_proactor *p, evl_io_id id);
/* Cancels every operation on fd (each completes with -ECANCELED), forgets
 * fd in the loop and closes it: the way to close an fd the proactor used,
 * since a watcher may stay registered between operations and the number
 * may be reused at once. */
int evl_io_close(evl_proactor *p, int fd);

/* Inside a task (task.h) of the proactor's loop: submit and await the
 * completion; the result is what the callback would get. Cancelled while
 * waiting, the task cancels the operation and waits for its completion
 * before returning -ECANCELED, so buf (maybe on the task's stack) is free
 * again. -EPERM outside a task, -EINVAL for a proactor of another loop. */
ssize_t evl_task_recv(evl_proactor *p, int fd, void *buf, size_t len);
int evl_task_send(evl_proactor *p, int fd, const void *buf, size_t len);
int evl_task_accept(evl_proactor *p, int fd, struct sockaddr *addr,
                    socklen_t *addrlen);
int evl_task_connect(evl_proactor *p, int fd, const struct sockaddr *addr,
                     socklen_t addrlen);
ssize_t evl_task_read(evl_proactor *p, int fd, void *buf, size_t len,
                      off_t offset);
ssize_t evl_task_write(evl_proactor *p, int fd, const void *buf, size_t len,
                       off_t offset);

#ifdef __cplusplus
}
#endif
#endif
