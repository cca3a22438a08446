/* s_io_reuse.c — S6/S12: a watched fd closed without removal and its number
 * reused. Closing first is misuse (libuv and asyncio say so too), but a
 * watcher added for the new file must work or get an error, never be
 * silently registered for nothing, and the old file's news (its peer's
 * hang-up) must never reach it. The loop's own signal pipe landing on such
 * a number must still deliver signals. */
#include <errno.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include "t_hostile.h"

typedef struct reuse_w {
  int calls;
  unsigned events;
} reuse_w;

static void reuse_cb(int fd, unsigned events, void *arg) {
  reuse_w *w = arg;
  (void)fd;
  w->calls++;
  w->events |= events;
}

static void reuse_noop(void *arg) {
  (void)arg;
}

/* One iteration that does not block. */
static void reuse_spin(evl_tctx *t, evl_loop *loop) {
  T_OK(t, "call_soon", OPS->call_soon(loop, reuse_noop, NULL, NULL));
  T_OK(t, "run_once", OPS->run_once(loop));
}

/* Every number below `num` taken, so the next open gets `num`. */
static int reuse_fill_below(int num, int *held, int cap) {
  int n = 0;
  while (n < cap) {
    int fd = dup(0);
    if (fd < 0)
      break;
    if (fd >= num) {
      close(fd);
      break;
    }
    held[n++] = fd;
  }
  return n;
}

/* old_dir: the direction watched on the closed file; new_dir: the one added
 * for the new file (the same one replaces, the other modifies). */
static void reuse_case(evl_tctx *t, int old_dir, int new_dir) {
  evl_loop *loop = st_loop(t);
  st_watchdog(t, loop, 5000);
  int a[2], b[2];
  t_socketpair(t, a);
  reuse_w old = {0}, nw = {0};
  if (old_dir == EVL_READ)
    T_OK(t, "add_reader (old file)",
         OPS->add_reader(loop, a[0], reuse_cb, &old));
  else
    T_OK(t, "add_writer (old file)",
         OPS->add_writer(loop, a[0], reuse_cb, &old));
  reuse_spin(t, loop);
  int num = a[0];
  /* Closed without removal, and its peer hangs up: nothing may report it
   * under the number from now on. */
  t_close(a[0]);
  t_close(a[1]);
  t_socketpair(t, b);
  if (b[0] != num && dup2(b[0], num) == num) {
    t_close(b[0]);
    b[0] = num;
  }
  T_EQ(t, "the new socket has the old number", num, b[0]);
  old.calls = 0;
  int rc = new_dir == EVL_READ ? OPS->add_reader(loop, num, reuse_cb, &nw)
                               : OPS->add_writer(loop, num, reuse_cb, &nw);
  if (rc < 0) { /* an error is allowed: the caller knows */
    OPS->remove_reader(loop, num);
    OPS->remove_writer(loop, num);
    t_close(b[0]);
    t_close(b[1]);
    st_free(t, loop);
    return;
  }
  if (new_dir == EVL_READ) {
    for (int i = 0; i < 3; i++)
      reuse_spin(t, loop);
    T_EQ(t,
         "reader calls on the new socket before any data (the old "
         "socket's hang-up must not reach it)",
         0, nw.calls);
    t_write_byte(t, b[1]);
  }
  for (int i = 0; i < 50 && nw.calls == 0; i++) {
    T_OK(t, "call_later",
         OPS->call_later(loop, 10000000, reuse_noop, NULL, NULL));
    T_OK(t, "run_once", OPS->run_once(loop));
  }
  T_GE(t,
       "calls of the watcher added for the new file (0: registered for "
       "nothing)",
       1, nw.calls);
  T_EQ(t, "HUP/ERR bits seen by the new watcher", 0,
       nw.events & (EVL_HUP | EVL_ERR));
  OPS->remove_reader(loop, num);
  OPS->remove_writer(loop, num);
  t_close(b[0]);
  t_close(b[1]);
  st_free(t, loop);
}

void test_s6_reuse_after_close_replace(evl_tctx *t) {
  reuse_case(t, EVL_READ, EVL_READ);
}

void test_s6_reuse_after_close_other_dir(evl_tctx *t) {
  reuse_case(t, EVL_WRITE, EVL_READ);
}

static void reuse_sig(void *arg) {
  ++*(int *)arg;
}

void test_s12_signal_pipe_on_reused_number(evl_tctx *t) {
  st_need(t, EVL_IF_SIGNALS);
  evl_loop *loop = st_loop(t);
  st_watchdog(t, loop, 5000);
  int a[2];
  t_socketpair(t, a);
  reuse_w old = {0};
  T_OK(t, "add_reader", OPS->add_reader(loop, a[0], reuse_cb, &old));
  reuse_spin(t, loop);
  int held[64];
  int nheld = reuse_fill_below(a[0], held, 64);
  t_close(a[0]); /* without removal: the pipe will get this number */
  int got = 0;
  T_OK(t, "add_signal_handler(SIGUSR1)",
       OPS->add_signal_handler(loop, SIGUSR1, reuse_sig, &got));
  T_OK(t, "raise(SIGUSR1)", raise(SIGUSR1) ? -errno : 0);
  for (int i = 0; i < 50 && got == 0; i++) {
    T_OK(t, "call_later",
         OPS->call_later(loop, 10000000, reuse_noop, NULL, NULL));
    T_OK(t, "run_once", OPS->run_once(loop));
  }
  T_GE(t, "SIGUSR1 handler calls with the pipe on a reused number", 1, got);
  T_OK(t, "remove_signal_handler",
       OPS->remove_signal_handler(loop, SIGUSR1) == 1 ? 0 : -1);
  OPS->remove_reader(loop, a[0]);
  for (int i = 0; i < nheld; i++)
    t_close(held[i]);
  t_close(a[1]);
  st_free(t, loop);
}

void test_s12_signal_pipe_not_replaceable(evl_tctx *t) {
  st_need(t, EVL_IF_SIGNALS);
  evl_loop *loop = st_loop(t);
  st_watchdog(t, loop, 5000);
  int got = 0;
  T_OK(t, "add_signal_handler(SIGUSR1)",
       OPS->add_signal_handler(loop, SIGUSR1, reuse_sig, &got));
  /* Every fd up to a few above the handler's: the pipe is among them. */
  reuse_w user = {0};
  int probe = dup(0);
  T_TRUE(t, "dup", probe >= 0);
  t_close(probe);
  for (int fd = 3; fd < probe; fd++) {
    if (OPS->add_reader(loop, fd, reuse_cb, &user) == 0)
      OPS->remove_reader(loop, fd);
  }
  T_OK(t, "raise(SIGUSR1)", raise(SIGUSR1) ? -errno : 0);
  for (int i = 0; i < 50 && got == 0; i++) {
    T_OK(t, "call_later",
         OPS->call_later(loop, 10000000, reuse_noop, NULL, NULL));
    T_OK(t, "run_once", OPS->run_once(loop));
  }
  T_GE(t,
       "SIGUSR1 handler calls after user watchers were put on and taken "
       "off every open fd",
       1, got);
  st_free(t, loop);
}

/* A number the C library keeps (glibc: 32 and 33) or any refused one:
 * the error comes with nothing opened. */
void test_s12_refused_signal_leaves_nothing(evl_tctx *t) {
  st_need(t, EVL_IF_SIGNALS);
  evl_loop *loop = st_loop(t);
  hostile_fds before, after;
  hostile_fds_snap(&before);
  int got = 0;
  int rc = OPS->add_signal_handler(loop, 32, reuse_sig, &got);
  hostile_fds_snap(&after);
  if (rc == 0)
    T_SKIP(t, "signal 32 is usable here: nothing refused");
  T_TRUE(t, "fds opened by a refused add_signal_handler (none expected)",
         hostile_fds_same(&before, &after));
  st_free(t, loop);
}
