/* tlbstorm: the boot CPU's path from the boot stub to the verdict. */
#include "boot/multiboot2.h"
#include "acpi/acpi.h"
#include "acpi/fwfault.h"
#include "hv/hv.h"
#include "kvm/kvm.h"
#include "bench/bench.h"
#include "bench/conformance.h"
#include "kernel/console.h"
#include "kernel/screen.h"
#include "kernel/cpu.h"
#include "kernel/hypervisor.h"
#include "kernel/exit.h"
#include "kernel/gdt.h"
#include "kernel/kernel.h"
#include "kernel/options.h"
#include "kernel/record.h"
#include "kernel/selftest.h"
#include "kernel/trap.h"
#include "kernel/x86.h"
#include "mm/mm.h"
#include "mm/tlb.h"
#include "kernel/time.h"
#include "bench/ipibench.h"
#include "smp/percpu.h"
#include "smp/smp.h"
#include "smp/tsc_sync.h"

extern const char df_stack_top[];

struct bootinfo bootinfo;

static void parse_boot_info(u32 magic, u32 info_phys)
{
	char err[160];

	if (bootinfo_parse(&bootinfo, magic, info_phys, phys_map_range, err, sizeof(err))) {
		kprintf("%s\n", err);
		kernel_exit(EXIT_ERROR);
	}
}

static const char *firmware_name(void)
{
	if (bootinfo.efi)
		return "uefi";
	return bootinfo.protocol ? "bios" : "unknown";
}

static void boot_record(void)
{
	char buf[RECORD_MAX];
	const struct bootinfo_fb *fb = &bootinfo.fb;
	const struct acpi_rsdp *r = acpi_rsdp();
	struct jw w;

	record_begin(&w, buf, sizeof(buf), "boot");
	jw_str(&w, "version", TLBSTORM_VERSION);
	jw_str(&w, "protocol", bootinfo.protocol == 2 ? "multiboot2" : "multiboot1");
	jw_str(&w, "loader", bootinfo.loader);
	jw_str(&w, "cmdline", bootinfo.args);
	jw_str(&w, "firmware", firmware_name());
	jw_u64(&w, "mem_usable_bytes", bootinfo_usable_bytes(&bootinfo));
	jw_u64(&w, "mmap_entries", bootinfo.nmmap);
	if (bootinfo.has_fb) {
		jw_obj_begin(&w, "framebuffer");
		jw_str(&w, "type", fb->type == MB_FB_TYPE_RGB ? "rgb" :
				   fb->type == MB_FB_TYPE_EGA_TEXT ? "ega-text" : "indexed");
		jw_u64(&w, "width", fb->width);
		jw_u64(&w, "height", fb->height);
		jw_u64(&w, "pitch", fb->pitch);
		jw_u64(&w, "bpp", fb->bpp);
		jw_u64(&w, "addr", fb->addr);
		jw_obj_end(&w);
	} else {
		jw_null(&w, "framebuffer");
	}
	jw_str(&w, "console", console_screen_name());
	if (r) {
		jw_obj_begin(&w, "acpi");
		jw_u64(&w, "revision", r->revision);
		jw_obj_end(&w);
	} else {
		jw_null(&w, "acpi");
	}
	jw_obj_begin(&w, "cpu");
	jw_str(&w, "vendor", cpu_vendor_string());
	jw_str(&w, "brand", cpu_brand_string());
	jw_obj_end(&w);
	record_end(&w);
}

static void report_boot(void)
{
	u64 usable = bootinfo_usable_bytes(&bootinfo);
	kprintf("boot: loader \"%s\" (%s, %s)\n", bootinfo.loader,
		bootinfo.protocol == 2 ? "multiboot2" : "multiboot1", firmware_name());
	kprintf("boot: cmdline \"%s\"\n", bootinfo.args);
	kprintf("boot: memory map: %u entries%s, %lu MiB usable\n", bootinfo.nmmap,
		bootinfo.mmap_truncated ? " (truncated)" : "", usable >> 20);
	for (u32 i = 0; i < bootinfo.nmmap; i++)
		kprintf("  0x%012lx-0x%012lx type %u\n", bootinfo.mmap[i].addr,
			bootinfo.mmap[i].addr + bootinfo.mmap[i].len, bootinfo.mmap[i].type);
	if (bootinfo.has_fb)
		kprintf("boot: framebuffer %ux%u, %u bpp, pitch %u at %#lx; screen: %s\n",
			bootinfo.fb.width, bootinfo.fb.height, bootinfo.fb.bpp, bootinfo.fb.pitch,
			bootinfo.fb.addr, console_screen_name());
	else
		kprintf("boot: no framebuffer; screen: %s\n", console_screen_name());
	kprintf("cpu: %s \"%s\"\n", cpu_vendor_string(), cpu_brand_string());
	boot_record();
}

/* fault=: provoke an exception nobody expects, to show how the kernel reports one. */
static volatile bool keep_recursing = true;

static void __attribute__((noinline)) overflow_stack(u64 depth)
{
	volatile u8 pad[512];

	pad[0] = (u8)depth;
	if (keep_recursing)
		overflow_stack(depth + 1);
	pad[1] = pad[0];
}

static void inject_fault(int kind)
{
	volatile u64 zero = 0;

	if (kind == FAULT_NONE)
		return;
	kprintf("tlbstorm: triggering a deliberate fault (fault= on the command line)\n");
	switch (kind) {
	case FAULT_UD:
		__asm__ volatile("ud2");
		break;
	case FAULT_GP:
		*(volatile u64 *)0x8000000000000000ull = 1; /* non-canonical */
		break;
	case FAULT_PF:
		*(volatile u64 *)zero = 1; /* nothing is mapped at 0 */
		break;
	case FAULT_DE:
		__asm__ volatile("divq %2" : "+a"(zero) : "d"(0ull), "r"(zero * 0)); /* #DE */
		break;
	case FAULT_DF:
		overflow_stack(0); /* runs into the guard page; #PF cannot be delivered there */
		break;
	case FAULT_BP:
		__asm__ volatile("int3");
		break;
	}
	kprintf("tlbstorm: the deliberate fault did not fault\n");
	kernel_exit(EXIT_ERROR);
}

void kmain(u32 magic, u32 info_phys)
{
	int verdict = EXIT_PASS;

	console_init_serial();                               /* COM1 first: all else can report */
	percpu_init_bsp();                                   /* this_cpu() through GS */
	gdt_load(&percpu_bsp.tables, (u64)df_stack_top);     /* GDT, TSS, double-fault stack */
	idt_init();                                          /* every exception is reported */
	mm_early_init();                                     /* W^X image, guard pages */
	parse_boot_info(magic, info_phys);                   /* Multiboot2 or v1 → bootinfo */
	mm_cpu_init();                                       /* PAT, global pages, PCIDs */
	mm_init(&bootinfo);                                  /* frames, direct map, page tables */
	console_set_screen(fbcon_init(&bootinfo) ?: vgacon_init(&bootinfo)); /* or VGA text */
	kprintf("\ntlbstorm %s: TLB shootdown benchmark\n", TLBSTORM_VERSION);
	options_parse(bootinfo.args);                        /* usage errors end here */
	time_set_slowness((u32)cfg.slow);                    /* before any liveness timeout */
	exit_set_pause(cfg.pause);
	fw_fault_set(cfg.fw_fault);                          /* test hook, before the tables */
	acpi_init(&bootinfo);                                /* tables, power-off */
	report_boot();
	hypervisor_detect();                                 /* which platform */
	hv_detect();                                         /* Hyper-V leaves, if any */
	if (cfg.pv != PV_KVM)
		hv_early_init();                             /* APIC MSRs, invariant TSC */
	kvm_detect();                                        /* KVM's own leaves, if any */
	time_init();                                         /* TSC frequency */
	smp_init(&(struct smp_settings){ .max_cpus = cfg.cpus, .ap_timeout_ms = cfg.ap_timeout_ms,
					  .lose_cpu = cfg.lose_cpu,
					  .tramp_reserved = cfg.tramp_reserved }); /* APIC, every vCPU online */
	tsc_sync_report();                                   /* cross-CPU TSC offsets */
	if (cfg.pv != PV_KVM)
		hv_init(cfg.hv_inject_status);               /* hypercall page, VP indices */
	hv_report();
	if (cfg.pv != PV_HYPERV)
		kvm_init(cfg.kvm_forget_flag);               /* steal time; never beside Hyper-V */
	tlb_init(&(struct tlb_settings){                     /* shootdown backends */
		.ack_timeout_us = liveness_us(cfg.ack_timeout_ms * 1000), .flush_threshold = cfg.flush_threshold,
		.deaf_cpu = cfg.deaf_cpu ? (u32)cfg.deaf_cpu : INVALID_CPU });
	inject_fault(cfg.fault);
	if (cfg.mode == MODE_SELFTEST)
		verdict = selftest_run(cfg.tests);
	else if (cfg.mode == MODE_BENCH)
		verdict = bench_run();
	else if (cfg.mode == MODE_CONFORMANCE)
		verdict = conformance_run();                 /* bench/conformance.c */
	else if (ipi_floor_run(cfg.ipi_iters, cfg.targets.v[0] == TARGETS_HALT))
		verdict = EXIT_FAIL;
	if (smp_missing_cpus()) {                            /* a lost CPU: not a whole pass */
		smp_report_missing();
		verdict = exit_worse(verdict, EXIT_ERROR);
	}
	if (!tsc_info()->measured) {                         /* a guessed clock: no time is right */
		kprintf("time: the TSC frequency was guessed, so every time reported is wrong; the run is an error\n");
		verdict = exit_worse(verdict, EXIT_ERROR);
	}
	kernel_exit(verdict);
}
