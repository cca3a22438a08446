/* main.c — evl-bench's command line: reads the options, refuses bad ones
 * in one line, and hands over to one mode: a run (rounds.c), one process's
 * workload or callgrind cases (workload.c), the list, a report or a
 * comparison (report.c, compare.c). */
#include "bench.h"
#include "main.h"
#include "report.h"
#include "run.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

static void main_usage(FILE *f) {
  fprintf(f,
          "usage: evl-bench [BENCH...] [--impl NAME|PATH.so]... "
          "[--profile quick|full]\n"
          "                 [--repeat N] [--budget SECONDS] [--no-raw] "
          "[--out DIR] [--list]\n"
          "       evl-bench --workload [--impl NAME] [--timeouts]   one fixed "
          "chain run (hyperfine)\n"
          "       evl-bench --callgrind --impl NAME --out DIR   every "
          "callgrind case, collection\n"
          "                 toggled around each timed region, one dump each\n"
          "       evl-bench --list-names     usable implementations, "
          "comma-separated\n"
          "       evl-bench --report DIR     plots, index.html, summary.md "
          "from DIR/results.json\n"
          "       evl-bench --compare A B    ratios B/A of two runs' "
          "figures\n"
          "Environment: EVL_TEST_TIMEOUT_SCALE (>= 1) multiplies hard time "
          "limits.\n"
          "benchmarks:");
  for (int i = 0; i < MAIN_NBENCH; i++)
    fprintf(f, " %s", main_benches[i].name);
  fprintf(f, "\n");
}

int main_refuse(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fprintf(stderr, "evl-bench: ");
  vfprintf(stderr, fmt, ap);
  fprintf(stderr, " (evl-bench --help for usage)\n");
  va_end(ap);
  return 2;
}

static int main_number(const char *s, double lo, double hi, double *out) {
  char *end;
  errno = 0;
  double v = strtod(s, &end);
  if (errno || end == s || *end || !isfinite(v) || v < lo || v > hi)
    return -EINVAL;
  *out = v;
  return 0;
}

static int main_list(const main_opts *o, int names_only) {
  static bench_impl impls[MAIN_MAXIMPL];
  int n = bench_impls_collect(o->impls, o->nimpl, o->no_raw,
                              MAIN_PROBE_S * o->scale, impls, MAIN_MAXIMPL);
  if (names_only) {
    int first = 1;
    for (int i = 0; i < n; i++)
      if (impls[i].usable) {
        printf("%s%s", first ? "" : ",", impls[i].name);
        first = 0;
      }
    printf("\n");
    return 0;
  }
  printf("benchmarks:\n");
  for (int i = 0; i < MAIN_NBENCH; i++)
    printf("  %-12s %s%s%s\n", main_benches[i].name, main_benches[i].summary,
           main_benches[i].has_raw ? " [+raw-epoll]" : "",
           main_benches[i].has_direct ? " [+direct-*]" : "");
  printf("implementations:\n");
  for (int i = 0; i < n; i++)
    printf("  %-18s %s\n", impls[i].name,
           !impls[i].usable         ? impls[i].why
           : impls[i].features_s[0] ? impls[i].features_s
                                    : impls[i].description);
  return 0;
}

/* The modes other than a run, and what they take. */
typedef struct main_mode {
  const char *report, *cmp_a, *cmp_b;
  int list, list_names, workload, callgrind, timeouts;
} main_mode;

/* Reads the command line into o and m: -1 to go on, else the exit code
 * (0 after --help, 2 after a refusal). */
static int main_parse(int argc, char **argv, main_opts *o, main_mode *m) {
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    int more = i + 1 < argc;
    if (!strcmp(a, "--impl") && more) {
      /* "a,b,c" is accepted too, as `make bench IMPL=` passes it. */
      char *list_s = argv[++i]; /* argv is the program's to modify */
      for (char *save = NULL, *t = strtok_r(list_s, ",", &save); t;
           t = strtok_r(NULL, ",", &save)) {
        if (o->nimpl == MAIN_MAXIMPL)
          return main_refuse("more than %d implementations", MAIN_MAXIMPL);
        o->impls[o->nimpl++] = t;
      }
    } else if (!strcmp(a, "--profile") && more) {
      const char *p = argv[++i];
      if (!strcmp(p, "full"))
        o->profile = BENCH_FULL;
      else if (!strcmp(p, "quick") || !*p)
        o->profile = BENCH_QUICK;
      else
        return main_refuse("unknown profile '%s' (quick or full)", p);
    } else if (!strcmp(a, "--repeat") && more) {
      double v;
      if (main_number(argv[++i], 1, 64, &v) < 0 || v != (int)v)
        return main_refuse("--repeat '%s': a whole number from 1 to 64",
                           argv[i]);
      o->repeat = (int)v;
    } else if (!strcmp(a, "--budget") && more) {
      if (main_number(argv[++i], 0.1, 86400, &o->budget_s) < 0)
        return main_refuse("--budget '%s': seconds, from 0.1 to 86400",
                           argv[i]);
    } else if (!strcmp(a, "--out") && more) {
      o->out = argv[++i];
    } else if (!strcmp(a, "--no-raw")) {
      o->no_raw = 1;
    } else if (!strcmp(a, "--list")) {
      m->list = 1;
    } else if (!strcmp(a, "--list-names")) {
      m->list_names = 1;
    } else if (!strcmp(a, "--workload")) {
      m->workload = 1;
    } else if (!strcmp(a, "--callgrind")) {
      m->callgrind = 1;
    } else if (!strcmp(a, "--timeouts")) {
      m->timeouts = 1;
    } else if (!strcmp(a, "--report") && more) {
      m->report = argv[++i];
    } else if (!strcmp(a, "--compare") && i + 2 < argc) {
      m->cmp_a = argv[++i];
      m->cmp_b = argv[++i];
    } else if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
      main_usage(stdout);
      return 0;
    } else if (a[0] != '-') {
      int ok = 0;
      for (int b = 0; b < MAIN_NBENCH; b++)
        ok |= !strcmp(main_benches[b].name, a);
      if (!ok)
        return main_refuse("unknown benchmark '%s'", a);
      if (o->nbench >= 32)
        return main_refuse("too many benchmarks");
      o->benches[o->nbench++] = a;
    } else {
      return main_refuse("unknown option or missing value: '%s'", a);
    }
  }
  return -1;
}

int main(int argc, char **argv) {
  main_opts o = {0};
  main_mode m = {0};
  const char *bad_scale;
  if (bench_timeout_scale(&o.scale, &bad_scale) < 0)
    return main_refuse("EVL_TEST_TIMEOUT_SCALE='%s' is not a finite number "
                       "from 1 to 1000",
                       bad_scale);
  int rc = main_parse(argc, argv, &o, &m);
  if (rc >= 0)
    return rc;
  if (o.repeat <= 0)
    o.repeat = o.profile == BENCH_FULL ? 7 : 5;
  if (o.repeat < 3)
    o.repeat = 3; /* a median of fewer than three is one run in disguise */
  if (o.budget_s <= 0)
    o.budget_s = o.profile == BENCH_FULL ? 60 : 20;
  if (m.cmp_a || m.cmp_b)
    return report_compare(m.cmp_a, m.cmp_b);
  if (m.report)
    return report_generate(m.report);
  if (m.list || m.list_names)
    return main_list(&o, m.list_names);
  if (m.workload || m.callgrind)
    return main_workload(&o, m.callgrind, m.timeouts);
  return main_run_all(&o);
}
