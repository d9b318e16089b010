/* broker/mqtt/connect.c: CONNECT and CONNACK: client identifiers, the
 * registry of sessions, taking over a session from another connection
 * (on this worker or another one), clean start and session expiry, the
 * will, and what the CONNACK tells a 5.0 client about this server.
 *
 * A CONNECT goes through five steps, each a function: check what this
 * server refuses whoever asks, authenticate (auth/auth.h: at once or
 * later), claim the client identifier (which may hand the connection to
 * another worker), apply it to the session, and answer with the CONNACK.
 * A refused client never reaches the claim, so it takes over nothing.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "auth.h"
#include "cluster.h"
#include "durable.h"
#include "guard.h"
#include "log.h"
#include "registry.h"
#include "worker_impl.h"

static void
connect_refuse(struct rmq_session *s, uint8_t v5_reason, uint8_t v3_code)
{
	struct rmq_packet ack = { .type = RMQ_CONNACK };
	rmq_count(&s->w->st.refused[v5_reason], 1);
	ack.connack.reason = s->version == RMQ_V5 ? v5_reason : v3_code;
	const char *ref = s->w->cfg.server_reference;
	if (s->version == RMQ_V5 && v5_reason == RMQ_RC_USE_ANOTHER_SERVER &&
	    ref[0]) {
		/* Where to go instead [MQTT-4.11]. */
		ack.connack.props.server_reference.p = ref;
		ack.connack.props.server_reference.len = (uint32_t)strlen(ref);
		RMQ_PROP_SET(&ack.connack.props, RMQ_PROP_SERVER_REFERENCE);
	}
	if (rmq_session_send(s, &ack) == 0) {
		rmq_session_close_after_write(s);
	} else {
		rmq_session_close(s);
	}
}

/* Where the client is, for the log: the socket's peer, or what a PROXY
 * protocol header said. */
static const char *
connect_from(struct rmq_session *s, char *buf, size_t len)
{
	if (s->conn == NULL ||
	    rmq_conn_peer(s->conn, RMQ_PEER_ADDR, buf, len) != 0)
		snprintf(buf, len, "an unknown address");
	return buf;
}

/* The client's IP without the port, into buf; NULL when unknown. */
static const char *
connect_host(struct rmq_session *s, char *buf, size_t len)
{
	if (s->conn == NULL ||
	    rmq_conn_peer(s->conn, RMQ_PEER_ADDR, buf, len) != 0)
		return NULL;
	char *colon = strrchr(buf, ':'); /* ADDRESS:PORT, [ADDRESS]:PORT */
	if (colon == NULL)
		return NULL;
	*colon = '\0';
	if (buf[0] == '[' && colon[-1] == ']') {
		colon[-1] = '\0';
		return buf + 1;
	}
	return buf;
}

/* Refused by the authenticator: said at info, with the identifier the
 * client gave (never what it sent to prove itself). */
static void
connect_auth_refused(struct rmq_session *s, struct rmq_str id, uint8_t reason)
{
	char from[64];
	rmq_count(&s->w->st.auth_failures, 1);
	if (s->w->cfg.connection_messages && id.p)
		rmq_log(RMQ_LOG_INFO,
		    "worker %u: client %.*s from %s refused: 0x%02x %s",
		    s->w->id, (int)id.len, id.p,
		    connect_from(s, from, sizeof(from)), reason,
		    rmq_reason_name(reason, RMQ_CONNACK));
	else if (s->w->cfg.connection_messages)
		rmq_log(RMQ_LOG_INFO,
		    "worker %u: a CONNECT from %s refused after its check: 0x%02x %s",
		    s->w->id, connect_from(s, from, sizeof(from)), reason,
		    rmq_reason_name(reason, RMQ_CONNACK));
	/* Guessing from one address gets slower (auth/guard.h): the
	 * refusal waits, and what the client sends meanwhile is dropped. */
	const char *host = connect_host(s, from, sizeof(from));
	uint32_t delay = host
	    ? rmq_guard_failed(s->w->b->guard, host, s->w->loop->now_ms)
	    : 0;
	if (delay && rmq_session_rare(s)) {
		s->rare->refuse_reason = reason;
		s->state = RMQ_SESS_REFUSING;
		/* The loop's clock counts whole milliseconds, read when the
		 * turn began: one more keeps the wait at least `delay`. */
		s->deadline_ms = s->w->loop->now_ms + delay + 1;
		if (s->w->cfg.connection_messages)
			rmq_log(RMQ_LOG_INFO,
			    "worker %u: refusals from %s held back %u ms",
			    s->w->id, host, delay);
		return;
	}
	connect_refuse(s, reason, rmq_reason_to_v3_connack(reason));
}

void
rmq_session_refuse_held(struct rmq_session *s)
{
	uint8_t reason = s->rare->refuse_reason;
	s->state = RMQ_SESS_CONNECTING;
	connect_refuse(s, reason, rmq_reason_to_v3_connack(reason));
}

/* A fresh identifier for a client that sent none. */
static int
connect_assign_id(struct rmq_session *s)
{
	char id[48];
	int n = snprintf(id, sizeof(id), "ringmq-%016llx%016llx",
	    (unsigned long long)s->w->b->id_nonce, (unsigned long long)s->key);
	s->client_id = malloc((size_t)n);
	if (s->client_id == NULL)
		return -ENOMEM;
	memcpy(s->client_id, id, (size_t)n);
	s->client_id_len = (uint16_t)n;
	return 0;
}

/* Add bytes after those kept to replay (connect_keep).  Returns 0, or
 * -ENOMEM. */
static int
connect_keep_more(struct rmq_session *s, const uint8_t *more, size_t n)
{
	struct rmq_session_rare *r = s->rare;
	if ((size_t)r->replay_len + n > UINT32_MAX)
		return -ENOMEM;
	uint8_t *bytes = realloc(r->replay, r->replay_len + n);
	if (bytes == NULL)
		return -ENOMEM;
	memcpy(bytes + r->replay_len, more, n);
	r->replay = bytes;
	r->replay_len += (uint32_t)n;
	return 0;
}

static void
connect_on_detached(struct rmq_conn *conn, struct rmq_conn_move *mv)
{
	struct rmq_session *s = conn->data;
	struct rmq_worker *w = s->w;
	struct rmq_inbox_msg *m = calloc(1, sizeof(*m));
	s->conn = NULL;
	/* What a layer decoded after the bytes kept goes after them. */
	if (m && mv->early_len &&
	    connect_keep_more(s, mv->early, mv->early_len) != 0) {
		free(m);
		m = NULL;
	}
	free(mv->early);
	mv->early = NULL;
	mv->early_len = 0;
	if (m == NULL) {
		rmq_worker_conn_gone(w, s->listener);
		rmq_conn_move_drop(mv);
	} else {
		m->kind = RMQ_INBOX_ADOPT;
		m->adopt.mv = *mv;
		m->adopt.listener = s->listener;
		m->adopt.bytes = s->rare->replay;
		m->adopt.len = s->rare->replay_len;
		m->adopt.key = s->rare->handoff_key;
		s->rare->replay = NULL;
		rmq_worker_post(w->b->workers[RMQ_KEY_WORKER(m->adopt.key)], m);
	}
	rmq_session_destroy(s);
}

/* Keep the CONNECT (as the encoder writes it back) and what followed it
 * in the session, to be read again: after a hand-off to the worker of the
 * session, or after a verdict that came later.  Returns 0, or -ENOMEM. */
static int
connect_keep(struct rmq_session *s, const struct rmq_packet *p,
    const uint8_t *rest, size_t rest_len)
{
	size_t n = rmq_codec_size(p, p->connect.version);
	struct rmq_session_rare *r = rmq_session_rare(s);
	uint8_t *bytes = n && r ? malloc(n + rest_len) : NULL;
	if (bytes == NULL ||
	    rmq_codec_encode(p, p->connect.version, bytes, n) != (long)n) {
		free(bytes);
		return -ENOMEM;
	}
	if (rest_len)
		memcpy(bytes + n, rest, rest_len);
	free(r->replay);
	r->replay = bytes;
	r->replay_len = (uint32_t)(n + rest_len);
	return 0;
}

/* The client's session lives at `owner`: hand the connection there with
 * its CONNECT and what followed it. */
static void
connect_handoff(struct rmq_session *s, uint64_t owner,
    const struct rmq_packet *p, const uint8_t *rest, size_t rest_len)
{
	if (connect_keep(s, p, rest, rest_len) != 0) {
		connect_refuse(s, RMQ_RC_SERVER_UNAVAILABLE,
		    RMQ_V3_REFUSED_SERVER_UNAVAILABLE);
		return;
	}
	s->rare->handoff_key = owner;
	s->handed_off = 1;
	rmq_log(RMQ_LOG_DEBUG,
	    "worker %u: client %.*s handed to worker %u, where its session is",
	    s->w->id, s->client_id_len, s->client_id, RMQ_KEY_WORKER(owner));
	rmq_conn_detach(s->conn, connect_on_detached);
}

/* The Response Information for a client: the configured template with
 * "%c" replaced by the client identifier.  Writes into out when it is not
 * NULL; returns the length. */
static size_t
connect_response_info(const char *tmpl, const char *id, size_t idlen, char *out)
{
	size_t n = 0;
	for (const char *t = tmpl; *t; t++) {
		if (t[0] == '%' && t[1] == 'c') {
			if (out)
				memcpy(out + n, id, idlen);
			n += idlen;
			t++;
		} else {
			if (out)
				out[n] = *t;
			n++;
		}
	}
	return n;
}

/* The will as a message, ready to route. */
static int
connect_build_will(struct rmq_session *s, const struct rmq_connect *c)
{
	struct rmq_publish will = {
		.qos = c->will_qos,
		.retain = c->will_retain,
		.topic = c->will_topic,
		.payload = c->will_payload,
		.props = c->will_props,
	};
	/* Will Delay is for us, not for the subscribers. */
	will.props.present &= ~((uint64_t)1 << RMQ_PROP_WILL_DELAY);
	s->will = rmq_msg_new(&will, s->key, s->w->loop->now_ms);
	if (s->will == NULL)
		return -ENOMEM;
	s->will_delay = RMQ_PROP_HAS(&c->will_props, RMQ_PROP_WILL_DELAY)
	    ? c->will_props.will_delay
	    : 0;
	return 0;
}

/* What the steps of one CONNECT hand each other. */
struct connect_plan {
	uint16_t keepalive; /* as granted */
	uint8_t server_keepalive; /* granted differs from asked (5.0) */
	uint8_t assigned; /* the server gives the identifier */
	uint8_t resumed; /* the registry found this session */
	uint8_t present; /* Session Present */
	uint32_t granted_expiry;
};

static int connect_identity(struct rmq_session *s, char *buf, size_t len);

/* Whether the node offers enhanced authentication by method m here: its
 * authenticator does, and the listener does not take user names from
 * client certificates (whose name would then be the user's). */
static int
connect_method_offered(struct rmq_session *s, const struct rmq_str *m)
{
	const struct rmq_authenticator *auth = s->w->b->auth;
	char identity[8];
	return auth && auth->method && m->len == strlen(auth->method) &&
	    memcmp(m->p, auth->method, m->len) == 0 &&
	    connect_identity(s, identity, sizeof(identity)) == 0;
}

/* Step 1: what the CONNECT asks that this server refuses whoever asks.
 * Returns 0 to go on, or -1 after a refusal. */
static int
connect_check(struct rmq_session *s, const struct rmq_connect *c,
    struct connect_plan *plan)
{
	struct rmq_worker *w = s->w;
	const struct rmq_config *cfg = &w->cfg;
	if (w->loop->stop_seen) {
		/* Stopping: no session starts or resumes now (a CONNECT that
		 * was on its way between loops, or replayed after a
		 * takeover). */
		connect_refuse(s, RMQ_RC_SERVER_UNAVAILABLE,
		    RMQ_V3_REFUSED_SERVER_UNAVAILABLE);
		return -1;
	}
	if (atomic_load_explicit(&w->b->draining, memory_order_relaxed)) {
		/* Draining in a cluster: another node is the client's now
		 * [MQTT-4.11]. */
		connect_refuse(s,
		    cfg->server_reference[0] ? RMQ_RC_USE_ANOTHER_SERVER
					     : RMQ_RC_SERVER_UNAVAILABLE,
		    RMQ_V3_REFUSED_SERVER_UNAVAILABLE);
		return -1;
	}
	/* Client identifier rules. */
	if (c->client_id.len == 0) {
		if (c->version == RMQ_V31 ||
		    (c->version == RMQ_V311 && !c->clean) ||
		    !cfg->allow_zero_length_clientid) {
			/* [MQTT-3.1.3-8]: 3.1.1 refuses an empty id without
			 * clean session; 3.1 needs 1 to 23 characters. */
			connect_refuse(s, RMQ_RC_CLIENT_ID_NOT_VALID,
			    RMQ_V3_REFUSED_IDENTIFIER);
			return -1;
		}
		plan->assigned = 1;
	} else if (c->version == RMQ_V31 && c->client_id.len > 23) {
		connect_refuse(s, RMQ_RC_CLIENT_ID_NOT_VALID,
		    RMQ_V3_REFUSED_IDENTIFIER);
		return -1;
	}
	if (c->version == RMQ_V5 &&
	    RMQ_PROP_HAS(&c->props, RMQ_PROP_AUTH_METHOD) &&
	    !connect_method_offered(s, &c->props.auth_method)) {
		/* A method not offered [MQTT-4.12.0-1]. */
		rmq_count(&w->st.auth_failures, 1);
		connect_refuse(s, RMQ_RC_BAD_AUTHENTICATION_METHOD, 0);
		return -1;
	}
	if (c->will && c->will_qos > cfg->max_qos) {
		/* A will of a QoS the server does not take [MQTT-3.2.2-12]:
		 * 5.0 0x9B; 3.x has no such code and is not authorized. */
		connect_refuse(s, RMQ_RC_QOS_NOT_SUPPORTED,
		    RMQ_V3_REFUSED_NOT_AUTHORIZED);
		return -1;
	}
	/* max_keepalive: a 5.0 client is told the server's keep alive
	 * (3.2.2.3.14), 0 included; a 3.x client cannot be told, so one
	 * asking more is refused, and one asking none is let in (3.x has no
	 * way to hold it to one). */
	plan->keepalive = c->keepalive;
	if (cfg->max_keepalive &&
	    (plan->keepalive == 0 || plan->keepalive > cfg->max_keepalive)) {
		if (c->version == RMQ_V5) {
			plan->keepalive = cfg->max_keepalive;
			plan->server_keepalive = 1;
		} else if (plan->keepalive != 0) {
			connect_refuse(s, RMQ_RC_CLIENT_ID_NOT_VALID,
			    RMQ_V3_REFUSED_IDENTIFIER);
			return -1;
		}
	}
	return 0;
}

/* A verdict that comes later, on whatever thread the method has: it
 * travels to the session's worker through its inbox. */
struct connect_pending {
	struct rmq_broker *b;
	uint64_t key;
};

static void
connect_auth_done(void *arg, enum rmq_auth_verdict v, uint8_t reason)
{
	struct connect_pending *pa = arg;
	struct rmq_worker *w = pa->b->workers[RMQ_KEY_WORKER(pa->key)];
	struct rmq_inbox_msg *m = calloc(1, sizeof(*m));
	if (m != NULL) {
		m->kind = RMQ_INBOX_AUTH;
		m->auth.key = pa->key;
		m->auth.allowed = v == RMQ_AUTH_ALLOW;
		m->auth.reason = reason;
		rmq_worker_post(w, m);
	}
	/* Without memory the verdict is lost: the CONNECT timeout closes
	 * the connection that waits for it. */
	free(pa);
}

/* The user name a listener takes from the client's certificate
 * (use_identity_as_username, use_subject_as_username) into buf: 1 when
 * it does, 0 when the listener takes the CONNECT's, -1 when the
 * certificate names nobody. */
static int
connect_identity(struct rmq_session *s, char *buf, size_t len)
{
	const struct rmq_tls_conf *tls = &s->w->cfg.listeners[s->listener].tls;
	enum rmq_conn_peer what;
	if (tls->use_identity_as_username)
		what = RMQ_PEER_CN;
	else if (tls->use_subject_as_username)
		what = RMQ_PEER_SUBJECT;
	else
		return 0;
	return rmq_conn_peer(s->conn, what, buf, len) == 0 && buf[0] ? 1 : -1;
}

/* ---- enhanced authentication (MQTT 5.0 4.12, auth.h) ---- */

void
rmq_session_xauth_end(struct rmq_session *s)
{
	struct rmq_session_rare *r = s->rare;
	if (r == NULL)
		return;
	if (r->xauth)
		s->w->b->auth->end(r->xauth);
	r->xauth = NULL;
	free(r->xauth_data);
	r->xauth_data = NULL;
	r->xauth_data_len = 0;
	r->xauth_phase = 0;
}

/* An AUTH packet with `reason`, the method, and data[0..n) if any. */
static int
connect_send_auth(struct rmq_session *s, uint8_t reason, const uint8_t *data,
    size_t n)
{
	struct rmq_packet a = { .type = RMQ_AUTH };
	const char *m = s->w->b->auth->method;
	a.auth.reason = reason;
	a.auth.props.auth_method = (struct rmq_str){ m, (uint32_t)strlen(m) };
	RMQ_PROP_SET(&a.auth.props, RMQ_PROP_AUTH_METHOD);
	if (n) {
		a.auth.props.auth_data =
		    (struct rmq_str){ (const char *)data, (uint32_t)n };
		RMQ_PROP_SET(&a.auth.props, RMQ_PROP_AUTH_DATA);
	}
	return rmq_session_send(s, &a);
}

/* Step 2, for a CONNECT that names an Authentication Method (checked in
 * step 1): the exchange begins, and the CONNECT waits in the session for
 * its end (rmq_session_on_auth).  Returns -1 after a refusal, 1 while
 * the exchange goes on. */
static int
connect_xauth_start(struct rmq_session *s, const struct rmq_packet *p)
{
	const struct rmq_authenticator *auth = s->w->b->auth;
	const struct rmq_connect *c = &p->connect;
	struct rmq_session_rare *r = rmq_session_rare(s);
	if (r == NULL) {
		connect_refuse(s, RMQ_RC_SERVER_UNAVAILABLE, 0);
		return -1;
	}
	struct rmq_auth_request rq = {
		.version = c->version,
		.listener = s->listener,
		.has_username = c->username.p != NULL,
		.client_id = c->client_id,
		.username = c->username,
	};
	const uint8_t *out = NULL;
	size_t outlen = 0;
	uint8_t reason = RMQ_RC_NOT_AUTHORIZED;
	void *x = NULL;
	enum rmq_auth_verdict v =
	    auth->start(auth->ctx, &rq, (const uint8_t *)c->props.auth_data.p,
		c->props.auth_data.len, &x, &out, &outlen, &reason);
	if (v != RMQ_AUTH_CONTINUE) {
		/* SCRAM needs a second step: an answer at once is a refusal. */
		if (x)
			auth->end(x);
		connect_auth_refused(s, c->client_id, reason);
		return -1;
	}
	r->xauth = x;
	r->xauth_phase = RMQ_XAUTH_CONNECT;
	if (connect_keep(s, p, NULL, 0) != 0 ||
	    connect_send_auth(s, RMQ_RC_CONTINUE_AUTHENTICATION, out, outlen) !=
		0) {
		rmq_session_xauth_end(s);
		connect_refuse(s, RMQ_RC_SERVER_UNAVAILABLE, 0);
		return -1;
	}
	return 1;
}

/* The exchange of this CONNECT succeeded: from now on the CONNECT names
 * the user it proved and carries the method's last data for the
 * CONNACK, so that a CONNECT handed to another worker (step 3) brings
 * both along.  A CONNECT read there again was changed already. */
static void
connect_xauth_done(struct rmq_session *s, struct rmq_packet *q)
{
	struct rmq_session_rare *r = s->rare;
	if (r == NULL || r->xauth == NULL)
		return;
	size_t ulen;
	const char *u = s->w->b->auth->user(r->xauth, &ulen);
	q->connect.username = (struct rmq_str){ u, (uint32_t)ulen };
	q->connect.props.auth_data =
	    (struct rmq_str){ (const char *)r->xauth_data, r->xauth_data_len };
	RMQ_PROP_SET(&q->connect.props, RMQ_PROP_AUTH_DATA);
}

/* Re-authentication refused: 5.0 DISCONNECT with the reason, the
 * session's connection ends (4.12.1). */
static void
connect_reauth_refused(struct rmq_session *s, uint8_t reason)
{
	rmq_count(&s->w->st.auth_failures, 1);
	rmq_session_xauth_end(s);
	if (s->w->cfg.connection_messages)
		rmq_log(RMQ_LOG_INFO,
		    "client %.*s: re-authentication refused: 0x%02x %s",
		    s->client_id_len, s->client_id, reason,
		    rmq_reason_name(reason, RMQ_DISCONNECT));
	if (s->rare)
		s->rare->closed_for = reason;
	rmq_session_disconnect(s, reason);
}

int
rmq_session_on_auth(struct rmq_session *s, const struct rmq_packet *p,
    const uint8_t *rest, size_t rest_len)
{
	const struct rmq_authenticator *auth = s->w->b->auth;
	struct rmq_session_rare *r = s->rare;
	const struct rmq_reasoned *a = &p->auth;
	struct rmq_codec_err err = { RMQ_RC_PROTOCOL_ERROR, NULL };
	int connecting = s->state == RMQ_SESS_CONNECTING;
	/* 4.12: AUTH belongs to an exchange the CONNECT began, or to a
	 * connection that authenticated with a method. */
	if (r == NULL || auth == NULL || auth->method == NULL ||
	    !(connecting ? r->xauth_phase == RMQ_XAUTH_CONNECT
			 : s->state == RMQ_SESS_LIVE && r->xauth_on)) {
		err.msg = "AUTH without an agreed authentication method";
		rmq_session_refuse(s, p, &err);
		return 0;
	}
	/* [MQTT-4.12.0-5], [MQTT-4.12.1-1]: the same method throughout. */
	const struct rmq_str *m = &a->props.auth_method;
	if (!RMQ_PROP_HAS(&a->props, RMQ_PROP_AUTH_METHOD) ||
	    m->len != strlen(auth->method) ||
	    memcmp(m->p, auth->method, m->len) != 0) {
		err.msg = "AUTH with another Authentication Method";
		rmq_session_refuse(s, p, &err);
		return 0;
	}
	const uint8_t *data = (const uint8_t *)a->props.auth_data.p;
	size_t n = a->props.auth_data.len;
	const uint8_t *out = NULL;
	size_t outlen = 0;
	uint8_t reason = RMQ_RC_NOT_AUTHORIZED;
	enum rmq_auth_verdict v;
	if (a->reason == RMQ_RC_REAUTHENTICATE && !connecting &&
	    r->xauth == NULL) {
		struct rmq_auth_request rq = {
			.version = s->version,
			.listener = s->listener,
			.client_id = { s->client_id, s->client_id_len },
		};
		v = auth->start(auth->ctx, &rq, data, n, &r->xauth, &out,
		    &outlen, &reason);
		if (v != RMQ_AUTH_CONTINUE) {
			connect_reauth_refused(s, reason);
			return 0;
		}
		r->xauth_phase = RMQ_XAUTH_REAUTH;
		if (connect_send_auth(s, RMQ_RC_CONTINUE_AUTHENTICATION, out,
			outlen) != 0)
			connect_reauth_refused(s, RMQ_RC_SERVER_BUSY);
		return 0;
	}
	if (a->reason != RMQ_RC_CONTINUE_AUTHENTICATION || r->xauth == NULL) {
		err.msg = a->reason == RMQ_RC_REAUTHENTICATE
		    ? "AUTH 0x19 while an authentication is under way"
		    : "AUTH that continues no authentication";
		rmq_session_refuse(s, p, &err);
		return 0;
	}
	v = auth->step(auth->ctx, r->xauth, data, n, &out, &outlen, &reason);
	if (v == RMQ_AUTH_CONTINUE) {
		if (connect_send_auth(s, RMQ_RC_CONTINUE_AUTHENTICATION, out,
			outlen) != 0)
			rmq_session_close(s);
		return 0;
	}
	if (connecting) {
		if (v != RMQ_AUTH_ALLOW) {
			rmq_session_xauth_end(s);
			connect_auth_refused(s, (struct rmq_str){ NULL, 0 },
			    reason);
			return 0;
		}
		/* Proved: the CONNECT is read again, authenticated, with
		 * what the client sent after this AUTH behind it. */
		r->xauth_data = outlen ? malloc(outlen) : NULL;
		if ((outlen && r->xauth_data == NULL) ||
		    connect_keep_more(s, rest, rest_len) != 0) {
			rmq_session_xauth_end(s);
			connect_refuse(s, RMQ_RC_SERVER_UNAVAILABLE, 0);
			return 0;
		}
		if (outlen)
			memcpy(r->xauth_data, out, outlen);
		r->xauth_data_len = (uint32_t)outlen;
		r->authed = 1;
		r->xauth_phase = 0;
		rmq_session_replay(s);
		return 1;
	}
	/* Re-authenticated: as the same user the session has [4.12.1]. */
	size_t ulen;
	const char *u =
	    v == RMQ_AUTH_ALLOW ? auth->user(r->xauth, &ulen) : NULL;
	if (u == NULL || ulen != r->user_len ||
	    (ulen && memcmp(u, r->user, ulen) != 0)) {
		connect_reauth_refused(s, reason);
		return 0;
	}
	if (connect_send_auth(s, RMQ_RC_SUCCESS, out, outlen) != 0)
		rmq_session_close(s);
	rmq_session_xauth_end(s);
	return 0;
}

/* Step 2: who is asking.  Returns 0 to go on, -1 after a refusal, or 1
 * when the verdict comes later: the CONNECT and what followed it wait in
 * the session, to be replayed (rmq_session_auth_verdict), or an enhanced
 * authentication goes on.  q may be changed (connect_xauth_done). */
static int
connect_authenticate(struct rmq_session *s, struct rmq_packet *q,
    const uint8_t *rest, size_t rest_len)
{
	struct rmq_worker *w = s->w;
	const struct rmq_authenticator *auth = w->b->auth;
	const struct rmq_packet *p = q;
	const struct rmq_connect *c = &p->connect;
	if (c->version == RMQ_V5 &&
	    RMQ_PROP_HAS(&c->props, RMQ_PROP_AUTH_METHOD)) {
		if (s->rare && s->rare->authed) {
			connect_xauth_done(s, q);
			return 0;
		}
		return connect_xauth_start(s, p);
	}
	if (s->rare && s->rare->authed)
		return 0;
	char identity[256];
	int by_cert = connect_identity(s, identity, sizeof(identity));
	if (by_cert < 0) {
		connect_auth_refused(s, c->client_id, RMQ_RC_NOT_AUTHORIZED);
		return -1;
	}
	if (auth == NULL)
		return 0;
	struct connect_pending *pa = malloc(sizeof(*pa));
	if (pa == NULL) {
		connect_refuse(s, RMQ_RC_SERVER_UNAVAILABLE,
		    RMQ_V3_REFUSED_SERVER_UNAVAILABLE);
		return -1;
	}
	*pa = (struct connect_pending){ w->b, s->key };
	struct rmq_auth_request rq = {
		.version = c->version,
		.listener = s->listener,
		.has_username = c->username.p != NULL,
		.has_password = c->password.p != NULL,
		.client_id = c->client_id,
		.username = c->username,
		.password = c->password,
		.done = connect_auth_done,
		.done_arg = pa,
	};
	if (by_cert) {
		rq.has_username = 1;
		rq.username =
		    (struct rmq_str){ identity, (uint32_t)strlen(identity) };
		rq.certified = 1;
	}
	uint8_t reason = RMQ_RC_NOT_AUTHORIZED;
	enum rmq_auth_verdict v = auth->connect(auth->ctx, &rq, &reason);
	if (v != RMQ_AUTH_LATER)
		free(pa);
	if (v == RMQ_AUTH_ALLOW) {
		return 0;
	} else if (v == RMQ_AUTH_DENY) {
		connect_auth_refused(s, c->client_id, reason);
		return -1;
	}
	/* Later: the CONNECT and what came after it wait; more bytes join
	 * them as they arrive. */
	if (connect_keep(s, p, rest, rest_len) != 0) {
		/* The verdict will find a closed session and be dropped. */
		connect_refuse(s, RMQ_RC_SERVER_UNAVAILABLE,
		    RMQ_V3_REFUSED_SERVER_UNAVAILABLE);
		return -1;
	}
	s->state = RMQ_SESS_AUTHENTICATING;
	return 1;
}

void
rmq_session_auth_verdict(struct rmq_worker *w, uint64_t key, int allowed,
    uint8_t reason)
{
	struct rmq_session *s = rmq_worker_session(w, key);
	if (s == NULL || s->state != RMQ_SESS_AUTHENTICATING)
		return; /* gone, or timed out meanwhile */
	if (!allowed) {
		connect_auth_refused(s, (struct rmq_str){ NULL, 0 }, reason);
		return;
	}
	s->rare->authed = 1;
	rmq_session_replay(s);
}

/* Step 2b: who the client is from now on (the user name the ACL knows it
 * by: its certificate's, or its CONNECT's), and whether it may leave the
 * will it asks for: publishing it is a write to its topic, refused at
 * CONNECT as Mosquitto does (5.0 0x87, 3.x 5).  Returns 0 to go on, -1
 * after a refusal. */
static int
connect_permit(struct rmq_session *s, const struct rmq_connect *c)
{
	char identity[256];
	int by_cert = connect_identity(s, identity, sizeof(identity));
	int rc = by_cert > 0
	    ? rmq_session_set_user(s, identity, strlen(identity))
	    : rmq_session_set_user(s, c->username.p, c->username.len);
	if (rc != 0) {
		connect_refuse(s, RMQ_RC_SERVER_UNAVAILABLE,
		    RMQ_V3_REFUSED_SERVER_UNAVAILABLE);
		return -1;
	}
	const struct rmq_authorizer *z =
	    atomic_load_explicit(&s->w->b->authz, memory_order_acquire);
	if (!c->will || z == NULL)
		return 0;
	/* Asked directly, not through the session's memo: the identifier
	 * the server may assign comes after this step. */
	const struct rmq_session_rare *r = s->rare;
	if (z->check(z->ctx, r ? r->user : NULL, r ? r->user_len : 0,
		c->client_id.p, c->client_id.len, c->will_topic.p,
		c->will_topic.len, RMQ_ACCESS_WRITE))
		return 0;
	rmq_count(&s->w->st.acl_denied, 1);
	if (s->w->cfg.connection_messages)
		rmq_log(RMQ_LOG_INFO,
		    "worker %u: client %.*s refused: its will's topic %.*s is not one it may publish to",
		    s->w->id, (int)c->client_id.len, c->client_id.p,
		    (int)c->will_topic.len, c->will_topic.p);
	connect_refuse(s, RMQ_RC_NOT_AUTHORIZED, RMQ_V3_REFUSED_NOT_AUTHORIZED);
	return -1;
}

/* Step 3b: an identifier new to this node, in a cluster: the peers are
 * asked for it (move.c), and the CONNECT waits for their answer
 * (rmq_session_claimed).  Returns 0 to go on now, 1 while it waits, -1
 * after a refusal. */
static int
connect_cluster_claim(struct rmq_session *s, const struct rmq_packet *p,
    const uint8_t *rest, size_t rest_len)
{
	struct rmq_worker *w = s->w;
	const struct rmq_cluster_hooks *h = w->b->cluster;
	if (h == NULL || h->claim == NULL)
		return 0;
	struct rmq_session_rare *r = rmq_session_rare(s);
	if (r == NULL || connect_keep(s, p, rest, rest_len) != 0) {
		connect_refuse(s, RMQ_RC_SERVER_UNAVAILABLE,
		    RMQ_V3_REFUSED_SERVER_UNAVAILABLE);
		return -1;
	}
	r->claim_stamp = rmq_cluster_stamp(h->tag);
	int rc = h->claim(h->ctx, w->id, s->key, s->client_id, s->client_id_len,
	    r->claim_stamp, p->connect.clean);
	if (rc != 1) {
		free(r->replay);
		r->replay = NULL;
		r->replay_len = 0;
		if (rc == 0)
			return 0; /* no peer up */
		rmq_log(RMQ_LOG_WARNING,
		    "worker %u: client %.*s refused: its identifier could not be claimed in the cluster (%s)",
		    w->id, s->client_id_len, s->client_id,
		    rc == -ENOSPC ? "too many claims wait" : "no memory");
		connect_refuse(s, RMQ_RC_SERVER_BUSY,
		    RMQ_V3_REFUSED_SERVER_UNAVAILABLE);
		return -1;
	}
	/* It passed authentication: read again, it is not asked twice. */
	r->authed = 1;
	r->claim = RMQ_CLAIM_ASKED;
	s->state = RMQ_SESS_CLAIMING;
	return 1;
}

void
rmq_session_claimed(struct rmq_worker *w, uint64_t key, int lost,
    uint8_t *image, size_t len, uint64_t move)
{
	struct rmq_session *s = rmq_worker_session(w, key);
	if (s == NULL || s->state != RMQ_SESS_CLAIMING) {
		/* Its connection closed meanwhile (a stub left for it
		 * ends at the cluster's deadline). */
		if (image)
			rmq_log(RMQ_LOG_WARNING,
			    "worker %u: a session's state came from another node after its connection here closed; dropped",
			    w->id);
		free(image);
		return;
	}
	struct rmq_session_rare *r = s->rare;
	if (lost) {
		/* A newer connection holds the identifier elsewhere. */
		if (w->cfg.connection_messages)
			rmq_log(RMQ_LOG_INFO,
			    "worker %u: client %.*s refused: a newer connection of its identifier is on another node",
			    w->id, s->client_id_len, s->client_id);
		r->claim = 0;
		connect_refuse(s, RMQ_RC_SERVER_BUSY,
		    RMQ_V3_REFUSED_SERVER_UNAVAILABLE);
		return;
	}
	r->claim = RMQ_CLAIM_NONE;
	if (image) {
		const char *why = "no memory";
		int rc = rmq_session_import(s, image, len, &why);
		if (rc == 0) {
			r->claim = RMQ_CLAIM_MOVED;
			/* What comes for it now waits for the old node's
			 * tail (move.c). */
			r->move = move;
		} else {
			/* What came in goes: the session starts anew. */
			rmq_log(RMQ_LOG_WARNING,
			    "worker %u: client %.*s: the session's state from another node could not be read (%s); it starts anew",
			    w->id, s->client_id_len, s->client_id, why);
			rmq_session_unsubscribe_all(s);
			rmq_session_outq_clear(s);
			r->nq2in = 0;
		}
		/* Told either way, so the old node's stub ends. */
		const struct rmq_cluster_hooks *h = w->b->cluster;
		if (move && h && h->moved_in)
			h->moved_in(h->ctx, w->id, s->key, move);
	}
	free(image);
	rmq_session_replay(s);
}

/* Step 3: the client identifier, claimed in the node's registry.  Returns
 * 0 to go on with this session, -1 after a refusal, or 1 when the
 * connection went to the worker that holds the session. */
static int
connect_claim(struct rmq_session *s, const struct rmq_packet *p,
    const uint8_t *rest, size_t rest_len, struct connect_plan *plan)
{
	struct rmq_worker *w = s->w;
	const struct rmq_connect *c = &p->connect;
	/* A replayed CONNECT finds this very session. */
	if (s->client_id == NULL) {
		if (plan->assigned) {
			if (connect_assign_id(s) != 0)
				goto unavailable;
		} else {
			s->client_id = malloc(c->client_id.len);
			if (s->client_id == NULL)
				goto unavailable;
			memcpy(s->client_id, c->client_id.p, c->client_id.len);
			s->client_id_len = (uint16_t)c->client_id.len;
		}
	}
	uint64_t owner = 0;
	int rc = rmq_registry_claim(w->b->registry, s->client_id,
	    s->client_id_len, s->key, w->cfg.max_sessions, &owner);
	if (rc == -ENOSPC) {
		/* max_sessions: the node keeps no more (5.0 0x97 Quota
		 * exceeded; 3.x: 3, server unavailable). */
		rmq_count(&w->st.sessions_refused, 1);
		if (w->cfg.connection_messages)
			rmq_log(RMQ_LOG_INFO,
			    "worker %u: client %.*s refused: max_sessions (%u) reached",
			    w->id, s->client_id_len, s->client_id,
			    w->cfg.max_sessions);
		free(s->client_id);
		s->client_id = NULL;
		s->client_id_len = 0;
		connect_refuse(s, RMQ_RC_QUOTA_EXCEEDED,
		    RMQ_V3_REFUSED_SERVER_UNAVAILABLE);
		return -1;
	}
	if (rc < 0)
		goto unavailable;
	if (rc == 1 && owner != s->key) {
		connect_handoff(s, owner, p, rest, rest_len);
		return 1;
	}
	plan->resumed = rc == 1;
	s->registered = 1;
	if (s->rare && s->rare->claim >= RMQ_CLAIM_NONE) {
		/* Read again after the cluster's answer: resumed when the
		 * session's state came from the node that held it. */
		plan->resumed = s->rare->claim == RMQ_CLAIM_MOVED;
		return 0;
	}
	return plan->resumed ? 0 : connect_cluster_claim(s, p, rest, rest_len);

unavailable:
	connect_refuse(s, RMQ_RC_SERVER_UNAVAILABLE,
	    RMQ_V3_REFUSED_SERVER_UNAVAILABLE);
	return -1;
}

/* Step 4: the session takes what the CONNECT says.  Returns 0, or -ENOMEM
 * (the caller refuses). */
static int
connect_apply(struct rmq_session *s, const struct rmq_connect *c,
    struct connect_plan *plan)
{
	const struct rmq_config *cfg = &s->w->cfg;
	/* Clean start discards what the session had; a pending will of the
	 * old connection goes out now, since its session ends
	 * [MQTT-3.1.3-9]. */
	if (plan->resumed) {
		if (c->clean) {
			rmq_session_publish_will(s);
			rmq_session_unsubscribe_all(s);
			rmq_session_outq_clear(s);
			if (s->rare)
				s->rare->nq2in = 0;
		} else {
			plan->present = 1;
			if (s->will) {
				/* Resumed before the will delay passed:
				 * the old will is not sent [MQTT-3.1.3-9]. */
				rmq_msg_rele(s->will);
				s->will = NULL;
				s->will_pending = 0;
			}
		}
	}
	s->clean = c->clean;
	s->keepalive = plan->keepalive;
	/* What this CONNACK promises holds for the connection, whatever a
	 * reload changes later. */
	s->receive_max = cfg->receive_maximum;
	s->retain_ok = (uint8_t)(cfg->retain_available != 0);
	s->max_qos = cfg->max_qos;
	if (c->version == RMQ_V5) {
		/* An absent property decodes as 0, which is its default
		 * here but for Receive Maximum's (3.1.2.11.3). */
		s->session_expiry = c->props.session_expiry;
		s->peer_receive_max =
		    c->props.receive_max ? c->props.receive_max : 65535;
		s->peer_max_packet = c->props.max_packet_size;
		s->peer_alias_max = c->props.topic_alias_max;
	} else {
		/* 3.x: a persistent session lasts until cleaned. */
		s->session_expiry = c->clean ? 0 : 0xFFFFFFFFu;
		s->peer_receive_max = 65535;
		s->peer_max_packet = 0;
		s->peer_alias_max = 0;
	}
	plan->granted_expiry = s->session_expiry;
	if (plan->granted_expiry > cfg->max_session_expiry &&
	    plan->granted_expiry != 0xFFFFFFFFu)
		plan->granted_expiry = cfg->max_session_expiry;
	s->session_expiry = plan->granted_expiry;
	if (s->inflight && s->peer_receive_max < s->win && !plan->present) {
		free(s->inflight);
		s->inflight = NULL;
		s->win = 0;
	}
	if (c->will && connect_build_will(s, c) != 0)
		return -ENOMEM;
	return 0;
}

/* Step 5: the CONNACK, and the session goes live.  Returns 0, or -ENOMEM
 * (the caller refuses). */
static int
connect_ack(struct rmq_session *s, const struct rmq_connect *c,
    const struct connect_plan *plan)
{
	struct rmq_worker *w = s->w;
	const struct rmq_config *cfg = &w->cfg;
	struct rmq_packet ack = { .type = RMQ_CONNACK };
	ack.connack.session_present = plan->present;
	char *response_info = NULL;
	if (c->version == RMQ_V5) {
		struct rmq_props *pp = &ack.connack.props;
		if (plan->assigned) {
			pp->assigned_client_id.p = s->client_id;
			pp->assigned_client_id.len = s->client_id_len;
			RMQ_PROP_SET(pp, RMQ_PROP_ASSIGNED_CLIENT_ID);
		}
		if (RMQ_PROP_HAS(&c->props, RMQ_PROP_SESSION_EXPIRY) &&
		    plan->granted_expiry != c->props.session_expiry) {
			pp->session_expiry = plan->granted_expiry;
			RMQ_PROP_SET(pp, RMQ_PROP_SESSION_EXPIRY);
		}
		pp->receive_max = cfg->receive_maximum;
		RMQ_PROP_SET(pp, RMQ_PROP_RECEIVE_MAXIMUM);
		/* Absent, it means no limit (3.2.2.3.6): what max_packet_size
		 * 0 (stored as the largest packet MQTT can frame) says. */
		if (cfg->max_packet_size < RMQ_VARINT_MAX + 5) {
			pp->max_packet_size = cfg->max_packet_size;
			RMQ_PROP_SET(pp, RMQ_PROP_MAXIMUM_PACKET_SIZE);
		}
		pp->topic_alias_max = cfg->topic_alias_max;
		RMQ_PROP_SET(pp, RMQ_PROP_TOPIC_ALIAS_MAXIMUM);
		if (cfg->max_qos < 2) {
			/* [MQTT-3.2.2-9] */
			pp->max_qos = cfg->max_qos;
			RMQ_PROP_SET(pp, RMQ_PROP_MAXIMUM_QOS);
		}
		if (!cfg->retain_available) {
			pp->retain_available = 0;
			RMQ_PROP_SET(pp, RMQ_PROP_RETAIN_AVAILABLE);
		}
		if (plan->server_keepalive) {
			pp->server_keep_alive = plan->keepalive;
			RMQ_PROP_SET(pp, RMQ_PROP_SERVER_KEEP_ALIVE);
		}
		/* After an enhanced authentication: its method, and the
		 * method's last data (SCRAM's server-final) [MQTT-4.12.0-?]. */
		if (RMQ_PROP_HAS(&c->props, RMQ_PROP_AUTH_METHOD)) {
			pp->auth_method = c->props.auth_method;
			RMQ_PROP_SET(pp, RMQ_PROP_AUTH_METHOD);
			if (RMQ_PROP_HAS(&c->props, RMQ_PROP_AUTH_DATA) &&
			    c->props.auth_data.len) {
				pp->auth_data = c->props.auth_data;
				RMQ_PROP_SET(pp, RMQ_PROP_AUTH_DATA);
			}
		}
		/* Only to a client that asked [MQTT-3.1.2-28]. */
		size_t n = c->props.request_response_info
		    ? connect_response_info(cfg->response_info, s->client_id,
			  s->client_id_len, NULL)
		    : 0;
		if (n > 0 && n <= 65535) {
			response_info = malloc(n);
			if (response_info == NULL)
				return -ENOMEM;
			connect_response_info(cfg->response_info, s->client_id,
			    s->client_id_len, response_info);
			pp->response_info.p = response_info;
			pp->response_info.len = (uint32_t)n;
			RMQ_PROP_SET(pp, RMQ_PROP_RESPONSE_INFO);
		}
	}
	if (s->peer_max_packet &&
	    rmq_codec_size(&ack, s->version) > s->peer_max_packet) {
		/* [MQTT-3.1.2-24]: not even the CONNACK fits what the client
		 * accepts.  It is not sent and the connection closes; the
		 * connection never began, so neither does its will. */
		free(response_info);
		rmq_count(&w->st.refused[RMQ_RC_PACKET_TOO_LARGE], 1);
		if (s->will) {
			rmq_msg_rele(s->will);
			s->will = NULL;
		}
		rmq_session_close(s);
		return 0;
	}
	int sent = rmq_session_send(s, &ack);
	free(response_info);
	if (sent != 0)
		return -ENOMEM;
	s->state = RMQ_SESS_LIVE;
	s->deadline_ms = 0; /* from now on, that of a packet begun */
	/* The exchange is over; AUTH is taken from now on (to
	 * re-authenticate) only from a client that began with one. */
	rmq_session_xauth_end(s);
	if (s->rare)
		s->rare->xauth_on =
		    RMQ_PROP_HAS(&c->props, RMQ_PROP_AUTH_METHOD);
	rmq_count(&w->st.connects, 1);
	if (!s->counted) {
		rmq_count(&w->st.clients[s->version - RMQ_V31], 1);
		s->counted = 1;
	}
	char from[64];
	if (w->cfg.connection_messages)
		rmq_log(RMQ_LOG_INFO,
		    "worker %u: client %.*s connected from %s (MQTT %s, %s session)",
		    w->id, s->client_id_len, s->client_id,
		    connect_from(s, from, sizeof(from)),
		    c->version == RMQ_V5         ? "5.0"
			: c->version == RMQ_V311 ? "3.1.1"
						 : "3.1",
		    plan->present ? "resumed" : "new");
	if (plan->present) {
		/* The CONNACK goes first in the resend write. */
		rmq_session_resend(s);
	}
	return 0;
}

/* Step 1b: one address's CONNECTs per second (max_connection_rate,
 * auth/guard.h); past it, 0x9F (3.x: 3) before any password is checked.
 * A CONNECT read again (after a verdict or a move) was counted already.
 * Returns 0 to go on, -1 after a refusal. */
static int
connect_rate(struct rmq_session *s)
{
	struct rmq_worker *w = s->w;
	char buf[64];
	if (w->cfg.max_connection_rate == 0 || (s->rare && s->rare->authed))
		return 0;
	const char *host = connect_host(s, buf, sizeof(buf));
	if (host == NULL ||
	    !rmq_guard_connect(w->b->guard, host, w->loop->now_ms,
		w->cfg.max_connection_rate))
		return 0;
	rmq_log(RMQ_LOG_DEBUG,
	    "worker %u: a CONNECT from %s refused: more than %u a second",
	    w->id, host, w->cfg.max_connection_rate);
	connect_refuse(s, RMQ_RC_CONNECTION_RATE_EXCEEDED,
	    RMQ_V3_REFUSED_SERVER_UNAVAILABLE);
	return -1;
}

/* Step 1c: over memory_limit (node.h), a new connection is refused
 * (0x97; 3.x: 3) before anything is kept for it.  A CONNECT read again
 * was let in already.  Returns 0 to go on, -1 after a refusal. */
static int
connect_memory(struct rmq_session *s)
{
	struct rmq_worker *w = s->w;
	if (!rmq_node_mem_over(w->b) || (s->rare && s->rare->authed))
		return 0;
	rmq_count(&w->st.mem_refused_connect, 1);
	rmq_log(RMQ_LOG_DEBUG,
	    "worker %u: a CONNECT refused: over the memory_limit", w->id);
	connect_refuse(s, RMQ_RC_QUOTA_EXCEEDED,
	    RMQ_V3_REFUSED_SERVER_UNAVAILABLE);
	return -1;
}

void
rmq_session_on_connect(struct rmq_session *s, const struct rmq_packet *p,
    const uint8_t *rest, size_t rest_len)
{
	/* A copy that step 2 may change (connect_xauth_done). */
	struct rmq_packet q = *p;
	const struct rmq_connect *c = &q.connect;
	struct connect_plan plan = { 0 };
	s->version = c->version;
	if (connect_check(s, c, &plan) != 0 || connect_rate(s) != 0 ||
	    connect_memory(s) != 0 ||
	    connect_authenticate(s, &q, rest, rest_len) != 0 ||
	    connect_permit(s, c) != 0 ||
	    connect_claim(s, &q, rest, rest_len, &plan) != 0)
		return;
	if (connect_apply(s, c, &plan) != 0 || connect_ack(s, c, &plan) != 0) {
		connect_refuse(s, RMQ_RC_SERVER_UNAVAILABLE,
		    RMQ_V3_REFUSED_SERVER_UNAVAILABLE);
		return;
	}
	/* The session as this CONNECT left it (persistent or no longer),
	 * for the data directory (durable.h). */
	rmq_session_store(s);
	struct rmq_session_rare *r = s->rare;
	if (r && r->claim == RMQ_CLAIM_MOVED) {
		/* Its QoS 2 ids, come from another node, are kept too. */
		for (uint16_t i = 0; i < r->nq2in; i++)
			rmq_session_kept_q2in(s, r->q2in[i], 1);
	}
	if (r)
		r->claim = 0;
}
