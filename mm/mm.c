/* Kernel memory management glue: the frame pool built from the boot memory map, the kernel's
 * page table (the boot PML4) driven through mm/pt.c, kernel stacks with guard pages, uncached
 * MMIO mappings, and the page table the APs climb through at start-up. */
#include "mm/mm.h"
#include "boot/bootinfo.h"
#include "kernel/console.h"
#include "kernel/spinlock.h"
#include "kernel/string.h"
#include "kernel/x86.h"
#include "mm/frame.h"
#include "mm/pt.h"

#define MAX_RANGES 128
#define MAX_RESERVED (BOOTINFO_MAX_USED + 4)
#define LOW_MEMORY_END 0x100000 /* real-mode area, BIOS data, the AP trampoline */

extern u64 boot_pml4[512];
extern const char __kernel_phys_start[], __kernel_phys_end[];

static struct frame_pool pool;
static struct phys_range ranges[MAX_RANGES];
static size_t nranges;
static struct pt kernel_pt;
static struct spinlock vm_lock = SPINLOCK_INIT; /* the bump allocators and kernel_pt changes */
static u64 mmio_next = MMIO_BASE, kstack_next = KSTACK_BASE;
static struct phys_range reserved[MAX_RESERVED];
static size_t nreserved;

/* The APs' start-up page table: the kernel's, plus the first 2 MiB executable at 0. */
static u64 tramp_pml4[512] __attribute__((aligned(PAGE_SIZE), section(".bss.pagetables")));
static u64 tramp_pdpt[512] __attribute__((aligned(PAGE_SIZE), section(".bss.pagetables")));
static u64 tramp_pd[512] __attribute__((aligned(PAGE_SIZE), section(".bss.pagetables")));

static paddr_t table_alloc(void *ctx)
{
	paddr_t pa = frame_alloc(&pool, NULL);

	(void)ctx;
	if (pa)
		memset(phys_to_virt(pa), 0, PAGE_SIZE);
	return pa;
}

static void table_free(void *ctx, paddr_t pa)
{
	(void)ctx;
	frame_free(&pool, NULL, pa);
}

static void *table_virt(void *ctx, paddr_t pa)
{
	(void)ctx;
	return phys_to_virt(pa);
}

static const struct pt_ops kernel_pt_ops = { table_alloc, table_free, table_virt, NULL };

static void reserve(u64 start, u64 len)
{
	if (nreserved < MAX_RESERVED)
		reserved[nreserved++] = (struct phys_range){ start, start + len };
}

/* Is [pa, pa + len) holding boot information or the image? (The blanket low-memory
 * reservation does not count: the trampoline lives there on purpose.) */
bool mm_phys_in_use(paddr_t pa, u64 len)
{
	for (size_t i = 1; i < nreserved; i++)
		if (pa < reserved[i].end && pa + len > reserved[i].start)
			return true;
	return false;
}

/* Where the bitmap goes: the first usable range above the image with room for it. */
static paddr_t place_bitmap(u64 bytes)
{
	for (size_t i = 0; i < nranges; i++)
		if (ranges[i].start >= (u64)__kernel_phys_end && ranges[i].end - ranges[i].start >= bytes)
			return ranges[i].start;
	return 0;
}

void mm_init(const struct bootinfo *bi)
{
	bool overflow = false;
	u64 bytes;
	paddr_t bitmap;

	reserve(0, LOW_MEMORY_END);
	reserve((u64)__kernel_phys_start, (u64)__kernel_phys_end - (u64)__kernel_phys_start);
	for (u32 i = 0; i < bi->nused; i++)
		reserve(bi->used[i].addr, bi->used[i].len);
	nranges = physmem_usable(bi->mmap, bi->nmmap, reserved, nreserved, direct_map_end, ranges,
				 MAX_RANGES, &overflow);
	bytes = ALIGN_UP(frame_bitmap_bytes(ranges, nranges), (u64)PAGE_SIZE);
	bitmap = place_bitmap(bytes);
	if (!nranges || !bitmap ||
	    frame_pool_init(&pool, ranges, nranges, phys_to_virt(bitmap), bitmap, bytes)) {
		kprintf("mm: no usable memory for the frame allocator (%zu ranges)\n", nranges);
		return;
	}
	kernel_pt.root = kimg_to_phys(boot_pml4);
	kernel_pt.ops = &kernel_pt_ops;
	kprintf("mm: %lu MiB in %zu ranges%s, %lu MiB free\n", frame_total(&pool) >> 8, nranges,
		overflow ? " (map truncated)" : "", frame_free_count(&pool) >> 8);
}

struct frame_pool *mm_frame_pool(void)
{
	return &pool;
}

struct pt *mm_kernel_pt(void)
{
	return &kernel_pt;
}

u64 mm_kernel_cr3(void)
{
	return kernel_pt.root;
}

/* Map `pages` fresh zeroed frames at va (kernel data: writable, no-execute, global). */
static int map_fresh(u64 va, u64 pages)
{
	for (u64 i = 0; i < pages; i++) {
		paddr_t pa = table_alloc(NULL);

		if (!pa || pt_map(&kernel_pt, va + i * PAGE_SIZE, pa, PAGE_SIZE,
				  PTE_W | PTE_G | (mm_nx_enabled() ? PTE_NX : 0)))
			return -1;
	}
	return 0;
}

u64 mm_alloc_kstack(u64 size)
{
	u64 va, top = 0;

	size = ALIGN_UP(size, (u64)PAGE_SIZE);
	spin_lock(&vm_lock);
	va = kstack_next + PAGE_SIZE; /* the page below stays unmapped: the guard */
	if (va + size <= KSTACK_BASE + KSTACK_AREA_SIZE && !map_fresh(va, size / PAGE_SIZE)) {
		kstack_next = va + size;
		top = va + size;
	}
	spin_unlock(&vm_lock);
	return top;
}

void *mm_map_mmio(paddr_t pa, u64 len)
{
	u64 first = ALIGN_DOWN(pa, (u64)PAGE_SIZE), pages = (ALIGN_UP(pa + len, (u64)PAGE_SIZE) - first) / PAGE_SIZE;
	u64 va = 0;

	spin_lock(&vm_lock);
	if (mmio_next + pages * PAGE_SIZE <= MMIO_BASE + MMIO_SIZE) {
		va = mmio_next;
		for (u64 i = 0; i < pages; i++)
			if (pt_map(&kernel_pt, va + i * PAGE_SIZE, first + i * PAGE_SIZE, PAGE_SIZE,
				   PTE_W | PTE_PCD | PTE_PWT | PTE_G | (mm_nx_enabled() ? PTE_NX : 0)))
				va = 0;
		if (va)
			mmio_next += pages * PAGE_SIZE;
	}
	spin_unlock(&vm_lock);
	return va ? (void *)(va + (pa - first)) : NULL;
}

u32 mm_trampoline_cr3(void)
{
	memcpy(tramp_pml4, boot_pml4, sizeof(tramp_pml4));
	tramp_pd[0] = 0 | PTE_P | PTE_W | PTE_PS; /* low 2 MiB, executable, for the trampoline */
	tramp_pdpt[0] = kimg_to_phys(tramp_pd) | PTE_P | PTE_W;
	tramp_pml4[0] = kimg_to_phys(tramp_pdpt) | PTE_P | PTE_W;
	return kimg_to_phys(tramp_pml4);
}

void mm_trampoline_done(void)
{
	tramp_pml4[0] = 0;
}

void mm_cpu_init(void)
{
	if (cpuid_edx(1) & CPUID_1_EDX_PGE)
		write_cr4(read_cr4() | CR4_PGE);
}
