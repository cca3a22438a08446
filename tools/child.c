/* child.c — disposable child processes for the tools (see child.h). */
#include "child.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* Process groups of started children, for the interrupt handler only: a
 * signal handler can reach nothing else. Slots are claimed and released
 * with atomics; a child started while every slot is taken is simply not
 * killed on ^C (the tools run at most 1024 at once). */
#define CHILD_LIVE_MAX 1024
static volatile pid_t child_live[CHILD_LIVE_MAX];

static void child_live_set(pid_t old, pid_t now) {
  for (int i = 0; i < CHILD_LIVE_MAX; i++) {
    pid_t expect = old;
    if (__atomic_compare_exchange_n(&child_live[i], &expect, now, 0,
                                    __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST))
      return;
  }
}

static void child_on_signal(int sig) {
  for (int i = 0; i < CHILD_LIVE_MAX; i++) {
    pid_t p = child_live[i];
    if (p > 0)
      kill(-p, SIGKILL);
  }
  signal(sig, SIG_DFL);
  raise(sig);
}

void child_kill_on_interrupt(void) {
  struct sigaction sa = {.sa_handler = child_on_signal};
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, NULL);
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGHUP, &sa, NULL);
}

uint64_t child_now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static int child_pidfd_open(pid_t pid) {
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

/* An anonymous file for the child's output: a memfd where there is one. */
static int child_outfile(void) {
#ifdef MFD_CLOEXEC
  int fd = memfd_create("evl-child-output", MFD_CLOEXEC);
  if (fd >= 0)
    return fd;
#endif
  char path[] = "/tmp/evl-child-XXXXXX";
  int fd2 = mkostemp(path, O_CLOEXEC);
  if (fd2 >= 0)
    unlink(path);
  return fd2;
}

/* Every fd from 3 up except `keep`. */
static void child_close_others(int keep) {
#ifdef SYS_close_range
  if (keep > 3 && syscall(SYS_close_range, 3u, (unsigned)keep - 1, 0u) == 0 &&
      syscall(SYS_close_range, (unsigned)keep + 1, ~0u, 0u) == 0)
    return;
#endif
  long max = sysconf(_SC_OPEN_MAX);
  if (max < 0 || max > 65536)
    max = 65536;
  for (int fd = 3; fd < max; fd++)
    if (fd != keep)
      close(fd);
}

/* In the fresh child: own group, clean signal state, stdio as asked. */
static void child_setup(unsigned flags, int ofd, int wfd) {
  setpgid(0, 0);
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, NULL);
  signal(SIGINT, SIG_DFL);
  signal(SIGTERM, SIG_DFL);
  signal(SIGCHLD, SIG_DFL);
  signal(SIGHUP, SIG_DFL);
  signal(SIGPIPE, SIG_DFL);
  if (flags & CHILD_CLOSE_FDS) {
    int nul = open("/dev/null", O_RDONLY);
    if (nul >= 0 && nul != 0) {
      dup2(nul, 0);
      close(nul);
    }
  }
  if (ofd >= 0) {
    fflush(NULL);
    dup2(ofd, 1);
    dup2(ofd, 2);
  }
  if (flags & CHILD_CLOSE_FDS)
    child_close_others(wfd);
  if (ofd >= 0)
    setvbuf(stdout, NULL, _IOLBF, 0);
}

int child_start(child_proc *c, unsigned flags, int timeout_ms, child_fn fn,
                void *arg) {
  memset(c, 0, sizeof *c);
  c->pid = -1;
  c->rfd = c->ofd = c->pidfd = -1;
  c->start_ms = child_now_ms();
  c->deadline_ms = timeout_ms > 0 ? c->start_ms + (uint64_t)timeout_ms : 0;
  int p[2];
  if (pipe2(p, O_CLOEXEC) != 0)
    return -errno;
  if (flags & CHILD_CAPTURE) {
    c->ofd = child_outfile();
    if (c->ofd < 0) {
      int e = errno;
      close(p[0]);
      close(p[1]);
      return -e;
    }
  }
  fflush(NULL);
  pid_t pid = fork();
  if (pid < 0) {
    int e = errno;
    close(p[0]);
    close(p[1]);
    if (c->ofd >= 0)
      close(c->ofd);
    c->ofd = -1;
    return -e;
  }
  if (pid == 0) {
    close(p[0]);
    child_setup(flags, c->ofd, p[1]);
    fn(arg, p[1]);
    fflush(NULL);
    _exit(0);
  }
  /* Also done in the child: whichever runs first, the group exists before
   * anyone signals it. */
  setpgid(pid, pid);
  close(p[1]);
  c->pid = pid;
  c->rfd = p[0];
  fcntl(c->rfd, F_SETFL, O_NONBLOCK);
  c->pidfd = child_pidfd_open(pid);
  child_live_set(0, pid);
  return 0;
}

long child_read(child_proc *c, void *buf, size_t len) {
  if (c->rfd < 0 || c->eof || len == 0)
    return 0;
  for (;;) {
    ssize_t n = read(c->rfd, buf, len);
    if (n > 0)
      return (long)n;
    if (n == 0) {
      c->eof = 1;
      return 0;
    }
    if (errno == EINTR)
      continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK)
      return 0;
    return -errno;
  }
}

void child_kill(child_proc *c) {
  if (c->pid > 0 && !c->exited) {
    kill(-c->pid, SIGKILL);
    kill(c->pid, SIGKILL); /* in case it left its group */
  } else if (c->pid > 0) {
    kill(-c->pid, SIGKILL); /* grandchildren outlive the child */
  }
}

int child_reap(child_proc *c) {
  if (c->pid <= 0)
    return 1;
  if (c->exited)
    return 1;
  pid_t w;
  do
    w = waitpid(c->pid, &c->status, WNOHANG);
  while (w < 0 && errno == EINTR);
  if (w == c->pid || (w < 0 && errno == ECHILD)) {
    c->exited = 1;
    return 1;
  }
  if (c->deadline_ms && child_now_ms() >= c->deadline_ms) {
    child_kill(c);
    while (waitpid(c->pid, &c->status, 0) < 0 && errno == EINTR)
      ;
    c->exited = 1;
    c->timed_out = 1;
    return 1;
  }
  return 0;
}

int child_done(const child_proc *c) {
  return c->pid <= 0 || c->exited;
}

int child_wait(child_proc *const *cs, int n, int max_ms) {
  struct pollfd stack[64];
  struct pollfd *pfd = stack;
  if (n * 2 > (int)(sizeof stack / sizeof stack[0])) {
    pfd = malloc(sizeof *pfd * (size_t)n * 2);
    if (!pfd)
      return -ENOMEM;
  }
  uint64_t now = child_now_ms();
  int64_t wait_ms = max_ms;
  int np = 0, need_tick = 0;
  for (int i = 0; i < n; i++) {
    const child_proc *c = cs[i];
    if (c->pid <= 0 || c->exited)
      continue;
    if (c->deadline_ms) {
      int64_t left = (int64_t)(c->deadline_ms - now);
      if (left < 0)
        left = 0;
      if (wait_ms < 0 || left < wait_ms)
        wait_ms = left;
    }
    if (!c->eof && c->rfd >= 0)
      pfd[np++] = (struct pollfd){.fd = c->rfd, .events = POLLIN};
    if (c->pidfd >= 0)
      pfd[np++] = (struct pollfd){.fd = c->pidfd, .events = POLLIN};
    else
      need_tick = 1; /* no pidfd: look for exits every 10 ms */
  }
  if (need_tick && (wait_ms < 0 || wait_ms > 10))
    wait_ms = 10;
  if (wait_ms > 1 << 30)
    wait_ms = 1 << 30;
  int rc = 0;
  if (poll(pfd, (nfds_t)np, (int)wait_ms) < 0 && errno != EINTR)
    rc = -errno;
  if (pfd != stack)
    free(pfd);
  for (int i = 0; i < n; i++)
    if (cs[i]->pid > 0)
      child_reap(cs[i]);
  return rc;
}

void child_close(child_proc *c) {
  if (c->pid > 0) {
    child_kill(c);
    if (!c->exited) {
      while (waitpid(c->pid, &c->status, 0) < 0 && errno == EINTR)
        ;
      c->exited = 1;
    }
    child_live_set(c->pid, 0);
  }
  if (c->rfd >= 0)
    close(c->rfd);
  if (c->ofd >= 0)
    close(c->ofd);
  if (c->pidfd >= 0)
    close(c->pidfd);
  c->rfd = c->ofd = c->pidfd = -1;
}

char *child_output(const child_proc *c, size_t keep) {
  if (c->ofd < 0)
    return NULL;
  off_t size = lseek(c->ofd, 0, SEEK_END);
  if (size <= 0)
    return NULL;
  off_t from = (size_t)size > keep ? size - (off_t)keep : 0;
  size_t len = (size_t)(size - from);
  char *buf = malloc(len + 1);
  if (!buf)
    return NULL;
  ssize_t n = pread(c->ofd, buf, len, from);
  buf[n > 0 ? n : 0] = '\0';
  return buf;
}

const char *child_signame(int sig, char *buf, size_t len) {
  static const struct {
    int sig;
    const char *name;
  } names[] = {
      {SIGSEGV, "SIGSEGV"}, {SIGABRT, "SIGABRT"},   {SIGBUS, "SIGBUS"},
      {SIGFPE, "SIGFPE"},   {SIGILL, "SIGILL"},     {SIGKILL, "SIGKILL"},
      {SIGTERM, "SIGTERM"}, {SIGPIPE, "SIGPIPE"},   {SIGALRM, "SIGALRM"},
      {SIGTRAP, "SIGTRAP"}, {SIGSYS, "SIGSYS"},     {SIGHUP, "SIGHUP"},
      {SIGINT, "SIGINT"},   {SIGQUIT, "SIGQUIT"},   {SIGUSR1, "SIGUSR1"},
      {SIGUSR2, "SIGUSR2"}, {SIGXCPU, "SIGXCPU"},   {SIGXFSZ, "SIGXFSZ"},
      {SIGCHLD, "SIGCHLD"}, {SIGCONT, "SIGCONT"},   {SIGSTOP, "SIGSTOP"},
      {SIGTSTP, "SIGTSTP"}, {SIGTTIN, "SIGTTIN"},   {SIGTTOU, "SIGTTOU"},
      {SIGURG, "SIGURG"},   {SIGWINCH, "SIGWINCH"},
  };
  for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
    if (names[i].sig == sig)
      return names[i].name;
  snprintf(buf, len, "signal %d", sig);
  return buf;
}

const char *child_describe(const child_proc *c, char *buf, size_t len) {
  char sb[32];
  if (c->pid <= 0)
    snprintf(buf, len, "not started");
  else if (!c->exited)
    snprintf(buf, len, "still running");
  else if (c->timed_out)
    snprintf(buf, len, "timed out after %llu ms (killed)",
             (unsigned long long)(c->deadline_ms - c->start_ms));
  else if (WIFSIGNALED(c->status))
    snprintf(buf, len, "killed by %s (%s)",
             child_signame(WTERMSIG(c->status), sb, sizeof sb),
             strsignal(WTERMSIG(c->status)));
  else
    snprintf(buf, len, "exited with status %d",
             WIFEXITED(c->status) ? WEXITSTATUS(c->status) : -1);
  return buf;
}

static int child_write_all(int fd, const char *buf, size_t len) {
  while (len > 0) {
    ssize_t n = write(fd, buf, len);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      return n < 0 ? -errno : -EIO;
    buf += n;
    len -= (size_t)n;
  }
  return 0;
}

int child_put_line(int fd, const char *key, const char *text) {
  /* Copied through a buffer: one write() for a line under 2 KiB. */
  char buf[2048];
  size_t n = 0;
  int rc = 0;
  const char *part[3] = {key ? key : "", text && *text ? " " : "",
                         text ? text : ""};
  for (int p = 0; p < 3 && rc == 0; p++)
    for (const char *c = part[p]; *c && rc == 0; c++) {
      if (n == sizeof buf - 1) {
        rc = child_write_all(fd, buf, n);
        n = 0;
      }
      buf[n++] = *c == '\n' || *c == '\r' ? ' ' : *c;
    }
  buf[n++] = '\n';
  return rc < 0 ? rc : child_write_all(fd, buf, n);
}
