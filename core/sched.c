/* sched.c — call_soon, call_later, call_at and cancel: generation-checked
 * slots, the ready ring and the timer heap. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "loop.h"

/* Out of line: the slot array grows rarely, and then doubles. The heap
 * grows with it: every entry of the heap holds a slot, so with as many
 * entries as slots it is never full, and call_later's fast path needs no
 * test of its room (a free slot is enough). 16 bytes more per slot. */
__attribute__((noinline)) static int slot_grow(evl_loop *loop) {
  if (loop->slots_cap >= EVL__H_MAX_SLOTS)
    return -ENOMEM;
  uint32_t ncap = loop->slots_cap ? loop->slots_cap * 2 : 64;
  int rc = evl__heap_reserve(&loop->heap, ncap);
  if (rc < 0)
    return rc;
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
  if (loop && !loop->slow)
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
  if (!loop || loop->slow || !cb || loop->rcount == loop->rmask + 1)
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

/* A timer the fast path cannot take: a closed or debug loop, no callback
 * or no free slot. */
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

/* The first half of call_at and call_later's common case (a live loop, a
 * callback, a free slot): takes the slot and stores the callback, or
 * returns NULL for sched_at_slow. The heap needs no room test: it has an
 * entry per slot (slot_grow). call_later reads the clock after this, so
 * that the callback and its argument need not survive the call. */
static inline __attribute__((always_inline)) evl__slot *
sched_take(evl_loop *loop, evl_cb cb, void *arg) {
  if (!loop || loop->slow || !cb || loop->free_head == UINT32_MAX)
    return NULL;
  evl__slot *s = &loop->slots[loop->free_head];
  loop->free_head = s->next_free;
  s->cb = cb;
  s->arg = arg;
  s->state = EVL__SLOT_TIMER; /* `late` is 0 in a free slot */
  return s;
}

/* The second half: the key and the sift up, without a call. */
static inline __attribute__((always_inline)) int
sched_arm(evl_loop *loop, evl__slot *s, uint64_t when_ns, evl_handle *out) {
  uint32_t idx = (uint32_t)(s - loop->slots);
  s->seq = loop->seq++;
  s->heap_idx =
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
  evl__slot *s = sched_take(loop, cb, arg);
  if (!s)
    return sched_at_slow(loop, when_ns, cb, arg, out);
  return sched_arm(loop, s, when_ns, out);
}

/* The slow path reads its own clock: the fast path's clock read then has
 * only the loop, the slot, the delay and `out` to keep across the call. */
__attribute__((noinline)) static int call_later_slow(evl_loop *loop,
                                                     int64_t delay_ns,
                                                     evl_cb cb, void *arg,
                                                     evl_handle *out) {
  return sched_at_slow(loop, sched_deadline(delay_ns), cb, arg, out);
}

int evl_call_later(evl_loop *loop, int64_t delay_ns, evl_cb cb, void *arg,
                   evl_handle *out) {
  evl__slot *s = sched_take(loop, cb, arg);
  if (!s)
    return call_later_slow(loop, delay_ns, cb, arg, out);
  return sched_arm(loop, s, sched_deadline(delay_ns), out);
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

/* Every dead entry out of the heap and its slot freed, the live ones
 * packed with their heap_idx, then the heap order rebuilt: linear in the
 * heap's size, run when dead entries outnumber live ones three to one, so
 * each dead entry pays a constant share of it (one and a third entries
 * filtered, a third rebuilt). */
__attribute__((noinline)) static void sched_purge(evl_loop *loop) {
  evl__heap *h = &loop->heap;
  evl__slot *slots = loop->slots;
  uint32_t k = 0;
  for (uint32_t i = 0; i < h->n; i++) {
    evl__hent e = h->a[i];
    if (slots[e.slot].state == EVL__SLOT_DEAD) {
      evl__slot_free(loop, e.slot);
      continue;
    }
    slots[e.slot].heap_idx = k;
    h->a[k++] = e;
  }
  h->n = k;
  loop->heap_dead = 0;
  evl__heap_heapify(h, slots);
}

void evl__timers_settle(evl_loop *loop) {
  evl__heap *h = &loop->heap;
  while (h->n && loop->slots[h->a[0].slot].late) {
    uint32_t idx = h->a[0].slot;
    if (loop->slots[idx].state != EVL__SLOT_DEAD) {
      evl__heap_settle_top(h, loop->slots); /* re-armed later */
      continue;
    }
    evl__heap_pop(h, loop->slots); /* cancelled */
    loop->heap_dead--;
    evl__slot_free(loop, idx);
  }
}

/* Cancel once the loop is known to be usable: one handle look-up, then,
 * for a pending timer, eager or lazy by where its entry is. Three entries
 * in four of a 4-ary heap are leaves: the last entry fills the hole and
 * one compare with the parent settles it, no sift (evl__heap_cut_leaf). A
 * hole with children would cost a sift down (about 85 instructions), so
 * that entry stays, its slot DEAD: the handle no longer matches (a second
 * cancel or a re-arm is EVL_EHANDLE at once, S4), and the entry leaves
 * when it reaches the top (evl__timers_settle: a dead slot is `late`, so
 * firing tests nothing more) or when dead entries outnumber live ones
 * three to one (sched_purge, linear, so a few instructions a cancel).
 * Measured (callgrind, timers_cancel, 20 000 random cancels): eager 107.8
 * instructions a cancel with the benchmark's loop, this 83.8, libev 86.8.
 * The price: up to four heap entries and slots per pending timer after
 * many cancels, and a dead top ends one wait early, as a late top does. */
static inline __attribute__((always_inline)) int
sched_cancel(evl_loop *loop, evl_handle h, uint32_t by) {
  evl__slot *s = sched_slot(loop, h, by);
  if (!s)
    return EVL_EHANDLE;
  if (s->state != EVL__SLOT_TIMER) {
    /* A queued entry stays in the ring and is skipped when reached (its
     * generation no longer matches), so the garbage is bounded by one
     * batch. */
    evl__slot_free(loop, (uint32_t)(s - loop->slots));
    return 0;
  }
  uint32_t hole = s->heap_idx;
  if (4 * (uint64_t)hole + 1 >= loop->heap.n - 1) {
    /* A hole without children: removed now, with no sift (most are). */
    evl__slot_free(loop, (uint32_t)(s - loop->slots));
    evl__heap_cut_leaf(&loop->heap, loop->slots, hole);
    return 0;
  }
  s->state = EVL__SLOT_DEAD;
  s->late = 1; /* the run cycle's test of a due top: firing pays nothing */
  s->handle = 0;
  if (++loop->heap_dead * 4 > loop->heap.n * 3)
    sched_purge(loop);
  return 0;
}

/* A closed or debug loop: the full check (S16: touches no kernel state, as
 * call_at), then the same cancel. */
__attribute__((noinline)) static int cancel_slow(evl_loop *loop, evl_handle h,
                                                 uint32_t by) {
  int rc = evl__loop_check(loop);
  if (rc < 0)
    return rc;
  return sched_cancel(loop, h, by);
}

int evl_cancel(evl_loop *loop, evl_handle h) {
  if (!loop || loop->slow)
    return cancel_slow(loop, h, EVL__SLOT_BY_USER);
  return sched_cancel(loop, h, EVL__SLOT_BY_USER);
}

int evl__cancel_own(evl_loop *loop, evl_handle h) {
  if (!loop || loop->slow)
    return cancel_slow(loop, h, EVL__SLOT_BY_LOOP);
  return sched_cancel(loop, h, EVL__SLOT_BY_LOOP);
}

/* The common re-arm's first half: the pending timer a handle names in a
 * live loop, or NULL for rearm_slow (a due timer, a refusal, debug mode).
 * evl_timer_rearm reads the clock after it, so that the handle need not
 * survive the call. */
static inline __attribute__((always_inline)) evl__slot *
rearm_find(evl_loop *loop, evl_handle h) {
  if (!loop || loop->slow)
    return NULL;
  evl__slot *s = sched_slot(loop, h, EVL__SLOT_BY_USER);
  if (!s || s->state != EVL__SLOT_TIMER)
    return NULL;
  return s;
}

/* The second half. Moved later than its heap key (an inactivity timeout
 * pushed back), no sift now: the heap settles it if that key reaches the
 * top. Moved earlier, its key only decreases: one sift up. */
static inline __attribute__((always_inline)) int
rearm_pending(evl_loop *loop, evl__slot *s, uint64_t when) {
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
  s->heap_idx = evl__heap_up_new(&loop->heap, loop->slots, s->heap_idx, when,
                                 (uint32_t)(s - loop->slots));
  return 0;
}

/* The rarer re-arms, out of line: in a debug loop, of a due timer (back
 * into the heap), or refused. */
__attribute__((noinline)) static int rearm_slow(evl_loop *loop, evl_handle h,
                                                uint64_t when) {
  int rc = evl__loop_check(loop);
  if (rc < 0)
    return rc;
  evl__slot *s = sched_slot(loop, h, EVL__SLOT_BY_USER);
  if (!s)
    return EVL_EHANDLE;
  if (s->state == EVL__SLOT_TIMER) /* in a debug loop */
    return rearm_pending(loop, s, when);
  uint64_t seq = loop->seq; /* as if scheduled now (S15) */
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

/* As call_later_slow: the clock read of the fast path keeps only the loop,
 * the slot and the delay across the call. */
__attribute__((noinline)) static int
rearm_later_slow(evl_loop *loop, evl_handle h, int64_t delay_ns) {
  return rearm_slow(loop, h, sched_deadline(delay_ns));
}

int evl_timer_rearm(evl_loop *loop, evl_handle h, int64_t delay_ns) {
  evl__slot *s = rearm_find(loop, h);
  if (!s)
    return rearm_later_slow(loop, h, delay_ns);
  return rearm_pending(loop, s, sched_deadline(delay_ns));
}

int evl_timer_rearm_at(evl_loop *loop, evl_handle h, uint64_t when) {
  evl__slot *s = rearm_find(loop, h);
  if (!s)
    return rearm_slow(loop, h, when);
  return rearm_pending(loop, s, when);
}
