/* tasks.c — the cost of tasks: the raw context switch, a task switch
 * through the loop (two tasks yielding to each other), and spawn-and-
 * finish. Each measured loop is its own non-inlined function, so callgrind
 * can count it alone (--toggle-collect=tasks_*_loop). */
#include "bench.h"

#include <errno.h>

#include <evl/task.h>

#include "task_ctx.h"

/* ---- raw switch: the loop's fiber and one other, back and forth -------- */
typedef struct tasks_raw {
  evl__fiber main, fib;
  long left;
} tasks_raw;

static void tasks_raw_entry(void *arg) {
  tasks_raw *r = arg;
  evl__fiber_entered(&r->main);
  for (;;)
    evl__fiber_switch(&r->fib, &r->main, 0);
}

__attribute__((noinline)) void tasks_raw_loop(tasks_raw *r, long n) {
  for (long i = 0; i < n; i++)
    evl__fiber_switch(&r->main, &r->fib, 0);
}

static int tasks_raw_switch(bench_ctx *c, long n) {
  double v[64], cpu[64];
  int got = 0;
  tasks_raw r = {0};
  int rc = evl__fiber_stack_new(&r.fib, 64 * 1024);
  if (rc < 0)
    return rc;
  evl__fiber_here(&r.main);
  evl__fiber_start(&r.fib, tasks_raw_entry, &r);
  tasks_raw_loop(&r, 1000); /* warm: the first entry, caches */
  for (int rep = 0; rep < c->repeat && rep < 64; rep++) {
    uint64_t c0 = bench_thread_cpu_ns(), t0 = bench_now();
    tasks_raw_loop(&r, n);
    uint64_t t1 = bench_now(), c1 = bench_thread_cpu_ns();
    cpu[got] = (double)(c1 - c0) / (2.0 * (double)n);
    v[got++] = (double)(t1 - t0) / (2.0 * (double)n); /* two per round */
    if (bench_over_budget(c))
      break;
  }
  /* The fiber is parked mid-loop; its stack just goes away. */
  evl__fiber_done(&r.fib);
  evl__fiber_stack_free(&r.fib);
  char params[64];
  snprintf(params, sizeof params, "{\"shape\":\"raw\",\"count\":%ld}", n);
  bench_emit(c, "tasks", params, "switch", "ns", "lower", v, got);
  bench_emit(c, "tasks", params, "switch_cpu", "ns", "lower", cpu, got);
  return 0;
}

/* ---- two tasks yielding to each other through the loop ----------------- */
static int tasks_yielder(void *arg, void **result) {
  long n = *(long *)arg;
  (void)result;
  for (long i = 0; i < n; i++) {
    int rc = evl_yield();
    if (rc < 0)
      return rc;
  }
  return 0;
}

__attribute__((noinline)) int tasks_yield_loop(evl_tasks *ts, long *n) {
  evl_task *a = NULL, *b = NULL;
  int rc = evl_task_spawn(ts, tasks_yielder, n, &a);
  if (rc == 0)
    rc = evl_task_spawn(ts, tasks_yielder, n, &b);
  if (rc == 0)
    rc = evl_tasks_run_until_complete(ts, a, NULL);
  if (rc == 0)
    rc = evl_tasks_run_until_complete(ts, b, NULL);
  evl_task_release(a);
  evl_task_release(b);
  return rc;
}

/* Spawns n tasks that end at once and runs until the last has ended. */
static int tasks_nothing(void *arg, void **result) {
  (void)arg;
  (void)result;
  return 0;
}

__attribute__((noinline)) int tasks_spawn_loop(evl_tasks *ts, long n) {
  evl_task *last = NULL;
  int rc = 0;
  for (long i = 0; i < n && rc == 0; i++)
    rc = evl_task_spawn(ts, tasks_nothing, NULL, i == n - 1 ? &last : NULL);
  if (rc == 0)
    rc = evl_tasks_run_until_complete(ts, last, NULL);
  evl_task_release(last);
  return rc;
}

static int tasks_on_loop(bench_ctx *c, int shape, long n) {
  double v[64], cpu[64];
  int got = 0, rc = 0;
  for (int rep = 0; rep < c->repeat && rep < 64; rep++) {
    evl_loop *loop = NULL;
    evl_tasks *ts = NULL;
    rc = bench_loop_new(c, &loop);
    if (rc < 0)
      break;
    rc = evl_tasks_new(c->ops, loop, NULL, &ts);
    if (rc < 0) {
      bench_loop_free(c, loop);
      break;
    }
    long warm = 100;
    rc = shape ? tasks_spawn_loop(ts, 100) : tasks_yield_loop(ts, &warm);
    uint64_t c0 = bench_thread_cpu_ns(), t0 = bench_now();
    if (rc == 0)
      rc = shape ? tasks_spawn_loop(ts, n) : tasks_yield_loop(ts, &n);
    uint64_t t1 = bench_now(), c1 = bench_thread_cpu_ns();
    evl_tasks_close(ts);
    bench_loop_free(c, loop);
    if (rc < 0)
      break;
    /* yield: n steps per task, two tasks; spawn: rate. */
    cpu[got] = (double)(c1 - c0) / (2.0 * (double)n);
    v[got++] = shape ? (double)n / ((double)(t1 - t0) / 1e9)
                     : (double)(t1 - t0) / (2.0 * (double)n);
    if (bench_over_budget(c))
      break;
  }
  char params[64];
  snprintf(params, sizeof params, "{\"shape\":\"%s\",\"count\":%ld}",
           shape ? "spawn" : "yield", n);
  if (rc < 0) {
    bench_skip(c, "tasks", params, "%s", bench_strerror(rc));
    return 0;
  }
  if (shape)
    bench_emit(c, "tasks", params, "rate", "tasks/s", "higher", v, got);
  else
    bench_emit(c, "tasks", params, "switch", "ns", "lower", v, got);
  if (!shape)
    bench_emit(c, "tasks", params, "switch_cpu", "ns", "lower", cpu, got);
  return 0;
}

int bench_tasks(bench_ctx *c) {
  long n = c->profile == BENCH_FULL ? 2000000 : 200000;
  if (!(c->ops->features & EVL_IF_FUTURES)) {
    bench_skip(c, "tasks", "{}", "implementation lacks FUTURES");
    return 0;
  }
  int rc = tasks_raw_switch(c, n * 10);
  if (rc < 0)
    bench_skip(c, "tasks", "{\"shape\":\"raw\"}", "%s", bench_strerror(rc));
  tasks_on_loop(c, 0, n);
  tasks_on_loop(c, 1, n / 2);
  return 0;
}

/* ---- the report section ----------------------------------------------------
 */
static const bench_panel tasks_bars[] = {
    {"switch (ns)", "switch", "shape=yield", NULL}};
static const bench_plot tasks_plots[] = {
    {BENCH_PLOT_BARS, "tasks", "tasks: a switch through the loop", "", "ns",
     "tasks: ns per switch through the loop", 0, 0, 1, tasks_bars,
     BENCH_COUNT(tasks_bars)}};
static const bench_table tasks_tables[] = {
    {"task switch: ns (raw context switch, and through the loop)", "", "shape",
     "switch"},
    {"task switch, the thread's CPU time: ns (load-independent)", "", "shape",
     "switch_cpu"},
    {"spawn and finish: tasks per second", "shape=spawn", NULL, "rate"},
};
const bench_section bench_section_tasks = {
    "tasks: switches and spawns",
    "The raw context switch, a task switch through the loop (two tasks "
    "yielding to each other) and spawn-and-finish.",
    tasks_plots,
    BENCH_COUNT(tasks_plots),
    tasks_tables,
    BENCH_COUNT(tasks_tables)};
