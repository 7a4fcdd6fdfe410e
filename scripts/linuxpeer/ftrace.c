/* Linux's own flush, timed inside the kernel (scripts/linuxpeer/ftrace.h, docs/linux.md). The
 * function_graph tracer of tracefs (Linux's Documentation/trace/ftrace.rst) records an entry and
 * a return, with the time between them, for every function in set_ftrace_filter called inside a
 * function of set_graph_function. Here: the timed system call (__x64_sys_madvise, ...) is the
 * graph function, and the filter holds it and flush_tlb_mm_range, plus during the warmup the
 * remote-flush functions present in the kernel (their hooks would run inside the measured
 * flushes); only the initiator's CPU records (tracing_cpumask). Each trace is read as text
 * from the `trace` file once tracing is off, lines like these (funcgraph-tail adds the
 * function's name, in a C comment, after each closing brace; a function that called nothing
 * traced is one line, "name();", with its duration; a warmup's lines, the numbers made up):
 *   0)               |  __x64_sys_madvise() {
 *   0)               |    flush_tlb_mm_range() {
 *   0)   9.848 us    |      native_flush_tlb_multi();
 *   0) + 12.035 us   |    }
 *   0) + 40.610 us   |  }
 */
#define _GNU_SOURCE
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <unistd.h>

#include "kernel/benchrec.h"
#include "scripts/linuxpeer/ftrace.h"
#include "scripts/linuxpeer/peer.h"

#define TRACING "/sys/kernel/tracing"
#define FLUSH_FN "flush_tlb_mm_range"
#define ROOT_PREFIX "__x64_sys_" /* x86-64 system call entry points (Linux 6.1) */
#define BYTES_PER_ITER 512        /* ring buffer for ~8 graph events per iteration */
#define BUFFER_KB_MIN 1408        /* Linux's default per-CPU buffer */
#define BUFFER_KB_MAX 65536       /* of the guest's 512 MiB: longer runs drop the newest events */
#define PARSE_DEPTH 16

/* The functions wanted; the remote-flush ones are counted when they are called. */
static const char *const path_fns[] = {
	"native_flush_tlb_multi", /* arch/x86/mm/tlb.c: IPIs (also KVM's fallback) */
	"kvm_flush_tlb_multi",    /* arch/x86/kernel/kvm.c: KVM's PV flush */
	"hyperv_flush_tlb_multi", /* arch/x86/hyperv/mmu.c: Hyper-V's hypercall */
};
#define NPATHS (sizeof(path_fns) / sizeof(path_fns[0]))
static const char *const roots[] = { ROOT_PREFIX "madvise", ROOT_PREFIX "mprotect",
				     ROOT_PREFIX "munmap" };
#define NROOTS (sizeof(roots) / sizeof(roots[0]))

static struct {
	bool scanned;              /* available_filter_functions was read */
	bool have_flush, have_path[NPATHS], have_root[NROOTS];
	int on_fd;                 /* tracing_on while armed, else -1 */
	int cpu;
	const char *root;          /* the armed scenario's system call */
	bool warm;                 /* tracing the warmup, with the remote-flush functions */
	struct ftrace_result *r;   /* the armed scenario's */
	char names[2 + NPATHS][48]; /* the filter: root, FLUSH_FN, then the remote-flush ones */
	char said[FTRACE_WHY_LEN]; /* the last reason printed */
} ft = { .on_fd = -1 };

/* Set r->why (and print it unless it was the last one printed); -> false. */
static bool __attribute__((format(printf, 2, 3))) fail(struct ftrace_result *r, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(r->why, sizeof(r->why), fmt, ap);
	va_end(ap);
	r->measured = false;
	if (strcmp(r->why, ft.said)) {
		out("tlbpeer: ftrace: Linux's flush not timed: %s\n", r->why);
		snprintf(ft.said, sizeof(ft.said), "%s", r->why);
	}
	return false;
}

/* Write each of n texts with its own write(2) (the filter files take one name per write) to
 * TRACING/file, truncated first; -> 0 or an errno. */
static int put_list(const char *file, const char *const *texts, unsigned n)
{
	char path[128];
	int fd, err = 0;

	snprintf(path, sizeof(path), TRACING "/%s", file);
	fd = open(path, O_WRONLY | O_TRUNC | O_CLOEXEC);
	if (fd < 0)
		return errno;
	for (unsigned i = 0; i < n && !err; i++) {
		size_t len = strlen(texts[i]);

		if (write(fd, texts[i], len) != (ssize_t)len)
			err = errno ? errno : EIO;
	}
	if (close(fd) && !err)
		err = errno;
	return err;
}

static int put(const char *file, const char *text)
{
	return put_list(file, &text, 1);
}

/* tracefs at /sys/kernel/tracing (init mounts sysfs, not tracefs). */
static bool mount_tracefs(struct ftrace_result *r)
{
	if (!access(TRACING "/tracing_on", F_OK))
		return true;
	if (access("/sys/kernel", F_OK) && mount("sysfs", "/sys", "sysfs", 0, NULL))
		return fail(r, "cannot mount sysfs on /sys: %s", strerror(errno));
	if (mount("tracefs", TRACING, "tracefs", 0, NULL))
		return fail(r, "cannot mount tracefs on " TRACING ": %s", strerror(errno));
	if (access(TRACING "/tracing_on", F_OK))
		return fail(r, "tracefs on " TRACING " has no tracing_on");
	return true;
}

static bool graph_tracer_available(struct ftrace_result *r)
{
	char buf[512] = "";
	FILE *f = fopen(TRACING "/available_tracers", "re");
	bool ok;

	if (!f)
		return fail(r, "cannot open available_tracers: %s", strerror(errno));
	ok = fgets(buf, sizeof(buf), f) && strstr(buf, "function_graph");
	fclose(f);
	if (!ok)
		return fail(r, "no function_graph tracer (available_tracers: %.*s)",
			    (int)strcspn(buf, "\n"), buf);
	return true;
}

/* Which of the wanted functions the kernel can trace (once: the list is long). */
static bool scan_functions(struct ftrace_result *r)
{
	char line[256];
	FILE *f;

	if (ft.scanned)
		return true;
	f = fopen(TRACING "/available_filter_functions", "re");
	if (!f)
		return fail(r, "cannot open available_filter_functions: %s", strerror(errno));
	while (fgets(line, sizeof(line), f)) {
		line[strcspn(line, " \t\n")] = 0; /* "name" or "name [module]" */
		ft.have_flush |= !strcmp(line, FLUSH_FN);
		for (unsigned i = 0; i < NPATHS; i++)
			ft.have_path[i] |= !strcmp(line, path_fns[i]);
		for (unsigned i = 0; i < NROOTS; i++)
			ft.have_root[i] |= !strcmp(line, roots[i]);
	}
	fclose(f);
	ft.scanned = true;
	return true;
}

/* The tracer's settings for one scenario; -> false with r->why. */
static bool configure(struct ftrace_result *r, const char *const *filter, unsigned nfilter,
		      int cpu, unsigned long iters)
{
	char mask[16], kb[24], buffer[64];
	unsigned long size = iters / (1024 / BYTES_PER_ITER) + BUFFER_KB_MIN;
	int err;

	snprintf(mask, sizeof(mask), "%x", 1u << cpu);
	snprintf(kb, sizeof(kb), "%lu", size < BUFFER_KB_MAX ? size : BUFFER_KB_MAX);
	snprintf(buffer, sizeof(buffer), "per_cpu/cpu%d/buffer_size_kb", cpu);
	const struct {
		const char *file, *text;
	} steps[] = {
		{ "tracing_on", "0" }, { "current_tracer", "nop" }, { "tracing_cpumask", mask },
		{ buffer, kb }, { "options/overwrite", "0" }, /* full: keep the oldest events */
		{ "options/funcgraph-duration", "1" }, { "options/funcgraph-tail", "1" },
		{ "options/funcgraph-cpu", "1" }, { "options/funcgraph-proc", "0" },
		{ "options/funcgraph-abstime", "0" }, { "set_graph_notrace", "" },
	};

	for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++)
		if ((err = put(steps[i].file, steps[i].text)))
			return fail(r, "writing '%s' to %s: %s", steps[i].text, steps[i].file,
				    strerror(err));
	if ((err = put_list("set_ftrace_filter", filter, nfilter)))
		return fail(r, "writing set_ftrace_filter: %s", strerror(err));
	if ((err = put_list("set_graph_function", filter, 1)))
		return fail(r, "writing set_graph_function: %s", strerror(err));
	if ((err = put("current_tracer", "function_graph")))
		return fail(r, "writing 'function_graph' to current_tracer: %s", strerror(err));
	if ((err = put("trace", ""))) /* opening it truncated clears the buffer */
		return fail(r, "clearing trace: %s", strerror(err));
	return true;
}

bool ftrace_setup(struct ftrace_result *r, const char *call, int cpu, unsigned long iters,
		  unsigned long warmup)
{
	const char *filter[2 + NPATHS];
	unsigned n = 0, root = NROOTS;

	r->measured = false;
	r->npaths = 0;
	if (!mount_tracefs(r) || !graph_tracer_available(r) || !scan_functions(r))
		return false;
	for (unsigned i = 0; i < NROOTS; i++)
		if (!strcmp(roots[i] + strlen(ROOT_PREFIX), call))
			root = i;
	if (root == NROOTS || !ft.have_root[root])
		return fail(r, ROOT_PREFIX "%s is not in available_filter_functions", call);
	if (!ft.have_flush)
		return fail(r, FLUSH_FN " is not in available_filter_functions");
	if (cpu < 0 || cpu >= 32)
		return fail(r, "the initiator runs on CPU %d, past the mask word this peer writes", cpu);
	/* the graph function first: set_graph_function takes filter[0]; each name ends with a
	 * newline (a write that does not end a name would run into the next one) */
	snprintf(ft.names[n++], sizeof(ft.names[0]), "%s\n", roots[root]);
	snprintf(ft.names[n++], sizeof(ft.names[0]), "%s\n", FLUSH_FN);
	for (unsigned i = 0; i < NPATHS && warmup; i++)
		if (ft.have_path[i]) {
			r->paths[r->npaths].name = path_fns[i];
			r->paths[r->npaths++].calls = 0;
			snprintf(ft.names[n++], sizeof(ft.names[0]), "%s\n", path_fns[i]);
		}
	for (unsigned i = 0; i < n; i++)
		filter[i] = ft.names[i];
	if (!configure(r, filter, n, cpu, iters + warmup)) {
		put("current_tracer", "nop");
		return false;
	}
	ft.on_fd = open(TRACING "/tracing_on", O_WRONLY | O_CLOEXEC);
	if (ft.on_fd < 0) {
		int err = errno;

		put("current_tracer", "nop");
		return fail(r, "cannot open tracing_on: %s", strerror(err));
	}
	ft.cpu = cpu;
	ft.root = roots[root];
	ft.r = r;
	ft.warm = false;
	if (r->npaths) {
		ftrace_on(); /* the warmup, with the remote-flush functions: ftrace_on() ends it */
		ft.warm = true;
	}
	return true;
}

static void read_trace(int fd, bool warm);

void ftrace_on(void)
{
	const char *filter[2] = { ft.names[0], ft.names[1] };
	int fd;

	if (ft.on_fd >= 0 && ft.warm) {
		/* the warmup gave the paths; now only the call and FLUSH_FN (no hooks inside) */
		ft.warm = false;
		ftrace_off();
		fd = open(TRACING "/trace", O_RDONLY | O_CLOEXEC);
		if (fd >= 0) {
			read_trace(fd, true);
			close(fd);
		}
		if (put_list("set_ftrace_filter", filter, 2) || put("trace", "")) {
			close(ft.on_fd);
			ft.on_fd = -1;
			put("current_tracer", "nop");
			fail(ft.r, "cannot take the remote-flush functions out of set_ftrace_filter");
			return;
		}
	}
	if (ft.on_fd >= 0 && write(ft.on_fd, "1", 1) != 1)
		out("tlbpeer: ftrace: warning: cannot turn tracing on: %s\n", strerror(errno));
}

void ftrace_off(void)
{
	if (ft.on_fd >= 0 && write(ft.on_fd, "0", 1) != 1)
		out("tlbpeer: ftrace: warning: cannot turn tracing off: %s\n", strerror(errno));
}

/* ---- reading the trace */

enum { K_OTHER, K_ROOT, K_FLUSH, K_PATH }; /* K_PATH + i: path_fns[i] */

struct parse {
	struct ftrace_result *r;
	bool warm;                  /* the warmup's trace: count the remote-flush functions only */
	int stack[PARSE_DEPTH];
	unsigned depth;
};

static int kind_of(const char *name, size_t len)
{
	if (len == strlen(ft.root) && !strncmp(name, ft.root, len))
		return K_ROOT;
	if (len == strlen(FLUSH_FN) && !strncmp(name, FLUSH_FN, len))
		return K_FLUSH;
	for (unsigned i = 0; i < NPATHS; i++)
		if (len == strlen(path_fns[i]) && !strncmp(name, path_fns[i], len))
			return K_PATH + (int)i;
	return K_OTHER;
}

static bool inside(const struct parse *p, int kind)
{
	for (unsigned i = 0; i < p->depth; i++)
		if (p->stack[i] == kind)
			return true;
	return false;
}

/* The duration column ("  5.123 us", "+ 12.035 us", "! 1234.5 us", "1234567 us") in ns. */
static bool duration_ns(const char *s, u64 *ns)
{
	const char *us = strstr(s, " us"), *p;
	u64 whole = 0, frac = 0;
	int nfrac = 0;

	if (!us)
		return false;
	for (p = us; p > s && (isdigit((unsigned char)p[-1]) || p[-1] == '.'); p--)
		;
	if (p == us || !isdigit((unsigned char)*p))
		return false;
	for (; p < us && isdigit((unsigned char)*p); p++)
		whole = whole * 10 + (u64)(*p - '0');
	if (*p == '.')
		for (p++; p < us && isdigit((unsigned char)*p) && nfrac < 3; p++, nfrac++)
			frac = frac * 10 + (u64)(*p - '0');
	for (; nfrac < 3; nfrac++)
		frac *= 10;
	*ns = whole * 1000 + frac;
	return true;
}

/* A function returned (kind, with the duration column left) in the context of p's stack. */
static void returned(struct parse *p, int kind, const char *left)
{
	struct ftrace_result *r = p->r;
	u64 ns;

	if (kind == K_ROOT) {
		r->roots += !p->warm;
	} else if (kind == K_FLUSH && inside(p, K_ROOT) && !p->warm) {
		if (!duration_ns(left, &ns)) {
			r->unparsed++;
			return;
		}
		r->calls++;
		hist_add(&r->h, (u64)((unsigned __int128)ns * tsc_khz / 1000000));
	} else if (kind >= K_PATH && inside(p, K_FLUSH) && inside(p, K_ROOT)) {
		for (unsigned i = 0; i < r->npaths; i++)
			if (!strcmp(r->paths[i].name, path_fns[kind - K_PATH]))
				r->paths[i].calls++;
	}
}

/* A closing line: "}" and, with funcgraph-tail, the function's name in a C comment; without
 * the name, the innermost open function. */
static void closing(struct parse *p, const char *fn, const char *left)
{
	const char *name = strstr(fn, "/* ");
	int kind = p->depth ? p->stack[p->depth - 1] : K_OTHER;

	if (name) {
		name += 3;
		kind = kind_of(name, strcspn(name, " *"));
	}
	for (unsigned i = p->depth; i-- > 0;)
		if (p->stack[i] == kind) {
			p->depth = i; /* closes it (and anything left open inside it) */
			break;
		}
	returned(p, kind, left);
}

static void parse_line(struct parse *p, char *line)
{
	char *bar = strchr(line, '|'), *fn;
	size_t len;

	if (line[0] == '#' || !bar)
		return; /* the header, and the lines that mark a task switch */
	*bar = 0;
	fn = bar + 1 + strspn(bar + 1, " ");
	len = strcspn(fn, "\r\n");
	while (len && fn[len - 1] == ' ')
		len--;
	fn[len] = 0;
	if (fn[0] == '}') {
		closing(p, fn, line);
	} else if (len > 4 && !strcmp(fn + len - 4, "() {")) {
		if (p->depth < PARSE_DEPTH)
			p->stack[p->depth++] = kind_of(fn, len - 4);
	} else if (len > 3 && !strcmp(fn + len - 3, "();")) {
		returned(p, kind_of(fn, len - 3), line);
	}
}

static void read_trace(int fd, bool warm)
{
	static char buf[1 << 16];
	struct parse parse = { .r = ft.r, .warm = warm }, *p = &parse;
	size_t have = 0;
	ssize_t n;

	while ((n = read(fd, buf + have, sizeof(buf) - 1 - have)) > 0) {
		char *line = buf, *nl;

		have += (size_t)n;
		buf[have] = 0;
		while ((nl = strchr(line, '\n'))) {
			*nl = 0;
			parse_line(p, line);
			line = nl + 1;
		}
		have -= (size_t)(line - buf);
		memmove(buf, line, have);
		if (have == sizeof(buf) - 1)
			have = 0; /* a line longer than the buffer: not one of ours */
	}
	buf[have] = 0;
	if (have)
		parse_line(p, buf);
}

/* Events lost on the CPU: "overrun" (overwritten) plus "dropped events" (buffer full). */
static u64 lost_events(int cpu)
{
	char path[96], line[128];
	unsigned long long v;
	u64 lost = 0;
	FILE *f;

	snprintf(path, sizeof(path), TRACING "/per_cpu/cpu%d/stats", cpu);
	f = fopen(path, "re");
	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "overrun: %llu", &v) == 1 || sscanf(line, "dropped events: %llu", &v) == 1)
			lost += v;
	fclose(f);
	return lost;
}

void ftrace_collect(struct ftrace_result *r)
{
	int fd;

	if (ft.on_fd < 0)
		return;
	close(ft.on_fd);
	ft.on_fd = -1;
	fd = open(TRACING "/trace", O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		fail(r, "cannot open trace: %s", strerror(errno));
	} else {
		read_trace(fd, false);
		close(fd);
		r->lost = lost_events(ft.cpu);
		if (r->calls)
			r->measured = true;
		else
			fail(r, "the trace has no " FLUSH_FN " call inside %s (%llu traced)", ft.root,
			     (unsigned long long)r->roots);
	}
	if (r->lost || r->unparsed)
		out("tlbpeer: ftrace: warning: %llu events lost (ring buffer full), %llu flush "
		    "durations unreadable: linux_flush_calls counts only what was kept\n",
		    (unsigned long long)r->lost, (unsigned long long)r->unparsed);
	/* unhook everything: the next scenario's warmup, and init, run untraced */
	put("current_tracer", "nop");
	put("set_graph_function", "");
	put("set_ftrace_filter", "");
}

void ftrace_put(struct jw *w, const struct ftrace_result *r)
{
	struct summary s;

	if (r->measured) {
		hist_summary(&r->h, &s);
		bench_put_summary(w, "linux_flush_ns", &s, tsc_khz);
		bench_put_summary(w, "linux_flush_cycles", &s, 0);
	} else {
		jw_null(w, "linux_flush_ns");
		jw_null(w, "linux_flush_cycles");
	}
	jw_u64(w, "linux_flush_calls", r->calls);
	jw_obj_begin(w, "linux_flush_paths");
	for (unsigned i = 0; i < r->npaths; i++)
		jw_u64(w, r->paths[i].name, r->paths[i].calls);
	jw_obj_end(w);
	if (r->measured)
		jw_null(w, "linux_flush_unavailable");
	else
		jw_str(w, "linux_flush_unavailable", r->why[0] ? r->why : "not traced");
}
