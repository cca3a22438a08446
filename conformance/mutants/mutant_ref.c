/* mutant_ref.c — the reference core on epoll with one deliberate bug in
 * the parts the sample loop lacks (signals, futures, executor) or in loop
 * calls only the task tests reach (tasks need futures), for the rows of
 * list_mutants.h whose base is REF; the bugs of its ready queue (call_soon
 * and cancel) are in mutant_ref_soon.c. The core is linked into the mutant's
 * .so and reached through evl_impl_ref(): the bug wraps its ops at the ABI
 * boundary, the core itself has no hook for it. */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "mutant.h"

const evl_impl_ops *mutant_ref_base;
#define base mutant_ref_base

/* ---------------------------------------------------------------- signals */

/* signal_once: the first delivery runs the callback, later ones are
 * dropped until the handler is added again (a handler installed with
 * SA_RESETHAND / System V signal() semantics, re-armed by nobody). */
typedef struct ref_sig {
  evl_loop *loop;
  int sig, fired;
  evl_cb cb;
  void *arg;
} ref_sig;
static ref_sig sigs[64];

static void ref_sig_cb(void *arg) {
  ref_sig *s = arg;
  if (ON(signal_once) && s->fired++)
    return;
  s->cb(s->arg);
}

static ref_sig *ref_sig_slot(evl_loop *loop, int sig) {
  ref_sig *free_slot = NULL;
  for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++) {
    if (sigs[i].loop == loop && sigs[i].sig == sig)
      return &sigs[i];
    if (!sigs[i].loop && !free_slot)
      free_slot = &sigs[i];
  }
  return free_slot;
}

static void ref_forget(evl_loop *loop, int sig);

/* signal_last_loop: one owner per signal in the process, as asyncio's
 * set_wakeup_fd: a loop adding a handler takes the signal from any other
 * loop watching it, which then never hears of it again. */
static int ref_add_signal_handler(evl_loop *loop, int sig, evl_cb cb,
                                  void *arg) {
  if (ON(signal_last_loop) && cb)
    for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++)
      if (sigs[i].loop && sigs[i].loop != loop && sigs[i].sig == sig) {
        evl_loop *other = sigs[i].loop;
        if (base->remove_signal_handler(other, sig) > 0)
          ref_forget(other, sig);
      }
  ref_sig *s = cb ? ref_sig_slot(loop, sig) : NULL;
  if (!s)
    return base->add_signal_handler(loop, sig, cb, arg);
  ref_sig old = *s;
  *s = (ref_sig){.loop = loop, .sig = sig, .cb = cb, .arg = arg};
  int rc = base->add_signal_handler(loop, sig, ref_sig_cb, s);
  if (rc < 0)
    *s = old;
  return rc;
}

static void ref_forget_eh(evl_loop *loop);

static void ref_forget(evl_loop *loop, int sig) {
  for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++)
    if (sigs[i].loop == loop && (sig == 0 || sigs[i].sig == sig))
      sigs[i] = (ref_sig){0};
  if (sig == 0)
    ref_forget_eh(loop);
}

/* remove_resets_default: remove puts back SIG_DFL, not the disposition
 * found before the first handler (what the test's own handler was). */
static int ref_remove_signal_handler(evl_loop *loop, int sig) {
  int rc = base->remove_signal_handler(loop, sig);
  if (rc > 0)
    ref_forget(loop, sig);
  if (rc > 0 && ON(remove_resets_default)) {
    struct sigaction dfl;
    memset(&dfl, 0, sizeof dfl);
    dfl.sa_handler = SIG_DFL;
    sigemptyset(&dfl.sa_mask);
    sigaction(sig, &dfl, NULL);
  }
  return rc;
}

static void ref_release_reruns(evl_loop *loop);

/* close_runs_queue: close first runs what is queued, one last iteration
 * with a zero timeout, "so that nothing is dropped" (what libuv/libuv#299
 * proposed for uv_loop_close and was refused). */
static int ref_loop_close(evl_loop *loop) {
  if (ON(close_runs_queue) && loop && !base->is_running(loop) &&
      base->stop(loop) == 0)
    base->run_once(loop);
  return base->loop_close(loop);
}

static int ref_loop_free(evl_loop *loop) {
  ref_release_reruns(loop);
  int rc = base->loop_free(loop);
  if (rc == 0)
    ref_forget(loop, 0);
  return rc;
}

/* ---------------------------------------------------------------- futures */

/* future_sync_done: callbacks added to a pending future the user made are
 * kept here and run inside set_result / set_error / cancel (the futures
 * the core completes itself, an executor job's, are left alone). */
typedef struct ref_done {
  evl_future *f;
  evl_future_cb cb;
  void *arg;
} ref_done;
static ref_done dones[256];
static size_t ndones;

static evl_future *made[256];
static size_t nmade;

static int ref_future_new(evl_loop *loop, evl_future **out) {
  int rc = base->future_new(loop, out);
  if (rc == 0 && nmade < sizeof made / sizeof made[0])
    made[nmade++] = *out;
  return rc;
}

static int ref_made(const evl_future *f) {
  for (size_t i = 0; i < nmade; i++)
    if (made[i] == f)
      return 1;
  return 0;
}

static int ref_add_done_callback(evl_future *f, evl_future_cb cb, void *arg) {
  if (!(ON(future_sync_done) || ON(cancel_no_callbacks)) || !f || !cb ||
      !ref_made(f) || base->future_state(f) != EVL_FUTURE_PENDING ||
      ndones == sizeof dones / sizeof dones[0])
    return base->future_add_done_callback(f, cb, arg);
  dones[ndones++] = (ref_done){f, cb, arg};
  return 0;
}

/* cancel_no_callbacks: the callbacks kept here are handed to the (now
 * done) future, which schedules them, when it gets a result or an error;
 * a cancel drops them: whoever waits on the future is never told
 * (qcoro/qcoro#288, dask/distributed#1438). */
static int ref_settled(evl_future *f, int rc, int cancelled) {
  if (rc != 0)
    return rc;
  size_t kept = 0;
  for (size_t i = 0; i < ndones; i++) {
    ref_done d = dones[i];
    if (d.f != f)
      dones[kept++] = d;
    else if (ON(future_sync_done))
      d.cb(d.f, d.arg);
    else if (!cancelled)
      base->future_add_done_callback(d.f, d.cb, d.arg);
  }
  ndones = kept;
  return rc;
}

static int ref_set_result(evl_future *f, void *result) {
  return ref_settled(f, base->future_set_result(f, result), 0);
}
static int ref_set_error(evl_future *f, int code) {
  return ref_settled(f, base->future_set_error(f, code), 0);
}
static int ref_future_cancel(evl_future *f) {
  return ref_settled(f, base->future_cancel(f), 1);
}

/* failed_reads_done: a future that failed reads as done with no value:
 * future_result gives 0 and NULL, the error code is lost to whoever awaits
 * it (rclpy before ros2/rclpy#412: await of a failed Future gave None). */
static int ref_future_result(const evl_future *f, void **result) {
  int rc = base->future_result(f, result);
  if (ON(failed_reads_done) && rc < 0 && rc != -EAGAIN && rc != -ECANCELED &&
      base->future_state(f) == EVL_FUTURE_DONE) {
    if (result)
      *result = NULL;
    return 0;
  }
  return rc;
}

/* ruc_stopped_silent: a loop stopped before the future is done makes
 * run_until_complete return 0, as if the future had completed. */
static int ref_run_until_complete(evl_loop *loop, evl_future *f) {
  int rc = base->run_until_complete(loop, f);
  return ON(ruc_stopped_silent) && rc == -EAGAIN ? 0 : rc;
}

/* ---------------------------------------------------------------- executor */

/* executor_cancel_ignored: a job whose future is cancelled before a worker
 * took it is run anyway (submitted again, its result dropped), as
 * noxdafox/pebble#33's pool did. */
typedef struct ref_job {
  evl_loop *loop;
  evl_future *f;
  evl_work_fn fn;
  void *arg;
} ref_job;
static ref_job jobs[2048], reruns[2048];

static void ref_job_note(ref_job *tab, size_t n, ref_job j) {
  for (size_t i = 0; i < n; i++)
    if (!tab[i].f || tab[i].f == j.f) {
      tab[i] = j;
      return;
    }
}

static int ref_future_cancel_rerun(evl_future *f) {
  int rc = ref_future_cancel(f);
  for (size_t i = 0; rc == 0 && i < sizeof jobs / sizeof jobs[0]; i++)
    if (jobs[i].f == f) {
      ref_job j = jobs[i];
      jobs[i].f = NULL;
      if (base->run_in_executor(j.loop, j.fn, j.arg, &j.f) == 0)
        ref_job_note(reruns, sizeof reruns / sizeof reruns[0], j);
    }
  return rc;
}

static void ref_release_reruns(evl_loop *loop) {
  for (size_t i = 0; i < sizeof reruns / sizeof reruns[0]; i++)
    if (reruns[i].f && reruns[i].loop == loop) {
      base->future_release(reruns[i].f);
      reruns[i].f = NULL;
    }
  for (size_t i = 0; i < sizeof jobs / sizeof jobs[0]; i++)
    if (jobs[i].loop == loop)
      jobs[i].f = NULL;
}

/* executor_blocks_loop: the job runs on a worker, but run_in_executor
 * waits for it to end before it returns (a pool shut down with wait=True
 * right after the submit, equinor/ert#4385): the loop stands still. */
typedef struct ref_blocking {
  evl_work_fn fn;
  void *arg;
  pthread_mutex_t lock;
  pthread_cond_t cond;
  int done;
} ref_blocking;

static int ref_blocking_job(void *arg, void **result) {
  ref_blocking *b = arg;
  int rc = b->fn(b->arg, result);
  pthread_mutex_lock(&b->lock);
  b->done = 1;
  pthread_cond_signal(&b->cond);
  pthread_mutex_unlock(&b->lock);
  return rc;
}

static int ref_run_blocking(evl_loop *loop, evl_work_fn fn, void *arg,
                            evl_future **out) {
  ref_blocking *b = malloc(sizeof *b);
  if (!b)
    return -ENOMEM;
  *b = (ref_blocking){.fn = fn, .arg = arg};
  pthread_mutex_init(&b->lock, NULL);
  pthread_cond_init(&b->cond, NULL);
  int rc = base->run_in_executor(loop, ref_blocking_job, b, out);
  pthread_mutex_lock(&b->lock);
  while (rc == 0 && !b->done)
    pthread_cond_wait(&b->cond, &b->lock);
  pthread_mutex_unlock(&b->lock);
  pthread_cond_destroy(&b->cond);
  pthread_mutex_destroy(&b->lock);
  free(b);
  return rc;
}

/* executor_inline: the job runs at once on the caller's thread (a pool of
 * zero workers that falls back to running inline). */
static int ref_run_in_executor(evl_loop *loop, evl_work_fn fn, void *arg,
                               evl_future **out) {
  if (ON(executor_blocks_loop) && fn && out)
    return ref_run_blocking(loop, fn, arg, out);
  if (ON(executor_cancel_ignored)) {
    int rc = base->run_in_executor(loop, fn, arg, out);
    if (rc == 0)
      ref_job_note(jobs, sizeof jobs / sizeof jobs[0],
                   (ref_job){.loop = loop, .f = *out, .fn = fn, .arg = arg});
    return rc;
  }
  if (!ON(executor_inline) || !fn || !out)
    return base->run_in_executor(loop, fn, arg, out);
  evl_future *f = NULL;
  int rc = base->future_new(loop, &f);
  if (rc < 0)
    return rc;
  void *result = NULL;
  rc = fn(arg, &result);
  rc = rc < 0 ? base->future_set_error(f, rc)
              : base->future_set_result(f, result);
  if (rc < 0) {
    base->future_release(f);
    return rc;
  }
  *out = f;
  return 0;
}

/* ---------------------------------------------------------------- debug */

/* slow_reported_once: a loop's handler hears of the first slow callback
 * only (a warning de-duplicated once too often). */
typedef struct ref_eh {
  evl_loop *loop;
  evl_error_handler h;
  void *arg;
  int slow_seen;
} ref_eh;
static ref_eh ehs[16];

static void ref_eh_cb(const evl_error_info *info, void *arg) {
  ref_eh *e = arg;
  if (ON(slow_reported_once) && info->code == EVL_ESLOW && e->slow_seen++)
    return;
  e->h(info, e->arg);
}

static int ref_set_error_handler(evl_loop *loop, evl_error_handler h,
                                 void *arg) {
  ref_eh *e = NULL;
  for (size_t i = 0; i < sizeof ehs / sizeof ehs[0] && !e; i++)
    if (ehs[i].loop == loop)
      e = &ehs[i];
  for (size_t i = 0; i < sizeof ehs / sizeof ehs[0] && !e; i++)
    if (!ehs[i].loop)
      e = &ehs[i];
  if (!h || !e)
    return base->set_error_handler(loop, h, arg);
  ref_eh old = *e;
  *e = (ref_eh){.loop = loop, .h = h, .arg = arg};
  int rc = base->set_error_handler(loop, ref_eh_cb, e);
  if (rc < 0)
    *e = old;
  return rc;
}

static void ref_forget_eh(evl_loop *loop) {
  for (size_t i = 0; i < sizeof ehs / sizeof ehs[0]; i++)
    if (ehs[i].loop == loop)
      ehs[i] = (ref_eh){0};
}

/* ---------------------------------------------------------------- io */

/* oneshot_writer: a writer is called once, then disarmed until it is
 * added again (a one-shot registration nobody re-arms); `fired` here
 * means "added again during the call". */
typedef struct ref_w {
  evl_loop *loop;
  int fd, fired;
  evl_io_cb cb;
  void *arg;
} ref_w;
static ref_w ws[256];

static void ref_w_cb(int fd, unsigned events, void *arg) {
  ref_w *w = arg;
  evl_loop *loop = w->loop;
  w->fired = 0;
  w->cb(fd, events, w->arg);
  if (!w->fired && w->loop == loop && w->fd == fd) /* not added again */
    base->remove_writer(loop, fd); /* disarmed, as EPOLLONESHOT */
}

static int ref_add_writer(evl_loop *loop, int fd, evl_io_cb cb, void *arg) {
  ref_w *w = NULL;
  for (size_t i = 0; ON(oneshot_writer) && cb && i < 256 && !w; i++)
    if ((ws[i].loop == loop && ws[i].fd == fd) || !ws[i].loop)
      w = &ws[i];
  if (!w)
    return base->add_writer(loop, fd, cb, arg);
  ref_w old = *w;
  *w = (ref_w){.loop = loop, .fd = fd, .cb = cb, .arg = arg, .fired = 1};
  int rc = base->add_writer(loop, fd, ref_w_cb, w);
  if (rc < 0)
    *w = old;
  return rc;
}

/* ---------------------------------------------------------------- fork */

/* after_fork_noop: loop_after_fork says 0 and rebuilds nothing. */
static int ref_loop_after_fork(evl_loop *loop) {
  return ON(after_fork_noop) ? 0 : base->loop_after_fork(loop);
}

/* ---------------------------------------------------------------- table */

/* remove_idle_ignored: remove_reader / remove_writer on a loop that is not
 * running answer 1 and change nothing, as uvloop's remove_signal_handler
 * outside a run does (impls/python_uvloop_bugs.md #2): a proactor closed
 * between runs leaves its watchers, and the loop calls them later. */
static int ref_remove_reader(evl_loop *loop, int fd) {
  if (ON(remove_idle_ignored) && loop && fd >= 0 && !base->is_running(loop))
    return 1;
  return base->remove_reader(loop, fd);
}

static int ref_remove_writer(evl_loop *loop, int fd) {
  if (ON(remove_idle_ignored) && loop && fd >= 0 && !base->is_running(loop))
    return 1;
  return base->remove_writer(loop, fd);
}

static evl_impl_ops ops;

const evl_impl_ops *mutant_ref_plugin(const char *name, const char *desc) {
  char err[256];
  if (evl_impl_ref("epoll", &base, err, sizeof err) < 0)
    return NULL;
  ops = *base;
  ops.name = name;
  ops.description = desc;
  ops.loop_free = ref_loop_free;
  ops.add_signal_handler = ref_add_signal_handler;
  ops.remove_signal_handler = ref_remove_signal_handler;
  ops.future_new = ref_future_new;
  ops.future_add_done_callback = ref_add_done_callback;
  ops.future_set_result = ref_set_result;
  ops.future_set_error = ref_set_error;
  ops.future_result = ref_future_result;
  ops.remove_reader = ref_remove_reader;
  ops.remove_writer = ref_remove_writer;
  ops.future_cancel =
      ON(executor_cancel_ignored) ? ref_future_cancel_rerun : ref_future_cancel;
  ops.loop_close = ref_loop_close;
  ops.run_until_complete = ref_run_until_complete;
  ops.run_in_executor = ref_run_in_executor;
  ops.loop_after_fork = ref_loop_after_fork;
  ops.call_soon = mutant_ref_call_soon;
  ops.add_writer = ref_add_writer;
  ops.cancel = mutant_ref_cancel;
  ops.set_error_handler = ref_set_error_handler;
  return &ops;
}
