/* tlbpeer: the Linux peer of tlbstorm's shootdown benchmark (docs/linux.md). It runs as the
 * only program of a Linux guest booted under the same QEMU configuration as tlbstorm: reader
 * threads on every other CPU keep a shared region in their TLBs while CPU 0 changes the mapping
 * with madvise, mprotect or munmap, and the TSC times each change. Linux's own flush path
 * (native IPIs, KVM's or Hyper-V's paravirtual flush) does the shootdown. Records go to stdout in
 * the kernel's format (docs/records.md); percentiles come from the kernel's histogram code. */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "kernel/benchrec.h"
#include "kernel/exit.h"
#include "kernel/histogram.h"
#include "kernel/json.h"
#include "kernel/record.h"
#include "kernel/stats.h"
#include "scripts/linuxpeer/ftrace.h"
#include "scripts/linuxpeer/peer.h"
#include "scripts/linuxpeer/sysinfo.h"



/* ---- options */

enum workload { W_MADVISE, W_MPROTECT, W_MUNMAP, NR_WORKLOADS };

static const struct {
	const char *name;       /* the Linux operation */
	const char *equivalent; /* tlbstorm's workload it stands for (also accepted as a name) */
} workloads[NR_WORKLOADS] = {
	[W_MADVISE] = { "madvise", "remap" },
	[W_MPROTECT] = { "mprotect", "protect" },
	[W_MUNMAP] = { "munmap", "unmap" },
};

static struct {
	const char *workload_arg, *pages_arg;
	enum workload workload[MAX_LIST];
	unsigned nworkloads;
	unsigned long pages[MAX_LIST];
	unsigned npages;
	unsigned long iters, warmup;
} cfg = { .workload_arg = "madvise", .pages_arg = "1,64", .iters = 1000, .warmup = 100 };

/* ---- option parsing */

static __attribute__((noreturn)) void bad_value(const char *key, const char *value,
						 const char *valid)
{
	out("tlbpeer: bad value '%s' for %s (valid: %s)\n", value, key, valid);
	finish(EXIT_USAGE);
}

static bool parse_ulong(const char *s, unsigned long lo, unsigned long hi, unsigned long *v)
{
	char *end;

	if (*s < '0' || *s > '9')
		return false;
	errno = 0;
	*v = strtoul(s, &end, 10);
	return !errno && !*end && *v >= lo && *v <= hi;
}

/* Split a comma list into at most MAX_LIST items; fn(item) handles each one. */
static unsigned split(const char *list, char *buf, size_t len, char **items)
{
	unsigned n = 0;

	snprintf(buf, len, "%s", list);
	for (char *p = buf; n < MAX_LIST;) {
		char *comma = strchr(p, ',');

		items[n++] = p;
		if (!comma)
			break;
		*comma = 0;
		p = comma + 1;
	}
	return n;
}

static void parse_lists(void)
{
	char buf[512], *items[MAX_LIST];
	unsigned n;

	n = split(cfg.workload_arg, buf, sizeof(buf), items);
	for (unsigned i = 0; i < n; i++) {
		int w = -1;

		for (int k = 0; k < NR_WORKLOADS; k++)
			if (!strcmp(items[i], workloads[k].name) ||
			    !strcmp(items[i], workloads[k].equivalent))
				w = k;
		if (w < 0)
			bad_value("workload", items[i],
				  "madvise, mprotect, munmap, or tlbstorm's names remap, protect, unmap");
		cfg.workload[cfg.nworkloads++] = (enum workload)w;
	}
	n = split(cfg.pages_arg, buf, sizeof(buf), items);
	for (unsigned i = 0; i < n; i++)
		if (!parse_ulong(items[i], 1, MAX_PAGES, &cfg.pages[cfg.npages++]))
			bad_value("pages", items[i], "1.." STR(MAX_PAGES) ", comma-separated");
}

static void parse_options(int argc, char **argv)
{
	for (int i = 1; i < argc; i++) {
		char *eq = strchr(argv[i], '=');
		const char *val = eq ? eq + 1 : "";
		size_t klen = eq ? (size_t)(eq - argv[i]) : strlen(argv[i]);

#define KEY(k) (klen == strlen(k) && !strncmp(argv[i], k, klen))
		if (KEY("workload") && eq) {
			cfg.workload_arg = val;
		} else if (KEY("pages") && eq) {
			cfg.pages_arg = val;
		} else if (KEY("iters") && eq) {
			if (!parse_ulong(val, 1, MAX_ITERS, &cfg.iters))
				bad_value("iters", val, "1..10000000");
		} else if (KEY("warmup") && eq) {
			if (!parse_ulong(val, 0, MAX_WARMUP, &cfg.warmup))
				bad_value("warmup", val, "0..1000000");
		} else {
			out("tlbpeer: unknown option '%s' (valid keys: workload, pages, iters, warmup; "
			    "as key=value)\n", argv[i]);
			finish(EXIT_USAGE);
		}
#undef KEY
	}
	parse_lists();
}

/* ---- the workloads */

struct scenario {
	enum workload workload;
	unsigned long pages;
	struct histogram mt, st;    /* readers running / single-threaded before any reader */
	u64 mt_elapsed;             /* cycles of the measured iterations (readers running) */
	unsigned long reader_faults;
	struct ftrace_result ft;    /* Linux's flush, traced during the measured iterations */
};

static char *map_region(unsigned long pages, char *at)
{
	size_t len = pages * PAGE;
	char *p = mmap(at, len, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | (at ? MAP_FIXED : 0), -1, 0);

	if (p == MAP_FAILED)
		die("mmap");
	/* 4 KiB pages like tlbstorm's: Debian's kernel would otherwise use transparent huge pages */
	if (madvise(p, len, MADV_NOHUGEPAGE))
		die("madvise(MADV_NOHUGEPAGE)");
	return p;
}

/* Make every page present and writable in this CPU's TLB: write one word per page. */
static void touch(char *base, unsigned long pages, unsigned long it)
{
	for (unsigned long i = 0; i < pages; i++)
		*(volatile unsigned long *)(base + i * PAGE) = it;
}

/*
 * mprotect's untimed way back to read-write: pkey_mprotect with key -1 is mprotect (the same
 * kernel code), entered through another system call so that tracing the timed mprotect leaves
 * it out (Linux 6.1 flushes here too: docs/linux.md). glibc would turn key -1 into mprotect.
 */
static int restore_write(char *base, size_t len)
{
	long rc = syscall(SYS_pkey_mprotect, base, len, PROT_READ | PROT_WRITE, -1);

	if (rc && errno == ENOSYS)
		rc = mprotect(base, len, PROT_READ | PROT_WRITE);
	return (int)rc;
}

/*
 * One measured operation per iteration; the TSC brackets only the call that changes the
 * mapping (and so shoots it down): madvise(MADV_DONTNEED); mprotect read-write -> read-only
 * (putting write back is not timed, restore_write()); munmap (mapping again
 * with MAP_FIXED is not timed).
 */
static void run_loop(struct scenario *s, char **regionp, struct histogram *h, u64 *elapsed)
{
	size_t len = s->pages * PAGE;
	char *base = *regionp;
	u64 start = 0;

	for (unsigned long it = 0; it < cfg.warmup + cfg.iters; it++) {
		u64 t0, t1;
		int rc;

		if (it == cfg.warmup) {
			if (elapsed)
				ftrace_on(); /* with readers: trace the measured iterations */
			start = rdtsc_ordered();
		}
		touch(base, s->pages, it);
		t0 = rdtsc_ordered();
		switch (s->workload) {
		case W_MADVISE:
			rc = madvise(base, len, MADV_DONTNEED);
			break;
		case W_MPROTECT:
			rc = mprotect(base, len, PROT_READ);
			break;
		default:
			rc = munmap(base, len);
			break;
		}
		t1 = rdtsc_ordered();
		if (rc)
			die(workloads[s->workload].name);
		if (s->workload == W_MPROTECT && restore_write(base, len))
			die("pkey_mprotect(PROT_READ|PROT_WRITE, -1)");
		if (s->workload == W_MUNMAP && map_region(s->pages, base) != base)
			die("mmap(MAP_FIXED) returned another address");
		if (it >= cfg.warmup)
			hist_add(h, t1 - t0);
	}
	if (elapsed)
		*elapsed = rdtsc_ordered() - start;
}

/* Single-threaded, before any reader thread exists: the mm was never active on another CPU. */
static void run_reference(struct scenario *s)
{
	char *region = map_region(s->pages, NULL);

	run_loop(s, &region, &s->st, NULL);
	if (munmap(region, s->pages * PAGE))
		die("munmap");
}

static void run_with_readers(struct scenario *s)
{
	unsigned long ph = readers_phase();
	char *region = map_region(s->pages, NULL);
	unsigned long f0;

	ftrace_setup(&s->ft, workloads[s->workload].name, cpus[0], cfg.iters, cfg.warmup);
	/* readers are off the memory (even phase); publish the region, then let them sweep */
	readers_publish(region, s->pages);
	f0 = readers_faults();
	set_phase(ph + 1);
	run_loop(s, &region, &s->mt, &s->mt_elapsed);
	ftrace_off();
	set_phase(ph + 2);
	ftrace_collect(&s->ft);
	s->reader_faults = readers_faults() - f0;
	readers_publish(NULL, 0);
	if (munmap(region, s->pages * PAGE))
		die("munmap");
}

/* ---- records */

static struct sysinfo_env env;

/* The env fields only the Linux peer has. */
static void put_linux_env(struct jw *w, const void *ctx)
{
	(void)ctx;
	jw_str(w, "guest", "linux");
	jw_str(w, "linux_kernel", env.kernel_release);
	jw_str(w, "linux_flush", env.flush);
	jw_str(w, "linux_ipi", env.ipi);
	jw_arr_begin(w, "linux_pv_lines");
	for (unsigned i = 0; i < env.npv_lines; i++)
		jw_str(w, NULL, env.pv_lines[i]);
	jw_arr_end(w);
	jw_u64(w, "linux_tsc_khz", env.kernel_tsc_khz);
	jw_str(w, "linux_flush_threshold_source", env.flush_ceiling_read ? "debugfs" : "default");
	jw_bool(w, "linux_pti", env.pti);
}

static const struct bench_env *peer_env(void)
{
	static struct bench_env e;

	e = (struct bench_env){
		.version = TLBSTORM_VERSION, .hypervisor = env.hypervisor,
		.hypervisor_vendor = env.hypervisor_vendor, .cpu_brand = env.cpu_brand, .cpus = ncpus,
		.tsc_khz = tsc_khz, .tsc_source = "linux-calibrated", .tsc_invariant = env.tsc_invariant,
		.apic_mode = env.x2apic ? "x2APIC" : "xAPIC", .pcid = env.pcid, .invpcid = env.invpcid,
		.flush_threshold = env.flush_ceiling, .put_more = put_linux_env,
	};
	return &e;
}

static void bench_record(u64 tmin, u64 tp50)
{
	static char buf[RECORD_MAX];
	struct jw w;

	record_begin(&w, buf, sizeof(buf), "bench");
	jw_arr_begin(&w, "backends");
	jw_str(&w, NULL, "linux");
	jw_arr_end(&w);
	jw_arr_begin(&w, "workloads");
	for (unsigned i = 0; i < cfg.nworkloads; i++)
		jw_str(&w, NULL, workloads[cfg.workload[i]].name);
	jw_arr_end(&w);
	jw_arr_begin(&w, "pages");
	for (unsigned i = 0; i < cfg.npages; i++)
		jw_u64(&w, NULL, cfg.pages[i]);
	jw_arr_end(&w);
	jw_arr_begin(&w, "acks");
	jw_str(&w, NULL, "early");
	jw_arr_end(&w);
	jw_u64(&w, "iterations", cfg.iters);
	jw_u64(&w, "warmup", cfg.warmup);
	jw_str(&w, "skip_flush", "none");
	jw_str(&w, "observe", "free"); /* the readers never wait for each other */
	jw_u64(&w, "canary", 0);
	jw_u64(&w, "timer_overhead_min_cycles", tmin);
	jw_u64(&w, "timer_overhead_p50_cycles", tp50);
	jw_u64(&w, "ipi_floor_p50_cycles", 0);
	bench_put_env(&w, peer_env());
	record_end(&w);
}

/* The scenario's settings: Linux's call, its tlbstorm equivalent, and what Linux fixes. */
static void put_config(struct jw *w, const void *ctx)
{
	const struct scenario *s = ctx;

	jw_str(w, "workload", workloads[s->workload].name);
	jw_str(w, "equivalent", workloads[s->workload].equivalent);
	jw_u64(w, "pages", s->pages);
	jw_bool(w, "full", false);
	jw_str(w, "initiators", "one");
	jw_u64(w, "aspaces", 1);
	jw_str(w, "ack", "late"); /* Linux's flush IPIs complete after the flush function ran */
	jw_str(w, "skip_flush", "none");
	jw_str(w, "observe", "free");
	jw_str(w, "inflight", "read"); /* its readers fault on whatever is being changed */
	jw_str(w, "targets", "spin");  /* its reader threads never sleep */
	jw_u64(w, "iterations", cfg.iters);
	jw_u64(w, "warmup", cfg.warmup);
}

static void put_detection(struct jw *w, const void *ctx)
{
	(void)ctx;
	jw_obj_begin(w, "detection");
	jw_str(w, "status", "not shown");
	jw_null(w, "by");
	jw_str(w, "reason", "the Linux peer has no oracle");
	jw_u64(w, "retention_largest_shown", 0);
	jw_null(w, "canary");
	jw_obj_end(w);
}

/* What only the peer measures: the single-threaded reference, the readers' faults and Linux's
 * flush as ftrace timed it. */
static void put_reference(struct jw *w, const void *ctx)
{
	const struct scenario *s = ctx;
	struct summary mt, st;

	hist_summary(&s->mt, &mt);
	hist_summary(&s->st, &st);
	bench_put_summary(w, "reference_latency_cycles", &st, 0);
	bench_put_summary(w, "reference_latency_ns", &st, tsc_khz);
	jw_s64(w, "shootdown_cost_cycles_p50", (s64)mt.p50 - (s64)st.p50);
	jw_s64(w, "shootdown_cost_ns_p50", (s64)to_ns(mt.p50) - (s64)to_ns(st.p50));
	jw_u64(w, "reader_faults", s->reader_faults);
	ftrace_put(w, &s->ft);
}

static void shootdown_record(unsigned idx, const struct scenario *s)
{
	static const struct oracle_tally no_oracle;
	struct shootdown_rec rec = {
		.scenario = idx, .backend = "linux", .put_config = put_config, .status = "ok",
		.targets = 0, .tsc_khz = tsc_khz, .ratio_milli = -1, .oracle = &no_oracle,
		.put_detection = put_detection, .put_extra = put_reference, .ctx = s, .env = peer_env(),
	};

	hist_summary(&s->mt, &rec.latency);
	rec.shootdowns = rec.latency.count;
	rec.targets = rec.shootdowns * (ncpus - 1);
	rec.per_s = s->mt_elapsed ? (u64)((unsigned __int128)rec.shootdowns * tsc_khz * 1000 / s->mt_elapsed) : 0;
	bench_shootdown_record(&rec);
}

/* ---- main */

/*
 * Start again on CPU 0 only: exec gives a fresh mm that no other CPU has ever loaded (one that
 * init's fork ran on elsewhere could still be lazily loaded there, and munmap's page-table
 * frees would interrupt that CPU during the single-threaded reference).
 */
static void restart_on_cpu0(char **argv)
{
	if (getenv(PINNED_ENV))
		return;
	if (pin_to(cpus[0]))
		die("sched_setaffinity(CPU 0)");
	setenv(PINNED_ENV, "1", 1);
	execv("/proc/self/exe", argv);
	out("tlbpeer: warning: cannot re-exec on CPU %d (%s); going on\n", cpus[0], strerror(errno));
}

static void summary_line(const struct scenario *s)
{
	struct summary mt, st;
	char flush[24] = "-";

	hist_summary(&s->mt, &mt);
	hist_summary(&s->st, &st);
	if (s->ft.measured)
		snprintf(flush, sizeof(flush), "%lu", to_ns(hist_percentile(&s->ft.h, 500)));
	out("  %-9s %6lu %10lu %10lu %10ld %10lu %10s %10lu\n", workloads[s->workload].name,
	    s->pages, to_ns(mt.p50), to_ns(st.p50), (long)to_ns(mt.p50) - (long)to_ns(st.p50),
	    to_ns(mt.p99), flush, s->reader_faults);
}

int main(int argc, char **argv)
{
	struct scenario *sc;
	unsigned nsc = 0;
	u64 tmin, tp50;

	parse_options(argc, argv);
	ncpus = sysinfo_online_cpus(cpus, MAX_CPUS);
	restart_on_cpu0(argv);
	if (pin_to(cpus[0]))
		die("sched_setaffinity(CPU 0)");

	tsc_khz = calibrate_tsc();
	if (!tsc_khz) {
		errno = EINVAL;
		die("TSC calibration");
	}
	sysinfo_read(&env);
	if (env.kernel_tsc_khz && (tsc_khz * 100 < env.kernel_tsc_khz * 98 ||
				   tsc_khz * 100 > env.kernel_tsc_khz * 102))
		out("tlbpeer: warning: TSC %lu kHz here, the kernel says %lu kHz\n",
		    (unsigned long)tsc_khz, (unsigned long)env.kernel_tsc_khz);
	out("tlbpeer: Linux %s, %u CPUs, TSC %lu kHz, hypervisor %s, flush %s, IPIs %s\n",
	    env.kernel_release, ncpus, (unsigned long)tsc_khz, env.hypervisor, env.flush, env.ipi);
	timer_overhead(&tmin, &tp50);
	bench_record(tmin, tp50);

	sc = calloc((size_t)cfg.nworkloads * cfg.npages, sizeof(*sc));
	if (!sc)
		die("calloc");
	for (unsigned w = 0; w < cfg.nworkloads; w++)
		for (unsigned p = 0; p < cfg.npages; p++, nsc++) {
			sc[nsc].workload = cfg.workload[w];
			sc[nsc].pages = cfg.pages[p];
		}

	out("tlbpeer: reference runs (one thread, CPU %d only)\n", cpus[0]);
	for (unsigned i = 0; i < nsc; i++)
		run_reference(&sc[i]);

	out("tlbpeer: runs with a reader on each of the other %u CPUs\n", ncpus - 1);
	start_readers();
	for (unsigned i = 0; i < nsc; i++) {
		run_with_readers(&sc[i]);
		shootdown_record(i, &sc[i]);
		bench_hist_records(i, "latency", &sc[i].mt);
		bench_hist_records(i, "reference", &sc[i].st);
	}
	stop_readers();

	out("\ntlbpeer: %u CPUs, TSC %lu MHz, linux_flush %s\n", ncpus,
	    (unsigned long)(tsc_khz / 1000), env.flush);
	out("  %-9s %6s %10s %10s %10s %10s %10s %10s\n", "workload", "pages", "p50 ns", "alone ns",
	    "cost ns", "p99 ns", "flush ns", "faults");
	for (unsigned i = 0; i < nsc; i++)
		summary_line(&sc[i]);
	free(sc);
	finish(EXIT_PASS);
}
