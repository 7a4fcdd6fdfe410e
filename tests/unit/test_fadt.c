/* Unit tests for the FADT register helpers in acpi/tables.c: which port the PM timer and the
 * PM1 control blocks are read from, for the shapes firmware really gives (legacy fields only,
 * X_ fields only as on Hyper-V Generation 2, both) and the ways a table can mislead (too short
 * to hold the X_ fields, memory space, ports beyond 16 bits, hardware-reduced ACPI). Every
 * table is copied to an exactly-sized heap buffer so AddressSanitizer catches an overread. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "acpi/acpi.h"

/* A FADT of `len` bytes (at most the struct) in its own allocation. */
static struct acpi_fadt *sized(const struct acpi_fadt *f, u32 len)
{
	struct acpi_fadt *c = malloc(sizeof(*c));

	assert_non_null(c);
	memset(c, 0xa5, sizeof(*c)); /* beyond `len`: garbage the helpers must not read */
	memcpy(c, f, len);
	c->h.length = len;
	return c;
}

static struct acpi_fadt base(void)
{
	struct acpi_fadt f;

	memset(&f, 0, sizeof(f));
	memcpy(f.h.signature, "FACP", 4);
	f.h.length = sizeof(f);
	return f;
}

static struct acpi_gas io(u64 port)
{
	return (struct acpi_gas){ .space_id = ACPI_GAS_IO, .bit_width = 32, .access_size = 3, .address = port };
}

static void test_legacy_only(void **state)
{
	struct acpi_fadt f = base(), *c;
	bool ext;

	(void)state;
	f.pm_tmr_blk = 0x608;
	f.flags = FADT_TMR_VAL_EXT;
	c = sized(&f, sizeof(f));
	assert_int_equal(acpi_pm_timer_port(c, &ext), 0x608);
	assert_true(ext);
	free(c);
}

static void test_x_only_like_gen2(void **state)
{
	struct acpi_fadt f = base(), *c;
	bool ext;

	(void)state;
	f.x_pm_tmr_blk = io(0x408);
	f.x_pm1a_cnt_blk = io(0x404);
	c = sized(&f, sizeof(f));
	assert_int_equal(acpi_pm_timer_port(c, &ext), 0x408);
	assert_false(ext);
	assert_int_equal(ACPI_FADT_PORT(c, pm1a_cnt_blk), 0x404);
	free(c);
}

static void test_x_takes_precedence(void **state)
{
	struct acpi_fadt f = base(), *c;
	bool ext;

	(void)state;
	f.pm_tmr_blk = 0x608;
	f.x_pm_tmr_blk = io(0x408);
	c = sized(&f, sizeof(f));
	assert_int_equal(acpi_pm_timer_port(c, &ext), 0x408);
	free(c);
}

static void test_short_table_ignores_x_fields(void **state)
{
	struct acpi_fadt f = base(), *c;
	bool ext;

	(void)state;
	f.pm_tmr_blk = 0x608;
	f.flags = FADT_TMR_VAL_EXT;
	c = sized(&f, 116); /* ACPI 1.0: ends after the flags */
	assert_int_equal(acpi_pm_timer_port(c, &ext), 0x608);
	assert_true(ext);
	free(c);
	f.pm_tmr_blk = 0;
	c = sized(&f, 116); /* garbage where X_PM_TMR_BLK would be is not read */
	assert_int_equal(acpi_pm_timer_port(c, &ext), 0);
	free(c);
}

static void test_truncated_before_legacy(void **state)
{
	struct acpi_fadt f = base(), *c;
	bool ext = true;

	(void)state;
	f.pm_tmr_blk = 0x608;
	c = sized(&f, offsetof(struct acpi_fadt, pm_tmr_blk) + 2);
	assert_int_equal(acpi_pm_timer_port(c, &ext), 0);
	assert_false(ext); /* no flags field either */
	free(c);
}

static void test_unusable_x_fields(void **state)
{
	struct acpi_fadt f = base(), *c;
	bool ext;

	(void)state;
	f.pm_tmr_blk = 0x608; /* ignored: a set X_ field takes precedence even when unusable */
	f.x_pm_tmr_blk = io(0x408);
	f.x_pm_tmr_blk.space_id = 0; /* system memory */
	c = sized(&f, sizeof(f));
	assert_int_equal(acpi_pm_timer_port(c, &ext), 0);
	free(c);
	f.x_pm_tmr_blk = io(0x10000);
	c = sized(&f, sizeof(f));
	assert_int_equal(acpi_pm_timer_port(c, &ext), 0);
	free(c);
}

static void test_hardware_reduced_has_no_timer(void **state)
{
	struct acpi_fadt f = base(), *c;
	bool ext;

	(void)state;
	f.x_pm_tmr_blk = io(0x408);
	f.flags = FADT_HW_REDUCED_ACPI;
	c = sized(&f, sizeof(f));
	assert_int_equal(acpi_pm_timer_port(c, &ext), 0);
	free(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_legacy_only),
		cmocka_unit_test(test_x_only_like_gen2),
		cmocka_unit_test(test_x_takes_precedence),
		cmocka_unit_test(test_short_table_ignores_x_fields),
		cmocka_unit_test(test_truncated_before_legacy),
		cmocka_unit_test(test_unusable_x_fields),
		cmocka_unit_test(test_hardware_reduced_has_no_timer),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
