/* Shootdown backends on Hyper-V hypercalls (TLFS 12.4 virtual address flushes, 10.5.2 synthetic
 * cluster IPIs), as Linux uses them when Hyper-V recommends it:
 *   hv-flush  FlushVirtualAddressList when the ranges fit in one input page, else
 *             FlushVirtualAddressSpace; the Ex forms with a sparse VP set whenever a target's VP
 *             index is 64 or more; ALL_PROCESSORS when every other CPU is a target;
 *   hv-space, hv-list, hv-space-ex, hv-list-ex: one form forced, to measure it, and each with
 *             XMM fast input (hv-space-xmm, hv-list-xmm, hv-space-ex-xmm, hv-list-ex-xmm);
 *   hv-ipi, hv-ipi-ex, hv-ipi-ex-xmm: the IPI backend with its kicks sent by (Ex)
 *             SendSyntheticClusterIpi (the plain one is always a fast register call).
 * hv-flush and hv-ipi use XMM fast input wherever it is offered and the input fits.
 * Any failing status falls back to the IPI backend for that shootdown, counted and reported. */
#include "hv/encode.h"
#include "hv/hv.h"
#include "kernel/console.h"
#include "kernel/errno.h"
#include "kernel/once.h"
#include "mm/tlb.h"
#include "smp/tlb_ipi.h"
#include "smp/apic.h"
#include "smp/percpu.h"
#include "smp/smp.h"

#define HVF_AUTO 0
#define HVF_SPACE (1u << 0)
#define HVF_LIST (1u << 1)
#define HVF_EX (1u << 2)
#define HVF_XMM (1u << 3)

/* Once per kind of call: every later failure is still counted in the records. Any initiator
 * can get here at the same time, so the table is claimed through once_claim()'s atomics. */
static void report_failure(const char *what, u64 result)
{
	static const char *reported[4];

	if (!once_claim(reported, ARRAY_SIZE(reported), what))
		return;
	kprintf("hv: %s returned %s (%#lx); falling back to IPIs, counted as fallbacks\n", what,
		hv_status_name(hv_result_status(result)), result);
}

static int hvipi_start(const struct tlb_flush *f, const struct cpumask *targets, struct tlb_sample *s);

static void probe(struct tlb_backend *b)
{
	bool ipi = b->start == hvipi_start;

	if (!hv.present)
		b->unavailable = "not running on Hyper-V (or its emulation)";
	else if (!hv.hypercall_page || !hv.vp_index)
		b->unavailable = "no hypercall page or VP indices";
	else if ((b->form & HVF_XMM) && !hv.xmm_input)
		b->unavailable = "XMM fast hypercall input not offered";
	else
		b->unavailable = hv_form_refused(hv.recommend_eax, b->form & HVF_EX, ipi);
	b->recommended = ipi ? hv.recommend_eax & HV_X64_CLUSTER_IPI_RECOMMENDED
			     : b->form == HVF_AUTO && (hv.recommend_eax & HV_X64_REMOTE_TLB_FLUSH_RECOMMENDED);
}

/* VP indices of the targets; false if one is unknown. *high: one is 64 or more. */
static bool target_vps(const struct cpumask *targets, u32 *vps, u32 *n, bool *high)
{
	*n = 0;
	*high = false;
	for_each_cpu(cpu, targets) {
		u32 vp = cpu_to_vp_index(cpu);

		if (vp == INVALID_VP_INDEX)
			return false;
		*high |= vp >= 64;
		vps[(*n)++] = vp;
	}
	return true;
}

/* The negative control TLB_SKIP_HIGHEST: the highest VP index left out of vps (and *high
 * recomputed). Returns false when no VP is left, so no call must be made: KVM reads an empty
 * non-Ex mask as every processor. */
static bool drop_highest_vp(u32 *vps, u32 *n, bool *high)
{
	u32 top = 0;

	for (u32 i = 1; i < *n; i++)
		if (vps[i] > vps[top])
			top = i;
	if (*n)
		vps[top] = vps[--*n];
	*high = false;
	for (u32 i = 0; i < *n; i++)
		*high |= vps[i] >= 64;
	return *n != 0;
}

static int ipi_fallback(const struct tlb_flush *f, const struct cpumask *targets, struct tlb_sample *s)
{
	int ret = tlb_ipi_post(f, targets, tlb_ipi_kick_apic);

	s->fallbacks++;
	return ret ? ret : tlb_ipi_finish(f, targets, s);
}

/* The GVA list of f's ranges (TLB_SKIP_LAST: each without its last page); -1 for a full flush
 * or when it does not fit in `room` entries. */
static int gva_ranges(const struct tlb_flush *f, u64 *out, u32 room)
{
	u64 va[TLB_MAX_RANGES], pages[TLB_MAX_RANGES];
	u32 n = 0;

	if (f->nranges == TLB_FULL)
		return -1;
	for (u32 i = 0; i < f->nranges; i++) {
		va[n] = f->ranges[i].va;
		pages[n] = tlb_skip_pages(f->skip, f->ranges[i].pages);
		n += pages[n] != 0;
	}
	return n ? hv_gva_list(va, pages, n, out, room) : 0;
}

/* A List form with no entry left (the control removed the only page): nothing to ask for. */
static bool nothing_listed(const struct tlb_flush *f, int entries)
{
	return entries == 0 && f->skip == TLB_SKIP_LAST;
}

/* Global translations belong to no one address space: a flush that must remove them names all
 * of them (HV_FLUSH_ALL_VIRTUAL_ADDRESS_SPACES, as Linux does for kernel ranges), not ours. */
static u64 space_flags(const struct tlb_flush *f)
{
	return f->global ? HV_FLUSH_ALL_VIRTUAL_ADDRESS_SPACES : 0;
}

/* XMM fast input: forced by the form, or chosen by `auto` wherever the platform offers it. */
static bool use_xmm(u32 form)
{
	return (form & HVF_XMM) || form == HVF_AUTO;
}

static u64 flush_plain(const struct tlb_flush *f, u32 form, bool all, const u32 *vps, u32 n)
{
	struct hv_tlb_flush *in = hv_input_page();
	int entries = -1;

	in->address_space = f->global ? 0 : f->as->pt.root; /* CR3 without the PCID bits */
	in->flags = (all ? HV_FLUSH_ALL_PROCESSORS : 0) | space_flags(f);
	in->processor_mask = 0;
	for (u32 i = 0; !all && i < n; i++)
		in->processor_mask |= 1ull << vps[i];
	if (!(form & HVF_SPACE))
		entries = gva_ranges(f, in->gva_list, hv_gva_room(sizeof(*in)));
	if (nothing_listed(f, entries))
		return HV_STATUS_SUCCESS;
	if (entries > 0)
		return hv_call_input(HVCALL_FLUSH_VIRTUAL_ADDRESS_LIST, use_xmm(form),
				     hv_flush_bytes(entries), 0, entries, NULL);
	if (!f->global)
		in->flags |= HV_FLUSH_NON_GLOBAL_MAPPINGS_ONLY; /* valid for the Space call only */
	return hv_call_input(HVCALL_FLUSH_VIRTUAL_ADDRESS_SPACE, use_xmm(form), hv_flush_bytes(0), 0, 0, NULL);
}

static u64 flush_ex(const struct tlb_flush *f, u32 form, bool all, const u32 *vps, u32 n)
{
	struct hv_tlb_flush_ex *in = hv_input_page();
	int banks = 0, entries = -1;

	in->address_space = f->global ? 0 : f->as->pt.root;
	in->flags = space_flags(f);
	if (all) {
		in->hv_vp_set.format = HV_GENERIC_SET_ALL;
		in->hv_vp_set.valid_bank_mask = 0;
	} else {
		banks = hv_vpset_fill(&in->hv_vp_set, HV_VP_SET_MAX_BANKS, vps, n);
		if (banks < 0)
			return HV_STATUS_INVALID_VP_INDEX;
	}
	if (!(form & HVF_SPACE))
		entries = gva_ranges(f, &in->hv_vp_set.bank_contents[banks],
				     hv_gva_room(sizeof(*in) + banks * sizeof(u64)));
	if (nothing_listed(f, entries))
		return HV_STATUS_SUCCESS;
	if (entries > 0)
		return hv_call_input(HVCALL_FLUSH_VIRTUAL_ADDRESS_LIST_EX, use_xmm(form),
				     hv_flush_ex_bytes(banks, entries), banks, entries, NULL);
	if (!f->global)
		in->flags |= HV_FLUSH_NON_GLOBAL_MAPPINGS_ONLY;
	return hv_call_input(HVCALL_FLUSH_VIRTUAL_ADDRESS_SPACE_EX, use_xmm(form),
			     hv_flush_ex_bytes(banks, 0), banks, 0, NULL);
}

static int hvf_start(const struct tlb_flush *f, const struct cpumask *targets, struct tlb_sample *s)
{
	(void)f, (void)targets, (void)s;
	return 0; /* the hypercall is synchronous: all the work is in finish */
}

static int hvf_finish(const struct tlb_flush *f, const struct cpumask *targets, struct tlb_sample *s)
{
	u32 form = tlb_active()->form, vps[MAX_CPUS], n;
	bool high, all, ex;
	u64 result;

	if (!target_vps(targets, vps, &n, &high))
		return ipi_fallback(f, targets, s);
	all = n == nr_cpus - 1;
	if (f->skip == TLB_SKIP_HIGHEST) {
		all = false; /* an explicit mask or set, without the highest VP */
		if (!drop_highest_vp(vps, &n, &high))
			return 0;
	}
	ex = (form & HVF_EX) || high;
	if (ex && hv_form_refused(hv.recommend_eax, true, false)) {
		/* A VP index of 64 or more needs an Ex form, which the platform does not recommend. */
		report_failure("an Ex flush (VP index >= 64) without ExProcessorMasks", HV_STATUS_ACCESS_DENIED);
		return ipi_fallback(f, targets, s);
	}
	result = ex ? flush_ex(f, form, all, vps, n) : flush_plain(f, form, all, vps, n);
	if (hv_result_status(result) != HV_STATUS_SUCCESS) {
		report_failure(ex ? "an Ex flush hypercall" : "a flush hypercall", result);
		return ipi_fallback(f, targets, s);
	}
	return 0;
}

/* The hv-ipi kick: one SendSyntheticClusterIpi (fast) or its Ex form for all targets. */
static int hv_kick(const struct cpumask *targets)
{
	u32 vps[MAX_CPUS], n;
	bool high;
	u64 result, mask = 0;

	if (!target_vps(targets, vps, &n, &high))
		return tlb_ipi_kick_apic(targets);
	/* The negative control: the highest VP left out of the set of the request this CPU just
	 * posted (tlb_ipi_post() fills tlb_out before kicking). That target is still waited for, so
	 * the watchdog names it. */
	if (this_cpu()->tlb_out.f.skip == TLB_SKIP_HIGHEST && !drop_highest_vp(vps, &n, &high))
		return 0;
	if (high && hv_form_refused(hv.recommend_eax, true, false)) {
		report_failure("an Ex cluster IPI (VP index >= 64) without ExProcessorMasks",
			       HV_STATUS_ACCESS_DENIED);
		return tlb_ipi_kick_apic(targets) ?: TLB_KICK_FELL_BACK;
	}
	if (!high && !(tlb_active()->form & HVF_EX)) {
		for (u32 i = 0; i < n; i++)
			mask |= 1ull << vps[i];
		result = hv_hypercall_fast(HVCALL_SEND_SYNTHETIC_CLUSTER_IPI, VEC_TLB_FLUSH, mask);
	} else {
		struct hv_send_ipi_ex *in = hv_input_page();
		int banks;

		in->vector = VEC_TLB_FLUSH;
		in->target_vtl = 0;
		banks = hv_vpset_fill(&in->vp_set, HV_VP_SET_MAX_BANKS, vps, n);
		result = banks < 0 ? HV_STATUS_INVALID_VP_INDEX
				   : hv_call_input(HVCALL_SEND_SYNTHETIC_CLUSTER_IPI_EX, use_xmm(tlb_active()->form),
						   hv_ipi_ex_bytes(banks), banks, 0, NULL);
	}
	if (hv_result_status(result) == HV_STATUS_SUCCESS)
		return 0;
	report_failure("a synthetic cluster IPI", result);
	return tlb_ipi_kick_apic(targets) ?: TLB_KICK_FELL_BACK;
}

static int hvipi_start(const struct tlb_flush *f, const struct cpumask *targets, struct tlb_sample *s)
{
	return tlb_ipi_post_counted(f, targets, hv_kick, s);
}

/* The flush hypercall forms first, then the PV IPIs: `auto` prefers them in that order. */
#define HV_FLUSH_BACKEND(var, bname, bform, order)                                                  \
	static struct tlb_backend var = { .name = bname, .form = bform, .own_highest = true,        \
					  .probe = probe, .init = tlb_ipi_init, .start = hvf_start, \
					  .finish = hvf_finish, .acks = tlb_ipi_acks };              \
	TLB_BACKEND(var, order)
HV_FLUSH_BACKEND(tlb_backend_hv_flush, "hv-flush", HVF_AUTO, 10);
HV_FLUSH_BACKEND(tlb_backend_hv_space, "hv-space", HVF_SPACE, 11);
HV_FLUSH_BACKEND(tlb_backend_hv_list, "hv-list", HVF_LIST, 12);
HV_FLUSH_BACKEND(tlb_backend_hv_space_ex, "hv-space-ex", HVF_SPACE | HVF_EX, 13);
HV_FLUSH_BACKEND(tlb_backend_hv_list_ex, "hv-list-ex", HVF_LIST | HVF_EX, 14);
HV_FLUSH_BACKEND(tlb_backend_hv_space_xmm, "hv-space-xmm", HVF_SPACE | HVF_XMM, 15);
HV_FLUSH_BACKEND(tlb_backend_hv_list_xmm, "hv-list-xmm", HVF_LIST | HVF_XMM, 18);
HV_FLUSH_BACKEND(tlb_backend_hv_space_ex_xmm, "hv-space-ex-xmm", HVF_SPACE | HVF_EX | HVF_XMM, 19);
HV_FLUSH_BACKEND(tlb_backend_hv_list_ex_xmm, "hv-list-ex-xmm", HVF_LIST | HVF_EX | HVF_XMM, 22);

#define HV_IPI_BACKEND(var, bname, bform, order)                                                    \
	static struct tlb_backend var = { .name = bname, .form = bform, .own_highest = true,        \
					  .probe = probe, .init = tlb_ipi_init,                     \
					  .start = hvipi_start, .finish = tlb_ipi_finish,           \
					  .acks = tlb_ipi_acks };                                    \
	TLB_BACKEND(var, order)
HV_IPI_BACKEND(tlb_backend_hv_ipi, "hv-ipi", HVF_AUTO, 16);
HV_IPI_BACKEND(tlb_backend_hv_ipi_ex, "hv-ipi-ex", HVF_EX, 17);
HV_IPI_BACKEND(tlb_backend_hv_ipi_ex_xmm, "hv-ipi-ex-xmm", HVF_EX | HVF_XMM, 23);
