/* test/broker/mqtt/test_outq.c: broker/mqtt/outq.c on the fake loop
 * backend: QoS 1 and 2 deliveries and their acknowledgements byte for
 * byte, and an acknowledgement of the wrong kind for a packet id in
 * flight, which is a Protocol Error. */
#include <criterion/criterion.h>

#include "rmq_test_node.h"

static void
setup(void)
{
	rmq_test_node_start(1, NULL);
}

static void
teardown(void)
{
	rmq_test_node_stop();
}

TestSuite(outq, .init = setup, .fini = teardown, .timeout = 30);

/* A 5.0 subscriber "s" to topic "t" at QoS 2, and a 3.1.1 publisher "p";
 * neither uses keep alive. */
static struct rmq_fake_client *
subscriber_v5(void)
{
	struct rmq_fake_client *s = rmq_test_client(0);
	RMQ_SEND(s, 0x10, 14, 0, 4, 'M', 'Q', 'T', 'T', 5, 0x02, 0, 0, 0, 0, 1,
	    's');
	RMQ_EXPECT(s, 0x20, 14, 0x00, 0x00, 11, 0x21, 0x00, 0x80, 0x22, 0x00,
	    0x40, 0x27, 0x01, 0x00, 0x00, 0x00);
	RMQ_SEND(s, 0x82, 7, 0, 1, 0, 0, 1, 't', 0x02);
	RMQ_EXPECT(s, 0x90, 4, 0, 1, 0, 0x02); /* granted QoS 2 */
	return s;
}

static struct rmq_fake_client *
publisher_v311(void)
{
	struct rmq_fake_client *p = rmq_test_client(0);
	RMQ_SEND(p, 0x10, 13, 0, 4, 'M', 'Q', 'T', 'T', 4, 0x02, 0, 0, 0, 1,
	    'p');
	RMQ_EXPECT(p, 0x20, 0x02, 0x00, 0x00);
	return p;
}

/* p publishes "x" on "t" at QoS 1 (packet id 7) and gets its PUBACK; s
 * receives it at QoS 1 with packet id 1. */
static void
deliver_qos1(struct rmq_fake_client *p, struct rmq_fake_client *s)
{
	RMQ_SEND(p, 0x32, 6, 0, 1, 't', 0, 7, 'x');
	RMQ_EXPECT(p, 0x40, 2, 0, 7);
	RMQ_EXPECT(s, 0x32, 7, 0, 1, 't', 0, 1, 0, 'x');
}

/* The same at QoS 2: PUBREC, PUBREL, PUBCOMP with p; s gets QoS 2. */
static void
deliver_qos2(struct rmq_fake_client *p, struct rmq_fake_client *s)
{
	RMQ_SEND(p, 0x34, 6, 0, 1, 't', 0, 8, 'y');
	RMQ_EXPECT(p, 0x50, 2, 0, 8);
	RMQ_SEND(p, 0x62, 2, 0, 8);
	RMQ_EXPECT(p, 0x70, 2, 0, 8);
	RMQ_EXPECT(s, 0x34, 7, 0, 1, 't', 0, 1, 0, 'y');
}

Test(outq, qos1_puback_frees_the_window)
{
	struct rmq_fake_client *s = subscriber_v5(), *p = publisher_v311();
	deliver_qos1(p, s);
	struct rmq_session *ss = rmq_test_session_of(s);
	cr_assert_eq(ss->infl_len, 1);
	RMQ_SEND(s, 0x40, 2, 0, 1);
	RMQ_EXPECT_NOTHING(s);
	cr_assert_eq(ss->infl_len, 0);
}

Test(outq, qos2_flow_to_the_subscriber)
{
	struct rmq_fake_client *s = subscriber_v5(), *p = publisher_v311();
	deliver_qos2(p, s);
	struct rmq_session *ss = rmq_test_session_of(s);
	RMQ_SEND(s, 0x50, 2, 0, 1); /* PUBREC */
	RMQ_EXPECT(s, 0x62, 2, 0, 1); /* PUBREL [MQTT-4.3.3-4] */
	cr_assert_eq(ss->infl_len, 1);
	RMQ_SEND(s, 0x70, 2, 0, 1); /* PUBCOMP */
	RMQ_EXPECT_NOTHING(s);
	cr_assert_eq(ss->infl_len, 0);
}

/* 5.0 4.13.1 and [MQTT-4.3.2], [MQTT-4.3.3]: an acknowledgement of
 * another flow than the one its packet id is in is a Protocol Error: the
 * server sends DISCONNECT 0x82 and closes. */
static void
expect_protocol_error(struct rmq_fake_client *s)
{
	RMQ_EXPECT(s, 0xE0, 19, 0x82, 17, 0x1F, 0, 14, 'P', 'r', 'o', 't', 'o',
	    'c', 'o', 'l', ' ', 'E', 'r', 'r', 'o', 'r');
	RMQ_EXPECT_CLOSED(s);
	cr_assert_eq(rmq_workers_sum(&rmq_test_node,
			 RMQ_STAT(protocol_errors[0x82])),
	    1);
}

Test(outq, pubrec_for_a_qos1_message_is_a_protocol_error)
{
	struct rmq_fake_client *s = subscriber_v5(), *p = publisher_v311();
	deliver_qos1(p, s);
	RMQ_SEND(s, 0x50, 2, 0, 1);
	expect_protocol_error(s);
}

Test(outq, pubcomp_for_a_qos1_message_is_a_protocol_error)
{
	struct rmq_fake_client *s = subscriber_v5(), *p = publisher_v311();
	deliver_qos1(p, s);
	RMQ_SEND(s, 0x70, 2, 0, 1);
	expect_protocol_error(s);
}

Test(outq, puback_for_a_qos2_message_is_a_protocol_error)
{
	struct rmq_fake_client *s = subscriber_v5(), *p = publisher_v311();
	deliver_qos2(p, s);
	RMQ_SEND(s, 0x40, 2, 0, 1);
	expect_protocol_error(s);
}

Test(outq, pubcomp_before_pubrec_is_a_protocol_error)
{
	struct rmq_fake_client *s = subscriber_v5(), *p = publisher_v311();
	deliver_qos2(p, s);
	RMQ_SEND(s, 0x70, 2, 0, 1);
	expect_protocol_error(s);
}

Test(outq, puback_for_a_pubrel_is_a_protocol_error)
{
	struct rmq_fake_client *s = subscriber_v5(), *p = publisher_v311();
	deliver_qos2(p, s);
	RMQ_SEND(s, 0x50, 2, 0, 1);
	RMQ_EXPECT(s, 0x62, 2, 0, 1);
	RMQ_SEND(s, 0x40, 2, 0, 1);
	expect_protocol_error(s);
}

Test(outq, ack_for_an_unknown_id_is_ignored)
{
	struct rmq_fake_client *s = subscriber_v5();
	/* No message in flight: a PUBACK or PUBCOMP for id 9 changes
	 * nothing, and the connection stays. */
	RMQ_SEND(s, 0x40, 2, 0, 9);
	RMQ_SEND(s, 0x70, 2, 0, 9);
	RMQ_EXPECT_NOTHING(s);
	cr_assert_not(s->closed);
}
