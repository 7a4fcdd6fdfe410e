/* Test hook `fw_fault=`: hostile firmware tables without a hostile firmware. QEMU cannot be made
 * to publish a broken MADT or an XSDT entry into absent memory, so the kernel alters a copy of
 * the table it found, before anything reads it, and every later lookup gets the copy: the
 * parsers and their users then meet exactly those bytes (docs/tests.md, "Hostile firmware"). */
#ifndef ACPI_FWFAULT_H
#define ACPI_FWFAULT_H

#include "acpi/acpi.h"

enum fw_fault {
	FW_FAULT_NONE, FW_FAULT_MADT_CHECKSUM, FW_FAULT_MADT_GARBAGE, FW_FAULT_MADT_DUP,
	FW_FAULT_MADT_EXTRA, FW_FAULT_MADT_FEWER, FW_FAULT_XSDT_ABSENT, FW_FAULT_FADT_NO_PM_TIMER,
	FW_FAULT_COUNT
};
extern const char *const fw_fault_names[];

void fw_fault_set(int fault);
/* acpi_find_table()'s hook: the altered copy of a table with this signature, or h itself. */
const struct acpi_header *fw_fault_table(const char sig[4], const struct acpi_header *h);
/* The entry the XSDT fault adds: a table address in absent memory (0 without the fault). */
u64 fw_fault_absent_entry(void);

#endif
