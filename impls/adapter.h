/* adapter.h — what the native-libuv/libev/libevent adapters share:
 * handle slots, the ready FIFO, the cross-thread queue, errors and debug,
 * and the entry points that have nothing of the library in them. */
#ifndef EVL_IMPLS_ADAPTER_H
#define EVL_IMPLS_ADAPTER_H

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <evl/impl.h>

#include "loop_int.h"

/* Every adapter module carries its own copy of these helpers; hidden, so
 * that two modules in one process can never bind to each other's. */
#pragma GCC visibility push(hidden)

/*
 * No event library header may be included here or in adapter.c:
 * libev's and libevent's headers define the same macros with different
 * values, and this file is compiled into every adapter.
 */

/* ---- handles: slot index + generation (S4) ----------------------------- */
enum {
  EVL__ADAPTER_SLOT_FREE = 0,
  EVL__ADAPTER_SLOT_SOON = 1,
  EVL__ADAPTER_SLOT_TIMER = 2,
  EVL__ADAPTER_SLOT_OWN = 3 /* a call_soon the loop made for itself (S4) */
};

/* A handle: generation (26 bits) | loop tag (10 bits) | slot (28 bits), as
 * in the reference core: a handle of another loop is EVL_EHANDLE here. */
#define EVL__ADAPTER_H_SLOT_BITS 28
#define EVL__ADAPTER_H_TAG_BITS 10
#define EVL__ADAPTER_H_GEN_MASK ((1u << 26) - 1)
#define EVL__ADAPTER_H_TAG_MASK ((1u << EVL__ADAPTER_H_TAG_BITS) - 1)

typedef struct evl__adapter_slot {
  /* The live handle naming this slot, 0 while free: one compare checks
   * slot, loop tag and generation at once. */
  evl_handle h;
  uint32_t gen; /* of the slot's current or next handle; never 0 */
  uint32_t kind;
  union {
    void *ptr;     /* EVL__ADAPTER_SLOT_TIMER: the adapter's timer */
    uint32_t next; /* EVL__ADAPTER_SLOT_FREE: free list, UINT32_MAX ends it */
  } u;
} evl__adapter_slot;

typedef struct evl__adapter_slots {
  evl__adapter_slot *v;
  uint32_t len, cap, free;
  uint32_t tag; /* the loop's tag in its handles, 1..1023 */
} evl__adapter_slots;

/* Room for one more slot at the end; 0 or -ENOMEM. */
int evl__adapter_slot_grow(evl__adapter_slots *s);
/* A slot of `kind` holding ptr, and the handle naming it in *out. Inline,
 * for call_soon and call_later; evl__adapter_slot_alloc is the same. */
static inline __attribute__((always_inline)) int
evl__adapter_slot_take(evl__adapter_slots *s, uint32_t kind, void *ptr,
                       evl_handle *out) {
  uint32_t i = s->free;
  if (i != UINT32_MAX) {
    s->free = s->v[i].u.next;
  } else {
    if (s->len == s->cap) {
      int rc = evl__adapter_slot_grow(s);
      if (rc < 0)
        return rc;
    }
    i = s->len++;
    s->v[i].gen = 1;
  }
  evl__adapter_slot *sl = &s->v[i];
  sl->kind = kind;
  sl->u.ptr = ptr;
  sl->h = ((uint64_t)sl->gen
           << (EVL__ADAPTER_H_SLOT_BITS + EVL__ADAPTER_H_TAG_BITS)) |
          ((uint64_t)s->tag << EVL__ADAPTER_H_SLOT_BITS) | i;
  *out = sl->h;
  return 0;
}
int evl__adapter_slot_alloc(evl__adapter_slots *s, uint32_t kind, void *ptr,
                            evl_handle *out);
/* The live slot `h` names, or NULL if it ran, was cancelled or never was. */
static inline evl__adapter_slot *
evl__adapter_slot_get(const evl__adapter_slots *s, evl_handle h) {
  uint32_t i = (uint32_t)(h & ((1u << EVL__ADAPTER_H_SLOT_BITS) - 1));
  if (i >= s->len)
    return NULL;
  evl__adapter_slot *sl = &s->v[i];
  /* A free slot holds 0, which no handle is (its generation is never 0). */
  if (sl->h != h || h == 0)
    return NULL;
  return sl;
}
/* Frees the live slot h names. */
static inline void evl__adapter_slot_free(evl__adapter_slots *s, evl_handle h) {
  uint32_t i = (uint32_t)(h & ((1u << EVL__ADAPTER_H_SLOT_BITS) - 1));
  evl__adapter_slot *sl = &s->v[i];
  /* A new generation makes every copy of the old handle harmless. */
  sl->gen = (sl->gen + 1) & EVL__ADAPTER_H_GEN_MASK;
  sl->gen += sl->gen == 0;
  sl->h = 0;
  sl->kind = EVL__ADAPTER_SLOT_FREE;
  sl->u.next = s->free;
  s->free = i;
}

/* ---- FIFO of callbacks -------------------------------------------------- */
typedef struct evl__adapter_entry {
  evl_cb cb;
  void *arg;
  evl_handle h; /* 0: not cancellable (cross-thread posts) */
} evl__adapter_entry;

typedef struct evl__adapter_fifo {
  evl__adapter_entry *v;
  size_t cap;        /* a power of two, or 0 */
  size_t head, tail; /* free-running counters */
} evl__adapter_fifo;

/* A timer the library fired, waiting for the end of the batch. */
typedef struct evl__adapter_due {
  uint64_t deadline, seq;
  evl_cb cb;
  void *arg;
  evl_handle h;
} evl__adapter_due;

struct evl__adapter_base;

/* What every adapter's fd record holds besides the library's watchers
 * (which the adapter puts after it). Add, replace, remove and teardown are
 * written once, in adapter_io.c; the library calls go through hooks. */
typedef struct evl__adapter_fd {
  struct evl__adapter_base *base;
  int fd;
  evl_io_cb cb[2]; /* [0] reader, [1] writer; NULL: not watched */
  void *arg[2];
  /* Events the library's callback handed straight to cb (the fast path):
   * each an event and a callback in loop_stats. Counted here, not in the
   * loop, so that the fast path needs nothing of the loop; added to the
   * loop's io_calls when the record goes. */
  uint64_t calls;
} evl__adapter_fd;

/* A signal handler's record, the library's watcher after it; add,
 * replace and remove are written once, in adapter_signal.c. */
typedef struct evl__adapter_sig {
  struct evl__adapter_base *base;
  evl_cb cb;
  void *arg;
  int sig;
} evl__adapter_sig;

/* What every adapter's timer holds besides the library's watcher (which
 * the adapter puts beside it). The logic around it — call_later, call_at,
 * cancel, rearm, firing in order — is written once, in adapter_timer.c. */
typedef struct evl__adapter_timer {
  struct evl__adapter_base *base;
  evl_cb cb;
  void *arg;
  uint64_t deadline, seq; /* seq: scheduling order; a re-arm takes a new one */
  evl_handle h;
  struct evl__adapter_timer *next_free;
} evl__adapter_timer;

/* What the shared code needs of an adapter. Only timer_arm and timer_stop
 * are on a hot path (every call_later, cancel and rearm). */
typedef struct evl__adapter_hooks {
  /* A new timer with its watcher initialised, not started; NULL: ENOMEM. */
  evl__adapter_timer *(*timer_new)(struct evl__adapter_base *b);
  /* Starts the watcher — or moves it, if it is running, with the
   * library's own call — to fire at t->deadline, or at the library's next
   * timer phase if due_now. */
  int (*timer_arm)(struct evl__adapter_base *b, evl__adapter_timer *t,
                   int due_now); /* 0: callers may end in a tail call */
  void (*timer_stop)(struct evl__adapter_base *b, evl__adapter_timer *t);
  /* Stops the watcher and frees the timer (loop close). */
  void (*timer_free)(struct evl__adapter_base *b, evl__adapter_timer *t);
  /* Wakes the library's poll; called under the cross-thread queue's lock. */
  void (*wake)(struct evl__adapter_base *b);

  /* I/O. What add_reader/add_writer accept besides an open fd: 0 or an
   * error (libevent refuses regular files up front). */
  int (*check_fd)(int fd);
  /* A record for fd with its watchers set up, not started; NULL with *err
   * (nothing of it stays registered). base and fd are filled in after. */
  evl__adapter_fd *(*fd_new)(struct evl__adapter_base *b, int fd, int *err);
  /* (Re)starts direction `write` (0 reader, 1 writer) after its callback
   * was set or replaced, dropping any event already collected for it
   * (S6); 0 or -errno, and then that direction is not watched. */
  int (*io_start)(struct evl__adapter_base *b, evl__adapter_fd *f, int write);
  /* Stops direction `write`, whose callback is now NULL. */
  void (*io_stop)(struct evl__adapter_base *b, evl__adapter_fd *f, int write);
  /* Stops whatever still runs and frees the record (now or, for libuv,
   * when its close callback runs). */
  void (*fd_free)(struct evl__adapter_base *b, evl__adapter_fd *f);

  /* Signals (S12). A record watching sig, started; NULL with *err. */
  evl__adapter_sig *(*sig_new)(struct evl__adapter_base *b, int sig, int *err);
  /* Stops the watcher and frees the record. */
  void (*sig_free)(struct evl__adapter_base *b, evl__adapter_sig *s);
  int sig_mode;    /* EVL__ADAPTER_SIG_*: which loops may share a signal */
  int sig_restore; /* the library leaves SIG_DFL: put back what was found */
  /* Frees the library's part of a closing loop (signals and timers are
   * gone). */
  void (*teardown)(evl_loop *loop);
  /* In a child after fork(): the library's own reinit (uv_loop_fork,
   * ev_loop_fork, event_reinit) and whatever fd of the adapter is shared
   * with the parent. Optional: NULL means the adapter has no EVL_IF_FORK. */
  int (*after_fork)(evl_loop *loop);
  /* Optional: debug mode was switched (b->debug). The I/O fast paths do
   * not look at it: this moves every watcher to the callback for the mode
   * (the debug one times callbacks), as fd_new and io_start pick it. */
  void (*debug_set)(struct evl__adapter_base *b);
} evl__adapter_hooks;

/* Bumped in a child by pthread_atfork (each module its own counter): a
 * loop whose fork_gen differs was inherited and is not yet the child's. */
extern unsigned evl__adapter_forks;

/* ---- the part of every adapter's loop that is not the library ---------- */
typedef struct evl__adapter_base {
  /* First, as loop_int.h asks: futures and the executor call the loop
   * through it (adapter_core.c). */
  const evl__loop_services *svc;
  const evl_impl_ops *ops; /* the adapter's table */
  int closed, running, stopping;
  unsigned fork_gen; /* evl__adapter_forks when made the process's own */
  /* fork_gen while the loop is open and not in debug mode, else a value
   * evl__adapter_forks never takes: one compare lets the hot paths skip
   * evl__adapter_check (evl__adapter_fast). evl__adapter_refresh keeps it. */
  unsigned fast_gen;
  evl__adapter_slots slots;
  int soon_own; /* the call_soon in progress is the loop's own */
  /* call_soon's queue. `mark` is where the batch of the next iteration
   * ends: entries queued by any callback of this iteration lie behind it
   * and wait for the following one (S1). */
  evl__adapter_fifo ready;
  size_t mark;
  uint64_t ntimers, nfds;

  /* Timers the library fired run after the batch's call_soon callbacks,
   * as the contract queues due timers behind them (S1), and in (deadline,
   * scheduling order) order, which the libraries' heaps do not keep for
   * equal deadlines (S2). Until then they stay cancellable (S4). */
  evl__adapter_due *due;
  size_t ndue, due_cap;
  uint64_t tseq;
  evl__adapter_timer *tfree; /* stopped timers, ready for reuse */

  /* call_soon_threadsafe: a locked FIFO; ts_wake says a wakeup is already
   * on its way, so 100 000 posts cost one wakeup, and lose nothing. */
  pthread_mutex_t ts_lock;
  evl__adapter_fifo ts, ts_spare; /* ts_spare: the loop thread's alone */
  int ts_wake, ts_closed;

  evl_error_handler eh;
  void *eh_arg;
  int debug;
  uint64_t slow_ns;
  pthread_t runner;
  evl_loop_stats st;
  /* evl__adapter_fd.calls of the records already freed. */
  uint64_t io_calls;

  /* Executor size from the config; the pool itself is core/executor.c,
   * compiled into each module like core/future.c (see the shim section of
   * adapter.c). */
  unsigned exec_threads;

  /* Cold, last, so as not to push the hot fields apart: the adapter's
   * hooks, its per-fd records indexed by fd, and its signal watchers. */
  const evl__adapter_hooks *hooks;
  void **fds;
  int fds_cap;
  void *sigs[NSIG];
  /* What core/future.c and core/executor.c keep on a loop: their extension
   * slots and close hooks (loop_int.h). */
  void *ext[EVL__EXT_MAX];
  struct evl__adapter_closer *closers;
  int ncloser;
} evl__adapter_base;

/* Makes b->fds hold index fd (new entries NULL): 0 or -ENOMEM, the table
 * unchanged on failure. */
int evl__adapter_fds_reserve(evl__adapter_base *b, int fd);

/* The base of an adapter's loop, which starts with it; NULL stays NULL. */
#define EVL__ADAPTER_BASE(loop) ((evl__adapter_base *)(void *)(loop))

int evl__adapter_base_init(evl__adapter_base *b, const evl_impl_ops *ops,
                           const evl__adapter_hooks *hooks,
                           const evl_impl_config *cfg);
/* loop_new's start: a zeroed loop of `size` bytes with its base set up, in
 * *loop; 0 or -errno. Until published, evl__adapter_loop_discard undoes it. */
int evl__adapter_loop_alloc(size_t size, const evl_impl_ops *ops,
                            const evl__adapter_hooks *hooks,
                            const evl_impl_config *cfg, evl_loop **loop);
/* After the adapter freed its library part: frees the base and the loop. */
void evl__adapter_loop_discard(evl_loop *loop);
/* Runs the close hooks core/future.c and core/executor.c registered, newest
 * first: the first step of close, before the cross-thread queue closes,
 * since executor workers post through it. */
void evl__adapter_run_closers(evl__adapter_base *b);
/* What every adapter loop's svc points to (adapter_core.c). */
extern const evl__loop_services evl__adapter_services;
/* Frees the base's memory and drops everything queued, running nothing. */
void evl__adapter_base_fini(evl__adapter_base *b);
/* After fini, when the loop shell itself goes (loop_free). */
void evl__adapter_base_destroy(evl__adapter_base *b);

/* After closed, debug or fork_gen changed: recomputes fast_gen (the
 * counter's top bit never sets: that would take 2^31 forks). */
static inline void evl__adapter_refresh(evl__adapter_base *b) {
  b->fast_gen = b->fork_gen | (b->closed || b->debug ? 1u << 31 : 0);
}

/* 0, -EINVAL for no loop, EVL_ECLOSED, or -EPERM for a foreign thread in
 * debug mode (S11). */
static inline int evl__adapter_check(const evl__adapter_base *b) {
  if (!b)
    return -EINVAL;
  if (b->closed)
    return EVL_ECLOSED;
  if (b->fork_gen != __atomic_load_n(&evl__adapter_forks, __ATOMIC_RELAXED))
    return EVL_EFORKED; /* S16: loop_after_fork first */
  if (b->debug && b->running && !pthread_equal(b->runner, pthread_self()))
    return -EPERM;
  return 0;
}

/* Open, not in debug mode and not inherited through fork(): the fast
 * paths may skip evl__adapter_check. */
static inline __attribute__((always_inline)) int
evl__adapter_fast(const evl__adapter_base *b) {
  return b &&
         b->fast_gen == __atomic_load_n(&evl__adapter_forks, __ATOMIC_RELAXED);
}

static inline uint64_t evl__adapter_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}
/* Delay or absolute time to an absolute deadline; negative delay: now. */
static inline uint64_t evl__adapter_deadline(int64_t delay_ns) {
  uint64_t now = evl__adapter_now();
  if (delay_ns <= 0)
    return now;
  if ((uint64_t)delay_ns > UINT64_MAX - now)
    return UINT64_MAX;
  return now + (uint64_t)delay_ns;
}

/* Queues cb; returns 0 or -errno. The adapter makes sure the library will
 * not block while anything is queued. */
int evl__adapter_soon(evl__adapter_base *b, evl_cb cb, void *arg,
                      evl_handle *out);
/* call_soon, written once for the adapters: the checks, then the common
 * case inline (a spare slot and room in the FIFO), then want(loop), the
 * adapter's way of keeping the library's poll from blocking. */
static inline __attribute__((always_inline)) int
evl__adapter_call_soon_with(evl_loop *loop, evl_cb cb, void *arg,
                            evl_handle *out, void (*want)(evl_loop *loop)) {
  evl__adapter_base *b = EVL__ADAPTER_BASE(loop);
  int rc;
  if (__builtin_expect(!evl__adapter_fast(b) || !cb, 0)) {
    if ((rc = evl__adapter_check(b)) != 0)
      return rc;
    if (!cb)
      return -EINVAL;
  }
  evl__adapter_fifo *q = &b->ready;
  if (__builtin_expect(q->tail - q->head == q->cap, 0)) {
    rc = evl__adapter_soon(b, cb, arg, out); /* grows the FIFO */
  } else {
    evl_handle h;
    rc = evl__adapter_slot_take(
        &b->slots, b->soon_own ? EVL__ADAPTER_SLOT_OWN : EVL__ADAPTER_SLOT_SOON,
        NULL, &h);
    if (rc == 0) {
      evl__adapter_entry *e = &q->v[q->tail++ & (q->cap - 1)];
      e->cb = cb;
      e->arg = arg;
      e->h = h;
      if (!b->running)
        b->mark = q->tail;
      if (out)
        *out = h;
    }
  }
  if (rc == 0)
    want(loop);
  return rc;
}

/* Runs the batch up to the mark, then the fired timers, and moves the
 * mark to the tail; returns how many callbacks still wait. Stops early if
 * the loop was closed. */
size_t evl__adapter_run_batch(evl__adapter_base *b);
/* From the library's timer callback. A timer the library fired early is
 * armed again and 0 returned; otherwise it is queued behind the batch's
 * call_soon callbacks and 1 returned: the adapter then makes sure the due
 * timers run (evl__adapter_run_due) in this iteration. Out of memory for
 * the queue, it runs at once, out of order, and 0 is returned. */
int evl__adapter_timer_fired(evl__adapter_timer *t);
/* Runs the fired timers queued so far, sorted; skips those cancelled or
 * re-armed since they fired. */
void evl__adapter_run_due(evl__adapter_base *b);
/* The same for the timers scheduled (or re-armed) up to seq last_seq; the
 * others stay queued, sorted, for the next run_due. */
void evl__adapter_run_due_upto(evl__adapter_base *b, uint64_t last_seq);
static inline size_t evl__adapter_due_len(const evl__adapter_base *b) {
  return b->ndue;
}
/* Called when a run starts: everything queued so far is this iteration's. */
static inline void evl__adapter_mark_all(evl__adapter_base *b) {
  b->mark = b->ready.tail;
}

/* Cross-thread posts: queues cb and, if no wakeup is on its way yet, calls
 * wake(b) under the queue's lock, so close cannot free the wakeup handle
 * under a poster's feet. 0 or an error. */
int evl__adapter_post(evl__adapter_base *b, evl_cb cb, void *arg,
                      void (*wake)(evl__adapter_base *b));
/* First step of close: later posts get EVL_ECLOSED. */
void evl__adapter_posts_close(evl__adapter_base *b);
/* On the loop thread, after a wakeup: runs what was posted, in order. */
void evl__adapter_posts_run(evl__adapter_base *b);

/* Running-loop bookkeeping (S7): -EBUSY if this thread runs a loop. */
int evl__adapter_run_enter(evl__adapter_base *b, evl_loop *self);
/* run_forever/run_once's start: the checks, evl__adapter_run_enter, and the
 * mark set so that everything queued so far is this iteration's. */
int evl__adapter_run_begin(evl_loop *loop);
void evl__adapter_run_leave(evl__adapter_base *b);
evl_loop *evl__adapter_get_running_loop(void);

/* Entry points whose logic has nothing of the library in it: adapters put
 * them in their ops tables as they are. loop_close drops the signals and
 * calls hooks->teardown; stop_threadsafe posts ops->stop. */
int evl__adapter_loop_close(evl_loop *loop);
/* loop_after_fork (S16) for the adapters whose hooks have after_fork. */
int evl__adapter_loop_after_fork(evl_loop *loop);
int evl__adapter_loop_free(evl_loop *loop);
int evl__adapter_is_running(const evl_loop *loop);
uint64_t evl__adapter_time(const evl_loop *loop);
int evl__adapter_call_soon_threadsafe(evl_loop *loop, evl_cb cb, void *arg);
int evl__adapter_stop_threadsafe(evl_loop *loop);
int evl__adapter_set_error_handler(evl_loop *loop, evl_error_handler h,
                                   void *arg);
int evl__adapter_report_error(evl_loop *loop, int code, const char *message);
int evl__adapter_set_debug(evl_loop *loop, int on);
int evl__adapter_set_slow_callback_ns(evl_loop *loop, uint64_t ns);
int evl__adapter_loop_stats(const evl_loop *loop, evl_loop_stats *out);
int evl__adapter_add_signal_handler(evl_loop *loop, int sig, evl_cb cb,
                                    void *arg);
int evl__adapter_remove_signal_handler(evl_loop *loop, int sig);
/* Stops and frees the handler of sig (there is one) and lets the signal
 * go (loop close, remove_signal_handler). */
void evl__adapter_sig_drop(evl__adapter_base *b, int sig);

/* I/O entry points (adapter_io.c), through the hooks. */
int evl__adapter_add_reader(evl_loop *loop, int fd, evl_io_cb cb, void *arg);
int evl__adapter_add_writer(evl_loop *loop, int fd, evl_io_cb cb, void *arg);
int evl__adapter_remove_reader(evl_loop *loop, int fd);
int evl__adapter_remove_writer(evl_loop *loop, int fd);
/* After a direction of f lost its callback outside remove (an error the
 * library reported): frees f if neither direction is left. */
void evl__adapter_fd_drop(evl__adapter_base *b, evl__adapter_fd *f);
/* Loop close: fd_free on every record. */
void evl__adapter_fds_free(evl__adapter_base *b);
/* An I/O callback's call off the fast path (an error, debug mode): counts
 * the event, times the callback. f may be freed by it. */
void evl__adapter_io_call(evl__adapter_base *b, evl__adapter_fd *f, int write,
                          unsigned extra);

/* The ops-table entries every adapter fills alike: the shared entry points
 * above, futures and the executor. Each adapter lists its own entries
 * beside them (loop_stats too, which libev refines), call_later, cancel
 * and rearm among them: the inline *_with paths below with its own arm. */
#define EVL__ADAPTER_SHARED_OPS                                                \
  .loop_close = evl__adapter_loop_close, .loop_free = evl__adapter_loop_free,  \
  .is_running = evl__adapter_is_running, .time = evl__adapter_time,            \
  .call_soon_threadsafe = evl__adapter_call_soon_threadsafe,                   \
  .stop_threadsafe = evl__adapter_stop_threadsafe,                             \
  .get_running_loop = evl__adapter_get_running_loop,                           \
  .set_error_handler = evl__adapter_set_error_handler,                         \
  .report_error = evl__adapter_report_error,                                   \
  .set_debug = evl__adapter_set_debug,                                         \
  .set_slow_callback_ns = evl__adapter_set_slow_callback_ns,                   \
  .add_signal_handler = evl__adapter_add_signal_handler,                       \
  .remove_signal_handler = evl__adapter_remove_signal_handler,                 \
  .add_reader = evl__adapter_add_reader,                                       \
  .remove_reader = evl__adapter_remove_reader,                                 \
  .add_writer = evl__adapter_add_writer,                                       \
  .remove_writer = evl__adapter_remove_writer, .future_new = evl_future_new,   \
  .future_retain = evl_future_retain, .future_release = evl_future_release,    \
  .future_set_result = evl_future_set_result,                                  \
  .future_set_error = evl_future_set_error,                                    \
  .future_cancel = evl_future_cancel, .future_state = evl_future_state,        \
  .future_result = evl_future_result,                                          \
  .future_add_done_callback = evl_future_add_done_callback,                    \
  .run_until_complete = evl_run_until_complete,                                \
  .run_in_executor = evl_run_in_executor, .call_at = evl__adapter_call_at,     \
  .rearm_at = evl__adapter_rearm_at,                                           \
  .loop_after_fork = evl__adapter_loop_after_fork

/* Timer entry points for the ops table (adapter_timer.c). */
int evl__adapter_call_at(evl_loop *loop, uint64_t when_ns, evl_cb cb, void *arg,
                         evl_handle *out);
int evl__adapter_call_later(evl_loop *loop, int64_t delay_ns, evl_cb cb,
                            void *arg, evl_handle *out);
int evl__adapter_cancel(evl_loop *loop, evl_handle h);
int evl__adapter_rearm(evl_loop *loop, evl_handle h, int64_t delay_ns);
int evl__adapter_rearm_at(evl_loop *loop, evl_handle h, uint64_t when_ns);
/* A new timer (hooks->timer_new) put on the spare list, or NULL. */
evl__adapter_timer *evl__adapter_timer_spare(evl__adapter_base *b);
/* Frees a timer's slot and keeps the timer for reuse (stopped). */
static inline void evl__adapter_timer_release(evl__adapter_base *b,
                                              evl__adapter_timer *t) {
  evl__adapter_slot_free(&b->slots, t->h);
  b->ntimers--;
  t->next_free = b->tfree;
  b->tfree = t;
}

/*
 * The hot timer paths (call_later, cancel, rearm) once more, inline, for
 * an adapter to instantiate with its own arm and stop functions: a re-arm
 * is then a handle check, a clock read and the library's call, with no
 * indirect call between (callgrind, chain with timeouts). Anything off the
 * common case — debug mode, a forked or closed loop, a bad handle, no
 * spare timer — goes to the general entry points above, which check and
 * answer everything.
 */
typedef int (*evl__adapter_arm_fn)(evl__adapter_base *b, evl__adapter_timer *t,
                                   int due_now);
typedef void (*evl__adapter_stop_fn)(evl__adapter_base *b,
                                     evl__adapter_timer *t);

/* 1 with *t the live timer h names, else 0. */
static inline __attribute__((always_inline)) int
evl__adapter_timer_of(const evl__adapter_base *b, evl_handle h,
                      evl__adapter_timer **t) {
  uint32_t i = (uint32_t)(h & ((1u << EVL__ADAPTER_H_SLOT_BITS) - 1));
  if (i >= b->slots.len)
    return 0;
  const evl__adapter_slot *sl = &b->slots.v[i];
  if (sl->h != h || sl->kind != EVL__ADAPTER_SLOT_TIMER)
    return 0; /* h == 0 lands on a free slot (0) or a slot that isn't */
  *t = sl->u.ptr;
  return 1;
}

/* The deadline of a delay: now if not positive. No overflow: the
 * monotonic clock stays below 2^63 ns, and so does the delay. */
static inline uint64_t evl__adapter_after(uint64_t now, int64_t delay_ns) {
  return delay_ns > 0 ? now + (uint64_t)delay_ns : now;
}

static inline __attribute__((always_inline)) int
evl__adapter_rearm_with(evl_loop *loop, evl_handle h, int64_t delay_ns,
                        evl__adapter_arm_fn arm) {
  evl__adapter_base *b = EVL__ADAPTER_BASE(loop);
  evl__adapter_timer *t;
  if (__builtin_expect(!evl__adapter_fast(b), 0) ||
      __builtin_expect(!evl__adapter_timer_of(b, h, &t), 0))
    return evl__adapter_rearm(loop, h, delay_ns);
  t->deadline = evl__adapter_after(evl__adapter_now(), delay_ns);
  t->seq = ++b->tseq;
  return arm(b, t, delay_ns <= 0);
}

static inline __attribute__((always_inline)) int
evl__adapter_cancel_with(evl_loop *loop, evl_handle h,
                         evl__adapter_stop_fn stop) {
  evl__adapter_base *b = EVL__ADAPTER_BASE(loop);
  evl__adapter_timer *t;
  if (__builtin_expect(!evl__adapter_fast(b), 0) ||
      __builtin_expect(!evl__adapter_timer_of(b, h, &t), 0))
    return evl__adapter_cancel(loop, h); /* call_soon handles too */
  stop(b, t);
  evl__adapter_timer_release(b, t);
  return 0;
}

static inline __attribute__((always_inline)) int
evl__adapter_call_later_with(evl_loop *loop, int64_t delay_ns, evl_cb cb,
                             void *arg, evl_handle *out,
                             evl__adapter_arm_fn arm) {
  evl__adapter_base *b = EVL__ADAPTER_BASE(loop);
  evl__adapter_timer *t;
  if (__builtin_expect(!evl__adapter_fast(b) || !cb, 0))
    return evl__adapter_call_later(loop, delay_ns, cb, arg, out);
  if (__builtin_expect(!(t = b->tfree), 0) &&
      !(t = evl__adapter_timer_spare(b)))
    return -ENOMEM;
  uint64_t now = evl__adapter_now();
  evl_handle h;
  if (evl__adapter_slot_take(&b->slots, EVL__ADAPTER_SLOT_TIMER, t, &h) < 0)
    return -ENOMEM; /* t stays on the spare list */
  b->tfree = t->next_free;
  t->h = h;
  t->cb = cb;
  t->arg = arg;
  t->deadline = evl__adapter_after(now, delay_ns);
  t->seq = ++b->tseq;
  b->ntimers++;
  if (out)
    *out = h;
  return arm(b, t, delay_ns <= 0);
}
/* Loop close: stops and frees every timer, pending or spare. */
void evl__adapter_timers_free(evl__adapter_base *b);

/* Errors (S10) and slow callbacks (S11). */
void evl__adapter_report(evl__adapter_base *b, int code, const char *context,
                         const char *message, int fd, uint64_t duration_ns);

/* Bracket every user callback: counts it and, in debug mode, times it. */
static inline uint64_t evl__adapter_cb_begin(evl__adapter_base *b) {
  b->st.callbacks++;
  return b->debug ? evl__adapter_now() : 0;
}
void evl__adapter_cb_slow(evl__adapter_base *b, uint64_t t0);
static inline void evl__adapter_cb_end(evl__adapter_base *b, uint64_t t0) {
  if (t0)
    evl__adapter_cb_slow(b, t0);
}

/* A signal handler's call, from the library's signal callback. */
static inline void evl__adapter_sig_run(evl__adapter_sig *s) {
  uint64_t t0 = evl__adapter_cb_begin(s->base);
  s->cb(s->arg);
  evl__adapter_cb_end(s->base, t0);
}

/* Signals (S12). The libraries install their own handlers; this records
 * the disposition found before, per process, so the last loop to stop
 * watching a signal puts it back (libuv and libev reset to SIG_DFL). */
enum {
  EVL__ADAPTER_SIG_SHARED = 0,  /* any number of loops per signal (libuv) */
  EVL__ADAPTER_SIG_PER_SIG = 1, /* one loop per signal at a time (libev) */
  EVL__ADAPTER_SIG_ONE_LOOP =
      2 /* one loop for all signals at a time (libevent) */
};
/* -EINVAL for numbers no handler may take (S12). */
int evl__adapter_sig_check(int sig);
/* Before the library installs its handler; -EBUSY where the library cannot
 * share the signal with the loop that has it. */
int evl__adapter_sig_acquire(int sig, const void *loop, int mode);
/* After the library removed its handler; restore: put back what
 * acquire found when no loop of this module watches sig any more. */
void evl__adapter_sig_release(int sig, int restore);

/* 0 if n more fds can be opened now, else -EMFILE (or -ENFILE): for
 * libraries that abort (libev) or exit (libevent) when an fd they need at
 * loop creation cannot be had. */
int evl__adapter_fd_headroom(int n);

/* hooks->check_fd for a library that watches whatever epoll takes: -EBADF
 * for a closed fd (uv_poll_init and libev answer the rest). */
int evl__adapter_check_fd(int fd);
/* add_signal_handler's checks: 0 or an error. */
int evl__adapter_sig_add_check(evl_loop *loop, int sig, evl_cb cb);

#pragma GCC visibility pop

#endif
