/* bench.h — what every benchmark of evl-bench shares: context, records, stats.
 */
#ifndef EVL_BENCH_H
#define EVL_BENCH_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <evl/evl.h>
#include <evl/impl.h>

#include "spec.h"

/* The results schema; bump on an incompatible change (bench/README.md). */
#define BENCH_SCHEMA "evlab-bench/1"

/* The raw, hand-written baseline: no abstraction, just epoll. */
#define BENCH_RAW_NAME "raw-epoll"

/* Baselines that are not evl implementations: X(name, module, dep).
 * raw-epoll is built in (module NULL); each direct-<lib> is
 * bench/direct/<lib>.c built as its own module (bench/bench.mk reads these
 * rows; dep is a pkg-config name or -lNAME), loaded RTLD_LOCAL only in a
 * step's child process, because Debian's libev exports libevent's symbol
 * names: a libev- and a libevent-based baseline must never share an image.
 * A native-X implementation is compared with direct-X (its "tax"). */
#define BENCH_BASELINE_LIST(X)                                                 \
  X(BENCH_RAW_NAME, NULL, NULL)                                                \
  X("direct-libev", "direct-libev.so", "-lev")                                 \
  X("direct-libuv", "direct-libuv.so", "libuv")                                \
  X("direct-libevent", "direct-libevent.so", "libevent_core")
#define BENCH_DIRECT_PREFIX "direct-"

typedef enum { BENCH_QUICK = 0, BENCH_FULL = 1 } bench_profile;

/* One step's view of the world: which implementation, which profile, where
 * its records go, and how much time it may take. */
typedef struct bench_ctx {
  const char *impl_name;             /* "ref-epoll", BENCH_RAW_NAME, "./x.so" */
  const evl_impl_ops *ops;           /* NULL for the raw and direct baselines */
  const struct bench_direct *direct; /* a direct-* baseline's kernels */
  const char *backend; /* what the loop reported, "" until known */
  char backend_buf[64];
  bench_profile profile;
  int repeat; /* repeats per figure (>= 3) */
  /* This step's round (0-based) of how many: a sweep longer than a round's
   * budget shares its configurations out between the rounds. */
  int round, rounds;
  uint64_t deadline_ns; /* soft budget: sweeps stop when it passes */
  int out_fd;           /* records go here, one JSON object per line */
  int callgrind;        /* toggle collection around timed regions */
  unsigned long long fixed_events; /* events counted in callgrind mode */
  FILE *cg_events; /* callgrind mode: "<case> <count> <backend>" lines */
  const struct bench_echo_kernel *echo_k; /* echo's kernel, while it runs */
} bench_ctx;

/* The implementation the report's "where we stand" targets are about: the
 * benchmarks that decide a target against raw epoll by wall time also
 * measure it paired with the raw kernel in its own process. */
#define BENCH_TARGET_REF "ref-epoll"

/* ---- the benchmark list (X-macro: names, functions and report order) --- */
/* X(name, need_if, has_raw, has_direct, per_impl, summary): has_raw adds a
 * raw-epoll step, has_direct a step per direct-* baseline (its kernels are
 * in bench/direct/), per_impl a step per implementation. */
#define BENCH_LIST(X)                                                          \
  X(calibration, 0, 1, 0, 0, "bare syscall, epoll_wait(0), write+wait+read")   \
  X(chain, 0, 1, 1, 1, "n socketpairs, a active, w writes (libev bench.c)")    \
  X(idle, 0, 0, 1, 1, "one active fd among n idle ones")                       \
  X(timers, 0, 0, 1, 1, "timers at random deadlines: insert, fire, cancel")    \
  X(callbacks, 0, 0, 1, 1, "call_soon chains and fan-out")                     \
  X(pingpong, 0, 1, 1, 1, "one TCP loopback connection, round trips")          \
  X(echo, 0, 1, 1, 1, "TCP loopback echo server, client on its own thread")    \
  X(py_echo, 0, 0, 0, 1, "echo: a Python asyncio.Protocol server, py loops")   \
  X(wakeup, EVL_IF_THREADSAFE, 0, 0, 1, "cross-thread call_soon_threadsafe")   \
  X(accuracy, 0, 0, 0, 1, "timers of 1-100 ms: lateness")                      \
  X(memory, 0, 0, 0, 1, "bytes per registered fd and per pending timer")       \
  X(tasks, EVL_IF_FUTURES, 0, 0, 1, "task switch (raw, via the loop), spawn")  \
  X(task_echo, EVL_IF_FUTURES, 0, 0, 1,                                        \
    "echo: a task per connection vs callbacks")                                \
  X(proactor_echo, 0, 0, 0, 1,                                                 \
    "echo: reactor vs proactor (emulated, io_uring)")                          \
  X(proactor_pingpong, 0, 0, 0, 1, "pingpong: reactor vs proactor round trips")

/* Each runs its whole sweep for c's implementation; c->ops == NULL means the
 * raw baseline (only for has_raw). 0, or -errno when it could not run. */
#define BENCH_DECL(name, need, raw, direct, per, text)                         \
  int bench_##name(bench_ctx *c);                                              \
  extern const bench_section bench_section_##name;
BENCH_LIST(BENCH_DECL)
#undef BENCH_DECL

/* The fixed workload hyperfine times: chain at one size. */
int bench_chain_fixed(bench_ctx *c, int timeouts);

/* Callgrind cases (X-macro: name, count unit): each benchmark with a fixed,
 * small form runs it with collection on only around the timed region, then
 * dumps the counts under the case's name (bench/callgrind.c). */
#define BENCH_CG_LIST(X)                                                       \
  X(chain, "event")                                                            \
  X(chain_timeouts, "event")                                                   \
  X(callbacks_chain, "callback")                                               \
  X(callbacks_fanout, "callback")                                              \
  X(timers_insert, "timer")                                                    \
  X(timers_fire, "timer")                                                      \
  X(timers_cancel, "timer")                                                    \
  X(timers_rearm, "timer")                                                     \
  X(pingpong, "round trip")                                                    \
  X(task_echo_callbacks_c1, "request")                                         \
  X(task_echo_tasks_c1, "request")                                             \
  X(task_echo_callbacks_c100, "request")                                       \
  X(task_echo_tasks_c100, "request")                                           \
  X(idle_100, "iteration")                                                     \
  X(idle_10000, "iteration")
int bench_cg_chain(bench_ctx *c);
int bench_cg_timers(bench_ctx *c);
int bench_cg_callbacks(bench_ctx *c);
int bench_cg_pingpong(bench_ctx *c);
int bench_cg_task_echo(bench_ctx *c);
int bench_cg_idle(bench_ctx *c);
/* Instructions per operation of case `kase` for the implementation whose
 * file name is `safe`, from dir/callgrind/ (its backend copied out); 0 when
 * absent. */
double bench_cg_ops(const char *dir, const char *safe, const char *kase);
double bench_cg_per_op(const char *dir, const char *safe, const char *kase,
                       char *backend, size_t blen);

/* ---- time ------------------------------------------------------------- */
uint64_t bench_now(void); /* CLOCK_MONOTONIC ns */
void bench_sleep_ns(uint64_t ns);
int bench_over_budget(const bench_ctx *c);

/* ---- statistics --------------------------------------------------------- */
typedef struct bench_stats {
  double median, min, max, p10, p90, mean;
  int n;
} bench_stats;
void bench_stats_of(const double *v, int n, bench_stats *out);
/* Percentile p (0..100) of sorted values, linear interpolation. */
double bench_pct_sorted(const double *sorted, int n, double p);
void bench_sort(double *v, int n);
/* Sorts v in place; its median (0 when n is 0). */
double bench_median(double *v, int n);
/* 95 % bootstrap interval of median(a) / median(b) (b NULL: of median(a)),
 * over the repeats. 0, or -errno. */
int bench_boot_ratio(const double *a, int na, const double *b, int nb,
                     double *lo, double *hi);

/* ---- records ------------------------------------------------------------ */
/* A growable string, for building JSON pieces. */
typedef struct bench_buf {
  char *s;
  size_t len, cap;
} bench_buf;
void bench_buf_printf(bench_buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void bench_buf_json_str(bench_buf *b, const char *s);
void bench_buf_free(bench_buf *b);

/* "better": "lower" or "higher". params: a JSON object text "{...}". */
void bench_emit(bench_ctx *c, const char *bench, const char *params,
                const char *metric, const char *unit, const char *better,
                const double *repeats, int n);
/* A curve: x/y pairs (e.g. percentile -> latency) from the median repeat. */
void bench_emit_curve(bench_ctx *c, const char *bench, const char *params,
                      const char *metric, const char *xunit, const char *yunit,
                      const double *x, const double *y, int n);
void bench_skip(bench_ctx *c, const char *bench, const char *params,
                const char *fmt, ...) __attribute__((format(printf, 4, 5)));
void bench_note(bench_ctx *c, const char *bench, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* ---- helpers the benchmarks share --------------------------------------- */
/* evl_strerror() plus what the code usually means here (-ERANGE: fd limit). */
const char *bench_strerror(int rc);
/* Pins the calling thread to CPU `which` (0: the loop, 1: a load generator
 * or other thread) when the process may run on two or more; else no-op. */
void bench_pin(int which);
/* Raises RLIMIT_NOFILE to its hard limit; returns the new soft limit. */
long bench_raise_nofile(void);
/* Socketpairs (AF_UNIX stream), non-blocking, CLOEXEC: 0 or -errno. */
int bench_socketpair(int sv[2]);
/* A listening TCP socket on 127.0.0.1, ephemeral port. */
int bench_listen_tcp(int *port);
/* Connected, non-blocking, TCP_NODELAY. */
int bench_connect_tcp(int port);
int bench_nonblock(int fd);
void bench_nodelay(int fd);
/* Largest count of socketpairs that fits in the fd limit (keeps a reserve). */
int bench_max_pairs(void);
/* Opens a loop, remembering its backend name in c->backend. */
int bench_loop_new(bench_ctx *c, evl_loop **out);
void bench_loop_free(bench_ctx *c, evl_loop *loop);
/* The implementation's own timer re-arm (EVL_IF_REARM, within its table's
 * size), or NULL: the caller then cancels and schedules again. */
typedef int (*bench_rearm_fn)(evl_loop *loop, evl_handle h, int64_t delay_ns);
bench_rearm_fn bench_rearm_of(const evl_impl_ops *ops);
/* One iteration that never blocks: queue a no-op, then run_once. */
int bench_loop_spin(bench_ctx *c, evl_loop *loop);
/* Bytes in use by malloc now (mallinfo2: arena + mmap'ed blocks). */
long long bench_heap_bytes(void);
/* xorshift, so every implementation sees the same "random" sequence. */
uint64_t bench_rand(uint64_t *state);

/* The feature bits (EVL_BF_*) of the backend under c's loop, 0 if none. */
unsigned bench_backend_features(bench_ctx *c);
/* The reference core over a backend that lends its io_uring to the
 * completion engine (EVL_BF_COMPLETION): the proactor's native case. */
int bench_lends_ring(bench_ctx *c);
/* Under valgrind, does c's loop wait in io_uring_enter? Such a wait never
 * lets the process's other threads run there (ref-iouring's task_echo
 * case hung at 0 CPU in io_cqring_wait; natively it serves), so a case
 * with a peer thread is skipped. 0 outside valgrind. */
int bench_cg_uring_wait(bench_ctx *c);
/* Callgrind toggles (no-ops unless c->callgrind and running under it). */
void bench_cg_start(bench_ctx *c);
void bench_cg_stop(bench_ctx *c);
/* Stops collection, dumps the counts since the last dump under `name` and
 * records "<name> <count> <backend>" in c->cg_events. */
void bench_cg_case(bench_ctx *c, const char *name, unsigned long long count);

/* ---- paired runs: two kernels timed in turn in one process (paired.c) -- */
/* The record of a loop's cost over raw epoll's, timed in turn in one
 * process: the targets' figure where separate processes differ by more
 * than the goal's margin (bench/report_targets.c reads it). */
#define BENCH_PAIRED_METRIC "cost_vs_raw_paired"
/* This thread's CPU time, ns (user and system). */
uint64_t bench_thread_cpu_ns(void);
/* Which side (0 or 1) runs at position pos (0 or 1) of pair `pair` in
 * round `round`: the ABBA order every paired benchmark uses. */
int bench_paired_who(int pair, int pos, int round);
/* A BENCH_PAIRED_METRIC record of n ratios (lower is better); none when n
 * is 0. */
void bench_emit_paired(bench_ctx *c, const char *bench, const char *params,
                       const double *ratio, int n);

/* Latency samples: growable array of ns values. */
typedef struct bench_lat {
  double *v;
  size_t n, cap;
} bench_lat;
void bench_lat_add(bench_lat *l, double ns);
void bench_lat_free(bench_lat *l);

#endif
