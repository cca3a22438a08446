/* proc.c — evl-bench's child runner: a function run in a child process that
 * leads its own process group, its output read line by line, the whole
 * group killed at a time limit. */
#include "run.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
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

static void proc_feed(bench_buf *line, const char *buf, ssize_t n,
                      void (*on_line)(void *, const char *, size_t), void *u) {
  for (ssize_t i = 0; i < n; i++) {
    if (buf[i] == '\n') {
      if (on_line && line->len)
        on_line(u, line->s, line->len);
      line->len = 0;
    } else {
      bench_buf_printf(line, "%c", buf[i]);
    }
  }
}

int bench_proc_run(int (*fn)(void *arg, int fd), void *arg, double limit_s,
                   void (*on_line)(void *u, const char *line, size_t len),
                   void *u, bench_proc_result *res) {
  memset(res, 0, sizeof *res);
  int pfd[2];
  uint64_t t0 = bench_now();
  if (pipe2(pfd, O_CLOEXEC) < 0)
    return -errno;
  fflush(NULL);
  pid_t pid = fork();
  if (pid < 0) {
    int e = errno;
    close(pfd[0]);
    close(pfd[1]);
    return -e;
  }
  if (pid == 0) {
    /* Its own group: whatever it starts dies with it at the limit. */
    setpgid(0, 0);
    signal(SIGPIPE, SIG_DFL);
    close(pfd[0]);
    int rc = fn(arg, pfd[1]);
    _exit(rc < 0 ? 1 : rc);
  }
  setpgid(pid, pid); /* the same, from this side: no race with kill */
  close(pfd[1]);
  uint64_t hard = t0 + (uint64_t)(limit_s * 1e9);
  bench_buf line = {0};
  char buf[4096];
  for (;;) {
    uint64_t now = bench_now();
    if (now >= hard) {
      kill(-pid, SIGKILL);
      kill(pid, SIGKILL);
      res->timed_out = 1;
      break;
    }
    struct pollfd p = {pfd[0], POLLIN, 0};
    int ms = (int)((hard - now) / 1000000) + 1;
    int k = poll(&p, 1, ms);
    if (k <= 0)
      continue;
    ssize_t n = read(pfd[0], buf, sizeof buf);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      break;
    proc_feed(&line, buf, n, on_line, u);
  }
  if (!res->timed_out && on_line && line.len)
    on_line(u, line.s, line.len); /* a last line without its newline */
  bench_buf_free(&line);
  close(pfd[0]);
  int st = 0;
  while (waitpid(pid, &st, 0) < 0 && errno == EINTR) {
  }
  /* Whatever the child left in its group (a plugin's helper process). */
  kill(-pid, SIGKILL);
  res->secs = (double)(bench_now() - t0) / 1e9;
  if (WIFSIGNALED(st) && !res->timed_out)
    res->sig = WTERMSIG(st);
  else if (WIFEXITED(st))
    res->status = WEXITSTATUS(st);
  return 0;
}
