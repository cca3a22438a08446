/* child.h — run a function in a disposable child process: its own process
 * group, a pipe back to the parent, optional captured output, a deadline,
 * and the whole group killed when it ends. Shared by evl-conform (one test
 * per child) and evl-bench (one benchmark step per child), so that a crash,
 * a hang or a stray grandchild costs one child and nothing else.
 *
 * Typical use:
 *
 *   child_proc c;
 *   if (child_start(&c, CHILD_CAPTURE | CHILD_CLOSE_FDS, 10000, fn, arg) < 0)
 *     ...;                                  // fork or pipe failed
 *   while (!child_done(&c)) {
 *     child_wait(&c, 1, 1000);              // sleeps until something happens
 *     while ((n = child_read(&c, buf, sizeof buf)) > 0) ...;
 *   }
 *   // c.timed_out, c.status (waitpid), child_describe(), child_output()
 *   child_close(&c);
 *
 * Nothing here prints or exits; errors are -errno.
 */
#ifndef EVL_TOOLS_CHILD_H
#define EVL_TOOLS_CHILD_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* child_start flags. */
enum {
  /* The child's stdout and stderr go to an anonymous file the parent reads
   * back with child_output(); without it they are the parent's. */
  CHILD_CAPTURE = 1u << 0,
  /* Close every fd in the child except 0-2 and the pipe's write end, so
   * that the parent's other pipes neither leak into the child's fd count
   * nor stay open in it. stdin becomes /dev/null. */
  CHILD_CLOSE_FDS = 1u << 1,
};

/* Runs in the child with the pipe's write end; returning means _exit(0). */
typedef void (*child_fn)(void *arg, int wfd);

typedef struct child_proc {
  pid_t pid;            /* > 0 once started; also the process group id */
  int rfd;              /* the pipe's read end (non-blocking), or -1 */
  int ofd;              /* captured output (CHILD_CAPTURE), or -1 */
  int pidfd;            /* readable once the child exits, or -1 */
  int eof;              /* the pipe reached end of file */
  int exited;           /* reaped: `status` is valid */
  int timed_out;        /* killed because its deadline passed */
  int status;           /* waitpid() status once `exited` */
  uint64_t start_ms;    /* child_now_ms() at start */
  uint64_t deadline_ms; /* 0: none */
} child_proc;

/* CLOCK_MONOTONIC in milliseconds. */
uint64_t child_now_ms(void);

/* Forks; the child joins a new process group, gets default signal
 * dispositions and an empty signal mask, then runs fn(arg, wfd). A
 * timeout_ms <= 0 means no deadline. Returns 0 or -errno (c->pid is then
 * -1 and nothing is left open). */
int child_start(child_proc *c, unsigned flags, int timeout_ms, child_fn fn,
                void *arg);

/* Reads what the child wrote to the pipe without blocking. Returns the
 * bytes read, 0 when nothing is there now or at end of file (c->eof says
 * which), or -errno. */
long child_read(child_proc *c, void *buf, size_t len);

/* Sleeps until one of cs[0..n) has pipe data, exits or reaches its
 * deadline, or max_ms passes (< 0: no limit). Then reaps those that
 * exited and kills those past their deadline (child_reap on each).
 * Returns 0 or -errno from poll (EINTR is 0). */
int child_wait(child_proc *const *cs, int n, int max_ms);

/* Without blocking: reaps the child if it exited, or kills its group and
 * reaps it if its deadline passed. Returns 1 once c->exited, else 0. */
int child_reap(child_proc *c);

/* The child exited (or was killed) and was reaped. What it wrote before
 * is still in the pipe: read it with child_read before child_close. A
 * grandchild holding the pipe open does not keep a child from being done. */
int child_done(const child_proc *c);

/* SIGKILLs the child's whole process group (grandchildren included). */
void child_kill(child_proc *c);

/* Kills the group, reaps the child if still needed, closes every fd. */
void child_close(child_proc *c);

/* The last `keep` bytes of the captured output, NUL-terminated and
 * malloc'ed; NULL when nothing was captured. */
char *child_output(const child_proc *c, size_t keep);

/* "killed by SIGSEGV (Segmentation fault)", "exited with status 3", "timed
 * out after 2000 ms (killed)" or "still running". */
const char *child_describe(const child_proc *c, char *buf, size_t len);

/* "SIGSEGV" for SIGSEGV, "signal 42" for what has no name here. */
const char *child_signame(int sig, char *buf, size_t len);

/* In the child: "key text\n" (or "key\n" when text is NULL or empty) to
 * fd, with any newline or carriage return inside made a space, so that it
 * stays one line of the protocol the tools' children speak on their pipe;
 * all of it, resumed after EINTR. 0 or -errno. */
int child_put_line(int fd, const char *key, const char *text);

/* On SIGINT, SIGTERM and SIGHUP: kill the process group of every child
 * started and not yet closed, then die of that signal. Children run in
 * their own groups, so a ^C reaches only the parent, which must not leave
 * a hung child behind. */
void child_kill_on_interrupt(void);

#endif
