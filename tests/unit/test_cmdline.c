/* Unit tests for kernel/cmdline.c: value syntax, every error message, image-path
 * skipping, last-one-wins, scratch exhaustion and the usage listing. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "kernel/cmdline.h"

static const char *const mode_choices[] = { "info", "selftest", NULL };
static const char *const fault_choices[] = { "none", "pf", "gp", "ud", NULL };

/* Destinations of one parse; reset to known defaults before each test. */
struct cfg {
	int mode;
	const char *test;
	int fault;
	bool pause;
	u64 cpus;
	u64 mem;
	struct opt_list modes, sizes;
};

static struct cfg cfg;
static char scratch[64];
static char err[256];

static const struct opt opts[] = {
	{ .key = "mode", .type = OPT_ENUM, .help = "what to run", .choices = mode_choices,
	  .dst = &cfg.mode },
	{ .key = "test", .type = OPT_STR, .help = "test name filter", .dst = &cfg.test },
	{ .key = "fault", .type = OPT_ENUM, .help = "fault to inject", .choices = fault_choices,
	  .dst = &cfg.fault },
	{ .key = "pause", .type = OPT_BOOL, .help = "wait before exit", .dst = &cfg.pause },
};

static const struct opt num_opts[] = {
	{ .key = "cpus", .type = OPT_UINT, .help = "CPUs to start", .min = 1, .max = 255,
	  .dst = &cfg.cpus },
	{ .key = "mem", .type = OPT_UINT, .help = "memory limit", .min = 0, .max = UINT64_MAX,
	  .dst = &cfg.mem },
};

static const struct opt list_opts[] = {
	{ .key = "modes", .type = OPT_ENUM_LIST, .help = "modes", .choices = mode_choices,
	  .dst = &cfg.modes },
	{ .key = "sizes", .type = OPT_UINT_LIST, .help = "sizes", .min = 1, .max = 16384,
	  .dst = &cfg.sizes },
};

static int setup(void **state)
{
	(void)state;
	cfg = (struct cfg){ .mode = 0, .test = "default", .fault = 0, .pause = false,
			    .cpus = 4, .mem = 7, .modes = { 1, { 1 } }, .sizes = { 2, { 1, 64 } } };
	memset(scratch, 0x5a, sizeof(scratch));
	memset(err, 0x5a, sizeof(err));
	err[0] = '\0';
	return 0;
}

static int parse(const char *line)
{
	return cmdline_parse(line, opts, sizeof(opts) / sizeof(opts[0]), scratch,
			     sizeof(scratch), err, sizeof(err));
}

static int parse_num(const char *line)
{
	return cmdline_parse(line, num_opts, sizeof(num_opts) / sizeof(num_opts[0]),
			     scratch, sizeof(scratch), err, sizeof(err));
}

static void expect_error(int rc, const char *msg)
{
	assert_int_equal(rc, -1);
	assert_string_equal(err, msg);
	assert_null(strchr(err, '\n'));
}

static void test_empty_keeps_defaults(void **state)
{
	(void)state;
	assert_int_equal(parse(""), 0);
	assert_int_equal(parse("  \t "), 0);
	assert_int_equal(cmdline_parse(NULL, opts, 4, scratch, sizeof(scratch), err,
				       sizeof(err)), 0);
	assert_int_equal(cfg.mode, 0);
	assert_string_equal(cfg.test, "default");
	assert_false(cfg.pause);
	assert_string_equal(err, "");
}

static void test_all_types(void **state)
{
	(void)state;
	assert_int_equal(parse("mode=selftest test=tlb_flush fault=gp pause=yes"), 0);
	assert_int_equal(cfg.mode, 1);
	assert_string_equal(cfg.test, "tlb_flush");
	assert_int_equal(cfg.fault, 2);
	assert_true(cfg.pause);
	/* The string must live in scratch, not point into the command line. */
	assert_true(cfg.test >= scratch && cfg.test < scratch + sizeof(scratch));
}

static void test_blanks(void **state)
{
	(void)state;
	assert_int_equal(parse("\t mode=selftest\t\tfault=ud   pause=1 \t"), 0);
	assert_int_equal(cfg.mode, 1);
	assert_int_equal(cfg.fault, 3);
	assert_true(cfg.pause);
}

static void test_last_wins(void **state)
{
	(void)state;
	assert_int_equal(parse("mode=selftest test=a pause=on mode=info test=bcd pause=off"), 0);
	assert_int_equal(cfg.mode, 0);
	assert_string_equal(cfg.test, "bcd");
	assert_false(cfg.pause);
}

static void test_path_skipped(void **state)
{
	(void)state;
	assert_int_equal(parse("/boot/tlbstorm.elf mode=selftest"), 0);
	assert_int_equal(cfg.mode, 1);
	assert_int_equal(parse("  (hd0)/tlbstorm pause=true"), 0);
	assert_true(cfg.pause);
	assert_int_equal(parse("build/kernel.elf"), 0);
}

static void test_not_key_value(void **state)
{
	(void)state;
	expect_error(parse("tlbstorm mode=info"), "cmdline: 'tlbstorm' is not key=value");
	/* Only the first token may be a path. */
	expect_error(parse("mode=info /boot/k"), "cmdline: '/boot/k' is not key=value");
	expect_error(parse("/a /b"), "cmdline: '/b' is not key=value");
	expect_error(parse("mode=info foo"), "cmdline: 'foo' is not key=value");
}

static void test_unknown_option(void **state)
{
	(void)state;
	expect_error(parse("foo=1"),
		     "cmdline: unknown option 'foo' (valid: mode, test, fault, pause)");
	expect_error(parse("mode=info =x"),
		     "cmdline: unknown option '' (valid: mode, test, fault, pause)");
	/* Prefixes and case variants are not keys. */
	expect_error(parse("mod=info"),
		     "cmdline: unknown option 'mod' (valid: mode, test, fault, pause)");
	expect_error(parse("modes=info"),
		     "cmdline: unknown option 'modes' (valid: mode, test, fault, pause)");
	expect_error(parse("MODE=info"),
		     "cmdline: unknown option 'MODE' (valid: mode, test, fault, pause)");
	assert_non_null(strstr(err, "unknown option"));
	assert_non_null(strstr(err, "valid:"));
}

static void test_bad_enum(void **state)
{
	(void)state;
	expect_error(parse("mode=x"), "cmdline: bad value 'x' for mode (valid: info, selftest)");
	expect_error(parse("mode="), "cmdline: bad value '' for mode (valid: info, selftest)");
	expect_error(parse("mode=infos"),
		     "cmdline: bad value 'infos' for mode (valid: info, selftest)");
	expect_error(parse("mode=inf"), "cmdline: bad value 'inf' for mode (valid: info, selftest)");
	expect_error(parse("fault=pf=1"),
		     "cmdline: bad value 'pf=1' for fault (valid: none, pf, gp, ud)");
}

static void test_bool(void **state)
{
	(void)state;
	static const char *const yes[] = { "1", "yes", "on", "true" };
	static const char *const no[] = { "0", "no", "off", "false" };
	char line[32];

	for (size_t i = 0; i < 4; i++) {
		snprintf(line, sizeof(line), "pause=%s", yes[i]);
		assert_int_equal(parse(line), 0);
		assert_true(cfg.pause);
		snprintf(line, sizeof(line), "pause=%s", no[i]);
		assert_int_equal(parse(line), 0);
		assert_false(cfg.pause);
	}
	expect_error(parse("pause=maybe"), "cmdline: bad value 'maybe' for pause "
		     "(valid: 0, 1, yes, no, on, off, true, false)");
	expect_error(parse("pause="), "cmdline: bad value '' for pause "
		     "(valid: 0, 1, yes, no, on, off, true, false)");
	expect_error(parse("pause=2"), "cmdline: bad value '2' for pause "
		     "(valid: 0, 1, yes, no, on, off, true, false)");
}

static void test_uint_range(void **state)
{
	(void)state;
	assert_int_equal(parse_num("cpus=1"), 0);
	assert_int_equal(cfg.cpus, 1);
	assert_int_equal(parse_num("cpus=255"), 0);
	assert_int_equal(cfg.cpus, 255);
	assert_int_equal(parse_num("cpus=0xff"), 0);
	assert_int_equal(cfg.cpus, 255);
	expect_error(parse_num("cpus=9999"), "cmdline: bad value '9999' for cpus (valid: 1..255)");
	expect_error(parse_num("cpus=0"), "cmdline: bad value '0' for cpus (valid: 1..255)");
	expect_error(parse_num("cpus=256"), "cmdline: bad value '256' for cpus (valid: 1..255)");
	expect_error(parse_num("cpus=1k"), "cmdline: bad value '1k' for cpus (valid: 1..255)");
	expect_error(parse_num("mem=x"),
		     "cmdline: bad value 'x' for mem (valid: 0..18446744073709551615)");
}

struct uint_case {
	const char *text;
	u64 value;
};

static void test_uint_syntax(void **state)
{
	(void)state;
	static const struct uint_case good[] = {
		{ "0", 0 }, { "00", 0 }, { "010", 10 }, { "42", 42 }, { "0x0", 0 },
		{ "0x1F", 31 }, { "0XaBc", 0xabc }, { "4k", 4096 }, { "4K", 4096 },
		{ "3m", 3ull << 20 }, { "2M", 2ull << 20 }, { "16g", 16ull << 30 },
		{ "16G", 16ull << 30 }, { "0x10k", 16ull << 10 }, { "0k", 0 },
		{ "18446744073709551615", UINT64_MAX }, { "0xffffffffffffffff", UINT64_MAX },
		{ "17179869183G", 17179869183ull << 30 }, { "0x3ffffffffg", 0x3ffffffffull << 30 },
	};
	char line[64];

	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		snprintf(line, sizeof(line), "mem=%s", good[i].text);
		cfg.mem = 12345;
		if (parse_num(line) != 0)
			fail_msg("%s rejected: %s", line, err);
		assert_int_equal(cfg.mem, good[i].value);
	}
}

static void test_uint_rejects(void **state)
{
	(void)state;
	static const char *const bad[] = {
		"", "x", "-1", "+1", "0x", "0xg", "1.5", "12x", "1kk", "1kb", "k",
		"18446744073709551616", "99999999999999999999", "0x10000000000000000",
		"17179869184G", "0x400000000g", "18014398509481984k", "0b101", "1e3",
	};
	char line[64], want[160];

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(line, sizeof(line), "mem=%s", bad[i]);
		snprintf(want, sizeof(want),
			 "cmdline: bad value '%s' for mem (valid: 0..18446744073709551615)", bad[i]);
		expect_error(parse_num(line), want);
		assert_int_equal(cfg.mem, 7);
	}
}

static void test_str_values(void **state)
{
	(void)state;
	assert_int_equal(parse("test="), 0);
	assert_string_equal(cfg.test, "");
	assert_int_equal(parse("test=a=b,c/d"), 0);
	assert_string_equal(cfg.test, "a=b,c/d");
}

/* Every STR value, repeats included, takes its length plus a NUL from scratch. */
static void test_scratch_exhaustion(void **state)
{
	(void)state;
	char small[8];
	char line[96];

	assert_int_equal(cmdline_parse("test=abcdefg", opts, 4, small, sizeof(small), err,
				       sizeof(err)), 0);
	assert_string_equal(cfg.test, "abcdefg");
	assert_ptr_equal(cfg.test, small);
	cfg.test = "default";
	expect_error(cmdline_parse("test=abcdefgh", opts, 4, small, sizeof(small), err,
				   sizeof(err)), "cmdline: values too long (scratch full)");
	expect_error(cmdline_parse("test=abcd test=def", opts, 4, small, sizeof(small), err,
				   sizeof(err)), "cmdline: values too long (scratch full)");
	assert_int_equal(cmdline_parse("test=abc test=xyz", opts, 4, small, sizeof(small), err,
				       sizeof(err)), 0);
	assert_string_equal(cfg.test, "xyz");
	expect_error(cmdline_parse("test=", opts, 4, NULL, 0, err, sizeof(err)),
		     "cmdline: values too long (scratch full)");
	assert_int_equal(cmdline_parse("mode=selftest", opts, 4, NULL, 0, err, sizeof(err)), 0);
	memset(line, 0, sizeof(line));
	memcpy(line, "test=", 5);
	memset(line + 5, 'q', sizeof(scratch) - 1);
	assert_int_equal(parse(line), 0);
	assert_int_equal(strlen(cfg.test), sizeof(scratch) - 1);
}

/* A failing line is rejected as a whole: nothing before the error is stored. */
static void test_atomic(void **state)
{
	(void)state;
	expect_error(parse("mode=selftest test=zzz pause=yes fault=bogus"),
		     "cmdline: bad value 'bogus' for fault (valid: none, pf, gp, ud)");
	assert_int_equal(cfg.mode, 0);
	assert_string_equal(cfg.test, "default");
	assert_false(cfg.pause);
}

static void test_err_buffer_limits(void **state)
{
	(void)state;
	char tiny[12];

	assert_int_equal(cmdline_parse("foo=1", opts, 4, scratch, sizeof(scratch), tiny,
				       sizeof(tiny)), -1);
	assert_string_equal(tiny, "cmdline: un");
	assert_int_equal(cmdline_parse("foo=1", opts, 4, scratch, sizeof(scratch), NULL, 0), -1);
	assert_int_equal(cmdline_parse("foo=1", opts, 4, scratch, sizeof(scratch), tiny, 0), -1);
	expect_error(cmdline_parse("mode=info", NULL, 0, scratch, sizeof(scratch), err,
				   sizeof(err)), "cmdline: unknown option 'mode' (valid: )");
}

static int parse_list(const char *line)
{
	return cmdline_parse(line, list_opts, 2, scratch, sizeof(scratch), err, sizeof(err));
}

static void test_lists(void **state)
{
	(void)state;
	assert_int_equal(parse_list("modes=selftest,info,selftest sizes=16384"), 0);
	assert_int_equal(cfg.modes.n, 3);
	assert_int_equal(cfg.modes.v[0], 1);
	assert_int_equal(cfg.modes.v[1], 0);
	assert_int_equal(cfg.modes.v[2], 1);
	assert_int_equal(cfg.sizes.n, 1);
	assert_int_equal(cfg.sizes.v[0], 16384);
	/* the last one wins, as a whole list */
	assert_int_equal(parse_list("sizes=1,2,3 sizes=0x10,4k"), 0);
	assert_int_equal(cfg.sizes.n, 2);
	assert_int_equal(cfg.sizes.v[0], 16);
	assert_int_equal(cfg.sizes.v[1], 4096);
	/* sixteen values fit, seventeen do not */
	assert_int_equal(parse_list("sizes=1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16"), 0);
	assert_int_equal(cfg.sizes.n, OPT_LIST_MAX);
	assert_int_equal(cfg.sizes.v[15], 16);
}

static void test_list_errors(void **state)
{
	(void)state;
	expect_error(parse_list("modes=info,bogus"),
		     "cmdline: bad value 'bogus' for modes (valid: info, selftest)");
	expect_error(parse_list("sizes=1,99999"), "cmdline: bad value '99999' for sizes (valid: 1..16384)");
	expect_error(parse_list("sizes=0"), "cmdline: bad value '0' for sizes (valid: 1..16384)");
	expect_error(parse_list("sizes=1,,2"), "cmdline: empty value in the list for sizes");
	expect_error(parse_list("sizes=1,"), "cmdline: empty value in the list for sizes");
	expect_error(parse_list("sizes="), "cmdline: empty value in the list for sizes");
	expect_error(parse_list("modes=,info"), "cmdline: empty value in the list for modes");
	expect_error(parse_list("sizes=1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17"),
		     "cmdline: too many values for sizes (at most 16)");
	/* a bad line changes nothing, even the lists before the bad token */
	expect_error(parse_list("modes=info sizes=7,x"), "cmdline: bad value 'x' for sizes (valid: 1..16384)");
	assert_int_equal(cfg.modes.n, 1);
	assert_int_equal(cfg.modes.v[0], 1);
	assert_int_equal(cfg.sizes.n, 2);
	assert_int_equal(cfg.sizes.v[1], 64);
}

static void test_list_usage(void **state)
{
	char buf[256];

	(void)state;
	cmdline_usage(buf, sizeof(buf), list_opts, 2);
	assert_string_equal(buf, "  modes=<info|selftest,...>  modes\n  sizes=<1..16384,...>  sizes\n");
}

static void test_usage(void **state)
{
	(void)state;
	static const struct opt all[] = {
		{ .key = "mode", .type = OPT_ENUM, .help = "what to run", .choices = mode_choices },
		{ .key = "cpus", .type = OPT_UINT, .help = "CPUs to start", .min = 1, .max = 255 },
		{ .key = "test", .type = OPT_STR, .help = "test name filter" },
		{ .key = "pause", .type = OPT_BOOL, .help = "wait before exit" },
		{ .key = "quiet", .type = OPT_BOOL },
	};
	static const char want[] =
		"  mode=<info|selftest>  what to run\n"
		"  cpus=<1..255>  CPUs to start\n"
		"  test=<string>  test name filter\n"
		"  pause=<0|1>  wait before exit\n"
		"  quiet=<0|1>\n";
	char buf[512], small[20];
	int n = cmdline_usage(buf, sizeof(buf), all, 5);

	assert_string_equal(buf, want);
	assert_int_equal(n, (int)strlen(want));
	assert_int_equal(cmdline_usage(small, sizeof(small), all, 5), n);
	assert_string_equal(small, "  mode=<info|selfte");
	assert_int_equal(cmdline_usage(NULL, 0, all, 5), n);
	assert_int_equal(cmdline_usage(buf, sizeof(buf), all, 0), 0);
	assert_string_equal(buf, "");
}

#define T(f) cmocka_unit_test_setup(f, setup)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_empty_keeps_defaults),
		T(test_all_types),
		T(test_blanks),
		T(test_last_wins),
		T(test_path_skipped),
		T(test_not_key_value),
		T(test_unknown_option),
		T(test_bad_enum),
		T(test_bool),
		T(test_uint_range),
		T(test_uint_syntax),
		T(test_uint_rejects),
		T(test_str_values),
		T(test_scratch_exhaustion),
		T(test_atomic),
		T(test_err_buffer_limits),
		T(test_usage),
		T(test_lists),
		T(test_list_errors),
		T(test_list_usage),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
