/* libevent.c — selector backend wrapping libevent 2.1 (event_base, epoll). */
/*
 * One persistent event (EV_PERSIST) per fd on a private event_base; wait
 * runs event_base_loop(EVLOOP_ONCE) and the callbacks copy what fired into
 * a per-wait list that is merged per fd, then handed to the core.
 *
 * What libevent does underneath, and what this file does about it:
 * - The base is created with EV_FEATURE_O1 required (epoll on Linux) and
 *   EVENT_BASE_FLAG_PRECISE_TIMER, which makes libevent read
 *   CLOCK_MONOTONIC instead of the coarse clock and time epoll_wait with a
 *   timerfd: timeouts then have libevent's own µs (timeval) resolution
 *   instead of a jiffy. The base owns an epoll fd, a timerfd and a
 *   socketpair for signals; all are closed by event_base_free.
 * - libevent folds EPOLLERR/EPOLLHUP into EV_READ|EV_WRITE (masked to the
 *   registered ones) and reports neither separately, so this backend never
 *   reports EVL_ERR/EVL_HUP: a hang-up wakes every registered direction.
 * - A failed epoll_ctl makes libevent print a warning through its global
 *   log callback: regular files and directories (EPERM from epoll), bad
 *   and O_PATH fds and the base's own epoll fd are refused here first, and
 *   the module installs a silent log callback for what is left (/dev/null:
 *   epoll says EPERM only when asked). That callback is process-wide, as
 *   libevent allows only one; the module owns its libevent instance.
 * - event_base_new prints and exit()s (event_errx) when some of its fds
 *   cannot be opened: init first makes sure they can be had (-EMFILE).
 * - EINTR is absorbed inside event_base_loop: a signal does not end wait.
 * - More fds fire than the core's array holds: the rest are kept and put
 *   first in line at the next wait, reported only if they fire again then.
 * - wake() writes an eventfd that has its own persistent event.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <event2/event.h>

#include "evl/backend.h"
#include "wrap_common.h"

typedef struct libevent_reg {
  struct event *ev;
  uint32_t mask; /* EVL_READ|EVL_WRITE; 0 = not registered */
  wrap_slot slot;
} libevent_reg;

typedef struct libevent_state {
  struct event_base *base;
  struct event *timer;
  struct event *wake_ev;
  int wake_fd; /* valid when base is set and wake_fd >= 0 */
  libevent_reg *regs;
  int nregs;
  wrap_ready q;
  int epfd;   /* the base's epoll fd, or -1 when it could not be told */
  int reinit; /* a dead kernel registration may be left: rebuild first */
} libevent_state;

static void libevent_quiet(int severity, const char *msg) {
  (void)severity;
  (void)msg;
}

/* The base's epoll fd, a timerfd (precise timer), a socketpair for signals
 * and our eventfd, with one to spare. */
enum { LIBEVENT_INIT_FDS = 6 };

static void libevent_io_cb(evutil_socket_t fd, short what, void *arg) {
  libevent_state *s = arg;
  if (fd < 0 || fd >= s->nregs || !s->regs[fd].mask)
    return;
  uint32_t ev = 0;
  if (what & EV_READ)
    ev |= EVL_READ;
  if (what & EV_WRITE)
    ev |= EVL_WRITE;
  ev &= s->regs[fd].mask;
  if (ev)
    wrap_collect(&s->q, &s->regs[fd].slot, (int)fd, ev);
}

static void libevent_timer_cb(evutil_socket_t fd, short what, void *arg) {
  (void)fd;
  (void)what;
  (void)arg;
}

static void libevent_wake_cb(evutil_socket_t fd, short what, void *arg) {
  libevent_state *s = arg;
  uint64_t v;
  (void)what;
  /* Nonblocking eventfd: one read empties it. */
  if (read(fd, &v, sizeof(v)) < 0) {
    /* EAGAIN: already drained. */
  }
  s->q.woken = 1;
}

static struct event_base *libevent_base(int *rc) {
  event_set_log_callback(libevent_quiet);
  *rc = wrap_fd_headroom(LIBEVENT_INIT_FDS);
  if (*rc < 0)
    return NULL;
  *rc = -ENOTSUP;
  struct event_config *cfg = event_config_new();
  if (!cfg)
    return NULL;
  event_config_require_features(cfg, EV_FEATURE_O1);
  event_config_set_flag(cfg, EVENT_BASE_FLAG_PRECISE_TIMER);
  struct event_base *base = event_base_new_with_config(cfg);
  event_config_free(cfg);
  return base;
}

static int libevent_probe(char *why, size_t len) {
  int rc;
  struct event_base *base = libevent_base(&rc);
  if (!base && rc != -ENOTSUP) {
    snprintf(why, len, "libevent: no fds to spare for event_base_new");
    return rc;
  }
  if (!base) {
    snprintf(why, len,
             "libevent %s has no O(1) method here (epoll disabled by "
             "EVENT_NOEPOLL?)",
             event_get_version());
    return -ENOTSUP;
  }
  event_base_free(base);
  return 0;
}

static void libevent_fini(void *state);

static int libevent_init(void *state, const evl_backend_config *cfg) {
  libevent_state *s = state;
  (void)cfg;
  s->wake_fd = -1;
  /* libevent does not say which fd is its epoll: the base opens it first,
   * so it takes the lowest free number (confirmed, else not known). */
  s->epfd = wrap_lowest_free_fd();
  int rc;
  s->base = libevent_base(&rc);
  if (!s->base)
    return rc;
  if (s->epfd >= 0 && !wrap_fd_is_epoll(s->epfd))
    s->epfd = -1;
  s->timer = evtimer_new(s->base, libevent_timer_cb, s);
  s->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  rc = s->wake_fd < 0 ? -errno : 0;
  if (rc == 0) {
    s->wake_ev = event_new(s->base, s->wake_fd, EV_READ | EV_PERSIST,
                           libevent_wake_cb, s);
    if (!s->timer || !s->wake_ev || event_add(s->wake_ev, NULL) < 0)
      rc = -ENOMEM;
  }
  if (rc < 0)
    libevent_fini(s);
  return rc;
}

static void libevent_fini(void *state) {
  libevent_state *s = state;
  for (int fd = 0; fd < s->nregs; fd++)
    if (s->regs[fd].ev)
      event_free(s->regs[fd].ev);
  if (s->timer)
    event_free(s->timer);
  if (s->wake_ev)
    event_free(s->wake_ev);
  if (s->base && s->wake_fd >= 0)
    close(s->wake_fd);
  if (s->base)
    event_base_free(s->base);
  free(s->regs);
  wrap_ready_free(&s->q);
  memset(s, 0, sizeof(*s));
}

static void libevent_drop(libevent_reg *r) {
  if (r->ev)
    event_free(r->ev); /* event_free deletes it first */
  r->ev = NULL;
  r->mask = 0;
}

static int libevent_ctl(void *state, int fd, unsigned old_mask,
                        unsigned new_mask) {
  libevent_state *s = state;
  (void)old_mask;
  int rc = wrap_ctl_check(fd, new_mask, EVL_READ | EVL_WRITE | EVL_RDHUP);
  if (rc < 0)
    return rc;
  new_mask &= EVL_READ | EVL_WRITE;
  libevent_reg *r = fd < s->nregs ? &s->regs[fd] : NULL;
  if (!new_mask) {
    if (!r || !r->mask)
      return -ENOENT;
    /* Deleted after its number was closed: if a dup keeps the file open,
     * epoll still holds a registration no delete can name, and it would
     * report the next file on this number. The next wait rebuilds the
     * epoll set (K6), as the epoll backend does. */
    if (fcntl(fd, F_GETFD) < 0 && errno == EBADF)
      s->reinit = 1;
    libevent_drop(r);
    return 0;
  }
  if (!r || !r->mask) {
    struct stat st;
    if ((rc = wrap_fd_pollable(fd)) < 0)
      return rc;
    if (fstat(fd, &st) < 0)
      return -errno;
    if (S_ISREG(st.st_mode) || S_ISDIR(st.st_mode))
      return -EPERM; /* what epoll says, without libevent's warning */
    if (fd == s->epfd || (s->epfd < 0 && wrap_fd_is_epoll(fd)))
      return -EINVAL; /* what epoll says of itself */
    rc = wrap_reserve(&s->regs, &s->nregs, fd + 1, sizeof(*s->regs));
    if (rc < 0)
      return rc;
    r = &s->regs[fd];
  }
  /* The same mask again is not a no-op: the core asks so when the number
   * may name another file now, and event_del + event_add register it with
   * epoll afresh (libevent's epoll code turns ENOENT into ADD). */
  short what = EV_PERSIST;
  if (new_mask & EVL_READ)
    what |= EV_READ;
  if (new_mask & EVL_WRITE)
    what |= EV_WRITE;
  if (r->ev) {
    event_del(r->ev);
    rc = event_assign(r->ev, s->base, fd, what, libevent_io_cb, s);
  } else {
    r->ev = event_new(s->base, fd, what, libevent_io_cb, s);
    rc = r->ev ? 0 : -1;
  }
  errno = 0;
  if (rc == 0 && event_add(r->ev, NULL) == 0) {
    r->mask = new_mask;
    return 0;
  }
  rc = errno ? -errno : -ENOMEM;
  libevent_drop(r); /* a refused add or modify leaves nothing behind */
  return rc;
}

/* After fork the base's epoll set is shared with the parent: event_reinit
 * gives the child its own with every event added again (before anything
 * is deleted, which would silence the parent), then the wake eventfd,
 * shared too, is replaced. */
static int libevent_after_fork(void *state) {
  libevent_state *s = state;
  if (!s->base || event_reinit(s->base) < 0)
    return -ENOMEM;
  s->epfd = -1; /* a new number now: recognised as an epoll fd instead */
  int fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (fd < 0)
    return -errno;
  event_del(s->wake_ev);
  close(s->wake_fd);
  s->wake_fd = fd;
  if (event_assign(s->wake_ev, s->base, fd, EV_READ | EV_PERSIST,
                   libevent_wake_cb, s) < 0 ||
      event_add(s->wake_ev, NULL) < 0)
    return -ENOMEM;
  return 0;
}

static int libevent_forget_fd(void *state, int fd) {
  return wrap_forgotten(libevent_ctl(state, fd, 0, 0));
}

static int libevent_wake(void *state) {
  libevent_state *s = state;
  return wrap_eventfd_wake(s->wake_fd);
}

static wrap_slot *libevent_lookup(void *state, int fd) {
  libevent_state *s = state;
  return fd < s->nregs && s->regs[fd].mask ? &s->regs[fd].slot : NULL;
}

/* EINTR is absorbed inside event_base_loop: this never returns 1. */
static int libevent_run(void *state, int nonblock, int64_t left_ns) {
  libevent_state *s = state;
  int rc;
  if (s->reinit) {
    /* event_reinit makes a fresh epoll set holding exactly the events
     * added now; the new epoll fd takes the lowest free number. */
    int epfd = wrap_lowest_free_fd();
    if (event_reinit(s->base) < 0)
      return -ENOMEM;
    s->reinit = 0;
    s->epfd = epfd >= 0 && wrap_fd_is_epoll(epfd) ? epfd : -1;
  }
  if (nonblock) {
    rc = event_base_loop(s->base, EVLOOP_ONCE | EVLOOP_NONBLOCK);
  } else if (left_ns >= 0) {
    int64_t us = (left_ns + 999) / 1000;
    struct timeval tv = {.tv_sec = us / 1000000, .tv_usec = us % 1000000};
    evtimer_add(s->timer, &tv);
    rc = event_base_loop(s->base, EVLOOP_ONCE | EVLOOP_NO_EXIT_ON_EMPTY);
    evtimer_del(s->timer);
  } else {
    rc = event_base_loop(s->base, EVLOOP_ONCE | EVLOOP_NO_EXIT_ON_EMPTY);
  }
  if (rc < 0)
    return errno ? -errno : -EIO;
  return 0;
}

static int libevent_wait(void *state, int64_t timeout_ns, evl_event *out,
                         int cap) {
  libevent_state *s = state;
  return wrap_wait(&s->q, s, libevent_lookup, libevent_run, timeout_ns, out,
                   cap);
}

static const evl_backend_ops libevent_ops = {
    .abi = EVL_BACKEND_ABI,
    .size = sizeof(evl_backend_ops),
    .name = "libevent",
    .description = "libevent 2.1 event_base (epoll, precise timer) as a "
                   "selector: one EV_PERSIST event per fd",
    .features = EVL_BF_O1 | EVL_BF_FDS | EVL_BF_WRAPPER | EVL_BF_FORK_REINIT,
    .fd_limit = 0,
    .resolution_ns = 1000,
    .state_size = sizeof(libevent_state),
    .priority = 0,
    .probe = libevent_probe,
    .init = libevent_init,
    .fini = libevent_fini,
    .ctl = libevent_ctl,
    .wait = libevent_wait,
    .forget_fd = libevent_forget_fd,
    .after_fork = libevent_after_fork,
    .wake = libevent_wake,
};

const evl_backend_ops *evl_backend_plugin(void) {
  return &libevent_ops;
}
