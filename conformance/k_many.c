/* k_many.c — K9: O1 backends handle 10 000 registered fds. */
#include <stdlib.h>
#include <sys/resource.h>

#include "harness.h"

enum { K_MANY_FDS = 10000, K_MANY_CAP = 64 };

void test_k9_ten_thousand_fds(evl_tctx *t) {
  struct rlimit rl;
  kt_backend kb;
  evl_event out[K_MANY_CAP];
  if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
    T_FAIL(t, "getrlimit failed");
  rl.rlim_cur = rl.rlim_max;
  setrlimit(RLIMIT_NOFILE, &rl);
  getrlimit(RLIMIT_NOFILE, &rl);
  if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < K_MANY_FDS + 100)
    T_SKIP(t, "RLIMIT_NOFILE is %llu, below %d",
           (unsigned long long)rl.rlim_cur, K_MANY_FDS + 100);
  int *fds = malloc(K_MANY_FDS * sizeof *fds);
  if (!fds)
    T_FAIL(t, "out of memory");
  kt_open(t, &kb);
  for (int i = 0; i < K_MANY_FDS; i += 2)
    t_socketpair(t, &fds[i]);
  for (int i = 0; i < K_MANY_FDS; i++) {
    int rc = kb.ops->ctl(kb.state, fds[i], 0, EVL_READ);
    if (rc != 0)
      T_FAIL(t,
             "ctl add READ of registration %d (fd %d): expected 0, got %d "
             "(%s)",
             i + 1, fds[i], rc, evl_strerror(rc));
  }
  T_EQ(t, "events with 10 000 idle fds", 0,
       kt_wait(t, &kb, 0, out, K_MANY_CAP));
  /* Three ready fds spread over the set: first, middle, last. */
  static const int ready[] = {0, K_MANY_FDS / 2 + 2, K_MANY_FDS - 2};
  for (int i = 0; i < 3; i++)
    t_write_byte(t, fds[ready[i] + 1]);
  int n = kt_wait(t, &kb, 1000000000, out, K_MANY_CAP);
  T_EQ(t, "events with 3 of 10 000 fds ready", 3, n);
  for (int i = 0; i < 3; i++)
    T_EQ(t, "READ on a ready fd among 10 000", EVL_READ,
         kt_events_for(out, n, fds[ready[i]]) & EVL_READ);
  for (int i = 0; i < K_MANY_FDS; i++) {
    int rc = kb.ops->ctl(kb.state, fds[i], EVL_READ, 0);
    if (rc != 0)
      T_FAIL(t, "ctl delete of fd %d: expected 0, got %d (%s)", fds[i], rc,
             evl_strerror(rc));
  }
  kt_close(&kb);
  for (int i = 0; i < K_MANY_FDS; i++)
    t_close(fds[i]);
  free(fds);
}
