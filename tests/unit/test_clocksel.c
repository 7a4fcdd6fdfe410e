/* Unit tests for kernel/clocksel.c: which source the TSC frequency comes from, what it is checked
 * against, when a disagreement is reported, and that waits never assume a slower clock than any
 * source gave (the Gen2-like case: a PIT that is not there must not shorten an AP's wait). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "kernel/clocksel.h"

static void test_reported_source_wins_and_is_checked(void **state)
{
	u64 khz[CLOCK_NSOURCES] = { [CLOCK_TIMING_LEAF] = 2600000, [CLOCK_PIT] = 2601000,
				    [CLOCK_PM_TIMER] = 2599000 };
	struct clock_choice c;

	(void)state;
	clock_choose(khz, &c);
	assert_int_equal(c.source, CLOCK_TIMING_LEAF);
	assert_int_equal(c.khz, 2600000);
	assert_int_equal(c.check, CLOCK_PIT); /* the first measured source */
	assert_int_equal(c.disagreement_ppm, 384); /* 1000 / 2601000 */
	assert_false(c.disagrees);
	assert_int_equal(c.wait_khz, CLOCK_WAIT_FLOOR_KHZ);
}

static void test_gen2_uses_the_pm_timer(void **state)
{
	u64 khz[CLOCK_NSOURCES] = { [CLOCK_PM_TIMER] = 2599000, [CLOCK_CPUID_16] = 2400000 };
	struct clock_choice c;

	(void)state;
	clock_choose(khz, &c);
	assert_int_equal(c.source, CLOCK_PM_TIMER);
	assert_int_equal(c.check, -1); /* nothing else measured; the nominal one is no check */
	assert_false(c.disagrees);
}

static void test_pit_checked_by_pm_timer(void **state)
{
	u64 khz[CLOCK_NSOURCES] = { [CLOCK_PIT] = 2062, [CLOCK_PM_TIMER] = 2600000 };
	struct clock_choice c;

	(void)state;
	clock_choose(khz, &c);
	assert_int_equal(c.source, CLOCK_PIT);
	assert_int_equal(c.check, CLOCK_PM_TIMER);
	assert_true(c.disagrees);
	assert_int_equal(c.disagreement_ppm, 999206);
	/* the wait frequency is the highest any source gave: the AP's wait is not cut short */
	assert_int_equal(c.wait_khz, CLOCK_WAIT_FLOOR_KHZ);
}

static void test_disagreement_threshold(void **state)
{
	u64 khz[CLOCK_NSOURCES] = { [CLOCK_HYPERV_MSR] = 1010000, [CLOCK_PM_TIMER] = 1000000 };
	struct clock_choice c;

	(void)state;
	clock_choose(khz, &c);
	assert_int_equal(c.disagreement_ppm, 10000);
	assert_false(c.disagrees); /* exactly 1%: not above it */
	khz[CLOCK_HYPERV_MSR] = 1010001;
	clock_choose(khz, &c);
	assert_true(c.disagrees);
	khz[CLOCK_HYPERV_MSR] = 989999;
	clock_choose(khz, &c);
	assert_true(c.disagrees);
}

static void test_nothing_offered_guesses(void **state)
{
	u64 khz[CLOCK_NSOURCES] = { 0 };
	struct clock_choice c;

	(void)state;
	clock_choose(khz, &c);
	assert_int_equal(c.source, -1);
	assert_int_equal(c.khz, CLOCK_GUESS_KHZ);
	assert_int_equal(c.check, -1);
	assert_true(c.wait_khz >= c.khz);
}

static void test_wait_follows_a_fast_source(void **state)
{
	u64 khz[CLOCK_NSOURCES] = { [CLOCK_CPUID_15] = 7000000, [CLOCK_PM_TIMER] = 6900000 };
	struct clock_choice c;

	(void)state;
	clock_choose(khz, &c);
	assert_int_equal(c.wait_khz, 7000000);
	assert_int_equal(c.check, CLOCK_PM_TIMER);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_reported_source_wins_and_is_checked),
		cmocka_unit_test(test_gen2_uses_the_pm_timer),
		cmocka_unit_test(test_pit_checked_by_pm_timer),
		cmocka_unit_test(test_disagreement_threshold),
		cmocka_unit_test(test_nothing_offered_guesses),
		cmocka_unit_test(test_wait_follows_a_fast_source),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
