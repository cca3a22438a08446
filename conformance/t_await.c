/* t_await.c — T2 tests: awaiting futures and tasks. */
#include "t_util.h"

typedef struct t2_state {
  tt_env *e;
  evl_future *f;
  int soon_ran; /* a call_soon callback ran */
  int seen;     /* soon_ran as the task saw it after the await */
  int rc;
  void *result;
  evl_task *other;
} t2_state;

static int t2_marker;

static void t2_soon_cb(void *arg) {
  t2_state *s = arg;
  s->soon_ran = 1;
}

static int t2_await_done(void *arg, void **result) {
  t2_state *s = arg;
  (void)result;
  evl_tctx *t = s->e->t;
  T_OK(t, "call_soon in the task",
       OPS->call_soon(s->e->loop, t2_soon_cb, s, NULL));
  s->rc = evl_await(s->f, &s->result);
  s->seen = s->soon_ran;
  return 0;
}

/* T2: awaiting a future that is already done returns its result at once:
 * the task does not suspend, so a callback queued before it has not run. */
void test_t2_await_done_no_yield(evl_tctx *t) {
  tt_env e;
  tt_open(t, &e, 5000);
  t2_state s = {.e = &e};
  T_OK(t, "future_new", OPS->future_new(e.loop, &s.f));
  T_OK(t, "future_set_result", OPS->future_set_result(s.f, &t2_marker));
  evl_task *task = tt_spawn(&e, t2_await_done, &s);
  T_OK(t, "task status", tt_run(&e, task, NULL));
  T_OK(t, "evl_await on a done future", s.rc);
  T_TRUE(t, "evl_await gave the future's result", s.result == &t2_marker);
  T_EQ(t, "callbacks that ran during the await (it must not yield)", 0, s.seen);
  evl_task_release(task);
  OPS->future_release(s.f);
  tt_close(&e);
}

static void t2_complete_cb(void *arg) {
  t2_state *s = arg;
  evl_tctx *t = s->e->t;
  if (s->rc == 1)
    T_OK(t, "future_set_error", OPS->future_set_error(s->f, -EIO));
  else
    T_OK(t, "future_set_result", OPS->future_set_result(s->f, &t2_marker));
}

static int t2_await_pending(void *arg, void **result) {
  t2_state *s = arg;
  (void)result;
  s->rc = evl_await(s->f, &s->result);
  return 0;
}

/* T2: awaiting a pending future suspends the task until a timer completes
 * it; the await returns the result, or the future's error code. */
void test_t2_await_pending_future(evl_tctx *t) {
  for (int with_error = 0; with_error < 2; with_error++) {
    tt_env e;
    tt_open(t, &e, 5000);
    t2_state s = {.e = &e, .rc = with_error};
    T_OK(t, "future_new", OPS->future_new(e.loop, &s.f));
    T_OK(t, "call_later",
         OPS->call_later(e.loop, (int64_t)(5 * TT_MS), t2_complete_cb, &s,
                         NULL));
    evl_task *task = tt_spawn(&e, t2_await_pending, &s);
    T_OK(t, "task status", tt_run(&e, task, NULL));
    if (with_error) {
      T_RC(t, "evl_await on a future that failed", -EIO, s.rc);
    } else {
      T_OK(t, "evl_await on a future completed later", s.rc);
      T_TRUE(t, "evl_await gave the future's result", s.result == &t2_marker);
    }
    evl_task_release(task);
    OPS->future_release(s.f);
    tt_close(&e);
  }
}

static int t2_child(void *arg, void **result) {
  int code = (int)(intptr_t)arg;
  int rc = evl_sleep(2 * TT_MS);
  if (rc < 0)
    return rc;
  *result = &t2_marker;
  return code;
}

static int t2_parent(void *arg, void **result) {
  t2_state *s = arg;
  (void)result;
  s->rc = evl_await_task(s->other, &s->result);
  return 0;
}

/* T2: a task awaits another task's end and gets its result or error. */
void test_t2_await_task(evl_tctx *t) {
  for (int with_error = 0; with_error < 2; with_error++) {
    tt_env e;
    tt_open(t, &e, 5000);
    t2_state s = {.e = &e};
    s.other = tt_spawn(&e, t2_child, (void *)(intptr_t)(with_error ? -EIO : 0));
    evl_task *parent = tt_spawn(&e, t2_parent, &s);
    T_OK(t, "parent status", tt_run(&e, parent, NULL));
    if (with_error) {
      T_RC(t, "evl_await_task on a task that failed", -EIO, s.rc);
    } else {
      T_OK(t, "evl_await_task", s.rc);
      T_TRUE(t, "evl_await_task gave the task's result",
             s.result == &t2_marker);
    }
    T_EQ(t, "awaited task state", EVL_FUTURE_DONE, evl_task_state(s.other));
    evl_task_release(s.other);
    evl_task_release(parent);
    tt_close(&e);
  }
}

typedef struct t2_foreign {
  tt_env *e;
  evl_task *alien; /* a task of another evl_tasks */
  int await_rc, gather_rc, wait_for_rc, self_rc;
} t2_foreign;

static int t2_foreign_body(void *arg, void **result) {
  t2_foreign *s = arg;
  (void)result;
  s->await_rc = evl_await_task(s->alien, NULL);
  s->gather_rc = evl_gather(&s->alien, 1, NULL);
  s->wait_for_rc = evl_wait_for_task(s->alien, TT_MS, NULL);
  s->self_rc = evl_await_task(evl_current_task(), NULL);
  return 0;
}

/* T2: a task of another loop is refused (EVL_EFOREIGN) by await, gather
 * and wait_for; a task awaiting itself gets -EDEADLK; awaits outside a
 * task get -EPERM. */
void test_t2_foreign_refused(evl_tctx *t) {
  tt_env e, other;
  tt_open(t, &e, 5000);
  tt_open(t, &other, 0);
  t2_foreign s = {.e = &e};
  s.alien = tt_spawn(&other, tt_sleeper, NULL);
  evl_task *task = tt_spawn(&e, t2_foreign_body, &s);
  T_OK(t, "task status", tt_run(&e, task, NULL));
  T_RC(t, "evl_await_task on another loop's task", EVL_EFOREIGN, s.await_rc);
  T_RC(t, "evl_gather with another loop's task", EVL_EFOREIGN, s.gather_rc);
  T_RC(t, "evl_wait_for_task on another loop's task", EVL_EFOREIGN,
       s.wait_for_rc);
  T_RC(t, "evl_await_task on itself", -EDEADLK, s.self_rc);
  T_RC(t, "evl_sleep outside a task", -EPERM, evl_sleep(TT_MS));
  T_RC(t, "evl_yield outside a task", -EPERM, evl_yield());
  T_RC(t, "evl_await outside a task", -EPERM,
       evl_await(evl_task_future(task), NULL));
  T_TRUE(t, "evl_current_task outside a task", evl_current_task() == NULL);
  T_RC(t, "run_until_complete of another loop's task", EVL_EFOREIGN,
       evl_tasks_run_until_complete(e.ts, s.alien, NULL));
  evl_task_release(task);
  evl_task_cancel(s.alien);
  T_RC(t, "the other loop's task after cancel", -ECANCELED,
       tt_run(&other, s.alien, NULL));
  evl_task_release(s.alien);
  tt_close(&other);
  tt_close(&e);
}
