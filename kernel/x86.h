/* x86-64 architectural constants (Intel SDM vol. 3A ch. 2-6) and small instruction wrappers.
 * The constants are shared with assembly; the wrappers are C only. */
#ifndef KERNEL_X86_H
#define KERNEL_X86_H

/* Control registers (SDM 3A 2.5) */
#define CR0_PE (1 << 0)
#define CR0_MP (1 << 1)
#define CR0_EM (1 << 2)
#define CR0_WP (1 << 16)
#define CR0_PG 0x80000000
#define CR4_PAE (1 << 5)
#define CR4_PGE (1 << 7)
#define CR4_OSFXSR (1 << 9)
#define CR4_PCIDE (1 << 17)

/* EFER (SDM 3A 2.2.1) */
#define MSR_EFER 0xc0000080
#define EFER_SCE (1 << 0)
#define EFER_LME (1 << 8)
#define EFER_LMA (1 << 10)
#define EFER_NXE (1 << 11)

#define MSR_FS_BASE 0xc0000100
#define MSR_GS_BASE 0xc0000101
#define MSR_KERNEL_GS_BASE 0xc0000102

/* CPUID leaf 1 EDX (SDM 2A CPUID) */
#define CPUID_1_EDX_PGE (1 << 13)

/* Extended CPUID leaf 0x80000001 EDX (SDM 2A CPUID) */
#define CPUID_80000001_EDX_NX (1 << 20)
#define CPUID_80000001_EDX_PDPE1GB (1 << 26)
#define CPUID_80000001_EDX_LM (1 << 29)

/* Page-table entry bits (SDM 3A 4.5) */
#define PTE_P (1 << 0)
#define PTE_W (1 << 1)
#define PTE_U (1 << 2)
#define PTE_PWT (1 << 3)
#define PTE_PCD (1 << 4)
#define PTE_A (1 << 5)
#define PTE_D (1 << 6)
#define PTE_PS (1 << 7) /* large page in a PDPTE or PDE */
#define PTE_G (1 << 8)

/* Segment selectors of the kernel GDT (kernel/gdt.c); the boot GDT uses the same layout. */
#define GDT_NULL 0
#define GDT_KERNEL_CS 0x08
#define GDT_KERNEL_DS 0x10
#define GDT_KERNEL_CS32 0x18 /* 32-bit code, used only by the boot path */
#define GDT_TSS 0x20         /* 16-byte system descriptor */

/* Exception vectors (SDM 3A 6.3.1) */
#define VEC_DE 0
#define VEC_DB 1
#define VEC_NMI 2
#define VEC_BP 3
#define VEC_OF 4
#define VEC_BR 5
#define VEC_UD 6
#define VEC_NM 7
#define VEC_DF 8
#define VEC_TS 10
#define VEC_NP 11
#define VEC_SS 12
#define VEC_GP 13
#define VEC_PF 14
#define VEC_MF 16
#define VEC_AC 17
#define VEC_MC 18
#define VEC_XM 19
#define VEC_VE 20
#define VEC_CP 21
#define NR_EXCEPTIONS 32

/* #PF error code bits (SDM 3A 4.7) */
#define PF_ERR_P (1 << 0)
#define PF_ERR_W (1 << 1)
#define PF_ERR_U (1 << 2)
#define PF_ERR_RSVD (1 << 3)
#define PF_ERR_I (1 << 4)

#define RFLAGS_IF (1 << 9)

#ifndef __ASSEMBLER__
#include "kernel/types.h"

#define PTE_NX (1ULL << 63) /* C only: too wide for 32-bit assembly */

static inline void outb(u16 port, u8 v) { __asm__ volatile("outb %0, %1" ::"a"(v), "Nd"(port)); }
static inline void outw(u16 port, u16 v) { __asm__ volatile("outw %0, %1" ::"a"(v), "Nd"(port)); }
static inline void outl(u16 port, u32 v) { __asm__ volatile("outl %0, %1" ::"a"(v), "Nd"(port)); }
static inline u8 inb(u16 port)
{
	u8 v;
	__asm__ volatile("inb %1, %0" : "=a"(v) : "Nd"(port));
	return v;
}
static inline u16 inw(u16 port)
{
	u16 v;
	__asm__ volatile("inw %1, %0" : "=a"(v) : "Nd"(port));
	return v;
}
static inline u32 inl(u16 port)
{
	u32 v;
	__asm__ volatile("inl %1, %0" : "=a"(v) : "Nd"(port));
	return v;
}

static inline u64 rdmsr(u32 msr)
{
	u32 lo, hi;
	__asm__ volatile("rdmsr" : "=a"(lo), "=d"(hi) : "c"(msr));
	return ((u64)hi << 32) | lo;
}
static inline void wrmsr(u32 msr, u64 v)
{
	__asm__ volatile("wrmsr" ::"c"(msr), "a"((u32)v), "d"((u32)(v >> 32)) : "memory");
}

#define DEFINE_CR_ACCESSORS(n)                                                   \
	static inline u64 read_cr##n(void)                                       \
	{                                                                        \
		u64 v;                                                           \
		__asm__ volatile("mov %%cr" #n ", %0" : "=r"(v));                \
		return v;                                                        \
	}                                                                        \
	static inline void write_cr##n(u64 v) { __asm__ volatile("mov %0, %%cr" #n ::"r"(v) : "memory"); }
DEFINE_CR_ACCESSORS(0)
DEFINE_CR_ACCESSORS(2)
DEFINE_CR_ACCESSORS(3)
DEFINE_CR_ACCESSORS(4)
#undef DEFINE_CR_ACCESSORS

static inline void cpuid_count(u32 leaf, u32 sub, u32 *a, u32 *b, u32 *c, u32 *d)
{
	__asm__ volatile("cpuid" : "=a"(*a), "=b"(*b), "=c"(*c), "=d"(*d) : "a"(leaf), "c"(sub));
}
static inline u32 cpuid_eax(u32 leaf)
{
	u32 a, b, c, d;
	cpuid_count(leaf, 0, &a, &b, &c, &d);
	return a;
}
static inline u32 cpuid_ecx(u32 leaf)
{
	u32 a, b, c, d;

	cpuid_count(leaf, 0, &a, &b, &c, &d);
	return c;
}

static inline u32 cpuid_edx(u32 leaf)
{
	u32 a, b, c, d;
	cpuid_count(leaf, 0, &a, &b, &c, &d);
	return d;
}

static inline u64 rdtsc(void)
{
	u32 lo, hi;
	__asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
	return ((u64)hi << 32) | lo;
}

static inline void invlpg(const void *va) { __asm__ volatile("invlpg (%0)" ::"r"(va) : "memory"); }
static inline void cpu_relax(void) { __asm__ volatile("pause" ::: "memory"); }
static inline void cli(void) { __asm__ volatile("cli" ::: "memory"); }
static inline void sti(void) { __asm__ volatile("sti" ::: "memory"); }
static inline void hlt(void) { __asm__ volatile("hlt" ::: "memory"); }
static inline u64 read_rflags(void)
{
	u64 f;
	__asm__ volatile("pushfq; popq %0" : "=r"(f));
	return f;
}

struct __attribute__((packed)) desc_ptr {
	u16 limit;
	u64 base;
};
#endif

#endif
