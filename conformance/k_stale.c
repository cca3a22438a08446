/* k_stale.c — K6: no event for a deleted fd, also in flight or reused. */
#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

#include "harness.h"

enum { K_STALE_CAP = 16 };

/* A fresh pipe whose read end has number `want` (free by now). */
static void k_stale_pipe_at(evl_tctx *t, int p[2], int want) {
  t_pipe(t, p);
  if (p[0] == want)
    return;
  if (p[1] == want) { /* swap the ends' numbers through a spare */
    int spare = fcntl(p[1], F_DUPFD_CLOEXEC, 0);
    if (spare < 0)
      T_FAIL(t, "F_DUPFD failed");
    close(p[1]);
    p[1] = spare;
  }
  if (dup3(p[0], want, O_CLOEXEC) != want)
    T_FAIL(t, "dup3(%d, %d) failed", p[0], want);
  close(p[0]);
  p[0] = want;
}

static void k_stale_expect_none(evl_tctx *t, kt_backend *kb, int fd,
                                const char *what) {
  evl_event out[K_STALE_CAP];
  for (int i = 0; i < 3; i++) {
    int n = kt_wait(t, kb, i == 2 ? 10000000 : 0, out, K_STALE_CAP);
    uint32_t ev = kt_events_for(out, n, fd);
    if (ev)
      T_FAIL(t, "%s: events for fd %d: expected 0, got 0x%x (wait %d)", what,
             fd, ev, i + 1);
  }
}

void test_k6_no_event_after_delete(evl_tctx *t) {
  kt_backend kb;
  evl_event out[K_STALE_CAP];
  int p[2];
  kt_open(t, &kb);
  t_pipe(t, p);
  t_write_byte(t, p[1]);
  T_OK(t, "ctl add READ", kb.ops->ctl(kb.state, p[0], 0, EVL_READ));
  int n = kt_wait(t, &kb, 0, out, K_STALE_CAP);
  T_EQ(t, "READ before delete", EVL_READ,
       kt_events_for(out, n, p[0]) & EVL_READ);
  T_OK(t, "ctl delete", kb.ops->ctl(kb.state, p[0], EVL_READ, 0));
  k_stale_expect_none(t, &kb, p[0], "deleted fd with unread data");
  kt_close(&kb);
  t_close(p[0]);
  t_close(p[1]);
}

/* Data arrives after the registration reached the kernel and the fd is
 * deleted before the next wait: a completion may already be queued. */
void test_k6_delete_inflight(evl_tctx *t) {
  kt_backend kb;
  evl_event out[K_STALE_CAP];
  int a[2], b[2];
  kt_open(t, &kb);
  t_pipe(t, a);
  t_pipe(t, b);
  T_OK(t, "ctl add READ a", kb.ops->ctl(kb.state, a[0], 0, EVL_READ));
  T_OK(t, "ctl add READ b", kb.ops->ctl(kb.state, b[0], 0, EVL_READ));
  T_EQ(t, "events with nothing written", 0,
       kt_wait(t, &kb, 0, out, K_STALE_CAP));
  t_write_byte(t, a[1]);
  t_write_byte(t, b[1]);
  T_OK(t, "ctl delete a", kb.ops->ctl(kb.state, a[0], EVL_READ, 0));
  int n = kt_wait(t, &kb, 0, out, K_STALE_CAP);
  T_EQ(t, "events for the deleted fd", 0, kt_events_for(out, n, a[0]));
  T_EQ(t, "READ for the fd still registered", EVL_READ,
       kt_events_for(out, n, b[0]) & EVL_READ);
  k_stale_expect_none(t, &kb, a[0], "fd deleted with a completion in flight");
  T_OK(t, "ctl delete b", kb.ops->ctl(kb.state, b[0], EVL_READ, 0));
  kt_close(&kb);
  t_close(a[0]);
  t_close(a[1]);
  t_close(b[0]);
  t_close(b[1]);
}

/* Orderly reuse: delete, forget_fd, close, a new pipe gets the number. */
void test_k6_reuse_number(evl_tctx *t) {
  kt_backend kb;
  evl_event out[K_STALE_CAP];
  int p[2], q[2];
  kt_open(t, &kb);
  t_pipe(t, p);
  int num = p[0];
  t_write_byte(t, p[1]);
  T_OK(t, "ctl add READ", kb.ops->ctl(kb.state, num, 0, EVL_READ));
  int n = kt_wait(t, &kb, 0, out, K_STALE_CAP);
  T_EQ(t, "READ before delete", EVL_READ,
       kt_events_for(out, n, num) & EVL_READ);
  T_OK(t, "ctl delete", kb.ops->ctl(kb.state, num, EVL_READ, 0));
  if (kb.ops->forget_fd)
    T_OK(t, "forget_fd", kb.ops->forget_fd(kb.state, num));
  t_close(p[0]);
  t_close(p[1]);
  k_stale_pipe_at(t, q, num);
  k_stale_expect_none(t, &kb, num, "reused number, not registered");
  T_OK(t, "ctl add READ (new pipe)", kb.ops->ctl(kb.state, num, 0, EVL_READ));
  k_stale_expect_none(t, &kb, num, "reused number, new empty pipe");
  t_write_byte(t, q[1]);
  n = kt_wait(t, &kb, 0, out, K_STALE_CAP);
  T_EQ(t, "READ for the new pipe once written", EVL_READ,
       kt_events_for(out, n, num) & EVL_READ);
  T_OK(t, "ctl delete", kb.ops->ctl(kb.state, num, EVL_READ, 0));
  kt_close(&kb);
  t_close(q[0]);
  t_close(q[1]);
}

/* The number is closed and reopened between two waits with the old fd's
 * readiness possibly in flight, and without forget_fd (as when a user
 * closes an fd the core only saw removed). */
void test_k6_reuse_inflight(evl_tctx *t) {
  kt_backend kb;
  evl_event out[K_STALE_CAP];
  int p[2], q[2];
  kt_open(t, &kb);
  t_pipe(t, p);
  int num = p[0];
  T_OK(t, "ctl add READ", kb.ops->ctl(kb.state, num, 0, EVL_READ));
  T_EQ(t, "events with nothing written", 0,
       kt_wait(t, &kb, 0, out, K_STALE_CAP));
  t_write_byte(t, p[1]);
  T_OK(t, "ctl delete", kb.ops->ctl(kb.state, num, EVL_READ, 0));
  t_close(p[0]);
  t_close(p[1]);
  k_stale_pipe_at(t, q, num);
  T_OK(t, "ctl add READ (new pipe, same number)",
       kb.ops->ctl(kb.state, num, 0, EVL_READ));
  k_stale_expect_none(t, &kb, num, "new empty pipe on a reused number");
  t_write_byte(t, q[1]);
  int n = kt_wait(t, &kb, 0, out, K_STALE_CAP);
  T_EQ(t, "READ for the new pipe once written", EVL_READ,
       kt_events_for(out, n, num) & EVL_READ);
  T_OK(t, "ctl delete", kb.ops->ctl(kb.state, num, EVL_READ, 0));
  kt_close(&kb);
  t_close(q[0]);
  t_close(q[1]);
}

/* The fd is closed before its delete while a dup keeps the open file alive:
 * the kernel may still hold a registration the number can no longer name
 * (epoll). No event may surface for it, and it must not cut waits short —
 * a wait that returns 0 events early makes the core spin. */
void test_k6_delete_after_close_dup(evl_tctx *t) {
  kt_backend kb;
  evl_event out[K_STALE_CAP];
  int p[2];
  kt_open(t, &kb);
  t_pipe(t, p);
  int num = p[0];
  T_OK(t, "ctl add READ", kb.ops->ctl(kb.state, num, 0, EVL_READ));
  T_EQ(t, "events with nothing written", 0,
       kt_wait(t, &kb, 0, out, K_STALE_CAP));
  int d = fcntl(num, F_DUPFD_CLOEXEC, 0);
  if (d < 0)
    T_FAIL(t, "dup failed");
  t_close(num);
  /* K1: the delete may fail, with -EBADF (the number is closed) or -ENOENT
   * (the backend no longer counts it registered), as in k_reuse.c. */
  int rc = kb.ops->ctl(kb.state, num, EVL_READ, 0);
  if (rc != 0 && rc != -EBADF && rc != -ENOENT)
    T_FAIL(t,
           "ctl delete of a closed fd: expected 0, -EBADF or -ENOENT, got %d "
           "(%s)",
           rc, evl_strerror(rc));
  t_write_byte(t, p[1]); /* the open file, alive through d, is readable */
  k_stale_expect_none(t, &kb, num, "fd closed before its delete, dup alive");
  uint64_t t0 = t_now();
  int n = kt_wait(t, &kb, 20000000, out, K_STALE_CAP);
  uint64_t el = t_now() - t0;
  T_EQ(t, "events from wait(20 ms) with nothing registered", 0, n);
  if (el < 20000000)
    T_FAIL(t,
           "wait(20 ms) with nothing registered: expected >= 20000000 ns, "
           "returned after %llu ns (a stale kernel registration woke it)",
           (unsigned long long)el);
  kt_close(&kb);
  t_close(d);
  t_close(p[1]);
}
