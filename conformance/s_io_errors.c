/* s_io_errors.c — S6: bad fds, NULL callbacks, regular files, fd_limit. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <unistd.h>

#include "harness.h"

typedef struct s_io_errors_rec {
  int calls;
  unsigned events;
} s_io_errors_rec;

static void s_io_errors_count(int fd, unsigned events, void *arg) {
  s_io_errors_rec *r = arg;
  (void)fd;
  r->calls++;
  r->events |= events;
}

static void s_io_errors_noop(void *arg) {
  (void)arg;
}

static void s_io_errors_tick(evl_tctx *t, evl_loop *loop) {
  T_OK(t, "call_soon", OPS->call_soon(loop, s_io_errors_noop, NULL, NULL));
  int rc = OPS->run_once(loop);
  T_OK(t, "run_once", rc < 0 ? rc : 0);
}

/* Registered-fd count from loop_stats, or -1 without STATS. */
static long long s_io_errors_nfds(evl_tctx *t, evl_loop *loop) {
  evl_loop_stats st;
  if (!(OPS->features & EVL_IF_STATS) || !OPS->loop_stats)
    return -1;
  T_OK(t, "loop_stats", OPS->loop_stats(loop, &st));
  return (long long)st.fds;
}

/* The selector the loop runs on when it is the reference core over a known
 * backend (the runner says which); NULL for a whole loop, whose declared
 * features say nothing about fd limits or regular files. */
static const evl_backend_ops *s_io_errors_backend(evl_tctx *t, evl_loop *loop) {
  (void)loop;
  return t->loop_be;
}

/* A fresh pipe whose read end has number `want` (free by now). */
static void s_io_errors_pipe_at(evl_tctx *t, int p[2], int want) {
  t_pipe(t, p);
  if (p[0] == want)
    return;
  if (p[1] == want) {
    int spare = fcntl(p[1], F_DUPFD_CLOEXEC, 0);
    close(p[1]);
    p[1] = spare;
  }
  if (dup3(p[0], want, O_CLOEXEC) != want)
    T_FAIL(t, "dup3 onto %d failed", want);
  close(p[0]);
  p[0] = want;
}

void test_s6_invalid_fd(evl_tctx *t) {
  evl_loop *loop = st_loop(t);
  s_io_errors_rec r = {0}, w = {0};
  int p[2], q[2];
  long long nfds0 = s_io_errors_nfds(t, loop);
  T_RC(t, "add_reader(-1)", -EBADF,
       OPS->add_reader(loop, -1, s_io_errors_count, &r));
  T_RC(t, "add_writer(-1)", -EBADF,
       OPS->add_writer(loop, -1, s_io_errors_count, &w));
  t_pipe(t, p);
  int num = p[0];
  t_close(p[0]);
  t_close(p[1]);
  T_RC(t, "add_reader of a closed fd", -EBADF,
       OPS->add_reader(loop, num, s_io_errors_count, &r));
  T_RC(t, "add_writer of a closed fd", -EBADF,
       OPS->add_writer(loop, num, s_io_errors_count, &w));
  T_EQ(t, "registered fds (loop_stats) after refused adds", nfds0,
       s_io_errors_nfds(t, loop));
  T_EQ(t, "remove_reader of the refused fd", 0, OPS->remove_reader(loop, num));
  T_EQ(t, "remove_writer of the refused fd", 0, OPS->remove_writer(loop, num));
  /* Give the number a ready pipe: nothing registered means nothing runs. */
  s_io_errors_pipe_at(t, q, num);
  t_write_byte(t, q[1]);
  s_io_errors_tick(t, loop);
  s_io_errors_tick(t, loop);
  T_EQ(t, "reader calls for a refused fd", 0, r.calls);
  T_EQ(t, "writer calls for a refused fd", 0, w.calls);
  st_free(t, loop);
  t_close(q[0]);
  t_close(q[1]);
}

void test_s6_null_callback(evl_tctx *t) {
  evl_loop *loop = st_loop(t);
  s_io_errors_rec r = {0};
  int p[2];
  t_pipe(t, p);
  t_write_byte(t, p[1]);
  long long nfds0 = s_io_errors_nfds(t, loop);
  T_RC(t, "add_reader with a NULL callback", -EINVAL,
       OPS->add_reader(loop, p[0], NULL, NULL));
  T_RC(t, "add_writer with a NULL callback", -EINVAL,
       OPS->add_writer(loop, p[1], NULL, NULL));
  T_EQ(t, "registered fds (loop_stats) after refused adds", nfds0,
       s_io_errors_nfds(t, loop));
  T_EQ(t, "remove_reader after a refused add", 0,
       OPS->remove_reader(loop, p[0]));
  T_EQ(t, "remove_writer after a refused add", 0,
       OPS->remove_writer(loop, p[1]));
  s_io_errors_tick(t, loop); /* nothing registered: nothing to call */
  /* A refused replace leaves the existing watcher as it was. */
  T_OK(t, "add_reader", OPS->add_reader(loop, p[0], s_io_errors_count, &r));
  T_RC(t, "add_reader replacing with a NULL callback", -EINVAL,
       OPS->add_reader(loop, p[0], NULL, NULL));
  s_io_errors_tick(t, loop);
  T_EQ(t, "calls of the reader a NULL replace left in place", 1, r.calls);
  T_EQ(t, "remove_reader", 1, OPS->remove_reader(loop, p[0]));
  st_free(t, loop);
  t_close(p[0]);
  t_close(p[1]);
}

/* Regular files: with a FILES backend always ready; with another, a defined
 * error and nothing registered; for a whole loop (no declared backend),
 * either, whichever its add_reader shows. */
void test_s6_regular_file(evl_tctx *t) {
  evl_loop *loop = st_loop(t);
  s_io_errors_rec r = {0}, w = {0};
  char path[] = "/tmp/evl-s6-XXXXXX";
  int f = mkostemp(path, O_CLOEXEC);
  if (f < 0)
    T_FAIL(t, "mkostemp failed");
  unlink(path);
  if (write(f, "data", 4) != 4)
    T_FAIL(t, "write to the regular file failed");
  const evl_backend_ops *be = s_io_errors_backend(t, loop);
  long long nfds0 = s_io_errors_nfds(t, loop);
  int rc = OPS->add_reader(loop, f, s_io_errors_count, &r);
  int files = be ? (be->features & EVL_BF_FILES) != 0 : rc == 0;
  if (files) {
    T_RC(t, "add_reader of a regular file (backend has FILES)", 0, rc);
    T_OK(t, "add_writer of a regular file",
         OPS->add_writer(loop, f, s_io_errors_count, &w));
    s_io_errors_tick(t, loop);
    s_io_errors_tick(t, loop);
    T_EQ(t, "reader calls on a regular file (always ready)", 2, r.calls);
    T_EQ(t, "writer calls on a regular file (always ready)", 2, w.calls);
    T_EQ(t, "remove_reader", 1, OPS->remove_reader(loop, f));
    T_EQ(t, "remove_writer", 1, OPS->remove_writer(loop, f));
  } else {
    T_TRUE(t, "add_reader of a regular file refused (backend lacks FILES)",
           rc < 0);
    T_TRUE(t, "the error is not EBADF (the fd is valid)", rc != -EBADF);
    int rcw = OPS->add_writer(loop, f, s_io_errors_count, &w);
    T_TRUE(t, "add_writer of a regular file refused", rcw < 0);
    T_EQ(t, "registered fds (loop_stats) after refused adds", nfds0,
         s_io_errors_nfds(t, loop));
    T_EQ(t, "remove_reader after a refused add", 0,
         OPS->remove_reader(loop, f));
    T_EQ(t, "remove_writer after a refused add", 0,
         OPS->remove_writer(loop, f));
    T_RC(t, "a second add_reader fails the same way", rc,
         OPS->add_reader(loop, f, s_io_errors_count, &r));
    s_io_errors_tick(t, loop);
    T_EQ(t, "reader calls for a refused regular file", 0, r.calls);
    T_EQ(t, "writer calls for a refused regular file", 0, w.calls);
  }
  st_free(t, loop);
  close(f);
}

/* select's FD_SETSIZE: -ERANGE, nothing registered, no fd_set overrun
 * (ASan would see one), and the loop keeps working below the limit. */
void test_s6_fd_limit_erange(evl_tctx *t) {
  evl_loop *loop = st_loop(t);
  const evl_backend_ops *be = s_io_errors_backend(t, loop);
  if (!be || be->fd_limit <= 0) {
    st_free(t, loop);
    T_SKIP(t, "%s",
           be ? "the loop's backend declares no fd_limit"
              : "a whole loop declares no fd_limit");
  }
  int lim = be->fd_limit;
  struct rlimit rl;
  getrlimit(RLIMIT_NOFILE, &rl);
  rl.rlim_cur = rl.rlim_max;
  setrlimit(RLIMIT_NOFILE, &rl);
  getrlimit(RLIMIT_NOFILE, &rl);
  if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur <= (rlim_t)lim + 100) {
    st_free(t, loop);
    T_SKIP(t, "RLIMIT_NOFILE leaves no room above fd_limit %d", lim);
  }
  s_io_errors_rec r = {0}, w = {0}, low = {0}, top = {0};
  int p[2];
  t_pipe(t, p);
  int hi[2] = {lim, lim + 37};
  for (int i = 0; i < 2; i++)
    if (dup3(p[0], hi[i], O_CLOEXEC) != hi[i])
      T_FAIL(t, "dup3 onto %d failed", hi[i]);
  int edge = lim - 1;
  if (dup3(p[0], edge, O_CLOEXEC) != edge)
    T_FAIL(t, "dup3 onto %d failed", edge);
  long long nfds0 = s_io_errors_nfds(t, loop);
  for (int i = 0; i < 2; i++) {
    T_RC(t, "add_reader of an fd >= fd_limit", -ERANGE,
         OPS->add_reader(loop, hi[i], s_io_errors_count, &r));
    T_RC(t, "add_writer of an fd >= fd_limit", -ERANGE,
         OPS->add_writer(loop, hi[i], s_io_errors_count, &w));
    T_EQ(t, "remove_reader of the refused fd", 0,
         OPS->remove_reader(loop, hi[i]));
  }
  T_EQ(t, "registered fds (loop_stats) after refused adds", nfds0,
       s_io_errors_nfds(t, loop));
  T_OK(t, "add_reader (low fd)",
       OPS->add_reader(loop, p[0], s_io_errors_count, &low));
  T_OK(t, "add_reader (fd_limit - 1)",
       OPS->add_reader(loop, edge, s_io_errors_count, &top));
  t_write_byte(t, p[1]);
  /* Two iterations: a backend asked for one event at a time (K4, cap 1)
   * may report the two ready fds in turn. */
  s_io_errors_tick(t, loop);
  s_io_errors_tick(t, loop);
  T_GE(t, "calls of the low reader", 1, low.calls);
  T_GE(t, "calls of the reader on fd_limit - 1", 1, top.calls);
  T_EQ(t, "calls of the refused reader", 0, r.calls);
  T_EQ(t, "calls of the refused writer", 0, w.calls);
  T_EQ(t, "remove_reader (low)", 1, OPS->remove_reader(loop, p[0]));
  T_EQ(t, "remove_reader (fd_limit - 1)", 1, OPS->remove_reader(loop, edge));
  st_free(t, loop);
  t_close(hi[0]);
  t_close(hi[1]);
  t_close(edge);
  t_close(p[0]);
  t_close(p[1]);
}
