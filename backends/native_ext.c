/* native_ext.c — what the native adapters add on top of their libraries:
 * futures, the executor pool and signal bookkeeping (S12-S14). */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "native_common.h"

/* ---- futures ----------------------------------------------------------- */
/*
 * A future points at its loop's base and nothing else of it, so it stays
 * valid memory after close until its last reference goes; release never
 * touches the loop. Refs and state are atomic: executor workers read the
 * state to skip a cancelled job, and a reference may be dropped anywhere.
 */
typedef struct evl__nfrec {
  struct evl__nfrec *next, *prev;
  evl_future *f;
  evl_future_cb cb;
  void *arg;
} evl__nfrec;

struct evl_future {
  atomic_uint refs;
  atomic_int state;
  evl__nbase *b;
  void *result;
  int error;
  evl__nfrec *cbs, *cbs_tail; /* pending done-callbacks, FIFO */
};

void evl__nfuture_drop_queued(evl__nbase *b) {
  evl__nfrec *r = b->fq;
  b->fq = NULL;
  while (r) {
    evl__nfrec *next = r->next;
    evl__nfuture_release(r->f);
    free(r);
    r = next;
  }
}

int evl__nfuture_new(evl_loop *loop, evl_future **out) {
  if (!out)
    return -EINVAL;
  *out = NULL;
  int rc = evl__ncheck(EVL__NB(loop));
  if (rc)
    return rc;
  evl_future *f = calloc(1, sizeof *f);
  if (!f)
    return -ENOMEM;
  atomic_init(&f->refs, 1);
  atomic_init(&f->state, EVL_FUTURE_PENDING);
  f->b = EVL__NB(loop);
  *out = f;
  return 0;
}

void evl__nfuture_retain(evl_future *f) {
  if (f)
    atomic_fetch_add_explicit(&f->refs, 1, memory_order_relaxed);
}

void evl__nfuture_release(evl_future *f) {
  if (!f || atomic_fetch_sub_explicit(&f->refs, 1, memory_order_acq_rel) != 1)
    return;
  evl__nfrec *r = f->cbs;
  while (r) {
    evl__nfrec *next = r->next;
    free(r);
    r = next;
  }
  free(f);
}

int evl__nfuture_state(const evl_future *f) {
  if (!f)
    return -EINVAL;
  return atomic_load_explicit(&f->state, memory_order_acquire);
}

int evl__nfuture_result(const evl_future *f, void **result) {
  if (result)
    *result = NULL;
  if (!f)
    return -EINVAL;
  switch (atomic_load_explicit(&f->state, memory_order_acquire)) {
  case EVL_FUTURE_PENDING:
    return -EAGAIN;
  case EVL_FUTURE_CANCELLED:
    return -ECANCELED;
  default:
    if (f->error < 0)
      return f->error;
    if (result)
      *result = f->result;
    return 0;
  }
}

static void future_run_cb(void *arg) {
  evl__nfrec *r = arg;
  evl__nbase *b = r->f->b;
  if (r->prev)
    r->prev->next = r->next;
  else
    b->fq = r->next;
  if (r->next)
    r->next->prev = r->prev;
  r->cb(r->f, r->arg);
  evl__nfuture_release(r->f);
  free(r);
}

/* Queues one record with the adapter's call_soon; it takes a reference. */
static int future_schedule(evl_future *f, evl__nfrec *r) {
  evl__nbase *b = f->b;
  r->f = f;
  evl__nfuture_retain(f);
  int rc = b->ops->call_soon((evl_loop *)b, future_run_cb, r, NULL);
  if (rc < 0) {
    evl__nfuture_release(f);
    return rc;
  }
  r->prev = NULL;
  r->next = b->fq;
  if (b->fq)
    b->fq->prev = r;
  b->fq = r;
  return 0;
}

/* The state is final before any callback is queued; none runs here. */
static int future_finish(evl_future *f, int state, void *result, int error) {
  if (!f)
    return -EINVAL;
  int rc = evl__ncheck(f->b);
  if (rc)
    return rc;
  if (atomic_load_explicit(&f->state, memory_order_relaxed) !=
      EVL_FUTURE_PENDING)
    return -EINVAL;
  f->result = result;
  f->error = error;
  atomic_store_explicit(&f->state, state, memory_order_release);
  evl__nfrec *r = f->cbs;
  f->cbs = f->cbs_tail = NULL;
  while (r) {
    evl__nfrec *next = r->next;
    rc = future_schedule(f, r);
    if (rc < 0) {
      evl__nreport(f->b, rc, "future done-callback",
                   "could not schedule a done-callback", -1, 0);
      free(r);
    }
    r = next;
  }
  return 0;
}

int evl__nfuture_set_result(evl_future *f, void *result) {
  return future_finish(f, EVL_FUTURE_DONE, result, 0);
}

int evl__nfuture_set_error(evl_future *f, int code) {
  if (code >= 0)
    return -EINVAL;
  return future_finish(f, EVL_FUTURE_DONE, NULL, code);
}

int evl__nfuture_cancel(evl_future *f) {
  return future_finish(f, EVL_FUTURE_CANCELLED, NULL, 0);
}

int evl__nfuture_add_done_callback(evl_future *f, evl_future_cb cb, void *arg) {
  if (!f || !cb)
    return -EINVAL;
  int rc = evl__ncheck(f->b);
  if (rc)
    return rc;
  evl__nfrec *r = calloc(1, sizeof *r);
  if (!r)
    return -ENOMEM;
  r->cb = cb;
  r->arg = arg;
  if (atomic_load_explicit(&f->state, memory_order_relaxed) !=
      EVL_FUTURE_PENDING) {
    /* Already done: queued at once, as asyncio does; still not run. */
    rc = future_schedule(f, r);
    if (rc < 0)
      free(r);
    return rc;
  }
  if (f->cbs_tail)
    f->cbs_tail->next = r;
  else
    f->cbs = r;
  f->cbs_tail = r;
  return 0;
}

static void future_remove_pending_cb(evl_future *f, evl_future_cb cb,
                                     void *arg) {
  evl__nfrec *prev = NULL;
  for (evl__nfrec *r = f->cbs; r; prev = r, r = r->next) {
    if (r->cb != cb || r->arg != arg)
      continue;
    if (prev)
      prev->next = r->next;
    else
      f->cbs = r->next;
    if (f->cbs_tail == r)
      f->cbs_tail = prev;
    free(r);
    return;
  }
}

/* Stops the loop only for the run_until_complete call that added it. */
static void future_ruc_done(evl_future *f, void *arg) {
  evl__nbase *b = f->b;
  if (b->ruc_active == (uint64_t)(uintptr_t)arg)
    b->ops->stop((evl_loop *)b);
}

int evl__nrun_until_complete(evl_loop *loop, evl_future *f) {
  evl__nbase *b = EVL__NB(loop);
  int rc = evl__ncheck(b);
  if (rc)
    return rc;
  if (!f)
    return -EINVAL;
  if (f->b != b)
    return EVL_EFOREIGN;
  if (b->running)
    return -EBUSY;
  if (evl__nfuture_state(f) != EVL_FUTURE_PENDING)
    return evl__nfuture_result(f, NULL);
  void *token = (void *)(uintptr_t)++b->ruc_gen;
  evl__nfuture_retain(f);
  rc = evl__nfuture_add_done_callback(f, future_ruc_done, token);
  if (rc < 0) {
    evl__nfuture_release(f);
    return rc;
  }
  b->ruc_active = (uint64_t)(uintptr_t)token;
  rc = b->ops->run_forever(loop);
  b->ruc_active = 0;
  if (evl__nfuture_state(f) == EVL_FUTURE_PENDING)
    future_remove_pending_cb(f, future_ruc_done, token);
  int st = evl__nfuture_result(f, NULL);
  evl__nfuture_release(f);
  /* Stopped by someone else first: -EAGAIN, asyncio's "Event loop stopped
   * before Future completed". */
  return rc < 0 ? rc : st;
}

/* ---- executor ---------------------------------------------------------- */
typedef struct exec_job {
  struct exec_job *next;
  evl_work_fn fn;
  void *arg;
  evl_future *f; /* the job's own reference */
  int status;
  void *result;
} exec_job;

typedef struct evl__nexec {
  evl__nbase *b;
  pthread_mutex_t lock;
  pthread_cond_t cond;
  exec_job *q, *q_tail;    /* waiting for a worker */
  exec_job *done, *d_tail; /* finished, to complete on the loop thread */
  int stop, drain_posted;
  unsigned n;
  pthread_t *threads;
} evl__nexec;

static void exec_free_list(exec_job *j) {
  while (j) {
    exec_job *next = j->next;
    evl__nfuture_release(j->f);
    free(j);
    j = next;
  }
}

/* On the loop thread: completes the futures of finished jobs. */
static void exec_drain(void *arg) {
  evl__nexec *x = arg;
  pthread_mutex_lock(&x->lock);
  exec_job *j = x->done;
  x->done = x->d_tail = NULL;
  x->drain_posted = 0;
  pthread_mutex_unlock(&x->lock);
  while (j) {
    exec_job *next = j->next;
    if (evl__nfuture_state(j->f) == EVL_FUTURE_PENDING) {
      if (j->status < 0)
        evl__nfuture_set_error(j->f, j->status);
      else
        evl__nfuture_set_result(j->f, j->result);
    }
    evl__nfuture_release(j->f);
    free(j);
    j = next;
  }
}

static void *exec_worker(void *arg) {
  evl__nexec *x = arg;
  pthread_mutex_lock(&x->lock);
  for (;;) {
    while (!x->stop && !x->q)
      pthread_cond_wait(&x->cond, &x->lock);
    if (x->stop)
      break;
    exec_job *j = x->q;
    x->q = j->next;
    if (!x->q)
      x->q_tail = NULL;
    pthread_mutex_unlock(&x->lock);
    /* A job cancelled before it started never runs (S14). */
    if (evl__nfuture_state(j->f) == EVL_FUTURE_CANCELLED) {
      j->status = -ECANCELED;
    } else {
      j->result = NULL;
      j->status = j->fn(j->arg, &j->result);
    }
    pthread_mutex_lock(&x->lock);
    j->next = NULL;
    if (x->d_tail)
      x->d_tail->next = j;
    else
      x->done = j;
    x->d_tail = j;
    if (!x->drain_posted) {
      x->drain_posted = 1;
      /* Close joins us before it closes the cross-thread queue. */
      x->b->ops->call_soon_threadsafe((evl_loop *)x->b, exec_drain, x);
    }
  }
  pthread_mutex_unlock(&x->lock);
  return NULL;
}

static int exec_start(evl__nbase *b) {
  unsigned n = b->exec_threads;
  if (n == 0) {
    long c = sysconf(_SC_NPROCESSORS_ONLN);
    n = c > 0 ? (unsigned)c : 1;
  }
  evl__nexec *x = calloc(1, sizeof *x);
  if (!x)
    return -ENOMEM;
  x->threads = calloc(n, sizeof *x->threads);
  if (!x->threads) {
    free(x);
    return -ENOMEM;
  }
  x->b = b;
  pthread_mutex_init(&x->lock, NULL);
  pthread_cond_init(&x->cond, NULL);
  b->exec = x;
  for (unsigned i = 0; i < n; i++) {
    int rc = pthread_create(&x->threads[i], NULL, exec_worker, x);
    if (rc) {
      if (i == 0) {
        evl__nexec_shutdown(b);
        return -rc;
      }
      break; /* fewer workers still do the work */
    }
    x->n++;
  }
  return 0;
}

void evl__nexec_shutdown(evl__nbase *b) {
  evl__nexec *x = b->exec;
  if (!x)
    return;
  pthread_mutex_lock(&x->lock);
  x->stop = 1;
  pthread_cond_broadcast(&x->cond);
  pthread_mutex_unlock(&x->lock);
  for (unsigned i = 0; i < x->n; i++)
    pthread_join(x->threads[i], NULL);
  /* Nothing runs any more: queued jobs and unreported results just go. */
  exec_free_list(x->q);
  exec_free_list(x->done);
  pthread_cond_destroy(&x->cond);
  pthread_mutex_destroy(&x->lock);
  free(x->threads);
  free(x);
  b->exec = NULL;
}

int evl__nrun_in_executor(evl_loop *loop, evl_work_fn fn, void *arg,
                          evl_future **out) {
  if (out)
    *out = NULL;
  evl__nbase *b = EVL__NB(loop);
  int rc = evl__ncheck(b);
  if (rc)
    return rc;
  if (!fn || !out)
    return -EINVAL;
  if (!b->exec && (rc = exec_start(b)) < 0)
    return rc;
  exec_job *j = calloc(1, sizeof *j);
  if (!j)
    return -ENOMEM;
  evl_future *f;
  if ((rc = evl__nfuture_new(loop, &f)) < 0) {
    free(j);
    return rc;
  }
  j->fn = fn;
  j->arg = arg;
  j->f = f;
  evl__nfuture_retain(f);
  evl__nexec *x = b->exec;
  pthread_mutex_lock(&x->lock);
  if (x->q_tail)
    x->q_tail->next = j;
  else
    x->q = j;
  x->q_tail = j;
  pthread_cond_signal(&x->cond);
  pthread_mutex_unlock(&x->lock);
  *out = f;
  return 0;
}

/* ---- signals ----------------------------------------------------------- */
/* Signal dispositions are per process, so this table is too (one per
 * module, each module being its own copy of this file). */
static pthread_mutex_t sig_lock = PTHREAD_MUTEX_INITIALIZER;
static struct {
  int users;
  const void *owner; /* EVL__NSIG_PER_SIG */
  struct sigaction saved;
} sig_tab[NSIG];
static const void *sig_any_owner; /* EVL__NSIG_ONE_LOOP */
static int sig_any_users;

int evl__nsig_check(int sig) {
  if (sig <= 0 || sig >= NSIG || sig == SIGKILL || sig == SIGSTOP)
    return -EINVAL;
  return 0;
}

int evl__nsig_acquire(int sig, const void *loop, int mode) {
  int rc = 0;
  pthread_mutex_lock(&sig_lock);
  if (mode == EVL__NSIG_PER_SIG && sig_tab[sig].users &&
      sig_tab[sig].owner != loop)
    rc = -EBUSY;
  else if (mode == EVL__NSIG_ONE_LOOP && sig_any_users && sig_any_owner != loop)
    rc = -EBUSY;
  else if (sig_tab[sig].users == 0 &&
           sigaction(sig, NULL, &sig_tab[sig].saved) < 0)
    rc = -errno;
  if (rc == 0) {
    sig_tab[sig].users++;
    sig_tab[sig].owner = loop;
    sig_any_users++;
    sig_any_owner = loop;
  }
  pthread_mutex_unlock(&sig_lock);
  return rc;
}

void evl__nsig_release(int sig, int restore) {
  pthread_mutex_lock(&sig_lock);
  if (--sig_tab[sig].users == 0) {
    sig_tab[sig].owner = NULL;
    if (restore)
      sigaction(sig, &sig_tab[sig].saved, NULL);
  }
  if (--sig_any_users == 0)
    sig_any_owner = NULL;
  pthread_mutex_unlock(&sig_lock);
}

int evl__nsig_add_check(evl_loop *loop, int sig, evl_cb cb) {
  int rc = evl__ncheck(EVL__NB(loop));
  if (rc)
    return rc;
  if (!cb || evl__nsig_check(sig) < 0)
    return -EINVAL;
  return 0;
}

int evl__nremove_signal_handler(evl_loop *loop, int sig) {
  int rc = evl__ncheck(EVL__NB(loop));
  if (rc)
    return rc;
  if (evl__nsig_check(sig) < 0)
    return -EINVAL;
  if (!EVL__NB(loop)->sigs[sig])
    return 0;
  EVL__NB(loop)->hooks->sig_drop(loop, sig);
  return 1;
}
