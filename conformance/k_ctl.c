/* k_ctl.c — K1: ctl add/modify/delete return codes and what they change. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#include "harness.h"

enum { K_CTL_CAP = 16 };

/* Moves `fd` onto number `want` (which must be free) so a test can reuse a
 * number deterministically. */
static int k_ctl_renumber(evl_tctx *t, int fd, int want) {
  if (fd == want)
    return fd;
  if (dup3(fd, want, O_CLOEXEC) != want)
    T_FAIL(t, "dup3(%d, %d) failed", fd, want);
  close(fd);
  return want;
}

void test_k1_add_modify_delete(evl_tctx *t) {
  kt_backend kb;
  evl_event out[K_CTL_CAP];
  int sv[2];
  kt_open(t, &kb);
  t_socketpair(t, sv);
  void *st = kb.state;
  T_RC(t, "ctl add READ", 0, kb.ops->ctl(st, sv[0], 0, EVL_READ));
  T_RC(t, "ctl modify READ -> READ|WRITE", 0,
       kb.ops->ctl(st, sv[0], EVL_READ, EVL_READ | EVL_WRITE));
  T_RC(t, "ctl modify READ|WRITE -> WRITE", 0,
       kb.ops->ctl(st, sv[0], EVL_READ | EVL_WRITE, EVL_WRITE));
  T_RC(t, "ctl delete WRITE -> 0", 0, kb.ops->ctl(st, sv[0], EVL_WRITE, 0));
  int n = kt_wait(t, &kb, 0, out, K_CTL_CAP);
  T_EQ(t, "events after the only fd was deleted", 0, n);
  T_RC(t, "ctl add again after delete", 0,
       kb.ops->ctl(st, sv[0], 0, EVL_WRITE));
  n = kt_wait(t, &kb, 0, out, K_CTL_CAP);
  T_EQ(t, "WRITE reported after re-adding a writable socket", EVL_WRITE,
       kt_events_for(out, n, sv[0]) & EVL_WRITE);
  T_RC(t, "ctl delete", 0, kb.ops->ctl(st, sv[0], EVL_WRITE, 0));
  kt_close(&kb);
  t_close(sv[0]);
  t_close(sv[1]);
}

void test_k1_delete_unregistered(evl_tctx *t) {
  kt_backend kb;
  int p[2];
  kt_open(t, &kb);
  t_pipe(t, p);
  void *st = kb.state;
  T_RC(t, "delete of an fd never registered", -ENOENT,
       kb.ops->ctl(st, p[0], EVL_READ, 0));
  T_RC(t, "ctl add READ", 0, kb.ops->ctl(st, p[0], 0, EVL_READ));
  T_RC(t, "ctl delete", 0, kb.ops->ctl(st, p[0], EVL_READ, 0));
  T_RC(t, "second delete of the same fd", -ENOENT,
       kb.ops->ctl(st, p[0], EVL_READ, 0));
  kt_close(&kb);
  t_close(p[0]);
  t_close(p[1]);
}

void test_k1_invalid_fd(evl_tctx *t) {
  kt_backend kb;
  evl_event out[K_CTL_CAP];
  int p[2], q[2];
  kt_open(t, &kb);
  void *st = kb.state;
  T_RC(t, "ctl add of fd -1", -EBADF, kb.ops->ctl(st, -1, 0, EVL_READ));
  t_pipe(t, p);
  int num = p[0];
  t_close(p[0]);
  t_close(p[1]);
  T_RC(t, "ctl add READ of a closed fd", -EBADF,
       kb.ops->ctl(st, num, 0, EVL_READ));
  T_RC(t, "ctl add WRITE of a closed fd", -EBADF,
       kb.ops->ctl(st, num, 0, EVL_WRITE));
  /* Nothing may be left registered: give the number a ready pipe and look. */
  t_pipe(t, q);
  q[0] = k_ctl_renumber(t, q[0], num);
  t_write_byte(t, q[1]);
  int n = kt_wait(t, &kb, 0, out, K_CTL_CAP);
  T_EQ(t, "events for the refused fd number once reused", 0,
       kt_events_for(out, n, num));
  T_EQ(t, "event count with nothing registered", 0, n);
  T_RC(t, "delete of the refused fd number", -ENOENT,
       kb.ops->ctl(st, num, EVL_READ, 0));
  kt_close(&kb);
  t_close(q[0]);
  t_close(q[1]);
}

void test_k1_modify_changes_bits(evl_tctx *t) {
  kt_backend kb;
  evl_event out[K_CTL_CAP];
  int sv[2];
  kt_open(t, &kb);
  t_socketpair(t, sv);
  void *st = kb.state;
  t_write_byte(t, sv[1]); /* sv[0] is now readable and writable */
  T_OK(t, "ctl add READ", kb.ops->ctl(st, sv[0], 0, EVL_READ));
  int n = kt_wait(t, &kb, 0, out, K_CTL_CAP);
  uint32_t ev = kt_events_for(out, n, sv[0]);
  T_EQ(t, "READ with READ interest", EVL_READ, ev & EVL_READ);
  T_EQ(t, "WRITE with READ interest", 0, ev & EVL_WRITE);

  T_OK(t, "ctl modify READ -> WRITE",
       kb.ops->ctl(st, sv[0], EVL_READ, EVL_WRITE));
  n = kt_wait(t, &kb, 0, out, K_CTL_CAP);
  ev = kt_events_for(out, n, sv[0]);
  T_EQ(t, "WRITE with WRITE interest", EVL_WRITE, ev & EVL_WRITE);
  T_EQ(t, "READ with WRITE interest", 0, ev & EVL_READ);

  T_OK(t, "ctl modify WRITE -> READ|WRITE",
       kb.ops->ctl(st, sv[0], EVL_WRITE, EVL_READ | EVL_WRITE));
  n = kt_wait(t, &kb, 0, out, K_CTL_CAP);
  ev = kt_events_for(out, n, sv[0]);
  T_EQ(t, "READ|WRITE with READ|WRITE interest", EVL_READ | EVL_WRITE,
       ev & (EVL_READ | EVL_WRITE));

  T_OK(t, "ctl modify READ|WRITE -> READ",
       kb.ops->ctl(st, sv[0], EVL_READ | EVL_WRITE, EVL_READ));
  n = kt_wait(t, &kb, 0, out, K_CTL_CAP);
  ev = kt_events_for(out, n, sv[0]);
  T_EQ(t, "WRITE after narrowing interest back to READ", 0, ev & EVL_WRITE);
  T_OK(t, "ctl delete", kb.ops->ctl(st, sv[0], EVL_READ, 0));
  kt_close(&kb);
  t_close(sv[0]);
  t_close(sv[1]);
}

/* Regular files: backends with EVL_BF_FILES accept them as always ready;
 * the others refuse the add and keep nothing (epoll says EPERM). */
void test_k1_regular_file(evl_tctx *t) {
  kt_backend kb;
  evl_event out[K_CTL_CAP];
  char path[] = "/tmp/evl-k1-XXXXXX";
  int f = mkostemp(path, O_CLOEXEC);
  if (f < 0)
    T_FAIL(t, "mkostemp failed");
  unlink(path);
  if (write(f, "data", 4) != 4)
    T_FAIL(t, "write to the regular file failed");
  kt_open(t, &kb);
  void *st = kb.state;
  int rc = kb.ops->ctl(st, f, 0, EVL_READ);
  if (kb.ops->features & EVL_BF_FILES) {
    T_RC(t, "ctl add READ of a regular file (backend has FILES)", 0, rc);
    int n = kt_wait(t, &kb, 0, out, K_CTL_CAP);
    T_EQ(t, "regular file reported readable", EVL_READ,
         kt_events_for(out, n, f) & EVL_READ);
    T_RC(t, "ctl modify to READ|WRITE", 0,
         kb.ops->ctl(st, f, EVL_READ, EVL_READ | EVL_WRITE));
    n = kt_wait(t, &kb, 0, out, K_CTL_CAP);
    T_EQ(t, "regular file reported readable and writable", EVL_READ | EVL_WRITE,
         kt_events_for(out, n, f) & (EVL_READ | EVL_WRITE));
    T_RC(t, "ctl delete", 0, kb.ops->ctl(st, f, EVL_READ | EVL_WRITE, 0));
  } else {
    T_TRUE(t, "ctl add of a regular file refused (backend lacks FILES)",
           rc < 0);
    int n = kt_wait(t, &kb, 0, out, K_CTL_CAP);
    T_EQ(t, "events for a refused regular file", 0, kt_events_for(out, n, f));
    T_EQ(t, "event count with nothing registered", 0, n);
    /* A second add must fail the same way, not with "already there". */
    T_RC(t, "second ctl add of the regular file", rc,
         kb.ops->ctl(st, f, 0, EVL_READ));
  }
  kt_close(&kb);
  close(f);
}
