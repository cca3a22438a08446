/* broken_epoll.c — a deliberately broken epoll backend plugin: after ctl
 * deletes an fd it still reports that fd once more, breaking rule K6.
 *
 * It exists to prove that the suite can fail: `make check` runs
 * `evl-conform --backend build/samples/broken_epoll.so` and passes only if
 * that run fails and names K6. Apart from the one bug (marked BUG below) it
 * is a plain, correct epoll backend written as a third party would write
 * one, against the installed header alone. Do not copy it: copy
 * sample_backend.c. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include <evl/backend.h>

enum { BROKEN_GHOSTS = 64, BROKEN_BATCH = 256 };

typedef struct broken_state {
  int epfd;
  int wakefd;
  /* BUG: deleted fds remembered here and reported by the next wait, as a
   * careless batched backend does with completions still in flight. */
  evl_event ghosts[BROKEN_GHOSTS];
  int nghosts;
  unsigned char *masks; /* fd -> registered EVL_READ|EVL_WRITE */
  int nmasks;
} broken_state;

static uint64_t broken_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int broken_init(void *state, const evl_backend_config *cfg) {
  broken_state *s = state;
  (void)cfg;
  s->epfd = epoll_create1(EPOLL_CLOEXEC);
  if (s->epfd < 0)
    return -errno;
  s->wakefd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (s->wakefd < 0) {
    int err = errno;
    close(s->epfd);
    return -err;
  }
  /* data.fd = -1 marks the wake eventfd: no user fd is negative. */
  struct epoll_event ev = {.events = EPOLLIN, .data.fd = -1};
  if (epoll_ctl(s->epfd, EPOLL_CTL_ADD, s->wakefd, &ev) != 0) {
    int err = errno;
    close(s->wakefd);
    close(s->epfd);
    return -err;
  }
  return 0;
}

static void broken_fini(void *state) {
  broken_state *s = state;
  close(s->wakefd);
  close(s->epfd);
  free(s->masks);
}

static int broken_ctl(void *state, int fd, unsigned old_mask,
                      unsigned new_mask) {
  broken_state *s = state;
  if (fd < 0)
    return -EBADF;
  struct epoll_event ev = {.data.fd = fd};
  if (new_mask & EVL_READ)
    ev.events |= EPOLLIN;
  if (new_mask & EVL_WRITE)
    ev.events |= EPOLLOUT;
  int op = old_mask == 0   ? EPOLL_CTL_ADD
           : new_mask == 0 ? EPOLL_CTL_DEL
                           : EPOLL_CTL_MOD;
  if (fd >= s->nmasks) {
    int n = s->nmasks ? s->nmasks : 64;
    while (n <= fd)
      n *= 2;
    unsigned char *m = realloc(s->masks, (size_t)n);
    if (!m)
      return -ENOMEM;
    memset(m + s->nmasks, 0, (size_t)(n - s->nmasks));
    s->masks = m;
    s->nmasks = n;
  }
  if (epoll_ctl(s->epfd, op, fd, &ev) != 0)
    return -errno;
  s->masks[fd] = (unsigned char)(new_mask & (EVL_READ | EVL_WRITE));
  if (op == EPOLL_CTL_DEL && s->nghosts < BROKEN_GHOSTS) /* BUG */
    s->ghosts[s->nghosts++] =
        (evl_event){.fd = fd, .events = old_mask & (EVL_READ | EVL_WRITE)};
  return 0;
}

static int broken_wait(void *state, int64_t timeout_ns, evl_event *out,
                       int cap) {
  broken_state *s = state;
  struct epoll_event evs[BROKEN_BATCH];
  int n = 0;
  /* BUG: the ghosts of deleted fds come first. */
  while (s->nghosts > 0 && n < cap)
    out[n++] = s->ghosts[--s->nghosts];
  if (n > 0)
    timeout_ns = 0;
  uint64_t deadline = timeout_ns > 0 ? broken_now() + (uint64_t)timeout_ns : 0;
  for (;;) {
    int ms = -1;
    if (timeout_ns == 0)
      ms = 0;
    else if (timeout_ns > 0) {
      uint64_t now = broken_now();
      if (now >= deadline)
        ms = 0;
      else {
        uint64_t left = (deadline - now + 999999) / 1000000; /* round up */
        ms = left > 86400000 ? 86400000 : (int)left;
      }
    }
    int max = cap - n < BROKEN_BATCH ? cap - n : BROKEN_BATCH;
    int got = epoll_wait(s->epfd, evs, max > 0 ? max : 1, ms);
    if (got < 0)
      return errno == EINTR ? n : -errno;
    for (int i = 0; i < got && n < cap; i++) {
      if (evs[i].data.fd == -1) {
        uint64_t v;
        while (read(s->wakefd, &v, sizeof v) > 0)
          ;
        continue;
      }
      uint32_t e = 0;
      if (evs[i].events & EPOLLIN)
        e |= EVL_READ;
      if (evs[i].events & EPOLLOUT)
        e |= EVL_WRITE;
      /* ERR and HUP wake every registered direction (K5). */
      if (evs[i].events & (EPOLLERR | EPOLLHUP)) {
        e |= s->masks[evs[i].data.fd];
        if (evs[i].events & EPOLLERR)
          e |= EVL_ERR;
        if (evs[i].events & EPOLLHUP)
          e |= EVL_HUP;
      }
      out[n++] = (evl_event){.fd = evs[i].data.fd, .events = e};
    }
    if (n > 0 || timeout_ns == 0)
      return n;
    if (got > 0) /* woken */
      return 0;
    if (timeout_ns > 0 && broken_now() >= deadline)
      return 0;
  }
}

static int broken_wake(void *state) {
  broken_state *s = state;
  uint64_t one = 1;
  if (write(s->wakefd, &one, sizeof one) < 0 && errno != EAGAIN)
    return -errno;
  return 0;
}

static const evl_backend_ops broken_ops = {
    .abi = EVL_BACKEND_ABI,
    .size = sizeof(evl_backend_ops),
    .name = "broken-epoll",
    .description = "epoll that reports deleted fds once more (breaks K6)",
    .features = EVL_BF_O1 | EVL_BF_FDS,
    .fd_limit = 0,
    .resolution_ns = 1000000,
    .state_size = sizeof(broken_state),
    .priority = 0,
    .probe = NULL,
    .init = broken_init,
    .fini = broken_fini,
    .ctl = broken_ctl,
    .wait = broken_wait,
    .wake = broken_wake,
};

const evl_backend_ops *evl_backend_plugin(void) {
  return &broken_ops;
}
