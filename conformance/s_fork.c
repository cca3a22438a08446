/* s_fork.c — S16: a loop inherited across fork(). The child makes it its
 * own with loop_after_fork or frees it; neither silences the parent, the
 * parent does not spin afterwards, and the child's loop works on its own
 * (its posts are never lost to the parent's loop, or the reverse). */
#include <errno.h>
#include <pthread.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"

typedef int (*fork_fn)(evl_loop *loop);

static fork_fn s16_after_fork(evl_tctx *t) {
  st_need(t, EVL_IF_FORK);
  return EVL_FIELD_OR(evl_impl_ops, OPS, loop_after_fork, NULL);
}

static void s16_count(int fd, unsigned events, void *arg) {
  char c;
  (void)events;
  (void)!read(fd, &c, 1);
  ++*(int *)arg;
}

static void s16_noop(void *arg) {
  (void)arg;
}

/* Runs until *calls moves or about a second passed. */
static void s16_run_until(evl_tctx *t, evl_loop *loop, int *calls) {
  for (int i = 0; i < 100 && *calls == 0; i++) {
    T_OK(t, "call_later",
         OPS->call_later(loop, 10000000, s16_noop, NULL, NULL));
    T_OK(t, "run_once", OPS->run_once(loop));
  }
}

static int s16_wait_child(pid_t pid) {
  int st = 0;
  while (waitpid(pid, &st, 0) < 0 && errno == EINTR) {
  }
  return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

/* mode 0: the child frees the loop; 1: after_fork, remove, free. */
static void s16_parent_kept(evl_tctx *t, int mode) {
  fork_fn after_fork = s16_after_fork(t);
  evl_loop *loop = st_loop(t);
  int p[2], calls = 0;
  t_pipe(t, p);
  T_OK(t, "add_reader", OPS->add_reader(loop, p[0], s16_count, &calls));
  T_OK(t, "call_soon", OPS->call_soon(loop, s16_noop, NULL, NULL));
  T_OK(t, "run_once (registered)", OPS->run_once(loop));
  pid_t pid = fork();
  if (pid == 0) {
    int code = 0;
    if (mode == 1) {
      if (after_fork(loop) != 0)
        code = 2;
      else if (OPS->remove_reader(loop, p[0]) != 1)
        code = 3;
    }
    if (OPS->loop_free(loop) != 0 && !code)
      code = 5;
    _exit(code);
  }
  T_TRUE(t, "fork", pid > 0);
  T_EQ(t, "child's exit status (0: its calls returned what S16 says)", 0,
       s16_wait_child(pid));
  t_write_byte(t, p[1]);
  s16_run_until(t, loop, &calls);
  T_GE(t, "parent's reader calls after the child was done with the loop", 1,
       calls);
  T_EQ(t, "remove_reader in the parent", 1, OPS->remove_reader(loop, p[0]));
  t_close(p[0]);
  t_close(p[1]);
  st_free(t, loop);
}

void test_s16_child_free_keeps_parent(evl_tctx *t) {
  s16_parent_kept(t, 0);
}

void test_s16_child_remove_keeps_parent(evl_tctx *t) {
  s16_parent_kept(t, 1);
}

void test_s16_inherited_refused(evl_tctx *t) {
  fork_fn after_fork = s16_after_fork(t);
  evl_loop *loop = st_loop(t);
  int p[2], calls = 0;
  t_pipe(t, p);
  pid_t pid = fork();
  if (pid == 0) {
    int code = 0;
    if (OPS->add_reader(loop, p[0], s16_count, &calls) != EVL_EFORKED)
      code = 2;
    else if (OPS->run_once(loop) != EVL_EFORKED)
      code = 3;
    else if (after_fork(loop) != 0)
      code = 4;
    else if (OPS->add_reader(loop, p[0], s16_count, &calls) != 0)
      code = 5;
    OPS->loop_free(loop);
    _exit(code);
  }
  T_TRUE(t, "fork", pid > 0);
  T_EQ(t,
       "child's exit status (2: add_reader before after_fork was not "
       "EVL_EFORKED, 3: run_once neither, 4/5: after_fork or the add "
       "after it failed)",
       0, s16_wait_child(pid));
  T_OK(t, "after_fork in the parent is a no-op", after_fork(loop));
  t_close(p[0]);
  t_close(p[1]);
  st_free(t, loop);
}

typedef struct s16_post {
  const evl_impl_ops *ops;
  evl_loop *loop;
  int ran;
} s16_post;

static void s16_posted(void *arg) {
  s16_post *p = arg;
  p->ran++;
  p->ops->stop(p->loop);
}

static void *s16_poster(void *arg) {
  s16_post *p = arg;
  usleep(30000); /* while the loop blocks in its wait */
  p->ops->call_soon_threadsafe(p->loop, s16_posted, p);
  return NULL;
}

static void s16_stop(void *arg) {
  s16_post *p = arg;
  p->ops->stop(p->loop);
}

/* Parent and child each block in their loop while a thread of their own
 * posts to it: each wakes for its own post (a shared wakeup fd would let
 * one drain the other's). */
void test_s16_child_loop_own_posts(evl_tctx *t) {
  fork_fn after_fork = s16_after_fork(t);
  st_need(t, EVL_IF_THREADSAFE);
  evl_loop *loop = st_loop(t);
  pid_t pid = fork();
  if (pid == 0) {
    s16_post cp = {OPS, loop, 0};
    pthread_t th;
    int code = 0;
    if (after_fork(loop) != 0)
      code = 2;
    else if (OPS->call_later(loop, 2000000000, s16_stop, &cp, NULL) != 0 ||
             pthread_create(&th, NULL, s16_poster, &cp) != 0)
      code = 3;
    else {
      OPS->run_forever(loop);
      pthread_join(th, NULL);
      code = cp.ran == 1 ? 0 : 4;
    }
    OPS->loop_free(loop);
    _exit(code);
  }
  T_TRUE(t, "fork", pid > 0);
  s16_post pp = {OPS, loop, 0};
  pthread_t th;
  T_OK(t, "call_later (2 s safety stop)",
       OPS->call_later(loop, 2000000000, s16_stop, &pp, NULL));
  T_OK(t, "pthread_create", -pthread_create(&th, NULL, s16_poster, &pp));
  T_OK(t, "run_forever", OPS->run_forever(loop));
  pthread_join(th, NULL);
  T_EQ(t, "parent's own post ran (and ended the run before the 2 s stop)", 1,
       pp.ran);
  T_EQ(t, "child's exit status (4: its own post never woke its loop)", 0,
       s16_wait_child(pid));
  st_free(t, loop);
}

/* After the child made the loop its own and exited, the parent's idle loop
 * sleeps: a 50 ms timer takes a handful of waits, not thousands. */
void test_s16_parent_no_spin(evl_tctx *t) {
  fork_fn after_fork = s16_after_fork(t);
  st_need(t, EVL_IF_STATS);
  evl_loop *loop = st_loop(t);
  int p[2], calls = 0;
  t_socketpair(t, p);
  T_OK(t, "add_reader", OPS->add_reader(loop, p[0], s16_count, &calls));
  T_OK(t, "call_soon", OPS->call_soon(loop, s16_noop, NULL, NULL));
  T_OK(t, "run_once (registered)", OPS->run_once(loop));
  pid_t pid = fork();
  if (pid == 0) {
    int code = after_fork(loop) != 0 ? 2 : 0;
    if (!code && OPS->call_soon(loop, s16_noop, NULL, NULL) == 0)
      OPS->run_once(loop);
    OPS->loop_free(loop);
    _exit(code);
  }
  T_TRUE(t, "fork", pid > 0);
  T_EQ(t, "child's exit status", 0, s16_wait_child(pid));
  evl_loop_stats a, b;
  T_OK(t, "loop_stats", OPS->loop_stats(loop, &a));
  s16_post pp = {OPS, loop, 0};
  T_OK(t, "call_later 50 ms",
       OPS->call_later(loop, 50000000, s16_stop, &pp, NULL));
  T_OK(t, "run_forever", OPS->run_forever(loop));
  T_OK(t, "loop_stats", OPS->loop_stats(loop, &b));
  T_LE(t, "waits for one 50 ms timer in the parent after the child exited", 10,
       (long long)(b.waits - a.waits));
  T_EQ(t, "reader calls (nothing was written)", 0, calls);
  T_EQ(t, "remove_reader", 1, OPS->remove_reader(loop, p[0]));
  t_close(p[0]);
  t_close(p[1]);
  st_free(t, loop);
}
