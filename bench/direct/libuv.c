/* libuv.c — direct-libuv: the benchmarks written straight against libuv, as
 * its users write them for fds they read themselves (uv_poll_t per fd,
 * uv_timer_start on a running timer to push a timeout back, uv_idle_t for
 * per-iteration work); a module of its own, loaded RTLD_LOCAL. */
#include "../kernels.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <uv.h>

#define DUV_OF(ptr, type, member)                                              \
  ((type *)(void *)((char *)(ptr)-offsetof(type, member)))

static uint64_t duv_ms(int64_t ns) {
  return (uint64_t)(ns / 1000000);
}

static void duv_noop_close(uv_handle_t *h) {
  (void)h;
}

static void duv_close_walk(uv_handle_t *h, void *arg) {
  (void)arg;
  if (!uv_is_closing(h))
    uv_close(h, duv_noop_close);
}

/* Closes every handle, lets their close callbacks run, closes the loop. */
static void duv_loop_done(uv_loop_t *loop) {
  uv_walk(loop, duv_close_walk, NULL);
  uv_run(loop, UV_RUN_DEFAULT);
  uv_loop_close(loop);
}

/* ---- chain ------------------------------------------------------------------
 */
typedef struct duv_slot {
  uv_poll_t poll;
  uv_timer_t timer;
  bench_chain_state *ch;
  int idx;
} duv_slot;

typedef struct duv_chain {
  uv_loop_t loop;
  duv_slot *slots;
} duv_chain;

static void duv_chain_timeout(uv_timer_t *t) {
  (void)t;
}

static void duv_chain_read(uv_poll_t *h, int status, int events) {
  (void)status;
  (void)events;
  duv_slot *s = DUV_OF(h, duv_slot, poll);
  bench_chain_state *ch = s->ch;
  /* uv_timer_start on a running timer moves it: libuv's idiom. */
  if (ch->timeouts)
    uv_timer_start(&s->timer, duv_chain_timeout,
                   duv_ms(bench_chain_timeout(ch)), 0);
  bench_chain_event(ch, s->idx);
}

static int duv_chain_open(bench_chain_state *ch) {
  duv_chain *d = calloc(1, sizeof *d);
  if (d)
    d->slots = calloc((size_t)ch->n, sizeof *d->slots);
  if (!d || !d->slots) {
    if (d)
      free(d->slots);
    free(d);
    return -ENOMEM;
  }
  int rc = uv_loop_init(&d->loop);
  for (int i = 0; rc == 0 && i < ch->n; i++) {
    duv_slot *s = &d->slots[i];
    s->ch = ch;
    s->idx = i;
    rc = uv_poll_init(&d->loop, &s->poll, ch->pairs[i][0]);
    if (rc == 0)
      rc = uv_timer_init(&d->loop, &s->timer);
  }
  ch->k = d;
  return rc;
}

static int duv_chain_setup(bench_chain_state *ch) {
  duv_chain *d = ch->k;
  for (int i = 0; i < ch->n; i++) {
    duv_slot *s = &d->slots[i];
    if (ch->registered) {
      uv_poll_stop(&s->poll);
      uv_timer_stop(&s->timer);
    }
    int rc = uv_poll_start(&s->poll, UV_READABLE, duv_chain_read);
    if (rc == 0 && ch->timeouts)
      rc = uv_timer_start(&s->timer, duv_chain_timeout,
                          duv_ms(bench_chain_timeout(ch)), 0);
    if (rc < 0)
      return rc;
  }
  ch->registered = 1;
  uv_run(&d->loop, UV_RUN_NOWAIT);
  return 0;
}

static int duv_chain_loop(bench_chain_state *ch) {
  duv_chain *d = ch->k;
  while (ch->count != ch->fired)
    uv_run(&d->loop, UV_RUN_ONCE);
  return 0;
}

static void duv_chain_close(bench_chain_state *ch) {
  duv_chain *d = ch->k;
  duv_loop_done(&d->loop);
  free(d->slots);
  free(d);
  ch->k = NULL;
}

static const bench_chain_kernel duv_chain_kernel = {
    duv_chain_open, duv_chain_setup, duv_chain_loop, duv_chain_close};

/* ---- idle -------------------------------------------------------------------
 */
typedef struct duv_idle {
  uv_loop_t loop;
  uv_poll_t *polls;
  int n, cap;
} duv_idle;

static void duv_idle_quiet(uv_poll_t *h, int status, int events) {
  (void)status;
  (void)events;
  ((bench_idle_state *)h->data)->rc = -EPROTO;
}

static void duv_idle_active(uv_poll_t *h, int status, int events) {
  (void)status;
  (void)events;
  bench_idle_state *id = h->data;
  bench_idle_active(id, id->active[0]);
}

static int duv_idle_open(bench_idle_state *id) {
  duv_idle *d = calloc(1, sizeof *d);
  if (d) {
    d->cap = bench_max_pairs() * 2 + 4;
    d->polls = calloc((size_t)d->cap, sizeof *d->polls);
  }
  if (!d || !d->polls) {
    if (d)
      free(d->polls);
    free(d);
    return -ENOMEM;
  }
  id->k = d;
  return uv_loop_init(&d->loop);
}

static int duv_idle_add(bench_idle_state *id, int fd, uv_poll_cb cb) {
  duv_idle *d = id->k;
  if (d->n == d->cap)
    return -ENOMEM;
  uv_poll_t *h = &d->polls[d->n];
  int rc = uv_poll_init(&d->loop, h, fd);
  if (rc < 0)
    return rc;
  d->n++;
  h->data = id;
  return uv_poll_start(h, UV_READABLE, cb);
}

static int duv_idle_add_quiet(bench_idle_state *id, int fd) {
  return duv_idle_add(id, fd, duv_idle_quiet);
}

static int duv_idle_add_active(bench_idle_state *id) {
  return duv_idle_add(id, id->active[0], duv_idle_active);
}

static int duv_idle_run(bench_idle_state *id) {
  duv_idle *d = id->k;
  while (id->rc == 0 && id->left > 0)
    uv_run(&d->loop, UV_RUN_ONCE);
  return 0;
}

static void duv_idle_close(bench_idle_state *id) {
  duv_idle *d = id->k;
  duv_loop_done(&d->loop);
  free(d->polls);
  free(d);
  id->k = NULL;
}

static const bench_idle_kernel duv_idle_kernel = {
    duv_idle_open, duv_idle_add_quiet, duv_idle_add_active, duv_idle_run,
    duv_idle_close};

/* ---- timers -----------------------------------------------------------------
 */
typedef struct duv_timers {
  uv_loop_t loop;
  uv_timer_t *w;
} duv_timers;

static void duv_timer_cb(uv_timer_t *h) {
  ((bench_timers_state *)h->data)->fired++;
}

static int duv_timers_open(bench_timers_state *t) {
  duv_timers *d = calloc(1, sizeof *d);
  if (d)
    d->w = calloc((size_t)t->n, sizeof *d->w);
  if (!d || !d->w) {
    if (d)
      free(d->w);
    free(d);
    return -ENOMEM;
  }
  t->k = d;
  int rc = uv_loop_init(&d->loop);
  for (long i = 0; rc == 0 && i < t->n; i++) {
    rc = uv_timer_init(&d->loop, &d->w[i]);
    d->w[i].data = t;
  }
  t->upfront_bytes = (long)sizeof(uv_timer_t);
  uv_run(&d->loop, UV_RUN_NOWAIT);
  return rc;
}

static int duv_timers_start(bench_timers_state *t, int far) {
  duv_timers *d = t->k;
  for (long i = 0; i < t->n; i++) {
    int64_t ns = far ? bench_timers_far(t) : bench_timers_near(t);
    int rc = uv_timer_start(&d->w[i], duv_timer_cb, duv_ms(ns), 0);
    if (rc < 0)
      return rc;
  }
  return 0;
}

static int duv_timers_insert(bench_timers_state *t) {
  /* libuv caches the time per iteration: refresh it first. */
  uv_update_time(&((duv_timers *)t->k)->loop);
  return duv_timers_start(t, 0);
}

static int duv_timers_insert_far(bench_timers_state *t) {
  return duv_timers_start(t, 1);
}

static int duv_timers_fire(bench_timers_state *t) {
  duv_timers *d = t->k;
  while (t->fired < t->n)
    uv_run(&d->loop, UV_RUN_ONCE);
  return 0;
}

static int duv_timers_cancel(bench_timers_state *t, long *refused) {
  duv_timers *d = t->k;
  for (long i = 0; i < t->n; i++)
    *refused += uv_timer_stop(&d->w[t->order[i]]) < 0;
  uv_run(&d->loop, UV_RUN_NOWAIT);
  return 0;
}

static int duv_timers_rearm(bench_timers_state *t) {
  duv_timers *d = t->k;
  for (long i = 0; i < t->n; i++) {
    int rc = uv_timer_start(&d->w[t->order[i]], duv_timer_cb,
                            duv_ms(bench_timers_far(t)), 0);
    if (rc < 0)
      return rc;
  }
  return 0;
}

static void duv_timers_close(bench_timers_state *t) {
  duv_timers *d = t->k;
  duv_loop_done(&d->loop);
  free(d->w);
  free(d);
  t->k = NULL;
}

static const bench_timers_kernel duv_timers_kernel = {
    duv_timers_open,       duv_timers_insert, duv_timers_fire,
    duv_timers_insert_far, duv_timers_cancel, duv_timers_rearm,
    duv_timers_close};

/* ---- callbacks
 * ----------------------------------------------------------------- libuv has
 * no call-soon queue: per-iteration work is a uv_idle_t, as in libuv's own
 * loop_count benchmark. */
typedef struct duv_cb {
  uv_loop_t loop;
  uv_idle_t one;
  uv_idle_t *many;
} duv_cb;

static void duv_cb_chain(uv_idle_t *h) {
  bench_callbacks_state *cb = h->data;
  if (--cb->left <= 0)
    uv_idle_stop(h);
}

static void duv_cb_spawn(bench_callbacks_state *cb);

static void duv_cb_leaf(uv_idle_t *h) {
  bench_callbacks_state *cb = h->data;
  uv_idle_stop(h);
  cb->left--;
  if (--cb->pending == 0 && cb->left > 0)
    duv_cb_spawn(cb);
}

static void duv_cb_spawn(bench_callbacks_state *cb) {
  duv_cb *d = cb->k;
  for (int i = 0; i < cb->fanout; i++) {
    uv_idle_start(&d->many[i], duv_cb_leaf);
    cb->pending++;
  }
}

static int duv_cb_open(bench_callbacks_state *cb) {
  duv_cb *d = calloc(1, sizeof *d);
  if (d && cb->fanout)
    d->many = calloc((size_t)cb->fanout, sizeof *d->many);
  if (!d || (cb->fanout && !d->many)) {
    free(d);
    return -ENOMEM;
  }
  cb->k = d;
  int rc = uv_loop_init(&d->loop);
  if (rc == 0)
    rc = uv_idle_init(&d->loop, &d->one);
  d->one.data = cb;
  for (int i = 0; rc == 0 && i < cb->fanout; i++) {
    rc = uv_idle_init(&d->loop, &d->many[i]);
    d->many[i].data = cb;
  }
  return rc;
}

/* The loop ends by itself when the last idle handle stops. */
static int duv_cb_run(bench_callbacks_state *cb) {
  duv_cb *d = cb->k;
  if (cb->fanout)
    duv_cb_spawn(cb);
  else
    uv_idle_start(&d->one, duv_cb_chain);
  uv_run(&d->loop, UV_RUN_DEFAULT);
  return 0;
}

static void duv_cb_close(bench_callbacks_state *cb) {
  duv_cb *d = cb->k;
  duv_loop_done(&d->loop);
  free(d->many);
  free(d);
  cb->k = NULL;
}

static const bench_callbacks_kernel duv_cb_kernel = {duv_cb_open, duv_cb_run,
                                                     duv_cb_close};

/* ---- pingpong
 * ---------------------------------------------------------------- */
typedef struct duv_pp {
  uv_loop_t loop;
  uv_poll_t server, client;
} duv_pp;

static void duv_pp_server(uv_poll_t *h, int status, int events) {
  (void)status;
  (void)events;
  bench_pingpong_state *p = h->data;
  bench_pingpong_result(p, bench_pingpong_serve(p));
  if (p->done)
    uv_stop(h->loop);
}

static void duv_pp_client(uv_poll_t *h, int status, int events) {
  (void)status;
  (void)events;
  bench_pingpong_state *p = h->data;
  bench_pingpong_result(p, bench_pingpong_client(p));
  if (p->done)
    uv_stop(h->loop);
}

static int duv_pp_open(bench_pingpong_state *p) {
  duv_pp *d = calloc(1, sizeof *d);
  if (!d)
    return -ENOMEM;
  p->k = d;
  int rc = uv_loop_init(&d->loop);
  if (rc == 0)
    rc = uv_poll_init(&d->loop, &d->server, p->sfd);
  if (rc == 0)
    rc = uv_poll_init(&d->loop, &d->client, p->cfd);
  d->server.data = d->client.data = p;
  if (rc == 0)
    rc = uv_poll_start(&d->server, UV_READABLE, duv_pp_server);
  if (rc == 0)
    rc = uv_poll_start(&d->client, UV_READABLE, duv_pp_client);
  return rc;
}

static int duv_pp_run(bench_pingpong_state *p) {
  uv_run(&((duv_pp *)p->k)->loop, UV_RUN_DEFAULT);
  return 0;
}

static void duv_pp_close(bench_pingpong_state *p) {
  duv_pp *d = p->k;
  duv_loop_done(&d->loop);
  free(d);
  p->k = NULL;
}

static const bench_pingpong_kernel duv_pp_kernel = {duv_pp_open, duv_pp_run,
                                                    duv_pp_close};

/* ---- echo
 * -------------------------------------------------------------------- A
 * uv_poll_t per connection (the server does its own reads and writes, as in
 * every other row); uv_poll_start on an active handle changes its events.
 * Handles are freed in their close callback: the fd number can be reused by the
 * next accept before libuv has finished closing. */
typedef struct duv_echo {
  uv_loop_t loop;
  uv_poll_t listen;
  uv_poll_t **conn; /* by fd */
} duv_echo;

static void duv_echo_accept(uv_poll_t *h, int status, int events) {
  (void)status;
  (void)events;
  bench_echo_accept(h->data);
}

static void duv_echo_ready(uv_poll_t *h, int status, int events) {
  (void)status;
  (void)events;
  uv_os_fd_t fd;
  if (uv_fileno((uv_handle_t *)h, &fd) == 0)
    bench_echo_ready(h->data, fd);
}

static void duv_echo_free(uv_handle_t *h) {
  free(h);
}

static int duv_echo_open(bench_echo_srv *s) {
  duv_echo *d = calloc(1, sizeof *d);
  if (d)
    d->conn = calloc((size_t)s->maxfd, sizeof *d->conn);
  if (!d || !d->conn) {
    if (d)
      free(d->conn);
    free(d);
    return -ENOMEM;
  }
  s->k = d;
  int rc = uv_loop_init(&d->loop);
  if (rc == 0)
    rc = uv_poll_init(&d->loop, &d->listen, s->lfd);
  d->listen.data = s;
  if (rc == 0)
    rc = uv_poll_start(&d->listen, UV_READABLE, duv_echo_accept);
  return rc;
}

static int duv_echo_add(bench_echo_srv *s, int fd) {
  duv_echo *d = s->k;
  uv_poll_t *h = malloc(sizeof *h);
  if (!h)
    return -ENOMEM;
  int rc = uv_poll_init(&d->loop, h, fd);
  if (rc < 0) {
    free(h);
    return rc;
  }
  h->data = s;
  d->conn[fd] = h;
  return uv_poll_start(h, UV_READABLE, duv_echo_ready);
}

static int duv_echo_want(bench_echo_srv *s, int fd, int write) {
  duv_echo *d = s->k;
  return uv_poll_start(d->conn[fd], write ? UV_WRITABLE : UV_READABLE,
                       duv_echo_ready);
}

static void duv_echo_del(bench_echo_srv *s, int fd) {
  duv_echo *d = s->k;
  if (d->conn[fd]) {
    uv_close((uv_handle_t *)d->conn[fd], duv_echo_free);
    d->conn[fd] = NULL;
  }
}

static int duv_echo_iterate(bench_echo_srv *s) {
  uv_run(&((duv_echo *)s->k)->loop, UV_RUN_ONCE);
  return 0;
}

/* Connection handles are malloc'ed; the listening one (arg) is not. */
static void duv_echo_close_walk(uv_handle_t *h, void *arg) {
  if (!uv_is_closing(h))
    uv_close(h, h == arg ? duv_noop_close : duv_echo_free);
}

static void duv_echo_close(bench_echo_srv *s) {
  duv_echo *d = s->k;
  uv_walk(&d->loop, duv_echo_close_walk, &d->listen);
  uv_run(&d->loop, UV_RUN_DEFAULT);
  uv_loop_close(&d->loop);
  free(d->conn);
  free(d);
  s->k = NULL;
}

static const bench_echo_kernel duv_echo_kernel = {
    duv_echo_open, duv_echo_add,     duv_echo_want,
    duv_echo_del,  duv_echo_iterate, duv_echo_close};

/* ---- the module
 * -------------------------------------------------------------- */
static const char *duv_backend(void) {
  return "epoll"; /* libuv on Linux has no other */
}

static const char *duv_version(void) {
  return uv_version_string();
}

const bench_direct bench_direct_module = {
    .abi = BENCH_DIRECT_ABI,
    .lib = "libuv",
    .backend = duv_backend,
    .version = duv_version,
    .chain = &duv_chain_kernel,
    .idle = &duv_idle_kernel,
    .timers = &duv_timers_kernel,
    .callbacks = &duv_cb_kernel,
    .pingpong = &duv_pp_kernel,
    .echo = &duv_echo_kernel,
};
