/* Page-table stress and the stale-TLB oracle.
 *
 * A region of pages is mapped in every stress address space; each initiator owns a slice. Every
 * frame carries a generation tag in its first word. An initiator changes its slice (remap: points
 * the pages at other frames whose tags it has just raised; protect: read-only and back; unmap:
 * unmapped and back), shoots the change down, and only then publishes the new generation and
 * state. Any CPU that has seen a published state and then
 *   - reads a tag older than the published generation (remap),
 *   - writes successfully while read-only was published and still is (protect), or
 *   - reads successfully while unmapped was published and still is (unmap)
 * has used a translation the shootdown should have removed. Frames rotate through three sets so
 * that a stale translation points at a frame whose tag is still old when it is read. */
#include "kernel/stress.h"
#include "kernel/console.h"
#include "kernel/errno.h"
#include "kernel/string.h"
#include "kernel/time.h"
#include "kernel/trap.h"
#include "kernel/x86.h"
#include "mm/aspace.h"
#include "mm/frame.h"
#include "mm/mm.h"
#include "mm/tlb.h"
#include "smp/smp.h"

#define STRESS_VA 0x0000008000000000ull /* PML4 slot 1: nothing else lives there */
#define NSETS 3
#define MAX_STRESS_ASPACES 8
#define SWITCH_EVERY 256         /* checks between address-space switches (naspaces > 1) */
#define BARRIER_TIMEOUT_US 10000000
#define STATE_MAPPED 0
#define STATE_READONLY 1
#define STATE_UNMAPPED 2
#define PUB(gen, state) ((gen) << 2 | (state))
#define PUB_GEN(p) ((p) >> 2)
#define PUB_STATE(p) ((p) & 3)

struct slice {
	u64 published; /* PUB(gen, state), written by the owner after its shootdown */
	u64 va;
	u64 gen;       /* owner-private from here on */
	u32 set;
} __attribute__((aligned(CACHE_LINE)));

struct cpu_counts {
	u64 checks, transition;
	u64 elapsed, shootdowns, targets, skipped, fallbacks;
} __attribute__((aligned(CACHE_LINE)));

static struct {
	const struct stress_config *c;
	struct stress_result *r;
	struct aspace as[MAX_STRESS_ASPACES];
	u32 nas, nslices;
	struct slice slices[MAX_CPUS];
	struct cpu_counts counts[MAX_CPUS];
	paddr_t *frames;          /* [set][slice][page] */
	struct histogram *hists;  /* [cpu][0: latency, 1: ack] */
	u64 frames_bytes, hists_bytes;
	u32 ready, done;
	bool stop, abort;
} st;

const char *workload_name(int w)
{
	static const char *const names[] = { "remap", "protect", "unmap" };

	return w >= 0 && w < (int)ARRAY_SIZE(names) ? names[w] : "?";
}

static paddr_t *frame_slot(u32 set, u32 slice, u64 k)
{
	return &st.frames[((u64)set * st.nslices + slice) * st.c->pages + k];
}

static u64 page_va(u32 slice, u64 k)
{
	return st.slices[slice].va + k * PAGE_SIZE;
}

static void set_tag(paddr_t pa, u64 gen)
{
	__atomic_store_n((u64 *)phys_to_virt(pa), gen, __ATOMIC_RELAXED);
}

static void event(const char *kind, u64 va, u64 expected, u64 seen, u64 *counter)
{
	struct stress_result *r = st.r;
	u32 i = __atomic_fetch_add(&r->nevents, 1, __ATOMIC_RELAXED);

	__atomic_fetch_add(counter, 1, __ATOMIC_RELAXED);
	if (i < ORACLE_EVENTS_KEPT)
		r->events[i] = (struct oracle_event){ smp_cpu(), kind, va, expected, seen };
}

/* A fault while the published state is "mapped": the next change is already in flight (its
 * shootdown has not returned, so it is not published yet), or an entry whose rights were just
 * raised is still cached read-only or not-present. Both are allowed; they are counted because on
 * some platforms (shadow paging) each one is expensive and slows the targets' acknowledgements. */
static void transition_fault(void)
{
	st.counts[smp_cpu()].transition++;
}

/* One oracle check of page k of a slice, from whichever CPU runs it. */
static void check(u32 s, u64 k)
{
	struct slice *sl = &st.slices[s];
	u64 va = page_va(s, k), p1 = __atomic_load_n(&sl->published, __ATOMIC_ACQUIRE), p2, v = 0;
	int vec;

	st.counts[smp_cpu()].checks++;
	switch (st.c->workload) {
	case WL_REMAP:
		vec = read_safe((void *)va, &v);
		if (vec)
			event("fault", va, PUB_GEN(p1), vec, &st.r->unexpected_faults);
		else if (v < PUB_GEN(p1))
			event("stale-read", va, PUB_GEN(p1), v, &st.r->stale_reads);
		break;
	case WL_PROTECT:
		vec = write_safe((void *)(va + 8), smp_cpu());
		__atomic_thread_fence(__ATOMIC_SEQ_CST); /* the write is done before p2 is read */
		p2 = __atomic_load_n(&sl->published, __ATOMIC_ACQUIRE);
		if (p1 != p2)
			break; /* the state changed under us: nothing to conclude */
		if (!vec && PUB_STATE(p1) == STATE_READONLY)
			event("write-after-readonly", va, PUB_GEN(p1), 0, &st.r->bad_writes);
		else if (vec == VEC_PF && PUB_STATE(p1) == STATE_MAPPED)
			transition_fault();
		else if (vec && vec != VEC_PF)
			event("fault", va, PUB_GEN(p1), vec, &st.r->unexpected_faults);
		break;
	case WL_UNMAP:
		vec = read_safe((void *)va, &v);
		__atomic_thread_fence(__ATOMIC_SEQ_CST);
		p2 = __atomic_load_n(&sl->published, __ATOMIC_ACQUIRE);
		if (p1 != p2)
			break;
		if (!vec && PUB_STATE(p1) == STATE_UNMAPPED)
			event("read-after-unmap", va, PUB_GEN(p1), v, &st.r->missed_faults);
		else if (vec == VEC_PF && PUB_STATE(p1) == STATE_MAPPED)
			transition_fault();
		else if (vec && vec != VEC_PF)
			event("fault", va, PUB_GEN(p1), vec, &st.r->unexpected_faults);
		break;
	}
}

static void record_ack(void *ctx, u32 cpu, u64 cycles)
{
	(void)cpu;
	hist_add(ctx, cycles);
}

static void shoot(u32 a, u32 s, bool measure)
{
	struct tlb_range range = { st.slices[s].va, st.c->pages };
	struct histogram *h = &st.hists[2 * smp_cpu()];
	struct cpu_counts *cc = &st.counts[smp_cpu()];
	struct tlb_sample smp;
	int ret;

	ret = tlb_shootdown(&st.as[a], &range, st.c->full ? TLB_FULL : 1, false, &smp,
			    measure ? record_ack : NULL, &h[1]);
	if (ret) {
		__atomic_fetch_add(ret == -ETIMEDOUT ? &st.r->timeouts : &st.r->failed, 1, __ATOMIC_RELAXED);
		st.abort = true;
	}
	if (measure) {
		hist_add(&h[0], smp.cycles);
		cc->shootdowns++;
		cc->targets += smp.targets;
		cc->skipped += smp.skipped;
		cc->fallbacks += smp.fallbacks;
	}
}

static void publish(struct slice *sl, u64 gen, u32 state)
{
	sl->gen = gen;
	__atomic_store_n(&sl->published, PUB(gen, state), __ATOMIC_RELEASE); /* pairs with check() */
}

static void initiate(u32 s, bool measure)
{
	struct slice *sl = &st.slices[s];
	u64 n = st.c->pages, gen = sl->gen + 1;
	u32 set = (sl->set + 1) % NSETS;

	switch (st.c->workload) {
	case WL_REMAP:
		for (u64 k = 0; k < n; k++)
			set_tag(*frame_slot(set, s, k), gen);
		for (u32 a = 0; a < st.nas; a++) {
			for (u64 k = 0; k < n; k++)
				aspace_replace(&st.as[a], page_va(s, k), PAGE_SIZE, *frame_slot(set, s, k));
			shoot(a, s, measure);
		}
		sl->set = set;
		publish(sl, gen, STATE_MAPPED);
		break;
	case WL_PROTECT:
		for (u32 a = 0; a < st.nas; a++) {
			for (u64 k = 0; k < n; k++)
				aspace_protect(&st.as[a], page_va(s, k), PAGE_SIZE, 0, PTE_W);
			shoot(a, s, measure);
		}
		publish(sl, gen, STATE_READONLY);
		check(s, gen % n);
		/* Back to writable. Publish first: a write that succeeds while read-only is still
		 * published must be a stale entry, never our own restore. Adding a right needs no
		 * shootdown (SDM 3A 4.10.4.3); a stale read-only entry only costs a spurious fault. */
		publish(sl, gen + 1, STATE_MAPPED);
		for (u32 a = 0; a < st.nas; a++)
			for (u64 k = 0; k < n; k++)
				aspace_protect(&st.as[a], page_va(s, k), PAGE_SIZE, PTE_W, 0);
		break;
	case WL_UNMAP:
		for (u32 a = 0; a < st.nas; a++) {
			struct pt_freelist fl = { 0 };

			for (u64 k = 0; k < n; k++)
				aspace_unmap(&st.as[a], page_va(s, k), PAGE_SIZE, &fl);
			shoot(a, s, measure);
			spin_lock(&st.as[a].lock);
			pt_release(&st.as[a].pt, &fl); /* only now can no walker reach them */
			spin_unlock(&st.as[a].lock);
		}
		publish(sl, gen, STATE_UNMAPPED);
		check(s, gen % n);
		/* Publish before mapping again, for the same reason as in protect. */
		publish(sl, gen + 1, STATE_MAPPED);
		for (u32 a = 0; a < st.nas; a++)
			for (u64 k = 0; k < n; k++)
				aspace_map(&st.as[a], page_va(s, k), *frame_slot(sl->set, s, k), PAGE_SIZE,
					   PTE_W | PTE_NX);
		break;
	}
	/* The initiator checks its own slice too: that is what catches a skipped local flush. */
	check(s, gen % n);
}

static bool barrier(u32 *counter)
{
	u64 deadline = deadline_after_us(BARRIER_TIMEOUT_US);

	__atomic_fetch_add(counter, 1, __ATOMIC_ACQ_REL);
	while (__atomic_load_n(counter, __ATOMIC_ACQUIRE) < nr_cpus) {
		if (deadline_passed(deadline) || st.abort)
			return false;
		cpu_relax();
	}
	return true;
}

static void switch_to(u32 a)
{
	cli();
	aspace_switch(a < st.nas ? &st.as[a] : NULL);
	sti();
}

static void read_others(u32 me, u64 *n, u32 *cur_as)
{
	u32 s = st.nslices > 1 ? (me + 1 + (*n % (st.nslices - 1 ? st.nslices - 1 : 1))) % st.nslices : 0;

	if (st.nslices == 1 || s != me || st.c->all_initiators == false)
		check(s, (*n * 7919) % st.c->pages);
	if (st.nas > 1 && !(++*n % SWITCH_EVERY)) {
		*cur_as = (*cur_as + 1) % st.nas;
		switch_to(*cur_as);
	} else if (st.nas == 1) {
		++*n;
	}
}

static void worker(void *arg)
{
	u32 me = smp_cpu(), cur_as = me % st.nas;
	bool initiator = st.c->all_initiators || me == 0;
	u32 slice = st.c->all_initiators ? me : 0;
	u64 n = 0, t0 = 0;

	(void)arg;
	switch_to(cur_as);
	if (!barrier(&st.ready)) {
		st.abort = true;
		switch_to(st.nas);
		return;
	}
	if (initiator) {
		for (u64 i = 0; i < st.c->warmup + st.c->iters && !st.abort; i++) {
			if (i == st.c->warmup)
				t0 = rdtsc_ordered();
			initiate(slice, i >= st.c->warmup);
			if (st.c->all_initiators)
				read_others(me, &n, &cur_as);
		}
		st.counts[me].elapsed = rdtsc_ordered() - t0;
		if (__atomic_add_fetch(&st.done, 1, __ATOMIC_ACQ_REL) == (st.c->all_initiators ? nr_cpus : 1))
			__atomic_store_n(&st.stop, true, __ATOMIC_RELEASE);
	}
	while (!__atomic_load_n(&st.stop, __ATOMIC_ACQUIRE) && !st.abort)
		read_others(me, &n, &cur_as);
	switch_to(st.nas); /* back to the kernel page table */
}

static void *alloc_zeroed(u64 bytes)
{
	paddr_t pa = frame_alloc_contig(mm_frame_pool(), ALIGN_UP(bytes, (u64)PAGE_SIZE) / PAGE_SIZE, PAGE_SIZE);

	if (!pa)
		return NULL;
	memset(phys_to_virt(pa), 0, bytes);
	return phys_to_virt(pa);
}

static void free_contig(void *p, u64 bytes)
{
	paddr_t pa = (u64)p - DIRECT_MAP_BASE;

	for (u64 off = 0; p && off < bytes; off += PAGE_SIZE)
		frame_free(mm_frame_pool(), NULL, pa + off);
}

static void teardown(void)
{
	u64 total = (u64)NSETS * st.nslices * st.c->pages;

	for (u32 a = 0; a < st.nas; a++)
		aspace_destroy(&st.as[a]);
	for (u64 i = 0; st.frames && i < total; i++)
		if (st.frames[i])
			frame_free(mm_frame_pool(), NULL, st.frames[i]);
	free_contig(st.frames, st.frames_bytes);
	free_contig(st.hists, st.hists_bytes);
}

static int setup(void)
{
	u64 n = st.c->pages, total = (u64)NSETS * st.nslices * n;
	u64 stride = ALIGN_UP(n * PAGE_SIZE, (u64)LARGE_PAGE_SIZE); /* slices never share a PT */

	if (frame_free_count(mm_frame_pool()) < total + total / 64 + 1024) {
		kprintf("stress: %lu pages x %u slices x %u sets do not fit in %lu free frames\n", n,
			st.nslices, NSETS, frame_free_count(mm_frame_pool()));
		return -ENOMEM;
	}
	st.frames_bytes = total * sizeof(paddr_t);
	st.hists_bytes = (u64)nr_cpus * 2 * sizeof(struct histogram);
	st.frames = alloc_zeroed(st.frames_bytes);
	st.hists = alloc_zeroed(st.hists_bytes);
	if (!st.frames || !st.hists)
		return -ENOMEM;
	for (u64 i = 0; i < total; i++) {
		st.frames[i] = frame_alloc(mm_frame_pool(), NULL);
		if (!st.frames[i])
			return -ENOMEM;
		set_tag(st.frames[i], i < st.nslices * n ? 1 : 0); /* set 0 is generation 1 */
	}
	for (u32 c = 0; c < nr_cpus * 2; c++)
		hist_init(&st.hists[c]);
	for (u32 s = 0; s < st.nslices; s++)
		st.slices[s] = (struct slice){ PUB(1, STATE_MAPPED), STRESS_VA + s * stride, 1, 0 };
	for (st.nas = 0; st.nas < st.c->naspaces; st.nas++) {
		struct aspace *as = &st.as[st.nas];

		if (aspace_create(as))
			return -ENOMEM;
		for (u32 s = 0; s < st.nslices; s++)
			for (u64 k = 0; k < n; k++)
				if (aspace_map(as, page_va(s, k), *frame_slot(0, s, k), PAGE_SIZE, PTE_W | PTE_NX))
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
		r->checks += cc->checks;
		r->transition_faults += cc->transition;
		r->shootdowns += cc->shootdowns;
		r->targets += cc->targets;
		r->skipped += cc->skipped;
		r->fallbacks += cc->fallbacks;
		r->elapsed_cycles = MAX(r->elapsed_cycles, cc->elapsed);
		r->deferred_flushes += percpu_of(cpu)->as.deferred_flushes;
		r->noflush_switches += percpu_of(cpu)->as.noflush_switches;
	}
}

int stress_run(const struct stress_config *c, struct stress_result *r)
{
	struct cpumask others = cpu_online_mask;
	int ret;

	memset(&st, 0, sizeof(st));
	memset(r, 0, sizeof(*r));
	hist_init(&r->latency);
	hist_init(&r->ack);
	st.c = c;
	st.r = r;
	st.nslices = c->all_initiators ? nr_cpus : 1;
	for (u32 cpu = 0; cpu < nr_cpus; cpu++)
		percpu_of(cpu)->as.deferred_flushes = percpu_of(cpu)->as.noflush_switches = 0;
	ret = setup();
	if (!ret) {
		cpumask_clear(&others, 0);
		ret = smp_call_start(&others, worker, NULL);
		if (!ret) {
			worker(NULL);
			ret = smp_call_wait(BARRIER_TIMEOUT_US + tlb_ack_timeout_us, NULL);
		}
		collect(r);
		if (st.abort && !r->timeouts && !r->failed)
			ret = ret ? ret : -ETIMEDOUT;
	}
	teardown();
	return ret;
}
