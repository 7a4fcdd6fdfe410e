/* The simulated physical memory of the Multiboot targets: the fuzzer's input is the memory at
 * MEM_BASE and nothing else is mapped, so the parser's own length checks are all that keeps it
 * inside; AddressSanitizer sees the input's exact bounds. Shared by fuzz_mb1.c and fuzz_mb2.c,
 * with the checks of what a parse leaves behind. */
#ifndef TESTS_FUZZ_BOOTMEM_H
#define TESTS_FUZZ_BOOTMEM_H

#include "tests/fuzz/fuzz.h"

#include "boot/bootinfo.h"
#include "boot/multiboot2.h"

#define MEM_BASE 0x10000ull

static const uint8_t *mem;
static size_t mem_size;

/* [phys, phys + len) inside the input, computed without overflow for any phys and len. */
static const void *mem_map(u64 phys, u64 len)
{
	if (phys < MEM_BASE || phys - MEM_BASE > mem_size || len > mem_size - (phys - MEM_BASE))
		return NULL;
	return mem + (phys - MEM_BASE);
}

static bool in_mem(const void *p, size_t len)
{
	const uint8_t *b = p;

	return b >= mem && b <= mem + mem_size && len <= (size_t)(mem + mem_size - b);
}

/* A string bootinfo hands out: its own "" or one terminated inside the memory. */
static void check_string(const char *s)
{
	FUZZ_CHECK(s != NULL);
	if (!in_mem(s, 0)) {
		FUZZ_CHECK(*s == '\0');
		return;
	}
	FUZZ_CHECK(memchr(s, '\0', mem + mem_size - (const uint8_t *)s) != NULL);
}

static void check_bootinfo(const struct bootinfo *bi, int protocol)
{
	FUZZ_CHECK(bi->protocol == protocol);
	check_string(bi->cmdline);
	check_string(bi->loader);
	FUZZ_CHECK(bi->args >= bi->cmdline && bi->args <= bi->cmdline + strlen(bi->cmdline));
	FUZZ_CHECK(bi->nmmap <= BOOTINFO_MAX_MMAP);
	FUZZ_CHECK(!bi->mmap_truncated || bi->nmmap == BOOTINFO_MAX_MMAP);
	FUZZ_CHECK(bi->nused <= BOOTINFO_MAX_USED);
	for (u32 i = 0; i < bi->nused; i++)
		FUZZ_CHECK(bi->used[i].len != 0);
	FUZZ_CHECK(bi->nmodules <= BOOTINFO_MAX_MODULES);
	for (u32 i = 0; i < bi->nmodules; i++)
		check_string(bi->modules[i].name);
	if (bi->rsdp)
		FUZZ_CHECK(bi->rsdp_len >= 20 && in_mem(bi->rsdp, bi->rsdp_len));
	(void)bootinfo_usable_bytes(bi);
}

/* Parse the input as the information of `protocol` at MEM_BASE; the error buffer's size comes
 * from the input's length, so that truncated messages are covered too. */
static int parse_mem(struct bootinfo *bi, int protocol, const uint8_t *data, size_t size)
{
	size_t err_len = size % 160;
	char *err = err_len ? malloc(err_len) : NULL;
	int rc;

	mem = data;
	mem_size = size;
	rc = bootinfo_parse(bi, protocol == 2 ? MB2_BOOTLOADER_MAGIC : MB1_BOOTLOADER_MAGIC,
			    MEM_BASE, mem_map, err, err_len);
	FUZZ_CHECK(rc == 0 || rc == -1);
	if (rc) { /* success leaves err alone */
		fuzz_check_one_line(err, err_len);
		FUZZ_CHECK(err_len < 2 || err[0]);
	}
	check_bootinfo(bi, protocol);
	free(err);
	return rc;
}

#endif
