/* task_map.c — which task completes a given future: a chained hash of the
 * tasks not yet freed, keyed by their future. wait_for is given a future;
 * when that future is a task's, a timeout must cancel the task (which may
 * clean up and end as it likes), not complete the future under it. */
#include <stdint.h>
#include <stdlib.h>

#include "task_int.h"

#define TASK_MAP_MIN 64

static size_t map_slot(const evl_future *f, size_t n) {
  /* Fibonacci hashing; the low bits of a pointer are alignment. */
  uint64_t h = (uint64_t)(uintptr_t)f * UINT64_C(0x9E3779B97F4A7C15);
  return (size_t)(h >> 32) & (n - 1);
}

/* Doubles the table; on failure the old one stays (longer chains). */
static void map_grow(evl_tasks *ts) {
  size_t n = ts->nmap * 2;
  evl_task **m = calloc(n, sizeof *m);
  if (!m)
    return;
  for (size_t i = 0; i < ts->nmap; i++) {
    evl_task *t = ts->map[i];
    while (t) {
      evl_task *next = t->hnext;
      size_t s = map_slot(t->fut, n);
      t->hnext = m[s];
      m[s] = t;
      t = next;
    }
  }
  free(ts->map);
  ts->map = m;
  ts->nmap = n;
}

int evl__task_map_add(evl_tasks *ts, evl_task *t) {
  if (!ts->map) {
    ts->map = calloc(TASK_MAP_MIN, sizeof *ts->map);
    if (!ts->map)
      return -ENOMEM;
    ts->nmap = TASK_MAP_MIN;
  } else if (ts->nmapped >= ts->nmap) {
    map_grow(ts);
  }
  size_t s = map_slot(t->fut, ts->nmap);
  t->hnext = ts->map[s];
  ts->map[s] = t;
  ts->nmapped++;
  return 0;
}

void evl__task_map_del(evl_tasks *ts, evl_task *t) {
  if (!ts->map)
    return;
  evl_task **p = &ts->map[map_slot(t->fut, ts->nmap)];
  while (*p && *p != t)
    p = &(*p)->hnext;
  if (*p) {
    *p = t->hnext;
    ts->nmapped--;
  }
}

evl_task *evl__task_of_future(const evl_tasks *ts, const evl_future *f) {
  if (!ts->map)
    return NULL;
  evl_task *t = ts->map[map_slot(f, ts->nmap)];
  while (t && t->fut != f)
    t = t->hnext;
  return t;
}
