/* Memory: frames, the direct map, address spaces with PCIDs, page-table changes that must
 * fault, the deferred ("flush on next entry") path, and every local flush primitive. */
#include "kernel/console.h"
#include "kernel/selftest.h"
#include "kernel/string.h"
#include "kernel/trap.h"
#include "kernel/x86.h"
#include "tests/guest/guest.h"
#include "mm/aspace.h"
#include "mm/flush.h"
#include "mm/frame.h"
#include "mm/mm.h"
#include "smp/percpu.h"

#define TEST_VA 0x0000004000000000ull /* a user-half address no one else uses */
#define NFRAMES 512

extern const char __text_start[];

static u64 read_tag(u64 va, int *vec)
{
	u64 v = 0;

	*vec = read_safe((void *)va, &v);
	return v;
}

static void test_frames(struct test_ctx *t)
{
	static paddr_t got[NFRAMES];
	struct frame_pool *p = mm_frame_pool();
	u64 before = frame_free_count(p);
	u32 dup = 0, bad = 0;

	for (u32 i = 0; i < NFRAMES; i++) {
		got[i] = frame_alloc(p, NULL);
		if (!got[i] || (got[i] & 0xfff) || mm_phys_in_use(got[i], PAGE_SIZE))
			bad++;
		else
			*(volatile u64 *)phys_to_virt(got[i]) = got[i]; /* reachable and writable */
		for (u32 j = 0; j < i && j < 64; j++)
			dup += got[j] == got[i];
	}
	CHECK(t, bad == 0, "%u frames allocated outside the image and boot data (%u bad)", NFRAMES, bad);
	CHECK(t, dup == 0, "no frame handed out twice");
	for (u32 i = 0; i < NFRAMES; i++)
		bad += got[i] && frame_free(p, NULL, got[i]) != 0;
	CHECK(t, bad == 0 && frame_free_count(p) == before, "all freed: %lu free before and after",
	      before);
	CHECK(t, frame_free(p, NULL, got[0]) != 0, "a double free is refused");
}
SELFTEST(mm_frames, "the frame allocator hands out distinct usable frames", test_frames);

static void test_direct_map(struct test_ctx *t)
{
	u64 v;

	CHECK(t, write_safe(phys_to_virt(kimg_to_phys(__text_start)), 0) == VEC_PF,
	      "the direct-map alias of kernel text is read-only");
	CHECK(t, read_safe(phys_to_virt(direct_map_end - 8), &v) == 0,
	      "the direct map reaches %lu MiB", direct_map_end >> 20);
}
SELFTEST(mm_direct_map, "the direct map covers memory and keeps text read-only", test_direct_map);

static void test_fault_on_change(struct test_ctx *t)
{
	struct aspace as;
	paddr_t pa = guest_tagged_frame(0x1234);
	struct pt_freelist fl = { 0 };
	int vec;

	if (!pa || aspace_create(&as)) {
		selftest_error(t, "out of memory");
		return;
	}
	CHECK(t, aspace_map(&as, TEST_VA, pa, PAGE_SIZE, PTE_W | PTE_NX) == 0, "map a page");
	cli();
	aspace_switch(&as);
	CHECK(t, read_tag(TEST_VA, &vec) == 0x1234 && !vec, "the mapping is visible");
	CHECK(t, write_safe((void *)TEST_VA, 0x1234) == 0, "and writable");
	aspace_protect(&as, TEST_VA, PAGE_SIZE, 0, PTE_W, NULL);
	flush_range_local(as.pcid, TEST_VA, 1, false);
	CHECK(t, write_safe((void *)TEST_VA, 1) == VEC_PF && safe_fault_addr() == TEST_VA,
	      "after protect, a write faults (#PF at CR2 %p)", (void *)safe_fault_addr());
	aspace_unmap(&as, TEST_VA, PAGE_SIZE, &fl, NULL);
	flush_range_local(as.pcid, TEST_VA, 1, false);
	read_tag(TEST_VA, &vec);
	CHECK(t, vec == VEC_PF && safe_fault_addr() == TEST_VA, "after unmap, a read faults");
	aspace_switch(NULL);
	sti();
	pt_release(&as.pt, &fl);
	aspace_destroy(&as);
	frame_free(mm_frame_pool(), NULL, pa);
}
SELFTEST(mm_fault_on_change, "protect makes writes fault, unmap makes reads fault", test_fault_on_change);

static void test_pcid(struct test_ctx *t)
{
	struct aspace a, b;
	paddr_t fa = guest_tagged_frame(0xa), fb = guest_tagged_frame(0xb), fc = guest_tagged_frame(0xc);
	u32 wrong = 0;
	u64 deferred;
	int vec;

	if (!fa || !fb || !fc || aspace_create(&a) || aspace_create(&b)) {
		selftest_error(t, "out of memory");
		return;
	}
	aspace_map(&a, TEST_VA, fa, PAGE_SIZE, PTE_NX);
	aspace_map(&b, TEST_VA, fb, PAGE_SIZE, PTE_NX);
	cli();
	for (int i = 0; i < 100; i++) {
		aspace_switch(&a);
		wrong += read_tag(TEST_VA, &vec) != 0xa;
		aspace_switch(&b);
		wrong += read_tag(TEST_VA, &vec) != 0xb;
	}
	CHECK(t, wrong == 0, "the same address in two address spaces stays apart over 100 switches (PCIDs %s)",
	      flush_caps.pcid ? "on" : "off");
	/* Change a while this CPU is away in b: no flush is sent; coming back must flush. */
	deferred = this_cpu()->as.deferred_flushes;
	aspace_replace(&a, TEST_VA, PAGE_SIZE, fc, NULL);
	CHECK(t, !cpumask_test(&a.active, this_cpu()->cpu), "this CPU left a's active set");
	aspace_switch(&a);
	CHECK(t, read_tag(TEST_VA, &vec) == 0xc, "a change made while away is seen on return");
	if (flush_caps.pcid)
		CHECK(t, this_cpu()->as.deferred_flushes == deferred + 1,
		      "and it was flushed at the switch (deferred flush)");
	aspace_switch(NULL);
	sti();
	aspace_destroy(&a);
	aspace_destroy(&b);
	guest_free_frames((paddr_t[]){ fa, fb, fc }, 3);
}
SELFTEST(mm_pcid, "PCIDs keep address spaces apart; changes made away are flushed on return", test_pcid);

/* Each primitive must really drop a translation: remap without flushing, flush, re-read. */
static bool flushes(struct aspace *as, paddr_t *cur, paddr_t f1, paddr_t f2, void (*flush)(struct aspace *))
{
	int vec;

	(void)read_tag(TEST_VA, &vec); /* load the translation */
	*cur = *cur == f1 ? f2 : f1;
	aspace_replace(as, TEST_VA, PAGE_SIZE, *cur, NULL);
	flush(as);
	return read_tag(TEST_VA, &vec) == *(volatile u64 *)phys_to_virt(*cur);
}

static void by_invlpg(struct aspace *as) { (void)as; flush_page(TEST_VA); }
static void by_context(struct aspace *as) { flush_context(as->pcid); }
static void by_nonglobal(struct aspace *as) { (void)as; flush_all_nonglobal(); }
static void by_all(struct aspace *as) { (void)as; flush_all(); }
static void by_range(struct aspace *as) { flush_range_local(as->pcid, TEST_VA, 1, false); }
static void by_range_full(struct aspace *as) { flush_range_local(as->pcid, TEST_VA, 0, false); }
static void by_invpcid_addr(struct aspace *as) { invpcid(INVPCID_ADDRESS, as->pcid, TEST_VA); }

static void test_primitives(struct test_ctx *t)
{
	static const struct {
		const char *name;
		void (*fn)(struct aspace *);
		bool needs_invpcid;
	} methods[] = {
		{ "INVLPG", by_invlpg, false },
		{ "context flush", by_context, false },
		{ "all non-global", by_nonglobal, false },
		{ "all incl. global", by_all, false },
		{ "range (per page)", by_range, false },
		{ "range (whole context)", by_range_full, false },
		{ "INVPCID address", by_invpcid_addr, true },
	};
	struct aspace as;
	paddr_t f1 = guest_tagged_frame(0x111), f2 = guest_tagged_frame(0x222), cur;

	if (!f1 || !f2 || aspace_create(&as)) {
		selftest_error(t, "out of memory");
		return;
	}
	aspace_map(&as, TEST_VA, f1, PAGE_SIZE, PTE_NX);
	cur = f1;
	cli();
	aspace_switch(&as);
	for (u32 i = 0; i < ARRAY_SIZE(methods); i++) {
		if (methods[i].needs_invpcid && !flush_caps.invpcid) {
			kprintf("  skip  %s: no INVPCID\n", methods[i].name);
			continue;
		}
		CHECK(t, flushes(&as, &cur, f1, f2, methods[i].fn), "%s drops the old translation",
		      methods[i].name);
	}
	aspace_switch(NULL);
	sti();
	aspace_destroy(&as);
	guest_free_frames((paddr_t[]){ f1, f2 }, 2);
}
SELFTEST(mm_flush_primitives, "every local flush primitive drops a changed translation", test_primitives);
