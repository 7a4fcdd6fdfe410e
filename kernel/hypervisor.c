/* Hypervisor identification from the CPUID leaves reserved for hypervisors (0x40000000 up). */
#include "kernel/hypervisor.h"
#include "kernel/console.h"
#include "kernel/string.h"
#include "kernel/x86.h"

#define CPUID_1_ECX_HYPERVISOR (1u << 31)
#define HV_LEAF_BASE 0x40000000
#define HV_LEAF_SECOND 0x40000100

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

void hypervisor_detect(void)
{
	u32 a, b, c, d;

	cpuid_count(1, 0, &a, &b, &c, &d);
	hypervisor.present = c & CPUID_1_ECX_HYPERVISOR;
	if (hypervisor.present) {
		hypervisor.max_leaf = vendor_leaf(HV_LEAF_BASE, hypervisor.vendor);
		if (vendor_leaf(HV_LEAF_SECOND, hypervisor.vendor2) < HV_LEAF_SECOND)
			hypervisor.vendor2[0] = 0;
	}
	kprintf("hypervisor: %s%s%s%s\n", hypervisor.present ? "\"" : "none",
		hypervisor.vendor, hypervisor.present ? "\"" : "",
		hypervisor.vendor2[0] ? " (second interface present)" : "");
}

const char *hypervisor_name(void)
{
	static const struct {
		const char *vendor, *name;
	} known[] = {
		{ "Microsoft Hv", "hyperv" }, { "KVMKVMKVM", "kvm" },  { "TCGTCGTCGTCG", "tcg" },
		{ "VMwareVMware", "vmware" }, { "XenVMMXenVMM", "xen" }, { "Linux KVM Hv", "kvm" },
	};

	if (!hypervisor.present)
		return "none";
	for (u32 i = 0; i < ARRAY_SIZE(known); i++)
		if (!strcmp(hypervisor.vendor, known[i].vendor))
			return known[i].name;
	return "other";
}
