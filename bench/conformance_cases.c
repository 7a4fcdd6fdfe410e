/* mode=conformance: the status cases (TLFS 3.7 input value and rep calls, 12.4 flushes, 7.8.7
 * VP sets, 10.5.2 cluster IPIs). Each builds its input in this CPU's input page and checks the
 * status and reps completed the TLFS gives. Written to run on any Hyper-V-compatible hypervisor:
 * a form the platform does not offer (XMM input, Ex forms, cluster IPIs) is "unsupported". */
#include "bench/conformance.h"
#include "hv/encode.h"
#include "hv/hv.h"
#include "kernel/printf.h"
#include "kernel/string.h"
#include "kernel/time.h"
#include "kernel/trap.h"
#include "kernel/x86.h"
#include "smp/apic.h"
#include "smp/smp.h"

#define REPS 4 /* list length of the continuation check: split at 1, 2 and 3 */
#define TEST_VA 0x0000400000000000ull
#define MIB16 (16ull << 20)
#define IPI_TIMEOUT_US 2000000
#define OK_EXP "status 0x0000 HV_STATUS_SUCCESS"

static struct hv_tlb_flush *flush_in(u64 flags, u64 mask)
{
	struct hv_tlb_flush *in = hv_input_page();

	memset(in, 0, HV_PAGE_SIZE);
	in->address_space = read_cr3() & ~0xfffull;
	in->flags = flags;
	in->processor_mask = mask;
	return in;
}

static bool ex_offered(void)
{
	return hv.recommend_eax & HV_X64_EX_PROCESSOR_MASKS_RECOMMENDED;
}

static bool ipi_offered(void)
{
	return hv.recommend_eax & HV_X64_CLUSTER_IPI_RECOMMENDED;
}

/* A rep List split at `split`: reps [0, split) in one call, then the rest from rep start index
 * `split`. Both calls must succeed and report all their reps complete (TLFS 3.7.4). */
static void rep_split(u32 split, bool xmm)
{
	static char id[REPS][24];
	struct conf_result r = { .form = xmm ? "List (XMM)" : "List",
				 .expected = "both calls succeed, reps completed = rep count" };
	struct hv_tlb_flush *in = flush_in(HV_FLUSH_ALL_PROCESSORS, 0);
	u64 c1 = hv_control(HVCALL_FLUSH_VIRTUAL_ADDRESS_LIST, xmm, 0, split, 0);
	u64 c2 = hv_control(HVCALL_FLUSH_VIRTUAL_ADDRESS_LIST, xmm, 0, REPS, split), r1, r2;
	u32 bytes = hv_flush_bytes(REPS);

	for (u32 i = 0; i < REPS; i++)
		in->gva_list[i] = TEST_VA + i * 0x10000;
	r1 = xmm ? hv_hypercall_xmm(c1, in, bytes) : hv_hypercall(c1, hv_input_phys(), 0);
	r2 = xmm ? hv_hypercall_xmm(c2, in, bytes) : hv_hypercall(c2, hv_input_phys(), 0);
	ksnprintf(id[split], sizeof(id[split]), "rep_split_%u_of_%u%s", split, REPS, xmm ? "_xmm" : "");
	r.check = id[split];
	r.outcome = hv_result_status(r1) == 0 && hv_result_reps(r1) == split && hv_result_status(r2) == 0 &&
				    hv_result_reps(r2) == REPS ? CONF_CONFORMS : CONF_DEVIATES;
	ksnprintf(r.observed, sizeof(r.observed), "first 0x%04x %u reps, resumed 0x%04x %u reps",
		  hv_result_status(r1), hv_result_reps(r1), hv_result_status(r2), hv_result_reps(r2));
	ksnprintf(r.detail, sizeof(r.detail), "%u GVA entries, resumed at rep start index %u", REPS, split);
	conf_report(&r);
}

static void rep_cases(void)
{
	struct hv_tlb_flush *in;
	struct conf_result z = { .check = "rep_zero", .form = "List",
				 .expected = "success with 0 reps, or 0x0003 HV_STATUS_INVALID_HYPERCALL_INPUT" };
	u64 res;

	for (u32 s = 1; s < REPS; s++)
		rep_split(s, false);
	for (u32 s = 1; s < REPS; s++)
		if (hv.xmm_input)
			rep_split(s, true);
	if (!hv.xmm_input)
		conf_unsupported("rep_split_xmm", "List (XMM)", "XMM fast input not offered (CPUID 0x40000003 EDX bit 4)");
	flush_in(HV_FLUSH_ALL_PROCESSORS, 0);
	res = hv_hypercall(hv_control(HVCALL_FLUSH_VIRTUAL_ADDRESS_LIST, false, 0, 0, 0), hv_input_phys(), 0);
	z.outcome = hv_result_status(res) == 0 || hv_result_status(res) == HV_STATUS_INVALID_HYPERCALL_INPUT
			    ? CONF_CONFORMS : CONF_DEVIATES;
	ksnprintf(z.observed, sizeof(z.observed), "status 0x%04x, %u reps", hv_result_status(res), hv_result_reps(res));
	ksnprintf(z.detail, sizeof(z.detail), "a rep call with rep count 0; the TLFS fixes no single answer");
	conf_report(&z);
	in = flush_in(HV_FLUSH_ALL_PROCESSORS, 0);
	in->gva_list[0] = TEST_VA | HV_GVA_MAX_ADDITIONAL;
	conf_status("gva_4096_pages", "List", hv_hypercall_rep(HVCALL_FLUSH_VIRTUAL_ADDRESS_LIST, 0, 1), 0, OK_EXP,
		    "one entry, additional pages 0xfff (4096 pages, 16 MiB)");
	in = flush_in(HV_FLUSH_ALL_PROCESSORS, 0);
	in->gva_list[0] = (TEST_VA + MIB16 - 8 * 4096) | 15;
	conf_status("gva_cross_16mib", "List", hv_hypercall_rep(HVCALL_FLUSH_VIRTUAL_ADDRESS_LIST, 0, 1), 0, OK_EXP,
		    "16 pages straddling a 16 MiB boundary");
}

/* An Ex flush (Space when !list) on a sparse set given by bank mask and words, or set-all. */
static u64 ex_flush(bool list, bool all, u64 bank_mask, const u64 *words)
{
	struct hv_tlb_flush_ex *in = (struct hv_tlb_flush_ex *)flush_in(0, 0);
	int banks = 0;

	if (all)
		in->hv_vp_set.format = HV_GENERIC_SET_ALL;
	else
		banks = hv_vpset_sparse(&in->hv_vp_set, bank_mask, words);
	if (!list)
		return hv_hypercall(hv_control(HVCALL_FLUSH_VIRTUAL_ADDRESS_SPACE_EX, false, banks, 0, 0),
				    hv_input_phys(), 0);
	in->hv_vp_set.bank_contents[banks] = TEST_VA;
	return hv_hypercall_rep(HVCALL_FLUSH_VIRTUAL_ADDRESS_LIST_EX, banks, 1);
}

static void ex_cases(void)
{
	u64 bank0 = 0, words[2];
	u32 top = 0;

	if (!ex_offered()) {
		conf_unsupported("ex_sets", "Space-Ex/List-Ex", "ExProcessorMasks not recommended (CPUID 0x40000004 EAX bit 11)");
		return;
	}
	for (u32 cpu = 0; cpu < nr_cpus; cpu++) {
		u32 vp = cpu_to_vp_index(cpu);

		top = MAX(top, vp);
		if (vp < 64)
			bank0 |= 1ull << vp;
	}
	conf_status("ex_bank0", "Space-Ex", ex_flush(false, false, 1, &bank0), 0, OK_EXP, "every VP below 64 in bank 0");
	conf_status("ex_bank0", "List-Ex", ex_flush(true, false, 1, &bank0), 0, OK_EXP, "every VP below 64 in bank 0");
	words[0] = bank0, words[1] = 0;
	conf_status("ex_bank1_empty_word", "Space-Ex", ex_flush(false, false, 3, words), 0, OK_EXP,
		    "banks 0 and 1 valid, bank 1's word zero");
	words[0] = 0;
	conf_status("ex_sparse_skip_bank0", "List-Ex", ex_flush(true, false, 2, words), 0, OK_EXP,
		    "only bank 1 present (bank 0 skipped), no VP in it");
	conf_status("ex_set_all", "Space-Ex", ex_flush(false, true, 0, NULL), 0, OK_EXP, "HV_GENERIC_SET_ALL, no banks");
	conf_status("ex_set_all", "List-Ex", ex_flush(true, true, 0, NULL), 0, OK_EXP, "HV_GENERIC_SET_ALL, no banks");
	conf_status("ex_empty_set", "Space-Ex", ex_flush(false, false, 0, NULL), 0, OK_EXP, "sparse set, no valid bank");
	if (top < 64) {
		conf_unsupported("ex_vp64", "List-Ex", "no VP index of 64 or more in this partition (needs 65 vCPUs)");
		return;
	}
	words[0] = bank0, words[1] = 0;
	for (u32 cpu = 0; cpu < nr_cpus; cpu++)
		if (cpu_to_vp_index(cpu) >= 64 && cpu_to_vp_index(cpu) < 128)
			words[1] |= 1ull << (cpu_to_vp_index(cpu) - 64);
	conf_status("ex_vp64", "List-Ex", ex_flush(true, false, 3, words), 0, OK_EXP, "every VP, VP 64 and up in bank 1");
}

static void mask_cases(void)
{
	u32 top = 0;

	for (u32 cpu = 0; cpu < nr_cpus; cpu++)
		top = MAX(top, cpu_to_vp_index(cpu));
	flush_in(HV_FLUSH_ALL_PROCESSORS, 0);
	conf_status("all_processors", "Space", hv_hypercall(hv_control(HVCALL_FLUSH_VIRTUAL_ADDRESS_SPACE, false, 0, 0, 0),
							    hv_input_phys(), 0), 0, OK_EXP, "ALL_PROCESSORS, mask 0");
	flush_in(0, 0);
	conf_status("empty_mask", "Space", hv_hypercall(hv_control(HVCALL_FLUSH_VIRTUAL_ADDRESS_SPACE, false, 0, 0, 0),
							hv_input_phys(), 0), 0, OK_EXP,
		    "mask 0, no ALL_PROCESSORS: flushes no VP (KVM reads it as all; not observable by status)");
	conf_status("space_fast_all", "Space (fast)",
		    hv_hypercall_fast(HVCALL_FLUSH_VIRTUAL_ADDRESS_SPACE, read_cr3() & ~0xfffull, HV_FLUSH_ALL_PROCESSORS),
		    0, OK_EXP, "register form: address space in RDX, flags in R8 (Xen refuses fast flushes)");
	flush_in(HV_FLUSH_ALL_PROCESSORS | HV_FLUSH_NON_GLOBAL_MAPPINGS_ONLY, 0);
	conf_status("non_global", "Space", hv_hypercall(hv_control(HVCALL_FLUSH_VIRTUAL_ADDRESS_SPACE, false, 0, 0, 0),
							hv_input_phys(), 0), 0, OK_EXP, "NON_GLOBAL_MAPPINGS_ONLY is valid for Space");
	flush_in(HV_FLUSH_ALL_PROCESSORS | HV_FLUSH_NON_GLOBAL_MAPPINGS_ONLY, 0)->gva_list[0] = TEST_VA;
	conf_status("list_non_global", "List", hv_hypercall_rep(HVCALL_FLUSH_VIRTUAL_ADDRESS_LIST, 0, 1),
		    CONF_ANY_ERROR, CONF_ANY_ERROR_EXP,
		    "TLFS 12.4.3: NON_GLOBAL_MAPPINGS_ONLY is an invalid option for the List call");
	if (top >= 63) {
		conf_unsupported("vp_beyond_partition", "Space", "VP 63 exists: no non-Ex VP index is beyond the partition");
		return;
	}
	flush_in(0, 1ull << 63);
	conf_status("vp_beyond_partition", "Space", hv_hypercall(hv_control(HVCALL_FLUSH_VIRTUAL_ADDRESS_SPACE, false, 0, 0, 0),
								 hv_input_phys(), 0), CONF_ANY_ERROR,
		    CONF_ANY_ERROR_EXP, "processor mask names VP 63, beyond the partition");
}

static void invalid_cases(void)
{
	static const struct { const char *id; u64 bit; } rsvd[] = {
		{ "reserved_bit27", 1ull << 27 }, { "reserved_bit44", 1ull << 44 }, { "reserved_bit60", 1ull << 60 },
	};
	u64 ctl = hv_control(HVCALL_FLUSH_VIRTUAL_ADDRESS_SPACE, false, 0, 0, 0);
	char *page = hv_input_page();

	for (u32 i = 0; i < ARRAY_SIZE(rsvd); i++) {
		flush_in(HV_FLUSH_ALL_PROCESSORS, 0);
		conf_status(rsvd[i].id, "Space", hv_hypercall(ctl | rsvd[i].bit, hv_input_phys(), 0),
			    HV_STATUS_INVALID_HYPERCALL_INPUT, "status 0x0003 HV_STATUS_INVALID_HYPERCALL_INPUT",
			    "a reserved bit of the hypercall input value set (TLFS 3.7)");
	}
	flush_in(HV_FLUSH_ALL_PROCESSORS, 0);
	conf_status("space_with_reps", "Space", hv_hypercall(hv_control(HVCALL_FLUSH_VIRTUAL_ADDRESS_SPACE, false, 0, 1, 0),
							     hv_input_phys(), 0),
		    HV_STATUS_INVALID_HYPERCALL_INPUT, "status 0x0003 HV_STATUS_INVALID_HYPERCALL_INPUT",
		    "rep count 1 on a simple (non-rep) call");
	conf_status("undefined_code", "0x7ffe", hv_hypercall(hv_control(0x7ffe, false, 0, 0, 0), hv_input_phys(), 0),
		    HV_STATUS_INVALID_HYPERCALL_CODE, "status 0x0002 HV_STATUS_INVALID_HYPERCALL_CODE", "no such call");
	conf_status("reserved_code_0", "0x0000", hv_hypercall(hv_control(0, false, 0, 0, 0), hv_input_phys(), 0),
		    HV_STATUS_INVALID_HYPERCALL_CODE, "status 0x0002 HV_STATUS_INVALID_HYPERCALL_CODE", "call code 0 is reserved");
	flush_in(0, 0);
	memcpy(page + 4, &(u64[3]){ read_cr3() & ~0xfffull, HV_FLUSH_ALL_PROCESSORS, 0 }, 24);
	conf_status("misaligned_input", "Space", hv_hypercall(ctl, hv_input_phys() + 4, 0), HV_STATUS_INVALID_ALIGNMENT,
		    "status 0x0004 HV_STATUS_INVALID_ALIGNMENT", "input GPA 4 bytes past an 8-byte boundary (TLFS 3.7.1)");
}

static volatile u32 ipi_hits;

static void ipi_count(struct trap_frame *f)
{
	(void)f;
	__atomic_fetch_add(&ipi_hits, 1, __ATOMIC_RELAXED);
	apic_eoi();
}

static void ipi_delivered(const char *check, u32 vector, u32 vp)
{
	struct conf_result r = { .check = check, .form = "IPI (fast)", .expected = "success, delivered once" };
	u32 before = ipi_hits;
	u64 res, deadline;

	trap_set_handler((u8)vector, ipi_count);
	res = hv_hypercall_fast(HVCALL_SEND_SYNTHETIC_CLUSTER_IPI, vector, 1ull << vp);
	deadline = deadline_after_us(liveness_us(IPI_TIMEOUT_US));
	while (ipi_hits == before && !deadline_passed(deadline))
		cpu_relax();
	r.outcome = hv_result_status(res) == 0 && ipi_hits == before + 1 ? CONF_CONFORMS : CONF_DEVIATES;
	ksnprintf(r.observed, sizeof(r.observed), "status 0x%04x, %u delivered", hv_result_status(res), ipi_hits - before);
	ksnprintf(r.detail, sizeof(r.detail), "vector %#x to VP %u", vector, vp);
	conf_report(&r);
}

static void ipi_cases(void)
{
	u32 vp = cpu_to_vp_index(nr_cpus - 1);

	if (!ipi_offered() || nr_cpus < 2) {
		conf_unsupported("ipi", "IPI", nr_cpus < 2 ? "needs 2 CPUs" : "cluster IPIs not recommended (CPUID 0x40000004 EAX bit 10)");
		return;
	}
	conf_status("ipi_vector_0x0f", "IPI (fast)", hv_hypercall_fast(HVCALL_SEND_SYNTHETIC_CLUSTER_IPI, 0x0f, 1ull << vp),
		    CONF_ANY_ERROR, CONF_ANY_ERROR_EXP, "vector below 0x10 (TLFS: must be 0x10 to 0xff)");
	conf_status("ipi_vector_0x100", "IPI (fast)", hv_hypercall_fast(HVCALL_SEND_SYNTHETIC_CLUSTER_IPI, 0x100, 1ull << vp),
		    CONF_ANY_ERROR, CONF_ANY_ERROR_EXP, "vector above 0xff (TLFS: must be 0x10 to 0xff)");
	/* 0x10 is #MF in the IDT: delivered, it would be reported as an exception; an empty mask
	 * checks only that the vector is accepted. */
	conf_status("ipi_vector_0x10", "IPI (fast)", hv_hypercall_fast(HVCALL_SEND_SYNTHETIC_CLUSTER_IPI, 0x10, 0),
		    0, OK_EXP, "lowest valid vector, empty mask (not delivered: 0x10 is #MF here)");
	ipi_delivered("ipi_vector_0xef", 0xef, vp);
	/* Last: 0xff is the spurious vector; its handler now EOIs (harmless for the rest of the run). */
	ipi_delivered("ipi_vector_0xff", 0xff, vp);
}

/* SendSyntheticClusterIpiEx (memory form) on a sparse set of bank 0, or set-all; `deliver`: wait
 * for the one interrupt on `vp` (the only VP of the set when sparse). */
static void ipi_ex(const char *check, u32 vector, bool all, u32 vp, u16 want, const char *expected)
{
	struct conf_result r = { .check = check, .form = "IPI-Ex", .expected = expected };
	struct hv_send_ipi_ex *in = hv_input_page();
	u64 bank0 = 1ull << vp, res, deadline;
	u32 before = ipi_hits, banks = 0, hits;

	memset(in, 0, HV_PAGE_SIZE);
	in->vector = vector;
	if (all)
		in->vp_set.format = HV_GENERIC_SET_ALL;
	else
		banks = (u32)hv_vpset_sparse(&in->vp_set, 1, &bank0);
	if (want == HV_STATUS_SUCCESS)
		trap_set_handler((u8)vector, ipi_count);
	res = hv_hypercall(hv_control(HVCALL_SEND_SYNTHETIC_CLUSTER_IPI_EX, false, banks, 0, 0), hv_input_phys(), 0);
	deadline = deadline_after_us(liveness_us(IPI_TIMEOUT_US));
	while (want == HV_STATUS_SUCCESS && ipi_hits < before + (all ? nr_cpus : 1) && !deadline_passed(deadline))
		cpu_relax();
	hits = ipi_hits - before;
	r.outcome = conf_status_ok(hv_result_status(res), want) &&
		    (want ? hits == 0 : hits == (all ? nr_cpus : 1)) ? CONF_CONFORMS : CONF_DEVIATES;
	ksnprintf(r.observed, sizeof(r.observed), "status 0x%04x, %u delivered", hv_result_status(res), hits);
	ksnprintf(r.detail, sizeof(r.detail), "vector %#x to %s", vector, all ? "HV_GENERIC_SET_ALL (every VP, the caller too)" : "one VP in bank 0");
	conf_report(&r);
}

static void ipi_ex_cases(void)
{
	u32 vp = cpu_to_vp_index(nr_cpus - 1);

	if (!ipi_offered() || !ex_offered() || nr_cpus < 2) {
		conf_unsupported("ipi_ex", "IPI-Ex", nr_cpus < 2 ? "needs 2 CPUs" : "cluster IPIs or ExProcessorMasks not recommended");
		return;
	}
	ipi_ex("ipi_ex_bank0", 0xee, false, vp, 0, "success, delivered once");
	ipi_ex("ipi_ex_set_all", 0xee, true, vp, 0, "success, delivered to every VP");
	ipi_ex("ipi_ex_vector_0x0f", 0x0f, false, vp, CONF_ANY_ERROR, CONF_ANY_ERROR_EXP ", not delivered");
}

void conf_cases_run(void)
{
	rep_cases();
	ex_cases();
	mask_cases();
	invalid_cases();
	ipi_ex_cases();
	ipi_cases(); /* last: it takes over the spurious vector */
}
