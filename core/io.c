/* io.c — readers and writers: the fd table, immediate adds and deletes,
 * per-iteration coalescing of modifications (S6). */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "loop.h"

static unsigned fd_want(const evl__fd *f) {
  return (f->r.cb ? EVL_READ : 0u) | (f->w.cb ? EVL_WRITE : 0u);
}

int evl__fd_reserve(evl_loop *loop, int fd) {
  if (fd < loop->nfds)
    return 0;
  int n = loop->nfds ? loop->nfds : 16;
  while (n <= fd)
    n = n > INT_MAX / 2 ? INT_MAX : n * 2;
  evl__fd *nf = realloc(loop->fds, (size_t)n * sizeof *nf);
  if (!nf)
    return -ENOMEM;
  memset(nf + loop->nfds, 0, (size_t)(n - loop->nfds) * sizeof *nf);
  for (int i = loop->nfds; i < n; i++)
    nf[i].r = nf[i].w = EVL__WATCHER_EMPTY;
  loop->fds = nf;
  loop->nfds = n;
  return 0;
}

/* -ENOMEM, -ENOBUFS and -EAGAIN say "not now", not "never" (epoll_ctl
 * under memory pressure, a full io_uring submission queue), so a ctl that
 * fails with one is tried again before the failure counts. */
static int io_transient(int rc) {
  return rc == -ENOMEM || rc == -ENOBUFS || rc == -EAGAIN || rc == -EINTR;
}

int evl__ctl(evl_loop *loop, int fd, unsigned old_mask, unsigned new_mask) {
  /* An inherited loop shares its kernel set with the parent: a delete here
   * would silence the parent's watcher (S16). */
  if (evl__forked(loop))
    return 0;
  int rc = -EAGAIN;
  for (int tries = 0; tries < 3 && io_transient(rc); tries++)
    rc = loop->be->ctl(loop->be_state, fd, old_mask, new_mask);
  return rc;
}

static int change_mark(evl_loop *loop, int fd) {
  evl__fd *f = &loop->fds[fd];
  if (f->pending)
    return 0;
  if (loop->nchanges == loop->changes_cap) {
    int ncap = loop->changes_cap ? loop->changes_cap * 2 : 16;
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
  int rc = evl__ctl(loop, fd, f->kmask, 0);
  /* -EBADF/-ENOENT: the user closed the fd first; the kernel dropped it. */
  if (rc < 0 && rc != -EBADF && rc != -ENOENT)
    evl__loop_error(loop, rc, "backend ctl (delete)", NULL, fd);
  f->kmask = 0;
  loop->nregistered--;
}

static int io_add(evl_loop *loop, int fd, evl_io_cb cb, void *arg, unsigned dir,
                  int own) {
  int rc = evl__loop_check(loop);
  if (rc < 0)
    return rc;
  if (!cb)
    return -EINVAL;
  if (fd < 0)
    return -EBADF;
  /* An fd the backend already holds was checked when it was added: a
   * writer toggled on and off per message costs no syscall here. A closed
   * fd is -EBADF before any limit is asked about, as on every backend. */
  if ((fd >= loop->nfds || loop->fds[fd].kmask == 0) && fcntl(fd, F_GETFD) < 0)
    return -EBADF;
  if (loop->be->fd_limit > 0 && fd >= loop->be->fd_limit)
    return -ERANGE;
  if ((rc = evl__fd_reserve(loop, fd)) < 0)
    return rc;
  evl__fd *f = &loop->fds[fd];
  if (f->internal && !own)
    return -EEXIST;
  if (own && f->kmask) {
    /* A user watcher left on a number closed without removal: the loop's
     * own fd now has that number, and the stranger's watchers go. */
    f->r = f->w = EVL__WATCHER_EMPTY;
  }
  unsigned want = fd_want(f) | dir;
  if (f->kmask == 0) {
    /* A new fd is registered now so that a refusal (epoll: regular file)
     * is returned here with nothing left behind. */
    rc = evl__ctl(loop, fd, 0, want);
    if (rc < 0)
      return rc;
    f->kmask = (uint8_t)want;
    loop->nregistered++;
  } else {
    /* Registered already, so no syscall looked at the fd: it may have been
     * closed without removal and its number reused, and the backend then
     * watches nothing (epoll dropped the old file) or the old file. The
     * next flush asks the backend again for this number, even with an
     * unchanged mask (S6). */
    f->reassert = 1;
    if ((rc = change_mark(loop, fd)) < 0)
      return rc;
  }
  if (own)
    f->internal = EVL__FD_OWN;
  evl__watcher *w = dir == EVL_READ ? &f->r : &f->w;
  w->cb = cb;
  w->arg = arg;
  w->gen = ++loop->watcher_gen; /* events collected for the old one: stale */
  return 0;
}

static int io_remove(evl_loop *loop, int fd, unsigned dir, int own) {
  int rc = evl__loop_check(loop);
  if (rc < 0)
    return rc;
  if (fd < 0)
    return -EBADF;
  if (fd >= loop->nfds)
    return 0;
  evl__fd *f = &loop->fds[fd];
  evl__watcher *w = dir == EVL_READ ? &f->r : &f->w;
  if (!w->cb || (f->internal && !own))
    return 0;
  if (own)
    f->internal = EVL__FD_USER;
  *w = EVL__WATCHER_EMPTY;
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
  return io_add(loop, fd, cb, arg, EVL_READ, 0);
}
int evl_add_writer(evl_loop *loop, int fd, evl_io_cb cb, void *arg) {
  return io_add(loop, fd, cb, arg, EVL_WRITE, 0);
}
int evl_remove_reader(evl_loop *loop, int fd) {
  return io_remove(loop, fd, EVL_READ, 0);
}
int evl_remove_writer(evl_loop *loop, int fd) {
  return io_remove(loop, fd, EVL_WRITE, 0);
}
int evl__add_own_reader(evl_loop *loop, int fd, evl_io_cb cb, void *arg) {
  return io_add(loop, fd, cb, arg, EVL_READ, 1);
}
int evl__remove_own_reader(evl_loop *loop, int fd) {
  return io_remove(loop, fd, EVL_READ, 1);
}

/* One backend ctl per changed fd per iteration, whatever happened to it. */
void evl__flush_changes(evl_loop *loop) {
  int kept = 0;
  for (int i = 0; i < loop->nchanges; i++) {
    int fd = loop->changes[i];
    evl__fd *f = &loop->fds[fd];
    f->pending = 0;
    unsigned want = fd_want(f);
    int again = f->reassert;
    f->reassert = 0;
    if ((want == f->kmask && !again) || want == 0 || f->kmask == 0)
      continue; /* deletes and adds were applied at once */
    int rc = evl__ctl(loop, fd, f->kmask, want);
    if (rc == 0) {
      f->kmask = (uint8_t)want;
      continue;
    }
    if (io_transient(rc)) {
      /* Still short of memory: the old interest stays registered and the
       * change is tried again next iteration; the watchers are the user's
       * and are never dropped for it. */
      evl__loop_error(loop, rc, "backend ctl (modify, will retry)", NULL, fd);
      f->pending = 1;
      loop->changes[kept++] = fd;
      continue;
    }
    /* The fd was closed under its watchers (or reused): report it and drop
     * the watchers rather than fire for a stranger. */
    evl__loop_error(loop, rc, "backend ctl (modify)", NULL, fd);
    fd_unregister(loop, fd);
    f->r = f->w = EVL__WATCHER_EMPTY;
  }
  loop->nchanges = kept;
}
