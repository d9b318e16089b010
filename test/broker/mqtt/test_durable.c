/* test/broker/mqtt/test_durable.c: acknowledgements under `durability
 * always` on the fake loop backend, with a real data directory and its
 * writer thread: a retained QoS 1/2 PUBLISH is acknowledged once it is
 * committed, the acknowledgements that follow it on that connection wait
 * behind it so that they keep their order [MQTT-4.6.0-2], [MQTT-4.6.0-3],
 * and when the directory is full a 5.0 publisher hears 0x97 for what
 * could not be kept, and the broker takes work again once there is room,
 * by itself. */
#include <criterion/criterion.h>
#include <unistd.h>

#include "persist.h"
#include "rmq_test.h"
#include "rmq_test_dir.h"
#include "rmq_test_node.h"

static char dir[256];
static uint64_t max_bytes;
static uint32_t queued_max; /* 0: the tests' default */

static void
tweak(struct rmq_config *cfg)
{
	cfg->persistence = 1;
	snprintf(cfg->persistence_location, sizeof(cfg->persistence_location),
	    "%s", dir);
	cfg->durability = RMQ_DURABLE_ALWAYS;
	cfg->persistence_max_bytes = max_bytes;
	if (queued_max) {
		cfg->max_queued = queued_max;
		/* Most of a backlog waits behind the window, not in it. */
		cfg->max_inflight = 5;
	}
}

static void
start(void)
{
	rmq_test_dir_make(dir, sizeof(dir), "durable");
	rmq_test_node_start(1, tweak);
}

static void
start_small(void)
{
	max_bytes = 1u << 20;
	start();
}

static void
stop(void)
{
	rmq_test_node_stop();
	rmq_test_dir_remove(dir);
}

static void
start_bounded(void)
{
	queued_max = 10;
	start();
}

TestSuite(durable, .init = start, .fini = stop, .timeout = 60);
TestSuite(durable_full, .init = start_small, .fini = stop, .timeout = 60);
TestSuite(durable_bound, .init = start_bounded, .fini = stop, .timeout = 60);

/* Run the loops until c holds n bytes: the writer's commit wakes them
 * from its own thread.  Bounded: 20 s. */
static void
wait_bytes(struct rmq_fake_client *c, size_t n)
{
	for (int i = 0; i < 20000; i++) {
		rmq_fake_settle();
		if (c->out_len >= n)
			return;
		usleep(1000);
	}
	cr_assert_geq(c->out_len, n, "%zu bytes came, not %zu", c->out_len, n);
}

/* A 3.1.1 client of a kept session (Clean Session 0), subscribed to the
 * one-letter topic at qos, which is granted. */
static struct rmq_fake_client *
kept_subscriber(const char *id, char topic, uint8_t qos)
{
	int present;
	struct rmq_fake_client *c =
	    rmq_test_connect_kept(0, RMQ_V311, id, &present);
	const uint8_t sub[] = { 0x82, 6, 0, 1, 0, 1, (uint8_t)topic, qos };
	rmq_fake_send(c, sub, sizeof(sub));
	wait_bytes(c, 5);
	const uint8_t ack[] = { 0x90, 3, 0, 1, qos };
	rmq_test_expect(c, ack, sizeof(ack), __FILE__, __LINE__);
	return c;
}

static void
publish_retained(struct rmq_fake_client *c, const char *topic,
    const void *payload, size_t len, uint8_t qos, uint16_t pid)
{
	struct rmq_packet p = { .type = RMQ_PUBLISH };
	p.publish.topic = rmq_test_str(topic);
	p.publish.payload = (struct rmq_str){ payload, (uint32_t)len };
	p.publish.qos = qos;
	p.publish.retain = 1;
	p.publish.packet_id = pid;
	rmq_test_send_packet(c, &p, RMQ_V5);
}

/* The reason code of the 5.0 PUBACK that comes next for pid. */
static uint8_t
puback_reason(struct rmq_fake_client *c, uint16_t pid)
{
	wait_bytes(c, 4);
	uint8_t ack[16];
	size_t n = rmq_test_next_packet(c, ack, sizeof(ack));
	cr_assert(n >= 4 && ack[0] == 0x40, "not a PUBACK");
	cr_assert_eq(ack[2] << 8 | ack[3], pid);
	return n == 4 ? 0 : ack[4];
}

/* Restart the node on the same directory (its clients go with it). */
static void
restart(void)
{
	rmq_test_node_stop();
	rmq_test_node_start(1, tweak);
}

Test(durable, a_retained_publish_is_acknowledged_once_committed_in_order)
{
	const struct rmq_persist_stats *st =
	    rmq_persist_stats(rmq_test_node.persist);
	struct rmq_fake_client *s = rmq_test_connect(0, RMQ_V5, "s", 1, NULL),
			       *p = rmq_test_connect(0, RMQ_V5, "p", 1, NULL);
	rmq_test_subscribe(s, RMQ_V5, "t", 0, 0);
	publish_retained(p, "r", "x", 1, 1, 1);
	rmq_test_publish(p, RMQ_V5, "t", "y", 1, 2);
	rmq_test_publish(p, RMQ_V5, "t", "z", 2, 3);
	/* Delivery does not wait for the disk. */
	RMQ_EXPECT(s, 0x30, 5, 0, 1, 't', 0, 'y', 0x30, 5, 0, 1, 't', 0, 'z');
	/* PUBACK 1 (No matching subscribers), then PUBACK 2 and PUBREC 3
	 * after it, the first once its message was on disk. */
	wait_bytes(p, 5 + 4 + 4);
	cr_assert_geq(atomic_load(&st->records), 1);
	cr_assert_geq(atomic_load(&st->commits), 1);
	RMQ_EXPECT(p, 0x40, 3, 0, 1, 0x10, 0x40, 2, 0, 2, 0x50, 2, 0, 3);
	cr_assert_eq(rmq_workers_sum(&rmq_test_node, RMQ_STAT(acks_held)), 3);
	/* Nothing held: an acknowledgement goes at once. */
	rmq_test_publish(p, RMQ_V5, "t", "w", 1, 4);
	RMQ_EXPECT(s, 0x30, 5, 0, 1, 't', 0, 'w');
	RMQ_EXPECT(p, 0x40, 2, 0, 4);
	cr_assert_eq(rmq_workers_sum(&rmq_test_node, RMQ_STAT(acks_held)), 3);
}

Test(durable, acknowledgements_held_for_a_closed_connection_are_dropped)
{
	struct rmq_fake_client *p = rmq_test_connect(0, RMQ_V5, "p", 1, NULL);
	publish_retained(p, "r", "x", 1, 1, 1);
	rmq_fake_hangup(p);
	rmq_fake_settle();
	/* The commit comes; its acknowledgement has nowhere to go, and the
	 * next connection hears nothing of it. */
	const struct rmq_persist_stats *st =
	    rmq_persist_stats(rmq_test_node.persist);
	for (int i = 0; i < 20000 && atomic_load(&st->commits) == 0; i++)
		usleep(1000);
	cr_assert_eq(atomic_load(&st->commits), 1);
	struct rmq_fake_client *q = rmq_test_connect(0, RMQ_V5, "p", 1, NULL);
	RMQ_EXPECT_NOTHING(q);
	publish_retained(q, "r", "y", 1, 1, 2);
	cr_assert_eq(puback_reason(q, 2), 0x10);
}

Test(durable_full, a_full_directory_answers_0x97_and_recovers_by_itself)
{
	const struct rmq_persist_stats *st =
	    rmq_persist_stats(rmq_test_node.persist);
	struct rmq_fake_client *p = rmq_test_connect(0, RMQ_V5, "p", 1, NULL);
	static uint8_t big[100 << 10];
	memset(big, 'b', sizeof(big));
	char topic[32];
	unsigned kept = 0, refused = 0, i;
	/* 100 KiB messages into a 1 MiB directory, until one does not fit. */
	for (i = 0; i < 20 && refused == 0; i++) {
		snprintf(topic, sizeof(topic), "big/%u", i);
		publish_retained(p, topic, big, sizeof(big), 1,
		    (uint16_t)(i + 1));
		uint8_t rc = puback_reason(p, (uint16_t)(i + 1));
		cr_assert(rc == 0x10 || rc == 0x97, "reason 0x%02x", rc);
		kept += rc == 0x10;
		refused += rc == 0x97;
	}
	cr_assert_gt(kept, 2);
	cr_assert_eq(refused, 1, "the directory never filled");
	cr_assert_eq(atomic_load(&st->failing), 1);
	cr_assert_geq(atomic_load(&st->failures), 1);
	cr_assert_eq(rmq_workers_sum(&rmq_test_node, RMQ_STAT(acks_failed)), 1);
	/* Still served from memory meanwhile: a subscriber gets them all. */
	struct rmq_fake_client *s = rmq_test_connect(0, RMQ_V5, "s", 1, NULL);
	RMQ_SEND(s, 0x82, 11, 0, 1, 0, 0, 5, 'b', 'i', 'g', '/', '#', 0);
	wait_bytes(s, 5 + i * sizeof(big));
	/* Cleared, the messages leave room, and the writer's retries get
	 * through by themselves (a clear that came while the message that
	 * did not fit was still retried is answered 0x97 too: it was not
	 * written then). */
	for (unsigned j = 0; j < i; j++) {
		snprintf(topic, sizeof(topic), "big/%u", j);
		publish_retained(p, topic, "", 0, 1, (uint16_t)(100 + j));
		uint8_t rc = puback_reason(p, (uint16_t)(100 + j));
		/* The subscriber hears the clear: Success. */
		cr_assert(rc == 0 || rc == 0x97, "reason 0x%02x", rc);
	}
	for (int k = 0; k < 20000 && atomic_load(&st->failing); k++)
		usleep(1000);
	cr_assert_eq(atomic_load(&st->failing), 0);
	publish_retained(p, "small", "s", 1, 1, 200);
	cr_assert_eq(puback_reason(p, 200), 0x10);
}

Test(durable, a_persistent_session_and_its_subscriptions_outlive_a_restart)
{
	int present;
	struct rmq_fake_client *s5 =
	    rmq_test_connect_kept(0, RMQ_V5, "s5", &present);
	struct rmq_fake_client *s3 =
	    rmq_test_connect_kept(0, RMQ_V311, "s3", &present);
	cr_assert_eq(present, 0);
	/* SUBSCRIBE (5.0: Subscription Identifier 9, No Local), answered
	 * once on disk: the SUBACK waits for the commit. */
	RMQ_SEND(s5, 0x82, 11, 0, 1, 2, 0x0b, 9, 0, 3, 'a', '/', '#', 0x05);
	wait_bytes(s5, 6);
	RMQ_EXPECT(s5, 0x90, 4, 0, 1, 0, 1);
	RMQ_SEND(s3, 0x82, 6, 0, 1, 0, 1, 'b', 2);
	wait_bytes(s3, 5);
	RMQ_EXPECT(s3, 0x90, 3, 0, 1, 2);
	const struct rmq_persist_stats *st =
	    rmq_persist_stats(rmq_test_node.persist);
	cr_assert_geq(atomic_load(&st->records), 2);
	/* 3.1.1's SUBACK waited as well. */
	cr_assert_geq(rmq_workers_sum(&rmq_test_node, RMQ_STAT(acks_held)), 2);

	/* The node stops (the clients with it) and starts again on the
	 * same directory. */
	restart();
	st = rmq_persist_stats(rmq_test_node.persist);
	cr_assert_eq(atomic_load(&st->loaded_sessions), 2);

	/* Published while they are away: queued for both. */
	struct rmq_fake_client *p = rmq_test_connect(0, RMQ_V5, "p", 1, NULL);
	rmq_test_publish(p, RMQ_V5, "a/x", "1", 1, 1);
	rmq_test_publish(p, RMQ_V5, "b", "2", 2, 2);
	/* Kept for them: acknowledged once on disk. */
	wait_bytes(p, 8);
	RMQ_EXPECT(p, 0x40, 2, 0, 1, 0x50, 2, 0, 2);

	s5 = rmq_test_connect_kept(0, RMQ_V5, "s5", &present);
	cr_assert_eq(present, 1, "Session Present after the restart");
	/* QoS 1, packet id 1, the Subscription Identifier kept. */
	RMQ_EXPECT(s5, 0x32, 11, 0, 3, 'a', '/', 'x', 0, 1, 2, 0x0b, 9, '1');
	s3 = rmq_test_connect_kept(0, RMQ_V311, "s3", &present);
	cr_assert_eq(present, 1);
	wait_bytes(s3, 8); /* QoS 2: once the disk has its packet id */
	RMQ_EXPECT(s3, 0x34, 6, 0, 1, 'b', 0, 1, '2');
}

Test(durable, a_session_that_ends_leaves_the_disk)
{
	int present;
	struct rmq_fake_client *c = kept_subscriber("gone", 't', 1);
	/* A clean session on the same identifier ends the kept one. */
	rmq_fake_hangup(c);
	rmq_fake_settle();
	c = rmq_test_connect(0, RMQ_V311, "gone", 1, &present);
	cr_assert_eq(present, 0);
	rmq_fake_hangup(c);
	rmq_fake_settle();
	restart();
	const struct rmq_persist_stats *st =
	    rmq_persist_stats(rmq_test_node.persist);
	cr_assert_eq(atomic_load(&st->loaded_sessions), 0);
	c = rmq_test_connect(0, RMQ_V311, "gone", 0, &present);
	cr_assert_eq(present, 0);
}

/* A 3.1.1 persistent session "q" subscribed to "q" at QoS 2, gone
 * offline. */
static void
offline_subscriber(void)
{
	struct rmq_fake_client *s = kept_subscriber("q", 'q', 2);
	rmq_fake_hangup(s);
	rmq_fake_settle();
}

Test(durable, queued_messages_outlive_a_restart_in_order_and_once)
{
	/* [MQTT-3.1.2-4], [MQTT-3.1.2-5]: the session's state is its
	 * subscriptions and the QoS 1/2 messages queued for it. */
	offline_subscriber();
	struct rmq_fake_client *p = rmq_test_connect(0, RMQ_V311, "p", 1, NULL);
	RMQ_SEND(p, 0x32, 6, 0, 1, 'q', 0, 1, '1');
	RMQ_SEND(p, 0x32, 6, 0, 1, 'q', 0, 2, '2');
	RMQ_SEND(p, 0x34, 6, 0, 1, 'q', 0, 3, '3');
	/* Each acknowledgement once the message is on disk. */
	wait_bytes(p, 12);
	RMQ_EXPECT(p, 0x40, 2, 0, 1, 0x40, 2, 0, 2, 0x50, 2, 0, 3);
	cr_assert_eq(rmq_workers_sum(&rmq_test_node, RMQ_STAT(kept)), 3);
	restart();
	const struct rmq_persist_stats *st =
	    rmq_persist_stats(rmq_test_node.persist);
	cr_assert_eq(atomic_load(&st->loaded_queued), 3);
	int present;
	struct rmq_fake_client *s =
	    rmq_test_connect_kept(0, RMQ_V311, "q", &present);
	cr_assert_eq(present, 1);
	/* In the order they were published [MQTT-4.6.0-6], QoS as granted
	 * and published (1, 1, 2); the QoS 2 one once the disk has its
	 * packet id. */
	wait_bytes(s, 24);
	RMQ_EXPECT(s, 0x32, 6, 0, 1, 'q', 0, 1, '1', 0x32, 6, 0, 1, 'q', 0, 2,
	    '2', 0x34, 6, 0, 1, 'q', 0, 3, '3');
	RMQ_SEND(s, 0x40, 2, 0, 1, 0x40, 2, 0, 2, 0x50, 2, 0, 3);
	wait_bytes(s, 4);
	RMQ_EXPECT(s, 0x62, 2, 0, 3);
	RMQ_SEND(s, 0x70, 2, 0, 3);
	rmq_fake_settle();
	rmq_fake_hangup(s);
	rmq_fake_settle();
	restart();
	st = rmq_persist_stats(rmq_test_node.persist);
	cr_assert_eq(atomic_load(&st->loaded_sessions), 1);
	cr_assert_eq(atomic_load(&st->loaded_queued), 0,
	    "acknowledged messages are gone from the disk");
	/* A session read back keeps its queue on disk as before: what is
	 * published now outlives the next restart too. */
	p = rmq_test_connect(0, RMQ_V311, "p", 1, NULL);
	RMQ_SEND(p, 0x32, 6, 0, 1, 'q', 0, 4, '4');
	wait_bytes(p, 4);
	RMQ_EXPECT(p, 0x40, 2, 0, 4);
	restart();
	st = rmq_persist_stats(rmq_test_node.persist);
	cr_assert_eq(atomic_load(&st->loaded_queued), 1);
	s = rmq_test_connect_kept(0, RMQ_V311, "q", &present);
	RMQ_EXPECT(s, 0x32, 6, 0, 1, 'q', 0, 1, '4');
}

Test(durable, in_flight_messages_go_again_with_their_ids_after_a_restart)
{
	offline_subscriber();
	int present;
	struct rmq_fake_client *s =
	    rmq_test_connect_kept(0, RMQ_V311, "q", &present);
	struct rmq_fake_client *p = rmq_test_connect(0, RMQ_V311, "p", 1, NULL);
	RMQ_SEND(p, 0x34, 6, 0, 1, 'q', 0, 1, 'a');
	RMQ_SEND(p, 0x34, 6, 0, 1, 'q', 0, 2, 'b');
	wait_bytes(p, 8);
	RMQ_EXPECT(p, 0x50, 2, 0, 1, 0x50, 2, 0, 2);
	wait_bytes(s, 16);
	RMQ_EXPECT(s, 0x34, 6, 0, 1, 'q', 0, 1, 'a', 0x34, 6, 0, 1, 'q', 0, 2,
	    'b');
	/* 'a' is received (PUBREC, then PUBREL from the broker), 'b' not
	 * yet acknowledged at all. */
	RMQ_SEND(s, 0x50, 2, 0, 1);
	/* The PUBREL once the disk knows the message was released. */
	wait_bytes(s, 4);
	RMQ_EXPECT(s, 0x62, 2, 0, 1);
	rmq_fake_settle();
	restart();
	s = rmq_test_connect_kept(0, RMQ_V311, "q", &present);
	cr_assert_eq(present, 1);
	/* [MQTT-4.4.0-1]: the PUBREL of 'a' and 'b' again with DUP and the
	 * packet ids they had. */
	RMQ_EXPECT(s, 0x62, 2, 0, 1, 0x3c, 6, 0, 1, 'q', 0, 2, 'b');
	RMQ_SEND(s, 0x70, 2, 0, 1, 0x50, 2, 0, 2);
	wait_bytes(s, 4);
	RMQ_EXPECT(s, 0x62, 2, 0, 2);
	RMQ_SEND(s, 0x70, 2, 0, 2);
	rmq_fake_settle();
	restart();
	cr_assert_eq(atomic_load(&rmq_persist_stats(rmq_test_node.persist)
				      ->loaded_queued),
	    0);
}

Test(durable, a_qos2_id_received_outlives_a_restart)
{
	offline_subscriber();
	int present;
	struct rmq_fake_client *p =
	    rmq_test_connect_kept(0, RMQ_V311, "pub", &present);
	RMQ_SEND(p, 0x34, 6, 0, 1, 'q', 0, 7, 'x');
	wait_bytes(p, 4);
	RMQ_EXPECT(p, 0x50, 2, 0, 7);
	restart();
	/* The publisher did not see its PUBREC go through and sends the
	 * PUBLISH again, DUP set: taken already, so acknowledged and not
	 * queued a second time [MQTT-4.3.3-10]. */
	p = rmq_test_connect_kept(0, RMQ_V311, "pub", &present);
	cr_assert_eq(present, 1);
	RMQ_SEND(p, 0x3c, 6, 0, 1, 'q', 0, 7, 'x');
	wait_bytes(p, 4);
	RMQ_EXPECT(p, 0x50, 2, 0, 7);
	RMQ_SEND(p, 0x62, 2, 0, 7);
	wait_bytes(p, 4);
	RMQ_EXPECT(p, 0x70, 2, 0, 7);
	struct rmq_fake_client *s =
	    rmq_test_connect_kept(0, RMQ_V311, "q", &present);
	wait_bytes(s, 8);
	RMQ_EXPECT(s, 0x34, 6, 0, 1, 'q', 0, 1, 'x');
	RMQ_EXPECT_NOTHING(s);
	/* Released: after another restart the id is new again. */
	restart();
	p = rmq_test_connect_kept(0, RMQ_V311, "pub", &present);
	RMQ_SEND(p, 0x34, 6, 0, 1, 'q', 0, 7, 'y');
	wait_bytes(p, 4);
	RMQ_EXPECT(p, 0x50, 2, 0, 7);
	s = rmq_test_connect_kept(0, RMQ_V311, "q", &present);
	/* 'x' was not acknowledged by "q": it goes again (DUP), then 'y'. */
	wait_bytes(s, 16);
	RMQ_EXPECT(s, 0x3c, 6, 0, 1, 'q', 0, 1, 'x', 0x34, 6, 0, 1, 'q', 0, 2,
	    'y');
}

Test(durable, a_clean_start_drops_the_kept_queue)
{
	offline_subscriber();
	struct rmq_fake_client *p = rmq_test_connect(0, RMQ_V311, "p", 1, NULL);
	RMQ_SEND(p, 0x32, 6, 0, 1, 'q', 0, 1, '1');
	wait_bytes(p, 4);
	RMQ_EXPECT(p, 0x40, 2, 0, 1);
	/* Clean session 1 on the same identifier: the session ends
	 * [MQTT-3.1.2-6], its queue with it. */
	int present;
	struct rmq_fake_client *s =
	    rmq_test_connect(0, RMQ_V311, "q", 1, &present);
	cr_assert_eq(present, 0);
	RMQ_EXPECT_NOTHING(s);
	rmq_fake_hangup(s);
	rmq_fake_settle();
	restart();
	const struct rmq_persist_stats *st =
	    rmq_persist_stats(rmq_test_node.persist);
	cr_assert_eq(atomic_load(&st->loaded_sessions), 0);
	cr_assert_eq(atomic_load(&st->loaded_queued), 0);
	cr_assert_eq(atomic_load(&st->orphans_at_load), 0);
}

/* A 5.0 CONNECT of "w": Clean Start 0, Session Expiry 3600 s, a will on
 * "wt" ("bye", QoS 0) with a Will Delay of 60 s; its CONNACK read. */
static struct rmq_fake_client *
connect_with_will(void)
{
	struct rmq_fake_client *c = rmq_test_client(0);
	RMQ_SEND(c, 0x10, 34, 0, 4, 'M', 'Q', 'T', 'T', 5, 0x04, 0, 60, 5, 0x11,
	    0, 0, 0x0e, 0x10, 0, 1, 'w', 5, 0x18, 0, 0, 0, 60, 0, 2, 'w', 't',
	    0, 3, 'b', 'y', 'e');
	wait_bytes(c, 3);
	uint8_t ack[64];
	cr_assert_gt(rmq_test_next_packet(c, ack, sizeof(ack)), 0);
	cr_assert_eq(ack[0], 0x20);
	return c;
}

Test(durable, a_delayed_will_outlives_a_restart)
{
	/* The connection ends without DISCONNECT: the will waits its delay
	 * [MQTT-3.1.3-9], and the broker restarts meanwhile. */
	struct rmq_fake_client *c = connect_with_will();
	rmq_fake_hangup(c);
	rmq_fake_settle();
	restart();
	struct rmq_fake_client *s = rmq_test_connect(0, RMQ_V311, "s", 1, NULL);
	rmq_test_subscribe(s, RMQ_V311, "wt", 0, 0);
	rmq_fake_advance(30 * 1000);
	RMQ_EXPECT_NOTHING(s);
	rmq_fake_advance(31 * 1000);
	RMQ_EXPECT(s, 0x30, 7, 0, 2, 'w', 't', 'b', 'y', 'e');
	/* Sent: a second restart does not send it again. */
	rmq_fake_settle();
	restart();
	s = rmq_test_connect(0, RMQ_V311, "s", 1, NULL);
	rmq_test_subscribe(s, RMQ_V311, "wt", 0, 0);
	rmq_fake_advance(120 * 1000);
	RMQ_EXPECT_NOTHING(s);
}

Test(durable, a_will_of_a_connection_cut_by_a_crash_goes_after_its_delay)
{
	/* Still connected when the broker stops: its connection ends with
	 * the process, so after the restart the will goes once the delay
	 * has passed, counted from the restart. */
	connect_with_will();
	restart();
	struct rmq_fake_client *s = rmq_test_connect(0, RMQ_V311, "s", 1, NULL);
	rmq_test_subscribe(s, RMQ_V311, "wt", 0, 0);
	rmq_fake_advance(59 * 1000);
	RMQ_EXPECT_NOTHING(s);
	rmq_fake_advance(2 * 1000);
	RMQ_EXPECT(s, 0x30, 7, 0, 2, 'w', 't', 'b', 'y', 'e');
}

Test(durable, a_will_discarded_by_a_normal_disconnect_is_not_kept)
{
	struct rmq_fake_client *c = connect_with_will();
	RMQ_SEND(c, 0xe0, 0);
	rmq_fake_settle();
	restart();
	struct rmq_fake_client *s = rmq_test_connect(0, RMQ_V311, "s", 1, NULL);
	rmq_test_subscribe(s, RMQ_V311, "wt", 0, 0);
	rmq_fake_advance(120 * 1000);
	RMQ_EXPECT_NOTHING(s);
}

Test(durable_full, a_queued_message_that_does_not_fit_is_answered_0x97)
{
	const struct rmq_persist_stats *st =
	    rmq_persist_stats(rmq_test_node.persist);
	int present;
	struct rmq_fake_client *q =
	    rmq_test_connect_kept(0, RMQ_V5, "q5", &present);
	RMQ_SEND(q, 0x82, 11, 0, 1, 0, 0, 5, 'b', 'i', 'g', '/', '#', 1);
	wait_bytes(q, 6);
	RMQ_EXPECT(q, 0x90, 4, 0, 1, 0, 1);
	rmq_fake_hangup(q);
	rmq_fake_settle();
	/* 100 KiB QoS 1 messages queued for the offline session, kept in a
	 * 1 MiB directory, until one does not fit: its publisher hears 0x97
	 * Quota exceeded (3.3.4: the server could not store it). */
	struct rmq_fake_client *p = rmq_test_connect(0, RMQ_V5, "p", 1, NULL);
	static char big[100 << 10];
	memset(big, 'q', sizeof(big));
	unsigned stored = 0, refused = 0, i;
	for (i = 0; i < 20 && refused == 0; i++) {
		struct rmq_packet m = { .type = RMQ_PUBLISH };
		m.publish.topic = rmq_test_str("big/q");
		m.publish.payload = (struct rmq_str){ big, sizeof(big) };
		m.publish.qos = 1;
		m.publish.packet_id = (uint16_t)(i + 1);
		rmq_test_send_packet(p, &m, RMQ_V5);
		uint8_t rc = puback_reason(p, (uint16_t)(i + 1));
		cr_assert(rc == 0 || rc == 0x97, "reason 0x%02x", rc);
		stored += rc == 0;
		refused += rc == 0x97;
	}
	cr_assert_gt(stored, 2);
	cr_assert_eq(refused, 1, "the directory never filled");
	cr_assert_eq(atomic_load(&st->failing), 1);
	/* The broker serves what it holds meanwhile: the session gets them
	 * all, and once it has acknowledged them the disk has room again and
	 * the writer's retries get through by themselves. */
	q = rmq_test_connect_kept(0, RMQ_V5, "q5", &present);
	cr_assert_eq(present, 1);
	wait_bytes(q, i * sizeof(big));
	for (unsigned j = 1; j <= i; j++) {
		uint8_t ack[4] = { 0x40, 2, 0, (uint8_t)j };
		rmq_fake_send(q, ack, sizeof(ack));
	}
	for (int k = 0; k < 20000 && atomic_load(&st->failing); k++) {
		rmq_fake_settle();
		usleep(1000);
	}
	cr_assert_eq(atomic_load(&st->failing), 0);
	struct rmq_packet m = { .type = RMQ_PUBLISH };
	m.publish.topic = rmq_test_str("big/q");
	m.publish.payload = (struct rmq_str){ "s", 1 };
	m.publish.qos = 1;
	m.publish.packet_id = 200;
	rmq_test_send_packet(p, &m, RMQ_V5);
	cr_assert_eq(puback_reason(p, 200), 0);
}

Test(durable_bound, a_backlog_read_back_does_not_use_up_what_may_arrive)
{
	/* A subscriber 25 messages behind (max_queued_messages is 10) when
	 * it leaves and the node restarts: its session comes back with the
	 * 25, and 10 more may arrive while its client is away; the 11th is
	 * dropped. */
	int present;
	struct rmq_fake_client *s = kept_subscriber("q", 'q', 1);
	rmq_fake_stall(s, 1);
	struct rmq_fake_client *p = rmq_test_connect(0, RMQ_V311, "p", 1, NULL);
	for (uint8_t i = 1; i <= 25; i++) {
		const uint8_t pub[] = { 0x32, 6, 0, 1, 'q', 0, i, 'a' };
		rmq_fake_send(p, pub, sizeof(pub));
	}
	wait_bytes(p, 25 * 4);
	rmq_fake_hangup(s);
	rmq_fake_settle();
	restart();
	cr_assert_eq(atomic_load(&rmq_persist_stats(rmq_test_node.persist)
				      ->loaded_queued),
	    25);
	p = rmq_test_connect(0, RMQ_V311, "p", 1, NULL);
	for (uint8_t i = 26; i <= 36; i++) {
		const uint8_t pub[] = { 0x32, 6, 0, 1, 'q', 0, i, 'b' };
		rmq_fake_send(p, pub, sizeof(pub));
	}
	wait_bytes(p, 11 * 4);
	cr_assert_eq(rmq_workers_sum(&rmq_test_node,
			 RMQ_STAT(dropped_queue_full)),
	    1, "only the 11th to arrive while away");
	s = rmq_test_connect_kept(0, RMQ_V311, "q", &present);
	cr_assert_eq(present, 1);
	/* All 35, each once (those that were in flight with DUP set). */
	unsigned a = 0, b = 0;
	uint8_t pkt[32];
	size_t n;
	for (int round = 0; round < 100 && a + b < 35; round++) {
		while ((n = rmq_test_next_packet(s, pkt, sizeof(pkt))) != 0) {
			cr_assert(n == 8 && (pkt[0] & 0xF7) == 0x32,
			    "a QoS 1 PUBLISH");
			a += pkt[7] == 'a';
			b += pkt[7] == 'b';
			const uint8_t ack[] = { 0x40, 2, pkt[5], pkt[6] };
			rmq_fake_send(s, ack, sizeof(ack));
		}
		usleep(1000);
	}
	cr_assert_eq(a, 25);
	cr_assert_eq(b, 10);
}
