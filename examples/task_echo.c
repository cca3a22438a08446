/* task_echo.c — a TCP echo server on 127.0.0.1 with one task per
 * connection, written as straight-line code: accept, recv, sendall. The
 * loop implementation comes from $EVL_IMPL; SIGINT/SIGTERM cancel the
 * accepting task, and evl_run cancels the connections left.
 *
 *   task_echo PORT        (PORT 0 picks a free port)
 *
 * It prints "listening on 127.0.0.1:PORT" once it accepts connections. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <evl/task.h>

static int serve(void *arg, void **result) {
  int fd = (int)(intptr_t)arg;
  (void)result;
  char buf[16384];
  int rc = 0;
  for (;;) {
    ssize_t n = evl_sock_recv(fd, buf, sizeof buf);
    if (n <= 0) {
      rc = (int)n; /* 0 at EOF, -ECANCELED at shutdown, or an error */
      break;
    }
    rc = evl_sock_sendall(fd, buf, (size_t)n);
    if (rc < 0)
      break;
  }
  evl_sock_close(fd);
  return rc == -ECONNRESET || rc == -EPIPE ? 0 : rc;
}

typedef struct server {
  evl_task *acceptor;
  const char *signame;
} server;

static server srv;

/* Signal handlers added through the loop run as ordinary callbacks. */
static void on_signal(void *arg) {
  srv.signame = arg;
  evl_task_cancel(srv.acceptor);
}

static int acceptor(void *arg, void **result) {
  int port = (int)(intptr_t)arg;
  (void)result;
  evl_tasks *ts = evl_current_tasks();
  const evl_impl_ops *ops = evl_tasks_ops(ts);
  evl_loop *loop = evl_tasks_loop(ts);
  srv.acceptor = evl_current_task();
  if (ops->add_signal_handler) {
    ops->add_signal_handler(loop, SIGINT, on_signal, "SIGINT");
    ops->add_signal_handler(loop, SIGTERM, on_signal, "SIGTERM");
  }
  int lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (lfd < 0)
    return -errno;
  int one = 1;
  setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  struct sockaddr_in a = {.sin_family = AF_INET,
                          .sin_port = htons((uint16_t)port),
                          .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  socklen_t len = sizeof a;
  if (bind(lfd, (struct sockaddr *)&a, len) != 0 || listen(lfd, 128) != 0 ||
      getsockname(lfd, (struct sockaddr *)&a, &len) != 0) {
    int rc = -errno;
    close(lfd);
    return rc;
  }
  printf("listening on 127.0.0.1:%d\n", ntohs(a.sin_port));
  fflush(stdout);
  unsigned long served = 0;
  int rc;
  for (;;) {
    int c = evl_sock_accept(lfd, NULL, NULL);
    if (c < 0) {
      rc = c;
      break;
    }
    rc = evl_task_spawn(ts, serve, (void *)(intptr_t)c, NULL);
    if (rc < 0) {
      close(c);
      break;
    }
    served++;
  }
  evl_sock_close(lfd);
  if (ops->remove_signal_handler) {
    ops->remove_signal_handler(loop, SIGINT);
    ops->remove_signal_handler(loop, SIGTERM);
  }
  if (rc == -ECANCELED && srv.signame) {
    printf("task_echo: %s after %lu connections, bye\n", srv.signame, served);
    return 0;
  }
  return rc;
}

int main(int argc, char **argv) {
  int port = argc > 1 ? atoi(argv[1]) : 7000;
  int rc = evl_run(acceptor, (void *)(intptr_t)port, NULL);
  if (rc < 0) {
    fprintf(stderr, "task_echo: %s\n", evl_strerror(rc));
    return 1;
  }
  return 0;
}
