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
 *   log callback; regular files and directories (EPERM from epoll) and bad
 *   fds are refused here first so the common refusals stay silent.
 * - EINTR is absorbed inside event_base_loop: a signal does not end wait.
 * - More fds fire than the core's array holds: the rest are kept and put
 *   first in line at the next wait, reported only if they fire again then.
 * - wake() writes an eventfd that has its own persistent event.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "evl/backend.h"

/* The longest single library wait; longer timeouts loop. */
#define LIBEVENT_MAX_ROUND_NS ((int64_t)86400 * 1000000000)

typedef struct libevent_reg {
  struct event *ev;
  uint32_t mask; /* EVL_READ|EVL_WRITE; 0 = not registered */
  uint32_t stamp;
  int idx; /* in ready[] during wait number stamp */
} libevent_reg;

typedef struct libevent_state {
  struct event_base *base;
  struct event *timer;
  struct event *wake_ev;
  int wake_fd; /* valid when base is set and wake_fd >= 0 */
  libevent_reg *regs;
  int nregs;
  evl_event *ready; /* this wait's fired fds; carried-over ones first */
  int nready, ready_cap;
  evl_event *carry; /* fired but did not fit in the core's array */
  int ncarry, carry_cap;
  uint32_t stamp;
  int woken;
  int nomem;
} libevent_state;

static int libevent_reserve(evl_event **a, int *cap, int need) {
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

/* One entry per fd and wait: a second firing only adds bits. */
static void libevent_collect(libevent_state *s, int fd, uint32_t ev) {
  libevent_reg *r = &s->regs[fd];
  if (r->stamp == s->stamp) {
    s->ready[r->idx].events |= ev;
    return;
  }
  if (libevent_reserve(&s->ready, &s->ready_cap, s->nready + 1) < 0) {
    s->nomem = 1; /* level-triggered: it fires again next time */
    return;
  }
  r->stamp = s->stamp;
  r->idx = s->nready;
  s->ready[s->nready].fd = fd;
  s->ready[s->nready].events = ev;
  s->nready++;
}

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
    libevent_collect(s, (int)fd, ev);
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
  s->woken = 1;
}

static struct event_base *libevent_base(void) {
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
  struct event_base *base = libevent_base();
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
  s->base = libevent_base();
  if (!s->base)
    return -ENOTSUP;
  s->timer = evtimer_new(s->base, libevent_timer_cb, s);
  s->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  int rc = s->wake_fd < 0 ? -errno : 0;
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
  free(s->ready);
  free(s->carry);
  memset(s, 0, sizeof(*s));
}

static int libevent_grow(libevent_state *s, int fd) {
  if (fd < s->nregs)
    return 0;
  int n = s->nregs ? s->nregs : 64;
  while (n <= fd)
    n = n > INT_MAX / 2 ? INT_MAX : n * 2;
  libevent_reg *r = realloc(s->regs, (size_t)n * sizeof(*r));
  if (!r)
    return -ENOMEM;
  memset(r + s->nregs, 0, (size_t)(n - s->nregs) * sizeof(*r));
  s->regs = r;
  s->nregs = n;
  return 0;
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
  if (fd < 0)
    return -EBADF;
  if (new_mask & ~(unsigned)(EVL_READ | EVL_WRITE | EVL_RDHUP))
    return -EINVAL;
  new_mask &= EVL_READ | EVL_WRITE;
  libevent_reg *r = fd < s->nregs ? &s->regs[fd] : NULL;
  if (!new_mask) {
    if (!r || !r->mask)
      return -ENOENT;
    libevent_drop(r);
    return 0;
  }
  if (!r || !r->mask) {
    struct stat st;
    if (fstat(fd, &st) < 0)
      return -errno;
    if (S_ISREG(st.st_mode) || S_ISDIR(st.st_mode))
      return -EPERM; /* what epoll says, without libevent's warning */
    int rc = libevent_grow(s, fd);
    if (rc < 0)
      return rc;
    r = &s->regs[fd];
  } else if (r->mask == new_mask) {
    return 0;
  }
  short what = EV_PERSIST;
  if (new_mask & EVL_READ)
    what |= EV_READ;
  if (new_mask & EVL_WRITE)
    what |= EV_WRITE;
  int rc;
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

static int libevent_forget_fd(void *state, int fd) {
  int rc = libevent_ctl(state, fd, 0, 0);
  return rc == -ENOENT ? 0 : rc;
}

static int libevent_wake(void *state) {
  libevent_state *s = state;
  uint64_t one = 1;
  if (write(s->wake_fd, &one, sizeof(one)) < 0 && errno != EAGAIN)
    return -errno;
  return 0;
}

static int64_t libevent_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Absolute end of a wait; saturates instead of overflowing for huge
 * timeouts (INT64_MAX means "practically never"). */
static int64_t libevent_deadline(int64_t timeout_ns) {
  if (timeout_ns <= 0)
    return 0;
  int64_t now = libevent_now();
  return timeout_ns > INT64_MAX - now ? INT64_MAX : now + timeout_ns;
}

static int libevent_wait(void *state, int64_t timeout_ns, evl_event *out,
                         int cap) {
  libevent_state *s = state;
  if (cap < 0 || (cap > 0 && !out))
    return -EINVAL;
  s->stamp++;
  s->nready = 0;
  s->woken = 0;
  s->nomem = 0;
  /* Carried fds keep their place in line but must fire again to count. */
  for (int i = 0; i < s->ncarry; i++) {
    int fd = s->carry[i].fd;
    if (fd < s->nregs && s->regs[fd].mask) {
      libevent_collect(s, fd, 0);
      if (s->nomem)
        return -ENOMEM;
    }
  }
  s->ncarry = 0;
  int nonblock = timeout_ns == 0 || s->nready > 0;
  int64_t deadline = libevent_deadline(timeout_ns);
  int fired = 0;
  for (;;) {
    int rc;
    if (nonblock) {
      rc = event_base_loop(s->base, EVLOOP_ONCE | EVLOOP_NONBLOCK);
    } else if (timeout_ns > 0) {
      int64_t left = deadline - libevent_now();
      if (left > LIBEVENT_MAX_ROUND_NS)
        left = LIBEVENT_MAX_ROUND_NS; /* huge timeouts: wait in rounds */
      if (left < 0)
        left = 0;
      int64_t us = (left + 999) / 1000;
      struct timeval tv = {.tv_sec = us / 1000000, .tv_usec = us % 1000000};
      evtimer_add(s->timer, &tv);
      rc = event_base_loop(s->base, EVLOOP_ONCE | EVLOOP_NO_EXIT_ON_EMPTY);
      evtimer_del(s->timer);
    } else {
      rc = event_base_loop(s->base, EVLOOP_ONCE | EVLOOP_NO_EXIT_ON_EMPTY);
    }
    if (rc < 0)
      return errno ? -errno : -EIO;
    for (int i = 0; i < s->nready && !fired; i++)
      fired = s->ready[i].events != 0;
    if (fired || s->woken || timeout_ns == 0 || s->nomem)
      break;
    if (nonblock) {
      nonblock = 0; /* the carried fds went quiet: wait for real */
      continue;
    }
    /* The timer fired: libevent's clock may still be a hair behind ours. */
    if (timeout_ns > 0 && libevent_now() >= deadline)
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
    if (libevent_reserve(&s->carry, &s->carry_cap, k) < 0)
      return n; /* dropped ones are level-triggered: they come back */
    memcpy(s->carry, s->ready, (size_t)k * sizeof(*s->carry));
    s->ncarry = k;
  }
  return n;
}

static const evl_backend_ops libevent_ops = {
    .abi = EVL_BACKEND_ABI,
    .size = sizeof(evl_backend_ops),
    .name = "libevent",
    .description = "libevent 2.1 event_base (epoll, precise timer) as a "
                   "selector: one EV_PERSIST event per fd",
    .features = EVL_BF_O1 | EVL_BF_FDS | EVL_BF_WRAPPER,
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
    .after_fork = NULL,
    .wake = libevent_wake,
};

const evl_backend_ops *evl_backend_plugin(void) {
  return &libevent_ops;
}
