/* report_extra.c — the sections that are not benchmarks: environment,
 * implementations, the conformance matrix, hyperfine and callgrind. */
#include "bench.h"
#include "json.h"
#include "report.h"
#include "report_int.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>

void report_environment(report *r) {
  const json *env = json_get(r->root, "environment");
  report_h2(r, "environment", "Environment", NULL);
  bench_buf_printf(&r->html, "<table class=env>\n");
  bench_buf_printf(&r->md, "| key | value |\n|---|---|\n");
  for (int i = 0; env && i < env->n; i++) {
    char v[1024];
    json_to_text(env->kids[i], v, sizeof v);
    bench_buf_printf(&r->html, "<tr><th>");
    report_html_esc(&r->html, env->keys[i]);
    bench_buf_printf(&r->html, "</th><td>");
    report_html_esc(&r->html, v);
    bench_buf_printf(&r->html, "</td></tr>\n");
    bench_buf_printf(&r->md, "| %s | ", env->keys[i]);
    report_md_esc(&r->md, v);
    bench_buf_printf(&r->md, " |\n");
  }
  /* bench/run.sh's phases and the load around them: what this run cost,
   * and how busy the machine was while it ran. */
  static const char *const extra[] = {"durations.txt", "load.txt"};
  for (int k = 0; k < 2; k++) {
    char path[4096], line[256], v[1024] = "";
    snprintf(path, sizeof path, "%s/%s", r->dir, extra[k]);
    FILE *f = fopen(path, "r");
    while (f && fgets(line, sizeof line, f)) {
      char name[64], val[128];
      if (sscanf(line, "%63s %127s", name, val) == 2)
        snprintf(v + strlen(v), sizeof v - strlen(v), "%s%s %s%s",
                 v[0] ? ", " : "", name, val, k ? "" : " s");
    }
    if (f)
      fclose(f);
    if (!v[0])
      continue;
    const char *key = k ? "load average (1, 5, 15 min)" : "phases (make bench)";
    bench_buf_printf(&r->html, "<tr><th>%s</th><td>", key);
    report_html_esc(&r->html, v);
    bench_buf_printf(&r->html, "</td></tr>\n");
    bench_buf_printf(&r->md, "| %s | ", key);
    report_md_esc(&r->md, v);
    bench_buf_printf(&r->md, " |\n");
  }
  bench_buf_printf(&r->html, "</table>\n");
  const json *impls = json_get(r->root, "implementations");
  bench_buf_printf(&r->html, "<table><caption>implementations</caption><tr>"
                             "<th>name</th><th>usable</th><th>features / why "
                             "not</th></tr>\n");
  bench_buf_printf(&r->md, "\n| implementation | usable | features / why not "
                           "|\n|---|---|---|\n");
  bench_buf_printf(&r->html,
                   "<tr><th>%s</th><td>yes</td><td class=l>hand-written "
                   "epoll, no abstraction: the floor</td></tr>\n",
                   BENCH_RAW_NAME);
  bench_buf_printf(&r->md,
                   "| %s | yes | hand-written epoll, no abstraction: "
                   "the floor |\n",
                   BENCH_RAW_NAME);
  for (int i = 0; impls && i < impls->n; i++) {
    const json *im = impls->kids[i];
    const json *u = json_get(im, "usable");
    int ok = u && u->type == JSON_TRUE;
    const char *what =
        ok ? json_str(im, "features", "") : json_str(im, "reason", "");
    bench_buf_printf(&r->html, "<tr><th>");
    report_html_esc(&r->html, json_str(im, "name", "?"));
    bench_buf_printf(&r->html, "</th><td>%s</td><td class=l>",
                     ok ? "yes" : "no");
    report_html_esc(&r->html, what);
    bench_buf_printf(&r->html, "</td></tr>\n");
    bench_buf_printf(&r->md, "| %s | %s | ", json_str(im, "name", "?"),
                     ok ? "yes" : "no");
    report_md_esc(&r->md, what);
    bench_buf_printf(&r->md, " |\n");
  }
  bench_buf_printf(&r->html, "</table>\n");
  bench_buf_printf(&r->md, "\n");
  report_notes(r, "*");
}

static const char *report_status_class(const char *st) {
  if (!strcmp(st, "PASS"))
    return "ok";
  if (!strcmp(st, "SKIP") || !strcmp(st, "XFAIL"))
    return "sk";
  return "bad";
}

void report_conformance(report *r) {
  char path[4096], err[300];
  snprintf(path, sizeof path, "%s/conform.json", r->dir);
  report_h2(r, "conformance", "Conformance matrix (evl-conform --json)", NULL);
  json *c = json_load(path, err, sizeof err);
  const json *targets = c ? json_get(c, "targets") : NULL;
  const json *results = c ? json_get(c, "results") : NULL;
  if (!targets || !results || targets->type != JSON_ARR ||
      results->type != JSON_ARR) {
    report_para(r, "No conformance results in this run (conform.json is "
                   "missing or unreadable).");
    json_free(c);
    return;
  }
  const json *sum = json_get(c, "summary");
  char line[256];
  snprintf(line, sizeof line, "%g passed, %g failed, %g skipped.",
           json_num(sum, "passed", 0), json_num(sum, "failed", 0),
           json_num(sum, "skipped", 0));
  report_para(r, line);
  /* Matrix: rows are tests in their order, columns are targets. */
  bench_buf_printf(&r->html, "<div class=scroll><table class=matrix><tr>"
                             "<th>test</th><th>rule</th>");
  bench_buf_printf(&r->md, "| target | kind | passed | failed | skipped |\n"
                           "|---|---|---:|---:|---:|\n");
  for (int t = 0; t < targets->n; t++) {
    const char *label = json_str(targets->kids[t], "label", "?");
    bench_buf_printf(&r->html, "<th class=v><span>");
    report_html_esc(&r->html, label);
    bench_buf_printf(&r->html, "</span></th>");
    int p = 0, f = 0, s = 0;
    for (int i = 0; i < results->n; i++) {
      const json *x = results->kids[i];
      if (strcmp(json_str(x, "target", ""), label))
        continue;
      const char *cls = report_status_class(json_str(x, "status", ""));
      p += cls[0] == 'o';
      s += cls[0] == 's';
      f += cls[0] == 'b';
    }
    bench_buf_printf(&r->md, "| %s | %s | %d | %d | %d |\n", label,
                     json_str(targets->kids[t], "kind", ""), p, f, s);
  }
  bench_buf_printf(&r->html, "</tr>\n");
  const char *prev = "";
  for (int i = 0; i < results->n; i++) {
    const char *test = json_str(results->kids[i], "test", "?");
    if (!strcmp(test, prev))
      continue;
    prev = test;
    bench_buf_printf(&r->html, "<tr><th>%s</th><td>%s</td>", test,
                     json_str(results->kids[i], "rule", ""));
    for (int t = 0; t < targets->n; t++) {
      const char *label = json_str(targets->kids[t], "label", "?");
      const json *hit = NULL;
      for (int k = i; k < results->n && !hit; k++) {
        const json *x = results->kids[k];
        if (!strcmp(json_str(x, "test", ""), test) &&
            !strcmp(json_str(x, "target", ""), label))
          hit = x;
      }
      if (!hit) {
        bench_buf_printf(&r->html, "<td></td>");
        continue;
      }
      const char *st = json_str(hit, "status", "?");
      bench_buf_printf(&r->html, "<td class=%s title=\"",
                       report_status_class(st));
      report_html_esc(&r->html, json_str(hit, "reason", ""));
      bench_buf_printf(&r->html, "\">%.4s</td>", st);
    }
    bench_buf_printf(&r->html, "</tr>\n");
  }
  bench_buf_printf(&r->html, "</table></div>\n");
  bench_buf_printf(&r->md, "\n");
  /* Failures by name, so they are visible without hovering. */
  int nbad = 0;
  for (int i = 0; i < results->n; i++) {
    const json *x = results->kids[i];
    const char *st = json_str(x, "status", "");
    if (report_status_class(st)[0] != 'b')
      continue;
    if (!nbad++) {
      bench_buf_printf(&r->html, "<ul class=notes>\n");
      bench_buf_printf(&r->md, "Failures:\n\n");
    }
    bench_buf_printf(&r->html, "<li><b>%s</b> %s on ", st,
                     json_str(x, "test", "?"));
    report_html_esc(&r->html, json_str(x, "target", "?"));
    bench_buf_printf(&r->html, ": ");
    report_html_esc(&r->html, json_str(x, "reason", ""));
    bench_buf_printf(&r->html, "</li>\n");
    bench_buf_printf(&r->md, "- **%s** %s on %s: ", st,
                     json_str(x, "test", "?"), json_str(x, "target", "?"));
    report_md_esc(&r->md, json_str(x, "reason", ""));
    bench_buf_printf(&r->md, "\n");
  }
  if (nbad) {
    bench_buf_printf(&r->html, "</ul>\n");
    bench_buf_printf(&r->md, "\n");
  }
  json_free(c);
}

/* Implementations the fixed workload could not run (run.sh's pre-check). */
static void report_workload_skips(report *r) {
  char path[4096], line[512];
  snprintf(path, sizeof path, "%s/workload-skips.txt", r->dir);
  FILE *f = fopen(path, "r");
  if (!f)
    return;
  int any = 0;
  while (fgets(line, sizeof line, f)) {
    line[strcspn(line, "\n")] = 0;
    char *tab = strchr(line, '\t');
    if (!tab)
      continue;
    *tab = 0;
    if (!any++)
      bench_buf_printf(&r->html, "<ul class=notes>\n");
    bench_buf_printf(&r->html, "<li><b>skipped</b> ");
    report_html_esc(&r->html, line);
    bench_buf_printf(&r->html, ": ");
    report_html_esc(&r->html, tab + 1);
    bench_buf_printf(&r->html, "</li>\n");
    bench_buf_printf(&r->md, "- **skipped** %s: %s\n", line, tab + 1);
  }
  fclose(f);
  if (any) {
    bench_buf_printf(&r->html, "</ul>\n");
    bench_buf_printf(&r->md, "\n");
  }
}

void report_hyperfine(report *r) {
  char path[4096], err[300];
  snprintf(path, sizeof path, "%s/hyperfine.json", r->dir);
  json *h = json_load(path, err, sizeof err);
  const json *res = h ? json_get(h, "results") : NULL;
  report_h2(r, "hyperfine", "Whole-process timings (hyperfine)",
            "One fixed workload per implementation (evl-bench --workload: "
            "chain, n=1000, a=100, two runs), timed as a whole process "
            "including start-up and module loading.");
  report_workload_skips(r);
  if (!res || res->type != JSON_ARR || !res->n) {
    report_para(r, "hyperfine.json is missing from this run.");
    json_free(h);
    return;
  }
  FILE *f = NULL;
  snprintf(path, sizeof path, "%s/plots/data/hyperfine.dat", r->dir);
  f = fopen(path, "w");
  bench_buf_printf(&r->html, "<table><tr><th>implementation</th><th>mean</th>"
                             "<th>± stddev</th><th>median</th><th>min</th>"
                             "<th>max</th><th>runs</th></tr>\n");
  bench_buf_printf(&r->md, "| implementation | mean ms | ± stddev | median | "
                           "min | max | runs |\n|---|---:|---:|---:|---:|---:"
                           "|---:|\n");
  for (int i = 0; i < res->n; i++) {
    const json *x = res->kids[i];
    const json *params = json_get(x, "parameters");
    const char *impl = json_str(params, "impl", json_str(x, "command", "?"));
    const json *times = json_get(x, "times");
    double mean = json_num(x, "mean", 0) * 1e3,
           sd = json_num(x, "stddev", 0) * 1e3,
           med = json_num(x, "median", 0) * 1e3,
           mn = json_num(x, "min", 0) * 1e3, mx = json_num(x, "max", 0) * 1e3;
    int runs = times ? times->n : 0;
    bench_buf_printf(&r->html, "<tr><th>");
    report_html_esc(&r->html, impl);
    bench_buf_printf(&r->html,
                     "</th><td>%.1f ms</td><td>%.1f</td><td>%.1f</td>"
                     "<td>%.1f</td><td>%.1f</td><td>%d</td></tr>\n",
                     mean, sd, med, mn, mx, runs);
    bench_buf_printf(&r->md, "| %s | %.1f | %.1f | %.1f | %.1f | %.1f | %d |\n",
                     impl, mean, sd, med, mn, mx, runs);
    if (f)
      fprintf(f, "\"%s\" %g %g %g\n", impl, med, mn, mx);
  }
  bench_buf_printf(&r->html, "</table>\n");
  bench_buf_printf(&r->md, "\n");
  if (f) {
    fclose(f);
    bench_buf body = {0};
    bench_buf_printf(&body,
                     "%sset title 'whole process, fixed chain workload "
                     "(median, min-max)'\nset ylabel 'ms'\n"
                     "set style data histograms\n"
                     "set style histogram errorbars gap 1 lw 1\n"
                     "set style fill solid 0.8 border -1\nset yrange [0:*]\n"
                     "set xtics rotate by -35 noenhanced\nunset key\n"
                     "plot 'data/hyperfine.dat' u 2:3:4:xtic(1) lt 2\n",
                     REPORT_STYLE);
    if (report_gnuplot(r, "hyperfine", body.s, 300 + 60 * res->n, 420) == 0)
      report_embed(r, "hyperfine", "hyperfine: whole-process time");
    bench_buf_free(&body);
  }
  json_free(h);
}

/* ---- callgrind --------------------------------------------------------------
 */
typedef struct report_cg_case {
  const char *name, *unit;
} report_cg_case;

static const report_cg_case report_cg_cases[] = {
#define REPORT_CG_ROW(name, unit) {#name, unit},
    BENCH_CG_LIST(REPORT_CG_ROW)
#undef REPORT_CG_ROW
};
#define REPORT_NCG BENCH_COUNT(report_cg_cases)

static double report_cg(const report *r, const char *impl, const char *kase) {
  char safe[128];
  report_safe(impl, safe, sizeof safe);
  return bench_cg_per_op(r->dir, safe, kase, NULL, 0);
}

/* The wall-clock figure beside a callgrind case, where one matches. */
static const report_rec *report_cg_wall(const report *r, const char *impl,
                                        const char *kase) {
  if (!strcmp(kase, "chain") || !strcmp(kase, "chain_timeouts"))
    return report_find(r, "measurement", "chain", "per_event",
                       kase[5] ? "n=1000 active=100 timeouts=1 run=warm"
                               : "n=1000 active=100 timeouts=0 run=warm",
                       impl);
  if (!strncmp(kase, "timers_", 7))
    return report_find(r, "measurement", "timers", kase + 7, "", impl);
  if (!strncmp(kase, "idle_", 5)) {
    char w[32];
    snprintf(w, sizeof w, "n=%s", kase + 5);
    return report_find(r, "measurement", "idle", "per_iteration", w, impl);
  }
  if (!strcmp(kase, "pingpong"))
    return report_find(r, "measurement", "pingpong", "round_trips", "", impl);
  if (!strncmp(kase, "callbacks_", 10)) {
    char w[64];
    snprintf(w, sizeof w, "shape=%s", kase + 10);
    return report_find(r, "measurement", "callbacks", "rate", w, impl);
  }
  return NULL;
}

void report_callgrind_section(report *r) {
  report_h2(r, "callgrind", "User-space instructions per operation (callgrind)",
            "Instructions counted by callgrind with collection switched on "
            "only around each case's timed region (CALLGRIND_TOGGLE_COLLECT, "
            "one dump per case), divided by the operations done: chain "
            "n=1000 a=100 with 20 000 writes (with and without per-fd "
            "timeouts), 20 000 callbacks, 20 000 timers, 5 000 round trips, "
            "1 000 idle iterations among 100 and among 10 000 idle fds. "
            "Deterministic, so it shows each loop's own overhead where wall "
            "time is dominated by system calls. tax × is a native adapter "
            "against its library used directly; raw × against raw-epoll. "
            "Timeouts: direct-libev pushes one back with ev_timer_again on "
            "every event (libev's manual, method 2); native-libev moves a "
            "later deadline lazily (method 3: libev's timer stays where it "
            "is and is started again for the time left when it fires), and "
            "still pays its own fixed cost per re-arm, about 61 "
            "instructions (handle check, fresh clock read, comparison) "
            "against ev_timer_again's 65. "
            "The grey line under each count is the wall-clock figure of the "
            "same shape from the timed runs (ns per operation, or per "
            "second).");
  report_workload_skips(r);
  int have[REPORT_NCG] = {0}, any = 0;
  for (int c = 0; c < REPORT_NCG; c++)
    for (int i = 0; i < r->nimpls; i++)
      if (report_cg(r, r->impls[i], report_cg_cases[c].name) > 0) {
        have[c] = 1;
        any = 1;
        break;
      }
  if (!any) {
    report_para(r, "No callgrind results in this run.");
    return;
  }
  bench_buf_printf(&r->html, "<div class=scroll><table><tr><th>"
                             "implementation</th>");
  bench_buf_printf(&r->md, "| implementation |");
  int ncols = 0;
  for (int c = 0; c < REPORT_NCG; c++) {
    if (!have[c])
      continue;
    ncols++;
    bench_buf_printf(&r->html, "<th>%s<br><span class=u>per %s</span></th>",
                     report_cg_cases[c].name, report_cg_cases[c].unit);
    bench_buf_printf(&r->md, " %s (per %s) |", report_cg_cases[c].name,
                     report_cg_cases[c].unit);
  }
  bench_buf_printf(&r->html, "</tr>\n");
  bench_buf_printf(&r->md, "\n|---|");
  for (int c = 0; c < ncols; c++)
    bench_buf_printf(&r->md, "---:|");
  bench_buf_printf(&r->md, "\n");
  char path[4096];
  snprintf(path, sizeof path, "%s/plots/data/callgrind.dat", r->dir);
  FILE *f = fopen(path, "w");
  int rows = 0;
  for (int i = 0; i < r->nimpls; i++) {
    const char *impl = r->impls[i];
    int row = 0;
    for (int c = 0; c < REPORT_NCG; c++)
      row |= have[c] && report_cg(r, impl, report_cg_cases[c].name) > 0;
    if (!row)
      continue;
    rows++;
    const char *dname = report_direct_of(r, impl);
    bench_buf_printf(&r->html, "<tr><th>");
    report_html_esc(&r->html, impl);
    bench_buf_printf(&r->html, "</th>");
    bench_buf_printf(&r->md, "| %s |", impl);
    if (f)
      fprintf(f, "\"%s\"", impl);
    for (int c = 0; c < REPORT_NCG; c++) {
      if (!have[c])
        continue;
      const char *k = report_cg_cases[c].name;
      double v = report_cg(r, impl, k);
      if (f)
        fprintf(f, " %g", v > 0 ? v : NAN);
      if (v <= 0) {
        bench_buf_printf(&r->html, "<td class=na>—</td>");
        bench_buf_printf(&r->md, " — |");
        continue;
      }
      double raw =
          strcmp(impl, BENCH_RAW_NAME) ? report_cg(r, BENCH_RAW_NAME, k) : 0;
      double dir = dname ? report_cg(r, dname, k) : 0;
      bench_buf_printf(&r->html, "<td>%.0f", v);
      bench_buf_printf(&r->md, " %.0f", v);
      if (dir > 0) {
        bench_buf_printf(&r->html, " <span class=r><b>tax ×%.2f</b></span>",
                         v / dir);
        bench_buf_printf(&r->md, " (**tax ×%.2f**)", v / dir);
      }
      if (raw > 0) {
        bench_buf_printf(&r->html, " <span class=r>raw ×%.2f</span>", v / raw);
        bench_buf_printf(&r->md, " (raw ×%.2f)", v / raw);
      }
      const report_rec *w = report_cg_wall(r, impl, k);
      if (w) {
        char wv[32];
        report_fmt(w->med, wv, sizeof wv);
        bench_buf_printf(&r->html, "<br><span class=s>%s %s</span>", wv,
                         w->unit);
        bench_buf_printf(&r->md, "<br>%s %s", wv, w->unit);
      }
      bench_buf_printf(&r->html, "</td>");
      bench_buf_printf(&r->md, " |");
    }
    if (f)
      fprintf(f, "\n");
    bench_buf_printf(&r->html, "</tr>\n");
    bench_buf_printf(&r->md, "\n");
  }
  bench_buf_printf(&r->html, "</table></div>\n");
  bench_buf_printf(&r->md, "\n");
  if (!f)
    return;
  fclose(f);
  /* Chain with and without timeouts, callbacks and pingpong side by side:
   * the columns of callgrind.dat are the cases in BENCH_CG_LIST order. */
  bench_buf body = {0};
  bench_buf_printf(&body,
                   "%sset style data histograms\n"
                   "set style histogram clustered gap 1\n"
                   "set style fill solid 0.8 border -1\nset yrange [0:*]\n"
                   "set xtics rotate by -35 noenhanced\n"
                   "set key inside top left\n"
                   "set title 'user-space instructions per operation "
                   "(callgrind)'\nset ylabel 'instructions'\nplot ",
                   REPORT_STYLE);
  int col = 2, k = 0;
  for (int c = 0; c < REPORT_NCG; c++) {
    if (!have[c])
      continue;
    const char *n = report_cg_cases[c].name;
    if (!strcmp(n, "chain") || !strcmp(n, "chain_timeouts") ||
        !strcmp(n, "callbacks_chain") || !strcmp(n, "pingpong")) {
      bench_buf_printf(&body, "%s'data/callgrind.dat' u %d%s lt %d t '%s'",
                       k ? ", " : "", col, k ? "" : ":xtic(1)", k + 2, n);
      k++;
    }
    col++;
  }
  bench_buf_printf(&body, "\n");
  int width = 500 + rows * 60;
  if (k && report_gnuplot(r, "callgrind", body.s, width > 1400 ? 1400 : width,
                          460) == 0)
    report_embed(r, "callgrind", "callgrind: instructions per operation");
  bench_buf_free(&body);
}
