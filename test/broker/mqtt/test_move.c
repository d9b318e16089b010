/* test/broker/mqtt/test_move.c: a session leaving for another node and
 * arriving from one (broker/mqtt/move.c, the claim step of connect.c) on
 * the fake loop backend.  The test stands in for the cluster: its claim
 * hook records the claim, and it calls rmq_cluster_release and
 * rmq_cluster_claimed as the cluster's thread would. */
#include <criterion/criterion.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cluster.h"
#include "registry.h"
#include "rmq_test_node.h"
#include "session.h"

RMQ_NODE_SUITE(move, 2, NULL);

/* The claim hook: answer `claim_rc`, and keep the last claim. */
static int claim_rc;
static unsigned nclaims;
static uint64_t claim_key, claim_stamp;
static int claim_clean;

static int
hook_claim(void *ctx, unsigned worker, uint64_t key, const char *id, size_t len,
    uint64_t stamp, int clean)
{
	(void)ctx;
	(void)worker;
	(void)id;
	(void)len;
	nclaims++;
	claim_key = key;
	claim_stamp = stamp;
	claim_clean = clean;
	return claim_rc;
}

/* moved_in: the last move told. */
static uint64_t moved_key, moved_move;

static void
hook_moved_in(void *ctx, unsigned worker, uint64_t key, uint64_t move)
{
	(void)ctx;
	(void)worker;
	moved_key = key;
	moved_move = move;
}

/* A peer n's messages are node 1000 + n's; this node's are node 7. */
static uint64_t
hook_origin_uid(void *ctx, uint64_t origin)
{
	(void)ctx;
	return origin >> 63 ? 1000 + (uint32_t)origin : 7;
}

static const struct rmq_cluster_hooks hooks = { .claim = hook_claim,
	.moved_in = hook_moved_in,
	.origin_uid = hook_origin_uid,
	.tag = 0x11 };

static void
cluster_on(int rc)
{
	claim_rc = rc;
	nclaims = 0;
	rmq_cluster_attach(&rmq_test_node, &hooks);
}

/* The answer a release gave. */
static struct answer {
	int called;
	enum rmq_release_result result;
	uint8_t *image;
	size_t len;
	uint64_t stub;
} ans;

static void
on_done(void *arg, enum rmq_release_result result, uint8_t *image, size_t len,
    uint64_t stub)
{
	struct answer *a = arg;
	a->called++;
	a->result = result;
	a->stub = stub;
	a->image = image;
	a->len = len;
}

static void
release(const char *id, uint64_t stamp, int clean)
{
	memset(&ans, 0, sizeof(ans));
	rmq_cluster_release(&rmq_test_node, id, strlen(id), stamp, clean,
	    on_done, &ans);
	rmq_fake_settle();
}

/* A 3.1.1 persistent session of id on worker 0, subscribed to filter at
 * QoS 1, its connection gone. */
static void
offline_kept(const char *id, const char *filter)
{
	int present = -1;
	struct rmq_fake_client *a =
	    rmq_test_connect_kept(0, RMQ_V311, id, &present);
	rmq_test_subscribe(a, RMQ_V311, filter, 1, 1);
	rmq_fake_hangup(a);
	rmq_fake_settle();
}

Test(move, a_release_finds_no_session)
{
	release("nobody", 1, 0);
	cr_assert_eq(ans.called, 1);
	cr_assert_eq(ans.result, RMQ_RELEASE_NONE);
	cr_assert_null(ans.image);
}

/* A CONNECT (5.0, clean start 0, an hour's expiry) of id on worker w
 * that the claim hook holds: no CONNACK until the answer. */
static struct rmq_fake_client *
connect_claiming(unsigned w, const char *id)
{
	struct rmq_fake_client *c = rmq_test_client(w);
	struct rmq_packet p = { .type = RMQ_CONNECT };
	p.connect.version = RMQ_V5;
	p.connect.clean = 0;
	p.connect.client_id = (struct rmq_str){ id, (uint32_t)strlen(id) };
	p.connect.props.session_expiry = 3600;
	RMQ_PROP_SET(&p.connect.props, RMQ_PROP_SESSION_EXPIRY);
	rmq_test_send_packet(c, &p, RMQ_V5);
	RMQ_EXPECT_NOTHING(c);
	return c;
}

Test(move, session_and_messages_in_flight_move_to_the_claimant)
{
	/* A persistent 5.0 session on worker 0 with a QoS 1 subscription and
	 * two messages in flight, not acknowledged. */
	int present = -1;
	struct rmq_fake_client *a =
	    rmq_test_connect_kept(0, RMQ_V5, "mover", &present);
	rmq_test_subscribe(a, RMQ_V5, "t", 1, 1);
	struct rmq_fake_client *p = rmq_test_connect(1, RMQ_V5, "p", 1, NULL);
	rmq_test_publish(p, RMQ_V5, "t", "m1", 1, 7);
	rmq_test_publish(p, RMQ_V5, "t", "m2", 1, 8);
	uint8_t buf[256];
	cr_assert_gt(rmq_test_next_packet(p, buf, sizeof(buf)), 0);
	cr_assert_gt(rmq_test_next_packet(p, buf, sizeof(buf)), 0);
	cr_assert_gt(rmq_test_next_packet(a, buf, sizeof(buf)), 0);
	cr_assert_gt(rmq_test_next_packet(a, buf, sizeof(buf)), 0);

	/* Another node claims it: the connection is told 0x8E
	 * [MQTT-3.1.4-3] and closed, the session leaves as an image. */
	release("mover", UINT64_MAX, 0);
	size_t n = rmq_test_next_packet(a, buf, sizeof(buf));
	cr_assert(n >= 3 && buf[0] == 0xE0 &&
		buf[2] == RMQ_RC_SESSION_TAKEN_OVER,
	    "DISCONNECT 0x8E, got %zu bytes", n);
	RMQ_EXPECT_CLOSED(a);
	cr_assert_eq(ans.called, 1);
	cr_assert_eq(ans.result, RMQ_RELEASE_ENDED);
	cr_assert_not_null(ans.image);
	struct answer moved = ans;

	/* Gone from here: a publish reaches no one. */
	rmq_test_publish(p, RMQ_V5, "t", "lost-nowhere", 0, 0);
	/* The image arrives at a claimant (this node again, standing in
	 * for another): Session Present 1 [MQTT-3.2.2-2], then the two
	 * messages again with DUP set [MQTT-4.4.0-1]. */
	cluster_on(1);
	struct rmq_fake_client *b = connect_claiming(1, "mover");
	cr_assert_eq(nclaims, 1);
	cr_assert_eq(claim_clean, 0);
	rmq_cluster_claimed(&rmq_test_node, claim_key, 0, moved.image,
	    moved.len, 0);
	n = rmq_test_next_packet(b, buf, sizeof(buf));
	cr_assert(n >= 4 && buf[0] == 0x20 && buf[2] == 1 && buf[3] == 0,
	    "CONNACK, Session Present 1");
	for (int i = 1; i <= 2; i++) {
		n = rmq_test_next_packet(b, buf, sizeof(buf));
		cr_assert(n > 4 && buf[0] == 0x3A,
		    "PUBLISH QoS 1 DUP, got 0x%02x", buf[0]);
		char want[3] = { 'm', (char)('0' + i), 0 };
		cr_assert(memmem(buf, n, want, 2) != NULL, "m%d", i);
	}
	/* The subscription came along. */
	rmq_test_publish(p, RMQ_V5, "t", "m3", 0, 0);
	n = rmq_test_next_packet(b, buf, sizeof(buf));
	cr_assert(n > 0 && buf[0] == 0x30 && memmem(buf, n, "m3", 2));
}

Test(move, queued_qos2_and_its_ids_move)
{
	int present = -1;
	/* A 3.1.1 persistent session with an inbound QoS 2 id not released
	 * yet, offline, with a QoS 2 message queued. */
	struct rmq_fake_client *a =
	    rmq_test_connect_kept(0, RMQ_V311, "q2", &present);
	rmq_test_subscribe(a, RMQ_V311, "q", 2, 2);
	rmq_test_publish(a, RMQ_V311, "elsewhere", "x", 2, 42);
	RMQ_EXPECT(a, 0x50, 2, 0, 42); /* PUBREC */
	rmq_fake_hangup(a);
	rmq_fake_settle();
	struct rmq_fake_client *p = rmq_test_connect(1, RMQ_V311, "p", 1, NULL);
	rmq_test_publish(p, RMQ_V311, "q", "queued", 2, 9);
	RMQ_EXPECT(p, 0x50, 2, 0, 9);

	release("q2", UINT64_MAX, 0);
	cr_assert_eq(ans.result, RMQ_RELEASE_ENDED);
	cr_assert_not_null(ans.image);
	struct answer moved = ans;

	cluster_on(1);
	struct rmq_fake_client *b = connect_claiming(0, "q2");
	rmq_cluster_claimed(&rmq_test_node, claim_key, 0, moved.image,
	    moved.len, 0);
	uint8_t buf[128];
	size_t n = rmq_test_next_packet(b, buf, sizeof(buf));
	cr_assert(n >= 4 && buf[0] == 0x20 && buf[2] == 1, "Session Present");
	n = rmq_test_next_packet(b, buf, sizeof(buf));
	cr_assert(n > 0 && (buf[0] & 0xF6) == 0x34 &&
		memmem(buf, n, "queued", 6),
	    "the queued QoS 2 message");
	/* The QoS 2 id came too: its PUBREL is completed, and the same
	 * PUBLISH again is not delivered twice [MQTT-4.3.3-9]. */
	struct rmq_packet rel = { .type = RMQ_PUBREL };
	rel.ack.packet_id = 42;
	rmq_test_send_packet(b, &rel, RMQ_V5);
	n = rmq_test_next_packet(b, buf, sizeof(buf));
	cr_assert(n == 4 && buf[0] == 0x70 && buf[3] == 42, "PUBCOMP 42");
}

Test(move, a_newer_connection_here_wins)
{
	int present = -1;
	/* A connection made while the cluster had no peer up still gets a
	 * stamp: a claim older than it loses, and it stays. */
	cluster_on(0);
	struct rmq_fake_client *a =
	    rmq_test_connect_kept(0, RMQ_V5, "keep", &present);
	cr_assert_eq(nclaims, 1);
	release("keep", claim_stamp - 1, 0);
	cr_assert_eq(ans.result, RMQ_RELEASE_NEWER);
	cr_assert_null(ans.image);
	RMQ_EXPECT_NOTHING(a);
	cr_assert_not(a->closed);
	release("keep", claim_stamp + 1, 1);
	uint8_t buf[64];
	size_t n = rmq_test_next_packet(a, buf, sizeof(buf));
	cr_assert(n >= 3 && buf[0] == 0xE0 &&
		buf[2] == RMQ_RC_SESSION_TAKEN_OVER,
	    "DISCONNECT 0x8E");
	RMQ_EXPECT_CLOSED(a);
	cr_assert_eq(ans.called, 1);
	cr_assert_eq(ans.result, RMQ_RELEASE_ENDED);
	/* Clean Start: nothing is sent over. */
	cr_assert_null(ans.image);
}

Test(move, a_lost_claim_is_refused)
{
	cluster_on(1);
	struct rmq_fake_client *b = connect_claiming(0, "late");
	rmq_cluster_claimed(&rmq_test_node, claim_key, 1, NULL, 0, 0);
	/* 5.0 CONNACK 0x89 Server busy. */
	uint8_t buf[64];
	size_t n = rmq_test_next_packet(b, buf, sizeof(buf));
	cr_assert(n >= 4 && buf[0] == 0x20 && buf[3] == RMQ_RC_SERVER_BUSY,
	    "CONNACK 0x89");
	RMQ_EXPECT_CLOSED(b);
	cr_assert_eq(rmq_registry_count(rmq_test_node.registry), 0);
}

Test(move, no_answer_needed_without_state)
{
	/* The peers had nothing: the CONNECT goes on, Session Present 0. */
	cluster_on(1);
	struct rmq_fake_client *b = connect_claiming(1, "fresh");
	rmq_cluster_claimed(&rmq_test_node, claim_key, 0, NULL, 0, 0);
	uint8_t buf[64];
	size_t n = rmq_test_next_packet(b, buf, sizeof(buf));
	cr_assert(n >= 4 && buf[0] == 0x20 && buf[2] == 0 && buf[3] == 0,
	    "CONNACK, no session present");
	/* And the answer for a connection that closed meanwhile is let go
	 * (ASan sees the image freed). */
	struct rmq_fake_client *c = connect_claiming(0, "gone");
	uint64_t key = claim_key;
	rmq_fake_hangup(c);
	rmq_fake_settle();
	uint8_t *img = malloc(8);
	memset(img, 0, 8);
	rmq_cluster_claimed(&rmq_test_node, key, 0, img, 8, 0);
	rmq_fake_settle();
}

Test(move, a_bad_image_starts_the_session_anew)
{
	/* Every cut of a real image, and a flipped version byte, is
	 * refused with a reason, never read past its end. */
	offline_kept("img", "i/#");
	struct rmq_fake_client *p = rmq_test_connect(1, RMQ_V311, "p", 1, NULL);
	rmq_test_publish(p, RMQ_V311, "i/1", "queued", 1, 3);
	RMQ_EXPECT(p, 0x40, 2, 0, 3);
	release("img", UINT64_MAX, 0);
	cr_assert_not_null(ans.image);
	struct answer moved = ans;
	for (size_t cut = 0; cut < moved.len; cut++) {
		struct rmq_session *s =
		    rmq_worker_session_alloc(rmq_test_node.workers[0]);
		cr_assert_not_null(s);
		const char *why = NULL;
		int rc = rmq_session_import(s, moved.image, cut, &why);
		cr_assert_eq(rc, -EINVAL, "cut at %zu: %d", cut, rc);
		cr_assert_not_null(why);
		rmq_session_destroy(s);
	}
	/* The claimant given a broken image: Session Present 0, nothing of
	 * it kept. */
	moved.image[0] ^= 0x7F;
	cluster_on(1);
	struct rmq_fake_client *b = connect_claiming(0, "img");
	rmq_cluster_claimed(&rmq_test_node, claim_key, 0, moved.image,
	    moved.len, 0);
	uint8_t buf[64];
	size_t n = rmq_test_next_packet(b, buf, sizeof(buf));
	cr_assert(n >= 4 && buf[0] == 0x20 && buf[2] == 0, "a new session");
	rmq_test_publish(p, RMQ_V311, "i/2", "after", 1, 4);
	RMQ_EXPECT(p, 0x40, 2, 0, 4);
	RMQ_EXPECT_NOTHING(b);
}

/* A stub's tail, as the cluster gets it. */
struct tail_box {
	uint8_t *tail;
	size_t len;
	int called;
};

static void
tail_got(void *arg, uint8_t *tail, size_t len)
{
	struct tail_box *t = arg;
	t->tail = tail;
	t->len = len;
	t->called++;
}

/* A peer's message (node `peer`, identity xid) as the channel hands it
 * over to worker w, not yet routed there. */
static void
peer_post(unsigned w, uint32_t peer, uint64_t xid, const char *topic,
    const char *payload)
{
	struct rmq_publish p = { .qos = 1 };
	p.topic = (struct rmq_str){ topic, (uint32_t)strlen(topic) };
	p.payload = (struct rmq_str){ payload, (uint32_t)strlen(payload) };
	struct rmq_msg **one = malloc(sizeof(*one));
	cr_assert_not_null(one);
	one[0] = rmq_msg_new(&p, RMQ_CLUSTER_OWNER(peer), rmq_loop_clock_ms());
	cr_assert_not_null(one[0]);
	one[0]->xid = xid;
	cr_assert_eq(rmq_cluster_publish(&rmq_test_node, w, one, 1), 0);
}

/* The same on worker 0, routed. */
static void
peer_publish(uint32_t peer, uint64_t xid, const char *topic,
    const char *payload)
{
	peer_post(0, peer, xid, topic, payload);
	rmq_fake_settle();
}

/* The next packet is a PUBLISH with payload want. */
static void
expect_publish(struct rmq_fake_client *c, const char *want)
{
	uint8_t buf[128];
	size_t n = rmq_test_next_packet(c, buf, sizeof(buf));
	cr_assert(n > 0 && (buf[0] & 0xF0) == 0x30, "a PUBLISH, got %zu bytes",
	    n);
	size_t k = strlen(want);
	cr_assert(n >= k && memcmp(buf + n - k, want, k) == 0,
	    "payload %s, got %.*s", want, (int)n, buf);
}

/* The old node's stub (the session that sent its image stays, its
 * subscription in the index, collecting) and the new node's hold meet
 * in one node here: a message routed to both (one identity from one
 * peer) reaches the client once, after what only the stub got. */
Test(move, stub_tail_merged_with_what_was_held_once)
{
	offline_kept("mv", "t");
	struct rmq_fake_client *p = rmq_test_connect(1, RMQ_V311, "p", 1, NULL);
	cluster_on(1);
	release("mv", UINT64_MAX, 0);
	cr_assert_eq(ans.result, RMQ_RELEASE_ENDED);
	cr_assert_not_null(ans.image);
	cr_assert_neq(ans.stub, 0);
	struct answer moved = ans;
	struct rmq_session *stub =
	    rmq_worker_session(rmq_test_node.workers[0], moved.stub);
	cr_assert(stub && stub->state == RMQ_SESS_MOVING);
	/* The identifier is free here (p holds the one registered): the
	 * stub is no session of it. */
	cr_assert_eq(rmq_registry_count(rmq_test_node.registry), 1);

	/* Before the new session is in: only the stub gets these. */
	rmq_test_publish(p, RMQ_V311, "t", "s1", 1, 1);
	RMQ_EXPECT(p, 0x40, 2, 0, 1);
	peer_publish(2, 5, "t", "r1");
	/* The new session reads the image; the move is told. */
	struct rmq_fake_client *b = connect_claiming(1, "mv");
	rmq_cluster_claimed(&rmq_test_node, claim_key, 0, moved.image,
	    moved.len, 77);
	uint8_t buf[64];
	size_t n = rmq_test_next_packet(b, buf, sizeof(buf));
	cr_assert(n >= 4 && buf[0] == 0x20 && buf[2] == 1, "Session Present");
	cr_assert_eq(moved_move, 77);
	cr_assert_eq(moved_key, claim_key);
	/* Both copies subscribed now: a peer's message reaches both, and
	 * the new session holds it. */
	peer_publish(2, 6, "t", "r2");
	peer_publish(3, 6, "t", "r3"); /* another node's 6: not the same */
	RMQ_EXPECT_NOTHING(b);

	/* The stub's tail: s1, r1, r2, r3 in order; the stub ends. */
	static struct tail_box got;
	rmq_cluster_tail_take(&rmq_test_node, moved.stub, tail_got, &got);
	rmq_fake_settle();
	cr_assert_eq(got.called, 1);
	cr_assert_not_null(got.tail);
	cr_assert_null(
	    rmq_worker_session(rmq_test_node.workers[0], moved.stub));
	/* Merged: what only the stub had, then what was held, r2 once. */
	rmq_cluster_tail_give(&rmq_test_node, claim_key, 77, got.tail, got.len);
	expect_publish(b, "s1");
	expect_publish(b, "r1");
	expect_publish(b, "r2");
	expect_publish(b, "r3");
	RMQ_EXPECT_NOTHING(b);
	/* Not holding any more: a message goes straight out. */
	peer_publish(2, 9, "t", "after");
	expect_publish(b, "after");
}

/* A peer's message given to worker 1 before the stub's tail is asked
 * for (routed on an index without the new node's routes: to the stub
 * alone), for the stub on worker 0: it is in the tail, since every worker
 * hands on what it routed before the stub's worker takes the tail. */
Test(move, what_another_worker_routes_before_the_take_is_in_the_tail)
{
	offline_kept("fw", "t");
	cluster_on(1);
	release("fw", UINT64_MAX, 0);
	cr_assert_neq(ans.stub, 0);
	cr_assert_eq(RMQ_KEY_WORKER(ans.stub), 0);
	peer_post(1, 2, 5, "t", "routed-late");
	static struct tail_box got;
	rmq_cluster_tail_take(&rmq_test_node, ans.stub, tail_got, &got);
	rmq_fake_settle();
	cr_assert_eq(got.called, 1);
	cr_assert_not_null(got.tail);
	cr_assert_not_null(memmem(got.tail, got.len, "routed-late", 11),
	    "the message routed before the take is in the tail");
	cr_assert_null(rmq_worker_session(rmq_test_node.workers[0], ans.stub));
	free(got.tail);
	free(ans.image);
}

Test(move, no_tail_releases_what_was_held)
{
	offline_kept("nt", "t");
	cluster_on(1);
	release("nt", UINT64_MAX, 0);
	struct answer moved = ans;
	/* The claimant is gone: the stub ends, what it had dropped. */
	rmq_cluster_tail_take(&rmq_test_node, moved.stub, NULL, NULL);
	rmq_fake_settle();
	cr_assert_null(
	    rmq_worker_session(rmq_test_node.workers[0], moved.stub));
	struct rmq_fake_client *b = connect_claiming(1, "nt");
	rmq_cluster_claimed(&rmq_test_node, claim_key, 0, moved.image,
	    moved.len, 78);
	uint8_t buf[64];
	cr_assert_gt(rmq_test_next_packet(b, buf, sizeof(buf)), 0);
	peer_publish(2, 1, "t", "h1");
	peer_publish(2, 2, "t", "h2");
	RMQ_EXPECT_NOTHING(b);
	/* A tail for another move is not this one's. */
	uint8_t *other = calloc(1, 5);
	rmq_cluster_tail_give(&rmq_test_node, claim_key, 79, other, 5);
	RMQ_EXPECT_NOTHING(b);
	/* The old node gone: no tail comes, what was held goes out. */
	rmq_cluster_tail_give(&rmq_test_node, claim_key, 78, NULL, 0);
	expect_publish(b, "h1");
	expect_publish(b, "h2");
}

/* What the image brought is told apart from copies held meanwhile, and
 * from copies arriving late, for RMQ_MOVE_DEDUP_MS. */
Test(move, copies_of_what_the_image_brought_are_dropped)
{
	offline_kept("ic", "t");
	peer_publish(2, 11, "t", "i1"); /* queued offline: in the image */
	cluster_on(1);
	release("ic", UINT64_MAX, 0);
	struct answer moved = ans;
	cr_assert_not_null(moved.image);
	/* The stub goes without a tail (its claimant's wait given up). */
	rmq_cluster_tail_take(&rmq_test_node, moved.stub, NULL, NULL);
	rmq_fake_settle();
	struct rmq_fake_client *b = connect_claiming(1, "ic");
	rmq_cluster_claimed(&rmq_test_node, claim_key, 0, moved.image,
	    moved.len, 80);
	uint8_t buf[64];
	size_t n = rmq_test_next_packet(b, buf, sizeof(buf));
	cr_assert(n >= 4 && buf[0] == 0x20 && buf[2] == 1, "Session Present");
	expect_publish(b, "i1");
	/* The same message (same node, same identity) reaches this node
	 * too, and another one: both held. */
	peer_publish(2, 11, "t", "i1");
	peer_publish(2, 12, "t", "i2");
	RMQ_EXPECT_NOTHING(b);
	/* No tail comes: what was held goes out, but the copy. */
	rmq_cluster_tail_give(&rmq_test_node, claim_key, 80, NULL, 0);
	expect_publish(b, "i2");
	RMQ_EXPECT_NOTHING(b);
	/* A late copy is dropped and counted. */
	struct rmq_worker *w1 = rmq_test_node.workers[1];
	uint64_t before = rmq_counter_get(&w1->st.dropped_moved_twice);
	peer_publish(2, 11, "t", "i1");
	RMQ_EXPECT_NOTHING(b);
	cr_assert_eq(rmq_counter_get(&w1->st.dropped_moved_twice), before + 1);
	/* Past the bound the filter is gone: the copy is delivered. */
	rmq_fake_advance(RMQ_MOVE_DEDUP_MS + 1);
	rmq_fake_settle();
	peer_publish(2, 11, "t", "i1");
	expect_publish(b, "i1");
}

/* The identifiers listed, with their stamps, a worker's part at a time. */
static struct listed {
	char id[8][16];
	uint64_t stamp[8];
	unsigned n, ends;
} listed;

static void
on_listed(void *arg, unsigned worker, const char *id, size_t len,
    uint64_t stamp)
{
	struct listed *l = arg;
	(void)worker;
	if (id == NULL) {
		l->ends++;
		return;
	}
	cr_assert_lt(l->n, 8);
	snprintf(l->id[l->n], sizeof(l->id[0]), "%.*s", (int)len, id);
	l->stamp[l->n++] = stamp;
}

Test(move, sessions_listed_with_their_stamps)
{
	int present = -1;
	/* One connected with no cluster (stamp 0), one whose claim went to
	 * no peer (stamped), one offline. */
	struct rmq_fake_client *a =
	    rmq_test_connect_kept(0, RMQ_V311, "plain", &present);
	cluster_on(0);
	struct rmq_fake_client *b =
	    rmq_test_connect_kept(1, RMQ_V5, "stamped", &present);
	uint64_t stamp = claim_stamp;
	rmq_fake_hangup(a);
	rmq_fake_settle();
	memset(&listed, 0, sizeof(listed));
	rmq_cluster_sessions_each(&rmq_test_node, on_listed, &listed);
	rmq_fake_settle();
	cr_assert_eq(listed.ends, 2, "one end per worker");
	cr_assert_eq(listed.n, 2);
	for (unsigned i = 0; i < 2; i++) {
		if (strcmp(listed.id[i], "plain") == 0)
			cr_assert_eq(listed.stamp[i], 0);
		else
			cr_assert(strcmp(listed.id[i], "stamped") == 0 &&
			    listed.stamp[i] == stamp);
	}
	(void)b;
}

Test(move, an_older_sessions_messages_join_the_newer)
{
	/* The older session (here, and sent as an image) held a message
	 * in flight and one queued; they are queued anew for the session
	 * of the identifier, after what it has. */
	int present = -1;
	struct rmq_fake_client *a =
	    rmq_test_connect_kept(0, RMQ_V5, "old", &present);
	rmq_test_subscribe(a, RMQ_V5, "t", 1, 1);
	peer_publish(2, 1, "t", "o1");
	expect_publish(a, "o1"); /* in flight, not acknowledged */
	rmq_fake_hangup(a);
	rmq_fake_settle();
	peer_publish(2, 2, "t", "o2"); /* queued offline */
	release("old", UINT64_MAX, 0);
	cr_assert_not_null(ans.image);
	struct answer older = ans;
	/* The client is on this node again, in a session of its own. */
	struct rmq_fake_client *b =
	    rmq_test_connect(1, RMQ_V311, "old", 1, NULL);
	rmq_cluster_state_give(&rmq_test_node, "old", 3, older.image,
	    older.len);
	expect_publish(b, "o1");
	expect_publish(b, "o2");
	RMQ_EXPECT_NOTHING(b);
	/* For an identifier held by no session here it is dropped. */
	uint8_t *img = malloc(4);
	memset(img, 0, 4);
	rmq_cluster_state_give(&rmq_test_node, "nobody", 6, img, 4);
	rmq_fake_settle();
}

/* SIGTERM in a cluster (node.h's rmq_node_drain): 5.0 clients are told
 * 0x8B with the Server Reference, a CONNECT meanwhile gets 0x9C with it
 * [MQTT-4.11], and the persistent sessions disconnected are counted until
 * they leave. */
Test(move, a_drain_sends_clients_elsewhere)
{
	for (unsigned i = 0; i < rmq_test_node.nworkers; i++)
		snprintf(rmq_test_node.workers[i]->cfg.server_reference,
		    sizeof(rmq_test_node.workers[i]->cfg.server_reference),
		    "%s", "other:1883");
	int present = -1;
	struct rmq_fake_client *a =
	    rmq_test_connect_kept(0, RMQ_V5, "kept", &present);
	struct rmq_fake_client *c =
	    rmq_test_connect(1, RMQ_V5, "clean", 1, NULL);
	rmq_node_drain(&rmq_test_node);
	rmq_fake_settle();
	uint8_t buf[128];
	for (int k = 0; k < 2; k++) {
		struct rmq_fake_client *x = k ? c : a;
		size_t n = rmq_test_next_packet(x, buf, sizeof(buf));
		cr_assert(n > 3 && buf[0] == 0xE0 &&
			buf[2] == RMQ_RC_SERVER_SHUTTING_DOWN,
		    "DISCONNECT 0x8B");
		cr_assert_not_null(memmem(buf, n, "other:1883", 10),
		    "the Server Reference");
		RMQ_EXPECT_CLOSED(x);
	}
	/* The persistent one is counted until it leaves; the clean one
	 * ended with its connection. */
	cr_assert_eq(rmq_node_drained_left(&rmq_test_node), 1);
	struct rmq_fake_client *late = rmq_test_client(0);
	struct rmq_packet p = { .type = RMQ_CONNECT };
	p.connect.version = RMQ_V5;
	p.connect.clean = 1;
	p.connect.client_id = (struct rmq_str){ "late", 4 };
	rmq_test_send_packet(late, &p, RMQ_V5);
	size_t n = rmq_test_next_packet(late, buf, sizeof(buf));
	cr_assert(n > 4 && buf[0] == 0x20 &&
		buf[3] == RMQ_RC_USE_ANOTHER_SERVER &&
		memmem(buf, n, "other:1883", 10) != NULL,
	    "CONNACK 0x9C with the Server Reference");
	RMQ_EXPECT_CLOSED(late);
	/* Claimed by another node: it leaves, and nothing is left. */
	release("kept", UINT64_MAX, 0);
	cr_assert_eq(ans.result, RMQ_RELEASE_ENDED);
	free(ans.image);
	cr_assert_eq(rmq_node_drained_left(&rmq_test_node), 0);
}
