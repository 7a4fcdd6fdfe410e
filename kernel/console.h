/* Kernel console: COM1 always, plus the screen (linear framebuffer or VGA text) when there is
 * one. Human-readable text goes to both; machine-readable records to the serial port only. */
#ifndef KERNEL_CONSOLE_H
#define KERNEL_CONSOLE_H

#include <stdarg.h>

#include "kernel/types.h"

#define CON_SERIAL (1u << 0)
#define CON_SCREEN (1u << 1)
#define CON_ALL (CON_SERIAL | CON_SCREEN)

struct screen_ops {
	const char *name; /* "framebuffer", "vga-text" */
	void (*putc)(char c);
};

void console_init_serial(void);
/* The screen the console also writes to (a driver from kernel/screen.h; NULL: none). */
void console_set_screen(const struct screen_ops *s);
const char *console_screen_name(void); /* "none" without a screen */

__attribute__((format(printf, 1, 2))) void kprintf(const char *fmt, ...);
__attribute__((format(printf, 1, 0))) void kvprintf(const char *fmt, va_list ap);
__attribute__((format(printf, 2, 3))) void cprintf(unsigned sinks, const char *fmt, ...);
void console_write(unsigned sinks, const char *s, size_t n);

/* Wait until everything written has left the serial port (before power-off). */
void console_flush(void);
/* Wait up to about `seconds` for a byte on the serial input; false on timeout. */
bool console_wait_input(u32 seconds);

/* COM1 (kernel/uart.c) */
bool uart_init(void);
void uart_putc(char c);
int uart_getc(void); /* -1 when nothing is waiting */
void uart_flush(void);

#endif
