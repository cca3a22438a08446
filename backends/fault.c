/* fault.c — a selector backend wrapping any other and injecting faults. */
/*
 * "fault:INNER" or "fault:INNER?LIST", INNER a backend name or a plugin path,
 * LIST a comma list of the faults below (default: $EVL_FAULT, else all):
 *
 *   eintr     storms of 1-4 waits that return -EINTR at once, never asleep
 *   spurious  the first fd registered (a loop's own wakeup fd, typically)
 *             reported readable every third wait, whether or not it is
 *   any       with spurious: any registered fd, for all of its interest;
 *             not in "all", since a loop cannot tell such an event from a
 *             stale one, and S6's "never called" checks rightly fail
 *   one       every wait asks the wrapped backend for one event only, as
 *             a loop passing cap 1 would (K4); "cap1" is the same
 *   enomem    every third ctl fails with -ENOMEM and changes nothing; the
 *             call after a failure always succeeds (the fault is transient)
 *   seed=N    the pseudo-random sequence (default 1): runs are repeatable
 *
 * Everything else is the wrapped backend's: features, fd_limit, resolution.
 * Each fault is one a correct backend may show (K2: an interrupted wait;
 * K4: cap 1; K1: ctl failing; K5: a spurious entry is within the registered
 * interest), so any failure it causes in a loop over it is the loop's.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <evl/backend.h>

#define FAULT_LIST(X)                                                          \
  X(EINTR, "eintr")                                                            \
  X(SPURIOUS, "spurious")                                                      \
  X(ONE, "one")                                                                \
  X(ENOMEM, "enomem")                                                          \
  X(ANY, "any")

enum {
#define FAULT_BIT(name, text) FAULT_BIT_##name,
  FAULT_LIST(FAULT_BIT)
#undef FAULT_BIT
};
enum {
#define FAULT_FLAG(name, text) FAULT_##name = 1u << FAULT_BIT_##name,
  FAULT_LIST(FAULT_FLAG)
#undef FAULT_FLAG
};
static const char *const fault_names[] = {
#define FAULT_NAME(name, text) text,
    FAULT_LIST(FAULT_NAME)
#undef FAULT_NAME
};
#define FAULT_NKINDS (sizeof fault_names / sizeof *fault_names)
#define FAULT_ALL (FAULT_EINTR | FAULT_SPURIOUS | FAULT_ONE | FAULT_ENOMEM)

/* One wrapper table per distinct spec. probe() and init() get no pointer to
 * their table, so each slot has its own pair of trampolines that know it. */
typedef struct fault_slot {
  char *spec; /* after "fault:" */
  const evl_backend_ops *in;
  unsigned faults;
  uint64_t seed;
  evl_backend_ops ops;
  char name[200], desc[300];
} fault_slot;

#define FAULT_SLOTS(X)                                                         \
  X(0)                                                                         \
  X(1)                                                                         \
  X(2) X(3) X(4) X(5) X(6) X(7) X(8) X(9) X(10) X(11) X(12) X(13) X(14) X(15)
#define FAULT_COUNT(i) +1
enum { FAULT_NSLOTS = 0 FAULT_SLOTS(FAULT_COUNT) };
static fault_slot fault_slots[FAULT_NSLOTS];
static int fault_nslots;
static pthread_mutex_t fault_lock = PTHREAD_MUTEX_INITIALIZER;

typedef struct fault_state {
  const fault_slot *slot;
  void *in; /* the wrapped backend's state, after this struct */
  uint64_t rng;
  unsigned waits, ctls;
  int storm;        /* -EINTR returns still due */
  int ctl_failed;   /* the last ctl failed: the next one succeeds */
  unsigned char *m; /* fd -> registered interest (EVL_READ|EVL_WRITE) */
  int nm, maxfd;
  int first;                   /* the first fd registered, or -1 */
  int (*in_pump)(void *state); /* the wrapped backend's completion pump */
} fault_state;

/* The wrapped state starts at the next 16-byte boundary. */
#define FAULT_HDR ((sizeof(fault_state) + 15) & ~(size_t)15)

/* xorshift64: cheap, repeatable, and never 0 once seeded non-zero. */
static unsigned fault_rand(fault_state *s, unsigned n) {
  uint64_t x = s->rng;
  x ^= x << 13;
  x ^= x >> 7;
  x ^= x << 17;
  s->rng = x;
  return n ? (unsigned)(x % n) : 0;
}

static unsigned fault_interest(const fault_state *s, int fd) {
  return fd >= 0 && fd < s->nm ? s->m[fd] : 0;
}

static int fault_set_interest(fault_state *s, int fd, unsigned mask) {
  if (fd >= s->nm) {
    if (!mask)
      return 0;
    int n = s->nm ? s->nm : 64;
    while (n <= fd)
      n *= 2;
    unsigned char *m = realloc(s->m, (size_t)n);
    if (!m)
      return -ENOMEM;
    memset(m + s->nm, 0, (size_t)(n - s->nm));
    s->m = m;
    s->nm = n;
  }
  s->m[fd] = (unsigned char)mask;
  if (mask && fd > s->maxfd)
    s->maxfd = fd;
  while (s->maxfd >= 0 && !s->m[s->maxfd])
    s->maxfd--;
  return 0;
}

/* ---------------------------------------------------------------- ops */

static int fault_probe(const fault_slot *slot, char *why, size_t len) {
  return evl_backend_probe(slot->in, why, len);
}

static int fault_init(const fault_slot *slot, void *state,
                      const evl_backend_config *cfg) {
  fault_state *s = state;
  s->slot = slot;
  s->in = (char *)state + FAULT_HDR;
  s->rng = slot->seed * 0x9e3779b97f4a7c15ull + 0x2545f4914f6cdd1dull;
  s->maxfd = -1;
  s->first = -1;
  return slot->in->init(s->in, cfg);
}

static void fault_fini(void *state) {
  fault_state *s = state;
  s->slot->in->fini(s->in);
  free(s->m);
  s->m = NULL;
  s->nm = 0;
}

static int fault_ctl(void *state, int fd, unsigned old_mask,
                     unsigned new_mask) {
  fault_state *s = state;
  if ((s->slot->faults & FAULT_ENOMEM) && !s->ctl_failed &&
      ++s->ctls % 3 == 0) {
    s->ctl_failed = 1;
    return -ENOMEM; /* nothing changed: the wrapped backend never saw it */
  }
  s->ctl_failed = 0;
  int rc = s->slot->in->ctl(s->in, fd, old_mask, new_mask);
  unsigned dir = new_mask & (EVL_READ | EVL_WRITE);
  if (rc == 0 || !dir) {
    /* A delete is final even when the wrapped backend found nothing. */
    if (fault_set_interest(s, fd, rc == 0 ? dir : 0) < 0 && dir) {
      s->slot->in->ctl(s->in, fd, new_mask, 0);
      return -ENOMEM;
    }
    if (rc == 0 && dir && s->first < 0)
      s->first = fd;
    if (fd == s->first && !dir)
      s->first = -1; /* gone: spurious readiness for it would be stale */
  }
  return rc;
}

static int fault_has(const evl_event *out, int n, int fd) {
  for (int i = 0; i < n; i++)
    if (out[i].fd == fd)
      return 1;
  return 0;
}

/* A registered fd that is not in out[0..n), reported ready for its whole
 * interest with nothing behind it, as a backend may. */
static int fault_add_spurious(fault_state *s, evl_event *out, int n, int cap) {
  if (n >= cap || s->maxfd < 0)
    return n;
  int span = s->maxfd + 1, from = (int)fault_rand(s, (unsigned)span);
  if (!(s->slot->faults & FAULT_ANY)) {
    from = s->first;
    span = from >= 0 ? 1 : 0;
  }
  for (int i = 0; i < span; i++) {
    int fd = (from + i) % (s->maxfd + 1);
    unsigned want = fault_interest(s, fd);
    if (!want || fault_has(out, n, fd))
      continue;
    out[n].fd = fd;
    out[n].events = want;
    return n + 1;
  }
  return n;
}

static int fault_wait(void *state, int64_t timeout_ns, evl_event *out,
                      int cap) {
  fault_state *s = state;
  unsigned f = s->slot->faults;
  if (cap <= 0 || !out)
    return -EINVAL;
  s->waits++;
  if (f & FAULT_EINTR) {
    if (s->storm == 0 && fault_rand(s, 4) == 0)
      s->storm = 1 + (int)fault_rand(s, 4);
    if (s->storm > 0) {
      s->storm--;
      return -EINTR;
    }
  }
  int n = s->slot->in->wait(s->in, timeout_ns, out, f & FAULT_ONE ? 1 : cap);
  if (n < 0)
    return n;
  if ((f & FAULT_SPURIOUS) && s->waits % 3 == 0)
    n = fault_add_spurious(s, out, n, cap);
  return n;
}

static int fault_forget_fd(void *state, int fd) {
  fault_state *s = state;
  int rc = s->slot->in->forget_fd ? s->slot->in->forget_fd(s->in, fd) : 0;
  fault_set_interest(s, fd, 0);
  if (fd == s->first)
    s->first = -1;
  return rc;
}

static int fault_after_fork(void *state) {
  fault_state *s = state;
  return s->slot->in->after_fork(s->in);
}

static int fault_wake(void *state) {
  fault_state *s = state;
  return s->slot->in->wake(s->in);
}

/* A completion engine's wait outside the loop's is interrupted as the
 * loop's is: an -EINTR storm returns at once, without waiting. */
static int fault_pump(void *state) {
  fault_state *s = state;
  if ((s->slot->faults & FAULT_EINTR) && fault_rand(s, 3) == 0)
    return 0;
  return s->in_pump(s->in);
}

/* The engine gets the wrapped backend's ring; its pump comes back here,
 * with this state, so it reaches the wrapped state too. */
static int fault_completion(void *state, evl_backend_completion *c) {
  fault_state *s = state;
  int rc = s->slot->in->completion(s->in, c);
  if (rc == 0 && c && c->on_cqe) {
    s->in_pump = c->pump;
    c->pump = fault_pump;
  }
  return rc;
}

#define FAULT_TRAMP(i)                                                         \
  static int fault_probe_##i(char *why, size_t len) {                          \
    return fault_probe(&fault_slots[i], why, len);                             \
  }                                                                            \
  static int fault_init_##i(void *state, const evl_backend_config *cfg) {      \
    return fault_init(&fault_slots[i], state, cfg);                            \
  }
FAULT_SLOTS(FAULT_TRAMP)
#define FAULT_PROBE_PTR(i) fault_probe_##i,
#define FAULT_INIT_PTR(i) fault_init_##i,
static int (*const fault_probes[])(char *,
                                   size_t) = {FAULT_SLOTS(FAULT_PROBE_PTR)};
static int (*const fault_inits[])(void *, const evl_backend_config *) = {
    FAULT_SLOTS(FAULT_INIT_PTR)};

/* ---------------------------------------------------------------- lookup */

static int fault_parse(const char *list, unsigned *faults, uint64_t *seed,
                       char *err, size_t len) {
  *faults = 0;
  const char *p = list;
  while (*p) {
    size_t n = strcspn(p, ",");
    unsigned k = 0;
    while (k < FAULT_NKINDS &&
           !(strlen(fault_names[k]) == n && !strncmp(p, fault_names[k], n)))
      k++;
    if (n == 4 && !strncmp(p, "cap1", 4))
      k = FAULT_BIT_ONE;
    if (k < FAULT_NKINDS) {
      *faults |= 1u << k;
    } else if (n == 3 && !strncmp(p, "all", 3)) {
      *faults |= FAULT_ALL;
    } else if (n > 5 && !strncmp(p, "seed=", 5)) {
      char *end;
      *seed = strtoull(p + 5, &end, 10);
      if (end != p + n || *seed == 0) {
        snprintf(err, len, "fault: bad seed in '%.*s'", (int)n, p);
        return -EINVAL;
      }
    } else if (n) {
      snprintf(err, len,
               "fault: unknown fault '%.*s' (known: eintr, spurious, any, "
               "one, cap1, enomem, all, seed=N)",
               (int)n, p);
      return EVL_ENOBACKEND;
    }
    p += n + (p[n] == ',');
  }
  return 0; /* "fault:epoll?" asks for none: a plain pass-through */
}

static void fault_describe(fault_slot *sl) {
  size_t o = (size_t)snprintf(sl->desc, sizeof sl->desc,
                              "%s with faults:", sl->in->name);
  for (unsigned k = 0; k < FAULT_NKINDS && o < sizeof sl->desc; k++)
    if (sl->faults & (1u << k))
      o += (size_t)snprintf(sl->desc + o, sizeof sl->desc - o, " %s",
                            fault_names[k]);
  if (!sl->faults && o < sizeof sl->desc)
    snprintf(sl->desc + o, sizeof sl->desc - o, " none");
}

/* Called by evl_backend_lookup() for "fault:SPEC". */
int evl__backend_fault(const char *spec, const evl_backend_ops **out, char *err,
                       size_t len) {
  *out = NULL;
  const char *q = strchr(spec, '?');
  size_t inner_len = q ? (size_t)(q - spec) : strlen(spec);
  char inner[4096];
  if (inner_len == 0 || inner_len >= sizeof inner) {
    snprintf(err, len, "fault: name the backend to wrap (fault:epoll)");
    return EVL_ENOBACKEND;
  }
  memcpy(inner, spec, inner_len);
  inner[inner_len] = '\0';
  const char *env = getenv("EVL_FAULT");
  const char *list = q ? q + 1 : env && *env ? env : "all";
  unsigned faults;
  uint64_t seed = 1;
  int rc = fault_parse(list, &faults, &seed, err, len);
  if (rc < 0)
    return rc;
  const evl_backend_ops *in;
  if ((rc = evl_backend_lookup(inner, &in, err, len)) < 0)
    return rc;

  pthread_mutex_lock(&fault_lock);
  fault_slot *sl = NULL;
  for (int i = 0; i < fault_nslots && !sl; i++)
    if (fault_slots[i].in == in && fault_slots[i].faults == faults &&
        fault_slots[i].seed == seed && !strcmp(fault_slots[i].spec, spec))
      sl = &fault_slots[i];
  if (!sl && fault_nslots < FAULT_NSLOTS) {
    fault_slot *n = &fault_slots[fault_nslots];
    n->spec = strdup(spec);
    if (n->spec) {
      n->in = in;
      n->faults = faults;
      n->seed = seed;
      snprintf(n->name, sizeof n->name, "fault:%s", spec);
      fault_describe(n);
      n->ops = *in;
      n->ops.size = sizeof n->ops;
      n->ops.name = n->name;
      n->ops.description = n->desc;
      n->ops.priority = 0; /* only ever by name */
      n->ops.state_size = FAULT_HDR + in->state_size;
      n->ops.probe = fault_probes[fault_nslots];
      n->ops.init = fault_inits[fault_nslots];
      n->ops.fini = fault_fini;
      n->ops.ctl = fault_ctl;
      n->ops.wait = fault_wait;
      n->ops.forget_fd = fault_forget_fd;
      /* Copied tables are read only up to their own size. */
      int full = in->size >= sizeof(evl_backend_ops);
      n->ops.after_fork = full && in->after_fork ? fault_after_fork : NULL;
      n->ops.wake = full && in->wake ? fault_wake : NULL;
      n->ops.completion = full && in->completion ? fault_completion : NULL;
      sl = n;
      fault_nslots++;
    }
  }
  pthread_mutex_unlock(&fault_lock);
  if (!sl) {
    snprintf(err, len, "fault: out of wrapper slots (%d specs at most)",
             FAULT_NSLOTS);
    return -ENOMEM;
  }
  *out = &sl->ops;
  return 0;
}
