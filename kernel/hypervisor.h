/* Which hypervisor we run under, from the CPUID hypervisor leaves (0x40000000, and 0x40000100
 * where a second interface sits behind Hyper-V's). Details of each interface live with it
 * (hv/ for Hyper-V). */
#ifndef KERNEL_HYPERVISOR_H
#define KERNEL_HYPERVISOR_H

#include "kernel/types.h"

struct hypervisor_info {
	bool present;      /* CPUID.1:ECX.hypervisor */
	char vendor[13];   /* leaf 0x40000000 EBX:ECX:EDX, "" when absent */
	u32 max_leaf;
	char vendor2[13];  /* leaf 0x40000100, e.g. KVM behind Hyper-V enlightenments */
};

extern struct hypervisor_info hypervisor;

void hypervisor_detect(void); /* prints one line */
/* The name used in records: "hyperv", "kvm", "tcg", "vmware", "xen", "none" or "other". */
const char *hypervisor_name(void);

#endif
