/* pingpong.c — libuv's ping_pongs: one TCP loopback connection, both ends on
 * the loop under test, one message in flight; evl and raw-epoll kernels. */
#include "kernels.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

/* ---- the evl kernel ------------------------------------------------------ */
static void pingpong_server_cb(int fd, unsigned ev, void *arg) {
  (void)fd;
  (void)ev;
  bench_pingpong_state *p = arg;
  bench_pingpong_result(p, bench_pingpong_serve(p));
}

static void pingpong_client_cb(int fd, unsigned ev, void *arg) {
  (void)fd;
  (void)ev;
  bench_pingpong_state *p = arg;
  bench_pingpong_result(p, bench_pingpong_client(p));
}

static int pingpong_evl_open(bench_pingpong_state *p) {
  evl_loop *loop;
  int rc = bench_loop_new(p->c, &loop);
  if (rc < 0)
    return rc;
  p->k = loop;
  rc = p->c->ops->add_reader(loop, p->sfd, pingpong_server_cb, p);
  if (rc == 0)
    rc = p->c->ops->add_reader(loop, p->cfd, pingpong_client_cb, p);
  return rc;
}

static int pingpong_evl_run(bench_pingpong_state *p) {
  int rc = 0;
  while (rc == 0 && !p->done)
    rc = p->c->ops->run_once(p->k);
  return rc;
}

static void pingpong_evl_close(bench_pingpong_state *p) {
  p->c->ops->remove_reader(p->k, p->sfd);
  p->c->ops->remove_reader(p->k, p->cfd);
  bench_loop_free(p->c, p->k);
  p->k = NULL;
}

static const bench_pingpong_kernel pingpong_evl_kernel = {
    pingpong_evl_open, pingpong_evl_run, pingpong_evl_close};

/* ---- the raw floor ------------------------------------------------------- */
static int pingpong_raw_open(bench_pingpong_state *p) {
  int ep = epoll_create1(EPOLL_CLOEXEC);
  if (ep < 0)
    return -errno;
  p->k = (void *)(intptr_t)(ep + 1);
  struct epoll_event e1 = {.events = EPOLLIN, .data.u32 = 0};
  struct epoll_event e2 = {.events = EPOLLIN, .data.u32 = 1};
  if (epoll_ctl(ep, EPOLL_CTL_ADD, p->sfd, &e1) < 0 ||
      epoll_ctl(ep, EPOLL_CTL_ADD, p->cfd, &e2) < 0)
    return -errno;
  return 0;
}

static int pingpong_raw_run(bench_pingpong_state *p) {
  int ep = (int)(intptr_t)p->k - 1, rc = 0;
  while (rc == 0 && !p->done) {
    struct epoll_event evs[8];
    int k = epoll_wait(ep, evs, 8, -1);
    if (k < 0 && errno != EINTR)
      return -errno;
    for (int i = 0; i < k && rc == 0; i++)
      rc = evs[i].data.u32 ? bench_pingpong_client(p) : bench_pingpong_serve(p);
  }
  return rc;
}

static void pingpong_raw_close(bench_pingpong_state *p) {
  close((int)(intptr_t)p->k - 1);
  p->k = NULL;
}

static const bench_pingpong_kernel pingpong_raw_kernel = {
    pingpong_raw_open, pingpong_raw_run, pingpong_raw_close};

static const bench_pingpong_kernel *pingpong_kernel(const bench_ctx *c) {
  if (c->ops)
    return &pingpong_evl_kernel;
  return c->direct ? c->direct->pingpong : &pingpong_raw_kernel;
}

/* ---- the run ------------------------------------------------------------- */
/* One connection for dur_ns (or max_trips round trips); *rate trips/s. */
static int pingpong_once(bench_ctx *c, const bench_pingpong_kernel *k,
                         uint64_t dur_ns, long max_trips, double *rate) {
  bench_pingpong_state p = {0};
  p.c = c;
  p.max_trips = max_trips;
  int rc = bench_pingpong_connect(&p);
  if (rc < 0)
    return rc;
  rc = k->open(&p);
  uint64_t t0 = bench_now(), t1 = t0;
  p.until = t0 + dur_ns;
  if (rc == 0) {
    if (max_trips)
      bench_cg_start(c);
    if (send(p.cfd, BENCH_PINGPONG_MSG, BENCH_PINGPONG_LEN, 0) !=
        BENCH_PINGPONG_LEN)
      rc = -EIO;
    if (rc == 0)
      rc = k->run(&p);
    t1 = bench_now();
    if (max_trips)
      bench_cg_case(c, "pingpong", (unsigned long long)p.trips);
  }
  if (rc == 0)
    rc = p.rc;
  if (p.k)
    k->close(&p);
  close(p.cfd);
  close(p.sfd);
  *rate = (double)p.trips / ((double)(t1 - t0) / 1e9);
  return rc;
}

/* The target "within 1.10x of raw epoll" rests on a few percent, less than
 * separate processes seconds apart differ by (two quiet runs: x1.01
 * [0.98-1.04] and x1.03 [0.99-1.07], met and undecided). Here the loop and
 * the raw kernel alternate in one process, 100 ms each, which goes first
 * alternating too: each pair's cost ratio (raw's trips/s over the loop's)
 * has the machine's drift divided out. */
#define PINGPONG_PAIRS 3
static void pingpong_paired(bench_ctx *c, const bench_pingpong_kernel *k,
                            const char *params) {
  double ratio[PINGPONG_PAIRS];
  int got = 0;
  for (int i = 0; i < PINGPONG_PAIRS; i++) {
    double rate[2];
    int rc = 0;
    for (int j = 0; j < 2 && rc == 0; j++) {
      int raw = bench_paired_who(i, j, c->round);
      rc = pingpong_once(c, raw ? &pingpong_raw_kernel : k, 100000000u, 0,
                         &rate[raw]);
    }
    if (rc < 0 || rate[0] <= 0)
      break;
    ratio[got++] = rate[1] / rate[0];
  }
  bench_emit_paired(c, "pingpong", params, ratio, got);
}

int bench_pingpong(bench_ctx *c) {
  const bench_pingpong_kernel *k = pingpong_kernel(c);
  char params[64];
  snprintf(params, sizeof params, "{\"bytes\":%d,\"model\":\"reactor\"}",
           BENCH_PINGPONG_LEN);
  if (!k) {
    bench_skip(c, "pingpong", params, "not written for %s", c->impl_name);
    return 0;
  }
  uint64_t dur = c->profile == BENCH_FULL ? 2000000000u : 300000000u;
  double r[64];
  int got = 0;
  for (int rep = 0; rep < c->repeat && rep < 64; rep++) {
    int rc = pingpong_once(c, k, dur, 0, &r[got]);
    if (rc < 0) {
      bench_skip(c, "pingpong", params, "%s", bench_strerror(rc));
      return 0;
    }
    got++;
    if (bench_over_budget(c))
      break;
  }
  bench_emit(c, "pingpong", params, "round_trips", "trips/s", "higher", r, got);
  if (!strcmp(c->impl_name, BENCH_TARGET_REF))
    pingpong_paired(c, k, params);
  return 0;
}

int bench_cg_pingpong(bench_ctx *c) {
  const bench_pingpong_kernel *k = pingpong_kernel(c);
  if (!k)
    return 0;
  double rate;
  return pingpong_once(c, k, 0, 5000, &rate);
}

/* ---- the report section ----------------------------------------------------
 */
static const bench_panel pingpong_bars[] = {
    {"round trips/s", "round_trips", "", NULL}};
static const bench_plot pingpong_plots[] = {
    {BENCH_PLOT_BARS, "pingpong", "pingpong: round trips per second", "",
     "trips/s", "pingpong round trips", 0, 0, 1, pingpong_bars, 1}};
static const bench_table pingpong_tables[] = {
    {"round trips per second", "", NULL, "round_trips"}};
const bench_section bench_section_pingpong = {
    "pingpong (libuv ping_pongs)",
    "One TCP loopback connection, both ends on the loop under test, one "
    "5-byte message in flight: round trips per second.",
    pingpong_plots,
    BENCH_COUNT(pingpong_plots),
    pingpong_tables,
    BENCH_COUNT(pingpong_tables)};
