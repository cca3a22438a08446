/* sample_loop.c — a minimal third-party event loop on poll(2), exported as
 * an evlab loop plugin: the template to copy when validating your own loop.
 *
 * Build it against the installed headers only and validate it:
 *   cc -shared -fPIC $(pkg-config --cflags evl) -o myloop.so sample_loop.c
 *   evl-conform --impl ./myloop.so
 *
 * Everything the contract asks that is not about poll(2) — handles, the
 * timer heap, cancel and re-arm, the ready FIFO and its next-iteration
 * rule, stale-event checks, the thread-safe post queue — comes from
 * <evl/kit.h>, header-only, so this file is the mapping onto poll(2) plus
 * the ops table, and the plugin links nothing from libevl.
 *
 * It implements the required part of <evl/impl.h> plus the optional
 * THREADSAFE, RUNNING, ERRORS, STATS and REARM parts, and declares exactly
 * those: the suite reports the tests of the other parts (signals, futures,
 * executor, debug) as SKIP, never as PASS. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <evl/impl.h>
#include <evl/kit.h>

struct evl_loop {
  evl_kit k; /* the plumbing: see kit.h */
  int closed, running, stopping;
  uint64_t now;
  struct pollfd *pfds;
  uint32_t cappfds;
  evl_error_handler on_error;
  void *on_error_arg;
  evl_loop_stats stats;
};

static _Thread_local evl_loop *sl_running; /* this thread's running loop */

static void sl_default_handler(const evl_error_info *info, void *arg) {
  (void)arg;
  int code = info->code;
  /* One report, one line (S10): the message's own line breaks become
   * spaces, and the line goes out in one write. */
  char buf[512];
  int n = snprintf(buf, sizeof buf, "sample_loop: %s: %s (%d%s%s)",
                   info->context, info->message ? info->message : "error", code,
                   code < 0 && code > -4096 ? ", " : "",
                   code < 0 && code > -4096 ? strerror(-code) : "");
  if (n < 0)
    return;
  for (char *c = buf; *c; c++)
    if (*c == '\n' || *c == '\r')
      *c = ' ';
  fprintf(stderr, "%s\n", buf);
}

static void sl_error(evl_loop *loop, int code, const char *context,
                     const char *message) {
  evl_error_info info = {
      .code = code, .context = context, .message = message, .fd = -1};
  loop->on_error(&info, loop->on_error_arg);
}

static int sl_check(const evl_loop *loop) {
  if (!loop)
    return -EINVAL;
  return loop->closed ? EVL_ECLOSED : 0;
}

/* ---------------------------------------------------------------- life */

static int sl_loop_new(const void *data, const evl_impl_config *cfg,
                       evl_loop **out) {
  (void)data;
  if (!out)
    return -EINVAL;
  *out = NULL;
  /* Read cfg only up to its size; refuse flags this version does not know.
   * No debug mode, no executor: the rest is not used. */
  if (cfg &&
      (cfg->size < sizeof cfg->size ||
       (EVL_FIELD_OR(evl_impl_config, cfg, flags, 0u) & ~EVL_LOOP_FLAGS)))
    return -EINVAL;
  evl_loop *loop = calloc(1, sizeof *loop);
  if (!loop)
    return -ENOMEM;
  int rc = evl_kit_init(&loop->k);
  if (rc < 0) {
    free(loop);
    return rc;
  }
  loop->on_error = sl_default_handler;
  loop->now = evl_kit_now();
  *out = loop;
  return 0;
}

static int sl_loop_close(evl_loop *loop) {
  if (!loop)
    return -EINVAL;
  if (loop->closed)
    return 0;
  if (loop->running)
    return -EBUSY;
  loop->closed = 1;
  evl_kit_fini(&loop->k); /* later posts get EVL_ECLOSED from the kit */
  free(loop->pfds);
  loop->pfds = NULL;
  loop->cappfds = 0;
  return 0;
}

static int sl_loop_free(evl_loop *loop) {
  if (!loop)
    return 0;
  int rc = sl_loop_close(loop);
  if (rc == 0) {
    pthread_mutex_destroy(&loop->k.lock);
    free(loop);
  }
  return rc;
}

static const char *sl_backend_name(const evl_loop *loop) {
  (void)loop;
  return "poll";
}

/* ---------------------------------------------------------------- API */

static int sl_call_soon(evl_loop *loop, evl_cb cb, void *arg, evl_handle *out) {
  int rc = sl_check(loop);
  return rc < 0 ? rc : evl_kit_call_soon(&loop->k, cb, arg, out);
}

static int sl_call_at(evl_loop *loop, uint64_t when, evl_cb cb, void *arg,
                      evl_handle *out) {
  int rc = sl_check(loop);
  return rc < 0 ? rc : evl_kit_call_at(&loop->k, when, cb, arg, out);
}

static int sl_call_later(evl_loop *loop, int64_t delay_ns, evl_cb cb, void *arg,
                         evl_handle *out) {
  int rc = sl_check(loop);
  return rc < 0 ? rc : evl_kit_call_later(&loop->k, delay_ns, cb, arg, out);
}

static int sl_cancel(evl_loop *loop, evl_handle h) {
  int rc = sl_check(loop);
  return rc < 0 ? rc : evl_kit_cancel(&loop->k, h);
}

static int sl_rearm(evl_loop *loop, evl_handle h, int64_t delay_ns) {
  int rc = sl_check(loop);
  return rc < 0 ? rc : evl_kit_rearm(&loop->k, h, delay_ns);
}

static int sl_rearm_at(evl_loop *loop, evl_handle h, uint64_t when) {
  int rc = sl_check(loop);
  return rc < 0 ? rc : evl_kit_rearm_at(&loop->k, h, when);
}

/* poll(2) watches any open fd (a regular file is always ready), so the only
 * refusal is a closed one. */
static int sl_add_io(evl_loop *loop, int fd, evl_io_cb cb, void *arg,
                     int write) {
  int rc = sl_check(loop);
  if (rc < 0)
    return rc;
  if (!cb)
    return -EINVAL;
  if (fd < 0 || fcntl(fd, F_GETFD) < 0)
    return -EBADF;
  return evl_kit_add_io(&loop->k, fd, write, cb, arg);
}

static int sl_add_reader(evl_loop *loop, int fd, evl_io_cb cb, void *arg) {
  return sl_add_io(loop, fd, cb, arg, 0);
}
static int sl_add_writer(evl_loop *loop, int fd, evl_io_cb cb, void *arg) {
  return sl_add_io(loop, fd, cb, arg, 1);
}
static int sl_remove_reader(evl_loop *loop, int fd) {
  int rc = sl_check(loop);
  return rc < 0 ? rc : evl_kit_remove_io(&loop->k, fd, 0);
}
static int sl_remove_writer(evl_loop *loop, int fd) {
  int rc = sl_check(loop);
  return rc < 0 ? rc : evl_kit_remove_io(&loop->k, fd, 1);
}

/* ---------------------------------------------------------------- run */

/* One iteration of the run cycle; 0 or a negative error. */
static int sl_iterate(evl_loop *loop) {
  evl_kit *k = &loop->k;
  /* 1. The timeout, rounded up to poll()'s millisecond. */
  int64_t t = evl_kit_timeout_ns(k, evl_kit_now(), loop->stopping);
  int ms = t < 0                    ? -1
           : t / 1000000 >= INT_MAX ? INT_MAX
                                    : (int)((t + 999999) / 1000000);

  /* 2. Wait. The pollfd array is rebuilt from the watchers each time:
   * O(fds) per iteration, the price of the smallest correct design. */
  int rc = evl_kit_grow(&loop->pfds, &loop->cappfds, sizeof *loop->pfds,
                        (uint32_t)k->nwatched + 1);
  if (rc < 0)
    return rc;
  int n = 0;
  loop->pfds[n++] = (struct pollfd){.fd = evl_kit_wake_fd(k), .events = POLLIN};
  for (int fd = 0; fd < k->nfds && n <= k->nwatched; fd++) {
    unsigned want = evl_kit_interest(k, fd);
    if (want)
      loop->pfds[n++] =
          (struct pollfd){.fd = fd,
                          .events = (short)((want & EVL_READ ? POLLIN : 0) |
                                            (want & EVL_WRITE ? POLLOUT : 0))};
  }
  loop->stats.waits++;
  int got = poll(loop->pfds, (nfds_t)n, ms);
  loop->now = evl_kit_now();
  if (got < 0 && errno != EINTR) { /* EINTR: no events, not an error */
    rc = -errno;
    sl_error(loop, rc, "backend wait", "poll() failed");
    return rc;
  }

  /* 3. Ready watchers, then due timers, behind what is queued. */
  if (got > 0 && loop->pfds[0].revents)
    rc = evl_kit_take_posts(k);
  for (int i = 1; i < n && got > 0 && rc == 0; i++) {
    short re = loop->pfds[i].revents;
    if (!re)
      continue;
    loop->stats.events++;
    rc = evl_kit_io_ready(k, loop->pfds[i].fd,
                          (re & POLLIN ? EVL_READ : 0u) |
                              (re & POLLOUT ? EVL_WRITE : 0u) |
                              (re & POLLHUP ? EVL_HUP : 0u) |
                              (re & (POLLERR | POLLNVAL) ? EVL_ERR : 0u));
  }
  if (rc == 0)
    rc = evl_kit_queue_due(k, loop->now);
  if (rc < 0) {
    sl_error(loop, rc, "queue", "out of memory");
    return rc;
  }

  /* 4. Exactly what is queued now; later additions wait (S1). */
  evl_kit_run_batch(k);
  loop->stats.iterations++;
  return 0;
}

static int sl_run(evl_loop *loop, int once) {
  int rc = sl_check(loop);
  if (rc < 0)
    return rc;
  if (loop->running || sl_running)
    return -EBUSY; /* nested, or another loop runs on this thread (S7) */
  loop->running = 1;
  sl_running = loop;
  loop->now = evl_kit_now();
  for (;;) {
    rc = sl_iterate(loop);
    if (rc < 0 || once || loop->stopping)
      break;
  }
  loop->stopping = 0;
  loop->running = 0;
  sl_running = NULL;
  return rc;
}

static int sl_run_forever(evl_loop *loop) {
  return sl_run(loop, 0);
}

static int sl_run_once(evl_loop *loop) {
  return sl_run(loop, 1);
}

static int sl_stop(evl_loop *loop) {
  int rc = sl_check(loop);
  if (rc < 0)
    return rc;
  loop->stopping = 1;
  return 0;
}

static int sl_is_running(const evl_loop *loop) {
  return loop && !loop->closed && loop->running;
}

static uint64_t sl_time(const evl_loop *loop) {
  return loop ? loop->now : 0;
}

/* ---------------------------------------------------------------- extras */

static int sl_call_soon_threadsafe(evl_loop *loop, evl_cb cb, void *arg) {
  if (!loop || !cb)
    return -EINVAL;
  return evl_kit_post(&loop->k, cb, arg); /* EVL_ECLOSED after close */
}

static void sl_stop_cb(void *arg) {
  sl_stop(arg);
}

static int sl_stop_threadsafe(evl_loop *loop) {
  return sl_call_soon_threadsafe(loop, sl_stop_cb, loop);
}

static evl_loop *sl_get_running_loop(void) {
  return sl_running;
}

static int sl_set_error_handler(evl_loop *loop, evl_error_handler h,
                                void *arg) {
  int rc = sl_check(loop);
  if (rc < 0)
    return rc;
  loop->on_error = h ? h : sl_default_handler;
  loop->on_error_arg = h ? arg : NULL;
  return 0;
}

static int sl_report_error(evl_loop *loop, int code, const char *message) {
  int rc = sl_check(loop);
  if (rc < 0)
    return rc;
  sl_error(loop, code, "callback", message);
  return 0;
}

static int sl_loop_stats(const evl_loop *loop, evl_loop_stats *out) {
  int rc = sl_check(loop);
  if (rc < 0)
    return rc;
  if (!out)
    return -EINVAL;
  *out = loop->stats;
  out->callbacks = loop->k.callbacks;
  out->timers = loop->k.nheap;
  out->fds = (uint64_t)loop->k.nwatched;
  return 0;
}

/* ---------------------------------------------------------------- table */

static const evl_impl_ops sl_ops = {
    .abi = EVL_IMPL_ABI,
    .size = sizeof(evl_impl_ops),
    .name = "sample-loop",
    .description = "third-party sample: a small loop on poll(2)",
    .features = EVL_IF_THREADSAFE | EVL_IF_RUNNING | EVL_IF_ERRORS |
                EVL_IF_STATS | EVL_IF_REARM,
    .deviations = NULL, /* {test glob, reason} pairs for known differences */
    .data = NULL,
    .probe = NULL,
    .loop_new = sl_loop_new,
    .loop_close = sl_loop_close,
    .loop_free = sl_loop_free,
    .backend_name = sl_backend_name,
    .call_soon = sl_call_soon,
    .call_later = sl_call_later,
    .call_at = sl_call_at,
    .cancel = sl_cancel,
    .add_reader = sl_add_reader,
    .remove_reader = sl_remove_reader,
    .add_writer = sl_add_writer,
    .remove_writer = sl_remove_writer,
    .run_forever = sl_run_forever,
    .run_once = sl_run_once,
    .stop = sl_stop,
    .is_running = sl_is_running,
    .time = sl_time,
    .call_soon_threadsafe = sl_call_soon_threadsafe,
    .stop_threadsafe = sl_stop_threadsafe,
    .get_running_loop = sl_get_running_loop,
    .set_error_handler = sl_set_error_handler,
    .report_error = sl_report_error,
    .loop_stats = sl_loop_stats,
    /* {test glob, check id, reason}: a known difference in one check only,
     * so the test's other checks still count. */
    .check_deviations = NULL,
    /* This loop keeps nothing per process; a loop that does (a signal
     * thread, an fd) creates it all in warmup() so the suite's leak check
     * counts it as the process's. */
    .warmup = NULL,
    .rearm = sl_rearm,
    .rearm_at = sl_rearm_at,
};

/* The one symbol evl-conform and the core look up with dlsym(). */
const evl_impl_ops *evl_impl_plugin(void) {
  return &sl_ops;
}
