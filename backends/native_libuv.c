/* native_libuv.c — evlab's loop API run by libuv itself: uv_timer, uv_poll
 * and uv_async do the work; uv_check + uv_idle carry the ready FIFO. */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include <uv.h>

#include "native_common.h"

static const evl_impl_ops uvn_ops;

typedef struct uvn_timer {
  uv_timer_t t;
  evl_loop *loop;
  evl_cb cb;
  void *arg;
  uint64_t deadline, seq;
  evl_handle h;
  struct uvn_timer *next_free;
} uvn_timer;

/* One uv_poll_t per fd, carrying both directions. The writer's generation
 * tells the poll callback that the reader replaced or removed the writer
 * while it ran (S6 stale events). */
typedef struct uvn_fd {
  uv_poll_t p;
  evl_loop *loop;
  int fd;
  evl_io_cb rcb, wcb;
  void *rarg, *warg;
  uint32_t wgen;
} uvn_fd;

struct evl_loop {
  evl__nbase b; /* first: futures and helpers see the loop as its base */
  uv_loop_t uv;
  uv_idle_t idle;   /* active while the FIFO is non-empty: poll won't block */
  uv_check_t check; /* runs the FIFO's batch after each poll */
  uv_prepare_t prep;
  uv_async_t async;
  int uv_inited, handles_inited;
  uvn_fd **fds;
  int fds_cap;
  uvn_timer *tfree;
  struct uvn_sig *sigs[NSIG];
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
  if (evl__nrun_batch(&loop->b) == 0)
    uv_idle_stop(&loop->idle);
}

static void uvn_prepare_cb(uv_prepare_t *h) {
  evl_loop *loop = UVN_LOOP(h, prep);
  /* libuv polls exactly once per iteration, right after prepare. */
  loop->b.st.iterations++;
  loop->b.st.waits++;
}

static void uvn_async_cb(uv_async_t *h) {
  evl__nts_run(&UVN_LOOP(h, async)->b);
}

static int uvn_call_soon(evl_loop *loop, evl_cb cb, void *arg,
                         evl_handle *out) {
  int rc = evl__ncheck(EVL__NB(loop));
  if (rc)
    return rc;
  if (!cb)
    return -EINVAL;
  rc = evl__nsoon(&loop->b, cb, arg, out);
  if (rc == 0)
    uvn_want_batch(loop);
  return rc;
}

/* ---- timers ------------------------------------------------------------- */
static void uvn_timer_cb(uv_timer_t *t);

static void uvn_timer_arm(evl_loop *loop, uvn_timer *tm, int due_now) {
  /* libuv's clock is whole milliseconds of CLOCK_MONOTONIC (or its coarse
   * twin, which never runs ahead). Due at ceil(deadline) in those units
   * means never early; a deadline already past is due at libuv's "now",
   * so it fires at the next timer phase. */
  uint64_t now = uv_now(&loop->uv), due = now;
  if (!due_now)
    due = tm->deadline / 1000000u + (tm->deadline % 1000000u != 0);
  uv_timer_start(&tm->t, uvn_timer_cb, due > now ? due - now : 0, 0);
}

static void uvn_timer_release(evl__nbase *b, void *timer) {
  uvn_timer *tm = timer;
  evl_loop *loop = (evl_loop *)b;
  tm->next_free = loop->tfree;
  loop->tfree = tm;
}

static void uvn_timer_cb(uv_timer_t *t) {
  uvn_timer *tm = (uvn_timer *)t;
  evl_loop *loop = tm->loop;
  if (evl__nnow() < tm->deadline) { /* belt and braces for S2 */
    uvn_timer_arm(loop, tm, 0);
    return;
  }
  /* libuv runs timers before the check phase: queue it behind the batch's
   * call_soon callbacks, and keep the poll from blocking until then. */
  if (evl__ndue_push(&loop->b, tm->deadline, tm->seq, tm->cb, tm->arg, tm->h) ==
      0) {
    uvn_want_batch(loop);
    return;
  }
  /* Out of memory for the queue: run it now, out of order. */
  evl_cb cb = tm->cb;
  void *arg = tm->arg;
  evl__nslot_free(&loop->b.slots, tm->h);
  loop->b.ntimers--;
  uvn_timer_release(&loop->b, tm);
  uint64_t t0 = evl__ncb_begin(&loop->b);
  cb(arg);
  evl__ncb_end(&loop->b, t0);
}

static int uvn_timer_new(evl_loop *loop, uint64_t when_ns, int due_now,
                         evl_cb cb, void *arg, evl_handle *out) {
  int rc = evl__ncheck(EVL__NB(loop));
  if (rc)
    return rc;
  if (!cb)
    return -EINVAL;
  uvn_timer *tm = loop->tfree;
  if (tm) {
    loop->tfree = tm->next_free;
  } else {
    tm = malloc(sizeof *tm);
    if (!tm)
      return -ENOMEM;
    uv_timer_init(&loop->uv, &tm->t);
    tm->loop = loop;
  }
  rc = evl__nslot_alloc(&loop->b.slots, EVL__NK_TIMER, tm, &tm->h);
  if (rc < 0) {
    uvn_timer_release(&loop->b, tm);
    return rc;
  }
  tm->cb = cb;
  tm->arg = arg;
  tm->deadline = when_ns;
  tm->seq = ++loop->b.tseq;
  uvn_timer_arm(loop, tm, due_now);
  loop->b.ntimers++;
  if (out)
    *out = tm->h;
  return 0;
}

static int uvn_call_at(evl_loop *loop, uint64_t when_ns, evl_cb cb, void *arg,
                       evl_handle *out) {
  return uvn_timer_new(loop, when_ns, when_ns <= evl__nnow(), cb, arg, out);
}

static int uvn_call_later(evl_loop *loop, int64_t delay_ns, evl_cb cb,
                          void *arg, evl_handle *out) {
  return uvn_timer_new(loop, evl__ndeadline(delay_ns), delay_ns <= 0, cb, arg,
                       out);
}

static int uvn_cancel(evl_loop *loop, evl_handle h) {
  int rc = evl__ncheck(EVL__NB(loop));
  if (rc)
    return rc;
  evl__nslot *sl = evl__nslot_get(&loop->b.slots, h);
  if (!sl)
    return EVL_EHANDLE;
  if (sl->kind == EVL__NK_TIMER) {
    uvn_timer *tm = sl->u.ptr;
    uv_timer_stop(&tm->t);
    tm->next_free = loop->tfree;
    loop->tfree = tm;
    loop->b.ntimers--;
  }
  evl__nslot_free(&loop->b.slots, h);
  return 0;
}

/* ---- I/O ---------------------------------------------------------------- */
static void uvn_free_cb(uv_handle_t *h) {
  free(h); /* uvn_fd and uvn_timer start with their handle */
}

static int uvn_mask(const uvn_fd *f) {
  return (f->rcb ? UV_READABLE : 0) | (f->wcb ? UV_WRITABLE : 0);
}

static void uvn_poll_cb(uv_poll_t *p, int status, int events) {
  uvn_fd *f = (uvn_fd *)p;
  evl_loop *loop = f->loop;
  unsigned extra = 0;
  if (status < 0) {
    /* POLLERR: libuv stopped the handle and tells us nothing more. Wake
     * every registered direction (S6) and restart below to stay
     * level-triggered. */
    extra = EVL_ERR;
    events = uvn_mask(f);
  }
  loop->b.st.events++;
  uint32_t wgen = f->wgen;
  if ((events & UV_READABLE) && f->rcb) {
    uint64_t t0 = evl__ncb_begin(&loop->b);
    f->rcb(f->fd, EVL_READ | extra, f->rarg);
    evl__ncb_end(&loop->b, t0);
  }
  if (loop->b.closed || loop->fds[f->fd] != f)
    return; /* removed by the reader; the handle is closing */
  if ((events & UV_WRITABLE) && f->wcb && f->wgen == wgen) {
    uint64_t t0 = evl__ncb_begin(&loop->b);
    f->wcb(f->fd, EVL_WRITE | extra, f->warg);
    evl__ncb_end(&loop->b, t0);
  }
  if (status < 0 && !loop->b.closed && loop->fds[f->fd] == f &&
      !uv_is_active((uv_handle_t *)p))
    uv_poll_start(p, uvn_mask(f), uvn_poll_cb);
}

static int uvn_add(evl_loop *loop, int fd, int write, evl_io_cb cb, void *arg) {
  int rc = evl__ncheck(EVL__NB(loop));
  if (rc)
    return rc;
  if (!cb)
    return -EINVAL;
  if ((rc = evl__ncheck_fd(fd)) < 0)
    return rc;
  if (fd >= loop->fds_cap) {
    int ncap = loop->fds_cap ? loop->fds_cap : 64;
    while (ncap <= fd)
      ncap *= 2;
    uvn_fd **nv = realloc(loop->fds, (size_t)ncap * sizeof *nv);
    if (!nv)
      return -ENOMEM;
    memset(nv + loop->fds_cap, 0, (size_t)(ncap - loop->fds_cap) * sizeof *nv);
    loop->fds = nv;
    loop->fds_cap = ncap;
  }
  uvn_fd *f = loop->fds[fd];
  if (!f) {
    f = calloc(1, sizeof *f);
    if (!f)
      return -ENOMEM;
    /* uv_poll_init refuses what epoll cannot watch (-EPERM for a regular
     * file) before it touches the handle, so nothing stays registered. */
    rc = uv_poll_init(&loop->uv, &f->p, fd);
    if (rc < 0) {
      free(f);
      return rc;
    }
    f->loop = loop;
    f->fd = fd;
    loop->fds[fd] = f;
    loop->b.nfds++;
  }
  if (write) {
    f->wcb = cb;
    f->warg = arg;
    f->wgen++;
  } else {
    f->rcb = cb;
    f->rarg = arg;
  }
  /* Restarting also drops an event already collected for this fd, so a
   * replaced watcher is not called for it. */
  return uv_poll_start(&f->p, uvn_mask(f), uvn_poll_cb);
}

static int uvn_remove(evl_loop *loop, int fd, int write) {
  int rc = evl__ncheck(EVL__NB(loop));
  if (rc)
    return rc;
  if (fd < 0)
    return -EBADF;
  uvn_fd *f = fd < loop->fds_cap ? loop->fds[fd] : NULL;
  if (!f || !(write ? f->wcb : f->rcb))
    return 0;
  if (write) {
    f->wcb = NULL;
    f->wgen++;
  } else {
    f->rcb = NULL;
  }
  if (uvn_mask(f)) {
    uv_poll_start(&f->p, uvn_mask(f), uvn_poll_cb);
  } else {
    loop->fds[fd] = NULL;
    loop->b.nfds--;
    uv_close((uv_handle_t *)&f->p, uvn_free_cb);
  }
  return 1;
}

static int uvn_add_reader(evl_loop *loop, int fd, evl_io_cb cb, void *arg) {
  return uvn_add(loop, fd, 0, cb, arg);
}
static int uvn_add_writer(evl_loop *loop, int fd, evl_io_cb cb, void *arg) {
  return uvn_add(loop, fd, 1, cb, arg);
}
static int uvn_remove_reader(evl_loop *loop, int fd) {
  return uvn_remove(loop, fd, 0);
}
static int uvn_remove_writer(evl_loop *loop, int fd) {
  return uvn_remove(loop, fd, 1);
}

/* ---- running ------------------------------------------------------------ */
static int uvn_run(evl_loop *loop, uv_run_mode mode) {
  int rc = evl__ncheck(EVL__NB(loop));
  if (rc)
    return rc;
  if ((rc = evl__nrun_enter(&loop->b, loop)) < 0)
    return rc;
  evl__nmark_all(&loop->b);
  /* uv_stop before uv_run would run no iteration at all; the contract
   * wants exactly one with a zero timeout (S7), which is NOWAIT. */
  if (loop->b.stopping)
    mode = UV_RUN_NOWAIT;
  uv_run(&loop->uv, mode);
  /* UV_RUN_ONCE ends with a timer phase after the check: what it fired
   * belongs to this iteration. */
  if (evl__ndue_len(&loop->b) && mode == UV_RUN_ONCE)
    evl__nrun_due(&loop->b);
  evl__nrun_leave(&loop->b);
  return 0;
}

static int uvn_run_forever(evl_loop *loop) {
  return uvn_run(loop, UV_RUN_DEFAULT);
}

static int uvn_run_once(evl_loop *loop) {
  return uvn_run(loop, UV_RUN_ONCE);
}

static int uvn_stop(evl_loop *loop) {
  int rc = evl__ncheck(EVL__NB(loop));
  if (rc)
    return rc;
  loop->b.stopping = 1;
  if (loop->b.running)
    uv_stop(&loop->uv);
  return 0;
}

static int uvn_is_running(const evl_loop *loop) {
  return loop && loop->b.running;
}

static uint64_t uvn_time(const evl_loop *loop) {
  (void)loop;
  return evl__nnow();
}

static const char *uvn_backend_name(const evl_loop *loop) {
  (void)loop;
  return "libuv";
}

/* ---- threads ------------------------------------------------------------ */
static void uvn_wake(evl__nbase *b) {
  uv_async_send(&((evl_loop *)b)->async);
}

static int uvn_call_soon_threadsafe(evl_loop *loop, evl_cb cb, void *arg) {
  if (!loop)
    return -EINVAL;
  if (loop->b.closed)
    return EVL_ECLOSED;
  return evl__nts_post(&loop->b, cb, arg, uvn_wake);
}

static void uvn_stop_cb(void *arg) {
  uvn_stop(arg);
}

static int uvn_stop_threadsafe(evl_loop *loop) {
  return uvn_call_soon_threadsafe(loop, uvn_stop_cb, loop);
}

/* ---- signals ------------------------------------------------------------ */
typedef struct uvn_sig {
  uv_signal_t h;
  evl_loop *loop;
  evl_cb cb;
  void *arg;
} uvn_sig;

static void uvn_sig_cb(uv_signal_t *h, int signum) {
  (void)signum;
  uvn_sig *s = (uvn_sig *)h;
  uint64_t t0 = evl__ncb_begin(&s->loop->b);
  s->cb(s->arg);
  evl__ncb_end(&s->loop->b, t0);
}

static void uvn_sig_drop(evl_loop *loop, int sig) {
  /* uv_close stops at once; libuv then resets the signal to SIG_DFL if
   * no loop watches it, and release puts the original back. */
  uv_close((uv_handle_t *)&loop->sigs[sig]->h, uvn_free_cb);
  loop->sigs[sig] = NULL;
  evl__nsig_release(sig, 1);
}

static int uvn_add_signal_handler(evl_loop *loop, int sig, evl_cb cb,
                                  void *arg) {
  int rc = evl__ncheck(EVL__NB(loop));
  if (rc)
    return rc;
  if (!cb || evl__nsig_check(sig) < 0)
    return -EINVAL;
  uvn_sig *s = loop->sigs[sig];
  if (s) { /* replaces, as add_reader does */
    s->cb = cb;
    s->arg = arg;
    return 0;
  }
  if ((rc = evl__nsig_acquire(sig, loop, EVL__NSIG_SHARED)) < 0)
    return rc;
  s = calloc(1, sizeof *s);
  if (!s) {
    evl__nsig_release(sig, 1);
    return -ENOMEM;
  }
  s->loop = loop;
  s->cb = cb;
  s->arg = arg;
  uv_signal_init(&loop->uv, &s->h);
  loop->sigs[sig] = s;
  if ((rc = uv_signal_start(&s->h, uvn_sig_cb, sig)) < 0)
    uvn_sig_drop(loop, sig);
  return rc;
}

static int uvn_remove_signal_handler(evl_loop *loop, int sig) {
  int rc = evl__ncheck(EVL__NB(loop));
  if (rc)
    return rc;
  if (evl__nsig_check(sig) < 0)
    return -EINVAL;
  if (!loop->sigs[sig])
    return 0;
  uvn_sig_drop(loop, sig);
  return 1;
}

/* ---- errors, debug, stats ---------------------------------------------- */
static int uvn_set_error_handler(evl_loop *loop, evl_error_handler h,
                                 void *arg) {
  return evl__nset_error_handler(EVL__NB(loop), h, arg);
}

static int uvn_report_error(evl_loop *loop, int code, const char *message) {
  int rc = evl__ncheck(EVL__NB(loop));
  if (rc)
    return rc;
  evl__nreport(&loop->b, code, "callback", message, -1, 0);
  return 0;
}

static int uvn_set_debug(evl_loop *loop, int on) {
  if (!loop)
    return -EINVAL;
  if (loop->b.closed)
    return EVL_ECLOSED;
  loop->b.debug = on != 0;
  return 0;
}

static int uvn_set_slow_callback_ns(evl_loop *loop, uint64_t ns) {
  if (!loop)
    return -EINVAL;
  if (loop->b.closed)
    return EVL_ECLOSED;
  loop->b.slow_ns = ns ? ns : 100000000ull;
  return 0;
}

static int uvn_loop_stats(const evl_loop *loop, evl_loop_stats *out) {
  if (!loop)
    return -EINVAL;
  if (loop->b.closed)
    return EVL_ECLOSED;
  if (!out)
    return -EINVAL;
  *out = loop->b.st;
  out->timers = loop->b.ntimers;
  out->fds = loop->b.nfds;
  return 0;
}

/* ---- life cycle --------------------------------------------------------- */
static void uvn_close_embedded(uv_handle_t *h) {
  if (!uv_is_closing(h))
    uv_close(h, NULL);
}

/* Closes every handle, lets libuv run their close callbacks, then closes
 * the libuv loop, which must then report nothing left (returns 0). */
static int uvn_teardown(evl_loop *loop) {
  for (int sig = 1; sig < NSIG; sig++)
    if (loop->sigs[sig])
      uvn_sig_drop(loop, sig);
  if (loop->handles_inited) {
    uvn_close_embedded((uv_handle_t *)&loop->idle);
    uvn_close_embedded((uv_handle_t *)&loop->check);
    uvn_close_embedded((uv_handle_t *)&loop->prep);
    uvn_close_embedded((uv_handle_t *)&loop->async);
    loop->handles_inited = 0;
  }
  for (uint32_t i = 0; i < loop->b.slots.len; i++) {
    evl__nslot *sl = &loop->b.slots.v[i];
    if (sl->kind == EVL__NK_TIMER)
      uv_close((uv_handle_t *)&((uvn_timer *)sl->u.ptr)->t, uvn_free_cb);
  }
  while (loop->tfree) {
    uvn_timer *tm = loop->tfree;
    loop->tfree = tm->next_free;
    uv_close((uv_handle_t *)&tm->t, uvn_free_cb);
  }
  for (int fd = 0; fd < loop->fds_cap; fd++)
    if (loop->fds[fd])
      uv_close((uv_handle_t *)&loop->fds[fd]->p, uvn_free_cb);
  free(loop->fds);
  loop->fds = NULL;
  loop->fds_cap = 0;
  int rc = 0;
  if (loop->uv_inited) {
    uv_run(&loop->uv, UV_RUN_DEFAULT);
    rc = uv_loop_close(&loop->uv);
    loop->uv_inited = 0;
  }
  return rc;
}

static int uvn_loop_new(const void *data, const evl_impl_config *cfg,
                        evl_loop **out) {
  (void)data;
  if (!out)
    return -EINVAL;
  *out = NULL;
  evl_loop *loop = calloc(1, sizeof *loop);
  if (!loop)
    return -ENOMEM;
  int rc = evl__nbase_init(&loop->b, &uvn_ops, cfg);
  if (rc < 0) {
    free(loop);
    return rc;
  }
  loop->b.timer_release = uvn_timer_release;
  if ((rc = uv_loop_init(&loop->uv)) < 0)
    goto fail;
  loop->uv_inited = 1;
  if ((rc = uv_async_init(&loop->uv, &loop->async, uvn_async_cb)) < 0)
    goto fail;
  uv_idle_init(&loop->uv, &loop->idle);
  uv_check_init(&loop->uv, &loop->check);
  uv_prepare_init(&loop->uv, &loop->prep);
  loop->handles_inited = 1;
  uv_check_start(&loop->check, uvn_check_cb);
  uv_prepare_start(&loop->prep, uvn_prepare_cb);
  *out = loop;
  return 0;
fail:
  uvn_teardown(loop);
  evl__nbase_fini(&loop->b);
  evl__nbase_destroy(&loop->b);
  free(loop);
  return rc;
}

static int uvn_loop_close(evl_loop *loop) {
  if (!loop)
    return 0;
  if (loop->b.running)
    return -EBUSY;
  if (loop->b.closed)
    return 0;
  /* Workers post through the cross-thread queue: join them first. */
  evl__nexec_shutdown(&loop->b);
  loop->b.closed = 1;
  evl__nts_close(&loop->b);
  int rc = uvn_teardown(loop);
  if (rc < 0) /* a handle outlived its close: a bug here, not the user's */
    evl__nreport(&loop->b, rc, "loop close", "uv_loop_close", -1, 0);
  evl__nbase_fini(&loop->b);
  return 0;
}

static int uvn_loop_free(evl_loop *loop) {
  if (!loop)
    return 0;
  int rc = uvn_loop_close(loop);
  if (rc < 0)
    return rc;
  evl__nbase_destroy(&loop->b);
  free(loop);
  return 0;
}

static evl_loop *uvn_get_running_loop(void) {
  return evl__nget_running();
}

static const evl_deviation uvn_deviations[] = {
    {"s6_hangup_wakes_both",
     "uv_poll passes EPOLLHUP on only when it comes alone: with EPOLLIN "
     "(data or EOF) beside it, a writer blocked on a full buffer is not "
     "woken by the peer's hang-up"},
    {"s6_close_before_remove_dup_no_spin",
     "libuv cannot take an fd out of epoll once its number is closed "
     "(EPOLL_CTL_DEL gets EBADF) and a dup keeps the file open: epoll keeps "
     "reporting it and the loop wakes without work (libuv documents: never "
     "close an fd under an active uv_poll_t)"},
    {NULL, NULL},
};

static const evl_impl_ops uvn_ops = {
    .abi = EVL_IMPL_ABI,
    .size = sizeof(evl_impl_ops),
    .name = "native-libuv",
    .description = "libuv's own loop: uv_timer, uv_poll, uv_async; "
                   "uv_check + uv_idle run the call_soon FIFO",
    .features = EVL_IF_THREADSAFE | EVL_IF_DEBUG | EVL_IF_STATS |
                EVL_IF_ERRORS | EVL_IF_RUNNING | EVL_IF_FUTURES |
                EVL_IF_SIGNALS | EVL_IF_EXECUTOR,
    .deviations = uvn_deviations,
    .loop_new = uvn_loop_new,
    .loop_close = uvn_loop_close,
    .loop_free = uvn_loop_free,
    .backend_name = uvn_backend_name,
    .call_soon = uvn_call_soon,
    .call_later = uvn_call_later,
    .call_at = uvn_call_at,
    .cancel = uvn_cancel,
    .add_reader = uvn_add_reader,
    .remove_reader = uvn_remove_reader,
    .add_writer = uvn_add_writer,
    .remove_writer = uvn_remove_writer,
    .run_forever = uvn_run_forever,
    .run_once = uvn_run_once,
    .stop = uvn_stop,
    .is_running = uvn_is_running,
    .time = uvn_time,
    .call_soon_threadsafe = uvn_call_soon_threadsafe,
    .stop_threadsafe = uvn_stop_threadsafe,
    .get_running_loop = uvn_get_running_loop,
    .set_error_handler = uvn_set_error_handler,
    .report_error = uvn_report_error,
    .set_debug = uvn_set_debug,
    .set_slow_callback_ns = uvn_set_slow_callback_ns,
    .add_signal_handler = uvn_add_signal_handler,
    .remove_signal_handler = uvn_remove_signal_handler,
    .future_new = evl__nfuture_new,
    .future_retain = evl__nfuture_retain,
    .future_release = evl__nfuture_release,
    .future_set_result = evl__nfuture_set_result,
    .future_set_error = evl__nfuture_set_error,
    .future_cancel = evl__nfuture_cancel,
    .future_state = evl__nfuture_state,
    .future_result = evl__nfuture_result,
    .future_add_done_callback = evl__nfuture_add_done_callback,
    .run_until_complete = evl__nrun_until_complete,
    .run_in_executor = evl__nrun_in_executor,
    .loop_stats = uvn_loop_stats,
};

/* The first uv_loop_init() of a process opens a pipe that libuv keeps for
 * the process's lifetime (its signal lock). Opening it when the plugin is
 * looked up, with a throwaway loop, keeps it out of every loop's own
 * accounting: closing a loop then gives back exactly what it took (S8). */
static void uvn_global_init(void) {
  uv_loop_t tmp;
  if (uv_loop_init(&tmp) == 0)
    uv_loop_close(&tmp);
}

const evl_impl_ops *evl_impl_plugin(void) {
  static pthread_once_t once = PTHREAD_ONCE_INIT;
  pthread_once(&once, uvn_global_init);
  return &uvn_ops;
}
