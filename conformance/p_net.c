/* p_net.c — P7–P8 tests: errors, TCP loopback and regular files. */
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "p_util.h"

/* P7: the peer closing with our bytes unread (ECONNRESET on AF_UNIX), a
 * send to a closed peer (EPIPE, and no SIGPIPE), and a closed fd number
 * (EBADF) each complete the operation with that error. */
void test_p7_errors_delivered(evl_tctx *t) {
  pp_env e;
  pp_open(t, &e, 10000);
  int a[2], b[2];
  t_socketpair(t, a);
  t_socketpair(t, b);
  char buf[8];
  pp_rec reset = {0}, pipe_ = {0}, badf = {0};
  T_OK(t, "evl_recv", evl_recv(e.p, a[0], buf, sizeof buf, pp_done, &reset, 0));
  pp_spin(&e, 2);
  T_EQ(t, "write to the peer", 1, write(a[0], "q", 1));
  close(a[1]); /* with "q" unread: the kernel resets a[0] */
  pp_run_until(&e, &reset.calls);
  T_RC(t, "recv after the peer reset", -ECONNRESET, (int)reset.result);
  close(b[1]);
  T_OK(t, "evl_send", evl_send(e.p, b[0], "hello", 5, pp_done, &pipe_, NULL));
  pp_run_until(&e, &pipe_.calls);
  T_RC(t, "send to a closed peer", -EPIPE, (int)pipe_.result);
  /* A high number, so no fd the loop opens meanwhile reuses it before an
   * engine that submits later gets to it. */
  int dead = fcntl(b[0], F_DUPFD_CLOEXEC, 900);
  T_TRUE(t, "F_DUPFD", dead >= 0);
  close(dead);
  T_OK(t, "evl_recv (closed fd)",
       evl_recv(e.p, dead, buf, sizeof buf, pp_done, &badf, NULL));
  pp_run_until(&e, &badf.calls);
  T_RC(t, "recv on a closed fd", -EBADF, (int)badf.result);
  pp_spin(&e, 2);
  T_EQ(t, "callbacks", 3, reset.calls + pipe_.calls + badf.calls);
  pp_close(&e);
  t_close(a[0]);
  t_close(b[0]);
}

/* P8: accept and connect over TCP loopback, submitted before either can
 * complete (the accepted fd non-blocking and close-on-exec); then one echo
 * through send/recv. */
void test_p8_accept_connect(evl_tctx *t) {
  pp_env e;
  pp_open(t, &e, 10000);
  int l = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  T_TRUE(t, "socket", l >= 0);
  struct sockaddr_in addr = {.sin_family = AF_INET};
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  T_EQ(t, "bind", 0, bind(l, (struct sockaddr *)&addr, len));
  T_EQ(t, "listen", 0, listen(l, 8));
  T_EQ(t, "getsockname", 0, getsockname(l, (struct sockaddr *)&addr, &len));
  int c = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  T_TRUE(t, "socket", c >= 0);
  pp_rec acc = {0}, con = {0}, snd = {0}, rcv = {0};
  T_OK(t, "evl_accept", evl_accept(e.p, l, NULL, NULL, pp_done, &acc, NULL));
  T_OK(t, "evl_connect",
       evl_connect(e.p, c, (struct sockaddr *)&addr, sizeof addr, pp_done, &con,
                   NULL));
  pp_run_until(&e, &acc.calls);
  pp_run_until(&e, &con.calls);
  T_OK(t, "connect result", (int)con.result);
  T_TRUE(t, "accept gave an fd", acc.result >= 0);
  int s = (int)acc.result;
  T_EQ(t, "O_NONBLOCK of the accepted fd", O_NONBLOCK,
       fcntl(s, F_GETFL) & O_NONBLOCK);
  T_EQ(t, "FD_CLOEXEC of the accepted fd", FD_CLOEXEC,
       fcntl(s, F_GETFD) & FD_CLOEXEC);
  char buf[8] = {0};
  T_OK(t, "evl_send", evl_send(e.p, c, "ping", 4, pp_done, &snd, NULL));
  T_OK(t, "evl_recv", evl_recv(e.p, s, buf, sizeof buf, pp_done, &rcv, NULL));
  pp_run_until(&e, &rcv.calls);
  pp_run_until(&e, &snd.calls);
  T_EQ(t, "send result", 0, snd.result);
  T_EQ(t, "recv result", 4, rcv.result);
  T_TRUE(t, "bytes", memcmp(buf, "ping", 4) == 0);
  T_OK(t, "evl_io_close", evl_io_close(e.p, s));
  pp_close(&e);
  t_close(c);
  t_close(l);
}

/* P8: a write at offset 4096 and a read of it back, on a regular file. */
void test_p8_file_offsets(evl_tctx *t) {
  pp_env e;
  pp_open(t, &e, 10000);
  char path[] = "/tmp/evl-p8-XXXXXX";
  int fd = mkstemp(path);
  T_TRUE(t, "mkstemp", fd >= 0);
  unlink(path);
  char in[6] = {0};
  pp_rec w = {0}, r = {0};
  T_OK(t, "evl_write", evl_write(e.p, fd, "offset", 6, 4096, pp_done, &w, 0));
  pp_run_until(&e, &w.calls);
  T_EQ(t, "write result", 6, w.result);
  T_OK(t, "evl_read", evl_read(e.p, fd, in, 6, 4096, pp_done, &r, NULL));
  pp_run_until(&e, &r.calls);
  T_EQ(t, "read result", 6, r.result);
  T_TRUE(t, "bytes read back", memcmp(in, "offset", 6) == 0);
  T_EQ(t, "file size", 4102, (long)lseek(fd, 0, SEEK_END));
  pp_close(&e);
  t_close(fd);
}
