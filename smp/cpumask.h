/* Sets of CPUs by dense index. The atomic variants are for masks other CPUs change too. */
#ifndef SMP_CPUMASK_H
#define SMP_CPUMASK_H

#include "kernel/types.h"

#define MAX_CPUS 512
#define CPUMASK_WORDS (MAX_CPUS / 64)

struct cpumask {
	u64 bits[CPUMASK_WORDS];
};

static inline void cpumask_clear_all(struct cpumask *m)
{
	for (int i = 0; i < CPUMASK_WORDS; i++)
		m->bits[i] = 0;
}
static inline void cpumask_set(struct cpumask *m, u32 cpu)
{
	m->bits[cpu / 64] |= 1ull << (cpu % 64);
}
static inline void cpumask_clear(struct cpumask *m, u32 cpu)
{
	m->bits[cpu / 64] &= ~(1ull << (cpu % 64));
}
static inline bool cpumask_test(const struct cpumask *m, u32 cpu)
{
	return __atomic_load_n(&m->bits[cpu / 64], __ATOMIC_RELAXED) & (1ull << (cpu % 64));
}
static inline void cpumask_set_atomic(struct cpumask *m, u32 cpu)
{
	__atomic_fetch_or(&m->bits[cpu / 64], 1ull << (cpu % 64), __ATOMIC_RELEASE);
}
/* Returns whether the bit was set. */
static inline bool cpumask_test_and_clear_atomic(struct cpumask *m, u32 cpu)
{
	u64 bit = 1ull << (cpu % 64);

	return __atomic_fetch_and(&m->bits[cpu / 64], ~bit, __ATOMIC_ACQ_REL) & bit;
}
static inline bool cpumask_empty(const struct cpumask *m)
{
	for (int i = 0; i < CPUMASK_WORDS; i++)
		if (__atomic_load_n(&m->bits[i], __ATOMIC_ACQUIRE))
			return false;
	return true;
}
/* Bits set in x (without libgcc's __popcountdi2: the kernel does not link libgcc). */
static inline u32 popcount64(u64 x)
{
	x = x - ((x >> 1) & 0x5555555555555555ull);
	x = (x & 0x3333333333333333ull) + ((x >> 2) & 0x3333333333333333ull);
	x = (x + (x >> 4)) & 0x0f0f0f0f0f0f0f0full;
	return (x * 0x0101010101010101ull) >> 56;
}

static inline u32 cpumask_weight(const struct cpumask *m)
{
	u32 n = 0;

	for (int i = 0; i < CPUMASK_WORDS; i++)
		n += popcount64(m->bits[i]);
	return n;
}
/* The first CPU >= from in m, or MAX_CPUS. */
static inline u32 cpumask_next(const struct cpumask *m, u32 from)
{
	for (u32 w = from / 64; w < CPUMASK_WORDS; w++) {
		u64 bits = __atomic_load_n(&m->bits[w], __ATOMIC_RELAXED);

		if (w == from / 64)
			bits &= ~0ull << (from % 64);
		if (bits)
			return w * 64 + __builtin_ctzll(bits);
	}
	return MAX_CPUS;
}
#define for_each_cpu(cpu, m) \
	for (u32 cpu = cpumask_next((m), 0); cpu < MAX_CPUS; cpu = cpumask_next((m), cpu + 1))

#endif
