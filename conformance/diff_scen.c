/* diff_scen.c — the differential scenarios: a seeded generator, an executor
 * that records every callback as one token, and the trace normalization.
 *
 * Only what CONTRACT.md fixes may show in a trace, so every scenario is
 * deterministic by construction, with no wall-clock race:
 * - a ticker callback re-queues itself first thing in every batch, so it
 *   heads each batch (S1) and marks it with "|"; it runs the scenario's
 *   steps for that batch, and so the loop never blocks;
 * - timers are due at once (deadlines in the past, S2: earlier deadline
 *   first, equal ones in scheduling order; negative delays are due now) or
 *   never (an hour away), so which batch runs a timer is fixed;
 * - fds are pipes and socketpairs written by the scenario: a byte written in
 *   batch k is seen by the wait before batch k + 1 (S6, level-triggered);
 * - callbacks queued in a batch run in the next (S1); in one batch, queued
 *   callbacks come first, then ready watchers, then due timers (the run
 *   cycle's step 3). The order among ready watchers of one batch is not
 *   fixed by the contract: normalization sorts those tokens in place.
 * fd numbers, times and event bits never appear: only what callbacks saw
 * (bytes read, EOF, EAGAIN, EPIPE) and what calls returned. */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "diff.h"

static const char *const diff_text[] = {
#define DIFF_OP_TEXT(name, text) text,
    DIFF_OPS(DIFF_OP_TEXT)
#undef DIFF_OP_TEXT
};

/* ---------------------------------------------------------------- generator */

static uint64_t diff_next(uint64_t *s) {
  /* splitmix64: every seed, 0 included, gives a full-quality stream */
  uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

static unsigned diff_rand(uint64_t *s, unsigned n) {
  return (unsigned)(diff_next(s) % n);
}

void diff_generate(diff_scen *sc, uint64_t seed, unsigned flags) {
  static const uint8_t weight[DIFF_NKINDS] = {
      [DIFF_SOON] = 4,   [DIFF_LATER_NEG] = 1, [DIFF_AT_PAST] = 5,
      [DIFF_AT_FAR] = 2, [DIFF_CANCEL] = 4,    [DIFF_WRITE] = 4,
      [DIFF_ADD_R] = 3,  [DIFF_ADD_W] = 1,     [DIFF_RM_R] = 1,
      [DIFF_RM_W] = 1,   [DIFF_REOPEN] = 1,    [DIFF_CLOSE_PEER] = 1,
      [DIFF_STOP] = 1,   [DIFF_REARM] = 3};
  unsigned total = 0;
  for (int k = 0; k < DIFF_NKINDS; k++)
    total += weight[k];
  uint64_t s = seed;
  memset(sc, 0, sizeof *sc);
  sc->nphases = 1 + (int)diff_rand(&s, 5);
  sc->n = 2 + (int)diff_rand(&s, 19);
  uint8_t phase[DIFF_MAX_OPS];
  for (int i = 0; i < sc->n; i++)
    phase[i] = (uint8_t)diff_rand(&s, (unsigned)sc->nphases);
  for (int i = 1; i < sc->n; i++) /* steps in execution order */
    for (int j = i; j > 0 && phase[j - 1] > phase[j]; j--) {
      uint8_t t = phase[j];
      phase[j] = phase[j - 1];
      phase[j - 1] = t;
    }
  for (int i = 0; i < sc->n; i++) {
    diff_op *o = &sc->op[i];
    unsigned r = diff_rand(&s, total), k = 0;
    while (r >= weight[k])
      r -= weight[k++];
    if (k == DIFF_CLOSE_PEER && (flags & DIFF_NO_PEER_CLOSE))
      k = DIFF_WRITE;
    if (k == DIFF_REARM && (flags & DIFF_NO_REARM))
      k = DIFF_CANCEL;
    if ((flags & DIFF_NO_IO) && k >= DIFF_WRITE && k <= DIFF_CLOSE_PEER)
      k = k % 2 ? DIFF_AT_PAST : DIFF_SOON;
    o->kind = (uint8_t)k;
    o->phase = phase[i];
    o->slot = (uint8_t)diff_rand(&s, DIFF_SLOTS);
    switch (k) {
    case DIFF_AT_PAST: /* few values: equal deadlines are common */
      o->a =
          (uint8_t)((flags & DIFF_NO_EQUAL) ? (unsigned)i : diff_rand(&s, 4));
      break;
    case DIFF_AT_FAR:
      o->a = (uint8_t)diff_rand(&s, 4);
      break;
    case DIFF_CANCEL: /* an earlier step; often not a scheduling one */
    case DIFF_REARM:
      o->a = (uint8_t)(i ? diff_rand(&s, (unsigned)i) : 0);
      o->b = (uint8_t)diff_rand(&s, 4);
      break;
    case DIFF_WRITE:
    case DIFF_ADD_R:
    case DIFF_ADD_W:
      o->a = (uint8_t)(1 + diff_rand(&s, 3));
      break;
    case DIFF_REOPEN:
      o->a = (uint8_t)diff_rand(&s, 2);
      break;
    default:
      break;
    }
  }
}

void diff_print(FILE *f, const diff_scen *sc) {
  fprintf(f,
          "  %d batches with steps, then %d to settle; slot 0 starts as a "
          "pipe, slot 1 as a socketpair\n",
          sc->nphases, DIFF_SETTLE);
  for (int i = 0; i < sc->n; i++) {
    const diff_op *o = &sc->op[i];
    fprintf(f, "  step %2d, batch %d, slot %d, a=%d, b=%d: %s\n", i, o->phase,
            o->slot, o->a, o->b,
            o->kind < DIFF_NKINDS ? diff_text[o->kind] : "?");
  }
}

uint64_t diff_hash(const char *s) {
  uint64_t h = 0xcbf29ce484222325ull; /* FNV-1a */
  for (; *s; s++)
    h = (h ^ (unsigned char)*s) * 0x100000001b3ull;
  return h;
}

/* ---------------------------------------------------------------- executor */

typedef struct dx dx;
typedef struct dx_cb {
  dx *x;
  int idx, calls;
} dx_cb;

struct dx {
  const evl_impl_ops *ops;
  evl_loop *loop;
  const diff_scen *sc;
  int batch, done;
  int fd[DIFF_SLOTS][2];              /* read end, write end; -1 when closed */
  int rd[DIFF_SLOTS], wr[DIFF_SLOTS]; /* the watcher's step, or -1 */
  evl_handle h[DIFF_MAX_OPS];
  dx_cb cb[DIFF_MAX_OPS];
  uint64_t base;
  char *buf;
  size_t len, cap;
};

static void dx_tok(dx *x, const char *fmt, ...) {
  if (x->len + 1 >= x->cap)
    return;
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(x->buf + x->len, x->cap - x->len, fmt, ap);
  va_end(ap);
  if (n < 0)
    return;
  x->len += (size_t)n;
  if (x->len + 1 >= x->cap) {
    x->len = x->cap - 1;
    return;
  }
  x->buf[x->len++] = ' ';
  x->buf[x->len] = '\0';
}

static uint64_t dx_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void dx_open(dx *x, int s, int socket) {
  int p[2] = {-1, -1};
  int rc = socket ? socketpair(AF_UNIX,
                               SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, p)
                  : pipe2(p, O_NONBLOCK | O_CLOEXEC);
  x->fd[s][0] = rc == 0 ? p[0] : -1;
  x->fd[s][1] = rc == 0 ? p[1] : -1;
}

static void dx_unwatch(dx *x, int s) {
  if (x->rd[s] >= 0 && x->fd[s][0] >= 0)
    x->ops->remove_reader(x->loop, x->fd[s][0]);
  if (x->wr[s] >= 0 && x->fd[s][1] >= 0)
    x->ops->remove_writer(x->loop, x->fd[s][1]);
  x->rd[s] = x->wr[s] = -1;
}

static void dx_close(dx *x, int s) {
  dx_unwatch(x, s);
  for (int e = 0; e < 2; e++)
    if (x->fd[s][e] >= 0)
      close(x->fd[s][e]);
  x->fd[s][0] = x->fd[s][1] = -1;
}

static void dx_cb_soon(void *arg) {
  dx_cb *c = arg;
  dx_tok(c->x, "s%d", c->idx);
}

static void dx_cb_timer(void *arg) {
  dx_cb *c = arg;
  dx_tok(c->x, "t%d", c->idx);
}

static int dx_slot_of(dx *x, int idx, int write) {
  for (int s = 0; s < DIFF_SLOTS; s++)
    if ((write ? x->wr[s] : x->rd[s]) == idx)
      return s;
  return -1;
}

static void dx_cb_read(int fd, unsigned events, void *arg) {
  (void)events;
  dx_cb *c = arg;
  dx *x = c->x;
  char b[8];
  ssize_t n = read(fd, b, x->sc->op[c->idx].a);
  if (n > 0) {
    dx_tok(x, "r%d:%d", c->idx, (int)n);
    return;
  }
  int err = n < 0 ? errno : 0;
  if (err == EAGAIN) {
    dx_tok(x, "r%d:-", c->idx);
    return;
  }
  /* EOF or an error: seen once, then the reader goes. */
  dx_tok(x, "r%d:%s", c->idx, err ? "err" : "eof");
  int s = dx_slot_of(x, c->idx, 0);
  if (s >= 0 && x->fd[s][0] == fd) {
    x->ops->remove_reader(x->loop, fd);
    x->rd[s] = -1;
  }
}

/* A writer only records that it ran: bytes it wrote could reach a reader
 * of the same batch before or after that reader ran, an order the contract
 * leaves to the backend. */
static void dx_cb_write(int fd, unsigned events, void *arg) {
  (void)events;
  dx_cb *c = arg;
  dx *x = c->x;
  int done = ++c->calls >= x->sc->op[c->idx].a;
  dx_tok(x, "w%d%s", c->idx, done ? "!" : "");
  int s = dx_slot_of(x, c->idx, 1);
  if (done && s >= 0 && x->fd[s][1] == fd) {
    x->ops->remove_writer(x->loop, fd);
    x->wr[s] = -1;
  }
}

static void dx_rc(dx *x, int i, int rc) {
  if (rc < 0)
    dx_tok(x, "e%d=%d", i, rc);
}

static void dx_step(dx *x, int i) {
  const diff_op *o = &x->sc->op[i];
  const evl_impl_ops *ops = x->ops;
  int s = o->slot % DIFF_SLOTS, *f = x->fd[s];
  dx_cb *c = &x->cb[i];
  c->calls = 0;
  switch (o->kind) {
  case DIFF_SOON:
    dx_rc(x, i, ops->call_soon(x->loop, dx_cb_soon, c, &x->h[i]));
    break;
  case DIFF_LATER_NEG:
    dx_rc(x, i, ops->call_later(x->loop, -1000000, dx_cb_timer, c, &x->h[i]));
    break;
  case DIFF_AT_PAST:
  case DIFF_AT_FAR: {
    uint64_t when = x->base + (uint64_t)o->a * 1000000u;
    if (o->kind == DIFF_AT_FAR)
      when += 3600ull * 1000000000u;
    dx_rc(x, i, ops->call_at(x->loop, when, dx_cb_timer, c, &x->h[i]));
    break;
  }
  case DIFF_CANCEL: {
    evl_handle h = o->a < DIFF_MAX_OPS ? x->h[o->a] : 0;
    int rc = ops->cancel(x->loop, h);
    if (rc == 0)
      dx_tok(x, "c%d=0", i);
    else
      dx_tok(x, "c%d=%s", i, rc == EVL_EHANDLE ? "H" : "?");
    break;
  }
  case DIFF_REARM: {
    /* Due at once (deadlines a little apart, or equal: S2 from the re-arm,
     * S15), or pushed an hour away; a dead handle or a call_soon one must
     * say so and change nothing. */
    evl_handle h = o->a < DIFF_MAX_OPS ? x->h[o->a] : 0;
    uint64_t when = x->base + (uint64_t)o->b * 1000000u;
    if (o->b == 3)
      when += 3600ull * 1000000000u;
    int rc = ops->rearm_at(x->loop, h, when);
    dx_tok(x, "m%d=%s", i,
           rc == 0             ? "0"
           : rc == EVL_EHANDLE ? "H"
           : rc == -EINVAL     ? "I"
                               : "?");
    break;
  }
  case DIFF_WRITE:
    if (f[1] >= 0) {
      char b[4] = "abc";
      ssize_t n = write(f[1], b, o->a > 3 ? 3 : o->a);
      (void)n; /* a full buffer or a closed peer shows in the callbacks */
    }
    break;
  case DIFF_ADD_R:
    if (f[0] >= 0) {
      dx_rc(x, i, ops->add_reader(x->loop, f[0], dx_cb_read, c));
      x->rd[s] = i;
    }
    break;
  case DIFF_ADD_W:
    if (f[1] >= 0) {
      dx_rc(x, i, ops->add_writer(x->loop, f[1], dx_cb_write, c));
      x->wr[s] = i;
    }
    break;
  case DIFF_RM_R:
  case DIFF_RM_W: {
    int rd = o->kind == DIFF_RM_R;
    if (f[rd ? 0 : 1] < 0)
      break;
    int rc = rd ? ops->remove_reader(x->loop, f[0])
                : ops->remove_writer(x->loop, f[1]);
    dx_tok(x, "x%d=%d", i, rc);
    if (rd)
      x->rd[s] = -1;
    else
      x->wr[s] = -1;
    break;
  }
  case DIFF_REOPEN:
    dx_close(x, s);
    dx_open(x, s, o->a & 1);
    break;
  case DIFF_CLOSE_PEER:
    if (f[1] >= 0) {
      if (x->wr[s] >= 0)
        ops->remove_writer(x->loop, f[1]);
      x->wr[s] = -1;
      close(f[1]);
      f[1] = -1;
    }
    break;
  case DIFF_STOP:
    ops->stop(x->loop);
    break;
  }
}

/* First in every batch: queues itself again, then runs this batch's steps. */
static void dx_tick(void *arg) {
  dx *x = arg;
  if (x->batch >= x->sc->nphases + DIFF_SETTLE) {
    x->done = 1;
    x->ops->stop(x->loop);
    return;
  }
  dx_rc(x, -1, x->ops->call_soon(x->loop, dx_tick, x, NULL));
  dx_tok(x, "|");
  for (int i = 0; i < x->sc->n; i++)
    if (x->sc->op[i].phase == x->batch)
      dx_step(x, i);
  x->batch++;
}

static int dx_is_io(const char *tok) {
  return tok[0] == 'r' || tok[0] == 'w';
}

static int dx_cmp(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Sorts, in place, the watcher tokens of each batch: their order among
 * themselves is the backend's, not the contract's. */
static void dx_normalize(char *buf) {
  size_t len = strlen(buf);
  char *copy = malloc(len + 1), **tok = malloc((len / 2 + 2) * sizeof *tok);
  char **io = malloc((len / 2 + 2) * sizeof *io);
  if (!copy || !tok || !io)
    goto out;
  memcpy(copy, buf, len + 1);
  int n = 0;
  for (char *p = strtok(copy, " "); p; p = strtok(NULL, " "))
    tok[n++] = p;
  for (int i = 0; i < n;) {
    int j = i + 1;
    while (j < n && strcmp(tok[j], "|") && strcmp(tok[j], "#"))
      j++;
    int m = 0;
    for (int k = i; k < j; k++)
      if (dx_is_io(tok[k]))
        io[m++] = tok[k];
    qsort(io, (size_t)m, sizeof *io, dx_cmp);
    for (int k = i, q = 0; k < j; k++)
      if (dx_is_io(tok[k]))
        tok[k] = io[q++];
    i = j;
  }
  size_t o = 0;
  for (int i = 0; i < n; i++) {
    size_t l = strlen(tok[i]);
    memmove(buf + o, tok[i], l); /* never longer than the original */
    o += l;
    buf[o++] = ' ';
  }
  buf[o ? o - 1 : 0] = '\0';
out:
  free(copy);
  free(tok);
  free(io);
}

int diff_execute(const evl_impl_ops *impl, const diff_scen *sc, char *buf,
                 size_t len) {
  dx *x = calloc(1, sizeof *x);
  if (!x)
    return -ENOMEM;
  x->ops = impl;
  x->sc = sc;
  x->buf = buf;
  x->cap = len;
  buf[0] = '\0';
  evl_impl_config cfg = {.size = sizeof cfg};
  int rc = impl->loop_new(impl->data, &cfg, &x->loop);
  if (rc < 0) {
    free(x);
    return rc;
  }
  x->base = dx_now() - 10ull * 1000000000u;
  for (int s = 0; s < DIFF_SLOTS; s++) {
    x->rd[s] = x->wr[s] = -1;
    dx_open(x, s, s & 1);
  }
  for (int i = 0; i < sc->n; i++)
    x->cb[i] = (dx_cb){x, i, 0};
  dx_rc(x, -1, impl->call_soon(x->loop, dx_tick, x, NULL));
  for (int runs = 0; !x->done && runs < 64; runs++) {
    rc = impl->run_forever(x->loop);
    dx_tok(x, rc < 0 ? "#E%d" : "#", rc);
    if (rc < 0)
      break;
  }
  for (int s = 0; s < DIFF_SLOTS; s++)
    dx_close(x, s);
  impl->loop_free(x->loop);
  free(x);
  dx_normalize(buf);
  return 0;
}

unsigned diff_flags_for(const evl_impl_ops *impl) {
  static const struct {
    const char *test;
    unsigned flag;
  } map[] = {
      {"s2_equal_deadline_order", DIFF_NO_EQUAL},
      {"s4_cancel_keeps_equal_order", DIFF_NO_EQUAL},
      {"s6_hangup_wakes_both", DIFF_NO_PEER_CLOSE},
      {"s6_pipe_eof", DIFF_NO_PEER_CLOSE},
      {"s15_rearm_equal_deadline_order", DIFF_NO_EQUAL},
      /* I/O callbacks not queued behind the batch's: no fds at all. */
      {"s1_ready_behind_soon", DIFF_NO_IO},
  };
  unsigned f = 0;
  if (!(impl->features & EVL_IF_REARM) || impl->size < sizeof *impl ||
      !impl->rearm_at)
    f |= DIFF_NO_REARM;
  for (size_t i = 0; i < sizeof map / sizeof *map; i++)
    if (evl_impl_deviation(impl, map[i].test))
      f |= map[i].flag;
  return f;
}
