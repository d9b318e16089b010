/* core/hash.h: the one byte-string hash the tree uses (64-bit FNV-1a):
 * the string map's buckets, the data directory's keys for long names,
 * the worker a restored session goes to.  Not for anything an attacker's
 * collisions could hurt beyond a slower lookup. */
#ifndef RMQ_HASH_H
#define RMQ_HASH_H

#include <stddef.h>
#include <stdint.h>

static inline uint64_t
rmq_hash64(const void *p, size_t n)
{
	const unsigned char *s = p;
	uint64_t h = 0xcbf29ce484222325ull;
	for (size_t i = 0; i < n; i++)
		h = (h ^ s[i]) * 0x100000001b3ull;
	return h;
}

#endif
