/* libFuzzer target: the Hyper-V hypercall encoders (hv/encode.c), each checked by a decoder
 * written here from the TLFS rather than from hv/tlfs.h's macros:
 *   control word (TLFS 3.7): call code 15:0, fast 16, variable header size 26:17, rep count
 *     43:32, rep start index 59:48, everything else zero;
 *   GVA list (12.4.2): each entry is a page number in 63:12 and "additional pages" in 11:0;
 *   sparse VP set (7.8.7): format 0, a valid-bank mask, then one 64-bit word per valid bank in
 *     ascending bank order, bit i of bank b standing for VP index 64 * b + i;
 *   rep continuation (3.7.4): each reissue starts where the last return said it got to.
 * Input: the arguments of each encoder in turn (see the fz_* calls).
 * Properties: the encodings decode back to exactly their input; an input that does not fit is
 * refused (-1) exactly when it does not, and nothing is written past the room given. */
#include "tests/fuzz/fuzz.h"

#include "hv/encode.h"

#define BITS(v, hi, lo) (((v) >> (lo)) & ((2ull << ((hi) - (lo))) - 1))

static void check_control(struct fz *f)
{
	u16 code = fz_u16(f);
	bool fast = fz_u8(f) & 1;
	u32 varhead = fz_u32(f), count = fz_u32(f), start = fz_u32(f);
	u64 c = hv_control(code, fast, varhead, count, start), r = fz_u64(f);

	FUZZ_CHECK(BITS(c, 15, 0) == code && BITS(c, 16, 16) == fast);
	FUZZ_CHECK(BITS(c, 26, 17) == (varhead & 0x3ff) && BITS(c, 31, 27) == 0);
	FUZZ_CHECK(BITS(c, 43, 32) == (count & 0xfff) && BITS(c, 47, 44) == 0);
	FUZZ_CHECK(BITS(c, 59, 48) == (start & 0xfff) && BITS(c, 63, 60) == 0);
	/* the result value (3.7.2): status 15:0, reps complete 43:32 */
	FUZZ_CHECK(hv_result_status(r) == BITS(r, 15, 0) && hv_result_reps(r) == BITS(r, 43, 32));
	FUZZ_CHECK(hv_status_name(hv_result_status(r)) != NULL);
}

/* Page counts around the 4096-page entry limit are the interesting ones. */
static u64 take_pages(struct fz *f)
{
	u8 kind = fz_u8(f);

	switch (kind % 4) {
	case 0: return kind >> 2;
	case 1: return 4096 * (u64)(kind >> 4) + (kind >> 2 & 3) - 1;
	case 2: return fz_u16(f);
	default: return fz_u64(f);
	}
}

#define MAX_RANGES 8
#define MAX_ENTRIES 40

static void check_gva_list(struct fz *f)
{
	u32 n = fz_u8(f) % (MAX_RANGES + 1), max = fz_u8(f) % (MAX_ENTRIES + 1), e = 0;
	u64 va[MAX_RANGES], pages[MAX_RANGES], need = 0;
	u64 *out = malloc(max ? max * sizeof(u64) : 1);
	int rc;

	for (u32 r = 0; r < n; r++) {
		va[r] = fz_u64(f);
		pages[r] = take_pages(f);
		need += pages[r] / 4096 + (pages[r] % 4096 != 0);
		need = MIN(need, (u64)MAX_ENTRIES + 1); /* no wrap: only "fits or not" matters */
	}
	rc = hv_gva_list(va, pages, n, out, max);
	FUZZ_CHECK(rc == (need <= max ? (int)need : -1));
	/* Decode: the entries cover each range's pages in order, in as few entries as possible.
	 * Page numbers are 52 bits: a range past the top of the address space wraps. */
	for (u32 r = 0; rc >= 0 && r < n; r++) {
		u64 page = va[r] >> 12, left = pages[r];

		while (left) {
			u64 got = out[e] >> 12, count = (out[e] & 0xfff) + 1;

			FUZZ_CHECK(got == (page & ((1ull << 52) - 1)) && count == MIN(left, 4096));
			page += count, left -= count, e++;
		}
	}
	FUZZ_CHECK(rc < 0 || e == (u32)rc);
	free(out);
}

static u32 take_vp(struct fz *f)
{
	u8 kind = fz_u8(f);

	switch (kind % 4) {
	case 0: return kind >> 2;
	case 1: return 64 * (u32)(kind >> 4) + (kind >> 2 & 3) - 1; /* bank edges */
	case 2: return fz_u16(f) % 4096;
	default: return fz_u32(f);
	}
}

#define MAX_VPS 24

static void check_vpset(struct fz *f)
{
	u32 n = fz_u8(f) % (MAX_VPS + 1), max_banks = fz_u8(f) % 70, room = MIN(max_banks, 64u);
	u32 vp[MAX_VPS], banks = 0, k = 0;
	u64 want[64] = { 0 }, got[64] = { 0 };
	struct hv_vpset *set = malloc(sizeof(*set) + room * sizeof(u64));
	bool fits = true;
	int rc;

	for (u32 i = 0; i < n; i++) {
		vp[i] = take_vp(f);
		fits = fits && vp[i] / 64 < room;
		banks = MAX(banks, vp[i] / 64 + 1);
		if (vp[i] < 4096)
			want[vp[i] / 64] |= 1ull << (vp[i] % 64);
	}
	rc = hv_vpset_fill(set, max_banks, vp, n);
	FUZZ_CHECK(rc == (fits ? (int)banks : -1));
	if (rc < 0)
		goto out;
	FUZZ_CHECK(set->format == 0); /* HV_GENERIC_SET_SPARSE_4K */
	FUZZ_CHECK(set->valid_bank_mask == (banks == 64 ? ~0ull : (1ull << banks) - 1));
	for (u32 b = 0; b < 64; b++)
		if (set->valid_bank_mask >> b & 1)
			got[b] = set->bank_contents[k++];
	FUZZ_CHECK(k == banks && !memcmp(got, want, sizeof(got)));
out:
	free(set);
}

/* ---- the rep loop against a hypervisor that answers what the input says ---- */

struct sim {
	struct fz *f;
	u16 code;
	u32 varhead, reps, done, calls;
	u64 last;
};

static u64 sim_call(void *ctx, u64 control, u64 in, u64 out)
{
	struct sim *s = ctx;
	u8 how = fz_u8(s->f);
	u64 status = how & 0x80 ? fz_u16(s->f) : 0, reps;

	FUZZ_CHECK(in == 0x1000 && out == 0x2000);
	FUZZ_CHECK(BITS(control, 15, 0) == s->code && BITS(control, 16, 16) == 0);
	FUZZ_CHECK(BITS(control, 26, 17) == (s->varhead & 0x3ff));
	FUZZ_CHECK(BITS(control, 43, 32) == s->reps && BITS(control, 59, 48) == s->done);
	FUZZ_CHECK(++s->calls <= s->reps + 1);
	/* usually some progress; sometimes none, too much, or backwards */
	reps = s->f->left ? (s->done + (how & 0x3f)) & 0xfff : s->reps;
	s->last = status | reps << 32 | (u64)fz_u8(s->f) << 16; /* 31:16 are not the loop's */
	s->done = (u32)reps;
	return s->last;
}

static void check_rep_call(struct fz *f)
{
	struct sim s = { .f = f, .code = fz_u16(f), .varhead = fz_u16(f), .reps = fz_u16(f) & 0xfff };
	u64 r = hv_rep_call(sim_call, &s, s.code, s.varhead, s.reps, 0x1000, 0x2000);
	u16 status = s.last & 0xffff;
	u32 reps = BITS(s.last, 43, 32);

	FUZZ_CHECK(s.calls >= 1);
	if (status || reps >= s.reps)
		FUZZ_CHECK(r == s.last); /* a failure or the last rep: the hypervisor's own result */
	else /* no progress: the same result, reported as invalid input */
		FUZZ_CHECK(r == ((s.last & ~0xffffull) | HV_STATUS_INVALID_HYPERCALL_INPUT));
}

static void check_sizes(struct fz *f)
{
	u32 a = fz_u16(f) % 600, b = fz_u16(f) % 600, h = fz_u16(f) % 4096;
	u64 cur = fz_u64(f), pa = fz_u64(f), write, page;
	enum hv_hypercall_msr_plan plan = hv_hypercall_msr_plan(cur, pa, &write, &page);

	FUZZ_CHECK(hv_flush_bytes(a) == 24 + 8 * a && hv_ipi_ex_bytes(b) == 24 + 8 * b);
	FUZZ_CHECK(hv_flush_ex_bytes(b, a) == 32 + 8 * (a + b));
	FUZZ_CHECK(hv_xmm_fits(a) == (a <= 112));
	FUZZ_CHECK(h + 8 * hv_gva_room(h) <= 4096 && h + 8 * (hv_gva_room(h) + 1) > 4096);
	/* TLFS 3.13: bit 0 enable, bit 1 locked, 11:2 reserved (kept), 63:12 the page */
	if (cur & 1)
		FUZZ_CHECK(plan == HV_HCALL_MSR_USE_EXISTING && page == (cur & ~0xfffull) && !write);
	else if (cur & 2)
		FUZZ_CHECK(plan == HV_HCALL_MSR_LOCKED_OFF && !write);
	else
		FUZZ_CHECK(plan == HV_HCALL_MSR_WRITE && page == (pa & ~0xfffull) &&
			   write == ((cur & 0xffc) | page | 1));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fz f = fz_init(data, size);

	check_control(&f);
	check_gva_list(&f);
	check_vpset(&f);
	check_sizes(&f);
	check_rep_call(&f); /* last: it takes what input is left */
	return 0;
}
