/* t_life.c — T5 (executor) and T6 (errors, close, evl_run) tests. */
#include <pthread.h>
#include <string.h>

#include "t_util.h"

typedef struct t5_state {
  pthread_t loop_thread, work_thread, after_thread;
  int ticks;
  int ticks_in_job; /* ticks seen by the job as it ended */
  int done;
  int rc;
  void *result;
} t5_state;

static int t5_work(void *arg, void **result) {
  t5_state *s = arg;
  s->work_thread = pthread_self();
  t_sleep_ms(20); /* blocking: the loop must keep running meanwhile */
  s->ticks_in_job = __atomic_load_n(&s->ticks, __ATOMIC_RELAXED);
  *result = s;
  return 0;
}

static int t5_worker_task(void *arg, void **result) {
  t5_state *s = arg;
  (void)result;
  s->rc = evl_to_thread(t5_work, s, &s->result);
  s->after_thread = pthread_self();
  s->done = 1;
  return 0;
}

static int t5_ticker(void *arg, void **result) {
  t5_state *s = arg;
  (void)result;
  while (!s->done) {
    __atomic_fetch_add(&s->ticks, 1, __ATOMIC_RELAXED);
    int rc = evl_sleep(TT_MS);
    if (rc < 0)
      return rc;
  }
  return 0;
}

/* T5: evl_to_thread runs the function on a worker thread; the awaiting
 * task resumes on the loop thread with its result, and other tasks run
 * while the job blocks. */
void test_t5_executor_loop_thread(evl_tctx *t) {
  st_need(t, EVL_IF_EXECUTOR | EVL_IF_FUTURES);
  tt_env e;
  tt_open(t, &e, 10000);
  t5_state s = {.loop_thread = pthread_self()};
  evl_task *w = tt_spawn(&e, t5_worker_task, &s);
  evl_task *k = tt_spawn(&e, t5_ticker, &s);
  T_OK(t, "worker task status", tt_run(&e, w, NULL));
  T_OK(t, "ticker status", tt_run(&e, k, NULL));
  T_OK(t, "evl_to_thread", s.rc);
  T_TRUE(t, "evl_to_thread gave the job's result", s.result == &s);
  T_TRUE(t, "the job ran on another thread",
         !pthread_equal(s.work_thread, s.loop_thread));
  T_TRUE(t, "the task resumed on the loop thread",
         pthread_equal(s.after_thread, s.loop_thread));
  /* Counted by the job itself as it ends: a run_in_executor that waits for
   * the job (the loop stands still) leaves the ticker at 0 here. */
  T_GE(t, "ticker iterations seen by the job as it ended", 2, s.ticks_in_job);
  T_GE(t, "ticker iterations while the job blocked", 2, s.ticks);
  evl_task_release(w);
  evl_task_release(k);
  tt_close(&e);
}

static int t6_fails(void *arg, void **result) {
  (void)arg;
  (void)result;
  return -EIO;
}

static int t6_has(tt_env *e, const char *needle) {
  for (int i = 0; i < e->nerrors && i < 8; i++)
    if (strstr(e->error_msg[i], needle))
      return 1;
  return 0;
}

/* T6: a task that ends with an error nobody retrieved is reported to the
 * loop's error handler once, with its code; a retrieved one is not. */
void test_t6_unretrieved_error_reported(evl_tctx *t) {
  tt_env e;
  tt_open(t, &e, 5000);
  tt_record_errors(&e);
  T_OK(t, "evl_task_spawn without a handle",
       evl_task_spawn(e.ts, t6_fails, NULL, NULL));
  evl_task *kept = tt_spawn(&e, t6_fails, NULL);
  T_RC(t, "the kept task's status", -EIO, tt_run(&e, kept, NULL));
  evl_task_release(kept);
  T_EQ(t, "reports", 1, e.nerrors);
  T_RC(t, "reported code", -EIO, e.error_code[0]);
  T_TRUE(t, "the report names the task",
         t6_has(&e, "task") && t6_has(&e, "retrieved"));
  tt_close(&e);
  T_EQ(t, "reports after close", 1, e.nerrors);
}

typedef struct t6_state {
  int steps;   /* bodies that started */
  int resumed; /* awaits that returned */
} t6_state;

static int t6_blocked(void *arg, void **result) {
  t6_state *s = arg;
  (void)result;
  s->steps++;
  evl_sleep(3600ULL * 1000 * TT_MS);
  s->resumed++;
  return 0;
}

/* T6: closing with pending tasks reports each ("destroyed but it is
 * pending") and resumes none of them. */
void test_t6_close_pending_reported(evl_tctx *t) {
  tt_env e;
  tt_open(t, &e, 5000);
  tt_record_errors(&e);
  t6_state s = {0};
  evl_task *a = tt_spawn(&e, t6_blocked, &s);
  T_OK(t, "evl_task_spawn", evl_task_spawn(e.ts, t6_blocked, &s, NULL));
  T_OK(t, "run_once", OPS->run_once(e.loop));
  T_EQ(t, "tasks started", 2, s.steps);
  (void)a; /* the handle dies with the evl_tasks */
  tt_close(&e);
  T_EQ(t, "reports at close", 2, e.nerrors);
  T_TRUE(t, "the report says pending", t6_has(&e, "pending"));
  T_EQ(t, "awaits that returned", 0, s.resumed);
}

static int t6_short(void *arg, void **result) {
  t6_state *s = arg;
  (void)result;
  s->steps++;
  evl_yield();
  s->resumed++;
  return 0;
}

/* T6: nothing runs after close: not a first step, not a yield's return,
 * not a due timer's. */
void test_t6_nothing_after_close(evl_tctx *t) {
  tt_env e;
  tt_open(t, &e, 5000);
  t6_state s = {0};
  evl_task *a = tt_spawn(&e, t6_short, &s);
  T_OK(t, "run_once", OPS->run_once(e.loop)); /* a yields */
  evl_task *b = tt_spawn(&e, t6_short, &s);   /* first step queued */
  T_EQ(t, "steps before close", 1, s.steps);
  (void)a;
  (void)b;
  T_OK(t, "evl_tasks_close", evl_tasks_close(e.ts));
  e.ts = NULL;
  T_EQ(t, "steps after close", 1, s.steps);
  T_EQ(t, "yields returned after close", 0, s.resumed);
  T_RC(t, "run_once on the closed loop", EVL_ECLOSED, OPS->run_once(e.loop));
  T_EQ(t, "steps after run_once", 1, s.steps);
  tt_close(&e);
}

typedef struct t6_run {
  int child_rc;
  int child_cleanup;
} t6_run;

static int t6_child(void *arg, void **result) {
  t6_run *r = arg;
  (void)result;
  r->child_rc = evl_sleep(3600ULL * 1000 * TT_MS);
  r->child_cleanup = evl_yield(); /* cleanup awaits still work */
  return r->child_rc;
}

static int t6_main(void *arg, void **result) {
  int rc = evl_task_spawn(evl_current_tasks(), t6_child, arg, NULL);
  if (rc < 0)
    return rc;
  rc = evl_sleep(TT_MS);
  if (rc < 0)
    return rc;
  *result = arg;
  return 0;
}

/* T6: evl_run_impl runs main to its end, returns its status and result,
 * and cancels and awaits what is left (asyncio.run). */
void test_t6_run_cancels_leftovers(evl_tctx *t) {
  st_need(t, EVL_IF_FUTURES);
  t6_run r = {1, 1};
  void *res = NULL;
  T_OK(t, "evl_run_impl (main's status)", evl_run_impl(OPS, t6_main, &r, &res));
  T_TRUE(t, "main's result", res == &r);
  T_RC(t, "the leftover child's sleep", -ECANCELED, r.child_rc);
  T_OK(t, "the leftover child's cleanup await", r.child_cleanup);
}
