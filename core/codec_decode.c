/* core/codec_decode.c: MQTT packet bodies to struct rmq_packet.
 *
 * The rules of the spec that one packet can break on its own are checked
 * here, with the reason code to send back and the statement broken, so the
 * broker acts on a packet that is known to be well formed.  Nothing is
 * copied: the packet's strings point into the body.  Rules that need
 * session state (topic alias range, packet ids in flight, receive maximum)
 * belong to the broker, and so does the syntax of each SUBSCRIBE and
 * UNSUBSCRIBE topic filter (rmq_topic_filter_check), which 5.0 answers per
 * filter in the SUBACK rather than by closing the connection.
 */
#include <errno.h>
#include <string.h>

#include "codec.h"
#include "topic.h"
#include "utf8.h"
#include "wire.h"

static int
decode_fail(struct rmq_codec_err *err, uint8_t reason, const char *msg)
{
	err->reason = reason;
	err->msg = msg;
	return -EPROTO;
}

#define MALFORMED(msg) decode_fail(err, RMQ_RC_MALFORMED_PACKET, msg)
#define PROTOCOL(msg) decode_fail(err, RMQ_RC_PROTOCOL_ERROR, msg)

/* A UTF-8 Encoded String: length, bytes, and [MQTT-1.5.4-1/2]. */
static int
decode_string(struct rmq_rd *r, struct rmq_str *s, struct rmq_codec_err *err)
{
	if (rmq_rd_bin(r, s) != 0)
		return MALFORMED("string runs past the end of the packet");
	if (!rmq_utf8_valid(s->p, s->len))
		return MALFORMED(
		    "[MQTT-1.5.4-1] string is not valid UTF-8 or contains U+0000");
	return 0;
}

/* A 5.0 property block: its Variable Byte Integer length, then the block. */
static int
decode_props(struct rmq_rd *r, unsigned where, enum rmq_role from,
    struct rmq_props *props, struct rmq_codec_err *err)
{
	uint32_t len;
	if (rmq_rd_varint(r, &len) != 0)
		return MALFORMED(
		    "Property Length is not a valid Variable Byte Integer");
	if (len > rmq_rd_left(r))
		return MALFORMED(
		    "Property Length runs past the end of the packet");
	int rc = rmq_props_decode(r->p, len, where, from == RMQ_FROM_SERVER,
	    props, err);
	r->p += len;
	return rc;
}

static int
decode_end(const struct rmq_rd *r, struct rmq_codec_err *err)
{
	return rmq_rd_left(r) == 0
	    ? 0
	    : MALFORMED("bytes left over after the end of the packet");
}

static int
decode_connect(struct rmq_rd *r, struct rmq_connect *c,
    struct rmq_codec_err *err)
{
	struct rmq_str name;
	uint8_t level, flags;
	int rc;

	memset(c, 0, sizeof(*c));
	if (rmq_rd_bin(r, &name) != 0 || rmq_rd_u8(r, &level) != 0)
		return MALFORMED(
		    "CONNECT too short for its protocol name and level");
	c->version = level;
	c->name_known = 1;
	if (name.len == 4 && memcmp(name.p, "MQTT", 4) == 0) {
		if (level != RMQ_V311 && level != RMQ_V5)
			return decode_fail(err,
			    RMQ_RC_UNSUPPORTED_PROTOCOL_VERSION,
			    "[MQTT-3.1.2-2] unsupported protocol level");
	} else if (name.len == 6 && memcmp(name.p, "MQIsdp", 6) == 0) {
		if (level != RMQ_V31)
			return decode_fail(err,
			    RMQ_RC_UNSUPPORTED_PROTOCOL_VERSION,
			    "[MQTT-3.1.2-2] unsupported protocol level");
	} else {
		/* Not MQTT at all: no version to answer in. */
		c->version = 0;
		c->name_known = 0;
		return decode_fail(err, RMQ_RC_UNSUPPORTED_PROTOCOL_VERSION,
		    "[MQTT-3.1.2-1] unknown protocol name");
	}

	if (rmq_rd_u8(r, &flags) != 0 || rmq_rd_u16(r, &c->keepalive) != 0)
		return MALFORMED(
		    "CONNECT too short for its flags and keep alive");
	if (flags & 0x01)
		return MALFORMED(
		    "[MQTT-3.1.2-3] CONNECT reserved flag is not 0");
	c->clean = (flags >> 1) & 1;
	c->will = (flags >> 2) & 1;
	c->will_qos = (flags >> 3) & 3;
	c->will_retain = (flags >> 5) & 1;
	int has_password = (flags >> 6) & 1;
	int has_username = (flags >> 7) & 1;
	if (!c->will && (c->will_qos || c->will_retain))
		return MALFORMED(
		    "[MQTT-3.1.2-11] [MQTT-3.1.2-13] Will QoS and Will Retain must be 0 without a will");
	if (c->will_qos == 3)
		return MALFORMED("[MQTT-3.1.2-12] Will QoS is 3");
	if (level < RMQ_V5 && has_password && !has_username)
		return MALFORMED(
		    "[MQTT-3.1.2-22] password without user name (3.1.1)");

	if (level == RMQ_V5) {
		rc = decode_props(r, RMQ_CONNECT, RMQ_FROM_CLIENT, &c->props,
		    err);
		if (rc != 0)
			return rc;
		if (RMQ_PROP_HAS(&c->props, RMQ_PROP_AUTH_DATA) &&
		    !RMQ_PROP_HAS(&c->props, RMQ_PROP_AUTH_METHOD))
			return PROTOCOL(
			    "Authentication Data without Authentication Method (3.1.2.11.10)");
	}
	if ((rc = decode_string(r, &c->client_id, err)) != 0)
		return rc;
	if (c->will) {
		if (level == RMQ_V5) {
			rc = decode_props(r, RMQ_PROPS_WILL, RMQ_FROM_CLIENT,
			    &c->will_props, err);
			if (rc != 0)
				return rc;
		}
		if ((rc = decode_string(r, &c->will_topic, err)) != 0)
			return rc;
		if (rmq_topic_name_check(c->will_topic.p, c->will_topic.len))
			return decode_fail(err, RMQ_RC_TOPIC_NAME_INVALID,
			    "[MQTT-3.1.3-11] Will Topic is not a valid Topic Name");
		if (rmq_rd_bin(r, &c->will_payload) != 0)
			return MALFORMED(
			    "Will Payload runs past the end of the packet");
	}
	if (has_username && (rc = decode_string(r, &c->username, err)) != 0)
		return rc;
	if (has_password && rmq_rd_bin(r, &c->password) != 0)
		return MALFORMED("Password runs past the end of the packet");
	return decode_end(r, err);
}

static int
decode_connack(struct rmq_rd *r, uint8_t version, struct rmq_connack *c,
    struct rmq_codec_err *err)
{
	uint8_t flags;
	memset(c, 0, sizeof(*c));
	if (rmq_rd_u8(r, &flags) != 0 || rmq_rd_u8(r, &c->reason) != 0)
		return MALFORMED("CONNACK too short");
	/* 3.1 left the whole byte unused; 3.1.1 and 5.0 use bit 0. */
	if (version == RMQ_V31)
		flags = 0;
	if (flags & 0xfe)
		return MALFORMED(
		    "[MQTT-3.2.2-1] CONNACK reserved flags are not 0");
	c->session_present = flags & 1;
	if (!rmq_reason_allowed(c->reason, RMQ_CONNACK, version))
		return MALFORMED("CONNACK return code is not defined");
	if (c->reason != 0 && c->session_present)
		return PROTOCOL(
		    "[MQTT-3.2.2-6] Session Present set on a refused connection");
	if (version == RMQ_V5) {
		int rc = decode_props(r, RMQ_CONNACK, RMQ_FROM_SERVER,
		    &c->props, err);
		if (rc != 0)
			return rc;
		if (RMQ_PROP_HAS(&c->props, RMQ_PROP_AUTH_DATA) &&
		    !RMQ_PROP_HAS(&c->props, RMQ_PROP_AUTH_METHOD))
			return PROTOCOL(
			    "Authentication Data without Authentication Method (3.2.2.3.17)");
	}
	return decode_end(r, err);
}

static int
decode_publish(struct rmq_rd *r, uint8_t flags, uint8_t version,
    enum rmq_role from, struct rmq_publish *p, struct rmq_codec_err *err)
{
	int rc;
	memset(p, 0, sizeof(*p));
	p->dup = (flags >> 3) & 1;
	p->qos = (flags >> 1) & 3;
	p->retain = flags & 1;
	if (p->qos == 3)
		return MALFORMED("[MQTT-3.3.1-4] PUBLISH QoS is 3");
	if (p->qos == 0 && p->dup && version != RMQ_V31)
		return PROTOCOL("[MQTT-3.3.1-2] DUP set on a QoS 0 PUBLISH");
	if ((rc = decode_string(r, &p->topic, err)) != 0)
		return rc;
	if (p->topic.len > 0 &&
	    rmq_topic_name_check(p->topic.p, p->topic.len) != 0)
		return decode_fail(err, RMQ_RC_TOPIC_NAME_INVALID,
		    "[MQTT-3.3.2-2] Topic Name contains a wildcard");
	if (p->qos > 0) {
		if (rmq_rd_u16(r, &p->packet_id) != 0)
			return MALFORMED(
			    "PUBLISH too short for its Packet Identifier");
		if (p->packet_id == 0)
			return PROTOCOL(
			    "[MQTT-2.2.1-3] Packet Identifier is 0");
	}
	if (version == RMQ_V5) {
		rc = decode_props(r, RMQ_PUBLISH, from, &p->props, err);
		if (rc != 0)
			return rc;
		if (from == RMQ_FROM_CLIENT &&
		    RMQ_PROP_HAS(&p->props, RMQ_PROP_SUBSCRIPTION_ID))
			return PROTOCOL(
			    "[MQTT-3.3.4-6] Subscription Identifier in a PUBLISH from a client");
		if (p->topic.len == 0 &&
		    !RMQ_PROP_HAS(&p->props, RMQ_PROP_TOPIC_ALIAS))
			return PROTOCOL(
			    "empty Topic Name without a Topic Alias (3.3.2.3.4)");
	} else if (p->topic.len == 0) {
		return decode_fail(err, RMQ_RC_TOPIC_NAME_INVALID,
		    "[MQTT-4.7.3-1] empty Topic Name");
	}
	p->payload.p = (const char *)r->p;
	p->payload.len = (uint32_t)rmq_rd_left(r);
	r->p = r->end;
	return 0;
}

static int
decode_ack(struct rmq_rd *r, uint8_t type, uint8_t version, enum rmq_role from,
    struct rmq_ack *a, struct rmq_codec_err *err)
{
	memset(a, 0, sizeof(*a));
	if (rmq_rd_u16(r, &a->packet_id) != 0)
		return MALFORMED(
		    "acknowledgement too short for its Packet Identifier");
	if (a->packet_id == 0)
		return PROTOCOL("[MQTT-2.2.1-3] Packet Identifier is 0");
	if (version < RMQ_V5 || rmq_rd_left(r) == 0)
		return decode_end(r, err); /* reason 0, no properties */
	rmq_rd_u8(r, &a->reason);
	if (!rmq_reason_allowed(a->reason, type, version))
		return MALFORMED("reason code not defined for this packet");
	if (rmq_rd_left(r) > 0) {
		int rc = decode_props(r, type, from, &a->props, err);
		if (rc != 0)
			return rc;
	}
	return decode_end(r, err);
}

static int
decode_subscribe(struct rmq_rd *r, uint8_t version, struct rmq_subscribe *s,
    struct rmq_codec_err *err)
{
	memset(s, 0, sizeof(*s));
	if (rmq_rd_u16(r, &s->packet_id) != 0)
		return MALFORMED(
		    "SUBSCRIBE too short for its Packet Identifier");
	if (s->packet_id == 0)
		return PROTOCOL("[MQTT-2.2.1-3] Packet Identifier is 0");
	if (version == RMQ_V5) {
		int rc = decode_props(r, RMQ_SUBSCRIBE, RMQ_FROM_CLIENT,
		    &s->props, err);
		if (rc != 0)
			return rc;
	}
	s->raw.p = (const char *)r->p;
	s->raw.len = (uint32_t)rmq_rd_left(r);
	while (rmq_rd_left(r) > 0) {
		struct rmq_str filter, group, inner;
		uint8_t opt;
		int rc = decode_string(r, &filter, err);
		if (rc != 0)
			return rc;
		if (rmq_rd_u8(r, &opt) != 0)
			return MALFORMED(
			    "Topic Filter without Subscription Options");
		if (version == RMQ_V31)
			opt &= 3; /* 3.1: the other bits are "not used" */
		if (version < RMQ_V5 && (opt & 0xfc))
			return MALFORMED(
			    "[MQTT-3.8.3-4] reserved bits of the requested QoS byte are not 0 (3.1.1)");
		if (opt & 0xc0)
			return MALFORMED(
			    "[MQTT-3.8.3-5] reserved Subscription Options bits are not 0");
		if ((opt & 3) == 3)
			return version < RMQ_V5
			    ? MALFORMED(
				  "[MQTT-3-8.3-4] requested QoS is 3 (3.1.1)")
			    : PROTOCOL("Maximum QoS is 3 (3.8.3.1)");
		if (((opt >> 4) & 3) == 3)
			return PROTOCOL("Retain Handling is 3 (3.8.3.1)");
		if ((opt & 0x04) &&
		    rmq_topic_share_parse(filter.p, filter.len, &group,
			&inner) == 1)
			return PROTOCOL(
			    "[MQTT-3.8.3-4] No Local on a shared subscription");
		s->count++;
	}
	if (s->count == 0)
		return PROTOCOL(
		    "[MQTT-3.8.3-3] SUBSCRIBE without a Topic Filter");
	return 0;
}

static int
decode_unsubscribe(struct rmq_rd *r, uint8_t version, struct rmq_unsubscribe *u,
    struct rmq_codec_err *err)
{
	memset(u, 0, sizeof(*u));
	if (rmq_rd_u16(r, &u->packet_id) != 0)
		return MALFORMED(
		    "UNSUBSCRIBE too short for its Packet Identifier");
	if (u->packet_id == 0)
		return PROTOCOL("[MQTT-2.2.1-3] Packet Identifier is 0");
	if (version == RMQ_V5) {
		int rc = decode_props(r, RMQ_UNSUBSCRIBE, RMQ_FROM_CLIENT,
		    &u->props, err);
		if (rc != 0)
			return rc;
	}
	u->raw.p = (const char *)r->p;
	u->raw.len = (uint32_t)rmq_rd_left(r);
	while (rmq_rd_left(r) > 0) {
		struct rmq_str filter;
		int rc = decode_string(r, &filter, err);
		if (rc != 0)
			return rc;
		if (filter.len == 0)
			return PROTOCOL("[MQTT-4.7.3-1] empty Topic Filter");
		u->count++;
	}
	if (u->count == 0)
		return PROTOCOL(
		    "[MQTT-3.10.3-2] UNSUBSCRIBE without a Topic Filter");
	return 0;
}

static int
decode_suback(struct rmq_rd *r, uint8_t type, uint8_t version,
    struct rmq_suback *s, struct rmq_codec_err *err)
{
	memset(s, 0, sizeof(*s));
	if (rmq_rd_u16(r, &s->packet_id) != 0)
		return MALFORMED(
		    "acknowledgement too short for its Packet Identifier");
	if (s->packet_id == 0)
		return PROTOCOL("[MQTT-2.2.1-3] Packet Identifier is 0");
	if (version == RMQ_V5) {
		int rc = decode_props(r, type, RMQ_FROM_SERVER, &s->props, err);
		if (rc != 0)
			return rc;
	} else if (type == RMQ_UNSUBACK) {
		return decode_end(r, err); /* 3.x UNSUBACK has no payload */
	}
	s->codes = r->p;
	s->count = (uint32_t)rmq_rd_left(r);
	if (s->count == 0)
		return PROTOCOL(
		    "acknowledgement without a reason code per Topic Filter");
	for (uint32_t i = 0; i < s->count; i++)
		if (!rmq_reason_allowed(s->codes[i], type, version))
			return MALFORMED(
			    "reason code not defined for this packet");
	r->p = r->end;
	return 0;
}

/* DISCONNECT and AUTH: 5.0 gives them a reason code and properties, both
 * of which may be left out. */
static int
decode_reasoned(struct rmq_rd *r, uint8_t type, uint8_t version,
    enum rmq_role from, struct rmq_reasoned *d, struct rmq_codec_err *err)
{
	memset(d, 0, sizeof(*d));
	if (version < RMQ_V5 || rmq_rd_left(r) == 0)
		return decode_end(r, err);
	rmq_rd_u8(r, &d->reason);
	if (!rmq_reason_allowed(d->reason, type, version))
		return MALFORMED("reason code not defined for this packet");
	if (rmq_rd_left(r) > 0) {
		int rc = decode_props(r, type, from, &d->props, err);
		if (rc != 0)
			return rc;
	}
	if (type == RMQ_DISCONNECT && from == RMQ_FROM_SERVER &&
	    d->reason == RMQ_RC_DISCONNECT_WITH_WILL)
		return PROTOCOL(
		    "Disconnect with Will Message from the server (3.14.2.1: client only)");
	if (type == RMQ_DISCONNECT && from == RMQ_FROM_SERVER &&
	    RMQ_PROP_HAS(&d->props, RMQ_PROP_SESSION_EXPIRY))
		return PROTOCOL(
		    "[MQTT-3.14.2-2] Session Expiry Interval in a DISCONNECT from the server");
	if (type == RMQ_AUTH && !RMQ_PROP_HAS(&d->props, RMQ_PROP_AUTH_METHOD))
		return PROTOCOL(
		    "AUTH without an Authentication Method (3.15.2.2.2)");
	return decode_end(r, err);
}

/* Packet types each side may send: bit t set when type t is allowed. */
static const uint16_t sendable[2] = {
	[RMQ_FROM_CLIENT] = 1u << RMQ_CONNECT | 1u << RMQ_PUBLISH |
	    1u << RMQ_PUBACK | 1u << RMQ_PUBREC | 1u << RMQ_PUBREL |
	    1u << RMQ_PUBCOMP | 1u << RMQ_SUBSCRIBE | 1u << RMQ_UNSUBSCRIBE |
	    1u << RMQ_PINGREQ | 1u << RMQ_DISCONNECT | 1u << RMQ_AUTH,
	[RMQ_FROM_SERVER] = 1u << RMQ_CONNACK | 1u << RMQ_PUBLISH |
	    1u << RMQ_PUBACK | 1u << RMQ_PUBREC | 1u << RMQ_PUBREL |
	    1u << RMQ_PUBCOMP | 1u << RMQ_SUBACK | 1u << RMQ_UNSUBACK |
	    1u << RMQ_PINGRESP | 1u << RMQ_DISCONNECT | 1u << RMQ_AUTH,
};

int
rmq_codec_decode(uint8_t first, const uint8_t *body, size_t len,
    uint8_t version, enum rmq_role from, struct rmq_packet *out,
    struct rmq_codec_err *err)
{
	static const uint8_t no_body[1];
	uint8_t type = first >> 4, flags = first & 0x0f;
	struct rmq_rd r = { body ? body : no_body,
		(body ? body : no_body) + len };

	out->type = type;
	out->flags = flags;
	/* A refused CONNECT is answered from what was read of it (its
	 * version): nothing of it may be left from an earlier packet. */
	if (type == RMQ_CONNECT)
		memset(&out->connect, 0, sizeof(out->connect));
	if (type == 0 || (type == RMQ_AUTH && version < RMQ_V5))
		return MALFORMED("reserved packet type");
	/* [MQTT-2.1.3-1] fixed header flags: 0010 for PUBREL, SUBSCRIBE and
	 * UNSUBSCRIBE, 0000 for the others but PUBLISH. */
	if (type != RMQ_PUBLISH) {
		uint8_t want = (type == RMQ_PUBREL || type == RMQ_SUBSCRIBE ||
				   type == RMQ_UNSUBSCRIBE)
		    ? 2
		    : 0;
		/* 3.1 let a resent PUBREL, SUBSCRIBE or UNSUBSCRIBE carry
		 * DUP; packet-specific flags came with 3.1.1. */
		if (version == RMQ_V31 && want == 2)
			flags &= (uint8_t)~0x08;
		if (flags != want)
			return MALFORMED(
			    "[MQTT-2.1.3-1] reserved fixed header flags are wrong");
	}
	if (!(sendable[from] & (1u << type)))
		return PROTOCOL("packet type not sent in this direction");

	switch (type) {
	case RMQ_CONNECT: return decode_connect(&r, &out->connect, err);
	case RMQ_CONNACK:
		return decode_connack(&r, version, &out->connack, err);
	case RMQ_PUBLISH:
		return decode_publish(&r, flags, version, from, &out->publish,
		    err);
	case RMQ_PUBACK:
	case RMQ_PUBREC:
	case RMQ_PUBREL:
	case RMQ_PUBCOMP:
		return decode_ack(&r, type, version, from, &out->ack, err);
	case RMQ_SUBSCRIBE:
		return decode_subscribe(&r, version, &out->subscribe, err);
	case RMQ_UNSUBSCRIBE:
		return decode_unsubscribe(&r, version, &out->unsubscribe, err);
	case RMQ_SUBACK:
	case RMQ_UNSUBACK:
		return decode_suback(&r, type, version, &out->suback, err);
	case RMQ_PINGREQ:
	case RMQ_PINGRESP: return decode_end(&r, err);
	case RMQ_DISCONNECT:
		return decode_reasoned(&r, type, version, from,
		    &out->disconnect, err);
	default: /* RMQ_AUTH */
		return decode_reasoned(&r, type, version, from, &out->auth,
		    err);
	}
}

void
rmq_decoder_init(struct rmq_decoder *d, enum rmq_role from, uint8_t version,
    uint32_t max_packet)
{
	rmq_framer_init(&d->framer, max_packet);
	d->from = (uint8_t)from;
	d->version = version;
	d->connected = from == RMQ_FROM_SERVER;
	d->framer.strict_varint = version == RMQ_V5;
}

void
rmq_decoder_fini(struct rmq_decoder *d)
{
	rmq_framer_fini(&d->framer);
}

int
rmq_decoder_next(struct rmq_decoder *d, const uint8_t *in, size_t len,
    size_t *used, struct rmq_packet *pkt, struct rmq_codec_err *err)
{
	struct rmq_frame fr;
	int rc = rmq_framer_next(&d->framer, in, len, used, &fr, err);
	if (rc <= 0)
		return rc;
	uint8_t type = fr.first >> 4;
	if (d->from == RMQ_FROM_CLIENT) {
		if (!d->connected && type != RMQ_CONNECT)
			rc = PROTOCOL(
			    "[MQTT-3.1.0-1] first packet is not CONNECT");
		else if (d->connected && type == RMQ_CONNECT)
			rc = PROTOCOL("[MQTT-3.1.0-2] second CONNECT");
	}
	if (rc > 0)
		rc = rmq_codec_decode(fr.first, fr.body, fr.body_len,
		    d->version, (enum rmq_role)d->from, pkt, err);
	if (rc < 0) {
		d->framer.hdr_len = 0xff; /* the stream is done */
		return rc;
	}
	if (type == RMQ_CONNECT) {
		d->connected = 1;
		d->version = pkt->connect.version;
		d->framer.strict_varint = d->version == RMQ_V5;
		/* The CONNECT's own length was read before its version was
		 * known: hold a 5.0 one to [MQTT-1.5.5-1] now. */
		if (d->version == RMQ_V5 &&
		    fr.size - fr.body_len != 1 + rmq_varint_size(fr.body_len)) {
			d->framer.hdr_len = 0xff;
			return MALFORMED(
			    "[MQTT-1.5.5-1] Remaining Length not in its shortest form");
		}
	}
	return 1;
}
