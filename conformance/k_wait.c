/* k_wait.c — K2: wait() timeouts, blocking, wake() and EINTR. */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"

enum { K_WAIT_CAP = 16 };

/* A helper thread that, after delay_ms, sets `fired` and then either writes
 * one byte to fd or calls wake(). The flag is set first, so a wait that
 * returns with the event proves it did not return before the event. */
typedef struct k_wait_poke {
  pthread_t th;
  int delay_ms;
  int fd;           /* write a byte here, or -1 */
  kt_backend *wake; /* call wake() on this, or NULL */
  atomic_int fired;
  int rc; /* wake()'s return, or -errno of the write */
} k_wait_poke;

static void *k_wait_poke_main(void *arg) {
  k_wait_poke *p = arg;
  t_sleep_ms(p->delay_ms);
  atomic_store(&p->fired, 1);
  if (p->wake) {
    p->rc = p->wake->ops->wake(p->wake->state);
  } else {
    char c = 'w';
    p->rc = write(p->fd, &c, 1) == 1 ? 0 : -errno;
  }
  return NULL;
}

static void k_wait_poke_start(evl_tctx *t, k_wait_poke *p, int delay_ms, int fd,
                              kt_backend *wake) {
  memset(p, 0, sizeof *p);
  p->delay_ms = delay_ms;
  p->fd = fd;
  p->wake = wake;
  atomic_init(&p->fired, 0);
  if (pthread_create(&p->th, NULL, k_wait_poke_main, p) != 0)
    T_FAIL(t, "pthread_create failed");
}

static void k_wait_poke_join(evl_tctx *t, k_wait_poke *p) {
  pthread_join(p->th, NULL);
  T_RC(t, "helper thread's write/wake", 0, p->rc);
}

void test_k2_wait0_empty(evl_tctx *t) {
  kt_backend kb;
  evl_event out[K_WAIT_CAP];
  int p[2];
  kt_open(t, &kb);
  T_EQ(t, "wait(0) on an empty backend", 0,
       kt_wait(t, &kb, 0, out, K_WAIT_CAP));
  t_pipe(t, p);
  T_OK(t, "ctl add READ", kb.ops->ctl(kb.state, p[0], 0, EVL_READ));
  for (int i = 0; i < 3; i++)
    T_EQ(t, "wait(0) with one idle fd", 0, kt_wait(t, &kb, 0, out, K_WAIT_CAP));
  T_OK(t, "ctl delete", kb.ops->ctl(kb.state, p[0], EVL_READ, 0));
  kt_close(&kb);
  t_close(p[0]);
  t_close(p[1]);
}

void test_k2_wait0_ready(evl_tctx *t) {
  kt_backend kb;
  evl_event out[K_WAIT_CAP];
  int p[2];
  kt_open(t, &kb);
  t_pipe(t, p);
  T_OK(t, "ctl add READ", kb.ops->ctl(kb.state, p[0], 0, EVL_READ));
  t_write_byte(t, p[1]);
  int n = kt_wait(t, &kb, 0, out, K_WAIT_CAP);
  T_EQ(t, "wait(0) event count with one ready fd", 1, n);
  T_EQ(t, "wait(0) reports the ready fd", p[0], out[0].fd);
  T_EQ(t, "wait(0) reports READ", EVL_READ, out[0].events & EVL_READ);
  T_OK(t, "ctl delete", kb.ops->ctl(kb.state, p[0], EVL_READ, 0));
  kt_close(&kb);
  t_close(p[0]);
  t_close(p[1]);
}

/* Blocks with `timeout` until a byte written by another thread after 50 ms
 * arrives; the wait must neither error nor come back empty-handed early. */
static void k_wait_block_until_event(evl_tctx *t, int64_t timeout) {
  kt_backend kb;
  evl_event out[K_WAIT_CAP];
  int p[2];
  k_wait_poke poke;
  kt_open(t, &kb);
  t_pipe(t, p);
  T_OK(t, "ctl add READ", kb.ops->ctl(kb.state, p[0], 0, EVL_READ));
  k_wait_poke_start(t, &poke, 50, p[1], NULL);
  int n = kb.ops->wait(kb.state, timeout, out, K_WAIT_CAP);
  int fired = atomic_load(&poke.fired);
  k_wait_poke_join(t, &poke);
  T_RC(t, "blocking wait's return is not an error", 0, n < 0 ? n : 0);
  T_EQ(t, "the helper had written before wait returned", 1, fired);
  T_EQ(t, "events returned by a blocking wait", 1, n);
  T_EQ(t, "the event is READ on the pipe", EVL_READ,
       kt_events_for(out, n, p[0]) & EVL_READ);
  T_OK(t, "ctl delete", kb.ops->ctl(kb.state, p[0], EVL_READ, 0));
  kt_close(&kb);
  t_close(p[0]);
  t_close(p[1]);
}

void test_k2_block_until_event(evl_tctx *t) {
  k_wait_block_until_event(t, -1);
}

/* Any negative timeout blocks; a huge one must not overflow into a short
 * or negative kernel timeout (ms, timespec) and return early. */
void test_k2_extreme_timeouts(evl_tctx *t) {
  k_wait_block_until_event(t, INT64_MIN);
  k_wait_block_until_event(t, INT64_MAX);
  k_wait_block_until_event(t, (int64_t)INT32_MAX * 1000000 + 1);
}

void test_k2_block_until_wake(evl_tctx *t) {
  kt_backend kb;
  evl_event out[K_WAIT_CAP];
  int p[2];
  k_wait_poke poke;
  if (!t->be->wake)
    T_SKIP(t, "backend has no wake()");
  kt_open(t, &kb);
  t_pipe(t, p);
  T_OK(t, "ctl add READ", kb.ops->ctl(kb.state, p[0], 0, EVL_READ));
  k_wait_poke_start(t, &poke, 50, -1, &kb);
  int n = kb.ops->wait(kb.state, -1, out, K_WAIT_CAP);
  int fired = atomic_load(&poke.fired);
  k_wait_poke_join(t, &poke);
  T_RC(t, "wait(-1) woken by wake()", 0, n < 0 ? n : 0);
  T_EQ(t, "wake() had been called before wait returned", 1, fired);
  T_EQ(t, "events after a wake with nothing ready", 0,
       kt_events_for(out, n, p[0]));
  T_OK(t, "ctl delete", kb.ops->ctl(kb.state, p[0], EVL_READ, 0));
  kt_close(&kb);
  t_close(p[0]);
  t_close(p[1]);
}

/* A wake() that lands just before the wait starts must not be lost, or the
 * core's cross-thread wakeup races. A 2 s fallback byte on a guard pipe
 * tells "woken" from "would have hung". */
void test_k2_wake_before_wait(evl_tctx *t) {
  kt_backend kb;
  evl_event out[K_WAIT_CAP];
  int g[2];
  k_wait_poke guard;
  if (!t->be->wake)
    T_SKIP(t, "backend has no wake()");
  kt_open(t, &kb);
  t_pipe(t, g);
  T_OK(t, "ctl add READ (guard)", kb.ops->ctl(kb.state, g[0], 0, EVL_READ));
  T_RC(t, "wake() before wait", 0, kb.ops->wake(kb.state));
  k_wait_poke_start(t, &guard, 2000, g[1], NULL);
  int n = kb.ops->wait(kb.state, -1, out, K_WAIT_CAP);
  int guard_fired = atomic_load(&guard.fired);
  k_wait_poke_join(t, &guard);
  T_RC(t, "wait(-1) after wake()", 0, n < 0 ? n : 0);
  T_EQ(t, "wait returned only through the 2 s fallback (wake lost)", 0,
       guard_fired);
  T_OK(t, "ctl delete", kb.ops->ctl(kb.state, g[0], EVL_READ, 0));
  kt_close(&kb);
  t_close(g[0]);
  t_close(g[1]);
}

static void k_wait_check_timeouts(evl_tctx *t, kt_backend *kb) {
  static const int64_t timeouts[] = {1000000, 1500000, 10000001, 25000000};
  evl_event out[K_WAIT_CAP];
  for (size_t i = 0; i < sizeof timeouts / sizeof timeouts[0]; i++) {
    uint64_t t0 = t_now();
    int n = kt_wait(t, kb, timeouts[i], out, K_WAIT_CAP);
    uint64_t el = t_now() - t0;
    T_EQ(t, "events with nothing ready", 0, n);
    if (el < (uint64_t)timeouts[i])
      T_FAIL(t,
             "wait(%lld ns) with nothing ready: expected >= %lld ns, "
             "returned after %llu ns",
             (long long)timeouts[i], (long long)timeouts[i],
             (unsigned long long)el);
  }
}

void test_k2_timeout_not_early(evl_tctx *t) {
  kt_backend kb;
  int p[2];
  kt_open(t, &kb);
  t_pipe(t, p);
  T_OK(t, "ctl add READ", kb.ops->ctl(kb.state, p[0], 0, EVL_READ));
  k_wait_check_timeouts(t, &kb);
  T_OK(t, "ctl delete", kb.ops->ctl(kb.state, p[0], EVL_READ, 0));
  kt_close(&kb);
  t_close(p[0]);
  t_close(p[1]);
}

void test_k2_empty_timeout(evl_tctx *t) {
  kt_backend kb;
  kt_open(t, &kb);
  k_wait_check_timeouts(t, &kb);
  kt_close(&kb);
}

static atomic_int k_wait_signals;
static void k_wait_on_signal(int sig) {
  (void)sig;
  atomic_fetch_add(&k_wait_signals, 1);
}

typedef struct k_wait_killer {
  pthread_t target;
  int rc;
} k_wait_killer;

static void *k_wait_killer_main(void *arg) {
  k_wait_killer *k = arg;
  for (int i = 0; i < 3; i++) {
    t_sleep_ms(50);
    int rc = pthread_kill(k->target, SIGUSR1);
    if (rc != 0)
      k->rc = -rc;
  }
  return NULL;
}

void test_k2_eintr_zero_events(evl_tctx *t) {
  kt_backend kb;
  evl_event out[K_WAIT_CAP];
  int p[2];
  struct sigaction sa, old;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = k_wait_on_signal;
  sa.sa_flags = 0; /* no SA_RESTART: the kernel wait really sees EINTR */
  sigemptyset(&sa.sa_mask);
  if (sigaction(SIGUSR1, &sa, &old) != 0)
    T_FAIL(t, "sigaction failed");
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGUSR1);
  pthread_sigmask(SIG_UNBLOCK, &set, NULL);
  kt_open(t, &kb);
  t_pipe(t, p);
  T_OK(t, "ctl add READ", kb.ops->ctl(kb.state, p[0], 0, EVL_READ));
  k_wait_killer k = {.target = pthread_self(), .rc = 0};
  pthread_t th;
  if (pthread_create(&th, NULL, k_wait_killer_main, &k) != 0)
    T_FAIL(t, "pthread_create failed");
  int n = kb.ops->wait(kb.state, 2000000000, out, K_WAIT_CAP);
  pthread_join(th, NULL);
  T_RC(t, "pthread_kill", 0, k.rc);
  /* backend.h: 0 events, or -EINTR (the core resumes the wait, S3). */
  T_RC(t, "wait interrupted by a signal (EINTR is 0 events or -EINTR)", 0,
       n < 0 && n != -EINTR ? n : 0);
  T_EQ(t, "events after an interrupted wait", 0, n < 0 ? 0 : n);
  T_GE(t, "signals delivered", 1, atomic_load(&k_wait_signals));
  T_OK(t, "ctl delete", kb.ops->ctl(kb.state, p[0], EVL_READ, 0));
  kt_close(&kb);
  t_close(p[0]);
  t_close(p[1]);
  sigaction(SIGUSR1, &old, NULL);
}

/* Tiny timeouts, down to 1 ns, with an idle fd registered: every wait must
 * return. A wrapper whose library fires an already-due timer before it
 * polls (libuv's uv_run does) can otherwise poll with no timeout at all and
 * hang here; the harness timeout turns that into a failure. */
void test_k2_tiny_timeouts_return(evl_tctx *t) {
  kt_backend kb;
  kt_open(t, &kb);
  int p[2];
  t_pipe(t, p);
  T_OK(t, "ctl add READ on an idle pipe",
       kb.ops->ctl(kb.state, p[0], 0, EVL_READ));
  evl_event out[4];
  for (int i = 0; i < 300; i++) {
    int64_t timeout = 1 + (i * 997) % 3000; /* 1 ns .. 3 us */
    uint64_t t0 = t_now();
    int n = kt_wait(t, &kb, timeout, out, 4);
    T_EQ(t, "events from a tiny wait on an idle pipe", 0, n);
    if (t_now() - t0 < (uint64_t)timeout)
      T_FAIL(t, "wait(%lld ns) returned early", (long long)timeout);
  }
  T_OK(t, "ctl delete", kb.ops->ctl(kb.state, p[0], EVL_READ, 0));
  kt_close(&kb);
  t_close(p[0]);
  t_close(p[1]);
}
