/* test/broker/mqtt/test_linger.c: connections read to their end before
 * they close (broker/mqtt/linger.c) on the fake loop backend: the last
 * packet, then the shutdown; what the client sends after it thrown away;
 * the close at the client's end or at RMQ_LINGER_MS; and nobody waiting
 * on a lingering connection.
 */
#include <criterion/criterion.h>

#include "rmq_test.h"
#include "rmq_test_node.h"

RMQ_NODE_SUITE(linger, 2, NULL);

static uint64_t
sum(size_t off)
{
	return rmq_workers_sum(&rmq_test_node, off);
}

/* A 5.0 client that breaks the protocol gets DISCONNECT with the reason
 * [MQTT-4.13.1-1]; the next packet the test reads from it. */
static uint8_t
broken_v5(struct rmq_fake_client **out)
{
	struct rmq_fake_client *c = rmq_test_connect(0, RMQ_V5, "bad", 1, NULL);
	RMQ_SEND(c, 0x00, 0x00); /* packet type 0 is reserved */
	uint8_t d[128];
	size_t n = rmq_test_next_packet(c, d, sizeof(d));
	cr_assert(n >= 3 && d[0] == 0xE0, "a DISCONNECT, got %zu bytes", n);
	*out = c;
	return d[2];
}

Test(linger, the_disconnect_then_a_shutdown_and_input_thrown_away)
{
	struct rmq_fake_client *c;
	uint8_t reason = broken_v5(&c);
	cr_assert_geq(reason, 0x80);
	/* A FIN after the DISCONNECT, not a close: a client still sending
	 * would otherwise be answered with a reset that can take the
	 * DISCONNECT with it. */
	cr_assert(c->shut, "shut down after the DISCONNECT");
	cr_assert_not(c->closed);
	cr_assert_eq(sum(RMQ_STAT(lingered)), 1);
	cr_assert_eq(sum(RMQ_STAT(lingering)), 1);
	/* What it sends now, packets or garbage, is read and answered by
	 * nothing. */
	RMQ_SEND(c, 0xC0, 0x00); /* PINGREQ */
	static const uint8_t junk[1000] = { 0x30 };
	rmq_fake_send(c, junk, sizeof(junk));
	RMQ_EXPECT_NOTHING(c);
	cr_assert_not(c->closed);
	cr_assert_eq(sum(RMQ_STAT(linger_discarded)), 2 + sizeof(junk));
	/* It counts as a connection until it closes. */
	cr_assert_eq(atomic_load(&rmq_test_node.connections), 1);
	rmq_fake_hangup(c);
	rmq_fake_settle();
	cr_assert(c->closed, "closed at the client's end");
	cr_assert_eq(atomic_load(&rmq_test_node.connections), 0);
	cr_assert_eq(sum(RMQ_STAT(lingering)), 0);
	cr_assert_eq(sum(RMQ_STAT(linger_timeouts)), 0);
}

Test(linger, a_client_that_never_ends_is_closed_after_the_linger_time)
{
	struct rmq_fake_client *c;
	broken_v5(&c);
	cr_assert(c->shut);
	rmq_fake_advance(RMQ_LINGER_MS - 100);
	rmq_fake_settle();
	cr_assert_not(c->closed, "still lingering before RMQ_LINGER_MS");
	/* The tick closes it once the time is up (the loops' tick is at
	 * most a second apart). */
	rmq_fake_advance(1100);
	rmq_fake_settle();
	cr_assert(c->closed, "closed RMQ_LINGER_MS after the shutdown");
	cr_assert_eq(sum(RMQ_STAT(linger_timeouts)), 1);
	cr_assert_eq(atomic_load(&rmq_test_node.connections), 0);
}

Test(linger, a_refused_connect_gets_its_connack_then_the_shutdown)
{
	struct rmq_fake_client *c = rmq_test_client(0);
	/* MQTT level 6: CONNACK return code 1 [MQTT-3.1.2-2]. */
	RMQ_SEND(c, 0x10, 0x0c, 0, 4, 'M', 'Q', 'T', 'T', 6, 2, 0, 0, 0, 0);
	RMQ_EXPECT(c, 0x20, 0x02, 0x00, 0x01);
	cr_assert(c->shut && !c->closed);
	RMQ_EXPECT_CLOSED(c);
}

Test(linger, connect_publish_disconnect_in_one_write_get_their_answers)
{
	/* CONNECT, a QoS 1 PUBLISH and DISCONNECT in one write: what the
	 * broker owes (CONNACK, PUBACK) goes out before the end. */
	struct rmq_fake_client *sub =
	    rmq_test_connect(1, RMQ_V311, "sub", 1, NULL);
	rmq_test_subscribe(sub, RMQ_V311, "t", 1, 1);
	struct rmq_fake_client *c = rmq_test_client(0);
	uint8_t b[128];
	size_t n = rmq_test_connect_bytes("one-write", 1, b, sizeof(b));
	static const uint8_t tail[] = { 0x32, 0x06, 0, 1, 't', 0, 7, 'm', 0xE0,
		0x00 };
	memcpy(b + n, tail, sizeof(tail));
	rmq_fake_send(c, b, n + sizeof(tail));
	RMQ_EXPECT(c, 0x20, 0x02, 0x00, 0x00, 0x40, 0x02, 0x00, 0x07);
	RMQ_EXPECT_CLOSED(c);
	RMQ_EXPECT(sub, 0x32, 0x06, 0, 1, 't', 0, 1, 'm');
}

Test(linger, a_takeover_does_not_wait_for_the_old_connection_to_end)
{
	int present = -1;
	struct rmq_fake_client *a =
	    rmq_test_connect_kept(0, RMQ_V5, "id", &present);
	rmq_test_subscribe(a, RMQ_V5, "t", 0, 0);
	/* The newcomer, on another worker, is answered at once, Session
	 * Present 1, while the old connection lingers (its client has
	 * not read the end yet). */
	struct rmq_fake_client *b =
	    rmq_test_connect_kept(1, RMQ_V5, "id", &present);
	cr_assert_eq(present, 1);
	uint8_t d[64];
	size_t n = rmq_test_next_packet(a, d, sizeof(d));
	cr_assert(n >= 3 && d[0] == 0xE0 && d[2] == RMQ_RC_SESSION_TAKEN_OVER);
	cr_assert(a->shut && !a->closed, "the old connection lingers");
	struct rmq_fake_client *p = rmq_test_connect(1, RMQ_V311, "p", 1, NULL);
	rmq_test_publish(p, RMQ_V311, "t", "m", 0, 0);
	RMQ_EXPECT(b, 0x30, 0x05, 0, 1, 't', 0, 'm');
	RMQ_EXPECT_CLOSED(a);
}

Test(linger, a_stopping_broker_does_not_wait_past_its_grace)
{
	struct rmq_fake_client *c;
	broken_v5(&c);
	cr_assert(c->shut && !c->closed);
	/* The stop: the linger is cut to the grace period's end (the
	 * unit tests' shutdown_grace), so the loops end even though the
	 * client never hangs up. */
	for (unsigned i = 0; i < rmq_test_node.nworkers; i++)
		rmq_loop_stop(rmq_test_node.workers[i]->loop);
	rmq_fake_settle();
	rmq_fake_advance(rmq_test_node.cfg.shutdown_grace_ms + 1000);
	rmq_fake_settle();
	cr_assert(c->closed, "closed by the end of the grace period");
}
