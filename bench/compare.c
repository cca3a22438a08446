/* compare.c — `evl-bench --compare A B`: each figure's ratio B/A, changes
 * beyond the spread flagged, and a non-zero exit on a clear regression. */
#include "bench.h"
#include "json.h"
#include "report.h"

#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* What counts as a change (bench/README.md, "Comparing runs").
 *
 * Wall-clock figures: the two runs' own 95 % intervals must be disjoint AND
 * the cost ratio must pass a noise floor, after the run-wide drift is
 * divided out. Two healthy runs on a shared 2-core machine differ by tens
 * of percent in single figures, and a busier machine moves every figure at
 * once: the drift (the median cost ratio over every judged wall figure)
 * takes that out, so what is flagged is a figure that moved against the
 * rest of its run. A change that moves everything alike is the callgrind
 * counts' to see.
 *
 * Deterministic figures: callgrind instructions per operation are the same
 * on every run of the same code, so any change beyond 1 % is flagged; heap
 * bytes likewise, when the change also passes the allocator's granularity. */
#define COMPARE_WALL_FLOOR 1.5
#define COMPARE_DET_FLOOR 1.01
/* Cases whose timers get deadlines from the clock: how far apart the
 * deadlines fall changes the heap's shape (and libevent's queues) a little
 * from run to run; the same binary measured up to 3.4 % apart (native-libev
 * timers_fire). */
#define COMPARE_CLOCKED_FLOOR 1.05
/* A callgrind case judged only with at least this many operations. */
#define COMPARE_CG_MIN_OPS 1000

static int compare_clocked(const char *kase) {
  return !strncmp(kase, "timers_", 7) || !strcmp(kase, "chain_timeouts");
}

/* Cases served to many connections at once (a name ending in _c<N>, N > 1):
 * the instructions per request depend on how many requests each wake-up
 * finds, which depends on the two threads' timing even under valgrind
 * (task_echo_tasks_c100 on ref-epoll: 392 and 371 in two runs of one
 * binary; on py-uvloop, whose emulated run_once costs a run_forever set-up
 * per iteration, 2574 and 4039). Like waits_per_req they say how the work
 * batched: shown, never flagged. Their _c1 twins, one request per wake-up,
 * carry the per-request path at the deterministic floor. */
static int compare_batched(const char *kase) {
  const char *c = strrchr(kase, '_');
  if (!c || c[1] != 'c' || !c[2])
    return 0;
  char *end;
  long n = strtol(c + 2, &end, 10);
  return !*end && n > 1;
}

static json *compare_load(const char *arg) {
  char path[4096], err[300];
  struct stat st;
  if (!arg || !*arg) {
    fprintf(stderr, "evl-bench: --compare needs two run folders (A=... "
                    "B=...)\n");
    return NULL;
  }
  if (stat(arg, &st) == 0 && S_ISDIR(st.st_mode))
    snprintf(path, sizeof path, "%s/results.json", arg);
  else
    snprintf(path, sizeof path, "%s", arg);
  json *j = json_load(path, err, sizeof err);
  if (!j)
    fprintf(stderr, "evl-bench: %s\n", err);
  return j;
}

/* Figures that never fail a comparison: tails and rare-event counts move by
 * multiples between runs; so do the counts of how many requests shared a
 * wait or a system call (waits_per_req, syscalls_per_req at 100
 * connections: 0.013 and 0.058 in two healthy runs), which say how the work
 * batched, not what it cost; wakeup and accuracy measure the scheduler as
 * much as the loop (bimodal on 2 shared cores); calibration is the
 * machine. */
static int compare_gated(const char *bench, const char *metric) {
  static const char *const tails[] = {
      "p99", "p999", "max", "early", "waits_per_req", "syscalls_per_req"};
  for (size_t i = 0; i < sizeof tails / sizeof tails[0]; i++)
    if (!strcmp(metric, tails[i]))
      return 0;
  /* timers: 50 000 timers' re-arm, cancel and fire walk memory at random,
   * and their wall figures move with where the kernel put the pages:
   * three back-to-back runs of one commit put native-libevent's cancel at
   * 66, 187 and 79 ns, every round of the middle run slow. Their
   * callgrind counts are judged (5 %, clocked cases), and their heap bytes. */
  return strcmp(bench, "wakeup") && strcmp(bench, "accuracy") &&
         strcmp(bench, "calibration") && strcmp(bench, "timers");
}

static const json *compare_find(const json *recs, const json *b) {
  const char *bench = json_str(b, "bench", ""), *impl = json_str(b, "impl", ""),
             *metric = json_str(b, "metric", "");
  char pb[512], pa[512];
  json_to_text(json_get(b, "params"), pb, sizeof pb);
  for (int i = 0; i < recs->n; i++) {
    const json *a = recs->kids[i];
    if (strcmp(json_str(a, "type", ""), "measurement") ||
        strcmp(json_str(a, "bench", ""), bench) ||
        strcmp(json_str(a, "impl", ""), impl) ||
        strcmp(json_str(a, "metric", ""), metric))
      continue;
    json_to_text(json_get(a, "params"), pa, sizeof pa);
    if (!strcmp(pa, pb))
      return a;
  }
  return NULL;
}

static double compare_env(const char *name, double def) {
  const char *v = getenv(name);
  return v && atof(v) > 1.0 ? atof(v) : def;
}

/* Every callgrind case of every implementation in B, against A's count:
 * flagged beyond `det` either way; returns the count of worse ones. */
static int compare_callgrind(const char *a_dir, const char *b_dir, double det,
                             int *compared, int *flagged) {
  char path[4096];
  snprintf(path, sizeof path, "%s/callgrind", b_dir);
  DIR *d = opendir(path);
  if (!d)
    return 0;
  int worse = 0, header = 0;
  struct dirent *e;
  while ((e = readdir(d))) {
    size_t len = strlen(e->d_name);
    if (len < 8 || strcmp(e->d_name + len - 7, ".events"))
      continue;
    char name[256], line[256];
    snprintf(name, sizeof name, "%.*s", (int)(len - 7), e->d_name);
    snprintf(path, sizeof path, "%s/callgrind/%s", b_dir, e->d_name);
    FILE *f = fopen(path, "r");
    while (f && fgets(line, sizeof line, f)) {
      char kase[64];
      if (sscanf(line, "%63s", kase) != 1)
        continue;
      double a = bench_cg_per_op(a_dir, name, kase, NULL, 0);
      double b = bench_cg_per_op(b_dir, name, kase, NULL, 0);
      if (a <= 0 || b <= 0)
        continue;
      /* Fewer operations than this in a window-timed case (task_echo on
       * py-uvloop under valgrind: 109 and 355 replies in its second) and
       * the count is mostly the loop waiting, not the work: shown only. */
      int few = bench_cg_ops(a_dir, name, kase) < COMPARE_CG_MIN_OPS ||
                bench_cg_ops(b_dir, name, kase) < COMPARE_CG_MIN_OPS;
      int batched = compare_batched(kase);
      double floor = compare_clocked(kase) && det < COMPARE_CLOCKED_FLOOR
                         ? COMPARE_CLOCKED_FLOOR
                         : det;
      if (!header++)
        printf("\ncallgrind, instructions per operation (deterministic: "
               "flagged beyond %.0f %% either way, %.0f %% for the cases "
               "whose deadlines come from the clock; those served to many "
               "connections at once, or over fewer than %d operations, "
               "shown only):\n",
               (det - 1) * 100, (COMPARE_CLOCKED_FLOOR - 1) * 100,
               COMPARE_CG_MIN_OPS);
      int judged = !few && !batched;
      const char *flag = few             ? "(few operations: shown)"
                         : batched       ? "(batching-dependent: shown)"
                         : b / a > floor ? "worse"
                         : a / b > floor ? "better"
                                         : "";
      if (judged)
        (*compared)++;
      worse += judged && b / a > floor;
      *flagged += judged && flag[0] != 0;
      char label[400];
      snprintf(label, sizeof label, "%s %s", name, kase);
      printf("  %-36s %10.1f %10.1f %7.3f  %s\n", label, a, b, b / a, flag);
    }
    if (f)
      fclose(f);
  }
  closedir(d);
  return worse;
}

/* Heap bytes (memory, and timers' bytes_per_timer) do not depend on
 * timing. */
static int compare_deterministic(const json *x) {
  return !strcmp(json_str(x, "unit", ""), "bytes");
}

/* How far the figure moved between the processes of its own run: max
 * over min of its repeats (1 when unknown). A change between two runs no
 * larger than that is within the figure's own noise, whatever the floor.
 * Measured: the timers' re-arm and cancel figures of 50 000 timers,
 * memory-bound, spread x1.3-x4 across the rounds of one run
 * (native-libevent re-arm 133-608 ns over 12 rounds, a process each); three
 * back-to-back runs of one commit put native-libuv's re-arm median at 207,
 * 351 and 215 ns, and the floor alone flagged the middle one. */
static double compare_spread(const json *x) {
  double lo = json_num(x, "min", 0), hi = json_num(x, "max", 0);
  return lo > 0 && hi >= lo ? hi / lo : 1;
}

/* The record's own interval in cost terms (lower is better), or 0 when it
 * has none (a single repeat). */
static int compare_cost_ci(const json *x, int lower, int repeat, double *lo,
                           double *hi) {
  double l = json_num(x, "ci_lo", 0), h = json_num(x, "ci_hi", 0);
  /* A figure with fewer repeats than its run asked for (a time budget cut
   * it short) is shown, not judged. */
  if (!(l > 0) || !(h >= l) || json_num(x, "n", 0) < 2 ||
      json_num(x, "n", 0) < repeat)
    return 0;
  *lo = lower ? l : 1 / h;
  *hi = lower ? h : 1 / l;
  return 1;
}

/* Pairs every measurement of B with A's (pair[i] for B's record i; NULL
 * when A lacks it or either median is not positive) and returns the
 * run-wide drift: the median cost ratio B/A over the judged wall figures
 * (*ncost of them), 1 when there are none. */
static double compare_pair(const json *ra, const json *rb, const json **pair,
                           int *ncost) {
  double *costs = calloc((size_t)rb->n + 1, sizeof *costs);
  int n = 0;
  for (int i = 0; pair && costs && i < rb->n; i++) {
    const json *x = rb->kids[i];
    if (strcmp(json_str(x, "type", ""), "measurement"))
      continue;
    const json *y = compare_find(ra, x);
    double am = y ? json_num(y, "median", 0) : 0, bm = json_num(x, "median", 0);
    if (!(am > 0) || !(bm > 0))
      continue;
    pair[i] = y;
    int lower = strcmp(json_str(x, "better", "lower"), "higher") != 0;
    if (compare_gated(json_str(x, "bench", ""), json_str(x, "metric", "")) &&
        !compare_deterministic(x))
      costs[n++] = log(lower ? bm / am : am / bm);
  }
  double drift = 1;
  if (n) {
    bench_sort(costs, n);
    drift = exp(n % 2 ? costs[n / 2] : (costs[n / 2 - 1] + costs[n / 2]) / 2);
  }
  free(costs);
  *ncost = n;
  return drift;
}

/* The thresholds a figure is judged by, and the run-wide drift. */
typedef struct compare_gate {
  double wall, det, drift;
  int rep_a, rep_b;
} compare_gate;

/* "worse", "better" or "": B's figure x against A's y (see the top). */
static const char *compare_judge(const json *x, const json *y,
                                 const compare_gate *g) {
  double am = json_num(y, "median", 0), bm = json_num(x, "median", 0);
  int lower = strcmp(json_str(x, "better", "lower"), "higher") != 0;
  double ratio = bm / am;
  double cost = lower ? ratio : 1 / ratio;
  if (compare_deterministic(x)) {
    /* Above the allocator's granularity (chunk headers, rounding). */
    int empty =
        strstr(json_str(json_get(x, "params"), "what", ""), "empty") != NULL;
    if (fabs(bm - am) > (empty ? 16384 : 64))
      return cost > g->det ? "worse" : 1 / cost > g->det ? "better" : "";
  } else if (compare_gated(json_str(x, "bench", ""),
                           json_str(x, "metric", ""))) {
    double alo, ahi, blo, bhi;
    /* The floor, or the figure's own spread in either run if larger. */
    double floor = fmax(g->wall, fmax(compare_spread(x), compare_spread(y)));
    /* Beyond the floor and disjoint both as measured and with the drift
     * divided out: a figure the load does not move (a fixed-rate client's
     * requests per second) must not look better just because the rest of
     * its run got slower. */
    if (compare_cost_ci(y, lower, g->rep_a, &alo, &ahi) &&
        compare_cost_ci(x, lower, g->rep_b, &blo, &bhi)) {
      double c = cost / g->drift, dlo = blo / g->drift, dhi = bhi / g->drift;
      int disjoint = (blo > ahi && dlo > ahi) || (bhi < alo && dhi < alo);
      double move = fmin(fmax(cost, 1 / cost), fmax(c, 1 / c));
      if (disjoint && move > g->wall && move <= floor)
        return "(within its spread: shown)";
      if (cost > floor && c > floor && blo > ahi && dlo > ahi)
        return "worse";
      if (cost < 1 / floor && c < 1 / floor && bhi < alo && dhi < alo)
        return "better";
    }
  }
  return "";
}

/* A line per figure both runs have; the counts of figures compared, only
 * in B, flagged worse and better. */
static void compare_rows(const json *ra, const json *rb, const json **pair,
                         const compare_gate *g, int *compared, int *missing,
                         int *worse, int *better, int *unstable) {
  for (int i = 0; pair && i < rb->n; i++) {
    const json *x = rb->kids[i];
    if (strcmp(json_str(x, "type", ""), "measurement"))
      continue;
    const json *y = pair[i];
    if (!y) {
      *missing += compare_find(ra, x) == NULL;
      continue;
    }
    double am = json_num(y, "median", 0), bm = json_num(x, "median", 0);
    (*compared)++;
    const char *flag = compare_judge(x, y, g);
    *worse += !strcmp(flag, "worse");
    *better += !strcmp(flag, "better");
    *unstable += flag[0] == '(';
    char p[512];
    json_to_text(json_get(x, "params"), p, sizeof p);
    char av[32], bv[32];
    snprintf(av, sizeof av, "%.4g", am);
    snprintf(bv, sizeof bv, "%.4g", bm);
    printf("%-11s %-44.44s %-16s %-14s %12s %12s %7.3f  %s\n",
           json_str(x, "bench", ""), p, json_str(x, "impl", ""),
           json_str(x, "metric", ""), av, bv, bm / am, flag);
  }
}

int report_compare(const char *a_dir, const char *b_dir) {
  compare_gate g = {
      .wall = compare_env("EVL_BENCH_THRESHOLD", COMPARE_WALL_FLOOR),
      .det = compare_env("EVL_BENCH_DET_THRESHOLD", COMPARE_DET_FLOOR)};
  json *a = compare_load(a_dir), *b = a ? compare_load(b_dir) : NULL;
  if (!a || !b) {
    json_free(a);
    return 2;
  }
  const json *ra = json_get(a, "records"), *rb = json_get(b, "records");
  if (!ra || !rb || ra->type != JSON_ARR || rb->type != JSON_ARR) {
    fprintf(stderr, "evl-bench: --compare: no records array\n");
    json_free(a);
    json_free(b);
    return 2;
  }
  const json *ea = json_get(a, "environment"), *eb = json_get(b, "environment");
  printf("A: %s (%s, %s profile, commit %.12s)\nB: %s (%s, %s profile, "
         "commit %.12s)\n",
         a_dir, json_str(ea, "date", "?"), json_str(ea, "profile", "?"),
         json_str(ea, "commit", "?"), b_dir, json_str(eb, "date", "?"),
         json_str(eb, "profile", "?"), json_str(eb, "commit", "?"));
  g.rep_a = (int)json_num(ea, "repeat", 0);
  g.rep_b = (int)json_num(eb, "repeat", 0);
  const json **pair = calloc((size_t)rb->n + 1, sizeof *pair);
  int ncost = 0;
  g.drift = compare_pair(ra, rb, pair, &ncost);
  printf("ratio = B/A of the medians. A wall-clock figure is flagged "
         "'worse' or 'better' when, both as\nmeasured and with the "
         "run-wide drift (×%.3f, the median cost ratio over %d figures)\n"
         "divided out, the two runs' 95 %% intervals are disjoint and the "
         "cost ratio passes ×%.2f;\nheap bytes beyond %.0f %%.\n\n",
         g.drift, ncost, g.wall, (g.det - 1) * 100);
  printf("%-11s %-44s %-16s %-14s %12s %12s %7s  %s\n", "bench", "parameters",
         "implementation", "metric", "A", "B", "B/A", "");
  int compared = 0, better = 0, worse = 0, missing = 0, unstable = 0;
  compare_rows(ra, rb, pair, &g, &compared, &missing, &worse, &better,
               &unstable);
  int flagged = 0;
  int cg_worse = compare_callgrind(a_dir, b_dir, g.det, &compared, &flagged);
  printf("\n%d figures compared (%d only in B); run-wide drift ×%.3f; "
         "flagged: %d worse, %d better (wall and heap), %d callgrind (%d "
         "worse); %d more moved beyond ×%.2f but within their own spread "
         "in a run: shown. Tails, wakeup, accuracy, calibration and the "
         "timers' wall figures are shown, never flagged.\n",
         compared, missing, g.drift, worse, better, flagged, cg_worse, unstable,
         g.wall);
  if (g.drift > g.wall || g.drift < 1 / g.wall)
    printf("note: the whole of B moved ×%.2f against A (a busier or "
           "quieter machine, or a change that touches everything): the "
           "callgrind counts say which.\n",
           g.drift);
  free(pair);
  json_free(a);
  json_free(b);
  /* Nothing in common is no evidence of anything: an empty or failed run
   * must not pass a regression gate. */
  if (!compared) {
    fprintf(stderr, "evl-bench: --compare: no figure is in both runs\n");
    return 2;
  }
  return worse || cg_worse ? 1 : 0;
}
