/* Bring-up: enumerate processors from the MADT, set up the boot CPU's APIC, then start each
 * application processor with INIT-SIPI-SIPI (SDM 3A 9.4.4.1), one at a time so that dense CPU
 * indices follow the MADT order. An AP that does not check in is reported and left out, and
 * when a CPU that was asked for is missing the run is an error (smp_missing_cpus()). */
#include "smp/smp.h"
#include "acpi/acpi.h"
#include "kernel/console.h"
#include "kernel/errno.h"
#include "kernel/kernel.h"
#include "kernel/record.h"
#include "kernel/string.h"
#include "kernel/time.h"
#include "kernel/trap.h"
#include "kernel/x86.h"
#include "mm/mm.h"
#include "smp/apic.h"
#include "acpi/madt.h"

#define INIT_DEASSERT_DELAY_US 10000 /* SDM 9.4.4.1: 10 ms after INIT */
#define SIPI_DELAY_US 200

extern const u8 trampoline_start[], trampoline_end[], trampoline_params[];

static u32 madt_ids[MAX_CPUS];
static u32 nr_listed;
static u32 failed_ids[MAX_CPUS], nr_failed;
static u32 nr_asked = 1; /* CPUs this boot should have: the listed ones, at most cpus= */
static const char *topology_source = "none";
static struct smp_settings settings = { .max_cpus = MAX_CPUS, .ap_timeout_ms = 1000 };

u32 cpu_to_apic_id(u32 cpu)
{
	return cpu < MAX_CPUS && cpumask_test(&cpu_online_mask, cpu) ? percpu_of(cpu)->apic_id
								     : INVALID_APIC_ID;
}

u32 apic_id_to_cpu(u32 apic_id)
{
	for (u32 cpu = 0; cpu < nr_cpus; cpu++)
		if (percpu_of(cpu)->apic_id == apic_id && cpumask_test(&cpu_online_mask, cpu))
			return cpu;
	return INVALID_CPU;
}

/* The processors the firmware lists; on any problem, just the boot CPU. */
static u64 read_topology(u32 bsp_apic_id)
{
	const struct acpi_header *madt = acpi_find_table("APIC", 0);
	struct madt_info mi;
	char err[160];

	if (!madt) {
		kprintf("smp: no MADT; running on the boot CPU only\n");
		return 0;
	}
	if (madt_parse(madt, madt->length, madt_ids, MAX_CPUS, &mi, err, sizeof(err))) {
		kprintf("%s; running on the boot CPU only\n", err);
		return 0;
	}
	nr_listed = MIN(mi.ncpus, MAX_CPUS);
	topology_source = "madt";
	if (mi.truncated)
		kprintf("smp: the MADT lists %u processors; using the first %u\n", mi.ncpus, MAX_CPUS);
	if (mi.duplicates)
		kprintf("smp: the MADT lists %u APIC IDs twice\n", mi.duplicates);
	for (u32 i = 0; i < nr_listed; i++)
		if (madt_ids[i] == bsp_apic_id)
			return mi.lapic_phys;
	kprintf("smp: the boot CPU (APIC ID %u) is not in the MADT; running on it only\n", bsp_apic_id);
	nr_listed = 0;
	return mi.lapic_phys;
}

static u64 tramp_page; /* where the AP start-up code runs (below 1 MiB), 0: nowhere */

/* Usable RAM by the memory map, and nothing of ours in it. */
static bool low_page_free(u64 start)
{
	if (start == (settings.tramp_reserved & ~(u64)(PAGE_SIZE - 1)) && settings.tramp_reserved)
		return false;
	for (u32 i = 0; i < bootinfo.nmmap; i++) {
		const struct bootinfo_mmap *m = &bootinfo.mmap[i];

		if (m->type == 1 && m->addr <= start && m->addr + m->len >= start + PAGE_SIZE)
			return !mm_phys_in_use(start, PAGE_SIZE);
	}
	return false;
}

/* The page the SIPI starts the APs at: TRAMPOLINE_PHYS when free, else the lowest free page
 * below 1 MiB above the real-mode vector table (page 0); 0 when there is none. */
static u64 pick_tramp_page(void)
{
	if ((u64)(trampoline_end - trampoline_start) > PAGE_SIZE)
		return 0;
	if (low_page_free(TRAMPOLINE_PHYS))
		return TRAMPOLINE_PHYS;
	for (u64 pa = PAGE_SIZE; pa < TRAMPOLINE_LIMIT; pa += PAGE_SIZE)
		if (low_page_free(pa))
			return pa;
	return 0;
}

static void ap_entry(struct percpu *p);

static bool start_ap(u32 cpu, u32 apic_id)
{
	struct percpu *p = percpu_of(cpu);
	struct tramp_params *tp = phys_to_virt(tramp_page + (trampoline_params - trampoline_start));
	u64 deadline;

	memset(p, 0, sizeof(*p));
	p->cpu = cpu;
	p->apic_id = apic_id;
	p->stack_top = mm_alloc_kstack(BOOT_STACK_SIZE);
	p->df_stack_top = mm_alloc_kstack(IST_STACK_SIZE);
	if (!p->stack_top || !p->df_stack_top) {
		kprintf("smp: out of memory for the stacks of APIC ID %u\n", apic_id);
		return false;
	}
	tp->cr3 = mm_trampoline_cr3();
	tp->efer = EFER_LME | (mm_nx_enabled() ? EFER_NXE : 0);
	tp->stack = p->stack_top;
	tp->percpu = (u64)p;
	tp->entry = (u64)ap_entry;
	__atomic_thread_fence(__ATOMIC_SEQ_CST); /* parameters visible before the AP starts */

	apic_send_init(apic_id);
	tsc_delay_at_least_us(INIT_DEASSERT_DELAY_US);
	for (int i = 0; i < 2; i++) {
		apic_send_startup(apic_id, tramp_page >> PAGE_SHIFT);
		tsc_delay_at_least_us(SIPI_DELAY_US);
		if (__atomic_load_n(&p->online, __ATOMIC_ACQUIRE))
			return true;
	}
	deadline = deadline_after_at_least_us(liveness_us(settings.ap_timeout_ms * 1000));
	while (!deadline_passed(deadline)) {
		/* pairs with the release in ap_entry() */
		if (__atomic_load_n(&p->online, __ATOMIC_ACQUIRE))
			return true;
		cpu_relax();
	}
	/* Put it back into wait-for-SIPI so that it cannot wake up later in this area. */
	apic_send_init(apic_id);
	return false;
}

static void ap_entry(struct percpu *p)
{
	write_cr3(mm_kernel_cr3()); /* leave the trampoline's 1:1 map */
	mm_cpu_init();
	percpu_load(p);
	gdt_load(&p->tables, p->df_stack_top);
	idt_load();
	apic_init_ap();
	if (apic_read_id() != p->apic_id) {
		/* Woken for another CPU's area (a late start-up): stay out of the way. */
		for (;;)
			hlt();
	}
	__atomic_store_n(&p->online, 1, __ATOMIC_RELEASE); /* pairs with start_ap()'s acquire */
	smp_call_loop();
}

/* lose_cpu=: a test hook that leaves one AP unstarted, so that it looks exactly like one that
 * never checked in. */
static bool start_or_lose_ap(u32 cpu, u32 apic_id)
{
	if (settings.lose_cpu && apic_id == settings.lose_cpu) {
		kprintf("smp: not starting APIC ID %u (lose_cpu= test hook)\n", apic_id);
		return false;
	}
	return start_ap(cpu, apic_id);
}

static void bring_up(u32 bsp_apic_id)
{
	for (u32 i = 0; i < nr_listed; i++) {
		u32 id = madt_ids[i];

		if (id == bsp_apic_id)
			continue;
		if (nr_cpus >= nr_asked)
			break;
		if (!apic_x2apic_mode() && id > XAPIC_MAX_ID) {
			kprintf("smp: APIC ID %u needs x2APIC, which this CPU lacks; left out\n", id);
			failed_ids[nr_failed++] = id;
			continue;
		}
		if (start_or_lose_ap(nr_cpus, id)) {
			cpumask_set(&cpu_online_mask, nr_cpus);
			nr_cpus++;
		} else {
			kprintf("smp: APIC ID %u did not check in within %lu ms; left out\n", id,
				liveness_us(settings.ap_timeout_ms * 1000) / 1000);
			failed_ids[nr_failed++] = id;
		}
	}
}

/* No AP can be started: every one asked for is missing. */
static void leave_out_all(u32 bsp_apic_id)
{
	for (u32 i = 0; i < nr_listed && 1 + nr_failed < nr_asked; i++)
		if (madt_ids[i] != bsp_apic_id)
			failed_ids[nr_failed++] = madt_ids[i];
}

int smp_send_ipi_mask(const struct cpumask *targets, u8 vector)
{
	int ret = 0;

	for_each_cpu(cpu, targets)
		if (cpu != smp_cpu())
			ret |= apic_send_ipi(cpu_to_apic_id(cpu), vector);
	return ret ? -EIO : 0;
}

void smp_init(const struct smp_settings *s)
{
	u32 bsp_apic_id;
	u64 lapic_phys;

	settings = *s;
	cpumask_set(&cpu_online_mask, 0);
	apic_init_bsp(0);
	bsp_apic_id = apic_read_id();
	percpu_bsp.apic_id = bsp_apic_id;
	lapic_phys = read_topology(bsp_apic_id);
	nr_asked = MIN(MAX(nr_listed, 1u), MIN(settings.max_cpus, MAX_CPUS));
	if (lapic_phys && lapic_phys != APIC_DEFAULT_PHYS && !apic_x2apic_mode())
		apic_init_bsp(lapic_phys);
	smp_call_init();
	sti();
	if (nr_asked > 1) {
		tramp_page = pick_tramp_page();
		if (tramp_page) {
			if (tramp_page != TRAMPOLINE_PHYS)
				kprintf("smp: page %#x is not free RAM; the AP start-up code runs at %#lx\n",
					TRAMPOLINE_PHYS, tramp_page);
			memcpy(phys_to_virt(tramp_page), trampoline_start, trampoline_end - trampoline_start);
			bring_up(bsp_apic_id);
		} else {
			kprintf("smp: no free page below 1 MiB for the AP start-up code: boot CPU only, "
				"and the run is an error\n");
			leave_out_all(bsp_apic_id);
		}
	}
	mm_trampoline_done();
	apic_timer_calibrate();
	smp_report();
	smp_report_missing(); /* once here, once more before the verdict (kmain) */
}

u32 smp_missing_cpus(void)
{
	return nr_asked > nr_cpus ? nr_asked - nr_cpus : 0;
}

void smp_report_missing(void)
{
	u32 missing = smp_missing_cpus();

	if (!missing)
		return;
	if (nr_asked == MAX(nr_listed, 1u))
		kprintf("smp: %u of %u listed CPUs did not come online (APIC IDs", missing, nr_asked);
	else
		kprintf("smp: %u of the %u CPUs asked for by cpus= (%u listed) did not come online "
			"(APIC IDs", missing, nr_asked, nr_listed);
	for (u32 i = 0; i < nr_failed; i++)
		kprintf("%s%u", i ? ", " : " ", failed_ids[i]);
	kprintf("); the run is an error\n");
}

void smp_report(void)
{
	char buf[RECORD_MAX];
	struct jw w;

	kprintf("smp: %u of %u CPUs online, %s mode, APIC IDs:", nr_cpus, MAX(nr_listed, 1u),
		apic_mode_name());
	for (u32 cpu = 0; cpu < nr_cpus; cpu++)
		kprintf(" %u", percpu_of(cpu)->apic_id);
	kprintf("\n");
	record_begin(&w, buf, sizeof(buf), "topology");
	jw_str(&w, "source", topology_source);
	jw_str(&w, "apic_mode", apic_mode_name());
	jw_u64(&w, "listed", MAX(nr_listed, 1u));
	jw_u64(&w, "online", nr_cpus);
	jw_u64(&w, "missing", smp_missing_cpus());
	jw_u64(&w, "apic_timer_ticks_per_ms", apic_timer_ticks_per_ms());
	jw_hex(&w, "trampoline_page", tramp_page);
	jw_arr_begin(&w, "apic_ids");
	for (u32 cpu = 0; cpu < nr_cpus; cpu++)
		jw_u64(&w, NULL, percpu_of(cpu)->apic_id);
	jw_arr_end(&w);
	jw_arr_begin(&w, "failed_apic_ids");
	for (u32 i = 0; i < nr_failed; i++)
		jw_u64(&w, NULL, failed_ids[i]);
	jw_arr_end(&w);
	record_end(&w);
}
