/* core/reason.c: names of the MQTT 5.0 reason codes, which packet may carry
 * which (spec 2.4, table 2-6, and each packet's own table), and the 3.x
 * CONNACK return code a 5.0 reason maps to. */
#include <stddef.h>

#include "packet.h"
#include "reason.h"

/* A bit for each packet type that may carry a code (bit 0 unused). */
#define P(t) (1u << (t))
#define CONNACK_ P(RMQ_CONNACK)
#define PUBACK_ (P(RMQ_PUBACK) | P(RMQ_PUBREC))
#define PUBREL_ (P(RMQ_PUBREL) | P(RMQ_PUBCOMP))
#define SUBACK_ P(RMQ_SUBACK)
#define UNSUBACK_ P(RMQ_UNSUBACK)
#define DISC_ P(RMQ_DISCONNECT)
#define AUTH_ P(RMQ_AUTH)

struct reason_info {
	const char *name;
	unsigned where;
};

static const struct reason_info reasons[256] = {
	[0x00] = { "Success",
	    CONNACK_ | PUBACK_ | PUBREL_ | UNSUBACK_ | AUTH_ | SUBACK_ |
		DISC_ },
	[0x01] = { "Granted QoS 1", SUBACK_ },
	[0x02] = { "Granted QoS 2", SUBACK_ },
	[0x04] = { "Disconnect with Will Message", DISC_ },
	[0x10] = { "No matching subscribers", PUBACK_ },
	[0x11] = { "No subscription existed", UNSUBACK_ },
	[0x18] = { "Continue authentication", AUTH_ },
	[0x19] = { "Re-authenticate", AUTH_ },
	[0x80] = { "Unspecified error",
	    CONNACK_ | PUBACK_ | SUBACK_ | UNSUBACK_ | DISC_ },
	[0x81] = { "Malformed Packet", CONNACK_ | DISC_ },
	[0x82] = { "Protocol Error", CONNACK_ | DISC_ },
	[0x83] = { "Implementation specific error",
	    CONNACK_ | PUBACK_ | SUBACK_ | UNSUBACK_ | DISC_ },
	[0x84] = { "Unsupported Protocol Version", CONNACK_ },
	[0x85] = { "Client Identifier not valid", CONNACK_ },
	[0x86] = { "Bad User Name or Password", CONNACK_ },
	[0x87] = { "Not authorized",
	    CONNACK_ | PUBACK_ | SUBACK_ | UNSUBACK_ | DISC_ },
	[0x88] = { "Server unavailable", CONNACK_ },
	[0x89] = { "Server busy", CONNACK_ | DISC_ },
	[0x8A] = { "Banned", CONNACK_ },
	[0x8B] = { "Server shutting down", DISC_ },
	[0x8C] = { "Bad authentication method", CONNACK_ | DISC_ },
	[0x8D] = { "Keep Alive timeout", DISC_ },
	[0x8E] = { "Session taken over", DISC_ },
	[0x8F] = { "Topic Filter invalid", SUBACK_ | UNSUBACK_ | DISC_ },
	[0x90] = { "Topic Name invalid", CONNACK_ | PUBACK_ | DISC_ },
	[0x91] = { "Packet Identifier in use", PUBACK_ | SUBACK_ | UNSUBACK_ },
	[0x92] = { "Packet Identifier not found", PUBREL_ },
	[0x93] = { "Receive Maximum exceeded", DISC_ },
	[0x94] = { "Topic Alias invalid", DISC_ },
	[0x95] = { "Packet too large", CONNACK_ | DISC_ },
	[0x96] = { "Message rate too high", DISC_ },
	[0x97] = { "Quota exceeded", CONNACK_ | PUBACK_ | SUBACK_ | DISC_ },
	[0x98] = { "Administrative action", DISC_ },
	[0x99] = { "Payload format invalid", CONNACK_ | PUBACK_ | DISC_ },
	[0x9A] = { "Retain not supported", CONNACK_ | DISC_ },
	[0x9B] = { "QoS not supported", CONNACK_ | DISC_ },
	[0x9C] = { "Use another server", CONNACK_ | DISC_ },
	[0x9D] = { "Server moved", CONNACK_ | DISC_ },
	[0x9E] = { "Shared Subscriptions not supported", SUBACK_ | DISC_ },
	[0x9F] = { "Connection rate exceeded", CONNACK_ | DISC_ },
	[0xA0] = { "Maximum connect time", DISC_ },
	[0xA1] = { "Subscription Identifiers not supported", SUBACK_ | DISC_ },
	[0xA2] = { "Wildcard Subscriptions not supported", SUBACK_ | DISC_ },
};

const char *
rmq_reason_name(uint8_t code, unsigned packet_type)
{
	if (code == 0x00) {
		if (packet_type == RMQ_DISCONNECT)
			return "Normal disconnection";
		if (packet_type == RMQ_SUBACK)
			return "Granted QoS 0";
	}
	return reasons[code].name;
}

int
rmq_reason_allowed(uint8_t code, unsigned packet_type, uint8_t version)
{
	if (packet_type > RMQ_AUTH)
		return 0;
	if (version < RMQ_V5) {
		if (packet_type == RMQ_CONNACK)
			return code <= RMQ_V3_REFUSED_NOT_AUTHORIZED;
		if (packet_type == RMQ_SUBACK)
			/* 3.1 had no failure code; 3.1.1 added 0x80. */
			return code <= 2 ||
			    (version == RMQ_V311 &&
				code == RMQ_V3_SUBACK_FAILURE);
		return 0;
	}
	return (reasons[code].where & P(packet_type)) != 0;
}

uint8_t
rmq_reason_to_v3_connack(uint8_t code)
{
	switch (code) {
	case RMQ_RC_SUCCESS: return RMQ_V3_ACCEPTED;
	case RMQ_RC_UNSUPPORTED_PROTOCOL_VERSION:
		return RMQ_V3_REFUSED_PROTOCOL_VERSION;
	case RMQ_RC_CLIENT_ID_NOT_VALID: return RMQ_V3_REFUSED_IDENTIFIER;
	case RMQ_RC_BAD_USERNAME_OR_PASSWORD:
	case RMQ_RC_BAD_AUTHENTICATION_METHOD:
		return RMQ_V3_REFUSED_BAD_USERNAME_PASSWORD;
	case RMQ_RC_NOT_AUTHORIZED:
	case RMQ_RC_BANNED: return RMQ_V3_REFUSED_NOT_AUTHORIZED;
	default:
		/* Busy, unavailable, moved, quota, rate: the client may try
		 * again later, which is what 3 tells a 3.x client. */
		return RMQ_V3_REFUSED_SERVER_UNAVAILABLE;
	}
}
