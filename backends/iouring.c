/* iouring.c — selector backend on io_uring poll requests (liburing). */
/*
 * This file is the readiness poller: the registration table, arming and
 * removing polls, harvesting CQEs. The ring's setup, fork re-init, wakeups
 * and its lending to the completion engine (EVL_BF_COMPLETION, whose CQEs
 * harvest hands to the engine) are iouring_ring.c; iouring.h is shared.
 *
 * How readiness is kept level-triggered (K3). A multishot poll only posts a
 * CQE when the file's wait queue is woken, so unread data that arrived
 * before the last report would never be reported again. Instead every
 * level-triggered registration holds one one-shot IORING_OP_POLL_ADD; when
 * it completes the fd is reported and the request is re-armed at the start
 * of the next wait. A poll armed on a still-ready file completes at once
 * (inside the submitting io_uring_enter), so unread data is reported on
 * every wait, and a drained fd costs nothing until it is woken again.
 * Multishot polls (IORING_POLL_ADD_MULTI) are used where they are the right
 * tool: for EVL_ET registrations, whose contract is "report new wakeups",
 * and for the internal wake eventfd. A multishot request the kernel ends
 * (a CQE without IORING_CQE_F_MORE) is re-armed; a kernel without multishot
 * (-EINVAL) makes the state fall back to one-shot requests for good.
 *
 * Stale completions (K6). Every request carries user_data = gen << 32 | fd
 * with a per-ring generation that is never reused while a request can be in
 * flight. A CQE is reported only when its fd's registration still names
 * that very request, so completions for removed or modified registrations
 * (-ECANCELED, or a poll that fired just before its removal), and for a
 * closed fd whose number came back, are dropped. Removals post their own
 * CQEs (0, -ENOENT, -EALREADY) under user_data 0, which is ignored.
 *
 * Batching: ctl edits the table and queues at most a POLL_REMOVE; polls
 * are armed in wait, and everything reaches the kernel there in one
 * io_uring_enter where possible. A full SQ is submitted early and the SQE
 * retried. A modify is a remove of the old request plus a new one.
 *
 * More completions than the core's array holds (K4): all are consumed, one
 * entry per fd and wait; the fds that did not fit go on a carry list that
 * the next wait serves first. A carried one-shot fd is polled afresh rather
 * than reported from its old CQE, so a drained fd is not reported; carried
 * multishot (EVL_ET) events are kept and reported as they are.
 *
 * Regular files have no poll method: a poll on one completes at once with
 * POLLIN|POLLOUT, so they are accepted and always ready (EVL_BF_FILES).
 *
 * CQ overflow: the CQ is sized for twice the expected registrations and
 * kernels with IORING_FEAT_NODROP keep overflowed CQEs; should the kernel
 * still drop some (koverflow grows), every registration is re-armed so no
 * readiness is lost.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <string.h>

#include "iouring.h"

#define IOURING_CTL_MASK                                                       \
  (EVL_READ | EVL_WRITE | EVL_RDHUP | EVL_ET | EVL_ONESHOT)

static uint32_t iouring_gen(iouring_state *s) {
  /* 0 and 0xffffffff are reserved (ignored CQEs, liburing's timeout). */
  if (++s->next_gen == 0xffffffffu)
    s->next_gen = 1;
  return s->next_gen;
}

static uint64_t iouring_ud(uint32_t gen, uint32_t fd) {
  return (uint64_t)gen << 32 | fd;
}

/* An SQE, submitting what is queued when the SQ is full. */
static int iouring_sqe(iouring_state *s, struct io_uring_sqe **out) {
  for (int tries = 0; tries < 8; tries++) {
    struct io_uring_sqe *sqe = io_uring_get_sqe(&s->ring);
    if (sqe) {
      *out = sqe;
      return 0;
    }
    int rc = io_uring_submit(&s->ring);
    if (rc < 0 && rc != -EINTR && rc != -EAGAIN && rc != -EBUSY)
      return rc;
  }
  return -EAGAIN;
}

static unsigned iouring_poll_mask(uint32_t mask) {
  unsigned pm = 0;
  if (mask & EVL_READ)
    pm |= POLLIN | POLLRDHUP;
  if (mask & EVL_WRITE)
    pm |= POLLOUT;
  if (mask & EVL_RDHUP)
    pm |= POLLRDHUP;
  return pm;
}

static int iouring_arm(iouring_state *s, iouring_reg *r, int fd) {
  if (s->c_cqe && fd == s->ring.ring_fd)
    return 0; /* the engine's fd: reported from its CQEs, never polled */
  struct io_uring_sqe *sqe;
  int rc = iouring_sqe(s, &sqe);
  if (rc < 0)
    return rc;
  int multi = (r->mask & EVL_ET) && !(r->mask & EVL_ONESHOT) && s->multishot_ok;
  if (multi)
    io_uring_prep_poll_multishot(sqe, fd, iouring_poll_mask(r->mask));
  else
    io_uring_prep_poll_add(sqe, fd, iouring_poll_mask(r->mask));
  r->gen = iouring_gen(s);
  io_uring_sqe_set_data64(sqe, iouring_ud(r->gen, (uint32_t)fd));
  r->inflight = 1;
  r->multishot = (uint8_t)multi;
  return 0;
}

/* Queue the removal of r's request; its completion becomes stale at once. */
static int iouring_cancel(iouring_state *s, iouring_reg *r, int fd) {
  if (!r->inflight)
    return 0;
  struct io_uring_sqe *sqe;
  int rc = iouring_sqe(s, &sqe);
  if (rc < 0)
    return rc;
  io_uring_prep_poll_remove(sqe, iouring_ud(r->gen, (uint32_t)fd));
  io_uring_sqe_set_data64(sqe, 0);
  sqe->flags |= s->skip_flags;
  r->inflight = 0;
  return 0;
}

static int iouring_arm_wake(iouring_state *s) {
  struct io_uring_sqe *sqe;
  int rc = iouring_sqe(s, &sqe);
  if (rc < 0)
    return rc;
  if (s->multishot_ok)
    io_uring_prep_poll_multishot(sqe, s->wake_fd, POLLIN);
  else
    io_uring_prep_poll_add(sqe, s->wake_fd, POLLIN);
  s->wake_gen = iouring_gen(s);
  io_uring_sqe_set_data64(sqe, iouring_ud(s->wake_gen, IOURING_WAKE_FD));
  return 0;
}

static int iouring_push(int **list, int *n, int *cap, int fd) {
  int rc = wrap_reserve(list, cap, *n + 1, sizeof(**list));
  if (rc == 0)
    (*list)[(*n)++] = fd;
  return rc;
}

int evl__iouring_mark_dirty(iouring_state *s, iouring_reg *r, int fd) {
  if (r->dirty)
    return 0;
  int rc = iouring_push(&s->dirty, &s->ndirty, &s->dirty_cap, fd);
  if (rc == 0)
    r->dirty = 1;
  return rc;
}

/* Arm every registration that has no request: new, modified, reported. */
static int iouring_flush(iouring_state *s) {
  int rc = 0;
  if (!s->wake_gen && (rc = iouring_arm_wake(s)) < 0)
    return rc;
  /* Fds that fired beyond the last cap go first, re-polled afresh: their
   * old completion may be stale by now, and arming them ahead of the rest
   * puts their new CQEs first in the CQ (K4 without stale readiness). */
  int k = 0, j = 0;
  for (; j < s->ncarry && rc == 0; j++) {
    int fd = s->carry[j];
    iouring_reg *r = &s->regs[fd];
    if (r->mask && r->pending) {
      s->carry[k++] = fd; /* multishot: still armed, reported next */
      continue;
    }
    r->carried = 0;
    r->pending = 0;
    if (r->mask && !r->inflight && !r->idle)
      rc = iouring_arm(s, r, fd);
  }
  if (rc < 0) {
    s->regs[s->carry[j - 1]].carried = 1;
    s->carry[k++] = s->carry[j - 1];
  }
  for (; j < s->ncarry; j++)
    s->carry[k++] = s->carry[j];
  s->ncarry = k;
  if (rc < 0)
    return rc;
  int i = 0;
  for (; i < s->ndirty && rc == 0; i++) {
    int fd = s->dirty[i];
    iouring_reg *r = &s->regs[fd];
    r->dirty = 0;
    if (r->mask && !r->inflight && !r->idle)
      rc = iouring_arm(s, r, fd);
  }
  if (rc < 0) {
    /* Keep the rest (and the failed one) for the next try. */
    i--;
    s->regs[s->dirty[i]].dirty = 1;
    memmove(s->dirty, s->dirty + i, (size_t)(s->ndirty - i) * sizeof(int));
    s->ndirty -= i;
    return rc;
  }
  s->ndirty = 0;
  return 0;
}

static uint32_t iouring_events(uint32_t mask, int res) {
  uint32_t ev = 0;
  if ((res & (POLLIN | POLLPRI)) && (mask & EVL_READ))
    ev |= EVL_READ;
  if ((res & POLLOUT) && (mask & EVL_WRITE))
    ev |= EVL_WRITE;
  if (res & POLLRDHUP)
    ev |= EVL_RDHUP;
  if (res & (POLLERR | POLLNVAL))
    ev |= EVL_ERR;
  if (res & POLLHUP)
    ev |= EVL_HUP;
  if (ev & (EVL_ERR | EVL_HUP))
    ev |= mask & (EVL_READ | EVL_WRITE);
  return ev;
}

/* Multishot events carried from the last wait, oldest first. */
static int iouring_take_pending(iouring_state *s, evl_event *out, int cap) {
  int n = 0, k = 0;
  for (int j = 0; j < s->ncarry; j++) {
    int fd = s->carry[j];
    iouring_reg *r = &s->regs[fd];
    if (!r->mask || !r->pending) {
      r->carried = 0;
      r->pending = 0;
      continue;
    }
    if (n == cap) {
      s->carry[k++] = fd;
      continue;
    }
    wrap_slot_append(out, &n, &r->out, s->stamp, fd, r->pending);
    r->carried = 0;
    r->pending = 0;
  }
  s->ncarry = k;
  return n;
}

/* Lost CQEs would leave one-shot requests completed but never re-armed. */
static void iouring_check_overflow(iouring_state *s) {
  unsigned ov = IO_URING_READ_ONCE(*s->ring.cq.koverflow);
  if (ov == s->overflow_seen)
    return;
  s->overflow_seen = ov;
  for (int fd = 0; fd < s->nregs; fd++) {
    iouring_reg *r = &s->regs[fd];
    if (r->mask && !r->idle && iouring_cancel(s, r, fd) == 0)
      (void)evl__iouring_mark_dirty(s, r, fd);
  }
  /* The wake request may have lost its CQE too: replace it. */
  struct io_uring_sqe *sqe;
  if (s->wake_gen && iouring_sqe(s, &sqe) == 0) {
    io_uring_prep_poll_remove(sqe, iouring_ud(s->wake_gen, IOURING_WAKE_FD));
    io_uring_sqe_set_data64(sqe, 0);
    sqe->flags |= s->skip_flags;
    s->wake_gen = 0;
  }
}

/* The engine's fd, once per wait that delivered its CQEs (or the next
 * one with room). */
static int iouring_report_completion(iouring_state *s, evl_event *out, int cap,
                                     int n) {
  int fd = s->ring.ring_fd;
  if (!s->c_ready || n == cap)
    return n;
  s->c_ready = 0;
  if (fd < s->nregs && (s->regs[fd].mask & EVL_READ))
    wrap_slot_append(out, &n, &s->regs[fd].out, s->stamp, fd, EVL_READ);
  return n;
}

/*
 * Move completions into out[0..cap), merging per fd. What does not fit
 * goes on the carry list, which the next wait serves first (K4).
 */
int evl__iouring_harvest(iouring_state *s, evl_event *out, int cap, int n) {
  struct io_uring_cqe *cqe;
  while (io_uring_peek_cqe(&s->ring, &cqe) == 0) {
    uint64_t ud = io_uring_cqe_get_data64(cqe);
    uint32_t gen = (uint32_t)(ud >> 32), fd = (uint32_t)ud;
    if (gen == 0) {
      io_uring_cqe_seen(&s->ring, cqe);
      continue;
    }
    if (fd == EVL_COMPLETION_UD_LOW) {
      int32_t res = cqe->res;
      uint32_t flags = cqe->flags;
      io_uring_cqe_seen(&s->ring, cqe);
      if (s->c_cqe) {
        s->c_cqe(s->c_ctx, gen, res, flags);
        s->c_ready = 1;
      }
      continue;
    }
    if (fd == IOURING_WAKE_FD) {
      if (gen == s->wake_gen)
        evl__iouring_wake_cqe(s, cqe);
      io_uring_cqe_seen(&s->ring, cqe);
      continue;
    }
    iouring_reg *r = fd < (uint32_t)s->nregs ? &s->regs[fd] : NULL;
    if (!r || !r->mask || !r->inflight || r->gen != gen) {
      io_uring_cqe_seen(&s->ring, cqe); /* stale: K6 */
      continue;
    }
    int res = cqe->res;
    uint32_t ev = 0;
    if (res >= 0)
      ev = iouring_events(r->mask, res);
    else if (res == -EINVAL && r->multishot && s->multishot_ok)
      s->multishot_ok = 0; /* no multishot poll here: re-armed one-shot */
    else if (res != -ECANCELED)
      ev = EVL_ERR | (r->mask & (EVL_READ | EVL_WRITE));
    int more = (cqe->flags & IORING_CQE_F_MORE) != 0;
    int at = wrap_slot_find(&r->out, s->stamp);
    int merge = at >= 0 && at < n && out[at].fd == (int)fd;
    if (ev && !merge && (n == cap || r->carried)) {
      /* No room: consume it anyway and remember the fd, oldest first. A
       * one-shot fd is re-polled at the next wait rather than reported
       * from this CQE, which may be stale by then. */
      if (!r->carried &&
          iouring_push(&s->carry, &s->ncarry, &s->carry_cap, (int)fd) < 0)
        break; /* the CQE stays for the next wait */
      r->carried = 1;
      if (more)
        r->pending |= ev;
      else
        r->inflight = 0;
      io_uring_cqe_seen(&s->ring, cqe);
      continue;
    }
    /* A failed request (closed fd) would fail again at once: report it
     * once and wait for the next ctl, as oneshot interest does. */
    int idle = ev && ((r->mask & EVL_ONESHOT) || res < 0);
    if (!more && !idle && evl__iouring_mark_dirty(s, r, (int)fd) < 0)
      break; /* the CQE stays for the next wait */
    if (!more) {
      r->inflight = 0;
      r->idle = (uint8_t)idle;
    }
    io_uring_cqe_seen(&s->ring, cqe);
    if (!ev)
      continue;
    if (merge)
      out[at].events |= ev;
    else
      wrap_slot_append(out, &n, &r->out, s->stamp, (int)fd, ev);
  }
  iouring_check_overflow(s);
  return iouring_report_completion(s, out, cap, n);
}

static int iouring_ctl(void *state, int fd, unsigned old_mask,
                       unsigned new_mask) {
  iouring_state *s = state;
  (void)old_mask; /* the table is the truth: it also knows idle requests */
  int rc = wrap_ctl_check(fd, new_mask, IOURING_CTL_MASK);
  if (rc < 0)
    return rc;
  iouring_reg *r = fd < s->nregs ? &s->regs[fd] : NULL;
  int registered = r && r->mask;
  if (!(new_mask & (EVL_READ | EVL_WRITE))) {
    if (!registered)
      return -ENOENT;
    rc = iouring_cancel(s, r, fd);
    if (rc < 0)
      return rc;
    r->mask = 0;
    r->idle = 0;
    r->pending = 0; /* a carried entry is dropped by the next wait */
    return 0;
  }
  if (!registered) {
    /* A poll on a bad fd would only fail later, as a CQE. */
    if (fcntl(fd, F_GETFD) < 0)
      return -errno;
    rc = wrap_reserve(&s->regs, &s->nregs, fd + 1, sizeof(*s->regs));
    if (rc < 0)
      return rc;
    r = &s->regs[fd];
  }
  /* Dirty first: a failure below then leaves the old registration whole. */
  rc = evl__iouring_mark_dirty(s, r, fd);
  if (rc < 0)
    return rc;
  /* Same mask too: the core asks again when the number may name another
   * file now (closed without removal, reused), and a poll in flight on the
   * old file would report its hang-up under the new watcher. */
  if (registered) {
    rc = iouring_cancel(s, r, fd);
    if (rc < 0)
      return rc;
    r->pending = 0;
  }
  r->mask = new_mask;
  r->idle = 0;
  return 0;
}

static int iouring_forget_fd(void *state, int fd) {
  return wrap_forgotten(iouring_ctl(state, fd, 0, 0));
}

static int iouring_wait(void *state, int64_t timeout_ns, evl_event *out,
                        int cap) {
  iouring_state *s = state;
  if (wrap_bad_out(out, cap))
    return -EINVAL;
  s->stamp++;
  s->woken = s->woken_early;
  s->woken_early = 0;
  int64_t deadline = wrap_deadline(timeout_ns);
  int n = 0;
  for (int round = 0;; round++) {
    /* Also re-arms what a round without reportable events completed. */
    int rc = iouring_flush(s);
    if (rc < 0)
      return rc;
    if (round == 0)
      n = iouring_report_completion(s, out, cap,
                                    iouring_take_pending(s, out, cap));
    if (timeout_ns == 0 || s->woken || n > 0) {
      rc = io_uring_submit_and_get_events(&s->ring);
    } else if (timeout_ns < 0) {
      rc = io_uring_submit_and_wait(&s->ring, 1);
    } else {
      int64_t left = wrap_left(deadline);
      if (left == 0) {
        rc = io_uring_submit_and_get_events(&s->ring);
        timeout_ns = 0; /* last round */
      } else {
        struct __kernel_timespec ts = {.tv_sec = left / 1000000000,
                                       .tv_nsec = left % 1000000000};
        struct io_uring_cqe *cqe;
        rc = io_uring_submit_and_wait_timeout(&s->ring, &cqe, 1, &ts, NULL);
      }
    }
    /* ETIME: timed out; EINTR: a signal, which is 0 events (K2); EBUSY and
     * EAGAIN: the kernel could not take more now, completions still come. */
    if (rc < 0 && rc != -ETIME && rc != -EINTR && rc != -EBUSY && rc != -EAGAIN)
      return rc;
    n = evl__iouring_harvest(s, out, cap, n);
    if (n > 0 || s->woken || timeout_ns == 0 || rc == -EINTR || n == cap)
      return n;
    if (rc == -ETIME && wrap_now() >= deadline)
      return 0;
  }
}

static const evl_backend_ops iouring_ops = {
    .abi = EVL_BACKEND_ABI,
    .size = sizeof(evl_backend_ops),
    .name = "iouring",
    .description = "io_uring IORING_OP_POLL_ADD (liburing): one-shot polls "
                   "re-armed per report, multishot for EVL_ET",
    .features = EVL_BF_O1 | EVL_BF_FDS | EVL_BF_FILES | EVL_BF_RDHUP |
                EVL_BF_ET | EVL_BF_ONESHOT | EVL_BF_BATCHED |
                EVL_BF_FORK_REINIT | EVL_BF_COMPLETION,
    .fd_limit = 0,
    .resolution_ns = 1,
    .state_size = sizeof(iouring_state),
    .priority = 0,
    .probe = evl__iouring_probe,
    .init = evl__iouring_init,
    .fini = evl__iouring_fini,
    .ctl = iouring_ctl,
    .wait = iouring_wait,
    .forget_fd = iouring_forget_fd,
    .after_fork = evl__iouring_after_fork,
    .wake = evl__iouring_wake,
    .completion = evl__iouring_completion,
};

const evl_backend_ops *evl_backend_plugin(void) {
  return &iouring_ops;
}
