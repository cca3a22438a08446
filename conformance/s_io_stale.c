/* s_io_stale.c — S6: stale events, fd numbers reused, dup of a removed fd. */
#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

#include "harness.h"

static void s_io_stale_noop(void *arg) {
  (void)arg;
}

static void s_io_stale_tick(evl_tctx *t, evl_loop *loop) {
  T_OK(t, "call_soon", OPS->call_soon(loop, s_io_stale_noop, NULL, NULL));
  int rc = OPS->run_once(loop);
  T_OK(t, "run_once", rc < 0 ? rc : 0);
}

/* One watcher that, when called, removes or replaces another watcher. */
typedef struct s_io_stale_w {
  evl_tctx *t;
  evl_loop *loop;
  int calls;
  int victim_fd;    /* whose watcher this one removes/replaces */
  int victim_dir;   /* EVL_READ or EVL_WRITE */
  evl_io_cb new_cb; /* NULL: remove; else replace with this */
  void *new_arg;
} s_io_stale_w;

static void s_io_stale_count(int fd, unsigned events, void *arg) {
  s_io_stale_w *w = arg;
  (void)fd;
  (void)events;
  w->calls++;
}

static void s_io_stale_act(int fd, unsigned events, void *arg) {
  s_io_stale_w *w = arg;
  const evl_impl_ops *ops = w->t->impl;
  (void)fd;
  (void)events;
  w->calls++;
  if (w->victim_fd < 0)
    return;
  if (w->new_cb && w->victim_dir == EVL_READ)
    T_OK(w->t, "add_reader (replace) in a callback",
         ops->add_reader(w->loop, w->victim_fd, w->new_cb, w->new_arg));
  else if (w->new_cb)
    T_OK(w->t, "add_writer (replace) in a callback",
         ops->add_writer(w->loop, w->victim_fd, w->new_cb, w->new_arg));
  else if (w->victim_dir == EVL_READ)
    ops->remove_reader(w->loop, w->victim_fd);
  else
    ops->remove_writer(w->loop, w->victim_fd);
  w->victim_fd = -1; /* act once */
}

/* Two ready pipes whose readers remove each other: whichever runs first
 * removes the other, which then must not run for the event already
 * collected in this batch. */
void test_s6_remove_other_in_batch(evl_tctx *t) {
  evl_loop *loop = st_loop(t);
  int a[2], b[2];
  t_pipe(t, a);
  t_pipe(t, b);
  s_io_stale_w wa = {t, loop, 0, b[0], EVL_READ, NULL, NULL};
  s_io_stale_w wb = {t, loop, 0, a[0], EVL_READ, NULL, NULL};
  T_OK(t, "add_reader a", OPS->add_reader(loop, a[0], s_io_stale_act, &wa));
  T_OK(t, "add_reader b", OPS->add_reader(loop, b[0], s_io_stale_act, &wb));
  s_io_stale_tick(t, loop); /* both registered with the backend */
  t_write_byte(t, a[1]);
  t_write_byte(t, b[1]);
  s_io_stale_tick(t, loop);
  T_EQ(t, "readers called in a batch where each removes the other", 1,
       wa.calls + wb.calls);
  s_io_stale_tick(t, loop);
  s_io_stale_tick(t, loop);
  s_io_stale_w *gone = wa.calls ? &wb : &wa;
  s_io_stale_w *kept = wa.calls ? &wa : &wb;
  T_EQ(t, "calls of the removed reader", 0, gone->calls);
  T_EQ(t, "calls of the surviving reader (level-triggered)", 3, kept->calls);
  OPS->remove_reader(loop, a[0]);
  OPS->remove_reader(loop, b[0]);
  st_free(t, loop);
  t_close(a[0]);
  t_close(a[1]);
  t_close(b[0]);
  t_close(b[1]);
}

/* Same, but each replaces the other's reader with a fresh callback: the
 * replaced callback is never called again, the replacement takes over. */
void test_s6_replace_other_in_batch(evl_tctx *t) {
  evl_loop *loop = st_loop(t);
  int a[2], b[2];
  t_pipe(t, a);
  t_pipe(t, b);
  s_io_stale_w na = {t, loop, 0, -1, 0, NULL, NULL};
  s_io_stale_w nb = {t, loop, 0, -1, 0, NULL, NULL};
  s_io_stale_w wa = {t, loop, 0, b[0], EVL_READ, s_io_stale_count, &nb};
  s_io_stale_w wb = {t, loop, 0, a[0], EVL_READ, s_io_stale_count, &na};
  T_OK(t, "add_reader a", OPS->add_reader(loop, a[0], s_io_stale_act, &wa));
  T_OK(t, "add_reader b", OPS->add_reader(loop, b[0], s_io_stale_act, &wb));
  s_io_stale_tick(t, loop);
  t_write_byte(t, a[1]);
  t_write_byte(t, b[1]);
  s_io_stale_tick(t, loop);
  T_EQ(t, "old readers called in a batch where each replaces the other", 1,
       wa.calls + wb.calls);
  /* Four iterations, two calls: a backend asked for one event at a time
   * (K4, cap 1) may report the two ready pipes in turn. */
  for (int i = 0; i < 4; i++)
    s_io_stale_tick(t, loop);
  int a_first = wa.calls > 0;
  s_io_stale_w *replaced = a_first ? &wb : &wa;
  s_io_stale_w *repl = a_first ? &nb : &na;
  T_EQ(t, "calls of the replaced reader", 0, replaced->calls);
  T_GE(t, "calls of its replacement (level-triggered, data unread)", 2,
       repl->calls);
  OPS->remove_reader(loop, a[0]);
  OPS->remove_reader(loop, b[0]);
  st_free(t, loop);
  t_close(a[0]);
  t_close(a[1]);
  t_close(b[0]);
  t_close(b[1]);
}

/* Reader and writer of one fd, both ready in one batch, remove each other. */
void test_s6_remove_other_direction_in_batch(evl_tctx *t) {
  evl_loop *loop = st_loop(t);
  int sv[2];
  t_socketpair(t, sv);
  s_io_stale_w r = {t, loop, 0, sv[0], EVL_WRITE, NULL, NULL};
  s_io_stale_w w = {t, loop, 0, sv[0], EVL_READ, NULL, NULL};
  T_OK(t, "add_reader", OPS->add_reader(loop, sv[0], s_io_stale_act, &r));
  T_OK(t, "add_writer", OPS->add_writer(loop, sv[0], s_io_stale_act, &w));
  t_write_byte(t, sv[1]);
  s_io_stale_tick(t, loop);
  T_EQ(t, "reader+writer called when each removes the other", 1,
       r.calls + w.calls);
  s_io_stale_tick(t, loop);
  s_io_stale_tick(t, loop);
  s_io_stale_w *gone = r.calls ? &w : &r;
  s_io_stale_w *kept = r.calls ? &r : &w;
  T_EQ(t, "calls of the removed direction", 0, gone->calls);
  T_EQ(t, "calls of the surviving direction", 3, kept->calls);
  OPS->remove_reader(loop, sv[0]);
  OPS->remove_writer(loop, sv[0]);
  st_free(t, loop);
  t_close(sv[0]);
  t_close(sv[1]);
}

/* In A's callback: remove A, close it, open a new pipe that gets A's
 * number, add a reader for it. The new pipe is empty, so its reader must
 * not run until it is written; then it must run (the backend registration
 * follows the new open file, not the old one). */
typedef struct s_io_stale_reuse {
  evl_tctx *t;
  evl_loop *loop;
  int old_calls, new_calls;
  int num;    /* the reused number */
  int writer; /* the old pipe's write end, then the new one's */
  int removed;
} s_io_stale_reuse;

static void s_io_stale_new_reader(int fd, unsigned events, void *arg) {
  s_io_stale_reuse *s = arg;
  (void)fd;
  (void)events;
  s->new_calls++;
}

static void s_io_stale_reuse_cb(int fd, unsigned events, void *arg) {
  s_io_stale_reuse *s = arg;
  evl_tctx *t = s->t;
  int q[2];
  (void)events;
  if (s->old_calls++)
    return;
  s->removed = OPS->remove_reader(s->loop, fd);
  close(fd);
  close(s->writer);
  t_pipe(t, q);
  if (q[0] != fd) { /* make the new pipe's read end take the old number */
    if (q[1] == fd) {
      int spare = fcntl(q[1], F_DUPFD_CLOEXEC, 0);
      close(q[1]);
      q[1] = spare;
    }
    if (dup3(q[0], fd, O_CLOEXEC) != fd)
      T_FAIL(t, "dup3 onto the reused number %d failed", fd);
    close(q[0]);
  }
  s->writer = q[1];
  T_OK(t, "add_reader for the new fd with the old number",
       OPS->add_reader(s->loop, fd, s_io_stale_new_reader, s));
}

void test_s6_close_reuse_in_callback(evl_tctx *t) {
  evl_loop *loop = st_loop(t);
  int p[2];
  t_pipe(t, p);
  s_io_stale_reuse s = {t, loop, 0, 0, p[0], p[1], -1};
  T_OK(t, "add_reader", OPS->add_reader(loop, p[0], s_io_stale_reuse_cb, &s));
  s_io_stale_tick(t, loop);
  t_write_byte(t, p[1]);
  t_write_byte(t, p[1]);
  s_io_stale_tick(t, loop);
  T_EQ(t, "old reader's calls", 1, s.old_calls);
  T_EQ(t, "remove_reader in the callback", 1, s.removed);
  for (int i = 0; i < 3; i++)
    s_io_stale_tick(t, loop);
  T_EQ(t, "old reader's calls after the number was reused", 1, s.old_calls);
  T_EQ(t, "new reader's calls while its pipe is empty", 0, s.new_calls);
  t_write_byte(t, s.writer);
  s_io_stale_tick(t, loop);
  T_EQ(t, "new reader's calls once its pipe is written", 1, s.new_calls);
  T_EQ(t, "remove_reader (new)", 1, OPS->remove_reader(loop, s.num));
  st_free(t, loop);
  t_close(s.num);
  t_close(s.writer);
}

static void s_io_stale_flag(void *arg) {
  *(int *)arg = 1;
}

/* add_reader(fd); d = dup(fd); remove_reader(fd); close(fd); make the pipe
 * readable. The open file lives on through d, so a backend registration
 * left behind would keep reporting: no callback, and no spinning. */
void test_s6_dup_removed_no_spin(evl_tctx *t) {
  enum { ITER_LIMIT = 200, ITER_OK = 10 };
  evl_loop *loop = st_loop(t);
  s_io_stale_w r = {t, loop, 0, -1, 0, NULL, NULL};
  int p[2];
  t_pipe(t, p);
  T_OK(t, "add_reader", OPS->add_reader(loop, p[0], s_io_stale_count, &r));
  s_io_stale_tick(t, loop); /* the registration reaches the backend */
  int d = fcntl(p[0], F_DUPFD_CLOEXEC, 0);
  if (d < 0)
    T_FAIL(t, "dup failed");
  T_EQ(t, "remove_reader", 1, OPS->remove_reader(loop, p[0]));
  close(p[0]);
  t_write_byte(t, p[1]);
  int has_stats = (OPS->features & EVL_IF_STATS) && OPS->loop_stats;
  evl_loop_stats st0 = {0}, st1 = {0};
  if (has_stats)
    T_OK(t, "loop_stats", OPS->loop_stats(loop, &st0));
  int done = 0, iters = 0;
  T_OK(t, "call_later 50 ms",
       OPS->call_later(loop, 50000000, s_io_stale_flag, &done, NULL));
  while (!done && iters < ITER_LIMIT) {
    int rc = OPS->run_once(loop);
    T_OK(t, "run_once", rc < 0 ? rc : 0);
    iters++;
  }
  T_EQ(t, "reader calls after remove+close (dup keeps the file open)", 0,
       r.calls);
  T_LE(t, "iterations until a 50 ms timer fired (spinning if large)", ITER_OK,
       iters);
  if (has_stats) {
    T_OK(t, "loop_stats", OPS->loop_stats(loop, &st1));
    T_LE(t, "backend waits until a 50 ms timer fired", ITER_OK,
         (long long)(st1.waits - st0.waits));
  }
  st_free(t, loop);
  t_close(d);
  t_close(p[1]);
}

/* The user closes before removing (asyncio says not to, but it happens) and
 * a dup keeps the open file alive: still no callback and no spinning. */
void test_s6_close_before_remove_dup_no_spin(evl_tctx *t) {
  enum { ITER_LIMIT = 200, ITER_OK = 10 };
  evl_loop *loop = st_loop(t);
  s_io_stale_w r = {t, loop, 0, -1, 0, NULL, NULL};
  int p[2];
  t_pipe(t, p);
  T_OK(t, "add_reader", OPS->add_reader(loop, p[0], s_io_stale_count, &r));
  s_io_stale_tick(t, loop);
  int d = fcntl(p[0], F_DUPFD_CLOEXEC, 0);
  if (d < 0)
    T_FAIL(t, "dup failed");
  close(p[0]);
  int rc = OPS->remove_reader(loop, p[0]);
  T_TRUE(t, "remove_reader of a closed fd: 1, 0 or -EBADF",
         rc == 1 || rc == 0 || rc == -EBADF);
  t_write_byte(t, p[1]);
  int done = 0, iters = 0;
  T_OK(t, "call_later 50 ms",
       OPS->call_later(loop, 50000000, s_io_stale_flag, &done, NULL));
  while (!done && iters < ITER_LIMIT) {
    int rc1 = OPS->run_once(loop);
    T_OK(t, "run_once", rc1 < 0 ? rc1 : 0);
    iters++;
  }
  T_EQ(t, "reader calls after close+remove (dup keeps the file open)", 0,
       r.calls);
  TC_LE(t, "no_spin",
        "iterations until a 50 ms timer fired (spinning if large)", ITER_OK,
        iters);
  st_free(t, loop);
  t_close(d);
  t_close(p[1]);
}
