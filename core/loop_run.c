/* loop_run.c — the reference run cycle: one iteration (wait, posts, due
 * timers, the batch of callbacks and I/O events), run/stop and debug
 * mode's slow-callback reports. The loop object itself is in loop.c. */
#include <errno.h>
#include <stdlib.h>

#include "loop.h"

/* The run cycle's only per-thread state: which loop this thread is running
 * (S7). */
static _Thread_local evl_loop *loop_running;

/* Backends see at most this timeout; a longer sleep just re-computes. It
 * keeps every backend's ns -> ms/timespec conversion far from overflow. */
#define LOOP_MAX_TIMEOUT_NS (3600ull * 1000000000ull)
#define LOOP_MAX_EINTR 64 /* interrupted waits resumed in one iteration */

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
   * re-arm, where settling here would sift on every iteration. A dead top
   * (a lazily cancelled timer, sched.c) the same: one wait, then the due
   * loop pops it. */
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
    /* Due under its old key only: re-armed later, or cancelled (a dead
     * entry is `late` too, so this one test covers both). */
    if (loop->slots[idx].late) {
      evl__timers_settle(loop);
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
