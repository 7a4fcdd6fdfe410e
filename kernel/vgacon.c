/* VGA text console (80x25 cells at 0xb8000, or the EGA text mode a loader reports): the screen
 * of a BIOS guest booted without a framebuffer, e.g. QEMU -kernel. */
#include "boot/multiboot2.h"
#include "kernel/screen.h"
#include "kernel/string.h"
#include "mm/mm.h"

#define VGA_TEXT_PHYS 0xb8000
#define VGA_COLS 80
#define VGA_ROWS 25
#define VGA_ATTR 0x0700 /* light grey on black */

static struct {
	volatile u16 *cells;
	u32 cols, rows, x, y;
} vga;

static void vga_newline(void)
{
	vga.x = 0;
	if (++vga.y < vga.rows)
		return;
	for (u32 i = 0; i < (vga.rows - 1) * vga.cols; i++)
		vga.cells[i] = vga.cells[i + vga.cols];
	for (u32 i = 0; i < vga.cols; i++)
		vga.cells[(vga.rows - 1) * vga.cols + i] = VGA_ATTR | ' ';
	vga.y = vga.rows - 1;
}

static void vgacon_putc(char c)
{
	if (c == '\n')
		return vga_newline();
	if (c == '\r') {
		vga.x = 0;
		return;
	}
	if (vga.x == vga.cols)
		vga_newline();
	vga.cells[vga.y * vga.cols + vga.x++] = VGA_ATTR | (u8)c;
}

static const struct screen_ops vgacon_ops = { "vga-text", vgacon_putc };

const struct screen_ops *vgacon_init(const struct bootinfo *bi)
{
	u64 phys = VGA_TEXT_PHYS;

	vga.cols = VGA_COLS, vga.rows = VGA_ROWS;
	if (bi->has_fb) {
		/* A graphics mode we cannot draw in: writing text cells there would be garbage. */
		if (bi->fb.type != MB_FB_TYPE_EGA_TEXT)
			return NULL;
		phys = bi->fb.addr, vga.cols = bi->fb.width, vga.rows = bi->fb.height;
	} else if (bi->efi) {
		return NULL; /* UEFI without a framebuffer: there is no VGA text mode */
	}
	vga.cells = mm_map_mmio(phys, (u64)vga.cols * vga.rows * 2);
	if (!vga.cells || !vga.cols || !vga.rows)
		return NULL;
	for (u32 i = 0; i < vga.cols * vga.rows; i++)
		vga.cells[i] = VGA_ATTR | ' ';
	return &vgacon_ops;
}
