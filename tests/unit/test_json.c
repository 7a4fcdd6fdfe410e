/* Unit tests for kernel/json.c: exact output for each value type, escaping,
 * nesting limits, misuse and overflow reported as NULL, and random documents
 * checked with a small validating parser. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "kernel/json.h"

static char buf[4096];
static struct jw w;

static int setup(void **state)
{
	(void)state;
	memset(buf, 0x5a, sizeof(buf));
	jw_init(&w, buf, sizeof(buf));
	return 0;
}

/* ---- a small strict JSON validator (RFC 8259 grammar, no extensions) ---- */

static bool v_value(const char **p, int depth);

static void v_ws(const char **p)
{
	while (**p == ' ' || **p == '\t' || **p == '\n' || **p == '\r')
		(*p)++;
}

static bool v_lit(const char **p, const char *lit)
{
	size_t n = strlen(lit);

	if (strncmp(*p, lit, n))
		return false;
	*p += n;
	return true;
}

static bool v_hex4(const char *s)
{
	for (int i = 0; i < 4; i++)
		if (!strchr("0123456789abcdefABCDEF", s[i]) || !s[i])
			return false;
	return true;
}

static bool v_string(const char **p)
{
	const char *s = *p;

	if (*s++ != '"')
		return false;
	for (;;) {
		unsigned char c = (unsigned char)*s++;

		if (c == '"')
			break;
		if (c < 0x20)
			return false;
		if (c != '\\')
			continue;
		c = (unsigned char)*s++;
		if (c == 'u') {
			if (!v_hex4(s))
				return false;
			s += 4;
		} else if (!c || !strchr("\"\\/bfnrt", c)) {
			return false;
		}
	}
	*p = s;
	return true;
}

static bool v_digits(const char **p)
{
	const char *s = *p;

	while (**p >= '0' && **p <= '9')
		(*p)++;
	return *p > s;
}

static bool v_number(const char **p)
{
	if (**p == '-')
		(*p)++;
	if (**p == '0')
		(*p)++;
	else if (!v_digits(p))
		return false;
	if (**p == '.') {
		(*p)++;
		if (!v_digits(p))
			return false;
	}
	return true;
}

static bool v_members(const char **p, int depth, char close, bool keyed)
{
	v_ws(p);
	if (**p == close) {
		(*p)++;
		return true;
	}
	for (;;) {
		v_ws(p);
		if (keyed) {
			if (!v_string(p))
				return false;
			v_ws(p);
			if (*(*p)++ != ':')
				return false;
		}
		if (!v_value(p, depth + 1))
			return false;
		v_ws(p);
		if (**p == close) {
			(*p)++;
			return true;
		}
		if (*(*p)++ != ',')
			return false;
	}
}

static bool v_value(const char **p, int depth)
{
	if (depth > 64)
		return false;
	v_ws(p);
	switch (**p) {
	case '{': (*p)++; return v_members(p, depth, '}', true);
	case '[': (*p)++; return v_members(p, depth, ']', false);
	case '"': return v_string(p);
	case 't': return v_lit(p, "true");
	case 'f': return v_lit(p, "false");
	case 'n': return v_lit(p, "null");
	default: return v_number(p);
	}
}

static bool json_valid(const char *s)
{
	if (!v_value(&s, 0))
		return false;
	v_ws(&s);
	return *s == '\0';
}

static void test_validator_itself(void **state)
{
	(void)state;
	assert_true(json_valid("{\"a\":[1,-2,3.5,\"x\\u0001\"],\"b\":{},\"c\":null}"));
	assert_false(json_valid("{\"a\":1,}"));
	assert_false(json_valid("[1 2]"));
	assert_false(json_valid("{\"a\"}"));
	assert_false(json_valid("\"\x01\""));
	assert_false(json_valid("01"));
	assert_false(json_valid("1."));
	assert_false(json_valid("[]]"));
	assert_false(json_valid(""));
}

/* ---- exact output ---- */

static void expect(const char *want)
{
	const char *got = jw_finish(&w);

	assert_non_null(got);
	assert_string_equal(got, want);
	assert_ptr_equal(got, buf);
	assert_true(json_valid(got));
}

static void expect_null(void)
{
	assert_null(jw_finish(&w));
}

static void test_example_record(void **state)
{
	(void)state;
	jw_obj_begin(&w, NULL);
	jw_str(&w, "record", "boot");
	jw_u64(&w, "n", 3);
	jw_null(&w, "fb");
	jw_arr_begin(&w, "a");
	jw_u64(&w, NULL, 1);
	jw_u64(&w, NULL, 2);
	jw_arr_end(&w);
	jw_obj_end(&w);
	expect("{\"record\":\"boot\",\"n\":3,\"fb\":null,\"a\":[1,2]}");
}

static void test_scalars(void **state)
{
	(void)state;
	jw_obj_begin(&w, NULL);
	jw_u64(&w, "u0", 0);
	jw_u64(&w, "umax", UINT64_MAX);
	jw_s64(&w, "s0", 0);
	jw_s64(&w, "neg", -42);
	jw_s64(&w, "smin", INT64_MIN);
	jw_s64(&w, "smax", INT64_MAX);
	jw_bool(&w, "t", true);
	jw_bool(&w, "f", false);
	jw_str(&w, "nul", NULL);
	jw_str(&w, "empty", "");
	jw_hex(&w, "h0", 0);
	jw_hex(&w, "h10", 0x10);
	jw_hex(&w, "cr3", 0xdeadbeefull);
	jw_hex(&w, "hmax", UINT64_MAX);
	jw_hex(&w, "kva", 0xffffffff80000000ull);
	jw_obj_end(&w);
	expect("{\"u0\":0,\"umax\":18446744073709551615,\"s0\":0,\"neg\":-42,"
	       "\"smin\":-9223372036854775808,\"smax\":9223372036854775807,"
	       "\"t\":true,\"f\":false,\"nul\":null,\"empty\":\"\",\"h0\":\"0x0\","
	       "\"h10\":\"0x10\",\"cr3\":\"0xdeadbeef\",\"hmax\":\"0xffffffffffffffff\","
	       "\"kva\":\"0xffffffff80000000\"}");
}

static void test_escaping(void **state)
{
	(void)state;
	jw_arr_begin(&w, NULL);
	jw_str(&w, NULL, "q\"b\\s/n\nt\tr\r\x01\x1f\x7f|\xc3\xa9\xff");
	jw_str(&w, NULL, "\b\f");
	jw_arr_end(&w);
	expect("[\"q\\\"b\\\\s/n\\nt\\tr\\r\\u0001\\u001f\x7f|\xc3\xa9\\ufffd\","
	       "\"\\u0008\\u000c\"]");
}

/* Found by fuzzing (tests/fuzz/fuzz_json.c): bytes >= 0x80 were copied as they came, so a
 * string that was not UTF-8 (a loader's command line, a CPUID brand) made the record invalid
 * JSON (RFC 8259 8.1). Valid sequences of every length still pass through; each byte that
 * starts none becomes U+FFFD. */
static void test_invalid_utf8(void **state)
{
	(void)state;
	/* in order: 2, 3 and 4 bytes and U+10FFFF; never valid and lone continuation bytes; an
	 * overlong '/'; a surrogate (U+D800); past U+10FFFF; cut short by the end */
	jw_obj_begin(&w, NULL);
	jw_str(&w, "\xc3(", "\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\xf4\x8f\xbf\xbf|\xff\xfe\x80\xbf|"
		 "\xc0\xaf\xe0\x80\xaf|\xed\xa0\x80|\xf4\x90\x80\x80\xf5|a\xe2\x82");
	jw_obj_end(&w);
	expect("{\"\\ufffd(\":\"\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\xf4\x8f\xbf\xbf|"
	       "\\ufffd\\ufffd\\ufffd\\ufffd|\\ufffd\\ufffd\\ufffd\\ufffd\\ufffd|"
	       "\\ufffd\\ufffd\\ufffd|\\ufffd\\ufffd\\ufffd\\ufffd\\ufffd|a\\ufffd\\ufffd\"}");
}

static void test_key_escaping(void **state)
{
	(void)state;
	jw_obj_begin(&w, NULL);
	jw_u64(&w, "a\"b", 1);
	jw_u64(&w, "c\\\n", 2);
	jw_u64(&w, "", 3);
	jw_obj_end(&w);
	expect("{\"a\\\"b\":1,\"c\\\\\\n\":2,\"\":3}");
}

struct fixed_case {
	s64 v;
	int decimals;
	const char *want;
};

static void test_fixed(void **state)
{
	(void)state;
	static const struct fixed_case cases[] = {
		{ 12345, 3, "12.345" }, { -5, 2, "-0.05" }, { 0, 2, "0.00" }, { 0, 0, "0" },
		{ 5, 0, "5" }, { -5, 0, "-5" }, { 100, 2, "1.00" }, { 7, 9, "0.000000007" },
		{ -1, 1, "-0.1" }, { 10, 1, "1.0" }, { 999999999, 9, "0.999999999" },
		{ 1000000000, 9, "1.000000000" }, { -1000000001, 9, "-1.000000001" },
		{ INT64_MIN, 9, "-9223372036.854775808" }, { INT64_MAX, 9, "9223372036.854775807" },
		{ INT64_MIN, 0, "-9223372036854775808" }, { 123, 5, "0.00123" },
	};
	char want[64];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		jw_init(&w, buf, sizeof(buf));
		jw_fixed(&w, NULL, cases[i].v, cases[i].decimals);
		expect(cases[i].want);
		jw_init(&w, buf, sizeof(buf));
		jw_obj_begin(&w, NULL);
		jw_fixed(&w, "x", cases[i].v, cases[i].decimals);
		jw_obj_end(&w);
		snprintf(want, sizeof(want), "{\"x\":%s}", cases[i].want);
		expect(want);
	}
}

static void test_fixed_bad_decimals(void **state)
{
	(void)state;
	static const int bad[] = { -1, 10, 100, INT32_MIN };

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		jw_init(&w, buf, sizeof(buf));
		jw_arr_begin(&w, NULL);
		jw_fixed(&w, NULL, 1, bad[i]);
		jw_arr_end(&w);
		expect_null();
	}
}

static void test_nesting(void **state)
{
	(void)state;
	jw_obj_begin(&w, NULL);
	jw_obj_begin(&w, "empty_obj");
	jw_obj_end(&w);
	jw_arr_begin(&w, "empty_arr");
	jw_arr_end(&w);
	jw_arr_begin(&w, "cpus");
	for (u64 i = 0; i < 3; i++) {
		jw_obj_begin(&w, NULL);
		jw_u64(&w, "id", i);
		jw_arr_begin(&w, "v");
		jw_arr_begin(&w, NULL);
		jw_arr_end(&w);
		jw_bool(&w, NULL, i & 1);
		jw_arr_end(&w);
		jw_obj_end(&w);
	}
	jw_arr_end(&w);
	jw_u64(&w, "after", 9);
	jw_obj_end(&w);
	expect("{\"empty_obj\":{},\"empty_arr\":[],\"cpus\":[{\"id\":0,\"v\":[[],false]},"
	       "{\"id\":1,\"v\":[[],true]},{\"id\":2,\"v\":[[],false]}],\"after\":9}");
}

static void test_top_level_scalars(void **state)
{
	(void)state;
	jw_u64(&w, NULL, 5);
	expect("5");
	jw_init(&w, buf, sizeof(buf));
	jw_str(&w, NULL, "hi");
	expect("\"hi\"");
	jw_init(&w, buf, sizeof(buf));
	jw_arr_begin(&w, NULL);
	jw_arr_end(&w);
	expect("[]");
}

static void test_max_depth(void **state)
{
	(void)state;
	char want[2 * JW_MAX_DEPTH + 8];
	size_t n = 0;

	for (int i = 0; i < JW_MAX_DEPTH; i++) {
		jw_arr_begin(&w, NULL);
		want[n++] = '[';
	}
	for (int i = 0; i < JW_MAX_DEPTH; i++) {
		jw_arr_end(&w);
		want[n++] = ']';
	}
	want[n] = '\0';
	expect(want);

	jw_init(&w, buf, sizeof(buf));
	for (int i = 0; i < JW_MAX_DEPTH + 1; i++)
		jw_obj_begin(&w, i ? "k" : NULL);
	for (int i = 0; i < JW_MAX_DEPTH + 1; i++)
		jw_obj_end(&w);
	expect_null();
}

/* Each misuse case gets a fresh writer; all must end in NULL. */
static void test_misuse(void **state)
{
	(void)state;
	jw_obj_begin(&w, NULL);
	expect_null();					/* unclosed */

	jw_init(&w, buf, sizeof(buf));
	jw_obj_begin(&w, NULL);
	jw_obj_end(&w);
	jw_obj_end(&w);
	expect_null();					/* extra close */

	jw_init(&w, buf, sizeof(buf));
	jw_arr_end(&w);
	jw_arr_begin(&w, NULL);
	jw_arr_end(&w);
	expect_null();					/* close before open */

	jw_init(&w, buf, sizeof(buf));
	jw_obj_begin(&w, NULL);
	jw_arr_end(&w);
	expect_null();					/* mismatched close */

	jw_init(&w, buf, sizeof(buf));
	jw_arr_begin(&w, NULL);
	jw_obj_end(&w);
	expect_null();

	jw_init(&w, buf, sizeof(buf));
	jw_arr_begin(&w, NULL);
	jw_u64(&w, "key", 1);
	jw_arr_end(&w);
	expect_null();					/* key inside array */

	jw_init(&w, buf, sizeof(buf));
	jw_obj_begin(&w, NULL);
	jw_u64(&w, NULL, 1);
	jw_obj_end(&w);
	expect_null();					/* missing key in object */

	jw_init(&w, buf, sizeof(buf));
	jw_obj_begin(&w, "top");
	jw_obj_end(&w);
	expect_null();					/* key at top level */

	jw_init(&w, buf, sizeof(buf));
	jw_obj_begin(&w, NULL);
	jw_obj_end(&w);
	jw_obj_begin(&w, NULL);
	jw_obj_end(&w);
	expect_null();					/* two top-level values */

	jw_init(&w, buf, sizeof(buf));
	expect_null();					/* nothing written */
}

static void build_sample(struct jw *jw)
{
	jw_obj_begin(jw, NULL);
	jw_str(jw, "record", "tlb\n\"x\"");
	jw_arr_begin(jw, "l");
	jw_s64(jw, NULL, -123456);
	jw_fixed(jw, NULL, -5, 2);
	jw_hex(jw, NULL, 0xabc);
	jw_obj_begin(jw, NULL);
	jw_obj_end(jw);
	jw_arr_end(jw);
	jw_bool(jw, "ok", true);
	jw_obj_end(jw);
}

/* Every capacity short of length + 1 must give NULL without writing past cap. */
static void test_overflow_every_size(void **state)
{
	(void)state;
	char full[256];
	size_t len;

	jw_init(&w, full, sizeof(full));
	build_sample(&w);
	assert_non_null(jw_finish(&w));
	len = strlen(full);
	assert_true(json_valid(full));

	for (size_t cap = 0; cap <= len + 1; cap++) {
		memset(buf, 0x5a, sizeof(buf));
		jw_init(&w, buf, cap);
		build_sample(&w);
		const char *out = jw_finish(&w);

		if (cap <= len) {
			assert_null(out);
			assert_true(w.overflow);
		} else {
			assert_non_null(out);
			assert_string_equal(out, full);
		}
		for (size_t i = cap; i < sizeof(buf); i++)
			assert_int_equal(buf[i], 0x5a);
	}
	jw_init(&w, NULL, 100);
	build_sample(&w);
	assert_null(jw_finish(&w));
}

/* ---- random documents ---- */

static u32 rng_state = 2463534242u;

static u32 rng(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 17;
	rng_state ^= rng_state << 5;
	return rng_state;
}

static void random_string(char *s, size_t max)
{
	size_t n = rng() % max;

	for (size_t i = 0; i < n; i++)
		s[i] = (char)(1 + rng() % 255);
	s[n] = '\0';
}

static void random_value(struct jw *jw, const char *key, int depth)
{
	char s[24];
	u32 kind = rng() % (depth < JW_MAX_DEPTH ? 10 : 8);
	u32 n;

	switch (kind) {
	case 0: random_string(s, sizeof(s)); jw_str(jw, key, s); break;
	case 1: jw_u64(jw, key, (u64)rng() << 32 | rng()); break;
	case 2: jw_s64(jw, key, (s64)((u64)rng() << 32 | rng())); break;
	case 3: jw_bool(jw, key, rng() & 1); break;
	case 4: jw_null(jw, key); break;
	case 5: jw_hex(jw, key, (u64)rng() << (rng() % 33)); break;
	case 6: jw_fixed(jw, key, (s64)((u64)rng() << 32 | rng()), (int)(rng() % 10)); break;
	case 7: jw_str(jw, key, NULL); break;
	case 8:
		jw_arr_begin(jw, key);
		for (n = rng() % 4; n; n--)
			random_value(jw, NULL, depth + 1);
		jw_arr_end(jw);
		break;
	default:
		jw_obj_begin(jw, key);
		for (n = rng() % 4; n; n--) {
			random_string(s, 8);
			random_value(jw, s, depth + 1);
		}
		jw_obj_end(jw);
		break;
	}
}

static void test_random_documents_valid(void **state)
{
	(void)state;
	static char big[1 << 16];
	unsigned int ok = 0;

	for (int i = 0; i < 3000; i++) {
		jw_init(&w, big, sizeof(big));
		/* Mostly objects at the top, like real records, sometimes a bare value. */
		if (i % 8) {
			jw_obj_begin(&w, NULL);
			for (int m = 0; m < 6; m++)
				random_value(&w, m & 1 ? "odd" : "even", 1);
			jw_obj_end(&w);
		} else {
			random_value(&w, NULL, 0);
		}
		const char *out = jw_finish(&w);

		assert_non_null(out);
		if (!json_valid(out))
			fail_msg("invalid JSON: %s", out);
		ok++;
	}
	assert_int_equal(ok, 3000);
}

#define T(f) cmocka_unit_test_setup(f, setup)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_validator_itself),
		T(test_example_record),
		T(test_scalars),
		T(test_escaping),
		T(test_invalid_utf8),
		T(test_key_escaping),
		T(test_fixed),
		T(test_fixed_bad_decimals),
		T(test_nesting),
		T(test_top_level_scalars),
		T(test_max_depth),
		T(test_misuse),
		T(test_overflow_every_size),
		T(test_random_documents_valid),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
