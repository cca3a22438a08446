/* run.h — evl-bench's process side: implementations probed and loaded in
 * child processes, the child runner, merging rounds, the environment. */
#ifndef EVL_BENCH_RUN_H
#define EVL_BENCH_RUN_H

#include "bench.h"

/* ---- implementations ------------------------------------------------------
 */
typedef enum { BENCH_KIND_EVL, BENCH_KIND_RAW, BENCH_KIND_DIRECT } bench_kind;

/* One implementation as the parent sees it: names and what a probe child
 * reported. Nothing of it is loaded in the parent. */
typedef struct bench_impl {
  const char *name;
  bench_kind kind;
  const char *module; /* BENCH_KIND_DIRECT: file in the direct folder */
  int usable;
  char why[256];         /* why not usable */
  unsigned features;     /* evl feature bits */
  char features_s[256];  /* the same, as text */
  char description[256]; /* evl description, or a direct library's version */
  char benches[256];     /* direct: ",chain,idle,..." the kernels it has */
  /* The reference core itself (its call_later is evl_call_later) over some
   * backend: ref-epoll, ref-poll, ... share every line above the backend. */
  int refcore;
  /* Its backend lends an io_uring to the completion engine
   * (EVL_BF_COMPLETION): where the proactor runs natively. */
  int lends_ring;
} bench_impl;

/* Fills out[] from names (or every evl implementation, then the baselines
 * unless no_baselines), probing each in a child with a time limit of
 * limit_s seconds. Returns the count. */
int bench_impls_collect(const char *const *names, int nnames, int no_baselines,
                        double limit_s, bench_impl *out, int cap);
/* One implementation by name, not probed: for a process that loads it
 * itself and is the measurement (hyperfine's workload, callgrind), where a
 * probe child would add an interpreter start-up (seconds under valgrind). */
void bench_impl_unprobed(bench_impl *im, const char *name);
/* In the process that will run it: loads im and fills c's ops or direct
 * table and backend. 0, or -errno with why. */
int bench_impl_open(const bench_impl *im, bench_ctx *c, char *why, size_t len);
/* Does a usable im run benchmark `bench` (has_raw/has_direct/per_impl)? */
int bench_impl_runs(const bench_impl *im, const char *bench, int has_raw,
                    int has_direct, int per_impl);

/* ---- the child runner -------------------------------------------------------
 */
typedef struct bench_proc_result {
  int timed_out; /* killed at the limit */
  int sig;       /* the signal that ended it, 0 if it exited */
  int status;    /* exit status when it exited */
  double secs;
} bench_proc_result;

/* Runs fn(arg, fd) in a child process that leads its own process group;
 * each line it writes to fd reaches on_line. At limit_s seconds the whole
 * group is killed; so is whatever is left of it when the child ends. fn's
 * return value is the child's exit status. 0, or -errno if no child ran. */
int bench_proc_run(int (*fn)(void *arg, int fd), void *arg, double limit_s,
                   void (*on_line)(void *u, const char *line, size_t len),
                   void *u, bench_proc_result *res);

/* EVL_TEST_TIMEOUT_SCALE (>= 1, finite; 1 when unset): 0, or -EINVAL with
 * the bad text in *bad. */
int bench_timeout_scale(double *out, const char **bad);

/* ---- results
 * ----------------------------------------------------------------- */
/* Joins records (one JSON object per line) from every round into one figure
 * each, written comma-separated to out; returns the count. */
int bench_merge(const char *lines, bench_buf *out);
/* The environment record (JSON object). */
void bench_environment(bench_buf *b, const char *profile, int repeat,
                       long nofile);

#endif
