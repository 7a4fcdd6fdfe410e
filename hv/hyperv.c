/* Hyper-V enlightenments: detection from CPUID 0x40000000-0x40000006 (TLFS 2.4), the guest OS
 * identity and hypercall page (TLFS 3.6, 3.13), VP indices (TLFS 7.8.1), per-CPU input pages,
 * and the hypercall path: memory-based, fast register and XMM fast input (TLFS 3.7). */
#include "hv/hv.h"
#include "hv/encode.h"
#include "kernel/console.h"
#include "kernel/hypervisor.h"
#include "kernel/record.h"
#include "kernel/string.h"
#include "kernel/trap.h"
#include "kernel/x86.h"
#include "mm/frame.h"
#include "mm/mm.h"
#include "smp/apic.h"
#include "smp/smp.h"

#define TLBSTORM_OS_TYPE 0x7full /* no OS type is registered for us: the last one */
#define TLBSTORM_OS_VERSION 1ull
#define CR4_OSXMMEXCPT (1u << 10)
#define CALL_TIMEOUT_US 5000000

struct hv_info hv;
u16 hv_inject_status;
static void *hypercall_page;

void hv_detect(void)
{
	u32 a, b, c, d;

	if (!hypervisor.hv_interface)
		return;
	hv.present = true;
	hv.max_leaf = hypervisor.max_leaf;
	cpuid_count(HV_CPUID_FEATURES, 0, &hv.features_eax, &hv.features_ebx, &hv.features_ecx,
		    &hv.features_edx);
	cpuid_count(HV_CPUID_ENLIGHTMENT_INFO, 0, &hv.recommend_eax, &hv.spin_retries, &c, &d);
	cpuid_count(HV_CPUID_IMPLEMENT_LIMITS, 0, &hv.max_vps, &hv.max_lps, &c, &d);
	if (hv.max_leaf >= HV_CPUID_HARDWARE_FEATURES)
		cpuid_count(HV_CPUID_HARDWARE_FEATURES, 0, &hv.hw_features_eax, &b, &c, &d);
	(void)a;
	kprintf("hv: features %#x/%#x/%#x/%#x, recommendations %#x (remote flush %s, cluster IPI %s, "
		"Ex masks %s), max %u VPs\n", hv.features_eax, hv.features_ebx, hv.features_ecx,
		hv.features_edx, hv.recommend_eax,
		hv.recommend_eax & HV_X64_REMOTE_TLB_FLUSH_RECOMMENDED ? "yes" : "no",
		hv.recommend_eax & HV_X64_CLUSTER_IPI_RECOMMENDED ? "yes" : "no",
		hv.recommend_eax & HV_X64_EX_PROCESSOR_MASKS_RECOMMENDED ? "yes" : "no", hv.max_vps);
}

void hv_early_init(void)
{
	if (!hv.present)
		return;
	hv.apic_msrs = (hv.recommend_eax & HV_X64_APIC_ACCESS_RECOMMENDED) &&
		       (hv.features_eax & HV_MSR_APIC_ACCESS_AVAILABLE);
	if (hv.apic_msrs)
		apic_use_hv_msrs();
	/* Hyper-V hides the invariant TSC from CPUID until this is written (TLFS 12.3.3). */
	if (hv.features_eax & HV_ACCESS_TSC_INVARIANT_CONTROLS)
		hv.tsc_invariant_control = !wrmsr_safe(HV_X64_MSR_TSC_INVARIANT_CONTROL, 1);
	kprintf("hv: APIC access %s, invariant TSC control %s\n",
		hv.apic_msrs ? "through the EOI/ICR MSRs (recommended; xAPIC mode only)" : "as usual",
		hv.tsc_invariant_control ? "written" : "not offered");
}

/* On every CPU: its VP index, its input page, and XMM state for fast input. */
static void per_cpu_setup(void *arg)
{
	struct percpu *me = this_cpu();
	u64 v;

	(void)arg;
	me->vp_index = rdmsr_safe(HV_X64_MSR_VP_INDEX, &v) ? INVALID_VP_INDEX : (u32)v;
	if (hv.xmm_input) {
		write_cr0((read_cr0() & ~(u64)CR0_EM) | CR0_MP);
		write_cr4(read_cr4() | CR4_OSFXSR | CR4_OSXMMEXCPT);
	}
}

/* The hypercall page through the hypercall MSR, read first (TLFS 3.13): an enabled page
 * (locked or not) is used as it is, a locked disabled MSR means no hypercalls, else a page of
 * ours is enabled with the reserved bits kept. Confirmed by reading the MSR back. */
static bool enable_hypercall_page(void)
{
	paddr_t pa = frame_alloc(mm_frame_pool(), NULL);
	u64 cur, write, page, msr;

	if (!pa)
		return false;
	if (rdmsr_safe(HV_X64_MSR_HYPERCALL, &cur)) {
		kprintf("hv: the hypercall MSR faulted although offered\n");
		return false;
	}
	switch (hv_hypercall_msr_plan(cur, pa, &write, &page)) {
	case HV_HCALL_MSR_LOCKED_OFF:
		kprintf("hv: the hypercall MSR is locked with the page disabled (%#lx)\n", cur);
		frame_free(mm_frame_pool(), NULL, pa);
		return false;
	case HV_HCALL_MSR_USE_EXISTING:
		kprintf("hv: the hypercall page is enabled already (%#lx): using it\n", cur);
		frame_free(mm_frame_pool(), NULL, pa); /* ours is not needed */
		break;
	case HV_HCALL_MSR_WRITE:
		memset(phys_to_virt(pa), 0, PAGE_SIZE);
		break;
	}
	hypercall_page = mm_map_exec(page);
	if (!hypercall_page)
		return false;
	if (write && wrmsr_safe(HV_X64_MSR_HYPERCALL, write))
		return false;
	msr = rdmsr(HV_X64_MSR_HYPERCALL);
	return (msr & HV_X64_MSR_HYPERCALL_ENABLE) && (msr & ~0xfffull) == page;
}

/* The guest OS ID (TLFS 3.6): without it the hypervisor ignores the hypercall MSR, and some
 * implementations (Xen's viridian) fill the recommendations only once it is written. */
static void set_guest_os_id(bool on)
{
	wrmsr(HV_X64_MSR_GUEST_OS_ID, on ? HV_GUEST_OS_ID_OPEN_SOURCE |
						   (TLBSTORM_OS_TYPE << HV_GUEST_OS_ID_OS_TYPE_SHIFT) |
						   (TLBSTORM_OS_VERSION << HV_GUEST_OS_ID_VERSION_SHIFT)
					 : 0);
}

void hv_init(u16 inject_status)
{
	bool vp_ok = true;

	hv_inject_status = inject_status;
	if (!hv.present)
		return;
	if (!(hv.features_eax & HV_MSR_HYPERCALL_AVAILABLE) || !(hv.features_eax & HV_MSR_VP_INDEX_AVAILABLE)) {
		kprintf("hv: not using hypercalls: the hypercall or VP index MSRs are not offered\n");
		return;
	}
	hv.xmm_input = hv.features_edx & HV_X64_HYPERCALL_XMM_INPUT_AVAILABLE;
	for (u32 cpu = 0; cpu < nr_cpus; cpu++) {
		paddr_t pa = frame_alloc(mm_frame_pool(), NULL);

		if (!pa) {
			kprintf("hv: out of memory for hypercall input pages\n");
			return;
		}
		percpu_of(cpu)->hv_input = phys_to_virt(pa);
		percpu_of(cpu)->hv_input_phys = pa;
	}
	set_guest_os_id(true);
	/* Read again now that we are identified: the recommendations may only appear now. */
	hv.recommend_eax = cpuid_eax(HV_CPUID_ENLIGHTMENT_INFO);
	if (smp_call(&cpu_online_mask, per_cpu_setup, NULL, CALL_TIMEOUT_US, NULL))
		vp_ok = false;
	for (u32 cpu = 0; cpu < nr_cpus; cpu++)
		vp_ok &= percpu_of(cpu)->vp_index != INVALID_VP_INDEX;
	hv.vp_index = vp_ok;
	hv.hypercall_page = enable_hypercall_page();
	/* Identified without a hypercall page, KVM would take every VMCALL for a Hyper-V one, and
	 * KVM's own hypercalls (PV IPIs) would silently fail: withdraw the identity. */
	if (!hv.hypercall_page)
		set_guest_os_id(false);
	kprintf("hv: %s hypercall page%s, VP indices %s, XMM fast input %s\n",
		hv.hypercall_page ? "using the" : "no", hv.hypercall_page ? "" : " (enable not confirmed)",
		vp_ok ? "read on every CPU" : "missing", hv.xmm_input ? "used" : "not offered");
}

void hv_report(void)
{
	char buf[RECORD_MAX];
	struct jw w;

	if (!hv.present)
		return;
	record_begin(&w, buf, sizeof(buf), "hyperv");
	jw_str(&w, "vendor", hypervisor.vendor);
	jw_obj_begin(&w, "features");
	jw_hex(&w, "eax", hv.features_eax);
	jw_hex(&w, "ebx", hv.features_ebx);
	jw_hex(&w, "edx", hv.features_edx);
	jw_bool(&w, "hypercall_msrs", hv.features_eax & HV_MSR_HYPERCALL_AVAILABLE);
	jw_bool(&w, "vp_index_msr", hv.features_eax & HV_MSR_VP_INDEX_AVAILABLE);
	jw_bool(&w, "xmm_input", hv.features_edx & HV_X64_HYPERCALL_XMM_INPUT_AVAILABLE);
	jw_bool(&w, "ext_gva_ranges", hv.features_edx & HV_X64_EXT_GVA_RANGES_FLUSH_AVAILABLE);
	jw_obj_end(&w);
	jw_obj_begin(&w, "recommendations");
	jw_hex(&w, "eax", hv.recommend_eax);
	jw_bool(&w, "remote_tlb_flush", hv.recommend_eax & HV_X64_REMOTE_TLB_FLUSH_RECOMMENDED);
	jw_bool(&w, "cluster_ipi", hv.recommend_eax & HV_X64_CLUSTER_IPI_RECOMMENDED);
	jw_bool(&w, "ex_processor_masks", hv.recommend_eax & HV_X64_EX_PROCESSOR_MASKS_RECOMMENDED);
	jw_obj_end(&w);
	jw_u64(&w, "max_vps", hv.max_vps);
	jw_bool(&w, "hypercall_page", hv.hypercall_page);
	jw_bool(&w, "apic_msrs", apic_hv_msrs_used());
	jw_bool(&w, "tsc_invariant_control", hv.tsc_invariant_control);
	jw_arr_begin(&w, "vp_index");
	for (u32 cpu = 0; cpu < nr_cpus; cpu++)
		jw_u64(&w, NULL, percpu_of(cpu)->vp_index);
	jw_arr_end(&w);
	record_end(&w);
}

u32 cpu_to_vp_index(u32 cpu)
{
	return cpu < nr_cpus && hv.vp_index ? percpu_of(cpu)->vp_index : INVALID_VP_INDEX;
}

u32 vp_index_to_cpu(u32 vp_index)
{
	for (u32 cpu = 0; hv.vp_index && cpu < nr_cpus; cpu++)
		if (percpu_of(cpu)->vp_index == vp_index)
			return cpu;
	return INVALID_CPU;
}

void *hv_input_page(void)
{
	return this_cpu()->hv_input;
}

u64 hv_input_phys(void)
{
	return this_cpu()->hv_input_phys;
}

/* The page holds `vmcall; ret` or `vmmcall; ret`: the volatile registers of the System V
 * ABI are what a hypercall may change (TLFS 3.7: RAX result; RCX, RDX, R8-R11 clobbered). */
u64 hv_hypercall(u64 control, u64 in, u64 out)
{
	register u64 r8 __asm__("r8") = out;
	u64 result;

	if (hv_inject_status)
		return hv_inject_status;
	__asm__ volatile("call *%[page]"
			 : "=a"(result), "+c"(control), "+d"(in), "+r"(r8)
			 : [page] "m"(hypercall_page)
			 : "cc", "memory", "r9", "r10", "r11");
	return result;
}

u64 hv_hypercall_fast(u16 code, u64 in1, u64 in2)
{
	return hv_hypercall(hv_control(code, true, 0, 0, 0), in1, in2);
}

u64 hv_hypercall_xmm(u64 control, const void *input, u32 bytes)
{
	u64 buf[HV_XMM_FAST_INPUT_MAX / 8] = { 0 }, result, rdx;
	register u64 r8 __asm__("r8");

	if (hv_inject_status)
		return hv_inject_status;
	memcpy(buf, input, MIN(bytes, (u32)sizeof(buf)));
	rdx = buf[0];
	r8 = buf[1];
	control |= HV_HYPERCALL_FAST;
	__asm__ volatile("movdqu 16(%[b]), %%xmm0\n\t"
			 "movdqu 32(%[b]), %%xmm1\n\t"
			 "movdqu 48(%[b]), %%xmm2\n\t"
			 "movdqu 64(%[b]), %%xmm3\n\t"
			 "movdqu 80(%[b]), %%xmm4\n\t"
			 "movdqu 96(%[b]), %%xmm5\n\t"
			 "call *%[page]"
			 : "=a"(result), "+c"(control), "+d"(rdx), "+r"(r8)
			 : [b] "r"(buf), [page] "m"(hypercall_page)
			 : "cc", "memory", "r9", "r10", "r11");
	return result;
}

static u64 call_adapter(void *ctx, u64 control, u64 in, u64 out)
{
	(void)ctx;
	return hv_hypercall(control, in, out);
}

u64 hv_hypercall_rep(u16 code, u32 varhead, u32 reps)
{
	if (hv_inject_status)
		return hv_inject_status;
	return hv_rep_call(call_adapter, NULL, code, varhead, reps, hv_input_phys(), 0);
}

/* A rep call's rounds with XMM fast input: the same input registers each time, the control's
 * rep start index moved on by hv_rep_call(). */
static u64 xmm_adapter(void *ctx, u64 control, u64 in, u64 out)
{
	(void)in, (void)out;
	return hv_hypercall_xmm(control, hv_input_page(), *(const u32 *)ctx);
}

u64 hv_call_input(u16 code, bool xmm, u32 bytes, u32 varhead, u32 reps, bool *used_xmm)
{
	bool fast = xmm && hv.xmm_input && hv_xmm_fits(bytes);

	if (used_xmm)
		*used_xmm = fast;
	if (hv_inject_status)
		return hv_inject_status;
	if (fast && reps)
		return hv_rep_call(xmm_adapter, &bytes, code, varhead, reps, 0, 0);
	if (fast)
		return hv_hypercall_xmm(hv_control(code, true, varhead, 0, 0), hv_input_page(), bytes);
	if (reps)
		return hv_rep_call(call_adapter, NULL, code, varhead, reps, hv_input_phys(), 0);
	return hv_hypercall(hv_control(code, false, varhead, 0, 0), hv_input_phys(), 0);
}
