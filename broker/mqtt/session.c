/* broker/mqtt/session.c: a session's life: start on a new connection, the read
 * path (decode in place, dispatch each packet), the end of a connection
 * (will, persistence, expiry), and the periodic checks of keep alive and
 * timeouts.  The packet handlers live in connect.c, publish.c,
 * subscribe.c and outq.c.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "durable.h"
#include "log.h"
#include "registry.h"
#include "worker_impl.h"

static void
session_on_read(struct rmq_conn *conn, const uint8_t *data, ssize_t n);
static void session_on_closed(struct rmq_conn *conn);
static void session_gone(struct rmq_session *s, int conn_closed);

int
rmq_session_start(struct rmq_worker *w, struct rmq_conn *conn, uint8_t listener,
    const uint8_t *early, size_t early_len)
{
	struct rmq_session *s = rmq_worker_session_alloc(w);
	if (s == NULL)
		return -ENOMEM;
	s->conn = conn;
	s->listener = listener;
	conn->data = s;
	s->state = RMQ_SESS_CONNECTING;
	s->last_rx_ms = w->loop->now_ms;
	s->deadline_ms = w->loop->now_ms + w->cfg.connect_timeout_ms;
	rmq_decoder_init(&s->dec, RMQ_FROM_CLIENT, 0, w->cfg.max_packet_size);
	int rc = rmq_conn_read_start(conn, session_on_read);
	if (rc != 0)
		return rc;
	if (early_len)
		session_on_read(conn, early, (ssize_t)early_len);
	return 0;
}

/* Close the connection now; the close callback decides what follows. */
void
rmq_session_close(struct rmq_session *s)
{
	if (s->conn && !s->conn->closing) {
		s->state = RMQ_SESS_CLOSING;
		rmq_conn_close(s->conn, session_on_closed);
	}
}

static void
session_alias_in_reset(struct rmq_session *s)
{
	struct rmq_session_rare *r = s->rare;
	if (r == NULL || r->alias_in == NULL)
		return;
	for (unsigned i = 0; i <= s->w->cfg.topic_alias_max; i++)
		free((void *)r->alias_in[i].p);
	free(r->alias_in);
	r->alias_in = NULL;
}

void
rmq_session_close_after_write(struct rmq_session *s)
{
	/* A peer that does not read would hold the close back forever:
	 * the tick closes it anyway after a grace period. */
	s->state = RMQ_SESS_CLOSING;
	s->close_after_write = 1;
	s->deadline_ms = s->w->loop->now_ms + RMQ_CLOSE_GRACE_MS;
	rmq_worker_dirty(s->w, s);
}

void
rmq_session_end(struct rmq_session *s)
{
	struct rmq_conn *c = s->conn;
	if (c == NULL || c->closing)
		return;
	if (rmq_linger_start(s->w, c, s->listener) != 0) {
		rmq_session_close(s);
		return;
	}
	/* The connection is the worker's to read to its end now; the
	 * session goes on as if it had closed. */
	session_gone(s, 0);
}

void
rmq_session_disconnect(struct rmq_session *s, uint8_t reason)
{
	if (s->conn == NULL || s->state == RMQ_SESS_CLOSING)
		return;
	if (s->version == RMQ_V5 && reason != 0 && s->state == RMQ_SESS_LIVE) {
		struct rmq_packet d = { .type = RMQ_DISCONNECT };
		d.disconnect.reason = reason;
		/* A Reason String says why in words; DISCONNECT may carry
		 * one whatever Request Problem Information said (3.1.2.11.7),
		 * unless it would pass the client's Maximum Packet Size. */
		const char *why = rmq_reason_name(reason, RMQ_DISCONNECT);
		if (why &&
		    (s->peer_max_packet == 0 ||
			strlen(why) + 8 <= s->peer_max_packet)) {
			d.disconnect.props.reason_string.p = why;
			d.disconnect.props.reason_string.len =
			    (uint32_t)strlen(why);
			RMQ_PROP_SET(&d.disconnect.props,
			    RMQ_PROP_REASON_STRING);
		}
		/* Where to go instead [MQTT-4.11]: the node stops. */
		const char *ref = s->w->cfg.server_reference;
		if (ref[0] &&
		    (reason == RMQ_RC_SERVER_SHUTTING_DOWN ||
			reason == RMQ_RC_USE_ANOTHER_SERVER)) {
			d.disconnect.props.server_reference.p = ref;
			d.disconnect.props.server_reference.len =
			    (uint32_t)strlen(ref);
			RMQ_PROP_SET(&d.disconnect.props,
			    RMQ_PROP_SERVER_REFERENCE);
		}
		if (rmq_session_send(s, &d) != 0) {
			rmq_session_close(s);
			return;
		}
	}
	/* What the session owes (the answers to packets read before this
	 * end, the DISCONNECT) is written at the end of the turn, then the
	 * connection lingers (linger.h); a 3.x client, which has no
	 * DISCONNECT to read, still gets its answers and a clean end. */
	rmq_session_close_after_write(s);
}

/* A packet the spec forbids: say why where the protocol lets us, then
 * close.  The will is published: this is not a normal disconnection. */
void
rmq_session_refuse(struct rmq_session *s, const struct rmq_packet *p,
    const struct rmq_codec_err *err)
{
	struct rmq_worker *w = s->w;
	rmq_count(&w->st.protocol_errors[err->reason], 1);
	if (rmq_session_rare(s))
		s->rare->closed_for = err->reason;
	if (w->cfg.connection_messages)
		rmq_log(RMQ_LOG_INFO, "client %.*s closed: 0x%02x %s: %s",
		    s->client_id_len, s->client_id ? s->client_id : "-",
		    err->reason, rmq_reason_name(err->reason, 0), err->msg);
	if (s->state == RMQ_SESS_CONNECTING) {
		/* A refused CONNECT gets a CONNACK when we know the
		 * version to answer in [MQTT-3.1.2-2]. */
		uint8_t v =
		    p && p->type == RMQ_CONNECT ? p->connect.version : 0;
		/* During the enhanced authentication of a CONNECT read
		 * already: its version is known. */
		if (v == 0 && s->rare &&
		    s->rare->xauth_phase == RMQ_XAUTH_CONNECT)
			v = s->version;
		/* A level we do not speak, under a protocol name we know,
		 * is answered the 3.1.1 way, return code 1, whatever the
		 * level (0 included) [MQTT-3.1.2-2]; an unknown protocol
		 * name is not MQTT and is just closed [MQTT-3.1.2-1]. */
		if (p && p->type == RMQ_CONNECT && p->connect.name_known &&
		    err->reason == RMQ_RC_UNSUPPORTED_PROTOCOL_VERSION)
			v = RMQ_V311;
		if (v >= RMQ_V31 && v <= RMQ_V5) {
			struct rmq_packet ack = { .type = RMQ_CONNACK };
			s->version = v;
			ack.connack.reason = v == RMQ_V5
			    ? err->reason
			    : rmq_reason_to_v3_connack(err->reason);
			if (v == RMQ_V5 ||
			    ack.connack.reason ==
				RMQ_V3_REFUSED_PROTOCOL_VERSION) {
				rmq_count(&w->st.refused[err->reason], 1);
				if (rmq_session_send(s, &ack) == 0) {
					rmq_session_close_after_write(s);
					return;
				}
			}
		}
		rmq_session_close(s);
		return;
	}
	rmq_session_disconnect(s, err->reason);
}

/* Returns 1 when the packet took the rest of the read with it. */
static int
session_dispatch(struct rmq_session *s, struct rmq_packet *p,
    const uint8_t *rest, size_t rest_len)
{
	struct rmq_codec_err err = { RMQ_RC_PROTOCOL_ERROR, NULL };
	rmq_count(&s->w->st.pkts_in[p->type & 15], 1);
	if (s->state == RMQ_SESS_CONNECTING && s->rare &&
	    s->rare->xauth_phase == RMQ_XAUTH_CONNECT && p->type != RMQ_AUTH &&
	    p->type != RMQ_DISCONNECT) {
		err.msg =
		    "[MQTT-3.1.2-30] a packet other than AUTH or DISCONNECT before the CONNACK of an enhanced authentication";
		rmq_session_refuse(s, p, &err);
		return 0;
	}
	switch (p->type) {
	case RMQ_CONNECT:
		rmq_session_on_connect(s, p, rest, rest_len);
		return 0;
	case RMQ_PUBLISH: rmq_session_on_publish(s, p); return 0;
	case RMQ_PUBACK:
	case RMQ_PUBREC:
	case RMQ_PUBCOMP: rmq_session_on_ack(s, p); return 0;
	case RMQ_PUBREL: rmq_session_on_pubrel(s, p); return 0;
	case RMQ_SUBSCRIBE: rmq_session_on_subscribe(s, p); return 0;
	case RMQ_UNSUBSCRIBE: rmq_session_on_unsubscribe(s, p); return 0;
	case RMQ_PINGREQ: {
		struct rmq_packet pong = { .type = RMQ_PINGRESP };
		rmq_session_send(s, &pong);
		return 0;
	}
	case RMQ_DISCONNECT:
		if (s->version == RMQ_V5 &&
		    RMQ_PROP_HAS(&p->disconnect.props,
			RMQ_PROP_SESSION_EXPIRY)) {
			/* [MQTT-3.14.2-2]: no expiry set at DISCONNECT when
			 * CONNECT asked for none. */
			if (s->session_expiry == 0 &&
			    p->disconnect.props.session_expiry != 0) {
				err.msg =
				    "[MQTT-3.14.2-2] Session Expiry set at DISCONNECT after 0 at CONNECT";
				rmq_session_refuse(s, p, &err);
				return 0;
			}
			s->session_expiry = p->disconnect.props.session_expiry;
		}
		/* [MQTT-3.14.4-3]: a normal DISCONNECT discards the will;
		 * 0x04 asks for it to be published. */
		s->graceful =
		    p->disconnect.reason != RMQ_RC_DISCONNECT_WITH_WILL;
		/* What the session owes (a CONNACK, a PUBACK for a PUBLISH
		 * that came in the same read) goes out before the close. */
		rmq_session_close_after_write(s);
		return 0;
	case RMQ_AUTH: return rmq_session_on_auth(s, p, rest, rest_len);
	default:
		err.msg = "unexpected packet";
		rmq_session_refuse(s, p, &err);
		return 0;
	}
}

static void
session_on_read(struct rmq_conn *conn, const uint8_t *data, ssize_t n)
{
	struct rmq_session *s = conn->data;
	if (s == NULL || s->state == RMQ_SESS_PARKED)
		return;
	if (n <= 0) {
		/* The peer went away; its will follows in the close. */
		rmq_session_close(s);
		return;
	}
	struct rmq_worker *w = s->w;
	if (s->state == RMQ_SESS_REFUSING) {
		rmq_count(&w->st.bytes_in, (uint64_t)n);
		return; /* nothing more is read from a client refused */
	}
	if (s->state == RMQ_SESS_AUTHENTICATING ||
	    s->state == RMQ_SESS_CLAIMING) {
		/* Kept behind the CONNECT until the verdict (or the
		 * cluster's answer), up to max_packet_size bytes in all. */
		struct rmq_session_rare *r = s->rare;
		uint64_t len = (uint64_t)r->replay_len + (uint64_t)n;
		uint8_t *b = len <= w->cfg.max_packet_size
		    ? realloc(r->replay, (size_t)len)
		    : NULL;
		if (b == NULL) {
			struct rmq_codec_err err = {
				RMQ_RC_QUOTA_EXCEEDED,
				"more than max_packet_size sent while the CONNECT waits for authentication"
			};
			rmq_session_refuse(s, NULL, &err);
			return;
		}
		memcpy(b + r->replay_len, data, (size_t)n);
		r->replay = b;
		r->replay_len = (uint32_t)len;
		rmq_count(&w->st.bytes_in, (uint64_t)n);
		return;
	}
	rmq_count(&w->st.bytes_in, (uint64_t)n);
	size_t pos = 0, len = (size_t)n;
	while (pos < len &&
	    (s->state == RMQ_SESS_CONNECTING || s->state == RMQ_SESS_LIVE)) {
		struct rmq_packet p;
		struct rmq_codec_err err;
		size_t used;
		memset(&p, 0, sizeof(p.type) + sizeof(p.flags));
		int rc = rmq_decoder_next(&s->dec, data + pos, len - pos, &used,
		    &p, &err);
		pos += used;
		if (rc == 0)
			break;
		if (rc < 0) {
			if (rc == -ENOMEM) {
				err.reason = RMQ_RC_SERVER_BUSY;
				err.msg = "out of memory";
			}
			rmq_session_refuse(s, &p, &err);
			return;
		}
		s->last_rx_ms = w->loop->now_ms;
		if (session_dispatch(s, &p, data + pos, len - pos) ||
		    s->handed_off)
			return; /* the rest went with the connection */
	}
	/* A live session's deadline is the one of the packet it reads:
	 * set when one is begun, cleared when none is pending. */
	if (s->state == RMQ_SESS_LIVE && w->cfg.packet_timeout_ms) {
		if (!rmq_framer_pending(&s->dec.framer))
			s->deadline_ms = 0;
		else if (s->deadline_ms == 0)
			s->deadline_ms =
			    w->loop->now_ms + w->cfg.packet_timeout_ms;
	}
}

void
rmq_session_publish_will(struct rmq_session *s)
{
	struct rmq_msg *will = s->will;
	if (will == NULL)
		return;
	s->will = NULL;
	s->will_pending = 0;
	rmq_route(s->w, will);
	rmq_msg_rele(will);
	/* Sent: not again after a restart. */
	if (s->rare && s->rare->stored && s->session_expiry)
		rmq_session_store(s);
}

/* The session's connection is gone, or no longer the session's (it
 * lingers, counted until it closes): what the spec asks at the end of a
 * connection happens here.  s may be freed. */
static void
session_gone(struct rmq_session *s, int conn_closed)
{
	struct rmq_worker *w = s->w;
	uint64_t now = w->loop->now_ms;
	if (conn_closed)
		rmq_worker_conn_gone(w, s->listener);
	if (s->counted) {
		rmq_uncount(&w->st.clients[s->version - RMQ_V31]);
		s->counted = 0;
	}
	/* Control packets and aliases meant for this connection die with
	 * it; so do inbound aliases [MQTT-3.3.2-7]. */
	s->ctrl_len = 0;
	rmq_session_aliases_reset(s);
	session_alias_in_reset(s);
	s->close_after_write = 0;
	s->conn = NULL;
	if (s->rare)
		s->rare->authed = 0; /* it was the connection's */
	/* What it holds now is its backlog: max_queued_messages bounds what
	 * arrives after it (outq.c). */
	if (s->pend_len ? rmq_session_rare(s) != NULL : s->rare != NULL)
		s->rare->away_held = s->pend_len;
	rmq_session_acks_drop(s);
	rmq_count(&w->st.disconnects, 1);
	uint8_t closed_for = s->rare ? s->rare->closed_for : 0;
	if (s->rare)
		s->rare->closed_for = 0;
	if (s->registered && !s->handed_off && w->cfg.connection_messages) {
		if (closed_for)
			rmq_log(RMQ_LOG_INFO,
			    "client %.*s disconnected by the broker (0x%02x %s)",
			    s->client_id_len, s->client_id, closed_for,
			    rmq_reason_name(closed_for, 0));
		else
			rmq_log(RMQ_LOG_INFO, "client %.*s disconnected%s",
			    s->client_id_len, s->client_id,
			    s->graceful ? "" : " without DISCONNECT");
	}
	if (s->handed_off || !s->registered) {
		/* Never connected here, or connected elsewhere now. */
		rmq_session_destroy(s);
		return;
	}
	if (!s->graceful && s->will) {
		/* [MQTT-3.1.2-8]: the will goes out when the connection
		 * closes without a normal DISCONNECT, after the will delay
		 * or when the session ends, whichever is first
		 * [MQTT-3.1.3-9]. */
		if (s->will_delay == 0 || s->session_expiry == 0 ||
		    rmq_session_rare(s) == NULL)
			rmq_session_publish_will(s);
		else {
			s->will_pending = 1;
			s->rare->will_at_ms =
			    now + (uint64_t)s->will_delay * 1000u;
		}
	} else if (s->will) {
		rmq_msg_rele(s->will);
		s->will = NULL;
	}
	/* QoS 0 is not kept past the connection it was meant for, even
	 * what was still queued when it dropped; QoS 1 and 2 stay for the next
	 * connection [MQTT-4.4.0-1]. */
	rmq_session_drop_qos0(s);
	/* A peer claimed the identifier (move.c): the session leaves. */
	if (rmq_session_release_closed(s))
		return;
	if (s->session_expiry == 0) {
		/* The session ends with its connection [MQTT-3.1.2-6]; a
		 * newcomer parked on it starts a session of its own. */
		rmq_session_unstore(s);
		rmq_session_destroy(s);
		return;
	}
	if (rmq_session_parked(s)) {
		/* Taken over: the newcomer decides what becomes of the
		 * session when its CONNECT is replayed here. */
		s->state = RMQ_SESS_OFFLINE;
		rmq_session_unpark(s);
		return;
	}
	s->state = RMQ_SESS_OFFLINE;
	s->deadline_ms = s->session_expiry == 0xFFFFFFFFu
	    ? UINT64_MAX
	    : now + (uint64_t)s->session_expiry * 1000u;
	/* Offline from now, for the time its expiry counts on disk. */
	rmq_session_store(s);
}

static void
session_on_closed(struct rmq_conn *conn)
{
	struct rmq_session *s = conn->data;
	if (s != NULL)
		session_gone(s, 1);
}

void
rmq_session_tick(struct rmq_session *s, uint64_t now)
{
	switch (s->state) {
	case RMQ_SESS_CONNECTING:
	case RMQ_SESS_AUTHENTICATING: /* the verdict is part of the CONNECT */
	case RMQ_SESS_CLAIMING: /* so is the cluster's answer */
		if (now >= s->deadline_ms)
			rmq_session_close(s);
		break;
	case RMQ_SESS_REFUSING:
		if (now >= s->deadline_ms)
			rmq_session_refuse_held(s);
		break;
	case RMQ_SESS_LIVE:
		/* [MQTT-3.1.2-24]: one and a half keep alive periods. */
		if (s->keepalive &&
		    now - s->last_rx_ms > (uint64_t)s->keepalive * 1500u) {
			rmq_session_disconnect(s, RMQ_RC_KEEP_ALIVE_TIMEOUT);
		} else if (s->deadline_ms && now >= s->deadline_ms) {
			/* A packet begun and not finished (packet_timeout),
			 * keep alive or not. */
			struct rmq_codec_err err = { RMQ_RC_KEEP_ALIVE_TIMEOUT,
				"packet not finished within packet_timeout" };
			rmq_session_refuse(s, NULL, &err);
		}
		break;
	case RMQ_SESS_CLOSING:
		if (s->close_after_write && s->conn && now >= s->deadline_ms)
			rmq_session_close(s);
		break;
	case RMQ_SESS_OFFLINE:
		if (s->will_pending && now >= s->rare->will_at_ms)
			rmq_session_publish_will(s);
		if (now >= s->deadline_ms) {
			rmq_session_publish_will(s);
			rmq_session_unstore(s);
			rmq_session_destroy(s);
		}
		break;
	default: break;
	}
}

void
rmq_session_destroy(struct rmq_session *s)
{
	struct rmq_worker *w = s->w;
	struct rmq_session *parked = rmq_session_parked(s);
	if (s->rare && s->rare->parked_on) {
		/* A parked newcomer that goes first (closed at shutdown, or
		 * replaced by a later one): its session must not find it. */
		struct rmq_session *owner =
		    rmq_worker_session(w, s->rare->parked_on);
		if (owner && owner->rare && owner->rare->parked == s)
			owner->rare->parked = NULL;
	}
	/* A peer's claim that waited finds the session gone. */
	if (s->rare && s->rare->release)
		rmq_session_release_gone(s);
	rmq_session_unsubscribe_all(s);
	if (s->registered)
		rmq_registry_release(w->b->registry, s->client_id,
		    s->client_id_len, s->key);
	rmq_session_outq_clear(s);
	if (s->will)
		rmq_msg_rele(s->will);
	session_alias_in_reset(s);
	rmq_session_aliases_reset(s);
	rmq_decoder_fini(&s->dec);
	rmq_session_access_free(s);
	if (s->rare) {
		if (s->rare->drained)
			atomic_fetch_sub(&w->drained_left, 1);
		for (uint32_t i = 0; i < s->rare->held_n; i++)
			rmq_msg_rele(s->rare->held[i].msg);
		free(s->rare->held);
		free(s->rare->moved_ids);
		free(s->rare->replay);
		free(s->rare->q2in);
		rmq_session_xauth_end(s);
		free(s->rare);
	}
	free(s->client_id);
	free(s->subs);
	free(s->ctrl);
	rmq_worker_session_release(w, s);
	free(s);
	/* A newcomer waiting for this session starts a session of its own. */
	if (parked)
		rmq_session_release_parked(parked);
}

/* ---- takeover: a connection arriving for a session that lives here ---- */

/* Start reading a connection whose first bytes were already received
 * (its CONNECT and what followed) and feed them through the read path. */
static void
session_resume_reading(struct rmq_session *s, uint8_t *bytes, size_t len)
{
	struct rmq_conn *conn = s->conn;
	if (rmq_conn_read_start(conn, session_on_read) != 0) {
		free(bytes);
		rmq_session_close(s);
		return;
	}
	if (len)
		session_on_read(conn, bytes, (ssize_t)len);
	free(bytes);
}

/* Take the bytes kept to replay (a CONNECT and what followed it): the
 * session waits for its CONNECT again. */
static uint8_t *
session_take_replay(struct rmq_session *s, size_t *len)
{
	uint8_t *bytes = s->rare->replay;
	*len = s->rare->replay_len;
	s->rare->replay = NULL;
	s->rare->replay_len = 0;
	s->state = RMQ_SESS_CONNECTING;
	return bytes;
}

void
rmq_session_release_parked(struct rmq_session *p)
{
	size_t len;
	uint8_t *bytes = session_take_replay(p, &len);
	p->rare->parked_on = 0;
	session_resume_reading(p, bytes, len);
}

void
rmq_session_replay(struct rmq_session *s)
{
	size_t len;
	uint8_t *bytes = session_take_replay(s, &len);
	/* The decoder saw the CONNECT once already. */
	rmq_decoder_fini(&s->dec);
	rmq_decoder_init(&s->dec, RMQ_FROM_CLIENT, 0,
	    s->w->cfg.max_packet_size);
	if (len)
		session_on_read(s->conn, bytes, (ssize_t)len);
	free(bytes);
}

void
rmq_session_unpark(struct rmq_session *s)
{
	struct rmq_session *p = rmq_session_parked(s);
	struct rmq_worker *w = s->w;
	if (p == NULL)
		return;
	s->rare->parked = NULL;
	s->rare->authed = p->rare->authed;
	/* The newcomer's connection moves into the old session, which
	 * keeps its key, subscriptions and queues; the CONNECT replayed
	 * below finds the registry pointing here and resumes it. */
	s->conn = p->conn;
	s->conn->data = s;
	s->listener = p->listener;
	p->conn = NULL;
	rmq_decoder_fini(&s->dec);
	rmq_decoder_init(&s->dec, RMQ_FROM_CLIENT, 0, w->cfg.max_packet_size);
	s->state = RMQ_SESS_CONNECTING;
	s->graceful = 0;
	s->close_after_write = 0;
	s->last_rx_ms = w->loop->now_ms;
	s->deadline_ms = w->loop->now_ms + w->cfg.connect_timeout_ms;
	uint8_t *bytes = p->rare->replay;
	size_t len = p->rare->replay_len;
	p->rare->replay = NULL;
	rmq_session_destroy(p);
	session_resume_reading(s, bytes, len);
}

void
rmq_session_adopt(struct rmq_worker *w, uint64_t key, struct rmq_conn_move *mv,
    uint8_t listener, uint8_t *bytes, size_t len)
{
	struct rmq_conn *conn;
	if (rmq_conn_adopt(w->loop, mv, &conn) != 0) {
		rmq_worker_conn_gone(w, listener);
		rmq_conn_move_drop(mv);
		free(bytes);
		return;
	}
	rmq_conn_move_drop(mv); /* what the connection did not take */
	struct rmq_session *p = rmq_worker_session_alloc(w);
	if (p == NULL || rmq_session_rare(p) == NULL) {
		if (p)
			rmq_session_destroy(p);
		rmq_worker_conn_gone(w, listener);
		free(bytes);
		conn->data = NULL;
		rmq_conn_close(conn, NULL);
		return;
	}
	p->conn = conn;
	p->listener = listener;
	conn->data = p;
	/* Only a connection that passed authentication is handed over
	 * (connect.c claims after it authenticates). */
	p->rare->authed = 1;
	p->rare->replay = bytes;
	p->rare->replay_len = (uint32_t)len;
	p->last_rx_ms = w->loop->now_ms;
	p->deadline_ms = w->loop->now_ms + w->cfg.connect_timeout_ms;
	rmq_decoder_init(&p->dec, RMQ_FROM_CLIENT, 0, w->cfg.max_packet_size);

	struct rmq_session *s = rmq_worker_session(w, key);
	if (s == NULL) {
		/* The session ended meanwhile: a session of its own. */
		rmq_session_release_parked(p);
		return;
	}
	p->state = RMQ_SESS_PARKED;
	if (rmq_session_rare(s) == NULL) {
		rmq_session_release_parked(p);
		return;
	}
	if (s->rare->parked) {
		/* Two newcomers for one session: the later one wins. */
		struct rmq_session *older = s->rare->parked;
		older->state = RMQ_SESS_CONNECTING;
		older->rare->parked_on = 0;
		rmq_session_close(older);
	}
	s->rare->parked = p;
	p->rare->parked_on = s->key;
	if (s->conn == NULL) {
		rmq_session_unpark(s);
		return;
	}
	/* [MQTT-3.1.4-3]: the existing connection is told (5.0: 0x8E) and
	 * closed; its close lets the newcomer in. */
	if (s->state == RMQ_SESS_LIVE)
		rmq_session_disconnect(s, RMQ_RC_SESSION_TAKEN_OVER);
	else
		rmq_session_close(s);
}
