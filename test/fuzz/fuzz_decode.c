/* test/fuzz/fuzz_decode.c: libFuzzer target for the MQTT decoder.
 *
 * The first input byte picks the side (server or client) and the protocol
 * version, the second seeds how the rest is cut into reads.  Every packet
 * the decoder accepts must then survive the encoder: re-encoding succeeds,
 * the result decodes again, and encoding that gives the same bytes.  A
 * PUBLISH also goes through the shared/per-subscriber split, which must
 * produce the same bytes as the whole encoding.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "codec.h"
#include "topic.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint8_t enc1[1 << 17], enc2[1 << 17];

/* Like assert(), but kept in release builds: a broken invariant must stop
 * the fuzzer with a crash it reports. */
#define CHECK(cond)                                                            \
	do {                                                                   \
		if (!(cond))                                                   \
			abort();                                               \
	} while (0)

static void
fuzz_walk(const struct rmq_packet *p, uint8_t version)
{
	uint32_t off = 0;
	struct rmq_sub_entry e;
	struct rmq_str f, group, inner;
	struct rmq_prop prop;
	switch (p->type) {
	case RMQ_SUBSCRIBE: {
		uint32_t n = 0;
		while (rmq_subscribe_next(&p->subscribe, version, &off, &e)) {
			n++;
			if (rmq_topic_filter_check(e.filter.p, e.filter.len) ==
			    0) {
				if (rmq_topic_share_parse(e.filter.p,
					e.filter.len, &group, &inner) == 1)
					e.filter = inner;
				/* A filter always matches itself when it
				 * has no wildcard and no leading '$'. */
				if (!rmq_topic_has_wildcard(e.filter.p,
					e.filter.len))
					CHECK(rmq_topic_match(e.filter.p,
					    e.filter.len, e.filter.p,
					    e.filter.len));
			}
		}
		CHECK(n == p->subscribe.count);
		break;
	}
	case RMQ_UNSUBSCRIBE: {
		uint32_t n = 0;
		while (rmq_unsubscribe_next(&p->unsubscribe, &off, &f))
			n++;
		CHECK(n == p->unsubscribe.count);
		break;
	}
	case RMQ_PUBLISH:
		while (rmq_props_next(&p->publish.props.raw, &off, &prop))
			;
		if (p->publish.topic.len)
			(void)rmq_topic_match("#", 1, p->publish.topic.p,
			    p->publish.topic.len);
		break;
	default: break;
	}
}

/* The split encoding of a PUBLISH must equal the whole one. */
static void
fuzz_publish_split(const struct rmq_publish *pub, uint8_t version,
    const uint8_t *whole, size_t whole_len)
{
	static uint8_t shared[1 << 17], flat[1 << 17];
	uint8_t hdr[RMQ_PUB_HDR_MAX + 5 * 16];
	struct rmq_pub_shared sh;
	struct iovec iov[5];
	size_t size;
	/* Per-subscriber properties go through var; several subscription
	 * identifiers are written in their own order. */
	if (pub->props.n_subid > 1 || pub->topic.len == 0)
		return;
	if (rmq_codec_publish_shared(pub, version, shared, sizeof(shared),
		&sh) != 0)
		return;
	struct rmq_pub_var var = { .qos = pub->qos,
		.dup = pub->dup,
		.retain = pub->retain,
		.packet_id = pub->packet_id };
	int rc = rmq_codec_publish_iov(&sh, &var, hdr, sizeof(hdr), iov, &size);
	CHECK(rc > 0);
	size_t n = 0;
	for (int i = 0; i < rc; i++) {
		memcpy(flat + n, iov[i].iov_base, iov[i].iov_len);
		n += iov[i].iov_len;
	}
	CHECK(n == size);
	/* Without per-subscriber properties both forms are byte-equal. */
	uint64_t per = (uint64_t)1 << RMQ_PROP_TOPIC_ALIAS |
	    (uint64_t)1 << RMQ_PROP_SUBSCRIPTION_ID |
	    (uint64_t)1 << RMQ_PROP_MESSAGE_EXPIRY;
	if ((pub->props.present & per) == 0)
		CHECK(n == whole_len && memcmp(flat, whole, n) == 0);
}

static void
fuzz_reencode(const struct rmq_packet *p, uint8_t version, enum rmq_role from)
{
	long n1 = rmq_codec_encode(p, version, enc1, sizeof(enc1));
	if (n1 == -ENOBUFS)
		return; /* larger than this harness's buffer */
	CHECK(n1 > 0);
	CHECK((size_t)n1 == rmq_codec_size(p, version));

	struct rmq_framer f;
	struct rmq_frame fr;
	struct rmq_codec_err err;
	struct rmq_packet q;
	size_t used;
	rmq_framer_init(&f, 0);
	f.strict_varint = 1; /* the encoder writes minimal lengths */
	CHECK(rmq_framer_next(&f, enc1, (size_t)n1, &used, &fr, &err) == 1);
	CHECK(used == (size_t)n1);
	CHECK(rmq_codec_decode(fr.first, fr.body, fr.body_len, version, from,
		  &q, &err) == 0);
	long n2 = rmq_codec_encode(&q, version, enc2, sizeof(enc2));
	CHECK(n2 == n1 && memcmp(enc1, enc2, (size_t)n1) == 0);
	rmq_framer_fini(&f);
	if (p->type == RMQ_PUBLISH)
		fuzz_publish_split(&p->publish, version, enc1, (size_t)n1);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 2)
		return 0;
	enum rmq_role from = (data[0] & 1) ? RMQ_FROM_SERVER : RMQ_FROM_CLIENT;
	static const uint8_t versions[] = { RMQ_V31, RMQ_V311, RMQ_V5 };
	uint8_t version =
	    from == RMQ_FROM_SERVER ? versions[(data[0] >> 1) % 3] : 0;
	uint32_t max = (data[0] & 0x80) ? 256 : 0;
	uint32_t seed = data[1] | 1u;
	data += 2;
	size -= 2;

	struct rmq_decoder d;
	rmq_decoder_init(&d, from, version, max);
	size_t pos = 0;
	while (pos < size) {
		/* A chunk of 1 to 64 bytes, or the rest. */
		seed = seed * 1103515245u + 12345u;
		size_t chunk = (seed >> 16) % 65;
		if (chunk == 0 || chunk > size - pos)
			chunk = size - pos;
		/* A copy per read, so ASan sees reads past the chunk. */
		uint8_t *in = malloc(chunk);
		memcpy(in, data + pos, chunk);
		size_t off = 0;
		int rc = 0;
		while (off < chunk) {
			struct rmq_packet pkt;
			struct rmq_codec_err err;
			size_t used;
			rc = rmq_decoder_next(&d, in + off, chunk - off, &used,
			    &pkt, &err);
			CHECK(used <= chunk - off);
			off += used;
			if (rc < 0) {
				CHECK(rc == -EPROTO || rc == -ENOMEM);
				CHECK(rc != -EPROTO || err.msg != NULL);
				break;
			}
			if (rc == 1) {
				fuzz_walk(&pkt, d.version);
				fuzz_reencode(&pkt, d.version,
				    (enum rmq_role)d.from);
			} else {
				CHECK(off == chunk);
			}
		}
		free(in);
		if (rc < 0)
			break;
		pos += chunk;
	}
	rmq_decoder_fini(&d);
	return 0;
}
