/* Address spaces: a page table whose upper half is the kernel's, a PCID, the set of CPUs it is
 * loaded on (what a shootdown targets) and a generation counter bumped by every page-table
 * change. A CPU that switches away keeps the generation it last flushed to, so a change made
 * while it was away is flushed when it comes back instead of interrupting it ("flush on next
 * entry"). */
#ifndef MM_ASPACE_H
#define MM_ASPACE_H

#include "kernel/spinlock.h"
#include "kernel/types.h"
#include "mm/pt.h"
#include "smp/cpumask.h"

#define MAX_ASPACES 64 /* PCIDs 1..MAX_ASPACES; PCID 0 is the kernel's own page table */

struct aspace {
	struct pt pt;
	u32 id;   /* index into per-CPU state, 0 .. MAX_ASPACES - 1 */
	u16 pcid; /* 0 when PCIDs are not in use */
	struct spinlock lock; /* serialises changes to pt (several initiators may change one aspace) */
	u32 edits;            /* edits of the change in progress (lock held) */
	struct cpumask active __attribute__((aligned(64))); /* CPUs with it loaded now */
	u64 tlb_gen __attribute__((aligned(64)));          /* bumped after each change */
};

/* Per-CPU view (in struct percpu). */
struct aspace_cpu {
	struct aspace *current;        /* loaded now, NULL for the kernel page table */
	u64 flushed_gen[MAX_ASPACES];  /* generation this CPU's TLB is clean up to, per aspace */
	u64 deferred_flushes;          /* switches that had to flush because of changes made away */
	u64 noflush_switches;          /* switches that kept the TLB (PCID, nothing changed) */
};

int aspace_create(struct aspace *as);
void aspace_destroy(struct aspace *as); /* no CPU may have it loaded */

/* Load as (NULL: the kernel page table) on this CPU; interrupts must be off or the caller must
 * accept an IPI mid-switch (the flush handler copes). */
void aspace_switch(struct aspace *as);

/* Changes to user-like (non-global) mappings. A change is one generation however many entries
 * it edits: aspace_change_begin() takes the lock, the aspace_edit_*() calls edit entries (flags
 * as in pt_map(); PTE_G is refused), and aspace_change_end() bumps tlb_gen once, after every
 * entry is written, and returns that generation, the change's own: the caller shoots down with
 * it (mm/tlb.h), never with aspace_gen(), which may already hold another CPU's later change. */
void aspace_change_begin(struct aspace *as);
int aspace_edit_unmap(struct aspace *as, u64 va, u64 size, struct pt_freelist *fl);
int aspace_edit_protect(struct aspace *as, u64 va, u64 size, u64 set, u64 clear);
int aspace_edit_replace(struct aspace *as, u64 va, u64 size, paddr_t pa);
u64 aspace_change_end(struct aspace *as); /* 0 when no edit took effect (nothing to shoot down) */

/* One-edit changes: 0 or -E*, and the change's generation in *gen (may be NULL). A new mapping
 * replaces nothing a TLB can hold and bumps nothing. */
int aspace_map(struct aspace *as, u64 va, paddr_t pa, u64 size, u64 flags);
int aspace_unmap(struct aspace *as, u64 va, u64 size, struct pt_freelist *fl, u64 *gen);
int aspace_protect(struct aspace *as, u64 va, u64 size, u64 set, u64 clear, u64 *gen);
int aspace_replace(struct aspace *as, u64 va, u64 size, paddr_t pa, u64 *gen);

static inline u64 aspace_gen(const struct aspace *as)
{
	return __atomic_load_n(&as->tlb_gen, __ATOMIC_ACQUIRE);
}

/* This CPU's TLB is clean for `as` up to `gen` (after a local flush); never moves back. */
void aspace_note_flushed(struct aspace *as, u64 gen);

#endif
