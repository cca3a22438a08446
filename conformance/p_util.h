/* p_util.h — what the P-tests (completion I/O) share: a loop of the
 * implementation under test with a proactor, and recorded completions. */
#ifndef EVL_CONFORMANCE_P_UTIL_H
#define EVL_CONFORMANCE_P_UTIL_H

#include <errno.h>
#include <sys/types.h>

#include <evl/completion.h>

#include "harness.h"

typedef struct pp_rec {
  int calls;
  ssize_t result;
  int order; /* completion sequence number, from 1 */
  int *seq;  /* shared counter, may be NULL */
} pp_rec;

typedef struct pp_env {
  evl_tctx *t;
  evl_loop *loop;
  evl_proactor *p;
  int seq;
} pp_env;

void pp_open(evl_tctx *t, pp_env *e, int watchdog_ms);
/* A proactor on loop: the emulation, or the io_uring engine with
 * EVL_PROACTOR=uring (skipping the test where there is none). */
evl_proactor *pp_proactor(evl_tctx *t, evl_loop *loop);
/* Closes the proactor (if still open) and frees the loop. */
void pp_close(pp_env *e);
/* The evl_io_done that records into the pp_rec in arg. */
void pp_done(ssize_t result, void *arg);
/* Runs iterations until *flag is nonzero; fails the test if the watchdog
 * stopped the loop first. */
void pp_run_until(pp_env *e, const int *flag);
/* A few more iterations, for "nothing else runs" checks. */
void pp_spin(pp_env *e, int n);

/* P3: the emulation's proactors made here get the implementation's ops
 * with readers and writers routed through a guard, and their close goes through
 * pp_proactor_close: a watcher of a closed proactor that its loop still
 * calls is counted (and not passed on to the freed proactor); pp_close
 * fails the test if there was one. */
int pp_proactor_close(evl_proactor *p);
#define evl_proactor_close pp_proactor_close

#endif
