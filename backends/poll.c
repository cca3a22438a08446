/* poll.c — selector backend wrapping POSIX poll(2) (Linux ppoll for ns). */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <evl/backend.h>

#ifndef POLLRDHUP
#define POLLRDHUP 0 /* not Linux: peer shutdown shows as plain readability */
#endif

typedef struct poll_state {
  struct pollfd *pfds; /* dense: registered fds, in no particular order */
  int npfds;
  int cappfds;
  int *index; /* fd -> position in pfds + 1; 0 = not registered */
  int nindex;
  int start; /* where the next scan begins, so a small cap starves no fd */
} poll_state;

static int poll_init(void *state, const evl_backend_config *cfg) {
  poll_state *s = state;
  int hint = cfg && cfg->size >= sizeof(*cfg) ? cfg->expected_fds : 0;
  if (hint > 0 && hint <= 1 << 20) {
    s->pfds = malloc((size_t)hint * sizeof(*s->pfds));
    if (!s->pfds)
      return -ENOMEM;
    s->cappfds = hint;
  }
  return 0;
}

static void poll_fini(void *state) {
  poll_state *s = state;
  free(s->pfds);
  free(s->index);
  memset(s, 0, sizeof(*s));
}

/* Reserves index[fd] and one more pfds slot. The fd was checked to be open,
 * so its number is below RLIMIT_NOFILE and the tables stay small. */
static int poll_grow(poll_state *s, int fd) {
  if (fd >= s->nindex) {
    size_t n = s->nindex ? (size_t)s->nindex : 64;
    while (n <= (size_t)fd)
      n *= 2;
    if (n > INT_MAX)
      n = (size_t)fd + 1;
    int *ix = realloc(s->index, n * sizeof(*ix));
    if (!ix)
      return -ENOMEM;
    memset(ix + s->nindex, 0, (n - (size_t)s->nindex) * sizeof(*ix));
    s->index = ix;
    s->nindex = (int)n;
  }
  if (s->npfds == s->cappfds) {
    size_t n = s->cappfds ? (size_t)s->cappfds * 2 : 64;
    struct pollfd *p = realloc(s->pfds, n * sizeof(*p));
    if (!p)
      return -ENOMEM;
    s->pfds = p;
    s->cappfds = (int)n;
  }
  return 0;
}

static short poll_kernel_events(unsigned mask) {
  short ev = 0;
  if (mask & EVL_READ)
    ev |= POLLIN | POLLRDHUP;
  if (mask & EVL_WRITE)
    ev |= POLLOUT;
  return ev;
}

/* O(1): the last entry moves into the hole. */
static void poll_remove_at(poll_state *s, int i) {
  int fd = s->pfds[i].fd;
  int last = --s->npfds;
  if (i != last) {
    s->pfds[i] = s->pfds[last];
    s->index[s->pfds[i].fd] = i + 1;
  }
  s->index[fd] = 0;
  if (s->start > s->npfds)
    s->start = 0;
}

static int poll_ctl(void *state, int fd, unsigned old_mask, unsigned new_mask) {
  poll_state *s = state;
  (void)old_mask; /* index[] is the truth */
  if (fd < 0)
    return -EBADF;
  if (new_mask & ~(unsigned)(EVL_READ | EVL_WRITE))
    return -EINVAL; /* no ET or ONESHOT here: refuse rather than fake */
  int i = fd < s->nindex ? s->index[fd] - 1 : -1;

  if (!new_mask) {
    if (i < 0)
      return fcntl(fd, F_GETFD) < 0 ? -EBADF : -ENOENT;
    poll_remove_at(s, i);
    return 0;
  }
  if (i >= 0) {
    s->pfds[i].events = poll_kernel_events(new_mask);
    return 0;
  }
  /* poll() itself accepts any number and reports POLLNVAL; the ABI wants
   * -EBADF up front and nothing registered. */
  if (fcntl(fd, F_GETFD) < 0)
    return -errno;
  int rc = poll_grow(s, fd);
  if (rc < 0)
    return rc;
  i = s->npfds++;
  s->pfds[i].fd = fd;
  s->pfds[i].events = poll_kernel_events(new_mask);
  s->pfds[i].revents = 0;
  s->index[fd] = i + 1;
  return 0;
}

static uint32_t poll_map(short re, short want) {
  unsigned dir = 0;
  if (want & POLLIN)
    dir |= EVL_READ;
  if (want & POLLOUT)
    dir |= EVL_WRITE;
  uint32_t r = 0;
  if (re & POLLIN)
    r |= EVL_READ;
  if (re & POLLOUT)
    r |= EVL_WRITE;
  if ((re & POLLRDHUP) && (dir & EVL_READ))
    r |= EVL_RDHUP | EVL_READ;
  /* K5: hang-up and error wake every registered direction. POLLNVAL is an
   * fd closed without being removed: an error on it, not on the wait. */
  if (re & POLLHUP)
    r |= EVL_HUP | dir;
  if (re & (POLLERR | POLLNVAL))
    r |= EVL_ERR | dir;
  return r & (dir | EVL_ERR | EVL_HUP | EVL_RDHUP);
}

static int poll_wait(void *state, int64_t timeout_ns, evl_event *out, int cap) {
  poll_state *s = state;
  if (cap <= 0 || !out)
    return -EINVAL;
  struct timespec ts, *tsp = NULL;
  if (timeout_ns >= 0) {
    ts.tv_sec = (time_t)(timeout_ns / 1000000000);
    ts.tv_nsec = (long)(timeout_ns % 1000000000);
    tsp = &ts;
  }
  int rc = ppoll(s->pfds, (nfds_t)s->npfds, tsp, NULL);
  if (rc < 0)
    return errno == EINTR ? 0 : -errno;
  if (rc == 0)
    return 0;

  int n = s->npfds, k = 0, seen = 0, last = -1;
  int i = s->start < n ? s->start : 0;
  for (int step = 0; step < n && k < cap && seen < rc; step++) {
    struct pollfd *p = &s->pfds[i];
    if (p->revents) {
      seen++;
      uint32_t r = poll_map(p->revents, p->events);
      if (r) {
        out[k].fd = p->fd;
        out[k].events = r;
        k++;
        last = i;
      }
    }
    if (++i == n)
      i = 0;
  }
  /* Next scan starts after the last fd reported: those left over when cap
   * filled up go first next time (K4). */
  if (last >= 0)
    s->start = last + 1 < n ? last + 1 : 0;
  return k;
}

static int poll_forget_fd(void *state, int fd) {
  poll_state *s = state;
  if (fd >= 0 && fd < s->nindex && s->index[fd])
    poll_remove_at(s, s->index[fd] - 1);
  return 0;
}

const evl_backend_ops evl__backend_poll = {
    .abi = EVL_BACKEND_ABI,
    .size = sizeof(evl_backend_ops),
    .name = "poll",
    .description = "POSIX poll(2) via ppoll, O(n) per wait, any fd number",
    .features =
        EVL_BF_FDS | EVL_BF_FILES | (POLLRDHUP ? (uint32_t)EVL_BF_RDHUP : 0u),
    .fd_limit = 0,
    /* ppoll takes a timespec, but hrtimer slack (50 us by default) makes
     * sub-microsecond requests meaningless. */
    .resolution_ns = 1000,
    .state_size = sizeof(poll_state),
    .priority = 20,
    .probe = NULL,
    .init = poll_init,
    .fini = poll_fini,
    .ctl = poll_ctl,
    .wait = poll_wait,
    .forget_fd = poll_forget_fd,
    .after_fork = NULL,
    .wake = NULL,
};
