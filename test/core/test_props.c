/* test/core/test_props.c: tests core/props.c, the MQTT 5.0 property table
 * (spec 2.2.2.2) and the parsing and encoding of property blocks.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>

#include "codec.h"
#include "props.h"
#include "rmq_test.h"

TestSuite(props);

static int
decode(const uint8_t *p, size_t n, unsigned where, int from_server,
    struct rmq_props *out, struct rmq_codec_err *err)
{
	return rmq_props_decode(p, n, where, from_server, out, err);
}

Test(props, table_types_and_names)
{
	/* Spec 2.2.2.2, table 2-4: identifier, name, type. */
	static const struct {
		unsigned id;
		enum rmq_prop_type type;
		const char *name;
	} t[] = {
		{ 0x01, RMQ_PT_BYTE, "Payload Format Indicator" },
		{ 0x02, RMQ_PT_U32, "Message Expiry Interval" },
		{ 0x03, RMQ_PT_STRING, "Content Type" },
		{ 0x08, RMQ_PT_STRING, "Response Topic" },
		{ 0x09, RMQ_PT_BINARY, "Correlation Data" },
		{ 0x0B, RMQ_PT_VARINT, "Subscription Identifier" },
		{ 0x11, RMQ_PT_U32, "Session Expiry Interval" },
		{ 0x12, RMQ_PT_STRING, "Assigned Client Identifier" },
		{ 0x13, RMQ_PT_U16, "Server Keep Alive" },
		{ 0x15, RMQ_PT_STRING, "Authentication Method" },
		{ 0x16, RMQ_PT_BINARY, "Authentication Data" },
		{ 0x17, RMQ_PT_BYTE, "Request Problem Information" },
		{ 0x18, RMQ_PT_U32, "Will Delay Interval" },
		{ 0x19, RMQ_PT_BYTE, "Request Response Information" },
		{ 0x1A, RMQ_PT_STRING, "Response Information" },
		{ 0x1C, RMQ_PT_STRING, "Server Reference" },
		{ 0x1F, RMQ_PT_STRING, "Reason String" },
		{ 0x21, RMQ_PT_U16, "Receive Maximum" },
		{ 0x22, RMQ_PT_U16, "Topic Alias Maximum" },
		{ 0x23, RMQ_PT_U16, "Topic Alias" },
		{ 0x24, RMQ_PT_BYTE, "Maximum QoS" },
		{ 0x25, RMQ_PT_BYTE, "Retain Available" },
		{ 0x26, RMQ_PT_PAIR, "User Property" },
		{ 0x27, RMQ_PT_U32, "Maximum Packet Size" },
		{ 0x28, RMQ_PT_BYTE, "Wildcard Subscription Available" },
		{ 0x29, RMQ_PT_BYTE, "Subscription Identifier Available" },
		{ 0x2A, RMQ_PT_BYTE, "Shared Subscription Available" },
	};
	unsigned known = 0;
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		cr_assert_eq(rmq_prop_type(t[i].id), t[i].type, "0x%02x",
		    t[i].id);
		cr_assert_str_eq(rmq_prop_name(t[i].id), t[i].name);
	}
	for (unsigned id = 0; id < 256; id++)
		known += rmq_prop_type(id) != RMQ_PT_NONE;
	cr_assert_eq(known, 27, "27 properties are defined, no more");
	cr_assert_null(rmq_prop_name(0x2B));
	cr_assert_null(rmq_prop_name(0x04));
}

Test(props, where_each_may_appear)
{
	/* Spec 2.2.2.2, table 2-4, the "Packet / Will Properties" column. */
	cr_assert(rmq_prop_allowed(0x01, RMQ_PUBLISH));
	cr_assert(rmq_prop_allowed(0x01, RMQ_PROPS_WILL));
	cr_assert_not(rmq_prop_allowed(0x01, RMQ_CONNECT));
	cr_assert(rmq_prop_allowed(0x0B, RMQ_SUBSCRIBE));
	cr_assert_not(rmq_prop_allowed(0x0B, RMQ_UNSUBSCRIBE));
	cr_assert(rmq_prop_allowed(0x11, RMQ_DISCONNECT));
	cr_assert_not(rmq_prop_allowed(0x11, RMQ_PROPS_WILL));
	cr_assert(rmq_prop_allowed(0x18, RMQ_PROPS_WILL));
	cr_assert_not(rmq_prop_allowed(0x18, RMQ_CONNECT));
	cr_assert(rmq_prop_allowed(0x15, RMQ_AUTH));
	cr_assert(rmq_prop_allowed(0x1C, RMQ_DISCONNECT));
	cr_assert(rmq_prop_allowed(0x1F, RMQ_PUBCOMP));
	cr_assert_not(rmq_prop_allowed(0x1F, RMQ_PUBLISH));
	cr_assert_not(rmq_prop_allowed(0x1F, RMQ_CONNECT));
	cr_assert(rmq_prop_allowed(0x23, RMQ_PUBLISH));
	cr_assert_not(rmq_prop_allowed(0x23, RMQ_PROPS_WILL));
	cr_assert(rmq_prop_allowed(0x24, RMQ_CONNACK));
	cr_assert_not(rmq_prop_allowed(0x24, RMQ_CONNECT));
	/* User Property: everywhere a property block exists. */
	static const unsigned all[] = { RMQ_CONNECT, RMQ_CONNACK, RMQ_PUBLISH,
		RMQ_PROPS_WILL, RMQ_PUBACK, RMQ_PUBREC, RMQ_PUBREL, RMQ_PUBCOMP,
		RMQ_SUBSCRIBE, RMQ_SUBACK, RMQ_UNSUBSCRIBE, RMQ_UNSUBACK,
		RMQ_DISCONNECT, RMQ_AUTH };
	for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++)
		cr_assert(rmq_prop_allowed(0x26, all[i]));
	cr_assert_not(rmq_prop_allowed(0x26, RMQ_PINGREQ));
	cr_assert_not(rmq_prop_allowed(0x99, RMQ_PUBLISH));
}

Test(props, decode_every_type)
{
	static const uint8_t b[] = {
		0x01, 0x01, /* payload format 1 */
		0x02, 0x00, 0x00, 0x01, 0x00, /* message expiry 256 */
		0x03, 0x00, 0x02, 'a', 'b', /* content type */
		0x23, 0x00, 0x07, /* topic alias 7 */
		0x09, 0x00, 0x01, 0x00, /* correlation data */
		0x26, 0x00, 0x01, 'k', 0x00, 0x01, 'v', /* user property */
		0x0B, 0x80, 0x01, /* subscription id 128 */
	};
	struct rmq_props p;
	struct rmq_codec_err err;
	cr_assert_eq(decode(b, sizeof(b), RMQ_PUBLISH, 1, &p, &err), 0, "%s",
	    err.msg);
	cr_assert_eq(p.payload_format, 1);
	cr_assert_eq(p.message_expiry, 256);
	cr_assert(rmq_test_str_eq(p.content_type, "ab"));
	cr_assert_eq(p.topic_alias, 7);
	cr_assert_eq(p.correlation_data.len, 1);
	cr_assert_eq(p.n_user, 1);
	cr_assert_eq(p.subid, 128);
	cr_assert_eq(p.n_subid, 1);
	cr_assert_eq(p.raw.len, sizeof(b));
	cr_assert_eq(rmq_props_size(&p), sizeof(b),
	    "re-encoding a decoded block gives its size back");
	uint8_t out[64];
	size_t n = rmq_props_encode(&p, out);
	cr_assert_eq(n, sizeof(b));
	struct rmq_props q;
	cr_assert_eq(decode(out, n, RMQ_PUBLISH, 1, &q, &err), 0);
	cr_assert_eq(q.present, p.present);
}

/* Expect the block b to be refused with `reason`. */
static void
refused(const uint8_t *b, size_t n, unsigned where, int from_server,
    uint8_t reason, const char *why)
{
	struct rmq_props p;
	struct rmq_codec_err err = { 0 };
	cr_assert_eq(decode(b, n, where, from_server, &p, &err), -EPROTO,
	    "%s: accepted", why);
	cr_assert_eq(err.reason, reason, "%s: reason 0x%02x (%s)", why,
	    err.reason, err.msg);
}

Test(props, duplicates_are_a_protocol_error)
{
	/* 2.2.2.2: "It is a Protocol Error to include any other [than User
	 * Property and Subscription Identifier] property more than once". */
	static const uint8_t two_expiry[] = { 0x11, 0, 0, 0, 1, 0x11, 0, 0, 0,
		2 };
	refused(two_expiry, sizeof(two_expiry), RMQ_CONNECT, 0,
	    RMQ_RC_PROTOCOL_ERROR, "Session Expiry twice");
	static const uint8_t two_reason[] = { 0x1F, 0, 1, 'a', 0x1F, 0, 1,
		'b' };
	refused(two_reason, sizeof(two_reason), RMQ_PUBACK, 0,
	    RMQ_RC_PROTOCOL_ERROR, "Reason String twice");
	/* User Property may repeat, even with the same name (3.3.2.3.7). */
	static const uint8_t users[] = { 0x26, 0, 1, 'k', 0, 1, 'a', 0x26, 0, 1,
		'k', 0, 1, 'b' };
	struct rmq_props p;
	struct rmq_codec_err err;
	cr_assert_eq(decode(users, sizeof(users), RMQ_CONNECT, 0, &p, &err), 0);
	cr_assert_eq(p.n_user, 2);
	/* Several Subscription Identifiers: in a server's PUBLISH only. */
	static const uint8_t subs[] = { 0x0B, 0x01, 0x0B, 0x02 };
	cr_assert_eq(decode(subs, sizeof(subs), RMQ_PUBLISH, 1, &p, &err), 0);
	cr_assert_eq(p.n_subid, 2);
	refused(subs, sizeof(subs), RMQ_SUBSCRIBE, 0, RMQ_RC_PROTOCOL_ERROR,
	    "two Subscription Identifiers in a SUBSCRIBE (3.8.2.1.2)");
}

Test(props, values_the_spec_forbids)
{
	static const uint8_t rm0[] = { 0x21, 0x00, 0x00 };
	refused(rm0, sizeof(rm0), RMQ_CONNECT, 0, RMQ_RC_PROTOCOL_ERROR,
	    "Receive Maximum 0 (3.1.2.11.3)");
	static const uint8_t mps0[] = { 0x27, 0, 0, 0, 0 };
	refused(mps0, sizeof(mps0), RMQ_CONNACK, 1, RMQ_RC_PROTOCOL_ERROR,
	    "Maximum Packet Size 0 (3.2.2.3.6)");
	static const uint8_t ta0[] = { 0x23, 0x00, 0x00 };
	refused(ta0, sizeof(ta0), RMQ_PUBLISH, 0, RMQ_RC_PROTOCOL_ERROR,
	    "Topic Alias 0 (3.3.2.3.4)");
	static const uint8_t sid0[] = { 0x0B, 0x00 };
	refused(sid0, sizeof(sid0), RMQ_SUBSCRIBE, 0, RMQ_RC_PROTOCOL_ERROR,
	    "Subscription Identifier 0 (3.8.2.1.2)");
	static const uint8_t rpi2[] = { 0x17, 0x02 };
	refused(rpi2, sizeof(rpi2), RMQ_CONNECT, 0, RMQ_RC_PROTOCOL_ERROR,
	    "Request Problem Information 2 (3.1.2.11.7)");
	static const uint8_t rri2[] = { 0x19, 0x02 };
	refused(rri2, sizeof(rri2), RMQ_CONNECT, 0, RMQ_RC_PROTOCOL_ERROR,
	    "Request Response Information 2 (3.1.2.11.6)");
	static const uint8_t mq2[] = { 0x24, 0x02 };
	refused(mq2, sizeof(mq2), RMQ_CONNACK, 1, RMQ_RC_PROTOCOL_ERROR,
	    "Maximum QoS 2 (3.2.2.3.4)");
	static const uint8_t ra2[] = { 0x25, 0x02 };
	refused(ra2, sizeof(ra2), RMQ_CONNACK, 1, RMQ_RC_PROTOCOL_ERROR,
	    "Retain Available 2 (3.2.2.3.5)");
	static const uint8_t rt_wild[] = { 0x08, 0, 3, 'a', '/', '#' };
	refused(rt_wild, sizeof(rt_wild), RMQ_PUBLISH, 0, RMQ_RC_PROTOCOL_ERROR,
	    "[MQTT-3.3.2-14] wildcard in Response Topic");
}

Test(props, malformed_blocks)
{
	static const uint8_t unknown[] = { 0x04, 0x00 };
	refused(unknown, sizeof(unknown), RMQ_PUBLISH, 0,
	    RMQ_RC_MALFORMED_PACKET, "unknown identifier 0x04");
	static const uint8_t wrong_packet[] = { 0x24, 0x01 };
	refused(wrong_packet, sizeof(wrong_packet), RMQ_CONNECT, 0,
	    RMQ_RC_MALFORMED_PACKET,
	    "Maximum QoS in a CONNECT (2.2.2.2: not valid for its type)");
	static const uint8_t will_alias[] = { 0x23, 0x00, 0x01 };
	refused(will_alias, sizeof(will_alias), RMQ_PROPS_WILL, 0,
	    RMQ_RC_MALFORMED_PACKET, "Topic Alias in Will Properties");
	static const uint8_t short_u32[] = { 0x02, 0x00, 0x00, 0x01 };
	refused(short_u32, sizeof(short_u32), RMQ_PUBLISH, 0,
	    RMQ_RC_MALFORMED_PACKET, "Four Byte Integer cut short");
	static const uint8_t short_str[] = { 0x03, 0x00, 0x05, 'a' };
	refused(short_str, sizeof(short_str), RMQ_PUBLISH, 0,
	    RMQ_RC_MALFORMED_PACKET, "string longer than the block");
	static const uint8_t short_pair[] = { 0x26, 0x00, 0x01, 'k' };
	refused(short_pair, sizeof(short_pair), RMQ_PUBLISH, 0,
	    RMQ_RC_MALFORMED_PACKET, "User Property without a value");
	static const uint8_t bad_varint[] = { 0x0B, 0xFF, 0xFF, 0xFF, 0xFF,
		0x01 };
	refused(bad_varint, sizeof(bad_varint), RMQ_SUBSCRIBE, 0,
	    RMQ_RC_MALFORMED_PACKET, "five-byte Subscription Identifier");
	static const uint8_t nul[] = { 0x03, 0x00, 0x01, 0x00 };
	refused(nul, sizeof(nul), RMQ_PUBLISH, 0, RMQ_RC_MALFORMED_PACKET,
	    "[MQTT-1.5.4-2] U+0000 in Content Type");
	static const uint8_t surrogate[] = { 0x26, 0x00, 0x03, 0xED, 0xA0, 0x80,
		0x00, 0x00 };
	refused(surrogate, sizeof(surrogate), RMQ_PUBLISH, 0,
	    RMQ_RC_MALFORMED_PACKET,
	    "[MQTT-1.5.4-1] surrogate in a User Property name");
	/* Binary data is not checked as UTF-8. */
	static const uint8_t bin[] = { 0x09, 0x00, 0x02, 0xFF, 0x00 };
	struct rmq_props p;
	struct rmq_codec_err err;
	cr_assert_eq(decode(bin, sizeof(bin), RMQ_PUBLISH, 0, &p, &err), 0);
}

Test(props, encode_in_identifier_order_with_repeats_in_order)
{
	static const struct rmq_strpair user[] = { { { "z", 1 }, { "1", 1 } },
		{ { "a", 1 }, { "2", 1 } } };
	static const uint32_t subids[] = { 5, 3 };
	struct rmq_props p = { 0 };
	p.reason_string = rmq_test_str("r");
	p.topic_alias = 2;
	p.payload_format = 1;
	p.user = user;
	p.n_user = 2;
	p.subids = subids;
	p.n_subid = 2;
	RMQ_PROP_SET(&p, RMQ_PROP_REASON_STRING);
	RMQ_PROP_SET(&p, RMQ_PROP_TOPIC_ALIAS);
	RMQ_PROP_SET(&p, RMQ_PROP_PAYLOAD_FORMAT);
	RMQ_PROP_SET(&p, RMQ_PROP_USER_PROPERTY);
	RMQ_PROP_SET(&p, RMQ_PROP_SUBSCRIPTION_ID);
	static const uint8_t want[] = { 0x01, 0x01, 0x0B, 0x05, 0x0B, 0x03,
		0x1F, 0x00, 0x01, 'r', 0x23, 0x00, 0x02, 0x26, 0x00, 0x01, 'z',
		0x00, 0x01, '1', 0x26, 0x00, 0x01, 'a', 0x00, 0x01, '2' };
	uint8_t out[64];
	cr_assert_eq(rmq_props_size(&p), sizeof(want));
	size_t n = rmq_props_encode(&p, out);
	cr_assert_eq(n, sizeof(want));
	cr_assert_eq(memcmp(out, want, n), 0);

	/* A count without its bit writes nothing. */
	p.present = 0;
	cr_assert_eq(rmq_props_size(&p), 0);
	/* A string over 65535 bytes cannot be encoded. */
	static char big[65536];
	p.content_type = (struct rmq_str){ big, sizeof(big) };
	RMQ_PROP_SET(&p, RMQ_PROP_CONTENT_TYPE);
	cr_assert_eq(rmq_props_size(&p), (size_t)-1);
}

Test(props, walk_in_order)
{
	static const uint8_t b[] = { 0x26, 0, 1, 'b', 0, 0, 0x1F, 0, 1, 'x',
		0x26, 0, 1, 'a', 0, 1, 'v' };
	struct rmq_props p;
	struct rmq_codec_err err;
	cr_assert_eq(decode(b, sizeof(b), RMQ_PUBACK, 0, &p, &err), 0);
	struct rmq_prop prop;
	uint32_t off = 0;
	cr_assert(rmq_props_next(&p.raw, &off, &prop));
	cr_assert_eq(prop.id, 0x26);
	cr_assert(rmq_test_str_eq(prop.str, "b"));
	cr_assert_eq(prop.val.len, 0);
	cr_assert(rmq_props_next(&p.raw, &off, &prop));
	cr_assert_eq(prop.id, 0x1F);
	cr_assert(rmq_props_next(&p.raw, &off, &prop));
	cr_assert(rmq_test_str_eq(prop.val, "v"));
	cr_assert_not(rmq_props_next(&p.raw, &off, &prop));
	struct rmq_str none = { 0 };
	off = 0;
	cr_assert_not(rmq_props_next(&none, &off, &prop));
}
