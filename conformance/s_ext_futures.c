/* s_ext_futures.c — S13 tests: futures and run_until_complete through the
 * ops table. */
#include <errno.h>
#include <pthread.h>
#include <string.h>

#include "harness.h"

#define SF_MS 1000000LL

typedef struct sf_state {
  evl_tctx *t;
  evl_loop *loop;
  evl_future *f;
  int calls;
  int order[8];
  int stop_at;      /* stop the loop when calls reaches this (0: never) */
  evl_future *seen; /* the future a callback received */
  int seen_state;   /* its state inside the callback */
  int seen_status;  /* future_result inside the callback */
  void *seen_result;
  int nested_rc; /* run_until_complete from inside a callback */
} sf_state;

static void sf_done_cb(evl_future *f, void *arg) {
  sf_state *s = arg;
  evl_tctx *t = s->t;
  if (s->calls < 8)
    s->order[s->calls] = s->calls;
  s->calls++;
  s->seen = f;
  s->seen_state = OPS->future_state(f);
  s->seen_status = OPS->future_result(f, &s->seen_result);
  if (s->stop_at && s->calls == s->stop_at)
    OPS->stop(s->loop);
}

/* Records its index, so the order of two callbacks can be checked. */
typedef struct sf_tagged {
  sf_state *s;
  int tag;
} sf_tagged;

static void sf_tagged_cb(evl_future *f, void *arg) {
  sf_tagged *tg = arg;
  sf_state *s = tg->s;
  evl_tctx *t = s->t;
  (void)f;
  if (s->calls < 8)
    s->order[s->calls] = tg->tag;
  s->calls++;
  if (s->stop_at && s->calls == s->stop_at)
    OPS->stop(s->loop);
}

static void sf_stop_cb(void *arg) {
  sf_state *s = arg;
  evl_tctx *t = s->t;
  OPS->stop(s->loop);
}

static void sf_run_for(evl_tctx *t, sf_state *s, int ms) {
  T_OK(t, "call_later(stop)",
       OPS->call_later(s->loop, ms * SF_MS, sf_stop_cb, s, NULL));
  T_OK(t, "run_forever", OPS->run_forever(s->loop));
}

static int sf_marker;

static void sf_set_result_cb(void *arg) {
  sf_state *s = arg;
  evl_tctx *t = s->t;
  int rc = OPS->future_set_result(s->f, &sf_marker);
  if (rc != 0)
    T_FAIL(t, "future_set_result in callback: expected 0, got %d (%s)", rc,
           evl_strerror(rc));
}

static void sf_set_error_cb(void *arg) {
  sf_state *s = arg;
  evl_tctx *t = s->t;
  int rc = OPS->future_set_error(s->f, -EIO);
  if (rc != 0)
    T_FAIL(t, "future_set_error in callback: expected 0, got %d (%s)", rc,
           evl_strerror(rc));
}

static void sf_setup(evl_tctx *t, sf_state *s, evl_loop *loop) {
  memset(s, 0, sizeof *s);
  s->t = t;
  s->loop = loop;
  T_OK(t, "future_new", OPS->future_new(loop, &s->f));
  T_TRUE(t, "future_new gave a future", s->f != NULL);
  T_EQ(t, "new future state", EVL_FUTURE_PENDING, OPS->future_state(s->f));
  void *r = &sf_marker;
  T_RC(t, "future_result while pending", -EAGAIN, OPS->future_result(s->f, &r));
}

/* S13: done-callbacks are queued, never run inside set_result, also when
 * added after the future is done; they run in the order added. */
void test_s13_callbacks_deferred(evl_tctx *t) {
  evl_loop *loop = st_loop(t);
  sf_state s;
  sf_setup(t, &s, loop);
  sf_tagged first = {&s, 1}, second = {&s, 2};
  s.stop_at = 2;
  T_OK(t, "add_done_callback(first)",
       OPS->future_add_done_callback(s.f, sf_tagged_cb, &first));
  T_OK(t, "future_set_result", OPS->future_set_result(s.f, &sf_marker));
  T_EQ(t, "callbacks run inside set_result", 0, s.calls);
  T_OK(t, "add_done_callback(second) after done",
       OPS->future_add_done_callback(s.f, sf_tagged_cb, &second));
  T_EQ(t, "callbacks run inside add_done_callback", 0, s.calls);
  st_watchdog(t, loop, 5000);
  T_OK(t, "run_forever", OPS->run_forever(loop));
  T_EQ(t, "callbacks run", 2, s.calls);
  T_EQ(t, "first callback to run", 1, s.order[0]);
  T_EQ(t, "second callback to run", 2, s.order[1]);
  void *r = NULL;
  T_OK(t, "future_result", OPS->future_result(s.f, &r));
  T_TRUE(t, "result pointer", r == &sf_marker);
  OPS->future_release(s.f);
  st_free(t, loop);
}

/* S13: a future completes once; later set/cancel get -EINVAL and change
 * nothing; its callback runs once and sees the result. */
void test_s13_set_twice(evl_tctx *t) {
  evl_loop *loop = st_loop(t);
  sf_state s;
  sf_setup(t, &s, loop);
  T_OK(t, "add_done_callback",
       OPS->future_add_done_callback(s.f, sf_done_cb, &s));
  T_OK(t, "future_set_result", OPS->future_set_result(s.f, &sf_marker));
  T_RC(t, "future_set_result again", -EINVAL, OPS->future_set_result(s.f, &s));
  T_RC(t, "future_set_error after result", -EINVAL,
       OPS->future_set_error(s.f, -EIO));
  T_RC(t, "future_cancel after result", -EINVAL, OPS->future_cancel(s.f));
  T_EQ(t, "state", EVL_FUTURE_DONE, OPS->future_state(s.f));
  sf_run_for(t, &s, 30);
  T_EQ(t, "callback calls", 1, s.calls);
  T_TRUE(t, "callback got its future", s.seen == s.f);
  T_EQ(t, "state seen by the callback", EVL_FUTURE_DONE, s.seen_state);
  T_RC(t, "result status seen by the callback", 0, s.seen_status);
  T_TRUE(t, "result seen by the callback is the first one",
         s.seen_result == &sf_marker);
  OPS->future_release(s.f);
  st_free(t, loop);
}

/* S13: cancel is final too; the result says -ECANCELED. */
void test_s13_cancel_then_set(evl_tctx *t) {
  evl_loop *loop = st_loop(t);
  sf_state s;
  sf_setup(t, &s, loop);
  T_OK(t, "add_done_callback",
       OPS->future_add_done_callback(s.f, sf_done_cb, &s));
  T_OK(t, "future_cancel", OPS->future_cancel(s.f));
  T_EQ(t, "callbacks run inside cancel", 0, s.calls);
  T_RC(t, "future_set_result after cancel", -EINVAL,
       OPS->future_set_result(s.f, &sf_marker));
  T_RC(t, "future_set_error after cancel", -EINVAL,
       OPS->future_set_error(s.f, -EIO));
  T_RC(t, "future_cancel again", -EINVAL, OPS->future_cancel(s.f));
  T_EQ(t, "state", EVL_FUTURE_CANCELLED, OPS->future_state(s.f));
  T_RC(t, "future_result", -ECANCELED, OPS->future_result(s.f, NULL));
  st_watchdog(t, loop, 5000);
  T_RC(t, "run_until_complete on a cancelled future", -ECANCELED,
       OPS->run_until_complete(loop, s.f));
  sf_run_for(t, &s, 20);
  T_EQ(t, "callback calls", 1, s.calls);
  T_EQ(t, "state seen by the callback", EVL_FUTURE_CANCELLED, s.seen_state);
  OPS->future_release(s.f);
  st_free(t, loop);
}

/* S13: run_until_complete waits for a timer that sets the result. */
void test_s13_ruc_timer(evl_tctx *t) {
  evl_loop *loop = st_loop(t);
  sf_state s;
  sf_setup(t, &s, loop);
  st_watchdog(t, loop, 5000);
  uint64_t t0 = t_now();
  T_OK(t, "call_later(20 ms, set_result)",
       OPS->call_later(loop, 20 * SF_MS, sf_set_result_cb, &s, NULL));
  T_RC(t, "run_until_complete", 0, OPS->run_until_complete(loop, s.f));
  T_GE(t, "ms waited (the timer's delay)", 20,
       (long long)((t_now() - t0) / 1000000u));
  T_EQ(t, "state", EVL_FUTURE_DONE, OPS->future_state(s.f));
  void *r = NULL;
  T_OK(t, "future_result", OPS->future_result(s.f, &r));
  T_TRUE(t, "result pointer", r == &sf_marker);
  /* Already done: returns its status at once. */
  T_RC(t, "run_until_complete again", 0, OPS->run_until_complete(loop, s.f));
  OPS->future_release(s.f);
  st_free(t, loop);
}

/* S13: an error code comes back as run_until_complete's status. */
void test_s13_ruc_error(evl_tctx *t) {
  evl_loop *loop = st_loop(t);
  sf_state s;
  sf_setup(t, &s, loop);
  st_watchdog(t, loop, 5000);
  T_OK(t, "call_later(10 ms, set_error)",
       OPS->call_later(loop, 10 * SF_MS, sf_set_error_cb, &s, NULL));
  T_RC(t, "run_until_complete", -EIO, OPS->run_until_complete(loop, s.f));
  void *r = &sf_marker;
  T_RC(t, "future_result", -EIO, OPS->future_result(s.f, &r));
  T_TRUE(t, "result pointer of a failed future is NULL", r == NULL);
  T_RC(t, "future_set_error(0) is not an error", -EINVAL,
       OPS->future_set_error(s.f, 0));
  OPS->future_release(s.f);
  st_free(t, loop);
}

typedef struct sf_poster {
  evl_tctx *t;
  sf_state *s;
  int rc;
} sf_poster;

static void *sf_poster_main(void *arg) {
  sf_poster *p = arg;
  evl_tctx *t = p->t;
  t_sleep_ms(20);
  p->rc = OPS->call_soon_threadsafe(p->s->loop, sf_set_result_cb, p->s);
  return NULL;
}

/* S13/S9: run_until_complete wakes for a result posted from a thread. */
void test_s13_ruc_threadsafe(evl_tctx *t) {
  evl_loop *loop = st_loop(t);
  sf_state s;
  sf_setup(t, &s, loop);
  st_watchdog(t, loop, 5000);
  sf_poster p = {t, &s, -1};
  pthread_t th;
  T_OK(t, "pthread_create", -pthread_create(&th, NULL, sf_poster_main, &p));
  int rc = OPS->run_until_complete(loop, s.f);
  pthread_join(th, NULL);
  T_OK(t, "call_soon_threadsafe", p.rc);
  T_RC(t, "run_until_complete", 0, rc);
  void *r = NULL;
  T_OK(t, "future_result", OPS->future_result(s.f, &r));
  T_TRUE(t, "result pointer", r == &sf_marker);
  OPS->future_release(s.f);
  st_free(t, loop);
}

static void sf_nested_cb(void *arg) {
  sf_state *s = arg;
  evl_tctx *t = s->t;
  s->nested_rc = OPS->run_until_complete(s->loop, s->f);
  OPS->future_set_result(s->f, &sf_marker);
}

/* S13/S7: another loop's future is refused with EVL_EFOREIGN, a running
 * loop with -EBUSY; neither touches the future. */
void test_s13_ruc_foreign_busy(evl_tctx *t) {
  evl_loop *a = st_loop(t), *b = st_loop(t);
  sf_state s;
  sf_setup(t, &s, a);
  T_RC(t, "run_until_complete(B, future of A)", EVL_EFOREIGN,
       OPS->run_until_complete(b, s.f));
  T_EQ(t, "state after the foreign call", EVL_FUTURE_PENDING,
       OPS->future_state(s.f));
  st_watchdog(t, a, 5000);
  s.nested_rc = 1;
  T_OK(t, "call_soon(nested run_until_complete)",
       OPS->call_soon(a, sf_nested_cb, &s, NULL));
  T_RC(t, "run_until_complete(A)", 0, OPS->run_until_complete(a, s.f));
  T_RC(t, "nested run_until_complete", -EBUSY, s.nested_rc);
  OPS->future_release(s.f);
  st_free(t, b);
  st_free(t, a);
}

/* S13: stopped by someone else first, run_until_complete returns with the
 * future still pending (-EAGAIN, asyncio's "stopped before Future
 * completed"); its own stop request does not leak into a later run. */
void test_s13_ruc_stopped_early(evl_tctx *t) {
  evl_loop *loop = st_loop(t);
  sf_state s;
  sf_setup(t, &s, loop);
  st_watchdog(t, loop, 5000);
  T_OK(t, "call_later(10 ms, stop)",
       OPS->call_later(loop, 10 * SF_MS, sf_stop_cb, &s, NULL));
  T_RC(t, "run_until_complete stopped early", -EAGAIN,
       OPS->run_until_complete(loop, s.f));
  T_EQ(t, "state", EVL_FUTURE_PENDING, OPS->future_state(s.f));
  T_OK(t, "call_later(10 ms, set_result)",
       OPS->call_later(loop, 10 * SF_MS, sf_set_result_cb, &s, NULL));
  T_RC(t, "run_until_complete", 0, OPS->run_until_complete(loop, s.f));
  OPS->future_release(s.f);
  st_free(t, loop);
}
