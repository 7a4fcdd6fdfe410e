/* Unit tests for hv/encode.c against the TLFS facts in REFERENCE.md: the hypercall control word
 * and result decoding, GVA range lists, sparse VP sets, and the rep-call continuation loop driven
 * by a simulated hypervisor. Expected values are written as literals from the TLFS (bit
 * positions, call codes, status numbers), not derived from the macros under test. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hv/encode.h"

/* ---- control word (TLFS 3.7) ---- */

static void test_control_fields(void **state)
{
	(void)state;

	assert_true(hv_control(0, false, 0, 0, 0) == 0);
	/* call code 15:0 */
	assert_true(hv_control(0xffff, false, 0, 0, 0) == 0xffffull);
	assert_true(hv_control(0x1234, false, 0, 0, 0) == 0x1234ull);
	/* fast bit 16 */
	assert_true(hv_control(0, true, 0, 0, 0) == 0x10000ull);
	/* variable header size 26:17 */
	assert_true(hv_control(0, false, 1, 0, 0) == 1ull << 17);
	assert_true(hv_control(0, false, 0x3ff, 0, 0) == 0x3ffull << 17);
	assert_true(hv_control(0, false, 0x3ff, 0, 0) == 0x07fe0000ull);
	/* rep count 43:32 */
	assert_true(hv_control(0, false, 0, 1, 0) == 1ull << 32);
	assert_true(hv_control(0, false, 0, 0xfff, 0) == 0x00000fff00000000ull);
	/* rep start 59:48 */
	assert_true(hv_control(0, false, 0, 0, 1) == 1ull << 48);
	assert_true(hv_control(0, false, 0, 0, 0xfff) == 0x0fff000000000000ull);
	/* every field at its maximum: nothing in 31:27, 47:44 or 63:60 */
	assert_true(hv_control(0xffff, true, 0x3ff, 0xfff, 0xfff) == 0x0fff0fff07ffffffull);
}

static void test_control_masking(void **state)
{
	(void)state;

	/* Oversized fields are masked to their widths and never spill into neighbours (the nested
	 * bit 31, the reserved bits, or the next field). */
	assert_true(hv_control(0, false, 0x400, 0, 0) == 0);
	assert_true(hv_control(0, false, 0xffffffffu, 0, 0) == 0x3ffull << 17);
	assert_true(hv_control(0, false, 0x401, 0, 0) == 1ull << 17);
	assert_true(hv_control(0, false, 0, 0x1000, 0) == 0);
	assert_true(hv_control(0, false, 0, 0xffffffffu, 0) == 0xfffull << 32);
	assert_true(hv_control(0, false, 0, 0x1001, 0) == 1ull << 32);
	assert_true(hv_control(0, false, 0, 0, 0x1000) == 0);
	assert_true(hv_control(0, false, 0, 0, 0xffffffffu) == 0xfffull << 48);
	assert_true(hv_control(0, false, 0, 0, 0x1abc) == 0xabcull << 48);
	assert_true((hv_control(0xffff, true, ~0u, ~0u, ~0u) & 0xf000f000f8000000ull) == 0);
}

static void test_control_examples(void **state)
{
	(void)state;

	/* HvCallFlushVirtualAddressList, 7 reps starting at 3, slow */
	assert_int_equal(HVCALL_FLUSH_VIRTUAL_ADDRESS_LIST, 0x0003);
	assert_true(hv_control(0x0003, false, 0, 7, 3) == 0x0003000700000003ull);
	/* HvCallFlushVirtualAddressListEx with 2 bank words, 10 reps */
	assert_int_equal(HVCALL_FLUSH_VIRTUAL_ADDRESS_LIST_EX, 0x0014);
	assert_true(hv_control(0x0014, false, 2, 10, 0) == 0x0000000a00040014ull);
	/* HvCallFlushVirtualAddressSpaceEx, varhead 2, no reps */
	assert_int_equal(HVCALL_FLUSH_VIRTUAL_ADDRESS_SPACE_EX, 0x0013);
	assert_true(hv_control(0x0013, false, 2, 0, 0) == 0x0000000000040013ull);
	/* HvCallSendSyntheticClusterIpiEx, varhead 2 */
	assert_int_equal(HVCALL_SEND_SYNTHETIC_CLUSTER_IPI_EX, 0x0015);
	assert_true(hv_control(0x0015, false, 2, 0, 0) == 0x0000000000040015ull);
	/* fast HvCallSendSyntheticClusterIpi */
	assert_int_equal(HVCALL_SEND_SYNTHETIC_CLUSTER_IPI, 0x000b);
	assert_true(hv_control(0x000b, true, 0, 0, 0) == 0x000000000001000bull);
	/* HvCallFlushVirtualAddressSpace */
	assert_int_equal(HVCALL_FLUSH_VIRTUAL_ADDRESS_SPACE, 0x0002);
	assert_true(hv_control(0x0002, false, 0, 0, 0) == 0x2ull);
}

/* ---- result value (TLFS 3.8) ---- */

static void test_result_decode(void **state)
{
	(void)state;

	assert_int_equal(hv_result_status(0), 0);
	assert_int_equal(hv_result_reps(0), 0);
	assert_int_equal(hv_result_status(0x0000000700000000ull), 0);
	assert_int_equal(hv_result_reps(0x0000000700000000ull), 7);
	assert_int_equal(hv_result_status(0x00000abc00000003ull), 3);
	assert_int_equal(hv_result_reps(0x00000abc00000003ull), 0xabc);
	assert_int_equal(hv_result_reps(0x00000fff00000000ull), 0xfff);
	/* only 15:0 and 43:32 count: bits 31:16 and 63:44 are ignored */
	assert_int_equal(hv_result_status(0xfffff000ffff0000ull), 0);
	assert_int_equal(hv_result_reps(0xfffff000ffff0000ull), 0);
	assert_int_equal(hv_result_status(0xfffff000ffff000eull), 0xe);
	assert_int_equal(hv_result_status(0xffffffffffffffffull), 0xffff);
	assert_int_equal(hv_result_reps(0xffffffffffffffffull), 0xfff);
	assert_int_equal(hv_result_reps(0x0000100000000000ull), 0); /* bit 44 */
	assert_int_equal(hv_result_reps(0x0000000080000000ull), 0); /* bit 31 */
	assert_int_equal(hv_result_status(0x0000000000010000ull), 0); /* bit 16 */
}

static void test_status_names(void **state)
{
	(void)state;
	static const struct {
		u16 macro, tlfs;
		const char *name;
	} st[] = {
		{ HV_STATUS_SUCCESS, 0x0, "HV_STATUS_SUCCESS" },
		{ HV_STATUS_INVALID_HYPERCALL_CODE, 0x2, "HV_STATUS_INVALID_HYPERCALL_CODE" },
		{ HV_STATUS_INVALID_HYPERCALL_INPUT, 0x3, "HV_STATUS_INVALID_HYPERCALL_INPUT" },
		{ HV_STATUS_INVALID_ALIGNMENT, 0x4, "HV_STATUS_INVALID_ALIGNMENT" },
		{ HV_STATUS_INVALID_PARAMETER, 0x5, "HV_STATUS_INVALID_PARAMETER" },
		{ HV_STATUS_ACCESS_DENIED, 0x6, "HV_STATUS_ACCESS_DENIED" },
		{ HV_STATUS_INVALID_VP_INDEX, 0xe, "HV_STATUS_INVALID_VP_INDEX" },
	};

	for (size_t i = 0; i < ARRAY_SIZE(st); i++) {
		assert_int_equal(st[i].macro, st[i].tlfs);
		assert_string_equal(hv_status_name(st[i].tlfs), st[i].name);
	}
	assert_string_equal(hv_status_name(0x1), "HV_STATUS_UNKNOWN");
	assert_string_equal(hv_status_name(0x7), "HV_STATUS_UNKNOWN");
	assert_string_equal(hv_status_name(0xd), "HV_STATUS_UNKNOWN");
	assert_string_equal(hv_status_name(0xffff), "HV_STATUS_UNKNOWN");
}

/* ---- GVA lists (TLFS 12.4.2) ---- */

/* A list into an exact-size heap buffer of max entries, so ASan catches writes past max. */
static int gva(const u64 *va, const u64 *pages, u32 n, u64 **out, u32 max)
{
	*out = malloc((max ? max : 1) * sizeof(u64));
	assert_non_null(*out);
	return hv_gva_list(va, pages, n, *out, max);
}

static void test_gva_basic(void **state)
{
	(void)state;
	u64 *o;

	u64 va1 = 0x7000, p1 = 1;
	assert_int_equal(gva(&va1, &p1, 1, &o, 4), 1);
	assert_true(o[0] == 0x7000);
	free(o);

	/* an unaligned VA is rounded down to its page */
	u64 va2 = 0x7abc, p2 = 2;
	assert_int_equal(gva(&va2, &p2, 1, &o, 4), 1);
	assert_true(o[0] == 0x7001);
	free(o);

	/* 4096 pages fit exactly in one entry */
	u64 va3 = 0x40000000, p3 = 4096;
	assert_int_equal(gva(&va3, &p3, 1, &o, 4), 1);
	assert_true(o[0] == 0x40000fff);
	free(o);

	/* 4097 pages need two */
	u64 p4 = 4097;
	assert_int_equal(gva(&va3, &p4, 1, &o, 4), 2);
	assert_true(o[0] == 0x40000fff);
	assert_true(o[1] == 0x41000000);
	free(o);

	/* 8192 + 5 pages: three, the last with 4 additional */
	u64 p5 = 8197;
	assert_int_equal(gva(&va3, &p5, 1, &o, 4), 3);
	assert_true(o[0] == 0x40000fff);
	assert_true(o[1] == 0x41000fff);
	assert_true(o[2] == 0x42000004);
	free(o);
}

static void test_gva_cross_16m(void **state)
{
	(void)state;
	u64 *o;
	/* 3 pages below the 16 MiB boundary at 0x1000000, 4100 pages in all */
	u64 va = 0x1000000 - 3 * 4096, pages = 4100;

	assert_int_equal(gva(&va, &pages, 1, &o, 2), 2);
	assert_true(o[0] == ((0xffdull << 12) | 0xfff));
	assert_true(o[1] == (((0xffdull + 4096) << 12) | 3));
	assert_true(o[1] == 0x1ffd003);
	/* consecutive: the second starts where the first ends */
	assert_true((o[1] >> 12) == (o[0] >> 12) + (o[0] & 0xfff) + 1);
	free(o);

	/* 5 pages straddling the boundary stay one entry (no alignment to 16 MiB needed) */
	u64 p2 = 5;
	assert_int_equal(gva(&va, &p2, 1, &o, 1), 1);
	assert_true(o[0] == 0xffd004);
	free(o);
}

static void test_gva_several_ranges(void **state)
{
	(void)state;
	u64 *o;
	const u64 va[] = { 0x1000, 0x200000, 0x5000, 0x80000000, 0x123456000 };
	const u64 pages[] = { 1, 0, 16, 4097, 4096 };

	assert_int_equal(gva(va, pages, 5, &o, 8), 5);
	assert_true(o[0] == 0x1000);
	assert_true(o[1] == 0x500f);
	assert_true(o[2] == 0x80000fff);
	assert_true(o[3] == 0x81000000);
	assert_true(o[4] == 0x123456fff);
	free(o);
}

static void test_gva_zero_pages(void **state)
{
	(void)state;
	u64 *o;
	const u64 va[] = { 0x1000, 0x2000, 0x3000 };
	const u64 pages[] = { 0, 0, 0 };

	assert_int_equal(gva(va, pages, 3, &o, 1), 0);
	free(o);
	assert_int_equal(gva(va, pages, 0, &o, 0), 0);
	free(o);
	assert_int_equal(gva(va, pages, 3, &o, 0), 0);
	free(o);
}

static void test_gva_max(void **state)
{
	(void)state;
	u64 *o;
	u64 va[4] = { 0x10000, 0x20000, 0x30000, 0x40000 };
	u64 pages[4] = { 1, 1, 1, 1 };

	assert_int_equal(gva(va, pages, 4, &o, 4), 4);
	for (int i = 0; i < 4; i++)
		assert_true(o[i] == va[i]);
	free(o);
	assert_int_equal(gva(va, pages, 4, &o, 3), -1);
	free(o);
	assert_int_equal(gva(va, pages, 1, &o, 0), -1);
	free(o);

	/* one range that splits past max */
	u64 big = 4096ull * 3, bigva = 0;
	assert_int_equal(gva(&bigva, &big, 1, &o, 3), 3);
	free(o);
	big++;
	assert_int_equal(gva(&bigva, &big, 1, &o, 3), -1);
	free(o);
}

static void test_gva_room(void **state)
{
	(void)state;

	/* HV_INPUT_FLUSH_VIRTUAL_ADDRESS_LIST: 24-byte header */
	assert_int_equal(sizeof(struct hv_tlb_flush), 24);
	assert_int_equal(hv_gva_room(24), 509);
	/* Ex: 32-byte header plus N bank words */
	assert_int_equal(sizeof(struct hv_tlb_flush_ex), 32);
	for (u32 nb = 0; nb <= 64; nb++)
		assert_int_equal(hv_gva_room(32 + 8 * nb), 508 - nb);
	assert_int_equal(hv_gva_room(32 + 8), 507);
	assert_int_equal(hv_gva_room(32 + 8 * 64), 444);

	/* a list of exactly that many entries fills the page, one more does not fit */
	u32 room = hv_gva_room(24);
	u64 *va = malloc(room * 2 * sizeof(u64)), *pages = malloc(room * 2 * sizeof(u64)), *o;

	assert_non_null(va);
	assert_non_null(pages);
	for (u32 i = 0; i < room + 1; i++) {
		va[i] = (u64)i << 24;
		pages[i] = 4096;
	}
	assert_int_equal(gva(va, pages, room, &o, room), (int)room);
	assert_true(o[room - 1] == (((u64)(room - 1) << 24) | 0xfff));
	free(o);
	assert_int_equal(gva(va, pages, room + 1, &o, room), -1);
	free(o);
	/* a single range of room * 4096 pages fills it too */
	u64 zero = 0, many = (u64)room * 4096;
	assert_int_equal(gva(&zero, &many, 1, &o, room), (int)room);
	free(o);
	many++;
	assert_int_equal(gva(&zero, &many, 1, &o, room), -1);
	free(o);
	free(va);
	free(pages);
}

static void test_gva_high_canonical(void **state)
{
	(void)state;
	u64 *o;
	const u64 va[] = { 0xffff800000000000ull, 0xffffffff80001234ull, 0xfffffffffffff000ull };
	const u64 pages[] = { 4097, 2, 1 };

	assert_int_equal(gva(va, pages, 3, &o, 4), 4);
	assert_true(o[0] == 0xffff800000000fffull);
	assert_true(o[1] == 0xffff800001000000ull);
	assert_true(o[2] == 0xffffffff80001001ull);
	assert_true(o[3] == 0xfffffffffffff000ull);
	free(o);
}

/* ---- sparse VP sets (TLFS 7.8.7) ---- */

static struct hv_vpset *vpset_new(void)
{
	struct hv_vpset *s = malloc(sizeof(*s) + 64 * sizeof(u64));

	assert_non_null(s);
	memset(s, 0xa5, sizeof(*s) + 64 * sizeof(u64)); /* stale contents must be overwritten */
	return s;
}

static void test_vpset_single(void **state)
{
	(void)state;
	struct hv_vpset *s = vpset_new();
	u32 vp;

	vp = 0;
	assert_int_equal(hv_vpset_fill(s, 64, &vp, 1), 1);
	assert_true(s->format == 0);
	assert_true(s->valid_bank_mask == 1);
	assert_true(s->bank_contents[0] == 1);

	vp = 63;
	assert_int_equal(hv_vpset_fill(s, 64, &vp, 1), 1);
	assert_true(s->format == 0);
	assert_true(s->valid_bank_mask == 1);
	assert_true(s->bank_contents[0] == 1ull << 63);

	vp = 4095;
	assert_int_equal(hv_vpset_fill(s, 64, &vp, 1), 64);
	assert_true(s->format == 0);
	assert_true(s->valid_bank_mask == ~0ull);
	for (int b = 0; b < 63; b++)
		assert_true(s->bank_contents[b] == 0);
	assert_true(s->bank_contents[63] == 1ull << 63);
	free(s);
}

static void test_vpset_second_bank(void **state)
{
	(void)state;
	struct hv_vpset *s = vpset_new();
	const u32 vp[] = { 64, 65 };

	assert_int_equal(hv_vpset_fill(s, 64, vp, 2), 2);
	assert_true(s->format == 0);
	assert_true(s->valid_bank_mask == 0x3);
	assert_true(s->bank_contents[0] == 0); /* present, empty */
	assert_true(s->bank_contents[1] == 0x3);
	free(s);
}

static void test_vpset_mixed(void **state)
{
	(void)state;
	struct hv_vpset *s = vpset_new();
	const u32 vp[] = { 200, 1, 130, 0, 63, 64, 199, 127 };

	assert_int_equal(hv_vpset_fill(s, 64, vp, ARRAY_SIZE(vp)), 4);
	assert_true(s->format == 0);
	assert_true(s->valid_bank_mask == 0xf);
	assert_true(s->bank_contents[0] == ((1ull << 63) | 0x3));
	assert_true(s->bank_contents[1] == ((1ull << 63) | 1));
	assert_true(s->bank_contents[2] == 1ull << 2);
	assert_true(s->bank_contents[3] == ((1ull << 8) | (1ull << 7)));

	/* exactly the banks needed is enough */
	assert_int_equal(hv_vpset_fill(s, 4, vp, ARRAY_SIZE(vp)), 4);
	free(s);
}

static void test_vpset_duplicates(void **state)
{
	(void)state;
	struct hv_vpset *s = vpset_new();
	const u32 vp[] = { 5, 70, 5, 5, 70 };

	assert_int_equal(hv_vpset_fill(s, 64, vp, ARRAY_SIZE(vp)), 2);
	assert_true(s->valid_bank_mask == 0x3);
	assert_true(s->bank_contents[0] == 1ull << 5);
	assert_true(s->bank_contents[1] == 1ull << 6);
	free(s);
}

static void test_vpset_empty(void **state)
{
	(void)state;
	struct hv_vpset *s = vpset_new();
	u32 vp = 3;

	assert_int_equal(hv_vpset_fill(s, 64, &vp, 0), 0);
	assert_true(s->format == 0);
	assert_true(s->valid_bank_mask == 0);
	assert_int_equal(hv_vpset_fill(s, 0, NULL, 0), 0);
	assert_true(s->valid_bank_mask == 0);
	free(s);
}

static void test_vpset_errors(void **state)
{
	(void)state;
	struct hv_vpset *s = vpset_new();
	const u32 over[] = { 1, 4096 };
	const u32 huge = 0xffffffffu;
	const u32 vp128 = 128, vp0 = 0;

	assert_int_equal(hv_vpset_fill(s, 64, over, 2), -1);
	assert_int_equal(hv_vpset_fill(s, 64, &over[1], 1), -1);
	assert_int_equal(hv_vpset_fill(s, 64, &huge, 1), -1);
	/* VP 128 needs 3 banks */
	assert_int_equal(hv_vpset_fill(s, 2, &vp128, 1), -1);
	assert_int_equal(hv_vpset_fill(s, 3, &vp128, 1), 3);
	assert_int_equal(hv_vpset_fill(s, 0, &vp0, 1), -1);
	free(s);

	/* with max_banks 2, an exact-size allocation is never written past */
	struct hv_vpset *t = malloc(sizeof(*t) + 2 * sizeof(u64));
	const u32 two[] = { 0, 127 };

	assert_non_null(t);
	assert_int_equal(hv_vpset_fill(t, 2, &vp128, 1), -1);
	assert_int_equal(hv_vpset_fill(t, 2, two, 2), 2);
	assert_true(t->valid_bank_mask == 3);
	assert_true(t->bank_contents[0] == 1);
	assert_true(t->bank_contents[1] == 1ull << 63);
	free(t);
}

/* ---- rep calls (TLFS 3.7.4) with a simulated hypervisor ---- */

#define SIM_MAX_CALLS 10000

struct sim {
	/* behaviour */
	u32 per_call;    /* reps completed per call; 0 = all at once */
	u32 fail_on;     /* 1-based call number that fails, 0 = never */
	u16 fail_status;
	u32 stall_after; /* after this many calls, make no progress (0 = never) */
	u64 junk;        /* bits set in the reserved parts of every result */
	/* expected request */
	u16 code;
	u32 varhead, reps;
	u64 in, out;
	/* observed */
	u32 calls, done;
	u64 controls[SIM_MAX_CALLS];
};

static u64 sim_call(void *ctx, u64 control, u64 in, u64 out)
{
	struct sim *s = ctx;

	assert_true(s->calls < SIM_MAX_CALLS); /* the loop must end */
	s->controls[s->calls++] = control;
	assert_int_equal(control & 0xffff, s->code);
	assert_int_equal((control >> 16) & 1, 0); /* rep calls use memory input */
	assert_int_equal((control >> 17) & 0x3ff, s->varhead);
	assert_int_equal((control >> 32) & 0xfff, s->reps); /* rep count unchanged */
	assert_int_equal((control >> 48) & 0xfff, s->done); /* rep start = reps completed */
	assert_true((control & 0xf000f000f8000000ull) == 0);
	assert_true(in == s->in);
	assert_true(out == s->out);

	if (s->fail_on && s->calls == s->fail_on)
		return s->junk | ((u64)s->done << 32) | s->fail_status;
	if (!(s->stall_after && s->calls > s->stall_after)) {
		u32 left = s->reps - s->done;

		s->done += s->per_call ? MIN(s->per_call, left) : left;
	}
	return s->junk | ((u64)s->done << 32);
}

static struct sim *sim_new(u16 code, u32 varhead, u32 reps)
{
	struct sim *s = calloc(1, sizeof(*s));

	assert_non_null(s);
	s->code = code;
	s->varhead = varhead;
	s->reps = reps;
	s->in = 0x123000;
	s->out = 0x456000;
	return s;
}

static u64 run(struct sim *s)
{
	return hv_rep_call(sim_call, s, s->code, s->varhead, s->reps, s->in, s->out);
}

static void test_rep_all_at_once(void **state)
{
	(void)state;
	struct sim *s = sim_new(0x0003, 0, 7);
	u64 r = run(s);

	assert_int_equal(hv_result_status(r), 0);
	assert_int_equal(hv_result_reps(r), 7);
	assert_int_equal(s->calls, 1);
	assert_true(s->controls[0] == 0x0000000700000003ull);
	free(s);
}

static void test_rep_partial(void **state)
{
	(void)state;
	static const u32 ks[] = { 1, 2, 3, 4, 6, 7 };

	for (size_t i = 0; i < ARRAY_SIZE(ks); i++) {
		struct sim *s = sim_new(0x0014, 2, 20);
		u32 k = ks[i];

		s->per_call = k;
		u64 r = run(s);

		assert_int_equal(hv_result_status(r), 0);
		assert_int_equal(hv_result_reps(r), 20);
		assert_int_equal(s->done, 20);
		assert_int_equal(s->calls, (20 + k - 1) / k);
		for (u32 c = 0; c < s->calls; c++) {
			assert_int_equal((s->controls[c] >> 48) & 0xfff, c * k);
			assert_int_equal((s->controls[c] >> 32) & 0xfff, 20);
			assert_true(s->controls[c] == (0x0014ull | (2ull << 17) | (20ull << 32) |
						       ((u64)(c * k) << 48)));
		}
		free(s);
	}
}

static void test_rep_reserved_bits_ignored(void **state)
{
	(void)state;
	struct sim *s = sim_new(0x0003, 0, 9);

	s->per_call = 4;
	s->junk = 0xfffff000ffff0000ull; /* reserved 63:44 and 31:16 set */
	u64 r = run(s);

	assert_int_equal(hv_result_status(r), 0);
	assert_int_equal(hv_result_reps(r), 9);
	assert_int_equal(s->calls, 3);
	free(s);
}

static void test_rep_fails_second_call(void **state)
{
	(void)state;
	struct sim *s = sim_new(0x0003, 0, 10);

	s->per_call = 3;
	s->fail_on = 2;
	s->fail_status = 0x0005; /* invalid parameter */
	u64 r = run(s);

	assert_int_equal(hv_result_status(r), 0x0005);
	assert_int_equal(hv_result_reps(r), 3);
	assert_int_equal(s->calls, 2);
	free(s);

	s = sim_new(0x0014, 3, 10);
	s->per_call = 3;
	s->fail_on = 2;
	s->fail_status = 0x000e; /* invalid VP index */
	r = run(s);
	assert_int_equal(hv_result_status(r), 0x000e);
	assert_int_equal(s->calls, 2);
	free(s);

	/* failing on the first call */
	s = sim_new(0x0003, 0, 10);
	s->fail_on = 1;
	s->fail_status = 0x0002;
	r = run(s);
	assert_int_equal(hv_result_status(r), 0x0002);
	assert_int_equal(s->calls, 1);
	free(s);
}

static void test_rep_no_progress(void **state)
{
	(void)state;
	struct sim *s = sim_new(0x0003, 0, 10);

	s->per_call = 2;
	s->stall_after = 2; /* 2 calls of progress, then the same count forever */
	u64 r = run(s);

	assert_int_not_equal(hv_result_status(r), 0);
	assert_int_equal(s->done, 4);
	assert_int_equal(s->calls, 3); /* stops at the first call without progress */
	free(s);
}

/* A hypervisor that always reports success with zero reps completed. */
static u64 stuck_call(void *ctx, u64 control, u64 in, u64 out)
{
	u32 *calls = ctx;

	(void)control;
	(void)in;
	(void)out;
	assert_true(*calls < SIM_MAX_CALLS);
	++*calls;
	return 0;
}

static void test_rep_no_progress_first(void **state)
{
	(void)state;
	u32 calls = 0;
	u64 r = hv_rep_call(stuck_call, &calls, 0x0003, 0, 4095, 0x1000, 0);

	assert_int_not_equal(hv_result_status(r), 0);
	assert_in_range(calls, 1, 2);
	calls = 0;
	r = hv_rep_call(stuck_call, &calls, 0x0014, 2, 1, 0x1000, 0);
	assert_int_not_equal(hv_result_status(r), 0);
	assert_in_range(calls, 1, 2);
}

static void test_rep_limits(void **state)
{
	(void)state;
	struct sim *s;
	u64 r;

	/* one rep */
	s = sim_new(0x0003, 0, 1);
	r = run(s);
	assert_int_equal(hv_result_status(r), 0);
	assert_int_equal(hv_result_reps(r), 1);
	assert_int_equal(s->calls, 1);
	assert_true(s->controls[0] == 0x0000000100000003ull);
	free(s);

	s = sim_new(0x0003, 0, 1);
	s->per_call = 1;
	r = run(s);
	assert_int_equal(hv_result_status(r), 0);
	assert_int_equal(s->calls, 1);
	free(s);

	/* the most reps a control word can carry, all at once */
	s = sim_new(0x0014, 5, 4095);
	r = run(s);
	assert_int_equal(hv_result_status(r), 0);
	assert_int_equal(hv_result_reps(r), 4095);
	assert_int_equal(s->calls, 1);
	assert_true(s->controls[0] == (0x0014ull | (5ull << 17) | (0xfffull << 32)));
	free(s);

	/* 4095 reps, one per call: every rep start from 0 to 4094 */
	s = sim_new(0x0014, 5, 4095);
	s->per_call = 1;
	r = run(s);
	assert_int_equal(hv_result_status(r), 0);
	assert_int_equal(hv_result_reps(r), 4095);
	assert_int_equal(s->calls, 4095);
	for (u32 c = 0; c < 4095; c++)
		assert_int_equal(s->controls[c] >> 48, c);
	free(s);

	/* 4095 reps, 1000 per call */
	s = sim_new(0x0003, 0, 4095);
	s->per_call = 1000;
	r = run(s);
	assert_int_equal(hv_result_status(r), 0);
	assert_int_equal(s->calls, 5);
	assert_int_equal(s->controls[4] >> 48, 4000);
	free(s);
}

/* TLFS 3.13: read the hypercall MSR first; keep reserved bits 11:2; honour Locked and Enable. */
static void test_hypercall_msr_free(void **state)
{
	u64 write, page;

	(void)state;
	assert_int_equal(hv_hypercall_msr_plan(0, 0x12345000, &write, &page), HV_HCALL_MSR_WRITE);
	assert_int_equal(write, 0x12345001);
	assert_int_equal(page, 0x12345000);
	/* reserved bits as read are written back; stale page bits are not */
	assert_int_equal(hv_hypercall_msr_plan(0xabcd0ffcull, 0x7000, &write, &page), HV_HCALL_MSR_WRITE);
	assert_int_equal(write, 0x7ffdull);
}

static void test_hypercall_msr_enabled_or_locked(void **state)
{
	u64 write, page;

	(void)state;
	assert_int_equal(hv_hypercall_msr_plan(0x55000001, 0x7000, &write, &page), HV_HCALL_MSR_USE_EXISTING);
	assert_int_equal(page, 0x55000000);
	assert_int_equal(write, 0);
	assert_int_equal(hv_hypercall_msr_plan(0x55000003, 0x7000, &write, &page), HV_HCALL_MSR_USE_EXISTING);
	assert_int_equal(page, 0x55000000);
	assert_int_equal(hv_hypercall_msr_plan(0x55000002, 0x7000, &write, &page), HV_HCALL_MSR_LOCKED_OFF);
	assert_int_equal(write, 0);
}

/* TLFS 2.4.5: the Ex forms need ExProcessorMasks (bit 11), cluster IPIs bit 10. */
static void test_form_refused(void **state)
{
	u32 flush = HV_X64_REMOTE_TLB_FLUSH_RECOMMENDED, ex = HV_X64_EX_PROCESSOR_MASKS_RECOMMENDED,
	    ipi = HV_X64_CLUSTER_IPI_RECOMMENDED;

	(void)state;
	assert_null(hv_form_refused(flush, false, false));
	assert_non_null(hv_form_refused(flush, true, false));
	assert_null(hv_form_refused(flush | ex, true, false));
	assert_non_null(hv_form_refused(flush | ex, false, true));
	assert_null(hv_form_refused(ipi, false, true));
	assert_non_null(hv_form_refused(ipi, true, true));
	assert_null(hv_form_refused(ipi | ex, true, true));
	assert_non_null(strstr(hv_form_refused(0, true, false), "bit 11"));
	assert_non_null(strstr(hv_form_refused(0, false, true), "bit 10"));
}

/* XMM fast input (TLFS 3.7.8) carries 112 bytes: a List of 11 GVA entries, an Ex Space with 10
 * banks, an Ex List with banks + entries = 10, an Ex cluster IPI with 11 banks. */
static void test_xmm_input_sizes(void **state)
{
	(void)state;
	assert_int_equal(hv_flush_bytes(0), 24);
	assert_int_equal(hv_flush_bytes(1), 32);
	assert_true(hv_xmm_fits(hv_flush_bytes(11)));
	assert_false(hv_xmm_fits(hv_flush_bytes(12)));
	assert_int_equal(hv_flush_ex_bytes(1, 0), 40);
	assert_int_equal(hv_flush_ex_bytes(1, 1), 48);
	assert_true(hv_xmm_fits(hv_flush_ex_bytes(10, 0)));
	assert_false(hv_xmm_fits(hv_flush_ex_bytes(11, 0)));
	assert_true(hv_xmm_fits(hv_flush_ex_bytes(5, 5)));
	assert_false(hv_xmm_fits(hv_flush_ex_bytes(5, 6)));
	assert_int_equal(hv_ipi_ex_bytes(1), 32);
	assert_true(hv_xmm_fits(hv_ipi_ex_bytes(11)));
	assert_false(hv_xmm_fits(hv_ipi_ex_bytes(12)));
	/* a fast rep call names its reps and start in the control, as the memory form does */
	assert_int_equal(hv_control(HVCALL_FLUSH_VIRTUAL_ADDRESS_LIST, true, 0, 3, 1),
			 HVCALL_FLUSH_VIRTUAL_ADDRESS_LIST | HV_HYPERCALL_FAST | (3ull << 32) | (1ull << 48));
}

/* A sparse set may skip banks: only the banks in the mask are present, in order. */
static void test_vpset_sparse_skips_banks(void **state)
{
	u64 buf[2 + 4] = { 0 };
	struct hv_vpset *set = (struct hv_vpset *)buf;
	const u64 words[] = { 0x5, 0x1 };

	(void)state;
	assert_int_equal(hv_vpset_sparse(set, (1ull << 0) | (1ull << 2), words), 2);
	assert_int_equal(set->format, HV_GENERIC_SET_SPARSE_4K);
	assert_int_equal(set->valid_bank_mask, 0x5);
	assert_int_equal(set->bank_contents[0], 0x5);
	assert_int_equal(set->bank_contents[1], 0x1);
	assert_int_equal(hv_vpset_sparse(set, 0, words), 0); /* the empty set */
	assert_int_equal(set->valid_bank_mask, 0);
	assert_int_equal(hv_vpset_sparse(set, 1ull << 63, words), 1); /* the last bank alone */
	assert_int_equal(set->bank_contents[0], 0x5);
}

static void test_ipi_vector_edges(void **state)
{
	(void)state;
	assert_false(hv_ipi_vector_valid(0x0f));
	assert_true(hv_ipi_vector_valid(0x10));
	assert_true(hv_ipi_vector_valid(0xff));
	assert_false(hv_ipi_vector_valid(0x100));
	assert_false(hv_ipi_vector_valid(0));
}

static void test_control_reserved_mask(void **state)
{
	(void)state;
	/* No field hv_control() encodes touches a reserved bit, and the nested bit is not one. */
	assert_int_equal(hv_control(0xffff, true, 0x3ff, 0xfff, 0xfff) & HV_HYPERCALL_RSVD_MASK, 0);
	assert_int_equal(HV_HYPERCALL_RSVD_MASK & HV_HYPERCALL_NESTED, 0);
	assert_true(HV_HYPERCALL_RSVD_MASK & (1ull << 27));
	assert_true(HV_HYPERCALL_RSVD_MASK & (1ull << 44));
	assert_true(HV_HYPERCALL_RSVD_MASK & (1ull << 60));
	assert_int_equal(__builtin_popcountll(HV_HYPERCALL_RSVD_MASK), 12);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_control_fields),
		cmocka_unit_test(test_control_masking),
		cmocka_unit_test(test_control_examples),
		cmocka_unit_test(test_result_decode),
		cmocka_unit_test(test_status_names),
		cmocka_unit_test(test_gva_basic),
		cmocka_unit_test(test_gva_cross_16m),
		cmocka_unit_test(test_gva_several_ranges),
		cmocka_unit_test(test_gva_zero_pages),
		cmocka_unit_test(test_gva_max),
		cmocka_unit_test(test_gva_room),
		cmocka_unit_test(test_gva_high_canonical),
		cmocka_unit_test(test_vpset_single),
		cmocka_unit_test(test_vpset_second_bank),
		cmocka_unit_test(test_vpset_mixed),
		cmocka_unit_test(test_vpset_duplicates),
		cmocka_unit_test(test_vpset_empty),
		cmocka_unit_test(test_vpset_errors),
		cmocka_unit_test(test_rep_all_at_once),
		cmocka_unit_test(test_rep_partial),
		cmocka_unit_test(test_rep_reserved_bits_ignored),
		cmocka_unit_test(test_rep_fails_second_call),
		cmocka_unit_test(test_rep_no_progress),
		cmocka_unit_test(test_rep_no_progress_first),
		cmocka_unit_test(test_rep_limits),
		cmocka_unit_test(test_hypercall_msr_free),
		cmocka_unit_test(test_hypercall_msr_enabled_or_locked),
		cmocka_unit_test(test_form_refused),
		cmocka_unit_test(test_xmm_input_sizes),
		cmocka_unit_test(test_vpset_sparse_skips_banks),
		cmocka_unit_test(test_ipi_vector_edges),
		cmocka_unit_test(test_control_reserved_mask),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
