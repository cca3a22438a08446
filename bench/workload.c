/* workload.c — the modes that measure this very process: --workload, the
 * fixed chain run hyperfine times, and --callgrind, every callgrind case
 * with collection toggled around each timed region. Separate from a run
 * (rounds.c), which never loads an implementation in its own process. */
#include "bench.h"
#include "main.h"
#include "run.h"

#include <errno.h>
#include <string.h>

/* The file name keeps [A-Za-z0-9-] and maps the rest to '_', as bench/run.sh
 * and the report do. */
static void workload_safe_name(const char *name, char *safe, size_t len) {
  size_t k = 0;
  for (const char *p = name; *p && k + 1 < len; p++, k++)
    safe[k] = (char)((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
                             (*p >= '0' && *p <= '9') || *p == '-'
                         ? *p
                         : '_');
  safe[k] = 0;
}

/* One process, one implementation: the fixed chain workload (hyperfine), or
 * every callgrind case. */
int main_workload(const main_opts *o, int callgrind, int timeouts) {
  const char *name = o->nimpl ? o->impls[0] : "ref-epoll";
  bench_impl im;
  /* Loaded in this process on purpose, with no probe child first: this
   * process is what is being measured (bench/run.sh passes only names
   * evl-bench has probed already). */
  bench_impl_unprobed(&im, name);
  bench_ctx c = {0};
  char why[256];
  if (bench_impl_open(&im, &c, why, sizeof why) < 0) {
    fprintf(stderr, "evl-bench: %s: %s\n", name, why);
    return 2;
  }
  bench_raise_nofile();
  bench_pin(0);
  c.profile = o->profile;
  c.repeat = 1;
  c.out_fd = -1;
  if (!callgrind) {
    int rc = bench_chain_fixed(&c, timeouts);
    if (rc < 0) {
      fprintf(stderr, "evl-bench: %s: chain: %s\n", name, bench_strerror(rc));
      return 1;
    }
    return 0;
  }
  if (!o->out)
    return main_refuse("--callgrind needs --out DIR");
  char safe[256], path[4096];
  workload_safe_name(name, safe, sizeof safe);
  snprintf(path, sizeof path, "%s/%s.events", o->out, safe);
  c.cg_events = fopen(path, "w");
  if (!c.cg_events) {
    fprintf(stderr, "evl-bench: %s: %s\n", path, strerror(errno));
    return 1;
  }
  c.callgrind = 1;
  static int (*const cases[])(bench_ctx *) = {
      bench_cg_chain,    bench_cg_callbacks, bench_cg_timers,
      bench_cg_pingpong, bench_cg_idle,      bench_cg_task_echo};
  int bad = 0;
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    int rc = cases[i](&c);
    if (rc < 0) {
      fprintf(stderr, "evl-bench: %s: callgrind case %zu: %s\n", name, i,
              bench_strerror(rc));
      /* An fd the backend cannot hold (select at n=1000) is this
       * implementation's limit, not a failure: the other cases count. */
      bad |= rc != -ERANGE;
    }
  }
  fclose(c.cg_events);
  return bad;
}
