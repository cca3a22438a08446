/* select.c — selector backend wrapping POSIX select(2) (pselect for ns). */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/select.h>
#include <time.h>

#include <evl/backend.h>

/* An fd_set holds exactly FD_SETSIZE bits: every FD_* call below is guarded
 * by ctl's range check, so no fd >= FD_SETSIZE ever reaches one.
 *
 * select() puts a hang-up only in the read set: a writer blocked on a full
 * socket whose peer shuts down would never wake. So every writer is also
 * watched for readability (the "probe"); a writer that is readable but not
 * writable is classified with one poll(2) over all such fds. A probe that
 * finds plain data for a writer-only fd is switched off until the fd turns
 * writable or is modified, so unread data cannot make select() spin. */
enum { SELECT_NOPROBE = 1u << 7 };

typedef struct select_state {
  fd_set rd, wr; /* the master sets (rd includes probes); select() gets
                    copies */
  unsigned char masks[FD_SETSIZE]; /* fd -> EVL_READ|EVL_WRITE + NOPROBE */
  int maxfd;                       /* highest registered fd + 1, or 0 */
  int start; /* where the next scan begins, so a small cap starves no fd */
  struct pollfd chk[FD_SETSIZE]; /* hang-up classification */
} select_state;

static int select_init(void *state, const evl_backend_config *cfg) {
  select_state *s = state;
  (void)cfg;
  FD_ZERO(&s->rd);
  FD_ZERO(&s->wr);
  return 0;
}

static void select_fini(void *state) {
  select_state *s = state;
  memset(s, 0, sizeof(*s)); /* nothing allocated, no kernel object */
}

static void select_set(select_state *s, int fd, unsigned mask) {
  if ((mask & EVL_READ) || ((mask & EVL_WRITE) && !(mask & SELECT_NOPROBE)))
    FD_SET(fd, &s->rd);
  else
    FD_CLR(fd, &s->rd);
  if (mask & EVL_WRITE)
    FD_SET(fd, &s->wr);
  else
    FD_CLR(fd, &s->wr);
  s->masks[fd] = (unsigned char)mask;
}

static int select_ctl(void *state, int fd, unsigned old_mask,
                      unsigned new_mask) {
  select_state *s = state;
  (void)old_mask; /* masks[] is the truth */
  if (fd < 0)
    return -EBADF;
  if (fd >= FD_SETSIZE) /* K7: an fd_set cannot number it; closed: K1 */
    return fcntl(fd, F_GETFD) < 0 ? -EBADF : -ERANGE;
  if (new_mask & ~(unsigned)(EVL_READ | EVL_WRITE))
    return -EINVAL; /* no ET or ONESHOT here: refuse rather than fake */
  unsigned cur = s->masks[fd];
  if (!new_mask && !cur)
    return fcntl(fd, F_GETFD) < 0 ? -EBADF : -ENOENT;
  /* select() fails the whole call on a closed fd: refuse it up front. */
  if (!cur && fcntl(fd, F_GETFD) < 0)
    return -errno;

  select_set(s, fd, new_mask);
  if (new_mask && fd >= s->maxfd)
    s->maxfd = fd + 1;
  while (s->maxfd > 0 && !s->masks[s->maxfd - 1])
    s->maxfd--;
  return 0;
}

/* select() said EBADF: some registered fd was closed without being
 * removed. Find them, report them as errors, and poll the rest. */
static int select_find_closed(select_state *s, fd_set *bad, fd_set *rd,
                              fd_set *wr) {
  int nbad = 0;
  FD_ZERO(bad);
  for (int fd = 0; fd < s->maxfd; fd++) {
    if (s->masks[fd] && fcntl(fd, F_GETFD) < 0 && errno == EBADF) {
      FD_SET(fd, bad);
      FD_CLR(fd, rd);
      FD_CLR(fd, wr);
      nbad++;
    }
  }
  return nbad;
}

/* Writers that select() found readable but not writable: hang-up, error,
 * or just data? Returns how many probes turned out to be plain data for a
 * writer-only fd (their readability is then not news). */
static int select_classify(select_state *s, fd_set *rd, const fd_set *wr,
                           fd_set *hup, fd_set *err) {
  int n = 0;
  for (int fd = 0; fd < s->maxfd; fd++)
    if ((s->masks[fd] & EVL_WRITE) && FD_ISSET(fd, rd) && !FD_ISSET(fd, wr))
      s->chk[n++] = (struct pollfd){.fd = fd, .events = POLLOUT};
  if (n == 0 || poll(s->chk, (nfds_t)n, 0) < 0)
    return 0; /* EINTR or ENOMEM: no classification, no harm */
  int spurious = 0;
  for (int i = 0; i < n; i++) {
    int fd = s->chk[i].fd;
    short re = s->chk[i].revents;
    if (re & POLLHUP)
      FD_SET(fd, hup);
    if (re & (POLLERR | POLLNVAL))
      FD_SET(fd, err);
    if (!(re & (POLLHUP | POLLERR | POLLNVAL)) && !(s->masks[fd] & EVL_READ)) {
      select_set(s, fd, s->masks[fd] | SELECT_NOPROBE);
      FD_CLR(fd, rd);
      spurious++;
    }
  }
  return spurious;
}

static int select_collect(select_state *s, const fd_set *rd, const fd_set *wr,
                          const fd_set *hup, const fd_set *err,
                          const fd_set *bad, evl_event *out, int cap) {
  int n = s->maxfd, k = 0, last = -1;
  int fd = s->start < n ? s->start : 0;
  for (int step = 0; step < n && k < cap; step++) {
    unsigned m = s->masks[fd];
    unsigned dir = m & (EVL_READ | EVL_WRITE);
    if (dir) {
      uint32_t r = 0;
      if (bad && FD_ISSET(fd, bad)) {
        r = EVL_ERR | dir; /* K5: the error wakes every direction */
      } else {
        if ((m & EVL_READ) && FD_ISSET(fd, rd))
          r |= EVL_READ;
        if ((m & EVL_WRITE) && FD_ISSET(fd, wr)) {
          r |= EVL_WRITE;
          if (m & SELECT_NOPROBE) /* drained its buffer: probe again */
            select_set(s, fd, dir);
        }
        if (FD_ISSET(fd, hup))
          r |= EVL_HUP | dir;
        if (FD_ISSET(fd, err))
          r |= EVL_ERR | dir;
      }
      if (r) {
        out[k].fd = fd;
        out[k].events = r;
        k++;
        last = fd;
      }
    }
    if (++fd == n)
      fd = 0;
  }
  /* Next scan starts after the last fd reported (K4). */
  if (last >= 0)
    s->start = last + 1 < n ? last + 1 : 0;
  return k;
}

static int select_wait(void *state, int64_t timeout_ns, evl_event *out,
                       int cap) {
  select_state *s = state;
  if (cap <= 0 || !out)
    return -EINVAL;
  struct timespec ts, *tsp = NULL;
  if (timeout_ns >= 0) {
    ts.tv_sec = (time_t)(timeout_ns / 1000000000);
    ts.tv_nsec = (long)(timeout_ns % 1000000000);
    tsp = &ts;
  }
  /* Each retry switched off at least one probe, so this ends; a retry
   * waits the full timeout again, which is late by microseconds at most
   * and never early. */
  for (;;) {
    fd_set rd = s->rd, wr = s->wr, bad, hup, err;
    int nbad = 0;
    int rc = pselect(s->maxfd, &rd, &wr, NULL, tsp, NULL);
    if (rc < 0 && errno == EBADF) {
      rd = s->rd;
      wr = s->wr;
      nbad = select_find_closed(s, &bad, &rd, &wr);
      if (!nbad)
        return -EBADF; /* not ours to explain */
      /* There is something to report: look, do not block. */
      struct timespec zero = {0, 0};
      rc = pselect(s->maxfd, &rd, &wr, NULL, &zero, NULL);
    }
    if (rc < 0)
      return errno == EINTR ? 0 : -errno;
    if (rc == 0 && !nbad)
      return 0;
    FD_ZERO(&hup);
    FD_ZERO(&err);
    int spurious = select_classify(s, &rd, &wr, &hup, &err);
    int k =
        select_collect(s, &rd, &wr, &hup, &err, nbad ? &bad : NULL, out, cap);
    if (k > 0 || spurious == 0)
      return k;
  }
}

static int select_forget_fd(void *state, int fd) {
  select_state *s = state;
  if (fd >= 0 && fd < FD_SETSIZE && s->masks[fd])
    return select_ctl(s, fd, 0, 0);
  return 0;
}

const evl_backend_ops evl__backend_select = {
    .abi = EVL_BACKEND_ABI,
    .size = sizeof(evl_backend_ops),
    .name = "select",
    .description = "POSIX select(2) via pselect, fds below FD_SETSIZE only",
    .features = EVL_BF_FDS | EVL_BF_FILES,
    .fd_limit = FD_SETSIZE,
    /* pselect takes a timespec, but hrtimer slack (50 us by default) makes
     * sub-microsecond requests meaningless. */
    .resolution_ns = 1000,
    .state_size = sizeof(select_state),
    .priority = 10,
    .probe = NULL,
    .init = select_init,
    .fini = select_fini,
    .ctl = select_ctl,
    .wait = select_wait,
    .forget_fd = select_forget_fd,
    .after_fork = NULL,
    .wake = NULL,
};
