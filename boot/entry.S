/* Boot entry: Multiboot2 header (GRUB, BIOS and UEFI) and Multiboot v1 header with the a.out
 * kludge (QEMU -kernel), the 32-bit entry both loaders jump to, the switch to long mode and the
 * jump to the higher half. Multiboot2 spec 3.1 and 3.2; Multiboot 0.6.96 3.1; SDM 3A 9.8.5. */
#include "boot/multiboot2.h"
#include "kernel/exit.h"
#include "kernel/x86.h"
#include "mm/layout.h"

#define PHYS(sym) ((sym) - KERNEL_VMA_BASE)
#define COM1 0x3f8

	.section .multiboot, "a"
	.balign 8
mb2_header:
	.long MB2_HEADER_MAGIC
	.long MB2_ARCH_I386
	.long mb2_header_end - mb2_header
	.long -(MB2_HEADER_MAGIC + MB2_ARCH_I386 + (mb2_header_end - mb2_header))
	/* Ask for a linear framebuffer; optional, so a loader without graphics still boots us. */
	.balign 8
	.short MB2_HEADER_TAG_FRAMEBUFFER
	.short MB2_HEADER_TAG_OPTIONAL
	.long 20
	.long 800, 600, 32
	.balign 8
	.short MB2_HEADER_TAG_END
	.short 0
	.long 8
mb2_header_end:

	/* QEMU's Multiboot v1 loader refuses 64-bit ELF files unless the header gives the load
	 * addresses itself (the a.out kludge); linker.ld keeps the file laid out like memory. */
	.balign 4
mb1_header:
	.long MB1_HEADER_MAGIC
	.long MB1_FLAG_PAGE_ALIGN | MB1_FLAG_MEMINFO | MB1_FLAG_AOUT_KLUDGE
	.long -(MB1_HEADER_MAGIC + (MB1_FLAG_PAGE_ALIGN | MB1_FLAG_MEMINFO | MB1_FLAG_AOUT_KLUDGE))
	.long mb1_header		/* header_addr */
	.long __kernel_phys_start	/* load_addr */
	.long PHYS(__data_end)		/* load_end_addr: file contents end with .data */
	.long __kernel_phys_end		/* bss_end_addr */
	.long boot_entry32		/* entry_addr */

	.section .boot.text, "ax"
	.code32
	.global boot_entry32
boot_entry32:
	cli
	cld
	/* Both loaders: EAX = loader magic, EBX = physical address of the boot information. */
	movl %eax, %esi
	movl %ebx, %ebp

	/* Zero .bss (loaders should, but do not count on it); it holds the page tables. */
	movl $PHYS(__bss_start), %edi
	movl $PHYS(__bss_end), %ecx
	subl %edi, %ecx
	shrl $2, %ecx
	xorl %eax, %eax
	rep stosl
	movl %esi, PHYS(boot_mb_magic)
	movl %ebp, PHYS(boot_mb_info)

	/* Long mode is required; NX is used when present. */
	movl $0x80000000, %eax
	cpuid
	cmpl $0x80000001, %eax
	jb no_long_mode
	movl $0x80000001, %eax
	cpuid
	testl $CPUID_80000001_EDX_LM, %edx
	jz no_long_mode
	movl %edx, %esi

	/* Boot page directories: the first BOOT_DIRECT_MAP_GIB GiB in 2 MiB pages. */
	movl $PHYS(boot_pd), %edi
	xorl %ecx, %ecx
1:	movl %ecx, %eax
	shll $21, %eax
	orl $(PTE_P | PTE_W | PTE_PS), %eax
	movl %eax, (%edi, %ecx, 8)
	movl $0, 4(%edi, %ecx, 8)
	incl %ecx
	cmpl $(512 * BOOT_DIRECT_MAP_GIB), %ecx
	jb 1b

	/* One PDPT maps them at 0 (identity, for this stub) and at DIRECT_MAP_BASE. */
	movl $PHYS(boot_pdpt_low), %edi
	movl $(PHYS(boot_pd) + PTE_P + PTE_W), %eax
	xorl %ecx, %ecx
2:	movl %eax, (%edi, %ecx, 8)
	addl $PAGE_SIZE, %eax
	incl %ecx
	cmpl $BOOT_DIRECT_MAP_GIB, %ecx
	jb 2b

	/* The image's GiB again at -2 GiB, where it is linked. */
	movl $(PHYS(boot_pd) + PTE_P + PTE_W), PHYS(boot_pdpt_kernel) + 8 * KERNEL_PDPT_SLOT

	movl $PHYS(boot_pml4), %edi
	movl $(PHYS(boot_pdpt_low) + PTE_P + PTE_W), %eax
	movl %eax, (%edi)
	movl %eax, 8 * DIRECT_MAP_PML4_SLOT(%edi)
	movl $(PHYS(boot_pdpt_kernel) + PTE_P + PTE_W), 8 * KERNEL_PML4_SLOT(%edi)

	movl %edi, %cr3
	movl %cr4, %eax
	orl $CR4_PAE, %eax
	movl %eax, %cr4
	movl $MSR_EFER, %ecx
	rdmsr
	orl $EFER_LME, %eax
	testl $CPUID_80000001_EDX_NX, %esi
	jz 3f
	orl $EFER_NXE, %eax
3:	wrmsr
	movl %cr0, %eax
	orl $(CR0_PG | CR0_WP | CR0_PE), %eax
	movl %eax, %cr0

	lgdt boot_gdt_ptr
	ljmp $GDT_KERNEL_CS, $boot_entry64

no_long_mode:
	movl $no_long_mode_msg, %esi
4:	lodsb
	testb %al, %al
	jz 5f
	movw $COM1, %dx
	outb %al, %dx
	jmp 4b
5:	movl $EXIT_ERROR, %eax
	movw $DEBUG_EXIT_IOPORT, %dx
	outl %eax, %dx
6:	hlt
	jmp 6b

	.code64
boot_entry64:
	movl $GDT_KERNEL_DS, %eax
	movl %eax, %ds
	movl %eax, %es
	movl %eax, %ss
	xorl %eax, %eax
	movl %eax, %fs
	movl %eax, %gs
	movabsq $boot_higher_half, %rax
	jmp *%rax

	.section .boot.rodata, "a"
no_long_mode_msg:
	.asciz "tlbstorm: this CPU has no long mode (CPUID 0x80000001 EDX.LM); x86-64 is required\r\ntlbstorm: verdict error (exit 4)\r\n"

	/* Temporary GDT until gdt_init(); accessed bits preset (see REFERENCE.md: nested paging). */
	.balign 8
boot_gdt:
	.quad 0
	.quad 0x00af9b000000ffff	/* GDT_KERNEL_CS: 64-bit code, accessed */
	.quad 0x00cf93000000ffff	/* GDT_KERNEL_DS: data, accessed */
	.quad 0x00cf9b000000ffff	/* GDT_KERNEL_CS32 */
boot_gdt_end:
boot_gdt_ptr:
	.short boot_gdt_end - boot_gdt - 1
	.long boot_gdt

	.text
boot_higher_half:
	movabsq $boot_stack_top, %rsp
	xorl %ebp, %ebp
	movl boot_mb_magic(%rip), %edi
	movl boot_mb_info(%rip), %esi
	call kmain
7:	cli
	hlt
	jmp 7b

	.data
	.balign 4
boot_mb_magic:	.long 0
boot_mb_info:	.long 0

	.section .bss.pagetables, "aw", @nobits
	.balign PAGE_SIZE
	.global boot_pml4
boot_pml4:		.skip PAGE_SIZE
boot_pdpt_low:		.skip PAGE_SIZE
boot_pdpt_kernel:	.skip PAGE_SIZE
	.global boot_pd
boot_pd:		.skip PAGE_SIZE * BOOT_DIRECT_MAP_GIB

	/* Static stacks, each above a guard page that mm_early_init() unmaps. */
	.section .bss.stacks, "aw", @nobits
	.balign PAGE_SIZE
boot_stack_guard:	.skip PAGE_SIZE
			.skip BOOT_STACK_SIZE
	.global boot_stack_top
boot_stack_top:
df_stack_guard:		.skip PAGE_SIZE
			.skip IST_STACK_SIZE
	.global df_stack_top
df_stack_top:

	.section .rodata
	.balign 8
	.global guard_pages, guard_pages_end
guard_pages:
	.quad boot_stack_guard, df_stack_guard
guard_pages_end:
