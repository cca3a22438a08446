/* executor.c — run_in_executor (S14): a fixed, lazily started worker pool
 * whose results complete futures on the loop thread. */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <unistd.h>

#include <evl/evl.h>

#include "loop_int.h"

/* More workers than this is a mistake, not a configuration. */
#define EXECUTOR_MAX_THREADS 1024

/*
 * A job lives on `all` from submission until the loop thread delivers it
 * (or close drops it), and on `queue` until a worker takes it. It holds one
 * reference to its future. Keeping every job on `all` is what lets close
 * free jobs whose completion was posted with call_soon_threadsafe but will
 * never run (close runs nothing queued).
 */
typedef struct executor_job {
  struct executor_job *qnext;       /* queue: FIFO */
  struct executor_job *next, *prev; /* all */
  evl_work_fn fn;
  void *arg;
  evl_future *f;
  void *result;
  int status;
} executor_job;

typedef struct executor {
  evl_loop *loop;
  pthread_mutex_t lock;
  pthread_cond_t cond;
  executor_job *qhead, *qtail; /* under lock */
  executor_job *all;           /* loop thread only */
  int shutdown;                /* under lock */
  unsigned want;               /* evl_set_executor_threads(); 0: config */
  pthread_t *threads;
  unsigned nthreads; /* 0 until the pool started */
} executor;

static void executor_unlink(executor *ex, executor_job *j) {
  if (j->prev)
    j->prev->next = j->next;
  else
    ex->all = j->next;
  if (j->next)
    j->next->prev = j->prev;
}

static void executor_free_job(executor_job *j) {
  evl_future_release(j->f);
  free(j);
}

/* On the loop thread: the job's outcome completes its future. */
static void executor_deliver(void *arg) {
  executor_job *j = arg;
  evl_loop *loop = evl_future_loop(j->f);
  executor *ex = evl__services(loop)->ext(loop, EVL__EXT_EXECUTOR);
  if (ex)
    executor_unlink(ex, j);
  /* A future cancelled meanwhile stays cancelled: its result is dropped. */
  if (evl_future_state(j->f) == EVL_FUTURE_PENDING) {
    int rc = j->status < 0 ? evl_future_set_error(j->f, j->status)
                           : evl_future_set_result(j->f, j->result);
    if (rc < 0)
      evl__services(loop)->error(loop, rc, "executor",
                                 "could not complete the job's future", -1);
  }
  executor_free_job(j);
}

static void *executor_worker(void *arg) {
  executor *ex = arg;
  pthread_mutex_lock(&ex->lock);
  for (;;) {
    while (!ex->shutdown && !ex->qhead)
      pthread_cond_wait(&ex->cond, &ex->lock);
    if (ex->shutdown)
      break;
    executor_job *j = ex->qhead;
    ex->qhead = j->qnext;
    if (!ex->qhead)
      ex->qtail = NULL;
    pthread_mutex_unlock(&ex->lock);

    /* Cancelled before it started: fn never runs; the job is still posted
     * so that the loop thread frees it. */
    if (evl_future_state(j->f) == EVL_FUTURE_CANCELLED)
      j->status = -ECANCELED;
    else
      j->status = j->fn(j->arg, &j->result);

    /* Outside the lock: the loop thread takes it in executor_deliver. If the
     * post fails the loop is closing, and its close hook (which joins this
     * thread first) frees the job from `all`. */
    (void)evl__services(ex->loop)->call_soon_threadsafe(ex->loop,
                                                        executor_deliver, j);
    pthread_mutex_lock(&ex->lock);
  }
  pthread_mutex_unlock(&ex->lock);
  return NULL;
}

/* Close: stop and join every worker, then drop all jobs without calling
 * anything — neither fn (unstarted jobs) nor any future callback (their
 * futures stay pending; the holders' references stay valid). */
static void executor_close_hook(evl_loop *loop, void *data) {
  executor *ex = data;
  pthread_mutex_lock(&ex->lock);
  ex->shutdown = 1;
  pthread_cond_broadcast(&ex->cond);
  pthread_mutex_unlock(&ex->lock);
  for (unsigned i = 0; i < ex->nthreads; i++)
    pthread_join(ex->threads[i], NULL);
  executor_job *j = ex->all;
  while (j) {
    executor_job *next = j->next;
    executor_free_job(j);
    j = next;
  }
  free(ex->threads);
  pthread_cond_destroy(&ex->cond);
  pthread_mutex_destroy(&ex->lock);
  free(ex);
  evl__services(loop)->set_ext(loop, EVL__EXT_EXECUTOR, NULL);
}

static int executor_get(evl_loop *loop, executor **out) {
  executor *ex = evl__services(loop)->ext(loop, EVL__EXT_EXECUTOR);
  if (ex) {
    *out = ex;
    return 0;
  }
  ex = calloc(1, sizeof *ex);
  if (!ex)
    return -ENOMEM;
  ex->loop = loop;
  int rc = -pthread_mutex_init(&ex->lock, NULL);
  if (rc < 0) {
    free(ex);
    return rc;
  }
  rc = -pthread_cond_init(&ex->cond, NULL);
  if (rc < 0) {
    pthread_mutex_destroy(&ex->lock);
    free(ex);
    return rc;
  }
  rc = evl__services(loop)->add_close_hook(loop, executor_close_hook, ex);
  if (rc < 0) {
    pthread_cond_destroy(&ex->cond);
    pthread_mutex_destroy(&ex->lock);
    free(ex);
    return rc;
  }
  evl__services(loop)->set_ext(loop, EVL__EXT_EXECUTOR, ex);
  *out = ex;
  return 0;
}

static unsigned executor_size(const executor *ex) {
  unsigned n =
      ex->want ? ex->want : evl__services(ex->loop)->executor_threads(ex->loop);
  if (n == 0) {
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    n = cores > 0 ? (unsigned)cores : 1;
  }
  return n > EXECUTOR_MAX_THREADS ? EXECUTOR_MAX_THREADS : n;
}

/* Workers start with asynchronous signals blocked, so a process-directed
 * signal is never delivered to them: user code in fn sees no EINTR, and
 * signal handling (signal.c) stays with the application's threads. */
static int executor_start(executor *ex) {
  unsigned n = executor_size(ex);
  ex->threads = calloc(n, sizeof *ex->threads);
  if (!ex->threads)
    return -ENOMEM;
  sigset_t all, old;
  sigfillset(&all);
  /* Synchronous faults must still reach their default action. */
  sigdelset(&all, SIGSEGV);
  sigdelset(&all, SIGBUS);
  sigdelset(&all, SIGFPE);
  sigdelset(&all, SIGILL);
  sigdelset(&all, SIGABRT);
  pthread_sigmask(SIG_SETMASK, &all, &old);
  int rc = 0;
  unsigned started = 0;
  for (; started < n; started++) {
    rc = -pthread_create(&ex->threads[started], NULL, executor_worker, ex);
    if (rc < 0)
      break;
  }
  pthread_sigmask(SIG_SETMASK, &old, NULL);
  if (started == 0) {
    free(ex->threads);
    ex->threads = NULL;
    return rc;
  }
  /* Fewer threads than asked is still a working pool. */
  ex->nthreads = started;
  return 0;
}

/* In the child after fork: no worker was copied, and the lock may have been
 * held by one. The pool starts again on the next job; jobs that a parent
 * worker had taken stay pending here. */
void evl__executor_after_fork(evl_loop *loop) {
  executor *ex = evl__services(loop)->ext(loop, EVL__EXT_EXECUTOR);
  if (!ex)
    return;
  pthread_mutex_init(&ex->lock, NULL);
  pthread_cond_init(&ex->cond, NULL);
  free(ex->threads);
  ex->threads = NULL;
  ex->nthreads = 0;
}

int evl_set_executor_threads(evl_loop *loop, unsigned n) {
  int rc = evl__services_check(loop);
  if (rc < 0)
    return rc;
  if (n > EXECUTOR_MAX_THREADS)
    return -EINVAL;
  executor *ex = evl__services(loop)->ext(loop, EVL__EXT_EXECUTOR);
  if (ex && ex->nthreads > 0)
    return -EBUSY;
  if (!ex) {
    rc = executor_get(loop, &ex);
    if (rc < 0)
      return rc;
  }
  ex->want = n;
  return 0;
}

int evl_run_in_executor(evl_loop *loop, evl_work_fn fn, void *arg,
                        evl_future **out) {
  if (out)
    *out = NULL;
  int rc = evl__services_check(loop);
  if (rc < 0)
    return rc;
  if (!fn || !out)
    return -EINVAL;
  executor *ex = NULL;
  rc = executor_get(loop, &ex);
  if (rc < 0)
    return rc;
  if (ex->nthreads == 0) {
    rc = executor_start(ex);
    if (rc < 0)
      return rc;
  }
  executor_job *j = calloc(1, sizeof *j);
  if (!j)
    return -ENOMEM;
  rc = evl_future_new(loop, &j->f);
  if (rc < 0) {
    free(j);
    return rc;
  }
  j->fn = fn;
  j->arg = arg;
  evl_future_retain(j->f); /* one for the caller, one for the job */
  *out = j->f;

  j->next = ex->all;
  if (ex->all)
    ex->all->prev = j;
  ex->all = j;
  pthread_mutex_lock(&ex->lock);
  if (ex->qtail)
    ex->qtail->qnext = j;
  else
    ex->qhead = j;
  ex->qtail = j;
  pthread_cond_signal(&ex->cond);
  pthread_mutex_unlock(&ex->lock);
  return 0;
}
