/* libFuzzer target: the \_S5 sleep-type search in a DSDT's AML (acpi_parse_s5() in
 * acpi/tables.c; ACPI 6.5 7.4.2, AML encoding 20.2). The input is the AML, in a buffer of its
 * exact size. Properties: no read past it; a success names the first NameOp "_S5_" (optionally
 * rooted) followed by a PackageOp, and returns that package's first one or two small integers
 * as an independent decoding of the same bytes finds them. */
#include "tests/fuzz/fuzz.h"

#include "acpi/acpi.h"

/* ZeroOp, OneOp or BytePrefix n: the value and its encoded size, or 0 for anything else. */
static size_t ref_int(const u8 *p, const u8 *end, u8 *v)
{
	if (p >= end)
		return 0;
	if (*p == 0x00 || *p == 0x01) {
		*v = *p;
		return 1;
	}
	if (*p == 0x0a && end - p >= 2) {
		*v = p[1];
		return 2;
	}
	return 0;
}

static const u8 *ref_find(const u8 *aml, size_t len)
{
	for (size_t i = 1; i + 5 <= len; i++) {
		bool named = aml[i - 1] == 0x08 || (i >= 2 && aml[i - 1] == '\\' && aml[i - 2] == 0x08);

		if (named && !memcmp(aml + i, "_S5_", 4) && aml[i + 4] == 0x12)
			return aml + i + 5;
	}
	return NULL;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	u8 *aml = malloc(size ? size : 1);
	const u8 *end = aml + size, *q;
	u8 a = 0xee, b = 0xee, ra, rb = 0;
	size_t n, lead;
	int rc;

	memcpy(aml, data, size);
	rc = acpi_parse_s5(aml, size, &a, &b);
	FUZZ_CHECK(rc == 0 || rc == -1);
	if (rc == 0) {
		q = ref_find(aml, size);
		FUZZ_CHECK(q != NULL);
		lead = (size_t)(*q >> 6); /* PkgLength: bits 7:6 count the bytes after the lead */
		FUZZ_CHECK((size_t)(end - q) >= 2 + lead && q[1 + lead] >= 1);
		n = ref_int(q + 2 + lead, end, &ra);
		FUZZ_CHECK(n && a == ra);
		if (q[1 + lead] >= 2)
			FUZZ_CHECK(ref_int(q + 2 + lead + n, end, &rb));
		FUZZ_CHECK(b == rb);
	}
	free(aml);
	return 0;
}
