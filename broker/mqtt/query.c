/* broker/mqtt/query.c: the node's sessions as the admin API asks about
 * them (node.h's rmq_node_query): listed, shown, their connections
 * closed (kick) or the sessions ended (drop).
 *
 * Sessions belong to their workers, so a question goes to the workers'
 * inboxes and each answers for its own sessions on its own thread; the
 * last to answer hands the whole answer on.  A question about one client
 * goes to the worker its identifier is registered on only.  The answer is
 * JSON text, written here so that the layers above only pass it on.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "cluster.h"
#include "durable.h"
#include "log.h"
#include "registry.h"
#include "retain.h"
#include "text.h"
#include "utf8.h"
#include "worker_impl.h"

struct rmq_query {
	struct rmq_query_args a; /* its strings are in `bytes` */
	rmq_query_done done;
	void *arg;
	atomic_uint left; /* workers yet to answer */
	atomic_uint listed; /* LIST: sessions taken so far */
	atomic_int truncated; /* LIST: more than RMQ_QUERY_LIST_MAX */
	pthread_mutex_t mu;
	struct rmq_text out;
	unsigned found;
	char bytes[];
};

static const char *const state_names[] = {
	[RMQ_SESS_CONNECTING] = "connecting",
	[RMQ_SESS_LIVE] = "connected",
	[RMQ_SESS_CLOSING] = "closing",
	[RMQ_SESS_OFFLINE] = "offline",
	[RMQ_SESS_PARKED] = "taking_over",
	[RMQ_SESS_AUTHENTICATING] = "authenticating",
	[RMQ_SESS_REFUSING] = "refused",
	[RMQ_SESS_CLAIMING] = "claiming",
	[RMQ_SESS_MOVING] = "moving",
};

static const char *
version_name(uint8_t v)
{
	return v == RMQ_V5 ? "5.0" : v == RMQ_V311 ? "3.1.1" : "3.1";
}

/* One session as a JSON object; with its subscriptions listed when
 * `full` (else their count). */
static void
session_json(struct rmq_text *t, const struct rmq_session *s, int full,
    const char *node)
{
	char addr[64] = "";
	RMQ_TEXT_LIT(t, "{\"client_id\":");
	rmq_text_json_str(t, s->client_id, s->client_id_len);
	if (node) {
		RMQ_TEXT_LIT(t, ",\"node\":");
		rmq_text_json_str(t, node, strlen(node));
	}
	rmq_text_printf(t, ",\"state\":\"%s\",\"connected\":%s",
	    s->state < sizeof(state_names) / sizeof(state_names[0]) &&
		    state_names[s->state]
		? state_names[s->state]
		: "unknown",
	    s->conn && s->state == RMQ_SESS_LIVE ? "true" : "false");
	if (s->conn &&
	    rmq_conn_peer(s->conn, RMQ_PEER_ADDR, addr, sizeof(addr)) == 0) {
		RMQ_TEXT_LIT(t, ",\"address\":");
		rmq_text_json_str(t, addr, strlen(addr));
	}
	if (s->rare && s->rare->user) {
		RMQ_TEXT_LIT(t, ",\"user\":");
		rmq_text_json_str(t, s->rare->user, s->rare->user_len);
	}
	rmq_text_printf(t,
	    ",\"protocol\":\"%s\",\"keepalive\":%u,\"session_expiry\":%lld,"
	    "\"queued\":%u,\"queued_bytes\":%llu,\"inflight\":%u,"
	    "\"worker\":%u",
	    version_name(s->version), s->keepalive,
	    s->session_expiry == 0xFFFFFFFFu ? -1LL
					     : (long long)s->session_expiry,
	    s->pend_len, (unsigned long long)s->pend_bytes, s->infl_len,
	    s->w->id);
	if (!full) {
		rmq_text_printf(t, ",\"subscriptions\":%u}", s->nsubs);
		return;
	}
	RMQ_TEXT_LIT(t, ",\"subscriptions\":[");
	for (uint32_t i = 0; i < s->nsubs; i++) {
		const struct rmq_subrec *r = &s->subs[i];
		if (i)
			RMQ_TEXT_LIT(t, ",");
		RMQ_TEXT_LIT(t, "{\"filter\":");
		rmq_text_json_str(t, r->filter, r->len);
		rmq_text_printf(t,
		    ",\"qos\":%u,\"no_local\":%s,\"retain_as_published\":%s,"
		    "\"retain_handling\":%u,\"subscription_id\":%u}",
		    r->opt.qos,
		    r->opt.flags & RMQ_SUB_NO_LOCAL ? "true" : "false",
		    r->opt.flags & RMQ_SUB_RETAIN_AS_PUBLISHED ? "true"
							       : "false",
		    r->opt.retain_handling, r->opt.subid);
	}
	RMQ_TEXT_LIT(t, "]}");
}

static int
contains(const char *s, size_t n, const char *part, size_t k)
{
	if (k == 0)
		return 1;
	for (size_t i = 0; i + k <= n; i++)
		if (memcmp(s + i, part, k) == 0)
			return 1;
	return 0;
}

/* A session LIST shows: one a client identifier names here. */
static int
list_takes(const struct rmq_query_args *a, const struct rmq_session *s)
{
	if (!s->registered || s->client_id == NULL)
		return 0;
	int connected = s->conn != NULL && s->state == RMQ_SESS_LIVE;
	if (a->connected >= 0 && connected != a->connected)
		return 0;
	if (!contains(s->client_id, s->client_id_len, a->match, a->match_len))
		return 0;
	if (a->user != NULL &&
	    (s->rare == NULL || s->rare->user == NULL ||
		s->rare->user_len != a->user_len ||
		memcmp(s->rare->user, a->user, a->user_len) != 0))
		return 0;
	return 1;
}

/* The session named by the question's identifier, here; NULL when it is
 * not (it left meanwhile). */
static struct rmq_session *
named(struct rmq_worker *w, const struct rmq_query_args *a, uint64_t key)
{
	struct rmq_session *s = rmq_worker_session(w, key);
	if (s == NULL || !s->registered || s->client_id_len != a->id_len ||
	    memcmp(s->client_id, a->id, a->id_len) != 0)
		return NULL;
	return s;
}

/* Kick: the connection closed (5.0: DISCONNECT 0x98), the session kept
 * as its expiry says, the will as the connection's end says
 * [MQTT-3.1.2-8].  Drop: the same, and the session ends with it; one
 * without a connection ends now (its delayed will goes out, as a
 * session's end sends it [MQTT-3.1.3-9]). */
static int
act(struct rmq_session *s, enum rmq_query_op op)
{
	if (s->state == RMQ_SESS_LIVE || s->state == RMQ_SESS_CLOSING) {
		if (op == RMQ_QUERY_DROP) {
			s->session_expiry = 0;
			s->clean = 1;
		}
		if (s->state == RMQ_SESS_LIVE)
			rmq_session_disconnect(s, RMQ_RC_ADMINISTRATIVE_ACTION);
		return 1;
	}
	if (s->state != RMQ_SESS_OFFLINE)
		return 0; /* connecting, or moving: asked again later */
	if (op == RMQ_QUERY_KICK)
		return 1; /* no connection: nothing to close */
	if (s->will_pending || s->will)
		rmq_session_publish_will(s);
	rmq_session_unstore(s);
	rmq_session_destroy(s);
	return 1;
}

void
rmq_worker_query(struct rmq_worker *w, struct rmq_query *q, uint64_t key)
{
	struct rmq_text mine = { 0 };
	unsigned found = 0;
	const struct rmq_query_args *a = &q->a;
	if (w != NULL && a->op == RMQ_QUERY_LIST) {
		for (uint32_t i = 0; i < w->table_used; i++) {
			const struct rmq_session *s = w->table[i];
			if (s == NULL || !list_takes(a, s))
				continue;
			if (atomic_fetch_add(&q->listed, 1) >=
			    RMQ_QUERY_LIST_MAX) {
				atomic_store(&q->truncated, 1);
				break;
			}
			if (found)
				RMQ_TEXT_LIT(&mine, ",");
			session_json(&mine, s, 0, a->node);
			found++;
		}
	} else if (w != NULL) {
		struct rmq_session *s = named(w, a, key);
		if (s != NULL && a->op == RMQ_QUERY_SHOW) {
			session_json(&mine, s, 1, a->node);
			found = 1;
		} else if (s != NULL) {
			rmq_log(RMQ_LOG_NOTICE,
			    "client %.*s: %s by the admin API",
			    s->client_id_len, s->client_id,
			    a->op == RMQ_QUERY_KICK ? "disconnected"
						    : "session dropped");
			found = (unsigned)act(s, a->op);
		}
	}
	pthread_mutex_lock(&q->mu);
	if (mine.failed) {
		q->out.failed = 1;
	} else if (found && mine.len) {
		if (q->found && q->out.len)
			RMQ_TEXT_LIT(&q->out, ",");
		rmq_text_put(&q->out, mine.p, mine.len);
	}
	q->found += found;
	pthread_mutex_unlock(&q->mu);
	rmq_text_free(&mine);
	if (atomic_fetch_sub(&q->left, 1) != 1)
		return;
	/* The last answer: the whole goes on. */
	if (q->out.failed)
		q->done(q->arg, -ENOMEM, NULL, 0);
	else if (atomic_load(&q->truncated))
		q->done(q->arg, RMQ_QUERY_TRUNCATED | (int)q->found, q->out.p,
		    q->out.len);
	else
		q->done(q->arg, (int)q->found, q->out.p, q->out.len);
	q->out.p = NULL;
	pthread_mutex_destroy(&q->mu);
	free(q);
}

int
rmq_node_query(struct rmq_broker *b, const struct rmq_query_args *a,
    rmq_query_done done, void *arg)
{
	uint64_t key = 0;
	if (a->op != RMQ_QUERY_LIST &&
	    !rmq_registry_find(b->registry, a->id, a->id_len, &key)) {
		done(arg, 0, NULL, 0);
		return 0;
	}
	size_t node_len = a->node ? strlen(a->node) : 0;
	size_t nbytes = a->id_len + a->match_len + a->user_len + node_len + 4;
	struct rmq_query *q = calloc(1, sizeof(*q) + nbytes);
	unsigned n = a->op == RMQ_QUERY_LIST ? b->nworkers : 1;
	struct rmq_inbox_msg *m[RMQ_MAX_WORKERS] = { 0 };
	for (unsigned i = 0; q != NULL && i < n; i++)
		if ((m[i] = calloc(1, sizeof(*m[i]))) == NULL)
			n = 0;
	if (q == NULL || n == 0) {
		for (unsigned i = 0; i < RMQ_MAX_WORKERS; i++)
			free(m[i]);
		free(q);
		return -ENOMEM;
	}
	q->a = *a;
	char *p = q->bytes;
	q->a.id = memcpy(p, a->id ? a->id : "", a->id_len);
	p += a->id_len + 1;
	q->a.match = memcpy(p, a->match ? a->match : "", a->match_len);
	p += a->match_len + 1;
	q->a.user = a->user ? memcpy(p, a->user, a->user_len) : NULL;
	p += a->user_len + 1;
	q->a.node = a->node ? memcpy(p, a->node, node_len + 1) : NULL;
	q->done = done;
	q->arg = arg;
	atomic_init(&q->left, n);
	pthread_mutex_init(&q->mu, NULL);
	for (unsigned i = 0; i < n; i++) {
		unsigned to = a->op == RMQ_QUERY_LIST ? i : RMQ_KEY_WORKER(key);
		m[i]->kind = RMQ_INBOX_QUERY;
		m[i]->query.q = q;
		m[i]->query.key = key;
		rmq_worker_post(b->workers[to], m[i]);
	}
	return 0;
}

/* The question on the wire: op, connected (+1), then id, match and user,
 * each u16 length first (user 0xFFFF: none). */
size_t
rmq_query_encode(const struct rmq_query_args *a, uint8_t *buf, size_t cap)
{
	size_t need = 2 + 6 + a->id_len + a->match_len + a->user_len;
	if (need > cap || a->id_len > 0xFFFE || a->match_len > 0xFFFE ||
	    a->user_len > 0xFFFE)
		return 0;
	uint8_t *p = buf;
	*p++ = (uint8_t)a->op;
	*p++ = (uint8_t)(a->connected + 1);
	const char *part[3] = { a->id, a->match, a->user };
	size_t len[3] = { a->id_len, a->match_len, a->user_len };
	for (int i = 0; i < 3; i++) {
		size_t n = part[i] ? len[i] : i == 2 ? 0xFFFF : 0;
		*p++ = (uint8_t)(n >> 8);
		*p++ = (uint8_t)n;
		if (part[i] && len[i])
			memcpy(p, part[i], len[i]);
		p += part[i] ? len[i] : 0;
	}
	return (size_t)(p - buf);
}

int
rmq_cluster_query(struct rmq_broker *b, const char *node, const uint8_t *req,
    size_t len, rmq_query_done done, void *arg)
{
	struct rmq_query_args a = { .node = node };
	if (len < 2 || req[0] > RMQ_QUERY_DROP || req[1] > 2)
		return -EINVAL;
	a.op = (enum rmq_query_op)req[0];
	a.connected = (int)req[1] - 1;
	const uint8_t *p = req + 2, *end = req + len;
	const char **part[3] = { &a.id, &a.match, &a.user };
	size_t *plen[3] = { &a.id_len, &a.match_len, &a.user_len };
	for (int i = 0; i < 3; i++) {
		if (end - p < 2)
			return -EINVAL;
		size_t n = (size_t)p[0] << 8 | p[1];
		p += 2;
		if (n == 0xFFFF) {
			if (i != 2)
				return -EINVAL;
			continue;
		}
		if ((size_t)(end - p) < n)
			return -EINVAL;
		*part[i] = (const char *)p;
		*plen[i] = n;
		p += n;
	}
	if (p != end || (a.op != RMQ_QUERY_LIST && a.id_len == 0))
		return -EINVAL;
	if (a.match == NULL)
		a.match = "";
	return rmq_node_query(b, &a, done, arg);
}

/* ---- retained messages ---- */

struct retained_out {
	struct rmq_text *t;
	size_t limit, n;
	uint64_t now;
};

#define RETAINED_PAYLOAD_SHOWN 4096

static void
retained_one(void *arg, struct rmq_msg *m)
{
	struct retained_out *o = arg;
	if (o->n++ >= o->limit)
		return;
	struct rmq_text *t = o->t;
	if (o->n > 1)
		RMQ_TEXT_LIT(t, ",");
	RMQ_TEXT_LIT(t, "{\"topic\":");
	rmq_text_json_str(t, m->topic.p, m->topic.len);
	rmq_text_printf(t, ",\"qos\":%u,\"bytes\":%u,\"payload\":", m->qos,
	    m->payload.len);
	if (m->payload.len <= RETAINED_PAYLOAD_SHOWN &&
	    rmq_utf8_valid(m->payload.p, m->payload.len) &&
	    !memchr(m->payload.p, '\0', m->payload.len))
		rmq_text_json_str(t, m->payload.p, m->payload.len);
	else
		RMQ_TEXT_LIT(t, "null");
	if (m->has_expiry)
		rmq_text_printf(t, ",\"expires_in\":%llu}",
		    (unsigned long long)(m->expire_ms > o->now
			    ? (m->expire_ms - o->now + 999) / 1000
			    : 0));
	else
		RMQ_TEXT_LIT(t, ",\"expires_in\":null}");
}

size_t
rmq_node_retained_json(struct rmq_broker *b, const char *filter, size_t len,
    size_t limit, struct rmq_text *t)
{
	struct retained_out o = { t, limit, 0, rmq_loop_clock_ms() };
	(void)rmq_retain_match(b->retain, filter, len, o.now, retained_one, &o);
	return o.n;
}

static void
count_one(void *arg, struct rmq_msg *m)
{
	(void)m;
	++*(size_t *)arg;
}

int
rmq_node_retained_delete(struct rmq_broker *b, const char *topic, size_t len)
{
	if (len == 0 || len > 65535 || !rmq_utf8_valid(topic, len) ||
	    memchr(topic, '+', len) || memchr(topic, '#', len))
		return -EINVAL;
	size_t found = 0;
	(void)rmq_retain_match(b->retain, topic, len, rmq_loop_clock_ms(),
	    count_one, &found);
	if (found == 0)
		return -ENOENT;
	struct rmq_publish p = { .qos = 0, .retain = 1 };
	p.topic = (struct rmq_str){ topic, (uint32_t)len };
	p.payload = (struct rmq_str){ "", 0 };
	struct rmq_msg *m = rmq_msg_new(&p, 0, rmq_loop_clock_ms());
	struct rmq_inbox_msg *im = m ? calloc(1, sizeof(*im)) : NULL;
	if (im == NULL) {
		if (m)
			rmq_msg_rele(m);
		return -ENOMEM;
	}
	im->kind = RMQ_INBOX_RETAIN_CLEAR;
	im->clear = m;
	rmq_worker_post(b->workers[0], im);
	return 0;
}
