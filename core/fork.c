/* fork.c — evl_loop_after_fork: an inherited loop becomes the child's own
 * (libev's ev_loop_fork, libuv's uv_loop_fork). Until then the core never
 * lets an inherited loop touch kernel state it shares with the parent. */
#include <errno.h>
#include <pthread.h>
#include <unistd.h>

#include "loop.h"

/* Bumped in every child by pthread_atfork: a loop whose fork_gen differs
 * was inherited and not yet made the child's own. The only process-wide
 * state of the core besides the signal table, and it is a counter. */
unsigned evl__forks;

static void fork_child(void) {
  __atomic_add_fetch(&evl__forks, 1, __ATOMIC_RELAXED);
}

static pthread_once_t fork_once = PTHREAD_ONCE_INIT;

static void fork_register(void) {
  (void)pthread_atfork(NULL, NULL, fork_child);
}

void evl__fork_watch(void) {
  pthread_once(&fork_once, fork_register);
}

/* The wakeup fd is shared with the parent after fork: a post in one could
 * wake (and be drained by) the other. The child gets its own. */
static int fork_new_wake(evl_loop *loop) {
  int old_r = loop->wake_rfd, old_w = loop->wake_wfd;
  if (old_r >= 0 && old_r < loop->nfds) {
    (void)evl__ctl(loop, old_r, EVL_READ, 0); /* the child's set by now */
    loop->fds[old_r].internal = EVL__FD_USER;
    loop->fds[old_r].kmask = 0;
  }
  if (old_r >= 0)
    close(old_r);
  if (old_w >= 0 && old_w != old_r)
    close(old_w);
  loop->wake_rfd = loop->wake_wfd = -1;
  int rc = evl__wake_open(loop);
  if (rc < 0)
    return rc;
  /* Posts queued before the fork are the child's too: make sure the first
   * wait sees them. */
  if (loop->ts_n)
    loop->ts_pending = 0, evl__wake_now(loop);
  return 0;
}

int evl_loop_after_fork(evl_loop *loop) {
  if (!loop)
    return -EINVAL;
  if (loop->closed)
    return EVL_ECLOSED;
  if (!evl__forked(loop))
    return 0; /* not inherited: nothing to do */
  /* A parent thread may have held these when it forked. */
  pthread_mutex_init(&loop->ts_lock, NULL);
  loop->ts_writers = 0;
  if (loop->be->after_fork) {
    int rc = loop->be->after_fork(loop->be_state);
    if (rc < 0)
      return rc;
  }
  loop->fork_gen = __atomic_load_n(&evl__forks, __ATOMIC_RELAXED);
  int rc = fork_new_wake(loop);
  if (rc == 0)
    rc = evl__signal_after_fork(loop);
  evl__executor_after_fork(loop);
  return rc;
}
