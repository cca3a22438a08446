/* mutant_loop.c — the sample loop with one deliberate bug, for `make
 * check-mutants` (a row whose base is REF gets mutant_ref.c's instead). Built
 * once per row of list_mutants.h with -DMUTANT=name, it must fail the rule that
 * row names; if it passes, the suite misses a bug real loops have had. The
 * sample stays as users copy it: a bug is injected around it, by wrapping an op
 * of its table or by standing in for one <evl/kit.h> call (or poll) the sample
 * makes. Every bug is compiled into every build and MUTANT switches one on, so
 * none rots unbuilt. */
#define _GNU_SOURCE
#include <poll.h>

#include <evl/impl.h>
#include <evl/kit.h>

#include "mutant.h"

/* The sample's calls that a bug stands in for. */
struct evl_loop;
static void mut_run_batch(evl_kit *k);
static int mut_io_ready(evl_kit *k, int fd, unsigned events);
static int mut_post(evl_kit *k, evl_cb cb, void *arg);
static int mut_take_posts(evl_kit *k);
static int mut_poll(struct evl_loop *loop, struct pollfd *fds, nfds_t n,
                    int ms);
#define evl_kit_run_batch mut_run_batch
#define evl_kit_take_posts mut_take_posts
#define evl_kit_io_ready mut_io_ready
#define evl_kit_post mut_post
#define poll(fds, n, ms) mut_poll(loop, fds, n, ms)
#define evl_impl_plugin mutant_base_plugin
#include "../../impls/sample/sample_loop.c"
#undef evl_impl_plugin
#undef poll
#undef evl_kit_take_posts
#undef evl_kit_post
#undef evl_kit_io_ready
#undef evl_kit_run_batch

const evl_impl_ops *evl_impl_plugin(void);

/* ---------------------------------------------------------------- kit */

/* The kit's batch, with its bugs: a batch that also runs what it queues
 * (soon_same_batch), one that stops at stop() (stop_mid_batch), I/O
 * entries that call the callback seen when the event was collected
 * (removed_reader_called; mut_io_ready keeps it in the entry) or whatever
 * callback is there now (io_no_generation), and a reader muted once it ran
 * (oneshot_reader; mut_poll leaves it out). */
static unsigned char muted[1 << 16];

/* self_cancel_drops_batch: the handle of the callback running now; a
 * cancel of it (EVL_EHANDLE, rightly) also ends the batch and loses what
 * was queued behind it (nodejs/node#9086's clearImmediate regression). */
static evl_handle running_h;
static int drop_rest;

static void mut_run_batch(evl_kit *k) {
  evl_loop *loop = (evl_loop *)(void *)k; /* k is its first member */
  for (uint32_t n = k->count; ON(soon_same_batch) ? k->count > 0 : n > 0; n--) {
    if (ON(stop_mid_batch) && loop->stopping)
      return;
    evl_kit_entry e = k->ring[k->head];
    k->head = (k->head + 1) & (k->capring - 1);
    k->count--;
    if (e.kind == EVL_KIT_E_SLOT) {
      evl_kit_slot *s = &k->slots[e.id];
      if (s->state != EVL_KIT_QUEUED || s->stamp != e.stamp)
        continue;
      evl_cb cb = s->cb;
      void *arg = s->arg;
      running_h = evl_kit_handle(k, e.id);
      evl_kit_slot_free(k, e.id);
      k->callbacks++;
      cb(arg);
      running_h = 0;
      if (drop_rest) {
        drop_rest = 0;
        for (; n > 1; n--) {
          k->head = (k->head + 1) & (k->capring - 1);
          k->count--;
        }
        return;
      }
    } else if (e.kind == EVL_KIT_E_POST) {
      k->callbacks++;
      e.cb(e.arg);
    } else if (ON(removed_reader_called) && e.cb) {
      k->callbacks++;
      ((evl_io_cb)(void (*)(void))e.cb)(e.fd, e.events, e.arg);
    } else if (e.fd < k->nfds) {
      evl_kit_watcher *w =
          e.kind == EVL_KIT_E_READ ? &k->fds[e.fd].r : &k->fds[e.fd].w;
      if (w->cb && (ON(io_no_generation) || w->gen == e.stamp)) {
        k->callbacks++;
        if (ON(oneshot_reader) && e.kind == EVL_KIT_E_READ &&
            e.fd < (int)sizeof muted)
          muted[e.fd] = 1;
        w->cb(e.fd, e.events, w->arg);
      }
    }
  }
}

static int due_first; /* timers_before_io: set by each wait */

/* hup_writer_deaf: a hang-up or error without POLLOUT is told to the
 * reader only; a writer blocked on a full buffer never hears of it. */
static int mut_io_ready(evl_kit *k, int fd, unsigned events) {
  if (ON(hup_writer_deaf) && !(events & EVL_WRITE) &&
      (events & (EVL_HUP | EVL_ERR)) && fd >= 0 && fd < k->nfds) {
    evl_io_cb w = k->fds[fd].w.cb;
    k->fds[fd].w.cb = NULL;
    int rc = evl_kit_io_ready(k, fd, events);
    k->fds[fd].w.cb = w;
    return rc;
  }
  if (ON(timers_before_io) && due_first) {
    due_first = 0;
    int rc = evl_kit_queue_due(k, ((evl_loop *)(void *)k)->now);
    if (rc < 0)
      return rc;
  }
  uint32_t before = k->count;
  int rc = evl_kit_io_ready(k, fd, events);
  if (!ON(removed_reader_called))
    return rc;
  for (uint32_t i = before; i < k->count; i++) {
    evl_kit_entry *e = &k->ring[(k->head + i) & (k->capring - 1)];
    evl_kit_watcher *w =
        e->kind == EVL_KIT_E_READ ? &k->fds[fd].r : &k->fds[fd].w;
    e->cb = (evl_cb)(void (*)(void))w->cb;
    e->arg = w->arg;
  }
  return rc;
}

/* threadsafe_no_wake: the post is queued and picked up after any wait
 * (mut_poll), but nothing rings the doorbell of a blocked one: the kit is
 * told it is rung already, so evl_kit_post does not write it. */
static int mut_post(evl_kit *k, evl_cb cb, void *arg) {
  if (ON(threadsafe_no_wake)) {
    pthread_mutex_lock(&k->lock);
    k->wake_pending = 1;
    pthread_mutex_unlock(&k->lock);
  }
  return evl_kit_post(k, cb, arg);
}

/* posts_lifo: the posts waiting are taken newest first (a lock-free stack
 * used as the queue, never reversed). doorbell_after_take: the queue is
 * taken first and the doorbell emptied after, so a post landing in between
 * rings a bell nobody hears and waits with wake_pending set: every later
 * post is stranded too (the window is widened to make the race certain). */
static int mut_take_posts(evl_kit *k) {
  if (!ON(posts_lifo) && !ON(doorbell_after_take))
    return evl_kit_take_posts(k);
  char buf[64];
  if (!ON(doorbell_after_take))
    while (read(k->wake_rd, buf, sizeof buf) > 0)
      ;
  pthread_mutex_lock(&k->lock);
  int rc = evl_kit_reserve(k, (uint32_t)k->nposts);
  evl_kit_post_ent *posts = rc == 0 ? k->posts : NULL;
  size_t n = rc == 0 ? k->nposts : 0;
  if (rc == 0) {
    k->posts = NULL;
    k->nposts = k->capposts = 0;
    k->wake_pending = 0;
  }
  pthread_mutex_unlock(&k->lock);
  if (ON(doorbell_after_take)) {
    usleep(200);
    while (read(k->wake_rd, buf, sizeof buf) > 0)
      ;
  }
  for (size_t i = 0; i < n; i++) {
    size_t j = ON(posts_lifo) ? n - 1 - i : i;
    evl_kit_push(k, (evl_kit_entry){.kind = EVL_KIT_E_POST,
                                    .cb = posts[j].cb,
                                    .arg = posts[j].arg});
  }
  free(posts);
  return rc;
}

/* timeout_round_down: the time left until the earliest timer is truncated
 * to poll()'s millisecond, so the last fraction of every timer is waited
 * out with timeouts of 0. eintr_full_timeout: an interrupted poll() is
 * restarted with the timeout computed before it, however long it waited. */
static int mut_poll(evl_loop *loop, struct pollfd *fds, nfds_t n, int ms) {
  due_first = 1;
  if (ON(idle_spin) && n > 1)
    ms = 0; /* idle_spin: a watched fd counts as work to do */
  if (ON(timeout_round_down) && ms > 0) {
    int64_t t = evl_kit_timeout_ns(&loop->k, evl_kit_now(), loop->stopping);
    ms = t < 0 ? ms : t / 1000000 >= INT_MAX ? INT_MAX : (int)(t / 1000000);
  }
  if (ON(oneshot_reader))
    for (nfds_t i = 1; i < n; i++)
      if (fds[i].fd < (int)sizeof muted && muted[fds[i].fd])
        fds[i].events &= (short)~POLLIN;
  int got;
  do
    got = poll(fds, n, ms);
  while (ON(eintr_full_timeout) && got < 0 && errno == EINTR);
  /* ready_cap_lowest: at most 4 ready fds are taken per wait, always the
   * lowest numbers: while those stay ready, the others are never called. */
  int taken = 0;
  for (nfds_t i = 1; ON(ready_cap_lowest) && got > 0 && i < n; i++)
    if (fds[i].revents && ++taken > 4)
      fds[i].revents = 0;
  if (ON(threadsafe_no_wake) && got >= 0 && !fds[0].revents &&
      evl_kit_posts_waiting(&loop->k)) {
    fds[0].revents = POLLIN; /* fds[0] is the wake fd */
    got++;
  }
  return got;
}

/* ---------------------------------------------------------------- ops */

static const evl_impl_ops *base;

static uint64_t mut_round(uint64_t when) {
  return ON(timer_early_ms) ? when - when % 1000000u : when;
}

/* equal_lifo: a new timer sorts before every older one of its deadline. */
static int mut_scheduled(evl_loop *loop, int rc, evl_handle h) {
  if (rc == 0 && ON(equal_lifo)) {
    evl_kit_slot *s = &loop->k.slots[evl_kit_lookup(&loop->k, h)];
    s->seq = UINT64_MAX - s->seq;
    evl_kit_heap_up(&loop->k, s->heap);
  }
  return rc;
}

static int mut_call_at(evl_loop *loop, uint64_t when, evl_cb cb, void *arg,
                       evl_handle *out) {
  evl_handle h = 0;
  int rc = base->call_at(loop, mut_round(when), cb, arg, &h);
  if (out && rc == 0)
    *out = h;
  return mut_scheduled(loop, rc, h);
}

static int mut_call_later(evl_loop *loop, int64_t delay, evl_cb cb, void *arg,
                          evl_handle *out) {
  if (loop && !loop->closed && (ON(delay_from_cached) || ON(timer_early_ms))) {
    uint64_t when = ON(delay_from_cached) ? loop->now + (uint64_t)delay
                                          : evl_kit_deadline(delay);
    return mut_call_at(loop, delay <= 0 ? loop->now : when, cb, arg, out);
  }
  evl_handle h = 0;
  int rc = base->call_later(loop, delay, cb, arg, &h);
  if (out && rc == 0)
    *out = h;
  return mut_scheduled(loop, rc, h);
}

static int mut_cancel(evl_loop *loop, evl_handle h) {
  if (!loop || loop->closed)
    return base->cancel(loop, h);
  if (ON(self_cancel_drops_batch) && h && h == running_h)
    drop_rest = 1;
  evl_kit *k = &loop->k;
  int64_t i = evl_kit_lookup(k, h);
  if (ON(cancel_queued_timer) && i >= 0 &&
      k->slots[i].state == EVL_KIT_QUEUED && k->slots[i].is_timer)
    return 0; /* "it is not in the heap any more": nothing done */
  if (ON(heap_down_only) && i >= 0 && k->slots[i].state == EVL_KIT_TIMER) {
    /* The last element fills the hole and is only sifted down. */
    uint32_t pos = k->slots[i].heap, last = k->heap[--k->nheap];
    if (pos != k->nheap) {
      evl_kit_heap_set(k, pos, last);
      evl_kit_heap_down(k, pos);
    }
    evl_kit_slot_free(k, (uint32_t)i);
    return 0;
  }
  uint64_t low = h & EVL_KIT_MAX_SLOTS;
  if (ON(stale_handle_cancel) && i < 0 && low > 0 && low <= k->nslots &&
      ((h >> 24) & 0xff) == k->tag)
    h = (h & 0xffffffffu) | (uint64_t)k->slots[low - 1].gen << 32;
  return base->cancel(loop, h);
}

/* rearm_new_handle: cancel and schedule anew; the ABI has no way to hand
 * the new handle back, as a loop that does this has none to keep it. */
static int mut_rearm_at(evl_loop *loop, evl_handle h, uint64_t when) {
  if (ON(rearm_keeps_seq) && loop && !loop->closed) {
    /* The deadline moves in place; the timer keeps its first scheduling
     * order, so among equal deadlines it runs as if never re-armed. */
    int64_t i = evl_kit_lookup(&loop->k, h);
    uint64_t seq = i >= 0 ? loop->k.slots[i].seq : 0;
    int rc = base->rearm_at(loop, h, when);
    if (rc == 0 && i >= 0) {
      loop->k.slots[i].seq = seq;
      evl_kit_heap_up(&loop->k, loop->k.slots[i].heap);
    }
    return rc;
  }
  if (!ON(rearm_new_handle) || !loop || loop->closed)
    return base->rearm_at(loop, h, when);
  int64_t i = evl_kit_lookup(&loop->k, h);
  if (i < 0)
    return EVL_EHANDLE;
  if (!loop->k.slots[i].is_timer)
    return -EINVAL;
  evl_cb cb = loop->k.slots[i].cb;
  void *arg = loop->k.slots[i].arg;
  base->cancel(loop, h);
  return base->call_at(loop, when, cb, arg, NULL);
}

static int mut_rearm(evl_loop *loop, evl_handle h, int64_t delay) {
  if (!ON(rearm_new_handle) && !ON(rearm_keeps_seq))
    return base->rearm(loop, h, delay);
  return mut_rearm_at(loop, h, evl_kit_deadline(delay));
}

static int mut_add_reader(evl_loop *loop, int fd, evl_io_cb cb, void *arg) {
  int rc = base->add_reader(loop, fd, cb, arg);
  if (rc == 0 && fd < (int)sizeof muted)
    muted[fd] = 0;
  return rc;
}

/* call_soon_after_close: a closed loop takes the callback (and never runs
 * it) instead of answering EVL_ECLOSED. */
static int mut_call_soon(evl_loop *loop, evl_cb cb, void *arg,
                         evl_handle *out) {
  if (ON(call_soon_after_close) && loop && loop->closed && cb)
    return 0;
  /* call_soon_inline: outside a running loop there is "nothing to wait
   * for", so the callback runs at once, inside the caller. */
  if (ON(call_soon_inline) && loop && !loop->closed && !loop->running && cb) {
    if (out)
      *out = 0;
    cb(arg);
    return 0;
  }
  return base->call_soon(loop, cb, arg, out);
}

/* report_error_swallowed: the report is accepted and goes nowhere. */
static int mut_report_error(evl_loop *loop, int code, const char *message) {
  if (ON(report_error_swallowed) && loop && !loop->closed)
    return 0;
  return base->report_error(loop, code, message);
}

/* close_leaks_fd: close forgets a duplicate of the wake pipe it made. */
static int mut_loop_close(evl_loop *loop) {
  if (ON(close_leaks_fd) && loop && !loop->closed && !loop->running)
    (void)fcntl(loop->k.wake_rd, F_DUPFD_CLOEXEC, 0);
  return base->loop_close(loop);
}

/* read_off_drops_writer: removing the reader deletes the fd's whole
 * registration, its writer with it (hivesolutions/netius#82). */
static int mut_remove_reader(evl_loop *loop, int fd) {
  if (ON(read_off_drops_writer) && loop && !loop->closed) {
    int rc = base->remove_reader(loop, fd);
    if (rc >= 0)
      base->remove_writer(loop, fd);
    return rc;
  }
  int rc = base->remove_reader(loop, fd);
  return ON(remove_returns_1) && rc == 0 ? 1 : rc;
}

static int mut_remove_writer(evl_loop *loop, int fd) {
  int rc = base->remove_writer(loop, fd);
  return ON(remove_returns_1) && rc == 0 ? 1 : rc;
}

/* time_not_refreshed: the clock as read when the run began (one loop at a
 * time is enough for the tests). */
static const evl_loop *stale_loop;
static uint64_t stale_now;

static int mut_run(evl_loop *loop, int (*run)(evl_loop *)) {
  if (ON(nested_run_ok) && loop && !loop->closed && loop->running)
    return 0; /* "already running": nothing to do */
  if (ON(stop_cleared) && loop && !loop->closed && !loop->running)
    loop->stopping = 0; /* "a fresh run": a stop made before it is lost */
  if (loop && !loop->closed && !loop->running) {
    stale_loop = loop;
    stale_now = evl_kit_now();
  }
  return run(loop);
}

static int mut_run_once(evl_loop *loop) {
  return mut_run(loop, base->run_once);
}

static int mut_run_forever(evl_loop *loop) {
  return mut_run(loop, base->run_forever);
}

static uint64_t mut_time(const evl_loop *loop) {
  if (ON(time_not_refreshed) && loop && loop == stale_loop && loop->running)
    return stale_now;
  return base->time(loop);
}

/* ---------------------------------------------------------------- table */

#define M_NAME(name, ...) [M_##name] = "mutant-" #name,
#define M_DESC(name, base, rule, filter, desc, ...) [M_##name] = desc,
#define M_REF(name, base, ...) [M_##name] = M_BASE_##base,
/* BACKEND and URING rows are mutant_backend.c's, not built here. */
enum { M_BASE_SAMPLE, M_BASE_REF, M_BASE_BACKEND, M_BASE_URING };
static const char *const names[] = {EVL_MUTANT_LIST(M_NAME)};
static const char *const descs[] = {EVL_MUTANT_LIST(M_DESC)};
static const int bases[] = {EVL_MUTANT_LIST(M_REF)};

static evl_impl_ops ops;

const evl_impl_ops *evl_impl_plugin(void) {
  if (bases[M_THIS] == M_BASE_REF)
    return mutant_ref_plugin(names[M_THIS], descs[M_THIS]);
  base = mutant_base_plugin();
  ops = *base;
  ops.name = names[M_THIS];
  ops.description = descs[M_THIS];
  ops.loop_close = mut_loop_close;
  ops.call_soon = mut_call_soon;
  ops.report_error = mut_report_error;
  ops.call_at = mut_call_at;
  ops.add_reader = mut_add_reader;
  ops.call_later = mut_call_later;
  ops.cancel = mut_cancel;
  ops.rearm = mut_rearm;
  ops.rearm_at = mut_rearm_at;
  ops.remove_reader = mut_remove_reader;
  ops.remove_writer = mut_remove_writer;
  ops.run_once = mut_run_once;
  ops.run_forever = mut_run_forever;
  ops.time = mut_time;
  return &ops;
}
