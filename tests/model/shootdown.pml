/* tests/model/shootdown.pml: a Promela model of the TLB shootdown protocol of mm/aspace.c,
 * mm/tlb.c and smp/tlb_ipi.c, checked exhaustively by tests/model/run (docs/model.md).
 * Initiators A and B change address space X; target T uses X's pages, switches between X and Y
 * (PCIDs) and takes the flush IPI; T's MMU walks X speculatively at any time. Checked: no use of
 * a translation older than the published state, no walk through a freed page table.
 *
 * Switches (spin -D...):
 *   BUG_PARTIAL_GEN     f.gen read at shootdown time and the old tlb_flush_local() (bug 1)
 *   BUG_EARLY_ACK_FREE  early ack also when the shootdown frees page tables (bug 2)
 *   LATE_ACK            ack=late: targets acknowledge after flushing, always
 *   NO_PCID             no PCIDs: every CR3 write flushes
 *   FULL                full flushes (TLB_FULL) instead of one-page ranges
 *   NREMAP=n            remaps per initiator before its unmap (default 1)
 *   UNMAP=0             no unmap (and no freed page table): remaps only
 *
 * Memory is sequentially consistent here: the C code's fences (aspace_switch(), aspace_bump())
 * and acquire/release pairs are what make that assumption hold there. */

#ifndef NREMAP
#define NREMAP 1
#endif
#ifndef UNMAP
#define UNMAP 1
#endif
#ifdef NO_PCID
#define PCID 0
#else
#define PCID 1
#endif
#ifdef FULL
#define FULL_FLUSH true
#else
#define FULL_FLUSH false
#endif
/* tlb_ipi_handler(): acknowledge before flushing? (freed: the request frees page tables) */
#if defined(LATE_ACK)
#define EARLY_ACK(freed) false
#elif defined(BUG_EARLY_ACK_FREE)
#define EARLY_ACK(freed) true
#else
#define EARLY_ACK(freed) (!(freed))
#endif

#define MAX(a, b) ((a) > (b) -> (a) : (b))
#define X 0 /* the address space A and B change */
#define Y 1 /* the other one T switches to; it never changes */
#define NPAGES 2 /* page 0 is A's slice, page 1 is B's; page p is mapped through leaf table p */
#define NINIT 2  /* initiators: A = 0, B = 1 */

/* struct aspace (mm/aspace.h). A and B never load X, so only T's bit of as->active exists. */
byte tlb_gen[2];   /* as->tlb_gen, 1 at aspace_create() */
bool active_T[2];  /* T's bit in as->active */
bool as_lock;      /* X's as->lock */

/* X's page tables (mm/pt.c) */
byte pte[NPAGES];        /* leaf entry: 0 not present, else the tag of the frame it maps */
bool attached[NPAGES];   /* the parent entry points at leaf table p (cleared by pt_prune()) */
bool tbl_freed[NPAGES];  /* pt_release() freed leaf table p: it may be reused and overwritten */

/* The oracle (bench/stress.c): the tag each page's published state requires at least. */
byte published[NPAGES];

/* T's hardware: the loaded CR3, and the entries of X's PCID (all X's entries without PCIDs) */
byte cr3;
byte tlb[NPAGES]; /* TLB: 0 none, else the tag of the frame the cached translation maps */
bool psc[NPAGES]; /* paging-structure cache: holds a pointer to leaf table p */

/* The IPI backend (smp/tlb_ipi.c) */
typedef request {   /* struct tlb_flush, as posted in percpu tlb_out */
	byte gen;
	byte page;      /* ranges[0]: one page */
	bool whole;     /* nranges == TLB_FULL */
	bool freed      /* f.freed_tables */
};
request out[NINIT]; /* each initiator's tlb_out.f */
bool inbox[NINIT];  /* T's tlb_inbox bits; any set = VEC_TLB_FLUSH pending */
bool acked[NINIT];  /* ack slot (initiator, T) holds the request's seq */

/* INVLPG (flush_page() via flush_range_local() for one page): the page's TLB entry and the
 * paging-structure-cache entries on its path. (The SDM drops all of the PCID's; one is the
 * weaker assumption.) */
inline invlpg(p)
{
	tlb[p] = 0;
	psc[p] = false
}

/* flush_context(X's PCID), or a CR3 write that flushes: every entry of X, both caches */
inline flush_x()
{
	tlb[0] = 0; tlb[1] = 0;
	psc[0] = false; psc[1] = false
}

/* One walk of X for page p by T's MMU (a TLB miss or a speculative walk): through the cached
 * pointer to the leaf table when there is one, else from the root (caching the pointer). Called
 * inside an atomic step: a flush on T completes the walks in flight, and the paging-structure
 * cache is what carries a table pointer across time. */
inline walk(p)
{
	if
	:: !psc[p] && attached[p] -> psc[p] = true
	:: else
	fi;
	if
	:: psc[p] ->
		assert(!tbl_freed[p]); /* no walk through a freed page table */
		if
		:: tlb[p] == 0 && pte[p] != 0 -> tlb[p] = pte[p]
		:: else /* a hit needs no walk: this one was for a neighbour in the same table, whose
			 * entry is not modelled; not-present entries are not cached (SDM 3A 4.10.2.3) */
		fi
	:: else /* parent entry not present */
	fi
}

/* T's code reads page p (stress.c check()): the TLB entry, else a walk; no entry is a #PF. */
inline access(p)
{
	atomic {
		if
		:: tlb[p] == 0 -> walk(p)
		:: else
		fi;
		if
		:: tlb[p] != 0 -> assert(tlb[p] >= published[p]) /* no stale translation used */
		:: else
		fi
	}
}

/* aspace_switch(to), interrupts off (stress.c switch_to()); dest evaluated once, into to */
inline aspace_switch(dest)
{
	atomic {
		from = current;
		to = dest;
		active_T[to] = true /* cpumask_set_atomic(&to->active, me->cpu) */
	};
	gen = tlb_gen[to];      /* __atomic_thread_fence(SEQ_CST); gen = aspace_gen(to) */
	atomic {
		if
		:: PCID && flushed_gen[to] >= gen -> skip /* cr3 |= CR3_NOFLUSH: keep to's PCID */
		:: else ->
			/* write_cr3() without NOFLUSH drops to's PCID; without PCIDs, everything */
			if
			:: to == X || !PCID -> flush_x()
			:: else
			fi
		fi;
		cr3 = to;                                    /* write_cr3(cr3) */
		flushed_gen[to] = MAX(flushed_gen[to], gen);
		current = to;                                /* me->as.current = to */
		gen = 0
	};
	atomic {
		active_T[from] = false; /* cpumask_test_and_clear_atomic(&from->active, me->cpu) */
		from = 0; to = 0
	}
}

/* tlb_flush_local(&f) on T (f in fgen, fpage, ffull), interrupts off */
inline tlb_flush_local()
{
	if
	:: current != X -> skip /* switched away: it flushes when it comes back */
	:: else ->
#ifdef BUG_PARTIAL_GEN
		/* the old code: flush the ranges, then record f.gen whatever that covers */
		atomic {
			if
			:: ffull -> flush_x()    /* flush_range_local(pcid, 0, 0, ...) */
			:: else -> invlpg(fpage) /* flush_range_local(pcid, va, 1, ...) */
			fi;
			flushed_gen[X] = MAX(flushed_gen[X], fgen) /* aspace_note_flushed() */
		}
#else
		if
		:: flushed_gen[X] >= fgen -> skip /* local >= f->gen: an earlier full flush covered it */
		:: else ->
			cur = tlb_gen[X]; /* aspace_gen(as), read before flushing */
			atomic {
				if
				:: !ffull && flushed_gen[X] + 1 == fgen ->
					invlpg(fpage);  /* exactly one generation behind: the range suffices */
					flushed_gen[X] = fgen
				:: else ->
					flush_x();      /* flush_range_local(pcid, 0, 0, ...) */
					flushed_gen[X] = MAX(flushed_gen[X], cur)
				fi;
				cur = 0
			}
		fi
#endif
	fi
}

/* tlb_ipi_handler(), interrupts off: every initiator whose inbox bit is set, in CPU order */
inline tlb_ipi_handler()
{
	i = 0;
	do
	:: i < NINIT ->
		if
		:: atomic { inbox[i] ->    /* cpumask_test_and_clear_atomic(&me->tlb_inbox, i) */
			inbox[i] = false;
			fgen = out[i].gen;     /* f = out->f */
			fpage = out[i].page;
			ffull = out[i].whole;
			early = EARLY_ACK(out[i].freed);
			if
			:: early -> acked[i] = true /* acknowledge(), ack=early */
			:: else
			fi
		   };
			tlb_flush_local();
			atomic {
				if
				:: !early -> acked[i] = true /* acknowledge(), ack=late or tables freed */
				:: else
				fi;
				fgen = 0; fpage = 0; ffull = false; early = false
			}
		:: else
		fi;
		i++
	:: else -> i = 0; break
	od
}

/* T: a stress worker (stress.c read_others(), switch_to()) and its interrupts. current and
 * flushed_gen (struct aspace_cpu) are T's own, so they are local here. */
proctype target()
{
	byte current = X;    /* me->as.current: T starts with X loaded ... */
	byte flushed_gen[2]; /* me->as.flushed_gen[] */
	byte i, gen, from, to, cur, fgen, fpage;
	bool ffull, early;

	flushed_gen[X] = 1;  /* ... and clean: aspace_switch(X) ran before the changes */
end:	do
	:: current == X -> access(0)
	:: current == X -> access(1)
	:: aspace_switch(1 - current)
	:: inbox[0] || inbox[1] -> tlb_ipi_handler()
	od
}

/* T's MMU: speculative walks of the loaded address space, at any time */
proctype walker()
{
end:	do
	:: atomic { cr3 == X -> walk(0) }
	:: atomic { cr3 == X -> walk(1) }
	od
}

/* A or B (stress.c initiate()): NREMAP remaps of page p, then (UNMAP) one unmap that empties
 * its leaf table; each shot down, then published. Steps only the other initiator can tell apart
 * (taking and releasing the lock) are merged with their neighbours; the lock around pt_release()
 * is left out (A and B free different tables). */
proctype initiator(byte me; byte p)
{
	byte k = 0, tag = 1, fgen;
	bool unmap, targets;

	do
	:: k < NREMAP + UNMAP ->
		unmap = (k == NREMAP);
		/* aspace_replace() / aspace_unmap(): spin_lock(&as->lock), then the entry */
		atomic {
			!as_lock -> as_lock = true;
			tag++;
			if
			:: !unmap -> pte[p] = tag /* pt_replace(): the frame whose tag was just raised */
			:: else -> pte[p] = 0     /* pt_unmap(): exchange the entry with 0 */
			fi
		};
		if
		:: unmap -> attached[p] = false /* pt_prune(): unlink the emptied table (kept on fl) */
		:: else
		fi;
		/* changed(): aspace_bump(), then spin_unlock(&as->lock) */
		atomic {
			tlb_gen[X]++;
#ifndef BUG_PARTIAL_GEN
			fgen = tlb_gen[X]; /* the bump's value: the change's own generation is f.gen */
#endif
			as_lock = false
		};
		/* tlb_shootdown() */
#ifdef BUG_PARTIAL_GEN
		fgen = tlb_gen[X]; /* f.gen = aspace_gen(as), now: may include a later change */
#endif
		/* targets = as->active minus me, read after the bump; then tlb_ipi_post(): request
		 * slot, inbox bit, IPI. (One step: T may take the IPI as late as it likes anyway.) */
		atomic {
			targets = active_T[X];
			if
			:: targets ->
				out[me].gen = fgen;
				out[me].page = p;
				out[me].whole = FULL_FLUSH;
				out[me].freed = unmap;
				inbox[me] = true
			:: else
			fi;
			fgen = 0
		};
		/* tlb_flush_local(&f) on the initiator returns at once: it does not have X loaded */
		if
		:: targets -> atomic { acked[me] -> acked[me] = false } /* tlb_ipi_finish() */
		:: else
		fi;
		atomic { /* one step: a state between the two only makes the oracle weaker */
			if
			:: unmap -> tbl_freed[p] = true /* pt_release(): only after the shootdown returned */
			:: else
			fi;
			published[p] = tag;             /* publish() */
			k++; targets = false
		}
	:: else -> break
	od
}

init
{
	atomic {
		tlb_gen[X] = 1; tlb_gen[Y] = 1;
		pte[0] = 1; pte[1] = 1;
		attached[0] = true; attached[1] = true;
		published[0] = 1; published[1] = 1;
		cr3 = X; active_T[X] = true; /* T has X loaded (target() starts with it) */
		run target();
		run walker();
		run initiator(0, 0);
		run initiator(1, 1)
	}
}
