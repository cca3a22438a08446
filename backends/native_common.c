/* native_common.c — the library-independent half of the native loop adapters:
 * handle slots, the ready FIFO and its batches, cross-thread posts, errors. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "native_common.h"

/* ---- slots ------------------------------------------------------------- */
int evl__nslot_alloc(evl__nslots *s, uint32_t kind, void *ptr,
                     evl_handle *out) {
  uint32_t i;
  if (s->free != UINT32_MAX && s->len > 0) {
    i = s->free;
    s->free = s->v[i].u.next;
  } else {
    if (s->len == s->cap) {
      uint32_t ncap = s->cap ? s->cap * 2 : 64;
      if (ncap <= s->cap || ncap > UINT32_MAX / 2)
        return -ENOMEM;
      evl__nslot *nv = realloc(s->v, (size_t)ncap * sizeof *nv);
      if (!nv)
        return -ENOMEM;
      s->v = nv;
      s->cap = ncap;
    }
    i = s->len++;
    s->v[i].gen = 1;
  }
  s->v[i].kind = kind;
  s->v[i].u.ptr = ptr;
  *out = ((uint64_t)s->v[i].gen << 32) | i;
  return 0;
}

evl__nslot *evl__nslot_get(const evl__nslots *s, evl_handle h) {
  uint32_t i = (uint32_t)h, gen = (uint32_t)(h >> 32);
  if (i >= s->len || gen == 0)
    return NULL;
  evl__nslot *sl = &s->v[i];
  if (sl->gen != gen || sl->kind == EVL__NK_FREE)
    return NULL;
  return sl;
}

void evl__nslot_free(evl__nslots *s, evl_handle h) {
  uint32_t i = (uint32_t)h;
  evl__nslot *sl = &s->v[i];
  /* A new generation makes every copy of the old handle harmless. */
  if (++sl->gen == 0)
    sl->gen = 1;
  sl->kind = EVL__NK_FREE;
  sl->u.next = s->free;
  s->free = i;
}

/* ---- FIFO -------------------------------------------------------------- */
static int fifo_push(evl__nfifo *q, evl_cb cb, void *arg, evl_handle h) {
  if (q->tail - q->head == q->cap) {
    size_t ncap = q->cap ? q->cap * 2 : 64;
    evl__nentry *nv = malloc(ncap * sizeof *nv);
    if (!nv)
      return -ENOMEM;
    /* Unwrap into the new array keeping the counters' positions valid. */
    for (size_t k = q->head; k != q->tail; k++)
      nv[k & (ncap - 1)] = q->v[k & (q->cap - 1)];
    free(q->v);
    q->v = nv;
    q->cap = ncap;
  }
  evl__nentry *e = &q->v[q->tail++ & (q->cap - 1)];
  e->cb = cb;
  e->arg = arg;
  e->h = h;
  return 0;
}

/* ---- base -------------------------------------------------------------- */
int evl__nbase_init(evl__nbase *b, const evl_impl_config *cfg) {
  memset(b, 0, sizeof *b);
  b->slots.free = UINT32_MAX;
  int rc = pthread_mutex_init(&b->ts_lock, NULL);
  if (rc)
    return -rc;
  b->eh = evl__ndefault_error_handler;
  b->slow_ns = 100000000ull;
  if (cfg) {
    b->debug = (cfg->flags & EVL_LOOP_DEBUG) != 0;
    if (cfg->slow_callback_ns)
      b->slow_ns = cfg->slow_callback_ns;
  }
  return 0;
}

void evl__nbase_fini(evl__nbase *b) {
  pthread_mutex_lock(&b->ts_lock);
  b->ts_closed = 1;
  free(b->ts.v);
  memset(&b->ts, 0, sizeof b->ts);
  pthread_mutex_unlock(&b->ts_lock);
  free(b->ready.v);
  memset(&b->ready, 0, sizeof b->ready);
  free(b->due);
  b->due = NULL;
  b->ndue = b->due_cap = 0;
  b->mark = 0;
  free(b->slots.v);
  memset(&b->slots, 0, sizeof b->slots);
  b->slots.free = UINT32_MAX;
  b->ntimers = b->nfds = 0;
}

void evl__nbase_destroy(evl__nbase *b) {
  pthread_mutex_destroy(&b->ts_lock);
}

int evl__ncheck(const evl__nbase *b) {
  if (!b)
    return -EINVAL;
  if (b->closed)
    return EVL_ECLOSED;
  if (b->debug && b->running && !pthread_equal(b->runner, pthread_self()))
    return -EPERM;
  return 0;
}

uint64_t evl__nnow(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

uint64_t evl__ndeadline(int64_t delay_ns) {
  uint64_t now = evl__nnow();
  if (delay_ns <= 0)
    return now;
  if ((uint64_t)delay_ns > UINT64_MAX - now)
    return UINT64_MAX;
  return now + (uint64_t)delay_ns;
}

int evl__ncheck_fd(int fd) {
  if (fd < 0 || fcntl(fd, F_GETFD) < 0)
    return -EBADF;
  return 0;
}

/* ---- call_soon and its batches ---------------------------------------- */
int evl__nsoon(evl__nbase *b, evl_cb cb, void *arg, evl_handle *out) {
  evl_handle h;
  int rc = evl__nslot_alloc(&b->slots, EVL__NK_SOON, NULL, &h);
  if (rc < 0)
    return rc;
  rc = fifo_push(&b->ready, cb, arg, h);
  if (rc < 0) {
    evl__nslot_free(&b->slots, h);
    return rc;
  }
  if (!b->running)
    b->mark = b->ready.tail;
  if (out)
    *out = h;
  return 0;
}

int evl__ndue_push(evl__nbase *b, uint64_t deadline, uint64_t seq, evl_cb cb,
                   void *arg, evl_handle h) {
  if (b->ndue == b->due_cap) {
    size_t ncap = b->due_cap ? b->due_cap * 2 : 64;
    evl__ndue *nv = realloc(b->due, ncap * sizeof *nv);
    if (!nv)
      return -ENOMEM;
    b->due = nv;
    b->due_cap = ncap;
  }
  b->due[b->ndue++] = (evl__ndue){deadline, seq, cb, arg, h};
  return 0;
}

static int due_before(const evl__ndue *a, const evl__ndue *b) {
  return a->deadline < b->deadline ||
         (a->deadline == b->deadline && a->seq < b->seq);
}

void evl__nrun_due(evl__nbase *b) {
  size_t n = b->ndue;
  /* Insertion sort: the library fired them in nearly this order. */
  for (size_t i = 1; i < n; i++) {
    evl__ndue x = b->due[i];
    size_t j = i;
    for (; j > 0 && due_before(&x, &b->due[j - 1]); j--)
      b->due[j] = b->due[j - 1];
    b->due[j] = x;
  }
  size_t i = 0;
  while (i < n && !b->closed) {
    evl__ndue e = b->due[i++]; /* a copy: a callback may grow the array */
    evl__nslot *sl = evl__nslot_get(&b->slots, e.h);
    if (!sl)
      continue; /* cancelled after the library fired it */
    void *timer = sl->u.ptr;
    evl__nslot_free(&b->slots, e.h);
    b->ntimers--;
    b->timer_release(b, timer);
    uint64_t t0 = evl__ncb_begin(b);
    e.cb(e.arg);
    evl__ncb_end(b, t0);
  }
  if (b->closed)
    return;
  memmove(b->due, b->due + n, (b->ndue - n) * sizeof *b->due);
  b->ndue -= n;
}

size_t evl__nrun_batch(evl__nbase *b) {
  size_t end = b->mark;
  while (b->ready.head != end && !b->closed) {
    evl__nentry e = b->ready.v[b->ready.head++ & (b->ready.cap - 1)];
    if (e.h) {
      /* A cancelled entry stays in the FIFO with a dead handle (S4). */
      if (!evl__nslot_get(&b->slots, e.h))
        continue;
      evl__nslot_free(&b->slots, e.h);
    }
    uint64_t t0 = evl__ncb_begin(b);
    e.cb(e.arg);
    evl__ncb_end(b, t0);
  }
  if (b->ndue && !b->closed)
    evl__nrun_due(b);
  b->mark = b->ready.tail;
  return b->ready.tail - b->ready.head + b->ndue;
}

/* ---- cross-thread posts ------------------------------------------------ */
int evl__nts_post(evl__nbase *b, evl_cb cb, void *arg,
                  void (*wake)(evl__nbase *b)) {
  if (!cb)
    return -EINVAL;
  pthread_mutex_lock(&b->ts_lock);
  int rc = b->ts_closed ? EVL_ECLOSED : fifo_push(&b->ts, cb, arg, 0);
  if (rc == 0 && !b->ts_wake) {
    b->ts_wake = 1;
    wake(b);
  }
  pthread_mutex_unlock(&b->ts_lock);
  return rc;
}

void evl__nts_close(evl__nbase *b) {
  pthread_mutex_lock(&b->ts_lock);
  b->ts_closed = 1;
  pthread_mutex_unlock(&b->ts_lock);
}

void evl__nts_run(evl__nbase *b) {
  /* Take the whole queue at once: posts made by these callbacks go to the
   * next wakeup, so a self-posting callback cannot starve the loop. */
  pthread_mutex_lock(&b->ts_lock);
  evl__nfifo q = b->ts;
  memset(&b->ts, 0, sizeof b->ts);
  b->ts_wake = 0;
  pthread_mutex_unlock(&b->ts_lock);
  for (size_t k = q.head; k != q.tail && !b->closed; k++) {
    evl__nentry *e = &q.v[k & (q.cap - 1)];
    uint64_t t0 = evl__ncb_begin(b);
    e->cb(e->arg);
    evl__ncb_end(b, t0);
  }
  free(q.v);
}

/* ---- running ----------------------------------------------------------- */
static _Thread_local evl_loop *native_current;

int evl__nrun_enter(evl__nbase *b, evl_loop *self) {
  if (b->running || native_current)
    return -EBUSY;
  b->running = 1;
  b->runner = pthread_self();
  native_current = self;
  return 0;
}

void evl__nrun_leave(evl__nbase *b) {
  b->running = 0;
  b->stopping = 0;
  native_current = NULL;
}

evl_loop *evl__nget_running(void) {
  return native_current;
}

/* ---- errors ------------------------------------------------------------ */
const char *evl__nstrerror(int code) {
  switch (code) {
  case 0:
    return "success";
#define NATIVE_ERR_CASE(name, num, text)                                       \
  case EVL_##name:                                                             \
    return text;
    EVL_ERRORS(NATIVE_ERR_CASE)
#undef NATIVE_ERR_CASE
  default:
    break;
  }
  if (code < 0 && code > -4096) {
    const char *s = strerrordesc_np(-code);
    if (s)
      return s;
  }
  return "unknown error";
}

/* The same line as the core's evl_default_error_handler, which a module
 * cannot link. */
void evl__ndefault_error_handler(const evl_error_info *info, void *arg) {
  (void)arg;
  char buf[512];
  const char *ctx = info->context ? info->context : "error";
  const char *sep = info->message ? ": " : "";
  const char *msg = info->message ? info->message : "";
  int n;
  if (info->duration_ns)
    n = snprintf(buf, sizeof buf, "evl: %s: %s (%.3f ms)%s%s\n", ctx,
                 evl__nstrerror(info->code), (double)info->duration_ns / 1e6,
                 sep, msg);
  else if (info->fd >= 0)
    n = snprintf(buf, sizeof buf, "evl: %s: fd %d: %s%s%s\n", ctx, info->fd,
                 evl__nstrerror(info->code), sep, msg);
  else
    n = snprintf(buf, sizeof buf, "evl: %s: %s%s%s\n", ctx,
                 evl__nstrerror(info->code), sep, msg);
  if (n <= 0)
    return;
  if ((size_t)n >= sizeof buf)
    buf[sizeof buf - 2] = '\n';
  fputs(buf, stderr);
}

int evl__nset_error_handler(evl__nbase *b, evl_error_handler h, void *arg) {
  if (!b)
    return -EINVAL;
  if (b->closed)
    return EVL_ECLOSED;
  b->eh = h ? h : evl__ndefault_error_handler;
  b->eh_arg = h ? arg : NULL;
  return 0;
}

void evl__nreport(evl__nbase *b, int code, const char *context,
                  const char *message, int fd, uint64_t duration_ns) {
  evl_error_info info = {code, context, message, fd, duration_ns};
  b->eh(&info, b->eh_arg);
}

void evl__ncb_slow(evl__nbase *b, uint64_t t0) {
  uint64_t d = evl__nnow() - t0;
  if (d > b->slow_ns)
    evl__nreport(b, EVL_ESLOW, "slow callback", NULL, -1, d ? d : 1);
}
