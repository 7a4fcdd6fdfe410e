/* Exceptions the kernel expects must come back as values; the ones it does not expect are
 * covered by the fault= boot tests. Also checks the W^X image mapping and the stack guards. */
#include "kernel/selftest.h"
#include "kernel/trap.h"
#include "kernel/x86.h"
#include "mm/mm.h"

extern const char __text_start[];
extern const u64 guard_pages[], guard_pages_end[];

static u8 data_page[PAGE_SIZE] __attribute__((aligned(PAGE_SIZE)));

static void test_safe_accessors(struct test_ctx *t)
{
	u64 v;
	int vec;

	CHECK(t, ud2_safe() == VEC_UD, "ud2 is caught as #UD");
	/* Hardware and KVM raise #GP; QEMU's TCG reads unknown MSRs as 0 without a fault. */
	vec = rdmsr_safe(0xdeadbeef, &v);
	CHECK(t, vec == VEC_GP || (vec == 0 && v == 0),
	      "rdmsr of a bogus MSR is caught as #GP (or reads 0 under TCG): vector %d", vec);
	CHECK(t, rdmsr_safe(MSR_EFER, &v) == 0 && (v & EFER_LMA), "rdmsr of EFER works (LMA set)");
	CHECK(t, read_safe((void *)0x1000, &v) == VEC_PF && safe_fault_addr() == 0x1000,
	      "a read of unmapped address 0x1000 is caught as #PF with CR2 = 0x1000");
	CHECK(t, read_safe((void *)0x8000000000000000ull, &v) == VEC_GP,
	      "a non-canonical read is caught as #GP");
}
SELFTEST(traps_safe, "expected faults come back as the vector", test_safe_accessors);

static void test_wx(struct test_ctx *t)
{
	u64 v;

	CHECK(t, write_safe((void *)__text_start, 0) == VEC_PF, "a write to kernel text faults");
	CHECK(t, read_safe(__text_start, &v) == 0, "kernel text is readable");
	data_page[0] = 0xc3; /* ret */
	if (!mm_nx_enabled()) {
		selftest_skip(t, "the CPU has no NX: execute-disable cannot be checked");
		return;
	}
	CHECK(t, exec_safe(data_page) == VEC_PF, "executing from kernel data faults (NX)");
	CHECK(t, exec_safe(phys_to_virt(kimg_to_phys(__text_start))) == VEC_PF,
	      "executing through the direct map faults (NX)");
}
SELFTEST(wx, "kernel text is not writable, data is not executable", test_wx);

static void test_guards(struct test_ctx *t)
{
	for (const u64 *g = guard_pages; g < guard_pages_end; g++) {
		u64 v;

		CHECK(t, read_safe((void *)*g, &v) == VEC_PF && safe_fault_addr() == *g,
		      "stack guard page %p is not mapped", (void *)*g);
	}
}
SELFTEST(guard_pages, "stack guard pages are unmapped", test_guards);
