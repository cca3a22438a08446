/* adapter_signal.c — the native adapters' signal handlers (S12), written
 * once: add, replace and remove through the hooks, which loop holds a
 * signal, and the disposition to put back. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "adapter.h"

/* ---- signals ----------------------------------------------------------- */
/* Signal dispositions are per process, so this table is too (one per
 * module, each module being its own copy of this file). */
static pthread_mutex_t sig_lock = PTHREAD_MUTEX_INITIALIZER;
static struct {
  int users;
  const void *owner; /* EVL__ADAPTER_SIG_PER_SIG */
  struct sigaction saved;
} sig_tab[NSIG];
static const void *sig_any_owner; /* EVL__ADAPTER_SIG_ONE_LOOP */
static int sig_any_users;

int evl__adapter_sig_check(int sig) {
  if (sig <= 0 || sig >= NSIG || sig == SIGKILL || sig == SIGSTOP)
    return -EINVAL;
  return 0;
}

int evl__adapter_sig_acquire(int sig, const void *loop, int mode) {
  int rc = 0;
  pthread_mutex_lock(&sig_lock);
  if (mode == EVL__ADAPTER_SIG_PER_SIG && sig_tab[sig].users &&
      sig_tab[sig].owner != loop)
    rc = -EBUSY;
  else if (mode == EVL__ADAPTER_SIG_ONE_LOOP && sig_any_users &&
           sig_any_owner != loop)
    rc = -EBUSY;
  else if (sig_tab[sig].users == 0 &&
           sigaction(sig, NULL, &sig_tab[sig].saved) < 0)
    rc = -errno;
  if (rc == 0) {
    sig_tab[sig].users++;
    sig_tab[sig].owner = loop;
    sig_any_users++;
    sig_any_owner = loop;
  }
  pthread_mutex_unlock(&sig_lock);
  return rc;
}

void evl__adapter_sig_release(int sig, int restore) {
  pthread_mutex_lock(&sig_lock);
  if (--sig_tab[sig].users == 0) {
    sig_tab[sig].owner = NULL;
    if (restore)
      sigaction(sig, &sig_tab[sig].saved, NULL);
  }
  if (--sig_any_users == 0)
    sig_any_owner = NULL;
  pthread_mutex_unlock(&sig_lock);
}

int evl__adapter_sig_add_check(evl_loop *loop, int sig, evl_cb cb) {
  int rc = evl__adapter_check(EVL__ADAPTER_BASE(loop));
  if (rc)
    return rc;
  if (!cb || evl__adapter_sig_check(sig) < 0)
    return -EINVAL;
  return 0;
}

int evl__adapter_add_signal_handler(evl_loop *loop, int sig, evl_cb cb,
                                    void *arg) {
  evl__adapter_base *b = EVL__ADAPTER_BASE(loop);
  int rc = evl__adapter_sig_add_check(loop, sig, cb);
  if (rc)
    return rc;
  evl__adapter_sig *s = b->sigs[sig];
  if (s) { /* replaces, as add_reader does */
    s->cb = cb;
    s->arg = arg;
    return 0;
  }
  if ((rc = evl__adapter_sig_acquire(sig, loop, b->hooks->sig_mode)) < 0)
    return rc;
  /* The library's callback runs from the loop only: the record is
   * complete before that. */
  if (!(s = b->hooks->sig_new(b, sig, &rc))) {
    evl__adapter_sig_release(sig, 1);
    return rc;
  }
  s->base = b;
  s->cb = cb;
  s->arg = arg;
  s->sig = sig;
  b->sigs[sig] = s;
  return 0;
}

void evl__adapter_sig_drop(evl__adapter_base *b, int sig) {
  b->hooks->sig_free(b, b->sigs[sig]);
  b->sigs[sig] = NULL;
  evl__adapter_sig_release(sig, b->hooks->sig_restore);
}

int evl__adapter_remove_signal_handler(evl_loop *loop, int sig) {
  evl__adapter_base *b = EVL__ADAPTER_BASE(loop);
  int rc = evl__adapter_check(b);
  if (rc)
    return rc;
  if (evl__adapter_sig_check(sig) < 0)
    return -EINVAL;
  if (!b->sigs[sig])
    return 0;
  evl__adapter_sig_drop(b, sig);
  return 1;
}
