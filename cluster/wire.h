/* cluster/wire.h: the bytes of the cluster's messages: big-endian integers
 * and strings of a one- or two-byte length, written into a bounded buffer
 * and read from a bounded one.  A write past the end or a read past the
 * end (or a string that breaks the rules) marks the buffer failed, and
 * every step after does nothing, so an encoder or decoder checks once at
 * its end.
 */
#ifndef RMQ_CLUSTER_WIRE_H
#define RMQ_CLUSTER_WIRE_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

struct rmq_wout {
	uint8_t *p;
	size_t len, cap;
	int full;
};

static inline void
rmq_wput(struct rmq_wout *o, const void *p, size_t n)
{
	if (o->full || n > o->cap - o->len) {
		o->full = 1;
		return;
	}
	if (n)
		memcpy(o->p + o->len, p, n);
	o->len += n;
}

static inline void
rmq_wput_u(struct rmq_wout *o, uint64_t v, unsigned bytes)
{
	uint8_t b[8];
	for (unsigned i = 0; i < bytes; i++)
		b[i] = (uint8_t)(v >> (8 * (bytes - 1 - i)));
	rmq_wput(o, b, bytes);
}

/* A string with a length of lbytes (1 or 2) before it. */
static inline void
rmq_wput_str(struct rmq_wout *o, const char *s, size_t n, unsigned lbytes)
{
	if (n >= (1u << (8 * lbytes))) {
		o->full = 1;
		return;
	}
	rmq_wput_u(o, n, lbytes);
	rmq_wput(o, s, n);
}

struct rmq_win {
	const uint8_t *p;
	size_t left;
	int bad;
};

static inline uint64_t
rmq_wget_u(struct rmq_win *in, unsigned bytes)
{
	if (in->bad || in->left < bytes) {
		in->bad = 1;
		return 0;
	}
	uint64_t v = 0;
	for (unsigned i = 0; i < bytes; i++)
		v = v << 8 | in->p[i];
	in->p += bytes;
	in->left -= bytes;
	return v;
}

/* n bytes in place: a pointer into the message, NULL when short. */
static inline const uint8_t *
rmq_wget_bytes(struct rmq_win *in, size_t n)
{
	if (in->bad || n > in->left) {
		in->bad = 1;
		return NULL;
	}
	const uint8_t *p = in->p;
	in->p += n;
	in->left -= n;
	return p;
}

/* Unsigned integers of 7 bits a byte, low bits first, the high bit set on
 * every byte but the last (LEB128): the lengths and counters that are
 * mostly small, in one or two bytes.  A reader takes the minimal form
 * only, of at most 10 bytes. */
static inline size_t
rmq_wvar_len(uint64_t v)
{
	size_t n = 1;
	for (; v >= 0x80; v >>= 7)
		n++;
	return n;
}

static inline uint8_t *
rmq_wvar_put(uint8_t *d, uint64_t v)
{
	for (; v >= 0x80; v >>= 7)
		*d++ = (uint8_t)(v | 0x80);
	*d++ = (uint8_t)v;
	return d;
}

static inline uint64_t
rmq_wget_var(struct rmq_win *in)
{
	uint64_t v = 0;
	for (unsigned i = 0; !in->bad; i++) {
		if (in->left == 0 || i == 10) {
			in->bad = 1;
			break;
		}
		uint8_t b = *in->p++;
		in->left--;
		v |= (uint64_t)(b & 0x7f) << (7 * i);
		if (b & 0x80)
			continue;
		/* A last byte of 0 after others: not the minimal form; the
		 * tenth byte holds one bit. */
		if ((i > 0 && b == 0) || (i == 9 && b > 1))
			in->bad = 1;
		return in->bad ? 0 : v;
	}
	return 0;
}

/* A name (one-byte length) into out: at most cap - 1 bytes, no NUL in
 * it, and not empty unless empty_ok. */
static inline void
rmq_wget_name(struct rmq_win *in, char *out, size_t cap, int empty_ok)
{
	size_t n = (size_t)rmq_wget_u(in, 1);
	const uint8_t *p = in->bad || n >= cap ? NULL : rmq_wget_bytes(in, n);
	if (p == NULL || (n == 0 && !empty_ok) || memchr(p, '\0', n)) {
		in->bad = 1;
		out[0] = '\0';
		return;
	}
	memcpy(out, p, n);
	out[n] = '\0';
}

#endif
