/* task_wait.c — awaits built from the scheduler's primitives: fd readiness
 * and the socket helpers, gather and the executor. */
#include <errno.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include "task_int.h"

/* ---- fd readiness ------------------------------------------------------ */

static void task_fd_event(evl_tasks *ts, int fd, int dir) {
  task_fdw *w = &ts->fdw[fd];
  evl_task *t = w->waiter[dir];
  if (!t) {
    /* Nobody waits any more: now is the time to stop watching. */
    if (dir == 0)
      ts->ops->remove_reader(ts->loop, fd);
    else
      ts->ops->remove_writer(ts->loop, fd);
    w->registered[dir] = 0;
    return;
  }
  w->waiter[dir] = NULL;
  t->fd = -1;
  evl__task_resume(t, 0);
}

static void task_fd_read_cb(int fd, unsigned events, void *arg) {
  (void)events;
  task_fd_event(arg, fd, 0);
}

static void task_fd_write_cb(int fd, unsigned events, void *arg) {
  (void)events;
  task_fd_event(arg, fd, 1);
}

void evl__task_fd_forget(evl_task *t) {
  evl_tasks *ts = t->ts;
  if (t->fd >= 0 && t->fd < ts->nfdw && ts->fdw[t->fd].waiter[t->dir] == t)
    ts->fdw[t->fd].waiter[t->dir] = NULL;
  t->fd = -1;
}

static int task_fd_grow(evl_tasks *ts, int fd) {
  if (fd < ts->nfdw)
    return 0;
  int n = ts->nfdw ? ts->nfdw : 64;
  while (n <= fd)
    n *= 2;
  task_fdw *p = realloc(ts->fdw, (size_t)n * sizeof *p);
  if (!p)
    return -ENOMEM;
  for (int i = ts->nfdw; i < n; i++)
    p[i] = (task_fdw){{NULL, NULL}, {0, 0}};
  ts->fdw = p;
  ts->nfdw = n;
  return 0;
}

/* The first wait on an fd in a direction: a reader or writer that then
 * stays (task_fd_event). Out of line: it happens once per fd. */
static int task_fd_watch(evl_tasks *ts, task_fdw *w, int fd, int dir) {
  int rc = dir == 0 ? ts->ops->add_reader(ts->loop, fd, task_fd_read_cb, ts)
                    : ts->ops->add_writer(ts->loop, fd, task_fd_write_cb, ts);
  if (rc == 0)
    w->registered[dir] = 1;
  return rc;
}

/* Suspends t, the running task, until fd (>= 0) is readable (dir 0) or
 * writable. Inline into the socket helpers: per request the wait is then
 * a few stores and the switch. */
static inline int task_wait_fd_as(evl_task *t, int fd, int dir) {
  int rc = evl__task_cancel_pending(t);
  if (rc < 0)
    return rc;
  evl_tasks *ts = t->ts;
  if (fd >= ts->nfdw && (rc = task_fd_grow(ts, fd)) < 0)
    return rc;
  task_fdw *w = &ts->fdw[fd];
  if (w->waiter[dir])
    return -EBUSY; /* asyncio: another coroutine is already waiting */
  if (!w->registered[dir] && (rc = task_fd_watch(ts, w, fd, dir)) < 0)
    return rc;
  w->waiter[dir] = t;
  t->fd = fd;
  t->dir = dir;
  t->wait = WAIT_FD;
  return evl__task_suspend(t);
}

/* The same from outside a task: -EPERM. */
static int task_wait_fd(evl_task *t, int fd, int dir) {
  if (!t)
    return -EPERM;
  if (fd < 0)
    return -EBADF;
  return task_wait_fd_as(t, fd, dir);
}

int evl_sock_close(int fd) {
  evl_task *t = evl__task_self();
  if (t && t->drained_fd == fd)
    t->drained_fd = -1;
  if (t && fd >= 0 && fd < t->ts->nfdw) {
    evl_tasks *ts = t->ts;
    task_fdw *w = &ts->fdw[fd];
    if (w->registered[0])
      ts->ops->remove_reader(ts->loop, fd);
    if (w->registered[1])
      ts->ops->remove_writer(ts->loop, fd);
    w->registered[0] = w->registered[1] = 0;
  }
  return close(fd) == 0 ? 0 : -errno;
}

/* A recv that came back short emptied the socket: the next one would most
 * likely fail with EAGAIN, a wasted system call per request in a
 * request/response loop. So it waits for readiness first; readiness is
 * level-triggered, so data that is already there is not missed, it only
 * costs an iteration. The mark is the task's (one compare per recv, no
 * table lookup): another task reading the fd meanwhile makes it stale,
 * which costs that one iteration too, nothing else. */
/* What follows a recv that did not return data: an error, EOF, or EAGAIN
 * to wait for and retry. errno is still the failed recv's. Out of line, so
 * that recv's request path keeps only what it needs across its calls. */
__attribute__((noinline)) static ssize_t
task_recv_rest(evl_task *t, int fd, void *buf, size_t len, ssize_t n) {
  for (;;) {
    if (n >= 0) {
      if (t)
        t->drained_fd = n > 0 && (size_t)n < len ? fd : -1;
      return n;
    }
    if (errno != EINTR) {
      if (errno != EAGAIN && errno != EWOULDBLOCK)
        return -errno;
      int rc = task_wait_fd(t, fd, 0);
      if (rc < 0)
        return rc;
    }
    n = recv(fd, buf, len, 0);
  }
}

ssize_t evl_sock_recv(int fd, void *buf, size_t len) {
  evl_task *t = evl__task_self();
  if (t && t->drained_fd == fd && fd >= 0 && len > 0) {
    t->drained_fd = -1;
    int rc = task_wait_fd_as(t, fd, 0);
    if (rc < 0)
      return rc;
  }
  ssize_t n = recv(fd, buf, len, 0);
  if (n > 0 && t) {
    t->drained_fd = (size_t)n < len ? fd : -1;
    return n;
  }
  return task_recv_rest(t, fd, buf, len, n);
}

/* send, and on EAGAIN a wait for writability: the syscall first, a
 * request's reply into an emptied socket never waits. */
static inline ssize_t task_send(evl_task *t, int fd, const void *buf,
                                size_t len) {
  for (;;) {
    ssize_t n = send(fd, buf, len, MSG_NOSIGNAL);
    if (n >= 0)
      return n;
    if (errno == EINTR)
      continue;
    if (errno != EAGAIN && errno != EWOULDBLOCK)
      return -errno;
    int rc = task_wait_fd(t, fd, 1);
    if (rc < 0)
      return rc;
  }
}

ssize_t evl_sock_send(int fd, const void *buf, size_t len) {
  return task_send(evl__task_self(), fd, buf, len);
}

/* The rest of a sendall whose first send did not take everything: n is
 * what it returned, errno still its error. One that found the socket full
 * waits for room before its next send rather than meet EAGAIN again. Out
 * of line, so that sendall's own frame keeps only fd, buf and len. */
__attribute__((noinline)) static int task_sendall_rest(int fd, const char *p,
                                                       size_t len, ssize_t n) {
  evl_task *t = evl__task_self();
  if (n < 0) {
    if (errno != EINTR && errno != EAGAIN && errno != EWOULDBLOCK)
      return -errno;
    if (errno != EINTR) {
      int rc = task_wait_fd(t, fd, 1);
      if (rc < 0)
        return rc;
    }
    n = 0;
  }
  p += n;
  len -= (size_t)n;
  while (len > 0) {
    n = task_send(t, fd, p, len);
    if (n < 0)
      return (int)n;
    p += n;
    len -= (size_t)n;
  }
  return 0;
}

int evl_sock_sendall(int fd, const void *buf, size_t len) {
  if (len == 0)
    return 0;
  /* A reply into a socket with room goes whole in one send: nothing but
   * that call on the way (the loop keeps its state in registers). */
  ssize_t n = send(fd, buf, len, MSG_NOSIGNAL);
  if ((size_t)n == len)
    return 0;
  return task_sendall_rest(fd, buf, len, n);
}

int evl_sock_accept(int fd, struct sockaddr *addr, socklen_t *addrlen) {
  for (;;) {
    int c = accept4(fd, addr, addrlen, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (c >= 0) {
      /* A new socket: whatever the table says of an fd that had this
       * number (closed without evl_sock_close) is stale. */
      evl_task *t = evl__task_self();
      task_fdw *w = t && c < t->ts->nfdw ? &t->ts->fdw[c] : NULL;
      if (w)
        *w = (task_fdw){{NULL, NULL}, {0, 0}};
      return c;
    }
    if (errno == EINTR || errno == ECONNABORTED)
      continue;
    if (errno != EAGAIN && errno != EWOULDBLOCK)
      return -errno;
    int rc = task_wait_fd(evl__task_self(), fd, 0);
    if (rc < 0)
      return rc;
  }
}

int evl_sock_connect(int fd, const struct sockaddr *addr, socklen_t addrlen) {
  if (connect(fd, addr, addrlen) == 0)
    return 0;
  if (errno != EINPROGRESS && errno != EINTR)
    return -errno;
  int rc = task_wait_fd(evl__task_self(), fd, 1);
  if (rc < 0)
    return rc;
  int err = 0;
  socklen_t elen = sizeof err;
  if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &elen) != 0)
    return -errno;
  return -err;
}

/* ---- gather ------------------------------------------------------------ */

static int task_check_children(evl_task *self, evl_task *const *tasks, int n) {
  for (int i = 0; i < n; i++) {
    if (!tasks[i])
      return -EINVAL;
    if (tasks[i]->ts != self->ts)
      return EVL_EFOREIGN;
    if (tasks[i] == self)
      return -EDEADLK;
  }
  return 0;
}

/* Awaits o's end even through cancels of the awaiting task (the caller
 * has already passed the cancel on). Returns 1 if a cancel came. */
static int task_await_end(evl_task *o, evl_task *const *all, int n) {
  evl_task *self = evl__task_self();
  int cancelled = 0;
  const evl_impl_ops *ops = o->ts->ops;
  while (ops->future_state(o->fut) == EVL_FUTURE_PENDING) {
    self->interrupted = 0;
    int rc = evl_await(o->fut, NULL);
    if (self->interrupted) {
      /* Our own cancel, whatever o did meanwhile: pass it on. */
      cancelled = 1;
      for (int i = 0; i < n; i++)
        evl_task_cancel(all[i]);
    } else if (rc < 0 && ops->future_state(o->fut) == EVL_FUTURE_PENDING) {
      return -1; /* could not wait at all (-ENOMEM) */
    }
  }
  return cancelled;
}

int evl_gather(evl_task *const *tasks, int n, int *status) {
  evl_task *self = evl__task_self();
  if (!self)
    return -EPERM;
  if (n < 0 || (n > 0 && !tasks))
    return -EINVAL;
  int rc = task_check_children(self, tasks, n);
  if (rc < 0)
    return rc;
  for (int i = 0; i < n; i++) {
    tasks[i]->retrieved = 1;
    tasks[i]->refs++;
  }
  int cancelled = 0, first = 0;
  for (int i = 0; i < n; i++) {
    int c = task_await_end(tasks[i], tasks, n);
    if (c < 0) {
      first = first ? first : -ENOMEM;
      continue;
    }
    cancelled |= c;
  }
  for (int i = 0; i < n; i++) {
    int st = self->ts->ops->future_result(tasks[i]->fut, NULL);
    if (status)
      status[i] = st;
    if (st < 0 && first == 0)
      first = st;
    evl__task_unref(tasks[i]);
  }
  return cancelled ? -ECANCELED : first;
}

/* ---- executor ---------------------------------------------------------- */

int evl_to_thread(evl_work_fn fn, void *arg, void **result) {
  if (result)
    *result = NULL;
  evl_task *self = evl__task_self();
  if (!self)
    return -EPERM;
  const evl_impl_ops *ops = self->ts->ops;
  if (!ops->run_in_executor || !(ops->features & EVL_IF_EXECUTOR))
    return -ENOTSUP;
  evl_future *f = NULL;
  int rc = ops->run_in_executor(self->ts->loop, fn, arg, &f);
  if (rc < 0)
    return rc;
  rc = evl_await(f, result);
  if (rc == -ECANCELED && ops->future_state(f) == EVL_FUTURE_PENDING)
    ops->future_cancel(f); /* a job no worker started never runs */
  ops->future_release(f);
  return rc;
}
