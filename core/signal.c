/* signal.c — add/remove_signal_handler (S12): sigaction plus a self-pipe per
 * loop, handlers run on the loop thread as ordinary callbacks. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <evl/evl.h>

#include "loop_int.h"

/*
 * Why a self-pipe and not signalfd. signalfd only sees a signal that is
 * blocked in every thread of the process; otherwise the kernel delivers it
 * to some thread's (default) handler and the fd never fires. A library
 * cannot block signals in threads it does not own (the application's, other
 * loops', libraries'), and a second loop's signalfd for the same signal
 * would race the first for each delivery — exactly the stealing S12
 * forbids. So, as libuv does: a sigaction handler, installed once per
 * signal, which marks a pending flag for every loop watching the signal and
 * writes one byte to that loop's pipe. The loop drains the pipe, swaps the
 * flags back to 0 and queues the handlers with call_soon.
 *
 * No loss: the flag is what carries the delivery; the byte is only the wake.
 * The handler writes only on the flag's 0 -> 1 edge, so a full pipe means a
 * wake is already pending and nothing is lost. Coalescing (several
 * deliveries, one call) is allowed by S12.
 *
 * The one process-wide table. A signal's disposition belongs to the
 * process, and the handler receives no context, so the handler must find
 * the watching loops in a global. It is kept minimal: `signal_watch` holds
 * one slot per (loop, signal) pair, and `signal_disp` the disposition each
 * signal had before its first watcher (restored when the last one goes).
 * add/remove take `signal_lock`; the handler takes no lock (it may
 * interrupt a thread holding it) and touches only atomics and write(2). A
 * slot's `busy` count lets remove wait until no handler is still using the
 * slot's fd before the loop closes it, so a byte never lands in a reused fd.
 */

#define SIGNAL_MAX_WATCHES 256

enum { SIGNAL_SLOT_FREE = 0, SIGNAL_SLOT_ACTIVE = 1 };

typedef struct signal_watch {
  atomic_int state; /* SIGNAL_SLOT_* */
  atomic_int sig;
  atomic_int wfd;
  atomic_int pending; /* a delivery not yet seen by the loop */
  atomic_int busy;    /* handlers inside this slot right now */
} signal_watch;

typedef struct signal_disp {
  int watchers;
  struct sigaction old;
} signal_disp;

static signal_watch signal_watch_tab[SIGNAL_MAX_WATCHES];
static signal_disp signal_disp_tab[NSIG];
static pthread_mutex_t signal_lock = PTHREAD_MUTEX_INITIALIZER;

/* Per-loop state, in the EVL__EXT_SIGNALS slot. */
typedef struct signal_handler {
  evl_cb cb;
  void *arg;
  int slot;          /* index in signal_watch_tab, -1 when none */
  evl_handle queued; /* call_soon of this handler not yet run, or 0 */
} signal_handler;

typedef struct signal_ext {
  evl_loop *loop;
  int rfd, wfd;
  signal_handler h[NSIG];
} signal_ext;

static void signal_on_signal(int sig) {
  int saved = errno;
  for (int i = 0; i < SIGNAL_MAX_WATCHES; i++) {
    signal_watch *w = &signal_watch_tab[i];
    if (atomic_load(&w->state) != SIGNAL_SLOT_ACTIVE)
      continue;
    atomic_fetch_add(&w->busy, 1);
    /* Re-checked after announcing ourselves: remove clears `state` before
     * it waits for `busy` to drop, so either it sees us or we see it. */
    if (atomic_load(&w->state) == SIGNAL_SLOT_ACTIVE &&
        atomic_load(&w->sig) == sig && !atomic_exchange(&w->pending, 1)) {
      char c = (char)sig;
      /* EAGAIN: the pipe is full, so the loop is already due to wake. */
      ssize_t n = write(atomic_load(&w->wfd), &c, 1);
      (void)n;
    }
    atomic_fetch_sub(&w->busy, 1);
  }
  errno = saved;
}

static int signal_valid(int sig) {
  return sig > 0 && sig < NSIG && sig != SIGKILL && sig != SIGSTOP;
}

/* Under signal_lock. Takes a slot and, for the signal's first watcher in
 * the process, installs the handler and remembers the old disposition. */
static int signal_watch_add(int sig, int wfd) {
  int slot = -1;
  for (int i = 0; i < SIGNAL_MAX_WATCHES; i++)
    if (atomic_load(&signal_watch_tab[i].state) == SIGNAL_SLOT_FREE &&
        atomic_load(&signal_watch_tab[i].busy) == 0) {
      slot = i;
      break;
    }
  if (slot < 0)
    return -ENOSPC;
  signal_disp *d = &signal_disp_tab[sig];
  if (d->watchers == 0) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = signal_on_signal;
    sigfillset(&sa.sa_mask); /* one handler at a time per thread */
    sa.sa_flags = SA_RESTART;
    if (sigaction(sig, &sa, &d->old) != 0)
      return -errno; /* e.g. EINVAL for the C library's reserved signals */
  }
  d->watchers++;
  signal_watch *w = &signal_watch_tab[slot];
  atomic_store(&w->sig, sig);
  atomic_store(&w->wfd, wfd);
  atomic_store(&w->pending, 0);
  atomic_store(&w->state, SIGNAL_SLOT_ACTIVE);
  return slot;
}

/* Under signal_lock. Frees the slot once no handler uses it; the last
 * watcher of a signal puts back the disposition found by the first. */
static void signal_watch_remove(int slot) {
  signal_watch *w = &signal_watch_tab[slot];
  int sig = atomic_load(&w->sig);
  atomic_store(&w->state, SIGNAL_SLOT_FREE);
  while (atomic_load(&w->busy) != 0)
    sched_yield(); /* a handler elsewhere is a few instructions from done */
  signal_disp *d = &signal_disp_tab[sig];
  if (--d->watchers == 0)
    sigaction(sig, &d->old, NULL);
}

/* On the loop thread: the queued handler runs as an ordinary callback. */
static void signal_dispatch(void *arg) {
  signal_handler *h = arg;
  h->queued = 0;
  if (h->cb)
    h->cb(h->arg);
}

static void signal_on_pipe(int fd, unsigned events, void *arg) {
  signal_ext *ext = arg;
  (void)events;
  char buf[256];
  while (read(fd, buf, sizeof buf) > 0)
    ;
  /* Flags after draining: a delivery racing this loop either sets a flag
   * seen below or leaves a byte for the next wake. */
  for (int sig = 1; sig < NSIG; sig++) {
    signal_handler *h = &ext->h[sig];
    if (h->slot < 0 || !atomic_exchange(&signal_watch_tab[h->slot].pending, 0))
      continue;
    if (h->queued)
      continue; /* coalesced with the call already queued */
    int rc = evl__queue_own_cb(ext->loop, signal_dispatch, h, &h->queued);
    if (rc < 0) {
      h->queued = 0;
      evl__loop_error(ext->loop, rc, "signal", "could not queue a handler", fd);
    }
  }
}

static void signal_handler_remove(signal_ext *ext, int sig) {
  signal_handler *h = &ext->h[sig];
  if (h->queued)
    (void)evl__cancel_own(ext->loop, h->queued);
  h->queued = 0;
  pthread_mutex_lock(&signal_lock);
  signal_watch_remove(h->slot);
  pthread_mutex_unlock(&signal_lock);
  h->slot = -1;
  h->cb = NULL;
  h->arg = NULL;
}

/* Close: every handler removed (restoring dispositions), pipe closed. */
static void signal_close_hook(evl_loop *loop, void *data) {
  signal_ext *ext = data;
  for (int sig = 1; sig < NSIG; sig++)
    if (ext->h[sig].slot >= 0)
      signal_handler_remove(ext, sig);
  /* The core is about to release its fd table; the reader goes first so
   * the backend never holds an fd closed under it. The result does not
   * matter: a closing loop may already refuse the call. */
  (void)evl__remove_own_reader(loop, ext->rfd);
  close(ext->rfd);
  close(ext->wfd);
  free(ext);
  evl__loop_set_ext(loop, EVL__EXT_SIGNALS, NULL);
}

static int signal_ext_get(evl_loop *loop, signal_ext **out) {
  signal_ext *ext = evl__loop_ext(loop, EVL__EXT_SIGNALS);
  if (ext) {
    *out = ext;
    return 0;
  }
  ext = calloc(1, sizeof *ext);
  if (!ext)
    return -ENOMEM;
  ext->loop = loop;
  for (int sig = 0; sig < NSIG; sig++)
    ext->h[sig].slot = -1;
  int fds[2];
  if (pipe2(fds, O_CLOEXEC | O_NONBLOCK) != 0) {
    int rc = -errno;
    free(ext);
    return rc;
  }
  ext->rfd = fds[0];
  ext->wfd = fds[1];
  int rc = evl__add_own_reader(loop, ext->rfd, signal_on_pipe, ext);
  if (rc < 0)
    goto fail;
  rc = evl__loop_add_close_hook(loop, signal_close_hook, ext);
  if (rc < 0) {
    (void)evl__remove_own_reader(loop, ext->rfd);
    goto fail;
  }
  evl__loop_set_ext(loop, EVL__EXT_SIGNALS, ext);
  *out = ext;
  return 0;
fail:
  close(fds[0]);
  close(fds[1]);
  free(ext);
  return rc;
}

/* In the child: the pipe is shared with the parent (a signal there would
 * be read here, and the reverse), so this loop gets a new one and its
 * watches in the process table write to it. */
int evl__signal_after_fork(evl_loop *loop) {
  signal_ext *ext = evl__loop_ext(loop, EVL__EXT_SIGNALS);
  if (!ext)
    return 0;
  pthread_mutex_init(&signal_lock, NULL); /* maybe held by a parent thread */
  int fds[2];
  if (pipe2(fds, O_CLOEXEC | O_NONBLOCK) != 0)
    return -errno;
  (void)evl__remove_own_reader(loop, ext->rfd);
  int rc = evl__add_own_reader(loop, fds[0], signal_on_pipe, ext);
  if (rc < 0) {
    close(fds[0]);
    close(fds[1]);
    return rc;
  }
  for (int i = 0; i < SIGNAL_MAX_WATCHES; i++)
    if (atomic_load(&signal_watch_tab[i].wfd) == ext->wfd)
      atomic_store(&signal_watch_tab[i].wfd, fds[1]);
  close(ext->rfd);
  close(ext->wfd);
  ext->rfd = fds[0];
  ext->wfd = fds[1];
  return 0;
}

int evl_add_signal_handler(evl_loop *loop, int sig, evl_cb cb, void *arg) {
  int rc = evl__loop_check(loop);
  if (rc < 0)
    return rc;
  if (!signal_valid(sig) || !cb)
    return -EINVAL;
  /* The C library keeps some numbers for itself (glibc: 32, 33): ask
   * before the pipe is made, so a refused number leaves nothing behind. */
  struct sigaction cur;
  if (sigaction(sig, NULL, &cur) != 0)
    return -errno;
  signal_ext *ext = NULL;
  rc = signal_ext_get(loop, &ext);
  if (rc < 0)
    return rc;
  signal_handler *h = &ext->h[sig];
  if (h->slot >= 0) {
    /* Adding again replaces the callback, as asyncio does. */
    h->cb = cb;
    h->arg = arg;
    return 0;
  }
  pthread_mutex_lock(&signal_lock);
  rc = signal_watch_add(sig, ext->wfd);
  pthread_mutex_unlock(&signal_lock);
  if (rc < 0)
    return rc;
  h->slot = rc;
  h->cb = cb;
  h->arg = arg;
  h->queued = 0;
  return 0;
}

int evl_remove_signal_handler(evl_loop *loop, int sig) {
  int rc = evl__loop_check(loop);
  if (rc < 0)
    return rc;
  if (!signal_valid(sig))
    return -EINVAL;
  signal_ext *ext = evl__loop_ext(loop, EVL__EXT_SIGNALS);
  if (!ext || ext->h[sig].slot < 0)
    return 0;
  signal_handler_remove(ext, sig);
  return 1;
}
