/* report_py.c — the report's answer to "how much faster is uvloop than
 * asyncio?": every figure both measured, asyncio's cost over uvloop's, and
 * each against the best native C loop, with the same intervals as the rest
 * of the report. */
#include <stdio.h>
#include <string.h>

#include "bench.h"
#include "json.h"
#include "report.h"
#include "report_int.h"

#define PYR_ASYNCIO "py-asyncio"
#define PYR_UVLOOP "py-uvloop"

/* py_echo's records carry "server":"py-protocol"; the echo records of the
 * same configuration (bench/echo.c's C server) do not. */
#define PYR_PY_ECHO "py_echo"
#define PYR_SERVER "server"

/* "k=v k2=v2" for report_find, from a record's params (without the
 * server key when skip_server: the same configuration of echo). */
static void pyr_where(const report_rec *x, int skip_server, char *out,
                      size_t len) {
  size_t o = 0;
  out[0] = 0;
  for (int i = 0; x->params && i < x->params->n && o < len; i++) {
    char v[64];
    if (skip_server && !strcmp(x->params->keys[i], PYR_SERVER))
      continue;
    json_to_text(x->params->kids[i], v, sizeof v);
    o += (size_t)snprintf(out + o, len - o, "%s%s=%s", o ? " " : "",
                          x->params->keys[i], v);
  }
}

/* One cell: x's cost over base's (> 1: base is faster), with its interval. */
static void pyr_cell(report *r, const report_rec *x, const report_rec *base) {
  char v[96] = "–";
  double lo, hi, q = report_ratio(x, base);
  if (q > 0 && report_ratio_ci(x, base, &lo, &hi) == 0)
    snprintf(v, sizeof v, "×%.2f [%.2f–%.2f]", q, lo, hi);
  else if (q > 0)
    snprintf(v, sizeof v, "×%.2f", q);
  bench_buf_printf(&r->html, "<td>%s</td>", v);
  bench_buf_printf(&r->md, " %s |", v);
}

/* A figure with its interval, as every table of the report shows it. */
static void pyr_value(report *r, const report_rec *x) {
  char v[32] = "–", lo[32], hi[32];
  if (!x) {
    bench_buf_printf(&r->html, "<td>–</td>");
    bench_buf_printf(&r->md, " – |");
    return;
  }
  report_fmt(x->med, v, sizeof v);
  report_fmt(x->ci_lo, lo, sizeof lo);
  report_fmt(x->ci_hi, hi, sizeof hi);
  bench_buf_printf(&r->html,
                   "<td>%s <span class=u>%s</span> "
                   "<span class=s>[%s–%s]</span></td>",
                   v, x->unit, lo, hi);
  bench_buf_printf(&r->md, " %s %s [%s–%s] |", v, x->unit, lo, hi);
}

int report_python_present(const report *r) {
  return report_impl_index(r, PYR_ASYNCIO) >= 0 &&
         report_impl_index(r, PYR_UVLOOP) >= 0;
}

/* Python's own echo server (asyncio.Protocol, run_forever) against
 * bench/echo.c's C server on the same loop (evl callbacks, run_once):
 * one row per loop and configuration both ran. */
static void report_python_servers(report *r) {
  int any = 0;
  for (int i = 0; i < r->nrecs; i++) {
    const report_rec *p = &r->recs[i];
    if (strcmp(p->type, "measurement") || strcmp(p->bench, PYR_PY_ECHO) ||
        strcmp(p->metric, "rps"))
      continue;
    char where[256];
    pyr_where(p, 1, where, sizeof where);
    const report_rec *e =
        report_find(r, "measurement", "echo", "rps", where, p->impl);
    if (!any++) {
      report_para(r, "Echo requests/s with a Python echo server (uvloop's "
                     "vmbench shape: an asyncio.Protocol, data_received "
                     "calling transport.write, served by the loop's own "
                     "run_forever) and with evlab's echo server in C on the "
                     "same loop (evl callbacks: a reader per connection, "
                     "driven by run_once), against the same load generator. "
                     "The ratio is the Protocol server's cost over the C "
                     "callbacks' (above 1: the C callbacks are faster).");
      bench_buf_printf(&r->html, "<table><tr><th>configuration</th>"
                                 "<th>loop (Protocol server)</th><th>req/s</th>"
                                 "<th>loop (evl callbacks)</th><th>req/s</th>"
                                 "<th>Protocol ÷ callbacks</th></tr>\n");
      bench_buf_printf(&r->md, "| configuration | loop (Protocol server) | "
                               "req/s | loop (evl callbacks) | req/s | "
                               "Protocol ÷ callbacks |\n"
                               "|---|---|---|---|---|---|\n");
    }
    bench_buf_printf(&r->html, "<tr><td class=l>");
    report_html_esc(&r->html, where);
    bench_buf_printf(&r->html, "</td><td class=l>");
    report_html_esc(&r->html, p->impl);
    bench_buf_printf(&r->html, " (Protocol server)</td>");
    bench_buf_printf(&r->md, "| ");
    report_md_esc(&r->md, where);
    bench_buf_printf(&r->md, " | %s (Protocol server) |", p->impl);
    pyr_value(r, p);
    bench_buf_printf(&r->html, "<td class=l>");
    report_html_esc(&r->html, p->impl);
    bench_buf_printf(&r->html, " (evl callbacks)</td>");
    bench_buf_printf(&r->md, " %s (evl callbacks) |", p->impl);
    pyr_value(r, e);
    pyr_cell(r, p, e);
    bench_buf_printf(&r->html, "</tr>\n");
    bench_buf_printf(&r->md, "\n");
  }
  if (any) {
    bench_buf_printf(&r->html, "</table>\n");
    bench_buf_printf(&r->md, "\n");
  }
}

void report_python(report *r) {
  if (!report_python_present(r))
    return;
  report_h2(r, "python", "uvloop against asyncio",
            "Each figure both loops measured: asyncio's cost over uvloop's "
            "(above 1: uvloop is faster by that factor), and each against "
            "the best native C loop of the run (native-libuv, -libev, "
            "-libevent); py_echo's rows, Python's own echo server, stand "
            "against that loop's echo server in C. Benchmarks that drive "
            "run_once pay uvloop's "
            "run_forever set-up on every iteration (a signal socketpair, "
            "set_wakeup_fd, an epoll registration): uvloop exposes no "
            "single iteration; callbacks and wakeup run run_forever. "
            "memory counts malloc'd bytes: Python objects live in pymalloc "
            "arenas it does not see.");
  bench_buf_printf(&r->html, "<table><tr><th>benchmark</th><th>parameters</th>"
                             "<th>metric</th><th>asyncio ÷ uvloop</th>"
                             "<th>asyncio ÷ best native</th>"
                             "<th>uvloop ÷ best native</th></tr>\n");
  bench_buf_printf(&r->md, "| benchmark | parameters | metric | asyncio ÷ "
                           "uvloop | asyncio ÷ best native | uvloop ÷ best "
                           "native |\n|---|---|---|---|---|---|\n");
  for (int i = 0; i < r->nrecs; i++) {
    const report_rec *u = &r->recs[i];
    if (strcmp(u->type, "measurement") || strcmp(u->impl, PYR_UVLOOP))
      continue;
    char where[256], cwhere[256];
    pyr_where(u, 0, where, sizeof where);
    const report_rec *a =
        report_find(r, "measurement", u->bench, u->metric, where, PYR_ASYNCIO);
    if (!a)
      continue;
    /* A Python Protocol server stands against the C loops' own echo
     * server: no native loop runs Python. */
    int py_echo = !strcmp(u->bench, PYR_PY_ECHO);
    pyr_where(u, py_echo, cwhere, sizeof cwhere);
    const report_rec *n =
        report_best_native(r, py_echo ? "echo" : u->bench, u->metric, cwhere);
    bench_buf_printf(&r->html, "<tr><td class=l>");
    report_html_esc(&r->html, u->bench);
    bench_buf_printf(&r->html, "</td><td class=l>");
    report_html_esc(&r->html, where);
    bench_buf_printf(&r->html, "</td><td class=l>");
    report_html_esc(&r->html, u->metric);
    bench_buf_printf(&r->html, "</td>");
    bench_buf_printf(&r->md, "| %s | ", u->bench);
    report_md_esc(&r->md, where);
    bench_buf_printf(&r->md, " | %s |", u->metric);
    pyr_cell(r, a, u);
    pyr_cell(r, a, n);
    pyr_cell(r, u, n);
    bench_buf_printf(&r->html, "</tr>\n");
    bench_buf_printf(&r->md, "\n");
  }
  bench_buf_printf(&r->html, "</table>\n");
  bench_buf_printf(&r->md, "\n");
  report_python_servers(r);
}
