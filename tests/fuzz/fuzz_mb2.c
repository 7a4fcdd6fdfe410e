/* libFuzzer target: Multiboot2 boot information (boot/bootinfo.c, Multiboot2 spec 3.6). The
 * input is physical memory with the information at its start (tests/fuzz/bootmem.h).
 * Properties: no read outside the input; whatever is handed out (strings, modules, the RSDP
 * copy) lies inside it; a parse that succeeds reserves the whole information. */
#include "tests/fuzz/bootmem.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct bootinfo bi;
	u32 total;

	if (parse_mem(&bi, 2, data, size))
		return 0;
	memcpy(&total, data, sizeof(total));
	FUZZ_CHECK(total <= size);
	FUZZ_CHECK(bi.nused >= 1 && bi.used[0].addr == MEM_BASE && bi.used[0].len == total);
	return 0;
}
