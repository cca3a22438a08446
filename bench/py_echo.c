/* py_echo.c — echo against a real Python echo server: vmbench's
 * asyncio.Protocol shape (impls/python_echo.c) on each Python loop, served
 * by the loop's own run_forever, driven by the same load generator and
 * configurations as the C echo rows (bench/echo.c). */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench.h"
#include "core/module.h"
#include "impls/python_echo.h"
#include "loadgen.h"

/* The module that holds the implementation's ops exports the server only
 * when it is the py module: NULL for every other implementation, which
 * then has nothing to run here. */
static const evl_py_echo_table *pye_table(const bench_ctx *c) {
  return c->ops ? evl__module_symbol_of((void *)c->ops->loop_new,
                                        EVL_PY_ECHO_SYMBOL)
                : NULL;
}

typedef struct pye_run {
  bench_load l;
  const evl_py_echo_table *t;
  evl_py_echo *srv;
  const evl_impl_ops *ops;
  evl_loop *loop;
} pye_run;

/* The load generator, then the server's drain: the loop's run_forever
 * returns once the generator is done and the server has seen every
 * connection close. */
static void *pye_load_main(void *arg) {
  pye_run *x = arg;
  bench_load_main(&x->l);
  if (x->t->drain(x->srv) < 0)
    x->ops->stop_threadsafe(x->loop);
  return NULL;
}

typedef struct pye_cfg {
  int conc, kib;
  double rate; /* 0: closed loop */
} pye_cfg;

static int pye_config(bench_ctx *c, pye_run *x, int port, const pye_cfg *cfg) {
  uint64_t dur =
      c->profile == BENCH_FULL && cfg->rate > 0 ? 2000000000u : 1000000000u;
  double r[BENCH_LOAD_NFIG][64];
  int got = 0, rc = 0;
  char params[200];
  snprintf(params, sizeof params,
           "{\"mode\":\"%s\",\"conc\":%d,\"kib\":%d,\"rate\":%g,"
           "\"server\":\"py-protocol\"}",
           cfg->rate > 0 ? "rate" : "closed", cfg->conc, cfg->kib, cfg->rate);
  for (int rep = 0; rep < c->repeat && rep < 64 && rc == 0; rep++) {
    memset(&x->l, 0, sizeof x->l);
    x->l.port = port;
    x->l.conc = cfg->conc;
    x->l.size = (size_t)cfg->kib * 1024;
    x->l.rate = cfg->rate;
    x->l.duration = dur;
    x->l.keep_lat = 1;
    atomic_init(&x->l.finished, 0);
    pthread_t th;
    if ((rc = -pthread_create(&th, NULL, pye_load_main, x)) < 0)
      break;
    rc = c->ops->run_forever(x->loop);
    int lrc = bench_load_join(&x->l, th);
    if (rc == 0)
      rc = lrc;
    int n = (int)x->l.lat.n;
    if (rc == 0 && n > 0) {
      bench_load_figures(&x->l, r, got);
      got++;
    } else if (rc == 0) {
      rc = -EIO;
    }
    bench_lat_free(&x->l.lat);
  }
  if (rc < 0) {
    bench_skip(c, "py_echo", params, "%s", bench_strerror(rc));
    return rc;
  }
  bench_load_emit(c, "py_echo", params, (const double(*)[64])r, got);
  return 0;
}

int bench_py_echo(bench_ctx *c) {
  const evl_py_echo_table *t = pye_table(c);
  if (!t)
    return 0; /* not a Python loop: no records, not even a skip */
  /* echo's configurations (bench/echo.c), so each row has its C twin. */
  static const pye_cfg quick[] = {{100, 10, 0}};
  static const pye_cfg full[] = {
      {10, 1, 0},     {10, 10, 0},    {10, 100, 0},    {100, 1, 0},
      {100, 10, 0},   {100, 100, 0},  {10, 1, 4000},   {10, 10, 2000},
      {10, 100, 400}, {100, 1, 4000}, {100, 10, 2000}, {100, 100, 400},
  };
  const pye_cfg *cfgs = c->profile == BENCH_FULL ? full : quick;
  int ncfg = c->profile == BENCH_FULL ? BENCH_COUNT(full) : BENCH_COUNT(quick);
  pye_run x = {.t = t, .ops = c->ops};
  int port = 0, lfd = -1;
  bench_raise_nofile();
  int rc = bench_loop_new(c, &x.loop);
  if (rc == 0 && (rc = lfd = bench_listen_tcp(&port)) >= 0)
    rc = t->open(c->ops, x.loop, lfd, &x.srv);
  for (int i = 0; i < ncfg && rc >= 0; i++) {
    if (bench_over_budget(c)) {
      bench_note(c, "py_echo", "time budget spent: %d of %d configurations run",
                 i, ncfg);
      break;
    }
    if (pye_config(c, &x, port, &cfgs[i]) < 0)
      break;
  }
  t->close(x.srv);
  if (lfd >= 0)
    close(lfd);
  bench_loop_free(c, x.loop);
  return rc < 0 ? rc : 0;
}

/* ---- the report section ------------------------------------------------- */
static const bench_table py_echo_tables[] = {
    {"Python Protocol server, closed loop, 10 connections: requests/s",
     "mode=closed conc=10", "kib", "rps"},
    {"Python Protocol server, closed loop, 100 connections: requests/s",
     "mode=closed conc=100", "kib", "rps"},
    {"Python Protocol server, closed loop, 100 connections, 10 KiB: latency "
     "(µs)",
     "mode=closed conc=100 kib=10", NULL, "p50 p90 p99 p999 max"},
    {"Python Protocol server, constant rate, 10 connections, 1 KiB: latency "
     "(µs)",
     "mode=rate conc=10 kib=1", NULL, "p50 p90 p99 p999 max"},
};
const bench_section bench_section_py_echo = {
    "py_echo: a Python echo server on each Python loop",
    "The echo server a Python programmer writes, in uvloop's vmbench shape "
    "(echoserver.py --proto): an asyncio.Protocol whose data_received calls "
    "transport.write, made by the loop's create_server and served by its "
    "own run_forever, against the same load generator and configurations as "
    "echo. The echo section's rows for the same loop run bench/echo.c's "
    "server in C on it (evl callbacks); the python section sets the two "
    "side by side.",
    NULL,
    0,
    py_echo_tables,
    BENCH_COUNT(py_echo_tables)};
