/* The self-test runner: selects tests by name, runs each, prints one line per check and per
 * test plus a "selftest" record, and folds the results into one verdict (most severe wins). */
#include "kernel/selftest.h"
#include "kernel/console.h"
#include "kernel/exit.h"
#include "kernel/printf.h"
#include "kernel/record.h"
#include "kernel/string.h"

#include <stdarg.h>

extern const struct selftest __selftests_start[], __selftests_end[];

static const char *const result_names[] = {
	[TEST_PASS] = "pass", [TEST_SKIP] = "skip", [TEST_ERROR] = "error", [TEST_FAIL] = "fail",
};
static const int result_codes[] = { EXIT_PASS, EXIT_SKIP, EXIT_ERROR, EXIT_FAIL };

static void set_result(struct test_ctx *t, enum test_result r, const char *fmt, va_list ap)
{
	if (r <= t->result && t->result != TEST_PASS)
		return; /* keep the first detail of the most severe result */
	t->result = r;
	kvsnprintf(t->detail, sizeof(t->detail), fmt, ap);
}

bool selftest_check(struct test_ctx *t, bool ok, const char *file, int line, const char *fmt, ...)
{
	char what[160];
	va_list ap;

	va_start(ap, fmt);
	kvsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	t->checks++;
	if (ok) {
		kprintf("  ok    %s\n", what);
		return true;
	}
	t->failed++;
	kprintf("  FAIL  %s (%s:%d)\n", what, file, line);
	if (t->result != TEST_FAIL) {
		t->result = TEST_FAIL;
		ksnprintf(t->detail, sizeof(t->detail), "%s (%s:%d)", what, file, line);
	}
	return false;
}

void selftest_skip(struct test_ctx *t, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	set_result(t, TEST_SKIP, fmt, ap);
	va_end(ap);
}

void selftest_error(struct test_ctx *t, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	set_result(t, TEST_ERROR, fmt, ap);
	va_end(ap);
}

/* Is `name` in the comma-separated list (or is the list "all")? */
static bool selected(const char *list, const char *name)
{
	size_t n = strlen(name);

	if (!strcmp(list, "all"))
		return true;
	for (const char *p = list; *p;) {
		const char *comma = strchr(p, ',');
		size_t len = comma ? (size_t)(comma - p) : strlen(p);

		if (len == n && !strncmp(p, name, n))
			return true;
		p += len + (comma ? 1 : 0);
	}
	return false;
}

static const struct selftest *find(const char *name, size_t len)
{
	for (const struct selftest *s = __selftests_start; s < __selftests_end; s++)
		if (strlen(s->name) == len && !strncmp(s->name, name, len))
			return s;
	return NULL;
}

/* Every name in the list must exist: a typo must not turn into "nothing ran, pass". */
static void validate_selection(const char *list)
{
	if (!strcmp(list, "all"))
		return;
	for (const char *p = list;;) {
		const char *comma = strchr(p, ',');
		size_t len = comma ? (size_t)(comma - p) : strlen(p);

		if (!find(p, len)) {
			kprintf("cmdline: unknown test '%.*s' (valid:", (int)len, p);
			for (const struct selftest *s = __selftests_start; s < __selftests_end; s++)
				kprintf("%s %s", s == __selftests_start ? "" : ",", s->name);
			kprintf(")\n");
			kernel_exit(EXIT_USAGE);
		}
		if (!comma)
			return;
		p = comma + 1;
	}
}

static void test_record(const struct selftest *s, const struct test_ctx *t)
{
	char buf[512], id[CASE_ID_MAX];
	struct jw w;

	record_begin(&w, buf, sizeof(buf), "selftest");
	jw_str(&w, "name", s->name);
	jw_str(&w, "result", result_names[t->result]);
	jw_u64(&w, "checks", t->checks);
	jw_u64(&w, "failed", t->failed);
	jw_str(&w, "detail", t->detail);
	record_end(&w);
	ksnprintf(id, sizeof(id), "selftest.%s", s->name);
	record_case(id, t->result == TEST_ERROR ? "fail" : result_names[t->result], t->checks, "checks");
}

int selftest_run(const char *selection)
{
	int verdict = EXIT_PASS;
	u32 ran = 0;

	validate_selection(selection);
	for (const struct selftest *s = __selftests_start; s < __selftests_end; s++) {
		struct test_ctx t = { .result = TEST_PASS };

		if (!selected(selection, s->name))
			continue;
		kprintf("selftest: %s: %s\n", s->name, s->what);
		s->fn(&t);
		kprintf("selftest: %s %s%s%s\n", result_names[t.result], s->name, t.detail[0] ? ": " : "",
			t.detail);
		test_record(s, &t);
		verdict = exit_worse(verdict, result_codes[t.result]);
		ran++;
	}
	kprintf("selftest: %u tests, verdict %s\n", ran, exit_code_name(verdict));
	return verdict;
}
