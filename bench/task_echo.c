/* task_echo.c — the echo server written twice on the same loop: callbacks
 * (a reader per connection) and tasks (one task per connection: recv,
 * sendall), against the same closed-loop client on its own thread; the
 * ratio of their request rates is the price of writing straight-line code. */
#include "bench.h"
#include "loadgen.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <evl/task.h>

#define TE_MSG 1024

/* ---- the callback server ------------------------------------------------ */
typedef struct te_server {
  bench_ctx *c;
  evl_loop *loop;
  evl_tasks *ts;
  int lfd, open, rc;
  long served; /* replies sent whole (the callgrind cases' count) */
  char buf[64 * 1024];
} te_server;

static void te_read_cb(int fd, unsigned events, void *arg) {
  te_server *s = arg;
  (void)events;
  ssize_t r = recv(fd, s->buf, sizeof s->buf, 0);
  if (r < 0 && errno == EAGAIN)
    return;
  /* Requests are 1 KiB into an emptied socket: a send never blocks. */
  if (r <= 0 || send(fd, s->buf, (size_t)r, MSG_NOSIGNAL) != r) {
    s->c->ops->remove_reader(s->loop, fd);
    close(fd);
    s->open--;
    return;
  }
  s->served++;
}

static void te_accept_cb(int lfd, unsigned events, void *arg) {
  te_server *s = arg;
  (void)events;
  for (;;) {
    int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0)
      return;
    bench_nodelay(fd);
    s->open++;
    int rc = s->c->ops->add_reader(s->loop, fd, te_read_cb, s);
    if (rc < 0) {
      s->rc = rc;
      close(fd);
      s->open--;
    }
  }
}

/* ---- the task server ---------------------------------------------------- */
static te_server *te_task_server; /* the conn tasks' way back */

static int te_conn_task(void *arg, void **result) {
  int fd = (int)(intptr_t)arg;
  (void)result;
  char buf[16 * 1024];
  for (;;) {
    ssize_t r = evl_sock_recv(fd, buf, sizeof buf);
    if (r <= 0 || evl_sock_sendall(fd, buf, (size_t)r) < 0)
      break;
    te_task_server->served++;
  }
  evl_sock_close(fd);
  te_task_server->open--;
  return 0;
}

static int te_accept_task(void *arg, void **result) {
  te_server *s = arg;
  (void)result;
  for (;;) {
    int fd = evl_sock_accept(s->lfd, NULL, NULL);
    if (fd < 0)
      return fd == -ECANCELED ? 0 : fd;
    bench_nodelay(fd);
    s->open++;
    int rc = evl_task_spawn(s->ts, te_conn_task, (void *)(intptr_t)fd, NULL);
    if (rc < 0) {
      close(fd);
      s->open--;
      return rc;
    }
  }
}

/* ---- one configuration: conc connections for a while, both servers ----- */
/* The serving loop, once per server kind so that callgrind counts each
 * alone (--toggle-collect=te_serve_tasks). In callgrind mode (kase set)
 * collection is on only while every connection is open and the client
 * still sends, so accepting, spawning and closing stay out of the count,
 * and the count is the server's own: replies sent in that stretch. */
static int te_serve(te_server *s, bench_load *cl, const char *kase) {
  int rc = 0, on = 0;
  long from = 0;
  while (rc >= 0 && s->rc == 0 && !(bench_load_done(cl) && s->open == 0)) {
    if (kase && !on && s->open == cl->conc && !bench_load_done(cl)) {
      on = 1;
      from = s->served;
      bench_cg_start(s->c);
    } else if (kase && on == 1 && bench_load_done(cl)) {
      on = 2;
      bench_cg_case(s->c, kase, (unsigned long long)(s->served - from));
    }
    rc = s->c->ops->run_once(s->loop);
  }
  if (on == 1)
    bench_cg_case(s->c, kase, (unsigned long long)(s->served - from));
  return rc;
}

__attribute__((noinline)) int te_serve_callbacks(te_server *s, bench_load *cl,
                                                 const char *kase) {
  return te_serve(s, cl, kase);
}

__attribute__((noinline)) int te_serve_tasks(te_server *s, bench_load *cl,
                                             const char *kase) {
  return te_serve(s, cl, kase);
}

/* The server thread's CPU time: what a request costs the server, apart
 * from whatever else the machine runs. */
static uint64_t te_cpu_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int te_run(bench_ctx *c, int tasks, int conc, const char *kase,
                  double *rps, double *cpu_per_req) {
  te_server *s = calloc(1, sizeof *s);
  if (!s)
    return -ENOMEM;
  s->c = c;
  int port = 0;
  int rc = s->lfd = bench_listen_tcp(&port);
  evl_task *acceptor = NULL;
  if (rc >= 0)
    rc = bench_loop_new(c, &s->loop);
  if (rc >= 0 && tasks) {
    te_task_server = s;
    rc = evl_tasks_new(c->ops, s->loop, NULL, &s->ts);
    if (rc == 0)
      rc = evl_task_spawn(s->ts, te_accept_task, s, &acceptor);
  } else if (rc >= 0) {
    rc = c->ops->add_reader(s->loop, s->lfd, te_accept_cb, s);
  }
  bench_load cl = {.port = port, .conc = conc, .size = TE_MSG};
  cl.duration = c->profile == BENCH_FULL || kase ? 1000000000u : 200000000u;
  pthread_t th;
  if (rc >= 0)
    rc = bench_load_start(&cl, &th);
  if (rc >= 0) {
    uint64_t c0 = te_cpu_now();
    rc =
        tasks ? te_serve_tasks(s, &cl, kase) : te_serve_callbacks(s, &cl, kase);
    uint64_t c1 = te_cpu_now();
    int lrc = bench_load_join(&cl, th);
    if (rc >= 0)
      rc = s->rc ? s->rc : lrc;
    *rps = bench_load_rps(&cl);
    /* Serving covers connecting and closing too, alike for both servers;
     * requests are counted in the window only. */
    *cpu_per_req = cl.reqs > 0 ? (double)(c1 - c0) / (double)cl.reqs : 0;
  }
  if (s->ts) {
    /* The acceptor still waits in accept: end it, so that closing has no
     * pending task to report. */
    if (acceptor && evl_task_cancel(acceptor) == 0)
      evl_tasks_run_until_complete(s->ts, acceptor, NULL);
    evl_task_release(acceptor);
    evl_tasks_close(s->ts);
  }
  if (s->loop) {
    if (!tasks)
      c->ops->remove_reader(s->loop, s->lfd);
    bench_loop_free(c, s->loop);
  }
  if (s->lfd >= 0)
    close(s->lfd);
  free(s);
  return rc < 0 ? rc : 0;
}

int bench_task_echo(bench_ctx *c) {
  static const int concs[] = {1, 10, 100};
  for (int k = 0; k < 3; k++) {
    double v[2][64], ratio[64], cpu[2][64], cpu_ratio[64];
    int got = 0, rc = 0;
    char params[64];
    snprintf(params, sizeof params, "{\"conc\":%d,\"bytes\":%d}", concs[k],
             TE_MSG);
    for (int rep = 0; rep < c->repeat && rep < 64 && rc == 0; rep++) {
      /* Alternate which server goes first, so drift hits both alike:
       * evl-bench gives each round one repeat, so by round too (with the
       * repeat alone, callbacks always went first). */
      for (int i = 0; i < 2 && rc == 0; i++) {
        int tasks = (i + rep + c->round) % 2;
        rc = te_run(c, tasks, concs[k], NULL, &v[tasks][got], &cpu[tasks][got]);
      }
      if (rc == 0) {
        ratio[got] = v[1][got] / v[0][got];
        cpu_ratio[got] = cpu[0][got] > 0 ? cpu[1][got] / cpu[0][got] : 0;
        got++;
      }
      if (bench_over_budget(c))
        break;
    }
    if (rc < 0) {
      bench_skip(c, "task_echo", params, "%s", bench_strerror(rc));
      continue;
    }
    bench_emit(c, "task_echo", params, "rps_callbacks", "req/s", "higher", v[0],
               got);
    bench_emit(c, "task_echo", params, "rps_tasks", "req/s", "higher", v[1],
               got);
    bench_emit(c, "task_echo", params, "tasks_over_callbacks", "ratio",
               "higher", ratio, got);
    bench_emit(c, "task_echo", params, "cpu_callbacks", "ns/req", "lower",
               cpu[0], got);
    bench_emit(c, "task_echo", params, "cpu_tasks", "ns/req", "lower", cpu[1],
               got);
    bench_emit(c, "task_echo", params, "cpu_tasks_over_callbacks", "ratio",
               "lower", cpu_ratio, got);
  }
  return 0;
}

/* The callgrind cases: each server at 1 and 100 connections, instructions
 * per reply (BENCH_CG_LIST's task_echo_* rows). */
int bench_cg_task_echo(bench_ctx *c) {
  if (!c->ops || !(c->ops->features & EVL_IF_FUTURES))
    return 0;
  /* The load generator is a second thread: no count where valgrind cannot
   * run it beside the loop's wait (bench_cg_uring_wait). */
  if (bench_cg_uring_wait(c)) {
    fprintf(stderr,
            "evl-bench: %s: task_echo cases skipped under valgrind: "
            "its io_uring wait starves the load generator thread\n",
            c->impl_name);
    return 0;
  }
  static const char *const kases[2][2] = {
      {"task_echo_callbacks_c1", "task_echo_tasks_c1"},
      {"task_echo_callbacks_c100", "task_echo_tasks_c100"}};
  int rc = 0;
  for (int k = 0; k < 2 && rc == 0; k++)
    for (int tasks = 0; tasks < 2 && rc == 0; tasks++) {
      double rps, cpu;
      rc = te_run(c, tasks, k ? 100 : 1, kases[k][tasks], &rps, &cpu);
    }
  return rc;
}

/* ---- the report section ----------------------------------------------------
 */
static const bench_panel task_echo_bars[] = {
    {"callbacks", "rps_callbacks", "conc=100", NULL},
    {"tasks", "rps_tasks", "conc=100", NULL},
};
static const bench_plot task_echo_plots[] = {
    {BENCH_PLOT_BARS, "task_echo", "echo, 100 connections: callbacks or tasks",
     "", "requests/s", "task_echo: requests per second, callbacks and tasks", 0,
     0, 1, task_echo_bars, BENCH_COUNT(task_echo_bars)}};
static const bench_table task_echo_tables[] = {
    {"echo with callbacks: requests/s", "", "conc", "rps_callbacks"},
    {"echo with a task per connection: requests/s", "", "conc", "rps_tasks"},
    {"tasks over callbacks (request-rate ratio, 1 = no price)", "", "conc",
     "tasks_over_callbacks"},
    {"server CPU time per request, tasks over callbacks (1 = no price)", "",
     "conc", "cpu_tasks_over_callbacks"},
};
const bench_section bench_section_task_echo = {
    "task_echo: straight-line code against callbacks",
    "The echo server written twice on the same loop, a reader per connection "
    "and a task per connection, against the same closed-loop client: the "
    "ratio of their request rates is the price of writing straight-line "
    "code.",
    task_echo_plots,
    BENCH_COUNT(task_echo_plots),
    task_echo_tables,
    BENCH_COUNT(task_echo_tables)};
