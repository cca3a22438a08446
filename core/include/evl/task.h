/* task.h — stackful tasks (asyncio's coroutines) over any loop
 * implementation.
 *
 * A task is a function running on its own stack. It runs until it awaits;
 * then the loop runs whatever else is ready. Tasks use only the loop ABI
 * (impl.h: call_soon, call_later, cancel, readers/writers, futures), so they
 * run the same on the reference core, the native adapters and plugins.
 *
 * The pieces:
 *   evl_tasks  the tasks of one loop: made from (ops, loop), or from an
 *              evl_loop of the reference core with evl_tasks_new_ref().
 *   evl_task   one task; it completes a future of its loop when it ends,
 *              so run_until_complete and done-callbacks work on it.
 *
 * Threads: a task and its evl_tasks belong to the loop's thread. Functions
 * without an evl_tasks argument (evl_await, evl_sleep, ...) act on the task
 * running on the calling thread and return -EPERM outside a task.
 *
 * Cancellation is asyncio's: evl_task_cancel() makes the task's pending (or
 * next) suspending await return -ECANCELED, once; the task may clean up and
 * return whatever it likes. A task that returns -ECANCELED ends cancelled.
 * The awaited future or task itself is not cancelled (a task is not the
 * owner of what it awaits); gather and wait_for cancel their children.
 */
#ifndef EVL_TASK_H
#define EVL_TASK_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>

#include "evl.h"
#include "impl.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct evl_tasks evl_tasks;
typedef struct evl_task evl_task;

/* A task's body: status 0 (with *result) or a negative code, as the
 * executor's evl_work_fn (a positive status counts as 0). -ECANCELED ends
 * the task cancelled. */
typedef int (*evl_task_fn)(void *arg, void **result);

typedef struct evl_tasks_config {
  size_t size;       /* sizeof(evl_tasks_config) */
  size_t stack_size; /* usable bytes per task; 0: 256 KiB. A guard page
                        below each stack turns an overflow into SIGSEGV. */
} evl_tasks_config;

/* Needs EVL_IF_FUTURES (-ENOTSUP otherwise). cfg may be NULL. The loop
 * stays the caller's; evl_tasks_close() closes it. */
int evl_tasks_new(const evl_impl_ops *ops, evl_loop *loop,
                  const evl_tasks_config *cfg, evl_tasks **out);
/* The same for an evl_loop made by evl_loop_new(). */
int evl_tasks_new_ref(evl_loop *loop, const evl_tasks_config *cfg,
                      evl_tasks **out);
/* -EBUSY while the loop runs. Reports every task still pending to the
 * loop's error handler ("task was destroyed but it is pending"), closes the
 * loop (so nothing queued runs), then frees every task and stack and the
 * evl_tasks. Task handles die with it; evl_loop_free stays the caller's. */
int evl_tasks_close(evl_tasks *ts);
evl_loop *evl_tasks_loop(const evl_tasks *ts);
const evl_impl_ops *evl_tasks_ops(const evl_tasks *ts);

/* create_task: the first step runs in the loop's next iteration (from a
 * callback or task: the iteration after this one). *out (may be NULL)
 * receives a reference for evl_task_release(). */
int evl_task_spawn(evl_tasks *ts, evl_task_fn fn, void *arg, evl_task **out);
void evl_task_release(evl_task *t);
/* 0: a cancel is requested (a second request before delivery is the same
 * request). -EINVAL: the task already ended, nothing changes. */
int evl_task_cancel(evl_task *t);
/* evl_future_state() values. */
int evl_task_state(const evl_task *t);
/* The task's outcome (0 with *result, its code, -ECANCELED, -EAGAIN while
 * it runs). Counts as retrieving an error. */
int evl_task_result(evl_task *t, void **result);
/* The future the task completes (owned by the task: retain it to keep it).
 * Taking it counts as retrieving the task's error. */
evl_future *evl_task_future(evl_task *t);
/* Small, unique per evl_tasks, from 1: names tasks in reports. */
uint64_t evl_task_id(const evl_task *t);

/* The running task on this thread, or NULL outside tasks; its tasks. */
evl_task *evl_current_task(void);
evl_tasks *evl_current_tasks(void);

/* ---- inside a task ---------------------------------------------------- */
/* Suspends until f (a future of the task's loop) is done; returns
 * evl_future_result()'s status. A done future returns at once without
 * suspending. -ECANCELED if the task is cancelled meanwhile. */
int evl_await(evl_future *f, void **result);
/* Awaits another task of the same evl_tasks: EVL_EFOREIGN for a task of
 * another one, -EDEADLK for the task itself. */
int evl_await_task(evl_task *t, void **result);
/* 0 after ns, or -ECANCELED. evl_yield is sleep(0): one loop iteration. */
int evl_sleep(uint64_t ns);
int evl_yield(void);
/* Waits for every task; status[i] (may be NULL) gets each outcome. Returns
 * 0, or the first failure by index. Cancelled while waiting: cancels the
 * tasks not done, waits for them, returns -ECANCELED. */
int evl_gather(evl_task *const *tasks, int n, int *status);
/* asyncio.wait_for: f (any future of the task's loop; for a task, its
 * evl_task_future) and its outcome if it is done within timeout_ns, at once
 * if it is done already. On timeout f is cancelled — a task's future by
 * cancelling the task, which is then awaited to its end, cleanup included —
 * and the call returns -ETIMEDOUT; if f ended otherwise than cancelled
 * meanwhile (done in the same iteration as the timeout, or a task that
 * finished its work despite the cancel), that outcome wins. Cancelled while
 * waiting: cancels f the same way, waits, returns -ECANCELED. -EDEADLK for
 * the running task's own future. */
int evl_wait_for(evl_future *f, uint64_t timeout_ns, void **result);
/* The same given a task: EVL_EFOREIGN for a task of another evl_tasks. */
int evl_wait_for_task(evl_task *t, uint64_t timeout_ns, void **result);
/* asyncio.shield: *outer (a new reference, release it) completes as inner
 * does, but cancelling outer — by wait_for's timeout, say — leaves inner
 * running, and inner's outcome still reaches its other awaiters. inner
 * already done: *outer is inner itself (retained). Inside a task. */
int evl_shield(evl_future *inner, evl_future **outer);
/* run_in_executor + await (asyncio.to_thread); needs EVL_IF_EXECUTOR.
 * Cancelled while waiting: the job is cancelled if no worker started it. */
int evl_to_thread(evl_work_fn fn, void *arg, void **result);

/* Sockets (non-blocking fds): EAGAIN waits for readiness on the loop.
 * recv/send return bytes (recv: 0 at EOF) or -errno; sendall 0 or -errno;
 * accept the new fd (O_NONBLOCK|O_CLOEXEC) or -errno; connect 0 or the
 * connection's error. -ECANCELED if cancelled while waiting. */
ssize_t evl_sock_recv(int fd, void *buf, size_t len);
ssize_t evl_sock_send(int fd, const void *buf, size_t len);
int evl_sock_sendall(int fd, const void *buf, size_t len);
int evl_sock_accept(int fd, struct sockaddr *addr, socklen_t *addrlen);
int evl_sock_connect(int fd, const struct sockaddr *addr, socklen_t addrlen);
/* A watcher the helpers registered stays registered between waits (so a
 * loop of recv calls costs no registration each time): close such fds with
 * evl_sock_close, which forgets the fd in the loop first. */
int evl_sock_close(int fd);

/* ---- running ---------------------------------------------------------- */
/* asyncio.run: a new loop of $EVL_IMPL (an implementation name or plugin
 * path; unset: the reference core on its default backend), main as a task
 * until it ends, then every task left is cancelled and awaited, the loop
 * closed. Returns main's status; *result (may be NULL) its result. */
int evl_run(evl_task_fn main, void *arg, void **result);
/* The same on a given implementation. */
int evl_run_impl(const evl_impl_ops *ops, evl_task_fn main, void *arg,
                 void **result);
/* run_until_complete on the task's future: runs the loop until t ends. */
int evl_tasks_run_until_complete(evl_tasks *ts, evl_task *t, void **result);

/* For a SIGSEGV handler (async-signal-safe): 1 if addr lies in the guard
 * page of the task running on this thread, with "stack overflow in task N
 * (S-byte stack)" written to buf; else 0. */
int evl_task_stack_fault(const void *addr, char *buf, size_t len);

#ifdef __cplusplus
}
#endif
#endif
