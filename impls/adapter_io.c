/* adapter_io.c — the native adapters' readers and writers, written once:
 * checks, add, replace, remove and teardown of the per-fd records; the
 * library's watchers are set up, started and stopped through hooks. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>

#include "adapter.h"

int evl__adapter_check_fd(int fd) {
  if (fd < 0 || fcntl(fd, F_GETFD) < 0)
    return -EBADF;
  return 0;
}

/* add_reader/add_writer's checks, with the adapter's own, and room for fd
 * in b->fds: 0 or an error. */
static int io_add_prep(evl_loop *loop, int fd, evl_io_cb cb) {
  evl__adapter_base *b = EVL__ADAPTER_BASE(loop);
  int rc = evl__adapter_check(b);
  if (rc)
    return rc;
  if (!cb)
    return -EINVAL;
  if ((rc = b->hooks->check_fd(fd)) < 0)
    return rc;
  return evl__adapter_fds_reserve(b, fd);
}

/* remove_reader/remove_writer's checks: 0 with *rec the fd's record (NULL
 * if none), or an error. */
static int io_lookup(evl_loop *loop, int fd, void **rec) {
  evl__adapter_base *b = EVL__ADAPTER_BASE(loop);
  int rc = evl__adapter_check(b);
  if (rc)
    return rc;
  if (fd < 0)
    return -EBADF;
  *rec = fd < b->fds_cap ? b->fds[fd] : NULL;
  return 0;
}

static int io_add(evl_loop *loop, int fd, int write, evl_io_cb cb, void *arg) {
  evl__adapter_base *b = EVL__ADAPTER_BASE(loop);
  int rc = io_add_prep(loop, fd, cb);
  if (rc)
    return rc;
  evl__adapter_fd *f = b->fds[fd];
  int fresh = !f;
  if (fresh) {
    if (!(f = b->hooks->fd_new(b, fd, &rc)))
      return rc;
    f->base = b;
    f->fd = fd;
  }
  f->cb[write] = cb;
  f->arg[write] = arg;
  /* Started again even for a replacement: that drops an event already
   * collected for the old callback (S6). */
  if ((rc = b->hooks->io_start(b, f, write)) < 0) {
    /* epoll refused the fd (libevent: a file it cannot watch). */
    f->cb[write] = NULL;
    if (fresh)
      b->hooks->fd_free(b, f);
    else
      evl__adapter_fd_drop(b, f);
    return rc;
  }
  if (fresh) {
    b->fds[fd] = f;
    b->nfds++;
  }
  return 0;
}

static int io_remove(evl_loop *loop, int fd, int write) {
  void *rec;
  int rc = io_lookup(loop, fd, &rec);
  if (rc)
    return rc;
  evl__adapter_fd *f = rec;
  if (!f || !f->cb[write])
    return 0;
  f->cb[write] = NULL;
  f->base->hooks->io_stop(f->base, f, write);
  evl__adapter_fd_drop(f->base, f);
  return 1;
}

int evl__adapter_add_reader(evl_loop *loop, int fd, evl_io_cb cb, void *arg) {
  return io_add(loop, fd, 0, cb, arg);
}
int evl__adapter_add_writer(evl_loop *loop, int fd, evl_io_cb cb, void *arg) {
  return io_add(loop, fd, 1, cb, arg);
}
int evl__adapter_remove_reader(evl_loop *loop, int fd) {
  return io_remove(loop, fd, 0);
}
int evl__adapter_remove_writer(evl_loop *loop, int fd) {
  return io_remove(loop, fd, 1);
}

void evl__adapter_fd_drop(evl__adapter_base *b, evl__adapter_fd *f) {
  if (f->cb[0] || f->cb[1])
    return;
  b->fds[f->fd] = NULL;
  b->nfds--;
  b->io_calls += f->calls;
  b->hooks->fd_free(b, f);
}

void evl__adapter_fds_free(evl__adapter_base *b) {
  for (int fd = 0; fd < b->fds_cap; fd++) {
    if (b->fds[fd]) {
      b->io_calls += ((evl__adapter_fd *)b->fds[fd])->calls;
      b->hooks->fd_free(b, b->fds[fd]);
      b->fds[fd] = NULL;
    }
  }
  b->nfds = 0;
}

void evl__adapter_io_call(evl__adapter_base *b, evl__adapter_fd *f, int write,
                          unsigned extra) {
  evl_io_cb cb = f->cb[write];
  void *arg = f->arg[write];
  b->st.events++;
  /* f may be freed by the callback: nothing below may touch it. */
  uint64_t t0 = evl__adapter_cb_begin(b);
  cb(f->fd, (write ? EVL_WRITE : EVL_READ) | extra, arg);
  evl__adapter_cb_end(b, t0);
}
