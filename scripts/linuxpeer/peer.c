/* The Linux peer's plumbing (scripts/linuxpeer/peer.h): lines and records on stdout, the
 * verdict, the TSC, and the CPUs it runs on. */
#define _GNU_SOURCE
#include <errno.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "kernel/exit.h"
#include "kernel/json.h"
#include "kernel/record.h"
#include "kernel/stats.h"
#include "scripts/linuxpeer/peer.h"

/* ---- output */

/* One line to stdout (the serial console) in one write, so lines never interleave. */
void out(const char *fmt, ...)
{
	char line[512];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n >= sizeof(line))
		n = sizeof(line) - 1;
	if (write(STDOUT_FILENO, line, (size_t)n) < 0)
		return;
}

/* kernel/record.h's interface, printing to stdout instead of COM1. */
void record_begin(struct jw *w, char *buf, size_t len, const char *kind)
{
	jw_init(w, buf, len);
	jw_obj_begin(w, NULL);
	jw_str(w, "record", kind);
}

void record_end(struct jw *w)
{
	static char line[sizeof(RECORD_MARKER) + RECORD_MAX * 2];
	const char *text;
	size_t n;

	jw_obj_end(w);
	text = jw_finish(w);
	if (!text || strlen(text) + sizeof(RECORD_MARKER) > sizeof(line))
		text = "{\"record\":\"error\",\"detail\":\"record too large or malformed\"}";
	/* marker, text and newline in one write (only the main thread prints records) */
	n = (size_t)snprintf(line, sizeof(line), "%s%s\n", RECORD_MARKER, text);
	if (write(STDOUT_FILENO, line, n) < 0)
		return;
}

static const char *const verdict_names[] = {
	[EXIT_PASS] = "pass", [EXIT_FAIL] = "fail", [EXIT_USAGE] = "usage",
	[EXIT_SKIP] = "skip", [EXIT_ERROR] = "error",
};

__attribute__((noreturn)) void finish(int code)
{
	char buf[128];
	struct jw w;

	record_begin(&w, buf, sizeof(buf), "verdict");
	jw_str(&w, "verdict", verdict_names[code]);
	jw_u64(&w, "code", (u64)code);
	jw_null(&w, "detection"); /* no oracle here: no claim either way (docs/records.md) */
	record_end(&w);
	out("tlbstorm: verdict %s (exit %d)\n", verdict_names[code], code);
	_exit(code);
}

__attribute__((noreturn)) void die(const char *what)
{
	out("tlbpeer: error: %s: %s\n", what, strerror(errno));
	finish(EXIT_ERROR);
}

/* ---- time */

u64 tsc_khz;

u64 to_ns(u64 cycles)
{
	return (u64)((unsigned __int128)cycles * 1000000 / tsc_khz);
}

s64 mono_raw_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC_RAW, &ts);
	return (s64)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* TSC ticks over ~200 ms of CLOCK_MONOTONIC_RAW (the clock source without NTP slewing). */
u64 calibrate_tsc(void)
{
	struct timespec nap = { 0, CALIBRATE_NS };
	s64 n0, n1;
	u64 t0, t1;

	n0 = mono_raw_ns();
	t0 = rdtsc_ordered();
	nanosleep(&nap, NULL);
	n1 = mono_raw_ns();
	t1 = rdtsc_ordered();
	if (n1 <= n0 || t1 <= t0)
		return 0;
	return (u64)((unsigned __int128)(t1 - t0) * 1000000 / (u64)(n1 - n0));
}

void timer_overhead(u64 *min, u64 *p50)
{
	static u64 v[TIMER_SAMPLES];

	for (unsigned i = 0; i < TIMER_SAMPLES; i++) {
		u64 a = rdtsc_ordered();

		v[i] = rdtsc_ordered() - a;
	}
	stats_sort(v, TIMER_SAMPLES);
	*min = v[0];
	*p50 = stats_percentile(v, TIMER_SAMPLES, 500);
}

bool deadline_passed(s64 deadline)
{
	return mono_raw_ns() > deadline;
}

/* ---- CPUs */

int cpus[MAX_CPUS];
unsigned ncpus;

int pin_to(int cpu)
{
	cpu_set_t set;

	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	return sched_setaffinity(0, sizeof(set), &set);
}
