/* kqueue_stub.h — BSD kqueue declarations for hosts without <sys/event.h>:
 * the types and constants of FreeBSD's header, and kqueue()/kevent() that
 * fail with ENOSYS, so backends/kqueue.c compiles (and probes false) on
 * Linux, as nginx compiles its epoll module elsewhere against stubs. */
#ifndef EVL_KQUEUE_STUB_H
#define EVL_KQUEUE_STUB_H

#include <errno.h>
#include <stdint.h>
#include <time.h>

struct kevent {
  uintptr_t ident;      /* the fd */
  short filter;         /* EVFILT_* */
  unsigned short flags; /* EV_* */
  unsigned int fflags;  /* filter flags; with EV_EOF, the socket error */
  intptr_t data;        /* bytes ready, or the errno with EV_ERROR */
  void *udata;
};

#define EVFILT_READ (-1)
#define EVFILT_WRITE (-2)

#define EV_ADD 0x0001
#define EV_DELETE 0x0002
#define EV_ENABLE 0x0004
#define EV_DISABLE 0x0008
#define EV_ONESHOT 0x0010
#define EV_CLEAR 0x0020
#ifndef EVL_KQUEUE_STUB_NO_RECEIPT /* as on kernels without EV_RECEIPT */
#define EV_RECEIPT 0x0040
#endif
#define EV_DISPATCH 0x0080
#define EV_EOF 0x8000
#define EV_ERROR 0x4000

#define EV_SET(kevp, a, b, c, d, e, f)                                         \
  do {                                                                         \
    struct kevent *evl__kevp = (kevp);                                         \
    evl__kevp->ident = (a);                                                    \
    evl__kevp->filter = (short)(b);                                            \
    evl__kevp->flags = (unsigned short)(c);                                    \
    evl__kevp->fflags = (d);                                                   \
    evl__kevp->data = (e);                                                     \
    evl__kevp->udata = (f);                                                    \
  } while (0)

#ifdef EVL_KQUEUE_STUB_EXTERN
/* The unit test (conformance/unit/kqueue_unit.c) supplies a fake kernel. */
int kqueue(void);
int kevent(int kq, const struct kevent *changelist, int nchanges,
           struct kevent *eventlist, int nevents,
           const struct timespec *timeout);
#else
static inline int kqueue(void) {
  errno = ENOSYS;
  return -1;
}

static inline int kevent(int kq, const struct kevent *changelist, int nchanges,
                         struct kevent *eventlist, int nevents,
                         const struct timespec *timeout) {
  (void)kq;
  (void)changelist;
  (void)nchanges;
  (void)eventlist;
  (void)nevents;
  (void)timeout;
  errno = ENOSYS;
  return -1;
}
#endif

#endif
