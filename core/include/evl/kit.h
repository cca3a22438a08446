/* kit.h — the plumbing every whole-loop plugin repeats, header-only.
 *
 * A loop plugin (evl/impl.h) maps evlab's API onto some event library. What
 * the contract asks beyond that mapping is the same in every plugin, and
 * easy to get subtly wrong; this header has it once, as static inline
 * functions, so a plugin includes it and links nothing from libevl:
 *
 *   - generation-checked handles for call_soon / call_at / call_later, a
 *     binary timer heap ordered by (deadline, scheduling order), cancel and
 *     re-arm (S2, S4, S15);
 *   - the ready FIFO with the next-iteration rule: a batch runs exactly what
 *     was queued when it began (S1), and an I/O event is dropped if its
 *     watcher was removed or replaced after it was collected (S6);
 *   - readers and writers per fd, one of each, adding again replaces (S6);
 *   - the lossless thread-safe post queue: a locked vector plus a wakeup
 *     pipe written once per empty -> non-empty edge (S9).
 *
 * One iteration of a plugin's run cycle with the kit (CONTRACT.md, "Loop
 * semantics"):
 *
 *   int64_t t = evl_kit_timeout_ns(&k, evl_kit_now(), stopping);   // 1
 *   ... wait in the library, watching evl_kit_interest() of each fd and
 *       evl_kit_wake_fd(&k) for reading, for at most t ns ...      // 2
 *   evl_kit_take_posts(&k);           // if the wake fd was readable
 *   evl_kit_io_ready(&k, fd, bits);   // for each ready fd          // 3
 *   evl_kit_queue_due(&k, evl_kit_now());
 *   evl_kit_run_batch(&k);                                          // 4
 *
 * Every function returns 0 (or a count) or a negative code, never prints,
 * never aborts. Only evl_kit_post() may be called from another thread. It
 * uses POSIX calls (clock_gettime, pipe, fcntl, pthread mutexes): build with
 * the compiler's default GNU C mode, or define _GNU_SOURCE (or
 * _POSIX_C_SOURCE 200809L) before the first #include under -std=c11.
 */
#ifndef EVL_KIT_H
#define EVL_KIT_H

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "evl.h"

#ifdef __cplusplus
extern "C" {
#endif

enum { EVL_KIT_FREE, EVL_KIT_QUEUED, EVL_KIT_TIMER };

/* A scheduled callback or timer. Its handle is (gen << 32) | (tag << 24) |
 * (index + 1): gen moves when the slot is freed, so a spent handle never
 * matches a reused slot, and the tag names the kit's loop, so a handle of
 * another loop never matches either (S4). `stamp` names the slot's current ring
 * entry: an entry with another stamp (cancelled, re-armed out of the batch) is
 * skipped. */
typedef struct evl_kit_slot {
  evl_cb cb;
  void *arg;
  uint64_t when, seq; /* timers: deadline, then scheduling order */
  uint32_t gen, stamp, heap, next_free;
  uint8_t state, is_timer;
} evl_kit_slot;

enum { EVL_KIT_E_SLOT, EVL_KIT_E_READ, EVL_KIT_E_WRITE, EVL_KIT_E_POST };
typedef struct evl_kit_entry {
  uint8_t kind;
  unsigned events;
  int fd;
  uint32_t id, stamp; /* slot and stamp, or watcher generation in stamp */
  evl_cb cb;          /* posts */
  void *arg;
} evl_kit_entry;

typedef struct evl_kit_watcher {
  evl_io_cb cb;
  void *arg;
  uint32_t gen; /* moves on every add, replace and remove */
} evl_kit_watcher;

typedef struct evl_kit_fd {
  evl_kit_watcher r, w;
} evl_kit_fd;

typedef struct evl_kit_post_ent {
  evl_cb cb;
  void *arg;
} evl_kit_post_ent;

typedef struct evl_kit {
  evl_kit_slot *slots;
  uint32_t nslots, capslots, free_head; /* free_head: index + 1, 0 none */
  uint64_t seq;
  uint32_t *heap; /* slot indices */
  uint32_t nheap, capheap;
  evl_kit_entry *ring; /* power-of-two ring */
  uint32_t head, count, capring;
  evl_kit_fd *fds;
  int nfds, nwatched;
  uint32_t watcher_gen;
  pthread_mutex_t lock; /* guards posts, nposts, capposts, wake_pending,
                           closed */
  evl_kit_post_ent *posts;
  size_t nposts, capposts;
  int wake_rd, wake_wr, wake_pending, closed;
  uint64_t callbacks; /* callbacks run, for loop_stats */
  uint32_t tag;       /* names this loop in its handles: 1..255 */
} evl_kit;

#define EVL_KIT_MAX_SLOTS 0xffffffu /* index + 1 fits below the tag */

/* ---------------------------------------------------------------- basics */

static inline uint64_t evl_kit_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Makes *p (an array of `elem`-byte items) hold `need`, doubling from 16. */
static inline int evl_kit_grow(void *p, uint32_t *cap, size_t elem,
                               uint32_t need) {
  if (need <= *cap)
    return 0;
  uint32_t n = *cap ? *cap : 16;
  while (n < need) {
    if (n > UINT32_MAX / 2)
      return -ENOMEM;
    n *= 2;
  }
  void *old;
  memcpy(&old, p, sizeof old); /* p is a T **: no aliasing through void ** */
  void *np = realloc(old, (size_t)n * elem);
  if (!np)
    return -ENOMEM;
  memcpy(p, &np, sizeof np);
  *cap = n;
  return 0;
}

/* The wakeup pipe and the lock. 0 or -errno; nothing is left on failure. */
static inline int evl_kit_init(evl_kit *k) {
  static unsigned tags; /* per file that includes the kit: enough to tell
                           its loops apart */
  memset(k, 0, sizeof *k);
  k->tag = __atomic_fetch_add(&tags, 1, __ATOMIC_RELAXED) % 255 + 1;
  int p[2];
  if (pipe(p) != 0)
    return -errno;
  for (int i = 0; i < 2; i++) {
    fcntl(p[i], F_SETFD, FD_CLOEXEC);
    fcntl(p[i], F_SETFL, O_NONBLOCK);
  }
  if (pthread_mutex_init(&k->lock, NULL) != 0) {
    close(p[0]);
    close(p[1]);
    return -ENOMEM;
  }
  k->wake_rd = p[0];
  k->wake_wr = p[1];
  return 0;
}

/* Releases every fd and byte; nothing queued runs. The lock stays usable
 * (a default mutex holds no resource), so a post racing with close gets
 * EVL_ECLOSED instead of writing to a closed, maybe reused, fd. */
static inline void evl_kit_fini(evl_kit *k) {
  pthread_mutex_lock(&k->lock);
  k->closed = 1;
  free(k->posts);
  k->posts = NULL;
  k->nposts = k->capposts = 0;
  pthread_mutex_unlock(&k->lock);
  close(k->wake_rd);
  close(k->wake_wr);
  k->wake_rd = k->wake_wr = -1;
  free(k->slots);
  free(k->heap);
  free(k->ring);
  free(k->fds);
  k->slots = NULL;
  k->heap = NULL;
  k->ring = NULL;
  k->fds = NULL;
  k->nslots = k->capslots = k->free_head = k->nheap = k->capheap = 0;
  k->head = k->count = k->capring = 0;
  k->nfds = k->nwatched = 0;
}

/* ---------------------------------------------------------------- FIFO */

/* Room for `more` entries beyond those queued, in FIFO order. */
static inline int evl_kit_reserve(evl_kit *k, uint32_t more) {
  if (more <= k->capring - k->count)
    return 0;
  uint32_t n = k->capring ? k->capring : 64;
  while (n - k->count < more) {
    if (n > UINT32_MAX / 2)
      return -ENOMEM;
    n *= 2;
  }
  evl_kit_entry *nr = malloc((size_t)n * sizeof *nr);
  if (!nr)
    return -ENOMEM;
  for (uint32_t i = 0; i < k->count; i++)
    nr[i] = k->ring[(k->head + i) & (k->capring - 1)];
  free(k->ring);
  k->ring = nr;
  k->head = 0;
  k->capring = n;
  return 0;
}

static inline int evl_kit_push(evl_kit *k, evl_kit_entry e) {
  int rc = evl_kit_reserve(k, 1);
  if (rc < 0)
    return rc;
  k->ring[(k->head + k->count) & (k->capring - 1)] = e;
  k->count++;
  return 0;
}

/* ---------------------------------------------------------------- slots */

static inline int evl_kit_slot_new(evl_kit *k, evl_cb cb, void *arg,
                                   uint32_t *out) {
  uint32_t i;
  if (k->free_head) {
    i = k->free_head - 1;
    k->free_head = k->slots[i].next_free;
  } else {
    if (k->nslots >= EVL_KIT_MAX_SLOTS)
      return -ENOMEM;
    int rc =
        evl_kit_grow(&k->slots, &k->capslots, sizeof *k->slots, k->nslots + 1);
    if (rc < 0)
      return rc;
    i = k->nslots++;
    memset(&k->slots[i], 0, sizeof k->slots[i]);
    k->slots[i].gen = 1;
  }
  evl_kit_slot *s = &k->slots[i];
  s->cb = cb;
  s->arg = arg;
  s->next_free = 0;
  *out = i;
  return 0;
}

static inline void evl_kit_slot_free(evl_kit *k, uint32_t i) {
  evl_kit_slot *s = &k->slots[i];
  s->state = EVL_KIT_FREE;
  s->cb = NULL;
  s->stamp++;        /* its ring entry, if any, is stale now */
  if (++s->gen == 0) /* 0 would make handle 0 valid */
    s->gen = 1;
  s->next_free = k->free_head;
  k->free_head = i + 1;
}

static inline evl_handle evl_kit_handle(const evl_kit *k, uint32_t i) {
  return ((uint64_t)k->slots[i].gen << 32) | ((uint64_t)k->tag << 24) |
         (uint64_t)(i + 1);
}

/* The slot a live handle names, or -1. */
static inline int64_t evl_kit_lookup(const evl_kit *k, evl_handle h) {
  uint64_t low = h & EVL_KIT_MAX_SLOTS;
  if (low == 0 || low > k->nslots || ((h >> 24) & 0xff) != k->tag)
    return -1;
  const evl_kit_slot *s = &k->slots[low - 1];
  if (s->gen != (uint32_t)(h >> 32) || s->state == EVL_KIT_FREE)
    return -1;
  return (int64_t)(low - 1);
}

static inline int evl_kit_queue_slot(evl_kit *k, uint32_t i) {
  evl_kit_slot *s = &k->slots[i];
  evl_kit_entry e = {.kind = EVL_KIT_E_SLOT, .id = i, .stamp = s->stamp + 1};
  int rc = evl_kit_push(k, e);
  if (rc == 0) {
    s->stamp++;
    s->state = EVL_KIT_QUEUED;
  }
  return rc;
}

/* ---------------------------------------------------------------- heap */

static inline int evl_kit_before(const evl_kit *k, uint32_t a, uint32_t b) {
  const evl_kit_slot *x = &k->slots[a], *y = &k->slots[b];
  return x->when < y->when || (x->when == y->when && x->seq < y->seq);
}

static inline void evl_kit_heap_set(evl_kit *k, uint32_t pos, uint32_t i) {
  k->heap[pos] = i;
  k->slots[i].heap = pos;
}

static inline void evl_kit_heap_up(evl_kit *k, uint32_t pos) {
  uint32_t i = k->heap[pos];
  while (pos > 0 && evl_kit_before(k, i, k->heap[(pos - 1) / 2])) {
    evl_kit_heap_set(k, pos, k->heap[(pos - 1) / 2]);
    pos = (pos - 1) / 2;
  }
  evl_kit_heap_set(k, pos, i);
}

static inline void evl_kit_heap_down(evl_kit *k, uint32_t pos) {
  uint32_t i = k->heap[pos];
  for (;;) {
    uint32_t c = 2 * pos + 1;
    if (c >= k->nheap)
      break;
    if (c + 1 < k->nheap && evl_kit_before(k, k->heap[c + 1], k->heap[c]))
      c++;
    if (!evl_kit_before(k, k->heap[c], i))
      break;
    evl_kit_heap_set(k, pos, k->heap[c]);
    pos = c;
  }
  evl_kit_heap_set(k, pos, i);
}

/* Both ways: the last element may belong above or below the hole. */
static inline void evl_kit_heap_remove(evl_kit *k, uint32_t pos) {
  uint32_t last = k->heap[--k->nheap];
  if (pos == k->nheap)
    return;
  evl_kit_heap_set(k, pos, last);
  evl_kit_heap_down(k, pos);
  evl_kit_heap_up(k, k->slots[last].heap);
}

/* A timer (slot i) enters the heap at `when`, scheduled now. */
static inline int evl_kit_heap_add(evl_kit *k, uint32_t i, uint64_t when) {
  int rc = evl_kit_grow(&k->heap, &k->capheap, sizeof *k->heap, k->nheap + 1);
  if (rc < 0)
    return rc;
  evl_kit_slot *s = &k->slots[i];
  s->when = when;
  s->seq = k->seq++;
  s->state = EVL_KIT_TIMER;
  s->is_timer = 1;
  k->heap[k->nheap++] = i;
  evl_kit_heap_up(k, k->nheap - 1);
  return 0;
}

/* ---------------------------------------------------------------- scheduling
 */

static inline int evl_kit_call_soon(evl_kit *k, evl_cb cb, void *arg,
                                    evl_handle *out) {
  if (!cb)
    return -EINVAL;
  uint32_t i;
  int rc = evl_kit_slot_new(k, cb, arg, &i);
  if (rc < 0)
    return rc;
  k->slots[i].is_timer = 0;
  if ((rc = evl_kit_queue_slot(k, i)) < 0) {
    evl_kit_slot_free(k, i);
    return rc;
  }
  if (out)
    *out = evl_kit_handle(k, i);
  return 0;
}

static inline int evl_kit_call_at(evl_kit *k, uint64_t when, evl_cb cb,
                                  void *arg, evl_handle *out) {
  if (!cb)
    return -EINVAL;
  uint32_t i;
  int rc = evl_kit_slot_new(k, cb, arg, &i);
  if (rc < 0)
    return rc;
  if ((rc = evl_kit_heap_add(k, i, when)) < 0) {
    evl_kit_slot_free(k, i);
    return rc;
  }
  if (out)
    *out = evl_kit_handle(k, i);
  return 0;
}

/* From a fresh clock read (S5); a negative delay is due now, behind earlier
 * ones (S2); a huge one saturates. */
static inline uint64_t evl_kit_deadline(int64_t delay_ns) {
  uint64_t now = evl_kit_now();
  if (delay_ns <= 0)
    return now;
  return (uint64_t)delay_ns > UINT64_MAX - now ? UINT64_MAX
                                               : now + (uint64_t)delay_ns;
}

static inline int evl_kit_call_later(evl_kit *k, int64_t delay_ns, evl_cb cb,
                                     void *arg, evl_handle *out) {
  return evl_kit_call_at(k, evl_kit_deadline(delay_ns), cb, arg, out);
}

/* 0, or EVL_EHANDLE for a handle that ran, started, was cancelled or never
 * existed (S4). A queued entry is skipped by its stamp. */
static inline int evl_kit_cancel(evl_kit *k, evl_handle h) {
  int64_t i = evl_kit_lookup(k, h);
  if (i < 0)
    return EVL_EHANDLE;
  if (k->slots[i].state == EVL_KIT_TIMER)
    evl_kit_heap_remove(k, k->slots[i].heap);
  evl_kit_slot_free(k, (uint32_t)i);
  return 0;
}

/* S15: a pending timer moves to `when`, keeping its handle, as if scheduled
 * now; one due but not started leaves the running batch. EVL_EHANDLE for a
 * dead handle, -EINVAL for a call_soon one. */
static inline int evl_kit_rearm_at(evl_kit *k, evl_handle h, uint64_t when) {
  int64_t i = evl_kit_lookup(k, h);
  if (i < 0)
    return EVL_EHANDLE;
  evl_kit_slot *s = &k->slots[i];
  if (!s->is_timer)
    return -EINVAL;
  if (s->state == EVL_KIT_TIMER) {
    evl_kit_heap_remove(k, s->heap);
  } else {
    int rc = evl_kit_grow(&k->heap, &k->capheap, sizeof *k->heap, k->nheap + 1);
    if (rc < 0)
      return rc;
    s->stamp++; /* out of the batch */
  }
  return evl_kit_heap_add(k, (uint32_t)i, when); /* room is there */
}

static inline int evl_kit_rearm(evl_kit *k, evl_handle h, int64_t delay_ns) {
  return evl_kit_rearm_at(k, h, evl_kit_deadline(delay_ns));
}

/* ---------------------------------------------------------------- watchers */

/* Adding again replaces: events collected for the old callback are dropped.
 * The caller checks the fd and registers it with its library first. */
static inline int evl_kit_add_io(evl_kit *k, int fd, int write, evl_io_cb cb,
                                 void *arg) {
  if (!cb)
    return -EINVAL;
  if (fd < 0)
    return -EBADF;
  if (fd >= k->nfds) {
    uint32_t cap = (uint32_t)k->nfds;
    int rc = evl_kit_grow(&k->fds, &cap, sizeof *k->fds, (uint32_t)fd + 1);
    if (rc < 0)
      return rc;
    memset(k->fds + k->nfds, 0,
           (size_t)(cap - (uint32_t)k->nfds) * sizeof *k->fds);
    k->nfds = (int)cap;
  }
  evl_kit_fd *f = &k->fds[fd];
  if (!f->r.cb && !f->w.cb)
    k->nwatched++;
  evl_kit_watcher *w = write ? &f->w : &f->r;
  w->cb = cb;
  w->arg = arg;
  w->gen = ++k->watcher_gen;
  return 0;
}

/* 1 if a watcher was there, else 0. */
static inline int evl_kit_remove_io(evl_kit *k, int fd, int write) {
  if (fd < 0)
    return -EBADF;
  if (fd >= k->nfds)
    return 0;
  evl_kit_fd *f = &k->fds[fd];
  evl_kit_watcher *w = write ? &f->w : &f->r;
  if (!w->cb)
    return 0;
  *w = (evl_kit_watcher){.gen = ++k->watcher_gen};
  if (!f->r.cb && !f->w.cb)
    k->nwatched--;
  return 1;
}

/* EVL_READ | EVL_WRITE as watched now: what to ask the library for. */
static inline unsigned evl_kit_interest(const evl_kit *k, int fd) {
  if (fd < 0 || fd >= k->nfds)
    return 0;
  return (k->fds[fd].r.cb ? EVL_READ : 0u) | (k->fds[fd].w.cb ? EVL_WRITE : 0u);
}

/* Step 3 for one ready fd: queues its watchers' callbacks. Hang-up and
 * error wake every registered direction (S6). */
static inline int evl_kit_io_ready(evl_kit *k, int fd, unsigned events) {
  if (fd < 0 || fd >= k->nfds)
    return 0;
  evl_kit_fd *f = &k->fds[fd];
  unsigned both = events & (EVL_ERR | EVL_HUP);
  int rc = 0;
  if (f->r.cb && (events & (EVL_READ | EVL_RDHUP) || both))
    rc = evl_kit_push(
        k, (evl_kit_entry){.kind = EVL_KIT_E_READ,
                           .fd = fd,
                           .events = EVL_READ | both | (events & EVL_RDHUP),
                           .stamp = f->r.gen});
  if (rc == 0 && f->w.cb && (events & EVL_WRITE || both))
    rc = evl_kit_push(k, (evl_kit_entry){.kind = EVL_KIT_E_WRITE,
                                         .fd = fd,
                                         .events = EVL_WRITE | both,
                                         .stamp = f->w.gen});
  return rc;
}

/* ---------------------------------------------------------------- run */

/* Step 3 for timers: every due timer, in deadline order, behind what is
 * queued. */
static inline int evl_kit_queue_due(evl_kit *k, uint64_t now) {
  while (k->nheap > 0 && k->slots[k->heap[0]].when <= now) {
    uint32_t i = k->heap[0];
    int rc = evl_kit_push(k, (evl_kit_entry){.kind = EVL_KIT_E_SLOT,
                                             .id = i,
                                             .stamp = k->slots[i].stamp + 1});
    if (rc < 0)
      return rc;
    evl_kit_heap_remove(k, 0);
    k->slots[i].stamp++;
    k->slots[i].state = EVL_KIT_QUEUED;
  }
  return 0;
}

static inline int evl_kit_posts_waiting(evl_kit *k) {
  pthread_mutex_lock(&k->lock);
  int n = k->nposts > 0;
  pthread_mutex_unlock(&k->lock);
  return n;
}

/* Step 1: 0 when something is queued, posted or stop was asked; -1 when
 * nothing is pending; else the ns until the earliest timer (round it up to
 * the library's resolution: a timer never runs early). */
static inline int64_t evl_kit_timeout_ns(evl_kit *k, uint64_t now,
                                         int stopping) {
  if (k->count > 0 || stopping || evl_kit_posts_waiting(k))
    return 0;
  if (k->nheap == 0)
    return -1;
  uint64_t when = k->slots[k->heap[0]].when;
  if (when <= now)
    return 0;
  return when - now > (uint64_t)INT64_MAX ? INT64_MAX : (int64_t)(when - now);
}

/* Step 4: runs exactly the entries queued when it began; what they queue
 * waits for the next iteration (S1). `stop` is checked by the caller. */
static inline void evl_kit_run_batch(evl_kit *k) {
  for (uint32_t n = k->count; n > 0; n--) {
    evl_kit_entry e = k->ring[k->head];
    k->head = (k->head + 1) & (k->capring - 1);
    k->count--;
    if (e.kind == EVL_KIT_E_SLOT) {
      evl_kit_slot *s = &k->slots[e.id];
      if (s->state != EVL_KIT_QUEUED || s->stamp != e.stamp)
        continue; /* cancelled or re-armed since it was queued */
      evl_cb cb = s->cb;
      void *arg = s->arg;
      evl_kit_slot_free(k, e.id); /* cancelling it from inside: EHANDLE */
      k->callbacks++;
      cb(arg);
    } else if (e.kind == EVL_KIT_E_POST) {
      k->callbacks++;
      e.cb(e.arg);
    } else if (e.fd < k->nfds) {
      evl_kit_watcher *w =
          e.kind == EVL_KIT_E_READ ? &k->fds[e.fd].r : &k->fds[e.fd].w;
      if (w->cb && w->gen == e.stamp) { /* else removed or replaced: stale */
        k->callbacks++;
        w->cb(e.fd, e.events, w->arg);
      }
    }
  }
}

/* ---------------------------------------------------------------- posts */

/* Any thread. The queue is the record and the pipe only a doorbell rung on
 * the empty -> non-empty edge, so 100 000 posts cost one byte and a full
 * pipe loses nothing (S9). EVL_ECLOSED once evl_kit_fini() ran. */
static inline int evl_kit_post(evl_kit *k, evl_cb cb, void *arg) {
  if (!cb)
    return -EINVAL;
  int rc = 0;
  pthread_mutex_lock(&k->lock);
  if (k->closed) {
    rc = EVL_ECLOSED;
  } else if (k->nposts == k->capposts) {
    size_t n = k->capposts ? k->capposts * 2 : 64;
    evl_kit_post_ent *np = realloc(k->posts, n * sizeof *np);
    if (np) {
      k->posts = np;
      k->capposts = n;
    } else {
      rc = -ENOMEM;
    }
  }
  if (rc == 0) {
    k->posts[k->nposts++] = (evl_kit_post_ent){cb, arg};
    if (!k->wake_pending) {
      char c = 1;
      k->wake_pending = 1;
      /* Under the lock, so fini cannot close the fd meanwhile. EAGAIN: the
       * pipe is full, a wakeup is pending already. */
      if (write(k->wake_wr, &c, 1) < 0 && errno != EAGAIN)
        rc = -errno;
    }
  }
  pthread_mutex_unlock(&k->lock);
  return rc;
}

/* The fd to watch for reading beside the loop's own: posts are waiting. */
static inline int evl_kit_wake_fd(const evl_kit *k) {
  return k->wake_rd;
}

/* Moves every waiting post into the FIFO, in posting order. Out of memory
 * leaves them all waiting (and the doorbell rung), never lost. */
static inline int evl_kit_take_posts(evl_kit *k) {
  char buf[64];
  while (read(k->wake_rd, buf, sizeof buf) > 0)
    ;
  pthread_mutex_lock(&k->lock);
  int rc = k->nposts > UINT32_MAX ? -ENOMEM
                                  : evl_kit_reserve(k, (uint32_t)k->nposts);
  evl_kit_post_ent *posts = rc == 0 ? k->posts : NULL;
  size_t n = rc == 0 ? k->nposts : 0;
  if (rc == 0) {
    k->posts = NULL;
    k->nposts = k->capposts = 0;
    k->wake_pending = 0;
  }
  pthread_mutex_unlock(&k->lock);
  for (size_t i = 0; i < n; i++) /* room reserved: cannot fail */
    evl_kit_push(k, (evl_kit_entry){.kind = EVL_KIT_E_POST,
                                    .cb = posts[i].cb,
                                    .arg = posts[i].arg});
  free(posts);
  return rc;
}

#ifdef __cplusplus
}
#endif
#endif
