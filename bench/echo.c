/* echo.c — uvloop's vmbench shape: a TCP echo server on the loop under test
 * (127.0.0.1 only) and a load client on its own thread with its own epoll;
 * closed-loop and constant-rate; plus the server's raw-epoll floor. */
#include "kernels.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#define ECHO_BUF (64 * 1024)

/* ---- the server: the connection logic every kernel shares -----------------
 */
typedef struct bench_echo_conn {
  int fd;
  char *pend; /* bytes accepted but not yet written back */
  size_t plen, poff, pcap;
} echo_conn;

/* One server per process (a step's child): its read buffer. */
static char echo_buf[ECHO_BUF];

static void echo_conn_close(bench_echo_srv *s, echo_conn *cn) {
  const bench_echo_kernel *k = s->c->echo_k;
  k->del(s, cn->fd);
  s->conns[cn->fd] = NULL;
  close(cn->fd);
  free(cn->pend);
  free(cn);
  s->open--;
}

/* Writes what is pending; 1 when all is out, 0 when the socket is full. */
static int echo_flush(echo_conn *cn) {
  while (cn->poff < cn->plen) {
    ssize_t k =
        send(cn->fd, cn->pend + cn->poff, cn->plen - cn->poff, MSG_NOSIGNAL);
    if (k < 0)
      return errno == EAGAIN ? 0 : -errno;
    cn->poff += (size_t)k;
  }
  cn->plen = cn->poff = 0;
  return 1;
}

static void echo_on_read(bench_echo_srv *s, echo_conn *cn) {
  ssize_t k = recv(cn->fd, echo_buf, sizeof echo_buf, 0);
  if (k < 0 && errno == EAGAIN)
    return;
  if (k <= 0) {
    echo_conn_close(s, cn);
    return;
  }
  ssize_t w = send(cn->fd, echo_buf, (size_t)k, MSG_NOSIGNAL);
  if (w < 0 && errno != EAGAIN) {
    echo_conn_close(s, cn);
    return;
  }
  if (w < 0)
    w = 0;
  if (w < k) {
    size_t rest = (size_t)(k - w);
    if (cn->pcap < rest) {
      char *p = realloc(cn->pend, rest);
      if (!p) {
        s->rc = -ENOMEM;
        echo_conn_close(s, cn);
        return;
      }
      cn->pend = p;
      cn->pcap = rest;
    }
    memcpy(cn->pend, echo_buf + w, rest);
    cn->plen = rest;
    cn->poff = 0;
    int rc = s->c->echo_k->want(s, cn->fd, 1);
    if (rc < 0)
      s->rc = rc;
  }
}

static void echo_on_write(bench_echo_srv *s, echo_conn *cn) {
  int rc = echo_flush(cn);
  if (rc < 0) {
    echo_conn_close(s, cn);
    return;
  }
  if (rc == 1 && (rc = s->c->echo_k->want(s, cn->fd, 0)) < 0)
    s->rc = rc;
}

void bench_echo_ready(bench_echo_srv *s, int fd) {
  echo_conn *cn = fd >= 0 && fd < s->maxfd ? s->conns[fd] : NULL;
  if (!cn)
    return;
  if (cn->plen)
    echo_on_write(s, cn);
  else
    echo_on_read(s, cn);
}

void bench_echo_accept(bench_echo_srv *s) {
  for (;;) {
    int fd = accept4(s->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0)
      return;
    if (fd >= s->maxfd) {
      close(fd);
      continue;
    }
    bench_nodelay(fd);
    echo_conn *cn = calloc(1, sizeof *cn);
    if (!cn) {
      close(fd);
      continue;
    }
    cn->fd = fd;
    s->conns[fd] = cn;
    s->open++;
    int rc = s->c->echo_k->add(s, fd);
    if (rc < 0) {
      s->rc = rc;
      echo_conn_close(s, cn);
    }
  }
}

/* ---- the evl kernel --------------------------------------------------------
 */
static void echo_evl_cb(int fd, unsigned events, void *arg) {
  (void)events;
  bench_echo_ready(arg, fd);
}

static void echo_evl_accept_cb(int fd, unsigned events, void *arg) {
  (void)fd;
  (void)events;
  bench_echo_accept(arg);
}

static int echo_evl_open(bench_echo_srv *s) {
  evl_loop *loop;
  int rc = bench_loop_new(s->c, &loop);
  if (rc < 0)
    return rc;
  s->k = loop;
  return s->c->ops->add_reader(loop, s->lfd, echo_evl_accept_cb, s);
}

static int echo_evl_add(bench_echo_srv *s, int fd) {
  return s->c->ops->add_reader(s->k, fd, echo_evl_cb, s);
}

static int echo_evl_want(bench_echo_srv *s, int fd, int write) {
  const evl_impl_ops *ops = s->c->ops;
  if (write) {
    ops->remove_reader(s->k, fd);
    return ops->add_writer(s->k, fd, echo_evl_cb, s);
  }
  ops->remove_writer(s->k, fd);
  return ops->add_reader(s->k, fd, echo_evl_cb, s);
}

static void echo_evl_del(bench_echo_srv *s, int fd) {
  s->c->ops->remove_reader(s->k, fd);
  s->c->ops->remove_writer(s->k, fd);
}

static int echo_evl_iterate(bench_echo_srv *s) {
  return s->c->ops->run_once(s->k);
}

static void echo_evl_close(bench_echo_srv *s) {
  s->c->ops->remove_reader(s->k, s->lfd);
  bench_loop_free(s->c, s->k);
  s->k = NULL;
}

static const bench_echo_kernel echo_evl_kernel = {
    echo_evl_open, echo_evl_add,     echo_evl_want,
    echo_evl_del,  echo_evl_iterate, echo_evl_close};

/* ---- the raw floor
 * ----------------------------------------------------------- */
static int echo_raw_ep(const bench_echo_srv *s) {
  return (int)(intptr_t)s->k - 1;
}

static int echo_raw_ctl(bench_echo_srv *s, int op, int fd, uint32_t events) {
  struct epoll_event ev = {.events = events, .data.fd = fd};
  return epoll_ctl(echo_raw_ep(s), op, fd, &ev) < 0 ? -errno : 0;
}

static int echo_raw_open(bench_echo_srv *s) {
  int ep = epoll_create1(EPOLL_CLOEXEC);
  if (ep < 0)
    return -errno;
  s->k = (void *)(intptr_t)(ep + 1);
  return echo_raw_ctl(s, EPOLL_CTL_ADD, s->lfd, EPOLLIN);
}

static int echo_raw_add(bench_echo_srv *s, int fd) {
  return echo_raw_ctl(s, EPOLL_CTL_ADD, fd, EPOLLIN);
}

static int echo_raw_want(bench_echo_srv *s, int fd, int write) {
  return echo_raw_ctl(s, EPOLL_CTL_MOD, fd, write ? EPOLLOUT : EPOLLIN);
}

static void echo_raw_del(bench_echo_srv *s, int fd) {
  epoll_ctl(echo_raw_ep(s), EPOLL_CTL_DEL, fd, NULL);
}

/* One raw-epoll iteration: the floor's whole dispatch. */
static int echo_raw_iterate(bench_echo_srv *s) {
  struct epoll_event evs[256];
  int k = epoll_wait(echo_raw_ep(s), evs, 256, -1);
  if (k < 0)
    return errno == EINTR ? 0 : -errno;
  for (int i = 0; i < k; i++) {
    if (evs[i].data.fd == s->lfd)
      bench_echo_accept(s);
    else
      bench_echo_ready(s, evs[i].data.fd);
  }
  return 0;
}

static void echo_raw_close(bench_echo_srv *s) {
  close(echo_raw_ep(s));
  s->k = NULL;
}

static const bench_echo_kernel echo_raw_kernel = {
    echo_raw_open, echo_raw_add,     echo_raw_want,
    echo_raw_del,  echo_raw_iterate, echo_raw_close};

static const bench_echo_kernel *echo_kernel(const bench_ctx *c) {
  if (c->ops)
    return &echo_evl_kernel;
  return c->direct ? c->direct->echo : &echo_raw_kernel;
}

/* ---- the client: the same hand-written load for every implementation ---- */
typedef struct echo_cconn {
  int fd;
  size_t sent, got;
  uint64_t t_start; /* when this request was due (rate) or sent (closed) */
  uint64_t next;    /* rate mode: when the next request is due */
  int busy, out;
} echo_cconn;

typedef struct echo_client {
  int port, conc, rate_mode;
  size_t size;
  double rate;       /* requests per second, all connections together */
  uint64_t duration; /* ns */
  char *msg;
  bench_lat lat;
  long done_reqs;
  uint64_t window;
  int rc;
  atomic_int finished;
} echo_client;

static int echo_client_send(int ep, echo_client *cl, echo_cconn *cc) {
  while (cc->sent < cl->size) {
    ssize_t k =
        send(cc->fd, cl->msg + cc->sent, cl->size - cc->sent, MSG_NOSIGNAL);
    if (k < 0) {
      if (errno != EAGAIN)
        return -errno;
      if (!cc->out) {
        struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT, .data.ptr = cc};
        epoll_ctl(ep, EPOLL_CTL_MOD, cc->fd, &ev);
        cc->out = 1;
      }
      return 0;
    }
    cc->sent += (size_t)k;
  }
  if (cc->out) {
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = cc};
    epoll_ctl(ep, EPOLL_CTL_MOD, cc->fd, &ev);
    cc->out = 0;
  }
  return 0;
}

static int echo_client_start(int ep, echo_client *cl, echo_cconn *cc,
                             uint64_t t) {
  cc->busy = 1;
  cc->sent = cc->got = 0;
  cc->t_start = t;
  return echo_client_send(ep, cl, cc);
}

static void *echo_client_main(void *arg) {
  echo_client *cl = arg;
  bench_pin(1); /* the load generator off the loop's CPU */
  echo_cconn *cs = calloc((size_t)cl->conc, sizeof *cs);
  char *rbuf = malloc(ECHO_BUF);
  int ep = epoll_create1(EPOLL_CLOEXEC);
  int rc = cs && rbuf && ep >= 0 ? 0 : -ENOMEM;
  for (int i = 0; i < cl->conc && rc == 0; i++) {
    cs[i].fd = bench_connect_tcp(cl->port);
    if (cs[i].fd < 0) {
      rc = cs[i].fd;
      break;
    }
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = &cs[i]};
    if (epoll_ctl(ep, EPOLL_CTL_ADD, cs[i].fd, &ev) < 0)
      rc = -errno;
  }
  uint64_t start = bench_now(), end = start + cl->duration;
  /* Rate mode staggers the connections over one period. */
  uint64_t period = cl->rate_mode ? (uint64_t)(1e9 * cl->conc / cl->rate) : 0;
  for (int i = 0; i < cl->conc && rc == 0; i++) {
    if (cl->rate_mode)
      cs[i].next = start + period * (uint64_t)i / (uint64_t)cl->conc;
    else
      rc = echo_client_start(ep, cl, &cs[i], start);
  }
  uint64_t hard = end + 3000000000u;
  while (rc == 0) {
    uint64_t now = bench_now();
    int busy = 0;
    uint64_t wake = UINT64_MAX;
    for (int i = 0; i < cl->conc && rc == 0; i++) {
      echo_cconn *cc = &cs[i];
      if (cl->rate_mode && !cc->busy && cc->next < end && cc->next <= now) {
        rc = echo_client_start(ep, cl, cc, cc->next);
        cc->next += period;
      }
      if (cl->rate_mode && !cc->busy && cc->next < end && cc->next < wake)
        wake = cc->next;
      busy += cc->busy;
    }
    if (rc || now >= hard)
      break;
    if (!busy && (!cl->rate_mode || now >= end || wake == UINT64_MAX))
      break;
    struct timespec ts = {0, 0}, *tsp = NULL;
    if (wake != UINT64_MAX) {
      uint64_t d = wake > now ? wake - now : 0;
      ts.tv_sec = (time_t)(d / 1000000000u);
      ts.tv_nsec = (long)(d % 1000000000u);
      tsp = &ts;
    } else {
      ts.tv_sec = 0;
      ts.tv_nsec = 100000000; /* re-check the hard limit */
      tsp = &ts;
    }
    struct epoll_event evs[128];
    int k = epoll_pwait2(ep, evs, 128, tsp, NULL);
    if (k < 0 && errno != EINTR) {
      rc = -errno;
      break;
    }
    now = bench_now();
    for (int i = 0; i < k && rc == 0; i++) {
      echo_cconn *cc = evs[i].data.ptr;
      if (evs[i].events & EPOLLOUT)
        rc = echo_client_send(ep, cl, cc);
      if (!(evs[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR)))
        continue;
      ssize_t r = recv(cc->fd, rbuf, ECHO_BUF, 0);
      if (r == 0 || (r < 0 && errno != EAGAIN)) {
        rc = r == 0 ? -ECONNRESET : -errno;
        break;
      }
      if (r < 0)
        continue;
      cc->got += (size_t)r;
      if (cc->busy && cc->got >= cl->size) {
        bench_lat_add(&cl->lat, (double)(now - cc->t_start));
        cl->done_reqs++;
        cc->busy = 0;
        if (!cl->rate_mode && now < end)
          rc = echo_client_start(ep, cl, cc, now);
      }
    }
  }
  cl->window = bench_now() - start;
  if (cl->window > cl->duration && !cl->rate_mode)
    cl->window = cl->duration; /* the tail is draining, not new work */
  cl->rc = rc;
  /* Mark done before closing: the server's last EOF must see it. */
  atomic_store(&cl->finished, 1);
  for (int i = 0; cs && i < cl->conc; i++)
    if (cs[i].fd > 0)
      close(cs[i].fd);
  if (ep >= 0)
    close(ep);
  free(cs);
  free(rbuf);
  return NULL;
}

/* ---- one configuration -------------------------------------------------- */
typedef struct echo_cfg {
  int conc, kib, rate_mode;
  double rate;
} echo_cfg;

static const double echo_pcts[] = {0,  10, 25,   50,   75,    90,
                                   95, 99, 99.5, 99.9, 99.99, 100};
#define ECHO_NPCT (int)(sizeof echo_pcts / sizeof echo_pcts[0])

static int echo_config(bench_ctx *c, bench_echo_srv *s, int port,
                       const echo_cfg *cfg, char *msg) {
  /* At least a second: shorter runs let one scheduler hiccup decide a
   * tail percentile. */
  uint64_t dur =
      c->profile == BENCH_FULL && cfg->rate_mode ? 2000000000u : 1000000000u;
  double r[8][64];
  bench_lat all = {0};
  int got = 0, rc = 0;
  char params[160];
  snprintf(params, sizeof params,
           "{\"mode\":\"%s\",\"conc\":%d,\"kib\":%d,\"rate\":%g}",
           cfg->rate_mode ? "rate" : "closed", cfg->conc, cfg->kib,
           cfg->rate_mode ? cfg->rate : 0.0);
  for (int rep = 0; rep < c->repeat && rep < 64; rep++) {
    echo_client cl = {0};
    cl.port = port;
    cl.conc = cfg->conc;
    cl.size = (size_t)cfg->kib * 1024;
    cl.rate_mode = cfg->rate_mode;
    cl.rate = cfg->rate;
    cl.duration = dur;
    cl.msg = msg;
    atomic_init(&cl.finished, 0);
    pthread_t th;
    rc = -pthread_create(&th, NULL, echo_client_main, &cl);
    if (rc < 0)
      break;
    /* The server runs until the client is finished and every one of its
     * connections has been seen closing. */
    while (rc == 0 && s->rc == 0 &&
           !(atomic_load(&cl.finished) && s->open == 0)) {
      rc = c->echo_k->iterate(s);
    }
    pthread_join(th, NULL);
    if (rc == 0)
      rc = s->rc ? s->rc : cl.rc;
    if (rc < 0 || cl.lat.n == 0) {
      if (rc == 0)
        rc = -EIO;
      bench_lat_free(&cl.lat);
      break;
    }
    int n = (int)cl.lat.n;
    bench_sort(cl.lat.v, n);
    double secs = (double)cl.window / 1e9;
    r[0][got] = (double)cl.done_reqs / secs;
    r[1][got] = r[0][got] * (double)cl.size / (1024.0 * 1024.0);
    r[2][got] = bench_pct_sorted(cl.lat.v, n, 50) / 1e3;
    r[3][got] = bench_pct_sorted(cl.lat.v, n, 90) / 1e3;
    r[4][got] = bench_pct_sorted(cl.lat.v, n, 99) / 1e3;
    r[5][got] = bench_pct_sorted(cl.lat.v, n, 99.9) / 1e3;
    r[6][got] = cl.lat.v[n - 1] / 1e3;
    for (int i = 0; i < n; i++)
      bench_lat_add(&all, cl.lat.v[i]);
    bench_lat_free(&cl.lat);
    got++;
  }
  if (rc < 0) {
    bench_skip(c, "echo", params, "%s", bench_strerror(rc));
    bench_lat_free(&all);
    return rc;
  }
  bench_emit(c, "echo", params, "rps", "req/s", "higher", r[0], got);
  bench_emit(c, "echo", params, "throughput", "MiB/s", "higher", r[1], got);
  static const char *const names[] = {"p50", "p90", "p99", "p999", "max"};
  for (int k = 0; k < 5; k++)
    bench_emit(c, "echo", params, names[k], "us", "lower", r[k + 2], got);
  bench_sort(all.v, (int)all.n);
  double x[ECHO_NPCT], y[ECHO_NPCT];
  for (int k = 0; k < ECHO_NPCT; k++) {
    x[k] = echo_pcts[k];
    y[k] = bench_pct_sorted(all.v, (int)all.n, echo_pcts[k]) / 1e3;
  }
  bench_emit_curve(c, "echo", params, "latency", "percentile", "us", x, y,
                   ECHO_NPCT);
  bench_lat_free(&all);
  return 0;
}

int bench_echo(bench_ctx *c) {
  /* Quick: one closed loop (throughput) and one constant rate (latency);
   * a second each keeps the profile within minutes. */
  static const echo_cfg quick[] = {
      {100, 10, 0, 0},
      {10, 1, 1, 4000},
  };
  static const echo_cfg full[] = {
      {10, 1, 0, 0},     {10, 10, 0, 0},     {10, 100, 0, 0},
      {100, 1, 0, 0},    {100, 10, 0, 0},    {100, 100, 0, 0},
      {10, 1, 1, 4000},  {10, 10, 1, 2000},  {10, 100, 1, 400},
      {100, 1, 1, 4000}, {100, 10, 1, 2000}, {100, 100, 1, 400},
  };
  const echo_cfg *cfgs = c->profile == BENCH_FULL ? full : quick;
  int ncfg = c->profile == BENCH_FULL ? 12 : 2;
  const bench_echo_kernel *k = echo_kernel(c);
  if (!k) {
    bench_skip(c, "echo", "{}", "not written for %s", c->impl_name);
    return 0;
  }
  c->echo_k = k;
  bench_echo_srv *s = calloc(1, sizeof *s);
  char *msg = malloc(100 * 1024);
  if (!s || !msg) {
    free(s);
    free(msg);
    return -ENOMEM;
  }
  memset(msg, 'x', 100 * 1024);
  s->c = c;
  s->maxfd = (int)bench_raise_nofile();
  s->conns = calloc((size_t)s->maxfd, sizeof *s->conns);
  int port = 0, rc = s->conns ? 0 : -ENOMEM;
  if (rc == 0)
    rc = s->lfd = bench_listen_tcp(&port);
  int opened = 0;
  if (rc >= 0) {
    rc = k->open(s);
    opened = 1;
  }
  for (int i = 0; i < ncfg && rc >= 0; i++) {
    if (bench_over_budget(c)) {
      bench_note(c, "echo", "time budget spent: %d of %d configurations run", i,
                 ncfg);
      break;
    }
    if (echo_config(c, s, port, &cfgs[i], msg) < 0)
      break;
  }
  for (int fd = 0; s->conns && fd < s->maxfd; fd++)
    if (s->conns[fd])
      echo_conn_close(s, s->conns[fd]);
  if (opened && s->k)
    k->close(s);
  if (s->lfd > 0)
    close(s->lfd);
  free(s->conns);
  free(s);
  free(msg);
  return rc < 0 ? rc : 0;
}

/* ---- the report section ----------------------------------------------------
 */
static const bench_panel echo_thr[] = {
    {"closed loop, 10 connections", "throughput", "mode=closed conc=10", "kib"},
    {"closed loop, 100 connections", "throughput", "mode=closed conc=100",
     "kib"},
};
static const bench_panel echo_lat[] = {
    {"constant rate, 10 conn, 1 KiB", "latency", "mode=rate conc=10 kib=1",
     NULL},
    {"constant rate, 100 conn, 10 KiB", "latency", "mode=rate conc=100 kib=10",
     NULL},
    {"closed loop, 10 conn, 1 KiB", "latency", "mode=closed conc=10 kib=1",
     NULL},
    {"closed loop, 100 conn, 10 KiB", "latency", "mode=closed conc=100 kib=10",
     NULL},
};
static const bench_plot echo_plots[] = {
    {BENCH_PLOT_LINES, "echo_throughput", "echo throughput",
     "message size (KiB)", "MiB/s", "echo: MiB/s by message size", 1, 0, 2,
     echo_thr, BENCH_COUNT(echo_thr)},
    {BENCH_PLOT_CURVES, "echo_latency", "echo latency percentiles", "", "µs",
     "echo: latency percentile curves", 0, 0, 2, echo_lat,
     BENCH_COUNT(echo_lat)},
};
static const bench_table echo_tables[] = {
    {"echo, closed loop, 10 connections: requests/s", "mode=closed conc=10",
     "kib", "rps"},
    {"echo, closed loop, 100 connections: requests/s", "mode=closed conc=100",
     "kib", "rps"},
    {"echo, closed loop, 100 connections: MiB/s", "mode=closed conc=100", "kib",
     "throughput"},
    {"echo, closed loop, 100 connections, 10 KiB: latency (µs)",
     "mode=closed conc=100 kib=10", NULL, "p50 p90 p99 p999 max"},
    {"echo, constant rate, 10 connections, 1 KiB: latency (µs)",
     "mode=rate conc=10 kib=1", NULL, "p50 p90 p99 p999 max"},
    {"echo, constant rate, 100 connections, 10 KiB: latency (µs)",
     "mode=rate conc=100 kib=10", NULL, "p50 p90 p99 p999 max"},
};
const bench_section bench_section_echo = {
    "echo (uvloop's vmbench shape)",
    "TCP echo server on the loop under test (127.0.0.1 only); the load "
    "client runs on its own thread with its own epoll, pinned to the other "
    "CPU. Closed loop: each connection sends the next message when the echo "
    "is complete. Constant rate: messages are sent on a fixed schedule and "
    "latency is measured from the scheduled time, so queueing delay is not "
    "hidden. Each configuration runs at least a second.",
    echo_plots,
    BENCH_COUNT(echo_plots),
    echo_tables,
    BENCH_COUNT(echo_tables)};
