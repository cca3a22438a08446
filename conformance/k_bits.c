/* k_bits.c — K5: which bits wait() reports on EOF, hang-up, error, shutdown. */
#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "harness.h"

enum { K_BITS_CAP = 16 };

#define K_BITS_EXTRA (EVL_ERR | EVL_HUP | EVL_RDHUP)

/* Writes until the kernel says EAGAIN, so fd is no longer writable. */
static void k_bits_fill(evl_tctx *t, int fd) {
  static char buf[65536];
  for (;;) {
    ssize_t n = write(fd, buf, sizeof buf);
    if (n > 0)
      continue;
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
      return;
    T_FAIL(t, "filling fd %d: %s", fd, n < 0 ? strerror(errno) : "0 bytes");
  }
}

/* Fails unless ev stays within interest plus ERR/HUP/RDHUP. */
static void k_bits_within(evl_tctx *t, const char *what, uint32_t interest,
                          uint32_t ev) {
  uint32_t extra = ev & ~(interest | K_BITS_EXTRA);
  if (extra)
    T_FAIL(t,
           "%s: bits outside interest 0x%x plus ERR/HUP/RDHUP: expected "
           "none, got 0x%x (events 0x%x)",
           what, interest, extra, ev);
}

void test_k5_bits_within_interest(evl_tctx *t) {
  kt_backend kb;
  evl_event out[K_BITS_CAP];
  int sv[2];
  kt_open(t, &kb);
  t_socketpair(t, sv);
  t_write_byte(t, sv[1]); /* sv[0]: readable and writable */
  T_OK(t, "ctl add READ", kb.ops->ctl(kb.state, sv[0], 0, EVL_READ));
  int n = kt_wait(t, &kb, 0, out, K_BITS_CAP);
  uint32_t ev = kt_events_for(out, n, sv[0]);
  T_EQ(t, "READ reported", EVL_READ, ev & EVL_READ);
  k_bits_within(t, "READ interest on a readable+writable socket", EVL_READ, ev);
  T_OK(t, "ctl modify to WRITE",
       kb.ops->ctl(kb.state, sv[0], EVL_READ, EVL_WRITE));
  n = kt_wait(t, &kb, 0, out, K_BITS_CAP);
  ev = kt_events_for(out, n, sv[0]);
  T_EQ(t, "WRITE reported", EVL_WRITE, ev & EVL_WRITE);
  k_bits_within(t, "WRITE interest on a readable+writable socket", EVL_WRITE,
                ev);
  T_OK(t, "ctl delete", kb.ops->ctl(kb.state, sv[0], EVL_WRITE, 0));
  kt_close(&kb);
  t_close(sv[0]);
  t_close(sv[1]);
}

void test_k5_pipe_eof(evl_tctx *t) {
  kt_backend kb;
  evl_event out[K_BITS_CAP];
  int p[2];
  kt_open(t, &kb);
  t_pipe(t, p);
  T_OK(t, "ctl add READ", kb.ops->ctl(kb.state, p[0], 0, EVL_READ));
  t_close(p[1]);
  int n = kt_wait(t, &kb, 0, out, K_BITS_CAP);
  uint32_t ev = kt_events_for(out, n, p[0]);
  T_EQ(t, "READ on a pipe whose writer closed", EVL_READ, ev & EVL_READ);
  k_bits_within(t, "pipe EOF", EVL_READ, ev);
  T_OK(t, "ctl delete", kb.ops->ctl(kb.state, p[0], EVL_READ, 0));
  kt_close(&kb);
  t_close(p[0]);
}

/* The pipe is full, so the only thing the kernel has to say once the reader
 * goes is "error": the backend must turn it into WRITE for the watcher. */
void test_k5_pipe_reader_gone(evl_tctx *t) {
  kt_backend kb;
  evl_event out[K_BITS_CAP];
  int p[2];
  kt_open(t, &kb);
  t_pipe(t, p);
  k_bits_fill(t, p[1]);
  T_OK(t, "ctl add WRITE", kb.ops->ctl(kb.state, p[1], 0, EVL_WRITE));
  int n = kt_wait(t, &kb, 0, out, K_BITS_CAP);
  T_EQ(t, "events on a full pipe (not writable)", 0, n);
  t_close(p[0]);
  n = kt_wait(t, &kb, 0, out, K_BITS_CAP);
  uint32_t ev = kt_events_for(out, n, p[1]);
  T_EQ(t, "WRITE on a full pipe whose reader closed", EVL_WRITE,
       ev & EVL_WRITE);
  k_bits_within(t, "pipe reader gone", EVL_WRITE, ev);
  T_OK(t, "ctl delete", kb.ops->ctl(kb.state, p[1], EVL_WRITE, 0));
  kt_close(&kb);
  t_close(p[1]);
}

/* A writer-only registration must never be told READ, even when the peer
 * closed with data pending both ways (the kernel then says IN|HUP|ERR). */
void test_k5_writer_only_peer_closed(evl_tctx *t) {
  kt_backend kb;
  evl_event out[K_BITS_CAP];
  int sv[2];
  kt_open(t, &kb);
  t_socketpair(t, sv);
  k_bits_fill(t, sv[0]);
  t_write_byte(t, sv[1]); /* sv[0] is readable too */
  T_OK(t, "ctl add WRITE", kb.ops->ctl(kb.state, sv[0], 0, EVL_WRITE));
  int n = kt_wait(t, &kb, 0, out, K_BITS_CAP);
  T_EQ(t, "events while the socket is full", 0, n);
  t_close(sv[1]);
  n = kt_wait(t, &kb, 0, out, K_BITS_CAP);
  uint32_t ev = kt_events_for(out, n, sv[0]);
  T_EQ(t, "READ for a writer-only registration", 0, ev & EVL_READ);
  T_EQ(t, "WRITE once the peer closed", EVL_WRITE, ev & EVL_WRITE);
  k_bits_within(t, "writer-only, peer closed", EVL_WRITE, ev);
  T_OK(t, "ctl delete", kb.ops->ctl(kb.state, sv[0], EVL_WRITE, 0));
  kt_close(&kb);
  t_close(sv[0]);
}

/* The peer shuts down both directions while our send buffer is full: the
 * kernel reports hang-up without OUT; the writer must still hear WRITE. */
void test_k5_hup_wakes_writer(evl_tctx *t) {
  kt_backend kb;
  evl_event out[K_BITS_CAP];
  int sv[2];
  kt_open(t, &kb);
  t_socketpair(t, sv);
  k_bits_fill(t, sv[0]);
  T_OK(t, "ctl add WRITE", kb.ops->ctl(kb.state, sv[0], 0, EVL_WRITE));
  int n = kt_wait(t, &kb, 0, out, K_BITS_CAP);
  T_EQ(t, "events while the socket is full", 0, n);
  if (shutdown(sv[1], SHUT_RDWR) != 0)
    T_FAIL(t, "shutdown: %s", strerror(errno));
  n = kt_wait(t, &kb, 0, out, K_BITS_CAP);
  uint32_t ev = kt_events_for(out, n, sv[0]);
  T_EQ(t, "WRITE after the peer's shutdown(SHUT_RDWR)", EVL_WRITE,
       ev & EVL_WRITE);
  T_EQ(t, "READ for a writer-only registration", 0, ev & EVL_READ);
  T_OK(t, "ctl delete", kb.ops->ctl(kb.state, sv[0], EVL_WRITE, 0));
  kt_close(&kb);
  t_close(sv[0]);
  t_close(sv[1]);
}

void test_k5_reader_only_peer_closed(evl_tctx *t) {
  kt_backend kb;
  evl_event out[K_BITS_CAP];
  int sv[2];
  kt_open(t, &kb);
  t_socketpair(t, sv);
  T_OK(t, "ctl add READ", kb.ops->ctl(kb.state, sv[0], 0, EVL_READ));
  t_close(sv[1]);
  int n = kt_wait(t, &kb, 0, out, K_BITS_CAP);
  uint32_t ev = kt_events_for(out, n, sv[0]);
  T_EQ(t, "READ once the peer closed", EVL_READ, ev & EVL_READ);
  T_EQ(t, "WRITE for a reader-only registration", 0, ev & EVL_WRITE);
  k_bits_within(t, "reader-only, peer closed", EVL_READ, ev);
  T_OK(t, "ctl delete", kb.ops->ctl(kb.state, sv[0], EVL_READ, 0));
  kt_close(&kb);
  t_close(sv[0]);
}

/* Our own shutdown(SHUT_WR) ends what we send, not what we receive: no READ
 * for us, while the peer does see EOF (so the shutdown really happened). */
void test_k5_local_shutdown_no_read(evl_tctx *t) {
  kt_backend kb;
  evl_event out[K_BITS_CAP];
  int sv[2];
  kt_open(t, &kb);
  t_socketpair(t, sv);
  T_OK(t, "ctl add READ", kb.ops->ctl(kb.state, sv[0], 0, EVL_READ));
  T_OK(t, "ctl add READ (peer)", kb.ops->ctl(kb.state, sv[1], 0, EVL_READ));
  if (shutdown(sv[0], SHUT_WR) != 0)
    T_FAIL(t, "shutdown: %s", strerror(errno));
  for (int i = 0; i < 2; i++) {
    int n = kt_wait(t, &kb, i ? 10000000 : 0, out, K_BITS_CAP);
    T_EQ(t, "READ on the socket that shut down its own write side", 0,
         kt_events_for(out, n, sv[0]) & EVL_READ);
    T_EQ(t, "READ (EOF) on the peer", EVL_READ,
         kt_events_for(out, n, sv[1]) & EVL_READ);
  }
  T_OK(t, "ctl delete", kb.ops->ctl(kb.state, sv[0], EVL_READ, 0));
  T_OK(t, "ctl delete (peer)", kb.ops->ctl(kb.state, sv[1], EVL_READ, 0));
  kt_close(&kb);
  t_close(sv[0]);
  t_close(sv[1]);
}

void test_k5_rdhup(evl_tctx *t) {
  kt_backend kb;
  evl_event out[K_BITS_CAP];
  int sv[2];
  kt_open(t, &kb);
  t_socketpair(t, sv);
  T_OK(t, "ctl add READ", kb.ops->ctl(kb.state, sv[0], 0, EVL_READ));
  int n = kt_wait(t, &kb, 0, out, K_BITS_CAP);
  T_EQ(t, "RDHUP before the peer shut down", 0,
       kt_events_for(out, n, sv[0]) & EVL_RDHUP);
  if (shutdown(sv[1], SHUT_WR) != 0)
    T_FAIL(t, "shutdown: %s", strerror(errno));
  n = kt_wait(t, &kb, 0, out, K_BITS_CAP);
  uint32_t ev = kt_events_for(out, n, sv[0]);
  T_EQ(t, "RDHUP after the peer's shutdown(SHUT_WR)", EVL_RDHUP,
       ev & EVL_RDHUP);
  T_EQ(t, "READ with the RDHUP", EVL_READ, ev & EVL_READ);
  T_OK(t, "ctl delete", kb.ops->ctl(kb.state, sv[0], EVL_READ, 0));
  kt_close(&kb);
  t_close(sv[0]);
  t_close(sv[1]);
}

/* K5 with the backend's own fds in play: every entry is a registered fd,
 * once, with bits within its interest, also in a wait that a wake() ended
 * — never the backend's wakeup fd, and nothing from past the count it
 * returns (out[] is poisoned before each wait: fd 0xa5a5a5a5). */
static void k_bits_entries(evl_tctx *t, const char *what, const evl_event *out,
                           int n, const int *fds, int nfds) {
  for (int i = 0; i < n; i++) {
    int known = 0;
    for (int j = 0; j < nfds; j++)
      known |= out[i].fd == fds[j];
    if (!known)
      T_FAIL(t, "%s: entry %d of %d is fd %d, not a registered fd (%d, %d)",
             what, i, n, out[i].fd, fds[0], fds[1]);
    for (int j = 0; j < i; j++)
      if (out[j].fd == out[i].fd)
        T_FAIL(t, "%s: fd %d has entries %d and %d: expected one", what,
               out[i].fd, j, i);
    k_bits_within(t, what, EVL_READ, out[i].events);
  }
}

void test_k5_entries_registered(evl_tctx *t) {
  kt_backend kb;
  evl_event out[K_BITS_CAP];
  int a[2], b[2];
  kt_open(t, &kb);
  t_pipe(t, a);
  t_pipe(t, b);
  int fds[2] = {a[0], b[0]};
  T_OK(t, "ctl add READ (a)", kb.ops->ctl(kb.state, a[0], 0, EVL_READ));
  T_OK(t, "ctl add READ (b)", kb.ops->ctl(kb.state, b[0], 0, EVL_READ));
  t_write_byte(t, b[1]);
  for (int round = 0; round < 4; round++) {
    /* rounds 0-1: b ready; 2-3: nothing ready but the wake() */
    if (round == 2)
      t_drain(b[0]);
    if (kb.ops->wake)
      T_RC(t, "wake()", 0, kb.ops->wake(kb.state));
    else if (round >= 2)
      break;
    memset(out, 0xa5, sizeof out);
    /* wait(0): a lost wake() is K2's to catch, not a hang here */
    int n = kt_wait(t, &kb, 0, out, K_BITS_CAP);
    k_bits_entries(t, round < 2 ? "b ready, wake() called" : "after wake()",
                   out, n, fds, 2);
    if (round < 2)
      T_EQ(t, "READ on the ready fd", EVL_READ,
           kt_events_for(out, n, b[0]) & EVL_READ);
  }
  T_OK(t, "ctl delete (a)", kb.ops->ctl(kb.state, a[0], EVL_READ, 0));
  T_OK(t, "ctl delete (b)", kb.ops->ctl(kb.state, b[0], EVL_READ, 0));
  kt_close(&kb);
  t_close(a[0]);
  t_close(a[1]);
  t_close(b[0]);
  t_close(b[1]);
}
