/* Unit tests for kernel/printf.c: results are checked against the host C library's
 * snprintf over a generated table of formats and values, plus the kernel-only rules. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "kernel/printf.h"

#define BUFSZ 256

enum len { L_NONE, L_HH, L_H, L_L, L_LL, L_Z, L_T, L_J, L_COUNT };

static const char *const len_str[L_COUNT] = { "", "hh", "h", "l", "ll", "z", "t", "j" };

static unsigned long compared;

/*
 * Goes through kvsnprintf() with no format attribute, for the cases that the
 * compiler's format checking rightly complains about (NULL %s, %n, odd flags).
 */
static int raw_format(char *buf, size_t size, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = kvsnprintf(buf, size, fmt, ap);
	va_end(ap);
	return n;
}

/* Fails with the format in the message, so a mismatch in a generated case is findable. */
static void check_same(const char *fmt, const char *want, int want_n,
		       const char *got, int got_n)
{
	compared++;
	if (strcmp(want, got) != 0 || want_n != got_n)
		fail_msg("format \"%s\": libc \"%s\" (%d), ours \"%s\" (%d)",
			 fmt, want, want_n, got, got_n);
}

/* Both sides get the argument with the exact type the length modifier names. */
#define COMPARE(fmt, arg) do {						\
	char want_[BUFSZ], got_[BUFSZ];					\
	int wn_ = snprintf(want_, sizeof(want_), fmt, arg);		\
	int gn_ = ksnprintf(got_, sizeof(got_), fmt, arg);		\
	check_same(fmt, want_, wn_, got_, gn_);				\
} while (0)

static void compare_signed(const char *fmt, enum len l, long long v)
{
	switch (l) {
	case L_NONE: case L_HH: case L_H: COMPARE(fmt, (int)v); break;
	case L_L: COMPARE(fmt, (long)v); break;
	case L_LL: COMPARE(fmt, v); break;
	case L_Z: COMPARE(fmt, (size_t)v); break;
	case L_T: COMPARE(fmt, (ptrdiff_t)v); break;
	case L_J: COMPARE(fmt, (intmax_t)v); break;
	default: fail();
	}
}

static void compare_unsigned(const char *fmt, enum len l, long long v)
{
	switch (l) {
	case L_NONE: case L_HH: case L_H: COMPARE(fmt, (unsigned int)v); break;
	case L_L: COMPARE(fmt, (unsigned long)v); break;
	case L_LL: COMPARE(fmt, (unsigned long long)v); break;
	case L_Z: COMPARE(fmt, (size_t)v); break;
	case L_T: COMPARE(fmt, (ptrdiff_t)v); break;
	case L_J: COMPARE(fmt, (uintmax_t)v); break;
	default: fail();
	}
}

static const long long values[] = {
	0, 1, -1, 7, 8, 9, 10, 15, 16, 42, -42, 99, 100, 127, -128, 128, -129,
	255, 256, 300, -300, 4095, 32767, -32768, 65535, 65536, 1000000,
	INT_MAX, INT_MIN, (long long)UINT_MAX, 0x123456789abcdefLL,
	-0x123456789abcdefLL, 999999999999999999LL, LLONG_MAX, LLONG_MIN,
	LLONG_MIN + 1, (long long)0x8000000000000000ULL >> 1,
};

static const long long core_values[] = {
	0, 1, -1, 8, 42, -42, 255, 65536, INT_MIN, LLONG_MAX, LLONG_MIN,
	0x123456789abcdefLL,
};

static const char *const widths[] = { "", "1", "3", "8", "24" };
static const char *const precs[] = { "", ".", ".0", ".1", ".3", ".20" };
static const char convs[] = "diuxXo";

/* '#' is undefined for the decimal conversions, so those combinations are left out. */
static void build_flags(char *out, unsigned int mask, char conv)
{
	static const char flag_chars[] = "-0+ #";

	for (int i = 0; i < 5; i++) {
		if (!(mask & (1u << i)))
			continue;
		if (flag_chars[i] == '#' && strchr("diu", conv))
			continue;
		*out++ = flag_chars[i];
	}
	*out = '\0';
}

static void compare_spec(const char *flags, const char *w, const char *p,
			 enum len l, char conv, const long long *vals, size_t n)
{
	char fmt[64];

	snprintf(fmt, sizeof(fmt), "[%%%s%s%s%s%c]", flags, w, p, len_str[l], conv);
	for (size_t i = 0; i < n; i++) {
		if (conv == 'd' || conv == 'i')
			compare_signed(fmt, l, vals[i]);
		else
			compare_unsigned(fmt, l, vals[i]);
	}
}

/* Every flag set x width x precision x conversion, with int and long long arguments. */
static void test_generated_specs(void **state)
{
	(void)state;
	char flags[8];
	static const enum len lens[] = { L_NONE, L_LL, L_HH };

	for (unsigned int mask = 0; mask < 32; mask++)
		for (size_t w = 0; w < sizeof(widths) / sizeof(widths[0]); w++)
			for (size_t p = 0; p < sizeof(precs) / sizeof(precs[0]); p++)
				for (size_t c = 0; c < strlen(convs); c++)
					for (size_t l = 0; l < 3; l++) {
						build_flags(flags, mask, convs[c]);
						compare_spec(flags, widths[w], precs[p], lens[l],
							     convs[c], core_values,
							     sizeof(core_values) / sizeof(core_values[0]));
					}
}

/* Every length modifier against the full value list, with a few representative specs. */
static void test_generated_lengths(void **state)
{
	(void)state;
	static const char *const specs[][3] = {
		{ "", "", "" }, { "-", "6", "" }, { "0", "12", "" }, { "+", "", ".4" },
		{ " ", "5", ".0" }, { "#", "", "" }, { "#0", "22", "" }, { "-#", "25", ".21" },
	};
	char flags[8];

	for (size_t s = 0; s < sizeof(specs) / sizeof(specs[0]); s++)
		for (int l = 0; l < L_COUNT; l++)
			for (size_t c = 0; c < strlen(convs); c++) {
				build_flags(flags, 0, convs[c]);
				for (const char *f = specs[s][0]; *f; f++)
					if (*f != '#' || !strchr("diu", convs[c]))
						strncat(flags, f, 1);
				compare_spec(flags, specs[s][1], specs[s][2], (enum len)l,
					     convs[c], values, sizeof(values) / sizeof(values[0]));
			}
}

#define COMPARE2(fmt, a, b) do {					\
	char want_[BUFSZ], got_[BUFSZ];					\
	int wn_ = snprintf(want_, sizeof(want_), fmt, a, b);		\
	int gn_ = ksnprintf(got_, sizeof(got_), fmt, a, b);		\
	check_same(fmt, want_, wn_, got_, gn_);				\
} while (0)

#define COMPARE3(fmt, a, b, c) do {					\
	char want_[BUFSZ], got_[BUFSZ];					\
	int wn_ = snprintf(want_, sizeof(want_), fmt, a, b, c);		\
	int gn_ = ksnprintf(got_, sizeof(got_), fmt, a, b, c);		\
	check_same(fmt, want_, wn_, got_, gn_);				\
} while (0)

static void test_star(void **state)
{
	(void)state;
	static const int ws[] = { -12, -3, -1, 0, 1, 5, 17 };

	for (size_t i = 0; i < sizeof(ws) / sizeof(ws[0]); i++)
		for (size_t j = 0; j < sizeof(ws) / sizeof(ws[0]); j++) {
			COMPARE3("[%*.*d]", ws[i], ws[j], -1234);
			COMPARE3("[%-*.*x]", ws[i], ws[j], 0xbeefu);
			COMPARE3("[%*.*s]", ws[i], ws[j], "hello, world");
			COMPARE3("[%-*.*u]", ws[i], ws[j], 0u);
		}
	COMPARE2("[%*d]", 6, 42);
	COMPARE2("[%-*d]", 6, 42);
	COMPARE2("[%.*d]", -1, 0);
	COMPARE2("[%0*d]", -6, 42);
	COMPARE2("[%.*s]", 3, "abcdef");
}

static void test_strings_chars(void **state)
{
	(void)state;
	static const char *const strs[] = { "", "a", "hello", "with space", "0123456789abcdef" };
	static const char *const sfmts[] = {
		"[%s]", "[%10s]", "[%-10s]", "[%.0s]", "[%.3s]", "[%.30s]", "[%8.2s]",
		"[%-8.2s]", "[%1s]", "[%-1.1s]", "[%.s]",
	};
	static const char *const cfmts[] = { "[%c]", "[%4c]", "[%-4c]", "[%1c]" };
	static const int chars[] = { 'A', 'z', ' ', '~', 0x80, 0xff, '%' };

	for (size_t f = 0; f < sizeof(sfmts) / sizeof(sfmts[0]); f++)
		for (size_t s = 0; s < sizeof(strs) / sizeof(strs[0]); s++)
			COMPARE(sfmts[f], strs[s]);
	for (size_t f = 0; f < sizeof(cfmts) / sizeof(cfmts[0]); f++)
		for (size_t c = 0; c < sizeof(chars) / sizeof(chars[0]); c++)
			COMPARE(cfmts[f], chars[c]);
	COMPARE("100%% sure %d", 1);
	COMPARE("%s%%", "");
}

static void test_literal_cases(void **state)
{
	(void)state;
	char buf[BUFSZ];

	assert_int_equal(ksnprintf(buf, sizeof(buf), "%d", INT_MIN), 11);
	assert_string_equal(buf, "-2147483648");
	ksnprintf(buf, sizeof(buf), "%lld", (long long)INT64_MIN);
	assert_string_equal(buf, "-9223372036854775808");
	ksnprintf(buf, sizeof(buf), "%jd|%ji", INTMAX_MIN, INTMAX_MAX);
	assert_string_equal(buf, "-9223372036854775808|9223372036854775807");
	ksnprintf(buf, sizeof(buf), "%llo", (unsigned long long)UINT64_MAX);
	assert_string_equal(buf, "1777777777777777777777");
	ksnprintf(buf, sizeof(buf), "[%.0d][%.0x][%#.0o][%#.0x][%5.0d]", 0, 0u, 0u, 0u, 0);
	assert_string_equal(buf, "[][][0][][     ]");
	ksnprintf(buf, sizeof(buf), "[%#08o][%#08x][%-#8X]", 8u, 255u, 255u);
	assert_string_equal(buf, "[00000010][0x0000ff][0XFF    ]");
	raw_format(buf, sizeof(buf), "[%+d][% d][%+ d][% +d]", 0, 0, 5, 5);
	assert_string_equal(buf, "[+0][ 0][+5][+5]");
	ksnprintf(buf, sizeof(buf), "[%zu][%zx][%td]", (size_t)SIZE_MAX, (size_t)4096, (ptrdiff_t)-7);
	assert_string_equal(buf, "[18446744073709551615][1000][-7]");
	ksnprintf(buf, sizeof(buf), "[%hhd][%hhu][%hd][%hu]", 0x1ff, -1, 0x18000, -1);
	assert_string_equal(buf, "[-1][255][-32768][65535]");
}

static void test_pointer(void **state)
{
	(void)state;
	char buf[BUFSZ];

	ksnprintf(buf, sizeof(buf), "%p", (void *)0);
	assert_string_equal(buf, "0x0000000000000000");
	ksnprintf(buf, sizeof(buf), "%p", (void *)(uintptr_t)0xffffffff80001234ull);
	assert_string_equal(buf, "0xffffffff80001234");
	ksnprintf(buf, sizeof(buf), "%p", (void *)(uintptr_t)0xabc);
	assert_string_equal(buf, "0x0000000000000abc");
	ksnprintf(buf, sizeof(buf), "[%20p][%-20p]", (void *)1, (void *)2);
	assert_string_equal(buf, "[  0x0000000000000001][0x0000000000000002  ]");
	assert_int_equal(ksnprintf(NULL, 0, "%p", (void *)buf), 18);
}

static void test_null_string(void **state)
{
	(void)state;
	char buf[BUFSZ];
	const char *nul = NULL;

	raw_format(buf, sizeof(buf), "%s", nul);
	assert_string_equal(buf, "(null)");
	raw_format(buf, sizeof(buf), "[%8s][%-8s][%.3s]", nul, nul, nul);
	assert_string_equal(buf, "[  (null)][(null)  ][(nu]");
}

/* A precision must stop the scan, so an unterminated array is safe to print. */
static void test_precision_bounds_read(void **state)
{
	(void)state;
	char buf[BUFSZ];
	char raw[4] = { 'w', 'x', 'y', 'z' };

	assert_int_equal(ksnprintf(buf, sizeof(buf), "%.4s", raw), 4);
	assert_string_equal(buf, "wxyz");
	assert_int_equal(ksnprintf(buf, sizeof(buf), "%.*s", 2, raw), 2);
	assert_string_equal(buf, "wx");
}

static void test_unknown_conversion(void **state)
{
	(void)state;
	char buf[BUFSZ];
	const char *fmts[] = { "a%qb", "%5q", "%-08.3lq", "end%", "end%l", "%y%d" };
	const char *want[] = { "a%qb", "%5q", "%-08.3lq", "end%", "end%l", "%y7" };

	for (size_t i = 0; i < sizeof(fmts) / sizeof(fmts[0]); i++) {
		int n = ksnprintf(buf, sizeof(buf), fmts[i], 7);

		assert_string_equal(buf, want[i]);
		assert_int_equal(n, (int)strlen(want[i]));
	}
	/* %n is deliberately unsupported: it would write through a pointer argument. */
	assert_int_equal(raw_format(buf, sizeof(buf), "x%n", (int *)NULL), 3);
	assert_string_equal(buf, "x%n");
}

static void test_truncation(void **state)
{
	(void)state;
	char buf[16];

	memset(buf, 'Z', sizeof(buf));
	assert_int_equal(ksnprintf(NULL, 0, "hello %d", 12345), 11);
	assert_int_equal(ksnprintf(buf, 0, "hello"), 5);
	assert_int_equal(buf[0], 'Z');
	assert_int_equal(ksnprintf(buf, 1, "hello"), 5);
	assert_string_equal(buf, "");
	assert_int_equal(ksnprintf(buf, 6, "hello"), 5);
	assert_string_equal(buf, "hello");
	assert_int_equal(ksnprintf(buf, 5, "hello"), 5);
	assert_string_equal(buf, "hell");
	memset(buf, 'Z', sizeof(buf));
	assert_int_equal(ksnprintf(buf, 8, "%20s", "x"), 20);
	assert_string_equal(buf, "       ");
	assert_int_equal(buf[8], 'Z');
	assert_int_equal(ksnprintf(buf, sizeof(buf), "%s", ""), 0);
	assert_string_equal(buf, "");
}

/* The truncated result must be a prefix of the full one, for every size. */
static void test_truncation_prefix(void **state)
{
	(void)state;
	char full[128], part[128];
	int n = ksnprintf(full, sizeof(full), "%-6s|%8.3x|%+d|%p", "ab", 0x1fu, -9, (void *)full);

	for (size_t size = 1; size <= (size_t)n + 2; size++) {
		assert_int_equal(ksnprintf(part, size, "%-6s|%8.3x|%+d|%p", "ab", 0x1fu,
					   -9, (void *)full), n);
		assert_int_equal(strlen(part), size - 1 < (size_t)n ? size - 1 : (size_t)n);
		assert_memory_equal(part, full, strlen(part));
	}
}

struct sink {
	char text[64];
	int n;
};

static void sink_putc(void *ctx, char c)
{
	struct sink *s = ctx;

	if (s->n < (int)sizeof(s->text) - 1)
		s->text[s->n] = c;
	s->n++;
}

static int sink_format(struct sink *s, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = kvformat(sink_putc, s, fmt, ap);
	va_end(ap);
	return n;
}

static void test_kvformat_callback(void **state)
{
	(void)state;
	struct sink s = { .n = 0 };
	int n = sink_format(&s, "cpu%u: %s=%#x", 3u, "cr4", 0x3006a0u);

	s.text[s.n] = '\0';
	assert_int_equal(n, s.n);
	assert_string_equal(s.text, "cpu3: cr4=0x3006a0");
}

static void test_huge_width(void **state)
{
	(void)state;
	char buf[8];

	assert_int_equal(ksnprintf(buf, sizeof(buf), "%100000d", 1), 100000);
	assert_string_equal(buf, "       ");
	/* Absurd widths are clamped rather than overflowing the int count. */
	int n = raw_format(NULL, 0, "%99999999999999999999d", 1);
	assert_true(n > 0);
}

static void test_report(void **state)
{
	(void)state;
	print_message("compared %lu formatted strings against libc\n", compared);
	assert_true(compared > 100000);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_generated_specs),
		cmocka_unit_test(test_generated_lengths),
		cmocka_unit_test(test_star),
		cmocka_unit_test(test_strings_chars),
		cmocka_unit_test(test_literal_cases),
		cmocka_unit_test(test_pointer),
		cmocka_unit_test(test_null_string),
		cmocka_unit_test(test_precision_bounds_read),
		cmocka_unit_test(test_unknown_conversion),
		cmocka_unit_test(test_truncation),
		cmocka_unit_test(test_truncation_prefix),
		cmocka_unit_test(test_kvformat_callback),
		cmocka_unit_test(test_huge_width),
		cmocka_unit_test(test_report),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
