/* adapter.h — what the native-libuv/libev/libevent adapters share:
 * handle slots, the ready FIFO, the cross-thread queue, errors and debug,
 * and the entry points that have nothing of the library in them. */
#ifndef EVL_IMPLS_ADAPTER_H
#define EVL_IMPLS_ADAPTER_H

#include <pthread.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>

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
enum { EVL__NK_FREE = 0, EVL__NK_SOON = 1, EVL__NK_TIMER = 2 };

typedef struct evl__nslot {
  uint32_t gen; /* never 0, so a handle is never 0 */
  uint32_t kind;
  union {
    void *ptr;     /* EVL__NK_TIMER: the adapter's timer */
    uint32_t next; /* EVL__NK_FREE: free list, UINT32_MAX ends it */
  } u;
} evl__nslot;

typedef struct evl__nslots {
  evl__nslot *v;
  uint32_t len, cap, free;
} evl__nslots;

int evl__nslot_alloc(evl__nslots *s, uint32_t kind, void *ptr, evl_handle *out);
/* The live slot `h` names, or NULL if it ran, was cancelled or never was. */
evl__nslot *evl__nslot_get(const evl__nslots *s, evl_handle h);
void evl__nslot_free(evl__nslots *s, evl_handle h);

/* ---- FIFO of callbacks -------------------------------------------------- */
typedef struct evl__nentry {
  evl_cb cb;
  void *arg;
  evl_handle h; /* 0: not cancellable (cross-thread posts) */
} evl__nentry;

typedef struct evl__nfifo {
  evl__nentry *v;
  size_t cap;        /* a power of two, or 0 */
  size_t head, tail; /* free-running counters */
} evl__nfifo;

/* A timer the library fired, waiting for the end of the batch. */
typedef struct evl__ndue {
  uint64_t deadline, seq;
  evl_cb cb;
  void *arg;
  evl_handle h;
} evl__ndue;

struct evl__nbase;

/* What the shared entry points below need of an adapter: set up and torn
 * down only, never called on a hot path. */
typedef struct evl__nhooks {
  /* Gives an adapter's fired timer back to its free list. */
  void (*timer_release)(struct evl__nbase *b, void *timer);
  /* Wakes the library's poll; called under the cross-thread queue's lock. */
  void (*wake)(struct evl__nbase *b);
  /* Stops the watcher in sigs[sig], frees it and sets the slot to NULL. */
  void (*sig_drop)(evl_loop *loop, int sig);
  /* Frees the library's part of a closing loop (signals are gone). */
  void (*teardown)(evl_loop *loop);
} evl__nhooks;

/* ---- the part of every adapter's loop that is not the library ---------- */
typedef struct evl__nbase {
  const evl_impl_ops *ops; /* the adapter's table: futures call through it */
  int closed, running, stopping;
  evl__nslots slots;
  /* call_soon's queue. `mark` is where the batch of the next iteration
   * ends: entries queued by any callback of this iteration lie behind it
   * and wait for the following one (S1). */
  evl__nfifo ready;
  size_t mark;
  uint64_t ntimers, nfds;

  /* Timers the library fired run after the batch's call_soon callbacks,
   * as the contract queues due timers behind them (S1), and in (deadline,
   * scheduling order) order, which the libraries' heaps do not keep for
   * equal deadlines (S2). Until then they stay cancellable (S4). */
  evl__ndue *due;
  size_t ndue, due_cap;
  uint64_t tseq;
  /* hooks->timer_release, copied here for the timers' hot path. */
  void (*timer_release)(struct evl__nbase *b, void *timer);

  /* call_soon_threadsafe: a locked FIFO; ts_wake says a wakeup is already
   * on its way, so 100 000 posts cost one wakeup, and lose nothing. */
  pthread_mutex_t ts_lock;
  evl__nfifo ts, ts_spare; /* ts_spare: the loop thread's alone */
  int ts_wake, ts_closed;

  evl_error_handler eh;
  void *eh_arg;
  int debug;
  uint64_t slow_ns;
  pthread_t runner;
  evl_loop_stats st;

  /* Executor size from the config; the pool itself is core/executor.c,
   * compiled into each module like core/future.c (see the shim section of
   * adapter.c). */
  unsigned exec_threads;

  /* Cold, last, so as not to push the hot fields apart: the adapter's
   * hooks, its per-fd records indexed by fd, and its signal watchers. */
  const evl__nhooks *hooks;
  void **fds;
  int fds_cap;
  void *sigs[NSIG];
  /* What core/future.c and core/executor.c keep on a loop: their extension
   * slots and close hooks (loop_int.h). */
  void *ext[EVL__EXT_MAX];
  struct evl__nhook *closers;
  int ncloser;
} evl__nbase;

/* The base of an adapter's loop, which starts with it; NULL stays NULL. */
#define EVL__NB(loop) ((evl__nbase *)(void *)(loop))

int evl__nbase_init(evl__nbase *b, const evl_impl_ops *ops,
                    const evl__nhooks *hooks, const evl_impl_config *cfg);
/* loop_new's start: a zeroed loop of `size` bytes with its base set up, in
 * *loop; 0 or -errno. Until published, evl__nloop_discard undoes it. */
int evl__nloop_alloc(size_t size, const evl_impl_ops *ops,
                     const evl__nhooks *hooks, const evl_impl_config *cfg,
                     evl_loop **loop);
/* After the adapter freed its library part: frees the base and the loop. */
void evl__nloop_discard(evl_loop *loop);
/* Runs the close hooks core/future.c and core/executor.c registered, newest
 * first: the first step of close, before the cross-thread queue closes,
 * since executor workers post through it. */
void evl__nrun_closers(evl__nbase *b);
/* Frees the base's memory and drops everything queued, running nothing. */
void evl__nbase_fini(evl__nbase *b);
/* After fini, when the loop shell itself goes (loop_free). */
void evl__nbase_destroy(evl__nbase *b);

/* 0, -EINVAL for no loop, EVL_ECLOSED, or -EPERM for a foreign thread in
 * debug mode (S11). */
int evl__ncheck(const evl__nbase *b);

uint64_t evl__nnow(void);
/* Delay or absolute time to an absolute deadline; negative delay: now. */
uint64_t evl__ndeadline(int64_t delay_ns);

/* Queues cb; returns 0 or -errno. The adapter makes sure the library will
 * not block while anything is queued. */
int evl__nsoon(evl__nbase *b, evl_cb cb, void *arg, evl_handle *out);
/* Runs the batch up to the mark, then the fired timers, and moves the
 * mark to the tail; returns how many callbacks still wait. Stops early if
 * the loop was closed. */
size_t evl__nrun_batch(evl__nbase *b);
/* From the library's timer callback: queues the user's callback. 0 or
 * -ENOMEM (the adapter then runs it at once, out of order). */
int evl__ndue_push(evl__nbase *b, uint64_t deadline, uint64_t seq, evl_cb cb,
                   void *arg, evl_handle h);
/* Runs the fired timers queued so far, sorted; skips cancelled ones. */
void evl__nrun_due(evl__nbase *b);
static inline size_t evl__ndue_len(const evl__nbase *b) {
  return b->ndue;
}
/* Called when a run starts: everything queued so far is this iteration's. */
static inline void evl__nmark_all(evl__nbase *b) {
  b->mark = b->ready.tail;
}

/* Cross-thread posts: queues cb and, if no wakeup is on its way yet, calls
 * wake(b) under the queue's lock, so close cannot free the wakeup handle
 * under a poster's feet. 0 or an error. */
int evl__nts_post(evl__nbase *b, evl_cb cb, void *arg,
                  void (*wake)(evl__nbase *b));
/* First step of close: later posts get EVL_ECLOSED. */
void evl__nts_close(evl__nbase *b);
/* On the loop thread, after a wakeup: runs what was posted, in order. */
void evl__nts_run(evl__nbase *b);

/* Running-loop bookkeeping (S7): -EBUSY if this thread runs a loop. */
int evl__nrun_enter(evl__nbase *b, evl_loop *self);
/* run_forever/run_once's start: the checks, evl__nrun_enter, and the mark
 * set so that everything queued so far is this iteration's. */
int evl__nrun_begin(evl_loop *loop);
void evl__nrun_leave(evl__nbase *b);
evl_loop *evl__nget_running(void);

/* Entry points whose logic has nothing of the library in it: adapters put
 * them in their ops tables as they are. loop_close drops the signals and
 * calls hooks->teardown; stop_threadsafe posts ops->stop. */
int evl__nloop_close(evl_loop *loop);
int evl__nloop_free(evl_loop *loop);
int evl__nis_running(const evl_loop *loop);
uint64_t evl__ntime(const evl_loop *loop);
int evl__ncall_soon_threadsafe(evl_loop *loop, evl_cb cb, void *arg);
int evl__nstop_threadsafe(evl_loop *loop);
int evl__nset_error_handler(evl_loop *loop, evl_error_handler h, void *arg);
int evl__nreport_error(evl_loop *loop, int code, const char *message);
int evl__nset_debug(evl_loop *loop, int on);
int evl__nset_slow_callback_ns(evl_loop *loop, uint64_t ns);
int evl__nloop_stats(const evl_loop *loop, evl_loop_stats *out);
int evl__nremove_signal_handler(evl_loop *loop, int sig);

/* The ops-table entries every adapter fills alike: the shared entry points
 * above, futures and the executor. Each adapter lists its own entries
 * beside them (loop_stats too, which libev refines). */
#define EVL__NATIVE_SHARED_OPS                                                 \
  .loop_close = evl__nloop_close, .loop_free = evl__nloop_free,                \
  .is_running = evl__nis_running, .time = evl__ntime,                          \
  .call_soon_threadsafe = evl__ncall_soon_threadsafe,                          \
  .stop_threadsafe = evl__nstop_threadsafe,                                    \
  .get_running_loop = evl__nget_running,                                       \
  .set_error_handler = evl__nset_error_handler,                                \
  .report_error = evl__nreport_error, .set_debug = evl__nset_debug,            \
  .set_slow_callback_ns = evl__nset_slow_callback_ns,                          \
  .remove_signal_handler = evl__nremove_signal_handler,                        \
  .future_new = evl_future_new, .future_retain = evl_future_retain,            \
  .future_release = evl_future_release,                                        \
  .future_set_result = evl_future_set_result,                                  \
  .future_set_error = evl_future_set_error,                                    \
  .future_cancel = evl_future_cancel, .future_state = evl_future_state,        \
  .future_result = evl_future_result,                                          \
  .future_add_done_callback = evl_future_add_done_callback,                    \
  .run_until_complete = evl_run_until_complete,                                \
  .run_in_executor = evl_run_in_executor

/* From a library's timer callback when evl__ndue_push failed (no memory
 * for the queue): frees the slot and runs the callback now, out of order. */
void evl__ntimer_run_now(evl__nbase *b, evl_cb cb, void *arg, evl_handle h,
                         void *timer);

/* Errors (S10) and slow callbacks (S11). */
void evl__nreport(evl__nbase *b, int code, const char *context,
                  const char *message, int fd, uint64_t duration_ns);

/* Bracket every user callback: counts it and, in debug mode, times it. */
static inline uint64_t evl__ncb_begin(evl__nbase *b) {
  b->st.callbacks++;
  return b->debug ? evl__nnow() : 0;
}
void evl__ncb_slow(evl__nbase *b, uint64_t t0);
static inline void evl__ncb_end(evl__nbase *b, uint64_t t0) {
  if (t0)
    evl__ncb_slow(b, t0);
}

/* Signals (S12). The libraries install their own handlers; this records
 * the disposition found before, per process, so the last loop to stop
 * watching a signal puts it back (libuv and libev reset to SIG_DFL). */
enum {
  EVL__NSIG_SHARED = 0,  /* any number of loops per signal (libuv) */
  EVL__NSIG_PER_SIG = 1, /* one loop per signal at a time (libev) */
  EVL__NSIG_ONE_LOOP = 2 /* one loop for all signals at a time (libevent) */
};
/* -EINVAL for numbers no handler may take (S12). */
int evl__nsig_check(int sig);
/* Before the library installs its handler; -EBUSY where the library cannot
 * share the signal with the loop that has it. */
int evl__nsig_acquire(int sig, const void *loop, int mode);
/* After the library removed its handler; restore: put back what
 * acquire found when no loop of this module watches sig any more. */
void evl__nsig_release(int sig, int restore);

/* 0 if n more fds can be opened now, else -EMFILE (or -ENFILE): for
 * libraries that abort (libev) or exit (libevent) when an fd they need at
 * loop creation cannot be had. */
int evl__nfd_headroom(int n);

/* Validation shared by add_reader/add_writer. */
int evl__ncheck_fd(int fd);
/* add_reader/add_writer's checks, with the adapter's fd check, and room
 * for fd in b->fds; 0 or an error. */
int evl__nio_add_prep(evl_loop *loop, int fd, evl_io_cb cb,
                      int (*check_fd)(int fd));
/* remove_reader/remove_writer's checks: 0 with *rec the fd's record (NULL
 * if none), or an error. */
int evl__nio_lookup(evl_loop *loop, int fd, void **rec);
/* add_signal_handler's checks: 0 or an error. */
int evl__nsig_add_check(evl_loop *loop, int sig, evl_cb cb);

#pragma GCC visibility pop

#endif
