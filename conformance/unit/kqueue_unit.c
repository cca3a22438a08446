/* kqueue_unit.c — backends/kqueue.c driven by a fake kqueue kernel.
 *
 * kqueue cannot run on Linux, so this links the backend against kqueue()
 * and kevent() written here (backends/compat/kqueue_stub.h declares them
 * with EVL_KQUEUE_STUB_EXTERN). The fake keeps knotes per (fd, filter) and
 * answers as FreeBSD's kqueue(2) does: changes applied in order; a refusal
 * or an EV_RECEIPT answers with an EV_ERROR entry while there is room,
 * else kevent() fails with that errno; entries from the changelist are
 * returned without scanning for events; EV_CLEAR consumes an edge,
 * EV_DISPATCH disables after one event. Like macOS it refuses tv_sec above
 * INT32_MAX, and like an implementation may, it takes at most
 * FK_MAX_NCHANGES changes per call. Readiness and EV_EOF/fflags are set by
 * each test. Built twice: with EV_RECEIPT and without it
 * (EVL_KQUEUE_STUB_NO_RECEIPT), as some kernels lack it. Real fds
 * (socketpairs, a regular file) back the idents so fstat() and fcntl()
 * answer truthfully. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <evl/backend.h>

#include "../../backends/compat/kqueue_stub.h"

extern const evl_backend_ops evl__backend_kqueue;

enum { FK_MAXFD = 8192, FK_MAX_NCHANGES = 512, UT_CAP = 64 };

typedef struct fk_knote {
  int on, enabled, clear, dispatch;
  int ready;           /* set by the test: the filter would fire */
  unsigned short eof;  /* EV_EOF or 0, returned with the event */
  unsigned int fflags; /* returned with the event */
  int refuse;          /* errno for an EV_ADD of this filter, or 0 */
} fk_knote;

static struct {
  int kq;                   /* the fake kqueue's number (/dev/null) */
  fk_knote kn[FK_MAXFD][2]; /* [fd][0 read, 1 write] */
  int calls, max_nchanges;  /* kevent() calls and the largest list */
  int fail_errno;           /* next kevent() fails with it at once */
  int saw_timeout, ts_null; /* the last timeout passed */
  struct timespec ts;
} fk;

int kqueue(void) {
  int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
  if (fd >= 0) {
    memset(fk.kn, 0, sizeof fk.kn); /* a new kqueue holds no knote */
    fk.kq = fd;
  }
  return fd;
}

static fk_knote *fk_at(uintptr_t ident, short filter) {
  if (ident >= FK_MAXFD || (filter != EVFILT_READ && filter != EVFILT_WRITE))
    return NULL;
  return &fk.kn[ident][filter == EVFILT_READ ? 0 : 1];
}

/* One change, as kqueue_register does it: 0 or an errno. */
static int fk_apply(const struct kevent *c) {
  fk_knote *k = fk_at(c->ident, c->filter);
  if (!k)
    return EINVAL;
  if (fcntl((int)c->ident, F_GETFD) < 0)
    return EBADF;
  if (c->flags & EV_DELETE) {
    if (!k->on)
      return ENOENT;
    k->on = 0;
    return 0;
  }
  if (c->flags & EV_ADD) {
    if (k->refuse)
      return k->refuse;
    if (!k->on) { /* modes are fixed when the knote is created */
      k->on = k->enabled = 1;
      k->clear = (c->flags & EV_CLEAR) != 0;
      k->dispatch = (c->flags & EV_DISPATCH) != 0;
    }
  } else if (!k->on) {
    return ENOENT;
  }
  if (c->flags & EV_ENABLE)
    k->enabled = 1;
  if (c->flags & EV_DISABLE)
    k->enabled = 0;
  return 0;
}

int kevent(int kq, const struct kevent *ch, int nch, struct kevent *ev, int nev,
           const struct timespec *ts) {
  fk.calls++;
  if (nch > fk.max_nchanges)
    fk.max_nchanges = nch;
  if (kq != fk.kq) {
    errno = EBADF;
    return -1;
  }
  if (fk.fail_errno) { /* e.g. EINTR or ENOMEM: nothing returned */
    errno = fk.fail_errno;
    fk.fail_errno = 0;
    return -1;
  }
  if (nch > FK_MAX_NCHANGES ||
      (ts && (ts->tv_sec < 0 || ts->tv_sec > INT32_MAX || ts->tv_nsec < 0 ||
              ts->tv_nsec >= 1000000000))) {
    errno = EINVAL;
    return -1;
  }
  int out = 0;
  for (int i = 0; i < nch; i++) {
    int err = fk_apply(&ch[i]);
    int receipt = 0;
#ifdef EV_RECEIPT
    receipt = (ch[i].flags & EV_RECEIPT) != 0;
#endif
    if (!err && !receipt)
      continue;
    if (nev == 0) { /* FreeBSD: no room stops the list here */
      if (!err)
        return out;
      errno = err;
      return -1;
    }
    ev[out] = ch[i];
    ev[out].flags = EV_ERROR;
    ev[out].data = err;
    out++;
    nev--;
  }
  if (out > 0)
    return out; /* FreeBSD scans only when the changelist said nothing */
  if (nev > 0) {
    fk.saw_timeout = 1;
    fk.ts_null = ts == NULL;
    if (ts)
      fk.ts = *ts;
  }
  for (int fd = 0; fd < FK_MAXFD && out < nev; fd++)
    for (int f = 0; f < 2 && out < nev; f++) {
      fk_knote *k = &fk.kn[fd][f];
      if (!k->on || !k->enabled || !k->ready)
        continue;
      EV_SET(&ev[out], (uintptr_t)fd, f ? EVFILT_WRITE : EVFILT_READ, k->eof,
             k->fflags, 1, NULL);
      out++;
      if (k->clear)
        k->ready = 0; /* the edge is consumed */
      if (k->dispatch)
        k->enabled = 0;
    }
  return out; /* a real kernel would sleep here when out == 0 */
}

/* ---------------------------------------------------------------- harness */
static int ut_failed_checks, ut_test_failed_checks;

/* Prints the first few failures of a test; the rest are only counted. */
#define CHECK(cond, fmt, ...)                                                  \
  do {                                                                         \
    if (!(cond)) {                                                             \
      ut_failed_checks++;                                                      \
      if (ut_test_failed_checks++ < 6)                                         \
        printf("    FAIL %s:%d: " fmt "\n", __FILE__, __LINE__, __VA_ARGS__);  \
    }                                                                          \
  } while (0)
#define CHECK_EQ(what, expected, actual)                                       \
  do {                                                                         \
    long long e_ = (long long)(expected), a_ = (long long)(actual);            \
    CHECK(e_ == a_, "%s: expected %lld (0x%llx), actual %lld (0x%llx)", what,  \
          e_, (unsigned long long)e_, a_, (unsigned long long)a_);             \
  } while (0)

typedef struct ut_be {
  const evl_backend_ops *ops;
  void *st;
  evl_event out[UT_CAP];
} ut_be;

static void ut_open(ut_be *b) {
  b->ops = &evl__backend_kqueue;
  b->st = calloc(1, b->ops->state_size);
  evl_backend_config cfg = {sizeof cfg, 0, 0};
  int rc = b->st ? b->ops->init(b->st, &cfg) : -ENOMEM;
  CHECK_EQ("init", 0, rc);
}

static void ut_close(ut_be *b) {
  b->ops->fini(b->st);
  free(b->st);
}

static int ut_wait(ut_be *b, int64_t timeout_ns, int cap) {
  return b->ops->wait(b->st, timeout_ns, b->out, cap);
}

/* The bits reported for fd by the last wait that returned n. */
static uint32_t ut_bits(const ut_be *b, int n, int fd) {
  uint32_t r = 0;
  for (int i = 0; i < n; i++)
    if (b->out[i].fd == fd)
      r |= b->out[i].events;
  return r;
}

/* What the core turns into a reader / writer callback (core/loop_run.c). */
#define UT_WAKES_READER (EVL_READ | EVL_ERR | EVL_HUP | EVL_RDHUP)
#define UT_WAKES_WRITER (EVL_WRITE | EVL_ERR | EVL_HUP)

static void ut_socketpair(int sv[2]) {
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) {
    printf("socketpair: %s\n", strerror(errno));
    exit(2);
  }
}

static void ut_ready(int fd, short filter, unsigned short eof,
                     unsigned fflags) {
  fk_knote *k = fk_at((uintptr_t)fd, filter);
  k->ready = 1;
  k->eof = eof;
  k->fflags = fflags;
}

/* ---------------------------------------------------------------- tests */

/* S6/K1: without FILES, a regular file is refused by ctl, nothing stays. */
static void t_regular_file_refused(void) {
  ut_be b;
  char path[] = "/tmp/evl-kq-unit-XXXXXX";
  int f = mkostemp(path, O_CLOEXEC);
  CHECK(f >= 0, "mkostemp: %s", strerror(errno));
  unlink(path);
  ut_open(&b);
  CHECK(!(b.ops->features & EVL_BF_FILES), "%s", "kqueue declares no FILES");
  int rc = b.ops->ctl(b.st, f, 0, EVL_READ);
  CHECK(rc < 0, "ctl add of a regular file: expected < 0, actual %d", rc);
  CHECK_EQ("knote left for the refused regular file", 0,
           fk_at((uintptr_t)f, EVFILT_READ)->on);
  CHECK_EQ("second add refused the same way", rc,
           b.ops->ctl(b.st, f, 0, EVL_READ));
  CHECK_EQ("events with nothing registered", 0, ut_wait(&b, 0, UT_CAP));
  ut_close(&b);
  close(f);
}

/* The peer's half-close is EV_EOF on the read filter: the reader sees
 * READ|RDHUP; a writer whose buffer is full is not woken (epoll and poll
 * give it nothing either), however often the loop waits. */
static void t_read_eof_is_half_close(void) {
  ut_be b;
  int sv[2], writer_wakes = 0;
  ut_socketpair(sv);
  ut_open(&b);
  CHECK_EQ("ctl add READ|WRITE", 0,
           b.ops->ctl(b.st, sv[0], 0, EVL_READ | EVL_WRITE));
  ut_ready(sv[0], EVFILT_READ, EV_EOF, 0);
  for (int i = 0; i < 5; i++) {
    uint32_t ev = ut_bits(&b, ut_wait(&b, 0, UT_CAP), sv[0]);
    CHECK_EQ("bits for EV_EOF on the read filter (peer half-closed)",
             EVL_READ | EVL_RDHUP, ev);
    writer_wakes += (ev & UT_WAKES_WRITER) != 0;
  }
  CHECK_EQ("writer wake-ups in 5 waits after the peer's half-close", 0,
           writer_wakes);
  ut_close(&b);
  close(sv[0]);
  close(sv[1]);
}

/* Our own shutdown(SHUT_WR) is EV_EOF on the write filter: the writer
 * learns (EPIPE on write); the reader is never woken by it. */
static void t_write_eof_no_reader_wake(void) {
  ut_be b;
  int sv[2], reader_wakes = 0;
  ut_socketpair(sv);
  ut_open(&b);
  CHECK_EQ("ctl add READ|WRITE", 0,
           b.ops->ctl(b.st, sv[0], 0, EVL_READ | EVL_WRITE));
  ut_ready(sv[0], EVFILT_WRITE, EV_EOF, 0);
  for (int i = 0; i < 5; i++) {
    uint32_t ev = ut_bits(&b, ut_wait(&b, 0, UT_CAP), sv[0]);
    CHECK_EQ("bits for EV_EOF on the write filter (local SHUT_WR)", EVL_WRITE,
             ev);
    reader_wakes += (ev & UT_WAKES_READER) != 0;
  }
  CHECK_EQ("reader wake-ups in 5 waits after a local shutdown(SHUT_WR)", 0,
           reader_wakes);
  ut_close(&b);
  close(sv[0]);
  close(sv[1]);
}

/* EV_EOF on both filters is a hang-up; with a socket error in fflags it is
 * an error: both wake every registered direction. */
static void t_both_eof_and_error(void) {
  ut_be b;
  int sv[2];
  ut_socketpair(sv);
  ut_open(&b);
  CHECK_EQ("ctl add READ|WRITE", 0,
           b.ops->ctl(b.st, sv[0], 0, EVL_READ | EVL_WRITE));
  ut_ready(sv[0], EVFILT_READ, EV_EOF, 0);
  ut_ready(sv[0], EVFILT_WRITE, EV_EOF, 0);
  CHECK_EQ("bits for EV_EOF on both filters",
           EVL_READ | EVL_WRITE | EVL_RDHUP | EVL_HUP,
           ut_bits(&b, ut_wait(&b, 0, UT_CAP), sv[0]));
  fk_at((uintptr_t)sv[0], EVFILT_WRITE)->ready = 0;
  ut_ready(sv[0], EVFILT_READ, EV_EOF, ECONNRESET);
  uint32_t ev = ut_bits(&b, ut_wait(&b, 0, UT_CAP), sv[0]);
  CHECK_EQ("ERR for EV_EOF with a socket error in fflags", EVL_ERR,
           ev & EVL_ERR);
  CHECK_EQ("directions woken by a socket error", EVL_READ | EVL_WRITE,
           ev & (EVL_READ | EVL_WRITE));
  CHECK_EQ("ctl delete", 0, b.ops->ctl(b.st, sv[0], EVL_READ | EVL_WRITE, 0));
  ut_close(&b);
  close(sv[0]);
  close(sv[1]);
}

/* Any timeout reaches kevent() as a timespec macOS accepts. */
static void t_timeouts(void) {
  static const struct {
    int64_t ns;
    long long sec, nsec;
  } cases[] = {{0, 0, 0},
               {1500000000, 1, 500000000},
               {(int64_t)INT32_MAX * 1000000000 + 999, INT32_MAX, 999},
               {(int64_t)INT32_MAX * 1000000000 + 1000000000, INT32_MAX, 0},
               {INT64_MAX, INT32_MAX, 0}};
  ut_be b;
  ut_open(&b);
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    fk.saw_timeout = 0;
    int n = ut_wait(&b, cases[i].ns, UT_CAP);
    char what[96];
    snprintf(what, sizeof what, "wait(%lld ns) result", (long long)cases[i].ns);
    CHECK_EQ(what, 0, n);
    snprintf(what, sizeof what, "wait(%lld ns) tv_sec", (long long)cases[i].ns);
    CHECK_EQ(what, cases[i].sec, fk.saw_timeout ? fk.ts.tv_sec : -1);
    snprintf(what, sizeof what, "wait(%lld ns) tv_nsec",
             (long long)cases[i].ns);
    CHECK_EQ(what, cases[i].nsec, fk.saw_timeout ? fk.ts.tv_nsec : -1);
  }
  fk.saw_timeout = 0;
  ut_wait(&b, -1, UT_CAP);
  CHECK_EQ("wait(-1) passes a NULL timeout", 1, fk.saw_timeout && fk.ts_null);
  ut_close(&b);
}

/* A refused add is ctl's answer, with nothing left registered; a delete
 * reaches the kernel before ctl returns, so the fd may be closed. */
static void t_add_refused_delete_at_once(void) {
  ut_be b;
  int sv[2];
  ut_socketpair(sv);
  ut_open(&b);
  fk_at((uintptr_t)sv[0], EVFILT_WRITE)->refuse = ENODEV;
  CHECK_EQ("ctl add READ|WRITE, write filter refused", -ENODEV,
           b.ops->ctl(b.st, sv[0], 0, EVL_READ | EVL_WRITE));
  CHECK_EQ("read knote left after the refused add", 0,
           fk_at((uintptr_t)sv[0], EVFILT_READ)->on);
  ut_ready(sv[0], EVFILT_READ, 0, 0);
  CHECK_EQ("events after the refused add", 0, ut_wait(&b, 0, UT_CAP));
  fk_at((uintptr_t)sv[0], EVFILT_WRITE)->refuse = 0;
  CHECK_EQ("ctl add READ once the kernel accepts", 0,
           b.ops->ctl(b.st, sv[0], 0, EVL_READ));
  CHECK_EQ("read knote right after the add", 1,
           fk_at((uintptr_t)sv[0], EVFILT_READ)->on);
  CHECK_EQ("ctl delete", 0, b.ops->ctl(b.st, sv[0], EVL_READ, 0));
  CHECK_EQ("read knote right after the delete (before any wait)", 0,
           fk_at((uintptr_t)sv[0], EVFILT_READ)->on);
  CHECK_EQ("ctl delete of a gone fd", -ENOENT,
           b.ops->ctl(b.st, sv[0], EVL_READ, 0));
  ut_close(&b);
  close(sv[0]);
  close(sv[1]);
}

/* A refused modification comes back as an EV_ERROR entry inside wait;
 * FreeBSD then returns without scanning, so the backend must scan again
 * and still report the fd that is ready. */
static void t_error_entries_then_scan(void) {
  ut_be b;
  int a[2], c[2];
  ut_socketpair(a);
  ut_socketpair(c);
  ut_open(&b);
  CHECK_EQ("ctl add READ (a)", 0, b.ops->ctl(b.st, a[0], 0, EVL_READ));
  CHECK_EQ("ctl add READ (c)", 0, b.ops->ctl(b.st, c[0], 0, EVL_READ));
  fk_at((uintptr_t)a[0], EVFILT_WRITE)->refuse = ENODEV;
  CHECK_EQ("ctl modify READ -> READ|WRITE (queued)", 0,
           b.ops->ctl(b.st, a[0], EVL_READ, EVL_READ | EVL_WRITE));
  ut_ready(c[0], EVFILT_READ, 0, 0);
  int n = ut_wait(&b, 0, UT_CAP);
  CHECK_EQ("ERR for the refused modification", EVL_ERR,
           ut_bits(&b, n, a[0]) & EVL_ERR);
  CHECK_EQ("READ for the ready fd in the same wait", EVL_READ,
           ut_bits(&b, n, c[0]));
  /* kevent() failing outright: EINTR is no events, anything else an error. */
  fk.fail_errno = EINTR;
  CHECK_EQ("wait when kevent() fails with EINTR", 0, ut_wait(&b, 0, UT_CAP));
  fk.fail_errno = ENOMEM;
  CHECK_EQ("wait when kevent() fails with ENOMEM", -ENOMEM,
           ut_wait(&b, 0, UT_CAP));
  ut_close(&b);
  close(a[0]), close(a[1]), close(c[0]), close(c[1]);
}

/* Changes sent outside the wait must not collect events: an edge consumed
 * there would be lost. Two queued changes and cap 1 force such a send. */
static void t_flush_loses_no_event(void) {
  ut_be b;
  int a[2], c[2];
  ut_socketpair(a);
  ut_socketpair(c);
  ut_open(&b);
  CHECK_EQ("ctl add READ|ET (a)", 0,
           b.ops->ctl(b.st, a[0], 0, EVL_READ | EVL_ET));
  CHECK_EQ("ctl add READ (c)", 0, b.ops->ctl(b.st, c[0], 0, EVL_READ));
  CHECK_EQ("ctl modify (c) READ -> READ|WRITE", 0,
           b.ops->ctl(b.st, c[0], EVL_READ, EVL_READ | EVL_WRITE));
  CHECK_EQ("ctl modify (c) READ|WRITE -> READ|ET", 0,
           b.ops->ctl(b.st, c[0], EVL_READ | EVL_WRITE, EVL_READ | EVL_ET));
  ut_ready(a[0], EVFILT_READ, 0, 0);
  int n = ut_wait(&b, 0, 1);
  CHECK_EQ("edge-triggered READ reported by wait(cap 1) after a send", EVL_READ,
           ut_bits(&b, n, a[0]));
  CHECK_EQ("write knote of (c) after the modifications", 0,
           fk_at((uintptr_t)c[0], EVFILT_WRITE)->on);
  ut_close(&b);
  close(a[0]), close(a[1]), close(c[0]), close(c[1]);
}

/* One-shot interest: one event disarms the whole fd, as with epoll, until
 * ctl re-arms it; the other filter firing later must not leak through. */
static void t_oneshot_disarms_fd(void) {
  ut_be b;
  int sv[2];
  const unsigned mask = EVL_READ | EVL_WRITE | EVL_ONESHOT;
  ut_socketpair(sv);
  ut_open(&b);
  CHECK_EQ("ctl add READ|WRITE|ONESHOT", 0, b.ops->ctl(b.st, sv[0], 0, mask));
  ut_ready(sv[0], EVFILT_READ, 0, 0);
  CHECK_EQ("first wait: READ", EVL_READ,
           ut_bits(&b, ut_wait(&b, 0, UT_CAP), sv[0]));
  ut_ready(sv[0], EVFILT_WRITE, 0, 0);
  CHECK_EQ("second wait, now writable too, before re-arming", 0,
           ut_bits(&b, ut_wait(&b, 0, UT_CAP), sv[0]));
  CHECK_EQ("ctl re-arm (modify to the same mask)", 0,
           b.ops->ctl(b.st, sv[0], mask, mask));
  uint32_t ev = ut_bits(&b, ut_wait(&b, 0, UT_CAP), sv[0]);
  CHECK_EQ("wait after re-arming: READ and WRITE", EVL_READ | EVL_WRITE,
           ev & (EVL_READ | EVL_WRITE));
  CHECK_EQ("wait after that, not re-armed", 0,
           ut_bits(&b, ut_wait(&b, 0, UT_CAP), sv[0]));
  ut_close(&b);
  close(sv[0]);
  close(sv[1]);
}

/* Over 10 000 queued changes (modifications of many fds, then after_fork
 * re-registering all) all reach the kernel, no call larger than the fake
 * takes. */
static void t_many_changes_chunked(void) {
  struct rlimit rl;
  int want = 2600;
  rlim_t need = (rlim_t)want + 64;
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < need) {
    rl.rlim_cur = rl.rlim_max < need ? rl.rlim_max : need;
    setrlimit(RLIMIT_NOFILE, &rl);
  }
  ut_be b;
  int sv[2], fds[2600], n = 0;
  ut_socketpair(sv);
  ut_open(&b);
  while (n < want) {
    int d = fcntl(sv[0], F_DUPFD_CLOEXEC, 0);
    if (d < 0 || d >= FK_MAXFD)
      break;
    fds[n++] = d;
  }
  CHECK(n >= 2000, "fds for the test: expected >= 2000, actual %d", n);
  fk.max_nchanges = 0;
  long changes = 0;
  for (int i = 0; i < n; i++)
    CHECK_EQ("ctl add READ", 0, b.ops->ctl(b.st, fds[i], 0, EVL_READ));
  for (int i = 0; i < n; i++) { /* each: delete READ, add READ and WRITE */
    CHECK_EQ("ctl modify READ -> READ|WRITE|ET", 0,
             b.ops->ctl(b.st, fds[i], EVL_READ, EVL_READ | EVL_WRITE | EVL_ET));
    changes += 3;
  }
  CHECK_EQ("after_fork", 0, b.ops->after_fork(b.st));
  changes += 2L * n;
  CHECK(changes > 10000, "changes queued: expected > 10000, actual %ld",
        changes);
  ut_wait(&b, 0, UT_CAP);
  int missing = 0;
  for (int i = 0; i < n; i++) {
    fk_knote *r = fk_at((uintptr_t)fds[i], EVFILT_READ);
    fk_knote *w = fk_at((uintptr_t)fds[i], EVFILT_WRITE);
    missing += !(r->on && r->clear && w->on && w->clear);
  }
  CHECK_EQ("fds whose READ|WRITE|ET knotes did not reach the kernel", 0,
           missing);
  CHECK(fk.max_nchanges <= FK_MAX_NCHANGES,
        "largest changelist in one kevent(): expected <= %d, actual %d",
        FK_MAX_NCHANGES, fk.max_nchanges);
  ut_close(&b);
  for (int i = 0; i < n; i++)
    close(fds[i]);
  close(sv[0]);
  close(sv[1]);
}

#define UT_TESTS(X)                                                            \
  X(t_regular_file_refused)                                                    \
  X(t_read_eof_is_half_close)                                                  \
  X(t_write_eof_no_reader_wake)                                                \
  X(t_both_eof_and_error)                                                      \
  X(t_timeouts)                                                                \
  X(t_add_refused_delete_at_once)                                              \
  X(t_error_entries_then_scan)                                                 \
  X(t_flush_loses_no_event)                                                    \
  X(t_oneshot_disarms_fd)                                                      \
  X(t_many_changes_chunked)

int main(void) {
  static const struct {
    const char *name;
    void (*fn)(void);
  } tests[] = {
#define UT_ENTRY(fn) {#fn, fn},
      UT_TESTS(UT_ENTRY)
#undef UT_ENTRY
  };
#ifdef EV_RECEIPT
  const char *variant = "with EV_RECEIPT";
#else
  const char *variant = "without EV_RECEIPT";
#endif
  int passed = 0, failed = 0;
  printf("kqueue unit tests (fake kernel, %s):\n", variant);
  for (size_t i = 0; i < sizeof tests / sizeof tests[0]; i++) {
    int before = ut_failed_checks;
    ut_test_failed_checks = 0;
    tests[i].fn();
    int ok = ut_failed_checks == before;
    if (ut_test_failed_checks > 6)
      printf("    ... and %d more failed checks\n", ut_test_failed_checks - 6);
    printf("  %s %s\n", ok ? "PASS" : "FAIL", tests[i].name);
    ok ? passed++ : failed++;
  }
  printf("kqueue-unit: %d passed, %d failed\n", passed, failed);
  return failed ? 1 : 0;
}
