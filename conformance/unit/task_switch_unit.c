/* task_switch_unit.c — the task context switch itself (core/task_ctx.c and
 * the per-architecture assembly), below the task API: values the compiler
 * keeps in callee-saved integer and floating-point registers across many
 * switches survive, each context keeps its own floating-point rounding
 * mode, and a fresh context starts with the ABI's 16-byte stack alignment
 * and round-to-nearest. Run natively and, for AArch64, under qemu-user
 * (`make check-aarch64`). */
#include <fenv.h>
#include <stdint.h>
#include <stdio.h>

#include "task_ctx.h"

#include "unit_check.h"

#define ROUNDS 100000

static evl__fiber main_fiber, task_fiber;
static volatile uint64_t seed = 0x9e3779b97f4a7c15u;
static volatile double dseed = 1.25;
static int task_first_mode = -1, task_problems = -1;

/* Twelve integers and eight doubles live across `rounds` switches from self
 * to other: more than the caller-saved registers hold, so the compiler keeps
 * them in x19-x28 / rbx, rbp, r12-r15 and d8-d15. Both sides run this with
 * different values, so a register the switch fails to restore shows the
 * other side's value. Returns the number of problems seen: a changed value
 * or a rounding mode other than `mode` after a switch back. */
static __attribute__((noinline)) int keep_live(evl__fiber *self,
                                               evl__fiber *other, uint64_t a0,
                                               double p0, int mode) {
  int problems = 0;
  uint64_t a = a0, b = a * 3, c = b ^ 7, d = c + a, e = d * 5, f = e ^ b,
           g = f + 11, h = g * 13, i = h ^ c, j = i + d, k = j * 17, l = k ^ e;
  double p = p0, q = p * 2, r = q + 3, s = r * 4, u = s + 5, v = u * 6,
         w = v + 7, x = w * 8;
  uint64_t isum0 = a + b + c + d + e + f + g + h + i + j + k + l;
  double dsum0 = p + q + r + s + u + v + w + x;
  for (int n = 0; n < ROUNDS; n++) {
    evl__fiber_switch(self, other, 0);
    if (fegetround() != mode)
      problems++;
    /* Rotate the values so that each stays live and moves. */
    uint64_t t = a;
    a = b, b = c, c = d, d = e, e = f, f = g, g = h, h = i, i = j, j = k, k = l,
    l = t;
    double z = p;
    p = q, q = r, r = s, s = u, u = v, v = w, w = x, x = z;
  }
  uint64_t isum1 = a + b + c + d + e + f + g + h + i + j + k + l;
  double dsum1 = p + q + r + s + u + v + w + x;
  CHECK(isum0 == isum1, "integers across switches: expected %llu, got %llu",
        (unsigned long long)isum0, (unsigned long long)isum1);
  CHECK(dsum0 == dsum1, "doubles across switches: expected %g, got %g", dsum0,
        dsum1);
  return problems;
}

static void task_body(void *arg) {
  (void)arg;
  evl__fiber_entered(&main_fiber);
  task_first_mode = fegetround();
  fesetround(FE_UPWARD);
  task_problems = keep_live(&task_fiber, &main_fiber, seed, dseed, FE_UPWARD);
  fesetround(FE_TONEAREST);
  evl__fiber_switch(&task_fiber, &main_fiber, 1);
}

/* The stack alignment at a fresh context's first C function, measured
 * where the ABI defines it: at the call into it. */
static uintptr_t align_seen = 1;
static __attribute__((noinline)) void align_probe(void) {
  align_seen = (uintptr_t)__builtin_frame_address(0);
}
static void align_body(void *arg) {
  (void)arg;
  evl__fiber_entered(&main_fiber);
  align_probe();
  evl__fiber_switch(&task_fiber, &main_fiber, 1);
}

int main(void) {
  int rc = evl__fiber_stack_new(&task_fiber, 64 * 1024);
  CHECK(rc == 0, "evl__fiber_stack_new: expected 0, got %d", rc);
  if (rc != 0)
    return 1;
  /* The main context rounds down: a fresh context must still start with
   * the ABI's round-to-nearest, and neither side may see the other's. */
  fesetround(FE_DOWNWARD);
  evl__fiber_here(&main_fiber);
  evl__fiber_start(&task_fiber, task_body, NULL);
  evl__fiber_switch(&main_fiber, &task_fiber, 0);
  int main_problems =
      keep_live(&main_fiber, &task_fiber, ~seed, dseed * 3, FE_DOWNWARD);
  fesetround(FE_TONEAREST);
  evl__fiber_done(&task_fiber);
#if !defined(EVL_TASK_UCONTEXT)
  /* swapcontext's fresh context inherits the creator's at getcontext. */
  CHECK(task_first_mode == FE_TONEAREST,
        "rounding mode in a fresh context: expected FE_TONEAREST (%d), got %d",
        FE_TONEAREST, task_first_mode);
#endif
  CHECK(task_problems == 0,
        "switches into the task that lost its rounding mode: expected 0, got "
        "%d",
        task_problems);
  CHECK(main_problems == 0,
        "switches into main that lost its rounding mode: expected 0, got %d",
        main_problems);

  evl__fiber_here(&main_fiber);
  evl__fiber_start(&task_fiber, align_body, NULL);
  evl__fiber_switch(&main_fiber, &task_fiber, 0);
  evl__fiber_done(&task_fiber);
  CHECK(align_seen % 16 == 0,
        "frame address in a fresh context: expected 16-byte aligned, got "
        "%#lx",
        (unsigned long)align_seen);
  evl__fiber_stack_free(&task_fiber);

  printf("task_switch_unit: %d switches, %s\n", 2 * ROUNDS + 3,
         failed_checks ? "FAILED" : "ok");
  return failed_checks ? 1 : 0;
}
