/* 4-level x86-64 page tables (Intel SDM vol. 3A 4.5): map, unmap, protect and look up 4 KiB and
 * 2 MiB pages while other CPUs may be walking the same tables. Every entry changes with one
 * aligned 64-bit store, and tables emptied by an unmap are only handed back for freeing once the
 * caller has finished its TLB shootdown. Callers serialise changes to one set of tables (the
 * kernel half is one set shared by all); lookups and hardware walks may run alongside. */
#ifndef MM_PT_H
#define MM_PT_H

#include "kernel/types.h"

#define PT_ENTRIES 512
#define PT_ADDR_MASK 0x000ffffffffff000ULL /* bits 51:12 of an entry */
#define PT_KERNEL_SLOT 256                 /* first PML4 slot of the shared kernel half */
#define PT_HUGE_PAGE_SIZE 0x40000000ULL    /* 1 GiB: the direct map uses them where the CPU can */

/* How the page-table code gets at memory; it never assumes a particular mapping. */
struct pt_ops {
	paddr_t (*alloc_table)(void *ctx); /* a zeroed 4 KiB page, or 0 when out of memory */
	void (*free_table)(void *ctx, paddr_t pa);
	void *(*phys_to_virt)(void *ctx, paddr_t pa);
	void *ctx;
};

struct pt {
	paddr_t root; /* PML4 */
	const struct pt_ops *ops;
};

/* Tables emptied by unmaps wait here until the caller has flushed every TLB that may hold them. */
#define PT_FREE_MAX 3 /* an unmap can empty at most a PT, a PD and a PDPT */
struct pt_freelist {
	u32 n;
	paddr_t pages[PT_FREE_MAX];
};

/* Allocate an empty root. -ENOMEM */
int pt_init(struct pt *pt, const struct pt_ops *ops);

/* Copy PML4 slots 256..511 so dst shares src's kernel half (the lower-level tables themselves). */
void pt_share_kernel_half(struct pt *dst, const struct pt *src);

/* Map [va, va + size) to pa. size is PAGE_SIZE, LARGE_PAGE_SIZE or PT_HUGE_PAGE_SIZE;
 * flags are PTE_W, PTE_U, PTE_PWT, PTE_PCD, PTE_G, PTE_NX, PTE_A, PTE_D (PTE_P is implied and tolerated).
 * -EINVAL bad arguments, -EEXIST something already covers va (including an empty page table left
 * where a 2 MiB page should go), -ENOMEM out of tables. */
int pt_map(struct pt *pt, u64 va, paddr_t pa, u64 size, u64 flags);

/* Remove the mapping of exactly size at va; the old entry (with the A/D bits the CPU set) goes to
 * *old_pte. Emptied lower-half tables are unlinked and queued on fl for pt_release() after the
 * flush; fl may be NULL, or full, and then empty tables simply stay.
 * -EINVAL bad arguments or a mapping of another size covers va, -ENOENT nothing mapped. */
int pt_unmap(struct pt *pt, u64 va, u64 size, u64 *old_pte, struct pt_freelist *fl);

/* Atomically change the entry of the mapping of exactly size at va to (old | set) & ~clear.
 * P, PS and the address bits are not changeable (-EINVAL). Errors as pt_unmap(). */
int pt_protect(struct pt *pt, u64 va, u64 size, u64 set, u64 clear, u64 *old_pte);

/* Point the mapping of exactly size at va to pa, keeping its flags, with one atomic store (the
 * remap of a stress worker: readers must never see it unmapped). Old entry to *old_pte.
 * Errors as pt_unmap(), and -EINVAL for a misaligned pa. */
int pt_replace(struct pt *pt, u64 va, u64 size, paddr_t pa, u64 *old_pte);

/* Translate va: its physical address, the leaf entry and the page size (4 KiB, 2 MiB or 1 GiB);
 * any output may be NULL. -ENOENT not mapped, -EINVAL non-canonical va. */
int pt_lookup(const struct pt *pt, u64 va, paddr_t *pa, u64 *pte, u64 *size);

/* Free the tables queued on fl; call only after the TLB shootdown that followed the unmaps. */
void pt_release(struct pt *pt, struct pt_freelist *fl);

/* Free every table of the lower half and the root; the caller guarantees nothing uses them.
 * The kernel half is shared and left alone. */
void pt_destroy(struct pt *pt);

#endif
