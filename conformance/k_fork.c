/* k_fork.c — K8: FORK_REINIT backends work in a child after after_fork(). */
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"

enum { K_FORK_CAP = 16 };

/* Child exit codes, named in the parent's failure message. */
enum {
  K_FORK_OK = 0,
  K_FORK_AFTER_FORK = 10,
  K_FORK_PIPE = 11,
  K_FORK_CTL = 12,
  K_FORK_WAIT = 13,
  K_FORK_NO_EVENT = 14,
};

static void k_fork_reap(evl_tctx *t, pid_t pid) {
  int status = 0;
  if (waitpid(pid, &status, 0) != pid)
    T_FAIL(t, "waitpid failed");
  if (WIFSIGNALED(status))
    T_FAIL(t, "child killed by signal %d", WTERMSIG(status));
  T_EQ(t,
       "child exit (10 after_fork failed, 11 pipe, 12 ctl add, 13 wait "
       "error, 14 no event within 1 s)",
       K_FORK_OK, WEXITSTATUS(status));
}

void test_k8_child_after_fork(evl_tctx *t) {
  kt_backend kb;
  int p[2];
  kt_open(t, &kb);
  t_pipe(t, p);
  T_OK(t, "ctl add READ (parent)", kb.ops->ctl(kb.state, p[0], 0, EVL_READ));
  pid_t pid = fork();
  if (pid < 0)
    T_FAIL(t, "fork failed");
  if (pid == 0) {
    evl_event out[K_FORK_CAP];
    int q[2];
    if (kb.ops->after_fork(kb.state) != 0)
      _exit(K_FORK_AFTER_FORK);
    if (pipe(q) != 0)
      _exit(K_FORK_PIPE);
    if (kb.ops->ctl(kb.state, q[0], 0, EVL_READ) != 0)
      _exit(K_FORK_CTL);
    if (write(q[1], "x", 1) != 1)
      _exit(K_FORK_PIPE);
    int n = kb.ops->wait(kb.state, 1000000000, out, K_FORK_CAP);
    if (n < 0)
      _exit(K_FORK_WAIT);
    _exit(kt_events_for(out, n, q[0]) & EVL_READ ? K_FORK_OK : K_FORK_NO_EVENT);
  }
  k_fork_reap(t, pid);
  T_OK(t, "ctl delete", kb.ops->ctl(kb.state, p[0], EVL_READ, 0));
  kt_close(&kb);
  t_close(p[0]);
  t_close(p[1]);
}

/* What a child does to its reinitialised state must not reach the parent's
 * (a shared epoll set would lose the parent's registration). */
void test_k8_parent_unaffected(evl_tctx *t) {
  kt_backend kb;
  evl_event out[K_FORK_CAP];
  int p[2];
  kt_open(t, &kb);
  t_pipe(t, p);
  T_OK(t, "ctl add READ (parent)", kb.ops->ctl(kb.state, p[0], 0, EVL_READ));
  T_EQ(t, "events before fork", 0, kt_wait(t, &kb, 0, out, K_FORK_CAP));
  pid_t pid = fork();
  if (pid < 0)
    T_FAIL(t, "fork failed");
  if (pid == 0) {
    if (kb.ops->after_fork(kb.state) != 0)
      _exit(K_FORK_AFTER_FORK);
    (void)kb.ops->ctl(kb.state, p[0], EVL_READ, 0); /* either result is ok */
    kb.ops->fini(kb.state);
    _exit(K_FORK_OK);
  }
  k_fork_reap(t, pid);
  t_write_byte(t, p[1]);
  int n = kt_wait(t, &kb, 1000000000, out, K_FORK_CAP);
  T_EQ(t, "parent's READ after the child deleted its copy", EVL_READ,
       kt_events_for(out, n, p[0]) & EVL_READ);
  T_OK(t, "ctl delete", kb.ops->ctl(kb.state, p[0], EVL_READ, 0));
  kt_close(&kb);
  t_close(p[0]);
  t_close(p[1]);
}
