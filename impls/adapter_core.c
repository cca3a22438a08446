/* adapter_core.c — the native adapters' answer to what core/future.c and
 * core/executor.c ask of a loop (loop_int.h's evl__loop_services), so the
 * native modules share the core's futures and executor instead of keeping
 * copies. */
#include <errno.h>
#include <stdlib.h>

#include "adapter.h"

/*
 * Futures and the executor are the core's own files, compiled into each
 * native module. They call the loop only through the services table a
 * loop starts with; on a native loop these go through the adapter's ops
 * table (setup and completion paths, never the adapter's hot paths). No
 * public evl_* name and no core-private name is defined here.
 */
typedef struct evl__adapter_closer {
  evl__close_hook fn;
  void *data;
} evl__adapter_closer;

static const evl_impl_ops *adapter_ops(const evl_loop *loop) {
  return EVL__ADAPTER_BASE(loop)->ops;
}

static int adapter_check(const evl_loop *loop) {
  return evl__adapter_check(EVL__ADAPTER_BASE(loop));
}
/* The loop's own call_soon (future done-callbacks): its slot is marked so
 * that no user handle reaches it (S4). */
static int adapter_queue_own_cb(evl_loop *loop, evl_cb cb, void *arg,
                                evl_handle *out) {
  evl__adapter_base *b = EVL__ADAPTER_BASE(loop);
  b->soon_own = 1;
  int rc = b->ops->call_soon(loop, cb, arg, out);
  b->soon_own = 0;
  return rc;
}
static int adapter_call_soon_threadsafe(evl_loop *loop, evl_cb cb, void *arg) {
  return adapter_ops(loop)->call_soon_threadsafe(loop, cb, arg);
}
static int adapter_stop(evl_loop *loop) {
  return adapter_ops(loop)->stop(loop);
}
static int adapter_run_forever(evl_loop *loop) {
  return adapter_ops(loop)->run_forever(loop);
}
static int adapter_is_running(const evl_loop *loop) {
  return adapter_ops(loop)->is_running(loop);
}
static void adapter_error(evl_loop *loop, int code, const char *context,
                          const char *message, int fd) {
  evl__adapter_report(EVL__ADAPTER_BASE(loop), code, context, message, fd, 0);
}
static unsigned adapter_executor_threads(const evl_loop *loop) {
  return EVL__ADAPTER_BASE(loop)->exec_threads;
}
static void *adapter_ext(const evl_loop *loop, enum evl__ext which) {
  return (unsigned)which < EVL__EXT_MAX ? EVL__ADAPTER_BASE(loop)->ext[which]
                                        : NULL;
}
static void adapter_set_ext(evl_loop *loop, enum evl__ext which, void *p) {
  if ((unsigned)which < EVL__EXT_MAX)
    EVL__ADAPTER_BASE(loop)->ext[which] = p;
}

static int adapter_add_close_hook(evl_loop *loop, evl__close_hook fn,
                                  void *data) {
  evl__adapter_base *b = EVL__ADAPTER_BASE(loop);
  int rc = evl__adapter_check(b);
  if (rc)
    return rc;
  if (!fn)
    return -EINVAL;
  evl__adapter_closer *nh =
      realloc(b->closers, (size_t)(b->ncloser + 1) * sizeof *nh);
  if (!nh)
    return -ENOMEM;
  b->closers = nh;
  b->closers[b->ncloser++] = (evl__adapter_closer){fn, data};
  return 0;
}

const evl__loop_services evl__adapter_services = {
    .check = adapter_check,
    .queue_own_cb = adapter_queue_own_cb,
    .call_soon_threadsafe = adapter_call_soon_threadsafe,
    .stop = adapter_stop,
    .run_forever = adapter_run_forever,
    .is_running = adapter_is_running,
    .error = adapter_error,
    .executor_threads = adapter_executor_threads,
    .ext = adapter_ext,
    .set_ext = adapter_set_ext,
    .add_close_hook = adapter_add_close_hook,
};

void evl__adapter_run_closers(evl__adapter_base *b) {
  for (int i = b->ncloser - 1; i >= 0; i--)
    b->closers[i].fn((evl_loop *)(void *)b, b->closers[i].data);
  free(b->closers);
  b->closers = NULL;
  b->ncloser = 0;
}
