/* Physical memory: the usable RAM in the boot memory map (Multiboot2 spec 3.6.8: type 1 is
 * available RAM, everything else is not), and a next-fit bitmap allocator of 4 KiB frames with
 * per-CPU caches refilled and drained in batches, so the pool's lock is taken rarely. */
#include "mm/frame.h"
#include "kernel/errno.h"
#include "kernel/string.h"
#include "mm/layout.h"

#define PHYSMEM_AVAILABLE 1 /* MB_MEMORY_AVAILABLE */

/* ---- usable ranges ---- */

/* Everything physmem_usable() looks at: map entries first, then the reserved ranges. */
struct physmem_src {
	const struct bootinfo_mmap *map;
	size_t n;
	const struct phys_range *res;
	size_t nres;
	u64 limit;
};

/* Page rounding that sticks at the top instead of wrapping to 0. */
static u64 physmem_round_up(u64 x)
{
	return x > UINT64_MAX - (PAGE_SIZE - 1) ? UINT64_MAX : ALIGN_UP(x, PAGE_SIZE);
}

static u64 physmem_entry_end(const struct bootinfo_mmap *m)
{
	return m->len > UINT64_MAX - m->addr ? UINT64_MAX : m->addr + m->len;
}

/* Item k as a page-aligned range: RAM shrinks inward (a partial page is unusable), anything that
 * excludes RAM grows outward (a partly claimed page is claimed). *avail tells which it is. */
static struct phys_range physmem_item(const struct physmem_src *s, size_t k, bool *avail)
{
	struct phys_range r;

	if (k >= s->n) {
		r = s->res[k - s->n];
		*avail = false;
	} else {
		r.start = s->map[k].addr;
		r.end = physmem_entry_end(&s->map[k]);
		*avail = s->map[k].type == PHYSMEM_AVAILABLE;
	}
	if (*avail) {
		r.start = physmem_round_up(r.start);
		r.end = ALIGN_DOWN(r.end, PAGE_SIZE);
	} else {
		r.start = ALIGN_DOWN(r.start, PAGE_SIZE);
		r.end = physmem_round_up(r.end);
	}
	return r;
}

/* Usability is constant between consecutive item boundaries, so test the first address only. */
static bool physmem_usable_at(const struct physmem_src *s, u64 pos)
{
	bool ram = false, avail;

	if (pos >= s->limit)
		return false;
	for (size_t k = 0; k < s->n + s->nres; k++) {
		struct phys_range r = physmem_item(s, k, &avail);

		if (pos < r.start || pos >= r.end)
			continue;
		if (!avail)
			return false;
		ram = true;
	}
	return ram;
}

/* The smallest boundary above pos, if any. */
static bool physmem_next(const struct physmem_src *s, u64 pos, u64 *next)
{
	u64 best = s->limit > pos ? s->limit : UINT64_MAX;
	bool found = s->limit > pos, avail;

	for (size_t k = 0; k < s->n + s->nres; k++) {
		struct phys_range r = physmem_item(s, k, &avail);

		if (r.start >= r.end)
			continue;
		if (r.start > pos && r.start <= best) {
			best = r.start;
			found = true;
		}
		if (r.end > pos && r.end <= best) {
			best = r.end;
			found = true;
		}
	}
	*next = best;
	return found;
}

/* Append [start, end), merging with the previous range; false when out is full. */
static bool physmem_emit(struct phys_range *out, size_t *count, size_t max_out, u64 start, u64 end)
{
	if (*count && out[*count - 1].end == start) {
		out[*count - 1].end = end;
		return true;
	}
	if (*count == max_out)
		return false;
	out[*count].start = start;
	out[*count].end = end;
	(*count)++;
	return true;
}

size_t physmem_usable(const struct bootinfo_mmap *map, size_t n, const struct phys_range *reserved,
		      size_t nres, u64 limit, struct phys_range *out, size_t max_out, bool *overflow)
{
	struct physmem_src s = { map, n, reserved, nres, ALIGN_DOWN(limit, PAGE_SIZE) };
	size_t count = 0;
	bool more = false;
	u64 pos = 0, next;

	/* a sweep over the boundaries: maps are small (tens of entries), so quadratic is fine and
	 * needs no scratch memory */
	while (physmem_next(&s, pos, &next)) {
		if (physmem_usable_at(&s, pos) && !physmem_emit(out, &count, max_out, pos, next)) {
			more = true;
			break;
		}
		pos = next;
	}
	if (overflow)
		*overflow = more;
	return count;
}

/* ---- the frame pool ---- */

static u64 frame_load(const u64 *w)
{
	return __atomic_load_n(w, __ATOMIC_RELAXED);
}

/* Free bits change only under the lock, but are read without it by frame_free(). */
static void frame_store(u64 *w, u64 v)
{
	__atomic_store_n(w, v, __ATOMIC_RELAXED);
}

static void frame_add_free(struct frame_pool *p, s64 delta)
{
	__atomic_store_n(&p->nfree, p->nfree + delta, __ATOMIC_RELAXED);
}

/* No __builtin_popcount: without SSE it becomes a libgcc call the kernel does not link. */
static u64 frame_popcount(u64 x)
{
	x = x - ((x >> 1) & 0x5555555555555555ULL);
	x = (x & 0x3333333333333333ULL) + ((x >> 2) & 0x3333333333333333ULL);
	x = (x + (x >> 4)) & 0x0f0f0f0f0f0f0f0fULL;
	return (x * 0x0101010101010101ULL) >> 56;
}

static u64 frame_bit(u64 idx)
{
	return 1ULL << (idx % 64);
}

static paddr_t frame_addr(const struct frame_pool *p, u64 idx)
{
	return p->base + (idx << PAGE_SHIFT);
}

static u64 frame_words(const struct phys_range *r, size_t n)
{
	return ((r[n - 1].end - r[0].start) / PAGE_SIZE + 63) / 64;
}

u64 frame_bitmap_bytes(const struct phys_range *r, size_t n)
{
	if (!n)
		return 0;
	return n * sizeof(*r) + 2 * frame_words(r, n) * sizeof(u64);
}

static bool frame_ranges_ok(const struct phys_range *r, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (r[i].start >= r[i].end || (r[i].start | r[i].end) % PAGE_SIZE)
			return false;
		if (i && r[i].start < r[i - 1].end)
			return false;
	}
	return n > 0;
}

/* Set or clear the free bits of the frames in [lo, hi), clipped to the pool. */
static void frame_fill(struct frame_pool *p, u64 lo, u64 hi, bool set)
{
	u64 first, count, limit = frame_addr(p, p->words * 64);

	lo = MAX(lo, p->base);
	hi = MIN(hi, limit);
	if (lo >= hi)
		return;
	first = (lo - p->base) / PAGE_SIZE;
	count = (physmem_round_up(hi) - p->base) / PAGE_SIZE - first;
	while (count) {
		u64 bit = first % 64, k = MIN(count, 64 - bit);
		u64 mask = (k == 64 ? ~0ULL : (1ULL << k) - 1) << bit;
		u64 *w = &p->free_bits[first / 64];

		frame_store(w, set ? frame_load(w) | mask : frame_load(w) & ~mask);
		first += k;
		count -= k;
	}
}

int frame_pool_init(struct frame_pool *p, const struct phys_range *r, size_t n, void *bitmap,
		    paddr_t bitmap_phys, u64 bitmap_bytes)
{
	struct phys_range *copy = bitmap;
	u64 nfree = 0;

	if (!frame_ranges_ok(r, n) || (uintptr_t)bitmap % sizeof(u64) ||
	    bitmap_bytes < frame_bitmap_bytes(r, n) || bitmap_phys > UINT64_MAX - bitmap_bytes)
		return -EINVAL;
	memcpy(copy, r, n * sizeof(*r));
	p->lock = (struct spinlock)SPINLOCK_INIT;
	p->ranges = copy;
	p->nranges = n;
	p->words = frame_words(r, n);
	p->free_bits = (u64 *)(copy + n);
	p->cached_bits = p->free_bits + p->words;
	memset(p->free_bits, 0, 2 * p->words * sizeof(u64));
	p->base = r[0].start;
	p->meta_lo = ALIGN_DOWN(bitmap_phys, PAGE_SIZE);
	p->meta_hi = physmem_round_up(bitmap_phys + bitmap_bytes);
	for (size_t i = 0; i < n; i++)
		frame_fill(p, r[i].start, r[i].end, true);
	frame_fill(p, 0, PAGE_SIZE, false); /* 0 is how frame_alloc() says "none" */
	frame_fill(p, p->meta_lo, p->meta_hi, false);
	for (u64 i = 0; i < p->words; i++)
		nfree += frame_popcount(p->free_bits[i]);
	p->total = nfree;
	p->nfree = nfree;
	p->hint = 0;
	return 0;
}

/* Whether pa is a frame the pool hands out; its bit index goes to *idx. */
static bool frame_owned(const struct frame_pool *p, paddr_t pa, u64 *idx)
{
	size_t lo = 0, hi = p->nranges;

	if (!pa || pa % PAGE_SIZE || (pa >= p->meta_lo && pa < p->meta_hi))
		return false;
	/* binary search for the last range starting at or below pa */
	while (hi - lo > 1) {
		size_t mid = lo + (hi - lo) / 2;

		if (p->ranges[mid].start <= pa)
			lo = mid;
		else
			hi = mid;
	}
	if (pa < p->ranges[lo].start || pa >= p->ranges[lo].end)
		return false;
	*idx = (pa - p->base) / PAGE_SIZE;
	return true;
}

/* Move up to want frames out of the pool, next fit from the hint; lock held. Frames bound for a
 * cache get their cached bit first, so they never look allocated (and so freeable) in between. */
static u32 frame_take(struct frame_pool *p, paddr_t *out, u32 want, bool to_cache)
{
	u64 start = p->hint;
	u32 got = 0;

	for (u64 i = 0; i < p->words && got < want && p->nfree > got; i++) {
		u64 w = (start + i) % p->words, taken = 0;
		u64 bits = frame_load(&p->free_bits[w]) & ~frame_load(&p->cached_bits[w]);

		for (; bits && got < want; bits &= bits - 1) {
			taken |= bits & -bits;
			out[got++] = frame_addr(p, w * 64 + __builtin_ctzll(bits));
		}
		if (!taken)
			continue;
		if (to_cache)
			__atomic_fetch_or(&p->cached_bits[w], taken, __ATOMIC_RELAXED);
		frame_store(&p->free_bits[w], frame_load(&p->free_bits[w]) & ~taken);
		p->hint = w;
	}
	frame_add_free(p, -(s64)got);
	return got;
}

/* Mark a frame as on its way into a cache; false if it already is in one (a double free). The
 * acquire pairs with the release in frame_unclaim(), so the free bit read next is current. */
static bool frame_claim(struct frame_pool *p, u64 idx)
{
	return !(__atomic_fetch_or(&p->cached_bits[idx / 64], frame_bit(idx), __ATOMIC_ACQ_REL) &
		 frame_bit(idx));
}

static void frame_unclaim(struct frame_pool *p, u64 idx)
{
	__atomic_fetch_and(&p->cached_bits[idx / 64], ~frame_bit(idx), __ATOMIC_RELEASE);
}

static bool frame_in_pool(const struct frame_pool *p, u64 idx)
{
	return frame_load(&p->free_bits[idx / 64]) & frame_bit(idx);
}

/* Return frames to the pool: a free bit on, then the cached bit off; lock held. */
static void frame_put(struct frame_pool *p, const paddr_t *frames, u32 count)
{
	for (u32 i = 0; i < count; i++) {
		u64 idx = (frames[i] - p->base) / PAGE_SIZE;
		u64 *w = &p->free_bits[idx / 64];

		frame_store(w, frame_load(w) | frame_bit(idx));
		frame_unclaim(p, idx);
	}
	frame_add_free(p, count);
}

static void frame_cache_put(struct frame_pool *p, struct frame_cache *c, u32 count)
{
	spin_lock(&p->lock);
	frame_put(p, &c->frames[c->n - count], count);
	spin_unlock(&p->lock);
	c->n -= count;
}

paddr_t frame_alloc(struct frame_pool *p, struct frame_cache *c)
{
	paddr_t pa = 0;

	if (!c) {
		spin_lock(&p->lock);
		frame_take(p, &pa, 1, false);
		spin_unlock(&p->lock);
		return pa;
	}
	if (!c->n) {
		spin_lock(&p->lock);
		c->n = frame_take(p, c->frames, FRAME_CACHE_BATCH, true);
		spin_unlock(&p->lock);
		if (!c->n)
			return 0;
	}
	pa = c->frames[--c->n];
	frame_unclaim(p, (pa - p->base) / PAGE_SIZE);
	return pa;
}

int frame_free(struct frame_pool *p, struct frame_cache *c, paddr_t pa)
{
	u64 idx;
	int err = 0;

	if (!frame_owned(p, pa, &idx) || !frame_claim(p, idx))
		return -EINVAL;
	if (c) {
		if (frame_in_pool(p, idx)) {
			frame_unclaim(p, idx);
			return -EINVAL;
		}
		if (c->n == FRAME_CACHE_SIZE)
			frame_cache_put(p, c, FRAME_CACHE_BATCH);
		c->frames[c->n++] = pa;
		return 0;
	}
	spin_lock(&p->lock);
	if (frame_in_pool(p, idx)) {
		frame_unclaim(p, idx);
		err = -EINVAL;
	} else {
		frame_put(p, &pa, 1);
	}
	spin_unlock(&p->lock);
	return err;
}

/* Round x up to a multiple of align (a power of two); false if that overflows. */
static bool frame_align_up(u64 x, u64 align, u64 *out)
{
	if (x > UINT64_MAX - (align - 1))
		return false;
	*out = ALIGN_UP(x, align);
	return true;
}

/* The first frame in [idx, idx + count) that cannot be taken, or idx + count if none. */
static u64 frame_first_busy(const struct frame_pool *p, u64 idx, u64 count)
{
	u64 end = idx + count;

	while (idx < end) {
		u64 w = idx / 64;
		u64 busy = ~frame_load(&p->free_bits[w]) | frame_load(&p->cached_bits[w]);

		busy &= ~0ULL << (idx % 64);
		if (busy)
			return MIN(w * 64 + __builtin_ctzll(busy), end);
		idx = (w + 1) * 64;
	}
	return end;
}

/* First fit of an aligned run; lock held. Each miss skips past the frame that spoiled it. */
static paddr_t frame_find_run(const struct frame_pool *p, u64 count, u64 align)
{
	u64 frames = p->words * 64, pa, idx, busy;

	if (!frame_align_up(p->base, align, &pa))
		return 0;
	for (;;) {
		idx = (pa - p->base) / PAGE_SIZE;
		if (idx >= frames || count > frames - idx)
			return 0;
		busy = frame_first_busy(p, idx, count);
		if (busy == idx + count)
			return pa;
		if (!frame_align_up(frame_addr(p, busy + 1), align, &pa))
			return 0;
	}
}

paddr_t frame_alloc_contig(struct frame_pool *p, u64 count, u64 align)
{
	paddr_t pa;

	if (!count || align < PAGE_SIZE || (align & (align - 1)))
		return 0;
	spin_lock(&p->lock);
	pa = frame_find_run(p, count, align);
	if (pa) {
		frame_fill(p, pa, pa + count * PAGE_SIZE, false);
		frame_add_free(p, -(s64)count);
	}
	spin_unlock(&p->lock);
	return pa;
}

void frame_cache_drain(struct frame_pool *p, struct frame_cache *c)
{
	if (c->n)
		frame_cache_put(p, c, c->n);
}

u64 frame_total(const struct frame_pool *p)
{
	return p->total;
}

u64 frame_free_count(const struct frame_pool *p)
{
	return __atomic_load_n(&p->nfree, __ATOMIC_RELAXED);
}
