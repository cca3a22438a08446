/* proactor_pingpong.c — pingpong in both models: one TCP loopback
 * connection, both ends on the loop under test, one 5-byte message in
 * flight; the reactor (a reader on each end doing recv and send, as
 * pingpong.c) against the proactor (evl_recv / evl_send completions,
 * emulated over readiness on every implementation, and on the io_uring
 * engine where the loop's backend lends it its ring), with the loop
 * thread's system calls per round trip counted in a run of their own. */
#include "kernels.h"
#include "syscount.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <evl/backend.h>
#include <evl/completion.h>

enum { PP_REACTOR, PP_EMULATED, PP_URING, PP_NMODELS };
static const char *const pp_model[] = {"reactor", "proactor", "proactor"};
static const char *const pp_engine[] = {"readiness", "emulated", "io_uring"};

typedef struct pp_run {
  bench_pingpong_state s; /* fds, trips, the end of the run */
  evl_loop *loop;
  evl_proactor *p;
  char sbuf[256], cbuf[256];
} pp_run;

/* An error ends the run; the -ECANCELED of operations closed at its end
 * does not count. */
static void pp_fail(pp_run *r, int rc) {
  if (rc < 0 && !r->s.done) {
    r->s.rc = rc;
    r->s.done = 1;
  }
}

/* ---- the reactor: pingpong.c's evl kernel ------------------------------- */
static void pp_server_cb(int fd, unsigned ev, void *arg) {
  (void)fd;
  (void)ev;
  pp_run *r = arg;
  pp_fail(r, bench_pingpong_serve(&r->s));
}

static void pp_client_cb(int fd, unsigned ev, void *arg) {
  (void)fd;
  (void)ev;
  pp_run *r = arg;
  pp_fail(r, bench_pingpong_client(&r->s));
}

/* ---- the proactor: the server receives, sends it back, receives again
 * (proactor_echo's server); the client keeps a recv posted and sends the
 * next ping when a whole reply came back. ---------------------------------- */
static void pp_on_srecv(ssize_t n, void *arg);

static void pp_on_ssend(ssize_t rc, void *arg) {
  pp_run *r = arg;
  if (rc < 0 || r->s.done)
    pp_fail(r, (int)rc);
  else
    pp_fail(r, evl_recv(r->p, r->s.sfd, r->sbuf, sizeof r->sbuf, pp_on_srecv, r,
                        NULL));
}

static void pp_on_srecv(ssize_t n, void *arg) {
  pp_run *r = arg;
  if (n <= 0 || r->s.done)
    pp_fail(r, n ? (int)n : -ECONNRESET);
  else
    pp_fail(r,
            evl_send(r->p, r->s.sfd, r->sbuf, (size_t)n, pp_on_ssend, r, NULL));
}

static void pp_on_csend(ssize_t rc, void *arg) {
  pp_fail(arg, (int)rc);
}

static void pp_on_crecv(ssize_t n, void *arg) {
  pp_run *r = arg;
  bench_pingpong_state *s = &r->s;
  if (n <= 0 || s->done) {
    pp_fail(r, n ? (int)n : -ECONNRESET);
    return;
  }
  int ping = 0;
  for (s->got += (int)n; s->got >= BENCH_PINGPONG_LEN && !s->done;) {
    s->got -= BENCH_PINGPONG_LEN;
    s->trips++;
    if (s->max_trips ? s->trips >= s->max_trips
                     : (s->trips & 63) == 0 && bench_now() >= s->until)
      s->done = 1;
    ping = 1;
  }
  if (s->done)
    return;
  int rc =
      evl_recv(r->p, s->cfd, r->cbuf, sizeof r->cbuf, pp_on_crecv, r, NULL);
  if (rc == 0 && ping)
    rc = evl_send(r->p, s->cfd, BENCH_PINGPONG_MSG, BENCH_PINGPONG_LEN,
                  pp_on_csend, r, NULL);
  pp_fail(r, rc);
}

/* ---- one run --------------------------------------------------------------
 */
/* Distinct per model, so callgrind can count each (--toggle-collect). */
static __attribute__((noinline)) int pp_drive(pp_run *r) {
  int rc = 0;
  while (rc == 0 && !r->s.done)
    rc = r->s.c->ops->run_once(r->loop);
  return rc;
}
static __attribute__((noinline)) int pp_drive_reactor(pp_run *r) {
  return pp_drive(r);
}
static __attribute__((noinline)) int pp_drive_emulated(pp_run *r) {
  return pp_drive(r);
}
static __attribute__((noinline)) int pp_drive_uring(pp_run *r) {
  return pp_drive(r);
}
static int (*const pp_drivers[])(pp_run *) = {
    pp_drive_reactor, pp_drive_emulated, pp_drive_uring};

static int pp_start(pp_run *r, int model) {
  const evl_impl_ops *ops = r->s.c->ops;
  if (model == PP_REACTOR) {
    int rc = ops->add_reader(r->loop, r->s.sfd, pp_server_cb, r);
    if (rc == 0)
      rc = ops->add_reader(r->loop, r->s.cfd, pp_client_cb, r);
    if (rc == 0 && send(r->s.cfd, BENCH_PINGPONG_MSG, BENCH_PINGPONG_LEN, 0) !=
                       BENCH_PINGPONG_LEN)
      rc = -EIO;
    return rc;
  }
  int rc = model == PP_URING ? evl_proactor_new_uring(ops, r->loop, &r->p)
                             : evl_proactor_new(ops, r->loop, &r->p);
  if (rc == 0)
    rc =
        evl_recv(r->p, r->s.sfd, r->sbuf, sizeof r->sbuf, pp_on_srecv, r, NULL);
  if (rc == 0)
    rc =
        evl_recv(r->p, r->s.cfd, r->cbuf, sizeof r->cbuf, pp_on_crecv, r, NULL);
  if (rc == 0)
    rc = evl_send(r->p, r->s.cfd, BENCH_PINGPONG_MSG, BENCH_PINGPONG_LEN,
                  pp_on_csend, r, NULL);
  return rc;
}

static void pp_stop(pp_run *r) {
  if (r->p) {
    evl_io_close(r->p, r->s.sfd); /* the way to close what it used */
    evl_io_close(r->p, r->s.cfd);
    r->s.sfd = r->s.cfd = -1;
    evl_proactor_close(r->p);
  } else if (r->loop) {
    r->s.c->ops->remove_reader(r->loop, r->s.sfd);
    r->s.c->ops->remove_reader(r->loop, r->s.cfd);
  }
  if (r->loop)
    bench_loop_free(r->s.c, r->loop);
  if (r->s.sfd >= 0)
    close(r->s.sfd);
  if (r->s.cfd >= 0)
    close(r->s.cfd);
}

/* One connection for dur_ns (or trips round trips); *rate trips/s, and with
 * calls the loop thread's system calls per trip, setup excluded. */
static int pp_once(bench_ctx *c, int model, uint64_t dur_ns, long trips,
                   double *rate, double *calls) {
  pp_run *r = calloc(1, sizeof *r);
  if (!r)
    return -ENOMEM;
  r->s.c = c;
  r->s.max_trips = trips;
  r->s.sfd = r->s.cfd = -1;
  int rc = bench_pingpong_connect(&r->s);
  if (rc == 0)
    rc = bench_loop_new(c, &r->loop);
  bench_syscount sc = {0};
  if (rc == 0 && calls)
    rc = bench_syscount_start(&sc);
  uint64_t t0 = bench_now(), t1 = t0;
  r->s.until = t0 + dur_ns;
  if (rc == 0) {
    rc = pp_start(r, model);
    if (rc == 0)
      rc = pp_drivers[model](r);
    t1 = bench_now();
  }
  long n = calls && sc.pid ? bench_syscount_stop(&sc) : 0;
  if (rc == 0)
    rc = r->s.rc;
  if (rc == 0 && n < 0)
    rc = (int)n;
  if (rc == 0 && calls)
    *calls = r->s.trips ? (double)n / (double)r->s.trips : 0;
  *rate = (double)r->s.trips / ((double)(t1 - t0 + 1) / 1e9);
  pp_stop(r);
  free(r);
  return rc;
}

int bench_proactor_pingpong(bench_ctx *c) {
  /* io_uring only where the loop's backend lends its ring; elsewhere the
   * engine would bring a ring of its own (proactor_echo measures that). */
  int nm = bench_lends_ring(c) ? PP_NMODELS : PP_URING;
  char params[PP_NMODELS][128];
  for (int m = 0; m < nm; m++)
    snprintf(params[m], sizeof params[m],
             "{\"bytes\":%d,\"model\":\"%s\",\"engine\":\"%s\"}",
             BENCH_PINGPONG_LEN, pp_model[m], pp_engine[m]);
  /* EVL_PP_TRIPS=N: every run is N round trips (for callgrind by hand:
   * --toggle-collect=pp_drive_<model>, N * (repeat + 1) trips each). */
  const char *env = getenv("EVL_PP_TRIPS");
  long fixed = env ? atol(env) : 0;
  uint64_t dur = c->profile == BENCH_FULL ? 500000000u : 100000000u;
  double v[PP_NMODELS][64], ratio[2][64];
  int got[PP_NMODELS] = {0}, err[PP_NMODELS] = {0}, nratio = 0;
  for (int rep = 0; rep < c->repeat && rep < 64; rep++) {
    for (int i = 0; i < nm; i++) {
      int m = (i + rep) % nm; /* interleaved: drift hits every model */
      if (!err[m] &&
          (err[m] = pp_once(c, m, dur, fixed, &v[m][got[m]], NULL)) == 0)
        got[m]++;
    }
    if (got[PP_REACTOR] == rep + 1 && got[PP_EMULATED] == rep + 1) {
      ratio[1][nratio] = v[PP_EMULATED][rep] / v[PP_REACTOR][rep];
      if (nm == PP_NMODELS && got[PP_URING] == rep + 1)
        ratio[0][nratio] = v[PP_URING][rep] / v[PP_REACTOR][rep];
      nratio++;
    }
    if (bench_over_budget(c))
      break;
  }
  if (nratio) {
    char where[64];
    snprintf(where, sizeof where, "{\"bytes\":%d}", BENCH_PINGPONG_LEN);
    if (nm == PP_NMODELS && got[PP_URING] == got[PP_REACTOR])
      bench_emit(c, "proactor_pingpong", where, "uring_over_reactor", "ratio",
                 "higher", ratio[0], nratio);
    bench_emit(c, "proactor_pingpong", where, "emulated_over_reactor", "ratio",
               "higher", ratio[1], nratio);
  }
  for (int m = 0; m < nm; m++) {
    if (err[m] < 0 || got[m] == 0) {
      bench_skip(c, "proactor_pingpong", params[m], "%s",
                 bench_strerror(err[m] ? err[m] : -EIO));
      continue;
    }
    bench_emit(c, "proactor_pingpong", params[m], "round_trips", "trips/s",
               "higher", v[m], got[m]);
    /* Counted in the first round only: the count hardly varies. */
    if (c->round > 0)
      continue;
    double rate, calls;
    int rc = pp_once(c, m, 0, fixed ? fixed : 500, &rate, &calls);
    if (rc < 0)
      bench_note(c, "proactor_pingpong", "%s: syscalls not counted: %s",
                 params[m], bench_strerror(rc));
    else
      bench_emit(c, "proactor_pingpong", params[m], "syscalls_per_trip",
                 "calls", "lower", &calls, 1);
  }
  return 0;
}
