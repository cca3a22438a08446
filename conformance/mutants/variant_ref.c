/* variant_ref.c — the reference core on epoll with one difference the
 * contract allows in the parts the sample loop lacks (executor width, the
 * order of done-callbacks, how signal callbacks are delivered and how
 * often), for the
 * rows of list_variants.h whose base is REF. Linked into every variant's
 * .so beside variant_loop.c; the difference wraps the core's ops at the ABI
 * boundary, the core has no hook for it. */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mutant.h"

static const evl_impl_ops *base;

/* executor_one_worker (REF): every loop's executor gets one worker,
 * executor_wide 32. The
 * config is copied only up to its size; a short or refused one goes to the
 * core as it is, which answers for it (S8). */
static int var_loop_new(const void *data, const evl_impl_config *cfg,
                        evl_loop **out) {
  evl_impl_config c = {.size = sizeof c};
  if (cfg && cfg->size < sizeof cfg->size)
    return base->loop_new(data, cfg, out);
  if (cfg)
    memcpy(&c, cfg, cfg->size < sizeof c ? cfg->size : sizeof c);
  c.size = sizeof c;
  c.executor_threads = ON(executor_one_worker) ? 1 : 32;
  return base->loop_new(data, &c, out);
}

/* done_reversed (REF): a pending future's done-callbacks run newest first.
 * Each one added is registered with the core; the first to fire runs the
 * whole group in reverse and the others find it done. A group is keyed by
 * its future, forgotten when a new future takes that address. */
typedef struct rev_node {
  struct rev_node *head, *next; /* head: the group's first node */
  evl_future *f;
  evl_future_cb cb;
  void *arg;
  int fired, used;
} rev_node;
static rev_node rev_pool[4096];

static rev_node *rev_group(const evl_future *f) {
  for (size_t i = 0; i < sizeof rev_pool / sizeof rev_pool[0]; i++)
    if (rev_pool[i].used && rev_pool[i].f == f && rev_pool[i].head == NULL &&
        !rev_pool[i].fired)
      return &rev_pool[i];
  return NULL;
}

static void rev_forget(const evl_future *f) {
  for (size_t i = 0; i < sizeof rev_pool / sizeof rev_pool[0]; i++)
    if (rev_pool[i].used && rev_pool[i].f == f)
      rev_pool[i].used = 0;
}

static void rev_fire(evl_future *f, void *arg) {
  rev_node *n = arg, *g = n->head ? n->head : n;
  if (!g->fired) {
    g->fired = 1;
    rev_node *order[sizeof rev_pool / sizeof rev_pool[0]];
    size_t k = 0;
    for (rev_node *m = g; m; m = m->next)
      order[k++] = m;
    while (k-- > 0) {
      order[k]->fired = 1;
      order[k]->cb(f, order[k]->arg);
    }
  }
  n->used = 0;
}

static int rev_add_done_callback(evl_future *f, evl_future_cb cb, void *arg) {
  rev_node *n = NULL;
  for (size_t i = 0; i < sizeof rev_pool / sizeof rev_pool[0] && !n; i++)
    if (!rev_pool[i].used)
      n = &rev_pool[i];
  if (!f || !cb || !n || base->future_state(f) != EVL_FUTURE_PENDING)
    return base->future_add_done_callback(f, cb, arg);
  rev_node *g = rev_group(f);
  *n = (rev_node){.head = g, .f = f, .cb = cb, .arg = arg, .used = 1};
  int rc = base->future_add_done_callback(f, rev_fire, n);
  if (rc < 0) {
    n->used = 0;
    return rc;
  }
  if (g) {
    rev_node **tail = &g->next;
    while (*tail)
      tail = &(*tail)->next;
    *tail = n;
  }
  return 0;
}

static int rev_future_new(evl_loop *loop, evl_future **out) {
  int rc = base->future_new(loop, out);
  if (rc == 0)
    rev_forget(*out);
  return rc;
}

static int rev_run_in_executor(evl_loop *loop, evl_work_fn fn, void *arg,
                               evl_future **out) {
  int rc = base->run_in_executor(loop, fn, arg, out);
  if (rc == 0 && out)
    rev_forget(*out);
  return rc;
}

/* executor_lifo (REF): the jobs submitted since the loop last ran start
 * newest first. run_in_executor hands out a plain future of the loop and
 * keeps the job; a call_soon submits the kept jobs to the core's executor
 * in reverse, each relaying its outcome to the future handed out. A cancel
 * before the submission means the job is never submitted; after it, the
 * core's job is cancelled with it. Close drops the kept jobs (their
 * futures stay pending, S14); loop_free releases the core's futures. */
typedef struct lifo_job {
  evl_loop *loop;
  evl_work_fn fn;
  void *arg;
  evl_future *outer, *inner;
  unsigned long seq;
  int used;
} lifo_job;
enum { LIFO_JOBS = 8192, LIFO_LOOPS = 64 };
static lifo_job lifo_jobs[LIFO_JOBS];
static unsigned long lifo_seq;
static struct {
  evl_loop *loop;
  int queued; /* a flush is queued */
} lifo_loops[LIFO_LOOPS];

static void lifo_relay(evl_future *inner, void *arg) {
  lifo_job *j = arg;
  void *r = NULL;
  int rc = base->future_result(inner, &r);
  if (rc == 0)
    base->future_set_result(j->outer, r);
  else if (rc == -ECANCELED)
    base->future_cancel(j->outer);
  else
    base->future_set_error(j->outer, rc);
  base->future_release(inner);
  j->used = 0;
}

static int lifo_newer(const void *a, const void *b) {
  const lifo_job *x = *(lifo_job *const *)a, *y = *(lifo_job *const *)b;
  return x->seq < y->seq ? 1 : x->seq > y->seq ? -1 : 0;
}

static void lifo_flush(void *arg) {
  evl_loop *loop = lifo_loops[(intptr_t)arg].loop;
  lifo_loops[(intptr_t)arg].queued = 0;
  static lifo_job *kept[LIFO_JOBS];
  size_t n = 0;
  for (size_t i = 0; i < LIFO_JOBS; i++)
    if (lifo_jobs[i].used && lifo_jobs[i].loop == loop && !lifo_jobs[i].inner)
      kept[n++] = &lifo_jobs[i];
  qsort(kept, n, sizeof kept[0], lifo_newer);
  for (size_t i = 0; i < n; i++) {
    lifo_job *j = kept[i];
    if (base->future_state(j->outer) != EVL_FUTURE_PENDING) {
      j->used = 0; /* cancelled before it was submitted: never runs */
      continue;
    }
    int rc = base->run_in_executor(loop, j->fn, j->arg, &j->inner);
    if (rc == 0)
      rc = base->future_add_done_callback(j->inner, lifo_relay, j);
    if (rc < 0) {
      base->future_set_error(j->outer, rc);
      if (j->inner)
        base->future_release(j->inner);
      j->used = 0;
    }
  }
}

static int lifo_run_in_executor(evl_loop *loop, evl_work_fn fn, void *arg,
                                evl_future **out) {
  if (!loop || !fn || !out)
    return base->run_in_executor(loop, fn, arg, out);
  int slot = -1, free_slot = -1;
  for (int i = 0; i < LIFO_LOOPS && slot < 0; i++) {
    if (lifo_loops[i].loop == loop)
      slot = i;
    else if (!lifo_loops[i].loop && free_slot < 0)
      free_slot = i;
  }
  lifo_job *j = NULL;
  for (size_t i = 0; i < LIFO_JOBS && !j; i++)
    if (!lifo_jobs[i].used)
      j = &lifo_jobs[i];
  if ((slot < 0 && free_slot < 0) || !j)
    return base->run_in_executor(loop, fn, arg, out); /* tables full */
  evl_future *f = NULL;
  int rc = base->future_new(loop, &f); /* closed, foreign thread: refused */
  if (rc < 0)
    return rc;
  if (slot < 0) {
    slot = free_slot;
    lifo_loops[slot].loop = loop;
    lifo_loops[slot].queued = 0;
  }
  if (!lifo_loops[slot].queued) {
    rc = base->call_soon(loop, lifo_flush, (void *)(intptr_t)slot, NULL);
    if (rc < 0) {
      base->future_release(f);
      return rc;
    }
    lifo_loops[slot].queued = 1;
  }
  *j = (lifo_job){.loop = loop,
                  .fn = fn,
                  .arg = arg,
                  .outer = f,
                  .seq = ++lifo_seq,
                  .used = 1};
  *out = f;
  return 0;
}

static int lifo_future_cancel(evl_future *f) {
  int rc = base->future_cancel(f);
  for (size_t i = 0; rc == 0 && f && i < LIFO_JOBS; i++)
    if (lifo_jobs[i].used && lifo_jobs[i].outer == f && lifo_jobs[i].inner) {
      base->future_cancel(lifo_jobs[i].inner); /* not started: never runs */
      break;
    }
  return rc;
}

static void lifo_forget(evl_loop *loop, int release) {
  for (size_t i = 0; i < LIFO_JOBS; i++)
    if (lifo_jobs[i].used && lifo_jobs[i].loop == loop) {
      if (release && lifo_jobs[i].inner)
        base->future_release(lifo_jobs[i].inner);
      if (release || !lifo_jobs[i].inner)
        lifo_jobs[i].used = 0;
    }
  for (int i = 0; i < LIFO_LOOPS; i++)
    if (lifo_loops[i].loop == loop)
      lifo_loops[i].queued = 0, lifo_loops[i].loop = release ? NULL : loop;
}

static int lifo_loop_close(evl_loop *loop) {
  int rc = base->loop_close(loop);
  if (rc == 0 && loop)
    lifo_forget(loop, 0); /* kept jobs dropped; submitted ones stay */
  return rc;
}

static int lifo_loop_free(evl_loop *loop) {
  if (loop)
    lifo_forget(loop, 1);
  return base->loop_free(loop);
}

/* signal_usr2_reserved (REF): SIGUSR2 cannot be watched: -ENOTSUP.
 * signal_posted (REF): the core's signal callback only posts the user's
 * with call_soon_threadsafe (a handle nobody holds, S4), so it runs from a
 * later batch. A token carries the registration's generation: a delivery
 * posted before a remove, a replacement or close calls nothing. */
typedef struct sig_slot {
  evl_loop *loop;
  int sig;
  uint32_t gen;
  evl_cb cb;
  void *arg;
  unsigned seen; /* signal_each_delivery: deliveries called for */
} sig_slot;
typedef struct sig_tok {
  sig_slot *s;
  uint32_t gen;
  int used;
} sig_tok;
static sig_slot sig_tab[128];
static sig_tok sig_toks[4096];
static pthread_mutex_t sig_lock = PTHREAD_MUTEX_INITIALIZER;

static void sig_deliver(void *arg) {
  sig_tok *t = arg;
  pthread_mutex_lock(&sig_lock);
  int live = t->s->loop && t->s->gen == t->gen;
  evl_cb cb = t->s->cb;
  void *cbarg = t->s->arg;
  t->used = 0;
  pthread_mutex_unlock(&sig_lock);
  if (live)
    cb(cbarg);
}

static void sig_fire(void *arg) {
  sig_slot *s = arg;
  sig_tok *t = NULL;
  pthread_mutex_lock(&sig_lock);
  for (size_t i = 0; i < sizeof sig_toks / sizeof sig_toks[0] && !t; i++)
    if (!sig_toks[i].used)
      t = &sig_toks[i];
  if (t)
    *t = (sig_tok){.s = s, .gen = s->gen, .used = 1};
  evl_loop *loop = s->loop;
  evl_cb cb = s->cb;
  void *cbarg = s->arg;
  pthread_mutex_unlock(&sig_lock);
  if (t && base->call_soon_threadsafe(loop, sig_deliver, t) == 0)
    return;
  if (t) {
    pthread_mutex_lock(&sig_lock);
    t->used = 0;
    pthread_mutex_unlock(&sig_lock);
  }
  cb(cbarg); /* no token or no post: at once, as the core would */
}

/* signal_each_delivery (REF): one callback per delivery, none merged, as
 * libuv's uv__signal_event calls signal_cb once per message its handler
 * wrote. The core's handler stays; a counting one is put in front of it
 * (chained, never to itself) and the core's callback runs the user's once
 * for each delivery counted since the last. The core's remove and close
 * put back what it found before its own handler, which drops this one. */
static atomic_uint sig_count[NSIG];
static struct sigaction sig_chain[NSIG];

static void sig_counting(int sig) {
  atomic_fetch_add(&sig_count[sig], 1);
  void (*h)(int) = sig_chain[sig].sa_handler;
  if (h != SIG_DFL && h != SIG_IGN && h != sig_counting)
    h(sig);
}

static void sig_count_install(int sig) {
  struct sigaction cur, sa;
  if (sigaction(sig, NULL, &cur) != 0 || cur.sa_handler == sig_counting ||
      (cur.sa_flags & SA_SIGINFO))
    return;
  sig_chain[sig] = cur;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = sig_counting;
  sigfillset(&sa.sa_mask);
  sa.sa_flags = SA_RESTART;
  sigaction(sig, &sa, NULL);
}

static void sig_fire_each(void *arg) {
  sig_slot *s = arg;
  pthread_mutex_lock(&sig_lock);
  uint32_t gen = s->gen;
  unsigned now = atomic_load(&sig_count[s->sig]);
  unsigned n = now - s->seen;
  s->seen = now;
  pthread_mutex_unlock(&sig_lock);
  for (unsigned i = 0; i < n; i++) {
    pthread_mutex_lock(&sig_lock);
    int live = s->loop && s->gen == gen; /* not removed by a call before */
    evl_cb cb = s->cb;
    void *cbarg = s->arg;
    pthread_mutex_unlock(&sig_lock);
    if (!live)
      break;
    cb(cbarg);
  }
}

static void sig_forget(evl_loop *loop, int sig, int all) {
  pthread_mutex_lock(&sig_lock);
  for (size_t i = 0; i < sizeof sig_tab / sizeof sig_tab[0]; i++)
    if (sig_tab[i].loop == loop && (all || sig_tab[i].sig == sig)) {
      sig_tab[i].loop = NULL;
      sig_tab[i].gen++;
    }
  pthread_mutex_unlock(&sig_lock);
}

static int sig_add(evl_loop *loop, int sig, evl_cb cb, void *arg) {
  if (ON(signal_usr2_reserved) && sig == SIGUSR2 && cb) {
    /* A closed loop still answers EVL_ECLOSED (S8); remove of a signal
     * never added changes nothing. */
    int rc = base->remove_signal_handler(loop, sig);
    return rc < 0 ? rc : -ENOTSUP;
  }
  if (!ON(signal_posted) && !ON(signal_each_delivery))
    return base->add_signal_handler(loop, sig, cb, arg);
  sig_slot *s = NULL;
  pthread_mutex_lock(&sig_lock);
  for (size_t i = 0; i < sizeof sig_tab / sizeof sig_tab[0]; i++) {
    if (sig_tab[i].loop == loop && sig_tab[i].sig == sig) {
      s = &sig_tab[i];
      break;
    }
    if (!sig_tab[i].loop && !s)
      s = &sig_tab[i];
  }
  pthread_mutex_unlock(&sig_lock);
  if (!s || !loop || !cb)
    return base->add_signal_handler(loop, sig, cb, arg);
  int rc = base->add_signal_handler(
      loop, sig, ON(signal_each_delivery) ? sig_fire_each : sig_fire, s);
  if (rc == 0) {
    pthread_mutex_lock(&sig_lock);
    if (ON(signal_each_delivery) && s->loop != loop) {
      sig_count_install(sig); /* the core's handler is in place now */
      s->seen = atomic_load(&sig_count[sig]);
    }
    s->gen++; /* a replaced callback's pending deliveries are dropped */
    s->loop = loop;
    s->sig = sig;
    s->cb = cb;
    s->arg = arg;
    pthread_mutex_unlock(&sig_lock);
  }
  return rc;
}

static int sig_remove(evl_loop *loop, int sig) {
  int rc = base->remove_signal_handler(loop, sig);
  if (rc > 0)
    sig_forget(loop, sig, 0);
  return rc;
}

static int sig_loop_close(evl_loop *loop) {
  int rc = base->loop_close(loop);
  if (rc == 0)
    sig_forget(loop, 0, 1);
  return rc;
}

static int sig_loop_free(evl_loop *loop) {
  if (loop)
    sig_forget(loop, 0, 1);
  return base->loop_free(loop);
}

static evl_impl_ops ops;

const evl_impl_ops *variant_ref_plugin(const char *name, const char *desc) {
  char err[256];
  if (evl_impl_ref("epoll", &base, err, sizeof err) < 0)
    return NULL;
  ops = *base;
  ops.name = name;
  ops.description = desc;
  if (ON(executor_one_worker) || ON(executor_wide))
    ops.loop_new = var_loop_new;
  if (ON(signal_usr2_reserved))
    ops.add_signal_handler = sig_add;
  if (ON(signal_posted) || ON(signal_each_delivery)) {
    ops.add_signal_handler = sig_add;
    ops.remove_signal_handler = sig_remove;
    ops.loop_close = sig_loop_close;
    ops.loop_free = sig_loop_free;
  }
  if (ON(executor_lifo)) {
    ops.run_in_executor = lifo_run_in_executor;
    ops.future_cancel = lifo_future_cancel;
    ops.loop_close = lifo_loop_close;
    ops.loop_free = lifo_loop_free;
  }
  if (ON(done_reversed)) {
    ops.future_new = rev_future_new;
    ops.run_in_executor = rev_run_in_executor;
    ops.future_add_done_callback = rev_add_done_callback;
  }
  return &ops;
}
