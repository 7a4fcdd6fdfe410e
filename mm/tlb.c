/* The shootdown engine. A change has already been written to the page tables and the address
 * space's generation bumped (mm/aspace.c); the engine then
 *   1. reads the CPUs that have the address space loaded (after the bump: see aspace.c for why
 *      CPUs outside that set are safe — they flush when they next load it),
 *   2. starts the remote part on the active backend,
 *   3. flushes locally while the targets work,
 *   4. waits for the backend, under a watchdog.
 * Nothing here allocates or takes a lock: the cost measured is the hardware's and the
 * hypervisor's. */
#include "mm/tlb.h"
#include "kernel/console.h"
#include "kernel/errno.h"
#include "kernel/exit.h"
#include "kernel/string.h"
#include "kernel/time.h"
#include "kernel/x86.h"
#include "mm/flush.h"
#include "mm/layout.h"
#include "smp/percpu.h"
#include "smp/smp.h"

struct tlb_stats tlb_stats;
struct tlb_settings tlb_settings = { .ack_timeout_us = 2000000, .flush_threshold = 33,
				     .deaf_cpu = INVALID_CPU };

/* The registry: TLB_BACKEND() entries, sorted by their order. */
extern struct tlb_backend *const __tlb_backends_start[], *const __tlb_backends_end[];

static struct tlb_backend *active;

u32 tlb_backend_count(void)
{
	return (u32)(__tlb_backends_end - __tlb_backends_start);
}

struct tlb_backend *tlb_backend_nth(u32 i)
{
	return i < tlb_backend_count() ? __tlb_backends_start[i] : NULL;
}

struct tlb_backend *tlb_backend_find(const char *name)
{
	for (u32 i = 0; i < tlb_backend_count(); i++)
		if (!strcmp(__tlb_backends_start[i]->name, name))
			return __tlb_backends_start[i];
	return NULL;
}

struct tlb_backend *tlb_backend_auto(void)
{
	u32 n = tlb_backend_count();

	for (u32 i = 0; i < n; i++)
		if (!__tlb_backends_start[i]->unavailable && __tlb_backends_start[i]->recommended)
			return __tlb_backends_start[i];
	return __tlb_backends_start[n - 1];
}

int tlb_use(struct tlb_backend *b)
{
	static struct tlb_backend *initialised[TLB_MAX_BACKENDS];
	int ret;

	if (b->unavailable)
		return -ENOTSUP;
	for (u32 i = 0; i < TLB_MAX_BACKENDS; i++) {
		if (initialised[i] == b)
			break;
		if (!initialised[i]) {
			ret = b->init ? b->init() : 0;
			if (ret)
				return ret;
			initialised[i] = b;
			break;
		}
	}
	active = b;
	return 0;
}

struct tlb_backend *tlb_active(void)
{
	return active;
}

void tlb_init(const struct tlb_settings *s)
{
	tlb_settings = *s;
	flush_set_threshold(s->flush_threshold);
	if (!tlb_backend_count() || tlb_backend_count() > TLB_MAX_BACKENDS) {
		kprintf("tlb: %u backends registered, 1..%u supported\n", tlb_backend_count(), TLB_MAX_BACKENDS);
		kernel_exit(EXIT_ERROR);
	}
	for (u32 i = 0; i < tlb_backend_count(); i++) {
		struct tlb_backend *b = __tlb_backends_start[i];

		if (b->probe)
			b->probe(b);
		kprintf("tlb: backend %-13s %s%s%s\n", b->name, b->unavailable ? "unavailable: " : "available",
			b->unavailable ? b->unavailable : "", !b->unavailable && b->recommended ? " (recommended)" : "");
	}
	tlb_use(tlb_backend_auto());
}

const char *const tlb_ack_names[TLB_ACK_COUNT + 1] = {
	[TLB_ACK_EARLY] = "early", [TLB_ACK_LATE] = "late",
};

const char *const tlb_skip_names[TLB_SKIP_COUNT + 1] = {
	[TLB_SKIP_NONE] = "none", [TLB_SKIP_REMOTE] = "remote", [TLB_SKIP_LOCAL] = "local",
	[TLB_SKIP_LAST] = "last", [TLB_SKIP_HIGHEST] = "highest",
};

/* The ranges of f, as the negative control TLB_SKIP_LAST leaves them: every page but the last,
 * one by one whatever the threshold (a full flush would hide the missing page). */
static void flush_ranges_but_last(const struct tlb_flush *f)
{
	for (u32 i = 0; i < f->nranges; i++)
		for (u64 k = 0; k + 1 < f->ranges[i].pages; k++)
			flush_page(f->ranges[i].va + k * PAGE_SIZE);
}

void tlb_flush_local(const struct tlb_flush *f)
{
	struct aspace_cpu *me = &this_cpu()->as;
	u64 flags = read_rflags(), local, now;

	/* A CPU that has switched away flushes when it comes back (its generation is behind). */
	if (me->current != f->as)
		return;
	cli(); /* the handler runs this too: flushed_gen is changed by one path at a time */
	local = me->flushed_gen[f->as->id];
	if (local >= f->gen)
		goto out; /* a full flush since the change already removed it */
	/* Read before flushing: every change up to `now` is in the page tables already. */
	now = aspace_gen(f->as);
	if (f->nranges != TLB_FULL && local + 1 == f->gen) {
		/* This change is the only one this CPU has not flushed: its ranges are enough. A
		 * larger step means another initiator's change is pending here too, and marking the
		 * CPU clean past it after flushing only ours would let it survive a no-flush switch. */
		if (f->skip == TLB_SKIP_LAST)
			flush_ranges_but_last(f);
		else
			for (u32 i = 0; i < f->nranges; i++)
				flush_range_local(f->as->pcid, f->ranges[i].va, f->ranges[i].pages, f->global);
		aspace_note_flushed(f->as, f->gen);
	} else {
		if (f->skip == TLB_SKIP_LAST && f->nranges != TLB_FULL)
			flush_ranges_but_last(f);
		else
			flush_range_local(f->as->pcid, 0, 0, f->global);
		aspace_note_flushed(f->as, now);
	}
out:
	if (flags & RFLAGS_IF)
		sti();
}

/* The control that leaves a target out, for backends that do not apply it to VP indices. */
static void drop_highest(struct cpumask *targets)
{
	u32 highest = INVALID_CPU;

	for_each_cpu(cpu, targets)
		highest = cpu;
	if (highest != INVALID_CPU)
		cpumask_clear(targets, highest);
}

int tlb_shootdown(const struct tlb_request *rq, struct tlb_sample *s, tlb_ack_fn ack, void *ack_ctx)
{
	struct tlb_flush f = { .as = rq->as, .gen = rq->null ? 0 : rq->gen, .global = rq->global,
			       .freed_tables = rq->freed_tables, .ack = rq->ack,
			       .skip = rq->null ? TLB_SKIP_NONE : rq->skip };
	struct cpumask targets = rq->as->active; /* read after the generation bump (aspace.c) */
	bool remote = f.skip != TLB_SKIP_REMOTE, timed = !rq->batch_deadline;
	int ret = 0;

	memset(s, 0, sizeof(*s));
	f.nranges = rq->nranges > TLB_MAX_RANGES ? TLB_FULL : rq->nranges;
	for (u32 i = 0; i < f.nranges; i++)
		f.ranges[i] = rq->ranges[i];
	cpumask_clear(&targets, smp_cpu());
	s->targets = cpumask_weight(&targets);
	if (f.skip == TLB_SKIP_HIGHEST && !active->own_highest)
		drop_highest(&targets);
	remote = remote && !cpumask_empty(&targets);
	f.deadline = timed ? ns_to_tsc(tlb_settings.ack_timeout_us * 1000) : rq->batch_deadline;
	/* The timed window: its two TSC reads, and nothing but the shootdown between them. */
	if (timed) {
		f.t0 = rdtsc_ordered();
		f.deadline += f.t0;
	}
	if (remote)
		ret = active->start(&f, &targets, s);
	if (f.skip != TLB_SKIP_LOCAL && !rq->null)
		tlb_flush_local(&f);
	if (!ret && remote)
		ret = active->finish(&f, &targets, s);
	if (timed)
		s->cycles = rdtsc_ordered() - f.t0;
	if (remote && active->acks)
		active->acks(&f, s, ack, ack_ctx);
	if (rq->null)
		return ret;
	__atomic_fetch_add(&tlb_stats.shootdowns, 1, __ATOMIC_RELAXED);
	if (s->fallbacks)
		__atomic_fetch_add(&tlb_stats.fallbacks, s->fallbacks, __ATOMIC_RELAXED);
	if (ret == -ETIMEDOUT)
		__atomic_fetch_add(&tlb_stats.watchdog_timeouts, 1, __ATOMIC_RELAXED);
	return ret;
}
