/* Shootdown backends on KVM's paravirtual interface:
 *   kvm-flush: a target whose steal-time area says it is preempted gets KVM_VCPU_FLUSH_TLB set
 *     instead of an IPI, and the host flushes its TLB before it runs again; the others get the
 *     IPI backend. The flag is set with a compare-and-swap on the whole byte, so if the vCPU
 *     starts running between our read and our write the swap fails and it is sent an IPI
 *     instead (the guest half of what went wrong in CVE-2019-3016: a flush request must never
 *     be lost to a vCPU that is already running).
 *   kvm-ipi: the IPI backend with its kicks sent by KVM_HC_SEND_IPI, 128 APIC IDs per call. */
#include "kvm/kvm.h"
#include "kernel/console.h"
#include "mm/tlb.h"
#include "smp/tlb_ipi.h"
#include "smp/apic.h"
#include "smp/smp.h"

static int kvmf_start(const struct tlb_flush *f, const struct cpumask *targets, struct tlb_sample *s);

static void probe(struct tlb_backend *b)
{
	bool flush = b->start == kvmf_start;

	if (!kvm.present)
		b->unavailable = "not running on KVM";
	else if (kvm.disabled)
		b->unavailable = kvm.disabled;
	else if (flush && !kvm.pv_tlb_flush)
		b->unavailable = "KVM offers no PV TLB flush (or no steal time)";
	else if (!flush && !kvm.pv_send_ipi)
		b->unavailable = "KVM offers no PV send IPI";
	else
		b->unavailable = NULL;
	/* As Linux does: the PV flush when KVM offers it, but not where it cannot help: vCPUs on
	 * dedicated host CPUs (KVM_HINTS_REALTIME) are never preempted, and with MWAIT exposed idle
	 * vCPUs stay in the guest, so neither is ever found preempted. Still selectable by name. */
	b->recommended = flush && !b->unavailable && !(kvm.hints & KVM_HINTS_REALTIME) &&
			 !(cpuid_ecx(1) & CPUID_1_ECX_MWAIT);
}

/* Mark preempted targets to flush on their next entry; drop them from the IPI set. Counts in
 * *raced the ones the host resumed between our read and our swap (they keep their IPI). */
static u32 defer_preempted(struct cpumask *ipi_targets, u32 *raced)
{
	u32 skipped = 0;

	for_each_cpu(cpu, ipi_targets) {
		u8 *state = &kvm_steal_area(cpu)->preempted;
		u8 old = __atomic_load_n(state, __ATOMIC_ACQUIRE);

		if (!(old & KVM_VCPU_PREEMPTED))
			continue;
		/* Fails if the host cleared PREEMPTED meanwhile: the vCPU is running, IPI it. */
		if (__atomic_compare_exchange_n(state, &old, old | KVM_VCPU_FLUSH_TLB, false,
						__ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) {
			cpumask_clear(ipi_targets, cpu);
			skipped++;
		} else {
			(*raced)++;
		}
	}
	return skipped;
}


static u32 forget_preempted(struct cpumask *ipi_targets)
{
	u32 skipped = 0;

	for_each_cpu(cpu, ipi_targets) {
		if (__atomic_load_n(&kvm_steal_area(cpu)->preempted, __ATOMIC_ACQUIRE) & KVM_VCPU_PREEMPTED) {
			cpumask_clear(ipi_targets, cpu);
			skipped++;
		}
	}
	return skipped;
}

static struct cpumask kvm_ipi_targets[MAX_CPUS]; /* per initiator: the ones still to IPI */

static int kvmf_start(const struct tlb_flush *f, const struct cpumask *targets, struct tlb_sample *s)
{
	struct cpumask *rest = &kvm_ipi_targets[smp_cpu()];

	*rest = *targets;
	s->skipped = kvm.forget_flag ? forget_preempted(rest) : defer_preempted(rest, &s->raced);
	return cpumask_empty(rest) ? 0 : tlb_ipi_post(f, rest, tlb_ipi_kick_apic);
}

static int kvmf_finish(const struct tlb_flush *f, const struct cpumask *targets, struct tlb_sample *s)
{
	const struct cpumask *rest = &kvm_ipi_targets[smp_cpu()];

	(void)targets;
	return cpumask_empty(rest) ? 0 : tlb_ipi_finish(f, rest, s);
}

/* One KVM_HC_SEND_IPI per window of 128 APIC IDs that holds targets. */
static int kvm_kick(const struct cpumask *targets)
{
	struct cpumask left = *targets;
	int ret = 0;

	while (!cpumask_empty(&left)) {
		u32 min = ~0u;
		u64 bits[2] = { 0, 0 };

		for_each_cpu(cpu, &left)
			min = MIN(min, cpu_to_apic_id(cpu));
		for_each_cpu(cpu, &left) {
			u32 off = cpu_to_apic_id(cpu) - min;

			if (off < KVM_IPI_CLUSTER) {
				bits[off / 64] |= 1ull << (off % 64);
				cpumask_clear(&left, cpu);
			}
		}
		if (kvm_send_ipi(bits[0], bits[1], min, ICR_DELIVERY_FIXED | VEC_TLB_FLUSH) < 0)
			ret = -1;
	}
	return ret ? tlb_ipi_kick_apic(targets) ?: TLB_KICK_FELL_BACK : 0;
}

static int kvmipi_start(const struct tlb_flush *f, const struct cpumask *targets, struct tlb_sample *s)
{
	return tlb_ipi_post_counted(f, targets, kvm_kick, s);
}

static struct tlb_backend tlb_backend_kvm_flush = { .name = "kvm-flush", .probe = probe,
						    .init = tlb_ipi_init, .start = kvmf_start,
						    .finish = kvmf_finish, .acks = tlb_ipi_acks };
TLB_BACKEND(tlb_backend_kvm_flush, 30);

bool kvm_forgets(const struct tlb_backend *b)
{
	return kvm.forget_flag && b == &tlb_backend_kvm_flush;
}
static struct tlb_backend tlb_backend_kvm_ipi = { .name = "kvm-ipi", .probe = probe, .init = tlb_ipi_init,
						  .start = kvmipi_start, .finish = tlb_ipi_finish,
						  .acks = tlb_ipi_acks };
TLB_BACKEND(tlb_backend_kvm_ipi, 31);
