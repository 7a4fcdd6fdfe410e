/* Once-only claims shared by every CPU without a lock: a small table of keys (compared by
 * pointer, e.g. string literals naming what happened) filled by compare-and-swap. Pure logic,
 * unit-tested on the host (tests/unit/test_once.c), threads included. */
#ifndef KERNEL_ONCE_H
#define KERNEL_ONCE_H

#include "kernel/types.h"

/* True exactly once per key across all CPUs while the n slots of `table` (zeroed, shared, only
 * ever written by this function) have room; a key that finds no free slot is claimed every
 * time (better a repeated message than a lost one). key must not be NULL. */
bool once_claim(const char **table, u32 n, const char *key);

#endif
