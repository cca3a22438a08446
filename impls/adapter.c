/* adapter.c — the library-independent half of the native loop adapters:
 * handle slots, the ready FIFO and its batches, fired timers, cross-thread
 * posts, errors, futures, the executor, signal dispositions, and the
 * library-free entry points (life cycle, checks, settings). */
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

#include "adapter.h"

unsigned evl__adapter_forks;

static void adapter_fork_child(void) {
  __atomic_add_fetch(&evl__adapter_forks, 1, __ATOMIC_RELAXED);
}

static pthread_once_t adapter_fork_once = PTHREAD_ONCE_INIT;

static void adapter_fork_register(void) {
  (void)pthread_atfork(NULL, NULL, adapter_fork_child);
}

/* ---- slots ------------------------------------------------------------- */
int evl__adapter_slot_grow(evl__adapter_slots *s) {
  uint32_t ncap = s->cap ? s->cap * 2 : 64;
  if (ncap <= s->cap || ncap > (1u << (EVL__ADAPTER_H_SLOT_BITS - 1)))
    return -ENOMEM;
  evl__adapter_slot *nv = realloc(s->v, (size_t)ncap * sizeof *nv);
  if (!nv)
    return -ENOMEM;
  s->v = nv;
  s->cap = ncap;
  return 0;
}

int evl__adapter_fds_reserve(evl__adapter_base *b, int fd) {
  if (fd < b->fds_cap)
    return 0;
  int ncap = b->fds_cap ? b->fds_cap : 64;
  while (ncap <= fd)
    ncap *= 2;
  void **nv = realloc(b->fds, (size_t)ncap * sizeof *nv);
  if (!nv)
    return -ENOMEM;
  memset(nv + b->fds_cap, 0, (size_t)(ncap - b->fds_cap) * sizeof *nv);
  b->fds = nv;
  b->fds_cap = ncap;
  return 0;
}

int evl__adapter_slot_alloc(evl__adapter_slots *s, uint32_t kind, void *ptr,
                            evl_handle *out) {
  return evl__adapter_slot_take(s, kind, ptr, out);
}

/* ---- FIFO -------------------------------------------------------------- */
static int fifo_push(evl__adapter_fifo *q, evl_cb cb, void *arg, evl_handle h) {
  if (q->tail - q->head == q->cap) {
    size_t ncap = q->cap ? q->cap * 2 : 64;
    evl__adapter_entry *nv = malloc(ncap * sizeof *nv);
    if (!nv)
      return -ENOMEM;
    /* Unwrap into the new array keeping the counters' positions valid. */
    for (size_t k = q->head; k != q->tail; k++)
      nv[k & (ncap - 1)] = q->v[k & (q->cap - 1)];
    free(q->v);
    q->v = nv;
    q->cap = ncap;
  }
  evl__adapter_entry *e = &q->v[q->tail++ & (q->cap - 1)];
  e->cb = cb;
  e->arg = arg;
  e->h = h;
  return 0;
}

/* ---- base -------------------------------------------------------------- */

int evl__adapter_base_init(evl__adapter_base *b, const evl_impl_ops *ops,
                           const evl__adapter_hooks *hooks,
                           const evl_impl_config *cfg) {
  /* Read only up to cfg->size; a flag this version does not know is
   * refused rather than ignored (S8). */
  if (cfg &&
      (cfg->size < sizeof cfg->size ||
       (EVL_FIELD_OR(evl_impl_config, cfg, flags, 0u) & ~EVL_LOOP_FLAGS)))
    return -EINVAL;
  memset(b, 0, sizeof *b);
  b->svc = &evl__adapter_services;
  b->ops = ops;
  b->hooks = hooks;
  pthread_once(&adapter_fork_once, adapter_fork_register);
  b->fork_gen = __atomic_load_n(&evl__adapter_forks, __ATOMIC_RELAXED);
  b->slots.free = UINT32_MAX;
  static unsigned tags;
  b->slots.tag = (__atomic_fetch_add(&tags, 1, __ATOMIC_RELAXED) %
                  EVL__ADAPTER_H_TAG_MASK) +
                 1;
  int rc = pthread_mutex_init(&b->ts_lock, NULL);
  if (rc)
    return -rc;
  b->eh = evl_default_error_handler;
  b->slow_ns = 100000000ull;
  if (cfg) {
    unsigned flags = EVL_FIELD_OR(evl_impl_config, cfg, flags, 0u);
    b->debug = (flags & EVL_LOOP_DEBUG) != 0;
    uint64_t slow = EVL_FIELD_OR(evl_impl_config, cfg, slow_callback_ns, 0);
    if (slow)
      b->slow_ns = slow;
    b->exec_threads = EVL_FIELD_OR(evl_impl_config, cfg, executor_threads, 0u);
  }
  evl__adapter_refresh(b);
  return 0;
}

void evl__adapter_base_fini(evl__adapter_base *b) {
  evl__adapter_run_closers(b);
  pthread_mutex_lock(&b->ts_lock);
  b->ts_closed = 1;
  free(b->ts.v);
  memset(&b->ts, 0, sizeof b->ts);
  pthread_mutex_unlock(&b->ts_lock);
  free(b->ts_spare.v);
  memset(&b->ts_spare, 0, sizeof b->ts_spare);
  free(b->ready.v);
  memset(&b->ready, 0, sizeof b->ready);
  free(b->due);
  b->due = NULL;
  b->ndue = b->due_cap = 0;
  b->mark = 0;
  free(b->slots.v);
  memset(&b->slots, 0, sizeof b->slots);
  b->slots.free = UINT32_MAX;
  free(b->fds);
  b->fds = NULL;
  b->fds_cap = 0;
  b->ntimers = b->nfds = 0;
}

void evl__adapter_base_destroy(evl__adapter_base *b) {
  pthread_mutex_destroy(&b->ts_lock);
}

int evl__adapter_loop_alloc(size_t size, const evl_impl_ops *ops,
                            const evl__adapter_hooks *hooks,
                            const evl_impl_config *cfg, evl_loop **loop) {
  evl__adapter_base *b = calloc(1, size);
  if (!b)
    return -ENOMEM;
  int rc = evl__adapter_base_init(b, ops, hooks, cfg);
  if (rc < 0) {
    free(b);
    return rc;
  }
  *loop = (evl_loop *)(void *)b;
  return 0;
}

void evl__adapter_loop_discard(evl_loop *loop) {
  evl__adapter_base_fini(EVL__ADAPTER_BASE(loop));
  evl__adapter_base_destroy(EVL__ADAPTER_BASE(loop));
  free(loop);
}

static int adapter_forked(const evl__adapter_base *b) {
  return b->fork_gen != __atomic_load_n(&evl__adapter_forks, __ATOMIC_RELAXED);
}

int evl__adapter_loop_after_fork(evl_loop *loop) {
  evl__adapter_base *b = EVL__ADAPTER_BASE(loop);
  if (!b)
    return -EINVAL;
  if (b->closed)
    return EVL_ECLOSED;
  if (!adapter_forked(b))
    return 0;
  if (!b->hooks->after_fork)
    return -ENOTSUP;
  pthread_mutex_init(&b->ts_lock, NULL); /* a parent thread may have held it */
  int rc = b->hooks->after_fork(loop);
  if (rc < 0)
    return rc;
  b->fork_gen = __atomic_load_n(&evl__adapter_forks, __ATOMIC_RELAXED);
  evl__adapter_refresh(b);
  evl__executor_after_fork(loop);
  /* Posts queued before the fork are the child's: wake for them. */
  if (b->ts.tail != b->ts.head)
    b->hooks->wake(b);
  return 0;
}

int evl__adapter_loop_close(evl_loop *loop) {
  evl__adapter_base *b = EVL__ADAPTER_BASE(loop);
  if (!b)
    return 0;
  if (b->running)
    return -EBUSY;
  if (b->closed)
    return 0;
  /* Freed in a child without loop_after_fork: made the child's own first,
   * so the library's teardown touches nothing of the parent's; if that is
   * not possible the library part is left as it is (S16). */
  int orphan = 0;
  if (adapter_forked(b) && evl__adapter_loop_after_fork(loop) < 0) {
    evl__executor_after_fork(loop); /* no worker exists in the child */
    b->fork_gen = __atomic_load_n(&evl__adapter_forks, __ATOMIC_RELAXED);
    orphan = 1;
  }
  /* Workers post through the cross-thread queue: join them first. */
  evl__adapter_run_closers(b);
  b->closed = 1;
  evl__adapter_refresh(b);
  evl__adapter_posts_close(b);
  if (!orphan) {
    for (int sig = 1; sig < NSIG; sig++)
      if (b->sigs[sig])
        evl__adapter_sig_drop(b, sig);
    b->hooks->teardown(loop);
  }
  evl__adapter_base_fini(b);
  return 0;
}

int evl__adapter_loop_free(evl_loop *loop) {
  if (!loop)
    return 0;
  int rc = evl__adapter_loop_close(loop);
  if (rc < 0)
    return rc;
  evl__adapter_base_destroy(EVL__ADAPTER_BASE(loop));
  free(loop);
  return 0;
}

int evl__adapter_is_running(const evl_loop *loop) {
  return loop && EVL__ADAPTER_BASE(loop)->running;
}

uint64_t evl__adapter_time(const evl_loop *loop) {
  (void)loop;
  return evl__adapter_now();
}

int evl__adapter_set_debug(evl_loop *loop, int on) {
  evl__adapter_base *b = EVL__ADAPTER_BASE(loop);
  if (!b)
    return -EINVAL;
  if (b->closed)
    return EVL_ECLOSED;
  if (b->debug != (on != 0)) {
    b->debug = on != 0;
    evl__adapter_refresh(b);
    if (b->hooks->debug_set)
      b->hooks->debug_set(b);
  }
  return 0;
}

int evl__adapter_set_slow_callback_ns(evl_loop *loop, uint64_t ns) {
  evl__adapter_base *b = EVL__ADAPTER_BASE(loop);
  if (!b)
    return -EINVAL;
  if (b->closed)
    return EVL_ECLOSED;
  b->slow_ns = ns ? ns : 100000000ull;
  return 0;
}

int evl__adapter_loop_stats(const evl_loop *loop, evl_loop_stats *out) {
  const evl__adapter_base *b = (const evl__adapter_base *)(const void *)loop;
  int rc = evl__adapter_check(b); /* debug mode: -EPERM from another thread */
  if (rc)
    return rc;
  if (!out)
    return -EINVAL;
  uint64_t io = b->io_calls;
  for (int fd = 0; fd < b->fds_cap; fd++)
    if (b->fds[fd])
      io += ((const evl__adapter_fd *)b->fds[fd])->calls;
  *out = b->st;
  out->events += io;
  out->callbacks += io;
  out->timers = b->ntimers;
  out->fds = b->nfds;
  return 0;
}

int evl__adapter_fd_headroom(int n) {
  int fds[8], got = 0, rc = 0;
  if (n > 8)
    n = 8;
  while (got < n) {
    int fd = eventfd(0, EFD_CLOEXEC);
    if (fd < 0) {
      rc = -errno;
      break;
    }
    fds[got++] = fd;
  }
  while (got > 0)
    close(fds[--got]);
  return rc;
}

/* ---- call_soon and its batches ---------------------------------------- */
int evl__adapter_soon(evl__adapter_base *b, evl_cb cb, void *arg,
                      evl_handle *out) {
  evl_handle h;
  int rc = evl__adapter_slot_alloc(
      &b->slots, b->soon_own ? EVL__ADAPTER_SLOT_OWN : EVL__ADAPTER_SLOT_SOON,
      NULL, &h);
  if (rc < 0)
    return rc;
  rc = fifo_push(&b->ready, cb, arg, h);
  if (rc < 0) {
    evl__adapter_slot_free(&b->slots, h);
    return rc;
  }
  if (!b->running)
    b->mark = b->ready.tail;
  if (out)
    *out = h;
  return 0;
}

static int due_before(const evl__adapter_due *a, const evl__adapter_due *b) {
  return a->deadline < b->deadline ||
         (a->deadline == b->deadline && a->seq < b->seq);
}

static int due_cmp(const void *a, const void *b) {
  return due_before(a, b) ? -1 : due_before(b, a) ? 1 : 0;
}

void evl__adapter_run_due(evl__adapter_base *b) {
  evl__adapter_run_due_upto(b, UINT64_MAX);
}

void evl__adapter_run_due_upto(evl__adapter_base *b, uint64_t last_seq) {
  size_t n = b->ndue, descents = 0;
  for (size_t i = 1; i < n; i++)
    descents += due_before(&b->due[i], &b->due[i - 1]);
  if (descents * 8 > n) {
    /* libuv fires each millisecond's timers in start order: many runs. */
    qsort(b->due, n, sizeof *b->due, due_cmp);
  } else if (descents) {
    /* Nearly sorted (libev, libevent fire in deadline order): insertion. */
    for (size_t i = 1; i < n; i++) {
      evl__adapter_due x = b->due[i];
      size_t j = i;
      for (; j > 0 && due_before(&x, &b->due[j - 1]); j--)
        b->due[j] = b->due[j - 1];
      b->due[j] = x;
    }
  }
  size_t i = 0, kept = 0;
  while (i < n && !b->closed) {
    evl__adapter_due e =
        b->due[i++]; /* a copy: a callback may grow the array */
    if (e.seq > last_seq) {
      b->due[kept++] = e; /* scheduled too late for this iteration */
      continue;
    }
    evl__adapter_slot *sl = evl__adapter_slot_get(&b->slots, e.h);
    if (!sl || ((evl__adapter_timer *)sl->u.ptr)->seq != e.seq)
      continue; /* cancelled or re-armed after the library fired it */
    evl__adapter_timer_release(b, sl->u.ptr);
    uint64_t t0 = evl__adapter_cb_begin(b);
    e.cb(e.arg);
    evl__adapter_cb_end(b, t0);
  }
  if (b->closed)
    return;
  memmove(b->due + kept, b->due + n, (b->ndue - n) * sizeof *b->due);
  b->ndue -= n - kept;
}

size_t evl__adapter_run_batch(evl__adapter_base *b) {
  size_t end = b->mark;
  while (b->ready.head != end && !b->closed) {
    evl__adapter_entry e = b->ready.v[b->ready.head++ & (b->ready.cap - 1)];
    if (e.h) {
      /* A cancelled entry stays in the FIFO with a dead handle (S4). */
      if (!evl__adapter_slot_get(&b->slots, e.h))
        continue;
      evl__adapter_slot_free(&b->slots, e.h);
    }
    uint64_t t0 = evl__adapter_cb_begin(b);
    e.cb(e.arg);
    evl__adapter_cb_end(b, t0);
  }
  if (b->ndue && !b->closed)
    evl__adapter_run_due(b);
  b->mark = b->ready.tail;
  return b->ready.tail - b->ready.head + b->ndue;
}

/* ---- cross-thread posts ------------------------------------------------ */
int evl__adapter_post(evl__adapter_base *b, evl_cb cb, void *arg,
                      void (*wake)(evl__adapter_base *b)) {
  if (!cb)
    return -EINVAL;
  pthread_mutex_lock(&b->ts_lock);
  int rc = b->ts_closed ? EVL_ECLOSED : fifo_push(&b->ts, cb, arg, 0);
  if (rc == 0 && !b->ts_wake) {
    b->ts_wake = 1;
    wake(b);
  }
  pthread_mutex_unlock(&b->ts_lock);
  return rc;
}

void evl__adapter_posts_close(evl__adapter_base *b) {
  pthread_mutex_lock(&b->ts_lock);
  b->ts_closed = 1;
  pthread_mutex_unlock(&b->ts_lock);
}

void evl__adapter_posts_run(evl__adapter_base *b) {
  /* Take the whole queue at once: posts made by these callbacks go to the
   * next wakeup, so a self-posting callback cannot starve the loop. The
   * posters get the spare array back, so a ping-pong allocates nothing. */
  pthread_mutex_lock(&b->ts_lock);
  evl__adapter_fifo q = b->ts;
  b->ts = b->ts_spare;
  b->ts_wake = 0;
  pthread_mutex_unlock(&b->ts_lock);
  memset(&b->ts_spare, 0, sizeof b->ts_spare);
  for (size_t k = q.head; k != q.tail && !b->closed; k++) {
    evl__adapter_entry *e = &q.v[k & (q.cap - 1)];
    uint64_t t0 = evl__adapter_cb_begin(b);
    e->cb(e->arg);
    evl__adapter_cb_end(b, t0);
  }
  q.head = q.tail = 0;
  if (b->ts_spare.v || b->closed)
    free(q.v);
  else
    b->ts_spare = q;
}

int evl__adapter_call_soon_threadsafe(evl_loop *loop, evl_cb cb, void *arg) {
  evl__adapter_base *b = EVL__ADAPTER_BASE(loop);
  if (!b)
    return -EINVAL;
  if (b->closed)
    return EVL_ECLOSED;
  return evl__adapter_post(b, cb, arg, b->hooks->wake);
}

static void native_stop_cb(void *arg) {
  EVL__ADAPTER_BASE(arg)->ops->stop(arg);
}

int evl__adapter_stop_threadsafe(evl_loop *loop) {
  return evl__adapter_call_soon_threadsafe(loop, native_stop_cb, loop);
}

/* ---- running ----------------------------------------------------------- */
static _Thread_local evl_loop *native_current;

int evl__adapter_run_enter(evl__adapter_base *b, evl_loop *self) {
  if (b->running || native_current)
    return -EBUSY;
  b->running = 1;
  b->runner = pthread_self();
  native_current = self;
  return 0;
}

int evl__adapter_run_begin(evl_loop *loop) {
  evl__adapter_base *b = EVL__ADAPTER_BASE(loop);
  int rc = evl__adapter_check(b);
  if (rc)
    return rc;
  if ((rc = evl__adapter_run_enter(b, loop)) < 0)
    return rc;
  evl__adapter_mark_all(b);
  return 0;
}

void evl__adapter_run_leave(evl__adapter_base *b) {
  b->running = 0;
  b->stopping = 0;
  native_current = NULL;
}

evl_loop *evl__adapter_get_running_loop(void) {
  return native_current;
}

/* ---- errors ------------------------------------------------------------ */
/* The default handler and evl_strerror are the core's own (core/error.c is
 * compiled into each native module: it needs nothing else of the core), so
 * every implementation prints the same line. */

int evl__adapter_set_error_handler(evl_loop *loop, evl_error_handler h,
                                   void *arg) {
  evl__adapter_base *b = EVL__ADAPTER_BASE(loop);
  if (!b)
    return -EINVAL;
  if (b->closed)
    return EVL_ECLOSED;
  b->eh = h ? h : evl_default_error_handler;
  b->eh_arg = h ? arg : NULL;
  return 0;
}

int evl__adapter_report_error(evl_loop *loop, int code, const char *message) {
  int rc = evl__adapter_check(EVL__ADAPTER_BASE(loop));
  if (rc)
    return rc;
  evl__adapter_report(EVL__ADAPTER_BASE(loop), code, "callback", message, -1,
                      0);
  return 0;
}

void evl__adapter_report(evl__adapter_base *b, int code, const char *context,
                         const char *message, int fd, uint64_t duration_ns) {
  evl_error_info info = {code, context, message, fd, duration_ns};
  b->eh(&info, b->eh_arg);
}

void evl__adapter_cb_slow(evl__adapter_base *b, uint64_t t0) {
  uint64_t d = evl__adapter_now() - t0;
  if (d > b->slow_ns)
    evl__adapter_report(b, EVL_ESLOW, "slow callback", NULL, -1, d ? d : 1);
}
