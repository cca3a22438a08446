/* runner_main.c — evl-conform: runs every conformance test once per backend
 * and loop implementation, each in its own process, and reports the matrix.
 * This file reads the command line and drives the other three: targets
 * (runner_target.c), processes (runner_run.c), output (runner_output.c). */
#include <errno.h>
#include <fnmatch.h>
#include <getopt.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "diff.h"
#include "runner.h"

static void *runner_oom(void *p) {
  if (!p) {
    fprintf(stderr, "evl-conform: out of memory\n");
    exit(2);
  }
  return p;
}

void *runner_xalloc(size_t n) {
  return runner_oom(calloc(1, n ? n : 1));
}

void *runner_xrealloc(void *p, size_t n) {
  return runner_oom(realloc(p, n ? n : 1));
}

char *runner_strdup(const char *s) {
  size_t n = strlen(s ? s : "");
  char *p = runner_xalloc(n + 1);
  memcpy(p, s ? s : "", n);
  return p;
}

char *runner_fmt(const char *fmt, ...) {
  char buf[4096]; /* reasons are one line; longer ones are cut */
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  return runner_strdup(buf);
}

int runner_is_path(const char *s) {
  size_t n = strlen(s);
  return strchr(s, '/') != NULL || (n > 3 && strcmp(s + n - 3, ".so") == 0);
}

static int runner_selected(const runner *R, const evl_test *te) {
  if (R->opt.nfilters == 0)
    return 1;
  for (int i = 0; i < R->opt.nfilters; i++)
    if (fnmatch(R->opt.filters[i], te->name, 0) == 0 ||
        fnmatch(R->opt.filters[i], te->rule, 0) == 0)
      return 1;
  return 0;
}

static void runner_select_tests(runner *R) {
  R->sel = runner_xalloc(sizeof(int) * (size_t)(evl_ntests + 1));
  for (int i = 0; i < evl_ntests; i++)
    if (runner_selected(R, &evl_tests[i]))
      R->sel[R->nsel++] = i;
}

static void runner_usage(FILE *f) {
  fprintf(
      f,
      "usage: evl-conform [options]\n"
      "Runs the conformance suite: K-tests on backends, S-tests on loop\n"
      "implementations, each test in its own process with a timeout.\n\n"
      "  --backend NAME|PATH.so  K-tests on this backend and, unless --impl\n"
      "                          is given, S-tests on the reference core over\n"
      "                          it (repeatable)\n"
      "  --impl NAME|PATH.so     S-tests on this loop implementation "
      "(repeatable)\n"
      "  --fault NAME|PATH.so    S-tests on the reference core over the "
      "backend\n"
      "                          wrapped in fault injection: --impl "
      "ref-fault:NAME\n"
      "                          (faults: EVL_FAULT or NAME?LIST, see "
      "backends/fault.c)\n"
      "  --differential N        N seeded scenarios on every --impl (default:\n"
      "                          the ref-* loops), traces compared; the first\n"
      "                          disagreement is shrunk and printed\n"
      "  --seed S                the scenarios' seed (default 1)\n"
      "  --filter GLOB           only tests whose name or rule matches "
      "(repeatable)\n"
      "  --skip-impl GLOB        leave the implementations whose name matches\n"
      "                          out of the default run (repeatable)\n"
      "  --list                  list the tests and exit\n"
      "  --list-backends         list backends, features and probe status\n"
      "  --list-impls            list implementations and their deviations\n"
      "  --tap                   TAP version 13 on stdout (for prove)\n"
      "  --junit FILE            also write JUnit XML to FILE\n"
      "  --json                  a machine-readable matrix on stdout\n"
      "  --jobs N, -j N          run N tests at once (default: cores)\n"
      "  -v, --verbose           per-test lines and the output of failures\n"
      "  -h, --help              this text\n\n"
      "Without --backend or --impl: every built-in backend and every\n"
      "implementation. Results: PASS, FAIL, SKIP, TIME(OUT), CRASH, and for\n"
      "declared deviations XFAIL (fails as declared) and XPASS (passes "
      "anyway).\n"
      "The last line is 'N passed, N failed, N skipped': failed counts FAIL,\n"
      "TIMEOUT and CRASH; skipped counts SKIP, XFAIL and XPASS (neither\n"
      "counts as passed). Exit status: 0 if nothing failed, 1 if something\n"
      "failed, 2 on bad usage or a plugin that cannot be loaded.\n"
      "Environment: EVL_TEST_TIMEOUT_SCALE multiplies every timeout.\n");
}

static void runner_push(char ***v, int *n, const char *s) {
  *v = runner_xrealloc(*v, sizeof(char *) * (size_t)(*n + 1));
  (*v)[(*n)++] = (char *)s;
}

/* The command line into R->opt: -1 to go on, or the exit status (0 after
 * --help, 2 on bad usage, which is said in one line). */
static int runner_parse_args(runner *R, int argc, char **argv) {
  R->opt.diff_seed = 1;
  enum {
    O_BACKEND = 256,
    O_IMPL,
    O_FAULT,
    O_DIFF,
    O_SEED,
    O_FILTER,
    O_SKIP_IMPL,
    O_JUNIT,
  };
  /* Not static: the switches point into R. */
  const struct option longopts[] = {
      {"backend", required_argument, NULL, O_BACKEND},
      {"impl", required_argument, NULL, O_IMPL},
      {"fault", required_argument, NULL, O_FAULT},
      {"differential", required_argument, NULL, O_DIFF},
      {"seed", required_argument, NULL, O_SEED},
      {"filter", required_argument, NULL, O_FILTER},
      {"skip-impl", required_argument, NULL, O_SKIP_IMPL},
      /* Switches: getopt_long sets the field to 1 itself (returns 0). */
      {"list", no_argument, &R->opt.list, 1},
      {"list-backends", no_argument, &R->opt.list_backends, 1},
      {"list-impls", no_argument, &R->opt.list_impls, 1},
      {"tap", no_argument, &R->opt.tap, 1},
      {"json", no_argument, &R->opt.json, 1},
      {"verbose", no_argument, &R->opt.verbose, 1},
      {"junit", required_argument, NULL, O_JUNIT},
      {"jobs", required_argument, NULL, 'j'},
      {"help", no_argument, NULL, 'h'},
      {NULL, 0, NULL, 0},
  };
  int c;
  opterr = 0; /* one line of our own instead of getopt's and the usage */
  while ((c = getopt_long(argc, argv, ":j:vh", longopts, NULL)) != -1) {
    switch (c) {
    case O_BACKEND:
      runner_push(&R->opt.backends, &R->opt.nbackends, optarg);
      break;
    case O_IMPL:
      runner_push(&R->opt.impls, &R->opt.nimpls, optarg);
      break;
    case O_FAULT:
      runner_push(&R->opt.impls, &R->opt.nimpls,
                  runner_fmt("ref-fault:%s", optarg));
      break;
    case O_DIFF:
    case O_SEED: {
      char *end;
      unsigned long long v = strtoull(optarg, &end, 10);
      if (*end || !*optarg || (c == O_DIFF && (v < 1 || v > 100000000))) {
        fprintf(stderr, "evl-conform: --%s wants a number, got '%s'\n",
                c == O_DIFF ? "differential" : "seed", optarg);
        return 2;
      }
      if (c == O_DIFF)
        R->opt.diff_n = (long)v;
      else
        R->opt.diff_seed = v;
      break;
    }
    case O_FILTER:
      runner_push(&R->opt.filters, &R->opt.nfilters, optarg);
      break;
    case O_SKIP_IMPL:
      runner_push(&R->opt.skip_impls, &R->opt.nskip_impls, optarg);
      break;
    case 0: /* a switch, already set */
      break;
    case O_JUNIT:
      R->opt.junit = optarg;
      break;
    case 'j': {
      char *end;
      long n = strtol(optarg, &end, 10);
      if (*end || n < 1 || n > 1024) {
        fprintf(stderr,
                "evl-conform: --jobs wants a number from 1 to 1024, "
                "got '%s'\n",
                optarg);
        return 2;
      }
      R->opt.jobs = (int)n;
      break;
    }
    case 'v':
      R->opt.verbose = 1;
      break;
    case 'h':
      runner_usage(stdout);
      return 0;
    case ':':
      fprintf(stderr, "evl-conform: option '%s' needs a value (see --help)\n",
              argv[optind - 1]);
      return 2;
    default:
      /* A known long option (getopt leaves its val in optopt) given a
       * value; an unknown one leaves optopt 0. */
      if (optopt && strncmp(argv[optind - 1], "--", 2) == 0)
        fprintf(stderr,
                "evl-conform: option '%.*s' takes no value (see --help)\n",
                (int)strcspn(argv[optind - 1], "="), argv[optind - 1]);
      else if (optopt)
        fprintf(stderr, "evl-conform: unknown option '-%c' (see --help)\n",
                optopt);
      else
        fprintf(stderr, "evl-conform: unknown option '%s' (see --help)\n",
                argv[optind - 1]);
      return 2;
    }
  }
  if (optind < argc) {
    fprintf(stderr, "evl-conform: unexpected argument '%s' (see --help)\n",
            argv[optind]);
    return 2;
  }
  return -1;
}

/* What the command line and the environment ask for that could not work,
 * refused before anything runs: 0, or 2 after one line on stderr. */
static int runner_check_opts(runner *R) {
  if (R->opt.junit) {
    /* Refused now, not after the whole run. */
    FILE *f = fopen(R->opt.junit, "w");
    if (!f) {
      fprintf(stderr, "evl-conform: --junit %s: %s\n", R->opt.junit,
              strerror(errno));
      return 2;
    }
    fclose(f);
  }
  if (R->opt.tap && R->opt.json) {
    fprintf(stderr, "evl-conform: --tap and --json both want stdout\n");
    return 2;
  }
  R->opt.scale = 1;
  const char *sc = getenv("EVL_TEST_TIMEOUT_SCALE");
  if (sc && *sc) {
    char *end;
    double v = strtod(sc, &end);
    /* Finite and bounded: every timeout is scale * seconds in an int of
     * milliseconds. */
    if (*end || end == sc || !isfinite(v) || !(v > 0) || v > 1000) {
      fprintf(stderr,
              "evl-conform: EVL_TEST_TIMEOUT_SCALE='%s' is not a "
              "number above 0 and up to 1000\n",
              sc);
      return 2;
    }
    R->opt.scale = v < 1 ? 1 : v;
  }
  if (R->opt.jobs == 0) {
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    R->opt.jobs = n > 0 ? (int)n : 1;
  }
  return 0;
}

/* The run's outcome on stdout: the matrix (or JSON, or the TAP tail) and
 * the counts line. */
static void runner_report(runner *R, int pass, int fail, int skip) {
  if (R->opt.json) {
    runner_print_json(R);
    fprintf(stderr, "%d passed, %d failed, %d skipped\n", pass, fail, skip);
  } else {
    if (!R->opt.tap)
      runner_print_matrix(R);
    else
      for (int ti = 0; ti < R->ntg; ti++)
        if (runner_target_down(&R->tg[ti]))
          printf("# %s not runnable here: %s\n", R->tg[ti].label,
                 R->tg[ti].loaded ? R->tg[ti].why : R->tg[ti].load_err);
    int nx = 0;
    for (int i = 0; i < R->nsel * R->ntg; i++)
      nx += R->res[i].active &&
            (R->res[i].st == RS_XFAIL || R->res[i].st == RS_XPASS);
    if (!R->opt.tap) {
      printf("\n");
      if (nx)
        printf("(%d known deviations, XFAIL/XPASS, are counted as skipped)\n",
               nx);
    }
    printf("%d passed, %d failed, %d skipped\n", pass, fail, skip);
  }
}

int main(int argc, char **argv) {
  /* Static storage only so that LeakSanitizer sees what the state points
   * to as reachable until the process ends; every function gets R. */
  static runner state;
  runner *R = &state;
  int rc = runner_parse_args(R, argc, argv);
  if (rc >= 0)
    return rc;
  rc = runner_check_opts(R);
  if (rc)
    return rc;
  /* Tests see EPIPE rather than dying of SIGPIPE, as libuv's runner does. */
  signal(SIGPIPE, SIG_IGN);

  if (R->opt.diff_n > 0)
    return diff_main(R->opt.impls, R->opt.nimpls, R->opt.backends,
                     R->opt.nbackends, R->opt.diff_n, R->opt.diff_seed,
                     R->opt.scale);
  runner_select_tests(R);
  if (R->opt.list) {
    runner_list_tests(R);
    return 0;
  }
  if (R->opt.list_backends || R->opt.list_impls) {
    runner_build_targets(R, R->opt.list_backends, R->opt.list_impls);
    rc = runner_probe_all(R);
    if (R->opt.list_backends)
      runner_list_targets(R, EVL_T_BACKEND);
    if (R->opt.list_impls)
      runner_list_targets(R, EVL_T_IMPL);
    return rc;
  }
  if (R->nsel == 0) {
    fprintf(stderr, "evl-conform: no test matches the filter\n");
    return 2;
  }

  runner_build_targets(R, 1, 1);
  rc = runner_probe_all(R);
  if (rc)
    return rc;
  R->tty_progress = !R->opt.tap && !R->opt.verbose && isatty(2);
  R->res = runner_xalloc(sizeof *R->res * (size_t)(R->nsel * R->ntg + 1));
  runner_run_all(R);

  int pass, fail, skip;
  runner_count(R, &pass, &fail, &skip);
  if (R->opt.junit && runner_write_junit(R, R->opt.junit) != 0)
    rc = 2;
  runner_report(R, pass, fail, skip);
  fflush(stdout);
  if (fail)
    return 1;
  return rc;
}
