/* future.c — futures (S13): pending -> done or cancelled, once; done-callbacks
 * through call_soon; run_until_complete as asyncio's. */
#include <errno.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>

#include <evl/evl.h>

#include "loop_int.h"

/*
 * Ownership. A future holds a pointer to its loop and nothing else of it, so
 * a future stays valid memory after evl_loop_close() until its last
 * reference goes. The loop shell is freed by evl_loop_free(): release every
 * future before that (evl_future_loop() would otherwise return a dangling
 * pointer, and evl_future_release() itself never touches the loop).
 *
 * Threads. Futures are used on their loop's thread only (evl__services_check
 * refuses foreign threads in debug mode). Two fields are atomic anyway: the
 * reference count, so a reference may be dropped anywhere, and the state,
 * which executor workers read to skip a job whose future was cancelled
 * before the job started.
 */

/* One done-callback. While the future is pending it sits on the future's
 * list (owned by the future, no reference). Once scheduled it holds a
 * reference to the future and sits on the loop's `queued` list, so that a
 * loop closed with callbacks still queued (close runs nothing queued) can
 * drop those references instead of leaking the futures. */
typedef struct future_cbrec {
  struct future_cbrec *next, *prev;
  evl_future *f;
  evl_future_cb cb;
  void *arg;
} future_cbrec;

/* Per-loop state, in the EVL__EXT_FUTURES slot. */
typedef struct future_ext {
  future_cbrec *queued; /* scheduled, not yet run; doubly linked */
  uint64_t ruc_gen;     /* run_until_complete calls so far */
  uint64_t ruc_active;  /* the generation now running, 0 if none */
} future_ext;

struct evl_future {
  atomic_uint refs;
  atomic_int state; /* enum evl_future_state */
  evl_loop *loop;
  void *result;
  int error;                    /* < 0 for a done-with-error future */
  future_cbrec *cbs, *cbs_tail; /* pending done-callbacks, FIFO */
};

static void future_close_hook(evl_loop *loop, void *data) {
  future_ext *ext = data;
  future_cbrec *r = ext->queued;
  while (r) {
    future_cbrec *next = r->next;
    evl_future_release(r->f);
    free(r);
    r = next;
  }
  free(ext);
  evl__services(loop)->set_ext(loop, EVL__EXT_FUTURES, NULL);
}

static future_ext *future_ext_get(evl_loop *loop, int *rc) {
  future_ext *ext = evl__services(loop)->ext(loop, EVL__EXT_FUTURES);
  if (ext)
    return ext;
  ext = calloc(1, sizeof *ext);
  if (!ext) {
    *rc = -ENOMEM;
    return NULL;
  }
  int hrc = evl__services(loop)->add_close_hook(loop, future_close_hook, ext);
  if (hrc < 0) {
    free(ext);
    *rc = hrc;
    return NULL;
  }
  evl__services(loop)->set_ext(loop, EVL__EXT_FUTURES, ext);
  return ext;
}

int evl_future_new(evl_loop *loop, evl_future **out) {
  if (!out)
    return -EINVAL;
  *out = NULL;
  int rc = evl__services_check(loop);
  if (rc < 0)
    return rc;
  /* The per-loop state is made here, not lazily on completion, so that
   * completing a future cannot fail for lack of memory. */
  if (!future_ext_get(loop, &rc))
    return rc;
  evl_future *f = calloc(1, sizeof *f);
  if (!f)
    return -ENOMEM;
  atomic_init(&f->refs, 1);
  atomic_init(&f->state, EVL_FUTURE_PENDING);
  f->loop = loop;
  *out = f;
  return 0;
}

void evl_future_retain(evl_future *f) {
  if (f)
    atomic_fetch_add_explicit(&f->refs, 1, memory_order_relaxed);
}

void evl_future_release(evl_future *f) {
  if (!f)
    return;
  if (atomic_fetch_sub_explicit(&f->refs, 1, memory_order_acq_rel) != 1)
    return;
  future_cbrec *r = f->cbs;
  while (r) {
    future_cbrec *next = r->next;
    free(r);
    r = next;
  }
  free(f);
}

evl_loop *evl_future_loop(const evl_future *f) {
  return f ? f->loop : NULL;
}

int evl_future_state(const evl_future *f) {
  if (!f)
    return -EINVAL;
  return atomic_load_explicit(&f->state, memory_order_acquire);
}

int evl_future_result(const evl_future *f, void **result) {
  if (result)
    *result = NULL;
  if (!f)
    return -EINVAL;
  switch (atomic_load_explicit(&f->state, memory_order_acquire)) {
  case EVL_FUTURE_PENDING:
    return -EAGAIN;
  case EVL_FUTURE_CANCELLED:
    return -ECANCELED;
  default:
    if (f->error < 0)
      return f->error;
    if (result)
      *result = f->result;
    return 0;
  }
}

static void future_run_cb(void *arg) {
  future_cbrec *r = arg;
  evl_loop *loop = r->f->loop;
  future_ext *ext = evl__services(loop)->ext(loop, EVL__EXT_FUTURES);
  if (ext) {
    if (r->prev)
      r->prev->next = r->next;
    else
      ext->queued = r->next;
    if (r->next)
      r->next->prev = r->prev;
  }
  r->cb(r->f, r->arg);
  evl_future_release(r->f);
  free(r);
}

/* Queues one record with call_soon. The record takes a reference. */
static int future_schedule(evl_future *f, future_cbrec *r) {
  int rc = 0;
  future_ext *ext = future_ext_get(f->loop, &rc);
  if (!ext)
    return rc;
  r->f = f;
  evl_future_retain(f);
  rc = evl__services(f->loop)->queue_own_cb(f->loop, future_run_cb, r, NULL);
  if (rc < 0) {
    evl_future_release(f);
    return rc;
  }
  r->prev = NULL;
  r->next = ext->queued;
  if (ext->queued)
    ext->queued->prev = r;
  ext->queued = r;
  return 0;
}

/* The state is final before any callback is queued; none runs here. */
static int future_finish(evl_future *f, int state, void *result, int error) {
  if (!f)
    return -EINVAL;
  int rc = evl__services_check(f->loop);
  if (rc < 0)
    return rc;
  if (atomic_load_explicit(&f->state, memory_order_relaxed) !=
      EVL_FUTURE_PENDING)
    return -EINVAL;
  f->result = result;
  f->error = error;
  atomic_store_explicit(&f->state, state, memory_order_release);
  future_cbrec *r = f->cbs;
  f->cbs = f->cbs_tail = NULL;
  while (r) {
    future_cbrec *next = r->next;
    rc = future_schedule(f, r);
    if (rc < 0) {
      /* Only call_soon failing can get here (the loop state exists since
       * evl_future_new); say so rather than lose the callback silently. */
      evl__services(f->loop)->error(f->loop, rc, "future done-callback",
                                    "could not schedule a done-callback", -1);
      free(r);
    }
    r = next;
  }
  return 0;
}

int evl_future_set_result(evl_future *f, void *result) {
  return future_finish(f, EVL_FUTURE_DONE, result, 0);
}

int evl_future_set_error(evl_future *f, int code) {
  if (code >= 0)
    return -EINVAL;
  return future_finish(f, EVL_FUTURE_DONE, NULL, code);
}

int evl_future_cancel(evl_future *f) {
  return future_finish(f, EVL_FUTURE_CANCELLED, NULL, 0);
}

int evl_future_add_done_callback(evl_future *f, evl_future_cb cb, void *arg) {
  if (!f || !cb)
    return -EINVAL;
  int rc = evl__services_check(f->loop);
  if (rc < 0)
    return rc;
  future_cbrec *r = calloc(1, sizeof *r);
  if (!r)
    return -ENOMEM;
  r->cb = cb;
  r->arg = arg;
  if (atomic_load_explicit(&f->state, memory_order_relaxed) !=
      EVL_FUTURE_PENDING) {
    /* Already done: scheduled at once, as asyncio does; still not run. */
    rc = future_schedule(f, r);
    if (rc < 0)
      free(r);
    return rc;
  }
  if (f->cbs_tail)
    f->cbs_tail->next = r;
  else
    f->cbs = r;
  f->cbs_tail = r;
  return 0;
}

/* Removes a not-yet-scheduled callback (run_until_complete's own). */
static void future_remove_pending_cb(evl_future *f, evl_future_cb cb,
                                     void *arg) {
  future_cbrec *prev = NULL;
  for (future_cbrec *r = f->cbs; r; prev = r, r = r->next) {
    if (r->cb != cb || r->arg != arg)
      continue;
    if (prev)
      prev->next = r->next;
    else
      f->cbs = r->next;
    if (f->cbs_tail == r)
      f->cbs_tail = prev;
    free(r);
    return;
  }
}

/* Stops the loop only for the run_until_complete call that added it: the
 * generation guards against a callback still queued when an earlier call
 * returned because someone else stopped the loop. */
static void future_ruc_done(evl_future *f, void *arg) {
  future_ext *ext = evl__services(f->loop)->ext(f->loop, EVL__EXT_FUTURES);
  if (ext && ext->ruc_active == (uint64_t)(uintptr_t)arg)
    evl__services(f->loop)->stop(f->loop);
}

int evl_run_until_complete(evl_loop *loop, evl_future *f) {
  int rc = evl__services_check(loop);
  if (rc < 0)
    return rc;
  if (!f)
    return -EINVAL;
  if (f->loop != loop)
    return EVL_EFOREIGN;
  if (evl__services(loop)->is_running(loop) > 0)
    return -EBUSY;
  future_ext *ext = future_ext_get(loop, &rc);
  if (!ext)
    return rc;
  void *token = (void *)(uintptr_t)++ext->ruc_gen;
  evl_future_retain(f);
  rc = evl_future_add_done_callback(f, future_ruc_done, token);
  if (rc < 0) {
    evl_future_release(f);
    return rc;
  }
  ext->ruc_active = (uint64_t)(uintptr_t)token;
  /* Pending executor work completes through call_soon_threadsafe, which
   * wakes this wait: nothing else is needed to keep the loop alive. */
  rc = evl__services(loop)->run_forever(loop);
  ext = evl__services(loop)->ext(loop, EVL__EXT_FUTURES);
  if (ext)
    ext->ruc_active = 0;
  if (evl_future_state(f) == EVL_FUTURE_PENDING)
    future_remove_pending_cb(f, future_ruc_done, token);
  int st = evl_future_result(f, NULL);
  evl_future_release(f);
  if (rc < 0)
    return rc;
  /* Stopped by someone else before f was done: -EAGAIN (asyncio raises
   * "Event loop stopped before Future completed"). */
  return st;
}
