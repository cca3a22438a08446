/* s_core.h — helpers shared by the core S-tests (s_core_*.c, S1–S5, S7–S11). */
#ifndef EVL_CONFORMANCE_S_CORE_H
#define EVL_CONFORMANCE_S_CORE_H

#include <errno.h>
#include <stdint.h>

#include "harness.h"

#define SC_MS 1000000LL /* nanoseconds per millisecond */

/* Does the implementation have every bit in `bits`? (no SKIP) */
int sc_has(evl_tctx *t, uint32_t bits);
/* loop_stats; fails the test if it errors. Call only with EVL_IF_STATS. */
evl_loop_stats sc_stats(evl_tctx *t, evl_loop *loop);
/* run_forever / run_once expecting success (0 / >= 0). */
void sc_run(evl_tctx *t, evl_loop *loop);
void sc_run_once(evl_tctx *t, evl_loop *loop);
/* Spins for ns of CLOCK_MONOTONIC time (a deliberately slow callback). */
void sc_busy_ns(uint64_t ns);
/* Open fds of this process, from /proc/self/fd. */
int sc_fd_count(void);

/* An order log: callbacks append their index, the test compares. */
#define SC_LOG_MAX 4096
typedef struct sc_log {
  int n;
  int v[SC_LOG_MAX];
} sc_log;
void sc_log_add(sc_log *log, int v);
/* Fails unless the log holds exactly want[0..n). A failure names the
 * caller's line, not this helper's. */
void sc_log_expect_at(evl_tctx *t, const char *file, int line, const char *what,
                      const sc_log *log, const int *want, int n);
#define sc_log_expect(t, what, log, want, n)                                   \
  sc_log_expect_at(t, __FILE__, __LINE__, what, log, want, n)
/* Fails unless the log holds exactly 0, 1, ..., n-1. */
void sc_log_expect_seq_at(evl_tctx *t, const char *file, int line,
                          const char *what, const sc_log *log, int n);
#define sc_log_expect_seq(t, what, log, n)                                     \
  sc_log_expect_seq_at(t, __FILE__, __LINE__, what, log, n)

/* Error handler that records what it receives (S10, S11). */
#define SC_ERR_MAX 32
typedef struct sc_errs {
  int n;
  int codes[SC_ERR_MAX];
  uint64_t durations[SC_ERR_MAX];
  char messages[SC_ERR_MAX][128];
  char contexts[SC_ERR_MAX][64];
  void *args[SC_ERR_MAX];
  uint64_t at[SC_ERR_MAX]; /* t_now() when the handler was called */
} sc_errs;
void sc_err_handler(const evl_error_info *info, void *arg);
/* Number of recorded errors with this code. */
int sc_errs_count(const sc_errs *e, int code);

/* Redirects fd 2 into a pipe until sc_capture_end, which restores it and
 * returns what was written (NUL-terminated, truncated to len - 1). */
typedef struct sc_capture {
  int saved;
  int rd;
} sc_capture;
void sc_capture_begin(evl_tctx *t, sc_capture *c);
int sc_capture_end(evl_tctx *t, sc_capture *c, char *buf, int len);

#endif
