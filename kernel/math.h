/* 64-bit arithmetic helpers that would otherwise need libgcc's 128-bit division. */
#ifndef KERNEL_MATH_H
#define KERNEL_MATH_H

#include "kernel/types.h"

/* a * b / c with a 128-bit intermediate; UINT64_MAX if the quotient does not fit (or c = 0). */
static inline u64 mul_div_u64(u64 a, u64 b, u64 c)
{
	u64 lo, hi, q, r;

	__asm__("mulq %3" : "=a"(lo), "=d"(hi) : "a"(a), "rm"(b));
	if (!c || hi >= c)
		return UINT64_MAX;
	__asm__("divq %4" : "=a"(q), "=d"(r) : "a"(lo), "d"(hi), "rm"(c));
	return q;
}

#endif
