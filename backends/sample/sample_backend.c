/* sample_backend.c — a minimal third-party selector backend on poll(2): the
 * template to copy when writing your own evlab backend plugin.
 *
 * Build it against the installed headers only and validate it:
 *   cc -shared -fPIC $(pkg-config --cflags evl) -o mine.so sample_backend.c
 *   evl-conform --backend ./mine.so
 * The K-tests then check this table alone, and the S-tests run the
 * reference loop core on top of it.
 *
 * What a backend does (the contract is in <evl/backend.h>): remember which
 * fds want READ and/or WRITE (ctl), and report which of them are ready
 * (wait). The core owns everything else: callbacks, timers, stale-event
 * checks. This one keeps a pollfd array plus an fd -> slot map, so ctl is
 * O(1) and wait is O(registered fds) — hence no EVL_BF_O1. */
#ifndef _GNU_SOURCE /* pipe2; the evlab build defines it already */
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <evl/backend.h>

/* The core allocates state_size zeroed bytes for this and passes it to
 * every call: no globals, so any number of loops can use the backend. */
typedef struct sample_state {
  struct pollfd *pfds; /* pfds[0] is the wake pipe; user fds follow */
  int npfds, cap;
  int *slot; /* fd -> index in pfds, 0 when not registered */
  int nslot;
  int next; /* where the next wait starts reporting: fairness (K4) */
  int wake_rd, wake_wr;
} sample_state;

static uint64_t sample_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int sample_init(void *state, const evl_backend_config *cfg) {
  sample_state *s = state;
  (void)cfg; /* cfg->expected_fds is only a sizing hint */
  int p[2];
  /* wake() writes a byte here, so a blocked poll() returns. */
  if (pipe2(p, O_CLOEXEC | O_NONBLOCK) != 0)
    return -errno;
  s->cap = 16;
  s->pfds = calloc((size_t)s->cap, sizeof *s->pfds);
  if (!s->pfds) {
    close(p[0]);
    close(p[1]);
    return -ENOMEM;
  }
  s->wake_rd = p[0];
  s->wake_wr = p[1];
  s->pfds[0] = (struct pollfd){.fd = p[0], .events = POLLIN};
  s->npfds = 1;
  s->next = 1;
  return 0;
}

static void sample_fini(void *state) {
  sample_state *s = state;
  close(s->wake_rd);
  close(s->wake_wr);
  free(s->pfds);
  free(s->slot);
}

static short sample_pollbits(unsigned mask) {
  return (short)(((mask & EVL_READ) ? POLLIN : 0) |
                 ((mask & EVL_WRITE) ? POLLOUT : 0));
}

static int sample_ctl(void *state, int fd, unsigned old_mask,
                      unsigned new_mask) {
  sample_state *s = state;
  (void)old_mask; /* the table knows what is registered */
  if (fd < 0)
    return -EBADF;
  if (new_mask & ~(unsigned)(EVL_READ | EVL_WRITE))
    return -EINVAL; /* no EVL_BF_ET / EVL_BF_ONESHOT here */
  int idx = fd < s->nslot ? s->slot[fd] : 0;

  if (new_mask == 0) { /* delete: also valid for an fd already closed */
    if (!idx)
      return -ENOENT;
    /* Swap the last entry into the hole to keep the array dense. */
    int last = s->npfds - 1;
    if (idx != last) {
      s->pfds[idx] = s->pfds[last];
      s->slot[s->pfds[idx].fd] = idx;
    }
    s->npfds--;
    s->slot[fd] = 0;
    if (s->next >= s->npfds)
      s->next = 1;
    return 0;
  }

  /* poll() would only report POLLNVAL for a closed fd: refuse it now. */
  if (fcntl(fd, F_GETFD) < 0)
    return -errno;
  if (idx) { /* modify */
    s->pfds[idx].events = sample_pollbits(new_mask);
    return 0;
  }
  if (fd >= s->nslot) {
    /* An open fd is below RLIMIT_NOFILE, so the map stays proportional to
     * the process's real fds. */
    int n = s->nslot ? s->nslot : 64;
    while (n <= fd)
      n = n > INT_MAX / 2 ? INT_MAX : n * 2;
    int *ns = realloc(s->slot, (size_t)n * sizeof *ns);
    if (!ns)
      return -ENOMEM;
    memset(ns + s->nslot, 0, (size_t)(n - s->nslot) * sizeof *ns);
    s->slot = ns;
    s->nslot = n;
  }
  if (s->npfds == s->cap) {
    struct pollfd *np = realloc(s->pfds, (size_t)s->cap * 2 * sizeof *np);
    if (!np)
      return -ENOMEM; /* nothing was registered: the add is refused whole */
    s->pfds = np;
    s->cap *= 2;
  }
  s->pfds[s->npfds] =
      (struct pollfd){.fd = fd, .events = sample_pollbits(new_mask)};
  s->slot[fd] = s->npfds++;
  return 0;
}

/* poll()'s revents in EVL_* terms. Reported bits stay within the
 * registered interest, and ERR/HUP also wake every registered direction, so
 * a reader sees EOF and a writer sees EPIPE (K5). */
static uint32_t sample_events(const struct pollfd *p) {
  unsigned interest = ((p->events & POLLIN) ? EVL_READ : 0) |
                      ((p->events & POLLOUT) ? EVL_WRITE : 0);
  uint32_t e = 0;
  if (p->revents & POLLIN)
    e |= EVL_READ;
  if (p->revents & POLLOUT)
    e |= EVL_WRITE;
  if (p->revents & POLLERR)
    e |= EVL_ERR | interest;
  if (p->revents & POLLHUP)
    e |= EVL_HUP | interest;
  if (p->revents & POLLNVAL) /* closed while registered */
    e |= EVL_ERR | interest;
  return e & (interest | EVL_ERR | EVL_HUP);
}

static int sample_wait(void *state, int64_t timeout_ns, evl_event *out,
                       int cap) {
  sample_state *s = state;
  /* Saturating: INT64_MAX must not wrap into an early return. */
  uint64_t start = sample_now();
  uint64_t deadline =
      timeout_ns > 0 && (uint64_t)timeout_ns < UINT64_MAX - start
          ? start + (uint64_t)timeout_ns
          : UINT64_MAX;
  for (;;) {
    int ms = -1;
    if (timeout_ns == 0)
      ms = 0;
    else if (timeout_ns > 0) {
      uint64_t now = sample_now();
      /* Round up: poll() must never return before the timeout. */
      uint64_t left = now >= deadline ? 0 : (deadline - now + 999999) / 1000000;
      ms = left > INT_MAX ? INT_MAX : (int)left;
    }
    int rc = poll(s->pfds, (nfds_t)s->npfds, ms);
    if (rc < 0)
      return errno == EINTR ? 0 : -errno; /* EINTR is "no events" (K2) */
    int woken = 0;
    if (s->pfds[0].revents) {
      char buf[64];
      while (read(s->wake_rd, buf, sizeof buf) > 0)
        ;
      woken = 1;
      rc--;
    }
    int n = 0, users = s->npfds - 1;
    if (rc > 0 && users > 0) {
      /* Start where the last full batch stopped, so that with more ready
       * fds than cap every fd is reported within a few waits (K4). */
      int start_idx = s->next >= 1 && s->next < s->npfds ? s->next : 1;
      for (int k = 0; k < users && n < cap; k++) {
        int i = 1 + (start_idx - 1 + k) % users;
        uint32_t e = s->pfds[i].revents ? sample_events(&s->pfds[i]) : 0;
        if (!e)
          continue;
        out[n++] = (evl_event){.fd = s->pfds[i].fd, .events = e};
        if (n == cap)
          s->next = 1 + (i % users);
      }
    }
    if (n > 0 || woken || timeout_ns == 0)
      return n;
    if (timeout_ns > 0 && sample_now() >= deadline)
      return 0;
  }
}

static int sample_wake(void *state) {
  sample_state *s = state;
  char c = 1;
  /* A full pipe already holds a wakeup: EAGAIN loses nothing. */
  if (write(s->wake_wr, &c, 1) < 0 && errno != EAGAIN)
    return -errno;
  return 0;
}

/* Designated initialisers: fields this plugin does not know stay zero, and
 * .size tells the loader which version of the table it was built with. */
static const evl_backend_ops sample_ops = {
    .abi = EVL_BACKEND_ABI,
    .size = sizeof(evl_backend_ops),
    .name = "sample-poll",
    .description = "third-party sample: poll(2) with an fd -> slot map",
    .features = EVL_BF_FDS | EVL_BF_FILES,
    .fd_limit = 0,
    .resolution_ns = 1000000, /* poll() counts milliseconds */
    .state_size = sizeof(sample_state),
    .priority = 0, /* never chosen by default: only when named */
    .probe = NULL, /* poll() is always there */
    .init = sample_init,
    .fini = sample_fini,
    .ctl = sample_ctl,
    .wait = sample_wait,
    .forget_fd = NULL, /* nothing kept in the kernel per fd */
    .after_fork = NULL,
    .wake = sample_wake,
};

/* The one symbol evl-conform and the core look up with dlsym(). */
const evl_backend_ops *evl_backend_plugin(void) {
  return &sample_ops;
}
