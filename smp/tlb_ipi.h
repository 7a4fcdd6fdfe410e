/* The IPI shootdown backend's parts, shared with the paravirtual IPI backends that only change
 * how targets are kicked. */
#ifndef SMP_TLB_IPI_H
#define SMP_TLB_IPI_H

#include "mm/tlb.h"

/* A CPU's outgoing request (in struct percpu). */
struct tlb_ipi_out {
	struct tlb_flush f;
	u64 seq;
	struct cpumask waited; /* targets of the request posted last, for tlb_ipi_acks() */
} __attribute__((aligned(64)));

/* Spins of the acknowledgement poll between two looks at the clock (the watchdog's deadline):
 * reading the TSC can cost thousands of cycles under a hypervisor that traps it. */
#define TLB_POLL_SPINS 1024

/* Kick the targets: 0, a negative error, or TLB_KICK_FELL_BACK when the paravirtual kick failed
 * and plain IPIs were sent instead. */
typedef int (*tlb_kick_fn)(const struct cpumask *targets);
#define TLB_KICK_FELL_BACK 1

extern struct tlb_backend tlb_backend_ipi; /* the plain one: usable everywhere */

int tlb_ipi_init(void);
int tlb_ipi_kick_apic(const struct cpumask *targets);
int tlb_ipi_post(const struct tlb_flush *f, const struct cpumask *targets, tlb_kick_fn kick);
/* The same, counting a fallback of the kick in s. */
int tlb_ipi_post_counted(const struct tlb_flush *f, const struct cpumask *targets, tlb_kick_fn kick,
			 struct tlb_sample *s);
int tlb_ipi_finish(const struct tlb_flush *f, const struct cpumask *targets, struct tlb_sample *s);
void tlb_ipi_acks(const struct tlb_flush *f, struct tlb_sample *s, tlb_ack_fn ack, void *ctx);

#endif
