/* task_switch_x86_64.S — the task context switch for x86-64 System V: saves
 * the callee-saved registers, MXCSR and the x87 control word on the old
 * stack, stores its pointer, loads the new one, restores the same (the two
 * control registers only where they differ) and jumps to the new context's
 * return address. */
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
	movl	(%rsp), %eax
	movzwl	4(%rsp), %ecx
	movq	%rsi, %rsp
	/* The control bits are callee-saved, the status flags (MXCSR bits 0-5)
	 * are not. Loading an MXCSR that differs in any bit serialises the
	 * pipeline (50-80 ns here once one context has set a precision flag),
	 * so each register is loaded only when its control bits differ. */
	xorl	(%rsp), %eax
	testl	$0xffc0, %eax
	jnz	.Lload_mxcsr
.Lmxcsr_done:
	cmpw	4(%rsp), %cx
	jne	.Lload_fcw
.Lfcw_done:
	addq	$8, %rsp
	popq	%r15
	popq	%r14
	popq	%r13
	popq	%r12
	popq	%rbx
	popq	%rbp
	/* Not `ret`: the return-stack predictor expects this call's caller,
	 * but the other context's caller is where it goes, so a ret
	 * mispredicts on every switch (10 of 15 ns here). An indirect jump is
	 * predicted from its own history: a switch site resumes the same few
	 * places. */
	popq	%rcx
	jmpq	*%rcx
.Lload_mxcsr:
	ldmxcsr	(%rsp)
	jmp	.Lmxcsr_done
.Lload_fcw:
	fldcw	4(%rsp)
	jmp	.Lfcw_done
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
