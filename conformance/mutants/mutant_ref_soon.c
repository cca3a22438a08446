/* mutant_ref_soon.c — the REF mutants' bugs in the ready queue: call_soon
 * and cancel wrapped at the ABI boundary over the reference core (its ops
 * in mutant_ref_base, set by mutant_ref.c): tokio's LIFO slot, one
 * callback per iteration, a cancel of a queued callback ignored, a call
 * from a foreign thread queued instead of refused. */
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>

#include "mutant.h"

#define base mutant_ref_base

/* lifo_slot: a callback queued by a running callback goes to a one-entry
 * slot and runs as soon as that callback returns, in the same batch (a
 * newer one takes the slot and the older stays in the queue); at most
 * three slot runs in a row, as tokio caps its own. Every call_soon callback
 * runs through lifo_run so that the slot is drained after it; the slot's
 * entry is taken out of the core's queue by cancelling its handle. */
typedef struct lifo_rec {
  evl_loop *loop;
  evl_cb cb;
  void *arg;
  evl_handle h;
  int used;
} lifo_rec;
static lifo_rec lifo_pool[4096];
static lifo_rec *lifo_slot_rec;
static int lifo_depth;

static void lifo_run(void *arg) {
  lifo_rec *r = arg;
  evl_cb cb = r->cb;
  void *cb_arg = r->arg;
  r->used = 0;
  lifo_depth++;
  cb(cb_arg);
  lifo_depth--;
  if (lifo_depth > 0)
    return;
  for (int runs = 0; lifo_slot_rec && runs < 3; runs++) {
    lifo_rec *s = lifo_slot_rec;
    lifo_slot_rec = NULL;
    if (base->cancel(s->loop, s->h) == 0)
      lifo_run(s);
  }
  lifo_slot_rec = NULL;
}

/* one_per_iteration: call_soon callbacks wait in a FIFO of the mutant's
 * and one pump, queued on the core, runs one of them per iteration (and
 * queues itself again while any wait), as setImmediate once did
 * (nodejs/node-v0.x-archive#5835). Their handles are the mutant's own. */
#define ONE_TAG ((evl_handle)1 << 63)
typedef struct one_rec {
  evl_loop *loop;
  evl_cb cb;
  void *arg;
  evl_handle h;
  struct one_rec *next;
} one_rec;
typedef struct one_q {
  evl_loop *loop;
  one_rec *head, *tail;
  int pumping;
} one_q;
static one_q one_qs[16];
static evl_handle one_next = 1;

static one_q *one_queue(evl_loop *loop) {
  one_q *free_q = NULL;
  for (size_t i = 0; i < sizeof one_qs / sizeof one_qs[0]; i++) {
    if (one_qs[i].loop == loop)
      return &one_qs[i];
    if (!one_qs[i].loop && !free_q)
      free_q = &one_qs[i];
  }
  if (free_q)
    *free_q = (one_q){.loop = loop};
  return free_q;
}

static void one_pump(void *arg) {
  one_q *q = arg;
  q->pumping = 0;
  one_rec *r = q->head;
  if (!r)
    return;
  q->head = r->next;
  if (!q->head)
    q->tail = NULL;
  if (q->head && base->call_soon(q->loop, one_pump, q, NULL) == 0)
    q->pumping = 1;
  evl_cb cb = r->cb;
  void *cb_arg = r->arg;
  free(r);
  cb(cb_arg);
}

static int one_call_soon(evl_loop *loop, evl_cb cb, void *arg,
                         evl_handle *out) {
  one_q *q = cb ? one_queue(loop) : NULL;
  one_rec *r = q ? calloc(1, sizeof *r) : NULL;
  if (!r)
    return base->call_soon(loop, cb, arg, out);
  if (!q->pumping) {
    int rc = base->call_soon(loop, one_pump, q, NULL);
    if (rc < 0) {
      free(r);
      return rc;
    }
    q->pumping = 1;
  }
  *r = (one_rec){.loop = loop, .cb = cb, .arg = arg, .h = ONE_TAG | one_next++};
  if (q->tail)
    q->tail->next = r;
  else
    q->head = r;
  q->tail = r;
  if (out)
    *out = r->h;
  return 0;
}

static int one_cancel(evl_loop *loop, evl_handle h) {
  if (!(h & ONE_TAG))
    return base->cancel(loop, h);
  one_q *q = one_queue(loop);
  for (one_rec **p = q ? &q->head : NULL; p && *p; p = &(*p)->next)
    if ((*p)->h == h) {
      one_rec *r = *p;
      *p = r->next;
      if (q->tail == r) {
        q->tail = NULL;
        for (one_rec *m = q->head; m; m = m->next)
          q->tail = m;
      }
      free(r);
      return 0;
    }
  return EVL_EHANDLE;
}

/* cancel_soon_ignored: the handles call_soon gave out; a cancel of one
 * says 0 and leaves the callback queued. */
static evl_handle soon_hs[4096];
static size_t nsoon_hs;

static int ref_soon_handle(evl_handle h) {
  for (size_t i = 0; h && i < nsoon_hs; i++)
    if (soon_hs[i] == h)
      return 1;
  return 0;
}

int mutant_ref_call_soon(evl_loop *loop, evl_cb cb, void *arg,
                         evl_handle *out) {
  if (ON(cancel_soon_ignored)) {
    evl_handle h = 0;
    int rc = base->call_soon(loop, cb, arg, &h);
    if (rc == 0 && nsoon_hs < sizeof soon_hs / sizeof soon_hs[0])
      soon_hs[nsoon_hs++] = h;
    if (rc == 0 && out)
      *out = h;
    return rc;
  }
  if (ON(foreign_soon_queued)) {
    /* A call from a foreign thread "helpfully" made thread-safe instead of
     * refused (Kludex/zuvloop#160; python/asyncio#154 added the check). */
    int rc = base->call_soon(loop, cb, arg, out);
    if (rc == -EPERM && cb &&
        (rc = base->call_soon_threadsafe(loop, cb, arg)) == 0 && out)
      *out = 0; /* no handle: a post cannot be cancelled */
    return rc;
  }
  if (ON(one_per_iteration))
    return one_call_soon(loop, cb, arg, out);
  lifo_rec *r = NULL;
  for (size_t i = 0; cb && i < sizeof lifo_pool / sizeof lifo_pool[0]; i++)
    if (!lifo_pool[i].used) {
      r = &lifo_pool[i];
      break;
    }
  if (!ON(lifo_slot) || !r)
    return base->call_soon(loop, cb, arg, out);
  *r = (lifo_rec){.loop = loop, .cb = cb, .arg = arg, .used = 1};
  int rc = base->call_soon(loop, lifo_run, r, &r->h);
  if (rc < 0) {
    r->used = 0;
    return rc;
  }
  if (out)
    *out = r->h;
  if (lifo_depth > 0)
    lifo_slot_rec = r;
  return 0;
}

int mutant_ref_cancel(evl_loop *loop, evl_handle h) {
  if (ON(cancel_soon_ignored) && ref_soon_handle(h))
    return 0; /* "already in the ready queue": said done, nothing done */
  if (ON(one_per_iteration))
    return one_cancel(loop, h);
  int rc = base->cancel(loop, h);
  if (ON(lifo_slot) && rc == 0)
    for (size_t i = 0; i < sizeof lifo_pool / sizeof lifo_pool[0]; i++)
      if (lifo_pool[i].used && lifo_pool[i].loop == loop &&
          lifo_pool[i].h == h) {
        lifo_pool[i].used = 0;
        if (lifo_slot_rec == &lifo_pool[i])
          lifo_slot_rec = NULL;
      }
  return rc;
}
