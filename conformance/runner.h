/* runner.h — evl-conform's own state, shared by its four files: the command
 * line (runner_main.c), target resolution (runner_target.c), process
 * control (runner_run.c) and the output formats (runner_output.c). */
#ifndef EVL_CONFORMANCE_RUNNER_H
#define EVL_CONFORMANCE_RUNNER_H

#include <stdio.h>

#include "harness.h"
#include "tools/child.h"

/* Order matters: it is the order of the non-pass list. */
#define RUNNER_STATUSES(X)                                                     \
  X(NONE, "-")                                                                 \
  X(PASS, "PASS")                                                              \
  X(FAIL, "FAIL")                                                              \
  X(TIMEOUT, "TIME")                                                           \
  X(CRASH, "CRASH")                                                            \
  X(XFAIL, "XFAIL")                                                            \
  X(XPASS, "XPASS")                                                            \
  X(SKIP, "SKIP")

typedef enum {
#define RUNNER_ST_ENUM(name, cell) RS_##name,
  RUNNER_STATUSES(RUNNER_ST_ENUM)
#undef RUNNER_ST_ENUM
} runner_status;

extern const char *const runner_cell[];   /* "PASS", "TIME", ... */
extern const char *const runner_stname[]; /* "PASS", "TIMEOUT", ... */

/* How a target is resolved, always inside a child process. */
typedef enum {
  TGT_BACKEND, /* evl_backend_lookup: K-tests */
  TGT_IMPL,    /* evl_impl_lookup: S-tests */
  TGT_REF,     /* evl_impl_ref over a backend: S-tests */
} runner_how;

typedef struct runner_target {
  runner_how how;
  evl_tkind kind;
  char *spec;
  int is_explicit; /* named on the command line */
  char label[80];
  /* Filled from the probe child. */
  int loaded;  /* lookup succeeded */
  int load_rc; /* lookup's code, or 1 when the child died */
  char load_err[320];
  int probe_rc;
  char why[320];
  char name[80];
  char desc[200];
  uint32_t features;
  int fd_limit;
  unsigned long long res_ns;
  size_t state_size;
  char **dev;  /* per test index: declared deviation reason, or NULL */
  char **cdev; /* per test index: a declared check deviation, or NULL */
} runner_target;

typedef struct runner_result {
  runner_status st;
  char *reason;
  char *output; /* the child's stdout/stderr, possibly truncated */
  double ms;
  int active; /* this cell exists (test kind matches target kind) */
  int died;   /* no result line: the output tail is the only explanation */
} runner_result;

typedef struct runner_job {
  int si, ti; /* selection index (R->sel), target index (R->tg) */
  child_proc proc;
  char buf[2048]; /* the result line */
  size_t blen;
} runner_job;

typedef struct runner_opts {
  char **backends, **impls;
  int nbackends, nimpls;
  char **filters;
  int nfilters;
  char **skip_impls; /* --skip-impl: globs left out of the default run */
  int nskip_impls;
  int list, list_backends, list_impls, tap, json, verbose, jobs;
  const char *junit;
  double scale; /* EVL_TEST_TIMEOUT_SCALE, >= 1 */
  long diff_n;  /* --differential: scenarios, or 0 for the suite */
  unsigned long long diff_seed; /* --seed, 1 by default */
} runner_opts;

/* Everything one run of evl-conform knows. */
typedef struct runner {
  runner_opts opt;
  runner_target *tg; /* targets: matrix columns */
  int ntg;
  int *sel; /* selected test indices: matrix rows */
  int nsel;
  runner_result *res;   /* [sel index * ntg + target] */
  int *job_si, *job_ti; /* cells to run, in output order */
  int njobs;
  int emit_next;    /* next job to stream (TAP, -v) */
  int tty_progress; /* "[done/total]" on a terminal */
  int progress_shown;
} runner;

/* runner_main.c: small utilities; out of memory ends the run (exit 2). */
void *runner_xalloc(size_t n); /* zeroed */
void *runner_xrealloc(void *p, size_t n);
char *runner_strdup(const char *s);
char *runner_fmt(const char *fmt, ...) EVL_T_PRINTF(1, 2);
int runner_is_path(const char *s);

/* runner_target.c */
void runner_build_targets(runner *R, int want_backends, int want_impls);
int runner_probe_all(runner *R); /* 0 or the exit status */
int runner_runnable(const runner_target *t);
int runner_absent(const runner_target *t);
int runner_target_down(const runner_target *t);
const char *runner_features_str(const runner_target *t, uint32_t f, char *buf,
                                size_t len);
int runner_precheck(runner *R, int si, int ti, runner_result *r);
int runner_resolve(const runner_target *t, const evl_backend_ops **be,
                   const evl_impl_ops **impl, char *err, size_t len);

/* runner_run.c */
void runner_run_all(runner *R);
int runner_is_failure(runner_status s);
void runner_count(const runner *R, int *pass, int *fail, int *skip);

/* runner_output.c */
void runner_progress(runner *R, int done, int total);
void runner_verbose_line(runner *R, int si, int ti);
void runner_tap_line(runner *R, int n, int si, int ti);
void runner_print_output_tail(FILE *f, const char *out, int lines,
                              const char *prefix);
void runner_print_matrix(runner *R);
void runner_print_json(runner *R);
int runner_write_junit(runner *R, const char *path);
void runner_list_tests(runner *R);
void runner_list_targets(runner *R, evl_tkind kind);

#endif
