/* kqueue.c — selector backend wrapping BSD/macOS kqueue and kevent(). */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
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
#define KQ_DIR (EVL_READ | EVL_WRITE)
#define KQ_INTEREST (KQ_DIR | EVL_ET | EVL_ONESHOT)
/* An out[] bit used only while a wait merges: the write filter saw EV_EOF.
 * With EV_EOF on the read filter too, both directions are gone: HUP. */
#define KQ_WEOF (1u << 31)
/* Up to KQ_MAX_CHANGES modifications wait for the next wait; no kevent()
 * call carries more than KQ_CHUNK: an implementation may take fewer. */
#define KQ_MAX_CHANGES 1024
#define KQ_CHUNK 256
/* macOS refuses tv_sec > INT32_MAX (EINVAL); 68 years is forever here. */
#define KQ_MAX_SEC INT32_MAX

static const struct {
  unsigned bit;
  int filter;
} kqueue_dirs[2] = {{EVL_READ, EVFILT_READ}, {EVL_WRITE, EVFILT_WRITE}};

typedef struct kqueue_state {
  int kq;
  int open;               /* kq is ours to close (the state starts zeroed) */
  int nmasks;             /* length of masks[] and slot[] */
  int maxfd;              /* highest fd with a non-zero mask, or -1 */
  unsigned char *masks;   /* fd -> EVL_* interest + KQ_* */
  int *slot;              /* fd -> out index + 1 while a wait merges results */
  struct kevent *changes; /* queued modifications, sent with the next wait */
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
  (void)cfg;
  ((kqueue_state *)state)->maxfd = -1;
  return kqueue_open(state);
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
  unsigned want = filter == EVFILT_READ ? EVL_READ : EVL_WRITE;
  return (s->masks[fd] & (want | KQ_DISARMED)) == want;
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

/* Applies n <= KQ_CHUNK changes now, collecting no event (one consumed
 * here would be lost); err[i] gets 0 or change i's errno. With EV_RECEIPT
 * each change answers with an EV_ERROR entry (data 0: applied), in order,
 * and nothing is scanned. Without it, one change per call and no room for
 * events: kevent() fails with that change's errno, and scans nothing. */
static int kqueue_send(kqueue_state *s, struct kevent *c, int n, int *err) {
  struct timespec zero = {0, 0};
  for (int i = 0; i < n; i++)
    err[i] = 0;
#ifdef EV_RECEIPT
  int rc = kqueue_evs_reserve(s, n);
  if (rc < 0)
    return rc;
  for (int i = 0; i < n; i++)
    c[i].flags |= EV_RECEIPT;
  /* FreeBSD stops applying changes once the eventlist is full: n slots. */
  int got = kevent(s->kq, c, n, s->evs, n, &zero);
  for (int i = 0; i < n; i++)
    c[i].flags &= ~EV_RECEIPT; /* flags is 16 or 32 bits wide */
  if (got < 0)
    return -errno; /* EINTR cannot happen: zero timeout, no sleep */
  for (int j = 0; j < got; j++) {
    const struct kevent *e = &s->evs[j];
    if (!(e->flags & EV_ERROR) || e->data == 0)
      continue;
    int i = j; /* receipts come in changelist order; check, then search */
    if (i >= n || c[i].ident != e->ident || c[i].filter != e->filter)
      for (i = 0; i < n; i++)
        if (c[i].ident == e->ident && c[i].filter == e->filter && !err[i])
          break;
    if (i < n)
      err[i] = (int)e->data;
  }
#else
  for (int i = 0; i < n; i++)
    if (kevent(s->kq, &c[i], 1, NULL, 0, &zero) < 0)
      err[i] = errno;
#endif
  return 0;
}

/* Sends the queued modifications in chunks, without collecting events.
 * Refusals of filters still wanted are reported by the next wait. */
static int kqueue_flush(kqueue_state *s) {
  int err[KQ_CHUNK];
  int sent = 0, rc = 0;
  while (sent < s->nchanges) {
    int n = s->nchanges - sent < KQ_CHUNK ? s->nchanges - sent : KQ_CHUNK;
    struct kevent *c = s->changes + sent;
    rc = kqueue_send(s, c, n, err);
    if (rc < 0)
      break;
    for (int i = 0; i < n; i++)
      if (kqueue_refused(s, (int)c[i].ident, c[i].filter, err[i]))
        kqueue_mark_failed(s, (int)c[i].ident);
    sent += n;
  }
  /* What was not sent stays queued, in order. */
  memmove(s->changes, s->changes + sent,
          (size_t)(s->nchanges - sent) * sizeof(*s->changes));
  s->nchanges -= sent;
  return rc;
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
  int remode = ((cur ^ next) & (EVL_ET | EVL_ONESHOT)) != 0;
  for (int i = 0; i < 2; i++) {
    if (next & kqueue_dirs[i].bit) {
      if (remode && (cur & kqueue_dirs[i].bit))
        kqueue_push(s, fd, kqueue_dirs[i].filter, EV_DELETE);
      kqueue_push(s, fd, kqueue_dirs[i].filter, kqueue_arm_flags(next));
    } else if (cur & kqueue_dirs[i].bit) {
      kqueue_push(s, fd, kqueue_dirs[i].filter, EV_DELETE);
    }
  }
}

/* Drops queued changes for fd: they would reach whatever reuses it. */
static void kqueue_unqueue(kqueue_state *s, int fd) {
  int j = 0;
  for (int i = 0; i < s->nchanges; i++)
    if ((int)s->changes[i].ident != fd)
      s->changes[j++] = s->changes[i];
  s->nchanges = j;
}

/* An add reaches the kernel now, so a refusal is ctl's return value and
 * nothing stays registered. kqueue accepts vnodes, but a regular file or
 * directory is not "always ready" there, and this backend lacks FILES:
 * refused with epoll's -EPERM. */
static int kqueue_add(kqueue_state *s, int fd, unsigned mask) {
  struct stat st;
  if (fstat(fd, &st) < 0)
    return -errno;
  if (S_ISREG(st.st_mode) || S_ISDIR(st.st_mode))
    return -EPERM;
  int rc = kqueue_grow(s, fd);
  if (rc < 0)
    return rc;
  struct kevent c[2];
  int err[2], n = 0;
  for (int i = 0; i < 2; i++)
    if (mask & kqueue_dirs[i].bit)
      EV_SET(&c[n++], (uintptr_t)fd, kqueue_dirs[i].filter,
             kqueue_arm_flags(mask), 0, 0, 0);
  rc = kqueue_send(s, c, n, err);
  int refused = rc < 0 ? -rc : 0;
  for (int i = 0; i < n && !refused; i++)
    refused = err[i];
  if (refused) {
    /* Undo whatever half was taken; ENOENT for the half that was not. */
    for (int i = 0; i < n; i++)
      EV_SET(&c[i], (uintptr_t)fd, c[i].filter, EV_DELETE, 0, 0, 0);
    (void)kqueue_send(s, c, n, err);
    return -refused;
  }
  kqueue_set_mask(s, fd, mask);
  return 0;
}

/* A delete reaches the kernel now, so the caller may close the fd right
 * after. Both filters go: a queued modification may have added one that
 * masks[] no longer names. ENOENT (not there, or a fired EV_ONESHOT) and
 * EBADF (closed already, which removed the knotes) are the goal reached. */
static int kqueue_del(kqueue_state *s, int fd) {
  struct kevent c[2];
  int err[2];
  kqueue_unqueue(s, fd);
  kqueue_set_mask(s, fd, 0);
  for (int i = 0; i < 2; i++)
    EV_SET(&c[i], (uintptr_t)fd, kqueue_dirs[i].filter, EV_DELETE, 0, 0, 0);
  int rc = kqueue_send(s, c, 2, err);
  for (int i = 0; i < 2 && rc == 0; i++)
    if (err[i] && err[i] != ENOENT && err[i] != EBADF)
      rc = -err[i]; /* forgotten anyway: masks[] filters its events (K6) */
  return rc;
}

static int kqueue_ctl(void *state, int fd, unsigned old_mask,
                      unsigned new_mask) {
  kqueue_state *s = state;
  (void)old_mask; /* masks[] is the truth */
  if (fd < 0)
    return -EBADF;
  if (new_mask & ~(unsigned)KQ_INTEREST)
    return -EINVAL;
  if (!(new_mask & KQ_DIR))
    new_mask = 0;
  unsigned cur = fd < s->nmasks ? s->masks[fd] : 0;
  if (!cur) {
    if (!new_mask)
      return fcntl(fd, F_GETFD) < 0 ? -errno : -ENOENT;
    return kqueue_add(s, fd, new_mask);
  }
  if (!new_mask)
    return kqueue_del(s, fd);
  /* A modification is queued for the next wait (BATCHED); a refusal is
   * reported there as EVL_ERR. */
  int rc = kqueue_reserve(s, 4);
  if (rc < 0)
    return rc;
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

/* EV_EOF means something different per filter (kqueue(2)): on the read
 * filter the peer ended its write side (or the pipe's writer is gone): the
 * reader sees EOF, RDHUP; the writer may still write. On the write filter
 * our write side is gone (the peer closed, the pipe's reader went, or our
 * own shutdown(SHUT_WR)): the writer gets EPIPE; the reader may still read.
 * So neither wakes the other direction; HUP, which wakes both, is set by
 * the caller when both filters report EV_EOF. fflags with EV_EOF is a
 * pending socket error: ERR, for every registered direction. */
static uint32_t kqueue_map(const struct kevent *e, unsigned m) {
  uint32_t dir = m & KQ_DIR;
  uint32_t r;
  int eof = (e->flags & EV_EOF) != 0;
  if (e->filter == EVFILT_READ && (m & EVL_READ))
    r = EVL_READ | (eof ? EVL_RDHUP : 0u);
  else if (e->filter == EVFILT_WRITE && (m & EVL_WRITE))
    r = EVL_WRITE | (eof ? KQ_WEOF : 0u);
  else
    return 0;
  if (eof && e->fflags)
    r |= EVL_ERR | dir;
  return r;
}

/* Fills the eventlist from one kevent() result; returns the refusals. */
static int kqueue_collect(kqueue_state *s, int got, evl_event *out, int *k) {
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
        kqueue_merge(s, out, k, fd, EVL_ERR | (m & KQ_DIR));
      continue;
    }
    if (!(m & KQ_DIR))
      continue; /* deleted since: never report it (K6) */
    if ((m & KQ_DISARMED) && !s->slot[fd])
      continue; /* the other filter of a one-shot that already fired */
    uint32_t r = kqueue_map(e, m);
    if (!r)
      continue;
    kqueue_merge(s, out, k, fd, r);
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
  return refusals;
}

static int kqueue_wait(void *state, int64_t timeout_ns, evl_event *out,
                       int cap) {
  kqueue_state *s = state;
  if (cap <= 0 || !out)
    return -EINVAL;
  int k = 0;

  /* Refusals of queued changes take event slots; with more changes than
   * slots the kernel would stop applying them, so send those first. */
  if (s->nchanges > KQ_CHUNK || s->nchanges > cap - s->nfailed) {
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
    kqueue_merge(s, out, &k, fd, EVL_ERR | (m & KQ_DIR));
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
    int64_t sec = timeout_ns / 1000000000;
    ts.tv_sec = (time_t)(sec > KQ_MAX_SEC ? KQ_MAX_SEC : sec);
    ts.tv_nsec = sec > KQ_MAX_SEC ? 0 : (long)(timeout_ns % 1000000000);
    tsp = &ts;
  }
  for (int pass = 0; pass < 2; pass++) {
    if (k > 0)
      tsp = &zero; /* there is news already: do not block */
    int got = kevent(s->kq, s->changes, s->nchanges, s->evs, room, tsp);
    if (got < 0) {
      if (errno != EINTR && k == 0)
        return -errno;
      if (errno == EINTR)
        s->nchanges = 0; /* changes are applied before the sleep */
      break;
    }
    s->nchanges = 0;
    int refusals = kqueue_collect(s, got, out, &k);
    /* FreeBSD returns only the refusals, without scanning: scan again. */
    if (refusals == 0 || refusals < got)
      break;
    room = cap - k;
    if (room == 0)
      break;
  }

done:
  for (int i = 0; i < k; i++) {
    uint32_t ev = out[i].events;
    if ((ev & KQ_WEOF) && (ev & EVL_RDHUP))
      ev |= EVL_HUP | (s->masks[out[i].fd] & KQ_DIR);
    out[i].events = ev & ~(uint32_t)KQ_WEOF;
    s->slot[out[i].fd] = 0;
  }
  return k;
}

static int kqueue_forget_fd(void *state, int fd) {
  kqueue_state *s = state;
  if (fd < 0 || fd >= s->nmasks || !s->masks[fd])
    return 0;
  /* close() removes the fd's knotes itself. */
  kqueue_unqueue(s, fd);
  kqueue_set_mask(s, fd, 0);
  return 0;
}

/* A kqueue is not inherited by fork(): the child's number is closed or
 * already reused, so it is left alone. The whole interest set goes to a
 * fresh kqueue now, in chunks; refusals are reported by the next wait. */
static int kqueue_after_fork(void *state) {
  kqueue_state *s = state;
  s->open = 0;
  int rc = kqueue_open(s);
  if (rc < 0)
    return rc;
  s->nchanges = 0; /* deltas against the parent's kqueue */
  for (int fd = 0; fd <= s->maxfd; fd++) {
    unsigned m = s->masks[fd];
    if (!(m & KQ_DIR))
      continue;
    rc = kqueue_reserve(s, 4);
    if (rc < 0)
      return rc;
    kqueue_queue(s, fd, 0, m);
  }
  return kqueue_flush(s);
}

const evl_backend_ops evl__backend_kqueue = {
    .abi = EVL_BACKEND_ABI,
    .size = sizeof(evl_backend_ops),
    .name = "kqueue",
    .description = "BSD/macOS kqueue, modifications batched into kevent()",
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
