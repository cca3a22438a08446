/* loop.h — the reference loop's private state, shared by core/loop*.c only. */
#ifndef EVL_LOOP_H
#define EVL_LOOP_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <time.h>

#include <evl/backend.h>
#include <evl/evl.h>

#include "loop_int.h"

/* A scheduled callback or timer. Handles name a slot and its generation. */
enum evl__slot_state {
  EVL__SLOT_FREE = 0,
  EVL__SLOT_QUEUED, /* a call_soon callback in the ready ring */
  EVL__SLOT_TIMER,  /* in the heap */
  EVL__SLOT_DUE,    /* a timer taken off the heap, in the ring for its batch */
  EVL__SLOT_DEAD,   /* a cancelled timer whose entry is still in the heap */
};

typedef struct evl__slot {
  evl_cb cb;
  void *arg;
  uint32_t gen; /* EVL__H_GEN_BITS wide, never 0 */
  uint8_t state;
  /* A timer re-armed to a later deadline keeps its earlier heap key (no
   * sift) and its real key in when/when_seq, `late` set: the heap settles
   * it when that key reaches the top (evl__timers_settle). The heap key is
   * never later than the real one, so nothing fires early, and each re-arm
   * costs at most one sift, however often the timer moves before then. A
   * DEAD slot is `late` too: its key is no timer's. */
  uint8_t late;
  uint32_t heap_idx;  /* valid while EVL__SLOT_TIMER or EVL__SLOT_DEAD */
  uint32_t next_free; /* free: the next free slot */
  /* The heap key's second half, read only when deadlines tie: scheduling
   * order (S2). Here rather than in the entry, which stays 16 bytes. */
  uint64_t seq;
  uint64_t when, when_seq;
  /* The handle given out for this slot, complemented when the loop
   * scheduled it (EVL__SLOT_BY_LOOP), 0 when none or free: one compare
   * checks slot, loop tag, generation, owner and liveness of a handle
   * passed in. Also makes 64 bytes: the run cycle indexes slots with a
   * shift. */
  uint64_t handle;
} evl__slot;
_Static_assert(sizeof(evl__slot) == 64, "evl__slot is indexed by shifting");

/* Who scheduled an in-use slot. The loop's own callbacks (a future's
 * done-callbacks, a queued signal handler) are never reachable from a
 * handle passed to evl_cancel or evl_timer_rearm (S4): their slots keep
 * their handle complemented, which no handle of that slot can equal. */
enum { EVL__SLOT_BY_USER = 0, EVL__SLOT_BY_LOOP = 1 };

/*
 * A handle: generation (26 bits) | loop tag (10 bits) | slot + 1 (28 bits).
 * The tag names the loop, so a handle of another loop is EVL_EHANDLE here
 * even where slot and generation happen to match (the first handle of every
 * loop would otherwise be the same number). Tags come from a process-wide
 * counter and repeat only after 1023 loops.
 */
#define EVL__H_SLOT_BITS 28
#define EVL__H_TAG_BITS 10
#define EVL__H_GEN_BITS 26
#define EVL__H_GEN_MASK ((1u << EVL__H_GEN_BITS) - 1)
#define EVL__H_TAG_MASK ((1u << EVL__H_TAG_BITS) - 1)
/* Slot indexes stay below this so that index + 1 fits its bits. */
#define EVL__H_MAX_SLOTS (1u << (EVL__H_SLOT_BITS - 1))

/* The deadline sits next to the slot index (libev's trick): sifting reads
 * the slots only where two deadlines tie (their seq). 16 bytes: one move
 * and a shift per entry. */
typedef struct evl__hent {
  uint64_t deadline;
  uint32_t slot;
  uint32_t pad;
} evl__hent;
_Static_assert(sizeof(evl__hent) == 16, "evl__hent is indexed by shifting");

/* Cancel of an entry with children is lazy (sched.c): the entry stays,
 * its slot DEAD, until it reaches the top (evl__timers_settle) or dead
 * entries outnumber live ones three to one (evl__heap_heapify after
 * sched.c filters them out). n counts both; the loop's heap_dead counts
 * the dead ones. */
typedef struct evl__heap {
  evl__hent *a;
  uint32_t n, cap;
} evl__heap;

/* slots[e.slot].seq is set first: it orders equal deadlines. */
int evl__heap_push(evl__heap *h, evl__slot *slots, evl__hent e);
/* Room for cap entries (sched.c keeps one per slot). */
int evl__heap_reserve(evl__heap *h, uint32_t cap);
/* Restores the heap order over a[0..n) after sched.c filtered out the
 * dead entries (each live slot's heap_idx already set): Floyd's build,
 * linear in n. */
void evl__heap_heapify(evl__heap *h, evl__slot *slots);
/* Removes the top: the run cycle's, once per due timer. */
void evl__heap_pop(evl__heap *h, evl__slot *slots);
/* The entry at idx got a new key: sifts it up or down to its place. */
void evl__heap_update(evl__heap *h, evl__slot *slots, uint32_t idx);
/* The byte offset of the parent of the entry at byte offset o > 0: the
 * heap's walks go by offsets, as entries are 16 bytes. */
static inline size_t evl__heap_parent(size_t o) {
  return ((o - sizeof(evl__hent)) >> 2) & ~(sizeof(evl__hent) - 1);
}
/* Puts a key with the newest seq (a timer scheduled or re-armed just now)
 * at hole i and sifts it up. Every key in the heap has an older seq, so a
 * tie never moves it: only deadlines are compared, and no slot is read.
 * The walk is in byte offsets (evl__heap_parent: three instructions a
 * level, where an index needs its division and two scalings). The pad is
 * not written. Returns the entry's index, for the caller, who holds the
 * slot, to store in its heap_idx. */
static inline uint32_t evl__heap_up_new(evl__heap *h, evl__slot *slots,
                                        uint32_t i, uint64_t when,
                                        uint32_t slot) {
  char *base = (char *)h->a;
  size_t o = (size_t)i * sizeof(evl__hent);
  while (o) {
    size_t po = evl__heap_parent(o);
    const evl__hent *p = (const evl__hent *)(base + po);
    if (when >= p->deadline)
      break;
    evl__hent *hole = (evl__hent *)(base + o);
    *hole = *p;
    slots[hole->slot].heap_idx = (uint32_t)(o / sizeof(evl__hent));
    o = po;
  }
  evl__hent *hole = (evl__hent *)(base + o);
  hole->deadline = when;
  hole->slot = slot;
  return (uint32_t)(o / sizeof(evl__hent));
}
/* Removes the entry at hole i, a hole without children once the heap is
 * one shorter (three in four of a 4-ary heap's), inline: the last entry
 * fills it and can only climb. When its deadline is later than its
 * parent's (the common case, as the last entry is a late one), one compare
 * settles it; an entry not later (a tie: seq decides) goes to
 * evl__heap_update. */
static inline void evl__heap_cut_leaf(evl__heap *h, evl__slot *slots,
                                      uint32_t i) {
  uint32_t last = --h->n;
  if (i == last)
    return;
  evl__hent *a = h->a;
  a[i] = a[last];
  slots[a[i].slot].heap_idx = i;
  if (i > 0 && a[i].deadline <= a[(i - 1) / 4].deadline)
    evl__heap_update(h, slots, i);
}
/* The top is a live late timer: gives it its real key and sifts it down
 * (evl__timers_settle does it until the top's key is its deadline). */
void evl__heap_settle_top(evl__heap *h, evl__slot *slots);
void evl__heap_free(evl__heap *h);

/* Ready-ring entries. A callback queued without asking for a handle can
 * never be cancelled, so it needs no slot: the entry holds it (cb set).
 * Otherwise (cb NULL) the entry names a slot and the generation it had
 * when queued, so that a slot freed (cancelled) or reused since is
 * skipped. I/O events never enter the ring: the run cycle dispatches them
 * straight from the backend's array (loop_run.c). */
typedef struct evl__qent {
  evl_cb cb;
  union {
    void *arg;
    struct {
      uint32_t id, gen;
    } slot;
  } u;
} evl__qent;

static inline evl__qent evl__qent_slot(uint32_t id, uint32_t gen) {
  evl__qent e = {.cb = NULL};
  e.u.slot.id = id;
  e.u.slot.gen = gen;
  return e;
}

typedef struct evl__watcher {
  evl_io_cb cb;
  void *arg;
  /* loop->watcher_gen when added or replaced: a watcher newer than the
   * events being dispatched is not called for them (S6). 64 bits so that
   * it never wraps. EVL__W_EMPTY without a callback: above every mark, so
   * the dispatch tests the generation alone. */
  uint64_t gen;
} evl__watcher;

#define EVL__W_EMPTY UINT64_MAX
#define EVL__WATCHER_EMPTY ((evl__watcher){.gen = EVL__W_EMPTY})

/* 64 bytes, a power of two: the dispatch indexes the table with a shift. */
typedef struct evl__fd {
  evl__watcher r, w;
  uint8_t kmask;    /* what the backend has registered now */
  uint8_t pending;  /* on the change list */
  uint8_t internal; /* the loop's own: EVL__FD_WAKE or EVL__FD_OWN */
  uint8_t reassert; /* an add on a registered fd: ask the backend again */
  uint8_t pad[64 - 2 * sizeof(evl__watcher) - 4];
} evl__fd;
_Static_assert(sizeof(evl__fd) == 64, "evl__fd is indexed by shifting");

/* evl__fd.internal: user calls leave these fds alone. */
enum { EVL__FD_USER = 0, EVL__FD_WAKE = 1, EVL__FD_OWN = 2 };

typedef struct evl__tsent {
  evl_cb cb;
  void *arg;
} evl__tsent;

typedef struct evl__hook {
  evl__close_hook fn;
  void *data;
} evl__hook;

struct evl_loop {
  const evl__loop_services *svc; /* first: see loop_int.h */
  int closed;
  int running;
  int stopping;
  int debug;
  uint64_t slow_ns;
  unsigned executor_threads;
  /* closed || debug, kept by loop.c where either changes: the scheduling
   * calls' fast paths (call_soon, call_later, cancel, re-arm) test this
   * one word and leave every refusal and debug check to their slow path.
   * Here, in what was padding: the loop keeps its size. */
  int slow;
  pthread_t thread; /* valid while running */
  uint64_t now;

  const evl_backend_ops *be;
  void *be_state;

  evl__slot *slots;
  uint32_t nslots, slots_cap, free_head;
  uint32_t htag; /* this loop's tag in its handles, 1..EVL__H_TAG_MASK */

  evl__qent *ring; /* power-of-two ring */
  uint32_t rhead, rcount, rmask;
  /* Dead (lazily cancelled) entries among heap.n (sched.c), here in what
   * was padding, not in evl__heap, which would grow by 8 bytes. */
  uint32_t heap_dead;

  evl__heap heap;
  uint64_t seq;

  evl__fd *fds;
  int nfds;
  int *changes;
  int nchanges, changes_cap;
  uint64_t nregistered;
  uint64_t watcher_gen;

  evl_event *events;
  int events_cap;

  /* Cross-thread posts: a locked vector swapped out whole by the loop, and
   * an eventfd written only on the empty -> non-empty edge, so 100 000
   * posts cost one wakeup and a full pipe can never lose a post. */
  pthread_mutex_t ts_lock;
  evl__tsent *ts_q, *ts_spare;
  size_t ts_n, ts_cap, ts_spare_cap;
  int ts_pending; /* written under ts_lock, read by the loop without (atomic) */
  int ts_writers; /* posters writing the wakeup fd now (atomic) */
  int wake_rfd, wake_wfd;
  unsigned fork_gen; /* evl__forks when made or last made the child's own */

  evl_error_handler eh;
  void *eh_arg;

  evl_loop_stats stats;

  void *ext[EVL__EXT_MAX];
  evl__hook *hooks;
  int nhooks;
};

/* ---- hot paths shared by the run cycle and the scheduling calls ------ */

/* evl_now(), inline for the core's own hot paths. */
static inline uint64_t evl__clock(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* The slot's handle, remembered in the slot for sched.c's look-ups. */
static inline evl_handle evl__slot_handle(evl_loop *loop, uint32_t idx) {
  evl__slot *s = &loop->slots[idx];
  s->handle = ((uint64_t)s->gen << (EVL__H_SLOT_BITS + EVL__H_TAG_BITS)) |
              ((uint64_t)loop->htag << EVL__H_SLOT_BITS) | (uint64_t)(idx + 1);
  return s->handle;
}

static inline void evl__slot_free(evl_loop *loop, uint32_t idx) {
  evl__slot *s = &loop->slots[idx];
  s->state = EVL__SLOT_FREE; /* cb and arg are read in no other state */
  s->late = 0; /* 0 in every free slot: call_later's fast path relies on it */
  s->handle = 0;
  s->gen = (s->gen + 1) & EVL__H_GEN_MASK;
  if (s->gen == 0) /* 0 would make handle 0 reachable again */
    s->gen = 1;
  s->next_free = loop->free_head;
  loop->free_head = idx;
}

int evl__ring_grow(evl_loop *loop);

static inline int evl__ring_push(evl_loop *loop, evl__qent e) {
  if (loop->rcount == loop->rmask + 1) {
    int rc = evl__ring_grow(loop);
    if (rc < 0)
      return rc;
  }
  loop->ring[(loop->rhead + loop->rcount) & loop->rmask] = e;
  loop->rcount++;
  return 0;
}

static inline evl__qent evl__ring_pop(evl_loop *loop) {
  evl__qent e = loop->ring[loop->rhead];
  loop->rhead = (loop->rhead + 1) & loop->rmask;
  loop->rcount--;
  return e;
}

/* loop.c, for the run cycle in loop_run.c too */
static inline int evl__loop_is_running(const evl_loop *loop) {
  return __atomic_load_n(&loop->running, __ATOMIC_ACQUIRE);
}
/* To the loop's error handler, or the default one when none is set. */
void evl__loop_deliver(evl_loop *loop, const evl_error_info *info);
/* sched.c */
int evl__queue_cb(evl_loop *loop, evl_cb cb, void *arg, evl_handle *out);
/* While the top's key is not its timer's (a `late` top): gives a re-armed
 * timer its real key (evl__heap_settle_top), pops a cancelled one and frees
 * its slot. Then the top, if any, is a live timer at its real deadline. */
void evl__timers_settle(evl_loop *loop);
/* A new loop's handle tag. */
uint32_t evl__next_htag(void);
/* io.c */
int evl__fd_reserve(evl_loop *loop, int fd);
/* be->ctl, tried again on a transient error (-ENOMEM, -EAGAIN, ...). */
int evl__ctl(evl_loop *loop, int fd, unsigned old_mask, unsigned new_mask);
void evl__flush_changes(evl_loop *loop);
/* post.c */
int evl__wake_open(evl_loop *loop);
void evl__wake_now(evl_loop *loop);
/* fork.c */
extern unsigned evl__forks;
void evl__fork_watch(void);
/* Inherited across fork() and not yet made the child's own: the core then
 * calls no backend function that could change the parent's kernel state. */
static inline int evl__forked(const evl_loop *loop) {
  return loop->fork_gen != __atomic_load_n(&evl__forks, __ATOMIC_RELAXED);
}
void evl__drain_posts(evl_loop *loop);

#endif
