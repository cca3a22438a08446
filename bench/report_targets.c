/* report_targets.c — "where we stand": the project's targets against this
 * run, one verdict row each. Only the list of targets and the figures each
 * reads live here; how a row is judged and printed is report_verdict.c's,
 * so a new target is a few lines and never new statistics. */
#include "bench.h"
#include "json.h"
#include "report_int.h"

#include <string.h>

#include <evl/backend.h>

/* A target measured as paired ratios inside each step's process (the cost
 * ratio of two things that alternated there; 1/ratio when `invert`): per
 * matching record (a configuration), the median and 95 % bootstrap
 * interval of its ratios; over the configurations, the worst of each:
 * the highest median and the highest of each bound. That composite is
 * "met" only when every configuration's interval lies within the goal
 * (each interval covers its own figure: no multiple-comparison loss on
 * that side, and no upward bias from taking the largest of noisy
 * medians), "not yet" when some configuration's lies wholly beyond it.
 * Marked paired: the verdict's drift allowance is VERDICT_DRIFT_PAIRED.
 * 0 when there are none. */
static int targets_paired(const report *r, const char *impl, const char *bench,
                          const char *metric, int invert, verdict_fig *f) {
  verdict_fig one;
  *f = (verdict_fig){0};
  for (int i = 0; i < r->nrecs; i++) {
    const report_rec *x = &r->recs[i];
    if (strcmp(x->type, "measurement") || strcmp(x->bench, bench) ||
        strcmp(x->metric, metric) || strcmp(x->impl, impl))
      continue;
    double v[256];
    int n = report_repeats(x, v, 256), k = 0;
    for (int j = 0; j < n; j++)
      if (v[j] > 0)
        v[k++] = invert ? 1 / v[j] : v[j];
    one = (verdict_fig){0};
    if (k == 0 || bench_boot_ratio(v, k, NULL, 0, &one.lo, &one.hi) < 0)
      continue;
    one.wall = bench_median(v, k);
    f->wall = f->n && f->wall > one.wall ? f->wall : one.wall;
    f->lo = f->n && f->lo > one.lo ? f->lo : one.lo;
    f->hi = f->n && f->hi > one.hi ? f->hi : one.hi;
    f->n += k;
  }
  f->paired = 1;
  return f->n > 0;
}

/* Issue 12: the task echo server within 1.05x of the callback server's
 * requests per second. bench/task_echo.c runs both servers in one process
 * in alternating 10 ms slices (ABBA quads). Decided by the server thread's
 * CPU time per reply (kernel time included), tasks over callbacks: what a
 * server's requests per second are at capacity is the inverse of that,
 * and below capacity (one connection) the tasks' extra time per request
 * adds to a round trip that is longer than the server's own share, so
 * the request-rate cost is at most the CPU cost. The request-rate ratio
 * itself is what the machine's other load moves most (a starved slice
 * halves it): on 2 CPUs shared with other work its interval stayed
 * +-5-10 % where the CPU ratio's was +-0.5-1.5 %. It stands beside it in
 * the figures. The instructions ratio beside is c=1's: one request in
 * flight, so it counts one request's work; at c=100 the callback server
 * answers more requests per wake-up than the task server in one run and
 * fewer in the next (callgrind times the servers against a live client),
 * and the per-request counts move by a third between runs. */
static void targets_task_echo(report *r, const char *ref) {
  verdict_fig f, w;
  char fig[400];
  targets_paired(r, ref, "task_echo", "cpu_tasks_over_callbacks", 0, &f);
  targets_paired(r, ref, "task_echo", "tasks_over_callbacks", 1, &w);
  f.cpu = 1;
  f.cg = verdict_cg(r, ref, "task_echo_tasks_c1") > 0 &&
                 verdict_cg(r, ref, "task_echo_callbacks_c1") > 0
             ? verdict_cg(r, ref, "task_echo_tasks_c1") /
                   verdict_cg(r, ref, "task_echo_callbacks_c1")
             : 0;
  if (w.n)
    snprintf(fig, sizeof fig,
             "server CPU time per request, tasks over callbacks, worst "
             "connection count (each bound the worst of 1, 10, 100), "
             "paired in 10 ms slices; requests/s, callbacks over tasks, the "
             "same way: ×%.2f [%.2f–%.2f]; instructions: user space per "
             "request, c=1",
             w.wall, w.lo, w.hi);
  else
    snprintf(fig, sizeof fig,
             "server CPU time per request, tasks over "
             "callbacks, worst connection count");
  verdict_row(r, "task echo server within 1.05× of the callback echo server",
              fig, &f, 1.05);
}

/* The wall-clock figure of impl's records of bench/metric matching where,
 * against base's (NULL: the fastest direct library's). */
static verdict_fig targets_wall(const report *r, const char *impl,
                                const char *bench, const char *metric,
                                const char *where, const char *base) {
  verdict_pairs p = {0};
  verdict_fig f = {0};
  verdict_collect(r, &p, impl, bench, metric, where, base);
  verdict_wall(&p, &f);
  return f;
}

/* Against raw epoll: the kernel's share counts, so wall clock, or the
 * thread's CPU time (user + system) where that is all the work (chain: the
 * loop never blocks, the wake-ups run in the sending thread). */
static void targets_raw(report *r, const char *ref) {
  static const struct {
    const char *bench, *metric, *where, *what, *paired, *paired_what;
    int paired_cpu; /* the paired ratios are of the thread's CPU time */
  } raw_targets[] = {
      {"chain", "per_event", "timeouts=0 run=warm",
       "ns per event, warm, every no-timeout configuration",
       BENCH_PAIRED_METRIC,
       "CPU time per event (the loop thread's, user + system), paired with "
       "raw epoll in one process: a repeat is the median of 10 adjacent "
       "pairs of 1 000-write runs; geometric mean over n = 100 and 1 000, "
       "a = 100, no timeouts",
       1},
      {"pingpong", "round_trips", "", "round trips per second",
       BENCH_PAIRED_METRIC,
       "time per round trip, paired with raw epoll in one process (100 ms "
       "each, alternating)",
       0},
      {"echo", "rps", "mode=closed", "requests per second, closed loop",
       BENCH_PAIRED_METRIC,
       "the serving thread's CPU time (user + system) per byte echoed, "
       "paired with raw epoll in one process: one closed-loop run, 100 "
       "connections × 10 KiB, moved between the two every 50 ms",
       1},
  };
  for (int k = 0; k < BENCH_COUNT(raw_targets); k++) {
    char t[128];
    verdict_fig f;
    snprintf(t, sizeof t, "ref-epoll within 1.10× of raw-epoll: %s",
             raw_targets[k].bench);
    /* Paired with the raw kernel in one process where the benchmark
     * measured that (pingpong, chain, echo): the drift between processes
     * is out; older results without them fall back to the figures below. */
    if (raw_targets[k].paired && targets_paired(r, ref, raw_targets[k].bench,
                                                raw_targets[k].paired, 0, &f)) {
      f.cpu = raw_targets[k].paired_cpu;
      verdict_row(r, t, raw_targets[k].paired_what, &f, 1.10);
      continue;
    }
    f = targets_wall(r, ref, raw_targets[k].bench, raw_targets[k].metric,
                     raw_targets[k].where, BENCH_RAW_NAME);
    verdict_row(r, t, raw_targets[k].what, &f, 1.10);
  }
}

/* Against the fastest library: the same work in user space, so the
 * callgrind counts decide. */
static void targets_fastest(report *r, const char *ref) {
  const char *who = "direct";
  char fig[320];
  static const char *const chain_to[] = {"chain_timeouts"};
  verdict_fig f = targets_wall(r, ref, "chain", "per_event",
                               "n=1000 active=100 timeouts=1 run=warm", NULL);
  f.by_cg = 1;
  f.cg = verdict_cg_vs_best(r, ref, chain_to, 1, &who);
  snprintf(fig, sizeof fig, "per event, n=1000, a=100; instructions against %s",
           who);
  verdict_row(r,
              "ref-epoll no slower than the fastest direct library: chain "
              "with timeouts",
              fig, &f, 1.0);
  static const char *const tm[] = {"insert", "fire", "cancel", "rearm"};
  for (int k = 0; k < 4; k++) {
    char t[128], kase[32];
    snprintf(t, sizeof t,
             "ref-epoll no slower than the fastest direct library: timers "
             "(%s)",
             tm[k]);
    snprintf(kase, sizeof kase, "timers_%s", tm[k]);
    const char *cases[] = {kase};
    f = targets_wall(r, ref, "timers", tm[k], "", NULL);
    f.by_cg = 1;
    f.cg = verdict_cg_vs_best(r, ref, cases, 1, &who);
    /* Insert and re-arm take a delay: S5 has the loop read the clock for
     * it, where the libraries add it to their cached time. Under valgrind
     * that read is a system call (about 16 instructions counted); in wall
     * time it is a vDSO read, ~21 ns on the 2-core VM, most of the wall
     * gap beside. Said where it decides. */
    snprintf(fig, sizeof fig, "per operation; instructions against %s%s", who,
             k == 0 || k == 3
                 ? " (ours include S5's fresh clock read for the delay: "
                   "about 16 instructions counted, a vDSO clock read in "
                   "wall time; the libraries add it to their cached time)"
                 : "");
    verdict_row(r, t, fig, &f, 1.0);
  }
  static const char *const cb_cases[] = {"callbacks_chain", "callbacks_fanout"};
  f = targets_wall(r, ref, "callbacks", "rate", "", NULL);
  f.by_cg = 1;
  f.cg = verdict_cg_vs_best(r, ref, cb_cases, 2, &who);
  verdict_row(r,
              "ref-epoll no slower than the fastest direct library: "
              "callbacks",
              "per callback, chain and fan-out (each against the leanest "
              "library's count)",
              &f, 1.0);
}

/* Each adapter's tax: native-X against direct-X, with and without timeouts
 * (issue 10's callgrind targets), wall clock beside. */
static void targets_adapters(report *r) {
  static const char *const cases[] = {"chain", "chain_timeouts"};
  for (int i = 0; i < r->nimpls; i++) {
    const char *d = report_direct_of(r, r->impls[i]);
    if (!d)
      continue;
    for (int k = 0; k < 2; k++) {
      char t[160], where[96];
      snprintf(t, sizeof t, "%s within 1.15× of %s: %s", r->impls[i], d,
               k ? "chain with timeouts" : "chain");
      snprintf(where, sizeof where, "n=1000 active=100 timeouts=%d run=warm",
               k);
      verdict_fig f =
          targets_wall(r, r->impls[i], "chain", "per_event", where, d);
      f.by_cg = 1;
      f.cg = verdict_cg_vs(r, r->impls[i], d, cases[k]);
      verdict_row(r, t, "per event, n=1000, a=100, warm", &f, 1.15);
    }
  }
}

/* ref-epoll against the leanest library in instructions (issue 10). */
static void targets_leanest(report *r, const char *ref) {
  const char *who = "direct";
  char fig[160];
  static const char *const chain0[] = {"chain"};
  verdict_fig f = targets_wall(r, ref, "chain", "per_event",
                               "n=1000 active=100 timeouts=0 run=warm", NULL);
  f.by_cg = 1;
  f.cg = verdict_cg_vs_best(r, ref, chain0, 1, &who);
  snprintf(fig, sizeof fig,
           "per event, n=1000, a=100, no timeouts; instructions against %s",
           who);
  verdict_row(r, "ref-epoll ≤ the leanest direct library: chain", fig, &f, 1.0);
  f = targets_wall(r, ref, "chain", "per_event",
                   "n=1000 active=100 timeouts=1 run=warm", "direct-libev");
  f.by_cg = 1;
  f.cg = verdict_cg_vs(r, ref, "direct-libev", "chain_timeouts");
  verdict_row(r, "ref-epoll ≤ direct-libev: chain with timeouts",
              "per event, n=1000, a=100, with timeouts", &f, 1.0);
}

/* echo p99: the worst configuration against the best native library. */
static void targets_echo_p99(report *r, const char *ref) {
  double worst = 0, wlo = 0, whi = 0;
  int nw = 0;
  for (int i = 0; i < r->nrecs; i++) {
    const report_rec *x = &r->recs[i];
    if (strcmp(x->type, "measurement") || strcmp(x->bench, "echo") ||
        strcmp(x->metric, "p99") || strcmp(x->impl, ref))
      continue;
    char w[512];
    json_to_text(x->params, w, sizeof w);
    verdict_pairs one = {0};
    verdict_add(&one, x, report_best_native(r, "echo", "p99", w));
    double g, lo, hi;
    if (verdict_gm(&one, &g, &lo, &hi) && g > worst) {
      worst = g;
      wlo = lo;
      whi = hi;
    }
    nw += one.n;
  }
  verdict_fig f = {.wall = worst, .lo = wlo, .hi = whi, .n = nw};
  verdict_row(r, "echo p99 latency no worse than any native library",
              "p99, worst configuration, against the best native", &f, 1.0);
}

/* O(1) backends flat: judged by the backend's O1 bit, never its name. */
static void targets_flat(report *r) {
  for (int k = 0; k < r->nimpls; k++) {
    const report_rec *lo = NULL, *hi = NULL;
    for (int i = 0; i < r->nrecs; i++) {
      const report_rec *x = &r->recs[i];
      if (strcmp(x->type, "measurement") || strcmp(x->bench, "idle") ||
          strcmp(x->impl, r->impls[k]))
        continue;
      double nn = json_num(x->params, "n", 0);
      if (nn >= 100 && (!lo || nn < json_num(lo->params, "n", 0)))
        lo = x;
      if (!hi || nn > json_num(hi->params, "n", 0))
        hi = x;
    }
    if (!lo || !hi || lo == hi || report_is_baseline(r->impls[k]))
      continue;
    const evl_backend_ops *be = NULL;
    char err[160];
    if (evl_backend_lookup(lo->backend, &be, err, sizeof err) < 0 ||
        !(be->features & EVL_BF_O1))
      continue;
    /* A complexity claim is judged on a count that does not move between
     * runs: user-space instructions per iteration among 10 000 idle fds
     * against among 100 (wall time on 40 ms of idle iterations moves by
     * a third between runs). An O(n) backend walks its fds in user space
     * (poll's array, select's sets) and shows here; the kernel's side of
     * an O(1) interface (epoll, io_uring: O(ready)) is not counted, and
     * the wall ratio beside it still includes it. */
    char t[128], fg[200];
    snprintf(t, sizeof t, "O(1) backend flat in idle: %s", r->impls[k]);
    snprintf(fg, sizeof fg,
             "instructions per iteration, n=10000 against 100 (user space "
             "only); wall: n=%g against %g",
             json_num(hi->params, "n", 0), json_num(lo->params, "n", 0));
    verdict_pairs one = {0};
    verdict_fig f = {0};
    verdict_add(&one, hi, lo);
    verdict_wall(&one, &f);
    double big = verdict_cg(r, r->impls[k], "idle_10000"),
           small = verdict_cg(r, r->impls[k], "idle_100");
    f.by_cg = 1;
    f.cg = big > 0 && small > 0 ? big / small : 0;
    verdict_row(r, t, fg, &f, 1.2);
  }
}

/* Heap bytes do not depend on timing: exact. */
static void targets_memory(report *r, const char *ref) {
  static const struct {
    const char *where, *target, *what;
  } mem[] = {
      {"what=per_timer", "fewer bytes per timer than the libraries",
       "heap bytes per pending timer"},
      {"what=per_fd", "fewer bytes per fd than the libraries",
       "heap bytes per registered fd"},
  };
  for (int k = 0; k < BENCH_COUNT(mem); k++) {
    verdict_fig f = targets_wall(r, ref, "memory", "bytes", mem[k].where, NULL);
    f.exact_wall = 1;
    verdict_row(r, mem[k].target, mem[k].what, &f, 1.0);
  }
}

/* ---- where we stand ------------------------------------------------------ */
static const char targets_how[] =
    "The project's goals, each a cost ratio (geometric mean where several "
    "figures count; 1.00 = the same, below 1 = better). Targets about "
    "user-space work against a library (its own instructions, the same "
    "system calls) are decided by the callgrind counts: exact, the same "
    "on every run, so met or not yet; the wall-clock ratio stands beside "
    "them for reference. So is an O(1) backend's flatness in idle: "
    "instructions per iteration among 10 000 idle fds against among 100, "
    "where an O(n) backend's walk over its fds shows (the kernel's side "
    "of epoll or io_uring is not counted; the wall ratio beside it "
    "includes it). Targets that include the kernel's work (against raw "
    "epoll, latency) are decided by the wall-clock ratio's "
    "95 % bootstrap interval over the repeats, widened by 5 % on each "
    "side for the drift between runs: met when it lies within the goal, "
    "not yet when wholly beyond, undecided when it crosses the goal "
    "(this machine cannot tell). Pingpong, chain and echo against raw "
    "epoll, and task echo against callback echo, are decided on ratios "
    "paired inside one process (the two alternate in short runs or "
    "slices), which take the drift between processes out pair by pair: "
    "they are widened by 1 % instead, what their medians moved between "
    "runs beyond their intervals, and over several configurations each "
    "bound is the worst one's. Chain's are of the loop thread's CPU time "
    "(user + system: all of its work, as it never blocks), which other "
    "load on a shared machine does not stretch; echo's of the serving "
    "thread's CPU time per byte echoed (all the work the loop adds is "
    "there); task echo's of the server thread's CPU time per request "
    "(the inverse of its request rate at capacity, and a bound on the "
    "request-rate cost below it), its request rate beside. Nothing here "
    "is asserted.";

void report_targets(report *r) {
  const char *ref = BENCH_TARGET_REF;
  report_h2(r, "targets", "Where we stand (targets, not tests)", NULL);
  bench_buf_printf(&r->html,
                   "<table><tr><th>target</th><th>figures</th>"
                   "<th>wall ratio [95 %% interval]</th><th>instructions "
                   "ratio</th><th>goal</th><th>n</th><th>verdict</th>"
                   "<th>decided by</th></tr>\n");
  bench_buf_printf(&r->md, "| target | figures | wall ratio [95 %% interval] "
                           "| instructions ratio | goal | n | verdict | "
                           "decided by |\n|---|---|---:|---:|---:|---:|---|---|"
                           "\n");
  /* The rows, in the order the table shows them. */
  targets_raw(r, ref);
  targets_fastest(r, ref);
  targets_adapters(r);
  targets_leanest(r, ref);
  targets_echo_p99(r, ref);
  targets_task_echo(r, ref);
  targets_flat(r);
  targets_memory(r, ref);
  bench_buf_printf(&r->html, "</table>\n");
  bench_buf_printf(&r->md, "\n");
  /* After the table, so the verdicts themselves reach the first screen. */
  report_para(r, targets_how);
}
