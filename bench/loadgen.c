/* loadgen.c — the echo load generator (loadgen.h): epoll, nonblocking
 * sockets, closed loop or constant rate, latency per request. */
#include "loadgen.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#define LOADGEN_RBUF (64 * 1024)
#define LOADGEN_EVS 256

typedef struct loadgen_conn {
  int fd;
  size_t sent, got;
  uint64_t t_start; /* when this request was due (rate) or sent (closed) */
  uint64_t next;    /* rate: when the next request is due */
  int busy, out;
} loadgen_conn;

static int loadgen_mod(int ep, loadgen_conn *cc, int out) {
  struct epoll_event ev = {.events = EPOLLIN | (out ? EPOLLOUT : 0u),
                           .data.ptr = cc};
  cc->out = out;
  return epoll_ctl(ep, EPOLL_CTL_MOD, cc->fd, &ev) < 0 ? -errno : 0;
}

/* Sends what the socket takes; the rest when it says EPOLLOUT. */
static int loadgen_send(int ep, const bench_load *l, const char *msg,
                        loadgen_conn *cc) {
  while (cc->sent < l->size) {
    ssize_t k = send(cc->fd, msg + cc->sent, l->size - cc->sent, MSG_NOSIGNAL);
    if (k < 0) {
      if (errno != EAGAIN)
        return -errno;
      return cc->out ? 0 : loadgen_mod(ep, cc, 1);
    }
    cc->sent += (size_t)k;
  }
  return cc->out ? loadgen_mod(ep, cc, 0) : 0;
}

static int loadgen_start(int ep, const bench_load *l, const char *msg,
                         loadgen_conn *cc, uint64_t t) {
  cc->busy = 1;
  cc->sent = cc->got = 0;
  cc->t_start = t;
  return loadgen_send(ep, l, msg, cc);
}

static int loadgen_connect(int ep, bench_load *l, loadgen_conn *cs) {
  for (int i = 0; i < l->conc; i++) {
    cs[i].fd = bench_connect_tcp(l->port);
    if (cs[i].fd < 0)
      return cs[i].fd;
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = &cs[i]};
    if (epoll_ctl(ep, EPOLL_CTL_ADD, cs[i].fd, &ev) < 0)
      return -errno;
  }
  return 0;
}

/* Reads what arrived on cc; a whole echo ends its request. */
static int loadgen_recv(int ep, bench_load *l, const char *msg,
                        loadgen_conn *cc, char *rbuf, uint64_t now,
                        uint64_t end) {
  ssize_t r = recv(cc->fd, rbuf, LOADGEN_RBUF, 0);
  if (r == 0)
    return -ECONNRESET;
  if (r < 0)
    return errno == EAGAIN ? 0 : -errno;
  cc->got += (size_t)r;
  if (!cc->busy || cc->got < l->size)
    return 0;
  if (l->keep_lat)
    bench_lat_add(&l->lat, (double)(now - cc->t_start));
  l->reqs++;
  cc->busy = 0;
  if (l->rate <= 0 && now < end)
    return loadgen_start(ep, l, msg, cc, now);
  return 0;
}

/* Starts the rate-mode requests that are due; the earliest next one. */
static uint64_t loadgen_due(int ep, bench_load *l, const char *msg,
                            loadgen_conn *cs, uint64_t now, uint64_t end,
                            uint64_t period, int *busy, int *rc) {
  uint64_t wake = UINT64_MAX;
  *busy = 0;
  for (int i = 0; i < l->conc && *rc == 0; i++) {
    loadgen_conn *cc = &cs[i];
    if (l->rate > 0 && !cc->busy && cc->next < end && cc->next <= now) {
      *rc = loadgen_start(ep, l, msg, cc, cc->next);
      cc->next += period;
    }
    if (l->rate > 0 && !cc->busy && cc->next < end && cc->next < wake)
      wake = cc->next;
    *busy += cc->busy;
  }
  return wake;
}

/* The constant-rate schedule needs sub-millisecond waits, so epoll_pwait2;
 * where the kernel (or valgrind, whose callgrind runs count the echo rows)
 * answers ENOSYS (asked again each time: valgrind answers without a
 * system call), epoll_wait rounded up to whole ms: late by under a ms,
 * never early. */
static int loadgen_wait(int ep, struct epoll_event *evs,
                        const struct timespec *ts) {
  int k = epoll_pwait2(ep, evs, LOADGEN_EVS, ts, NULL);
  if (k >= 0 || errno != ENOSYS)
    return k;
  long long ms =
      (long long)ts->tv_sec * 1000 + (ts->tv_nsec + 999999) / 1000000;
  return epoll_wait(ep, evs, LOADGEN_EVS, ms > 1000000 ? 1000000 : (int)ms);
}

static int loadgen_run(int ep, bench_load *l, const char *msg, loadgen_conn *cs,
                       char *rbuf) {
  uint64_t start = bench_now(), end = start + l->duration;
  uint64_t period =
      l->rate > 0 ? (uint64_t)(1e9 * (double)l->conc / l->rate) : 0;
  int rc = 0;
  for (int i = 0; i < l->conc && rc == 0; i++) {
    if (l->rate > 0)
      cs[i].next = start + period * (uint64_t)i / (uint64_t)l->conc;
    else
      rc = loadgen_start(ep, l, msg, &cs[i], start);
  }
  /* A server that stopped answering ends the run 3 s after the window. */
  uint64_t hard = end + 3000000000u;
  while (rc == 0) {
    uint64_t now = bench_now();
    int busy = 0;
    uint64_t wake = loadgen_due(ep, l, msg, cs, now, end, period, &busy, &rc);
    if (rc || now >= hard)
      break;
    if (l->rate <= 0 && now >= end)
      break; /* closed loop: what is still in flight is not counted */
    if (!busy && (l->rate <= 0 || now >= end || wake == UINT64_MAX))
      break;
    uint64_t d = wake != UINT64_MAX ? (wake > now ? wake - now : 0)
                                    : 100000000u; /* re-check the limits */
    if (l->rate <= 0 && end - now < d)
      d = end - now;
    struct timespec ts = {(time_t)(d / 1000000000u), (long)(d % 1000000000u)};
    struct epoll_event evs[LOADGEN_EVS];
    int k = loadgen_wait(ep, evs, &ts);
    if (k < 0 && errno != EINTR)
      return -errno;
    now = bench_now();
    for (int i = 0; i < k && rc == 0; i++) {
      loadgen_conn *cc = evs[i].data.ptr;
      if (evs[i].events & EPOLLOUT)
        rc = loadgen_send(ep, l, msg, cc);
      if (rc == 0 && (evs[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR)))
        rc = loadgen_recv(ep, l, msg, cc, rbuf, now, end);
    }
  }
  l->window = bench_now() - start;
  if (l->window > l->duration && l->rate <= 0)
    l->window = l->duration; /* the tail is draining, not new work */
  return rc;
}

void *bench_load_main(void *arg) {
  bench_load *l = arg;
  bench_pin(1); /* off the loop's CPU */
  loadgen_conn *cs = calloc((size_t)(l->conc > 0 ? l->conc : 1), sizeof *cs);
  char *rbuf = malloc(LOADGEN_RBUF);
  char *msg = malloc(l->size ? l->size : 1);
  int ep = epoll_create1(EPOLL_CLOEXEC);
  int rc = cs && rbuf && msg ? (ep < 0 ? -errno : 0) : -ENOMEM;
  for (int i = 0; cs && i < l->conc; i++)
    cs[i].fd = -1;
  if (msg)
    memset(msg, 'x', l->size ? l->size : 1);
  if (rc == 0 && (l->conc <= 0 || l->size == 0))
    rc = -EINVAL;
  if (rc == 0)
    rc = loadgen_connect(ep, l, cs);
  if (rc == 0)
    rc = loadgen_run(ep, l, msg, cs, rbuf);
  l->rc = rc;
  /* Finished before closing: the server's last EOF must see it. */
  atomic_store(&l->finished, 1);
  for (int i = 0; cs && i < l->conc; i++)
    if (cs[i].fd >= 0)
      close(cs[i].fd);
  if (ep >= 0)
    close(ep);
  free(cs);
  free(rbuf);
  free(msg);
  return NULL;
}

int bench_load_start(bench_load *l, pthread_t *th) {
  l->reqs = 0;
  l->window = 0;
  l->rc = 0;
  l->lat = (bench_lat){0};
  atomic_init(&l->finished, 0);
  return -pthread_create(th, NULL, bench_load_main, l);
}

int bench_load_done(const bench_load *l) {
  return atomic_load(&((bench_load *)l)->finished);
}

int bench_load_join(bench_load *l, pthread_t th) {
  pthread_join(th, NULL);
  if (l->rc == 0 && l->reqs == 0)
    return -EIO;
  return l->rc;
}

double bench_load_rps(const bench_load *l) {
  return l->window ? (double)l->reqs / ((double)l->window / 1e9) : 0;
}

void bench_load_figures(bench_load *l, double (*fig)[64], int rep) {
  int n = (int)l->lat.n;
  bench_sort(l->lat.v, n);
  fig[0][rep] = bench_load_rps(l);
  fig[1][rep] = fig[0][rep] * (double)l->size / (1024.0 * 1024.0);
  static const double pct[] = {50, 90, 99, 99.9};
  for (int k = 0; k < 4; k++)
    fig[2 + k][rep] = bench_pct_sorted(l->lat.v, n, pct[k]) / 1e3;
  fig[6][rep] = l->lat.v[n - 1] / 1e3;
}

void bench_load_emit(bench_ctx *c, const char *bench, const char *params,
                     const double (*fig)[64], int got) {
  bench_emit(c, bench, params, "rps", "req/s", "higher", fig[0], got);
  bench_emit(c, bench, params, "throughput", "MiB/s", "higher", fig[1], got);
  static const char *const names[] = {"p50", "p90", "p99", "p999", "max"};
  for (int k = 0; k < 5; k++)
    bench_emit(c, bench, params, names[k], "us", "lower", fig[k + 2], got);
}
