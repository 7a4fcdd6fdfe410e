/* The one table of kernel command-line options. Adding an option is one entry here plus its
 * field in struct config. */
#include "kernel/options.h"
#include "kernel/cmdline.h"
#include "kernel/console.h"
#include "kernel/exit.h"
#include "smp/cpumask.h"

struct config cfg = {
	.mode = MODE_INFO,
	.tests = "all",
	.fault = FAULT_NONE,
	.cpus = MAX_CPUS,
	.ap_timeout_ms = 1000,
	.ipi_iters = 200,
};

static const char *const modes[] = { "info", "selftest", NULL };
static const char *const faults[] = { "none", "ud", "gp", "pf", "de", "df", "bp", NULL };

static const struct opt options[] = {
	{ "mode", OPT_ENUM, "what to run: boot information only, or the in-guest self-tests",
	  modes, 0, 0, &cfg.mode },
	{ "test", OPT_STR, "self-tests to run: all, or a comma-separated list of names",
	  NULL, 0, 0, &cfg.tests },
	{ "fault", OPT_ENUM, "trigger this exception on purpose after boot (tests the reporting)",
	  faults, 0, 0, &cfg.fault },
	{ "pause", OPT_BOOL, "before exiting, wait for a byte on COM1 (lets the host grab the screen)",
	  NULL, 0, 0, &cfg.pause },
	{ "cpus", OPT_UINT, "bring up at most this many CPUs", NULL, 1, MAX_CPUS, &cfg.cpus },
	{ "ap_timeout_ms", OPT_UINT, "how long an AP may take to check in", NULL, 1, 60000,
	  &cfg.ap_timeout_ms },
	{ "ipi_iters", OPT_UINT, "round trips per target in the IPI floor benchmark", NULL, 1, 10000,
	  &cfg.ipi_iters },
};

static char scratch[1024];

void options_parse(const char *cmdline)
{
	char err[256];

	if (cmdline_parse(cmdline, options, ARRAY_SIZE(options), scratch, sizeof(scratch), err,
			  sizeof(err))) {
		kprintf("%s\n", err);
		kernel_exit(EXIT_USAGE);
	}
}

void options_print_usage(void)
{
	char buf[2048];

	cmdline_usage(buf, sizeof(buf), options, ARRAY_SIZE(options));
	kprintf("%s", buf);
}
