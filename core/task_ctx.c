/* task_ctx.c — task stacks (mmap'ed, guard page below) and the switch
 * between fibers, telling AddressSanitizer, ThreadSanitizer and valgrind
 * about every stack change so that their runs stay meaningful. */
#include "task_ctx.h"

#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#if defined(EVL__ASAN)
#include <sanitizer/asan_interface.h>
#include <sanitizer/common_interface_defs.h>
#endif
#if defined(EVL__TSAN)
#include <sanitizer/tsan_interface.h>
#endif
/* Valgrind's client requests cost a few no-op instructions natively; without
 * them memcheck takes a switch to another stack for a huge frame. */
#if defined(__has_include)
#if __has_include(<valgrind/valgrind.h>)
#include <valgrind/valgrind.h>
#define EVL__VALGRIND 1
#endif
#endif

#if !defined(EVL_TASK_UCONTEXT)
void evl__ctx_switch(void **save_sp, void *to_sp);
void evl__ctx_entry(void);
#endif

static size_t ctx_page(void) {
  long p = sysconf(_SC_PAGESIZE);
  return p > 0 ? (size_t)p : 4096;
}

int evl__fiber_stack_new(evl__fiber *f, size_t len) {
  size_t page = ctx_page();
  len = (len + page - 1) / page * page;
  if (len == 0 || len > SIZE_MAX - page)
    return -EINVAL;
  /* MAP_NORESERVE: untouched stack pages cost neither memory nor swap. */
  void *map =
      mmap(NULL, len + page, PROT_READ | PROT_WRITE,
           MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK | MAP_NORESERVE, -1, 0);
  if (map == MAP_FAILED)
    return -errno;
  /* Stacks grow down: the guard is the lowest page. */
  if (mprotect(map, page, PROT_NONE) != 0) {
    int rc = -errno;
    munmap(map, len + page);
    return rc;
  }
  f->map = map;
  f->map_len = len + page;
  f->lo = (char *)map + page;
  f->len = len;
#if defined(EVL__VALGRIND)
  f->vg_id = VALGRIND_STACK_REGISTER(f->lo, (char *)f->lo + len);
#endif
  return 0;
}

void evl__fiber_stack_free(evl__fiber *f) {
  if (!f->map)
    return;
#if defined(EVL__VALGRIND)
  VALGRIND_STACK_DEREGISTER(f->vg_id);
#endif
#if defined(EVL__ASAN)
  /* A task destroyed while pending left its frames' redzones poisoned; the
   * next mapping at this address must not inherit them. */
  __asan_unpoison_memory_region(f->lo, f->len);
#endif
  munmap(f->map, f->map_len);
  f->map = NULL;
}

#if defined(EVL_TASK_UCONTEXT)
/* makecontext passes ints only: the two halves of the pointer. */
static void ctx_uc_entry(unsigned hi, unsigned lo) {
  uintptr_t p = ((uintptr_t)hi << 16 << 16) | (uintptr_t)lo;
  void **pair = (void **)p;
  void (*entry)(void *);
  memcpy(&entry, &pair[0], sizeof entry);
  entry(pair[1]);
}
#endif

void evl__fiber_start(evl__fiber *f, void (*entry)(void *), void *arg) {
#if defined(EVL_TASK_UCONTEXT)
  /* The pair lives at the top of the fiber's own stack. */
  void **pair = (void **)((char *)f->lo + f->len) - 2;
  memcpy(&pair[0], &entry, sizeof entry);
  pair[1] = arg;
  getcontext(&f->uc);
  f->uc.uc_stack.ss_sp = f->lo;
  f->uc.uc_stack.ss_size = f->len - 2 * sizeof(void *);
  f->uc.uc_link = NULL;
  uintptr_t p = (uintptr_t)pair;
  makecontext(&f->uc, (void (*)(void))ctx_uc_entry, 2,
              (unsigned)(p >> 16 >> 16), (unsigned)p);
#else
  uintptr_t top = ((uintptr_t)f->lo + f->len) & ~(uintptr_t)15;
#if defined(__x86_64__)
  /* evl__ctx_switch's frame, lowest first: MXCSR and x87 control word,
   * r15, r14, r13, r12, rbx, rbp, return address. */
  uint64_t *sp = (uint64_t *)(top - 64);
  memset(sp, 0, 64);
  uint32_t mxcsr = 0x1F80; /* the ABI's initial values */
  uint16_t fcw = 0x037F;
  memcpy((char *)sp, &mxcsr, sizeof mxcsr);
  memcpy((char *)sp + 4, &fcw, sizeof fcw);
  memcpy(&sp[3], &entry, sizeof entry); /* r13 */
  sp[4] = (uint64_t)(uintptr_t)arg;     /* r12 */
  void (*start)(void) = evl__ctx_entry;
  memcpy(&sp[7], &start, sizeof start);
#elif defined(__aarch64__)
  /* x19..x30, d8..d15, FPCR, padding (176 bytes); x30 (where the switch
   * branches) is slot 11, FPCR slot 20 (0: the ABI's initial value). */
  uint64_t *sp = (uint64_t *)(top - 176);
  memset(sp, 0, 176);
  sp[0] = (uint64_t)(uintptr_t)arg;     /* x19 */
  memcpy(&sp[1], &entry, sizeof entry); /* x20 */
  void (*start)(void) = evl__ctx_entry;
  memcpy(&sp[11], &start, sizeof start);
#endif
  f->sp = sp;
#endif
#if defined(EVL__TSAN)
  f->tsan = __tsan_create_fiber(0);
#endif
  f->asan_fake = NULL;
}

#if defined(EVL__TSAN)
void evl__fiber_here(evl__fiber *f) {
  f->tsan = __tsan_get_current_fiber();
}
#endif

void evl__fiber_entered(evl__fiber *from) {
#if defined(EVL__ASAN)
  const void *lo = NULL;
  size_t len = 0;
  __sanitizer_finish_switch_fiber(NULL, &lo, &len);
  from->lo = (void *)lo;
  from->len = len;
#else
  (void)from;
#endif
}

#if defined(EVL__FIBER_OUT_OF_LINE)
void evl__fiber_switch(evl__fiber *from, evl__fiber *to, int from_ends) {
#if defined(EVL__ASAN)
  __sanitizer_start_switch_fiber(from_ends ? NULL : &from->asan_fake, to->lo,
                                 to->len);
#else
  (void)from_ends;
#endif
#if defined(EVL__TSAN)
  __tsan_switch_to_fiber(to->tsan, 0);
#endif
#if defined(EVL_TASK_UCONTEXT)
  swapcontext(&from->uc, &to->uc);
#else
  evl__ctx_switch(&from->sp, to->sp);
#endif
#if defined(EVL__ASAN)
  /* Back in `from`: whoever switched here is `to` (switches go in pairs);
   * for the loop's fiber this is how its stack bounds are learned. */
  const void *lo = NULL;
  size_t len = 0;
  __sanitizer_finish_switch_fiber(from->asan_fake, &lo, &len);
  if (!to->map) {
    to->lo = (void *)lo;
    to->len = len;
  }
#endif
}
#endif

void evl__fiber_done(evl__fiber *f) {
#if defined(EVL__TSAN)
  if (f->tsan)
    __tsan_destroy_fiber(f->tsan);
#endif
  f->tsan = NULL;
}
