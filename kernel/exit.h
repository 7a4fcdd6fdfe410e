/* How a run ends: the verdict codes (one table; scripts/tlbrun.py reads these lines) and the
 * exit path (isa-debug-exit under QEMU, else ACPI S5, else halt). Shared with assembly. */
#ifndef KERNEL_EXIT_H
#define KERNEL_EXIT_H

/* Verdict codes. Under QEMU, isa-debug-exit turns code c into exit status (c << 1) | 1, so a
 * QEMU exit status of 0 never means pass. Severity for "most severe wins": pass < skip <
 * error < fail; usage is reported before anything runs. */
#define EXIT_PASS 0  /* everything checked passed */
#define EXIT_FAIL 1  /* the code under test is wrong (or a deliberate fault fired) */
#define EXIT_USAGE 2 /* bad kernel command line */
#define EXIT_SKIP 3  /* the platform lacks what was asked for */
#define EXIT_ERROR 4 /* internal error: the kernel or its environment is broken */

#define DEBUG_EXIT_IOPORT 0xf4

#ifndef __ASSEMBLER__
#include "kernel/types.h"

const char *exit_code_name(int code);
int exit_worse(int a, int b); /* the more severe of two verdict codes */
/* What the run showed about its own detection power ("shown" or "not shown"), for the verdict
 * line and record; a pass whose detection was not shown says so. NULL (the default): no claim. */
void exit_set_detection(const char *status);
/* pause=1: before exiting, wait for a byte on COM1 (lets the host grab the screen). */
void exit_set_pause(bool pause);
__attribute__((noreturn)) void kernel_exit(int code);
#endif

#endif
