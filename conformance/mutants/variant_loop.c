/* variant_loop.c — the sample loop with one difference the contract allows,
 * for `make check-mutants` (a REF row's difference, over the reference
 * core, is in variant_ref.c). Built once per row of list_variants.h with
 * -DVARIANT=name, it must pass the whole suite: a test that fails it
 * asserts something CONTRACT.md leaves open. As in mutant_loop.c the sample
 * is untouched: a difference wraps an op of its table or stands in for its
 * poll(2) call, and every one is compiled into every build. */
#define _GNU_SOURCE
#include <poll.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <evl/impl.h>
#include <evl/kit.h>

#include "list_variants.h"

#ifndef VARIANT
#error "build with -DVARIANT=name, a row of list_variants.h"
#endif

#define V_ENUM(name, ...) V_##name,
enum { EVL_VARIANT_LIST(V_ENUM) V_COUNT };
#define V_CAT2(a, b) a##b
#define V_CAT(a, b) V_CAT2(a, b)
#define ON(name) (V_CAT(V_, VARIANT) == V_##name)

static int var_poll(struct pollfd *fds, nfds_t n, int ms);
static int var_io_ready(evl_kit *k, int fd, unsigned events);
static int var_take_posts(evl_kit *k);
static int var_queue_due(evl_kit *k, uint64_t now);
#define poll(fds, n, ms) var_poll(fds, n, ms)
#define evl_kit_io_ready var_io_ready
#define evl_kit_take_posts var_take_posts
#define evl_kit_queue_due var_queue_due
#define evl_impl_plugin variant_base_plugin
#include "../../impls/sample/sample_loop.c"
#undef evl_impl_plugin
#undef evl_kit_queue_due
#undef evl_kit_take_posts
#undef evl_kit_io_ready
#undef poll

const evl_impl_ops *evl_impl_plugin(void);
/* variant_ref.c: the reference core on epoll with this build's REF
 * difference (executor width, done-callback order, signals). */
const evl_impl_ops *variant_ref_plugin(const char *name, const char *desc);

/* ---------------------------------------------------------------- wait */

/* coarse_timer: a 4 ms tick. early_wakeup: a wait of 8 ms or more ends,
 * empty, halfway (a spurious wakeup; the loop waits again for the rest).
 * wait_slices: at most 2 ms per poll(2), the whole wait still one wait of the
 * loop's. io_reverse: the watched fds (after fds[0], the wake fd) in reverse,
 * so ready ones queue last fd first. */
static int var_poll(struct pollfd *fds, nfds_t n, int ms) {
  if (ON(coarse_timer) && ms > 0 && ms < INT_MAX - 4)
    ms = (ms + 3) / 4 * 4;
  if (ON(early_wakeup) && ms >= 8)
    ms /= 2;
  if (ON(io_reverse))
    for (nfds_t i = 1, j = n - 1; i < j; i++, j--) {
      struct pollfd t = fds[i];
      fds[i] = fds[j];
      fds[j] = t;
    }
  if (!ON(wait_slices) || ms == 0)
    return poll(fds, n, ms);
  uint64_t end = ms < 0 ? UINT64_MAX : evl_kit_now() + (uint64_t)ms * 1000000u;
  for (;;) {
    uint64_t now = evl_kit_now();
    int slice = now >= end              ? 0
                : end - now >= 2000000u ? 2
                                        : (int)((end - now + 999999) / 1000000);
    int got = poll(fds, n, slice);
    if (got != 0 || now >= end)
      return got;
  }
}

/* bare_events: a callback gets only its direction, EVL_READ or EVL_WRITE,
 * never HUP, ERR or RDHUP (asyncio passes no mask at all); EOF and EPIPE
 * show in the read and write themselves. events_whole_mask: both callbacks
 * of an fd get every bit poll reported for it. writer_first: an fd's writer
 * is queued before its reader. */
static int var_io_ready(evl_kit *k, int fd, unsigned events) {
  uint32_t before = k->count;
  int rc = evl_kit_io_ready(k, fd, events);
  evl_kit_entry *e[2] = {NULL, NULL};
  for (uint32_t i = before; i < k->count && i < before + 2; i++)
    e[i - before] = &k->ring[(k->head + i) & (k->capring - 1)];
  for (int i = 0; i < 2 && ON(bare_events); i++)
    if (e[i])
      e[i]->events &= EVL_READ | EVL_WRITE;
  for (int i = 0; i < 2 && ON(events_whole_mask); i++)
    if (e[i])
      e[i]->events |= events;
  if (ON(writer_first) && e[1]) {
    evl_kit_entry t = *e[0];
    *e[0] = *e[1];
    *e[1] = t;
  }
  return rc;
}

/* ---------------------------------------------------------------- posts */

/* posts_after_io: the doorbell's posts are queued after the iteration's
 * ready watchers, before its due timers (the sample takes them first). One
 * loop runs on one thread and the take and the queueing of timers come in
 * one iteration, so a thread-local flag carries the take across.
 * posts_chunked: at most V_CHUNK posts a take; the doorbell is rung again
 * for the rest, which wait for the next iterations. due_fresh_now: the
 * due timers are those due at a clock read made after the ready watchers
 * were queued, not at the wait's end. */
#define V_CHUNK 64
static _Thread_local int v_posts_due;

static int var_take_chunk(evl_kit *k) {
  char buf[64];
  while (read(k->wake_rd, buf, sizeof buf) > 0)
    ;
  pthread_mutex_lock(&k->lock);
  size_t n = k->nposts < V_CHUNK ? k->nposts : V_CHUNK;
  int rc = evl_kit_reserve(k, (uint32_t)n);
  if (rc == 0) {
    for (size_t i = 0; i < n; i++) /* room reserved: cannot fail */
      evl_kit_push(k, (evl_kit_entry){.kind = EVL_KIT_E_POST,
                                      .cb = k->posts[i].cb,
                                      .arg = k->posts[i].arg});
    memmove(k->posts, k->posts + n, (k->nposts - n) * sizeof *k->posts);
    k->nposts -= n;
  }
  if (k->nposts == 0) {
    k->wake_pending = 0;
  } else {
    char c = 1; /* the rest: the next poll finds the doorbell rung */
    if (write(k->wake_wr, &c, 1) < 0 && errno != EAGAIN && rc == 0)
      rc = -errno;
  }
  pthread_mutex_unlock(&k->lock);
  return rc;
}

/* posts_by_thread: a take queues the posts thread by thread — the thread
 * that first posted in the batch last — each thread's in its own order:
 * per-thread FIFO and no more (S9), as a loop with one queue per producer
 * thread drains them. The poster's id is kept beside each post: posts and
 * takes both run under v_lanes_lock (then the kit's lock), so the ids stay
 * in the posts' order. */
typedef struct v_lane {
  const evl_kit *k;
  pthread_t *tids;
  size_t n, cap;
} v_lane;
static v_lane v_lanes[64];
static pthread_mutex_t v_lanes_lock = PTHREAD_MUTEX_INITIALIZER;

/* k's lane, made if `make` (v_lanes_lock held). */
static v_lane *v_lane_of(const evl_kit *k, int make) {
  v_lane *l = NULL;
  for (size_t i = 0; i < sizeof v_lanes / sizeof v_lanes[0] && !l; i++)
    if (v_lanes[i].k == k)
      l = &v_lanes[i];
  for (size_t i = 0; i < sizeof v_lanes / sizeof v_lanes[0] && !l && make; i++)
    if (!v_lanes[i].k) {
      l = &v_lanes[i];
      l->k = k;
    }
  return l;
}

static void v_lane_forget(const evl_kit *k) {
  pthread_mutex_lock(&v_lanes_lock);
  v_lane *l = v_lane_of(k, 0);
  if (l) {
    free(l->tids);
    *l = (v_lane){0};
  }
  pthread_mutex_unlock(&v_lanes_lock);
}

/* evl_kit_post, then the poster's id, under v_lanes_lock. */
static int var_post(evl_kit *k, evl_cb cb, void *arg) {
  pthread_mutex_lock(&v_lanes_lock);
  v_lane *l = v_lane_of(k, 1);
  int rc = l ? 0 : -ENOMEM;
  if (rc == 0 && l->n == l->cap) {
    size_t cap = l->cap ? l->cap * 2 : 64;
    pthread_t *t = realloc(l->tids, cap * sizeof *t);
    if (t) {
      l->tids = t;
      l->cap = cap;
    } else {
      rc = -ENOMEM;
    }
  }
  if (rc == 0 && (rc = evl_kit_post(k, cb, arg)) == 0)
    l->tids[l->n++] = pthread_self();
  pthread_mutex_unlock(&v_lanes_lock);
  return rc;
}

static int var_take_by_thread(evl_kit *k) {
  char buf[64];
  while (read(k->wake_rd, buf, sizeof buf) > 0)
    ;
  pthread_mutex_lock(&v_lanes_lock);
  v_lane *l = v_lane_of(k, 0);
  pthread_mutex_lock(&k->lock);
  size_t n = k->nposts;
  int rc = n > UINT32_MAX ? -ENOMEM : evl_kit_reserve(k, (uint32_t)n);
  if (rc == 0) {
    pthread_t order[8];
    size_t norder = 0;
    for (size_t i = 0; i < n; i++) {
      pthread_t id = l && i < l->n ? l->tids[i] : (pthread_t)0;
      size_t j = 0;
      while (j < norder && !pthread_equal(order[j], id))
        j++;
      if (j == norder && norder < sizeof order / sizeof order[0])
        order[norder++] = id;
    }
    for (size_t g = norder; g-- > 0;) /* later threads first */
      for (size_t i = 0; i < n; i++) {
        pthread_t id = l && i < l->n ? l->tids[i] : (pthread_t)0;
        size_t j = 0;
        while (j < norder && !pthread_equal(order[j], id))
          j++;
        if (j == g || (g == 0 && j == norder)) /* beyond 8: with the first */
          evl_kit_push(k, (evl_kit_entry){.kind = EVL_KIT_E_POST,
                                          .cb = k->posts[i].cb,
                                          .arg = k->posts[i].arg});
      }
    k->nposts = 0;
    k->wake_pending = 0;
    if (l)
      l->n = 0;
  }
  pthread_mutex_unlock(&k->lock);
  pthread_mutex_unlock(&v_lanes_lock);
  return rc;
}

static int var_take_posts(evl_kit *k) {
  if (ON(posts_by_thread))
    return var_take_by_thread(k);
  if (ON(posts_after_io)) {
    v_posts_due = 1;
    return 0;
  }
  return ON(posts_chunked) ? var_take_chunk(k) : evl_kit_take_posts(k);
}

static int var_queue_due(evl_kit *k, uint64_t now) {
  int rc = 0;
  if (v_posts_due) {
    v_posts_due = 0;
    rc = evl_kit_take_posts(k);
  }
  if (ON(due_fresh_now))
    now = evl_kit_now();
  return rc < 0 ? rc : evl_kit_queue_due(k, now);
}

/* ---------------------------------------------------------------- ops */

static const evl_impl_ops *base;

/* handle_scramble: a handle is the kit's, rotated and xored; 0 and the
 * kit's invalid ids stay invalid (dec(0) has slot index 0). */
#define V_KEY 0xa5a5a5a500000000u
static evl_handle rotl(evl_handle h, int r) {
  return h << r | h >> (64 - r);
}
static evl_handle enc(evl_handle h) {
  return ON(handle_scramble) ? rotl(h, 17) ^ rotl(V_KEY, 17) : h;
}
static evl_handle dec(evl_handle h) {
  return ON(handle_scramble) ? rotl(h ^ rotl(V_KEY, 17), 47) : h;
}
static int give(int rc, const evl_handle *h, evl_handle *out) {
  if (rc == 0 && out)
    *out = enc(*h); /* read after the call: argument order is unspecified */
  return rc;
}

/* huge_refused: nothing past 2^60 ns (36 years) from now, refused with
 * each of the codes S2 allows: call_later -EINVAL, call_at and rearm_at
 * -EOVERFLOW, rearm -ERANGE. */
#define V_HUGE ((uint64_t)1 << 60)

static int var_call_soon(evl_loop *loop, evl_cb cb, void *arg,
                         evl_handle *out) {
  evl_handle h = 0;
  return give(base->call_soon(loop, cb, arg, &h), &h, out);
}

static int var_call_at(evl_loop *loop, uint64_t when, evl_cb cb, void *arg,
                       evl_handle *out) {
  if (ON(huge_refused) && when > evl_kit_now() + V_HUGE)
    return -EOVERFLOW;
  evl_handle h = 0;
  return give(base->call_at(loop, when, cb, arg, &h), &h, out);
}

static int var_call_later(evl_loop *loop, int64_t delay, evl_cb cb, void *arg,
                          evl_handle *out) {
  if (ON(huge_refused) && delay > 0 && (uint64_t)delay > V_HUGE)
    return -EINVAL;
  evl_handle h = 0;
  return give(base->call_later(loop, delay, cb, arg, &h), &h, out);
}

static int var_cancel(evl_loop *loop, evl_handle h) {
  return base->cancel(loop, dec(h));
}

static int var_rearm(evl_loop *loop, evl_handle h, int64_t delay) {
  if (ON(huge_refused) && delay > 0 && (uint64_t)delay > V_HUGE)
    return -ERANGE;
  return base->rearm(loop, dec(h), delay);
}

static int var_rearm_at(evl_loop *loop, evl_handle h, uint64_t when) {
  if (ON(huge_refused) && when > evl_kit_now() + V_HUGE)
    return -EOVERFLOW;
  return base->rearm_at(loop, dec(h), when);
}

/* file_refused: a regular file is refused as epoll refuses it.
 * reuse_refused: an add on a number whose watcher was left by a closed
 * file (the number now names another file) is refused with -EEXIST
 * instead of replacing it. */
static struct {
  dev_t dev;
  ino_t ino;
} ident[1 << 16];

static int var_add_io(evl_loop *loop, int fd, evl_io_cb cb, void *arg,
                      int (*add)(evl_loop *, int, evl_io_cb, void *)) {
  struct stat st;
  if (ON(file_refused) && cb && loop && !loop->closed && fd >= 0 &&
      fstat(fd, &st) == 0 && S_ISREG(st.st_mode))
    return -EPERM;
  int known = ON(reuse_refused) && loop && !loop->closed && fd >= 0 &&
              fd < (int)(sizeof ident / sizeof ident[0]) && fstat(fd, &st) == 0;
  if (known && evl_kit_interest(&loop->k, fd) &&
      (ident[fd].dev != st.st_dev || ident[fd].ino != st.st_ino))
    return -EEXIST;
  int rc = add(loop, fd, cb, arg);
  if (rc == 0 && known) {
    ident[fd].dev = st.st_dev;
    ident[fd].ino = st.st_ino;
  }
  return rc;
}

static int var_add_reader(evl_loop *loop, int fd, evl_io_cb cb, void *arg) {
  return var_add_io(loop, fd, cb, arg, base->add_reader);
}

static int var_add_writer(evl_loop *loop, int fd, evl_io_cb cb, void *arg) {
  return var_add_io(loop, fd, cb, arg, base->add_writer);
}

/* posts_by_thread: posts and stop_threadsafe go through var_post; close
 * drops the tids with the posts. */
static int var_call_soon_threadsafe(evl_loop *loop, evl_cb cb, void *arg) {
  if (!loop || !cb)
    return -EINVAL;
  return var_post(&loop->k, cb, arg);
}

static int var_stop_threadsafe(evl_loop *loop) {
  return var_call_soon_threadsafe(loop, sl_stop_cb, loop);
}

static int var_loop_close(evl_loop *loop) {
  int rc = base->loop_close(loop);
  if (rc == 0)
    v_lane_forget(&loop->k);
  return rc;
}

static int var_loop_free(evl_loop *loop) {
  if (loop)
    v_lane_forget(&loop->k);
  return base->loop_free(loop);
}

/* time_fresh: the clock, read at the call. time_ms: the loop's time in
 * whole milliseconds. */
static uint64_t var_time(const evl_loop *loop) {
  if (ON(time_fresh))
    return loop ? evl_kit_now() : 0;
  uint64_t t = base->time(loop);
  return ON(time_ms) ? t / 1000000u * 1000000u : t;
}

/* ---------------------------------------------------------------- errors */

/* error_line_libevent: the default handler's line is libevent's
 * "[err] MESSAGE: STRERROR" (event_warn), without the context, written to
 * fd 2 in three write(2) calls; the message's line breaks become spaces. */
static void var_write_all(const char *p, size_t n) {
  while (n > 0) {
    ssize_t w = write(2, p, n);
    if (w <= 0 && errno != EINTR)
      return;
    if (w > 0) {
      p += w;
      n -= (size_t)w;
    }
  }
}

static void var_default_handler(const evl_error_info *info, void *arg) {
  (void)arg;
  char msg[400], tail[128];
  snprintf(msg, sizeof msg, "%s", info->message ? info->message : "error");
  for (char *c = msg; *c; c++)
    if (*c == '\n' || *c == '\r')
      *c = ' ';
  int code = info->code;
  snprintf(tail, sizeof tail, ": %s\n",
           code < 0 && code > -4096 ? strerror(-code) : evl_strerror(code));
  var_write_all("[err] ", 6);
  var_write_all(msg, strlen(msg));
  var_write_all(tail, strlen(tail));
}

static int var_loop_new(const void *data, const evl_impl_config *cfg,
                        evl_loop **out) {
  int rc = base->loop_new(data, cfg, out);
  if (rc == 0)
    (*out)->on_error = var_default_handler;
  return rc;
}

static int var_set_error_handler(evl_loop *loop, evl_error_handler h,
                                 void *arg) {
  return base->set_error_handler(loop, h ? h : var_default_handler,
                                 h ? arg : NULL);
}

/* ---------------------------------------------------------------- table */

#define V_NAME(name, ...) [V_##name] = "variant-" #name,
#define V_DESC(name, base, desc, ...) [V_##name] = desc,
#define V_BASE(name, base, ...) [V_##name] = V_BASE_##base,
enum { V_BASE_SAMPLE, V_BASE_REF, V_BASE_BACKEND }; /* BACKEND: not here */
static const char *const names[] = {EVL_VARIANT_LIST(V_NAME)};
static const char *const descs[] = {EVL_VARIANT_LIST(V_DESC)};
static const int bases[] = {EVL_VARIANT_LIST(V_BASE)};

static evl_impl_ops ops;

const evl_impl_ops *evl_impl_plugin(void) {
  if (bases[V_CAT(V_, VARIANT)] == V_BASE_REF)
    return variant_ref_plugin(names[V_CAT(V_, VARIANT)],
                              descs[V_CAT(V_, VARIANT)]);
  base = variant_base_plugin();
  ops = *base;
  ops.name = names[V_CAT(V_, VARIANT)];
  ops.description = descs[V_CAT(V_, VARIANT)];
  ops.call_soon = var_call_soon;
  ops.call_at = var_call_at;
  ops.call_later = var_call_later;
  ops.cancel = var_cancel;
  ops.rearm = var_rearm;
  ops.rearm_at = var_rearm_at;
  ops.add_reader = var_add_reader;
  ops.add_writer = var_add_writer;
  ops.time = var_time;
  if (ON(posts_by_thread)) {
    ops.call_soon_threadsafe = var_call_soon_threadsafe;
    ops.stop_threadsafe = var_stop_threadsafe;
    ops.loop_close = var_loop_close;
    ops.loop_free = var_loop_free;
  }
  if (ON(error_line_libevent)) {
    ops.loop_new = var_loop_new;
    ops.set_error_handler = var_set_error_handler;
  }
  if (ON(features_minimal)) { /* the sample's optional parts, undeclared */
    ops.features = 0;
    ops.call_soon_threadsafe = NULL;
    ops.stop_threadsafe = NULL;
    ops.get_running_loop = NULL;
    ops.set_error_handler = NULL;
    ops.report_error = NULL;
    ops.loop_stats = NULL;
    ops.rearm = NULL;
    ops.rearm_at = NULL;
  }
  return &ops;
}
