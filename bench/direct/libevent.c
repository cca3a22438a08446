/* libevent.c — direct-libevent: the benchmarks written straight against
 * libevent, as its users write them (a persistent event per fd, event_add
 * with a timeout to push it back, event_active and zero timeouts for
 * deferred work); a module of its own, loaded RTLD_LOCAL. */
#include "../kernels.h"

#include <event2/event.h>
#include <event2/event_struct.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static struct timeval dle_tv(int64_t ns) {
  struct timeval tv = {(time_t)(ns / 1000000000),
                       (long)(ns % 1000000000) / 1000};
  return tv;
}

/* ---- chain
 * ------------------------------------------------------------------- libev's
 * bench.c for libevent: event_add with a new timeout on the persistent read
 * event, every event. */
typedef struct dle_slot {
  struct event ev;
  bench_chain_state *ch;
  int idx;
} dle_slot;

typedef struct dle_chain {
  struct event_base *base;
  dle_slot *slots;
} dle_chain;

static void dle_chain_read(evutil_socket_t fd, short what, void *arg) {
  (void)fd;
  (void)what;
  dle_slot *s = arg;
  bench_chain_state *ch = s->ch;
  if (ch->timeouts) {
    struct timeval tv = dle_tv(bench_chain_timeout(ch));
    event_add(&s->ev, &tv);
  }
  bench_chain_event(ch, s->idx);
}

static int dle_chain_open(bench_chain_state *ch) {
  dle_chain *d = calloc(1, sizeof *d);
  if (d)
    d->slots = calloc((size_t)ch->n, sizeof *d->slots);
  if (d && d->slots)
    d->base = event_base_new();
  if (!d || !d->base) {
    if (d)
      free(d->slots);
    free(d);
    return -ENOMEM;
  }
  for (int i = 0; i < ch->n; i++) {
    d->slots[i].ch = ch;
    d->slots[i].idx = i;
  }
  ch->k = d;
  return 0;
}

static int dle_chain_setup(bench_chain_state *ch) {
  dle_chain *d = ch->k;
  for (int i = 0; i < ch->n; i++) {
    dle_slot *s = &d->slots[i];
    if (ch->registered)
      event_del(&s->ev);
    event_assign(&s->ev, d->base, ch->pairs[i][0], EV_READ | EV_PERSIST,
                 dle_chain_read, s);
    struct timeval tv;
    if (ch->timeouts)
      tv = dle_tv(bench_chain_timeout(ch));
    if (event_add(&s->ev, ch->timeouts ? &tv : NULL) < 0)
      return -EINVAL;
  }
  ch->registered = 1;
  event_base_loop(d->base, EVLOOP_ONCE | EVLOOP_NONBLOCK);
  return 0;
}

static int dle_chain_loop(bench_chain_state *ch) {
  dle_chain *d = ch->k;
  while (ch->count != ch->fired)
    if (event_base_loop(d->base, EVLOOP_ONCE) < 0)
      return -EIO;
  return 0;
}

static void dle_chain_close(bench_chain_state *ch) {
  dle_chain *d = ch->k;
  for (int i = 0; ch->registered && i < ch->n; i++)
    event_del(&d->slots[i].ev);
  event_base_free(d->base);
  free(d->slots);
  free(d);
  ch->k = NULL;
}

static const bench_chain_kernel dle_chain_kernel = {
    dle_chain_open, dle_chain_setup, dle_chain_loop, dle_chain_close};

/* ---- idle
 * ---------------------------------------------------------------------- */
typedef struct dle_idle {
  struct event_base *base;
  struct event *evs;
  int n, cap;
} dle_idle;

static void dle_idle_quiet(evutil_socket_t fd, short what, void *arg) {
  (void)fd;
  (void)what;
  ((bench_idle_state *)arg)->rc = -EPROTO;
}

static void dle_idle_active(evutil_socket_t fd, short what, void *arg) {
  (void)what;
  bench_idle_active(arg, (int)fd);
}

static int dle_idle_open(bench_idle_state *id) {
  dle_idle *d = calloc(1, sizeof *d);
  if (d) {
    d->cap = bench_max_pairs() * 2 + 4;
    d->evs = calloc((size_t)d->cap, sizeof *d->evs);
  }
  if (d && d->evs)
    d->base = event_base_new();
  if (!d || !d->base) {
    if (d)
      free(d->evs);
    free(d);
    return -ENOMEM;
  }
  id->k = d;
  return 0;
}

static int dle_idle_add(bench_idle_state *id, int fd, event_callback_fn cb) {
  dle_idle *d = id->k;
  if (d->n == d->cap)
    return -ENOMEM;
  struct event *ev = &d->evs[d->n];
  event_assign(ev, d->base, fd, EV_READ | EV_PERSIST, cb, id);
  if (event_add(ev, NULL) < 0)
    return -EINVAL;
  d->n++;
  return 0;
}

static int dle_idle_add_quiet(bench_idle_state *id, int fd) {
  return dle_idle_add(id, fd, dle_idle_quiet);
}

static int dle_idle_add_active(bench_idle_state *id) {
  return dle_idle_add(id, id->active[0], dle_idle_active);
}

static int dle_idle_run(bench_idle_state *id) {
  dle_idle *d = id->k;
  while (id->rc == 0 && id->left > 0)
    if (event_base_loop(d->base, EVLOOP_ONCE) < 0)
      return -EIO;
  return 0;
}

static void dle_idle_close(bench_idle_state *id) {
  dle_idle *d = id->k;
  for (int i = 0; i < d->n; i++)
    event_del(&d->evs[i]);
  event_base_free(d->base);
  free(d->evs);
  free(d);
  id->k = NULL;
}

static const bench_idle_kernel dle_idle_kernel = {
    dle_idle_open, dle_idle_add_quiet, dle_idle_add_active, dle_idle_run,
    dle_idle_close};

/* ---- timers
 * ------------------------------------------------------------------- */
typedef struct dle_timers {
  struct event_base *base;
  struct event *w;
} dle_timers;

static void dle_timer_cb(evutil_socket_t fd, short what, void *arg) {
  (void)fd;
  (void)what;
  ((bench_timers_state *)arg)->fired++;
}

static int dle_timers_open(bench_timers_state *t) {
  dle_timers *d = calloc(1, sizeof *d);
  if (d)
    d->w = calloc((size_t)t->n, sizeof *d->w);
  if (d && d->w)
    d->base = event_base_new();
  if (!d || !d->base) {
    if (d)
      free(d->w);
    free(d);
    return -ENOMEM;
  }
  for (long i = 0; i < t->n; i++)
    evtimer_assign(&d->w[i], d->base, dle_timer_cb, t);
  t->upfront_bytes = (long)sizeof(struct event);
  t->k = d;
  event_base_loop(d->base, EVLOOP_ONCE | EVLOOP_NONBLOCK);
  return 0;
}

static int dle_timers_start(bench_timers_state *t, int far) {
  dle_timers *d = t->k;
  for (long i = 0; i < t->n; i++) {
    struct timeval tv =
        dle_tv(far ? bench_timers_far(t) : bench_timers_near(t));
    if (evtimer_add(&d->w[i], &tv) < 0)
      return -EINVAL;
  }
  return 0;
}

static int dle_timers_insert(bench_timers_state *t) {
  /* libevent caches the time per iteration: refresh it first. */
  event_base_update_cache_time(((dle_timers *)t->k)->base);
  return dle_timers_start(t, 0);
}

static int dle_timers_insert_far(bench_timers_state *t) {
  return dle_timers_start(t, 1);
}

static int dle_timers_fire(bench_timers_state *t) {
  dle_timers *d = t->k;
  while (t->fired < t->n)
    if (event_base_loop(d->base, EVLOOP_ONCE) < 0)
      return -EIO;
  return 0;
}

static int dle_timers_cancel(bench_timers_state *t, long *refused) {
  dle_timers *d = t->k;
  for (long i = 0; i < t->n; i++)
    *refused += evtimer_del(&d->w[t->order[i]]) < 0;
  event_base_loop(d->base, EVLOOP_ONCE | EVLOOP_NONBLOCK);
  return 0;
}

/* evtimer_add on a pending timer moves it to the new deadline. */
static int dle_timers_rearm(bench_timers_state *t) {
  dle_timers *d = t->k;
  for (long i = 0; i < t->n; i++) {
    struct timeval tv = dle_tv(bench_timers_far(t));
    if (evtimer_add(&d->w[t->order[i]], &tv) < 0)
      return -EINVAL;
  }
  return 0;
}

static void dle_timers_close(bench_timers_state *t) {
  dle_timers *d = t->k;
  for (long i = 0; i < t->n; i++)
    evtimer_del(&d->w[i]);
  event_base_free(d->base);
  free(d->w);
  free(d);
  t->k = NULL;
}

static const bench_timers_kernel dle_timers_kernel = {
    dle_timers_open,       dle_timers_insert, dle_timers_fire,
    dle_timers_insert_far, dle_timers_cancel, dle_timers_rearm,
    dle_timers_close};

/* ---- callbacks
 * ------------------------------------------------------------------- Chain:
 * the callback re-adds its own event with a zero timeout, libevent's way to run
 * something on the next pass (event_active would run it again in this pass).
 * Fan-out: `fanout` events made active at once. */
typedef struct dle_cb {
  struct event_base *base;
  struct event one;
  struct event *many;
} dle_cb;

static const struct timeval dle_zero = {0, 0};

static void dle_cb_chain(evutil_socket_t fd, short what, void *arg) {
  (void)fd;
  (void)what;
  bench_callbacks_state *cb = arg;
  dle_cb *d = cb->k;
  if (--cb->left > 0)
    evtimer_add(&d->one, &dle_zero);
}

static void dle_cb_spawn(bench_callbacks_state *cb);

static void dle_cb_leaf(evutil_socket_t fd, short what, void *arg) {
  (void)fd;
  (void)what;
  bench_callbacks_state *cb = arg;
  cb->left--;
  if (--cb->pending == 0 && cb->left > 0)
    dle_cb_spawn(cb);
}

static void dle_cb_spawn(bench_callbacks_state *cb) {
  dle_cb *d = cb->k;
  for (int i = 0; i < cb->fanout; i++) {
    event_active(&d->many[i], EV_TIMEOUT, 0);
    cb->pending++;
  }
}

static int dle_cb_open(bench_callbacks_state *cb) {
  dle_cb *d = calloc(1, sizeof *d);
  if (d && cb->fanout)
    d->many = calloc((size_t)cb->fanout, sizeof *d->many);
  if (d && (d->many || !cb->fanout))
    d->base = event_base_new();
  if (!d || !d->base) {
    if (d)
      free(d->many);
    free(d);
    return -ENOMEM;
  }
  evtimer_assign(&d->one, d->base, dle_cb_chain, cb);
  for (int i = 0; i < cb->fanout; i++)
    evtimer_assign(&d->many[i], d->base, dle_cb_leaf, cb);
  cb->k = d;
  return 0;
}

/* event_base_dispatch returns when nothing is pending any more. */
static int dle_cb_run(bench_callbacks_state *cb) {
  dle_cb *d = cb->k;
  if (cb->fanout)
    dle_cb_spawn(cb);
  else
    evtimer_add(&d->one, &dle_zero);
  return event_base_dispatch(d->base) < 0 ? -EIO : 0;
}

static void dle_cb_close(bench_callbacks_state *cb) {
  dle_cb *d = cb->k;
  event_base_free(d->base);
  free(d->many);
  free(d);
  cb->k = NULL;
}

static const bench_callbacks_kernel dle_cb_kernel = {dle_cb_open, dle_cb_run,
                                                     dle_cb_close};

/* ---- pingpong
 * ------------------------------------------------------------------ */
typedef struct dle_pp {
  struct event_base *base;
  struct event server, client;
} dle_pp;

static void dle_pp_server(evutil_socket_t fd, short what, void *arg) {
  (void)fd;
  (void)what;
  bench_pingpong_state *p = arg;
  bench_pingpong_result(p, bench_pingpong_serve(p));
  if (p->done)
    event_base_loopbreak(((dle_pp *)p->k)->base);
}

static void dle_pp_client(evutil_socket_t fd, short what, void *arg) {
  (void)fd;
  (void)what;
  bench_pingpong_state *p = arg;
  bench_pingpong_result(p, bench_pingpong_client(p));
  if (p->done)
    event_base_loopbreak(((dle_pp *)p->k)->base);
}

static int dle_pp_open(bench_pingpong_state *p) {
  dle_pp *d = calloc(1, sizeof *d);
  if (!d || !(d->base = event_base_new())) {
    free(d);
    return -ENOMEM;
  }
  p->k = d;
  event_assign(&d->server, d->base, p->sfd, EV_READ | EV_PERSIST, dle_pp_server,
               p);
  event_assign(&d->client, d->base, p->cfd, EV_READ | EV_PERSIST, dle_pp_client,
               p);
  if (event_add(&d->server, NULL) < 0 || event_add(&d->client, NULL) < 0)
    return -EINVAL;
  return 0;
}

static int dle_pp_run(bench_pingpong_state *p) {
  return event_base_dispatch(((dle_pp *)p->k)->base) < 0 ? -EIO : 0;
}

static void dle_pp_close(bench_pingpong_state *p) {
  dle_pp *d = p->k;
  event_del(&d->server);
  event_del(&d->client);
  event_base_free(d->base);
  free(d);
  p->k = NULL;
}

static const bench_pingpong_kernel dle_pp_kernel = {dle_pp_open, dle_pp_run,
                                                    dle_pp_close};

/* ---- echo
 * -------------------------------------------------------------------- A
 * persistent event per connection, re-assigned between EV_READ and EV_WRITE
 * (event_del, event_assign, event_add: libevent's way to change an event's
 * interest). */
typedef struct dle_echo {
  struct event_base *base;
  struct event listen;
  struct event *conn; /* by fd */
  unsigned char *live;
} dle_echo;

static void dle_echo_accept(evutil_socket_t fd, short what, void *arg) {
  (void)fd;
  (void)what;
  bench_echo_accept(arg);
}

static void dle_echo_ready(evutil_socket_t fd, short what, void *arg) {
  (void)what;
  bench_echo_ready(arg, (int)fd);
}

static int dle_echo_open(bench_echo_srv *s) {
  dle_echo *d = calloc(1, sizeof *d);
  if (d) {
    d->conn = calloc((size_t)s->maxfd, sizeof *d->conn);
    d->live = calloc((size_t)s->maxfd, 1);
  }
  if (d && d->conn && d->live)
    d->base = event_base_new();
  if (!d || !d->base) {
    if (d) {
      free(d->conn);
      free(d->live);
    }
    free(d);
    return -ENOMEM;
  }
  s->k = d;
  event_assign(&d->listen, d->base, s->lfd, EV_READ | EV_PERSIST,
               dle_echo_accept, s);
  return event_add(&d->listen, NULL) < 0 ? -EINVAL : 0;
}

static int dle_echo_set(bench_echo_srv *s, int fd, short what) {
  dle_echo *d = s->k;
  if (d->live[fd])
    event_del(&d->conn[fd]);
  event_assign(&d->conn[fd], d->base, fd, what | EV_PERSIST, dle_echo_ready, s);
  d->live[fd] = 1;
  return event_add(&d->conn[fd], NULL) < 0 ? -EINVAL : 0;
}

static int dle_echo_add(bench_echo_srv *s, int fd) {
  return dle_echo_set(s, fd, EV_READ);
}

static int dle_echo_want(bench_echo_srv *s, int fd, int write) {
  return dle_echo_set(s, fd, write ? EV_WRITE : EV_READ);
}

static void dle_echo_del(bench_echo_srv *s, int fd) {
  dle_echo *d = s->k;
  if (d->live[fd])
    event_del(&d->conn[fd]);
  d->live[fd] = 0;
}

static int dle_echo_iterate(bench_echo_srv *s) {
  return event_base_loop(((dle_echo *)s->k)->base, EVLOOP_ONCE) < 0 ? -EIO : 0;
}

static void dle_echo_close(bench_echo_srv *s) {
  dle_echo *d = s->k;
  event_del(&d->listen);
  for (int fd = 0; fd < s->maxfd; fd++)
    if (d->live[fd])
      event_del(&d->conn[fd]);
  event_base_free(d->base);
  free(d->conn);
  free(d->live);
  free(d);
  s->k = NULL;
}

static const bench_echo_kernel dle_echo_kernel = {
    dle_echo_open, dle_echo_add,     dle_echo_want,
    dle_echo_del,  dle_echo_iterate, dle_echo_close};

/* ---- the module
 * ------------------------------------------------------------------ */
static const char *dle_backend(void) {
  static char name[32];
  struct event_base *b = event_base_new();
  snprintf(name, sizeof name, "%s", b ? event_base_get_method(b) : "?");
  if (b)
    event_base_free(b);
  return name;
}

static const char *dle_version(void) {
  return event_get_version();
}

const bench_direct bench_direct_module = {
    .abi = BENCH_DIRECT_ABI,
    .lib = "libevent",
    .backend = dle_backend,
    .version = dle_version,
    .chain = &dle_chain_kernel,
    .idle = &dle_idle_kernel,
    .timers = &dle_timers_kernel,
    .callbacks = &dle_cb_kernel,
    .pingpong = &dle_pp_kernel,
    .echo = &dle_echo_kernel,
};
