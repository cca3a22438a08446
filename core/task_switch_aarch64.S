/* task_switch_aarch64.S — the task context switch for AArch64 (AAPCS64):
 * saves x19-x30 and d8-d15 on the old stack, stores its pointer, loads the
 * new one and restores the same. */
#if defined(__aarch64__) && !defined(EVL_TASK_UCONTEXT)
	.text

/* void evl__ctx_switch(void **save_sp, void *to_sp) */
	.globl	evl__ctx_switch
	.hidden	evl__ctx_switch
	.type	evl__ctx_switch, %function
	.p2align 4
evl__ctx_switch:
	sub	sp, sp, #160
	stp	x19, x20, [sp, #0]
	stp	x21, x22, [sp, #16]
	stp	x23, x24, [sp, #32]
	stp	x25, x26, [sp, #48]
	stp	x27, x28, [sp, #64]
	stp	x29, x30, [sp, #80]
	stp	d8, d9, [sp, #96]
	stp	d10, d11, [sp, #112]
	stp	d12, d13, [sp, #128]
	stp	d14, d15, [sp, #144]
	mov	x2, sp
	str	x2, [x0]
	mov	sp, x1
	ldp	x19, x20, [sp, #0]
	ldp	x21, x22, [sp, #16]
	ldp	x23, x24, [sp, #32]
	ldp	x25, x26, [sp, #48]
	ldp	x27, x28, [sp, #64]
	ldp	x29, x30, [sp, #80]
	ldp	d8, d9, [sp, #96]
	ldp	d10, d11, [sp, #112]
	ldp	d12, d13, [sp, #128]
	ldp	d14, d15, [sp, #144]
	add	sp, sp, #160
	ret
	.size	evl__ctx_switch, .-evl__ctx_switch

/* The first return into a fresh stack lands here with the argument in x19
 * and the entry function in x20 (see evl__fiber_start). */
	.globl	evl__ctx_entry
	.hidden	evl__ctx_entry
	.type	evl__ctx_entry, %function
evl__ctx_entry:
	mov	x0, x19
	blr	x20
	brk	#0
	.size	evl__ctx_entry, .-evl__ctx_entry
#endif
	.section .note.GNU-stack,"",%progbits
