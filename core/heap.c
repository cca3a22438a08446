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

static void heap_sift_up(evl__heap *h, evl__slot *slots, uint32_t i) {
  evl__hent e = h->a[i];
  while (i > 0) {
    uint32_t p = (i - 1) / 4;
    if (!heap_less(slots, &e, &h->a[p]))
      break;
    h->a[i] = h->a[p];
    slots[h->a[i].slot].heap_idx = i;
    i = p;
  }
  h->a[i] = e;
  slots[e.slot].heap_idx = i;
}

/* The least of the children from c on (c < n): three compares when all
 * four exist, the common case, without a loop. */
static inline uint32_t heap_min_child(const evl__slot *slots,
                                      const evl__hent *a, uint32_t c,
                                      uint32_t n) {
  uint32_t best = c;
  if (c + 3 < n) {
    uint32_t b2 = heap_less(slots, &a[c + 3], &a[c + 2]) ? c + 3 : c + 2;
    if (heap_less(slots, &a[c + 1], &a[best]))
      best = c + 1;
    if (heap_less(slots, &a[b2], &a[best]))
      best = b2;
    return best;
  }
  for (uint32_t k = c + 1; k < n; k++)
    if (heap_less(slots, &a[k], &a[best]))
      best = k;
  return best;
}

/* Bottom-up (Floyd): the hole goes down the path of least children to a
 * leaf, then the entry climbs back to its place. An entry sifted down is
 * usually a late one (the last leaf, a pushed-back deadline), so it climbs
 * little, and each level costs three compares instead of four. */
static void heap_sift_down(evl__heap *h, evl__slot *slots, uint32_t i) {
  evl__hent *a = h->a;
  uint32_t n = h->n, top = i;
  evl__hent e = a[i];
  for (uint32_t c; (c = 4 * i + 1) < n;) {
    uint32_t best = heap_min_child(slots, a, c, n);
    a[i] = a[best];
    slots[a[i].slot].heap_idx = i;
    i = best;
  }
  while (i > top) {
    uint32_t p = (i - 1) / 4;
    if (!heap_less(slots, &e, &a[p]))
      break;
    a[i] = a[p];
    slots[a[i].slot].heap_idx = i;
    i = p;
  }
  a[i] = e;
  slots[e.slot].heap_idx = i;
}

int evl__heap_push(evl__heap *h, evl__slot *slots, evl__hent e) {
  if (h->n == h->cap) {
    uint32_t ncap = h->cap ? h->cap * 2 : 64;
    evl__hent *na = realloc(h->a, (size_t)ncap * sizeof *na);
    if (!na)
      return -ENOMEM;
    h->a = na;
    h->cap = ncap;
  }
  h->a[h->n] = e;
  heap_sift_up(h, slots, h->n++);
  return 0;
}

void evl__heap_remove(evl__heap *h, evl__slot *slots, uint32_t idx) {
  uint32_t last = --h->n;
  if (idx == last)
    return;
  h->a[idx] = h->a[last];
  slots[h->a[idx].slot].heap_idx = idx;
  evl__heap_update(h, slots, idx);
}

void evl__heap_update(evl__heap *h, evl__slot *slots, uint32_t idx) {
  if (idx > 0 && heap_less(slots, &h->a[idx], &h->a[(idx - 1) / 4]))
    heap_sift_up(h, slots, idx);
  else
    heap_sift_down(h, slots, idx);
}

void evl__heap_settle(evl__heap *h, evl__slot *slots) {
  while (h->n) {
    evl__slot *s = &slots[h->a[0].slot];
    if (!s->late)
      return;
    s->late = 0;
    h->a[0].deadline = s->when;
    s->seq = s->when_seq;
    heap_sift_down(h, slots, 0);
  }
}

void evl__heap_free(evl__heap *h) {
  free(h->a);
  h->a = NULL;
  h->n = h->cap = 0;
}
