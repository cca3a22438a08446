/* chain.c — libev's and libevent's bench.c: n socketpairs, a active, w writes,
 * each read forwarding one byte to the next pair; plus its raw-epoll floor. */
#include "bench.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

/* Per-fd timeouts sit far in the future: re-arming them is the cost, firing
 * them is not part of this benchmark. */
#define CHAIN_TIMEOUT_NS 10000000000ll

struct chain;
typedef struct chain_slot {
  struct chain *ch;
  int idx;
  evl_handle timer;
} chain_slot;

typedef struct chain {
  bench_ctx *c;
  evl_loop *loop;
  int ep; /* raw baseline */
  int n, active, timeouts;
  int (*pairs)[2];
  chain_slot *slots;
  long writes, fired, count, failures;
  int registered;
  uint64_t rng;
} chain;

static void chain_timeout(void *arg) {
  (void)arg;
}

static int chain_arm(chain *ch, chain_slot *s) {
  int64_t d = CHAIN_TIMEOUT_NS + (int64_t)(bench_rand(&ch->rng) % 1000000000u);
  return ch->c->ops->call_later(ch->loop, d, chain_timeout, s, &s->timer);
}

/* The work every implementation does per event, raw or not. */
static void chain_event(chain *ch, int idx) {
  unsigned char b;
  ssize_t k = recv(ch->pairs[idx][0], &b, 1, 0);
  if (k >= 0)
    ch->count += k;
  else
    ch->failures++;
  if (ch->writes) {
    int w = idx + 1;
    if (w >= ch->n)
      w -= ch->n;
    if (send(ch->pairs[w][1], "e", 1, 0) != 1)
      ch->failures++;
    ch->writes--;
    ch->fired++;
  }
}

static void chain_read_cb(int fd, unsigned events, void *arg) {
  (void)fd;
  (void)events;
  chain_slot *s = arg;
  chain *ch = s->ch;
  if (ch->timeouts) {
    ch->c->ops->cancel(ch->loop, s->timer);
    chain_arm(ch, s);
  }
  chain_event(ch, s->idx);
}

/* Registration, as libevent's bench does it: delete, then add again. */
static int chain_setup(chain *ch) {
  const evl_impl_ops *ops = ch->c->ops;
  for (int i = 0; i < ch->n; i++) {
    int fd = ch->pairs[i][0];
    int rc;
    if (!ops) {
      struct epoll_event ev = {.events = EPOLLIN, .data.u32 = (uint32_t)i};
      if (ch->registered)
        epoll_ctl(ch->ep, EPOLL_CTL_DEL, fd, NULL);
      rc = epoll_ctl(ch->ep, EPOLL_CTL_ADD, fd, &ev) < 0 ? -errno : 0;
    } else {
      chain_slot *s = &ch->slots[i];
      if (ch->registered) {
        ops->remove_reader(ch->loop, fd);
        if (ch->timeouts)
          ops->cancel(ch->loop, s->timer);
      }
      rc = ops->add_reader(ch->loop, fd, chain_read_cb, s);
      if (rc == 0 && ch->timeouts)
        rc = chain_arm(ch, s);
    }
    if (rc < 0)
      return rc;
  }
  ch->registered = 1;
  /* One iteration that cannot block, so lazy registration (libev applies
   * changes inside ev_run) is paid here, in setup, by everyone. */
  if (!ops) {
    struct epoll_event evs[1];
    epoll_wait(ch->ep, evs, 1, 0);
    return 0;
  }
  return bench_loop_spin(ch->c, ch->loop);
}

static int chain_loop(chain *ch) {
  const evl_impl_ops *ops = ch->c->ops;
  struct epoll_event evs[1024];
  while (ch->count != ch->fired) {
    if (!ops) {
      int k = epoll_wait(ch->ep, evs, 1024, -1);
      if (k < 0 && errno != EINTR)
        return -errno;
      for (int i = 0; i < k; i++)
        chain_event(ch, (int)evs[i].data.u32);
    } else {
      int rc = ops->run_once(ch->loop);
      if (rc < 0)
        return rc;
    }
  }
  return 0;
}

/* One run: setup (timed), then a bytes sent (not timed, as in bench.c),
 * then the loop until every byte sent has been read (timed). */
static int chain_run(chain *ch, long writes, double *setup_us, double *loop_us,
                     double *ns_ev) {
  uint64_t t0 = bench_now();
  int rc = chain_setup(ch);
  uint64_t t1 = bench_now();
  if (rc < 0)
    return rc;
  ch->fired = 0;
  int space = ch->n / ch->active;
  for (int i = 0; i < ch->active; i++, ch->fired++)
    if (send(ch->pairs[i * space][1], "e", 1, 0) != 1)
      ch->failures++;
  ch->count = 0;
  ch->writes = writes;
  bench_cg_start(ch->c);
  uint64_t t2 = bench_now();
  rc = chain_loop(ch);
  uint64_t t3 = bench_now();
  bench_cg_stop(ch->c);
  if (rc < 0)
    return rc;
  ch->c->fixed_events += (unsigned long long)ch->fired;
  *setup_us = (double)(t1 - t0) / 1e3;
  *loop_us = (double)(t3 - t2) / 1e3;
  *ns_ev = (double)(t3 - t2) / (double)(ch->fired ? ch->fired : 1);
  return 0;
}

static int chain_open(chain *ch) {
  ch->registered = 0;
  ch->rng = 12345;
  if (!ch->c->ops) {
    ch->ep = epoll_create1(EPOLL_CLOEXEC);
    return ch->ep < 0 ? -errno : 0;
  }
  return bench_loop_new(ch->c, &ch->loop);
}

static void chain_close(chain *ch) {
  if (!ch->c->ops) {
    close(ch->ep);
    ch->ep = -1;
  } else {
    bench_loop_free(ch->c, ch->loop);
    ch->loop = NULL;
  }
}

static int chain_pairs(chain *ch, int n) {
  ch->pairs = calloc((size_t)n, sizeof *ch->pairs);
  ch->slots = calloc((size_t)n, sizeof *ch->slots);
  if (!ch->pairs || !ch->slots)
    return -ENOMEM;
  for (int i = 0; i < n; i++) {
    int rc = bench_socketpair(ch->pairs[i]);
    if (rc < 0) {
      for (int j = 0; j < i; j++) {
        close(ch->pairs[j][0]);
        close(ch->pairs[j][1]);
      }
      return rc;
    }
    ch->slots[i].ch = ch;
    ch->slots[i].idx = i;
  }
  ch->n = n;
  return 0;
}

static void chain_unpairs(chain *ch) {
  for (int i = 0; ch->pairs && i < ch->n; i++) {
    close(ch->pairs[i][0]);
    close(ch->pairs[i][1]);
  }
  free(ch->pairs);
  free(ch->slots);
  ch->pairs = NULL;
  ch->slots = NULL;
}

static long chain_writes(const bench_ctx *c, int active) {
  long w = c->profile == BENCH_FULL ? 100L * active : 20L * active;
  return w < 2000 ? 2000 : w;
}

int bench_chain(bench_ctx *c) {
  static const int sizes_quick[] = {100, 1000, 10000};
  static const int sizes_full[] = {100, 1000, 10000, 100000};
  static const int actives[] = {1, 100, 1000};
  const int *sizes = c->profile == BENCH_FULL ? sizes_full : sizes_quick;
  int nsizes = c->profile == BENCH_FULL ? 4 : 3;
  int maxn = bench_max_pairs();
  int prev = 0, stop = 0, last = 0, raw_noted = 0;
  for (int si = 0; si < nsizes && !stop && !last; si++) {
    int n = sizes[si];
    if (n > maxn) {
      bench_note(c, "chain",
                 "n=%d needs %d fds; RLIMIT_NOFILE allows %ld: the sweep "
                 "stops at n=%d",
                 n, 2 * n, bench_raise_nofile(), maxn);
      n = maxn;
      last = 1;
      if (n <= prev)
        break;
    }
    prev = n;
    chain ch = {0};
    ch.c = c;
    int rc = chain_pairs(&ch, n);
    if (rc < 0) {
      bench_skip(c, "chain", "{}", "n=%d: socketpair: %s", n,
                 bench_strerror(rc));
      break;
    }
    for (int ai = 0; ai < 3 && !stop; ai++) {
      int a = actives[ai];
      if (a > n)
        continue;
      for (int to = 0; to < 2 && !stop; to++) {
        char params[160];
        long w = chain_writes(c, a);
        snprintf(params, sizeof params,
                 "{\"n\":%d,\"active\":%d,\"writes\":%ld,\"timeouts\":%d}", n,
                 a, w, to);
        if (!c->ops && to) {
          if (!raw_noted++)
            bench_note(c, "chain",
                       "the raw baseline has no timers: "
                       "configurations with timeouts=1 are not "
                       "run; compare those among implementations");
          continue;
        }
        if (bench_over_budget(c)) {
          bench_note(c, "chain", "time budget spent: stopped before %s",
                     params);
          stop = 1;
          break;
        }
        double r[2][3][64];
        int got = 0;
        ch.active = a;
        ch.timeouts = to;
        for (int rep = 0; rep < c->repeat && rep < 64; rep++) {
          rc = chain_open(&ch);
          for (int run = 0; rc == 0 && run < 2; run++)
            rc = chain_run(&ch, w, &r[run][0][rep], &r[run][1][rep],
                           &r[run][2][rep]);
          chain_close(&ch);
          if (rc < 0)
            break;
          got++;
        }
        if (rc < 0) {
          /* An fd the backend cannot take (select: >= FD_SETSIZE) ends the
           * sweep for this implementation: larger sizes cannot fit either. */
          bench_skip(c, "chain", params, "%s", bench_strerror(rc));
          stop = 1;
          break;
        }
        if (ch.failures)
          bench_note(c, "chain", "%ld short sends or reads at %s", ch.failures,
                     params);
        for (int run = 0; run < 2; run++) {
          char p2[200];
          snprintf(p2, sizeof p2, "%.*s,\"run\":\"%s\"}",
                   (int)strlen(params) - 1, params, run ? "warm" : "cold");
          bench_emit(c, "chain", p2, "setup", "us", "lower", r[run][0], got);
          bench_emit(c, "chain", p2, "loop", "us", "lower", r[run][1], got);
          bench_emit(c, "chain", p2, "per_event", "ns", "lower", r[run][2],
                     got);
        }
      }
    }
    chain_unpairs(&ch);
  }
  return 0;
}

int bench_chain_fixed(bench_ctx *c, int n, int active, int timeouts) {
  chain ch = {0};
  ch.c = c;
  int rc = chain_pairs(&ch, n);
  if (rc < 0)
    return rc;
  ch.active = active;
  ch.timeouts = timeouts && c->ops;
  rc = chain_open(&ch);
  double s, l, e;
  for (int run = 0; rc == 0 && run < 2; run++)
    rc = chain_run(&ch, 100L * active, &s, &l, &e);
  chain_close(&ch);
  chain_unpairs(&ch);
  return rc;
}
