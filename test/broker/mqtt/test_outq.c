/* test/broker/mqtt/test_outq.c: broker/mqtt/outq.c on the fake loop
 * backend: QoS 1 and 2 deliveries and their acknowledgements byte for
 * byte, and an acknowledgement of the wrong kind for a packet id in
 * flight, which is a Protocol Error. */
#include <criterion/criterion.h>

#include "rmq_test_node.h"

RMQ_NODE_SUITE(outq, 1, NULL);

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

/* ---- resending a resumed session's window ---- */

static void
window_300(struct rmq_config *cfg)
{
	cfg->max_inflight = 300;
}

RMQ_NODE_SUITE(outq_resend, 2, window_300);

/* s, persistent, gets n QoS 1 messages it does not acknowledge, then
 * hangs up. */
static void
unacked(unsigned n)
{
	struct rmq_fake_client *s = rmq_test_connect(0, RMQ_V311, "s", 0, NULL);
	rmq_test_subscribe(s, RMQ_V311, "t", 1, 1);
	struct rmq_fake_client *p = rmq_test_connect(1, RMQ_V311, "p", 1, NULL);
	for (unsigned i = 0; i < n; i++)
		rmq_test_publish(p, RMQ_V311, "t", "m", 1, (uint16_t)(i + 1));
	uint8_t pkt[16];
	for (unsigned i = 0; i < n; i++) {
		cr_assert_eq(rmq_test_next_packet(s, pkt, sizeof(pkt)), 8);
		cr_assert_eq(pkt[0], 0x32, "first delivery without DUP");
	}
	rmq_fake_hangup(s);
	RMQ_EXPECT_CLOSED(s);
}

/* The next n packets are the resent messages 1..n, DUP set, in order. */
static void
expect_resent(struct rmq_fake_client *s, unsigned n)
{
	uint8_t pkt[16];
	for (unsigned i = 0; i < n; i++) {
		cr_assert_eq(rmq_test_next_packet(s, pkt, sizeof(pkt)), 8,
		    "resent message %u", i);
		cr_assert_eq(pkt[0], 0x3A, "DUP and QoS 1, message %u", i);
		cr_assert_eq((pkt[5] << 8 | pkt[6]), i + 1, "in order");
	}
	RMQ_EXPECT_NOTHING(s);
}

Test(outq_resend, window_larger_than_one_write_goes_again_in_order)
{
	/* 300 messages in flight need more iovecs than one write takes
	 * (RMQ_LOOP_IOV_MAX): [MQTT-4.4.0-1] all of them again, DUP set,
	 * in their order, before anything new. */
	unacked(300);
	int present = 0;
	struct rmq_fake_client *s =
	    rmq_test_connect(0, RMQ_V311, "s", 0, &present);
	cr_assert_eq(present, 1);
	expect_resent(s, 300);
	cr_assert_eq(rmq_test_session_of(s)->infl_len, 300);
}

Test(outq_resend, acknowledgements_during_the_resend_keep_its_place)
{
	unacked(250);
	struct rmq_worker *w = rmq_test_node.workers[0];
	struct rmq_fake_client *s = rmq_test_client(0);
	/* Back, persistent; its first write (the CONNACK and the first part
	 * of the window) stalls while it acknowledges ids 1 to 10 (which it
	 * has not received whole): once that write is done the window's
	 * head moves under the resend. */
	rmq_fake_stall(s, 1);
	RMQ_SEND(s, 0x10, 13, 0, 4, 'M', 'Q', 'T', 'T', 4, 0x00, 0, 0, 0, 1,
	    's');
	/* Turns until the session, taken over on its worker, writes. */
	struct rmq_session *ss = NULL;
	for (int turn = 0; turn < 10 && !(ss && ss->writing); turn++) {
		rmq_fake_turn(w->loop);
		ss = rmq_test_session_of(s);
	}
	cr_assert(ss && ss->writing, "the resumed session never wrote");
	for (unsigned i = 0; i < 10; i++) {
		const uint8_t ack[] = { 0x40, 2, 0, (uint8_t)(i + 1) };
		rmq_fake_send(s, ack, sizeof(ack));
	}
	rmq_fake_turn(w->loop);
	/* The write still reads those messages: they are let go of when it
	 * completes (under AddressSanitizer, a use after free otherwise). */
	cr_assert(ss->writing & RMQ_WRITING_LATE);
	cr_assert_eq(ss->infl_len, 250);
	rmq_fake_stall(s, 0);
	RMQ_EXPECT(s, 0x20, 0x02, 0x01, 0x00); /* Session Present */
	/* Every id came again exactly once, in order. */
	expect_resent(s, 250);
	cr_assert_eq(ss->infl_len, 240);
}

Test(outq, ack_of_a_message_still_being_written_waits_for_the_write)
{
	/* A client may acknowledge a message it has not received whole:
	 * its bytes stay the write's until the write completes (a use after
	 * free under AddressSanitizer otherwise), and the slot is freed
	 * then. */
	struct rmq_fake_client *s = subscriber_v5(), *p = publisher_v311();
	rmq_fake_stall(s, 1);
	RMQ_SEND(p, 0x32, 6, 0, 1, 't', 0, 7, 'x');
	RMQ_EXPECT(p, 0x40, 2, 0, 7);
	struct rmq_session *ss = rmq_test_session_of(s);
	cr_assert(ss->writing);
	RMQ_SEND(s, 0x40, 2, 0, 1);
	RMQ_EXPECT_NOTHING(s);
	cr_assert_eq(ss->infl_len, 1, "freed only when the write is done");
	rmq_fake_stall(s, 0);
	RMQ_EXPECT(s, 0x32, 7, 0, 1, 't', 0, 1, 0, 'x');
	cr_assert_eq(ss->infl_len, 0);
	/* The id is free again: the next message takes it. */
	RMQ_SEND(p, 0x32, 6, 0, 1, 't', 0, 8, 'y');
	RMQ_EXPECT(p, 0x40, 2, 0, 8);
	RMQ_EXPECT(s, 0x32, 7, 0, 1, 't', 0, 2, 0, 'y');
}

/* ---- the queue's bounds: bytes while connected, messages too while
 * offline ---- */

static void
small_queue(struct rmq_config *cfg)
{
	cfg->max_queued = 10;
	cfg->max_queued_bytes = 16384;
}

RMQ_NODE_SUITE(outq_bound, 1, small_queue);

static uint64_t
dropped_full(void)
{
	return rmq_workers_sum(&rmq_test_node, RMQ_STAT(dropped_queue_full));
}

Test(outq_bound, a_burst_to_a_connected_subscriber_is_not_cut_at_the_count)
{
	/* 100 messages arrive in one read, ten times max_queued: a
	 * subscriber that reads takes them all, since a connected
	 * session's queue is bounded in bytes (100 x (6 + 32) is far
	 * below 16384). */
	struct rmq_fake_client *s = rmq_test_connect(0, RMQ_V311, "s", 1, NULL);
	rmq_test_subscribe(s, RMQ_V311, "t", 0, 0);
	struct rmq_fake_client *p = rmq_test_connect(0, RMQ_V311, "p", 1, NULL);
	uint8_t burst[100 * 6];
	for (int i = 0; i < 100; i++) {
		const uint8_t one[] = { 0x30, 4, 0, 1, 't', (uint8_t)i };
		memcpy(burst + 6 * i, one, 6);
	}
	rmq_fake_send(p, burst, sizeof(burst));
	rmq_test_expect(s, burst, sizeof(burst), __FILE__, __LINE__);
	cr_assert_eq(dropped_full(), 0);
}

Test(outq_bound, a_subscriber_that_does_not_read_is_bounded_in_bytes)
{
	struct rmq_fake_client *s = rmq_test_connect(0, RMQ_V311, "s", 1, NULL);
	rmq_test_subscribe(s, RMQ_V311, "t", 0, 0);
	struct rmq_fake_client *p = rmq_test_connect(0, RMQ_V311, "p", 1, NULL);
	rmq_fake_stall(s, 1);
	/* 200 messages of 1000 bytes: what is being written, and what
	 * the 16384 bytes of queue hold behind it, go out; the rest is
	 * dropped and counted. */
	static uint8_t msg[1005] = { 0x30, 0xea, 0x07, 0, 1, 't' };
	for (int i = 0; i < 200; i++) {
		rmq_fake_send(p, msg, sizeof(msg));
		rmq_fake_settle();
	}
	uint64_t dropped = dropped_full();
	cr_assert_gt(dropped, 0, "dropped at the bound");
	struct rmq_session *ss = rmq_test_session_of(s);
	cr_assert_leq(ss->pend_bytes, 16384);
	cr_assert_gt(ss->pend_len, 10, "the count does not bound it");
	rmq_fake_stall(s, 0);
	rmq_fake_settle();
	size_t got = rmq_fake_take(s, NULL, SIZE_MAX);
	cr_assert_eq(got % sizeof(msg), 0);
	cr_assert_eq(got / sizeof(msg) + dropped, 200,
	    "%zu delivered, %llu dropped", got / sizeof(msg),
	    (unsigned long long)dropped);
}

Test(outq_bound, an_offline_session_keeps_max_queued_messages)
{
	struct rmq_fake_client *s = rmq_test_connect(0, RMQ_V311, "s", 0, NULL);
	rmq_test_subscribe(s, RMQ_V311, "t", 1, 1);
	rmq_fake_hangup(s);
	rmq_fake_settle();
	struct rmq_fake_client *p = rmq_test_connect(0, RMQ_V311, "p", 1, NULL);
	for (uint16_t i = 1; i <= 30; i++) {
		rmq_test_publish(p, RMQ_V311, "t", "m", 1, i);
		const uint8_t ack[] = { 0x40, 2, 0, (uint8_t)i };
		rmq_test_expect(p, ack, sizeof(ack), __FILE__, __LINE__);
	}
	cr_assert_eq(dropped_full(), 20);
	int present = -1;
	struct rmq_fake_client *s2 =
	    rmq_test_connect(0, RMQ_V311, "s", 0, &present);
	cr_assert_eq(present, 1);
	for (uint8_t i = 1; i <= 10; i++) {
		const uint8_t pub[] = { 0x32, 6, 0, 1, 't', 0, i, 'm' };
		rmq_test_expect(s2, pub, sizeof(pub), __FILE__, __LINE__);
	}
	RMQ_EXPECT_NOTHING(s2);
}

/* Publish "m<i>" at QoS 1 with packet id i, for i in [from, to]; each
 * acknowledged. */
static void
publish_numbered(struct rmq_fake_client *p, unsigned from, unsigned to)
{
	for (unsigned i = from; i <= to; i++) {
		char payload[8];
		snprintf(payload, sizeof(payload), "m%u", i);
		rmq_test_publish(p, RMQ_V311, "t", payload, 1, (uint16_t)i);
		const uint8_t ack[] = { 0x40, 2, (uint8_t)(i >> 8),
			(uint8_t)i };
		rmq_test_expect(p, ack, sizeof(ack), __FILE__, __LINE__);
	}
}

/* Take what a 3.1.1 subscriber of "t" gets, acknowledging each PUBLISH,
 * until nothing more comes: each "m<i>" marks got[i]; returns the number
 * of PUBLISH packets. */
static unsigned
take_numbered(struct rmq_fake_client *c, uint8_t *got, unsigned cap)
{
	unsigned n = 0;
	uint8_t pkt[64];
	size_t len;
	while ((len = rmq_test_next_packet(c, pkt, sizeof(pkt))) != 0) {
		cr_assert_eq(pkt[0] & 0xF6, 0x32, "a QoS 1 PUBLISH: 0x%02x",
		    pkt[0]);
		cr_assert_geq(len, 9);
		cr_assert(pkt[4] == 't' && pkt[7] == 'm');
		unsigned i = 0;
		for (size_t k = 8; k < len; k++)
			i = i * 10 + (unsigned)(pkt[k] - '0');
		cr_assert_lt(i, cap);
		got[i] = 1;
		n++;
		const uint8_t ack[] = { 0x40, 2, pkt[5], pkt[6] };
		rmq_fake_send(c, ack, sizeof(ack));
	}
	return n;
}

Test(outq_bound,
    a_backlog_when_the_client_leaves_does_not_use_up_what_may_arrive)
{
	/* A subscriber behind by 25 messages (more than max_queued, 10)
	 * when its client goes keeps them, and 10 more may arrive while it
	 * is away; the 11th is dropped.  Its client, back, gets all 35. */
	struct rmq_fake_client *s = rmq_test_connect(0, RMQ_V311, "s", 0, NULL);
	rmq_test_subscribe(s, RMQ_V311, "t", 1, 1);
	rmq_fake_stall(s, 1);
	struct rmq_fake_client *p = rmq_test_connect(0, RMQ_V311, "p", 1, NULL);
	publish_numbered(p, 1, 25);
	struct rmq_session *ss = rmq_test_session_of(s);
	cr_assert_gt(ss->pend_len, 10, "the backlog passes max_queued");
	cr_assert_eq(ss->pend_len + ss->infl_len, 25);
	rmq_fake_hangup(s);
	rmq_fake_settle();
	publish_numbered(p, 26, 36);
	cr_assert_eq(dropped_full(), 1, "only the 11th to arrive while away");
	int present = -1;
	struct rmq_fake_client *s2 =
	    rmq_test_connect(0, RMQ_V311, "s", 0, &present);
	cr_assert_eq(present, 1);
	uint8_t got[40] = { 0 };
	unsigned n = take_numbered(s2, got, sizeof(got));
	for (unsigned i = 1; i <= 35; i++)
		cr_assert(got[i], "m%u delivered", i);
	cr_assert_not(got[36], "m36 was past the bound");
	cr_assert_geq(n, 35);
	/* Away again with nothing queued: the bound is max_queued again. */
	rmq_fake_hangup(s2);
	rmq_fake_settle();
	publish_numbered(p, 37, 48);
	cr_assert_eq(dropped_full(), 3, "11 and 12 of the second absence");
}
