/* rounds.c — a run: every step steps.c selects, once per round, each in
 * its own process with a time budget (a crash or a hang costs that step
 * only), then the rounds merged into results.json. Separate from the
 * command line (main.c), which only reads the options and starts it. */
#include "bench.h"
#include "main.h"
#include "run.h"

#include <errno.h>
#include <stdarg.h>
#include <string.h>
#include <sys/stat.h>

/* ---- records and steps -------------------------------------------------- */
typedef struct rounds_run {
  bench_buf records; /* JSON objects, one per line, from every round */
  int nrecords;
} rounds_run;

static void rounds_add_record(void *u, const char *line, size_t len) {
  rounds_run *r = u;
  if (len == 0)
    return;
  bench_buf_printf(&r->records, "%.*s\n", (int)len, line);
  r->nrecords++;
}

/* A record the parent writes itself (a step that could not run, a note on
 * the whole run), shaped as the children's: its text under `key`. */
static void rounds_parent_record(rounds_run *r, const char *type,
                                 const char *bench, const char *impl,
                                 const char *key, const char *text) {
  bench_buf b = {0};
  bench_buf_printf(&b, "{\"type\":\"%s\",\"bench\":", type);
  bench_buf_json_str(&b, bench);
  bench_buf_printf(&b, ",\"params\":{},\"impl\":");
  bench_buf_json_str(&b, impl);
  bench_buf_printf(&b, ",\"backend\":\"\",\"%s\":", key);
  bench_buf_json_str(&b, text);
  bench_buf_printf(&b, "}");
  rounds_add_record(r, b.s, b.len);
  bench_buf_free(&b);
}

static void rounds_parent_skip(rounds_run *r, const char *bench,
                               const char *impl, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void rounds_parent_skip(rounds_run *r, const char *bench,
                               const char *impl, const char *fmt, ...) {
  char text[400];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(text, sizeof text, fmt, ap);
  va_end(ap);
  rounds_parent_record(r, "skip", bench, impl, "reason", text);
}

static void rounds_parent_note(rounds_run *r, const char *bench,
                               const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void rounds_parent_note(rounds_run *r, const char *bench,
                               const char *fmt, ...) {
  char text[800];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(text, sizeof text, fmt, ap);
  va_end(ap);
  rounds_parent_record(r, "note", bench, "*", "text", text);
}

typedef struct rounds_step_arg {
  const main_bench *bm;
  const bench_impl *im;
  const main_opts *o;
  double budget_s;
  int round;
} rounds_step_arg;

/* In the step's child: load the implementation, pin, run, emit. */
static int rounds_step_child(void *arg, int fd) {
  const rounds_step_arg *a = arg;
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
static void rounds_step(rounds_run *r, const main_bench *bm,
                        const bench_impl *im, const main_opts *o,
                        double budget_s, int round, int *failed) {
  rounds_step_arg a = {bm, im, o, budget_s, round};
  /* Hard limit: the soft budget plus room for the last repeat to finish. */
  double limit = (budget_s * 2 + 20) * o->scale;
  bench_proc_result res;
  int rc =
      bench_proc_run(rounds_step_child, &a, limit, rounds_add_record, r, &res);
  if (rc < 0) {
    rounds_parent_skip(r, bm->name, im->name, "could not fork: %s",
                       bench_strerror(rc));
    *failed = 1;
  } else if (res.timed_out) {
    rounds_parent_skip(r, bm->name, im->name,
                       "timed out after %.0f s (hard limit); figures before "
                       "that are kept; later rounds skip it",
                       res.secs);
    fprintf(stderr, "         timed out after %.0f s\n", res.secs);
    *failed = 1;
  } else if (res.sig) {
    *failed = 1;
    rounds_parent_skip(r, bm->name, im->name,
                       "crashed with signal %d (%s); later rounds skip it",
                       res.sig, strsignal(res.sig));
    fprintf(stderr, "         crashed: signal %d\n", res.sig);
  }
}

static int rounds_write_file(const char *path, const char *s, size_t len) {
  FILE *f = fopen(path, "w");
  if (!f)
    return -errno;
  size_t k = fwrite(s, 1, len, f);
  int bad = fclose(f) != 0 || k != len;
  return bad ? -EIO : 0;
}

static const char *rounds_kind_name(bench_kind k) {
  return k == BENCH_KIND_RAW      ? "raw"
         : k == BENCH_KIND_DIRECT ? "direct"
                                  : "evl";
}

static void rounds_impls_json(bench_buf *b, const bench_impl *impls, int n) {
  bench_buf_printf(b, "[");
  for (int i = 0; i < n; i++) {
    const bench_impl *im = &impls[i];
    bench_buf_printf(b, "%s{\"name\":", i ? "," : "");
    bench_buf_json_str(b, im->name);
    bench_buf_printf(b, ",\"kind\":\"%s\",\"usable\":%s,\"reason\":",
                     rounds_kind_name(im->kind), im->usable ? "true" : "false");
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

/* ---- the run ------------------------------------------------------------ */
/* Says which implementations cannot be loaded (a skip record each). 0, or 1
 * when nothing asked for can be measured. */
static int rounds_check_usable(rounds_run *r, const main_opts *o,
                               const bench_impl *impls, int nimpl) {
  int usable = 0, asked_usable = 0;
  for (int i = 0; i < nimpl; i++) {
    usable += impls[i].usable;
    if (!impls[i].usable) {
      fprintf(stderr, "evl-bench: skipping %s: %s\n", impls[i].name,
              impls[i].why);
      rounds_parent_skip(r, "*", impls[i].name, "%s", impls[i].why);
    }
  }
  /* Every implementation asked for by name failed: nothing to measure. */
  for (int i = 0; i < o->nimpl && i < nimpl; i++)
    asked_usable += impls[i].usable;
  if (!usable || (o->nimpl && !asked_usable)) {
    fprintf(stderr, "evl-bench: no implementation asked for could be "
                    "loaded\n");
    return 1;
  }
  return 0;
}

/* The steps a round runs and those run once, so progress can say "n of N";
 * a note per benchmark the quick profile runs on the reference core only. */
static void rounds_count(rounds_run *r, const main_opts *o,
                         const bench_impl *impls, int nimpl,
                         const bench_impl *first_core, int *per_round,
                         int *once) {
  *per_round = *once = 0;
  for (int b = 0; b < MAIN_NBENCH; b++) {
    const main_bench *bm = &main_benches[b];
    char left[512] = "";
    for (int i = 0; main_selected(o, bm->name) && i < nimpl; i++) {
      int runs = main_runs(o, bm, &impls[i], first_core);
      *per_round += runs > 0 && !main_once(bm);
      *once += runs > 0 && main_once(bm);
      if (runs < 0 && strlen(left) + strlen(impls[i].name) + 3 < sizeof left)
        snprintf(left + strlen(left), sizeof left - strlen(left), "%s%s",
                 left[0] ? ", " : "", impls[i].name);
    }
    if (left[0])
      rounds_parent_note(
          r, bm->name,
          "quick profile: %s runs on %s for the reference "
          "core (the same code over every backend)%s, not on "
          "%s; PROFILE=full runs every one",
          bm->name, first_core ? first_core->name : "none",
          main_scope(bm) == MAIN_QUICK_RING
              ? ", on backends that lend their io_uring, and on "
                "any plugin loop asked for"
          : main_scope(bm) == MAIN_QUICK_MODEL
              ? " and on any plugin loop asked for (the model is the same "
                "core code over any ops table)"
              : "",
          left);
  }
}

/* Every step once per round, one repeat each time, the budget shared out
 * between the rounds; a step that crashed or hung is not tried again.
 * Returns the count of steps started. */
static int rounds_run_steps(rounds_run *r, const main_opts *o,
                            const bench_impl *impls, int nimpl,
                            const bench_impl *first_core, int total,
                            uint64_t start) {
  int rounds = o->repeat;
  double budget = o->budget_s / rounds;
  static unsigned char failed[32][MAIN_MAXIMPL];
  memset(failed, 0, sizeof failed);
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
            rounds_parent_skip(r, bm->name, im->name, "needs feature %s", feat);
          continue;
        }
        unsigned char *bad = b < 32 ? &failed[b][i] : NULL;
        if (bad && *bad) {
          fprintf(stderr, "         skipped: it crashed or hung before\n");
          continue;
        }
        int broke = 0;
        rounds_step(r, bm, im, o, budget, round - 1, &broke);
        if (bad && broke)
          *bad = 1;
      }
    }
  }
  return step;
}

/* results.json (to o->out, else stdout): schema, environment, the
 * implementations and every round's records merged. 0, or 1 on failure. */
static int rounds_write_results(rounds_run *r, const main_opts *o,
                                const bench_buf *impl_json, long nofile) {
  bench_buf merged = {0};
  int nmerged = bench_merge(r->records.s, &merged);
  bench_buf out = {0};
  bench_buf_printf(&out, "{\"schema\":\"%s\",\n\"environment\":", BENCH_SCHEMA);
  bench_environment(&out, o->profile == BENCH_FULL ? "full" : "quick",
                    o->repeat, nofile);
  bench_buf_printf(&out, ",\n\"implementations\":%s,\n\"records\":[\n%s\n]}\n",
                   impl_json->s, merged.s ? merged.s : "");
  bench_buf_free(&merged);
  int rc = 0;
  if (o->out) {
    mkdir(o->out, 0777);
    char path[4096];
    snprintf(path, sizeof path, "%s/results.json", o->out);
    rc = rounds_write_file(path, out.s, out.len);
    if (rc < 0)
      fprintf(stderr, "evl-bench: %s: %s\n", path, strerror(-rc));
    else
      fprintf(stderr, "evl-bench: wrote %s (%d records)\n", path, nmerged);
  } else {
    fwrite(out.s, 1, out.len, stdout);
  }
  bench_buf_free(&out);
  return rc < 0 ? 1 : 0;
}

int main_run_all(const main_opts *o) {
  long nofile = bench_raise_nofile();
  static bench_impl impls[MAIN_MAXIMPL];
  int nimpl = bench_impls_collect(o->impls, o->nimpl, o->no_raw,
                                  MAIN_PROBE_S * o->scale, impls, MAIN_MAXIMPL);
  rounds_run r = {0};
  if (rounds_check_usable(&r, o, impls, nimpl)) {
    bench_buf_free(&r.records);
    return 1;
  }
  bench_buf impl_json = {0};
  rounds_impls_json(&impl_json, impls, nimpl);
  const bench_impl *first_core = NULL;
  for (int i = 0; i < nimpl && !first_core; i++)
    if (impls[i].usable && impls[i].refcore)
      first_core = &impls[i];
  int per_round, once;
  rounds_count(&r, o, impls, nimpl, first_core, &per_round, &once);
  int total = per_round * o->repeat + once;
  uint64_t start = bench_now();
  int step = rounds_run_steps(&r, o, impls, nimpl, first_core, total, start);
  fprintf(stderr, "[%4d/%d %6.1fs] done\n", step, total,
          (double)(bench_now() - start) / 1e9);
  int rc = rounds_write_results(&r, o, &impl_json, nofile);
  bench_buf_free(&impl_json);
  bench_buf_free(&r.records);
  return rc;
}
