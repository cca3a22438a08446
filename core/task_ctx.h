/* task_ctx.h — one execution context (a task's stack or the loop's) and the
 * switch between two of them, with the sanitizers and valgrind told. */
#ifndef EVL_TASK_CTX_H
#define EVL_TASK_CTX_H

#include <stddef.h>

/* The switch is assembly on x86-64 and AArch64; elsewhere, or when built
 * with -DEVL_TASK_UCONTEXT (make TASK_SWITCH=ucontext), swapcontext(3),
 * which is portable but makes a sigprocmask system call per switch. */
#if !defined(EVL_TASK_UCONTEXT) && !defined(__x86_64__) && !defined(__aarch64__)
#define EVL_TASK_UCONTEXT 1
#endif

#if defined(EVL_TASK_UCONTEXT)
#include <ucontext.h>
#endif

/* Sanitizer builds tell the runtime about every switch (their fiber
 * APIs); other builds switch with nothing around it. */
#include "sanitizer.h"
#if defined(EVL__ASAN) || defined(EVL__TSAN) || defined(EVL_TASK_UCONTEXT)
#define EVL__FIBER_OUT_OF_LINE 1
#endif

typedef struct evl__fiber {
#if defined(EVL_TASK_UCONTEXT)
  ucontext_t uc;
#else
  void *sp; /* saved stack pointer; the registers sit on that stack */
#endif
  /* The usable stack: [lo, lo + len). For the loop's own fiber these are
   * learned from AddressSanitizer at each switch (unused without it). */
  void *lo;
  size_t len;
  void *map;       /* the mapping, guard page first; NULL for the loop's */
  size_t map_len;  /* guard + len */
  void *asan_fake; /* AddressSanitizer's fake stack while switched out */
  void *tsan;      /* ThreadSanitizer's fiber */
  unsigned vg_id;  /* valgrind's stack id */
} evl__fiber;

/* Maps len usable bytes (rounded up to pages) below which a guard page sits.
 * 0 or -errno. */
int evl__fiber_stack_new(evl__fiber *f, size_t len);
void evl__fiber_stack_free(evl__fiber *f);
/* Prepares f so that the first switch into it calls entry(arg) on its
 * stack. entry must never return: it ends with evl__fiber_switch(.., 1). */
void evl__fiber_start(evl__fiber *f, void (*entry)(void *), void *arg);
/* Saves the running context in `from` and resumes `to`; returns when
 * something switches back to `from`. from_ends: `from` will never run
 * again (its sanitizer state may go). Tasks and the loop only switch in
 * pairs (loop -> task -> loop), which the sanitizer bookkeeping relies on. */
#if defined(EVL__FIBER_OUT_OF_LINE)
void evl__fiber_switch(evl__fiber *from, evl__fiber *to, int from_ends);
#else
/* The common case is the assembly alone, inlined into its callers. */
void evl__ctx_switch(void **save_sp, void *to_sp);
static inline void evl__fiber_switch(evl__fiber *from, evl__fiber *to,
                                     int from_ends) {
  (void)from_ends;
  evl__ctx_switch(&from->sp, to->sp);
}
#endif
/* Called first thing on a fresh fiber's stack; `from` is the fiber that
 * switched to it. */
void evl__fiber_entered(evl__fiber *from);
/* The loop's fiber before switching away from it (ThreadSanitizer's handle
 * of the current thread); nothing at all in other builds, where it sits on
 * every resume. */
#if defined(EVL__TSAN)
void evl__fiber_here(evl__fiber *f);
#else
static inline void evl__fiber_here(evl__fiber *f) {
  (void)f;
}
#endif
/* Releases sanitizer state of a fiber that ended (not running). */
void evl__fiber_done(evl__fiber *f);

#endif
