/* The Linux peer's environment: CPUID leaves (SDM Vol. 2A CPUID; hypervisor leaves as in
 * kernel/hypervisor.c), the kernel log read with klogctl(2), /proc/cpuinfo flags and debugfs.
 * The paravirtual choices are Linux's own pr_info lines (6.1): arch/x86/hyperv/mmu.c and
 * hv_apic.c for Hyper-V, arch/x86/kernel/kvm.c for KVM. */
#define _GNU_SOURCE
#include "scripts/linuxpeer/sysinfo.h"

#include <cpuid.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/klog.h>
#include <sys/utsname.h>
#include <unistd.h>

#define CPUID_1_ECX_HYPERVISOR (1u << 31)
#define CPUID_80000007_EDX_INVARIANT_TSC (1u << 8)
#define HV_LEAF_BASE 0x40000000u
#define SYSLOG_ACTION_READ_ALL 3
#define SYSLOG_ACTION_SIZE_BUFFER 10
#define LINUX_FLUSH_CEILING_DEFAULT 33 /* arch/x86/mm/tlb.c tlb_single_page_flush_ceiling */
#define FLUSH_CEILING_FILE "/sys/kernel/debug/x86/tlb_single_page_flush_ceiling"

/* Kernel log lines that name a paravirtual choice, and what each one means. */
static const struct {
	const char *text;
	const char *flush; /* non-NULL: this line sets linux_flush */
	const char *ipi;   /* non-NULL: this line sets linux_ipi */
} pv_markers[] = {
	{ "Hypervisor detected: ", NULL, NULL },
	{ "Hyper-V: Using hypercall for remote TLB flush", "hyperv-hypercall", NULL },
	{ "KVM setup pv remote TLB flush", "kvm-pv", NULL },
	{ "Hyper-V: Using IPI hypercalls", NULL, "hyperv-hypercall" },
	{ "setup PV IPIs", NULL, "kvm-pv" },
	{ "Hyper-V: Using enlightened APIC", NULL, NULL },
};

static void cpuid_regs(unsigned leaf, unsigned *a, unsigned *b, unsigned *c, unsigned *d)
{
	__cpuid_count(leaf, 0, *a, *b, *c, *d);
}

static void read_cpuid(struct sysinfo_env *env)
{
	unsigned a, b, c, d, regs[12];
	static const struct {
		const char *vendor, *name;
	} known[] = {
		{ "Microsoft Hv", "hyperv" }, { "KVMKVMKVM", "kvm" },  { "TCGTCGTCGTCG", "tcg" },
		{ "VMwareVMware", "vmware" }, { "XenVMMXenVMM", "xen" }, { "Linux KVM Hv", "kvm" },
	};
	char *p;

	env->hypervisor = "none";
	cpuid_regs(1, &a, &b, &c, &d);
	if (c & CPUID_1_ECX_HYPERVISOR) {
		cpuid_regs(HV_LEAF_BASE, &a, &regs[0], &regs[1], &regs[2]);
		memcpy(env->hypervisor_vendor, regs, 12);
		env->hypervisor_vendor[12] = 0;
		for (int i = 0; i < 12; i++)
			if (env->hypervisor_vendor[i] &&
			    (env->hypervisor_vendor[i] < 0x20 || env->hypervisor_vendor[i] > 0x7e))
				env->hypervisor_vendor[i] = '?';
		env->hypervisor = "other";
		for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++)
			if (!strcmp(env->hypervisor_vendor, known[i].vendor))
				env->hypervisor = known[i].name;
	}

	cpuid_regs(0x80000000, &a, &b, &c, &d);
	if (a >= 0x80000004) {
		for (unsigned i = 0; i < 3; i++)
			cpuid_regs(0x80000002 + i, &regs[4 * i], &regs[4 * i + 1], &regs[4 * i + 2],
				   &regs[4 * i + 3]);
		memcpy(env->cpu_brand, regs, 48);
		env->cpu_brand[48] = 0;
		for (p = env->cpu_brand; *p == ' '; p++)
			;
		memmove(env->cpu_brand, p, strlen(p) + 1);
	}
	if (a >= 0x80000007) {
		cpuid_regs(0x80000007, &a, &b, &c, &d);
		env->tsc_invariant = d & CPUID_80000007_EDX_INVARIANT_TSC;
	}
}

/* "X.YYY MHz" somewhere in s -> kHz, 0 if absent. */
static uint64_t parse_mhz(const char *s)
{
	unsigned long mhz, frac;

	while ((s = strpbrk(s, "0123456789"))) {
		if (sscanf(s, "%lu.%3lu MHz", &mhz, &frac) == 2 && strstr(s, " MHz"))
			return (uint64_t)mhz * 1000 + frac;
		s += strspn(s, "0123456789");
	}
	return 0;
}

/* One kernel log line without its "<level>[   time] " prefix. */
static const char *log_text(const char *line)
{
	if (*line == '<') {
		const char *e = strchr(line, '>');

		if (e)
			line = e + 1;
	}
	if (*line == '[') {
		const char *e = strchr(line, ']');

		if (e)
			line = e + 1 + (e[1] == ' ');
	}
	return line;
}

static void log_line(struct sysinfo_env *env, const char *text, uint64_t *refined,
		     uint64_t *detected, bool *x2apic_on)
{
	for (size_t i = 0; i < sizeof(pv_markers) / sizeof(pv_markers[0]); i++) {
		if (!strstr(text, pv_markers[i].text))
			continue;
		if (pv_markers[i].flush)
			env->flush = pv_markers[i].flush;
		if (pv_markers[i].ipi)
			env->ipi = pv_markers[i].ipi;
		if (env->npv_lines < PV_LINES_MAX)
			snprintf(env->pv_lines[env->npv_lines++], PV_LINE_LEN, "%s", text);
		break;
	}
	if (strstr(text, "tsc: Refined TSC clocksource calibration"))
		*refined = parse_mhz(text);
	else if (strstr(text, "tsc: Detected ") && !*detected)
		*detected = parse_mhz(text);
	/* apic/x2apic: "x2apic enabled", "Switched APIC routing to physical x2apic.",
	 * "x2apic: enabled by BIOS, switching to x2apic ops" */
	if (strcasestr(text, "x2apic enabled") || strstr(text, "APIC routing to physical x2apic") ||
	    strstr(text, "APIC routing to cluster x2apic") || strstr(text, "switching to x2apic ops"))
		*x2apic_on = true;
}

static void read_kernel_log(struct sysinfo_env *env, bool *x2apic_on)
{
	uint64_t refined = 0, detected = 0;
	int size = klogctl(SYSLOG_ACTION_SIZE_BUFFER, NULL, 0);
	char *buf, *line, *save;
	int n;

	if (size <= 0)
		size = 1 << 20;
	buf = malloc((size_t)size + 1);
	if (!buf)
		return;
	n = klogctl(SYSLOG_ACTION_READ_ALL, buf, size);
	if (n > 0) {
		buf[n] = 0;
		for (line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save))
			log_line(env, log_text(line), &refined, &detected, x2apic_on);
	}
	free(buf);
	env->kernel_tsc_khz = refined ? refined : detected;
}

/* The "flags" line of the first processor in /proc/cpuinfo contains word? */
static bool cpuinfo_flag(const char *flags, const char *word)
{
	size_t n = strlen(word);

	for (const char *p = flags; (p = strstr(p, word)); p += n)
		if ((p == flags || p[-1] == ' ') && (p[n] == ' ' || p[n] == '\n' || !p[n]))
			return true;
	return false;
}

static void read_cpuinfo(struct sysinfo_env *env, bool *x2apic_flag)
{
	FILE *f = fopen("/proc/cpuinfo", "r");
	char line[4096];

	if (!f)
		return;
	while (fgets(line, sizeof(line), f)) {
		if (strncmp(line, "flags", 5))
			continue;
		*x2apic_flag = cpuinfo_flag(line, "x2apic");
		env->pcid = cpuinfo_flag(line, "pcid");
		env->invpcid = cpuinfo_flag(line, "invpcid");
		env->pti = cpuinfo_flag(line, "pti");
		break;
	}
	fclose(f);
}

static void read_flush_ceiling(struct sysinfo_env *env)
{
	FILE *f = fopen(FLUSH_CEILING_FILE, "r");
	unsigned long v;

	env->flush_ceiling = LINUX_FLUSH_CEILING_DEFAULT;
	if (!f)
		return;
	if (fscanf(f, "%lu", &v) == 1) {
		env->flush_ceiling = v;
		env->flush_ceiling_read = true;
	}
	fclose(f);
}

void sysinfo_read(struct sysinfo_env *env)
{
	bool x2apic_flag = false, x2apic_on = false;
	struct utsname u;

	memset(env, 0, sizeof(*env));
	env->flush = "native-ipi";
	env->ipi = "native";
	read_cpuid(env);
	read_cpuinfo(env, &x2apic_flag);
	read_kernel_log(env, &x2apic_on);
	/* The flag alone only says the CPU has it; the log says the kernel switched to it. */
	env->x2apic = x2apic_flag && x2apic_on;
	read_flush_ceiling(env);
	if (!uname(&u))
		snprintf(env->kernel_release, sizeof(env->kernel_release), "%s", u.release);
}

unsigned sysinfo_online_cpus(int *cpus, unsigned max)
{
	FILE *f = fopen("/sys/devices/system/cpu/online", "r");
	unsigned n = 0;
	char buf[1024], *tok, *save;

	if (f && fgets(buf, sizeof(buf), f)) {
		for (tok = strtok_r(buf, ",\n", &save); tok; tok = strtok_r(NULL, ",\n", &save)) {
			int lo, hi;

			if (sscanf(tok, "%d-%d", &lo, &hi) != 2)
				hi = lo = atoi(tok);
			for (int c = lo; c <= hi && n < max; c++)
				cpus[n++] = c;
		}
	}
	if (f)
		fclose(f);
	if (!n) {
		long c = sysconf(_SC_NPROCESSORS_ONLN);

		for (long i = 0; i < c && n < max; i++)
			cpus[n++] = (int)i;
	}
	return n;
}
