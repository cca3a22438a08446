/* loop.c — the reference run cycle: ready FIFO, timers, fd table with change
 * coalescing, cross-thread posts, stop and close (DESIGN §4, S1–S11). */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "loop.h"

/* The only per-thread state: which loop this thread is running (S7). */
static _Thread_local evl_loop *loop_running;

/* Backends see at most this timeout; a longer sleep just re-computes. It
 * keeps every backend's ns -> ms/timespec conversion far from overflow. */
#define LOOP_MAX_TIMEOUT_NS (3600ull * 1000000000ull)
#define LOOP_DEFAULT_SLOW_NS (100ull * 1000000ull)

uint64_t evl_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

void evl_loop_config_init(evl_loop_config *cfg) {
  if (!cfg)
    return;
  memset(cfg, 0, sizeof *cfg);
  cfg->size = sizeof *cfg;
}

static int loop_is_running(const evl_loop *loop) {
  return __atomic_load_n(&loop->running, __ATOMIC_ACQUIRE);
}

int evl__loop_check(const evl_loop *loop) {
  if (!loop)
    return -EINVAL;
  if (loop->closed)
    return EVL_ECLOSED;
  /* asyncio's check: only a running loop has an owner thread. */
  if (loop->debug && loop_is_running(loop) &&
      !pthread_equal(pthread_self(), loop->thread))
    return -EPERM;
  return 0;
}

void evl__loop_error(evl_loop *loop, int code, const char *context,
                     const char *message, int fd) {
  evl_error_info info = {.code = code,
                         .context = context,
                         .message = message,
                         .fd = fd,
                         .duration_ns = 0};
  if (loop->eh)
    loop->eh(&info, loop->eh_arg);
  else
    evl_default_error_handler(&info, NULL);
}

/* ------------------------------------------------------------ slots */

static evl_handle slot_handle(const evl_loop *loop, uint32_t idx) {
  return ((uint64_t)loop->slots[idx].gen << 32) | (uint64_t)(idx + 1);
}

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
      uint32_t ncap = loop->slots_cap ? loop->slots_cap * 2 : 256;
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

static void slot_free(evl_loop *loop, uint32_t idx) {
  evl__slot *s = &loop->slots[idx];
  s->state = EVL__SLOT_FREE;
  s->cb = NULL;
  s->arg = NULL;
  if (++s->gen == 0) /* 0 would make handle 0 reachable again */
    s->gen = 1;
  s->next_free = loop->free_head;
  loop->free_head = idx;
}

/* ------------------------------------------------------------ ring */

static int ring_push(evl_loop *loop, evl__qent e) {
  uint32_t cap = loop->rmask + 1;
  if (loop->rcount == cap) {
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
  }
  loop->ring[(loop->rhead + loop->rcount) & loop->rmask] = e;
  loop->rcount++;
  return 0;
}

static evl__qent ring_pop(evl_loop *loop) {
  evl__qent e = loop->ring[loop->rhead];
  loop->rhead = (loop->rhead + 1) & loop->rmask;
  loop->rcount--;
  return e;
}

static int queue_cb(evl_loop *loop, evl_cb cb, void *arg, evl_handle *out) {
  uint32_t idx;
  int rc = slot_alloc(loop, cb, arg, EVL__SLOT_QUEUED, &idx);
  if (rc < 0)
    return rc;
  rc = ring_push(loop, (evl__qent){.kind = EVL__Q_CB, .id = idx});
  if (rc < 0) {
    slot_free(loop, idx);
    return rc;
  }
  if (out)
    *out = slot_handle(loop, idx);
  return 0;
}

/* ------------------------------------------------------------ scheduling */

int evl_call_soon(evl_loop *loop, evl_cb cb, void *arg, evl_handle *out) {
  int rc = evl__loop_check(loop);
  if (rc < 0)
    return rc;
  if (!cb)
    return -EINVAL;
  return queue_cb(loop, cb, arg, out);
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
    slot_free(loop, idx);
    return rc;
  }
  if (out)
    *out = slot_handle(loop, idx);
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
    slot_free(loop, idx);
    return 0;
  default:
    return EVL_EHANDLE;
  }
}

/* ------------------------------------------------------------ fds */

static unsigned fd_want(const evl__fd *f) {
  return (f->r.cb ? EVL_READ : 0u) | (f->w.cb ? EVL_WRITE : 0u);
}

static int fd_reserve(evl_loop *loop, int fd) {
  if (fd < loop->nfds)
    return 0;
  int n = loop->nfds ? loop->nfds : 64;
  while (n <= fd)
    n = n > INT_MAX / 2 ? INT_MAX : n * 2;
  evl__fd *nf = realloc(loop->fds, (size_t)n * sizeof *nf);
  if (!nf)
    return -ENOMEM;
  memset(nf + loop->nfds, 0, (size_t)(n - loop->nfds) * sizeof *nf);
  loop->fds = nf;
  loop->nfds = n;
  return 0;
}

static int change_mark(evl_loop *loop, int fd) {
  evl__fd *f = &loop->fds[fd];
  if (f->pending)
    return 0;
  if (loop->nchanges == loop->changes_cap) {
    int ncap = loop->changes_cap ? loop->changes_cap * 2 : 64;
    int *nc = realloc(loop->changes, (size_t)ncap * sizeof *nc);
    if (!nc)
      return -ENOMEM;
    loop->changes = nc;
    loop->changes_cap = ncap;
  }
  loop->changes[loop->nchanges++] = fd;
  f->pending = 1;
  return 0;
}

/* Deletion reaches the backend at once, not at the next flush: a user may
 * close the fd right after removing it, and an epoll registration whose fd
 * number is gone can never be deleted again — a dup() would keep it firing
 * forever (S6). */
static void fd_unregister(evl_loop *loop, int fd) {
  evl__fd *f = &loop->fds[fd];
  int rc = loop->be->ctl(loop->be_state, fd, f->kmask, 0);
  /* -EBADF/-ENOENT: the user closed the fd first; the kernel dropped it. */
  if (rc < 0 && rc != -EBADF && rc != -ENOENT)
    evl__loop_error(loop, rc, "backend ctl (delete)", NULL, fd);
  f->kmask = 0;
  loop->nregistered--;
}

static int io_add(evl_loop *loop, int fd, evl_io_cb cb, void *arg,
                  unsigned dir) {
  int rc = evl__loop_check(loop);
  if (rc < 0)
    return rc;
  if (!cb)
    return -EINVAL;
  if (fd < 0)
    return -EBADF;
  if (loop->be->fd_limit > 0 && fd >= loop->be->fd_limit)
    return -ERANGE;
  if (fcntl(fd, F_GETFD) < 0)
    return -EBADF;
  if ((rc = fd_reserve(loop, fd)) < 0)
    return rc;
  evl__fd *f = &loop->fds[fd];
  if (f->internal)
    return -EEXIST;
  unsigned want = fd_want(f) | dir;
  if (f->kmask == 0) {
    /* A new fd is registered now so that a refusal (epoll: regular file)
     * is returned here with nothing left behind. */
    rc = loop->be->ctl(loop->be_state, fd, 0, want);
    if (rc < 0)
      return rc;
    f->kmask = (uint8_t)want;
    loop->nregistered++;
  } else if (want != f->kmask && (rc = change_mark(loop, fd)) < 0) {
    return rc;
  }
  evl__watcher *w = dir == EVL_READ ? &f->r : &f->w;
  w->cb = cb;
  w->arg = arg;
  w->gen = ++loop->watcher_gen; /* events collected for the old one: stale */
  return 0;
}

static int io_remove(evl_loop *loop, int fd, unsigned dir) {
  int rc = evl__loop_check(loop);
  if (rc < 0)
    return rc;
  if (fd < 0)
    return -EBADF;
  if (fd >= loop->nfds)
    return 0;
  evl__fd *f = &loop->fds[fd];
  evl__watcher *w = dir == EVL_READ ? &f->r : &f->w;
  if (!w->cb || f->internal)
    return 0;
  w->cb = NULL;
  w->arg = NULL;
  w->gen = ++loop->watcher_gen;
  unsigned want = fd_want(f);
  if (want == 0) {
    if (f->kmask)
      fd_unregister(loop, fd);
  } else if (want != f->kmask && (rc = change_mark(loop, fd)) < 0) {
    return rc;
  }
  return 1;
}

int evl_add_reader(evl_loop *loop, int fd, evl_io_cb cb, void *arg) {
  return io_add(loop, fd, cb, arg, EVL_READ);
}
int evl_add_writer(evl_loop *loop, int fd, evl_io_cb cb, void *arg) {
  return io_add(loop, fd, cb, arg, EVL_WRITE);
}
int evl_remove_reader(evl_loop *loop, int fd) {
  return io_remove(loop, fd, EVL_READ);
}
int evl_remove_writer(evl_loop *loop, int fd) {
  return io_remove(loop, fd, EVL_WRITE);
}

/* One backend ctl per changed fd per iteration, whatever happened to it. */
static void loop_flush_changes(evl_loop *loop) {
  for (int i = 0; i < loop->nchanges; i++) {
    int fd = loop->changes[i];
    evl__fd *f = &loop->fds[fd];
    f->pending = 0;
    unsigned want = fd_want(f);
    if (want == f->kmask || want == 0 || f->kmask == 0)
      continue; /* deletes and adds were applied at once */
    int rc = loop->be->ctl(loop->be_state, fd, f->kmask, want);
    if (rc == 0) {
      f->kmask = (uint8_t)want;
      continue;
    }
    /* The fd was closed under its watchers (or reused): report it and drop
     * the watchers rather than fire for a stranger. */
    evl__loop_error(loop, rc, "backend ctl (modify)", NULL, fd);
    loop->be->ctl(loop->be_state, fd, f->kmask, 0);
    f->kmask = 0;
    loop->nregistered--;
    f->r = (evl__watcher){.gen = ++loop->watcher_gen};
    f->w = (evl__watcher){.gen = ++loop->watcher_gen};
  }
  loop->nchanges = 0;
}

/* ------------------------------------------------------------ threadsafe */

static void loop_wake_write(evl_loop *loop) {
  /* EAGAIN (eventfd counter or pipe full) means a wake is already pending,
   * so ignoring it loses nothing: the queue is the record, not the fd. */
  if (loop->wake_wfd == loop->wake_rfd) {
    uint64_t one = 1;
    ssize_t r = write(loop->wake_wfd, &one, sizeof one);
    (void)r;
  } else {
    char c = 0;
    ssize_t r = write(loop->wake_wfd, &c, 1);
    (void)r;
  }
}

int evl_call_soon_threadsafe(evl_loop *loop, evl_cb cb, void *arg) {
  if (!loop || !cb)
    return -EINVAL;
  int rc = 0;
  pthread_mutex_lock(&loop->ts_lock);
  if (loop->closed) {
    rc = EVL_ECLOSED;
  } else if (loop->ts_n == loop->ts_cap &&
             !(loop->ts_cap > SIZE_MAX / 2 / sizeof(evl__tsent))) {
    size_t ncap = loop->ts_cap ? loop->ts_cap * 2 : 64;
    evl__tsent *nq = realloc(loop->ts_q, ncap * sizeof *nq);
    if (!nq)
      rc = -ENOMEM;
    else {
      loop->ts_q = nq;
      loop->ts_cap = ncap;
    }
  }
  if (rc == 0) {
    loop->ts_q[loop->ts_n++] = (evl__tsent){cb, arg};
    if (!loop->ts_pending) {
      loop->ts_pending = 1;
      /* Written under the lock so close() cannot close the fd under us. */
      loop_wake_write(loop);
    }
  }
  pthread_mutex_unlock(&loop->ts_lock);
  return rc;
}

static void loop_stop_cb(void *arg) {
  evl_stop(arg);
}

int evl_stop_threadsafe(evl_loop *loop) {
  return evl_call_soon_threadsafe(loop, loop_stop_cb, loop);
}

static void loop_drain_posts(evl_loop *loop) {
  char buf[64];
  while (read(loop->wake_rfd, buf, sizeof buf) > 0) {
  }
  pthread_mutex_lock(&loop->ts_lock);
  evl__tsent *q = loop->ts_q;
  size_t n = loop->ts_n, cap = loop->ts_cap;
  loop->ts_q = loop->ts_spare;
  loop->ts_cap = loop->ts_spare_cap;
  loop->ts_n = 0;
  loop->ts_pending = 0;
  pthread_mutex_unlock(&loop->ts_lock);
  for (size_t i = 0; i < n; i++)
    if (queue_cb(loop, q[i].cb, q[i].arg, NULL) < 0)
      evl__loop_error(loop, -ENOMEM, "threadsafe post dropped", NULL, -1);
  loop->ts_spare = q;
  loop->ts_spare_cap = cap;
}

static int loop_wake_open(evl_loop *loop) {
  int fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (fd >= 0) {
    loop->wake_rfd = loop->wake_wfd = fd;
  } else {
    int p[2];
    if (pipe2(p, O_CLOEXEC | O_NONBLOCK) < 0)
      return -errno;
    loop->wake_rfd = p[0];
    loop->wake_wfd = p[1];
  }
  int rc = fd_reserve(loop, loop->wake_rfd);
  if (rc == 0)
    rc = loop->be->ctl(loop->be_state, loop->wake_rfd, 0, EVL_READ);
  if (rc < 0)
    return rc;
  loop->fds[loop->wake_rfd].internal = 1;
  loop->fds[loop->wake_rfd].kmask = EVL_READ;
  return 0;
}

/* ------------------------------------------------------------ run cycle */

static int64_t loop_timeout(evl_loop *loop) {
  if (loop->rcount || loop->stopping)
    return 0;
  if (loop->heap.n == 0)
    return -1;
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

static void loop_run_cb(evl_loop *loop, evl_cb cb, void *arg) {
  loop->stats.callbacks++;
  if (!loop->debug) {
    cb(arg);
    return;
  }
  uint64_t t0 = evl_now();
  cb(arg);
  uint64_t dt = evl_now() - t0;
  if (dt > loop->slow_ns && !loop->closed) {
    evl_error_info info = {.code = EVL_ESLOW,
                           .context = "slow callback",
                           .message = NULL,
                           .fd = -1,
                           .duration_ns = dt};
    if (loop->eh)
      loop->eh(&info, loop->eh_arg);
    else
      evl_default_error_handler(&info, NULL);
  }
}

static void loop_run_io(evl_loop *loop, evl__qent e) {
  int fd = (int)e.id;
  if (fd >= loop->nfds)
    return;
  evl__fd *f = &loop->fds[fd];
  evl__watcher *w = e.kind == EVL__Q_READ ? &f->r : &f->w;
  /* Removed or replaced since the event was collected: stale (S6). */
  if (!w->cb || w->gen != e.gen)
    return;
  evl_io_cb cb = w->cb;
  void *arg = w->arg;
  loop->stats.callbacks++;
  if (!loop->debug) {
    cb(fd, e.events, arg);
    return;
  }
  uint64_t t0 = evl_now();
  cb(fd, e.events, arg);
  uint64_t dt = evl_now() - t0;
  if (dt > loop->slow_ns && !loop->closed) {
    evl_error_info info = {.code = EVL_ESLOW,
                           .context = "slow callback",
                           .message = "I/O callback",
                           .fd = fd,
                           .duration_ns = dt};
    if (loop->eh)
      loop->eh(&info, loop->eh_arg);
    else
      evl_default_error_handler(&info, NULL);
  }
}

static void loop_collect(evl_loop *loop, int n) {
  for (int i = 0; i < n; i++) {
    int fd = loop->events[i].fd;
    unsigned ev = loop->events[i].events;
    if (fd < 0 || fd >= loop->nfds)
      continue;
    evl__fd *f = &loop->fds[fd];
    if (f->internal) {
      loop_drain_posts(loop);
      continue;
    }
    /* Hang-up and error wake every registered direction (S6). */
    unsigned rbits = ev & (EVL_READ | EVL_ERR | EVL_HUP | EVL_RDHUP);
    unsigned wbits = ev & (EVL_WRITE | EVL_ERR | EVL_HUP);
    if (f->r.cb && rbits &&
        ring_push(loop,
                  (evl__qent){EVL__Q_READ, (uint32_t)fd, f->r.gen, rbits}) < 0)
      evl__loop_error(loop, -ENOMEM, "event dropped", NULL, fd);
    if (f->w.cb && wbits &&
        ring_push(loop,
                  (evl__qent){EVL__Q_WRITE, (uint32_t)fd, f->w.gen, wbits}) < 0)
      evl__loop_error(loop, -ENOMEM, "event dropped", NULL, fd);
  }
  if (n == loop->events_cap && loop->events_cap < 65536) {
    evl_event *ne =
        realloc(loop->events, (size_t)loop->events_cap * 2 * sizeof *ne);
    if (ne) {
      loop->events = ne;
      loop->events_cap *= 2;
    }
  }
}

static int loop_iterate(evl_loop *loop) {
  loop->stats.iterations++;
  int64_t timeout = loop_timeout(loop);
  loop_flush_changes(loop);
  int n =
      loop->be->wait(loop->be_state, timeout, loop->events, loop->events_cap);
  loop->stats.waits++;
  loop->now = evl_now();
  if (n == -EINTR)
    n = 0;
  if (n < 0) {
    evl__loop_error(loop, n, "backend wait", loop->be->name, -1);
    return n;
  }
  loop->stats.events += (uint64_t)n;
  loop_collect(loop, n > loop->events_cap ? loop->events_cap : n);

  while (loop->heap.n && loop->heap.a[0].deadline <= loop->now) {
    uint32_t idx = loop->heap.a[0].slot;
    evl__heap_remove(&loop->heap, loop->slots, 0);
    loop->slots[idx].state = EVL__SLOT_QUEUED;
    if (ring_push(loop, (evl__qent){.kind = EVL__Q_CB, .id = idx}) < 0) {
      evl__loop_error(loop, -ENOMEM, "timer dropped", NULL, -1);
      slot_free(loop, idx);
    }
  }

  /* Exactly what is queued now; later additions wait (S1). */
  for (uint32_t count = loop->rcount; count > 0 && !loop->closed; count--) {
    evl__qent e = ring_pop(loop);
    if (e.kind != EVL__Q_CB) {
      loop_run_io(loop, e);
      continue;
    }
    evl__slot *s = &loop->slots[e.id];
    if (s->state == EVL__SLOT_CANCELLED) {
      slot_free(loop, e.id);
      continue;
    }
    evl_cb cb = s->cb;
    void *arg = s->arg;
    slot_free(loop, e.id); /* cancelling a running callback: EVL_EHANDLE */
    loop_run_cb(loop, cb, arg);
  }
  return 0;
}

static int loop_enter(evl_loop *loop) {
  int rc = evl__loop_check(loop);
  if (rc < 0)
    return rc;
  if (loop_is_running(loop) || loop_running)
    return -EBUSY;
  loop->thread = pthread_self();
  __atomic_store_n(&loop->running, 1, __ATOMIC_RELEASE);
  loop_running = loop;
  loop->now = evl_now();
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
  return loop ? loop_is_running(loop) : 0;
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
  if (!loop || !out)
    return -EINVAL;
  if (loop->closed)
    return EVL_ECLOSED;
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

/* ------------------------------------------------------------ lifecycle */

int evl__backend_resolve(const evl_loop_config *cfg,
                         const evl_backend_ops **out);

int evl_loop_new(evl_loop **out, const evl_loop_config *cfg) {
  if (!out)
    return -EINVAL;
  *out = NULL;
  evl_loop_config dflt;
  if (!cfg) {
    evl_loop_config_init(&dflt);
    cfg = &dflt;
  } else if (cfg->size < sizeof(size_t) + sizeof(const char *)) {
    return -EINVAL;
  }
  const evl_backend_ops *be;
  int rc = evl__backend_resolve(cfg, &be);
  if (rc < 0)
    return rc;

  evl_loop *loop = calloc(1, sizeof *loop);
  if (!loop)
    return -ENOMEM;
  pthread_mutex_init(&loop->ts_lock, NULL);
  loop->be = be;
  loop->free_head = UINT32_MAX;
  loop->wake_rfd = loop->wake_wfd = -1;
  loop->debug = (cfg->flags & EVL_LOOP_DEBUG) != 0;
  loop->slow_ns =
      cfg->slow_callback_ns ? cfg->slow_callback_ns : LOOP_DEFAULT_SLOW_NS;
  loop->executor_threads = cfg->executor_threads;
  loop->be_state = calloc(1, be->state_size ? be->state_size : 1);
  loop->ring = malloc(256 * sizeof *loop->ring);
  loop->rmask = 255;
  loop->events_cap = 256;
  loop->events = malloc((size_t)loop->events_cap * sizeof *loop->events);
  if (!loop->be_state || !loop->ring || !loop->events) {
    rc = -ENOMEM;
    goto fail;
  }
  evl_backend_config bcfg = {.size = sizeof bcfg};
  rc = be->init(loop->be_state, &bcfg);
  if (rc < 0)
    goto fail;
  rc = loop_wake_open(loop);
  if (rc < 0) {
    be->fini(loop->be_state);
    goto fail;
  }
  loop->now = evl_now();
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
  return rc;
}

int evl_loop_close(evl_loop *loop) {
  if (!loop)
    return -EINVAL;
  if (loop->closed)
    return 0;
  if (loop_is_running(loop))
    return -EBUSY;
  /* Subsystems first (executor joins, signals restored) while the loop
   * still works, newest first. */
  for (int i = loop->nhooks - 1; i >= 0; i--)
    loop->hooks[i].fn(loop, loop->hooks[i].data);
  free(loop->hooks);
  loop->hooks = NULL;
  loop->nhooks = 0;

  pthread_mutex_lock(&loop->ts_lock);
  loop->closed = 1;
  pthread_mutex_unlock(&loop->ts_lock);

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
