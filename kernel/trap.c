/* Exception and interrupt dispatch. An expected fault (exception table, exec_safe) resumes the
 * code that asked for it; any other exception is reported in full — vector, error code, CR2,
 * registers, CPU, frame-pointer backtrace, a machine-readable record — and fails the run. */
#include "kernel/trap.h"
#include "kernel/console.h"
#include "kernel/exit.h"
#include "kernel/gdt.h"
#include "kernel/record.h"
#include "kernel/x86.h"

#define IDT_ENTRIES 256
#define GATE_INTERRUPT 0x8e /* present, DPL 0, 64-bit interrupt gate */
#define BACKTRACE_MAX 16
#define BACKTRACE_SPAN 0x10000 /* frames further than this above the fault's RSP are bogus */

struct idt_gate {
	u16 offset_lo, selector;
	u8 ist, type;
	u16 offset_mid;
	u32 offset_hi, reserved;
} __attribute__((packed));
_Static_assert(sizeof(struct idt_gate) == 16, "IDT gate (SDM 3A 6.14.1)");

extern const u64 isr_table[IDT_ENTRIES];
extern const struct extable_entry __extable_start[], __extable_end[];
extern const char __text_start[], __text_end[];

static struct idt_gate idt[IDT_ENTRIES] __attribute__((aligned(16)));
static trap_handler_fn handlers[IDT_ENTRIES];

static const char *const names[NR_EXCEPTIONS] = {
	[VEC_DE] = "#DE divide error", [VEC_DB] = "#DB debug", [VEC_NMI] = "NMI",
	[VEC_BP] = "#BP breakpoint", [VEC_OF] = "#OF overflow", [VEC_BR] = "#BR bound range",
	[VEC_UD] = "#UD invalid opcode", [VEC_NM] = "#NM device not available",
	[VEC_DF] = "#DF double fault", [VEC_TS] = "#TS invalid TSS",
	[VEC_NP] = "#NP segment not present", [VEC_SS] = "#SS stack fault",
	[VEC_GP] = "#GP general protection", [VEC_PF] = "#PF page fault",
	[VEC_MF] = "#MF x87 error", [VEC_AC] = "#AC alignment check", [VEC_MC] = "#MC machine check",
	[VEC_XM] = "#XM SIMD error", [VEC_VE] = "#VE virtualization", [VEC_CP] = "#CP control protection",
};

const char *exception_name(u64 vector)
{
	if (vector < NR_EXCEPTIONS && names[vector])
		return names[vector];
	return vector < NR_EXCEPTIONS ? "reserved exception" : "interrupt";
}

void idt_init(void)
{
	for (int v = 0; v < IDT_ENTRIES; v++) {
		u64 a = isr_table[v];

		idt[v] = (struct idt_gate){ .offset_lo = a & 0xffff, .selector = GDT_KERNEL_CS,
					    .ist = v == VEC_DF ? IST_DOUBLE_FAULT : 0,
					    .type = GATE_INTERRUPT, .offset_mid = (a >> 16) & 0xffff,
					    .offset_hi = a >> 32 };
	}
	idt_load();
}

void idt_load(void)
{
	struct desc_ptr p = { .limit = sizeof(idt) - 1, .base = (u64)idt };

	__asm__ volatile("lidt %0" ::"m"(p));
}

void trap_set_handler(u8 vector, trap_handler_fn fn)
{
	handlers[vector] = fn;
}

static bool fixup_expected(struct trap_frame *f)
{
	struct percpu *p = this_cpu();

	for (const struct extable_entry *e = __extable_start; e < __extable_end; e++) {
		if (e->insn == f->rip) {
			p->fault_vector = f->vector;
			p->fault_addr = f->vector == VEC_PF ? read_cr2() : 0;
			f->rip = e->fixup;
			return true;
		}
	}
	/* exec_safe(): the fault is at the call's target; return to its caller. */
	if (p->exec_probe_target && f->rip == p->exec_probe_target &&
	    (f->vector == VEC_PF || f->vector == VEC_GP || f->vector == VEC_UD)) {
		p->fault_vector = f->vector;
		p->fault_addr = f->vector == VEC_PF ? read_cr2() : 0;
		p->exec_probe_target = 0;
		f->rip = *(u64 *)f->rsp;
		f->rsp += 8;
		return true;
	}
	return false;
}

int exec_safe(const void *target)
{
	struct percpu *p = this_cpu();

	p->fault_vector = 0;
	p->exec_probe_target = (u64)target;
	__asm__ volatile("call *%0" ::"r"(target)
			 : "rax", "rcx", "rdx", "rsi", "rdi", "r8", "r9", "r10", "r11", "memory");
	p->exec_probe_target = 0;
	return p->fault_vector;
}

static void print_pf_error(u64 err)
{
	kprintf(" [%s, %s, %s%s%s]", err & PF_ERR_P ? "protection" : "not-present",
		err & PF_ERR_W ? "write" : "read", err & PF_ERR_U ? "user" : "supervisor",
		err & PF_ERR_I ? ", fetch" : "", err & PF_ERR_RSVD ? ", reserved-bit" : "");
}

/* Follow saved frame pointers while they stay inside the interrupted stack and are readable. */
static int backtrace(const struct trap_frame *f, u64 *out)
{
	u64 rbp = f->rbp;
	int n = 0;

	out[n++] = f->rip;
	while (n < BACKTRACE_MAX && rbp >= f->rsp && rbp - f->rsp < BACKTRACE_SPAN && !(rbp & 7)) {
		u64 next, ret;

		if (read_safe((u64 *)rbp, &next) || read_safe((u64 *)rbp + 1, &ret))
			break;
		if (ret < (u64)__text_start || ret >= (u64)__text_end)
			break;
		out[n++] = ret;
		if (next <= rbp)
			break;
		rbp = next;
	}
	return n;
}

static void exception_record(const struct trap_frame *f, u64 cr2, const u64 *bt, int nbt)
{
	char buf[RECORD_MAX];
	struct jw w;

	record_begin(&w, buf, sizeof(buf), "exception");
	jw_u64(&w, "vector", f->vector);
	jw_str(&w, "name", exception_name(f->vector));
	jw_u64(&w, "error", f->error);
	jw_hex(&w, "rip", f->rip);
	jw_hex(&w, "cr2", cr2);
	jw_hex(&w, "rsp", f->rsp);
	jw_u64(&w, "cpu", this_cpu()->cpu);
	jw_arr_begin(&w, "backtrace");
	for (int i = 0; i < nbt; i++)
		jw_hex(&w, NULL, bt[i]);
	jw_arr_end(&w);
	record_end(&w);
}

static __attribute__((noreturn)) void report_exception(struct trap_frame *f)
{
	u64 cr2 = read_cr2(), bt[BACKTRACE_MAX];
	int nbt;

	kprintf("\nEXCEPTION: %s (vector %lu) on cpu %u, error %#lx", exception_name(f->vector),
		f->vector, this_cpu()->cpu, f->error);
	if (f->vector == VEC_PF)
		print_pf_error(f->error);
	kprintf("\n  rip %p  cs %#lx  rflags %#lx\n  rsp %p  ss %#lx\n", (void *)f->rip, f->cs,
		f->rflags, (void *)f->rsp, f->ss);
	kprintf("  cr0 %p  cr2 %p\n  cr3 %p  cr4 %p\n", (void *)read_cr0(), (void *)cr2,
		(void *)read_cr3(), (void *)read_cr4());
	kprintf("  rax %p  rbx %p  rcx %p\n  rdx %p  rsi %p  rdi %p\n", (void *)f->rax, (void *)f->rbx,
		(void *)f->rcx, (void *)f->rdx, (void *)f->rsi, (void *)f->rdi);
	kprintf("  rbp %p  r8  %p  r9  %p\n  r10 %p  r11 %p  r12 %p\n", (void *)f->rbp, (void *)f->r8,
		(void *)f->r9, (void *)f->r10, (void *)f->r11, (void *)f->r12);
	kprintf("  r13 %p  r14 %p  r15 %p\n", (void *)f->r13, (void *)f->r14, (void *)f->r15);
	nbt = backtrace(f, bt);
	kprintf("  backtrace:");
	for (int i = 0; i < nbt; i++)
		kprintf(" %p", (void *)bt[i]);
	kprintf("\n");
	exception_record(f, cr2, bt, nbt);
	kernel_exit(EXIT_FAIL);
}

void trap_dispatch(struct trap_frame *f)
{
	struct percpu *p = this_cpu();

	if (f->vector < NR_EXCEPTIONS && fixup_expected(f))
		return;
	if (f->vector >= NR_EXCEPTIONS && handlers[f->vector]) {
		handlers[f->vector](f);
		return;
	}
	/* An exception while reporting one: say so in as few steps as possible and stop. */
	if (p->in_trap_report++) {
		if (p->in_trap_report == 2)
			kprintf("\nEXCEPTION: %s (vector %lu) at %p while reporting an exception\n",
				exception_name(f->vector), f->vector, (void *)f->rip);
		outl(DEBUG_EXIT_IOPORT, EXIT_ERROR);
		for (;;)
			hlt();
	}
	report_exception(f);
}
