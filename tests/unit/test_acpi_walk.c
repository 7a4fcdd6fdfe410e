/* Unit tests for acpi/acpi.c's walk and power-off on the host: the file is included whole (with
 * acpi/fwfault.c, which it calls), and what it needs from the platform is supplied here: a
 * simulated physical memory, recorded port writes, and a pause that ends the power-off wait.
 * The memory is exactly as long as the tables, so AddressSanitizer sees any read past them. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernel/types.h"

/* kernel/x86.h's port instructions would fault in a process: these take their place. */
#define KERNEL_X86_H

static u16 port_writes[4][2];
static int nport_writes;
static jmp_buf powered_off;

static u16 inw(u16 port)
{
	(void)port;
	return 1; /* PM1_CNT_SCI_EN: already in ACPI mode */
}

static void outb(u16 port, u8 v)
{
	(void)port, (void)v;
}

static void outw(u16 port, u16 v)
{
	if (nport_writes < 4)
		port_writes[nport_writes][0] = port, port_writes[nport_writes][1] = v;
	nport_writes++;
}

static void cpu_relax(void)
{
	longjmp(powered_off, 1); /* only the wait after the sleep request pauses */
}

#include "acpi/acpi.c"
/* fw_fault_table() has a local `fadt`, acpi.c a static one: fine apart, a shadow in one file */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wshadow"
#include "acpi/fwfault.c"
#pragma GCC diagnostic pop

static u8 *mem;
static size_t mem_size;

const void *phys_map_range(paddr_t pa, u64 len)
{
	return pa <= mem_size && len <= mem_size - pa ? mem + pa : NULL;
}

void kprintf(const char *fmt, ...)
{
	(void)fmt;
}

void console_flush(void)
{
}

/* ---- tables, as QEMU's SeaBIOS lays them out ---- */

static void put_table(u8 *at, const char sig[4], u32 len)
{
	struct acpi_header *h = (void *)at;

	memcpy(h->signature, sig, 4);
	h->length = len;
	h->revision = 1;
	h->checksum = 0;
	h->checksum = (u8)-acpi_checksum(h, len);
}

/* An RSDT at 0 listing one table at 0x40; the DSDT, when there is one, at 0x200. */
static void build(u32 fadt_len, bool dsdt)
{
	static const u8 s5[] = { 0x08, '_', 'S', '5', '_', 0x12, 0x07, 0x04, 0x0a, 0x05, 0, 0, 0 };
	struct acpi_fadt *f;

	mem_size = dsdt ? 0x200 + sizeof(struct acpi_header) + sizeof(s5) : 0x40 + fadt_len;
	mem = calloc(1, mem_size);
	assert_non_null(mem);
	*(u32 *)(mem + sizeof(struct acpi_header)) = 0x40;
	put_table(mem, "RSDT", sizeof(struct acpi_header) + 4);
	f = (void *)(mem + 0x40);
	if (fadt_len >= 80) { /* DSDT, PM1a_CNT_BLK, PM_TMR_BLK */
		f->dsdt = 0x200;
		f->pm1a_cnt_blk = 0x604;
		f->pm_tmr_blk = 0x608;
	}
	if (dsdt) {
		memcpy(mem + 0x200 + sizeof(struct acpi_header), s5, sizeof(s5));
		put_table(mem + 0x200, "DSDT", sizeof(struct acpi_header) + sizeof(s5));
	}
	put_table(mem + 0x40, "FACP", fadt_len);
}

/* acpi_init() from an RSDP (revision 0) pointing at the RSDT, as a loader passes it. */
static void boot(void)
{
	static struct acpi_rsdp r;
	struct bootinfo bi = { .cmdline = "", .args = "", .loader = "" };

	memset(&r, 0, sizeof(r));
	memcpy(r.signature, "RSD PTR ", 8);
	r.checksum = (u8)-acpi_checksum(&r, ACPI_RSDP_V1_LEN);
	bi.rsdp = &r;
	bi.rsdp_len = ACPI_RSDP_V1_LEN;
	root = NULL, fadt = NULL, have_rsdp = false, copied = false;
	nport_writes = 0;
	acpi_init(&bi);
}

static bool poweroff(void)
{
	if (setjmp(powered_off))
		return true;
	acpi_poweroff();
	return false;
}

static void test_poweroff_writes_s5(void **state)
{
	(void)state;
	build(116, true);
	boot();
	assert_non_null(acpi_fadt());
	assert_true(poweroff());
	assert_int_equal(nport_writes, 1);
	assert_int_equal(port_writes[0][0], 0x604);
	assert_int_equal(port_writes[0][1], 5 << 10 | 1 << 13); /* SLP_TYP 5, SLP_EN */
	free(mem);
}

/* Found by fuzzing (tests/fuzz/fuzz_acpi.c): a FADT shorter than its DSDT field (here just a
 * header) at the end of memory made acpi_poweroff() read DSDT, then SMI_CMD, past the table. */
static void test_short_fadt_no_overread(void **state)
{
	(void)state;
	for (u32 len = sizeof(struct acpi_header); len < 68; len += 4) {
		build(len, false);
		boot();
		assert_non_null(acpi_fadt());
		assert_false(poweroff());
		assert_int_equal(nport_writes, 0);
		free(mem);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_poweroff_writes_s5),
		cmocka_unit_test(test_short_fadt_no_overread),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
