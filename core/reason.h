/* core/reason.h: MQTT 5.0 reason codes (spec 2.4) and the 3.x return codes.
 *
 * Owns the names of the codes, which packet may carry which code, and the
 * mapping from a 5.0 reason to the 3.x CONNACK return code a broker sends
 * to an older client.
 */
#ifndef RMQ_REASON_H
#define RMQ_REASON_H

#include <stdint.h>

enum rmq_reason {
	RMQ_RC_SUCCESS = 0x00, /* also Normal disconnection, Granted QoS 0 */
	RMQ_RC_GRANTED_QOS1 = 0x01,
	RMQ_RC_GRANTED_QOS2 = 0x02,
	RMQ_RC_DISCONNECT_WITH_WILL = 0x04,
	RMQ_RC_NO_MATCHING_SUBSCRIBERS = 0x10,
	RMQ_RC_NO_SUBSCRIPTION_EXISTED = 0x11,
	RMQ_RC_CONTINUE_AUTHENTICATION = 0x18,
	RMQ_RC_REAUTHENTICATE = 0x19,
	RMQ_RC_UNSPECIFIED_ERROR = 0x80,
	RMQ_RC_MALFORMED_PACKET = 0x81,
	RMQ_RC_PROTOCOL_ERROR = 0x82,
	RMQ_RC_IMPLEMENTATION_SPECIFIC = 0x83,
	RMQ_RC_UNSUPPORTED_PROTOCOL_VERSION = 0x84,
	RMQ_RC_CLIENT_ID_NOT_VALID = 0x85,
	RMQ_RC_BAD_USERNAME_OR_PASSWORD = 0x86,
	RMQ_RC_NOT_AUTHORIZED = 0x87,
	RMQ_RC_SERVER_UNAVAILABLE = 0x88,
	RMQ_RC_SERVER_BUSY = 0x89,
	RMQ_RC_BANNED = 0x8A,
	RMQ_RC_SERVER_SHUTTING_DOWN = 0x8B,
	RMQ_RC_BAD_AUTHENTICATION_METHOD = 0x8C,
	RMQ_RC_KEEP_ALIVE_TIMEOUT = 0x8D,
	RMQ_RC_SESSION_TAKEN_OVER = 0x8E,
	RMQ_RC_TOPIC_FILTER_INVALID = 0x8F,
	RMQ_RC_TOPIC_NAME_INVALID = 0x90,
	RMQ_RC_PACKET_ID_IN_USE = 0x91,
	RMQ_RC_PACKET_ID_NOT_FOUND = 0x92,
	RMQ_RC_RECEIVE_MAXIMUM_EXCEEDED = 0x93,
	RMQ_RC_TOPIC_ALIAS_INVALID = 0x94,
	RMQ_RC_PACKET_TOO_LARGE = 0x95,
	RMQ_RC_MESSAGE_RATE_TOO_HIGH = 0x96,
	RMQ_RC_QUOTA_EXCEEDED = 0x97,
	RMQ_RC_ADMINISTRATIVE_ACTION = 0x98,
	RMQ_RC_PAYLOAD_FORMAT_INVALID = 0x99,
	RMQ_RC_RETAIN_NOT_SUPPORTED = 0x9A,
	RMQ_RC_QOS_NOT_SUPPORTED = 0x9B,
	RMQ_RC_USE_ANOTHER_SERVER = 0x9C,
	RMQ_RC_SERVER_MOVED = 0x9D,
	RMQ_RC_SHARED_SUBS_NOT_SUPPORTED = 0x9E,
	RMQ_RC_CONNECTION_RATE_EXCEEDED = 0x9F,
	RMQ_RC_MAXIMUM_CONNECT_TIME = 0xA0,
	RMQ_RC_SUBSCRIPTION_IDS_NOT_SUPPORTED = 0xA1,
	RMQ_RC_WILDCARD_SUBS_NOT_SUPPORTED = 0xA2,
};

/* 3.1 and 3.1.1 CONNACK return codes (3.1.1 table 3.1). */
enum rmq_v3_connack {
	RMQ_V3_ACCEPTED = 0,
	RMQ_V3_REFUSED_PROTOCOL_VERSION = 1,
	RMQ_V3_REFUSED_IDENTIFIER = 2,
	RMQ_V3_REFUSED_SERVER_UNAVAILABLE = 3,
	RMQ_V3_REFUSED_BAD_USERNAME_PASSWORD = 4,
	RMQ_V3_REFUSED_NOT_AUTHORIZED = 5,
};

/* 3.1.1 SUBACK failure return code. */
#define RMQ_V3_SUBACK_FAILURE 0x80

/* Name of a 5.0 reason code in `packet_type`'s sense ("Granted QoS 1" in a
 * SUBACK, "Normal disconnection" in a DISCONNECT), or NULL if the code is
 * not defined.  packet_type 0 gives the generic name. */
const char *rmq_reason_name(uint8_t code, unsigned packet_type);

/* Whether a 5.0 packet of `packet_type` may carry `code` (spec 2.4 table
 * 2-6).  For 3.x (version < 5), the return codes that version allows in
 * CONNACK and SUBACK. */
int rmq_reason_allowed(uint8_t code, unsigned packet_type, uint8_t version);

/* The 3.x CONNACK return code closest to a 5.0 CONNACK reason code. */
uint8_t rmq_reason_to_v3_connack(uint8_t code);

#endif
