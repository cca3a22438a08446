/* completion_int.h — the proactor's private state, shared by the emulation
 * over the loop ABI (completion.c) and the io_uring engine
 * (completion_uring.c). */
#ifndef EVL_COMPLETION_INT_H
#define EVL_COMPLETION_INT_H

#include <sys/socket.h>

#include "evl/completion.h"

enum {
  K_RECV,
  K_SEND,
  K_ACCEPT,
  K_CONNECT,
  K_READ,
  K_WRITE,
  K_MSRECV,
  K_MSACCEPT
};

typedef struct cop {
  struct cop *next;
  int kind, fd, started, completed;
  int inflight, cancelled; /* io_uring engine only */
  int plain;               /* io_uring engine: a recv done with its own SQE */
  char *buf;
  size_t len, done;
  off_t off;
  struct sockaddr *addr;
  socklen_t *addrlen;
  ssize_t result;
  evl_io_done cb;
  void *arg;
  uint32_t slot;
  socklen_t calen;
  /* Last: only a connect writes it, and a new operation zeroes what comes
   * before it (128 bytes fewer per operation). */
  struct sockaddr_storage caddr;
} cop;

typedef struct cq {
  cop *head, *tail;
} cq;

/* Per fd: queue 0 holds recv/accept, queue 1 send/connect; only the head
 * of a queue does I/O, which keeps each direction in submission order. */
typedef struct cfd {
  cq q[2];
  unsigned char watching[2];
  /* io_uring engine, multishot recv: the fd's armed request, the received
   * chunks nobody took yet (buffer ids + 1, 0 = none), and the end the
   * request reported (EOF 0 or -errno) once ms_done; plain_left: recvs to
   * do plainly into the caller's buffer before multishot again (the fd
   * carries large messages, or the buffers ran out). */
  struct cop *ms;
  uint16_t ch_head, ch_tail;
  unsigned char ms_done, plain_left;
  int ms_res;
  /* ... multishot accept: the armed request, fds accepted and not yet
   * taken by an evl_accept (oldest first), an error for the next one. */
  struct cop *msa;
  int *acc;
  int nacc, acc_cap, acc_err;
} cfd;

typedef struct cslot {
  cop *op;
  uint32_t gen, next_free;
} cslot;

struct evl_proactor {
  const evl_impl_ops *ops;
  evl_loop *loop;
  cfd *fds;
  int nfds;
  cslot *slots;
  uint32_t nslots, free_head; /* free_head: index + 1, 0 = none */
  cq done;                    /* completed, callback not yet run */
  struct evl__uring *ring;    /* NULL: emulated over readiness */
  evl_handle deliver_h;
  int deliver_pending, delivering, closing;
  int in_ring; /* delivering from the ring's reader: no call_soon needed */
  struct evl__mshot *ms; /* NULL: no multishot recv */
  cop *spare;            /* finished operations kept for the next ones */
  int nspare;
};

/* The io_uring engine (completion_uring.c): NULL ring means emulation. */
struct evl__uring;
int evl__uring_new(evl_proactor *p);
/* Starts the head of fd's queue dir (it is not in flight yet). */
void evl__uring_start(evl_proactor *p, cop *op);
/* 0 when op was in flight and will complete with -ECANCELED. */
int evl__uring_cancel(evl_proactor *p, cop *op);
/* Cancels everything in flight and waits until the kernel let go. */
void evl__uring_close(evl_proactor *p);
/* Multishot recv with a provided-buffer ring (completion_mshot.c), where the
 * kernel has them: 0 if set up, else the engine does one recv per op. */
int evl__ms_init(evl_proactor *p);
void evl__ms_fini(evl_proactor *p);
/* The head recv of fd: served from buffered chunks, the fd's end, or by
 * arming the fd's multishot request; 0 when it must be a plain recv. */
int evl__ms_recv(evl_proactor *p, cop *op);
/* The same for the head accept of a listening fd (no address wanted). */
int evl__ms_accept(evl_proactor *p, cop *op);
/* A plain recv of fd's ended with res. */
void evl__ms_plain_done(evl_proactor *p, cfd *f, ssize_t res);
/* A CQE of fd's multishot request (recv or accept). */
void evl__ms_cqe(evl_proactor *p, cop *ms, int res, unsigned flags);
/* fd is being closed: cancel its requests, give its chunks back, close
 * the connections accepted for it. */
void evl__ms_forget(evl_proactor *p, int fd);
/* Engine internals the multishot part uses. */
struct io_uring_sqe;
struct io_uring_sqe *evl__uring_sqe(evl_proactor *p);
struct io_uring *evl__uring_ring(evl_proactor *p);
void evl__uring_track(evl_proactor *p, cop *op); /* now in flight */
void evl__uring_set_ud(struct io_uring_sqe *sqe, const cop *op);
int evl__slot_take(evl_proactor *p, cop *op);
void evl__slot_drop(evl_proactor *p, cop *op);

/* Shared with the emulation: the kernel finished op with res (send: all of
 * it); pops it from its queue, records the result, starts the next head. */
void evl__op_finished(evl_proactor *p, cop *op, ssize_t res);
void evl__run_done(evl_proactor *p);

#endif
