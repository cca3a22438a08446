/* native_libuv.c — evlab's loop API run by libuv itself: uv_timer, uv_poll
 * and uv_async do the work; uv_check + uv_idle carry the ready FIFO. */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>

#include <uv.h>

#include "adapter.h"
#include "backends/wrap_common.h"

static const evl_impl_ops uvn_ops;
static const evl__adapter_hooks uvn_hooks;

/* The shared part first: the handle's slot points at the block's start, so
 * memcheck sees every timer as reachable. */
typedef struct uvn_timer {
  evl__adapter_timer t;
  uv_timer_t h;
} uvn_timer;

/* One uv_poll_t per fd, carrying both directions. The writer's generation
 * tells the poll callback that the reader replaced or removed the writer
 * while it ran (S6 stale events). */
typedef struct uvn_fd {
  evl__adapter_fd a; /* first: the shared code sees the record as it */
  uv_poll_t p;
  uint32_t wgen;
} uvn_fd;

struct evl_loop {
  evl__adapter_base b; /* first: futures and helpers see the loop as its base */
  uv_loop_t uv;
  uv_idle_t idle;   /* active while the FIFO is non-empty: poll won't block */
  uv_check_t check; /* runs the FIFO's batch after each poll */
  uv_async_t async;
  int uv_inited, handles_inited;
  /* libuv aborts when epoll_wait or epoll_ctl fails on its epoll fd: the
   * fd is checked (one fstat) before every uv_run, and a loop whose epoll
   * fd was closed or replaced under it is never run again. */
  wrap_fdid epfd;
};

#define UVN_LOOP(ptr, field)                                                   \
  ((evl_loop *)((char *)(ptr)-offsetof(evl_loop, field)))

/* ---- the ready FIFO ----------------------------------------------------- */
static void uvn_idle_cb(uv_idle_t *h) {
  (void)h; /* only there to make the poll non-blocking */
}

static void uvn_want_batch(evl_loop *loop) {
  if (!uv_is_active((uv_handle_t *)&loop->idle))
    uv_idle_start(&loop->idle, uvn_idle_cb);
}

static void uvn_check_cb(uv_check_t *h) {
  evl_loop *loop = UVN_LOOP(h, check);
  /* libuv polls exactly once per iteration, right before check. */
  loop->b.st.iterations++;
  loop->b.st.waits++;
  if (evl__adapter_run_batch(&loop->b) == 0)
    uv_idle_stop(&loop->idle);
}

static void uvn_async_cb(uv_async_t *h) {
  evl__adapter_posts_run(&UVN_LOOP(h, async)->b);
}

static int uvn_call_soon(evl_loop *loop, evl_cb cb, void *arg,
                         evl_handle *out) {
  return evl__adapter_call_soon_with(loop, cb, arg, out, uvn_want_batch);
}

/* ---- timers ------------------------------------------------------------- */
#define UVN_TIMER(at) ((uvn_timer *)((char *)(at)-offsetof(uvn_timer, t)))

static void uvn_timer_cb(uv_timer_t *h) {
  uvn_timer *tm = (uvn_timer *)((char *)h - offsetof(uvn_timer, h));
  /* libuv runs timers before the check phase: queue it behind the batch's
   * call_soon callbacks, and keep the poll from blocking until then. */
  if (evl__adapter_timer_fired(&tm->t))
    uvn_want_batch((evl_loop *)tm->t.base);
}

/* uv_timer_start on a running timer moves it: libuv's own re-arm. */
static inline __attribute__((always_inline)) int
uvn_timer_arm(evl__adapter_base *b, evl__adapter_timer *at, int due_now) {
  /* libuv's clock is whole milliseconds of CLOCK_MONOTONIC (or its coarse
   * twin, which never runs ahead). Due at ceil(deadline) in those units
   * means never early; a deadline already past is due at libuv's "now",
   * so it fires at the next timer phase. */
  evl_loop *loop = (evl_loop *)b;
  uint64_t d = at->deadline, now = uv_now(&loop->uv), due = now;
  if (!due_now)
    due = __builtin_expect(d <= UINT64_MAX - 999999u, 1)
              ? (d + 999999u) / 1000000u
              : d / 1000000u + (d % 1000000u != 0);
  uv_timer_start(&UVN_TIMER(at)->h, uvn_timer_cb, due > now ? due - now : 0, 0);
  return 0;
}

static int uvn_timer_arm_hook(evl__adapter_base *b, evl__adapter_timer *at,
                              int due_now) {
  return uvn_timer_arm(b, at, due_now);
}

static inline void uvn_timer_stop(evl__adapter_base *b,
                                  evl__adapter_timer *at) {
  (void)b;
  uv_timer_stop(&UVN_TIMER(at)->h);
}

static void uvn_timer_stop_hook(evl__adapter_base *b, evl__adapter_timer *at) {
  uvn_timer_stop(b, at);
}

static int uvn_call_later(evl_loop *loop, int64_t delay_ns, evl_cb cb,
                          void *arg, evl_handle *out) {
  return evl__adapter_call_later_with(loop, delay_ns, cb, arg, out,
                                      uvn_timer_arm);
}

static int uvn_cancel(evl_loop *loop, evl_handle h) {
  return evl__adapter_cancel_with(loop, h, uvn_timer_stop);
}

static int uvn_rearm(evl_loop *loop, evl_handle h, int64_t delay_ns) {
  return evl__adapter_rearm_with(loop, h, delay_ns, uvn_timer_arm);
}

static evl__adapter_timer *uvn_timer_new(evl__adapter_base *b) {
  uvn_timer *tm = malloc(sizeof *tm);
  if (!tm)
    return NULL;
  uv_timer_init(&((evl_loop *)b)->uv, &tm->h);
  return &tm->t;
}

static void uvn_timer_free_cb(uv_handle_t *h) {
  free((char *)h - offsetof(uvn_timer, h));
}

static void uvn_timer_free(evl__adapter_base *b, evl__adapter_timer *at) {
  (void)b;
  uv_close((uv_handle_t *)&UVN_TIMER(at)->h, uvn_timer_free_cb);
}

/* ---- I/O ---------------------------------------------------------------- */
#define UVN_FD(ptr) ((uvn_fd *)((char *)(ptr)-offsetof(uvn_fd, p)))

static int uvn_mask(const uvn_fd *f) {
  return (f->a.cb[0] ? UV_READABLE : 0) | (f->a.cb[1] ? UV_WRITABLE : 0);
}

static void uvn_poll_both(uv_poll_t *p, int status, int events);

/* One direction ready, no error: the callback is the last thing done (a
 * tail call, nothing saved), and nothing of the loop is read. Everything
 * else goes out of line to uvn_poll_both. A direction reported alone has
 * a callback: the handle always runs with exactly the registered
 * directions (uvn_mask), and libuv filters each event through the
 * handle's current ones when it dispatches it, also after a callback of
 * the same poll changed them. In debug mode every handle runs
 * uvn_poll_both instead (uvn_poll_fn). */
static void uvn_poll_cb(uv_poll_t *p, int status, int events) {
  uvn_fd *f = UVN_FD(p);
  if (status == 0) {
    if (events == UV_READABLE) {
      f->a.calls++;
      f->a.cb[0](f->a.fd, EVL_READ, f->a.arg[0]);
      return;
    }
    if (events == UV_WRITABLE) {
      f->a.calls++;
      f->a.cb[1](f->a.fd, EVL_WRITE, f->a.arg[1]);
      return;
    }
  }
  uvn_poll_both(p, status, events);
}

static uv_poll_cb uvn_poll_fn(const evl__adapter_base *b) {
  return b->debug ? uvn_poll_both : uvn_poll_cb;
}

__attribute__((noinline)) static void uvn_poll_both(uv_poll_t *p, int status,
                                                    int events) {
  uvn_fd *f = UVN_FD(p);
  evl__adapter_base *b = f->a.base;
  unsigned extra = 0;
  if (status < 0) {
    /* POLLERR: libuv stopped the handle and tells us nothing more. Wake
     * every registered direction (S6) and restart below to stay
     * level-triggered. */
    extra = EVL_ERR;
    events = uvn_mask(f);
  }
  /* f's memory stays until its close callback, even if a callback below
   * removes it: only whether it is still the fd's record is asked. */
  uint32_t wgen = f->wgen;
  if ((events & UV_READABLE) && f->a.cb[0])
    evl__adapter_io_call(b, &f->a, 0, extra);
  else
    b->st.events++;
  if (b->closed || b->fds[f->a.fd] != f)
    return; /* removed by the reader; the handle is closing */
  if ((events & UV_WRITABLE) && f->a.cb[1] && f->wgen == wgen) {
    uint64_t t0 = evl__adapter_cb_begin(b);
    f->a.cb[1](f->a.fd, EVL_WRITE | extra, f->a.arg[1]);
    evl__adapter_cb_end(b, t0);
  }
  if (status < 0 && !b->closed && b->fds[f->a.fd] == f &&
      !uv_is_active((uv_handle_t *)p))
    uv_poll_start(p, uvn_mask(f), uvn_poll_fn(b));
}

static evl__adapter_fd *uvn_fd_new(evl__adapter_base *b, int fd, int *err) {
  uvn_fd *f = calloc(1, sizeof *f);
  if (!f) {
    *err = -ENOMEM;
    return NULL;
  }
  /* uv_poll_init refuses what epoll cannot watch (-EPERM for a regular
   * file) before it touches the handle, so nothing stays registered. */
  if ((*err = uv_poll_init(&((evl_loop *)b)->uv, &f->p, fd)) < 0) {
    free(f);
    return NULL;
  }
  return &f->a;
}

static int uvn_io_start(evl__adapter_base *b, evl__adapter_fd *a, int write) {
  uvn_fd *f = (uvn_fd *)a;
  f->wgen += write;
  /* Restarting also drops an event already collected for this fd, so a
   * replaced watcher is not called for it. */
  return uv_poll_start(&f->p, uvn_mask(f), uvn_poll_fn(b));
}

static void uvn_io_stop(evl__adapter_base *b, evl__adapter_fd *a, int write) {
  uvn_fd *f = (uvn_fd *)a;
  f->wgen += write;
  if (uvn_mask(f)) /* else fd_free follows */
    uv_poll_start(&f->p, uvn_mask(f), uvn_poll_fn(b));
}

static void uvn_debug_set(evl__adapter_base *b) {
  for (int fd = 0; fd < b->fds_cap; fd++) {
    uvn_fd *f = b->fds[fd];
    if (f)
      uv_poll_start(&f->p, uvn_mask(f), uvn_poll_fn(b));
  }
}

static void uvn_fd_close_cb(uv_handle_t *h) {
  free(UVN_FD(h));
}

static void uvn_fd_free(evl__adapter_base *b, evl__adapter_fd *a) {
  (void)b;
  uv_close((uv_handle_t *)&((uvn_fd *)a)->p, uvn_fd_close_cb);
}

/* ---- running ------------------------------------------------------------ */
static int uvn_run(evl_loop *loop, uv_run_mode mode) {
  int rc = evl__adapter_run_begin(loop);
  if (rc)
    return rc;
  /* uv_stop before uv_run would run no iteration at all; the contract
   * wants exactly one with a zero timeout (S7), which is NOWAIT. */
  if (loop->b.stopping)
    mode = UV_RUN_NOWAIT;
  if (wrap_fdid_same(&loop->epfd) < 0) {
    evl__adapter_report(&loop->b, -EBADF, "backend wait",
                        "libuv's epoll fd was closed under it", -1, 0);
    evl__adapter_run_leave(&loop->b);
    return -EBADF;
  }
  uint64_t seq = loop->b.tseq;
  uv_run(&loop->uv, mode);
  /* UV_RUN_ONCE ends with a timer phase after the check: what it fired
   * belongs to this iteration, but for the timers this iteration's own
   * callbacks scheduled or re-armed (a call_later(0) or a re-arm to now):
   * those wait for the next one (S1, S15), where the check runs them. */
  if (evl__adapter_due_len(&loop->b) && mode == UV_RUN_ONCE) {
    evl__adapter_run_due_upto(&loop->b, seq);
    if (evl__adapter_due_len(&loop->b) && !loop->b.closed)
      uvn_want_batch(loop);
  }
  evl__adapter_run_leave(&loop->b);
  return 0;
}

static int uvn_run_forever(evl_loop *loop) {
  return uvn_run(loop, UV_RUN_DEFAULT);
}

static int uvn_run_once(evl_loop *loop) {
  return uvn_run(loop, UV_RUN_ONCE);
}

static int uvn_stop(evl_loop *loop) {
  int rc = evl__adapter_check(EVL__ADAPTER_BASE(loop));
  if (rc)
    return rc;
  loop->b.stopping = 1;
  if (loop->b.running)
    uv_stop(&loop->uv);
  return 0;
}

static const char *uvn_backend_name(const evl_loop *loop) {
  (void)loop;
  return "libuv";
}

/* ---- threads ------------------------------------------------------------ */
static void uvn_wake(evl__adapter_base *b) {
  uv_async_send(&((evl_loop *)b)->async);
}

/* ---- signals ------------------------------------------------------------ */
typedef struct uvn_sig {
  evl__adapter_sig a;
  uv_signal_t h;
} uvn_sig;

#define UVN_SIG(ptr) ((uvn_sig *)((char *)(ptr)-offsetof(uvn_sig, h)))

static void uvn_sig_cb(uv_signal_t *h, int signum) {
  (void)signum;
  evl__adapter_sig_run(&UVN_SIG(h)->a);
}

static void uvn_sig_close_cb(uv_handle_t *h) {
  free(UVN_SIG(h));
}

static evl__adapter_sig *uvn_sig_new(evl__adapter_base *b, int sig, int *err) {
  uvn_sig *s = calloc(1, sizeof *s);
  if (!s) {
    *err = -ENOMEM;
    return NULL;
  }
  uv_signal_init(&((evl_loop *)b)->uv, &s->h);
  if ((*err = uv_signal_start(&s->h, uvn_sig_cb, sig)) < 0) {
    uv_close((uv_handle_t *)&s->h, uvn_sig_close_cb);
    return NULL;
  }
  return &s->a;
}

static void uvn_sig_free(evl__adapter_base *b, evl__adapter_sig *a) {
  (void)b;
  /* uv_close stops at once; libuv then resets the signal to SIG_DFL if
   * no loop watches it, and the shared code puts the original back. */
  uv_close((uv_handle_t *)&((uvn_sig *)a)->h, uvn_sig_close_cb);
}

/* ---- life cycle --------------------------------------------------------- */
static void uvn_close_embedded(uv_handle_t *h) {
  if (!uv_is_closing(h))
    uv_close(h, NULL);
}

/* Closes every handle, lets libuv run their close callbacks, then closes
 * the libuv loop, which must then report nothing left (returns 0). */
static int uvn_teardown(evl_loop *loop) {
  if (loop->handles_inited) {
    uvn_close_embedded((uv_handle_t *)&loop->idle);
    uvn_close_embedded((uv_handle_t *)&loop->check);
    uvn_close_embedded((uv_handle_t *)&loop->async);
    loop->handles_inited = 0;
  }
  if (loop->uv_inited)
    evl__adapter_timers_free(&loop->b);
  evl__adapter_fds_free(&loop->b);
  int rc = 0;
  if (loop->uv_inited) {
    if (wrap_fdid_same(&loop->epfd) < 0 && wrap_epoll_revive(&loop->epfd) < 0)
      return -EBADF; /* uv_run would abort: the handles go with the memory */
    uv_run(&loop->uv, UV_RUN_DEFAULT);
    WRAP_UV_TSAN_CLOSING(&loop->uv);
    rc = uv_loop_close(&loop->uv);
    loop->uv_inited = 0;
  }
  return rc;
}

/* The loop_close hook: there, a handle outliving its close is a bug of
 * this adapter, not the user's. */
static void uvn_close_teardown(evl_loop *loop) {
  int rc = uvn_teardown(loop);
  if (rc < 0)
    evl__adapter_report(&loop->b, rc, "loop close", "uv_loop_close", -1, 0);
}

static int uvn_loop_new(const void *data, const evl_impl_config *cfg,
                        evl_loop **out) {
  (void)data;
  if (!out)
    return -EINVAL;
  *out = NULL;
  evl_loop *loop;
  int rc =
      evl__adapter_loop_alloc(sizeof *loop, &uvn_ops, &uvn_hooks, cfg, &loop);
  if (rc < 0)
    return rc;
  /* uv_loop_init: an epoll fd and a signal pipe; uv_async_init: an
   * eventfd. libuv leaves some behind (or aborts) when one fails. */
  if ((rc = wrap_fd_headroom(5)) < 0)
    goto fail;
  if ((rc = uv_loop_init(&loop->uv)) < 0)
    goto fail;
  loop->uv_inited = 1;
  if ((rc = wrap_fdid_take(&loop->epfd, uv_backend_fd(&loop->uv))) < 0)
    goto fail;
  if ((rc = uv_async_init(&loop->uv, &loop->async, uvn_async_cb)) < 0)
    goto fail;
  uv_idle_init(&loop->uv, &loop->idle);
  uv_check_init(&loop->uv, &loop->check);
  loop->handles_inited = 1;
  uv_check_start(&loop->check, uvn_check_cb);
  *out = loop;
  return 0;
fail:
  uvn_teardown(loop);
  evl__adapter_loop_discard(loop);
  return rc;
}

/* uv_loop_fork gives the child its own epoll set, signal pipe and async
 * eventfd, re-adding every watcher at the next uv_run. */
static int uvn_after_fork(evl_loop *loop) {
  int rc = uv_loop_fork(&loop->uv);
  if (rc == 0)
    rc = wrap_fdid_take(&loop->epfd, uv_backend_fd(&loop->uv));
  return rc;
}

static const evl__adapter_hooks uvn_hooks = {
    .timer_new = uvn_timer_new,
    .timer_arm = uvn_timer_arm_hook,
    .timer_stop = uvn_timer_stop_hook,
    .timer_free = uvn_timer_free,
    .wake = uvn_wake,
    .check_fd = evl__adapter_check_fd,
    .fd_new = uvn_fd_new,
    .io_start = uvn_io_start,
    .io_stop = uvn_io_stop,
    .fd_free = uvn_fd_free,
    .sig_new = uvn_sig_new,
    .sig_free = uvn_sig_free,
    /* Any number of libuv loops may watch one signal; the last one to
     * stop leaves SIG_DFL. */
    .sig_mode = EVL__ADAPTER_SIG_SHARED,
    .sig_restore = 1,
    .teardown = uvn_close_teardown,
    .after_fork = uvn_after_fork,
    .debug_set = uvn_debug_set,
};

static const evl_deviation uvn_deviations[] = {
    {"s10_loop_wait_fails",
     "libuv aborts when epoll_wait fails with anything but EINTR "
     "(uv__io_poll calls abort()): run cannot end with the error"},
    {"s1_ready_behind_soon",
     "libuv calls an fd's callback from inside its poll phase (uv_poll_cb), "
     "before the check phase that runs the call_soon FIFO: a callback "
     "queued before the wait runs after the readers that wait found ready "
     "(the adapter stays idiomatic rather than queue I/O into the FIFO)"},
    {NULL, NULL},
};

/* Only the writer's check: the reader's EOF in the same test still counts. */
static const evl_check_deviation uvn_check_deviations[] = {
    {"s6_hangup_wakes_both", "writer_woken",
     "uv_poll passes EPOLLHUP on only when it comes alone: with EPOLLIN "
     "(data or EOF) beside it, a writer blocked on a full buffer is not "
     "woken by the peer's hang-up"},
    {"s6_close_before_remove_dup_no_spin", "no_spin",
     "libuv cannot take an fd out of epoll once its number is closed "
     "(EPOLL_CTL_DEL gets EBADF) and a dup keeps the file open: epoll keeps "
     "reporting it and the loop wakes without work (libuv documents: never "
     "close an fd under an active uv_poll_t)"},
    {NULL, NULL, NULL},
};

static const evl_impl_ops uvn_ops = {
    .abi = EVL_IMPL_ABI,
    .size = sizeof(evl_impl_ops),
    .name = "native-libuv",
    .description = "libuv's own loop: uv_timer, uv_poll, uv_async; "
                   "uv_check + uv_idle run the call_soon FIFO",
    .features = EVL_IF_THREADSAFE | EVL_IF_DEBUG | EVL_IF_STATS |
                EVL_IF_ERRORS | EVL_IF_RUNNING | EVL_IF_FUTURES |
                EVL_IF_SIGNALS | EVL_IF_EXECUTOR | EVL_IF_REARM | EVL_IF_FORK,
    .deviations = uvn_deviations,
    .check_deviations = uvn_check_deviations,
    EVL__ADAPTER_SHARED_OPS,
    .loop_new = uvn_loop_new,
    .backend_name = uvn_backend_name,
    .call_soon = uvn_call_soon,
    .call_later = uvn_call_later,
    .cancel = uvn_cancel,
    .rearm = uvn_rearm,
    .run_forever = uvn_run_forever,
    .run_once = uvn_run_once,
    .stop = uvn_stop,
    .loop_stats = evl__adapter_loop_stats,
};

/* The first uv_loop_init() of a process opens a pipe that libuv keeps for
 * the process's lifetime (its signal lock). Opening it when the plugin is
 * looked up, with a throwaway loop, keeps it out of every loop's own
 * accounting: closing a loop then gives back exactly what it took (S8). */
static void uvn_global_init(void) {
  uv_loop_t tmp;
  if (uv_loop_init(&tmp) == 0) {
    WRAP_UV_TSAN_CLOSING(&tmp);
    uv_loop_close(&tmp);
  }
}

const evl_impl_ops *evl_impl_plugin(void) {
  static pthread_once_t once = PTHREAD_ONCE_INIT;
  pthread_once(&once, uvn_global_init);
  return &uvn_ops;
}
