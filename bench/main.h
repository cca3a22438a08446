/* main.h — what evl-bench's command line (main.c) shares with the files
 * that carry out what it asks for: the options, the benchmark table and
 * which steps a run has (steps.c), the run itself (rounds.c), and the
 * one-process modes (workload.c). */
#ifndef EVL_BENCH_MAIN_H
#define EVL_BENCH_MAIN_H

#include "bench.h"
#include "run.h"

typedef int (*main_bench_fn)(bench_ctx *c);

typedef struct main_bench {
  const char *name;
  uint32_t need_if;
  int has_raw;
  int has_direct;
  int per_impl;
  const char *summary;
  main_bench_fn fn;
} main_bench;

/* The benchmarks, in BENCH_LIST order (steps.c). */
extern const main_bench main_benches[];
#define MAIN_ONE(name, need, raw, direct, per, text) +1
#define MAIN_NBENCH (0 BENCH_LIST(MAIN_ONE))

#define MAIN_MAXIMPL 64
/* Loading and probing a plugin takes milliseconds; one that takes seconds
 * is stuck (a constructor that blocks). */
#define MAIN_PROBE_S 5

typedef struct main_opts {
  const char *benches[32];
  int nbench;
  const char *impls[MAIN_MAXIMPL];
  int nimpl;
  bench_profile profile;
  int repeat;
  const char *out;
  double budget_s; /* soft budget per step */
  double scale;    /* EVL_TEST_TIMEOUT_SCALE: hard limits multiplied */
  int no_raw;
} main_opts;

/* One line, non-zero exit: what every refusal looks like. */
int main_refuse(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* ---- steps.c: which steps a run has ---------------------------------------
 */
/* A benchmark's scope in the quick profile (steps.c says what each means). */
enum { MAIN_QUICK_ALL, MAIN_QUICK_CORE, MAIN_QUICK_MODEL, MAIN_QUICK_RING };
/* Is name among the benchmarks asked for (all when none was)? */
int main_selected(const main_opts *o, const char *name);
/* Does bm run in the first round only (its figures do not depend on timing)? */
int main_once(const main_bench *bm);
/* bm's scope in the quick profile: MAIN_QUICK_*. */
int main_scope(const main_bench *bm);
/* Does step (bm, im) run in this profile? 1 yes; 0 no (not written for it);
 * -1: left to the full profile. first_core: the reference-core
 * implementation the quick profile runs core-only benchmarks on. */
int main_runs(const main_opts *o, const main_bench *bm, const bench_impl *im,
              const bench_impl *first_core);

/* ---- rounds.c: the run ----------------------------------------------------
 */
/* Every selected step, round by round, each in its own process; writes
 * results.json to o->out (stdout without it). The exit status. */
int main_run_all(const main_opts *o);

/* ---- workload.c: one process, one implementation --------------------------
 */
/* The fixed chain workload (hyperfine), or every callgrind case. The exit
 * status. */
int main_workload(const main_opts *o, int callgrind, int timeouts);

#endif
