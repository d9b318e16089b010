/* test/support/rmq_test_node.c: a broker node on the fake loop backend
 * (rmq_test_node.h). */
#include <criterion/criterion.h>
#include <stdlib.h>

#include <urcu-qsbr.h>

#include "codec.h"
#include "log.h"
#include "persist.h"
#include "registry.h"
#include "rmq_test.h"
#include "rmq_test_broker.h"
#include "rmq_test_node.h"

struct rmq_broker rmq_test_node;

void
rmq_test_node_start(unsigned workers, void (*tweak)(struct rmq_config *))
{
	struct rmq_config cfg;
	rmq_test_broker_config(&cfg, workers);
	cfg.nlisteners = 1; /* counted per listener; no socket is opened */
	cfg.cpu_affinity = RMQ_AFFINITY_NONE;
	cfg.connection_messages = 0;
	cfg.log_level = RMQ_LOG_WARNING;
	if (tweak)
		tweak(&cfg);
	rmq_log_set(cfg.log_level, (enum rmq_log_format)cfg.log_format);
	cr_assert_eq(rmq_broker_init_on(&rmq_test_node, &cfg,
			 &rmq_fake_loop_ops),
	    0);
	/* A node given a data directory runs its writer, as a started node
	 * does; the loops are this thread's to run. */
	if (rmq_test_node.persist) {
		cr_assert_eq(rmq_persist_start(rmq_test_node.persist), 0);
		atomic_store(&rmq_test_node.loops_up, 1);
	}
	rcu_register_thread();
}

void
rmq_test_node_stop(void)
{
	struct rmq_broker *b = &rmq_test_node;
	/* Clients go away; persistent sessions stay, offline, and go with
	 * their workers. */
	for (unsigned i = 0; i < b->nworkers; i++)
		rmq_loop_stop(b->workers[i]->loop);
	cr_assert_neq(rmq_fake_settle(), 0, "loops still busy at the stop");
	/* Clients told 0x8B and shut down read the end and hang up. */
	if (rmq_fake_hangup_shut())
		cr_assert_neq(rmq_fake_settle(), 0,
		    "loops still busy at the stop");
	cr_assert_eq(rmq_fake_live_conns(), 0,
	    "%u connections still open after the stop", rmq_fake_live_conns());
	cr_assert_eq(atomic_load(&b->connections), 0,
	    "%u connections still counted", atomic_load(&b->connections));
	rcu_unregister_thread();
	atomic_store(&b->loops_up, 0);
	rmq_broker_fini(b);
	rmq_fake_reset();
}

struct rmq_fake_client *
rmq_test_client(unsigned worker)
{
	struct rmq_worker *w = rmq_test_node.workers[worker];
	return rmq_fake_connect(w->loop, rmq_worker_accept, &w->listeners[0]);
}

void
rmq_test_expect(struct rmq_fake_client *c, const uint8_t *want, size_t n,
    const char *file, int line)
{
	cr_assert_neq(rmq_fake_settle(), 0, "%s:%d: loops still busy", file,
	    line);
	if (c->out_len >= n && memcmp(c->out, want, n) == 0) {
		rmq_fake_take(c, NULL, n);
		return;
	}
	size_t shown = c->out_len < 64 ? c->out_len : 64;
	size_t wshown = n < 64 ? n : 64;
	char got[3 * 64 + 1], exp[3 * 64 + 1];
	cr_assert_fail("%s:%d: expected %zu bytes: %s\n got %zu bytes: %s%s",
	    file, line, n, rmq_test_hex(want, wshown, exp), c->out_len,
	    rmq_test_hex(c->out, shown, got), c->closed ? "(closed)" : "");
}

void
rmq_test_expect_nothing(struct rmq_fake_client *c, const char *file, int line)
{
	cr_assert_neq(rmq_fake_settle(), 0, "%s:%d: loops still busy", file,
	    line);
	char got[3 * 64 + 1];
	cr_assert_eq(c->out_len, 0,
	    "%s:%d: expected nothing, got %zu bytes: %s", file, line,
	    c->out_len,
	    rmq_test_hex(c->out, c->out_len < 64 ? c->out_len : 64, got));
}

void
rmq_test_expect_closed(struct rmq_fake_client *c, const char *file, int line)
{
	rmq_test_expect_nothing(c, file, line);
	if (!c->closed && c->shut) {
		/* Ended gracefully: the client reads the end of stream and
		 * closes its side, as a client does, and the broker closes. */
		rmq_fake_hangup(c);
		rmq_fake_settle();
	}
	cr_assert(c->closed, "%s:%d: the connection is still open%s", file,
	    line,
	    c->shut ? " (shut down, then open after the client's end)" : "");
}

size_t
rmq_test_next_packet(struct rmq_fake_client *c, uint8_t *buf, size_t cap)
{
	cr_assert_neq(rmq_fake_settle(), 0, "loops still busy");
	/* Fixed header: type byte, then a Variable Byte Integer. */
	size_t len = 0, i = 1;
	for (unsigned shift = 0; i < c->out_len && i <= 4; i++, shift += 7) {
		len |= (size_t)(c->out[i] & 0x7F) << shift;
		if (!(c->out[i] & 0x80))
			break;
	}
	if (i >= c->out_len || c->out_len < i + 1 + len)
		return 0;
	size_t n = i + 1 + len;
	cr_assert_leq(n, cap, "a packet of %zu bytes, larger than %zu", n, cap);
	return rmq_fake_take(c, buf, n);
}

struct rmq_session *
rmq_test_session_of(struct rmq_fake_client *c)
{
	return c->conn ? ((struct rmq_conn *)c->conn)->data : NULL;
}

void
rmq_test_send_packet(struct rmq_fake_client *c, const struct rmq_packet *pkt,
    uint8_t version)
{
	uint8_t small[1024];
	size_t size = rmq_codec_size(pkt, version);
	uint8_t *buf = size > sizeof(small) ? malloc(size) : small;
	cr_assert_not_null(buf);
	long n = rmq_codec_encode(pkt, version, buf,
	    size > sizeof(small) ? size : sizeof(small));
	cr_assert_gt(n, 0, "packet type %u not encoded at version %u",
	    pkt->type, version);
	rmq_fake_send(c, buf, (size_t)n);
	if (buf != small)
		free(buf);
}

size_t
rmq_test_encode(const struct rmq_packet *pkt, uint8_t version, uint8_t *buf,
    size_t cap)
{
	size_t n = rmq_codec_size(pkt, version);
	cr_assert_leq(n, cap);
	cr_assert_eq(rmq_codec_encode(pkt, version, buf, n), (long)n);
	return n;
}

size_t
rmq_test_connect_bytes(const char *id, int clean, uint8_t *buf, size_t cap)
{
	struct rmq_packet p = { .type = RMQ_CONNECT };
	p.connect.version = RMQ_V311;
	p.connect.clean = (uint8_t)clean;
	p.connect.client_id = rmq_test_str(id);
	return rmq_test_encode(&p, RMQ_V311, buf, cap);
}

size_t
rmq_test_subscribe_bytes(const char *filter, uint8_t *buf, size_t cap)
{
	struct rmq_sub_entry e = { .filter = rmq_test_str(filter) };
	struct rmq_packet p = { .type = RMQ_SUBSCRIBE, .flags = 2 };
	p.subscribe.packet_id = 1;
	p.subscribe.count = 1;
	p.subscribe.entries = &e;
	return rmq_test_encode(&p, RMQ_V311, buf, cap);
}

size_t
rmq_test_publish_bytes(const char *topic, const uint8_t *payload, size_t n,
    uint8_t *buf, size_t cap)
{
	struct rmq_packet p = { .type = RMQ_PUBLISH };
	p.publish.topic = rmq_test_str(topic);
	p.publish.payload =
	    (struct rmq_str){ (const char *)payload, (uint32_t)n };
	return rmq_test_encode(&p, RMQ_V311, buf, cap);
}

struct rmq_fake_client *
rmq_test_connect_kept(unsigned worker, uint8_t version, const char *id,
    int *present)
{
	struct rmq_fake_client *c = rmq_test_client(worker);
	struct rmq_packet p = { .type = RMQ_CONNECT };
	p.connect.version = version;
	p.connect.client_id = rmq_test_str(id);
	if (version == RMQ_V5) {
		RMQ_PROP_SET(&p.connect.props, RMQ_PROP_SESSION_EXPIRY);
		p.connect.props.session_expiry = 3600;
	}
	rmq_test_send_packet(c, &p, version);
	uint8_t ack[64];
	size_t n = rmq_test_next_packet(c, ack, sizeof(ack));
	cr_assert(n >= 4 && ack[0] == 0x20 && ack[3] == 0, "CONNACK for %s",
	    id);
	*present = ack[2] & 1;
	return c;
}

struct rmq_fake_client *
rmq_test_connect(unsigned worker, uint8_t version, const char *id, int clean,
    int *present)
{
	struct rmq_fake_client *c = rmq_test_client(worker);
	struct rmq_packet p = { .type = RMQ_CONNECT };
	p.connect.version = version;
	p.connect.clean = (uint8_t)clean;
	p.connect.client_id = rmq_test_str(id);
	rmq_test_send_packet(c, &p, version);
	uint8_t ack[256];
	size_t n = rmq_test_next_packet(c, ack, sizeof(ack));
	char hex[3 * 8 + 1];
	cr_assert(n >= 4 && ack[0] == 0x20 && ack[3] == 0, "CONNACK for %s: %s",
	    id, rmq_test_hex(ack, n < 8 ? n : 8, hex));
	if (present)
		*present = ack[2] & 1;
	return c;
}

void
rmq_test_connect_refused(unsigned worker, uint8_t version, const char *id,
    uint8_t code, const char *file, int line)
{
	struct rmq_fake_client *c = rmq_test_client(worker);
	struct rmq_packet p = { .type = RMQ_CONNECT };
	p.connect.version = version;
	p.connect.clean = 1;
	p.connect.client_id = rmq_test_str(id);
	rmq_test_send_packet(c, &p, version);
	const uint8_t v5[] = { 0x20, 3, 0, code, 0 },
		      v3[] = { 0x20, 2, 0, code };
	if (version == RMQ_V5)
		rmq_test_expect(c, v5, sizeof(v5), file, line);
	else
		rmq_test_expect(c, v3, sizeof(v3), file, line);
	rmq_test_expect_closed(c, file, line);
}

void
rmq_test_subscribe(struct rmq_fake_client *c, uint8_t version,
    const char *filter, uint8_t qos, uint8_t granted)
{
	struct rmq_sub_entry e = { .filter = rmq_test_str(filter), .qos = qos };
	struct rmq_packet p = { .type = RMQ_SUBSCRIBE, .flags = 2 };
	p.subscribe.packet_id = 1;
	p.subscribe.count = 1;
	p.subscribe.entries = &e;
	rmq_test_send_packet(c, &p, version);
	const uint8_t v5[] = { 0x90, 4, 0, 1, 0, granted },
		      v3[] = { 0x90, 3, 0, 1, granted };
	if (version == RMQ_V5)
		rmq_test_expect(c, v5, sizeof(v5), __FILE__, __LINE__);
	else
		rmq_test_expect(c, v3, sizeof(v3), __FILE__, __LINE__);
}

void
rmq_test_publish(struct rmq_fake_client *c, uint8_t version, const char *topic,
    const char *payload, uint8_t qos, uint16_t pid)
{
	struct rmq_packet p = { .type = RMQ_PUBLISH };
	p.publish.qos = qos;
	p.publish.packet_id = pid;
	p.publish.topic = rmq_test_str(topic);
	p.publish.payload = rmq_test_str(payload);
	rmq_test_send_packet(c, &p, version);
}
