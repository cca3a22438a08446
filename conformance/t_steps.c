/* t_steps.c — T1 tests: when task steps run (next iteration, FIFO, yield,
 * sleep). */
#include "t_util.h"

typedef struct t1_state {
  tt_env *e;
  int ran;       /* steps taken */
  int order[32]; /* ids in the order they ran */
  int n;
  int spawned_ran; /* t->ran seen right after spawning in a callback */
  int ticks;       /* a ticker's iterations */
  int stop;        /* the ticker stops when set */
} t1_state;

typedef struct t1_arg {
  t1_state *s;
  int id;
} t1_arg;

static int t1_mark(void *arg, void **result) {
  t1_state *s = arg;
  (void)result;
  s->ran++;
  return 0;
}

static void t1_spawn_cb(void *arg) {
  t1_state *s = arg;
  evl_tctx *t = s->e->t;
  T_OK(t, "evl_task_spawn in a callback",
       evl_task_spawn(s->e->ts, t1_mark, s, NULL));
  s->spawned_ran = s->ran;
}

/* T1: a task spawned in a callback has not run when spawn returns, nor in
 * the rest of that iteration; it runs in the next one. */
void test_t1_first_step_next_iteration(evl_tctx *t) {
  tt_env e;
  tt_open(t, &e, 5000);
  t1_state s = {.e = &e};
  T_OK(t, "call_soon", OPS->call_soon(e.loop, t1_spawn_cb, &s, NULL));
  T_OK(t, "run_once (the callback spawns)", OPS->run_once(e.loop));
  T_EQ(t, "task steps when spawn returned", 0, s.spawned_ran);
  T_EQ(t, "task steps after the spawning iteration", 0, s.ran);
  T_OK(t, "run_once (the next iteration)", OPS->run_once(e.loop));
  T_EQ(t, "task steps after the next iteration", 1, s.ran);
  tt_close(&e);
}

static int t1_fifo_body(void *arg, void **result) {
  t1_arg *a = arg;
  (void)result;
  for (int round = 0; round < 3; round++) {
    if (a->s->n < 32)
      a->s->order[a->s->n++] = a->id;
    int rc = evl_yield();
    if (rc != 0)
      return rc;
  }
  return 0;
}

/* T1: tasks made ready together step in the order they were made ready,
 * first steps and every yield after them. */
void test_t1_fifo_ready_together(evl_tctx *t) {
  tt_env e;
  tt_open(t, &e, 5000);
  t1_state s = {.e = &e};
  t1_arg args[5];
  evl_task *tasks[5];
  for (int i = 0; i < 5; i++) {
    args[i] = (t1_arg){&s, i + 1};
    tasks[i] = tt_spawn(&e, t1_fifo_body, &args[i]);
  }
  for (int i = 0; i < 5; i++)
    T_OK(t, "task status", tt_run(&e, tasks[i], NULL));
  T_EQ(t, "steps recorded", 15, s.n);
  for (int i = 0; i < 15; i++) {
    char what[64];
    snprintf(what, sizeof what, "task id at step %d", i);
    T_EQ(t, what, i % 5 + 1, s.order[i]);
  }
  for (int i = 0; i < 5; i++)
    evl_task_release(tasks[i]);
  tt_close(&e);
}

static int t1_yielder(void *arg, void **result) {
  t1_state *s = arg;
  (void)result;
  for (;;) {
    s->ran++;
    int rc = evl_yield();
    if (rc != 0)
      return rc;
  }
}

/* Queues itself again every iteration, so no iteration ever blocks: a
 * yield that waited on anything but the next iteration would fall behind. */
static void t1_keep_busy(void *arg) {
  t1_state *s = arg;
  evl_tctx *t = s->e->t;
  if (!s->stop)
    T_OK(t, "call_soon (busy)",
         OPS->call_soon(s->e->loop, t1_keep_busy, s, NULL));
}

/* T1: evl_yield suspends for exactly one iteration, also when every
 * iteration has other work and never blocks. */
void test_t1_yield_one_iteration(evl_tctx *t) {
  tt_env e;
  tt_open(t, &e, 5000);
  t1_state s = {.e = &e};
  T_OK(t, "call_soon (busy)", OPS->call_soon(e.loop, t1_keep_busy, &s, NULL));
  evl_task *task = tt_spawn(&e, t1_yielder, &s);
  for (int i = 1; i <= 10; i++) {
    T_OK(t, "run_once", OPS->run_once(e.loop));
    T_EQ(t, "steps after this many iterations", i, s.ran);
  }
  s.stop = 1;
  T_OK(t, "evl_task_cancel", evl_task_cancel(task));
  T_RC(t, "status of the cancelled yielder", -ECANCELED,
       tt_run(&e, task, NULL));
  T_EQ(t, "steps after the cancel", 10, s.ran);
  evl_task_release(task);
  tt_close(&e);
}

static int t1_ticker(void *arg, void **result) {
  t1_state *s = arg;
  (void)result;
  while (!s->stop) {
    s->ticks++;
    int rc = evl_sleep(TT_MS);
    if (rc != 0)
      return rc;
  }
  return 0;
}

static int t1_sleep_50(void *arg, void **result) {
  t1_state *s = arg;
  (void)result;
  uint64_t t0 = t_now();
  int rc = evl_sleep(50 * TT_MS);
  uint64_t slept = t_now() - t0;
  s->stop = 1;
  if (rc != 0)
    return rc;
  *result = (void *)(uintptr_t)(slept / TT_MS);
  return slept >= 50 * TT_MS ? 0 : -ETIME;
}

/* T1: evl_sleep(ns) never returns early (independent clock) and does not
 * block the loop: another task keeps ticking meanwhile. */
void test_t1_sleep_not_early(evl_tctx *t) {
  tt_env e;
  tt_open(t, &e, 10000);
  t1_state s = {.e = &e};
  evl_task *ticker = tt_spawn(&e, t1_ticker, &s);
  evl_task *sleeper = tt_spawn(&e, t1_sleep_50, &s);
  void *ms = NULL;
  int rc = tt_run(&e, sleeper, &ms);
  if (rc == -ETIME)
    T_FAIL(t, "evl_sleep(50 ms): expected >= 50 ms by CLOCK_MONOTONIC, "
              "returned early");
  T_OK(t, "sleeper status", rc);
  T_OK(t, "ticker status", tt_run(&e, ticker, NULL));
  T_GE(t, "ticker iterations while the other task slept", 2, s.ticks);
  evl_task_release(ticker);
  evl_task_release(sleeper);
  tt_close(&e);
}
