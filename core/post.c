/* post.c — call_soon_threadsafe: a locked queue and a wakeup fd (S9). */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "loop.h"

static void loop_wake_write(evl_loop *loop);

void evl__wake_now(evl_loop *loop) {
  loop_wake_write(loop);
}

static void loop_wake_write(evl_loop *loop) {
  /* EAGAIN (eventfd counter or pipe full) means a wake is already pending,
   * so ignoring it loses nothing: the queue is the record, not the fd. */
  if (loop->wake_wfd == loop->wake_rfd) {
    uint64_t one = 1;
    ssize_t r = write(loop->wake_wfd, &one, sizeof one);
    (void)r;
  } else {
    char c = 0;
    ssize_t r = write(loop->wake_wfd, &c, 1);
    (void)r;
  }
}

int evl_call_soon_threadsafe(evl_loop *loop, evl_cb cb, void *arg) {
  if (!loop || !cb)
    return -EINVAL;
  if (evl__forked(loop))
    return EVL_EFORKED; /* the wakeup fd is still the parent's too */
  int rc = 0, wake = 0;
  pthread_mutex_lock(&loop->ts_lock);
  if (loop->closed) {
    rc = EVL_ECLOSED;
  } else if (loop->ts_n == loop->ts_cap) {
    size_t ncap = loop->ts_cap ? loop->ts_cap * 2 : 64;
    evl__tsent *nq = ncap > SIZE_MAX / sizeof *nq
                         ? NULL
                         : realloc(loop->ts_q, ncap * sizeof *nq);
    if (!nq) {
      rc = -ENOMEM;
    } else {
      loop->ts_q = nq;
      loop->ts_cap = ncap;
    }
  }
  if (rc == 0) {
    loop->ts_q[loop->ts_n++] = (evl__tsent){cb, arg};
    if (!loop->ts_pending) {
      __atomic_store_n(&loop->ts_pending, 1, __ATOMIC_RELEASE);
      wake = 1;
      /* Counted under the lock: close() sets `closed` under it and then
       * waits for this to drain before closing the fd we write to. */
      __atomic_add_fetch(&loop->ts_writers, 1, __ATOMIC_RELAXED);
    }
  }
  pthread_mutex_unlock(&loop->ts_lock);
  if (wake) {
    /* Outside the lock: the write wakes the loop thread, whose first act is
     * to take this lock, so holding it here could only add a futex sleep
     * and wake to every cross-thread post. */
    loop_wake_write(loop);
    __atomic_sub_fetch(&loop->ts_writers, 1, __ATOMIC_RELEASE);
  }
  return rc;
}

static void loop_stop_cb(void *arg) {
  evl_stop(arg);
}

int evl_stop_threadsafe(evl_loop *loop) {
  return evl_call_soon_threadsafe(loop, loop_stop_cb, loop);
}

void evl__drain_posts(evl_loop *loop) {
  char buf[64];
  while (read(loop->wake_rfd, buf, sizeof buf) > 0) {
  }
  pthread_mutex_lock(&loop->ts_lock);
  evl__tsent *q = loop->ts_q;
  size_t n = loop->ts_n, cap = loop->ts_cap;
  loop->ts_q = loop->ts_spare;
  loop->ts_cap = loop->ts_spare_cap;
  loop->ts_n = 0;
  __atomic_store_n(&loop->ts_pending, 0, __ATOMIC_RELAXED);
  pthread_mutex_unlock(&loop->ts_lock);
  for (size_t i = 0; i < n; i++)
    if (evl__queue_cb(loop, q[i].cb, q[i].arg, NULL) < 0)
      evl__loop_error(loop, -ENOMEM, "threadsafe post dropped", NULL, -1);
  loop->ts_spare = q;
  loop->ts_spare_cap = cap;
}

int evl__wake_open(evl_loop *loop) {
  int fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (fd >= 0) {
    loop->wake_rfd = loop->wake_wfd = fd;
  } else {
    int p[2];
    if (pipe2(p, O_CLOEXEC | O_NONBLOCK) < 0)
      return -errno;
    loop->wake_rfd = p[0];
    loop->wake_wfd = p[1];
  }
  int rc = evl__fd_reserve(loop, loop->wake_rfd);
  if (rc == 0)
    rc = evl__ctl(loop, loop->wake_rfd, 0, EVL_READ);
  if (rc < 0)
    return rc;
  loop->fds[loop->wake_rfd].internal = EVL__FD_WAKE;
  loop->fds[loop->wake_rfd].kmask = EVL_READ;
  return 0;
}
