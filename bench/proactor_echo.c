/* proactor_echo.c — the echo server in both models on the same loop: a
 * reactor (a reader per connection, the server does recv and send) and a
 * proactor (evl_recv then evl_send, emulated over readiness or on the
 * io_uring engine), against one closed-loop client on its own thread that
 * also times every request for the p99. */
#include "bench.h"
#include "loadgen.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include <evl/completion.h>

#define PE_MSG 1024

/* ---- the servers ------------------------------------------------------- */
enum { PE_REACTOR, PE_EMULATED, PE_URING, PE_NMODELS };
static const char *const pe_model[] = {"reactor", "proactor", "proactor"};
static const char *const pe_engine[] = {"readiness", "emulated", "io_uring"};

typedef struct pe_server pe_server;
typedef struct pe_conn {
  pe_server *s;
  int fd;
  char buf[PE_MSG * 4];
} pe_conn;

struct pe_server {
  bench_ctx *c;
  evl_loop *loop;
  evl_proactor *p;
  int lfd, open, rc;
  char buf[64 * 1024];
};

static void pe_read_cb(int fd, unsigned events, void *arg) {
  pe_server *s = arg;
  (void)events;
  ssize_t r = recv(fd, s->buf, sizeof s->buf, 0);
  if (r < 0 && errno == EAGAIN)
    return;
  /* Requests are 1 KiB into an emptied socket: a send never blocks. */
  if (r <= 0 || send(fd, s->buf, (size_t)r, MSG_NOSIGNAL) != r) {
    s->c->ops->remove_reader(s->loop, fd);
    close(fd);
    s->open--;
  }
}

static void pe_conn_end(pe_conn *k) {
  k->s->open--;
  evl_io_close(k->s->p, k->fd);
  free(k);
}

static void pe_on_recv(ssize_t n, void *arg);
static void pe_on_send(ssize_t rc, void *arg) {
  pe_conn *k = arg;
  if (rc < 0 ||
      evl_recv(k->s->p, k->fd, k->buf, sizeof k->buf, pe_on_recv, k, NULL))
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
    pe_conn *k = s->p ? calloc(1, sizeof *k) : NULL;
    int rc = s->p && !k ? -ENOMEM : 0;
    if (k) {
      *k = (pe_conn){.s = s, .fd = fd};
      rc = evl_recv(s->p, fd, k->buf, sizeof k->buf, pe_on_recv, k, NULL);
      if (rc < 0)
        free(k);
    } else if (rc == 0) {
      rc = s->c->ops->add_reader(s->loop, fd, pe_read_cb, s);
    }
    if (rc < 0) {
      s->rc = rc;
      close(fd);
      s->open--;
    }
  }
}

/* One configuration: conc connections for a while on one server model. */
static int pe_run(bench_ctx *c, int model, int conc, double *rps, double *p99) {
  pe_server *s = calloc(1, sizeof *s);
  bench_load cl = {.conc = conc, .size = PE_MSG, .keep_lat = 1};
  if (!s)
    return -ENOMEM;
  s->c = c;
  int rc = s->lfd = bench_listen_tcp(&cl.port);
  if (rc >= 0)
    rc = bench_loop_new(c, &s->loop);
  if (rc >= 0 && model == PE_EMULATED)
    rc = evl_proactor_new(c->ops, s->loop, &s->p);
  if (rc >= 0 && model == PE_URING)
    rc = evl_proactor_new_uring(c->ops, s->loop, &s->p);
  if (rc >= 0)
    rc = c->ops->add_reader(s->loop, s->lfd, pe_accept_cb, s);
  cl.duration = c->profile == BENCH_FULL ? 1000000000u : 200000000u;
  pthread_t th;
  if (rc >= 0)
    rc = bench_load_start(&cl, &th);
  if (rc >= 0) {
    while (rc >= 0 && s->rc == 0 && !(bench_load_done(&cl) && s->open == 0))
      rc = c->ops->run_once(s->loop);
    int lrc = bench_load_join(&cl, th);
    if (rc >= 0)
      rc = s->rc ? s->rc : lrc;
    *rps = bench_load_rps(&cl);
    bench_sort(cl.lat.v, (int)cl.lat.n);
    *p99 = bench_pct_sorted(cl.lat.v, (int)cl.lat.n, 99) / 1e3;
  }
  if (s->p)
    evl_proactor_close(s->p);
  if (s->loop) {
    c->ops->remove_reader(s->loop, s->lfd);
    bench_loop_free(c, s->loop);
  }
  if (s->lfd >= 0)
    close(s->lfd);
  free(s);
  bench_lat_free(&cl.lat);
  return rc < 0 ? rc : 0;
}

int bench_proactor_echo(bench_ctx *c) {
  static const int concs[] = {10, 100};
  for (int k = 0; k < 2; k++) {
    for (int m = 0; m < PE_NMODELS; m++) {
      double rps[64], p99[64];
      int got = 0, rc = 0;
      char params[128];
      snprintf(params, sizeof params,
               "{\"conc\":%d,\"bytes\":%d,\"model\":\"%s\",\"engine\":\"%s\"}",
               concs[k], PE_MSG, pe_model[m], pe_engine[m]);
      for (int rep = 0; rep < c->repeat && rep < 64 && rc == 0; rep++) {
        rc = pe_run(c, m, concs[k], &rps[got], &p99[got]);
        if (rc == 0)
          got++;
        if (bench_over_budget(c))
          break;
      }
      if (rc < 0 || got == 0) {
        bench_skip(c, "proactor_echo", params, "%s", bench_strerror(rc));
        continue;
      }
      bench_emit(c, "proactor_echo", params, "rps", "req/s", "higher", rps,
                 got);
      bench_emit(c, "proactor_echo", params, "p99_us", "us", "lower", p99, got);
    }
  }
  return 0;
}

/* ---- the report section ------------------------------------------------ */
static const bench_table proactor_echo_tables[] = {
    {"echo, reactor or proactor: requests/s", "", "conc", "rps"},
    {"echo, reactor or proactor: p99 latency (us)", "", "conc", "p99_us"},
};
const bench_section bench_section_proactor_echo = {
    "proactor_echo: reactor or proactor",
    "The echo server in both models on the same loop, 1 KiB requests: a "
    "reader per connection doing recv and send (reactor), and evl_recv / "
    "evl_send completions (proactor), emulated over readiness or on the "
    "io_uring engine. Records carry \"model\" and \"engine\" in their "
    "parameters.",
    NULL,
    0,
    proactor_echo_tables,
    BENCH_COUNT(proactor_echo_tables)};
