/* p_reuse.c — P3 tests: evl_io_close with operations in flight and bytes
 * the proactor may hold for the fd, then the fd number reused at once. */
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "p_util.h"

/* A new socketpair whose first end has number `want` (free now) and whose
 * second end is out of the way (>= 600), so `want`s stay free for the next
 * call. */
static void pr_pair_at(evl_tctx *t, int want, int fds[2]) {
  t_socketpair(t, fds);
  if (fds[1] == want) {
    int x = fds[0];
    fds[0] = fds[1];
    fds[1] = x;
  }
  int hi = fcntl(fds[1], F_DUPFD_CLOEXEC, 600);
  T_TRUE(t, "F_DUPFD", hi >= 600);
  close(fds[1]);
  fds[1] = hi;
  if (fds[0] != want) {
    T_TRUE(t, "dup2 onto the closed number", dup2(fds[0], want) == want);
    close(fds[0]);
    fds[0] = want;
  }
}

/* P3: one fd with bytes that arrived while no recv was pending, another
 * with a recv pending; both closed with evl_io_close and their numbers
 * reused at once. The pending recv completes once with -ECANCELED, and a
 * recv on the reused number gets the new file's bytes, never the old
 * file's (an engine that keeps a request or received bytes per fd must
 * drop them at evl_io_close). */
void test_p3_io_close_reuse(evl_tctx *t) {
  pp_env e;
  pp_open(t, &e, 10000);
  int a[2], c[2], n[2], m[2];
  t_socketpair(t, a);
  t_socketpair(t, c);
  char b1[8], b2[8], b3[8] = {0}, b4[8] = {0};
  pp_rec r1 = {0}, r2 = {0}, r3 = {0}, r4 = {0};
  T_EQ(t, "write", 3, write(a[1], "one", 3));
  T_OK(t, "evl_recv", evl_recv(e.p, a[0], b1, sizeof b1, pp_done, &r1, NULL));
  pp_run_until(&e, &r1.calls);
  T_EQ(t, "first recv result", 3, r1.result);
  /* Bytes with no recv pending, and a recv with no bytes. */
  T_EQ(t, "write", 3, write(a[1], "old", 3));
  T_OK(t, "evl_recv", evl_recv(e.p, c[0], b2, sizeof b2, pp_done, &r2, NULL));
  pp_spin(&e, 3);
  int fa = a[0], fc = c[0];
  T_OK(t, "evl_io_close (bytes unread)", evl_io_close(e.p, fa));
  T_OK(t, "evl_io_close (recv pending)", evl_io_close(e.p, fc));
  pr_pair_at(t, fa, n);
  pr_pair_at(t, fc, m);
  /* The old peers write too: nothing of theirs may reach the new files. */
  (void)!send(a[1], "zzz", 3, MSG_NOSIGNAL);
  (void)!send(c[1], "yyy", 3, MSG_NOSIGNAL);
  T_EQ(t, "write to the new file", 3, write(n[1], "new", 3));
  T_EQ(t, "write to the new file", 4, write(m[1], "neww", 4));
  T_OK(t, "evl_recv (reused number)",
       evl_recv(e.p, fa, b3, sizeof b3, pp_done, &r3, NULL));
  T_OK(t, "evl_recv (reused number)",
       evl_recv(e.p, fc, b4, sizeof b4, pp_done, &r4, NULL));
  pp_run_until(&e, &r3.calls);
  pp_run_until(&e, &r4.calls);
  pp_spin(&e, 3);
  T_EQ(t, "callbacks of the recv pending at evl_io_close", 1, r2.calls);
  T_RC(t, "its result", -ECANCELED, (int)r2.result);
  T_EQ(t, "recv on the reused number (had unread bytes): bytes", 3, r3.result);
  T_TRUE(t, "... and they are the new file's", memcmp(b3, "new", 3) == 0);
  T_EQ(t, "recv on the reused number (had a recv): bytes", 4, r4.result);
  T_TRUE(t, "... and they are the new file's", memcmp(b4, "neww", 4) == 0);
  T_EQ(t, "callbacks of the first recv", 1, r1.calls);
  T_EQ(t, "callbacks of the new recvs", 2, r3.calls + r4.calls);
  T_OK(t, "evl_io_close", evl_io_close(e.p, fa));
  T_OK(t, "evl_io_close", evl_io_close(e.p, fc));
  pp_close(&e);
  t_close(a[1]);
  t_close(c[1]);
  t_close(n[1]);
  t_close(m[1]);
}
