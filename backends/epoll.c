/* epoll.c — selector backend wrapping Linux epoll (epoll_pwait2, epoll_ctl). */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <time.h>
#include <unistd.h>

#include <evl/backend.h>

/* glibc declares epoll_pwait2 from 2.35 on; older builds use epoll_wait. */
#if defined(__GLIBC__) &&                                                      \
    (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 35))
#define EPOLL_HAVE_PWAIT2 1
#else
#define EPOLL_HAVE_PWAIT2 0
#endif

/* Bits kept per fd in masks[] beyond the EVL_* interest bits: a one-shot
 * registration that fired is disabled in the kernel until modified. */
enum { EPOLL_DISARMED = 1u << 7 };
#define EPOLL_INTEREST (EVL_READ | EVL_WRITE | EVL_ET | EVL_ONESHOT)

typedef struct epoll_state {
  int epfd;
  int open;    /* epfd is ours to close (the state starts zeroed) */
  int ms_only; /* epoll_pwait2 returned ENOSYS: use epoll_wait */
  int nmasks;  /* length of masks[] */
  int maxfd;   /* highest fd with a non-zero mask, or -1 */
  int nregistered;
  unsigned char *masks; /* fd -> EVL_* interest, for after_fork and mapping */
  /* fd -> tag of its registration (generation << 1 | one-shot), 0 when
   * none, also stored in the kernel's data.u64: an event whose tag is not
   * the current one comes from a registration the kernel kept after its fd
   * number was closed (a dup() keeps the file alive), which can never be
   * deleted by number again. The one-shot bit lets the common event be
   * translated from data.u64 alone, without reading masks[]. */
  uint32_t *gens;
  uint32_t gen_next; /* 31 bits, never 0 */
  struct epoll_event *evs;
  int nevs;
} epoll_state;

static int epoll_probe(char *why, size_t len) {
  int fd = epoll_create1(EPOLL_CLOEXEC);
  if (fd < 0) {
    int err = errno;
    if (why && len)
      snprintf(why, len, "epoll_create1() failed: %s", strerror(err));
    return -err;
  }
  close(fd);
  return 0;
}

static int epoll_init(void *state, const evl_backend_config *cfg) {
  epoll_state *s = state;
  (void)cfg;
  s->epfd = epoll_create1(EPOLL_CLOEXEC);
  if (s->epfd < 0)
    return -errno;
  s->open = 1;
  s->maxfd = -1;
  return 0;
}

static void epoll_fini(void *state) {
  epoll_state *s = state;
  if (s->open)
    close(s->epfd);
  free(s->masks);
  free(s->gens);
  free(s->evs);
  memset(s, 0, sizeof(*s));
}

/* Makes masks[fd] addressable. The fd was checked to be open, so its number
 * is below RLIMIT_NOFILE and the table stays proportional to real fds. */
static int epoll_grow(epoll_state *s, int fd) {
  if (fd < s->nmasks)
    return 0;
  size_t n = s->nmasks ? (size_t)s->nmasks : 64;
  while (n <= (size_t)fd)
    n *= 2;
  if (n > INT_MAX)
    n = (size_t)fd + 1;
  unsigned char *m = realloc(s->masks, n);
  if (!m)
    return -ENOMEM;
  memset(m + s->nmasks, 0, n - (size_t)s->nmasks);
  s->masks = m;
  uint32_t *g = realloc(s->gens, n * sizeof *g);
  if (!g)
    return -ENOMEM; /* masks grew but nmasks did not: still consistent */
  memset(g + s->nmasks, 0, (n - (size_t)s->nmasks) * sizeof *g);
  s->gens = g;
  s->nmasks = (int)n;
  return 0;
}

static uint32_t epoll_kernel_events(unsigned mask) {
  uint32_t ev = 0;
  if (mask & EVL_READ)
    ev |= EPOLLIN | EPOLLRDHUP;
  if (mask & EVL_WRITE)
    ev |= EPOLLOUT;
  if (mask & EVL_ET)
    ev |= EPOLLET;
  if (mask & EVL_ONESHOT)
    ev |= EPOLLONESHOT;
  return ev;
}

enum { EPOLL_TAG_ONESHOT = 1u };

static uint64_t epoll_data(uint32_t tag, int fd) {
  return (uint64_t)tag << 32 | (uint32_t)fd;
}

static void epoll_set_mask(epoll_state *s, int fd, unsigned mask) {
  unsigned old = s->masks[fd];
  s->masks[fd] = (unsigned char)mask;
  if (!mask)
    s->gens[fd] = 0; /* whatever the kernel still reports for fd is stale */
  if (!old && mask) {
    s->nregistered++;
    if (fd > s->maxfd)
      s->maxfd = fd;
  } else if (old && !mask) {
    s->nregistered--;
    while (s->maxfd >= 0 && !s->masks[s->maxfd])
      s->maxfd--;
  }
}

/* The kernel is the judge of a bad fd (-EBADF) or one epoll cannot watch
 * (a regular file: -EPERM); either way nothing stays registered. */
static int epoll_ctl_fd(void *state, int fd, unsigned old_mask,
                        unsigned new_mask) {
  epoll_state *s = state;
  (void)old_mask; /* masks[] is the truth: the kernel may have dropped a
                     closed fd behind the core's back */
  if (fd < 0)
    return -EBADF;
  if (new_mask & ~(unsigned)EPOLL_INTEREST)
    return -EINVAL;
  unsigned cur = fd < s->nmasks ? s->masks[fd] : 0;

  if (!(new_mask & (EVL_READ | EVL_WRITE))) {
    if (!cur)
      return fcntl(fd, F_GETFD) < 0 ? -EBADF : -ENOENT;
    int rc = epoll_ctl(s->epfd, EPOLL_CTL_DEL, fd, NULL);
    epoll_set_mask(s, fd, 0);
    /* ENOENT: a disarmed one-shot dropped in after_fork, or a closed fd the
     * kernel already forgot; masks[] said it was ours, so it is deleted. */
    if (rc < 0 && errno != ENOENT)
      return -errno;
    return 0;
  }

  if (fd >= s->nmasks) {
    if (fcntl(fd, F_GETFD) < 0)
      return -errno;
    int rc = epoll_grow(s, fd);
    if (rc < 0)
      return rc;
  }
  uint32_t tag = s->gens[fd] & ~(uint32_t)EPOLL_TAG_ONESHOT;
  if (!cur) {
    s->gen_next = (s->gen_next + 1) & 0x7fffffffu;
    if (s->gen_next == 0)
      s->gen_next = 1;
    tag = s->gen_next << 1;
  }
  if (new_mask & EVL_ONESHOT)
    tag |= EPOLL_TAG_ONESHOT;
  struct epoll_event ev = {.events = epoll_kernel_events(new_mask),
                           .data.u64 = epoll_data(tag, fd)};
  int rc = epoll_ctl(s->epfd, cur ? EPOLL_CTL_MOD : EPOLL_CTL_ADD, fd, &ev);
  int gone = 0; /* the kernel holds no registration for fd */
  if (rc < 0 && cur && errno == ENOENT) {
    rc = epoll_ctl(s->epfd, EPOLL_CTL_ADD, fd, &ev);
    gone = 1;
  } else if (rc < 0 && !cur && errno == EEXIST) {
    rc = epoll_ctl(s->epfd, EPOLL_CTL_MOD, fd, &ev);
  }
  if (rc < 0) {
    int err = errno;
    if (cur && (gone || err == EBADF))
      epoll_set_mask(s, fd, 0);
    return -err; /* otherwise the old interest stays as it was */
  }
  epoll_set_mask(s, fd, new_mask);
  s->gens[fd] = tag;
  return 0;
}

/* Inline (and in epoll_wait_shed again): a call here would cost the common
 * poll more than the body does. */
static inline __attribute__((always_inline)) int
epoll_wait_kernel(epoll_state *s, int64_t timeout_ns, int n) {
#if EPOLL_HAVE_PWAIT2
  if (!s->ms_only) {
    struct timespec ts = {0, 0}, *tsp = NULL;
    if (timeout_ns >= 0)
      tsp = &ts;
    if (timeout_ns > 0) { /* no division for the common poll (0) */
      ts.tv_sec = (time_t)(timeout_ns / 1000000000);
      ts.tv_nsec = (long)(timeout_ns % 1000000000);
    }
    int rc = epoll_pwait2(s->epfd, s->evs, n, tsp, NULL);
    if (rc >= 0 || errno != ENOSYS)
      return rc;
    s->ms_only = 1; /* old kernel or a seccomp filter */
  }
#endif
  int ms = timeout_ns < 0 ? -1 : 0;
  if (timeout_ns > 0) {
    /* Rounded up: a timer must never fire early, and a sub-millisecond
     * remainder rounded down to 0 would spin. */
    int64_t up = timeout_ns / 1000000 + (timeout_ns % 1000000 != 0);
    ms = up > INT_MAX ? INT_MAX : (int)up;
  }
  return epoll_wait(s->epfd, s->evs, n, ms);
}

/* What to report for epoll's bits on an fd registered for `dir`, as one
 * table lookup: index bits 0-4 are EPOLLIN, EPOLLRDHUP, EPOLLOUT, EPOLLERR,
 * EPOLLHUP; bits 5-6 the registered READ|WRITE. K5: hang-up and error wake
 * every registered direction; nothing outside the interest is reported, and
 * RDHUP only to a reader. 0: nothing to report. */
#define EM_DIR(i) (((i) >> 5) & 3u)
#define EM_ALL(i)                                                              \
  ((((i)&1) ? EVL_READ : 0u) | (((i)&4) ? EVL_WRITE : 0u) |                    \
   (((i)&2) ? (EVL_RDHUP | EVL_READ) : 0u) |                                   \
   (((i)&16) ? (EVL_HUP | EM_DIR(i)) : 0u) |                                   \
   (((i)&8) ? (EVL_ERR | EM_DIR(i)) : 0u))
#define EM_KEEP(i)                                                             \
  (EM_DIR(i) | EVL_ERR | EVL_HUP | ((EM_DIR(i) & EVL_READ) ? EVL_RDHUP : 0u))
#define EM(i)                                                                  \
  ((EM_ALL(i) & EM_KEEP(i) & (EVL_READ | EVL_WRITE)) ? EM_ALL(i) & EM_KEEP(i)  \
                                                     : 0u)
#define EM4(i) EM(i), EM(i + 1), EM(i + 2), EM(i + 3)
#define EM16(i) EM4(i), EM4(i + 4), EM4(i + 8), EM4(i + 12)
static const unsigned char epoll_map[128] = {
    EM16(0),  EM16(16), EM16(32), EM16(48),
    EM16(64), EM16(80), EM16(96), EM16(112),
};
_Static_assert(EPOLLIN == 1 && EPOLLOUT == 4 && EPOLLERR == 8 &&
                   EPOLLHUP == 16 && EPOLLRDHUP == 0x2000 &&
                   (EVL_READ | EVL_WRITE) == 3,
               "epoll_map's index layout");
#define EPOLL_MAP_INDEX(e, m)                                                  \
  (((e)&0x1du) | (((e) >> 12) & 2u) | (((m)&3u) << 5))

/* The kernel's ready list into the core's array; *stale when some event
 * came from a registration that is no longer ours. */
static inline __attribute__((always_inline)) int
epoll_translate(epoll_state *s, int rc, evl_event *out, int *stale) {
  /* Locals, so that the stores below (masks[], out[]) cannot make the
   * compiler reload the arrays on every event. */
  const struct epoll_event *ev = s->evs, *end = s->evs + rc;
  unsigned char *restrict masks = s->masks;
  const uint32_t *restrict gens = s->gens;
  evl_event *restrict o = out;
  int dead = 0;
  for (; ev < end; ev++) {
    uint64_t d = ev->data.u64;
    uint32_t e = ev->events, tag = (uint32_t)(d >> 32), fd = (uint32_t)d;
    /* data.u64 is what epoll_ctl_fd gave the kernel: fd < nmasks then, and
     * gens[] never shrinks. A deleted fd's tag is 0 and a dead
     * registration's an old one: neither is ever reported (K6). */
    if (gens[fd] != tag) {
      dead = 1;
      continue;
    }
    unsigned r;
    if (!((e & ~(uint32_t)(EPOLLIN | EPOLLOUT)) | (tag & EPOLL_TAG_ONESHOT))) {
      /* Readable or writable, no error, hang-up or one-shot: the kernel
       * reports IN and OUT only where they were asked for, so the bits are
       * the answer and the interest need not be read. */
      r = (e & EPOLLIN ? EVL_READ : 0u) | (e & EPOLLOUT ? EVL_WRITE : 0u);
    } else {
      unsigned m = masks[fd];
      r = epoll_map[EPOLL_MAP_INDEX(e, m)];
      if (!r)
        continue;
      if (m & EVL_ONESHOT)
        masks[fd] = (unsigned char)(m | EPOLL_DISARMED);
    }
    o->fd = (int)fd;
    o->events = r;
    o++;
  }
  if (dead)
    *stale = 1;
  return (int)(o - out);
}

static int epoll_rebuild(epoll_state *s);

/* Only events of dead registrations came back: drop them all with a fresh
 * epoll set (libev does the same) and wait out the time left, so a
 * closed-but-dup'ed fd can neither cut waits short nor spin. */
__attribute__((noinline)) static int epoll_wait_shed(epoll_state *s,
                                                     int64_t timeout_ns,
                                                     uint64_t deadline,
                                                     evl_event *out, int n) {
  for (int attempt = 1;; attempt++) {
    int rc = epoll_rebuild(s);
    if (rc < 0)
      return rc;
    if (timeout_ns > 0) {
      struct timespec now;
      clock_gettime(CLOCK_MONOTONIC, &now);
      uint64_t t = (uint64_t)now.tv_sec * 1000000000u + (uint64_t)now.tv_nsec;
      if (t >= deadline)
        return 0;
      timeout_ns = (int64_t)(deadline - t);
    }
    rc = epoll_wait_kernel(s, timeout_ns, n);
    if (rc < 0)
      return errno == EINTR ? 0 : -errno;
    int stale = 0;
    int k = epoll_translate(s, rc, out, &stale);
    if (k != 0 || !stale || attempt >= 3)
      return k;
  }
}

/* Out of line: the kernel buffer grows rarely, and then doubles. Returns
 * the events to ask for, or -ENOMEM. */
__attribute__((noinline)) static int epoll_reserve(epoll_state *s, int n) {
  struct epoll_event *e = realloc(s->evs, (size_t)n * sizeof(*e));
  if (e) {
    s->evs = e;
    s->nevs = n;
    return n;
  }
  /* Fewer per wait; the kernel's rotation keeps K4. */
  return s->nevs > 0 ? s->nevs : -ENOMEM;
}

static int epoll_wait_events(void *state, int64_t timeout_ns, evl_event *out,
                             int cap) {
  epoll_state *s = state;
  if (cap <= 0 || !out)
    return -EINVAL;
  /* More events than registered fds are impossible; an empty set still
   * needs one slot for the kernel and still honours the timeout. */
  int n = cap < s->nregistered ? cap : s->nregistered;
  if (n < 1)
    n = 1;
  if (n > s->nevs && (n = epoll_reserve(s, n)) < 0)
    return n;
  uint64_t deadline = 0; /* for epoll_wait_shed's time left */
  if (timeout_ns > 0) {
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    deadline = (uint64_t)now.tv_sec * 1000000000u + (uint64_t)now.tv_nsec +
               (uint64_t)timeout_ns;
  }
  int rc = epoll_wait_kernel(s, timeout_ns, n);
  if (rc < 0)
    return errno == EINTR ? 0 : -errno;
  int stale = 0;
  int k = epoll_translate(s, rc, out, &stale);
  if (k != 0 || !stale)
    return k;
  return epoll_wait_shed(s, timeout_ns, deadline, out, n);
}

static int epoll_forget_fd(void *state, int fd) {
  epoll_state *s = state;
  if (fd < 0 || fd >= s->nmasks || !s->masks[fd])
    return 0;
  /* Before close: a dup() of the fd would otherwise keep the registration
   * alive and keep firing under this number. */
  epoll_ctl(s->epfd, EPOLL_CTL_DEL, fd, NULL);
  epoll_set_mask(s, fd, 0);
  return 0;
}

/* A fresh epoll set with every live registration: after fork (the child
 * shares the parent's instance, and deleting from it would silence the
 * parent) and to shed registrations whose fd numbers are gone. */
static int epoll_rebuild(epoll_state *s) {
  int epfd = epoll_create1(EPOLL_CLOEXEC);
  if (epfd < 0)
    return -errno;
  if (s->open)
    close(s->epfd);
  s->epfd = epfd;
  s->open = 1;
  int first_err = 0;
  for (int fd = 0; fd <= s->maxfd; fd++) {
    unsigned m = s->masks[fd];
    if (!m)
      continue;
    if (m & EPOLL_DISARMED)
      continue; /* stays silent until modified, as in the parent */
    struct epoll_event ev = {.events = epoll_kernel_events(m),
                             .data.u64 = epoll_data(s->gens[fd], fd)};
    if (epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
      int err = errno;
      epoll_set_mask(s, fd, 0);
      if (err != EBADF && !first_err) /* EBADF: closed in the child */
        first_err = -err;
    }
  }
  return first_err;
}

static int epoll_after_fork(void *state) {
  return epoll_rebuild(state);
}

const evl_backend_ops evl__backend_epoll = {
    .abi = EVL_BACKEND_ABI,
    .size = sizeof(evl_backend_ops),
    .name = "epoll",
    .description = "Linux epoll, level-triggered, ns timeouts (epoll_pwait2)",
    .features = EVL_BF_ET | EVL_BF_O1 | EVL_BF_FDS | EVL_BF_RDHUP |
                EVL_BF_ONESHOT | EVL_BF_FORK_REINIT,
    .fd_limit = 0,
    /* epoll_pwait2 takes a timespec, but hrtimer slack (50 us by default)
     * makes sub-microsecond requests meaningless. Where it is missing
     * (ENOSYS) the wait rounds up to whole ms itself, so never early. */
    .resolution_ns = 1000,
    .state_size = sizeof(epoll_state),
    .priority = 40,
    .probe = epoll_probe,
    .init = epoll_init,
    .fini = epoll_fini,
    .ctl = epoll_ctl_fd,
    .wait = epoll_wait_events,
    .forget_fd = epoll_forget_fd,
    .after_fork = epoll_after_fork,
    .wake = NULL,
};
