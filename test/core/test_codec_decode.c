/* test/core/test_codec_decode.c: rmq_codec_decode() (core/codec_decode.c)
 * and rmq_decoder_next() on hand-written byte vectors for MQTT 3.1, 3.1.1
 * and 5.0: every field of well-formed packets, and one test per malformed
 * case naming the normative statement it breaks and the reason code.
 */
#include <criterion/criterion.h>

#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "codec.h"
#include "packet.h"
#include "props.h"
#include "reason.h"

TestSuite(codec_decode);

#define LEN(a) (sizeof(a) / sizeof((a)[0]))

#define MALFORMED RMQ_RC_MALFORMED_PACKET /* 0x81 */
#define PROTOCOL RMQ_RC_PROTOCOL_ERROR /* 0x82 */
#define BAD_VERSION RMQ_RC_UNSUPPORTED_PROTOCOL_VERSION /* 0x84 */
#define BAD_TOPIC RMQ_RC_TOPIC_NAME_INVALID /* 0x90 */
#define TOO_LARGE RMQ_RC_PACKET_TOO_LARGE /* 0x95 */

/* A body for packets that have none; never read. */
static const uint8_t no_body[1] = { 0xEE };

/* ------------------------------------------------------------------ */
/* helpers                                                            */
/* ------------------------------------------------------------------ */

/* Decode a packet that must be accepted.  The output is poisoned first so
 * that a field the decoder forgets to set shows up. */
static struct rmq_packet
decode_ok(uint8_t first, const uint8_t *body, size_t len, uint8_t version,
    enum rmq_role from, const char *what)
{
	struct rmq_packet pkt;
	struct rmq_codec_err err = { 0, NULL };
	int rc;

	memset(&pkt, 0xA5, sizeof pkt);
	rc = rmq_codec_decode(first, body, len, version, from, &pkt, &err);
	cr_assert_eq(rc, 0,
	    "%s: rmq_codec_decode returned %d (reason 0x%02x: %s), want 0",
	    what, rc, err.reason, err.msg ? err.msg : "(no msg)");
	cr_assert_eq(pkt.type, first >> 4, "%s: type %u, want %u", what,
	    pkt.type, first >> 4);
	cr_assert_eq(pkt.flags, first & 0x0F, "%s: flags 0x%x, want 0x%x", what,
	    pkt.flags, first & 0x0F);
	return pkt;
}

/* Decode a packet that must be refused with -EPROTO and `reason`. */
static void
expect_err(uint8_t first, const uint8_t *body, size_t len, uint8_t version,
    enum rmq_role from, uint8_t reason, const char *what)
{
	struct rmq_packet pkt;
	struct rmq_codec_err err = { 0, NULL };
	int rc;

	memset(&pkt, 0, sizeof pkt);
	rc = rmq_codec_decode(first, body, len, version, from, &pkt, &err);
	cr_assert_eq(rc, -EPROTO,
	    "%s: rmq_codec_decode returned %d, want -EPROTO", what, rc);
	cr_assert_eq(err.reason, reason, "%s: reason 0x%02x (%s), want 0x%02x",
	    what, err.reason, err.msg ? err.msg : "(no msg)", reason);
	cr_assert_not_null(err.msg, "%s: err.msg is NULL", what);
}

/* A present UTF-8 string equal to `want`. */
static void
assert_str(struct rmq_str s, const char *want, const char *what)
{
	size_t n = strlen(want);

	cr_assert_not_null(s.p, "%s: absent, want \"%s\"", what, want);
	cr_assert_eq(s.len, n, "%s: length %u, want %zu", what, s.len, n);
	cr_assert(memcmp(s.p, want, n) == 0, "%s: \"%.*s\", want \"%s\"", what,
	    (int)s.len, s.p, want);
}

/* Present binary data equal to want[0..n). */
static void
assert_bin(struct rmq_str s, const uint8_t *want, size_t n, const char *what)
{
	cr_assert_not_null(s.p, "%s: absent", what);
	cr_assert_eq(s.len, n, "%s: length %u, want %zu", what, s.len, n);
	cr_assert(memcmp(s.p, want, n) == 0, "%s: bytes differ", what);
}

/* A view that points into body[0..len): the decoder never copies. */
static void
assert_inside(struct rmq_str s, const uint8_t *body, size_t len,
    const char *what)
{
	const uint8_t *p = (const uint8_t *)s.p;

	cr_assert(p >= body && p + s.len <= body + len,
	    "%s: does not point into the packet body", what);
}

static void
assert_absent(struct rmq_str s, const char *what)
{
	cr_assert_null(s.p, "%s: present, want absent (p == NULL)", what);
}

/* Walk a raw property block, keeping the User Properties in order. */
static uint32_t
user_props(const struct rmq_props *props, struct rmq_prop *out, uint32_t max)
{
	struct rmq_prop prop;
	uint32_t off = 0, n = 0, guard = 0;

	while (rmq_props_next(&props->raw, &off, &prop) == 1) {
		cr_assert_lt(++guard, 1000u, "rmq_props_next does not advance");
		if (prop.id != RMQ_PROP_USER_PROPERTY)
			continue;
		cr_assert_lt(n, max, "more User Properties than expected");
		out[n++] = prop;
	}
	return n;
}

/* Build a 5.0 CONNECT body around a property block:
 * "MQTT", level 5, Clean Start, keep alive 60, props, Client Id "c". */
static size_t
connect_v5(uint8_t *out, size_t cap, const uint8_t *props, size_t plen)
{
	static const uint8_t head[] = {
		0x00, 0x04, 'M', 'Q', 'T', 'T', /* protocol name */
		0x05, /* protocol level 5 */
		0x02, /* flags: Clean Start */
		0x00, 0x3C, /* keep alive 60 */
	};
	static const uint8_t tail[] = { 0x00, 0x01, 'c' }; /* Client Id */
	size_t n = 0;

	cr_assert_lt(plen, 128u, "property block too long for the helper");
	cr_assert_leq(sizeof head + 1 + plen + sizeof tail, cap);
	memcpy(out, head, sizeof head);
	n += sizeof head;
	out[n++] = (uint8_t)plen; /* Property Length */
	memcpy(out + n, props, plen);
	n += plen;
	memcpy(out + n, tail, sizeof tail);
	return n + sizeof tail;
}

/* Build a 5.0 QoS 0 PUBLISH body around a property block:
 * Topic "t", props, payload "x". */
static size_t
publish_v5(uint8_t *out, size_t cap, const uint8_t *props, size_t plen)
{
	size_t n = 0;

	cr_assert_lt(plen, 128u, "property block too long for the helper");
	cr_assert_leq(3 + 1 + plen + 1, cap);
	out[n++] = 0x00; /* topic length 1 */
	out[n++] = 0x01;
	out[n++] = 't';
	out[n++] = (uint8_t)plen; /* Property Length */
	memcpy(out + n, props, plen);
	n += plen;
	out[n++] = 'x'; /* payload */
	return n;
}

/* Feed in[0..len) to a decoder until it hands out a packet, fails, or has
 * used all of it.  *consumed says how much it took. */
static int
feed(struct rmq_decoder *d, const uint8_t *in, size_t len,
    struct rmq_packet *pkt, struct rmq_codec_err *err, size_t *consumed)
{
	size_t off = 0;

	for (;;) {
		size_t used = 0;
		int rc =
		    rmq_decoder_next(d, in + off, len - off, &used, pkt, err);

		cr_assert_leq(used, len - off, "decoder used %zu of %zu bytes",
		    used, len - off);
		off += used;
		if (rc != 0 || off == len) {
			*consumed = off;
			return rc;
		}
		cr_assert_gt(used, 0u,
		    "decoder returned 0 without using input");
	}
}

/* ------------------------------------------------------------------ */
/* CONNECT: well-formed                                               */
/* ------------------------------------------------------------------ */

/* 3.1.1 CONNECT, Clean Session, no will, no user name or password. */
static const uint8_t connect_v311_min[] = {
	0x00, 0x04, 'M', 'Q', 'T', 'T', /* protocol name "MQTT" */
	0x04, /* protocol level 4 */
	0x02, /* flags: Clean Session */
	0x00, 0x3C, /* keep alive 60 */
	0x00, 0x03, 'c', 'i', 'd', /* Client Identifier "cid" */
};

Test(codec_decode, connect_v311_minimal)
{
	struct rmq_packet p = decode_ok(0x10, connect_v311_min,
	    LEN(connect_v311_min), 0, RMQ_FROM_CLIENT, "CONNECT 3.1.1");
	const struct rmq_connect *c = &p.connect;

	cr_assert_eq(c->version, RMQ_V311, "version %u", c->version);
	cr_assert_eq(c->clean, 1, "clean %u", c->clean);
	cr_assert_eq(c->will, 0, "will %u", c->will);
	cr_assert_eq(c->will_qos, 0, "will_qos %u", c->will_qos);
	cr_assert_eq(c->will_retain, 0, "will_retain %u", c->will_retain);
	cr_assert_eq(c->keepalive, 60, "keepalive %u", c->keepalive);
	assert_str(c->client_id, "cid", "client_id");
	assert_inside(c->client_id, connect_v311_min, LEN(connect_v311_min),
	    "client_id");
	assert_absent(c->will_topic, "will_topic");
	assert_absent(c->will_payload, "will_payload");
	assert_absent(c->username, "username");
	assert_absent(c->password, "password");
	cr_assert_eq(c->props.present, 0, "3.1.1 has no properties");
	cr_assert_eq(c->will_props.present, 0, "3.1.1 has no will properties");
}

/* 3.1.1 CONNECT with the flags of the spec's example, 0xCE: User Name,
 * Password, Will QoS 1, Will Flag, Clean Session; keep alive 10. */
static const uint8_t connect_v311_full[] = {
	0x00, 0x04, 'M', 'Q', 'T', 'T', /* protocol name */
	0x04, /* level 4 */
	0xCE, /* flags 1100 1110 */
	0x00, 0x0A, /* keep alive 10 */
	0x00, 0x03, 'c', '-', '1', /* Client Id "c-1" */
	0x00, 0x06, 'w', 'i', 'l', 'l', '/', 't', /* Will Topic "will/t" */
	0x00, 0x04, 'g', 'o', 'n', 'e', /* Will Message "gone" */
	0x00, 0x04, 'u', 's', 'e', 'r', /* User Name "user" */
	0x00, 0x03, 'p', 0x00, 0xFF, /* Password: binary data */
};

Test(codec_decode, connect_v311_will_user_password)
{
	static const uint8_t pw[] = { 'p', 0x00, 0xFF };
	struct rmq_packet p = decode_ok(0x10, connect_v311_full,
	    LEN(connect_v311_full), 0, RMQ_FROM_CLIENT, "CONNECT 3.1.1 full");
	const struct rmq_connect *c = &p.connect;

	cr_assert_eq(c->version, RMQ_V311);
	cr_assert_eq(c->clean, 1);
	cr_assert_eq(c->will, 1, "will %u", c->will);
	cr_assert_eq(c->will_qos, 1, "will_qos %u", c->will_qos);
	cr_assert_eq(c->will_retain, 0, "will_retain %u", c->will_retain);
	cr_assert_eq(c->keepalive, 10, "keepalive %u", c->keepalive);
	assert_str(c->client_id, "c-1", "client_id");
	assert_str(c->will_topic, "will/t", "will_topic");
	assert_str(c->will_payload, "gone", "will_payload");
	assert_str(c->username, "user", "username");
	/* 3.1.3.5: the password is binary data, not a UTF-8 string */
	assert_bin(c->password, pw, sizeof pw, "password");
}

/* 3.1.1 CONNECT with Will QoS 2 and Will Retain, no Clean Session. */
static const uint8_t connect_v311_will_retain[] = {
	0x00, 0x04, 'M', 'Q', 'T', 'T', 0x04,
	0x34, /* Will Retain, Will QoS 2, Will Flag */
	0x00, 0x00, /* keep alive 0 */
	0x00, 0x01, 'c', /* Client Id */
	0x00, 0x03, 'a', '/', 'b', /* Will Topic */
	0x00, 0x00, /* Will Message: empty */
};

Test(codec_decode, connect_v311_will_qos2_retain)
{
	struct rmq_packet p = decode_ok(0x10, connect_v311_will_retain,
	    LEN(connect_v311_will_retain), 0, RMQ_FROM_CLIENT, "CONNECT will");
	const struct rmq_connect *c = &p.connect;

	cr_assert_eq(c->clean, 0);
	cr_assert_eq(c->will, 1);
	cr_assert_eq(c->will_qos, 2, "will_qos %u", c->will_qos);
	cr_assert_eq(c->will_retain, 1);
	cr_assert_eq(c->keepalive, 0);
	assert_str(c->will_topic, "a/b", "will_topic");
	/* present and empty is not absent */
	cr_assert_not_null(c->will_payload.p, "empty will payload is present");
	cr_assert_eq(c->will_payload.len, 0);
	assert_absent(c->username, "username");
}

/* 3.1.1 [MQTT-3.1.3-6]: a zero-byte Client Id (with Clean Session 1). */
static const uint8_t connect_v311_empty_id[] = {
	0x00, 0x04, 'M', 'Q', 'T', 'T', 0x04, 0x02, 0x00, 0x3C, 0x00,
	0x00, /* Client Id: empty */
};

Test(codec_decode, connect_v311_empty_client_id)
{
	struct rmq_packet p = decode_ok(0x10, connect_v311_empty_id,
	    LEN(connect_v311_empty_id), 0, RMQ_FROM_CLIENT, "CONNECT empty id");

	cr_assert_not_null(p.connect.client_id.p,
	    "an empty Client Id is present, not absent");
	cr_assert_eq(p.connect.client_id.len, 0);
}

/* MQTT 3.1 CONNECT: protocol name "MQIsdp", level 3, User Name and
 * Password, Clean Session, keep alive 30. */
static const uint8_t connect_v31[] = {
	0x00, 0x06, 'M', 'Q', 'I', 's', 'd', 'p', /* protocol name */
	0x03, /* level 3 */
	0xC2, /* User, Password, Clean */
	0x00, 0x1E, /* keep alive 30 */
	0x00, 0x03, 'c', '3', '1', /* Client Id "c31" */
	0x00, 0x01, 'u', /* User Name "u" */
	0x00, 0x01, 'p', /* Password "p" */
};

Test(codec_decode, connect_v31_mqisdp)
{
	struct rmq_packet p = decode_ok(0x10, connect_v31, LEN(connect_v31), 0,
	    RMQ_FROM_CLIENT, "CONNECT 3.1");
	const struct rmq_connect *c = &p.connect;

	cr_assert_eq(c->version, RMQ_V31, "version %u", c->version);
	cr_assert_eq(c->clean, 1);
	cr_assert_eq(c->will, 0);
	cr_assert_eq(c->keepalive, 30);
	assert_str(c->client_id, "c31", "client_id");
	assert_str(c->username, "u", "username");
	assert_str(c->password, "p", "password");
	assert_absent(c->will_topic, "will_topic");
	cr_assert_eq(c->props.present, 0);
}

/* 5.0 CONNECT with will, user name, password and properties. */
static const uint8_t connect_v5_full[] = {
	0x00, 0x04, 'M', 'Q', 'T', 'T', /* protocol name */
	0x05, /* level 5 */
	0xEE, /* User, Password, Will Retain, Will QoS 1, Will, Clean */
	0x00, 0x0A, /* keep alive 10 */
	0x20, /* Property Length 32 */
	0x11, 0x00, 0x00, 0x00, 0x0A, /*  Session Expiry Interval 10 */
	0x21, 0x00, 0x14, /*  Receive Maximum 20 */
	0x27, 0x00, 0x00, 0x04, 0x00, /*  Maximum Packet Size 1024 */
	0x22, 0x00, 0x05, /*  Topic Alias Maximum 5 */
	0x26, 0x00, 0x02, 'z', 'z', 0x00, 0x01, '1', /* User Property zz=1 */
	0x26, 0x00, 0x02, 'a', 'a', 0x00, 0x01, '2', /* User Property aa=2 */
	0x00, 0x03, 'c', '-', '5', /* Client Id "c-5" */
	0x0E, /* Will Property Length 14 */
	0x18, 0x00, 0x00, 0x00, 0x1E, /*  Will Delay Interval 30 */
	0x01, 0x01, /*  Payload Format Indicator 1 */
	0x03, 0x00, 0x04, 't', 'e', 'x', 't', /* Content Type "text" */
	0x00, 0x06, 'w', 'i', 'l', 'l', '/', 't', /* Will Topic */
	0x00, 0x04, 'g', 'o', 'n', 'e', /* Will Payload */
	0x00, 0x04, 'u', 's', 'e', 'r', /* User Name */
	0x00, 0x02, 'p', 'w', /* Password */
};

Test(codec_decode, connect_v5_full)
{
	struct rmq_packet p = decode_ok(0x10, connect_v5_full,
	    LEN(connect_v5_full), 0, RMQ_FROM_CLIENT, "CONNECT 5.0");
	const struct rmq_connect *c = &p.connect;
	const struct rmq_props *pr = &c->props;
	const struct rmq_props *wp = &c->will_props;
	struct rmq_prop up[4];
	uint32_t n;

	cr_assert_eq(c->version, RMQ_V5, "version %u", c->version);
	cr_assert_eq(c->clean, 1);
	cr_assert_eq(c->will, 1);
	cr_assert_eq(c->will_qos, 1);
	cr_assert_eq(c->will_retain, 1);
	cr_assert_eq(c->keepalive, 10);
	assert_str(c->client_id, "c-5", "client_id");
	assert_str(c->will_topic, "will/t", "will_topic");
	assert_str(c->will_payload, "gone", "will_payload");
	assert_str(c->username, "user", "username");
	assert_str(c->password, "pw", "password");

	cr_assert(RMQ_PROP_HAS(pr, RMQ_PROP_SESSION_EXPIRY));
	cr_assert_eq(pr->session_expiry, 10, "session_expiry %u",
	    pr->session_expiry);
	cr_assert(RMQ_PROP_HAS(pr, RMQ_PROP_RECEIVE_MAXIMUM));
	cr_assert_eq(pr->receive_max, 20);
	cr_assert(RMQ_PROP_HAS(pr, RMQ_PROP_MAXIMUM_PACKET_SIZE));
	cr_assert_eq(pr->max_packet_size, 1024);
	cr_assert(RMQ_PROP_HAS(pr, RMQ_PROP_TOPIC_ALIAS_MAXIMUM));
	cr_assert_eq(pr->topic_alias_max, 5);
	cr_assert_not(RMQ_PROP_HAS(pr, RMQ_PROP_WILL_DELAY));
	cr_assert_eq(pr->n_user, 2, "n_user %u", pr->n_user);
	cr_assert_eq(pr->raw.len, 32,
	    "raw block is the 32 bytes after the length, got %u", pr->raw.len);
	assert_inside(pr->raw, connect_v5_full, LEN(connect_v5_full), "raw");

	/* User Properties come back in the order they were sent. */
	n = user_props(pr, up, 4);
	cr_assert_eq(n, 2, "walked %u User Properties", n);
	assert_str(up[0].str, "zz", "first key");
	assert_str(up[0].val, "1", "first value");
	assert_str(up[1].str, "aa", "second key");
	assert_str(up[1].val, "2", "second value");

	cr_assert(RMQ_PROP_HAS(wp, RMQ_PROP_WILL_DELAY));
	cr_assert_eq(wp->will_delay, 30, "will_delay %u", wp->will_delay);
	cr_assert(RMQ_PROP_HAS(wp, RMQ_PROP_PAYLOAD_FORMAT));
	cr_assert_eq(wp->payload_format, 1);
	cr_assert(RMQ_PROP_HAS(wp, RMQ_PROP_CONTENT_TYPE));
	assert_str(wp->content_type, "text", "will content_type");
	cr_assert_not(RMQ_PROP_HAS(wp, RMQ_PROP_SESSION_EXPIRY));
	cr_assert_eq(wp->n_user, 0);
}

/* Walking the whole property block gives every property in order. */
Test(codec_decode, connect_v5_props_walk_order)
{
	static const uint8_t want[] = { 0x11, 0x21, 0x27, 0x22, 0x26, 0x26 };
	static const uint32_t nums[] = { 10, 20, 1024, 5 };
	struct rmq_packet p = decode_ok(0x10, connect_v5_full,
	    LEN(connect_v5_full), 0, RMQ_FROM_CLIENT, "CONNECT 5.0");
	struct rmq_prop prop;
	uint32_t off = 0, i = 0;

	while (rmq_props_next(&p.connect.props.raw, &off, &prop) == 1) {
		cr_assert_lt(i, LEN(want), "more properties than sent");
		cr_assert_eq(prop.id, want[i],
		    "property %u is 0x%02x, want 0x%02x", i, prop.id, want[i]);
		if (i < LEN(nums))
			cr_assert_eq(prop.num, nums[i], "property %u value %u",
			    i, prop.num);
		i++;
	}
	cr_assert_eq(i, LEN(want), "walked %u properties, want %zu", i,
	    LEN(want));
}

/* 5.0 allows a Password without a User Name (3.1.2.9), unlike 3.1.1. */
static const uint8_t connect_v5_pw_only[] = {
	0x00, 0x04, 'M', 'Q', 'T', 'T', 0x05,
	0x42, /* Password, Clean Start; no User Name */
	0x00, 0x00, /* keep alive 0 */
	0x00, /* Property Length 0 */
	0x00, 0x01, 'c', /* Client Id */
	0x00, 0x02, 'p', 'w', /* Password */
};

Test(codec_decode, connect_v5_password_without_username_allowed)
{
	struct rmq_packet p = decode_ok(0x10, connect_v5_pw_only,
	    LEN(connect_v5_pw_only), 0, RMQ_FROM_CLIENT, "CONNECT 5.0 pw");

	assert_absent(p.connect.username, "username");
	assert_str(p.connect.password, "pw", "password");
	cr_assert_eq(p.connect.props.present, 0);
}

/* ------------------------------------------------------------------ */
/* CONNECT: malformed                                                 */
/* ------------------------------------------------------------------ */

/* 5.0 [MQTT-2.1.3-1]: CONNECT fixed header flags are reserved, 0000. */
Test(codec_decode, connect_reserved_fixed_flags_MQTT_2_1_3_1)
{
	expect_err(0x11, connect_v311_min, LEN(connect_v311_min), 0,
	    RMQ_FROM_CLIENT, MALFORMED, "CONNECT flags 0001");
}

/* [MQTT-3.1.2-3]: the reserved Connect Flag (bit 0) must be 0. */
static const uint8_t connect_v311_reserved_bit[] = {
	0x00,
	0x04,
	'M',
	'Q',
	'T',
	'T',
	0x04,
	0x03, /* Clean Session + reserved bit 0 */
	0x00,
	0x3C,
	0x00,
	0x01,
	'c',
};
static const uint8_t connect_v5_reserved_bit[] = {
	0x00,
	0x04,
	'M',
	'Q',
	'T',
	'T',
	0x05,
	0x03, /* Clean Start + reserved bit 0 */
	0x00,
	0x3C,
	0x00,
	0x00,
	0x01,
	'c',
};

Test(codec_decode, connect_v311_reserved_flag_MQTT_3_1_2_3)
{
	expect_err(0x10, connect_v311_reserved_bit,
	    LEN(connect_v311_reserved_bit), 0, RMQ_FROM_CLIENT, MALFORMED,
	    "3.1.1 reserved connect flag");
}

Test(codec_decode, connect_v5_reserved_flag_MQTT_3_1_2_3)
{
	expect_err(0x10, connect_v5_reserved_bit, LEN(connect_v5_reserved_bit),
	    0, RMQ_FROM_CLIENT, MALFORMED, "5.0 reserved connect flag");
}

/* 3.1.1 [MQTT-3.1.2-14]: Will QoS must not be 3. */
static const uint8_t connect_v311_will_qos3[] = {
	0x00, 0x04, 'M', 'Q', 'T', 'T', 0x04,
	0x1E, /* Will QoS 3, Will Flag, Clean */
	0x00, 0x3C, 0x00, 0x01, 'c', /* Client Id */
	0x00, 0x01, 't', /* Will Topic */
	0x00, 0x01, 'x', /* Will Message */
};

Test(codec_decode, connect_v311_will_qos3_MQTT_3_1_2_14)
{
	expect_err(0x10, connect_v311_will_qos3, LEN(connect_v311_will_qos3), 0,
	    RMQ_FROM_CLIENT, MALFORMED, "3.1.1 will QoS 3");
}

/* 5.0 [MQTT-3.1.2-12]: "A value of 3 (0x03) is a Malformed Packet." */
static const uint8_t connect_v5_will_qos3[] = {
	0x00, 0x04, 'M', 'Q', 'T', 'T', 0x05,
	0x1E, /* Will QoS 3, Will Flag, Clean */
	0x00, 0x3C, 0x00, /* keep alive, Property Length 0 */
	0x00, 0x01, 'c', /* Client Id */
	0x00, /* Will Property Length 0 */
	0x00, 0x01, 't', /* Will Topic */
	0x00, 0x01, 'x', /* Will Payload */
};

Test(codec_decode, connect_v5_will_qos3_MQTT_3_1_2_12)
{
	expect_err(0x10, connect_v5_will_qos3, LEN(connect_v5_will_qos3), 0,
	    RMQ_FROM_CLIENT, MALFORMED, "5.0 will QoS 3");
}

/* 3.1.1 [MQTT-3.1.2-13] (5.0 [MQTT-3.1.2-11]): Will Flag 0 needs Will
 * QoS 0. */
static const uint8_t connect_v311_qos_no_will[] = {
	0x00,
	0x04,
	'M',
	'Q',
	'T',
	'T',
	0x04,
	0x0A, /* Will QoS 1, no Will Flag, Clean */
	0x00,
	0x3C,
	0x00,
	0x01,
	'c',
};
static const uint8_t connect_v5_qos_no_will[] = {
	0x00,
	0x04,
	'M',
	'Q',
	'T',
	'T',
	0x05,
	0x0A, /* Will QoS 1, no Will Flag, Clean */
	0x00,
	0x3C,
	0x00,
	0x00,
	0x01,
	'c',
};

Test(codec_decode, connect_v311_will_qos_without_will_MQTT_3_1_2_13)
{
	expect_err(0x10, connect_v311_qos_no_will,
	    LEN(connect_v311_qos_no_will), 0, RMQ_FROM_CLIENT, MALFORMED,
	    "3.1.1 will QoS without will");
}

Test(codec_decode, connect_v5_will_qos_without_will_MQTT_3_1_2_11)
{
	expect_err(0x10, connect_v5_qos_no_will, LEN(connect_v5_qos_no_will), 0,
	    RMQ_FROM_CLIENT, MALFORMED, "5.0 will QoS without will");
}

/* 3.1.1 [MQTT-3.1.2-15] (5.0 [MQTT-3.1.2-13]): Will Flag 0 needs Will
 * Retain 0. */
static const uint8_t connect_v311_retain_no_will[] = {
	0x00,
	0x04,
	'M',
	'Q',
	'T',
	'T',
	0x04,
	0x22, /* Will Retain, no Will Flag, Clean */
	0x00,
	0x3C,
	0x00,
	0x01,
	'c',
};
static const uint8_t connect_v5_retain_no_will[] = {
	0x00,
	0x04,
	'M',
	'Q',
	'T',
	'T',
	0x05,
	0x22, /* Will Retain, no Will Flag, Clean */
	0x00,
	0x3C,
	0x00,
	0x00,
	0x01,
	'c',
};

Test(codec_decode, connect_v311_will_retain_without_will_MQTT_3_1_2_15)
{
	expect_err(0x10, connect_v311_retain_no_will,
	    LEN(connect_v311_retain_no_will), 0, RMQ_FROM_CLIENT, MALFORMED,
	    "3.1.1 will retain without will");
}

Test(codec_decode, connect_v5_will_retain_without_will_MQTT_3_1_2_13)
{
	expect_err(0x10, connect_v5_retain_no_will,
	    LEN(connect_v5_retain_no_will), 0, RMQ_FROM_CLIENT, MALFORMED,
	    "5.0 will retain without will");
}

/* 3.1.1 [MQTT-3.1.2-22]: no Password without a User Name. */
static const uint8_t connect_v311_pw_only[] = {
	0x00, 0x04, 'M', 'Q', 'T', 'T', 0x04,
	0x42, /* Password, Clean; no User Name */
	0x00, 0x3C, 0x00, 0x01, 'c', /* Client Id */
	0x00, 0x02, 'p', 'w', /* Password */
};

Test(codec_decode, connect_v311_password_without_username_MQTT_3_1_2_22)
{
	expect_err(0x10, connect_v311_pw_only, LEN(connect_v311_pw_only), 0,
	    RMQ_FROM_CLIENT, MALFORMED, "3.1.1 password without user name");
}

/* [MQTT-3.1.2-2]: an unsupported protocol level is refused with 0x84. */
static const uint8_t connect_level6[] = {
	0x00,
	0x04,
	'M',
	'Q',
	'T',
	'T',
	0x06, /* protocol level 6 */
	0x02,
	0x00,
	0x3C,
	0x00,
	0x00,
	0x01,
	'c',
};

Test(codec_decode, connect_protocol_level_6_MQTT_3_1_2_2)
{
	expect_err(0x10, connect_level6, LEN(connect_level6), 0,
	    RMQ_FROM_CLIENT, BAD_VERSION, "protocol level 6");
}

/* [MQTT-3.1.2-1]: a wrong protocol name is refused with 0x84. */
static const uint8_t connect_bad_name[] = {
	0x00,
	0x04,
	'M',
	'Q',
	'T',
	'X', /* protocol name "MQTX" */
	0x04,
	0x02,
	0x00,
	0x3C,
	0x00,
	0x01,
	'c',
};

Test(codec_decode, connect_protocol_name_MQTX_MQTT_3_1_2_1)
{
	expect_err(0x10, connect_bad_name, LEN(connect_bad_name), 0,
	    RMQ_FROM_CLIENT, BAD_VERSION, "protocol name MQTX");
	/* Not MQTT: nothing tells the session to answer. */
	struct rmq_packet pkt;
	struct rmq_codec_err err;
	memset(&pkt, 0xAA, sizeof pkt);
	rmq_codec_decode(0x10, connect_bad_name, LEN(connect_bad_name), 0,
	    RMQ_FROM_CLIENT, &pkt, &err);
	cr_assert_eq(pkt.connect.name_known, 0);
	cr_assert_eq(pkt.connect.version, 0);
}

/* [MQTT-3.1.2-1] / [MQTT-3.1.2-2]: "MQIsdp" names MQTT 3.1, whose level is
 * 3; a level 4 under that name is no protocol the server speaks. */
static const uint8_t connect_mqisdp_level4[] = {
	0x00,
	0x06,
	'M',
	'Q',
	'I',
	's',
	'd',
	'p', /* protocol name "MQIsdp" */
	0x04, /* level 4 */
	0x02,
	0x00,
	0x3C,
	0x00,
	0x01,
	'c',
};

Test(codec_decode, connect_mqisdp_with_level_4_MQTT_3_1_2_2)
{
	expect_err(0x10, connect_mqisdp_level4, LEN(connect_mqisdp_level4), 0,
	    RMQ_FROM_CLIENT, BAD_VERSION, "MQIsdp level 4");
	/* A known name: the session answers with return code 0x01, even
	 * for a level such as 0. */
	struct rmq_packet pkt;
	struct rmq_codec_err err;
	static const uint8_t level0[] = { 0x00, 0x06, 'M', 'Q', 'I', 's', 'd',
		'p', 0x00, 0x02, 0x00, 0x3C, 0x00, 0x01, 'c' };
	memset(&pkt, 0xAA, sizeof pkt);
	cr_assert_eq(rmq_codec_decode(0x10, level0, LEN(level0), 0,
			 RMQ_FROM_CLIENT, &pkt, &err),
	    -EPROTO);
	cr_assert_eq(err.reason, BAD_VERSION);
	cr_assert_eq(pkt.connect.name_known, 1);
	cr_assert_eq(pkt.connect.version, 0);
}

/* A string whose length runs past the end of the packet. */
static const uint8_t connect_id_past_end[] = {
	0x00, 0x04, 'M', 'Q', 'T', 'T', 0x04, 0x02, 0x00, 0x3C, 0x00, 0x0A, 'c',
	'i', 'd', /* Client Id length 10, 3 bytes left */
};

Test(codec_decode, connect_client_id_length_past_end)
{
	expect_err(0x10, connect_id_past_end, LEN(connect_id_past_end), 0,
	    RMQ_FROM_CLIENT, MALFORMED, "client id past end");
}

/* A CONNECT ends with its last field: trailing bytes are malformed
 * ([MQTT-3.1.4-1] the packet must match the format of section 3.1). */
static const uint8_t connect_trailing[] = {
	0x00, 0x04, 'M', 'Q', 'T', 'T', 0x04, 0x02, 0x00, 0x3C, 0x00, 0x01, 'c',
	0x00, /* one byte after the payload */
};

Test(codec_decode, connect_trailing_bytes_MQTT_3_1_4_1)
{
	expect_err(0x10, connect_trailing, LEN(connect_trailing), 0,
	    RMQ_FROM_CLIENT, MALFORMED, "CONNECT trailing byte");
}

/* 5.0 [MQTT-1.5.4-1]: no UTF-16 surrogates (U+D800 is ED A0 80). */
static const uint8_t connect_id_surrogate[] = {
	0x00, 0x04, 'M', 'Q', 'T', 'T', 0x05, 0x02, 0x00, 0x3C, 0x00, 0x00,
	0x03, 0xED, 0xA0, 0x80, /* Client Id U+D800 */
};

Test(codec_decode, connect_client_id_surrogate_MQTT_1_5_4_1)
{
	expect_err(0x10, connect_id_surrogate, LEN(connect_id_surrogate), 0,
	    RMQ_FROM_CLIENT, MALFORMED, "client id surrogate");
}

/* [MQTT-3.3.2-2] applied to the Will Topic: it is a Topic Name, so no
 * wildcards; CONNACK 0x90 is "The Will Topic Name is not malformed, but is
 * not accepted by this Server". */
static const uint8_t connect_will_wildcard[] = {
	0x00, 0x04, 'M', 'Q', 'T', 'T', 0x04, 0x06, /* Will Flag, Clean */
	0x00, 0x3C, 0x00, 0x01, 'c', /* Client Id */
	0x00, 0x03, 'w', '/', '#', /* Will Topic "w/#" */
	0x00, 0x01, 'x', /* Will Message */
};

Test(codec_decode, connect_will_topic_wildcard_MQTT_3_3_2_2)
{
	expect_err(0x10, connect_will_wildcard, LEN(connect_will_wildcard), 0,
	    RMQ_FROM_CLIENT, BAD_TOPIC, "will topic w/#");
}

/* CONNECT property errors, built with connect_v5().  */

/* 3.1.2.11.2: "It is a Protocol Error to include the Session Expiry
 * Interval more than once." */
static const uint8_t props_session_twice[] = {
	0x11, 0x00, 0x00, 0x00, 0x0A, /* Session Expiry 10 */
	0x11, 0x00, 0x00, 0x00, 0x14, /* Session Expiry 20 */
};

Test(codec_decode, connect_v5_session_expiry_twice)
{
	uint8_t b[64];
	size_t n = connect_v5(b, sizeof b, props_session_twice,
	    LEN(props_session_twice));

	expect_err(0x10, b, n, 0, RMQ_FROM_CLIENT, PROTOCOL,
	    "Session Expiry twice");
}

/* 3.1.2.11.3: Receive Maximum 0 is a Protocol Error. */
static const uint8_t props_recv_max_0[] = { 0x21, 0x00, 0x00 };

Test(codec_decode, connect_v5_receive_maximum_0)
{
	uint8_t b[64];
	size_t n =
	    connect_v5(b, sizeof b, props_recv_max_0, LEN(props_recv_max_0));

	expect_err(0x10, b, n, 0, RMQ_FROM_CLIENT, PROTOCOL,
	    "Receive Maximum 0");
}

/* 3.1.2.11.4: Maximum Packet Size 0 is a Protocol Error. */
static const uint8_t props_max_packet_0[] = { 0x27, 0x00, 0x00, 0x00, 0x00 };

Test(codec_decode, connect_v5_maximum_packet_size_0)
{
	uint8_t b[64];
	size_t n = connect_v5(b, sizeof b, props_max_packet_0,
	    LEN(props_max_packet_0));

	expect_err(0x10, b, n, 0, RMQ_FROM_CLIENT, PROTOCOL,
	    "Maximum Packet Size 0");
}

/* 3.1.2.11.7: Request Problem Information other than 0 or 1. */
static const uint8_t props_req_problem_2[] = { 0x17, 0x02 };

Test(codec_decode, connect_v5_request_problem_information_2)
{
	uint8_t b[64];
	size_t n = connect_v5(b, sizeof b, props_req_problem_2,
	    LEN(props_req_problem_2));

	expect_err(0x10, b, n, 0, RMQ_FROM_CLIENT, PROTOCOL,
	    "Request Problem Information 2");
}

/* 3.1.2.11.10: "It is a Protocol Error to include Authentication Data if
 * there is no Authentication Method." */
static const uint8_t props_auth_data_only[] = {
	0x16, 0x00, 0x02, 0x01, 0x02, /* Authentication Data 01 02 */
};

Test(codec_decode, connect_v5_auth_data_without_method)
{
	uint8_t b[64];
	size_t n = connect_v5(b, sizeof b, props_auth_data_only,
	    LEN(props_auth_data_only));

	expect_err(0x10, b, n, 0, RMQ_FROM_CLIENT, PROTOCOL,
	    "Authentication Data without Method");
}

/* 2.2.2.2: "A Control Packet which contains an Identifier which is not
 * valid for its packet type ... is a Malformed Packet": Topic Alias (0x23)
 * belongs to PUBLISH only. */
static const uint8_t props_topic_alias[] = { 0x23, 0x00, 0x01 };

Test(codec_decode, connect_v5_property_not_for_connect_2_2_2_2)
{
	uint8_t b[64];
	size_t n =
	    connect_v5(b, sizeof b, props_topic_alias, LEN(props_topic_alias));

	expect_err(0x10, b, n, 0, RMQ_FROM_CLIENT, MALFORMED,
	    "Topic Alias in CONNECT");
}

/* 2.2.2.2: Will Delay Interval (0x18) is a Will Property, not a CONNECT
 * property. */
static const uint8_t props_will_delay[] = { 0x18, 0x00, 0x00, 0x00, 0x05 };

Test(codec_decode, connect_v5_will_delay_in_connect_props_2_2_2_2)
{
	uint8_t b[64];
	size_t n =
	    connect_v5(b, sizeof b, props_will_delay, LEN(props_will_delay));

	expect_err(0x10, b, n, 0, RMQ_FROM_CLIENT, MALFORMED,
	    "Will Delay in CONNECT properties");
}

/* 2.2.2.2: 0x04 is no property identifier at all. */
static const uint8_t props_unknown[] = { 0x04, 0x00 };

Test(codec_decode, connect_v5_unknown_property_2_2_2_2)
{
	uint8_t b[64];
	size_t n = connect_v5(b, sizeof b, props_unknown, LEN(props_unknown));

	expect_err(0x10, b, n, 0, RMQ_FROM_CLIENT, MALFORMED,
	    "unknown property 0x04");
}

/* A Property Length running past the end of the packet. */
static const uint8_t connect_v5_props_past_end[] = {
	0x00,
	0x04,
	'M',
	'Q',
	'T',
	'T',
	0x05,
	0x02,
	0x00,
	0x3C,
	0x10, /* Property Length 16: 8 bytes left */
	0x11,
	0x00,
	0x00,
	0x00,
	0x0A, /* Session Expiry 10 */
	0x00,
	0x01,
	'c',
};

Test(codec_decode, connect_v5_property_length_past_end)
{
	expect_err(0x10, connect_v5_props_past_end,
	    LEN(connect_v5_props_past_end), 0, RMQ_FROM_CLIENT, MALFORMED,
	    "property length past end");
}

/* 2.2.2.2: Session Expiry Interval is not a Will Property. */
static const uint8_t connect_v5_will_session_expiry[] = {
	0x00, 0x04, 'M', 'Q', 'T', 'T', 0x05, 0x06, /* Will Flag, Clean Start */
	0x00, 0x3C, 0x00, /* keep alive, Property Length 0 */
	0x00, 0x01, 'c', /* Client Id */
	0x05, /* Will Property Length 5 */
	0x11, 0x00, 0x00, 0x00, 0x0A, /*  Session Expiry: not a will prop */
	0x00, 0x01, 't', /* Will Topic */
	0x00, 0x01, 'x', /* Will Payload */
};

Test(codec_decode, connect_v5_session_expiry_in_will_props_2_2_2_2)
{
	expect_err(0x10, connect_v5_will_session_expiry,
	    LEN(connect_v5_will_session_expiry), 0, RMQ_FROM_CLIENT, MALFORMED,
	    "Session Expiry in Will Properties");
}

/* ------------------------------------------------------------------ */
/* CONNACK                                                            */
/* ------------------------------------------------------------------ */

static const uint8_t connack_v311[] = {
	0x01, /* Session Present */
	0x00, /* return code 0: accepted */
};

Test(codec_decode, connack_v311)
{
	struct rmq_packet p = decode_ok(0x20, connack_v311, LEN(connack_v311),
	    RMQ_V311, RMQ_FROM_SERVER, "CONNACK 3.1.1");

	cr_assert_eq(p.connack.session_present, 1);
	cr_assert_eq(p.connack.reason, 0);
	cr_assert_eq(p.connack.props.present, 0);
}

static const uint8_t connack_v311_refused[] = {
	0x00, 0x05, /* return code 5: not authorized */
};

Test(codec_decode, connack_v311_refused_not_authorized)
{
	struct rmq_packet p = decode_ok(0x20, connack_v311_refused,
	    LEN(connack_v311_refused), RMQ_V311, RMQ_FROM_SERVER, "CONNACK 5");

	cr_assert_eq(p.connack.session_present, 0);
	cr_assert_eq(p.connack.reason, RMQ_V3_REFUSED_NOT_AUTHORIZED);
}

static const uint8_t connack_v5[] = {
	0x01, /* Session Present */
	0x00, /* reason: Success */
	0x14, /* Property Length 20 */
	0x21, 0x00, 0x0A, /*  Receive Maximum 10 */
	0x24, 0x01, /*  Maximum QoS 1 */
	0x25, 0x00, /*  Retain Available 0 */
	0x12, 0x00, 0x04, 'a', 'u', 't', 'o', /* Assigned Client Id */
	0x22, 0x00, 0x08, /*  Topic Alias Maximum 8 */
	0x13, 0x00, 0x1E, /*  Server Keep Alive 30 */
};

Test(codec_decode, connack_v5_properties)
{
	struct rmq_packet p = decode_ok(0x20, connack_v5, LEN(connack_v5),
	    RMQ_V5, RMQ_FROM_SERVER, "CONNACK 5.0");
	const struct rmq_props *pr = &p.connack.props;

	cr_assert_eq(p.connack.session_present, 1);
	cr_assert_eq(p.connack.reason, RMQ_RC_SUCCESS);
	cr_assert(RMQ_PROP_HAS(pr, RMQ_PROP_RECEIVE_MAXIMUM));
	cr_assert_eq(pr->receive_max, 10);
	cr_assert(RMQ_PROP_HAS(pr, RMQ_PROP_MAXIMUM_QOS));
	cr_assert_eq(pr->max_qos, 1);
	cr_assert(RMQ_PROP_HAS(pr, RMQ_PROP_RETAIN_AVAILABLE));
	cr_assert_eq(pr->retain_available, 0);
	cr_assert(RMQ_PROP_HAS(pr, RMQ_PROP_ASSIGNED_CLIENT_ID));
	assert_str(pr->assigned_client_id, "auto", "assigned_client_id");
	cr_assert(RMQ_PROP_HAS(pr, RMQ_PROP_TOPIC_ALIAS_MAXIMUM));
	cr_assert_eq(pr->topic_alias_max, 8);
	cr_assert(RMQ_PROP_HAS(pr, RMQ_PROP_SERVER_KEEP_ALIVE));
	cr_assert_eq(pr->server_keep_alive, 30);
	cr_assert_not(RMQ_PROP_HAS(pr, RMQ_PROP_SESSION_EXPIRY));
}

/* 5.0 [MQTT-3.2.2-1]: Connect Acknowledge Flags bits 7-1 are reserved. */
static const uint8_t connack_v5_reserved[] = { 0x02, 0x00, 0x00 };

Test(codec_decode, connack_v5_reserved_ack_flags_MQTT_3_2_2_1)
{
	expect_err(0x20, connack_v5_reserved, LEN(connack_v5_reserved), RMQ_V5,
	    RMQ_FROM_SERVER, MALFORMED, "CONNACK flags 0x02");
}

/* 3.1.1 table 3.1: return codes 6-255 are reserved. */
static const uint8_t connack_v311_code6[] = { 0x00, 0x06 };

Test(codec_decode, connack_v311_reserved_return_code)
{
	expect_err(0x20, connack_v311_code6, LEN(connack_v311_code6), RMQ_V311,
	    RMQ_FROM_SERVER, MALFORMED, "CONNACK return code 6");
}

/* 3.2.2.2: 0x10 is no CONNACK reason code. */
static const uint8_t connack_v5_bad_reason[] = { 0x00, 0x10, 0x00 };

Test(codec_decode, connack_v5_invalid_reason_code)
{
	expect_err(0x20, connack_v5_bad_reason, LEN(connack_v5_bad_reason),
	    RMQ_V5, RMQ_FROM_SERVER, MALFORMED, "CONNACK reason 0x10");
}

/* 5.0 [MQTT-3.2.2-6]: a CONNACK with a non-zero Reason Code has Session
 * Present 0. */
static const uint8_t connack_v5_refused_present[] = {
	0x01, /* Session Present */
	0x87, /* Not authorized */
	0x00,
};

Test(codec_decode, connack_v5_session_present_on_refusal_MQTT_3_2_2_6)
{
	expect_err(0x20, connack_v5_refused_present,
	    LEN(connack_v5_refused_present), RMQ_V5, RMQ_FROM_SERVER, PROTOCOL,
	    "Session Present with 0x87");
}

/* 3.2.2.3.4: Maximum QoS other than 0 or 1 is a Protocol Error. */
static const uint8_t connack_v5_max_qos_2[] = {
	0x00, 0x00, 0x02, 0x24, 0x02, /* Maximum QoS 2 */
};

Test(codec_decode, connack_v5_maximum_qos_2)
{
	expect_err(0x20, connack_v5_max_qos_2, LEN(connack_v5_max_qos_2),
	    RMQ_V5, RMQ_FROM_SERVER, PROTOCOL, "CONNACK Maximum QoS 2");
}

/* ------------------------------------------------------------------ */
/* PUBLISH: well-formed                                               */
/* ------------------------------------------------------------------ */

static const uint8_t publish_v311_qos0[] = {
	0x00, 0x03, 'a', '/', 'b', /* Topic Name "a/b" */
	'h', 'i', /* payload "hi" */
};

Test(codec_decode, publish_v311_qos0)
{
	struct rmq_packet p = decode_ok(0x30, publish_v311_qos0,
	    LEN(publish_v311_qos0), RMQ_V311, RMQ_FROM_CLIENT, "PUBLISH QoS 0");

	cr_assert_eq(p.publish.qos, 0);
	cr_assert_eq(p.publish.dup, 0);
	cr_assert_eq(p.publish.retain, 0);
	cr_assert_eq(p.publish.packet_id, 0, "QoS 0 has no packet id");
	assert_str(p.publish.topic, "a/b", "topic");
	assert_str(p.publish.payload, "hi", "payload");
	assert_inside(p.publish.payload, publish_v311_qos0,
	    LEN(publish_v311_qos0), "payload");
	cr_assert_eq(p.publish.props.present, 0);
}

static const uint8_t publish_v311_qos1[] = {
	0x00, 0x03, 'a', '/', 'b', /* Topic Name */
	0x00, 0x0A, /* Packet Identifier 10 */
	'x', /* payload */
};

Test(codec_decode, publish_v311_qos1_retain)
{
	struct rmq_packet p = decode_ok(0x33, publish_v311_qos1,
	    LEN(publish_v311_qos1), RMQ_V311, RMQ_FROM_CLIENT, "PUBLISH QoS 1");

	cr_assert_eq(p.publish.qos, 1);
	cr_assert_eq(p.publish.retain, 1);
	cr_assert_eq(p.publish.dup, 0);
	cr_assert_eq(p.publish.packet_id, 10);
	assert_str(p.publish.topic, "a/b", "topic");
	assert_str(p.publish.payload, "x", "payload");
}

static const uint8_t publish_v311_qos2[] = {
	0x00, 0x03, 'a', '/', 'b', /* Topic Name */
	0x12, 0x34, /* Packet Identifier 0x1234 */
	/* empty payload */
};

Test(codec_decode, publish_v311_qos2_dup_empty_payload)
{
	struct rmq_packet p = decode_ok(0x3C, publish_v311_qos2,
	    LEN(publish_v311_qos2), RMQ_V311, RMQ_FROM_SERVER, "PUBLISH QoS 2");

	cr_assert_eq(p.publish.qos, 2);
	cr_assert_eq(p.publish.dup, 1);
	cr_assert_eq(p.publish.retain, 0);
	cr_assert_eq(p.publish.packet_id, 0x1234);
	cr_assert_eq(p.publish.payload.len, 0);
}

Test(codec_decode, publish_v31_qos1)
{
	struct rmq_packet p = decode_ok(0x32, publish_v311_qos1,
	    LEN(publish_v311_qos1), RMQ_V31, RMQ_FROM_CLIENT, "3.1 PUBLISH");

	cr_assert_eq(p.publish.qos, 1);
	cr_assert_eq(p.publish.packet_id, 10);
	assert_str(p.publish.topic, "a/b", "topic");
	assert_str(p.publish.payload, "x", "payload");
}

/* [MQTT-1.5.4-3]: EF BB BF is U+FEFF, kept as is, not stripped. */
static const uint8_t publish_bom[] = {
	0x00,
	0x04,
	0xEF,
	0xBB,
	0xBF,
	'a', /* Topic Name "\uFEFFa" */
	'x',
};

Test(codec_decode, publish_topic_bom_kept_MQTT_1_5_4_3)
{
	static const uint8_t topic[] = { 0xEF, 0xBB, 0xBF, 'a' };
	struct rmq_packet p = decode_ok(0x30, publish_bom, LEN(publish_bom),
	    RMQ_V311, RMQ_FROM_CLIENT, "PUBLISH BOM");

	assert_bin(p.publish.topic, topic, sizeof topic, "topic");
}

/* 5.0 PUBLISH QoS 1 with the application-message properties. */
static const uint8_t publish_v5_props[] = {
	0x00, 0x03, 'a', '/', 'b', /* Topic Name */
	0x00, 0x07, /* Packet Identifier 7 */
	0x25, /* Property Length 37 */
	0x23, 0x00, 0x01, /*  Topic Alias 1 */
	0x02, 0x00, 0x00, 0x00, 0x3C, /*  Message Expiry 60 */
	0x03, 0x00, 0x0A, 't', 'e', 'x', 't', '/', 'p', 'l', 'a', 'i', 'n',
	/*  Content Type "text/plain" */
	0x08, 0x00, 0x05, 'r', 'e', '/', 's', 'p', /* Response Topic */
	0x09, 0x00, 0x03, 0x01, 0x02, 0x03, /* Correlation Data 01 02 03 */
	0x01, 0x01, /*  Payload Format Indicator 1 */
	'h', 'e', 'l', 'l', 'o', /* payload */
};

Test(codec_decode, publish_v5_qos1_properties)
{
	static const uint8_t corr[] = { 0x01, 0x02, 0x03 };
	struct rmq_packet p = decode_ok(0x32, publish_v5_props,
	    LEN(publish_v5_props), RMQ_V5, RMQ_FROM_CLIENT, "PUBLISH 5.0");
	const struct rmq_props *pr = &p.publish.props;

	cr_assert_eq(p.publish.qos, 1);
	cr_assert_eq(p.publish.packet_id, 7);
	assert_str(p.publish.topic, "a/b", "topic");
	assert_str(p.publish.payload, "hello", "payload");
	cr_assert(RMQ_PROP_HAS(pr, RMQ_PROP_TOPIC_ALIAS));
	cr_assert_eq(pr->topic_alias, 1);
	cr_assert(RMQ_PROP_HAS(pr, RMQ_PROP_MESSAGE_EXPIRY));
	cr_assert_eq(pr->message_expiry, 60);
	cr_assert(RMQ_PROP_HAS(pr, RMQ_PROP_CONTENT_TYPE));
	assert_str(pr->content_type, "text/plain", "content_type");
	cr_assert(RMQ_PROP_HAS(pr, RMQ_PROP_RESPONSE_TOPIC));
	assert_str(pr->response_topic, "re/sp", "response_topic");
	cr_assert(RMQ_PROP_HAS(pr, RMQ_PROP_CORRELATION_DATA));
	assert_bin(pr->correlation_data, corr, sizeof corr, "correlation");
	cr_assert(RMQ_PROP_HAS(pr, RMQ_PROP_PAYLOAD_FORMAT));
	cr_assert_eq(pr->payload_format, 1);
	cr_assert_eq(pr->n_subid, 0);
	cr_assert_eq(pr->n_user, 0);
	cr_assert_eq(pr->raw.len, 37);
}

/* 5.0 3.3.2.3.4: an empty Topic Name with a Topic Alias is allowed. */
static const uint8_t publish_v5_alias_only[] = {
	0x00, 0x00, /* Topic Name: empty */
	0x03, 0x23, 0x00, 0x02, /* Properties: Topic Alias 2 */
	'p', /* payload */
};

Test(codec_decode, publish_v5_empty_topic_with_alias)
{
	struct rmq_packet p = decode_ok(0x30, publish_v5_alias_only,
	    LEN(publish_v5_alias_only), RMQ_V5, RMQ_FROM_CLIENT, "alias only");

	cr_assert_eq(p.publish.topic.len, 0);
	cr_assert_eq(p.publish.props.topic_alias, 2);
	assert_str(p.publish.payload, "p", "payload");
}

/* 5.0 3.3.4: a server's PUBLISH may carry several Subscription
 * Identifiers. */
static const uint8_t publish_v5_subids[] = {
	0x00,
	0x01,
	't', /* Topic Name */
	0x05, /* Property Length 5 */
	0x0B,
	0x80,
	0x01, /*  Subscription Identifier 128 */
	0x0B,
	0x05, /*  Subscription Identifier 5 */
	'x',
};

Test(codec_decode, publish_v5_from_server_subscription_ids)
{
	struct rmq_packet p = decode_ok(0x30, publish_v5_subids,
	    LEN(publish_v5_subids), RMQ_V5, RMQ_FROM_SERVER, "PUBLISH subids");
	const struct rmq_props *pr = &p.publish.props;
	struct rmq_prop prop;
	uint32_t off = 0, ids[2], n = 0;

	cr_assert(RMQ_PROP_HAS(pr, RMQ_PROP_SUBSCRIPTION_ID));
	cr_assert_eq(pr->n_subid, 2, "n_subid %u", pr->n_subid);
	cr_assert_eq(pr->subid, 128, "first subid %u", pr->subid);
	while (rmq_props_next(&pr->raw, &off, &prop) == 1 && n < 2)
		ids[n++] = prop.num;
	cr_assert_eq(n, 2);
	cr_assert_eq(ids[0], 128);
	cr_assert_eq(ids[1], 5);
}

/* ------------------------------------------------------------------ */
/* PUBLISH: malformed                                                 */
/* ------------------------------------------------------------------ */

/* [MQTT-3.3.1-4]: both QoS bits set is a Malformed Packet. */
Test(codec_decode, publish_v311_qos3_MQTT_3_3_1_4)
{
	expect_err(0x36, publish_v311_qos1, LEN(publish_v311_qos1), RMQ_V311,
	    RMQ_FROM_CLIENT, MALFORMED, "3.1.1 PUBLISH QoS 3");
}

Test(codec_decode, publish_v5_qos3_MQTT_3_3_1_4)
{
	static const uint8_t b[] = {
		0x00,
		0x01,
		't',
		0x00,
		0x01, /* Topic, Packet Id 1 */
		0x00, /* Property Length 0 */
		'x',
	};

	expect_err(0x36, b, LEN(b), RMQ_V5, RMQ_FROM_CLIENT, MALFORMED,
	    "5.0 PUBLISH QoS 3");
}

/* [MQTT-3.3.1-2]: DUP must be 0 on QoS 0. */
static const uint8_t publish_v5_qos0[] = {
	0x00,
	0x01,
	't', /* Topic Name */
	0x00, /* Property Length 0 */
	'x',
};

Test(codec_decode, publish_v5_qos0_dup_MQTT_3_3_1_2)
{
	expect_err(0x38, publish_v5_qos0, LEN(publish_v5_qos0), RMQ_V5,
	    RMQ_FROM_CLIENT, PROTOCOL, "QoS 0 with DUP");
}

/* [MQTT-3.3.2-2]: no wildcards in a Topic Name. */
static const uint8_t publish_v311_plus[] = {
	0x00,
	0x03,
	'a',
	'/',
	'+', /* Topic Name "a/+" */
	'x',
};
static const uint8_t publish_v5_hash[] = {
	0x00,
	0x03,
	'a',
	'/',
	'#', /* Topic Name "a/#" */
	0x00,
	'x',
};

Test(codec_decode, publish_v311_topic_plus_MQTT_3_3_2_2)
{
	expect_err(0x30, publish_v311_plus, LEN(publish_v311_plus), RMQ_V311,
	    RMQ_FROM_CLIENT, BAD_TOPIC, "topic a/+");
}

Test(codec_decode, publish_v5_topic_hash_MQTT_3_3_2_2)
{
	expect_err(0x30, publish_v5_hash, LEN(publish_v5_hash), RMQ_V5,
	    RMQ_FROM_CLIENT, BAD_TOPIC, "topic a/#");
}

static const uint8_t publish_topic_past_end[] = {
	0x00, 0x09, 'a', '/', 'b', /* Topic length 9, 3 bytes left */
};

Test(codec_decode, publish_topic_length_past_end)
{
	expect_err(0x30, publish_topic_past_end, LEN(publish_topic_past_end),
	    RMQ_V311, RMQ_FROM_CLIENT, MALFORMED, "topic past end");
}

/* 3.1.1 [MQTT-4.7.3-1]: a Topic Name is at least one character long
 * (3.1.1 has no Topic Alias to stand in for it). */
static const uint8_t publish_v311_empty_topic[] = {
	0x00,
	0x00, /* Topic Name: empty */
	'x',
};

Test(codec_decode, publish_v311_empty_topic_MQTT_4_7_3_1)
{
	expect_err(0x30, publish_v311_empty_topic,
	    LEN(publish_v311_empty_topic), RMQ_V311, RMQ_FROM_CLIENT, BAD_TOPIC,
	    "3.1.1 empty topic");
}

/* [MQTT-1.5.4-2]: no U+0000 in a UTF-8 string. */
static const uint8_t publish_topic_nul[] = {
	0x00,
	0x03,
	'a',
	0x00,
	'b', /* Topic Name "a\0b" */
	'x',
};

Test(codec_decode, publish_topic_nul_MQTT_1_5_4_2)
{
	expect_err(0x30, publish_topic_nul, LEN(publish_topic_nul), RMQ_V311,
	    RMQ_FROM_CLIENT, MALFORMED, "topic with U+0000");
}

/* 5.0 [MQTT-2.2.1-3] (3.1.1 [MQTT-2.3.1-1]): QoS > 0 needs a non-zero
 * Packet Identifier. */
static const uint8_t publish_pid0[] = {
	0x00,
	0x03,
	'a',
	'/',
	'b',
	0x00,
	0x00, /* Packet Identifier 0 */
	'x',
};

Test(codec_decode, publish_qos1_packet_id_0_MQTT_2_2_1_3)
{
	expect_err(0x32, publish_pid0, LEN(publish_pid0), RMQ_V311,
	    RMQ_FROM_CLIENT, PROTOCOL, "QoS 1 packet id 0");
}

/* QoS 1 whose body ends inside the Packet Identifier. */
static const uint8_t publish_pid_short[] = {
	0x00, 0x03, 'a', '/', 'b', 0x00, /* one byte of the Packet Identifier */
};

Test(codec_decode, publish_qos1_packet_id_truncated)
{
	expect_err(0x32, publish_pid_short, LEN(publish_pid_short), RMQ_V311,
	    RMQ_FROM_CLIENT, MALFORMED, "truncated packet id");
}

/* 5.0 3.3.2.1: "It is a Protocol Error if the Topic Name is zero length
 * and there is no Topic Alias." */
static const uint8_t publish_v5_empty_topic[] = {
	0x00,
	0x00, /* Topic Name: empty */
	0x00, /* no properties */
	'x',
};

Test(codec_decode, publish_v5_empty_topic_without_alias)
{
	expect_err(0x30, publish_v5_empty_topic, LEN(publish_v5_empty_topic),
	    RMQ_V5, RMQ_FROM_CLIENT, PROTOCOL, "empty topic, no alias");
}

/* 5.0 [MQTT-3.3.2-8]: a Topic Alias of 0 is not permitted. */
static const uint8_t props_alias_0[] = { 0x23, 0x00, 0x00 };

Test(codec_decode, publish_v5_topic_alias_0_MQTT_3_3_2_8)
{
	uint8_t b[64];
	size_t n = publish_v5(b, sizeof b, props_alias_0, LEN(props_alias_0));

	expect_err(0x30, b, n, RMQ_V5, RMQ_FROM_CLIENT, PROTOCOL,
	    "Topic Alias 0");
}

/* 3.3.2.3.4: "It is a Protocol Error to include the Topic Alias value more
 * than once." */
static const uint8_t props_alias_twice[] = {
	0x23,
	0x00,
	0x01,
	0x23,
	0x00,
	0x02,
};

Test(codec_decode, publish_v5_topic_alias_twice)
{
	uint8_t b[64];
	size_t n =
	    publish_v5(b, sizeof b, props_alias_twice, LEN(props_alias_twice));

	expect_err(0x30, b, n, RMQ_V5, RMQ_FROM_CLIENT, PROTOCOL,
	    "Topic Alias twice");
}

/* 5.0 [MQTT-3.3.4-6]: a client's PUBLISH carries no Subscription
 * Identifier. */
static const uint8_t props_subid_1[] = { 0x0B, 0x01 };

Test(codec_decode, publish_v5_subscription_id_from_client_MQTT_3_3_4_6)
{
	uint8_t b[64];
	size_t n = publish_v5(b, sizeof b, props_subid_1, LEN(props_subid_1));

	expect_err(0x30, b, n, RMQ_V5, RMQ_FROM_CLIENT, PROTOCOL,
	    "Subscription Identifier from client");
}

/* 3.8.2.1.2: a Subscription Identifier of 0 is a Protocol Error. */
static const uint8_t props_subid_0[] = { 0x0B, 0x00 };

Test(codec_decode, publish_v5_subscription_id_0)
{
	uint8_t b[64];
	size_t n = publish_v5(b, sizeof b, props_subid_0, LEN(props_subid_0));

	expect_err(0x30, b, n, RMQ_V5, RMQ_FROM_SERVER, PROTOCOL,
	    "Subscription Identifier 0");
}

/* 2.2.2.2: Session Expiry Interval is not a PUBLISH property. */
static const uint8_t props_session_expiry[] = {
	0x11,
	0x00,
	0x00,
	0x00,
	0x0A,
};

Test(codec_decode, publish_v5_property_not_for_publish_2_2_2_2)
{
	uint8_t b[64];
	size_t n = publish_v5(b, sizeof b, props_session_expiry,
	    LEN(props_session_expiry));

	expect_err(0x30, b, n, RMQ_V5, RMQ_FROM_CLIENT, MALFORMED,
	    "Session Expiry in PUBLISH");
}

/* 2.2.2.2: an unknown property identifier. */
Test(codec_decode, publish_v5_unknown_property_2_2_2_2)
{
	static const uint8_t props[] = { 0x7F, 0x00 };
	uint8_t b[64];
	size_t n = publish_v5(b, sizeof b, props, LEN(props));

	expect_err(0x30, b, n, RMQ_V5, RMQ_FROM_CLIENT, MALFORMED,
	    "property 0x7F");
}

/* [MQTT-3.3.2-19] + [MQTT-1.5.4-1]: the Content Type is a UTF-8 string;
 * C0 80 is an overlong encoding. */
static const uint8_t props_content_overlong[] = {
	0x03,
	0x00,
	0x02,
	0xC0,
	0x80,
};

Test(codec_decode, publish_v5_content_type_overlong_MQTT_1_5_4_1)
{
	uint8_t b[64];
	size_t n = publish_v5(b, sizeof b, props_content_overlong,
	    LEN(props_content_overlong));

	expect_err(0x30, b, n, RMQ_V5, RMQ_FROM_CLIENT, MALFORMED,
	    "overlong Content Type");
}

static const uint8_t publish_v5_props_past_end[] = {
	0x00,
	0x01,
	't',
	0x09, /* Property Length 9: 4 bytes left */
	0x23,
	0x00,
	0x01, /* Topic Alias 1 */
	'x',
};

Test(codec_decode, publish_v5_property_length_past_end)
{
	expect_err(0x30, publish_v5_props_past_end,
	    LEN(publish_v5_props_past_end), RMQ_V5, RMQ_FROM_CLIENT, MALFORMED,
	    "property length past end");
}

/* ------------------------------------------------------------------ */
/* PUBACK, PUBREC, PUBREL, PUBCOMP                                    */
/* ------------------------------------------------------------------ */

static const uint8_t ack_pid5[] = { 0x00, 0x05 }; /* Packet Identifier 5 */

Test(codec_decode, puback_v311)
{
	struct rmq_packet p = decode_ok(0x40, ack_pid5, LEN(ack_pid5), RMQ_V311,
	    RMQ_FROM_CLIENT, "PUBACK 3.1.1");

	cr_assert_eq(p.ack.packet_id, 5);
	cr_assert_eq(p.ack.reason, 0);
	cr_assert_eq(p.ack.props.present, 0);
}

Test(codec_decode, pubrec_pubrel_pubcomp_v311)
{
	static const uint8_t firsts[] = { 0x50, 0x62, 0x70 };
	size_t i;

	for (i = 0; i < LEN(firsts); i++) {
		struct rmq_packet p = decode_ok(firsts[i], ack_pid5,
		    LEN(ack_pid5), RMQ_V311, RMQ_FROM_SERVER, "3.1.1 ack");

		cr_assert_eq(p.ack.packet_id, 5, "type %u", p.type);
		cr_assert_eq(p.ack.reason, 0, "type %u", p.type);
	}
}

/* 5.0 3.4.2.1: Remaining Length 2 means reason 0x00, no properties. */
Test(codec_decode, puback_v5_short_form_length_2)
{
	struct rmq_packet p = decode_ok(0x40, ack_pid5, LEN(ack_pid5), RMQ_V5,
	    RMQ_FROM_CLIENT, "PUBACK 5.0 short");

	cr_assert_eq(p.ack.packet_id, 5);
	cr_assert_eq(p.ack.reason, RMQ_RC_SUCCESS);
	cr_assert_eq(p.ack.props.present, 0);
	cr_assert_eq(p.ack.props.n_user, 0);
}

/* 5.0 3.4.2.2.1: "If the Remaining Length is less than 4 there is no
 * Property Length and the value of 0 is used." */
static const uint8_t puback_v5_len3[] = {
	0x00, 0x05, /* Packet Identifier 5 */
	0x10, /* reason: No matching subscribers */
};

Test(codec_decode, puback_v5_length_3_reason_only)
{
	struct rmq_packet p = decode_ok(0x40, puback_v5_len3,
	    LEN(puback_v5_len3), RMQ_V5, RMQ_FROM_SERVER, "PUBACK 5.0 len 3");

	cr_assert_eq(p.ack.packet_id, 5);
	cr_assert_eq(p.ack.reason, RMQ_RC_NO_MATCHING_SUBSCRIBERS);
	cr_assert_eq(p.ack.props.present, 0);
}

static const uint8_t puback_v5_full[] = {
	0x00, 0x05, /* Packet Identifier 5 */
	0x10, /* No matching subscribers */
	0x0C, /* Property Length 12 */
	0x1F, 0x00, 0x02, 'n', 'o', /*  Reason String "no" */
	0x26, 0x00, 0x01, 'k', 0x00, 0x01, 'v', /* User Property k=v */
};

Test(codec_decode, puback_v5_with_properties)
{
	struct rmq_packet p = decode_ok(0x40, puback_v5_full,
	    LEN(puback_v5_full), RMQ_V5, RMQ_FROM_SERVER, "PUBACK 5.0 props");
	struct rmq_prop up[2];

	cr_assert_eq(p.ack.reason, 0x10);
	cr_assert(RMQ_PROP_HAS(&p.ack.props, RMQ_PROP_REASON_STRING));
	assert_str(p.ack.props.reason_string, "no", "reason_string");
	cr_assert_eq(p.ack.props.n_user, 1);
	cr_assert_eq(user_props(&p.ack.props, up, 2), 1);
	assert_str(up[0].str, "k", "key");
	assert_str(up[0].val, "v", "value");
}

static const uint8_t pubrec_v5[] = {
	0x00, 0x06, /* Packet Identifier 6 */
	0x80, /* Unspecified error */
};

Test(codec_decode, pubrec_v5_error_reason)
{
	struct rmq_packet p = decode_ok(0x50, pubrec_v5, LEN(pubrec_v5), RMQ_V5,
	    RMQ_FROM_CLIENT, "PUBREC 5.0");

	cr_assert_eq(p.ack.packet_id, 6);
	cr_assert_eq(p.ack.reason, RMQ_RC_UNSPECIFIED_ERROR);
}

static const uint8_t pubrel_v5[] = {
	0x00, 0x07, /* Packet Identifier 7 */
	0x92, /* Packet Identifier not found */
	0x00, /* Property Length 0 */
};

Test(codec_decode, pubrel_v5_not_found)
{
	struct rmq_packet p = decode_ok(0x62, pubrel_v5, LEN(pubrel_v5), RMQ_V5,
	    RMQ_FROM_CLIENT, "PUBREL 5.0");

	cr_assert_eq(p.ack.packet_id, 7);
	cr_assert_eq(p.ack.reason, RMQ_RC_PACKET_ID_NOT_FOUND);
}

Test(codec_decode, pubcomp_v5_short_form)
{
	static const uint8_t b[] = { 0x00, 0x08 };
	struct rmq_packet p =
	    decode_ok(0x70, b, LEN(b), RMQ_V5, RMQ_FROM_SERVER, "PUBCOMP 5.0");

	cr_assert_eq(p.ack.packet_id, 8);
	cr_assert_eq(p.ack.reason, 0);
}

/* 3.4.2.1: 0x04 is no PUBACK reason code (it is DISCONNECT's). */
static const uint8_t puback_v5_reason4[] = { 0x00, 0x05, 0x04 };

Test(codec_decode, puback_v5_invalid_reason_0x04)
{
	expect_err(0x40, puback_v5_reason4, LEN(puback_v5_reason4), RMQ_V5,
	    RMQ_FROM_CLIENT, MALFORMED, "PUBACK reason 0x04");
}

/* 3.6.2.1: PUBREL allows only 0x00 and 0x92. */
static const uint8_t pubrel_v5_reason10[] = { 0x00, 0x05, 0x10 };

Test(codec_decode, pubrel_v5_invalid_reason_0x10)
{
	expect_err(0x62, pubrel_v5_reason10, LEN(pubrel_v5_reason10), RMQ_V5,
	    RMQ_FROM_CLIENT, MALFORMED, "PUBREL reason 0x10");
}

/* 3.1.1 [MQTT-3.6.1-1] / [MQTT-2.2.2-2]: PUBREL flags must be 0010. */
Test(codec_decode, pubrel_v311_reserved_flags_MQTT_3_6_1_1)
{
	expect_err(0x60, ack_pid5, LEN(ack_pid5), RMQ_V311, RMQ_FROM_CLIENT,
	    MALFORMED, "PUBREL flags 0000");
}

/* 5.0 [MQTT-2.1.3-1]: PUBACK flags must be 0000. */
Test(codec_decode, puback_v5_reserved_flags_MQTT_2_1_3_1)
{
	expect_err(0x42, ack_pid5, LEN(ack_pid5), RMQ_V5, RMQ_FROM_CLIENT,
	    MALFORMED, "PUBACK flags 0010");
}

/* 2.2.2.2: Topic Alias is not a PUBACK property. */
static const uint8_t puback_v5_bad_prop[] = {
	0x00, 0x05, 0x00, 0x03, 0x23, 0x00, 0x01, /* Topic Alias 1 */
};

Test(codec_decode, puback_v5_property_not_for_puback_2_2_2_2)
{
	expect_err(0x40, puback_v5_bad_prop, LEN(puback_v5_bad_prop), RMQ_V5,
	    RMQ_FROM_CLIENT, MALFORMED, "Topic Alias in PUBACK");
}

/* 3.1.1 3.4: PUBACK has Remaining Length 2 exactly. */
static const uint8_t puback_v311_trailing[] = { 0x00, 0x05, 0x00 };

Test(codec_decode, puback_v311_trailing_byte)
{
	expect_err(0x40, puback_v311_trailing, LEN(puback_v311_trailing),
	    RMQ_V311, RMQ_FROM_CLIENT, MALFORMED, "3.1.1 PUBACK length 3");
}

static const uint8_t puback_v5_trailing[] = {
	0x00, 0x05, 0x00, 0x00, /* pid, Success, Property Length 0 */
	0xFF, /* one byte after the properties */
};

Test(codec_decode, puback_v5_trailing_byte)
{
	expect_err(0x40, puback_v5_trailing, LEN(puback_v5_trailing), RMQ_V5,
	    RMQ_FROM_CLIENT, MALFORMED, "5.0 PUBACK trailing byte");
}

Test(codec_decode, puback_v5_truncated_packet_id)
{
	static const uint8_t b[] = { 0x00 };

	expect_err(0x40, b, LEN(b), RMQ_V5, RMQ_FROM_CLIENT, MALFORMED,
	    "PUBACK length 1");
}

/* ------------------------------------------------------------------ */
/* SUBSCRIBE                                                          */
/* ------------------------------------------------------------------ */

static const uint8_t subscribe_v311[] = {
	0x00, 0x0A, /* Packet Identifier 10 */
	0x00, 0x03, 'a', '/', '#', /* Topic Filter "a/#" */
	0x01, /*  QoS 1 */
	0x00, 0x03, 'b', '/', '+', /* Topic Filter "b/+" */
	0x02, /*  QoS 2 */
};

Test(codec_decode, subscribe_v311_two_filters)
{
	struct rmq_packet p = decode_ok(0x82, subscribe_v311,
	    LEN(subscribe_v311), RMQ_V311, RMQ_FROM_CLIENT, "SUBSCRIBE 3.1.1");
	const struct rmq_subscribe *s = &p.subscribe;
	struct rmq_sub_entry e;
	uint32_t off = 0;

	cr_assert_eq(s->packet_id, 10);
	cr_assert_eq(s->count, 2, "count %u", s->count);
	cr_assert_null(s->entries, "the decoder leaves entries NULL");
	cr_assert_eq(s->props.present, 0);

	cr_assert_eq(rmq_subscribe_next(s, RMQ_V311, &off, &e), 1);
	assert_str(e.filter, "a/#", "filter 0");
	cr_assert_eq(e.qos, 1);
	cr_assert_eq(e.no_local, 0);
	cr_assert_eq(e.retain_as_published, 0);
	cr_assert_eq(e.retain_handling, 0);
	cr_assert_eq(rmq_subscribe_next(s, RMQ_V311, &off, &e), 1);
	assert_str(e.filter, "b/+", "filter 1");
	cr_assert_eq(e.qos, 2);
	cr_assert_eq(rmq_subscribe_next(s, RMQ_V311, &off, &e), 0, "only two");
}

Test(codec_decode, subscribe_v31)
{
	struct rmq_packet p = decode_ok(0x82, subscribe_v311,
	    LEN(subscribe_v311), RMQ_V31, RMQ_FROM_CLIENT, "SUBSCRIBE 3.1");
	struct rmq_sub_entry e;
	uint32_t off = 0;

	cr_assert_eq(p.subscribe.count, 2);
	cr_assert_eq(rmq_subscribe_next(&p.subscribe, RMQ_V31, &off, &e), 1);
	assert_str(e.filter, "a/#", "filter 0");
	cr_assert_eq(e.qos, 1);
}

static const uint8_t subscribe_v5[] = {
	0x00, 0x0B, /* Packet Identifier 11 */
	0x09, /* Property Length 9 */
	0x0B, 0x07, /*  Subscription Identifier 7 */
	0x26, 0x00, 0x01, 'k', 0x00, 0x01, 'v', /* User Property k=v */
	0x00, 0x03, 'a', '/', '#', /* Topic Filter "a/#" */
	0x2D, /*  QoS 1, No Local, RAP, Retain Handling 2 */
	0x00, 0x03, 'b', '/', 'c', /* Topic Filter "b/c" */
	0x12, /*  QoS 2, Retain Handling 1 */
	0x00, 0x0A, '$', 's', 'h', 'a', 'r', 'e', '/', 'g', '/', 'x',
	0x00, /*  "$share/g/x": QoS 0, no options */
};

Test(codec_decode, subscribe_v5_options_and_properties)
{
	struct rmq_packet p = decode_ok(0x82, subscribe_v5, LEN(subscribe_v5),
	    RMQ_V5, RMQ_FROM_CLIENT, "SUBSCRIBE 5.0");
	const struct rmq_subscribe *s = &p.subscribe;
	struct rmq_sub_entry e;
	uint32_t off = 0;

	cr_assert_eq(s->packet_id, 11);
	cr_assert_eq(s->count, 3, "count %u", s->count);
	cr_assert(RMQ_PROP_HAS(&s->props, RMQ_PROP_SUBSCRIPTION_ID));
	cr_assert_eq(s->props.subid, 7);
	cr_assert_eq(s->props.n_subid, 1);
	cr_assert_eq(s->props.n_user, 1);

	cr_assert_eq(rmq_subscribe_next(s, RMQ_V5, &off, &e), 1);
	assert_str(e.filter, "a/#", "filter 0");
	cr_assert_eq(e.qos, 1);
	cr_assert_eq(e.no_local, 1);
	cr_assert_eq(e.retain_as_published, 1);
	cr_assert_eq(e.retain_handling, 2);

	cr_assert_eq(rmq_subscribe_next(s, RMQ_V5, &off, &e), 1);
	assert_str(e.filter, "b/c", "filter 1");
	cr_assert_eq(e.qos, 2);
	cr_assert_eq(e.no_local, 0);
	cr_assert_eq(e.retain_as_published, 0);
	cr_assert_eq(e.retain_handling, 1);

	cr_assert_eq(rmq_subscribe_next(s, RMQ_V5, &off, &e), 1);
	assert_str(e.filter, "$share/g/x", "filter 2");
	cr_assert_eq(e.qos, 0);
	cr_assert_eq(e.no_local, 0);

	cr_assert_eq(rmq_subscribe_next(s, RMQ_V5, &off, &e), 0, "only three");
}

/* 3.1.1 [MQTT-3.8.1-1] / [MQTT-2.2.2-2]: SUBSCRIBE flags must be 0010. */
Test(codec_decode, subscribe_v311_reserved_flags_MQTT_3_8_1_1)
{
	expect_err(0x80, subscribe_v311, LEN(subscribe_v311), RMQ_V311,
	    RMQ_FROM_CLIENT, MALFORMED, "SUBSCRIBE flags 0000");
}

/* 5.0 [MQTT-3.8.3-5]: reserved bits 7-6 of the Subscription Options. */
static const uint8_t subscribe_v5_reserved_bits[] = {
	0x00, 0x01, 0x00, 0x00, 0x01, 'a', 0x40, /* reserved bit 6 */
};

Test(codec_decode, subscribe_v5_reserved_option_bits_MQTT_3_8_3_5)
{
	expect_err(0x82, subscribe_v5_reserved_bits,
	    LEN(subscribe_v5_reserved_bits), RMQ_V5, RMQ_FROM_CLIENT, MALFORMED,
	    "option bit 6");
}

/* 3.1.1 [MQTT-3-8.3-4]: the upper 6 bits of the requested QoS byte are
 * reserved (0x04 is No Local in 5.0, reserved in 3.1.1). */
static const uint8_t subscribe_v311_upper_bits[] = {
	0x00, 0x01, 0x00, 0x01, 'a', 0x04, /* reserved bit 2 */
};

Test(codec_decode, subscribe_v311_reserved_qos_bits_MQTT_3_8_3_4)
{
	expect_err(0x82, subscribe_v311_upper_bits,
	    LEN(subscribe_v311_upper_bits), RMQ_V311, RMQ_FROM_CLIENT,
	    MALFORMED, "3.1.1 QoS byte 0x04");
}

/* 3.1.1 [MQTT-3-8.3-4]: requested QoS 3 is malformed. */
static const uint8_t subscribe_v311_qos3[] = {
	0x00, 0x01, 0x00, 0x01, 'a', 0x03, /* QoS 3 */
};

Test(codec_decode, subscribe_v311_qos3_MQTT_3_8_3_4)
{
	expect_err(0x82, subscribe_v311_qos3, LEN(subscribe_v311_qos3),
	    RMQ_V311, RMQ_FROM_CLIENT, MALFORMED, "3.1.1 subscribe QoS 3");
}

/* 5.0 3.8.3.1: "It is a Protocol Error if the Maximum QoS field has the
 * value 3."  The spec names Protocol Error (0x82) here, not Malformed
 * Packet, so this test expects 0x82 (3.1.1 calls the same bytes malformed,
 * see above). */
static const uint8_t subscribe_v5_qos3[] = {
	0x00, 0x01, 0x00, 0x00, 0x01, 'a', 0x03, /* Maximum QoS 3 */
};

Test(codec_decode, subscribe_v5_qos3_protocol_error_3_8_3_1)
{
	expect_err(0x82, subscribe_v5_qos3, LEN(subscribe_v5_qos3), RMQ_V5,
	    RMQ_FROM_CLIENT, PROTOCOL, "5.0 subscribe QoS 3");
}

/* 5.0 3.8.3.1: "It is a Protocol Error to send a Retain Handling value
 * of 3." */
static const uint8_t subscribe_v5_rh3[] = {
	0x00, 0x01, 0x00, 0x00, 0x01, 'a', 0x30, /* Retain Handling 3 */
};

Test(codec_decode, subscribe_v5_retain_handling_3)
{
	expect_err(0x82, subscribe_v5_rh3, LEN(subscribe_v5_rh3), RMQ_V5,
	    RMQ_FROM_CLIENT, PROTOCOL, "Retain Handling 3");
}

/* 5.0 [MQTT-3.8.3-4]: No Local on a Shared Subscription. */
static const uint8_t subscribe_v5_share_nolocal[] = {
	0x00, 0x01, 0x00, 0x00, 0x0A, '$', 's', 'h', 'a', 'r', 'e', '/', 'g',
	'/', 'a', 0x04, /* No Local */
};

Test(codec_decode, subscribe_v5_no_local_on_share_MQTT_3_8_3_4)
{
	expect_err(0x82, subscribe_v5_share_nolocal,
	    LEN(subscribe_v5_share_nolocal), RMQ_V5, RMQ_FROM_CLIENT, PROTOCOL,
	    "No Local on $share");
}

/* 3.1.1 [MQTT-3.8.3-3]: at least one Topic Filter. */
static const uint8_t subscribe_v311_empty[] = { 0x00, 0x01 };

Test(codec_decode, subscribe_v311_no_filter_MQTT_3_8_3_3)
{
	expect_err(0x82, subscribe_v311_empty, LEN(subscribe_v311_empty),
	    RMQ_V311, RMQ_FROM_CLIENT, PROTOCOL, "3.1.1 SUBSCRIBE no filter");
}

/* 5.0 [MQTT-3.8.3-2]: "A SUBSCRIBE packet with no Payload is a Protocol
 * Error." */
static const uint8_t subscribe_v5_empty[] = { 0x00, 0x01, 0x00 };

Test(codec_decode, subscribe_v5_no_filter_MQTT_3_8_3_2)
{
	expect_err(0x82, subscribe_v5_empty, LEN(subscribe_v5_empty), RMQ_V5,
	    RMQ_FROM_CLIENT, PROTOCOL, "5.0 SUBSCRIBE no filter");
}

/* 5.0 [MQTT-2.2.1-3]: SUBSCRIBE needs a non-zero Packet Identifier. */
static const uint8_t subscribe_pid0[] = {
	0x00,
	0x00, /* Packet Identifier 0 */
	0x00,
	0x01,
	'a',
	0x00,
};

Test(codec_decode, subscribe_packet_id_0_MQTT_2_2_1_3)
{
	expect_err(0x82, subscribe_pid0, LEN(subscribe_pid0), RMQ_V311,
	    RMQ_FROM_CLIENT, PROTOCOL, "SUBSCRIBE packet id 0");
}

/* 3.8.2.1.2: Subscription Identifier 0 is a Protocol Error. */
static const uint8_t subscribe_v5_subid0[] = {
	0x00,
	0x01,
	0x02,
	0x0B,
	0x00, /* Subscription Identifier 0 */
	0x00,
	0x01,
	'a',
	0x00,
};

Test(codec_decode, subscribe_v5_subscription_id_0)
{
	expect_err(0x82, subscribe_v5_subid0, LEN(subscribe_v5_subid0), RMQ_V5,
	    RMQ_FROM_CLIENT, PROTOCOL, "Subscription Identifier 0");
}

/* 3.8.2.1.2: "It is a Protocol Error to include the Subscription
 * Identifier more than once." */
static const uint8_t subscribe_v5_subid_twice[] = {
	0x00,
	0x01,
	0x04,
	0x0B,
	0x01,
	0x0B,
	0x02, /* Subscription Identifier 1, 2 */
	0x00,
	0x01,
	'a',
	0x00,
};

Test(codec_decode, subscribe_v5_subscription_id_twice)
{
	expect_err(0x82, subscribe_v5_subid_twice,
	    LEN(subscribe_v5_subid_twice), RMQ_V5, RMQ_FROM_CLIENT, PROTOCOL,
	    "Subscription Identifier twice");
}

/* [MQTT-1.5.4-1] (3.1.1 [MQTT-1.5.3-1]): C0 80 is an overlong U+0000. */
static const uint8_t subscribe_overlong[] = {
	0x00,
	0x01,
	0x00,
	0x02,
	0xC0,
	0x80, /* Topic Filter: overlong */
	0x00,
};

Test(codec_decode, subscribe_filter_overlong_utf8_MQTT_1_5_4_1)
{
	expect_err(0x82, subscribe_overlong, LEN(subscribe_overlong), RMQ_V311,
	    RMQ_FROM_CLIENT, MALFORMED, "overlong topic filter");
}

/* A Topic Filter without its Subscription Options byte. */
static const uint8_t subscribe_v5_no_options[] = {
	0x00,
	0x01,
	0x00,
	0x00,
	0x01,
	'a',
};

Test(codec_decode, subscribe_v5_missing_options_byte)
{
	expect_err(0x82, subscribe_v5_no_options, LEN(subscribe_v5_no_options),
	    RMQ_V5, RMQ_FROM_CLIENT, MALFORMED, "missing options byte");
}

/* ------------------------------------------------------------------ */
/* SUBACK                                                             */
/* ------------------------------------------------------------------ */

static const uint8_t suback_v311[] = {
	0x00, 0x0A, /* Packet Identifier 10 */
	0x01, 0x02, 0x80, /* QoS 1, QoS 2, Failure */
};

Test(codec_decode, suback_v311)
{
	struct rmq_packet p = decode_ok(0x90, suback_v311, LEN(suback_v311),
	    RMQ_V311, RMQ_FROM_SERVER, "SUBACK 3.1.1");

	cr_assert_eq(p.suback.packet_id, 10);
	cr_assert_eq(p.suback.count, 3);
	cr_assert_eq(p.suback.codes[0], 0x01);
	cr_assert_eq(p.suback.codes[1], 0x02);
	cr_assert_eq(p.suback.codes[2], RMQ_V3_SUBACK_FAILURE);
}

static const uint8_t suback_v5[] = {
	0x00, 0x0B, /* Packet Identifier 11 */
	0x05, /* Property Length 5 */
	0x1F, 0x00, 0x02, 'o', 'k', /* Reason String "ok" */
	0x00, 0x01, 0x02, 0x87, /* QoS 0, 1, 2, Not authorized */
};

Test(codec_decode, suback_v5)
{
	struct rmq_packet p = decode_ok(0x90, suback_v5, LEN(suback_v5), RMQ_V5,
	    RMQ_FROM_SERVER, "SUBACK 5.0");

	cr_assert_eq(p.suback.packet_id, 11);
	cr_assert_eq(p.suback.count, 4);
	cr_assert_eq(p.suback.codes[0], 0x00);
	cr_assert_eq(p.suback.codes[1], 0x01);
	cr_assert_eq(p.suback.codes[2], 0x02);
	cr_assert_eq(p.suback.codes[3], RMQ_RC_NOT_AUTHORIZED);
	assert_str(p.suback.props.reason_string, "ok", "reason_string");
}

/* 3.9.3: 0x10 is no SUBACK reason code. */
static const uint8_t suback_v5_bad[] = { 0x00, 0x01, 0x00, 0x10 };

Test(codec_decode, suback_v5_invalid_reason_code)
{
	expect_err(0x90, suback_v5_bad, LEN(suback_v5_bad), RMQ_V5,
	    RMQ_FROM_SERVER, MALFORMED, "SUBACK 0x10");
}

/* 3.1.1 [MQTT-3.9.3-2]: return codes other than 0, 1, 2, 0x80 are
 * reserved. */
static const uint8_t suback_v311_bad[] = { 0x00, 0x01, 0x03 };

Test(codec_decode, suback_v311_reserved_code_MQTT_3_9_3_2)
{
	expect_err(0x90, suback_v311_bad, LEN(suback_v311_bad), RMQ_V311,
	    RMQ_FROM_SERVER, MALFORMED, "SUBACK 0x03");
}

/* ------------------------------------------------------------------ */
/* UNSUBSCRIBE, UNSUBACK                                              */
/* ------------------------------------------------------------------ */

static const uint8_t unsubscribe_v311[] = {
	0x00, 0x0C, /* Packet Identifier 12 */
	0x00, 0x03, 'a', '/', 'b', /* Topic Filter "a/b" */
	0x00, 0x01, '#', /* Topic Filter "#" */
};

Test(codec_decode, unsubscribe_v311)
{
	struct rmq_packet p = decode_ok(0xA2, unsubscribe_v311,
	    LEN(unsubscribe_v311), RMQ_V311, RMQ_FROM_CLIENT, "UNSUBSCRIBE");
	const struct rmq_unsubscribe *u = &p.unsubscribe;
	struct rmq_str f;
	uint32_t off = 0;

	cr_assert_eq(u->packet_id, 12);
	cr_assert_eq(u->count, 2);
	cr_assert_null(u->filters, "the decoder leaves filters NULL");
	cr_assert_eq(rmq_unsubscribe_next(u, &off, &f), 1);
	assert_str(f, "a/b", "filter 0");
	cr_assert_eq(rmq_unsubscribe_next(u, &off, &f), 1);
	assert_str(f, "#", "filter 1");
	cr_assert_eq(rmq_unsubscribe_next(u, &off, &f), 0, "only two");
}

static const uint8_t unsubscribe_v5[] = {
	0x00, 0x0C, /* Packet Identifier 12 */
	0x07, /* Property Length 7 */
	0x26, 0x00, 0x01, 'k', 0x00, 0x01, 'v', /* User Property */
	0x00, 0x03, 'a', '/', 'b', /* Topic Filter */
};

Test(codec_decode, unsubscribe_v5)
{
	struct rmq_packet p = decode_ok(0xA2, unsubscribe_v5,
	    LEN(unsubscribe_v5), RMQ_V5, RMQ_FROM_CLIENT, "UNSUBSCRIBE 5.0");
	struct rmq_str f;
	uint32_t off = 0;

	cr_assert_eq(p.unsubscribe.packet_id, 12);
	cr_assert_eq(p.unsubscribe.count, 1);
	cr_assert_eq(p.unsubscribe.props.n_user, 1);
	cr_assert_eq(rmq_unsubscribe_next(&p.unsubscribe, &off, &f), 1);
	assert_str(f, "a/b", "filter 0");
	cr_assert_eq(rmq_unsubscribe_next(&p.unsubscribe, &off, &f), 0);
}

/* 5.0 [MQTT-2.1.3-1]: UNSUBSCRIBE flags must be 0010. */
Test(codec_decode, unsubscribe_v5_reserved_flags_MQTT_2_1_3_1)
{
	expect_err(0xA0, unsubscribe_v5, LEN(unsubscribe_v5), RMQ_V5,
	    RMQ_FROM_CLIENT, MALFORMED, "UNSUBSCRIBE flags 0000");
}

/* [MQTT-3.10.3-2] (3.1.1 and 5.0): at least one Topic Filter. */
static const uint8_t unsubscribe_v311_empty[] = { 0x00, 0x01 };
static const uint8_t unsubscribe_v5_empty[] = { 0x00, 0x01, 0x00 };

Test(codec_decode, unsubscribe_v311_no_filter_MQTT_3_10_3_2)
{
	expect_err(0xA2, unsubscribe_v311_empty, LEN(unsubscribe_v311_empty),
	    RMQ_V311, RMQ_FROM_CLIENT, PROTOCOL, "3.1.1 UNSUBSCRIBE empty");
}

Test(codec_decode, unsubscribe_v5_no_filter_MQTT_3_10_3_2)
{
	expect_err(0xA2, unsubscribe_v5_empty, LEN(unsubscribe_v5_empty),
	    RMQ_V5, RMQ_FROM_CLIENT, PROTOCOL, "5.0 UNSUBSCRIBE empty");
}

/* [MQTT-4.7.3-1]: a Topic Filter is at least one character, in
 * UNSUBSCRIBE too (whose 3.1.1 acknowledgement cannot refuse one). */
static const uint8_t unsubscribe_empty_filter[] = { 0x00, 0x01, 0x00, 0x01, 'a',
	0x00, 0x00 };

Test(codec_decode, unsubscribe_empty_filter_MQTT_4_7_3_1)
{
	expect_err(0xA2, unsubscribe_empty_filter,
	    LEN(unsubscribe_empty_filter), RMQ_V311, RMQ_FROM_CLIENT, PROTOCOL,
	    "UNSUBSCRIBE with an empty filter");
}

/* [MQTT-2.2.1-3]: UNSUBSCRIBE needs a non-zero Packet Identifier. */
static const uint8_t unsubscribe_pid0[] = {
	0x00,
	0x00,
	0x00,
	0x01,
	'a',
};

Test(codec_decode, unsubscribe_packet_id_0_MQTT_2_2_1_3)
{
	expect_err(0xA2, unsubscribe_pid0, LEN(unsubscribe_pid0), RMQ_V311,
	    RMQ_FROM_CLIENT, PROTOCOL, "UNSUBSCRIBE packet id 0");
}

/* 3.1.1 UNSUBACK: Packet Identifier only, no return codes. */
static const uint8_t unsuback_v311[] = { 0x00, 0x0C };

Test(codec_decode, unsuback_v311_no_codes)
{
	struct rmq_packet p = decode_ok(0xB0, unsuback_v311, LEN(unsuback_v311),
	    RMQ_V311, RMQ_FROM_SERVER, "UNSUBACK 3.1.1");

	cr_assert_eq(p.suback.packet_id, 12);
	cr_assert_eq(p.suback.count, 0, "3.1.1 UNSUBACK has no codes");
}

static const uint8_t unsuback_v5[] = {
	0x00, 0x0C, /* Packet Identifier 12 */
	0x00, /* Property Length 0 */
	0x00, 0x11, /* Success, No subscription existed */
};

Test(codec_decode, unsuback_v5)
{
	struct rmq_packet p = decode_ok(0xB0, unsuback_v5, LEN(unsuback_v5),
	    RMQ_V5, RMQ_FROM_SERVER, "UNSUBACK 5.0");

	cr_assert_eq(p.suback.packet_id, 12);
	cr_assert_eq(p.suback.count, 2);
	cr_assert_eq(p.suback.codes[0], 0x00);
	cr_assert_eq(p.suback.codes[1], RMQ_RC_NO_SUBSCRIPTION_EXISTED);
}

static const uint8_t unsuback_v311_trailing[] = { 0x00, 0x0C, 0x00 };

Test(codec_decode, unsuback_v311_trailing_byte)
{
	expect_err(0xB0, unsuback_v311_trailing, LEN(unsuback_v311_trailing),
	    RMQ_V311, RMQ_FROM_SERVER, MALFORMED, "3.1.1 UNSUBACK length 3");
}

/* 3.11.3: 0x01 is no UNSUBACK reason code. */
static const uint8_t unsuback_v5_bad[] = { 0x00, 0x0C, 0x00, 0x01 };

Test(codec_decode, unsuback_v5_invalid_reason_code)
{
	expect_err(0xB0, unsuback_v5_bad, LEN(unsuback_v5_bad), RMQ_V5,
	    RMQ_FROM_SERVER, MALFORMED, "UNSUBACK 0x01");
}

/* ------------------------------------------------------------------ */
/* PINGREQ, PINGRESP, DISCONNECT, AUTH                                */
/* ------------------------------------------------------------------ */

Test(codec_decode, pingreq_pingresp)
{
	struct rmq_packet p;

	p = decode_ok(0xC0, no_body, 0, RMQ_V311, RMQ_FROM_CLIENT, "PINGREQ");
	cr_assert_eq(p.type, RMQ_PINGREQ);
	p = decode_ok(0xD0, no_body, 0, RMQ_V5, RMQ_FROM_SERVER, "PINGRESP");
	cr_assert_eq(p.type, RMQ_PINGRESP);
}

/* 5.0 [MQTT-2.1.3-1]: PINGREQ flags must be 0000. */
Test(codec_decode, pingreq_reserved_flags_MQTT_2_1_3_1)
{
	expect_err(0xC1, no_body, 0, RMQ_V5, RMQ_FROM_CLIENT, MALFORMED,
	    "PINGREQ flags 0001");
}

/* 3.12: PINGREQ has no variable header and no payload. */
Test(codec_decode, pingreq_with_body)
{
	static const uint8_t b[] = { 0x00 };

	expect_err(0xC0, b, LEN(b), RMQ_V311, RMQ_FROM_CLIENT, MALFORMED,
	    "PINGREQ length 1");
}

Test(codec_decode, disconnect_v311)
{
	struct rmq_packet p = decode_ok(0xE0, no_body, 0, RMQ_V311,
	    RMQ_FROM_CLIENT, "DISCONNECT 3.1.1");

	cr_assert_eq(p.disconnect.reason, 0);
	cr_assert_eq(p.disconnect.props.present, 0);
}

/* 5.0 3.14.2.1: Remaining Length 0 means Normal disconnection. */
Test(codec_decode, disconnect_v5_length_0)
{
	struct rmq_packet p = decode_ok(0xE0, no_body, 0, RMQ_V5,
	    RMQ_FROM_CLIENT, "DISCONNECT 5.0 short");

	cr_assert_eq(p.disconnect.reason, RMQ_RC_SUCCESS);
	cr_assert_eq(p.disconnect.props.present, 0);
}

/* 5.0 3.14.2.2.1: "If the Remaining Length is less than 2, a value of 0
 * is used" for the Property Length. */
Test(codec_decode, disconnect_v5_length_1_from_server)
{
	static const uint8_t b[] = { 0x8E }; /* Session taken over */
	struct rmq_packet p = decode_ok(0xE0, b, LEN(b), RMQ_V5,
	    RMQ_FROM_SERVER, "DISCONNECT 0x8E");

	cr_assert_eq(p.disconnect.reason, RMQ_RC_SESSION_TAKEN_OVER);
	cr_assert_eq(p.disconnect.props.present, 0);
}

static const uint8_t disconnect_v5_will[] = {
	0x04, /* Disconnect with Will Message */
	0x05, /* Property Length 5 */
	0x11, 0x00, 0x00, 0x00, 0x00, /*  Session Expiry 0 */
};

Test(codec_decode, disconnect_v5_with_will_and_session_expiry)
{
	struct rmq_packet p =
	    decode_ok(0xE0, disconnect_v5_will, LEN(disconnect_v5_will), RMQ_V5,
		RMQ_FROM_CLIENT, "DISCONNECT 0x04");

	cr_assert_eq(p.disconnect.reason, RMQ_RC_DISCONNECT_WITH_WILL);
	cr_assert(RMQ_PROP_HAS(&p.disconnect.props, RMQ_PROP_SESSION_EXPIRY));
	cr_assert_eq(p.disconnect.props.session_expiry, 0);
}

/* 3.14.2.1: 0x01 is no DISCONNECT reason code. */
Test(codec_decode, disconnect_v5_invalid_reason_code)
{
	static const uint8_t b[] = { 0x01 };

	expect_err(0xE0, b, LEN(b), RMQ_V5, RMQ_FROM_CLIENT, MALFORMED,
	    "DISCONNECT 0x01");
}

/* 5.0 [MQTT-3.14.2-2]: the Server must not send a Session Expiry
 * Interval in DISCONNECT. */
static const uint8_t disconnect_v5_server_expiry[] = {
	0x00,
	0x05,
	0x11,
	0x00,
	0x00,
	0x00,
	0x0A,
};

Test(codec_decode, disconnect_v5_session_expiry_from_server_MQTT_3_14_2_2)
{
	expect_err(0xE0, disconnect_v5_server_expiry,
	    LEN(disconnect_v5_server_expiry), RMQ_V5, RMQ_FROM_SERVER, PROTOCOL,
	    "server DISCONNECT with Session Expiry");
}

static const uint8_t auth_v5[] = {
	0x18, /* Continue authentication */
	0x0D, /* Property Length 13 */
	0x15, 0x00, 0x05, 'S', 'C', 'R', 'A', 'M', /* Authentication Method */
	0x16, 0x00, 0x02, 0x01, 0x02, /* Authentication Data */
};

Test(codec_decode, auth_v5)
{
	static const uint8_t data[] = { 0x01, 0x02 };
	struct rmq_packet p = decode_ok(0xF0, auth_v5, LEN(auth_v5), RMQ_V5,
	    RMQ_FROM_CLIENT, "AUTH");

	cr_assert_eq(p.auth.reason, RMQ_RC_CONTINUE_AUTHENTICATION);
	cr_assert(RMQ_PROP_HAS(&p.auth.props, RMQ_PROP_AUTH_METHOD));
	assert_str(p.auth.props.auth_method, "SCRAM", "auth_method");
	cr_assert(RMQ_PROP_HAS(&p.auth.props, RMQ_PROP_AUTH_DATA));
	assert_bin(p.auth.props.auth_data, data, sizeof data, "auth_data");
}

/* 5.0 3.15.2.1: "The Reason Code and Property Length can be omitted if
 * the Reason Code is 0x00 (Success) and there are no Properties. In this
 * case the AUTH has a Remaining Length of 0." */
Test(codec_decode, auth_v5_length_0)
{
	struct rmq_packet p =
	    decode_ok(0xF0, no_body, 0, RMQ_V5, RMQ_FROM_SERVER, "AUTH short");

	cr_assert_eq(p.auth.reason, RMQ_RC_SUCCESS);
	cr_assert_eq(p.auth.props.present, 0);
}

/* 3.15.2.2.2: "It is a Protocol Error to omit the Authentication Method"
 * once the Reason Code and properties are present. */
Test(codec_decode, auth_v5_without_method)
{
	static const uint8_t b[] = {
		0x18, /* Continue authentication */
		0x05, 0x16, 0x00, 0x02, 0x01, 0x02, /* Authentication Data */
	};

	expect_err(0xF0, b, LEN(b), RMQ_V5, RMQ_FROM_CLIENT, PROTOCOL,
	    "AUTH without Authentication Method");
}

/* 3.15.2.1: AUTH allows 0x00, 0x18, 0x19 only. */
Test(codec_decode, auth_v5_invalid_reason_code)
{
	static const uint8_t b[] = { 0x01, 0x00 };

	expect_err(0xF0, b, LEN(b), RMQ_V5, RMQ_FROM_CLIENT, MALFORMED,
	    "AUTH 0x01");
}

/* 3.1.1 2.2.1: type 15 is "Reserved, Forbidden". */
Test(codec_decode, auth_in_v311_is_reserved_type)
{
	expect_err(0xF0, no_body, 0, RMQ_V311, RMQ_FROM_CLIENT, MALFORMED,
	    "AUTH in 3.1.1");
}

/* Type 0 is reserved in every version. */
Test(codec_decode, reserved_type_0)
{
	expect_err(0x00, no_body, 0, RMQ_V5, RMQ_FROM_CLIENT, MALFORMED,
	    "type 0, 5.0");
	expect_err(0x00, no_body, 0, RMQ_V311, RMQ_FROM_CLIENT, MALFORMED,
	    "type 0, 3.1.1");
}

/* ------------------------------------------------------------------ */
/* packets sent the wrong way (spec 2.1.2 table 2-1 directions)       */
/* ------------------------------------------------------------------ */

Test(codec_decode, connack_from_client_is_protocol_error)
{
	expect_err(0x20, connack_v311, LEN(connack_v311), RMQ_V311,
	    RMQ_FROM_CLIENT, PROTOCOL, "server receives CONNACK");
}

Test(codec_decode, suback_from_client_is_protocol_error)
{
	expect_err(0x90, suback_v5, LEN(suback_v5), RMQ_V5, RMQ_FROM_CLIENT,
	    PROTOCOL, "server receives SUBACK");
}

Test(codec_decode, subscribe_from_server_is_protocol_error)
{
	expect_err(0x82, subscribe_v311, LEN(subscribe_v311), RMQ_V311,
	    RMQ_FROM_SERVER, PROTOCOL, "client receives SUBSCRIBE");
}

Test(codec_decode, connect_from_server_is_protocol_error)
{
	expect_err(0x10, connect_v311_min, LEN(connect_v311_min), RMQ_V311,
	    RMQ_FROM_SERVER, PROTOCOL, "client receives CONNECT");
}

Test(codec_decode, pingresp_from_client_is_protocol_error)
{
	expect_err(0xD0, no_body, 0, RMQ_V311, RMQ_FROM_CLIENT, PROTOCOL,
	    "server receives PINGRESP");
}

/* ------------------------------------------------------------------ */
/* rmq_decoder_next: stream state and framing                         */
/* ------------------------------------------------------------------ */

/* A whole 3.1.1 CONNECT: fixed header, remaining length 15, body. */
static const uint8_t wire_connect_v311[] = {
	0x10,
	0x0F,
	0x00,
	0x04,
	'M',
	'Q',
	'T',
	'T',
	0x04,
	0x02,
	0x00,
	0x3C,
	0x00,
	0x03,
	'c',
	'i',
	'd',
};

/* A whole QoS 0 PUBLISH: topic "a/b", payload "hi". */
static const uint8_t wire_publish[] = {
	0x30,
	0x07,
	0x00,
	0x03,
	'a',
	'/',
	'b',
	'h',
	'i',
};

Test(codec_decode, decoder_connect_then_publish)
{
	struct rmq_decoder d;
	struct rmq_packet p;
	struct rmq_codec_err err = { 0, NULL };
	size_t used;
	int rc;

	rmq_decoder_init(&d, RMQ_FROM_CLIENT, 0, 0);
	rc = feed(&d, wire_connect_v311, LEN(wire_connect_v311), &p, &err,
	    &used);
	cr_assert_eq(rc, 1, "CONNECT: rc %d (0x%02x %s)", rc, err.reason,
	    err.msg ? err.msg : "");
	cr_assert_eq(used, LEN(wire_connect_v311));
	cr_assert_eq(p.type, RMQ_CONNECT);
	assert_str(p.connect.client_id, "cid", "client_id");
	cr_assert_eq(d.version, RMQ_V311, "version learnt from CONNECT: %u",
	    d.version);

	rc = feed(&d, wire_publish, LEN(wire_publish), &p, &err, &used);
	cr_assert_eq(rc, 1, "PUBLISH: rc %d (0x%02x %s)", rc, err.reason,
	    err.msg ? err.msg : "");
	cr_assert_eq(p.type, RMQ_PUBLISH);
	assert_str(p.publish.topic, "a/b", "topic");
	assert_str(p.publish.payload, "hi", "payload");
	rmq_decoder_fini(&d);
}

/* A CONNECT split into one-byte chunks is gathered and decoded. */
Test(codec_decode, decoder_connect_byte_by_byte)
{
	struct rmq_decoder d;
	struct rmq_packet p;
	struct rmq_codec_err err = { 0, NULL };
	size_t i;
	int rc = 0;

	rmq_decoder_init(&d, RMQ_FROM_CLIENT, 0, 0);
	for (i = 0; i < LEN(wire_connect_v311); i++) {
		size_t used = 0;

		rc = rmq_decoder_next(&d, wire_connect_v311 + i, 1, &used, &p,
		    &err);
		cr_assert_eq(used, 1, "byte %zu: used %zu", i, used);
		if (i + 1 < LEN(wire_connect_v311))
			cr_assert_eq(rc, 0, "byte %zu: rc %d before the end", i,
			    rc);
	}
	cr_assert_eq(rc, 1, "rc %d (0x%02x %s)", rc, err.reason,
	    err.msg ? err.msg : "");
	assert_str(p.connect.client_id, "cid", "client_id");
	rmq_decoder_fini(&d);
}

/* [MQTT-3.1.0-1]: the first packet from a client must be CONNECT. */
Test(codec_decode, decoder_first_packet_not_connect_MQTT_3_1_0_1)
{
	struct rmq_decoder d;
	struct rmq_packet p;
	struct rmq_codec_err err = { 0, NULL };
	size_t used;
	int rc;

	rmq_decoder_init(&d, RMQ_FROM_CLIENT, 0, 0);
	rc = feed(&d, wire_publish, LEN(wire_publish), &p, &err, &used);
	cr_assert_eq(rc, -EPROTO, "PUBLISH before CONNECT: rc %d", rc);
	cr_assert_eq(err.reason, PROTOCOL, "reason 0x%02x (%s)", err.reason,
	    err.msg ? err.msg : "");
	rmq_decoder_fini(&d);
}

/* [MQTT-3.1.0-2]: a second CONNECT is a Protocol Error. */
Test(codec_decode, decoder_second_connect_MQTT_3_1_0_2)
{
	struct rmq_decoder d;
	struct rmq_packet p;
	struct rmq_codec_err err = { 0, NULL };
	size_t used;
	int rc;

	rmq_decoder_init(&d, RMQ_FROM_CLIENT, 0, 0);
	rc = feed(&d, wire_connect_v311, LEN(wire_connect_v311), &p, &err,
	    &used);
	cr_assert_eq(rc, 1, "first CONNECT: rc %d", rc);
	rc = feed(&d, wire_connect_v311, LEN(wire_connect_v311), &p, &err,
	    &used);
	cr_assert_eq(rc, -EPROTO, "second CONNECT: rc %d", rc);
	cr_assert_eq(err.reason, PROTOCOL, "reason 0x%02x (%s)", err.reason,
	    err.msg ? err.msg : "");
	rmq_decoder_fini(&d);
}

/* 1.5.5: a Variable Byte Integer takes at most four bytes; this Remaining
 * Length has a fifth. */
static const uint8_t wire_len_5_bytes[] = {
	0x30,
	0xFF,
	0xFF,
	0xFF,
	0xFF,
	0x01,
};

Test(codec_decode, decoder_remaining_length_5_bytes)
{
	struct rmq_decoder d;
	struct rmq_packet p;
	struct rmq_codec_err err = { 0, NULL };
	size_t used;
	int rc;

	rmq_decoder_init(&d, RMQ_FROM_CLIENT, 0, 0);
	rc = feed(&d, wire_connect_v311, LEN(wire_connect_v311), &p, &err,
	    &used);
	cr_assert_eq(rc, 1, "CONNECT: rc %d", rc);
	rc = feed(&d, wire_len_5_bytes, LEN(wire_len_5_bytes), &p, &err, &used);
	cr_assert_eq(rc, -EPROTO, "5-byte length: rc %d", rc);
	cr_assert_eq(err.reason, MALFORMED, "reason 0x%02x (%s)", err.reason,
	    err.msg ? err.msg : "");
	rmq_decoder_fini(&d);
}

/* A header announcing 200 body bytes is refused with 0x95 as soon as the
 * header is read, before any of the body arrives. */
static const uint8_t wire_publish_200_header[] = {
	0x32, 0xC8, 0x01, /* PUBLISH QoS 1, remaining length 200 */
};

Test(codec_decode, decoder_packet_too_large_before_body)
{
	struct rmq_decoder d;
	struct rmq_packet p;
	struct rmq_codec_err err = { 0, NULL };
	size_t used;
	int rc;

	rmq_decoder_init(&d, RMQ_FROM_CLIENT, 0, 64);
	rc = feed(&d, wire_connect_v311, LEN(wire_connect_v311), &p, &err,
	    &used);
	cr_assert_eq(rc, 1, "CONNECT: rc %d", rc);
	rc = feed(&d, wire_publish_200_header, LEN(wire_publish_200_header), &p,
	    &err, &used);
	cr_assert_eq(rc, -EPROTO, "oversized header: rc %d", rc);
	cr_assert_eq(err.reason, TOO_LARGE, "reason 0x%02x (%s)", err.reason,
	    err.msg ? err.msg : "");
	rmq_decoder_fini(&d);
}

/* max_packet counts the whole packet: one exactly that size passes, one
 * byte more is refused. */
Test(codec_decode, decoder_max_packet_boundary)
{
	struct rmq_decoder d;
	struct rmq_packet p;
	struct rmq_codec_err err = { 0, NULL };
	static const uint8_t big_header[] = { 0x30, 0x10 }; /* 2 + 16 bytes */
	size_t used;
	int rc;

	rmq_decoder_init(&d, RMQ_FROM_CLIENT, 0, LEN(wire_connect_v311));
	rc = feed(&d, wire_connect_v311, LEN(wire_connect_v311), &p, &err,
	    &used);
	cr_assert_eq(rc, 1,
	    "CONNECT of exactly max_packet bytes: rc %d (0x%02x)", rc,
	    err.reason);
	rc = feed(&d, big_header, LEN(big_header), &p, &err, &used);
	cr_assert_eq(rc, -EPROTO, "18-byte packet over a 17-byte limit: rc %d",
	    rc);
	cr_assert_eq(err.reason, TOO_LARGE, "reason 0x%02x", err.reason);
	rmq_decoder_fini(&d);
}

/* Client side: the version is given and no CONNECT is expected. */
static const uint8_t wire_connack_v5[] = {
	0x20, 0x03, 0x00, 0x00, 0x00, /* CONNACK Success, no properties */
};

Test(codec_decode, decoder_client_side_connack)
{
	struct rmq_decoder d;
	struct rmq_packet p;
	struct rmq_codec_err err = { 0, NULL };
	size_t used;
	int rc;

	rmq_decoder_init(&d, RMQ_FROM_SERVER, RMQ_V5, 0);
	rc = feed(&d, wire_connack_v5, LEN(wire_connack_v5), &p, &err, &used);
	cr_assert_eq(rc, 1, "CONNACK: rc %d (0x%02x %s)", rc, err.reason,
	    err.msg ? err.msg : "");
	cr_assert_eq(p.type, RMQ_CONNACK);
	cr_assert_eq(p.connack.reason, 0);
	rmq_decoder_fini(&d);
}

/* A whole 5.0 CONNECT: remaining length 14, no properties, Client Id "c". */
static const uint8_t wire_connect_v5[] = {
	0x10,
	0x0E,
	0x00,
	0x04,
	'M',
	'Q',
	'T',
	'T',
	0x05,
	0x02,
	0x00,
	0x3C,
	0x00, /* Property Length 0 */
	0x00,
	0x01,
	'c',
};

/* PINGREQ whose Remaining Length 0 takes two bytes (80 00). */
static const uint8_t wire_pingreq_long_len[] = { 0xC0, 0x80, 0x00 };

/* 5.0 [MQTT-1.5.5-1]: "The encoded value MUST use the minimum number of
 * bytes necessary to represent the value"; once the CONNECT has said 5.0,
 * a longer Remaining Length is malformed. */
Test(codec_decode, decoder_v5_non_minimal_length_MQTT_1_5_5_1)
{
	struct rmq_decoder d;
	struct rmq_packet p;
	struct rmq_codec_err err = { 0, NULL };
	size_t used;
	int rc;

	rmq_decoder_init(&d, RMQ_FROM_CLIENT, 0, 0);
	rc = feed(&d, wire_connect_v5, LEN(wire_connect_v5), &p, &err, &used);
	cr_assert_eq(rc, 1, "CONNECT 5.0: rc %d (0x%02x %s)", rc, err.reason,
	    err.msg ? err.msg : "");
	cr_assert_eq(d.version, RMQ_V5);
	rc = feed(&d, wire_pingreq_long_len, LEN(wire_pingreq_long_len), &p,
	    &err, &used);
	cr_assert_eq(rc, -EPROTO, "non-minimal length: rc %d", rc);
	cr_assert_eq(err.reason, MALFORMED, "reason 0x%02x (%s)", err.reason,
	    err.msg ? err.msg : "");
	rmq_decoder_fini(&d);
}

/* ---- 3.1 leniency, and checks added after review ---- */

Test(codec_decode, v31_resent_subscribe_and_pubrel_may_carry_dup)
{
	/* 3.1 2.1: DUP "is set when the client or server attempts to
	 * re-deliver a PUBLISH, PUBREL, SUBSCRIBE or UNSUBSCRIBE"; fixed
	 * header flags became packet-specific only in 3.1.1. */
	static const uint8_t sub[] = { 0x00, 0x01, 0x00, 0x01, 'a', 0x41 };
	struct rmq_packet p;
	struct rmq_codec_err err = { 0 };
	cr_assert_eq(rmq_codec_decode(0x8A, sub, sizeof(sub), RMQ_V31,
			 RMQ_FROM_CLIENT, &p, &err),
	    0, "%s", err.msg);
	cr_assert_eq(p.subscribe.count, 1);
	static const uint8_t rel[] = { 0x00, 0x07 };
	cr_assert_eq(rmq_codec_decode(0x6A, rel, sizeof(rel), RMQ_V31,
			 RMQ_FROM_CLIENT, &p, &err),
	    0);
	/* The same bytes are malformed in 3.1.1 [MQTT-2.2.2-2]. */
	cr_assert_eq(rmq_codec_decode(0x8A, sub, sizeof(sub), RMQ_V311,
			 RMQ_FROM_CLIENT, &p, &err),
	    -EPROTO);
	cr_assert_eq(err.reason, RMQ_RC_MALFORMED_PACKET);
	/* 3.1 had no rule against DUP on QoS 0. */
	static const uint8_t pub[] = { 0x00, 0x01, 't', 'x' };
	cr_assert_eq(rmq_codec_decode(0x38, pub, sizeof(pub), RMQ_V31,
			 RMQ_FROM_CLIENT, &p, &err),
	    0);
}

Test(codec_decode, v5_connect_remaining_length_must_be_minimal)
{
	/* [MQTT-1.5.5-1]: the CONNECT's own Remaining Length is checked
	 * once its level is known.  Body of 13 bytes sent as 8D 00. */
	static const uint8_t c[] = { 0x10, 0x8D, 0x00, 0x00, 0x04, 'M', 'Q',
		'T', 'T', 0x05, 0x02, 0x00, 0x3C, 0x00, 0x00, 0x00 };
	struct rmq_decoder d;
	struct rmq_packet p;
	struct rmq_codec_err err = { 0 };
	size_t used;
	rmq_decoder_init(&d, RMQ_FROM_CLIENT, 0, 0);
	cr_assert_eq(rmq_decoder_next(&d, c, sizeof(c), &used, &p, &err),
	    -EPROTO);
	cr_assert_eq(err.reason, RMQ_RC_MALFORMED_PACKET);
	rmq_decoder_fini(&d);
	/* A 3.1.1 CONNECT with the same padded length is accepted: 3.1.1
	 * has no such rule. */
	rmq_decoder_init(&d, RMQ_FROM_CLIENT, 0, 0);
	static const uint8_t c311[] = { 0x10, 0x8C, 0x00, 0x00, 0x04, 'M', 'Q',
		'T', 'T', 0x04, 0x02, 0x00, 0x3C, 0x00, 0x00 };
	cr_assert_eq(rmq_decoder_next(&d, c311, sizeof(c311), &used, &p, &err),
	    1, "%s", err.msg);
	rmq_decoder_fini(&d);
}

Test(codec_decode, connack_auth_data_needs_method)
{
	/* 3.2.2.3.17: Authentication Data without Authentication Method is
	 * a Protocol Error. */
	static const uint8_t b[] = { 0x00, 0x00, 0x04, 0x16, 0x00, 0x01, 'x' };
	struct rmq_packet p;
	struct rmq_codec_err err = { 0 };
	cr_assert_eq(rmq_codec_decode(0x20, b, sizeof(b), RMQ_V5,
			 RMQ_FROM_SERVER, &p, &err),
	    -EPROTO);
	cr_assert_eq(err.reason, RMQ_RC_PROTOCOL_ERROR);
}

Test(codec_decode, disconnect_with_will_only_from_client)
{
	/* 3.14.2.1: 0x04 Disconnect with Will Message is sent by a client. */
	static const uint8_t b[] = { 0x04 };
	struct rmq_packet p;
	struct rmq_codec_err err = { 0 };
	cr_assert_eq(rmq_codec_decode(0xE0, b, 1, RMQ_V5, RMQ_FROM_CLIENT, &p,
			 &err),
	    0);
	cr_assert_eq(rmq_codec_decode(0xE0, b, 1, RMQ_V5, RMQ_FROM_SERVER, &p,
			 &err),
	    -EPROTO);
	cr_assert_eq(err.reason, RMQ_RC_PROTOCOL_ERROR);
}
