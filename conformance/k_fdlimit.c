/* k_fdlimit.c — K7: a backend's fd_limit is enforced with -ERANGE, cleanly. */
#include <errno.h>
#include <fcntl.h>
#include <sys/resource.h>
#include <unistd.h>

#include "harness.h"

enum { K_FDLIMIT_CAP = 16 };

/* Raises RLIMIT_NOFILE to the hard limit; skips unless `highest` fits. */
static void k_fdlimit_room(evl_tctx *t, int highest) {
  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
    T_FAIL(t, "getrlimit failed");
  rl.rlim_cur = rl.rlim_max;
  setrlimit(RLIMIT_NOFILE, &rl);
  if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
    T_FAIL(t, "getrlimit failed");
  if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur <= (rlim_t)highest)
    T_SKIP(t, "RLIMIT_NOFILE %llu leaves no room for fd %d",
           (unsigned long long)rl.rlim_cur, highest);
}

/* dup of fd onto `num`, which must be free. */
static int k_fdlimit_dup_at(evl_tctx *t, int fd, int num) {
  if (fcntl(num, F_GETFD) >= 0)
    T_FAIL(t, "fd %d is unexpectedly open", num);
  if (dup3(fd, num, O_CLOEXEC) != num)
    T_FAIL(t, "dup3 onto %d: errno %d", num, errno);
  return num;
}

void test_k7_fd_limit_refused(evl_tctx *t) {
  kt_backend kb;
  evl_event out[K_FDLIMIT_CAP];
  int p[2];
  int lim = t->be->fd_limit;
  if (lim <= 0)
    T_SKIP(t, "backend has no fd_limit");
  k_fdlimit_room(t, lim + 100);
  kt_open(t, &kb);
  t_pipe(t, p);
  int hi[2] = {k_fdlimit_dup_at(t, p[0], lim),
               k_fdlimit_dup_at(t, p[0], lim + 67)};
  for (int i = 0; i < 2; i++) {
    T_RC(t, "ctl add READ of an fd >= fd_limit", -ERANGE,
         kb.ops->ctl(kb.state, hi[i], 0, EVL_READ));
    T_RC(t, "ctl add WRITE of an fd >= fd_limit", -ERANGE,
         kb.ops->ctl(kb.state, hi[i], 0, EVL_WRITE));
    T_TRUE(t, "ctl delete of an fd >= fd_limit is an error",
           kb.ops->ctl(kb.state, hi[i], EVL_READ, 0) < 0);
  }
  /* The backend still works, and the refused numbers never show up. */
  T_OK(t, "ctl add READ (low fd)", kb.ops->ctl(kb.state, p[0], 0, EVL_READ));
  t_write_byte(t, p[1]);
  int n = kt_wait(t, &kb, 0, out, K_FDLIMIT_CAP);
  T_EQ(t, "READ on the low fd", EVL_READ,
       kt_events_for(out, n, p[0]) & EVL_READ);
  T_EQ(t, "events for the refused fd", 0, kt_events_for(out, n, hi[0]));
  T_EQ(t, "events for the second refused fd", 0, kt_events_for(out, n, hi[1]));
  T_EQ(t, "event count", 1, n);
  T_OK(t, "ctl delete", kb.ops->ctl(kb.state, p[0], EVL_READ, 0));
  kt_close(&kb);
  t_close(hi[0]);
  t_close(hi[1]);
  t_close(p[0]);
  t_close(p[1]);
}

void test_k7_fd_limit_boundary(evl_tctx *t) {
  kt_backend kb;
  evl_event out[K_FDLIMIT_CAP];
  int p[2];
  int lim = t->be->fd_limit;
  if (lim <= 0)
    T_SKIP(t, "backend has no fd_limit");
  k_fdlimit_room(t, lim);
  kt_open(t, &kb);
  t_pipe(t, p);
  int top = k_fdlimit_dup_at(t, p[0], lim - 1);
  T_RC(t, "ctl add READ of fd_limit - 1", 0,
       kb.ops->ctl(kb.state, top, 0, EVL_READ));
  t_write_byte(t, p[1]);
  int n = kt_wait(t, &kb, 0, out, K_FDLIMIT_CAP);
  T_EQ(t, "READ on fd fd_limit - 1", EVL_READ,
       kt_events_for(out, n, top) & EVL_READ);
  T_OK(t, "ctl delete", kb.ops->ctl(kb.state, top, EVL_READ, 0));
  kt_close(&kb);
  t_close(top);
  t_close(p[0]);
  t_close(p[1]);
}
