/* SMP: the processors ACPI lists, brought online with INIT-SIPI-SIPI, and the conversions
 * between the CPU identities. Three identities never mix: `cpu` (dense index, 0 = boot CPU),
 * `apic_id`, and (with Hyper-V) `vp_index`; convert only through the functions here. */
#ifndef SMP_SMP_H
#define SMP_SMP_H

/* AP start-up page (below 1 MiB, page aligned; the SIPI vector is its page number) and the
 * trampoline's parameter block, shared with smp/trampoline.S. */
#define TRAMPOLINE_PHYS 0x8000  /* preferred; any free page below TRAMPOLINE_LIMIT serves */
#define TRAMPOLINE_LIMIT 0x100000
#define TP_CR3 0     /* u32: page table for the climb (maps low memory 1:1) */
#define TP_EFER 4    /* u32: EFER bits to set (LME, and NXE when the boot CPU has it) */
#define TP_STACK 8   /* u64: the AP's stack top */
#define TP_PERCPU 16 /* u64: its struct percpu, passed to ap_entry() */
#define TP_ENTRY 24  /* u64: ap_entry */
#define TP_SIZE 32

#ifndef __ASSEMBLER__
#include "kernel/types.h"
#include "smp/cpumask.h"
#include "smp/call.h"
#include "smp/percpu.h"

#define INVALID_CPU 0xffffffffu
#define INVALID_APIC_ID 0xffffffffu

struct tramp_params {
	u32 cr3, efer;
	u64 stack, percpu, entry;
} __attribute__((packed));
_Static_assert(sizeof(struct tramp_params) == TP_SIZE, "trampoline parameter block");

u32 cpu_to_apic_id(u32 cpu);      /* INVALID_APIC_ID for a CPU that is not online */
u32 apic_id_to_cpu(u32 apic_id);  /* INVALID_CPU for an APIC ID that is not online */

/* A fixed-vector IPI to every CPU in the set (never the caller). 0, or -EIO if one failed. */
int smp_send_ipi_mask(const struct cpumask *targets, u8 vector);

struct smp_settings {
	u64 max_cpus;      /* bring up at most this many CPUs */
	u64 ap_timeout_ms; /* how long an AP may take to check in */
	u64 lose_cpu;      /* test hook: the AP with this APIC ID is never started (0: off) */
	u64 tramp_reserved; /* test hook: this page counts as reserved for the AP start-up code */
};
/* Topology from the MADT, APIC, bring-up; prints the topology. */
void smp_init(const struct smp_settings *s);
void smp_report(void); /* the topology record */
/* Listed CPUs that were asked for (all, or at most cpus=) but are not online: a run with any is
 * an error, whatever it measured. smp_report_missing() prints the one line naming them. */
u32 smp_missing_cpus(void);
void smp_report_missing(void);

#endif

#endif
