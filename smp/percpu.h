/* Per-CPU state, one struct per CPU reached through GS (this_cpu()). */
#ifndef SMP_PERCPU_H
#define SMP_PERCPU_H

#include "kernel/gdt.h"
#include "kernel/types.h"

#define MAX_CPUS 512

struct percpu {
	struct percpu *self; /* at offset 0: this_cpu() reads it through GS */
	u32 cpu;             /* dense index, 0 = boot CPU */
	u32 apic_id;
	/* The _safe accessors (kernel/trap.h): a fault at an instruction listed in the exception
	 * table resumes at its fixup and leaves its vector and CR2 here. */
	u64 fault_vector;
	u64 fault_addr;
	u64 exec_probe_target; /* probe_exec(): a fetch fault here returns to the caller */
	int in_trap_report;    /* nested exceptions while reporting one end the run at once */
	struct cpu_tables tables; /* GDT and TSS */
};

extern struct percpu percpu_bsp;

static inline struct percpu *this_cpu(void)
{
	struct percpu *p;

	__asm__ volatile("movq %%gs:0, %0" : "=r"(p));
	return p;
}

/* Before percpu_init_bsp() GS is not set up; code that may run that early checks this. */
extern bool percpu_ready;

void percpu_init_bsp(void);
void percpu_load(struct percpu *p); /* point GS at p on the calling CPU */

#endif
