/* Kernel memory management glue: the frame pool built from the boot memory map, the kernel's
 * page table (the boot PML4) driven through mm/pt.c, kernel stacks with guard pages, uncached
 * MMIO mappings, and the page table the APs climb through at start-up. */
#include "mm/mm.h"
#include "boot/bootinfo.h"
#include "kernel/console.h"
#include "kernel/spinlock.h"
#include "kernel/string.h"
#include "kernel/x86.h"
#include "boot/multiboot2.h"
#include "mm/flush.h"
#include "mm/frame.h"
#include "mm/pt.h"
#include "smp/percpu.h"

#define MAX_RANGES 128
#define GIB (1ull << 30)
#define LOW_4G (4 * GIB)
#define MSR_PAT 0x277
/* PAT entries (SDM 3A 11.12.2): 0 WB, 1 WC, 2 UC-, 3 UC, repeated. PTE PWT selects entry 1
 * (write-combining, for the framebuffer), PCD|PWT entry 3 (uncached, for device registers). */
#define PAT_VALUE 0x0007010600070106ull
#define PTE_CACHE_WC PTE_PWT
#define PTE_CACHE_UC (PTE_PCD | PTE_PWT)
#define CPUID_80000001_EDX_GBPAGES CPUID_80000001_EDX_PDPE1GB
#define MAX_RESERVED (BOOTINFO_MAX_USED + 4)
#define LOW_MEMORY_END 0x100000 /* real-mode area, BIOS data, the AP trampoline */

extern u64 boot_pml4[512];
extern const char __kernel_phys_start[], __kernel_phys_end[], __text_start[], __rodata_end[];

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

static struct frame_cache *my_cache(void)
{
	return percpu_ready ? &this_cpu()->frames : NULL;
}

static paddr_t table_alloc(void *ctx)
{
	paddr_t pa = frame_alloc(&pool, my_cache());

	(void)ctx;
	if (pa)
		memset(phys_to_virt(pa), 0, PAGE_SIZE);
	return pa;
}

static void table_free(void *ctx, paddr_t pa)
{
	(void)ctx;
	frame_free(&pool, my_cache(), pa);
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

static u64 nx(void)
{
	return mm_nx_enabled() ? PTE_NX : 0;
}

static bool gb_pages(void)
{
	return cpuid_eax(0x80000000) >= 0x80000001 &&
	       (cpuid_edx(0x80000001) & CPUID_80000001_EDX_GBPAGES);
}

/* Map [start, end) of physical memory at DIRECT_MAP_BASE in dm with the largest pages that fit. */
static int map_linear(struct pt *dm, u64 start, u64 end, u64 flags, bool gb)
{
	while (start < end) {
		u64 size = PAGE_SIZE;

		if (gb && !(start % GIB) && end - start >= GIB)
			size = GIB;
		else if (!(start % LARGE_PAGE_SIZE) && end - start >= LARGE_PAGE_SIZE)
			size = LARGE_PAGE_SIZE;
		if (pt_map(dm, DIRECT_MAP_BASE + start, start, size, flags))
			return -1;
		start += size;
	}
	return 0;
}

static u64 ram_end(const struct bootinfo *bi)
{
	u64 end = 0;

	for (u32 i = 0; i < bi->nmmap; i++) {
		const struct bootinfo_mmap *m = &bi->mmap[i];

		if (m->type == MB_MEMORY_AVAILABLE || m->type == MB_MEMORY_ACPI_RECLAIMABLE ||
		    m->type == MB_MEMORY_NVS)
			end = MAX(end, m->addr + m->len);
	}
	return end;
}

/* The final direct map: the low 4 GiB whole (firmware tables sit in reserved ranges there) and
 * every RAM range above, in 1 GiB pages where the CPU has them, else 2 MiB; the image's text
 * and rodata are read-only through it too. Built in a scratch table, then switched in. */
static void build_direct_map(const struct bootinfo *bi)
{
	u64 flags = PTE_W | PTE_G | nx(), text = kimg_to_phys(__text_start), ro_end = kimg_to_phys(__rodata_end);
	u64 end = ALIGN_UP(MAX(ram_end(bi), LOW_4G), (u64)PAGE_SIZE), slots;
	bool gb = gb_pages();
	struct pt dm;
	u64 *src, *dst = boot_pml4;
	int err = pt_init(&dm, &kernel_pt_ops);

	err = err ?: map_linear(&dm, 0, text, flags, gb);
	err = err ?: map_linear(&dm, text, ro_end, flags & ~PTE_W, gb);
	err = err ?: map_linear(&dm, ro_end, LOW_4G, flags, gb);
	for (u32 i = 0; i < bi->nmmap && !err; i++) {
		const struct bootinfo_mmap *m = &bi->mmap[i];
		u64 a = MAX(ALIGN_DOWN(m->addr, (u64)PAGE_SIZE), LOW_4G), b = ALIGN_UP(m->addr + m->len, (u64)PAGE_SIZE);

		if ((m->type == MB_MEMORY_AVAILABLE || m->type == MB_MEMORY_ACPI_RECLAIMABLE ||
		     m->type == MB_MEMORY_NVS) && b > a)
			err = map_linear(&dm, a, b, flags, gb);
	}
	if (err) {
		kprintf("mm: cannot build the direct map; keeping the boot mapping of 4 GiB\n");
		return;
	}
	src = phys_to_virt(dm.root);
	slots = (end + (512 * GIB) - 1) / (512 * GIB);
	for (u64 i = 0; i < slots; i++)
		dst[DIRECT_MAP_PML4_SLOT + i] = src[DIRECT_MAP_PML4_SLOT + i];
	flush_all();
	direct_map_end = end;
	kprintf("mm: direct map of %lu MiB in %s pages\n", end >> 20, gb ? "1 GiB" : "2 MiB");
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
	build_direct_map(bi);
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

		if (!pa || pt_map(&kernel_pt, va + i * PAGE_SIZE, pa, PAGE_SIZE, PTE_W | PTE_G | nx()))
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

static void *map_device(paddr_t pa, u64 len, u64 cache)
{
	u64 first = ALIGN_DOWN(pa, (u64)PAGE_SIZE), pages = (ALIGN_UP(pa + len, (u64)PAGE_SIZE) - first) / PAGE_SIZE;
	u64 va = 0;

	spin_lock(&vm_lock);
	if (mmio_next + pages * PAGE_SIZE <= MMIO_BASE + MMIO_SIZE) {
		va = mmio_next;
		for (u64 i = 0; i < pages; i++)
			if (pt_map(&kernel_pt, va + i * PAGE_SIZE, first + i * PAGE_SIZE, PAGE_SIZE,
				   PTE_W | cache | PTE_G | nx()))
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

void *mm_map_exec(paddr_t pa)
{
	u64 va = 0;

	/* Read-execute, never writable: the hypervisor fills it (the Hyper-V hypercall page). */
	spin_lock(&vm_lock);
	if (mmio_next + PAGE_SIZE <= MMIO_BASE + MMIO_SIZE &&
	    !pt_map(&kernel_pt, mmio_next, ALIGN_DOWN(pa, (u64)PAGE_SIZE), PAGE_SIZE, PTE_G)) {
		va = mmio_next;
		mmio_next += PAGE_SIZE;
	}
	spin_unlock(&vm_lock);
	return va ? (void *)va : NULL;
}

void *mm_map_mmio(paddr_t pa, u64 len)
{
	return map_device(pa, len, PTE_CACHE_UC);
}

void *mm_map_wc(paddr_t pa, u64 len)
{
	return map_device(pa, len, PTE_CACHE_WC);
}

void mm_cpu_init(void)
{
	wrmsr(MSR_PAT, PAT_VALUE);
	if (cpuid_edx(1) & CPUID_1_EDX_PGE)
		write_cr4(read_cr4() | CR4_PGE);
	flush_init_cpu();
}

void *mm_alloc_zeroed(u64 bytes)
{
	paddr_t pa = frame_alloc_contig(&pool, ALIGN_UP(bytes, (u64)PAGE_SIZE) / PAGE_SIZE, PAGE_SIZE);

	if (!pa)
		return NULL;
	memset(phys_to_virt(pa), 0, bytes);
	return phys_to_virt(pa);
}

void mm_free_zeroed(void *p, u64 bytes)
{
	for (u64 off = 0; p && off < bytes; off += PAGE_SIZE)
		frame_free(&pool, NULL, (u64)p - DIRECT_MAP_BASE + off);
}
