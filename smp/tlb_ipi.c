/* The IPI backend: the initiator posts its request in its own per-CPU slot, sets its bit in each
 * target's inbox and sends VEC_TLB_FLUSH; each target copies the request, acknowledges in a
 * slot of its own (one cache line per initiator-target pair, so no two targets write the same
 * line), and flushes — acknowledging before the flush (early ack) or after it (late ack). An
 * early ack is safe for the translations because the interrupted code cannot run again before
 * the handler has flushed; it is not safe when the change freed page tables, because the
 * hardware may walk them through its paging-structure caches at any time until the flush (also
 * inside this handler), so such requests are always acknowledged after flushing. How targets are kicked is pluggable, so paravirtual IPI backends reuse all of this. */
#include "smp/tlb_ipi.h"
#include "kernel/console.h"
#include "kernel/errno.h"
#include "kernel/string.h"
#include "kernel/time.h"
#include "kernel/trap.h"
#include "kernel/x86.h"
#include "mm/frame.h"
#include "mm/mm.h"
#include "smp/apic.h"
#include "smp/percpu.h"
#include "smp/smp.h"

struct tlb_ack_slot {
	u64 seq;     /* the request acknowledged */
	u64 tsc;     /* the target's TSC just after acknowledging it */
	u64 entry;   /* its TSC at handler entry, and after flushing (tlb_settings.stamp_entry) */
	u64 exit;
	u64 stamped; /* the request the stamps belong to (written after them) */
} __attribute__((aligned(CACHE_LINE)));

static struct tlb_ack_slot *acks; /* [initiator * nr_cpus + target] */
static u32 ack_stride;

static struct tlb_ack_slot *ack_slot(u32 initiator, u32 target)
{
	return &acks[initiator * ack_stride + target];
}

/* The acknowledgement first, then its timestamp: the clock read is off the initiator's path. */
static void acknowledge(struct tlb_ack_slot *a, u64 seq)
{
	__atomic_store_n(&a->seq, seq, __ATOMIC_RELEASE); /* pairs with tlb_ipi_finish() */
	a->tsc = rdtsc();
}

/* The stamps are complete: the initiator may read them (pairs with tlb_ipi_acks()). */
static void stamped(struct tlb_ack_slot *a, u64 seq, u64 entry)
{
	a->entry = entry;
	a->exit = entry ? rdtsc() : 0;
	__atomic_store_n(&a->stamped, seq, __ATOMIC_RELEASE);
}

static void tlb_ipi_handler(struct trap_frame *frame)
{
	/* Read before anything else, and only when asked: it delays the acknowledgement. */
	u64 entry = __atomic_load_n(&tlb_settings.stamp_entry, __ATOMIC_RELAXED) ? rdtsc() : 0;
	struct percpu *me = this_cpu();

	(void)frame;
	if (me->cpu == __atomic_load_n(&tlb_settings.deaf_cpu, __ATOMIC_RELAXED)) {
		apic_eoi(); /* test hook: never answer */
		return;
	}
	for_each_cpu(initiator, &me->tlb_inbox) {
		const struct tlb_ipi_out *out = &percpu_of(initiator)->tlb_out;
		struct tlb_flush f;
		bool early;
		u64 seq;

		/* The acquire pairs with the release when the initiator set the bit. */
		if (!cpumask_test_and_clear_atomic(&me->tlb_inbox, initiator))
			continue;
		f = out->f;
		seq = out->seq;
		early = f.ack == TLB_ACK_EARLY && !f.freed_tables;
		if (early)
			acknowledge(ack_slot(initiator, me->cpu), seq);
		tlb_flush_local(&f);
		if (!early)
			acknowledge(ack_slot(initiator, me->cpu), seq);
		stamped(ack_slot(initiator, me->cpu), seq, entry);
		entry = 0; /* a second request in the same interrupt has no entry of its own */
	}
	apic_eoi();
}

int tlb_ipi_init(void)
{
	u64 bytes = (u64)nr_cpus * nr_cpus * sizeof(struct tlb_ack_slot);

	if (acks)
		return 0; /* shared by every backend built on this one */
	acks = mm_alloc_zeroed(bytes);
	if (!acks) {
		kprintf("tlb: no memory for %u x %u acknowledgement slots\n", nr_cpus, nr_cpus);
		return -ENOMEM;
	}
	ack_stride = nr_cpus;
	trap_set_handler(VEC_TLB_FLUSH, tlb_ipi_handler);
	return 0;
}

int tlb_ipi_kick_apic(const struct cpumask *targets)
{
	return smp_send_ipi_mask(targets, VEC_TLB_FLUSH);
}

int tlb_ipi_post(const struct tlb_flush *f, const struct cpumask *targets, tlb_kick_fn kick)
{
	struct percpu *me = this_cpu();
	struct tlb_ipi_out *out = &me->tlb_out;

	out->f = *f;
	out->seq++;
	out->waited = *targets;
	for_each_cpu(cpu, targets)
		cpumask_set_atomic(&percpu_of(cpu)->tlb_inbox, me->cpu); /* release: out is visible */
	return kick(targets);
}

int tlb_ipi_post_counted(const struct tlb_flush *f, const struct cpumask *targets, tlb_kick_fn kick,
			 struct tlb_sample *s)
{
	int ret = tlb_ipi_post(f, targets, kick);

	if (ret == TLB_KICK_FELL_BACK) {
		s->fallbacks++;
		ret = 0;
	}
	return ret;
}

static int ipi_start(const struct tlb_flush *f, const struct cpumask *targets, struct tlb_sample *s)
{
	(void)s;
	return tlb_ipi_post(f, targets, tlb_ipi_kick_apic);
}

/* Report and withdraw the requests of targets that did not acknowledge in time. */
static void watchdog(const struct cpumask *late)
{
	struct percpu *me = this_cpu();

	kprintf("tlb: watchdog: shootdown from cpu %u not acknowledged after %lu ms by:", me->cpu,
		tlb_settings.ack_timeout_us / 1000);
	for_each_cpu(cpu, late) {
		kprintf(" cpu %u (APIC ID %u)", cpu, cpu_to_apic_id(cpu));
		cpumask_test_and_clear_atomic(&percpu_of(cpu)->tlb_inbox, me->cpu);
	}
	kprintf("\n");
}

int tlb_ipi_finish(const struct tlb_flush *f, const struct cpumask *targets, struct tlb_sample *s)
{
	struct percpu *me = this_cpu();
	const struct tlb_ipi_out *out = &me->tlb_out;
	struct liveness l;
	struct cpumask late;
	u32 spins = 0;

	liveness_start_at(&l, f->deadline); /* no clock read here: inside the timed window */
	cpumask_clear_all(&late);
	for_each_cpu(cpu, targets) {
		const struct tlb_ack_slot *a = ack_slot(me->cpu, cpu);

		while (__atomic_load_n(&a->seq, __ATOMIC_ACQUIRE) != out->seq) {
			if (!(++spins % TLB_POLL_SPINS) && liveness_expired(&l)) {
				cpumask_set(&late, cpu);
				break;
			}
			cpu_relax();
		}
	}
	s->late = cpumask_weight(&late);
	if (s->late) {
		watchdog(&late);
		return -ETIMEDOUT;
	}
	return 0;
}

/* After the window: each acknowledged target's stamp against the initiator's start. A stamp
 * before the start means the two TSCs disagree by more than the latency (the boot measures and
 * reports their offsets): it is counted, and passed on as it is. */
void tlb_ipi_acks(const struct tlb_flush *f, struct tlb_sample *s, tlb_ack_fn ack, void *ctx)
{
	struct percpu *me = this_cpu();
	struct tlb_ipi_out *out = &me->tlb_out;

	for_each_cpu(cpu, &out->waited) {
		const struct tlb_ack_slot *a = ack_slot(me->cpu, cpu);
		struct tlb_target_stamp st;
		struct liveness l;

		if (!ack || __atomic_load_n(&a->seq, __ATOMIC_ACQUIRE) != out->seq)
			continue; /* not wanted, or late (the watchdog has reported it) */
		liveness_start_at(&l, deadline_after_us(tlb_settings.ack_timeout_us));
		while (__atomic_load_n(&a->stamped, __ATOMIC_ACQUIRE) != out->seq && !liveness_expired(&l))
			cpu_relax();
		st = (struct tlb_target_stamp){ .ack = (s64)(a->tsc - f->t0) };
		/* No entry stamp: not asked for, a second request in one interrupt, or the target did
		 * not finish stamping before the deadline. */
		st.entered = a->entry && __atomic_load_n(&a->stamped, __ATOMIC_ACQUIRE) == out->seq;
		if (st.entered) {
			st.entry = (s64)(a->entry - f->t0);
			st.exit = (s64)(a->exit - f->t0);
		}
		if (st.ack < 0)
			s->acks_before_start++;
		ack(ctx, cpu, &st);
	}
	cpumask_clear_all(&out->waited);
}

struct tlb_backend tlb_backend_ipi = {
	.name = "ipi",
	.recommended = true,
	.init = tlb_ipi_init,
	.start = ipi_start,
	.finish = tlb_ipi_finish,
	.acks = tlb_ipi_acks,
};
TLB_BACKEND(tlb_backend_ipi, 90); /* last: `auto` falls back to it */
