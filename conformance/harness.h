/* harness.h — what a conformance test sees: its context, assertions, helpers.
 */
#ifndef EVL_CONFORMANCE_HARNESS_H
#define EVL_CONFORMANCE_HARNESS_H

#include <stdint.h>
#include <stdio.h>

#include <evl/backend.h>
#include <evl/evl.h>
#include <evl/impl.h>

typedef enum { EVL_T_BACKEND = 0, EVL_T_IMPL = 1 } evl_tkind;

typedef struct evl_tctx {
  const char *name; /* test name, "s1_fifo_order" */
  const char *rule; /* "S1" */
  /* K-tests: the backend under test; state is allocated and init'ed by the
   * harness (kt_open) when the test asks for it. */
  const evl_backend_ops *be;
  /* S-tests: the loop implementation under test. */
  const evl_impl_ops *impl;
  /* S-tests on ref-<backend>: the backend the reference core runs over, as
   * the runner resolved it (never looked up by the name the loop reports).
   * Its declared features and fd_limit are what a test may expect. NULL for
   * any other loop, whose expectations come from its own features only. */
  const evl_backend_ops *loop_be;
  double timeout_scale; /* EVL_TEST_TIMEOUT_SCALE, >= 1 */
} evl_tctx;

typedef void (*evl_test_fn)(evl_tctx *t);

typedef struct evl_test {
  const char *name;
  const char *rule;
  evl_tkind kind;
  uint32_t need_bf; /* backend features required (K-tests), else SKIP */
  uint32_t need_if; /* implementation features required (S-tests) */
  int timeout_s;    /* before scaling */
  const char *summary;
  evl_test_fn fn;
} evl_test;

extern const evl_test evl_tests[];
extern const int evl_ntests;

/* ---- reporting: each ends the test process ---------------------------- */
#if defined(__GNUC__)
#define EVL_T_NORETURN __attribute__((noreturn))
#define EVL_T_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define EVL_T_NORETURN
#define EVL_T_PRINTF(a, b)
#endif

/* "[S2] file:line: message" as the FAIL reason. */
void evl_t_fail(evl_tctx *t, const char *file, int line, const char *fmt,
                ...) EVL_T_NORETURN EVL_T_PRINTF(4, 5);
void evl_t_skip(evl_tctx *t, const char *fmt, ...) EVL_T_NORETURN
    EVL_T_PRINTF(2, 3);

#define T_FAIL(t, ...) evl_t_fail((t), __FILE__, __LINE__, __VA_ARGS__)
#define T_SKIP(t, ...) evl_t_skip((t), __VA_ARGS__)

/* A check that an implementation may declare as a known deviation
 * (evl_check_deviation in impl.h) names itself with an id. When it fails
 * and (test, id) is declared, the failure is recorded — the test ends as
 * XFAIL unless something else fails — and the test goes on; otherwise it is
 * a FAIL like any other. Its FAIL line says "check ID: ...". A declared
 * check that passes makes the test XPASS. */
void evl_t_check_failed(evl_tctx *t, const char *id, const char *file, int line,
                        const char *fmt, ...) EVL_T_PRINTF(5, 6);
void evl_t_check_passed(evl_tctx *t, const char *id);

/* Every assertion prints what was observed, the expected and the actual
 * value, and the condition's own text. Expected first, actual second. The
 * TC_ forms carry a check id (see above); the T_ forms end the test. */
#define EVL__T_REPORT(t, id, ...)                                              \
  do {                                                                         \
    if (id)                                                                    \
      evl_t_check_failed((t), (id), __FILE__, __LINE__, __VA_ARGS__);          \
    else                                                                       \
      evl_t_fail((t), __FILE__, __LINE__, __VA_ARGS__);                        \
  } while (0)
#define EVL__T_CMP(t, id, op, opname, what, expected, actual, text)            \
  do {                                                                         \
    long long evl__e = (long long)(expected), evl__a = (long long)(actual);    \
    if (!(evl__a op evl__e))                                                   \
      EVL__T_REPORT(t, id, "%s: expected %s%lld, got %lld [%s]", (what),       \
                    opname, evl__e, evl__a, text);                             \
    else if (id)                                                               \
      evl_t_check_passed((t), (id));                                           \
  } while (0)
#define TC_EQ(t, id, what, e, a)                                               \
  EVL__T_CMP(t, id, ==, "", what, e, a, #a " == " #e)
#define TC_LE(t, id, what, l, a)                                               \
  EVL__T_CMP(t, id, <=, "<= ", what, l, a, #a " <= " #l)
#define TC_GE(t, id, what, l, a)                                               \
  EVL__T_CMP(t, id, >=, ">= ", what, l, a, #a " >= " #l)
#define EVL__T_TRUE(t, id, what, cond, text)                                   \
  do {                                                                         \
    if (!(cond))                                                               \
      EVL__T_REPORT(t, id, "%s: expected true, got false [%s]", (what), text); \
    else if (id)                                                               \
      evl_t_check_passed((t), (id));                                           \
  } while (0)
#define TC_TRUE(t, id, what, cond) EVL__T_TRUE(t, id, what, cond, #cond)
#define EVL__T_NOID ((const char *)0)
#define T_EQ(t, what, e, a)                                                    \
  EVL__T_CMP(t, EVL__T_NOID, ==, "", what, e, a, #a " == " #e)
#define T_LE(t, what, l, a)                                                    \
  EVL__T_CMP(t, EVL__T_NOID, <=, "<= ", what, l, a, #a " <= " #l)
#define T_GE(t, what, l, a)                                                    \
  EVL__T_CMP(t, EVL__T_NOID, >=, ">= ", what, l, a, #a " >= " #l)
#define T_TRUE(t, what, cond) EVL__T_TRUE(t, EVL__T_NOID, what, cond, #cond)
#define T_NE(t, what, unexpected, actual)                                      \
  do {                                                                         \
    long long evl__u = (long long)(unexpected), evl__a = (long long)(actual);  \
    if (evl__u == evl__a)                                                      \
      T_FAIL(t, "%s: expected anything but %lld, got it [%s]", (what), evl__u, \
             #actual " != " #unexpected);                                      \
  } while (0)
/* An evl return code: expected 0, got -EBADF (Bad file descriptor). */
#define EVL__T_RC(t, id, what, expected, actual, text)                         \
  do {                                                                         \
    int evl__e = (expected), evl__a = (actual);                                \
    if (evl__e != evl__a)                                                      \
      EVL__T_REPORT(t, id, "%s: expected %d (%s), got %d (%s) [%s]", (what),   \
                    evl__e, evl_strerror(evl__e), evl__a,                      \
                    evl_strerror(evl__a), text);                               \
    else if (id)                                                               \
      evl_t_check_passed((t), (id));                                           \
  } while (0)
#define TC_RC(t, id, what, e, a) EVL__T_RC(t, id, what, e, a, #a)
#define T_RC(t, what, e, a) EVL__T_RC(t, EVL__T_NOID, what, e, a, #a)
/* Setup steps that must work for the test to mean anything. */
#define T_OK(t, what, a) EVL__T_RC(t, EVL__T_NOID, what, 0, a, #a)

/* ---- helpers for K-tests (backend alone) ------------------------------ */
typedef struct kt_backend {
  const evl_backend_ops *ops;
  void *state;
} kt_backend;
/* Allocates and inits the backend (fails the test on error). */
void kt_open(evl_tctx *t, kt_backend *kb);
void kt_close(kt_backend *kb);
/* wait() into out[cap]; fails the test on a negative return. */
int kt_wait(evl_tctx *t, kt_backend *kb, int64_t timeout_ns, evl_event *out,
            int cap);
/* Events for fd in out[0..n) or 0. */
uint32_t kt_events_for(const evl_event *out, int n, int fd);

/* ---- helpers for S-tests (a loop implementation) ---------------------- */
#define OPS (t->impl)
/* loop_new with default config (debug flags optional); fails the test on
 * error. st_free closes and frees it, failing the test if that errors. */
evl_loop *st_loop(evl_tctx *t);
evl_loop *st_loop_cfg(evl_tctx *t, unsigned flags, uint64_t slow_ns);
void st_free(evl_tctx *t, evl_loop *loop);
/* Skips the test unless the implementation has every bit in `need`. */
void st_need(evl_tctx *t, uint32_t need);
/* A one-shot timer that stops the loop after ms: the safety net that keeps
 * a broken implementation from hanging until the harness timeout. */
void st_watchdog(evl_tctx *t, evl_loop *loop, int ms);

/* ---- plumbing ---------------------------------------------------------- */
/* CLOCK_MONOTONIC ns, read directly (the independent clock of S2). */
uint64_t t_now(void);
void t_sleep_ms(int ms);
/* pipe2/socketpair with O_CLOEXEC|O_NONBLOCK; fail the test on error. */
void t_pipe(evl_tctx *t, int fds[2]);
void t_socketpair(evl_tctx *t, int fds[2]);
void t_close(int fd);
void t_write_byte(evl_tctx *t, int fd);
/* Reads everything available; returns bytes read (0 at EOF, -errno). */
long t_drain(int fd);

/* ---- the runner's side ----------------------------------------------- */
/* Runs one test in the current (child) process; never returns. `result_fd`
 * receives one line: "PASS", "FAIL <reason>", "SKIP <reason>", or for
 * declared checks "XFAIL <reason>" or "XPASS <reason>". */
void evl_t_run_child(const evl_test *test, evl_tctx *t,
                     int result_fd) EVL_T_NORETURN;

#endif
