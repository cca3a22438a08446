/* main.c — evl-bench's command line: picks implementations, runs each step in
 * its own process with a time budget, and writes results.json. */
#include "bench.h"
#include "report.h"
#include "run.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

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

static const main_bench main_benches[] = {
#define MAIN_ROW(name, need, raw, direct, per, text)                           \
  {#name, need, raw, direct, per, text, bench_##name},
    BENCH_LIST(MAIN_ROW)
#undef MAIN_ROW
};
#define MAIN_NBENCH ((int)(sizeof main_benches / sizeof main_benches[0]))

/* The quick profile's scope per benchmark (the full profile runs every
 * benchmark on every implementation). Unlisted: every implementation.
 * - MAIN_QUICK_CORE: the work is the reference core's own, above any
 *   backend (its timer heap, its thread wake-up, its timer lateness), so
 *   it runs on one reference-core implementation (the first asked for,
 *   ref-epoll by default), not once per backend, and on every other loop.
 * - MAIN_QUICK_MODEL: the question is the programming model (tasks against
 *   callbacks, proactor against reactor), answered by the same core code
 *   over any loop's ops table: it runs on that one reference-core
 *   implementation and on the loops that are not C adapters (the Python
 *   loops, a plugin), not on each native adapter.
 * - MAIN_QUICK_RING: MAIN_QUICK_MODEL, and also on each reference-core
 *   implementation whose backend lends its io_uring to the completion
 *   engine (ref-iouring): the proactor's "and on which backend" has a
 *   different answer there than on any readiness backend. */
enum { MAIN_QUICK_ALL, MAIN_QUICK_CORE, MAIN_QUICK_MODEL, MAIN_QUICK_RING };
static const struct {
  const char *bench;
  int scope;
} main_quick_scope[] = {
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
static const char *const main_first_round_only[] = {"memory"};

static int main_once(const main_bench *bm) {
  for (size_t i = 0; i < BENCH_COUNT(main_first_round_only); i++)
    if (!strcmp(main_first_round_only[i], bm->name))
      return 1;
  return 0;
}
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

/* One line, non-zero exit: what every refusal looks like. */
static int main_refuse(const char *fmt, ...)
    __attribute__((format(printf, 1, 2)));
static int main_refuse(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fprintf(stderr, "evl-bench: ");
  vfprintf(stderr, fmt, ap);
  fprintf(stderr, " (evl-bench --help for usage)\n");
  va_end(ap);
  return 2;
}

static int main_number(const char *opt, const char *s, double lo, double hi,
                       double *out) {
  char *end;
  errno = 0;
  double v = strtod(s, &end);
  if (errno || end == s || *end || !isfinite(v) || v < lo || v > hi)
    return -EINVAL;
  (void)opt;
  *out = v;
  return 0;
}

/* ---- steps ----------------------------------------------------------------
 */
typedef struct main_run {
  bench_buf records; /* JSON objects, one per line, from every round */
  int nrecords;
} main_run;

static void main_add_record(void *u, const char *line, size_t len) {
  main_run *r = u;
  if (len == 0)
    return;
  bench_buf_printf(&r->records, "%.*s\n", (int)len, line);
  r->nrecords++;
}

static void main_parent_skip(main_run *r, const char *bench, const char *impl,
                             const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void main_parent_skip(main_run *r, const char *bench, const char *impl,
                             const char *fmt, ...) {
  char text[400];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(text, sizeof text, fmt, ap);
  va_end(ap);
  bench_buf b = {0};
  bench_buf_printf(&b, "{\"type\":\"skip\",\"bench\":");
  bench_buf_json_str(&b, bench);
  bench_buf_printf(&b, ",\"params\":{},\"impl\":");
  bench_buf_json_str(&b, impl);
  bench_buf_printf(&b, ",\"backend\":\"\",\"reason\":");
  bench_buf_json_str(&b, text);
  bench_buf_printf(&b, "}");
  main_add_record(r, b.s, b.len);
  bench_buf_free(&b);
}

static void main_parent_note(main_run *r, const char *bench, const char *fmt,
                             ...) __attribute__((format(printf, 3, 4)));
static void main_parent_note(main_run *r, const char *bench, const char *fmt,
                             ...) {
  char text[800];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(text, sizeof text, fmt, ap);
  va_end(ap);
  bench_buf b = {0};
  bench_buf_printf(&b, "{\"type\":\"note\",\"bench\":");
  bench_buf_json_str(&b, bench);
  bench_buf_printf(&b, ",\"params\":{},\"impl\":\"*\",\"backend\":\"\","
                       "\"text\":");
  bench_buf_json_str(&b, text);
  bench_buf_printf(&b, "}");
  main_add_record(r, b.s, b.len);
  bench_buf_free(&b);
}

typedef struct main_step_arg {
  const main_bench *bm;
  const bench_impl *im;
  const main_opts *o;
  double budget_s;
  int round;
} main_step_arg;

/* In the step's child: load the implementation, pin, run, emit. */
static int main_step_child(void *arg, int fd) {
  const main_step_arg *a = arg;
  bench_ctx c = {0};
  char why[256];
  c.profile = a->o->profile;
  c.repeat = 1; /* one repeat per round: rounds give the rest */
  c.round = a->round;
  c.rounds = a->o->repeat;
  c.out_fd = fd;
  c.deadline_ns = bench_now() + (uint64_t)(a->budget_s * 1e9);
  bench_raise_nofile();
  bench_pin(0);
  if (bench_impl_open(a->im, &c, why, sizeof why) < 0) {
    bench_skip(&c, a->bm->name, NULL, "could not load: %s", why);
    return 0;
  }
  int rc = a->bm->fn(&c);
  if (rc < 0)
    bench_skip(&c, a->bm->name, NULL, "failed: %s", bench_strerror(rc));
  return 0;
}

/* Runs one benchmark on one implementation in a child process, so a crash
 * or a hang costs that step only. */
static void main_step(main_run *r, const main_bench *bm, const bench_impl *im,
                      const main_opts *o, double budget_s, int round,
                      int *failed) {
  main_step_arg a = {bm, im, o, budget_s, round};
  /* Hard limit: the soft budget plus room for the last repeat to finish. */
  double limit = (budget_s * 2 + 20) * o->scale;
  bench_proc_result res;
  int rc = bench_proc_run(main_step_child, &a, limit, main_add_record, r, &res);
  if (rc < 0) {
    main_parent_skip(r, bm->name, im->name, "could not fork: %s",
                     bench_strerror(rc));
    *failed = 1;
  } else if (res.timed_out) {
    main_parent_skip(r, bm->name, im->name,
                     "timed out after %.0f s (hard limit); figures before "
                     "that are kept; later rounds skip it",
                     res.secs);
    fprintf(stderr, "         timed out after %.0f s\n", res.secs);
    *failed = 1;
  } else if (res.sig) {
    *failed = 1;
    main_parent_skip(r, bm->name, im->name,
                     "crashed with signal %d (%s); later rounds skip it",
                     res.sig, strsignal(res.sig));
    fprintf(stderr, "         crashed: signal %d\n", res.sig);
  }
}

static int main_write_file(const char *path, const char *s, size_t len) {
  FILE *f = fopen(path, "w");
  if (!f)
    return -errno;
  size_t k = fwrite(s, 1, len, f);
  int bad = fclose(f) != 0 || k != len;
  return bad ? -EIO : 0;
}

static int main_selected(const main_opts *o, const char *name) {
  if (!o->nbench)
    return 1;
  for (int i = 0; i < o->nbench; i++)
    if (!strcmp(o->benches[i], name))
      return 1;
  return 0;
}

static const char *main_kind_name(bench_kind k) {
  return k == BENCH_KIND_RAW      ? "raw"
         : k == BENCH_KIND_DIRECT ? "direct"
                                  : "evl";
}

static void main_impls_json(bench_buf *b, const bench_impl *impls, int n) {
  bench_buf_printf(b, "[");
  for (int i = 0; i < n; i++) {
    const bench_impl *im = &impls[i];
    bench_buf_printf(b, "%s{\"name\":", i ? "," : "");
    bench_buf_json_str(b, im->name);
    bench_buf_printf(b, ",\"kind\":\"%s\",\"usable\":%s,\"reason\":",
                     main_kind_name(im->kind), im->usable ? "true" : "false");
    bench_buf_json_str(b, im->why);
    bench_buf_printf(
        b, ",\"refcore\":%s,\"features\":", im->refcore ? "true" : "false");
    bench_buf_json_str(b, im->features_s);
    bench_buf_printf(b, ",\"description\":");
    bench_buf_json_str(b, im->description);
    bench_buf_printf(b, "}");
  }
  bench_buf_printf(b, "]");
}

static int main_scope(const main_bench *bm) {
  for (size_t i = 0; i < BENCH_COUNT(main_quick_scope); i++)
    if (!strcmp(main_quick_scope[i].bench, bm->name))
      return main_quick_scope[i].scope;
  return MAIN_QUICK_ALL;
}

/* Does step (bm, im) run in this profile? 1 yes; 0 no (not written for it);
 * -1: left to the full profile (main_quick_scope). */
static int main_runs(const main_opts *o, const main_bench *bm,
                     const bench_impl *im, const bench_impl *first_core) {
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
  if (scope >= MAIN_QUICK_MODEL && !strncmp(im->name, "native-", 7))
    return -1;
  return 1;
}

static int main_run_all(const main_opts *o) {
  long nofile = bench_raise_nofile();
  static bench_impl impls[MAIN_MAXIMPL];
  int nimpl = bench_impls_collect(o->impls, o->nimpl, o->no_raw,
                                  MAIN_PROBE_S * o->scale, impls, MAIN_MAXIMPL);
  main_run r = {0};
  int usable = 0, asked_usable = 0;
  for (int i = 0; i < nimpl; i++) {
    usable += impls[i].usable;
    if (!impls[i].usable) {
      fprintf(stderr, "evl-bench: skipping %s: %s\n", impls[i].name,
              impls[i].why);
      main_parent_skip(&r, "*", impls[i].name, "%s", impls[i].why);
    }
  }
  /* Every implementation asked for by name failed: nothing to measure. */
  for (int i = 0; i < o->nimpl && i < nimpl; i++)
    asked_usable += impls[i].usable;
  if (!usable || (o->nimpl && !asked_usable)) {
    fprintf(stderr, "evl-bench: no implementation asked for could be "
                    "loaded\n");
    bench_buf_free(&r.records);
    return 1;
  }
  bench_buf impl_json = {0};
  main_impls_json(&impl_json, impls, nimpl);

  const bench_impl *first_core = NULL;
  for (int i = 0; i < nimpl && !first_core; i++)
    if (impls[i].usable && impls[i].refcore)
      first_core = &impls[i];
  /* Count steps first so progress can say "n of N". */
  int per_round = 0, once = 0;
  for (int b = 0; b < MAIN_NBENCH; b++) {
    const main_bench *bm = &main_benches[b];
    char left[512] = "";
    for (int i = 0; main_selected(o, bm->name) && i < nimpl; i++) {
      int runs = main_runs(o, bm, &impls[i], first_core);
      per_round += runs > 0 && !main_once(bm);
      once += runs > 0 && main_once(bm);
      if (runs < 0 && strlen(left) + strlen(impls[i].name) + 3 < sizeof left)
        snprintf(left + strlen(left), sizeof left - strlen(left), "%s%s",
                 left[0] ? ", " : "", impls[i].name);
    }
    if (left[0])
      main_parent_note(&r, bm->name,
                       "quick profile: %s runs on %s for the reference "
                       "core (the same code over every backend)%s, not on "
                       "%s; PROFILE=full runs every one",
                       bm->name, first_core ? first_core->name : "none",
                       main_scope(bm) == MAIN_QUICK_RING
                           ? ", on backends that lend their io_uring, and on "
                             "the loops that are not C adapters"
                       : main_scope(bm) == MAIN_QUICK_MODEL
                           ? " and on the loops that are not C adapters (the "
                             "model is the same core code over any ops table)"
                           : "",
                       left);
  }
  /* Every step runs once per round, one repeat each time; the budget is
   * shared out between the rounds. */
  int rounds = o->repeat, total = per_round * rounds + once;
  double budget = o->budget_s / rounds;
  static unsigned char failed[32][MAIN_MAXIMPL];
  memset(failed, 0, sizeof failed);
  uint64_t start = bench_now();
  int step = 0;
  for (int round = 1; round <= rounds; round++) {
    for (int b = 0; b < MAIN_NBENCH; b++) {
      const main_bench *bm = &main_benches[b];
      if (!main_selected(o, bm->name))
        continue;
      for (int i = 0; i < nimpl; i++) {
        const bench_impl *im = &impls[i];
        if (main_runs(o, bm, im, first_core) <= 0 ||
            (round > 1 && main_once(bm)))
          continue;
        step++;
        fprintf(stderr, "[%4d/%d round %d/%d %6.1fs] %-11s %s\n", step, total,
                round, rounds, (double)(bench_now() - start) / 1e9, bm->name,
                im->name);
        if (im->kind == BENCH_KIND_EVL &&
            (im->features & bm->need_if) != bm->need_if) {
          char feat[128];
          evl_impl_features_str(bm->need_if & ~im->features, feat, sizeof feat);
          if (round == 1)
            main_parent_skip(&r, bm->name, im->name, "needs feature %s", feat);
          continue;
        }
        /* A step that crashed or hung is not tried again. */
        unsigned char *bad = b < 32 ? &failed[b][i] : NULL;
        if (bad && *bad) {
          fprintf(stderr, "         skipped: it crashed or hung before\n");
          continue;
        }
        int broke = 0;
        main_step(&r, bm, im, o, budget, round - 1, &broke);
        if (bad && broke)
          *bad = 1;
      }
    }
  }
  fprintf(stderr, "[%4d/%d %6.1fs] done\n", step, total,
          (double)(bench_now() - start) / 1e9);
  bench_buf merged = {0};
  int nmerged = bench_merge(r.records.s, &merged);

  bench_buf out = {0};
  bench_buf_printf(&out, "{\"schema\":\"%s\",\n\"environment\":", BENCH_SCHEMA);
  bench_environment(&out, o->profile == BENCH_FULL ? "full" : "quick",
                    o->repeat, nofile);
  bench_buf_printf(&out, ",\n\"implementations\":%s,\n\"records\":[\n%s\n]}\n",
                   impl_json.s, merged.s ? merged.s : "");
  bench_buf_free(&merged);
  int rc = 0;
  if (o->out) {
    mkdir(o->out, 0777);
    char path[4096];
    snprintf(path, sizeof path, "%s/results.json", o->out);
    rc = main_write_file(path, out.s, out.len);
    if (rc < 0)
      fprintf(stderr, "evl-bench: %s: %s\n", path, strerror(-rc));
    else
      fprintf(stderr, "evl-bench: wrote %s (%d records)\n", path, nmerged);
  } else {
    fwrite(out.s, 1, out.len, stdout);
  }
  bench_buf_free(&out);
  bench_buf_free(&impl_json);
  bench_buf_free(&r.records);
  return rc < 0 ? 1 : 0;
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

/* The file name keeps [A-Za-z0-9-] and maps the rest to '_', as bench/run.sh
 * and the report do. */
static void main_safe_name(const char *name, char *safe, size_t len) {
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
static int main_workload(const main_opts *o, int callgrind, int timeouts) {
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
  main_safe_name(name, safe, sizeof safe);
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

int main(int argc, char **argv) {
  main_opts o = {0};
  const char *report = NULL, *cmp_a = NULL, *cmp_b = NULL;
  int list = 0, list_names = 0, workload = 0, callgrind = 0, timeouts = 0;
  const char *bad_scale;
  if (bench_timeout_scale(&o.scale, &bad_scale) < 0)
    return main_refuse("EVL_TEST_TIMEOUT_SCALE='%s' is not a finite number "
                       "from 1 to 1000",
                       bad_scale);
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    int more = i + 1 < argc;
    if (!strcmp(a, "--impl") && more) {
      /* "a,b,c" is accepted too, as `make bench IMPL=` passes it. */
      char *list_s = argv[++i]; /* argv is the program's to modify */
      for (char *save = NULL, *t = strtok_r(list_s, ",", &save); t;
           t = strtok_r(NULL, ",", &save)) {
        if (o.nimpl == MAIN_MAXIMPL)
          return main_refuse("more than %d implementations", MAIN_MAXIMPL);
        o.impls[o.nimpl++] = t;
      }
    } else if (!strcmp(a, "--profile") && more) {
      const char *p = argv[++i];
      if (!strcmp(p, "full"))
        o.profile = BENCH_FULL;
      else if (!strcmp(p, "quick") || !*p)
        o.profile = BENCH_QUICK;
      else
        return main_refuse("unknown profile '%s' (quick or full)", p);
    } else if (!strcmp(a, "--repeat") && more) {
      double v;
      if (main_number(a, argv[++i], 1, 64, &v) < 0 || v != (int)v)
        return main_refuse("--repeat '%s': a whole number from 1 to 64",
                           argv[i]);
      o.repeat = (int)v;
    } else if (!strcmp(a, "--budget") && more) {
      if (main_number(a, argv[++i], 0.1, 86400, &o.budget_s) < 0)
        return main_refuse("--budget '%s': seconds, from 0.1 to 86400",
                           argv[i]);
    } else if (!strcmp(a, "--out") && more) {
      o.out = argv[++i];
    } else if (!strcmp(a, "--no-raw")) {
      o.no_raw = 1;
    } else if (!strcmp(a, "--list")) {
      list = 1;
    } else if (!strcmp(a, "--list-names")) {
      list_names = 1;
    } else if (!strcmp(a, "--workload")) {
      workload = 1;
    } else if (!strcmp(a, "--callgrind")) {
      callgrind = 1;
    } else if (!strcmp(a, "--timeouts")) {
      timeouts = 1;
    } else if (!strcmp(a, "--report") && more) {
      report = argv[++i];
    } else if (!strcmp(a, "--compare") && i + 2 < argc) {
      cmp_a = argv[++i];
      cmp_b = argv[++i];
    } else if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
      main_usage(stdout);
      return 0;
    } else if (a[0] != '-') {
      int ok = 0;
      for (int b = 0; b < MAIN_NBENCH; b++)
        ok |= !strcmp(main_benches[b].name, a);
      if (!ok)
        return main_refuse("unknown benchmark '%s'", a);
      if (o.nbench >= 32)
        return main_refuse("too many benchmarks");
      o.benches[o.nbench++] = a;
    } else {
      return main_refuse("unknown option or missing value: '%s'", a);
    }
  }
  if (o.repeat <= 0)
    o.repeat = o.profile == BENCH_FULL ? 7 : 5;
  if (o.repeat < 3)
    o.repeat = 3; /* a median of fewer than three is one run in disguise */
  if (o.budget_s <= 0)
    o.budget_s = o.profile == BENCH_FULL ? 60 : 20;
  if (cmp_a || cmp_b)
    return report_compare(cmp_a, cmp_b);
  if (report)
    return report_generate(report);
  if (list || list_names)
    return main_list(&o, list_names);
  if (workload || callgrind)
    return main_workload(&o, callgrind, timeouts);
  return main_run_all(&o);
}
