/* loop_int.h — what the core's subsystems (signals, futures, executor) may
 * use of the loop besides the public API. Nothing here is installed. */
#ifndef EVL_LOOP_INT_H
#define EVL_LOOP_INT_H

#include <evl/evl.h>

/* Per-loop extension slots, so subsystems keep their state on the loop (no
 * process globals) without the loop knowing their types. */
enum evl__ext {
  EVL__EXT_SIGNALS = 0,
  EVL__EXT_EXECUTOR = 1,
  EVL__EXT_FUTURES = 2,
  EVL__EXT_MAX = 3
};

void *evl__loop_ext(const evl_loop *loop, enum evl__ext which);
void evl__loop_set_ext(evl_loop *loop, enum evl__ext which, void *p);

/* Called by evl_loop_close() on the loop thread, before the core releases
 * its fds and queues, in reverse order of registration. A hook must leave no
 * thread running and nothing registered that it took. */
typedef void (*evl__close_hook)(evl_loop *loop, void *data);
int evl__loop_add_close_hook(evl_loop *loop, evl__close_hook fn, void *data);

/* After fork, in the child (fork.c): the signal pipe and the executor's
 * pool become the child's own. 0 or a negative code. */
int evl__signal_after_fork(evl_loop *loop);
void evl__executor_after_fork(evl_loop *loop);

/* A reader on the loop's own fd (the signal pipe): user add/remove calls
 * on that number are refused, and a user watcher left on the number by a
 * close without removal is dropped. */
int evl__add_own_reader(evl_loop *loop, int fd, evl_io_cb cb, void *arg);
int evl__remove_own_reader(evl_loop *loop, int fd);

/* call_soon for the loop's own callbacks (done-callbacks, signal
 * handlers): their handles are unreachable from evl_cancel (S4) and are
 * cancelled with evl__cancel_own. */
int evl__queue_own_cb(evl_loop *loop, evl_cb cb, void *arg, evl_handle *out);
int evl__cancel_own(evl_loop *loop, evl_handle h);

/* 0, -EINVAL for NULL, EVL_ECLOSED, or -EPERM in debug mode when called
 * from a thread other than the one running the loop. */
int evl__loop_check(const evl_loop *loop);

/* The executor size from the loop's config (0 = number of cores). */
unsigned evl__loop_executor_threads(const evl_loop *loop);

/* Reports through the loop's error handler with a context string. */
void evl__loop_error(evl_loop *loop, int code, const char *context,
                     const char *message, int fd);

/* ---- the seam futures and the executor use ------------------------------
 * core/future.c and core/executor.c are compiled into the core and into
 * each native adapter module, and run on either kind of loop. They reach
 * the loop only through this table, which every such loop keeps as the
 * first member of its struct: the reference core's is in loop.c, the
 * adapters' in impls/adapter_core.c. Setup and completion paths only. */
typedef struct evl__loop_services {
  int (*check)(const evl_loop *loop); /* as evl__loop_check */
  int (*queue_own_cb)(evl_loop *loop, evl_cb cb, void *arg,
                      evl_handle *out); /* as evl__queue_own_cb */
  int (*call_soon_threadsafe)(evl_loop *loop, evl_cb cb, void *arg);
  int (*stop)(evl_loop *loop);
  int (*run_forever)(evl_loop *loop);
  int (*is_running)(const evl_loop *loop);
  void (*error)(evl_loop *loop, int code, const char *context,
                const char *message, int fd);
  unsigned (*executor_threads)(const evl_loop *loop);
  void *(*ext)(const evl_loop *loop, enum evl__ext which);
  void (*set_ext)(evl_loop *loop, enum evl__ext which, void *p);
  int (*add_close_hook)(evl_loop *loop, evl__close_hook fn, void *data);
} evl__loop_services;

/* The table of a loop that is not NULL. */
static inline const evl__loop_services *evl__services(const evl_loop *loop) {
  return *(const evl__loop_services *const *)(const void *)loop;
}

/* check through the table, with NULL refused as evl__loop_check does. */
static inline int evl__services_check(const evl_loop *loop) {
  return loop ? evl__services(loop)->check(loop) : -22 /* -EINVAL */;
}

#endif
