/* libuv.c — selector backend wrapping libuv (uv_poll_t on a private loop). */
/*
 * One uv_poll_t per fd on a private uv_loop_t: wait runs
 * uv_run(UV_RUN_ONCE) with a uv_timer_t for the timeout (UV_RUN_NOWAIT for
 * 0) and the poll callbacks copy what fired into a per-wait list that is
 * merged per fd, then handed to the core.
 *
 * What libuv does underneath, and what this file does about it:
 * - uv_poll_init puts the fd in O_NONBLOCK mode and leaves it so; it also
 *   test-adds the fd to its epoll set and refuses what epoll refuses
 *   (regular files: -EPERM), which ctl returns with nothing registered.
 * - uv_close is asynchronous: a deleted registration leaves the table at
 *   once (its poll is stopped synchronously, so it never fires again) and
 *   its memory is freed by the close callback during a later uv_run; fini
 *   runs the loop until every handle is closed and uv_loop_close succeeds.
 * - On EPOLLERR libuv stops the poll and calls back with UV_EBADF: that is
 *   reported as EVL_ERR with the registered bits and the poll is restarted,
 *   so the error stays level-triggered. EPOLLHUP alone is folded into the
 *   registered READ/WRITE bits (libuv's epoll quirk workaround), and
 *   EPOLLRDHUP comes as UV_DISCONNECT, reported as EVL_RDHUP.
 * - Timers and loop time are in milliseconds, and uv_now() is truncated to
 *   a millisecond, so a timer can fire up to 1 ms before the real deadline:
 *   resolution_ns is 1 ms and wait keeps waiting until the real deadline.
 * - EINTR is absorbed inside uv_run: a signal does not end wait.
 * - More fds fire than the core's array holds: the rest are kept and put
 *   first in line at the next wait, reported only if they fire again then.
 * - wake() is uv_async_send; the async handle also keeps the loop alive so
 *   that UV_RUN_ONCE blocks when no fd is registered.
 * - libuv keeps a process-wide signal lock pipe it creates once
 *   (uv__signal_global_once_init) and closes only at unload.
 * - libuv aborts inside uv_run when an epoll_ctl or epoll_wait fails (a
 *   polled fd closed before the next wait, its epoll fd closed or replaced)
 *   and when its constructors cannot open their fds. So init first makes
 *   sure the fds can be had (-EMFILE otherwise), every fd started since the
 *   last run is looked at before uv_run (wrap_pending: one closed in
 *   between is stopped and reported once as EVL_ERR), and the epoll fd is
 *   checked before every run (one fstat): gone or replaced, wait returns
 *   -EBADF without running libuv.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <uv.h>

#include "evl/backend.h"
#include "wrap_common.h"

typedef struct libuv_reg {
  uv_poll_t poll; /* first: the handle pointer is the registration */
  struct libuv_state *s;
  uint32_t mask;
  wrap_slot slot;
  int fd;
  int pending;  /* on the pending list: started since the last uv_run */
  int dead;     /* stopped because its fd went bad before uv_run */
  wrap_fdid id; /* the file the fd named when the poll was made */
} libuv_reg;

typedef struct libuv_loop {
  uv_loop_t loop;
  uv_timer_t timer;
  uv_async_t async;
} libuv_loop;

typedef struct libuv_state {
  libuv_loop *l; /* handles must not move: kept off the core's block */
  int loop_ok, timer_ok, async_ok;
  libuv_reg **regs;
  int nregs;
  wrap_ready q;
  wrap_pending pend;
  wrap_fdid epfd; /* libuv's epoll fd as it was at init */
} libuv_state;

static int libuv_events(uint32_t mask) {
  int what = 0;
  if (mask & EVL_READ)
    what |= UV_READABLE | UV_DISCONNECT;
  if (mask & EVL_WRITE)
    what |= UV_WRITABLE;
  return what;
}

static void libuv_poll_cb(uv_poll_t *h, int status, int events) {
  libuv_reg *r = (libuv_reg *)h;
  libuv_state *s = r->s;
  uint32_t ev = 0;
  if (status < 0) {
    /* libuv stopped the poll: restart it so the error is reported on every
     * wait, like any other level. */
    ev = EVL_ERR | r->mask;
    if (!r->pending && wrap_pending_add(&s->pend, r->fd) == 0)
      r->pending = 1;
    if (r->pending)
      (void)uv_poll_start(h, libuv_events(r->mask), libuv_poll_cb);
  } else {
    if (events & UV_READABLE)
      ev |= EVL_READ;
    if (events & UV_WRITABLE)
      ev |= EVL_WRITE;
    ev &= r->mask;
    if (events & UV_DISCONNECT) {
      ev |= EVL_RDHUP;
      /* libuv folds EPOLLHUP into the registered bits only when it comes
       * alone; with EOF readable it is dropped and a writer blocked on a
       * full buffer would never hear of the hang-up. Ask the kernel. */
      struct pollfd pfd = {.fd = r->fd, .events = 0, .revents = 0};
      if (poll(&pfd, 1, 0) == 1 && (pfd.revents & (POLLHUP | POLLERR)))
        ev |= EVL_HUP | r->mask;
    }
  }
  if (ev)
    wrap_collect(&s->q, &r->slot, r->fd, ev);
}

static void libuv_free_cb(uv_handle_t *h) {
  free(h);
}

static void libuv_noop_cb(uv_timer_t *t) {
  (void)t;
}

static void libuv_async_cb(uv_async_t *a) {
  libuv_state *s = a->data;
  s->q.woken = 1;
}

/* uv_loop_init opens an epoll fd and its signal pipe (and, the first time
 * in a process, a global lock pipe); uv_async_init an eventfd. */
enum { LIBUV_INIT_FDS = 6 };

static int libuv_probe(char *why, size_t len) {
  uv_loop_t loop;
  int room = wrap_fd_headroom(LIBUV_INIT_FDS);
  if (room < 0) {
    snprintf(why, len, "libuv: no fds to spare for uv_loop_init");
    return room;
  }
  int rc = uv_loop_init(&loop);
  if (rc < 0) {
    snprintf(why, len, "libuv %s: uv_loop_init: %s", uv_version_string(),
             uv_strerror(rc));
    return rc;
  }
  WRAP_UV_TSAN_CLOSING(&loop);
  uv_loop_close(&loop);
  return 0;
}

static void libuv_fini(void *state);

static int libuv_init(void *state, const evl_backend_config *cfg) {
  libuv_state *s = state;
  (void)cfg;
  int rc = wrap_fd_headroom(LIBUV_INIT_FDS);
  if (rc < 0)
    return rc;
  s->l = calloc(1, sizeof(*s->l));
  if (!s->l)
    return -ENOMEM;
  rc = uv_loop_init(&s->l->loop);
  if (rc == 0)
    rc = wrap_fdid_take(&s->epfd, uv_backend_fd(&s->l->loop));
  if (rc == 0) {
    s->loop_ok = 1;
    rc = uv_timer_init(&s->l->loop, &s->l->timer);
  }
  if (rc == 0) {
    s->timer_ok = 1;
    rc = uv_async_init(&s->l->loop, &s->l->async, libuv_async_cb);
  }
  if (rc == 0) {
    s->async_ok = 1;
    s->l->async.data = s;
    return 0;
  }
  libuv_fini(s);
  return rc;
}

static void libuv_fini(void *state) {
  libuv_state *s = state;
  if (s->loop_ok) {
    uv_loop_t *loop = &s->l->loop;
    for (int fd = 0; fd < s->nregs; fd++)
      if (s->regs[fd])
        uv_close((uv_handle_t *)&s->regs[fd]->poll, libuv_free_cb);
    if (s->timer_ok)
      uv_close((uv_handle_t *)&s->l->timer, NULL);
    if (s->async_ok)
      uv_close((uv_handle_t *)&s->l->async, NULL);
    /* Close callbacks run inside uv_run; the loop is then no longer alive
     * and uv_loop_close can release its fds. With its epoll fd gone uv_run
     * would abort: the handles are then dropped with the memory. */
    WRAP_UV_TSAN_CLOSING(loop);
    for (int i = 0; i < 16 && uv_loop_close(loop) == UV_EBUSY; i++) {
      if (wrap_fdid_same(&s->epfd) < 0 && wrap_epoll_revive(&s->epfd) < 0)
        break;
      uv_run(loop, UV_RUN_NOWAIT);
    }
  }
  free(s->l);
  free(s->regs);
  wrap_ready_free(&s->q);
  wrap_pending_free(&s->pend);
  memset(s, 0, sizeof(*s));
}

static int libuv_ctl(void *state, int fd, unsigned old_mask,
                     unsigned new_mask) {
  libuv_state *s = state;
  (void)old_mask;
  int rc = wrap_ctl_check(fd, new_mask, EVL_READ | EVL_WRITE | EVL_RDHUP);
  if (rc < 0)
    return rc;
  new_mask &= EVL_READ | EVL_WRITE;
  libuv_reg *r = fd < s->nregs ? s->regs[fd] : NULL;
  if (!new_mask) {
    if (!r)
      return -ENOENT;
    /* Stops the poll now (no later callback); frees in the close cb. */
    uv_close((uv_handle_t *)&r->poll, libuv_free_cb);
    s->regs[fd] = NULL;
    return 0;
  }
  if (!r) {
    /* uv_poll_init's own check would report a closed fd as -EEXIST or
     * -EPERM depending on the path; the contract says -EBADF. */
    if ((rc = wrap_fd_pollable(fd)) < 0)
      return rc;
    rc = wrap_reserve(&s->regs, &s->nregs, fd + 1, sizeof(*s->regs));
    if (rc < 0)
      return rc;
    r = calloc(1, sizeof(*r));
    if (!r)
      return -ENOMEM;
    rc = wrap_fdid_take(&r->id, fd);
    if (rc == 0)
      rc = uv_poll_init(&s->l->loop, &r->poll, fd);
    if (rc < 0) {
      free(r); /* not initialised: nothing in the loop refers to it */
      return rc;
    }
    r->s = s;
    r->fd = fd;
    s->regs[fd] = r;
  }
  /* The same mask again is not a no-op: the core asks so when the number
   * may name another file now; the pending check before uv_run compares
   * the file and gives a new one a new poll. */
  if (!r->pending) {
    if (wrap_pending_add(&s->pend, fd) < 0) {
      if (!r->mask) { /* just made: close it, nothing else refers to it */
        uv_close((uv_handle_t *)&r->poll, libuv_free_cb);
        s->regs[fd] = NULL;
      }
      return -ENOMEM;
    }
    r->pending = 1;
  }
  r->dead = 0;
  rc = uv_poll_start(&r->poll, libuv_events(new_mask), libuv_poll_cb);
  if (rc < 0) {
    uv_close((uv_handle_t *)&r->poll, libuv_free_cb);
    s->regs[fd] = NULL;
    return rc;
  }
  r->mask = new_mask;
  return 0;
}

/* After fork libuv's epoll set, signal pipe and async eventfd are shared
 * with the parent: uv_loop_fork makes new ones and re-adds every watcher
 * at the next uv_run, so every registration goes on the pending list to be
 * looked at first (an fd closed since would make uv_run abort). */
static int libuv_after_fork(void *state) {
  libuv_state *s = state;
  if (!s->loop_ok)
    return -EINVAL;
  int rc = uv_loop_fork(&s->l->loop);
  if (rc == 0)
    rc = wrap_fdid_take(&s->epfd, uv_backend_fd(&s->l->loop));
  for (int fd = 0; rc == 0 && fd < s->nregs; fd++) {
    libuv_reg *r = s->regs[fd];
    if (r && !r->pending && (rc = wrap_pending_add(&s->pend, fd)) == 0)
      r->pending = 1;
  }
  return rc;
}

static int libuv_forget_fd(void *state, int fd) {
  return wrap_forgotten(libuv_ctl(state, fd, 0, 0));
}

static int libuv_wake(void *state) {
  libuv_state *s = state;
  return uv_async_send(&s->l->async);
}

static wrap_slot *libuv_lookup(void *state, int fd) {
  libuv_state *s = state;
  return fd < s->nregs && s->regs[fd] ? &s->regs[fd]->slot : NULL;
}

/* The fd number now names another file: a fresh uv_poll_t for it. */
static int libuv_renew(libuv_state *s, libuv_reg *r) {
  libuv_reg *n = calloc(1, sizeof(*n));
  if (!n)
    return -ENOMEM;
  int rc = wrap_fdid_take(&n->id, r->fd);
  uv_poll_stop(&r->poll);
  if (rc == 0)
    rc = uv_poll_init(&s->l->loop, &n->poll, r->fd);
  if (rc < 0) {
    free(n);
    return rc;
  }
  n->s = s;
  n->fd = r->fd;
  n->mask = r->mask;
  n->slot = r->slot;
  rc = uv_poll_start(&n->poll, libuv_events(n->mask), libuv_poll_cb);
  if (rc < 0) {
    uv_close((uv_handle_t *)&n->poll, libuv_free_cb);
    return rc;
  }
  s->regs[r->fd] = n;
  uv_close((uv_handle_t *)&r->poll, libuv_free_cb);
  return 0;
}

/* What uv_run would abort on, found first (see the top of the file). */
static int libuv_check_pending(libuv_state *s) {
  if (wrap_fdid_same(&s->epfd) < 0)
    return -EBADF;
  for (int i = 0; i < s->pend.n; i++) {
    int fd = s->pend.fds[i];
    libuv_reg *r = fd < s->nregs ? s->regs[fd] : NULL;
    if (!r || !r->pending)
      continue;
    r->pending = 0;
    if (wrap_fd_pollable(fd) == 0 && wrap_fdid_same(&r->id) == 0)
      continue;
    /* Closed, or closed and the number reused: libuv would epoll_ctl a
     * file it never added (ENOENT) and abort. A new file gets a new poll,
     * registered from scratch; a bad fd is stopped and reported. */
    if (wrap_fd_pollable(fd) == 0 && libuv_renew(s, r) == 0)
      continue;
    uv_poll_stop(&r->poll);
    r->dead = 1;
    wrap_collect(&s->q, &r->slot, fd, EVL_ERR | r->mask);
  }
  s->pend.n = 0;
  return 0;
}

/* EINTR is absorbed inside uv_run: this never returns 1. */
static int libuv_run(void *state, int nonblock, int64_t left_ns) {
  libuv_state *s = state;
  uv_loop_t *loop = &s->l->loop;
  int rc = libuv_check_pending(s);
  if (rc < 0)
    return rc;
  if (!nonblock && left_ns >= 0) {
    /* Rounded up: uv_now() is truncated to a millisecond. The timer
     * repeats because uv_run fires due timers *before* it polls: a one-shot
     * timer that fell due in between (a preemption of a millisecond under
     * load) would leave the poll with no timeout at all, and a stale fd or
     * plain silence would block it for good. */
    uint64_t ms = (uint64_t)(left_ns + 999999) / 1000000;
    uv_update_time(loop);
    uv_timer_start(&s->l->timer, libuv_noop_cb, ms, ms ? ms : 1);
  }
  uv_run(loop, nonblock ? UV_RUN_NOWAIT : UV_RUN_ONCE);
  uv_timer_stop(&s->l->timer);
  return 0;
}

static int libuv_wait(void *state, int64_t timeout_ns, evl_event *out,
                      int cap) {
  libuv_state *s = state;
  return wrap_wait(&s->q, s, libuv_lookup, libuv_run, timeout_ns, out, cap);
}

static const evl_backend_ops libuv_ops = {
    .abi = EVL_BACKEND_ABI,
    .size = sizeof(evl_backend_ops),
    .name = "libuv",
    .description = "libuv private uv_loop_t as a selector: one uv_poll_t per "
                   "fd (sets O_NONBLOCK on it)",
    .features = EVL_BF_O1 | EVL_BF_FDS | EVL_BF_RDHUP | EVL_BF_WRAPPER |
                EVL_BF_FORK_REINIT,
    .fd_limit = 0,
    .resolution_ns = 1000000,
    .state_size = sizeof(libuv_state),
    .priority = 0,
    .probe = libuv_probe,
    .init = libuv_init,
    .fini = libuv_fini,
    .ctl = libuv_ctl,
    .wait = libuv_wait,
    .forget_fd = libuv_forget_fd,
    .after_fork = libuv_after_fork,
    .wake = libuv_wake,
};

const evl_backend_ops *evl_backend_plugin(void) {
  return &libuv_ops;
}
