/* completion_uring.c — the proactor's io_uring engine (liburing): each
 * operation is one SQE, submissions are batched into one io_uring_enter per
 * loop iteration, and the ring's fd is a reader on the loop. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>

#include "completion_int.h"

#ifdef EVL_HAVE_URING
#include <liburing.h>

struct evl__uring {
  struct io_uring ring;
  int nflight;     /* operations the kernel holds */
  int unsubmitted; /* SQEs not yet entered */
  evl_handle flush_h;
  int flush_pending;
};

static void flush(evl_proactor *p) {
  struct evl__uring *r = p->ring;
  if (r->unsubmitted) {
    io_uring_submit(&r->ring);
    r->unsubmitted = 0;
  }
}

static void flush_cb(void *arg) {
  evl_proactor *p = arg;
  p->ring->flush_pending = 0;
  flush(p);
}

/* One SQE, entering the queued ones first if the ring is full. */
static struct io_uring_sqe *sqe_for(evl_proactor *p) {
  struct evl__uring *r = p->ring;
  struct io_uring_sqe *sqe = io_uring_get_sqe(&r->ring);
  if (!sqe) {
    flush(p);
    sqe = io_uring_get_sqe(&r->ring);
  }
  if (sqe) {
    r->unsubmitted++;
    /* The submission is entered once this iteration's callbacks ran,
     * together with every other one they made. */
    if (!r->flush_pending && !p->in_ring && !p->closing &&
        p->ops->call_soon(p->loop, flush_cb, p, &r->flush_h) == 0)
      r->flush_pending = 1;
  }
  return sqe;
}

static void on_cqe(evl_proactor *p, cop *op, int res);

void evl__uring_start(evl_proactor *p, cop *op) {
  struct io_uring_sqe *sqe = sqe_for(p);
  op->inflight = 1;
  p->ring->nflight++;
  if (!sqe) {
    on_cqe(p, op, -EBUSY);
    return;
  }
  switch (op->kind) {
  case K_RECV:
    io_uring_prep_recv(sqe, op->fd, op->buf, op->len, 0);
    break;
  case K_SEND:
    io_uring_prep_send(sqe, op->fd, op->buf + op->done, op->len - op->done,
                       MSG_NOSIGNAL);
    break;
  case K_ACCEPT:
    io_uring_prep_accept(sqe, op->fd, op->addr, op->addrlen,
                         SOCK_NONBLOCK | SOCK_CLOEXEC);
    break;
  case K_CONNECT:
    io_uring_prep_connect(sqe, op->fd, (struct sockaddr *)&op->caddr,
                          op->calen);
    break;
  case K_READ:
    io_uring_prep_read(sqe, op->fd, op->buf, (unsigned)op->len,
                       (uint64_t)op->off);
    break;
  default:
    io_uring_prep_write(sqe, op->fd, op->buf, (unsigned)op->len,
                        (uint64_t)op->off);
    break;
  }
  io_uring_sqe_set_data(sqe, op);
}

static void on_cqe(evl_proactor *p, cop *op, int res) {
  op->inflight = 0;
  p->ring->nflight--;
  if (op->cancelled) {
    if (op->kind == K_ACCEPT && res >= 0)
      close(res);
    res = -ECANCELED;
  } else if (op->kind == K_SEND && res > 0 &&
             op->done + (size_t)res < op->len) {
    /* A partial send: the rest goes before anything queued behind it. */
    op->done += (size_t)res;
    evl__uring_start(p, op);
    return;
  } else if (op->kind == K_SEND && res > 0) {
    res = 0;
  }
  evl__op_finished(p, op, res);
}

static void drain(evl_proactor *p) {
  struct io_uring_cqe *cqe;
  while (io_uring_peek_cqe(&p->ring->ring, &cqe) == 0) {
    cop *op = io_uring_cqe_get_data(cqe);
    int res = cqe->res;
    io_uring_cqe_seen(&p->ring->ring, cqe);
    if (op) /* NULL: the completion of a cancel request itself */
      on_cqe(p, op, res);
  }
}

/* Completions run straight from here (this is a loop callback already), and
 * what they submit is entered before returning to the loop's wait. */
static void on_ring(int fd, unsigned events, void *arg) {
  evl_proactor *p = arg;
  struct evl__uring *r = p->ring;
  (void)fd;
  (void)events;
  p->in_ring = 1;
  drain(p);
  evl__run_done(p);
  p->in_ring = 0;
  flush(p);
  if (r->flush_pending && p->ops->cancel(p->loop, r->flush_h) == 0)
    r->flush_pending = 0;
}

int evl__uring_new(evl_proactor *p) {
  struct evl__uring *r = calloc(1, sizeof *r);
  if (!r)
    return -ENOMEM;
  int rc = io_uring_queue_init(256, &r->ring, 0);
  if (rc < 0) {
    free(r);
    return rc;
  }
  rc = p->ops->add_reader(p->loop, r->ring.ring_fd, on_ring, p);
  if (rc < 0) {
    io_uring_queue_exit(&r->ring);
    free(r);
    return rc;
  }
  p->ring = r;
  return 0;
}

int evl__uring_cancel(evl_proactor *p, cop *op) {
  struct io_uring_sqe *sqe = sqe_for(p);
  if (!sqe)
    return -EBUSY;
  op->cancelled = 1;
  io_uring_prep_cancel64(sqe, (uint64_t)(uintptr_t)op, 0);
  io_uring_sqe_set_data(sqe, NULL);
  return 0;
}

void evl__uring_close(evl_proactor *p) {
  struct evl__uring *r = p->ring;
  if (r->flush_pending)
    p->ops->cancel(p->loop, r->flush_h);
  r->flush_pending = 0;
  /* The kernel may write into the caller's buffers until each operation's
   * CQE arrived: cancel everything and wait for all of them. */
  struct io_uring_sqe *sqe = io_uring_get_sqe(&r->ring);
  if (!sqe) {
    flush(p);
    sqe = io_uring_get_sqe(&r->ring);
  }
  if (sqe) {
    io_uring_prep_cancel64(sqe, 0, IORING_ASYNC_CANCEL_ANY);
    io_uring_sqe_set_data(sqe, NULL);
    r->unsubmitted++;
  }
  for (int fd = 0; fd < p->nfds; fd++)
    for (int dir = 0; dir < 2; dir++)
      for (cop *op = p->fds[fd].q[dir].head; op; op = op->next)
        op->cancelled |= op->inflight;
  while (r->nflight > 0) {
    r->unsubmitted = 0;
    if (io_uring_submit_and_wait(&r->ring, 1) < 0)
      break;
    drain(p);
  }
  p->ops->remove_reader(p->loop, r->ring.ring_fd);
  io_uring_queue_exit(&r->ring);
  free(r);
  p->ring = NULL;
}

#else

int evl__uring_new(evl_proactor *p) {
  (void)p;
  return -ENOTSUP;
}
void evl__uring_start(evl_proactor *p, cop *op) {
  (void)p;
  (void)op;
}
int evl__uring_cancel(evl_proactor *p, cop *op) {
  (void)p;
  (void)op;
  return EVL_EHANDLE;
}
void evl__uring_close(evl_proactor *p) {
  (void)p;
}

#endif
