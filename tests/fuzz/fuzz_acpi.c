/* libFuzzer target: the ACPI tables as the kernel walks them (acpi/acpi.c on top of
 * acpi/tables.c and acpi/madt.c): the RSDP from the loader's copy or the EBDA, the XSDT or RSDT,
 * every table it lists, the FADT's PM timer and PM1 ports, the DSDT's \_S5 package, and the MADT
 * as smp.c parses it, with the fw_fault= test hook (acpi/fwfault.c) altering them or not.
 * acpi.c is platform code (port I/O, the console, the physical map), so this file includes it
 * whole, and fwfault.c, to reset their statics for each input, with those three supplied here:
 * the input is all of physical memory, port reads say ACPI mode is on (or turns on when asked),
 * port writes are recorded, and the spin after a power-off request ends the run.
 *
 * Input: flags (bit 0: the loader passes an RSDP copy; bit 1: UEFI boot, no EBDA scan; bit 2:
 * SCI_EN starts clear; bits 5:3: the fw_fault= hook, 0 none), the copy's length, the copy, then
 * physical memory from address 0.
 * Every table is checksummed, which random mutations break 255 times in 256: the custom mutator
 * below fixes the checksums of the tables it can reach after most mutations, so that the walk
 * gets past them, and leaves them broken now and then so that the checks are fuzzed too.
 * Properties: no read outside the input; every table handed out is inside it (or the hook's
 * copy), checksummed and of the signature asked for; the power-off writes go to the FADT's PM1a
 * port with SLP_EN and the \_S5 sleep type, and happen only with a \_S5 package and a PM1a
 * port. */
#include "tests/fuzz/fuzz.h"

#include <setjmp.h>
#include <stdarg.h>

#include "kernel/types.h"
#include "kernel/printf.h"

/* kernel/x86.h's port instructions would fault in a process: these take their place. */
#define KERNEL_X86_H

static bool sci_en, smi_written;
static u16 writes[2][2]; /* (port, value) of the first two 16-bit port writes */
static int nwrites;
static jmp_buf powered_off;

static u16 inw(u16 port)
{
	(void)port;
	return sci_en ? 1 : 0; /* PM1_CNT_SCI_EN */
}

static void outb(u16 port, u8 v)
{
	(void)port, (void)v;
	smi_written = true;
	sci_en = true; /* the firmware answers the SMI command by entering ACPI mode */
}

static void outw(u16 port, u16 v)
{
	if (nwrites < 2)
		writes[nwrites][0] = port, writes[nwrites][1] = v;
	nwrites++;
}

/* Reached only by the wait after the sleep request: the machine would be off by now. */
static void cpu_relax(void)
{
	longjmp(powered_off, 1);
}

#include "acpi/acpi.c"
/* fw_fault_table() has a local `fadt`, acpi.c a static one: fine apart, a shadow in one file */
#pragma clang diagnostic push
#pragma clang diagnostic ignored "-Wshadow"
#include "acpi/fwfault.c"
#pragma clang diagnostic pop
#include "acpi/madt.h"

static u8 *mem; /* an aligned copy, as physical memory is */
static size_t mem_size;

const void *phys_map_range(paddr_t pa, u64 len)
{
	if (pa > mem_size || len > mem_size - pa)
		return NULL;
	return mem + pa;
}

void kprintf(const char *fmt, ...)
{
	char line[256];
	va_list ap;

	va_start(ap, fmt);
	kvsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
}

void console_flush(void)
{
}

static bool in_mem(const void *p, size_t len)
{
	const u8 *b = p;

	return b >= mem && b <= mem + mem_size && len <= (size_t)(mem + mem_size - b);
}

static void check_table(const struct acpi_header *h, const char *sig)
{
	if ((const void *)h == copy) /* fwfault.c's altered copy */
		FUZZ_CHECK(copied && h->length <= sizeof(copy));
	else
		FUZZ_CHECK(in_mem(h, sizeof(*h)) && in_mem(h, h->length));
	FUZZ_CHECK(h->length >= sizeof(*h) && !acpi_checksum(h, h->length));
	FUZZ_CHECK(!memcmp(h->signature, sig, 4));
}

static void check_tables(void)
{
	/* few lookups: each walks the whole root, checksumming every table */
	static const char *const sigs[] = { "FACP", "APIC", "SSDT" };
	u32 ids[8];
	struct madt_info mi;
	char err[96];
	bool ext;

	for (size_t s = 0; s < ARRAY_SIZE(sigs); s++)
		for (u32 i = 0; i < 2; i++) {
			const struct acpi_header *h = acpi_find_table(sigs[s], i);

			if (!h)
				break;
			check_table(h, sigs[s]);
			if (s == 1 && madt_parse(h, h->length, ids, ARRAY_SIZE(ids), &mi, err,
						 sizeof(err)))
				fuzz_check_one_line(err, sizeof(err));
		}
	FUZZ_CHECK((const void *)acpi_fadt() == acpi_find_table("FACP", 0));
	if (acpi_fadt())
		(void)acpi_pm_timer_port(acpi_fadt(), &ext);
}

/* What acpi_poweroff() must have written, worked out from the tables independently. */
static void check_poweroff(bool off, bool sci_was_on)
{
	const struct acpi_fadt *f = acpi_fadt();
	const struct acpi_header *dsdt = NULL;
	u64 dsdt_phys;
	u8 a, b;

	if (!off) {
		FUZZ_CHECK(nwrites == 0);
		return;
	}
	FUZZ_CHECK(f && f->h.length >= 68 && nwrites >= 1 && nwrites <= 2);
	/* ACPI 6.5 4.8.2.1: out of ACPI mode, ACPI_ENABLE goes to SMI_CMD before anything else */
	FUZZ_CHECK(smi_written == (!sci_was_on && f->smi_cmd && f->acpi_enable));
	dsdt_phys = f->h.length >= 148 && f->x_dsdt ? f->x_dsdt : f->dsdt;
	dsdt = map_table(dsdt_phys);
	FUZZ_CHECK(dsdt && !acpi_parse_s5((const u8 *)(dsdt + 1), dsdt->length - sizeof(*dsdt), &a,
					  &b));
	FUZZ_CHECK(writes[0][0] == ACPI_FADT_PORT(f, pm1a_cnt_blk) && writes[0][0]);
	FUZZ_CHECK(writes[0][1] == (u16)((a << PM1_CNT_SLP_TYP_SHIFT) | PM1_CNT_SLP_EN));
	if (nwrites == 2)
		FUZZ_CHECK(writes[1][0] == ACPI_FADT_PORT(f, pm1b_cnt_blk));
}

/* ---- the mutator's checksum repair: an independent walk of the same pointers ---- */

size_t LLVMFuzzerMutate(uint8_t *data, size_t size, size_t max_size);
size_t LLVMFuzzerCustomMutator(uint8_t *data, size_t size, size_t max_size, unsigned int seed);

static void fix_sum(u8 *p, size_t len, size_t at)
{
	p[at] = 0;
	p[at] = (u8)-acpi_checksum(p, len);
}

/* The table at phys in m[n] with its checksum fixed, or NULL when it does not fit. */
static u8 *fix_table(u8 *m, size_t n, u64 phys)
{
	u32 len;

	if (phys > n || n - phys < sizeof(struct acpi_header))
		return NULL;
	memcpy(&len, m + phys + 4, sizeof(len));
	if (len < sizeof(struct acpi_header) || len > n - phys)
		return NULL;
	fix_sum(m + phys, len, 9);
	return m + phys;
}

static void fix_root(u8 *m, size_t n, u64 phys, u32 entry)
{
	u8 *h = fix_table(m, n, phys);
	u32 len;

	if (!h)
		return;
	memcpy(&len, h + 4, sizeof(len));
	for (u32 off = sizeof(struct acpi_header); off + entry <= len; off += entry) {
		u64 at = 0;
		u8 *t;

		memcpy(&at, h + off, entry);
		t = fix_table(m, n, at);
		if (t && !memcmp(t, "FACP", 4)) { /* its DSDT first: fixing the FADT comes last */
			struct acpi_fadt fa = { 0 };

			memcpy(&fa, t, MIN(sizeof(fa), (size_t)(m + n - t)));
			fix_table(m, n, fa.dsdt);
			if (fa.h.length >= 148)
				fix_table(m, n, fa.x_dsdt);
			fix_table(m, n, at);
		}
	}
	fix_table(m, n, phys);
}

static void fix_rsdp(u8 *r, size_t avail, u8 *m, size_t n)
{
	struct acpi_rsdp rs = { 0 };

	if (avail < ACPI_RSDP_V1_LEN || memcmp(r, "RSD PTR ", 8))
		return;
	memcpy(&rs, r, MIN(avail, sizeof(rs)));
	if (rs.revision >= 2)
		fix_root(m, n, rs.xsdt, 8);
	fix_root(m, n, rs.rsdt, 4);
	fix_sum(r, ACPI_RSDP_V1_LEN, 8);
	if (rs.revision >= 2 && avail >= sizeof(rs))
		fix_sum(r, sizeof(rs), 32);
}

static void fix_checksums(u8 *data, size_t size)
{
	size_t copy_len = size >= 2 ? MIN(data[1], size - 2) : 0;
	u8 *m = data + 2 + copy_len;
	size_t n = size >= 2 ? size - 2 - copy_len : 0;
	u16 seg;

	if (size < 2)
		return;
	if (data[0] & 1)
		fix_rsdp(data + 2, copy_len, m, n);
	if (n < 0x410)
		return;
	memcpy(&seg, m + 0x40e, sizeof(seg));
	for (size_t off = (size_t)seg << 4; off + sizeof(struct acpi_rsdp) <= n &&
	     off < ((size_t)seg << 4) + 1024; off += 16)
		if (!memcmp(m + off, "RSD PTR ", 8))
			fix_rsdp(m + off, n - off, m, n);
}

size_t LLVMFuzzerCustomMutator(uint8_t *data, size_t size, size_t max_size, unsigned int seed)
{
	size = LLVMFuzzerMutate(data, size, max_size);
	if (seed % 8)
		fix_checksums(data, size);
	return size;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fz f = fz_init(data, size);
	u8 flags = fz_u8(&f), copy_len = fz_u8(&f);
	struct bootinfo bi = { .cmdline = "", .args = "", .loader = "" };
	u8 *loader_rsdp;
	volatile bool off = false;

	copy_len = MIN(copy_len, f.left);
	loader_rsdp = malloc(copy_len ? copy_len : 1);
	memcpy(loader_rsdp, f.p, copy_len);
	mem_size = f.left - copy_len;
	mem = malloc(mem_size ? mem_size : 1);
	memcpy(mem, f.p + copy_len, mem_size);
	if (flags & 1)
		bi.rsdp = loader_rsdp, bi.rsdp_len = copy_len;
	bi.efi = flags & 2;
	/* acpi.c and fwfault.c keep what they found in statics: every input is a fresh boot */
	root = NULL, root_entry_size = 0, fadt = NULL, have_rsdp = false;
	fault = (flags >> 3) % FW_FAULT_COUNT, copied = false;
	sci_en = !(flags & 4), smi_written = false, nwrites = 0;
	acpi_init(&bi);
	if (acpi_rsdp())
		FUZZ_CHECK(acpi_rsdp_valid(acpi_rsdp(), acpi_rsdp()->revision >= 2 ?
							    sizeof(struct acpi_rsdp) : ACPI_RSDP_V1_LEN));
	check_tables();
	if (setjmp(powered_off) == 0)
		acpi_poweroff();
	else
		off = true;
	check_poweroff(off, !(flags & 4));
	free(loader_rsdp);
	free(mem);
	return 0;
}
