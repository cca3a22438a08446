/* sample_loop.c — a minimal third-party event loop on poll(2), exported as
 * an evlab loop plugin: the template to copy when validating your own loop.
 *
 * Build it against the installed headers only and validate it:
 *   cc -shared -fPIC $(pkg-config --cflags evl) -o myloop.so sample_loop.c
 *   evl-conform --impl ./myloop.so
 *
 * It implements the required part of <evl/impl.h> (scheduling, timers,
 * cancel, readers and writers, run/stop/close, time) plus the optional
 * THREADSAFE, RUNNING, ERRORS and STATS parts, and declares exactly those:
 * the suite reports the tests of the other parts (signals, futures,
 * executor, debug) as SKIP, never as PASS. A plugin links nothing from
 * libevl, so it needs no symbol from the process that loads it.
 *
 * The run cycle follows CONTRACT.md ("Loop semantics": one iteration of the run
 * cycle): compute the timeout, poll, queue ready watchers then due timers
 * behind what is already queued, run exactly the entries queued when the batch
 * began, return if stop was requested. */
#define _GNU_SOURCE /* pipe2 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <evl/impl.h>

/* ---------------------------------------------------------------- types */

enum { SL_FREE, SL_SOON, SL_TIMER, SL_CANCELLED };

/* A scheduled callback or timer. A handle is (gen << 32) | (index + 1), so
 * a handle whose slot was freed and reused no longer matches (S4). */
typedef struct sl_slot {
  evl_cb cb;
  void *arg;
  uint64_t when, seq; /* timers: deadline, then scheduling order */
  uint32_t gen;
  uint32_t heap; /* index in the timer heap */
  uint32_t next_free;
  uint8_t state;
} sl_slot;

/* One entry of the ready FIFO. I/O entries carry the watcher generation
 * seen when the event was collected, so a watcher removed or replaced
 * since then is not called (S6). */
enum { SE_SLOT, SE_READ, SE_WRITE, SE_FOREIGN };
typedef struct sl_entry {
  uint8_t kind;
  unsigned events;
  int fd;
  uint32_t idx_or_gen;
  evl_cb cb; /* SE_FOREIGN: posted by call_soon_threadsafe */
  void *arg;
} sl_entry;

typedef struct sl_watcher {
  evl_io_cb cb;
  void *arg;
  uint32_t gen;
} sl_watcher;

typedef struct sl_fd {
  sl_watcher r, w;
  int list; /* index in loop->active, -1 when neither watcher is set */
} sl_fd;

typedef struct sl_post {
  evl_cb cb;
  void *arg;
} sl_post;

struct evl_loop {
  int closed, running, stopping;
  uint64_t now;
  pthread_t thread; /* the thread running it, while running */

  sl_slot *slots;
  uint32_t nslots, capslots; /* nslots: ever handed out */
  uint32_t free_head;        /* index + 1, 0 = none */
  uint64_t seq;

  uint32_t *heap; /* slot indices, a binary min-heap on (when, seq) */
  uint32_t nheap, capheap;

  sl_entry *ring; /* the ready FIFO, a power-of-two ring buffer */
  uint32_t head, count, capring;

  sl_fd *fds;
  int nfds;
  int *active; /* fds with a watcher, for building the pollfd array */
  int nactive, capactive;
  struct pollfd *pfds;
  int cappfds;
  uint32_t watcher_gen;

  /* call_soon_threadsafe: posts wait here until the loop thread takes
   * them; one byte in the pipe per empty -> non-empty transition, so a
   * full pipe can never lose a post (S9). */
  pthread_mutex_t lock;
  sl_post *posts;
  size_t nposts, capposts;
  int wake_rd, wake_wr, wake_pending;

  evl_error_handler on_error;
  void *on_error_arg;
  evl_loop_stats stats;
};

static _Thread_local evl_loop *sl_running; /* this thread's running loop */

/* ---------------------------------------------------------------- utils */

static uint64_t sl_clock(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int sl_grow(void **p, uint32_t *cap, size_t elem, uint32_t need) {
  if (need <= *cap)
    return 0;
  uint32_t n = *cap ? *cap : 16;
  while (n < need)
    n *= 2;
  void *np = realloc(*p, (size_t)n * elem);
  if (!np)
    return -ENOMEM;
  *p = np;
  *cap = n;
  return 0;
}

static void sl_default_handler(const evl_error_info *info, void *arg) {
  (void)arg;
  int code = info->code;
  /* One report, one line (S10): the message's own line breaks become
   * spaces, and the line goes out in one write. */
  char buf[512];
  int n = snprintf(buf, sizeof buf, "sample_loop: %s: %s (%d%s%s)",
                   info->context, info->message ? info->message : "error", code,
                   code < 0 && code > -4096 ? ", " : "",
                   code < 0 && code > -4096 ? strerror(-code) : "");
  if (n < 0)
    return;
  for (char *c = buf; *c; c++)
    if (*c == '\n' || *c == '\r')
      *c = ' ';
  fprintf(stderr, "%s\n", buf);
}

static void sl_error(evl_loop *loop, int code, const char *context,
                     const char *message, int fd) {
  evl_error_info info = {.code = code,
                         .context = context,
                         .message = message,
                         .fd = fd,
                         .duration_ns = 0};
  loop->on_error(&info, loop->on_error_arg);
}

/* ---------------------------------------------------------------- FIFO */

static int sl_push(evl_loop *loop, sl_entry e) {
  if (loop->count == loop->capring) {
    uint32_t n = loop->capring ? loop->capring * 2 : 64;
    sl_entry *nr = malloc((size_t)n * sizeof *nr);
    if (!nr)
      return -ENOMEM;
    for (uint32_t i = 0; i < loop->count; i++)
      nr[i] = loop->ring[(loop->head + i) & (loop->capring - 1)];
    free(loop->ring);
    loop->ring = nr;
    loop->head = 0;
    loop->capring = n;
  }
  loop->ring[(loop->head + loop->count) & (loop->capring - 1)] = e;
  loop->count++;
  return 0;
}

static sl_entry sl_pop(evl_loop *loop) {
  sl_entry e = loop->ring[loop->head];
  loop->head = (loop->head + 1) & (loop->capring - 1);
  loop->count--;
  return e;
}

/* ---------------------------------------------------------------- slots */

static int sl_slot_new(evl_loop *loop, evl_cb cb, void *arg, uint32_t *out) {
  uint32_t i;
  if (loop->free_head) {
    i = loop->free_head - 1;
    loop->free_head = loop->slots[i].next_free;
  } else {
    if (loop->nslots >= UINT32_MAX / 2)
      return -ENOMEM;
    int rc = sl_grow((void **)&loop->slots, &loop->capslots, sizeof(sl_slot),
                     loop->nslots + 1);
    if (rc < 0)
      return rc;
    i = loop->nslots++;
    loop->slots[i].gen = 1;
  }
  sl_slot *s = &loop->slots[i];
  s->cb = cb;
  s->arg = arg;
  s->next_free = 0;
  *out = i;
  return 0;
}

static void sl_slot_free(evl_loop *loop, uint32_t i) {
  sl_slot *s = &loop->slots[i];
  s->state = SL_FREE;
  s->cb = NULL;
  s->gen++;
  if (s->gen == 0)
    s->gen = 1;
  s->next_free = loop->free_head;
  loop->free_head = i + 1;
}

static evl_handle sl_handle(const evl_loop *loop, uint32_t i) {
  return ((uint64_t)loop->slots[i].gen << 32) | (uint64_t)(i + 1);
}

/* ---------------------------------------------------------------- heap */

static int sl_before(const evl_loop *loop, uint32_t a, uint32_t b) {
  const sl_slot *x = &loop->slots[a], *y = &loop->slots[b];
  return x->when < y->when || (x->when == y->when && x->seq < y->seq);
}

static void sl_heap_set(evl_loop *loop, uint32_t pos, uint32_t slot) {
  loop->heap[pos] = slot;
  loop->slots[slot].heap = pos;
}

static void sl_heap_up(evl_loop *loop, uint32_t pos) {
  uint32_t s = loop->heap[pos];
  while (pos > 0) {
    uint32_t parent = (pos - 1) / 2;
    if (!sl_before(loop, s, loop->heap[parent]))
      break;
    sl_heap_set(loop, pos, loop->heap[parent]);
    pos = parent;
  }
  sl_heap_set(loop, pos, s);
}

static void sl_heap_down(evl_loop *loop, uint32_t pos) {
  uint32_t s = loop->heap[pos];
  for (;;) {
    uint32_t c = 2 * pos + 1;
    if (c >= loop->nheap)
      break;
    if (c + 1 < loop->nheap &&
        sl_before(loop, loop->heap[c + 1], loop->heap[c]))
      c++;
    if (!sl_before(loop, loop->heap[c], s))
      break;
    sl_heap_set(loop, pos, loop->heap[c]);
    pos = c;
  }
  sl_heap_set(loop, pos, s);
}

static void sl_heap_remove(evl_loop *loop, uint32_t pos) {
  uint32_t last = loop->heap[--loop->nheap];
  if (pos == loop->nheap)
    return;
  sl_heap_set(loop, pos, last);
  sl_heap_down(loop, pos);
  sl_heap_up(loop, loop->slots[last].heap);
}

/* ---------------------------------------------------------------- API */

static int sl_check(const evl_loop *loop) {
  if (!loop)
    return -EINVAL;
  return loop->closed ? EVL_ECLOSED : 0;
}

static int sl_loop_new(const void *data, const evl_impl_config *cfg,
                       evl_loop **out) {
  (void)data;
  if (!out)
    return -EINVAL;
  *out = NULL;
  /* Read cfg only up to its size; refuse flags this version does not know.
   * No debug mode, no executor: the rest is not used. */
  if (cfg &&
      (cfg->size < sizeof cfg->size ||
       (EVL_FIELD_OR(evl_impl_config, cfg, flags, 0u) & ~EVL_LOOP_FLAGS)))
    return -EINVAL;
  evl_loop *loop = calloc(1, sizeof *loop);
  if (!loop)
    return -ENOMEM;
  int p[2];
  if (pipe2(p, O_CLOEXEC | O_NONBLOCK) != 0) {
    int err = errno;
    free(loop);
    return -err;
  }
  pthread_mutex_init(&loop->lock, NULL);
  loop->wake_rd = p[0];
  loop->wake_wr = p[1];
  loop->on_error = sl_default_handler;
  loop->now = sl_clock();
  *out = loop;
  return 0;
}

static int sl_loop_close(evl_loop *loop) {
  if (!loop)
    return -EINVAL;
  if (loop->closed)
    return 0;
  if (loop->running)
    return -EBUSY;
  loop->closed = 1;
  close(loop->wake_rd);
  close(loop->wake_wr);
  free(loop->slots);
  free(loop->heap);
  free(loop->ring);
  free(loop->fds);
  free(loop->active);
  free(loop->pfds);
  free(loop->posts);
  loop->slots = NULL;
  loop->heap = NULL;
  loop->ring = NULL;
  loop->fds = NULL;
  loop->active = NULL;
  loop->pfds = NULL;
  loop->posts = NULL;
  loop->nslots = loop->capslots = loop->nheap = loop->capheap = 0;
  loop->count = loop->capring = 0;
  loop->cappfds = loop->capactive = 0;
  loop->nfds = loop->nactive = 0;
  loop->nposts = 0;
  pthread_mutex_destroy(&loop->lock);
  return 0;
}

static int sl_loop_free(evl_loop *loop) {
  if (!loop)
    return 0;
  int rc = sl_loop_close(loop);
  if (rc < 0)
    return rc;
  free(loop);
  return 0;
}

static const char *sl_backend_name(const evl_loop *loop) {
  (void)loop;
  return "poll";
}

static int sl_call_soon(evl_loop *loop, evl_cb cb, void *arg, evl_handle *out) {
  int rc = sl_check(loop);
  if (rc < 0)
    return rc;
  if (!cb)
    return -EINVAL;
  uint32_t i;
  if ((rc = sl_slot_new(loop, cb, arg, &i)) < 0)
    return rc;
  sl_entry e = {.kind = SE_SLOT, .idx_or_gen = i};
  if ((rc = sl_push(loop, e)) < 0) {
    sl_slot_free(loop, i);
    return rc;
  }
  loop->slots[i].state = SL_SOON;
  if (out)
    *out = sl_handle(loop, i);
  return 0;
}

static int sl_call_at(evl_loop *loop, uint64_t when, evl_cb cb, void *arg,
                      evl_handle *out) {
  int rc = sl_check(loop);
  if (rc < 0)
    return rc;
  if (!cb)
    return -EINVAL;
  uint32_t need = loop->nheap + 1;
  if ((rc = sl_grow((void **)&loop->heap, &loop->capheap, sizeof(uint32_t),
                    need)) < 0)
    return rc;
  uint32_t i;
  if ((rc = sl_slot_new(loop, cb, arg, &i)) < 0)
    return rc;
  sl_slot *s = &loop->slots[i];
  s->state = SL_TIMER;
  s->when = when;
  s->seq = loop->seq++;
  loop->heap[loop->nheap++] = i;
  sl_heap_up(loop, loop->nheap - 1);
  if (out)
    *out = sl_handle(loop, i);
  return 0;
}

static int sl_call_later(evl_loop *loop, int64_t delay_ns, evl_cb cb, void *arg,
                         evl_handle *out) {
  /* From a fresh clock read, not the cached loop time (S5); a negative
   * delay is due now, behind earlier ones (S2). */
  uint64_t now = sl_clock();
  uint64_t when = delay_ns <= 0 ? now
                  : (uint64_t)delay_ns > UINT64_MAX - now
                      ? UINT64_MAX
                      : now + (uint64_t)delay_ns;
  return sl_call_at(loop, when, cb, arg, out);
}

static int sl_cancel(evl_loop *loop, evl_handle h) {
  int rc = sl_check(loop);
  if (rc < 0)
    return rc;
  uint64_t low = h & 0xffffffffu;
  uint32_t gen = (uint32_t)(h >> 32);
  if (low == 0 || low > loop->nslots)
    return EVL_EHANDLE;
  uint32_t i = (uint32_t)(low - 1);
  sl_slot *s = &loop->slots[i];
  if (s->gen != gen)
    return EVL_EHANDLE;
  switch (s->state) {
  case SL_TIMER:
    sl_heap_remove(loop, s->heap);
    sl_slot_free(loop, i);
    return 0;
  case SL_SOON:
    /* Still in the FIFO: the slot is freed when its entry is popped. The
     * generation moves now, so the handle is spent. */
    s->state = SL_CANCELLED;
    s->gen++;
    if (s->gen == 0)
      s->gen = 1;
    return 0;
  default:
    return EVL_EHANDLE;
  }
}

static int sl_fd_reserve(evl_loop *loop, int fd) {
  if (fd < loop->nfds)
    return 0;
  int n = loop->nfds ? loop->nfds : 64;
  while (n <= fd)
    n = n > INT_MAX / 2 ? INT_MAX : n * 2;
  sl_fd *nf = realloc(loop->fds, (size_t)n * sizeof *nf);
  if (!nf)
    return -ENOMEM;
  for (int i = loop->nfds; i < n; i++)
    nf[i] = (sl_fd){.list = -1};
  loop->fds = nf;
  loop->nfds = n;
  return 0;
}

static int sl_add_io(evl_loop *loop, int fd, evl_io_cb cb, void *arg,
                     int write) {
  int rc = sl_check(loop);
  if (rc < 0)
    return rc;
  if (!cb)
    return -EINVAL;
  if (fd < 0 || fcntl(fd, F_GETFD) < 0)
    return -EBADF;
  if ((rc = sl_fd_reserve(loop, fd)) < 0)
    return rc;
  sl_fd *f = &loop->fds[fd];
  if (f->list < 0) {
    uint32_t cap = (uint32_t)loop->capactive;
    if ((rc = sl_grow((void **)&loop->active, &cap, sizeof(int),
                      (uint32_t)loop->nactive + 1)) < 0)
      return rc;
    loop->capactive = (int)cap;
    f->list = loop->nactive;
    loop->active[loop->nactive++] = fd;
  }
  /* Replacing counts as a new watcher: events collected for the old one
   * are dropped. */
  sl_watcher *w = write ? &f->w : &f->r;
  w->cb = cb;
  w->arg = arg;
  w->gen = ++loop->watcher_gen;
  return 0;
}

static int sl_remove_io(evl_loop *loop, int fd, int write) {
  int rc = sl_check(loop);
  if (rc < 0)
    return rc;
  if (fd < 0)
    return -EBADF;
  if (fd >= loop->nfds)
    return 0;
  sl_fd *f = &loop->fds[fd];
  sl_watcher *w = write ? &f->w : &f->r;
  if (!w->cb)
    return 0;
  w->cb = NULL;
  w->arg = NULL;
  w->gen = ++loop->watcher_gen;
  if (!f->r.cb && !f->w.cb) {
    int last = loop->active[--loop->nactive];
    if (last != fd) {
      loop->active[f->list] = last;
      loop->fds[last].list = f->list;
    }
    f->list = -1;
  }
  return 1;
}

static int sl_add_reader(evl_loop *loop, int fd, evl_io_cb cb, void *arg) {
  return sl_add_io(loop, fd, cb, arg, 0);
}
static int sl_add_writer(evl_loop *loop, int fd, evl_io_cb cb, void *arg) {
  return sl_add_io(loop, fd, cb, arg, 1);
}
static int sl_remove_reader(evl_loop *loop, int fd) {
  return sl_remove_io(loop, fd, 0);
}
static int sl_remove_writer(evl_loop *loop, int fd) {
  return sl_remove_io(loop, fd, 1);
}

/* ---------------------------------------------------------------- run */

/* Moves threadsafe posts into the FIFO, in posting order. */
static int sl_take_posts(evl_loop *loop) {
  char buf[64];
  while (read(loop->wake_rd, buf, sizeof buf) > 0)
    ;
  pthread_mutex_lock(&loop->lock);
  sl_post *posts = loop->posts;
  size_t n = loop->nposts;
  loop->posts = NULL;
  loop->nposts = loop->capposts = 0;
  loop->wake_pending = 0;
  pthread_mutex_unlock(&loop->lock);
  int rc = 0;
  for (size_t i = 0; i < n && rc == 0; i++)
    rc = sl_push(
        loop,
        (sl_entry){.kind = SE_FOREIGN, .cb = posts[i].cb, .arg = posts[i].arg});
  free(posts);
  return rc;
}

static int sl_posts_waiting(evl_loop *loop) {
  pthread_mutex_lock(&loop->lock);
  int n = loop->nposts > 0;
  pthread_mutex_unlock(&loop->lock);
  return n;
}

/* One iteration of the run cycle; 0 or a negative error. */
static int sl_iterate(evl_loop *loop) {
  /* 1. The poll timeout, rounded up to poll()'s millisecond. */
  int ms = -1;
  if (loop->count > 0 || loop->stopping || sl_posts_waiting(loop))
    ms = 0;
  else if (loop->nheap > 0) {
    uint64_t when = loop->slots[loop->heap[0]].when, now = sl_clock();
    uint64_t left = when <= now ? 0 : (when - now + 999999) / 1000000;
    ms = left > INT_MAX ? INT_MAX : (int)left;
  }

  /* 2. Wait. The pollfd array is rebuilt from the watchers each time:
   * O(fds) per iteration, the price of the smallest correct design. */
  int n = loop->nactive + 1;
  if (n > loop->cappfds) {
    struct pollfd *np = realloc(loop->pfds, (size_t)n * 2 * sizeof *np);
    if (!np)
      return -ENOMEM;
    loop->pfds = np;
    loop->cappfds = n * 2;
  }
  loop->pfds[0] = (struct pollfd){.fd = loop->wake_rd, .events = POLLIN};
  for (int i = 0; i < loop->nactive; i++) {
    int fd = loop->active[i];
    sl_fd *f = &loop->fds[fd];
    loop->pfds[i + 1] = (struct pollfd){
        .fd = fd,
        .events = (short)((f->r.cb ? POLLIN : 0) | (f->w.cb ? POLLOUT : 0))};
  }
  loop->stats.waits++;
  int got = poll(loop->pfds, (nfds_t)n, ms);
  loop->now = sl_clock();
  if (got < 0 && errno != EINTR) { /* EINTR: no events, not an error */
    int err = -errno;
    sl_error(loop, err, "backend wait", "poll() failed", -1);
    return err;
  }

  /* 3. Queue ready watchers, then due timers, behind what is queued. */
  int rc = 0;
  if ((got > 0 && loop->pfds[0].revents) || sl_posts_waiting(loop))
    rc = sl_take_posts(loop);
  for (int i = 1; i < n && got > 0 && rc == 0; i++) {
    short re = loop->pfds[i].revents;
    if (!re)
      continue;
    int fd = loop->pfds[i].fd;
    sl_fd *f = &loop->fds[fd];
    loop->stats.events++;
    /* Hang-up and error wake every registered direction (S6). */
    unsigned extra = ((re & POLLHUP) ? EVL_HUP : 0) |
                     ((re & (POLLERR | POLLNVAL)) ? EVL_ERR : 0);
    if (f->r.cb && (re & (POLLIN | POLLHUP | POLLERR | POLLNVAL)))
      rc = sl_push(loop, (sl_entry){.kind = SE_READ,
                                    .fd = fd,
                                    .events = EVL_READ | extra,
                                    .idx_or_gen = f->r.gen});
    if (rc == 0 && f->w.cb && (re & (POLLOUT | POLLHUP | POLLERR | POLLNVAL)))
      rc = sl_push(loop, (sl_entry){.kind = SE_WRITE,
                                    .fd = fd,
                                    .events = EVL_WRITE | extra,
                                    .idx_or_gen = f->w.gen});
  }
  while (rc == 0 && loop->nheap > 0 &&
         loop->slots[loop->heap[0]].when <= loop->now) {
    uint32_t i = loop->heap[0];
    rc = sl_push(loop, (sl_entry){.kind = SE_SLOT, .idx_or_gen = i});
    if (rc == 0) {
      sl_heap_remove(loop, 0);
      loop->slots[i].state = SL_SOON;
    }
  }
  if (rc < 0) {
    sl_error(loop, rc, "queue", "out of memory", -1);
    return rc;
  }

  /* 4. Run exactly what is queued now; later additions wait (S1). */
  for (uint32_t batch = loop->count; batch > 0; batch--) {
    sl_entry e = sl_pop(loop);
    switch (e.kind) {
    case SE_SLOT: {
      sl_slot *s = &loop->slots[e.idx_or_gen];
      int live = s->state == SL_SOON;
      evl_cb cb = s->cb;
      void *arg = s->arg;
      sl_slot_free(loop, e.idx_or_gen); /* before the call: cancel = EHANDLE */
      if (live) {
        loop->stats.callbacks++;
        cb(arg);
      }
      break;
    }
    case SE_READ:
    case SE_WRITE: {
      if (e.fd >= loop->nfds)
        break;
      sl_watcher *w =
          e.kind == SE_READ ? &loop->fds[e.fd].r : &loop->fds[e.fd].w;
      if (w->cb && w->gen == e.idx_or_gen) {
        loop->stats.callbacks++;
        w->cb(e.fd, e.events, w->arg);
      }
      break;
    }
    case SE_FOREIGN:
      loop->stats.callbacks++;
      e.cb(e.arg);
      break;
    }
  }
  loop->stats.iterations++;
  loop->stats.timers = loop->nheap;
  return 0;
}

static int sl_run(evl_loop *loop, int once) {
  int rc = sl_check(loop);
  if (rc < 0)
    return rc;
  if (loop->running || sl_running)
    return -EBUSY; /* nested, or another loop runs on this thread (S7) */
  loop->running = 1;
  loop->thread = pthread_self();
  sl_running = loop;
  loop->now = sl_clock();
  for (;;) {
    rc = sl_iterate(loop);
    if (rc < 0 || once || loop->stopping)
      break;
  }
  loop->stopping = 0;
  loop->running = 0;
  sl_running = NULL;
  return rc;
}

static int sl_run_forever(evl_loop *loop) {
  return sl_run(loop, 0);
}

static int sl_run_once(evl_loop *loop) {
  return sl_run(loop, 1);
}

static int sl_stop(evl_loop *loop) {
  int rc = sl_check(loop);
  if (rc < 0)
    return rc;
  loop->stopping = 1;
  return 0;
}

static int sl_is_running(const evl_loop *loop) {
  return loop && !loop->closed && loop->running;
}

static uint64_t sl_time(const evl_loop *loop) {
  return loop ? loop->now : 0;
}

/* ---------------------------------------------------------------- extras */

static int sl_call_soon_threadsafe(evl_loop *loop, evl_cb cb, void *arg) {
  if (!loop || !cb)
    return -EINVAL;
  if (loop->closed)
    return EVL_ECLOSED;
  pthread_mutex_lock(&loop->lock);
  if (loop->nposts == loop->capposts) {
    size_t n = loop->capposts ? loop->capposts * 2 : 64;
    sl_post *np = realloc(loop->posts, n * sizeof *np);
    if (!np) {
      pthread_mutex_unlock(&loop->lock);
      return -ENOMEM;
    }
    loop->posts = np;
    loop->capposts = n;
  }
  loop->posts[loop->nposts++] = (sl_post){cb, arg};
  int wake = !loop->wake_pending;
  loop->wake_pending = 1;
  pthread_mutex_unlock(&loop->lock);
  if (wake) {
    char c = 1;
    /* EAGAIN: the pipe is full, so a wakeup is already pending. */
    if (write(loop->wake_wr, &c, 1) < 0 && errno != EAGAIN)
      return -errno;
  }
  return 0;
}

static void sl_stop_cb(void *arg) {
  sl_stop(arg);
}

static int sl_stop_threadsafe(evl_loop *loop) {
  return sl_call_soon_threadsafe(loop, sl_stop_cb, loop);
}

static evl_loop *sl_get_running_loop(void) {
  return sl_running;
}

static int sl_set_error_handler(evl_loop *loop, evl_error_handler h,
                                void *arg) {
  int rc = sl_check(loop);
  if (rc < 0)
    return rc;
  loop->on_error = h ? h : sl_default_handler;
  loop->on_error_arg = h ? arg : NULL;
  return 0;
}

static int sl_report_error(evl_loop *loop, int code, const char *message) {
  int rc = sl_check(loop);
  if (rc < 0)
    return rc;
  sl_error(loop, code, "callback", message, -1);
  return 0;
}

static int sl_loop_stats(const evl_loop *loop, evl_loop_stats *out) {
  int rc = sl_check(loop);
  if (rc < 0)
    return rc;
  if (!out)
    return -EINVAL;
  *out = loop->stats;
  out->timers = loop->nheap;
  out->fds = (uint64_t)loop->nactive;
  return 0;
}

/* ---------------------------------------------------------------- table */

static const evl_impl_ops sl_ops = {
    .abi = EVL_IMPL_ABI,
    .size = sizeof(evl_impl_ops),
    .name = "sample-loop",
    .description = "third-party sample: a small loop on poll(2)",
    .features =
        EVL_IF_THREADSAFE | EVL_IF_RUNNING | EVL_IF_ERRORS | EVL_IF_STATS,
    .deviations = NULL, /* {test glob, reason} pairs for known differences */
    .data = NULL,
    .probe = NULL,
    .loop_new = sl_loop_new,
    .loop_close = sl_loop_close,
    .loop_free = sl_loop_free,
    .backend_name = sl_backend_name,
    .call_soon = sl_call_soon,
    .call_later = sl_call_later,
    .call_at = sl_call_at,
    .cancel = sl_cancel,
    .add_reader = sl_add_reader,
    .remove_reader = sl_remove_reader,
    .add_writer = sl_add_writer,
    .remove_writer = sl_remove_writer,
    .run_forever = sl_run_forever,
    .run_once = sl_run_once,
    .stop = sl_stop,
    .is_running = sl_is_running,
    .time = sl_time,
    .call_soon_threadsafe = sl_call_soon_threadsafe,
    .stop_threadsafe = sl_stop_threadsafe,
    .get_running_loop = sl_get_running_loop,
    .set_error_handler = sl_set_error_handler,
    .report_error = sl_report_error,
    .loop_stats = sl_loop_stats,
    /* {test glob, check id, reason}: a known difference in one check only,
     * so the test's other checks still count. */
    .check_deviations = NULL,
    /* This loop keeps nothing per process; a loop that does (a signal
     * thread, an fd) creates it all in warmup() so the suite's leak check
     * counts it as the process's. */
    .warmup = NULL,
};

/* The one symbol evl-conform and the core look up with dlsym(). */
const evl_impl_ops *evl_impl_plugin(void) {
  return &sl_ops;
}
