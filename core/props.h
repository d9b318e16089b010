/* core/props.h: MQTT 5.0 properties (spec 2.2.2.2).
 *
 * Owns the property table (identifier, data type, which packets may carry
 * it, whether it may repeat), the parsed form of a property block, and its
 * encoding.  Decoding never copies: strings point into the packet and user
 * properties are walked in their original order from the raw block.
 */
#ifndef RMQ_PROPS_H
#define RMQ_PROPS_H

#include <stddef.h>
#include <stdint.h>

/* A view of bytes: a UTF-8 string or binary data, not NUL-terminated.
 * p == NULL means absent, which is not the same as present and empty. */
struct rmq_str {
	const char *p;
	uint32_t len;
};

struct rmq_strpair {
	struct rmq_str k;
	struct rmq_str v;
};

enum rmq_prop_id {
	RMQ_PROP_PAYLOAD_FORMAT = 0x01,
	RMQ_PROP_MESSAGE_EXPIRY = 0x02,
	RMQ_PROP_CONTENT_TYPE = 0x03,
	RMQ_PROP_RESPONSE_TOPIC = 0x08,
	RMQ_PROP_CORRELATION_DATA = 0x09,
	RMQ_PROP_SUBSCRIPTION_ID = 0x0B,
	RMQ_PROP_SESSION_EXPIRY = 0x11,
	RMQ_PROP_ASSIGNED_CLIENT_ID = 0x12,
	RMQ_PROP_SERVER_KEEP_ALIVE = 0x13,
	RMQ_PROP_AUTH_METHOD = 0x15,
	RMQ_PROP_AUTH_DATA = 0x16,
	RMQ_PROP_REQUEST_PROBLEM_INFO = 0x17,
	RMQ_PROP_WILL_DELAY = 0x18,
	RMQ_PROP_REQUEST_RESPONSE_INFO = 0x19,
	RMQ_PROP_RESPONSE_INFO = 0x1A,
	RMQ_PROP_SERVER_REFERENCE = 0x1C,
	RMQ_PROP_REASON_STRING = 0x1F,
	RMQ_PROP_RECEIVE_MAXIMUM = 0x21,
	RMQ_PROP_TOPIC_ALIAS_MAXIMUM = 0x22,
	RMQ_PROP_TOPIC_ALIAS = 0x23,
	RMQ_PROP_MAXIMUM_QOS = 0x24,
	RMQ_PROP_RETAIN_AVAILABLE = 0x25,
	RMQ_PROP_USER_PROPERTY = 0x26,
	RMQ_PROP_MAXIMUM_PACKET_SIZE = 0x27,
	RMQ_PROP_WILDCARD_SUB_AVAILABLE = 0x28,
	RMQ_PROP_SUBSCRIPTION_ID_AVAILABLE = 0x29,
	RMQ_PROP_SHARED_SUB_AVAILABLE = 0x2A,
};

enum rmq_prop_type {
	RMQ_PT_NONE = 0, /* not a property identifier */
	RMQ_PT_BYTE,
	RMQ_PT_U16,
	RMQ_PT_U32,
	RMQ_PT_VARINT,
	RMQ_PT_STRING,
	RMQ_PT_BINARY,
	RMQ_PT_PAIR,
};

/* Where a property block stands: the packet type, or the Will Properties of
 * a CONNECT, which have their own rules. */
#define RMQ_PROPS_WILL 0

/* The parsed property block of one packet.  `present` has bit (1 << id) set
 * for every property that appeared.  For encoding, fill the fields, set the
 * bits, and give user properties and subscription identifiers as arrays;
 * when those arrays are NULL but counts are set, they are copied from raw
 * (a decoded block passed through). */
struct rmq_props {
	uint64_t present;
	uint32_t message_expiry;
	uint32_t session_expiry;
	uint32_t will_delay;
	uint32_t max_packet_size;
	uint32_t subid; /* the first Subscription Identifier */
	uint16_t server_keep_alive;
	uint16_t receive_max;
	uint16_t topic_alias_max;
	uint16_t topic_alias;
	uint8_t payload_format;
	uint8_t request_problem_info;
	uint8_t request_response_info;
	uint8_t max_qos;
	uint8_t retain_available;
	uint8_t wildcard_sub_available;
	uint8_t subid_available;
	uint8_t shared_sub_available;
	struct rmq_str content_type;
	struct rmq_str response_topic;
	struct rmq_str correlation_data;
	struct rmq_str assigned_client_id;
	struct rmq_str auth_method;
	struct rmq_str auth_data;
	struct rmq_str response_info;
	struct rmq_str server_reference;
	struct rmq_str reason_string;
	uint32_t n_user;
	const struct rmq_strpair *user;
	uint32_t n_subid;
	const uint32_t *subids;
	struct rmq_str
	    raw; /* decoded: the block as received, without its length */
};

#define RMQ_PROP_HAS(props, id) ((((props)->present) >> (id)) & 1u)
#define RMQ_PROP_SET(props, id) ((props)->present |= (uint64_t)1 << (id))

/* One property as walked by rmq_props_next(). */
struct rmq_prop {
	uint8_t id;
	uint32_t num; /* BYTE, U16, U32, VARINT */
	struct rmq_str str; /* STRING, BINARY; key of a PAIR */
	struct rmq_str val; /* value of a PAIR */
};

struct rmq_codec_err;

/* Data type of property `id`, RMQ_PT_NONE if it is no property. */
enum rmq_prop_type rmq_prop_type(unsigned id);

/* Name of property `id` as the spec writes it, or NULL. */
const char *rmq_prop_name(unsigned id);

/* Whether property `id` may appear in a block at `where` (a packet type or
 * RMQ_PROPS_WILL). */
int rmq_prop_allowed(unsigned id, unsigned where);

/* Parse a property block (the bytes after its length) found at `where`.
 * `from_server` tells who sent it, for rules that depend on direction.
 * Returns 0, or -EPROTO with *err set to the reason code to send. */
int rmq_props_decode(const uint8_t *p, size_t len, unsigned where,
    int from_server, struct rmq_props *out, struct rmq_codec_err *err);

/* Walk a validated raw block in order.  *off starts at 0; returns 1 and
 * fills *prop while properties remain, 0 at the end. */
int
rmq_props_next(const struct rmq_str *raw, uint32_t *off, struct rmq_prop *prop);

/* Bytes the encoded block takes, without its length prefix, or (size_t)-1
 * if a field cannot be encoded (a string over 65535 bytes). */
size_t rmq_props_size(const struct rmq_props *props);

/* Encode the block without its length prefix into dst, which must hold
 * rmq_props_size() bytes.  A property is written when its bit in `present`
 * is set (repeatable ones also need a count above 0), in identifier order;
 * subscription identifiers and user properties keep their given order.
 * Returns the bytes written. */
size_t rmq_props_encode(const struct rmq_props *props, uint8_t *dst);

#endif
