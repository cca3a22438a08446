/* steps.c — which steps a run has: the benchmark table (from BENCH_LIST),
 * which implementations the quick profile runs each benchmark on, and which
 * run in the first round only. Separate from running them (rounds.c): what
 * a profile measures is decided here, in tables, and nowhere else. */
#include "bench.h"
#include "main.h"
#include "run.h"

#include <string.h>

const main_bench main_benches[] = {
#define MAIN_ROW(name, need, raw, direct, per, text)                           \
  {#name, need, raw, direct, per, text, bench_##name},
    BENCH_LIST(MAIN_ROW)
#undef MAIN_ROW
};
_Static_assert(sizeof main_benches / sizeof main_benches[0] == MAIN_NBENCH,
               "MAIN_NBENCH counts BENCH_LIST's rows");

/* The quick profile's scope per benchmark (the full profile runs every
 * benchmark on every implementation). Unlisted: every implementation.
 * - MAIN_QUICK_CORE: the work is the reference core's own, above any
 *   backend (its timer heap, its thread wake-up, its timer lateness), so
 *   it runs on one reference-core implementation (the first asked for,
 *   ref-epoll by default), not once per backend, and on every other loop.
 * - MAIN_QUICK_MODEL: the question is the programming model (tasks against
 *   callbacks, proactor against reactor), answered by the same core code
 *   over any loop's ops table: it runs on that one reference-core
 *   implementation and on a third party's loop (a plugin: its author wants
 *   to see the model over it), not on each native adapter nor on the
 *   Python loops. There the C tasks and the C proactor run through the
 *   adapter's Python calls, which no Python program does (it writes
 *   coroutines), and they cost 30 s of a quick run; the full profile
 *   keeps them.
 * - MAIN_QUICK_RING: MAIN_QUICK_MODEL, and also on each reference-core
 *   implementation whose backend lends its io_uring to the completion
 *   engine (ref-iouring): the proactor's "and on which backend" has a
 *   different answer there than on any readiness backend. */
static const struct {
  const char *bench;
  int scope;
} steps_quick_scope[] = {
    {"timers", MAIN_QUICK_CORE},
    {"wakeup", MAIN_QUICK_CORE},
    {"accuracy", MAIN_QUICK_CORE},
    {"tasks", MAIN_QUICK_MODEL},
    {"task_echo", MAIN_QUICK_MODEL},
    {"proactor_echo", MAIN_QUICK_RING},
    {"proactor_pingpong", MAIN_QUICK_RING},
};

/* Benchmarks whose figures do not depend on timing (heap bytes): the same
 * in every round, so they run in the first round only. */
static const char *const steps_first_round_only[] = {"memory"};

/* A Python loop: py-asyncio, py-uvloop or py:MODULE:FACTORY. */
static int main_python(const bench_impl *im) {
  return !strncmp(im->name, "py-", 3) || !strncmp(im->name, "py:", 3);
}

int main_once(const main_bench *bm) {
  for (size_t i = 0; i < BENCH_COUNT(steps_first_round_only); i++)
    if (!strcmp(steps_first_round_only[i], bm->name))
      return 1;
  return 0;
}

int main_selected(const main_opts *o, const char *name) {
  if (!o->nbench)
    return 1;
  for (int i = 0; i < o->nbench; i++)
    if (!strcmp(o->benches[i], name))
      return 1;
  return 0;
}

int main_scope(const main_bench *bm) {
  for (size_t i = 0; i < BENCH_COUNT(steps_quick_scope); i++)
    if (!strcmp(steps_quick_scope[i].bench, bm->name))
      return steps_quick_scope[i].scope;
  return MAIN_QUICK_ALL;
}

/* Does step (bm, im) run in this profile? 1 yes; 0 no (not written for it);
 * -1: left to the full profile (steps_quick_scope). */
int main_runs(const main_opts *o, const main_bench *bm, const bench_impl *im,
              const bench_impl *first_core) {
  if (!bench_impl_runs(im, bm->name, bm->has_raw, bm->has_direct, bm->per_impl))
    return 0;
  if (o->profile == BENCH_FULL || im == first_core ||
      im->kind != BENCH_KIND_EVL)
    return 1;
  int scope = main_scope(bm);
  if (scope == MAIN_QUICK_RING && im->lends_ring)
    return 1;
  if (scope != MAIN_QUICK_ALL && im->refcore)
    return -1;
  if (scope >= MAIN_QUICK_MODEL &&
      (!strncmp(im->name, "native-", 7) || main_python(im)))
    return -1;
  return 1;
}
