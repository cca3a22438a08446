/* adapter_timer.c — the native adapters' timers, written once: handles,
 * call_later/call_at/cancel/rearm, and fired timers run in contract order;
 * the library's own watcher is started, moved and stopped through hooks. */
#include <errno.h>
#include <stdlib.h>

#include "adapter.h"

evl__adapter_timer *evl__adapter_timer_spare(evl__adapter_base *b) {
  evl__adapter_timer *t = b->hooks->timer_new(b);
  if (t) {
    t->base = b;
    t->next_free = b->tfree;
    b->tfree = t;
  }
  return t;
}

static int timer_start(evl_loop *loop, uint64_t when_ns, int due_now, evl_cb cb,
                       void *arg, evl_handle *out) {
  evl__adapter_base *b = EVL__ADAPTER_BASE(loop);
  int rc = evl__adapter_check(b);
  if (rc)
    return rc;
  if (!cb)
    return -EINVAL;
  evl__adapter_timer *t = b->tfree;
  if (t) {
    b->tfree = t->next_free;
  } else if (!(t = b->hooks->timer_new(b))) {
    return -ENOMEM;
  } else {
    t->base = b;
  }
  rc = evl__adapter_slot_alloc(&b->slots, EVL__ADAPTER_SLOT_TIMER, t, &t->h);
  if (rc < 0) {
    t->next_free = b->tfree;
    b->tfree = t;
    return rc;
  }
  t->cb = cb;
  t->arg = arg;
  t->deadline = when_ns;
  t->seq = ++b->tseq;
  b->hooks->timer_arm(b, t, due_now);
  b->ntimers++;
  if (out)
    *out = t->h;
  return 0;
}

int evl__adapter_call_at(evl_loop *loop, uint64_t when_ns, evl_cb cb, void *arg,
                         evl_handle *out) {
  return timer_start(loop, when_ns, when_ns <= evl__adapter_now(), cb, arg,
                     out);
}

int evl__adapter_call_later(evl_loop *loop, int64_t delay_ns, evl_cb cb,
                            void *arg, evl_handle *out) {
  return timer_start(loop, evl__adapter_deadline(delay_ns), delay_ns <= 0, cb,
                     arg, out);
}

int evl__adapter_cancel(evl_loop *loop, evl_handle h) {
  evl__adapter_base *b = EVL__ADAPTER_BASE(loop);
  int rc = evl__adapter_check(b);
  if (rc)
    return rc;
  evl__adapter_slot *sl = evl__adapter_slot_get(&b->slots, h);
  if (!sl || sl->kind == EVL__ADAPTER_SLOT_OWN)
    return EVL_EHANDLE; /* the loop's own callbacks are not the user's */
  if (sl->kind != EVL__ADAPTER_SLOT_TIMER) {
    /* A call_soon entry stays in the FIFO with a dead handle (S4). */
    evl__adapter_slot_free(&b->slots, h);
    return 0;
  }
  evl__adapter_timer *t = sl->u.ptr;
  /* Also when it already fired and waits on the due list: the list skips
   * a handle that is no longer live. */
  b->hooks->timer_stop(b, t);
  evl__adapter_timer_release(b, t);
  return 0;
}

/* The live timer h names: 0, or EVL_EHANDLE, -EINVAL (a call_soon
 * handle) or the loop check's error. */
static inline __attribute__((always_inline)) int
timer_find(evl_loop *loop, evl_handle h, evl__adapter_timer **out) {
  evl__adapter_base *b = EVL__ADAPTER_BASE(loop);
  int rc = evl__adapter_check(b);
  if (rc)
    return rc;
  evl__adapter_slot *sl = evl__adapter_slot_get(&b->slots, h);
  if (!sl || sl->kind == EVL__ADAPTER_SLOT_OWN)
    return EVL_EHANDLE;
  if (sl->kind != EVL__ADAPTER_SLOT_TIMER)
    return -EINVAL; /* a call_soon callback is not a timer */
  *out = sl->u.ptr;
  return 0;
}

/* A new deadline and a new sequence number, as if scheduled now (S15): an
 * entry already on the due list keeps the old one and is skipped. */
static inline __attribute__((always_inline)) int
timer_move(evl__adapter_timer *t, uint64_t when_ns, int due_now) {
  evl__adapter_base *b = t->base;
  t->deadline = when_ns;
  t->seq = ++b->tseq;
  return b->hooks->timer_arm(b, t, due_now);
}

int evl__adapter_rearm(evl_loop *loop, evl_handle h, int64_t delay_ns) {
  evl__adapter_timer *t;
  int rc = timer_find(loop, h, &t);
  if (rc)
    return rc;
  return timer_move(t, evl__adapter_deadline(delay_ns), delay_ns <= 0);
}

int evl__adapter_rearm_at(evl_loop *loop, evl_handle h, uint64_t when_ns) {
  evl__adapter_timer *t;
  int rc = timer_find(loop, h, &t);
  if (rc)
    return rc;
  return timer_move(t, when_ns, when_ns <= evl__adapter_now());
}

static int due_push(evl__adapter_base *b, const evl__adapter_timer *t) {
  if (b->ndue == b->due_cap) {
    size_t ncap = b->due_cap ? b->due_cap * 2 : 64;
    evl__adapter_due *nv = realloc(b->due, ncap * sizeof *nv);
    if (!nv)
      return -ENOMEM;
    b->due = nv;
    b->due_cap = ncap;
  }
  b->due[b->ndue++] =
      (evl__adapter_due){t->deadline, t->seq, t->cb, t->arg, t->h};
  return 0;
}

int evl__adapter_timer_fired(evl__adapter_timer *t) {
  evl__adapter_base *b = t->base;
  if (evl__adapter_now() < t->deadline) {
    /* The library's clock lagged ours: never early (S2). */
    b->hooks->timer_arm(b, t, 0);
    return 0;
  }
  if (due_push(b, t) == 0)
    return 1;
  /* No memory for the queue: run it now, out of order. */
  evl_cb cb = t->cb;
  void *arg = t->arg;
  evl__adapter_timer_release(b, t);
  uint64_t t0 = evl__adapter_cb_begin(b);
  cb(arg);
  evl__adapter_cb_end(b, t0);
  return 0;
}

void evl__adapter_timers_free(evl__adapter_base *b) {
  for (uint32_t i = 0; i < b->slots.len; i++) {
    evl__adapter_slot *sl = &b->slots.v[i];
    if (sl->kind == EVL__ADAPTER_SLOT_TIMER) {
      b->hooks->timer_free(b, sl->u.ptr);
      sl->kind = EVL__ADAPTER_SLOT_FREE;
      sl->h = 0;
    }
  }
  while (b->tfree) {
    evl__adapter_timer *t = b->tfree;
    b->tfree = t->next_free;
    b->hooks->timer_free(b, t);
  }
}
