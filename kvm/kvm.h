/* KVM's own paravirtual interface (Linux Documentation/virt/kvm/x86/cpuid.rst, msr.rst,
 * hypercalls.rst): detection, per-CPU steal time, and KVM_HC_SEND_IPI. Never used in a boot that
 * enabled Hyper-V hypercalls: once the Hyper-V guest OS ID is set, KVM routes every VMCALL to
 * its Hyper-V handler (REFERENCE.md). */
#ifndef KVM_KVM_H
#define KVM_KVM_H

#include "kernel/types.h"

struct tlb_backend;

#define KVM_CPUID_FEATURES_OFFSET 1 /* leaf base + 1: EAX features */
#define KVM_FEATURE_STEAL_TIME 5
#define KVM_FEATURE_PV_TLB_FLUSH 9
#define KVM_FEATURE_PV_SEND_IPI 11
#define KVM_HINTS_REALTIME (1u << 0)
#define CPUID_1_ECX_MWAIT (1u << 3)
#define MSR_KVM_STEAL_TIME 0x4b564d03
#define KVM_MSR_ENABLED 1
#define KVM_VCPU_PREEMPTED (1u << 0)
#define KVM_VCPU_FLUSH_TLB (1u << 1)
#define KVM_HC_SEND_IPI 10
#define KVM_IPI_CLUSTER 128 /* APIC IDs one send-IPI hypercall can address (two 64-bit words) */

/* struct kvm_steal_time, the guest-host ABI: 64 bytes, 64-byte aligned. */
struct kvm_steal_time {
	u64 steal; /* ns this vCPU was runnable but not running */
	u32 version;
	u32 flags;
	u8 preempted;
	u8 u8_pad[3];
	u32 pad[11];
} __attribute__((aligned(64)));
_Static_assert(sizeof(struct kvm_steal_time) == 64, "kvm_steal_time");

struct kvm_info {
	bool present;
	u32 base;     /* 0x40000000, or 0x40000100 behind Hyper-V's leaves */
	u32 features; /* base + 1 EAX */
	u32 hints;    /* base + 1 EDX: KVM_HINTS_REALTIME (bit 0): vCPUs are never preempted */
	bool steal_time, pv_tlb_flush, pv_send_ipi; /* in use in this boot */
	const char *disabled; /* why KVM's interface is not used, or NULL */
	bool forget_flag;     /* test hook: kvm-flush defers preempted targets without setting
			       * KVM_VCPU_FLUSH_TLB (a broken flush skip_flush=remote does not cover) */
};

extern struct kvm_info kvm;

void kvm_detect(void); /* prints one line */
void kvm_init(bool forget_flag); /* after SMP; steal time on every CPU; the test hook above */
/* The test hook applies to this backend (kvm-flush with kvm_forget_flag=1): a negative control. */
bool kvm_forgets(const struct tlb_backend *b);
struct kvm_steal_time *kvm_steal_area(u32 cpu);
u64 kvm_steal_ns_total(void); /* sum over the online CPUs */
/* KVM_HC_SEND_IPI: bitmap of APIC IDs min .. min + 127; returns the hypercall's result. */
long kvm_send_ipi(u64 low, u64 high, u32 min_apic_id, u32 icr);

#endif
