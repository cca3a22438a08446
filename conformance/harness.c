/* harness.c — the test side of evl-conform: assertions, helpers, and the
 * per-test child that checks for leaked fds and threads. */
#include "harness.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <evl/task.h>

/* Present only in sanitizer builds (ASan, LSan); NULL otherwise. */
extern int __lsan_do_recoverable_leak_check(void) __attribute__((weak));

/* Sanitizer runtimes call this once per report (a data race under TSan,
 * say) and go on; the test ends in _exit(), so without it such a report
 * would not fail the test. Unused in plain builds. */
static volatile int harness_sanitizer_reports;
void __sanitizer_report_error_summary(const char *summary);
void __sanitizer_report_error_summary(const char *summary) {
  __atomic_add_fetch(&harness_sanitizer_reports, 1, __ATOMIC_SEQ_CST);
  fprintf(stderr, "%s\n", summary);
}

/* ASan's defaults for the suite (ASAN_OPTIONS still overrides them).
 * intercept_tls_get_addr=0: gcc 12's libasan records the dynamic TLS
 * blocks of dlopen'd modules through __tls_get_addr, and in a test
 * process forked from a runner that had run many py tests it recorded a
 * block "6 at 0x13b1-0x10000024b3" for the main thread (glibc 2.36):
 * LeakSanitizer's tracer then faulted scanning it ("Tracer caught signal
 * 11: addr=0x13b8"), and the test ended with no result. Without the
 * interception dynamic TLS is reached as glibc allocates it, on the heap
 * through the thread's dtv. */
#if defined(__SANITIZE_ADDRESS__)
const char *__asan_default_options(void);
const char *__asan_default_options(void) {
  return "intercept_tls_get_addr=0";
}
#endif

/* One test runs per process, so process-wide state here is per test. */
static int harness_result_fd = -1;
static volatile int harness_done;

/* Watchdogs are kept here rather than malloc'ed so that a test that fails
 * (and _exits) or forgets st_free leaks nothing. */
#define HARNESS_MAX_WATCHDOGS 16
typedef struct harness_watchdog {
  evl_tctx *t;
  evl_loop *loop;
  uint64_t start_ns;
  int ms;
  int fired;
} harness_watchdog;
static harness_watchdog harness_wd[HARNESS_MAX_WATCHDOGS];
static int harness_nwd;
static int harness_wd_fired_ms = -1;

static void harness_write_all(int fd, const char *buf, size_t len) {
  while (len > 0) {
    ssize_t n = write(fd, buf, len);
    if (n < 0) {
      if (errno == EINTR)
        continue;
      return;
    }
    buf += n;
    len -= (size_t)n;
  }
}

/* Writes the single result line and ends the process. Only the first
 * result counts: a failing helper thread racing the main thread must not
 * produce two lines. */
static EVL_T_NORETURN void harness_finish(const char *kind,
                                          const char *reason) {
  if (__atomic_exchange_n(&harness_done, 1, __ATOMIC_SEQ_CST)) {
    for (;;)
      pause(); /* the first finisher is about to _exit the process */
  }
  char line[2048];
  int n;
  if (reason && *reason)
    n = snprintf(line, sizeof line, "%s %s", kind, reason);
  else
    n = snprintf(line, sizeof line, "%s", kind);
  if (n < 0)
    n = 0;
  if ((size_t)n >= sizeof line - 1)
    n = (int)sizeof line - 2;
  /* The reason is one line: newlines inside a message would split it. */
  for (int i = 0; i < n; i++)
    if (line[i] == '\n' || line[i] == '\r')
      line[i] = ' ';
  line[n++] = '\n';
  fflush(NULL);
  if (harness_result_fd >= 0)
    harness_write_all(harness_result_fd, line, (size_t)n);
  else
    harness_write_all(2, line, (size_t)n);
  _exit(strcmp(kind, "PASS") == 0 ? 0 : 1);
}

/* __FILE__ without its folder: failure lines say tests/FILE. */
static const char *harness_basename(const char *file) {
  const char *base = file ? strrchr(file, '/') : NULL;
  return base ? base + 1 : (file ? file : "?");
}

void evl_t_fail(evl_tctx *t, const char *file, int line, const char *fmt, ...) {
  char msg[1400];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  const char *base = harness_basename(file);
  char reason[1800];
  char wd[64] = "";
  if (harness_wd_fired_ms >= 0)
    snprintf(wd, sizeof wd, " (watchdog fired after %d ms)",
             harness_wd_fired_ms);
  /* tests/FILE: where `make install` puts the sources, beside CONTRACT.md. */
  snprintf(reason, sizeof reason, "[%s] tests/%s:%d: %s%s",
           t && t->rule ? t->rule : "?", base, line, msg, wd);
  fprintf(stderr, "FAIL %s\n", reason);
  harness_finish("FAIL", reason);
}

/* Declared checks seen so far: the first that failed decides the XFAIL
 * reason, the first that passed the XPASS one. */
static char harness_xfail[1600];
static char harness_xpass[600];

void evl_t_check_failed(evl_tctx *t, const char *id, const char *file, int line,
                        const char *fmt, ...) {
  char msg[1200];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  const char *dev =
      t && id ? evl_impl_check_deviation(t->impl, t->name, id) : NULL;
  if (!dev)
    evl_t_fail(t, file, line, "check %s: %s", id ? id : "?", msg);
  const char *base = harness_basename(file);
  fprintf(stderr, "XFAIL check %s (declared: %s): %s:%d: %s\n", id, dev, base,
          line, msg);
  if (!harness_xfail[0])
    snprintf(harness_xfail, sizeof harness_xfail,
             "known deviation in check %s: %s (actual: [%s] tests/%s:%d: %s)",
             id, dev, t->rule ? t->rule : "?", base, line, msg);
}

void evl_t_check_passed(evl_tctx *t, const char *id) {
  const char *dev =
      t && id ? evl_impl_check_deviation(t->impl, t->name, id) : NULL;
  if (dev && !harness_xpass[0])
    snprintf(harness_xpass, sizeof harness_xpass,
             "declared deviation did not show: check %s: %s", id, dev);
}

void evl_t_skip(evl_tctx *t, const char *fmt, ...) {
  (void)t;
  char msg[1400];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  fprintf(stderr, "SKIP %s\n", msg);
  harness_finish("SKIP", msg);
}

/* ---- K-test helpers ---------------------------------------------------- */

void kt_open(evl_tctx *t, kt_backend *kb) {
  kb->ops = t->be;
  kb->state = NULL;
  if (!kb->ops)
    T_FAIL(t, "kt_open: no backend under test (is this a K-test?)");
  kb->state = calloc(1, kb->ops->state_size ? kb->ops->state_size : 1);
  if (!kb->state)
    T_FAIL(t, "kt_open: out of memory for %zu bytes of state",
           kb->ops->state_size);
  evl_backend_config cfg = {.size = sizeof cfg, .flags = 0, .expected_fds = 0};
  int rc = kb->ops->init(kb->state, &cfg);
  if (rc != 0) {
    free(kb->state);
    kb->state = NULL;
    T_FAIL(t, "backend init: expected 0, got %d (%s)", rc, evl_strerror(rc));
  }
}

void kt_close(kt_backend *kb) {
  if (!kb || !kb->state)
    return;
  kb->ops->fini(kb->state);
  free(kb->state);
  kb->state = NULL;
}

int kt_wait(evl_tctx *t, kt_backend *kb, int64_t timeout_ns, evl_event *out,
            int cap) {
  int n = kb->ops->wait(kb->state, timeout_ns, out, cap);
  if (n < 0)
    T_FAIL(t, "wait(%lld ns): expected a count >= 0, got %d (%s)",
           (long long)timeout_ns, n, evl_strerror(n));
  if (n > cap)
    T_FAIL(t, "wait: returned %d events for cap %d", n, cap);
  return n;
}

uint32_t kt_events_for(const evl_event *out, int n, int fd) {
  for (int i = 0; i < n; i++)
    if (out[i].fd == fd)
      return out[i].events;
  return 0;
}

/* ---- S-test helpers ---------------------------------------------------- */

evl_loop *st_loop_cfg(evl_tctx *t, unsigned flags, uint64_t slow_ns) {
  if (!OPS)
    T_FAIL(t, "st_loop: no implementation under test (is this an S-test?)");
  evl_impl_config cfg = {.size = sizeof cfg,
                         .flags = flags,
                         .slow_callback_ns = slow_ns,
                         .executor_threads = 0};
  evl_loop *loop = NULL;
  int rc = OPS->loop_new(OPS->data, &cfg, &loop);
  if (rc != 0)
    T_FAIL(t, "loop_new: expected 0, got %d (%s)", rc, evl_strerror(rc));
  if (!loop)
    T_FAIL(t, "loop_new: returned 0 but no loop");
  return loop;
}

evl_loop *st_loop(evl_tctx *t) {
  return st_loop_cfg(t, 0, 0);
}

void st_free(evl_tctx *t, evl_loop *loop) {
  if (!loop)
    return;
  /* The watchdog is a safety net: a test whose loop needed it did not
   * stop the way the test meant, whatever else it checked. */
  for (int i = 0; i < harness_nwd; i++)
    if (harness_wd[i].loop == loop && harness_wd[i].fired)
      T_FAIL(t, "the %d ms watchdog had to stop the loop", harness_wd[i].ms);
  for (int i = 0; i < harness_nwd; i++)
    if (harness_wd[i].loop == loop)
      harness_wd[i].loop = NULL;
  int rc = OPS->loop_close(loop);
  if (rc != 0)
    T_FAIL(t, "loop_close: expected 0, got %d (%s)", rc, evl_strerror(rc));
  rc = OPS->loop_free(loop);
  if (rc != 0)
    T_FAIL(t, "loop_free: expected 0, got %d (%s)", rc, evl_strerror(rc));
}

void st_need(evl_tctx *t, uint32_t need) {
  uint32_t missing = need & ~OPS->features;
  if (missing) {
    char buf[160];
    evl_t_skip(t, "implementation lacks feature %s",
               evl_impl_features_str(missing, buf, sizeof buf));
  }
}

static void harness_watchdog_cb(void *arg) {
  harness_watchdog *w = arg;
  if (!w->loop)
    return;
  w->fired = 1;
  harness_wd_fired_ms = (int)((t_now() - w->start_ns) / 1000000u);
  fprintf(stderr, "harness: watchdog fired after %d ms, stopping the loop\n",
          harness_wd_fired_ms);
  w->t->impl->stop(w->loop);
}

void st_watchdog(evl_tctx *t, evl_loop *loop, int ms) {
  if (harness_nwd >= HARNESS_MAX_WATCHDOGS)
    T_FAIL(t, "st_watchdog: more than %d watchdogs in one test",
           HARNESS_MAX_WATCHDOGS);
  harness_watchdog *w = &harness_wd[harness_nwd++];
  w->t = t;
  w->loop = loop;
  w->start_ns = t_now();
  w->ms = ms;
  w->fired = 0;
  double scaled = (double)ms * (t->timeout_scale >= 1 ? t->timeout_scale : 1);
  int rc = OPS->call_later(loop, (int64_t)(scaled * 1e6), harness_watchdog_cb,
                           w, NULL);
  if (rc != 0)
    T_FAIL(t, "st_watchdog: call_later: expected 0, got %d (%s)", rc,
           evl_strerror(rc));
}

/* ---- plumbing ---------------------------------------------------------- */

uint64_t t_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

void t_sleep_ms(int ms) {
  struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L};
  while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
    ;
}

void t_pipe(evl_tctx *t, int fds[2]) {
  if (pipe2(fds, O_CLOEXEC | O_NONBLOCK) != 0)
    T_FAIL(t, "pipe2: %s", strerror(errno));
}

void t_socketpair(evl_tctx *t, int fds[2]) {
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, fds) !=
      0)
    T_FAIL(t, "socketpair: %s", strerror(errno));
}

void t_close(int fd) {
  if (fd >= 0)
    close(fd);
}

void t_write_byte(evl_tctx *t, int fd) {
  char c = 'x';
  ssize_t n;
  do
    n = write(fd, &c, 1);
  while (n < 0 && errno == EINTR);
  if (n != 1)
    T_FAIL(t, "write one byte to fd %d: %s", fd,
           n < 0 ? strerror(errno) : "short write");
}

long t_drain(int fd) {
  char buf[4096];
  long total = 0;
  for (;;) {
    ssize_t n = read(fd, buf, sizeof buf);
    if (n > 0) {
      total += n;
      continue;
    }
    if (n == 0)
      return total; /* EOF: what was read before it, or 0 */
    if (errno == EINTR)
      continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK)
      return total > 0 ? total : -EAGAIN;
    return total > 0 ? total : -errno;
  }
}

/* ---- the child -------------------------------------------------------- */

/* A task that overflows its stack faults in the guard page below it. The
 * handler runs on its own stack (the task's is used up), names the task
 * on stderr, where the runner looks for it, and puts the previous handling
 * back (the default, or a sanitizer's): the fault then repeats and ends the
 * process with the signal as before. */
static struct sigaction harness_old_segv, harness_old_bus;

static void harness_fault(int sig, siginfo_t *si, void *uc) {
  (void)uc;
  char msg[160];
  if (evl_task_stack_fault(si->si_addr, msg, sizeof msg - 1)) {
    size_t n = strlen(msg);
    msg[n++] = '\n';
    if (write(2, msg, n) < 0) {
      /* nothing better to do in a dying process */
    }
  }
  sigaction(sig, sig == SIGSEGV ? &harness_old_segv : &harness_old_bus, NULL);
}

static void harness_catch_overflow(void) {
  static char altstack[64 * 1024];
  stack_t ss = {.ss_sp = altstack, .ss_size = sizeof altstack};
  if (sigaltstack(&ss, NULL) != 0)
    return;
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_sigaction = harness_fault;
  sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGSEGV, &sa, &harness_old_segv);
  sigaction(SIGBUS, &sa, &harness_old_bus);
}

#define HARNESS_MAX_FD 65536

/* Marks every open fd number below HARNESS_MAX_FD; returns the count. */
static int harness_fd_snapshot(unsigned char *set) {
  memset(set, 0, HARNESS_MAX_FD);
  DIR *d = opendir("/proc/self/fd");
  if (!d)
    return -1;
  int dfd = dirfd(d), n = 0;
  struct dirent *e;
  while ((e = readdir(d)) != NULL) {
    if (e->d_name[0] < '0' || e->d_name[0] > '9')
      continue;
    int fd = atoi(e->d_name);
    if (fd == dfd || fd < 0 || fd >= HARNESS_MAX_FD)
      continue;
    set[fd] = 1;
    n++;
  }
  closedir(d);
  return n;
}

#define HARNESS_MAX_TIDS 256

/* Fills tids[] (if given) with this process's thread ids; returns the
 * count, or -1 without /proc. */
static int harness_threads(int *tids) {
  DIR *d = opendir("/proc/self/task");
  if (!d)
    return -1;
  int n = 0;
  struct dirent *e;
  while ((e = readdir(d)) != NULL)
    if (e->d_name[0] >= '0' && e->d_name[0] <= '9') {
      if (tids && n < HARNESS_MAX_TIDS)
        tids[n] = atoi(e->d_name);
      n++;
    }
  closedir(d);
  return n;
}

/* "name, name" of the threads in now[] that are not in before[]: the
 * names say whose threads they are (a library pool, an executor...). */
static void harness_new_thread_names(const int *before, int nb, const int *now,
                                     int nn, char *out, size_t len) {
  size_t o = 0;
  out[0] = '\0';
  for (int i = 0; i < nn && i < HARNESS_MAX_TIDS; i++) {
    int known = 0;
    for (int k = 0; k < nb && k < HARNESS_MAX_TIDS; k++)
      known |= before[k] == now[i];
    if (known)
      continue;
    char path[64], name[64] = "?";
    snprintf(path, sizeof path, "/proc/self/task/%d/comm", now[i]);
    FILE *f = fopen(path, "r");
    if (f) {
      if (fgets(name, sizeof name, f))
        name[strcspn(name, "\n")] = '\0';
      fclose(f);
    }
    int w = snprintf(out + o, len - o, "%s%s", o ? ", " : "", name);
    if (w < 0 || (size_t)w >= len - o)
      break;
    o += (size_t)w;
  }
}

/* Creates and destroys one backend state or loop before the fd and thread
 * baseline is taken. A library's once-per-process set-up (libuv's signal
 * lock pipe, for one) then lands in the baseline instead of failing every
 * test, while a per-loop leak still shows in the test's own loop. */
static void *harness_noop_thread(void *arg) {
  return arg;
}

static void harness_warm_up(evl_tctx *t) {
  /* ThreadSanitizer starts its own background thread at the first
   * pthread_create: make that happen before the thread count is taken. */
  pthread_t th;
  if (pthread_create(&th, NULL, harness_noop_thread, NULL) == 0)
    pthread_join(th, NULL);
  if (t->be) {
    void *st = calloc(1, t->be->state_size ? t->be->state_size : 1);
    evl_backend_config cfg = {.size = sizeof cfg};
    if (st && t->be->init(st, &cfg) == 0)
      t->be->fini(st);
    free(st);
  } else if (t->impl) {
    evl_impl_config cfg = {.size = sizeof cfg};
    evl_loop *loop = NULL;
    if (t->impl->loop_new(t->impl->data, &cfg, &loop) == 0 && loop) {
      t->impl->loop_close(loop);
      t->impl->loop_free(loop);
    }
    /* What the implementation declares it keeps once per process (a signal
     * worker thread, say) belongs in the baseline, not to the test. */
    evl_impl_warmup_fn warm = evl_impl_warmup(t->impl);
    int rc = warm ? warm(t->impl->data) : 0;
    if (rc != 0)
      T_FAIL(t, "the implementation's warmup(): expected 0, got %d (%s)", rc,
             evl_strerror(rc));
  }
}

/* Fails the test on the first fd open now that was not in before[]. */
static void harness_check_fds(evl_tctx *t, const unsigned char *before) {
  static unsigned char after[HARNESS_MAX_FD];
  if (harness_fd_snapshot(after) < 0)
    return;
  for (int fd = 0; fd < HARNESS_MAX_FD; fd++) {
    if (!after[fd] || before[fd])
      continue;
    char path[64], target[256];
    snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    ssize_t n = readlink(path, target, sizeof target - 1);
    if (n < 0)
      n = snprintf(target, sizeof target, "?");
    target[n] = '\0';
    char reason[400];
    snprintf(reason, sizeof reason, "[%s] leaked fd %d (-> %s)", t->rule, fd,
             target);
    harness_finish("FAIL", reason);
  }
}

/* Fails the test if it left more threads running than tids_before had. */
static void harness_check_threads(evl_tctx *t, const int *tids_before,
                                  int threads_before) {
  static int tids_after[HARNESS_MAX_TIDS];
  /* Worker threads may be a moment away from exiting after a join-less
   * shutdown (io_uring's iou-wrk threads leave after the ring's fd is
   * closed, asynchronously); give them 100 ms, times the timeout scale
   * on a loaded machine, before calling it a leak. */
  int threads = harness_threads(tids_after);
  for (int i = 0; threads > threads_before && i < 20 * t->timeout_scale; i++) {
    t_sleep_ms(5);
    threads = harness_threads(tids_after);
  }
  if (threads_before > 0 && threads > threads_before) {
    char reason[400], names[256];
    int n = threads - threads_before;
    harness_new_thread_names(tids_before, threads_before, tids_after, threads,
                             names, sizeof names);
    snprintf(reason, sizeof reason, "[%s] %d thread%s still running (%s)",
             t->rule, n, n == 1 ? "" : "s", names);
    harness_finish("FAIL", reason);
  }
}

void evl_t_run_child(const evl_test *test, evl_tctx *t, int result_fd) {
  static unsigned char before[HARNESS_MAX_FD];
  harness_result_fd = result_fd;
  if (!t->name)
    t->name = test->name;
  if (!t->rule)
    t->rule = test->rule;
  if (t->timeout_scale < 1)
    t->timeout_scale = 1;
  harness_warm_up(t);
  harness_catch_overflow();
  int have_fds = harness_fd_snapshot(before) >= 0;
  /* Not 1: sanitizer runtimes (TSan) keep a thread of their own. */
  static int tids_before[HARNESS_MAX_TIDS];
  int threads_before = harness_threads(tids_before);

  test->fn(t);

  fflush(NULL);
  if (have_fds)
    harness_check_fds(t, before);
  harness_check_threads(t, tids_before, threads_before);
  /* The test ends in _exit(), which skips LeakSanitizer's exit-time check:
   * run it here, so that a sanitizer build still finds leaked memory. */
  if (__lsan_do_recoverable_leak_check &&
      __lsan_do_recoverable_leak_check() != 0) {
    char reason[200];
    snprintf(reason, sizeof reason,
             "[%s] memory leaked (LeakSanitizer's report is in the test's "
             "output: run with -v)",
             t->rule);
    harness_finish("FAIL", reason);
  }
  if (harness_sanitizer_reports > 0) {
    char reason[200];
    snprintf(reason, sizeof reason,
             "[%s] the sanitizer reported %d error%s (its report is in the "
             "test's output: run with -v)",
             t->rule, harness_sanitizer_reports,
             harness_sanitizer_reports == 1 ? "" : "s");
    harness_finish("FAIL", reason);
  }
  if (harness_xfail[0])
    harness_finish("XFAIL", harness_xfail);
  if (harness_xpass[0])
    harness_finish("XPASS", harness_xpass);
  harness_finish("PASS", NULL);
}
