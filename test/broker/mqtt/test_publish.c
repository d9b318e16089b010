/* test/broker/mqtt/test_publish.c: broker/mqtt/publish.c on the fake loop
 * backend: routing to subscribers byte for byte, QoS 2 exactly once from a
 * publisher, and the client's Maximum Packet Size measured on the packet
 * each subscriber would get. */
#include <criterion/criterion.h>

#include "retain.h"
#include "rmq_test.h"
#include "rmq_test_node.h"

RMQ_NODE_SUITE(publish, 2, NULL);

Test(publish, qos0_reaches_subscribers_on_both_workers)
{
	struct rmq_fake_client *s0 =
				   rmq_test_connect(0, RMQ_V311, "s0", 1, NULL),
			       *s1 = rmq_test_connect(1, RMQ_V5, "s1", 1, NULL),
			       *p = rmq_test_connect(0, RMQ_V311, "p", 1, NULL);
	rmq_test_subscribe(s0, RMQ_V311, "a/+", 0, 0);
	rmq_test_subscribe(s1, RMQ_V5, "a/#", 0, 0);
	rmq_test_publish(p, RMQ_V311, "a/b", "hi", 0, 0);
	RMQ_EXPECT(s0, 0x30, 7, 0, 3, 'a', '/', 'b', 'h', 'i');
	RMQ_EXPECT(s1, 0x30, 8, 0, 3, 'a', '/', 'b', 0, 'h', 'i');
	RMQ_EXPECT_NOTHING(p);
}

Test(publish, qos2_from_a_publisher_is_delivered_once)
{
	struct rmq_fake_client *s = rmq_test_connect(1, RMQ_V311, "s", 1, NULL),
			       *p = rmq_test_connect(0, RMQ_V311, "p", 1, NULL);
	rmq_test_subscribe(s, RMQ_V311, "t", 0, 0);
	rmq_test_publish(p, RMQ_V311, "t", "x", 2, 5);
	RMQ_EXPECT(p, 0x50, 2, 0, 5); /* PUBREC */
	RMQ_EXPECT(s, 0x30, 4, 0, 1, 't', 'x');
	/* The same id again before PUBREL, DUP set: acknowledged, not
	 * delivered twice [MQTT-4.3.3-10]. */
	RMQ_SEND(p, 0x3C, 6, 0, 1, 't', 0, 5, 'x');
	RMQ_EXPECT(p, 0x50, 2, 0, 5);
	RMQ_EXPECT_NOTHING(s);
	RMQ_SEND(p, 0x62, 2, 0, 5); /* PUBREL */
	RMQ_EXPECT(p, 0x70, 2, 0, 5); /* PUBCOMP */
	/* Released: the id is new again. */
	rmq_test_publish(p, RMQ_V311, "t", "y", 2, 5);
	RMQ_EXPECT(p, 0x50, 2, 0, 5);
	RMQ_EXPECT(s, 0x30, 4, 0, 1, 't', 'y');
}

/* A 5.0 subscriber "s" to "t" at QoS 0 whose Maximum Packet Size is 16. */
static struct rmq_fake_client *
small_subscriber(void)
{
	struct rmq_fake_client *s = rmq_test_client(0);
	RMQ_SEND(s, 0x10, 19, 0, 4, 'M', 'Q', 'T', 'T', 5, 0x02, 0, 0, 5, 0x27,
	    0, 0, 0, 16, 0, 1, 's');
	uint8_t ack[64];
	cr_assert_gt(rmq_test_next_packet(s, ack, sizeof(ack)), 0);
	rmq_test_subscribe(s, RMQ_V5, "t", 0, 0);
	return s;
}

Test(publish, packet_of_exactly_the_client_maximum_is_delivered)
{
	struct rmq_fake_client *s = small_subscriber(),
			       *p = rmq_test_connect(1, RMQ_V311, "p", 1, NULL);
	/* To s: 2 bytes of fixed header, 3 of topic, 1 of properties and
	 * 10 of payload: 16, its maximum [MQTT-3.1.2-24]. */
	rmq_test_publish(p, RMQ_V311, "t", "0123456789", 0, 0);
	RMQ_EXPECT(s, 0x30, 14, 0, 1, 't', 0, '0', '1', '2', '3', '4', '5', '6',
	    '7', '8', '9');
	cr_assert_eq(rmq_workers_sum(&rmq_test_node,
			 RMQ_STAT(dropped_too_large)),
	    0);
}

Test(publish, packet_over_the_client_maximum_is_discarded)
{
	struct rmq_fake_client *s = small_subscriber(),
			       *p = rmq_test_connect(1, RMQ_V311, "p", 1, NULL);
	/* One byte more: discarded for s as if sent [MQTT-3.1.2-25],
	 * counted, and the connection stays. */
	rmq_test_publish(p, RMQ_V311, "t", "0123456789A", 0, 0);
	RMQ_EXPECT_NOTHING(s);
	cr_assert_not(s->closed);
	cr_assert_eq(rmq_workers_sum(&rmq_test_node,
			 RMQ_STAT(dropped_too_large)),
	    1);
	/* What fits after it still goes. */
	rmq_test_publish(p, RMQ_V311, "t", "ok", 0, 0);
	RMQ_EXPECT(s, 0x30, 6, 0, 1, 't', 0, 'o', 'k');
}

Test(publish, answers_carry_the_reason_to_v5_only)
{
	struct rmq_fake_client *p5 = rmq_test_connect(0, RMQ_V5, "p5", 1, NULL),
			       *p3 =
				   rmq_test_connect(0, RMQ_V311, "p3", 1, NULL);
	/* No subscriber: PUBACK 0x10 No matching subscribers (3.4.2.1);
	 * the 3.1.1 publisher's acknowledgement has no reason. */
	rmq_test_publish(p5, RMQ_V5, "none", "x", 1, 4);
	RMQ_EXPECT(p5, 0x40, 3, 0, 4, 0x10);
	rmq_test_publish(p3, RMQ_V311, "none", "x", 1, 4);
	RMQ_EXPECT(p3, 0x40, 2, 0, 4);
	/* $SYS/ is the server's: PUBREC 0x87 Not authorized, and the
	 * message goes no further. */
	struct rmq_fake_client *s = rmq_test_connect(1, RMQ_V311, "s", 1, NULL);
	rmq_test_subscribe(s, RMQ_V311, "$SYS/#", 0, 0);
	rmq_test_publish(p5, RMQ_V5, "$SYS/x", "x", 2, 5);
	RMQ_EXPECT(p5, 0x50, 3, 0, 5, 0x87);
	RMQ_EXPECT_NOTHING(s);
}

/* Closes for a PUBLISH against the 5.0 rules are counted by reason like
 * every protocol error: 0x93, more QoS 2 unreleased than the Receive
 * Maximum the server announced [MQTT-3.3.4-8]; 0x94, a topic alias above
 * the Topic Alias Maximum [MQTT-3.3.2-9]. */
static void
tweak_receive_max(struct rmq_config *cfg)
{
	cfg->receive_maximum = 2;
}

RMQ_NODE_SUITE(publish_limits, 1, tweak_receive_max);

static void
expect_disconnect(struct rmq_fake_client *c, uint8_t reason)
{
	uint8_t pkt[256];
	size_t n = rmq_test_next_packet(c, pkt, sizeof(pkt));
	cr_assert_geq(n, 3);
	cr_assert_eq(pkt[0], 0xe0, "a DISCONNECT");
	cr_assert_eq(pkt[2], reason, "reason 0x%02x", pkt[2]);
	RMQ_EXPECT_CLOSED(c);
	cr_assert_eq(rmq_workers_sum(&rmq_test_node,
			 RMQ_STAT(protocol_errors) +
			     reason * sizeof(rmq_counter)),
	    1, "counted under 0x%02x", reason);
}

Test(publish_limits, receive_maximum_exceeded_is_counted)
{
	struct rmq_fake_client *p = rmq_test_connect(0, RMQ_V5, "p", 1, NULL);
	rmq_test_publish(p, RMQ_V5, "t", "1", 2, 1);
	RMQ_EXPECT(p, 0x50, 3, 0, 1, 0x10);
	rmq_test_publish(p, RMQ_V5, "t", "2", 2, 2);
	RMQ_EXPECT(p, 0x50, 3, 0, 2, 0x10);
	rmq_test_publish(p, RMQ_V5, "t", "3", 2, 3);
	expect_disconnect(p, 0x93);
}

Test(publish_limits, topic_alias_invalid_is_counted)
{
	struct rmq_fake_client *p = rmq_test_connect(0, RMQ_V5, "p", 1, NULL);
	struct rmq_packet pub = { .type = RMQ_PUBLISH };
	pub.publish.topic = rmq_test_str("t");
	pub.publish.payload = rmq_test_str("x");
	pub.publish.props.topic_alias = 65; /* the maximum is 64 */
	RMQ_PROP_SET(&pub.publish.props, RMQ_PROP_TOPIC_ALIAS);
	rmq_test_send_packet(p, &pub, RMQ_V5);
	expect_disconnect(p, 0x94);
}

/* ---- max_publish_rate ---- */

static void
rate_3(struct rmq_config *cfg)
{
	cfg->max_publish_rate = 3;
}

RMQ_NODE_SUITE(publish_rate, 1, rate_3);

static uint64_t
rate_refused(void)
{
	return rmq_workers_sum(&rmq_test_node, RMQ_STAT(publish_rate_refused));
}

Test(publish_rate, past_the_rate_a_v5_client_hears_quota_exceeded)
{
	/* Start at the top of a second of the fake clock. */
	rmq_fake_advance(1000 - rmq_fake_now() % 1000);
	rmq_fake_settle();
	struct rmq_fake_client *s = rmq_test_connect(0, RMQ_V311, "s", 1, NULL),
			       *p = rmq_test_connect(0, RMQ_V5, "p", 1, NULL);
	rmq_test_subscribe(s, RMQ_V311, "t", 0, 0);
	for (uint8_t i = 1; i <= 3; i++) {
		rmq_test_publish(p, RMQ_V5, "t", "x", 1, i);
		const uint8_t ack[] = { 0x40, 2, 0, i };
		rmq_test_expect(p, ack, sizeof(ack), __FILE__, __LINE__);
	}
	/* The fourth and fifth in the same second: refused with 0x97 and
	 * sent nowhere; the client stays connected. */
	rmq_test_publish(p, RMQ_V5, "t", "x", 1, 4);
	RMQ_EXPECT(p, 0x40, 3, 0, 4, 0x97);
	rmq_test_publish(p, RMQ_V5, "t", "x", 2, 5);
	RMQ_EXPECT(p, 0x50, 3, 0, 5, 0x97); /* PUBREC: the flow ends */
	rmq_test_publish(p, RMQ_V5, "t", "x", 0, 0);
	for (int i = 0; i < 3; i++)
		RMQ_EXPECT(s, 0x30, 4, 0, 1, 't', 'x');
	RMQ_EXPECT_NOTHING(s);
	cr_assert_eq(rate_refused(), 3);
	cr_assert_not(p->closed || p->shut);
	/* The next second has room again. */
	rmq_fake_advance(1000);
	rmq_fake_settle();
	rmq_test_publish(p, RMQ_V5, "t", "x", 1, 6);
	RMQ_EXPECT(p, 0x40, 2, 0, 6);
	RMQ_EXPECT(s, 0x30, 4, 0, 1, 't', 'x');
}

Test(publish_rate, a_v311_client_is_acknowledged_and_its_excess_dropped)
{
	rmq_fake_advance(1000 - rmq_fake_now() % 1000);
	rmq_fake_settle();
	struct rmq_fake_client *s = rmq_test_connect(0, RMQ_V311, "s", 1, NULL),
			       *p = rmq_test_connect(0, RMQ_V311, "p", 1, NULL);
	rmq_test_subscribe(s, RMQ_V311, "t", 0, 0);
	for (uint8_t i = 1; i <= 5; i++) {
		rmq_test_publish(p, RMQ_V311, "t", "x", 1, i);
		const uint8_t ack[] = { 0x40, 2, 0, i };
		rmq_test_expect(p, ack, sizeof(ack), __FILE__, __LINE__);
	}
	for (int i = 0; i < 3; i++)
		RMQ_EXPECT(s, 0x30, 4, 0, 1, 't', 'x');
	RMQ_EXPECT_NOTHING(s);
	cr_assert_eq(rate_refused(), 2);
}

Test(publish_rate, a_qos2_publish_sent_again_is_not_counted)
{
	rmq_fake_advance(1000 - rmq_fake_now() % 1000);
	rmq_fake_settle();
	struct rmq_fake_client *p = rmq_test_connect(0, RMQ_V5, "p", 1, NULL);
	rmq_test_publish(p, RMQ_V5, "t", "x", 2, 9);
	RMQ_EXPECT(p, 0x50, 3, 0, 9, 0x10); /* no matching subscribers */
	/* Sent again (DUP) three times before PUBREL: acknowledged as
	 * received [MQTT-4.3.3-10], not counted against the rate. */
	for (int i = 0; i < 3; i++) {
		RMQ_SEND(p, 0x3C, 7, 0, 1, 't', 0, 9, 0, 'x');
		RMQ_EXPECT(p, 0x50, 2, 0, 9);
	}
	cr_assert_eq(rate_refused(), 0);
	rmq_test_publish(p, RMQ_V5, "t", "x", 1, 10);
	RMQ_EXPECT(p, 0x40, 3, 0, 10, 0x10);
	cr_assert_eq(rate_refused(), 0);
}

/* ---- max_retained_messages, max_retained_bytes ---- */

static void
retain_2(struct rmq_config *cfg)
{
	cfg->max_retained = 2;
	cfg->max_retained_bytes = 0;
}

RMQ_NODE_SUITE(publish_retain_bound, 1, retain_2);

static uint64_t
retained_refused(void)
{
	return rmq_workers_sum(&rmq_test_node, RMQ_STAT(retained_refused));
}

/* A retained QoS 1 PUBLISH of payload on topic from 5.0 client p, id pid;
 * the PUBACK's reason (0 for the short form). */
static uint8_t
retain_v5(struct rmq_fake_client *p, const char *topic, const char *payload,
    uint16_t pid)
{
	struct rmq_packet pk = { .type = RMQ_PUBLISH };
	pk.publish.qos = 1;
	pk.publish.retain = 1;
	pk.publish.packet_id = pid;
	pk.publish.topic = rmq_test_str(topic);
	pk.publish.payload = rmq_test_str(payload);
	rmq_test_send_packet(p, &pk, RMQ_V5);
	uint8_t ack[16];
	size_t n = rmq_test_next_packet(p, ack, sizeof(ack));
	cr_assert(n >= 4 && ack[0] == 0x40, "a PUBACK");
	return n > 4 ? ack[4] : 0;
}

Test(publish_retain_bound, past_the_count_a_new_topic_is_refused)
{
	struct rmq_fake_client *p = rmq_test_connect(0, RMQ_V5, "p", 1, NULL);
	cr_assert_eq(retain_v5(p, "r/1", "a", 1), 0x10);
	cr_assert_eq(retain_v5(p, "r/2", "b", 2), 0x10);
	/* A third topic: 0x97, and it goes nowhere, not even to a
	 * subscriber there now. */
	struct rmq_fake_client *s = rmq_test_connect(0, RMQ_V311, "s", 1, NULL);
	rmq_test_subscribe(s, RMQ_V311, "r/3", 0, 0);
	cr_assert_eq(retain_v5(p, "r/3", "c", 3), RMQ_RC_QUOTA_EXCEEDED);
	RMQ_EXPECT_NOTHING(s);
	cr_assert_eq(retained_refused(), 1);
	/* Replacing a topic's message is taken, and so is clearing one,
	 * after which a new topic fits. */
	cr_assert_eq(retain_v5(p, "r/1", "A", 4), 0x10);
	cr_assert_eq(retain_v5(p, "r/2", "", 5), 0x10);
	cr_assert_eq(retain_v5(p, "r/3", "c", 6), 0);
	RMQ_EXPECT(s, 0x30, 6, 0, 3, 'r', '/', '3', 'c');
	cr_assert_eq(rmq_retain_count(rmq_test_node.retain), 2);
	/* A 3.1.1 QoS 0 publisher cannot be told: its message is delivered
	 * but not retained. */
	struct rmq_fake_client *q = rmq_test_connect(0, RMQ_V311, "q", 1, NULL);
	rmq_test_subscribe(s, RMQ_V311, "r/4", 0, 0);
	RMQ_SEND(q, 0x31, 6, 0, 3, 'r', '/', '4', 'd');
	RMQ_EXPECT(s, 0x30, 6, 0, 3, 'r', '/', '4', 'd');
	cr_assert_eq(retained_refused(), 2);
	struct rmq_fake_client *late =
	    rmq_test_connect(0, RMQ_V311, "late", 1, NULL);
	rmq_test_subscribe(late, RMQ_V311, "r/4", 0, 0);
	RMQ_EXPECT_NOTHING(late);
}

static void
retain_bytes_small(struct rmq_config *cfg)
{
	cfg->max_retained = 0;
	cfg->max_retained_bytes = 1;
}

RMQ_NODE_SUITE(publish_retain_bytes, 1, retain_bytes_small);

Test(publish_retain_bytes, past_the_bytes_nothing_more_is_retained)
{
	/* One byte of room: no message fits (each counts its topic and
	 * payload at least). */
	struct rmq_fake_client *p = rmq_test_connect(0, RMQ_V5, "p", 1, NULL);
	cr_assert_eq(retain_v5(p, "r/1", "a", 1), RMQ_RC_QUOTA_EXCEEDED);
	cr_assert_eq(rmq_retain_count(rmq_test_node.retain), 0);
	cr_assert_eq(rmq_retain_bytes(rmq_test_node.retain), 0);
	cr_assert_eq(retained_refused(), 1);
}
