/* libFuzzer target: the FADT helpers of acpi/tables.c (the I/O port of a PM register, the PM
 * timer), and on the same bytes acpi_rsdp_valid() and acpi_checksum(), each against a reference
 * written here from ACPI 6.5 (5.2.5.3 RSDP, 5.2.9 FADT, 5.2.3.2 GAS).
 *
 * Input: the table. Its length field is honoured when it is between the header's 36 bytes and
 * the input's size (as map_table() in acpi.c guarantees), else replaced by the input's size; the
 * table is copied to a buffer of exactly that length, so that a read past it is a report.
 * Properties: the helpers never read past the length and agree with the reference. */
#include "tests/fuzz/fuzz.h"

#include "acpi/acpi.h"

static u64 rd(const u8 *p, int bytes)
{
	u64 v = 0;

	memcpy(&v, p, bytes);
	return v;
}

static u8 sum(const u8 *p, size_t len)
{
	unsigned int s = 0;

	for (size_t i = 0; i < len; i++)
		s += p[i];
	return (u8)s;
}

/* ACPI 6.5 5.2.9: the X_ GAS wins when the table holds it and its address is set. */
static u16 ref_port(const u8 *t, u32 len, size_t x, size_t legacy)
{
	if (len >= x + 12 && rd(t + x + 4, 8)) {
		u64 a = rd(t + x + 4, 8);

		return t[x] == ACPI_GAS_IO && a <= 0xffff ? (u16)a : 0;
	}
	if (len >= legacy + 4 && rd(t + legacy, 4) <= 0xffff)
		return (u16)rd(t + legacy, 4);
	return 0;
}

static void check_ports(const struct acpi_fadt *f, const u8 *t, u32 len)
{
	static const size_t regs[][2] = {
		{ 148, 56 }, { 160, 60 }, { 172, 64 }, { 184, 68 }, { 196, 72 }, { 208, 76 },
	}; /* (X_ field, legacy field): PM1a/b EVT, PM1a/b CNT, PM2 CNT, PM TMR */
	u32 flags = len >= 116 ? (u32)rd(t + 112, 4) : 0;
	bool ext = !flags;

	FUZZ_CHECK(ACPI_FADT_PORT(f, pm1a_evt_blk) == ref_port(t, len, 148, 56));
	FUZZ_CHECK(ACPI_FADT_PORT(f, pm1a_cnt_blk) == ref_port(t, len, 172, 64));
	FUZZ_CHECK(ACPI_FADT_PORT(f, pm1b_cnt_blk) == ref_port(t, len, 184, 68));
	FUZZ_CHECK(ACPI_FADT_PORT(f, pm_tmr_blk) == ref_port(t, len, 208, 76));
	for (size_t i = 0; i < ARRAY_SIZE(regs); i++)
		FUZZ_CHECK(acpi_fadt_io_port(f, regs[i][0], regs[i][1]) ==
			   ref_port(t, len, regs[i][0], regs[i][1]));
	FUZZ_CHECK(acpi_pm_timer_port(f, &ext) ==
		   (flags & FADT_HW_REDUCED_ACPI ? 0 : ref_port(t, len, 208, 76)));
	FUZZ_CHECK(ext == !!(flags & FADT_TMR_VAL_EXT));
}

static void check_rsdp(const u8 *t, size_t len)
{
	bool v1 = len >= 20 && !memcmp(t, "RSD PTR ", 8) && !sum(t, 20);
	bool ok = v1 && (t[15] < 2 || (len >= 36 && rd(t + 20, 4) >= 36 && !sum(t, 36)));

	FUZZ_CHECK(acpi_rsdp_valid((const struct acpi_rsdp *)t, len) == ok);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	u32 len;
	u8 *t;

	if (size < sizeof(struct acpi_header) || size > UINT32_MAX)
		return 0;
	len = (u32)rd(data + 4, 4);
	if (len < sizeof(struct acpi_header) || len > size)
		len = (u32)size;
	t = malloc(len);
	memcpy(t, data, len);
	memcpy(t + 4, &len, sizeof(len));
	check_ports((const struct acpi_fadt *)t, t, len);
	FUZZ_CHECK(acpi_checksum(t, len) == sum(t, len));
	memcpy(t, data, len); /* the RSDP check sees the input's own bytes */
	check_rsdp(t, len);
	free(t);
	return 0;
}
