/* t_gather.c — T4 tests: evl_gather and evl_wait_for. */
#include "t_util.h"

typedef struct t4_child {
  uint64_t sleep_ms;
  int code;       /* returned after the sleep */
  int sleep_rc;   /* what the sleep returned */
  int ended;      /* 1 once the body returned */
  int cleanup_rc; /* an await during cleanup after a cancel */
} t4_child;

static int t4_child_body(void *arg, void **result) {
  t4_child *c = arg;
  c->sleep_rc = evl_sleep(c->sleep_ms * TT_MS);
  if (c->sleep_rc == -ECANCELED)
    c->cleanup_rc = evl_yield(); /* cleanup may still await */
  c->ended = 1;
  if (c->sleep_rc < 0)
    return c->sleep_rc;
  *result = c;
  return c->code;
}

typedef struct t4_state {
  tt_env *e;
  evl_task *kids[3];
  int status[3];
  int rc;
  int ended_at_return; /* children ended when gather/wait_for returned */
  void *result;
  uint64_t timeout_ms;
} t4_state;

static int t4_gatherer(void *arg, void **result) {
  t4_state *s = arg;
  (void)result;
  s->rc = evl_gather(s->kids, 3, s->status);
  s->ended_at_return = 0;
  for (int i = 0; i < 3; i++)
    s->ended_at_return += evl_task_state(s->kids[i]) != EVL_FUTURE_PENDING;
  return 0;
}

/* T4: gather waits for every task (in any order of ending), gives each
 * status by index and returns the first failure by index. */
void test_t4_gather_all(evl_tctx *t) {
  tt_env e;
  tt_open(t, &e, 5000);
  t4_child c[3] = {{.sleep_ms = 6, .code = 0},
                   {.sleep_ms = 1, .code = -EIO},
                   {.sleep_ms = 3, .code = -ENOENT}};
  t4_state s = {.e = &e};
  for (int i = 0; i < 3; i++)
    s.kids[i] = tt_spawn(&e, t4_child_body, &c[i]);
  evl_task *g = tt_spawn(&e, t4_gatherer, &s);
  T_OK(t, "gatherer status", tt_run(&e, g, NULL));
  T_RC(t, "evl_gather (first failure by index)", -EIO, s.rc);
  T_EQ(t, "children ended when gather returned", 3, s.ended_at_return);
  T_RC(t, "status[0]", 0, s.status[0]);
  T_RC(t, "status[1]", -EIO, s.status[1]);
  T_RC(t, "status[2]", -ENOENT, s.status[2]);
  for (int i = 0; i < 3; i++)
    evl_task_release(s.kids[i]);
  evl_task_release(g);
  tt_close(&e);
}

/* T4: cancelling a task blocked in gather cancels every child not yet
 * ended, waits for them (their cleanup included) and returns -ECANCELED. */
void test_t4_gather_cancelled(evl_tctx *t) {
  tt_env e;
  tt_open(t, &e, 5000);
  t4_child c[3] = {{.sleep_ms = 1, .code = 0},
                   {.sleep_ms = 3600000, .code = 0},
                   {.sleep_ms = 3600000, .code = 0}};
  t4_state s = {.e = &e};
  for (int i = 0; i < 3; i++)
    s.kids[i] = tt_spawn(&e, t4_child_body, &c[i]);
  evl_task *g = tt_spawn(&e, t4_gatherer, &s);
  evl_task *k = tt_spawn(&e, tt_cancel_later, g);
  T_OK(t, "gatherer status", tt_run(&e, g, NULL));
  T_RC(t, "evl_gather after its task was cancelled", -ECANCELED, s.rc);
  T_EQ(t, "children ended when gather returned", 3, s.ended_at_return);
  T_OK(t, "child 0 (ended before the cancel)", s.status[0]);
  T_RC(t, "child 1's sleep", -ECANCELED, c[1].sleep_rc);
  T_RC(t, "child 2's sleep", -ECANCELED, c[2].sleep_rc);
  T_OK(t, "child 1's cleanup await", c[1].cleanup_rc);
  T_EQ(t, "child 1 state", EVL_FUTURE_CANCELLED, evl_task_state(s.kids[1]));
  T_OK(t, "canceller status", tt_run(&e, k, NULL));
  for (int i = 0; i < 3; i++)
    evl_task_release(s.kids[i]);
  evl_task_release(g);
  evl_task_release(k);
  tt_close(&e);
}

static int t4_waiter(void *arg, void **result) {
  t4_state *s = arg;
  (void)result;
  /* The future form: a task's future stands for the task. */
  s->rc = evl_wait_for(evl_task_future(s->kids[0]), s->timeout_ms * TT_MS,
                       &s->result);
  s->ended_at_return = evl_task_state(s->kids[0]) != EVL_FUTURE_PENDING;
  return 0;
}

/* T4: wait_for returns the task's outcome when it ends within the
 * timeout. */
void test_t4_wait_for_in_time(evl_tctx *t) {
  tt_env e;
  tt_open(t, &e, 5000);
  t4_child c = {.sleep_ms = 1, .code = 0};
  t4_state s = {.e = &e, .timeout_ms = 3600000};
  s.kids[0] = tt_spawn(&e, t4_child_body, &c);
  evl_task *w = tt_spawn(&e, t4_waiter, &s);
  T_OK(t, "waiter status", tt_run(&e, w, NULL));
  T_OK(t, "evl_wait_for", s.rc);
  T_TRUE(t, "evl_wait_for gave the task's result", s.result == &c);
  evl_task_release(s.kids[0]);
  evl_task_release(w);
  tt_close(&e);
}

/* T4: on timeout wait_for cancels the task, waits until it has ended (its
 * cleanup included) and returns -ETIMEDOUT. */
void test_t4_wait_for_timeout_cancels(evl_tctx *t) {
  tt_env e;
  tt_open(t, &e, 5000);
  t4_child c = {.sleep_ms = 3600000, .code = 0};
  t4_state s = {.e = &e, .timeout_ms = 5};
  s.kids[0] = tt_spawn(&e, t4_child_body, &c);
  evl_task *w = tt_spawn(&e, t4_waiter, &s);
  T_OK(t, "waiter status", tt_run(&e, w, NULL));
  T_RC(t, "evl_wait_for past its timeout", -ETIMEDOUT, s.rc);
  T_RC(t, "the inner task's sleep", -ECANCELED, c.sleep_rc);
  T_OK(t, "the inner task's cleanup await", c.cleanup_rc);
  T_EQ(t, "inner task ended when wait_for returned", 1, s.ended_at_return);
  T_EQ(t, "inner task state", EVL_FUTURE_CANCELLED, evl_task_state(s.kids[0]));
  evl_task_release(s.kids[0]);
  evl_task_release(w);
  tt_close(&e);
}

/* T4: cancelling the task blocked in wait_for cancels the inner task too,
 * waits for it and returns -ECANCELED. */
void test_t4_wait_for_cancelled(evl_tctx *t) {
  tt_env e;
  tt_open(t, &e, 5000);
  t4_child c = {.sleep_ms = 3600000, .code = 0};
  t4_state s = {.e = &e, .timeout_ms = 3600000};
  s.kids[0] = tt_spawn(&e, t4_child_body, &c);
  evl_task *w = tt_spawn(&e, t4_waiter, &s);
  evl_task *k = tt_spawn(&e, tt_cancel_later, w);
  T_OK(t, "waiter status", tt_run(&e, w, NULL));
  T_RC(t, "evl_wait_for after its task was cancelled", -ECANCELED, s.rc);
  T_RC(t, "the inner task's sleep", -ECANCELED, c.sleep_rc);
  T_EQ(t, "inner task ended when wait_for returned", 1, s.ended_at_return);
  T_OK(t, "canceller status", tt_run(&e, k, NULL));
  evl_task_release(s.kids[0]);
  evl_task_release(w);
  evl_task_release(k);
  tt_close(&e);
}
