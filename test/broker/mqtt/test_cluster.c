/* test/broker/mqtt/test_cluster.c: the seam between the broker and the cluster
 * (broker/cluster.h, routed in broker/mqtt/publish.c).
 *
 * A real broker runs on one worker loop on 127.0.0.1; the test stands in
 * for the cluster: it puts remote entries in the index, records what the
 * forward and flush hooks are given, and injects messages as a peer
 * would.  Also the form a message crosses between nodes in.  A raw MQTT
 * 5.0 client on a socket publishes and subscribes.  Every read is bounded
 * (10 s) so a hang fails instead of blocking.
 */
#include <criterion/criterion.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>
#include <urcu-qsbr.h>

#include "broker.h"
#include "cluster.h"
#include "msg.h"
#include "rmq_test_broker.h"
#include "worker.h"

#define NODE_A RMQ_CLUSTER_OWNER(1)
#define NODE_B RMQ_CLUSTER_OWNER(2)

static struct rmq_broker broker;

/* What the forward hook saw. */
static pthread_mutex_t fw_lock = PTHREAD_MUTEX_INITIALIZER;
static struct forwarded {
	uint64_t node;
	uint8_t qos;
	char topic[64];
	uint32_t ngroups;
	char group[64]; /* the first */
} fw[16];
static unsigned nfw;

static int
hook_forward(void *ctx, unsigned worker, uint64_t node, struct rmq_msg *m,
    uint8_t qos, const struct rmq_str *groups, uint32_t ngroups)
{
	(void)ctx;
	(void)worker;
	pthread_mutex_lock(&fw_lock);
	if (nfw < 16) {
		fw[nfw].node = node;
		fw[nfw].qos = qos;
		snprintf(fw[nfw].topic, sizeof(fw[nfw].topic), "%.*s",
		    (int)m->topic.len, m->topic.p);
		fw[nfw].ngroups = ngroups;
		fw[nfw].group[0] = '\0';
		if (ngroups)
			snprintf(fw[nfw].group, sizeof(fw[nfw].group), "%.*s",
			    (int)groups[0].len, groups[0].p);
	}
	nfw++;
	pthread_mutex_unlock(&fw_lock);
	return 0;
}

/* Turns that forwarded, and how many forwards came before each. */
static unsigned nflush, fw_at_flush;

static void
hook_flush(void *ctx, unsigned worker)
{
	(void)ctx;
	cr_assert_eq(worker, 0);
	pthread_mutex_lock(&fw_lock);
	nflush++;
	fw_at_flush = nfw;
	pthread_mutex_unlock(&fw_lock);
}

/* Retained changes told to the cluster. */
static unsigned nret;
static char ret_topic[64];
static uint64_t ret_stamp;

static void
hook_retain(void *ctx, unsigned worker, struct rmq_msg *m)
{
	(void)ctx;
	(void)worker;
	pthread_mutex_lock(&fw_lock);
	nret++;
	snprintf(ret_topic, sizeof(ret_topic), "%.*s", (int)m->topic.len,
	    m->topic.p);
	ret_stamp = m->stamp;
	pthread_mutex_unlock(&fw_lock);
}

static const struct rmq_cluster_hooks hooks = { .forward = hook_forward,
	.flush = hook_flush,
	.retain = hook_retain,
	.tag = 0x5A };

/* The broker of cfg started with hooks h, this thread an RCU reader
 * (offline) as the index's users must be. */
static void
broker_up(const struct rmq_config *cfg, const struct rmq_cluster_hooks *h)
{
	cr_assert_eq(rmq_broker_init(&broker, cfg), 0);
	rmq_cluster_attach(&broker, h);
	cr_assert_eq(rmq_broker_start(&broker), 0);
	rcu_register_thread();
	rcu_thread_offline();
}

static void
setup(void)
{
	signal(SIGPIPE, SIG_IGN);
	struct rmq_config cfg;
	rmq_test_broker_config(&cfg, 1);
	broker_up(&cfg, &hooks);
}

static void
teardown(void)
{
	rcu_unregister_thread();
	rmq_broker_stop(&broker);
	rmq_broker_fini(&broker);
}

TestSuite(cluster, .init = setup, .fini = teardown, .timeout = 60);

static void
remote_add(const char *filter, uint64_t node, uint8_t qos)
{
	struct rmq_sub sub = { .owner = node,
		.qos = qos,
		.flags = RMQ_SUB_REMOTE,
		.version = 5 };
	rcu_thread_online();
	cr_assert_geq(rmq_index_add(broker.index, filter, strlen(filter), &sub),
	    0);
	rcu_thread_offline();
}

static int
client_connect_as(char id)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = { .sin_family = AF_INET,
		.sin_port = htons(broker.bound_ports[0]) };
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	struct timeval tv = { .tv_sec = 10 };
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	cr_assert_eq(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	/* CONNECT, 5.0, clean start, keep alive 60, id "c". */
	static const uint8_t conn[] = { 0x10, 14, 0, 4, 'M', 'Q', 'T', 'T', 5,
		0x02, 0, 60, 0, 0, 1, 0 };
	uint8_t pkt[sizeof(conn)];
	memcpy(pkt, conn, sizeof(conn));
	pkt[sizeof(pkt) - 1] = (uint8_t)id;
	cr_assert_eq(send(fd, pkt, sizeof(pkt), MSG_NOSIGNAL),
	    (ssize_t)sizeof(pkt));
	return fd;
}

static int
client_connect(void)
{
	return client_connect_as('c');
}

/* Exactly n bytes.  EINTR is retried: the io_uring probe in
 * rmq_broker_init tears a ring down on this thread, and on some kernels the
 * task work that leaves interrupts the thread's next timed socket wait. */
static int
recv_all(int fd, uint8_t *p, size_t n)
{
	while (n > 0) {
		ssize_t r = recv(fd, p, n, 0);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return -1;
		p += r;
		n -= (size_t)r;
	}
	return 0;
}

/* One whole packet: its first byte, the body into body (up to cap). */
static int
read_packet(int fd, uint8_t *body, size_t cap, size_t *len)
{
	uint8_t first;
	if (recv_all(fd, &first, 1) != 0)
		return -1;
	size_t n = 0, mult = 1;
	uint8_t b;
	do {
		if (recv_all(fd, &b, 1) != 0)
			return -1;
		n += (size_t)(b & 0x7F) * mult;
		mult *= 128;
	} while (b & 0x80);
	cr_assert_leq(n, cap);
	if (n && recv_all(fd, body, n) != 0)
		return -1;
	*len = n;
	return first;
}

Test(cluster, local_publish_is_forwarded_once_per_node)
{
	/* Node A has two subscriptions that match (QoS 1 and 2), node B
	 * one at QoS 0. */
	remote_add("t/#", NODE_A, 1);
	remote_add("t/+", NODE_A, 2);
	remote_add("t/x", NODE_B, 0);
	remote_add("other", NODE_B, 2);
	int fd = client_connect();
	uint8_t body[256];
	size_t len;
	cr_assert_eq(read_packet(fd, body, sizeof(body), &len), 0x20);
	cr_assert_eq(body[1], 0, "CONNACK reason 0x%02x", body[1]);
	/* PUBLISH QoS 1 to t/x, packet id 1. */
	static const uint8_t pub[] = { 0x32, 10, 0, 3, 't', '/', 'x', 0, 1, 0,
		'h', 'i' };
	cr_assert_eq(send(fd, pub, sizeof(pub), MSG_NOSIGNAL),
	    (ssize_t)sizeof(pub));
	/* The PUBACK is written after routing, so the hooks have run. */
	cr_assert_eq(read_packet(fd, body, sizeof(body), &len), 0x40);
	pthread_mutex_lock(&fw_lock);
	cr_assert_eq(nfw, 2, "forwarded %u times", nfw);
	int sawa = 0, sawb = 0;
	for (unsigned i = 0; i < 2; i++) {
		cr_assert_str_eq(fw[i].topic, "t/x");
		if (fw[i].node == NODE_A) {
			/* The higher grant, capped by the message's QoS. */
			cr_assert_eq(fw[i].qos, 1);
			sawa++;
		} else {
			cr_assert_eq(fw[i].node, NODE_B);
			cr_assert_eq(fw[i].qos, 0);
			sawb++;
		}
	}
	cr_assert(sawa == 1 && sawb == 1);
	pthread_mutex_unlock(&fw_lock);
	/* The turn's end tells the cluster once, after both forwards (it
	 * runs after the PUBACK is written: wait for it, bounded). */
	for (int i = 0; i < 1000; i++) {
		pthread_mutex_lock(&fw_lock);
		unsigned k = nflush;
		pthread_mutex_unlock(&fw_lock);
		if (k)
			break;
		usleep(10000);
	}
	pthread_mutex_lock(&fw_lock);
	cr_assert_eq(nflush, 1, "flushed %u times", nflush);
	cr_assert_eq(fw_at_flush, 2);
	pthread_mutex_unlock(&fw_lock);
	close(fd);
}

/* Messages the worker's delivery latency histogram has counted. */
static uint64_t
latency_count(void)
{
	uint64_t k = 0;
	for (unsigned i = 0; i < RMQ_LAT_BUCKETS; i++)
		k += rmq_counter_get(&broker.workers[0]->st.lat_bucket[i]);
	return k;
}

/* A 5.0 client connected and subscribed at QoS 0 to a filter of three
 * bytes ("p/#"), its CONNACK and SUBACK read. */
static int
subscriber(const char *filter)
{
	int fd = client_connect();
	uint8_t body[64];
	size_t len;
	cr_assert_eq(read_packet(fd, body, sizeof(body), &len), 0x20);
	/* SUBSCRIBE, packet id 1. */
	uint8_t sub[] = { 0x82, 9, 0, 1, 0, 0, 3, 0, 0, 0, 0 };
	cr_assert_eq(strlen(filter), 3);
	memcpy(sub + 7, filter, 3);
	cr_assert_eq(send(fd, sub, sizeof(sub), MSG_NOSIGNAL),
	    (ssize_t)sizeof(sub));
	cr_assert_eq(read_packet(fd, body, sizeof(body), &len), 0x90);
	return fd;
}

/* A message of topic and payload as a client publishes it, by origin. */
static struct rmq_msg *
test_msg(const char *topic, const char *payload, uint8_t qos, uint8_t retain,
    uint64_t origin)
{
	struct rmq_publish p = { .qos = qos, .retain = retain };
	p.topic.p = topic;
	p.topic.len = (uint32_t)strlen(topic);
	p.payload.p = payload;
	p.payload.len = (uint32_t)strlen(payload);
	struct rmq_msg *m = rmq_msg_new(&p, origin, rmq_loop_clock_ms());
	cr_assert_not_null(m);
	return m;
}

Test(cluster, peer_message_reaches_local_subscribers_only)
{
	remote_add("p/#", NODE_A, 1);
	int fd = subscriber("p/#");
	uint8_t body[256];
	size_t len;

	struct rmq_msg *m = test_msg("p/1", "from B", 0, 0, 0);
	struct rmq_msg **one = malloc(sizeof(*one));
	cr_assert_not_null(one);
	one[0] = m;
	uint64_t counted = latency_count();
	cr_assert_eq(rmq_cluster_publish(&broker, 0, one, 1), 0);

	int first = read_packet(fd, body, sizeof(body), &len);
	/* Its delivery latency is measured from its arrival on this node
	 * (counted when the write was made, before the client read it). */
	cr_assert_eq(latency_count(), counted + 1);
	cr_assert_eq(first & 0xF0, 0x30, "got 0x%02x", first);
	cr_assert_eq(body[0], 0);
	cr_assert_eq(body[1], 3);
	cr_assert_eq(memcmp(body + 2, "p/1", 3), 0);
	cr_assert_eq(len, 2 + 3 + 1 + 6);
	cr_assert_eq(memcmp(body + 6, "from B", 6), 0);
	/* Routed before it was written: not sent back to node A. */
	pthread_mutex_lock(&fw_lock);
	cr_assert_eq(nfw, 0, "a peer's message was forwarded %u times", nfw);
	pthread_mutex_unlock(&fw_lock);
	close(fd);
}

/* A shared group whose only members are on other nodes: the turn falls
 * to one of them, and the message goes to it naming the group. */
Test(cluster, a_remote_member_of_a_group_gets_its_turn)
{
	struct rmq_sub sub = { .owner = NODE_B,
		.qos = 1,
		.flags = RMQ_SUB_REMOTE,
		.version = 5 };
	rcu_thread_online();
	cr_assert_geq(rmq_index_add(broker.index, "$share/g/s/#", 12, &sub), 0);
	rcu_thread_offline();
	int fd = client_connect();
	uint8_t body[256];
	size_t len;
	cr_assert_eq(read_packet(fd, body, sizeof(body), &len), 0x20);
	static const uint8_t pub[] = { 0x32, 10, 0, 3, 's', '/', '1', 0, 1, 0,
		'h', 'i' };
	cr_assert_eq(send(fd, pub, sizeof(pub), MSG_NOSIGNAL),
	    (ssize_t)sizeof(pub));
	cr_assert_eq(read_packet(fd, body, sizeof(body), &len), 0x40);
	pthread_mutex_lock(&fw_lock);
	cr_assert_eq(nfw, 1);
	cr_assert_eq(fw[0].node, NODE_B);
	cr_assert_eq(fw[0].ngroups, 1);
	cr_assert_str_eq(fw[0].group, "$share/g/s/#");
	pthread_mutex_unlock(&fw_lock);
	close(fd);
}

/* A peer's message reaches this node's member of a group only when it
 * names the group: the turn was this node's. */
Test(cluster, a_peer_message_serves_the_groups_it_names)
{
	int fd = client_connect();
	uint8_t body[256];
	size_t len;
	cr_assert_eq(read_packet(fd, body, sizeof(body), &len), 0x20);
	/* SUBSCRIBE $share/g/s/# QoS 0, packet id 1. */
	static const uint8_t sub[] = { 0x82, 18, 0, 1, 0, 0, 12, '$', 's', 'h',
		'a', 'r', 'e', '/', 'g', '/', 's', '/', '#', 0 };
	cr_assert_eq(send(fd, sub, sizeof(sub), MSG_NOSIGNAL),
	    (ssize_t)sizeof(sub));
	cr_assert_eq(read_packet(fd, body, sizeof(body), &len), 0x90);
	static const struct rmq_str named = { "$share/g/s/#", 12 };
	for (int i = 0; i < 2; i++) {
		struct rmq_msg *m =
		    test_msg("s/1", i ? "for g" : "not g", 0, 0, 0);
		if (i) {
			size_t n = rmq_msg_groups_size(&named, 1);
			m->groups = malloc(n);
			cr_assert_not_null(m->groups);
			rmq_msg_groups_encode(&named, 1, m->groups);
			cr_assert_eq(rmq_msg_groups_check(m->groups, n), n);
		}
		struct rmq_msg **one = malloc(sizeof(*one));
		cr_assert_not_null(one);
		one[0] = m;
		cr_assert_eq(rmq_cluster_publish(&broker, 0, one, 1), 0);
	}
	/* Only the second comes. */
	int first = read_packet(fd, body, sizeof(body), &len);
	cr_assert_eq(first & 0xF0, 0x30, "got 0x%02x", first);
	cr_assert_eq(memcmp(body + len - 5, "for g", 5), 0,
	    "the message that did not name the group was delivered");
	close(fd);
}

/* One message as a peer hands it over, in its array. */
static void
peer_publish(const char *topic, const char *payload, int retain)
{
	struct rmq_msg **one = malloc(sizeof(*one));
	cr_assert_not_null(one);
	one[0] = test_msg(topic, payload, 0, (uint8_t)retain, NODE_B);
	cr_assert_eq(rmq_cluster_publish(&broker, 0, one, 1), 0);
}

static void
subscribe(int fd, const char *filter)
{
	uint8_t pkt[64];
	size_t n = strlen(filter);
	/* SUBSCRIBE, packet id 1, no properties, the filter at QoS 0. */
	pkt[0] = 0x82;
	pkt[1] = (uint8_t)(2 + 1 + 2 + n + 1);
	pkt[2] = 0;
	pkt[3] = 1;
	pkt[4] = 0;
	pkt[5] = 0;
	pkt[6] = (uint8_t)n;
	memcpy(pkt + 7, filter, n);
	pkt[7 + n] = 0;
	cr_assert_eq(send(fd, pkt, 8 + n, MSG_NOSIGNAL), (ssize_t)(8 + n));
}

/* A peer's retained message reaches the subscribers here but is not kept
 * here as retained: the node it was published on serves it. */
Test(cluster, peer_retained_message_is_delivered_not_kept)
{
	uint8_t body[256];
	size_t len;
	int a = client_connect_as('a');
	cr_assert_eq(read_packet(a, body, sizeof(body), &len), 0x20);
	subscribe(a, "r/#");
	cr_assert_eq(read_packet(a, body, sizeof(body), &len), 0x90);
	peer_publish("r/1", "kept elsewhere", 1);
	int first = read_packet(a, body, sizeof(body), &len);
	cr_assert_eq(first & 0xF0, 0x30, "got 0x%02x", first);
	cr_assert_eq(memcmp(body + 2, "r/1", 3), 0);

	/* A new subscriber gets no retained r/1: the first PUBLISH it sees
	 * is the live one published after its SUBACK. */
	int c = client_connect_as('d');
	cr_assert_eq(read_packet(c, body, sizeof(body), &len), 0x20);
	subscribe(c, "r/#");
	cr_assert_eq(read_packet(c, body, sizeof(body), &len), 0x90);
	peer_publish("r/2", "live", 0);
	first = read_packet(c, body, sizeof(body), &len);
	cr_assert_eq(first & 0xF0, 0x30);
	cr_assert_eq(memcmp(body + 2, "r/2", 3), 0, "got %.3s first",
	    (const char *)body + 2);
	close(a);
	close(c);
}

/* The form a message crosses in keeps what the subscribers see: topic,
 * payload, properties, QoS, retain, and the expiry left. */
Test(cluster, message_crosses_with_its_properties_and_expiry)
{
	struct rmq_publish p = { .qos = 2, .retain = 1 };
	p.topic.p = "a/b";
	p.topic.len = 3;
	p.payload.p = "payload";
	p.payload.len = 7;
	RMQ_PROP_SET(&p.props, RMQ_PROP_CONTENT_TYPE);
	p.props.content_type.p = "text/plain";
	p.props.content_type.len = 10;
	RMQ_PROP_SET(&p.props, RMQ_PROP_MESSAGE_EXPIRY);
	p.props.message_expiry = 100;
	uint64_t now = rmq_loop_clock_ms();
	struct rmq_msg *m = rmq_msg_new(&p, 42, now);
	cr_assert_not_null(m);
	size_t n = rmq_cluster_msg_size(m);
	cr_assert_gt(n, 0);
	uint8_t *buf = malloc(n);
	rmq_cluster_msg_encode(m, buf);
	struct rmq_msg *back = NULL;
	const char *why = NULL;
	cr_assert_eq(rmq_cluster_msg_decode(buf, n, NODE_A, rmq_loop_clock_ms(),
			 &back, &why),
	    0, "%s", why ? why : "");
	cr_assert_eq(back->origin, NODE_A);
	cr_assert_eq(back->qos, 2);
	cr_assert_eq(back->retain, 1);
	cr_assert_eq(back->topic.len, 3);
	cr_assert_eq(memcmp(back->topic.p, "a/b", 3), 0);
	cr_assert_eq(back->payload.len, 7);
	cr_assert_eq(memcmp(back->payload.p, "payload", 7), 0);
	cr_assert_eq(back->v5.props_len, m->v5.props_len);
	cr_assert_eq(memcmp(back->v5.props, m->v5.props, m->v5.props_len), 0);
	cr_assert(back->has_expiry);
	uint32_t left = rmq_msg_expiry_left(back, rmq_loop_clock_ms());
	cr_assert(left >= 99 && left <= 100, "%u s left", left);
	/* Two bytes of head besides the topic, its properties and 8 bytes
	 * of expiry: flags and the topic's length (and the properties'). */
	cr_assert_eq(n, 1 + 8 + 1 + 3 + 1 + m->v5.props_len + 7);
	/* Malformed: every cut before the payload is refused with a
	 * reason.  The payload runs to the end: its length is the one the
	 * stream gives the message (forward.h), which a cut would break. */
	for (size_t cut = 0; cut < n - 7; cut++) {
		struct rmq_msg *x = NULL;
		cr_assert_eq(rmq_cluster_msg_decode(buf, cut, NODE_A,
				 rmq_loop_clock_ms(), &x, &why),
		    -EINVAL, "cut at %zu", cut);
		cr_assert_not_null(why);
	}
	rmq_msg_rele(back);
	free(buf);
	/* An expired message does not cross at all. */
	m->expire_ms = rmq_loop_clock_ms() - 1;
	cr_assert_eq(rmq_cluster_msg_size(m), 0);
	rmq_msg_rele(m);
}

/* The usual message, QoS 0 without properties or expiry, takes two bytes
 * besides its topic and payload; bytes no node writes are refused. */
Test(cluster, message_form_is_compact_and_strict)
{
	struct rmq_msg *m = test_msg("t/1", "0123456789", 1, 0, 42);
	uint8_t buf[64];
	size_t n = rmq_cluster_msg_size(m);
	cr_assert_eq(n, 2 + 3 + 10);
	rmq_cluster_msg_encode(m, buf);
	static const uint8_t want[] = { 0x01, 3, 't', '/', '1' };
	cr_assert_eq(memcmp(buf, want, sizeof(want)), 0);
	struct rmq_msg *back = NULL;
	const char *why = NULL;
	cr_assert_eq(rmq_cluster_msg_decode(buf, n, NODE_A, rmq_loop_clock_ms(),
			 &back, &why),
	    0);
	cr_assert_eq(back->qos, 1);
	cr_assert_eq(back->retain, 0);
	cr_assert_eq(back->has_expiry, 0);
	cr_assert_eq(back->payload.len, 10);
	rmq_msg_rele(back);
	rmq_msg_rele(m);
	/* An empty payload (a retained delete) is a message too. */
	static const uint8_t empty[] = { 0x04, 1, 'x' };
	cr_assert_eq(rmq_cluster_msg_decode(empty, sizeof(empty), NODE_A,
			 rmq_loop_clock_ms(), &back, &why),
	    0);
	cr_assert_eq(back->retain, 1);
	cr_assert_eq(back->payload.len, 0);
	rmq_msg_rele(back);
	static const struct {
		const char *what;
		uint8_t len;
		uint8_t b[16];
	} bad[] = {
		{ "QoS 3", 3, { 0x03, 1, 'x' } },
		{ "a flag no node sets", 3, { 0x20, 1, 'x' } },
		{ "an empty topic", 3, { 0x00, 0, 'x' } },
		{ "a length in more bytes than it needs", 4,
		    { 0x00, 0x81, 0x00, 'x' } },
		{ "a topic with a wildcard", 4, { 0x00, 2, 'a', '#' } },
		{ "the properties flag with none", 4, { 0x10, 1, 'x', 0 } },
		{ "properties that run past the end", 5,
		    { 0x10, 1, 'x', 5, 0x03 } },
		{ "a subscription identifier in the properties", 6,
		    { 0x10, 1, 'x', 2, 0x0B, 0x01 } },
		{ "an expiry past MQTT's", 11,
		    { 0x08, 0x00, 0x00, 0x04, 0, 0, 0, 0, 0, 1, 'x' } },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		why = NULL;
		back = NULL;
		cr_assert_eq(rmq_cluster_msg_decode(bad[i].b, bad[i].len,
				 NODE_A, rmq_loop_clock_ms(), &back, &why),
		    -EINVAL, "%s", bad[i].what);
		cr_assert_not_null(why, "%s", bad[i].what);
		cr_assert_null(back);
	}
	/* No time left: expired on the way, not malformed. */
	static const uint8_t gone[] = { 0x08, 0, 0, 0, 0, 0, 0, 0, 0, 1, 'x' };
	cr_assert_eq(rmq_cluster_msg_decode(gone, sizeof(gone), NODE_A,
			 rmq_loop_clock_ms(), &back, &why),
	    -ETIME);
}

/* A retained PUBLISH: kept here, stamped with the node's tag and told to
 * the cluster; one of a $ topic stays on the node untold.  A peer's
 * change is applied only when newer. */
Test(cluster, retained_publish_is_stamped_and_told)
{
	uint8_t body[256];
	size_t len;
	int fd = client_connect();
	cr_assert_eq(read_packet(fd, body, sizeof(body), &len), 0x20);
	/* PUBLISH QoS 1 retained to $x/k, then to r/k. */
	static const uint8_t dollar[] = { 0x33, 10, 0, 3, '$', 'x', 'k', 0, 1,
		0, 'h', 'i' };
	static const uint8_t plain[] = { 0x33, 10, 0, 3, 'r', '/', 'k', 0, 2, 0,
		'h', 'i' };
	cr_assert_eq(send(fd, dollar, sizeof(dollar), MSG_NOSIGNAL),
	    (ssize_t)sizeof(dollar));
	cr_assert_eq(read_packet(fd, body, sizeof(body), &len), 0x40);
	pthread_mutex_lock(&fw_lock);
	cr_assert_eq(nret, 0, "a $ topic's retained message was told");
	pthread_mutex_unlock(&fw_lock);
	cr_assert_eq(send(fd, plain, sizeof(plain), MSG_NOSIGNAL),
	    (ssize_t)sizeof(plain));
	cr_assert_eq(read_packet(fd, body, sizeof(body), &len), 0x40);
	pthread_mutex_lock(&fw_lock);
	cr_assert_eq(nret, 1);
	cr_assert_str_eq(ret_topic, "r/k");
	cr_assert_eq(ret_stamp & 0xFFF, 0x5A);
	uint64_t stamp = ret_stamp;
	pthread_mutex_unlock(&fw_lock);
	/* Stamps only grow. */
	cr_assert_gt(rmq_cluster_stamp(0x5A), stamp);

	/* A peer's older change of r/k is refused, a newer one applied. */
	struct rmq_msg *m = test_msg("r/k", "peer", 1, 1, NODE_A);
	m->stamp = stamp - 1;
	cr_assert_eq(rmq_cluster_retain_apply(&broker, m), 1);
	m->stamp = stamp + 1;
	cr_assert_eq(rmq_cluster_retain_apply(&broker, m), 0);
	rmq_msg_rele(m);
	/* What a new subscriber gets is the peer's. */
	int c = client_connect_as('n');
	cr_assert_eq(read_packet(c, body, sizeof(body), &len), 0x20);
	subscribe(c, "r/k");
	cr_assert_eq(read_packet(c, body, sizeof(body), &len), 0x90);
	int first = read_packet(c, body, sizeof(body), &len);
	cr_assert_eq(first & 0xF1, 0x31, "got 0x%02x", first);
	cr_assert_eq(memcmp(body + len - 4, "peer", 4), 0);
	close(fd);
	close(c);
}

/* ---- cluster_subscribe_wait: the SUBACK held for the peers ---- */

static _Atomic uint64_t applied_now; /* what the stand-in says applied */

static uint64_t
hook_filter_token(void *ctx, const char *filter, size_t len, int old_qos,
    int new_qos)
{
	(void)ctx, (void)filter, (void)len, (void)old_qos;
	return new_qos >= 0 ? 7 : 0;
}

static uint64_t
hook_applied(void *ctx)
{
	(void)ctx;
	return atomic_load(&applied_now);
}

static const struct rmq_cluster_hooks wait_hooks = {
	.filter = hook_filter_token,
	.applied = hook_applied,
};

static void
setup_wait(uint32_t wait_ms)
{
	signal(SIGPIPE, SIG_IGN);
	atomic_store(&applied_now, 0);
	struct rmq_config cfg;
	rmq_test_broker_config(&cfg, 1);
	cfg.cluster_subscribe_wait_ms = wait_ms;
	broker_up(&cfg, &wait_hooks);
}

static void
setup_wait_long(void)
{
	setup_wait(60000);
}

static void
setup_wait_short(void)
{
	setup_wait(100);
}

/* SUBSCRIBE x/# then PINGREQ: what comes back first. */
static int
subscribe_then_ping(int fd, uint8_t *body, size_t cap, size_t *len)
{
	subscribe(fd, "x/#");
	static const uint8_t ping[] = { 0xC0, 0 };
	cr_assert_eq(send(fd, ping, sizeof(ping), MSG_NOSIGNAL), 2);
	return read_packet(fd, body, cap, len);
}

/* The SUBACK waits for the peers: the PINGREQ sent after the SUBSCRIBE is
 * answered first; once the cluster says its token is applied, the SUBACK
 * goes. */
TestSuite(suback_wait, .init = setup_wait_long, .fini = teardown,
    .timeout = 60);
TestSuite(suback_bound, .init = setup_wait_short, .fini = teardown,
    .timeout = 60);

Test(suback_wait, suback_waits_for_the_peers)
{
	uint8_t body[64];
	size_t len;
	int fd = client_connect();
	cr_assert_eq(read_packet(fd, body, sizeof(body), &len), 0x20);
	cr_assert_eq(subscribe_then_ping(fd, body, sizeof(body), &len), 0xD0,
	    "the SUBACK did not wait");
	atomic_store(&applied_now, 7);
	rmq_cluster_applied_changed(&broker);
	cr_assert_eq(read_packet(fd, body, sizeof(body), &len), 0x90);
	cr_assert_eq(rmq_workers_sum(&broker, RMQ_STAT(suback_waits)), 1);
	cr_assert_eq(rmq_workers_sum(&broker, RMQ_STAT(suback_wait_expired)),
	    0);
	close(fd);
}

/* Peers that never apply it: the SUBACK goes at the bound, counted. */
Test(suback_bound, suback_goes_at_the_bound)
{
	uint8_t body[64];
	size_t len;
	int fd = client_connect();
	cr_assert_eq(read_packet(fd, body, sizeof(body), &len), 0x20);
	cr_assert_eq(subscribe_then_ping(fd, body, sizeof(body), &len), 0xD0);
	cr_assert_eq(read_packet(fd, body, sizeof(body), &len), 0x90);
	cr_assert_eq(rmq_workers_sum(&broker, RMQ_STAT(suback_wait_expired)),
	    1);
	close(fd);
}

/* ---- route changes: the turn's flush sends them ---- */

static unsigned nfilter, filters_at_flush, nroute_flush;

static uint64_t
count_filter(void *ctx, const char *filter, size_t len, int old_qos,
    int new_qos)
{
	(void)ctx, (void)filter, (void)len, (void)old_qos, (void)new_qos;
	pthread_mutex_lock(&fw_lock);
	nfilter++;
	pthread_mutex_unlock(&fw_lock);
	return 0;
}

static void
count_flush(void *ctx, unsigned worker)
{
	(void)ctx, (void)worker;
	pthread_mutex_lock(&fw_lock);
	nroute_flush++;
	filters_at_flush = nfilter;
	pthread_mutex_unlock(&fw_lock);
}

static const struct rmq_cluster_hooks route_hooks = {
	.filter = count_filter,
	.flush = count_flush,
};

static void
setup_routes(void)
{
	signal(SIGPIPE, SIG_IGN);
	nfilter = filters_at_flush = nroute_flush = 0;
	struct rmq_config cfg;
	rmq_test_broker_config(&cfg, 1);
	broker_up(&cfg, &route_hooks);
}

TestSuite(route_flush, .init = setup_routes, .fini = teardown, .timeout = 60);

/* A turn that changed the node's filters, with no message forwarded,
 * ends with a flush after the changes: the cluster seals them into one
 * batch per peer there.  Three SUBSCRIBEs in one send are normally one
 * turn (one flush); never more flushes than changes. */
Test(route_flush, a_turn_that_changed_filters_is_flushed)
{
	uint8_t body[64], pkts[3 * 16];
	size_t len, at = 0;
	int fd = client_connect();
	cr_assert_eq(read_packet(fd, body, sizeof(body), &len), 0x20);
	for (int i = 0; i < 3; i++) {
		const uint8_t one[] = { 0x82, 9, 0, (uint8_t)(i + 1), 0, 0, 3,
			'r', '/', (uint8_t)('a' + i), 0 };
		memcpy(pkts + at, one, sizeof(one));
		at += sizeof(one);
	}
	cr_assert_eq(send(fd, pkts, at, MSG_NOSIGNAL), (ssize_t)at);
	for (int i = 0; i < 3; i++)
		cr_assert_eq(read_packet(fd, body, sizeof(body), &len), 0x90);
	for (int i = 0; i < 1000; i++) {
		pthread_mutex_lock(&fw_lock);
		unsigned k = filters_at_flush;
		pthread_mutex_unlock(&fw_lock);
		if (k == 3)
			break;
		usleep(10000);
	}
	pthread_mutex_lock(&fw_lock);
	cr_assert_eq(nfilter, 3);
	cr_assert_eq(filters_at_flush, 3, "no flush after the last change");
	cr_assert(nroute_flush >= 1 && nroute_flush <= 3, "%u flushes",
	    nroute_flush);
	pthread_mutex_unlock(&fw_lock);
	/* A turn that changed nothing does not flush. */
	unsigned before = nroute_flush;
	static const uint8_t ping[] = { 0xC0, 0 };
	cr_assert_eq(send(fd, ping, sizeof(ping), MSG_NOSIGNAL), 2);
	cr_assert_eq(read_packet(fd, body, sizeof(body), &len), 0xD0);
	usleep(50000);
	pthread_mutex_lock(&fw_lock);
	cr_assert_eq(nroute_flush, before);
	pthread_mutex_unlock(&fw_lock);
	close(fd);
}

/* ---- cluster_ack: PUBACK once the peers have taken the message ---- */

static _Atomic uint64_t turns, taken_now;
static atomic_int queue_full; /* the forward hook refuses */

static int
ack_forward(void *ctx, unsigned worker, uint64_t node, struct rmq_msg *m,
    uint8_t qos, const struct rmq_str *groups, uint32_t ngroups)
{
	(void)ctx, (void)worker, (void)node, (void)m, (void)qos;
	(void)groups, (void)ngroups;
	return atomic_load(&queue_full) ? -ENOSPC : 0;
}

static void
ack_flush(void *ctx, unsigned worker)
{
	(void)ctx, (void)worker;
	atomic_fetch_add(&turns, 1);
}

static uint64_t
ack_sent(void *ctx, unsigned worker)
{
	(void)ctx, (void)worker;
	return atomic_load(&turns) + 1;
}

static uint64_t
ack_taken(void *ctx, unsigned worker)
{
	(void)ctx, (void)worker;
	return atomic_load(&taken_now);
}

static const struct rmq_cluster_hooks ack_hooks = {
	.forward = ack_forward,
	.flush = ack_flush,
	.sent = ack_sent,
	.taken = ack_taken,
};

static void
setup_ack(int on)
{
	signal(SIGPIPE, SIG_IGN);
	atomic_store(&turns, 0);
	atomic_store(&taken_now, 0);
	atomic_store(&queue_full, 0);
	struct rmq_config cfg;
	rmq_test_broker_config(&cfg, 1);
	cfg.cluster_ack = on;
	broker_up(&cfg, &ack_hooks);
}

static void
setup_ack_on(void)
{
	setup_ack(1);
}

static void
setup_ack_off(void)
{
	setup_ack(0);
}

TestSuite(cluster_ack, .init = setup_ack_on, .fini = teardown, .timeout = 60);
TestSuite(cluster_ack_off, .init = setup_ack_off, .fini = teardown,
    .timeout = 60);

/* PUBLISH QoS 1 to x/1 with packet id pid, then PINGREQ; the first
 * packet back. */
static int
publish_then_ping(int fd, uint8_t pid, uint8_t *body, size_t cap, size_t *len)
{
	const uint8_t pub[] = { 0x32, 10, 0, 3, 'x', '/', '1', 0, pid, 0, 'h',
		'i', 0xC0, 0 };
	cr_assert_eq(send(fd, pub, sizeof(pub), MSG_NOSIGNAL),
	    (ssize_t)sizeof(pub));
	return read_packet(fd, body, cap, len);
}

/* The PUBACK waits until the peers have taken the turn it was forwarded
 * in: the PINGREQ after it is answered first. */
Test(cluster_ack, puback_waits_for_the_peers)
{
	remote_add("x/#", NODE_A, 1);
	uint8_t body[64];
	size_t len;
	int fd = client_connect();
	cr_assert_eq(read_packet(fd, body, sizeof(body), &len), 0x20);
	cr_assert_eq(publish_then_ping(fd, 1, body, sizeof(body), &len), 0xD0,
	    "the PUBACK did not wait");
	/* The turn is flushed (token 1); the peers took it. */
	cr_assert_eq(atomic_load(&turns), 1);
	atomic_store(&taken_now, 1);
	rmq_cluster_applied_changed(&broker);
	cr_assert_eq(read_packet(fd, body, sizeof(body), &len), 0x40);
	cr_assert_eq(body[1], 1);
	/* Success, which 3.4.2.1 lets the PUBACK say by leaving the reason
	 * out: it went somewhere, if not here (not 0x10). */
	cr_assert_eq(len, 2, "PUBACK reason 0x%02x", body[2]);
	cr_assert_eq(rmq_workers_sum(&broker, RMQ_STAT(cluster_ack_waits)), 1);
	/* Acknowledgements keep their order [MQTT-4.6.0-2]: the next waits
	 * for its own turn, not the first's. */
	cr_assert_eq(publish_then_ping(fd, 2, body, sizeof(body), &len), 0xD0);
	atomic_store(&taken_now, 2);
	rmq_cluster_applied_changed(&broker);
	cr_assert_eq(read_packet(fd, body, sizeof(body), &len), 0x40);
	cr_assert_eq(body[1], 2);
	close(fd);
}

/* A message that no peer wants is acknowledged at once. */
Test(cluster_ack, local_only_message_does_not_wait)
{
	uint8_t body[64];
	size_t len;
	int fd = client_connect();
	cr_assert_eq(read_packet(fd, body, sizeof(body), &len), 0x20);
	cr_assert_eq(publish_then_ping(fd, 1, body, sizeof(body), &len), 0x40);
	/* Nobody anywhere: 0x10, No matching subscribers. */
	cr_assert_eq(body[2], 0x10);
	cr_assert_eq(rmq_workers_sum(&broker, RMQ_STAT(cluster_ack_waits)), 0);
	close(fd);
}

/* The queue toward the peer is full: a 5.0 publisher hears 0x97 at once
 * rather than a success for a message that went nowhere. */
Test(cluster_ack, queue_full_is_refused)
{
	remote_add("x/#", NODE_A, 1);
	atomic_store(&queue_full, 1);
	uint8_t body[64];
	size_t len;
	int fd = client_connect();
	cr_assert_eq(read_packet(fd, body, sizeof(body), &len), 0x20);
	cr_assert_eq(publish_then_ping(fd, 1, body, sizeof(body), &len), 0x40);
	cr_assert_eq(body[2], 0x97, "reason 0x%02x", body[2]);
	cr_assert_eq(rmq_workers_sum(&broker, RMQ_STAT(cluster_ack_refused)),
	    1);
	close(fd);
}

/* Off: the PUBACK goes once the message is queued toward the peers. */
Test(cluster_ack_off, puback_at_once)
{
	remote_add("x/#", NODE_A, 1);
	uint8_t body[64];
	size_t len;
	int fd = client_connect();
	cr_assert_eq(read_packet(fd, body, sizeof(body), &len), 0x20);
	cr_assert_eq(publish_then_ping(fd, 1, body, sizeof(body), &len), 0x40);
	cr_assert_eq(len, 2, "PUBACK reason 0x%02x", body[2]);
	cr_assert_eq(rmq_workers_sum(&broker, RMQ_STAT(cluster_ack_waits)), 0);
	close(fd);
}

/* ---- the cluster's own connections on a worker (cluster_conn.c) ---- */

/* A connected pair on loopback: *ours for the worker, the other end
 * returned for the test. */
static int
tcp_pair(int *ours)
{
	int l = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = { .sin_family = AF_INET };
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	socklen_t al = sizeof(a);
	cr_assert_eq(bind(l, (struct sockaddr *)&a, sizeof(a)), 0);
	cr_assert_eq(listen(l, 1), 0);
	cr_assert_eq(getsockname(l, (struct sockaddr *)&a, &al), 0);
	int them = socket(AF_INET, SOCK_STREAM, 0);
	cr_assert_eq(connect(them, (struct sockaddr *)&a, sizeof(a)), 0);
	*ours = accept(l, NULL, NULL);
	cr_assert_geq(*ours, 0);
	close(l);
	struct timeval tv = { .tv_sec = 10 };
	setsockopt(them, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	return them;
}

/* What the connection's callbacks saw, and the threads they ran on. */
static struct cc_state {
	int fd;
	struct rmq_cluster_conn *cc;
	pthread_t opener, reader;
	char got[64];
	size_t got_len;
	int reads, ended, wrote_status, wrote, closed, refused;
	struct iovec iov;
	char reply[8];
} ccs;
static pthread_mutex_t cc_lock = PTHREAD_MUTEX_INITIALIZER;

static void
cc_read(void *arg, const uint8_t *p, ssize_t n)
{
	struct cc_state *s = arg;
	pthread_mutex_lock(&cc_lock);
	s->reader = pthread_self();
	s->reads++;
	if (n <= 0) {
		s->ended = 1;
		pthread_mutex_unlock(&cc_lock);
		rmq_cluster_conn_close(s->cc);
		return;
	}
	if (s->got_len + (size_t)n <= sizeof(s->got)) {
		memcpy(s->got + s->got_len, p, (size_t)n);
		s->got_len += (size_t)n;
	}
	int ask = s->got_len >= 4 && memcmp(s->got, "ping", 4) == 0 &&
	    s->iov.iov_len == 0;
	pthread_mutex_unlock(&cc_lock);
	if (ask) {
		memcpy(s->reply, "pong", 4);
		s->iov = (struct iovec){ s->reply, 4 };
		cr_assert_eq(rmq_cluster_conn_write(s->cc, &s->iov, 1), 0);
		/* One write at a time. */
		s->refused = rmq_cluster_conn_write(s->cc, &s->iov, 1);
		/* What a link brought, routed on the worker that read it. */
		struct rmq_publish pb = { .qos = 0 };
		pb.topic.p = "l/1";
		pb.topic.len = 3;
		pb.payload.p = "linked";
		pb.payload.len = 6;
		struct rmq_msg *m[1] = { rmq_msg_new(&pb, 0,
		    rmq_loop_clock_ms()) };
		cr_assert_not_null(m[0]);
		rmq_cluster_publish_here(&broker, 0, m, 1);
	}
}

static void
cc_wrote(void *arg, int status)
{
	struct cc_state *s = arg;
	pthread_mutex_lock(&cc_lock);
	s->wrote++;
	s->wrote_status = status;
	pthread_mutex_unlock(&cc_lock);
}

static void
cc_closed(void *arg)
{
	struct cc_state *s = arg;
	pthread_mutex_lock(&cc_lock);
	s->closed++;
	pthread_mutex_unlock(&cc_lock);
}

static const struct rmq_cluster_conn_ops cc_ops = { .read = cc_read,
	.wrote = cc_wrote,
	.closed = cc_closed };

static void
cc_open(void *arg, int run)
{
	struct cc_state *s = arg;
	cr_assert_eq(run, 1);
	pthread_mutex_lock(&cc_lock);
	s->opener = pthread_self();
	pthread_mutex_unlock(&cc_lock);
	cr_assert_eq(rmq_cluster_conn_open(&broker, 0, s->fd, &cc_ops, s,
			 &s->cc),
	    0);
}

static int
cc_wait(int *what, int want)
{
	for (int i = 0; i < 1000; i++) {
		pthread_mutex_lock(&cc_lock);
		int v = *what;
		pthread_mutex_unlock(&cc_lock);
		if (v >= want)
			return v;
		usleep(10000);
	}
	return -1;
}

/* A connection the cluster runs on a worker's loop: opened by work run
 * on that worker, read and written there, what it brings routed there to
 * local sessions (not forwarded again), and its close told once. */
Test(cluster, a_link_runs_on_its_worker)
{
	memset(&ccs, 0, sizeof(ccs));
	int fd = subscriber("l/#");
	uint8_t body[256];
	size_t len;

	int them = tcp_pair(&ccs.fd);
	cr_assert_eq(rmq_cluster_run_on(&broker, 0, cc_open, &ccs), 0);
	cr_assert_eq(send(them, "ping", 4, MSG_NOSIGNAL), 4);
	char back[4];
	cr_assert_eq(recv_all(them, (uint8_t *)back, 4), 0);
	cr_assert_eq(memcmp(back, "pong", 4), 0);
	cr_assert_eq(cc_wait(&ccs.wrote, 1), 1);
	cr_assert_eq(ccs.wrote_status, 0);
	cr_assert_eq(ccs.refused, -EBUSY);
	pthread_mutex_lock(&cc_lock);
	cr_assert(pthread_equal(ccs.opener, ccs.reader));
	cr_assert(!pthread_equal(ccs.opener, pthread_self()));
	pthread_mutex_unlock(&cc_lock);

	int first = read_packet(fd, body, sizeof(body), &len);
	cr_assert_eq(first & 0xF0, 0x30, "got 0x%02x", first);
	cr_assert_eq(memcmp(body + 2, "l/1", 3), 0);
	pthread_mutex_lock(&fw_lock);
	cr_assert_eq(nfw, 0, "a link's message was forwarded %u times", nfw);
	pthread_mutex_unlock(&fw_lock);

	/* The peer goes: the read says so, the close follows, once. */
	close(them);
	cr_assert_eq(cc_wait(&ccs.closed, 1), 1);
	cr_assert_eq(ccs.ended, 1);
	usleep(50000);
	cr_assert_eq(ccs.closed, 1);
	close(fd);
}

/* A link still open when the worker stops is closed by it, and told. */
Test(cluster_conn, closed_when_the_worker_stops)
{
	setup();
	memset(&ccs, 0, sizeof(ccs));
	int them = tcp_pair(&ccs.fd);
	cr_assert_eq(rmq_cluster_run_on(&broker, 0, cc_open, &ccs), 0);
	cr_assert_eq(send(them, "x", 1, MSG_NOSIGNAL), 1);
	cr_assert_eq(cc_wait(&ccs.reads, 1), 1);
	cr_assert_eq(ccs.closed, 0);
	teardown();
	cr_assert_eq(ccs.closed, 1);
	/* Its socket is closed: the other end reads its end. */
	char c;
	cr_assert_eq(recv(them, &c, 1, 0), 0);
	close(them);
}
