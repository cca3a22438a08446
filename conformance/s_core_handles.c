/* s_core_handles.c — S4: a handle names its loop. A handle of one loop
 * never cancels anything in another, and the callbacks a loop queues for
 * itself (a future's done-callbacks) are unreachable from any handle a
 * user holds. */
#include "harness.h"

typedef struct hcount {
  int calls;
} hcount;

static void h_cb(void *arg) {
  ((hcount *)arg)->calls++;
}

void test_s4_handle_other_loop(evl_tctx *t) {
  evl_loop *a = st_loop(t), *b = st_loop(t);
  hcount ca = {0}, cb = {0};
  evl_handle ha[8], hb[8];
  for (int i = 0; i < 8; i++) {
    T_OK(t, "call_soon on loop A", OPS->call_soon(a, h_cb, &ca, &ha[i]));
    T_OK(t, "call_later on loop B",
         OPS->call_later(b, i % 2 ? 0 : -1, h_cb, &cb, &hb[i]));
  }
  for (int i = 0; i < 8; i++) {
    T_RC(t, "cancel on loop B of a handle of loop A", EVL_EHANDLE,
         OPS->cancel(b, ha[i]));
    T_RC(t, "cancel on loop A of a handle of loop B", EVL_EHANDLE,
         OPS->cancel(a, hb[i]));
  }
  T_OK(t, "run_once A", OPS->run_once(a));
  T_OK(t, "run_once B", OPS->run_once(b));
  T_EQ(t, "callbacks run on loop A", 8, ca.calls);
  T_EQ(t, "callbacks run on loop B", 8, cb.calls);
  st_free(t, a);
  st_free(t, b);
}

static void h_done(evl_future *f, void *arg) {
  (void)f;
  ((hcount *)arg)->calls++;
}

void test_s4_own_callbacks_unreachable(evl_tctx *t) {
  st_need(t, EVL_IF_FUTURES);
  evl_loop *a = st_loop(t), *b = st_loop(t);
  evl_future *f = NULL;
  T_OK(t, "future_new on loop A", OPS->future_new(a, &f));
  hcount done = {0}, other = {0};
  T_OK(t, "add_done_callback", OPS->future_add_done_callback(f, h_done, &done));
  T_OK(t, "future_set_result", OPS->future_set_result(f, NULL));
  /* Loop A's done-callback is queued; every handle loop B hands out, and
   * every handle loop A hands out to its user later, must miss it. */
  evl_handle hb[16];
  for (int i = 0; i < 16; i++)
    T_OK(t, "call_soon on loop B", OPS->call_soon(b, h_cb, &other, &hb[i]));
  for (int i = 0; i < 16; i++)
    T_RC(t, "cancel on loop A of a handle of loop B", EVL_EHANDLE,
         OPS->cancel(a, hb[i]));
  T_OK(t, "run_once A", OPS->run_once(a));
  T_EQ(t, "the future's done-callback runs", 1, done.calls);
  T_OK(t, "run_once B", OPS->run_once(b));
  T_EQ(t, "loop B's callbacks run", 16, other.calls);
  OPS->future_release(f);
  st_free(t, a);
  st_free(t, b);
}
