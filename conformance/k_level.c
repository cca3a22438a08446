/* k_level.c — K3 level-triggered reports, K4 fairness under a small cap. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"

enum { K_LEVEL_CAP = 16 };

void test_k3_read_reported_again(evl_tctx *t) {
  kt_backend kb;
  evl_event out[K_LEVEL_CAP];
  int p[2];
  char c;
  kt_open(t, &kb);
  t_pipe(t, p);
  T_OK(t, "ctl add READ", kb.ops->ctl(kb.state, p[0], 0, EVL_READ));
  t_write_byte(t, p[1]);
  t_write_byte(t, p[1]);
  for (int i = 0; i < 3; i++) {
    int n = kt_wait(t, &kb, i == 2 ? 100000000 : 0, out, K_LEVEL_CAP);
    T_EQ(t, "READ reported again while data is unread", EVL_READ,
         kt_events_for(out, n, p[0]) & EVL_READ);
  }
  if (read(p[0], &c, 1) != 1)
    T_FAIL(t, "read one byte failed");
  int n = kt_wait(t, &kb, 0, out, K_LEVEL_CAP);
  T_EQ(t, "READ reported after a partial read", EVL_READ,
       kt_events_for(out, n, p[0]) & EVL_READ);
  if (read(p[0], &c, 1) != 1)
    T_FAIL(t, "read second byte failed");
  n = kt_wait(t, &kb, 0, out, K_LEVEL_CAP);
  T_EQ(t, "events once the pipe is drained", 0, n);
  T_OK(t, "ctl delete", kb.ops->ctl(kb.state, p[0], EVL_READ, 0));
  kt_close(&kb);
  t_close(p[0]);
  t_close(p[1]);
}

void test_k3_write_reported_again(evl_tctx *t) {
  kt_backend kb;
  evl_event out[K_LEVEL_CAP];
  int sv[2];
  kt_open(t, &kb);
  t_socketpair(t, sv);
  T_OK(t, "ctl add WRITE", kb.ops->ctl(kb.state, sv[0], 0, EVL_WRITE));
  for (int i = 0; i < 3; i++) {
    int n = kt_wait(t, &kb, 0, out, K_LEVEL_CAP);
    T_EQ(t, "WRITE reported again while writable", EVL_WRITE,
         kt_events_for(out, n, sv[0]) & EVL_WRITE);
  }
  T_OK(t, "ctl delete", kb.ops->ctl(kb.state, sv[0], EVL_WRITE, 0));
  kt_close(&kb);
  t_close(sv[0]);
  t_close(sv[1]);
}

/* nready readable pipes, waits with `cap`: every fd must be seen within
 * ceil(nready / cap) * 2 waits, each wait within cap, one entry per fd. */
static void k_level_cover(evl_tctx *t, int nready, int cap) {
  kt_backend kb;
  int *fds = calloc((size_t)nready * 2, sizeof *fds);
  int *seen = calloc((size_t)nready, sizeof *seen);
  evl_event *out = calloc((size_t)cap, sizeof *out);
  if (!fds || !seen || !out)
    T_FAIL(t, "out of memory");
  kt_open(t, &kb);
  for (int i = 0; i < nready; i++) {
    t_pipe(t, &fds[2 * i]);
    T_OK(t, "ctl add READ", kb.ops->ctl(kb.state, fds[2 * i], 0, EVL_READ));
    t_write_byte(t, fds[2 * i + 1]);
  }
  int budget = (nready + cap - 1) / cap * 2, nseen = 0, waits = 0;
  while (nseen < nready && waits < budget) {
    int n = kt_wait(t, &kb, 0, out, cap);
    waits++;
    T_GE(t, "events from wait(0) with every fd ready", 1, n);
    for (int j = 0; j < n; j++) {
      int idx = -1;
      for (int i = 0; i < nready; i++)
        if (fds[2 * i] == out[j].fd)
          idx = i;
      if (idx < 0)
        T_FAIL(t, "wait reported fd %d, which is not registered", out[j].fd);
      for (int k = 0; k < j; k++)
        if (out[k].fd == out[j].fd)
          T_FAIL(t, "fd %d reported twice in one wait", out[j].fd);
      if (!seen[idx]++)
        nseen++;
    }
  }
  if (nseen < nready)
    T_FAIL(t, "ready fds seen within %d waits of cap %d: expected %d, got %d",
           budget, cap, nready, nseen);
  for (int i = 0; i < nready; i++) {
    T_OK(t, "ctl delete", kb.ops->ctl(kb.state, fds[2 * i], EVL_READ, 0));
    t_close(fds[2 * i]);
    t_close(fds[2 * i + 1]);
  }
  kt_close(&kb);
  free(fds);
  free(seen);
  free(out);
}

void test_k4_no_starvation(evl_tctx *t) {
  k_level_cover(t, 64, 8);
}

void test_k4_cap_one(evl_tctx *t) {
  k_level_cover(t, 5, 1);
}

void test_k4_one_entry_per_fd(evl_tctx *t) {
  kt_backend kb;
  evl_event out[K_LEVEL_CAP];
  int sv[2];
  kt_open(t, &kb);
  t_socketpair(t, sv);
  t_write_byte(t, sv[1]);
  T_OK(t, "ctl add READ|WRITE",
       kb.ops->ctl(kb.state, sv[0], 0, EVL_READ | EVL_WRITE));
  int n = kt_wait(t, &kb, 0, out, K_LEVEL_CAP);
  T_EQ(t, "entries for one fd both readable and writable", 1, n);
  T_EQ(t, "the entry's fd", sv[0], out[0].fd);
  T_EQ(t, "the entry carries both directions", EVL_READ | EVL_WRITE,
       out[0].events & (EVL_READ | EVL_WRITE));
  T_OK(t, "ctl delete", kb.ops->ctl(kb.state, sv[0], EVL_READ | EVL_WRITE, 0));
  kt_close(&kb);
  t_close(sv[0]);
  t_close(sv[1]);
}

/* EVL_ET where featured: one report per new arrival, not per wait. */
void test_k3_edge_triggered(evl_tctx *t) {
  kt_backend kb;
  evl_event out[K_LEVEL_CAP];
  int p[2];
  kt_open(t, &kb);
  t_pipe(t, p);
  T_OK(t, "ctl add READ|ET", kb.ops->ctl(kb.state, p[0], 0, EVL_READ | EVL_ET));
  t_write_byte(t, p[1]);
  int n = kt_wait(t, &kb, 0, out, K_LEVEL_CAP);
  T_EQ(t, "READ for the first arrival", EVL_READ,
       kt_events_for(out, n, p[0]) & EVL_READ);
  n = kt_wait(t, &kb, 0, out, K_LEVEL_CAP);
  T_EQ(t, "events again with no new data (edge-triggered)", 0,
       kt_events_for(out, n, p[0]));
  t_write_byte(t, p[1]);
  n = kt_wait(t, &kb, 0, out, K_LEVEL_CAP);
  T_EQ(t, "READ for a second arrival", EVL_READ,
       kt_events_for(out, n, p[0]) & EVL_READ);
  T_OK(t, "ctl delete", kb.ops->ctl(kb.state, p[0], EVL_READ | EVL_ET, 0));
  kt_close(&kb);
  t_close(p[0]);
  t_close(p[1]);
}

/* EVL_ONESHOT where featured: one report, silence until re-armed by a
 * modify with the same mask. */
void test_k3_oneshot(evl_tctx *t) {
  kt_backend kb;
  evl_event out[K_LEVEL_CAP];
  int p[2];
  const unsigned m = EVL_READ | EVL_ONESHOT;
  kt_open(t, &kb);
  t_pipe(t, p);
  T_OK(t, "ctl add READ|ONESHOT", kb.ops->ctl(kb.state, p[0], 0, m));
  t_write_byte(t, p[1]);
  int n = kt_wait(t, &kb, 0, out, K_LEVEL_CAP);
  T_EQ(t, "READ once armed", EVL_READ, kt_events_for(out, n, p[0]) & EVL_READ);
  t_write_byte(t, p[1]);
  n = kt_wait(t, &kb, 0, out, K_LEVEL_CAP);
  T_EQ(t, "events after the one shot fired", 0, kt_events_for(out, n, p[0]));
  T_OK(t, "ctl re-arm (modify, same mask)", kb.ops->ctl(kb.state, p[0], m, m));
  n = kt_wait(t, &kb, 0, out, K_LEVEL_CAP);
  T_EQ(t, "READ after re-arming with data unread", EVL_READ,
       kt_events_for(out, n, p[0]) & EVL_READ);
  T_OK(t, "ctl delete", kb.ops->ctl(kb.state, p[0], m, 0));
  kt_close(&kb);
  t_close(p[0]);
  t_close(p[1]);
}
