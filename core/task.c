/* task.c — the task scheduler over the loop ABI: spawn, step, suspend and
 * resume, cancellation, and the awaits that need nothing but the loop. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "task_int.h"

/* The task running on this thread. Only loop callbacks resume tasks, and
 * they run on the loop's own stack, so this is NULL whenever the loop is
 * between callbacks. */
_Thread_local evl_task *evl__task_current EVL__TLS_IE;
#define task_current evl__task_current

evl_task *evl_current_task(void) {
  return task_current;
}

evl_tasks *evl_current_tasks(void) {
  return task_current ? task_current->ts : NULL;
}

uint64_t evl_task_id(const evl_task *t) {
  return t ? t->id : 0;
}

/* ---- lifetime ---------------------------------------------------------- */

static void task_free(evl_task *t) {
  evl_tasks *ts = t->ts;
  if (t->prev)
    t->prev->next = t->next;
  else
    ts->all = t->next;
  if (t->next)
    t->next->prev = t->prev;
  evl__task_map_del(ts, t);
  if (t->fut)
    ts->ops->future_release(t->fut);
  free(t);
}

void evl__task_report(evl_task *t, const char *what) {
  evl_tasks *ts = t->ts;
  if (t->reported || !ts->ops->report_error)
    return;
  t->reported = 1;
  char msg[96];
  snprintf(msg, sizeof msg, "task %llu %s", (unsigned long long)t->id, what);
  ts->ops->report_error(ts->loop, t->state == TASK_DONE ? t->status : -EAGAIN,
                        msg);
}

/* An error nobody retrieved is reported when the last reference goes,
 * asyncio's "Task exception was never retrieved" at garbage collection. */
void evl__task_unref(evl_task *t) {
  if (t->refs > 0 && --t->refs == 0 && t->status < 0 &&
      t->status != -ECANCELED && !t->retrieved)
    evl__task_report(t, "ended with an error nobody retrieved");
  if (t->refs == 0 && t->cbs == 0)
    task_free(t);
}

void evl_task_release(evl_task *t) {
  if (t && t->refs > (t->state == TASK_DONE ? 0u : 1u))
    evl__task_unref(t);
}

void evl__task_destroy(evl_task *t) {
  if (t->has_stack) {
    evl__fiber_done(&t->fiber);
    evl__fiber_stack_free(&t->fiber);
  }
  t->refs = t->cbs = 0;
  task_free(t);
}

/* ---- stacks ------------------------------------------------------------ */

static int task_stack_get(evl_task *t) {
  evl_tasks *ts = t->ts;
  if (ts->ncache > 0) {
    t->fiber = ts->cache[--ts->ncache];
  } else {
    memset(&t->fiber, 0, sizeof t->fiber);
    int rc = evl__fiber_stack_new(&t->fiber, ts->stack_size);
    if (rc < 0)
      return rc;
  }
  t->has_stack = 1;
  return 0;
}

static void task_stack_put(evl_task *t) {
  evl_tasks *ts = t->ts;
  evl__fiber_done(&t->fiber);
  if (ts->ncache < TASK_STACK_CACHE) {
    ts->cache[ts->ncache++] = t->fiber;
  } else {
    evl__fiber_stack_free(&t->fiber);
  }
  t->has_stack = 0;
}

/* ---- running ----------------------------------------------------------- */

static void task_entry(void *arg) {
  evl_task *t = arg;
  evl__fiber_entered(&t->ts->main);
  t->result = NULL;
  t->status = t->fn(t->arg, &t->result);
  t->state = TASK_DONE;
  evl__fiber_switch(&t->fiber, &t->ts->main, 1);
  abort(); /* unreachable: nothing switches to an ended task */
}

/* On the loop's stack after fn returned (or a cancel came first). The
 * future is completed here, so its done-callbacks (awaiting tasks) run in
 * the next iteration, as asyncio's. */
void evl__task_finished(evl_task *t) {
  evl_tasks *ts = t->ts;
  const evl_impl_ops *ops = ts->ops;
  if (t->has_stack)
    task_stack_put(t);
  if (t->status == -ECANCELED)
    ops->future_cancel(t->fut);
  else if (t->status < 0)
    ops->future_set_error(t->fut, t->status);
  else
    ops->future_set_result(t->fut, t->result);
  ts->pending--;
  evl__task_unref(t); /* the reference that kept it while it ran */
}

/* The first step, a yield or sleep ending, or a cancel being delivered. */
static void task_step_cb(void *arg) {
  evl_task *t = arg;
  t->handle = 0;
  if (t->state == TASK_NEW) {
    int rc = t->cancel_req ? -ECANCELED : task_stack_get(t);
    if (rc < 0) {
      /* Cancelled before the first step: fn never runs. */
      t->cancel_req = 0;
      t->status = rc;
      t->state = TASK_DONE;
      evl__task_finished(t);
      return;
    }
    evl__fiber_start(&t->fiber, task_entry, t);
    evl__task_resume(t, 0);
    return;
  }
  if (t->wait != WAIT_CANCEL) {
    evl__task_resume(t, 0);
    return;
  }
  /* The one place a suspending await returns -ECANCELED for a cancel (a
   * cancelled future it awaited gives -ECANCELED too, but not this). */
  t->interrupted = 1;
  evl__task_resume(t, -ECANCELED);
}

int evl_task_spawn(evl_tasks *ts, evl_task_fn fn, void *arg, evl_task **out) {
  if (out)
    *out = NULL;
  if (!ts || !fn)
    return -EINVAL;
  evl_task *t = calloc(1, sizeof *t);
  if (!t)
    return -ENOMEM;
  t->ts = ts;
  t->fn = fn;
  t->arg = arg;
  t->fd = -1;
  t->drained_fd = -1;
  int rc = ts->ops->future_new(ts->loop, &t->fut);
  if (rc == 0)
    rc = evl__task_map_add(ts, t);
  if (rc == 0) {
    rc = ts->ops->call_soon(ts->loop, task_step_cb, t, &t->handle);
    if (rc < 0)
      evl__task_map_del(ts, t);
  }
  if (rc < 0) {
    if (t->fut)
      ts->ops->future_release(t->fut);
    free(t);
    return rc;
  }
  t->id = ++ts->next_id;
  t->state = TASK_NEW;
  t->refs = out ? 2 : 1;
  t->next = ts->all;
  if (ts->all)
    ts->all->prev = t;
  ts->all = t;
  ts->pending++;
  if (out)
    *out = t;
  return 0;
}

/* ---- cancellation ------------------------------------------------------ */

int evl_task_cancel(evl_task *t) {
  if (!t)
    return -EINVAL;
  if (t->state == TASK_DONE)
    return -EINVAL;
  if (t->state != TASK_WAITING || t->wait == WAIT_CANCEL) {
    /* Not started, running, or a delivery already queued: the next
     * suspending await (or the first step) sees it. */
    if (t->wait != WAIT_CANCEL)
      t->cancel_req = 1;
    return 0;
  }
  evl_tasks *ts = t->ts;
  const evl_impl_ops *ops = ts->ops;
  /* Detach from what it waits on, so that nothing else resumes it. */
  switch (t->wait) {
  case WAIT_SOON:
  case WAIT_TIMER:
    ops->cancel(ts->loop, t->handle);
    break;
  case WAIT_FUTURE:
    t->await_fut = NULL; /* the done-callback will find nobody */
    break;
  case WAIT_FD:
    evl__task_fd_forget(t);
    break;
  default:
    break;
  }
  int rc = ops->call_soon(ts->loop, task_step_cb, t, &t->handle);
  if (rc < 0) {
    /* Could not queue the delivery: leave the task where it was told to
     * stop waiting, with the cancel pending for its next await. */
    t->cancel_req = 1;
    t->wait = WAIT_CANCEL;
    return rc;
  }
  t->wait = WAIT_CANCEL;
  return 0;
}

int evl_task_state(const evl_task *t) {
  if (!t)
    return -EINVAL;
  return t->ts->ops->future_state(t->fut);
}

int evl_task_result(evl_task *t, void **result) {
  if (result)
    *result = NULL;
  if (!t)
    return -EINVAL;
  t->retrieved = 1;
  return t->ts->ops->future_result(t->fut, result);
}

evl_future *evl_task_future(evl_task *t) {
  if (!t)
    return NULL;
  t->retrieved = 1;
  return t->fut;
}

/* ---- awaits ------------------------------------------------------------ */

static void task_future_cb(evl_future *f, void *arg) {
  evl_task *t = arg;
  t->cbs--;
  if (t->state == TASK_WAITING && t->wait == WAIT_FUTURE && t->await_fut == f) {
    t->await_fut = NULL;
    evl__task_resume(t, 0);
  }
  if (t->refs == 0 && t->cbs == 0)
    evl__task_unref(t);
}

int evl_await(evl_future *f, void **result) {
  if (result)
    *result = NULL;
  evl_task *t = task_current;
  if (!t)
    return -EPERM;
  if (!f)
    return -EINVAL;
  const evl_impl_ops *ops = t->ts->ops;
  if (ops->future_state(f) == EVL_FUTURE_PENDING) {
    int rc = evl__task_cancel_pending(t);
    if (rc < 0)
      return rc;
    rc = ops->future_add_done_callback(f, task_future_cb, t);
    if (rc < 0)
      return rc;
    t->cbs++;
    t->await_fut = f;
    t->wait = WAIT_FUTURE;
    rc = evl__task_suspend(t);
    if (rc < 0)
      return rc;
  }
  return ops->future_result(f, result);
}

int evl_await_task(evl_task *o, void **result) {
  if (result)
    *result = NULL;
  evl_task *t = task_current;
  if (!t)
    return -EPERM;
  if (!o)
    return -EINVAL;
  if (o->ts != t->ts)
    return EVL_EFOREIGN;
  if (o == t)
    return -EDEADLK;
  o->retrieved = 1;
  o->refs++;
  int rc = evl_await(o->fut, result);
  evl__task_unref(o);
  return rc;
}

static int task_wait_soon(evl_task *t, int64_t delay_ns) {
  int rc = evl__task_cancel_pending(t);
  if (rc < 0)
    return rc;
  evl_tasks *ts = t->ts;
  if (delay_ns <= 0) {
    rc = ts->ops->call_soon(ts->loop, task_step_cb, t, &t->handle);
    t->wait = WAIT_SOON;
  } else {
    rc = ts->ops->call_later(ts->loop, delay_ns, task_step_cb, t, &t->handle);
    t->wait = WAIT_TIMER;
  }
  if (rc < 0) {
    t->wait = WAIT_NONE;
    return rc;
  }
  return evl__task_suspend(t);
}

int evl_sleep(uint64_t ns) {
  evl_task *t = task_current;
  if (!t)
    return -EPERM;
  return task_wait_soon(t, ns > INT64_MAX ? INT64_MAX : (int64_t)ns);
}

int evl_yield(void) {
  evl_task *t = task_current;
  if (!t)
    return -EPERM;
  return task_wait_soon(t, 0);
}

/* ---- guard pages ------------------------------------------------------- */

/* Async-signal-safe: no stdio, only the running task's own fields. */
static size_t task_fmt_u64(char *out, uint64_t v) {
  char tmp[24];
  size_t n = 0;
  do
    tmp[n++] = (char)('0' + v % 10);
  while ((v /= 10) > 0);
  for (size_t i = 0; i < n; i++)
    out[i] = tmp[n - 1 - i];
  return n;
}

int evl_task_stack_fault(const void *addr, char *buf, size_t len) {
  evl_task *t = task_current;
  if (!t || !t->has_stack || !t->fiber.map)
    return 0;
  const char *a = addr, *lo = t->fiber.map, *hi = t->fiber.lo;
  if (a < lo || a >= hi)
    return 0;
  char msg[128];
  size_t n = 0;
  static const char p1[] = "stack overflow in task ", p2[] = " (",
                    p3[] = "-byte stack)";
  memcpy(msg + n, p1, sizeof p1 - 1);
  n += sizeof p1 - 1;
  n += task_fmt_u64(msg + n, t->id);
  memcpy(msg + n, p2, sizeof p2 - 1);
  n += sizeof p2 - 1;
  n += task_fmt_u64(msg + n, t->fiber.len);
  memcpy(msg + n, p3, sizeof p3 - 1);
  n += sizeof p3 - 1;
  if (buf && len > 0) {
    size_t c = n < len - 1 ? n : len - 1;
    memcpy(buf, msg, c);
    buf[c] = '\0';
  }
  return 1;
}
