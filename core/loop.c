/* loop.c — the reference loop object: its checks, errors and debug
 * settings, the services table, and its life from new to free. The run
 * cycle is in loop_run.c, scheduling in sched.c, fds in io.c, cross-thread
 * posts in post.c. */
#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "loop.h"

#define LOOP_DEFAULT_SLOW_NS (100ull * 1000000ull)
#define LOOP_INITIAL_RING 64u /* a power of two */
#define LOOP_INITIAL_EVENTS 64

uint64_t evl_now(void) {
  return evl__clock();
}

void evl_loop_config_init(evl_loop_config *cfg) {
  if (!cfg)
    return;
  memset(cfg, 0, sizeof *cfg);
  cfg->size = sizeof *cfg;
}

int evl__loop_check(const evl_loop *loop) {
  if (!loop)
    return -EINVAL;
  if (loop->closed)
    return EVL_ECLOSED;
  if (evl__forked(loop))
    return EVL_EFORKED; /* S16: evl_loop_after_fork first */
  /* asyncio's check: only a running loop has an owner thread. */
  if (loop->debug && evl__loop_is_running(loop) &&
      !pthread_equal(pthread_self(), loop->thread))
    return -EPERM;
  return 0;
}

void evl__loop_deliver(evl_loop *loop, const evl_error_info *info) {
  if (loop->eh)
    loop->eh(info, loop->eh_arg);
  else
    evl_default_error_handler(info, NULL);
}

void evl__loop_error(evl_loop *loop, int code, const char *context,
                     const char *message, int fd) {
  evl_error_info info = {
      .code = code, .context = context, .message = message, .fd = fd};
  evl__loop_deliver(loop, &info);
}

const char *evl_backend_name(const evl_loop *loop) {
  return loop && loop->be ? loop->be->name : NULL;
}

/* ------------------------------------------------------------ errors */

int evl_set_error_handler(evl_loop *loop, evl_error_handler h, void *arg) {
  int rc = evl__loop_check(loop);
  if (rc < 0)
    return rc;
  loop->eh = h;
  loop->eh_arg = h ? arg : NULL;
  return 0;
}

int evl_report_error(evl_loop *loop, int code, const char *message) {
  int rc = evl__loop_check(loop);
  if (rc < 0)
    return rc;
  evl__loop_error(loop, code, "callback", message, -1);
  return 0;
}

int evl_set_debug(evl_loop *loop, int on) {
  int rc = evl__loop_check(loop);
  if (rc < 0)
    return rc;
  loop->debug = on != 0;
  loop->slow = loop->debug;
  return 0;
}

int evl_set_slow_callback_ns(evl_loop *loop, uint64_t ns) {
  int rc = evl__loop_check(loop);
  if (rc < 0)
    return rc;
  loop->slow_ns = ns ? ns : LOOP_DEFAULT_SLOW_NS;
  return 0;
}

int evl_loop_get_stats(const evl_loop *loop, evl_loop_stats *out) {
  int rc = evl__loop_check(loop); /* debug mode: -EPERM from a foreign thread */
  if (rc < 0)
    return rc;
  if (!out)
    return -EINVAL;
  *out = loop->stats;
  out->timers = loop->heap.n - loop->heap_dead;
  out->fds = loop->nregistered;
  return 0;
}

/* ------------------------------------------------------------ subsystems */

void *evl__loop_ext(const evl_loop *loop, enum evl__ext which) {
  return (unsigned)which < EVL__EXT_MAX ? loop->ext[which] : NULL;
}

void evl__loop_set_ext(evl_loop *loop, enum evl__ext which, void *p) {
  if ((unsigned)which < EVL__EXT_MAX)
    loop->ext[which] = p;
}

int evl__loop_add_close_hook(evl_loop *loop, evl__close_hook fn, void *data) {
  int rc = evl__loop_check(loop);
  if (rc < 0)
    return rc;
  if (!fn)
    return -EINVAL;
  evl__hook *nh = realloc(loop->hooks, (size_t)(loop->nhooks + 1) * sizeof *nh);
  if (!nh)
    return -ENOMEM;
  loop->hooks = nh;
  loop->hooks[loop->nhooks++] = (evl__hook){fn, data};
  return 0;
}

unsigned evl__loop_executor_threads(const evl_loop *loop) {
  return loop->executor_threads;
}

/* What futures and the executor call on a reference loop (loop_int.h). */
static const evl__loop_services loop_services = {
    .check = evl__loop_check,
    .queue_own_cb = evl__queue_own_cb,
    .call_soon_threadsafe = evl_call_soon_threadsafe,
    .stop = evl_stop,
    .run_forever = evl_run_forever,
    .is_running = evl_is_running,
    .error = evl__loop_error,
    .executor_threads = evl__loop_executor_threads,
    .ext = evl__loop_ext,
    .set_ext = evl__loop_set_ext,
    .add_close_hook = evl__loop_add_close_hook,
};

/* ------------------------------------------------------------ lifecycle */

int evl__backend_resolve(const evl_loop_config *cfg,
                         const evl_backend_ops **out, char *err, size_t len);

/* The reason behind evl_loop_new's last failure on this thread. */
static _Thread_local char loop_last_error[320];

const char *evl_last_error(void) {
  return loop_last_error;
}

static int loop_new_failed(int rc, const char *why) {
  snprintf(loop_last_error, sizeof loop_last_error, "%s",
           why && *why ? why : evl_strerror(rc));
  return rc;
}

int evl_loop_new(evl_loop **out, const evl_loop_config *cfg) {
  loop_last_error[0] = 0;
  if (!out)
    return loop_new_failed(-EINVAL, "evl_loop_new: out is NULL");
  *out = NULL;
  evl_loop_config dflt;
  if (!cfg) {
    evl_loop_config_init(&dflt);
    cfg = &dflt;
  }
  char err[256] = "";
  if (cfg->size < sizeof cfg->size) {
    snprintf(err, sizeof err,
             "evl_loop_config.size is %zu (call "
             "evl_loop_config_init first)",
             cfg->size);
    return loop_new_failed(-EINVAL, err);
  }
  unsigned flags = EVL_FIELD_OR(evl_loop_config, cfg, flags, 0u);
  if (flags & ~EVL_LOOP_FLAGS) {
    snprintf(err, sizeof err, "evl_loop_config.flags: unknown bits 0x%x",
             flags & ~EVL_LOOP_FLAGS);
    return loop_new_failed(-EINVAL, err);
  }
  const evl_backend_ops *be;
  int rc = evl__backend_resolve(cfg, &be, err, sizeof err);
  if (rc < 0)
    return loop_new_failed(rc, err);

  evl_loop *loop = calloc(1, sizeof *loop);
  if (!loop)
    return loop_new_failed(-ENOMEM, NULL);
  pthread_mutex_init(&loop->ts_lock, NULL);
  loop->svc = &loop_services;
  loop->be = be;
  evl__fork_watch();
  loop->fork_gen = __atomic_load_n(&evl__forks, __ATOMIC_RELAXED);
  loop->htag = evl__next_htag();
  loop->free_head = UINT32_MAX;
  loop->wake_rfd = loop->wake_wfd = -1;
  loop->debug = (flags & EVL_LOOP_DEBUG) != 0;
  loop->slow = loop->debug;
  loop->slow_ns = EVL_FIELD_OR(evl_loop_config, cfg, slow_callback_ns, 0);
  if (!loop->slow_ns)
    loop->slow_ns = LOOP_DEFAULT_SLOW_NS;
  loop->executor_threads =
      EVL_FIELD_OR(evl_loop_config, cfg, executor_threads, 0u);
  loop->be_state = calloc(1, be->state_size ? be->state_size : 1);
  /* Small starts: every array doubles on demand and never shrinks, so a
   * busy loop pays a few reallocs once and an idle one stays small. */
  loop->ring = malloc(LOOP_INITIAL_RING * sizeof *loop->ring);
  loop->rmask = LOOP_INITIAL_RING - 1;
  loop->events_cap = LOOP_INITIAL_EVENTS;
  loop->events = malloc((size_t)loop->events_cap * sizeof *loop->events);
  const char *stage = "allocating the loop";
  if (!loop->be_state || !loop->ring || !loop->events) {
    rc = -ENOMEM;
    goto fail;
  }
  evl_backend_config bcfg = {.size = sizeof bcfg};
  stage = "backend init";
  rc = be->init(loop->be_state, &bcfg);
  if (rc < 0)
    goto fail;
  stage = "wakeup fd";
  rc = evl__wake_open(loop);
  if (rc < 0) {
    be->fini(loop->be_state);
    goto fail;
  }
  loop->now = evl__clock();
  *out = loop;
  return 0;
fail:
  if (loop->wake_rfd >= 0)
    close(loop->wake_rfd);
  if (loop->wake_wfd >= 0 && loop->wake_wfd != loop->wake_rfd)
    close(loop->wake_wfd);
  free(loop->be_state);
  free(loop->ring);
  free(loop->events);
  free(loop->fds);
  pthread_mutex_destroy(&loop->ts_lock);
  free(loop);
  snprintf(err, sizeof err, "%s (%s): %s", stage, be->name, evl_strerror(rc));
  return loop_new_failed(rc, err);
}

int evl_loop_close(evl_loop *loop) {
  if (!loop)
    return -EINVAL;
  if (loop->closed)
    return 0;
  if (evl__loop_is_running(loop))
    return -EBUSY;
  /* Freed in a child without evl_loop_after_fork: made the child's own
   * first, so that nothing below touches the parent's kernel state. If
   * that fails, the backend is not asked to release anything (S16). */
  if (evl__forked(loop) && evl_loop_after_fork(loop) < 0)
    evl__executor_after_fork(loop); /* no worker exists in the child */
  for (int i = loop->nhooks - 1; i >= 0; i--)
    loop->hooks[i].fn(loop, loop->hooks[i].data);
  free(loop->hooks);
  loop->hooks = NULL;
  loop->nhooks = 0;

  pthread_mutex_lock(&loop->ts_lock);
  loop->closed = 1;
  loop->slow = 1;
  pthread_mutex_unlock(&loop->ts_lock);
  /* A poster that passed the closed check may still be writing the wakeup
   * fd; no new one can start, so this wait is short and bounded. */
  while (__atomic_load_n(&loop->ts_writers, __ATOMIC_ACQUIRE))
    sched_yield();

  if (!evl__forked(loop))
    loop->be->fini(loop->be_state);
  free(loop->be_state);
  loop->be_state = NULL;
  close(loop->wake_rfd);
  if (loop->wake_wfd != loop->wake_rfd)
    close(loop->wake_wfd);
  loop->wake_rfd = loop->wake_wfd = -1;
  free(loop->slots);
  free(loop->ring);
  evl__heap_free(&loop->heap);
  free(loop->fds);
  free(loop->changes);
  free(loop->events);
  free(loop->ts_q);
  free(loop->ts_spare);
  loop->slots = NULL;
  loop->ring = NULL;
  loop->fds = NULL;
  loop->changes = NULL;
  loop->events = NULL;
  loop->ts_q = loop->ts_spare = NULL;
  loop->nslots = loop->slots_cap = loop->rcount = 0;
  loop->nfds = loop->nchanges = 0;
  loop->ts_n = loop->ts_cap = loop->ts_spare_cap = 0;
  return 0;
}

int evl_loop_free(evl_loop *loop) {
  if (!loop)
    return 0;
  int rc = evl_loop_close(loop);
  if (rc < 0)
    return rc;
  pthread_mutex_destroy(&loop->ts_lock);
  free(loop);
  return 0;
}
