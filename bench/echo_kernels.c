/* echo_kernels.c — echo's own kernels: the server watched through the evl
 * ops table, and its raw-epoll floor (the connection logic is bench/echo.c's;
 * direct libraries' kernels are bench/direct/). */
#include "kernels.h"

#include <errno.h>
#include <stdint.h>
#include <sys/epoll.h>
#include <unistd.h>

/* ---- the evl kernel ------------------------------------------------------ */
static void echo_evl_cb(int fd, unsigned events, void *arg) {
  (void)events;
  bench_echo_ready(arg, fd);
}

static void echo_evl_accept_cb(int fd, unsigned events, void *arg) {
  (void)fd;
  (void)events;
  bench_echo_accept(arg);
}

static int echo_evl_open(bench_echo_srv *s) {
  evl_loop *loop;
  int rc = bench_loop_new(s->c, &loop);
  if (rc < 0)
    return rc;
  s->k = loop;
  return s->c->ops->add_reader(loop, s->lfd, echo_evl_accept_cb, s);
}

static int echo_evl_add(bench_echo_srv *s, int fd) {
  return s->c->ops->add_reader(s->k, fd, echo_evl_cb, s);
}

static int echo_evl_want(bench_echo_srv *s, int fd, int write) {
  const evl_impl_ops *ops = s->c->ops;
  if (write) {
    ops->remove_reader(s->k, fd);
    return ops->add_writer(s->k, fd, echo_evl_cb, s);
  }
  ops->remove_writer(s->k, fd);
  return ops->add_reader(s->k, fd, echo_evl_cb, s);
}

static void echo_evl_del(bench_echo_srv *s, int fd) {
  s->c->ops->remove_reader(s->k, fd);
  s->c->ops->remove_writer(s->k, fd);
}

static int echo_evl_iterate(bench_echo_srv *s) {
  return s->c->ops->run_once(s->k);
}

static void echo_evl_close(bench_echo_srv *s) {
  s->c->ops->remove_reader(s->k, s->lfd);
  bench_loop_free(s->c, s->k);
  s->k = NULL;
}

const bench_echo_kernel bench_echo_evl_kernel = {
    echo_evl_open, echo_evl_add,     echo_evl_want,
    echo_evl_del,  echo_evl_iterate, echo_evl_close};

/* ---- the raw floor ------------------------------------------------------- */
static int echo_raw_ep(const bench_echo_srv *s) {
  return (int)(intptr_t)s->k - 1;
}

static int echo_raw_ctl(bench_echo_srv *s, int op, int fd, uint32_t events) {
  struct epoll_event ev = {.events = events, .data.fd = fd};
  return epoll_ctl(echo_raw_ep(s), op, fd, &ev) < 0 ? -errno : 0;
}

static int echo_raw_open(bench_echo_srv *s) {
  int ep = epoll_create1(EPOLL_CLOEXEC);
  if (ep < 0)
    return -errno;
  s->k = (void *)(intptr_t)(ep + 1);
  return echo_raw_ctl(s, EPOLL_CTL_ADD, s->lfd, EPOLLIN);
}

static int echo_raw_add(bench_echo_srv *s, int fd) {
  return echo_raw_ctl(s, EPOLL_CTL_ADD, fd, EPOLLIN);
}

static int echo_raw_want(bench_echo_srv *s, int fd, int write) {
  return echo_raw_ctl(s, EPOLL_CTL_MOD, fd, write ? EPOLLOUT : EPOLLIN);
}

static void echo_raw_del(bench_echo_srv *s, int fd) {
  epoll_ctl(echo_raw_ep(s), EPOLL_CTL_DEL, fd, NULL);
}

/* One raw-epoll iteration: the floor's whole dispatch. */
static int echo_raw_iterate(bench_echo_srv *s) {
  struct epoll_event evs[256];
  int k = epoll_wait(echo_raw_ep(s), evs, 256, -1);
  if (k < 0)
    return errno == EINTR ? 0 : -errno;
  for (int i = 0; i < k; i++) {
    if (evs[i].data.fd == s->lfd)
      bench_echo_accept(s);
    else
      bench_echo_ready(s, evs[i].data.fd);
  }
  return 0;
}

static void echo_raw_close(bench_echo_srv *s) {
  close(echo_raw_ep(s));
  s->k = NULL;
}

const bench_echo_kernel bench_echo_raw_kernel = {
    echo_raw_open, echo_raw_add,     echo_raw_want,
    echo_raw_del,  echo_raw_iterate, echo_raw_close};
