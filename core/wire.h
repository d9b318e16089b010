/* core/wire.h: the MQTT data representations (spec 1.5): big-endian
 * integers, Variable Byte Integers, length-prefixed strings and binary data.
 *
 * A bounds-checked reader that the decoders share, and the writers the
 * encoders share.  Small enough to inline; the readers never read past end.
 */
#ifndef RMQ_WIRE_H
#define RMQ_WIRE_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "props.h"

/* A cursor over received bytes. */
struct rmq_rd {
	const uint8_t *p;
	const uint8_t *end;
};

static inline size_t
rmq_rd_left(const struct rmq_rd *r)
{
	return (size_t)(r->end - r->p);
}

static inline int
rmq_rd_u8(struct rmq_rd *r, uint8_t *v)
{
	if (r->p >= r->end)
		return -1;
	*v = *r->p++;
	return 0;
}

static inline int
rmq_rd_u16(struct rmq_rd *r, uint16_t *v)
{
	if (rmq_rd_left(r) < 2)
		return -1;
	*v = (uint16_t)(r->p[0] << 8 | r->p[1]);
	r->p += 2;
	return 0;
}

static inline int
rmq_rd_u32(struct rmq_rd *r, uint32_t *v)
{
	if (rmq_rd_left(r) < 4)
		return -1;
	*v = (uint32_t)r->p[0] << 24 | (uint32_t)r->p[1] << 16 |
	    (uint32_t)r->p[2] << 8 | r->p[3];
	r->p += 4;
	return 0;
}

/* Read a 2-byte length and that many bytes, without checking their
 * content. */
static inline int
rmq_rd_bin(struct rmq_rd *r, struct rmq_str *s)
{
	uint16_t n;
	if (rmq_rd_u16(r, &n) != 0 || rmq_rd_left(r) < n)
		return -1;
	s->p = (const char *)r->p;
	s->len = n;
	r->p += n;
	return 0;
}

/* Decode a Variable Byte Integer from p[0..len).  Returns the bytes it took
 * (1 to 4), 0 if len ends before it does, or -1 if it is malformed: a fifth
 * byte ([MQTT-1.5.5] at most four), or, when strict, more bytes than the
 * value needs ([MQTT-1.5.5-1]). */
int rmq_varint_decode(const uint8_t *p, size_t len, uint32_t *v, int strict);

static inline int
rmq_rd_varint(struct rmq_rd *r, uint32_t *v)
{
	int n = rmq_varint_decode(r->p, rmq_rd_left(r), v, 1);
	if (n <= 0)
		return -1;
	r->p += n;
	return 0;
}

/* Bytes the Variable Byte Integer for v takes (v <= RMQ_VARINT_MAX). */
static inline size_t
rmq_varint_size(uint32_t v)
{
	return v < 128u ? 1 : v < 16384u ? 2 : v < 2097152u ? 3 : 4;
}

static inline uint8_t *
rmq_put_varint(uint8_t *d, uint32_t v)
{
	do {
		uint8_t b = v & 0x7f;
		v >>= 7;
		*d++ = (uint8_t)(v ? b | 0x80 : b);
	} while (v);
	return d;
}

static inline uint8_t *
rmq_put_u16(uint8_t *d, uint16_t v)
{
	d[0] = (uint8_t)(v >> 8);
	d[1] = (uint8_t)v;
	return d + 2;
}

static inline uint8_t *
rmq_put_u32(uint8_t *d, uint32_t v)
{
	d[0] = (uint8_t)(v >> 24);
	d[1] = (uint8_t)(v >> 16);
	d[2] = (uint8_t)(v >> 8);
	d[3] = (uint8_t)v;
	return d + 4;
}

/* Write a 2-byte length and the bytes of s (s->len <= 65535). */
static inline uint8_t *
rmq_put_str(uint8_t *d, const struct rmq_str *s)
{
	d = rmq_put_u16(d, (uint16_t)s->len);
	if (s->len)
		memcpy(d, s->p, s->len);
	return d + s->len;
}

#endif
