/* Interrupts and exceptions: the IDT, the trap frame, vector handlers, and the "_safe"
 * accessors that turn an expected fault into a return value. */
#ifndef KERNEL_TRAP_H
#define KERNEL_TRAP_H

#include "kernel/types.h"
#include "smp/percpu.h"

/* Saved by kernel/isr.S, lowest address first. */
struct trap_frame {
	u64 r15, r14, r13, r12, r11, r10, r9, r8;
	u64 rbp, rdi, rsi, rdx, rcx, rbx, rax;
	u64 vector, error;
	u64 rip, cs, rflags, rsp, ss; /* pushed by the CPU */
};
_Static_assert(sizeof(struct trap_frame) == 22 * 8, "trap frame layout shared with isr.S");

typedef void (*trap_handler_fn)(struct trap_frame *f);

void idt_init(void); /* build the IDT (once) */
void idt_load(void); /* load it on the calling CPU */
void trap_set_handler(u8 vector, trap_handler_fn fn);

/* Exception table: a fault at `insn` resumes at `fixup` with the vector in this_cpu(). */
struct extable_entry {
	u64 insn, fixup;
};
#define EXTABLE(insn, fixup) \
	".pushsection .extable, \"a\"\n\t.balign 8\n\t.quad " insn ", " fixup "\n\t.popsection\n\t"

/* The _safe accessors return the exception vector they caught, 0 for none. */
static inline int rdmsr_safe(u32 msr, u64 *val)
{
	u32 lo = 0, hi = 0;

	this_cpu()->fault_vector = 0;
	__asm__ volatile("1: rdmsr\n2:\n\t" EXTABLE("1b", "2b")
			 : "+a"(lo), "+d"(hi)
			 : "c"(msr)
			 : "memory");
	*val = ((u64)hi << 32) | lo;
	return this_cpu()->fault_vector;
}

static inline int wrmsr_safe(u32 msr, u64 val)
{
	this_cpu()->fault_vector = 0;
	__asm__ volatile("1: wrmsr\n2:\n\t" EXTABLE("1b", "2b")
			 :
			 : "c"(msr), "a"((u32)val), "d"((u32)(val >> 32))
			 : "memory");
	return this_cpu()->fault_vector;
}

static inline int read_safe(const volatile void *p, u64 *val)
{
	u64 v = 0;

	this_cpu()->fault_vector = 0;
	__asm__ volatile("1: movq (%1), %0\n2:\n\t" EXTABLE("1b", "2b") : "+r"(v) : "r"(p) : "memory");
	*val = v;
	return this_cpu()->fault_vector;
}

static inline int write_safe(volatile void *p, u64 val)
{
	this_cpu()->fault_vector = 0;
	__asm__ volatile("1: movq %1, (%0)\n2:\n\t" EXTABLE("1b", "2b") : : "r"(p), "r"(val) : "memory");
	return this_cpu()->fault_vector;
}

static inline int ud2_safe(void)
{
	this_cpu()->fault_vector = 0;
	__asm__ volatile("1: ud2\n2:\n\t" EXTABLE("1b", "2b") ::: "memory");
	return this_cpu()->fault_vector;
}

/* Call `target` (which must hold a `ret`); a fault on fetching it returns here instead. */
int exec_safe(const void *target);

/* The address of the last fault a _safe accessor caught (CR2 for #PF). */
static inline u64 safe_fault_addr(void)
{
	return this_cpu()->fault_addr;
}

const char *exception_name(u64 vector);

#endif
