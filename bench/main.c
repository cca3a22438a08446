/* main.c — evl-bench's command line: picks implementations, runs each step in
 * its own process with a time budget, and writes results.json. */
#include "bench.h"
#include "json.h"
#include "report.h"

#include <errno.h>
#include <fcntl.h>
#include <gnu/libc-version.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

typedef int (*main_bench_fn)(bench_ctx *c);

typedef struct main_bench {
  const char *name;
  uint32_t need_if;
  int has_raw;
  int per_impl;
  const char *summary;
  main_bench_fn fn;
} main_bench;

static const main_bench main_benches[] = {
#define MAIN_ROW(name, need, raw, per, text)                                   \
  {#name, need, raw, per, text, bench_##name},
    BENCH_LIST(MAIN_ROW)
#undef MAIN_ROW
};
#define MAIN_NBENCH ((int)(sizeof main_benches / sizeof main_benches[0]))

/* One implementation as the run sees it. */
typedef struct main_impl {
  const char *name;
  const evl_impl_ops *ops; /* NULL: raw baseline, or unusable (status) */
  int status;              /* 0 usable */
  char why[256];
  int raw;
} main_impl;

typedef struct main_opts {
  const char *benches[32];
  int nbench;
  const char *impls[64];
  int nimpl;
  bench_profile profile;
  int repeat;
  const char *out;
  double budget_s; /* soft budget per step */
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
          "       evl-bench --callgrind --impl NAME [--timeouts] --out DIR   "
          "the same, toggling\n"
          "                 callgrind collection around the timed loop\n"
          "       evl-bench --list-names     usable implementations, "
          "comma-separated\n"
          "       evl-bench --report DIR     plots, index.html, summary.md "
          "from DIR/results.json\n"
          "       evl-bench --compare A B    ratios B/A of two runs' "
          "figures\n"
          "benchmarks:");
  for (int i = 0; i < MAIN_NBENCH; i++)
    fprintf(f, " %s", main_benches[i].name);
  fprintf(f, "\n");
}

/* ---- implementations ---------------------------------------------------- */
static int main_resolve(const char *name, main_impl *im) {
  memset(im, 0, sizeof *im);
  im->name = name;
  if (!strcmp(name, BENCH_RAW_NAME)) {
    im->raw = 1;
    return 0;
  }
  char err[200] = "";
  const evl_impl_ops *ops = NULL;
  int rc = evl_impl_lookup(name, &ops, err, sizeof err);
  if (rc < 0) {
    im->status = rc;
    snprintf(im->why, sizeof im->why, "lookup failed: %s",
             err[0] ? err : bench_strerror(rc));
    return rc;
  }
  rc = evl_impl_probe(ops, err, sizeof err);
  if (rc < 0) {
    im->status = rc;
    snprintf(im->why, sizeof im->why, "probe failed: %s",
             err[0] ? err : bench_strerror(rc));
    return rc;
  }
  im->ops = ops;
  return 0;
}

static int main_collect_impls(const main_opts *o, main_impl *out, int cap) {
  int n = 0;
  if (o->nimpl) {
    for (int i = 0; i < o->nimpl && n < cap; i++)
      main_resolve(o->impls[i], &out[n++]);
    return n;
  }
  const char *const *names = evl_impl_names();
  for (int i = 0; names && names[i] && n < cap; i++)
    main_resolve(names[i], &out[n++]);
  return n;
}

/* ---- environment ------------------------------------------------------------
 */
static void main_popen_line(const char *cmd, char *buf, size_t len) {
  buf[0] = 0;
  FILE *p = popen(cmd, "r");
  if (!p)
    return;
  if (fgets(buf, (int)len, p)) {
    size_t k = strlen(buf);
    while (k && (buf[k - 1] == '\n' || buf[k - 1] == '\r'))
      buf[--k] = 0;
  }
  pclose(p);
}

static void main_cpu_model(char *buf, size_t len) {
  snprintf(buf, len, "unknown");
  FILE *f = fopen("/proc/cpuinfo", "r");
  if (!f)
    return;
  char line[512];
  while (fgets(line, sizeof line, f)) {
    if (!strncmp(line, "model name", 10)) {
      char *c = strchr(line, ':');
      if (c) {
        c++;
        while (*c == ' ')
          c++;
        c[strcspn(c, "\n")] = 0;
        snprintf(buf, len, "%s", c);
      }
      break;
    }
  }
  fclose(f);
}

static void main_kv(bench_buf *b, int *first, const char *k, const char *v) {
  bench_buf_printf(b, "%s", *first ? "" : ",");
  *first = 0;
  bench_buf_json_str(b, k);
  bench_buf_printf(b, ":");
  bench_buf_json_str(b, v);
}

static void main_environment(bench_buf *b, const main_opts *o, long nofile) {
  char s[512];
  int first = 1;
  bench_buf_printf(b, "{");
  main_cpu_model(s, sizeof s);
  main_kv(b, &first, "cpu", s);
  bench_buf_printf(b, ",\"cores\":%ld", sysconf(_SC_NPROCESSORS_ONLN));
  struct utsname u;
  if (uname(&u) == 0) {
    snprintf(s, sizeof s, "%s %s %s", u.sysname, u.release, u.machine);
    main_kv(b, &first, "kernel", s);
    main_kv(b, &first, "host", u.nodename);
  }
  main_kv(b, &first, "libc", gnu_get_libc_version());
#ifdef __VERSION__
  main_kv(b, &first, "compiler", __VERSION__);
#endif
  const char *cmd = getenv("EVL_BENCH_BUILD_CMD");
  main_kv(b, &first, "build_command", cmd ? cmd : "");
#ifdef __OPTIMIZE__
  main_kv(b, &first, "optimized", "yes");
#else
  main_kv(b, &first, "optimized", "no");
#endif
  static const struct {
    const char *key, *cmd;
  } libs[] = {
      {"libuv", "pkg-config --modversion libuv 2>/dev/null"},
      {"libevent", "pkg-config --modversion libevent 2>/dev/null"},
      {"libev", "dpkg-query -W -f='${Version}' libev-dev 2>/dev/null"},
      {"liburing", "pkg-config --modversion liburing 2>/dev/null"},
      {"hyperfine", "hyperfine --version 2>/dev/null"},
      {"gnuplot", "gnuplot --version 2>/dev/null"},
      {"valgrind", "valgrind --version 2>/dev/null"},
  };
  bench_buf_printf(b, ",\"libraries\":{");
  int lf = 1;
  for (size_t i = 0; i < sizeof libs / sizeof libs[0]; i++) {
    main_popen_line(libs[i].cmd, s, sizeof s);
    main_kv(b, &lf, libs[i].key, s[0] ? s : "absent");
  }
  bench_buf_printf(b, "}");
  main_popen_line("git rev-parse HEAD 2>/dev/null", s, sizeof s);
  main_kv(b, &first, "commit", s[0] ? s : "none");
  main_popen_line("git status --porcelain --untracked-files=no 2>/dev/null "
                  "| wc -l",
                  s, sizeof s);
  main_kv(b, &first, "dirty", atoi(s) > 0 ? "yes" : "no");
  main_kv(b, &first, "profile", o->profile == BENCH_FULL ? "full" : "quick");
  bench_buf_printf(b, ",\"repeat\":%d,\"rlimit_nofile\":%ld", o->repeat,
                   nofile);
  time_t now = time(NULL);
  struct tm tm;
  gmtime_r(&now, &tm);
  strftime(s, sizeof s, "%Y-%m-%dT%H:%M:%SZ", &tm);
  main_kv(b, &first, "date", s);
  bench_buf_printf(b, "}");
}

/* ---- steps ----------------------------------------------------------------
 */
typedef struct main_run {
  bench_buf records; /* JSON objects, one per line, from every round */
  int nrecords;
} main_run;

static void main_add_record(main_run *r, const char *line, size_t len) {
  if (len == 0)
    return;
  bench_buf_printf(&r->records, "%.*s\n", (int)len, line);
  r->nrecords++;
}

/* ---- merging rounds ------------------------------------------------------ */
static void main_json_write(bench_buf *b, const json *v) {
  switch (v->type) {
  case JSON_NULL:
    bench_buf_printf(b, "null");
    break;
  case JSON_TRUE:
    bench_buf_printf(b, "true");
    break;
  case JSON_FALSE:
    bench_buf_printf(b, "false");
    break;
  case JSON_NUM:
    if (v->num != v->num || v->num > 1e300 || v->num < -1e300)
      bench_buf_printf(b, "null");
    else
      bench_buf_printf(b, "%.6g", v->num);
    break;
  case JSON_STR:
    bench_buf_json_str(b, v->str);
    break;
  case JSON_ARR:
  case JSON_OBJ:
    bench_buf_printf(b, "%c", v->type == JSON_ARR ? '[' : '{');
    for (int i = 0; i < v->n; i++) {
      if (i)
        bench_buf_printf(b, ",");
      if (v->type == JSON_OBJ) {
        bench_buf_json_str(b, v->keys[i]);
        bench_buf_printf(b, ":");
      }
      main_json_write(b, v->kids[i]);
    }
    bench_buf_printf(b, "%c", v->type == JSON_ARR ? ']' : '}');
    break;
  }
}

static json *main_json_kid(json *obj, const char *key) {
  for (int i = 0; obj && obj->type == JSON_OBJ && i < obj->n; i++)
    if (!strcmp(obj->keys[i], key))
      return obj->kids[i];
  return NULL;
}

static void main_json_set(json *obj, const char *key, double v) {
  json *k = main_json_kid(obj, key);
  if (k) {
    k->type = JSON_NUM;
    k->num = v;
  } else {
    json *n = json_new_num(v);
    if (n && json_append(obj, key, n) < 0)
      json_free(n);
  }
}

/* What makes two records from different rounds the same figure. */
static void main_rec_key(const json *j, char *buf, size_t len) {
  char p[512];
  json_to_text(json_get(j, "params"), p, sizeof p);
  snprintf(buf, len, "%s|%s|%s|%s|%s|%s%s", json_str(j, "type", ""),
           json_str(j, "bench", ""), p, json_str(j, "impl", ""),
           json_str(j, "metric", ""), json_str(j, "reason", ""),
           json_str(j, "text", ""));
}

/* Rounds are interleaved (every step once, then again), so a burst of load
 * from elsewhere hits one repeat of many implementations rather than every
 * repeat of one. Here each figure's repeats are joined again: measurements
 * get all their repeats and fresh statistics, curves the mean of their
 * points, and repeated skips and notes are said once. */
static int main_merge(const char *lines, bench_buf *out) {
  int cap = 256, n = 0;
  json **recs = calloc((size_t)cap, sizeof *recs);
  char **keys = calloc((size_t)cap, sizeof *keys);
  int *count = calloc((size_t)cap, sizeof *count);
  if (!recs || !keys || !count)
    goto done;
  for (const char *p = lines; p && *p;) {
    const char *nl = strchr(p, '\n');
    size_t len = nl ? (size_t)(nl - p) : strlen(p);
    char *line = strndup(p, len);
    p = nl ? nl + 1 : p + len;
    char err[128];
    json *j = line ? json_parse(line, err, sizeof err) : NULL;
    free(line);
    if (!j)
      continue;
    char key[1024];
    main_rec_key(j, key, sizeof key);
    int k = 0;
    while (k < n && strcmp(keys[k], key))
      k++;
    if (k < n) {
      json *first = recs[k];
      const char *type = json_str(j, "type", "");
      if (!strcmp(type, "measurement")) {
        json *to = main_json_kid(first, "repeats"),
             *from = main_json_kid(j, "repeats");
        for (int i = 0; to && from && i < from->n; i++)
          if (json_append(to, NULL, from->kids[i]) == 0)
            from->kids[i] = NULL;
      } else if (!strcmp(type, "curve")) {
        json *to = main_json_kid(first, "points"),
             *from = main_json_kid(j, "points");
        for (int i = 0; to && from && i < to->n && i < from->n; i++) {
          json *a = to->kids[i], *b = from->kids[i];
          if (a->type == JSON_ARR && b->type == JSON_ARR && a->n > 1 &&
              b->n > 1 && a->kids[1]->type == JSON_NUM &&
              b->kids[1]->type == JSON_NUM)
            a->kids[1]->num =
                (a->kids[1]->num * count[k] + b->kids[1]->num) / (count[k] + 1);
        }
      }
      count[k]++;
      /* Stolen kids were set to NULL: free only what is left. */
      json *rep = main_json_kid(j, "repeats");
      if (rep) {
        int keep = 0;
        for (int i = 0; i < rep->n; i++)
          if (rep->kids[i])
            rep->kids[keep++] = rep->kids[i];
        rep->n = keep;
      }
      json_free(j);
      continue;
    }
    if (n == cap) {
      cap *= 2;
      json **r2 = realloc(recs, (size_t)cap * sizeof *recs);
      char **k2 = r2 ? realloc(keys, (size_t)cap * sizeof *keys) : NULL;
      int *c2 = k2 ? realloc(count, (size_t)cap * sizeof *count) : NULL;
      if (r2)
        recs = r2;
      if (k2)
        keys = k2;
      if (c2)
        count = c2;
      if (!c2) {
        json_free(j);
        break;
      }
    }
    recs[n] = j;
    keys[n] = strdup(key);
    count[n] = 1;
    n++;
  }
  for (int k = 0; k < n; k++) {
    json *j = recs[k];
    if (!strcmp(json_str(j, "type", ""), "measurement")) {
      json *rep = main_json_kid(j, "repeats");
      double v[1024];
      int m = 0;
      for (int i = 0; rep && i < rep->n && m < 1024; i++)
        if (rep->kids[i]->type == JSON_NUM)
          v[m++] = rep->kids[i]->num;
      bench_stats st;
      bench_stats_of(v, m, &st);
      main_json_set(j, "n", m);
      main_json_set(j, "median", st.median);
      main_json_set(j, "min", st.min);
      main_json_set(j, "max", st.max);
      main_json_set(j, "p10", st.p10);
      main_json_set(j, "p90", st.p90);
    }
    if (k)
      bench_buf_printf(out, ",\n");
    main_json_write(out, j);
  }
done:
  for (int k = 0; k < n; k++) {
    json_free(recs[k]);
    free(keys[k]);
  }
  free(recs);
  free(keys);
  free(count);
  return n;
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

/* Runs one benchmark on one implementation in a child process, so a crash
 * or a hang costs that step only. Returns records collected. */
static int main_step(main_run *r, const main_bench *bm, const main_impl *im,
                     const main_opts *o, double budget_s, int *failed) {
  int pfd[2];
  uint64_t t0 = bench_now();
  if (pipe2(pfd, O_CLOEXEC) < 0)
    return -errno;
  fflush(NULL);
  pid_t pid = fork();
  if (pid < 0) {
    close(pfd[0]);
    close(pfd[1]);
    return -errno;
  }
  if (pid == 0) {
    close(pfd[0]);
    bench_ctx c = {0};
    c.impl_name = im->name;
    c.ops = im->ops;
    c.backend = im->raw ? "epoll" : "";
    c.profile = o->profile;
    c.repeat = 1; /* one repeat per round: rounds give the rest */
    c.out_fd = pfd[1];
    c.deadline_ns = t0 + (uint64_t)(budget_s * 1e9);
    bench_raise_nofile();
    int rc = bm->fn(&c);
    if (rc < 0)
      bench_skip(&c, bm->name, NULL, "failed: %s", bench_strerror(rc));
    _exit(0);
  }
  close(pfd[1]);
  /* Hard limit: the soft budget plus room for the last repeat to finish. */
  uint64_t hard = t0 + (uint64_t)((budget_s * 2 + 20) * 1e9);
  bench_buf line = {0};
  int got = 0, killed = 0;
  char buf[4096];
  for (;;) {
    uint64_t now = bench_now();
    if (now >= hard) {
      kill(pid, SIGKILL);
      killed = 1;
      break;
    }
    struct pollfd p = {pfd[0], POLLIN, 0};
    int ms = (int)((hard - now) / 1000000) + 1;
    int k = poll(&p, 1, ms);
    if (k < 0 && errno == EINTR)
      continue;
    if (k <= 0)
      continue;
    ssize_t n = read(pfd[0], buf, sizeof buf);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      break;
    for (ssize_t i = 0; i < n; i++) {
      if (buf[i] == '\n') {
        main_add_record(r, line.s, line.len);
        got++;
        line.len = 0;
      } else {
        bench_buf_printf(&line, "%c", buf[i]);
      }
    }
  }
  bench_buf_free(&line);
  close(pfd[0]);
  int st = 0;
  while (waitpid(pid, &st, 0) < 0 && errno == EINTR) {
  }
  double secs = (double)(bench_now() - t0) / 1e9;
  if (killed) {
    main_parent_skip(r, bm->name, im->name,
                     "timed out after %.0f s (hard limit); figures before "
                     "that are kept; later rounds skip it",
                     secs);
    fprintf(stderr, "         timed out after %.0f s\n", secs);
    *failed = 1;
  } else if (WIFSIGNALED(st)) {
    *failed = 1;
    main_parent_skip(r, bm->name, im->name,
                     "crashed with signal %d (%s); later rounds skip it",
                     WTERMSIG(st), strsignal(WTERMSIG(st)));
    fprintf(stderr, "         crashed: signal %d\n", WTERMSIG(st));
  }
  return got;
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

static int main_run_all(const main_opts *o) {
  long nofile = bench_raise_nofile();
  static main_impl impls[64];
  int nimpl = main_collect_impls(o, impls, 64);
  main_impl raw;
  main_resolve(BENCH_RAW_NAME, &raw);

  main_run r = {0};
  bench_buf impl_json = {0};
  bench_buf_printf(&impl_json, "[");
  for (int i = 0; i < nimpl; i++) {
    char feat[256] = "";
    if (impls[i].ops)
      evl_impl_features_str(impls[i].ops->features, feat, sizeof feat);
    bench_buf_printf(&impl_json, "%s{\"name\":", i ? "," : "");
    bench_buf_json_str(&impl_json, impls[i].name);
    bench_buf_printf(&impl_json, ",\"usable\":%s,\"reason\":",
                     impls[i].ops ? "true" : "false");
    bench_buf_json_str(&impl_json, impls[i].why);
    bench_buf_printf(&impl_json, ",\"features\":");
    bench_buf_json_str(&impl_json, feat);
    bench_buf_printf(&impl_json, ",\"description\":");
    bench_buf_json_str(&impl_json, impls[i].ops && impls[i].ops->description
                                       ? impls[i].ops->description
                                       : "");
    bench_buf_printf(&impl_json, "}");
    if (!impls[i].ops) {
      fprintf(stderr, "evl-bench: skipping %s: %s\n", impls[i].name,
              impls[i].why);
      main_parent_skip(&r, "*", impls[i].name, "%s", impls[i].why);
    }
  }
  bench_buf_printf(&impl_json, "]");

  /* Count steps first so progress can say "n of N". */
  int per_round = 0;
  for (int b = 0; b < MAIN_NBENCH; b++) {
    if (!main_selected(o, main_benches[b].name))
      continue;
    per_round += main_benches[b].has_raw && !o->no_raw;
    for (int i = 0; i < nimpl && main_benches[b].per_impl; i++)
      per_round += impls[i].ops != NULL;
  }
  /* Every step runs once per round, one repeat each time; the budget is
   * shared out between the rounds. */
  int rounds = o->repeat, total = per_round * rounds;
  double budget = o->budget_s / rounds;
  static unsigned char failed[32][65];
  memset(failed, 0, sizeof failed);
  uint64_t start = bench_now();
  int step = 0;
  for (int round = 1; round <= rounds; round++) {
    for (int b = 0; b < MAIN_NBENCH; b++) {
      const main_bench *bm = &main_benches[b];
      if (!main_selected(o, bm->name))
        continue;
      for (int i = -1; i < nimpl; i++) {
        const main_impl *im = i < 0 ? &raw : &impls[i];
        if (i < 0 && (!bm->has_raw || o->no_raw))
          continue;
        if (i >= 0 && (!im->ops || !bm->per_impl))
          continue;
        step++;
        fprintf(stderr, "[%4d/%d round %d/%d %6.1fs] %-11s %s\n", step, total,
                round, rounds, (double)(bench_now() - start) / 1e9, bm->name,
                im->name);
        if (im->ops && (im->ops->features & bm->need_if) != bm->need_if) {
          char feat[128];
          evl_impl_features_str(bm->need_if & ~im->ops->features, feat,
                                sizeof feat);
          main_parent_skip(&r, bm->name, im->name, "needs feature %s", feat);
          continue;
        }
        /* A step that crashed or hung is not tried again. */
        unsigned char *bad = b < 32 && i + 1 < 65 ? &failed[b][i + 1] : NULL;
        if (bad && *bad) {
          fprintf(stderr, "         skipped: it crashed or hung before\n");
          continue;
        }
        int broke = 0;
        main_step(&r, bm, im, o, budget, &broke);
        if (bad && broke)
          *bad = 1;
      }
    }
  }
  fprintf(stderr, "[%4d/%d %6.1fs] done\n", step, total,
          (double)(bench_now() - start) / 1e9);
  bench_buf merged = {0};
  int nmerged = main_merge(r.records.s, &merged);

  bench_buf out = {0};
  bench_buf_printf(&out, "{\"schema\":\"%s\",\n\"environment\":", BENCH_SCHEMA);
  main_environment(&out, o, nofile);
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
  static main_impl impls[64];
  int n = main_collect_impls(o, impls, 64);
  if (names_only) {
    int first = 1;
    for (int i = 0; i < n; i++)
      if (impls[i].ops) {
        printf("%s%s", first ? "" : ",", impls[i].name);
        first = 0;
      }
    printf("\n");
    return 0;
  }
  printf("benchmarks:\n");
  for (int i = 0; i < MAIN_NBENCH; i++)
    printf("  %-12s %s%s\n", main_benches[i].name, main_benches[i].summary,
           main_benches[i].has_raw ? " [+raw-epoll]" : "");
  printf("implementations:\n");
  for (int i = 0; i < n; i++) {
    char feat[256] = "";
    if (impls[i].ops)
      evl_impl_features_str(impls[i].ops->features, feat, sizeof feat);
    printf("  %-18s %s\n", impls[i].name, impls[i].ops ? feat : impls[i].why);
  }
  return 0;
}

/* One process, one fixed chain workload: what hyperfine and callgrind time. */
static int main_workload(const main_opts *o, int callgrind, int timeouts) {
  main_impl im;
  const char *name = o->nimpl ? o->impls[0] : "ref-epoll";
  if (main_resolve(name, &im) < 0) {
    fprintf(stderr, "evl-bench: %s: %s\n", name, im.why);
    return 2;
  }
  bench_raise_nofile();
  bench_ctx c = {0};
  c.impl_name = im.name;
  c.ops = im.ops;
  c.backend = im.raw ? "epoll" : "";
  c.profile = o->profile;
  c.repeat = 1;
  c.out_fd = -1;
  c.callgrind = callgrind;
  int rc = bench_chain_fixed(&c, 1000, 100, timeouts);
  if (rc < 0) {
    fprintf(stderr, "evl-bench: %s: chain: %s\n", name, bench_strerror(rc));
    return 1;
  }
  if (callgrind && o->out) {
    /* The file name keeps [A-Za-z0-9-] and maps the rest to '_', as
     * bench/run.sh and the report do. */
    char safe[256], path[4096];
    size_t k = 0;
    for (const char *p = name; *p && k + 1 < sizeof safe; p++, k++)
      safe[k] = (char)((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
                               (*p >= '0' && *p <= '9') || *p == '-'
                           ? *p
                           : '_');
    safe[k] = 0;
    snprintf(path, sizeof path, "%s/%s%s.events", o->out, safe,
             timeouts ? "-timeouts" : "");
    FILE *f = fopen(path, "w");
    if (f) {
      fprintf(f, "%llu %s\n", c.fixed_events, c.backend ? c.backend : "");
      fclose(f);
    }
  }
  return 0;
}

int main(int argc, char **argv) {
  main_opts o = {0};
  o.repeat = 0;
  o.budget_s = 0;
  const char *report = NULL, *cmp_a = NULL, *cmp_b = NULL;
  int list = 0, list_names = 0, workload = 0, callgrind = 0, timeouts = 0;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (!strcmp(a, "--impl") && i + 1 < argc) {
      /* "a,b,c" is accepted too, as `make bench IMPL=` passes it. */
      char *list_s = strdup(argv[++i]);
      for (char *save = NULL, *t = strtok_r(list_s, ",", &save); t;
           t = strtok_r(NULL, ",", &save))
        if (o.nimpl < 64)
          o.impls[o.nimpl++] = t;
    } else if (!strcmp(a, "--profile") && i + 1 < argc) {
      const char *p = argv[++i];
      if (!strcmp(p, "full"))
        o.profile = BENCH_FULL;
      else if (!strcmp(p, "quick") || !*p)
        o.profile = BENCH_QUICK;
      else {
        fprintf(stderr, "evl-bench: unknown profile '%s'\n", p);
        return 2;
      }
    } else if (!strcmp(a, "--repeat") && i + 1 < argc) {
      o.repeat = atoi(argv[++i]);
    } else if (!strcmp(a, "--budget") && i + 1 < argc) {
      o.budget_s = atof(argv[++i]);
    } else if (!strcmp(a, "--out") && i + 1 < argc) {
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
    } else if (!strcmp(a, "--report") && i + 1 < argc) {
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
      if (!ok || o.nbench >= 32) {
        fprintf(stderr, "evl-bench: unknown benchmark '%s'\n", a);
        main_usage(stderr);
        return 2;
      }
      o.benches[o.nbench++] = a;
    } else {
      fprintf(stderr, "evl-bench: bad option '%s'\n", a);
      main_usage(stderr);
      return 2;
    }
  }
  if (o.repeat <= 0)
    o.repeat = o.profile == BENCH_FULL ? 7 : 3;
  if (o.repeat < 3)
    o.repeat = 3; /* a median of fewer than three is one run in disguise */
  if (o.budget_s <= 0)
    o.budget_s = o.profile == BENCH_FULL ? 60 : 8;
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
