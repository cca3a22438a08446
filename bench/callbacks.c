/* callbacks.c — libuv's loop_count shapes: a call_soon chain and a fan-out. */
#include "bench.h"

typedef struct callbacks {
  bench_ctx *c;
  evl_loop *loop;
  long left;   /* callbacks still to run */
  long fanout; /* children per parent in the fan-out shape */
  long pending;
  int rc;
} callbacks;

/* Each callback queues the next: one per iteration (S1), so this is also
 * the cost of an iteration that has work but never blocks. */
static void callbacks_chain_cb(void *arg) {
  callbacks *cb = arg;
  if (--cb->left <= 0) {
    cb->c->ops->stop(cb->loop);
    return;
  }
  int rc = cb->c->ops->call_soon(cb->loop, callbacks_chain_cb, cb, NULL);
  if (rc < 0) {
    cb->rc = rc;
    cb->c->ops->stop(cb->loop);
  }
}

static void callbacks_fan_spawn(callbacks *cb);

static void callbacks_leaf_cb(void *arg) {
  callbacks *cb = arg;
  cb->left--;
  if (--cb->pending == 0) {
    if (cb->left <= 0)
      cb->c->ops->stop(cb->loop);
    else
      callbacks_fan_spawn(cb);
  }
}

static void callbacks_fan_spawn(callbacks *cb) {
  for (long i = 0; i < cb->fanout; i++) {
    int rc = cb->c->ops->call_soon(cb->loop, callbacks_leaf_cb, cb, NULL);
    if (rc < 0) {
      cb->rc = rc;
      cb->c->ops->stop(cb->loop);
      return;
    }
    cb->pending++;
  }
}

static void callbacks_fan_root(void *arg) {
  callbacks_fan_spawn(arg);
}

int bench_callbacks(bench_ctx *c) {
  long count = c->profile == BENCH_FULL ? 2000000 : 200000;
  static const char *const shapes[] = {"chain", "fanout"};
  for (int s = 0; s < 2; s++) {
    double r[64];
    int got = 0;
    char params[96];
    snprintf(params, sizeof params, "{\"shape\":\"%s\",\"count\":%ld%s}",
             shapes[s], count, s ? ",\"fanout\":1000" : "");
    for (int rep = 0; rep < c->repeat && rep < 64; rep++) {
      callbacks cb = {0};
      cb.c = c;
      int rc = bench_loop_new(c, &cb.loop);
      if (rc < 0)
        return rc;
      cb.left = count;
      cb.fanout = 1000;
      uint64_t t0 = bench_now();
      rc = c->ops->call_soon(
          cb.loop, s ? callbacks_fan_root : callbacks_chain_cb, &cb, NULL);
      if (rc == 0)
        rc = c->ops->run_forever(cb.loop);
      uint64_t t1 = bench_now();
      bench_loop_free(c, cb.loop);
      if (rc == 0)
        rc = cb.rc;
      if (rc < 0) {
        bench_skip(c, "callbacks", params, "%s", bench_strerror(rc));
        break;
      }
      r[got++] = (double)count / ((double)(t1 - t0) / 1e9);
      if (bench_over_budget(c))
        break;
    }
    if (got)
      bench_emit(c, "callbacks", params, "rate", "callbacks/s", "higher", r,
                 got);
  }
  return 0;
}
