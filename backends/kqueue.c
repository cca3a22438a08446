/* kqueue.c — selector backend wrapping BSD/macOS kqueue and kevent(). */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#include <evl/backend.h>

#if defined(__has_include)
#if __has_include(<sys/event.h>)
#define KQUEUE_HAVE_EVENT_H 1
#endif
#elif defined(__APPLE__) || defined(__FreeBSD__) || defined(__NetBSD__) ||     \
    defined(__OpenBSD__) || defined(__DragonFly__)
#define KQUEUE_HAVE_EVENT_H 1
#endif
#ifdef KQUEUE_HAVE_EVENT_H
#include <sys/event.h>
#else
#include "compat/kqueue_stub.h" /* compiles here, probes false */
#endif

#ifndef EV_DISPATCH
#define EV_DISPATCH EV_ONESHOT /* deleted, not disabled: re-added on rearm */
#endif

/* Bits kept per fd in masks[] beyond the EVL_* interest bits. */
enum {
  KQ_DISARMED = 1u << 7, /* a one-shot that fired: disabled until modified */
  KQ_FAILED = 1u << 6,   /* the kernel refused a change: report EVL_ERR */
};
#define KQ_INTEREST (EVL_READ | EVL_WRITE | EVL_ET | EVL_ONESHOT)
/* Changes are batched into the next wait; past this many they are sent on
 * their own so the list stays small. */
#define KQ_MAX_CHANGES 1024

typedef struct kqueue_state {
  int kq;
  int open;             /* kq is ours to close (the state starts zeroed) */
  int nmasks;           /* length of masks[] and slot[] */
  int maxfd;            /* highest fd with a non-zero mask, or -1 */
  unsigned char *masks; /* fd -> EVL_* interest + KQ_* */
  int *slot;            /* fd -> out index + 1 while a wait merges results */
  struct kevent *changes;
  int nchanges, capchanges;
  struct kevent *evs;
  int nevs;
  int *failed; /* fds with KQ_FAILED, reported by the next wait */
  int nfailed, capfailed;
} kqueue_state;

static int kqueue_probe(char *why, size_t len) {
  int kq = kqueue();
  if (kq < 0) {
    int err = errno;
    if (why && len) {
      if (err == ENOSYS)
        snprintf(why, len, "kqueue() not available on this system (ENOSYS)");
      else
        snprintf(why, len, "kqueue() failed: %s", strerror(err));
    }
    return -err;
  }
  close(kq);
  return 0;
}

static int kqueue_open(kqueue_state *s) {
  int kq = kqueue();
  if (kq < 0)
    return -errno;
  /* Portable close-on-exec: kqueue1()/kqueuex() exist on some BSDs only. */
  (void)fcntl(kq, F_SETFD, FD_CLOEXEC);
  s->kq = kq;
  s->open = 1;
  return 0;
}

static int kqueue_init(void *state, const evl_backend_config *cfg) {
  kqueue_state *s = state;
  (void)cfg;
  s->maxfd = -1;
  return kqueue_open(s);
}

static void kqueue_fini(void *state) {
  kqueue_state *s = state;
  if (s->open)
    close(s->kq);
  free(s->masks);
  free(s->slot);
  free(s->changes);
  free(s->evs);
  free(s->failed);
  memset(s, 0, sizeof(*s));
}

/* The fd was checked to be open, so its number is below RLIMIT_NOFILE and
 * the tables stay proportional to real fds. */
static int kqueue_grow(kqueue_state *s, int fd) {
  if (fd < s->nmasks)
    return 0;
  size_t n = s->nmasks ? (size_t)s->nmasks : 64;
  while (n <= (size_t)fd)
    n *= 2;
  if (n > INT_MAX)
    n = (size_t)fd + 1;
  unsigned char *m = realloc(s->masks, n);
  if (!m)
    return -ENOMEM;
  s->masks = m;
  int *sl = realloc(s->slot, n * sizeof(*sl));
  if (!sl)
    return -ENOMEM; /* masks[] is merely larger than nmasks says */
  s->slot = sl;
  memset(m + s->nmasks, 0, n - (size_t)s->nmasks);
  memset(sl + s->nmasks, 0, (n - (size_t)s->nmasks) * sizeof(*sl));
  s->nmasks = (int)n;
  return 0;
}

static int kqueue_evs_reserve(kqueue_state *s, int n) {
  if (n <= s->nevs)
    return 0;
  struct kevent *e = realloc(s->evs, (size_t)n * sizeof(*e));
  if (!e)
    return -ENOMEM;
  s->evs = e;
  s->nevs = n;
  return 0;
}

static void kqueue_set_mask(kqueue_state *s, int fd, unsigned mask) {
  s->masks[fd] = (unsigned char)mask;
  if (mask && fd > s->maxfd)
    s->maxfd = fd;
  while (s->maxfd >= 0 && !s->masks[s->maxfd])
    s->maxfd--;
}

/* A change the kernel refused. ENOENT is a delete or disable of a knote
 * that close() already removed: harmless. Anything else on a filter the fd
 * still wants means it is not being watched: say so with EVL_ERR. */
static int kqueue_refused(kqueue_state *s, int fd, int filter, long err) {
  if (err == 0 || err == ENOENT || fd < 0 || fd >= s->nmasks)
    return 0;
  unsigned m = s->masks[fd];
  unsigned want = filter == EVFILT_READ ? EVL_READ : EVL_WRITE;
  if (!(m & want) || (m & KQ_DISARMED))
    return 0;
  return 1;
}

static void kqueue_mark_failed(kqueue_state *s, int fd) {
  if (s->masks[fd] & KQ_FAILED)
    return;
  if (s->nfailed == s->capfailed) {
    int n = s->capfailed ? s->capfailed * 2 : 16;
    int *f = realloc(s->failed, (size_t)n * sizeof(*f));
    if (!f)
      return; /* not reported, but it was never watched either */
    s->failed = f;
    s->capfailed = n;
  }
  s->failed[s->nfailed++] = fd;
  s->masks[fd] |= KQ_FAILED;
}

/* Sends the changelist without collecting events: with EV_RECEIPT every
 * change answers with an entry and the kernel returns before scanning, so
 * no edge-triggered or one-shot event is consumed here and lost. */
static int kqueue_flush(kqueue_state *s) {
  int n = s->nchanges;
  if (n == 0)
    return 0;
  int rc = kqueue_evs_reserve(s, n);
  if (rc < 0)
    return rc;
#ifdef EV_RECEIPT
  for (int i = 0; i < n; i++)
    s->changes[i].flags |= EV_RECEIPT;
#endif
  struct timespec zero = {0, 0};
  int got = kevent(s->kq, s->changes, n, s->evs, n, &zero);
  if (got < 0)
    return -errno; /* EINTR cannot happen: zero timeout, no sleep */
  s->nchanges = 0;
  for (int i = 0; i < got; i++) {
    const struct kevent *e = &s->evs[i];
    int fd = (int)e->ident;
    if ((e->flags & EV_ERROR) && kqueue_refused(s, fd, e->filter, e->data))
      kqueue_mark_failed(s, fd);
  }
  return 0;
}

/* Room for `need` more changes, flushing a full list. */
static int kqueue_reserve(kqueue_state *s, int need) {
  if (s->nchanges + need <= s->capchanges)
    return 0;
  if (s->capchanges < KQ_MAX_CHANGES) {
    int n = s->capchanges ? s->capchanges * 2 : 64;
    if (n > KQ_MAX_CHANGES)
      n = KQ_MAX_CHANGES;
    struct kevent *c = realloc(s->changes, (size_t)n * sizeof(*c));
    if (c) {
      s->changes = c;
      s->capchanges = n;
      if (s->nchanges + need <= n)
        return 0;
    }
  }
  int rc = kqueue_flush(s);
  if (rc < 0)
    return rc;
  return s->nchanges + need <= s->capchanges ? 0 : -ENOMEM;
}

static void kqueue_push(kqueue_state *s, int fd, int filter, unsigned flags) {
  EV_SET(&s->changes[s->nchanges], (uintptr_t)fd, filter, flags, 0, 0, 0);
  s->nchanges++;
}

/* The kernel-side flags for a wanted filter of interest `mask`. */
static unsigned kqueue_arm_flags(unsigned mask) {
  /* A one-shot that fired stays registered but silent until modified. */
  unsigned f = EV_ADD | (mask & KQ_DISARMED ? EV_DISABLE : EV_ENABLE);
  if (mask & EVL_ET)
    f |= EV_CLEAR;
  if (mask & EVL_ONESHOT)
    f |= EV_DISPATCH; /* stays registered, disabled after one event */
  return f;
}

/* Queues what turns interest `cur` into `next` for both filters: at most
 * four changes. EV_ADD on an existing knote keeps the EV_CLEAR and
 * EV_DISPATCH it was created with, so a change of mode deletes and re-adds.
 */
static void kqueue_queue(kqueue_state *s, int fd, unsigned cur, unsigned next) {
  static const struct {
    unsigned bit;
    int filter;
  } dirs[2] = {{EVL_READ, EVFILT_READ}, {EVL_WRITE, EVFILT_WRITE}};
  int remode = ((cur ^ next) & (EVL_ET | EVL_ONESHOT)) != 0;
  for (int i = 0; i < 2; i++) {
    if (next & dirs[i].bit) {
      if (remode && (cur & dirs[i].bit))
        kqueue_push(s, fd, dirs[i].filter, EV_DELETE);
      kqueue_push(s, fd, dirs[i].filter, kqueue_arm_flags(next));
    } else if (cur & dirs[i].bit) {
      kqueue_push(s, fd, dirs[i].filter, EV_DELETE);
    }
  }
}

static int kqueue_ctl(void *state, int fd, unsigned old_mask,
                      unsigned new_mask) {
  kqueue_state *s = state;
  (void)old_mask; /* masks[] is the truth */
  if (fd < 0)
    return -EBADF;
  if (new_mask & ~(unsigned)KQ_INTEREST)
    return -EINVAL;
  if (!(new_mask & (EVL_READ | EVL_WRITE)))
    new_mask = 0;
  unsigned cur = fd < s->nmasks ? s->masks[fd] : 0;
  if (!cur) {
    /* The kernel sees adds only inside the next wait; a closed fd must
     * still be refused here, with nothing registered. */
    if (fcntl(fd, F_GETFD) < 0)
      return -errno;
    if (!new_mask)
      return -ENOENT;
  }
  int rc = kqueue_reserve(s, 4);
  if (rc < 0)
    return rc;
  if (!cur) {
    rc = kqueue_grow(s, fd);
    if (rc < 0)
      return rc;
  }
  kqueue_queue(s, fd, cur, new_mask);
  kqueue_set_mask(s, fd, new_mask);
  return 0;
}

/* Adds bits for fd to out[], one entry per fd (K-rule), via slot[]. */
static void kqueue_merge(kqueue_state *s, evl_event *out, int *k, int fd,
                         uint32_t bits) {
  if (!bits)
    return;
  int i = s->slot[fd];
  if (!i) {
    out[*k].fd = fd;
    out[*k].events = 0;
    i = s->slot[fd] = ++*k;
  }
  out[i - 1].events |= bits;
}

static uint32_t kqueue_map(const struct kevent *e, unsigned m) {
  unsigned dir = m & (EVL_READ | EVL_WRITE);
  uint32_t r = 0;
  if (e->filter == EVFILT_READ && (m & EVL_READ))
    r = EVL_READ;
  else if (e->filter == EVFILT_WRITE && (m & EVL_WRITE))
    r = EVL_WRITE;
  else
    return 0;
  /* EV_EOF: the peer is gone for this direction; fflags carries a pending
   * socket error. K5: both wake every registered direction. */
  if (e->flags & EV_EOF) {
    r |= EVL_HUP | dir;
    if (e->filter == EVFILT_READ)
      r |= EVL_RDHUP;
    if (e->fflags)
      r |= EVL_ERR;
  }
  return r;
}

static int kqueue_wait(void *state, int64_t timeout_ns, evl_event *out,
                       int cap) {
  kqueue_state *s = state;
  if (cap <= 0 || !out)
    return -EINVAL;
  int k = 0;

  /* Refusals of queued changes take event slots; with more changes than
   * slots the kernel would stop applying them, so send those first. */
  if (s->nchanges > cap - s->nfailed) {
    int rc = kqueue_flush(s);
    if (rc < 0)
      return rc;
  }

  /* Refusals found by a flush go first. */
  int keep = 0;
  for (int i = 0; i < s->nfailed; i++) {
    int fd = s->failed[i];
    unsigned m = s->masks[fd];
    if (!(m & KQ_FAILED))
      continue; /* deleted or forgotten since */
    if (k == cap) {
      s->failed[keep++] = fd;
      continue;
    }
    s->masks[fd] = (unsigned char)(m & ~KQ_FAILED);
    kqueue_merge(s, out, &k, fd, EVL_ERR | (m & (EVL_READ | EVL_WRITE)));
  }
  s->nfailed = keep;
  int room = cap - k;
  if (room == 0)
    goto done; /* the changes wait for the next call */
  int rc = kqueue_evs_reserve(s, room);
  if (rc < 0) {
    if (k == 0)
      return rc;
    goto done;
  }

  struct timespec ts, zero = {0, 0}, *tsp = NULL;
  if (timeout_ns >= 0) {
    ts.tv_sec = (time_t)(timeout_ns / 1000000000);
    ts.tv_nsec = (long)(timeout_ns % 1000000000);
    tsp = &ts;
  }
  for (int pass = 0; pass < 2; pass++) {
    int n = s->nchanges;
    int got = kevent(s->kq, s->changes, n, s->evs, room, tsp);
    if (got < 0) {
      if (errno == EINTR) {
        s->nchanges = 0; /* changes are applied before the sleep */
        break;
      }
      if (k == 0)
        return -errno;
      break;
    }
    s->nchanges = 0;
    int refusals = 0;
    for (int i = 0; i < got; i++) {
      const struct kevent *e = &s->evs[i];
      int fd = (int)e->ident;
      if (fd < 0 || fd >= s->nmasks)
        continue;
      unsigned m = s->masks[fd];
      if (e->flags & EV_ERROR) {
        refusals++;
        if (kqueue_refused(s, fd, e->filter, e->data))
          kqueue_merge(s, out, &k, fd, EVL_ERR | (m & (EVL_READ | EVL_WRITE)));
        continue;
      }
      if (!(m & (EVL_READ | EVL_WRITE)))
        continue; /* deleted since: never report it (K6) */
      if ((m & KQ_DISARMED) && !s->slot[fd])
        continue; /* the other filter of a one-shot that already fired */
      uint32_t r = kqueue_map(e, m);
      if (!r)
        continue;
      kqueue_merge(s, out, &k, fd, r);
      if ((m & EVL_ONESHOT) && !(m & KQ_DISARMED)) {
        /* One event disarms the whole fd, as with epoll: also the other
         * filter, whose disable rides along with the next wait. */
        s->masks[fd] = (unsigned char)(m | KQ_DISARMED);
        int other = e->filter == EVFILT_READ ? EVFILT_WRITE : EVFILT_READ;
        unsigned obit = other == EVFILT_READ ? EVL_READ : EVL_WRITE;
        /* No flush here: it would reuse evs[] under this loop. Without
         * room, EV_DISPATCH still stops the other filter after one. */
        if ((m & obit) && s->nchanges < s->capchanges)
          kqueue_push(s, fd, other, EV_DISABLE);
      }
    }
    /* FreeBSD and OpenBSD return only the refusals, without scanning:
     * scan again, and without blocking when there is already news. */
    if (refusals == 0 || refusals < got)
      break;
    if (k > 0)
      tsp = &zero;
    room = cap - k;
    if (room == 0)
      break;
  }

done:
  for (int i = 0; i < k; i++)
    s->slot[out[i].fd] = 0;
  return k;
}

static int kqueue_forget_fd(void *state, int fd) {
  kqueue_state *s = state;
  if (fd < 0 || fd >= s->nmasks || !s->masks[fd])
    return 0;
  /* close() removes the fd's knotes itself; a change still queued for it
   * would reach whatever file reuses the number. */
  int j = 0;
  for (int i = 0; i < s->nchanges; i++)
    if ((int)s->changes[i].ident != fd)
      s->changes[j++] = s->changes[i];
  s->nchanges = j;
  kqueue_set_mask(s, fd, 0);
  return 0;
}

/* A kqueue is not inherited by fork(): the child's number is closed or
 * already reused, so it is left alone. Queue the whole interest set for a
 * fresh kqueue; it is sent with the next wait. */
static int kqueue_after_fork(void *state) {
  kqueue_state *s = state;
  s->open = 0;
  int rc = kqueue_open(s);
  if (rc < 0)
    return rc;
  s->nchanges = 0; /* deltas against the parent's kqueue */
  for (int fd = 0; fd <= s->maxfd; fd++) {
    unsigned m = s->masks[fd];
    if (!(m & (EVL_READ | EVL_WRITE)))
      continue;
    rc = kqueue_reserve(s, 4);
    if (rc < 0)
      return rc;
    kqueue_queue(s, fd, 0, m);
  }
  return 0;
}

const evl_backend_ops evl__backend_kqueue = {
    .abi = EVL_BACKEND_ABI,
    .size = sizeof(evl_backend_ops),
    .name = "kqueue",
    .description = "BSD/macOS kqueue, changes batched into kevent()",
    .features = EVL_BF_ET | EVL_BF_O1 | EVL_BF_FDS | EVL_BF_RDHUP |
                EVL_BF_ONESHOT | EVL_BF_FORK_REINIT | EVL_BF_BATCHED,
    .fd_limit = 0,
    /* kevent takes a timespec; like the other hrtimer-based waits,
     * sub-microsecond requests mean nothing. */
    .resolution_ns = 1000,
    .state_size = sizeof(kqueue_state),
    .priority = 40, /* probes false where the stub is used */
    .probe = kqueue_probe,
    .init = kqueue_init,
    .fini = kqueue_fini,
    .ctl = kqueue_ctl,
    .wait = kqueue_wait,
    .forget_fd = kqueue_forget_fd,
    .after_fork = kqueue_after_fork,
    .wake = NULL,
};
