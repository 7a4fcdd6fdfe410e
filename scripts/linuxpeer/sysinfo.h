/* What the Linux peer reports about its environment: CPUID (hypervisor, brand, invariant TSC),
 * the kernel log (which paravirtual flush and IPI Linux chose, its TSC calibration, the APIC
 * mode), /proc and /sys. Linux user space only; see docs/linux.md. */
#ifndef LINUXPEER_SYSINFO_H
#define LINUXPEER_SYSINFO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PV_LINES_MAX 8
#define PV_LINE_LEN 160

struct sysinfo_env {
	char hypervisor_vendor[13]; /* CPUID 0x40000000 EBX:ECX:EDX, "" without a hypervisor */
	const char *hypervisor;     /* hyperv, kvm, tcg, vmware, xen, none, other */
	char cpu_brand[49];
	bool tsc_invariant;         /* CPUID 0x80000007 EDX bit 8 */
	bool x2apic;                /* the kernel runs its APIC in x2APIC mode */
	bool pcid, invpcid, pti;    /* /proc/cpuinfo flags: what the kernel uses */
	uint64_t flush_ceiling;     /* tlb_single_page_flush_ceiling */
	bool flush_ceiling_read;    /* from debugfs (else Linux's default) */
	uint64_t kernel_tsc_khz;    /* the kernel's own calibration, 0 if the log has none */
	const char *flush;          /* hyperv-hypercall, kvm-pv, native-ipi */
	const char *ipi;            /* hyperv-hypercall, kvm-pv, native */
	char pv_lines[PV_LINES_MAX][PV_LINE_LEN]; /* the log lines behind flush and ipi */
	unsigned npv_lines;
	char kernel_release[65];    /* uname -r */
};

/* Fill everything but the TSC calibration of our own; never fails (unknowns stay empty). */
void sysinfo_read(struct sysinfo_env *env);

/* The online CPUs (from /sys/devices/system/cpu/online, else sysconf), ascending; -> count. */
unsigned sysinfo_online_cpus(int *cpus, unsigned max);

#endif
