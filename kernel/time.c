/* TSC frequency, from the most direct source available (each reported by name):
 *   Hyper-V HV_X64_MSR_TSC_FREQUENCY (TLFS 2.4.4, when AccessFrequencyMsrs is granted),
 *   the hypervisor timing leaf 0x40000010 EAX (kHz; VMware's interface, also QEMU/KVM's),
 *   CPUID 0x15 (crystal clock ratio, SDM 2A CPUID), then
 *   calibration against PIT channel 2 (8254; 1.193182 MHz) or the ACPI PM timer (3.579545 MHz). */
#include "kernel/time.h"
#include "hv/tlfs.h"
#include "acpi/acpi.h"
#include "kernel/console.h"
#include "kernel/hypervisor.h"
#include "kernel/math.h"
#include "kernel/string.h"
#include "kernel/x86.h"

#define PIT_HZ 1193182u
#define PIT_CH2 0x42
#define PIT_CMD 0x43
#define PIT_GATE 0x61 /* bit 0 gate channel 2, bit 1 speaker, bit 5 channel 2 output */
#define PIT_CH2_MODE0_LOHI 0xb0
#define PIT_CALIBRATE_MS 25
#define PM_TIMER_HZ 3579545u
#define PM_TIMER_MASK_24 0xffffffu
#define FADT_TMR_VAL_EXT (1u << 8)
#define CPUID_80000007_EDX_INVTSC (1u << 8)
#define HV_TIMING_LEAF 0x40000010
#define SPIN_LIMIT 100000000ull

static struct tsc_info info;

static u64 from_hyperv(u32 max)
{
	u64 hz;

	if (hypervisor.kind != HYPERVISOR_HYPERV || max < HV_CPUID_FEATURES ||
	    !(cpuid_eax(HV_CPUID_FEATURES) & HV_ACCESS_FREQUENCY_MSRS))
		return 0;
	hz = rdmsr(HV_X64_MSR_TSC_FREQUENCY);
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
	while (!(inb(PIT_GATE) & 0x20))
		if (++spins > SPIN_LIMIT)
			return 0; /* no PIT (Hyper-V Gen2 has none) */
	end = rdtsc();
	return (end - start) / PIT_CALIBRATE_MS;
}

static u64 from_pm_timer(void)
{
	const struct acpi_fadt *f = acpi_fadt();
	u32 mask, start, now, target = PM_TIMER_HZ / 1000 * PIT_CALIBRATE_MS;
	u64 t0, spins = 0;
	u16 port;

	if (!f || !f->pm_tmr_blk)
		return 0;
	port = f->pm_tmr_blk;
	mask = (f->flags & FADT_TMR_VAL_EXT) ? 0xffffffffu : PM_TIMER_MASK_24;
	start = inl(port) & mask;
	t0 = rdtsc();
	do {
		now = inl(port) & mask;
		if (++spins > SPIN_LIMIT)
			return 0;
	} while (((now - start) & mask) < target);
	return (rdtsc() - t0) * PM_TIMER_HZ / (((u64)(now - start) & mask) * 1000);
}

void time_init(void)
{
	/* kernel/hypervisor.c has read the hypervisor leaves already (hypervisor_detect()). */
	u32 max = hypervisor.present ? hypervisor.max_leaf : 0;

	info.invariant = cpuid_eax(0x80000000) >= 0x80000007 &&
			 (cpuid_edx(0x80000007) & CPUID_80000007_EDX_INVTSC);
	info.pit_khz = from_pit();
	if ((info.khz = from_hyperv(max)))
		info.source = "hyperv-msr";
	else if ((info.khz = from_timing_leaf(max)))
		info.source = "cpuid-0x40000010";
	else if ((info.khz = from_cpuid_15()))
		info.source = "cpuid-0x15";
	else if ((info.khz = info.pit_khz))
		info.source = "pit";
	else if ((info.khz = from_pm_timer()))
		info.source = "acpi-pm-timer";
	else if ((info.khz = from_cpuid_16()))
		info.source = "cpuid-0x16";
	if (!info.khz) {
		info.khz = 1000000;
		info.source = "guess-1ghz";
		kprintf("time: no way to measure the TSC frequency; assuming 1 GHz, times are wrong\n");
	}
	kprintf("time: TSC %lu.%03lu MHz from %s (PIT calibration %lu kHz), %s\n", info.khz / 1000,
		info.khz % 1000, info.source, info.pit_khz,
		info.invariant ? "invariant" : "not marked invariant");
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

u64 deadline_after_us(u64 us)
{
	return rdtsc() + ns_to_tsc(us * 1000);
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
