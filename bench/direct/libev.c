/* libev.c — direct-libev: the benchmarks written straight against libev, as
 * its users write them (ev_io per fd, ev_timer_again for timeouts, ev_idle
 * for per-iteration work); a module of its own, loaded RTLD_LOCAL. */
#include "../kernels.h"

#include <ev.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>

#define DEV_OF(ptr, type, member)                                              \
  ((type *)(void *)((char *)(ptr)-offsetof(type, member)))

static struct ev_loop *dev_loop_new(void) {
  /* EVFLAG_AUTO picks epoll here, as every other implementation does. */
  return ev_loop_new(EVFLAG_AUTO | EVFLAG_NOENV);
}

static ev_tstamp dev_secs(int64_t ns) {
  return (ev_tstamp)ns / 1e9;
}

/* ---- chain ----------------------------------------------------------------
 * One ev_io and one ev_timer per fd; the timeout is libev's idiom for an
 * inactivity timer: ev_timer_again on every event. */
typedef struct dev_slot {
  ev_io io;
  ev_timer timer;
  bench_chain_state *ch;
  int idx;
} dev_slot;

typedef struct dev_chain {
  struct ev_loop *loop;
  dev_slot *slots;
} dev_chain;

static void dev_chain_timeout(struct ev_loop *l, ev_timer *w, int rev) {
  (void)l;
  (void)w;
  (void)rev;
}

static void dev_chain_read(struct ev_loop *l, ev_io *w, int rev) {
  (void)rev;
  dev_slot *s = DEV_OF(w, dev_slot, io);
  bench_chain_state *ch = s->ch;
  if (ch->timeouts) {
    s->timer.repeat = dev_secs(bench_chain_timeout(ch));
    ev_timer_again(l, &s->timer);
  }
  bench_chain_event(ch, s->idx);
}

static int dev_chain_open(bench_chain_state *ch) {
  dev_chain *d = calloc(1, sizeof *d);
  if (d)
    d->slots = calloc((size_t)ch->n, sizeof *d->slots);
  if (d && d->slots)
    d->loop = dev_loop_new();
  if (!d || !d->slots || !d->loop) {
    if (d)
      free(d->slots);
    free(d);
    return -ENOMEM;
  }
  for (int i = 0; i < ch->n; i++) {
    dev_slot *s = &d->slots[i];
    s->ch = ch;
    s->idx = i;
    ev_io_init(&s->io, dev_chain_read, ch->pairs[i][0], EV_READ);
    ev_init(&s->timer, dev_chain_timeout);
  }
  ch->k = d;
  return 0;
}

static int dev_chain_setup(bench_chain_state *ch) {
  dev_chain *d = ch->k;
  for (int i = 0; i < ch->n; i++) {
    dev_slot *s = &d->slots[i];
    if (ch->registered) {
      ev_io_stop(d->loop, &s->io);
      ev_timer_stop(d->loop, &s->timer);
    }
    ev_io_start(d->loop, &s->io);
    if (ch->timeouts) {
      s->timer.repeat = dev_secs(bench_chain_timeout(ch));
      ev_timer_again(d->loop, &s->timer);
    }
  }
  ch->registered = 1;
  ev_run(d->loop, EVRUN_NOWAIT);
  return 0;
}

static int dev_chain_loop(bench_chain_state *ch) {
  dev_chain *d = ch->k;
  while (ch->count != ch->fired)
    ev_run(d->loop, EVRUN_ONCE);
  return 0;
}

static void dev_chain_close(bench_chain_state *ch) {
  dev_chain *d = ch->k;
  ev_loop_destroy(d->loop);
  free(d->slots);
  free(d);
  ch->k = NULL;
}

static const bench_chain_kernel dev_chain_kernel = {
    dev_chain_open, dev_chain_setup, dev_chain_loop, dev_chain_close};

/* ---- idle ------------------------------------------------------------------
 */
typedef struct dev_idle {
  struct ev_loop *loop;
  ev_io *ios;
  int nios, cap;
} dev_idle;

static void dev_idle_quiet(struct ev_loop *l, ev_io *w, int rev) {
  (void)l;
  (void)rev;
  ((bench_idle_state *)w->data)->rc = -EPROTO;
}

static void dev_idle_active(struct ev_loop *l, ev_io *w, int rev) {
  (void)l;
  (void)rev;
  bench_idle_active(w->data, w->fd);
}

/* Watchers are linked into the loop, so their array never moves: sized
 * up front for every fd the process may open. */
static int dev_idle_open(bench_idle_state *id) {
  dev_idle *d = calloc(1, sizeof *d);
  if (d) {
    d->cap = bench_max_pairs() * 2 + 4;
    d->ios = calloc((size_t)d->cap, sizeof *d->ios);
  }
  if (d && d->ios)
    d->loop = dev_loop_new();
  if (!d || !d->loop) {
    if (d)
      free(d->ios);
    free(d);
    return -ENOMEM;
  }
  id->k = d;
  return 0;
}

static int dev_idle_add(bench_idle_state *id, int fd,
                        void (*cb)(struct ev_loop *, ev_io *, int)) {
  dev_idle *d = id->k;
  if (d->nios == d->cap)
    return -ENOMEM;
  ev_io *w = &d->ios[d->nios++];
  ev_io_init(w, cb, fd, EV_READ);
  w->data = id;
  ev_io_start(d->loop, w);
  return 0;
}

static int dev_idle_add_quiet(bench_idle_state *id, int fd) {
  return dev_idle_add(id, fd, dev_idle_quiet);
}

static int dev_idle_add_active(bench_idle_state *id) {
  return dev_idle_add(id, id->active[0], dev_idle_active);
}

static int dev_idle_run(bench_idle_state *id) {
  dev_idle *d = id->k;
  while (id->rc == 0 && id->left > 0)
    ev_run(d->loop, EVRUN_ONCE);
  return 0;
}

static void dev_idle_close(bench_idle_state *id) {
  dev_idle *d = id->k;
  ev_loop_destroy(d->loop);
  free(d->ios);
  free(d);
  id->k = NULL;
}

static const bench_idle_kernel dev_idle_kernel = {
    dev_idle_open, dev_idle_add_quiet, dev_idle_add_active, dev_idle_run,
    dev_idle_close};

/* ---- timers ----------------------------------------------------------------
 */
typedef struct dev_timers {
  struct ev_loop *loop;
  ev_timer *w;
} dev_timers;

static void dev_timer_cb(struct ev_loop *l, ev_timer *w, int rev) {
  (void)l;
  (void)rev;
  ((bench_timers_state *)w->data)->fired++;
}

static int dev_timers_open(bench_timers_state *t) {
  dev_timers *d = calloc(1, sizeof *d);
  if (d)
    d->w = calloc((size_t)t->n, sizeof *d->w);
  if (d && d->w)
    d->loop = dev_loop_new();
  if (!d || !d->w || !d->loop) {
    if (d)
      free(d->w);
    free(d);
    return -ENOMEM;
  }
  for (long i = 0; i < t->n; i++) {
    ev_init(&d->w[i], dev_timer_cb);
    d->w[i].data = t;
  }
  t->upfront_bytes = (long)sizeof(ev_timer);
  t->k = d;
  ev_run(d->loop, EVRUN_NOWAIT);
  return 0;
}

static int dev_timers_start(bench_timers_state *t, int far) {
  dev_timers *d = t->k;
  for (long i = 0; i < t->n; i++) {
    int64_t ns = far ? bench_timers_far(t) : bench_timers_near(t);
    ev_timer_set(&d->w[i], dev_secs(ns), 0.);
    ev_timer_start(d->loop, &d->w[i]);
  }
  return 0;
}

static int dev_timers_insert(bench_timers_state *t) {
  /* libev reads the clock once per iteration: refresh it, as a program
   * that computed deadlines after a pause would. */
  ev_now_update(((dev_timers *)t->k)->loop);
  return dev_timers_start(t, 0);
}

static int dev_timers_insert_far(bench_timers_state *t) {
  return dev_timers_start(t, 1);
}

static int dev_timers_fire(bench_timers_state *t) {
  dev_timers *d = t->k;
  while (t->fired < t->n)
    ev_run(d->loop, EVRUN_ONCE);
  return 0;
}

static int dev_timers_cancel(bench_timers_state *t, long *refused) {
  dev_timers *d = t->k;
  (void)refused;
  for (long i = 0; i < t->n; i++)
    ev_timer_stop(d->loop, &d->w[t->order[i]]);
  ev_run(d->loop, EVRUN_NOWAIT);
  return 0;
}

/* ev_timer_again moves a running timer to now + repeat, in place. */
static int dev_timers_rearm(bench_timers_state *t) {
  dev_timers *d = t->k;
  for (long i = 0; i < t->n; i++) {
    ev_timer *w = &d->w[t->order[i]];
    w->repeat = dev_secs(bench_timers_far(t));
    ev_timer_again(d->loop, w);
  }
  return 0;
}

static void dev_timers_close(bench_timers_state *t) {
  dev_timers *d = t->k;
  ev_loop_destroy(d->loop);
  free(d->w);
  free(d);
  t->k = NULL;
}

static const bench_timers_kernel dev_timers_kernel = {
    dev_timers_open,       dev_timers_insert, dev_timers_fire,
    dev_timers_insert_far, dev_timers_cancel, dev_timers_rearm,
    dev_timers_close};

/* ---- callbacks
 * --------------------------------------------------------------- libev has no
 * call-soon queue: work for the next iteration is an ev_idle watcher (chain:
 * one, running once per iteration until stopped; fan-out: `fanout` of them
 * started at once, each stopping itself). */
typedef struct dev_cb {
  struct ev_loop *loop;
  ev_idle one;
  ev_idle *many;
} dev_cb;

static void dev_cb_chain(struct ev_loop *l, ev_idle *w, int rev) {
  (void)rev;
  bench_callbacks_state *cb = w->data;
  if (--cb->left <= 0) {
    ev_idle_stop(l, w);
    ev_break(l, EVBREAK_ALL);
  }
}

static void dev_cb_spawn(bench_callbacks_state *cb);

static void dev_cb_leaf(struct ev_loop *l, ev_idle *w, int rev) {
  (void)rev;
  bench_callbacks_state *cb = w->data;
  ev_idle_stop(l, w);
  cb->left--;
  if (--cb->pending == 0) {
    if (cb->left <= 0)
      ev_break(l, EVBREAK_ALL);
    else
      dev_cb_spawn(cb);
  }
}

static void dev_cb_spawn(bench_callbacks_state *cb) {
  dev_cb *d = cb->k;
  for (int i = 0; i < cb->fanout; i++) {
    ev_idle_start(d->loop, &d->many[i]);
    cb->pending++;
  }
}

static int dev_cb_open(bench_callbacks_state *cb) {
  dev_cb *d = calloc(1, sizeof *d);
  if (d && cb->fanout)
    d->many = calloc((size_t)cb->fanout, sizeof *d->many);
  if (d && (d->many || !cb->fanout))
    d->loop = dev_loop_new();
  if (!d || !d->loop) {
    if (d)
      free(d->many);
    free(d);
    return -ENOMEM;
  }
  ev_idle_init(&d->one, dev_cb_chain);
  d->one.data = cb;
  for (int i = 0; i < cb->fanout; i++) {
    ev_idle_init(&d->many[i], dev_cb_leaf);
    d->many[i].data = cb;
  }
  cb->k = d;
  return 0;
}

static int dev_cb_run(bench_callbacks_state *cb) {
  dev_cb *d = cb->k;
  if (cb->fanout)
    dev_cb_spawn(cb);
  else
    ev_idle_start(d->loop, &d->one);
  ev_run(d->loop, 0);
  return 0;
}

static void dev_cb_close(bench_callbacks_state *cb) {
  dev_cb *d = cb->k;
  ev_loop_destroy(d->loop);
  free(d->many);
  free(d);
  cb->k = NULL;
}

static const bench_callbacks_kernel dev_cb_kernel = {dev_cb_open, dev_cb_run,
                                                     dev_cb_close};

/* ---- pingpong
 * ---------------------------------------------------------------- */
typedef struct dev_pp {
  struct ev_loop *loop;
  ev_io server, client;
} dev_pp;

static void dev_pp_server(struct ev_loop *l, ev_io *w, int rev) {
  (void)rev;
  bench_pingpong_state *p = w->data;
  bench_pingpong_result(p, bench_pingpong_serve(p));
  if (p->done)
    ev_break(l, EVBREAK_ALL);
}

static void dev_pp_client(struct ev_loop *l, ev_io *w, int rev) {
  (void)rev;
  bench_pingpong_state *p = w->data;
  bench_pingpong_result(p, bench_pingpong_client(p));
  if (p->done)
    ev_break(l, EVBREAK_ALL);
}

static int dev_pp_open(bench_pingpong_state *p) {
  dev_pp *d = calloc(1, sizeof *d);
  if (!d || !(d->loop = dev_loop_new())) {
    free(d);
    return -ENOMEM;
  }
  ev_io_init(&d->server, dev_pp_server, p->sfd, EV_READ);
  ev_io_init(&d->client, dev_pp_client, p->cfd, EV_READ);
  d->server.data = d->client.data = p;
  ev_io_start(d->loop, &d->server);
  ev_io_start(d->loop, &d->client);
  p->k = d;
  return 0;
}

static int dev_pp_run(bench_pingpong_state *p) {
  ev_run(((dev_pp *)p->k)->loop, 0);
  return 0;
}

static void dev_pp_close(bench_pingpong_state *p) {
  dev_pp *d = p->k;
  ev_io_stop(d->loop, &d->server);
  ev_io_stop(d->loop, &d->client);
  ev_loop_destroy(d->loop);
  free(d);
  p->k = NULL;
}

static const bench_pingpong_kernel dev_pp_kernel = {dev_pp_open, dev_pp_run,
                                                    dev_pp_close};

/* ---- echo
 * -------------------------------------------------------------------- An ev_io
 * per connection, switched between EV_READ and EV_WRITE with stop / set / start
 * (libev's way to change a watcher's events). */
typedef struct dev_echo {
  struct ev_loop *loop;
  ev_io listen;
  ev_io *conn; /* by fd */
} dev_echo;

static void dev_echo_accept(struct ev_loop *l, ev_io *w, int rev) {
  (void)l;
  (void)rev;
  bench_echo_accept(w->data);
}

static void dev_echo_ready(struct ev_loop *l, ev_io *w, int rev) {
  (void)l;
  (void)rev;
  bench_echo_ready(w->data, w->fd);
}

static int dev_echo_open(bench_echo_srv *s) {
  dev_echo *d = calloc(1, sizeof *d);
  if (d)
    d->conn = calloc((size_t)s->maxfd, sizeof *d->conn);
  if (d && d->conn)
    d->loop = dev_loop_new();
  if (!d || !d->loop) {
    if (d)
      free(d->conn);
    free(d);
    return -ENOMEM;
  }
  s->k = d;
  ev_io_init(&d->listen, dev_echo_accept, s->lfd, EV_READ);
  d->listen.data = s;
  ev_io_start(d->loop, &d->listen);
  return 0;
}

static int dev_echo_add(bench_echo_srv *s, int fd) {
  dev_echo *d = s->k;
  ev_io_init(&d->conn[fd], dev_echo_ready, fd, EV_READ);
  d->conn[fd].data = s;
  ev_io_start(d->loop, &d->conn[fd]);
  return 0;
}

static int dev_echo_want(bench_echo_srv *s, int fd, int write) {
  dev_echo *d = s->k;
  ev_io_stop(d->loop, &d->conn[fd]);
  ev_io_set(&d->conn[fd], fd, write ? EV_WRITE : EV_READ);
  ev_io_start(d->loop, &d->conn[fd]);
  return 0;
}

static void dev_echo_del(bench_echo_srv *s, int fd) {
  dev_echo *d = s->k;
  ev_io_stop(d->loop, &d->conn[fd]);
}

static int dev_echo_iterate(bench_echo_srv *s) {
  ev_run(((dev_echo *)s->k)->loop, EVRUN_ONCE);
  return 0;
}

static void dev_echo_close(bench_echo_srv *s) {
  dev_echo *d = s->k;
  ev_io_stop(d->loop, &d->listen);
  ev_loop_destroy(d->loop);
  free(d->conn);
  free(d);
  s->k = NULL;
}

static const bench_echo_kernel dev_echo_kernel = {
    dev_echo_open, dev_echo_add,     dev_echo_want,
    dev_echo_del,  dev_echo_iterate, dev_echo_close};

/* ---- the module
 * -------------------------------------------------------------- */
static const char *dev_backend(void) {
  struct ev_loop *l = dev_loop_new();
  unsigned b = l ? ev_backend(l) : 0;
  if (l)
    ev_loop_destroy(l);
  return b & EVBACKEND_EPOLL      ? "epoll"
         : b & EVBACKEND_LINUXAIO ? "linuxaio"
         : b & EVBACKEND_IOURING  ? "io_uring"
         : b & EVBACKEND_POLL     ? "poll"
         : b & EVBACKEND_SELECT   ? "select"
                                  : "?";
}

static const char *dev_version(void) {
  static char v[32];
  snprintf(v, sizeof v, "%d.%d", ev_version_major(), ev_version_minor());
  return v;
}

const bench_direct bench_direct_module = {
    .abi = BENCH_DIRECT_ABI,
    .lib = "libev",
    .backend = dev_backend,
    .version = dev_version,
    .chain = &dev_chain_kernel,
    .idle = &dev_idle_kernel,
    .timers = &dev_timers_kernel,
    .callbacks = &dev_cb_kernel,
    .pingpong = &dev_pp_kernel,
    .echo = &dev_echo_kernel,
};
