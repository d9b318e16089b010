/* test/fuzz/fuzz_session.c: libFuzzer target for the whole session path.
 *
 * A node of two workers runs on the fake loop backend (no sockets, no
 * threads, a clock the input moves).  The input is a script of operations
 * for up to eight clients: connect on a worker, send bytes, hang up, stall
 * or resume a client's reads, answer the broker's QoS 1 and 2 deliveries
 * or not, settle the loops, move the clock, and how an authenticator
 * answers CONNECTs (allow, deny, or later, with the verdicts given when
 * the input says).  Every client's bytes go
 * through decode, the handlers, routing and encode as a real client's do.
 *
 * What is checked, besides ASan and UBSan:
 * - every byte the broker writes to a client decodes as valid MQTT of that
 *   client's version, and no new QoS 1/2 delivery reuses a packet id the
 *   connection still has in flight [MQTT-2.2.1-3];
 * - every session's queues agree with themselves after each settle: queue
 *   length and bytes within the configured bounds and equal to what the
 *   queue holds, the in-flight window within its size, each slot's message
 *   held or released as its state says, no packet id twice;
 * - at the end the node stops with every connection closed and freed, and
 *   is freed; LeakSanitizer then finds every message, QoS 1/2 ones
 *   included, released exactly once.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <urcu-qsbr.h>

#include "auth.h"
#include "broker.h"
#include "codec.h"
#include "log.h"
#include "rmq_fake_loop.h"
#include "rmq_test_broker.h"
#include "worker_impl.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                            \
	do {                                                                   \
		if (!(cond)) {                                                 \
			fprintf(stderr, "fuzz_session: %s:%d: %s\n", __FILE__, \
			    __LINE__, #cond);                                  \
			abort();                                               \
		}                                                              \
	} while (0)

#define MAX_CLIENTS 8

struct fz_client {
	struct rmq_fake_client *fc;
	unsigned worker;
	uint8_t sent[64]; /* the first bytes sent: the CONNECT's level */
	size_t nsent;
	struct rmq_decoder in; /* what the broker wrote */
	int in_ready;
	struct rmq_decoder out; /* what the client sent */
	int out_ready, out_dead;
	uint8_t outstanding[65536 / 8]; /* ids the broker has in flight */
	int auto_ack;
};

static struct rmq_broker fz_node;

/* The authenticator: mode 0 lets everyone in, 1 refuses, 2 answers
 * later; verdicts held back wait here until an operation gives them. */
#define MAX_PENDING 16
static struct {
	int mode;
	unsigned n;
	struct {
		void (*done)(void *, enum rmq_auth_verdict, uint8_t);
		void *arg;
	} pending[MAX_PENDING];
} fz_auth;

static enum rmq_auth_verdict
fz_auth_connect(void *ctx, const struct rmq_auth_request *rq, uint8_t *reason)
{
	(void)ctx;
	if (fz_auth.mode == 1 ||
	    (fz_auth.mode == 2 && fz_auth.n == MAX_PENDING)) {
		*reason = RMQ_RC_NOT_AUTHORIZED;
		return RMQ_AUTH_DENY;
	}
	if (fz_auth.mode == 2) {
		fz_auth.pending[fz_auth.n].done = rq->done;
		fz_auth.pending[fz_auth.n].arg = rq->done_arg;
		fz_auth.n++;
		return RMQ_AUTH_LATER;
	}
	return RMQ_AUTH_ALLOW;
}

static const struct rmq_authenticator fz_authenticator = {
	.connect = fz_auth_connect,
};

/* Give the oldest verdict held back. */
static void
fz_auth_give(int allow)
{
	if (fz_auth.n == 0)
		return;
	fz_auth.pending[0].done(fz_auth.pending[0].arg,
	    allow ? RMQ_AUTH_ALLOW : RMQ_AUTH_DENY, RMQ_RC_NOT_AUTHORIZED);
	memmove(&fz_auth.pending[0], &fz_auth.pending[1],
	    --fz_auth.n * sizeof(fz_auth.pending[0]));
}
static int fz_trace; /* FUZZ_SESSION_TRACE set: what each client got */
static struct fz_client fz_clients[MAX_CLIENTS];
static unsigned fz_n;

static void
fz_config(struct rmq_config *cfg)
{
	rmq_test_broker_config(cfg, 2);
	cfg->cpu_affinity = RMQ_AFFINITY_NONE;
	cfg->log_level = fz_trace ? RMQ_LOG_DEBUG : RMQ_LOG_ERROR;
	cfg->connection_messages = fz_trace;
	/* Small bounds, so that inputs reach them. */
	cfg->max_queued = 8;
	cfg->max_queued_bytes = 4096;
	cfg->max_inflight = 4;
	cfg->receive_maximum = 4;
	cfg->max_packet_size = 2048;
	cfg->topic_alias_max = 4;
}

static int
fz_bit(const uint8_t *set, uint16_t id)
{
	return set[id >> 3] >> (id & 7) & 1;
}

static void
fz_set(uint8_t *set, uint16_t id, int on)
{
	if (on)
		set[id >> 3] |= (uint8_t)(1u << (id & 7));
	else
		set[id >> 3] &= (uint8_t) ~(1u << (id & 7));
}

/* The version the broker answers this client in: the level of the CONNECT
 * it was sent when the protocol name is one the broker knows and the level
 * one it speaks; 3.1.1 (a refusal's form) for another level; 0 when no
 * answer can come (not MQTT, or nothing sent yet). */
static uint8_t
fz_version(const struct fz_client *c)
{
	const uint8_t *p = c->sent;
	size_t n = c->nsent, i = 1;
	if (n < 2 || p[0] != 0x10)
		return 0;
	while (i < n && (p[i] & 0x80) && i < 4)
		i++;
	i++; /* past the Remaining Length */
	if (i + 2 > n)
		return 0;
	size_t nl = (size_t)p[i] << 8 | p[i + 1];
	if (i + 2 + nl + 1 > n)
		return 0;
	const uint8_t *name = p + i + 2, level = p[i + 2 + nl];
	if (nl == 4 && memcmp(name, "MQTT", 4) == 0)
		return level == RMQ_V311 || level == RMQ_V5 ? level : RMQ_V311;
	if (nl == 6 && memcmp(name, "MQIsdp", 6) == 0)
		return level == RMQ_V31 ? RMQ_V31 : RMQ_V311;
	return 0;
}

static void
fz_send(struct fz_client *c, const uint8_t *b, size_t n)
{
	if (c->nsent < sizeof(c->sent)) {
		size_t k = sizeof(c->sent) - c->nsent;
		memcpy(c->sent + c->nsent, b, n < k ? n : k);
		c->nsent += n < k ? n : k;
	}
	rmq_fake_send(c->fc, b, n);
	/* What the client says about ids in flight: its acknowledgements,
	 * read as the broker reads them (a stream the broker refuses ends
	 * the connection, and with it the tracking). */
	if (!c->out_ready) {
		rmq_decoder_init(&c->out, RMQ_FROM_CLIENT, 0, 1u << 20);
		c->out_ready = 1;
	}
	size_t pos = 0;
	while (!c->out_dead && pos < n) {
		struct rmq_packet p;
		struct rmq_codec_err err;
		size_t used;
		int rc = rmq_decoder_next(&c->out, b + pos, n - pos, &used, &p,
		    &err);
		pos += used;
		if (rc == 0)
			break;
		if (rc < 0) {
			c->out_dead = 1;
			break;
		}
		if (p.type == RMQ_PUBACK || p.type == RMQ_PUBCOMP ||
		    (p.type == RMQ_PUBREC && p.ack.reason >= 0x80))
			fz_set(c->outstanding, p.ack.packet_id, 0);
	}
}

/* Read what the broker wrote to c: it must decode at c's version. */
static void
fz_take(struct fz_client *c)
{
	uint8_t buf[4096];
	size_t n;
	uint8_t v = fz_version(c);
	if (v == 0) {
		/* No CONNACK can have come: nothing may have been written. */
		CHECK(c->fc->out_len == 0);
		return;
	}
	if (!c->in_ready) {
		rmq_decoder_init(&c->in, RMQ_FROM_SERVER, v, RMQ_PACKET_MAX);
		c->in_ready = 1;
	}
	while ((n = rmq_fake_take(c->fc, buf, sizeof(buf))) > 0) {
		size_t pos = 0;
		while (pos < n) {
			struct rmq_packet p;
			struct rmq_codec_err err;
			size_t used;
			int rc = rmq_decoder_next(&c->in, buf + pos, n - pos,
			    &used, &p, &err);
			pos += used;
			if (rc == 0)
				break;
			if (rc < 0) {
				fprintf(stderr,
				    "fuzz_session: the broker wrote a packet its client cannot read (v%u): 0x%02x %s\n",
				    v, err.reason, err.msg ? err.msg : "");
				abort();
			}
			if (fz_trace)
				fprintf(stderr, "client %u <- %s\n",
				    (unsigned)(c - fz_clients),
				    rmq_packet_type_name(p.type));
			if (p.type == RMQ_PUBREL && c->auto_ack &&
			    !c->fc->closed) {
				uint16_t rid = p.ack.packet_id;
				uint8_t comp[4] = { 0x70, 2,
					(uint8_t)(rid >> 8), (uint8_t)rid };
				fz_send(c, comp, sizeof(comp));
				continue;
			}
			if (p.type != RMQ_PUBLISH || p.publish.qos == 0)
				continue;
			uint16_t id = p.publish.packet_id;
			/* [MQTT-2.2.1-3]: a new delivery takes an id that
			 * is free on this connection. */
			CHECK(p.publish.dup || !fz_bit(c->outstanding, id));
			fz_set(c->outstanding, id, 1);
			if (c->auto_ack && !c->fc->closed) {
				uint8_t ack[4] = { p.publish.qos == 1 ? 0x40
								      : 0x50,
					2, (uint8_t)(id >> 8), (uint8_t)id };
				fz_send(c, ack, sizeof(ack));
			}
		}
	}
}

/* Every session's queues agree with themselves. */
static void
fz_check_sessions(void)
{
	for (unsigned i = 0; i < fz_node.nworkers; i++) {
		struct rmq_worker *w = fz_node.workers[i];
		for (uint32_t k = 0; k < w->table_used; k++) {
			struct rmq_session *s = w->table[k];
			if (s == NULL)
				continue;
			CHECK(s->w == w);
			/* max_queued_messages bounds what is queued while
			 * offline (a session that leaves keeps its QoS 1/2
			 * queue, whatever its length); bytes bound it always,
			 * each message charged its size and its queue slot. */
			uint64_t bytes = 0;
			for (uint32_t j = 0; j < s->pend_len; j++) {
				struct rmq_qitem *it =
				    &s->pending[(s->pend_head + j) %
					s->pend_cap];
				CHECK(it->msg != NULL);
				CHECK(it->qos <= 2);
				bytes += it->msg->size + sizeof(*it);
			}
			CHECK(bytes == s->pend_bytes);
			CHECK(bytes <= w->cfg.max_queued_bytes);
			CHECK(s->infl_len <= s->win);
			uint8_t seen[65536 / 8] = { 0 };
			for (uint16_t j = 0; j < s->infl_len; j++) {
				struct rmq_outslot *o =
				    &s->inflight[(s->infl_head + j) % s->win];
				if (o->state == 0)
					continue;
				CHECK(o->pid != 0);
				/* A message acknowledged during a write is
				 * released when the write completes; its id
				 * may be in use again meanwhile. */
				int late = s->writing & RMQ_WRITING_LATE;
				CHECK(o->state != RMQ_OUT_DONE || late);
				if (o->state != RMQ_OUT_DONE) {
					CHECK(!fz_bit(seen, o->pid));
					fz_set(seen, o->pid, 1);
				}
				CHECK(o->it.qos == 1 || o->it.qos == 2);
				/* A released QoS 2 message keeps its bytes until
				 * its PUBCOMP (its identity moves with its
				 * session: move.c). */
				if (o->state == RMQ_OUT_RELEASED)
					CHECK(o->it.qos == 2);
				CHECK(o->it.msg != NULL);
			}
		}
	}
}

static void
fz_settle(void)
{
	/* Answers sent while taking output need turns of their own. */
	for (int round = 0; round < 4; round++) {
		CHECK(rmq_fake_settle() != 0);
		fz_check_sessions();
		size_t before = 0;
		for (unsigned i = 0; i < fz_n; i++) {
			before += fz_clients[i].fc->in_len;
			fz_take(&fz_clients[i]);
		}
		size_t after = 0;
		for (unsigned i = 0; i < fz_n; i++)
			after += fz_clients[i].fc->in_len;
		if (after == before)
			break;
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int registered;
	if (!registered) {
		rmq_log_set(RMQ_LOG_ERROR, RMQ_LOG_TEXT);
		fz_trace = getenv("FUZZ_SESSION_TRACE") != NULL;
		if (fz_trace)
			rmq_log_set(RMQ_LOG_DEBUG, RMQ_LOG_TEXT);
		registered = 1;
	}
	struct rmq_config cfg;
	fz_config(&cfg);
	if (rmq_broker_init_on(&fz_node, &cfg, &rmq_fake_loop_ops) != 0)
		abort();
	rcu_register_thread();
	memset(fz_clients, 0, sizeof(fz_clients));
	fz_n = 0;
	memset(&fz_auth, 0, sizeof(fz_auth));
	fz_node.auth = &fz_authenticator;

	size_t i = 0;
	unsigned ops = 0;
	while (i < size && ops++ < 512) {
		uint8_t op = data[i] & 0x0F, arg = data[i] >> 4;
		i++;
		struct fz_client *c = fz_n ? &fz_clients[arg % fz_n] : NULL;
		switch (op) {
		case 0: /* a new connection */
			if (fz_n < MAX_CLIENTS) {
				struct fz_client *n = &fz_clients[fz_n++];
				struct rmq_worker *w =
				    fz_node.workers[arg % fz_node.nworkers];
				n->worker = arg % fz_node.nworkers;
				n->fc = rmq_fake_connect(w->loop,
				    rmq_worker_accept, &w->listeners[0]);
			}
			break;
		case 1: /* bytes from a client: a length, then the bytes */
		case 2: {
			if (i >= size)
				break;
			size_t len = data[i++];
			if (op == 2)
				len = len << 4 | (len & 15); /* up to ~4 KiB */
			if (len > size - i)
				len = size - i;
			if (c && !c->fc->closed)
				fz_send(c, data + i, len);
			i += len;
			break;
		}
		case 3: /* the clock moves */
			if (i < size)
				rmq_fake_advance((uint64_t)data[i++] * 250);
			fz_settle();
			break;
		case 4:
			if (c)
				rmq_fake_hangup(c->fc);
			break;
		case 5:
			if (c)
				rmq_fake_stall(c->fc, !c->fc->stalled);
			break;
		case 6:
			if (c)
				c->auto_ack = !c->auto_ack;
			break;
		case 7:
			if (c)
				c->fc->read_max = arg ? (size_t)arg * 3 : 0;
			break;
		case 8: /* how CONNECTs are answered from now on */
			fz_auth.mode = arg % 3;
			break;
		case 9: /* a verdict held back is given */
			fz_auth_give(arg & 1);
			break;
		default: fz_settle(); break;
		}
	}
	fz_settle();
	/* Verdicts still held back are given: their memory is the
	 * node's. */
	while (fz_auth.n)
		fz_auth_give(1);
	fz_settle();

	/* The stop: every connection closes and is freed. */
	for (unsigned k = 0; k < fz_n; k++)
		rmq_fake_stall(fz_clients[k].fc, 0);
	for (unsigned k = 0; k < fz_node.nworkers; k++)
		rmq_loop_stop(fz_node.workers[k]->loop);
	/* Past the shutdown grace, for connections whose writes stall. */
	rmq_fake_advance(cfg.shutdown_grace_ms + 1000);
	fz_settle();
	rmq_fake_advance(cfg.shutdown_grace_ms + 1000);
	fz_settle();
	CHECK(rmq_fake_live_conns() == 0);
	CHECK(atomic_load(&fz_node.connections) == 0);
	for (unsigned k = 0; k < fz_n; k++) {
		if (fz_clients[k].in_ready)
			rmq_decoder_fini(&fz_clients[k].in);
		if (fz_clients[k].out_ready)
			rmq_decoder_fini(&fz_clients[k].out);
	}
	rcu_unregister_thread();
	rmq_broker_fini(&fz_node);
	rmq_fake_reset();
	return 0;
}
