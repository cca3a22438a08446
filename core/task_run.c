/* task_run.c — evl_tasks over a loop (any implementation, or the reference
 * core's evl_loop), closing with pending tasks, and evl_run. */
#include <errno.h>
#include <stdlib.h>

#include "module.h"
#include "task_int.h"

#define TASK_DEFAULT_STACK (256u * 1024u)

int evl_tasks_new(const evl_impl_ops *ops, evl_loop *loop,
                  const evl_tasks_config *cfg, evl_tasks **out) {
  if (!out)
    return -EINVAL;
  *out = NULL;
  if (!ops || !loop)
    return -EINVAL;
  if (!(ops->features & EVL_IF_FUTURES) || !ops->future_new)
    return -ENOTSUP;
  if (cfg && cfg->size < sizeof(size_t))
    return -EINVAL;
  size_t stack = TASK_DEFAULT_STACK;
  if (cfg && cfg->size >= sizeof *cfg && cfg->stack_size)
    stack = cfg->stack_size;
  if (stack < 16384)
    return -EINVAL; /* below this even a libc call may not fit */
  evl_tasks *ts = calloc(1, sizeof *ts);
  if (!ts)
    return -ENOMEM;
  ts->ops = ops;
  ts->loop = loop;
  ts->stack_size = stack;
  *out = ts;
  return 0;
}

/* The reference core's own ops table (impls/ref.c) with no backend named:
 * its loop_new then takes $EVL_BACKEND or the best built-in backend. */
int evl_tasks_new_ref(evl_loop *loop, const evl_tasks_config *cfg,
                      evl_tasks **out) {
  return evl_tasks_new(&evl__ref_template, loop, cfg, out);
}

evl_loop *evl_tasks_loop(const evl_tasks *ts) {
  return ts ? ts->loop : NULL;
}

const evl_impl_ops *evl_tasks_ops(const evl_tasks *ts) {
  return ts ? ts->ops : NULL;
}

int evl_tasks_close(evl_tasks *ts) {
  if (!ts)
    return -EINVAL;
  const evl_impl_ops *ops = ts->ops;
  if (ops->is_running(ts->loop) > 0)
    return -EBUSY;
  /* Reported while the loop still takes reports; nothing runs between
   * these and the close. */
  for (evl_task *t = ts->all; t; t = t->next) {
    if (t->state != TASK_DONE)
      evl__task_report(t, "was destroyed but it is pending");
    else if (t->status < 0 && t->status != -ECANCELED && !t->retrieved)
      evl__task_report(t, "ended with an error nobody retrieved");
  }
  int rc = ops->loop_close(ts->loop);
  if (rc < 0)
    return rc;
  while (ts->all)
    evl__task_destroy(ts->all);
  evl__task_shields_free(ts);
  free(ts->map);
  for (int i = 0; i < ts->ncache; i++)
    evl__fiber_stack_free(&ts->cache[i]);
  free(ts->fdw);
  free(ts);
  return 0;
}

int evl_tasks_run_until_complete(evl_tasks *ts, evl_task *t, void **result) {
  if (result)
    *result = NULL;
  if (!ts || !t)
    return -EINVAL;
  if (t->ts != ts)
    return EVL_EFOREIGN;
  t->retrieved = 1;
  int rc = ts->ops->run_until_complete(ts->loop, t->fut);
  if (rc == 0 || ts->ops->future_state(t->fut) != EVL_FUTURE_PENDING)
    rc = ts->ops->future_result(t->fut, result);
  return rc;
}

/* asyncio.run's ending: cancel what is left once, then run the loop until
 * every task has ended (cleanup code may still await). */
static int task_run_finish(evl_tasks *ts) {
  for (evl_task *t = ts->all; t; t = t->next)
    if (t->state != TASK_DONE)
      evl_task_cancel(t);
  int rc = 0;
  while (ts->pending > 0 && rc >= 0)
    rc = ts->ops->run_once(ts->loop);
  return rc;
}

int evl_run_impl(const evl_impl_ops *ops, evl_task_fn main, void *arg,
                 void **result) {
  if (result)
    *result = NULL;
  if (!ops || !main)
    return -EINVAL;
  evl_impl_config cfg = {.size = sizeof cfg};
  evl_loop *loop = NULL;
  int rc = ops->loop_new(ops->data, &cfg, &loop);
  if (rc < 0)
    return rc;
  evl_tasks *ts = NULL;
  rc = evl_tasks_new(ops, loop, NULL, &ts);
  if (rc < 0) {
    ops->loop_free(loop);
    return rc;
  }
  evl_task *t = NULL;
  rc = evl_task_spawn(ts, main, arg, &t);
  int st = rc;
  if (rc == 0) {
    st = evl_tasks_run_until_complete(ts, t, result);
    rc = task_run_finish(ts);
    evl_task_release(t);
  }
  int crc = evl_tasks_close(ts);
  int frc = ops->loop_free(loop);
  if (st == 0 && rc < 0)
    st = rc;
  if (st == 0 && crc < 0)
    st = crc;
  if (st == 0 && frc < 0)
    st = frc;
  return st;
}

int evl_run(evl_task_fn main, void *arg, void **result) {
  const char *name = getenv("EVL_IMPL");
  const evl_impl_ops *ops = &evl__ref_template;
  if (name && *name) {
    char err[256];
    int rc = evl_impl_lookup(name, &ops, err, sizeof err);
    if (rc < 0)
      return rc;
  }
  return evl_run_impl(ops, main, arg, result);
}
