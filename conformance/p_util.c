/* p_util.c — helpers for the P-tests (see p_util.h). */
#include <stdlib.h>
#include <string.h>

#include "p_util.h"

evl_proactor *pp_proactor(evl_tctx *t, evl_loop *loop) {
  evl_proactor *p = NULL;
  /* EVL_PROACTOR=uring runs the P-tests on the io_uring engine instead of
   * the emulation over readiness. */
  const char *kind = getenv("EVL_PROACTOR");
  if (kind && strcmp(kind, "uring") == 0) {
    int rc = evl_proactor_new_uring(OPS, loop, &p);
    if (rc == -ENOTSUP || rc == -ENOSYS || rc == -EPERM)
      T_SKIP(t, "no io_uring proactor here: %s", evl_strerror(rc));
    T_OK(t, "evl_proactor_new_uring", rc);
  } else
    T_OK(t, "evl_proactor_new", evl_proactor_new(OPS, loop, &p));
  return p;
}

void pp_open(evl_tctx *t, pp_env *e, int watchdog_ms) {
  memset(e, 0, sizeof *e);
  e->t = t;
  e->loop = st_loop(t);
  e->p = pp_proactor(t, e->loop);
  if (watchdog_ms > 0)
    st_watchdog(t, e->loop, watchdog_ms);
}

void pp_close(pp_env *e) {
  evl_tctx *t = e->t;
  if (e->p)
    T_OK(t, "evl_proactor_close", evl_proactor_close(e->p));
  e->p = NULL;
  st_free(t, e->loop);
  e->loop = NULL;
}

void pp_done(ssize_t result, void *arg) {
  pp_rec *r = arg;
  r->calls++;
  r->result = result;
  if (r->seq)
    r->order = ++*r->seq;
}

static int pp_stopped;
static void pp_on_stop(void *arg) {
  (void)arg;
  pp_stopped = 1;
}

void pp_run_until(pp_env *e, const int *flag) {
  evl_tctx *t = e->t;
  /* The watchdog stops run_forever; run_once returns after it, so a
   * second timer of our own marks that the time ran out: after 5 s, half
   * the P-tests' 10 s timeout, so that a completion that never comes is a
   * FAIL naming what was awaited rather than the harness's TIMEOUT. */
  pp_stopped = 0;
  evl_handle h = 0;
  T_OK(t, "call_later (deadline)",
       t->impl->call_later(
           e->loop,
           (int64_t)(5e9 * (t->timeout_scale >= 1 ? t->timeout_scale : 1)),
           pp_on_stop, NULL, &h));
  while (!*flag && !pp_stopped)
    T_OK(t, "run_once", t->impl->run_once(e->loop));
  if (!pp_stopped)
    t->impl->cancel(e->loop, h);
  T_TRUE(t, "the awaited completion arrived before the deadline", *flag);
}

void pp_spin(pp_env *e, int n) {
  evl_tctx *t = e->t;
  for (int i = 0; i < n; i++) {
    evl_handle h;
    /* A due timer keeps run_once from blocking. */
    T_OK(t, "call_soon", t->impl->call_soon(e->loop, pp_on_stop, NULL, &h));
    T_OK(t, "run_once", t->impl->run_once(e->loop));
  }
}
