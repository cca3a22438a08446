/* proactor_echo.c — echo in both models on every implementation: a reactor
 * (a reader per connection; the server does recv and send itself) and a
 * proactor (evl_recv then evl_send, emulated over readiness or on the
 * io_uring engine), against the one load generator (loadgen.h), with the
 * server thread's system calls per request counted in a run of their own
 * (syscount.h). A 1-connection, 64-byte row is the pingpong shape. */
#include "bench.h"
#include "loadgen.h"
#include "syscount.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <evl/completion.h>

#define PE_RBUF (64 * 1024) /* the reactor's one read buffer */
#define PE_CBUF (64 * 1024) /* each proactor connection's own buffer */

enum { PE_REACTOR, PE_EMULATED, PE_URING, PE_NMODELS };
static const char *const pe_model[] = {"reactor", "proactor", "proactor"};
static const char *const pe_engine[] = {"readiness", "emulated", "io_uring"};

typedef struct pe_server pe_server;
typedef struct pe_conn {
  pe_server *s;
  int fd;
  size_t plen, poff; /* reactor: bytes still to send back, from buf */
  char buf[];
} pe_conn;

struct pe_server {
  bench_ctx *c;
  evl_loop *loop;
  evl_proactor *p;
  int lfd, open, rc;
  char buf[PE_RBUF];
};

/* ---- the reactor: recv, send what the socket takes, the rest when it is
 * writable ---------------------------------------------------------------- */
static void pe_read_cb(int fd, unsigned events, void *arg);

static void pe_reactor_end(pe_conn *k) {
  const evl_impl_ops *ops = k->s->c->ops;
  ops->remove_reader(k->s->loop, k->fd);
  ops->remove_writer(k->s->loop, k->fd);
  close(k->fd);
  k->s->open--;
  free(k);
}

static void pe_write_cb(int fd, unsigned events, void *arg) {
  pe_conn *k = arg;
  (void)events;
  while (k->poff < k->plen) {
    ssize_t w = send(fd, k->buf + k->poff, k->plen - k->poff, MSG_NOSIGNAL);
    if (w < 0 && errno == EAGAIN)
      return;
    if (w < 0) {
      pe_reactor_end(k);
      return;
    }
    k->poff += (size_t)w;
  }
  const evl_impl_ops *ops = k->s->c->ops;
  ops->remove_writer(k->s->loop, fd);
  if (ops->add_reader(k->s->loop, fd, pe_read_cb, k) < 0)
    pe_reactor_end(k);
}

static void pe_read_cb(int fd, unsigned events, void *arg) {
  pe_conn *k = arg;
  pe_server *s = k->s;
  (void)events;
  /* EVL_PE_OWNBUF=1: each connection reads into its own buffer, as a
   * proactor's must (its recvs are in flight together), instead of the one
   * buffer every connection shares, which stays in cache: at 100 KiB
   * messages that alone is the reactor's lead. */
  static int own = -1;
  if (own < 0)
    own = getenv("EVL_PE_OWNBUF") != NULL;
  char *rb = own ? k->buf : s->buf;
  ssize_t r = recv(fd, rb, sizeof s->buf, 0);
  if (r < 0 && errno == EAGAIN)
    return;
  ssize_t w = r > 0 ? send(fd, rb, (size_t)r, MSG_NOSIGNAL) : -1;
  if (w < 0 && r > 0 && errno == EAGAIN)
    w = 0;
  if (w < 0) {
    pe_reactor_end(k);
    return;
  }
  if (w == r)
    return;
  /* The socket is full: keep the rest, stop reading until it is out. */
  k->plen = (size_t)(r - w);
  k->poff = 0;
  memmove(k->buf, rb + w, k->plen);
  s->c->ops->remove_reader(s->loop, fd);
  if (s->c->ops->add_writer(s->loop, fd, pe_write_cb, k) < 0)
    pe_reactor_end(k);
}

/* ---- the proactor: recv into the connection's buffer, send it all ------ */
static void pe_conn_end(pe_conn *k) {
  k->s->open--;
  evl_io_close(k->s->p, k->fd);
  free(k);
}

static void pe_on_recv(ssize_t n, void *arg);
static void pe_on_send(ssize_t rc, void *arg) {
  pe_conn *k = arg;
  if (rc < 0 || evl_recv(k->s->p, k->fd, k->buf, PE_CBUF, pe_on_recv, k, NULL))
    pe_conn_end(k);
}
static void pe_on_recv(ssize_t n, void *arg) {
  pe_conn *k = arg;
  if (n <= 0 ||
      evl_send(k->s->p, k->fd, k->buf, (size_t)n, pe_on_send, k, NULL))
    pe_conn_end(k);
}

static void pe_accept_cb(int lfd, unsigned events, void *arg) {
  pe_server *s = arg;
  (void)events;
  for (;;) {
    int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0)
      return;
    bench_nodelay(fd);
    s->open++;
    pe_conn *k = malloc(sizeof *k + (s->p ? PE_CBUF : PE_RBUF));
    int rc = k ? 0 : -ENOMEM;
    if (k) {
      *k = (pe_conn){.s = s, .fd = fd};
      rc = s->p ? evl_recv(s->p, fd, k->buf, PE_CBUF, pe_on_recv, k, NULL)
                : s->c->ops->add_reader(s->loop, fd, pe_read_cb, k);
    }
    if (rc < 0) {
      free(k);
      s->rc = rc;
      close(fd);
      s->open--;
    }
  }
}

/* ---- one run: a server of one model against the load generator -------- */
typedef struct pe_cfg {
  int conc;
  size_t bytes;
  double rate; /* 0: closed loop */
} pe_cfg;

/* The figures of a run, each a record per model: X(field of pe_out,
 * metric, unit, better). waits_per_req only where the loop counts its
 * waits (EVL_IF_STATS). */
#define PE_FIGS(X)                                                             \
  X(rps, "rps", "req/s", "higher")                                             \
  X(p50, "p50_us", "us", "lower")                                              \
  X(p99, "p99_us", "us", "lower")                                              \
  X(waits, "waits_per_req", "waits", "lower")                                  \
  X(usr, "user_us_per_req", "us", "lower")                                     \
  X(sys, "sys_us_per_req", "us", "lower")                                      \
  X(gen, "loadgen_us_per_req", "us", "lower")

enum {
#define PE_FIG_ENUM(field, metric, unit, better) PE_FIG_##field,
  PE_FIGS(PE_FIG_ENUM)
#undef PE_FIG_ENUM
      PE_NFIGS
};

static const struct {
  const char *metric, *unit, *better;
} pe_figs[] = {
#define PE_FIG_ROW(field, metric, unit, better) {metric, unit, better},
    PE_FIGS(PE_FIG_ROW)
#undef PE_FIG_ROW
};

typedef struct pe_out {
  double rps, p50, p99; /* p50, p99 in µs */
  double waits;         /* the loop's backend waits per request, or -1 */
  double usr, sys, gen; /* CPU µs per request: the server thread's user and
                           kernel time, the load generator's (all of it) */
  long calls;           /* counted runs: the server thread's syscalls */
  long reqs;
} pe_out;

static double pe_us(const struct timeval *b, const struct timeval *a,
                    long reqs) {
  double us =
      (double)(b->tv_sec - a->tv_sec) * 1e6 + (double)(b->tv_usec - a->tv_usec);
  return reqs > 0 ? us / (double)reqs : 0;
}

/* A server of the model: listening on *port, its loop and (a proactor
 * model) its proactor. >= 0, or -errno (pe_server_close it either way). */
static int pe_server_open(bench_ctx *c, int model, pe_server *s, int *port) {
  s->c = c;
  int rc = s->lfd = bench_listen_tcp(port);
  if (rc >= 0)
    rc = bench_loop_new(c, &s->loop);
  if (rc >= 0 && model == PE_EMULATED)
    rc = evl_proactor_new(c->ops, s->loop, &s->p);
  if (rc >= 0 && model == PE_URING)
    rc = evl_proactor_new_uring(c->ops, s->loop, &s->p);
  if (rc >= 0)
    rc = c->ops->add_reader(s->loop, s->lfd, pe_accept_cb, s);
  return rc;
}

static void pe_server_close(bench_ctx *c, pe_server *s) {
  if (s->p)
    evl_proactor_close(s->p);
  if (s->loop) {
    c->ops->remove_reader(s->loop, s->lfd);
    bench_loop_free(c, s->loop);
  }
  if (s->lfd >= 0)
    close(s->lfd);
  free(s);
}

static int pe_run(bench_ctx *c, int model, const pe_cfg *cfg, int count,
                  pe_out *o) {
  pe_server *s = calloc(1, sizeof *s);
  bench_load l = {.conc = cfg->conc, .size = cfg->bytes, .rate = cfg->rate};
  if (!s)
    return -ENOMEM;
  l.keep_lat = !count;
  int rc = pe_server_open(c, model, s, &l.port);
  /* Short runs, many interleaved rounds: the full sweep's 14
   * configurations, each in about three rounds, fit the steps' budgets. */
  l.duration = count                      ? 200000000u
               : c->profile == BENCH_FULL ? 250000000u
                                          : 300000000u;
  bench_syscount sc = {0};
  if (rc >= 0 && count)
    rc = bench_syscount_start(&sc);
  /* The loop's waits (one system call each: epoll_wait, io_uring_enter)
   * per request, from a run nothing slows down. */
  evl_loop_stats st0 = {0}, st1 = {0};
  int stats = rc >= 0 && (c->ops->features & EVL_IF_STATS) &&
              c->ops->loop_stats && c->ops->loop_stats(s->loop, &st0) == 0;
  /* CPU time, which the load of a shared machine inflates least (time
   * spent waiting for a CPU is not in it): the server thread's, and the
   * whole process's, whose rest is the load generator's. */
  struct rusage t0 = {0}, t1 = {0}, p0 = {0}, p1 = {0};
  getrusage(RUSAGE_THREAD, &t0);
  getrusage(RUSAGE_SELF, &p0);
  pthread_t th;
  if (rc >= 0) {
    rc = bench_load_start(&l, &th);
    if (rc < 0 && count)
      bench_syscount_stop(&sc);
  }
  if (rc >= 0) {
    while (rc >= 0 && s->rc == 0 && !(bench_load_done(&l) && s->open == 0))
      rc = c->ops->run_once(s->loop);
    getrusage(RUSAGE_THREAD, &t1);
    o->calls = count ? bench_syscount_stop(&sc) : 0;
    o->waits = stats && c->ops->loop_stats(s->loop, &st1) == 0 && l.reqs
                   ? (double)(st1.waits - st0.waits) / (double)l.reqs
                   : -1;
    int lrc = bench_load_join(&l, th);
    getrusage(RUSAGE_SELF, &p1);
    o->usr = pe_us(&t1.ru_utime, &t0.ru_utime, l.reqs);
    o->sys = pe_us(&t1.ru_stime, &t0.ru_stime, l.reqs);
    o->gen = pe_us(&p1.ru_utime, &p0.ru_utime, l.reqs) +
             pe_us(&p1.ru_stime, &p0.ru_stime, l.reqs) - o->usr - o->sys;
    if (rc >= 0)
      rc = s->rc ? s->rc : lrc;
    if (rc >= 0 && o->calls < 0)
      rc = (int)o->calls;
    o->rps = bench_load_rps(&l);
    o->reqs = l.reqs;
    bench_sort(l.lat.v, (int)l.lat.n);
    o->p50 = bench_pct_sorted(l.lat.v, (int)l.lat.n, 50) / 1e3;
    o->p99 = bench_pct_sorted(l.lat.v, (int)l.lat.n, 99) / 1e3;
  }
  pe_server_close(c, s);
  bench_lat_free(&l.lat);
  return rc < 0 ? rc : 0;
}

/* One configuration's figures: per model, each figure's repeats (waits
 * has its own count), or the error that stopped the model. */
typedef struct pe_figs_of {
  double v[PE_NMODELS][PE_NFIGS][64];
  int got[PE_NMODELS], nw[PE_NMODELS], err[PE_NMODELS];
  double ratio[2][64]; /* uring, emulated over the reactor, per round */
  int nratio;
} pe_figs_of;

/* Repeats of every model, interleaved, so drift in the machine's load hits
 * all models alike; and per repeat each proactor over the reactor of the
 * same round. */
static void pe_repeats(bench_ctx *c, const pe_cfg *cfg, pe_figs_of *f) {
  for (int rep = 0; rep < c->repeat && rep < 64; rep++) {
    for (int i = 0; i < PE_NMODELS; i++) {
      int m = (i + rep) % PE_NMODELS;
      pe_out o = {0};
      if (f->err[m])
        continue;
      f->err[m] = pe_run(c, m, cfg, 0, &o);
      if (f->err[m])
        continue;
      const double fig[PE_NFIGS] = {
#define PE_FIG_VAL(field, metric, unit, better) o.field,
          PE_FIGS(PE_FIG_VAL)
#undef PE_FIG_VAL
      };
      for (int k = 0; k < PE_NFIGS; k++)
        if (k != PE_FIG_waits)
          f->v[m][k][f->got[m]] = fig[k];
      if (o.waits >= 0)
        f->v[m][PE_FIG_waits][f->nw[m]++] = o.waits;
      f->got[m]++;
    }
    if (f->got[PE_REACTOR] == rep + 1 && f->got[PE_EMULATED] == rep + 1 &&
        f->got[PE_URING] == rep + 1) {
      double reactor = f->v[PE_REACTOR][PE_FIG_rps][rep];
      f->ratio[0][f->nratio] = f->v[PE_URING][PE_FIG_rps][rep] / reactor;
      f->ratio[1][f->nratio] = f->v[PE_EMULATED][PE_FIG_rps][rep] / reactor;
      f->nratio++;
    }
    if (bench_over_budget(c))
      break;
  }
}

/* Model m's system calls per request, from a counted run of its own. */
static void pe_count(bench_ctx *c, const pe_cfg *cfg, int m,
                     const char *params) {
  pe_out o = {0};
  int rc = pe_run(c, m, cfg, 1, &o);
  if (rc < 0 || o.reqs == 0) {
    bench_note(c, "proactor_echo", "%s: syscalls not counted: %s", params,
               bench_strerror(rc < 0 ? rc : -EIO));
    return;
  }
  double per = (double)o.calls / (double)o.reqs;
  bench_emit(c, "proactor_echo", params, "syscalls_per_req", "calls", "lower",
             &per, 1);
}

/* Every model of one configuration; then, with count, one counted run
 * each. */
static void pe_config(bench_ctx *c, const pe_cfg *cfg, int count) {
  pe_figs_of f = {0};
  pe_repeats(c, cfg, &f);
  if (f.nratio) {
    char where[160];
    snprintf(where, sizeof where,
             "{\"mode\":\"%s\",\"conc\":%d,\"bytes\":%zu,\"rate\":%g}",
             cfg->rate > 0 ? "rate" : "closed", cfg->conc, cfg->bytes,
             cfg->rate);
    bench_emit(c, "proactor_echo", where, "uring_over_reactor", "ratio",
               "higher", f.ratio[0], f.nratio);
    bench_emit(c, "proactor_echo", where, "emulated_over_reactor", "ratio",
               "higher", f.ratio[1], f.nratio);
  }
  for (int m = 0; m < PE_NMODELS; m++) {
    char params[200];
    snprintf(params, sizeof params,
             "{\"mode\":\"%s\",\"conc\":%d,\"bytes\":%zu,\"rate\":%g,"
             "\"model\":\"%s\",\"engine\":\"%s\"}",
             cfg->rate > 0 ? "rate" : "closed", cfg->conc, cfg->bytes,
             cfg->rate, pe_model[m], pe_engine[m]);
    if (f.err[m] < 0 || f.got[m] == 0) {
      bench_skip(c, "proactor_echo", params, "%s",
                 bench_strerror(f.err[m] ? f.err[m] : -EIO));
      continue;
    }
    for (int k = 0; k < PE_NFIGS; k++) {
      int n = k == PE_FIG_waits ? f.nw[m] : f.got[m];
      if (n)
        bench_emit(c, "proactor_echo", params, pe_figs[k].metric,
                   pe_figs[k].unit, pe_figs[k].better, f.v[m][k], n);
    }
    if (count)
      pe_count(c, cfg, m, params);
  }
}

/* The configurations round r runs, out of n: a window of about 3n/rounds
 * from a start that moves with r, so that over the rounds each one runs
 * about three times (its models interleaved each time) and a round cut
 * short by the budget does not always drop the same ones. One round, or
 * n <= 1: all of them. */
static void pe_window(int n, int rounds, int r, int *start, int *len) {
  *start = 0;
  *len = n;
  if (rounds <= 1 || n <= 1)
    return;
  *len = (3 * n + rounds - 1) / rounds;
  if (*len > n)
    *len = n;
  *start = r * n / rounds;
}

/* Is round r the one to count configuration i's system calls in? Once: a
 * traced run's count hardly varies, and three strace'd runs per
 * configuration and round would cost a third of the sweep. The round where
 * it comes earliest in the window, so the counts are spread over the
 * rounds and the last in a window, which the budget may cut, are counted
 * elsewhere. */
static int pe_count_round(int i, int n, int rounds, int r) {
  int best = n, at = 0;
  for (int k = 0; k < rounds; k++) {
    int start, len;
    pe_window(n, rounds, k, &start, &len);
    int pos = (i - start + n) % n;
    if (pos < len && pos < best) {
      best = pos;
      at = k;
    }
  }
  return at == r;
}

int bench_proactor_echo(bench_ctx *c) {
  /* Quick: the figure, 100 connections of 1 KiB, closed loop. */
  static const pe_cfg quick[] = {{100, 1024, 0}};
  /* The matrix: 10, 100 and 1000 connections by 1, 10 and
   * 100 KiB, closed loop; constant rate along both axes through 100
   * connections of 1 KiB. (One message in flight is proactor_pingpong.) */
  static const pe_cfg full[] = {
      {100, 1024, 0},      {10, 1024, 0},       {1000, 1024, 0},
      {10, 10240, 0},      {100, 10240, 0},     {1000, 10240, 0},
      {10, 102400, 0},     {100, 102400, 0},    {1000, 102400, 0},
      {10, 1024, 20000},   {100, 1024, 20000},  {1000, 1024, 20000},
      {100, 10240, 10000}, {100, 102400, 2000},
  };
  const pe_cfg *cfgs = c->profile == BENCH_FULL ? full : quick;
  int n = c->profile == BENCH_FULL ? BENCH_COUNT(full) : BENCH_COUNT(quick);
  /* EVL_PE_CONFIG=conc,bytes[,rate]: that one configuration, to study one
   * point of the sweep without running all of it. */
  pe_cfg one = {0};
  const char *env = getenv("EVL_PE_CONFIG");
  if (env && sscanf(env, "%d,%zu,%lf", &one.conc, &one.bytes, &one.rate) >= 2 &&
      one.conc > 0 && one.bytes > 0 && one.rate >= 0) {
    cfgs = &one;
    n = 1;
  }
  int rounds = c->rounds > 1 ? c->rounds : 1, r = c->round % rounds, start, len;
  pe_window(n, rounds, r, &start, &len);
  for (int k = 0; k < len; k++) {
    if (bench_over_budget(c)) {
      bench_note(c, "proactor_echo",
                 "time budget spent: %d of round %d's %d configurations run", k,
                 r + 1, len);
      break;
    }
    int i = (start + k) % n;
    pe_config(c, &cfgs[i], pe_count_round(i, n, rounds, r));
  }
  return 0;
}
