/* Pure encoders for Hyper-V hypercall inputs (hv/encode.c), unit-tested on the host. */
#ifndef HV_ENCODE_H
#define HV_ENCODE_H

#include "hv/tlfs.h"
#include "kernel/types.h"

/* The hypercall input value (TLFS 3.7). */
u64 hv_control(u16 code, bool fast, u32 varhead_qwords, u32 rep_count, u32 rep_start);

static inline u16 hv_result_status(u64 result)
{
	return result & HV_HYPERCALL_RESULT_MASK;
}
static inline u32 hv_result_reps(u64 result)
{
	return (result >> HV_HYPERCALL_REPS_COMPLETE_SHIFT) & HV_HYPERCALL_REP_MASK;
}
const char *hv_status_name(u16 status);

/* Encode ranges (va, pages) as GVA list entries of up to 4096 pages each into out[max].
 * Returns the entry count, or -1 if they do not fit (the caller then flushes everything). */
int hv_gva_list(const u64 *va, const u64 *pages, u32 nranges, u64 *out, u32 max);

/* Fill a sparse VP set from VP indices; returns the number of bank words written (the variable
 * header size of the Ex calls), or -1 for a VP index beyond 4095 or more banks than max_banks. */
int hv_vpset_fill(struct hv_vpset *set, u32 max_banks, const u32 *vp, u32 n);

/* A sparse VP set naming the banks of bank_mask explicitly, words[] holding one bank word per
 * set bit in ascending bank order (TLFS 7.8.7: only valid banks are present, so sets may skip
 * banks). Returns the number of bank words (the Ex calls' variable header size). */
int hv_vpset_sparse(struct hv_vpset *set, u64 bank_mask, const u64 *words);

/* SendSyntheticClusterIpi accepts vectors 0x10..0xff (TLFS 10.5.2). */
static inline bool hv_ipi_vector_valid(u32 vector)
{
	return vector >= HV_IPI_VECTOR_MIN && vector <= HV_IPI_VECTOR_MAX;
}

/* Input sizes in bytes (TLFS 12.4.2-12.4.5, 10.5.2): a non-Ex flush (with `entries` GVA
 * entries, 0 for the Space call), an Ex flush with `banks` bank words, the Ex cluster IPI. XMM
 * fast input takes them when they fit in HV_XMM_FAST_INPUT_MAX (hv_xmm_fits()). */
static inline u32 hv_flush_bytes(u32 entries)
{
	return sizeof(struct hv_tlb_flush) + entries * sizeof(u64);
}
static inline u32 hv_flush_ex_bytes(u32 banks, u32 entries)
{
	return sizeof(struct hv_tlb_flush_ex) + (banks + entries) * sizeof(u64);
}
static inline u32 hv_ipi_ex_bytes(u32 banks)
{
	return sizeof(struct hv_send_ipi_ex) + banks * sizeof(u64);
}
static inline bool hv_xmm_fits(u32 bytes)
{
	return bytes <= HV_XMM_FAST_INPUT_MAX;
}

/* What the hypercall MSR (TLFS 3.13), read as `cur`, allows: enabled already (locked or not:
 * its page is the one to use, *page), locked while disabled (no hypercalls), or free: then *write
 * enables `pa`, keeping the reserved bits 11:2 as read. */
enum hv_hypercall_msr_plan { HV_HCALL_MSR_WRITE, HV_HCALL_MSR_USE_EXISTING, HV_HCALL_MSR_LOCKED_OFF };
enum hv_hypercall_msr_plan hv_hypercall_msr_plan(u64 cur, u64 pa, u64 *write, u64 *page);

/* Why a Hyper-V backend may not be used here (NULL: it may), from the recommendations in CPUID
 * 0x40000004 EAX (TLFS 2.4.5): the Ex forms need ExProcessorMasks, SendSyntheticClusterIpi
 * needs its own recommendation; `ex`: the backend always uses an Ex form. */
const char *hv_form_refused(u32 recommend_eax, bool ex, bool cluster_ipi);

/* How many GVA entries fit in one input page after a header of `header_bytes`. */
static inline u32 hv_gva_room(u32 header_bytes)
{
	return (HV_PAGE_SIZE - header_bytes) / sizeof(u64);
}

/* A rep hypercall issued until every rep is done: each return reports how many reps are
 * complete, and the call is reissued starting there (TLFS 3.7.4). `call` performs one
 * hypercall (the real one, or a simulation in the tests). Returns the last result; a failing
 * status, or no progress, ends the loop. */
typedef u64 (*hv_call_fn)(void *ctx, u64 control, u64 in, u64 out);
u64 hv_rep_call(hv_call_fn call, void *ctx, u16 code, u32 varhead, u32 reps, u64 in, u64 out);

#endif
