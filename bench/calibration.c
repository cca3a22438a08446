/* calibration.c — the floor under every figure: a bare system call,
 * epoll_wait(0), and one write + wait + read through each selector backend's
 * ABI with no loop around it. */
#include "bench.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <evl/backend.h>

typedef int (*calibration_fn)(void *arg, long iters);

static int calibration_getppid(void *arg, long iters) {
  (void)arg;
  for (long i = 0; i < iters; i++)
    if (getppid() < 0)
      return -errno;
  return 0;
}

static int calibration_clock(void *arg, long iters) {
  (void)arg;
  uint64_t sink = 0;
  for (long i = 0; i < iters; i++)
    sink += bench_now();
  return sink == 1 ? 1 : 0;
}

static int calibration_epoll0(void *arg, long iters) {
  int ep = *(int *)arg;
  struct epoll_event ev[4];
  for (long i = 0; i < iters; i++)
    if (epoll_wait(ep, ev, 4, 0) < 0)
      return -errno;
  return 0;
}

typedef struct calibration_rw {
  int sv[2];
  int ep;
  const evl_backend_ops *be;
  void *state;
} calibration_rw;

static int calibration_raw_rw(void *arg, long iters) {
  calibration_rw *c = arg;
  struct epoll_event ev[4];
  char b;
  for (long i = 0; i < iters; i++) {
    if (send(c->sv[1], "c", 1, 0) != 1 || epoll_wait(c->ep, ev, 4, -1) != 1 ||
        recv(c->sv[0], &b, 1, 0) != 1)
      return -EIO;
  }
  return 0;
}

static int calibration_backend_rw(void *arg, long iters) {
  calibration_rw *c = arg;
  evl_event ev[4];
  char b;
  for (long i = 0; i < iters; i++) {
    if (send(c->sv[1], "c", 1, 0) != 1)
      return -EIO;
    int k = 0;
    /* A batched backend may need a second wait to see the completion. */
    for (int tries = 0; k == 0 && tries < 100; tries++)
      k = c->be->wait(c->state, 1000000000, ev, 4);
    if (k < 0)
      return k;
    if (k == 0 || recv(c->sv[0], &b, 1, 0) != 1)
      return -EIO;
  }
  return 0;
}

static void calibration_measure(bench_ctx *c, const char *op, calibration_fn fn,
                                void *arg, long iters) {
  double r[64];
  int got = 0;
  for (int rep = 0; rep < c->repeat && rep < 64; rep++) {
    uint64_t t0 = bench_now();
    int rc = fn(arg, iters);
    uint64_t t1 = bench_now();
    if (rc < 0) {
      char params[96];
      snprintf(params, sizeof params, "{\"op\":\"%s\"}", op);
      bench_skip(c, "calibration", params, "%s", evl_strerror(rc));
      return;
    }
    r[got++] = (double)(t1 - t0) / (double)iters;
  }
  char params[96];
  snprintf(params, sizeof params, "{\"op\":\"%s\"}", op);
  bench_emit(c, "calibration", params, "ns", "ns", "lower", r, got);
}

/* One backend through its ABI, reported as implementation "backend:<name>". */
static void calibration_backend(bench_ctx *c, const char *name, long iters) {
  const evl_backend_ops *be = NULL;
  char err[200] = "", impl[96];
  snprintf(impl, sizeof impl, "backend:%s", name);
  const char *saved_impl = c->impl_name, *saved_backend = c->backend;
  c->impl_name = impl;
  c->backend = name;
  int rc = evl_backend_lookup(name, &be, err, sizeof err);
  if (rc == 0)
    rc = evl_backend_probe(be, err, sizeof err);
  calibration_rw rw = {{-1, -1}, -1, be, NULL};
  if (rc == 0) {
    rw.state = calloc(1, be->state_size ? be->state_size : 1);
    evl_backend_config cfg = {sizeof cfg, 0, 16};
    rc = rw.state ? be->init(rw.state, &cfg) : -ENOMEM;
    if (rc == 0) {
      rc = bench_socketpair(rw.sv);
      if (rc == 0)
        rc = be->ctl(rw.state, rw.sv[0], 0, EVL_READ);
      if (rc == 0)
        calibration_measure(c, "write_wait_read", calibration_backend_rw, &rw,
                            iters);
      else
        snprintf(err, sizeof err, "%s", evl_strerror(rc));
      if (rw.sv[0] >= 0) {
        if (rc == 0)
          be->ctl(rw.state, rw.sv[0], EVL_READ, 0);
        close(rw.sv[0]);
        close(rw.sv[1]);
      }
      be->fini(rw.state);
    } else {
      snprintf(err, sizeof err, "init: %s", evl_strerror(rc));
    }
    free(rw.state);
  }
  if (rc < 0)
    bench_skip(c, "calibration", "{\"op\":\"write_wait_read\"}", "%s",
               err[0] ? err : evl_strerror(rc));
  c->impl_name = saved_impl;
  c->backend = saved_backend;
}

int bench_calibration(bench_ctx *c) {
  if (c->ops) {
    bench_skip(c, "calibration", "{}", "calibration runs once, raw");
    return 0;
  }
  long iters = c->profile == BENCH_FULL ? 200000 : 20000;
  calibration_measure(c, "getppid", calibration_getppid, NULL, iters);
  calibration_measure(c, "clock_gettime", calibration_clock, NULL, iters);
  int ep = epoll_create1(EPOLL_CLOEXEC);
  if (ep < 0)
    return -errno;
  calibration_measure(c, "epoll_wait0", calibration_epoll0, &ep, iters);
  calibration_rw rw = {{-1, -1}, ep, NULL, NULL};
  int rc = bench_socketpair(rw.sv);
  if (rc == 0) {
    struct epoll_event ev = {.events = EPOLLIN, .data.fd = rw.sv[0]};
    epoll_ctl(ep, EPOLL_CTL_ADD, rw.sv[0], &ev);
    calibration_measure(c, "write_wait_read", calibration_raw_rw, &rw, iters);
    close(rw.sv[0]);
    close(rw.sv[1]);
  }
  close(ep);
  const char *const *names = evl_backend_names();
  for (int i = 0; names && names[i]; i++)
    calibration_backend(c, names[i], iters);
  return 0;
}

/* ---- the report section ----------------------------------------------------
 */
static const bench_panel calibration_bars[] = {
    {"write+wait+read", "ns", "op=write_wait_read", NULL}};
static const bench_plot calibration_plots[] = {
    {BENCH_PLOT_BARS, "calibration", "write + wait + read per backend", "",
     "ns", "calibration: write+wait+read", 0, 0, 1, calibration_bars, 1}};
static const bench_table calibration_tables[] = {
    {"calibration (ns per operation)", "", "op", "ns"}};
const bench_section bench_section_calibration = {
    "Calibration: the floor",
    "Bare system calls and one write + wait + read through each selector "
    "backend's ABI (no loop): every loop figure below sits on top of these.",
    calibration_plots,
    BENCH_COUNT(calibration_plots),
    calibration_tables,
    BENCH_COUNT(calibration_tables)};
