/* idle.c — one active fd among n idle ones: what an iteration costs as the
 * number of registered but quiet fds grows (O(1) against O(n) backends). */
#include "bench.h"

#include <errno.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

typedef struct idle {
  int active[2];
  long left;
  int rc;
} idle;

static void idle_quiet_cb(int fd, unsigned events, void *arg) {
  (void)fd;
  (void)events;
  ((idle *)arg)->rc = -EPROTO; /* an idle fd must never fire */
}

/* Reads the byte and sends the next, so the fd is ready again next time. */
static void idle_active_cb(int fd, unsigned events, void *arg) {
  (void)events;
  idle *id = arg;
  char b;
  if (recv(fd, &b, 1, 0) != 1 || send(id->active[1], "i", 1, 0) != 1)
    id->rc = -EIO;
  id->left--;
}

static void idle_close_pairs(int (*sv)[2], int made) {
  for (int i = 0; i < made; i++) {
    close(sv[i][0]);
    close(sv[i][1]);
  }
}

/* The loop is opened before the fds, so its own fds (wakeup, epoll) get
 * low numbers and fd-limited backends (select) still work at small n. */
static int idle_size(bench_ctx *c, int n, long iters, int (*sv)[2],
                     double *out) {
  evl_loop *loop;
  int rc = bench_loop_new(c, &loop);
  if (rc < 0)
    return rc;
  int pairs = n / 2 + 2, made = 0;
  for (; made < pairs && rc == 0; made++)
    rc = bench_socketpair(sv[made]);
  if (rc < 0)
    made--;
  idle id = {{sv[0][0], sv[0][1]}, 0, 0};
  /* Both ends of each idle pair are registered: n fds from n/2 pairs. */
  for (int i = 0; i < n && rc == 0; i++)
    rc = c->ops->add_reader(loop, sv[1 + i / 2][i & 1], idle_quiet_cb, &id);
  if (rc == 0)
    rc = c->ops->add_reader(loop, id.active[0], idle_active_cb, &id);
  if (rc == 0 && send(id.active[1], "i", 1, 0) != 1)
    rc = -EIO;
  if (rc == 0)
    rc = bench_loop_spin(c, loop);
  /* Iterations in chunks until the time target: enough samples for fast
   * backends, bounded time for O(n) ones at large n. */
  uint64_t t0 = bench_now(), t1 = t0, target = t0 + (uint64_t)iters * 20000;
  long done = 0;
  while (rc == 0 && id.rc == 0 && (done < 256 || t1 < target) &&
         done < iters * 16) {
    id.left = 256;
    while (rc == 0 && id.rc == 0 && id.left > 0)
      rc = c->ops->run_once(loop);
    done += 256;
    t1 = bench_now();
  }
  if (rc == 0)
    rc = id.rc;
  bench_loop_free(c, loop);
  idle_close_pairs(sv, made);
  *out = (double)(t1 - t0) / (double)done;
  return rc;
}

int bench_idle(bench_ctx *c) {
  static const int sizes_quick[] = {10, 100, 1000, 10000};
  static const int sizes_full[] = {10, 100, 1000, 10000, 100000};
  const int *sizes = c->profile == BENCH_FULL ? sizes_full : sizes_quick;
  int nsizes = c->profile == BENCH_FULL ? 5 : 4;
  long iters = c->profile == BENCH_FULL ? 20000 : 2000;
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
      rc = idle_size(c, n, iters, sv, &r[got]);
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
