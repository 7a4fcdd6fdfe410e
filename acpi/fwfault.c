/* The `fw_fault=` test hook (acpi/fwfault.h). Each fault is one thing a firmware has been known
 * to get wrong; the copy is made once, on the first lookup of its table. */
#include "acpi/fwfault.h"
#include "acpi/madt.h"
#include "kernel/console.h"
#include "kernel/string.h"

#define COPY_MAX 4096
#define ABSENT_TABLE 0x00007ff000000000ull /* far above any RAM of these guests */
#define EXTRA_APIC_ID 200

const char *const fw_fault_names[] = {
	[FW_FAULT_NONE] = "none", [FW_FAULT_MADT_CHECKSUM] = "madt-checksum",
	[FW_FAULT_MADT_GARBAGE] = "madt-garbage", [FW_FAULT_MADT_DUP] = "madt-dup",
	[FW_FAULT_MADT_EXTRA] = "madt-extra", [FW_FAULT_MADT_FEWER] = "madt-fewer",
	[FW_FAULT_XSDT_ABSENT] = "xsdt-absent", [FW_FAULT_FADT_NO_PM_TIMER] = "fadt-no-pm-timer", NULL,
};

static int fault;
static u8 copy[COPY_MAX] __attribute__((aligned(8)));
static bool copied;

void fw_fault_set(int f)
{
	fault = f;
	if (f != FW_FAULT_NONE)
		kprintf("acpi: test hook fw_fault=%s: the firmware's tables are altered on purpose\n",
			fw_fault_names[f]);
}

u64 fw_fault_absent_entry(void)
{
	return fault == FW_FAULT_XSDT_ABSENT ? ABSENT_TABLE : 0;
}

static void fix_checksum(struct acpi_header *h)
{
	u8 sum = 0;

	h->checksum = 0;
	for (u32 i = 0; i < h->length; i++)
		sum += ((const u8 *)h)[i];
	h->checksum = (u8)-sum;
}

/* The n-th Processor Local APIC entry of the copy, or NULL. */
static u8 *lapic_entry(struct acpi_header *h, u32 n)
{
	for (u32 off = MADT_HEADER_LEN; off + 2 <= h->length && copy[off + 1] >= 2; off += copy[off + 1])
		if (copy[off] == MADT_TYPE_LOCAL_APIC && copy[off + 1] == 8 && n-- == 0)
			return &copy[off];
	return NULL;
}

static void alter_madt(struct acpi_header *h)
{
	u8 *first = lapic_entry(h, 0), *last = NULL;

	for (u32 n = 0; lapic_entry(h, n); n++)
		last = lapic_entry(h, n);
	switch (fault) {
	case FW_FAULT_MADT_CHECKSUM:
		h->checksum ^= 0x5a; /* and not fixed */
		return;
	case FW_FAULT_MADT_GARBAGE:
		memset(copy + MADT_HEADER_LEN, 0xff, h->length - MADT_HEADER_LEN);
		break;
	case FW_FAULT_MADT_DUP:
		if (first && last && last != first)
			last[3] = first[3]; /* the last processor gets the first one's APIC ID */
		break;
	case FW_FAULT_MADT_EXTRA: /* one more enabled processor than the machine has */
		if (first && h->length + 8 <= COPY_MAX) {
			memcpy(copy + h->length, first, 8);
			copy[h->length + 2] = copy[h->length + 3] = EXTRA_APIC_ID;
			h->length += 8;
		}
		break;
	case FW_FAULT_MADT_FEWER: /* the last processor left out (marked neither enabled nor capable) */
		if (last && last != first)
			last[4] = 0;
		break;
	}
	fix_checksum(h);
}

const struct acpi_header *fw_fault_table(const char sig[4], const struct acpi_header *h)
{
	bool madt = !memcmp(sig, "APIC", 4), fadt = !memcmp(sig, "FACP", 4);
	struct acpi_header *c = (struct acpi_header *)copy;

	if (!h || !(madt ? fault >= FW_FAULT_MADT_CHECKSUM && fault <= FW_FAULT_MADT_FEWER :
		    fadt && fault == FW_FAULT_FADT_NO_PM_TIMER) || h->length > COPY_MAX - 8)
		return h;
	if (!copied) {
		memcpy(copy, h, h->length);
		copied = true;
		if (madt) {
			alter_madt(c);
		} else {
			struct acpi_fadt *f = (struct acpi_fadt *)copy;

			if (c->length >= sizeof(*f))
				memset(&f->x_pm_tmr_blk, 0, sizeof(f->x_pm_tmr_blk));
			f->pm_tmr_blk = 0;
			f->pm_tmr_len = 0;
			fix_checksum(c);
		}
	}
	return c;
}
