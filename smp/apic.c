/* Local APIC driver (SDM 3A ch. 10 xAPIC, ch. 11 x2APIC in newer editions). x2APIC is used
 * whenever the CPU has it: MSR access is cheaper under a hypervisor (no MMIO decode) and it is the
 * only way to address APIC IDs above 254. Every LVT is masked; only IPIs and our timer arrive. */
#include "smp/apic.h"
#include "hv/tlfs.h"
#include "kernel/console.h"
#include "kernel/errno.h"
#include "kernel/time.h"
#include "kernel/trap.h"
#include "kernel/x86.h"
#include "mm/mm.h"

#define ICR_IDLE_SPINS 1000000

static bool x2apic;
static bool hv_msrs; /* xAPIC through Hyper-V's EOI and ICR MSRs */
static volatile u32 *mmio;
static u64 timer_ticks_per_ms;

bool apic_x2apic_mode(void)
{
	return x2apic;
}

const char *apic_mode_name(void)
{
	return x2apic ? "x2APIC" : "xAPIC";
}

static u32 apic_read(u32 reg)
{
	return x2apic ? (u32)rdmsr(X2APIC_MSR_BASE + (reg >> 4)) : mmio[reg / 4];
}

static void apic_write(u32 reg, u32 v)
{
	if (x2apic)
		wrmsr(X2APIC_MSR_BASE + (reg >> 4), v);
	else
		mmio[reg / 4] = v;
}

u32 apic_read_id(void)
{
	return x2apic ? apic_read(APIC_ID) : apic_read(APIC_ID) >> 24;
}

void apic_use_hv_msrs(void)
{
	hv_msrs = true;
}

bool apic_hv_msrs_used(void)
{
	return hv_msrs && !x2apic;
}

void apic_eoi(void)
{
	if (apic_hv_msrs_used())
		wrmsr(HV_X64_MSR_EOI, 0);
	else
		apic_write(APIC_EOI, 0);
}

u32 apic_esr(void)
{
	apic_write(APIC_ESR, 0); /* a write latches the errors into the register (SDM 10.5.3) */
	return apic_read(APIC_ESR);
}

static void apic_enable_local(void)
{
	u64 base = rdmsr(MSR_APIC_BASE) | APIC_BASE_EN;

	/* xAPIC -> x2APIC is allowed directly; the reverse would need a disable first. */
	wrmsr(MSR_APIC_BASE, base);
	if (x2apic)
		wrmsr(MSR_APIC_BASE, base | APIC_BASE_EXTD);
	apic_write(APIC_TPR, 0);
	apic_write(APIC_LVT_TIMER, APIC_LVT_MASKED);
	apic_write(APIC_LVT_THERMAL, APIC_LVT_MASKED);
	apic_write(APIC_LVT_PERF, APIC_LVT_MASKED);
	apic_write(APIC_LVT_LINT0, APIC_LVT_MASKED);
	apic_write(APIC_LVT_LINT1, APIC_LVT_MASKED);
	apic_write(APIC_LVT_ERROR, VEC_APIC_ERROR);
	apic_write(APIC_SVR, APIC_SVR_ENABLE | VEC_SPURIOUS);
	apic_esr();
	apic_eoi(); /* drop anything the firmware left in service */
}

static void spurious_handler(struct trap_frame *f)
{
	(void)f; /* SDM 10.9: no EOI for a spurious interrupt */
}

static void error_handler(struct trap_frame *f)
{
	(void)f;
	kprintf("apic: error interrupt on cpu %u, ESR %#x\n", this_cpu()->cpu, apic_esr());
	apic_eoi();
}

static void timer_handler(struct trap_frame *f)
{
	(void)f;
	__atomic_fetch_add(&this_cpu()->timer_ticks, 1, __ATOMIC_RELAXED);
	apic_eoi();
}

void apic_init_bsp(u64 mmio_phys)
{
	u32 a, b, c, d;

	trap_set_handler(VEC_SPURIOUS, spurious_handler);
	trap_set_handler(VEC_APIC_ERROR, error_handler);
	trap_set_handler(VEC_TIMER, timer_handler);
	cpuid_count(1, 0, &a, &b, &c, &d);
	x2apic = c & CPUID_1_ECX_X2APIC;
	if (!x2apic) {
		mmio = mm_map_mmio(mmio_phys ? mmio_phys : APIC_DEFAULT_PHYS, PAGE_SIZE);
		if (!mmio)
			kprintf("apic: cannot map the xAPIC at %#lx\n", mmio_phys);
	}
	apic_enable_local();
}

void apic_init_ap(void)
{
	apic_enable_local();
}

/* In xAPIC mode the ICR reports when it has sent; x2APIC has no delivery status. */
static int icr_wait_idle(void)
{
	if (x2apic)
		return 0;
	for (u32 i = 0; i < ICR_IDLE_SPINS; i++) {
		if (!(mmio[APIC_ICR_LO / 4] & ICR_DELIVERY_STATUS))
			return 0;
		cpu_relax();
	}
	return -ETIMEDOUT;
}

/* The x2APIC ICR write. WRMSR to the x2APIC MSRs is not serialising (SDM 3A 10.12.3): without a
 * fence the IPI can reach the target before the stores that precede it are visible, and the
 * target finds an empty inbox. So, as Linux's weak_wrmsr_fence(), MFENCE orders every earlier
 * store (and load) and LFENCE keeps the WRMSR from executing before the MFENCE completes. This
 * pairs with the stores a kick publishes: the request and inbox bit in tlb_ipi_post()
 * (smp/tlb_ipi.c) and smp_call_start() (smp/call.c), read by the target's IPI handler or call
 * loop. noinline: tests/boot/test_static.py checks the sequence in this symbol. */
static __attribute__((noinline)) void x2apic_icr_write(u32 dest, u32 lo)
{
	__asm__ volatile("mfence; lfence" ::: "memory");
	wrmsr(X2APIC_MSR_BASE + (APIC_ICR_LO >> 4), ((u64)dest << 32) | lo);
}

static int icr_send(u32 dest, u32 lo)
{
	if (x2apic) {
		x2apic_icr_write(dest, lo);
		return 0;
	}
	if (dest > XAPIC_MAX_ID)
		return -EINVAL;
	if (apic_hv_msrs_used()) {
		/* The xAPIC ICR as one 64-bit value: destination in bits 63:56. */
		wrmsr(HV_X64_MSR_ICR, (u64)dest << 56 | lo);
		return 0;
	}
	if (icr_wait_idle())
		return -ETIMEDOUT;
	mmio[APIC_ICR_HI / 4] = dest << 24;
	mmio[APIC_ICR_LO / 4] = lo; /* this write sends */
	return icr_wait_idle();
}

int apic_send_ipi(u32 apic_id, u8 vector)
{
	return icr_send(apic_id, ICR_DELIVERY_FIXED | ICR_LEVEL_ASSERT | vector);
}

int apic_send_ipi_all_but_self(u8 vector)
{
	return icr_send(0, ICR_DEST_ALL_BUT_SELF | ICR_DELIVERY_FIXED | ICR_LEVEL_ASSERT | vector);
}

int apic_send_init(u32 apic_id)
{
	return icr_send(apic_id, ICR_DELIVERY_INIT | ICR_LEVEL_ASSERT | ICR_TRIGGER_LEVEL);
}

int apic_send_startup(u32 apic_id, u8 page)
{
	return icr_send(apic_id, ICR_DELIVERY_STARTUP | ICR_LEVEL_ASSERT | page);
}

void apic_timer_calibrate(void)
{
	u64 start, elapsed_tsc, ms = 10;
	u32 left;

	apic_write(APIC_TIMER_DIVIDE, APIC_TIMER_DIVIDE_16);
	apic_write(APIC_LVT_TIMER, APIC_LVT_MASKED | VEC_TIMER);
	apic_write(APIC_TIMER_INIT, 0xffffffff);
	start = rdtsc();
	tsc_delay_us(ms * 1000);
	left = apic_read(APIC_TIMER_CURRENT);
	elapsed_tsc = rdtsc() - start;
	apic_write(APIC_TIMER_INIT, 0);
	/* Scale by the TSC actually elapsed: the delay can overshoot under a busy host. */
	timer_ticks_per_ms = (u64)(0xffffffffu - left) * tsc_khz() / MAX(elapsed_tsc, 1);
}

u64 apic_timer_ticks_per_ms(void)
{
	return timer_ticks_per_ms;
}

void apic_timer_oneshot(u32 ticks, u8 vector)
{
	apic_write(APIC_TIMER_DIVIDE, APIC_TIMER_DIVIDE_16);
	apic_write(APIC_LVT_TIMER, vector);
	apic_write(APIC_TIMER_INIT, ticks);
}

void apic_timer_stop(void)
{
	apic_write(APIC_LVT_TIMER, APIC_LVT_MASKED | VEC_TIMER);
	apic_write(APIC_TIMER_INIT, 0);
}
