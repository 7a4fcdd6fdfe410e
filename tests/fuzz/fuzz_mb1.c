/* libFuzzer target: Multiboot v1 boot information (boot/bootinfo.c, Multiboot 0.6.96 3.3), as
 * QEMU's -kernel passes it. The input is physical memory with the information structure at its
 * start (tests/fuzz/bootmem.h); its pointers are physical addresses into the same memory.
 * Properties: no read outside the input, and no hang, whatever the memory map's entry sizes;
 * strings are taken only when their flag is set and reserved with their terminator. */
#include "tests/fuzz/bootmem.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct bootinfo bi;
	struct mb1_info mi;

	if (parse_mem(&bi, 1, data, size))
		return 0;
	FUZZ_CHECK(size >= sizeof(mi));
	memcpy(&mi, data, sizeof(mi));
	FUZZ_CHECK(bi.nused >= 1 && bi.used[0].addr == MEM_BASE && bi.used[0].len == sizeof(mi));
	if (!(mi.flags & MB1_INFO_CMDLINE))
		FUZZ_CHECK(!*bi.cmdline);
	if (!(mi.flags & MB1_INFO_LOADER_NAME))
		FUZZ_CHECK(!*bi.loader);
	if (!(mi.flags & MB1_INFO_MMAP))
		FUZZ_CHECK(bi.nmmap == 0);
	FUZZ_CHECK(bi.has_fb == !!(mi.flags & MB1_INFO_FRAMEBUFFER));
	return 0;
}
