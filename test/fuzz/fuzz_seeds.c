/* test/fuzz/fuzz_seeds.c: writes the decoder fuzzer's seed corpus.
 *
 * One file per protocol version and side: the two control bytes the fuzz
 * target reads (side and version, read splitting), then a valid stream of
 * packets made by the encoder, so the fuzzer starts from every packet type
 * and most properties rather than from nothing.
 * Usage: fuzz_seeds DIR
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec.h"

static uint8_t buf[1 << 16];
static size_t len;

static void
seeds_add(const struct rmq_packet *p, uint8_t version)
{
	long n = rmq_codec_encode(p, version, buf + len, sizeof(buf) - len);
	if (n < 0) {
		fprintf(stderr, "fuzz_seeds: cannot encode %s at v%u\n",
		    rmq_packet_type_name(p->type), version);
		exit(1);
	}
	len += (size_t)n;
}

static struct rmq_str
S(const char *s) {
	return (struct rmq_str){ s, (uint32_t)strlen(s) };
}

static void
seeds_write(const char *dir, const char *name)
{
	char path[4096];
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	FILE *f = fopen(path, "wb");
	if (f == NULL || fwrite(buf, 1, len, f) != len || fclose(f) != 0) {
		perror(path);
		exit(1);
	}
}

/* Properties that a PUBLISH or a will may carry. */
static void
seeds_pub_props(struct rmq_props *p)
{
	static const struct rmq_strpair user[] = { { { "k", 1 }, { "v", 1 } } };
	p->payload_format = 1;
	p->message_expiry = 60;
	p->content_type = S("text/plain");
	p->response_topic = S("re/ply");
	p->correlation_data = S("id");
	p->user = user;
	p->n_user = 1;
	RMQ_PROP_SET(p, RMQ_PROP_PAYLOAD_FORMAT);
	RMQ_PROP_SET(p, RMQ_PROP_MESSAGE_EXPIRY);
	RMQ_PROP_SET(p, RMQ_PROP_CONTENT_TYPE);
	RMQ_PROP_SET(p, RMQ_PROP_RESPONSE_TOPIC);
	RMQ_PROP_SET(p, RMQ_PROP_CORRELATION_DATA);
	RMQ_PROP_SET(p, RMQ_PROP_USER_PROPERTY);
}

/* What a client sends: CONNECT with a will, then the rest. */
static void
seeds_client(uint8_t v)
{
	struct rmq_packet p = { .type = RMQ_CONNECT };
	p.connect.clean = 1;
	p.connect.keepalive = 30;
	p.connect.client_id = S("seed");
	p.connect.will = 1;
	p.connect.will_qos = 1;
	p.connect.will_topic = S("will/t");
	p.connect.will_payload = S("gone");
	p.connect.username = S("u");
	p.connect.password = S("p");
	if (v == RMQ_V5) {
		p.connect.props.session_expiry = 100;
		p.connect.props.receive_max = 10;
		p.connect.props.max_packet_size = 4096;
		p.connect.props.topic_alias_max = 5;
		RMQ_PROP_SET(&p.connect.props, RMQ_PROP_SESSION_EXPIRY);
		RMQ_PROP_SET(&p.connect.props, RMQ_PROP_RECEIVE_MAXIMUM);
		RMQ_PROP_SET(&p.connect.props, RMQ_PROP_MAXIMUM_PACKET_SIZE);
		RMQ_PROP_SET(&p.connect.props, RMQ_PROP_TOPIC_ALIAS_MAXIMUM);
		seeds_pub_props(&p.connect.will_props);
		p.connect.will_props.will_delay = 5;
		RMQ_PROP_SET(&p.connect.will_props, RMQ_PROP_WILL_DELAY);
	}
	seeds_add(&p, v);

	struct rmq_sub_entry e[] = {
		{ .filter = S("a/+/c"), .qos = 1 },
		{ .filter = S("$share/g/x/#"), .qos = 2, .retain_handling = 1 }
	};
	p = (struct rmq_packet){ .type = RMQ_SUBSCRIBE };
	p.subscribe.packet_id = 1;
	p.subscribe.count = 2;
	p.subscribe.entries = e;
	seeds_add(&p, v);

	for (uint8_t qos = 0; qos <= 2; qos++) {
		p = (struct rmq_packet){ .type = RMQ_PUBLISH };
		p.publish.qos = qos;
		p.publish.retain = qos == 1;
		p.publish.packet_id = qos ? (uint16_t)(10 + qos) : 0;
		p.publish.topic = S("a/b/c");
		p.publish.payload = S("payload");
		if (v == RMQ_V5) {
			seeds_pub_props(&p.publish.props);
			p.publish.props.topic_alias = 1;
			RMQ_PROP_SET(&p.publish.props, RMQ_PROP_TOPIC_ALIAS);
		}
		seeds_add(&p, v);
	}
	static const uint8_t acks[] = { RMQ_PUBACK, RMQ_PUBREC, RMQ_PUBREL,
		RMQ_PUBCOMP };
	for (size_t i = 0; i < sizeof(acks); i++) {
		p = (struct rmq_packet){ .type = acks[i] };
		p.ack.packet_id = 3;
		if (v == RMQ_V5 && i == 1) {
			p.ack.reason = RMQ_RC_NO_MATCHING_SUBSCRIBERS;
			p.ack.props.reason_string = S("none");
			RMQ_PROP_SET(&p.ack.props, RMQ_PROP_REASON_STRING);
		}
		seeds_add(&p, v);
	}
	struct rmq_str f[] = { S("a/+/c") };
	p = (struct rmq_packet){ .type = RMQ_UNSUBSCRIBE };
	p.unsubscribe.packet_id = 2;
	p.unsubscribe.count = 1;
	p.unsubscribe.filters = f;
	seeds_add(&p, v);
	p = (struct rmq_packet){ .type = RMQ_PINGREQ };
	seeds_add(&p, v);
	if (v == RMQ_V5) {
		p = (struct rmq_packet){ .type = RMQ_AUTH };
		p.auth.reason = RMQ_RC_CONTINUE_AUTHENTICATION;
		p.auth.props.auth_method = S("X");
		RMQ_PROP_SET(&p.auth.props, RMQ_PROP_AUTH_METHOD);
		seeds_add(&p, v);
	}
	p = (struct rmq_packet){ .type = RMQ_DISCONNECT };
	p.disconnect.reason = v == RMQ_V5 ? RMQ_RC_DISCONNECT_WITH_WILL : 0;
	seeds_add(&p, v);
}

/* What a server sends. */
static void
seeds_server(uint8_t v)
{
	struct rmq_packet p = { .type = RMQ_CONNACK };
	p.connack.session_present = v != RMQ_V31;
	if (v == RMQ_V5) {
		struct rmq_props *pp = &p.connack.props;
		pp->assigned_client_id = S("auto");
		pp->server_keep_alive = 20;
		pp->max_qos = 1;
		pp->retain_available = 1;
		pp->shared_sub_available = 1;
		RMQ_PROP_SET(pp, RMQ_PROP_ASSIGNED_CLIENT_ID);
		RMQ_PROP_SET(pp, RMQ_PROP_SERVER_KEEP_ALIVE);
		RMQ_PROP_SET(pp, RMQ_PROP_MAXIMUM_QOS);
		RMQ_PROP_SET(pp, RMQ_PROP_RETAIN_AVAILABLE);
		RMQ_PROP_SET(pp, RMQ_PROP_SHARED_SUB_AVAILABLE);
	}
	seeds_add(&p, v);
	static const uint8_t codes[] = { 0, 1, 2 };
	p = (struct rmq_packet){ .type = RMQ_SUBACK };
	p.suback.packet_id = 1;
	p.suback.count = 3;
	p.suback.codes = codes;
	seeds_add(&p, v);
	p.type = RMQ_UNSUBACK;
	p.suback.count = 1;
	seeds_add(&p, v);
	static const uint32_t subids[] = { 1, 2 };
	p = (struct rmq_packet){ .type = RMQ_PUBLISH };
	p.publish.qos = 2;
	p.publish.packet_id = 9;
	p.publish.topic = S("x/y");
	p.publish.payload = S("z");
	if (v == RMQ_V5) {
		p.publish.props.subids = subids;
		p.publish.props.n_subid = 2;
		RMQ_PROP_SET(&p.publish.props, RMQ_PROP_SUBSCRIPTION_ID);
	}
	seeds_add(&p, v);
	p = (struct rmq_packet){ .type = RMQ_PINGRESP };
	seeds_add(&p, v);
	p = (struct rmq_packet){ .type = RMQ_DISCONNECT };
	p.disconnect.reason = v == RMQ_V5 ? RMQ_RC_SESSION_TAKEN_OVER : 0;
	seeds_add(&p, v);
}

int
main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: fuzz_seeds DIR\n");
		return 2;
	}
	static const uint8_t versions[] = { RMQ_V31, RMQ_V311, RMQ_V5 };
	static const char *names[] = { "v31", "v311", "v5" };
	for (int i = 0; i < 3; i++) {
		char name[64];
		/* Control byte 0: bit 0 side, bits 1.. version index. */
		len = 0;
		buf[len++] = 0x00;
		buf[len++] = 0x07;
		seeds_client(versions[i]);
		snprintf(name, sizeof(name), "client-%s", names[i]);
		seeds_write(argv[1], name);
		len = 0;
		buf[len++] = (uint8_t)(0x01 | i << 1);
		buf[len++] = 0x07;
		seeds_server(versions[i]);
		snprintf(name, sizeof(name), "server-%s", names[i]);
		seeds_write(argv[1], name);
	}
	return 0;
}
