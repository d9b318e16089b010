/* test/broker/mqtt/test_subscribe.c: broker/mqtt/subscribe.c on the fake
 * loop backend: SUBACK and UNSUBACK byte for byte, retained messages on
 * subscription, and an empty topic filter in UNSUBSCRIBE. */
#include <criterion/criterion.h>

#include <stdio.h>

#include "rmq_test.h"
#include "rmq_test_node.h"
#include "session.h"

RMQ_NODE_SUITE(subscribe, 1, NULL);

Test(subscribe, suback_grants_per_filter)
{
	struct rmq_fake_client *c = rmq_test_connect(0, RMQ_V311, "c", 1, NULL);
	/* Two filters, QoS 1 and a filter with '#' not last: granted 1,
	 * refused 0x80 [MQTT-3.9.3-1]. */
	RMQ_SEND(c, 0x82, 12, 0, 9, 0, 1, 'a', 1, 0, 3, 'a', '#', 'b', 0);
	RMQ_EXPECT(c, 0x90, 4, 0, 9, 0x01, 0x80);
}

Test(subscribe, unsuback_tells_whether_the_subscription_existed)
{
	struct rmq_fake_client *c = rmq_test_connect(0, RMQ_V5, "c", 1, NULL);
	rmq_test_subscribe(c, RMQ_V5, "a", 1, 1);
	/* UNSUBSCRIBE "a" and "b": 0x00, then 0x11 No subscription
	 * existed. */
	RMQ_SEND(c, 0xA2, 9, 0, 2, 0, 0, 1, 'a', 0, 1, 'b');
	RMQ_EXPECT(c, 0xB0, 5, 0, 2, 0, 0x00, 0x11);
}

Test(subscribe, invalid_filter_in_unsubscribe)
{
	/* 5.0: "#/b" breaks [MQTT-4.7.1-2]: UNSUBACK 0x8F for it, as a
	 * SUBACK would say, and the other filter is handled. */
	struct rmq_fake_client *c = rmq_test_connect(0, RMQ_V5, "c", 1, NULL);
	rmq_test_subscribe(c, RMQ_V5, "a", 0, 0);
	RMQ_SEND(c, 0xA2, 11, 0, 3, 0, 0, 1, 'a', 0, 3, '#', '/', 'b');
	RMQ_EXPECT(c, 0xB0, 5, 0, 3, 0, 0x00, 0x8F);
	/* 3.1.1 has no code to refuse one filter: the connection closes,
	 * and the valid filter before it is not removed either. */
	struct rmq_fake_client *d = rmq_test_connect(0, RMQ_V311, "d", 1, NULL);
	rmq_test_subscribe(d, RMQ_V311, "a", 0, 0);
	RMQ_SEND(d, 0xA2, 12, 0, 3, 0, 1, 'a', 0, 5, 'x', '+', 'y', '/', 'z');
	RMQ_EXPECT_CLOSED(d);
	cr_assert_eq(rmq_workers_sum(&rmq_test_node,
			 RMQ_STAT(
			     protocol_errors[RMQ_RC_TOPIC_FILTER_INVALID])),
	    1);
}

Test(subscribe, retained_message_follows_the_suback)
{
	struct rmq_fake_client *p = rmq_test_connect(0, RMQ_V311, "p", 1, NULL),
			       *c = rmq_test_connect(0, RMQ_V311, "c", 1, NULL);
	RMQ_SEND(p, 0x31, 4, 0, 1, 'r', 'v'); /* retained, QoS 0 */
	RMQ_EXPECT_NOTHING(p);
	rmq_test_subscribe(c, RMQ_V311, "r", 0, 0);
	/* [MQTT-3.3.1-6]: retain flag set on a retained message sent for
	 * a new subscription. */
	RMQ_EXPECT(c, 0x31, 4, 0, 1, 'r', 'v');
}

Test(subscribe, empty_filter_in_unsubscribe_closes_v311)
{
	struct rmq_fake_client *c = rmq_test_connect(0, RMQ_V311, "c", 1, NULL);
	/* [MQTT-4.7.3-1]: a Topic Filter is at least one character; no
	 * UNSUBACK, the connection closes. */
	RMQ_SEND(c, 0xA2, 4, 0, 1, 0, 0);
	RMQ_EXPECT_CLOSED(c);
}

Test(subscribe, empty_filter_in_unsubscribe_is_a_protocol_error_v5)
{
	struct rmq_fake_client *c = rmq_test_connect(0, RMQ_V5, "c", 1, NULL);
	RMQ_SEND(c, 0xA2, 5, 0, 1, 0, 0, 0);
	uint8_t d[64];
	size_t n = rmq_test_next_packet(c, d, sizeof(d));
	cr_assert(n >= 3 && d[0] == 0xE0 && d[2] == RMQ_RC_PROTOCOL_ERROR,
	    "DISCONNECT 0x82, got %zu bytes starting 0x%02x", n, d[0]);
	RMQ_EXPECT_CLOSED(c);
}

Test(subscribe, many_filters_are_found_through_the_map)
{
	/* 40 filters (past the 16 after which a client's subscriptions are
	 * mapped), then some removed from the middle and the end: each
	 * UNSUBACK code and each delivery must still be right. */
	struct rmq_fake_client *c = rmq_test_connect(0, RMQ_V5, "c", 1, NULL),
			       *p = rmq_test_connect(0, RMQ_V5, "p", 1, NULL);
	char f[8];
	for (int i = 0; i < 40; i++) {
		snprintf(f, sizeof(f), "f/%d", i);
		rmq_test_subscribe(c, RMQ_V5, f, 0, 0);
	}
	cr_assert_not_null(rmq_test_session_of(c)->rare->subidx);
	/* Subscribing again to one it has replaces it: no new record. */
	rmq_test_subscribe(c, RMQ_V5, "f/7", 1, 1);
	cr_assert_eq(rmq_test_session_of(c)->nsubs, 40);
	for (int i = 0; i < 40; i += 3) {
		snprintf(f, sizeof(f), "f/%d", i);
		struct rmq_str fs = rmq_test_str(f);
		struct rmq_packet u = { .type = RMQ_UNSUBSCRIBE, .flags = 2 };
		u.unsubscribe.packet_id = 2;
		u.unsubscribe.count = 1;
		u.unsubscribe.filters = &fs;
		rmq_test_send_packet(c, &u, RMQ_V5);
		RMQ_EXPECT(c, 0xB0, 4, 0, 2, 0, 0x00);
		rmq_test_send_packet(c, &u, RMQ_V5); /* gone now */
		RMQ_EXPECT(c, 0xB0, 4, 0, 2, 0, 0x11);
	}
	cr_assert_eq(rmq_test_session_of(c)->nsubs, 40 - 14);
	for (int i = 0; i < 40; i++) {
		snprintf(f, sizeof(f), "f/%d", i);
		rmq_test_publish(p, RMQ_V5, f, "x", 0, 0);
		uint8_t pkt[32];
		size_t n = rmq_test_next_packet(c, pkt, sizeof(pkt));
		cr_assert_eq(n != 0, i % 3 != 0, "filter f/%d", i);
	}
}

static void
three_subscriptions(struct rmq_config *cfg)
{
	cfg->max_subscriptions = 3;
}

RMQ_NODE_SUITE(subscribe_bound, 1, three_subscriptions);

Test(subscribe_bound, one_more_than_max_subscriptions_is_refused)
{
	struct rmq_fake_client *c = rmq_test_connect(0, RMQ_V5, "c", 1, NULL);
	/* Four filters, the fourth past max_subscriptions 3: 0x97 Quota
	 * exceeded for it alone. */
	RMQ_SEND(c, 0x82, 19, 0, 1, 0, 0, 1, 'a', 0, 0, 1, 'b', 0, 0, 1, 'c', 0,
	    0, 1, 'd', 0);
	RMQ_EXPECT(c, 0x90, 7, 0, 1, 0, 0x00, 0x00, 0x00, 0x97);
	/* One it holds may be subscribed again; 3.1.1 hears 0x80. */
	RMQ_SEND(c, 0x82, 7, 0, 2, 0, 0, 1, 'a', 1);
	RMQ_EXPECT(c, 0x90, 4, 0, 2, 0, 0x01);
	struct rmq_fake_client *d = rmq_test_connect(0, RMQ_V311, "d", 1, NULL);
	RMQ_SEND(d, 0x82, 18, 0, 1, 0, 1, 'a', 0, 0, 1, 'b', 0, 0, 1, 'c', 0, 0,
	    1, 'd', 0);
	RMQ_EXPECT(d, 0x90, 6, 0, 1, 0x00, 0x00, 0x00, 0x80);
	cr_assert_eq(rmq_workers_sum(&rmq_test_node,
			 RMQ_STAT(subscriptions_refused)),
	    2);
}
