/* prefetch.h - taking lines into this core's cache ahead of the lock under
 * which they are read or written: each access to a line another core holds
 * waits for it, and under the lock the other core waits too. */
#ifndef SHMCP_PREFETCH_H
#define SHMCP_PREFETCH_H

#include <stdint.h>
#if defined(__x86_64__)
#include <cpuid.h>
#endif

/* More than this would only evict what went before. */
#define SHMCP_PREFETCH_MAX (64 * 1024)

/* The @len bytes at @at (at most SHMCP_PREFETCH_MAX), line by line, to be
 * read.  In asm on x86: GCC may delete a loop of __builtin_prefetch, which
 * has no effect it must keep (it did, once this was a helper of its own). */
static inline void shmcp_prefetch_read(const void *at, uint64_t len)
{
	const uint8_t *p = at;
	if (len > SHMCP_PREFETCH_MAX)
		len = SHMCP_PREFETCH_MAX;
	for (uint64_t i = 0; i < len; i += 64)
#if defined(__x86_64__)
		__asm__ __volatile__("prefetcht0 %0" : : "m"(p[i]));
#else
		__builtin_prefetch(p + i, 0, 3);
#endif
}

/* The same, to be written: PREFETCHW where the CPU has it (CPUID 80000001h
 * ECX bit 8), nothing where it has not. */
static inline void shmcp_prefetch_write(const void *at, uint64_t len)
{
	const uint8_t *p = at;
	if (len > SHMCP_PREFETCH_MAX)
		len = SHMCP_PREFETCH_MAX;
#if defined(__x86_64__)
	static int have = -1;
	if (have < 0) {
		unsigned a, b, c = 0, d;
		have = __get_cpuid(0x80000001u, &a, &b, &c, &d) && (c & (1u << 8));
	}
	if (have)
		for (uint64_t i = 0; i < len; i += 64)
			__asm__ __volatile__("prefetchw %0" : : "m"(p[i]));
#else
	for (uint64_t i = 0; i < len; i += 64)
		__builtin_prefetch(p + i, 1, 3);
#endif
}

#endif
