/* printf-style formatting for the kernel: a core that emits characters through a
 * callback, and snprintf on top of it.  Built freestanding and on the host for tests. */
#ifndef KERNEL_PRINTF_H
#define KERNEL_PRINTF_H

#include <stdarg.h>
#include <stddef.h>

/* Receives every output character in order; ctx is passed through untouched. */
typedef void (*kputc_fn)(void *ctx, char c);

/*
 * Supports %d %i %u %x %X %o %c %s %p %%, length modifiers hh h l ll z t j,
 * flags - 0 + space #, and width/precision (also as '*').  %p is always "0x"
 * plus 16 hex digits.  An unknown conversion is printed verbatim.
 * Returns the number of characters emitted.
 */
int kvformat(kputc_fn out, void *ctx, const char *fmt, va_list ap);

/* C99 snprintf semantics: NUL-terminates when size > 0 and returns the full length. */
int kvsnprintf(char *buf, size_t size, const char *fmt, va_list ap);
int ksnprintf(char *buf, size_t size, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

#endif
