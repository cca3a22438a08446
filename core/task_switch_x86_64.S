/* task_switch_x86_64.S — the task context switch for x86-64 System V: saves
 * the callee-saved registers, MXCSR and the x87 control word on the old
 * stack, stores its pointer, loads the new one and restores the same. */
#if defined(__x86_64__) && !defined(EVL_TASK_UCONTEXT)
	.text

/* void evl__ctx_switch(void **save_sp, void *to_sp) */
	.globl	evl__ctx_switch
	.hidden	evl__ctx_switch
	.type	evl__ctx_switch, @function
	.p2align 4
evl__ctx_switch:
	.cfi_startproc
	pushq	%rbp
	pushq	%rbx
	pushq	%r12
	pushq	%r13
	pushq	%r14
	pushq	%r15
	subq	$8, %rsp
	stmxcsr	(%rsp)
	fnstcw	4(%rsp)
	movq	%rsp, (%rdi)
	movq	%rsi, %rsp
	ldmxcsr	(%rsp)
	fldcw	4(%rsp)
	addq	$8, %rsp
	popq	%r15
	popq	%r14
	popq	%r13
	popq	%r12
	popq	%rbx
	popq	%rbp
	ret
	.cfi_endproc
	.size	evl__ctx_switch, .-evl__ctx_switch

/* The first return into a fresh stack lands here with the entry function
 * in r13 and its argument in r12 (see evl__fiber_start); rsp is 16-byte
 * aligned, so the call gives the callee the ABI's alignment. */
	.globl	evl__ctx_entry
	.hidden	evl__ctx_entry
	.type	evl__ctx_entry, @function
evl__ctx_entry:
	.cfi_startproc
	.cfi_undefined rip
	movq	%r12, %rdi
	callq	*%r13
	ud2
	.cfi_endproc
	.size	evl__ctx_entry, .-evl__ctx_entry
#endif
	.section .note.GNU-stack,"",@progbits
