/* The Linux peer's readers (scripts/linuxpeer/peer.h): one thread pinned to each other CPU,
 * reading one word of every page of the region while CPU 0 changes its mapping. */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <signal.h>
#include <stdatomic.h>
#include <string.h>
#include <time.h>

#include "kernel/exit.h"
#include "scripts/linuxpeer/peer.h"

/* ---- readers: one per other CPU, reading one word of every page of the region */

static struct {
	_Atomic unsigned long phase;  /* odd: sweep the region; even: stay off it; ~0: exit */
	char *_Atomic base;           /* the region (valid while phase is odd) */
	_Atomic unsigned long npages;
	_Atomic unsigned long faults; /* SIGSEGVs taken on the region (munmap) */
	_Atomic bool failed;          /* a reader could not start (it said why) */
	_Atomic unsigned long seen[MAX_CPUS]; /* the phase each reader last acknowledged */
} shared;

#define PHASE_EXIT (~0ul)

static __thread sigjmp_buf reader_jmp;
static __thread volatile sig_atomic_t reader_armed;

/*
 * A reader's load from a page that munmap just removed faults; jump back into the reader's
 * sweep and count it. SA_NODEFER keeps SIGSEGV unblocked across the jump (sigsetjmp does not
 * save the mask: a syscall per sweep would disturb the measurement). Any other SIGSEGV gets
 * the default action (the process dies; init reports the verdict error).
 */
static void segv_handler(int sig, siginfo_t *si, void *uc)
{
	char *base = atomic_load_explicit(&shared.base, memory_order_relaxed);
	char *addr = si->si_addr;
	unsigned long n = atomic_load_explicit(&shared.npages, memory_order_relaxed);

	(void)uc;
	if (reader_armed && base && addr >= base && addr < base + n * PAGE)
		siglongjmp(reader_jmp, 1);
	signal(sig, SIG_DFL); /* returning re-executes the access, which now kills us */
}

static void *reader(void *arg)
{
	unsigned idx = (unsigned)(unsigned long)arg;
	volatile unsigned long i = 0;

	if (pin_to(cpus[idx]) || sched_getcpu() != cpus[idx]) {
		out("tlbpeer: error: cannot pin a reader to CPU %d\n", cpus[idx]);
		atomic_store(&shared.failed, true);
		return (void *)1;
	}
	for (;;) {
		unsigned long ph = atomic_load_explicit(&shared.phase, memory_order_acquire);
		char *base;
		unsigned long n;

		if (ph == PHASE_EXIT)
			break;
		if (atomic_load_explicit(&shared.seen[idx], memory_order_relaxed) != ph)
			/* pairs with the acquire in wait_readers() */
			atomic_store_explicit(&shared.seen[idx], ph, memory_order_release);
		if (!(ph & 1)) {
			__builtin_ia32_pause();
			continue;
		}
		base = atomic_load_explicit(&shared.base, memory_order_relaxed);
		n = atomic_load_explicit(&shared.npages, memory_order_relaxed);
		if (sigsetjmp(reader_jmp, 0)) {
			reader_armed = 0;
			atomic_fetch_add_explicit(&shared.faults, 1, memory_order_relaxed);
			i++; /* go on with the next page */
		}
		reader_armed = 1;
		for (; i < n; i++) {
			(void)*(volatile unsigned long *)(base + i * PAGE);
			if (i % SWEEP_CHECK_PAGES == SWEEP_CHECK_PAGES - 1 &&
			    atomic_load_explicit(&shared.phase, memory_order_relaxed) != ph)
				break;
		}
		reader_armed = 0;
		i = 0;
	}
	return NULL;
}

/* Wait until every reader has acknowledged the current phase; false on timeout. */
static bool wait_readers(unsigned long ph)
{
	s64 deadline = mono_raw_ns() + (s64)READER_WAIT_S * 1000000000;

	for (unsigned r = 1; r < ncpus; r++) {
		/* pairs with the release in reader() */
		while (atomic_load_explicit(&shared.seen[r], memory_order_acquire) != ph) {
			if (atomic_load(&shared.failed))
				return false;
			if (deadline_passed(deadline)) {
				out("tlbpeer: error: the reader on CPU %d did not answer within %d s\n",
				    cpus[r], READER_WAIT_S);
				return false;
			}
			__builtin_ia32_pause();
		}
	}
	return true;
}

void set_phase(unsigned long ph)
{
	atomic_store_explicit(&shared.phase, ph, memory_order_release);
	if (!wait_readers(ph))
		finish(EXIT_ERROR);
}

static pthread_t threads[MAX_CPUS];

void start_readers(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = segv_handler;
	sa.sa_flags = SA_SIGINFO | SA_NODEFER;
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGSEGV, &sa, NULL))
		die("sigaction(SIGSEGV)");
	atomic_store(&shared.phase, 0);
	for (unsigned r = 1; r < ncpus; r++) {
		atomic_store(&shared.seen[r], PHASE_EXIT);
		errno = pthread_create(&threads[r], NULL, reader, (void *)(unsigned long)r);
		if (errno)
			die("pthread_create");
	}
	if (!wait_readers(0))
		finish(EXIT_ERROR);
}

void stop_readers(void)
{
	struct timespec until;
	void *ret;

	atomic_store_explicit(&shared.phase, PHASE_EXIT, memory_order_release);
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += READER_WAIT_S;
	for (unsigned r = 1; r < ncpus; r++) {
		errno = pthread_timedjoin_np(threads[r], &ret, &until);
		if (errno)
			die("joining a reader thread");
		if (ret)
			finish(EXIT_ERROR);
	}
}

void readers_publish(char *base, unsigned long npages)
{
	atomic_store_explicit(&shared.base, base, memory_order_relaxed);
	atomic_store_explicit(&shared.npages, npages, memory_order_relaxed);
}

unsigned long readers_phase(void)
{
	return atomic_load(&shared.phase);
}

unsigned long readers_faults(void)
{
	return atomic_load(&shared.faults);
}
