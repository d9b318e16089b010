/* core/packet.h: the in-memory form of every MQTT control packet.
 *
 * One struct per packet shape, shared by the decoder (which fills it with
 * views into the received bytes, never copying) and the encoder (which reads
 * it).  Nothing here allocates; strings are (pointer, length) views.
 */
#ifndef RMQ_PACKET_H
#define RMQ_PACKET_H

#include <stdint.h>

#include "props.h"

/* Protocol levels as they appear in CONNECT. */
#define RMQ_V31 3 /* MQTT 3.1, protocol name "MQIsdp" */
#define RMQ_V311 4 /* MQTT 3.1.1 */
#define RMQ_V5 5 /* MQTT 5.0 */

/* Largest value a Variable Byte Integer can carry, hence the largest
 * Remaining Length and the largest packet: 2^28 - 1 plus 5 header bytes. */
#define RMQ_VARINT_MAX 268435455u
#define RMQ_PACKET_MAX (RMQ_VARINT_MAX + 5u)
#define RMQ_STRING_MAX 65535u

enum rmq_ptype {
	RMQ_CONNECT = 1,
	RMQ_CONNACK = 2,
	RMQ_PUBLISH = 3,
	RMQ_PUBACK = 4,
	RMQ_PUBREC = 5,
	RMQ_PUBREL = 6,
	RMQ_PUBCOMP = 7,
	RMQ_SUBSCRIBE = 8,
	RMQ_SUBACK = 9,
	RMQ_UNSUBSCRIBE = 10,
	RMQ_UNSUBACK = 11,
	RMQ_PINGREQ = 12,
	RMQ_PINGRESP = 13,
	RMQ_DISCONNECT = 14,
	RMQ_AUTH = 15,
};

/* CONNECT.  Optional strings have p == NULL when their flag is clear. */
struct rmq_connect {
	uint8_t version; /* RMQ_V31, RMQ_V311 or RMQ_V5 */
	/* The protocol name is "MQTT" or "MQIsdp": set by the decoder even
	 * when it refuses the level, so that the refusal can be answered
	 * (CONNACK 0x01) rather than closed as not MQTT at all. */
	uint8_t name_known;
	uint8_t clean; /* Clean Session (3.x) or Clean Start (5) */
	uint8_t will;
	uint8_t will_qos;
	uint8_t will_retain;
	uint16_t keepalive;
	struct rmq_str client_id;
	struct rmq_str will_topic;
	struct rmq_str will_payload;
	struct rmq_str username;
	struct rmq_str password;
	struct rmq_props props;
	struct rmq_props will_props;
};

/* CONNACK.  For 3.x, reason is the 3.x return code (0..5). */
struct rmq_connack {
	uint8_t session_present;
	uint8_t reason;
	struct rmq_props props;
};

struct rmq_publish {
	uint8_t dup;
	uint8_t qos;
	uint8_t retain;
	uint16_t packet_id; /* 0 for QoS 0 */
	struct rmq_str topic;
	struct rmq_str payload;
	struct rmq_props props;
};

/* PUBACK, PUBREC, PUBREL and PUBCOMP. */
struct rmq_ack {
	uint16_t packet_id;
	uint8_t reason;
	struct rmq_props props;
};

/* One Topic Filter of a SUBSCRIBE with its Subscription Options. */
struct rmq_sub_entry {
	struct rmq_str filter;
	uint8_t qos;
	uint8_t no_local;
	uint8_t retain_as_published;
	uint8_t retain_handling;
};

/* SUBSCRIBE.  The decoder leaves entries NULL and sets raw to the validated
 * payload; the encoder reads entries[0..count).  rmq_subscribe_next() walks
 * either form. */
struct rmq_subscribe {
	uint16_t packet_id;
	uint32_t count;
	const struct rmq_sub_entry *entries;
	struct rmq_str raw;
	struct rmq_props props;
};

/* UNSUBSCRIBE, with the same two forms as SUBSCRIBE. */
struct rmq_unsubscribe {
	uint16_t packet_id;
	uint32_t count;
	const struct rmq_str *filters;
	struct rmq_str raw;
	struct rmq_props props;
};

/* SUBACK and UNSUBACK: one reason code per filter.  A 3.x UNSUBACK carries
 * none (count 0). */
struct rmq_suback {
	uint16_t packet_id;
	uint32_t count;
	const uint8_t *codes;
	struct rmq_props props;
};

/* DISCONNECT and AUTH: a reason code and properties (5.0 only). */
struct rmq_reasoned {
	uint8_t reason;
	struct rmq_props props;
};

struct rmq_packet {
	uint8_t type; /* enum rmq_ptype */
	uint8_t flags; /* low nibble of the fixed header */
	union {
		struct rmq_connect connect;
		struct rmq_connack connack;
		struct rmq_publish publish;
		struct rmq_ack ack;
		struct rmq_subscribe subscribe;
		struct rmq_unsubscribe unsubscribe;
		struct rmq_suback suback;
		struct rmq_reasoned disconnect;
		struct rmq_reasoned auth;
	};
};

/* Name of a packet type ("PUBLISH"), or "reserved" for 0 and out of range. */
const char *rmq_packet_type_name(unsigned type);

/* Walk the entries of a SUBSCRIBE in order.  *off starts at 0; returns 1 and
 * fills *e while entries remain, 0 at the end.  The packet must be one the
 * decoder accepted or one built with entries[]. */
int rmq_subscribe_next(const struct rmq_subscribe *s, uint8_t version,
    uint32_t *off, struct rmq_sub_entry *e);

/* Walk the Topic Filters of an UNSUBSCRIBE, as rmq_subscribe_next(). */
int rmq_unsubscribe_next(const struct rmq_unsubscribe *u, uint32_t *off,
    struct rmq_str *filter);

#endif
