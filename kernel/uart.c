/* 16550 UART on COM1, 115200 8N1, polled. Hyper-V exposes its COM ports as named pipes on the
 * host; QEMU's -serial connects the same register interface. */
#include "kernel/console.h"
#include "kernel/x86.h"

#define COM1 0x3f8
#define UART_THR 0 /* transmit holding (DLAB 0) */
#define UART_RBR 0 /* receive buffer (DLAB 0) */
#define UART_DLL 0 /* divisor low (DLAB 1) */
#define UART_IER 1
#define UART_DLM 1
#define UART_FCR 2
#define UART_LCR 3
#define UART_MCR 4
#define UART_LSR 5
#define UART_SCR 7
#define LCR_8N1 0x03
#define LCR_DLAB 0x80
#define FCR_ENABLE_CLEAR 0x07
#define MCR_DTR_RTS_OUT2 0x0b
#define LSR_DATA_READY 0x01
#define LSR_THR_EMPTY 0x20
#define LSR_IDLE 0x40
#define UART_CLOCK_DIVISOR 1 /* 115200 baud from the 1.8432 MHz clock */
#define SPIN_LIMIT 1000000   /* a missing or wedged UART must not hang the kernel */

static bool present;

bool uart_init(void)
{
	/* The scratch register holds what we write only if a UART is there. */
	outb(COM1 + UART_SCR, 0x5a);
	if (inb(COM1 + UART_SCR) != 0x5a)
		return present = false;
	outb(COM1 + UART_IER, 0);
	outb(COM1 + UART_LCR, LCR_DLAB);
	outb(COM1 + UART_DLL, UART_CLOCK_DIVISOR & 0xff);
	outb(COM1 + UART_DLM, UART_CLOCK_DIVISOR >> 8);
	outb(COM1 + UART_LCR, LCR_8N1);
	outb(COM1 + UART_FCR, FCR_ENABLE_CLEAR);
	outb(COM1 + UART_MCR, MCR_DTR_RTS_OUT2);
	return present = true;
}

static void uart_wait(u8 bit)
{
	for (u32 i = 0; i < SPIN_LIMIT && !(inb(COM1 + UART_LSR) & bit); i++)
		cpu_relax();
}

void uart_putc(char c)
{
	if (!present)
		return;
	uart_wait(LSR_THR_EMPTY);
	outb(COM1 + UART_THR, (u8)c);
}

int uart_getc(void)
{
	if (!present || !(inb(COM1 + UART_LSR) & LSR_DATA_READY))
		return -1;
	return inb(COM1 + UART_RBR);
}

void uart_flush(void)
{
	if (present)
		uart_wait(LSR_IDLE);
}
