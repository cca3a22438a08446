/* loop.c — the reference run cycle, run/stop, errors and debug, and the
 * loop's life from new to free. Scheduling is in sched.c, fds
 * in io.c, cross-thread posts in post.c. */
#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "loop.h"

/* The only per-thread state: which loop this thread is running (S7). */
static _Thread_local evl_loop *loop_running;

/* Backends see at most this timeout; a longer sleep just re-computes. It
 * keeps every backend's ns -> ms/timespec conversion far from overflow. */
#define LOOP_MAX_TIMEOUT_NS (3600ull * 1000000000ull)
#define LOOP_DEFAULT_SLOW_NS (100ull * 1000000ull)
#define LOOP_INITIAL_RING 64u /* a power of two */
#define LOOP_INITIAL_EVENTS 64
#define LOOP_MAX_EINTR 64 /* interrupted waits resumed in one iteration */

uint64_t evl_now(void) {
  return evl__clock();
}

void evl_loop_config_init(evl_loop_config *cfg) {
  if (!cfg)
    return;
  memset(cfg, 0, sizeof *cfg);
  cfg->size = sizeof *cfg;
}

int evl__loop_check(const evl_loop *loop) {
  if (!loop)
    return -EINVAL;
  if (loop->closed)
    return EVL_ECLOSED;
  if (evl__forked(loop))
    return EVL_EFORKED; /* S16: evl_loop_after_fork first */
  /* asyncio's check: only a running loop has an owner thread. */
  if (loop->debug && evl__loop_is_running(loop) &&
      !pthread_equal(pthread_self(), loop->thread))
    return -EPERM;
  return 0;
}

void evl__loop_deliver(evl_loop *loop, const evl_error_info *info) {
  if (loop->eh)
    loop->eh(info, loop->eh_arg);
  else
    evl_default_error_handler(info, NULL);
}

void evl__loop_error(evl_loop *loop, int code, const char *context,
                     const char *message, int fd) {
  evl_error_info info = {
      .code = code, .context = context, .message = message, .fd = fd};
  evl__loop_deliver(loop, &info);
}

/* Debug mode (S11): one report per callback that ran past slow_ns. */
static void loop_check_slow(evl_loop *loop, uint64_t t0, int fd,
                            const char *what) {
  uint64_t dt = evl_now() - t0;
  if (dt <= loop->slow_ns || loop->closed)
    return;
  evl_error_info info = {.code = EVL_ESLOW,
                         .context = "slow callback",
                         .message = what,
                         .fd = fd,
                         .duration_ns = dt};
  evl__loop_deliver(loop, &info);
}

/* ------------------------------------------------------------ run cycle */

static int64_t loop_timeout(evl_loop *loop) {
  if (loop->rcount || loop->stopping)
    return 0;
  if (loop->heap.n == 0)
    return -1;
  /* A late top's key is earlier than its real deadline: waking then costs
   * one wait, after which the due loop settles it — at most once per
   * re-arm, where settling here would sift on every iteration. */
  uint64_t now = evl_now(), due = loop->heap.a[0].deadline;
  if (due <= now)
    return 0;
  uint64_t t = due - now;
  if (t > LOOP_MAX_TIMEOUT_NS)
    return (int64_t)LOOP_MAX_TIMEOUT_NS;
  /* Rounded up: waking early would only cost another wait (S3). */
  uint64_t res = loop->be->resolution_ns ? loop->be->resolution_ns : 1;
  t = (t + res - 1) / res * res;
  return (int64_t)t;
}

/* Debug mode's callbacks, out of line: timed for S11. */
__attribute__((noinline)) static void loop_run_cb_slow(evl_loop *loop,
                                                       evl_cb cb, void *arg) {
  uint64_t t0 = evl_now();
  cb(arg);
  loop_check_slow(loop, t0, -1, NULL);
}

static inline void loop_run_cb(evl_loop *loop, evl_cb cb, void *arg) {
  loop->stats.callbacks++;
  if (!loop->debug)
    cb(arg);
  else
    loop_run_cb_slow(loop, cb, arg);
}

/* A wait the backend says was interrupted (-EINTR) is resumed for the time
 * left, inside the same iteration: it was not a wait the loop asked for, so
 * it ends no iteration and counts in no statistic (S3), and readiness that a
 * wait(0) was interrupted before seeing is still collected now (S6). A
 * backend that reports EINTR as 0 events ends the iteration instead, as the
 * ABI allows; the cap only keeps a backend stuck on EINTR from pinning the
 * loop inside one iteration. */
static int loop_wait(evl_loop *loop, int64_t timeout) {
  for (int tries = 0;; tries++) {
    int n =
        loop->be->wait(loop->be_state, timeout, loop->events, loop->events_cap);
    loop->now = evl__clock();
    if (n != -EINTR || tries == LOOP_MAX_EINTR) {
      loop->stats.waits++;
      return n == -EINTR ? 0 : n;
    }
    timeout = loop_timeout(loop); /* the time left, rounded up again */
  }
}

/* Runs the ring's first `count` entries: exactly what was queued when
 * they were counted; later additions wait (S1). */
static void loop_run_ring(evl_loop *loop, uint32_t count) {
  for (; count > 0; count--) {
    evl__qent e = evl__ring_pop(loop);
    if (e.cb) {
      loop_run_cb(loop, e.cb, e.u.arg);
      continue;
    }
    uint32_t id = e.u.slot.id;
    evl__slot *s = &loop->slots[id];
    /* Cancelled (freed, maybe reused) or re-armed since it was queued. */
    if (s->gen != e.u.slot.gen ||
        (s->state != EVL__SLOT_QUEUED && s->state != EVL__SLOT_DUE))
      continue;
    evl_cb cb = s->cb;
    void *arg = s->arg;
    evl__slot_free(loop, id); /* cancelling a running callback: EVL_EHANDLE */
    loop_run_cb(loop, cb, arg);
  }
}

__attribute__((noinline)) static void
loop_io_slow(evl_loop *loop, evl_io_cb cb, int fd, unsigned ev, void *arg) {
  uint64_t t0 = evl_now();
  cb(fd, ev, arg);
  loop_check_slow(loop, t0, fd, "I/O callback");
}

static inline void loop_io_call(evl_loop *loop, const evl__watcher *w, int fd,
                                unsigned ev, int debug) {
  loop->stats.callbacks++;
  if (!debug)
    w->cb(fd, ev, w->arg);
  else
    loop_io_slow(loop, w->cb, fd, ev, w->arg);
}

/* The backend's events, dispatched in the order it reported them. The fd
 * table is read at call time, so a watcher removed by an earlier callback
 * (EVL__W_EMPTY) is not called, and one added or replaced since the wait
 * (its generation is above `mark`) is not called for an event that was not
 * its own (S6).
 * Hang-up and error wake every registered direction. Instantiated once
 * per value of `debug`, so the common loop tests no mode per event. */
static inline __attribute__((always_inline)) void
loop_dispatch_io(evl_loop *loop, int n, uint64_t mark, int drained, int debug) {
  const evl_event *ev = loop->events, *end = ev + n;
  for (; ev < end; ev++) {
    int fd = ev->fd;
    unsigned bits = ev->events;
    if ((unsigned)fd >= (unsigned)loop->nfds)
      continue;
    evl__fd *f = &loop->fds[fd];
    unsigned rb = bits & (EVL_READ | EVL_ERR | EVL_HUP | EVL_RDHUP);
    if (rb && f->r.gen <= mark) {
      loop_io_call(loop, &f->r, fd, rb, debug);
      /* The callback may have grown (moved) the fd table. Read the event
       * and the table again rather than keep them across the call: fewer
       * values live across every callback. */
      fd = ev->fd;
      bits = ev->events;
      if (!(bits & (EVL_WRITE | EVL_ERR | EVL_HUP)))
        continue;
      f = &loop->fds[fd];
    } else if (f->internal == EVL__FD_WAKE) {
      /* Never a reader of its own: found only where no reader ran. */
      if (!drained)
        evl__drain_posts(loop); /* queued for the next iteration */
      continue;
    }
    unsigned wb = bits & (EVL_WRITE | EVL_ERR | EVL_HUP);
    if (wb && f->w.gen <= mark)
      loop_io_call(loop, &f->w, fd, wb, debug);
  }
}

/* Out of line, so that the loop keeps its few values in registers across
 * the callbacks instead of sharing them with loop_iterate's. */
__attribute__((noinline)) static void
loop_dispatch_fast(evl_loop *loop, int n, uint64_t mark, int drained) {
  loop_dispatch_io(loop, n, mark, drained, 0);
}

__attribute__((noinline)) static void
loop_dispatch_debug(evl_loop *loop, int n, uint64_t mark, int drained) {
  loop_dispatch_io(loop, n, mark, drained, 1);
}

static int loop_iterate(evl_loop *loop) {
  loop->stats.iterations++;
  int64_t timeout = loop_timeout(loop);
  if (loop->nchanges)
    evl__flush_changes(loop);
  int n = loop_wait(loop, timeout);
  if (n < 0) {
    evl__loop_error(loop, n, "backend wait", loop->be->name, -1);
    return n;
  }
  if (n > loop->events_cap)
    n = loop->events_cap;
  loop->stats.events += (uint64_t)n;
  uint64_t mark = loop->watcher_gen;

  /* Posts from other threads join this iteration's batch, whether or not
   * this wait reported the wakeup fd yet. */
  int drained = __atomic_load_n(&loop->ts_pending, __ATOMIC_ACQUIRE);
  if (drained)
    evl__drain_posts(loop);
  uint32_t before_io = loop->rcount;

  while (loop->heap.n && loop->heap.a[0].deadline <= loop->now) {
    uint32_t idx = loop->heap.a[0].slot;
    if (loop->slots[idx].late) { /* due under its old key only */
      evl__heap_settle(&loop->heap, loop->slots);
      continue;
    }
    evl__heap_pop(&loop->heap, loop->slots);
    loop->slots[idx].state = EVL__SLOT_DUE;
    if (evl__ring_push(loop, evl__qent_slot(idx, loop->slots[idx].gen)) < 0) {
      evl__loop_error(loop, -ENOMEM, "timer dropped", NULL, -1);
      evl__slot_free(loop, idx);
    }
  }
  uint32_t timers = loop->rcount - before_io;

  /* The batch (S1): what was queued before, the ready watchers, then the
   * due timers in deadline order. */
  if (before_io)
    loop_run_ring(loop, before_io);
  if (n && !loop->debug)
    loop_dispatch_fast(loop, n, mark, drained);
  else if (n)
    loop_dispatch_debug(loop, n, mark, drained);
  if (timers)
    loop_run_ring(loop, timers);

  if (n == loop->events_cap && loop->events_cap < 65536) {
    evl_event *ne =
        realloc(loop->events, (size_t)loop->events_cap * 2 * sizeof *ne);
    if (ne) {
      loop->events = ne;
      loop->events_cap *= 2;
    }
  }
  return 0;
}

static int loop_enter(evl_loop *loop) {
  int rc = evl__loop_check(loop);
  if (rc < 0)
    return rc;
  if (evl__loop_is_running(loop) || loop_running)
    return -EBUSY;
  loop->thread = pthread_self();
  __atomic_store_n(&loop->running, 1, __ATOMIC_RELEASE);
  loop_running = loop;
  loop->now = evl__clock();
  return 0;
}

static void loop_leave(evl_loop *loop) {
  loop->stopping = 0;
  loop_running = NULL;
  __atomic_store_n(&loop->running, 0, __ATOMIC_RELEASE);
}

int evl_run_forever(evl_loop *loop) {
  int rc = loop_enter(loop);
  if (rc < 0)
    return rc;
  for (;;) {
    rc = loop_iterate(loop);
    if (rc < 0 || loop->stopping)
      break;
  }
  loop_leave(loop);
  return rc;
}

int evl_run_once(evl_loop *loop) {
  int rc = loop_enter(loop);
  if (rc < 0)
    return rc;
  rc = loop_iterate(loop);
  loop_leave(loop);
  return rc;
}

int evl_stop(evl_loop *loop) {
  int rc = evl__loop_check(loop);
  if (rc < 0)
    return rc;
  loop->stopping = 1;
  return 0;
}

int evl_is_running(const evl_loop *loop) {
  return loop ? evl__loop_is_running(loop) : 0;
}

evl_loop *evl_get_running_loop(void) {
  return loop_running;
}

uint64_t evl_time(const evl_loop *loop) {
  return loop ? loop->now : 0;
}

const char *evl_backend_name(const evl_loop *loop) {
  return loop && loop->be ? loop->be->name : NULL;
}

/* ------------------------------------------------------------ errors */

int evl_set_error_handler(evl_loop *loop, evl_error_handler h, void *arg) {
  int rc = evl__loop_check(loop);
  if (rc < 0)
    return rc;
  loop->eh = h;
  loop->eh_arg = h ? arg : NULL;
  return 0;
}

int evl_report_error(evl_loop *loop, int code, const char *message) {
  int rc = evl__loop_check(loop);
  if (rc < 0)
    return rc;
  evl__loop_error(loop, code, "callback", message, -1);
  return 0;
}

int evl_set_debug(evl_loop *loop, int on) {
  int rc = evl__loop_check(loop);
  if (rc < 0)
    return rc;
  loop->debug = on != 0;
  return 0;
}

int evl_set_slow_callback_ns(evl_loop *loop, uint64_t ns) {
  int rc = evl__loop_check(loop);
  if (rc < 0)
    return rc;
  loop->slow_ns = ns ? ns : LOOP_DEFAULT_SLOW_NS;
  return 0;
}

int evl_loop_get_stats(const evl_loop *loop, evl_loop_stats *out) {
  int rc = evl__loop_check(loop); /* debug mode: -EPERM from a foreign thread */
  if (rc < 0)
    return rc;
  if (!out)
    return -EINVAL;
  *out = loop->stats;
  out->timers = loop->heap.n;
  out->fds = loop->nregistered;
  return 0;
}

/* ------------------------------------------------------------ subsystems */

void *evl__loop_ext(const evl_loop *loop, enum evl__ext which) {
  return (unsigned)which < EVL__EXT_MAX ? loop->ext[which] : NULL;
}

void evl__loop_set_ext(evl_loop *loop, enum evl__ext which, void *p) {
  if ((unsigned)which < EVL__EXT_MAX)
    loop->ext[which] = p;
}

int evl__loop_add_close_hook(evl_loop *loop, evl__close_hook fn, void *data) {
  int rc = evl__loop_check(loop);
  if (rc < 0)
    return rc;
  if (!fn)
    return -EINVAL;
  evl__hook *nh = realloc(loop->hooks, (size_t)(loop->nhooks + 1) * sizeof *nh);
  if (!nh)
    return -ENOMEM;
  loop->hooks = nh;
  loop->hooks[loop->nhooks++] = (evl__hook){fn, data};
  return 0;
}

unsigned evl__loop_executor_threads(const evl_loop *loop) {
  return loop->executor_threads;
}

/* What futures and the executor call on a reference loop (loop_int.h). */
static const evl__loop_services loop_services = {
    .check = evl__loop_check,
    .queue_own_cb = evl__queue_own_cb,
    .call_soon_threadsafe = evl_call_soon_threadsafe,
    .stop = evl_stop,
    .run_forever = evl_run_forever,
    .is_running = evl_is_running,
    .error = evl__loop_error,
    .executor_threads = evl__loop_executor_threads,
    .ext = evl__loop_ext,
    .set_ext = evl__loop_set_ext,
    .add_close_hook = evl__loop_add_close_hook,
};

/* ------------------------------------------------------------ lifecycle */

int evl__backend_resolve(const evl_loop_config *cfg,
                         const evl_backend_ops **out, char *err, size_t len);

/* The reason behind evl_loop_new's last failure on this thread. */
static _Thread_local char loop_last_error[320];

const char *evl_last_error(void) {
  return loop_last_error;
}

static int loop_new_failed(int rc, const char *why) {
  snprintf(loop_last_error, sizeof loop_last_error, "%s",
           why && *why ? why : evl_strerror(rc));
  return rc;
}

int evl_loop_new(evl_loop **out, const evl_loop_config *cfg) {
  loop_last_error[0] = 0;
  if (!out)
    return loop_new_failed(-EINVAL, "evl_loop_new: out is NULL");
  *out = NULL;
  evl_loop_config dflt;
  if (!cfg) {
    evl_loop_config_init(&dflt);
    cfg = &dflt;
  }
  char err[256] = "";
  if (cfg->size < sizeof cfg->size) {
    snprintf(err, sizeof err,
             "evl_loop_config.size is %zu (call "
             "evl_loop_config_init first)",
             cfg->size);
    return loop_new_failed(-EINVAL, err);
  }
  unsigned flags = EVL_FIELD_OR(evl_loop_config, cfg, flags, 0u);
  if (flags & ~EVL_LOOP_FLAGS) {
    snprintf(err, sizeof err, "evl_loop_config.flags: unknown bits 0x%x",
             flags & ~EVL_LOOP_FLAGS);
    return loop_new_failed(-EINVAL, err);
  }
  const evl_backend_ops *be;
  int rc = evl__backend_resolve(cfg, &be, err, sizeof err);
  if (rc < 0)
    return loop_new_failed(rc, err);

  evl_loop *loop = calloc(1, sizeof *loop);
  if (!loop)
    return loop_new_failed(-ENOMEM, NULL);
  pthread_mutex_init(&loop->ts_lock, NULL);
  loop->svc = &loop_services;
  loop->be = be;
  evl__fork_watch();
  loop->fork_gen = __atomic_load_n(&evl__forks, __ATOMIC_RELAXED);
  loop->htag = evl__next_htag();
  loop->free_head = UINT32_MAX;
  loop->wake_rfd = loop->wake_wfd = -1;
  loop->debug = (flags & EVL_LOOP_DEBUG) != 0;
  loop->slow_ns = EVL_FIELD_OR(evl_loop_config, cfg, slow_callback_ns, 0);
  if (!loop->slow_ns)
    loop->slow_ns = LOOP_DEFAULT_SLOW_NS;
  loop->executor_threads =
      EVL_FIELD_OR(evl_loop_config, cfg, executor_threads, 0u);
  loop->be_state = calloc(1, be->state_size ? be->state_size : 1);
  /* Small starts: every array doubles on demand and never shrinks, so a
   * busy loop pays a few reallocs once and an idle one stays small. */
  loop->ring = malloc(LOOP_INITIAL_RING * sizeof *loop->ring);
  loop->rmask = LOOP_INITIAL_RING - 1;
  loop->events_cap = LOOP_INITIAL_EVENTS;
  loop->events = malloc((size_t)loop->events_cap * sizeof *loop->events);
  const char *stage = "allocating the loop";
  if (!loop->be_state || !loop->ring || !loop->events) {
    rc = -ENOMEM;
    goto fail;
  }
  evl_backend_config bcfg = {.size = sizeof bcfg};
  stage = "backend init";
  rc = be->init(loop->be_state, &bcfg);
  if (rc < 0)
    goto fail;
  stage = "wakeup fd";
  rc = evl__wake_open(loop);
  if (rc < 0) {
    be->fini(loop->be_state);
    goto fail;
  }
  loop->now = evl__clock();
  *out = loop;
  return 0;
fail:
  if (loop->wake_rfd >= 0)
    close(loop->wake_rfd);
  if (loop->wake_wfd >= 0 && loop->wake_wfd != loop->wake_rfd)
    close(loop->wake_wfd);
  free(loop->be_state);
  free(loop->ring);
  free(loop->events);
  free(loop->fds);
  pthread_mutex_destroy(&loop->ts_lock);
  free(loop);
  snprintf(err, sizeof err, "%s (%s): %s", stage, be->name, evl_strerror(rc));
  return loop_new_failed(rc, err);
}

int evl_loop_close(evl_loop *loop) {
  if (!loop)
    return -EINVAL;
  if (loop->closed)
    return 0;
  if (evl__loop_is_running(loop))
    return -EBUSY;
  /* Freed in a child without evl_loop_after_fork: made the child's own
   * first, so that nothing below touches the parent's kernel state. If
   * that fails, the backend is not asked to release anything (S16). */
  if (evl__forked(loop) && evl_loop_after_fork(loop) < 0)
    evl__executor_after_fork(loop); /* no worker exists in the child */
  for (int i = loop->nhooks - 1; i >= 0; i--)
    loop->hooks[i].fn(loop, loop->hooks[i].data);
  free(loop->hooks);
  loop->hooks = NULL;
  loop->nhooks = 0;

  pthread_mutex_lock(&loop->ts_lock);
  loop->closed = 1;
  pthread_mutex_unlock(&loop->ts_lock);
  /* A poster that passed the closed check may still be writing the wakeup
   * fd; no new one can start, so this wait is short and bounded. */
  while (__atomic_load_n(&loop->ts_writers, __ATOMIC_ACQUIRE))
    sched_yield();

  if (!evl__forked(loop))
    loop->be->fini(loop->be_state);
  free(loop->be_state);
  loop->be_state = NULL;
  close(loop->wake_rfd);
  if (loop->wake_wfd != loop->wake_rfd)
    close(loop->wake_wfd);
  loop->wake_rfd = loop->wake_wfd = -1;
  free(loop->slots);
  free(loop->ring);
  evl__heap_free(&loop->heap);
  free(loop->fds);
  free(loop->changes);
  free(loop->events);
  free(loop->ts_q);
  free(loop->ts_spare);
  loop->slots = NULL;
  loop->ring = NULL;
  loop->fds = NULL;
  loop->changes = NULL;
  loop->events = NULL;
  loop->ts_q = loop->ts_spare = NULL;
  loop->nslots = loop->slots_cap = loop->rcount = 0;
  loop->nfds = loop->nchanges = 0;
  loop->ts_n = loop->ts_cap = loop->ts_spare_cap = 0;
  return 0;
}

int evl_loop_free(evl_loop *loop) {
  if (!loop)
    return 0;
  int rc = evl_loop_close(loop);
  if (rc < 0)
    return rc;
  pthread_mutex_destroy(&loop->ts_lock);
  free(loop);
  return 0;
}
