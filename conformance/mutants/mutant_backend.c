/* mutant_backend.c — a backend plugin with one deliberate bug (-DMUTANT=name,
 * a BACKEND row of list_mutants.h) or one difference the contract allows
 * (-DVARIANT=name, a BACKEND row of list_variants.h), for the K-rules.
 * A URING row wraps the io_uring backend instead and lends its ring to the
 * proactor's engine (EVL_BF_COMPLETION) through the wrapper, whose bug sits
 * between the ring and the engine, for the P-rules.
 *
 * It wraps the built-in epoll backend (its own copy, from libevl.a) and adds
 * a wake() of its own (an eventfd registered with epoll and never
 * reported), so that each bug sits in a few lines of this wrapper, marked
 * ON(name), as a backend written on top of epoll would have it. Without a
 * bug it passes the whole K-suite and the S-suite of the reference core
 * over it. */
#define _GNU_SOURCE /* liburing.h */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <evl/backend.h>

#include "mutant.h"

/* The URING rows: the engine's SQEs are read (never changed but by a bug)
 * before they are entered, to know each token's operation; only the
 * layout of liburing's struct io_uring is used, no function of it. */
#define KM_URING_ROW(name, base, ...) || (M_THIS == M_##name && M_B_##base)
enum { M_B_SAMPLE = 0, M_B_REF = 0, M_B_BACKEND = 0, M_B_URING = 1 };
#define KM_URING (0 EVL_MUTANT_LIST(KM_URING_ROW))
#if __has_include(<liburing.h>)
#include <liburing.h>
#define KM_HAVE_URING 1
#else
#define KM_HAVE_URING 0
#endif

/* What the engine asked of one token (its last SQE). */
typedef struct km_op {
  uint32_t token;
  uint8_t opcode;
  uint32_t len;
} km_op;

/* Events taken from epoll per wait by the rows that batch. */
enum { KM_BATCH = 256 };
/* reg[]: a closed fd already reported (closed_reported_err). */
enum { KM_TOLD = 0x80 };

typedef struct km_state {
  const evl_backend_ops *in;
  void *in_state;
  int wakefd;
  /* held_back_kept, batch_purged: entries taken from epoll beyond cap,
   * reported by the next waits before epoll is asked again. */
  evl_event held[KM_BATCH];
  int nheld;
  /* The fds registered: their EVL_READ|EVL_WRITE interest (after_fork_deletes
   * deletes them all, closed_reported_err looks for closed ones), KM_TOLD
   * once closed_reported_err reported one closed; maxreg the highest. */
  unsigned char reg[4096];
  int maxreg;
  /* delete_gone_enoent: the file each registered number was last added or
   * modified for. */
  struct {
    dev_t dev;
    ino_t ino;
  } file[4096];
  /* URING rows: the engine attached through the wrapper. */
  void (*eng_cqe)(void *ctx, uint32_t token, int32_t res, uint32_t flags);
  void *eng_ctx;
  void *ring;
  int (*in_pump)(void *state);
  km_op ops[1024];
} km_state;

static int km_init(void *state, const evl_backend_config *cfg) {
  km_state *s = state;
  char err[160];
  int rc = evl_backend_lookup(KM_URING ? "iouring" : "epoll", &s->in, err,
                              sizeof err);
  if (rc < 0)
    return rc;
  s->in_state = calloc(1, s->in->state_size);
  if (!s->in_state)
    return -ENOMEM;
  if ((rc = s->in->init(s->in_state, cfg)) < 0)
    goto fail_free;
  s->wakefd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (s->wakefd < 0) {
    rc = -errno;
    goto fail_fini;
  }
  if ((rc = s->in->ctl(s->in_state, s->wakefd, 0, EVL_READ)) < 0) {
    close(s->wakefd);
    goto fail_fini;
  }
  return 0;
fail_fini:
  s->in->fini(s->in_state);
fail_free:
  free(s->in_state);
  return rc;
}

static void km_fini(void *state) {
  km_state *s = state;
  s->in->fini(s->in_state);
  free(s->in_state);
  close(s->wakefd);
}

/* Is the registered number fd now another file than the one last given to
 * ctl (closed, then reused by an open or a pipe)? */
static int km_reused(km_state *s, int fd) {
  struct stat st;
  if (fd < 0 || fd >= (int)sizeof s->reg || !s->reg[fd] || fstat(fd, &st) < 0)
    return 0;
  return st.st_dev != s->file[fd].dev || st.st_ino != s->file[fd].ino;
}

static int km_ctl(void *state, int fd, unsigned old_mask, unsigned new_mask) {
  km_state *s = state;
  if (fd == s->wakefd)
    return -EEXIST; /* ours; K12 asks for an error, not a takeover */
  int del = !(new_mask & (EVL_READ | EVL_WRITE));
  if (ON(close_skips_delete) && del && fcntl(fd, F_GETFD) < 0)
    /* BUG: "closing an fd removes it from epoll": the delete of a closed
     * number is skipped, but a dup keeps the file and its registration. */
    return 0;
  int reused = ON(delete_gone_enoent) && del && km_reused(s, fd);
  if (ON(fd_limit_off_by_one) && fd > 1024) /* BUG: fd 1024 itself passes */
    return -ERANGE;
  if (ON(fixed_fd_table) && fd >= 8192 && (new_mask & (EVL_READ | EVL_WRITE)))
    return -ERANGE; /* BUG: a table of 8192 fds, fd_limit says none */
  if (ON(et_always) && (new_mask & (EVL_READ | EVL_WRITE)))
    new_mask |= EVL_ET; /* BUG: edge-triggered whatever was asked */
  int rc = s->in->ctl(s->in_state, fd, old_mask, new_mask);
  if (ON(delete_enoent_ok) && rc == -ENOENT)
    rc = 0; /* BUG: "not registered" taken as "already gone" */
  if (ON(ctl_warns) && rc < 0)
    /* BUG: the failure told on stderr, as libevent's event_warn does */
    fprintf(stderr, "[warn] Epoll ADD(%u) on fd %d failed: %s\n", new_mask, fd,
            strerror(-rc));
  int was = fd >= 0 && fd < (int)sizeof s->reg && s->reg[fd];
  if ((rc == 0 || (del && was)) && fd >= 0 && fd < (int)sizeof s->reg) {
    s->reg[fd] = (unsigned char)(new_mask & (EVL_READ | EVL_WRITE));
    if (fd > s->maxreg)
      s->maxreg = fd;
    struct stat st;
    if (!del && fstat(fd, &st) == 0) {
      s->file[fd].dev = st.st_dev;
      s->file[fd].ino = st.st_ino;
    }
  }
  /* The variants: a delete of a registered number since closed answers as
   * the kernel would, or not at all; either way nothing stays registered. */
  if (ON(delete_closed_ok) && del && was && rc == -EBADF)
    rc = 0; /* libevent: EBADF on EPOLL_CTL_DEL means already gone */
  if (ON(delete_gone_enoent) && del && was && (reused || rc == -EBADF))
    rc = -ENOENT; /* nothing left in the kernel for that number */
  if (rc == 0 && ON(batch_purged) && !(new_mask & (EVL_READ | EVL_WRITE))) {
    /* The variant: a deleted fd's held entries are dropped (K6). */
    int k = 0;
    for (int i = 0; i < s->nheld; i++)
      if (s->held[i].fd != fd)
        s->held[k++] = s->held[i];
    s->nheld = k;
  }
  return rc;
}

static int64_t km_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int km_wait_in_once(km_state *s, int64_t timeout_ns, evl_event *out,
                           int cap);

/* The wait as the wrapper's author would write it: the wake eventfd is
 * drained and never reported. */
static int km_wait_in(km_state *s, int64_t timeout_ns, evl_event *out,
                      int cap) {
  if (timeout_ns > 0 && ON(timeout_floor_ms))
    timeout_ns -= timeout_ns % 1000000; /* BUG: whole ms, rounded down */
  if (timeout_ns > 0 && ON(deadline_overflow)) {
    /* BUG: the deadline wraps for huge timeouts and is then in the past. */
    int64_t now = km_now();
    int64_t deadline = (int64_t)((uint64_t)now + (uint64_t)timeout_ns);
    timeout_ns = deadline > now ? deadline - now : 0;
  }
  if (timeout_ns > 0 && ON(submillis_spin)) {
    /* BUG: waits of whole ms until the deadline; a sub-ms remainder is
     * retried at 0 until it is due. */
    int64_t deadline = km_now() + timeout_ns;
    for (;;) {
      int64_t left = deadline - km_now();
      if (left <= 0)
        return 0;
      int n = km_wait_in_once(s, left - left % 1000000, out, cap);
      if (n != 0)
        return n;
    }
  }
  return km_wait_in_once(s, timeout_ns, out, cap);
}

static void km_note_sqes(km_state *s);

static int km_wait_in_once(km_state *s, int64_t timeout_ns, evl_event *out,
                           int cap) {
  km_note_sqes(s);
  if (ON(wake_drained_first)) {
    /* BUG: the wake eventfd emptied before the wait "to start clean": a
     * wake() that came just before it is lost. */
    uint64_t v;
    while (read(s->wakefd, &v, sizeof v) > 0)
      ;
  }
  errno = 0;
  int n = s->in->wait(s->in_state, timeout_ns, out, cap);
  if (ON(eintr_returned) && n == 0 && errno == EINTR)
    return -EINTR; /* the variant: backend.h allows -EINTR */
  if (n < 0)
    return n;
  int k = 0;
  for (int i = 0; i < n; i++) {
    if (out[i].fd == s->wakefd) {
      uint64_t v;
      while (read(s->wakefd, &v, sizeof v) > 0)
        ;
      continue;
    }
    out[k++] = out[i];
  }
  if (ON(wake_entry_counted))
    return n; /* BUG: epoll's count, not the count kept */
  return k;
}

/* closed_reported_err: a registered fd found closed at a wait is reported
 * once, EVL_ERR with its registered directions, as poll's POLLNVAL is
 * (once: the caller is told, then left alone until its next ctl). */
static int km_wait_closed(km_state *s, int64_t timeout_ns, evl_event *out,
                          int cap) {
  int closed[64], nclosed = 0;
  for (int fd = 0; fd <= s->maxreg && nclosed < 64; fd++)
    if (s->reg[fd] && !(s->reg[fd] & KM_TOLD) && fcntl(fd, F_GETFD) < 0)
      closed[nclosed++] = fd;
  int n = km_wait_in(s, nclosed ? 0 : timeout_ns, out, cap);
  if (n < 0)
    return n;
  for (int i = 0; i < nclosed; i++) {
    int fd = closed[i], j = 0;
    while (j < n && out[j].fd != fd) /* a dup's file may still report it */
      j++;
    if (j == n && n == cap)
      continue; /* no room: the next wait tells it */
    if (j == n)
      out[n++] = (evl_event){.fd = fd, .events = 0};
    out[j].events |= EVL_ERR | (s->reg[fd] & (EVL_READ | EVL_WRITE));
    s->reg[fd] |= KM_TOLD;
  }
  return n;
}

static int km_wait(void *state, int64_t timeout_ns, evl_event *out, int cap) {
  km_state *s = state;
  if (cap <= 0 || !out)
    return -EINVAL;
  evl_event buf[KM_BATCH];
  int n;
  if (ON(held_back_kept) || ON(batch_purged)) {
    /* Batched: what epoll gave beyond cap is kept for the next waits.
     * BUG (held_back_kept): ctl delete does not drop a deleted fd's held
     * entries. */
    if (s->nheld == 0) {
      int got = km_wait_in(s, timeout_ns, s->held, KM_BATCH);
      if (got < 0)
        return got;
      s->nheld = got;
    }
    n = s->nheld < cap ? s->nheld : cap;
    memcpy(out, s->held, (size_t)n * sizeof *out);
    memmove(s->held, s->held + n, (size_t)(s->nheld - n) * sizeof *out);
    s->nheld -= n;
    return n;
  }
  if (ON(cap_drop_rest)) {
    /* BUG: a full batch taken, the first cap reported, the rest dropped;
     * epoll hands them back in the same order, so the tail never comes. */
    n = km_wait_in(s, timeout_ns, buf, KM_BATCH);
    if (n < 0)
      return n;
    if (n > cap)
      n = cap;
    memcpy(out, buf, (size_t)n * sizeof *out);
    return n;
  }
  if (ON(closed_reported_err))
    return km_wait_closed(s, timeout_ns, out, cap);
  n = km_wait_in(s, timeout_ns, out, cap);
  if (n <= 0)
    return n;
  if (ON(hup_reader_only)) {
    /* BUG: a hang-up or error is a read event: a writer-only fd with
     * HUP/ERR gets nothing, and the WRITE bit is dropped. */
    int k = 0;
    for (int i = 0; i < n; i++) {
      if (out[i].events & (EVL_HUP | EVL_ERR)) {
        out[i].events &= ~(uint32_t)EVL_WRITE;
        if (!(out[i].events & EVL_READ))
          continue;
      }
      out[k++] = out[i];
    }
    n = k;
  }
  if (ON(split_directions)) {
    /* BUG: one entry per direction, as two kqueue filters come back. */
    int k = n;
    for (int i = 0; i < n && k < cap; i++)
      if ((out[i].events & (EVL_READ | EVL_WRITE)) == (EVL_READ | EVL_WRITE)) {
        out[k] = out[i];
        out[k++].events &= ~(uint32_t)EVL_READ;
        out[i].events &= ~(uint32_t)EVL_WRITE;
      }
    n = k;
  }
  return n;
}

static int km_forget_fd(void *state, int fd) {
  km_state *s = state;
  return s->in->forget_fd ? s->in->forget_fd(s->in_state, fd) : 0;
}

static int km_after_fork(void *state) {
  km_state *s = state;
  if (ON(fork_shared))
    return 0; /* BUG: the child keeps the parent's epoll instance */
  if (ON(after_fork_deletes))
    /* BUG: "start clean": every registration deleted before the rebuild,
     * in the epoll instance the child shares with its parent. */
    for (int fd = 0; fd < (int)sizeof s->reg; fd++)
      if (s->reg[fd] && fd != s->wakefd)
        s->in->ctl(s->in_state, fd, EVL_READ | EVL_WRITE, 0);
  return s->in->after_fork(s->in_state);
}

static int km_wake(void *state) {
  km_state *s = state;
  uint64_t one = 1;
  if (write(s->wakefd, &one, sizeof one) < 0 && errno != EAGAIN)
    return -errno;
  return 0;
}

/* ---------------------------------------------------------------- uring */

/* The engine's SQEs not yet entered: note each token's operation, where a
 * bug changes the request (accept_blocking). */
static void km_note_sqes(km_state *s) {
#if KM_HAVE_URING
  struct io_uring *r = s->ring;
  if (!r || !s->eng_cqe)
    return;
  for (unsigned i = r->sq.sqe_head; i != r->sq.sqe_tail; i++) {
    struct io_uring_sqe *sqe = &r->sq.sqes[i & r->sq.ring_mask];
    uint64_t ud = sqe->user_data;
    if ((uint32_t)ud != EVL_COMPLETION_UD_LOW)
      continue;
    uint32_t token = (uint32_t)(ud >> 32);
    s->ops[token % 1024] =
        (km_op){.token = token, .opcode = sqe->opcode, .len = sqe->len};
    if (ON(accept_blocking) && sqe->opcode == IORING_OP_ACCEPT)
      /* BUG: the new fd's flags dropped, as accept4 without them */
      sqe->accept_flags &= ~(uint32_t)(SOCK_NONBLOCK | SOCK_CLOEXEC);
  }
#else
  (void)s;
#endif
}

/* Each of the engine's CQEs, on its way from the ring to the engine. */
static void km_on_cqe(void *ctx, uint32_t token, int32_t res, uint32_t flags) {
  km_state *s = ctx;
#if KM_HAVE_URING
  km_op *op = &s->ops[token % 1024];
  int known = op->token == token;
  if (known && op->opcode == IORING_OP_RECV) {
    if (ON(eof_as_reset) && res == 0)
      res = -ECONNRESET; /* BUG: end of stream reported as a reset */
    if (ON(reset_as_eof) && res == -ECONNRESET)
      res = 0; /* BUG: a reset taken for an orderly end of stream */
  }
  if (ON(short_send_whole) && known && op->opcode == IORING_OP_SEND &&
      res > 0 && (uint32_t)res < op->len)
    res = (int32_t)op->len; /* BUG: a short send reported whole */
#endif
  s->eng_cqe(s->eng_ctx, token, res, flags);
}

static int km_pump(void *state) {
  km_state *s = state;
  km_note_sqes(s);
  return s->in_pump(s->in_state);
}

/* The inner backend's ring lent through the wrapper: its CQEs to
 * km_on_cqe, its pump through km_pump. */
static int km_completion(void *state, evl_backend_completion *c) {
  km_state *s = state;
  if (!s->in->completion)
    return -ENOTSUP;
  evl_backend_completion in = *c;
  if (c->on_cqe) {
    in.on_cqe = km_on_cqe;
    in.ctx = s;
  }
  int rc = s->in->completion(s->in_state, &in);
  if (rc < 0 || !c->on_cqe) {
    s->eng_cqe = NULL;
    s->ring = NULL;
    return rc;
  }
  s->eng_cqe = c->on_cqe;
  s->eng_ctx = c->ctx;
  s->ring = in.ring;
  s->in_pump = in.pump;
  memset(s->ops, 0, sizeof s->ops);
  c->ring = in.ring;
  c->ring_size = in.ring_size;
  c->fd = in.fd;
  c->pump = in.pump ? km_pump : NULL;
  return 0;
}

/* A URING row is usable where the io_uring backend is. */
static int km_probe(char *why, size_t len) {
  const evl_backend_ops *in;
  int rc = evl_backend_lookup("iouring", &in, why, len);
  return rc < 0 ? rc : evl_backend_probe(in, why, len);
}

static const evl_backend_ops km_ops = {
    .abi = EVL_BACKEND_ABI,
    .size = sizeof(evl_backend_ops),
    .name = KM_URING ? "mutant-iouring" : "mutant-epoll",
    .description =
        KM_URING ? "io_uring wrapped with one injected bug (check-mutants)"
                 : "epoll wrapped with one injected bug (check-mutants)",
    .features =
        EVL_BF_ET | EVL_BF_O1 | EVL_BF_FDS | EVL_BF_RDHUP | EVL_BF_ONESHOT |
        EVL_BF_FORK_REINIT |
        (KM_URING ? EVL_BF_FILES | EVL_BF_BATCHED | EVL_BF_COMPLETION : 0),
    .fd_limit = ON(fd_limit_off_by_one) ? 1024 : 0,
    .resolution_ns = ON(timeout_floor_ms) ? 1000000 : 1000,
    .state_size = sizeof(km_state),
    .priority = 0,
    .probe = KM_URING ? km_probe : NULL,
    .init = km_init,
    .fini = km_fini,
    .ctl = km_ctl,
    .wait = km_wait,
    .forget_fd = km_forget_fd,
    .after_fork = km_after_fork,
    .wake = km_wake,
    .completion = KM_URING ? km_completion : NULL,
};

const evl_backend_ops *evl_backend_plugin(void) {
  return &km_ops;
}
