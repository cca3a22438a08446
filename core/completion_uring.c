/* completion_uring.c — the proactor's io_uring engine (liburing): each
 * operation is one SQE, on the loop backend's own ring where it lends it,
 * else on a ring whose fd is a reader on the loop. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>

#include "completion_int.h"

#ifdef EVL_HAVE_URING
#include <liburing.h>

#include "evl/backend.h"
#include "loop.h"

/*
 * Two ways to reach the kernel. On the reference core over a backend that
 * owns an io_uring (EVL_BF_COMPLETION: ref-iouring) the engine shares that
 * ring: its SQEs ride in the backend's wait, one io_uring_enter per
 * iteration for the loop's changes, the engine's submissions and the wait
 * together; its CQEs come back through on_cqe during the wait, and the
 * backend reports the ring's fd readable so the callbacks run as a reader.
 * Elsewhere the engine has a ring of its own whose fd is one reader on the
 * loop, and what the callbacks submitted is entered once they ran (a second
 * io_uring_enter per iteration, besides the loop's own wait).
 */
struct evl__uring {
  struct io_uring own;
  struct io_uring *ring; /* &own, or the backend's */
  int fd;                /* the reader on the loop */
  int nflight;           /* operations the kernel holds */
  int unsubmitted;       /* own ring: SQEs not yet entered */
  evl_handle flush_h;
  int flush_pending;
  const evl_backend_ops *be; /* shared: the backend and its state */
  void *be_state;
  int (*pump)(void *be_state);
};

static uint64_t ud_of(const cop *op) {
  return (uint64_t)(op->slot + 1) << 32 | EVL_COMPLETION_UD_LOW;
}

static void flush(evl_proactor *p) {
  struct evl__uring *r = p->ring;
  if (r->unsubmitted) {
    io_uring_submit(r->ring);
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
  struct io_uring_sqe *sqe = io_uring_get_sqe(r->ring);
  if (!sqe) {
    io_uring_submit(r->ring);
    r->unsubmitted = 0;
    sqe = io_uring_get_sqe(r->ring);
  }
  if (sqe && !r->be) {
    r->unsubmitted++;
    /* The submission is entered once this iteration's callbacks ran,
     * together with every other one they made. A shared ring needs none of
     * this: the loop's next wait enters it. */
    if (!r->flush_pending && !p->in_ring && !p->closing &&
        p->ops->call_soon(p->loop, flush_cb, p, &r->flush_h) == 0)
      r->flush_pending = 1;
  }
  return sqe;
}

static void on_cqe(evl_proactor *p, cop *op, int res);

struct io_uring_sqe *evl__uring_sqe(evl_proactor *p) {
  return sqe_for(p);
}
struct io_uring *evl__uring_ring(evl_proactor *p) {
  return p->ring->ring;
}
void evl__uring_set_ud(struct io_uring_sqe *sqe, const cop *op) {
  io_uring_sqe_set_data64(sqe, ud_of(op));
}
void evl__uring_track(evl_proactor *p, cop *op) {
  op->inflight = 1;
  p->ring->nflight++;
}

void evl__uring_start(evl_proactor *p, cop *op) {
  /* A recv is served by the fd's multishot request where there is one. */
  if (op->kind == K_RECV && evl__ms_recv(p, op))
    return;
  if (op->kind == K_ACCEPT && !op->addr && !op->plain && evl__ms_accept(p, op))
    return;
  if (op->kind == K_RECV || op->kind == K_ACCEPT)
    op->plain = 1;
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
  io_uring_sqe_set_data64(sqe, ud_of(op));
}

static void on_cqe(evl_proactor *p, cop *op, int res) {
  op->inflight = 0;
  p->ring->nflight--;
  if (op->plain && op->kind == K_RECV && !op->cancelled && op->fd < p->nfds)
    evl__ms_plain_done(p, &p->fds[op->fd], res);
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

/* One CQE of the engine's: its token is the operation's slot + 1. Runs
 * inside the backend's wait on a shared ring, so nothing here may reach the
 * loop (in_ring: results wait in p->done for the reader). */
static void on_token(void *ctx, uint32_t token, int32_t res, uint32_t flags) {
  evl_proactor *p = ctx;
  cop *op = token && token <= p->nslots ? p->slots[token - 1].op : NULL;
  if (!op || !op->inflight)
    return;
  int was = p->in_ring;
  p->in_ring = 1;
  if (op->kind == K_MSRECV || op->kind == K_MSACCEPT) {
    if (!(flags & IORING_CQE_F_MORE)) {
      op->inflight = 0;
      p->ring->nflight--;
    }
    evl__ms_cqe(p, op, res, flags);
  } else {
    on_cqe(p, op, res);
  }
  p->in_ring = was;
}

static void drain(evl_proactor *p) {
  struct io_uring_cqe *cqe;
  while (io_uring_peek_cqe(p->ring->ring, &cqe) == 0) {
    uint64_t ud = io_uring_cqe_get_data64(cqe);
    int res = cqe->res;
    unsigned flags = cqe->flags;
    io_uring_cqe_seen(p->ring->ring, cqe);
    if ((uint32_t)ud == EVL_COMPLETION_UD_LOW) /* else a cancel's own CQE */
      on_token(p, (uint32_t)(ud >> 32), res, flags);
  }
}

/* Completions run straight from here (this is a loop callback already), and
 * what they submit is entered before returning to the loop's wait (own
 * ring) or by that wait (shared). */
static void on_ring(int fd, unsigned events, void *arg) {
  evl_proactor *p = arg;
  struct evl__uring *r = p->ring;
  (void)fd;
  (void)events;
  p->in_ring = 1;
  if (!r->be)
    drain(p);
  evl__run_done(p);
  p->in_ring = 0;
  if (r->be)
    return;
  flush(p);
  if (r->flush_pending && p->ops->cancel(p->loop, r->flush_h) == 0)
    r->flush_pending = 0;
}

/* The reference core's loop over a backend that lends its ring. */
static int share_backend_ring(evl_proactor *p, struct evl__uring *r) {
  if (p->ops->run_once != evl_run_once || p->ops->add_reader != evl_add_reader)
    return -ENOTSUP;
  const evl_backend_ops *be = p->loop->be;
  if (!be || !(be->features & EVL_BF_COMPLETION) ||
      !EVL_HAS_FIELD(evl_backend_ops, be, completion) || !be->completion)
    return -ENOTSUP;
  evl_backend_completion c = {.size = sizeof c, .on_cqe = on_token, .ctx = p};
  int rc = be->completion(p->loop->be_state, &c);
  if (rc < 0)
    return rc;
  if (c.ring_size != sizeof(struct io_uring) || !c.ring || !c.pump) {
    c.on_cqe = NULL;
    be->completion(p->loop->be_state, &c);
    return -ENOTSUP;
  }
  r->ring = c.ring;
  r->fd = c.fd;
  r->be = be;
  r->be_state = p->loop->be_state;
  r->pump = c.pump;
  return 0;
}

static void uring_release(struct evl__uring *r) {
  evl_backend_completion c = {.size = sizeof c};
  if (r->be)
    r->be->completion(r->be_state, &c);
  else
    io_uring_queue_exit(&r->own);
}

int evl__uring_new(evl_proactor *p) {
  struct evl__uring *r = calloc(1, sizeof *r);
  if (!r)
    return -ENOMEM;
  int rc = share_backend_ring(p, r);
  if (rc < 0) {
    rc = io_uring_queue_init(256, &r->own, 0);
    if (rc < 0) {
      free(r);
      return rc;
    }
    r->ring = &r->own;
    r->fd = r->own.ring_fd;
  }
  rc = p->ops->add_reader(p->loop, r->fd, on_ring, p);
  if (rc < 0) {
    uring_release(r);
    free(r);
    return rc;
  }
  p->ring = r;
  /* Multishot recv where the kernel has provided-buffer rings; else (or
   * without memory for the buffers) one recv SQE per operation. */
  (void)evl__ms_init(p);
  return 0;
}

int evl__uring_cancel(evl_proactor *p, cop *op) {
  struct io_uring_sqe *sqe = sqe_for(p);
  if (!sqe)
    return -EBUSY;
  op->cancelled = 1;
  io_uring_prep_cancel64(sqe, ud_of(op), 0);
  io_uring_sqe_set_data64(sqe, 0);
  return 0;
}

void evl__uring_close(evl_proactor *p) {
  struct evl__uring *r = p->ring;
  if (r->flush_pending)
    p->ops->cancel(p->loop, r->flush_h);
  r->flush_pending = 0;
  /* The kernel may write into the caller's buffers until each operation's
   * CQE arrived: cancel each one (a shared ring also holds the backend's
   * requests) and wait for all of them. */
  for (uint32_t i = 0; i < p->nslots; i++) {
    cop *op = p->slots[i].op;
    if (op && op->inflight && !op->cancelled)
      evl__uring_cancel(p, op);
  }
  while (r->nflight > 0) {
    if (r->be) {
      if (r->pump(r->be_state) < 0)
        break;
      continue;
    }
    r->unsubmitted = 0;
    if (io_uring_submit_and_wait(r->ring, 1) < 0)
      break;
    drain(p);
  }
  evl__ms_fini(p);
  p->ops->remove_reader(p->loop, r->fd);
  uring_release(r);
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
