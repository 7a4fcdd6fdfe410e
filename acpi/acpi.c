/* ACPI on the running platform: the RSDP from the loader (Multiboot2 tags) or, under BIOS, from
 * the EBDA and the BIOS ROM area (ACPI 6.5 5.2.5.1); every table checked before use; power-off
 * through the FADT's PM1 control registers with the \_S5 sleep type (ACPI 6.5 4.8.3.2, 7.4.2). */
#include "acpi/acpi.h"
#include "acpi/fwfault.h"
#include "kernel/console.h"
#include "kernel/string.h"
#include "kernel/x86.h"
#include "mm/mm.h"

#define EBDA_SEGMENT_PTR 0x40e
#define EBDA_SCAN_LEN 1024
#define BIOS_ROM_START 0xe0000
#define BIOS_ROM_END 0x100000
#define RSDP_ALIGN 16
#define MAX_TABLE_LEN (16u << 20)
#define ACPI_ENABLE_SPINS 100000000ull

static struct acpi_rsdp rsdp_copy; /* the loader's copy may live in memory we reuse later */
static bool have_rsdp;
static const struct acpi_header *root; /* XSDT or RSDT */
static u32 root_entry_size;
static const struct acpi_fadt *fadt;

static void report_bad_entries(void);

static const struct acpi_header *map_table(u64 phys)
{
	const struct acpi_header *h = phys_map_range(phys, sizeof(*h));

	if (!h || h->length < sizeof(*h) || h->length > MAX_TABLE_LEN)
		return NULL;
	h = phys_map_range(phys, h->length);
	if (!h || acpi_checksum(h, h->length))
		return NULL;
	return h;
}

static const struct acpi_rsdp *scan_rsdp(u64 start, u64 len)
{
	const u8 *p = phys_map_range(start, len);

	for (u64 off = 0; p && off + sizeof(struct acpi_rsdp) <= len; off += RSDP_ALIGN)
		if (acpi_rsdp_valid((const void *)(p + off), len - off))
			return (const void *)(p + off);
	return NULL;
}

static const struct acpi_rsdp *find_rsdp(const struct bootinfo *bi, const char **source)
{
	const struct acpi_rsdp *r = NULL;
	const u16 *ebda_seg = phys_map_range(EBDA_SEGMENT_PTR, 2);

	if (bi->rsdp && acpi_rsdp_valid(bi->rsdp, bi->rsdp_len)) {
		*source = "boot loader";
		return bi->rsdp;
	}
	if (bi->efi)
		return NULL; /* no legacy BIOS areas to scan under UEFI */
	if (ebda_seg && *ebda_seg)
		r = scan_rsdp((u64)*ebda_seg << 4, EBDA_SCAN_LEN);
	*source = r ? "EBDA" : "BIOS ROM";
	return r ? r : scan_rsdp(BIOS_ROM_START, BIOS_ROM_END - BIOS_ROM_START);
}

void acpi_init(const struct bootinfo *bi)
{
	const char *source = "";
	const struct acpi_rsdp *r = find_rsdp(bi, &source);

	if (!r) {
		kprintf("acpi: no valid RSDP found; no ACPI power-off\n");
		return;
	}
	memcpy(&rsdp_copy, r, r->revision >= 2 ? sizeof(rsdp_copy) : ACPI_RSDP_V1_LEN);
	have_rsdp = true;
	if (r->revision >= 2 && r->xsdt && (root = map_table(r->xsdt)))
		root_entry_size = 8;
	else if ((root = map_table(r->rsdt)))
		root_entry_size = 4;
	if (!root) {
		kprintf("acpi: RSDP (from %s) points at no valid RSDT/XSDT\n", source);
		return;
	}
	report_bad_entries();
	fadt = (const struct acpi_fadt *)acpi_find_table("FACP", 0);
	kprintf("acpi: revision %u RSDP from %s, %.4s with %u tables, FADT %s\n", r->revision, source,
		root->signature, (root->length - (u32)sizeof(*root)) / root_entry_size,
		fadt ? "found" : "missing");
}

const struct acpi_rsdp *acpi_rsdp(void)
{
	return have_rsdp ? &rsdp_copy : NULL;
}

const struct acpi_fadt *acpi_fadt(void)
{
	return fadt;
}

/* The root's entries, plus the one the fw_fault=xsdt-absent test hook adds. */
static u32 root_entries(void)
{
	return (root->length - sizeof(*root)) / root_entry_size + (fw_fault_absent_entry() != 0);
}

/* Entry i's table, checked (NULL when it is not a valid table), as the fw_fault hook shows it. */
static const struct acpi_header *entry_table(u32 i, u64 *phys)
{
	const struct acpi_header *h;

	*phys = 0;
	if (i == root_entries() - 1 && fw_fault_absent_entry())
		*phys = fw_fault_absent_entry();
	else
		memcpy(phys, (const u8 *)(root + 1) + i * root_entry_size, root_entry_size);
	h = map_table(*phys);
	h = h ? fw_fault_table(h->signature, h) : NULL;
	return h && !acpi_checksum(h, h->length) ? h : NULL;
}

const struct acpi_header *acpi_find_table(const char sig[4], u32 index)
{
	if (!root)
		return NULL;
	for (u32 i = 0, n = root_entries(); i < n; i++) {
		u64 phys;
		const struct acpi_header *h = entry_table(i, &phys);

		if (h && !memcmp(h->signature, sig, 4) && index-- == 0)
			return h;
	}
	return NULL;
}

/* Once, at boot: one line for every entry of the root that is not a valid table (absent memory,
 * a bad length or checksum). Lookups skip them. */
static void report_bad_entries(void)
{
	for (u32 i = 0, n = root_entries(); i < n; i++) {
		u64 phys;

		if (!entry_table(i, &phys))
			kprintf("acpi: %.4s entry %u (0x%lx) is not a valid table (absent, or a bad length or "
				"checksum): ignored\n", root->signature, i, phys);
	}
}


static void enable_acpi_mode(u16 pm1a)
{
	if ((inw(pm1a) & PM1_CNT_SCI_EN) || !fadt->smi_cmd || !fadt->acpi_enable)
		return;
	outb(fadt->smi_cmd, fadt->acpi_enable);
	for (u64 i = 0; i < ACPI_ENABLE_SPINS && !(inw(pm1a) & PM1_CNT_SCI_EN); i++)
		cpu_relax();
}

void acpi_poweroff(void)
{
	const struct acpi_header *dsdt;
	u64 dsdt_phys;
	u16 pm1a, pm1b;
	u8 typ_a, typ_b;

	/* Read DSDT, SMI_CMD and ACPI_ENABLE only from a FADT long enough to hold PM1a_CNT_BLK: a
	 * shorter one has no PM1 control register anyway, and may end where the mapping does. */
	if (!fadt || fadt->h.length < __builtin_offsetof(struct acpi_fadt, pm1a_cnt_blk) + 4 ||
	    (fadt->h.length >= 116 && (fadt->flags & FADT_HW_REDUCED_ACPI))) {
		kprintf("acpi: no FADT with PM1 control registers; cannot power off\n");
		return;
	}
	dsdt_phys = fadt->h.length >= 148 && fadt->x_dsdt ? fadt->x_dsdt : fadt->dsdt;
	dsdt = map_table(dsdt_phys);
	if (!dsdt || acpi_parse_s5((const u8 *)(dsdt + 1), dsdt->length - sizeof(*dsdt), &typ_a, &typ_b)) {
		kprintf("acpi: no \\_S5 package in the DSDT; cannot power off\n");
		return;
	}
	pm1a = ACPI_FADT_PORT(fadt, pm1a_cnt_blk);
	pm1b = ACPI_FADT_PORT(fadt, pm1b_cnt_blk);
	if (!pm1a) {
		kprintf("acpi: no PM1a control port; cannot power off\n");
		return;
	}
	kprintf("acpi: powering off (S5)\n");
	console_flush();
	enable_acpi_mode(pm1a);
	outw(pm1a, (typ_a << PM1_CNT_SLP_TYP_SHIFT) | PM1_CNT_SLP_EN);
	if (pm1b)
		outw(pm1b, (typ_b << PM1_CNT_SLP_TYP_SHIFT) | PM1_CNT_SLP_EN);
	for (u64 i = 0; i < ACPI_ENABLE_SPINS; i++)
		cpu_relax();
}
