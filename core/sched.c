/* sched.c — call_soon, call_later, call_at and cancel: generation-checked
 * slots, the ready ring and the timer heap. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "loop.h"

/* Out of line: the slot array grows rarely, and then doubles. */
__attribute__((noinline)) static int slot_grow(evl_loop *loop) {
  if (loop->slots_cap >= EVL__H_MAX_SLOTS)
    return -ENOMEM;
  uint32_t ncap = loop->slots_cap ? loop->slots_cap * 2 : 64;
  evl__slot *ns = realloc(loop->slots, (size_t)ncap * sizeof *ns);
  if (!ns)
    return -ENOMEM;
  loop->slots = ns;
  loop->slots_cap = ncap;
  return 0;
}

static inline int slot_alloc(evl_loop *loop, evl_cb cb, void *arg,
                             uint32_t state, uint32_t *out) {
  uint32_t idx;
  if (loop->free_head != UINT32_MAX) {
    idx = loop->free_head;
    loop->free_head = loop->slots[idx].next_free;
  } else {
    if (loop->nslots == loop->slots_cap) {
      int rc = slot_grow(loop);
      if (rc < 0)
        return rc;
    }
    idx = loop->nslots++;
    loop->slots[idx].gen = 1;
    loop->slots[idx].handle = 0;
  }
  evl__slot *s = &loop->slots[idx];
  s->cb = cb;
  s->arg = arg;
  s->state = state;
  s->late = 0;
  *out = idx;
  return 0;
}

uint32_t evl__next_htag(void) {
  static unsigned counter;
  unsigned n = __atomic_fetch_add(&counter, 1, __ATOMIC_RELAXED);
  return (uint32_t)(n % EVL__H_TAG_MASK) + 1;
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

static inline __attribute__((always_inline)) int
sched_queue(evl_loop *loop, evl_cb cb, void *arg, evl_handle *out) {
  if (!out) /* no handle: nothing can cancel it, so no slot */
    return evl__ring_push(loop, (evl__qent){.cb = cb, .u.arg = arg});
  uint32_t idx;
  int rc = slot_alloc(loop, cb, arg, EVL__SLOT_QUEUED, &idx);
  if (rc < 0)
    return rc;
  rc = evl__ring_push(loop, evl__qent_slot(idx, loop->slots[idx].gen));
  if (rc < 0) {
    evl__slot_free(loop, idx);
    return rc;
  }
  if (out)
    *out = evl__slot_handle(loop, idx);
  return 0;
}

int evl__queue_cb(evl_loop *loop, evl_cb cb, void *arg, evl_handle *out) {
  return sched_queue(loop, cb, arg, out);
}

/* The common case inline: a live loop outside debug mode. */
static inline int sched_check(const evl_loop *loop) {
  if (loop && !loop->closed && !loop->debug)
    return 0;
  return evl__loop_check(loop);
}

__attribute__((noinline)) static int
call_soon_slow(evl_loop *loop, evl_cb cb, void *arg, evl_handle *out) {
  int rc = evl__loop_check(loop);
  if (rc < 0)
    return rc;
  if (!cb)
    return -EINVAL;
  return sched_queue(loop, cb, arg, out);
}

/* The hot path of every callback benchmark: a free slot, room in the ring,
 * no debug mode. Anything else goes out of line, so this saves nothing. */
int evl_call_soon(evl_loop *loop, evl_cb cb, void *arg, evl_handle *out) {
  if (!loop || loop->closed || loop->debug || !cb ||
      loop->rcount == loop->rmask + 1)
    return call_soon_slow(loop, cb, arg, out);
  evl__qent *q = &loop->ring[(loop->rhead + loop->rcount) & loop->rmask];
  if (!out) { /* no handle: nothing can cancel it, so no slot */
    *q = (evl__qent){.cb = cb, .u.arg = arg};
    loop->rcount++;
    return 0;
  }
  if (loop->free_head == UINT32_MAX)
    return call_soon_slow(loop, cb, arg, out);
  uint32_t idx = loop->free_head;
  evl__slot *s = &loop->slots[idx];
  loop->free_head = s->next_free;
  s->cb = cb;
  s->arg = arg;
  s->state = EVL__SLOT_QUEUED; /* `late` is read for timers only */
  *q = evl__qent_slot(idx, s->gen);
  loop->rcount++;
  *out = evl__slot_handle(loop, idx);
  return 0;
}

/* A timer the fast path cannot take: a closed or debug loop, no callback,
 * no free slot or a full heap. */
__attribute__((noinline)) static int sched_at_slow(evl_loop *loop,
                                                   uint64_t when_ns, evl_cb cb,
                                                   void *arg, evl_handle *out) {
  int rc = sched_check(loop);
  if (rc < 0)
    return rc;
  if (!cb)
    return -EINVAL;
  uint32_t idx;
  rc = slot_alloc(loop, cb, arg, EVL__SLOT_TIMER, &idx);
  if (rc < 0)
    return rc;
  loop->slots[idx].seq = loop->seq++;
  evl__hent e = {.deadline = when_ns, .slot = idx};
  rc = evl__heap_push(&loop->heap, loop->slots, e);
  if (rc < 0) {
    evl__slot_free(loop, idx);
    return rc;
  }
  if (out)
    *out = evl__slot_handle(loop, idx);
  return 0;
}

/* evl_call_at's body, inlined in evl_call_later too: one call per timer.
 * The common case (a live loop, a free slot, room in the heap) takes its
 * slot and sifts the new entry up here, without a call. */
static inline __attribute__((always_inline)) int sched_at(evl_loop *loop,
                                                          uint64_t when_ns,
                                                          evl_cb cb, void *arg,
                                                          evl_handle *out) {
  if (!loop || loop->closed || loop->debug || !cb ||
      loop->free_head == UINT32_MAX || loop->heap.n == loop->heap.cap)
    return sched_at_slow(loop, when_ns, cb, arg, out);
  uint32_t idx = loop->free_head;
  evl__slot *s = &loop->slots[idx];
  loop->free_head = s->next_free;
  s->cb = cb;
  s->arg = arg;
  s->state = EVL__SLOT_TIMER;
  s->late = 0;
  s->seq = loop->seq++;
  evl__heap_up_new(&loop->heap, loop->slots, loop->heap.n++, when_ns, idx);
  if (out)
    *out = evl__slot_handle(loop, idx);
  return 0;
}

/* A delay from a fresh clock read, not the cached loop time: a delay asked
 * for after a long callback is measured from when it was asked for (S5). A
 * negative delay is due now, so negative delays keep their scheduling order
 * (S2); a huge one saturates. */
static inline uint64_t sched_deadline(int64_t delay_ns) {
  uint64_t now = evl__clock();
  if (delay_ns <= 0)
    return now;
  return (uint64_t)delay_ns > UINT64_MAX - now ? UINT64_MAX
                                               : now + (uint64_t)delay_ns;
}

int evl_call_at(evl_loop *loop, uint64_t when_ns, evl_cb cb, void *arg,
                evl_handle *out) {
  return sched_at(loop, when_ns, cb, arg, out);
}

int evl_call_later(evl_loop *loop, int64_t delay_ns, evl_cb cb, void *arg,
                   evl_handle *out) {
  return sched_at(loop, sched_deadline(delay_ns), cb, arg, out);
}

/* The live slot a handle names, if it is of this loop and was scheduled by
 * `by` (a user handle never reaches the loop's own callbacks), or NULL. */
static inline evl__slot *sched_slot(evl_loop *loop, evl_handle h, uint32_t by) {
  /* Slot 0 in the handle (no slot) wraps to UINT32_MAX: out of range. */
  uint32_t idx = (uint32_t)(h & ((1u << EVL__H_SLOT_BITS) - 1)) - 1;
  if (idx >= loop->nslots)
    return NULL;
  evl__slot *s = &loop->slots[idx];
  /* The handle it gave out: same tag, generation and owner, not freed. */
  if (s->handle != (by == EVL__SLOT_BY_USER ? h : ~h))
    return NULL;
  return s;
}

int evl__queue_own_cb(evl_loop *loop, evl_cb cb, void *arg, evl_handle *out) {
  int rc = evl__loop_check(loop);
  if (rc < 0)
    return rc;
  if (!cb)
    return -EINVAL;
  evl_handle h;
  if ((rc = evl__queue_cb(loop, cb, arg, &h)) < 0)
    return rc;
  loop->slots[(h & ((1u << EVL__H_SLOT_BITS) - 1)) - 1].handle = ~h;
  if (out)
    *out = h;
  return 0;
}

static inline __attribute__((always_inline)) int
sched_cancel(evl_loop *loop, evl_handle h, uint32_t by) {
  int rc = sched_check(loop); /* touches no kernel state: as call_at (S16) */
  if (rc < 0)
    return rc;
  evl__slot *s = sched_slot(loop, h, by);
  if (!s)
    return EVL_EHANDLE;
  uint32_t idx = (uint32_t)(s - loop->slots);
  /* A queued entry stays in the ring and is skipped when reached (its
   * generation no longer matches), so the garbage is bounded by one
   * batch. */
  if (s->state == EVL__SLOT_TIMER)
    evl__heap_remove(&loop->heap, loop->slots, s->heap_idx);
  evl__slot_free(loop, idx);
  return 0;
}

int evl_cancel(evl_loop *loop, evl_handle h) {
  return sched_cancel(loop, h, EVL__SLOT_BY_USER);
}

int evl__cancel_own(evl_loop *loop, evl_handle h) {
  return sched_cancel(loop, h, EVL__SLOT_BY_LOOP);
}

/* The rarer re-arms, out of line: to an earlier deadline (one sift up),
 * of a due timer (back into the heap), or refused. */
__attribute__((noinline)) static int rearm_slow(evl_loop *loop, evl_handle h,
                                                uint64_t when) {
  int rc = evl__loop_check(loop);
  if (rc < 0)
    return rc;
  evl__slot *s = sched_slot(loop, h, EVL__SLOT_BY_USER);
  if (!s)
    return EVL_EHANDLE;
  uint64_t seq = loop->seq; /* as if scheduled now (S15) */
  if (s->state == EVL__SLOT_TIMER) {
    loop->seq++;
    evl__hent *e = &loop->heap.a[s->heap_idx];
    if (when >= e->deadline) {
      s->when = when;
      s->when_seq = seq;
      s->late = 1;
      return 0;
    }
    e->deadline = when;
    s->seq = seq;
    s->late = 0;
    evl__heap_update(&loop->heap, loop->slots, s->heap_idx);
    return 0;
  }
  if (s->state != EVL__SLOT_DUE)
    return -EINVAL; /* a call_soon callback is not a timer */
  /* Due in this batch but not started: back into the heap; its ring entry
   * is skipped when reached, since the slot is no longer DUE. */
  uint32_t idx = (uint32_t)(s - loop->slots);
  s->seq = seq;
  evl__hent e = {.deadline = when, .slot = idx};
  if ((rc = evl__heap_push(&loop->heap, loop->slots, e)) < 0)
    return rc;
  loop->seq++;
  s->state = EVL__SLOT_TIMER;
  s->late = 0;
  return 0;
}

/* The common re-arms inline: a pending timer of a live loop. Moved later
 * than its heap key (an inactivity timeout pushed back), no sift now: the
 * heap settles it if that key reaches the top. Moved earlier, its key only
 * decreases: one sift up. Everything else (a due timer, a refusal, debug
 * mode) is rearm_slow. */
static inline __attribute__((always_inline)) int
sched_rearm(evl_loop *loop, evl_handle h, uint64_t when) {
  if (!loop || loop->closed || loop->debug)
    return rearm_slow(loop, h, when);
  evl__slot *s = sched_slot(loop, h, EVL__SLOT_BY_USER);
  if (!s || s->state != EVL__SLOT_TIMER)
    return rearm_slow(loop, h, when);
  evl__hent *e = &loop->heap.a[s->heap_idx];
  uint64_t seq = loop->seq++; /* as if scheduled now (S15) */
  if (when >= e->deadline) {
    s->when = when;
    s->when_seq = seq;
    s->late = 1;
    return 0;
  }
  s->seq = seq;
  s->late = 0;
  evl__heap_up_new(&loop->heap, loop->slots, s->heap_idx, when,
                   (uint32_t)(s - loop->slots));
  return 0;
}

int evl_timer_rearm(evl_loop *loop, evl_handle h, int64_t delay_ns) {
  return sched_rearm(loop, h, sched_deadline(delay_ns));
}

int evl_timer_rearm_at(evl_loop *loop, evl_handle h, uint64_t when) {
  return sched_rearm(loop, h, when);
}
