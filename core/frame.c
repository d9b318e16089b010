/* core/frame.c: cutting a byte stream into MQTT packets.
 *
 * The fixed header (spec 2.1) is read first, byte by byte if it must be;
 * the Remaining Length is checked against the packet size limit before any
 * body byte is kept, so a peer cannot make the broker buffer more than the
 * limit, and the buffer for a split packet grows with the bytes that
 * actually arrive.  Packets that arrive whole are handed out in place,
 * without a copy; the heap buffer exists only while a split packet is
 * being gathered.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "codec.h"
#include "grow.h"
#include "wire.h"

void
rmq_framer_init(struct rmq_framer *f, uint32_t max_packet)
{
	memset(f, 0, sizeof(*f));
	f->max_packet = max_packet ? max_packet : RMQ_PACKET_MAX;
}

void
rmq_framer_fini(struct rmq_framer *f)
{
	free(f->buf);
	f->buf = NULL;
	f->hdr_len = 0;
	f->need = f->have = f->cap = 0;
}

static int
framer_fail(struct rmq_framer *f, struct rmq_codec_err *err, uint8_t reason,
    const char *msg)
{
	/* hdr_len past its array marks the stream as failed for good. */
	f->hdr_len = 0xff;
	err->reason = reason;
	err->msg = msg;
	return -EPROTO;
}

/* Parse the fixed header in h[0..n).  Returns header length (2..5) with
 * *body set, 0 if more bytes are needed, or -EPROTO. */
static int
framer_header(struct rmq_framer *f, const uint8_t *h, size_t n, uint32_t *body,
    struct rmq_codec_err *err)
{
	if (n < 2)
		return 0;
	int used = rmq_varint_decode(h + 1, n - 1, body, f->strict_varint);
	if (used == 0)
		return 0;
	if (used < 0)
		return framer_fail(f, err, RMQ_RC_MALFORMED_PACKET,
		    "[MQTT-1.5.5-1] Remaining Length is not a valid Variable Byte Integer");
	if ((uint64_t)*body + 1 + (uint64_t)used > f->max_packet)
		return framer_fail(f, err, RMQ_RC_PACKET_TOO_LARGE,
		    "packet exceeds the Maximum Packet Size");
	return used + 1;
}

int
rmq_framer_next(struct rmq_framer *f, const uint8_t *in, size_t len,
    size_t *used, struct rmq_frame *frame, struct rmq_codec_err *err)
{
	*used = 0;
	if (f->hdr_len == 0xff)
		return framer_fail(f, err, RMQ_RC_PROTOCOL_ERROR,
		    "stream already failed");
	if (f->buf != NULL && f->need == 0) {
		/* The last packet handed out was gathered here. */
		free(f->buf);
		f->buf = NULL;
		f->cap = 0;
	}

	/* Fast path: nothing pending and a whole packet in the input. */
	if (f->hdr_len == 0 && f->need == 0) {
		uint32_t body;
		int h = framer_header(f, in, len, &body, err);
		if (h < 0)
			return h;
		if (h > 0 && len - (size_t)h >= body) {
			frame->first = in[0];
			frame->body = in + h;
			frame->body_len = body;
			frame->size = (uint32_t)h + body;
			*used = frame->size;
			return 1;
		}
	}

	/* Slow path: gather the header, then the body, across calls. */
	size_t pos = 0;
	if (f->need == 0) {
		uint32_t body = 0;
		int h = 0;
		while (pos < len && h == 0) {
			if (f->hdr_len >= sizeof(f->hdr))
				return framer_fail(f, err,
				    RMQ_RC_MALFORMED_PACKET,
				    "[MQTT-1.5.5-1] Remaining Length is not a valid Variable Byte Integer");
			f->hdr[f->hdr_len++] = in[pos++];
			h = framer_header(f, f->hdr, f->hdr_len, &body, err);
			if (h < 0)
				return h;
		}
		*used = pos;
		if (h == 0)
			return 0;
		f->need = body;
		f->have = 0;
		f->cap = 0;
	}

	size_t take = len - pos;
	if (take > f->need - f->have)
		take = f->need - f->have;
	if (f->have + take > f->cap) {
		/* Grow with what arrives, not with what the header claims,
		 * so a peer announcing a large packet and sending little
		 * holds little. */
		if (rmq_grow(&f->buf, &f->cap, (uint32_t)(f->have + take), 1,
			4096, f->need) != 0) {
			/* The stream cannot be followed any more. */
			f->hdr_len = 0xff;
			return -ENOMEM;
		}
	}
	if (take)
		memcpy(f->buf + f->have, in + pos, take);
	f->have += (uint32_t)take;
	pos += take;
	*used = pos;
	if (f->have < f->need)
		return 0;

	/* Complete.  The buffer is handed out and freed on the next call;
	 * need == 0 with buf set says so. */
	frame->first = f->hdr[0];
	frame->body = f->buf != NULL ? f->buf : f->hdr; /* never NULL */
	frame->body_len = f->need;
	frame->size = f->hdr_len + f->need;
	f->hdr_len = 0;
	f->need = f->have = 0;
	return 1;
}
