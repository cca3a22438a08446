/* report_callgrind.c — the callgrind section: user-space instructions per
 * operation of every case (BENCH_CG_LIST) and implementation, each with its
 * tax against the library it adapts, its ratio to raw epoll and the wall
 * figure of the same shape; and the plot of the main cases. */
#include "bench.h"
#include "report_int.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

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

/* Which cases some implementation has a count for (the table's columns);
 * 0 when none has any. */
static int report_cg_columns(const report *r, int *have) {
  int any = 0;
  for (int c = 0; c < REPORT_NCG; c++)
    for (int i = 0; i < r->nimpls; i++)
      if (report_cg(r, r->impls[i], report_cg_cases[c].name) > 0) {
        have[c] = 1;
        any = 1;
        break;
      }
  return any;
}

static void report_cg_head(report *r, const int *have) {
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
}

/* impl's count v of case kase, with its tax against the library it adapts
 * (dname), its ratio to raw epoll and the wall figure of the same shape. */
static void report_cg_cell(report *r, const char *impl, const char *dname,
                           const char *kase, double v) {
  if (v <= 0) {
    bench_buf_printf(&r->html, "<td class=na>—</td>");
    bench_buf_printf(&r->md, " — |");
    return;
  }
  double raw =
      strcmp(impl, BENCH_RAW_NAME) ? report_cg(r, BENCH_RAW_NAME, kase) : 0;
  double dir = dname ? report_cg(r, dname, kase) : 0;
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
  const report_rec *w = report_cg_wall(r, impl, kase);
  if (w) {
    char wv[32];
    report_fmt(w->med, wv, sizeof wv);
    bench_buf_printf(&r->html, "<br><span class=s>%s %s</span>", wv, w->unit);
    bench_buf_printf(&r->md, "<br>%s %s", wv, w->unit);
  }
  bench_buf_printf(&r->html, "</td>");
  bench_buf_printf(&r->md, " |");
}

/* One row per implementation with a count, and its line in dat (when open:
 * the plot's data). The count of rows. */
static int report_cg_rows(report *r, const int *have, FILE *dat) {
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
    if (dat)
      fprintf(dat, "\"%s\"", impl);
    for (int c = 0; c < REPORT_NCG; c++) {
      if (!have[c])
        continue;
      const char *k = report_cg_cases[c].name;
      double v = report_cg(r, impl, k);
      if (dat)
        fprintf(dat, " %g", v > 0 ? v : NAN);
      report_cg_cell(r, impl, dname, k, v);
    }
    if (dat)
      fprintf(dat, "\n");
    bench_buf_printf(&r->html, "</tr>\n");
    bench_buf_printf(&r->md, "\n");
  }
  return rows;
}

/* Chain with and without timeouts, callbacks and pingpong side by side:
 * the columns of callgrind.dat are the cases in BENCH_CG_LIST order. */
static void report_cg_plot(report *r, const int *have, int rows) {
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
  int have[REPORT_NCG] = {0};
  if (!report_cg_columns(r, have)) {
    report_para(r, "No callgrind results in this run.");
    return;
  }
  report_cg_head(r, have);
  char path[4096];
  snprintf(path, sizeof path, "%s/plots/data/callgrind.dat", r->dir);
  FILE *dat = fopen(path, "w");
  int rows = report_cg_rows(r, have, dat);
  bench_buf_printf(&r->html, "</table></div>\n");
  bench_buf_printf(&r->md, "\n");
  if (!dat)
    return;
  fclose(dat);
  report_cg_plot(r, have, rows);
}
