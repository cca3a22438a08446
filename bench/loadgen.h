/* loadgen.h — the one echo load generator every echo row uses (bench/echo.c,
 * task_echo.c, proactor_echo.c, and the Python Protocol servers): conc TCP
 * connections to 127.0.0.1:port on a thread of its own, with its own epoll,
 * pinned to the other CPU where the process may use two. */
#ifndef BENCH_LOADGEN_H
#define BENCH_LOADGEN_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "bench.h"

typedef struct bench_load {
  /* In. Closed loop (rate 0): each connection sends its next message when
   * the last one came back whole. Constant rate (rate > 0 requests/s over
   * all connections): each connection sends on a fixed schedule, staggered
   * over one period, and a request's latency runs from its scheduled time,
   * not from when a busy connection got to send it (no coordinated
   * omission). */
  int port, conc;
  size_t size;       /* bytes per message */
  double rate;       /* 0: closed loop */
  uint64_t duration; /* ns of sending, after every connection is up */
  int keep_lat;      /* record every request's latency in lat */
  /* Out, valid once finished is set. */
  bench_lat lat;   /* ns per request (keep_lat) */
  long reqs;       /* requests answered in the window */
  uint64_t window; /* ns the requests were counted over */
  int rc;          /* 0, or the first -errno */
  atomic_int finished;
} bench_load;

/* Starts the generator on its own thread; 0 or -errno (nothing started).
 * The caller runs its server until bench_load_done() and then calls
 * bench_load_join(). The generator closes its connections only after
 * `finished` is set, so a server that stops at "finished and no connection
 * open" sees every EOF. */
int bench_load_start(bench_load *l, pthread_t *th);
int bench_load_done(const bench_load *l);
/* Joins the thread; returns l->rc (or -EIO when nothing was answered). */
int bench_load_join(bench_load *l, pthread_t th);
/* The thread's body, for callers that run it elsewhere. */
void *bench_load_main(void *arg);
/* Requests per second over the window. */
double bench_load_rps(const bench_load *l);

/* The figures of one finished run, in this order: req/s, MiB/s, p50, p90,
 * p99, p99.9 and max latency in us. bench_load_figures sorts l->lat (which
 * must hold at least one sample) and writes figure k to fig[k][rep];
 * bench_load_emit emits each figure's `got` repeats as one record. */
#define BENCH_LOAD_NFIG 7
void bench_load_figures(bench_load *l, double (*fig)[64], int rep);
void bench_load_emit(bench_ctx *c, const char *bench, const char *params,
                     const double (*fig)[64], int got);

#endif
