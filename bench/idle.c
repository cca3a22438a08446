/* idle.c — one active fd among n idle ones: what an iteration costs as the
 * number of registered but quiet fds grows (O(1) against O(n) backends). */
#include "kernels.h"

#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

/* ---- the evl kernel ------------------------------------------------------ */
static void idle_quiet_cb(int fd, unsigned events, void *arg) {
  (void)fd;
  (void)events;
  ((bench_idle_state *)arg)->rc = -EPROTO; /* an idle fd must never fire */
}

static void idle_active_cb(int fd, unsigned events, void *arg) {
  (void)events;
  bench_idle_active(arg, fd);
}

static int idle_evl_open(bench_idle_state *id) {
  evl_loop *loop;
  int rc = bench_loop_new(id->c, &loop);
  if (rc == 0)
    id->k = loop;
  return rc;
}

static int idle_evl_add_quiet(bench_idle_state *id, int fd) {
  return id->c->ops->add_reader(id->k, fd, idle_quiet_cb, id);
}

static int idle_evl_add_active(bench_idle_state *id) {
  return id->c->ops->add_reader(id->k, id->active[0], idle_active_cb, id);
}

static int idle_evl_run(bench_idle_state *id) {
  int rc = 0;
  while (rc == 0 && id->rc == 0 && id->left > 0)
    rc = id->c->ops->run_once(id->k);
  return rc;
}

static void idle_evl_close(bench_idle_state *id) {
  bench_loop_free(id->c, id->k);
  id->k = NULL;
}

static const bench_idle_kernel idle_evl_kernel = {
    idle_evl_open, idle_evl_add_quiet, idle_evl_add_active, idle_evl_run,
    idle_evl_close};

static const bench_idle_kernel *idle_kernel(const bench_ctx *c) {
  return c->ops ? &idle_evl_kernel : c->direct ? c->direct->idle : NULL;
}

/* ---- the sweep ----------------------------------------------------------- */
static void idle_close_pairs(int (*sv)[2], int made) {
  for (int i = 0; i < made; i++) {
    close(sv[i][0]);
    close(sv[i][1]);
  }
}

/* Iterations counted under callgrind: the count is exact, so a thousand
 * (past a warm-up of 64) are plenty, and cheap even where an iteration
 * walks every fd (poll at n=10 000). */
#define IDLE_CG_ITERS 1000

/* The loop is opened before the fds, so its own fds (wakeup, epoll) get
 * low numbers and fd-limited backends (select) still work at small n.
 * With cg_case, one warm-up chunk and then IDLE_CG_ITERS iterations
 * counted by callgrind replace the timed loop. */
static int idle_size(bench_ctx *c, const bench_idle_kernel *k, int n,
                     long iters, int (*sv)[2], const char *cg_case,
                     double *out) {
  bench_idle_state id = {0};
  id.c = c;
  int rc = k->open(&id);
  if (rc < 0)
    return rc;
  int pairs = n / 2 + 2, made = 0;
  for (; made < pairs && rc == 0; made++)
    rc = bench_socketpair(sv[made]);
  if (rc < 0)
    made--;
  id.active[0] = sv[0][0];
  id.active[1] = sv[0][1];
  /* Both ends of each idle pair are registered: n fds from n/2 pairs. */
  for (int i = 0; i < n && rc == 0; i++)
    rc = k->add_quiet(&id, sv[1 + i / 2][i & 1]);
  if (rc == 0)
    rc = k->add_active(&id);
  if (rc == 0 && send(id.active[1], "i", 1, 0) != 1)
    rc = -EIO;
  if (rc == 0) {
    id.left = 1;
    rc = k->run(&id);
  }
  /* Iterations in chunks of 64 until the time target: enough samples for
   * fast backends, bounded time for O(n) ones at large n (poll over 10 000
   * fds takes milliseconds an iteration: 64 of them are plenty). */
  uint64_t t0 = bench_now(), t1 = t0, target = t0 + (uint64_t)iters * 20000;
  long done = 0;
  if (cg_case && rc == 0) {
    id.left = 64;
    rc = k->run(&id);
    if (rc == 0 && id.rc == 0) {
      id.left = IDLE_CG_ITERS;
      bench_cg_start(c);
      rc = k->run(&id);
      bench_cg_case(c, cg_case, IDLE_CG_ITERS);
    }
    done = IDLE_CG_ITERS;
    t1 = bench_now();
  }
  while (!cg_case && rc == 0 && id.rc == 0 && (done < 64 || t1 < target) &&
         done < iters * 16) {
    id.left = 64;
    rc = k->run(&id);
    done += 64;
    t1 = bench_now();
  }
  if (rc == 0)
    rc = id.rc;
  k->close(&id);
  idle_close_pairs(sv, made);
  *out = (double)(t1 - t0) / (double)(done ? done : 1);
  return rc;
}

int bench_idle(bench_ctx *c) {
  const bench_idle_kernel *k = idle_kernel(c);
  if (!k) {
    bench_skip(c, "idle", "{}", "not written for %s", c->impl_name);
    return 0;
  }
  static const int sizes_quick[] = {10, 100, 1000, 10000};
  static const int sizes_full[] = {10, 100, 1000, 10000, 100000};
  const int *sizes = c->profile == BENCH_FULL ? sizes_full : sizes_quick;
  int nsizes = c->profile == BENCH_FULL ? 5 : 4;
  long iters = c->profile == BENCH_FULL ? 20000 : 1000;
  /* Two registered fds per idle pair, plus the active pair. */
  int maxn = (bench_max_pairs() - 2) * 2;
  int(*sv)[2] = calloc((size_t)maxn / 2 + 2, sizeof *sv);
  if (!sv)
    return -ENOMEM;
  int last = 0, rc = 0;
  for (int si = 0; si < nsizes && !last; si++) {
    int n = sizes[si];
    if (n > maxn) {
      bench_note(c, "idle",
                 "n=%d does not fit RLIMIT_NOFILE=%ld: the sweep stops at "
                 "n=%d",
                 n, bench_raise_nofile(), maxn);
      n = maxn;
      last = 1;
      if (si > 0 && n <= sizes[si - 1])
        break;
    }
    char params[64];
    snprintf(params, sizeof params, "{\"n\":%d}", n);
    double r[64];
    int got = 0;
    for (int rep = 0; rep < c->repeat && rep < 64; rep++) {
      rc = idle_size(c, k, n, iters, sv, NULL, &r[got]);
      if (rc < 0)
        break;
      got++;
    }
    if (rc < 0) {
      bench_skip(c, "idle", params, "n=%d: %s", n, bench_strerror(rc));
      break;
    }
    bench_emit(c, "idle", params, "per_iteration", "ns", "lower", r, got);
    if (bench_over_budget(c)) {
      bench_note(c, "idle", "time budget spent after n=%d", n);
      break;
    }
  }
  free(sv);
  return 0;
}

/* The callgrind cases: user-space instructions per iteration among 100 and
 * among 10 000 idle fds, the sizes the "O(1) flat" verdicts compare. An
 * implementation that cannot hold 10 000 fds (select) keeps its first
 * count and returns -ERANGE (its limit, not a failure). */
int bench_cg_idle(bench_ctx *c) {
  static const struct {
    int n;
    const char *kase;
  } sizes[] = {{100, "idle_100"}, {10000, "idle_10000"}};
  const bench_idle_kernel *k = idle_kernel(c);
  if (!k)
    return 0;
  int maxn = (bench_max_pairs() - 2) * 2;
  int(*sv)[2] = calloc((size_t)sizes[1].n / 2 + 2, sizeof *sv);
  if (!sv)
    return -ENOMEM;
  int rc = 0;
  for (size_t i = 0; i < BENCH_COUNT(sizes) && rc == 0; i++) {
    double per;
    rc = sizes[i].n > maxn
             ? -ERANGE
             : idle_size(c, k, sizes[i].n, 0, sv, sizes[i].kase, &per);
  }
  free(sv);
  return rc;
}

/* ---- the report section ----------------------------------------------------
 */
static const bench_panel idle_lines[] = {
    {"ns per iteration", "per_iteration", "", "n"}};
static const bench_plot idle_plots[] = {
    {BENCH_PLOT_LINES, "idle", "idle scaling", "n (idle fds)",
     "ns per iteration", "idle: ns per iteration against n", 1, 1, 1,
     idle_lines, 1}};
static const bench_table idle_tables[] = {
    {"idle: ns per iteration", "", "n", "per_iteration"}};
const bench_section bench_section_idle = {
    "idle: one active fd among n idle",
    "ns per iteration while n registered fds stay idle: flat for O(1) "
    "backends, growing for poll and select. The \"O(1) flat\" verdicts "
    "compare the callgrind section's user-space instructions per iteration "
    "at n=10 000 and n=100 (exact; the kernel's side is not counted), with "
    "this wall ratio beside them.",
    idle_plots,
    BENCH_COUNT(idle_plots),
    idle_tables,
    BENCH_COUNT(idle_tables)};
