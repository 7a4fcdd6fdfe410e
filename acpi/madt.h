/* MADT (ACPI 6.5 5.2.12): the processors the firmware says exist, by APIC ID. Pure logic,
 * unit-tested on the host. */
#ifndef ACPI_MADT_H
#define ACPI_MADT_H

#include "kernel/types.h"

#define MADT_TYPE_LOCAL_APIC 0
#define MADT_TYPE_LAPIC_ADDR_OVERRIDE 5
#define MADT_TYPE_LOCAL_X2APIC 9
#define MADT_LAPIC_ENABLED (1u << 0)
#define MADT_LAPIC_ONLINE_CAPABLE (1u << 1)
#define MADT_HEADER_LEN 44 /* SDT header, Local Interrupt Controller Address, Flags */

struct madt_info {
	u64 lapic_phys;   /* xAPIC MMIO base */
	u32 ncpus;        /* usable processors listed (may exceed max_cpus: see truncated) */
	bool truncated;   /* more usable processors than the caller's array holds */
	u32 disabled;     /* entries neither enabled nor online-capable */
	u32 duplicates;   /* APIC IDs listed twice (the second is ignored) */
};

/* Parse a whole MADT (with its SDT header, checksum already verified). Usable processors'
 * APIC IDs go to apic_ids[] in table order (at most max_cpus). Returns 0, or -1 with a one-line
 * reason in err when the table is malformed. */
int madt_parse(const void *table, u32 len, u32 *apic_ids, u32 max_cpus, struct madt_info *info,
	       char *err, size_t err_len);

#endif
