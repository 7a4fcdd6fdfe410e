/* Physical memory: which RAM is usable (from the boot memory map, Multiboot2 spec 3.6.8 types),
 * and a bitmap allocator of 4 KiB frames over it with small per-CPU caches so that CPUs seldom
 * take the pool's lock. The allocator never touches the frames it manages. */
#ifndef MM_FRAME_H
#define MM_FRAME_H

#include "boot/bootinfo.h"
#include "kernel/spinlock.h"
#include "kernel/types.h"

struct phys_range {
	u64 start, end; /* [start, end) */
};

/* Usable RAM: available (type 1) map entries shrunk inward to page boundaries, minus the reserved
 * ranges and minus anything a non-available map entry also claims (both widened outward to page
 * boundaries; they may overlap each other and anything), below limit; sorted, merged, empty
 * ranges dropped. Returns the count written (at most max_out); *overflow (if non-NULL) tells
 * whether more existed. */
size_t physmem_usable(const struct bootinfo_mmap *map, size_t n, const struct phys_range *reserved,
		      size_t nres, u64 limit, struct phys_range *out, size_t max_out, bool *overflow);

/* One bitmap word covers 64 frames. "free" bits are frames in the pool (changed under the lock);
 * "cached" bits are frames sitting in some CPU's cache (changed atomically, without the lock), so
 * that a double free is caught wherever the first free put the frame. */
struct frame_pool {
	struct spinlock lock;
	const struct phys_range *ranges; /* a copy, kept in the caller's bitmap memory */
	size_t nranges;
	u64 *free_bits;
	u64 *cached_bits;
	u64 words;        /* of each bitmap */
	paddr_t base;     /* address of the frame of bit 0 */
	paddr_t meta_lo;  /* the bitmap memory's own frames, [meta_lo, meta_hi), never handed out */
	paddr_t meta_hi;
	u64 total;        /* frames the pool can hand out */
	u64 nfree;        /* frames free in the pool, not counting caches */
	u64 hint;         /* word where the next search starts (next fit) */
};

#define FRAME_CACHE_SIZE 64
#define FRAME_CACHE_BATCH (FRAME_CACHE_SIZE / 2)

/* One per CPU, used only by that CPU; zero-initialise it. */
struct frame_cache {
	u32 n;
	paddr_t frames[FRAME_CACHE_SIZE];
};

/* Bytes of bitmap memory frame_pool_init() needs for these ranges (bitmaps plus a copy of r). */
u64 frame_bitmap_bytes(const struct phys_range *r, size_t n);

/* Build a pool over sorted, disjoint, page-aligned, non-empty ranges. bitmap (8-byte aligned,
 * bitmap_bytes long) is written through the pointer; bitmap_phys says where it is physically so
 * that its frames are never handed out. Frame 0 is never handed out either (0 means failure).
 * -EINVAL bad ranges, misaligned or too small bitmap. */
int frame_pool_init(struct frame_pool *p, const struct phys_range *r, size_t n, void *bitmap,
		    paddr_t bitmap_phys, u64 bitmap_bytes);

/* One frame, or 0 when out of memory (frames in other CPUs' caches are not reclaimed).
 * c may be NULL: straight from the pool. The frame's contents are whatever they were. */
paddr_t frame_alloc(struct frame_pool *p, struct frame_cache *c);

/* Give a frame back (to c if non-NULL). -EINVAL unaligned, not a frame of the pool, or free. */
int frame_free(struct frame_pool *p, struct frame_cache *c, paddr_t pa);

/* count physically contiguous frames starting at a multiple of align (a power of two >= 4096),
 * straight from the pool; 0 when there is no such run. */
paddr_t frame_alloc_contig(struct frame_pool *p, u64 count, u64 align);

/* Give every frame of c back to the pool (e.g. before a CPU goes offline). */
void frame_cache_drain(struct frame_pool *p, struct frame_cache *c);

/* Frames the pool can hand out: the usable ranges minus the bitmap memory and frame 0. */
u64 frame_total(const struct frame_pool *p);

/* Frames free in the pool. Frames sitting in CPU caches count as in use. */
u64 frame_free_count(const struct frame_pool *p);

#endif
