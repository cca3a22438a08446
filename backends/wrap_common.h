/* wrap_common.h — ready list, carry, deadline: libevent/libev/libuv/iouring. */
#ifndef EVL_WRAP_COMMON_H
#define EVL_WRAP_COMMON_H

/*
 * Each of these backends is built as its own module from its own files, so
 * what they share lives here as static inline functions: every module
 * carries its own private copy and none can bind to another's.
 *
 * No event library header may be included here: libev's and libevent's
 * headers define the same macros with different values.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/sanitizer.h"
#include "evl/backend.h"

/* The longest single library wait; longer timeouts loop, so that no
 * library ever sees a timeout its own types cannot hold. */
#define WRAP_MAX_ROUND_NS ((int64_t)86400 * 1000000000)

/* ---- time ---------------------------------------------------------------- */

static inline int64_t wrap_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Absolute end of a wait; saturates instead of overflowing for huge
 * timeouts (INT64_MAX means "practically never"). */
static inline int64_t wrap_deadline(int64_t timeout_ns) {
  if (timeout_ns <= 0)
    return 0;
  int64_t now = wrap_now();
  return timeout_ns > INT64_MAX - now ? INT64_MAX : now + timeout_ns;
}

/* What is left of a wait, in [0, WRAP_MAX_ROUND_NS]: huge timeouts are
 * waited in rounds, a passed deadline is a last nonblocking look. */
static inline int64_t wrap_left(int64_t deadline) {
  int64_t left = deadline - wrap_now();
  if (left > WRAP_MAX_ROUND_NS)
    return WRAP_MAX_ROUND_NS;
  return left > 0 ? left : 0;
}

/* ---- growable arrays ----------------------------------------------------- */

/*
 * Makes *arrayp (a pointer to any T *) hold at least `need` elements of
 * `size` bytes, doubling from 64 and zeroing what is new, so that it also
 * serves as a per-fd table whose empty entries read as "not registered".
 * The pointer is read and written with memcpy because a T ** cannot be
 * accessed as a void ** without breaking the aliasing rules.
 */
static inline int wrap_reserve(void *arrayp, int *cap, int need, size_t size) {
  if (need <= *cap)
    return 0;
  int n = *cap ? *cap : 64;
  while (n < need)
    n = n > INT_MAX / 2 ? INT_MAX : n * 2;
  void *a;
  memcpy(&a, arrayp, sizeof(a));
  char *p = realloc(a, (size_t)n * size);
  if (!p)
    return -ENOMEM;
  memset(p + (size_t)*cap * size, 0, (size_t)(n - *cap) * size);
  memcpy(arrayp, &p, sizeof(p));
  *cap = n;
  return 0;
}

/* ---- ctl helpers --------------------------------------------------------- */

/* The argument checks every ctl starts with: 0, -EBADF or -EINVAL. */
static inline int wrap_ctl_check(int fd, unsigned new_mask, unsigned allowed) {
  if (fd < 0)
    return -EBADF;
  return new_mask & ~allowed ? -EINVAL : 0;
}

/* forget_fd is a delete that does not mind a fd that was never added. */
static inline int wrap_forgotten(int ctl_rc) {
  return ctl_rc == -ENOENT ? 0 : ctl_rc;
}

/* wake() on a nonblocking eventfd. EAGAIN: the counter is saturated, so a
 * wakeup is pending anyway. */
static inline int wrap_eventfd_wake(int fd) {
  uint64_t one = 1;
  if (write(fd, &one, sizeof(one)) < 0 && errno != EAGAIN)
    return -errno;
  return 0;
}

/* ---- libraries that register lazily (libev, libuv) -----------------------
 *
 * libev and libuv only record a watcher's start; its epoll_ctl happens
 * inside their next run, and there they abort() when it fails with EBADF,
 * EINVAL or ELOOP (an fd closed in between, an O_PATH fd, their own epoll
 * fd, or their epoll fd itself closed or replaced). What they would find
 * out too late is checked here first: every fd whose registration changed
 * since the last run is kept on a list and looked at before the library
 * runs, and so is the library's epoll fd — only when there are changes,
 * since an unchanged set makes no epoll_ctl.
 */
typedef struct wrap_pending {
  int *fds;
  int n, cap;
} wrap_pending;

static inline int wrap_pending_add(wrap_pending *p, int fd) {
  int rc = wrap_reserve(&p->fds, &p->cap, p->n + 1, sizeof(*p->fds));
  if (rc < 0)
    return rc;
  p->fds[p->n++] = fd;
  return 0;
}

static inline void wrap_pending_free(wrap_pending *p) {
  free(p->fds);
  p->fds = NULL;
  p->n = p->cap = 0;
}

/* 0 if fcntl says fd can go into an epoll set: open, and not an O_PATH fd
 * (epoll_ctl answers EBADF for those). */
static inline int wrap_fd_pollable(int fd) {
  int fl = fcntl(fd, F_GETFL);
  if (fl < 0)
    return -errno;
  return fl & O_PATH ? -EBADF : 0;
}

/* Which kernel object an fd number named when it was taken: a later close
 * or dup2 over the number is seen by wrap_fdid_same. */
typedef struct wrap_fdid {
  int fd;
  dev_t dev;
  ino_t ino;
  mode_t mode;
} wrap_fdid;

static inline int wrap_fdid_take(wrap_fdid *id, int fd) {
  struct stat st;
  if (fd < 0 || fstat(fd, &st) < 0)
    return fd < 0 ? -EBADF : -errno;
  *id = (wrap_fdid){fd, st.st_dev, st.st_ino, st.st_mode};
  return 0;
}

/* 0 while the number still names that object, else -EBADF. */
static inline int wrap_fdid_same(const wrap_fdid *id) {
  struct stat st;
  if (fstat(id->fd, &st) < 0 || st.st_dev != id->dev || st.st_ino != id->ino ||
      st.st_mode != id->mode)
    return -EBADF;
  return 0;
}

/* The lowest free fd number now: a constructor that opens one fd first
 * (epoll_create1 takes the lowest free number) gets this one, unless
 * another thread opens one in between; wrap_fd_is_epoll confirms. */
static inline int wrap_lowest_free_fd(void) {
  int fd = eventfd(0, EFD_CLOEXEC);
  if (fd >= 0)
    close(fd);
  return fd;
}

/* 1 if fd is an epoll instance (Linux names its inode so). */
static inline int wrap_fd_is_epoll(int fd) {
  char path[64], link[64];
  snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
  ssize_t n = readlink(path, link, sizeof(link) - 1);
  if (n <= 0)
    return 0;
  link[n] = 0;
  return strcmp(link, "anon_inode:[eventpoll]") == 0;
}

/* A library's epoll fd closed under it: while its number is still free, a
 * fresh epoll set put there lets the library run once more to release its
 * handles and memory (uv_run would abort on the closed number). 0 when
 * revived, -EBADF when the number is taken by another file now. */
static inline int wrap_epoll_revive(const wrap_fdid *id) {
  if (fcntl(id->fd, F_GETFD) >= 0 || errno != EBADF)
    return -EBADF;
  int ep = epoll_create1(EPOLL_CLOEXEC);
  if (ep < 0)
    return -errno;
  if (ep == id->fd) /* the lowest free number: it landed there already */
    return 0;
  int rc = dup3(ep, id->fd, O_CLOEXEC) == id->fd ? 0 : -errno;
  close(ep);
  return rc;
}

/* ThreadSanitizer does not see libuv's own closes: libuv closes with
 * syscall(SYS_close) (close() is a cancellation point), which TSan does not
 * intercept, so a number libuv closed in one thread and reused in another
 * reads as a race on the number (google/sanitizers#1376; libuv#3112 did the
 * same inside libuv). Called just before libuv closes them, the syscall
 * hook tells TSan. A macro: no event library header may be included here. */
#ifdef EVL__TSAN
void __sanitizer_syscall_pre_impl_close(long fd);
static inline void wrap_tsan_closing(int fd) {
  if (fd >= 0)
    __sanitizer_syscall_pre_impl_close(fd);
}
#else
static inline void wrap_tsan_closing(int fd) {
  (void)fd;
}
#endif
/* The fds uv_loop_close closes (libuv 1.x's private fields). */
#define WRAP_UV_TSAN_CLOSING(uvloop)                                           \
  do {                                                                         \
    wrap_tsan_closing((uvloop)->backend_fd);                                   \
    wrap_tsan_closing((uvloop)->async_io_watcher.fd);                          \
    wrap_tsan_closing((uvloop)->async_wfd);                                    \
    wrap_tsan_closing((uvloop)->signal_pipefd[0]);                             \
    wrap_tsan_closing((uvloop)->signal_pipefd[1]);                             \
  } while (0)

/* Enough free numbers for what a library opens in its constructor (libev
 * and libuv abort, libevent exits, when one of those opens fails). */
static inline int wrap_fd_headroom(int need) {
  int got[8], n = 0, rc = 0;
  while (n < need && n < 8) {
    int fd = eventfd(0, EFD_CLOEXEC);
    if (fd < 0) {
      rc = -errno;
      break;
    }
    got[n++] = fd;
  }
  while (n > 0)
    close(got[--n]);
  return rc;
}

/* ---- one entry per fd and wait ------------------------------------------- */

/* Kept in each registration: where its fd's entry is in this wait's list.
 * A stamp that is not the current wait's means "no entry yet", so nothing
 * has to be cleared between waits. */
typedef struct wrap_slot {
  uint32_t stamp;
  int idx;
} wrap_slot;

/* The index of e's entry in the list of wait `stamp`, or -1. */
static inline int wrap_slot_find(const wrap_slot *e, uint32_t stamp) {
  return e->stamp == stamp ? e->idx : -1;
}

/* Appends (fd, ev) as list[*n] and records where in e. */
static inline void wrap_slot_append(evl_event *list, int *n, wrap_slot *e,
                                    uint32_t stamp, int fd, uint32_t ev) {
  e->stamp = stamp;
  e->idx = *n;
  list[*n].fd = fd;
  list[*n].events = ev;
  (*n)++;
}

/* ---- the wrappers' wait ----------------------------------------------------
 */

/*
 * The library's callbacks collect what fired into `ready`, merged per fd;
 * wait hands it to the core. What does not fit in the core's array is
 * carried: those fds are put first in line at the next wait but are
 * reported only if they fire again then (a level-triggered fd does), so a
 * drained fd is never reported from stale news.
 */
typedef struct wrap_ready {
  evl_event *ready; /* this wait's fired fds; carried-over ones first */
  int nready, ready_cap;
  evl_event *carry; /* fired but did not fit in the core's array */
  int ncarry, carry_cap;
  uint32_t stamp; /* the current wait, for wrap_slot */
  int woken;      /* wake() was seen during this wait */
  int nomem;      /* an entry could not be added during this wait */
} wrap_ready;

/* The slot of fd's registration, or NULL when fd is not registered. */
typedef wrap_slot *(*wrap_lookup_fn)(void *state, int fd);

/*
 * One library round: nonblock asks for a look without blocking; otherwise
 * block at most left_ns (already cut to a round), or without limit when
 * left_ns is -1. Returns 0, 1 to end the wait at once (a signal: 0 events
 * is the contract), or -errno.
 */
typedef int (*wrap_run_fn)(void *state, int nonblock, int64_t left_ns);

static inline void wrap_ready_free(wrap_ready *q) {
  free(q->ready);
  free(q->carry);
  q->ready = q->carry = NULL;
  q->nready = q->ready_cap = q->ncarry = q->carry_cap = 0;
}

/* One entry per fd and wait: a second firing only adds bits. */
static inline void wrap_collect(wrap_ready *q, wrap_slot *e, int fd,
                                uint32_t ev) {
  int at = wrap_slot_find(e, q->stamp);
  if (at >= 0) {
    q->ready[at].events |= ev;
    return;
  }
  if (wrap_reserve(&q->ready, &q->ready_cap, q->nready + 1, sizeof(*q->ready)) <
      0) {
    q->nomem = 1; /* level-triggered: it fires again next time */
    return;
  }
  wrap_slot_append(q->ready, &q->nready, e, q->stamp, fd, ev);
}

static inline int wrap_ready_fired(const wrap_ready *q) {
  for (int i = 0; i < q->nready; i++)
    if (q->ready[i].events)
      return 1;
  return 0;
}

/* Hands out what fired, oldest first; the overflow becomes the carry. */
static inline int wrap_ready_take(wrap_ready *q, evl_event *out, int cap) {
  int n = 0, k = 0;
  for (int i = 0; i < q->nready; i++) {
    if (!q->ready[i].events)
      continue;
    if (n < cap)
      out[n++] = q->ready[i];
    else
      q->ready[k++] = q->ready[i]; /* compact the overflow in place */
  }
  if (k > 0) {
    if (wrap_reserve(&q->carry, &q->carry_cap, k, sizeof(*q->carry)) < 0)
      return n; /* dropped ones are level-triggered: they come back */
    memcpy(q->carry, q->ready, (size_t)k * sizeof(*q->carry));
    q->ncarry = k;
  }
  return n;
}

static inline int wrap_bad_out(const evl_event *out, int cap) {
  return cap < 0 || (cap > 0 && !out);
}

/*
 * The whole wait of a wrapper. Carried fds that went quiet make the first
 * round a nonblocking one, after which the wait blocks for real; a round
 * that ends with nothing (the library's timer fired a hair early, or some
 * other library-internal wakeup) is followed by another until the deadline
 * by our own clock has passed.
 */
static inline int wrap_wait(wrap_ready *q, void *state, wrap_lookup_fn lookup,
                            wrap_run_fn run, int64_t timeout_ns, evl_event *out,
                            int cap) {
  if (wrap_bad_out(out, cap))
    return -EINVAL;
  q->stamp++;
  q->nready = 0;
  q->woken = 0;
  q->nomem = 0;
  /* Carried fds keep their place in line but must fire again to count. */
  for (int i = 0; i < q->ncarry; i++) {
    int fd = q->carry[i].fd;
    wrap_slot *e = lookup(state, fd);
    if (e) {
      wrap_collect(q, e, fd, 0);
      if (q->nomem)
        return -ENOMEM;
    }
  }
  q->ncarry = 0;
  int nonblock = timeout_ns == 0 || q->nready > 0;
  int64_t deadline = wrap_deadline(timeout_ns);
  int fired = 0;
  for (;;) {
    int64_t left = nonblock || timeout_ns < 0 ? -1 : wrap_left(deadline);
    int rc = run(state, nonblock, left);
    if (rc < 0)
      return rc;
    fired = fired || wrap_ready_fired(q);
    if (fired || q->woken || timeout_ns == 0 || q->nomem || rc > 0)
      break;
    if (nonblock) {
      nonblock = 0; /* the carried fds went quiet: wait for real */
      continue;
    }
    if (timeout_ns > 0 && wrap_now() >= deadline)
      break;
  }
  return wrap_ready_take(q, out, cap);
}

#endif
