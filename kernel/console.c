/* Console multiplexer: one lock for all output so lines from different CPUs do not interleave.
 * A CPU that faults while holding the lock (an exception report from inside kprintf) goes on
 * without it rather than deadlocking against itself. */
#include "kernel/console.h"
#include "kernel/printf.h"
#include "kernel/spinlock.h"
#include "kernel/x86.h"
#include "smp/percpu.h"

#define NO_OWNER 0xffffffffu

static struct spinlock console_lock = SPINLOCK_INIT;
static u32 console_owner = NO_OWNER; /* written only by the lock holder */
static const struct screen_ops *screen;

static u32 my_cpu(void)
{
	return percpu_ready ? this_cpu()->cpu : 0;
}

/* Returns true if this call took the lock (and must release it). */
static bool console_lock_acquire(void)
{
	if (__atomic_load_n(&console_owner, __ATOMIC_RELAXED) == my_cpu())
		return false;
	spin_lock(&console_lock);
	console_owner = my_cpu();
	return true;
}

static void console_lock_release(bool taken)
{
	if (!taken)
		return;
	console_owner = NO_OWNER;
	spin_unlock(&console_lock);
}

static void console_emit(unsigned sinks, char c)
{
	if (sinks & CON_SERIAL) {
		if (c == '\n')
			uart_putc('\r');
		uart_putc(c);
	}
	if ((sinks & CON_SCREEN) && screen)
		screen->putc(c);
}

struct sink_ctx {
	unsigned sinks;
};

static void sink_putc(void *ctx, char c)
{
	console_emit(((struct sink_ctx *)ctx)->sinks, c);
}

void console_write(unsigned sinks, const char *s, size_t n)
{
	bool taken = console_lock_acquire();

	while (n--)
		console_emit(sinks, *s++);
	console_lock_release(taken);
}

static void console_vprintf(unsigned sinks, const char *fmt, va_list ap)
{
	struct sink_ctx ctx = { sinks };
	bool taken = console_lock_acquire();

	kvformat(sink_putc, &ctx, fmt, ap);
	console_lock_release(taken);
}

void kvprintf(const char *fmt, va_list ap)
{
	console_vprintf(CON_ALL, fmt, ap);
}

void kprintf(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	console_vprintf(CON_ALL, fmt, ap);
	va_end(ap);
}

void cprintf(unsigned sinks, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	console_vprintf(sinks, fmt, ap);
	va_end(ap);
}

void console_init_serial(void)
{
	uart_init();
}

void console_set_screen(const struct screen_ops *s)
{
	screen = s;
}

const char *console_screen_name(void)
{
	return screen ? screen->name : "none";
}

void console_flush(void)
{
	uart_flush();
}

bool console_wait_input(u32 seconds)
{
	/* No calibrated clock yet: assume at most 4 GHz so the wait is never longer than asked
	 * for by more than the TSC's slowness. */
	u64 start = rdtsc(), limit = (u64)seconds * 4000000000ull;

	while (rdtsc() - start < limit) {
		if (uart_getc() >= 0)
			return true;
		cpu_relax();
	}
	return false;
}
