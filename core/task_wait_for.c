/* task_wait_for.c — asyncio's wait_for and shield over any future of the
 * task's loop; a task's future stands for the task. */
#include <errno.h>
#include <stdlib.h>

#include "task_int.h"

/* ---- wait_for ---------------------------------------------------------- */

/* What the timeout and the waiter share; lives on the waiter's stack, so
 * the timer never outlives the call. */
typedef struct task_timeout {
  evl_tasks *ts;
  evl_future *f;
  evl_task *inner; /* f's task, or NULL for any other future */
  evl_handle h;    /* the timer, 0 once it ran */
  int fired;       /* the timeout cancelled f */
} task_timeout;

/* A task is cancelled as a task (it may clean up, even decline); any other
 * future is cancelled outright, its done-callbacks queued once. */
static void task_inner_cancel(task_timeout *to) {
  if (to->inner)
    evl_task_cancel(to->inner);
  else
    to->ts->ops->future_cancel(to->f);
}

static void task_timeout_cb(void *arg) {
  task_timeout *to = arg;
  to->h = 0;
  /* Done in this iteration, its awaiter not yet resumed: the outcome came
   * in time and wins. */
  if (to->ts->ops->future_state(to->f) != EVL_FUTURE_PENDING)
    return;
  to->fired = 1;
  task_inner_cancel(to);
}

int evl_wait_for(evl_future *f, uint64_t timeout_ns, void **result) {
  if (result)
    *result = NULL;
  evl_task *self = evl__task_self();
  if (!self)
    return -EPERM;
  if (!f)
    return -EINVAL;
  evl_tasks *ts = self->ts;
  const evl_impl_ops *ops = ts->ops;
  task_timeout to = {ts, f, evl__task_of_future(ts, f), 0, 0};
  if (to.inner == self)
    return -EDEADLK;
  if (to.inner)
    to.inner->retrieved = 1;
  /* Done already: its outcome without suspending, whatever the timeout. */
  if (ops->future_state(f) != EVL_FUTURE_PENDING)
    return ops->future_result(f, result);
  int64_t d = timeout_ns > INT64_MAX ? INT64_MAX : (int64_t)timeout_ns;
  int rc = ops->call_later(ts->loop, d, task_timeout_cb, &to, &to.h);
  if (rc < 0)
    return rc;
  ops->future_retain(f);
  if (to.inner)
    to.inner->refs++;
  /* Until f is done, through cancels of this task: a cancel is passed on to
   * f, and a cancelled task still gets to finish its cleanup. */
  int cancelled = 0;
  rc = 0;
  while (ops->future_state(f) == EVL_FUTURE_PENDING) {
    self->interrupted = 0;
    int arc = evl_await(f, NULL);
    if (self->interrupted) {
      cancelled = 1;
      task_inner_cancel(&to);
    } else if (arc < 0 && ops->future_state(f) == EVL_FUTURE_PENDING) {
      rc = arc; /* could not wait at all (-ENOMEM): f goes on */
      break;
    }
  }
  if (to.h)
    ops->cancel(ts->loop, to.h);
  if (rc == 0)
    rc = ops->future_result(f, result);
  if (cancelled)
    rc = -ECANCELED;
  else if (to.fired && ops->future_state(f) == EVL_FUTURE_CANCELLED)
    rc = -ETIMEDOUT;
  if (rc < 0 && result)
    *result = NULL;
  if (to.inner)
    evl__task_unref(to.inner);
  ops->future_release(f);
  return rc;
}

int evl_wait_for_task(evl_task *t, uint64_t timeout_ns, void **result) {
  if (result)
    *result = NULL;
  evl_task *self = evl__task_self();
  if (!self)
    return -EPERM;
  if (!t)
    return -EINVAL;
  if (t->ts != self->ts)
    return EVL_EFOREIGN;
  return evl_wait_for(t->fut, timeout_ns, result);
}

/* ---- shield ------------------------------------------------------------ */

static void task_shield_unlink(task_shield *s) {
  if (s->prev)
    s->prev->next = s->next;
  else
    s->ts->shields = s->next;
  if (s->next)
    s->next->prev = s->prev;
}

static void task_shield_cb(evl_future *inner, void *arg) {
  task_shield *s = arg;
  const evl_impl_ops *ops = s->ts->ops;
  /* An outer cancelled (or completed) first just drops the outcome. */
  if (ops->future_state(s->outer) == EVL_FUTURE_PENDING) {
    void *res = NULL;
    int st = ops->future_result(inner, &res);
    if (ops->future_state(inner) == EVL_FUTURE_CANCELLED)
      ops->future_cancel(s->outer);
    else if (st < 0)
      ops->future_set_error(s->outer, st);
    else
      ops->future_set_result(s->outer, res);
  }
  task_shield_unlink(s);
  ops->future_release(s->outer);
  free(s);
}

int evl_shield(evl_future *inner, evl_future **outer) {
  if (!outer)
    return -EINVAL;
  *outer = NULL;
  evl_task *self = evl__task_self();
  if (!self)
    return -EPERM;
  if (!inner)
    return -EINVAL;
  evl_tasks *ts = self->ts;
  const evl_impl_ops *ops = ts->ops;
  evl_task *it = evl__task_of_future(ts, inner);
  if (it)
    it->retrieved = 1; /* the outer carries its outcome */
  if (ops->future_state(inner) != EVL_FUTURE_PENDING) {
    /* Nothing left to protect: asyncio hands back the inner itself. */
    ops->future_retain(inner);
    *outer = inner;
    return 0;
  }
  task_shield *s = calloc(1, sizeof *s);
  if (!s)
    return -ENOMEM;
  s->ts = ts;
  int rc = ops->future_new(ts->loop, &s->outer);
  if (rc == 0)
    rc = ops->future_add_done_callback(inner, task_shield_cb, s);
  if (rc < 0) {
    if (s->outer)
      ops->future_release(s->outer);
    free(s);
    return rc;
  }
  ops->future_retain(s->outer); /* one for the caller, one for the link */
  s->next = ts->shields;
  if (ts->shields)
    ts->shields->prev = s;
  ts->shields = s;
  *outer = s->outer;
  return 0;
}

void evl__task_shields_free(evl_tasks *ts) {
  while (ts->shields) {
    task_shield *s = ts->shields;
    task_shield_unlink(s);
    ts->ops->future_release(s->outer);
    free(s);
  }
}
