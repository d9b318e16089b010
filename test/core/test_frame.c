/* test/core/test_frame.c: tests core/frame.c, the framer that cuts a byte
 * stream into packets: packets split across any number of reads, many in
 * one read, zero-copy hand-out of whole packets, and the limits checked
 * before a body is buffered.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "codec.h"

TestSuite(frame);

/* Three packets back to back: PINGREQ, a PUBLISH with a 200-byte body
 * (two-byte Remaining Length C8 01) and a DISCONNECT. */
static uint8_t stream[2 + 3 + 200 + 2];
static size_t stream_len;

static void
build_stream(void)
{
	size_t n = 0;
	stream[n++] = 0xC0;
	stream[n++] = 0x00;
	stream[n++] = 0x30;
	stream[n++] = 0xC8;
	stream[n++] = 0x01;
	stream[n++] = 0x00;
	stream[n++] = 0x01;
	stream[n++] = 't';
	for (int i = 0; i < 197; i++)
		stream[n++] = (uint8_t)i;
	stream[n++] = 0xE0;
	stream[n++] = 0x00;
	stream_len = n;
}

/* Feed the stream in chunks of `chunk` bytes; check the three packets
 * come out whole and in order. */
static void
feed_in_chunks(size_t chunk)
{
	struct rmq_framer f;
	struct rmq_frame fr;
	struct rmq_codec_err err;
	uint8_t firsts[3];
	uint32_t lens[3];
	int got = 0;
	rmq_framer_init(&f, 0);
	for (size_t off = 0; off < stream_len;) {
		size_t len =
		    stream_len - off < chunk ? stream_len - off : chunk;
		/* Each chunk lives in its own heap block, as a receive
		 * buffer would, so reading past it is caught by ASan. */
		uint8_t *in = malloc(len);
		memcpy(in, stream + off, len);
		size_t pos = 0;
		while (pos < len) {
			size_t used;
			int rc = rmq_framer_next(&f, in + pos, len - pos, &used,
			    &fr, &err);
			cr_assert_geq(rc, 0, "chunk %zu: %s", chunk, err.msg);
			pos += used;
			if (rc == 1) {
				cr_assert_lt(got, 3);
				firsts[got] = fr.first;
				lens[got] = fr.body_len;
				if (fr.first == 0x30) {
					cr_assert_eq(fr.size, 203);
					cr_assert_eq(fr.body[2], 't');
					cr_assert_eq(fr.body[199], 196);
				}
				got++;
			} else {
				cr_assert_eq(pos, len,
				    "0 means all input was taken");
			}
		}
		free(in);
		off += len;
	}
	cr_assert_eq(got, 3, "chunk %zu gave %d packets", chunk, got);
	cr_assert_eq(firsts[0], 0xC0);
	cr_assert_eq(lens[0], 0);
	cr_assert_eq(firsts[1], 0x30);
	cr_assert_eq(lens[1], 200);
	cr_assert_eq(firsts[2], 0xE0);
	cr_assert_null(f.buf,
	    "an idle framer holds no buffer once the next call has run");
	rmq_framer_fini(&f);
}

Test(frame, split_at_every_chunk_size)
{
	build_stream();
	for (size_t chunk = 1; chunk <= stream_len; chunk++)
		feed_in_chunks(chunk);
}

Test(frame, whole_packets_are_handed_out_in_place)
{
	build_stream();
	struct rmq_framer f;
	struct rmq_frame fr;
	struct rmq_codec_err err;
	size_t used;
	rmq_framer_init(&f, 0);
	cr_assert_eq(rmq_framer_next(&f, stream, stream_len, &used, &fr, &err),
	    1);
	cr_assert_eq(used, 2);
	cr_assert_eq(rmq_framer_next(&f, stream + 2, stream_len - 2, &used, &fr,
			 &err),
	    1);
	cr_assert_eq(fr.body, stream + 5, "no copy for a whole packet");
	cr_assert_null(f.buf);
	rmq_framer_fini(&f);
}

Test(frame, size_limit_checked_before_the_body_arrives)
{
	/* A PUBLISH announcing a 1000-byte body against a 100-byte
	 * limit: refused with 0x95 from the header alone (3.1.2.11.4:
	 * the Server sends 0x95 for a packet over its Maximum Packet
	 * Size). */
	static const uint8_t hdr[] = { 0x30, 0xE8, 0x07 };
	struct rmq_framer f;
	struct rmq_frame fr;
	struct rmq_codec_err err = { 0 };
	size_t used;
	rmq_framer_init(&f, 100);
	cr_assert_eq(rmq_framer_next(&f, hdr, sizeof(hdr), &used, &fr, &err),
	    -EPROTO);
	cr_assert_eq(err.reason, RMQ_RC_PACKET_TOO_LARGE);
	cr_assert_null(f.buf, "nothing buffered for a refused packet");
	/* The stream stays refused. */
	cr_assert_eq(rmq_framer_next(&f, hdr, 1, &used, &fr, &err), -EPROTO);
	rmq_framer_fini(&f);

	/* The limit counts the whole packet: header plus body.  A body
	 * of 98 with its 2 header bytes is exactly 100: accepted. */
	rmq_framer_init(&f, 100);
	static const uint8_t ok[] = { 0x30, 98 };
	cr_assert_eq(rmq_framer_next(&f, ok, 2, &used, &fr, &err), 0);
	rmq_framer_fini(&f);
	rmq_framer_init(&f, 100);
	static const uint8_t over[] = { 0x30, 99 };
	cr_assert_eq(rmq_framer_next(&f, over, 2, &used, &fr, &err), -EPROTO);
	cr_assert_eq(err.reason, RMQ_RC_PACKET_TOO_LARGE);
	rmq_framer_fini(&f);
}

Test(frame, five_byte_remaining_length_is_malformed)
{
	/* 1.5.5: at most four bytes; a fifth continuation is malformed. */
	static const uint8_t bad[] = { 0x30, 0xFF, 0xFF, 0xFF, 0xFF, 0x7F };
	for (size_t split = 1; split <= sizeof(bad); split++) {
		struct rmq_framer f;
		struct rmq_frame fr;
		struct rmq_codec_err err = { 0 };
		size_t used;
		int rc;
		rmq_framer_init(&f, 0);
		rc = rmq_framer_next(&f, bad, split, &used, &fr, &err);
		if (rc == 0)
			rc = rmq_framer_next(&f, bad + used, sizeof(bad) - used,
			    &used, &fr, &err);
		cr_assert_eq(rc, -EPROTO, "split at %zu", split);
		cr_assert_eq(err.reason, RMQ_RC_MALFORMED_PACKET);
		rmq_framer_fini(&f);
	}
}

Test(frame, largest_remaining_length_is_accepted_header_wise)
{
	/* FF FF FF 7F = 268,435,455, the largest value (1.5.5).  With no
	 * limit the header is accepted and the framer waits for the body
	 * without having to hold it all at once: feed a little. */
	static const uint8_t hdr[] = { 0x30, 0xFF, 0xFF, 0xFF, 0x7F, 0x00 };
	struct rmq_framer f;
	struct rmq_frame fr;
	struct rmq_codec_err err;
	size_t used;
	rmq_framer_init(&f, 0);
	cr_assert_eq(rmq_framer_next(&f, hdr, sizeof(hdr), &used, &fr, &err),
	    0);
	cr_assert_eq(used, sizeof(hdr));
	cr_assert_eq(f.need, RMQ_VARINT_MAX);
	rmq_framer_fini(&f);
}

Test(frame, strict_mode_refuses_non_minimal_lengths)
{
	/* [MQTT-1.5.5-1] (5.0): the minimum number of bytes.  80 00 encodes
	 * 0 in two bytes. */
	static const uint8_t pad[] = { 0xC0, 0x80, 0x00 };
	struct rmq_framer f;
	struct rmq_frame fr;
	struct rmq_codec_err err;
	size_t used;
	rmq_framer_init(&f, 0);
	cr_assert_eq(rmq_framer_next(&f, pad, sizeof(pad), &used, &fr, &err), 1,
	    "3.1.1 does not forbid it");
	rmq_framer_fini(&f);
	rmq_framer_init(&f, 0);
	f.strict_varint = 1;
	cr_assert_eq(rmq_framer_next(&f, pad, sizeof(pad), &used, &fr, &err),
	    -EPROTO);
	cr_assert_eq(err.reason, RMQ_RC_MALFORMED_PACKET);
	rmq_framer_fini(&f);
}

Test(frame, fini_mid_packet_frees_the_buffer)
{
	static const uint8_t part[] = { 0x30, 0x0A, 0x00, 0x01 };
	struct rmq_framer f;
	struct rmq_frame fr;
	struct rmq_codec_err err;
	size_t used;
	rmq_framer_init(&f, 0);
	cr_assert_eq(rmq_framer_next(&f, part, sizeof(part), &used, &fr, &err),
	    0);
	cr_assert_not_null(f.buf);
	rmq_framer_fini(&f); /* LeakSanitizer checks the rest */
	cr_assert_null(f.buf);
}

Test(frame, buffer_grows_with_what_arrives)
{
	/* A header announcing 1,000,000 bytes followed by 10: the framer
	 * holds about what arrived, not what was announced. */
	static const uint8_t hdr[] = { 0x30, 0xC0, 0x84, 0x3D, 1, 2, 3, 4, 5, 6,
		7, 8, 9, 10 };
	struct rmq_framer f;
	struct rmq_frame fr;
	struct rmq_codec_err err;
	size_t used;
	rmq_framer_init(&f, 0);
	cr_assert_eq(rmq_framer_next(&f, hdr, sizeof(hdr), &used, &fr, &err),
	    0);
	cr_assert_eq(f.need, 1000000);
	cr_assert_eq(f.have, 10);
	cr_assert_leq(f.cap, 4096);
	rmq_framer_fini(&f);
}
