/* iouring_ring.c — the iouring backend's io_uring (liburing): probe, setup,
 * fork, wakeups, and lending the ring to the completion engine. */
/*
 * The readiness poller that drives this ring is iouring.c; what both files
 * share is iouring.h.
 *
 * Setup: the newest ring flags the kernel takes (SUBMIT_ALL, COOP_TASKRUN),
 * the CQ sized for twice the expected registrations, IOSQE_CQE_SKIP_SUCCESS
 * for removals where the kernel has it, and an eventfd for wake(), polled
 * (multishot where possible) on the ring.
 *
 * Completion engine (EVL_BF_COMPLETION): the proactor's io_uring engine may
 * put its SQEs on this ring, so its submissions ride in the wait's
 * io_uring_enter. Its CQEs (user_data low half EVL_COMPLETION_UD_LOW) go to
 * its on_cqe during harvest, and the ring's own fd number, which the engine
 * registers as a reader, is reported readable instead of being polled. The
 * engine's pump waits on the ring outside the loop's wait.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "iouring.h"

int evl__iouring_probe(char *why, size_t len) {
  FILE *f = fopen("/proc/sys/kernel/io_uring_disabled", "re");
  int disabled = 0;
  if (f) {
    if (fscanf(f, "%d", &disabled) != 1)
      disabled = 0;
    fclose(f);
  }
  if (disabled == 2) {
    snprintf(why, len, "io_uring is disabled (kernel.io_uring_disabled=2)");
    return -EPERM;
  }
  struct io_uring ring;
  int rc = io_uring_queue_init(2, &ring, 0);
  if (rc == -ENOSYS) {
    snprintf(why, len, "kernel has no io_uring (io_uring_setup: ENOSYS)");
    return rc;
  }
  if (rc == -EPERM) {
    snprintf(why, len,
             "io_uring_setup: EPERM (kernel.io_uring_disabled=%d, or "
             "seccomp)",
             disabled);
    return rc;
  }
  if (rc < 0) {
    snprintf(why, len, "io_uring_setup: %s", strerror(-rc));
    return rc;
  }
  struct io_uring_probe *p = io_uring_get_probe_ring(&ring);
  int ok = p && io_uring_opcode_supported(p, IORING_OP_POLL_ADD) &&
           io_uring_opcode_supported(p, IORING_OP_POLL_REMOVE);
  if (p)
    io_uring_free_probe(p);
  io_uring_queue_exit(&ring);
  if (!ok) {
    snprintf(why, len, "io_uring lacks IORING_OP_POLL_ADD/POLL_REMOVE");
    return -ENOTSUP;
  }
  return 0;
}

static int iouring_open(iouring_state *s, unsigned cq) {
  /* Newest flags first; older kernels refuse unknown ones with EINVAL. */
  static const unsigned flag_sets[] = {
      IORING_SETUP_CQSIZE | IORING_SETUP_SUBMIT_ALL | IORING_SETUP_COOP_TASKRUN,
      IORING_SETUP_CQSIZE, 0};
  int rc = -EINVAL;
  for (size_t i = 0; i < sizeof(flag_sets) / sizeof(flag_sets[0]); i++) {
    struct io_uring_params p;
    memset(&p, 0, sizeof(p));
    p.flags = flag_sets[i];
    p.cq_entries = cq;
    rc = io_uring_queue_init_params(256, &s->ring, &p);
    if (rc != -EINVAL)
      break;
  }
  if (rc < 0)
    return rc;
  s->ring_ok = 1;
  s->multishot_ok = 1;
  s->skip_flags =
      (s->ring.features & IORING_FEAT_CQE_SKIP) ? IOSQE_CQE_SKIP_SUCCESS : 0;
  s->overflow_seen = IO_URING_READ_ONCE(*s->ring.cq.koverflow);
  s->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (s->wake_fd < 0) {
    rc = -errno;
    io_uring_queue_exit(&s->ring);
    s->ring_ok = 0;
    return rc;
  }
  return 0;
}

int evl__iouring_init(void *state, const evl_backend_config *cfg) {
  iouring_state *s = state;
  unsigned cq = 4096;
  int expected = cfg && cfg->size >= sizeof(*cfg) ? cfg->expected_fds : 0;
  while (expected > 0 && cq < 2u * (unsigned)expected && cq < 65536)
    cq *= 2;
  return iouring_open(s, cq);
}

/* After fork the ring is shared with the parent: requests either process
 * submits complete in the one CQ, so each would reap (and lose) the
 * other's events, and the child's wake would wake the parent. The child
 * gets a ring of its own and arms every registration there afresh; its
 * copy of the old ring is only unmapped (closing its fd cancels nothing
 * while the parent holds the ring). */
int evl__iouring_after_fork(void *state) {
  iouring_state *s = state;
  if (!s->ring_ok)
    return -EINVAL;
  struct io_uring old = s->ring;
  int old_wake = s->wake_fd;
  int rc = iouring_open(s, old.cq.ring_entries);
  if (rc < 0) {
    s->ring = old;
    s->wake_fd = old_wake;
    return rc;
  }
  io_uring_queue_exit(&old);
  close(old_wake);
  s->wake_gen = 0;
  s->ndirty = 0;
  s->ncarry = 0;
  for (int fd = 0; fd < s->nregs; fd++) {
    iouring_reg *r = &s->regs[fd];
    r->inflight = r->multishot = r->dirty = r->carried = 0;
    r->pending = 0;
    if (r->mask && !r->idle && (rc = evl__iouring_mark_dirty(s, r, fd)) < 0)
      return rc;
  }
  return 0;
}

void evl__iouring_fini(void *state) {
  iouring_state *s = state;
  if (s->ring_ok) {
    io_uring_queue_exit(&s->ring); /* cancels every request */
    close(s->wake_fd);
  }
  free(s->regs);
  free(s->dirty);
  free(s->carry);
  memset(s, 0, sizeof(*s));
}

int evl__iouring_wake(void *state) {
  iouring_state *s = state;
  return wrap_eventfd_wake(s->wake_fd);
}

void evl__iouring_wake_cqe(iouring_state *s, struct io_uring_cqe *cqe) {
  uint64_t v;
  /* Nonblocking: EAGAIN only means another CQE already drained it. */
  while (read(s->wake_fd, &v, sizeof(v)) == (ssize_t)sizeof(v))
    ;
  s->woken = 1;
  if (cqe->res == -EINVAL && s->multishot_ok)
    s->multishot_ok = 0;
  if (!(cqe->flags & IORING_CQE_F_MORE))
    s->wake_gen = 0; /* re-armed by the next flush */
}

/* Waits for a CQE outside the loop's wait: the engine's are delivered, the
 * backend's own are consumed onto the carry list (cap 0: nothing fits), as
 * K4 keeps them for the next wait, and a wakeup is remembered. */
static int iouring_pump(void *state) {
  iouring_state *s = state;
  evl_event none;
  int rc = io_uring_submit_and_wait(&s->ring, 1);
  if (rc < 0 && rc != -EINTR && rc != -EBUSY && rc != -EAGAIN && rc != -ETIME)
    return rc;
  evl__iouring_harvest(s, &none, 0, 0);
  s->woken_early |= s->woken;
  return 0;
}

int evl__iouring_completion(void *state, evl_backend_completion *c) {
  iouring_state *s = state;
  if (!s->ring_ok || !c || c->size < sizeof(*c))
    return -EINVAL;
  if (!c->on_cqe) {
    s->c_cqe = NULL;
    s->c_ctx = NULL;
    s->c_ready = 0;
    return 0;
  }
  if (s->c_cqe)
    return -EBUSY;
  s->c_cqe = c->on_cqe;
  s->c_ctx = c->ctx;
  c->ring = &s->ring;
  c->ring_size = sizeof(s->ring);
  c->fd = s->ring.ring_fd;
  c->pump = iouring_pump;
  return 0;
}
