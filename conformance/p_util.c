/* p_util.c — helpers for the P-tests (see p_util.h). */
#include <stdlib.h>
#include <string.h>

#include "p_util.h"
#undef evl_proactor_close

/* The guard (P3): each watcher a proactor adds is registered as a
 * trampoline whose slot names the proactor's callback and argument (the
 * proactor). Each test runs in a process of its own. */
typedef struct pp_watch {
  evl_loop *loop;
  int fd, dir;
  evl_io_cb cb;
  void *arg;
} pp_watch;
static pp_watch pp_watches[256];
static void *pp_closed[64]; /* proactors closed by the test */
static int pp_nclosed, pp_after_close;
static evl_impl_ops pp_ops;
static const evl_impl_ops *pp_real;

static void pp_tramp(int fd, unsigned events, void *arg) {
  pp_watch *w = arg;
  for (int i = 0; i < pp_nclosed; i++)
    if (pp_closed[i] == w->arg) {
      pp_after_close++; /* its proactor is freed: not passed on */
      return;
    }
  w->cb(fd, events, w->arg);
}

static int pp_add(evl_loop *loop, int fd, evl_io_cb cb, void *arg, int dir) {
  pp_watch *w = NULL;
  for (size_t i = 0; i < sizeof pp_watches / sizeof pp_watches[0]; i++) {
    pp_watch *c = &pp_watches[i];
    if (c->cb && c->loop == loop && c->fd == fd && c->dir == dir) {
      w = c;
      break;
    }
    if (!c->cb && !w)
      w = c;
  }
  if (!w || !cb) /* table full (never in these tests) or refused anyway */
    return dir ? pp_real->add_writer(loop, fd, cb, arg)
               : pp_real->add_reader(loop, fd, cb, arg);
  pp_watch old = *w;
  *w = (pp_watch){.loop = loop, .fd = fd, .dir = dir, .cb = cb, .arg = arg};
  int rc = dir ? pp_real->add_writer(loop, fd, pp_tramp, w)
               : pp_real->add_reader(loop, fd, pp_tramp, w);
  if (rc < 0)
    *w = old;
  return rc;
}

static int pp_add_reader(evl_loop *loop, int fd, evl_io_cb cb, void *arg) {
  return pp_add(loop, fd, cb, arg, 0);
}

static int pp_add_writer(evl_loop *loop, int fd, evl_io_cb cb, void *arg) {
  return pp_add(loop, fd, cb, arg, 1);
}

static const evl_impl_ops *pp_guarded_ops(evl_tctx *t) {
  if (pp_real != OPS) {
    pp_real = OPS;
    pp_ops = *OPS;
    pp_ops.add_reader = pp_add_reader;
    pp_ops.add_writer = pp_add_writer;
  }
  return &pp_ops;
}

int pp_proactor_close(evl_proactor *p) {
  int rc = evl_proactor_close(p);
  if (rc == 0 && pp_nclosed < (int)(sizeof pp_closed / sizeof pp_closed[0]))
    pp_closed[pp_nclosed++] = p;
  return rc;
}

evl_proactor *pp_proactor(evl_tctx *t, evl_loop *loop) {
  evl_proactor *p = NULL;
  /* EVL_PROACTOR=uring runs the P-tests on the io_uring engine instead of
   * the emulation over readiness. It gets the implementation's own ops,
   * unguarded: the engine shares the ring of a backend that lends it only
   * under the reference core's own add_reader. */
  const char *kind = getenv("EVL_PROACTOR");
  if (kind && strcmp(kind, "uring") == 0) {
    int rc = evl_proactor_new_uring(OPS, loop, &p);
    if (rc == -ENOTSUP || rc == -ENOSYS || rc == -EPERM)
      T_SKIP(t, "no io_uring proactor here: %s", evl_strerror(rc));
    T_OK(t, "evl_proactor_new_uring", rc);
  } else
    T_OK(t, "evl_proactor_new", evl_proactor_new(pp_guarded_ops(t), loop, &p));
  /* A proactor made at the address of one closed before is alive. */
  for (int i = 0; i < pp_nclosed; i++)
    if (pp_closed[i] == p)
      pp_closed[i] = NULL;
  return p;
}

void pp_open(evl_tctx *t, pp_env *e, int watchdog_ms) {
  memset(e, 0, sizeof *e);
  e->t = t;
  e->loop = st_loop(t);
  e->p = pp_proactor(t, e->loop);
  if (watchdog_ms > 0)
    st_watchdog(t, e->loop, watchdog_ms);
}

void pp_close(pp_env *e) {
  evl_tctx *t = e->t;
  if (e->p)
    T_OK(t, "evl_proactor_close", pp_proactor_close(e->p));
  e->p = NULL;
  pp_spin(e, 2); /* a watcher left behind is called now */
  if (pp_after_close)
    T_FAIL(t,
           "P3: the loop called watchers of a closed proactor %d times "
           "(expected 0: close removes every watcher it registered)",
           pp_after_close);
  st_free(t, e->loop);
  e->loop = NULL;
}

void pp_done(ssize_t result, void *arg) {
  pp_rec *r = arg;
  r->calls++;
  r->result = result;
  if (r->seq)
    r->order = ++*r->seq;
}

static int pp_stopped;
static void pp_on_stop(void *arg) {
  (void)arg;
  pp_stopped = 1;
}

void pp_run_until(pp_env *e, const int *flag) {
  evl_tctx *t = e->t;
  /* The watchdog stops run_forever; run_once returns after it, so a
   * second timer of our own marks that the time ran out: after 5 s, half
   * the P-tests' 10 s timeout, so that a completion that never comes is a
   * FAIL naming what was awaited rather than the harness's TIMEOUT. */
  pp_stopped = 0;
  evl_handle h = 0;
  T_OK(t, "call_later (deadline)",
       t->impl->call_later(
           e->loop,
           (int64_t)(5e9 * (t->timeout_scale >= 1 ? t->timeout_scale : 1)),
           pp_on_stop, NULL, &h));
  while (!*flag && !pp_stopped)
    T_OK(t, "run_once", t->impl->run_once(e->loop));
  if (!pp_stopped)
    t->impl->cancel(e->loop, h);
  T_TRUE(t, "the awaited completion arrived before the deadline", *flag);
}

void pp_spin(pp_env *e, int n) {
  evl_tctx *t = e->t;
  for (int i = 0; i < n; i++) {
    evl_handle h;
    /* A due timer keeps run_once from blocking. */
    T_OK(t, "call_soon", t->impl->call_soon(e->loop, pp_on_stop, NULL, &h));
    T_OK(t, "run_once", t->impl->run_once(e->loop));
  }
}
