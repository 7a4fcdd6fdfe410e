/* libFuzzer target: the MADT parser (acpi/madt.c; ACPI 6.5 5.2.12) as smp.c calls it, after
 * acpi.c has checked the table's checksum (so none is needed here).
 *
 * Input: the size of the caller's APIC ID array (0..79), then the table, in a buffer of its
 * exact size; the ID array is exactly that size too. Properties: no read past the table, no
 * write past the array; on success the processors are those an independent walk of the entries
 * finds usable, in table order, each APIC ID once, and every processor entry is counted as
 * usable, disabled or a duplicate; a failure leaves a one-line reason. */
#include "tests/fuzz/fuzz.h"

#include "acpi/madt.h"

static u32 rd32(const u8 *p)
{
	u32 v;

	memcpy(&v, p, sizeof(v));
	return v;
}

/* The entries' processors as the spec reads them: (APIC ID, usable), into ids[max]. */
struct ref {
	u32 entries, usable, ids[4096];
	u64 lapic;
};

static bool ref_walk(const u8 *t, u32 len, struct ref *r)
{
	memset(r, 0, sizeof(*r));
	r->lapic = rd32(t + 36);
	for (u32 off = MADT_HEADER_LEN; off < len; off += t[off + 1]) {
		u8 type = t[off], elen = len - off >= 2 ? t[off + 1] : 0;
		u32 id, flags;

		if (elen < 2 || elen > len - off || (type == 0 && elen < 8) ||
		    (type == 9 && elen < 16) || (type == 5 && elen < 12))
			return false;
		if (type == 5) {
			memcpy(&r->lapic, t + off + 4, 8);
			continue;
		}
		if (type != 0 && type != 9)
			continue;
		id = type == 0 ? t[off + 3] : rd32(t + off + 4);
		flags = rd32(t + off + (type == 0 ? 4 : 8));
		r->entries++;
		if (!(flags & 3))
			continue;
		for (u32 i = 0; i < r->usable && i < ARRAY_SIZE(r->ids); i++)
			if (r->ids[i] == id)
				goto duplicate;
		if (r->usable < ARRAY_SIZE(r->ids))
			r->ids[r->usable] = id;
		r->usable++;
duplicate:;
	}
	return r->usable != 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct ref r;
	u32 max = size ? data[0] % 80 : 0, len = size ? (u32)size - 1 : 0;
	u8 *t = malloc(len ? len : 1);
	u32 *ids = malloc(max ? max * sizeof(u32) : 1);
	struct madt_info mi;
	char err[100];
	bool ok;
	int rc;

	if (len)
		memcpy(t, data + 1, len);
	rc = madt_parse(t, len, ids, max, &mi, err, sizeof(err));
	ok = len >= MADT_HEADER_LEN && !memcmp(t, "APIC", 4) && rd32(t + 4) == len &&
	     ref_walk(t, len, &r);
	FUZZ_CHECK((rc == 0) == ok);
	if (rc) {
		fuzz_check_one_line(err, sizeof(err));
	} else {
		FUZZ_CHECK(mi.ncpus == r.usable && mi.lapic_phys == r.lapic);
		FUZZ_CHECK(mi.ncpus + mi.disabled + mi.duplicates == r.entries);
		FUZZ_CHECK(mi.truncated == (mi.ncpus > max));
		for (u32 i = 0; i < MIN(mi.ncpus, max); i++)
			FUZZ_CHECK(ids[i] == r.ids[i]);
	}
	free(t);
	free(ids);
	return 0;
}
