/* In-guest self-tests. Adding one is one file in tests/guest/ with a SELFTEST() line: the linker
 * gathers them into one table (linker.ld: .selftests), sorted by name. */
#ifndef KERNEL_SELFTEST_H
#define KERNEL_SELFTEST_H

#include "kernel/types.h"

/* Results, least to most severe (most severe wins). */
enum test_result { TEST_PASS, TEST_SKIP, TEST_ERROR, TEST_FAIL };

struct test_ctx {
	enum test_result result;
	u32 checks, failed;
	char detail[160]; /* first failure or the skip reason */
};

struct selftest {
	const char *name;
	const char *what;
	void (*fn)(struct test_ctx *t);
};

#define SELFTEST(name_, what_, fn_)                                                               \
	static const struct selftest selftest_##name_                                              \
		__attribute__((used, section(".selftests." #name_), aligned(8))) = { #name_, what_, fn_ }

/* Record one check: prints one line and, if it failed, marks the test failed. */
#define CHECK(t, cond, ...) selftest_check((t), (cond), __FILE__, __LINE__, __VA_ARGS__)
__attribute__((format(printf, 5, 6))) bool selftest_check(struct test_ctx *t, bool ok, const char *file,
							  int line, const char *fmt, ...);
/* The environment lacks something the test needs. */
__attribute__((format(printf, 2, 3))) void selftest_skip(struct test_ctx *t, const char *fmt, ...);
/* The test itself could not run properly. */
__attribute__((format(printf, 2, 3))) void selftest_error(struct test_ctx *t, const char *fmt, ...);

/* Run the tests selection ("all" or a comma-separated list of names) picks; returns the verdict. */
int selftest_run(const char *selection);

#endif
