/* adapter_core.c — the few loop calls core/future.c and core/executor.c
 * make, answered for a native loop, so the native modules share the core's
 * futures and executor instead of keeping copies. */
#include <errno.h>
#include <stdlib.h>

#include "adapter.h"

/*
 * Futures and the executor are the core's own files, compiled into each
 * native module: they need only the calls below, which on a native loop go
 * through the adapter's ops table (setup and completion paths, never the
 * adapter's hot paths). Modules link with -Bsymbolic, so these definitions
 * serve only the module's own copies, never the core's in the same process.
 */
typedef struct evl__adapter_closer {
  evl__close_hook fn;
  void *data;
} evl__adapter_closer;

int evl_call_soon(evl_loop *loop, evl_cb cb, void *arg, evl_handle *out) {
  return loop ? EVL__ADAPTER_BASE(loop)->ops->call_soon(loop, cb, arg, out)
              : -EINVAL;
}
/* The loop's own call_soon (future done-callbacks, signal handlers): its
 * slot is marked so that no user handle reaches it (S4). */
int evl__queue_own_cb(evl_loop *loop, evl_cb cb, void *arg, evl_handle *out) {
  if (!loop)
    return -EINVAL;
  evl__adapter_base *b = EVL__ADAPTER_BASE(loop);
  b->soon_own = 1;
  int rc = b->ops->call_soon(loop, cb, arg, out);
  b->soon_own = 0;
  return rc;
}
int evl__cancel_own(evl_loop *loop, evl_handle h) {
  if (!loop)
    return -EINVAL;
  evl__adapter_base *b = EVL__ADAPTER_BASE(loop);
  int rc = evl__adapter_check(b);
  if (rc)
    return rc;
  evl__adapter_slot *sl = evl__adapter_slot_get(&b->slots, h);
  if (!sl || sl->kind != EVL__ADAPTER_SLOT_OWN)
    return EVL_EHANDLE;
  evl__adapter_slot_free(&b->slots, h); /* its FIFO entry is skipped */
  return 0;
}
int evl_call_soon_threadsafe(evl_loop *loop, evl_cb cb, void *arg) {
  return loop
             ? EVL__ADAPTER_BASE(loop)->ops->call_soon_threadsafe(loop, cb, arg)
             : -EINVAL;
}
int evl_stop(evl_loop *loop) {
  return loop ? EVL__ADAPTER_BASE(loop)->ops->stop(loop) : -EINVAL;
}
int evl_is_running(const evl_loop *loop) {
  return loop ? EVL__ADAPTER_BASE(loop)->ops->is_running(loop) : 0;
}
int evl_run_forever(evl_loop *loop) {
  return loop ? EVL__ADAPTER_BASE(loop)->ops->run_forever(loop) : -EINVAL;
}

int evl__loop_check(const evl_loop *loop) {
  return evl__adapter_check(EVL__ADAPTER_BASE(loop));
}
void *evl__loop_ext(const evl_loop *loop, enum evl__ext which) {
  return (unsigned)which < EVL__EXT_MAX ? EVL__ADAPTER_BASE(loop)->ext[which]
                                        : NULL;
}
void evl__loop_set_ext(evl_loop *loop, enum evl__ext which, void *p) {
  if ((unsigned)which < EVL__EXT_MAX)
    EVL__ADAPTER_BASE(loop)->ext[which] = p;
}
unsigned evl__loop_executor_threads(const evl_loop *loop) {
  return EVL__ADAPTER_BASE(loop)->exec_threads;
}
void evl__loop_error(evl_loop *loop, int code, const char *context,
                     const char *message, int fd) {
  evl__adapter_report(EVL__ADAPTER_BASE(loop), code, context, message, fd, 0);
}

int evl__loop_add_close_hook(evl_loop *loop, evl__close_hook fn, void *data) {
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

void evl__adapter_run_closers(evl__adapter_base *b) {
  for (int i = b->ncloser - 1; i >= 0; i--)
    b->closers[i].fn((evl_loop *)(void *)b, b->closers[i].data);
  free(b->closers);
  b->closers = NULL;
  b->ncloser = 0;
}
