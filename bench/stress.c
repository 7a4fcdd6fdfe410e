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
#include "bench/stress.h"
#include "kernel/console.h"
#include "kernel/errno.h"
#include "bench/oracle.h"
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
#include "smp/smp.h"

#define STRESS_VA 0x0000008000000000ull /* PML4 slot 1: nothing else lives there */
#define NSETS 3
#define MAX_STRESS_ASPACES 8
#define SWITCH_STATES 4 /* published states seen between address-space switches (naspaces > 1) */
#define PRIME_ROUNDS 4  /* QEMU's TLB at most doubles at each flush after a busy period */
#define BARRIER_TIMEOUT_US 10000000
#define OBSERVE_TIMEOUT_US 10000000 /* a reader must show progress within this (lockstep) */
#define OBSERVE_MAX_FACTOR 10       /* and see a published state within this many of them */

struct cpu_counts {
	u64 elapsed, shootdowns, targets, skipped, fallbacks, states;
	u32 next_slice, cur_as;
} __attribute__((aligned(CACHE_LINE)));

/* One part of the run: who initiates on which slice, with which control and observation. */
struct part {
	u64 warmup, iters;
	u8 skip;
	bool lockstep, all_initiators;
};

static struct part parts[2]; /* [0] canary, [1] measured */

static struct {
	const struct scenario *c;
	struct stress_result *r;
	const struct part *part;  /* the one running */
	struct aspace as[MAX_STRESS_ASPACES];
	u32 nas, nslices;
	struct oracle o;
	struct slice slices[MAX_CPUS];
	struct cpu_counts counts[MAX_CPUS];
	struct oracle_counts ocounts[2][MAX_CPUS]; /* [0] canary, [1] measured */
	u64 epoch[MAX_CPUS];
	paddr_t *frames;          /* [set][slice][page] */
	struct histogram *hists;  /* [cpu][0: latency, 1: ack] */
	struct slice_obs *obs;
	u64 frames_bytes, hists_bytes, obs_bytes;
	u32 ready, reset_in, reset_out, done[2];
	bool stop[2], abort;
} st;

static bool aborted(void)
{
	return __atomic_load_n(&st.abort, __ATOMIC_ACQUIRE);
}

/* Stop every worker; the first reason given is the one reported. */
static void abort_run(const char *why)
{
	const char *none = NULL;

	if (why && __atomic_compare_exchange_n(&st.r->error, &none, why, false, __ATOMIC_ACQ_REL,
					       __ATOMIC_ACQUIRE))
		kprintf("stress: %s\n", why);
	__atomic_store_n(&st.abort, true, __ATOMIC_RELEASE);
}

static paddr_t *frame_slot(u32 set, u32 slice, u64 k)
{
	return &st.frames[((u64)set * st.nslices + slice) * st.c->pages + k];
}

static void set_tag(paddr_t pa, u64 tag)
{
	__atomic_store_n((u64 *)phys_to_virt(pa), tag, __ATOMIC_RELAXED);
}

static void record_ack(void *ctx, u32 cpu, u64 cycles)
{
	(void)cpu;
	hist_add(ctx, cycles);
}

static void shoot(u32 a, u32 s, u64 gen, bool freed_tables, bool measure)
{
	struct tlb_range range = { st.slices[s].va, st.c->pages };
	struct tlb_request rq = { .as = &st.as[a], .gen = gen, .ranges = &range,
				  .nranges = st.c->full ? TLB_FULL : 1, .freed_tables = freed_tables,
				  .ack = (u8)st.c->ack, .skip = st.part->skip };
	struct histogram *h = &st.hists[2 * smp_cpu()];
	struct cpu_counts *cc = &st.counts[smp_cpu()];
	struct tlb_sample smp;
	int ret;

	if (!gen)
		return; /* nothing took effect (cannot happen: every page is mapped) */
	ret = tlb_shootdown(&rq, &smp, measure ? record_ack : NULL, &h[1]);
	if (ret) {
		__atomic_fetch_add(ret == -ETIMEDOUT ? &st.r->timeouts : &st.r->failed, 1, __ATOMIC_RELAXED);
		abort_run(ret == -ETIMEDOUT ? NULL : "a shootdown failed");
	}
	if (measure) {
		hist_add(&h[0], smp.cycles);
		cc->shootdowns++;
		cc->targets += smp.targets;
		cc->skipped += smp.skipped;
		cc->fallbacks += smp.fallbacks;
	}
}

static void switch_to(u32 a)
{
	cli();
	aspace_switch(a < st.nas ? &st.as[a] : NULL);
	oracle_forget(&st.o, smp_cpu());
	sti();
}

/* The next slice this CPU reads: its neighbours' in turn (every initiator), or slice 0. With
 * several address spaces it moves to the next one every SWITCH_STATES states it has seen
 * published, right after the sweep that looked at the new state and before the sweep that tells
 * the owner it has seen it: so an owner in lockstep never changes a slice whose translations the
 * reader is about to drop. */
static void sweep_next(u32 me)
{
	struct cpu_counts *cc = &st.counts[me];
	bool move;
	u32 s = 0;

	if (st.part->all_initiators && st.nslices > 1) {
		s = cc->next_slice = (cc->next_slice + 1) % st.nslices;
		if (s == me)
			s = cc->next_slice = (s + 1) % st.nslices;
	}
	move = st.nas > 1 && oracle_unseen(&st.o, s) && !(++cc->states % SWITCH_STATES);
	oracle_sweep(&st.o, s, !move);
	if (move) {
		cc->cur_as = (cc->cur_as + 1) % st.nas;
		switch_to(cc->cur_as);
	}
}

/* Lockstep: wait until every other CPU has swept slice s in its published state, reading the
 * others' slices meanwhile (every CPU may be waiting on another). The timeout runs from the
 * laggard's last sign of progress (a page checked), so a slow or preempted vCPU on a busy host
 * is waited for, and one that is stuck is not; OBSERVE_MAX_FACTOR bounds the whole wait. */
static void wait_observed(u32 s)
{
	u64 window = OBSERVE_TIMEOUT_US + tlb_settings.ack_timeout_us;
	u64 deadline = deadline_after_us(window), limit = deadline_after_us(window * OBSERVE_MAX_FACTOR);
	struct cpumask others = cpu_online_mask;
	u32 me = smp_cpu(), laggard = me;
	u64 progress = 0;

	if (!st.part->lockstep)
		return;
	cpumask_clear(&others, me);
	while (!oracle_observed(&st.o, s, &others, &laggard) && !aborted()) {
		u64 now = __atomic_load_n(&st.o.counts[laggard].checks, __ATOMIC_RELAXED);

		if (now != progress) {
			progress = now;
			deadline = deadline_after_us(window);
		}
		if (deadline_passed(deadline) || deadline_passed(limit)) {
			static char why[112];

			ksnprintf(why, sizeof(why), "cpu %u did not check slice %u (lockstep): %s for %lu ms", laggard, s,
				  deadline_passed(limit) ? "no stable sweep" : "no progress", window / 1000);
			abort_run(why);
			return;
		}
		if (st.part->all_initiators && st.nslices > 1)
			sweep_next(me);
		else
			cpu_relax();
	}
}

static void change_remap(u32 s, u64 gen, bool measure)
{
	struct slice *sl = &st.slices[s];
	u64 n = st.c->pages;
	u32 set = (sl->set + 1) % NSETS, old = sl->set;

	oracle_begin_change(&st.o, s);
	for (u64 k = 0; k < n; k++)
		set_tag(*frame_slot(set, s, k), gen);
	for (u32 a = 0; a < st.nas; a++) {
		aspace_change_begin(&st.as[a]);
		for (u64 k = 0; k < n; k++)
			aspace_edit_replace(&st.as[a], oracle_page_va(&st.o, s, k), PAGE_SIZE, *frame_slot(set, s, k));
		shoot(a, s, aspace_change_end(&st.as[a]), false, measure);
	}
	sl->set = set;
	oracle_publish(&st.o, s, gen, STATE_MAPPED);
	/* Shot down and published: no live translation may reach the old frames any more. */
	for (u64 k = 0; k < n; k++)
		set_tag(*frame_slot(old, s, k), TAG_RETIRED);
}

/* Take rights away (read-only, or unmapped) in every address space and shoot that down. */
static void change_lower(u32 s, bool measure)
{
	u64 n = st.c->pages;

	oracle_begin_change(&st.o, s);
	for (u32 a = 0; a < st.nas; a++) {
		struct aspace *as = &st.as[a];
		struct pt_freelist fl = { 0 };

		aspace_change_begin(as);
		for (u64 k = 0; k < n; k++) {
			u64 va = oracle_page_va(&st.o, s, k);

			if (st.c->workload == WL_PROTECT)
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
	struct slice *sl = &st.slices[s];

	for (u32 a = 0; a < st.nas; a++)
		for (u64 k = 0; k < st.c->pages; k++) {
			u64 va = oracle_page_va(&st.o, s, k);

			if (st.c->workload == WL_PROTECT)
				aspace_protect(&st.as[a], va, PAGE_SIZE, PTE_W, 0, NULL);
			else
				aspace_map(&st.as[a], va, *frame_slot(sl->set, s, k), PAGE_SIZE, PTE_W | PTE_NX);
		}
}

/* Right before a change: look at every other slice whose new state this CPU has not seen yet
 * (our own local flush may be a whole-context one and would drop what their owners left stale
 * here), then load our own slice's translations, which the change is about to make stale. */
static void prepare(u32 s)
{
	if (st.part->all_initiators)
		for (u32 other = 0; other < st.nslices; other++)
			if (other != s && oracle_unseen(&st.o, other))
				oracle_sweep(&st.o, other, true);
	oracle_sweep(&st.o, s, true);
}

/* One iteration on slice s. The initiator sweeps its own slice after every publish: that is what
 * catches a skipped local flush, and what loads its translations before the next change. */
static void initiate(u32 s, bool measure)
{
	struct slice *sl = &st.slices[s];
	u64 gen = sl->gen + 1;

	wait_observed(s); /* every reader holds the current state's translations */
	prepare(s);
	if (st.c->workload == WL_REMAP) {
		change_remap(s, gen, measure);
		oracle_sweep(&st.o, s, true);
		return;
	}
	change_lower(s, measure);
	oracle_publish(&st.o, s, gen, st.c->workload == WL_PROTECT ? STATE_READONLY : STATE_UNMAPPED);
	oracle_sweep(&st.o, s, true);
	wait_observed(s); /* every reader looked while the lowered state was published */
	/* Publish before raising: a write or read that succeeds while the lowered state is still
	 * published must be a stale entry, never our own restore. */
	oracle_publish(&st.o, s, gen + 1, STATE_MAPPED);
	raise_again(s);
	oracle_sweep(&st.o, s, true);
}

static bool barrier(u32 *counter)
{
	u64 deadline = deadline_after_us(BARRIER_TIMEOUT_US);

	__atomic_fetch_add(counter, 1, __ATOMIC_ACQ_REL);
	while (__atomic_load_n(counter, __ATOMIC_ACQUIRE) < nr_cpus) {
		if (deadline_passed(deadline) || aborted())
			return false;
		cpu_relax();
	}
	return true;
}

/* Run part p: the initiators iterate, everybody else sweeps until they are done. */
static void run_part(const struct part *p)
{
	bool measured = p == &parts[1];
	u32 *done = &st.done[measured];
	bool *stop = &st.stop[measured];
	u32 me = smp_cpu();
	bool initiator = p->all_initiators || me == 0;
	u32 slice = p->all_initiators ? me : 0;
	u64 t0 = 0;

	if (initiator) {
		oracle_sweep(&st.o, slice, true);
		for (u64 i = 0; i < p->warmup + p->iters && !aborted(); i++) {
			if (i == p->warmup)
				t0 = rdtsc_ordered();
			initiate(slice, measured && i >= p->warmup);
			/* A negative control (the canary, or the scenario's own) has made its point once
			 * the oracle caught it: nothing more is learnt from a broken configuration. */
			if (p->skip != TLB_SKIP_NONE && i + 1 >= p->warmup && oracle_violations(st.o.tally))
				break;
			if (p->all_initiators)
				sweep_next(me);
		}
		if (measured)
			st.counts[me].elapsed = rdtsc_ordered() - t0;
		if (__atomic_add_fetch(done, 1, __ATOMIC_ACQ_REL) == (p->all_initiators ? nr_cpus : 1))
			__atomic_store_n(stop, true, __ATOMIC_RELEASE);
	}
	while (!__atomic_load_n(stop, __ATOMIC_ACQUIRE) && !aborted())
		sweep_next(me);
}

/* Between the parts: every CPU drops every translation the canary left stale. */
static bool reset_tlbs(void)
{
	if (!barrier(&st.reset_in))
		return false;
	if (smp_cpu() == 0) {
		st.o.counts = st.ocounts[1];
		st.o.tally = &st.r->oracle;
		st.part = &parts[1];
	}
	cli();
	flush_all();
	sti();
	oracle_forget(&st.o, smp_cpu());
	return barrier(&st.reset_out);
}

/* Before anything is measured: flush and sweep every slice a few times, so that a TLB that sizes
 * itself on use at each flush (QEMU's) has grown to the working set before the canary runs. */
static void prime(void)
{
	for (u32 round = 0; round < PRIME_ROUNDS; round++) {
		cli();
		flush_all();
		sti();
		oracle_forget(&st.o, smp_cpu());
		for (u32 s = 0; s < st.nslices; s++)
			oracle_sweep(&st.o, s, true);
	}
}

static void worker(void *arg)
{
	u32 me = smp_cpu();

	(void)arg;
	st.counts[me].cur_as = me % st.nas;
	switch_to(st.counts[me].cur_as);
	prime();
	if (!barrier(&st.ready))
		goto out;
	if (st.part == &parts[0]) {
		run_part(&parts[0]);
		if (!reset_tlbs())
			goto out;
	}
	run_part(&parts[1]);
out:
	if (aborted() && !st.r->error)
		abort_run("a worker did not reach a barrier in time");
	switch_to(st.nas); /* back to the kernel page table */
}

static void teardown(void)
{
	u64 total = (u64)NSETS * st.nslices * st.c->pages;

	for (u32 a = 0; a < st.nas; a++)
		aspace_destroy(&st.as[a]);
	for (u64 i = 0; st.frames && i < total; i++)
		if (st.frames[i])
			frame_free(mm_frame_pool(), NULL, st.frames[i]);
	mm_free_zeroed(st.frames, st.frames_bytes);
	mm_free_zeroed(st.hists, st.hists_bytes);
	mm_free_zeroed(st.obs, st.obs_bytes);
}

static int setup_memory(void)
{
	u64 n = st.c->pages, total = (u64)NSETS * st.nslices * n;

	if (frame_free_count(mm_frame_pool()) < total + total / 64 + 1024) {
		kprintf("stress: %lu pages x %u slices x %u sets do not fit in %lu free frames\n", n,
			st.nslices, NSETS, frame_free_count(mm_frame_pool()));
		return -ENOMEM;
	}
	st.frames_bytes = total * sizeof(paddr_t);
	st.hists_bytes = (u64)nr_cpus * 2 * sizeof(struct histogram);
	st.obs_bytes = (u64)nr_cpus * st.nslices * sizeof(struct slice_obs);
	st.frames = mm_alloc_zeroed(st.frames_bytes);
	st.hists = mm_alloc_zeroed(st.hists_bytes);
	st.obs = mm_alloc_zeroed(st.obs_bytes);
	if (!st.frames || !st.hists || !st.obs)
		return -ENOMEM;
	for (u64 i = 0; i < total; i++) {
		st.frames[i] = frame_alloc(mm_frame_pool(), NULL);
		if (!st.frames[i])
			return -ENOMEM;
		set_tag(st.frames[i], i < st.nslices * n ? 1 : TAG_RETIRED); /* set 0 is generation 1 */
	}
	for (u32 c = 0; c < nr_cpus * 2; c++)
		hist_init(&st.hists[c]);
	return 0;
}

static int setup(void)
{
	u64 n = st.c->pages;
	u64 stride = ALIGN_UP(n * PAGE_SIZE, (u64)LARGE_PAGE_SIZE); /* slices never share a PT */
	int ret = setup_memory();

	if (ret)
		return ret;
	for (u32 s = 0; s < st.nslices; s++)
		st.slices[s] = (struct slice){ .published = PUB(1, STATE_MAPPED), .va = STRESS_VA + s * stride, .gen = 1 };
	st.o = (struct oracle){ .workload = st.c->workload, .pages = n, .nslices = st.nslices,
				.ncpus = nr_cpus, .slices = st.slices, .obs = st.obs, .epoch = st.epoch,
				.counts = st.ocounts[st.part == &parts[0] ? 0 : 1],
				.tally = st.part == &parts[0] ? &st.r->canary : &st.r->oracle };
	for (st.nas = 0; st.nas < st.c->aspaces; st.nas++) {
		struct aspace *as = &st.as[st.nas];

		if (aspace_create(as))
			return -ENOMEM;
		for (u32 s = 0; s < st.nslices; s++)
			for (u64 k = 0; k < n; k++)
				if (aspace_map(as, oracle_page_va(&st.o, s, k), *frame_slot(0, s, k), PAGE_SIZE,
					       PTE_W | PTE_NX))
					return -ENOMEM;
	}
	return 0;
}

static void collect(struct stress_result *r)
{
	for (u32 cpu = 0; cpu < nr_cpus; cpu++) {
		const struct cpu_counts *cc = &st.counts[cpu];

		hist_merge(&r->latency, &st.hists[2 * cpu]);
		hist_merge(&r->ack, &st.hists[2 * cpu + 1]);
		r->shootdowns += cc->shootdowns;
		r->targets += cc->targets;
		r->skipped += cc->skipped;
		r->fallbacks += cc->fallbacks;
		r->elapsed_cycles = MAX(r->elapsed_cycles, cc->elapsed);
		r->deferred_flushes += percpu_of(cpu)->as.deferred_flushes;
		r->noflush_switches += percpu_of(cpu)->as.noflush_switches;
	}
	oracle_sum(&r->canary, st.ocounts[0], nr_cpus);
	oracle_sum(&r->oracle, st.ocounts[1], nr_cpus);
}

int stress_run(const struct scenario *c, struct stress_result *r)
{
	struct cpumask others = cpu_online_mask;
	int ret;

	memset(&st, 0, sizeof(st));
	memset(r, 0, sizeof(*r));
	hist_init(&r->latency);
	hist_init(&r->ack);
	st.c = c;
	st.r = r;
	st.nslices = scenario_all_initiators(c) ? nr_cpus : 1;
	parts[0] = (struct part){ .iters = c->canary, .skip = TLB_SKIP_REMOTE, .lockstep = true };
	parts[1] = (struct part){ .warmup = c->warmup, .iters = c->iters, .skip = c->skip,
				  .lockstep = c->observe == OBSERVE_LOCKSTEP,
				  .all_initiators = scenario_all_initiators(c) };
	st.part = c->canary ? &parts[0] : &parts[1];
	for (u32 cpu = 0; cpu < nr_cpus; cpu++)
		percpu_of(cpu)->as.deferred_flushes = percpu_of(cpu)->as.noflush_switches = 0;
	ret = setup();
	if (!ret) {
		cpumask_clear(&others, 0);
		ret = smp_call_start(&others, worker, NULL);
		if (!ret) {
			worker(NULL);
			ret = smp_call_wait(BARRIER_TIMEOUT_US + OBSERVE_TIMEOUT_US + tlb_settings.ack_timeout_us, NULL);
		}
		collect(r);
		if (aborted() && !r->timeouts && !r->failed)
			ret = ret ? ret : -ETIMEDOUT;
	}
	teardown();
	return ret;
}
