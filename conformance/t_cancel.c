/* t_cancel.c — T3 tests: cancellation as asyncio's. */
#include "t_util.h"

typedef struct t3_state {
  tt_env *e;
  evl_task *victim;
  int steps;           /* the victim's body ran */
  int rcs[4];          /* what its awaits returned */
  int cancel_rc[2];    /* evl_task_cancel's returns */
  int done_await_rc;   /* await of a done future after a self-cancel */
  evl_future *done_f;  /* a done future */
  evl_future *later_f; /* completed by the canceller after a while */
  void *later_result;  /* what the victim's await of it returned */
} t3_state;

static int t3_victim(void *arg, void **result) {
  t3_state *s = arg;
  s->steps++;
  s->rcs[0] = evl_sleep(3600ULL * 1000 * TT_MS);
  s->rcs[1] = evl_sleep(TT_MS);
  s->rcs[2] = evl_yield();
  *result = s; /* handled the cancel and ended normally */
  return 0;
}

static int t3_canceller(void *arg, void **result) {
  t3_state *s = arg;
  (void)result;
  int rc = evl_yield(); /* the victim is asleep by now */
  if (rc < 0)
    return rc;
  s->cancel_rc[0] = evl_task_cancel(s->victim);
  s->cancel_rc[1] = evl_task_cancel(s->victim);
  return 0;
}

/* T3: a cancel reaches the victim's pending await as -ECANCELED exactly
 * once, even when requested twice; later awaits work; the victim may end
 * normally. */
void test_t3_cancel_at_await_once(evl_tctx *t) {
  tt_env e;
  tt_open(t, &e, 5000);
  t3_state s = {.e = &e};
  s.victim = tt_spawn(&e, t3_victim, &s);
  evl_task *c = tt_spawn(&e, t3_canceller, &s);
  T_OK(t, "canceller status", tt_run(&e, c, NULL));
  T_OK(t, "first evl_task_cancel", s.cancel_rc[0]);
  T_OK(t, "second evl_task_cancel before delivery", s.cancel_rc[1]);
  void *r = NULL;
  T_OK(t, "victim status (it handled the cancel)", tt_run(&e, s.victim, &r));
  T_TRUE(t, "victim result", r == &s);
  T_RC(t, "the interrupted sleep", -ECANCELED, s.rcs[0]);
  T_OK(t, "the sleep after the cancel", s.rcs[1]);
  T_OK(t, "the yield after the cancel", s.rcs[2]);
  T_EQ(t, "victim state", EVL_FUTURE_DONE, evl_task_state(s.victim));
  evl_task_release(c);
  evl_task_release(s.victim);
  tt_close(&e);
}

/* T3: a task cancelled before its first step never runs; it ends
 * cancelled and run_until_complete says -ECANCELED. */
void test_t3_cancel_before_first_step(evl_tctx *t) {
  tt_env e;
  tt_open(t, &e, 5000);
  t3_state s = {.e = &e};
  s.victim = tt_spawn(&e, t3_victim, &s);
  T_OK(t, "evl_task_cancel before the first step", evl_task_cancel(s.victim));
  T_RC(t, "status of a task cancelled before it ran", -ECANCELED,
       tt_run(&e, s.victim, NULL));
  T_EQ(t, "steps the body took", 0, s.steps);
  T_EQ(t, "state", EVL_FUTURE_CANCELLED, evl_task_state(s.victim));
  evl_task_release(s.victim);
  tt_close(&e);
}

static int t3_quick(void *arg, void **result) {
  (void)arg;
  *result = &t3_quick;
  return 0;
}

/* T3: cancelling a task that ended is a defined no-op: -EINVAL, and its
 * state and result stay. */
void test_t3_cancel_finished_noop(evl_tctx *t) {
  tt_env e;
  tt_open(t, &e, 5000);
  evl_task *task = tt_spawn(&e, t3_quick, NULL);
  void *r = NULL;
  T_OK(t, "status", tt_run(&e, task, &r));
  T_RC(t, "evl_task_cancel on an ended task", -EINVAL, evl_task_cancel(task));
  T_EQ(t, "state after the cancel", EVL_FUTURE_DONE, evl_task_state(task));
  T_OK(t, "evl_task_result after the cancel", evl_task_result(task, &r));
  T_TRUE(t, "result kept", r == (void *)&t3_quick);
  evl_task_release(task);
  tt_close(&e);
}

static int t3_self(void *arg, void **result) {
  t3_state *s = arg;
  (void)result;
  s->cancel_rc[0] = evl_task_cancel(evl_current_task());
  s->done_await_rc = evl_await(s->done_f, NULL); /* does not suspend */
  s->rcs[0] = evl_yield();                       /* delivered here */
  s->rcs[1] = evl_yield();
  return 0;
}

/* T3: a running task that cancels itself gets -ECANCELED at its next
 * suspending await, not at an await of a done future, and only once. */
void test_t3_cancel_running_next_await(evl_tctx *t) {
  tt_env e;
  tt_open(t, &e, 5000);
  t3_state s = {.e = &e};
  T_OK(t, "future_new", OPS->future_new(e.loop, &s.done_f));
  T_OK(t, "future_set_result", OPS->future_set_result(s.done_f, NULL));
  evl_task *task = tt_spawn(&e, t3_self, &s);
  T_OK(t, "status", tt_run(&e, task, NULL));
  T_OK(t, "evl_task_cancel on itself", s.cancel_rc[0]);
  T_OK(t, "await of a done future with a cancel pending", s.done_await_rc);
  T_RC(t, "the next yield", -ECANCELED, s.rcs[0]);
  T_OK(t, "the yield after it", s.rcs[1]);
  evl_task_release(task);
  OPS->future_release(s.done_f);
  tt_close(&e);
}

static int t3_gives_up(void *arg, void **result) {
  (void)arg;
  (void)result;
  return evl_sleep(3600ULL * 1000 * TT_MS); /* -ECANCELED propagates */
}

static int t3_awaiter(void *arg, void **result) {
  t3_state *s = arg;
  (void)result;
  int rc = evl_yield();
  if (rc < 0)
    return rc;
  evl_task_cancel(s->victim);
  s->rcs[0] = evl_await_task(s->victim, NULL);
  return 0;
}

/* T3: a task whose body returns -ECANCELED ends cancelled; awaiting it
 * returns -ECANCELED and its future is cancelled. */
void test_t3_cancelled_task_state(evl_tctx *t) {
  tt_env e;
  tt_open(t, &e, 5000);
  t3_state s = {.e = &e};
  s.victim = tt_spawn(&e, t3_gives_up, &s);
  evl_task *a = tt_spawn(&e, t3_awaiter, &s);
  T_OK(t, "awaiter status", tt_run(&e, a, NULL));
  T_RC(t, "evl_await_task on the cancelled task", -ECANCELED, s.rcs[0]);
  T_EQ(t, "cancelled task state", EVL_FUTURE_CANCELLED,
       evl_task_state(s.victim));
  T_EQ(t, "its future's state", EVL_FUTURE_CANCELLED,
       OPS->future_state(evl_task_future(s.victim)));
  evl_task_release(a);
  evl_task_release(s.victim);
  tt_close(&e);
}

static int t3_yield_then_await(void *arg, void **result) {
  t3_state *s = arg;
  (void)result;
  s->steps++;
  s->rcs[0] = evl_yield(); /* cancelled while its step is queued */
  s->rcs[1] = evl_await(s->later_f, &s->later_result);
  return 0;
}

static int t3_cancel_then_complete(void *arg, void **result) {
  t3_state *s = arg;
  (void)result;
  /* Spawned after the victim: its first step runs after the victim's,
   * which left the victim's yield step queued. */
  s->cancel_rc[0] = evl_task_cancel(s->victim);
  int rc = evl_sleep(30 * TT_MS);
  if (rc < 0)
    return rc;
  return s->e->t->impl->future_set_result(s->later_f, s);
}

/* T3: a task cancelled in evl_yield gets -ECANCELED there, once; its next
 * await waits for its future: the yield's own step, queued before the
 * cancel, is gone (a loop whose cancel of a queued call_soon callback says
 * 0 and runs it anyway resumes the await before the future is done). */
void test_t3_cancel_yield_step_gone(evl_tctx *t) {
  tt_env e;
  tt_open(t, &e, 5000);
  t3_state s = {.e = &e};
  T_OK(t, "future_new", OPS->future_new(e.loop, &s.later_f));
  s.victim = tt_spawn(&e, t3_yield_then_await, &s);
  evl_task *c = tt_spawn(&e, t3_cancel_then_complete, &s);
  T_OK(t, "canceller status", tt_run(&e, c, NULL));
  T_OK(t, "evl_task_cancel of the yielding task", s.cancel_rc[0]);
  T_OK(t, "victim status", tt_run(&e, s.victim, NULL));
  T_RC(t, "the cancelled yield", -ECANCELED, s.rcs[0]);
  T_OK(t, "the await after it (of a future completed 30 ms later)", s.rcs[1]);
  T_TRUE(t, "that await's result is the future's", s.later_result == &s);
  evl_task_release(c);
  evl_task_release(s.victim);
  OPS->future_release(s.later_f);
  tt_close(&e);
}
