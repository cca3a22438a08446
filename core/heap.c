/* heap.c — the timer heap: 4-ary, (deadline, seq) ordered, O(log n) removal.
 *
 * 4-ary rather than binary because a sift-down then touches one cache line
 * of children per level and the tree is half as deep; libev measured the
 * same. Each slot remembers its heap index so cancel needs no search. */
#include <errno.h>
#include <stdlib.h>

#include "loop.h"

static inline int heap_less(const evl__slot *slots, const evl__hent *a,
                            const evl__hent *b) {
  return a->deadline < b->deadline || (a->deadline == b->deadline &&
                                       slots[a->slot].seq < slots[b->slot].seq);
}

/* The walks below are in byte offsets of 16-byte entries (see
 * evl__heap_parent): a level is then one lea down, three instructions up,
 * and an index (o / 16) only where a slot's heap_idx is written. */
#define HENT(base, o) ((evl__hent *)((base) + (o)))
#define HSZ sizeof(evl__hent)

static void heap_sift_up(evl__heap *h, evl__slot *slots, uint32_t i) {
  char *base = (char *)h->a;
  size_t o = (size_t)i * HSZ;
  evl__hent e = *HENT(base, o);
  while (o) {
    size_t po = evl__heap_parent(o);
    if (!heap_less(slots, &e, HENT(base, po)))
      break;
    *HENT(base, o) = *HENT(base, po);
    slots[HENT(base, o)->slot].heap_idx = (uint32_t)(o / HSZ);
    o = po;
  }
  *HENT(base, o) = e;
  slots[e.slot].heap_idx = (uint32_t)(o / HSZ);
}

/* The earlier of two entries. Deadlines rarely tie, so the common case is
 * one compare and a conditional move; only a tie reads the slots' seq. */
static inline const evl__hent *
heap_min2(const evl__slot *slots, const evl__hent *x, const evl__hent *y) {
  if (__builtin_expect(x->deadline != y->deadline, 1))
    return x->deadline < y->deadline ? x : y;
  return slots[x->slot].seq < slots[y->slot].seq ? x : y;
}

/* Bottom-up (Floyd): the hole goes down the path of least children to a
 * leaf, then the entry climbs back to its place. An entry sifted down is
 * usually a late one (the last leaf, a pushed-back deadline), so it climbs
 * little, and each level costs three compares instead of four. The first
 * child of offset o is at 4 * o + 16. */
static void heap_sift_down(evl__heap *h, evl__slot *slots, uint32_t i) {
  char *base = (char *)h->a;
  size_t end = (size_t)h->n * HSZ, top = (size_t)i * HSZ, o = top;
  evl__hent e = *HENT(base, o);
  for (;;) {
    size_t co = 4 * o + HSZ;
    const evl__hent *c = HENT(base, co), *best;
    if (__builtin_expect(co + 3 * HSZ < end, 1)) {
      /* All four children: the common case, without a loop. */
      best = heap_min2(slots, heap_min2(slots, c, c + 1),
                       heap_min2(slots, c + 2, c + 3));
    } else if (co < end) {
      best = c;
      for (const evl__hent *k = c + 1; (char *)k < base + end; k++)
        best = heap_min2(slots, best, k);
    } else {
      break;
    }
    *HENT(base, o) = *best;
    slots[best->slot].heap_idx = (uint32_t)(o / HSZ);
    o = (size_t)((const char *)best - base);
  }
  while (o > top) {
    size_t po = evl__heap_parent(o);
    if (!heap_less(slots, &e, HENT(base, po)))
      break;
    *HENT(base, o) = *HENT(base, po);
    slots[HENT(base, o)->slot].heap_idx = (uint32_t)(o / HSZ);
    o = po;
  }
  *HENT(base, o) = e;
  slots[e.slot].heap_idx = (uint32_t)(o / HSZ);
}

void evl__heap_heapify(evl__heap *h, evl__slot *slots) {
  /* The last entry with children is the parent of the last entry. */
  for (uint32_t i = h->n > 1 ? (h->n - 2) / 4 + 1 : 0; i-- > 0;)
    heap_sift_down(h, slots, i);
}

int evl__heap_reserve(evl__heap *h, uint32_t cap) {
  if (cap <= h->cap)
    return 0;
  evl__hent *na = realloc(h->a, (size_t)cap * sizeof *na);
  if (!na)
    return -ENOMEM;
  h->a = na;
  h->cap = cap;
  return 0;
}

int evl__heap_push(evl__heap *h, evl__slot *slots, evl__hent e) {
  if (h->n == h->cap) {
    int rc = evl__heap_reserve(h, h->cap ? h->cap * 2 : 64);
    if (rc < 0)
      return rc;
  }
  h->a[h->n] = e;
  heap_sift_up(h, slots, h->n++);
  return 0;
}

void evl__heap_pop(evl__heap *h, evl__slot *slots) {
  uint32_t last = --h->n;
  if (last == 0)
    return;
  h->a[0] = h->a[last];
  heap_sift_down(h, slots, 0);
}

void evl__heap_update(evl__heap *h, evl__slot *slots, uint32_t idx) {
  if (idx > 0 && heap_less(slots, &h->a[idx], &h->a[(idx - 1) / 4]))
    heap_sift_up(h, slots, idx);
  else
    heap_sift_down(h, slots, idx);
}

void evl__heap_settle_top(evl__heap *h, evl__slot *slots) {
  evl__slot *s = &slots[h->a[0].slot];
  s->late = 0;
  h->a[0].deadline = s->when;
  s->seq = s->when_seq;
  heap_sift_down(h, slots, 0);
}

void evl__heap_free(evl__heap *h) {
  free(h->a);
  h->a = NULL;
  h->n = h->cap = 0;
}
