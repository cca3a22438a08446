/* api_fuzz.c — libFuzzer target: random sequences of the public loop API
 * (loops made and freed, call_soon/call_later/cancel, readers and writers on
 * pipes and socketpairs, closes with and without removal, runs, posts) on
 * the epoll, poll and select backends. Besides the sanitizers it checks
 * what the contract promises: a cancelled callback never runs, every call
 * returns 0, a documented error or a count, and nothing leaks an fd across
 * inputs. `make fuzz` builds it; FUZZ_TIME=s runs it on fuzz/corpus. */
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <evl/evl.h>

enum { FZ_LOOPS = 2, FZ_RECS = 128, FZ_PAIRS = 4, FZ_OPS = 256 };

/* One scheduled callback: cancelled means it must never run again. */
typedef struct fz_rec {
  evl_handle h;
  int loop, live, cancelled, runs;
} fz_rec;

typedef struct fz_pair {
  int fd[2]; /* -1 when closed */
  int watched[FZ_LOOPS];
} fz_pair;

static evl_loop *fz_loop[FZ_LOOPS];
static fz_rec fz_recs[FZ_RECS];
static fz_pair fz_pairs[FZ_PAIRS];
static const uint8_t *fz_in;
static size_t fz_len, fz_pos;

static unsigned fz_byte(void) {
  return fz_pos < fz_len ? fz_in[fz_pos++] : 0;
}

#define FZ_CHECK(cond)                                                         \
  do {                                                                         \
    if (!(cond))                                                               \
      __builtin_trap();                                                        \
  } while (0)

static void fz_quiet(const evl_error_info *info, void *arg) {
  (void)info, (void)arg;
}

static void fz_cb(void *arg) {
  fz_rec *r = arg;
  FZ_CHECK(!r->cancelled); /* S4: a cancelled callback never runs */
  FZ_CHECK(r->live);
  r->runs++;
  r->live = 0;
}

static void fz_noop(void *arg) {
  (void)arg;
}

static void fz_io(int fd, unsigned events, void *arg) {
  (void)arg;
  char buf[64];
  if (events & (EVL_READ | EVL_HUP | EVL_ERR))
    (void)!read(fd, buf, sizeof buf);
  if (events & EVL_WRITE)
    (void)!write(fd, "x", 1);
}

static void fz_close_pair(int i, int end) {
  if (fz_pairs[i].fd[end] >= 0)
    close(fz_pairs[i].fd[end]);
  fz_pairs[i].fd[end] = -1;
}

static void fz_free_loop(int l) {
  if (!fz_loop[l])
    return;
  FZ_CHECK(evl_loop_free(fz_loop[l]) == 0);
  fz_loop[l] = NULL;
  for (int i = 0; i < FZ_RECS; i++)
    if (fz_recs[i].loop == l)
      fz_recs[i].live = 0;
  for (int i = 0; i < FZ_PAIRS; i++)
    fz_pairs[i].watched[l] = 0;
}

static const char *const fz_backends[] = {"epoll", "poll", "select"};

static void fz_new_loop(int l) {
  if (fz_loop[l])
    return;
  evl_loop_config cfg;
  evl_loop_config_init(&cfg);
  cfg.backend = fz_backends[fz_byte() % 3];
  FZ_CHECK(evl_loop_new(&fz_loop[l], &cfg) == 0);
  FZ_CHECK(evl_set_error_handler(fz_loop[l], fz_quiet, NULL) == 0);
}

static fz_rec *fz_free_rec(void) {
  for (int i = 0; i < FZ_RECS; i++)
    if (!fz_recs[i].live)
      return &fz_recs[i];
  return NULL;
}

static void fz_schedule(int l, int later) {
  fz_rec *r = fz_free_rec();
  if (!r || !fz_loop[l])
    return;
  *r = (fz_rec){.loop = l, .live = 1};
  int rc = later ? evl_call_later(fz_loop[l], (int64_t)(fz_byte() % 4) * 250000,
                                  fz_cb, r, &r->h)
                 : evl_call_soon(fz_loop[l], fz_cb, r, &r->h);
  FZ_CHECK(rc == 0);
}

static void fz_cancel(int l) {
  if (!fz_loop[l])
    return;
  fz_rec *r = &fz_recs[fz_byte() % FZ_RECS];
  evl_handle h = fz_byte() & 1 ? r->h : r->h ^ (1ull << (fz_byte() % 64));
  int rc = evl_cancel(fz_loop[l], h);
  FZ_CHECK(rc == 0 || rc == EVL_EHANDLE);
  if (rc == 0) {
    /* Only a live callback of this very loop can be cancelled: a flipped
     * bit may name another one, never a spent or a foreign one. */
    fz_rec *q = NULL;
    for (int i = 0; i < FZ_RECS && !q; i++)
      if (fz_recs[i].live && fz_recs[i].loop == l && fz_recs[i].h == h)
        q = &fz_recs[i];
    FZ_CHECK(q != NULL);
    q->cancelled = 1;
    q->live = 0;
  }
}

static void fz_pair_open(int i) {
  if (fz_pairs[i].fd[0] >= 0 || fz_pairs[i].fd[1] >= 0)
    return;
  int fds[2];
  int rc = fz_byte() & 1
               ? pipe2(fds, O_NONBLOCK | O_CLOEXEC)
               : socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, fds);
  if (rc == 0) {
    fz_pairs[i].fd[0] = fds[0];
    fz_pairs[i].fd[1] = fds[1];
  }
}

static void fz_watch(int l, int i, int dir, int add) {
  if (!fz_loop[l])
    return;
  int fd = fz_pairs[i].fd[fz_byte() & 1];
  if (fd < 0)
    fd = 1000 + (int)(fz_byte() % 8); /* closed or never opened */
  int rc;
  if (add) {
    rc = dir ? evl_add_writer(fz_loop[l], fd, fz_io, NULL)
             : evl_add_reader(fz_loop[l], fd, fz_io, NULL);
    FZ_CHECK(rc == 0 || rc == -EBADF || rc == -EEXIST || rc == -EPERM ||
             rc == -ERANGE || rc == -ENOMEM);
  } else {
    rc = dir ? evl_remove_writer(fz_loop[l], fd)
             : evl_remove_reader(fz_loop[l], fd);
    FZ_CHECK(rc == 0 || rc == 1 || rc == -EBADF);
  }
}

static void fz_run(int l) {
  if (!fz_loop[l])
    return;
  /* A stop first: the iteration polls with a zero timeout (S7), so it
   * never blocks, and no untracked handle is made. */
  FZ_CHECK(evl_stop(fz_loop[l]) == 0);
  int rc = evl_run_once(fz_loop[l]);
  FZ_CHECK(rc == 0 || rc < 0); /* a backend error is a code, not a crash */
}

static void fz_reset(void) {
  for (int l = 0; l < FZ_LOOPS; l++)
    fz_free_loop(l);
  for (int i = 0; i < FZ_PAIRS; i++) {
    fz_close_pair(i, 0);
    fz_close_pair(i, 1);
  }
  memset(fz_recs, 0, sizeof fz_recs);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static int init;
  if (!init) {
    for (int i = 0; i < FZ_PAIRS; i++)
      fz_pairs[i].fd[0] = fz_pairs[i].fd[1] = -1;
    /* A write to a pipe whose reader is gone is EPIPE, as in any program
     * that writes to peers (asyncio ignores SIGPIPE too). */
    signal(SIGPIPE, SIG_IGN);
    init = 1;
  }
  fz_in = data;
  fz_len = size;
  fz_pos = 0;
  for (int op = 0; op < FZ_OPS && fz_pos < fz_len; op++) {
    unsigned b = fz_byte();
    int l = (int)(b >> 7) & 1, i = (int)(fz_byte() % FZ_PAIRS);
    switch (b & 15) {
    case 0:
      fz_new_loop(l);
      break;
    case 1:
      fz_free_loop(l);
      break;
    case 2:
      fz_schedule(l, 0);
      break;
    case 3:
      fz_schedule(l, 1);
      break;
    case 4:
      fz_cancel(l);
      break;
    case 5:
      fz_pair_open(i);
      break;
    case 6:
      fz_watch(l, i, 0, 1);
      break;
    case 7:
      fz_watch(l, i, 1, 1);
      break;
    case 8:
      fz_watch(l, i, (int)(b >> 4) & 1, 0);
      break;
    case 9:
      fz_close_pair(i, (int)(b >> 4) & 1);
      break; /* maybe watched */
    case 10:
      if (fz_pairs[i].fd[1] >= 0)
        (void)!write(fz_pairs[i].fd[1], "y", 1);
      break;
    case 11:
      fz_run(l);
      break;
    case 12:
      if (fz_loop[l])
        FZ_CHECK(evl_call_soon_threadsafe(fz_loop[l], fz_noop, NULL) == 0);
      break;
    case 13:
      if (fz_loop[l])
        FZ_CHECK(evl_stop(fz_loop[l]) == 0);
      break;
    case 14:
      if (fz_loop[l]) {
        FZ_CHECK(evl_loop_close(fz_loop[l]) == 0);
        FZ_CHECK(evl_call_soon(fz_loop[l], fz_noop, NULL, NULL) == EVL_ECLOSED);
        fz_free_loop(l);
      }
      break;
    default:
      fz_run(l);
      break;
    }
  }
  fz_reset();
  return 0;
}
