/* error.c — error texts and the default error handler (the one place the
 * library prints). */
#include <stdio.h>
#include <string.h>

#include <evl/evl.h>

const char *evl_strerror(int code) {
  switch (code) {
  case 0:
    return "success";
#define EVL__ERR_CASE(name, num, text)                                         \
  case EVL_##name:                                                             \
    return text;
    EVL_ERRORS(EVL__ERR_CASE)
#undef EVL__ERR_CASE
  default:
    break;
  }
  if (code < 0 && code > -4096) {
    /* strerror() is not thread-safe in general but glibc's returns static
     * strings for known codes; strerrordesc_np avoids the locale buffer. */
    const char *s = strerrordesc_np(-code);
    if (s)
      return s;
  }
  return "unknown error";
}

void evl_default_error_handler(const evl_error_info *info, void *arg) {
  (void)arg;
  /* One line, one write, so concurrent loops don't interleave mid-line. */
  char buf[512];
  int n;
  if (info->duration_ns)
    n = snprintf(buf, sizeof buf, "evl: %s: %s (%.3f ms)%s%s\n",
                 info->context ? info->context : "error",
                 evl_strerror(info->code), (double)info->duration_ns / 1e6,
                 info->message ? ": " : "", info->message ? info->message : "");
  else if (info->fd >= 0)
    n = snprintf(buf, sizeof buf, "evl: %s: fd %d: %s%s%s\n",
                 info->context ? info->context : "error", info->fd,
                 evl_strerror(info->code), info->message ? ": " : "",
                 info->message ? info->message : "");
  else
    n = snprintf(buf, sizeof buf, "evl: %s: %s%s%s\n",
                 info->context ? info->context : "error",
                 evl_strerror(info->code), info->message ? ": " : "",
                 info->message ? info->message : "");
  if (n <= 0)
    return;
  if ((size_t)n >= sizeof buf) { /* truncated: still end the line */
    n = (int)sizeof buf - 1;
    buf[n - 1] = '\n';
  }
  /* One report, one line: a message's own line breaks become spaces. */
  for (int i = 0; i < n - 1; i++)
    if (buf[i] == '\n' || buf[i] == '\r')
      buf[i] = ' ';
  fputs(buf, stderr);
}
