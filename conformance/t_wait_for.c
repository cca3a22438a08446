/* t_wait_for.c — T4 tests: evl_wait_for on plain futures, the outcome
 * winning over a timeout, and evl_shield. */
#include <pthread.h>
#include <time.h>

#include "t_util.h"

static int t4f_marker;

typedef struct t4f_state {
  tt_env *e;
  evl_future *f, *outer, *never;
  uint64_t timeout_ms;
  int complete_with; /* the timer: 1 result, -code error */
  int rc, rc2, late_set_rc;
  void *result;
  int callbacks;       /* done-callbacks of f that ran */
  int state_at_return; /* f's state when wait_for returned */
  int soon_ran, seen;  /* a call_soon queued before a wait_for */
  pthread_t thread;    /* where the waiter resumed */
} t4f_state;

static void t4f_complete_cb(void *arg) {
  t4f_state *s = arg;
  evl_tctx *t = s->e->t;
  if (s->complete_with < 0)
    T_OK(t, "future_set_error", OPS->future_set_error(s->f, s->complete_with));
  else
    T_OK(t, "future_set_result", OPS->future_set_result(s->f, &t4f_marker));
}

static void t4f_done_cb(evl_future *f, void *arg) {
  t4f_state *s = arg;
  (void)f;
  s->callbacks++;
}

static void t4f_soon_cb(void *arg) {
  t4f_state *s = arg;
  s->soon_ran = 1;
}

static int t4f_waiter(void *arg, void **result) {
  t4f_state *s = arg;
  (void)result;
  evl_tctx *t = s->e->t;
  s->rc = evl_wait_for(s->f, s->timeout_ms * TT_MS, &s->result);
  s->state_at_return = OPS->future_state(s->f);
  s->thread = pthread_self();
  return 0;
}

/* T4: wait_for on a plain future that a timer completes in time returns
 * its result or its error code. */
void test_t4_wait_for_future_in_time(evl_tctx *t) {
  for (int with_error = 0; with_error < 2; with_error++) {
    tt_env e;
    tt_open(t, &e, 5000);
    t4f_state s = {.e = &e, .timeout_ms = 3600000};
    s.complete_with = with_error ? -EIO : 1;
    T_OK(t, "future_new", OPS->future_new(e.loop, &s.f));
    T_OK(t, "call_later(complete)",
         OPS->call_later(e.loop, (int64_t)(3 * TT_MS), t4f_complete_cb, &s,
                         NULL));
    evl_task *w = tt_spawn(&e, t4f_waiter, &s);
    T_OK(t, "waiter status", tt_run(&e, w, NULL));
    if (with_error) {
      T_RC(t, "evl_wait_for on a future that failed in time", -EIO, s.rc);
    } else {
      T_OK(t, "evl_wait_for on a future completed in time", s.rc);
      T_TRUE(t, "evl_wait_for gave the future's result",
             s.result == &t4f_marker);
    }
    evl_task_release(w);
    OPS->future_release(s.f);
    tt_close(&e);
  }
}

static int t4f_waiter_done(void *arg, void **result) {
  t4f_state *s = arg;
  (void)result;
  evl_tctx *t = s->e->t;
  T_OK(t, "call_soon in the task",
       OPS->call_soon(s->e->loop, t4f_soon_cb, s, NULL));
  s->rc = evl_wait_for(s->f, 0, &s->result);
  s->seen = s->soon_ran;
  return 0;
}

/* T4 (and T2): wait_for on a future already done returns its result at
 * once, even with a zero timeout, without suspending: a callback queued
 * before it has not run. */
void test_t4_wait_for_future_done(evl_tctx *t) {
  tt_env e;
  tt_open(t, &e, 5000);
  t4f_state s = {.e = &e};
  T_OK(t, "future_new", OPS->future_new(e.loop, &s.f));
  T_OK(t, "future_set_result", OPS->future_set_result(s.f, &t4f_marker));
  evl_task *w = tt_spawn(&e, t4f_waiter_done, &s);
  T_OK(t, "waiter status", tt_run(&e, w, NULL));
  T_OK(t, "evl_wait_for(done future, timeout 0)", s.rc);
  T_TRUE(t, "evl_wait_for gave the future's result", s.result == &t4f_marker);
  T_EQ(t, "callbacks that ran during the wait_for (it must not yield)", 0,
       s.seen);
  evl_task_release(w);
  OPS->future_release(s.f);
  tt_close(&e);
}

static int t4f_job(void *arg, void **result) {
  (void)arg;
  struct timespec ts = {0, 2 * 1000000};
  nanosleep(&ts, NULL);
  *result = &t4f_marker;
  return 0;
}

/* T4 (and T5): wait_for on an executor job's future returns the job's
 * result, and the waiting task resumes on the loop thread. */
void test_t4_wait_for_executor_future(evl_tctx *t) {
  tt_env e;
  tt_open(t, &e, 10000);
  t4f_state s = {.e = &e, .timeout_ms = 3600000};
  T_OK(t, "run_in_executor", OPS->run_in_executor(e.loop, t4f_job, NULL, &s.f));
  evl_task *w = tt_spawn(&e, t4f_waiter, &s);
  T_OK(t, "waiter status", tt_run(&e, w, NULL));
  T_OK(t, "evl_wait_for on the executor's future", s.rc);
  T_TRUE(t, "evl_wait_for gave the job's result", s.result == &t4f_marker);
  T_TRUE(t, "the waiter resumed on the loop thread",
         pthread_equal(s.thread, pthread_self()));
  evl_task_release(w);
  OPS->future_release(s.f);
  tt_close(&e);
}

static int t4f_timeout_body(void *arg, void **result) {
  t4f_state *s = arg;
  (void)result;
  evl_tctx *t = s->e->t;
  s->rc = evl_wait_for(s->f, s->timeout_ms * TT_MS, &s->result);
  s->state_at_return = OPS->future_state(s->f);
  /* Let every callback the cancel queued run, then try to complete f. */
  for (int i = 0; i < 3; i++)
    evl_yield();
  s->late_set_rc = OPS->future_set_result(s->f, &t4f_marker);
  for (int i = 0; i < 3; i++)
    evl_yield();
  return 0;
}

/* T4: a plain future that is not done by the timeout is cancelled: wait_for
 * returns -ETIMEDOUT, the future ends cancelled, its done-callbacks run
 * exactly once and a later set_result is refused. */
void test_t4_wait_for_future_timeout(evl_tctx *t) {
  tt_env e;
  tt_open(t, &e, 5000);
  t4f_state s = {.e = &e, .timeout_ms = 5};
  T_OK(t, "future_new", OPS->future_new(e.loop, &s.f));
  T_OK(t, "future_add_done_callback",
       OPS->future_add_done_callback(s.f, t4f_done_cb, &s));
  evl_task *w = tt_spawn(&e, t4f_timeout_body, &s);
  T_OK(t, "waiter status", tt_run(&e, w, NULL));
  T_RC(t, "evl_wait_for past its timeout", -ETIMEDOUT, s.rc);
  T_TRUE(t, "no result after a timeout", s.result == NULL);
  T_EQ(t, "future state when wait_for returned", EVL_FUTURE_CANCELLED,
       s.state_at_return);
  T_NE(t, "set_result on the timed-out future", 0, s.late_set_rc);
  T_EQ(t, "done-callbacks that ran", 1, s.callbacks);
  evl_task_release(w);
  OPS->future_release(s.f);
  tt_close(&e);
}

/* T4: cancelling the task blocked in wait_for on a plain future cancels
 * the future too (its callbacks run once) and returns -ECANCELED. */
void test_t4_wait_for_future_cancelled(evl_tctx *t) {
  tt_env e;
  tt_open(t, &e, 5000);
  t4f_state s = {.e = &e, .timeout_ms = 3600000};
  T_OK(t, "future_new", OPS->future_new(e.loop, &s.f));
  T_OK(t, "future_add_done_callback",
       OPS->future_add_done_callback(s.f, t4f_done_cb, &s));
  evl_task *w = tt_spawn(&e, t4f_timeout_body, &s);
  evl_task *k = tt_spawn(&e, tt_cancel_later, w);
  T_OK(t, "waiter status", tt_run(&e, w, NULL));
  T_RC(t, "evl_wait_for after its task was cancelled", -ECANCELED, s.rc);
  T_EQ(t, "future state when wait_for returned", EVL_FUTURE_CANCELLED,
       s.state_at_return);
  T_EQ(t, "done-callbacks that ran", 1, s.callbacks);
  T_OK(t, "canceller status", tt_run(&e, k, NULL));
  evl_task_release(w);
  evl_task_release(k);
  OPS->future_release(s.f);
  tt_close(&e);
}

/* An inner task that finishes its work even when cancelled. */
static int t4f_stubborn(void *arg, void **result) {
  int *seen_cancel = arg;
  int rc = evl_sleep(3600ULL * 1000 * TT_MS);
  *seen_cancel = rc == -ECANCELED;
  *result = &t4f_marker;
  return 0;
}

typedef struct t4f_wins {
  tt_env *e;
  evl_task *inner;
  evl_future *f;
  int rc;
  void *res;
} t4f_wins;

static int t4f_wins_body(void *arg, void **result) {
  t4f_wins *w = arg;
  (void)result;
  w->rc = evl_wait_for(evl_task_future(w->inner), 5 * TT_MS, &w->res);
  return 0;
}

/* T4: the outcome wins over the timeout: an inner task that completes its
 * work despite the timeout's cancel gives wait_for its result. */
void test_t4_wait_for_result_wins(evl_tctx *t) {
  tt_env e;
  tt_open(t, &e, 5000);
  int seen_cancel = 0;
  t4f_wins w = {.e = &e};
  w.inner = tt_spawn(&e, t4f_stubborn, &seen_cancel);
  evl_task *task = tt_spawn(&e, t4f_wins_body, &w);
  T_OK(t, "task status", tt_run(&e, task, NULL));
  T_EQ(t, "the inner task saw the timeout's cancel", 1, seen_cancel);
  T_OK(t, "evl_wait_for on a task that finished despite the cancel", w.rc);
  T_TRUE(t, "evl_wait_for gave the task's result", w.res == &t4f_marker);
  evl_task_release(w.inner);
  evl_task_release(task);
  tt_close(&e);
}

static void t4f_set_cb(void *arg) {
  t4f_wins *w = arg;
  evl_tctx *t = w->e->t;
  T_OK(t, "future_set_result", OPS->future_set_result(w->f, &t4f_marker));
}

static int t4f_block(void *arg, void **result) {
  (void)arg;
  (void)result;
  /* Holds the loop past both deadlines so that they expire together. */
  struct timespec ts = {0, 20 * 1000000};
  nanosleep(&ts, NULL);
  return 0;
}

static int t4f_done_at_timeout_body(void *arg, void **result) {
  t4f_wins *w = arg;
  (void)result;
  evl_tctx *t = w->e->t;
  /* The future's completion is due 1 ms before the timeout; a task that
   * blocks the loop's next iteration makes both due in the one after. */
  T_OK(t, "call_later(complete)",
       OPS->call_later(w->e->loop, (int64_t)TT_MS, t4f_set_cb, w, NULL));
  evl_task *b = NULL;
  T_OK(t, "spawn blocker", evl_task_spawn(w->e->ts, t4f_block, NULL, &b));
  w->rc = evl_wait_for(w->f, 2 * TT_MS, &w->res);
  evl_task_release(b);
  return 0;
}

/* T4: a future completed in the iteration its timeout expires in, before
 * the waiter could resume, gives wait_for its result, not -ETIMEDOUT. */
void test_t4_wait_for_done_at_timeout(evl_tctx *t) {
  tt_env e;
  tt_open(t, &e, 5000);
  t4f_wins w = {.e = &e};
  T_OK(t, "future_new", OPS->future_new(e.loop, &w.f));
  evl_task *task = tt_spawn(&e, t4f_done_at_timeout_body, &w);
  T_OK(t, "task status", tt_run(&e, task, NULL));
  T_OK(t, "evl_wait_for on a future done as the timeout expired", w.rc);
  T_TRUE(t, "evl_wait_for gave the future's result", w.res == &t4f_marker);
  T_EQ(t, "the future's state", EVL_FUTURE_DONE, OPS->future_state(w.f));
  evl_task_release(task);
  OPS->future_release(w.f);
  tt_close(&e);
}

/* ---- shield ------------------------------------------------------------ */

static int t4f_shield_waiter(void *arg, void **result) {
  t4f_state *s = arg;
  (void)result;
  evl_tctx *t = s->e->t;
  T_OK(t, "evl_shield", evl_shield(s->f, &s->outer));
  /* A shield whose inner never ends: closing the loop frees its link. */
  evl_future *o2 = NULL;
  T_OK(t, "evl_shield(never done)", evl_shield(s->never, &o2));
  OPS->future_release(o2);
  s->rc = evl_wait_for(s->outer, 5 * TT_MS, NULL);
  s->state_at_return = OPS->future_state(s->f);
  /* Completed only now, so no load can make it race the timeout. */
  t4f_complete_cb(s);
  return 0;
}

static int t4f_inner_awaiter(void *arg, void **result) {
  t4f_state *s = arg;
  (void)result;
  s->rc2 = evl_await(s->f, &s->result);
  return 0;
}

/* T4: wait_for's timeout cancels the shield's outer future only: the inner
 * stays pending, and its result, coming later, reaches its own awaiter and
 * its done-callback, once. */
void test_t4_shield_outer_cancel(evl_tctx *t) {
  tt_env e;
  tt_open(t, &e, 5000);
  t4f_state s = {.e = &e, .complete_with = 1};
  T_OK(t, "future_new", OPS->future_new(e.loop, &s.f));
  T_OK(t, "future_add_done_callback",
       OPS->future_add_done_callback(s.f, t4f_done_cb, &s));
  T_OK(t, "future_new", OPS->future_new(e.loop, &s.never));
  evl_task *w = tt_spawn(&e, t4f_shield_waiter, &s);
  evl_task *a = tt_spawn(&e, t4f_inner_awaiter, &s);
  T_OK(t, "waiter status", tt_run(&e, w, NULL));
  T_RC(t, "evl_wait_for(shield) past its timeout", -ETIMEDOUT, s.rc);
  T_EQ(t, "the outer future's state", EVL_FUTURE_CANCELLED,
       OPS->future_state(s.outer));
  T_EQ(t, "the inner future's state when wait_for returned", EVL_FUTURE_PENDING,
       s.state_at_return);
  T_OK(t, "awaiter status", tt_run(&e, a, NULL));
  T_OK(t, "the inner's awaiter", s.rc2);
  T_TRUE(t, "the inner's awaiter got its result", s.result == &t4f_marker);
  T_EQ(t, "the inner's done-callbacks that ran", 1, s.callbacks);
  evl_task_release(w);
  evl_task_release(a);
  OPS->future_release(s.outer);
  OPS->future_release(s.f);
  OPS->future_release(s.never);
  tt_close(&e);
}

typedef struct t4f_pass {
  tt_env *e;
  evl_future *inner[3], *outer[3];
  evl_task *worker;
  int rc[4];
  void *res[4];
} t4f_pass;

static int t4f_worker(void *arg, void **result) {
  (void)arg;
  int rc = evl_sleep(2 * TT_MS);
  if (rc < 0)
    return rc;
  *result = &t4f_marker;
  return 0;
}

static void t4f_pass_cb(void *arg) {
  t4f_pass *p = arg;
  evl_tctx *t = p->e->t;
  OPS->future_set_result(p->inner[0], &t4f_marker);
  OPS->future_set_error(p->inner[1], -EIO);
  OPS->future_cancel(p->inner[2]);
}

static int t4f_pass_body(void *arg, void **result) {
  t4f_pass *p = arg;
  (void)result;
  evl_tctx *t = p->e->t;
  for (int i = 0; i < 3; i++)
    T_OK(t, "evl_shield", evl_shield(p->inner[i], &p->outer[i]));
  evl_future *tf = NULL;
  T_OK(t, "evl_shield(task)", evl_shield(evl_task_future(p->worker), &tf));
  for (int i = 0; i < 3; i++)
    p->rc[i] = evl_await(p->outer[i], &p->res[i]);
  p->rc[3] = evl_await(tf, &p->res[3]);
  OPS->future_release(tf);
  return 0;
}

/* T4: not cancelled, the shield's outer future ends as its inner does:
 * same result, same error, cancelled with it; a task's too. */
void test_t4_shield_passes_outcome(evl_tctx *t) {
  tt_env e;
  tt_open(t, &e, 5000);
  t4f_pass p = {.e = &e};
  for (int i = 0; i < 3; i++)
    T_OK(t, "future_new", OPS->future_new(e.loop, &p.inner[i]));
  T_OK(t, "call_later(complete)",
       OPS->call_later(e.loop, (int64_t)(2 * TT_MS), t4f_pass_cb, &p, NULL));
  p.worker = tt_spawn(&e, t4f_worker, NULL);
  evl_task *task = tt_spawn(&e, t4f_pass_body, &p);
  T_OK(t, "task status", tt_run(&e, task, NULL));
  T_OK(t, "outer of a future that got a result", p.rc[0]);
  T_TRUE(t, "the outer's result", p.res[0] == &t4f_marker);
  T_RC(t, "outer of a future that failed", -EIO, p.rc[1]);
  T_RC(t, "outer of a future that was cancelled", -ECANCELED, p.rc[2]);
  T_EQ(t, "its state", EVL_FUTURE_CANCELLED, OPS->future_state(p.outer[2]));
  T_OK(t, "outer of a task", p.rc[3]);
  T_TRUE(t, "the task's result", p.res[3] == &t4f_marker);
  for (int i = 0; i < 3; i++) {
    OPS->future_release(p.outer[i]);
    OPS->future_release(p.inner[i]);
  }
  evl_task_release(p.worker);
  evl_task_release(task);
  tt_close(&e);
}
