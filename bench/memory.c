/* memory.c — heap bytes per registered fd and per pending timer, measured as
 * glibc mallinfo2() deltas (in-use arena plus mmapped blocks). */
#include "bench.h"

#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

static void memory_io_cb(int fd, unsigned events, void *arg) {
  (void)fd;
  (void)events;
  (void)arg;
}

static void memory_timer_cb(void *arg) {
  (void)arg;
}

/* One measurement: registrations made between two non-blocking iterations,
 * so lazily applied changes (libev) are counted. The loop is opened before
 * the fds so fd-limited backends keep their own fds low. `empty` gets the
 * heap bytes of the loop itself, so a table sized up front shows there. */
static int memory_once(bench_ctx *c, int what, int n, int (*sv)[2], double *out,
                       double *empty) {
  long long h00 = bench_heap_bytes();
  evl_loop *loop;
  int rc = bench_loop_new(c, &loop);
  if (rc < 0)
    return rc;
  bench_loop_spin(c, loop);
  int made = 0;
  for (; what == 0 && made < n / 2; made++)
    if ((rc = bench_socketpair(sv[made])) < 0)
      break;
  long long h0 = bench_heap_bytes();
  for (int i = 0; i < n && rc == 0; i++) {
    if (what == 0)
      rc = c->ops->add_reader(loop, sv[i / 2][i & 1], memory_io_cb, NULL);
    else
      rc = c->ops->call_later(loop, 3600000000000ll + i, memory_timer_cb, NULL,
                              NULL);
  }
  if (rc == 0)
    rc = bench_loop_spin(c, loop);
  long long h1 = bench_heap_bytes();
  bench_loop_free(c, loop);
  for (int i = 0; i < made; i++) {
    close(sv[i][0]);
    close(sv[i][1]);
  }
  *out = (double)(h1 - h0) / n;
  *empty = (double)(h0 - h00);
  return rc;
}

int bench_memory(bench_ctx *c) {
  int nfd = 8000;
  int maxfds = (bench_max_pairs() - 1) * 2;
  if (nfd > maxfds)
    nfd = maxfds;
  int ntimer = c->profile == BENCH_FULL ? 1000000 : 100000;
  int(*sv)[2] = calloc((size_t)nfd / 2 + 1, sizeof *sv);
  if (!sv)
    return -ENOMEM;
  double loop_bytes[64];
  int nloop = 0, rc = 0;
  /* 900 fds fit select's FD_SETSIZE, so every implementation has one
   * comparable figure; the larger count shows growth. */
  for (int step = 0; step < 3; step++) {
    int what = step == 2;
    int n = step == 0 ? (nfd < 900 ? nfd : 900) : step == 1 ? nfd : ntimer;
    char params[96];
    snprintf(params, sizeof params, "{\"what\":\"%s\",\"count\":%d}",
             what ? "per_timer" : "per_fd", n);
    double r[64];
    int got = 0;
    for (int rep = 0; rep < c->repeat && rep < 64; rep++) {
      double empty;
      rc = memory_once(c, what, n, sv, &r[got], &empty);
      if (rc < 0)
        break;
      if (step == 2)
        loop_bytes[nloop++] = empty;
      got++;
    }
    if (rc < 0)
      bench_skip(c, "memory", params, "%s", bench_strerror(rc));
    else
      bench_emit(c, "memory", params, "bytes", "bytes", "lower", r, got);
  }
  if (nloop)
    bench_emit(c, "memory", "{\"what\":\"empty_loop\",\"count\":1}", "bytes",
               "bytes", "lower", loop_bytes, nloop);
  free(sv);
  return 0;
}

/* ---- the report section ----------------------------------------------------
 */
static const bench_panel memory_bars[] = {
    {"per fd (900 fds)", "bytes", "what=per_fd count=900", NULL},
    {"per fd (most fds)", "bytes", "what=per_fd count=8000", NULL},
    {"per timer", "bytes", "what=per_timer", NULL},
};
static const bench_plot memory_plots[] = {
    {BENCH_PLOT_BARS, "memory", "memory: heap bytes", "", "bytes",
     "memory: bytes per fd and per timer", 0, 0, 1, memory_bars,
     BENCH_COUNT(memory_bars)}};
static const bench_table memory_tables[] = {
    {"heap bytes per registered fd", "what=per_fd", "count", "bytes"},
    {"heap bytes per pending timer", "what=per_timer", "count", "bytes"},
    {"heap bytes of an empty loop (tables sized up front show here, not per "
     "fd)",
     "what=empty_loop", "count", "bytes"},
};
const bench_section bench_section_memory = {
    "memory",
    "Heap bytes (glibc mallinfo2: in-use arena plus mmapped blocks) per "
    "registered fd and per pending timer. Memory a library maps itself "
    "(io_uring rings) is not counted.",
    memory_plots,
    BENCH_COUNT(memory_plots),
    memory_tables,
    BENCH_COUNT(memory_tables)};
