/* runner.c — evl-conform: runs every conformance test once per backend and
 * loop implementation, each in its own process, and reports the matrix. */
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <getopt.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"

/* ---------------------------------------------------------------- types */

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

static const char *const runner_cell[] = {
#define RUNNER_ST_CELL(name, cell) cell,
    RUNNER_STATUSES(RUNNER_ST_CELL)
#undef RUNNER_ST_CELL
};
static const char *const runner_stname[] = {
#define RUNNER_ST_NAME(name, cell) #name,
    RUNNER_STATUSES(RUNNER_ST_NAME)
#undef RUNNER_ST_NAME
};

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
  char **dev; /* per test index: declared deviation reason, or NULL */
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
  int test, tgt;
  pid_t pid;
  int rfd, ofd, pidfd;
  int eof, exited, wstatus;
  uint64_t start, deadline;
  char buf[2048];
  size_t blen;
} runner_job;

/* ---------------------------------------------------------------- options */

static struct {
  char **backends, **impls;
  int nbackends, nimpls;
  char **filters;
  int nfilters;
  int list, list_backends, list_impls, tap, json, verbose, jobs;
  const char *junit;
  double scale;
} opt;

static runner_target *tg;
static int ntg;
static int *sel; /* selected test indices */
static int nsel;
static runner_result *res; /* [sel index * ntg + target] */

/* ---------------------------------------------------------------- utils */

static uint64_t runner_now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void *runner_xalloc(size_t n) {
  void *p = calloc(1, n ? n : 1);
  if (!p) {
    fprintf(stderr, "evl-conform: out of memory\n");
    exit(2);
  }
  return p;
}

static char *runner_strdup(const char *s) {
  size_t n = strlen(s ? s : "");
  char *p = runner_xalloc(n + 1);
  memcpy(p, s ? s : "", n);
  return p;
}

static char *runner_fmt(const char *fmt, ...) EVL_T_PRINTF(1, 2);
static char *runner_fmt(const char *fmt, ...) {
  char buf[4096]; /* reasons are one line; longer ones are cut */
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  return runner_strdup(buf);
}

static const char *runner_signame(int sig) {
  switch (sig) {
  case SIGSEGV:
    return "SIGSEGV";
  case SIGABRT:
    return "SIGABRT";
  case SIGBUS:
    return "SIGBUS";
  case SIGFPE:
    return "SIGFPE";
  case SIGILL:
    return "SIGILL";
  case SIGKILL:
    return "SIGKILL";
  case SIGTERM:
    return "SIGTERM";
  case SIGPIPE:
    return "SIGPIPE";
  case SIGALRM:
    return "SIGALRM";
  case SIGTRAP:
    return "SIGTRAP";
  case SIGSYS:
    return "SIGSYS";
  case SIGHUP:
    return "SIGHUP";
  case SIGINT:
    return "SIGINT";
  case SIGQUIT:
    return "SIGQUIT";
  case SIGUSR1:
    return "SIGUSR1";
  case SIGUSR2:
    return "SIGUSR2";
  case SIGXCPU:
    return "SIGXCPU";
  case SIGXFSZ:
    return "SIGXFSZ";
  default:
    return "signal";
  }
}

static int runner_is_path(const char *s) {
  size_t n = strlen(s);
  return strchr(s, '/') != NULL || (n > 3 && strcmp(s + n - 3, ".so") == 0);
}

static int runner_write_all(int fd, const char *buf, size_t len) {
  while (len > 0) {
    ssize_t n = write(fd, buf, len);
    if (n < 0) {
      if (errno == EINTR)
        continue;
      return -errno;
    }
    buf += n;
    len -= (size_t)n;
  }
  return 0;
}

static int runner_pidfd_open(pid_t pid) {
#ifdef SYS_pidfd_open
  int fd = (int)syscall(SYS_pidfd_open, pid, 0);
  if (fd >= 0)
    fcntl(fd, F_SETFD, FD_CLOEXEC);
  return fd;
#else
  (void)pid;
  return -1;
#endif
}

/* A file for the child's output: a memfd where there is one. */
static int runner_outfile(void) {
#ifdef MFD_CLOEXEC
  int fd = memfd_create("evl-conform-output", MFD_CLOEXEC);
  if (fd >= 0)
    return fd;
#endif
  char path[] = "/tmp/evl-conform-XXXXXX";
  int fd2 = mkostemp(path, O_CLOEXEC);
  if (fd2 >= 0)
    unlink(path);
  return fd2;
}

/* In a fresh child: own process group, output to ofd, nothing else open. */
static void runner_child_setup(int ofd, int keep) {
  setpgid(0, 0);
  sigset_t all;
  sigemptyset(&all);
  sigprocmask(SIG_SETMASK, &all, NULL);
  signal(SIGINT, SIG_DFL);
  signal(SIGTERM, SIG_DFL);
  signal(SIGCHLD, SIG_DFL);
  signal(SIGHUP, SIG_DFL);
  int nul = open("/dev/null", O_RDONLY);
  if (nul >= 0 && nul != 0) {
    dup2(nul, 0);
    close(nul);
  }
  if (ofd >= 0) {
    dup2(ofd, 1);
    dup2(ofd, 2);
  }
  /* The runner's other pipes and output files must not count in this
   * test's fd baseline, nor keep sibling pipes open. */
#ifdef SYS_close_range
  if (keep > 3 && syscall(SYS_close_range, 3u, (unsigned)keep - 1, 0u) == 0 &&
      syscall(SYS_close_range, (unsigned)keep + 1, ~0u, 0u) == 0)
    goto closed;
#endif
  long max = sysconf(_SC_OPEN_MAX);
  if (max < 0 || max > 65536)
    max = 65536;
  for (int fd = 3; fd < max; fd++)
    if (fd != keep)
      close(fd);
#ifdef SYS_close_range
closed:
#endif
  setvbuf(stdout, NULL, _IOLBF, 0);
}

static int runner_resolve(const runner_target *t, const evl_backend_ops **be,
                          const evl_impl_ops **impl, char *err, size_t len) {
  *be = NULL;
  *impl = NULL;
  err[0] = '\0';
  switch (t->how) {
  case TGT_BACKEND:
    return evl_backend_lookup(t->spec, be, err, len);
  case TGT_IMPL:
    return evl_impl_lookup(t->spec, impl, err, len);
  case TGT_REF:
    return evl_impl_ref(t->spec, impl, err, len);
  }
  return -EINVAL;
}

/* One line of text with no newline, for the probe protocol. */
static void runner_put(int fd, const char *key, const char *val) {
  char line[600];
  int n = snprintf(line, sizeof line, "%s %s", key, val ? val : "");
  if (n < 0)
    return;
  if ((size_t)n >= sizeof line - 1)
    n = (int)sizeof line - 2;
  for (int i = 0; i < n; i++)
    if (line[i] == '\n')
      line[i] = ' ';
  line[n++] = '\n';
  runner_write_all(fd, line, (size_t)n);
}

/* The probe child: resolve, validate, probe, describe; never returns. */
static void runner_probe_child(const runner_target *t, int wfd) {
  const evl_backend_ops *be;
  const evl_impl_ops *impl;
  char err[320], buf[400];
  int rc = runner_resolve(t, &be, &impl, err, sizeof err);
  if (rc == 0 && !be && !impl) {
    rc = EVL_EPLUGIN;
    snprintf(err, sizeof err, "lookup returned no table");
  }
  snprintf(buf, sizeof buf, "%d", rc);
  runner_put(wfd, "load", buf);
  if (rc != 0) {
    runner_put(wfd, "err", err[0] ? err : evl_strerror(rc));
    _exit(0);
  }
  char why[320] = "";
  int prc = be ? evl_backend_probe(be, why, sizeof why)
               : evl_impl_probe(impl, why, sizeof why);
  snprintf(buf, sizeof buf, "%d", prc);
  runner_put(wfd, "probe", buf);
  runner_put(wfd, "why", why[0] ? why : (prc ? evl_strerror(prc) : ""));
  if (be) {
    runner_put(wfd, "name", be->name);
    runner_put(wfd, "desc", be->description);
    snprintf(buf, sizeof buf, "%u", (unsigned)be->features);
    runner_put(wfd, "features", buf);
    snprintf(buf, sizeof buf, "%d", be->fd_limit);
    runner_put(wfd, "fdlimit", buf);
    snprintf(buf, sizeof buf, "%llu", (unsigned long long)be->resolution_ns);
    runner_put(wfd, "res", buf);
    snprintf(buf, sizeof buf, "%zu", be->state_size);
    runner_put(wfd, "state", buf);
  } else {
    runner_put(wfd, "name", impl->name);
    runner_put(wfd, "desc", impl->description);
    snprintf(buf, sizeof buf, "%u", (unsigned)impl->features);
    runner_put(wfd, "features", buf);
    for (int i = 0; i < evl_ntests; i++) {
      if (evl_tests[i].kind != EVL_T_IMPL)
        continue;
      const char *r = evl_impl_deviation(impl, evl_tests[i].name);
      if (r) {
        snprintf(buf, sizeof buf, "%d %s", i, r);
        runner_put(wfd, "dev", buf);
      }
    }
  }
  runner_put(wfd, "end", "");
  _exit(0);
}

/* Resolves a target in a child so that a plugin whose constructor, lookup
 * or probe crashes or hangs cannot take the runner down. */
static void runner_probe(runner_target *t) {
  int p[2];
  t->loaded = 0;
  t->load_rc = 1;
  t->probe_rc = 0;
  if (pipe2(p, O_CLOEXEC) != 0) {
    snprintf(t->load_err, sizeof t->load_err, "pipe: %s", strerror(errno));
    return;
  }
  int ofd = runner_outfile();
  fflush(NULL);
  pid_t pid = fork();
  if (pid < 0) {
    snprintf(t->load_err, sizeof t->load_err, "fork: %s", strerror(errno));
    close(p[0]);
    close(p[1]);
    if (ofd >= 0)
      close(ofd);
    return;
  }
  if (pid == 0) {
    close(p[0]);
    runner_child_setup(ofd, p[1]);
    runner_probe_child(t, p[1]);
  }
  setpgid(pid, pid);
  close(p[1]);
  size_t cap = 4096, len = 0;
  char *text = runner_xalloc(cap);
  uint64_t deadline = runner_now_ms() + (uint64_t)(10000 * opt.scale);
  int timed_out = 0, reaped = 0, st = 0;
  for (;;) {
    int64_t left = (int64_t)(deadline - runner_now_ms());
    if (left <= 0) {
      timed_out = 1;
      break;
    }
    struct pollfd pfd = {.fd = p[0], .events = POLLIN};
    int n = poll(&pfd, 1, (int)(left > 200 ? 200 : left));
    if (n < 0 && errno != EINTR)
      break;
    if (n <= 0) {
      /* A grandchild may hold the pipe open: stop once the child is gone. */
      if (waitpid(pid, &st, WNOHANG) == pid) {
        reaped = 1;
        break;
      }
      continue;
    }
    if (len + 1024 > cap) {
      char *nt = realloc(text, cap * 2);
      if (!nt)
        break;
      text = nt;
      cap *= 2;
    }
    ssize_t r = read(p[0], text + len, cap - len - 1);
    if (r <= 0)
      break;
    len += (size_t)r;
  }
  close(p[0]);
  text[len] = '\0';
  if (timed_out)
    kill(pid, SIGKILL);
  if (!reaped)
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
      ;
  kill(-pid, SIGKILL); /* whatever the plugin forked */
  int signaled = WIFSIGNALED(st) ? WTERMSIG(st) : 0;
  if (ofd >= 0)
    close(ofd);

  int ended = 0;
  t->dev = runner_xalloc(sizeof(char *) * (size_t)(evl_ntests + 1));
  for (char *line = text, *nl; *line; line = nl + 1) {
    nl = strchr(line, '\n');
    if (!nl)
      break;
    *nl = '\0';
    char *val = strchr(line, ' ');
    val = val ? val + 1 : line + strlen(line);
    if (strncmp(line, "load ", 5) == 0) {
      t->load_rc = atoi(val);
      t->loaded = t->load_rc == 0;
    } else if (strncmp(line, "err ", 4) == 0)
      snprintf(t->load_err, sizeof t->load_err, "%s", val);
    else if (strncmp(line, "probe ", 6) == 0)
      t->probe_rc = atoi(val);
    else if (strncmp(line, "why ", 4) == 0)
      snprintf(t->why, sizeof t->why, "%s", val);
    else if (strncmp(line, "name ", 5) == 0)
      snprintf(t->name, sizeof t->name, "%s", val);
    else if (strncmp(line, "desc ", 5) == 0)
      snprintf(t->desc, sizeof t->desc, "%s", val);
    else if (strncmp(line, "features ", 9) == 0)
      t->features = (uint32_t)strtoul(val, NULL, 10);
    else if (strncmp(line, "fdlimit ", 8) == 0)
      t->fd_limit = atoi(val);
    else if (strncmp(line, "res ", 4) == 0)
      t->res_ns = strtoull(val, NULL, 10);
    else if (strncmp(line, "state ", 6) == 0)
      t->state_size = (size_t)strtoull(val, NULL, 10);
    else if (strncmp(line, "dev ", 4) == 0) {
      char *end;
      long i = strtol(val, &end, 10);
      if (i >= 0 && i < evl_ntests && *end == ' ')
        t->dev[i] = runner_strdup(end + 1);
    } else if (strncmp(line, "end", 3) == 0)
      ended = 1;
  }
  free(text);
  if (t->loaded && !ended) {
    /* Lookup worked but the probe or the table walk died. */
    t->loaded = 0;
    t->load_rc = 1;
  }
  if (t->load_rc == 1 || (!t->loaded && !t->load_err[0])) {
    t->load_rc = EVL_EPLUGIN;
    if (timed_out)
      snprintf(t->load_err, sizeof t->load_err,
               "hung while loading or probing (killed after %.0f s)",
               10 * opt.scale);
    else if (signaled)
      snprintf(t->load_err, sizeof t->load_err,
               "crashed while loading or probing (%s)",
               runner_signame(signaled));
    else
      snprintf(t->load_err, sizeof t->load_err,
               "the loader exited without an answer (status %d)",
               WIFEXITED(st) ? WEXITSTATUS(st) : -1);
  }
}

/* ---------------------------------------------------------------- targets */

static void runner_add_target(runner_how how, const char *spec, int expl) {
  for (int i = 0; i < ntg; i++)
    if (tg[i].how == how && strcmp(tg[i].spec, spec) == 0)
      return;
  runner_target *nt = realloc(tg, sizeof *tg * (size_t)(ntg + 1));
  if (!nt) {
    fprintf(stderr, "evl-conform: out of memory\n");
    exit(2);
  }
  tg = nt;
  runner_target *t = &tg[ntg++];
  memset(t, 0, sizeof *t);
  t->how = how;
  t->kind = how == TGT_BACKEND ? EVL_T_BACKEND : EVL_T_IMPL;
  t->spec = runner_strdup(spec);
  t->is_explicit = expl;
}

static void runner_build_targets(int want_backends, int want_impls) {
  if (opt.nbackends == 0 && opt.nimpls == 0) {
    const char *const *b = want_backends ? evl_backend_names() : NULL;
    for (; b && *b; b++)
      runner_add_target(TGT_BACKEND, *b, 0);
    const char *const *im = want_impls ? evl_impl_names() : NULL;
    for (; im && *im; im++)
      runner_add_target(TGT_IMPL, *im, 0);
    return;
  }
  for (int i = 0; i < opt.nbackends && want_backends; i++)
    runner_add_target(TGT_BACKEND, opt.backends[i], 1);
  if (opt.nimpls == 0)
    for (int i = 0; i < opt.nbackends && want_impls; i++)
      runner_add_target(TGT_REF, opt.backends[i], 1);
  for (int i = 0; i < opt.nimpls && want_impls; i++)
    runner_add_target(TGT_IMPL, opt.impls[i], 1);
}

static int runner_runnable(const runner_target *t) {
  return t->loaded && t->probe_rc == 0;
}

/* A name or module that is simply absent here, as opposed to broken. */
static int runner_absent(const runner_target *t) {
  return t->load_rc == EVL_ENOBACKEND || t->load_rc == EVL_EPROBE ||
         t->load_rc == -ENOENT;
}

static void runner_label(runner_target *t) {
  const char *base = t->spec;
  if (runner_is_path(t->spec)) {
    const char *s = strrchr(t->spec, '/');
    base = s ? s + 1 : t->spec;
  }
  if (t->how == TGT_REF) {
    if (t->name[0])
      snprintf(t->label, sizeof t->label, "%s", t->name);
    else
      snprintf(t->label, sizeof t->label, "ref-%s", base);
  } else if (runner_is_path(t->spec) && t->name[0])
    snprintf(t->label, sizeof t->label, "%s", t->name);
  else
    snprintf(t->label, sizeof t->label, "%s", base);
  /* Two columns must never share a heading. */
  char base_label[64];
  snprintf(base_label, sizeof base_label, "%.60s", t->label);
  for (int n = 2; n < 1000; n++) {
    int dup = 0;
    for (runner_target *o = tg; o < t; o++)
      if (o->kind == t->kind && strcmp(o->label, t->label) == 0)
        dup = 1;
    if (!dup)
      break;
    snprintf(t->label, sizeof t->label, "%s#%d", base_label, n);
  }
}

/* Drops "spec: " from a loader message (dlerror() names the path), so the
 * one error line names it once. */
static void runner_unname(char *err, const char *spec) {
  size_t n = strlen(spec);
  char *at = strstr(err, spec);
  if (n && at && strncmp(at + n, ": ", 2) == 0)
    memmove(at, at + n + 2, strlen(at + n + 2) + 1);
}

/* Probes every target; a broken plugin named on the command line ends the
 * run with one line. Returns 0 or the exit status. */
static int runner_probe_all(void) {
  int bad = 0;
  for (int i = 0; i < ntg; i++) {
    runner_probe(&tg[i]);
    runner_label(&tg[i]);
    runner_target *t = &tg[i];
    if (t->loaded || (!t->is_explicit && runner_absent(t)))
      continue;
    /* --backend X failing already said why; its ref twin fails alike. */
    int twin = 0;
    for (int j = 0; j < i && t->how == TGT_REF; j++)
      twin |= tg[j].how == TGT_BACKEND && !tg[j].loaded &&
              strcmp(tg[j].spec, t->spec) == 0;
    if (twin)
      continue;
    if (!t->is_explicit) {
      fprintf(stderr, "evl-conform: %s: %s\n", t->spec, t->load_err);
      continue;
    }
    runner_unname(t->load_err, t->spec);
    fprintf(stderr, "evl-conform: %s: %s\n", t->spec, t->load_err);
    bad = 1;
  }
  return bad ? 2 : 0;
}

/* ---------------------------------------------------------------- tests */

static int runner_selected(const evl_test *te) {
  if (opt.nfilters == 0)
    return 1;
  for (int i = 0; i < opt.nfilters; i++)
    if (fnmatch(opt.filters[i], te->name, 0) == 0 ||
        fnmatch(opt.filters[i], te->rule, 0) == 0)
      return 1;
  return 0;
}

static void runner_select_tests(void) {
  sel = runner_xalloc(sizeof(int) * (size_t)(evl_ntests + 1));
  for (int i = 0; i < evl_ntests; i++)
    if (runner_selected(&evl_tests[i]))
      sel[nsel++] = i;
}

static int runner_timeout_ms(const evl_test *te) {
  int s = te->timeout_s > 0 ? te->timeout_s : 10;
  return (int)(s * 1000 * opt.scale);
}

static const char *runner_features_str(const runner_target *t, uint32_t f,
                                       char *buf, size_t len) {
  return t->kind == EVL_T_BACKEND ? evl_backend_features_str(f, buf, len)
                                  : evl_impl_features_str(f, buf, len);
}

/* Decides a cell without forking where possible; returns 1 if decided. */
static int runner_precheck(int si, int ti, runner_result *r) {
  const evl_test *te = &evl_tests[sel[si]];
  runner_target *t = &tg[ti];
  char buf[200];
  if (!t->loaded) {
    if (runner_absent(t)) {
      r->st = RS_SKIP;
      r->reason =
          runner_fmt("%s not available here: %s", t->label, t->load_err);
    } else {
      r->st = RS_FAIL;
      r->reason =
          runner_fmt("%s could not be loaded: %s", t->label, t->load_err);
    }
    return 1;
  }
  if (t->probe_rc != 0) {
    r->st = RS_SKIP;
    r->reason = runner_fmt("not runnable here: %s", t->why);
    return 1;
  }
  uint32_t need = t->kind == EVL_T_BACKEND ? te->need_bf : te->need_if;
  uint32_t missing = need & ~t->features;
  if (missing) {
    r->st = RS_SKIP;
    r->reason =
        runner_fmt("missing %s feature %s",
                   t->kind == EVL_T_BACKEND ? "backend" : "implementation",
                   runner_features_str(t, missing, buf, sizeof buf));
    return 1;
  }
  return 0;
}

static void runner_launch(runner_job *j) {
  const evl_test *te = &evl_tests[sel[j->test]];
  runner_target *t = &tg[j->tgt];
  int p[2];
  j->pid = -1;
  j->rfd = j->ofd = j->pidfd = -1;
  j->eof = j->exited = 0;
  j->blen = 0;
  j->start = runner_now_ms();
  j->deadline = j->start + (uint64_t)runner_timeout_ms(te);
  if (pipe2(p, O_CLOEXEC) != 0)
    return;
  j->ofd = runner_outfile();
  fflush(NULL);
  pid_t pid = fork();
  if (pid < 0) {
    close(p[0]);
    close(p[1]);
    return;
  }
  if (pid == 0) {
    close(p[0]);
    runner_child_setup(j->ofd, p[1]);
    const evl_backend_ops *be;
    const evl_impl_ops *impl;
    char err[320];
    int rc = runner_resolve(t, &be, &impl, err, sizeof err);
    if (rc != 0 || (!be && !impl)) {
      char line[400];
      int n = snprintf(line, sizeof line, "FAIL could not load %s: %s\n",
                       t->spec, err[0] ? err : evl_strerror(rc));
      runner_write_all(p[1], line, (size_t)n);
      _exit(1);
    }
    evl_tctx ctx = {.name = te->name,
                    .rule = te->rule,
                    .be = be,
                    .impl = impl,
                    .timeout_scale = opt.scale};
    evl_t_run_child(te, &ctx, p[1]);
  }
  setpgid(pid, pid); /* also in the child: whichever runs first */
  close(p[1]);
  j->pid = pid;
  j->rfd = p[0];
  fcntl(j->rfd, F_SETFL, O_NONBLOCK);
  j->pidfd = runner_pidfd_open(pid);
}

static char *runner_read_output(int fd) {
  if (fd < 0)
    return NULL;
  off_t size = lseek(fd, 0, SEEK_END);
  if (size <= 0)
    return NULL;
  /* The tail is what explains a failure. */
  off_t keep = 64 * 1024, from = size > keep ? size - keep : 0;
  size_t len = (size_t)(size - from);
  char *buf = runner_xalloc(len + 1);
  ssize_t n = pread(fd, buf, len, from);
  buf[n > 0 ? n : 0] = '\0';
  return buf;
}

static void runner_drain(runner_job *j) {
  while (!j->eof && j->rfd >= 0) {
    if (j->blen >= sizeof j->buf - 1)
      break;
    ssize_t n = read(j->rfd, j->buf + j->blen, sizeof j->buf - 1 - j->blen);
    if (n > 0)
      j->blen += (size_t)n;
    else if (n == 0)
      j->eof = 1;
    else if (errno != EINTR)
      break;
  }
  j->buf[j->blen] = '\0';
}

/* Process groups of running tests, for the interrupt handler: a test runs
 * in its own group, so ^C reaches only the runner, which must not leave a
 * hung test behind. */
static volatile pid_t *runner_live;

static void runner_live_set(pid_t old, pid_t now) {
  for (int i = 0; runner_live && i < opt.jobs; i++)
    if (runner_live[i] == old) {
      runner_live[i] = now;
      return;
    }
}

static void runner_on_signal(int sig) {
  for (int i = 0; runner_live && i < opt.jobs; i++)
    if (runner_live[i] > 0)
      kill(-runner_live[i], SIGKILL);
  signal(sig, SIG_DFL);
  raise(sig);
}

/* The first line of a sanitizer's report, which says what went wrong, for
 * a test process that died without a result. */
static const char *runner_sanitizer_line(const char *out) {
  static const char *const marks[] = {
      "runtime error:", "ERROR: AddressSanitizer", "ERROR: LeakSanitizer",
      "WARNING: ThreadSanitizer"};
  const char *best = NULL;
  for (size_t i = 0; out && i < sizeof marks / sizeof marks[0]; i++) {
    const char *m = strstr(out, marks[i]);
    if (m && (!best || m < best))
      best = m;
  }
  if (!best)
    return NULL;
  while (best > out && best[-1] != '\n')
    best--;
  return best;
}

static void runner_finish(runner_job *j, runner_result *r, int timed_out) {
  const evl_test *te = &evl_tests[sel[j->test]];
  runner_target *t = &tg[j->tgt];
  r->ms = (double)(runner_now_ms() - j->start);
  if (j->pid < 0) {
    r->st = RS_FAIL;
    r->reason =
        runner_fmt("could not start the test process: %s", strerror(errno));
  } else {
    runner_drain(j);
    /* Grandchildren (forked by the test) die with their group. */
    kill(-j->pid, SIGKILL);
    runner_live_set(j->pid, 0);
    char *nl = strchr(j->buf, '\n');
    if (nl)
      *nl = '\0';
    if (timed_out) {
      r->st = RS_TIMEOUT;
      r->reason = runner_fmt("[%s] timed out after %d ms (killed)", te->rule,
                             runner_timeout_ms(te));
    } else if (nl && strncmp(j->buf, "PASS", 4) == 0) {
      r->st = RS_PASS;
    } else if (nl && strncmp(j->buf, "FAIL", 4) == 0) {
      r->st = RS_FAIL;
      r->reason = runner_strdup(j->buf[4] ? j->buf + 5 : "(no reason)");
    } else if (nl && strncmp(j->buf, "SKIP", 4) == 0) {
      r->st = RS_SKIP;
      r->reason = runner_strdup(j->buf[4] ? j->buf + 5 : "(no reason)");
    } else if (WIFSIGNALED(j->wstatus)) {
      int sig = WTERMSIG(j->wstatus);
      r->st = RS_CRASH;
      r->died = 1;
      r->reason = runner_fmt("[%s] killed by %s (%s)", te->rule,
                             runner_signame(sig), strsignal(sig));
    } else {
      r->st = RS_FAIL;
      r->died = 1;
      r->reason = runner_fmt(
          "[%s] test process exited with status %d without a result", te->rule,
          WIFEXITED(j->wstatus) ? WEXITSTATUS(j->wstatus) : -1);
    }
    r->output = runner_read_output(j->ofd);
    const char *why = r->died ? runner_sanitizer_line(r->output) : NULL;
    if (why) {
      char *old = r->reason;
      r->reason = runner_fmt("%s: %.*s", old, (int)strcspn(why, "\n"), why);
      free(old);
    }
  }
  if (j->rfd >= 0)
    close(j->rfd);
  if (j->ofd >= 0)
    close(j->ofd);
  if (j->pidfd >= 0)
    close(j->pidfd);
  j->rfd = j->ofd = j->pidfd = -1;

  const char *dev = t->dev ? t->dev[sel[j->test]] : NULL;
  if (dev) {
    if (r->st == RS_PASS) {
      r->st = RS_XPASS;
      r->reason = runner_fmt("declared deviation did not show: %s", dev);
    } else if (r->st == RS_FAIL || r->st == RS_TIMEOUT || r->st == RS_CRASH) {
      char *old = r->reason;
      r->reason = runner_fmt("known deviation: %s (actual: %s %s)", dev,
                             runner_stname[r->st], old ? old : "");
      free(old);
      r->st = RS_XFAIL;
    }
  }
}

/* ---------------------------------------------------------------- output */

static void runner_tap_line(int n, int si, int ti);
static void runner_progress(int done, int total);
static void runner_verbose_line(int si, int ti);

static int runner_emit_next; /* next job index to stream, in order */
static int *job_si, *job_ti;
static int njobs;

static void runner_stream(void) {
  while (runner_emit_next < njobs) {
    int si = job_si[runner_emit_next], ti = job_ti[runner_emit_next];
    if (res[si * ntg + ti].st == RS_NONE)
      break;
    runner_emit_next++;
    if (opt.tap)
      runner_tap_line(runner_emit_next, si, ti);
    else if (opt.verbose && !opt.json)
      runner_verbose_line(si, ti);
  }
}

static void runner_run_all(void) {
  for (int si = 0; si < nsel; si++)
    for (int ti = 0; ti < ntg; ti++)
      if (tg[ti].kind == evl_tests[sel[si]].kind)
        njobs++;
  job_si = runner_xalloc(sizeof(int) * (size_t)(njobs + 1));
  job_ti = runner_xalloc(sizeof(int) * (size_t)(njobs + 1));
  int k = 0;
  for (int si = 0; si < nsel; si++)
    for (int ti = 0; ti < ntg; ti++)
      if (tg[ti].kind == evl_tests[sel[si]].kind) {
        job_si[k] = si;
        job_ti[k] = ti;
        res[si * ntg + ti].active = 1;
        k++;
      }
  if (opt.tap) {
    printf("TAP version 13\n1..%d\n", njobs);
    fflush(stdout);
  }
  runner_job *run = runner_xalloc(sizeof *run * (size_t)opt.jobs);
  runner_live = runner_xalloc(sizeof(pid_t) * (size_t)opt.jobs);
  struct sigaction sa = {.sa_handler = runner_on_signal};
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, NULL);
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGHUP, &sa, NULL);
  int nrun = 0, next = 0, done = 0;
  struct pollfd *pfd = runner_xalloc(sizeof *pfd * (size_t)opt.jobs * 2);
  while (next < njobs || nrun > 0) {
    while (nrun < opt.jobs && next < njobs) {
      int si = job_si[next], ti = job_ti[next];
      next++;
      runner_result *r = &res[si * ntg + ti];
      if (runner_precheck(si, ti, r)) {
        done++;
        continue;
      }
      runner_job *j = &run[nrun++];
      memset(j, 0, sizeof *j);
      j->test = si;
      j->tgt = ti;
      runner_launch(j);
      if (j->pid > 0)
        runner_live_set(0, j->pid);
      if (j->pid < 0) {
        runner_finish(j, r, 0);
        nrun--;
        done++;
      }
    }
    runner_stream();
    runner_progress(done, njobs);
    if (nrun == 0)
      continue;

    uint64_t now = runner_now_ms();
    int64_t wait_ms = 1000;
    int np = 0, need_tick = 0;
    for (int i = 0; i < nrun; i++) {
      runner_job *j = &run[i];
      int64_t left = (int64_t)(j->deadline - now);
      if (left < wait_ms)
        wait_ms = left < 0 ? 0 : left;
      if (!j->eof)
        pfd[np++] = (struct pollfd){.fd = j->rfd, .events = POLLIN};
      if (j->pidfd >= 0)
        pfd[np++] = (struct pollfd){.fd = j->pidfd, .events = POLLIN};
      else
        need_tick = 1;
    }
    if (need_tick && wait_ms > 10)
      wait_ms = 10;
    if (poll(pfd, (nfds_t)np, (int)wait_ms) < 0 && errno != EINTR) {
      perror("evl-conform: poll");
      exit(2);
    }
    now = runner_now_ms();
    for (int i = 0; i < nrun; i++) {
      runner_job *j = &run[i];
      runner_drain(j);
      int timed_out = 0;
      if (!j->exited) {
        pid_t w = waitpid(j->pid, &j->wstatus, WNOHANG);
        if (w == j->pid)
          j->exited = 1;
        else if (now >= j->deadline) {
          kill(-j->pid, SIGKILL);
          kill(j->pid, SIGKILL);
          while (waitpid(j->pid, &j->wstatus, 0) < 0 && errno == EINTR)
            ;
          j->exited = 1;
          timed_out = 1;
        }
      }
      if (!j->exited)
        continue;
      runner_finish(j, &res[j->test * ntg + j->tgt], timed_out);
      done++;
      run[i] = run[--nrun];
      i--;
    }
    runner_stream();
  }
  runner_progress(-1, njobs);
  free(run);
  free(pfd);
}

static int runner_tty_progress;

static void runner_progress(int done, int total) {
  static int shown = -1;
  if (!runner_tty_progress || done == shown)
    return;
  shown = done;
  if (done < 0)
    fprintf(stderr, "\r%40s\r", "");
  else
    fprintf(stderr, "\r[%d/%d]", done, total);
}

static void runner_print_output_tail(FILE *f, const char *out, int lines,
                                     const char *prefix) {
  if (!out || !*out)
    return;
  const char *p = out + strlen(out);
  if (p > out && p[-1] == '\n')
    p--;
  /* evl_t_fail's own last line repeats the reason shown above it. */
  const char *last = p;
  while (last > out && last[-1] != '\n')
    last--;
  size_t lastlen = (size_t)(p - last);
  if ((lastlen >= 6 && memcmp(last, "FAIL [", 6) == 0) ||
      (lastlen >= 5 && memcmp(last, "SKIP ", 5) == 0)) {
    p = last > out ? last - 1 : out;
    if (p == out)
      return;
  }
  const char *end = p;
  int n = 0;
  while (p > out) {
    p--;
    if (*p == '\n' && ++n >= lines) {
      p++;
      break;
    }
  }
  if (p > out)
    fprintf(f, "%s...\n", prefix);
  while (p < end) {
    const char *e = memchr(p, '\n', (size_t)(end - p));
    int len = e ? (int)(e - p) : (int)(end - p);
    fprintf(f, "%s%.*s\n", prefix, len, p);
    if (!e)
      break;
    p = e + 1;
  }
}

static void runner_verbose_line(int si, int ti) {
  const evl_test *te = &evl_tests[sel[si]];
  runner_result *r = &res[si * ntg + ti];
  printf("%-5s %s [%s] (%.0f ms)%s%s\n", runner_cell[r->st], te->name,
         tg[ti].label, r->ms, r->reason ? ": " : "",
         r->reason ? r->reason : "");
  if (r->st != RS_PASS && r->st != RS_SKIP && r->output)
    runner_print_output_tail(stdout, r->output, 30, "    | ");
  fflush(stdout);
}

/* TAP reads " # " as the start of a directive: escape every '#'. */
static const char *runner_tap_esc(const char *s, char *buf, size_t len) {
  size_t o = 0;
  for (; s && *s && o + 3 < len; s++) {
    if (*s == '#')
      buf[o++] = '\\';
    buf[o++] = *s == '\n' ? ' ' : *s;
  }
  buf[o] = '\0';
  return buf;
}

static void runner_tap_line(int n, int si, int ti) {
  const evl_test *te = &evl_tests[sel[si]];
  runner_result *r = &res[si * ntg + ti];
  char rbuf[2048], lbuf[200];
  const char *reason = runner_tap_esc(r->reason, rbuf, sizeof rbuf);
  const char *label = runner_tap_esc(tg[ti].label, lbuf, sizeof lbuf);
  switch (r->st) {
  case RS_PASS:
    printf("ok %d - %s [%s]\n", n, te->name, label);
    break;
  case RS_SKIP:
    printf("ok %d - %s [%s] # SKIP %s\n", n, te->name, label, reason);
    break;
  case RS_XFAIL:
    printf("not ok %d - %s [%s] # TODO %s\n", n, te->name, label, reason);
    break;
  case RS_XPASS:
    printf("ok %d - %s [%s] # TODO %s\n", n, te->name, label, reason);
    break;
  default:
    printf("not ok %d - %s [%s]\n", n, te->name, label);
    printf("  ---\n  status: %s\n  rule: %s\n  message: \"",
           runner_stname[r->st], te->rule);
    for (const char *c = reason; *c; c++)
      printf(*c == '"' || *c == '\\' ? "\\%c" : "%c", *c);
    printf("\"\n  ...\n");
    if (opt.verbose && r->output)
      runner_print_output_tail(stdout, r->output, 30, "# ");
    break;
  }
  fflush(stdout);
}

static int runner_is_failure(runner_status s) {
  return s == RS_FAIL || s == RS_TIMEOUT || s == RS_CRASH;
}

static void runner_count(int *pass, int *fail, int *skip) {
  *pass = *fail = *skip = 0;
  for (int i = 0; i < nsel * ntg; i++) {
    if (!res[i].active)
      continue;
    if (res[i].st == RS_PASS)
      ++*pass;
    else if (runner_is_failure(res[i].st))
      ++*fail;
    else
      ++*skip;
  }
}

/* Tests of a target that could not run at all are one line, not N. */
static int runner_target_down(const runner_target *t) {
  return !runner_runnable(t) && (t->loaded || runner_absent(t));
}

static int runner_colw(int ti) {
  int w = (int)strlen(tg[ti].label);
  return w < 5 ? 5 : w > 60 ? 60 : w;
}

/* Prints without the trailing blanks of the last padded column. */
static void runner_put_line(char *line) {
  size_t n = strlen(line);
  while (n > 0 && line[n - 1] == ' ')
    line[--n] = '\0';
  puts(line);
}

static void runner_matrix_section(evl_tkind kind) {
  int cols = 0, rows = 0, namew = 4;
  for (int ti = 0; ti < ntg; ti++)
    cols += tg[ti].kind == kind;
  for (int si = 0; si < nsel; si++)
    if (evl_tests[sel[si]].kind == kind) {
      rows++;
      int l = (int)strlen(evl_tests[sel[si]].name);
      if (l > namew)
        namew = l;
    }
  if (!cols || !rows)
    return;
  printf("\n%s\n", kind == EVL_T_BACKEND
                       ? "K-tests (backend contract) on each backend:"
                       : "S-tests (loop semantics) on each implementation:");
  char line[8192];
  int len = snprintf(line, sizeof line, "%-*s %-4s", namew, "test", "rule");
  for (int ti = 0; ti < ntg; ti++)
    if (tg[ti].kind == kind)
      len += snprintf(line + len, sizeof line - (size_t)len, " %-*s",
                      runner_colw(ti), tg[ti].label);
  runner_put_line(line);
  for (int si = 0; si < nsel; si++) {
    const evl_test *te = &evl_tests[sel[si]];
    if (te->kind != kind)
      continue;
    len = snprintf(line, sizeof line, "%-*s %-4s", namew, te->name, te->rule);
    for (int ti = 0; ti < ntg; ti++)
      if (tg[ti].kind == kind) {
        runner_result *r = &res[si * ntg + ti];
        len += snprintf(line + len, sizeof line - (size_t)len, " %-*s",
                        runner_colw(ti), runner_cell[r->active ? r->st : 0]);
      }
    runner_put_line(line);
  }
}

static void runner_print_matrix(void) {
  runner_matrix_section(EVL_T_BACKEND);
  runner_matrix_section(EVL_T_IMPL);

  int any = 0;
  static const runner_status order[] = {RS_FAIL,  RS_TIMEOUT, RS_CRASH,
                                        RS_XFAIL, RS_XPASS,   RS_SKIP};
  for (size_t o = 0; o < sizeof order / sizeof order[0]; o++)
    for (int si = 0; si < nsel; si++)
      for (int ti = 0; ti < ntg; ti++) {
        runner_result *r = &res[si * ntg + ti];
        if (!r->active || r->st != order[o] || runner_target_down(&tg[ti]))
          continue;
        if (!any++)
          printf("\nNot passed:\n");
        printf("  %-7s %s [%s]: %s\n", runner_stname[r->st],
               evl_tests[sel[si]].name, tg[ti].label,
               r->reason ? r->reason : "");
        /* -v showed the whole output already, test by test. */
        int lines = opt.verbose ? 0 : (r->died ? 8 : 0);
        if (runner_is_failure(r->st) && lines)
          runner_print_output_tail(stdout, r->output, lines, "      | ");
      }
  int down = 0;
  for (int ti = 0; ti < ntg; ti++) {
    if (!runner_target_down(&tg[ti]))
      continue;
    int n = 0;
    for (int si = 0; si < nsel; si++)
      n += res[si * ntg + ti].active;
    if (!n)
      continue;
    if (!down++)
      printf("\nNot runnable here (their tests are counted as skipped, "
             "never as passed):\n");
    printf("  %s: %s (%d tests)\n", tg[ti].label,
           tg[ti].loaded ? tg[ti].why : tg[ti].load_err, n);
  }
  if (opt.verbose && !any && !down)
    printf("\nEvery test passed.\n");
}

static void runner_json_str(FILE *f, const char *s) {
  fputc('"', f);
  for (const unsigned char *c = (const unsigned char *)(s ? s : ""); *c; c++) {
    if (*c == '"' || *c == '\\')
      fprintf(f, "\\%c", *c);
    else if (*c == '\n')
      fputs("\\n", f);
    else if (*c == '\t')
      fputs("\\t", f);
    else if (*c < 0x20)
      fprintf(f, "\\u%04x", *c);
    else
      fputc(*c, f);
  }
  fputc('"', f);
}

static void runner_print_json(void) {
  char buf[200];
  int pass, fail, skip;
  runner_count(&pass, &fail, &skip);
  printf("{\n  \"targets\": [");
  for (int ti = 0; ti < ntg; ti++) {
    runner_target *t = &tg[ti];
    printf("%s\n    {\"label\": ", ti ? "," : "");
    runner_json_str(stdout, t->label);
    printf(", \"spec\": ");
    runner_json_str(stdout, t->spec);
    printf(", \"kind\": \"%s\", \"name\": ",
           t->kind == EVL_T_BACKEND ? "backend" : "impl");
    runner_json_str(stdout, t->name);
    printf(", \"runnable\": %s, \"why\": ",
           runner_runnable(t) ? "true" : "false");
    runner_json_str(stdout, t->loaded ? t->why : t->load_err);
    printf(", \"features\": ");
    runner_json_str(stdout,
                    runner_features_str(t, t->features, buf, sizeof buf));
    printf("}");
  }
  printf("\n  ],\n  \"results\": [");
  int first = 1;
  for (int si = 0; si < nsel; si++)
    for (int ti = 0; ti < ntg; ti++) {
      runner_result *r = &res[si * ntg + ti];
      if (!r->active)
        continue;
      const evl_test *te = &evl_tests[sel[si]];
      printf("%s\n    {\"test\": \"%s\", \"rule\": \"%s\", \"kind\": \"%s\", "
             "\"target\": ",
             first ? "" : ",", te->name, te->rule,
             te->kind == EVL_T_BACKEND ? "K" : "S");
      first = 0;
      runner_json_str(stdout, tg[ti].label);
      printf(", \"status\": \"%s\", \"ms\": %.0f, \"reason\": ",
             runner_stname[r->st], r->ms);
      runner_json_str(stdout, r->reason);
      printf("}");
    }
  printf("\n  ],\n  \"summary\": {\"passed\": %d, \"failed\": %d, "
         "\"skipped\": %d}\n}\n",
         pass, fail, skip);
}

static void runner_xml_str(FILE *f, const char *s) {
  for (const unsigned char *c = (const unsigned char *)(s ? s : ""); *c; c++) {
    switch (*c) {
    case '<':
      fputs("&lt;", f);
      break;
    case '>':
      fputs("&gt;", f);
      break;
    case '&':
      fputs("&amp;", f);
      break;
    case '"':
      fputs("&quot;", f);
      break;
    default:
      if (*c < 0x20 && *c != '\n' && *c != '\t')
        fputc('?', f);
      else
        fputc(*c, f);
    }
  }
}

static int runner_write_junit(const char *path) {
  FILE *f = fopen(path, "w");
  if (!f) {
    fprintf(stderr, "evl-conform: %s: %s\n", path, strerror(errno));
    return -1;
  }
  int pass, fail, skip;
  runner_count(&pass, &fail, &skip);
  fprintf(f, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
  fprintf(f,
          "<testsuites name=\"evl-conform\" tests=\"%d\" failures=\"%d\" "
          "skipped=\"%d\">\n",
          pass + fail + skip, fail, skip);
  for (int ti = 0; ti < ntg; ti++) {
    int n = 0, nf = 0, ns = 0;
    double total = 0;
    for (int si = 0; si < nsel; si++) {
      runner_result *r = &res[si * ntg + ti];
      if (!r->active)
        continue;
      n++;
      nf += runner_is_failure(r->st);
      ns += !runner_is_failure(r->st) && r->st != RS_PASS;
      total += r->ms;
    }
    if (!n)
      continue;
    fprintf(f, "  <testsuite name=\"");
    runner_xml_str(f, tg[ti].label);
    fprintf(f,
            "\" tests=\"%d\" failures=\"%d\" skipped=\"%d\" "
            "time=\"%.3f\">\n",
            n, nf, ns, total / 1000);
    for (int si = 0; si < nsel; si++) {
      runner_result *r = &res[si * ntg + ti];
      if (!r->active)
        continue;
      const evl_test *te = &evl_tests[sel[si]];
      fprintf(f, "    <testcase classname=\"");
      runner_xml_str(f, tg[ti].label);
      fprintf(f, "\" name=\"%s\" time=\"%.3f\">", te->name, r->ms / 1000);
      if (runner_is_failure(r->st)) {
        fprintf(f, "\n      <failure type=\"%s\" message=\"",
                runner_stname[r->st]);
        runner_xml_str(f, r->reason);
        fprintf(f, "\">");
        runner_xml_str(f, r->output);
        fprintf(f, "</failure>\n    ");
      } else if (r->st != RS_PASS) {
        fprintf(f, "\n      <skipped message=\"%s: ", runner_stname[r->st]);
        runner_xml_str(f, r->reason);
        fprintf(f, "\"/>\n    ");
      }
      fprintf(f, "</testcase>\n");
    }
    fprintf(f, "  </testsuite>\n");
  }
  fprintf(f, "</testsuites>\n");
  if (fclose(f) != 0) {
    fprintf(stderr, "evl-conform: %s: %s\n", path, strerror(errno));
    return -1;
  }
  return 0;
}

/* ---------------------------------------------------------------- lists */

static void runner_list_tests(void) {
  char buf[200];
  for (int si = 0; si < nsel; si++) {
    const evl_test *te = &evl_tests[sel[si]];
    buf[0] = '\0';
    if (te->kind == EVL_T_BACKEND && te->need_bf)
      evl_backend_features_str(te->need_bf, buf, sizeof buf);
    else if (te->kind == EVL_T_IMPL && te->need_if)
      evl_impl_features_str(te->need_if, buf, sizeof buf);
    printf("%-40s %-4s %s %-16s %s\n", te->name, te->rule,
           te->kind == EVL_T_BACKEND ? "K" : "S", buf[0] ? buf : "-",
           te->summary ? te->summary : "");
  }
  printf("%d tests\n", nsel);
}

static void runner_list_targets(evl_tkind kind) {
  char buf[200];
  for (int ti = 0; ti < ntg; ti++) {
    runner_target *t = &tg[ti];
    if (t->kind != kind)
      continue;
    if (!t->loaded) {
      printf("%-16s %s: %s\n", t->label,
             runner_absent(t) ? "not available" : "broken", t->load_err);
      continue;
    }
    char status[400];
    snprintf(status, sizeof status, "%s%s",
             t->probe_rc == 0 ? "usable" : "not runnable here: ",
             t->probe_rc == 0 ? "" : t->why);
    runner_features_str(t, t->features, buf, sizeof buf);
    if (kind == EVL_T_BACKEND) {
      char lim[32], resn[32];
      snprintf(lim, sizeof lim, "%d", t->fd_limit);
      snprintf(resn, sizeof resn, "%lluns", t->res_ns);
      printf("%-16s features=%-28s fd_limit=%-5s resolution=%-9s %s\n",
             t->label, buf[0] ? buf : "-", t->fd_limit ? lim : "none", resn,
             status);
    } else {
      int ndev = 0;
      for (int i = 0; i < evl_ntests; i++)
        ndev += t->dev && t->dev[i];
      printf("%-16s features=%-44s deviations=%-3d %s\n", t->label,
             buf[0] ? buf : "-", ndev, status);
      for (int i = 0; i < evl_ntests && opt.verbose; i++)
        if (t->dev && t->dev[i])
          printf("    %s: %s\n", evl_tests[i].name, t->dev[i]);
    }
    if (opt.verbose && t->desc[0])
      printf("    %s\n", t->desc);
  }
}

/* ---------------------------------------------------------------- main */

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
      "  --filter GLOB           only tests whose name or rule matches "
      "(repeatable)\n"
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
  char **nv = realloc(*v, sizeof(char *) * (size_t)(*n + 1));
  if (!nv) {
    fprintf(stderr, "evl-conform: out of memory\n");
    exit(2);
  }
  *v = nv;
  (*v)[(*n)++] = (char *)s;
}

int main(int argc, char **argv) {
  enum {
    O_BACKEND = 256,
    O_IMPL,
    O_FILTER,
    O_LIST,
    O_LIST_BACKENDS,
    O_LIST_IMPLS,
    O_TAP,
    O_JUNIT,
    O_JSON,
  };
  static const struct option longopts[] = {
      {"backend", required_argument, NULL, O_BACKEND},
      {"impl", required_argument, NULL, O_IMPL},
      {"filter", required_argument, NULL, O_FILTER},
      {"list", no_argument, NULL, O_LIST},
      {"list-backends", no_argument, NULL, O_LIST_BACKENDS},
      {"list-impls", no_argument, NULL, O_LIST_IMPLS},
      {"tap", no_argument, NULL, O_TAP},
      {"junit", required_argument, NULL, O_JUNIT},
      {"json", no_argument, NULL, O_JSON},
      {"jobs", required_argument, NULL, 'j'},
      {"verbose", no_argument, NULL, 'v'},
      {"help", no_argument, NULL, 'h'},
      {NULL, 0, NULL, 0},
  };
  int c;
  while ((c = getopt_long(argc, argv, "j:vh", longopts, NULL)) != -1) {
    switch (c) {
    case O_BACKEND:
      runner_push(&opt.backends, &opt.nbackends, optarg);
      break;
    case O_IMPL:
      runner_push(&opt.impls, &opt.nimpls, optarg);
      break;
    case O_FILTER:
      runner_push(&opt.filters, &opt.nfilters, optarg);
      break;
    case O_LIST:
      opt.list = 1;
      break;
    case O_LIST_BACKENDS:
      opt.list_backends = 1;
      break;
    case O_LIST_IMPLS:
      opt.list_impls = 1;
      break;
    case O_TAP:
      opt.tap = 1;
      break;
    case O_JUNIT:
      opt.junit = optarg;
      break;
    case O_JSON:
      opt.json = 1;
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
      opt.jobs = (int)n;
      break;
    }
    case 'v':
      opt.verbose = 1;
      break;
    case 'h':
      runner_usage(stdout);
      return 0;
    default:
      runner_usage(stderr);
      return 2;
    }
  }
  if (optind < argc) {
    fprintf(stderr, "evl-conform: unexpected argument '%s' (see --help)\n",
            argv[optind]);
    return 2;
  }
  if (opt.tap && opt.json) {
    fprintf(stderr, "evl-conform: --tap and --json both want stdout\n");
    return 2;
  }
  opt.scale = 1;
  const char *sc = getenv("EVL_TEST_TIMEOUT_SCALE");
  if (sc && *sc) {
    char *end;
    double v = strtod(sc, &end);
    if (*end || !(v > 0)) {
      fprintf(stderr,
              "evl-conform: EVL_TEST_TIMEOUT_SCALE='%s' is not a "
              "positive number\n",
              sc);
      return 2;
    }
    opt.scale = v < 1 ? 1 : v;
  }
  if (opt.jobs == 0) {
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    opt.jobs = n > 0 ? (int)n : 1;
  }
  /* Tests see EPIPE rather than dying of SIGPIPE, as libuv's runner does. */
  signal(SIGPIPE, SIG_IGN);

  runner_select_tests();
  if (opt.list) {
    runner_list_tests();
    return 0;
  }
  if (opt.list_backends || opt.list_impls) {
    runner_build_targets(opt.list_backends, opt.list_impls);
    int rc = runner_probe_all();
    if (opt.list_backends)
      runner_list_targets(EVL_T_BACKEND);
    if (opt.list_impls)
      runner_list_targets(EVL_T_IMPL);
    return rc;
  }
  if (nsel == 0) {
    fprintf(stderr, "evl-conform: no test matches the filter\n");
    return 2;
  }

  runner_build_targets(1, 1);
  int rc = runner_probe_all();
  if (rc)
    return rc;
  runner_tty_progress = !opt.tap && !opt.verbose && isatty(2);
  res = runner_xalloc(sizeof *res * (size_t)(nsel * ntg + 1));
  runner_run_all();

  int pass, fail, skip;
  runner_count(&pass, &fail, &skip);
  if (opt.junit && runner_write_junit(opt.junit) != 0)
    rc = 2;
  if (opt.json) {
    runner_print_json();
    fprintf(stderr, "%d passed, %d failed, %d skipped\n", pass, fail, skip);
  } else {
    if (!opt.tap)
      runner_print_matrix();
    else
      for (int ti = 0; ti < ntg; ti++)
        if (runner_target_down(&tg[ti]))
          printf("# %s not runnable here: %s\n", tg[ti].label,
                 tg[ti].loaded ? tg[ti].why : tg[ti].load_err);
    int nx = 0;
    for (int i = 0; i < nsel * ntg; i++)
      nx += res[i].active && (res[i].st == RS_XFAIL || res[i].st == RS_XPASS);
    if (!opt.tap) {
      printf("\n");
      if (nx)
        printf("(%d known deviations, XFAIL/XPASS, are counted as skipped)\n",
               nx);
    }
    printf("%d passed, %d failed, %d skipped\n", pass, fail, skip);
  }
  fflush(stdout);
  if (fail)
    return 1;
  return rc;
}
