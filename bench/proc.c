/* proc.c — evl-bench's side of the shared child runner (tools/child.h): a
 * step's records read line by line from its pipe, and the time-limit
 * scale. */
#include "run.h"
#include "tools/child.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

int bench_timeout_scale(double *out, const char **bad) {
  const char *s = getenv("EVL_TEST_TIMEOUT_SCALE");
  *out = 1;
  *bad = NULL;
  if (!s || !*s)
    return 0;
  char *end;
  errno = 0;
  double v = strtod(s, &end);
  /* inf would make every limit infinite: a hang would never end. */
  if (errno || end == s || *end || !isfinite(v) || v < 1 || v > 1000) {
    *bad = s;
    return -EINVAL;
  }
  *out = v;
  return 0;
}

static void proc_feed(bench_buf *line, const char *buf, long n,
                      void (*on_line)(void *, const char *, size_t), void *u) {
  for (long i = 0; i < n; i++) {
    if (buf[i] == '\n') {
      if (on_line && line->len)
        on_line(u, line->s, line->len);
      line->len = 0;
    } else {
      bench_buf_printf(line, "%c", buf[i]);
    }
  }
}

typedef struct proc_call {
  int (*fn)(void *arg, int fd);
  void *arg;
} proc_call;

static void proc_child(void *arg, int wfd) {
  const proc_call *pc = arg;
  int rc = pc->fn(pc->arg, wfd);
  _exit(rc < 0 ? 1 : rc);
}

int bench_proc_run(int (*fn)(void *arg, int fd), void *arg, double limit_s,
                   void (*on_line)(void *u, const char *line, size_t len),
                   void *u, bench_proc_result *res) {
  memset(res, 0, sizeof *res);
  proc_call pc = {fn, arg};
  child_proc c;
  fflush(NULL);
  /* The shared runner: its own process group, the group killed at the
   * deadline and when it ends. */
  int rc = child_start(&c, 0, (int)(limit_s * 1000), proc_child, &pc);
  if (rc < 0)
    return rc;
  child_proc *one = &c;
  bench_buf line = {0};
  char buf[4096];
  for (;;) {
    long n;
    while ((n = child_read(&c, buf, sizeof buf)) > 0)
      proc_feed(&line, buf, n, on_line, u);
    if (child_done(&c) && (c.eof || n <= 0))
      break;
    child_wait(&one, 1, 1000);
  }
  if (!c.timed_out && on_line && line.len)
    on_line(u, line.s, line.len); /* a last line without its newline */
  bench_buf_free(&line);
  res->secs = (double)(child_now_ms() - c.start_ms) / 1e3;
  res->timed_out = c.timed_out;
  if (!c.timed_out && WIFSIGNALED(c.status))
    res->sig = WTERMSIG(c.status);
  else if (WIFEXITED(c.status))
    res->status = WEXITSTATUS(c.status);
  child_close(&c);
  return 0;
}
