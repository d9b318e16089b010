/* test/support/rmq_test.h: small helpers the unit tests share: byte
 * vectors as strings, views of C strings, and hex dumps in failure
 * messages. */
#ifndef RMQ_TEST_H
#define RMQ_TEST_H

#include <stdio.h>
#include <string.h>

#include "props.h"

/* A view of a NUL-terminated string. */
static inline struct rmq_str
rmq_test_str(const char *s)
{
	return (struct rmq_str){ s, (uint32_t)strlen(s) };
}

/* Whether a view holds exactly the bytes of s. */
static inline int
rmq_test_str_eq(struct rmq_str v, const char *s)
{
	size_t n = strlen(s);
	return v.p != NULL && v.len == n && memcmp(v.p, s, n) == 0;
}

/* Hex of b[0..n) into out (which holds 3 * n + 1 bytes), for messages. */
static inline const char *
rmq_test_hex(const void *b, size_t n, char *out)
{
	const unsigned char *p = b;
	out[0] = '\0';
	for (size_t i = 0; i < n; i++)
		sprintf(out + 3 * i, "%02x ", p[i]);
	return out;
}

#endif
