/* Page-table stress: the scenario's initiators change their slices and shoot the changes down
 * while every other CPU sweeps them through the oracle (bench/oracle.h).
 *
 * A run has two parts. The canary: CPU 0 makes a few changes to its slice with the remote flush
 * left out (skip_flush=remote), in lockstep with the readers, and the oracle must see stale
 * translations — if it cannot, this configuration on this platform cannot show a broken flush,
 * and the record says so. Then every CPU flushes its whole TLB and the measured part runs:
 * warm-up and measured iterations, with the scenario's own negative control if it has one.
 *
 * Remap points the pages at other frames (three sets rotate) whose tags it has just raised and
 * retires the old ones; protect makes them read-only and back; unmap unmaps and maps them again.
 * One change is one generation per address space (mm/aspace.h), shot down with that
 * generation. Raising rights again (writable, mapped) needs no shootdown (SDM 3A 4.10.4.3). */
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

static struct part parts[2]; /* [0] canary, [1] measured */

static bool barrier(u32 *counter)
{
	struct liveness l;

	liveness_start(&l, BARRIER_TIMEOUT_US);
	__atomic_fetch_add(counter, 1, __ATOMIC_ACQ_REL);
	while (__atomic_load_n(counter, __ATOMIC_ACQUIRE) < nr_cpus) {
		if (stress_aborted())
			return false;
		if (liveness_expired(&l)) {
			/* Said, and every worker stopped (halted readers woken): never a silent end. */
			stress_abort("a worker did not reach a barrier in time");
			return false;
		}
		cpu_relax();
	}
	return true;
}

/* targets=halt, a CPU that only reads: sweep while slice 0 has a published state this CPU has
 * not seen and no change is in flight, else halt until an interrupt (a shootdown, or the wake-up
 * stress_wake_readers() sends after each publication and at the end). STI's one-instruction
 * shadow makes "sti; hlt" atomic: a wake-up that comes after the test is not lost by us. One lost
 * on the way (seen in the nested lab: a reader halted for good) must not hang the run, so each
 * halt also arms this CPU's APIC timer; a timer wake-up that finds a published change waiting is
 * counted (`safety_wakes`: a wake-up IPI late by more than REWAKE_MS, or lost). */
#define REWAKE_MS 50
static void idle_reader(u32 me, const bool *stop)
{
	u32 ticks = (u32)MIN(apic_timer_ticks_per_ms() * REWAKE_MS, 0xffffffffull);

	while (!__atomic_load_n(stop, __ATOMIC_ACQUIRE) && !stress_aborted()) {
		cli();
		if (oracle_unseen(&stress.o, 0) && !__atomic_load_n(&stress.slices[0].changing, __ATOMIC_ACQUIRE)) {
			sti();
			stress_sweep_next(me);
			continue;
		}
		stress.counts[me].rewoken = false;
		if (ticks)
			apic_timer_oneshot(ticks, VEC_REWAKE);
		__asm__ volatile("sti; hlt" ::: "memory");
		if (stress.counts[me].rewoken && oracle_unseen(&stress.o, 0))
			stress.counts[me].safety_wakes++;
	}
	apic_timer_stop();
}

/* Run part p: the initiators iterate, everybody else sweeps until they are done. */
static void run_part(const struct part *p)
{
	bool measured = p == &parts[1];
	u32 *done = &stress.done[measured];
	bool *stop = &stress.stop[measured];
	u32 me = smp_cpu();
	bool initiator = p->all_initiators || me == 0;
	u32 slice = p->all_initiators ? me : 0;
	u64 t0 = 0;

	if (initiator) {
		oracle_sweep(&stress.o, slice, true);
		for (u64 i = 0; i < p->warmup + p->iters && !stress_aborted(); i++) {
			if (i == p->warmup)
				t0 = rdtsc_ordered();
			stress_initiate(slice, measured && i >= p->warmup);
			/* A negative control (the canary, or the scenario's own) has made its point once
			 * the oracle caught it: nothing more is learnt from a broken configuration. */
			if (p->skip != TLB_SKIP_NONE && i + 1 >= p->warmup && oracle_violations(stress.o.tally))
				break;
			if (p->all_initiators)
				stress_sweep_next(me);
		}
		if (measured)
			stress.counts[me].elapsed = rdtsc_ordered() - t0;
		if (measured && !p->all_initiators && p->skip == TLB_SKIP_NONE && !stress_aborted())
			stress_batch(slice);
		if (__atomic_add_fetch(done, 1, __ATOMIC_ACQ_REL) == (p->all_initiators ? nr_cpus : 1)) {
			__atomic_store_n(stop, true, __ATOMIC_RELEASE);
			stress_wake_readers();
		}
	}
	if (stress_halting() && !initiator)
		idle_reader(me, stop);
	while (!__atomic_load_n(stop, __ATOMIC_ACQUIRE) && !stress_aborted())
		stress_sweep_next(me);
}

/* Between the parts: every CPU drops every translation the canary left stale. */
static bool reset_tlbs(void)
{
	if (!barrier(&stress.reset_in))
		return false;
	if (smp_cpu() == 0) {
		stress.o.counts = stress.ocounts[1];
		stress.o.tally = &stress.r->oracle;
		stress.part = &parts[1];
	}
	cli();
	flush_all();
	sti();
	oracle_forget(&stress.o, smp_cpu());
	return barrier(&stress.reset_out);
}

/* Before anything is measured: flush and sweep every slice a few times, so that a TLB that sizes
 * itself on use at each flush (QEMU's) has grown to the working set before the canary runs. */
static void prime(void)
{
	for (u32 round = 0; round < PRIME_ROUNDS; round++) {
		cli();
		flush_all();
		sti();
		oracle_forget(&stress.o, smp_cpu());
		for (u32 s = 0; s < stress.nslices; s++)
			oracle_sweep(&stress.o, s, true);
	}
}

static void worker(void *arg)
{
	u32 me = smp_cpu();

	(void)arg;
	stress.counts[me].cur_as = me % stress.nas;
	stress_switch_to(stress.counts[me].cur_as);
	prime();
	if (!barrier(&stress.ready))
		goto out;
	if (stress.part == &parts[0]) {
		run_part(&parts[0]);
		if (!reset_tlbs())
			goto out;
	}
	run_part(&parts[1]);
	if (me && stress.target_hists && !stress_aborted())
		stress_refill(me);
out:
	if (stress_aborted() && !stress.r->error)
		stress_abort("a worker did not reach a barrier in time");
	stress_switch_to(stress.nas); /* back to the kernel page table */
}

static void teardown(void)
{
	u64 total = (u64)NSETS * stress.nslices * stress.c->pages;

	for (u32 a = 0; a < stress.nas; a++)
		aspace_destroy(&stress.as[a]);
	for (u64 i = 0; stress.frames && i < total; i++)
		if (stress.frames[i])
			frame_free(mm_frame_pool(), NULL, stress.frames[i]);
	mm_free_zeroed(stress.frames, stress.frames_bytes);
	mm_free_zeroed(stress.hists, stress.hists_bytes);
	mm_free_zeroed(stress.obs, stress.obs_bytes);
	if (stress.target_hists)
		mm_free_zeroed(stress.target_hists, stress.target_hists_bytes);
}

static int setup_memory(void)
{
	u64 n = stress.c->pages, total = (u64)NSETS * stress.nslices * n;

	if (frame_free_count(mm_frame_pool()) < total + total / 64 + 1024) {
		kprintf("stress: %lu pages x %u slices x %u sets do not fit in %lu free frames\n", n,
			stress.nslices, NSETS, frame_free_count(mm_frame_pool()));
		return -ENOMEM;
	}
	stress.frames_bytes = total * sizeof(paddr_t);
	stress.hists_bytes = (u64)nr_cpus * HIST_PER_CPU * sizeof(struct histogram);
	stress.obs_bytes = (u64)nr_cpus * stress.nslices * sizeof(struct slice_obs);
	if (!scenario_all_initiators(stress.c)) {
		stress.target_hists_bytes = (u64)nr_cpus * TH_COUNT * sizeof(struct histogram);
		stress.target_hists = mm_alloc_zeroed(stress.target_hists_bytes);
		if (!stress.target_hists)
			return -ENOMEM;
	}
	stress.frames = mm_alloc_zeroed(stress.frames_bytes);
	stress.hists = mm_alloc_zeroed(stress.hists_bytes);
	stress.obs = mm_alloc_zeroed(stress.obs_bytes);
	if (!stress.frames || !stress.hists || !stress.obs)
		return -ENOMEM;
	for (u64 i = 0; i < total; i++) {
		stress.frames[i] = frame_alloc(mm_frame_pool(), NULL);
		if (!stress.frames[i])
			return -ENOMEM;
		stress_set_tag(stress.frames[i], i < stress.nslices * n ? 1 : TAG_RETIRED); /* set 0 is generation 1 */
	}
	for (u32 c = 0; c < nr_cpus * HIST_PER_CPU; c++)
		hist_init(&stress.hists[c]);
	return 0;
}

static int setup(void)
{
	u64 n = stress.c->pages;
	u64 stride = ALIGN_UP(n * PAGE_SIZE, (u64)LARGE_PAGE_SIZE); /* slices never share a PT */
	int ret = setup_memory();

	if (ret)
		return ret;
	for (u32 s = 0; s < stress.nslices; s++)
		stress.slices[s] = (struct slice){ .published = PUB(1, STATE_MAPPED), .va = STRESS_VA + s * stride, .gen = 1 };
	stress.o = (struct oracle){ .workload = stress.c->workload, .pages = n, .nslices = stress.nslices,
				.ncpus = nr_cpus, .slices = stress.slices, .obs = stress.obs, .epoch = stress.epoch,
				.counts = stress.ocounts[stress.part == &parts[0] ? 0 : 1],
				.tally = stress.part == &parts[0] ? &stress.r->canary : &stress.r->oracle,
				.skip_inflight = stress.c->inflight == INFLIGHT_SKIP };
	for (stress.nas = 0; stress.nas < stress.c->aspaces; stress.nas++) {
		struct aspace *as = &stress.as[stress.nas];

		if (aspace_create(as))
			return -ENOMEM;
		for (u32 s = 0; s < stress.nslices; s++)
			for (u64 k = 0; k < n; k++)
				if (aspace_map(as, oracle_page_va(&stress.o, s, k), *stress_frame_slot(0, s, k), PAGE_SIZE,
					       PTE_W | PTE_NX))
					return -ENOMEM;
	}
	return 0;
}

/* One of every CPU's histograms, merged and summarised. */
static void pooled(u32 which, struct summary *out)
{
	static struct histogram all; /* large: not on the stack */

	hist_init(&all);
	for (u32 cpu = 0; cpu < nr_cpus; cpu++)
		hist_merge(&all, &stress.hists[HIST_PER_CPU * cpu + which]);
	hist_summary(&all, out);
}

static void collect_targets(struct stress_result *r)
{
	struct breakdown *b = &r->breakdown;

	for (u32 cpu = 1; cpu < nr_cpus; cpu++) {
		const struct histogram *t = &stress.target_hists[cpu * TH_COUNT];
		struct target_acks *ta = &r->per_cpu[cpu];

		hist_summary(&t[TH_ACK], &ta->ack);
		hist_summary(&t[TH_ENTRY], &ta->entry);
		hist_summary(&t[TH_HANDLER], &ta->handler);
		hist_summary(&t[TH_REFILL], &ta->refill);
		ta->before_start = stress.target_before[cpu];
		b->offset_uncertainty = MAX(b->offset_uncertainty, tsc_offset_uncertainty(cpu));
	}
	pooled(HIST_ENTRY, &b->entry);
	pooled(HIST_ACKED, &b->ack);
	pooled(HIST_HANDLER, &b->handler);
	pooled(HIST_SEEN, &b->seen);
	pooled(HIST_COLD, &b->cold);
	pooled(HIST_WARM, &b->warm);
	pooled(HIST_REFILL, &b->refill);
}

static void collect(struct stress_result *r)
{
	for (u32 cpu = 0; cpu < nr_cpus; cpu++) {
		const struct cpu_counts *cc = &stress.counts[cpu];

		const struct histogram *h = &stress.hists[HIST_PER_CPU * cpu];

		hist_merge(&r->latency, &h[HIST_LATENCY]);
		hist_merge(&r->ack, &h[HIST_ACK]);
		hist_merge(&r->null, &h[HIST_NULL]);
		r->shootdowns += cc->shootdowns;
		r->untargeted += cc->untargeted;
		r->null_untargeted += cc->null_untargeted;
		r->acks_before_start += cc->acks_before_start;
		r->stolen_samples += cc->stolen;
		r->targets += cc->targets;
		r->skipped += cc->skipped;
		r->raced += cc->raced;
		r->safety_wakes += cc->safety_wakes;
		r->fallbacks += cc->fallbacks;
		r->elapsed_cycles = MAX(r->elapsed_cycles, cc->elapsed);
		r->deferred_flushes += percpu_of(cpu)->as.deferred_flushes;
		r->noflush_switches += percpu_of(cpu)->as.noflush_switches;
	}
	r->per_target = stress.target_hists != NULL;
	if (r->per_target)
		collect_targets(r);
	oracle_sum(&r->canary, stress.ocounts[0], nr_cpus);
	oracle_sum(&r->oracle, stress.ocounts[1], nr_cpus);
}

int stress_run(const struct scenario *c, struct stress_result *r)
{
	struct cpumask others = cpu_online_mask;
	int ret;

	memset(&stress, 0, sizeof(stress));
	memset(r, 0, sizeof(*r));
	hist_init(&r->latency);
	hist_init(&r->ack);
	hist_init(&r->null);
	stress.c = c;
	stress.r = r;
	stress.nslices = scenario_all_initiators(c) ? nr_cpus : 1;
	parts[0] = (struct part){ .iters = c->canary, .skip = TLB_SKIP_REMOTE, .lockstep = true };
	parts[1] = (struct part){ .warmup = c->warmup, .iters = c->iters, .skip = c->skip,
				  .lockstep = c->observe == OBSERVE_LOCKSTEP,
				  .all_initiators = scenario_all_initiators(c) };
	stress.part = c->canary ? &parts[0] : &parts[1];
	trap_set_handler(VEC_WAKE, stress_wake_handler);
	trap_set_handler(VEC_REWAKE, stress_rewake_handler);
	__atomic_store_n(&tlb_settings.stamp_entry, c->breakdown && !scenario_all_initiators(c), __ATOMIC_RELAXED);
	for (u32 cpu = 0; cpu < nr_cpus; cpu++)
		percpu_of(cpu)->as.deferred_flushes = percpu_of(cpu)->as.noflush_switches = 0;
	ret = setup();
	if (!ret) {
		cpumask_clear(&others, 0);
		ret = smp_call_start(&others, worker, NULL);
		if (!ret) {
			worker(NULL);
			ret = smp_call_wait(BARRIER_TIMEOUT_US + OBSERVE_TIMEOUT_US +
					    tlb_settings.ack_timeout_us / time_slowness(), NULL);
		}
		collect(r);
		if (stress_aborted() && !r->timeouts && !r->failed)
			ret = ret ? ret : -ETIMEDOUT;
	}
	teardown();
	__atomic_store_n(&tlb_settings.stamp_entry, false, __ATOMIC_RELAXED);
	return ret;
}
