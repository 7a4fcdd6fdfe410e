/* Hyper-V enlightenments: its CPUID leaves, the hypercall page, VP indices, the hypercall path,
 * and the shootdown backends that use them (hv/hyperv.c, hv/tlb_hv.c). KVM's own interface is
 * in kvm/. Every layer is optional: it
 * checks its CPUID bit, says in one line whether it is used, and the kernel runs as before
 * without it. */
#ifndef HV_HV_H
#define HV_HV_H

#include "hv/tlfs.h"
#include "kernel/types.h"
#include "smp/cpumask.h"

#define INVALID_VP_INDEX 0xffffffffu

struct hv_info {
	bool present;       /* the Hv#1 interface (hypervisor.hv_interface) */
	u32 max_leaf;
	u32 features_eax, features_ebx, features_ecx, features_edx; /* 0x40000003 */
	u32 recommend_eax, spin_retries;                            /* 0x40000004 */
	u32 max_vps, max_lps;                                       /* 0x40000005 */
	u32 hw_features_eax;                                        /* 0x40000006 */
	bool hypercall_page; /* enabled and confirmed by reading the MSR back */
	bool vp_index;       /* every online CPU's VP index is known */
	bool xmm_input;      /* XMM fast hypercall input usable */
	bool apic_msrs;      /* APIC access through MSRs recommended and available (xAPIC only) */
	bool tsc_invariant_control; /* the invariant TSC was exposed through its control MSR */
};

extern struct hv_info hv;

void hv_detect(void);     /* CPUID leaves; prints them once */
/* Before the clock and the APIC (unless pv=kvm): APIC access through MSRs where recommended,
 * the invariant TSC exposed where its control is offered. */
void hv_early_init(void);
void hv_init(u16 inject_status); /* after SMP: guest OS ID, hypercall page, VP indices, input
				  * pages; the test hook below */
void hv_report(void);     /* the "hyperv" record */

u32 cpu_to_vp_index(u32 cpu);      /* INVALID_VP_INDEX when unknown */
u32 vp_index_to_cpu(u32 vp_index); /* INVALID_CPU when unknown */

/* One hypercall through the hypercall page. Memory-based: in and out are physical addresses
 * of this CPU's input and output pages. Returns the raw result value. */
u64 hv_hypercall(u64 control, u64 in, u64 out);
/* Fast register call: two 8-byte input words in RDX and R8. */
u64 hv_hypercall_fast(u16 code, u64 in1, u64 in2);
/* XMM fast input: up to 112 bytes passed in RDX, R8, XMM0-XMM5 (only if hv.xmm_input). */
u64 hv_hypercall_xmm(u64 control, const void *input, u32 bytes);
/* Rep call, continued until all reps are done (hv/encode.c). */
u64 hv_hypercall_rep(u16 code, u32 varhead, u32 reps);
/* One call of `code` on the input this CPU built in its input page: `bytes` of it, `varhead` bank
 * words, `reps` rep elements (0: not a rep call). As XMM fast input when `xmm`, the platform
 * offers it and the input fits in 112 bytes (TLFS 3.7.8; rep calls continued with the same
 * registers), else memory-based. *used_xmm (may be NULL) says which. */
u64 hv_call_input(u16 code, bool xmm, u32 bytes, u32 varhead, u32 reps, bool *used_xmm);

/* This CPU's hypercall input page (allocated once at boot) and its physical address. */
void *hv_input_page(void);
u64 hv_input_phys(void);

/* Test hook: the flush and IPI hypercall wrappers return this status instead of calling (0: off);
 * set by hv_init(), changed by self-tests. */
extern u16 hv_inject_status;

#endif
