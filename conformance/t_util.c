/* t_util.c — helpers for the T-tests (see t_util.h). */
#include <string.h>

#include "t_util.h"

void tt_open(evl_tctx *t, tt_env *e, int watchdog_ms) {
  memset(e, 0, sizeof *e);
  st_need(t, EVL_IF_FUTURES);
  e->t = t;
  e->loop = st_loop(t);
  T_OK(t, "evl_tasks_new", evl_tasks_new(OPS, e->loop, NULL, &e->ts));
  if (watchdog_ms > 0)
    st_watchdog(t, e->loop, watchdog_ms);
}

static void tt_error_handler(const evl_error_info *info, void *arg) {
  tt_env *e = arg;
  if (e->nerrors < 8) {
    e->error_code[e->nerrors] = info->code;
    snprintf(e->error_msg[e->nerrors], sizeof e->error_msg[0], "%s",
             info->message ? info->message : "");
  }
  e->nerrors++;
}

void tt_record_errors(tt_env *e) {
  evl_tctx *t = e->t;
  st_need(t, EVL_IF_ERRORS);
  T_OK(t, "set_error_handler",
       OPS->set_error_handler(e->loop, tt_error_handler, e));
}

void tt_close(tt_env *e) {
  evl_tctx *t = e->t;
  if (e->ts)
    T_OK(t, "evl_tasks_close", evl_tasks_close(e->ts));
  e->ts = NULL;
  st_free(t, e->loop);
  e->loop = NULL;
}

evl_task *tt_spawn(tt_env *e, evl_task_fn fn, void *arg) {
  evl_tctx *t = e->t;
  evl_task *task = NULL;
  T_OK(t, "evl_task_spawn", evl_task_spawn(e->ts, fn, arg, &task));
  T_TRUE(t, "evl_task_spawn gave a task", task != NULL);
  return task;
}

int tt_run(tt_env *e, evl_task *task, void **result) {
  return evl_tasks_run_until_complete(e->ts, task, result);
}

int tt_sleeper(void *arg, void **result) {
  (void)arg;
  (void)result;
  return evl_sleep(3600ULL * 1000 * TT_MS);
}

int tt_cancel_later(void *arg, void **result) {
  evl_task *victim = arg;
  (void)result;
  int rc = evl_sleep(2 * TT_MS);
  if (rc < 0)
    return rc;
  return evl_task_cancel(victim);
}
