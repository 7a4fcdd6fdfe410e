/* Hyper-V enlightenments, where the platform has them (the Hyper-V lab, Hyper-V itself): the
 * hypercall page is enabled and filled, VP indices are known and unique, hypercalls of each
 * kind return the statuses the TLFS says, and a synthetic cluster IPI arrives. */
#include "hv/encode.h"
#include "hv/hv.h"
#include "kernel/selftest.h"
#include "kernel/time.h"
#include "kernel/trap.h"
#include "kernel/x86.h"
#include "smp/apic.h"
#include "smp/smp.h"

#define IPI_TIMEOUT_US 5000000

static bool need_hyperv(struct test_ctx *t)
{
	if (!hv.present)
		selftest_skip(t, "not running on Hyper-V or its emulation");
	else if (!hv.hypercall_page)
		selftest_skip(t, "Hyper-V offers no hypercall page here");
	return hv.present && hv.hypercall_page;
}

static void test_enlightenments(struct test_ctx *t)
{
	u32 bad = 0;
	u64 msr;

	if (!need_hyperv(t))
		return;
	msr = rdmsr(HV_X64_MSR_HYPERCALL);
	CHECK(t, msr & HV_X64_MSR_HYPERCALL_ENABLE, "the hypercall MSR reads back enabled (%#lx)", msr);
	CHECK(t, rdmsr(HV_X64_MSR_GUEST_OS_ID) & HV_GUEST_OS_ID_OPEN_SOURCE, "the guest OS ID says open source");
	for (u32 cpu = 0; cpu < nr_cpus; cpu++) {
		u32 vp = cpu_to_vp_index(cpu);

		bad += vp == INVALID_VP_INDEX || vp_index_to_cpu(vp) != cpu;
	}
	CHECK(t, hv.vp_index && bad == 0, "every CPU has a unique VP index (%u bad)", bad);
	CHECK(t, cpu_to_vp_index(nr_cpus) == INVALID_VP_INDEX && vp_index_to_cpu(0xfffffff0u) == INVALID_CPU,
	      "unknown identities convert to the invalid value");
}
SELFTEST(hv_enlightenments, "hypercall page enabled, guest OS ID set, VP indices known", test_enlightenments);

static void test_hypercalls(struct test_ctx *t)
{
	struct hv_tlb_flush *in;
	u64 r;

	if (!need_hyperv(t))
		return;
	in = hv_input_page();
	in->address_space = read_cr3() & ~0xfffull;
	in->flags = HV_FLUSH_ALL_PROCESSORS | HV_FLUSH_NON_GLOBAL_MAPPINGS_ONLY;
	in->processor_mask = 0;
	r = hv_hypercall(hv_control(HVCALL_FLUSH_VIRTUAL_ADDRESS_SPACE, false, 0, 0, 0), hv_input_phys(), 0);
	CHECK(t, hv_result_status(r) == HV_STATUS_SUCCESS, "FlushVirtualAddressSpace on every VP: %s",
	      hv_status_name(hv_result_status(r)));
	in->flags = HV_FLUSH_ALL_PROCESSORS;
	in->gva_list[0] = 0x400000000000ull | 0;
	in->gva_list[1] = 0x400000010000ull | 15;
	in->gva_list[2] = 0x400000100000ull | 0xfff;
	r = hv_hypercall_rep(HVCALL_FLUSH_VIRTUAL_ADDRESS_LIST, 0, 3);
	CHECK(t, hv_result_status(r) == HV_STATUS_SUCCESS && hv_result_reps(r) == 3,
	      "FlushVirtualAddressList with 3 GVA entries: %s, %u reps done",
	      hv_status_name(hv_result_status(r)), hv_result_reps(r));
	r = hv_hypercall(hv_control(0x7ffe, false, 0, 0, 0), hv_input_phys(), 0);
	CHECK(t, hv_result_status(r) == HV_STATUS_INVALID_HYPERCALL_CODE,
	      "an unknown call code is refused by name: %s", hv_status_name(hv_result_status(r)));
	hv_inject_status = HV_STATUS_ACCESS_DENIED;
	r = hv_hypercall(hv_control(HVCALL_FLUSH_VIRTUAL_ADDRESS_SPACE, false, 0, 0, 0), hv_input_phys(), 0);
	hv_inject_status = 0;
	CHECK(t, hv_result_status(r) == HV_STATUS_ACCESS_DENIED, "the failure-injection hook works");
}
SELFTEST(hv_hypercalls, "flush hypercalls succeed, bad ones fail with the TLFS status", test_hypercalls);

static u64 pings[MAX_CPUS];

static void ping(struct trap_frame *f)
{
	(void)f;
	__atomic_fetch_add(&pings[smp_cpu()], 1, __ATOMIC_RELAXED);
	apic_eoi();
}

static void test_cluster_ipi(struct test_ctx *t)
{
	u32 target = nr_cpus - 1;
	u64 before, deadline, r;

	if (!need_hyperv(t))
		return;
	if (nr_cpus < 2) {
		selftest_skip(t, "needs 2 CPUs, %u online", nr_cpus);
		return;
	}
	trap_set_handler(VEC_TEST_PING, ping);
	before = pings[target];
	r = hv_hypercall_fast(HVCALL_SEND_SYNTHETIC_CLUSTER_IPI, VEC_TEST_PING, 1ull << cpu_to_vp_index(target));
	CHECK(t, hv_result_status(r) == HV_STATUS_SUCCESS, "SendSyntheticClusterIpi (fast): %s",
	      hv_status_name(hv_result_status(r)));
	deadline = deadline_after_us(liveness_us(IPI_TIMEOUT_US));
	while (__atomic_load_n(&pings[target], __ATOMIC_RELAXED) == before && !deadline_passed(deadline))
		cpu_relax();
	CHECK(t, pings[target] == before + 1, "the IPI arrived on cpu %u (VP %u)", target,
	      cpu_to_vp_index(target));
}
SELFTEST(hv_cluster_ipi, "a synthetic cluster IPI reaches its target", test_cluster_ipi);
