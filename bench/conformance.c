/* mode=conformance: the framework (records, the console table, the verdict) and the checks that
 * need page tables: selective against full flushing, observed through a stale entry of a page the
 * List call did not name (TLFS 12.4.3 lets a hypervisor flush more than asked; a stale entry of
 * an unlisted page survives only where it flushed selectively). */
#include "bench/conformance.h"
#include "hv/encode.h"
#include "hv/hv.h"
#include "kernel/console.h"
#include "kernel/exit.h"
#include "kernel/printf.h"
#include "kernel/record.h"
#include "kernel/string.h"
#include "kernel/x86.h"
#include "mm/aspace.h"
#include "mm/flush.h"
#include "mm/frame.h"
#include "mm/mm.h"

#define PROBE_VA 0x0000018000000000ull /* PML4 slot 3: unused by anything else */
#define TAG_OLD 1
#define TAG_NEW 2
#define UNUSED_CODE 0x7ffe /* a call code the TLFS does not define */

static const char *const outcomes[] = {
	[CONF_CONFORMS] = "conforms", [CONF_DEVIATES] = "deviates", [CONF_UNSUPPORTED] = "unsupported",
};
/* A deviation from the TLFS fails its case; a form the platform does not offer is skipped. */
static const char *const case_results[] = {
	[CONF_CONFORMS] = "pass", [CONF_DEVIATES] = "fail", [CONF_UNSUPPORTED] = "skip",
};
static u32 counts[3];
static bool ran_selective;

void conf_report(struct conf_result *r)
{
	char buf[RECORD_MAX], id[CASE_ID_MAX];
	struct jw w;

	if (!r->detection)
		r->detection = "n/a";
	counts[r->outcome]++;
	kprintf("conformance: %-22s %-18s %-11s %s%s%s\n", r->check, r->form, outcomes[r->outcome],
		r->observed, r->outcome == CONF_DEVIATES ? "; TLFS: " : "",
		r->outcome == CONF_DEVIATES ? r->expected : "");
	record_begin(&w, buf, sizeof(buf), "conformance");
	jw_str(&w, "check", r->check);
	jw_str(&w, "form", r->form);
	jw_str(&w, "outcome", outcomes[r->outcome]);
	jw_str(&w, "expected", r->expected);
	jw_str(&w, "observed", r->observed);
	jw_str(&w, "detail", r->detail);
	jw_str(&w, "detection", r->detection);
	record_end(&w);
	ksnprintf(id, sizeof(id), "conformance.%s.%s", r->check, r->form);
	record_case(id, case_results[r->outcome], 1, "checks");
}

bool conf_status_ok(u16 status, u16 want)
{
	return want == CONF_ANY_ERROR ? status != HV_STATUS_SUCCESS : status == want;
}

void conf_status(const char *check, const char *form, u64 result, u16 want, const char *expected,
		 const char *detail)
{
	struct conf_result r = { .check = check, .form = form, .expected = expected };
	u16 st = hv_result_status(result);

	r.outcome = conf_status_ok(st, want) ? CONF_CONFORMS : CONF_DEVIATES;
	ksnprintf(r.observed, sizeof(r.observed), "status 0x%04x %s", st, hv_status_name(st));
	ksnprintf(r.detail, sizeof(r.detail), "%s", detail);
	conf_report(&r);
}

void conf_unsupported(const char *check, const char *form, const char *why)
{
	struct conf_result r = { .check = check, .form = form, .outcome = CONF_UNSUPPORTED,
				 .expected = "n/a" };

	ksnprintf(r.observed, sizeof(r.observed), "not offered");
	ksnprintf(r.detail, sizeof(r.detail), "%s", why);
	conf_report(&r);
}

static u64 tag_at(u64 va)
{
	return *(volatile u64 *)va;
}

/* Point pages A (PROBE_VA) and B (the next) at new frames without a flush, after loading their
 * old translations; then `flush` (a List call naming A, or a call that flushes nothing). */
static void stale_round(struct aspace *as, const paddr_t *old, const paddr_t *new, bool list, u64 *a,
			u64 *b, u16 *status)
{
	struct hv_tlb_flush *in = hv_input_page();

	for (u32 i = 0; i < 2; i++)
		aspace_replace(as, PROBE_VA + i * PAGE_SIZE, PAGE_SIZE, old[i], NULL);
	flush_all();
	(void)tag_at(PROBE_VA), (void)tag_at(PROBE_VA + PAGE_SIZE);
	for (u32 i = 0; i < 2; i++)
		aspace_replace(as, PROBE_VA + i * PAGE_SIZE, PAGE_SIZE, new[i], NULL);
	in->address_space = read_cr3() & ~0xfffull;
	in->flags = HV_FLUSH_ALL_PROCESSORS;
	in->processor_mask = 0;
	in->gva_list[0] = PROBE_VA; /* page A alone */
	*status = hv_result_status(list ? hv_hypercall_rep(HVCALL_FLUSH_VIRTUAL_ADDRESS_LIST, 0, 1)
				      : hv_hypercall(hv_control(UNUSED_CODE, false, 0, 0, 0), hv_input_phys(), 0));
	*a = tag_at(PROBE_VA);
	*b = tag_at(PROBE_VA + PAGE_SIZE);
}

static void selective_verdict(u64 ca, u64 cb, u64 a, u64 b, u16 st)
{
	struct conf_result r = { .check = "selective_unlisted", .form = "List",
				 .expected = "page A flushed; page B may stay stale (selective) or not (full)" };
	bool shown = cb == TAG_OLD; /* B stayed stale across a call that flushed nothing */

	(void)ca;
	r.detection = shown ? "shown" : "not shown";
	r.outcome = st == HV_STATUS_SUCCESS && a == TAG_NEW ? CONF_CONFORMS : CONF_DEVIATES;
	ksnprintf(r.observed, sizeof(r.observed), "status 0x%04x, A %s, B %s", st,
		  a == TAG_NEW ? "flushed" : "STALE", b == TAG_OLD ? "stale (selective)" : "fresh");
	ksnprintf(r.detail, sizeof(r.detail), "%s",
		  !shown ? "no stale entry survived a no-op hypercall here: selective vs full cannot be told"
		  : b == TAG_OLD ? "the flush was selective: the unlisted page kept its stale entry"
				 : "the flush was full: the unlisted page's stale entry was dropped");
	conf_report(&r);
}

void conf_selective_run(void)
{
	paddr_t old[2], new[2];
	struct aspace as;
	u64 ca, cb, a, b;
	u16 cst, st;

	for (u32 i = 0; i < 2; i++) {
		old[i] = frame_alloc(mm_frame_pool(), NULL);
		new[i] = frame_alloc(mm_frame_pool(), NULL);
		if (!old[i] || !new[i])
			return; /* no record: the check did not run, and the verdict says error */
		*(u64 *)phys_to_virt(old[i]) = TAG_OLD;
		*(u64 *)phys_to_virt(new[i]) = TAG_NEW;
	}
	if (aspace_create(&as))
		return;
	ran_selective = true;
	aspace_map(&as, PROBE_VA, old[0], PAGE_SIZE, PTE_NX);
	aspace_map(&as, PROBE_VA + PAGE_SIZE, old[1], PAGE_SIZE, PTE_NX);
	cli();
	aspace_switch(&as);
	stale_round(&as, old, new, false, &ca, &cb, &cst); /* the control: nothing flushed */
	stale_round(&as, old, new, true, &a, &b, &st);
	aspace_switch(NULL);
	sti();
	aspace_destroy(&as);
	for (u32 i = 0; i < 2; i++) {
		frame_free(mm_frame_pool(), NULL, old[i]);
		frame_free(mm_frame_pool(), NULL, new[i]);
	}
	selective_verdict(ca, cb, a, b, st);
}

int conformance_run(void)
{
	if (!hv.present || !hv.hypercall_page || !hv.vp_index) {
		kprintf("conformance: no Hyper-V hypercall interface here (%s): nothing to check\n",
			!hv.present ? "no Hv#1" : "no hypercall page or VP indices");
		return EXIT_SKIP;
	}
	kprintf("conformance: %-22s %-18s %-11s %s\n", "check", "form", "outcome", "observed");
	conf_cases_run();
	conf_selective_run();
	kprintf("conformance: %u conform, %u deviate, %u unsupported (deviations are findings, not failures)\n",
		counts[CONF_CONFORMS], counts[CONF_DEVIATES], counts[CONF_UNSUPPORTED]);
	/* Every outcome is a result; only a check that could not run makes the run an error. */
	return ran_selective ? EXIT_PASS : EXIT_ERROR;
}
