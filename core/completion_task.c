/* completion_task.c — completion I/O awaited from tasks (task.h): submit,
 * then await a future of the task's loop that the completion sets. */
#include <errno.h>
#include <stdint.h>

#include "completion_int.h"
#include "evl/task.h"

enum { CT_RECV, CT_SEND, CT_ACCEPT, CT_CONNECT, CT_READ, CT_WRITE };

typedef struct ct_op {
  int kind, fd;
  void *buf;
  size_t len;
  off_t off;
  struct sockaddr *addr;
  socklen_t *alen;
  const struct sockaddr *caddr;
  socklen_t clen;
} ct_op;

typedef struct ct_wait {
  const evl_impl_ops *ops;
  evl_future *f;
} ct_wait;

static void ct_done(ssize_t res, void *arg) {
  ct_wait *w = arg;
  w->ops->future_set_result(w->f, (void *)(intptr_t)res);
}

static int ct_submit(evl_proactor *p, const ct_op *o, ct_wait *w,
                     evl_io_id *id) {
  switch (o->kind) {
  case CT_RECV:
    return evl_recv(p, o->fd, o->buf, o->len, ct_done, w, id);
  case CT_SEND:
    return evl_send(p, o->fd, o->buf, o->len, ct_done, w, id);
  case CT_ACCEPT:
    return evl_accept(p, o->fd, o->addr, o->alen, ct_done, w, id);
  case CT_CONNECT:
    return evl_connect(p, o->fd, o->caddr, o->clen, ct_done, w, id);
  case CT_READ:
    return evl_read(p, o->fd, o->buf, o->len, o->off, ct_done, w, id);
  default:
    return evl_write(p, o->fd, o->buf, o->len, o->off, ct_done, w, id);
  }
}

/* The buffer (often on the task's stack) is the kernel's until the
 * operation completed, so a cancelled task first cancels the operation and
 * waits for its completion, then returns -ECANCELED. */
static ssize_t ct_await(evl_proactor *p, const ct_op *o) {
  evl_tasks *ts = evl_current_tasks();
  if (!ts || !evl_current_task())
    return -EPERM;
  if (!p || evl_tasks_loop(ts) != p->loop)
    return -EINVAL;
  const evl_impl_ops *ops = evl_tasks_ops(ts);
  ct_wait w = {ops, NULL};
  int rc = ops->future_new(p->loop, &w.f);
  if (rc < 0)
    return rc;
  evl_io_id id = 0;
  rc = ct_submit(p, o, &w, &id);
  if (rc < 0) {
    ops->future_release(w.f);
    return rc;
  }
  void *res = NULL;
  rc = evl_await(w.f, &res);
  int cancelled =
      rc == -ECANCELED && ops->future_state(w.f) == EVL_FUTURE_PENDING;
  if (cancelled) {
    evl_cancel_io(p, id);
    /* Cancelled again meanwhile: the operation still holds buf. */
    while (ops->future_state(w.f) == EVL_FUTURE_PENDING)
      (void)evl_await(w.f, &res);
  }
  ops->future_release(w.f);
  if (cancelled)
    return -ECANCELED;
  return rc < 0 ? rc : (ssize_t)(intptr_t)res;
}

ssize_t evl_task_recv(evl_proactor *p, int fd, void *buf, size_t len) {
  ct_op o = {.kind = CT_RECV, .fd = fd, .buf = buf, .len = len};
  return ct_await(p, &o);
}

int evl_task_send(evl_proactor *p, int fd, const void *buf, size_t len) {
  ct_op o = {.kind = CT_SEND, .fd = fd, .buf = (void *)buf, .len = len};
  return (int)ct_await(p, &o);
}

int evl_task_accept(evl_proactor *p, int fd, struct sockaddr *addr,
                    socklen_t *addrlen) {
  ct_op o = {.kind = CT_ACCEPT, .fd = fd, .addr = addr, .alen = addrlen};
  return (int)ct_await(p, &o);
}

int evl_task_connect(evl_proactor *p, int fd, const struct sockaddr *addr,
                     socklen_t addrlen) {
  ct_op o = {.kind = CT_CONNECT, .fd = fd, .caddr = addr, .clen = addrlen};
  return (int)ct_await(p, &o);
}

ssize_t evl_task_read(evl_proactor *p, int fd, void *buf, size_t len,
                      off_t offset) {
  ct_op o = {.kind = CT_READ, .fd = fd, .buf = buf, .len = len, .off = offset};
  return ct_await(p, &o);
}

ssize_t evl_task_write(evl_proactor *p, int fd, const void *buf, size_t len,
                       off_t offset) {
  ct_op o = {.kind = CT_WRITE,
             .fd = fd,
             .buf = (void *)buf,
             .len = len,
             .off = offset};
  return ct_await(p, &o);
}
