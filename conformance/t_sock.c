/* t_sock.c — T7 tests: the awaitable socket helpers on real sockets. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "t_util.h"

#define T7_BYTES (4 * 1024 * 1024) /* far more than a socket buffer */

typedef struct t7_state {
  int fd[2];
  unsigned char *out, *in;
  long got;
  int send_rc, recv_rc;
  int lfd;
  struct sockaddr_in addr;
  int accept_fd;
  int connect_rc;
  char echoed[16];
} t7_state;

static int t7_sender(void *arg, void **result) {
  t7_state *s = arg;
  (void)result;
  s->send_rc = evl_sock_sendall(s->fd[0], s->out, T7_BYTES);
  shutdown(s->fd[0], SHUT_WR);
  return 0;
}

static int t7_receiver(void *arg, void **result) {
  t7_state *s = arg;
  (void)result;
  for (;;) {
    ssize_t n = evl_sock_recv(s->fd[1], s->in + s->got, T7_BYTES - s->got);
    if (n < 0) {
      s->recv_rc = (int)n;
      return 0;
    }
    if (n == 0)
      return 0;
    s->got += n;
    if (s->got == T7_BYTES) {
      /* One more: EOF must come as 0. */
      char c;
      s->recv_rc = (int)evl_sock_recv(s->fd[1], &c, 1);
      return 0;
    }
  }
}

/* T7: sendall of 4 MiB through a socketpair (it must wait for writability)
 * while another task receives (it must wait for readability): every byte
 * arrives in order, then EOF as 0. */
void test_t7_sock_send_recv(evl_tctx *t) {
  tt_env e;
  /* Well under the 20 s timeout (the transfer takes < 50 ms), so that a
   * stalled transfer is a FAIL, not a TIMEOUT. */
  tt_open(t, &e, 5000);
  t7_state s = {0};
  t_socketpair(t, s.fd);
  s.out = malloc(T7_BYTES);
  s.in = malloc(T7_BYTES);
  T_TRUE(t, "malloc", s.out && s.in);
  for (long i = 0; i < T7_BYTES; i++)
    s.out[i] = (unsigned char)(i * 7 + i / 251);
  evl_task *a = tt_spawn(&e, t7_sender, &s);
  evl_task *b = tt_spawn(&e, t7_receiver, &s);
  T_OK(t, "sender status", tt_run(&e, a, NULL));
  T_OK(t, "receiver status", tt_run(&e, b, NULL));
  T_OK(t, "evl_sock_sendall", s.send_rc);
  T_EQ(t, "bytes received", T7_BYTES, s.got);
  T_EQ(t, "evl_sock_recv at EOF", 0, s.recv_rc);
  T_TRUE(t, "bytes equal to those sent", memcmp(s.out, s.in, T7_BYTES) == 0);
  evl_task_release(a);
  evl_task_release(b);
  tt_close(&e);
  free(s.out);
  free(s.in);
  t_close(s.fd[0]);
  t_close(s.fd[1]);
}

static int t7_server(void *arg, void **result) {
  t7_state *s = arg;
  (void)result;
  s->accept_fd = evl_sock_accept(s->lfd, NULL, NULL);
  if (s->accept_fd < 0)
    return s->accept_fd;
  char buf[16];
  ssize_t n = evl_sock_recv(s->accept_fd, buf, sizeof buf);
  if (n < 0)
    return (int)n;
  int rc = evl_sock_sendall(s->accept_fd, buf, (size_t)n);
  evl_sock_close(s->accept_fd);
  return rc;
}

static int t7_client(void *arg, void **result) {
  t7_state *s = arg;
  (void)result;
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0)
    return -errno;
  s->connect_rc =
      evl_sock_connect(fd, (struct sockaddr *)&s->addr, sizeof s->addr);
  int rc = s->connect_rc;
  if (rc == 0)
    rc = evl_sock_sendall(fd, "ping", 4);
  size_t got = 0;
  while (rc == 0 && got < 4) {
    ssize_t n = evl_sock_recv(fd, s->echoed + got, sizeof s->echoed - got);
    if (n <= 0)
      rc = n < 0 ? (int)n : -ECONNRESET;
    else
      got += (size_t)n;
  }
  evl_sock_close(fd);
  return rc;
}

/* T7: over TCP loopback, a task accepts (waiting for the connection) while
 * another connects, sends and gets the bytes echoed back. */
void test_t7_sock_accept_connect(evl_tctx *t) {
  tt_env e;
  tt_open(t, &e, 10000);
  t7_state s = {.accept_fd = -1};
  s.lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  T_TRUE(t, "socket", s.lfd >= 0);
  s.addr.sin_family = AF_INET;
  s.addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof s.addr;
  T_EQ(t, "bind", 0, bind(s.lfd, (struct sockaddr *)&s.addr, len));
  T_EQ(t, "listen", 0, listen(s.lfd, 8));
  T_EQ(t, "getsockname", 0,
       getsockname(s.lfd, (struct sockaddr *)&s.addr, &len));
  evl_task *srv = tt_spawn(&e, t7_server, &s);
  evl_task *cli = tt_spawn(&e, t7_client, &s);
  T_OK(t, "client status", tt_run(&e, cli, NULL));
  T_OK(t, "server status", tt_run(&e, srv, NULL));
  T_OK(t, "evl_sock_connect", s.connect_rc);
  T_TRUE(t, "evl_sock_accept gave an fd", s.accept_fd >= 0);
  T_TRUE(t, "the echo came back", memcmp(s.echoed, "ping", 4) == 0);
  evl_task_release(srv);
  evl_task_release(cli);
  /* The listener's reader stays registered until closed through the
   * helpers (or the loop closes). */
  tt_close(&e);
  t_close(s.lfd);
}

static int t7_refused(void *arg, void **result) {
  t7_state *s = arg;
  (void)result;
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0)
    return -errno;
  s->connect_rc =
      evl_sock_connect(fd, (struct sockaddr *)&s->addr, sizeof s->addr);
  evl_sock_close(fd);
  return 0;
}

/* T7: connecting to a closed port returns the connection's error
 * (-ECONNREFUSED), not 0. */
void test_t7_sock_connect_refused(evl_tctx *t) {
  tt_env e;
  tt_open(t, &e, 10000);
  t7_state s = {0};
  /* A port that was just free: bind, read the number, close. */
  int l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  s.addr.sin_family = AF_INET;
  s.addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof s.addr;
  T_EQ(t, "bind", 0, bind(l, (struct sockaddr *)&s.addr, len));
  T_EQ(t, "getsockname", 0, getsockname(l, (struct sockaddr *)&s.addr, &len));
  close(l);
  evl_task *c = tt_spawn(&e, t7_refused, &s);
  T_OK(t, "task status", tt_run(&e, c, NULL));
  T_RC(t, "evl_sock_connect to a closed port", -ECONNREFUSED, s.connect_rc);
  evl_task_release(c);
  tt_close(&e);
}
