/* t_util.h — what the T-tests (tasks) share: a loop with its evl_tasks,
 * running until a task ends, and a recording error handler. */
#ifndef EVL_CONFORMANCE_T_UTIL_H
#define EVL_CONFORMANCE_T_UTIL_H

#include <errno.h>
#include <stdint.h>

#include <evl/task.h>

#include "harness.h"

#define TT_MS 1000000ULL

typedef struct tt_env {
  evl_tctx *t;
  evl_loop *loop;
  evl_tasks *ts;
  /* Reports the error handler received (needs EVL_IF_ERRORS). */
  int nerrors;
  int error_code[8];
  char error_msg[8][160];
} tt_env;

/* A loop of the implementation under test with its tasks; fails the test
 * on error. The watchdog (ms, before scaling) stops a hung loop. */
void tt_open(evl_tctx *t, tt_env *e, int watchdog_ms);
/* Records every report in e (call after tt_open). */
void tt_record_errors(tt_env *e);
/* evl_tasks_close then loop_free, failing the test on error. */
void tt_close(tt_env *e);
/* Spawns fn (failing the test on error) and returns the task handle. */
evl_task *tt_spawn(tt_env *e, evl_task_fn fn, void *arg);
/* Runs the loop until task ends; returns its status. */
int tt_run(tt_env *e, evl_task *task, void **result);
/* A task body that sleeps long and returns what its sleep returned. */
int tt_sleeper(void *arg, void **result);
/* A task body that sleeps 2 ms, then cancels the task passed as arg. */
int tt_cancel_later(void *arg, void **result);

#endif
