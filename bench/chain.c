/* chain.c — libev's and libevent's bench.c: n socketpairs, a active, w writes,
 * each read forwarding one byte to the next pair: the sweep, the paired runs
 * against raw epoll and the report section (kernels: bench/chain_kernels.c,
 * bench/direct/). */
#include "kernels.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* NULL: this baseline has no chain (the caller records why). */
static const bench_chain_kernel *chain_kernel(const bench_ctx *c) {
  if (c->ops)
    return &bench_chain_evl_kernel;
  if (c->direct)
    return c->direct->chain;
  return &bench_chain_raw_kernel;
}

/* Implementations with timers: the raw floor has none. */
static int chain_has_timers(const bench_ctx *c) {
  return c->ops || c->direct;
}

/* ---- the sweep ----------------------------------------------------------- */
/* One run: setup (timed), then a bytes sent (not timed, as in bench.c),
 * then the loop until every byte sent has been read (timed). */
static int chain_run(bench_chain_state *ch, const bench_chain_kernel *k,
                     long writes, const char *cg_case, double *setup_us,
                     double *loop_us, double *ns_ev, double *cpu_ev) {
  uint64_t t0 = bench_now();
  int rc = k->setup(ch);
  uint64_t t1 = bench_now();
  if (rc < 0)
    return rc;
  ch->fired = 0;
  int space = ch->n / ch->active;
  for (int i = 0; i < ch->active; i++, ch->fired++)
    if (send(ch->pairs[i * space][1], "e", 1, 0) != 1)
      ch->failures++;
  ch->count = 0;
  ch->writes = writes;
  if (cg_case)
    bench_cg_start(ch->c);
  uint64_t c2 = cpu_ev ? bench_thread_cpu_ns() : 0, t2 = bench_now();
  rc = k->loop(ch);
  uint64_t t3 = bench_now(), c3 = cpu_ev ? bench_thread_cpu_ns() : 0;
  if (cg_case)
    bench_cg_case(ch->c, cg_case, (unsigned long long)ch->fired);
  if (rc < 0)
    return rc;
  ch->c->fixed_events += (unsigned long long)ch->fired;
  *setup_us = (double)(t1 - t0) / 1e3;
  *loop_us = (double)(t3 - t2) / 1e3;
  *ns_ev = (double)(t3 - t2) / (double)(ch->fired ? ch->fired : 1);
  if (cpu_ev)
    *cpu_ev = (double)(c3 - c2) / (double)(ch->fired ? ch->fired : 1);
  return 0;
}

static int chain_pairs(bench_chain_state *ch, int n) {
  ch->pairs = calloc((size_t)n, sizeof *ch->pairs);
  if (!ch->pairs)
    return -ENOMEM;
  for (int i = 0; i < n; i++) {
    int rc = bench_socketpair(ch->pairs[i]);
    if (rc < 0) {
      for (int j = 0; j < i; j++) {
        close(ch->pairs[j][0]);
        close(ch->pairs[j][1]);
      }
      free(ch->pairs);
      ch->pairs = NULL;
      return rc;
    }
  }
  ch->n = n;
  return 0;
}

static void chain_unpairs(bench_chain_state *ch) {
  for (int i = 0; ch->pairs && i < ch->n; i++) {
    close(ch->pairs[i][0]);
    close(ch->pairs[i][1]);
  }
  free(ch->pairs);
  ch->pairs = NULL;
}

/* At least 20 000 events, so a run lasts well beyond timer and scheduler
 * granularity (libev's bench.c uses 20 per active fd: too few at a=1). */
static long chain_writes(const bench_ctx *c, int active) {
  long w = c->profile == BENCH_FULL ? 100L * active : 20L * active;
  return w < 20000 ? 20000 : w;
}

/* One fresh loop, a cold and a warm run. A short cold run (a tenth of the
 * writes) when only its setup is wanted, or under callgrind. */
static int chain_cold_warm(bench_chain_state *ch, const bench_chain_kernel *k,
                           long w, const char *cg_case, int short_cold,
                           double out[2][3]) {
  ch->registered = 0;
  ch->rng = 12345;
  int rc = k->open(ch);
  /* Under callgrind only the warm run is counted; the cold one just brings
   * the loop to its steady state (registration, tables), which a tenth of
   * the writes does as well, at a tenth of the cost under valgrind (an
   * embedded interpreter pays minutes for the full run). */
  for (int run = 0; rc == 0 && run < 2; run++)
    rc = chain_run(ch, k, !run && (cg_case || short_cold) ? w / 10 : w,
                   run && cg_case ? cg_case : NULL, &out[run][0], &out[run][1],
                   &out[run][2], NULL);
  if (ch->k)
    k->close(ch);
  return rc;
}

/* ---- ref-epoll against raw epoll, paired in one process ---------------- */
/* The target "ref-epoll within 1.10x of raw epoll" on chain rests on a few
 * percent, less than separate processes seconds apart differ by (two quiet
 * make bench runs: x0.94 [0.90-1.01] met, then x1.04 [0.88-1.09]
 * undecided). So the reference loop's step also runs its kernel and the raw
 * one on the same socketpairs in its own process, in turn: each opened once,
 * registered for its run only (the other's set emptied, so its epoll is not
 * woken by every send: kept registered, the idle set cost 7-20 % more per
 * event to both, pulling the ratio towards 1), an untimed warm-up run each,
 * then short timed runs of CHAIN_PAIRED_WRITES writes, alternating, which
 * goes first alternating too.
 *
 * What is timed is the thread's CPU time (user and system) around the loop:
 * the loop never blocks (a=100 bytes are always in flight) and a
 * socketpair's send does the receiver's wake-up in the sender's thread, so
 * on a quiet machine it is the wall time; on a shared one it leaves out the
 * slices other processes take, which made wall ratios of adjacent runs
 * range 0.5-2.9. What other load still adds (a run preempted comes back to
 * cold caches: +20 % on about a quarter of the runs of 1.5 ms; the machine's
 * state drifting over tens of ms) is taken out by the shape: a repeat is
 * the median over CHAIN_PAIRED_SWAPS adjacent pairs of their cost ratio
 * (the loop's CPU per event over raw's, a few ms apart), so drift cancels
 * within a pair and outliers fall outside the median.
 *
 * Which configurations: a=100 without timeouts, n = 100 and 1 000 (the
 * target read every no-timeout configuration: the quick profile's n = 100,
 * 1 000 and 10 000 at a=100). Each run registers the whole set anew, as
 * the tables' warm runs do; at n = 10 000 that is 20 000 epoll_ctl calls,
 * 5-10 times the run itself (2.1 s a round under load for 20 pairs against
 * 0.2-0.3 s at n = 1 000), so n = 10 000 is left to the tables (its paired
 * ratio read 0.99-1.06 a repeat, the median 1.02, when tried). A repeat's
 * figure is the geometric mean of the two sizes' medians, each size
 * weighing alike, as in the unpaired figure. */
#define CHAIN_PAIRED_REPEATS 3 /* per size per round */
#define CHAIN_PAIRED_SWAPS 10  /* adjacent pairs per repeat */
#define CHAIN_PAIRED_WRITES 1000
#define CHAIN_PAIRED_ACTIVE 100
#define CHAIN_PAIRED_MAXN 1000
#define CHAIN_PAIRED_SIZES 2

static int chain_paired_wanted(const bench_ctx *c, int n, int a, int to) {
  return c->ops && !strcmp(c->impl_name, BENCH_TARGET_REF) && !to &&
         a == CHAIN_PAIRED_ACTIVE && n <= CHAIN_PAIRED_MAXN;
}

/* CHAIN_PAIRED_REPEATS cost ratios into ratio[]: their count, or -errno.
 * k is the loop's kernel; ch holds the socketpairs, n and a. */
static int chain_paired(bench_chain_state *ch, const bench_chain_kernel *k,
                        double *ratio) {
  static void (*const unregister[2])(bench_chain_state *) = {
      bench_chain_evl_unregister, bench_chain_raw_unregister};
  const bench_chain_kernel *kern[2] = {k, &bench_chain_raw_kernel};
  bench_chain_state side[2];
  double setup_us, loop_us, ns, cpu[2], pair[CHAIN_PAIRED_SWAPS];
  int rc = 0, got = 0;
  for (int s = 0; s < 2; s++) {
    side[s] = *ch;
    side[s].k = NULL;
    side[s].registered = 0;
    side[s].failures = 0;
    side[s].timeouts = 0;
  }
  for (int s = 0; s < 2 && rc == 0; s++)
    rc = kern[s]->open(&side[s]);
  /* Warm-up: registration and the loop's tables grown once, as the tables'
   * cold run does before their warm one. */
  for (int s = 0; s < 2 && rc == 0; s++) {
    rc = chain_run(&side[s], kern[s], CHAIN_PAIRED_WRITES, NULL, &setup_us,
                   &loop_us, &ns, &cpu[s]);
    unregister[s](&side[s]);
  }
  for (int i = 0; i < CHAIN_PAIRED_REPEATS && rc == 0; i++) {
    int np = 0;
    for (int x = 0; x < CHAIN_PAIRED_SWAPS && rc == 0; x++) {
      for (int j = 0; j < 2 && rc == 0; j++) {
        int s = bench_paired_who(x, j, ch->c->round);
        rc = chain_run(&side[s], kern[s], CHAIN_PAIRED_WRITES, NULL, &setup_us,
                       &loop_us, &ns, &cpu[s]);
        unregister[s](&side[s]);
      }
      if (rc == 0 && cpu[0] > 0 && cpu[1] > 0)
        pair[np++] = cpu[0] / cpu[1];
    }
    if (rc == 0 && np > 0)
      ratio[got++] = bench_median(pair, np);
  }
  for (int s = 0; s < 2; s++) {
    if (side[s].k)
      kern[s]->close(&side[s]);
    ch->failures += side[s].failures;
  }
  return rc < 0 ? rc : got;
}

/* The paired ratios of each size the sweep reached, for one record. */
typedef struct chain_paired_sizes {
  double r[CHAIN_PAIRED_SIZES][CHAIN_PAIRED_REPEATS];
  int got[CHAIN_PAIRED_SIZES], n[CHAIN_PAIRED_SIZES], count;
} chain_paired_sizes;

/* After the configuration params ran unpaired: its paired ratios, when it
 * is one of the target's and a size is left to fill. */
static void chain_paired_add(bench_chain_state *ch, const bench_chain_kernel *k,
                             const char *params, chain_paired_sizes *ps) {
  bench_ctx *c = ch->c;
  if (!chain_paired_wanted(c, ch->n, ch->active, ch->timeouts) ||
      ps->count >= CHAIN_PAIRED_SIZES || bench_over_budget(c))
    return;
  int pr = chain_paired(ch, k, ps->r[ps->count]);
  if (pr < 0)
    bench_note(c, "chain", "paired with raw epoll at %s: %s", params,
               bench_strerror(pr));
  else if (pr > 0) {
    ps->got[ps->count] = pr;
    ps->n[ps->count++] = ch->n;
  }
}

/* One record: per repeat, the geometric mean over the sizes of their i-th
 * ratio (as many repeats as every size has). */
static void chain_paired_emit(bench_ctx *c, const chain_paired_sizes *ps) {
  int m = CHAIN_PAIRED_REPEATS, nsizes = ps->count;
  char list[64] = "";
  for (int s = 0; s < nsizes; s++) {
    if (ps->got[s] < m)
      m = ps->got[s];
    size_t len = strlen(list);
    snprintf(list + len, sizeof list - len, "%s%d", s ? "," : "", ps->n[s]);
  }
  double gm[CHAIN_PAIRED_REPEATS];
  for (int i = 0; i < m; i++) {
    double logsum = 0;
    for (int s = 0; s < nsizes; s++)
      logsum += log(ps->r[s][i]);
    gm[i] = exp(logsum / nsizes);
  }
  char params[160];
  snprintf(params, sizeof params,
           "{\"sizes\":\"%s\",\"active\":%d,\"writes\":%d,\"swaps\":%d,"
           "\"timeouts\":0}",
           list, CHAIN_PAIRED_ACTIVE, CHAIN_PAIRED_WRITES, CHAIN_PAIRED_SWAPS);
  bench_emit_paired(c, "chain", params, gm, m);
}

/* One configuration (ch's n, active and timeouts; params names it): repeats
 * of a fresh loop's cold and warm runs, and their records. 0, or the -errno
 * that stopped it (nothing recorded then). */
static int chain_config(bench_chain_state *ch, const bench_chain_kernel *k,
                        long w, const char *params) {
  bench_ctx *c = ch->c;
  double r[2][3][64];
  int got = 0;
  /* The quick profile reads only the setup of a cold run with timeouts
   * (its table and plot); its loop is cut to a tenth, which still brings
   * the loop to the warm run's steady state, and its per-event figures are
   * not recorded. The full profile keeps them. */
  int short_cold = c->profile == BENCH_QUICK && ch->timeouts;
  for (int rep = 0; rep < c->repeat && rep < 64; rep++) {
    double o[2][3];
    int rc = chain_cold_warm(ch, k, w, NULL, short_cold, o);
    if (rc < 0)
      return rc;
    for (int run = 0; run < 2; run++)
      for (int m = 0; m < 3; m++)
        r[run][m][got] = o[run][m];
    got++;
  }
  if (ch->failures)
    bench_note(c, "chain", "%ld short sends or reads at %s", ch->failures,
               params);
  for (int run = 0; run < 2; run++) {
    char p2[200];
    snprintf(p2, sizeof p2, "%.*s,\"run\":\"%s\"}", (int)strlen(params) - 1,
             params, run ? "warm" : "cold");
    bench_emit(c, "chain", p2, "setup", "us", "lower", r[run][0], got);
    if (!run && short_cold)
      continue;
    bench_emit(c, "chain", p2, "loop", "us", "lower", r[run][1], got);
    bench_emit(c, "chain", p2, "per_event", "ns", "lower", r[run][2], got);
  }
  return 0;
}

/* The sweep: sizes, each with the active counts run at it. The quick
 * profile runs the figures the verdicts and the headline read (n=1000,
 * a=100) first, then what the plot needs to show a trend in n (n=100 and
 * n=10 000 at a=100), in a fixed order, so two quick runs hold the same
 * configurations; the full profile runs every size with every active
 * count (a=1 and a=1000 too). */
typedef struct chain_size {
  int n, nact;
  int act[3];
} chain_size;

int bench_chain(bench_ctx *c) {
  static const chain_size quick[] = {
      {1000, 1, {100}}, {100, 1, {100}}, {10000, 1, {100}}};
  static const chain_size full[] = {{100, 2, {1, 100}},
                                    {1000, 3, {1, 100, 1000}},
                                    {10000, 3, {1, 100, 1000}},
                                    {100000, 3, {1, 100, 1000}}};
  const bench_chain_kernel *k = chain_kernel(c);
  if (!k) {
    bench_skip(c, "chain", "{}", "not written for %s", c->impl_name);
    return 0;
  }
  const chain_size *sizes = c->profile == BENCH_FULL ? full : quick;
  int nsizes =
      c->profile == BENCH_FULL ? BENCH_COUNT(full) : BENCH_COUNT(quick);
  int maxn = bench_max_pairs();
  int stop = 0, raw_noted = 0, capped = 0, too_big = 0;
  chain_paired_sizes paired = {0};
  for (int si = 0; si < nsizes && !stop; si++) {
    int n = sizes[si].n;
    if (too_big && n >= too_big)
      continue;
    if (n > maxn) {
      /* Once: larger sizes are capped to the same largest that fits. */
      if (capped++)
        continue;
      bench_note(c, "chain",
                 "n=%d needs %d fds; RLIMIT_NOFILE allows %ld: the sweep "
                 "stops at n=%d",
                 n, 2 * n, bench_raise_nofile(), maxn);
      n = maxn;
    }
    bench_chain_state ch = {0};
    ch.c = c;
    int rc = chain_pairs(&ch, n);
    if (rc < 0) {
      bench_skip(c, "chain", "{}", "n=%d: socketpair: %s", n,
                 bench_strerror(rc));
      break;
    }
    for (int ai = 0; ai < sizes[si].nact && !stop && too_big != n; ai++) {
      int a = sizes[si].act[ai];
      if (a > n)
        continue;
      for (int to = 0; to < 2 && !stop && too_big != n; to++) {
        char params[160];
        long w = chain_writes(c, a);
        snprintf(params, sizeof params,
                 "{\"n\":%d,\"active\":%d,\"writes\":%ld,\"timeouts\":%d}", n,
                 a, w, to);
        if (to && !chain_has_timers(c)) {
          if (!raw_noted++)
            bench_note(c, "chain",
                       "the raw baseline has no timers: "
                       "configurations with timeouts=1 are not "
                       "run; compare those among implementations");
          continue;
        }
        if (bench_over_budget(c)) {
          bench_note(c, "chain", "time budget spent: stopped before %s",
                     params);
          stop = 1;
          break;
        }
        ch.active = a;
        ch.timeouts = to;
        rc = chain_config(&ch, k, w, params);
        if (rc < 0) {
          /* An fd the backend cannot take (select: >= FD_SETSIZE) ends this
           * size; larger sizes cannot fit either, smaller ones still run. */
          bench_skip(c, "chain", params, "%s", bench_strerror(rc));
          too_big = n;
          break;
        }
        chain_paired_add(&ch, k, params, &paired);
      }
    }
    chain_unpairs(&ch);
  }
  if (paired.count)
    chain_paired_emit(c, &paired);
  return 0;
}

/* n=1000, a=100, 20 000 writes: what hyperfine times as a whole process and
 * callgrind counts (the warm run only, with and without timeouts). */
static int chain_fixed(bench_ctx *c, int timeouts, const char *cg_case) {
  const bench_chain_kernel *k = chain_kernel(c);
  if (!k || (timeouts && !chain_has_timers(c)))
    return -ENOTSUP;
  bench_chain_state ch = {0};
  ch.c = c;
  int rc = chain_pairs(&ch, 1000);
  if (rc < 0)
    return rc;
  ch.active = 100;
  ch.timeouts = timeouts;
  double o[2][3];
  rc = chain_cold_warm(&ch, k, 20000, cg_case, 0, o);
  chain_unpairs(&ch);
  return rc;
}

int bench_chain_fixed(bench_ctx *c, int timeouts) {
  return chain_fixed(c, timeouts && chain_has_timers(c), NULL);
}

int bench_cg_chain(bench_ctx *c) {
  int rc = chain_fixed(c, 0, "chain");
  if (rc < 0 && rc != -ENOTSUP)
    return rc;
  if (chain_has_timers(c) && chain_kernel(c)) {
    int r2 = chain_fixed(c, 1, "chain_timeouts");
    if (r2 < 0)
      return r2;
  }
  return rc == -ENOTSUP ? 0 : rc;
}

/* ---- the report section -------------------------------------------------- */
static const bench_panel chain_lines[] = {
    {"100 active, no timeouts", "per_event", "active=100 timeouts=0 run=warm",
     "n"},
    {"100 active, with timeouts", "per_event", "active=100 timeouts=1 run=warm",
     "n"},
    {"1000 active, no timeouts", "per_event", "active=1000 timeouts=0 run=warm",
     "n"},
    {"1000 active, with timeouts", "per_event",
     "active=1000 timeouts=1 run=warm", "n"},
};
static const bench_panel chain_setup_lines[] = {
    {"setup, cold run, no timeouts", "setup", "active=100 timeouts=0 run=cold",
     "n"},
    {"setup, cold run, with timeouts", "setup",
     "active=100 timeouts=1 run=cold", "n"},
};
static const bench_plot chain_plots[] = {
    {BENCH_PLOT_LINES, "chain", "chain: ns per event (warm run)",
     "n (socketpairs)", "ns per event", "chain: ns per event against n", 1, 0,
     2, chain_lines, BENCH_COUNT(chain_lines)},
    {BENCH_PLOT_LINES, "chain_setup", "chain: setup time", "n", "µs",
     "chain: setup µs against n", 1, 1, 2, chain_setup_lines,
     BENCH_COUNT(chain_setup_lines)},
};
static const bench_table chain_tables[] = {
    {"chain, 1 active, no timeouts: ns per event (warm)",
     "active=1 timeouts=0 run=warm", "n", "per_event"},
    {"chain, 100 active, no timeouts: ns per event (warm)",
     "active=100 timeouts=0 run=warm", "n", "per_event"},
    {"chain, 100 active, with timeouts: ns per event (warm)",
     "active=100 timeouts=1 run=warm", "n", "per_event"},
    {"chain, 1000 active, no timeouts: ns per event (warm)",
     "active=1000 timeouts=0 run=warm", "n", "per_event"},
    {"chain, 1000 active, with timeouts: ns per event (warm)",
     "active=1000 timeouts=1 run=warm", "n", "per_event"},
    {"chain, 100 active, first (cold) run: ns per event",
     "active=100 timeouts=0 run=cold", "n", "per_event"},
    {"chain setup, cold, with timeouts: µs to register n fds",
     "active=100 timeouts=1 run=cold", "n", "setup"},
};
const bench_section bench_section_chain = {
    "chain (libev / libevent bench.c)",
    "n socketpairs, a of them active, at least 20 000 writes; each read "
    "forwards one byte to the next pair. Optional per-fd timeout (10 s, "
    "never fires) pushed back on every event: the ABI's rearm where the "
    "implementation has it (else cancel and call_later), each library's own "
    "idiom in the direct-* rows (ev_timer_again, uv_timer_start on a running "
    "timer, event_add on a persistent event). ns per event of the warm "
    "(second) run; setup includes one non-blocking iteration so lazy "
    "registration is counted.",
    chain_plots,
    BENCH_COUNT(chain_plots),
    chain_tables,
    BENCH_COUNT(chain_tables)};
