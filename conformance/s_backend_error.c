/* s_backend_error.c — S10 on the reference core over each backend: a wait
 * error ends run with that error through the handler; EINTR does not. The
 * fault is injected by wrapping the backend under test, so these run for
 * every backend (a third party's plugin too) without keying off names. */
#include <errno.h>
#include <string.h>

#include "harness.h"

/* One test per process: file-scope state is the test's own. */
static const evl_backend_ops *berr_under;
static int berr_calls, berr_fail_from, berr_fail_count, berr_code;

static int berr_wait(void *state, int64_t timeout_ns, evl_event *out, int cap) {
  int call = berr_calls++;
  if (call >= berr_fail_from && call < berr_fail_from + berr_fail_count)
    return berr_code;
  return berr_under->wait(state, timeout_ns, out, cap);
}

typedef struct berr_seen {
  int reports, code;
  char context[64];
} berr_seen;

static void berr_handler(const evl_error_info *info, void *arg) {
  berr_seen *s = arg;
  s->reports++;
  s->code = info->code;
  snprintf(s->context, sizeof s->context, "%s",
           info->context ? info->context : "");
}

typedef struct berr_spin {
  evl_loop *loop;
  int runs;
} berr_spin;

static void berr_again(void *arg) {
  berr_spin *s = arg;
  s->runs++;
  evl_call_soon(s->loop, berr_again, s, NULL);
}

static evl_loop *berr_loop(evl_tctx *t, evl_backend_ops *copy) {
  *copy = *t->be;
  copy->wait = berr_wait;
  berr_under = t->be;
  evl_loop_config cfg;
  evl_loop_config_init(&cfg);
  cfg.backend_ops = copy;
  evl_loop *loop = NULL;
  T_OK(t, "evl_loop_new over the wrapped backend", evl_loop_new(&loop, &cfg));
  return loop;
}

void test_s10_backend_error_ends_run(evl_tctx *t) {
  evl_backend_ops copy;
  evl_loop *loop = berr_loop(t, &copy);
  berr_seen seen = {0};
  T_OK(t, "set_error_handler",
       evl_set_error_handler(loop, berr_handler, &seen));
  berr_spin spin = {loop, 0};
  T_OK(t, "call_soon", evl_call_soon(loop, berr_again, &spin, NULL));
  berr_calls = 0;
  berr_fail_from = 3;
  berr_fail_count = 1000000;
  berr_code = -EIO;
  T_RC(t, "run_forever's result after the backend's wait failed", -EIO,
       evl_run_forever(loop));
  T_EQ(t, "reports to the error handler", 1, seen.reports);
  T_RC(t, "code the handler received", -EIO, seen.code);
  T_TRUE(t, "handler context names the backend wait",
         strstr(seen.context, "wait") != NULL);
  T_EQ(t, "iterations whose callbacks ran before the failing wait", 3,
       spin.runs);
  T_EQ(t, "is_running after run returned", 0, evl_is_running(loop));
  /* The loop is still usable: the error ended run, not the loop. */
  berr_fail_count = 0;
  T_OK(t, "run_once after the error", evl_run_once(loop));
  T_OK(t, "loop_free", evl_loop_free(loop));
}

static void berr_spin_then_stop(void *arg) {
  berr_spin *s = arg;
  if (++s->runs == 10)
    evl_stop(s->loop);
  else
    evl_call_soon(s->loop, berr_spin_then_stop, s, NULL);
}

void test_s10_backend_eintr_not_error(evl_tctx *t) {
  evl_backend_ops copy;
  evl_loop *loop = berr_loop(t, &copy);
  berr_seen seen = {0};
  T_OK(t, "set_error_handler",
       evl_set_error_handler(loop, berr_handler, &seen));
  berr_calls = 0;
  berr_fail_from = 0;
  berr_fail_count = 5;
  berr_code = -EINTR;
  /* Ten iterations driven by a callback, not a timer, so the count of waits
   * does not depend on how fast the machine is. */
  berr_spin spin = {loop, 0};
  T_OK(t, "call_soon", evl_call_soon(loop, berr_spin_then_stop, &spin, NULL));
  T_RC(t, "run_forever with five interrupted waits", 0, evl_run_forever(loop));
  T_EQ(t, "reports to the error handler", 0, seen.reports);
  T_EQ(t, "callbacks run (one per iteration)", 10, spin.runs);
  /* Whether an interrupted wait ends its iteration or is resumed inside it
   * is the loop's choice; either way none of the ten is lost. */
  T_GE(t, "waits made (at least one per iteration)", 10, berr_calls);
  T_OK(t, "loop_free", evl_loop_free(loop));
}
