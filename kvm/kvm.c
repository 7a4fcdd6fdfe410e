/* KVM paravirtual interface: detection at 0x40000000 or 0x40000100, the steal-time area per CPU
 * (MSR_KVM_STEAL_TIME), and the send-IPI hypercall with the instruction the CPU vendor needs
 * (VMCALL on Intel, VMMCALL on AMD). */
#include "kvm/kvm.h"
#include "hv/hv.h"
#include "kernel/console.h"
#include "kernel/cpu.h"
#include "kernel/hypervisor.h"
#include "kernel/string.h"
#include "kernel/trap.h"
#include "kernel/x86.h"
#include "mm/mm.h"
#include "smp/apic.h"
#include "smp/smp.h"

#define CALL_TIMEOUT_US 5000000

struct kvm_info kvm;
static struct kvm_steal_time steal[MAX_CPUS];
/* The hypercall instruction: chosen by kvm_detect() and kvm_init() on the boot CPU before any
 * backend sends with it and never written afterwards, so initiators only read it (the other
 * CPUs that send are started later through smp_call(), whose release/acquire orders it). */
static bool use_vmmcall;

void kvm_detect(void)
{
	kvm.base = hypervisor.kvm_leaf;
	if (!kvm.base)
		return;
	kvm.present = true;
	kvm.features = cpuid_eax(kvm.base + KVM_CPUID_FEATURES_OFFSET);
	kvm.hints = cpuid_edx(kvm.base + KVM_CPUID_FEATURES_OFFSET);
	use_vmmcall = !strcmp(cpu_vendor_string(), "AuthenticAMD") ||
		      !strcmp(cpu_vendor_string(), "HygonGenuine");
	kprintf("kvm: paravirtual interface at %#x, features %#x (steal time %s, PV TLB flush %s, "
		"PV send IPI %s)\n", kvm.base, kvm.features,
		kvm.features & (1u << KVM_FEATURE_STEAL_TIME) ? "yes" : "no",
		kvm.features & (1u << KVM_FEATURE_PV_TLB_FLUSH) ? "yes" : "no",
		kvm.features & (1u << KVM_FEATURE_PV_SEND_IPI) ? "yes" : "no");
}

static void enable_steal_time(void *arg)
{
	(void)arg;
	wrmsr(MSR_KVM_STEAL_TIME, (u64)kimg_to_phys(&steal[smp_cpu()]) | KVM_MSR_ENABLED);
}

static int kvm_hypercall4(u64 nr, u64 a0, u64 a1, u64 a2, u64 a3, long *ret);

/* Probe KVM_HC_SEND_IPI with an empty bitmap: it must return (0 IPIs sent) without faulting.
 * The CPUID vendor picked the instruction; if the host wants the other one (seen on nested hosts
 * whose CPUID vendor is not the hardware's), switch here, once, while only this CPU uses it. */
static long probe_send_ipi(void)
{
	long ret;

	if (kvm_hypercall4(KVM_HC_SEND_IPI, 0, 0, 0, VEC_SPURIOUS, &ret) == 0)
		return ret;
	use_vmmcall = !use_vmmcall;
	if (kvm_hypercall4(KVM_HC_SEND_IPI, 0, 0, 0, VEC_SPURIOUS, &ret)) {
		use_vmmcall = !use_vmmcall; /* neither works: report the vendor's choice */
		return -1;
	}
	kprintf("kvm: the host wants %s here despite the CPU vendor; switched\n",
		use_vmmcall ? "vmmcall" : "vmcall");
	return ret;
}

void kvm_init(bool forget_flag)
{
	kvm.forget_flag = forget_flag;
	if (!kvm.present)
		return;
	if (hv.hypercall_page) {
		kvm.disabled = "Hyper-V hypercalls are in use in this boot";
		kprintf("kvm: not using KVM's interface: %s\n", kvm.disabled);
		return;
	}
	if (kvm.features & (1u << KVM_FEATURE_STEAL_TIME)) {
		kvm.steal_time = !smp_call(&cpu_online_mask, enable_steal_time, NULL, CALL_TIMEOUT_US, NULL);
		kvm.pv_tlb_flush = kvm.steal_time && (kvm.features & (1u << KVM_FEATURE_PV_TLB_FLUSH));
	}
	kvm.pv_send_ipi = kvm.features & (1u << KVM_FEATURE_PV_SEND_IPI);
	if (kvm.pv_send_ipi && probe_send_ipi() < 0) {
		kvm.pv_send_ipi = false;
		kprintf("kvm: KVM_HC_SEND_IPI fails here; not using it\n");
	}
	kprintf("kvm: steal time %s, PV TLB flush %s, PV send IPI %s (%s)\n",
		kvm.steal_time ? "on" : "off", kvm.pv_tlb_flush ? "usable" : "not offered",
		kvm.pv_send_ipi ? "usable" : "not offered", use_vmmcall ? "vmmcall" : "vmcall");
}

struct kvm_steal_time *kvm_steal_area(u32 cpu)
{
	return &steal[cpu];
}

u64 kvm_steal_ns_total(void)
{
	u64 total = 0;

	for (u32 cpu = 0; kvm.steal_time && cpu < nr_cpus; cpu++)
		total += __atomic_load_n(&steal[cpu].steal, __ATOMIC_RELAXED);
	return total;
}

/* One hypercall with the instruction currently chosen. Returns the fault vector (0: none). The
 * host may answer the other vendor's instruction by patching it in guest memory, which our
 * read-only text refuses with a #PF: that is caught here, not fatal. */
static int kvm_hypercall4(u64 nr, u64 a0, u64 a1, u64 a2, u64 a3, long *ret)
{
	this_cpu()->fault_vector = 0;
	if (use_vmmcall)
		__asm__ volatile("1: vmmcall\n2:\n\t" EXTABLE("1b", "2b")
				 : "=a"(*ret)
				 : "a"(nr), "b"(a0), "c"(a1), "d"(a2), "S"(a3)
				 : "memory");
	else
		__asm__ volatile("1: vmcall\n2:\n\t" EXTABLE("1b", "2b")
				 : "=a"(*ret)
				 : "a"(nr), "b"(a0), "c"(a1), "d"(a2), "S"(a3)
				 : "memory");
	return this_cpu()->fault_vector;
}

/* KVM hypercall ABI: RAX number, RBX, RCX, RDX, RSI arguments; result in RAX. The instruction
 * is the one kvm_init() settled on; a fault now is an error for the caller (the kvm-ipi kick
 * falls back to the APIC), never a switch, so nothing is written here. */
long kvm_send_ipi(u64 low, u64 high, u32 min_apic_id, u32 icr)
{
	long ret = -1;

	if (kvm_hypercall4(KVM_HC_SEND_IPI, low, high, min_apic_id, icr, &ret))
		return -1;
	return ret;
}
