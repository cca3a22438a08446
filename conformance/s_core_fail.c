/* s_core_fail.c — a loop whose own steps fail: loop creation running out of
 * fds at each of its allocations (S8), and a whole loop's wait failing in
 * the kernel (S10, injected with a seccomp filter in this disposable test
 * process). */
#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>

#include "s_core.h"

static int sf_threads(void) {
  DIR *d = opendir("/proc/self/task");
  if (!d)
    return -1;
  int n = 0;
  struct dirent *e;
  while ((e = readdir(d)) != NULL)
    n += e->d_name[0] >= '0' && e->d_name[0] <= '9';
  closedir(d);
  return n;
}

/* S8: with every fd number below some top in use and RLIMIT_NOFILE set to
 * top + k, loop_new can open only k fds. For k = 0, 1, 2, ... until it
 * succeeds, each failure returns a negative code, sets no loop, and leaves
 * the fd and thread counts as they were (LeakSanitizer, in sanitizer
 * builds, checks the bytes at the end). */
void test_s8_new_fails_each_step(evl_tctx *t) {
  struct rlimit old;
  T_OK(t, "getrlimit", getrlimit(RLIMIT_NOFILE, &old) ? -errno : 0);
  enum { FILL = 128, STEPS = 64 };
  int fds[FILL], n = 0;
  while (n < FILL) {
    int fd = dup(2);
    if (fd < 0)
      break;
    fds[n++] = fd;
  }
  int top = n ? fds[n - 1] + 1 : 3;
  int base_fds = sc_fd_count(), base_threads = sf_threads();
  int ok_at = -1;
  for (int k = 0; k < STEPS && ok_at < 0; k++) {
    struct rlimit low = {.rlim_cur = (rlim_t)(top + k),
                         .rlim_max = old.rlim_max};
    if (setrlimit(RLIMIT_NOFILE, &low) != 0)
      T_FAIL(t, "setrlimit(%d): %s", top + k, strerror(errno));
    evl_impl_config cfg = {.size = sizeof cfg};
    evl_loop *loop = (evl_loop *)&cfg;
    int rc = OPS->loop_new(OPS->data, &cfg, &loop);
    setrlimit(RLIMIT_NOFILE, &old);
    if (rc == 0) {
      T_OK(t, "loop_close", OPS->loop_close(loop));
      T_OK(t, "loop_free", OPS->loop_free(loop));
      ok_at = k;
      break;
    }
    if (rc > 0)
      T_FAIL(t,
             "loop_new with %d fds to spare: expected 0 or a negative "
             "code, got %d",
             k, rc);
    if (loop != NULL)
      T_FAIL(t, "loop_new failed (%d, %s) with %d fds to spare but set *out",
             rc, evl_strerror(rc), k);
    int fds_now = sc_fd_count(), threads = sf_threads();
    for (int i = 0; threads > base_threads && i < 20; i++) {
      t_sleep_ms(5); /* a worker a moment away from exiting */
      threads = sf_threads();
    }
    if (fds_now != base_fds)
      T_FAIL(t,
             "loop_new failed (%d, %s) with %d fds to spare and left %d fds "
             "open (expected %d)",
             rc, evl_strerror(rc), k, fds_now, base_fds);
    if (threads != base_threads)
      T_FAIL(t,
             "loop_new failed (%d, %s) with %d fds to spare and left %d "
             "threads (expected %d)",
             rc, evl_strerror(rc), k, threads, base_threads);
  }
  for (int i = 0; i < n; i++)
    close(fds[i]);
  if (ok_at < 0)
    T_SKIP(t, "loop_new still failed with %d fds to spare", STEPS);
}

/* ---- S10: the loop's own wait fails ------------------------------------ */

#if defined(__x86_64__)
#define SF_ARCH AUDIT_ARCH_X86_64
#elif defined(__aarch64__)
#define SF_ARCH AUDIT_ARCH_AARCH64
#endif

#ifdef SF_ARCH
/* Every system call a loop may wait in answers EIO from now on. */
static int sf_fail_waits(void) {
  static const long nrs[] = {
#ifdef SYS_epoll_wait
      SYS_epoll_wait,
#endif
#ifdef SYS_epoll_pwait
      SYS_epoll_pwait,
#endif
#ifdef SYS_epoll_pwait2
      SYS_epoll_pwait2,
#else
      441, /* epoll_pwait2: the same number on every architecture */
#endif
#ifdef SYS_poll
      SYS_poll,
#endif
#ifdef SYS_ppoll
      SYS_ppoll,
#endif
#ifdef SYS_select
      SYS_select,
#endif
#ifdef SYS_pselect6
      SYS_pselect6,
#endif
#ifdef SYS_io_uring_enter
      SYS_io_uring_enter,
#else
      426,
#endif
  };
  enum { NNR = sizeof nrs / sizeof nrs[0] };
  struct sock_filter f[4 + 2 * NNR + 1];
  int k = 0;
  f[k++] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS,
                                        offsetof(struct seccomp_data, arch));
  f[k++] =
      (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SF_ARCH, 1, 0);
  f[k++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW);
  f[k++] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS,
                                        offsetof(struct seccomp_data, nr));
  for (int i = 0; i < NNR; i++) {
    f[k++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K,
                                          (unsigned)nrs[i], 0, 1);
    f[k++] =
        (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EIO);
  }
  f[k++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW);
  struct sock_fprog prog = {.len = (unsigned short)k, .filter = f};
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0)
    return -errno;
  if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_TSYNC,
              &prog) != 0)
    return -errno;
  return 0;
}
#endif

static evl_tctx *sf_t;
static atomic_int sf_done, sf_stopped;

/* The safety net: a loop that keeps running after its wait failed is
 * stopped from another thread, so the test fails with a message. */
static void *sf_stopper(void *arg) {
  for (int i = 0; i < 200 && !atomic_load(&sf_done); i++)
    t_sleep_ms(5);
  if (!atomic_load(&sf_done)) {
    atomic_store(&sf_stopped, 1);
    sf_t->impl->stop_threadsafe(arg);
  }
  return NULL;
}

static void sf_noop_reader(int fd, unsigned events, void *arg) {
  (void)fd;
  (void)events;
  (void)arg;
}

/* S10: a whole loop whose own wait fails (every poll system call answers
 * EIO): run ends with a negative code, and the error handler hears of it
 * exactly once. The reference core is left out: its backend's failing wait
 * is s10_backend_error_ends_run's, run on every backend. */
void test_s10_loop_wait_fails(evl_tctx *t) {
#ifndef SF_ARCH
  T_SKIP(t, "no seccomp filter for this architecture");
#else
  if (t->loop_be)
    T_SKIP(t, "the reference core: s10_backend_error_ends_run covers it");
  evl_loop *loop = st_loop(t);
  sc_errs errs;
  memset(&errs, 0, sizeof errs);
  if (sc_has(t, EVL_IF_ERRORS))
    T_OK(t, "set_error_handler",
         OPS->set_error_handler(loop, sc_err_handler, &errs));
  int p[2];
  t_pipe(t, p);
  T_OK(t, "add_reader (idle)",
       OPS->add_reader(loop, p[0], sf_noop_reader, NULL));
  int rc = sf_fail_waits();
  if (rc < 0)
    T_SKIP(t, "cannot install a seccomp filter here: %s", strerror(-rc));
  pthread_t th;
  int have_thread = sc_has(t, EVL_IF_THREADSAFE) &&
                    pthread_create(&th, NULL, sf_stopper, loop) == 0;
  sf_t = t;
  rc = OPS->run_forever(loop);
  atomic_store(&sf_done, 1);
  if (have_thread)
    pthread_join(th, NULL);
  if (rc >= 0)
    T_FAIL(t,
           "run_forever returned %d %s while every wait failed with EIO: "
           "expected a negative code",
           rc,
           atomic_load(&sf_stopped) ? "only when stopped from another "
                                      "thread 1 s later"
                                    : "");
  if (sc_has(t, EVL_IF_ERRORS))
    T_EQ(t, "reports to the error handler for one failed wait", 1, errs.n);
  T_EQ(t, "remove_reader", 1, OPS->remove_reader(loop, p[0]));
  st_free(t, loop);
  t_close(p[0]);
  t_close(p[1]);
#endif
}
