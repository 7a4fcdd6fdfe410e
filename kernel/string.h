/* The few C library string functions the kernel provides (kernel/string.c).
 * The prototypes match the C library's, so pure code built for the host links against libc. */
#ifndef KERNEL_STRING_H
#define KERNEL_STRING_H

#include <stddef.h>

void *memcpy(void *dst, const void *src, size_t n);
void *memmove(void *dst, const void *src, size_t n);
void *memset(void *dst, int c, size_t n);
int memcmp(const void *a, const void *b, size_t n);
void *memchr(const void *s, int c, size_t n);
size_t strlen(const char *s);
size_t strnlen(const char *s, size_t max);
int strcmp(const char *a, const char *b);
int strncmp(const char *a, const char *b, size_t n);
char *strchr(const char *s, int c);
char *strstr(const char *haystack, const char *needle);
/* Copy at most len - 1 bytes and always terminate (len > 0). Not in libc: no clash on the host. */
void strncpy_safe(char *dst, const char *src, size_t len);

#endif
