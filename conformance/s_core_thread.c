/* s_core_thread.c — S9 tests: call_soon_threadsafe and stop_threadsafe from
 * other threads: nothing lost, nothing twice, per-thread FIFO, prompt wakeup.
 */
#include "s_core.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <unistd.h>

#define S9_THREADS 2

/* One test per process: file-level state is this test's state. */
static struct {
  evl_tctx *t;
  evl_loop *loop;
  int nthreads, per_thread;
  pthread_t th[S9_THREADS];
  int started;
  int pace_us; /* the poster's longest pause after a post */
  /* loop side */
  int next[S9_THREADS];
  long total, bad;
  int bad_tid, bad_seq, bad_want;
  /* poster side */
  int post_rc[S9_THREADS];
  long posted[S9_THREADS];
  /* blocked-loop tests */
  atomic_int returned, safety_used, woken;
  int stop_rc, safety_fd, safety_fired;
} s9;

static void s9_post_cb(void *arg) {
  uintptr_t v = (uintptr_t)arg;
  int tid = (int)(v >> 24), seq = (int)(v & 0xffffff);
  if (tid < 0 || tid >= S9_THREADS) {
    s9.bad++;
  } else {
    if (seq != s9.next[tid] && !s9.bad++) {
      s9.bad_tid = tid;
      s9.bad_seq = seq;
      s9.bad_want = s9.next[tid];
    }
    s9.next[tid] = seq + 1; /* resync: count each gap or repeat once */
  }
  if (++s9.total == (long)s9.nthreads * s9.per_thread)
    s9.t->impl->stop(s9.loop);
}

static void *s9_poster(void *arg) {
  int tid = (int)(intptr_t)arg;
  for (int i = 0; i < s9.per_thread; i++) {
    uintptr_t v = ((uintptr_t)tid << 24) | (uintptr_t)i;
    int rc = s9.t->impl->call_soon_threadsafe(s9.loop, s9_post_cb, (void *)v);
    if (rc != 0) {
      s9.post_rc[tid] = rc;
      break;
    }
    s9.posted[tid]++;
    if (s9.pace_us) {
      /* Gaps of 0 to pace_us, spun (a sleep's slack is coarser), sweep
       * every point of the loop's wakeup. */
      uint64_t until =
          t_now() + (uint64_t)((i * 37) % (s9.pace_us + 1)) * 1000u;
      while (t_now() < until)
        ;
    }
  }
  return NULL;
}

/* Started from the loop's first callback, so posts race a running loop. */
static void s9_start_cb(void *arg) {
  (void)arg;
  for (int i = 0; i < s9.nthreads; i++)
    if (pthread_create(&s9.th[i], NULL, s9_poster, (void *)(intptr_t)i) != 0)
      T_FAIL(s9.t, "pthread_create failed");
  s9.started = 1;
}

static void s9_posts(evl_tctx *t, int nthreads, int per_thread, int pace_us,
                     int watchdog_ms) {
  st_need(t, EVL_IF_THREADSAFE);
  s9.t = t;
  s9.nthreads = nthreads;
  s9.per_thread = per_thread;
  s9.pace_us = pace_us;
  s9.loop = st_loop(t);
  st_watchdog(t, s9.loop, watchdog_ms);
  T_OK(t, "call_soon", OPS->call_soon(s9.loop, s9_start_cb, NULL, NULL));
  int rc = OPS->run_forever(s9.loop);
  for (int i = 0; s9.started && i < nthreads; i++)
    pthread_join(s9.th[i], NULL);
  T_RC(t, "run_forever", 0, rc);
  for (int i = 0; i < nthreads; i++) {
    T_RC(t, "call_soon_threadsafe", 0, s9.post_rc[i]);
    T_EQ(t, "posts accepted from one thread", per_thread, s9.posted[i]);
  }
  if (s9.bad)
    T_FAIL(t,
           "%ld breaks in per-thread order (lost, repeated or reordered "
           "posts; %ld of %ld ran); first: thread %d post %d arrived when %d "
           "was due",
           s9.bad, s9.total, (long)nthreads * per_thread, s9.bad_tid,
           s9.bad_seq, s9.bad_want);
  T_EQ(t, "posted callbacks run", (long)nthreads * per_thread, s9.total);
  st_free(t, s9.loop);
}

void test_s9_posts_4096(evl_tctx *t) {
  s9_posts(t, 1, 4096, 0, 20000);
}

void test_s9_posts_100000(evl_tctx *t) {
  s9_posts(t, 1, 100000, 0, 20000);
}

void test_s9_posts_two_threads(evl_tctx *t) {
  s9_posts(t, 2, 50000, 0, 20000);
}

/* 2000 posts with gaps of 0 to 100 us, so that many arrive while the loop
 * is waking for the ones before and taking the queue. A loop that takes the
 * queue before it empties its doorbell (dbmail/dbmail#559) swallows the bell
 * of a post made in between: that post, and every later one if a "bell
 * rung" flag stays set, waits with the loop blocked. A burst
 * (s9_posts_4096) mostly lands before the first take and misses that
 * window. The posts take about 0.1 s; the 5 s watchdog only ends a lost
 * wakeup. */
void test_s9_posts_paced(evl_tctx *t) {
  s9_posts(t, 1, 2000, 100, 5000);
}

/* ---- waking a loop blocked in wait ------------------------------------ */

static void s9_safety_reader(int fd, unsigned events, void *arg) {
  (void)events;
  (void)arg;
  t_drain(fd);
  s9.safety_fired = 1;
  s9.t->impl->stop(s9.loop);
}

static void s9_woken_cb(void *arg) {
  (void)arg;
  atomic_store(&s9.woken, 1);
  s9.t->impl->stop(s9.loop);
}

/* Lets the loop block, wakes it the way under test, and if it is still
 * blocked 10 s later writes to the safety pipe so the test fails instead of
 * hanging. */
static void *s9_waker(void *arg) {
  int use_post = (int)(intptr_t)arg;
  t_sleep_ms(50);
  if (use_post)
    s9.stop_rc = s9.t->impl->call_soon_threadsafe(s9.loop, s9_woken_cb, NULL);
  else
    s9.stop_rc = s9.t->impl->stop_threadsafe(s9.loop);
  int limit = (int)(10000 * s9.t->timeout_scale) / 10;
  for (int i = 0; i < limit && !atomic_load(&s9.returned); i++)
    t_sleep_ms(10);
  if (!atomic_load(&s9.returned)) {
    atomic_store(&s9.safety_used, 1);
    char c = 'x';
    if (write(s9.safety_fd, &c, 1) != 1)
      s9.stop_rc = -EIO;
  }
  return NULL;
}

static void s9_blocked_start_cb(void *arg) {
  if (pthread_create(&s9.th[0], NULL, s9_waker, arg) != 0)
    T_FAIL(s9.t, "pthread_create failed");
  s9.started = 1;
}

/* No timers and nothing ready: the loop blocks with an infinite timeout. */
static void s9_blocked(evl_tctx *t, int use_post) {
  st_need(t, EVL_IF_THREADSAFE);
  int p[2];
  t_pipe(t, p);
  s9.t = t;
  s9.safety_fd = p[1];
  s9.loop = st_loop(t);
  T_OK(t, "add_reader (safety net)",
       OPS->add_reader(s9.loop, p[0], s9_safety_reader, NULL));
  T_OK(t, "call_soon",
       OPS->call_soon(s9.loop, s9_blocked_start_cb, (void *)(intptr_t)use_post,
                      NULL));
  evl_loop_stats a = {0}, b = {0};
  if (sc_has(t, EVL_IF_STATS))
    a = sc_stats(t, s9.loop);
  int rc = OPS->run_forever(s9.loop);
  atomic_store(&s9.returned, 1);
  if (s9.started)
    pthread_join(s9.th[0], NULL);
  if (sc_has(t, EVL_IF_STATS))
    b = sc_stats(t, s9.loop);
  T_RC(t, use_post ? "call_soon_threadsafe" : "stop_threadsafe", 0, s9.stop_rc);
  T_RC(t, "run_forever", 0, rc);
  if (atomic_load(&s9.safety_used) || s9.safety_fired)
    T_FAIL(t,
           "the loop stayed blocked for 10 s after %s; the test's safety "
           "pipe woke it",
           use_post ? "call_soon_threadsafe" : "stop_threadsafe");
  if (use_post)
    T_TRUE(t, "the posted callback ran", atomic_load(&s9.woken));
  if (sc_has(t, EVL_IF_STATS))
    T_LE(t, "backend waits of a loop that blocked once (no spinning)", 5,
         b.waits - a.waits);
  T_EQ(t, "remove_reader", 1, OPS->remove_reader(s9.loop, p[0]));
  st_free(t, s9.loop);
  t_close(p[0]);
  t_close(p[1]);
}

void test_s9_stop_wakes_blocked_loop(evl_tctx *t) {
  s9_blocked(t, 0);
}

void test_s9_post_wakes_blocked_loop(evl_tctx *t) {
  s9_blocked(t, 1);
}

/* call_soon_threadsafe from the loop's own thread works too, in order. */
static void s9_self_cb(void *arg) {
  (void)arg;
  for (int i = 0; i < 1000; i++) {
    int rc = s9.t->impl->call_soon_threadsafe(s9.loop, s9_post_cb,
                                              (void *)(intptr_t)i);
    if (rc != 0)
      T_FAIL(s9.t, "call_soon_threadsafe on the loop thread: got %d (%s)", rc,
             evl_strerror(rc));
  }
}

void test_s9_post_from_loop_thread(evl_tctx *t) {
  st_need(t, EVL_IF_THREADSAFE);
  s9.t = t;
  s9.nthreads = 1;
  s9.per_thread = 1000;
  s9.loop = st_loop(t);
  st_watchdog(t, s9.loop, 5000);
  T_OK(t, "call_soon", OPS->call_soon(s9.loop, s9_self_cb, NULL, NULL));
  sc_run(t, s9.loop);
  if (s9.bad)
    T_FAIL(t, "%ld posts out of order; first: post %d when %d was due", s9.bad,
           s9.bad_seq, s9.bad_want);
  T_EQ(t, "posted callbacks run", 1000, s9.total);
  st_free(t, s9.loop);
}

/* Posts made before the loop ever runs wait for it and then run, in order. */
void test_s9_post_before_run(evl_tctx *t) {
  st_need(t, EVL_IF_THREADSAFE);
  s9.t = t;
  s9.nthreads = 1;
  s9.per_thread = 1000;
  s9.loop = st_loop(t);
  st_watchdog(t, s9.loop, 5000);
  if (pthread_create(&s9.th[0], NULL, s9_poster, (void *)0) != 0)
    T_FAIL(t, "pthread_create failed");
  pthread_join(s9.th[0], NULL);
  T_RC(t, "call_soon_threadsafe before run", 0, s9.post_rc[0]);
  T_EQ(t, "posted callbacks run before the loop ran", 0, s9.total);
  sc_run(t, s9.loop); /* the last post stops it */
  if (s9.bad)
    T_FAIL(t,
           "%ld breaks in order (%ld of 1000 ran); first: post %d when %d "
           "was due",
           s9.bad, s9.total, s9.bad_seq, s9.bad_want);
  T_EQ(t, "posted callbacks run", 1000, s9.total);
  st_free(t, s9.loop);
}
