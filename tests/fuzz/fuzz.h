/* Shared pieces of the libFuzzer targets (docs/fuzz.md): a reader that turns the fuzzer's bytes
 * into the values a target needs, and checks that abort with a message. A failed check is a
 * crash to libFuzzer like a sanitizer report is, so it saves the input the same way. */
#ifndef TESTS_FUZZ_FUZZ_H
#define TESTS_FUZZ_FUZZ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A property of the code under test that does not hold: report where, and crash. */
#define FUZZ_CHECK(cond)                                                                           \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			fprintf(stderr, "%s:%d: property failed: %s\n", __FILE__, __LINE__, #cond); \
			abort();                                                                   \
		}                                                                                  \
	} while (0)

/* The input, consumed from the front. Past its end every read gives zeros, so that a short
 * input is still a complete (if dull) test case rather than a rejected one. */
struct fz {
	const uint8_t *p;
	size_t left;
};

static inline struct fz fz_init(const uint8_t *data, size_t size)
{
	return (struct fz){ data, size };
}

static inline uint8_t fz_u8(struct fz *f)
{
	if (!f->left)
		return 0;
	f->left--;
	return *f->p++;
}

/* Little-endian, like the structures the targets parse. */
static inline uint64_t fz_uint(struct fz *f, int bytes)
{
	uint64_t v = 0;

	for (int i = 0; i < bytes; i++)
		v |= (uint64_t)fz_u8(f) << (8 * i);
	return v;
}

static inline uint16_t fz_u16(struct fz *f)
{
	return (uint16_t)fz_uint(f, 2);
}

static inline uint32_t fz_u32(struct fz *f)
{
	return (uint32_t)fz_uint(f, 4);
}

static inline uint64_t fz_u64(struct fz *f)
{
	return fz_uint(f, 8);
}

/* A string of up to max bytes (length byte first), NUL-terminated into buf[max + 1]. A NUL in
 * the input ends it early: the APIs under test take C strings. */
static inline const char *fz_str(struct fz *f, char *buf, size_t max)
{
	size_t n = fz_u8(f) % (max + 1), i;

	for (i = 0; i < n && f->left; i++) {
		buf[i] = (char)fz_u8(f);
		if (!buf[i])
			break;
	}
	buf[i] = '\0';
	return buf;
}

/* An error message the API promises is one line: terminated within its buffer, no line break. */
static inline void fuzz_check_one_line(const char *err, size_t len)
{
	if (!len)
		return;
	FUZZ_CHECK(memchr(err, '\0', len) != NULL);
	FUZZ_CHECK(!strchr(err, '\n') && !strchr(err, '\r'));
}

#endif
