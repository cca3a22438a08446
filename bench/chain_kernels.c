/* chain_kernels.c — chain's own kernels: through the evl ops table and the
 * raw-epoll floor, each able to empty its set for the paired runs (the
 * sweep is bench/chain.c; direct libraries' kernels are bench/direct/). */
#include "kernels.h"

#include <errno.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <unistd.h>

/* ---- the evl kernel: through the ops table ------------------------------ */
typedef struct chain_slot {
  bench_chain_state *ch;
  int idx;
  evl_handle timer;
} chain_slot;

typedef struct chain_evl {
  evl_loop *loop;
  chain_slot *slots;
  bench_rearm_fn rearm; /* the ABI's re-arm, or NULL: cancel + call_later */
} chain_evl;

static void chain_timeout(void *arg) {
  (void)arg;
}

static int chain_arm(bench_chain_state *ch, chain_evl *e, chain_slot *s) {
  return ch->c->ops->call_later(e->loop, bench_chain_timeout(ch), chain_timeout,
                                s, &s->timer);
}

static void chain_read_cb(int fd, unsigned events, void *arg) {
  (void)fd;
  (void)events;
  chain_slot *s = arg;
  bench_chain_state *ch = s->ch;
  if (ch->timeouts) {
    /* Push the timeout back: in place where the implementation can. */
    chain_evl *e = ch->k;
    if (e->rearm) {
      e->rearm(e->loop, s->timer, bench_chain_timeout(ch));
    } else {
      ch->c->ops->cancel(e->loop, s->timer);
      chain_arm(ch, e, s);
    }
  }
  bench_chain_event(ch, s->idx);
}

static int chain_evl_open(bench_chain_state *ch) {
  chain_evl *e = calloc(1, sizeof *e);
  if (e)
    e->slots = calloc((size_t)ch->n, sizeof *e->slots);
  if (!e || !e->slots) {
    free(e);
    return -ENOMEM;
  }
  for (int i = 0; i < ch->n; i++) {
    e->slots[i].ch = ch;
    e->slots[i].idx = i;
  }
  e->rearm = bench_rearm_of(ch->c->ops);
  ch->k = e;
  int rc = bench_loop_new(ch->c, &e->loop);
  if (rc < 0) {
    free(e->slots);
    free(e);
    ch->k = NULL;
  }
  return rc;
}

/* Registration, as libevent's bench does it: delete, then add again. */
static int chain_evl_setup(bench_chain_state *ch) {
  const evl_impl_ops *ops = ch->c->ops;
  chain_evl *e = ch->k;
  for (int i = 0; i < ch->n; i++) {
    chain_slot *s = &e->slots[i];
    if (ch->registered) {
      ops->remove_reader(e->loop, ch->pairs[i][0]);
      if (ch->timeouts)
        ops->cancel(e->loop, s->timer);
    }
    int rc = ops->add_reader(e->loop, ch->pairs[i][0], chain_read_cb, s);
    if (rc == 0 && ch->timeouts)
      rc = chain_arm(ch, e, s);
    if (rc < 0)
      return rc;
  }
  ch->registered = 1;
  return bench_loop_spin(ch->c, e->loop);
}

static int chain_evl_loop(bench_chain_state *ch) {
  chain_evl *e = ch->k;
  while (ch->count != ch->fired) {
    int rc = ch->c->ops->run_once(e->loop);
    if (rc < 0)
      return rc;
  }
  return 0;
}

static void chain_evl_close(bench_chain_state *ch) {
  chain_evl *e = ch->k;
  if (!e)
    return;
  bench_loop_free(ch->c, e->loop);
  free(e->slots);
  free(e);
  ch->k = NULL;
}

const bench_chain_kernel bench_chain_evl_kernel = {
    chain_evl_open, chain_evl_setup, chain_evl_loop, chain_evl_close};

/* ---- the raw floor: epoll, nothing else --------------------------------- */
typedef struct chain_raw {
  int ep;
} chain_raw;

static int chain_raw_open(bench_chain_state *ch) {
  chain_raw *r = calloc(1, sizeof *r);
  if (!r)
    return -ENOMEM;
  r->ep = epoll_create1(EPOLL_CLOEXEC);
  if (r->ep < 0) {
    int e = errno;
    free(r);
    return -e;
  }
  ch->k = r;
  return 0;
}

static int chain_raw_setup(bench_chain_state *ch) {
  chain_raw *r = ch->k;
  for (int i = 0; i < ch->n; i++) {
    int fd = ch->pairs[i][0];
    struct epoll_event ev = {.events = EPOLLIN, .data.u32 = (uint32_t)i};
    if (ch->registered)
      epoll_ctl(r->ep, EPOLL_CTL_DEL, fd, NULL);
    if (epoll_ctl(r->ep, EPOLL_CTL_ADD, fd, &ev) < 0)
      return -errno;
  }
  ch->registered = 1;
  struct epoll_event evs[1];
  epoll_wait(r->ep, evs, 1, 0);
  return 0;
}

static int chain_raw_loop(bench_chain_state *ch) {
  chain_raw *r = ch->k;
  struct epoll_event evs[1024];
  while (ch->count != ch->fired) {
    int k = epoll_wait(r->ep, evs, 1024, -1);
    if (k < 0 && errno != EINTR)
      return -errno;
    for (int i = 0; i < k; i++)
      bench_chain_event(ch, (int)evs[i].data.u32);
  }
  return 0;
}

static void chain_raw_close(bench_chain_state *ch) {
  chain_raw *r = ch->k;
  if (!r)
    return;
  close(r->ep);
  free(r);
  ch->k = NULL;
}

const bench_chain_kernel bench_chain_raw_kernel = {
    chain_raw_open, chain_raw_setup, chain_raw_loop, chain_raw_close};

/* ---- emptying a set, between the paired runs' turns (kernels.h) -------- */
void bench_chain_evl_unregister(bench_chain_state *ch) {
  chain_evl *e = ch->k;
  for (int i = 0; ch->registered && i < ch->n; i++) {
    ch->c->ops->remove_reader(e->loop, ch->pairs[i][0]);
    if (ch->timeouts)
      ch->c->ops->cancel(e->loop, e->slots[i].timer);
  }
  ch->registered = 0;
}

void bench_chain_raw_unregister(bench_chain_state *ch) {
  /* A fresh epoll set: closing the old one drops every registration in one
   * call, where n EPOLL_CTL_DELs would cost n. */
  chain_raw *r = ch->k;
  int ep = epoll_create1(EPOLL_CLOEXEC);
  if (ep >= 0) {
    close(r->ep);
    r->ep = ep;
    ch->registered = 0;
  } else {
    for (int i = 0; ch->registered && i < ch->n; i++)
      epoll_ctl(r->ep, EPOLL_CTL_DEL, ch->pairs[i][0], NULL);
    ch->registered = 0;
  }
}
