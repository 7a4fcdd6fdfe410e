/* Pure ACPI table logic: checksums, RSDP validation, and the \_S5 sleep-type package in the DSDT
 * (ACPI 6.5 7.4.2; AML encoding 20.2). No hardware access, so it is unit-tested on the host. */
#include "acpi/acpi.h"
#include "kernel/string.h"

#define AML_NAME_OP 0x08
#define AML_PACKAGE_OP 0x12
#define AML_ZERO_OP 0x00
#define AML_ONE_OP 0x01
#define AML_BYTE_PREFIX 0x0a
#define AML_ROOT_CHAR '\\'

u8 acpi_checksum(const void *p, size_t len)
{
	const u8 *b = p;
	u8 sum = 0;

	while (len--)
		sum += *b++;
	return sum;
}

bool acpi_rsdp_valid(const struct acpi_rsdp *r, size_t avail)
{
	if (avail < ACPI_RSDP_V1_LEN || memcmp(r->signature, "RSD PTR ", 8) ||
	    acpi_checksum(r, ACPI_RSDP_V1_LEN))
		return false;
	if (r->revision < 2)
		return true;
	return avail >= sizeof(*r) && r->length >= sizeof(*r) && !acpi_checksum(r, sizeof(*r));
}

/* One package element: a small integer as AML encodes it. */
static int aml_small_int(const u8 *p, const u8 *end, u8 *val)
{
	if (p >= end)
		return -1;
	switch (*p) {
	case AML_ZERO_OP:
		*val = 0;
		return 1;
	case AML_ONE_OP:
		*val = 1;
		return 1;
	case AML_BYTE_PREFIX:
		if (p + 1 >= end)
			return -1;
		*val = p[1];
		return 2;
	default:
		return -1;
	}
}

int acpi_parse_s5(const u8 *aml, size_t len, u8 *slp_typ_a, u8 *slp_typ_b)
{
	const u8 *end = aml + len;

	for (const u8 *p = aml; p + 4 <= end; p++) {
		const u8 *q = p + 4;
		int n;
		u8 num;

		if (memcmp(p, "_S5_", 4))
			continue;
		/* Must be NameOp _S5_ (optionally rooted), followed by a package. */
		if (!(p > aml && (p[-1] == AML_NAME_OP ||
				  (p[-1] == AML_ROOT_CHAR && p - 1 > aml && p[-2] == AML_NAME_OP))))
			continue;
		if (q >= end || *q++ != AML_PACKAGE_OP)
			continue;
		/* PkgLength: lead byte bits 7:6 count the bytes that follow; then NumElements. */
		if (q >= end || (size_t)(end - q) < 2u + (*q >> 6))
			return -1;
		num = q[1 + (*q >> 6)];
		q += 2 + (*q >> 6);
		if (num < 1 || (n = aml_small_int(q, end, slp_typ_a)) < 0)
			return -1;
		*slp_typ_b = 0; /* a one-element package: SLP_TYPb unused */
		if (num >= 2 && aml_small_int(q + n, end, slp_typ_b) < 0)
			return -1;
		return 0;
	}
	return -1;
}

/* Whether the table's length covers the field at [offset, offset + size). */
static bool fadt_holds(const struct acpi_fadt *f, size_t offset, size_t size)
{
	return f->h.length >= offset + size;
}

u16 acpi_fadt_io_port(const struct acpi_fadt *f, size_t x_offset, size_t legacy_offset)
{
	struct acpi_gas x;
	u32 legacy;

	if (fadt_holds(f, x_offset, sizeof(x))) {
		memcpy(&x, (const u8 *)f + x_offset, sizeof(x));
		if (x.address)
			return x.space_id == ACPI_GAS_IO && x.address <= 0xffff ? (u16)x.address : 0;
	}
	if (!fadt_holds(f, legacy_offset, sizeof(legacy)))
		return 0;
	memcpy(&legacy, (const u8 *)f + legacy_offset, sizeof(legacy));
	return legacy <= 0xffff ? (u16)legacy : 0;
}

u16 acpi_pm_timer_port(const struct acpi_fadt *f, bool *ext)
{
	bool flags = fadt_holds(f, __builtin_offsetof(struct acpi_fadt, flags), sizeof(f->flags));

	*ext = flags && (f->flags & FADT_TMR_VAL_EXT);
	if (flags && (f->flags & FADT_HW_REDUCED_ACPI))
		return 0;
	return ACPI_FADT_PORT(f, pm_tmr_blk);
}
