/* Unit tests for acpi/tables.c: checksums, RSDP validation (v1 and v2, each way a copy
 * can be wrong), the \_S5 package in synthetic AML, and this machine's DSDT when readable.
 * Inputs are copied to exactly-sized heap buffers so AddressSanitizer catches any overread. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "acpi/acpi.h"

/* A reference sum, independent of the code under test. */
static u8 sum8(const void *p, size_t len)
{
	const u8 *b = p;
	unsigned s = 0;

	for (size_t i = 0; i < len; i++)
		s += b[i];
	return (u8)s;
}

/* An exact-size heap copy of len bytes (at least one byte allocated). */
static void *copy(const void *p, size_t len)
{
	void *c = malloc(len ? len : 1);

	assert_non_null(c);
	memcpy(c, p, len);
	return c;
}

/* ---- checksums ---- */

static void test_checksum(void **state)
{
	(void)state;
	static const u8 three[] = { 1, 2, 3 };
	static const u8 wrap[] = { 0xff, 0x01 };
	u8 buf[300];

	assert_int_equal(acpi_checksum(three, 0), 0);
	assert_int_equal(acpi_checksum(three, 3), 6);
	assert_int_equal(acpi_checksum(three, 2), 3);
	assert_int_equal(acpi_checksum(wrap, 2), 0);

	for (size_t i = 0; i < sizeof(buf); i++)
		buf[i] = (u8)i;
	assert_int_equal(acpi_checksum(buf, 256), 128); /* 0 + 1 + ... + 255 = 32640 */

	srand(1);
	for (size_t i = 0; i < sizeof(buf); i++)
		buf[i] = (u8)rand();
	for (size_t len = 0; len <= sizeof(buf); len++) {
		u8 *c = copy(buf, len);

		assert_int_equal(acpi_checksum(c, len), sum8(buf, len));
		if (len) {
			/* Fixing the last byte makes the whole sum zero. */
			c[len - 1] -= sum8(c, len);
			assert_int_equal(acpi_checksum(c, len), 0);
		}
		free(c);
	}
}

/* ---- RSDP ---- */

static void fix_checksums(struct acpi_rsdp *r)
{
	r->checksum = 0;
	r->checksum = (u8)-sum8(r, ACPI_RSDP_V1_LEN);
	r->ext_checksum = 0;
	r->ext_checksum = (u8)-sum8(r, sizeof(*r));
}

static struct acpi_rsdp make_rsdp(u8 revision)
{
	struct acpi_rsdp r;

	memset(&r, 0, sizeof(r));
	memcpy(r.signature, "RSD PTR ", 8);
	memcpy(r.oem_id, "BOCHS ", 6);
	r.revision = revision;
	r.rsdt = 0x7fe14d5;
	if (revision >= 2) {
		r.length = sizeof(r);
		r.xsdt = 0x7fe1591;
	}
	fix_checksums(&r);
	return r;
}

/* acpi_rsdp_valid() on an exact copy of the first avail bytes. */
static bool valid(const struct acpi_rsdp *r, size_t avail)
{
	u8 buf[64];
	void *c;
	bool ok;

	assert_true(avail <= sizeof(buf));
	memset(buf, 0xcc, sizeof(buf));
	memcpy(buf, r, MIN(avail, sizeof(*r)));
	c = copy(buf, avail);
	ok = acpi_rsdp_valid(c, avail);
	free(c);
	return ok;
}

static void test_rsdp_v1(void **state)
{
	(void)state;
	struct acpi_rsdp r = make_rsdp(0);

	assert_int_equal(sum8(&r, ACPI_RSDP_V1_LEN), 0);
	assert_true(valid(&r, ACPI_RSDP_V1_LEN));
	assert_true(valid(&r, sizeof(r)));
	assert_true(valid(&r, 64)); /* bytes past 20 are not looked at */

	/* Revision 1 does not exist in the spec, but is not 2.0+: only the v1 part counts. */
	r = make_rsdp(1);
	r.length = 0;
	r.ext_checksum ^= 0x55;
	assert_true(valid(&r, ACPI_RSDP_V1_LEN));
	assert_true(valid(&r, sizeof(r)));

	/* A v1 RSDP with junk where v2 fields would be is still a valid v1 RSDP. */
	r = make_rsdp(0);
	r.length = 5;
	r.xsdt = 0xdeadbeef;
	r.ext_checksum = 0x42;
	assert_true(valid(&r, sizeof(r)));
}

static void test_rsdp_v2(void **state)
{
	(void)state;
	struct acpi_rsdp r = make_rsdp(2);

	assert_int_equal(sum8(&r, ACPI_RSDP_V1_LEN), 0);
	assert_int_equal(sum8(&r, sizeof(r)), 0);
	assert_true(valid(&r, sizeof(r)));
	assert_true(valid(&r, 64));

	r = make_rsdp(6);
	assert_true(valid(&r, sizeof(r)));
}

static void test_rsdp_bad_signature(void **state)
{
	(void)state;
	static const char *const sigs[] = { "RSD PTR\0", "rsd ptr ", "RSD PTR!", " RSD PTR", "RSDT    ",
					    "\0\0\0\0\0\0\0\0" };

	for (u8 rev = 0; rev <= 2; rev += 2)
		for (size_t i = 0; i < ARRAY_SIZE(sigs); i++) {
			struct acpi_rsdp r = make_rsdp(rev);

			memcpy(r.signature, sigs[i], 8);
			fix_checksums(&r);
			assert_false(valid(&r, sizeof(r)));
		}
}

static void test_rsdp_bad_checksum(void **state)
{
	(void)state;

	for (u8 rev = 0; rev <= 2; rev += 2) {
		struct acpi_rsdp r = make_rsdp(rev);

		r.checksum++;
		assert_false(valid(&r, sizeof(r)));

		/* Any one changed byte in the first 20 (the extended checksum still right). */
		for (size_t i = 8; i < ACPI_RSDP_V1_LEN; i++) {
			r = make_rsdp(rev);
			if (i == offsetof(struct acpi_rsdp, revision))
				continue; /* that changes what is checked, not just the sum */
			((u8 *)&r)[i] ^= 0x20;
			r.ext_checksum = 0;
			r.ext_checksum = (u8)-sum8(&r, sizeof(r));
			assert_false(valid(&r, sizeof(r)));
		}
	}
}

static void test_rsdp_bad_ext_checksum(void **state)
{
	(void)state;
	struct acpi_rsdp r = make_rsdp(2);

	r.ext_checksum++;
	assert_false(valid(&r, sizeof(r)));

	/* A changed XSDT address: the v1 checksum still holds, the extended one does not. */
	r = make_rsdp(2);
	r.xsdt ^= 0x1000;
	assert_int_equal(sum8(&r, ACPI_RSDP_V1_LEN), 0);
	assert_false(valid(&r, sizeof(r)));

	r = make_rsdp(2);
	r.reserved[2] = 1;
	assert_false(valid(&r, sizeof(r)));

	/* A length below the v2 size, with both checksums right. */
	static const u32 lens[] = { 0, ACPI_RSDP_V1_LEN, sizeof(r) - 1 };

	for (size_t i = 0; i < ARRAY_SIZE(lens); i++) {
		r = make_rsdp(2);
		r.length = lens[i];
		fix_checksums(&r);
		assert_false(valid(&r, sizeof(r)));
	}
}

static void test_rsdp_short(void **state)
{
	(void)state;
	struct acpi_rsdp r = make_rsdp(0);

	assert_false(valid(&r, 0));
	assert_false(valid(&r, 8));
	assert_false(valid(&r, ACPI_RSDP_V1_LEN - 1));

	/* A v2 RSDP needs all 36 bytes, even when the first 20 check out. */
	r = make_rsdp(2);
	assert_false(valid(&r, ACPI_RSDP_V1_LEN - 1));
	assert_false(valid(&r, ACPI_RSDP_V1_LEN));
	assert_false(valid(&r, sizeof(r) - 1));
	assert_true(valid(&r, sizeof(r)));
}

/* ---- \_S5 in AML ---- */

static u8 a, b;

/* acpi_parse_s5() on an exact copy of a string literal (without its NUL). */
#define S5(lit) s5(lit, sizeof(lit) - 1)

static int s5(const char *aml, size_t len)
{
	u8 *c = copy(aml, len);
	int r;

	a = b = 0xee;
	r = acpi_parse_s5(c, len, &a, &b);
	free(c);
	return r;
}

static void test_s5_byte_values(void **state)
{
	(void)state;
	assert_int_equal(S5("\x08_S5_\x12\x06\x04\x0a\x05\x0a\x05\x00\x00"), 0);
	assert_int_equal(a, 5);
	assert_int_equal(b, 5);

	assert_int_equal(S5("\x08_S5_\x12\x08\x04\x0a\x07\x0a\x03\x00\x00"), 0);
	assert_int_equal(a, 7);
	assert_int_equal(b, 3);

	/* Nothing after the package. */
	assert_int_equal(S5("\x08_S5_\x12\x06\x02\x0a\x02\x0a\x06"), 0);
	assert_int_equal(a, 2);
	assert_int_equal(b, 6);

	/* BytePrefix 0 and 1 are the same values as ZeroOp and OneOp. */
	assert_int_equal(S5("\x08_S5_\x12\x06\x02\x0a\x00\x0a\x01"), 0);
	assert_int_equal(a, 0);
	assert_int_equal(b, 1);
}

static void test_s5_root_prefix(void **state)
{
	(void)state;
	assert_int_equal(S5("\x08\\_S5_\x12\x06\x04\x0a\x05\x0a\x05\x00\x00"), 0);
	assert_int_equal(a, 5);
	assert_int_equal(b, 5);

	/* Inside a Scope (\) { ... }, after other objects. */
	assert_int_equal(S5("\x10\x1f\\\x08_S4_\x12\x06\x04\x0a\x02\x0a\x02\x00\x00"
			    "\x08\\_S5_\x12\x06\x04\x0a\x06\x0a\x01\x00\x00"),
			 0);
	assert_int_equal(a, 6);
	assert_int_equal(b, 1);
}

static void test_s5_zero_one_ops(void **state)
{
	(void)state;
	/* QEMU's: Name (_S5, Package (0x04) { Zero, Zero, Zero, Zero }) */
	assert_int_equal(S5("\x08_S5_\x12\x06\x04\x00\x00\x00\x00"), 0);
	assert_int_equal(a, 0);
	assert_int_equal(b, 0);

	assert_int_equal(S5("\x08_S5_\x12\x06\x04\x01\x00\x00\x00"), 0);
	assert_int_equal(a, 1);
	assert_int_equal(b, 0);

	assert_int_equal(S5("\x08_S5_\x12\x06\x04\x00\x01\x00\x00"), 0);
	assert_int_equal(a, 0);
	assert_int_equal(b, 1);

	assert_int_equal(S5("\x08\\_S5_\x12\x05\x02\x0a\x07\x01"), 0);
	assert_int_equal(a, 7);
	assert_int_equal(b, 1);

	assert_int_equal(S5("\x08_S5_\x12\x05\x02\x01\x0a\x05"), 0);
	assert_int_equal(a, 1);
	assert_int_equal(b, 5);
}

/* A one-element package: SLP_TYPb is 0. */
static void test_s5_one_element(void **state)
{
	(void)state;
	assert_int_equal(S5("\x08_S5_\x12\x04\x01\x0a\x05"), 0);
	assert_int_equal(a, 5);
	assert_int_equal(b, 0);
}

static void test_s5_long_pkglength(void **state)
{
	(void)state;
	/* Two-byte PkgLength: lead byte 0x4X, one byte follows. */
	assert_int_equal(S5("\x08_S5_\x12\x49\x00\x04\x0a\x05\x0a\x03\x00\x00"), 0);
	assert_int_equal(a, 5);
	assert_int_equal(b, 3);

	/* The following byte looks like ops; it must be skipped, not read as an element. */
	assert_int_equal(S5("\x08\\_S5_\x12\x40\x0a\x04\x01\x00\x00\x00"), 0);
	assert_int_equal(a, 1);
	assert_int_equal(b, 0);

	/* Three- and four-byte PkgLength (0x8X, 0xCX). */
	assert_int_equal(S5("\x08_S5_\x12\x80\x01\x01\x04\x0a\x04\x0a\x02\x00\x00"), 0);
	assert_int_equal(a, 4);
	assert_int_equal(b, 2);
	assert_int_equal(S5("\x08_S5_\x12\xc0\x0a\x0a\x0a\x04\x00\x0a\x06\x00\x00"), 0);
	assert_int_equal(a, 0);
	assert_int_equal(b, 6);
}

/* "_S5_" that is not Name (\_S5, Package ...) is skipped and the real one found later. */
static void test_s5_decoys(void **state)
{
	(void)state;
	/* Inside another name (Name (A_S5, ...)). */
	assert_int_equal(S5("\x08" "A_S5_\x12\x06\x04\x0a\x01\x0a\x01\x00\x00"
			    "\x08_S5_\x12\x06\x04\x0a\x05\x0a\x06\x00\x00"),
			 0);
	assert_int_equal(a, 5);
	assert_int_equal(b, 6);

	/* Without NameOp: a method, a string, a scope, a dotted path, a bare occurrence. */
	assert_int_equal(S5("\x14\x09_S5_\x00\xa4\x0a\x07"                  /* Method (_S5) */
			    "\x0d_S5_\x12\x06\x04\x0a\x01\x0a\x01\x00"      /* a string */
			    "\x10\x06\\_S5_\x12"                            /* Scope (\_S5_) */
			    "\x08\x2e_SB__S5_\x12\x06\x04\x0a\x02\x0a\x02\x00\x00" /* \_SB._S5 */
			    "_S5_\x12\x06\x04\x0a\x03\x0a\x03\x00\x00"      /* bare */
			    "\x08\\_S5_\x12\x06\x04\x0a\x04\x0a\x05\x00\x00"),
			 0);
	assert_int_equal(a, 4);
	assert_int_equal(b, 5);

	/* NameOp _S5_ whose value is not a package. */
	assert_int_equal(S5("\x08_S5_\x0a\x07"
			    "\x08_S5_\x12\x06\x04\x01\x01\x00\x00"),
			 0);
	assert_int_equal(a, 1);
	assert_int_equal(b, 1);

	/* At the very start there is no room for NameOp (and nothing before aml may be read). */
	assert_int_equal(S5("_S5_\x12\x06\x04\x0a\x05\x0a\x05\x00\x00"), -1);
	assert_int_equal(S5("\\_S5_\x12\x06\x04\x0a\x05\x0a\x05\x00\x00"), -1);
	assert_int_equal(S5("_S5_\x12\x06\x04\x0a\x05\x0a\x05\x00\x00"
			    "\x08_S5_\x12\x06\x04\x0a\x03\x0a\x03\x00\x00"),
			 0);
	assert_int_equal(a, 3);
	assert_int_equal(b, 3);
}

/* Cut anywhere up to and including the first element: -1, and no read past the end. */
static void test_s5_truncated(void **state)
{
	(void)state;
	static const char full[] = "\x08_S5_\x12\x06\x04\x0a\x05\x0a\x05\x00\x00";
	static const char rooted[] = "\x08\\_S5_\x12\x49\x00\x04\x0a\x05\x0a\x05\x00\x00";

	assert_int_equal(s5(full, sizeof(full) - 1), 0);
	for (size_t len = 0; len <= 9; len++)
		assert_int_equal(s5(full, len), -1);
	assert_int_equal(s5(rooted, sizeof(rooted) - 1), 0);
	for (size_t len = 0; len <= 11; len++)
		assert_int_equal(s5(rooted, len), -1);

	/* A first element that is not a small integer (WordPrefix). */
	assert_int_equal(S5("\x08_S5_\x12\x07\x04\x0b\x05\x00\x0a\x05\x00\x00"), -1);
}

/* Regression: a package cut after its first value, or with a second value in an encoding
 * we do not read, must be rejected rather than reported with SLP_TYPb = 0. */
static void test_s5_second_value_missing(void **state)
{
	(void)state;
	assert_int_equal(S5("\x08_S5_\x12\x06\x04\x0a\x05"), -1);
	assert_int_equal(S5("\x08_S5_\x12\x06\x04\x0a\x05\x0a"), -1);
	assert_int_equal(S5("\x08_S5_\x12\x08\x04\x0a\x05\x0c\x05\x00\x00\x00"), -1);
	assert_int_equal(S5("\x08_S5_\x12\x04\x00"), -1); /* no elements */
}

static void test_s5_absent(void **state)
{
	(void)state;
	assert_int_equal(s5("", 0), -1);
	assert_int_equal(S5("\x08"), -1);
	assert_int_equal(S5("\x08_S5"), -1);
	assert_int_equal(S5("\x08_S4_\x12\x06\x04\x0a\x05\x0a\x05\x00\x00"), -1);
	assert_int_equal(S5("\x08_S3_\x12\x06\x04\x01\x01\x00\x00\x08_s5_\x12\x06\x04\x01\x01\x00\x00"),
			 -1);
	assert_int_equal(S5("\x08_S5_"), -1);

	/* Random bytes without "_S5_". */
	u8 junk[2048];

	srand(5);
	for (size_t i = 0; i < sizeof(junk); i++)
		junk[i] = (u8)rand();
	for (size_t i = 0; i + 4 <= sizeof(junk); i++)
		if (!memcmp(junk + i, "_S5_", 4))
			junk[i] = 'x';
	assert_int_equal(s5((const char *)junk, sizeof(junk)), -1);
}

/* This machine's DSDT, when the kernel exposes it and we may read it. */
static void test_real_dsdt(void **state)
{
	(void)state;
	FILE *f = fopen("/sys/firmware/acpi/tables/DSDT", "rb");
	static u8 buf[1 << 20];
	const struct acpi_header *h = (const void *)buf;
	size_t n;
	bool has_s5 = false;

	if (!f) {
		print_message("no readable /sys/firmware/acpi/tables/DSDT\n");
		skip();
	}
	n = fread(buf, 1, sizeof(buf), f);
	fclose(f);
	assert_true(n >= sizeof(*h) && n < sizeof(buf));
	assert_memory_equal(h->signature, "DSDT", 4);
	assert_int_equal(h->length, n);
	assert_int_equal(acpi_checksum(buf, n), 0);

	for (size_t i = 0; i + 5 <= n; i++)
		if (buf[i] == 0x08 && (!memcmp(buf + i + 1, "_S5_", 4) ||
				       (i + 6 <= n && !memcmp(buf + i + 1, "\\_S5_", 5))))
			has_s5 = true;
	if (!has_s5) {
		/* Some firmware (Firecracker, for one) defines no \_S5. */
		assert_int_equal(s5((const char *)buf + sizeof(*h), n - sizeof(*h)), -1);
		print_message("this DSDT (%.6s %.8s) has no Name (_S5, ...)\n", h->oem_id,
			      h->oem_table_id);
		skip();
	}
	assert_int_equal(s5((const char *)buf + sizeof(*h), n - sizeof(*h)), 0);
	assert_in_range(a, 0, 7); /* SLP_TYPx is a 3-bit field */
	assert_in_range(b, 0, 7);
	print_message("DSDT \\_S5: SLP_TYPa=%u SLP_TYPb=%u\n", a, b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_checksum),
		cmocka_unit_test(test_rsdp_v1),
		cmocka_unit_test(test_rsdp_v2),
		cmocka_unit_test(test_rsdp_bad_signature),
		cmocka_unit_test(test_rsdp_bad_checksum),
		cmocka_unit_test(test_rsdp_bad_ext_checksum),
		cmocka_unit_test(test_rsdp_short),
		cmocka_unit_test(test_s5_byte_values),
		cmocka_unit_test(test_s5_root_prefix),
		cmocka_unit_test(test_s5_zero_one_ops),
		cmocka_unit_test(test_s5_one_element),
		cmocka_unit_test(test_s5_long_pkglength),
		cmocka_unit_test(test_s5_decoys),
		cmocka_unit_test(test_s5_truncated),
		cmocka_unit_test(test_s5_second_value_missing),
		cmocka_unit_test(test_s5_absent),
		cmocka_unit_test(test_real_dsdt),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
