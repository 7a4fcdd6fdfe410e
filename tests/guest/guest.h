/* Helpers shared by the in-guest tests. */
#ifndef TESTS_GUEST_GUEST_H
#define TESTS_GUEST_GUEST_H

#include "mm/frame.h"
#include "mm/mm.h"

/* A fresh frame whose first word is `tag` (0 when out of memory). */
static inline paddr_t guest_tagged_frame(u64 tag)
{
	paddr_t pa = frame_alloc(mm_frame_pool(), NULL);

	if (pa)
		*(volatile u64 *)phys_to_virt(pa) = tag;
	return pa;
}

static inline void guest_free_frames(const paddr_t *frames, u32 n)
{
	for (u32 i = 0; i < n; i++)
		if (frames[i])
			frame_free(mm_frame_pool(), NULL, frames[i]);
}

#endif
