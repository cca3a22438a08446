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

/* "k=v k2=v2" for report_find, from a record's params. */
static void pyr_where(const report_rec *x, char *out, size_t len) {
  size_t o = 0;
  out[0] = 0;
  for (int i = 0; x->params && i < x->params->n && o < len; i++) {
    char v[64];
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

void report_python(report *r) {
  if (report_impl_index(r, PYR_ASYNCIO) < 0 ||
      report_impl_index(r, PYR_UVLOOP) < 0)
    return;
  report_h2(r, "python", "uvloop against asyncio",
            "Each figure both loops measured: asyncio's cost over uvloop's "
            "(above 1: uvloop is faster by that factor), and each against "
            "the best native C loop of the run (native-libuv, -libev, "
            "-libevent). Benchmarks that drive run_once pay uvloop's "
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
    char where[256];
    pyr_where(u, where, sizeof where);
    const report_rec *a =
        report_find(r, "measurement", u->bench, u->metric, where, PYR_ASYNCIO);
    if (!a)
      continue;
    const report_rec *n = report_best_native(r, u->bench, u->metric, where);
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
}
