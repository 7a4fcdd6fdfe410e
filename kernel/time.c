/* TSC frequency, from the most direct source the platform has (kernel/clocksel.h gives the
 * order): Hyper-V's HV_X64_MSR_TSC_FREQUENCY (TLFS 2.4.4: AccessFrequencyMsrs and the frequency
 * MSRs available), the hypervisor timing leaf 0x40000010 EAX (kHz; VMware's interface, also
 * QEMU/KVM's), CPUID 0x15 (crystal clock ratio, SDM 2A CPUID), then calibration against PIT
 * channel 2 (8254; 1.193182 MHz) where a PIT answers, or against the ACPI PM timer (3.579545
 * MHz) wherever the FADT names one (X_PM_TMR_BLK first: Hyper-V Generation 2 has no PIT and fills
 * only that). Both timers are measured whenever present: one checks the other, or the reported
 * frequency, and a disagreement above 1% is printed and recorded. Every wait on a timer is
 * bounded by a count of polls, not by the clock being calibrated. */
#include "kernel/time.h"
#include "hv/tlfs.h"
#include "acpi/acpi.h"
#include "kernel/clocksel.h"
#include "kernel/console.h"
#include "kernel/hypervisor.h"
#include "kernel/math.h"
#include "kernel/string.h"
#include "kernel/trap.h"
#include "kernel/x86.h"

#define PIT_HZ 1193182u
#define PIT_CH2 0x42
#define PIT_CMD 0x43
#define PIT_GATE 0x61 /* bit 0 gate channel 2, bit 1 speaker, bit 5 channel 2 output */
#define PIT_CH2_MODE0_LOHI 0xb0
#define PIT_CH2_LATCH 0x80
#define PIT_CALIBRATE_MS 25
#define PM_TIMER_HZ 3579545u
#define PM_TIMER_MASK_24 0xffffffu
#define CPUID_80000007_EDX_INVTSC (1u << 8)
#define HV_TIMING_LEAF 0x40000010
static u32 slowness = 1;
static u64 liveness_gap = ~0ull; /* LIVENESS_GAP_US in cycles, once the TSC is known */
/* Polls of a timer's port before giving up: each is an exit under virtualisation (about 1 us),
 * so a 25 ms calibration needs tens of thousands; this bounds a dead timer to seconds. */
#define SPIN_LIMIT 5000000ull
#define PIT_PROBE_READS 1000

static struct tsc_info info;
static struct clock_choice choice;

static u64 from_hyperv(u32 max)
{
	u64 hz;

	if (!hypervisor.hv_interface || max < HV_CPUID_FEATURES ||
	    !(cpuid_eax(HV_CPUID_FEATURES) & HV_ACCESS_FREQUENCY_MSRS) ||
	    !(cpuid_edx(HV_CPUID_FEATURES) & HV_FEATURE_FREQUENCY_MSRS_AVAILABLE))
		return 0;
	if (rdmsr_safe(HV_X64_MSR_TSC_FREQUENCY, &hz)) {
		kprintf("time: HV_X64_MSR_TSC_FREQUENCY faulted although offered; not used\n");
		return 0;
	}
	return hz / 1000;
}

static u64 from_timing_leaf(u32 max)
{
	/* Only trust the leaf when the hypervisor says it has it (max leaf covers it). */
	return max >= HV_TIMING_LEAF ? cpuid_eax(HV_TIMING_LEAF) : 0;
}

static u64 from_cpuid_15(void)
{
	u32 den, num, crystal, d;

	if (cpuid_eax(0) < 0x15)
		return 0;
	cpuid_count(0x15, 0, &den, &num, &crystal, &d);
	if (!den || !num || !crystal)
		return 0;
	return (u64)crystal * num / den / 1000;
}

/* CPUID 0x16 EAX: the processor base frequency in MHz, which the TSC runs at on the CPUs that
 * report it without a crystal frequency in leaf 0x15. A nominal value: only used when nothing
 * can be measured. */
static u64 from_cpuid_16(void)
{
	return cpuid_eax(0) >= 0x16 ? (u64)(cpuid_eax(0x16) & 0xffff) * 1000 : 0;
}

static u16 pit_ch2_count(void)
{
	u16 lo;

	outb(PIT_CMD, PIT_CH2_LATCH);
	lo = inb(PIT_CH2);
	return lo | (u16)inb(PIT_CH2) << 8;
}

/* Whether a PIT answers: channel 2, just loaded with `count` in mode 0, must read back at most
 * that and then count down. An absent one reads 0xffff (nothing drives the bus), and its gate
 * port (which QEMU keeps for the speaker) is no evidence. */
static bool pit_present(u16 count)
{
	u16 first = pit_ch2_count();

	if (first > count)
		return false;
	for (u32 i = 0; i < PIT_PROBE_READS; i++)
		if (pit_ch2_count() < first)
			return true;
	return false;
}

/* Count TSC cycles while PIT channel 2 counts down PIT_CALIBRATE_MS in mode 0. */
static u64 from_pit(void)
{
	u32 count = PIT_HZ * PIT_CALIBRATE_MS / 1000;
	u64 start, end, spins = 0;

	outb(PIT_GATE, (inb(PIT_GATE) & ~0x02) | 0x01); /* gate on, speaker off */
	outb(PIT_CMD, PIT_CH2_MODE0_LOHI);
	outb(PIT_CH2, count & 0xff);
	outb(PIT_CH2, count >> 8);
	start = rdtsc();
	if (!pit_present((u16)count))
		return 0; /* no PIT (Hyper-V Generation 2 has none) */
	while (!(inb(PIT_GATE) & 0x20))
		if (++spins > SPIN_LIMIT)
			return 0;
	end = rdtsc();
	return (end - start) / PIT_CALIBRATE_MS;
}

static u64 from_pm_timer(void)
{
	const struct acpi_fadt *f = acpi_fadt();
	u32 mask, start, now, target = PM_TIMER_HZ / 1000 * PIT_CALIBRATE_MS;
	u64 t0, spins = 0;
	bool ext;
	u16 port;

	if (!f || !(port = acpi_pm_timer_port(f, &ext)))
		return 0;
	mask = ext ? 0xffffffffu : PM_TIMER_MASK_24;
	start = inl(port) & mask;
	t0 = rdtsc();
	do {
		now = inl(port) & mask;
		if (++spins > SPIN_LIMIT)
			return 0; /* named but not counting */
	} while (((now - start) & mask) < target);
	return (rdtsc() - t0) * PM_TIMER_HZ / (((u64)(now - start) & mask) * 1000);
}

void time_init(void)
{
	/* kernel/hypervisor.c has read the hypervisor leaves already (hypervisor_detect()). */
	u32 max = hypervisor.present ? hypervisor.max_leaf : 0;
	u64 khz[CLOCK_NSOURCES] = {
		[CLOCK_HYPERV_MSR] = from_hyperv(max), [CLOCK_TIMING_LEAF] = from_timing_leaf(max),
		[CLOCK_CPUID_15] = from_cpuid_15(),    [CLOCK_PIT] = from_pit(),
		[CLOCK_PM_TIMER] = from_pm_timer(),    [CLOCK_CPUID_16] = from_cpuid_16(),
	};

	info.invariant = cpuid_eax(0x80000000) >= 0x80000007 &&
			 (cpuid_edx(0x80000007) & CPUID_80000007_EDX_INVTSC);
	info.pit_khz = khz[CLOCK_PIT];
	info.pm_timer_khz = khz[CLOCK_PM_TIMER];
	clock_choose(khz, &choice);
	info.khz = choice.khz;
	info.source = choice.source < 0 ? "guess-1ghz" : clock_source_names[choice.source];
	info.measured = choice.source >= 0;
	info.check_source = choice.check < 0 ? NULL : clock_source_names[choice.check];
	info.check_khz = choice.check_khz;
	info.disagreement_ppm = choice.disagreement_ppm;
	info.disagrees = choice.disagrees;
	liveness_gap = ns_to_tsc(LIVENESS_GAP_US * 1000);
	if (choice.source < 0)
		kprintf("time: no way to measure the TSC frequency; assuming 1 GHz, times are wrong\n");
	kprintf("time: TSC %lu.%03lu MHz from %s (PIT %lu kHz, PM timer %lu kHz), %s\n", info.khz / 1000,
		info.khz % 1000, info.source, info.pit_khz, info.pm_timer_khz,
		info.invariant ? "invariant" : "not marked invariant");
	if (choice.disagrees)
		kprintf("time: %s says %lu kHz, %lu.%02lu%% away from %s's %lu kHz: one of them is wrong\n",
			info.check_source, info.check_khz, info.disagreement_ppm / 10000,
			info.disagreement_ppm / 100 % 100, info.source, info.khz);
}

const struct tsc_info *tsc_info(void)
{
	return &info;
}

u64 tsc_khz(void)
{
	return info.khz ? info.khz : 1000000;
}

u64 tsc_to_ns(u64 cycles)
{
	/* 128-bit intermediate: cycles * 1e6 overflows 64 bits after ~5 hours at 1 GHz. */
	return mul_div_u64(cycles, 1000000, tsc_khz());
}

u64 ns_to_tsc(u64 ns)
{
	return mul_div_u64(ns, tsc_khz(), 1000000);
}


void time_set_slowness(u32 factor)
{
	slowness = factor ? factor : 1;
}

u32 time_slowness(void)
{
	return slowness;
}

u64 liveness_us(u64 us)
{
	return us * slowness;
}

void liveness_start_at(struct liveness *l, u64 deadline_tsc)
{
	*l = (struct liveness){ .deadline = deadline_tsc };
}

void liveness_start(struct liveness *l, u64 us)
{
	liveness_start_at(l, deadline_after_us(liveness_us(us)));
	l->last = rdtsc();
}

bool liveness_expired(struct liveness *l)
{
	u64 now = rdtsc();

	/* The first poll of a wait started in TSC (inside a timed window) only sets `last`. */
	if (l->last && now - l->last > liveness_gap) {
		l->deadline += now - l->last;
		l->stalled += now - l->last;
	}
	l->last = now;
	return (s64)(now - l->deadline) >= 0;
}

u64 deadline_after_us(u64 us)
{
	return rdtsc() + ns_to_tsc(us * 1000);
}

u64 deadline_after_at_least_us(u64 us)
{
	return rdtsc() + mul_div_u64(us, choice.wait_khz ? choice.wait_khz : CLOCK_WAIT_FLOOR_KHZ, 1000);
}

bool deadline_passed(u64 deadline)
{
	return (s64)(rdtsc() - deadline) >= 0;
}

void tsc_delay_us(u64 us)
{
	u64 d = deadline_after_us(us);

	while (!deadline_passed(d))
		cpu_relax();
}

void tsc_delay_at_least_us(u64 us)
{
	u64 d = deadline_after_at_least_us(us);

	while (!deadline_passed(d))
		cpu_relax();
}
