/* sched.c — call_soon, call_later, call_at and cancel: generation-checked
 * slots, the ready ring and the timer heap. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "loop.h"

static int slot_alloc(evl_loop *loop, evl_cb cb, void *arg, uint32_t state,
                      uint32_t *out) {
  uint32_t idx;
  if (loop->free_head != UINT32_MAX) {
    idx = loop->free_head;
    loop->free_head = loop->slots[idx].next_free;
  } else {
    if (loop->nslots == loop->slots_cap) {
      if (loop->slots_cap >= (UINT32_MAX >> 2))
        return -ENOMEM;
      uint32_t ncap = loop->slots_cap ? loop->slots_cap * 2 : 64;
      evl__slot *ns = realloc(loop->slots, (size_t)ncap * sizeof *ns);
      if (!ns)
        return -ENOMEM;
      loop->slots = ns;
      loop->slots_cap = ncap;
    }
    idx = loop->nslots++;
    loop->slots[idx].gen = 1;
  }
  evl__slot *s = &loop->slots[idx];
  s->cb = cb;
  s->arg = arg;
  s->state = state;
  *out = idx;
  return 0;
}

/* Doubling, in FIFO order from the head: the ring never shrinks, so its
 * size settles at the largest batch the program produces. */
int evl__ring_grow(evl_loop *loop) {
  uint32_t cap = loop->rmask + 1;
  if (cap >= (1u << 30))
    return -ENOMEM;
  evl__qent *nr = malloc((size_t)cap * 2 * sizeof *nr);
  if (!nr)
    return -ENOMEM;
  for (uint32_t i = 0; i < loop->rcount; i++)
    nr[i] = loop->ring[(loop->rhead + i) & loop->rmask];
  free(loop->ring);
  loop->ring = nr;
  loop->rhead = 0;
  loop->rmask = cap * 2 - 1;
  return 0;
}

int evl__queue_cb(evl_loop *loop, evl_cb cb, void *arg, evl_handle *out) {
  uint32_t idx;
  int rc = slot_alloc(loop, cb, arg, EVL__SLOT_QUEUED, &idx);
  if (rc < 0)
    return rc;
  rc = evl__ring_push(loop, (evl__qent){.kind = EVL__Q_CB, .id = idx});
  if (rc < 0) {
    evl__slot_free(loop, idx);
    return rc;
  }
  if (out)
    *out = evl__slot_handle(loop, idx);
  return 0;
}

int evl_call_soon(evl_loop *loop, evl_cb cb, void *arg, evl_handle *out) {
  int rc = evl__loop_check(loop);
  if (rc < 0)
    return rc;
  if (!cb)
    return -EINVAL;
  return evl__queue_cb(loop, cb, arg, out);
}

int evl_call_at(evl_loop *loop, uint64_t when_ns, evl_cb cb, void *arg,
                evl_handle *out) {
  int rc = evl__loop_check(loop);
  if (rc < 0)
    return rc;
  if (!cb)
    return -EINVAL;
  uint32_t idx;
  rc = slot_alloc(loop, cb, arg, EVL__SLOT_TIMER, &idx);
  if (rc < 0)
    return rc;
  evl__hent e = {.deadline = when_ns, .seq = loop->seq++, .slot = idx};
  rc = evl__heap_push(&loop->heap, loop->slots, e);
  if (rc < 0) {
    evl__slot_free(loop, idx);
    return rc;
  }
  if (out)
    *out = evl__slot_handle(loop, idx);
  return 0;
}

int evl_call_later(evl_loop *loop, int64_t delay_ns, evl_cb cb, void *arg,
                   evl_handle *out) {
  /* A fresh read, not the cached loop time: a delay scheduled after a long
   * callback is measured from when it was asked for (S5). A negative delay
   * is due now, so negative delays keep their scheduling order (S2). */
  uint64_t now = evl_now();
  uint64_t when = now;
  if (delay_ns > 0)
    when = (uint64_t)delay_ns > UINT64_MAX - now ? UINT64_MAX
                                                 : now + (uint64_t)delay_ns;
  return evl_call_at(loop, when, cb, arg, out);
}

int evl_cancel(evl_loop *loop, evl_handle h) {
  int rc = evl__loop_check(loop);
  if (rc < 0)
    return rc;
  uint64_t lo = h & 0xffffffffu;
  uint32_t gen = (uint32_t)(h >> 32);
  if (lo == 0 || lo > loop->nslots)
    return EVL_EHANDLE;
  uint32_t idx = (uint32_t)lo - 1;
  evl__slot *s = &loop->slots[idx];
  if (s->gen != gen)
    return EVL_EHANDLE;
  switch (s->state) {
  case EVL__SLOT_QUEUED:
    /* Lazy: the ring entry stays and frees the slot when reached, so the
     * garbage is bounded by one batch. */
    s->state = EVL__SLOT_CANCELLED;
    s->cb = NULL;
    return 0;
  case EVL__SLOT_TIMER:
    evl__heap_remove(&loop->heap, loop->slots, s->heap_idx);
    evl__slot_free(loop, idx);
    return 0;
  default:
    return EVL_EHANDLE;
  }
}
