/* test/core/test_wire.c: tests core/wire.c and core/wire.h, the MQTT data
 * representations (MQTT 5.0 section 1.5): the bounds-checked rmq_rd_*
 * readers, rmq_varint_decode() with its strict minimal-encoding check,
 * rmq_varint_size() and the rmq_put_* writers.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "props.h"
#include "wire.h"

/* The largest Variable Byte Integer, 1.5.5. */
#define VARINT_MAX 268435455u

/* The Variable Byte Integer table of 1.5.5 (table 1-1 in 5.0, 2.4 in 3.1.1):
 * the boundary values and their encodings. */
struct varint_case {
	uint32_t value;
	size_t len;
	uint8_t bytes[4];
};

static const struct varint_case varint_table[] = {
	{ 0, 1, { 0x00 } },
	{ 127, 1, { 0x7F } },
	{ 128, 2, { 0x80, 0x01 } },
	{ 16383, 2, { 0xFF, 0x7F } },
	{ 16384, 3, { 0x80, 0x80, 0x01 } },
	{ 2097151, 3, { 0xFF, 0xFF, 0x7F } },
	{ 2097152, 4, { 0x80, 0x80, 0x80, 0x01 } },
	{ 268435455, 4, { 0xFF, 0xFF, 0xFF, 0x7F } },
};

#define N_VARINT_CASES (sizeof(varint_table) / sizeof(varint_table[0]))

/* Buffers a test holds across its assertions; the suite's fini frees them,
 * which Criterion runs even after a failed assertion, so that a failure does
 * not also show up as a leak. */
static void *held[8];
static size_t n_held;

static void *
test_alloc(size_t len)
{
	void *p;

	cr_assert_lt(n_held, sizeof(held) / sizeof(held[0]),
	    "too many buffers");
	p = malloc(len ? len : 1);
	cr_assert_not_null(p, "malloc failed");
	held[n_held++] = p;
	return p;
}

static void
wire_fini(void)
{
	while (n_held > 0)
		free(held[--n_held]);
}

/* A heap copy of exactly len bytes, so that a read past the end shows under
 * a sanitizer. */
static uint8_t *
exact_copy(const void *bytes, size_t len)
{
	uint8_t *p = test_alloc(len);

	if (len)
		memcpy(p, bytes, len);
	return p;
}

/* rmq_varint_decode() over an exact copy of the bytes. */
static int
decode_exact(const uint8_t *bytes, size_t len, uint32_t *v, int strict)
{
	uint8_t *p = malloc(len ? len : 1);
	int n;

	cr_assert_not_null(p, "malloc failed");
	if (len)
		memcpy(p, bytes, len);
	n = rmq_varint_decode(p, len, v, strict);
	free(p);
	return n;
}

TestSuite(wire, .description = "MQTT data representations (spec 1.5)",
    .fini = wire_fini);

/* --- Readers --------------------------------------------------------- */

Test(wire, rd_left_counts_remaining_bytes)
{
	uint8_t buf[5] = { 0 };
	struct rmq_rd r = { buf, buf + sizeof(buf) };
	uint8_t b;

	cr_assert_eq(rmq_rd_left(&r), 5, "a fresh reader has 5 bytes left");
	cr_assert_eq(rmq_rd_u8(&r, &b), 0, "reading a byte must succeed");
	cr_assert_eq(rmq_rd_left(&r), 4, "one byte read leaves 4");
	r.p = r.end;
	cr_assert_eq(rmq_rd_left(&r), 0, "an exhausted reader has 0 left");
}

Test(wire, rd_u8_reads_and_stops_at_end)
{
	const uint8_t bytes[] = { 0x00, 0xA5, 0xFF };
	uint8_t *buf = exact_copy(bytes, sizeof(bytes));
	struct rmq_rd r = { buf, buf + sizeof(bytes) };
	uint8_t v = 0x11;

	cr_assert_eq(rmq_rd_u8(&r, &v), 0, "first byte must read");
	cr_assert_eq(v, 0x00, "first byte is 0x00, got 0x%02x", v);
	cr_assert_eq(rmq_rd_u8(&r, &v), 0, "second byte must read");
	cr_assert_eq(v, 0xA5, "second byte is 0xA5, got 0x%02x", v);
	cr_assert_eq(rmq_rd_u8(&r, &v), 0, "third byte must read");
	cr_assert_eq(v, 0xFF, "third byte is 0xFF, got 0x%02x", v);
	cr_assert_eq(rmq_rd_left(&r), 0, "all bytes consumed");
	cr_assert_eq(rmq_rd_u8(&r, &v), -1, "reading past the end must fail");
	cr_assert_eq(r.p, buf + sizeof(bytes), "a failed read must not move p");
}

Test(wire, rd_u16_is_big_endian)
{
	/* 1.5.2: Two Byte Integers are big-endian, high-order byte first. */
	const uint8_t bytes[] = { 0x12, 0x34, 0xFF, 0xFE };
	uint8_t *buf = exact_copy(bytes, sizeof(bytes));
	struct rmq_rd r = { buf, buf + sizeof(bytes) };
	uint16_t v = 0;

	cr_assert_eq(rmq_rd_u16(&r, &v), 0,
	    "reading 2 of 4 bytes must succeed");
	cr_assert_eq(v, 0x1234, "1.5.2: 12 34 is 0x1234, got 0x%04x", v);
	cr_assert_eq(r.p, buf + 2, "the cursor advances by 2");
	cr_assert_eq(rmq_rd_u16(&r, &v), 0, "reading the last 2 must succeed");
	cr_assert_eq(v, 0xFFFE, "1.5.2: FF FE is 0xFFFE, got 0x%04x", v);
	cr_assert_eq(rmq_rd_left(&r), 0, "all bytes consumed");
}

Test(wire, rd_u16_short_input_fails)
{
	const uint8_t bytes[] = { 0x12 };
	uint8_t *buf = exact_copy(bytes, sizeof(bytes));
	struct rmq_rd r = { buf, buf + sizeof(bytes) };
	uint16_t v = 0;

	cr_assert_eq(rmq_rd_u16(&r, &v), -1,
	    "1 byte left is too short for u16");
	r.p = r.end;
	cr_assert_eq(rmq_rd_u16(&r, &v), -1,
	    "0 bytes left is too short for u16");
}

Test(wire, rd_u32_is_big_endian)
{
	/* 1.5.3: Four Byte Integers are big-endian. */
	const uint8_t bytes[] = { 0x12, 0x34, 0x56, 0x78, 0xFF, 0x00, 0x00,
		0x01 };
	uint8_t *buf = exact_copy(bytes, sizeof(bytes));
	struct rmq_rd r = { buf, buf + sizeof(bytes) };
	uint32_t v = 0;

	cr_assert_eq(rmq_rd_u32(&r, &v), 0, "first u32 must read");
	cr_assert_eq(v, 0x12345678u,
	    "1.5.3: 12 34 56 78 is 0x12345678, got 0x%08x", v);
	cr_assert_eq(r.p, buf + 4, "the cursor advances by 4");
	cr_assert_eq(rmq_rd_u32(&r, &v), 0, "second u32 must read");
	cr_assert_eq(v, 0xFF000001u,
	    "1.5.3: FF 00 00 01 is 0xFF000001, got 0x%08x", v);
	cr_assert_eq(rmq_rd_left(&r), 0, "all bytes consumed");
}

Test(wire, rd_u32_short_input_fails)
{
	const uint8_t bytes[] = { 0x12, 0x34, 0x56 };
	uint8_t *buf = exact_copy(bytes, sizeof(bytes));
	struct rmq_rd r = { buf, buf + sizeof(bytes) };
	uint32_t v = 0;

	cr_assert_eq(rmq_rd_u32(&r, &v), -1,
	    "3 bytes left is too short for u32");
}

Test(wire, rd_bin_reads_length_prefixed_bytes)
{
	/* 1.5.6 Binary Data / 1.5.4 strings: a Two Byte Integer length, then
	 * that many bytes.  The spec's example "A" U+2A6D4 is 00 05 41 F0 AA 9B
	 * 94. */
	const uint8_t bytes[] = { 0x00, 0x05, 0x41, 0xF0, 0xAA, 0x9B, 0x94,
		0x7E };
	uint8_t *buf = exact_copy(bytes, sizeof(bytes));
	struct rmq_rd r = { buf, buf + sizeof(bytes) };
	struct rmq_str s = { NULL, 0 };
	uint8_t tail = 0;

	cr_assert_eq(rmq_rd_bin(&r, &s), 0, "a complete string must read");
	cr_assert_eq(s.len, 5, "the length is 5, got %u", (unsigned)s.len);
	cr_assert_eq((const uint8_t *)s.p, buf + 2,
	    "the data points into the buffer");
	cr_assert_eq(memcmp(s.p, "A\xF0\xAA\x9B\x94", 5), 0,
	    "the bytes are A U+2A6D4");
	cr_assert_eq(r.p, buf + 7, "the cursor advances past length and data");
	cr_assert_eq(rmq_rd_u8(&r, &tail), 0, "the byte after must still read");
	cr_assert_eq(tail, 0x7E, "the byte after is 0x7E");
}

Test(wire, rd_bin_empty)
{
	const uint8_t bytes[] = { 0x00, 0x00 };
	uint8_t *buf = exact_copy(bytes, sizeof(bytes));
	struct rmq_rd r = { buf, buf + sizeof(bytes) };
	struct rmq_str s = { NULL, 99 };

	cr_assert_eq(rmq_rd_bin(&r, &s), 0, "a zero-length string must read");
	cr_assert_eq(s.len, 0, "the length is 0");
	cr_assert_not_null(s.p, "present and empty is not absent (p != NULL)");
	cr_assert_eq(rmq_rd_left(&r), 0, "both length bytes consumed");
}

Test(wire, rd_bin_max_length)
{
	/* 1.5.6: Binary Data is 0 to 65,535 bytes. */
	size_t total = 2 + 65535;
	uint8_t *buf = test_alloc(total);
	struct rmq_rd r;
	struct rmq_str s = { NULL, 0 };

	buf[0] = 0xFF;
	buf[1] = 0xFF;
	memset(buf + 2, 'x', 65535);
	r.p = buf;
	r.end = buf + total;
	cr_assert_eq(rmq_rd_bin(&r, &s), 0, "a 65535-byte string must read");
	cr_assert_eq(s.len, 65535, "the length is 65535, got %u",
	    (unsigned)s.len);
	cr_assert_eq(rmq_rd_left(&r), 0, "everything consumed");
}

Test(wire, rd_bin_short_input_fails)
{
	const uint8_t no_len[] = { 0x00 };
	const uint8_t short_data[] = { 0x00, 0x04, 'a', 'b', 'c' };
	uint8_t *buf;
	struct rmq_rd r;
	struct rmq_str s = { NULL, 0 };

	buf = exact_copy(no_len, sizeof(no_len));
	r.p = buf;
	r.end = buf + sizeof(no_len);
	cr_assert_eq(rmq_rd_bin(&r, &s), -1, "a 1-byte length field must fail");

	buf = exact_copy(short_data, sizeof(short_data));
	r.p = buf;
	r.end = buf + sizeof(short_data);
	cr_assert_eq(rmq_rd_bin(&r, &s), -1,
	    "length 4 with 3 bytes left must fail");
}

/* --- Variable Byte Integer decoding ----------------------------------- */

Test(wire, varint_decode_spec_table)
{
	/* 1.5.5 table: every boundary decodes to its value in its byte count,
	 * strict or not. */
	for (size_t i = 0; i < N_VARINT_CASES; i++) {
		const struct varint_case *c = &varint_table[i];

		for (int strict = 0; strict <= 1; strict++) {
			uint32_t v = 0xDEADBEEF;
			int n = decode_exact(c->bytes, c->len, &v, strict);

			cr_assert_eq(n, (int)c->len,
			    "1.5.5: %u takes %zu bytes, decode returned %d (strict %d)",
			    c->value, c->len, n, strict);
			cr_assert_eq(v, c->value,
			    "1.5.5: decoded %u, want %u (strict %d)", v,
			    c->value, strict);
		}
	}
}

Test(wire, varint_decode_ignores_trailing_bytes)
{
	const uint8_t bytes[] = { 0x80, 0x01, 0xFF, 0xFF };
	uint32_t v = 0;
	int n = decode_exact(bytes, sizeof(bytes), &v, 1);

	cr_assert_eq(n, 2, "80 01 takes 2 bytes whatever follows, got %d", n);
	cr_assert_eq(v, 128, "80 01 is 128, got %u", v);
}

Test(wire, varint_decode_other_values)
{
	/* 1.5.5: value = sum of (byte & 0x7F) * 128^i, least significant
	 * group first.  321 = 2 * 128 + 65: C1 02. */
	const uint8_t b321[] = { 0xC1, 0x02 };
	const uint8_t b64[] = { 0x40 };
	uint32_t v = 0;

	cr_assert_eq(decode_exact(b321, sizeof(b321), &v, 1), 2,
	    "C1 02 is 2 bytes");
	cr_assert_eq(v, 321, "C1 02 is 321, got %u", v);
	cr_assert_eq(decode_exact(b64, sizeof(b64), &v, 1), 1, "40 is 1 byte");
	cr_assert_eq(v, 64, "40 is 64, got %u", v);
}

Test(wire, varint_decode_incomplete_returns_zero)
{
	/* The continuation bit says more bytes follow, but len ends first. */
	const uint8_t b1[] = { 0x80 };
	const uint8_t b2[] = { 0xFF, 0xFF };
	const uint8_t b3[] = { 0xFF, 0xFF, 0xFF };
	uint32_t v;

	cr_assert_eq(rmq_varint_decode(b1, 0, &v, 1), 0, "len 0 is incomplete");
	cr_assert_eq(decode_exact(b1, sizeof(b1), &v, 1), 0,
	    "80 needs a 2nd byte");
	cr_assert_eq(decode_exact(b2, sizeof(b2), &v, 1), 0,
	    "FF FF needs a 3rd byte");
	cr_assert_eq(decode_exact(b3, sizeof(b3), &v, 1), 0,
	    "FF FF FF needs a 4th");
	cr_assert_eq(decode_exact(b3, sizeof(b3), &v, 0), 0,
	    "same when not strict");
}

Test(wire, varint_decode_fifth_byte_is_malformed)
{
	/* 1.5.5: "The maximum number of bytes in the Variable Byte Integer field
	 * is four." */
	const uint8_t five_ff[] = { 0xFF, 0xFF, 0xFF, 0xFF, 0x7F };
	const uint8_t five_80[] = { 0x80, 0x80, 0x80, 0x80, 0x01 };
	const uint8_t four_cont[] = { 0xFF, 0xFF, 0xFF, 0xFF };
	uint32_t v;
	int n;

	for (int strict = 0; strict <= 1; strict++) {
		n = decode_exact(five_ff, sizeof(five_ff), &v, strict);
		cr_assert_eq(n, -1, "1.5.5: FF FF FF FF 7F has 5 bytes, got %d",
		    n);
		n = decode_exact(five_80, sizeof(five_80), &v, strict);
		cr_assert_eq(n, -1, "1.5.5: 80 80 80 80 01 has 5 bytes, got %d",
		    n);
	}
	/* A fourth byte with its continuation bit set can never end well; it
	 * must not be taken as a value (malformed now, or at latest once the
	 * fifth byte arrives). */
	n = decode_exact(four_cont, sizeof(four_cont), &v, 1);
	cr_assert(n <= 0, "1.5.5: FF FF FF FF must not decode, got %d", n);
}

Test(wire, varint_decode_strict_refuses_non_minimal)
{
	/* [MQTT-1.5.5-1] The encoded value MUST use the minimum number of bytes
	 * necessary to represent the value. */
	static const struct {
		uint8_t bytes[4];
		size_t len;
		uint32_t value;
	} cases[] = {
		{ { 0x80, 0x00 }, 2, 0 },
		{ { 0x80, 0x80, 0x00 }, 3, 0 },
		{ { 0x80, 0x80, 0x80, 0x00 }, 4, 0 },
		{ { 0x81, 0x00 }, 2, 1 },
		{ { 0xFF, 0x00 }, 2, 127 },
		{ { 0xFF, 0x80, 0x00 }, 3, 127 },
		{ { 0x80, 0x81, 0x00 }, 3, 128 },
		{ { 0xFF, 0xFF, 0x00 }, 3, 16383 },
		{ { 0xFF, 0xFF, 0xFF, 0x00 }, 4, 2097151 },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		uint32_t v = 0;
		int n = decode_exact(cases[i].bytes, cases[i].len, &v, 1);

		cr_assert_eq(n, -1,
		    "[MQTT-1.5.5-1] %u in %zu bytes is not minimal, strict gave %d",
		    cases[i].value, cases[i].len, n);

		/* Not strict: accepted, with the value it spells. */
		v = 0xDEADBEEF;
		n = decode_exact(cases[i].bytes, cases[i].len, &v, 0);
		cr_assert_eq(n, (int)cases[i].len,
		    "non-strict decode of %u in %zu bytes returned %d",
		    cases[i].value, cases[i].len, n);
		cr_assert_eq(v, cases[i].value,
		    "non-strict decoded %u, want %u", v, cases[i].value);
	}
}

Test(wire, rd_varint_reads_strictly)
{
	const uint8_t good[] = { 0xFF, 0x7F, 0x2A };
	const uint8_t padded[] = { 0x80, 0x00 };
	const uint8_t cut[] = { 0x80, 0x80 };
	uint8_t *buf;
	struct rmq_rd r;
	uint32_t v = 0;
	uint8_t b = 0;

	buf = exact_copy(good, sizeof(good));
	r.p = buf;
	r.end = buf + sizeof(good);
	cr_assert_eq(rmq_rd_varint(&r, &v), 0, "FF 7F must read");
	cr_assert_eq(v, 16383, "1.5.5: FF 7F is 16383, got %u", v);
	cr_assert_eq(r.p, buf + 2, "the cursor advances by 2");
	cr_assert_eq(rmq_rd_u8(&r, &b), 0, "the next byte must read");
	cr_assert_eq(b, 0x2A, "the next byte is 0x2A");

	buf = exact_copy(padded, sizeof(padded));
	r.p = buf;
	r.end = buf + sizeof(padded);
	cr_assert_eq(rmq_rd_varint(&r, &v), -1,
	    "[MQTT-1.5.5-1] the reader refuses 80 00 (0 in 2 bytes)");

	buf = exact_copy(cut, sizeof(cut));
	r.p = buf;
	r.end = buf + sizeof(cut);
	cr_assert_eq(rmq_rd_varint(&r, &v), -1, "a truncated varint must fail");

	r.p = r.end = good;
	cr_assert_eq(rmq_rd_varint(&r, &v), -1, "an empty reader must fail");
}

/* --- Variable Byte Integer size and encoding -------------------------- */

Test(wire, varint_size_spec_table)
{
	for (size_t i = 0; i < N_VARINT_CASES; i++) {
		const struct varint_case *c = &varint_table[i];
		size_t got = rmq_varint_size(c->value);

		cr_assert_eq(got, c->len,
		    "1.5.5: %u takes %zu bytes, size says %zu", c->value,
		    c->len, got);
	}
}

Test(wire, put_varint_spec_table)
{
	for (size_t i = 0; i < N_VARINT_CASES; i++) {
		const struct varint_case *c = &varint_table[i];
		uint8_t buf[8];
		uint8_t *end;

		memset(buf, 0xAA, sizeof(buf));
		end = rmq_put_varint(buf, c->value);
		cr_assert_eq(end, buf + c->len,
		    "1.5.5: %u is written in %zu bytes, wrote %td", c->value,
		    c->len, end - buf);
		cr_assert_eq(memcmp(buf, c->bytes, c->len), 0,
		    "1.5.5: the encoding of %u differs from the spec table",
		    c->value);
		cr_assert_eq(buf[c->len], 0xAA,
		    "nothing written after %zu bytes", c->len);
	}
}

Test(wire, put_varint_round_trips_minimally)
{
	/* [MQTT-1.5.5-1]: what we write is minimal, so the strict decoder reads
	 * it back; walk the whole range in strides plus every boundary +-1. */
	static const uint32_t edges[] = { 0, 1, 126, 127, 128, 129, 16382,
		16383, 16384, 16385, 2097150, 2097151, 2097152, 2097153,
		268435454, 268435455 };
	uint8_t buf[4];

	for (size_t i = 0; i < sizeof(edges) / sizeof(edges[0]); i++) {
		uint32_t v = 0;
		uint8_t *end = rmq_put_varint(buf, edges[i]);
		int n = rmq_varint_decode(buf, (size_t)(end - buf), &v, 1);

		cr_assert_eq(n, (int)(end - buf),
		    "round trip of %u: decode took %d of %td bytes", edges[i],
		    n, end - buf);
		cr_assert_eq(v, edges[i], "round trip of %u gave %u", edges[i],
		    v);
		cr_assert_eq((size_t)n, rmq_varint_size(edges[i]),
		    "rmq_varint_size(%u) disagrees with the writer", edges[i]);
	}
	for (uint32_t x = 0; x <= VARINT_MAX; x += 4093u) {
		uint32_t v = 0;
		uint8_t *end = rmq_put_varint(buf, x);
		int n = rmq_varint_decode(buf, sizeof(buf), &v, 1);

		cr_assert_eq(n, (int)(end - buf),
		    "round trip of %u took %d bytes", x, n);
		cr_assert_eq(v, x, "round trip of %u gave %u", x, v);
		cr_assert_eq((size_t)n, rmq_varint_size(x), "size of %u", x);
	}
}

/* --- Fixed-width and string writers ----------------------------------- */

Test(wire, put_u16_is_big_endian)
{
	uint8_t buf[3] = { 0xAA, 0xAA, 0xAA };
	uint8_t *end = rmq_put_u16(buf, 0x1234);
	struct rmq_rd r = { buf, buf + 2 };
	uint16_t v = 0;

	cr_assert_eq(end, buf + 2, "u16 takes 2 bytes");
	cr_assert_eq(buf[0], 0x12, "1.5.2: high-order byte first");
	cr_assert_eq(buf[1], 0x34, "1.5.2: then the low-order byte");
	cr_assert_eq(buf[2], 0xAA, "nothing written after 2 bytes");
	cr_assert_eq(rmq_rd_u16(&r, &v), 0, "the reader reads it back");
	cr_assert_eq(v, 0x1234, "round trip gave 0x%04x", v);

	rmq_put_u16(buf, 0xFFFF);
	cr_assert(buf[0] == 0xFF && buf[1] == 0xFF, "0xFFFF is FF FF");
	rmq_put_u16(buf, 0);
	cr_assert(buf[0] == 0 && buf[1] == 0, "0 is 00 00");
}

Test(wire, put_u32_is_big_endian)
{
	uint8_t buf[5] = { 0xAA, 0xAA, 0xAA, 0xAA, 0xAA };
	const uint8_t want[] = { 0x12, 0x34, 0x56, 0x78 };
	uint8_t *end = rmq_put_u32(buf, 0x12345678u);
	struct rmq_rd r = { buf, buf + 4 };
	uint32_t v = 0;

	cr_assert_eq(end, buf + 4, "u32 takes 4 bytes");
	cr_assert_eq(memcmp(buf, want, 4), 0,
	    "1.5.3: 0x12345678 is 12 34 56 78");
	cr_assert_eq(buf[4], 0xAA, "nothing written after 4 bytes");
	cr_assert_eq(rmq_rd_u32(&r, &v), 0, "the reader reads it back");
	cr_assert_eq(v, 0x12345678u, "round trip gave 0x%08x", v);

	rmq_put_u32(buf, 0xFFFFFFFFu);
	cr_assert(buf[0] == 0xFF && buf[1] == 0xFF && buf[2] == 0xFF &&
		buf[3] == 0xFF,
	    "0xFFFFFFFF is FF FF FF FF");
}

Test(wire, put_str_spec_example)
{
	/* 1.5.4 example: "A" U+2A6D4 is 00 05 41 F0 AA 9B 94. */
	const uint8_t want[] = { 0x00, 0x05, 0x41, 0xF0, 0xAA, 0x9B, 0x94 };
	struct rmq_str s = { "A\xF0\xAA\x9B\x94", 5 };
	uint8_t buf[8];
	uint8_t *end;
	struct rmq_rd r;
	struct rmq_str back = { NULL, 0 };

	memset(buf, 0xAA, sizeof(buf));
	end = rmq_put_str(buf, &s);
	cr_assert_eq(end, buf + 7, "2 length bytes and 5 data bytes");
	cr_assert_eq(memcmp(buf, want, sizeof(want)), 0,
	    "1.5.4: the encoding differs from the spec example");
	cr_assert_eq(buf[7], 0xAA, "nothing written after 7 bytes");

	r.p = buf;
	r.end = end;
	cr_assert_eq(rmq_rd_bin(&r, &back), 0, "the reader reads it back");
	cr_assert_eq(back.len, 5, "round trip length");
	cr_assert_eq(memcmp(back.p, s.p, 5), 0, "round trip bytes");
}

Test(wire, put_str_empty)
{
	struct rmq_str s = { "", 0 };
	struct rmq_str absent = { NULL, 0 };
	uint8_t buf[3] = { 0xAA, 0xAA, 0xAA };
	uint8_t *end;

	end = rmq_put_str(buf, &s);
	cr_assert_eq(end, buf + 2, "an empty string is its 2 length bytes");
	cr_assert(buf[0] == 0 && buf[1] == 0, "the length is 00 00");
	cr_assert_eq(buf[2], 0xAA, "nothing written after the length");

	buf[0] = buf[1] = 0xAA;
	end = rmq_put_str(buf, &absent);
	cr_assert_eq(end, buf + 2,
	    "p == NULL with len 0 writes the length only");
	cr_assert(buf[0] == 0 && buf[1] == 0, "the length is 00 00");
}

Test(wire, put_str_max_length)
{
	size_t n = 65535;
	char *data = test_alloc(n);
	uint8_t *buf = test_alloc(n + 2);
	struct rmq_str s;
	uint8_t *end;

	memset(data, 'z', n);
	s.p = data;
	s.len = (uint32_t)n;
	end = rmq_put_str(buf, &s);
	cr_assert_eq(end, buf + n + 2, "65535 bytes plus the length");
	cr_assert(buf[0] == 0xFF && buf[1] == 0xFF,
	    "1.5.4: the length is FF FF");
	cr_assert_eq(memcmp(buf + 2, data, n), 0, "the data is copied");
}
