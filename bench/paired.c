/* paired.c — what the benchmarks that time two kernels in one process share:
 * the thread's CPU clock, the ABBA order, the paired record. */
#include "bench.h"

#include <time.h>

/* The thread's own CPU time (user and system): on a machine shared with
 * other work, wall time also counts the slices other processes took, which
 * made wall ratios of adjacent runs range 0.5-2.9 (bench/chain.c). */
uint64_t bench_thread_cpu_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Pairs alternate their order (A B, B A, ...) so that going second (the
 * caches the other side left, a drift within the pair) weighs on both
 * sides alike; the round shifts the start, so rounds alternate too. */
int bench_paired_who(int pair, int pos, int round) {
  return (pair + pos + round) % 2;
}

void bench_emit_paired(bench_ctx *c, const char *bench, const char *params,
                       const double *ratio, int n) {
  if (n > 0)
    bench_emit(c, bench, params, BENCH_PAIRED_METRIC, "ratio", "lower", ratio,
               n);
}
