/* test/core/test_codec_encode.c: tests core/codec_encode.c.
 *
 * Byte vectors written from the spec's packet layouts, round trips of every
 * packet type at every protocol version (encode, frame, decode, compare),
 * encoder refusals, and the shared/per-subscriber PUBLISH split.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "codec.h"
#include "rmq_test.h"

TestSuite(codec_encode);

static uint8_t wire[4096];
static char hexbuf[3 * 4096 + 1];
/* Decoded packets point into the bytes they came from: roundtrip() decodes
 * from these in turn, so one result stays valid while the next is made. */
static uint8_t decoded_from[2][sizeof(wire)];
static unsigned decoded_turn;

/* Encode pkt, check the size agrees, then frame and decode it back. */
static size_t
roundtrip(const struct rmq_packet *pkt, uint8_t version, enum rmq_role from,
    struct rmq_packet *out)
{
	size_t want = rmq_codec_size(pkt, version);
	cr_assert_gt(want, 0, "%s v%u should be encodable",
	    rmq_packet_type_name(pkt->type), version);
	long n = rmq_codec_encode(pkt, version, wire, sizeof(wire));
	cr_assert_eq((size_t)n, want, "encode wrote %ld, size said %zu", n,
	    want);

	struct rmq_framer f;
	struct rmq_frame fr;
	struct rmq_codec_err err = { 0 };
	size_t used;
	uint8_t *in = decoded_from[decoded_turn++ & 1];
	memcpy(in, wire, (size_t)n);
	rmq_framer_init(&f, 0);
	cr_assert_eq(rmq_framer_next(&f, in, (size_t)n, &used, &fr, &err), 1);
	cr_assert_eq(used, (size_t)n);
	int rc = rmq_codec_decode(fr.first, fr.body, fr.body_len, version, from,
	    out, &err);
	cr_assert_eq(rc, 0, "decode of %s v%u failed: 0x%02x %s [%s]",
	    rmq_packet_type_name(pkt->type), version, err.reason, err.msg,
	    rmq_test_hex(wire, (size_t)n, hexbuf));
	cr_assert_eq(out->type, pkt->type);
	rmq_framer_fini(&f);
	return (size_t)n;
}

static void
assert_bytes(const uint8_t *got, size_t n, const uint8_t *want, size_t wn)
{
	char h2[3 * 512 + 1];
	cr_assert_eq(n, wn, "length %zu, expected %zu: got %s", n, wn,
	    rmq_test_hex(got, n, hexbuf));
	cr_assert_eq(memcmp(got, want, n), 0, "got %s expected %s",
	    rmq_test_hex(got, n, hexbuf), rmq_test_hex(want, wn, h2));
}

/* ---- byte vectors from the spec's layouts ---- */

Test(codec_encode, connect_v311_bytes)
{
	/* 3.1.1 section 3.1.2: protocol name 00 04 'MQTT', level 4, flags
	 * (user name, password, will retain 0, will QoS 1, will, clean:
	 * 1100 1110 = CE), keep alive 10 (00 0A). */
	struct rmq_packet p = { .type = RMQ_CONNECT };
	p.connect.clean = 1;
	p.connect.will = 1;
	p.connect.will_qos = 1;
	p.connect.keepalive = 10;
	p.connect.client_id = rmq_test_str("c");
	p.connect.will_topic = rmq_test_str("w");
	p.connect.will_payload = rmq_test_str("x");
	p.connect.username = rmq_test_str("u");
	p.connect.password = rmq_test_str("p");
	static const uint8_t want[] = { 0x10, 25, 0x00, 0x04, 'M', 'Q', 'T',
		'T', 0x04, 0xCE, 0x00, 0x0A, 0x00, 0x01, 'c', 0x00, 0x01, 'w',
		0x00, 0x01, 'x', 0x00, 0x01, 'u', 0x00, 0x01, 'p' };
	long n = rmq_codec_encode(&p, RMQ_V311, wire, sizeof(wire));
	assert_bytes(wire, (size_t)n, want, sizeof(want));
}

Test(codec_encode, connect_v31_bytes)
{
	/* 3.1: protocol name "MQIsdp", level 3. */
	struct rmq_packet p = { .type = RMQ_CONNECT };
	p.connect.clean = 1;
	p.connect.keepalive = 60;
	p.connect.client_id = rmq_test_str("id");
	static const uint8_t want[] = { 0x10, 16, 0x00, 0x06, 'M', 'Q', 'I',
		's', 'd', 'p', 0x03, 0x02, 0x00, 0x3C, 0x00, 0x02, 'i', 'd' };
	long n = rmq_codec_encode(&p, RMQ_V31, wire, sizeof(wire));
	assert_bytes(wire, (size_t)n, want, sizeof(want));
}

Test(codec_encode, connect_v5_bytes)
{
	/* 5.0 section 3.1.2.11: Session Expiry Interval 10 (11 00 00 00
	 * 0A) in a property block of length 5. */
	struct rmq_packet p = { .type = RMQ_CONNECT };
	p.connect.keepalive = 10;
	p.connect.props.session_expiry = 10;
	RMQ_PROP_SET(&p.connect.props, RMQ_PROP_SESSION_EXPIRY);
	static const uint8_t want[] = { 0x10, 18, 0x00, 0x04, 'M', 'Q', 'T',
		'T', 0x05, 0x00, 0x00, 0x0A, 0x05, 0x11, 0x00, 0x00, 0x00, 0x0A,
		0x00, 0x00 };
	long n = rmq_codec_encode(&p, RMQ_V5, wire, sizeof(wire));
	assert_bytes(wire, (size_t)n, want, sizeof(want));
}

Test(codec_encode, publish_qos1_bytes)
{
	/* 3.3: topic "a/b" (00 03 61 2F 62), packet id 10, payload. */
	struct rmq_packet p = { .type = RMQ_PUBLISH };
	p.publish.qos = 1;
	p.publish.retain = 1;
	p.publish.packet_id = 10;
	p.publish.topic = rmq_test_str("a/b");
	p.publish.payload = rmq_test_str("hi");
	static const uint8_t want[] = { 0x33, 9, 0x00, 0x03, 'a', '/', 'b',
		0x00, 0x0A, 'h', 'i' };
	long n = rmq_codec_encode(&p, RMQ_V311, wire, sizeof(wire));
	assert_bytes(wire, (size_t)n, want, sizeof(want));
	/* 5.0 adds an empty property block after the packet id. */
	static const uint8_t want5[] = { 0x33, 10, 0x00, 0x03, 'a', '/', 'b',
		0x00, 0x0A, 0x00, 'h', 'i' };
	n = rmq_codec_encode(&p, RMQ_V5, wire, sizeof(wire));
	assert_bytes(wire, (size_t)n, want5, sizeof(want5));
}

Test(codec_encode, acks_short_forms)
{
	/* 3.4.2.1: with reason 0x00 and no properties, the Reason Code
	 * and Property Length may be left out (Remaining Length 2). */
	struct rmq_packet p = { .type = RMQ_PUBACK };
	p.ack.packet_id = 0x1234;
	static const uint8_t puback[] = { 0x40, 0x02, 0x12, 0x34 };
	long n = rmq_codec_encode(&p, RMQ_V5, wire, sizeof(wire));
	assert_bytes(wire, (size_t)n, puback, sizeof(puback));
	p.ack.reason = RMQ_RC_NO_MATCHING_SUBSCRIBERS;
	static const uint8_t puback10[] = { 0x40, 0x03, 0x12, 0x34, 0x10 };
	n = rmq_codec_encode(&p, RMQ_V5, wire, sizeof(wire));
	assert_bytes(wire, (size_t)n, puback10, sizeof(puback10));
	/* PUBREL has fixed header flags 0010 [MQTT-3.6.1-1]. */
	p.type = RMQ_PUBREL;
	p.ack.reason = 0;
	static const uint8_t pubrel[] = { 0x62, 0x02, 0x12, 0x34 };
	n = rmq_codec_encode(&p, RMQ_V311, wire, sizeof(wire));
	assert_bytes(wire, (size_t)n, pubrel, sizeof(pubrel));
}

Test(codec_encode, ping_and_disconnect_bytes)
{
	struct rmq_packet p = { .type = RMQ_PINGREQ };
	static const uint8_t ping[] = { 0xC0, 0x00 }, pong[] = { 0xD0, 0x00 };
	long n = rmq_codec_encode(&p, RMQ_V311, wire, sizeof(wire));
	assert_bytes(wire, (size_t)n, ping, 2);
	p.type = RMQ_PINGRESP;
	n = rmq_codec_encode(&p, RMQ_V5, wire, sizeof(wire));
	assert_bytes(wire, (size_t)n, pong, 2);
	/* 3.14.2.1: Normal disconnection may be sent as Remaining Length
	 * 0; another reason takes one byte. */
	p.type = RMQ_DISCONNECT;
	static const uint8_t d0[] = { 0xE0, 0x00 },
			     d8b[] = { 0xE0, 0x01, 0x8B };
	n = rmq_codec_encode(&p, RMQ_V5, wire, sizeof(wire));
	assert_bytes(wire, (size_t)n, d0, 2);
	p.disconnect.reason = RMQ_RC_SERVER_SHUTTING_DOWN;
	n = rmq_codec_encode(&p, RMQ_V5, wire, sizeof(wire));
	assert_bytes(wire, (size_t)n, d8b, 3);
	/* 3.x DISCONNECT has no variable header at all. */
	n = rmq_codec_encode(&p, RMQ_V311, wire, sizeof(wire));
	assert_bytes(wire, (size_t)n, d0, 2);
}

Test(codec_encode, subscribe_bytes)
{
	/* 3.8.3: SUBSCRIBE flags 0010, packet id, then filter + options;
	 * 5.0 options byte: retain handling 2 (bits 4-5), RAP (bit 3), no
	 * local (bit 2), QoS 1: 0010 1101 = 0x2D. */
	struct rmq_sub_entry e = { .filter = rmq_test_str("a/+"),
		.qos = 1,
		.no_local = 1,
		.retain_as_published = 1,
		.retain_handling = 2 };
	struct rmq_packet p = { .type = RMQ_SUBSCRIBE };
	p.subscribe.packet_id = 1;
	p.subscribe.count = 1;
	p.subscribe.entries = &e;
	static const uint8_t want5[] = { 0x82, 0x09, 0x00, 0x01, 0x00, 0x00,
		0x03, 'a', '/', '+', 0x2D };
	long n = rmq_codec_encode(&p, RMQ_V5, wire, sizeof(wire));
	assert_bytes(wire, (size_t)n, want5, sizeof(want5));
	/* 3.1.1 keeps only the QoS bits. */
	static const uint8_t want4[] = { 0x82, 0x08, 0x00, 0x01, 0x00, 0x03,
		'a', '/', '+', 0x01 };
	n = rmq_codec_encode(&p, RMQ_V311, wire, sizeof(wire));
	assert_bytes(wire, (size_t)n, want4, sizeof(want4));
}

Test(codec_encode, remaining_length_multibyte)
{
	/* A body of 200 bytes takes a two-byte Remaining Length: C8 01. */
	static char payload[195];
	memset(payload, 'z', sizeof(payload));
	struct rmq_packet p = { .type = RMQ_PUBLISH };
	p.publish.topic = rmq_test_str("t/x");
	p.publish.payload = (struct rmq_str){ payload, sizeof(payload) };
	long n = rmq_codec_encode(&p, RMQ_V311, wire, sizeof(wire));
	cr_assert_eq(n, 1 + 2 + 200);
	cr_assert_eq(wire[1], 0xC8);
	cr_assert_eq(wire[2], 0x01);
}

/* ---- round trips ---- */

static const uint8_t versions[] = { RMQ_V31, RMQ_V311, RMQ_V5 };

Test(codec_encode, roundtrip_connect_all_versions)
{
	for (size_t i = 0; i < sizeof(versions); i++) {
		uint8_t v = versions[i];
		struct rmq_packet p = { .type = RMQ_CONNECT }, q;
		p.connect.clean = 1;
		p.connect.will = 1;
		p.connect.will_qos = 2;
		p.connect.will_retain = 1;
		p.connect.keepalive = 65535;
		p.connect.client_id = rmq_test_str("client-1");
		p.connect.will_topic = rmq_test_str("last/will");
		p.connect.will_payload = (struct rmq_str){ "\0\1\2", 3 };
		p.connect.username = rmq_test_str("user");
		p.connect.password = (struct rmq_str){ "\xff\x00pw", 4 };
		roundtrip(&p, v, RMQ_FROM_CLIENT, &q);
		cr_assert_eq(q.connect.version, v);
		cr_assert_eq(q.connect.clean, 1);
		cr_assert_eq(q.connect.will, 1);
		cr_assert_eq(q.connect.will_qos, 2);
		cr_assert_eq(q.connect.will_retain, 1);
		cr_assert_eq(q.connect.keepalive, 65535);
		cr_assert(rmq_test_str_eq(q.connect.client_id, "client-1"));
		cr_assert(rmq_test_str_eq(q.connect.will_topic, "last/will"));
		cr_assert_eq(q.connect.will_payload.len, 3);
		cr_assert_eq(memcmp(q.connect.will_payload.p, "\0\1\2", 3), 0);
		cr_assert(rmq_test_str_eq(q.connect.username, "user"));
		cr_assert_eq(q.connect.password.len, 4);
		cr_assert_eq(memcmp(q.connect.password.p, "\xff\x00pw", 4), 0);
	}
}

Test(codec_encode, roundtrip_connect_v5_properties)
{
	static const struct rmq_strpair user[] = { { { "k", 1 }, { "v1", 2 } },
		{ { "k", 1 }, { "v2", 2 } }, { { "a", 1 }, { "", 0 } } };
	struct rmq_packet p = { .type = RMQ_CONNECT }, q;
	struct rmq_props *pp = &p.connect.props;
	p.connect.client_id = rmq_test_str("");
	pp->session_expiry = 0xFFFFFFFF;
	pp->receive_max = 20;
	pp->max_packet_size = 1 << 20;
	pp->topic_alias_max = 10;
	pp->request_response_info = 1;
	pp->request_problem_info = 0;
	pp->auth_method = rmq_test_str("SCRAM-SHA-1");
	pp->auth_data = (struct rmq_str){ "\x01\x02", 2 };
	pp->user = user;
	pp->n_user = 3;
	pp->present = 0;
	RMQ_PROP_SET(pp, RMQ_PROP_SESSION_EXPIRY);
	RMQ_PROP_SET(pp, RMQ_PROP_RECEIVE_MAXIMUM);
	RMQ_PROP_SET(pp, RMQ_PROP_MAXIMUM_PACKET_SIZE);
	RMQ_PROP_SET(pp, RMQ_PROP_TOPIC_ALIAS_MAXIMUM);
	RMQ_PROP_SET(pp, RMQ_PROP_REQUEST_RESPONSE_INFO);
	RMQ_PROP_SET(pp, RMQ_PROP_REQUEST_PROBLEM_INFO);
	RMQ_PROP_SET(pp, RMQ_PROP_AUTH_METHOD);
	RMQ_PROP_SET(pp, RMQ_PROP_AUTH_DATA);
	RMQ_PROP_SET(pp, RMQ_PROP_USER_PROPERTY);
	p.connect.will = 1;
	p.connect.will_topic = rmq_test_str("w");
	p.connect.will_payload = rmq_test_str("bye");
	struct rmq_props *wp = &p.connect.will_props;
	wp->will_delay = 30;
	wp->payload_format = 1;
	wp->message_expiry = 60;
	wp->content_type = rmq_test_str("text/plain");
	wp->response_topic = rmq_test_str("r/t");
	wp->correlation_data = (struct rmq_str){ "\x00\x01", 2 };
	RMQ_PROP_SET(wp, RMQ_PROP_WILL_DELAY);
	RMQ_PROP_SET(wp, RMQ_PROP_PAYLOAD_FORMAT);
	RMQ_PROP_SET(wp, RMQ_PROP_MESSAGE_EXPIRY);
	RMQ_PROP_SET(wp, RMQ_PROP_CONTENT_TYPE);
	RMQ_PROP_SET(wp, RMQ_PROP_RESPONSE_TOPIC);
	RMQ_PROP_SET(wp, RMQ_PROP_CORRELATION_DATA);

	roundtrip(&p, RMQ_V5, RMQ_FROM_CLIENT, &q);
	const struct rmq_props *qp = &q.connect.props;
	cr_assert_eq(qp->present, pp->present);
	cr_assert_eq(qp->session_expiry, 0xFFFFFFFF);
	cr_assert_eq(qp->receive_max, 20);
	cr_assert_eq(qp->max_packet_size, 1u << 20);
	cr_assert_eq(qp->topic_alias_max, 10);
	cr_assert_eq(qp->request_response_info, 1);
	cr_assert(rmq_test_str_eq(qp->auth_method, "SCRAM-SHA-1"));
	cr_assert_eq(qp->auth_data.len, 2);
	cr_assert_eq(qp->n_user, 3);
	/* User properties come back in order, duplicates kept. */
	uint32_t off = 0, i = 0;
	struct rmq_prop prop;
	while (rmq_props_next(&qp->raw, &off, &prop)) {
		if (prop.id != RMQ_PROP_USER_PROPERTY)
			continue;
		cr_assert_eq(prop.str.len, user[i].k.len);
		cr_assert_eq(memcmp(prop.str.p, user[i].k.p, prop.str.len), 0);
		cr_assert_eq(prop.val.len, user[i].v.len);
		cr_assert_eq(memcmp(prop.val.p, user[i].v.p, prop.val.len), 0);
		i++;
	}
	cr_assert_eq(i, 3);
	const struct rmq_props *qw = &q.connect.will_props;
	cr_assert_eq(qw->present, wp->present);
	cr_assert_eq(qw->will_delay, 30);
	cr_assert_eq(qw->payload_format, 1);
	cr_assert_eq(qw->message_expiry, 60);
	cr_assert(rmq_test_str_eq(qw->content_type, "text/plain"));
	cr_assert(rmq_test_str_eq(qw->response_topic, "r/t"));
	cr_assert_eq(qw->correlation_data.len, 2);
}

Test(codec_encode, roundtrip_connack)
{
	for (size_t i = 0; i < sizeof(versions); i++) {
		uint8_t v = versions[i];
		struct rmq_packet p = { .type = RMQ_CONNACK }, q;
		p.connack.session_present = v != RMQ_V31;
		roundtrip(&p, v, RMQ_FROM_SERVER, &q);
		cr_assert_eq(q.connack.session_present, v != RMQ_V31);
		cr_assert_eq(q.connack.reason, 0);
		p.connack.session_present = 0;
		p.connack.reason = v == RMQ_V5 ? RMQ_RC_NOT_AUTHORIZED
					       : RMQ_V3_REFUSED_NOT_AUTHORIZED;
		roundtrip(&p, v, RMQ_FROM_SERVER, &q);
		cr_assert_eq(q.connack.reason, p.connack.reason);
	}
	/* 5.0 CONNACK properties that tell the client what is supported. */
	struct rmq_packet p = { .type = RMQ_CONNACK }, q;
	struct rmq_props *pp = &p.connack.props;
	pp->assigned_client_id = rmq_test_str("auto-1");
	pp->server_keep_alive = 30;
	pp->receive_max = 100;
	pp->topic_alias_max = 16;
	pp->max_qos = 1;
	pp->retain_available = 0;
	pp->max_packet_size = 65536;
	pp->wildcard_sub_available = 1;
	pp->subid_available = 1;
	pp->shared_sub_available = 1;
	pp->response_info = rmq_test_str("resp/");
	pp->server_reference = rmq_test_str("other:1883");
	pp->reason_string = rmq_test_str("ok");
	pp->session_expiry = 7;
	for (unsigned id = 1; id <= 0x2A; id++)
		if (rmq_prop_allowed(id, RMQ_CONNACK) &&
		    id != RMQ_PROP_USER_PROPERTY &&
		    id != RMQ_PROP_AUTH_METHOD && id != RMQ_PROP_AUTH_DATA)
			RMQ_PROP_SET(pp, id);
	roundtrip(&p, RMQ_V5, RMQ_FROM_SERVER, &q);
	cr_assert_eq(q.connack.props.present, pp->present);
	cr_assert(
	    rmq_test_str_eq(q.connack.props.assigned_client_id, "auto-1"));
	cr_assert_eq(q.connack.props.server_keep_alive, 30);
	cr_assert_eq(q.connack.props.receive_max, 100);
	cr_assert_eq(q.connack.props.topic_alias_max, 16);
	cr_assert_eq(q.connack.props.max_qos, 1);
	cr_assert_eq(q.connack.props.retain_available, 0);
	cr_assert_eq(q.connack.props.max_packet_size, 65536);
	cr_assert_eq(q.connack.props.wildcard_sub_available, 1);
	cr_assert_eq(q.connack.props.subid_available, 1);
	cr_assert_eq(q.connack.props.shared_sub_available, 1);
	cr_assert(rmq_test_str_eq(q.connack.props.response_info, "resp/"));
	cr_assert(
	    rmq_test_str_eq(q.connack.props.server_reference, "other:1883"));
	cr_assert(rmq_test_str_eq(q.connack.props.reason_string, "ok"));
	cr_assert_eq(q.connack.props.session_expiry, 7);
}

Test(codec_encode, roundtrip_publish_all_qos_and_versions)
{
	for (size_t i = 0; i < sizeof(versions); i++) {
		for (uint8_t qos = 0; qos <= 2; qos++) {
			uint8_t v = versions[i];
			struct rmq_packet p = { .type = RMQ_PUBLISH }, q;
			p.publish.qos = qos;
			p.publish.dup = qos > 0;
			p.publish.retain = qos == 1;
			p.publish.packet_id = qos ? 65535 : 0;
			p.publish.topic = rmq_test_str("sensors/1/temp");
			p.publish.payload = (struct rmq_str){ "\0x\0", 3 };
			for (int from = 0; from < 2; from++) {
				roundtrip(&p, v, (enum rmq_role)from, &q);
				cr_assert_eq(q.publish.qos, qos);
				cr_assert_eq(q.publish.dup, qos > 0);
				cr_assert_eq(q.publish.retain, qos == 1);
				cr_assert_eq(q.publish.packet_id,
				    p.publish.packet_id);
				cr_assert(rmq_test_str_eq(q.publish.topic,
				    "sensors/1/temp"));
				cr_assert_eq(q.publish.payload.len, 3);
				cr_assert_eq(memcmp(q.publish.payload.p,
						 "\0x\0", 3),
				    0);
			}
		}
	}
}

Test(codec_encode, roundtrip_publish_v5_properties)
{
	static const uint32_t subids[] = { 1, 268435455, 300 };
	static const struct rmq_strpair user[] = { { { "x", 1 }, { "y", 1 } } };
	struct rmq_packet p = { .type = RMQ_PUBLISH }, q;
	struct rmq_props *pp = &p.publish.props;
	p.publish.topic = rmq_test_str("");
	p.publish.payload = rmq_test_str("{}");
	pp->topic_alias = 5;
	pp->payload_format = 1;
	pp->message_expiry = 3600;
	pp->content_type = rmq_test_str("application/json");
	pp->response_topic = rmq_test_str("reply/here");
	pp->correlation_data = rmq_test_str("42");
	pp->subids = subids;
	pp->n_subid = 3;
	pp->user = user;
	pp->n_user = 1;
	RMQ_PROP_SET(pp, RMQ_PROP_TOPIC_ALIAS);
	RMQ_PROP_SET(pp, RMQ_PROP_PAYLOAD_FORMAT);
	RMQ_PROP_SET(pp, RMQ_PROP_MESSAGE_EXPIRY);
	RMQ_PROP_SET(pp, RMQ_PROP_CONTENT_TYPE);
	RMQ_PROP_SET(pp, RMQ_PROP_RESPONSE_TOPIC);
	RMQ_PROP_SET(pp, RMQ_PROP_CORRELATION_DATA);
	RMQ_PROP_SET(pp, RMQ_PROP_SUBSCRIPTION_ID);
	RMQ_PROP_SET(pp, RMQ_PROP_USER_PROPERTY);
	/* Several subscription identifiers only come from a server
	 * (3.3.4). */
	roundtrip(&p, RMQ_V5, RMQ_FROM_SERVER, &q);
	const struct rmq_props *qp = &q.publish.props;
	cr_assert_eq(qp->present, pp->present);
	cr_assert_eq(qp->topic_alias, 5);
	cr_assert_eq(qp->n_subid, 3);
	cr_assert_eq(qp->subid, 1);
	uint32_t off = 0, k = 0;
	struct rmq_prop prop;
	while (rmq_props_next(&qp->raw, &off, &prop))
		if (prop.id == RMQ_PROP_SUBSCRIPTION_ID)
			cr_assert_eq(prop.num, subids[k++]);
	cr_assert_eq(k, 3);
	cr_assert(rmq_test_str_eq(qp->content_type, "application/json"));
	cr_assert(rmq_test_str_eq(qp->response_topic, "reply/here"));

	/* Passing a decoded block through: arrays NULL, counts and raw
	 * set, so the encoder copies repeats from raw. */
	struct rmq_packet r = q, s;
	r.publish.topic = rmq_test_str("named/again");
	size_t n1 = roundtrip(&r, RMQ_V5, RMQ_FROM_SERVER, &s);
	cr_assert(n1 > 0);
	cr_assert_eq(s.publish.props.n_subid, 3);
	cr_assert_eq(s.publish.props.n_user, 1);
	cr_assert_eq(s.publish.props.present, pp->present);
}

Test(codec_encode, roundtrip_acks)
{
	static const uint8_t types[] = { RMQ_PUBACK, RMQ_PUBREC, RMQ_PUBREL,
		RMQ_PUBCOMP };
	for (size_t i = 0; i < sizeof(versions); i++)
		for (size_t t = 0; t < 4; t++) {
			struct rmq_packet p = { .type = types[t] }, q;
			p.ack.packet_id = (uint16_t)(7 + t);
			roundtrip(&p, versions[i], RMQ_FROM_CLIENT, &q);
			cr_assert_eq(q.ack.packet_id, 7 + t);
			cr_assert_eq(q.ack.reason, 0);
		}
	/* 5.0 with a reason and a reason string. */
	struct rmq_packet p = { .type = RMQ_PUBREC }, q;
	p.ack.packet_id = 9;
	p.ack.reason = RMQ_RC_QUOTA_EXCEEDED;
	p.ack.props.reason_string = rmq_test_str("queue full");
	RMQ_PROP_SET(&p.ack.props, RMQ_PROP_REASON_STRING);
	roundtrip(&p, RMQ_V5, RMQ_FROM_SERVER, &q);
	cr_assert_eq(q.ack.reason, RMQ_RC_QUOTA_EXCEEDED);
	cr_assert(rmq_test_str_eq(q.ack.props.reason_string, "queue full"));
	p.type = RMQ_PUBCOMP;
	p.ack.reason = RMQ_RC_PACKET_ID_NOT_FOUND;
	roundtrip(&p, RMQ_V5, RMQ_FROM_CLIENT, &q);
	cr_assert_eq(q.ack.reason, RMQ_RC_PACKET_ID_NOT_FOUND);
}

Test(codec_encode, roundtrip_subscribe_unsubscribe)
{
	struct rmq_sub_entry e[] = {
		{ .filter = rmq_test_str("a/#"), .qos = 2 },
		{ .filter = rmq_test_str("$share/g/b/+"),
		    .qos = 1,
		    .retain_handling = 1 },
		{ .filter = rmq_test_str("c"),
		    .qos = 0,
		    .no_local = 1,
		    .retain_as_published = 1,
		    .retain_handling = 2 },
	};
	for (size_t i = 0; i < sizeof(versions); i++) {
		uint8_t v = versions[i];
		struct rmq_packet p = { .type = RMQ_SUBSCRIBE }, q;
		p.subscribe.packet_id = 300;
		p.subscribe.count = 3;
		p.subscribe.entries = e;
		if (v == RMQ_V5) {
			p.subscribe.props.subid = 77;
			p.subscribe.props.n_subid = 1;
			p.subscribe.props.subids = &p.subscribe.props.subid;
			RMQ_PROP_SET(&p.subscribe.props,
			    RMQ_PROP_SUBSCRIPTION_ID);
		}
		roundtrip(&p, v, RMQ_FROM_CLIENT, &q);
		cr_assert_eq(q.subscribe.packet_id, 300);
		cr_assert_eq(q.subscribe.count, 3);
		cr_assert_null(q.subscribe.entries);
		if (v == RMQ_V5)
			cr_assert_eq(q.subscribe.props.subid, 77);
		uint32_t off = 0, k = 0;
		struct rmq_sub_entry got;
		while (rmq_subscribe_next(&q.subscribe, v, &off, &got)) {
			cr_assert_eq(got.filter.len, e[k].filter.len);
			cr_assert_eq(memcmp(got.filter.p, e[k].filter.p,
					 got.filter.len),
			    0);
			cr_assert_eq(got.qos, e[k].qos);
			int v5 = v == RMQ_V5;
			cr_assert_eq(got.no_local, v5 ? e[k].no_local : 0);
			cr_assert_eq(got.retain_as_published,
			    v5 ? e[k].retain_as_published : 0);
			cr_assert_eq(got.retain_handling,
			    v5 ? e[k].retain_handling : 0);
			k++;
		}
		cr_assert_eq(k, 3);

		struct rmq_str f[] = { rmq_test_str("a/#"), rmq_test_str("x") };
		struct rmq_packet u = { .type = RMQ_UNSUBSCRIBE }, w;
		u.unsubscribe.packet_id = 301;
		u.unsubscribe.count = 2;
		u.unsubscribe.filters = f;
		roundtrip(&u, v, RMQ_FROM_CLIENT, &w);
		cr_assert_eq(w.unsubscribe.count, 2);
		struct rmq_str gf;
		off = 0;
		cr_assert(rmq_unsubscribe_next(&w.unsubscribe, &off, &gf));
		cr_assert(rmq_test_str_eq(gf, "a/#"));
		cr_assert(rmq_unsubscribe_next(&w.unsubscribe, &off, &gf));
		cr_assert(rmq_test_str_eq(gf, "x"));
		cr_assert_not(rmq_unsubscribe_next(&w.unsubscribe, &off, &gf));
	}
}

Test(codec_encode, roundtrip_suback_unsuback)
{
	static const uint8_t codes311[] = { 0, 1, 2, 0x80 };
	static const uint8_t codes31[] = { 0, 1, 2 };
	static const uint8_t codes5[] = { 0, 2, 0x87, 0xA2 };
	static const uint8_t ucodes5[] = { 0, 0x11 };
	for (size_t i = 0; i < sizeof(versions); i++) {
		uint8_t v = versions[i];
		const uint8_t *codes = v == RMQ_V5 ? codes5
		    : v == RMQ_V311                ? codes311
						   : codes31;
		uint32_t n = v == RMQ_V31 ? 3 : 4;
		struct rmq_packet p = { .type = RMQ_SUBACK }, q;
		p.suback.packet_id = 5;
		p.suback.count = n;
		p.suback.codes = codes;
		roundtrip(&p, v, RMQ_FROM_SERVER, &q);
		cr_assert_eq(q.suback.count, n);
		cr_assert_eq(memcmp(q.suback.codes, codes, n), 0);

		struct rmq_packet u = { .type = RMQ_UNSUBACK }, w;
		u.suback.packet_id = 6;
		u.suback.count = 2;
		u.suback.codes = ucodes5;
		roundtrip(&u, v, RMQ_FROM_SERVER, &w);
		cr_assert_eq(w.suback.packet_id, 6);
		/* 3.x UNSUBACK carries no reason codes. */
		cr_assert_eq(w.suback.count, v == RMQ_V5 ? 2u : 0u);
	}
}

Test(codec_encode, roundtrip_ping_disconnect_auth)
{
	for (size_t i = 0; i < sizeof(versions); i++) {
		struct rmq_packet p = { .type = RMQ_PINGREQ }, q;
		roundtrip(&p, versions[i], RMQ_FROM_CLIENT, &q);
		p.type = RMQ_PINGRESP;
		roundtrip(&p, versions[i], RMQ_FROM_SERVER, &q);
		p.type = RMQ_DISCONNECT;
		roundtrip(&p, versions[i], RMQ_FROM_CLIENT, &q);
		cr_assert_eq(q.disconnect.reason, 0);
	}
	struct rmq_packet p = { .type = RMQ_DISCONNECT }, q;
	p.disconnect.reason = RMQ_RC_DISCONNECT_WITH_WILL;
	p.disconnect.props.session_expiry = 100;
	RMQ_PROP_SET(&p.disconnect.props, RMQ_PROP_SESSION_EXPIRY);
	roundtrip(&p, RMQ_V5, RMQ_FROM_CLIENT, &q);
	cr_assert_eq(q.disconnect.reason, RMQ_RC_DISCONNECT_WITH_WILL);
	cr_assert_eq(q.disconnect.props.session_expiry, 100);

	struct rmq_packet a = { .type = RMQ_AUTH }, b;
	a.auth.reason = RMQ_RC_CONTINUE_AUTHENTICATION;
	a.auth.props.auth_method = rmq_test_str("SCRAM-SHA-256");
	a.auth.props.auth_data = rmq_test_str("nonce");
	RMQ_PROP_SET(&a.auth.props, RMQ_PROP_AUTH_METHOD);
	RMQ_PROP_SET(&a.auth.props, RMQ_PROP_AUTH_DATA);
	roundtrip(&a, RMQ_V5, RMQ_FROM_SERVER, &b);
	cr_assert_eq(b.auth.reason, RMQ_RC_CONTINUE_AUTHENTICATION);
	cr_assert(rmq_test_str_eq(b.auth.props.auth_method, "SCRAM-SHA-256"));
	cr_assert(rmq_test_str_eq(b.auth.props.auth_data, "nonce"));
}

/* ---- refusals ---- */

Test(codec_encode, refuses_what_cannot_be_encoded)
{
	struct rmq_packet p = { .type = RMQ_AUTH };
	cr_assert_eq(rmq_codec_encode(&p, RMQ_V311, wire, sizeof(wire)),
	    -EINVAL, "AUTH does not exist before 5.0");
	cr_assert_eq(rmq_codec_size(&p, RMQ_V311), 0);

	p.type = RMQ_PUBLISH;
	p.publish.topic = rmq_test_str("t");
	p.publish.qos = 3;
	cr_assert_eq(rmq_codec_encode(&p, RMQ_V311, wire, sizeof(wire)),
	    -EINVAL, "QoS 3 does not exist");
	p.publish.qos = 1;
	p.publish.packet_id = 0;
	cr_assert_eq(rmq_codec_encode(&p, RMQ_V311, wire, sizeof(wire)),
	    -EINVAL, "QoS 1 needs a non-zero Packet Identifier");

	static char big[70000];
	p.publish.qos = 0;
	p.publish.topic = (struct rmq_str){ big, 65536 };
	cr_assert_eq(rmq_codec_size(&p, RMQ_V311), 0,
	    "a string is at most 65535 bytes");

	p.publish.topic = rmq_test_str("t");
	p.publish.payload = rmq_test_str("0123456789");
	cr_assert_eq(rmq_codec_encode(&p, RMQ_V311, wire, 5), -ENOBUFS);

	p.type = RMQ_SUBSCRIBE;
	p.subscribe = (struct rmq_subscribe){ .packet_id = 1 };
	cr_assert_eq(rmq_codec_size(&p, RMQ_V311), 0,
	    "a SUBSCRIBE needs a Topic Filter");

	struct rmq_packet c = { .type = RMQ_CONNECT };
	c.connect.password = rmq_test_str("p");
	cr_assert_eq(rmq_codec_size(&c, RMQ_V311), 0,
	    "[MQTT-3.1.2-22] 3.1.1 has no password without a user name");
	cr_assert_gt(rmq_codec_size(&c, RMQ_V5), 0,
	    "5.0 allows a password without a user name");
	cr_assert_eq(rmq_codec_size(&c, 6), 0, "no protocol level 6");
}

Test(codec_encode, payload_near_the_remaining_length_limit)
{
	/* The largest body is 268,435,455 bytes; one more is refused. */
	struct rmq_packet p = { .type = RMQ_PUBLISH };
	p.publish.topic = rmq_test_str("t");
	p.publish.payload = (struct rmq_str){ "", RMQ_VARINT_MAX - 3 };
	cr_assert_eq(rmq_codec_size(&p, RMQ_V311), RMQ_VARINT_MAX + 5u);
	p.publish.payload.len++;
	cr_assert_eq(rmq_codec_size(&p, RMQ_V311), 0);
}

/* ---- shared and per-subscriber PUBLISH ---- */

/* Concatenate iovecs into flat. */
static size_t
flatten(const struct iovec *iov, int n, uint8_t *flat)
{
	size_t len = 0;
	for (int i = 0; i < n; i++) {
		memcpy(flat + len, iov[i].iov_base, iov[i].iov_len);
		len += iov[i].iov_len;
	}
	return len;
}

Test(codec_encode, publish_split_matches_whole_encoding)
{
	static const struct rmq_strpair user[] = { { { "u", 1 }, { "1", 1 } } };
	struct rmq_packet p = { .type = RMQ_PUBLISH };
	p.publish.topic = rmq_test_str("fleet/truck/7");
	p.publish.payload = rmq_test_str("position 1,2");
	p.publish.props.content_type = rmq_test_str("text/plain");
	p.publish.props.user = user;
	p.publish.props.n_user = 1;
	RMQ_PROP_SET(&p.publish.props, RMQ_PROP_CONTENT_TYPE);
	RMQ_PROP_SET(&p.publish.props, RMQ_PROP_USER_PROPERTY);

	for (size_t i = 0; i < sizeof(versions); i++) {
		uint8_t v = versions[i];
		uint8_t shared[256], hdr[RMQ_PUB_HDR_MAX], flat[512];
		struct rmq_pub_shared sh;
		struct iovec iov[5];
		size_t size;
		cr_assert_eq(rmq_codec_publish_shared(&p.publish, v, shared,
				 sizeof(shared), &sh),
		    0);
		cr_assert_eq(sh.payload, (const uint8_t *)p.publish.payload.p,
		    "the payload is referenced, not copied");

		for (uint8_t qos = 0; qos <= 2; qos++) {
			struct rmq_pub_var var = { .qos = qos,
				.retain = 1,
				.packet_id = qos ? 99 : 0 };
			int n = rmq_codec_publish_iov(&sh, &var, hdr,
			    sizeof(hdr), iov, &size);
			cr_assert_gt(n, 0);
			cr_assert_leq(n, 5);
			size_t len = flatten(iov, n, flat);
			cr_assert_eq(len, size);

			/* The same message encoded whole. */
			struct rmq_packet w = p;
			w.publish.qos = qos;
			w.publish.retain = 1;
			w.publish.packet_id = var.packet_id;
			long wn = rmq_codec_encode(&w, v, wire, sizeof(wire));
			assert_bytes(flat, len, wire, (size_t)wn);
		}
	}
}

Test(codec_encode, publish_split_per_subscriber_properties)
{
	struct rmq_publish pub = { .topic = rmq_test_str("a/b"),
		.payload = rmq_test_str("data") };
	/* A received message expiry and alias are per subscriber: they
	 * must not reach the shared part. */
	pub.props.message_expiry = 100;
	pub.props.topic_alias = 3;
	RMQ_PROP_SET(&pub.props, RMQ_PROP_MESSAGE_EXPIRY);
	RMQ_PROP_SET(&pub.props, RMQ_PROP_TOPIC_ALIAS);
	uint8_t shared[64], hdr[RMQ_PUB_HDR_MAX], flat[256];
	struct rmq_pub_shared sh;
	cr_assert_eq(rmq_codec_publish_shared(&pub, RMQ_V5, shared,
			 sizeof(shared), &sh),
	    0);
	cr_assert_eq(sh.props_len, 0);

	static const uint32_t subids[] = { 4, 200 };
	struct rmq_pub_var var = { .qos = 1,
		.packet_id = 12,
		.omit_topic = 1,
		.topic_alias = 9,
		.has_expiry = 1,
		.message_expiry = 42,
		.n_subid = 2,
		.subids = subids };
	struct iovec iov[5];
	size_t size;
	int n = rmq_codec_publish_iov(&sh, &var, hdr, sizeof(hdr), iov, &size);
	cr_assert_gt(n, 0);
	size_t len = flatten(iov, n, flat);

	struct rmq_framer f;
	struct rmq_frame fr;
	struct rmq_codec_err err;
	struct rmq_packet q;
	size_t used;
	rmq_framer_init(&f, 0);
	cr_assert_eq(rmq_framer_next(&f, flat, len, &used, &fr, &err), 1);
	cr_assert_eq(rmq_codec_decode(fr.first, fr.body, fr.body_len, RMQ_V5,
			 RMQ_FROM_SERVER, &q, &err),
	    0, "%s", err.msg);
	cr_assert_eq(q.publish.topic.len, 0);
	cr_assert_eq(q.publish.packet_id, 12);
	cr_assert_eq(q.publish.props.topic_alias, 9);
	cr_assert_eq(q.publish.props.message_expiry, 42);
	cr_assert_eq(q.publish.props.n_subid, 2);
	cr_assert_eq(q.publish.props.subid, 4);
	cr_assert(rmq_test_str_eq(q.publish.payload, "data"));

	/* 3.x has no aliases. */
	cr_assert_eq(rmq_codec_publish_shared(&pub, RMQ_V311, shared,
			 sizeof(shared), &sh),
	    0);
	cr_assert_eq(rmq_codec_publish_iov(&sh, &var, hdr, sizeof(hdr), iov,
			 &size),
	    -EINVAL);
	/* A header buffer too small for the subscriber's part. */
	cr_assert_eq(rmq_codec_publish_shared(&pub, RMQ_V5, shared,
			 sizeof(shared), &sh),
	    0);
	cr_assert_eq(rmq_codec_publish_iov(&sh, &var, hdr, 8, iov, &size),
	    -EINVAL);
	cr_assert_eq(rmq_codec_publish_shared(&pub, RMQ_V5, shared, 3, &sh),
	    -ENOBUFS);
}

Test(codec_encode, refuses_packets_the_spec_forbids)
{
	struct rmq_packet p = { .type = RMQ_PUBLISH };
	p.publish.topic = rmq_test_str("a/b");
	p.publish.dup = 1;
	cr_assert_eq(rmq_codec_size(&p, RMQ_V311), 0,
	    "[MQTT-3.3.1-2] DUP at QoS 0");
	cr_assert_gt(rmq_codec_size(&p, RMQ_V31), 0, "3.1 allowed it");
	p.publish.dup = 0;
	p.publish.topic = rmq_test_str("a/#");
	cr_assert_eq(rmq_codec_size(&p, RMQ_V5), 0,
	    "[MQTT-3.3.2-2] wildcard in a topic name");
	p.publish.topic = rmq_test_str("");
	cr_assert_eq(rmq_codec_size(&p, RMQ_V311), 0,
	    "[MQTT-4.7.3-1] empty topic name");
	cr_assert_eq(rmq_codec_size(&p, RMQ_V5), 0,
	    "3.3.2.3.4: empty topic without a Topic Alias");
	p.publish.props.topic_alias = 1;
	RMQ_PROP_SET(&p.publish.props, RMQ_PROP_TOPIC_ALIAS);
	cr_assert_gt(rmq_codec_size(&p, RMQ_V5), 0);

	/* Flags are bits, whatever the byte holds. */
	struct rmq_packet q = { .type = RMQ_PUBLISH };
	q.publish.topic = rmq_test_str("t");
	q.publish.retain = 2;
	long n = rmq_codec_encode(&q, RMQ_V311, wire, sizeof(wire));
	cr_assert_eq(n, 5);
	cr_assert_eq(wire[0], 0x31);

	struct rmq_packet s = { .type = RMQ_SUBACK };
	static const uint8_t c87[] = { 0x87 };
	s.suback.packet_id = 1;
	s.suback.count = 1;
	s.suback.codes = c87;
	cr_assert_eq(rmq_codec_size(&s, RMQ_V311), 0,
	    "3.1.1 SUBACK has 0, 1, 2 and 0x80 only");
	cr_assert_gt(rmq_codec_size(&s, RMQ_V5), 0);
	struct rmq_packet c = { .type = RMQ_CONNACK };
	c.connack.reason = 0x86;
	cr_assert_eq(rmq_codec_size(&c, RMQ_V311), 0, "no such 3.x code");
	c.connack.reason = RMQ_V3_REFUSED_BAD_USERNAME_PASSWORD;
	c.connack.session_present = 1;
	cr_assert_eq(rmq_codec_size(&c, RMQ_V311), 0,
	    "[MQTT-3.2.2-6] no Session Present on a refusal");
	struct rmq_packet a = { .type = RMQ_AUTH };
	a.auth.reason = RMQ_RC_CONTINUE_AUTHENTICATION;
	cr_assert_eq(rmq_codec_size(&a, RMQ_V5), 0,
	    "3.15.2.2.2: AUTH needs its Authentication Method");
	struct rmq_sub_entry e = { .filter = rmq_test_str("$share/g/x"),
		.no_local = 1 };
	struct rmq_packet sub = { .type = RMQ_SUBSCRIBE };
	sub.subscribe.packet_id = 1;
	sub.subscribe.count = 1;
	sub.subscribe.entries = &e;
	cr_assert_eq(rmq_codec_size(&sub, RMQ_V5), 0,
	    "[MQTT-3.8.3-4] No Local on a shared subscription");
}

Test(codec_encode, publish_split_v31_dup_on_qos0)
{
	/* 3.1 allowed DUP on QoS 0: a 3.1 message may be forwarded so, and
	 * the split encoding agrees with the whole one (found by fuzzing). */
	struct rmq_publish pub = { .topic = rmq_test_str("x/y"),
		.payload = rmq_test_str("z") };
	uint8_t shared[32], hdr[RMQ_PUB_HDR_MAX];
	struct rmq_pub_shared sh;
	struct iovec iov[5];
	size_t size;
	cr_assert_eq(rmq_codec_publish_shared(&pub, RMQ_V31, shared,
			 sizeof(shared), &sh),
	    0);
	struct rmq_pub_var var = { .dup = 1 };
	cr_assert_gt(rmq_codec_publish_iov(&sh, &var, hdr, sizeof(hdr), iov,
			 &size),
	    0);
	cr_assert_eq(hdr[0], 0x38);
	cr_assert_eq(rmq_codec_publish_shared(&pub, RMQ_V311, shared,
			 sizeof(shared), &sh),
	    0);
	cr_assert_eq(rmq_codec_publish_iov(&sh, &var, hdr, sizeof(hdr), iov,
			 &size),
	    -EINVAL, "[MQTT-3.3.1-2] from 3.1.1 on");
}
