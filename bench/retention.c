/* The TLB retention probe (bench/retention.h). In an address space of its own, with interrupts
 * off: map N pages to frames tagged 1 and read them all (the TLB now holds them), point every
 * entry at a frame tagged 2 without any flush, read them all again and count the reads that
 * still reach a frame tagged 1. */
#include "bench/retention.h"
#include "kernel/console.h"
#include "kernel/record.h"
#include "kernel/string.h"
#include "kernel/x86.h"
#include "mm/aspace.h"
#include "mm/flush.h"
#include "mm/frame.h"
#include "mm/mm.h"
#include "smp/smp.h"

#define PROBE_VA 0x0000010000000000ull /* PML4 slot 2: unused by anything else */
#define TAG_OLD 1
#define TAG_NEW 2

static u64 tag_at(u64 va)
{
	return *(volatile u64 *)va;
}

static u64 probe_size(struct aspace *as, const paddr_t *old, const paddr_t *new, u64 n)
{
	u64 retained = 0;

	for (u64 i = 0; i < n; i++)
		aspace_replace(as, PROBE_VA + i * PAGE_SIZE, PAGE_SIZE, old[i], NULL);
	/* Flush and touch a few times: a TLB that sizes itself on use at each flush (QEMU's, which at
	 * most doubles each time) has then grown to the working set, as it has during a scenario. */
	for (u32 round = 0; round < 4; round++) {
		flush_all();
		for (u64 i = 0; i < n; i++)
			(void)tag_at(PROBE_VA + i * PAGE_SIZE);
	}
	for (u64 i = 0; i < n; i++)
		aspace_replace(as, PROBE_VA + i * PAGE_SIZE, PAGE_SIZE, new[i], NULL);
	/* Backwards, as the oracle's sweeps alternate: the entries loaded last are read first. */
	for (u64 i = n; i-- > 0;)
		retained += tag_at(PROBE_VA + i * PAGE_SIZE) == TAG_OLD;
	return retained;
}

static void add_size(struct retention *r, u64 pages)
{
	u32 i = 0;

	while (i < r->nsizes && r->size[i].pages < pages)
		i++;
	if (i < r->nsizes && r->size[i].pages == pages)
		return;
	if (r->nsizes == RETENTION_MAX_SIZES)
		return;
	memmove(&r->size[i + 1], &r->size[i], (r->nsizes - i) * sizeof(r->size[0]));
	r->size[i].pages = pages;
	r->size[i].retained = 0;
	r->nsizes++;
}

static paddr_t *alloc_frames(u64 n, u64 tag)
{
	paddr_t *v = mm_alloc_zeroed(n * sizeof(paddr_t));

	if (!v)
		return NULL;
	for (u64 i = 0; i < n; i++) {
		v[i] = frame_alloc(mm_frame_pool(), NULL);
		if (v[i])
			*(u64 *)phys_to_virt(v[i]) = tag;
	}
	return v;
}

static void free_frames(paddr_t *v, u64 n)
{
	for (u64 i = 0; v && i < n; i++)
		if (v[i])
			frame_free(mm_frame_pool(), NULL, v[i]);
	mm_free_zeroed(v, n * sizeof(paddr_t));
}

static bool all_allocated(const paddr_t *v, u64 n)
{
	for (u64 i = 0; v && i < n; i++)
		if (!v[i])
			return false;
	return v != NULL;
}

void retention_probe(const u64 *sizes, u32 n, u64 max_pages, struct retention *r)
{
	struct aspace as;
	paddr_t *old, *new;
	u64 top;

	memset(r, 0, sizeof(*r));
	r->cpu = smp_cpu();
	/* Two frames per page, and room left for the scenarios (they allocate their own later). */
	max_pages = MIN(max_pages, frame_free_count(mm_frame_pool()) / 4);
	for (u64 p = 1; p <= max_pages; p *= 2)
		add_size(r, p);
	for (u32 i = 0; i < n; i++)
		if (sizes[i] <= max_pages)
			add_size(r, sizes[i]);
	top = r->nsizes ? r->size[r->nsizes - 1].pages : 0;
	old = alloc_frames(top, TAG_OLD);
	new = alloc_frames(top, TAG_NEW);
	if (!top || !all_allocated(old, top) || !all_allocated(new, top) || aspace_create(&as)) {
		r->error = "no memory for the probe";
		goto out;
	}
	for (u64 i = 0; i < top; i++)
		if (aspace_map(&as, PROBE_VA + i * PAGE_SIZE, old[i], PAGE_SIZE, PTE_NX)) {
			r->error = "could not map the probe's pages";
			aspace_destroy(&as);
			goto out;
		}
	cli();
	aspace_switch(&as);
	for (u32 i = 0; i < r->nsizes; i++) {
		r->size[i].retained = probe_size(&as, old, new, r->size[i].pages);
		if (r->size[i].retained == r->size[i].pages)
			r->largest_shown = r->size[i].pages;
	}
	aspace_switch(NULL);
	sti();
	aspace_destroy(&as);
	r->probed = true;
out:
	free_frames(old, top);
	free_frames(new, top);
}

void retention_record(const struct retention *r)
{
	static char buf[RECORD_MAX * 2];
	struct jw w;

	kprintf("tlb: retention on cpu %u: stale translations kept for up to %lu page%s%s%s\n", r->cpu,
		r->largest_shown, r->largest_shown == 1 ? "" : "s", r->error ? "; " : "",
		r->error ? r->error : "");
	record_begin(&w, buf, sizeof(buf), "tlb_retention");
	jw_u64(&w, "cpu", r->cpu);
	jw_bool(&w, "probed", r->probed);
	if (r->error)
		jw_str(&w, "error", r->error);
	else
		jw_null(&w, "error");
	jw_u64(&w, "largest_shown", r->largest_shown);
	jw_arr_begin(&w, "sizes");
	for (u32 i = 0; i < r->nsizes; i++) {
		jw_obj_begin(&w, NULL);
		jw_u64(&w, "pages", r->size[i].pages);
		jw_u64(&w, "retained", r->size[i].retained);
		jw_obj_end(&w);
	}
	jw_arr_end(&w);
	record_end(&w);
}
