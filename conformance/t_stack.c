/* t_stack.c — T8 tests: task stacks end in a guard page, and an overflow
 * is reported as one. */
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "t_util.h"

/* Not a tail call, not optimised away: each level keeps 1 KiB live. The
 * limit is far beyond any stack, so only the guard page stops it. */
static volatile int t8_limit = 1 << 30;

static int t8_recurse(int depth) {
  volatile char pad[1024];
  pad[0] = (char)depth;
  pad[sizeof pad - 1] = (char)depth;
  if (depth >= t8_limit)
    return 0;
  return t8_recurse(depth + 1) + pad[0] + pad[sizeof pad - 1];
}

static int t8_overflow(void *arg, void **result) {
  (void)arg;
  (void)result;
  return t8_recurse(0);
}

/* Runs in the forked child: never returns normally if the guard works. */
static void t8_child(evl_tctx *t, int err_fd) {
  dup2(err_fd, 2);
  evl_impl_config cfg = {.size = sizeof cfg};
  evl_loop *loop = NULL;
  if (OPS->loop_new(OPS->data, &cfg, &loop) != 0)
    _exit(3);
  evl_tasks_config tc = {.size = sizeof tc, .stack_size = 64 * 1024};
  evl_tasks *ts = NULL;
  evl_task *task = NULL;
  if (evl_tasks_new(OPS, loop, &tc, &ts) != 0 ||
      evl_task_spawn(ts, t8_overflow, NULL, &task) != 0)
    _exit(4);
  evl_tasks_run_until_complete(ts, task, NULL);
  _exit(5); /* the overflow went unnoticed */
}

/* T8: a task that overflows its stack hits the guard page: the process
 * dies of SIGSEGV (nothing below the stack is overwritten) and the
 * conformance harness's handler names it "stack overflow in task N". */
void test_t8_stack_overflow_guard(evl_tctx *t) {
  st_need(t, EVL_IF_FUTURES);
  const char *pre = getenv("LD_PRELOAD");
  if (pre && strstr(pre, "vgpreload"))
    T_SKIP(t, "under valgrind the deliberate crash is reported as an error");
  int p[2];
  T_EQ(t, "pipe", 0, pipe(p));
  fflush(NULL);
  pid_t pid = fork();
  T_TRUE(t, "fork", pid >= 0);
  if (pid == 0) {
    close(p[0]);
    t8_child(t, p[1]);
  }
  close(p[1]);
  char out[4096];
  size_t got = 0;
  for (;;) {
    ssize_t n = read(p[0], out + got, sizeof out - 1 - got);
    if (n <= 0)
      break;
    got += (size_t)n;
    if (got == sizeof out - 1)
      break;
  }
  out[got] = '\0';
  close(p[0]);
  int st = 0;
  T_EQ(t, "waitpid", pid, waitpid(pid, &st, 0));
  if (!strstr(out, "stack overflow in task 1"))
    T_FAIL(t,
           "child's stderr: expected \"stack overflow in task 1\", got "
           "\"%.300s\"",
           out);
  /* Plain builds die of the signal; a sanitizer's handler, called next,
   * reports the fault and exits with its own status (ASan 1, TSan 66). */
  if (WIFEXITED(st) &&
      (WEXITSTATUS(st) == 0 || (WEXITSTATUS(st) >= 3 && WEXITSTATUS(st) <= 5)))
    T_FAIL(t,
           "the overflowing child: expected death by SIGSEGV, got exit "
           "status %d (5: the overflow went unnoticed)",
           WEXITSTATUS(st));
  if (WIFSIGNALED(st))
    T_EQ(t, "the overflowing child's signal", SIGSEGV, WTERMSIG(st));
}
