/* One change to a slice and its shootdown, as the scenario's workload makes it, and the lockstep
 * wait for every reader to see it (bench/stress.c runs them). */
#include "bench/stress_run.h"
#include "kernel/console.h"
#include "kernel/errno.h"
#include "kernel/printf.h"
#include "kernel/string.h"
#include "kernel/time.h"
#include "kernel/trap.h"
#include "kernel/x86.h"
#include "mm/aspace.h"
#include "mm/flush.h"
#include "mm/frame.h"
#include "mm/mm.h"
#include "mm/tlb.h"
#include "smp/apic.h"
#include "smp/smp.h"
#include "smp/tsc_sync.h"
#include "kvm/kvm.h"

struct stress_state stress;

bool stress_aborted(void)
{
	return __atomic_load_n(&stress.abort, __ATOMIC_ACQUIRE);
}

bool stress_halting(void)
{
	return stress.c->targets == TARGETS_HALT && !scenario_all_initiators(stress.c);
}

void stress_wake_readers(void)
{
	struct cpumask readers = cpu_online_mask;

	if (!stress_halting())
		return;
	cpumask_clear(&readers, 0); /* the one initiator */
	if (!cpumask_empty(&readers))
		smp_send_ipi_mask(&readers, VEC_WAKE);
}

void stress_wake_handler(struct trap_frame *f)
{
	(void)f;
	apic_eoi(); /* nothing to do: the reader's loop looks again */
}

void stress_rewake_handler(struct trap_frame *f)
{
	(void)f;
	stress.counts[smp_cpu()].rewoken = true;
	apic_eoi();
}

/* Stop every worker; the first reason given is the one reported. */
void stress_abort(const char *why)
{
	const char *none = NULL;

	if (why && __atomic_compare_exchange_n(&stress.r->error, &none, why, false, __ATOMIC_ACQ_REL,
					       __ATOMIC_ACQUIRE))
		kprintf("stress: %s\n", why);
	__atomic_store_n(&stress.abort, true, __ATOMIC_RELEASE);
	stress_wake_readers();
}

paddr_t *stress_frame_slot(u32 set, u32 slice, u64 k)
{
	return &stress.frames[((u64)set * stress.nslices + slice) * stress.c->pages + k];
}

void stress_set_tag(paddr_t pa, u64 tag)
{
	__atomic_store_n((u64 *)phys_to_virt(pa), tag, __ATOMIC_RELAXED);
}

static u64 clamp0(s64 v)
{
	return v > 0 ? (u64)v : 0;
}

/* The acknowledgement as the initiator's clock saw it (clamped at 0: acks_before_start counts
 * those), and, with one initiator, the target's stamps with its TSC offset from CPU 0 taken
 * out, per target and pooled; the handler's time needs no correction (one TSC). */
static void record_ack(void *ctx, u32 cpu, const struct tlb_target_stamp *st)
{
	struct histogram *h = ctx, *t;
	struct cpu_counts *cc = &stress.counts[smp_cpu()];
	s64 off = tsc_offset(cpu), ack = st->ack - off;

	hist_add(&h[HIST_ACK], clamp0(st->ack));
	if (!stress.target_hists)
		return;
	t = &stress.target_hists[cpu * TH_COUNT];
	if (ack < 0)
		stress.target_before[cpu]++;
	hist_add(&t[TH_ACK], clamp0(ack));
	hist_add(&h[HIST_ACKED], clamp0(ack));
	cc->last_ack = cc->acked ? MAX(cc->last_ack, ack) : ack;
	cc->acked = true;
	if (!st->entered)
		return;
	hist_add(&t[TH_ENTRY], clamp0(st->entry - off));
	hist_add(&h[HIST_ENTRY], clamp0(st->entry - off));
	hist_add(&t[TH_HANDLER], clamp0(st->exit - st->entry));
	hist_add(&h[HIST_HANDLER], clamp0(st->exit - st->entry));
}

static void shot(int ret)
{
	if (!ret)
		return;
	__atomic_fetch_add(ret == -ETIMEDOUT ? &stress.r->timeouts : &stress.r->failed, 1, __ATOMIC_RELAXED);
	stress_abort(ret == -ETIMEDOUT ? "the watchdog fired: a target did not acknowledge a shootdown"
				  : "a shootdown failed");
}

/* A shootdown without targets measures only the local flush: it is counted apart, so that one
 * histogram never mixes the two (several address spaces leave some with no other CPU in them). */
static void shoot(u32 a, u32 s, u64 gen, bool freed_tables, bool measure)
{
	struct tlb_range range = { stress.slices[s].va, stress.c->pages };
	struct tlb_request rq = { .as = &stress.as[a], .gen = gen, .ranges = &range,
				  .nranges = stress.c->full ? TLB_FULL : 1, .freed_tables = freed_tables,
				  .ack = (u8)stress.c->ack, .skip = stress.part->skip };
	struct histogram *h = &stress.hists[HIST_PER_CPU * smp_cpu()];
	struct cpu_counts *cc = &stress.counts[smp_cpu()];
	struct tlb_sample smp;
	u64 steal = measure ? kvm_steal_ns_total() : 0;

	if (!gen)
		return; /* nothing took effect (cannot happen: every page is mapped) */
	cc->acked = false;
	shot(tlb_shootdown(&rq, &smp, measure ? record_ack : NULL, h));
	if (!measure)
		return;
	/* From the last acknowledgement to the end of the window: the initiator seeing it. */
	if (cc->acked && smp.targets)
		hist_add(&h[HIST_SEEN], clamp0((s64)smp.cycles - cc->last_ack));
	/* KVM adds a vCPU's steal time when it runs it again: a target preempted in the window has
	 * it added before it acknowledges, the initiator before the window ends. */
	if (kvm_steal_ns_total() != steal)
		cc->stolen++;
	if (smp.targets)
		hist_add(&h[HIST_LATENCY], smp.cycles);
	else
		cc->untargeted++;
	cc->shootdowns++;
	cc->targets += smp.targets;
	cc->skipped += smp.skipped;
	cc->raced += smp.raced;
	cc->fallbacks += smp.fallbacks;
	cc->acks_before_start += smp.acks_before_start;
}

/* A null shootdown of `range` in address space a, as the scenario would shoot it down. */
static struct tlb_request null_request(u32 a, const struct tlb_range *range)
{
	return (struct tlb_request){ .as = &stress.as[a], .ranges = range,
				     .nranges = stress.c->full ? TLB_FULL : 1, .ack = (u8)stress.c->ack,
				     .null = true };
}

/* The in-scenario floor: a null shootdown of slice s in every address space, in the state the
 * real one meets (every reader has checked the published state and is sweeping). */
static void shoot_null(u32 s)
{
	struct tlb_range range = { stress.slices[s].va, stress.c->pages };
	struct histogram *h = &stress.hists[HIST_PER_CPU * smp_cpu()];
	struct cpu_counts *cc = &stress.counts[smp_cpu()];
	struct tlb_sample smp;

	for (u32 a = 0; a < stress.nas && !stress_aborted(); a++) {
		struct tlb_request rq = null_request(a, &range);

		shot(tlb_shootdown(&rq, &smp, NULL, NULL));
		if (smp.targets)
			hist_add(&h[HIST_NULL], smp.cycles);
		else
			cc->null_untargeted++;
	}
}

/* kvm-unit-tests' vmexit way: n null shootdowns back to back between two TSC reads, so their
 * mean carries no per-sample clock cost. In the change window like the interleaved ones. The
 * watchdog allows the usual timeout plus SUSPECT_FACTOR x the interleaved nulls' mean each. */
void stress_batch(u32 s)
{
	struct tlb_range range = { stress.slices[s].va, stress.c->pages };
	const struct histogram *nulls = &stress.hists[HIST_PER_CPU * smp_cpu() + HIST_NULL];
	struct tlb_request rq = null_request(0, &range);
	u64 n = stress.c->batch, each = nulls->count ? nulls->sum / nulls->count : 0, t0, i;
	struct tlb_sample smp;
	int ret = 0;

	if (!n || !each)
		return; /* no batch asked for, or no interleaved null had a target */
	oracle_begin_change(&stress.o, s);
	t0 = rdtsc_ordered();
	rq.batch_deadline = t0 + ns_to_tsc(tlb_settings.ack_timeout_us * 1000) + n * each * SUSPECT_FACTOR;
	for (i = 0; i < n && !ret; i++)
		ret = tlb_shootdown(&rq, &smp, NULL, NULL);
	stress.r->batch_cycles = rdtsc_ordered() - t0;
	stress.r->batch_n = ret || !smp.targets ? 0 : i; /* none: address space 0 had no target */
	oracle_end_change(&stress.o, s);
	stress_wake_readers();
	shot(ret);
}

void stress_switch_to(u32 a)
{
	cli();
	aspace_switch(a < stress.nas ? &stress.as[a] : NULL);
	oracle_forget(&stress.o, smp_cpu());
	sti();
}

/* The next slice this CPU reads: its neighbours' in turn (every initiator), or slice 0. With
 * several address spaces it moves to the next one every SWITCH_STATES states it has seen
 * published, right after the sweep that looked at the new state and before the sweep that tells
 * the owner it has seen it: so an owner in lockstep never changes a slice whose translations the
 * reader is about to drop. */
void stress_sweep_next(u32 me)
{
	struct cpu_counts *cc = &stress.counts[me];
	bool move;
	u32 s = 0;

	if (stress.part->all_initiators && stress.nslices > 1) {
		s = cc->next_slice = (cc->next_slice + 1) % stress.nslices;
		if (s == me)
			s = cc->next_slice = (s + 1) % stress.nslices;
	}
	move = stress.nas > 1 && oracle_unseen(&stress.o, s) && !(++cc->states % SWITCH_STATES);
	oracle_sweep(&stress.o, s, !move);
	if (move) {
		cc->cur_as = (cc->cur_as + 1) % stress.nas;
		stress_switch_to(cc->cur_as);
	}
}

/* Lockstep: wait until every other CPU has swept slice s in its published state, reading the
 * others' slices meanwhile (every CPU may be waiting on another). The timeout runs from the
 * laggard's last sign of progress (a page checked), so a slow or preempted vCPU on a busy host
 * is waited for, and one that is stuck is not; OBSERVE_MAX_FACTOR bounds the whole wait. */
static void wait_observed(u32 s)
{
	u64 window = liveness_us(OBSERVE_TIMEOUT_US) + tlb_settings.ack_timeout_us;
	struct cpumask others = cpu_online_mask;
	u32 me = smp_cpu(), laggard = me;
	struct liveness quiet, whole; /* since the laggard's last progress; the whole wait */
	u64 progress = 0;

	if (!stress.part->lockstep)
		return;
	liveness_start_at(&quiet, deadline_after_us(window));
	liveness_start_at(&whole, deadline_after_us(window * OBSERVE_MAX_FACTOR));
	cpumask_clear(&others, me);
	while (!oracle_observed(&stress.o, s, &others, &laggard) && !stress_aborted()) {
		u64 now = __atomic_load_n(&stress.o.counts[laggard].checks, __ATOMIC_RELAXED);
		bool stuck, unstable;

		if (now != progress) {
			progress = now;
			quiet.deadline = deadline_after_us(window);
		}
		stuck = liveness_expired(&quiet);
		unstable = liveness_expired(&whole);
		if (stuck || unstable) {
			static char why[160];

			ksnprintf(why, sizeof(why), "cpu %u did not check slice %u (lockstep): %s for %lu ms "
				  "(%lu ms of this CPU's own stalls not counted)", laggard, s,
				  unstable ? "no stable sweep" : "no progress", window / 1000,
				  tsc_to_ns(whole.stalled) / 1000000);
			stress_abort(why);
			return;
		}
		if (stress.part->all_initiators && stress.nslices > 1)
			stress_sweep_next(me);
		else
			cpu_relax();
	}
}

static void change_remap(u32 s, u64 gen, bool measure)
{
	struct slice *sl = &stress.slices[s];
	u64 n = stress.c->pages;
	u32 set = (sl->set + 1) % NSETS, old = sl->set;

	oracle_begin_change(&stress.o, s);
	for (u64 k = 0; k < n; k++)
		stress_set_tag(*stress_frame_slot(set, s, k), gen);
	for (u32 a = 0; a < stress.nas; a++) {
		aspace_change_begin(&stress.as[a]);
		for (u64 k = 0; k < n; k++)
			aspace_edit_replace(&stress.as[a], oracle_page_va(&stress.o, s, k), PAGE_SIZE, *stress_frame_slot(set, s, k));
		shoot(a, s, aspace_change_end(&stress.as[a]), false, measure);
	}
	sl->set = set;
	oracle_publish(&stress.o, s, gen, STATE_MAPPED);
	stress_wake_readers();
	/* Shot down and published: no live translation may reach the old frames any more. */
	for (u64 k = 0; k < n; k++)
		stress_set_tag(*stress_frame_slot(old, s, k), TAG_RETIRED);
}

/* Take rights away (read-only, or unmapped) in every address space and shoot that down. */
static void change_lower(u32 s, bool measure)
{
	u64 n = stress.c->pages;

	oracle_begin_change(&stress.o, s);
	for (u32 a = 0; a < stress.nas; a++) {
		struct aspace *as = &stress.as[a];
		struct pt_freelist fl = { 0 };

		aspace_change_begin(as);
		for (u64 k = 0; k < n; k++) {
			u64 va = oracle_page_va(&stress.o, s, k);

			if (stress.c->workload == WL_PROTECT)
				aspace_edit_protect(as, va, PAGE_SIZE, 0, PTE_W);
			else
				aspace_edit_unmap(as, va, PAGE_SIZE, &fl);
		}
		shoot(a, s, aspace_change_end(as), fl.n > 0, measure);
		if (fl.n) {
			spin_lock(&as->lock);
			pt_release(&as->pt, &fl); /* only now can no walker reach them */
			spin_unlock(&as->lock);
		}
	}
}

/* Give the rights back: no shootdown (a stale lower right only costs a spurious fault). */
static void raise_again(u32 s)
{
	struct slice *sl = &stress.slices[s];

	for (u32 a = 0; a < stress.nas; a++)
		for (u64 k = 0; k < stress.c->pages; k++) {
			u64 va = oracle_page_va(&stress.o, s, k);

			if (stress.c->workload == WL_PROTECT)
				aspace_protect(&stress.as[a], va, PAGE_SIZE, PTE_W, 0, NULL);
			else
				aspace_map(&stress.as[a], va, *stress_frame_slot(sl->set, s, k), PAGE_SIZE, PTE_W | PTE_NX);
		}
}

/* Right before a change: look at every other slice whose new state this CPU has not seen yet
 * (our own local flush may be a whole-context one and would drop what their owners left stale
 * here), then load our own slice's translations, which the change is about to make stale. */
static void prepare(u32 s)
{
	if (stress.part->all_initiators)
		for (u32 other = 0; other < stress.nslices; other++)
			if (other != s && oracle_unseen(&stress.o, other))
				oracle_sweep(&stress.o, other, true);
	oracle_sweep(&stress.o, s, true);
}

/* One iteration on slice s. The initiator sweeps its own slice after every publish: that is what
 * catches a skipped local flush, and what loads its translations before the next change. */
void stress_initiate(u32 s, bool measure)
{
	struct slice *sl = &stress.slices[s];
	u64 gen = sl->gen + 1;

	wait_observed(s); /* every reader holds the current state's translations */
	prepare(s);
	/* Inside the change window, before its first edit: the targets are in the state the real
	 * shootdown finds them in (with inflight=skip, not sweeping this slice). A negative
	 * control's latencies mean nothing: no floor for them. */
	if (measure && stress.part->skip == TLB_SKIP_NONE) {
		oracle_begin_change(&stress.o, s);
		shoot_null(s);
	}
	if (stress.c->workload == WL_REMAP) {
		change_remap(s, gen, measure);
		oracle_sweep(&stress.o, s, true);
		return;
	}
	change_lower(s, measure);
	oracle_publish(&stress.o, s, gen, stress.c->workload == WL_PROTECT ? STATE_READONLY : STATE_UNMAPPED);
	stress_wake_readers();
	oracle_sweep(&stress.o, s, true);
	wait_observed(s); /* every reader looked while the lowered state was published */
	/* Publish before raising: a write or read that succeeds while the lowered state is still
	 * published must be a stale entry, never our own restore. */
	oracle_publish_in_change(&stress.o, s, gen + 1, STATE_MAPPED);
	raise_again(s);
	oracle_end_change(&stress.o, s);
	stress_wake_readers();
	oracle_sweep(&stress.o, s, true);
}
