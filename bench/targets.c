/* The targets' side after a shootdown returns: what refilling its TLB costs a reader. After the
 * measured part (one initiator), every reader takes REFILL_ROUNDS rounds on slice 0 with
 * interrupts off: a sweep that brings the pages' first lines into the data cache, the flush a
 * target does for the scenario's shootdown, a timed sweep that refills the TLB (cold) and a timed
 * sweep that hits it (warm). The two timed sweeps read the same lines and pay the same two TSC
 * reads, so cold - warm is the refill alone: the page walks (two-dimensional under nested paging,
 * QEMU's slow path under TCG). A slice larger than the TLB misses in the warm sweep too, and its
 * refill reads low: what stays resident is all a flush can take away. */
#include "bench/stress_run.h"
#include "kernel/benchrec.h"
#include "kernel/record.h"
#include "kernel/time.h"
#include "kernel/x86.h"
#include "mm/flush.h"
#include "smp/smp.h"
#include "smp/tsc_sync.h"

static void sweep(u64 pages)
{
	for (u64 k = 0; k < pages; k++)
		(void)*(volatile const u64 *)oracle_page_va(&stress.o, 0, k);
}

void stress_refill(u32 me)
{
	const struct aspace *as = &stress.as[stress.counts[me].cur_as];
	struct histogram *h = &stress.hists[HIST_PER_CPU * me];
	struct histogram *t = stress.target_hists ? &stress.target_hists[me * TH_COUNT] : NULL;
	u64 pages = stress.c->pages, va = stress.slices[0].va;

	/* Unmap's last change maps the pages again; a run cut short may have left them unmapped. */
	if (PUB_STATE(__atomic_load_n(&stress.slices[0].published, __ATOMIC_ACQUIRE)) == STATE_UNMAPPED ||
	    __atomic_load_n(&stress.slices[0].changing, __ATOMIC_ACQUIRE))
		return;
	for (u32 round = 0; round < REFILL_ROUNDS && !stress_aborted(); round++) {
		u64 t0, t1, t2, cold, warm;

		cli();
		sweep(pages);
		flush_range_local(as->pcid, va, stress.c->full ? 0 : pages, false);
		t0 = rdtsc_ordered();
		sweep(pages);
		t1 = rdtsc_ordered();
		sweep(pages);
		t2 = rdtsc_ordered();
		sti();
		cold = t1 - t0;
		warm = t2 - t1;
		hist_add(&h[HIST_COLD], cold);
		hist_add(&h[HIST_WARM], warm);
		hist_add(&h[HIST_REFILL], cold > warm ? cold - warm : 0);
		if (t)
			hist_add(&t[TH_REFILL], cold > warm ? cold - warm : 0);
	}
}

/* A summary, or null when it has no samples. */
static void put_summary_or_null(struct jw *w, const char *key, const struct summary *s)
{
	if (s->count)
		bench_put_summary(w, key, s, 0);
	else
		jw_null(w, key);
}

void stress_put_targets(struct jw *w, const struct stress_result *r)
{
	const struct breakdown *b = &r->breakdown;

	if (!r->per_target || !b->ack.count) {
		jw_null(w, "breakdown");
	} else {
		jw_obj_begin(w, "breakdown");
		put_summary_or_null(w, "entry_cycles", &b->entry);
		bench_put_summary(w, "ack_cycles", &b->ack, 0);
		put_summary_or_null(w, "handler_cycles", &b->handler);
		put_summary_or_null(w, "seen_cycles", &b->seen);
		jw_u64(w, "offset_uncertainty_cycles", b->offset_uncertainty);
		jw_obj_end(w);
	}
	if (!r->per_target || !b->refill.count) {
		jw_null(w, "refill");
		return;
	}
	jw_obj_begin(w, "refill");
	jw_u64(w, "pages", stress.c->pages);
	jw_u64(w, "rounds", REFILL_ROUNDS);
	bench_put_summary(w, "cold_cycles", &b->cold, 0);
	bench_put_summary(w, "warm_cycles", &b->warm, 0);
	bench_put_summary(w, "refill_cycles", &b->refill, 0);
	jw_u64(w, "per_page_p50_cycles", b->refill.p50 / stress.c->pages);
	jw_obj_end(w);
}

#define TARGETS_PER_RECORD 4 /* a target's entry is up to about 1,400 bytes */

void stress_target_records(u32 scenario, const struct stress_result *r)
{
	static char buf[RECORD_MAX * 2];
	struct jw w;
	u32 cpu = 1;

	if (!r->per_target || !r->ack.count)
		return;
	for (u32 part = 0; cpu < nr_cpus; part++) {
		record_begin(&w, buf, sizeof(buf), "target_acks");
		jw_u64(&w, "scenario", scenario);
		jw_u64(&w, "part", part);
		jw_bool(&w, "last", cpu + TARGETS_PER_RECORD >= nr_cpus);
		jw_arr_begin(&w, "targets");
		for (u32 n = 0; n < TARGETS_PER_RECORD && cpu < nr_cpus; n++, cpu++) {
			const struct target_acks *t = &r->per_cpu[cpu];

			jw_obj_begin(&w, NULL);
			jw_u64(&w, "cpu", cpu);
			bench_put_summary(&w, "ack_cycles", &t->ack, 0);
			put_summary_or_null(&w, "entry_cycles", &t->entry);
			put_summary_or_null(&w, "handler_cycles", &t->handler);
			put_summary_or_null(&w, "refill_cycles", &t->refill);
			jw_s64(&w, "offset_cycles", tsc_offset(cpu));
			jw_u64(&w, "offset_uncertainty_cycles", tsc_offset_uncertainty(cpu));
			jw_u64(&w, "before_start", t->before_start);
			jw_obj_end(&w);
		}
		jw_arr_end(&w);
		record_end(&w);
	}
}
