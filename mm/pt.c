/* 4-level x86-64 page tables (Intel SDM vol. 3A 4.5). Other CPUs walk these tables through their
 * TLBs and paging-structure caches while we change them (SDM 3A 4.10), so every entry changes
 * with one aligned 64-bit atomic access and an emptied table is only queued for freeing. */
#include "mm/pt.h"
#include "kernel/errno.h"
#include "kernel/x86.h"
#include "mm/layout.h"

/* Levels as the SDM counts them: 4 = PML4, 3 = PDPT, 2 = PD, 1 = PT. */
#define PT_LEVELS 4

/* Bits a caller may ask pt_map() for; PAT (bit 7 or 12) is left to whoever needs it. */
#define PT_MAP_FLAGS (PTE_P | PTE_W | PTE_U | PTE_PWT | PTE_PCD | PTE_A | PTE_D | PTE_G | PTE_NX)
/* Bits pt_protect() must not touch: they decide what the entry is, not what it allows. */
#define PT_FIXED_BITS (PTE_P | PTE_PS | PT_ADDR_MASK)

/* The entries visited on the way down to va, indexed by level. */
struct pt_path {
	paddr_t table[PT_LEVELS + 1]; /* the table holding entry[level] */
	u64 *entry[PT_LEVELS + 1];
	u64 val[PT_LEVELS + 1];
};

static u64 pt_read(const u64 *e)
{
	return __atomic_load_n(e, __ATOMIC_RELAXED);
}

static void pt_write(u64 *e, u64 v)
{
	__atomic_store_n(e, v, __ATOMIC_RELAXED);
}

/* Release: the new table's zeroed contents must be visible before a walker can reach it. */
static void pt_link(u64 *e, u64 v)
{
	__atomic_store_n(e, v, __ATOMIC_RELEASE);
}

static u64 *pt_table(const struct pt *pt, paddr_t pa)
{
	return pt->ops->phys_to_virt(pt->ops->ctx, pa);
}

static unsigned int pt_index(u64 va, int level)
{
	return (va >> (PAGE_SHIFT + 9 * (level - 1))) & (PT_ENTRIES - 1);
}

/* Bytes one entry at this level maps. */
static u64 pt_level_size(int level)
{
	return 1ULL << (PAGE_SHIFT + 9 * (level - 1));
}

/* Bits 63:47 all equal (SDM 3A 3.3.7.1); anything else faults before paging is consulted. */
static bool pt_canonical(u64 va)
{
	return (u64)((s64)(va << 16) >> 16) == va;
}

static bool pt_is_kernel(u64 va)
{
	return pt_index(va, 4) >= PT_KERNEL_SLOT;
}

static bool pt_is_leaf(u64 v, int level)
{
	/* PS is reserved in a PML4E; in a PDPTE or PDE it makes the entry a page. */
	return level == 1 || (level <= 3 && (v & PTE_PS));
}

/* The leaf level (1, 2 or 3) of a request of this size at va, or 0 if it is malformed. */
static int pt_leaf_level(u64 va, u64 size)
{
	int level;

	if (size == PAGE_SIZE)
		level = 1;
	else if (size == LARGE_PAGE_SIZE)
		level = 2;
	else if (size == PT_HUGE_PAGE_SIZE)
		level = 3;
	else
		return 0;
	if ((va & (size - 1)) || !pt_canonical(va))
		return 0;
	return level;
}

/* Walk towards va; returns the level of the present leaf that maps it, or -ENOENT. */
static int pt_walk(const struct pt *pt, u64 va, struct pt_path *path)
{
	paddr_t table = pt->root;

	for (int level = PT_LEVELS;; level--) {
		u64 *e = pt_table(pt, table) + pt_index(va, level);
		u64 v = pt_read(e);

		path->table[level] = table;
		path->entry[level] = e;
		path->val[level] = v;
		if (!(v & PTE_P))
			return -ENOENT;
		if (pt_is_leaf(v, level))
			return level;
		table = v & PT_ADDR_MASK;
	}
}

/* The leaf of exactly size that maps va, for unmap and protect. */
static int pt_find(const struct pt *pt, u64 va, u64 size, struct pt_path *path)
{
	int want = pt_leaf_level(va, size), level;

	if (!want)
		return -EINVAL;
	level = pt_walk(pt, va, path);
	if (level < 0)
		return level;
	return level == want ? level : -EINVAL;
}

/* A table entry whose rights are at least `need`; adding rights needs no flush (SDM 3A 4.10.4.3). */
static void pt_grant(u64 *e, u64 need)
{
	if ((pt_read(e) & need) != need)
		__atomic_fetch_or(e, need, __ATOMIC_RELAXED);
}

/* The table below entry e, allocating and linking an empty one if there is none. */
static int pt_next_table(const struct pt *pt, u64 *e, int level, u64 need, paddr_t *next)
{
	u64 v = pt_read(e);
	paddr_t pa;

	if (v & PTE_P) {
		if (pt_is_leaf(v, level))
			return -EEXIST;
		pt_grant(e, need);
		*next = v & PT_ADDR_MASK;
		return 0;
	}
	pa = pt->ops->alloc_table(pt->ops->ctx);
	if (!pa)
		return -ENOMEM;
	pt_link(e, pa | need);
	*next = pa;
	return 0;
}

int pt_init(struct pt *pt, const struct pt_ops *ops)
{
	pt->ops = ops;
	pt->root = ops->alloc_table(ops->ctx);
	return pt->root ? 0 : -ENOMEM;
}

void pt_share_kernel_half(struct pt *dst, const struct pt *src)
{
	u64 *d = pt_table(dst, dst->root);
	const u64 *s = pt_table(src, src->root);

	for (int i = PT_KERNEL_SLOT; i < PT_ENTRIES; i++)
		pt_write(&d[i], pt_read(&s[i]));
}

int pt_map(struct pt *pt, u64 va, paddr_t pa, u64 size, u64 flags)
{
	int leaf = pt_leaf_level(va, size);
	/* intermediate entries never restrict: the leaf alone decides W, U and NX */
	u64 need = PTE_P | PTE_W | (flags & PTE_U);
	paddr_t table = pt->root;
	u64 *e;

	if (!leaf || (pa & (size - 1)) || (pa & ~PT_ADDR_MASK) || (flags & ~PT_MAP_FLAGS))
		return -EINVAL;
	for (int level = PT_LEVELS; level > leaf; level--) {
		int err = pt_next_table(pt, pt_table(pt, table) + pt_index(va, level), level, need,
					&table);

		if (err)
			return err;
	}
	e = pt_table(pt, table) + pt_index(va, leaf);
	/* a present PDE or PDPTE is a large page or a table: either way va is taken */
	if (pt_read(e) & PTE_P)
		return -EEXIST;
	pt_write(e, pa | flags | PTE_P | (leaf >= 2 ? PTE_PS : 0));
	return 0;
}

int pt_replace(struct pt *pt, u64 va, u64 size, paddr_t pa, u64 *old_pte)
{
	struct pt_path path;
	int level = pt_find(pt, va, size, &path);
	u64 addr = PT_ADDR_MASK & ~(size - 1); /* keeps a large page's PAT bit (12) */
	u64 old;

	if (level < 0)
		return level;
	if ((pa & (size - 1)) || (pa & ~PT_ADDR_MASK))
		return -EINVAL;
	/* One store (a walker sees the old page or the new one, never a hole), in a CAS loop so
	 * that accessed/dirty bits the CPU sets meanwhile are not lost. */
	old = pt_read(path.entry[level]);
	while (!__atomic_compare_exchange_n(path.entry[level], &old, (old & ~addr) | pa, false,
					    __ATOMIC_RELEASE, __ATOMIC_RELAXED))
		;
	if (old_pte)
		*old_pte = old;
	return 0;
}

static bool pt_table_empty(const struct pt *pt, paddr_t table)
{
	const u64 *t = pt_table(pt, table);

	for (int i = 0; i < PT_ENTRIES; i++)
		if (pt_read(&t[i]) & PTE_P)
			return false;
	return true;
}

/* Unlink the tables that the unmap at `level` left empty, bottom up, and queue them on fl. A
 * walker may still be inside them until the caller's flush, hence no freeing here. */
static void pt_prune(const struct pt *pt, const struct pt_path *path, int level,
		     struct pt_freelist *fl)
{
	/* level PT_LEVELS is the root, which lives as long as the address space */
	for (; level < PT_LEVELS; level++) {
		if (!fl || fl->n >= PT_FREE_MAX || !pt_table_empty(pt, path->table[level]))
			return;
		pt_write(path->entry[level + 1], 0);
		fl->pages[fl->n++] = path->table[level];
	}
}

int pt_unmap(struct pt *pt, u64 va, u64 size, u64 *old_pte, struct pt_freelist *fl)
{
	struct pt_path path;
	int level = pt_find(pt, va, size, &path);
	u64 old;

	if (level < 0)
		return level;
	/* exchange, not store: the old entry must carry a D bit the CPU sets meanwhile */
	old = __atomic_exchange_n(path.entry[level], 0, __ATOMIC_RELAXED);
	if (old_pte)
		*old_pte = old;
	/* the kernel half's tables are shared by every address space: they stay */
	if (!pt_is_kernel(va))
		pt_prune(pt, &path, level, fl);
	return 0;
}

int pt_protect(struct pt *pt, u64 va, u64 size, u64 set, u64 clear, u64 *old_pte)
{
	struct pt_path path;
	int level;
	u64 old, new;

	if ((set | clear) & PT_FIXED_BITS)
		return -EINVAL;
	level = pt_find(pt, va, size, &path);
	if (level < 0)
		return level;
	/* a page made user-accessible must be reachable by user walks */
	if (set & PTE_U)
		for (int l = PT_LEVELS; l > level; l--)
			pt_grant(path.entry[l], PTE_U);
	/* compare-exchange so that A/D bits the CPU sets meanwhile are neither lost nor invented */
	old = path.val[level];
	do
		new = (old | set) & ~clear;
	while (!__atomic_compare_exchange_n(path.entry[level], &old, new, false, __ATOMIC_RELAXED,
					    __ATOMIC_RELAXED));
	if (old_pte)
		*old_pte = old;
	return 0;
}

int pt_lookup(const struct pt *pt, u64 va, paddr_t *pa, u64 *pte, u64 *size)
{
	struct pt_path path;
	int level;
	u64 v, sz;

	if (!pt_canonical(va))
		return -EINVAL;
	level = pt_walk(pt, va, &path);
	if (level < 0)
		return level;
	v = path.val[level];
	sz = pt_level_size(level);
	/* masking with the page size also drops a large page's PAT bit (bit 12) */
	if (pa)
		*pa = (v & PT_ADDR_MASK & ~(sz - 1)) | (va & (sz - 1));
	if (pte)
		*pte = v;
	if (size)
		*size = sz;
	return 0;
}

void pt_release(struct pt *pt, struct pt_freelist *fl)
{
	for (u32 i = 0; i < fl->n; i++)
		pt->ops->free_table(pt->ops->ctx, fl->pages[i]);
	fl->n = 0;
}

/* Free a table and everything below it; large pages are leaves, not tables. */
static void pt_free_tree(struct pt *pt, paddr_t table, int level)
{
	const u64 *t = pt_table(pt, table);

	for (int i = 0; level > 1 && i < PT_ENTRIES; i++) {
		u64 v = pt_read(&t[i]);

		if ((v & PTE_P) && !pt_is_leaf(v, level))
			pt_free_tree(pt, v & PT_ADDR_MASK, level - 1);
	}
	pt->ops->free_table(pt->ops->ctx, table);
}

void pt_destroy(struct pt *pt)
{
	const u64 *root = pt_table(pt, pt->root);

	for (int i = 0; i < PT_KERNEL_SLOT; i++) {
		u64 v = pt_read(&root[i]);

		if (v & PTE_P)
			pt_free_tree(pt, v & PT_ADDR_MASK, PT_LEVELS - 1);
	}
	pt->ops->free_table(pt->ops->ctx, pt->root);
	pt->root = 0;
}
