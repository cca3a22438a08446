/* s_ext_executor.c — S14 tests: run_in_executor through the ops table. */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

#define SE_MS 1000000LL

/* Written by workers, read by the test thread: atomics throughout, so the
 * tests themselves are clean under ThreadSanitizer. */
static pthread_t se_loop_thread;
static atomic_int se_fn_calls;
static atomic_int se_fn_on_loop_thread;

typedef struct se_job {
  atomic_int ran;
  int sleep_ms;
  int status;
} se_job;

static int se_work(void *arg, void **result) {
  se_job *j = arg;
  atomic_fetch_add(&se_fn_calls, 1);
  if (pthread_equal(pthread_self(), se_loop_thread))
    atomic_fetch_add(&se_fn_on_loop_thread, 1);
  atomic_fetch_add(&j->ran, 1);
  if (j->sleep_ms > 0)
    t_sleep_ms(j->sleep_ms);
  *result = j;
  return j->status;
}

/* Done-callback bookkeeping, on the loop thread only. */
typedef struct se_done {
  evl_tctx *t;
  evl_loop *loop;
  int calls;
  int on_loop_thread;
  int stop_at;
  int *per_job; /* optional: calls per job index */
  se_job *jobs;
} se_done;

static void se_done_cb(evl_future *f, void *arg) {
  se_done *d = arg;
  evl_tctx *t = d->t;
  d->calls++;
  if (pthread_equal(pthread_self(), se_loop_thread))
    d->on_loop_thread++;
  if (d->per_job) {
    void *r = NULL;
    if (OPS->future_result(f, &r) == 0 && r)
      d->per_job[(se_job *)r - d->jobs]++;
  }
  if (d->stop_at && d->calls == d->stop_at)
    OPS->stop(d->loop);
}

static void se_begin(evl_tctx *t) {
  se_loop_thread = pthread_self();
  atomic_store(&se_fn_calls, 0);
  atomic_store(&se_fn_on_loop_thread, 0);
  (void)t;
}

/* S14: run_until_complete stays alive for a job's result (nothing else is
 * pending) and returns its status, success and error alike. */
void test_s14_ruc_executor(evl_tctx *t) {
  se_begin(t);
  evl_loop *loop = st_loop(t);
  st_watchdog(t, loop, 10000);
  se_job ok = {.sleep_ms = 50, .status = 0};
  se_job bad = {.sleep_ms = 10, .status = -EIO};
  evl_future *f = NULL;
  T_OK(t, "run_in_executor", OPS->run_in_executor(loop, se_work, &ok, &f));
  T_TRUE(t, "run_in_executor gave a future", f != NULL);
  T_RC(t, "run_until_complete", 0, OPS->run_until_complete(loop, f));
  void *r = NULL;
  T_OK(t, "future_result", OPS->future_result(f, &r));
  T_TRUE(t, "result is what fn stored", r == &ok);
  OPS->future_release(f);

  T_OK(t, "run_in_executor", OPS->run_in_executor(loop, se_work, &bad, &f));
  T_RC(t, "run_until_complete of a failing job", -EIO,
       OPS->run_until_complete(loop, f));
  T_RC(t, "future_result", -EIO, OPS->future_result(f, NULL));
  OPS->future_release(f);
  T_EQ(t, "fn calls", 2, atomic_load(&se_fn_calls));
  T_EQ(t, "fn calls on the loop thread", 0, atomic_load(&se_fn_on_loop_thread));
  st_free(t, loop);
}

/* S14: fn runs on a worker, the future completes on the loop thread. */
void test_s14_loop_thread(evl_tctx *t) {
  enum { N = 8 };
  se_begin(t);
  evl_loop *loop = st_loop(t);
  st_watchdog(t, loop, 10000);
  se_job jobs[N];
  evl_future *fs[N];
  se_done d = {.t = t, .loop = loop, .stop_at = N};
  for (int i = 0; i < N; i++) {
    memset(&jobs[i], 0, sizeof jobs[i]);
    jobs[i].sleep_ms = 5;
    T_OK(t, "run_in_executor",
         OPS->run_in_executor(loop, se_work, &jobs[i], &fs[i]));
    T_OK(t, "add_done_callback",
         OPS->future_add_done_callback(fs[i], se_done_cb, &d));
  }
  T_OK(t, "run_forever", OPS->run_forever(loop));
  T_EQ(t, "done-callbacks", N, d.calls);
  T_EQ(t, "done-callbacks on the loop thread", N, d.on_loop_thread);
  T_EQ(t, "fn calls", N, atomic_load(&se_fn_calls));
  T_EQ(t, "fn calls on the loop thread", 0, atomic_load(&se_fn_on_loop_thread));
  for (int i = 0; i < N; i++)
    OPS->future_release(fs[i]);
  st_free(t, loop);
}

static void se_stop_cb(void *arg) {
  se_done *d = arg;
  evl_tctx *t = d->t;
  OPS->stop(d->loop);
}

/* S14/S8: close with jobs running and queued returns after joining the
 * workers; afterwards no fn starts and no done-callback runs. Futures stay
 * valid until released. */
void test_s14_close_in_flight(evl_tctx *t) {
  enum { N = 16 };
  se_begin(t);
  evl_loop *loop = st_loop(t);
  se_job jobs[N];
  evl_future *fs[N];
  se_done d = {.t = t, .loop = loop};
  for (int i = 0; i < N; i++) {
    memset(&jobs[i], 0, sizeof jobs[i]);
    jobs[i].sleep_ms = 30;
    T_OK(t, "run_in_executor",
         OPS->run_in_executor(loop, se_work, &jobs[i], &fs[i]));
    T_OK(t, "add_done_callback",
         OPS->future_add_done_callback(fs[i], se_done_cb, &d));
  }
  T_OK(t, "call_later(10 ms, stop)",
       OPS->call_later(loop, 10 * SE_MS, se_stop_cb, &d, NULL));
  T_OK(t, "run_forever", OPS->run_forever(loop));
  T_OK(t, "loop_close with jobs in flight", OPS->loop_close(loop));
  int fn_at_close = atomic_load(&se_fn_calls), cb_at_close = d.calls;
  t_sleep_ms(100);
  T_EQ(t, "fn calls started after close", fn_at_close,
       atomic_load(&se_fn_calls));
  T_EQ(t, "done-callbacks after close", cb_at_close, d.calls);
  for (int i = 0; i < N; i++) {
    int st = OPS->future_state(fs[i]);
    T_TRUE(t, "future state is a valid state after close",
           st == EVL_FUTURE_PENDING || st == EVL_FUTURE_DONE ||
               st == EVL_FUTURE_CANCELLED);
    OPS->future_release(fs[i]);
  }
  T_OK(t, "loop_free", OPS->loop_free(loop));
}

/* S14: 1 000 jobs each run once and complete once. */
void test_s14_thousand_jobs(evl_tctx *t) {
  enum { N = 1000 };
  se_begin(t);
  evl_loop *loop = st_loop(t);
  st_watchdog(t, loop, 20000);
  se_job *jobs = calloc(N, sizeof *jobs);
  evl_future **fs = calloc(N, sizeof *fs);
  int *per_job = calloc(N, sizeof *per_job);
  if (!jobs || !fs || !per_job)
    T_FAIL(t, "calloc failed");
  se_done d = {
      .t = t, .loop = loop, .stop_at = N, .per_job = per_job, .jobs = jobs};
  for (int i = 0; i < N; i++) {
    T_OK(t, "run_in_executor",
         OPS->run_in_executor(loop, se_work, &jobs[i], &fs[i]));
    T_OK(t, "add_done_callback",
         OPS->future_add_done_callback(fs[i], se_done_cb, &d));
  }
  T_OK(t, "run_forever", OPS->run_forever(loop));
  T_EQ(t, "done-callbacks", N, d.calls);
  for (int i = 0; i < N; i++) {
    if (atomic_load(&jobs[i].ran) != 1)
      T_FAIL(t, "job %d: fn calls: expected 1, got %d", i,
             atomic_load(&jobs[i].ran));
    if (per_job[i] != 1)
      T_FAIL(t, "job %d: completions: expected 1, got %d", i, per_job[i]);
    OPS->future_release(fs[i]);
  }
  st_free(t, loop);
  free(jobs);
  free(fs);
  free(per_job);
}

/* A gate the blocker jobs wait on, so a later job is surely not started. */
static pthread_mutex_t se_gate_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t se_gate_cond = PTHREAD_COND_INITIALIZER;
static int se_gate_open;

static int se_blocker(void *arg, void **result) {
  (void)arg;
  pthread_mutex_lock(&se_gate_lock);
  while (!se_gate_open)
    pthread_cond_wait(&se_gate_cond, &se_gate_lock);
  pthread_mutex_unlock(&se_gate_lock);
  *result = NULL;
  return 0;
}

/* S14: a job whose future is cancelled before any worker took it never
 * runs, and its future is cancelled. The pool is kept busy by more blockers
 * than any sane pool has workers (the config asks for one). */
void test_s14_cancel_before_start(evl_tctx *t) {
  enum { NB = 64 };
  se_begin(t);
  evl_impl_config cfg = {.size = sizeof cfg, .executor_threads = 1};
  evl_loop *loop = NULL;
  T_OK(t, "loop_new(executor_threads = 1)",
       OPS->loop_new(OPS->data, &cfg, &loop));
  st_watchdog(t, loop, 10000);
  evl_future *blockers[NB];
  se_done d = {.t = t, .loop = loop, .stop_at = NB + 1};
  for (int i = 0; i < NB; i++) {
    T_OK(t, "run_in_executor(blocker)",
         OPS->run_in_executor(loop, se_blocker, NULL, &blockers[i]));
    T_OK(t, "add_done_callback",
         OPS->future_add_done_callback(blockers[i], se_done_cb, &d));
  }
  se_job victim;
  memset(&victim, 0, sizeof victim);
  evl_future *f = NULL;
  T_OK(t, "run_in_executor(victim)",
       OPS->run_in_executor(loop, se_work, &victim, &f));
  T_OK(t, "add_done_callback(victim)",
       OPS->future_add_done_callback(f, se_done_cb, &d));
  T_OK(t, "future_cancel before the job started", OPS->future_cancel(f));

  pthread_mutex_lock(&se_gate_lock);
  se_gate_open = 1;
  pthread_cond_broadcast(&se_gate_cond);
  pthread_mutex_unlock(&se_gate_lock);
  T_OK(t, "run_forever", OPS->run_forever(loop));
  T_EQ(t, "done-callbacks (blockers and the cancelled job)", NB + 1, d.calls);
  /* Closing joins the workers: after it, the victim can never start. */
  T_OK(t, "loop_close", OPS->loop_close(loop));
  T_EQ(t, "fn calls of the cancelled job", 0, atomic_load(&victim.ran));
  T_EQ(t, "state of the cancelled job", EVL_FUTURE_CANCELLED,
       OPS->future_state(f));
  T_RC(t, "future_result", -ECANCELED, OPS->future_result(f, NULL));
  OPS->future_release(f);
  for (int i = 0; i < NB; i++)
    OPS->future_release(blockers[i]);
  T_OK(t, "loop_free", OPS->loop_free(loop));
}
