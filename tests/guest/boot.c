/* What the boot loader handed over looks sane, and the kernel's view of the CPU is as set up. */
#include "boot/multiboot2.h"
#include "acpi/acpi.h"
#include "kernel/kernel.h"
#include "kernel/printf.h"
#include "kernel/selftest.h"
#include "kernel/string.h"
#include "kernel/x86.h"
#include "smp/percpu.h"

static void test_bootinfo(struct test_ctx *t)
{
	u64 usable = bootinfo_usable_bytes(&bootinfo);

	CHECK(t, bootinfo.protocol == 1 || bootinfo.protocol == 2, "booted by Multiboot v%d",
	      bootinfo.protocol);
	CHECK(t, bootinfo.nmmap > 0, "memory map has %u entries", bootinfo.nmmap);
	CHECK(t, usable >= (16u << 20), "at least 16 MiB usable (%lu MiB)", usable >> 20);
	CHECK(t, bootinfo.loader[0] != 0, "loader named itself (\"%s\")", bootinfo.loader);
	CHECK(t, strstr(bootinfo.cmdline, "mode=selftest"), "command line reached the kernel");
}
SELFTEST(bootinfo, "boot information is complete", test_bootinfo);

static void test_cpu_state(struct test_ctx *t)
{
	CHECK(t, this_cpu() == &percpu_bsp && this_cpu()->self == this_cpu(), "this_cpu() is the boot CPU");
	CHECK(t, read_cr0() & CR0_WP, "CR0.WP set: the kernel honours read-only pages");
	CHECK(t, read_rflags() & RFLAGS_IF, "interrupts are on (IPIs can arrive)");
	CHECK(t, (read_cr3() & ~0xfffull) != 0, "CR3 holds a page table");
}
SELFTEST(cpu_state, "control registers and per-CPU data as set up", test_cpu_state);

static void test_acpi(struct test_ctx *t)
{
	const struct acpi_rsdp *r = acpi_rsdp();

	if (!r) {
		selftest_skip(t, "no ACPI tables on this platform");
		return;
	}
	CHECK(t, acpi_find_table("FACP", 0) != NULL, "the FADT is listed and its checksum is valid");
	CHECK(t, acpi_find_table("APIC", 0) != NULL, "the MADT is listed and its checksum is valid");
}
SELFTEST(acpi, "ACPI tables are found and valid", test_acpi);

static void test_format(struct test_ctx *t)
{
	char buf[64];

	ksnprintf(buf, sizeof(buf), "%5d|%-4s|%08lx|%c", -42, "ab", 0xbeefUL, 'z');
	CHECK(t, !strcmp(buf, "  -42|ab  |0000beef|z"), "kernel formatting: \"%s\"", buf);
}
SELFTEST(format, "printf-style formatting in the kernel build", test_format);
