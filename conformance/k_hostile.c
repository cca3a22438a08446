/* k_hostile.c — K12: fds a backend cannot watch get an error, never an
 * abort(), an exit() or a line on stderr, whatever the wrapped library
 * would do with them. */
#include <errno.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "t_hostile.h"

enum { K12_CAP = 16 };

/* Add, wait, delete: any return code is allowed, only dying is not. */
static void k12_try_fd(kt_backend *kb, int fd) {
  evl_event out[K12_CAP];
  int rc = kb->ops->ctl(kb->state, fd, 0, EVL_READ);
  (void)kb->ops->wait(kb->state, 0, out, K12_CAP);
  if (rc == 0)
    (void)kb->ops->ctl(kb->state, fd, EVL_READ, 0);
  (void)kb->ops->wait(kb->state, 0, out, K12_CAP);
}

void test_k12_unwatchable_kinds(evl_tctx *t) {
  kt_backend kb;
  kt_open(t, &kb);
  int fds[3] = {open("/tmp", O_PATH | O_CLOEXEC),
                open("/dev/null", O_RDONLY | O_CLOEXEC),
                open("/tmp", O_RDONLY | O_DIRECTORY | O_CLOEXEC)};
  for (int i = 0; i < 3; i++)
    if (fds[i] < 0)
      T_FAIL(t, "opening test file %d: errno %d", i, errno);
  int saved = hostile_quiet_begin(t);
  for (int i = 0; i < 3; i++)
    k12_try_fd(&kb, fds[i]);
  long printed = hostile_quiet_end(saved);
  T_EQ(t, "bytes printed to stderr for an O_PATH fd, /dev/null, a directory", 0,
       printed);
  for (int i = 0; i < 3; i++)
    t_close(fds[i]);
  kt_close(&kb);
}

void test_k12_own_fds(evl_tctx *t) {
  hostile_fds before, after;
  hostile_fds_snap(&before);
  kt_backend kb;
  kt_open(t, &kb);
  hostile_fds_snap(&after);
  int own[HOSTILE_MAX_FDS];
  int n = hostile_fds_new(&before, &after, own, HOSTILE_MAX_FDS);
  int saved = hostile_quiet_begin(t);
  for (int i = 0; i < n; i++)
    k12_try_fd(&kb, own[i]);
  long printed = hostile_quiet_end(saved);
  T_EQ(t, "bytes printed to stderr when adding the backend's own fds", 0,
       printed);
  /* Still usable afterwards. */
  int p[2];
  t_pipe(t, p);
  evl_event out[K12_CAP];
  T_OK(t, "ctl add READ after the hostile adds",
       kb.ops->ctl(kb.state, p[0], 0, EVL_READ));
  t_write_byte(t, p[1]);
  int got = kt_wait(t, &kb, 0, out, K12_CAP);
  T_EQ(t, "READ on a pipe after the hostile adds", EVL_READ,
       kt_events_for(out, got, p[0]) & EVL_READ);
  T_OK(t, "ctl delete", kb.ops->ctl(kb.state, p[0], EVL_READ, 0));
  t_close(p[0]);
  t_close(p[1]);
  kt_close(&kb);
}

/* Misuse the contract allows to fail but not to kill: a registered fd
 * closed before the backend's next wait, right after its add and right
 * after a modification. */
void test_k12_closed_before_wait(evl_tctx *t) {
  kt_backend kb;
  kt_open(t, &kb);
  evl_event out[K12_CAP];
  int a[2], b[2];
  t_socketpair(t, a);
  t_socketpair(t, b);
  int saved = hostile_quiet_begin(t);
  int rc_a = kb.ops->ctl(kb.state, a[0], 0, EVL_READ);
  close(a[0]);
  int w1 = kb.ops->wait(kb.state, 0, out, K12_CAP);
  int rc_b = kb.ops->ctl(kb.state, b[0], 0, EVL_READ);
  int w2 = kb.ops->wait(kb.state, 0, out, K12_CAP);
  int rc_m = kb.ops->ctl(kb.state, b[0], EVL_READ, EVL_READ | EVL_WRITE);
  close(b[0]);
  int w3 = kb.ops->wait(kb.state, 0, out, K12_CAP);
  int w4 = kb.ops->wait(kb.state, 0, out, K12_CAP);
  (void)kb.ops->ctl(kb.state, a[0], EVL_READ, 0);
  (void)kb.ops->ctl(kb.state, b[0], EVL_READ | EVL_WRITE, 0);
  long printed = hostile_quiet_end(saved);
  T_OK(t, "ctl add of the first socket", rc_a);
  T_OK(t, "ctl add of the second socket", rc_b);
  T_OK(t, "ctl modify of the second socket", rc_m);
  /* The closed fd is the caller's mistake, not a failed wait. */
  T_GE(t, "wait after closing a just-added fd", 0, w1);
  T_GE(t, "wait before closing (nothing wrong yet)", 0, w2);
  T_GE(t, "wait after closing a just-modified fd", 0, w3);
  T_GE(t, "the wait after that", 0, w4);
  T_EQ(t, "bytes printed to stderr", 0, printed);
  t_close(a[1]);
  t_close(b[1]);
  kt_close(&kb);
}
