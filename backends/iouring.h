/* iouring.h — what the iouring backend's two files share: the readiness
 * poller (iouring.c) and its ring's setup, fork and lending
 * (iouring_ring.c). Private to the module. */
#ifndef EVL_BACKENDS_IOURING_H
#define EVL_BACKENDS_IOURING_H

#include <stdint.h>

#include <liburing.h>

#include "evl/backend.h"
#include "wrap_common.h"

#pragma GCC visibility push(hidden)

#define IOURING_WAKE_FD 0xffffffffu /* the low half of the wake request */

typedef struct iouring_reg {
  uint32_t mask;     /* registered interest; 0 = not registered */
  uint32_t gen;      /* generation of the request in flight */
  uint8_t inflight;  /* a request with gen is queued or armed */
  uint8_t multishot; /* ... and it is a multishot one */
  uint8_t idle;      /* not re-armed until the next ctl (oneshot, error) */
  uint8_t dirty;     /* on the dirty list */
  uint8_t carried;   /* on the carry list */
  uint32_t pending;  /* multishot events that did not fit (carried) */
  wrap_slot out;     /* the fd's entry in out[] during this wait */
} iouring_reg;

typedef struct iouring_state {
  struct io_uring ring;
  int ring_ok;
  int multishot_ok;
  unsigned skip_flags; /* IOSQE_CQE_SKIP_SUCCESS if the kernel has it */
  uint32_t next_gen;
  uint32_t stamp;
  unsigned overflow_seen;
  iouring_reg *regs;
  int nregs;
  int *dirty;
  int ndirty, dirty_cap;
  int *carry; /* fired beyond the core's cap, oldest first */
  int ncarry, carry_cap;
  int wake_fd;
  uint32_t wake_gen; /* 0: wake request not armed */
  int woken;
  int woken_early; /* a pump consumed a wakeup: the next wait returns */
  /* The attached completion engine, if any. */
  void (*c_cqe)(void *ctx, uint32_t token, int32_t res, uint32_t flags);
  void *c_ctx;
  int c_ready; /* engine CQEs delivered, its fd not yet reported */
} iouring_state;

/* iouring_ring.c: the ring (the ops table's entries, and a wake CQE). */
int evl__iouring_probe(char *why, size_t len);
int evl__iouring_init(void *state, const evl_backend_config *cfg);
void evl__iouring_fini(void *state);
int evl__iouring_after_fork(void *state);
int evl__iouring_wake(void *state);
int evl__iouring_completion(void *state, evl_backend_completion *c);
void evl__iouring_wake_cqe(iouring_state *s, struct io_uring_cqe *cqe);

/* iouring.c: the poller (for fork's re-arm and the engine's pump). */
int evl__iouring_mark_dirty(iouring_state *s, iouring_reg *r, int fd);
int evl__iouring_harvest(iouring_state *s, evl_event *out, int cap, int n);

#pragma GCC visibility pop

#endif
