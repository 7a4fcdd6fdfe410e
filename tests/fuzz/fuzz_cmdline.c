/* libFuzzer target: the kernel command line (kernel/cmdline.c). kernel/options.c's real table
 * points into the kernel's config and needs the registered backends, so this table restates
 * its shape: every option type, the real keys, ranges up to UINT64_MAX and an option that is
 * validated but not stored.
 *
 * Input: scratch length, error buffer length, then the command line itself.
 * Properties: a failed parse changes no destination and leaves a one-line message; a successful
 * one stores only values the table allows, strings inside the scratch area; the values stored,
 * written back out as a command line, parse to the same values; the usage listing behaves like
 * snprintf at every buffer size. */
#include "tests/fuzz/fuzz.h"

#include <inttypes.h>

#include "kernel/cmdline.h"

static const char *const modes[] = { "bench", "info", "selftest", NULL };
static const char *const faults[] = { "none", "ud", "gp", "pf", "de", "df", "bp", NULL };
static const char *const backends[] = { "auto", "all", "ipi", "hv-flush", "kvm-flush", NULL };
static const char *const workloads[] = { "remap", "protect", "unmap", "cow", NULL };

struct cfg {
	int mode, fault;
	const char *test, *label;
	bool pause, full;
	u64 cpus, iters, seed, lose_cpu;
	struct opt_list backends, workloads, pages;
};

static struct cfg cfg;

static const struct cfg defaults = {
	.mode = 0, .fault = 0, .test = "all", .label = "", .cpus = 64, .iters = 1000,
	.backends = { 1, { 0 } }, .workloads = { 1, { 0 } }, .pages = { 2, { 1, 64 } },
};

static const struct opt opts[] = {
	{ .key = "mode", .type = OPT_ENUM, .choices = modes, .dst = &cfg.mode, .help = "what" },
	{ .key = "test", .type = OPT_STR, .dst = &cfg.test, .help = "self-tests" },
	{ .key = "fault", .type = OPT_ENUM, .choices = faults, .dst = &cfg.fault },
	{ .key = "pause", .type = OPT_BOOL, .dst = &cfg.pause },
	{ .key = "cpus", .type = OPT_UINT, .min = 1, .max = 64, .dst = &cfg.cpus },
	{ .key = "lose_cpu", .type = OPT_UINT, .max = 0xfffffffe, .dst = &cfg.lose_cpu },
	{ .key = "iters", .type = OPT_UINT, .min = 1, .max = 10000000, .dst = &cfg.iters },
	{ .key = "seed", .type = OPT_UINT, .max = UINT64_MAX, .dst = &cfg.seed },
	{ .key = "backend", .type = OPT_ENUM_LIST, .choices = backends, .dst = &cfg.backends },
	{ .key = "workload", .type = OPT_ENUM_LIST, .choices = workloads, .dst = &cfg.workloads },
	{ .key = "pages", .type = OPT_UINT_LIST, .min = 1, .max = 16384, .dst = &cfg.pages },
	{ .key = "full", .type = OPT_BOOL, .dst = &cfg.full },
	{ .key = "label", .type = OPT_STR, .dst = &cfg.label },
	{ .key = "quiet", .type = OPT_BOOL, .help = "accepted, not stored" },
	{ .key = "nochoices", .type = OPT_ENUM, .help = "an enum without a choice list" },
};
#define NOPTS ARRAY_SIZE(opts)

static size_t nchoices(const char *const *c)
{
	size_t n = 0;

	while (c && c[n])
		n++;
	return n;
}

/* A stored string points at a terminated copy inside scratch, or is still the default. */
static void check_str(const char *s, const char *dflt, const char *scratch, size_t len)
{
	if (s == dflt)
		return;
	FUZZ_CHECK(s >= scratch && s < scratch + len);
	FUZZ_CHECK(memchr(s, '\0', scratch + len - s) != NULL);
	FUZZ_CHECK(!strpbrk(s, " \t\r\n"));
}

static void check_list(const struct opt_list *l, const struct opt *o)
{
	FUZZ_CHECK(l->n >= 1 && l->n <= OPT_LIST_MAX);
	for (u32 i = 0; i < l->n; i++) {
		if (o->type == OPT_ENUM_LIST)
			FUZZ_CHECK(l->v[i] < nchoices(o->choices));
		else
			FUZZ_CHECK(l->v[i] >= o->min && l->v[i] <= o->max);
	}
}

static void check_values(const char *scratch, size_t len)
{
	FUZZ_CHECK(cfg.mode >= 0 && (size_t)cfg.mode < nchoices(modes));
	FUZZ_CHECK(cfg.fault >= 0 && (size_t)cfg.fault < nchoices(faults));
	FUZZ_CHECK(cfg.cpus >= 1 && cfg.cpus <= 64);
	FUZZ_CHECK(cfg.lose_cpu <= 0xfffffffe);
	FUZZ_CHECK(cfg.iters >= 1 && cfg.iters <= 10000000);
	check_str(cfg.test, defaults.test, scratch, len);
	check_str(cfg.label, defaults.label, scratch, len);
	check_list(&cfg.backends, &opts[8]);
	check_list(&cfg.workloads, &opts[9]);
	check_list(&cfg.pages, &opts[10]);
}

static size_t put_list(char *p, size_t room, const char *key, const struct opt_list *l,
		       const char *const *names)
{
	size_t n = (size_t)snprintf(p, room, " %s=", key);

	for (u32 i = 0; i < l->n && n < room; i++) {
		if (names)
			n += (size_t)snprintf(p + n, room - n, "%s%s", i ? "," : "", names[l->v[i]]);
		else
			n += (size_t)snprintf(p + n, room - n, "%s%" PRIu64, i ? "," : "", l->v[i]);
	}
	return n;
}

/* The stored configuration as a command line of its own, every option spelled out. */
static void render(char *line, size_t room)
{
	size_t n = (size_t)snprintf(line, room,
				    "/boot/tlbstorm.elf mode=%s test=%s fault=%s pause=%s cpus=%" PRIu64
				    " lose_cpu=0x%" PRIx64 " iters=%" PRIu64 " seed=%" PRIu64
				    " full=%s",
				    modes[cfg.mode], cfg.test, faults[cfg.fault], cfg.pause ? "yes" : "0",
				    cfg.cpus, cfg.lose_cpu, cfg.iters, cfg.seed, cfg.full ? "on" : "false");

	if (*cfg.label && n < room)
		n += (size_t)snprintf(line + n, room - n, " label=%s", cfg.label);
	if (n < room)
		n += put_list(line + n, room - n, "backend", &cfg.backends, backends);
	if (n < room)
		n += put_list(line + n, room - n, "workload", &cfg.workloads, workloads);
	if (n < room)
		put_list(line + n, room - n, "pages", &cfg.pages, NULL);
	FUZZ_CHECK(n < room);
}

static bool same_cfg(const struct cfg *a, const struct cfg *b)
{
	return a->mode == b->mode && a->fault == b->fault && !strcmp(a->test, b->test) &&
	       !strcmp(a->label, b->label) && a->pause == b->pause && a->full == b->full &&
	       a->cpus == b->cpus && a->iters == b->iters && a->seed == b->seed &&
	       a->lose_cpu == b->lose_cpu &&
	       !memcmp(&a->backends, &b->backends, sizeof(a->backends)) &&
	       !memcmp(&a->workloads, &b->workloads, sizeof(a->workloads)) &&
	       !memcmp(&a->pages, &b->pages, sizeof(a->pages));
}

/* Nothing stored at all: even the string pointers are the defaults' own. */
static bool untouched(void)
{
	return cfg.test == defaults.test && cfg.label == defaults.label && same_cfg(&cfg, &defaults);
}

static void check_round_trip(void)
{
	static char line[8192], scratch[4096], err[512];
	struct cfg first = cfg;

	render(line, sizeof(line));
	cfg = defaults;
	if (cmdline_parse(line, opts, NOPTS, scratch, sizeof(scratch), err, sizeof(err))) {
		fprintf(stderr, "re-parse of \"%s\": %s\n", line, err);
		FUZZ_CHECK(!"the stored values parse again");
	}
	FUZZ_CHECK(same_cfg(&first, &cfg));
}

static void check_usage(size_t len)
{
	static char full[4096];
	char *buf = malloc(len ? len : 1);
	int n = cmdline_usage(NULL, 0, opts, NOPTS);

	FUZZ_CHECK(n > 0 && (size_t)n < sizeof(full));
	FUZZ_CHECK(cmdline_usage(full, sizeof(full), opts, NOPTS) == n);
	FUZZ_CHECK(strlen(full) == (size_t)n);
	FUZZ_CHECK(cmdline_usage(buf, len, opts, NOPTS) == n);
	if (len) {
		size_t kept = MIN(len - 1, (size_t)n);

		FUZZ_CHECK(strlen(buf) == kept && !memcmp(buf, full, kept));
	}
	free(buf);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fz f = fz_init(data, size);
	size_t scratch_len = fz_u8(&f), err_len = fz_u16(&f) % 512;
	char *line = malloc(f.left + 1), *scratch = malloc(scratch_len + 1), *err = NULL;
	int rc;

	memcpy(line, f.p, f.left);
	line[f.left] = '\0'; /* an input NUL ends the line early, as it would in the kernel */
	if (err_len)
		err = malloc(err_len);
	cfg = defaults;
	rc = cmdline_parse(line, opts, NOPTS, scratch_len ? scratch : NULL, scratch_len, err,
			   err_len);
	FUZZ_CHECK(rc == 0 || rc == -1);
	fuzz_check_one_line(err, err_len);
	if (rc) {
		FUZZ_CHECK(untouched());
		FUZZ_CHECK(err_len < 2 || err[0]);
	} else {
		FUZZ_CHECK(!err || !err[0]);
		check_values(scratch, scratch_len);
		check_round_trip();
	}
	check_usage(err_len);
	free(line);
	free(scratch);
	free(err);
	return 0;
}
