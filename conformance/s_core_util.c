/* s_core_util.c — helpers shared by the core S-tests (see s_core.h). */
#include "s_core.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

int sc_has(evl_tctx *t, uint32_t bits) {
  return (OPS->features & bits) == bits;
}

evl_loop_stats sc_stats(evl_tctx *t, evl_loop *loop) {
  evl_loop_stats s;
  memset(&s, 0, sizeof s);
  if (!OPS->loop_stats)
    T_FAIL(t, "loop_stats: EVL_IF_STATS is set but loop_stats is NULL");
  T_OK(t, "loop_stats", OPS->loop_stats(loop, &s));
  return s;
}

void sc_run(evl_tctx *t, evl_loop *loop) {
  T_RC(t, "run_forever", 0, OPS->run_forever(loop));
}

void sc_run_once(evl_tctx *t, evl_loop *loop) {
  int rc = OPS->run_once(loop);
  if (rc < 0)
    T_FAIL(t, "run_once: expected >= 0, got %d (%s)", rc, evl_strerror(rc));
}

void sc_busy_ns(uint64_t ns) {
  uint64_t end = t_now() + ns;
  while (t_now() < end)
    ;
}

int sc_fd_count(void) {
  DIR *d = opendir("/proc/self/fd");
  if (!d)
    return -1;
  int n = 0;
  struct dirent *e;
  while ((e = readdir(d)) != NULL)
    if (e->d_name[0] >= '0' && e->d_name[0] <= '9')
      n++;
  closedir(d);
  return n - 1; /* the directory's own fd */
}

void sc_log_add(sc_log *log, int v) {
  if (log->n < SC_LOG_MAX)
    log->v[log->n] = v;
  log->n++;
}

void sc_log_expect_at(evl_tctx *t, const char *file, int line, const char *what,
                      const sc_log *log, const int *want, int n) {
  for (int i = 0; i < n && i < log->n && i < SC_LOG_MAX; i++)
    if (log->v[i] != want[i])
      evl_t_fail(t, file, line, "%s: position %d: expected %d, got %d", what, i,
                 want[i], log->v[i]);
  if (log->n != n)
    evl_t_fail(t, file, line, "%s: expected %d callbacks, got %d", what, n,
               log->n);
}

void sc_log_expect_seq_at(evl_tctx *t, const char *file, int line,
                          const char *what, const sc_log *log, int n) {
  for (int i = 0; i < n && i < log->n && i < SC_LOG_MAX; i++)
    if (log->v[i] != i)
      evl_t_fail(t, file, line, "%s: position %d: expected callback %d, got %d",
                 what, i, i, log->v[i]);
  if (log->n != n)
    evl_t_fail(t, file, line, "%s: expected %d callbacks, got %d", what, n,
               log->n);
}

void sc_err_handler(const evl_error_info *info, void *arg) {
  sc_errs *e = arg;
  if (e->n < SC_ERR_MAX) {
    int i = e->n;
    e->codes[i] = info->code;
    e->durations[i] = info->duration_ns;
    snprintf(e->messages[i], sizeof e->messages[i], "%s",
             info->message ? info->message : "");
    snprintf(e->contexts[i], sizeof e->contexts[i], "%s",
             info->context ? info->context : "");
    e->args[i] = arg;
    e->at[i] = t_now();
  }
  e->n++;
}

int sc_errs_count(const sc_errs *e, int code) {
  int n = 0;
  for (int i = 0; i < e->n && i < SC_ERR_MAX; i++)
    if (e->codes[i] == code)
      n++;
  return n;
}

void sc_capture_begin(evl_tctx *t, sc_capture *c) {
  int p[2];
  t_pipe(t, p);
  fflush(stderr);
  c->saved = dup(2);
  if (c->saved < 0)
    T_FAIL(t, "dup(2): %s", strerror(errno));
  if (dup2(p[1], 2) < 0)
    T_FAIL(t, "dup2: %s", strerror(errno));
  close(p[1]);
  c->rd = p[0];
}

int sc_capture_end(evl_tctx *t, sc_capture *c, char *buf, int len) {
  fflush(stderr);
  if (dup2(c->saved, 2) < 0)
    T_FAIL(t, "dup2 restoring stderr: %s", strerror(errno));
  close(c->saved);
  int n = 0;
  for (;;) {
    ssize_t r = read(c->rd, buf + n, (size_t)(len - 1 - n));
    if (r > 0) {
      n += (int)r;
      if (n >= len - 1)
        break;
      continue;
    }
    if (r < 0 && errno == EINTR)
      continue;
    break; /* EOF (every write end closed) or EAGAIN */
  }
  buf[n] = '\0';
  close(c->rd);
  return n;
}
