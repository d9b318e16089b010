/* test/core/test_reason.c: tests core/reason.c, the reason code names and
 * which packet may carry which code (5.0 spec 2.4 and each packet's
 * table), and the 3.x return codes.
 */
#include <criterion/criterion.h>

#include "packet.h"
#include "reason.h"

TestSuite(reason);

Test(reason, names)
{
	cr_assert_str_eq(rmq_reason_name(0x00, RMQ_CONNACK), "Success");
	cr_assert_str_eq(rmq_reason_name(0x00, RMQ_DISCONNECT),
	    "Normal disconnection");
	cr_assert_str_eq(rmq_reason_name(0x00, RMQ_SUBACK), "Granted QoS 0");
	cr_assert_str_eq(rmq_reason_name(0x81, 0), "Malformed Packet");
	cr_assert_str_eq(rmq_reason_name(0x8E, 0), "Session taken over");
	cr_assert_str_eq(rmq_reason_name(0xA2, 0),
	    "Wildcard Subscriptions not supported");
	cr_assert_null(rmq_reason_name(0x03, 0));
	cr_assert_null(rmq_reason_name(0xA3, 0));
	/* 2.4, table 2-6 defines 43 codes; every one has a name. */
	unsigned named = 0;
	for (unsigned c = 0; c < 256; c++)
		named += rmq_reason_name((uint8_t)c, 0) != NULL;
	cr_assert_eq(named, 43);
}

Test(reason, which_packet_may_carry_which)
{
	/* [MQTT-3.2.2-8] CONNACK codes (3.2.2.2). */
	cr_assert(rmq_reason_allowed(0x84, RMQ_CONNACK, RMQ_V5));
	cr_assert(rmq_reason_allowed(0x9F, RMQ_CONNACK, RMQ_V5));
	cr_assert_not(rmq_reason_allowed(0x8E, RMQ_CONNACK, RMQ_V5));
	cr_assert_not(rmq_reason_allowed(0x04, RMQ_CONNACK, RMQ_V5));
	/* [MQTT-3.4.2-1] PUBACK codes (3.4.2.1). */
	cr_assert(rmq_reason_allowed(0x10, RMQ_PUBACK, RMQ_V5));
	cr_assert(rmq_reason_allowed(0x99, RMQ_PUBREC, RMQ_V5));
	cr_assert_not(rmq_reason_allowed(0x92, RMQ_PUBACK, RMQ_V5));
	cr_assert_not(rmq_reason_allowed(0x81, RMQ_PUBACK, RMQ_V5));
	/* [MQTT-3.6.2-1] PUBREL and PUBCOMP: 0x00 and 0x92 only. */
	for (unsigned c = 0; c < 256; c++) {
		int want = c == 0x00 || c == 0x92;
		cr_assert_eq(rmq_reason_allowed((uint8_t)c, RMQ_PUBREL, RMQ_V5),
		    want, "PUBREL 0x%02x", c);
		cr_assert_eq(rmq_reason_allowed((uint8_t)c, RMQ_PUBCOMP,
				 RMQ_V5),
		    want, "PUBCOMP 0x%02x", c);
	}
	/* [MQTT-3.9.3-2] SUBACK codes. */
	cr_assert(rmq_reason_allowed(0x02, RMQ_SUBACK, RMQ_V5));
	cr_assert(rmq_reason_allowed(0x9E, RMQ_SUBACK, RMQ_V5));
	cr_assert_not(rmq_reason_allowed(0x11, RMQ_SUBACK, RMQ_V5));
	/* UNSUBACK codes (3.11.3). */
	cr_assert(rmq_reason_allowed(0x11, RMQ_UNSUBACK, RMQ_V5));
	cr_assert_not(rmq_reason_allowed(0x01, RMQ_UNSUBACK, RMQ_V5));
	/* DISCONNECT codes (3.14.2.1). */
	cr_assert(rmq_reason_allowed(0x04, RMQ_DISCONNECT, RMQ_V5));
	cr_assert(rmq_reason_allowed(0x8E, RMQ_DISCONNECT, RMQ_V5));
	cr_assert_not(rmq_reason_allowed(0x84, RMQ_DISCONNECT, RMQ_V5));
	/* AUTH codes (3.15.2.1): 0x00, 0x18, 0x19. */
	for (unsigned c = 0; c < 256; c++)
		cr_assert_eq(rmq_reason_allowed((uint8_t)c, RMQ_AUTH, RMQ_V5),
		    c == 0x00 || c == 0x18 || c == 0x19, "AUTH 0x%02x", c);
	cr_assert_not(rmq_reason_allowed(0x00, RMQ_PINGREQ, RMQ_V5));
}

Test(reason, v3_return_codes)
{
	/* 3.1.1 table 3.1: CONNACK return codes 0 to 5. */
	for (unsigned c = 0; c < 256; c++)
		cr_assert_eq(rmq_reason_allowed((uint8_t)c, RMQ_CONNACK,
				 RMQ_V311),
		    c <= 5, "0x%02x", c);
	/* 3.1.1 3.9.3: SUBACK 0x00, 0x01, 0x02, 0x80; 3.1 had no 0x80. */
	cr_assert(rmq_reason_allowed(0x80, RMQ_SUBACK, RMQ_V311));
	cr_assert_not(rmq_reason_allowed(0x80, RMQ_SUBACK, RMQ_V31));
	cr_assert(rmq_reason_allowed(0x02, RMQ_SUBACK, RMQ_V31));
	cr_assert_not(rmq_reason_allowed(0x03, RMQ_SUBACK, RMQ_V311));
	cr_assert_not(rmq_reason_allowed(0x10, RMQ_PUBACK, RMQ_V311));
}

Test(reason, v5_to_v3_connack)
{
	cr_assert_eq(rmq_reason_to_v3_connack(0x00), 0);
	cr_assert_eq(rmq_reason_to_v3_connack(0x84), 1);
	cr_assert_eq(rmq_reason_to_v3_connack(0x85), 2);
	cr_assert_eq(rmq_reason_to_v3_connack(0x88), 3);
	cr_assert_eq(rmq_reason_to_v3_connack(0x89), 3);
	cr_assert_eq(rmq_reason_to_v3_connack(0x86), 4);
	cr_assert_eq(rmq_reason_to_v3_connack(0x87), 5);
	cr_assert_eq(rmq_reason_to_v3_connack(0x8A), 5);
}
