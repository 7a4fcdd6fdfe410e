/* Unit tests for acpi/madt.c: MADTs built byte by byte (QEMU-like, sparse IDs, x2APIC, flags,
 * duplicates, truncation, the address override), every way a table can be rejected, and fuzzing
 * against a reference parser written here from the spec. Tables, ID arrays and error buffers are
 * exactly-sized heap copies so AddressSanitizer catches any access outside them. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "acpi/madt.h"

#define SENTINEL 0xdeadbeefu
#define QEMU_LAPIC 0xfee00000u

/* ---- a small MADT builder (checksum is not the parser's business) ---- */

struct mb {
	u8 buf[8192];
	u32 len;
};

static void put16(u8 *p, u16 v)
{
	p[0] = (u8)v;
	p[1] = (u8)(v >> 8);
}

static void put32(u8 *p, u32 v)
{
	put16(p, (u16)v);
	put16(p + 2, (u16)(v >> 16));
}

static void put64(u8 *p, u64 v)
{
	put32(p, (u32)v);
	put32(p + 4, (u32)(v >> 32));
}

static u16 get16(const u8 *p)
{
	return (u16)(p[0] | p[1] << 8);
}

static u32 get32(const u8 *p)
{
	return get16(p) | (u32)get16(p + 2) << 16;
}

static u64 get64(const u8 *p)
{
	return get32(p) | (u64)get32(p + 4) << 32;
}

static void mb_init(struct mb *b, u32 lapic)
{
	memset(b, 0, sizeof(*b));
	memcpy(b->buf, "APIC", 4);
	b->buf[8] = 5; /* revision */
	memcpy(b->buf + 10, "BOCHS ", 6);
	memcpy(b->buf + 16, "BXPC    ", 8);
	put32(b->buf + 24, 1);
	memcpy(b->buf + 28, "BXPC", 4);
	put32(b->buf + 32, 1);
	put32(b->buf + 36, lapic);
	put32(b->buf + 40, 1); /* PCAT_COMPAT */
	b->len = MADT_HEADER_LEN;
}

/* Appends an entry header of the given type and length; returns its body to fill in. */
static u8 *mb_entry(struct mb *b, u8 type, u8 length)
{
	u8 *e = b->buf + b->len;

	assert_true(b->len + length <= sizeof(b->buf));
	memset(e, 0, length);
	e[0] = type;
	if (length > 1)
		e[1] = length;
	b->len += length;
	return e;
}

static void mb_lapic(struct mb *b, u8 uid, u8 id, u32 flags)
{
	u8 *e = mb_entry(b, 0, 8);

	e[2] = uid;
	e[3] = id;
	put32(e + 4, flags);
}

static void mb_x2apic(struct mb *b, u32 id, u32 flags, u32 uid)
{
	u8 *e = mb_entry(b, 9, 16);

	put32(e + 4, id);
	put32(e + 8, flags);
	put32(e + 12, uid);
}

static void mb_override(struct mb *b, u64 addr)
{
	put64(mb_entry(b, 5, 12) + 4, addr);
}

static void mb_ioapic(struct mb *b, u8 id, u32 addr, u32 gsi_base)
{
	u8 *e = mb_entry(b, 1, 12);

	e[2] = id;
	put32(e + 4, addr);
	put32(e + 8, gsi_base);
}

static void mb_iso(struct mb *b, u8 source, u32 gsi, u16 flags)
{
	u8 *e = mb_entry(b, 2, 10);

	e[3] = source;
	put32(e + 4, gsi);
	put16(e + 8, flags);
}

static void mb_lapic_nmi(struct mb *b, u8 uid, u16 flags, u8 lint)
{
	u8 *e = mb_entry(b, 4, 6);

	e[2] = uid;
	put16(e + 3, flags);
	e[5] = lint;
}

/* Sets the header length to the bytes written so far and returns it. */
static u32 mb_finish(struct mb *b)
{
	put32(b->buf + 4, b->len);
	return b->len;
}

/* ---- calling the parser ---- */

static struct madt_info info;
static char last_err[256];

/* Checks the error contract: non-empty, one line, terminated inside the buffer. */
static void check_err(const char *err, size_t err_len)
{
	size_t n = strnlen(err, err_len);

	assert_true(n < err_len);
	assert_true(n > 0);
	if (memchr(err, '\n', n) || memchr(err, '\r', n))
		fail_msg("error is not one line: \"%s\"", err);
}

/* madt_parse() on an exact copy of len bytes of t, with an exact max-entry ID array. On success
 * the IDs go to ids (want at least max entries), and slots past those reported must be
 * untouched. */
static int parse_n(const void *t, u32 len, u32 *ids, u32 max)
{
	u8 *c = malloc(len ? len : 1);
	u32 *a = malloc(max ? max * sizeof(u32) : 1);
	char *err = malloc(sizeof(last_err));
	int r;

	assert_non_null(c);
	assert_non_null(a);
	assert_non_null(err);
	memcpy(c, t, len);
	for (u32 i = 0; i < max; i++)
		a[i] = SENTINEL;
	memset(err, 0x7f, sizeof(last_err));
	memset(&info, 0xa5, sizeof(info)); /* the parser must fill every field */

	r = madt_parse(c, len, a, max, &info, err, sizeof(last_err));
	assert_true(r == 0 || r == -1);
	assert_memory_equal(c, t, len); /* the table is read-only */
	if (r) {
		check_err(err, sizeof(last_err));
		memcpy(last_err, err, sizeof(last_err));
	} else {
		u32 stored = MIN(info.ncpus, max);

		assert_true(info.ncpus > 0);
		assert_int_equal(info.truncated, info.ncpus > max);
		for (u32 i = stored; i < max; i++)
			assert_int_equal(a[i], SENTINEL);
		if (ids)
			memcpy(ids, a, max * sizeof(u32));
	}
	free(err);
	free(a);
	free(c);
	return r;
}

static int parse(const struct mb *b, u32 *ids, u32 max)
{
	return parse_n(b->buf, b->len, ids, max);
}

static void expect_ids(const u32 *got, const u32 *want, size_t n)
{
	assert_int_equal(info.ncpus, n);
	for (size_t i = 0; i < n; i++)
		if (got[i] != want[i])
			fail_msg("cpu %zu: APIC ID %u, want %u", i, got[i], want[i]);
}

static void expect_counts(u32 disabled, u32 duplicates, bool truncated)
{
	assert_int_equal(info.disabled, disabled);
	assert_int_equal(info.duplicates, duplicates);
	assert_int_equal(info.truncated, truncated);
}

/* ---- well-formed tables ---- */

/* What QEMU (pc and q35) builds for -smp 4: four enabled xAPICs, one IOAPIC, the ISA interrupt
 * source overrides, and a Local APIC NMI for all processors. */
static void build_qemu(struct mb *b, unsigned ncpus)
{
	mb_init(b, QEMU_LAPIC);
	for (unsigned i = 0; i < ncpus; i++)
		mb_lapic(b, (u8)i, (u8)i, MADT_LAPIC_ENABLED);
	mb_ioapic(b, 0, 0xfec00000, 0);
	mb_iso(b, 0, 2, 0);
	mb_iso(b, 5, 5, 0xd);
	mb_iso(b, 9, 9, 0xd);
	mb_iso(b, 10, 10, 0xd);
	mb_iso(b, 11, 11, 0xd);
	mb_lapic_nmi(b, 0xff, 0, 1);
	mb_finish(b);
}

static void test_qemu_4cpus(void **state)
{
	(void)state;
	static const u32 want[] = { 0, 1, 2, 3 };
	struct mb b;
	u32 ids[8];

	build_qemu(&b, 4);
	assert_int_equal(b.len, 44 + 4 * 8 + 12 + 5 * 10 + 6);
	assert_int_equal(parse(&b, ids, 8), 0);
	expect_ids(ids, want, 4);
	expect_counts(0, 0, false);
	assert_int_equal(info.lapic_phys, QEMU_LAPIC);

	/* Exactly as many slots as processors is not truncation. */
	assert_int_equal(parse(&b, ids, 4), 0);
	expect_ids(ids, want, 4);
	expect_counts(0, 0, false);
}

static void test_qemu_1cpu(void **state)
{
	(void)state;
	static const u32 want[] = { 0 };
	struct mb b;
	u32 ids[1];

	build_qemu(&b, 1);
	assert_int_equal(parse(&b, ids, 1), 0);
	expect_ids(ids, want, 1);
	expect_counts(0, 0, false);
}

static void test_sparse_ids(void **state)
{
	(void)state;
	static const u32 want[] = { 0, 1, 2, 4, 5, 6 };
	struct mb b;
	u32 ids[16];

	mb_init(&b, QEMU_LAPIC);
	for (size_t i = 0; i < ARRAY_SIZE(want); i++)
		mb_lapic(&b, (u8)i, (u8)want[i], MADT_LAPIC_ENABLED);
	mb_ioapic(&b, 8, 0xfec00000, 0);
	mb_finish(&b);
	assert_int_equal(parse(&b, ids, 16), 0);
	expect_ids(ids, want, ARRAY_SIZE(want));
	expect_counts(0, 0, false);

	/* Table order, not sorted order. */
	static const u32 shuffled[] = { 6, 0, 255, 4, 128, 1 };

	mb_init(&b, QEMU_LAPIC);
	for (size_t i = 0; i < ARRAY_SIZE(shuffled); i++)
		mb_lapic(&b, (u8)i, (u8)shuffled[i], MADT_LAPIC_ENABLED);
	mb_finish(&b);
	assert_int_equal(parse(&b, ids, 16), 0);
	expect_ids(ids, shuffled, ARRAY_SIZE(shuffled));
}

static void test_x2apic(void **state)
{
	(void)state;
	static const u32 want[] = { 256, 300 };
	struct mb b;
	u32 ids[4];

	mb_init(&b, QEMU_LAPIC);
	mb_x2apic(&b, 256, MADT_LAPIC_ENABLED, 0);
	mb_x2apic(&b, 300, MADT_LAPIC_ENABLED, 1);
	mb_finish(&b);
	assert_int_equal(parse(&b, ids, 4), 0);
	expect_ids(ids, want, 2);
	expect_counts(0, 0, false);
	assert_int_equal(info.lapic_phys, QEMU_LAPIC);

	/* All 32 bits of an x2APIC ID are kept. */
	static const u32 wide[] = { 0x10000, 0xfffffffe, 0x12345678 };

	mb_init(&b, QEMU_LAPIC);
	for (size_t i = 0; i < ARRAY_SIZE(wide); i++)
		mb_x2apic(&b, wide[i], MADT_LAPIC_ENABLED, (u32)i);
	mb_finish(&b);
	assert_int_equal(parse(&b, ids, 4), 0);
	expect_ids(ids, wide, ARRAY_SIZE(wide));
}

static void test_mixed(void **state)
{
	(void)state;
	static const u32 want[] = { 0, 256, 1, 300, 254 };
	struct mb b;
	u32 ids[8];

	/* As firmware lists them past 255 processors: xAPIC entries, then x2APIC ones. */
	mb_init(&b, QEMU_LAPIC);
	mb_lapic(&b, 0, 0, MADT_LAPIC_ENABLED);
	mb_ioapic(&b, 0, 0xfec00000, 0);
	mb_x2apic(&b, 256, MADT_LAPIC_ENABLED, 256);
	mb_iso(&b, 0, 2, 0);
	mb_lapic(&b, 1, 1, MADT_LAPIC_ENABLED);
	mb_x2apic(&b, 300, MADT_LAPIC_ENABLED, 300);
	mb_lapic_nmi(&b, 0xff, 0, 1);
	mb_lapic(&b, 2, 254, MADT_LAPIC_ENABLED);
	mb_finish(&b);
	assert_int_equal(parse(&b, ids, 8), 0);
	expect_ids(ids, want, ARRAY_SIZE(want));
	expect_counts(0, 0, false);
}

static void test_disabled_and_online_capable(void **state)
{
	(void)state;
	static const u32 want[] = { 0, 2, 3, 4, 6, 7, 1 };
	struct mb b;
	u32 ids[16];

	mb_init(&b, QEMU_LAPIC);
	mb_lapic(&b, 0, 0, MADT_LAPIC_ENABLED);
	mb_lapic(&b, 1, 1, 0);						 /* disabled */
	mb_lapic(&b, 2, 2, MADT_LAPIC_ONLINE_CAPABLE);			 /* hot-pluggable */
	mb_lapic(&b, 3, 3, MADT_LAPIC_ENABLED | MADT_LAPIC_ONLINE_CAPABLE); /* odd, but usable */
	mb_lapic(&b, 4, 4, 0x80000001);					 /* reserved bits set */
	mb_lapic(&b, 5, 5, 0xfffffffc);					 /* everything but bits 0-1 */
	mb_x2apic(&b, 6, MADT_LAPIC_ONLINE_CAPABLE, 6);
	mb_x2apic(&b, 7, MADT_LAPIC_ENABLED, 7);
	mb_x2apic(&b, 500, 0, 8);					 /* disabled */
	/* A disabled ID enabled later is not a duplicate: the disabled entry was never taken. */
	mb_lapic(&b, 9, 1, MADT_LAPIC_ENABLED);
	mb_finish(&b);
	assert_int_equal(parse(&b, ids, 16), 0);
	expect_ids(ids, want, ARRAY_SIZE(want));
	expect_counts(3, 0, false);

	/* An enabled ID listed again as disabled: the second is only counted as disabled. */
	mb_init(&b, QEMU_LAPIC);
	mb_lapic(&b, 0, 0, MADT_LAPIC_ENABLED);
	mb_lapic(&b, 1, 0, 0);
	mb_finish(&b);
	assert_int_equal(parse(&b, ids, 16), 0);
	expect_ids(ids, want, 1);
	expect_counts(1, 0, false);
}

static void test_duplicates(void **state)
{
	(void)state;
	static const u32 want[] = { 0, 1, 2, 5 };
	struct mb b;
	u32 ids[16];

	mb_init(&b, QEMU_LAPIC);
	mb_lapic(&b, 0, 0, MADT_LAPIC_ENABLED);
	mb_lapic(&b, 1, 1, MADT_LAPIC_ENABLED);
	mb_lapic(&b, 2, 1, MADT_LAPIC_ENABLED);	       /* same APIC ID, other UID */
	mb_lapic(&b, 3, 2, MADT_LAPIC_ONLINE_CAPABLE);
	mb_lapic(&b, 4, 0, MADT_LAPIC_ONLINE_CAPABLE); /* duplicate, whatever its flags */
	mb_lapic(&b, 5, 5, MADT_LAPIC_ENABLED);
	mb_x2apic(&b, 5, MADT_LAPIC_ENABLED, 6);	       /* the same ID as an x2APIC entry */
	mb_x2apic(&b, 2, MADT_LAPIC_ENABLED, 7);
	mb_lapic(&b, 8, 0, MADT_LAPIC_ENABLED);
	mb_finish(&b);
	assert_int_equal(parse(&b, ids, 16), 0);
	expect_ids(ids, want, ARRAY_SIZE(want));
	expect_counts(0, 5, false);

	/* x2APIC IDs above 255 are compared as 32-bit values, not truncated to 8 bits. */
	static const u32 wide[] = { 1, 257, 513 };

	mb_init(&b, QEMU_LAPIC);
	mb_lapic(&b, 0, 1, MADT_LAPIC_ENABLED);
	mb_x2apic(&b, 257, MADT_LAPIC_ENABLED, 1);
	mb_x2apic(&b, 513, MADT_LAPIC_ENABLED, 2);
	mb_x2apic(&b, 257, MADT_LAPIC_ENABLED, 3);
	mb_finish(&b);
	assert_int_equal(parse(&b, ids, 16), 0);
	expect_ids(ids, wide, ARRAY_SIZE(wide));
	expect_counts(0, 1, false);
}

static void test_truncation(void **state)
{
	(void)state;
	struct mb b;
	u32 ids[4];

	build_qemu(&b, 4);
	assert_int_equal(parse(&b, ids, 2), 0); /* the array holds 2: ASan sees any third write */
	assert_int_equal(info.ncpus, 4);
	assert_int_equal(ids[0], 0);
	assert_int_equal(ids[1], 1);
	expect_counts(0, 0, true);

	assert_int_equal(parse(&b, ids, 3), 0);
	assert_int_equal(info.ncpus, 4);
	assert_int_equal(ids[2], 2);
	expect_counts(0, 0, true);

	/* No room at all: still a valid table, every processor counted. */
	assert_int_equal(parse(&b, NULL, 0), 0);
	assert_int_equal(info.ncpus, 4);
	expect_counts(0, 0, true);

	/* Disabled entries and duplicates inside the stored part are not counted as processors. */
	mb_init(&b, QEMU_LAPIC);
	mb_lapic(&b, 0, 0, MADT_LAPIC_ENABLED);
	mb_lapic(&b, 1, 0, MADT_LAPIC_ENABLED);
	mb_lapic(&b, 2, 1, 0);
	mb_lapic(&b, 3, 7, MADT_LAPIC_ENABLED);
	mb_x2apic(&b, 300, MADT_LAPIC_ENABLED, 4);
	mb_finish(&b);
	assert_int_equal(parse(&b, ids, 2), 0);
	assert_int_equal(info.ncpus, 3);
	assert_int_equal(ids[0], 0);
	assert_int_equal(ids[1], 7);
	expect_counts(1, 1, true);

	/* Two usable processors, two slots, plus disabled and duplicate ones: not truncated. */
	mb_init(&b, QEMU_LAPIC);
	mb_lapic(&b, 0, 0, MADT_LAPIC_ENABLED);
	mb_lapic(&b, 1, 1, MADT_LAPIC_ENABLED);
	mb_lapic(&b, 2, 2, 0);
	mb_lapic(&b, 3, 1, MADT_LAPIC_ENABLED);
	mb_finish(&b);
	assert_int_equal(parse(&b, ids, 2), 0);
	assert_int_equal(info.ncpus, 2);
	expect_counts(1, 1, false);
}

/* A duplicate past the caller's array is still a duplicate: ncpus counts processors, not
 * entries. */
static void test_truncation_duplicates(void **state)
{
	(void)state;
	struct mb b;
	u32 ids[2];

	mb_init(&b, QEMU_LAPIC);
	mb_lapic(&b, 0, 0, MADT_LAPIC_ENABLED);
	mb_lapic(&b, 1, 1, MADT_LAPIC_ENABLED);
	mb_lapic(&b, 2, 2, MADT_LAPIC_ENABLED);
	mb_lapic(&b, 3, 2, MADT_LAPIC_ENABLED);
	mb_finish(&b);
	assert_int_equal(parse(&b, ids, 2), 0);
	assert_int_equal(ids[0], 0);
	assert_int_equal(ids[1], 1);
	assert_true(info.truncated);
	assert_int_equal(info.ncpus, 3);
	assert_int_equal(info.duplicates, 1);
}

static void test_override(void **state)
{
	(void)state;
	static const u32 want[] = { 0, 1 };
	struct mb b;
	u32 ids[4];

	/* After the processors, with an address above 4 GiB: all 64 bits are used. */
	mb_init(&b, QEMU_LAPIC);
	mb_lapic(&b, 0, 0, MADT_LAPIC_ENABLED);
	mb_lapic(&b, 1, 1, MADT_LAPIC_ENABLED);
	mb_override(&b, 0x0000001234567000ull);
	mb_finish(&b);
	assert_int_equal(parse(&b, ids, 4), 0);
	expect_ids(ids, want, 2);
	assert_int_equal(info.lapic_phys, 0x0000001234567000ull);

	/* Before them, and with the 32-bit field zero. */
	mb_init(&b, 0);
	mb_override(&b, 0xfee00000);
	mb_lapic(&b, 0, 0, MADT_LAPIC_ENABLED);
	mb_lapic(&b, 1, 1, MADT_LAPIC_ENABLED);
	mb_finish(&b);
	assert_int_equal(parse(&b, ids, 4), 0);
	expect_ids(ids, want, 2);
	assert_int_equal(info.lapic_phys, 0xfee00000);

	/* Without one, the 32-bit field, zero-extended. */
	mb_init(&b, 0xfffff000);
	mb_lapic(&b, 0, 0, MADT_LAPIC_ENABLED);
	mb_finish(&b);
	assert_int_equal(parse(&b, ids, 4), 0);
	assert_int_equal(info.lapic_phys, 0xfffff000ull);

	/* One byte too short for its address: the table is rejected. */
	mb_init(&b, QEMU_LAPIC);
	mb_lapic(&b, 0, 0, MADT_LAPIC_ENABLED);
	mb_entry(&b, 5, 11);
	mb_finish(&b);
	assert_int_equal(parse(&b, ids, 4), -1);
}

static void test_unknown_and_long_entries(void **state)
{
	(void)state;
	static const u32 want[] = { 3, 4, 400 };
	struct mb b;
	u32 ids[4];
	u8 *e;

	mb_init(&b, QEMU_LAPIC);
	mb_entry(&b, 0x7f, 2);	       /* the shortest possible entry */
	mb_entry(&b, 0xff, 255);       /* the longest */
	mb_entry(&b, 10, 12);	       /* Local x2APIC NMI */
	mb_entry(&b, 0x0b, 80);	       /* GIC CPU interface (Arm) */
	mb_entry(&b, 0x20, 40);	       /* reserved type */
	/* Longer than required: the extra bytes are skipped, the known fields still read. */
	e = mb_entry(&b, 0, 12);
	e[3] = 3;
	put32(e + 4, MADT_LAPIC_ENABLED);
	memset(e + 8, 0xee, 4);
	e = mb_entry(&b, 9, 24);
	put32(e + 4, 4);
	put32(e + 8, MADT_LAPIC_ENABLED);
	memset(e + 16, 0x09, 8); /* looks like more entries, but is inside this one */
	e = mb_entry(&b, 5, 16);
	put64(e + 4, 0xfed00000);
	mb_x2apic(&b, 400, MADT_LAPIC_ENABLED, 0);
	mb_entry(&b, 0x55, 2); /* last entry ends exactly at the end */
	mb_finish(&b);
	assert_int_equal(parse(&b, ids, 4), 0);
	expect_ids(ids, want, ARRAY_SIZE(want));
	expect_counts(0, 0, false);
	assert_int_equal(info.lapic_phys, 0xfed00000);
}

/* ---- rejected tables ---- */

static void expect_reject(const struct mb *b)
{
	u32 ids[8];

	assert_int_equal(parse(b, ids, 8), -1);
}

static void test_bad_signature(void **state)
{
	(void)state;
	static const char *const sigs[] = { "apic", "APIc", "FACP", "SRAT", "\0PIC", "CIPA" };
	struct mb b;

	for (size_t i = 0; i < ARRAY_SIZE(sigs); i++) {
		build_qemu(&b, 2);
		memcpy(b.buf, sigs[i], 4);
		expect_reject(&b);
	}
	build_qemu(&b, 2);
	assert_int_equal(parse(&b, NULL, 0), 0);
}

static void test_bad_header_length(void **state)
{
	(void)state;
	struct mb b;
	u32 full;

	build_qemu(&b, 4);
	full = b.len;
	static const u32 hdr[] = { 0, 1, 36, 43, 44 };

	for (size_t i = 0; i < ARRAY_SIZE(hdr); i++) {
		put32(b.buf + 4, hdr[i]);
		expect_reject(&b);
	}
	put32(b.buf + 4, full - 1);
	expect_reject(&b);
	put32(b.buf + 4, full + 1);
	expect_reject(&b);
	put32(b.buf + 4, 0xffffffff);
	expect_reject(&b);

	/* The caller passes less than the header says (a table cut short by the mapping). */
	put32(b.buf + 4, full);
	for (u32 len = 4; len < full; len++)
		assert_int_equal(parse_n(b.buf, len, NULL, 0), -1);
	assert_int_equal(parse_n(b.buf, full, NULL, 0), 0);
}

/* Lengths 4..43: too short for the fixed part, whatever the header says. (0..3: see
 * test_len_below_4.) */
static void test_short_table(void **state)
{
	(void)state;
	struct mb b;

	mb_init(&b, QEMU_LAPIC);
	for (u32 len = 4; len < MADT_HEADER_LEN; len++) {
		if (len >= 8)
			put32(b.buf + 4, len);
		assert_int_equal(parse_n(b.buf, len, NULL, 0), -1);
	}
	/* 44 bytes: a well-formed header but no processors. */
	assert_int_equal(mb_finish(&b), MADT_HEADER_LEN);
	expect_reject(&b);
}

static void test_bad_entry_length(void **state)
{
	(void)state;
	struct mb b;
	u8 *e;

	/* Length 0 and 1 (a parser taking them would loop forever or misread). */
	for (u8 l = 0; l < 2; l++) {
		mb_init(&b, QEMU_LAPIC);
		mb_lapic(&b, 0, 0, MADT_LAPIC_ENABLED);
		e = mb_entry(&b, 0, 8);
		e[1] = l;
		mb_finish(&b);
		expect_reject(&b);

		mb_init(&b, QEMU_LAPIC);
		mb_lapic(&b, 0, 0, MADT_LAPIC_ENABLED);
		e = mb_entry(&b, 0x7f, 2);
		e[1] = l;
		mb_finish(&b);
		expect_reject(&b);
	}

	/* Shorter than the type needs, for each type the parser reads. */
	static const struct {
		u8 type, need;
	} known[] = { { 0, 8 }, { 9, 16 }, { 5, 12 } };

	for (size_t k = 0; k < ARRAY_SIZE(known); k++)
		for (u8 l = 2; l < known[k].need; l++) {
			mb_init(&b, QEMU_LAPIC);
			mb_lapic(&b, 0, 0, MADT_LAPIC_ENABLED);
			e = mb_entry(&b, known[k].type, l);
			memset(e + 2, 0x01, l - 2); /* enabled flags, were anything read */
			mb_lapic(&b, 1, 1, MADT_LAPIC_ENABLED);
			mb_finish(&b);
			expect_reject(&b);
		}

	/* Running past the end of the table, by one byte and by a lot. */
	static const u8 over[] = { 9, 16, 255 };

	for (size_t i = 0; i < ARRAY_SIZE(over); i++) {
		mb_init(&b, QEMU_LAPIC);
		mb_lapic(&b, 0, 0, MADT_LAPIC_ENABLED);
		e = mb_entry(&b, 0, 8);
		e[3] = 1;
		e[4] = 1;
		e[1] = over[i];
		mb_finish(&b);
		expect_reject(&b);
	}
	mb_init(&b, QEMU_LAPIC);
	mb_lapic(&b, 0, 0, MADT_LAPIC_ENABLED);
	e = mb_entry(&b, 9, 16);
	e[1] = 17;
	mb_finish(&b);
	expect_reject(&b);

	/* A lone trailing byte: not even room for type and length. */
	static const u8 trail[] = { 0, 1, 9, 0x7f };

	for (size_t i = 0; i < ARRAY_SIZE(trail); i++) {
		mb_init(&b, QEMU_LAPIC);
		mb_lapic(&b, 0, 0, MADT_LAPIC_ENABLED);
		b.buf[b.len++] = trail[i];
		mb_finish(&b);
		expect_reject(&b);
	}

	/* The whole table is rejected even though good processors came first. */
	build_qemu(&b, 4);
	e = mb_entry(&b, 0x7f, 3);
	e[1] = 4;
	mb_finish(&b);
	expect_reject(&b);
}

static void test_no_usable_processor(void **state)
{
	(void)state;
	struct mb b;

	mb_init(&b, QEMU_LAPIC);
	mb_ioapic(&b, 0, 0xfec00000, 0);
	mb_iso(&b, 0, 2, 0);
	mb_override(&b, 0xfee00000);
	mb_finish(&b);
	expect_reject(&b);

	mb_init(&b, QEMU_LAPIC);
	mb_lapic(&b, 0, 0, 0);
	mb_lapic(&b, 1, 1, 0xfffffffc);
	mb_x2apic(&b, 256, 0, 2);
	mb_finish(&b);
	expect_reject(&b);
}

/* The reason is one line and fits any buffer it is given. */
static void test_error_buffer(void **state)
{
	(void)state;
	static const size_t lens[] = { 1, 2, 8, 16, 40 };
	struct mb b;
	u32 ids[2];

	build_qemu(&b, 2);
	b.buf[0] = 'X';
	for (size_t i = 0; i < ARRAY_SIZE(lens); i++) {
		char *err = malloc(lens[i]);

		assert_non_null(err);
		memset(err, 'Z', lens[i]);
		assert_int_equal(madt_parse(b.buf, b.len, ids, 2, &info, err, lens[i]), -1);
		assert_true(strnlen(err, lens[i]) < lens[i]);
		free(err);
	}
}

/* Whatever bytes sit where the signature should be, the reason stays on one line. */
static void test_error_one_line(void **state)
{
	(void)state;
	static const char *const sigs[] = { "AP\nC", "\r\nAP", "APIC" };
	struct mb b;

	for (size_t i = 0; i < ARRAY_SIZE(sigs); i++) {
		build_qemu(&b, 2);
		memcpy(b.buf, sigs[i], 4);
		if (i == ARRAY_SIZE(sigs) - 1)
			put32(b.buf + 4, 7); /* "APIC" with a bad length: the length is reported */
		expect_reject(&b);
		print_message("%s\n", last_err);
	}
}

/* ---- fuzzing against a reference parser ---- */

#define REF_MAX 1024

struct ref {
	u32 ids[REF_MAX]; /* every usable, distinct ID, in table order */
	u32 n, disabled, duplicates;
	u64 lapic;
	u32 listed[REF_MAX]; /* every ID in a usable processor entry, duplicates included */
	u32 nlisted;
};

/* The spec, read literally: nothing in common with acpi/madt.c but the constants. */
static int ref_parse(const u8 *t, u32 len, struct ref *r)
{
	memset(r, 0, sizeof(*r));
	if (len < 44 || memcmp(t, "APIC", 4) || get32(t + 4) != len)
		return -1;
	r->lapic = get32(t + 36);
	for (u32 off = 44; off != len;) {
		u32 left = len - off, type, l, id, flags;

		if (left < 2)
			return -1;
		type = t[off];
		l = t[off + 1];
		if (l < 2 || l > left)
			return -1;
		if ((type == 0 && l < 8) || (type == 9 && l < 16) || (type == 5 && l < 12))
			return -1;
		if (type == 0 || type == 9) {
			id = type == 0 ? t[off + 3] : get32(t + off + 4);
			flags = get32(t + off + (type == 0 ? 4 : 8));
			if (!(flags & 3)) {
				r->disabled++;
			} else {
				bool dup = false;

				assert_true(r->nlisted < REF_MAX);
				r->listed[r->nlisted++] = id;
				for (u32 i = 0; i < r->n; i++)
					dup |= r->ids[i] == id;
				if (dup)
					r->duplicates++;
				else
					r->ids[r->n++] = id;
			}
		} else if (type == 5) {
			r->lapic = get64(t + off + 4);
		}
		off += l;
	}
	return r->n ? 0 : -1;
}

static u64 rng = 0x9e3779b97f4a7c15ull;

static u64 next(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

static u32 below(u32 n)
{
	return (u32)(next() % n);
}

/* Parses t[0, len) with a few array sizes and checks the result against the reference. */
static int check_against_ref(const u8 *t, u32 len)
{
	static struct ref ref;
	static u32 ids[REF_MAX];
	int want = ref_parse(t, len, &ref);
	const u32 maxes[] = { REF_MAX, ref.n, ref.n ? ref.n - 1 : 0, 1, 0 };

	for (size_t m = 0; m < ARRAY_SIZE(maxes); m++) {
		u32 max = maxes[m];
		int got = parse_n(t, len, ids, max);

		if (got != want)
			fail_msg("len %u, max %u: madt_parse %d, reference %d (%s)", len, max, got, want,
				 got ? last_err : "-");
		if (got)
			continue;
		/* Every ID reported is one a usable processor entry lists, and in table order. */
		for (u32 i = 0; i < MIN(info.ncpus, max); i++) {
			bool listed = false;

			for (u32 j = 0; j < ref.nlisted; j++)
				listed |= ref.listed[j] == ids[i];
			if (!listed)
				fail_msg("len %u: APIC ID %u is in no processor entry", len, ids[i]);
			assert_int_equal(ids[i], ref.ids[i]);
		}
		assert_int_equal(info.lapic_phys, ref.lapic);
		assert_int_equal(info.disabled, ref.disabled);
		assert_int_equal(info.truncated, ref.n > max);
		/* Duplicates past a full array: see test_truncation_duplicates. */
		if (max >= ref.n) {
			assert_int_equal(info.ncpus, ref.n);
			assert_int_equal(info.duplicates, ref.duplicates);
		}
	}
	return want;
}

/* A table of plausible entries, some of them broken. */
static void build_random(struct mb *b)
{
	u32 n = below(24);

	mb_init(b, (u32)next());
	for (u32 i = 0; i < n; i++) {
		u32 pick = below(16);
		u32 flags = below(4) ? (u32)below(4) : (u32)next();
		u32 id = below(3) ? below(8) : (u32)next();

		if (pick < 6)
			mb_lapic(b, (u8)i, (u8)id, flags);
		else if (pick < 9)
			mb_x2apic(b, id, flags, i);
		else if (pick == 9)
			mb_override(b, next());
		else if (pick == 10)
			mb_ioapic(b, (u8)i, 0xfec00000, 0);
		else if (pick == 11)
			mb_iso(b, (u8)i, i, 0);
		else if (pick == 12)
			mb_lapic_nmi(b, 0xff, 0, 1);
		else {
			u8 l = (u8)(2 + below(30));
			u8 *e = mb_entry(b, (u8)(pick == 13 ? below(3) * 4 + 1 : next()), l);

			for (u8 j = 2; j < l; j++)
				e[j] = (u8)next();
		}
	}
	if (b->len > MADT_HEADER_LEN && below(8) == 0) /* one entry byte replaced */
		b->buf[MADT_HEADER_LEN + below(b->len - MADT_HEADER_LEN)] = (u8)next();
	mb_finish(b);
}

static void test_fuzz_structured(void **state)
{
	(void)state;
	struct mb b;
	unsigned accepted = 0;

	for (int iter = 0; iter < 20000; iter++) {
		build_random(&b);
		/* A few flipped bits anywhere past the signature and length. */
		for (u32 f = below(3); f > 0; f--)
			b.buf[8 + below(b.len - 8)] ^= (u8)(1u << below(8));
		accepted += check_against_ref(b.buf, b.len) == 0;
	}
	print_message("structured fuzz: %u of 20000 tables accepted\n", accepted);
	assert_true(accepted > 1000);
}

/* Every cut of valid tables, with the header length left alone (always rejected) and fixed up
 * to the cut (accepted exactly when the cut falls between entries and keeps a processor). */
static void test_fuzz_truncations(void **state)
{
	(void)state;
	struct mb b, c;

	for (int iter = 0; iter < 300; iter++) {
		if (iter == 0) {
			build_qemu(&b, 4);
		} else {
			do
				build_random(&b);
			while (check_against_ref(b.buf, b.len));
		}
		/* Below 4 bytes: see test_len_below_4. */
		for (u32 len = 4; len < b.len; len++) {
			assert_int_equal(parse_n(b.buf, len, NULL, 0), -1);
			c = b;
			c.len = len;
			if (len >= 8)
				mb_finish(&c);
			check_against_ref(c.buf, c.len);
		}
	}
}

static void test_fuzz_random_bytes(void **state)
{
	(void)state;
	static u8 t[600];
	unsigned accepted = 0;

	for (int iter = 0; iter < 20000; iter++) {
		u32 len = 4 + below(sizeof(t) - 4); /* below 4 bytes: see test_len_below_4 */

		for (u32 i = 0; i < len; i++)
			t[i] = (u8)next();
		/* Mostly the right signature and length, or nothing past the header is read. */
		if (below(8)) {
			memcpy(t, "APIC", 4);
			if (len >= 8)
				put32(t + 4, len);
		} else {
			/* Keep the reason printable here: test_error_one_line covers the rest. */
			for (int i = 0; i < 4; i++)
				t[i] = (u8)(0x20 + below(0x5f));
		}
		/* Bias the entries towards the types that are read. */
		for (u32 off = MADT_HEADER_LEN; off + 1 < len && below(4);
		     off += t[off + 1] ? t[off + 1] : 1) {
			static const u8 types[] = { 0, 9, 5, 1, 2 };
			static const u8 lens[] = { 8, 16, 12, 12, 10 };
			u32 k = below(ARRAY_SIZE(types));

			t[off] = types[k];
			t[off + 1] = below(4) ? lens[k] : (u8)next();
		}
		accepted += check_against_ref(t, len) == 0;
	}
	print_message("random-byte fuzz: %u of 20000 tables accepted\n", accepted);
	assert_true(accepted > 20);
}

/* Fewer bytes than the signature: nothing past len may be read, even to report the error.
 * (Last, because an overread aborts the whole run under ASan.) */
static void test_len_below_4(void **state)
{
	(void)state;
	static const u8 sig[4] = { 'A', 'P', 'I', 'C' };

	for (u32 len = 0; len < 4; len++)
		assert_int_equal(parse_n(sig, len, NULL, 0), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_qemu_4cpus),
		cmocka_unit_test(test_qemu_1cpu),
		cmocka_unit_test(test_sparse_ids),
		cmocka_unit_test(test_x2apic),
		cmocka_unit_test(test_mixed),
		cmocka_unit_test(test_disabled_and_online_capable),
		cmocka_unit_test(test_duplicates),
		cmocka_unit_test(test_truncation),
		cmocka_unit_test(test_truncation_duplicates),
		cmocka_unit_test(test_override),
		cmocka_unit_test(test_unknown_and_long_entries),
		cmocka_unit_test(test_bad_signature),
		cmocka_unit_test(test_bad_header_length),
		cmocka_unit_test(test_short_table),
		cmocka_unit_test(test_bad_entry_length),
		cmocka_unit_test(test_no_usable_processor),
		cmocka_unit_test(test_error_buffer),
		cmocka_unit_test(test_error_one_line),
		cmocka_unit_test(test_fuzz_structured),
		cmocka_unit_test(test_fuzz_truncations),
		cmocka_unit_test(test_fuzz_random_bytes),
		cmocka_unit_test(test_len_below_4),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
