/* Ticket spinlocks: FIFO-fair, so a CPU that keeps re-taking a lock cannot starve the others. */
#ifndef KERNEL_SPINLOCK_H
#define KERNEL_SPINLOCK_H

#include "kernel/types.h"
#include "kernel/x86.h"

struct spinlock {
	u32 next;  /* ticket handed to the next arrival */
	u32 owner; /* ticket now being served */
};

#define SPINLOCK_INIT { 0, 0 }

static inline void spin_lock(struct spinlock *l)
{
	u32 ticket = __atomic_fetch_add(&l->next, 1, __ATOMIC_RELAXED);

	/* pairs with the release in spin_unlock() */
	while (__atomic_load_n(&l->owner, __ATOMIC_ACQUIRE) != ticket)
		cpu_relax();
}

static inline void spin_unlock(struct spinlock *l)
{
	/* pairs with the acquire in spin_lock(): our writes are visible to the next owner */
	__atomic_store_n(&l->owner, l->owner + 1, __ATOMIC_RELEASE);
}

static inline bool spin_is_locked(struct spinlock *l)
{
	return __atomic_load_n(&l->owner, __ATOMIC_RELAXED) != __atomic_load_n(&l->next, __ATOMIC_RELAXED);
}

#endif
