/* Application-processor start-up code (SDM 3A 9.4.4, 9.8.5). The boot CPU copies this blob to
 * TRAMPOLINE_PHYS and fills in its parameter block; a STARTUP IPI with vector
 * TRAMPOLINE_PHYS >> 12 starts the AP here in real mode, and it climbs through protected mode
 * into long mode on a page table that still maps the low 4 GiB 1:1, then jumps to ap_entry(). */
#include "kernel/x86.h"
#include "smp/smp.h"

#define T(sym) ((sym) - trampoline_start + TRAMPOLINE_PHYS)

	.section .rodata
	.global trampoline_start, trampoline_end, trampoline_params
	.code16
trampoline_start:
	cli
	cld
	xorw %ax, %ax
	movw %ax, %ds
	lgdtl T(tramp_gdt_ptr)
	movl %cr0, %eax
	orl $CR0_PE, %eax
	movl %eax, %cr0
	ljmpl $GDT_KERNEL_CS32, $T(tramp32)

	.code32
tramp32:
	movl $GDT_KERNEL_DS, %eax
	movl %eax, %ds
	movl %eax, %es
	movl %eax, %ss
	movl %cr4, %eax
	orl $CR4_PAE, %eax
	movl %eax, %cr4
	movl T(trampoline_params) + TP_CR3, %eax
	movl %eax, %cr3
	movl $MSR_EFER, %ecx
	rdmsr
	orl T(trampoline_params) + TP_EFER, %eax
	wrmsr
	movl %cr0, %eax
	orl $(CR0_PG | CR0_WP), %eax
	movl %eax, %cr0
	ljmp $GDT_KERNEL_CS, $T(tramp64)

	.code64
tramp64:
	movq T(trampoline_params) + TP_STACK, %rsp
	movq T(trampoline_params) + TP_PERCPU, %rdi
	movq T(trampoline_params) + TP_ENTRY, %rax
	xorl %ebp, %ebp
	jmp *%rax

	/* Accessed bits preset, as in the boot GDT (REFERENCE.md). */
	.balign 8
tramp_gdt:
	.quad 0
	.quad 0x00af9b000000ffff	/* GDT_KERNEL_CS */
	.quad 0x00cf93000000ffff	/* GDT_KERNEL_DS */
	.quad 0x00cf9b000000ffff	/* GDT_KERNEL_CS32 */
tramp_gdt_end:
tramp_gdt_ptr:
	.short tramp_gdt_end - tramp_gdt - 1
	.long T(tramp_gdt)

	.balign 8
trampoline_params:
	.skip TP_SIZE
trampoline_end:
