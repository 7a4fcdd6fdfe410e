/* Hypervisor identification from the CPUID leaves reserved for hypervisors (0x40000000 up). */
#include "kernel/hypervisor.h"
#include "hv/tlfs.h"
#include "kernel/console.h"
#include "kernel/string.h"
#include "kernel/x86.h"

#define CPUID_1_ECX_HYPERVISOR (1u << 31)
#define HV_LEAF_BASE 0x40000000
#define HV_LEAF_SECOND 0x40000100
#define KVM_VENDOR "KVMKVMKVM"

struct hypervisor_info hypervisor;

static u32 vendor_leaf(u32 leaf, char out[13])
{
	u32 a, *w = (u32 *)out;

	cpuid_count(leaf, 0, &a, &w[0], &w[1], &w[2]);
	out[12] = 0;
	for (int i = 0; i < 12; i++)
		if (out[i] && (out[i] < 0x20 || out[i] > 0x7e))
			out[i] = '?';
	return a;
}

static const struct {
	const char *vendor;
	int kind;
} known[] = {
	{ "Microsoft Hv", HYPERVISOR_HYPERV }, { KVM_VENDOR, HYPERVISOR_KVM },
	{ "TCGTCGTCGTCG", HYPERVISOR_TCG },    { "VMwareVMware", HYPERVISOR_VMWARE },
	{ "XenVMMXenVMM", HYPERVISOR_XEN },    { "Linux KVM Hv", HYPERVISOR_KVM },
};

static const char *const kind_names[HYPERVISOR_COUNT] = {
	[HYPERVISOR_NONE] = "none", [HYPERVISOR_HYPERV] = "hyperv", [HYPERVISOR_KVM] = "kvm",
	[HYPERVISOR_TCG] = "tcg",   [HYPERVISOR_VMWARE] = "vmware", [HYPERVISOR_XEN] = "xen",
	[HYPERVISOR_OTHER] = "other",
};

static int kind_of(const char *vendor)
{
	for (u32 i = 0; i < ARRAY_SIZE(known); i++)
		if (!strcmp(vendor, known[i].vendor))
			return known[i].kind;
	return HYPERVISOR_OTHER;
}

void hypervisor_detect(void)
{
	u32 a, b, c, d;

	cpuid_count(1, 0, &a, &b, &c, &d);
	hypervisor.present = c & CPUID_1_ECX_HYPERVISOR;
	if (hypervisor.present) {
		hypervisor.max_leaf = vendor_leaf(HV_LEAF_BASE, hypervisor.vendor);
		if (vendor_leaf(HV_LEAF_SECOND, hypervisor.vendor2) < HV_LEAF_SECOND)
			hypervisor.vendor2[0] = 0;
		hypervisor.kind = kind_of(hypervisor.vendor);
		if (!strcmp(hypervisor.vendor, KVM_VENDOR))
			hypervisor.kvm_leaf = HV_LEAF_BASE;
		else if (!strcmp(hypervisor.vendor2, KVM_VENDOR))
			hypervisor.kvm_leaf = HV_LEAF_SECOND;
		hypervisor.hv_interface = hypervisor.max_leaf >= HV_CPUID_IMPLEMENT_LIMITS &&
					  cpuid_eax(HV_CPUID_INTERFACE) == HV_INTERFACE_SIGNATURE;
	}
	kprintf("hypervisor: %s%s%s%s%s\n", hypervisor.present ? "\"" : "none",
		hypervisor.vendor, hypervisor.present ? "\"" : "",
		hypervisor.hv_interface ? ", Hyper-V interface \"Hv#1\"" : "",
		hypervisor.vendor2[0] ? " (second interface present)" : "");
}

const char *hypervisor_name(void)
{
	return kind_names[hypervisor.kind];
}
