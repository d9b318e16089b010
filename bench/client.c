/* bench/client.c: connections and their epoll loop (see client.h).
 *
 * Concurrency: a loop thread is the only one to touch its connections and
 * counters.  It shares three things: the run's phase and clock marks
 * (written by the main thread before the phase store, read after the
 * load), its published counters (relaxed atomic stores, see run.h), and
 * the per-publisher progress counters, which receivers add to once per
 * read batch and publishers read to keep their end-to-end window.
 */
#include "client.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "reason.h"
#include "tls.h"
#include "ws.h"

#define BENCH_RBUF (256u * 1024u)
#define BENCH_OUT_MAX (64u << 20) /* an output backlog beyond is an error */
#define BENCH_CONNECTING_MAX 512 /* connects in progress per loop */
#define NS 1000000000ull

static const char *const bench_v3_connack[] = {
	"Connection Accepted",
	"unacceptable protocol version",
	"identifier rejected",
	"server unavailable",
	"bad user name or password",
	"not authorized",
};

static const char *
bench_host_name(const struct rmq_bench_loop *L, const struct rmq_bench_conn *c)
{
	const struct rmq_bench_run *run = L->run;
	if (run->cfg->direct != RMQ_DIRECT_OFF)
		return "direct peer";
	return run->addrs[c->hix].name;
}

static void
bench_errorf(struct rmq_bench_loop *L, const char *fmt, ...)
{
	if (L->err_set)
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(L->err, sizeof(L->err), fmt, ap);
	va_end(ap);
	__atomic_store_n(&L->err_set, 1, __ATOMIC_RELEASE);
}

static void
bench_epoll_set(struct rmq_bench_loop *L, struct rmq_bench_conn *c, int op,
    int out)
{
	struct epoll_event ev = { 0 };
	ev.events = EPOLLIN | (out ? EPOLLOUT : 0);
	ev.data.ptr = c;
	if (epoll_ctl(L->ep, op, c->fd, &ev) != 0 && op != EPOLL_CTL_DEL)
		bench_errorf(L, "epoll_ctl: %s", strerror(errno));
	c->want_out = (uint8_t)out;
}

/* Close a connection that failed or was closed.  `counter` is the failure
 * kind; a client that never got up also counts in conn_failed. */
static void
bench_conn_fail(struct rmq_bench_loop *L, struct rmq_bench_conn *c,
    uint64_t *counter, const char *fmt, ...)
{
	if (c->state == RMQ_CS_DONE)
		return;
	if (!L->err_set) {
		char msg[200];
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(msg, sizeof(msg), fmt, ap);
		va_end(ap);
		bench_errorf(L, "%s", msg);
	}
	if (c->state != RMQ_CS_READY && c->state != RMQ_CS_IDLE)
		L->connecting--;
	if (c->state != RMQ_CS_READY)
		L->st.conn_failed++;
	if (counter)
		(*counter)++;
	if (c->role == RMQ_ROLE_PUB && c->seq > c->acked)
		L->st.inflight -= c->seq - c->acked;
	if (c->ssl)
		rmq_bench_tls_free(c->ssl);
	c->ssl = NULL;
	rmq_bench_ws_free(c->ws);
	c->ws = NULL;
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	c->state = RMQ_CS_DONE;
}

/* Make room for n more output bytes; NULL when the backlog is too big. */
static uint8_t *
bench_out_reserve(struct rmq_bench_loop *L, struct rmq_bench_conn *c,
    uint32_t n)
{
	if (c->olen == c->ooff)
		c->olen = c->ooff = 0;
	if (c->ocap - c->olen >= n)
		return c->out + c->olen;
	if (c->ooff > 0) {
		memmove(c->out, c->out + c->ooff, c->olen - c->ooff);
		c->olen -= c->ooff;
		c->ooff = 0;
		if (c->ocap - c->olen >= n)
			return c->out + c->olen;
	}
	uint64_t cap = c->ocap ? c->ocap : 256;
	while (cap - c->olen < n)
		cap *= 2;
	if (cap > BENCH_OUT_MAX) {
		bench_conn_fail(L, c, &L->st.other_errors,
		    "output backlog to %s over %u MiB: the peer does not read",
		    bench_host_name(L, c), BENCH_OUT_MAX >> 20);
		return NULL;
	}
	uint8_t *p = realloc(c->out, cap);
	if (p == NULL) {
		bench_conn_fail(L, c, &L->st.other_errors, "out of memory");
		return NULL;
	}
	c->out = p;
	c->ocap = (uint32_t)cap;
	return c->out + c->olen;
}

/* Write buf[*off..*len) to the connection (through TLS when it has it):
 * 0 when all is written or the socket is full (EPOLLOUT then asked), or
 * -EPIPE after a failure. */
static int
bench_write_out(struct rmq_bench_loop *L, struct rmq_bench_conn *c,
    const uint8_t *buf, uint32_t *off, uint32_t *len, uint64_t now)
{
	while (*off < *len) {
		ssize_t n;
		if (c->ssl) {
			char err[160];
			n = rmq_bench_tls_write(c->ssl, buf + *off, *len - *off,
			    err, sizeof(err));
			if (n == -EAGAIN) {
				n = -1;
				errno = EAGAIN;
			} else if (n < 0) {
				bench_conn_fail(L, c, &L->st.closed, "%s: %s",
				    bench_host_name(L, c), err);
				return -EPIPE;
			}
		} else {
			n = send(c->fd, buf + *off, *len - *off,
			    MSG_NOSIGNAL | MSG_DONTWAIT);
		}
		if (n > 0) {
			*off += (uint32_t)n;
			L->st.bytes_out += (uint64_t)n;
			c->last_tx = now;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			if (!c->want_out)
				bench_epoll_set(L, c, EPOLL_CTL_MOD, 1);
			return 0;
		}
		bench_conn_fail(L, c, &L->st.closed, "write to %s: %s",
		    bench_host_name(L, c), strerror(errno));
		return -EPIPE;
	}
	*off = *len = 0;
	return 0;
}

static int
bench_flush(struct rmq_bench_loop *L, struct rmq_bench_conn *c, uint64_t now)
{
	struct rmq_bench_ws *ws = c->ws && c->ws->handshaken ? c->ws : NULL;
	if (ws != NULL) {
		/* What was framed goes first; then what the connection
		 * queued since, as one frame (so a full socket holds back
		 * the MQTT bytes, which the publishers' windows bound). */
		int rc =
		    bench_write_out(L, c, ws->out, &ws->ooff, &ws->olen, now);
		if (rc != 0 || ws->olen > 0)
			return rc;
		if (c->ooff < c->olen) {
			if (rmq_bench_ws_frame(ws, c->out + c->ooff,
				c->olen - c->ooff) != 0) {
				bench_conn_fail(L, c, &L->st.other_errors,
				    "out of memory");
				return -ENOMEM;
			}
			c->olen = c->ooff = 0;
			rc = bench_write_out(L, c, ws->out, &ws->ooff,
			    &ws->olen, now);
			if (rc != 0 || ws->olen > 0)
				return rc;
		}
	} else {
		int rc = bench_write_out(L, c, c->out, &c->ooff, &c->olen, now);
		if (rc != 0 || c->olen > 0)
			return rc;
	}
	if (c->want_out)
		bench_epoll_set(L, c, EPOLL_CTL_MOD, 0);
	return 0;
}

/* Queue a 4-byte acknowledgement (type, 2, packet id): the short form
 * every version accepts for success (3.4.2.1, 3.5.2.1 ...). */
static void
bench_ack(struct rmq_bench_loop *L, struct rmq_bench_conn *c, uint8_t first,
    uint16_t id)
{
	uint8_t *d = bench_out_reserve(L, c, 4);
	if (d == NULL)
		return;
	d[0] = first;
	d[1] = 2;
	d[2] = (uint8_t)(id >> 8);
	d[3] = (uint8_t)id;
	c->olen += 4;
}

static int
bench_send_packet(struct rmq_bench_loop *L, struct rmq_bench_conn *c,
    const struct rmq_packet *pk)
{
	uint8_t version = L->run->cfg->version;
	size_t need = rmq_codec_size(pk, version);
	if (need == 0 || need > UINT32_MAX) {
		bench_conn_fail(L, c, &L->st.other_errors,
		    "cannot encode %s at MQTT level %u",
		    rmq_packet_type_name(pk->type), version);
		return -EINVAL;
	}
	uint8_t *d = bench_out_reserve(L, c, (uint32_t)need);
	if (d == NULL)
		return -ENOMEM;
	long n = rmq_codec_encode(pk, version, d, need);
	if (n < 0) {
		bench_conn_fail(L, c, &L->st.other_errors, "encoding %s: %s",
		    rmq_packet_type_name(pk->type), strerror((int)-n));
		return (int)n;
	}
	c->olen += (uint32_t)n;
	return 0;
}

static int
bench_send_connect(struct rmq_bench_loop *L, struct rmq_bench_conn *c)
{
	const struct rmq_bench_cfg *cfg = L->run->cfg;
	char cid[64];
	/* The pid keeps two runs on one machine apart; a shard's index keeps
	 * shards apart where every process is pid 1 (a Job's pods). */
	if (cfg->shard_n)
		snprintf(cid, sizeof(cid), "%.8ss%u-%d-%u", cfg->client_prefix,
		    cfg->shard_i, (int)(getpid() % 100000), c->gid);
	else
		snprintf(cid, sizeof(cid), "%.8s%d-%u", cfg->client_prefix,
		    (int)(getpid() % 100000), c->gid);
	struct rmq_packet pk;
	memset(&pk, 0, sizeof(pk));
	pk.type = RMQ_CONNECT;
	pk.connect.version = cfg->version;
	int keep = cfg->persistent && c->role == RMQ_ROLE_SUB;
	pk.connect.clean = !keep;
	pk.connect.keepalive = cfg->keepalive;
	pk.connect.client_id = (struct rmq_str){ cid, (uint32_t)strlen(cid) };
	if (cfg->username)
		pk.connect.username = (struct rmq_str){ cfg->username,
			(uint32_t)strlen(cfg->username) };
	if (cfg->password)
		pk.connect.password = (struct rmq_str){ cfg->password,
			(uint32_t)strlen(cfg->password) };
	if (cfg->version == RMQ_V5) {
		RMQ_PROP_SET(&pk.connect.props, RMQ_PROP_RECEIVE_MAXIMUM);
		pk.connect.props.receive_max = 65535;
		if (keep) {
			RMQ_PROP_SET(&pk.connect.props,
			    RMQ_PROP_SESSION_EXPIRY);
			pk.connect.props.session_expiry = 3600;
		}
	}
	return bench_send_packet(L, c, &pk);
}

static int
bench_send_subscribe(struct rmq_bench_loop *L, struct rmq_bench_conn *c)
{
	struct rmq_sub_entry e;
	memset(&e, 0, sizeof(e));
	e.filter = (struct rmq_str){ c->topic, c->topic_len };
	e.qos = L->run->cfg->qos;
	struct rmq_packet pk;
	memset(&pk, 0, sizeof(pk));
	pk.type = RMQ_SUBSCRIBE;
	pk.flags = 2;
	pk.subscribe.packet_id = 1;
	pk.subscribe.count = 1;
	pk.subscribe.entries = &e;
	return bench_send_packet(L, c, &pk);
}

/* ---- connecting ---- */

static void
bench_conn_start(struct rmq_bench_loop *L, struct rmq_bench_conn *c,
    uint64_t now)
{
	struct rmq_bench_run *run = L->run;
	const struct rmq_bench_cfg *cfg = run->cfg;
	const struct rmq_bench_addr *a = &run->addrs[c->hix];
	L->st.conn_started++;
	c->t0 = now;
	c->state = RMQ_CS_TCP;
	L->connecting++;
	c->fd = socket(a->ss.ss_family,
	    SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (c->fd < 0) {
		int e = errno;
		if (e == EMFILE || e == ENFILE)
			bench_conn_fail(L, c, &L->st.fd_limit,
			    "socket(): %s: the file descriptor limit (RLIMIT_NOFILE soft %llu, hard %llu) stops the run here",
			    strerror(e), (unsigned long long)run->fd_soft,
			    (unsigned long long)run->fd_hard);
		else
			bench_conn_fail(L, c, &L->st.other_errors,
			    "socket(): %s", strerror(e));
		return;
	}
	int one = 1;
	(void)setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (cfg->nsrc > 0) {
		const struct rmq_bench_addr *s = &run->srcs[c->gid % cfg->nsrc];
#ifdef IP_BIND_ADDRESS_NO_PORT
		/* Pick the port at connect time, per destination, so that
		 * each source address gives its own 64k ports per host. */
		(void)setsockopt(c->fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT,
		    &one, sizeof(one));
#endif
		if (bind(c->fd, (const struct sockaddr *)&s->ss, s->len) != 0) {
			bench_conn_fail(L, c, &L->st.other_errors,
			    "bind to source %s: %s", s->name, strerror(errno));
			return;
		}
	}
	if (connect(c->fd, (const struct sockaddr *)&a->ss, a->len) != 0 &&
	    errno != EINPROGRESS) {
		int e = errno;
		if (e == ECONNREFUSED)
			bench_conn_fail(L, c, &L->st.refused,
			    "connection refused by %s (is the broker running?)",
			    a->name);
		else if (e == EADDRNOTAVAIL)
			bench_conn_fail(L, c, &L->st.other_errors,
			    "connect to %s: %s (local ports exhausted: add source addresses with --ifaddr)",
			    a->name, strerror(e));
		else
			bench_conn_fail(L, c, &L->st.other_errors,
			    "connect to %s: %s", a->name, strerror(e));
		return;
	}
	bench_epoll_set(L, c, EPOLL_CTL_ADD, 1);
}

static void
bench_mqtt_start(struct rmq_bench_loop *L, struct rmq_bench_conn *c,
    uint64_t now)
{
	c->state = RMQ_CS_CONNECT;
	if (bench_send_connect(L, c) != 0)
		return;
	bench_epoll_set(L, c, EPOLL_CTL_MOD, 0);
	bench_flush(L, c, now);
}

/* --ws: the upgrade request, written as it is (the frames come after). */
static void
bench_ws_start(struct rmq_bench_loop *L, struct rmq_bench_conn *c, uint64_t now)
{
	const struct rmq_bench_cfg *cfg = L->run->cfg;
	c->state = RMQ_CS_WS;
	c->ws = calloc(1, sizeof(*c->ws));
	uint8_t *d = c->ws ? bench_out_reserve(L, c, 1024) : NULL;
	if (c->ws == NULL) {
		bench_conn_fail(L, c, &L->st.other_errors, "out of memory");
		return;
	}
	if (d == NULL)
		return;
	size_t n =
	    rmq_bench_ws_request(c->ws, cfg->hosts[L->run->addrs[c->hix].host],
		cfg->ws_path ? cfg->ws_path : "/mqtt", (char *)d, 1024);
	if (n == 0) {
		bench_conn_fail(L, c, &L->st.other_errors,
		    "cannot make a WebSocket upgrade request");
		return;
	}
	c->olen += (uint32_t)n;
	bench_epoll_set(L, c, EPOLL_CTL_MOD, 0);
	bench_flush(L, c, now);
}

/* After TCP, or TLS: the WebSocket upgrade, or MQTT at once. */
static void
bench_transport_up(struct rmq_bench_loop *L, struct rmq_bench_conn *c,
    uint64_t now)
{
	if (L->run->cfg->ws)
		bench_ws_start(L, c, now);
	else
		bench_mqtt_start(L, c, now);
}

static void
bench_tls_step(struct rmq_bench_loop *L, struct rmq_bench_conn *c, uint64_t now)
{
	char err[200];
	int rc = rmq_bench_tls_handshake(c->ssl, err, sizeof(err));
	if (rc == 0) {
		L->st.tls_resumed += (uint64_t)rmq_bench_tls_resumed(c->ssl);
		bench_transport_up(L, c, now);
	} else if (rc == -EAGAIN || rc == -EINPROGRESS) {
		int out = rc == -EINPROGRESS;
		if (c->want_out != out)
			bench_epoll_set(L, c, EPOLL_CTL_MOD, out);
	} else {
		bench_conn_fail(L, c, &L->st.other_errors, "%s with %s", err,
		    bench_host_name(L, c));
	}
}

static void
bench_conn_connected(struct rmq_bench_loop *L, struct rmq_bench_conn *c,
    uint64_t now)
{
	int err = 0;
	socklen_t len = sizeof(err);
	if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0)
		err = errno;
	if (err == ECONNREFUSED) {
		bench_conn_fail(L, c, &L->st.refused,
		    "connection refused by %s (is the broker running?)",
		    bench_host_name(L, c));
		return;
	}
	if (err != 0) {
		bench_conn_fail(L, c, &L->st.other_errors, "connect to %s: %s",
		    bench_host_name(L, c), strerror(err));
		return;
	}
	if (L->run->tls_ctx) {
		const char *host =
		    L->run->cfg->hosts[L->run->addrs[c->hix].host];
		if (rmq_bench_tls_new(L->run->tls_ctx, c->fd, host, &c->ssl) !=
		    0) {
			bench_conn_fail(L, c, &L->st.other_errors,
			    "out of memory for a TLS session");
			return;
		}
		c->state = RMQ_CS_TLS;
		bench_tls_step(L, c, now);
		return;
	}
	bench_transport_up(L, c, now);
}

/* ---- receiving ---- */

static void
bench_flush_dirty(struct rmq_bench_loop *L)
{
	struct rmq_bench_run *run = L->run;
	for (uint32_t i = 0; i < L->ndirty; i++) {
		struct rmq_bench_track *t = L->dirty[i];
		uint64_t v = t->dirty == 2 ? t->uniq : t->high;
		if (t->pub < run->plan.npubs && v > t->reported)
			__atomic_fetch_add(&run->progress[t->pub],
			    v - t->reported, __ATOMIC_RELAXED);
		t->reported = v;
		t->dirty = 0;
	}
	L->ndirty = 0;
}

static void
bench_on_publish(struct rmq_bench_loop *L, struct rmq_bench_conn *c,
    const struct rmq_publish *p, uint64_t now)
{
	int in_win = now >= L->t_measure && now < L->t_end;
	struct rmq_bench_stamp s;
	if (rmq_bench_stamp_get((const uint8_t *)p->payload.p, p->payload.len,
		L->run->stamp_run, &s) == 0) {
		/* Only this run's messages count as delivered: another
		 * run's on the same topics (one before it, whose messages
		 * the broker still holds, or one beside it) are "unstamped",
		 * acknowledged and left out. */
		L->st.delivered++;
		L->st.delivered_win += (uint64_t)in_win;
		struct rmq_bench_track *t =
		    rmq_bench_track_table_get(&c->tt, s.pub);
		if (t == NULL) {
			L->st.untracked++;
		} else {
			enum rmq_bench_track_verdict v =
			    rmq_bench_track_add(t, s.seq);
			if (v == RMQ_BENCH_TRACK_DUP) {
				L->st.dup++;
				goto ack;
			}
			L->st.uniq++;
			L->st.ooo += v == RMQ_BENCH_TRACK_OOO;
			if (!t->dirty) {
				if (L->ndirty == RMQ_BENCH_DIRTY_MAX)
					bench_flush_dirty(L);
				t->dirty = (uint16_t)(c->shared ? 2 : 1);
				L->dirty[L->ndirty++] = t;
			}
		}
		uint64_t lat = now > s.ts ? now - s.ts : 0;
		if (now >= L->t_start)
			rmq_bench_hist_record(&L->ivl, lat);
		if (in_win)
			rmq_bench_hist_record(&L->lat, lat);
	} else {
		L->st.foreign++;
	}
ack:
	if (p->qos == 1)
		bench_ack(L, c, RMQ_PUBACK << 4, p->packet_id);
	else if (p->qos == 2)
		bench_ack(L, c, RMQ_PUBREC << 4, p->packet_id);
}

static void
bench_pub_done(struct rmq_bench_loop *L, struct rmq_bench_conn *c,
    const struct rmq_ack *a, const char *what)
{
	if (c->seq == c->acked) {
		bench_conn_fail(L, c, &L->st.proto_errors,
		    "%s from %s with nothing in flight", what,
		    bench_host_name(L, c));
		return;
	}
	c->acked++;
	L->st.acked++;
	L->st.inflight--;
	if (a->reason >= 0x80) {
		const char *name = rmq_reason_name(a->reason, RMQ_PUBACK);
		L->st.other_errors++;
		bench_errorf(L, "%s from %s refused a publish: %s (0x%02x)",
		    what, bench_host_name(L, c), name ? name : "?", a->reason);
	}
}

static int
bench_on_packet(struct rmq_bench_loop *L, struct rmq_bench_conn *c,
    const struct rmq_packet *pk, uint64_t now)
{
	const struct rmq_bench_cfg *cfg = L->run->cfg;
	switch (pk->type) {
	case RMQ_PUBLISH: bench_on_publish(L, c, &pk->publish, now); return 0;
	case RMQ_PUBACK: bench_pub_done(L, c, &pk->ack, "PUBACK"); return 0;
	case RMQ_PUBREC:
		bench_ack(L, c, RMQ_PUBREL << 4 | 2, pk->ack.packet_id);
		if (pk->ack.reason >= 0x80)
			bench_pub_done(L, c, &pk->ack, "PUBREC");
		return 0;
	case RMQ_PUBCOMP: bench_pub_done(L, c, &pk->ack, "PUBCOMP"); return 0;
	case RMQ_PUBREL:
		bench_ack(L, c, RMQ_PUBCOMP << 4, pk->ack.packet_id);
		return 0;
	case RMQ_PINGRESP: return 0;
	case RMQ_CONNACK: {
		if (c->state != RMQ_CS_CONNECT)
			break;
		uint8_t rc = pk->connack.reason;
		if (rc != 0) {
			const char *name = cfg->version == RMQ_V5
			    ? rmq_reason_name(rc, RMQ_CONNACK)
			    : rc < 6 ? bench_v3_connack[rc]
				     : NULL;
			bench_conn_fail(L, c, &L->st.connack_refused,
			    "CONNACK from %s refused the connection: %s (0x%02x)",
			    bench_host_name(L, c), name ? name : "unknown code",
			    rc);
			return -1;
		}
		const struct rmq_props *pr = &pk->connack.props;
		if (cfg->version == RMQ_V5 &&
		    RMQ_PROP_HAS(pr, RMQ_PROP_RECEIVE_MAXIMUM) &&
		    pr->receive_max < c->win)
			c->win = pr->receive_max;
		if (cfg->version == RMQ_V5 &&
		    RMQ_PROP_HAS(pr, RMQ_PROP_MAXIMUM_QOS) &&
		    pr->max_qos < cfg->qos) {
			bench_conn_fail(L, c, &L->st.connack_refused,
			    "%s supports QoS %u at most, -q %u asked",
			    bench_host_name(L, c), pr->max_qos, cfg->qos);
			return -1;
		}
		rmq_bench_hist_record(&L->conn_lat, now - c->t0);
		L->st.conn_ok++;
		L->st.last_connack_ns = now;
		if (c->role == RMQ_ROLE_SUB) {
			c->state = RMQ_CS_SUBSCRIBE;
			return bench_send_subscribe(L, c);
		}
		c->state = RMQ_CS_READY;
		L->connecting--;
		return 0;
	}
	case RMQ_SUBACK: {
		if (c->state != RMQ_CS_SUBSCRIBE)
			break;
		uint8_t code = pk->suback.count ? pk->suback.codes[0] : 0x80;
		if (code >= 0x80) {
			const char *name = rmq_reason_name(code, RMQ_SUBACK);
			bench_conn_fail(L, c, &L->st.suback_refused,
			    "SUBACK from %s refused '%.*s': %s (0x%02x)",
			    bench_host_name(L, c), (int)c->topic_len, c->topic,
			    name && cfg->version == RMQ_V5 ? name : "Failure",
			    code);
			return -1;
		}
		c->state = RMQ_CS_READY;
		L->connecting--;
		L->st.sub_ok++;
		return 0;
	}
	case RMQ_DISCONNECT: {
		const char *name =
		    rmq_reason_name(pk->disconnect.reason, RMQ_DISCONNECT);
		bench_conn_fail(L, c, &L->st.closed,
		    "%s sent DISCONNECT: %s (0x%02x)", bench_host_name(L, c),
		    name ? name : "?", pk->disconnect.reason);
		return -1;
	}
	default: break;
	}
	bench_conn_fail(L, c, &L->st.proto_errors,
	    "unexpected %s from %s in this state",
	    rmq_packet_type_name(pk->type), bench_host_name(L, c));
	return -1;
}

static int
bench_process(struct rmq_bench_loop *L, struct rmq_bench_conn *c,
    const uint8_t *p, size_t len, uint64_t now)
{
	while (len > 0) {
		size_t used = 0;
		struct rmq_packet pk;
		struct rmq_codec_err err;
		int rc = rmq_decoder_next(&c->dec, p, len, &used, &pk, &err);
		p += used;
		len -= used;
		if (rc < 0) {
			bench_conn_fail(L, c, &L->st.proto_errors,
			    "protocol error from %s: %s", bench_host_name(L, c),
			    rc == -EPROTO && err.msg ? err.msg : strerror(-rc));
			return -1;
		}
		if (rc == 0)
			break;
		if (bench_on_packet(L, c, &pk, now) != 0)
			return -1;
	}
	return 0;
}

/* --ws: n bytes read into L->rbuf, the upgrade's response first, into
 * the MQTT bytes their frames carry (at the start of L->rbuf).  Returns
 * their count, or -1 after a failure. */
static ssize_t
bench_ws_input(struct rmq_bench_loop *L, struct rmq_bench_conn *c, size_t n,
    uint64_t now)
{
	char err[200];
	uint8_t *p = L->rbuf;
	if (!c->ws->handshaken) {
		ssize_t used =
		    rmq_bench_ws_response(c->ws, p, n, err, sizeof(err));
		if (used < 0) {
			bench_conn_fail(L, c, &L->st.other_errors, "%s from %s",
			    err, bench_host_name(L, c));
			return -1;
		}
		if (!c->ws->handshaken)
			return 0;
		p += used;
		n -= (size_t)used;
		memmove(L->rbuf, p, n);
		bench_mqtt_start(L, c, now);
		if (c->state == RMQ_CS_DONE)
			return -1;
	}
	ssize_t m = rmq_bench_ws_unframe(c->ws, L->rbuf, n, err, sizeof(err));
	if (m < 0)
		bench_conn_fail(L, c, &L->st.proto_errors, "%s from %s", err,
		    bench_host_name(L, c));
	return m;
}

static void
bench_input(struct rmq_bench_loop *L, struct rmq_bench_conn *c)
{
	/* TLS records are read one at a time; plaintext buffered inside
	 * OpenSSL raises no epoll event, so read until it has none left. */
	int rounds = c->ssl ? 4096 : 8;
	for (int k = 0; k < rounds; k++) {
		ssize_t n;
		char err[160];
		if (c->ssl) {
			n = rmq_bench_tls_read(c->ssl, L->rbuf, L->rcap, err,
			    sizeof(err));
			if (n == -EAGAIN)
				break;
			if (n < 0) {
				bench_conn_fail(L, c, &L->st.closed, "%s: %s",
				    bench_host_name(L, c), err);
				return;
			}
		} else {
			n = recv(c->fd, L->rbuf, L->rcap, MSG_DONTWAIT);
		}
		uint64_t now = rmq_bench_now();
		if (n > 0) {
			L->st.bytes_in += (uint64_t)n;
			ssize_t m =
			    c->ws ? bench_ws_input(L, c, (size_t)n, now) : n;
			if (m < 0 ||
			    (m > 0 &&
				bench_process(L, c, L->rbuf, (size_t)m, now) !=
				    0))
				return;
			if ((size_t)n < L->rcap && !c->ssl)
				break;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			break;
		if (c->state == RMQ_CS_READY)
			bench_conn_fail(L, c, &L->st.closed,
			    "%s closed the connection%s%s",
			    bench_host_name(L, c), n < 0 ? ": " : "",
			    n < 0 ? strerror(errno) : "");
		else
			bench_conn_fail(L, c, &L->st.other_errors,
			    "%s closed the connection before %s%s%s",
			    bench_host_name(L, c),
			    c->state == RMQ_CS_SUBSCRIBE ? "SUBACK" : "CONNACK",
			    n < 0 ? ": " : "", n < 0 ? strerror(errno) : "");
		return;
	}
	if (c->state != RMQ_CS_DONE && c->olen > c->ooff)
		bench_flush(L, c, rmq_bench_now());
}

/* ---- publishing ---- */

/* Frame up to `budget` messages of publisher c into its output buffer,
 * within its windows.  Returns the number framed. */
static uint32_t
bench_pub_fill(struct rmq_bench_loop *L, struct rmq_bench_conn *c, uint64_t now,
    uint32_t budget)
{
	const struct rmq_bench_cfg *cfg = L->run->cfg;
	if (c->olen == c->ooff)
		c->olen = c->ooff = 0;
	uint64_t n = (c->ocap - c->olen) / c->tlen;
	if (n > budget)
		n = budget;
	if (cfg->qos > 0) {
		/* Refill in batches: with messages still in flight, wait until
		 * a quarter of the window is free, so that one
		 * write carries many publishes rather than one per PUBACK. */
		uint32_t out = c->seq - c->acked;
		uint32_t room = out >= c->win ? 0 : c->win - out;
		uint32_t batch = c->win / 4;
		if (out > 0 && room < batch)
			room = 0;
		if (n > room)
			n = room;
	}
	if (cfg->interval_ms == 0 && c->nmatch > 0 && n > 0) {
		/* End-to-end window: at most --inflight messages per
		 * receiver sent but not yet seen by it. */
		uint64_t prog = __atomic_load_n(&L->run->progress[c->ridx],
		    __ATOMIC_RELAXED);
		uint64_t due = (uint64_t)c->seq * c->nmatch;
		uint64_t outst = due > prog ? due - prog : 0;
		uint64_t cap = (uint64_t)cfg->inflight * c->nmatch;
		uint64_t room = outst >= cap
		    ? 0
		    : (cap - outst + c->nmatch - 1) / c->nmatch;
		uint64_t batch = cfg->inflight / 4;
		if (outst > 0 && room < batch)
			room = 0;
		if (n > room)
			n = room;
		if (room == 0)
			L->e2e_blocked = 1;
	}
	if (cfg->limit && n > cfg->limit - c->seq)
		n = cfg->limit - c->seq;
	if (n == 0)
		return 0;
	uint8_t *d = c->out + c->olen;
	struct rmq_bench_stamp s = { c->ridx, c->seq, now };
	for (uint64_t k = 0; k < n; k++) {
		memcpy(d, c->tmpl, c->tlen);
		if (cfg->qos > 0) {
			uint16_t id = (uint16_t)(s.seq % 65535u + 1u);
			d[c->pid_off] = (uint8_t)(id >> 8);
			d[c->pid_off + 1] = (uint8_t)id;
		}
		rmq_bench_stamp_put(d + c->pay_off, &s, L->run->stamp_run);
		s.seq++;
		d += c->tlen;
	}
	c->olen += (uint32_t)(n * c->tlen);
	c->seq += (uint32_t)n;
	L->st.sent += n;
	L->st.expected += n * c->nmatch;
	if (cfg->qos > 0)
		L->st.inflight += n;
	if (now >= L->t_measure && now < L->t_end)
		L->st.sent_win += n;
	return (uint32_t)n;
}

/* One publishing round.  Returns 1 if anything was written (more may
 * follow at once) or paced sends are still due, else 0 with *wait_ns set
 * to when to look again. */
static int
bench_publish(struct rmq_bench_loop *L, uint64_t now, uint64_t *wait_ns)
{
	const struct rmq_bench_cfg *cfg = L->run->cfg;
	uint32_t lo = L->range[1], hi = L->range[2], np = hi - lo;
	if (np == 0)
		return 0;
	int wrote = 0;
	if (cfg->interval_ms == 0) {
		L->e2e_blocked = 0;
		for (uint32_t i = lo; i < hi; i++) {
			struct rmq_bench_conn *c = &L->conns[i];
			if (c->state != RMQ_CS_READY || c->want_out)
				continue;
			if (bench_pub_fill(L, c, now, UINT32_MAX) > 0) {
				bench_flush(L, c, now);
				wrote = 1;
			}
		}
		/* Nothing to write: acknowledgements and EPOLLOUT wake the loop,
		 * but receivers on other loops do not, so poll their progress
		 * (every 0.5 ms) only when that is what holds a publisher. */
		if (!wrote && L->e2e_blocked)
			*wait_ns = 500000;
		return wrote;
	}
	/* Paced: each publisher sends once per interval, at the offset its
	 * arrival pattern gives (arrival.h); one whose next turn is due
	 * already counts as behind and is dropped.  Each message is stamped
	 * as it is written, so that a burst's later messages do not count
	 * this loop's own writes of the earlier ones as latency. */
	struct rmq_bench_sched *sc = &L->sched;
	uint64_t rel = now - L->t_start;
	L->st.behind += rmq_bench_sched_skip(sc, rel);
	/* One round of this loop's publishers a call at most: a tool slower
	 * than the pace asked of it falls behind (counted at the next call)
	 * rather than chase the schedule without reading its sockets or
	 * seeing the run end. */
	for (uint32_t budget = np; rmq_bench_sched_due(sc) <= rel;) {
		if (budget-- == 0)
			return 1;
		struct rmq_bench_conn *c =
		    &L->conns[lo + rmq_bench_sched_take(sc)];
		if (cfg->limit && c->seq >= cfg->limit)
			continue;
		if (wrote) {
			now = rmq_bench_now();
			rel = now - L->t_start;
		}
		if (c->state == RMQ_CS_READY &&
		    bench_pub_fill(L, c, now, 1) == 1) {
			if (!c->want_out)
				bench_flush(L, c, now);
			wrote = 1;
		} else {
			L->st.behind++;
		}
	}
	*wait_ns = rmq_bench_sched_due(sc) - rel;
	return 0;
}

/* ---- the loop ---- */

static void
bench_ticks(struct rmq_bench_loop *L, uint64_t now)
{
	while (L->ntick < RMQ_BENCH_MAX_TICKS &&
	    now >= L->t_start + (uint64_t)(L->ntick + 1) * NS) {
		struct rmq_bench_tick *t = &L->ticks[L->ntick];
		t->sent = L->st.sent;
		t->delivered = L->st.delivered;
		t->lat_count = L->ivl.count;
		t->p50 = rmq_bench_hist_percentile(&L->ivl, 50);
		t->p99 = rmq_bench_hist_percentile(&L->ivl, 99);
		t->max = L->ivl.count ? L->ivl.max : 0;
		__atomic_store_n(&t->done, 1, __ATOMIC_RELEASE);
		rmq_bench_hist_init(&L->ivl);
		L->ntick++;
	}
}

static void
bench_publish_stats(struct rmq_bench_loop *L)
{
	const uint64_t *src = (const uint64_t *)&L->st;
	uint64_t *dst = (uint64_t *)&L->pub;
	for (size_t i = 0; i < RMQ_BENCH_NSTATS; i++)
		__atomic_store_n(&dst[i], src[i], __ATOMIC_RELAXED);
}

void
rmq_bench_loop_stats(const struct rmq_bench_loop *L,
    struct rmq_bench_stats *out)
{
	const uint64_t *src = (const uint64_t *)&L->pub;
	uint64_t *dst = (uint64_t *)out;
	for (size_t i = 0; i < RMQ_BENCH_NSTATS; i++)
		dst[i] = __atomic_load_n(&src[i], __ATOMIC_RELAXED);
}

static void
bench_start_conns(struct rmq_bench_loop *L, int ph, uint64_t now)
{
	const struct rmq_bench_cfg *cfg = L->run->cfg;
	if (ph != L->start_phase) {
		L->start_phase = ph;
		L->phase_t0 = now;
		int r = ph == RMQ_PH_SUBS ? 0
		    : ph == RMQ_PH_PUBS   ? 1
		    : ph == RMQ_PH_CONNS  ? 2
					  : -1;
		L->start_next = r < 0 ? 0 : L->range[r];
		if (ph == RMQ_PH_RUN) {
			L->t_start = L->run->t_start;
			L->t_measure = L->run->t_measure;
			L->t_end = L->run->t_end;
		}
	}
	int r = ph == RMQ_PH_SUBS ? 1
	    : ph == RMQ_PH_PUBS   ? 2
	    : ph == RMQ_PH_CONNS  ? 3
				  : -1;
	if (r < 0 || cfg->direct != RMQ_DIRECT_OFF)
		return;
	uint32_t first = L->range[r - 1], end = L->range[r];
	double every_ns = cfg->conn_interval_ms * 1e6 * L->run->nloops;
	double offset_ns = cfg->conn_interval_ms * 1e6 * L->id;
	while (L->start_next < end && L->connecting < BENCH_CONNECTING_MAX) {
		uint32_t k = L->start_next - first;
		if (every_ns > 0 &&
		    (double)(now - L->phase_t0) < offset_ns + every_ns * k)
			break;
		bench_conn_start(L, &L->conns[L->start_next], now);
		L->start_next++;
	}
}

static const char *
bench_waiting_for(uint8_t state)
{
	switch (state) {
	case RMQ_CS_TCP: return "TCP connect";
	case RMQ_CS_TLS: return "the TLS handshake";
	case RMQ_CS_WS: return "the WebSocket upgrade";
	case RMQ_CS_CONNECT: return "CONNACK";
	default: return "SUBACK";
	}
}

static void
bench_scan(struct rmq_bench_loop *L, uint64_t now)
{
	const struct rmq_bench_cfg *cfg = L->run->cfg;
	uint64_t tmo = (uint64_t)(cfg->connect_timeout_s * 1e9);
	uint64_t ka = (uint64_t)cfg->keepalive * NS / 2;
	int ping = now >= L->next_ping_scan;
	if (ping)
		L->next_ping_scan = now + NS;
	for (uint32_t i = 0; i < L->nconns; i++) {
		struct rmq_bench_conn *c = &L->conns[i];
		if (c->state == RMQ_CS_TCP || c->state == RMQ_CS_TLS ||
		    c->state == RMQ_CS_WS || c->state == RMQ_CS_CONNECT ||
		    c->state == RMQ_CS_SUBSCRIBE) {
			if (now - c->t0 > tmo)
				bench_conn_fail(L, c, &L->st.timeouts,
				    "timed out after %g s waiting for %s from %s",
				    cfg->connect_timeout_s,
				    bench_waiting_for(c->state),
				    bench_host_name(L, c));
		} else if (ping && c->state == RMQ_CS_READY && ka &&
		    cfg->direct == RMQ_DIRECT_OFF && now - c->last_tx > ka) {
			uint8_t *d = bench_out_reserve(L, c, 2);
			if (d) {
				d[0] = RMQ_PINGREQ << 4;
				d[1] = 0;
				c->olen += 2;
				bench_flush(L, c, now);
			}
		}
	}
}

static void
bench_close_all(struct rmq_bench_loop *L)
{
	static const uint8_t disconnect[2] = { RMQ_DISCONNECT << 4, 0 };
	for (uint32_t i = 0; i < L->nconns; i++) {
		struct rmq_bench_conn *c = &L->conns[i];
		if (c->fd < 0)
			continue;
		if (c->state == RMQ_CS_READY && c->ws) {
			/* One frame, written as far as the socket takes it. */
			if (rmq_bench_ws_frame(c->ws, disconnect, 2) == 0)
				(void)bench_write_out(L, c, c->ws->out,
				    &c->ws->ooff, &c->ws->olen,
				    rmq_bench_now());
		} else if (c->state == RMQ_CS_READY && c->ssl) {
			char err[64];
			(void)rmq_bench_tls_write(c->ssl, disconnect, 2, err,
			    sizeof(err));
		} else if (c->state == RMQ_CS_READY &&
		    L->run->cfg->direct == RMQ_DIRECT_OFF) {
			(void)send(c->fd, disconnect, 2,
			    MSG_NOSIGNAL | MSG_DONTWAIT);
		}
		if (c->fd < 0)
			continue; /* the write above failed it */
		if (c->ssl)
			rmq_bench_tls_free(c->ssl);
		c->ssl = NULL;
		rmq_bench_ws_free(c->ws);
		c->ws = NULL;
		close(c->fd);
		c->fd = -1;
		if (c->state != RMQ_CS_READY)
			c->state = RMQ_CS_DONE;
	}
}

void *
rmq_bench_loop_main(void *arg)
{
	struct rmq_bench_loop *L = arg;
	struct rmq_bench_run *run = L->run;
	struct epoll_event evs[256];
	L->t_start = L->t_measure = L->t_end = UINT64_MAX;
	for (;;) {
		int ph = rmq_bench_phase_get(run);
		uint64_t now = rmq_bench_now();
		if (ph == RMQ_PH_STOP)
			break;
		bench_start_conns(L, ph, now);
		if (now >= L->next_scan) {
			bench_scan(L, now);
			L->next_scan = now + NS / 10;
		}
		uint64_t wait_ns = 10000000;
		int busy = 0;
		if (ph == RMQ_PH_RUN && now < L->t_end)
			busy = bench_publish(L, now, &wait_ns);
		if (now != UINT64_MAX && L->t_start != UINT64_MAX)
			bench_ticks(L, now);
		bench_publish_stats(L);
		if (wait_ns > 10000000)
			wait_ns = 10000000;
		struct timespec ts = { 0, busy ? 0 : (long)wait_ns };
		int n = epoll_pwait2(L->ep, evs, 256, &ts, NULL);
		if (n < 0 && errno != EINTR) {
			bench_errorf(L, "epoll_pwait2: %s", strerror(errno));
			break;
		}
		for (int i = 0; i < n; i++) {
			struct rmq_bench_conn *c = evs[i].data.ptr;
			if (c->state == RMQ_CS_DONE)
				continue;
			if (c->state == RMQ_CS_TCP) {
				bench_conn_connected(L, c, rmq_bench_now());
				continue;
			}
			if (c->state == RMQ_CS_TLS) {
				bench_tls_step(L, c, rmq_bench_now());
				continue;
			}
			if (evs[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR))
				bench_input(L, c);
			if (c->state != RMQ_CS_DONE &&
			    (evs[i].events & EPOLLOUT))
				bench_flush(L, c, rmq_bench_now());
		}
		bench_flush_dirty(L);
	}
	bench_close_all(L);
	bench_publish_stats(L);
	rmq_bench_tls_thread_end();
	return NULL;
}

/* ---- setup ---- */

static int
bench_make_template(struct rmq_bench_loop *L, struct rmq_bench_conn *c)
{
	const struct rmq_bench_cfg *cfg = L->run->cfg;
	uint8_t *payload = calloc(1, cfg->size ? cfg->size : 1);
	if (payload == NULL)
		return -ENOMEM;
	struct rmq_packet pk;
	memset(&pk, 0, sizeof(pk));
	pk.type = RMQ_PUBLISH;
	pk.publish.qos = cfg->qos;
	pk.publish.retain = cfg->retain;
	pk.publish.packet_id = cfg->qos ? 1 : 0;
	pk.publish.topic = (struct rmq_str){ c->topic, c->topic_len };
	pk.publish.payload =
	    (struct rmq_str){ (const char *)payload, cfg->size };
	size_t need = rmq_codec_size(&pk, cfg->version);
	int rc = -EINVAL;
	if (need == 0 || need > (1u << 30))
		goto out;
	c->tmpl = malloc(need);
	rc = -ENOMEM;
	if (c->tmpl == NULL)
		goto out;
	long n = rmq_codec_encode(&pk, cfg->version, c->tmpl, need);
	rc = (int)n;
	if (n < 0)
		goto out;
	c->tlen = (uint32_t)n;
	c->pay_off = c->tlen - cfg->size;
	c->pid_off = c->pay_off - (cfg->version == RMQ_V5 ? 1u : 0u) - 2u;
	rc = 0;
out:
	free(payload);
	return rc;
}

static int
bench_direct_pair(struct rmq_bench_loop *L, int sv[2])
{
	if (L->run->cfg->direct == RMQ_DIRECT_UNIX)
		return socketpair(AF_UNIX,
			   SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0,
			   sv) == 0
		    ? 0
		    : -errno;
	struct sockaddr_in a = { .sin_family = AF_INET,
		.sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t alen = sizeof(a);
	int rc = 0, one = 1;
	int ls = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	sv[0] = sv[1] = -1;
	if (ls < 0)
		return -errno;
	if (bind(ls, (struct sockaddr *)&a, sizeof(a)) != 0 ||
	    listen(ls, 1) != 0 ||
	    getsockname(ls, (struct sockaddr *)&a, &alen) != 0)
		goto fail;
	sv[0] = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (sv[0] < 0 || connect(sv[0], (struct sockaddr *)&a, alen) != 0)
		goto fail;
	sv[1] = accept4(ls, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (sv[1] < 0)
		goto fail;
	(void)setsockopt(sv[0], IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	(void)setsockopt(sv[1], IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	int fl = fcntl(sv[0], F_GETFL);
	if (fl < 0 || fcntl(sv[0], F_SETFL, fl | O_NONBLOCK) != 0)
		goto fail;
	close(ls);
	return 0;
fail:
	rc = -errno;
	if (sv[0] >= 0)
		close(sv[0]);
	if (sv[1] >= 0)
		close(sv[1]);
	close(ls);
	return rc;
}

static int
bench_conn_setup(struct rmq_bench_loop *L, struct rmq_bench_conn *c,
    uint8_t role, const struct rmq_bench_client *pc, uint32_t gid)
{
	struct rmq_bench_run *run = L->run;
	const struct rmq_bench_cfg *cfg = run->cfg;
	c->fd = -1;
	c->role = role;
	c->gid = gid;
	c->ridx = pc ? pc->idx : gid;
	/* Clients go round the hosts by number, as numbered in the whole
	 * load (--shard); with --hosts-apart a publisher goes to the host
	 * after its subscriber's. */
	uint32_t first = run->plan.first;
	c->hix = run->naddrs ? (first + gid) % run->naddrs : 0;
	if (cfg->hosts_apart && run->naddrs && role == RMQ_ROLE_PUB && pc)
		c->hix = (first + pc->idx + 1) % run->naddrs;
	c->win = cfg->inflight;
	rmq_decoder_init(&c->dec, RMQ_FROM_SERVER, cfg->version, 0);
	if (pc) {
		c->topic = rmq_bench_plan_topic(&run->plan, pc);
		c->topic_len = pc->topic_len;
		c->nmatch = pc->nmatch;
		c->shared = pc->shared;
	}
	if (role == RMQ_ROLE_PUB) {
		int rc = bench_make_template(L, c);
		if (rc != 0) {
			bench_errorf(L,
			    "cannot encode a PUBLISH of %u bytes on '%s' at MQTT level %u",
			    cfg->size, c->topic, cfg->version);
			return rc;
		}
		/* Big enough to batch hard, bounded for many publishers. */
		uint64_t cap = run->plan.npubs <= 1000 ? 64u << 10 : 16u << 10;
		if (cap < (uint64_t)c->tlen * 4)
			cap = (uint64_t)c->tlen * 4;
		c->out = malloc(cap);
		if (c->out == NULL)
			return -ENOMEM;
		c->ocap = (uint32_t)cap;
	}
	if (role == RMQ_ROLE_SUB) {
		uint32_t expect = cfg->mode == RMQ_BENCH_SUB ? 1024 : c->nmatch;
		if (rmq_bench_track_table_init(&c->tt, expect) != 0)
			return -ENOMEM;
	}
	return 0;
}

int
rmq_bench_loop_init(struct rmq_bench_loop *L, struct rmq_bench_run *run,
    unsigned id)
{
	const struct rmq_bench_plan *plan = &run->plan;
	unsigned nl = run->nloops;
	memset(L, 0, sizeof(*L));
	L->run = run;
	L->id = id;
	L->ep = -1;
	L->start_phase = RMQ_PH_INIT;
	rmq_bench_hist_init(&L->lat);
	rmq_bench_hist_init(&L->ivl);
	rmq_bench_hist_init(&L->conn_lat);
	uint32_t p0 = rmq_bench_loop_first_pub(id, nl, run->cfg->apart);
	uint32_t ns = rmq_bench_dealt(plan->nsubs, id, nl);
	uint32_t np = rmq_bench_dealt(plan->npubs, p0, nl);
	uint32_t nc = rmq_bench_dealt(plan->nconns, id, nl);
	L->range[0] = 0;
	L->range[1] = ns;
	L->range[2] = ns + np;
	L->range[3] = ns + np + nc;
	L->nconns = ns + np + nc;
	if (run->cfg->interval_ms > 0 &&
	    rmq_bench_sched_init(&L->sched, run->cfg->arrival,
		(uint64_t)(run->cfg->interval_ms * 1e6), np, p0, nl,
		plan->npubs, run->cfg->arrival_seed) != 0)
		return -ENOMEM;
	L->conns = calloc(L->nconns ? L->nconns : 1, sizeof(*L->conns));
	L->ticks = calloc(RMQ_BENCH_MAX_TICKS, sizeof(*L->ticks));
	L->rcap = BENCH_RBUF;
	L->rbuf = malloc(L->rcap);
	if (L->conns == NULL || L->ticks == NULL || L->rbuf == NULL)
		return -ENOMEM;
	for (uint32_t i = 0; i < L->nconns; i++)
		L->conns[i].fd = -1;
	L->ep = epoll_create1(EPOLL_CLOEXEC);
	if (L->ep < 0) {
		bench_errorf(L, "epoll_create1: %s", strerror(errno));
		return -errno;
	}
	int rc = 0;
	for (uint32_t j = 0; j < ns && rc == 0; j++) {
		uint32_t k = id + j * nl;
		rc = bench_conn_setup(L, &L->conns[j], RMQ_ROLE_SUB,
		    &plan->subs[k], k);
	}
	for (uint32_t j = 0; j < np && rc == 0; j++) {
		uint32_t k = p0 + j * nl;
		rc = bench_conn_setup(L, &L->conns[ns + j], RMQ_ROLE_PUB,
		    &plan->pubs[k], plan->nsubs + k);
	}
	for (uint32_t j = 0; j < nc && rc == 0; j++) {
		uint32_t k = id + j * nl;
		rc = bench_conn_setup(L, &L->conns[ns + np + j], RMQ_ROLE_CONN,
		    NULL, k);
	}
	if (rc != 0 || run->cfg->direct == RMQ_DIRECT_OFF)
		return rc;
	/* --direct: publisher j and subscriber j of this loop are pair
	 * k = id + j * nloops of the plan, joined by a socket pair. */
	uint64_t now = rmq_bench_now();
	for (uint32_t j = 0; j < ns && j < np; j++) {
		int sv[2];
		rc = bench_direct_pair(L, sv);
		if (rc != 0) {
			bench_errorf(L, "direct pair %u: %s", j, strerror(-rc));
			return rc;
		}
		struct rmq_bench_conn *pc = &L->conns[ns + j],
				      *sc = &L->conns[j];
		pc->fd = sv[0];
		sc->fd = sv[1];
		pc->state = sc->state = RMQ_CS_READY;
		pc->last_tx = sc->last_tx = now;
		bench_epoll_set(L, pc, EPOLL_CTL_ADD, 0);
		bench_epoll_set(L, sc, EPOLL_CTL_ADD, 0);
		L->st.conn_started += 2;
		L->st.conn_ok += 2;
		L->st.sub_ok++;
	}
	bench_publish_stats(L);
	return 0;
}

void
rmq_bench_loop_fini(struct rmq_bench_loop *L)
{
	rmq_bench_sched_fini(&L->sched);
	for (uint32_t i = 0; i < L->nconns; i++) {
		struct rmq_bench_conn *c = &L->conns[i];
		if (c->ssl)
			rmq_bench_tls_free(c->ssl);
		rmq_bench_ws_free(c->ws);
		if (c->fd >= 0)
			close(c->fd);
		rmq_decoder_fini(&c->dec);
		free(c->out);
		free(c->tmpl);
		rmq_bench_track_table_fini(&c->tt);
	}
	if (L->ep >= 0)
		close(L->ep);
	free(L->conns);
	free(L->ticks);
	free(L->rbuf);
	L->conns = NULL;
	L->ticks = NULL;
	L->rbuf = NULL;
}
