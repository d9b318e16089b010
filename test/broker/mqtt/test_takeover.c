/* test/broker/mqtt/test_takeover.c: a client identifier connected again
 * (broker/mqtt/connect.c and session.c) on the fake loop backend: on the
 * same worker and from another one, persistent sessions resumed with what
 * they hold, clean sessions ended with their connection. */
#include <criterion/criterion.h>

#include "rmq_test_node.h"

RMQ_NODE_SUITE(takeover, 2, NULL);

Test(takeover, persistent_session_resumes_on_another_worker)
{
	int present = -1;
	struct rmq_fake_client *a =
	    rmq_test_connect(0, RMQ_V311, "id", 0, &present);
	cr_assert_eq(present, 0);
	rmq_test_subscribe(a, RMQ_V311, "t", 1, 1);
	/* The same id from worker 1: the old connection closes
	 * [MQTT-3.1.4-3], the session moves on with its subscription
	 * (Session Present 1 [MQTT-3.2.2-3]). */
	struct rmq_fake_client *b =
	    rmq_test_connect(1, RMQ_V311, "id", 0, &present);
	cr_assert_eq(present, 1);
	RMQ_EXPECT_CLOSED(a);
	struct rmq_fake_client *p = rmq_test_connect(1, RMQ_V311, "p", 1, NULL);
	rmq_test_publish(p, RMQ_V311, "t", "m", 1, 3);
	RMQ_EXPECT(p, 0x40, 2, 0, 3);
	RMQ_EXPECT(b, 0x32, 6, 0, 1, 't', 0, 1, 'm');
}

Test(takeover, v5_old_connection_hears_session_taken_over)
{
	struct rmq_fake_client *a = rmq_test_connect(0, RMQ_V5, "id", 1, NULL);
	struct rmq_fake_client *b = rmq_test_connect(0, RMQ_V5, "id", 1, NULL);
	uint8_t d[64];
	size_t n = rmq_test_next_packet(a, d, sizeof(d));
	cr_assert(n >= 3 && d[0] == 0xE0 && d[2] == RMQ_RC_SESSION_TAKEN_OVER,
	    "DISCONNECT 0x8E, got %zu bytes", n);
	RMQ_EXPECT_CLOSED(a);
	cr_assert_not(b->closed);
}

Test(takeover, clean_session_taken_over_is_not_resumed)
{
	int present = -1;
	struct rmq_fake_client *a =
	    rmq_test_connect(0, RMQ_V311, "id", 1, NULL);
	rmq_test_subscribe(a, RMQ_V311, "t", 0, 0);
	/* The clean session ended with its connection [MQTT-3.1.2-6]: a
	 * persistent newcomer gets a new session, Session Present 0, and
	 * none of the old subscriptions. */
	struct rmq_fake_client *b =
	    rmq_test_connect(0, RMQ_V311, "id", 0, &present);
	cr_assert_eq(present, 0);
	RMQ_EXPECT_CLOSED(a);
	struct rmq_fake_client *p = rmq_test_connect(1, RMQ_V311, "p", 1, NULL);
	rmq_test_publish(p, RMQ_V311, "t", "m", 0, 0);
	RMQ_EXPECT_NOTHING(b);
}

Test(takeover, v5_session_expiry_0_taken_over_from_another_worker)
{
	int present = -1;
	struct rmq_fake_client *a = rmq_test_connect(1, RMQ_V5, "id", 1, NULL);
	rmq_test_subscribe(a, RMQ_V5, "t", 0, 0);
	/* Clean Start 0 but the old session's expiry was 0: it ended. */
	struct rmq_fake_client *b =
	    rmq_test_connect(0, RMQ_V5, "id", 0, &present);
	cr_assert_eq(present, 0);
	uint8_t d[64];
	cr_assert_gt(rmq_test_next_packet(a, d, sizeof(d)), 0);
	RMQ_EXPECT_CLOSED(a);
	struct rmq_fake_client *p = rmq_test_connect(1, RMQ_V5, "p", 1, NULL);
	rmq_test_publish(p, RMQ_V5, "t", "m", 0, 0);
	RMQ_EXPECT_NOTHING(b);
}
