/* callbacks.c — libuv's loop_count shapes: a call_soon chain (one callback
 * per iteration) and a fan-out (one callback queues 1 000). */
#include "kernels.h"

#include <errno.h>
#include <stdlib.h>

/* ---- the evl kernel ------------------------------------------------------ */
typedef struct callbacks_evl {
  evl_loop *loop;
} callbacks_evl;

static void callbacks_stop(bench_callbacks_state *cb) {
  cb->c->ops->stop(((callbacks_evl *)cb->k)->loop);
}

/* Each callback queues the next: one per iteration (S1), so this is also
 * the cost of an iteration that has work but never blocks. */
static void callbacks_chain_cb(void *arg) {
  bench_callbacks_state *cb = arg;
  if (--cb->left <= 0) {
    callbacks_stop(cb);
    return;
  }
  int rc = cb->c->ops->call_soon(((callbacks_evl *)cb->k)->loop,
                                 callbacks_chain_cb, cb, NULL);
  if (rc < 0) {
    cb->rc = rc;
    callbacks_stop(cb);
  }
}

static void callbacks_fan_spawn(bench_callbacks_state *cb);

static void callbacks_leaf_cb(void *arg) {
  bench_callbacks_state *cb = arg;
  cb->left--;
  if (--cb->pending == 0) {
    if (cb->left <= 0)
      callbacks_stop(cb);
    else
      callbacks_fan_spawn(cb);
  }
}

static void callbacks_fan_spawn(bench_callbacks_state *cb) {
  evl_loop *loop = ((callbacks_evl *)cb->k)->loop;
  for (long i = 0; i < cb->fanout; i++) {
    int rc = cb->c->ops->call_soon(loop, callbacks_leaf_cb, cb, NULL);
    if (rc < 0) {
      cb->rc = rc;
      callbacks_stop(cb);
      return;
    }
    cb->pending++;
  }
}

static void callbacks_fan_root(void *arg) {
  callbacks_fan_spawn(arg);
}

static int callbacks_evl_open(bench_callbacks_state *cb) {
  callbacks_evl *e = calloc(1, sizeof *e);
  if (!e)
    return -ENOMEM;
  cb->k = e;
  return bench_loop_new(cb->c, &e->loop);
}

static int callbacks_evl_run(bench_callbacks_state *cb) {
  callbacks_evl *e = cb->k;
  int rc = cb->c->ops->call_soon(
      e->loop, cb->fanout ? callbacks_fan_root : callbacks_chain_cb, cb, NULL);
  if (rc == 0)
    rc = cb->c->ops->run_forever(e->loop);
  return rc;
}

static void callbacks_evl_close(bench_callbacks_state *cb) {
  callbacks_evl *e = cb->k;
  if (!e)
    return;
  bench_loop_free(cb->c, e->loop);
  free(e);
  cb->k = NULL;
}

static const bench_callbacks_kernel callbacks_evl_kernel = {
    callbacks_evl_open, callbacks_evl_run, callbacks_evl_close};

static const bench_callbacks_kernel *callbacks_kernel(const bench_ctx *c) {
  return c->ops      ? &callbacks_evl_kernel
         : c->direct ? c->direct->callbacks
                     : NULL;
}

/* One run; *rate in callbacks per second. */
static int callbacks_once(bench_ctx *c, const bench_callbacks_kernel *k,
                          int fanout, long count, const char *cg_case,
                          double *rate) {
  bench_callbacks_state cb = {0};
  cb.c = c;
  cb.fanout = fanout;
  cb.count = cb.left = count;
  int rc = k->open(&cb);
  uint64_t t0 = 0, t1 = 0;
  if (rc == 0) {
    if (cg_case)
      bench_cg_start(c);
    t0 = bench_now();
    rc = k->run(&cb);
    t1 = bench_now();
    if (cg_case)
      bench_cg_case(c, cg_case, (unsigned long long)count);
  }
  if (cb.k)
    k->close(&cb);
  if (rc == 0)
    rc = cb.rc;
  if (rc == 0 && cb.left > 0)
    rc = -EPROTO; /* stopped early */
  *rate = (double)count / ((double)(t1 - t0) / 1e9);
  return rc;
}

int bench_callbacks(bench_ctx *c) {
  const bench_callbacks_kernel *k = callbacks_kernel(c);
  if (!k) {
    bench_skip(c, "callbacks", "{}", "not written for %s", c->impl_name);
    return 0;
  }
  long count = c->profile == BENCH_FULL ? 2000000 : 200000;
  static const char *const shapes[] = {"chain", "fanout"};
  for (int s = 0; s < 2; s++) {
    double r[64];
    int got = 0;
    char params[96];
    snprintf(params, sizeof params, "{\"shape\":\"%s\",\"count\":%ld%s}",
             shapes[s], count, s ? ",\"fanout\":1000" : "");
    for (int rep = 0; rep < c->repeat && rep < 64; rep++) {
      int rc = callbacks_once(c, k, s ? 1000 : 0, count, NULL, &r[got]);
      if (rc < 0) {
        bench_skip(c, "callbacks", params, "%s", bench_strerror(rc));
        break;
      }
      got++;
      if (bench_over_budget(c))
        break;
    }
    if (got)
      bench_emit(c, "callbacks", params, "rate", "callbacks/s", "higher", r,
                 got);
  }
  return 0;
}

int bench_cg_callbacks(bench_ctx *c) {
  const bench_callbacks_kernel *k = callbacks_kernel(c);
  if (!k)
    return 0;
  double rate;
  int rc = callbacks_once(c, k, 0, 20000, "callbacks_chain", &rate);
  if (rc == 0)
    rc = callbacks_once(c, k, 1000, 20000, "callbacks_fanout", &rate);
  return rc;
}

/* ---- the report section ----------------------------------------------------
 */
static const bench_panel callbacks_bars[] = {
    {"chain", "rate", "shape=chain", NULL},
    {"fan-out", "rate", "shape=fanout", NULL},
};
static const bench_plot callbacks_plots[] = {
    {BENCH_PLOT_BARS, "callbacks", "callbacks per second", "", "callbacks/s",
     "callbacks per second", 0, 1, 1, callbacks_bars,
     BENCH_COUNT(callbacks_bars)}};
static const bench_table callbacks_tables[] = {
    {"callbacks per second", "", "shape", "rate"}};
const bench_section bench_section_callbacks = {
    "callbacks (libuv loop_count)",
    "call_soon chains (one callback per iteration, S1) and fan-out (one "
    "callback queues 1000): callbacks per second. The libraries have no "
    "call-soon queue: direct-libev and direct-libuv use idle watchers, "
    "direct-libevent a zero timeout (chain) and event_active (fan-out).",
    callbacks_plots,
    BENCH_COUNT(callbacks_plots),
    callbacks_tables,
    BENCH_COUNT(callbacks_tables)};
