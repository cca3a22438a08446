/* completion_mshot.c — the io_uring engine's recv and accept as one
 * multishot request per fd. Recv fills buffers from a provided-buffer ring:
 * an echo's next recv costs no SQE and no re-armed poll in the kernel;
 * bytes that arrive with no recv pending wait here, in their buffer, for
 * the next one. Accept queues the connections it took until an evl_accept
 * takes them. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "completion_int.h"

#ifdef EVL_HAVE_URING
#include <liburing.h>

#define MS_NBUF 128u         /* a power of two */
#define MS_BUFSZ (16 * 1024) /* bytes per buffer */
#define MS_BGID 0x4576       /* the engine's buffer group on the ring */
/* Receives of at least MS_BIG bytes make the fd's next MS_PLAIN recvs
 * plain ones into the caller's buffer. For large messages the pool costs
 * more than the SQE it saves: each byte is copied twice, a message takes
 * several buffers and completions, and many connections drain the pool
 * (-ENOBUFS ends the requests, and re-arming them became a storm). At
 * 100 connections of 10 KiB, plain recvs served about 1.4x the requests of
 * multishot ones; at 1 KiB multishot stays ahead. */
#define MS_BIG 4096u
#define MS_PLAIN 16u

struct evl__mshot {
  struct io_uring_buf_ring *br;
  char *bufs;
  uint32_t len[MS_NBUF], off[MS_NBUF]; /* a received chunk in buffer i */
  uint16_t next[MS_NBUF];              /* the fd's next chunk, id + 1 */
  int off_for_good; /* the kernel refused a multishot recv (-EINVAL) */
  int accept_off;   /* ... a multishot accept */
  unsigned nfree;   /* buffers the kernel may fill now */
};

static void ms_give_back(evl_proactor *p, unsigned bid) {
  struct evl__mshot *m = p->ms;
  m->nfree++;
  io_uring_buf_ring_add(m->br, m->bufs + (size_t)bid * MS_BUFSZ, MS_BUFSZ,
                        (unsigned short)bid, io_uring_buf_ring_mask(MS_NBUF),
                        0);
  io_uring_buf_ring_advance(m->br, 1);
}

/* The ring and its buffers, registered as group MS_BGID. The kernel's
 * refusal (-EINVAL: no buffer rings) leaves p->ms NULL: plain recvs. */
int evl__ms_init(evl_proactor *p) {
  struct evl__mshot *m = calloc(1, sizeof *m);
  void *br = NULL;
  if (!m || posix_memalign(&br, 4096, MS_NBUF * sizeof(struct io_uring_buf))) {
    free(m);
    return -ENOMEM;
  }
  m->br = br;
  m->bufs = malloc((size_t)MS_NBUF * MS_BUFSZ);
  struct io_uring_buf_reg reg = {.ring_addr = (uint64_t)(uintptr_t)br,
                                 .ring_entries = MS_NBUF,
                                 .bgid = MS_BGID};
  int rc = m->bufs ? io_uring_register_buf_ring(evl__uring_ring(p), &reg, 0)
                   : -ENOMEM;
  if (rc < 0) {
    free(m->bufs);
    free(br);
    free(m);
    return rc;
  }
  io_uring_buf_ring_init(m->br);
  p->ms = m;
  for (unsigned i = 0; i < MS_NBUF; i++)
    ms_give_back(p, i);
  return 0;
}

/* After every request ended (the engine waited for them). */
void evl__ms_fini(evl_proactor *p) {
  struct evl__mshot *m = p->ms;
  if (!m)
    return;
  for (int fd = 0; fd < p->nfds; fd++) {
    cfd *f = &p->fds[fd];
    for (int i = 0; i < f->nacc; i++)
      close(f->acc[i]);
    free(f->acc);
    f->acc = NULL;
    f->nacc = 0;
  }
  io_uring_unregister_buf_ring(evl__uring_ring(p), MS_BGID);
  free(m->bufs);
  free(m->br);
  free(m);
  p->ms = NULL;
}

static int ms_arm(evl_proactor *p, cfd *f, int fd, int kind) {
  cop *ms = calloc(1, sizeof *ms);
  if (!ms)
    return -ENOMEM;
  ms->kind = kind;
  ms->fd = fd;
  int rc = evl__slot_take(p, ms);
  struct io_uring_sqe *sqe = rc == 0 ? evl__uring_sqe(p) : NULL;
  if (!sqe) {
    if (rc == 0)
      evl__slot_drop(p, ms);
    free(ms);
    return rc < 0 ? rc : -EBUSY;
  }
  if (kind == K_MSACCEPT) {
    io_uring_prep_multishot_accept(sqe, fd, NULL, NULL,
                                   SOCK_NONBLOCK | SOCK_CLOEXEC);
    f->msa = ms;
  } else {
    io_uring_prep_recv_multishot(sqe, fd, NULL, 0, 0);
    sqe->flags |= IOSQE_BUFFER_SELECT;
    sqe->buf_group = MS_BGID;
    f->ms = ms;
  }
  evl__uring_set_ud(sqe, ms);
  evl__uring_track(p, ms);
  return 0;
}

/* Up to op->len bytes of the fd's chunks, oldest first, into op's buffer
 * (as one recv would take what the socket holds). */
static ssize_t ms_take(evl_proactor *p, cfd *f, cop *op) {
  struct evl__mshot *m = p->ms;
  size_t got = 0;
  while (f->ch_head && got < op->len) {
    unsigned bid = f->ch_head - 1u;
    size_t n = m->len[bid] - m->off[bid];
    if (n > op->len - got)
      n = op->len - got;
    memcpy(op->buf + got, m->bufs + (size_t)bid * MS_BUFSZ + m->off[bid], n);
    got += n;
    m->off[bid] += (uint32_t)n;
    if (m->off[bid] == m->len[bid]) {
      f->ch_head = m->next[bid];
      if (!f->ch_head)
        f->ch_tail = 0;
      ms_give_back(p, bid);
    }
  }
  return (ssize_t)got;
}

int evl__ms_recv(evl_proactor *p, cop *op) {
  cfd *f = &p->fds[op->fd];
  if (!p->ms || op->plain)
    return 0;
  if (p->ms->off_for_good && !f->ch_head && !f->ms_done && !f->ms)
    return 0;
  if (f->ch_head && op->len) {
    evl__op_finished(p, op, ms_take(p, f, op));
    return 1;
  }
  if (f->ms_done || (f->ch_head && !op->len)) {
    evl__op_finished(p, op, f->ch_head ? 0 : f->ms_res);
    return 1;
  }
  if (f->ms)
    return 1; /* armed: the next chunk serves op */
  /* With most buffers held (many connections, bytes nobody took yet), a
   * new request would end at once with -ENOBUFS: a plain recv instead. */
  if (f->plain_left || p->ms->nfree < MS_NBUF / 4 ||
      ms_arm(p, f, op->fd, K_MSRECV) < 0)
    return 0;
  return 1;
}

int evl__ms_accept(evl_proactor *p, cop *op) {
  cfd *f = &p->fds[op->fd];
  if (!p->ms || (p->ms->accept_off && !f->nacc && !f->acc_err && !f->msa))
    return 0;
  if (f->nacc) {
    int fd = f->acc[0];
    memmove(f->acc, f->acc + 1, (size_t)--f->nacc * sizeof *f->acc);
    evl__op_finished(p, op, fd);
    return 1;
  }
  if (f->acc_err) {
    int err = f->acc_err;
    f->acc_err = 0;
    evl__op_finished(p, op, err);
    return 1;
  }
  if (f->msa)
    return 1;
  return ms_arm(p, f, op->fd, K_MSACCEPT) == 0;
}

/* A connection the fd's multishot accept took: queued for an evl_accept. */
static void ms_accepted(cfd *f, int res) {
  if (f->nacc == f->acc_cap) {
    int cap = f->acc_cap ? f->acc_cap * 2 : 8;
    int *a = realloc(f->acc, (size_t)cap * sizeof *a);
    if (!a) {
      close(res);
      f->acc_err = -ENOMEM;
      return;
    }
    f->acc = a;
    f->acc_cap = cap;
  }
  f->acc[f->nacc++] = res;
}

static void ms_accept_cqe(evl_proactor *p, cop *ms, int res, int more) {
  cfd *f = ms->fd < p->nfds ? &p->fds[ms->fd] : NULL;
  int live = f && f->msa == ms && !ms->cancelled;
  if (res >= 0 && !live)
    close(res); /* for a listening fd closed since */
  else if (res >= 0)
    ms_accepted(f, res);
  else if (live && res == -EINVAL)
    p->ms->accept_off = 1; /* no multishot accept here: plain ones */
  else if (live && res != -ECANCELED)
    f->acc_err = res;
  if (!more) {
    if (live)
      f->msa = NULL;
    evl__slot_drop(p, ms);
    free(ms);
  }
  cop *head = live ? f->q[0].head : NULL;
  if (head && !head->inflight && head->kind == K_ACCEPT)
    evl__uring_start(p, head);
}

void evl__ms_plain_done(evl_proactor *p, cfd *f, ssize_t res) {
  if (!p->ms)
    return;
  if (res >= (ssize_t)MS_BIG)
    f->plain_left = MS_PLAIN;
  else if (f->plain_left)
    f->plain_left--;
}

void evl__ms_cqe(evl_proactor *p, cop *ms, int res, unsigned flags) {
  struct evl__mshot *m = p->ms;
  int more = (flags & IORING_CQE_F_MORE) != 0;
  if (ms->kind == K_MSACCEPT) {
    ms_accept_cqe(p, ms, res, more);
    return;
  }
  cfd *f = ms->fd < p->nfds ? &p->fds[ms->fd] : NULL;
  /* A request of an fd closed since (its number maybe reused) only gives
   * its buffers back. */
  int live = f && f->ms == ms && !ms->cancelled;
  if (res > 0 && (flags & IORING_CQE_F_BUFFER)) {
    unsigned bid = flags >> IORING_CQE_BUFFER_SHIFT;
    m->nfree--;
    if (!live || bid >= MS_NBUF) {
      if (bid < MS_NBUF)
        ms_give_back(p, bid);
    } else {
      m->len[bid] = (uint32_t)res;
      m->off[bid] = 0;
      m->next[bid] = 0;
      if (f->ch_tail)
        m->next[f->ch_tail - 1u] = (uint16_t)(bid + 1);
      else
        f->ch_head = (uint16_t)(bid + 1);
      f->ch_tail = (uint16_t)(bid + 1);
      /* Large messages: end the request (not as a cancel of the fd: what
       * it receives until it ended is still the fd's) and go plain. */
      if ((unsigned)res >= MS_BIG && !f->plain_left && more &&
          evl__uring_cancel(p, ms) == 0)
        ms->cancelled = 0;
      if ((unsigned)res >= MS_BIG)
        f->plain_left = MS_PLAIN;
    }
  } else if (live && res == -ENOBUFS) {
    f->plain_left = MS_PLAIN; /* every buffer is taken: plain recvs */
  } else if (live && res == -EINVAL) {
    m->off_for_good = 1; /* no multishot recv on this kernel */
  } else if (live && res != -ECANCELED) {
    f->ms_done = 1;
    f->ms_res = res;
  }
  if (!more) {
    if (live)
      f->ms = NULL;
    evl__slot_drop(p, ms);
    free(ms);
  }
  if (live && f->q[0].head && !f->q[0].head->inflight &&
      f->q[0].head->kind == K_RECV)
    evl__uring_start(p, f->q[0].head);
}

void evl__ms_forget(evl_proactor *p, int fd) {
  if (!p->ms || fd >= p->nfds)
    return;
  cfd *f = &p->fds[fd];
  if (f->ms && !f->ms->cancelled)
    evl__uring_cancel(p, f->ms);
  f->ms = NULL;
  while (f->ch_head) {
    unsigned bid = f->ch_head - 1u;
    f->ch_head = p->ms->next[bid];
    ms_give_back(p, bid);
  }
  f->ch_tail = 0;
  f->ms_done = f->plain_left = 0;
  f->ms_res = 0;
  if (f->msa && !f->msa->cancelled)
    evl__uring_cancel(p, f->msa);
  f->msa = NULL;
  for (int i = 0; i < f->nacc; i++)
    close(f->acc[i]);
  free(f->acc);
  f->acc = NULL;
  f->nacc = f->acc_cap = f->acc_err = 0;
}

#else

int evl__ms_init(evl_proactor *p) {
  (void)p;
  return -ENOTSUP;
}
void evl__ms_fini(evl_proactor *p) {
  (void)p;
}
int evl__ms_recv(evl_proactor *p, cop *op) {
  (void)p;
  (void)op;
  return 0;
}
int evl__ms_accept(evl_proactor *p, cop *op) {
  (void)p;
  (void)op;
  return 0;
}
void evl__ms_plain_done(evl_proactor *p, cfd *f, ssize_t res) {
  (void)p;
  (void)f;
  (void)res;
}
void evl__ms_cqe(evl_proactor *p, cop *ms, int res, unsigned flags) {
  (void)p;
  (void)ms;
  (void)res;
  (void)flags;
}
void evl__ms_forget(evl_proactor *p, int fd) {
  (void)p;
  (void)fd;
}

#endif
