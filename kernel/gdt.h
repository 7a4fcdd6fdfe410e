/* Per-CPU GDT and TSS (SDM 3A 3.4.5, 7.7). Each CPU has its own so that the TSS busy bit and
 * IST stacks never clash between CPUs. Selectors are in kernel/x86.h. */
#ifndef KERNEL_GDT_H
#define KERNEL_GDT_H

#include "kernel/types.h"

#define GDT_ENTRIES 6 /* null, code64, data, code32, TSS (two slots) */
#define IST_DOUBLE_FAULT 1

struct tss64 {
	u32 reserved0;
	u64 rsp[3];
	u64 reserved1;
	u64 ist[7];
	u64 reserved2;
	u16 reserved3;
	u16 iomap_base;
} __attribute__((packed));
_Static_assert(sizeof(struct tss64) == 104, "TSS layout (SDM 3A 7.7)");

struct cpu_tables {
	u64 gdt[GDT_ENTRIES] __attribute__((aligned(16)));
	struct tss64 tss __attribute__((aligned(16)));
};

/* Build and load the GDT and TSS in t; df_stack_top is the double-fault IST stack. */
void gdt_load(struct cpu_tables *t, u64 df_stack_top);

#endif
