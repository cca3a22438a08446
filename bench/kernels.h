/* kernels.h — the hot paths of the benchmarks that have direct baselines:
 * shared state, the per-event work (inline, so every implementation pays
 * the same), and the tables a direct-library module fills in.
 *
 * A benchmark here is a sweep (sizes, repeats, records: in bench/<name>.c,
 * the same for everybody) plus a kernel per kind of implementation: one for
 * the evl ops table, one for raw epoll where it has a floor, and one per
 * direct library (bench/direct/<library>.c), written the way that library's
 * users write it. Kernels only register, run and tear down; they never
 * time, emit or decide sizes. */
#ifndef EVL_BENCH_KERNELS_H
#define EVL_BENCH_KERNELS_H

#include "bench.h"

#include <errno.h>
#include <sys/socket.h>
#include <unistd.h>

/* ---- chain: n socketpairs, a active, each read forwards a byte --------- */
/* Per-fd timeouts sit far in the future: re-arming them is the cost. */
#define BENCH_CHAIN_TIMEOUT_NS 10000000000ll

typedef struct bench_chain_state {
  bench_ctx *c;
  int n, active, timeouts;
  int (*pairs)[2];
  long writes, fired, count, failures;
  int registered; /* setup has run once: remove before adding again */
  uint64_t rng;
  void *k; /* the kernel's own state */
} bench_chain_state;

/* Every fd's next timeout: 10 s plus up to 1 s, so deadlines differ. */
static inline int64_t bench_chain_timeout(bench_chain_state *ch) {
  return BENCH_CHAIN_TIMEOUT_NS + (int64_t)(bench_rand(&ch->rng) % 1000000000u);
}

/* The work every implementation does per event: read the byte, forward one
 * to the next pair while writes remain. */
static inline void bench_chain_event(bench_chain_state *ch, int idx) {
  unsigned char b;
  ssize_t k = recv(ch->pairs[idx][0], &b, 1, 0);
  if (k >= 0)
    ch->count += k;
  else
    ch->failures++;
  if (ch->writes) {
    int w = idx + 1;
    if (w >= ch->n)
      w -= ch->n;
    if (send(ch->pairs[w][1], "e", 1, 0) != 1)
      ch->failures++;
    ch->writes--;
    ch->fired++;
  }
}

typedef struct bench_chain_kernel {
  int (*open)(bench_chain_state *ch); /* a fresh loop and per-fd watchers */
  /* Remove (when registered) and add every fd, arming its timeout when
   * ch->timeouts; then one iteration that cannot block, so lazy
   * registration is paid in setup by everyone. */
  int (*setup)(bench_chain_state *ch);
  int (*loop)(bench_chain_state *ch); /* iterate until count == fired */
  void (*close)(bench_chain_state *ch);
} bench_chain_kernel;

/* chain's kernels through the evl ops table and on raw epoll
 * (bench/chain_kernels.c). Each unregister empties its kernel's set (and
 * cancels its timers), so the other can run on the same socketpairs without
 * this one being woken by every send: the paired runs alternate the two. */
extern const bench_chain_kernel bench_chain_evl_kernel, bench_chain_raw_kernel;
void bench_chain_evl_unregister(bench_chain_state *ch);
void bench_chain_raw_unregister(bench_chain_state *ch);

/* ---- timers: insert, fire, cancel and re-arm n timers ----------------- */
#define BENCH_TIMERS_WINDOW_NS 50000000ll
#define BENCH_TIMERS_FAR_NS 10000000000ll

typedef struct bench_timers_state {
  bench_ctx *c;
  long n, fired;
  uint64_t rng;
  long *order; /* a random permutation of 0..n-1: cancel and re-arm order */
  /* Bytes per timer the kernel allocated up front (a direct library's
   * watcher array): added to the heap growth measured around insert. */
  long upfront_bytes;
  void *k;
} bench_timers_state;

static inline int64_t bench_timers_near(bench_timers_state *t) {
  return (int64_t)(bench_rand(&t->rng) % BENCH_TIMERS_WINDOW_NS);
}
static inline int64_t bench_timers_far(bench_timers_state *t) {
  return BENCH_TIMERS_FAR_NS +
         (int64_t)(bench_rand(&t->rng) % (uint64_t)BENCH_TIMERS_FAR_NS);
}

typedef struct bench_timers_kernel {
  int (*open)(bench_timers_state *t);
  /* Start timer i (0..n-1) at bench_timers_near(), for every i; each
   * firing does t->fired++. */
  int (*insert)(bench_timers_state *t);
  int (*fire)(bench_timers_state *t);       /* iterate until t->fired == n */
  int (*insert_far)(bench_timers_state *t); /* every i at bench_timers_far() */
  /* Stop timer order[i] for every i, then one non-blocking iteration (a
   * lazy cancel pays there). Returns refusals counted in *refused. */
  int (*cancel)(bench_timers_state *t, long *refused);
  /* Move pending timer order[i] to bench_timers_far(), for every i, with
   * the library's own re-arm where it has one. */
  int (*rearm)(bench_timers_state *t);
  void (*close)(bench_timers_state *t);
} bench_timers_kernel;

/* ---- callbacks: one per iteration (chain), or 1 000 at once (fan-out) -- */
typedef struct bench_callbacks_state {
  bench_ctx *c;
  int fanout; /* 0: chain shape; else children per parent */
  long count, left, pending;
  int rc;
  void *k;
} bench_callbacks_state;

typedef struct bench_callbacks_kernel {
  int (*open)(bench_callbacks_state *cb);
  int (*run)(bench_callbacks_state *cb); /* until count callbacks have run */
  void (*close)(bench_callbacks_state *cb);
} bench_callbacks_kernel;

/* ---- pingpong: one TCP connection, both ends on the loop --------------- */
#define BENCH_PINGPONG_MSG "PING\n"
#define BENCH_PINGPONG_LEN 5

typedef struct bench_pingpong_state {
  bench_ctx *c;
  int cfd, sfd;
  int got;               /* bytes of the current reply seen by the client */
  long trips, max_trips; /* max_trips: stop there (callgrind); 0: time */
  uint64_t until;
  int done, rc;
  void *k;
} bench_pingpong_state;

/* The server echoes whatever arrives. */
static inline int bench_pingpong_serve(bench_pingpong_state *p) {
  char buf[256];
  ssize_t k = recv(p->sfd, buf, sizeof buf, 0);
  if (k > 0 && send(p->sfd, buf, (size_t)k, 0) != k)
    return -EIO;
  if (k == 0)
    return -ECONNRESET;
  return k < 0 && errno != EAGAIN ? -errno : 0;
}

/* The client counts a trip per full reply, then sends the next ping. */
static inline int bench_pingpong_client(bench_pingpong_state *p) {
  char buf[256];
  ssize_t k = recv(p->cfd, buf, sizeof buf, 0);
  if (k < 0)
    return errno == EAGAIN ? 0 : -errno;
  if (k == 0)
    return -ECONNRESET;
  p->got += (int)k;
  while (p->got >= BENCH_PINGPONG_LEN) {
    p->got -= BENCH_PINGPONG_LEN;
    p->trips++;
    if (p->max_trips ? p->trips >= p->max_trips
                     : (p->trips & 63) == 0 && bench_now() >= p->until) {
      p->done = 1;
      return 0;
    }
    if (send(p->cfd, BENCH_PINGPONG_MSG, BENCH_PINGPONG_LEN, 0) !=
        BENCH_PINGPONG_LEN)
      return -EIO;
  }
  return 0;
}

/* Either side's result: an error ends the run. */
static inline void bench_pingpong_result(bench_pingpong_state *p, int rc) {
  if (rc < 0) {
    p->rc = rc;
    p->done = 1;
  }
}

/* Both ends of one loopback connection (cfd, sfd): 0 or -errno. */
static inline int bench_pingpong_connect(bench_pingpong_state *p) {
  int port, lfd = bench_listen_tcp(&port);
  if (lfd < 0)
    return lfd;
  p->cfd = bench_connect_tcp(port);
  if (p->cfd < 0) {
    close(lfd);
    return p->cfd;
  }
  p->sfd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
  int e = errno;
  close(lfd);
  if (p->sfd < 0) {
    close(p->cfd);
    return -e;
  }
  bench_nodelay(p->sfd);
  return 0;
}

typedef struct bench_pingpong_kernel {
  int (*open)(bench_pingpong_state *p); /* loop, both fds registered */
  int (*run)(bench_pingpong_state *p);  /* iterate until p->done */
  void (*close)(bench_pingpong_state *p);
} bench_pingpong_kernel;

/* ---- idle: one active socketpair among n registered idle fds ---------- */
typedef struct bench_idle_state {
  bench_ctx *c;
  int active[2];
  long left;
  int rc;
  void *k;
} bench_idle_state;

/* Reads the byte and sends the next, so the fd is ready again next time. */
static inline void bench_idle_active(bench_idle_state *id, int fd) {
  char b;
  if (recv(fd, &b, 1, 0) != 1 || send(id->active[1], "i", 1, 0) != 1)
    id->rc = -EIO;
  id->left--;
}

typedef struct bench_idle_kernel {
  int (*open)(bench_idle_state *id); /* the loop only, before the fds exist */
  int (*add_quiet)(bench_idle_state *id,
                   int fd);                /* a fire is an error (-EPROTO) */
  int (*add_active)(bench_idle_state *id); /* id->active[0] */
  int (*run)(bench_idle_state *id);        /* iterate until left == 0 */
  void (*close)(bench_idle_state *id);
} bench_idle_kernel;

/* ---- echo: the server side (the client is the same thread for all) ----- */
/* The connection logic (accept, read, echo back, wait to write the rest) is
 * bench/echo.c's, shared by every kernel; a kernel only watches fds and
 * runs iterations. */
struct bench_echo_conn;
typedef struct bench_echo_srv {
  bench_ctx *c;
  int lfd;
  struct bench_echo_conn **conns; /* by fd */
  int maxfd, open, rc;
  void *k;
} bench_echo_srv;

/* For a kernel's watchers: the listening socket is readable; fd is ready
 * for what the server last asked (reading, or writing the rest). */
void bench_echo_accept(bench_echo_srv *s);
void bench_echo_ready(bench_echo_srv *s, int fd);

typedef struct bench_echo_kernel {
  int (*open)(bench_echo_srv *s); /* a loop watching s->lfd for reading */
  int (*add)(bench_echo_srv *s, int fd);             /* watch fd for reading */
  int (*want)(bench_echo_srv *s, int fd, int write); /* writing or reading */
  void (*del)(bench_echo_srv *s, int fd); /* stop watching; fd closes next */
  int (*iterate)(bench_echo_srv *s);      /* one iteration, may block */
  void (*close)(bench_echo_srv *s);
} bench_echo_kernel;
/* echo's kernels through the evl ops table and on raw epoll
 * (bench/echo_kernels.c). */
extern const bench_echo_kernel bench_echo_evl_kernel, bench_echo_raw_kernel;

/* ---- a direct-library module ------------------------------------------- */
/* Bump on any change to the kernels or this table. */
#define BENCH_DIRECT_ABI 2

typedef struct bench_direct {
  int abi;         /* BENCH_DIRECT_ABI */
  const char *lib; /* "libev" */
  /* What the library picked here ("epoll"), and its version. */
  const char *(*backend)(void);
  const char *(*version)(void);
  /* NULL: not written for this library (the report says so). */
  const bench_chain_kernel *chain;
  const bench_idle_kernel *idle;
  const bench_timers_kernel *timers;
  const bench_callbacks_kernel *callbacks;
  const bench_pingpong_kernel *pingpong;
  const bench_echo_kernel *echo;
} bench_direct;

/* Every module defines this symbol. */
#define BENCH_DIRECT_SYMBOL "bench_direct_module"

#endif
