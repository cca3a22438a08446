/* util.c — evl-bench's shared plumbing: clocks, statistics, fds, loops
 * (the JSON records a step writes are bench/records.c's). */
#include "bench.h"

#include <evl/backend.h>

#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <pthread.h>
#include <sched.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <arpa/inet.h>
#include <time.h>
#include <unistd.h>

#if defined(__has_include)
#if __has_include(<valgrind/callgrind.h>)
#include <valgrind/callgrind.h>
#define UTIL_HAVE_CALLGRIND 1
#endif
#endif

uint64_t bench_now(void) {
  return evl_now();
}

void bench_sleep_ns(uint64_t ns) {
  struct timespec ts = {(time_t)(ns / 1000000000u), (long)(ns % 1000000000u)};
  while (nanosleep(&ts, &ts) < 0 && errno == EINTR) {
  }
}

int bench_over_budget(const bench_ctx *c) {
  return c->deadline_ns && bench_now() > c->deadline_ns;
}

/* ---- statistics ---------------------------------------------------------- */
static int util_cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

void bench_sort(double *v, int n) {
  if (n > 1) /* qsort(NULL, 0) is undefined: a run that kept no samples */
    qsort(v, (size_t)n, sizeof *v, util_cmp_double);
}

double bench_pct_sorted(const double *s, int n, double p) {
  if (n <= 0)
    return 0;
  if (n == 1)
    return s[0];
  double pos = p / 100.0 * (n - 1);
  int i = (int)pos;
  if (i >= n - 1)
    return s[n - 1];
  double f = pos - i;
  return s[i] + (s[i + 1] - s[i]) * f;
}

double bench_median(double *v, int n) {
  bench_sort(v, n);
  return bench_pct_sorted(v, n, 50);
}

void bench_stats_of(const double *v, int n, bench_stats *out) {
  memset(out, 0, sizeof *out);
  out->n = n;
  if (n <= 0)
    return;
  double *s = malloc((size_t)n * sizeof *s);
  if (!s)
    return;
  memcpy(s, v, (size_t)n * sizeof *s);
  bench_sort(s, n);
  double sum = 0;
  for (int i = 0; i < n; i++)
    sum += s[i];
  out->mean = sum / n;
  out->min = s[0];
  out->max = s[n - 1];
  out->median = bench_pct_sorted(s, n, 50);
  out->p10 = bench_pct_sorted(s, n, 10);
  out->p90 = bench_pct_sorted(s, n, 90);
  free(s);
}

/* Bootstrap: resample with replacement, take the median, repeat; the 2.5th
 * and 97.5th percentiles of those medians bound a 95 % interval. The
 * generator is seeded from the data, so a report rebuilt from the same
 * results shows the same intervals. */
#define UTIL_BOOT 2000

static double util_resampled_median(const double *v, int n, uint64_t *rng,
                                    double *tmp) {
  for (int i = 0; i < n; i++)
    tmp[i] = v[bench_rand(rng) % (uint64_t)n];
  return bench_median(tmp, n);
}

static uint64_t util_seed(const double *v, int n) {
  uint64_t h = 1469598103934665603u;
  for (int i = 0; i < n; i++) {
    uint64_t x;
    memcpy(&x, &v[i], sizeof x);
    h = (h ^ x) * 1099511628211u;
  }
  return h | 1;
}

int bench_boot_ratio(const double *a, int na, const double *b, int nb,
                     double *lo, double *hi) {
  *lo = *hi = 0;
  if (na <= 0 || (b && nb <= 0))
    return -EINVAL;
  double *ta = malloc((size_t)(na + nb) * sizeof *ta);
  double *boot = malloc(UTIL_BOOT * sizeof *boot);
  if (!ta || !boot) {
    free(ta);
    free(boot);
    return -ENOMEM;
  }
  uint64_t rng = util_seed(a, na) ^ (b ? util_seed(b, nb) : 0);
  int m = 0;
  for (int k = 0; k < UTIL_BOOT; k++) {
    double x = util_resampled_median(a, na, &rng, ta);
    double y = b ? util_resampled_median(b, nb, &rng, ta + na) : 1;
    if (y != 0 && x == x && y == y)
      boot[m++] = x / y;
  }
  bench_sort(boot, m);
  *lo = bench_pct_sorted(boot, m, 2.5);
  *hi = bench_pct_sorted(boot, m, 97.5);
  free(ta);
  free(boot);
  return m ? 0 : -EDOM;
}

const char *bench_strerror(int rc) {
  static char buf[160];
  if (rc == -ERANGE)
    snprintf(buf, sizeof buf,
             "%s: an fd beyond the backend's fd_limit (select: FD_SETSIZE)",
             evl_strerror(rc));
  else if (rc == -EMFILE)
    snprintf(buf, sizeof buf, "%s: RLIMIT_NOFILE reached", evl_strerror(rc));
  else
    snprintf(buf, sizeof buf, "%s", evl_strerror(rc));
  return buf;
}

/* ---- fds and sockets ------------------------------------------------------
 */
long bench_raise_nofile(void) {
  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
    return 1024;
  if (rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
    getrlimit(RLIMIT_NOFILE, &rl);
  }
  return rl.rlim_cur == RLIM_INFINITY ? 1 << 20 : (long)rl.rlim_cur;
}

int bench_max_pairs(void) {
  long lim = bench_raise_nofile();
  /* A reserve for stdio, the loop's own fds (epoll, eventfd, io_uring) and
   * the libraries'; the rest is two per pair. */
  long pairs = (lim - 64) / 2;
  return pairs < 1 ? 1 : (int)pairs;
}

int bench_socketpair(int sv[2]) {
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) <
      0)
    return -errno;
  return 0;
}

int bench_listen_tcp(int *port) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0)
    return -errno;
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  struct sockaddr_in sa = {0};
  sa.sin_family = AF_INET;
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof sa;
  if (bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0 || listen(fd, 512) < 0 ||
      getsockname(fd, (struct sockaddr *)&sa, &len) < 0) {
    int e = -errno;
    close(fd);
    return e;
  }
  *port = ntohs(sa.sin_port);
  return fd;
}

int bench_nonblock(int fd) {
  int fl = fcntl(fd, F_GETFL);
  if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0)
    return -errno;
  return 0;
}

void bench_nodelay(int fd) {
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

/* Blocking connect (loopback is immediate), then non-blocking + NODELAY. */
int bench_connect_tcp(int port) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0)
    return -errno;
  struct sockaddr_in sa = {0};
  sa.sin_family = AF_INET;
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  sa.sin_port = htons((uint16_t)port);
  if (connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
    int e = -errno;
    close(fd);
    return e;
  }
  bench_nodelay(fd);
  int rc = bench_nonblock(fd);
  if (rc < 0) {
    close(fd);
    return rc;
  }
  return fd;
}

/* ---- loops ------------------------------------------------------------------
 */
int bench_loop_new(bench_ctx *c, evl_loop **out) {
  evl_impl_config cfg = {0};
  cfg.size = sizeof cfg;
  cfg.executor_threads = 1;
  int rc = c->ops->loop_new(c->ops->data, &cfg, out);
  if (rc < 0)
    return rc;
  if (!c->backend_buf[0] && c->ops->backend_name) {
    const char *b = c->ops->backend_name(*out);
    snprintf(c->backend_buf, sizeof c->backend_buf, "%s", b ? b : "");
    c->backend = c->backend_buf;
  }
  return 0;
}

void bench_loop_free(bench_ctx *c, evl_loop *loop) {
  if (!loop)
    return;
  c->ops->loop_close(loop);
  c->ops->loop_free(loop);
}

static void util_noop(void *arg) {
  (void)arg;
}

bench_rearm_fn bench_rearm_of(const evl_impl_ops *ops) {
  if (!ops || !(ops->features & EVL_IF_REARM) ||
      ops->size < offsetof(evl_impl_ops, rearm) + sizeof ops->rearm)
    return NULL;
  return ops->rearm;
}

int bench_loop_spin(bench_ctx *c, evl_loop *loop) {
  int rc = c->ops->call_soon(loop, util_noop, NULL, NULL);
  if (rc < 0)
    return rc;
  return c->ops->run_once(loop);
}

void bench_pin(int which) {
  /* The CPUs the process had before its first pin: a thread created after
   * the loop's thread pinned itself inherits that one CPU, and asking its
   * own mask would leave a load generator on the loop's CPU. The first call
   * is the loop thread's, before any other thread exists. */
  static cpu_set_t all;
  static int have;
  cpu_set_t one;
  if (!have && sched_getaffinity(0, sizeof all, &all) == 0)
    have = 1;
  if (!have || CPU_COUNT(&all) < 2)
    return;
  /* The which-th CPU this process may use, so a cpuset is respected. */
  for (int cpu = 0, seen = 0; cpu < CPU_SETSIZE; cpu++) {
    if (!CPU_ISSET(cpu, &all))
      continue;
    if (seen++ == which) {
      CPU_ZERO(&one);
      CPU_SET(cpu, &one);
      pthread_setaffinity_np(pthread_self(), sizeof one, &one);
      return;
    }
  }
}

long long bench_heap_bytes(void) {
  struct mallinfo2 mi = mallinfo2();
  return (long long)mi.uordblks + (long long)mi.hblkhd;
}

uint64_t bench_rand(uint64_t *s) {
  uint64_t x = *s ? *s : 0x9e3779b97f4a7c15u;
  x ^= x << 13;
  x ^= x >> 7;
  x ^= x << 17;
  *s = x;
  return x;
}

/* The feature bits of the selector backend the loop runs over (0 for a
 * baseline or a loop without one), asked of the backend table, never of a
 * name. The backend is learned from a loop when no step made one yet. */
unsigned bench_backend_features(bench_ctx *c) {
  if (!c->ops)
    return 0;
  if (!c->backend || !c->backend[0]) {
    evl_loop *loop;
    if (bench_loop_new(c, &loop) == 0)
      bench_loop_free(c, loop);
  }
  const evl_backend_ops *be = NULL;
  char err[160];
  return c->backend && c->backend[0] &&
                 evl_backend_lookup(c->backend, &be, err, sizeof err) == 0 && be
             ? be->features
             : 0;
}

int bench_lends_ring(bench_ctx *c) {
  return c->ops && c->ops->call_later == evl_call_later &&
         (bench_backend_features(c) & EVL_BF_COMPLETION);
}

int bench_cg_uring_wait(bench_ctx *c) {
#ifdef UTIL_HAVE_CALLGRIND
  return RUNNING_ON_VALGRIND && (bench_backend_features(c) & EVL_BF_COMPLETION);
#else
  (void)c;
  return 0;
#endif
}

void bench_cg_start(bench_ctx *c) {
#ifdef UTIL_HAVE_CALLGRIND
  if (c->callgrind)
    CALLGRIND_TOGGLE_COLLECT;
#else
  (void)c;
#endif
}

void bench_cg_stop(bench_ctx *c) {
  bench_cg_start(c); /* a toggle */
}

void bench_cg_case(bench_ctx *c, const char *name, unsigned long long count) {
  if (!c->callgrind)
    return;
  bench_cg_stop(c);
#ifdef UTIL_HAVE_CALLGRIND
  /* Each dump holds the counts since the previous one: one case each. */
  CALLGRIND_DUMP_STATS_AT(name);
#endif
  if (c->cg_events) {
    fprintf(c->cg_events, "%s %llu %s\n", name, count,
            c->backend && c->backend[0] ? c->backend : "-");
    fflush(c->cg_events);
  }
}

void bench_lat_add(bench_lat *l, double ns) {
  if (l->n == l->cap) {
    size_t cap = l->cap ? l->cap * 2 : 1024;
    double *v = realloc(l->v, cap * sizeof *v);
    if (!v)
      return;
    l->v = v;
    l->cap = cap;
  }
  l->v[l->n++] = ns;
}

void bench_lat_free(bench_lat *l) {
  free(l->v);
  l->v = NULL;
  l->n = l->cap = 0;
}
