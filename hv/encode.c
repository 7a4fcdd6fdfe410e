/* Hyper-V hypercall input encoding (TLFS 3.7 input value, 12.4 GVA ranges, 7.8.7 VP sets) and
 * the rep-call continuation loop. No hardware access: unit-tested on the host. */
#include "hv/encode.h"
#include "kernel/string.h"

u64 hv_control(u16 code, bool fast, u32 varhead_qwords, u32 rep_count, u32 rep_start)
{
	return (u64)code | (fast ? HV_HYPERCALL_FAST : 0) |
	       ((u64)(varhead_qwords & HV_HYPERCALL_VARHEAD_MASK) << HV_HYPERCALL_VARHEAD_SHIFT) |
	       ((u64)(rep_count & HV_HYPERCALL_REP_MASK) << HV_HYPERCALL_REP_COUNT_SHIFT) |
	       ((u64)(rep_start & HV_HYPERCALL_REP_MASK) << HV_HYPERCALL_REP_START_SHIFT);
}

const char *hv_status_name(u16 status)
{
	switch (status) {
	case HV_STATUS_SUCCESS:
		return "HV_STATUS_SUCCESS";
	case HV_STATUS_INVALID_HYPERCALL_CODE:
		return "HV_STATUS_INVALID_HYPERCALL_CODE";
	case HV_STATUS_INVALID_HYPERCALL_INPUT:
		return "HV_STATUS_INVALID_HYPERCALL_INPUT";
	case HV_STATUS_INVALID_ALIGNMENT:
		return "HV_STATUS_INVALID_ALIGNMENT";
	case HV_STATUS_INVALID_PARAMETER:
		return "HV_STATUS_INVALID_PARAMETER";
	case HV_STATUS_ACCESS_DENIED:
		return "HV_STATUS_ACCESS_DENIED";
	case HV_STATUS_INVALID_VP_INDEX:
		return "HV_STATUS_INVALID_VP_INDEX";
	default:
		return "HV_STATUS_UNKNOWN";
	}
}

int hv_gva_list(const u64 *va, const u64 *pages, u32 nranges, u64 *out, u32 max)
{
	u32 n = 0;

	for (u32 r = 0; r < nranges; r++) {
		u64 page = va[r] >> HV_GVA_PAGE_SHIFT, left = pages[r];

		while (left) {
			u64 chunk = MIN(left, HV_GVA_MAX_ADDITIONAL + 1);

			if (n == max)
				return -1;
			out[n++] = (page << HV_GVA_PAGE_SHIFT) | (chunk - 1);
			page += chunk;
			left -= chunk;
		}
	}
	return n;
}

int hv_vpset_fill(struct hv_vpset *set, u32 max_banks, const u32 *vp, u32 n)
{
	u32 banks = 0;

	set->format = HV_GENERIC_SET_SPARSE_4K;
	set->valid_bank_mask = 0;
	for (u32 i = 0; i < n; i++) {
		u32 bank = vp[i] / HV_VP_SET_BANK_BITS;

		if (bank >= HV_VP_SET_MAX_BANKS || bank >= max_banks)
			return -1;
		banks = MAX(banks, bank + 1);
	}
	/* Sparse format: only the banks named in valid_bank_mask are present, in order; listing
	 * every bank up to the highest keeps the encoding simple (empty ones are zero words). */
	for (u32 b = 0; b < banks; b++)
		set->bank_contents[b] = 0;
	for (u32 i = 0; i < n; i++) {
		set->bank_contents[vp[i] / HV_VP_SET_BANK_BITS] |= 1ull << (vp[i] % HV_VP_SET_BANK_BITS);
	}
	set->valid_bank_mask = banks == 64 ? ~0ull : (1ull << banks) - 1;
	return banks;
}

int hv_vpset_sparse(struct hv_vpset *set, u64 bank_mask, const u64 *words)
{
	int n = 0;

	set->format = HV_GENERIC_SET_SPARSE_4K;
	set->valid_bank_mask = bank_mask;
	for (u32 b = 0; b < HV_VP_SET_MAX_BANKS; b++)
		if (bank_mask & (1ull << b)) {
			set->bank_contents[n] = words[n];
			n++;
		}
	return n;
}

u64 hv_rep_call(hv_call_fn call, void *ctx, u16 code, u32 varhead, u32 reps, u64 in, u64 out)
{
	u32 done = 0;
	u64 result = 0;

	for (u32 round = 0; round <= reps; round++) {
		u32 now;

		result = call(ctx, hv_control(code, false, varhead, reps, done), in, out);
		if (hv_result_status(result) != HV_STATUS_SUCCESS)
			return result;
		now = hv_result_reps(result);
		if (now >= reps)
			return result;
		if (now <= done) /* no progress: report rather than spin */
			return (result & ~HV_HYPERCALL_RESULT_MASK) | HV_STATUS_INVALID_HYPERCALL_INPUT;
		done = now;
	}
	return result;
}

enum hv_hypercall_msr_plan hv_hypercall_msr_plan(u64 cur, u64 pa, u64 *write, u64 *page)
{
	*write = 0;
	*page = cur & ~(u64)(HV_PAGE_SIZE - 1);
	if (cur & HV_X64_MSR_HYPERCALL_ENABLE)
		return HV_HCALL_MSR_USE_EXISTING;
	if (cur & HV_X64_MSR_HYPERCALL_LOCKED)
		return HV_HCALL_MSR_LOCKED_OFF;
	*write = (cur & HV_X64_MSR_HYPERCALL_RESERVED) | (pa & ~(u64)(HV_PAGE_SIZE - 1)) |
		 HV_X64_MSR_HYPERCALL_ENABLE;
	*page = pa & ~(u64)(HV_PAGE_SIZE - 1);
	return HV_HCALL_MSR_WRITE;
}

const char *hv_form_refused(u32 recommend_eax, bool ex, bool cluster_ipi)
{
	if (cluster_ipi && !(recommend_eax & HV_X64_CLUSTER_IPI_RECOMMENDED))
		return "SendSyntheticClusterIpi is not recommended (CPUID 0x40000004 EAX bit 10)";
	if (ex && !(recommend_eax & HV_X64_EX_PROCESSOR_MASKS_RECOMMENDED))
		return "the Ex forms are not recommended (ExProcessorMasks, CPUID 0x40000004 EAX bit 11)";
	return NULL;
}
