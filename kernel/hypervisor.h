/* Which hypervisor we run under, from the CPUID hypervisor leaves (0x40000000, and 0x40000100
 * where a second interface sits behind Hyper-V's). Details of each interface live with it
 * (hv/ for Hyper-V). */
#ifndef KERNEL_HYPERVISOR_H
#define KERNEL_HYPERVISOR_H

#include "kernel/types.h"

/* Which interface leaf 0x40000000 presents (the vendor string, compared here and only here). */
enum hypervisor_kind {
	HYPERVISOR_NONE, HYPERVISOR_HYPERV, HYPERVISOR_KVM, HYPERVISOR_TCG, HYPERVISOR_VMWARE,
	HYPERVISOR_XEN, HYPERVISOR_OTHER, HYPERVISOR_COUNT
};

struct hypervisor_info {
	bool present;      /* CPUID.1:ECX.hypervisor */
	int kind;          /* enum hypervisor_kind */
	char vendor[13];   /* leaf 0x40000000 EBX:ECX:EDX, "" when absent */
	u32 max_leaf;
	char vendor2[13];  /* leaf 0x40000100, e.g. KVM behind Hyper-V enlightenments */
	u32 kvm_leaf;      /* where KVM's own leaves start (0x40000000 or 0x40000100), 0: none */
	/* The Hyper-V interface, the TLFS's own test (2.4): leaf 0x40000001 EAX "Hv#1" with leaves
	 * up to 0x40000005. Whatever the vendor string says: KVM's hv-passthrough says
	 * "Linux KVM Hv", Xen's viridian "Microsoft Hv" only for its guests that ask. */
	bool hv_interface;
};

extern struct hypervisor_info hypervisor;

/* The one detection every other file reads (kvm/, hv/, the clock); prints one line. */
void hypervisor_detect(void);
/* The name used in records: "hyperv", "kvm", "tcg", "vmware", "xen", "none" or "other". */
const char *hypervisor_name(void);

#endif
