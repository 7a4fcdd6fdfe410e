/* Per-CPU state, one struct per CPU reached through GS (this_cpu()). */
#ifndef SMP_PERCPU_H
#define SMP_PERCPU_H

#include "kernel/gdt.h"
#include "kernel/types.h"
#include "mm/aspace.h"
#include "mm/frame.h"
#include "smp/tlb_ipi.h"
#include "smp/cpumask.h"

#define CACHE_LINE 64

typedef void (*smp_call_fn)(void *arg);

/* A CPU's outgoing cross-CPU call (smp/call.c): at most one in flight per CPU. */
struct call_request {
	smp_call_fn fn;
	void *arg;
	struct cpumask pending; /* targets that have not finished yet */
} __attribute__((aligned(CACHE_LINE)));

struct percpu {
	struct percpu *self; /* at offset 0: this_cpu() reads it through GS */
	u32 cpu;             /* dense index, 0 = boot CPU */
	u32 apic_id;
	u32 online;          /* set by the CPU itself when it has checked in */
	u32 vp_index;        /* Hyper-V VP index (hv/hyperv.c), INVALID_VP_INDEX when unknown */
	void *hv_input;      /* Hyper-V hypercall input page, allocated once at boot */
	u64 hv_input_phys;
	u64 stack_top;
	u64 df_stack_top;
	/* The _safe accessors (kernel/trap.h): a fault at an instruction listed in the exception
	 * table resumes at its fixup and leaves its vector and CR2 here. */
	u64 fault_vector;
	u64 fault_addr;
	u64 exec_probe_target; /* exec_safe(): a fetch fault here returns to the caller */
	int in_trap_report;    /* nested exceptions while reporting one end the run at once */
	bool call_deaf;        /* test hook: ignore incoming calls (smp/call.c) */
	u64 timer_ticks;       /* APIC timer interrupts taken */
	struct cpu_tables tables; /* GDT and TSS */
	struct aspace_cpu as;     /* address space loaded, TLB generations seen (mm/aspace.c) */
	/* Frames this CPU keeps for itself, so CPUs changing page tables at once do not all take
	 * the pool's lock (mm/mm.c). Never used from interrupt handlers. */
	struct frame_cache frames;
	/* Senders with a request for this CPU; other CPUs set bits, this CPU clears them. */
	struct cpumask call_inbox __attribute__((aligned(CACHE_LINE)));
	struct call_request call_out;
	/* TLB shootdowns (smp/tlb_ipi.c): initiators with a request for this CPU, and this CPU's own
	 * outgoing request. */
	struct cpumask tlb_inbox __attribute__((aligned(CACHE_LINE)));
	struct tlb_ipi_out tlb_out;
} __attribute__((aligned(CACHE_LINE)));

extern struct percpu percpu_areas[MAX_CPUS];
#define percpu_bsp (percpu_areas[0])

static inline struct percpu *this_cpu(void)
{
	struct percpu *p;

	__asm__ volatile("movq %%gs:0, %0" : "=r"(p));
	return p;
}

static inline struct percpu *percpu_of(u32 cpu)
{
	return &percpu_areas[cpu];
}

/* The calling CPU's dense index (0 = the boot CPU). */
static inline u32 smp_cpu(void)
{
	return this_cpu()->cpu;
}

extern u32 nr_cpus;                 /* CPUs online: dense indices 0 .. nr_cpus - 1 (smp/smp.c) */
extern struct cpumask cpu_online_mask;

/* Before percpu_init_bsp() GS is not set up; code that may run that early checks this. */
extern bool percpu_ready;

void percpu_init_bsp(void);
void percpu_load(struct percpu *p); /* point GS at p on the calling CPU */

#endif
