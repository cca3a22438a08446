/* completion.c — completion-based I/O emulated over the loop ABI: try the
 * system call, on EAGAIN wait for readiness, deliver results by call_soon. */
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "completion_int.h"
#include "sanitizer.h"

static int dir_of(int kind) {
  return kind == K_SEND || kind == K_CONNECT;
}

static void q_push(cq *q, cop *op) {
  op->next = NULL;
  if (q->tail)
    q->tail->next = op;
  else
    q->head = op;
  q->tail = op;
}

static int q_remove(cq *q, cop *op) {
  cop *prev = NULL;
  for (cop *o = q->head; o; prev = o, o = o->next) {
    if (o != op)
      continue;
    if (prev)
      prev->next = o->next;
    else
      q->head = o->next;
    if (q->tail == o)
      q->tail = prev;
    o->next = NULL;
    return 1;
  }
  return 0;
}

static void deliver(void *arg);

/* Records the result; the callback runs later, on the loop thread. */
static void complete(evl_proactor *p, cop *op, ssize_t result) {
  op->result = result;
  op->completed = 1;
  q_push(&p->done, op);
  if (!p->deliver_pending && !p->closing && !p->in_ring &&
      p->ops->call_soon(p->loop, deliver, p, &p->deliver_h) == 0)
    p->deliver_pending = 1;
}

/* Operations are recycled per proactor: glibc's calloc bypasses its
 * thread cache, and a calloc and a free per operation were a third of the
 * proactor's user-space instructions on a pingpong round trip. Not under
 * ASan, whose use-after-free checks need every free. */
#if defined(EVL__ASAN)
#define SPARE_MAX 0
#else
#define SPARE_MAX 64
#endif

static void op_free(evl_proactor *p, cop *op) {
  if (p->nspare >= SPARE_MAX) {
    free(op);
    return;
  }
  op->next = p->spare;
  p->spare = op;
  p->nspare++;
}

/* One pass runs what had completed when it began; what completes during it
 * (a callback's next operation that finished at once) waits for the next
 * iteration. Otherwise a connection whose peer answers quickly goes round
 * recv, send, recv inside one pass while the others wait for the next: at
 * 1000 echo connections the emulation's p99 was 6x its p50. At close (or
 * when no later pass can be scheduled), everything. */
void evl__run_done(evl_proactor *p) {
  cop *last = p->closing ? NULL : p->done.tail;
  p->delivering++;
  while (p->done.head) {
    cop *op = p->done.head;
    p->done.head = op->next;
    if (!p->done.head)
      p->done.tail = NULL;
    int end = op == last;
    evl__slot_drop(p, op);
    op->cb(op->result, op->arg);
    op_free(p, op);
    if (end && p->done.head) {
      if (p->deliver_pending || p->closing)
        break;
      if (p->ops->call_soon(p->loop, deliver, p, &p->deliver_h) == 0) {
        p->deliver_pending = 1;
        break;
      }
    }
  }
  p->delivering--;
}

static void deliver(void *arg) {
  evl_proactor *p = arg;
  p->deliver_pending = 0;
  evl__run_done(p);
}

static int again(int e) {
  return e == EAGAIN || e == EWOULDBLOCK;
}

/* One attempt: 1 when the operation completed (op->result set), 0 when it
 * must wait for readiness. */
static int try_op(cop *op) {
  for (;;) {
    ssize_t n;
    switch (op->kind) {
    case K_RECV:
      n = recv(op->fd, op->buf, op->len, MSG_DONTWAIT);
      if (n < 0 && errno == ENOTSOCK)
        n = read(op->fd, op->buf, op->len);
      break;
    case K_SEND:
      if (op->done == op->len) {
        op->result = 0;
        return 1;
      }
      n = send(op->fd, op->buf + op->done, op->len - op->done,
               MSG_DONTWAIT | MSG_NOSIGNAL);
      if (n < 0 && errno == ENOTSOCK)
        n = write(op->fd, op->buf + op->done, op->len - op->done);
      if (n >= 0) {
        op->done += (size_t)n;
        continue;
      }
      break;
    case K_ACCEPT:
      n = accept4(op->fd, op->addr, op->addrlen, SOCK_NONBLOCK | SOCK_CLOEXEC);
      break;
    case K_CONNECT:
      if (!op->started) {
        op->started = 1;
        n = connect(op->fd, (struct sockaddr *)&op->caddr, op->calen);
        if (n < 0 && errno == EINPROGRESS)
          return 0;
      } else {
        int err = 0;
        socklen_t el = sizeof err;
        n = getsockopt(op->fd, SOL_SOCKET, SO_ERROR, &err, &el);
        if (n == 0 && err) {
          errno = err;
          n = -1;
        }
      }
      break;
    case K_READ:
      n = pread(op->fd, op->buf, op->len, op->off);
      break;
    default:
      n = pwrite(op->fd, op->buf, op->len, op->off);
      break;
    }
    if (n >= 0) {
      op->result = n;
      return 1;
    }
    if (errno == EINTR)
      continue;
    if (again(errno) && op->kind != K_READ && op->kind != K_WRITE)
      return 0;
    op->result = -errno;
    return 1;
  }
}

static void unwatch(evl_proactor *p, int fd, int dir) {
  cfd *f = &p->fds[fd];
  if (!f->watching[dir])
    return;
  f->watching[dir] = 0;
  if (dir)
    p->ops->remove_writer(p->loop, fd);
  else
    p->ops->remove_reader(p->loop, fd);
}

/* Runs the queue's head while it completes. An emptied queue keeps its
 * watcher: the next operation on the fd (an echo's next recv) then costs no
 * registration; an event that finds the queue empty removes it. */
static void advance(evl_proactor *p, int fd, int dir) {
  cq *q = &p->fds[fd].q[dir];
  if (!q->head) {
    unwatch(p, fd, dir);
    return;
  }
  while (q->head && try_op(q->head)) {
    cop *op = q->head;
    q_remove(q, op);
    complete(p, op, op->result);
  }
}

static void on_ready(int fd, unsigned events, void *arg, int dir) {
  evl_proactor *p = arg;
  (void)events;
  if (fd >= 0 && fd < p->nfds)
    advance(p, fd, dir);
}
static void on_readable(int fd, unsigned events, void *arg) {
  on_ready(fd, events, arg, 0);
}
static void on_writable(int fd, unsigned events, void *arg) {
  on_ready(fd, events, arg, 1);
}

static int grow_fds(evl_proactor *p, int fd) {
  if (fd < p->nfds)
    return 0;
  int n = p->nfds ? p->nfds : 64;
  while (n <= fd)
    n *= 2;
  cfd *f = realloc(p->fds, (size_t)n * sizeof *f);
  if (!f)
    return -ENOMEM;
  memset(f + p->nfds, 0, (size_t)(n - p->nfds) * sizeof *f);
  p->fds = f;
  p->nfds = n;
  return 0;
}

static int new_slot(evl_proactor *p, cop *op) {
  if (!p->free_head) {
    uint32_t n = p->nslots ? p->nslots * 2 : 64;
    cslot *s = realloc(p->slots, n * sizeof *s);
    if (!s)
      return -ENOMEM;
    for (uint32_t i = p->nslots; i < n; i++)
      s[i] = (cslot){NULL, 1, i + 1 < n ? i + 2 : 0};
    p->slots = s;
    p->free_head = p->nslots + 1;
    p->nslots = n;
  }
  uint32_t i = p->free_head - 1;
  p->free_head = p->slots[i].next_free;
  p->slots[i].op = op;
  op->slot = i;
  return 0;
}

int evl__slot_take(evl_proactor *p, cop *op) {
  return new_slot(p, op);
}

void evl__slot_drop(evl_proactor *p, cop *op) {
  cslot *s = &p->slots[op->slot];
  s->op = NULL;
  s->gen++;
  s->next_free = p->free_head;
  p->free_head = op->slot + 1;
}

static int submit(evl_proactor *p, cop *op, evl_io_id *out) {
  int rc = op->fd >= 0 ? grow_fds(p, op->fd) : 0;
  if (rc == 0)
    rc = new_slot(p, op);
  if (rc < 0) {
    op_free(p, op);
    return rc;
  }
  if (out)
    *out = ((uint64_t)p->slots[op->slot].gen << 32) | (op->slot + 1);
  if (op->fd < 0) {
    complete(p, op, -EBADF);
    return 0;
  }
  if (p->ring) {
    if (op->kind == K_READ || op->kind == K_WRITE) {
      evl__uring_start(p, op);
      return 0;
    }
    cq *q = &p->fds[op->fd].q[dir_of(op->kind)];
    q_push(q, op);
    if (q->head == op)
      evl__uring_start(p, op);
    return 0;
  }
  if (op->kind == K_READ || op->kind == K_WRITE) {
    try_op(op);
    complete(p, op, op->result);
    return 0;
  }
  int dir = dir_of(op->kind);
  cfd *f = &p->fds[op->fd];
  if (!f->q[dir].head && try_op(op)) {
    complete(p, op, op->result);
    return 0;
  }
  q_push(&f->q[dir], op);
  if (!f->watching[dir]) {
    rc = dir ? p->ops->add_writer(p->loop, op->fd, on_writable, p)
             : p->ops->add_reader(p->loop, op->fd, on_readable, p);
    if (rc < 0) {
      q_remove(&f->q[dir], op);
      complete(p, op, rc);
    } else {
      f->watching[dir] = 1;
    }
  }
  return 0;
}

static cop *mk(evl_proactor *p, int kind, int fd, evl_io_done cb, void *arg,
               int *rc) {
  *rc = !p || !cb ? -EINVAL : p->closing ? EVL_ECLOSED : 0;
  if (*rc)
    return NULL;
  cop *op = p->spare;
  if (op) {
    p->spare = op->next;
    p->nspare--;
  } else if (!(op = malloc(sizeof *op))) {
    *rc = -ENOMEM;
    return NULL;
  }
  memset(op, 0, offsetof(cop, caddr));
  op->kind = kind;
  op->fd = fd;
  op->cb = cb;
  op->arg = arg;
  return op;
}

int evl_recv(evl_proactor *p, int fd, void *buf, size_t len, evl_io_done cb,
             void *arg, evl_io_id *out) {
  int rc;
  if (!buf && len)
    return -EINVAL;
  cop *op = mk(p, K_RECV, fd, cb, arg, &rc);
  if (!op)
    return rc;
  op->buf = buf;
  op->len = len;
  return submit(p, op, out);
}

int evl_send(evl_proactor *p, int fd, const void *buf, size_t len,
             evl_io_done cb, void *arg, evl_io_id *out) {
  int rc;
  if (!buf && len)
    return -EINVAL;
  cop *op = mk(p, K_SEND, fd, cb, arg, &rc);
  if (!op)
    return rc;
  op->buf = (char *)buf;
  op->len = len;
  return submit(p, op, out);
}

int evl_accept(evl_proactor *p, int fd, struct sockaddr *addr,
               socklen_t *addrlen, evl_io_done cb, void *arg, evl_io_id *out) {
  int rc;
  if (!addr != !addrlen)
    return -EINVAL;
  cop *op = mk(p, K_ACCEPT, fd, cb, arg, &rc);
  if (!op)
    return rc;
  op->addr = addr;
  op->addrlen = addrlen;
  return submit(p, op, out);
}

int evl_connect(evl_proactor *p, int fd, const struct sockaddr *addr,
                socklen_t addrlen, evl_io_done cb, void *arg, evl_io_id *out) {
  int rc;
  if (!addr || addrlen == 0 || addrlen > sizeof(struct sockaddr_storage))
    return -EINVAL;
  cop *op = mk(p, K_CONNECT, fd, cb, arg, &rc);
  if (!op)
    return rc;
  memcpy(&op->caddr, addr, addrlen);
  op->calen = addrlen;
  return submit(p, op, out);
}

static int file_op(evl_proactor *p, int kind, int fd, void *buf, size_t len,
                   off_t off, evl_io_done cb, void *arg, evl_io_id *out) {
  int rc;
  if ((!buf && len) || off < 0)
    return -EINVAL;
  cop *op = mk(p, kind, fd, cb, arg, &rc);
  if (!op)
    return rc;
  op->buf = buf;
  op->len = len;
  op->off = off;
  return submit(p, op, out);
}

int evl_read(evl_proactor *p, int fd, void *buf, size_t len, off_t offset,
             evl_io_done cb, void *arg, evl_io_id *out) {
  return file_op(p, K_READ, fd, buf, len, offset, cb, arg, out);
}

int evl_write(evl_proactor *p, int fd, const void *buf, size_t len,
              off_t offset, evl_io_done cb, void *arg, evl_io_id *out) {
  return file_op(p, K_WRITE, fd, (void *)buf, len, offset, cb, arg, out);
}

int evl_cancel_io(evl_proactor *p, evl_io_id id) {
  if (!p)
    return -EINVAL;
  uint32_t i = (uint32_t)id, gen = (uint32_t)(id >> 32);
  if (i == 0 || i > p->nslots || p->slots[i - 1].gen != gen)
    return EVL_EHANDLE;
  cop *op = p->slots[i - 1].op;
  if (!op || op->completed || op->cancelled || op->kind >= K_MSRECV)
    return EVL_EHANDLE;
  if (op->inflight)
    return evl__uring_cancel(p, op);
  int dir = dir_of(op->kind);
  cq *q = &p->fds[op->fd].q[dir];
  q_remove(q, op);
  if (!q->head)
    unwatch(p, op->fd, dir);
  complete(p, op, -ECANCELED);
  return 0;
}

int evl_io_close(evl_proactor *p, int fd) {
  if (!p)
    return -EINVAL;
  if (fd < 0)
    return -EBADF;
  for (int dir = 0; fd < p->nfds && dir < 2; dir++) {
    cq *q = &p->fds[fd].q[dir];
    cop *keep = q->head && q->head->inflight ? q->head : NULL;
    if (keep && !keep->cancelled)
      evl__uring_cancel(p, keep);
    while (q->head != keep || (keep && keep->next)) {
      cop *op = keep ? keep->next : q->head;
      q_remove(q, op);
      complete(p, op, -ECANCELED);
    }
    unwatch(p, fd, dir);
  }
  evl__ms_forget(p, fd);
  return close(fd) < 0 ? -errno : 0;
}

int evl_proactor_new(const evl_impl_ops *ops, evl_loop *loop,
                     evl_proactor **out) {
  if (!out)
    return -EINVAL;
  *out = NULL;
  if (!ops || !loop)
    return -EINVAL;
  evl_proactor *p = calloc(1, sizeof *p);
  if (!p)
    return -ENOMEM;
  p->ops = ops;
  p->loop = loop;
  *out = p;
  return 0;
}

void evl__op_finished(evl_proactor *p, cop *op, ssize_t res) {
  if (op->kind == K_READ || op->kind == K_WRITE) {
    complete(p, op, res);
    return;
  }
  cq *q = &p->fds[op->fd].q[dir_of(op->kind)];
  q_remove(q, op);
  complete(p, op, res);
  if (q->head && !q->head->inflight && !p->closing)
    evl__uring_start(p, q->head);
}

int evl_proactor_new_uring(const evl_impl_ops *ops, evl_loop *loop,
                           evl_proactor **out) {
  int rc = evl_proactor_new(ops, loop, out);
  if (rc < 0)
    return rc;
  rc = evl__uring_new(*out);
  if (rc < 0) {
    free(*out);
    *out = NULL;
  }
  return rc;
}

int evl_proactor_close(evl_proactor *p) {
  if (!p)
    return -EINVAL;
  if (p->delivering)
    return -EBUSY;
  p->closing = 1;
  if (p->deliver_pending)
    p->ops->cancel(p->loop, p->deliver_h);
  p->deliver_pending = 0;
  if (p->ring)
    evl__uring_close(p);
  for (int fd = 0; fd < p->nfds; fd++)
    for (int dir = 0; dir < 2; dir++) {
      cq *q = &p->fds[fd].q[dir];
      while (q->head) {
        cop *op = q->head;
        q_remove(q, op);
        complete(p, op, -ECANCELED);
      }
      unwatch(p, fd, dir);
    }
  evl__run_done(p);
  while (p->spare) {
    cop *op = p->spare;
    p->spare = op->next;
    free(op);
  }
  free(p->fds);
  free(p->slots);
  free(p);
  return 0;
}

/* Only what the proactor calls: it is never handed to anything else. */
static const evl_impl_ops proactor_ref_ops = {
    .abi = EVL_IMPL_ABI,
    .size = sizeof(evl_impl_ops),
    .name = "ref",
    .call_soon = evl_call_soon,
    .cancel = evl_cancel,
    .add_reader = evl_add_reader,
    .remove_reader = evl_remove_reader,
    .add_writer = evl_add_writer,
    .remove_writer = evl_remove_writer,
};

int evl_proactor_new_ref(evl_loop *loop, evl_proactor **out) {
  return evl_proactor_new(&proactor_ref_ops, loop, out);
}
