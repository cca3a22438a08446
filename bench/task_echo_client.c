/* task_echo_client.c — task_echo's client thread: one closed-loop load on
 * each server's connections in turn, a slice at a time, in ABBA order,
 * counting the replies each turn got (bench/task_echo.h). */
#include "task_echo.h"

#include <errno.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

void te_kick(te_sl *t, int who, int next) {
  atomic_store(&t->phase, next);
  char b = 1;
  if (write(t->ctl[who][1], &b, 1) < 0) {
  } /* a byte already waiting wakes it as well */
}

/* One turn: every connection sends, each whole reply counted while the
 * slice lasts and answered by the next request; then the requests in
 * flight come back uncounted. */
static int te_slice(te_sl *t, int ep, const int *fd, long *reqs) {
  static char msg[TE_MSG], rbuf[64 * 1024];
  size_t got[TE_MAXC] = {0};
  int busy = 0, rc = 0;
  uint64_t end = bench_now() + t->slice, hard = end + 3000000000u;
  *reqs = 0;
  /* 1 KiB into an emptied socket: a send never blocks. */
  for (int i = 0; i < t->conc; i++, busy++)
    if (send(fd[i], msg, TE_MSG, MSG_NOSIGNAL) != TE_MSG)
      return -EIO;
  while (busy > 0 && rc == 0) {
    struct epoll_event evs[TE_MAXC];
    int k = epoll_wait(ep, evs, TE_MAXC, 100);
    uint64_t now = bench_now();
    if (k < 0 && errno != EINTR)
      return -errno;
    if (now > hard)
      return -ETIMEDOUT;
    for (int j = 0; j < k && rc == 0; j++) {
      int i = (int)evs[j].data.u32;
      ssize_t r = recv(fd[i], rbuf, sizeof rbuf, 0);
      if (r < 0 && errno == EAGAIN)
        continue;
      if (r <= 0)
        return r < 0 ? -errno : -ECONNRESET;
      got[i] += (size_t)r;
      if (got[i] < TE_MSG)
        continue;
      got[i] = 0;
      if (now >= end) {
        busy--;
        continue;
      }
      (*reqs)++;
      if (send(fd[i], msg, TE_MSG, MSG_NOSIGNAL) != TE_MSG)
        rc = -EIO;
    }
  }
  return rc;
}

/* Whose turn is `turn`: pair p's first slice is (p + first)'s, so the
 * order runs A B, B A, A B, ... */
static int te_who(const te_sl *t, int turn) {
  return bench_paired_who(turn / 2, turn % 2, t->first);
}

void *te_client(void *arg) {
  te_sl *t = arg;
  bench_pin(1); /* off the servers' CPU */
  int fd[2][TE_MAXC], ep[2] = {-1, -1}, rc = 0;
  for (int s = 0; s < 2; s++)
    for (int i = 0; i < t->conc; i++)
      fd[s][i] = -1;
  for (int s = 0; s < 2 && rc == 0; s++) {
    ep[s] = epoll_create1(EPOLL_CLOEXEC);
    if (ep[s] < 0)
      rc = -errno;
    for (int i = 0; i < t->conc && rc == 0; i++) {
      fd[s][i] = rc = bench_connect_tcp(t->port[s]);
      struct epoll_event ev = {.events = EPOLLIN, .data.u32 = (uint32_t)i};
      if (rc >= 0)
        rc = epoll_ctl(ep[s], EPOLL_CTL_ADD, fd[s][i], &ev) < 0 ? -errno : 0;
    }
  }
  /* Until the server accepted everything (5 s at most). */
  for (int w = 0; rc == 0 && !atomic_load(&t->ready); w++) {
    if (TE_WHO(atomic_load(&t->phase)) == TE_END)
      rc = -EIO;
    else if (w > 25000)
      rc = -ETIMEDOUT;
    else
      usleep(200);
  }
  int turns = 2 * (t->npairs + 1), turn = 0;
  for (; turn < turns && rc == 0; turn++) {
    int p = turn / 2, who = te_who(t, turn), nwho = te_who(t, turn + 1);
    if (TE_WHO(atomic_load(&t->phase)) == TE_END) {
      rc = -EIO; /* the server gave up */
      break;
    }
    rc = te_slice(t, ep[who], fd[who], &t->reqs[who][p]);
    te_kick(t, who, TE_PHASE(turn + 1, turn + 1 < turns ? nwho : TE_END));
  }
  t->rc = rc;
  te_kick(t, TE_CB, TE_PHASE(turn + 1, TE_END));
  te_kick(t, TE_TASKS, TE_PHASE(turn + 1, TE_END));
  for (int s = 0; s < 2; s++) {
    for (int i = 0; i < t->conc; i++)
      if (fd[s][i] >= 0)
        close(fd[s][i]);
    if (ep[s] >= 0)
      close(ep[s]);
  }
  return NULL;
}
