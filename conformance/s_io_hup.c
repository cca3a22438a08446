/* s_io_hup.c — S6 through a loop: EOF, EPIPE, hang-up and local shutdown. */
#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "harness.h"

/* What a watcher saw: calls, events, and the result of its read/write. */
typedef struct s_io_hup_rec {
  evl_tctx *t;
  evl_loop *loop;
  int calls;
  unsigned events;
  long io; /* bytes, or -errno of the last read()/write() */
} s_io_hup_rec;

static void s_io_hup_noop(void *arg) {
  (void)arg;
}

static void s_io_hup_tick(evl_tctx *t, evl_loop *loop) {
  T_OK(t, "call_soon", OPS->call_soon(loop, s_io_hup_noop, NULL, NULL));
  int rc = OPS->run_once(loop);
  T_OK(t, "run_once", rc < 0 ? rc : 0);
}

static void s_io_hup_reader(int fd, unsigned events, void *arg) {
  s_io_hup_rec *r = arg;
  char buf[256];
  r->calls++;
  r->events |= events;
  ssize_t n = read(fd, buf, sizeof buf);
  r->io = n < 0 ? -errno : n;
}

static void s_io_hup_writer(int fd, unsigned events, void *arg) {
  s_io_hup_rec *w = arg;
  w->calls++;
  w->events |= events;
  ssize_t n = write(fd, "x", 1);
  w->io = n < 0 ? -errno : n;
}

static void s_io_hup_fill(evl_tctx *t, int fd) {
  static char buf[65536];
  for (;;) {
    ssize_t n = write(fd, buf, sizeof buf);
    if (n > 0 || (n < 0 && errno == EINTR))
      continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
      return;
    T_FAIL(t, "filling fd %d: %s", fd, n < 0 ? strerror(errno) : "0 bytes");
  }
}

/* SIGPIPE would end the test; a writer must see EPIPE instead. */
static void s_io_hup_ignore_sigpipe(struct sigaction *old) {
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = SIG_IGN;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGPIPE, &sa, old);
}

void test_s6_pipe_eof(evl_tctx *t) {
  evl_loop *loop = st_loop(t);
  s_io_hup_rec r = {.t = t, .loop = loop, .io = 1};
  int p[2];
  t_pipe(t, p);
  T_OK(t, "add_reader", OPS->add_reader(loop, p[0], s_io_hup_reader, &r));
  s_io_hup_tick(t, loop);
  T_EQ(t, "reader calls before EOF", 0, r.calls);
  t_close(p[1]);
  s_io_hup_tick(t, loop);
  T_EQ(t, "reader calls after the writer closed", 1, r.calls);
  T_EQ(t, "read() in the reader (0 = EOF)", 0, r.io);
  T_EQ(t, "reader's events include READ", EVL_READ, r.events & EVL_READ);
  T_EQ(t, "remove_reader", 1, OPS->remove_reader(loop, p[0]));
  st_free(t, loop);
  t_close(p[0]);
}

/* The pipe is full, so only the reader's departure can wake the writer. */
void test_s6_writer_epipe(evl_tctx *t) {
  struct sigaction old;
  s_io_hup_ignore_sigpipe(&old);
  evl_loop *loop = st_loop(t);
  s_io_hup_rec w = {.t = t, .loop = loop, .io = 1};
  int p[2];
  t_pipe(t, p);
  s_io_hup_fill(t, p[1]);
  T_OK(t, "add_writer", OPS->add_writer(loop, p[1], s_io_hup_writer, &w));
  s_io_hup_tick(t, loop);
  T_EQ(t, "writer calls while the pipe is full", 0, w.calls);
  t_close(p[0]);
  s_io_hup_tick(t, loop);
  T_EQ(t, "writer calls after the reader closed", 1, w.calls);
  T_EQ(t, "write() in the writer", -EPIPE, w.io);
  T_EQ(t, "writer's events include WRITE", EVL_WRITE, w.events & EVL_WRITE);
  T_EQ(t, "remove_writer", 1, OPS->remove_writer(loop, p[1]));
  st_free(t, loop);
  t_close(p[1]);
  sigaction(SIGPIPE, &old, NULL);
}

/* A full socket whose peer hangs up (shutdown both ways): the reader sees
 * EOF and the writer, otherwise blocked on a full buffer, sees EPIPE. */
void test_s6_hangup_wakes_both(evl_tctx *t) {
  struct sigaction old;
  s_io_hup_ignore_sigpipe(&old);
  evl_loop *loop = st_loop(t);
  s_io_hup_rec r = {.t = t, .loop = loop, .io = 1};
  s_io_hup_rec w = {.t = t, .loop = loop, .io = 1};
  int sv[2];
  t_socketpair(t, sv);
  s_io_hup_fill(t, sv[0]);
  T_OK(t, "add_reader", OPS->add_reader(loop, sv[0], s_io_hup_reader, &r));
  T_OK(t, "add_writer", OPS->add_writer(loop, sv[0], s_io_hup_writer, &w));
  s_io_hup_tick(t, loop);
  T_EQ(t, "reader calls before the hang-up", 0, r.calls);
  T_EQ(t, "writer calls before the hang-up (buffer full)", 0, w.calls);
  if (shutdown(sv[1], SHUT_RDWR) != 0)
    T_FAIL(t, "shutdown: %s", strerror(errno));
  s_io_hup_tick(t, loop);
  T_EQ(t, "reader calls after the hang-up", 1, r.calls);
  T_EQ(t, "read() in the reader (0 = EOF)", 0, r.io);
  /* One id for both: a loop that does not wake the writer fails both. */
  TC_EQ(t, "writer_woken", "writer calls after the hang-up", 1, w.calls);
  if (w.calls == 1)
    TC_EQ(t, "writer_woken", "write() in the writer", -EPIPE, w.io);
  T_EQ(t, "remove_reader", 1, OPS->remove_reader(loop, sv[0]));
  T_EQ(t, "remove_writer", 1, OPS->remove_writer(loop, sv[0]));
  st_free(t, loop);
  t_close(sv[0]);
  t_close(sv[1]);
  sigaction(SIGPIPE, &old, NULL);
}

/* The peer closes with our data unread: the reader is told (EOF or
 * ECONNRESET), and so is the writer. */
void test_s6_peer_close_wakes_both(evl_tctx *t) {
  struct sigaction old;
  s_io_hup_ignore_sigpipe(&old);
  evl_loop *loop = st_loop(t);
  s_io_hup_rec r = {.t = t, .loop = loop, .io = 1};
  s_io_hup_rec w = {.t = t, .loop = loop, .io = 1};
  int sv[2];
  t_socketpair(t, sv);
  s_io_hup_fill(t, sv[0]);
  T_OK(t, "add_reader", OPS->add_reader(loop, sv[0], s_io_hup_reader, &r));
  T_OK(t, "add_writer", OPS->add_writer(loop, sv[0], s_io_hup_writer, &w));
  s_io_hup_tick(t, loop);
  T_EQ(t, "writer calls before the close (buffer full)", 0, w.calls);
  t_close(sv[1]);
  s_io_hup_tick(t, loop);
  T_EQ(t, "reader calls after the peer closed", 1, r.calls);
  T_TRUE(t, "read() in the reader is EOF or ECONNRESET",
         r.io == 0 || r.io == -ECONNRESET);
  T_EQ(t, "writer calls after the peer closed", 1, w.calls);
  T_TRUE(t, "write() in the writer is EPIPE or ECONNRESET",
         w.io == -EPIPE || w.io == -ECONNRESET);
  T_EQ(t, "remove_reader", 1, OPS->remove_reader(loop, sv[0]));
  T_EQ(t, "remove_writer", 1, OPS->remove_writer(loop, sv[0]));
  st_free(t, loop);
  t_close(sv[0]);
  sigaction(SIGPIPE, &old, NULL);
}

/* shutdown(SHUT_WR) ends what we send: our reader stays quiet while the
 * peer's reader sees EOF (proof that the shutdown happened). */
void test_s6_local_shutdown_no_wake(evl_tctx *t) {
  evl_loop *loop = st_loop(t);
  s_io_hup_rec r = {.t = t, .loop = loop, .io = 1};
  s_io_hup_rec peer = {.t = t, .loop = loop, .io = 1};
  int sv[2];
  t_socketpair(t, sv);
  T_OK(t, "add_reader", OPS->add_reader(loop, sv[0], s_io_hup_reader, &r));
  T_OK(t, "add_reader (peer)",
       OPS->add_reader(loop, sv[1], s_io_hup_reader, &peer));
  s_io_hup_tick(t, loop);
  if (shutdown(sv[0], SHUT_WR) != 0)
    T_FAIL(t, "shutdown: %s", strerror(errno));
  for (int i = 0; i < 3; i++)
    s_io_hup_tick(t, loop);
  T_EQ(t, "reader calls on the socket that shut down its write side", 0,
       r.calls);
  T_EQ(t, "peer reader calls (EOF, level-triggered)", 3, peer.calls);
  T_EQ(t, "peer's read() (0 = EOF)", 0, peer.io);
  T_EQ(t, "remove_reader", 1, OPS->remove_reader(loop, sv[0]));
  T_EQ(t, "remove_reader (peer)", 1, OPS->remove_reader(loop, sv[1]));
  st_free(t, loop);
  t_close(sv[0]);
  t_close(sv[1]);
}
