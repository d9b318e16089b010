/* broker/io/iobuf.h: a growable byte buffer, where a layer of a
 * connection (conn.h) stages what it reads or writes between the
 * backend's calls.  Empty, it owns no memory, so an idle connection's
 * layers stay small.
 */
#ifndef RMQ_IOBUF_H
#define RMQ_IOBUF_H

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

struct rmq_iobuf {
	uint8_t *p;
	size_t len, cap;
};

/* Room for n more bytes at b->p + b->len (the caller adds to len what it
 * wrote there).  Returns 0, or -1 when out of memory (b unchanged). */
static inline int
rmq_iobuf_reserve(struct rmq_iobuf *b, size_t n)
{
	if (n > b->cap - b->len) {
		size_t cap = b->cap ? b->cap : 4096;
		while (cap < b->len + n)
			cap *= 2;
		uint8_t *q = realloc(b->p, cap);
		if (q == NULL)
			return -1;
		b->p = q;
		b->cap = cap;
	}
	return 0;
}

/* Append p[0..n).  Returns 0, or -1 when out of memory (b unchanged). */
static inline int
rmq_iobuf_put(struct rmq_iobuf *b, const void *p, size_t n)
{
	if (rmq_iobuf_reserve(b, n) != 0)
		return -1;
	if (n)
		memcpy(b->p + b->len, p, n);
	b->len += n;
	return 0;
}

static inline void
rmq_iobuf_free(struct rmq_iobuf *b)
{
	free(b->p);
	*b = (struct rmq_iobuf){ 0 };
}

#endif
