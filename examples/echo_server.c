/* echo_server.c — a TCP echo server on 127.0.0.1: readers, writers and
 * back-pressure on one loop; SIGINT/SIGTERM stop it cleanly.
 *
 *   echo_server PORT        (PORT 0 picks a free port)
 *
 * It prints "listening on 127.0.0.1:PORT" once it accepts connections. */
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <evl/evl.h>

static void check(int rc, const char *what) {
  if (rc < 0) {
    fprintf(stderr, "echo_server: %s: %s\n", what, evl_strerror(rc));
    exit(1);
  }
}

/* One client. Bytes read but not yet written back wait in buf; while any
 * wait we stop reading (back-pressure) and watch for writability instead. */
typedef struct conn {
  struct conn *next, *prev;
  int fd;
  char buf[16384];
  size_t len, off;
} conn;

typedef struct server {
  evl_loop *loop;
  int listen_fd;
  conn *conns;
  int nconns;
} server;

static void on_readable(int fd, unsigned events, void *arg);
static void on_writable(int fd, unsigned events, void *arg);

static server srv; /* the callbacks reach it through their arguments too */

static void conn_close(conn *c) {
  /* Watchers go before the fd: a closed fd must not stay registered. */
  check(evl_remove_reader(srv.loop, c->fd), "evl_remove_reader");
  check(evl_remove_writer(srv.loop, c->fd), "evl_remove_writer");
  close(c->fd);
  if (c->prev)
    c->prev->next = c->next;
  else
    srv.conns = c->next;
  if (c->next)
    c->next->prev = c->prev;
  srv.nconns--;
  free(c);
}

/* Writes what is buffered; returns 1 when all is out, 0 if the socket is
 * full, -1 when the client is gone. */
static int conn_flush(conn *c) {
  while (c->off < c->len) {
    ssize_t n = send(c->fd, c->buf + c->off, c->len - c->off, MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR)
        continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK)
        return 0;
      return -1; /* EPIPE, ECONNRESET: the client left */
    }
    c->off += (size_t)n;
  }
  c->off = c->len = 0;
  return 1;
}

static void on_readable(int fd, unsigned events, void *arg) {
  conn *c = arg;
  (void)events;
  ssize_t n = recv(fd, c->buf, sizeof c->buf, 0);
  if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
    return; /* level-triggered: we are called again when data is there */
  if (n <= 0) {
    conn_close(c); /* 0: orderly EOF; < 0: reset */
    return;
  }
  c->len = (size_t)n;
  c->off = 0;
  int rc = conn_flush(c);
  if (rc < 0) {
    conn_close(c);
  } else if (rc == 0) {
    /* The client reads slower than it sends: pause reading. */
    check(evl_remove_reader(srv.loop, fd), "evl_remove_reader");
    check(evl_add_writer(srv.loop, fd, on_writable, c), "evl_add_writer");
  }
}

static void on_writable(int fd, unsigned events, void *arg) {
  conn *c = arg;
  (void)events;
  int rc = conn_flush(c);
  if (rc < 0) {
    conn_close(c);
  } else if (rc == 1) {
    check(evl_remove_writer(srv.loop, fd), "evl_remove_writer");
    check(evl_add_reader(srv.loop, fd, on_readable, c), "evl_add_reader");
  }
}

static void on_accept(int fd, unsigned events, void *arg) {
  (void)events;
  (void)arg;
  int cfd = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
  if (cfd < 0) {
    /* EAGAIN: another wakeup took it; EMFILE etc.: report and go on. */
    if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
      check(evl_report_error(srv.loop, -errno, "accept"), "evl_report_error");
    return;
  }
  conn *c = calloc(1, sizeof *c);
  if (!c) {
    close(cfd);
    return;
  }
  c->fd = cfd;
  int rc = evl_add_reader(srv.loop, cfd, on_readable, c);
  if (rc < 0) {
    evl_report_error(srv.loop, rc, "add_reader for a new client");
    close(cfd);
    free(c);
    return;
  }
  c->next = srv.conns;
  if (srv.conns)
    srv.conns->prev = c;
  srv.conns = c;
  srv.nconns++;
}

/* Signal handlers run on the loop thread like any callback, so they may
 * use the whole API (not just async-signal-safe calls). */
static void on_signal(void *arg) {
  const char *name = arg;
  printf("echo_server: %s, shutting down\n", name);
  fflush(stdout);
  check(evl_stop(srv.loop), "evl_stop");
}

static int listen_on(int port) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0)
    return -errno;
  int one = 1;
  struct sockaddr_in sa;
  memset(&sa, 0, sizeof sa);
  sa.sin_family = AF_INET;
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  sa.sin_port = htons((unsigned short)port);
  if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0 ||
      bind(fd, (struct sockaddr *)&sa, sizeof sa) != 0 ||
      listen(fd, 128) != 0) {
    int rc = -errno;
    close(fd);
    return rc;
  }
  return fd;
}

int main(int argc, char **argv) {
  char *end;
  long port = argc == 2 ? strtol(argv[1], &end, 10) : -1;
  if (argc != 2 || *end != '\0' || port < 0 || port > 65535) {
    fprintf(stderr, "usage: echo_server PORT   (0 picks a free port)\n");
    return 2;
  }

  check(evl_loop_new(&srv.loop, NULL), "evl_loop_new");
  srv.listen_fd = listen_on((int)port);
  check(srv.listen_fd, "listen on 127.0.0.1");
  check(evl_add_reader(srv.loop, srv.listen_fd, on_accept, NULL),
        "evl_add_reader");
  check(evl_add_signal_handler(srv.loop, SIGINT, on_signal, "SIGINT"),
        "evl_add_signal_handler(SIGINT)");
  check(evl_add_signal_handler(srv.loop, SIGTERM, on_signal, "SIGTERM"),
        "evl_add_signal_handler(SIGTERM)");

  struct sockaddr_in sa;
  socklen_t salen = sizeof sa;
  if (getsockname(srv.listen_fd, (struct sockaddr *)&sa, &salen) != 0)
    check(-errno, "getsockname");
  printf("listening on 127.0.0.1:%d\n", ntohs(sa.sin_port));
  fflush(stdout);

  check(evl_run_forever(srv.loop), "evl_run_forever");

  /* Stopped by a signal: close what we opened, then the loop. */
  int n = srv.nconns;
  while (srv.conns)
    conn_close(srv.conns);
  check(evl_remove_reader(srv.loop, srv.listen_fd), "evl_remove_reader");
  close(srv.listen_fd);
  check(evl_loop_free(srv.loop), "evl_loop_free");
  printf("echo_server: closed %d client%s and the listener, bye\n", n,
         n == 1 ? "" : "s");
  return 0;
}
