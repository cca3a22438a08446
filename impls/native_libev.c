/* native_libev.c — evlab's loop API run by libev itself: ev_timer, ev_io and
 * ev_async do the work; ev_check + ev_idle carry the ready FIFO. */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>

#include <ev.h>

#include "adapter.h"
#include "backends/wrap_common.h"

static const evl_impl_ops evn_ops;
static const evl__adapter_hooks evn_hooks;

/* The shared part first: the handle's slot points at the block's start, so
 * memcheck sees every timer as reachable. */
typedef struct evn_timer {
  evl__adapter_timer t;
  ev_timer w;
  /* The deadline (our clock) libev's watcher was last started for: while
   * the watcher is active, t.deadline >= armed. */
  uint64_t armed;
} evn_timer;

/* One ev_io per direction, as libev users write it: stopping a watcher also
 * drops its pending event, which is exactly S6's stale-event rule. */
typedef struct evn_fd {
  evl__adapter_fd a; /* first: the shared code sees the record as it */
  ev_io r, w;
} evn_fd;

struct evl_loop {
  evl__adapter_base b; /* first: helpers see the loop as its base */
  struct ev_loop *ev;
  ev_idle idle;   /* active while the FIFO is non-empty: poll won't block */
  ev_check check; /* lowest priority: runs the batch after I/O and timers */
  ev_async async;
  /* libev's cached time, estimated in ours: see evn_ep_refresh. */
  uint64_t ep_base;
  int ep_valid;
  /* libev asserts when epoll_ctl fails on its epoll fd and aborts (through
   * its syserr callback) when epoll_wait does: the fd is checked (one
   * fstat) before every ev_run, and a loop whose epoll fd was closed or
   * replaced under it is never run again. -1: not known. */
  wrap_fdid epfd;
};

/* libev's syserr callback is process-wide: it records errno for this
 * thread's ev_run and breaks it instead of letting libev abort. */
static _Thread_local int evn_syserr_errno;
static _Thread_local struct ev_loop *evn_running;

static void evn_syserr(const char *msg) {
  (void)msg;
  evn_syserr_errno = errno ? errno : EIO;
  if (evn_running)
    ev_break(evn_running, EVBREAK_ALL);
}

enum { EVN_SLACK_NS = 10000 };

#define EVN_LOOP(ptr, field)                                                   \
  ((evl_loop *)((char *)(ptr)-offsetof(evl_loop, field)))

/* ---- the ready FIFO ----------------------------------------------------- */
static void evn_idle_cb(struct ev_loop *ev, ev_idle *w, int revents) {
  (void)ev, (void)w, (void)revents; /* only there to keep poll from blocking */
}

static void evn_want_batch(evl_loop *loop) {
  if (!ev_is_active(&loop->idle))
    ev_idle_start(loop->ev, &loop->idle);
}

static void evn_check_cb(struct ev_loop *ev, ev_check *w, int revents) {
  (void)revents;
  evl_loop *loop = EVN_LOOP(w, check);
  loop->ep_valid = 0; /* ev_now moves before the next callback */
  if (evl__adapter_run_batch(&loop->b) == 0 && !loop->b.closed)
    ev_idle_stop(ev, &loop->idle);
}

static void evn_async_cb(struct ev_loop *ev, ev_async *w, int revents) {
  (void)ev, (void)revents;
  evl__adapter_posts_run(&EVN_LOOP(w, async)->b);
}

static int evn_call_soon(evl_loop *loop, evl_cb cb, void *arg,
                         evl_handle *out) {
  return evl__adapter_call_soon_with(loop, cb, arg, out, evn_want_batch);
}

/* ---- timers ------------------------------------------------------------- */
#define EVN_TIMER(at) ((evn_timer *)((char *)(at)-offsetof(evn_timer, t)))

/* libev's cached time (ev_now), estimated in our clock: ep_base, valid
 * while ep_valid. ev_now only moves inside ev_run, before the callbacks of
 * an iteration; the check watcher, last of each iteration, and every
 * ev_run's start drop the estimate. */
__attribute__((noinline)) static void evn_ep_refresh(evl_loop *loop) {
  /* From the lag libev's manual gives (ev_time() - ev_now()), less a slack
   * for the realtime double's coarse ulp: equal deadlines then get equal
   * `at`s and fire together, and nothing fires early. */
  uint64_t now = evl__adapter_now();
  double lag = ev_time() - ev_now(loop->ev);
  uint64_t back = (lag > 0. ? (uint64_t)(lag * 1e9) : 0) + EVN_SLACK_NS;
  loop->ep_base = now > back ? now - back : 0;
  loop->ep_valid = 1;
}

/* Starts libev's watcher for at->deadline, or moves it there in place. */
static inline __attribute__((always_inline)) int
evn_timer_start(evl__adapter_base *b, evl__adapter_timer *at, int due_now) {
  evl_loop *loop = (evl_loop *)b;
  evn_timer *tm = EVN_TIMER(at);
  ev_timer *w = &tm->w;
  tm->armed = at->deadline;
  /* libev puts a timer at its cached time + `after`. A timer due now gets
   * the smallest timeout, due at libev's next timer phase. */
  double after = 1e-9;
  if (!due_now) {
    if (!loop->ep_valid)
      evn_ep_refresh(loop);
    uint64_t d = at->deadline - loop->ep_base;
    if (__builtin_expect((int64_t)d > 0, 1))
      after = (double)(int64_t)d / 1e9;
    else if (at->deadline > loop->ep_base)
      after = (double)d / 1e9; /* 2^63 ns and more: a huge delay */
  }
  /* ev_timer_again moves a running timer in place in libev's heap, or
   * starts a stopped one, with `repeat` as the timeout: libev's own re-arm
   * (the manual's method 2, which direct-libev uses on every event).
   * `repeat` stays set (evn_timer_cb stops the timer when it fires). */
  w->repeat = after;
  ev_timer_again(loop->ev, w);
  return 0;
}

/* evn_timer_start, but lazy when the deadline moved later: libev's manual ("Be
 * smart about timeouts", method 3) lets such a timer time out where it is and
 * starts it again then for the time left. A re-arm to a later deadline (the
 * common case: a timeout pushed back on every event) then costs a handle check,
 * a clock read and a comparison, and libev's heap is not touched. The deadline
 * and seq the caller set are all the contract reads: when libev fires the
 * watcher at the old deadline, evl__adapter_timer_fired sees (a fresh clock
 * read, as for every fired timer) that the deadline is still ahead and comes
 * back here with the watcher stopped (S2); due, the timer queues with its new
 * seq (S15). A watcher libev has already made pending goes the eager way:
 * ev_timer_again drops the pending event, so that a re-armed timer never
 * runs in the iteration that re-armed it. */
static inline __attribute__((always_inline)) int
evn_timer_arm(evl__adapter_base *b, evl__adapter_timer *at, int due_now) {
  evn_timer *tm = EVN_TIMER(at);
  ev_timer *w = &tm->w;
  if (ev_is_active(w) && !ev_is_pending(w) && at->deadline >= tm->armed)
    return 0;
  return evn_timer_start(b, at, due_now);
}

static int evn_timer_arm_hook(evl__adapter_base *b, evl__adapter_timer *at,
                              int due_now) {
  return evn_timer_arm(b, at, due_now);
}

static inline void evn_timer_stop(evl__adapter_base *b,
                                  evl__adapter_timer *at) {
  ev_timer_stop(((evl_loop *)b)->ev, &EVN_TIMER(at)->w);
}

static void evn_timer_stop_hook(evl__adapter_base *b, evl__adapter_timer *at) {
  evn_timer_stop(b, at);
}

static int evn_call_later(evl_loop *loop, int64_t delay_ns, evl_cb cb,
                          void *arg, evl_handle *out) {
  /* A new timer's watcher is stopped: started at once. */
  return evl__adapter_call_later_with(loop, delay_ns, cb, arg, out,
                                      evn_timer_start);
}

static int evn_cancel(evl_loop *loop, evl_handle h) {
  return evl__adapter_cancel_with(loop, h, evn_timer_stop);
}

static int evn_rearm(evl_loop *loop, evl_handle h, int64_t delay_ns) {
  return evl__adapter_rearm_with(loop, h, delay_ns, evn_timer_arm);
}

static void evn_timer_cb(struct ev_loop *ev, ev_timer *w, int revents) {
  (void)revents;
  ev_timer_stop(ev, w); /* one-shot: libev would repeat it */
  /* The lowest-priority check runs after every timer of this pass: it
   * runs the batch's call_soon callbacks, then these in order. A timer
   * whose deadline was moved later lazily (evn_timer_arm) is not due yet:
   * evl__adapter_timer_fired starts it again for the time left. */
  evl__adapter_timer_fired(
      &((evn_timer *)((char *)w - offsetof(evn_timer, w)))->t);
}

static evl__adapter_timer *evn_timer_new(evl__adapter_base *b) {
  (void)b;
  evn_timer *tm = malloc(sizeof *tm);
  if (!tm)
    return NULL;
  ev_init(&tm->w, evn_timer_cb);
  tm->armed = 0;
  return &tm->t;
}

static void evn_timer_free(evl__adapter_base *b, evl__adapter_timer *at) {
  evn_timer_stop(b, at);
  free(EVN_TIMER(at));
}

/* ---- I/O ---------------------------------------------------------------- */
/* An error: out of line, so that the fast path below saves no register
 * and ends in a tail call. */
__attribute__((noinline, cold)) static void evn_io_error(evn_fd *f, int write) {
  /* libev found the fd invalid and stopped the watcher already. */
  evl__adapter_base *b = f->a.base;
  evl_io_cb cb = f->a.cb[write];
  void *arg = f->a.arg[write];
  int fd = f->a.fd;
  f->a.cb[write] = NULL;
  evl__adapter_fd_drop(b, &f->a);
  b->st.events++;
  uint64_t t0 = evl__adapter_cb_begin(b);
  cb(fd, (write ? EVL_WRITE : EVL_READ) | EVL_ERR, arg);
  evl__adapter_cb_end(b, t0);
}

/* Nothing of the loop is read here: debug mode runs the _debug callbacks
 * instead (evn_io_fn). */
static inline __attribute__((always_inline)) void evn_io(evn_fd *f, int write,
                                                         int revents) {
  if (revents & EV_ERROR) {
    evn_io_error(f, write);
    return;
  }
  f->a.calls++;
  f->a.cb[write](f->a.fd, write ? EVL_WRITE : EVL_READ, f->a.arg[write]);
}

#define EVN_FD(w, dir) ((evn_fd *)((char *)(w)-offsetof(evn_fd, dir)))

static void evn_read_cb(struct ev_loop *ev, ev_io *w, int revents) {
  (void)ev;
  evn_io(EVN_FD(w, r), 0, revents);
}

static void evn_write_cb(struct ev_loop *ev, ev_io *w, int revents) {
  (void)ev;
  evn_io(EVN_FD(w, w), 1, revents);
}

static void evn_read_debug(struct ev_loop *ev, ev_io *w, int revents) {
  (void)ev;
  if (revents & EV_ERROR)
    evn_io_error(EVN_FD(w, r), 0);
  else
    evl__adapter_io_call(EVN_FD(w, r)->a.base, &EVN_FD(w, r)->a, 0, 0);
}

static void evn_write_debug(struct ev_loop *ev, ev_io *w, int revents) {
  (void)ev;
  if (revents & EV_ERROR)
    evn_io_error(EVN_FD(w, w), 1);
  else
    evl__adapter_io_call(EVN_FD(w, w)->a.base, &EVN_FD(w, w)->a, 1, 0);
}

/* Sets both watchers' callbacks for the loop's mode. */
static void evn_io_fn(const evl__adapter_base *b, evn_fd *f) {
  ev_set_cb(&f->r, b->debug ? evn_read_debug : evn_read_cb);
  ev_set_cb(&f->w, b->debug ? evn_write_debug : evn_write_cb);
}

static void evn_debug_set(evl__adapter_base *b) {
  for (int fd = 0; fd < b->fds_cap; fd++)
    if (b->fds[fd])
      evn_io_fn(b, b->fds[fd]);
}

static evl__adapter_fd *evn_fd_new(evl__adapter_base *b, int fd, int *err) {
  evn_fd *f = calloc(1, sizeof *f);
  if (!f) {
    *err = -ENOMEM;
    return NULL;
  }
  ev_io_init(&f->r, evn_read_cb, fd, EV_READ);
  ev_io_init(&f->w, evn_write_cb, fd, EV_WRITE);
  evn_io_fn(b, f);
  return &f->a;
}

static int evn_io_start(evl__adapter_base *b, evl__adapter_fd *a, int write) {
  struct ev_loop *ev = ((evl_loop *)b)->ev;
  evn_fd *f = (evn_fd *)a;
  ev_io *w = write ? &f->w : &f->r;
  ev_io_stop(ev, w);
  /* ev_io_set makes libev epoll_ctl the fd afresh: the number may name
   * another file than when it was first added (closed without removal). */
  ev_io_set(w, a->fd, write ? EV_WRITE : EV_READ);
  ev_io_start(ev, w);
  return 0;
}

static void evn_io_stop(evl__adapter_base *b, evl__adapter_fd *a, int write) {
  evn_fd *f = (evn_fd *)a;
  ev_io_stop(((evl_loop *)b)->ev, write ? &f->w : &f->r);
}

static void evn_fd_free(evl__adapter_base *b, evl__adapter_fd *a) {
  evn_fd *f = (evn_fd *)a;
  ev_io_stop(((evl_loop *)b)->ev, &f->r);
  ev_io_stop(((evl_loop *)b)->ev, &f->w);
  free(f);
}

/* ---- running ------------------------------------------------------------ */
static int evn_run(evl_loop *loop, int flags) {
  int rc = evl__adapter_run_begin(loop);
  if (rc)
    return rc;
  /* ev_run forgets an ev_break made before it; the contract wants one
   * iteration with a zero timeout (S7), which is EVRUN_NOWAIT. */
  if (loop->b.stopping)
    flags = EVRUN_NOWAIT;
  if (loop->epfd.fd >= 0 && wrap_fdid_same(&loop->epfd) < 0)
    evn_syserr_errno = EBADF;
  else {
    evn_syserr_errno = 0;
    evn_running = loop->ev;
    loop->ep_valid = 0;
    ev_run(loop->ev, flags);
    evn_running = NULL;
  }
  rc = -evn_syserr_errno;
  if (rc < 0)
    evl__adapter_report(&loop->b, rc, "backend wait", "libev", -1, 0);
  evl__adapter_run_leave(&loop->b);
  return rc;
}

static int evn_run_forever(evl_loop *loop) {
  return evn_run(loop, 0);
}

static int evn_run_once(evl_loop *loop) {
  return evn_run(loop, EVRUN_ONCE);
}

static int evn_stop(evl_loop *loop) {
  int rc = evl__adapter_check(EVL__ADAPTER_BASE(loop));
  if (rc)
    return rc;
  loop->b.stopping = 1;
  if (loop->b.running)
    ev_break(loop->ev, EVBREAK_ONE);
  return 0;
}

static const char *evn_backend_name(const evl_loop *loop) {
  (void)loop;
  return "libev";
}

/* ---- threads ------------------------------------------------------------ */
static void evn_wake(evl__adapter_base *b) {
  evl_loop *loop = (evl_loop *)b;
  ev_async_send(loop->ev, &loop->async);
}

/* ---- signals ------------------------------------------------------------ */
typedef struct evn_sig {
  evl__adapter_sig a;
  ev_signal w;
} evn_sig;

static void evn_sig_cb(struct ev_loop *ev, ev_signal *w, int revents) {
  (void)ev, (void)revents;
  evl__adapter_sig_run(&((evn_sig *)((char *)w - offsetof(evn_sig, w)))->a);
}

static evl__adapter_sig *evn_sig_new(evl__adapter_base *b, int sig, int *err) {
  evn_sig *s = calloc(1, sizeof *s);
  if (!s) {
    *err = -ENOMEM;
    return NULL;
  }
  ev_signal_init(&s->w, evn_sig_cb, sig);
  ev_signal_start(((evl_loop *)b)->ev, &s->w);
  return &s->a;
}

static void evn_sig_free(evl__adapter_base *b, evl__adapter_sig *a) {
  evn_sig *s = (evn_sig *)a;
  ev_signal_stop(((evl_loop *)b)->ev, &s->w);
  free(s);
}

/* ---- stats -------------------------------------------------------------- */
static int evn_loop_stats(const evl_loop *loop, evl_loop_stats *out) {
  int rc = evl__adapter_loop_stats(loop, out);
  if (rc == 0) /* libev counts its own polls; one poll per iteration. */
    out->iterations = out->waits = ev_iteration(loop->ev);
  return rc;
}

/* ---- life cycle --------------------------------------------------------- */
static void evn_teardown(evl_loop *loop) {
  if (loop->ev)
    evl__adapter_timers_free(&loop->b);
  evl__adapter_fds_free(&loop->b);
  if (loop->ev) {
    ev_idle_stop(loop->ev, &loop->idle);
    ev_check_stop(loop->ev, &loop->check);
    ev_async_stop(loop->ev, &loop->async);
    ev_loop_destroy(loop->ev);
    loop->ev = NULL;
  }
}

static int evn_loop_new(const void *data, const evl_impl_config *cfg,
                        evl_loop **out) {
  (void)data;
  if (!out)
    return -EINVAL;
  *out = NULL;
  evl_loop *loop;
  int rc =
      evl__adapter_loop_alloc(sizeof *loop, &evn_ops, &evn_hooks, cfg, &loop);
  if (rc < 0)
    return rc;
  /* EVFLAG_NOENV: $LIBEV_FLAGS must not switch the backend under a
   * benchmark; the choice is libev's recommended one (epoll here).
   * libev aborts when it cannot open the async watcher's eventfd, after
   * its epoll fd: make sure both can be had (EMFILE is a clear error). */
  ev_set_syserr_cb(evn_syserr);
  rc = evl__adapter_fd_headroom(2);
  /* libev does not say which fd is its epoll: it opens it first, so it
   * takes the lowest free number (confirmed below, else not checked). Two
   * of these loops made at once in two threads would each confirm the
   * other's (TSan saw it in s7_loops_in_threads): one at a time. */
  static pthread_mutex_t new_lock = PTHREAD_MUTEX_INITIALIZER;
  pthread_mutex_lock(&new_lock);
  int epfd = rc < 0 ? -1 : wrap_lowest_free_fd();
  loop->ev = rc < 0 ? NULL : ev_loop_new(EVFLAG_AUTO | EVFLAG_NOENV);
  loop->epfd.fd = -1;
  if (loop->ev && epfd >= 0 && wrap_fd_is_epoll(epfd) &&
      wrap_fdid_take(&loop->epfd, epfd) < 0)
    loop->epfd.fd = -1;
  int e = errno;
  pthread_mutex_unlock(&new_lock);
  if (!loop->ev) {
    rc = rc < 0 ? rc : e ? -e : -ENOMEM;
    evl__adapter_loop_discard(loop);
    return rc;
  }
  ev_idle_init(&loop->idle, evn_idle_cb);
  ev_set_priority(&loop->idle, EV_MINPRI);
  ev_check_init(&loop->check, evn_check_cb);
  ev_set_priority(&loop->check, EV_MINPRI);
  ev_check_start(loop->ev, &loop->check);
  ev_async_init(&loop->async, evn_async_cb);
  ev_async_start(loop->ev, &loop->async);
  *out = loop;
  return 0;
}

/* ev_loop_fork: the next ev_run makes a new epoll set and async pipe and
 * re-adds every watcher; until then libev makes no syscall for them. The
 * epoll fd's number may change there, so it is no longer checked. */
static int evn_after_fork(evl_loop *loop) {
  ev_loop_fork(loop->ev);
  loop->epfd.fd = -1;
  loop->ep_valid = 0;
  return 0;
}

static const evl__adapter_hooks evn_hooks = {
    .timer_new = evn_timer_new,
    .timer_arm = evn_timer_arm_hook,
    .timer_stop = evn_timer_stop_hook,
    .timer_free = evn_timer_free,
    .wake = evn_wake,
    .check_fd = evl__adapter_check_fd,
    .fd_new = evn_fd_new,
    .io_start = evn_io_start,
    .io_stop = evn_io_stop,
    .fd_free = evn_fd_free,
    .sig_new = evn_sig_new,
    .sig_free = evn_sig_free,
    /* libev watches a signal in one loop at a time (its manual says so),
     * and resets it to SIG_DFL when it stops. */
    .sig_mode = EVL__ADAPTER_SIG_PER_SIG,
    .sig_restore = 1,
    .teardown = evn_teardown,
    .after_fork = evn_after_fork,
    .debug_set = evn_debug_set,
};

static const evl_deviation evn_deviations[] = {
    {"s10_loop_wait_fails",
     "when its epoll_wait keeps failing (EIO injected), ev_run often "
     "neither returns nor heeds stop_threadsafe: run does not end with the "
     "error"},
    {"s12_two_loops",
     "libev watches a signal in one loop at a time (its manual: \"you "
     "cannot watch for SIGINT in both the default loop and another loop at "
     "the same time\"): a second loop gets -EBUSY"},
    {"s1_ready_behind_soon",
     "libev invokes the ev_io watchers its poll found pending before the "
     "ev_check that runs the call_soon FIFO: a callback queued before the "
     "wait runs after the readers that wait found ready"},
    {NULL, NULL},
};

static const evl_impl_ops evn_ops = {
    .abi = EVL_IMPL_ABI,
    .size = sizeof(evl_impl_ops),
    .name = "native-libev",
    .description = "libev's own loop: ev_timer, ev_io, ev_async; "
                   "ev_check + ev_idle run the call_soon FIFO",
    .features = EVL_IF_THREADSAFE | EVL_IF_DEBUG | EVL_IF_STATS |
                EVL_IF_ERRORS | EVL_IF_RUNNING | EVL_IF_FUTURES |
                EVL_IF_SIGNALS | EVL_IF_EXECUTOR | EVL_IF_REARM | EVL_IF_FORK,
    .deviations = evn_deviations,
    EVL__ADAPTER_SHARED_OPS,
    .loop_new = evn_loop_new,
    .backend_name = evn_backend_name,
    .call_soon = evn_call_soon,
    .call_later = evn_call_later,
    .cancel = evn_cancel,
    .rearm = evn_rearm,
    .run_forever = evn_run_forever,
    .run_once = evn_run_once,
    .stop = evn_stop,
    .loop_stats = evn_loop_stats,
};

const evl_impl_ops *evl_impl_plugin(void) {
  return &evn_ops;
}
