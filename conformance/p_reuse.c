/* p_reuse.c — P3 tests: evl_io_close with operations in flight and bytes
 * the proactor may hold for the fd, then the fd number reused at once. */
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
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

static int pr_listen(evl_tctx *t, struct sockaddr_in *addr) {
  int l = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  T_TRUE(t, "socket", l >= 0);
  *addr = (struct sockaddr_in){.sin_family = AF_INET};
  addr->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof *addr;
  T_EQ(t, "bind", 0, bind(l, (struct sockaddr *)addr, len));
  T_EQ(t, "listen", 0, listen(l, 8));
  T_EQ(t, "getsockname", 0, getsockname(l, (struct sockaddr *)addr, &len));
  return l;
}

/* Connected (the handshake needs no accept), then non-blocking. */
static int pr_client(evl_tctx *t, const struct sockaddr_in *addr) {
  int c = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  T_TRUE(t, "socket", c >= 0);
  T_EQ(t, "connect", 0,
       connect(c, (const struct sockaddr *)addr, sizeof *addr));
  T_EQ(t, "O_NONBLOCK", 0, fcntl(c, F_SETFL, O_NONBLOCK));
  return c;
}

/* P3: a listening fd closed with evl_io_close after connections arrived
 * that no evl_accept took yet: those connections are closed (their clients
 * see EOF or a reset; an engine that accepted them ahead must close them),
 * and an evl_accept on a new listening socket with the same number gets
 * that socket's connection. */
void test_p3_accept_close_reuse(evl_tctx *t) {
  pp_env e;
  pp_open(t, &e, 5000);
  struct sockaddr_in a1, a2;
  int l1 = pr_listen(t, &a1);
  pp_rec acc1 = {0}, acc2 = {0}, eof2 = {0}, eof3 = {0};
  T_OK(t, "evl_accept", evl_accept(e.p, l1, NULL, NULL, pp_done, &acc1, 0));
  int c1 = pr_client(t, &a1);
  pp_run_until(&e, &acc1.calls);
  T_TRUE(t, "accept gave an fd", acc1.result >= 0);
  /* Two more connections that no evl_accept asks for. */
  int c2 = pr_client(t, &a1), c3 = pr_client(t, &a1);
  pp_spin(&e, 3);
  T_OK(t, "evl_io_close (listening fd)", evl_io_close(e.p, l1));
  char b2[4], b3[4];
  T_OK(t, "evl_recv", evl_recv(e.p, c2, b2, sizeof b2, pp_done, &eof2, 0));
  T_OK(t, "evl_recv", evl_recv(e.p, c3, b3, sizeof b3, pp_done, &eof3, 0));
  pp_run_until(&e, &eof2.calls);
  pp_run_until(&e, &eof3.calls);
  T_TRUE(t, "unaccepted client 2 sees EOF or a reset",
         eof2.result == 0 || eof2.result == -ECONNRESET);
  T_TRUE(t, "unaccepted client 3 sees EOF or a reset",
         eof3.result == 0 || eof3.result == -ECONNRESET);
  /* The number again, on a socket listening on another port. */
  int l2 = pr_listen(t, &a2);
  if (l2 != l1) {
    T_TRUE(t, "dup2 onto the closed number", dup2(l2, l1) == l1);
    close(l2);
    l2 = l1;
  }
  T_OK(t, "evl_accept (reused number)",
       evl_accept(e.p, l2, NULL, NULL, pp_done, &acc2, NULL));
  int c4 = pr_client(t, &a2);
  pp_run_until(&e, &acc2.calls);
  T_TRUE(t, "accept on the reused number gave an fd", acc2.result >= 0);
  struct sockaddr_in got = {0}, want = {0};
  socklen_t gl = sizeof got, wl = sizeof want;
  if (acc2.result >= 0) {
    T_EQ(t, "getpeername", 0,
         getpeername((int)acc2.result, (struct sockaddr *)&got, &gl));
    T_EQ(t, "getsockname", 0, getsockname(c4, (struct sockaddr *)&want, &wl));
    T_EQ(t, "the accepted connection is the new socket's client (port)",
         ntohs(want.sin_port), ntohs(got.sin_port));
    T_OK(t, "evl_io_close", evl_io_close(e.p, (int)acc2.result));
  }
  pp_spin(&e, 2);
  T_EQ(t, "accept callbacks", 2, acc1.calls + acc2.calls);
  T_OK(t, "evl_io_close", evl_io_close(e.p, (int)acc1.result));
  T_OK(t, "evl_io_close", evl_io_close(e.p, l2));
  T_OK(t, "evl_io_close", evl_io_close(e.p, c2));
  T_OK(t, "evl_io_close", evl_io_close(e.p, c3));
  pp_close(&e);
  t_close(c1);
  t_close(c4);
}
