/* What the Linux peer's files share: tlbpeer.c (options, workloads, records, main), peer.c
 * (output, the verdict, the TSC, CPUs) and readers.c (the reader threads). */
#ifndef LINUXPEER_PEER_H
#define LINUXPEER_PEER_H

#include "kernel/types.h"

#ifndef TLBSTORM_VERSION
#define TLBSTORM_VERSION "unknown"
#endif

#define PAGE 4096ul
#define STR_(x) #x
#define STR(x) STR_(x)
#define MAX_LIST 16         /* items per option list, as OPT_LIST_MAX (kernel/cmdline.h) */
#define MAX_PAGES 16384     /* as SCENARIO_MAX_PAGES (bench/scenario.h); tests/boot/test_layout.py */
#define MAX_CPUS 512
#define MAX_ITERS 10000000
#define MAX_WARMUP 1000000
#define CALIBRATE_NS 200000000l  /* TSC calibration against CLOCK_MONOTONIC_RAW */
#define READER_WAIT_S 30         /* readers must answer a phase change within this */
#define SWEEP_CHECK_PAGES 64     /* readers look for a phase change this often */
#define TIMER_SAMPLES 1000
#define PINNED_ENV "TLBPEER_PINNED"

/* ---- peer.c */
void out(const char *fmt, ...) __attribute__((format(printf, 1, 2))); /* one line, one write */
__attribute__((noreturn)) void finish(int code); /* the verdict record and line, then exit */
__attribute__((noreturn)) void die(const char *what); /* "error: what: strerror", verdict error */

static inline u64 rdtsc_ordered(void)
{
	u32 lo, hi;

	/* the same clock read as the kernel's (kernel/time.h): LFENCE, then RDTSC */
	__asm__ volatile("lfence; rdtsc" : "=a"(lo), "=d"(hi)::"memory");
	return ((u64)hi << 32) | lo;
}

extern u64 tsc_khz;
u64 to_ns(u64 cycles);
s64 mono_raw_ns(void);
u64 calibrate_tsc(void); /* kHz, 0 on failure */
void timer_overhead(u64 *min, u64 *p50);
bool deadline_passed(s64 deadline);

extern int cpus[MAX_CPUS]; /* the online CPUs; cpus[0] runs the initiator */
extern unsigned ncpus;
int pin_to(int cpu);

/* ---- readers.c */
void start_readers(void);
void stop_readers(void);
void set_phase(unsigned long ph);   /* and wait until every reader has seen it */
unsigned long readers_phase(void);
void readers_publish(char *base, unsigned long npages); /* the region odd phases sweep */
unsigned long readers_faults(void); /* SIGSEGVs taken on the region so far (munmap) */

#endif
