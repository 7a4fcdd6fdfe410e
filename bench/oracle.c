/* The stale-TLB oracle: checks, sweeps and the bookkeeping that makes detection a matter of
 * design (bench/oracle.h). A check reads the published state, touches the page, and (for
 * protect and unmap) reads the state again: a conclusion is drawn only when the state was the
 * same on both sides, so a change in flight is never mistaken for a stale translation. */
#include "bench/oracle.h"
#include "kernel/trap.h"
#include "smp/smp.h"

static void event(struct oracle *o, u64 *counter, const char *kind, u64 va, u64 expected, u64 seen)
{
	struct oracle_tally *t = o->tally;
	u32 i = __atomic_fetch_add(&t->nevents, 1, __ATOMIC_RELAXED);

	__atomic_fetch_add(counter, 1, __ATOMIC_RELAXED);
	if (i < ORACLE_EVENTS_KEPT)
		t->events[i] = (struct oracle_event){ smp_cpu(), kind, va, expected, seen };
}

/* A check's outcome, for the sweep. */
enum { CHECK_CLEAN, CHECK_MOVED, CHECK_FAULTED };

/* The state a change publishes, where a stale translation shows (remap: every new generation). */
static bool changed_state(int workload, u64 p)
{
	return workload == WL_REMAP || PUB_STATE(p) != STATE_MAPPED;
}

/* The translation this CPU used was loaded before the change now published: a skipped flush
 * that the TLB kept would have been caught right here. */
static void count_opportunity(struct oracle *o, const struct slice_obs *ob, u64 p, u32 cpu)
{
	if (ob->armed && PUB_GEN(ob->armed) < PUB_GEN(p) && ob->armed_epoch == o->epoch[cpu] &&
	    changed_state(o->workload, p))
		o->counts[cpu].opportunities++;
}

/* Touch the page as the workload does: a write for protect, a read otherwise. A fault while the
 * page is published mapped is allowed (the next change may be in flight, or a raised right is
 * still cached lowered); it is retried once, since the fault itself drops the cached entry. */
static int touch(struct oracle *o, u64 va, u64 *v)
{
	int vec;

	if (o->workload == WL_PROTECT) {
		vec = write_safe((void *)(va + 8), smp_cpu());
		__atomic_thread_fence(__ATOMIC_SEQ_CST); /* the write is done before p2 is read */
	} else {
		vec = read_safe((void *)va, v);
	}
	return vec;
}

static int check(struct oracle *o, u32 s, u64 k, const struct slice_obs *ob, u32 cpu)
{
	struct slice *sl = &o->slices[s];
	u64 va = oracle_page_va(o, s, k), v = 0, p1, p2;
	int vec;

	o->counts[cpu].checks++;
	p1 = __atomic_load_n(&sl->published, __ATOMIC_ACQUIRE); /* pairs with oracle_publish() */
	vec = touch(o, va, &v);
	if (o->workload != WL_REMAP) {
		__atomic_thread_fence(__ATOMIC_SEQ_CST);
		p2 = __atomic_load_n(&sl->published, __ATOMIC_ACQUIRE);
		if (p1 != p2)
			return CHECK_MOVED; /* the state changed under us: nothing to conclude */
	}
	count_opportunity(o, ob, p1, cpu);
	switch (o->workload) {
	case WL_REMAP:
		if (vec)
			event(o, &o->tally->unexpected_faults, "fault", va, PUB_GEN(p1), vec);
		else if (v == TAG_RETIRED)
			event(o, &o->tally->stale_reads, "retired-read", va, PUB_GEN(p1), v);
		else if (v < PUB_GEN(p1))
			event(o, &o->tally->stale_reads, "stale-read", va, PUB_GEN(p1), v);
		return vec ? CHECK_FAULTED : CHECK_CLEAN;
	case WL_PROTECT:
	case WL_UNMAP:
		if (!vec && PUB_STATE(p1) != STATE_MAPPED) {
			if (o->workload == WL_PROTECT)
				event(o, &o->tally->bad_writes, "write-after-readonly", va, PUB_GEN(p1), 0);
			else
				event(o, &o->tally->missed_faults, "read-after-unmap", va, PUB_GEN(p1), v);
		} else if (vec && vec != VEC_PF) {
			event(o, &o->tally->unexpected_faults, "fault", va, PUB_GEN(p1), vec);
		} else if (vec && PUB_STATE(p1) == STATE_MAPPED) {
			o->counts[cpu].transition++;
			return touch(o, va, &v) ? CHECK_FAULTED : CHECK_CLEAN;
		}
		return CHECK_CLEAN;
	}
	return CHECK_CLEAN;
}

void oracle_sweep(struct oracle *o, u32 s, bool tell)
{
	u32 cpu = smp_cpu();
	struct slice_obs *ob = &o->obs[(u64)cpu * o->nslices + s];
	const struct slice *sl = &o->slices[s];
	u64 p = __atomic_load_n(&sl->published, __ATOMIC_ACQUIRE), epoch = o->epoch[cpu];
	bool clean = !__atomic_load_n(&sl->changing, __ATOMIC_ACQUIRE), backward;

	if (!clean && o->skip_inflight)
		return;
	backward = ob->sweeps++ & 1;
	/* Alternate directions: the translations loaded last are the first checked next time, so a
	 * TLB smaller than the slice still shows its stale entries before the sweep evicts them. */
	for (u64 i = 0; i < o->pages; i++) {
		if (o->skip_inflight && __atomic_load_n(&sl->changing, __ATOMIC_RELAXED)) {
			clean = false; /* a change began: leave the rest alone */
			break;
		}
		clean &= check(o, s, backward ? o->pages - 1 - i : i, ob, cpu) == CHECK_CLEAN;
	}
	__atomic_thread_fence(__ATOMIC_SEQ_CST); /* our walks are done before we look again */
	if (!clean || __atomic_load_n(&sl->changing, __ATOMIC_ACQUIRE) ||
	    __atomic_load_n(&sl->published, __ATOMIC_ACQUIRE) != p || o->epoch[cpu] != epoch)
		return;
	if (PUB_STATE(p) == STATE_MAPPED) {
		ob->armed = p;
		ob->armed_epoch = epoch;
	}
	if (tell)
		__atomic_store_n(&ob->seen, p, __ATOMIC_RELEASE); /* pairs with oracle_observed() */
}

bool oracle_unseen(const struct oracle *o, u32 s)
{
	return __atomic_load_n(&o->obs[(u64)smp_cpu() * o->nslices + s].seen, __ATOMIC_RELAXED) !=
	       __atomic_load_n(&o->slices[s].published, __ATOMIC_ACQUIRE);
}

void oracle_begin_change(struct oracle *o, u32 s)
{
	/* Ordered before the first edit: a sweep that reads it clear afterwards walked no edit. */
	__atomic_store_n(&o->slices[s].changing, 1, __ATOMIC_SEQ_CST);
}

static void publish(struct oracle *o, u32 s, u64 gen, u32 state)
{
	struct slice *sl = &o->slices[s];

	sl->gen = gen;
	__atomic_store_n(&sl->published, PUB(gen, state), __ATOMIC_RELEASE); /* pairs with check() */
	if (state != STATE_MAPPED || o->workload == WL_REMAP)
		__atomic_fetch_add(&o->tally->changes, 1, __ATOMIC_RELAXED);
}

void oracle_publish(struct oracle *o, u32 s, u64 gen, u32 state)
{
	publish(o, s, gen, state);
	oracle_end_change(o, s);
}

void oracle_publish_in_change(struct oracle *o, u32 s, u64 gen, u32 state)
{
	/* Changing before the publication: a sweep that sees the new state sees it changing. */
	oracle_begin_change(o, s);
	publish(o, s, gen, state);
}

void oracle_end_change(struct oracle *o, u32 s)
{
	__atomic_store_n(&o->slices[s].changing, 0, __ATOMIC_RELEASE);
}

bool oracle_observed(const struct oracle *o, u32 s, const struct cpumask *who, u32 *laggard)
{
	u64 p = __atomic_load_n(&o->slices[s].published, __ATOMIC_RELAXED);

	for_each_cpu(cpu, who) {
		const struct slice_obs *ob = &o->obs[(u64)cpu * o->nslices + s];

		if (__atomic_load_n(&ob->seen, __ATOMIC_ACQUIRE) != p) {
			*laggard = cpu;
			return false;
		}
	}
	return true;
}

void oracle_sum(struct oracle_tally *t, const struct oracle_counts *c, u32 ncpus)
{
	for (u32 cpu = 0; cpu < ncpus; cpu++) {
		t->checks += c[cpu].checks;
		t->opportunities += c[cpu].opportunities;
		t->transition_faults += c[cpu].transition;
	}
}
