/* pingpong.c — libuv's ping_pongs: one TCP loopback connection, both ends on
 * the loop under test, one message in flight; plus its raw-epoll floor. */
#include "bench.h"

#include <errno.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#define PINGPONG_MSG "PING\n"
#define PINGPONG_LEN 5

typedef struct pingpong {
  bench_ctx *c;
  evl_loop *loop;
  int cfd, sfd;
  int got; /* bytes of the current reply seen by the client */
  long trips;
  uint64_t until;
  int done, rc;
} pingpong;

/* The server echoes whatever arrives. */
static int pingpong_serve(pingpong *p) {
  char buf[256];
  ssize_t k = recv(p->sfd, buf, sizeof buf, 0);
  if (k > 0 && send(p->sfd, buf, (size_t)k, 0) != k)
    return -EIO;
  if (k == 0)
    return -ECONNRESET;
  return k < 0 && errno != EAGAIN ? -errno : 0;
}

/* The client counts a trip per full reply, then sends the next ping. */
static int pingpong_client(pingpong *p) {
  char buf[256];
  ssize_t k = recv(p->cfd, buf, sizeof buf, 0);
  if (k < 0)
    return errno == EAGAIN ? 0 : -errno;
  if (k == 0)
    return -ECONNRESET;
  p->got += (int)k;
  while (p->got >= PINGPONG_LEN) {
    p->got -= PINGPONG_LEN;
    p->trips++;
    if ((p->trips & 63) == 0 && bench_now() >= p->until) {
      p->done = 1;
      return 0;
    }
    if (send(p->cfd, PINGPONG_MSG, PINGPONG_LEN, 0) != PINGPONG_LEN)
      return -EIO;
  }
  return 0;
}

static void pingpong_server_cb(int fd, unsigned ev, void *arg) {
  (void)fd;
  (void)ev;
  pingpong *p = arg;
  int rc = pingpong_serve(p);
  if (rc < 0) {
    p->rc = rc;
    p->done = 1;
  }
}

static void pingpong_client_cb(int fd, unsigned ev, void *arg) {
  (void)fd;
  (void)ev;
  pingpong *p = arg;
  int rc = pingpong_client(p);
  if (rc < 0) {
    p->rc = rc;
    p->done = 1;
  }
}

static int pingpong_connect(pingpong *p) {
  int port, lfd = bench_listen_tcp(&port);
  if (lfd < 0)
    return lfd;
  p->cfd = bench_connect_tcp(port);
  if (p->cfd < 0) {
    close(lfd);
    return p->cfd;
  }
  p->sfd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
  int e = errno;
  close(lfd);
  if (p->sfd < 0) {
    close(p->cfd);
    return -e;
  }
  bench_nodelay(p->sfd);
  return 0;
}

int bench_pingpong(bench_ctx *c) {
  uint64_t dur = c->profile == BENCH_FULL ? 2000000000u : 300000000u;
  double r[64];
  int got = 0;
  char params[64];
  snprintf(params, sizeof params, "{\"bytes\":%d}", PINGPONG_LEN);
  for (int rep = 0; rep < c->repeat && rep < 64; rep++) {
    pingpong p = {0};
    p.c = c;
    int rc = pingpong_connect(&p);
    if (rc < 0)
      return rc;
    int ep = -1;
    if (!c->ops) {
      ep = epoll_create1(EPOLL_CLOEXEC);
      struct epoll_event e1 = {.events = EPOLLIN, .data.u32 = 0};
      struct epoll_event e2 = {.events = EPOLLIN, .data.u32 = 1};
      epoll_ctl(ep, EPOLL_CTL_ADD, p.sfd, &e1);
      epoll_ctl(ep, EPOLL_CTL_ADD, p.cfd, &e2);
    } else {
      rc = bench_loop_new(c, &p.loop);
      if (rc == 0)
        rc = c->ops->add_reader(p.loop, p.sfd, pingpong_server_cb, &p);
      if (rc == 0)
        rc = c->ops->add_reader(p.loop, p.cfd, pingpong_client_cb, &p);
    }
    uint64_t t0 = bench_now();
    p.until = t0 + dur;
    if (rc == 0 && send(p.cfd, PINGPONG_MSG, PINGPONG_LEN, 0) != PINGPONG_LEN)
      rc = -EIO;
    while (rc == 0 && !p.done) {
      if (!c->ops) {
        struct epoll_event evs[8];
        int k = epoll_wait(ep, evs, 8, -1);
        for (int i = 0; i < k && rc == 0; i++)
          rc = evs[i].data.u32 ? pingpong_client(&p) : pingpong_serve(&p);
      } else {
        rc = c->ops->run_once(p.loop);
      }
    }
    uint64_t t1 = bench_now();
    if (rc == 0)
      rc = p.rc;
    if (ep >= 0)
      close(ep);
    if (p.loop) {
      c->ops->remove_reader(p.loop, p.sfd);
      c->ops->remove_reader(p.loop, p.cfd);
      bench_loop_free(c, p.loop);
    }
    close(p.cfd);
    close(p.sfd);
    if (rc < 0) {
      bench_skip(c, "pingpong", params, "%s", bench_strerror(rc));
      return 0;
    }
    r[got++] = (double)p.trips / ((double)(t1 - t0) / 1e9);
    if (bench_over_budget(c))
      break;
  }
  bench_emit(c, "pingpong", params, "round_trips", "trips/s", "higher", r, got);
  return 0;
}
