/* Interrupt entry stubs for all 256 vectors and the common path that saves the registers as a
 * struct trap_frame (kernel/trap.h) and calls trap_dispatch(). SDM 3A 6.14. */
#include "kernel/x86.h"

/* Vectors for which the CPU pushes an error code (SDM 3A 6.15). */
#define HAS_ERROR_CODE(v) ((v) == 8 || ((v) >= 10 && (v) <= 14) || (v) == 17 || (v) == 21 || (v) == 29 || (v) == 30)

	.macro isr_stub vec
	.balign 16
isr_\vec:
	.if !HAS_ERROR_CODE(\vec)
	pushq $0
	.endif
	pushq $\vec
	jmp isr_common
	.endm

	.text
	.altmacro
	.set vec, 0
	.rept 256
	isr_stub %vec
	.set vec, vec + 1
	.endr

isr_common:
	cld
	pushq %rax
	pushq %rbx
	pushq %rcx
	pushq %rdx
	pushq %rsi
	pushq %rdi
	pushq %rbp
	pushq %r8
	pushq %r9
	pushq %r10
	pushq %r11
	pushq %r12
	pushq %r13
	pushq %r14
	pushq %r15
	movq %rsp, %rdi
	call trap_dispatch
	popq %r15
	popq %r14
	popq %r13
	popq %r12
	popq %r11
	popq %r10
	popq %r9
	popq %r8
	popq %rbp
	popq %rdi
	popq %rsi
	popq %rdx
	popq %rcx
	popq %rbx
	popq %rax
	addq $16, %rsp		/* vector and error code */
	iretq

	.macro isr_addr vec
	.quad isr_\vec
	.endm

	.section .rodata
	.balign 8
	.global isr_table
isr_table:
	.set vec, 0
	.rept 256
	isr_addr %vec
	.set vec, vec + 1
	.endr
