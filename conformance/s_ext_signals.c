/* s_ext_signals.c — S12 tests: signal handlers through the ops table. */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"

#define SX_MS 1000000LL

/* What the handlers under test record. Handlers run on the loop thread, so
 * only the sender threads' flags need atomics. */
typedef struct sx_sig {
  evl_tctx *t;
  evl_loop *loop;
  pthread_t loop_thread;
  int calls;
  int on_loop_thread;
  int stop_at; /* stop the loop when calls reaches this (0: never) */
} sx_sig;

static void sx_sig_init(sx_sig *s, evl_tctx *t, evl_loop *loop, int stop_at) {
  memset(s, 0, sizeof *s);
  s->t = t;
  s->loop = loop;
  s->loop_thread = pthread_self();
  s->stop_at = stop_at;
}

static void sx_sig_cb(void *arg) {
  sx_sig *s = arg;
  evl_tctx *t = s->t;
  s->calls++;
  if (pthread_equal(pthread_self(), s->loop_thread))
    s->on_loop_thread++;
  if (s->stop_at && s->calls == s->stop_at)
    OPS->stop(s->loop);
}

static void sx_stop_cb(void *arg) {
  sx_sig *s = arg;
  evl_tctx *t = s->t;
  OPS->stop(s->loop);
}

/* Runs the loop until the handler has run `want` times in all, or a
 * fallback of max_ms (stretched by EVL_TEST_TIMEOUT_SCALE) passes: a
 * delivery that is merely slow (valgrind holds signals back until its
 * scheduler looks) is waited for; one that never comes still fails. */
static void sx_run_until(evl_tctx *t, sx_sig *s, int want, int max_ms) {
  if (s->calls >= want)
    return;
  double scale = t->timeout_scale >= 1 ? t->timeout_scale : 1;
  evl_handle h = 0;
  s->stop_at = want;
  T_OK(t, "call_later(fallback stop)",
       OPS->call_later(s->loop, (int64_t)(max_ms * scale) * SX_MS, sx_stop_cb,
                       s, &h));
  T_OK(t, "run_forever", OPS->run_forever(s->loop));
  s->stop_at = 0;
  OPS->cancel(s->loop, h); /* already ran when the fallback stopped it */
}

/* Runs the loop for about ms more, collecting late deliveries. */
static void sx_run_for(evl_tctx *t, sx_sig *s, int ms) {
  T_OK(t, "call_later(stop)",
       OPS->call_later(s->loop, ms * SX_MS, sx_stop_cb, s, NULL));
  T_OK(t, "run_forever", OPS->run_forever(s->loop));
}

/* A previous handler of the test's own, to check it is put back. */
static volatile sig_atomic_t sx_prev_hits;
static void sx_prev_handler(int sig) {
  (void)sig;
  sx_prev_hits++;
}

static void sx_install_prev(evl_tctx *t, int sig, struct sigaction *saved) {
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = sx_prev_handler;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESTART;
  if (sigaction(sig, &sa, saved) != 0)
    T_FAIL(t, "sigaction(%d): %s", sig, strerror(errno));
}

/* A disposition by name: SIG_DFL, SIG_IGN, the test's own handler. */
static const char *sx_disp_name(const struct sigaction *sa, char *buf,
                                size_t len) {
  if (sa->sa_handler == SIG_DFL)
    return "SIG_DFL";
  if (sa->sa_handler == SIG_IGN)
    return "SIG_IGN";
  if (sa->sa_handler == sx_prev_handler)
    return "the test's own handler";
  snprintf(buf, len, "another handler%s",
           (sa->sa_flags & SA_SIGINFO) ? " (SA_SIGINFO)" : "");
  return buf;
}

static struct sigaction sx_query(evl_tctx *t, int sig) {
  struct sigaction sa;
  if (sigaction(sig, NULL, &sa) != 0)
    T_FAIL(t, "sigaction(%d, NULL): %s", sig, strerror(errno));
  return sa;
}

/* Same handler and flags as `want` (the mask may be normalised). A
 * failure names the caller's line. */
#define sx_expect_disp(t, what, sig, want)                                     \
  sx_expect_disp_at(t, __FILE__, __LINE__, what, sig, want)
static void sx_expect_disp_at(evl_tctx *t, const char *file, int line,
                              const char *what, int sig,
                              const struct sigaction *want) {
  struct sigaction now = sx_query(t, sig);
  char w[64], g[64];
  if (now.sa_handler != want->sa_handler)
    evl_t_fail(t, file, line,
               "%s: signal %d (%s) disposition: expected %s, got %s", what, sig,
               strsignal(sig), sx_disp_name(want, w, sizeof w),
               sx_disp_name(&now, g, sizeof g));
  /* Only the flags a caller sets; the C library adds its own. */
  const int mask = SA_SIGINFO | SA_RESTART | SA_NODEFER | SA_RESETHAND |
                   SA_ONSTACK | SA_NOCLDSTOP | SA_NOCLDWAIT;
  if ((want->sa_flags & mask) != (now.sa_flags & mask))
    evl_t_fail(t, file, line,
               "%s: signal %d (%s) flags: expected 0x%x, got 0x%x", what, sig,
               strsignal(sig), (unsigned)(want->sa_flags & mask),
               (unsigned)(now.sa_flags & mask));
}

typedef struct sx_sender {
  pthread_t target; /* pthread_kill target, or 0 for kill(getpid()) */
  int use_thread;
  int sig;
  int count;
  int delay_ms;
} sx_sender;

static void *sx_sender_main(void *arg) {
  sx_sender *snd = arg;
  t_sleep_ms(snd->delay_ms);
  for (int i = 0; i < snd->count; i++) {
    if (snd->use_thread)
      pthread_kill(snd->target, snd->sig);
    else
      kill(getpid(), snd->sig);
  }
  return NULL;
}

static void sx_nop_cb(void *arg) {
  (void)arg;
}

/* The second signal a test watches beside SIGUSR1: the first of these the
 * loop accepts. A loop may refuse a valid number it cannot watch with
 * -ENOTSUP (S12), as one inside a JVM refuses SIGUSR2 (its suspend
 * signal); that is no reason to blame it in a test of something else. The
 * probe is a loop of its own, freed before the test's setup. */
static int sx_second_signal(evl_tctx *t) {
  static const int cand[] = {SIGUSR2, SIGWINCH, SIGURG};
  evl_loop *probe = st_loop(t);
  int sig = 0;
  for (size_t i = 0; i < sizeof cand / sizeof cand[0] && !sig; i++) {
    int rc = OPS->add_signal_handler(probe, cand[i], sx_nop_cb, NULL);
    if (rc == 0) {
      sig = cand[i];
      OPS->remove_signal_handler(probe, sig); /* checked by the tests */
    } else if (rc != -ENOTSUP) {
      T_RC(t, "probe: add_signal_handler of a valid signal", 0, rc);
    }
  }
  st_free(t, probe);
  if (!sig)
    T_FAIL(t, "the loop refuses SIGUSR2, SIGWINCH and SIGURG with -ENOTSUP");
  return sig;
}

/* S12: one signal raised while the loop blocks runs the handler once, on
 * the loop thread. */
void test_s12_signal_once(evl_tctx *t) {
  evl_loop *loop = st_loop(t);
  sx_sig s;
  sx_sig_init(&s, t, loop, 1);
  T_OK(t, "add_signal_handler(SIGUSR1)",
       OPS->add_signal_handler(loop, SIGUSR1, sx_sig_cb, &s));
  st_watchdog(t, loop, 5000);

  sx_sender snd = {.target = pthread_self(),
                   .use_thread = 1,
                   .sig = SIGUSR1,
                   .count = 1,
                   .delay_ms = 20};
  pthread_t th;
  T_OK(t, "pthread_create", -pthread_create(&th, NULL, sx_sender_main, &snd));
  T_OK(t, "run_forever", OPS->run_forever(loop));
  pthread_join(th, NULL);
  T_EQ(t, "handler calls after one signal", 1, s.calls);

  /* Nothing more arrives later from the same delivery. */
  sx_run_for(t, &s, 50);
  T_EQ(t, "handler calls 50 ms later", 1, s.calls);
  T_EQ(t, "calls on the loop thread", 1, s.on_loop_thread);
  T_EQ(t, "remove_signal_handler", 1,
       OPS->remove_signal_handler(loop, SIGUSR1));
  st_free(t, loop);
}

/* S12: ten signals back to back may coalesce but never all vanish. */
void test_s12_signal_burst(evl_tctx *t) {
  int sig2 = sx_second_signal(t);
  evl_loop *loop = st_loop(t);
  sx_sig s;
  sx_sig_init(&s, t, loop, 1);
  T_OK(t, "add_signal_handler(SIGUSR2 or the second signal)",
       OPS->add_signal_handler(loop, sig2, sx_sig_cb, &s));
  st_watchdog(t, loop, 5000);

  sx_sender snd = {.sig = sig2, .count = 10, .delay_ms = 20};
  pthread_t th;
  T_OK(t, "pthread_create", -pthread_create(&th, NULL, sx_sender_main, &snd));
  T_OK(t, "run_forever", OPS->run_forever(loop));
  pthread_join(th, NULL);
  /* Every signal has been sent; let the rest be delivered. */
  sx_run_for(t, &s, 50);
  T_GE(t, "handler calls for 10 signals", 1, s.calls);
  T_LE(t, "handler calls for 10 signals", 10, s.calls);
  T_EQ(t, "calls on the loop thread", s.calls, s.on_loop_thread);
  st_free(t, loop);
}

/* Two deliveries to the loop thread itself, each handled before
 * pthread_kill returns (unless the loop blocks the signal: then the kernel
 * merges them), both before the loop can dispatch either. */
static void sx_kill_self_twice(void *arg) {
  sx_sig *s = arg;
  evl_tctx *t = s->t;
  for (int i = 0; i < 2; i++)
    if (pthread_kill(pthread_self(), SIGUSR1) != 0)
      T_FAIL(t, "pthread_kill(self, SIGUSR1) failed");
}

/* S12: deliveries may coalesce (the reference core: one call) or not
 * (libuv: one call per delivery), but two are never lost and never give
 * more calls than deliveries. */
void test_s12_two_deliveries_one_batch(evl_tctx *t) {
  evl_loop *loop = st_loop(t);
  sx_sig s;
  sx_sig_init(&s, t, loop, 0);
  T_OK(t, "add_signal_handler(SIGUSR1)",
       OPS->add_signal_handler(loop, SIGUSR1, sx_sig_cb, &s));
  st_watchdog(t, loop, 5000);
  T_OK(t, "call_soon(two deliveries)",
       OPS->call_soon(loop, sx_kill_self_twice, &s, NULL));
  sx_run_until(t, &s, 1, 2000);
  sx_run_for(t, &s, 50); /* a second call, if any, has come by now */
  T_GE(t, "handler calls for two deliveries", 1, s.calls);
  T_LE(t, "handler calls for two deliveries", 2, s.calls);
  T_EQ(t, "calls on the loop thread", s.calls, s.on_loop_thread);
  st_free(t, loop); /* close removes the handler (S12) */
}

/* S12: remove puts back the disposition found by add — the test's own
 * handler, and SIG_DFL — and the loop's handler is not called after. Only
 * behaviour is checked: how the loop catches a watched signal (its own
 * handler, or the signal blocked and read from a signalfd) is its choice. */
void test_s12_remove_restores(evl_tctx *t) {
  int sig2 = sx_second_signal(t);
  struct sigaction saved1, saved2;
  sx_install_prev(t, SIGUSR1, &saved1);
  struct sigaction before1 = sx_query(t, SIGUSR1);
  saved2 = sx_query(t, sig2);
  struct sigaction dfl;
  memset(&dfl, 0, sizeof dfl);
  dfl.sa_handler = SIG_DFL;
  if (sigaction(sig2, &dfl, NULL) != 0)
    T_FAIL(t, "sigaction(%d, SIG_DFL): %s", sig2, strerror(errno));
  struct sigaction before2 = sx_query(t, sig2);

  evl_loop *loop = st_loop(t);
  sx_sig s;
  sx_sig_init(&s, t, loop, 0);
  T_OK(t, "add_signal_handler(SIGUSR1)",
       OPS->add_signal_handler(loop, SIGUSR1, sx_sig_cb, &s));
  T_OK(t, "add_signal_handler(SIGUSR2 or the second signal)",
       OPS->add_signal_handler(loop, sig2, sx_sig_cb, &s));
  /* While watched, SIGUSR1 reaches the loop's callback. */
  raise(SIGUSR1);
  sx_run_until(t, &s, 1, 2000);
  T_GE(t, "loop handler calls for SIGUSR1 raised while watched", 1, s.calls);
  int watched_calls = s.calls;

  T_EQ(t, "remove_signal_handler(SIGUSR1)", 1,
       OPS->remove_signal_handler(loop, SIGUSR1));
  T_EQ(t, "remove_signal_handler(SIGUSR2 or the second signal)", 1,
       OPS->remove_signal_handler(loop, sig2));
  sx_expect_disp(t, "SIGUSR1 disposition after remove", SIGUSR1, &before1);
  sx_expect_disp(t, "SIGUSR2 (or the second signal) disposition after remove",
                 sig2, &before2);
  T_EQ(t, "remove again", 0, OPS->remove_signal_handler(loop, SIGUSR1));

  /* The restored handler gets the signal (so it is not left blocked
   * either); the loop's does not. */
  int prev_before = sx_prev_hits;
  raise(SIGUSR1);
  T_EQ(t, "previous handler calls for SIGUSR1 raised after remove",
       prev_before + 1, sx_prev_hits);
  sx_run_for(t, &s, 30);
  T_EQ(t, "loop handler calls after remove", watched_calls, s.calls);
  st_free(t, loop);
  sigaction(SIGUSR1, &saved1, NULL);
  sigaction(sig2, &saved2, NULL);
}

/* S12/S8: close removes every handler and restores every disposition. */
void test_s12_close_restores(evl_tctx *t) {
  static const int sigs[] = {SIGUSR1, SIGUSR2, SIGHUP, SIGTERM, SIGWINCH};
  enum { N = sizeof sigs / sizeof sigs[0] };
  struct sigaction saved1;
  sx_install_prev(t, SIGUSR1, &saved1);
  struct sigaction before[N];
  for (int i = 0; i < N; i++)
    before[i] = sx_query(t, sigs[i]);

  evl_loop *loop = st_loop(t);
  sx_sig s;
  sx_sig_init(&s, t, loop, 0);
  /* A number the loop cannot watch is refused with -ENOTSUP and changes
   * nothing (S12): its disposition is checked after close all the same. */
  int watched = 0;
  for (int i = 0; i < N; i++) {
    int rc = OPS->add_signal_handler(loop, sigs[i], sx_sig_cb, &s);
    if (rc != -ENOTSUP || sigs[i] == SIGUSR1)
      T_OK(t, "add_signal_handler", rc);
    watched += rc == 0;
  }
  T_GE(t, "signals watched (SIGUSR1 and at least one more)", 2, watched);
  T_OK(t, "loop_close", OPS->loop_close(loop));
  for (int i = 0; i < N; i++)
    sx_expect_disp(t, "disposition after close", sigs[i], &before[i]);
  raise(SIGUSR1);
  T_EQ(t, "previous handler calls after close", 1, sx_prev_hits);
  T_EQ(t, "loop handler calls", 0, s.calls);
  T_OK(t, "loop_free", OPS->loop_free(loop));
  sigaction(SIGUSR1, &saved1, NULL);
}

/* S12: two loops watching one signal both get it; closing one leaves the
 * other's handler (and the process disposition) in place. */
void test_s12_two_loops(evl_tctx *t) {
  int sig2 = sx_second_signal(t);
  struct sigaction saved1;
  sx_install_prev(t, SIGUSR1, &saved1);
  struct sigaction before1 = sx_query(t, SIGUSR1);
  struct sigaction before2 = sx_query(t, sig2);

  evl_loop *a = st_loop(t), *b = st_loop(t);
  sx_sig sa, sb, sb2;
  sx_sig_init(&sa, t, a, 1);
  sx_sig_init(&sb, t, b, 1);
  sx_sig_init(&sb2, t, b, 0);
  T_OK(t, "A: add_signal_handler(SIGUSR1)",
       OPS->add_signal_handler(a, SIGUSR1, sx_sig_cb, &sa));
  T_OK(t, "B: add_signal_handler(SIGUSR1)",
       OPS->add_signal_handler(b, SIGUSR1, sx_sig_cb, &sb));
  T_OK(t, "B: add_signal_handler(SIGUSR2 or the second signal)",
       OPS->add_signal_handler(b, sig2, sx_sig_cb, &sb2));
  st_watchdog(t, a, 5000);
  st_watchdog(t, b, 5000);

  /* One delivery, neither loop running: each must see it on its next run. */
  raise(SIGUSR1);
  T_OK(t, "A: run_forever", OPS->run_forever(a));
  T_EQ(t, "A: handler calls", 1, sa.calls);
  T_OK(t, "B: run_forever", OPS->run_forever(b));
  T_EQ(t, "B: handler calls", 1, sb.calls);

  /* Closing B restores only what nobody else watches. */
  T_OK(t, "B: loop_close", OPS->loop_close(b));
  T_OK(t, "B: loop_free", OPS->loop_free(b));
  struct sigaction now1 = sx_query(t, SIGUSR1);
  T_TRUE(t, "SIGUSR1 still watched for A after B closed",
         now1.sa_handler != sx_prev_handler);
  sx_expect_disp(t, "SIGUSR2 (or the second signal) after B closed", sig2,
                 &before2);

  sa.stop_at = 2;
  raise(SIGUSR1);
  T_OK(t, "A: run_forever", OPS->run_forever(a));
  T_EQ(t, "A: handler calls after B closed", 2, sa.calls);
  T_EQ(t, "previous handler calls while watched", 0, sx_prev_hits);
  T_EQ(t, "B: SIGUSR2 (or the second signal) handler calls", 0, sb2.calls);

  st_free(t, a);
  sx_expect_disp(t, "SIGUSR1 after both closed", SIGUSR1, &before1);
  sigaction(SIGUSR1, &saved1, NULL);
}

/* S12: numbers outside 1..NSIG-1, SIGKILL and SIGSTOP are refused with
 * -EINVAL and change nothing. */
void test_s12_invalid_signal(evl_tctx *t) {
  static const int bad[] = {0, -1, NSIG, 1000, SIGKILL, SIGSTOP};
  evl_loop *loop = st_loop(t);
  sx_sig s;
  sx_sig_init(&s, t, loop, 0);
  struct sigaction kill_before = sx_query(t, SIGKILL);
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    char what[96];
    snprintf(what, sizeof what, "add_signal_handler(%d%s%s)", bad[i],
             bad[i] == SIGKILL ? ", SIGKILL" : "",
             bad[i] == SIGSTOP ? ", SIGSTOP" : "");
    T_RC(t, what, -EINVAL,
         OPS->add_signal_handler(loop, bad[i], sx_sig_cb, &s));
    snprintf(what, sizeof what, "remove_signal_handler(%d)", bad[i]);
    T_RC(t, what, -EINVAL, OPS->remove_signal_handler(loop, bad[i]));
  }
  T_RC(t, "add_signal_handler(NULL callback)", -EINVAL,
       OPS->add_signal_handler(loop, SIGUSR1, NULL, &s));
  sx_expect_disp(t, "SIGKILL disposition", SIGKILL, &kill_before);
  /* Nothing was left half-registered: a valid add still works. */
  T_OK(t, "add_signal_handler(SIGUSR1)",
       OPS->add_signal_handler(loop, SIGUSR1, sx_sig_cb, &s));
  T_EQ(t, "remove_signal_handler(SIGUSR1)", 1,
       OPS->remove_signal_handler(loop, SIGUSR1));
  st_free(t, loop);
}

/* Can this process put a handler on sig at all? Puts `before` back. */
static int sx_can_handle(int sig, const struct sigaction *before) {
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = sx_prev_handler;
  sigemptyset(&sa.sa_mask);
  if (sigaction(sig, &sa, NULL) != 0)
    return 0;
  sigaction(sig, before, NULL);
  return 1;
}

/* S12: every valid signal number other than SIGKILL and SIGSTOP is either
 * watched (add 0, remove 1, disposition back as before) or refused with
 * -ENOTSUP and nothing changed — never another error. */
void test_s12_unwatchable_enotsup(evl_tctx *t) {
  evl_loop *loop = st_loop(t);
  sx_sig s;
  sx_sig_init(&s, t, loop, 0);
  int watched = 0;
  for (int sig = 1; sig < NSIG; sig++) {
    struct sigaction before;
    /* Numbers the C library (or valgrind) keeps for itself are not valid
     * to anyone: installing a handler of the test's own is refused. */
    if (sig == SIGKILL || sig == SIGSTOP || sigaction(sig, NULL, &before) ||
        !sx_can_handle(sig, &before))
      continue;
    char what[96];
    snprintf(what, sizeof what, "add_signal_handler(%d, %s)", sig,
             strsignal(sig));
    int rc = OPS->add_signal_handler(loop, sig, sx_sig_cb, &s);
    if (rc == -ENOTSUP) {
      sx_expect_disp(t, what, sig, &before);
      continue;
    }
    if (rc != 0)
      T_FAIL(t, "%s: expected 0 or %d (%s), got %d (%s)", what, -ENOTSUP,
             evl_strerror(-ENOTSUP), rc, evl_strerror(rc));
    watched++;
    snprintf(what, sizeof what, "remove_signal_handler(%d, %s)", sig,
             strsignal(sig));
    T_EQ(t, what, 1, OPS->remove_signal_handler(loop, sig));
    sx_expect_disp(t, what, sig, &before);
  }
  T_GE(t, "signals watched (SIGUSR1 at least)", 1, watched);
  st_free(t, loop);
}
