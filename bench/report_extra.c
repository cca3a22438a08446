/* report_extra.c — the sections that are not benchmarks: environment,
 * implementations, the conformance matrix and hyperfine (callgrind's is
 * report_callgrind.c). */
#include "bench.h"
#include "json.h"
#include "report.h"
#include "report_int.h"

#include <stdlib.h>
#include <string.h>

/* One key and its value, a row of the environment table. */
static void report_env_row(report *r, const char *key, const char *v) {
  bench_buf_printf(&r->html, "<tr><th>");
  report_html_esc(&r->html, key);
  bench_buf_printf(&r->html, "</th><td>");
  report_html_esc(&r->html, v);
  bench_buf_printf(&r->html, "</td></tr>\n");
  bench_buf_printf(&r->md, "| %s | ", key);
  report_md_esc(&r->md, v);
  bench_buf_printf(&r->md, " |\n");
}

/* results.json's environment, then bench/run.sh's phases and the load
 * around them: what this run cost, and how busy the machine was while it
 * ran. */
static void report_env_table(report *r) {
  const json *env = json_get(r->root, "environment");
  bench_buf_printf(&r->html, "<table class=env>\n");
  bench_buf_printf(&r->md, "| key | value |\n|---|---|\n");
  for (int i = 0; env && i < env->n; i++) {
    char v[1024];
    json_to_text(env->kids[i], v, sizeof v);
    report_env_row(r, env->keys[i], v);
  }
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
    if (v[0])
      report_env_row(
          r, k ? "load average (1, 5, 15 min)" : "phases (make bench)", v);
  }
  bench_buf_printf(&r->html, "</table>\n");
}

/* Every implementation of the run: its features, or why it was not used. */
static void report_impls_table(report *r) {
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
}

void report_environment(report *r) {
  report_h2(r, "environment", "Environment", NULL);
  report_env_table(r);
  report_impls_table(r);
  report_notes(r, "*");
}

static const char *report_status_class(const char *st) {
  if (!strcmp(st, "PASS"))
    return "ok";
  if (!strcmp(st, "SKIP") || !strcmp(st, "XFAIL"))
    return "sk";
  return "bad";
}

/* The head row (a column per target) and, in summary.md, each target's
 * counts. */
static void conform_head(report *r, const json *targets, const json *results) {
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
}

/* The page's matrix: rows are tests in their order, a cell per target. */
static void conform_rows(report *r, const json *targets, const json *results) {
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
}

/* Failures by name, so they are visible without hovering. */
static void conform_failures(report *r, const json *results) {
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
  conform_head(r, targets, results);
  conform_rows(r, targets, results);
  conform_failures(r, results);
  json_free(c);
}

void report_workload_skips(report *r) {
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
