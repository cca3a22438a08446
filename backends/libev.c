/* libev.c — selector backend wrapping libev 4 (a private ev_loop on epoll). */
/*
 * One ev_io per fd on a private loop from ev_loop_new(EVBACKEND_EPOLL |
 * EVFLAG_NOENV): wait runs ev_run(EVRUN_ONCE) with an ev_timer for the
 * timeout (EVRUN_NOWAIT for 0) and the watchers copy what fired into a
 * per-wait list that is merged per fd, then handed to the core.
 *
 * What libev does underneath, and what this file does about it:
 * - Registration is lazy: ev_io_start only records the change, the
 *   epoll_ctl happens inside the next ev_run. So ctl never fails for a
 *   kernel reason; bad fds are refused here first (fcntl), otherwise libev
 *   would kill the watcher with EV_ERROR in the middle of a wait. For the
 *   same reason a benchmark cannot time registration around ev_io_start.
 * - libev never calls EPOLL_CTL_DEL: a stopped fd stays in epoll until it
 *   is closed or fires, and libev quietly drops such spurious events (and
 *   rebuilds its epoll set when a generation shows an fd was reused). So
 *   deleting is cheap and no stale event ever reaches a watcher.
 * - Regular files (EPERM from epoll) are accepted and reported as always
 *   ready, as poll() would: this backend has EVL_BF_FILES.
 * - EPOLLERR/EPOLLHUP become EV_READ|EV_WRITE, masked to the registered
 *   ones; libev reports neither separately, so neither does this backend.
 *   EV_ERROR (a bad fd found inside ev_run) is reported once as EVL_ERR
 *   with the registered bits; libev has stopped the watcher by then and it
 *   stays stopped until the next ctl.
 * - Timeouts: epoll_wait has millisecond resolution (libev rounds up), so
 *   resolution_ns is 1 ms. ev_now is refreshed before the timer starts so
 *   that a stale loop time cannot make a wait end early.
 * - EVRUN_ONCE returns after a signal (EINTR); wait then returns 0 events.
 * - More fds fire than the core's array holds: the rest are kept and put
 *   first in line at the next wait, reported only if they fire again then.
 * - wake() is ev_async_send (libev's own eventfd).
 * libev's and libevent's headers define EV_READ etc. differently: this file
 * must never include libevent's.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <ev.h>

#include "evl/backend.h"

/* The longest single library wait; longer timeouts loop. */
#define LIBEV_MAX_ROUND_NS ((int64_t)86400 * 1000000000)

typedef struct libev_reg {
  ev_io io; /* first: the watcher pointer is the registration */
  uint32_t mask;
  uint32_t stamp;
  int idx;
  int dead; /* libev stopped it after EV_ERROR */
} libev_reg;

typedef struct libev_state {
  struct ev_loop *loop;
  ev_timer timer;
  ev_async async;
  libev_reg **regs;
  int nregs;
  evl_event *ready;
  int nready, ready_cap;
  evl_event *carry;
  int ncarry, carry_cap;
  uint32_t stamp;
  int woken;
  int nomem;
} libev_state;

static int libev_reserve(evl_event **a, int *cap, int need) {
  if (need <= *cap)
    return 0;
  int n = *cap ? *cap : 64;
  while (n < need)
    n *= 2;
  evl_event *p = realloc(*a, (size_t)n * sizeof(*p));
  if (!p)
    return -ENOMEM;
  *a = p;
  *cap = n;
  return 0;
}

static void libev_collect(libev_state *s, libev_reg *r, int fd, uint32_t ev) {
  if (r->stamp == s->stamp) {
    s->ready[r->idx].events |= ev;
    return;
  }
  if (libev_reserve(&s->ready, &s->ready_cap, s->nready + 1) < 0) {
    s->nomem = 1; /* level-triggered: it fires again next time */
    return;
  }
  r->stamp = s->stamp;
  r->idx = s->nready;
  s->ready[s->nready].fd = fd;
  s->ready[s->nready].events = ev;
  s->nready++;
}

static void libev_io_cb(struct ev_loop *loop, ev_io *w, int revents) {
  libev_state *s = ev_userdata(loop);
  libev_reg *r = (libev_reg *)w;
  uint32_t ev = 0;
  if (revents & EV_READ)
    ev |= EVL_READ;
  if (revents & EV_WRITE)
    ev |= EVL_WRITE;
  ev &= r->mask;
  if (revents & EV_ERROR) {
    ev |= EVL_ERR | r->mask;
    r->dead = 1;
  }
  if (ev)
    libev_collect(s, r, w->fd, ev);
}

static void libev_timer_cb(struct ev_loop *loop, ev_timer *w, int revents) {
  (void)loop;
  (void)w;
  (void)revents;
}

static void libev_async_cb(struct ev_loop *loop, ev_async *w, int revents) {
  libev_state *s = ev_userdata(loop);
  (void)w;
  (void)revents;
  s->woken = 1;
}

static unsigned libev_flags(void) {
  return EVBACKEND_EPOLL | EVFLAG_NOENV | EVFLAG_NOSIGMASK;
}

static int libev_probe(char *why, size_t len) {
  if (!(ev_supported_backends() & EVBACKEND_EPOLL)) {
    snprintf(why, len, "libev %d.%d was built without epoll",
             ev_version_major(), ev_version_minor());
    return -ENOTSUP;
  }
  struct ev_loop *loop = ev_loop_new(libev_flags());
  if (!loop) {
    snprintf(why, len, "libev: ev_loop_new(EVBACKEND_EPOLL) failed");
    return -ENOTSUP;
  }
  ev_loop_destroy(loop);
  return 0;
}

static int libev_init(void *state, const evl_backend_config *cfg) {
  libev_state *s = state;
  (void)cfg;
  s->loop = ev_loop_new(libev_flags());
  if (!s->loop)
    return -ENOTSUP;
  ev_set_userdata(s->loop, s);
  ev_init(&s->timer, libev_timer_cb);
  ev_async_init(&s->async, libev_async_cb);
  /* Also keeps the loop active, so EVRUN_ONCE blocks with no fds. */
  ev_async_start(s->loop, &s->async);
  return 0;
}

static void libev_fini(void *state) {
  libev_state *s = state;
  if (s->loop) {
    for (int fd = 0; fd < s->nregs; fd++) {
      if (s->regs[fd]) {
        ev_io_stop(s->loop, &s->regs[fd]->io);
        free(s->regs[fd]);
      }
    }
    ev_timer_stop(s->loop, &s->timer);
    ev_async_stop(s->loop, &s->async);
    ev_loop_destroy(s->loop);
  }
  free(s->regs);
  free(s->ready);
  free(s->carry);
  memset(s, 0, sizeof(*s));
}

static int libev_grow(libev_state *s, int fd) {
  if (fd < s->nregs)
    return 0;
  int n = s->nregs ? s->nregs : 64;
  while (n <= fd)
    n = n > INT_MAX / 2 ? INT_MAX : n * 2;
  libev_reg **r = realloc(s->regs, (size_t)n * sizeof(*r));
  if (!r)
    return -ENOMEM;
  memset(r + s->nregs, 0, (size_t)(n - s->nregs) * sizeof(*r));
  s->regs = r;
  s->nregs = n;
  return 0;
}

static int libev_ctl(void *state, int fd, unsigned old_mask,
                     unsigned new_mask) {
  libev_state *s = state;
  (void)old_mask;
  if (fd < 0)
    return -EBADF;
  if (new_mask & ~(unsigned)(EVL_READ | EVL_WRITE | EVL_RDHUP))
    return -EINVAL;
  new_mask &= EVL_READ | EVL_WRITE;
  libev_reg *r = fd < s->nregs ? s->regs[fd] : NULL;
  if (!new_mask) {
    if (!r)
      return -ENOENT;
    ev_io_stop(s->loop, &r->io);
    free(r);
    s->regs[fd] = NULL;
    return 0;
  }
  if (!r) {
    /* libev would only find out inside ev_run. */
    if (fcntl(fd, F_GETFD) < 0)
      return -errno;
    int rc = libev_grow(s, fd);
    if (rc < 0)
      return rc;
    r = calloc(1, sizeof(*r));
    if (!r)
      return -ENOMEM;
    s->regs[fd] = r;
    ev_init(&r->io, libev_io_cb);
  } else if (r->mask == new_mask && !r->dead) {
    return 0;
  } else {
    ev_io_stop(s->loop, &r->io);
  }
  int what = 0;
  if (new_mask & EVL_READ)
    what |= EV_READ;
  if (new_mask & EVL_WRITE)
    what |= EV_WRITE;
  ev_io_set(&r->io, fd, what);
  ev_io_start(s->loop, &r->io);
  r->mask = new_mask;
  r->dead = 0;
  return 0;
}

static int libev_forget_fd(void *state, int fd) {
  int rc = libev_ctl(state, fd, 0, 0);
  return rc == -ENOENT ? 0 : rc;
}

static int libev_wake(void *state) {
  libev_state *s = state;
  ev_async_send(s->loop, &s->async);
  return 0;
}

static int64_t libev_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Absolute end of a wait; saturates instead of overflowing for huge
 * timeouts (INT64_MAX means "practically never"). */
static int64_t libev_deadline(int64_t timeout_ns) {
  if (timeout_ns <= 0)
    return 0;
  int64_t now = libev_now();
  return timeout_ns > INT64_MAX - now ? INT64_MAX : now + timeout_ns;
}

static int libev_wait(void *state, int64_t timeout_ns, evl_event *out,
                      int cap) {
  libev_state *s = state;
  if (cap < 0 || (cap > 0 && !out))
    return -EINVAL;
  s->stamp++;
  s->nready = 0;
  s->woken = 0;
  s->nomem = 0;
  /* Carried fds keep their place in line but must fire again to count. */
  for (int i = 0; i < s->ncarry; i++) {
    int fd = s->carry[i].fd;
    if (fd < s->nregs && s->regs[fd]) {
      libev_collect(s, s->regs[fd], fd, 0);
      if (s->nomem)
        return -ENOMEM;
    }
  }
  s->ncarry = 0;
  int nonblock = timeout_ns == 0 || s->nready > 0;
  int64_t deadline = libev_deadline(timeout_ns);
  int fired = 0, eintr = 0;
  for (;;) {
    if (!nonblock && timeout_ns > 0) {
      int64_t left = deadline - libev_now();
      if (left > LIBEV_MAX_ROUND_NS)
        left = LIBEV_MAX_ROUND_NS; /* huge timeouts: wait in rounds */
      ev_now_update(s->loop);
      ev_timer_set(&s->timer, left > 0 ? (double)left / 1e9 : 0., 0.);
      ev_timer_start(s->loop, &s->timer);
    }
    errno = 0;
    ev_run(s->loop, nonblock ? EVRUN_NOWAIT : EVRUN_ONCE);
    eintr = errno == EINTR;
    ev_timer_stop(s->loop, &s->timer);
    for (int i = 0; i < s->nready && !fired; i++)
      fired = s->ready[i].events != 0;
    if (fired || s->woken || timeout_ns == 0 || s->nomem || eintr)
      break;
    if (nonblock) {
      nonblock = 0; /* the carried fds went quiet: wait for real */
      continue;
    }
    if (timeout_ns > 0 && libev_now() >= deadline)
      break;
  }
  int n = 0, k = 0;
  for (int i = 0; i < s->nready; i++) {
    if (!s->ready[i].events)
      continue;
    if (n < cap)
      out[n++] = s->ready[i];
    else
      s->ready[k++] = s->ready[i]; /* compact the overflow in place */
  }
  if (k > 0) {
    if (libev_reserve(&s->carry, &s->carry_cap, k) < 0)
      return n; /* dropped ones are level-triggered: they come back */
    memcpy(s->carry, s->ready, (size_t)k * sizeof(*s->carry));
    s->ncarry = k;
  }
  return n;
}

static const evl_backend_ops libev_ops = {
    .abi = EVL_BACKEND_ABI,
    .size = sizeof(evl_backend_ops),
    .name = "libev",
    .description = "libev 4 private ev_loop (epoll) as a selector: one ev_io "
                   "per fd, registered lazily inside ev_run",
    .features = EVL_BF_O1 | EVL_BF_FDS | EVL_BF_FILES | EVL_BF_WRAPPER,
    .fd_limit = 0,
    .resolution_ns = 1000000,
    .state_size = sizeof(libev_state),
    .priority = 0,
    .probe = libev_probe,
    .init = libev_init,
    .fini = libev_fini,
    .ctl = libev_ctl,
    .wait = libev_wait,
    .forget_fd = libev_forget_fd,
    .after_fork = NULL,
    .wake = libev_wake,
};

const evl_backend_ops *evl_backend_plugin(void) {
  return &libev_ops;
}
