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
#include "kernel/string.h"
#include "kernel/time.h"
#include "mm/flush.h"
#include "smp/percpu.h"
#include "smp/smp.h"

struct tlb_stats tlb_stats;
int tlb_skip = TLB_SKIP_NONE;
u32 tlb_deaf_cpu = INVALID_CPU;
u64 tlb_ack_timeout_us = 2000000;

/* In the order `auto` prefers them (among those the platform recommends). */
static struct tlb_backend *const backends[] = {
	&tlb_backend_hv_flush, &tlb_backend_hv_space,   &tlb_backend_hv_list,
	&tlb_backend_hv_space_ex, &tlb_backend_hv_list_ex, &tlb_backend_hv_space_xmm,
	&tlb_backend_hv_ipi,   &tlb_backend_hv_ipi_ex,  &tlb_backend_kvm_flush,
	&tlb_backend_kvm_ipi,  &tlb_backend_ipi,
};

static struct tlb_backend *active;

struct tlb_backend *tlb_backend_find(const char *name)
{
	for (u32 i = 0; i < ARRAY_SIZE(backends); i++)
		if (!strcmp(backends[i]->name, name))
			return backends[i];
	return NULL;
}

struct tlb_backend *tlb_backend_auto(void)
{
	for (u32 i = 0; i < ARRAY_SIZE(backends); i++)
		if (!backends[i]->unavailable && backends[i]->recommended)
			return backends[i];
	return &tlb_backend_ipi;
}

struct tlb_backend *tlb_backend_nth(u32 i)
{
	return i < ARRAY_SIZE(backends) ? backends[i] : NULL;
}

void tlb_backend_list(void (*fn)(struct tlb_backend *b, void *ctx), void *ctx)
{
	for (u32 i = 0; i < ARRAY_SIZE(backends); i++)
		fn(backends[i], ctx);
}

int tlb_use(struct tlb_backend *b)
{
	static struct tlb_backend *initialised[ARRAY_SIZE(backends)];
	int ret;

	if (b->unavailable)
		return -ENOTSUP;
	for (u32 i = 0; i < ARRAY_SIZE(backends); i++) {
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

void tlb_init(void)
{
	for (u32 i = 0; i < ARRAY_SIZE(backends); i++) {
		struct tlb_backend *b = backends[i];

		if (b->probe)
			b->probe(b);
		kprintf("tlb: backend %-13s %s%s%s\n", b->name, b->unavailable ? "unavailable: " : "available",
			b->unavailable ? b->unavailable : "", !b->unavailable && b->recommended ? " (recommended)" : "");
	}
	tlb_use(tlb_backend_auto());
}

void tlb_flush_local(const struct tlb_flush *f)
{
	struct aspace_cpu *me = &this_cpu()->as;

	/* A CPU that has switched away flushes when it comes back (its generation is behind). */
	if (me->current != f->as)
		return;
	if (f->nranges == TLB_FULL) {
		flush_range_local(f->as->pcid, 0, 0, f->global);
	} else {
		for (u32 i = 0; i < f->nranges; i++)
			flush_range_local(f->as->pcid, f->ranges[i].va, f->ranges[i].pages, f->global);
	}
	aspace_note_flushed(f->as, f->gen);
}

int tlb_shootdown(struct aspace *as, const struct tlb_range *ranges, u32 nranges, bool global,
		  struct tlb_sample *s, tlb_ack_fn ack, void *ack_ctx)
{
	struct tlb_flush f = { .as = as, .gen = aspace_gen(as), .global = global };
	struct cpumask targets = as->active; /* read after the generation bump (aspace.c) */
	u64 t0 = rdtsc_ordered();
	int ret = 0;

	memset(s, 0, sizeof(*s));
	if (nranges > TLB_MAX_RANGES)
		nranges = TLB_FULL;
	f.nranges = nranges;
	for (u32 i = 0; i < nranges; i++)
		f.ranges[i] = ranges[i];
	cpumask_clear(&targets, smp_cpu());
	s->targets = cpumask_weight(&targets);
	if (tlb_skip != TLB_SKIP_REMOTE && s->targets)
		ret = active->start(&f, &targets, s);
	if (tlb_skip != TLB_SKIP_LOCAL)
		tlb_flush_local(&f);
	if (!ret && tlb_skip != TLB_SKIP_REMOTE && s->targets)
		ret = active->finish(&f, &targets, s, ack, ack_ctx);
	s->cycles = rdtsc_ordered() - t0;
	__atomic_fetch_add(&tlb_stats.shootdowns, 1, __ATOMIC_RELAXED);
	if (s->fallbacks)
		__atomic_fetch_add(&tlb_stats.fallbacks, s->fallbacks, __ATOMIC_RELAXED);
	if (ret == -ETIMEDOUT)
		__atomic_fetch_add(&tlb_stats.watchdog_timeouts, 1, __ATOMIC_RELAXED);
	return ret;
}
