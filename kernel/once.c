/* Once-only claims (kernel/once.h). Slots are written once, NULL -> key, by compare-and-swap and
 * never change again, so every caller scanning for a key passes the same keys in the same order:
 * a key can enter only one slot, and only one caller wins the swap that puts it there. */
#include "kernel/once.h"

bool once_claim(const char **table, u32 n, const char *key)
{
	for (u32 i = 0; i < n; i++) {
		/* The key's pointer is the only thing a slot publishes (it points at immutable
		 * data), so relaxed atomics suffice: what matters is one winner per slot. */
		const char *seen = __atomic_load_n(&table[i], __ATOMIC_RELAXED);

		if (!seen && __atomic_compare_exchange_n(&table[i], &seen, key, false,
							 __ATOMIC_RELAXED, __ATOMIC_RELAXED))
			return true;
		if (seen == key) /* already claimed here, or just now by another CPU */
			return false;
	}
	return true; /* the table is full: cannot remember, so do not stay silent */
}
