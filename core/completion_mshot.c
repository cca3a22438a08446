/* completion_mshot.c — the io_uring engine's recv as one multishot request
 * per fd, filling buffers from a provided-buffer ring: an echo's next recv
 * costs no SQE and no re-armed poll in the kernel; bytes that arrive with
 * no recv pending wait here, in their buffer, for the next one. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "completion_int.h"

#ifdef EVL_HAVE_URING
#include <liburing.h>

#define MS_NBUF 128u         /* a power of two */
#define MS_BUFSZ (16 * 1024) /* bytes per buffer */
#define MS_BGID 0x4576       /* the engine's buffer group on the ring */

struct evl__mshot {
  struct io_uring_buf_ring *br;
  char *bufs;
  uint32_t len[MS_NBUF], off[MS_NBUF]; /* a received chunk in buffer i */
  uint16_t next[MS_NBUF];              /* the fd's next chunk, id + 1 */
  int off_for_good; /* the kernel refused a multishot recv (-EINVAL) */
};

static void ms_give_back(evl_proactor *p, unsigned bid) {
  struct evl__mshot *m = p->ms;
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
  io_uring_unregister_buf_ring(evl__uring_ring(p), MS_BGID);
  free(m->bufs);
  free(m->br);
  free(m);
  p->ms = NULL;
}

static int ms_arm(evl_proactor *p, cfd *f, int fd) {
  cop *ms = calloc(1, sizeof *ms);
  if (!ms)
    return -ENOMEM;
  ms->kind = K_MSRECV;
  ms->fd = fd;
  int rc = evl__slot_take(p, ms);
  struct io_uring_sqe *sqe = rc == 0 ? evl__uring_sqe(p) : NULL;
  if (!sqe) {
    if (rc == 0)
      evl__slot_drop(p, ms);
    free(ms);
    return rc < 0 ? rc : -EBUSY;
  }
  io_uring_prep_recv_multishot(sqe, fd, NULL, 0, 0);
  sqe->flags |= IOSQE_BUFFER_SELECT;
  sqe->buf_group = MS_BGID;
  evl__uring_set_ud(sqe, ms);
  evl__uring_track(p, ms);
  f->ms = ms;
  return 0;
}

/* Up to op->len bytes of the fd's oldest chunk into op's buffer. */
static ssize_t ms_take(evl_proactor *p, cfd *f, cop *op) {
  struct evl__mshot *m = p->ms;
  unsigned bid = f->ch_head - 1u;
  size_t n = m->len[bid] - m->off[bid];
  if (n > op->len)
    n = op->len;
  memcpy(op->buf, m->bufs + (size_t)bid * MS_BUFSZ + m->off[bid], n);
  m->off[bid] += (uint32_t)n;
  if (m->off[bid] == m->len[bid]) {
    f->ch_head = m->next[bid];
    if (!f->ch_head)
      f->ch_tail = 0;
    ms_give_back(p, bid);
  }
  return (ssize_t)n;
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
  if (f->nobufs || ms_arm(p, f, op->fd) < 0)
    return 0;
  return 1;
}

void evl__ms_cqe(evl_proactor *p, cop *ms, int res, unsigned flags) {
  struct evl__mshot *m = p->ms;
  int more = (flags & IORING_CQE_F_MORE) != 0;
  cfd *f = ms->fd < p->nfds ? &p->fds[ms->fd] : NULL;
  /* A request of an fd closed since (its number maybe reused) only gives
   * its buffers back. */
  int live = f && f->ms == ms && !ms->cancelled;
  if (res > 0 && (flags & IORING_CQE_F_BUFFER)) {
    unsigned bid = flags >> IORING_CQE_BUFFER_SHIFT;
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
    }
  } else if (live && res == -ENOBUFS) {
    f->nobufs = 1; /* every buffer is taken: a plain recv for now */
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
  f->ms_done = f->nobufs = 0;
  f->ms_res = 0;
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
