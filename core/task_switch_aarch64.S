/* task_switch_aarch64.S — the task context switch for AArch64 (AAPCS64):
 * saves x19-x30, d8-d15 and FPCR on the old stack, stores its pointer,
 * loads the new one, restores the same (FPCR only where it differs) and
 * branches to the new context's saved x30. */
#if defined(__aarch64__) && !defined(EVL_TASK_UCONTEXT)
	.text

/* void evl__ctx_switch(void **save_sp, void *to_sp)
 * The frame, 176 bytes (sp stays 16-byte aligned): x19..x28 at 0..79,
 * x29 and x30 at 80, d8..d15 at 96..159, FPCR at 160, 8 bytes of padding.
 * evl__fiber_start (task_ctx.c) builds the same frame for a fresh task. */
	.globl	evl__ctx_switch
	.hidden	evl__ctx_switch
	.type	evl__ctx_switch, %function
	.p2align 4
evl__ctx_switch:
	.cfi_startproc
	sub	sp, sp, #176
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
	/* FPCR's control fields (rounding mode, flush-to-zero, default NaN)
	 * belong to the context, as MXCSR's do on x86-64; FPSR holds only
	 * cumulative exception flags, which the ABI does not preserve. */
	mrs	x2, fpcr
	str	x2, [sp, #160]
	mov	x3, sp
	str	x3, [x0]
	mov	sp, x1
	/* Writing FPCR may synchronise the pipeline on some cores, and two
	 * contexts almost always share one value: load it only when the new
	 * context's differs. */
	ldr	x3, [sp, #160]
	cmp	x2, x3
	b.ne	.Lload_fpcr
.Lfpcr_done:
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
	add	sp, sp, #176
	/* Not `ret`: on AArch64 `ret` is the return hint, predicted from the
	 * return-address stack, whose top is this call's own return site; the
	 * other context's saved x30 is where it goes, so a `ret` mispredicts
	 * on every switch (same mechanism as the x86-64 `ret`). `br` is
	 * predicted by the indirect-branch predictor from its own history: a
	 * switch resumes the same few call sites. Caveat: with BTI-guarded
	 * pages a `br` to a return site (no BTI landing pad) would fault;
	 * this file carries no BTI property note, so a linked image is never
	 * marked BTI-guarded. Adding that note means going back to `ret`. */
	br	x30
.Lload_fpcr:
	msr	fpcr, x3
	b	.Lfpcr_done
	.cfi_endproc
	.size	evl__ctx_switch, .-evl__ctx_switch

/* The first switch into a fresh stack lands here with the argument in x19
 * and the entry function in x20 (see evl__fiber_start); sp is the stack's
 * 16-byte aligned top and x29 is 0, which ends frame-pointer walks. The
 * entry function never returns. */
	.globl	evl__ctx_entry
	.hidden	evl__ctx_entry
	.type	evl__ctx_entry, %function
	.p2align 2
evl__ctx_entry:
	.cfi_startproc
	.cfi_undefined x30
	mov	x0, x19
	blr	x20
	brk	#0
	.cfi_endproc
	.size	evl__ctx_entry, .-evl__ctx_entry
#endif
	.section .note.GNU-stack,"",%progbits
