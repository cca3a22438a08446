/* libev.c — selector backend wrapping libev 4 (a private ev_loop on epoll). */
/*
 * One ev_io per fd on a private loop from ev_loop_new(EVBACKEND_EPOLL |
 * EVFLAG_NOENV): wait runs ev_run(EVRUN_ONCE) with an ev_timer for the
 * timeout (EVRUN_NOWAIT for 0) and the watchers copy what fired into a
 * per-wait list that is merged per fd, then handed to the core.
 *
 * What libev does underneath, and what this file does about it:
 * - Registration is lazy: ev_io_start only records the change, the
 *   epoll_ctl happens inside the next ev_run, and there a Debian libev
 *   asserts (aborts) when epoll_ctl says EBADF, EINVAL or ELOOP. So ctl
 *   refuses what it can see at once (a closed or O_PATH fd: -EBADF; libev's
 *   own epoll fd: -EINVAL), and every fd started since the last run is
 *   looked at again before ev_run (wrap_pending): one closed in between is
 *   stopped here and reported once as EVL_ERR, as EV_ERROR would be. The
 *   epoll fd itself is checked too when there are changes: closed or
 *   replaced, wait returns -EBADF without running libev. For the same
 *   reason a benchmark cannot time registration around ev_io_start.
 * - A failing epoll_wait goes to libev's syserr callback, which aborts
 *   unless one is set: this module sets one (process-wide, as libev allows
 *   only that) that records errno for the wait in progress and stops it.
 * - ev_loop_new aborts when it can open its epoll fd but not the eventfd
 *   of the async watcher: init first makes sure two fds can be had.
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
#include <pthread.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ev.h>

#include "evl/backend.h"
#include "wrap_common.h"

typedef struct libev_reg {
  ev_io io; /* first: the watcher pointer is the registration */
  uint32_t mask;
  wrap_slot slot;
  int dead;    /* libev stopped it after EV_ERROR */
  int pending; /* on the pending list: started since the last ev_run */
} libev_reg;

typedef struct libev_state {
  struct ev_loop *loop;
  ev_timer timer;
  ev_async async;
  libev_reg **regs;
  int nregs;
  wrap_ready q;
  wrap_pending pend;
  wrap_fdid epfd; /* libev's epoll fd as it was at init */
  int changed;    /* libev has changes of its own to apply */
} libev_state;

/* Set by libev's syserr callback during this thread's ev_run. The callback
 * is process-wide: when another module installed its own, ours is not
 * called, but that one returns too, so libev still does not abort. */
static _Thread_local int libev_syserr_errno;
static _Thread_local struct ev_loop *libev_running;

static void libev_syserr(const char *msg) {
  (void)msg;
  libev_syserr_errno = errno ? errno : EIO;
  if (libev_running)
    ev_break(libev_running, EVBREAK_ALL);
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
    wrap_collect(&s->q, &r->slot, w->fd, ev);
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
  s->q.woken = 1;
}

static unsigned libev_flags(void) {
  return EVBACKEND_EPOLL | EVFLAG_NOENV | EVFLAG_NOSIGMASK;
}

/* libev does not say which fd is its epoll (libev_init guesses the lowest
 * free number and confirms it is an epoll set): every ev_loop_new of this
 * module, the probe's too, is made one at a time, so no thread confirms an
 * epoll set another thread's libev just opened. */
static pthread_mutex_t libev_new_lock = PTHREAD_MUTEX_INITIALIZER;

static int libev_probe(char *why, size_t len) {
  if (!(ev_supported_backends() & EVBACKEND_EPOLL)) {
    snprintf(why, len, "libev %d.%d was built without epoll",
             ev_version_major(), ev_version_minor());
    return -ENOTSUP;
  }
  pthread_mutex_lock(&libev_new_lock);
  errno = 0;
  struct ev_loop *loop = ev_loop_new(libev_flags());
  int e = errno;
  if (loop)
    ev_loop_destroy(loop);
  pthread_mutex_unlock(&libev_new_lock);
  if (!loop) {
    snprintf(why, len, "libev: ev_loop_new(EVBACKEND_EPOLL) failed");
    return e == EMFILE || e == ENFILE || e == ENOMEM ? -e : -ENOTSUP;
  }
  return 0;
}

static int libev_init(void *state, const evl_backend_config *cfg) {
  libev_state *s = state;
  (void)cfg;
  ev_set_syserr_cb(libev_syserr);
  int rc = wrap_fd_headroom(2);
  if (rc < 0)
    return rc;
  /* libev does not say which fd is its epoll: its first open takes the
   * lowest free number. Not confirmed (another thread won it): no check.
   * One at a time (libev_new_lock). */
  pthread_mutex_lock(&libev_new_lock);
  int epfd = wrap_lowest_free_fd();
  errno = 0;
  s->loop = ev_loop_new(libev_flags());
  int e = errno;
  s->epfd.fd = -1;
  if (s->loop && epfd >= 0 && wrap_fd_is_epoll(epfd) &&
      wrap_fdid_take(&s->epfd, epfd) < 0)
    s->epfd.fd = -1;
  pthread_mutex_unlock(&libev_new_lock);
  if (!s->loop)
    return e == EMFILE || e == ENFILE ? -e : -ENOTSUP;
  s->changed = 1; /* the async watcher's eventfd, registered lazily */
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
  wrap_ready_free(&s->q);
  wrap_pending_free(&s->pend);
  memset(s, 0, sizeof(*s));
}

static int libev_ctl(void *state, int fd, unsigned old_mask,
                     unsigned new_mask) {
  libev_state *s = state;
  (void)old_mask;
  int rc = wrap_ctl_check(fd, new_mask, EVL_READ | EVL_WRITE | EVL_RDHUP);
  if (rc < 0)
    return rc;
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
    /* libev would only find out inside ev_run, and abort there. */
    if ((rc = wrap_fd_pollable(fd)) < 0)
      return rc;
    if (fd == s->epfd.fd || (s->epfd.fd < 0 && wrap_fd_is_epoll(fd)))
      return -EINVAL; /* what epoll says of itself */
    rc = wrap_reserve(&s->regs, &s->nregs, fd + 1, sizeof(*s->regs));
    if (rc < 0)
      return rc;
    r = calloc(1, sizeof(*r));
    if (!r)
      return -ENOMEM;
    s->regs[fd] = r;
    ev_init(&r->io, libev_io_cb);
  }
  /* The same mask again is not a no-op: the core asks so when the number
   * may name another file now; ev_io_set below makes libev epoll_ctl it
   * afresh (MOD, then ADD on ENOENT). */
  if (!r->pending) {
    if (wrap_pending_add(&s->pend, fd) < 0) {
      if (!r->mask) { /* just made: nothing refers to it yet */
        free(r);
        s->regs[fd] = NULL;
      }
      return -ENOMEM;
    }
    r->pending = 1;
  }
  ev_io_stop(s->loop, &r->io);
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
  return wrap_forgotten(libev_ctl(state, fd, 0, 0));
}

static int libev_wake(void *state) {
  libev_state *s = state;
  ev_async_send(s->loop, &s->async);
  return 0;
}

static wrap_slot *libev_lookup(void *state, int fd) {
  libev_state *s = state;
  return fd < s->nregs && s->regs[fd] ? &s->regs[fd]->slot : NULL;
}

/* What ev_run would abort on, found first (see the top of the file). */
static int libev_check_pending(libev_state *s) {
  if (!s->pend.n && !s->changed)
    return 0;
  if (s->epfd.fd >= 0 && wrap_fdid_same(&s->epfd) < 0)
    return -EBADF;
  for (int i = 0; i < s->pend.n; i++) {
    int fd = s->pend.fds[i];
    libev_reg *r = fd < s->nregs ? s->regs[fd] : NULL;
    if (!r || !r->pending)
      continue;
    r->pending = 0;
    if (r->dead || wrap_fd_pollable(fd) == 0)
      continue;
    ev_io_stop(s->loop, &r->io);
    r->dead = 1;
    wrap_collect(&s->q, &r->slot, fd, EVL_ERR | r->mask);
  }
  s->pend.n = 0;
  s->changed = 0;
  return 0;
}

static int libev_run(void *state, int nonblock, int64_t left_ns) {
  libev_state *s = state;
  int rc = libev_check_pending(s);
  if (rc < 0)
    return rc;
  if (!nonblock && left_ns >= 0) {
    /* A stale loop time would make the timer end the wait early. */
    ev_now_update(s->loop);
    ev_timer_set(&s->timer, (double)left_ns / 1e9, 0.);
    ev_timer_start(s->loop, &s->timer);
  }
  errno = 0;
  libev_syserr_errno = 0;
  libev_running = s->loop;
  ev_run(s->loop, nonblock ? EVRUN_NOWAIT : EVRUN_ONCE);
  libev_running = NULL;
  int eintr = errno == EINTR;
  ev_timer_stop(s->loop, &s->timer);
  if (libev_syserr_errno)
    return -libev_syserr_errno;
  return eintr; /* a signal ends the wait with what it has */
}

static int libev_wait(void *state, int64_t timeout_ns, evl_event *out,
                      int cap) {
  libev_state *s = state;
  return wrap_wait(&s->q, s, libev_lookup, libev_run, timeout_ns, out, cap);
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
