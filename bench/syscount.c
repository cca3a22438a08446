/* syscount.c — strace -c on the calling thread (syscount.h). */
#include "syscount.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

static int syscount_traced(pid_t tid) {
  char p[64], line[256];
  snprintf(p, sizeof p, "/proc/self/task/%d/status", (int)tid);
  FILE *f = fopen(p, "re");
  int traced = 0;
  if (!f)
    return 0;
  while (fgets(line, sizeof line, f))
    if (!strncmp(line, "TracerPid:", 10))
      traced = atoi(line + 10) != 0;
  fclose(f);
  return traced;
}

int bench_syscount_start(bench_syscount *sc) {
  if (access("/usr/bin/strace", X_OK) != 0)
    return -ENOENT;
  pid_t tid = gettid();
  char tids[16];
  snprintf(tids, sizeof tids, "%d", (int)tid);
  snprintf(sc->path, sizeof sc->path, "/tmp/evl-syscount-%d-%d.txt",
           (int)getpid(), (int)tid);
  char *argv[] = {"strace", "-c", "-q", "-o", sc->path, "-p", tids, NULL};
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
  int rc = posix_spawn(&sc->pid, "/usr/bin/strace", &fa, NULL, argv, environ);
  posix_spawn_file_actions_destroy(&fa);
  if (rc)
    return -rc;
  /* Counting starts once the tracer holds this thread: up to 5 s. */
  for (int i = 0; i < 5000 && !syscount_traced(tid); i++) {
    int st;
    if (waitpid(sc->pid, &st, WNOHANG) == sc->pid) {
      sc->pid = 0;
      return -EPERM; /* strace gave up: ptrace refused */
    }
    struct timespec ts = {0, 1000000};
    nanosleep(&ts, NULL);
  }
  return syscount_traced(tid) ? 0 : -ETIMEDOUT;
}

/* The calls column of strace -c's "total" line. */
static long syscount_parse(const char *path) {
  FILE *f = fopen(path, "re");
  char line[256];
  long calls = -EIO;
  if (!f)
    return -errno;
  while (fgets(line, sizeof line, f)) {
    double pct, secs;
    long usecs, n;
    if (strstr(line, " total") &&
        sscanf(line, "%lf %lf %ld %ld", &pct, &secs, &usecs, &n) == 4)
      calls = n;
  }
  fclose(f);
  return calls;
}

long bench_syscount_stop(bench_syscount *sc) {
  if (sc->pid <= 0)
    return -EINVAL;
  kill(sc->pid, SIGINT);
  int st;
  while (waitpid(sc->pid, &st, 0) < 0 && errno == EINTR)
    ;
  sc->pid = 0;
  long n = syscount_parse(sc->path);
  unlink(sc->path);
  return n;
}
