/* test/broker/mqtt/test_connect.c: broker/mqtt/connect.c on the fake loop
 * backend: CONNECT and CONNACK byte for byte, refusals, keep alive and the
 * CONNECT timeout on the fake clock, and the connection's end. */
#include <criterion/criterion.h>

#include "auth.h"
#include "rmq_test.h"
#include "rmq_test_node.h"

RMQ_NODE_SUITE(connect, 1, NULL);

/* CONNECT 3.1.1, clean session, keep alive 60, client id "a". */
#define CONNECT_311_A                                                          \
	0x10, 13, 0, 4, 'M', 'Q', 'T', 'T', 4, 0x02, 0, 60, 0, 1, 'a'

Test(connect, v311_gets_connack_accepted)
{
	struct rmq_fake_client *c = rmq_test_client(0);
	RMQ_SEND(c, CONNECT_311_A);
	/* [MQTT-3.2.0-1] CONNACK first; session present 0 with clean
	 * session [MQTT-3.2.2-1], return code 0. */
	RMQ_EXPECT(c, 0x20, 0x02, 0x00, 0x00);
	RMQ_SEND(c, 0xC0, 0x00); /* PINGREQ */
	RMQ_EXPECT(c, 0xD0, 0x00); /* PINGRESP [MQTT-3.12.4-1] */
	RMQ_SEND(c, 0xE0, 0x00); /* DISCONNECT */
	RMQ_EXPECT_CLOSED(c);
}

Test(connect, v5_connack_tells_the_server_limits)
{
	struct rmq_fake_client *c = rmq_test_client(0);
	/* CONNECT 5.0, clean start, keep alive 30, no properties, id "b". */
	RMQ_SEND(c, 0x10, 14, 0, 4, 'M', 'Q', 'T', 'T', 5, 0x02, 0, 30, 0, 0, 1,
	    'b');
	/* Session present 0, reason 0, properties: Receive Maximum 128,
	 * Topic Alias Maximum 64, Maximum Packet Size 16 MiB (the defaults,
	 * docs/configuration.md). */
	RMQ_EXPECT(c, 0x20, 14, 0x00, 0x00, 11, 0x21, 0x00, 0x80, 0x22, 0x00,
	    0x40, 0x27, 0x01, 0x00, 0x00, 0x00);
	RMQ_SEND(c, 0xE0, 0x00);
	RMQ_EXPECT_CLOSED(c);
}

Test(connect, v311_unknown_level_gets_return_code_1)
{
	struct rmq_fake_client *c = rmq_test_client(0);
	/* Protocol level 6 under the name MQTT [MQTT-3.1.2-2]: CONNACK 0x01,
	 * then the connection closes. */
	RMQ_SEND(c, 0x10, 13, 0, 4, 'M', 'Q', 'T', 'T', 6, 0x02, 0, 60, 0, 1,
	    'a');
	RMQ_EXPECT(c, 0x20, 0x02, 0x00, 0x01);
	RMQ_EXPECT_CLOSED(c);
}

Test(connect, what_is_owed_goes_out_before_a_disconnect_closes)
{
	struct rmq_fake_client *c = rmq_test_client(0);
	/* CONNECT, a QoS 1 PUBLISH and DISCONNECT in one write: the CONNACK
	 * and the PUBACK are owed and written, then the connection closes
	 * [MQTT-3.14.4-1: the server closes after DISCONNECT]. */
	RMQ_SEND(c, CONNECT_311_A, 0x32, 6, 0, 1, 't', 0, 4, 'x', 0xE0, 0x00);
	RMQ_EXPECT(c, 0x20, 0x02, 0x00, 0x00);
	RMQ_EXPECT(c, 0x40, 0x02, 0x00, 0x04);
	RMQ_EXPECT_CLOSED(c);
}

Test(connect, packet_before_connect_closes_silently)
{
	struct rmq_fake_client *c = rmq_test_client(0);
	/* A PINGREQ first: the first packet must be CONNECT [MQTT-3.1.0-1]. */
	RMQ_SEND(c, 0xC0, 0x00);
	RMQ_EXPECT_CLOSED(c);
}

Test(connect, connect_timeout_closes_a_silent_connection)
{
	struct rmq_fake_client *c = rmq_test_client(0);
	RMQ_EXPECT_NOTHING(c);
	cr_assert_not(c->closed);
	rmq_fake_advance(rmq_test_node.cfg.connect_timeout_ms + 1000);
	RMQ_EXPECT_CLOSED(c);
}

Test(connect, keepalive_expiry_closes_after_one_and_a_half_periods)
{
	struct rmq_fake_client *c = rmq_test_client(0);
	RMQ_SEND(c, CONNECT_311_A); /* keep alive 60 s */
	RMQ_EXPECT(c, 0x20, 0x02, 0x00, 0x00);
	/* [MQTT-3.1.2-24]: within one and a half times the keep alive the
	 * connection stays. */
	rmq_fake_advance(85 * 1000);
	RMQ_EXPECT_NOTHING(c);
	cr_assert_not(c->closed);
	rmq_fake_advance(6 * 1000);
	RMQ_EXPECT_CLOSED(c);
}

Test(connect, peer_hangup_ends_the_session)
{
	struct rmq_fake_client *c = rmq_test_client(0);
	RMQ_SEND(c, CONNECT_311_A);
	RMQ_EXPECT(c, 0x20, 0x02, 0x00, 0x00);
	struct rmq_worker *w = rmq_test_node.workers[0];
	cr_assert_eq(w->table_used - w->nfree, 1);
	rmq_fake_hangup(c);
	RMQ_EXPECT_CLOSED(c);
	/* A clean session ends with its connection. */
	cr_assert_eq(w->table_used - w->nfree, 0);
}

Test(connect, mqisdp_level_0_gets_return_code_1)
{
	struct rmq_fake_client *c = rmq_test_client(0);
	/* [MQTT-3.1.2-2]: a level the server does not speak, under a
	 * protocol name it knows (MQIsdp, level 0), is answered with
	 * return code 0x01, then the connection closes. */
	RMQ_SEND(c, 0x10, 15, 0, 6, 'M', 'Q', 'I', 's', 'd', 'p', 0, 0x02, 0,
	    60, 0, 1, 'a');
	RMQ_EXPECT(c, 0x20, 0x02, 0x00, 0x01);
	RMQ_EXPECT_CLOSED(c);
}

Test(connect, unknown_protocol_name_closes_without_connack)
{
	struct rmq_fake_client *c = rmq_test_client(0);
	/* [MQTT-3.1.2-1]: "MQTX" is not MQTT: no CONNACK. */
	RMQ_SEND(c, 0x10, 13, 0, 4, 'M', 'Q', 'T', 'X', 4, 0x02, 0, 60, 0, 1,
	    'a');
	RMQ_EXPECT_CLOSED(c);
}

/* A 5.0 CONNECT, id "m", whose Maximum Packet Size is `max`. */
static struct rmq_fake_client *
connect_max_packet(uint8_t max)
{
	struct rmq_fake_client *c = rmq_test_client(0);
	const uint8_t p[] = { 0x10, 19, 0, 4, 'M', 'Q', 'T', 'T', 5, 0x02, 0, 0,
		5, 0x27, 0, 0, 0, max, 0, 1, 'm' };
	rmq_fake_send(c, p, sizeof(p));
	return c;
}

Test(connect, connack_larger_than_the_client_accepts_is_not_sent)
{
	/* [MQTT-3.1.2-24]: the server sends nothing larger than the
	 * client's Maximum Packet Size, the CONNACK included (16 bytes
	 * here): with 15 the connection closes without one. */
	struct rmq_fake_client *c = connect_max_packet(15);
	RMQ_EXPECT_CLOSED(c);
	cr_assert_eq(rmq_workers_sum(&rmq_test_node,
			 RMQ_STAT(refused[RMQ_RC_PACKET_TOO_LARGE])),
	    1);
	/* Exactly the CONNACK's size is enough. */
	c = connect_max_packet(16);
	RMQ_EXPECT(c, 0x20, 14, 0x00, 0x00, 11, 0x21, 0x00, 0x80, 0x22, 0x00,
	    0x40, 0x27, 0x01, 0x00, 0x00, 0x00);
	cr_assert_not(c->closed);
}

static void
max_qos_1(struct rmq_config *cfg)
{
	cfg->max_qos = 1;
}

RMQ_NODE_SUITE(connect_max_qos, 1, max_qos_1);

Test(connect_max_qos, is_told_in_the_connack)
{
	struct rmq_fake_client *c = rmq_test_client(0);
	RMQ_SEND(c, 0x10, 14, 0, 4, 'M', 'Q', 'T', 'T', 5, 0x02, 0, 0, 0, 0, 1,
	    'q');
	/* [MQTT-3.2.2-9]: Maximum QoS 1 (0x24) among the properties. */
	RMQ_EXPECT(c, 0x20, 16, 0x00, 0x00, 13, 0x21, 0x00, 0x80, 0x22, 0x00,
	    0x40, 0x24, 0x01, 0x27, 0x01, 0x00, 0x00, 0x00);
	/* A QoS 2 PUBLISH above it: DISCONNECT 0x9B [MQTT-3.2.2-11]. */
	RMQ_SEND(c, 0x34, 8, 0, 1, 't', 0, 1, 0, 'x', 'y');
	uint8_t d[64];
	size_t n = rmq_test_next_packet(c, d, sizeof(d));
	cr_assert(n >= 3 && d[0] == 0xE0 && d[2] == RMQ_RC_QOS_NOT_SUPPORTED,
	    "DISCONNECT 0x9B, got %zu bytes starting 0x%02x", n, d[0]);
	RMQ_EXPECT_CLOSED(c);
}

Test(connect_max_qos, will_above_it_is_refused)
{
	struct rmq_fake_client *c = rmq_test_client(0);
	/* 5.0, will QoS 2 (flags 0x16), will topic "w", payload "x". */
	RMQ_SEND(c, 0x10, 21, 0, 4, 'M', 'Q', 'T', 'T', 5, 0x16, 0, 0, 0, 0, 1,
	    'q', 0, 0, 1, 'w', 0, 1, 'x');
	uint8_t a[64];
	size_t n = rmq_test_next_packet(c, a, sizeof(a));
	/* [MQTT-3.2.2-12]: CONNACK 0x9B, then close. */
	cr_assert(n >= 4 && a[0] == 0x20 && a[3] == RMQ_RC_QOS_NOT_SUPPORTED,
	    "CONNACK 0x9B, got %zu bytes", n);
	RMQ_EXPECT_CLOSED(c);
}

Test(connect_max_qos, subscription_above_it_is_granted_it)
{
	struct rmq_fake_client *c = rmq_test_connect(0, RMQ_V311, "q", 1, NULL);
	/* [MQTT-3.2.2-12]: the SUBSCRIBE is accepted, at QoS 1. */
	rmq_test_subscribe(c, RMQ_V311, "t", 2, 1);
}

Test(connect, v5_keepalive_expiry_is_told_at_once)
{
	struct rmq_fake_client *c = rmq_test_client(0);
	/* 5.0, keep alive 2 s. */
	RMQ_SEND(c, 0x10, 14, 0, 4, 'M', 'Q', 'T', 'T', 5, 0x02, 0, 2, 0, 0, 1,
	    'k');
	uint8_t a[64];
	cr_assert_gt(rmq_test_next_packet(c, a, sizeof(a)), 0);
	rmq_fake_advance(3001);
	/* DISCONNECT 0x8D Keep Alive timeout, written in the turn of the
	 * tick that found it, then the close [MQTT-3.1.2-22]. */
	rmq_fake_turn(rmq_test_node.workers[0]->loop);
	rmq_fake_turn(rmq_test_node.workers[0]->loop);
	cr_assert_gt(c->out_len, 0, "nothing written two turns after");
	size_t n = rmq_test_next_packet(c, a, sizeof(a));
	cr_assert(n >= 3 && a[0] == 0xE0 && a[2] == RMQ_RC_KEEP_ALIVE_TIMEOUT,
	    "DISCONNECT 0x8D after two turns, got %zu bytes", n);
	RMQ_EXPECT_CLOSED(c);
}

/* ---- the authentication step (auth/auth.h) ---- */

static struct {
	unsigned calls;
	void (*done)(void *, enum rmq_auth_verdict, uint8_t);
	void *done_arg;
} fake_auth;

/* "good" gets in, "bad" does not (0x86), "later" waits for the test. */
static enum rmq_auth_verdict
fake_auth_connect(void *ctx, const struct rmq_auth_request *rq, uint8_t *reason)
{
	(void)ctx;
	fake_auth.calls++;
	if (rq->has_username && rmq_test_str_eq(rq->username, "good"))
		return RMQ_AUTH_ALLOW;
	if (rq->has_username && rmq_test_str_eq(rq->username, "later")) {
		fake_auth.done = rq->done;
		fake_auth.done_arg = rq->done_arg;
		return RMQ_AUTH_LATER;
	}
	*reason = RMQ_RC_BAD_USERNAME_OR_PASSWORD;
	return RMQ_AUTH_DENY;
}

static const struct rmq_authenticator fake_authenticator = {
	.connect = fake_auth_connect,
};

static void
setup_auth(void)
{
	memset(&fake_auth, 0, sizeof(fake_auth));
	rmq_test_node_start(2, NULL);
	rmq_test_node.auth = &fake_authenticator;
}

static void
teardown_auth(void)
{
	rmq_test_node_stop();
}

TestSuite(connect_auth, .init = setup_auth, .fini = teardown_auth,
    .timeout = 30);

/* CONNECT of `version` for client `id` with user name `user`. */
static void
send_connect_user(struct rmq_fake_client *c, uint8_t version, const char *id,
    const char *user)
{
	struct rmq_packet p = { .type = RMQ_CONNECT };
	p.connect.version = version;
	p.connect.clean = 1;
	p.connect.client_id = rmq_test_str(id);
	p.connect.username = rmq_test_str(user);
	rmq_test_send_packet(c, &p, version);
}

Test(connect_auth, allowed_at_once)
{
	struct rmq_fake_client *c = rmq_test_client(0);
	send_connect_user(c, RMQ_V311, "a", "good");
	RMQ_EXPECT(c, 0x20, 0x02, 0x00, 0x00);
	cr_assert_eq(fake_auth.calls, 1);
}

Test(connect_auth, refused_at_once_v311_and_v5)
{
	/* 3.1.1: return code 4, bad user name or password. */
	struct rmq_fake_client *c = rmq_test_client(0);
	send_connect_user(c, RMQ_V311, "a", "bad");
	RMQ_EXPECT(c, 0x20, 0x02, 0x00, 0x04);
	RMQ_EXPECT_CLOSED(c);
	/* 5.0: reason 0x86 [MQTT-3.2.2-6: no Session Present on refusal]. */
	c = rmq_test_client(1);
	send_connect_user(c, RMQ_V5, "b", "bad");
	RMQ_EXPECT(c, 0x20, 0x03, 0x00, 0x86, 0x00);
	RMQ_EXPECT_CLOSED(c);
	cr_assert_eq(rmq_workers_sum(&rmq_test_node, RMQ_STAT(auth_failures)),
	    2);
}

Test(connect_auth, refused_client_takes_nothing_over)
{
	struct rmq_fake_client *a = rmq_test_client(0);
	send_connect_user(a, RMQ_V311, "id", "good");
	RMQ_EXPECT(a, 0x20, 0x02, 0x00, 0x00);
	/* The same identifier with a bad password, from the other worker:
	 * refused before the identifier is claimed, so the first
	 * connection stays. */
	struct rmq_fake_client *b = rmq_test_client(1);
	send_connect_user(b, RMQ_V311, "id", "bad");
	RMQ_EXPECT(b, 0x20, 0x02, 0x00, 0x04);
	RMQ_EXPECT_CLOSED(b);
	RMQ_EXPECT_NOTHING(a);
	cr_assert_not(a->closed);
}

Test(connect_auth, verdict_later_keeps_what_the_client_sent)
{
	struct rmq_fake_client *c = rmq_test_client(0);
	send_connect_user(c, RMQ_V311, "w", "later");
	/* Sent before any CONNACK, as a client may [MQTT-3.1.4-7]: a
	 * SUBSCRIBE, then a QoS 1 PUBLISH to itself. */
	RMQ_SEND(c, 0x82, 6, 0, 1, 0, 1, 't', 1);
	RMQ_EXPECT_NOTHING(c);
	RMQ_SEND(c, 0x32, 6, 0, 1, 't', 0, 9, 'x');
	RMQ_EXPECT_NOTHING(c);
	cr_assert_not_null(fake_auth.done);
	fake_auth.done(fake_auth.done_arg, RMQ_AUTH_ALLOW, 0);
	/* The CONNECT and all that followed, in order, asked once. */
	RMQ_EXPECT(c, 0x20, 0x02, 0x00, 0x00);
	RMQ_EXPECT(c, 0x90, 0x03, 0, 1, 1);
	RMQ_EXPECT(c, 0x40, 0x02, 0, 9);
	RMQ_EXPECT(c, 0x32, 0x06, 0, 1, 't', 0, 1, 'x');
	cr_assert_eq(fake_auth.calls, 1);
}

Test(connect_auth, verdict_later_refuses)
{
	struct rmq_fake_client *c = rmq_test_client(1);
	send_connect_user(c, RMQ_V5, "w", "later");
	RMQ_EXPECT_NOTHING(c);
	fake_auth.done(fake_auth.done_arg, RMQ_AUTH_DENY,
	    RMQ_RC_NOT_AUTHORIZED);
	RMQ_EXPECT(c, 0x20, 0x03, 0x00, 0x87, 0x00);
	RMQ_EXPECT_CLOSED(c);
}

Test(connect_auth, verdict_after_the_client_left_is_dropped)
{
	struct rmq_fake_client *c = rmq_test_client(0);
	send_connect_user(c, RMQ_V311, "w", "later");
	RMQ_EXPECT_NOTHING(c);
	rmq_fake_hangup(c);
	RMQ_EXPECT_CLOSED(c);
	/* The session is gone: the verdict finds nothing and frees what
	 * it carried (the leak check at the stop would say otherwise). */
	fake_auth.done(fake_auth.done_arg, RMQ_AUTH_ALLOW, 0);
	cr_assert_neq(rmq_fake_settle(), 0);
}

Test(connect_auth, no_verdict_within_the_connect_timeout_closes)
{
	struct rmq_fake_client *c = rmq_test_client(0);
	send_connect_user(c, RMQ_V311, "w", "later");
	RMQ_EXPECT_NOTHING(c);
	rmq_fake_advance(rmq_test_node.cfg.connect_timeout_ms + 1000);
	RMQ_EXPECT_CLOSED(c);
	fake_auth.done(fake_auth.done_arg, RMQ_AUTH_ALLOW, 0);
	cr_assert_neq(rmq_fake_settle(), 0);
}

static void
packet_timeout_2s(struct rmq_config *cfg)
{
	cfg->packet_timeout_ms = 2000;
}

RMQ_NODE_SUITE(connect_packet_timeout, 1, packet_timeout_2s);

Test(connect_packet_timeout, a_packet_begun_must_end_in_time)
{
	/* Keep alive 0, so only packet_timeout can end this connection. */
	struct rmq_fake_client *c = rmq_test_connect(0, RMQ_V311, "a", 1, NULL);
	/* Half a PUBLISH, then its end 1.5 s later: in time. */
	RMQ_SEND(c, 0x30, 5, 0, 1);
	RMQ_EXPECT_NOTHING(c);
	rmq_fake_advance(1500);
	RMQ_SEND(c, 't', 'x', 'y');
	RMQ_EXPECT_NOTHING(c);
	cr_assert_not(c->closed);
	/* The next one begun starts its own time: 1.5 s is still fine,
	 * past 2 s the connection closes. */
	RMQ_SEND(c, 0x30);
	rmq_fake_advance(1500);
	RMQ_EXPECT_NOTHING(c);
	cr_assert_not(c->closed);
	rmq_fake_advance(1000);
	RMQ_EXPECT_CLOSED(c);
	cr_assert_eq(rmq_workers_sum(&rmq_test_node,
			 RMQ_STAT(protocol_errors[RMQ_RC_KEEP_ALIVE_TIMEOUT])),
	    1);
}

Test(connect_packet_timeout, an_idle_connection_between_packets_stays)
{
	/* Keep alive 0 and nothing begun: no packet_timeout applies. */
	struct rmq_fake_client *c = rmq_test_connect(0, RMQ_V5, "b", 1, NULL);
	rmq_fake_advance(60000);
	RMQ_EXPECT_NOTHING(c);
	cr_assert_not(c->closed);
	RMQ_SEND(c, 0xC0, 0x00);
	RMQ_EXPECT(c, 0xD0, 0x00);
}

/* ---- refused logins slowed per address (auth/guard.h) ---- */

static void
guard_tweak(struct rmq_config *cfg)
{
	/* Anonymous clients are refused; the PROXY protocol gives each
	 * connection the address the test chooses. */
	cfg->allow_anonymous = RMQ_ANON_NO;
	cfg->listeners[0].proxy_protocol = 1;
	cfg->failed_login_delay_ms = 1000;
}

RMQ_NODE_SUITE(connect_guard, 1, guard_tweak);

/* An anonymous 3.1.1 CONNECT from addr, through a PROXY v1 header. */
static struct rmq_fake_client *
login_from(const char *addr)
{
	struct rmq_fake_client *c = rmq_test_client(0);
	char h[96];
	int n = snprintf(h, sizeof(h), "PROXY TCP4 %s 192.0.2.1 4000 1883\r\n",
	    addr);
	static const uint8_t connect[] = { CONNECT_311_A };
	rmq_fake_send(c, h, (size_t)n);
	rmq_fake_send(c, connect, sizeof(connect));
	return c;
}

Test(connect_guard, refusals_from_one_address_slow_down)
{
	/* Three refusals come at once: 3.1.1 return code 5. */
	for (int i = 0; i < 3; i++) {
		struct rmq_fake_client *c = login_from("203.0.113.7");
		RMQ_EXPECT(c, 0x20, 0x02, 0x00, 0x05);
		RMQ_EXPECT_CLOSED(c);
	}
	/* The fourth waits 250 ms, the fifth 500: nothing before, the
	 * refusal after, and what the client sends meanwhile is not
	 * read. */
	uint64_t waits[] = { 250, 500 };
	for (int i = 0; i < 2; i++) {
		struct rmq_fake_client *c = login_from("203.0.113.7");
		RMQ_EXPECT_NOTHING(c);
		RMQ_SEND(c, 0xC0, 0x00); /* PINGREQ: not answered */
		rmq_fake_advance(waits[i] - 100);
		RMQ_EXPECT_NOTHING(c);
		cr_assert_not(c->closed);
		/* Past the deadline, and the worker's next tick (250 ms)
		 * that sends it. */
		rmq_fake_advance(100 + 260);
		RMQ_EXPECT(c, 0x20, 0x02, 0x00, 0x05);
		RMQ_EXPECT_CLOSED(c);
	}
	/* Another address is not slowed by this one's failures. */
	struct rmq_fake_client *o = login_from("198.51.100.1");
	RMQ_EXPECT(o, 0x20, 0x02, 0x00, 0x05);
	/* The delay stops at failed_login_delay (1 s here). */
	for (int i = 0; i < 4; i++) {
		struct rmq_fake_client *c = login_from("203.0.113.7");
		RMQ_EXPECT_NOTHING(c);
		rmq_fake_advance(1000 + 260);
		RMQ_EXPECT(c, 0x20, 0x02, 0x00, 0x05);
	}
}

Test(connect_guard, a_client_that_leaves_while_held_is_just_closed)
{
	for (int i = 0; i < 3; i++)
		RMQ_EXPECT(login_from("203.0.113.9"), 0x20, 0x02, 0x00, 0x05);
	struct rmq_fake_client *c = login_from("203.0.113.9");
	RMQ_EXPECT_NOTHING(c);
	rmq_fake_hangup(c);
	RMQ_EXPECT_CLOSED(c);
	rmq_fake_advance(2000);
	rmq_fake_settle();
	cr_assert_eq(c->out_len, 0);
}

/* ---- CONNECTs per second per address (max_connection_rate) ---- */

static void
rate_tweak(struct rmq_config *cfg)
{
	cfg->listeners[0].proxy_protocol = 1;
	cfg->max_connection_rate = 2;
}

RMQ_NODE_SUITE(connect_rate, 1, rate_tweak);

/* CONNECT 5.0 from addr (a PROXY v1 header), client id "r". */
static struct rmq_fake_client *
v5_from(const char *addr)
{
	struct rmq_fake_client *c = rmq_test_client(0);
	char h[96];
	int n = snprintf(h, sizeof(h), "PROXY TCP4 %s 192.0.2.1 4000 1883\r\n",
	    addr);
	static const uint8_t connect[] = { 0x10, 14, 0, 4, 'M', 'Q', 'T', 'T',
		5, 0x02, 0, 30, 0, 0, 1, 'r' };
	rmq_fake_send(c, h, (size_t)n);
	rmq_fake_send(c, connect, sizeof(connect));
	return c;
}

/* The CONNACK's reason code, 0xFF when none came. */
static uint8_t
connack_reason(struct rmq_fake_client *c)
{
	uint8_t b[64];
	rmq_fake_settle();
	size_t n = rmq_fake_take(c, b, sizeof(b));
	return n >= 4 && b[0] == 0x20 ? b[3] : 0xFF;
}

Test(connect_rate, past_the_rate_0x9f_until_the_next_second)
{
	/* Start at the top of a second of the fake clock, the loop's turn
	 * on it. */
	rmq_fake_advance(1000 - rmq_fake_now() % 1000);
	rmq_fake_settle();
	cr_assert_eq(connack_reason(v5_from("203.0.113.7")), 0x00);
	cr_assert_eq(connack_reason(v5_from("203.0.113.7")), 0x00);
	struct rmq_fake_client *c = v5_from("203.0.113.7");
	/* [MQTT-3.2.2-8]: a CONNACK with a reason code of 0x80 or more,
	 * then the close. */
	cr_assert_eq(connack_reason(c), 0x9F);
	RMQ_EXPECT_CLOSED(c);
	cr_assert_eq(connack_reason(v5_from("198.51.100.1")), 0x00,
	    "another address is not limited by this one");
	rmq_fake_advance(1000);
	rmq_fake_settle();
	cr_assert_eq(connack_reason(v5_from("203.0.113.7")), 0x00,
	    "a new second");
}

/* ---- max_sessions ---- */

static void
sessions_2(struct rmq_config *cfg)
{
	cfg->max_sessions = 2;
}

RMQ_NODE_SUITE(connect_sessions, 1, sessions_2);

Test(connect_sessions, past_the_bound_a_new_session_is_refused)
{
	struct rmq_fake_client *a = rmq_test_connect(0, RMQ_V311, "a", 0, NULL);
	struct rmq_fake_client *b = rmq_test_connect(0, RMQ_V5, "b", 1, NULL);
	(void)b;
	/* A third identifier: 5.0 0x97, 3.1.1 return code 3. */
	RMQ_CONNECT_REFUSED(0, RMQ_V5, "c", 0x97);
	RMQ_CONNECT_REFUSED(0, RMQ_V311, "d", 3);
	cr_assert_eq(rmq_workers_sum(&rmq_test_node,
			 RMQ_STAT(sessions_refused)),
	    2);
	/* "a" comes back and takes its session over: not a new one. */
	int present = -1;
	struct rmq_fake_client *a2 =
	    rmq_test_connect(0, RMQ_V311, "a", 0, &present);
	cr_assert_eq(present, 1);
	RMQ_EXPECT_CLOSED(a);
	/* "a" leaves for good (clean session): room for one more. */
	rmq_fake_hangup(a2);
	rmq_fake_settle();
	struct rmq_fake_client *a3 =
	    rmq_test_connect(0, RMQ_V311, "a", 1, NULL);
	rmq_fake_hangup(a3);
	rmq_fake_settle();
	rmq_test_connect(0, RMQ_V311, "e", 1, NULL);
}

/* ---- max_keepalive at its default ---- */

static void
keepalive_default(struct rmq_config *cfg)
{
	struct rmq_config d;
	rmq_config_defaults(&d);
	cfg->max_keepalive = d.max_keepalive;
}

RMQ_NODE_SUITE(connect_keepalive, 1, keepalive_default);

Test(connect_keepalive, no_v5_connection_is_silent_for_ever)
{
	/* The default, 65535, as Mosquitto's: a 5.0 client asking no keep
	 * alive is told Server Keep Alive 65535 (3.2.2.3.14) and held to
	 * it; a 3.1.1 one, which cannot be told, keeps none. */
	struct rmq_fake_client *c = rmq_test_client(0);
	struct rmq_packet p = { .type = RMQ_CONNECT };
	p.connect.version = RMQ_V5;
	p.connect.clean = 1;
	p.connect.client_id = rmq_test_str("ka");
	rmq_test_send_packet(c, &p, RMQ_V5);
	uint8_t ack[64];
	size_t n = rmq_test_next_packet(c, ack, sizeof(ack));
	cr_assert(n > 4 && ack[0] == 0x20 && ack[3] == 0);
	cr_assert(memmem(ack, n, "\x13\xff\xff", 3) != NULL,
	    "Server Keep Alive 65535");
	cr_assert_eq(rmq_test_session_of(c)->keepalive, 65535);
	struct rmq_fake_client *d =
	    rmq_test_connect(0, RMQ_V311, "ka3", 1, NULL);
	cr_assert_eq(rmq_test_session_of(d)->keepalive, 0);
}

/* The CONNACK's Assigned Client Identifier (0x12) of a 5.0 CONNECT with
 * an empty identifier, into id. */
static void
assigned_id(char *id, size_t cap)
{
	struct rmq_fake_client *c = rmq_test_client(0);
	/* CONNECT 5.0, clean start, keep alive 30, no properties, id "". */
	RMQ_SEND(c, 0x10, 13, 0, 4, 'M', 'Q', 'T', 'T', 5, 0x02, 0, 30, 0, 0,
	    0);
	rmq_fake_settle();
	uint8_t buf[256];
	size_t n = rmq_fake_take(c, buf, sizeof(buf));
	cr_assert_geq(n, 5);
	cr_assert_eq(buf[0], 0x20);
	cr_assert_eq(buf[3], 0x00, "reason 0x%02x", buf[3]);
	/* properties from buf[5] (length buf[4], under 128 here) */
	size_t end = 5 + buf[4];
	for (size_t i = 5; i < end;) {
		uint8_t p = buf[i++];
		if (p == 0x12) {
			size_t len = (size_t)buf[i] << 8 | buf[i + 1];
			cr_assert_lt(len, cap);
			memcpy(id, buf + i + 2, len);
			id[len] = '\0';
			RMQ_SEND(c, 0xE0, 0x00);
			RMQ_EXPECT_CLOSED(c);
			return;
		}
		/* the other properties of this CONNACK: two-byte values
		 * (0x21, 0x22) and four-byte ones (0x27) */
		i += p == 0x27 ? 4 : 2;
	}
	cr_assert_fail("no Assigned Client Identifier");
}

Test(connect, assigned_identifiers_differ_between_nodes_and_lives)
{
	/* [MQTT-3.1.3-6]: the Server assigns a unique ClientID.  Unique on
	 * this node comes from the session's key; unique in the cluster and
	 * across restarts from the node's random part: another node, or
	 * this one started again, with its session keys counting from the
	 * same start, assigns others. */
	char a[64], b[64], c[64];
	rmq_test_node.id_nonce = 0x0123456789abcdefULL;
	assigned_id(a, sizeof(a));
	cr_assert_eq(strncmp(a, "ringmq-0123456789abcdef", 23), 0, "%s", a);
	cr_assert_eq(strlen(a), 39, "%s", a);
	assigned_id(b, sizeof(b));
	cr_assert_str_neq(a, b); /* a new session: a new key */
	rmq_test_node.id_nonce = 0xfedcba9876543210ULL;
	assigned_id(c, sizeof(c));
	cr_assert_eq(strncmp(c, "ringmq-fedcba9876543210", 23), 0, "%s", c);
	cr_assert_str_neq(a + 7, c + 7); /* another node's, or life's */
}
