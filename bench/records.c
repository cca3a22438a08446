/* records.c — how a step's figures leave its process: one JSON object per
 * line on c->out_fd (measurements, curves, skips, notes; the schema is
 * bench/README.md's), and the growable string they are built in. */
#include "bench.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---- strings ------------------------------------------------------------ */
void bench_buf_printf(bench_buf *b, const char *fmt, ...) {
  va_list ap;
  for (;;) {
    size_t room = b->cap - b->len;
    va_start(ap, fmt);
    int k = vsnprintf(b->s ? b->s + b->len : NULL, b->s ? room : 0, fmt, ap);
    va_end(ap);
    if (k < 0)
      return;
    if (b->s && (size_t)k < room) {
      b->len += (size_t)k;
      return;
    }
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->len + (size_t)k + 1)
      cap *= 2;
    char *s = realloc(b->s, cap);
    if (!s)
      return;
    b->s = s;
    b->cap = cap;
  }
}

void bench_buf_json_str(bench_buf *b, const char *s) {
  bench_buf_printf(b, "\"");
  for (; s && *s; s++) {
    unsigned char ch = (unsigned char)*s;
    if (ch == '"' || ch == '\\')
      bench_buf_printf(b, "\\%c", ch);
    else if (ch == '\n')
      bench_buf_printf(b, "\\n");
    else if (ch < 0x20)
      bench_buf_printf(b, "\\u%04x", ch);
    else
      bench_buf_printf(b, "%c", ch);
  }
  bench_buf_printf(b, "\"");
}

void bench_buf_free(bench_buf *b) {
  free(b->s);
  b->s = NULL;
  b->len = b->cap = 0;
}

/* ---- records ------------------------------------------------------------- */
/* JSON has no NaN or infinity: such a figure is written as null. */
static void records_num(bench_buf *b, double v) {
  if (v != v || v > 1e300 || v < -1e300)
    bench_buf_printf(b, "null");
  else
    bench_buf_printf(b, "%.6g", v);
}

static void records_head(bench_ctx *c, bench_buf *b, const char *type,
                         const char *bench, const char *params) {
  bench_buf_printf(b, "{\"type\":\"%s\",\"bench\":", type);
  bench_buf_json_str(b, bench);
  bench_buf_printf(b, ",\"params\":%s,\"impl\":", params ? params : "{}");
  bench_buf_json_str(b, c->impl_name);
  bench_buf_printf(b, ",\"backend\":");
  bench_buf_json_str(b, c->backend ? c->backend : "");
  /* Echo-shaped records say which model served them, at the top level. */
  const char *m = params ? strstr(params, "\"model\":\"") : NULL;
  if (m &&
      (!strncmp(m + 9, "reactor\"", 8) || !strncmp(m + 9, "proactor\"", 9)))
    bench_buf_printf(b, ",\"model\":\"%s\"",
                     m[9] == 'r' ? "reactor" : "proactor");
}

/* A whole line per write(): the parent reads records from a pipe and a
 * line never interleaves with another process's output. */
static void records_send(bench_ctx *c, bench_buf *b) {
  bench_buf_printf(b, "\n");
  size_t off = 0;
  while (off < b->len) {
    ssize_t k = write(c->out_fd, b->s + off, b->len - off);
    if (k < 0 && errno == EINTR)
      continue;
    if (k <= 0)
      break;
    off += (size_t)k;
  }
  bench_buf_free(b);
}

void bench_emit(bench_ctx *c, const char *bench, const char *params,
                const char *metric, const char *unit, const char *better,
                const double *repeats, int n) {
  bench_stats st;
  bench_stats_of(repeats, n, &st);
  bench_buf b = {0};
  records_head(c, &b, "measurement", bench, params);
  bench_buf_printf(&b, ",\"metric\":");
  bench_buf_json_str(&b, metric);
  bench_buf_printf(&b, ",\"unit\":");
  bench_buf_json_str(&b, unit);
  bench_buf_printf(&b, ",\"better\":\"%s\",\"repeats\":[", better);
  for (int i = 0; i < n; i++) {
    if (i)
      bench_buf_printf(&b, ",");
    records_num(&b, repeats[i]);
  }
  bench_buf_printf(&b, "],\"n\":%d,\"median\":", n);
  records_num(&b, st.median);
  bench_buf_printf(&b, ",\"min\":");
  records_num(&b, st.min);
  bench_buf_printf(&b, ",\"max\":");
  records_num(&b, st.max);
  bench_buf_printf(&b, ",\"p10\":");
  records_num(&b, st.p10);
  bench_buf_printf(&b, ",\"p90\":");
  records_num(&b, st.p90);
  bench_buf_printf(&b, "}");
  records_send(c, &b);
}

void bench_emit_curve(bench_ctx *c, const char *bench, const char *params,
                      const char *metric, const char *xunit, const char *yunit,
                      const double *x, const double *y, int n) {
  bench_buf b = {0};
  records_head(c, &b, "curve", bench, params);
  bench_buf_printf(&b, ",\"metric\":");
  bench_buf_json_str(&b, metric);
  bench_buf_printf(&b, ",\"xunit\":");
  bench_buf_json_str(&b, xunit);
  bench_buf_printf(&b, ",\"unit\":");
  bench_buf_json_str(&b, yunit);
  bench_buf_printf(&b, ",\"points\":[");
  for (int i = 0; i < n; i++) {
    bench_buf_printf(&b, "%s[", i ? "," : "");
    records_num(&b, x[i]);
    bench_buf_printf(&b, ",");
    records_num(&b, y[i]);
    bench_buf_printf(&b, "]");
  }
  bench_buf_printf(&b, "]}");
  records_send(c, &b);
}

static void records_text(bench_ctx *c, const char *type, const char *bench,
                         const char *params, const char *fmt, va_list ap) {
  char text[512];
  vsnprintf(text, sizeof text, fmt, ap);
  bench_buf b = {0};
  records_head(c, &b, type, bench, params);
  bench_buf_printf(&b, ",\"%s\":", strcmp(type, "skip") ? "text" : "reason");
  bench_buf_json_str(&b, text);
  bench_buf_printf(&b, "}");
  records_send(c, &b);
}

void bench_skip(bench_ctx *c, const char *bench, const char *params,
                const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  records_text(c, "skip", bench, params, fmt, ap);
  va_end(ap);
}

void bench_note(bench_ctx *c, const char *bench, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  records_text(c, "note", bench, NULL, fmt, ap);
  va_end(ap);
}
