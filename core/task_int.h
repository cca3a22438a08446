/* task_int.h — what task.c, task_wait.c and task_run.c share: the task and
 * evl_tasks structures and the scheduler's inner calls. Not installed. */
#ifndef EVL_TASK_INT_H
#define EVL_TASK_INT_H

#include <errno.h>

#include <evl/task.h>

#include "task_ctx.h"

enum task_state {
  TASK_NEW,     /* first step queued, nothing ran */
  TASK_RUNNING, /* on its stack now */
  TASK_WAITING, /* suspended; `wait` says on what */
  TASK_DONE,    /* fn returned (or cancelled before its first step) */
};

enum task_wait {
  WAIT_NONE,
  WAIT_SOON,   /* evl_yield: a call_soon, `handle` */
  WAIT_TIMER,  /* evl_sleep: a call_later, `handle` */
  WAIT_FUTURE, /* a done-callback on `await_fut` */
  WAIT_FD,     /* a reader or writer on `fd`, direction `dir` */
  WAIT_CANCEL, /* cancelled: a call_soon delivers -ECANCELED, `handle` */
};

struct evl_task {
  /* What every wait and wake touches comes first, the saved stack pointer
   * (fiber.sp) included: one or two cache lines per task, not four, which
   * counts when a hundred tasks take turns. */
  evl_tasks *ts;
  enum task_state state;
  enum task_wait wait;
  int cancel_req;  /* a cancel not yet delivered */
  int interrupted; /* an await delivered a cancel (set only: the callers
                     that ask, gather and wait_for, clear it first) */
  int wake_status; /* what the suspending await returns */
  int fd, dir;
  int drained_fd; /* its last recv on this fd came back short, or -1 */
  evl__fiber fiber;
  evl_task *prev, *next; /* ts->all */
  evl_task *hnext;       /* ts->map's chain (task_map.c) */
  evl_task_fn fn;
  void *arg;
  evl_future *fut; /* completed when the task ends */
  void *result;
  int status;
  uint64_t id;
  evl_handle handle;
  evl_future *await_fut;
  unsigned refs; /* handles out + 1 until the task ends */
  unsigned cbs;  /* done-callbacks queued that point at this task */
  int retrieved; /* someone looked at the outcome */
  int reported;  /* an unretrieved error went to the error handler */
  int has_stack;
};

/* A reader or writer registered for tasks stays registered after the wait
 * it served (the next wait on the fd is then free); the first event that
 * finds no waiter removes it. */
typedef struct task_fdw {
  evl_task *waiter[2]; /* [0] read, [1] write */
  unsigned char registered[2];
} task_fdw;

/* An evl_shield link: completes `outer` like the inner future it waits on
 * unless outer is done first. Owned by the evl_tasks until the inner's
 * done-callback runs, so closing with inner still pending frees it. */
typedef struct task_shield {
  evl_tasks *ts;
  struct task_shield *prev, *next;
  evl_future *outer; /* the link's own reference */
} task_shield;

#define TASK_STACK_CACHE 32

struct evl_tasks {
  const evl_impl_ops *ops;
  evl_loop *loop;
  evl__fiber main; /* the loop's own stack while a task runs */
  evl_task *all;   /* every task not yet freed */
  size_t stack_size;
  evl__fiber cache[TASK_STACK_CACHE]; /* stacks of ended tasks */
  int ncache;
  task_fdw *fdw;
  int nfdw;
  uint64_t next_id;
  unsigned pending;     /* tasks not yet ended */
  evl_task **map;       /* task by future (task_map.c) */
  size_t nmap, nmapped; /* buckets (a power of 2), tasks in them */
  task_shield *shields; /* links whose inner is not yet done */
};

/* The running task on this thread or NULL (inline: every await asks). */
/* initial-exec: in libevl.so too a plain %fs-relative access, not a
 * __tls_get_addr call on every await and resume (libevl is linked, not
 * dlopen'ed late, so its TLS block is in the static area). */
#define EVL__TLS_IE __attribute__((tls_model("initial-exec")))
extern _Thread_local evl_task *evl__task_current EVL__TLS_IE;
static inline evl_task *evl__task_self(void) {
  return evl__task_current;
}
/* Delivers a pending cancel instead of suspending (-ECANCELED), before the
 * caller has registered anything; 0 if there is none. */
static inline int evl__task_cancel_pending(evl_task *t) {
  if (!t->cancel_req)
    return 0;
  t->cancel_req = 0;
  t->interrupted = 1;
  return -ECANCELED;
}
/* On the loop's stack after t's fn returned: completes its future. */
void evl__task_finished(evl_task *t);
/* Suspends the running task until something resumes it; returns the
 * status given to the resume. Inline, as the resume below: a wait and a
 * wake are then one frame each around the switch, not two (every frame
 * saves and restores the callee-saved registers the switch saves again). */
static inline int evl__task_suspend(evl_task *t) {
  t->state = TASK_WAITING;
  evl__fiber_switch(&t->fiber, &t->ts->main, 0);
  return t->wake_status;
}
/* From a loop callback: runs t until it suspends or ends. */
static inline void evl__task_resume(evl_task *t, int status) {
  evl_tasks *ts = t->ts;
  t->wait = WAIT_NONE;
  t->wake_status = status;
  t->state = TASK_RUNNING;
  evl_task *prev = evl__task_current;
  evl__task_current = t;
  evl__fiber_here(&ts->main);
  evl__fiber_switch(&ts->main, &t->fiber, 0);
  evl__task_current = prev;
  if (t->state == TASK_DONE)
    evl__task_finished(t);
}
/* Drops a reference and frees what no one points at. */
void evl__task_unref(evl_task *t);
/* Stops what t waits on (cancel): the fd side. */
void evl__task_fd_forget(evl_task *t);
/* Frees a task's memory at evl_tasks_close (loop already closed). */
void evl__task_destroy(evl_task *t);
/* Reports t to the loop's error handler if it should be. */
void evl__task_report(evl_task *t, const char *what);
/* The task map: every task from spawn until freed, by its future. */
int evl__task_map_add(evl_tasks *ts, evl_task *t);
void evl__task_map_del(evl_tasks *ts, evl_task *t);
evl_task *evl__task_of_future(const evl_tasks *ts, const evl_future *f);
/* Frees the shield links left at evl_tasks_close (loop already closed). */
void evl__task_shields_free(evl_tasks *ts);

#endif
