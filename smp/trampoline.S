/* Application-processor start-up code (SDM 3A 9.4.4, 9.8.5). The boot CPU copies this blob to a
 * free page below 1 MiB that it picks from the memory map (smp.c, tramp_page) and fills in its
 * parameter block; a STARTUP IPI with that page's number starts the AP here in real mode with CS
 * = page << 8 and IP = 0. The code runs at any such page: it finds its base from CS, writes the
 * two addresses that depend on it (the GDT pointer's base, the far jump into 32-bit code) into
 * the page before using them, and addresses everything else relative to the base in %ebx. It
 * climbs through protected mode into long mode on a page table that still maps the low 2 MiB
 * 1:1, then jumps to ap_entry(). */
#include "kernel/x86.h"
#include "smp/smp.h"

#define O(sym) ((sym) - trampoline_start) /* offset in the page */

	.section .rodata
	.global trampoline_start, trampoline_end, trampoline_params
	.code16
trampoline_start:
	cli
	cld
	movw %cs, %ax
	movw %ax, %ds                   /* DS:offset = the page's bytes */
	movzwl %ax, %ebx
	shll $4, %ebx                   /* %ebx: the page's physical address */
	leal O(tramp_gdt)(%ebx), %eax
	movl %eax, O(tramp_gdt_ptr) + 2
	leal O(tramp32)(%ebx), %eax
	movl %eax, O(tramp_far32)
	lgdtl O(tramp_gdt_ptr)
	movl %cr0, %eax
	orl $CR0_PE, %eax
	movl %eax, %cr0
	ljmpl *O(tramp_far32)

	.code32
tramp32:
	movl $GDT_KERNEL_DS, %eax
	movl %eax, %ds
	movl %eax, %es
	movl %eax, %ss
	/* The 64-bit code's address for the far jump below, written while paging is still off (the
	 * climb's page table may map this page read-only). */
	leal O(tramp64)(%ebx), %eax
	movl %eax, O(tramp_far64)(%ebx)
	movl %cr4, %eax
	orl $CR4_PAE, %eax
	movl %eax, %cr4
	movl O(trampoline_params) + TP_CR3(%ebx), %eax
	movl %eax, %cr3
	movl $MSR_EFER, %ecx
	rdmsr
	orl O(trampoline_params) + TP_EFER(%ebx), %eax
	wrmsr
	movl %cr0, %eax
	orl $(CR0_PG | CR0_WP), %eax
	movl %eax, %cr0
	ljmp *O(tramp_far64)(%ebx)

	.code64
tramp64:
	movl %ebx, %ebx                 /* zero-extend the base (a write to %ebx clears bits 63:32) */
	movq O(trampoline_params) + TP_STACK(%rbx), %rsp
	movq O(trampoline_params) + TP_PERCPU(%rbx), %rdi
	movq O(trampoline_params) + TP_ENTRY(%rbx), %rax
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
	.long 0                         /* the GDT's physical address, written at start-up */
	.balign 4
tramp_far32:
	.long 0                         /* tramp32's physical address, written at start-up */
	.short GDT_KERNEL_CS32
	.balign 4
tramp_far64:
	.long 0                         /* tramp64's physical address, written at start-up */
	.short GDT_KERNEL_CS

	.balign 8
trampoline_params:
	.skip TP_SIZE
trampoline_end:
