/* core/props.c: the MQTT 5.0 property table (spec 2.2.2.2) and the parsing
 * and encoding of property blocks.
 *
 * One table row per identifier gives its type, the packets that may carry
 * it and its name; every rule that a block can break on its own is checked
 * here, so that the packet decoders only check what depends on the packet.
 */
#include <errno.h>
#include <string.h>

#include "codec.h"
#include "props.h"
#include "utf8.h"
#include "wire.h"

#define W (1u << RMQ_PROPS_WILL)
#define T(t) (1u << (t))

struct prop_info {
	uint8_t type;
	uint16_t where;
	const char *name;
};

static const struct prop_info props_table[0x2B] = {
	[0x01] = { RMQ_PT_BYTE, T(RMQ_PUBLISH) | W,
	    "Payload Format Indicator" },
	[0x02] = { RMQ_PT_U32, T(RMQ_PUBLISH) | W, "Message Expiry Interval" },
	[0x03] = { RMQ_PT_STRING, T(RMQ_PUBLISH) | W, "Content Type" },
	[0x08] = { RMQ_PT_STRING, T(RMQ_PUBLISH) | W, "Response Topic" },
	[0x09] = { RMQ_PT_BINARY, T(RMQ_PUBLISH) | W, "Correlation Data" },
	[0x0B] = { RMQ_PT_VARINT, T(RMQ_PUBLISH) | T(RMQ_SUBSCRIBE),
	    "Subscription Identifier" },
	[0x11] = { RMQ_PT_U32,
	    T(RMQ_CONNECT) | T(RMQ_CONNACK) | T(RMQ_DISCONNECT),
	    "Session Expiry Interval" },
	[0x12] = { RMQ_PT_STRING, T(RMQ_CONNACK),
	    "Assigned Client Identifier" },
	[0x13] = { RMQ_PT_U16, T(RMQ_CONNACK), "Server Keep Alive" },
	[0x15] = { RMQ_PT_STRING, T(RMQ_CONNECT) | T(RMQ_CONNACK) | T(RMQ_AUTH),
	    "Authentication Method" },
	[0x16] = { RMQ_PT_BINARY, T(RMQ_CONNECT) | T(RMQ_CONNACK) | T(RMQ_AUTH),
	    "Authentication Data" },
	[0x17] = { RMQ_PT_BYTE, T(RMQ_CONNECT), "Request Problem Information" },
	[0x18] = { RMQ_PT_U32, W, "Will Delay Interval" },
	[0x19] = { RMQ_PT_BYTE, T(RMQ_CONNECT),
	    "Request Response Information" },
	[0x1A] = { RMQ_PT_STRING, T(RMQ_CONNACK), "Response Information" },
	[0x1C] = { RMQ_PT_STRING, T(RMQ_CONNACK) | T(RMQ_DISCONNECT),
	    "Server Reference" },
	[0x1F] = { RMQ_PT_STRING,
	    T(RMQ_CONNACK) | T(RMQ_PUBACK) | T(RMQ_PUBREC) | T(RMQ_PUBREL) |
		T(RMQ_PUBCOMP) | T(RMQ_SUBACK) | T(RMQ_UNSUBACK) |
		T(RMQ_DISCONNECT) | T(RMQ_AUTH),
	    "Reason String" },
	[0x21] = { RMQ_PT_U16, T(RMQ_CONNECT) | T(RMQ_CONNACK),
	    "Receive Maximum" },
	[0x22] = { RMQ_PT_U16, T(RMQ_CONNECT) | T(RMQ_CONNACK),
	    "Topic Alias Maximum" },
	[0x23] = { RMQ_PT_U16, T(RMQ_PUBLISH), "Topic Alias" },
	[0x24] = { RMQ_PT_BYTE, T(RMQ_CONNACK), "Maximum QoS" },
	[0x25] = { RMQ_PT_BYTE, T(RMQ_CONNACK), "Retain Available" },
	[0x26] = { RMQ_PT_PAIR, 0xFFFFu & ~(T(RMQ_PINGREQ) | T(RMQ_PINGRESP)),
	    "User Property" },
	[0x27] = { RMQ_PT_U32, T(RMQ_CONNECT) | T(RMQ_CONNACK),
	    "Maximum Packet Size" },
	[0x28] = { RMQ_PT_BYTE, T(RMQ_CONNACK),
	    "Wildcard Subscription Available" },
	[0x29] = { RMQ_PT_BYTE, T(RMQ_CONNACK),
	    "Subscription Identifier Available" },
	[0x2A] = { RMQ_PT_BYTE, T(RMQ_CONNACK),
	    "Shared Subscription Available" },
};

#define PROPS_NIDS (sizeof(props_table) / sizeof(props_table[0]))

enum rmq_prop_type
rmq_prop_type(unsigned id)
{
	return id < PROPS_NIDS ? (enum rmq_prop_type)props_table[id].type
			       : RMQ_PT_NONE;
}

const char *
rmq_prop_name(unsigned id)
{
	return id < PROPS_NIDS ? props_table[id].name : NULL;
}

int
rmq_prop_allowed(unsigned id, unsigned where)
{
	return id < PROPS_NIDS && where < 16 &&
	    (props_table[id].where & (1u << where)) != 0;
}

static int
props_fail(struct rmq_codec_err *err, uint8_t reason, const char *msg)
{
	err->reason = reason;
	err->msg = msg;
	return -EPROTO;
}

#define MALFORMED(msg) props_fail(err, RMQ_RC_MALFORMED_PACKET, msg)
#define PROTOCOL(msg) props_fail(err, RMQ_RC_PROTOCOL_ERROR, msg)

/* Read one property of known type at r; no checks of meaning. */
static int
props_read_one(struct rmq_rd *r, uint8_t type, struct rmq_prop *prop)
{
	uint8_t b;
	uint16_t h;
	switch (type) {
	case RMQ_PT_BYTE:
		if (rmq_rd_u8(r, &b) != 0)
			return -1;
		prop->num = b;
		return 0;
	case RMQ_PT_U16:
		if (rmq_rd_u16(r, &h) != 0)
			return -1;
		prop->num = h;
		return 0;
	case RMQ_PT_U32: return rmq_rd_u32(r, &prop->num);
	case RMQ_PT_VARINT: return rmq_rd_varint(r, &prop->num);
	case RMQ_PT_STRING:
	case RMQ_PT_BINARY: return rmq_rd_bin(r, &prop->str);
	case RMQ_PT_PAIR:
		if (rmq_rd_bin(r, &prop->str) != 0)
			return -1;
		return rmq_rd_bin(r, &prop->val);
	default: return -1;
	}
}

int
rmq_props_next(const struct rmq_str *raw, uint32_t *off, struct rmq_prop *prop)
{
	if (raw->p == NULL || *off >= raw->len)
		return 0;
	struct rmq_rd r = { (const uint8_t *)raw->p + *off,
		(const uint8_t *)raw->p + raw->len };
	uint32_t id;
	if (rmq_rd_varint(&r, &id) != 0 || id >= PROPS_NIDS)
		return 0;
	prop->id = (uint8_t)id;
	if (props_read_one(&r, props_table[id].type, prop) != 0)
		return 0;
	*off = (uint32_t)(r.p - (const uint8_t *)raw->p);
	return 1;
}

int
rmq_props_decode(const uint8_t *p, size_t len, unsigned where, int from_server,
    struct rmq_props *out, struct rmq_codec_err *err)
{
	struct rmq_rd r = { p, p + len };
	memset(out, 0, sizeof(*out));
	out->raw.p = (const char *)p;
	out->raw.len = (uint32_t)len;

	while (rmq_rd_left(&r) > 0) {
		uint32_t id;
		struct rmq_prop prop;
		/* The identifier is a Variable Byte Integer, though every
		 * defined one fits in a byte. */
		if (rmq_rd_varint(&r, &id) != 0)
			return MALFORMED(
			    "property identifier is not a valid Variable Byte Integer");
		if (id >= PROPS_NIDS || props_table[id].type == RMQ_PT_NONE)
			return MALFORMED("unknown property identifier");
		if (!(props_table[id].where & (1u << where)))
			return MALFORMED(
			    "property not allowed in this packet (2.2.2.2)");
		if (props_read_one(&r, props_table[id].type, &prop) != 0)
			return MALFORMED(
			    "property value runs past the end of its block");

		if (id == RMQ_PROP_USER_PROPERTY) {
			if (!rmq_utf8_valid(prop.str.p, prop.str.len) ||
			    !rmq_utf8_valid(prop.val.p, prop.val.len))
				return MALFORMED(
				    "[MQTT-1.5.4-1] User Property is not valid UTF-8");
			out->n_user++;
			RMQ_PROP_SET(out, id);
			continue;
		}
		if (id == RMQ_PROP_SUBSCRIPTION_ID) {
			if (prop.num == 0)
				return PROTOCOL(
				    "Subscription Identifier of 0 (3.3.2.3.8, 3.8.2.1.2)");
			/* Only a server's PUBLISH may carry several: one per
			 * matching subscription. */
			if (out->n_subid > 0 &&
			    !(where == RMQ_PUBLISH && from_server))
				return PROTOCOL(
				    "Subscription Identifier included more than once");
			if (out->n_subid == 0)
				out->subid = prop.num;
			out->n_subid++;
			RMQ_PROP_SET(out, id);
			continue;
		}
		if (RMQ_PROP_HAS(out, id))
			return PROTOCOL(
			    "property included more than once (2.2.2.2)");
		RMQ_PROP_SET(out, id);

		if (props_table[id].type == RMQ_PT_STRING &&
		    !rmq_utf8_valid(prop.str.p, prop.str.len))
			return MALFORMED(
			    "[MQTT-1.5.4-1] string property is not valid UTF-8");

		switch (id) {
		case RMQ_PROP_PAYLOAD_FORMAT:
			if (prop.num > 1)
				return PROTOCOL(
				    "Payload Format Indicator is neither 0 nor 1");
			out->payload_format = (uint8_t)prop.num;
			break;
		case RMQ_PROP_MESSAGE_EXPIRY:
			out->message_expiry = prop.num;
			break;
		case RMQ_PROP_CONTENT_TYPE: out->content_type = prop.str; break;
		case RMQ_PROP_RESPONSE_TOPIC:
			/* [MQTT-3.3.2-14]: a Topic Name, so no wildcards. */
			if (prop.str.len == 0 ||
			    memchr(prop.str.p, '+', prop.str.len) ||
			    memchr(prop.str.p, '#', prop.str.len))
				return PROTOCOL(
				    "[MQTT-3.3.2-14] Response Topic is not a valid Topic Name");
			out->response_topic = prop.str;
			break;
		case RMQ_PROP_CORRELATION_DATA:
			out->correlation_data = prop.str;
			break;
		case RMQ_PROP_SESSION_EXPIRY:
			out->session_expiry = prop.num;
			break;
		case RMQ_PROP_ASSIGNED_CLIENT_ID:
			out->assigned_client_id = prop.str;
			break;
		case RMQ_PROP_SERVER_KEEP_ALIVE:
			out->server_keep_alive = (uint16_t)prop.num;
			break;
		case RMQ_PROP_AUTH_METHOD: out->auth_method = prop.str; break;
		case RMQ_PROP_AUTH_DATA: out->auth_data = prop.str; break;
		case RMQ_PROP_REQUEST_PROBLEM_INFO:
			if (prop.num > 1)
				return PROTOCOL(
				    "Request Problem Information is neither 0 nor 1");
			out->request_problem_info = (uint8_t)prop.num;
			break;
		case RMQ_PROP_WILL_DELAY: out->will_delay = prop.num; break;
		case RMQ_PROP_REQUEST_RESPONSE_INFO:
			if (prop.num > 1)
				return PROTOCOL(
				    "Request Response Information is neither 0 nor 1");
			out->request_response_info = (uint8_t)prop.num;
			break;
		case RMQ_PROP_RESPONSE_INFO:
			out->response_info = prop.str;
			break;
		case RMQ_PROP_SERVER_REFERENCE:
			out->server_reference = prop.str;
			break;
		case RMQ_PROP_REASON_STRING:
			out->reason_string = prop.str;
			break;
		case RMQ_PROP_RECEIVE_MAXIMUM:
			if (prop.num == 0)
				return PROTOCOL(
				    "Receive Maximum of 0 (3.1.2.11.3, 3.2.2.3.3)");
			out->receive_max = (uint16_t)prop.num;
			break;
		case RMQ_PROP_TOPIC_ALIAS_MAXIMUM:
			out->topic_alias_max = (uint16_t)prop.num;
			break;
		case RMQ_PROP_TOPIC_ALIAS:
			if (prop.num == 0)
				return PROTOCOL(
				    "[MQTT-3.3.2-8] Topic Alias of 0");
			out->topic_alias = (uint16_t)prop.num;
			break;
		case RMQ_PROP_MAXIMUM_QOS:
			if (prop.num > 1)
				return PROTOCOL(
				    "Maximum QoS is neither 0 nor 1");
			out->max_qos = (uint8_t)prop.num;
			break;
		case RMQ_PROP_RETAIN_AVAILABLE:
			if (prop.num > 1)
				return PROTOCOL(
				    "Retain Available is neither 0 nor 1");
			out->retain_available = (uint8_t)prop.num;
			break;
		case RMQ_PROP_MAXIMUM_PACKET_SIZE:
			if (prop.num == 0)
				return PROTOCOL(
				    "Maximum Packet Size of 0 (3.1.2.11.4, 3.2.2.3.6)");
			out->max_packet_size = prop.num;
			break;
		case RMQ_PROP_WILDCARD_SUB_AVAILABLE:
			if (prop.num > 1)
				return PROTOCOL(
				    "Wildcard Subscription Available is neither 0 nor 1");
			out->wildcard_sub_available = (uint8_t)prop.num;
			break;
		case RMQ_PROP_SUBSCRIPTION_ID_AVAILABLE:
			if (prop.num > 1)
				return PROTOCOL(
				    "Subscription Identifier Available is neither 0 nor 1");
			out->subid_available = (uint8_t)prop.num;
			break;
		case RMQ_PROP_SHARED_SUB_AVAILABLE:
			if (prop.num > 1)
				return PROTOCOL(
				    "Shared Subscription Available is neither 0 nor 1");
			out->shared_sub_available = (uint8_t)prop.num;
			break;
		}
	}
	return 0;
}

/* The value of a fixed-width or varint property held in *props. */
static uint32_t
props_num(const struct rmq_props *props, unsigned id)
{
	switch (id) {
	case RMQ_PROP_PAYLOAD_FORMAT: return props->payload_format;
	case RMQ_PROP_MESSAGE_EXPIRY: return props->message_expiry;
	case RMQ_PROP_SESSION_EXPIRY: return props->session_expiry;
	case RMQ_PROP_SERVER_KEEP_ALIVE: return props->server_keep_alive;
	case RMQ_PROP_REQUEST_PROBLEM_INFO: return props->request_problem_info;
	case RMQ_PROP_WILL_DELAY: return props->will_delay;
	case RMQ_PROP_REQUEST_RESPONSE_INFO:
		return props->request_response_info;
	case RMQ_PROP_RECEIVE_MAXIMUM: return props->receive_max;
	case RMQ_PROP_TOPIC_ALIAS_MAXIMUM: return props->topic_alias_max;
	case RMQ_PROP_TOPIC_ALIAS: return props->topic_alias;
	case RMQ_PROP_MAXIMUM_QOS: return props->max_qos;
	case RMQ_PROP_RETAIN_AVAILABLE: return props->retain_available;
	case RMQ_PROP_MAXIMUM_PACKET_SIZE: return props->max_packet_size;
	case RMQ_PROP_WILDCARD_SUB_AVAILABLE:
		return props->wildcard_sub_available;
	case RMQ_PROP_SUBSCRIPTION_ID_AVAILABLE: return props->subid_available;
	case RMQ_PROP_SHARED_SUB_AVAILABLE: return props->shared_sub_available;
	default: return 0;
	}
}

static const struct rmq_str *
props_str(const struct rmq_props *props, unsigned id)
{
	switch (id) {
	case RMQ_PROP_CONTENT_TYPE: return &props->content_type;
	case RMQ_PROP_RESPONSE_TOPIC: return &props->response_topic;
	case RMQ_PROP_CORRELATION_DATA: return &props->correlation_data;
	case RMQ_PROP_ASSIGNED_CLIENT_ID: return &props->assigned_client_id;
	case RMQ_PROP_AUTH_METHOD: return &props->auth_method;
	case RMQ_PROP_AUTH_DATA: return &props->auth_data;
	case RMQ_PROP_RESPONSE_INFO: return &props->response_info;
	case RMQ_PROP_SERVER_REFERENCE: return &props->server_reference;
	case RMQ_PROP_REASON_STRING: return &props->reason_string;
	default: return NULL;
	}
}

/* Walk the repeated properties of kind `id` (user properties or
 * subscription identifiers), from the arrays or else from raw.  Calls
 * emit(ctx, prop) for each; returns the sum of what emit returns, or
 * (size_t)-1 if one does. */
typedef size_t (*props_emit_fn)(void *ctx, const struct rmq_prop *prop);

static size_t
props_each_repeated(const struct rmq_props *props, unsigned id,
    props_emit_fn emit, void *ctx)
{
	size_t total = 0, n;
	struct rmq_prop prop = { .id = (uint8_t)id };
	uint32_t count =
	    id == RMQ_PROP_USER_PROPERTY ? props->n_user : props->n_subid;
	if (!RMQ_PROP_HAS(props, id) || count == 0)
		return 0;
	if (id == RMQ_PROP_USER_PROPERTY && props->user != NULL) {
		for (uint32_t i = 0; i < count; i++) {
			prop.str = props->user[i].k;
			prop.val = props->user[i].v;
			if ((n = emit(ctx, &prop)) == (size_t)-1)
				return n;
			total += n;
		}
		return total;
	}
	if (id == RMQ_PROP_SUBSCRIPTION_ID && props->subids != NULL) {
		for (uint32_t i = 0; i < count; i++) {
			prop.num = props->subids[i];
			if ((n = emit(ctx, &prop)) == (size_t)-1)
				return n;
			total += n;
		}
		return total;
	}
	uint32_t off = 0, seen = 0;
	while (seen < count && rmq_props_next(&props->raw, &off, &prop)) {
		if (prop.id != id)
			continue;
		if ((n = emit(ctx, &prop)) == (size_t)-1)
			return n;
		total += n;
		seen++;
	}
	return total;
}

static size_t
props_emit_size(void *ctx, const struct rmq_prop *prop)
{
	(void)ctx;
	if (prop->id == RMQ_PROP_SUBSCRIPTION_ID)
		return prop->num == 0 || prop->num > RMQ_VARINT_MAX
		    ? (size_t)-1
		    : 1 + rmq_varint_size(prop->num);
	if (prop->str.len > RMQ_STRING_MAX || prop->val.len > RMQ_STRING_MAX)
		return (size_t)-1;
	return 1 + 2 + prop->str.len + 2 + prop->val.len;
}

static size_t
props_emit_write(void *ctx, const struct rmq_prop *prop)
{
	uint8_t **d = ctx, *start = *d;
	*(*d)++ = prop->id;
	if (prop->id == RMQ_PROP_SUBSCRIPTION_ID) {
		*d = rmq_put_varint(*d, prop->num);
	} else {
		*d = rmq_put_str(*d, &prop->str);
		*d = rmq_put_str(*d, &prop->val);
	}
	return (size_t)(*d - start);
}

/* The present bits of the identifiers the table knows (1 .. NIDS-1). */
static inline uint64_t
props_bits(const struct rmq_props *props)
{
	uint64_t known =
	    PROPS_NIDS >= 64 ? ~(uint64_t)0 : (((uint64_t)1 << PROPS_NIDS) - 1);
	return props->present & known & ~(uint64_t)1;
}

size_t
rmq_props_size(const struct rmq_props *props)
{
	size_t total = 0;
	/* Only the bits that are set, in ascending order: most messages
	 * carry no property at all. */
	for (uint64_t bits = props_bits(props); bits; bits &= bits - 1) {
		unsigned id = (unsigned)__builtin_ctzll(bits);
		size_t n;
		const struct rmq_str *s;
		switch (props_table[id].type) {
		case RMQ_PT_BYTE: n = 2; break;
		case RMQ_PT_U16: n = 3; break;
		case RMQ_PT_U32: n = 5; break;
		case RMQ_PT_STRING:
		case RMQ_PT_BINARY:
			s = props_str(props, id);
			if (s->len > RMQ_STRING_MAX)
				return (size_t)-1;
			n = 3 + s->len;
			break;
		case RMQ_PT_VARINT:
		case RMQ_PT_PAIR:
			n = props_each_repeated(props, id, props_emit_size,
			    NULL);
			if (n == (size_t)-1)
				return n;
			break;
		default:
			n = 0; /* bits with no property behind them */
			break;
		}
		total += n;
	}
	return total;
}

size_t
rmq_props_encode(const struct rmq_props *props, uint8_t *dst)
{
	uint8_t *d = dst;
	for (uint64_t bits = props_bits(props); bits; bits &= bits - 1) {
		unsigned id = (unsigned)__builtin_ctzll(bits);
		uint32_t v = props_num(props, id);
		switch (props_table[id].type) {
		case RMQ_PT_BYTE:
			*d++ = (uint8_t)id;
			*d++ = (uint8_t)v;
			break;
		case RMQ_PT_U16:
			*d++ = (uint8_t)id;
			d = rmq_put_u16(d, (uint16_t)v);
			break;
		case RMQ_PT_U32:
			*d++ = (uint8_t)id;
			d = rmq_put_u32(d, v);
			break;
		case RMQ_PT_STRING:
		case RMQ_PT_BINARY:
			*d++ = (uint8_t)id;
			d = rmq_put_str(d, props_str(props, id));
			break;
		case RMQ_PT_VARINT:
		case RMQ_PT_PAIR:
			props_each_repeated(props, id, props_emit_write, &d);
			break;
		default: break;
		}
	}
	return (size_t)(d - dst);
}
