/* Ending a run: print the verdict (text and record), optionally wait for the host to look at the
 * screen, then leave through isa-debug-exit (QEMU), ACPI S5 (anywhere else), or halt. */
#include "kernel/exit.h"
#include "acpi/acpi.h"
#include "kernel/console.h"
#include "kernel/record.h"
#include "kernel/string.h"
#include "kernel/x86.h"

#define PAUSE_SECONDS 60

static const char *const code_names[] = {
	[EXIT_PASS] = "pass", [EXIT_FAIL] = "fail", [EXIT_USAGE] = "usage",
	[EXIT_SKIP] = "skip", [EXIT_ERROR] = "error",
};

/* Severity rank for "most severe wins": pass < skip < error < fail (usage never mixes). */
static const int severity[] = {
	[EXIT_PASS] = 0, [EXIT_SKIP] = 1, [EXIT_ERROR] = 2, [EXIT_FAIL] = 3, [EXIT_USAGE] = 4,
};

const char *exit_code_name(int code)
{
	return code >= 0 && code < (int)ARRAY_SIZE(code_names) ? code_names[code] : "unknown";
}

int exit_worse(int a, int b)
{
	return severity[a] >= severity[b] ? a : b;
}

static const char *detection;
static bool pause_before_exit;

void exit_set_pause(bool pause)
{
	pause_before_exit = pause;
}

void exit_set_detection(const char *status)
{
	detection = status;
}

static void verdict_record(int code)
{
	char buf[160];
	struct jw w;

	record_begin(&w, buf, sizeof(buf), "verdict");
	jw_str(&w, "verdict", exit_code_name(code));
	jw_u64(&w, "code", code);
	if (detection)
		jw_str(&w, "detection", detection);
	else
		jw_null(&w, "detection");
	record_end(&w);
}

void kernel_exit(int code)
{
	static int exiting;

	if (__atomic_fetch_add(&exiting, 1, __ATOMIC_RELAXED)) {
		/* A second exit (another CPU, or a fault while exiting): do not print again. */
		outl(DEBUG_EXIT_IOPORT, EXIT_ERROR);
		for (;;)
			hlt();
	}
	verdict_record(code);
	/* A pass is never presented as evidence that was not gathered. */
	kprintf("tlbstorm: verdict %s%s (exit %d)\n", exit_code_name(code),
		code == EXIT_PASS && detection && !strcmp(detection, "not shown") ? ", detection not shown" : "",
		code);
	if (pause_before_exit) {
		cprintf(CON_SERIAL, "TLBSTORM-PAUSE\n");
		if (!console_wait_input(PAUSE_SECONDS))
			kprintf("tlbstorm: nobody answered the pause within %d s; going on\n", PAUSE_SECONDS);
	}
	console_flush();
	outl(DEBUG_EXIT_IOPORT, code);
	/* Still here: not QEMU with isa-debug-exit. */
	acpi_poweroff();
	kprintf("tlbstorm: could not power off; halted\n");
	console_flush();
	cli();
	for (;;)
		hlt();
}
