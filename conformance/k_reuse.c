/* k_reuse.c — K1/K6 with fd numbers reused under a backend: a delete that
 * failed and the same file re-added, a dead registration under a reused
 * number, readiness held back between waits for fds then deleted and
 * reused, deleting below the highest registered fd; K2: no spin inside a
 * wait. */
#include <errno.h>
#include <fcntl.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"

enum { KR_CAP = 32 };

/* A fresh pipe whose read end has number `want` (free by now). */
static void kr_pipe_at(evl_tctx *t, int p[2], int want) {
  t_pipe(t, p);
  if (p[0] == want)
    return;
  if (p[1] == want) {
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

/* Three waits (two at once, one of 10 ms): fd never reported. */
static void kr_expect_none(evl_tctx *t, kt_backend *kb, int fd,
                           const char *what) {
  evl_event out[KR_CAP];
  for (int i = 0; i < 3; i++) {
    int n = kt_wait(t, kb, i == 2 ? 10000000 : 0, out, KR_CAP);
    uint32_t ev = kt_events_for(out, n, fd);
    if (ev)
      T_FAIL(t, "%s: events for fd %d: expected 0, got 0x%x (wait %d)", what,
             fd, ev, i + 1);
  }
}

/* Up to `waits` waits at once; returns the bits seen for fd. */
static uint32_t kr_seen(evl_tctx *t, kt_backend *kb, int fd, int waits) {
  evl_event out[KR_CAP];
  uint32_t seen = 0;
  for (int i = 0; i < waits && !seen; i++) {
    int n = kt_wait(t, kb, 0, out, KR_CAP);
    seen |= kt_events_for(out, n, fd);
  }
  return seen;
}

static void kr_delete_closed(evl_tctx *t, kt_backend *kb, int num) {
  int rc = kb->ops->ctl(kb->state, num, EVL_READ, 0);
  if (rc != 0 && rc != -EBADF && rc != -ENOENT)
    T_FAIL(t,
           "ctl delete of closed fd %d: expected 0, -EBADF or -ENOENT, got "
           "%d (%s)",
           num, rc, evl_strerror(rc));
}

/* K1: fd closed while registered (a dup keeps the file open), its delete
 * fails, then the same open file comes back on the same number and is
 * added again: 0, and it works — the kernel may still hold the old
 * registration (epoll answers EEXIST), which is the backend's to absorb. */
void test_k1_readd_after_failed_delete(evl_tctx *t) {
  kt_backend kb;
  int p[2];
  kt_open(t, &kb);
  t_pipe(t, p);
  int num = p[0];
  T_OK(t, "ctl add READ", kb.ops->ctl(kb.state, num, 0, EVL_READ));
  int d = fcntl(num, F_DUPFD_CLOEXEC, 0);
  if (d < 0)
    T_FAIL(t, "dup failed");
  close(num);
  kr_delete_closed(t, &kb, num);
  if (dup3(d, num, O_CLOEXEC) != num)
    T_FAIL(t, "dup3(%d, %d) failed", d, num);
  t_write_byte(t, p[1]);
  T_RC(t, "ctl add READ of the same open file on the same number", 0,
       kb.ops->ctl(kb.state, num, 0, EVL_READ));
  T_EQ(t, "READ reported for the re-added fd (data unread)", EVL_READ,
       kr_seen(t, &kb, num, 3) & EVL_READ);
  T_OK(t, "ctl delete", kb.ops->ctl(kb.state, num, EVL_READ, 0));
  kr_expect_none(t, &kb, num, "re-added then deleted, data unread");
  kt_close(&kb);
  t_close(num);
  t_close(d);
  t_close(p[1]);
}

/* K6: a dead registration (number closed before its delete while a dup
 * keeps the file readable) under a reused number: the new file's events
 * only, never the old one's. */
void test_k6_dead_registration_reused(evl_tctx *t) {
  kt_backend kb;
  int p[2], q[2];
  kt_open(t, &kb);
  t_pipe(t, p);
  int num = p[0];
  T_OK(t, "ctl add READ", kb.ops->ctl(kb.state, num, 0, EVL_READ));
  int d = fcntl(num, F_DUPFD_CLOEXEC, 0);
  if (d < 0)
    T_FAIL(t, "dup failed");
  close(num);
  kr_delete_closed(t, &kb, num);
  kr_pipe_at(t, q, num); /* an unrelated, empty pipe on the old number */
  t_write_byte(t, p[1]); /* the old file, alive through d, is readable */
  T_OK(t, "ctl add READ of the new pipe on the reused number",
       kb.ops->ctl(kb.state, num, 0, EVL_READ));
  kr_expect_none(t, &kb, num, "new empty pipe on the number of a dead one");
  t_write_byte(t, q[1]);
  T_EQ(t, "READ for the new pipe once written", EVL_READ,
       kr_seen(t, &kb, num, 3) & EVL_READ);
  T_OK(t, "ctl delete", kb.ops->ctl(kb.state, num, EVL_READ, 0));
  kr_expect_none(t, &kb, num, "deleted, old and new files both readable");
  kt_close(&kb);
  t_close(num);
  t_close(d);
  t_close(p[1]);
  t_close(q[1]);
}

/* K1/K6: deleting an fd below the highest registered one leaves every other
 * fd reported and the deleted one silent (array-compacting backends). */
void test_k1_delete_below_highest(evl_tctx *t) {
  enum { N = 10 };
  kt_backend kb;
  int p[N][2], on[N];
  kt_open(t, &kb);
  for (int i = 0; i < N; i++) {
    t_pipe(t, p[i]);
    t_write_byte(t, p[i][1]);
    T_OK(t, "ctl add READ", kb.ops->ctl(kb.state, p[i][0], 0, EVL_READ));
    on[i] = 1;
  }
  static const int del[] = {1, N - 1, 0, 4};
  for (int k = 0; k < 4; k++) {
    T_OK(t, "ctl delete", kb.ops->ctl(kb.state, p[del[k]][0], EVL_READ, 0));
    on[del[k]] = 0;
    for (int i = 0; i < N; i++) {
      uint32_t ev = kr_seen(t, &kb, p[i][0], 4) & EVL_READ;
      if (on[i] && !ev)
        T_FAIL(t,
               "after deleting fd %d: registered fd %d (data unread) was "
               "not reported READ in 4 waits",
               p[del[k]][0], p[i][0]);
      if (!on[i] && ev)
        T_FAIL(t, "after deleting fd %d: deleted fd %d reported READ",
               p[del[k]][0], p[i][0]);
    }
  }
  kt_close(&kb);
  for (int i = 0; i < N; i++) {
    t_close(p[i][0]);
    t_close(p[i][1]);
  }
}

/* K6/K4: 8 ready fds, a wait with cap 2 (a backend may hold the rest back
 * for later waits); then fds not reported yet are deleted, closed, and
 * their numbers reused by empty pipes, half of them registered: the held
 * back readiness of the old files never surfaces, the others still do. */
void test_k6_held_back_then_reused(evl_tctx *t) {
  enum { N = 8 };
  kt_backend kb;
  evl_event out[KR_CAP];
  int p[N][2], state[N]; /* 0 kept, 1 reused (unregistered), 2 reused+added */
  kt_open(t, &kb);
  for (int i = 0; i < N; i++) {
    t_pipe(t, p[i]);
    t_write_byte(t, p[i][1]);
    T_OK(t, "ctl add READ", kb.ops->ctl(kb.state, p[i][0], 0, EVL_READ));
    state[i] = 0;
  }
  int n = kt_wait(t, &kb, 0, out, 2);
  int reused = 0;
  for (int i = 0; i < N && reused < 4; i++) {
    if (kt_events_for(out, n, p[i][0]))
      continue;
    int num = p[i][0];
    T_OK(t, "ctl delete", kb.ops->ctl(kb.state, num, EVL_READ, 0));
    close(p[i][0]);
    close(p[i][1]);
    kr_pipe_at(t, p[i], num);
    state[i] = 1 + (reused & 1);
    if (state[i] == 2)
      T_OK(t, "ctl add READ (reused number, empty pipe)",
           kb.ops->ctl(kb.state, num, 0, EVL_READ));
    reused++;
  }
  if (reused < 4)
    T_FAIL(t, "a wait with cap 2 reported %d of 8 ready fds", n);
  int seen[N] = {0};
  for (int w = 0; w < 8; w++) {
    n = kt_wait(t, &kb, 0, out, KR_CAP);
    for (int i = 0; i < N; i++) {
      uint32_t ev = kt_events_for(out, n, p[i][0]);
      if (ev && state[i])
        T_FAIL(t,
               "fd %d, deleted while its readiness could be held back, then "
               "closed and reused by an empty pipe%s: got events 0x%x (wait "
               "%d)",
               p[i][0], state[i] == 2 ? " and registered" : "", ev, w + 1);
      seen[i] |= ev != 0;
    }
  }
  for (int i = 0; i < N; i++)
    if (!state[i] && !seen[i])
      T_FAIL(t,
             "fd %d kept registered with data unread: not reported in 8 "
             "waits",
             p[i][0]);
  kt_close(&kb);
  for (int i = 0; i < N; i++) {
    t_close(p[i][0]);
    t_close(p[i][1]);
  }
}

static uint64_t kr_cpu_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* K2: waits with nothing ready sleep. Timeouts with sub-millisecond
 * remainders (a backend that rounds them down to 0 inside a retry loop
 * spins) and a registered fd closed without delete (poll's POLLNVAL: a
 * backend that ignores it and retries spins). A thread that sleeps uses a
 * tiny fraction of the wall time; one that spins, even on a crowded
 * machine, far more than a tenth. Waits that report the closed fd are an
 * answer, not a spin, and are left out. */
void test_k2_no_spin_in_wait(evl_tctx *t) {
  /* Mostly remainder: a backend that spins through it shows at once. */
  static const int64_t tmo[] = {900000, 1900000, 2950000, 500000, 1999000};
  kt_backend kb;
  evl_event out[KR_CAP];
  int idle[2], gone[2];
  kt_open(t, &kb);
  t_pipe(t, idle);
  t_pipe(t, gone);
  T_OK(t, "ctl add READ (idle pipe)",
       kb.ops->ctl(kb.state, idle[0], 0, EVL_READ));
  for (int phase = 0; phase < 2; phase++) {
    if (phase == 1) {
      T_OK(t, "ctl add READ", kb.ops->ctl(kb.state, gone[0], 0, EVL_READ));
      close(gone[0]); /* closed while registered, never deleted */
    }
    uint64_t wall = 0, cpu = 0;
    int reported = 0;
    for (int i = 0; i < 60; i++) {
      int64_t to = phase ? 3000000 : tmo[i % 5];
      uint64_t w0 = t_now(), c0 = kr_cpu_now();
      int n = kt_wait(t, &kb, to, out, KR_CAP);
      uint64_t dw = t_now() - w0, dc = kr_cpu_now() - c0;
      if (n > 0 && phase == 1 && kt_events_for(out, n, gone[0])) {
        reported++;
        continue;
      }
      wall += dw;
      cpu += dc;
    }
    /* Instrumented builds (ASan, valgrind: EVL_TEST_TIMEOUT_SCALE > 1)
     * spend CPU of their own on every call: the budget grows with it. */
    double budget = 0.1 * (t->timeout_scale > 1 ? t->timeout_scale : 1);
    if ((double)cpu > budget * (double)wall)
      T_FAIL(t,
             "%s: the waiting thread used %llu us of CPU in %llu us of "
             "waits with nothing ready (expected under %.0f%%: it spun "
             "inside wait)",
             phase ? "a registered fd closed without delete"
                   : "timeouts of 0.5 to 2.95 ms with sub-ms remainders",
             (unsigned long long)(cpu / 1000),
             (unsigned long long)(wall / 1000), budget * 100);
    (void)reported;
  }
  kt_close(&kb);
  t_close(idle[0]);
  t_close(idle[1]);
  t_close(gone[1]);
}
