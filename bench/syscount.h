/* syscount.h — system calls of one thread over a stretch of a benchmark,
 * counted by strace -c attached to that thread only (-p TID, no -f), so a
 * load generator on another thread is not counted. Tracing slows every
 * call, so a counted run is a run of its own, never a timed one. */
#ifndef BENCH_SYSCOUNT_H
#define BENCH_SYSCOUNT_H

#include <sys/types.h>

typedef struct bench_syscount {
  pid_t pid;     /* strace */
  char path[64]; /* its summary */
} bench_syscount;

/* Starts counting the calling thread's system calls; 0 once strace is
 * attached, -ENOENT without strace, or -errno. */
int bench_syscount_start(bench_syscount *sc);
/* Stops; the number of calls counted (>= 0) or -errno. */
long bench_syscount_stop(bench_syscount *sc);

#endif
