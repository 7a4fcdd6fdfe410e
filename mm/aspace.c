/* Address spaces with PCIDs and deferred ("flush on next entry") invalidation.
 *
 * Ordering that makes the deferral safe (the same handshake Linux uses for its lazy TLB mode):
 *   switching CPU: set its bit in as->active, full fence, read as->tlb_gen, load CR3;
 *   changing CPU:  write the entry, bump as->tlb_gen (full barrier), read as->active.
 * Either the changer sees the switcher's bit (and sends it a flush), or the switcher sees the
 * new generation (and loads CR3 with a flush). A CPU leaves the mask only after its CR3 no
 * longer points at the address space. */
#include "mm/aspace.h"
#include "kernel/errno.h"
#include "kernel/spinlock.h"
#include "kernel/x86.h"
#include "mm/flush.h"
#include "mm/mm.h"
#include "smp/percpu.h"

static struct spinlock ids_lock = SPINLOCK_INIT;
static u64 ids_used; /* bit i: id i taken */

static int alloc_id(void)
{
	int id = -ENOMEM;

	spin_lock(&ids_lock);
	if (~ids_used) {
		id = __builtin_ctzll(~ids_used);
		ids_used |= 1ull << id;
	}
	spin_unlock(&ids_lock);
	return id;
}

int aspace_create(struct aspace *as)
{
	int id = alloc_id(), ret;

	if (id < 0)
		return id;
	as->id = id;
	as->pcid = flush_caps.pcid ? id + 1 : 0;
	cpumask_clear_all(&as->active);
	as->tlb_gen = 1;
	as->lock = (struct spinlock)SPINLOCK_INIT;
	ret = pt_init(&as->pt, mm_kernel_pt()->ops);
	if (ret)
		goto free_id;
	pt_share_kernel_half(&as->pt, mm_kernel_pt());
	/* No CPU has seen this id's new contents: a stale flushed_gen from an earlier aspace with
	 * the same id is below the new generation only if we start above every old one. */
	for (u32 cpu = 0; cpu < MAX_CPUS; cpu++)
		percpu_of(cpu)->as.flushed_gen[id] = 0;
	return 0;
free_id:
	spin_lock(&ids_lock);
	ids_used &= ~(1ull << id);
	spin_unlock(&ids_lock);
	return ret;
}

void aspace_destroy(struct aspace *as)
{
	pt_destroy(&as->pt);
	spin_lock(&ids_lock);
	ids_used &= ~(1ull << as->id);
	spin_unlock(&ids_lock);
}

void aspace_note_flushed(struct aspace *as, u64 gen)
{
	u64 *seen = &this_cpu()->as.flushed_gen[as->id];

	if (gen > *seen)
		*seen = gen;
}

void aspace_switch(struct aspace *to)
{
	struct percpu *me = this_cpu();
	struct aspace *from = me->as.current;
	u64 gen, cr3;

	if (from == to)
		return;
	if (!to) {
		write_cr3(mm_kernel_cr3() | (flush_caps.pcid ? CR3_NOFLUSH : 0));
	} else {
		cpumask_set_atomic(&to->active, me->cpu);
		__atomic_thread_fence(__ATOMIC_SEQ_CST); /* pairs with the fence in aspace_bump() */
		gen = aspace_gen(to);
		cr3 = to->pt.root | to->pcid;
		if (flush_caps.pcid && me->as.flushed_gen[to->id] >= gen) {
			cr3 |= CR3_NOFLUSH;
			me->as.noflush_switches++;
		} else if (flush_caps.pcid) {
			me->as.deferred_flushes++; /* it changed while we were away */
		}
		write_cr3(cr3); /* without NOFLUSH this drops every entry of to's PCID */
		me->as.flushed_gen[to->id] = MAX(me->as.flushed_gen[to->id], gen);
	}
	me->as.current = to;
	if (from)
		cpumask_test_and_clear_atomic(&from->active, me->cpu);
}

/* After a change's entries are written: its generation, ordered before the caller reads
 * as->active (pairs with the fence in aspace_switch()). */
static u64 aspace_bump(struct aspace *as)
{
	return __atomic_add_fetch(&as->tlb_gen, 1, __ATOMIC_SEQ_CST);
}

void aspace_change_begin(struct aspace *as)
{
	spin_lock(&as->lock);
	as->edits = 0;
}

/* Count an edit that took effect; the generation is bumped once, in aspace_change_end(). */
static int edited(struct aspace *as, int ret)
{
	if (!ret)
		as->edits++;
	return ret;
}

int aspace_edit_unmap(struct aspace *as, u64 va, u64 size, struct pt_freelist *fl)
{
	return edited(as, pt_unmap(&as->pt, va, size, NULL, fl));
}

int aspace_edit_protect(struct aspace *as, u64 va, u64 size, u64 set, u64 clear)
{
	return edited(as, pt_protect(&as->pt, va, size, set, clear, NULL));
}

int aspace_edit_replace(struct aspace *as, u64 va, u64 size, paddr_t pa)
{
	return edited(as, pt_replace(&as->pt, va, size, pa, NULL));
}

u64 aspace_change_end(struct aspace *as)
{
	u64 gen = as->edits ? aspace_bump(as) : 0;

	spin_unlock(&as->lock);
	return gen;
}

int aspace_map(struct aspace *as, u64 va, paddr_t pa, u64 size, u64 flags)
{
	int ret;

	if (flags & PTE_G)
		return -EINVAL;
	/* A new mapping replaces nothing a TLB can hold (not-present entries are never cached,
	 * SDM 3A 4.10.2.3): no generation bump, so CPUs that were away need not flush for it. */
	spin_lock(&as->lock);
	ret = pt_map(&as->pt, va, pa, size, flags);
	spin_unlock(&as->lock);
	return ret;
}

/* A one-edit change: its result, and its generation in *gen. */
static int one_edit(struct aspace *as, int ret, u64 *gen)
{
	u64 g = aspace_change_end(as);

	if (gen)
		*gen = g;
	return ret;
}

int aspace_unmap(struct aspace *as, u64 va, u64 size, struct pt_freelist *fl, u64 *gen)
{
	aspace_change_begin(as);
	return one_edit(as, aspace_edit_unmap(as, va, size, fl), gen);
}

int aspace_protect(struct aspace *as, u64 va, u64 size, u64 set, u64 clear, u64 *gen)
{
	aspace_change_begin(as);
	return one_edit(as, aspace_edit_protect(as, va, size, set, clear), gen);
}

int aspace_replace(struct aspace *as, u64 va, u64 size, paddr_t pa, u64 *gen)
{
	aspace_change_begin(as);
	return one_edit(as, aspace_edit_replace(as, va, size, pa), gen);
}
