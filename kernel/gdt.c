/* Segment descriptors for long mode (SDM 3A 3.4.5, 7.2.3). Every code and data descriptor has
 * its accessed bit preset: the CPU would otherwise write it on the first segment load, and under
 * emulated nested paging that write has been seen to livelock (REFERENCE.md). */
#include "kernel/gdt.h"
#include "kernel/string.h"
#include "kernel/x86.h"

#define DESC_CODE64 0x00af9b000000ffffULL /* present, DPL 0, code exec/read, accessed, L */
#define DESC_DATA 0x00cf93000000ffffULL   /* present, DPL 0, data read/write, accessed */
#define DESC_CODE32 0x00cf9b000000ffffULL /* present, DPL 0, code exec/read, accessed, D */
#define TSS_TYPE_AVAILABLE 0x9ULL

static void gdt_set_tss(u64 *gdt, const struct tss64 *tss)
{
	u64 base = (u64)tss, limit = sizeof(*tss) - 1;

	gdt[GDT_TSS / 8] = (limit & 0xffff) | ((base & 0xffffff) << 16) | (TSS_TYPE_AVAILABLE << 40) |
			   (1ULL << 47) | (((limit >> 16) & 0xf) << 48) | (((base >> 24) & 0xff) << 56);
	gdt[GDT_TSS / 8 + 1] = base >> 32;
}

void gdt_load(struct cpu_tables *t, u64 df_stack_top)
{
	struct desc_ptr p = { .limit = sizeof(t->gdt) - 1, .base = (u64)t->gdt };

	memset(t, 0, sizeof(*t));
	t->gdt[GDT_KERNEL_CS / 8] = DESC_CODE64;
	t->gdt[GDT_KERNEL_DS / 8] = DESC_DATA;
	t->gdt[GDT_KERNEL_CS32 / 8] = DESC_CODE32;
	t->tss.ist[IST_DOUBLE_FAULT - 1] = df_stack_top;
	t->tss.iomap_base = sizeof(t->tss); /* no I/O permission bitmap */
	gdt_set_tss(t->gdt, &t->tss);

	/* Reload CS with a far return; the data segments and the task register directly. GS and
	 * FS are left alone: loading a selector would clear the GS base that this_cpu() uses. */
	__asm__ volatile("lgdt %0\n\t"
			 "pushq %1\n\t"
			 "leaq 1f(%%rip), %%rax\n\t"
			 "pushq %%rax\n\t"
			 "lretq\n"
			 "1:\n\t"
			 "movl %2, %%eax\n\t"
			 "movl %%eax, %%ds\n\t"
			 "movl %%eax, %%es\n\t"
			 "movl %%eax, %%ss\n\t"
			 "ltr %w3"
			 :
			 : "m"(p), "i"(GDT_KERNEL_CS), "i"(GDT_KERNEL_DS), "r"(GDT_TSS)
			 : "rax", "memory");
}
