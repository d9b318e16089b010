/* broker/io/ws.c: the WebSocket layer of a connection (ws.h).
 *
 * Two phases.  First the HTTP upgrade: the request is gathered, up to the
 * listener's bound, checked, and answered 101 with the accept key and the
 * subprotocol, or with an HTTP error after which the session is told the
 * connection failed.  Then frames: libwslay's event context reads from
 * the buffer the layer below lends (no buffering of whole messages: the
 * payload of each binary frame goes up as it arrives) and writes into the
 * layer's next output buffer, which goes below one write at a time while
 * the following one fills, as in the TLS layer.  A detach (the client's
 * session lives on another loop) takes the wslay context along, with what
 * the layers below it carry.
 */
#include "ws.h"

#include <errno.h>
#include <openssl/evp.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <wslay/wslay.h>

#include "conn.h"
#include "iobuf.h"
#include "log.h"

/* RFC 6455 section 1.3: the GUID appended to the client's key. */
#define WS_GUID "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

struct rmq_ws {
	struct rmq_ws_conf conf;
	char name[80];
	_Atomic uint64_t upgrades, refused, protocol_errors;
};

enum ws_phase {
	WS_HTTP, /* reading the upgrade request */
	WS_OPEN, /* frames */
	WS_DONE, /* failed or closed: nothing more goes up */
};

struct ws_conn {
	/* First: a moving connection's state names its layer (conn.h). */
	const struct rmq_conn_layer *layer;
	struct rmq_conn up; /* what the session holds */
	struct rmq_conn *down; /* the connection below; NULL once closed */
	struct rmq_ws *ws;
	wslay_event_context_ptr ctx; /* from the upgrade on */
	void *below_layers; /* while moving: the state of the layers below */
	rmq_read_cb up_read;
	rmq_write_cb up_write; /* the session's write, until written */
	rmq_close_cb up_close;
	rmq_detach_cb up_detach;
	struct rmq_iobuf req; /* the upgrade request so far */
	struct rmq_iobuf out; /* bytes the layer below is writing */
	struct rmq_iobuf next; /* bytes to write after them */
	struct rmq_iobuf early; /* payload decoded while detaching */
	struct iovec wiov;
	const uint8_t *feed; /* bytes lent by the layer below, not read */
	size_t feed_len;
	const struct iovec *src; /* the session's write being framed */
	int src_n;
	size_t src_off;
	uint8_t phase; /* enum ws_phase */
	uint8_t binary; /* the message being read is binary */
	uint8_t data_frame; /* the frame being read carries its payload */
	uint8_t in_input; /* ws_input runs (a detach waits for its end) */
	uint8_t writing, out_has_up, next_has_up;
	uint8_t detaching;
	/* Ending the stream: 1 while the close frame is written, 2 once the
	 * connection below is shut down too. */
	uint8_t shutting;
	/* Tell the session once what is being written is out: the peer
	 * closed (end of stream) or broke the protocol (failure). */
	uint8_t eof_after_write, fail_after_write, told;
	/* Where the input stands, so that wslay's context can go while
	 * nothing is under way (ws_ctx_release): inside a frame, inside a
	 * message of several frames, and the bytes wslay was fed against
	 * those its frames' headers and payloads account for (fewer: a
	 * header it holds in part). */
	uint8_t in_frame, msg_open;
	uint64_t fed, framed;
};

static const struct rmq_conn_layer ws_layer;

#define WS_CONN(c)                                                             \
	((struct ws_conn *)(void *)((char *)(c)-offsetof(struct ws_conn, up)))

/* ---- the upgrade request (RFC 6455 section 4.2.1) ---- */

struct ws_span {
	const char *p;
	size_t n;
};

static int
ws_ieq(struct ws_span s, const char *lit)
{
	size_t n = strlen(lit);
	if (s.n != n)
		return 0;
	for (size_t i = 0; i < n; i++) {
		char a = s.p[i], b = lit[i];
		if (a >= 'A' && a <= 'Z')
			a = (char)(a - 'A' + 'a');
		if (b >= 'A' && b <= 'Z')
			b = (char)(b - 'A' + 'a');
		if (a != b)
			return 0;
	}
	return 1;
}

static struct ws_span
ws_trim(const char *p, size_t n)
{
	while (n && (p[0] == ' ' || p[0] == '\t'))
		p++, n--;
	while (n && (p[n - 1] == ' ' || p[n - 1] == '\t'))
		n--;
	return (struct ws_span){ p, n };
}

/* Whether comma separated list s holds token lit (case-insensitive). */
static int
ws_list_has(struct ws_span s, const char *lit)
{
	size_t i = 0;
	while (i <= s.n) {
		size_t j = i;
		while (j < s.n && s.p[j] != ',')
			j++;
		if (ws_ieq(ws_trim(s.p + i, j - i), lit))
			return 1;
		i = j + 1;
	}
	return 0;
}

/* What the request asked, as far as the answer depends on it. */
struct ws_request {
	int upgrade, connection, version13, version_seen;
	int proto_seen, proto_mqtt, proto_mqtt31;
	struct ws_span key;
};

static void
ws_header(struct ws_request *r, struct ws_span name, struct ws_span value)
{
	if (ws_ieq(name, "upgrade"))
		r->upgrade |= ws_list_has(value, "websocket");
	else if (ws_ieq(name, "connection"))
		r->connection |= ws_list_has(value, "upgrade");
	else if (ws_ieq(name, "sec-websocket-key"))
		r->key = value;
	else if (ws_ieq(name, "sec-websocket-version")) {
		r->version_seen = 1;
		r->version13 = value.n == 2 && memcmp(value.p, "13", 2) == 0;
	} else if (ws_ieq(name, "sec-websocket-protocol")) {
		r->proto_seen = 1;
		r->proto_mqtt |= ws_list_has(value, "mqtt");
		r->proto_mqtt31 |= ws_list_has(value, "mqttv3.1");
	}
}

/* A key is 16 bytes in base64: 22 characters and "==". */
static int
ws_key_ok(struct ws_span k)
{
	if (k.n != 24 || k.p[22] != '=' || k.p[23] != '=')
		return 0;
	for (size_t i = 0; i < 22; i++) {
		char ch = k.p[i];
		if (!((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') ||
			(ch >= '0' && ch <= '9') || ch == '+' || ch == '/'))
			return 0;
	}
	return 1;
}

/* The answer to request req[0..n) (its headers' end included) into out:
 * 101, or an HTTP error (its status returned). */
static int
ws_answer(const struct rmq_ws *w, const char *req, size_t n, char *out,
    size_t outlen)
{
	const char *end = req + n, *eol;
	struct ws_request r = { 0 };
	int status = 400;
	const char *reason = "Bad Request", *extra = "";

	/* Request line: GET SP target SP HTTP/1.x */
	eol = memchr(req, '\r', n);
	if (eol[1] != '\n')
		goto refuse;
	const char *sp1 = memchr(req, ' ', (size_t)(eol - req));
	const char *sp2 =
	    sp1 ? memchr(sp1 + 1, ' ', (size_t)(eol - sp1 - 1)) : NULL;
	if (sp1 == NULL || sp2 == NULL)
		goto refuse;
	struct ws_span version = { sp2 + 1, (size_t)(eol - sp2 - 1) };
	if (version.n != 8 || memcmp(version.p, "HTTP/1.", 7) != 0 ||
	    version.p[7] < '1' || version.p[7] > '9')
		goto refuse;
	if (sp1 - req != 3 || memcmp(req, "GET", 3) != 0) {
		status = 405;
		reason = "Method Not Allowed";
		extra = "Allow: GET\r\n";
		goto refuse;
	}
	struct ws_span target = { sp1 + 1, (size_t)(sp2 - sp1 - 1) };
	const char *q = memchr(target.p, '?', target.n);
	if (q)
		target.n = (size_t)(q - target.p);

	/* Header lines up to the empty one. */
	const char *line = eol + 2;
	while (line < end) {
		eol = memchr(line, '\r', (size_t)(end - line));
		if (eol == NULL || eol + 1 >= end || eol[1] != '\n')
			goto refuse;
		if (eol == line)
			break;
		if (line[0] == ' ' || line[0] == '\t')
			goto refuse; /* obsolete line folding (RFC 9112 5.2) */
		const char *colon = memchr(line, ':', (size_t)(eol - line));
		if (colon == NULL || colon == line)
			goto refuse;
		struct ws_span name = { line, (size_t)(colon - line) };
		for (size_t i = 0; i < name.n; i++)
			if (name.p[i] <= ' ' || name.p[i] >= 127)
				goto refuse;
		ws_header(&r, name,
		    ws_trim(colon + 1, (size_t)(eol - colon - 1)));
		line = eol + 2;
	}

	if (w->conf.path[0] &&
	    !(target.n == strlen(w->conf.path) &&
		memcmp(target.p, w->conf.path, target.n) == 0)) {
		status = 404;
		reason = "Not Found";
		goto refuse;
	}
	if (!r.upgrade || !r.connection) {
		status = 426;
		reason = "Upgrade Required";
		extra = "Upgrade: websocket\r\n";
		goto refuse;
	}
	if (!r.version13) {
		status = r.version_seen ? 426 : 400;
		reason = r.version_seen ? "Upgrade Required" : "Bad Request";
		extra = "Sec-WebSocket-Version: 13\r\n";
		goto refuse;
	}
	if (!ws_key_ok(r.key))
		goto refuse;
	/* MQTT 5.0 section 6.0: the client offers "mqtt" [MQTT-6.0.0-3] and
	 * the server selects it [MQTT-6.0.0-4]; clients of MQTT 3.1 offered
	 * "mqttv3.1".  A client that offers neither is not an MQTT
	 * client; one that offers nothing is answered without a
	 * subprotocol, and decides for itself. */
	const char *proto = r.proto_mqtt ? "mqtt"
	    : r.proto_mqtt31             ? "mqttv3.1"
					 : NULL;
	if (r.proto_seen && proto == NULL)
		goto refuse;

	char key[24 + sizeof(WS_GUID)];
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned mdlen = 0;
	unsigned char accept[32];
	memcpy(key, r.key.p, 24);
	memcpy(key + 24, WS_GUID, sizeof(WS_GUID) - 1);
	if (!EVP_Digest(key, 24 + sizeof(WS_GUID) - 1, md, &mdlen, EVP_sha1(),
		NULL)) {
		status = 500;
		reason = "Internal Server Error";
		goto refuse;
	}
	EVP_EncodeBlock(accept, md, (int)mdlen);
	snprintf(out, outlen,
	    "HTTP/1.1 101 Switching Protocols\r\n"
	    "Upgrade: websocket\r\n"
	    "Connection: Upgrade\r\n"
	    "Sec-WebSocket-Accept: %s\r\n"
	    "%s%s%s"
	    "\r\n",
	    accept, proto ? "Sec-WebSocket-Protocol: " : "", proto ? proto : "",
	    proto ? "\r\n" : "");
	return 101;

refuse:
	snprintf(out, outlen,
	    "HTTP/1.1 %d %s\r\n"
	    "%s"
	    "Content-Length: 0\r\n"
	    "Connection: close\r\n"
	    "\r\n",
	    status, reason, extra);
	return status;
}

/* ---- wslay's callbacks ---- */

static ssize_t
ws_recv_cb(wslay_event_context_ptr ctx, uint8_t *buf, size_t len, int flags,
    void *user)
{
	struct ws_conn *wc = user;
	(void)flags;
	if (wc->feed_len == 0) {
		wslay_event_set_error(ctx, WSLAY_ERR_WOULDBLOCK);
		return -1;
	}
	size_t n = len < wc->feed_len ? len : wc->feed_len;
	memcpy(buf, wc->feed, n);
	wc->feed += n;
	wc->feed_len -= n;
	wc->fed += n;
	return (ssize_t)n;
}

static ssize_t
ws_send_cb(wslay_event_context_ptr ctx, const uint8_t *data, size_t len,
    int flags, void *user)
{
	struct ws_conn *wc = user;
	(void)flags;
	if (rmq_iobuf_put(&wc->next, data, len) != 0) {
		wslay_event_set_error(ctx, WSLAY_ERR_CALLBACK_FAILURE);
		return -1;
	}
	return (ssize_t)len;
}

static void ws_protocol_error(struct ws_conn *wc, uint16_t code);

static void
ws_frame_start_cb(wslay_event_context_ptr ctx,
    const struct wslay_event_on_frame_recv_start_arg *arg, void *user)
{
	struct ws_conn *wc = user;
	(void)ctx;
	/* A client's frame header: 2 bytes, the extended length, the
	 * masking key (wslay refuses unmasked frames from a client). */
	uint64_t len = arg->payload_length;
	wc->framed += 2 + (len > 0xFFFF ? 8 : len >= 126 ? 2 : 0) + 4 + len;
	wc->in_frame = 1;
	if (arg->opcode == WSLAY_BINARY_FRAME ||
	    arg->opcode == WSLAY_TEXT_FRAME ||
	    arg->opcode == WSLAY_CONTINUATION_FRAME)
		wc->msg_open = !arg->fin;
	/* Control frames may come between the frames of a message: only
	 * binary frames and their continuations carry MQTT. */
	wc->data_frame = arg->opcode == WSLAY_BINARY_FRAME ||
	    (arg->opcode == WSLAY_CONTINUATION_FRAME && wc->binary);
	if (arg->opcode == WSLAY_BINARY_FRAME) {
		wc->binary = 1;
	} else if (arg->opcode == WSLAY_TEXT_FRAME) {
		/* MQTT 5.0 section 6.0: packets travel in binary frames;
		 * "If any other type of data frame is received the
		 * recipient MUST close the Network Connection"
		 * [MQTT-6.0.0-1]. */
		wc->binary = 0;
		ws_protocol_error(wc, WSLAY_CODE_UNSUPPORTED_DATA);
	}
}

static void
ws_frame_chunk_cb(wslay_event_context_ptr ctx,
    const struct wslay_event_on_frame_recv_chunk_arg *arg, void *user)
{
	struct ws_conn *wc = user;
	(void)ctx;
	if (!wc->data_frame || wc->phase != WS_OPEN || arg->data_length == 0)
		return;
	if (wc->detaching) {
		if (rmq_iobuf_put(&wc->early, arg->data, arg->data_length) != 0)
			ws_protocol_error(wc, WSLAY_CODE_INTERNAL_SERVER_ERROR);
		return;
	}
	if (wc->up.closing || wc->up_read == NULL)
		return;
	wc->up_read(&wc->up, arg->data, (ssize_t)arg->data_length);
}

static void
ws_frame_end_cb(wslay_event_context_ptr ctx, void *user)
{
	struct ws_conn *wc = user;
	(void)ctx;
	wc->in_frame = 0;
}

static const struct wslay_event_callbacks ws_callbacks = {
	.recv_callback = ws_recv_cb,
	.send_callback = ws_send_cb,
	.on_frame_recv_start_callback = ws_frame_start_cb,
	.on_frame_recv_chunk_callback = ws_frame_chunk_cb,
	.on_frame_recv_end_callback = ws_frame_end_cb,
};

/* The session's write, read by wslay into frames. */
static ssize_t
ws_src_read(wslay_event_context_ptr ctx, uint8_t *buf, size_t len,
    const union wslay_event_msg_source *source, int *eof, void *user)
{
	struct ws_conn *wc = user;
	size_t got = 0;
	(void)ctx, (void)source;
	while (got < len && wc->src_n > 0) {
		const struct iovec *v = wc->src;
		size_t k = v->iov_len - wc->src_off;
		if (k > len - got)
			k = len - got;
		memcpy(buf + got, (const uint8_t *)v->iov_base + wc->src_off,
		    k);
		got += k;
		wc->src_off += k;
		if (wc->src_off == v->iov_len) {
			wc->src++;
			wc->src_n--;
			wc->src_off = 0;
		}
	}
	*eof = wc->src_n == 0;
	return (ssize_t)got;
}

/* ---- wslay's context, while something is under way ---- */

/* wslay's event context carries two 4 KiB buffers (its frame reader's
 * input and its writer's output), more than the rest of a connection
 * together.  An idle connection needs neither: the context is made when
 * bytes or a write come, and goes once nothing is under way.  Returns 0,
 * or -1 out of memory. */
static int
ws_ctx(struct ws_conn *wc)
{
	if (wc->ctx != NULL)
		return 0;
	if (wslay_event_context_server_init(&wc->ctx, &ws_callbacks, wc) != 0) {
		wc->ctx = NULL;
		return -1;
	}
	wslay_event_config_set_no_buffering(wc->ctx, 1);
	wc->fed = wc->framed = 0;
	wc->in_frame = wc->msg_open = 0;
	return 0;
}

/* Free the context when it holds nothing the next bytes need: no frame
 * or message begun, no header bytes kept, nothing queued to write, no
 * close under way. */
static void
ws_ctx_release(struct ws_conn *wc)
{
	if (wc->ctx == NULL || wc->phase != WS_OPEN || wc->shutting ||
	    wc->detaching || wc->in_frame || wc->msg_open ||
	    wc->fed != wc->framed || wc->src_n != 0 ||
	    wslay_event_want_write(wc->ctx))
		return;
	wslay_event_context_free(wc->ctx);
	wc->ctx = NULL;
}

/* ---- a connection ---- */

static void ws_flush(struct ws_conn *wc);
static void ws_detach_go(struct ws_conn *wc);
static int ws_shutdown_go(struct ws_conn *wc);

static void
ws_conn_free(struct ws_conn *wc)
{
	if (wc->ctx)
		wslay_event_context_free(wc->ctx);
	rmq_iobuf_free(&wc->req);
	rmq_iobuf_free(&wc->out);
	rmq_iobuf_free(&wc->next);
	rmq_iobuf_free(&wc->early);
	free(wc);
}

/* Tell the session, once, that no more comes: n == 0 end of stream,
 * n < 0 a failure. */
static void
ws_tell(struct ws_conn *wc, ssize_t n)
{
	if (wc->told)
		return;
	wc->told = 1;
	if (wc->up_read && !wc->up.closing)
		wc->up_read(&wc->up, NULL, n);
}

/* The peer broke RFC 6455 or MQTT's rule for frames: a close frame with
 * `code` goes out, then the session hears of the failure. */
static void
ws_protocol_error(struct ws_conn *wc, uint16_t code)
{
	if (wc->phase == WS_DONE)
		return;
	wc->phase = WS_DONE;
	atomic_fetch_add(&wc->ws->protocol_errors, 1);
	rmq_log(RMQ_LOG_DEBUG, "listener %s: WebSocket protocol error %u",
	    wc->ws->name, code);
	if (ws_ctx(wc) == 0) {
		wslay_event_queue_close(wc->ctx, code, NULL, 0);
		wslay_event_shutdown_read(wc->ctx);
	}
	wc->fail_after_write = 1;
}

/* After input or a write: tell the session what it must hear once the
 * output before it is written. */
static void
ws_settle(struct ws_conn *wc)
{
	if (wc->detaching)
		return;
	if (wc->writing || wc->next.len) {
		ws_flush(wc);
		return;
	}
	if (wc->shutting == 1)
		(void)ws_shutdown_go(wc);
	if (wc->fail_after_write)
		ws_tell(wc, -EPROTO);
	else if (wc->eof_after_write)
		ws_tell(wc, 0);
}

static void
ws_frames(struct ws_conn *wc, const uint8_t *data, size_t n)
{
	if (ws_ctx(wc) != 0) {
		wc->phase = WS_DONE;
		wc->fail_after_write = 1;
		return;
	}
	wc->feed = data;
	wc->feed_len = n;
	if (wslay_event_recv(wc->ctx) != 0 && wc->phase == WS_OPEN) {
		/* Out of memory, or a callback failed. */
		wc->phase = WS_DONE;
		wc->fail_after_write = 1;
	} else if (wc->phase == WS_OPEN && !wslay_event_want_read(wc->ctx)) {
		/* A close frame (answered by wslay) or a frame wslay
		 * refused (a close with its code queued). */
		if (!wslay_event_get_close_received(wc->ctx)) {
			atomic_fetch_add(&wc->ws->protocol_errors, 1);
			wc->fail_after_write = 1;
		} else {
			wc->eof_after_write = 1;
		}
		wc->phase = WS_DONE;
	}
	wc->feed = NULL;
	wc->feed_len = 0;
	if (wslay_event_send(wc->ctx) != 0)
		wc->fail_after_write = 1;
	ws_ctx_release(wc);
}

/* The upgrade request, as far as it came: answer it once it is whole. */
static void
ws_http(struct ws_conn *wc, const uint8_t *data, size_t n)
{
	size_t max = wc->ws->conf.headers_max, from;
	size_t had = wc->req.len;
	size_t take = n;
	if (had + take > max)
		take = max - had;
	if (rmq_iobuf_put(&wc->req, data, take) != 0) {
		wc->phase = WS_DONE;
		wc->fail_after_write = 1;
		return;
	}
	from = had >= 3 ? had - 3 : 0;
	const uint8_t *p = wc->req.p, *end = NULL;
	for (size_t i = from; i + 4 <= wc->req.len; i++)
		if (p[i] == '\r' && memcmp(p + i, "\r\n\r\n", 4) == 0) {
			end = p + i + 4;
			break;
		}
	char answer[512];
	int status;
	if (end == NULL) {
		if (wc->req.len < max)
			return; /* more to come */
		status = 431;
		snprintf(answer, sizeof(answer),
		    "HTTP/1.1 431 Request Header Fields Too Large\r\n"
		    "Content-Length: 0\r\nConnection: close\r\n\r\n");
	} else {
		status = ws_answer(wc->ws, (const char *)p, (size_t)(end - p),
		    answer, sizeof(answer));
	}
	if (rmq_iobuf_put(&wc->next, answer, strlen(answer)) != 0)
		status = 500;
	if (status != 101) {
		atomic_fetch_add(&wc->ws->refused, 1);
		rmq_log(RMQ_LOG_INFO,
		    "listener %s: WebSocket upgrade refused: HTTP %d",
		    wc->ws->name, status);
		wc->phase = WS_DONE;
		wc->fail_after_write = 1;
		rmq_iobuf_free(&wc->req);
		return;
	}
	/* wslay's context comes with the first frame (ws_ctx). */
	atomic_fetch_add(&wc->ws->upgrades, 1);
	wc->phase = WS_OPEN;
	/* Frames that came with the request (end of the request inside
	 * this read: the rest of `data`, after what was copied). */
	size_t req_len = (size_t)(end - p);
	size_t rest_in_req = wc->req.len - req_len;
	struct rmq_iobuf req = wc->req;
	wc->req = (struct rmq_iobuf){ 0 };
	if (rest_in_req || take < n) {
		struct rmq_iobuf more = { 0 };
		if (rmq_iobuf_put(&more, req.p + req_len, rest_in_req) != 0 ||
		    rmq_iobuf_put(&more, data + take, n - take) != 0) {
			rmq_iobuf_free(&more);
			rmq_iobuf_free(&req);
			wc->phase = WS_DONE;
			wc->fail_after_write = 1;
			return;
		}
		rmq_iobuf_free(&req);
		ws_frames(wc, more.p, more.len);
		rmq_iobuf_free(&more);
		return;
	}
	rmq_iobuf_free(&req);
}

static void
ws_input(struct ws_conn *wc, const uint8_t *data, size_t n)
{
	wc->in_input = 1;
	if (wc->phase == WS_HTTP)
		ws_http(wc, data, n);
	else if (wc->phase == WS_OPEN)
		ws_frames(wc, data, n);
	wc->in_input = 0;
	if (wc->detaching)
		ws_detach_go(wc);
	else
		ws_settle(wc);
}

static void
ws_on_read(struct rmq_conn *down, const uint8_t *data, ssize_t n)
{
	struct ws_conn *wc = down->data;
	if (n > 0) {
		ws_input(wc, data, (size_t)n);
		return;
	}
	if (wc->phase == WS_OPEN)
		wc->phase = WS_DONE;
	ws_tell(wc, n);
}

static void
ws_on_written(struct rmq_conn *down, int status)
{
	struct ws_conn *wc = down->data;
	int had_up = wc->out_has_up;
	wc->writing = 0;
	wc->out_has_up = 0;
	rmq_iobuf_free(&wc->out);
	if (wc->detaching) {
		if (status != 0)
			wc->phase =
			    WS_DONE; /* the peer is gone: the move too */
		ws_detach_go(wc);
	} else if (status == 0) {
		ws_settle(wc);
	} else if (!had_up) {
		ws_tell(wc, status); /* the session hears of its own writes */
	}
	if (had_up && wc->up_write) {
		rmq_write_cb cb = wc->up_write;
		wc->up_write = NULL;
		cb(&wc->up, status);
	}
}

/* Hand `next` to the layer below when it writes nothing. */
static void
ws_flush(struct ws_conn *wc)
{
	if (wc->writing || wc->next.len == 0 || wc->down == NULL ||
	    wc->down->closing)
		return;
	struct rmq_iobuf b = wc->out;
	wc->out = wc->next;
	wc->next = b;
	wc->out_has_up = wc->next_has_up;
	wc->next_has_up = 0;
	wc->wiov.iov_base = wc->out.p;
	wc->wiov.iov_len = wc->out.len;
	wc->writing = 1;
	if (rmq_conn_write(wc->down, &wc->wiov, 1, ws_on_written) != 0)
		wc->writing = 0; /* closing: the close ends the session's */
}

static int
ws_read_start(struct rmq_conn *c, rmq_read_cb cb)
{
	struct ws_conn *wc = WS_CONN(c);
	wc->up_read = cb;
	int rc = rmq_conn_read_start(wc->down, ws_on_read);
	ws_flush(wc); /* what a move brought along (a pong, say) */
	return rc;
}

static int
ws_write(struct rmq_conn *c, struct iovec *iov, int n, rmq_write_cb cb)
{
	struct ws_conn *wc = WS_CONN(c);
	if (c->closing || wc->shutting)
		return -EPIPE;
	if (wc->up_write)
		return -EBUSY;
	if (wc->phase != WS_OPEN)
		return -ENOTCONN;
	/* One binary message per write, in frames of wslay's size; the
	 * receiver reads a byte stream (MQTT 5.0 section 6.0). */
	wc->src = iov;
	wc->src_n = n;
	wc->src_off = 0;
	struct wslay_event_fragmented_msg msg = {
		.opcode = WSLAY_BINARY_FRAME,
		.read_callback = ws_src_read,
	};
	if (ws_ctx(wc) != 0 ||
	    wslay_event_queue_fragmented_msg(wc->ctx, &msg) != 0 ||
	    wslay_event_send(wc->ctx) != 0 || wc->src_n != 0) {
		wc->src = NULL;
		wc->src_n = 0;
		wc->phase = WS_DONE;
		return -EPROTO;
	}
	wc->src = NULL;
	ws_ctx_release(wc);
	wc->up_write = cb;
	wc->next_has_up = 1;
	ws_flush(wc);
	return 0;
}

/* Shut the connection below down once every frame is out. */
static int
ws_shutdown_go(struct ws_conn *wc)
{
	if (wc->down == NULL || wc->down->closing)
		return -EPIPE;
	if (wc->writing || wc->next.len) {
		ws_flush(wc);
		return 0;
	}
	wc->shutting = 2;
	return rmq_conn_shutdown(wc->down);
}

/* A close frame (RFC 6455 5.5.1) before the FIN; frames the client still
 * sends are read, and their payload handed up for the session to discard,
 * until its close frame or its end of stream. */
static int
ws_shutdown(struct rmq_conn *c)
{
	struct ws_conn *wc = WS_CONN(c);
	if (c->closing)
		return -EPIPE;
	if (wc->up_write)
		return -EBUSY;
	if (wc->shutting)
		return 0;
	wc->shutting = 1;
	if (wc->phase == WS_OPEN && ws_ctx(wc) == 0 &&
	    wslay_event_queue_close(wc->ctx, WSLAY_CODE_NORMAL_CLOSURE, NULL,
		0) == 0)
		(void)wslay_event_send(wc->ctx);
	return ws_shutdown_go(wc);
}

static void
ws_on_down_closed(struct rmq_conn *down)
{
	struct ws_conn *wc = down->data;
	wc->down = NULL;
	if (wc->up_write) {
		rmq_write_cb cb = wc->up_write;
		wc->up_write = NULL;
		cb(&wc->up, -ECANCELED);
	}
	if (wc->up_close)
		wc->up_close(&wc->up);
	ws_conn_free(wc);
}

static void
ws_close(struct rmq_conn *c, rmq_close_cb cb)
{
	struct ws_conn *wc = WS_CONN(c);
	if (c->closing)
		return;
	c->closing = 1;
	wc->up_close = cb;
	/* The broker ends the connection: a close frame, when nothing else
	 * is being written, handed below just before the close.  Best
	 * effort and bounded: the backends write what the socket takes at
	 * once, and the close cancels the rest rather than wait on a peer
	 * that does not read. */
	if (wc->phase == WS_OPEN && !wc->writing && wc->down &&
	    ws_ctx(wc) == 0 &&
	    wslay_event_queue_close(wc->ctx, WSLAY_CODE_NORMAL_CLOSURE, NULL,
		0) == 0 &&
	    wslay_event_send(wc->ctx) == 0)
		ws_flush(wc);
	wc->phase = WS_DONE;
	rmq_conn_close(wc->down, ws_on_down_closed);
}

static void
ws_on_down_detached(struct rmq_conn *down, struct rmq_conn_move *below)
{
	struct ws_conn *wc = down->data;
	wc->down = NULL;
	/* What the layers below decoded and had not handed up yet is
	 * frames: their payload joins the early bytes. */
	if (below->early_len && wc->phase == WS_OPEN)
		ws_frames(wc, below->early, below->early_len);
	else if (below->early_len && wc->phase == WS_HTTP)
		ws_http(wc, below->early, below->early_len);
	free(below->early);
	below->early = NULL;
	below->early_len = 0;
	wc->below_layers = below->layers;
	struct rmq_conn_move mv = {
		.fd = below->fd,
		.layers = wc,
		.early = wc->early.p,
		.early_len = wc->early.len,
	};
	wc->early = (struct rmq_iobuf){ 0 };
	wc->up_detach(&wc->up, &mv);
}

/* Detach once the input being read is decoded and what is being
 * written has left. */
static void
ws_detach_go(struct ws_conn *wc)
{
	if (wc->in_input || wc->down == NULL || wc->down->closing)
		return;
	if (wc->writing || (wc->next.len && wc->phase != WS_DONE)) {
		ws_flush(wc);
		return;
	}
	rmq_conn_detach(wc->down, ws_on_down_detached);
}

static void
ws_detach(struct rmq_conn *c, rmq_detach_cb cb)
{
	struct ws_conn *wc = WS_CONN(c);
	if (c->closing)
		return;
	c->closing = 1;
	wc->detaching = 1;
	wc->up_detach = cb;
	ws_detach_go(wc);
}

static int
ws_adopt(void *layers, struct rmq_conn *below, struct rmq_conn **out)
{
	struct ws_conn *wc = layers;
	if (wc->phase != WS_OPEN)
		return -EPROTO;
	int rc = rmq_conn_below_adopt(&wc->below_layers, below, &below);
	if (rc != 0)
		return rc;
	wc->down = below;
	rmq_conn_over(&wc->up, below, wc);
	wc->up_read = NULL;
	wc->up_detach = NULL;
	wc->detaching = 0;
	*out = &wc->up;
	return 0;
}

static void
ws_drop(void *layers)
{
	struct ws_conn *wc = layers;
	rmq_conn_below_drop(&wc->below_layers);
	ws_conn_free(wc);
}

static int
ws_peer(struct rmq_conn *c, enum rmq_conn_peer what, char *buf, size_t len)
{
	struct ws_conn *wc = WS_CONN(c);
	return wc->down ? rmq_conn_peer(wc->down, what, buf, len) : -ENOENT;
}

static const struct rmq_conn_layer ws_layer = {
	.name = "websocket",
	.read_start = ws_read_start,
	.write = ws_write,
	.shutdown = ws_shutdown,
	.close = ws_close,
	.detach = ws_detach,
	.peer = ws_peer,
	.adopt = ws_adopt,
	.drop = ws_drop,
};

int
rmq_ws_wrap(struct rmq_ws *w, struct rmq_conn *below, struct rmq_conn **out)
{
	struct ws_conn *wc = calloc(1, sizeof(*wc));
	if (wc == NULL)
		return -ENOMEM;
	wc->layer = &ws_layer;
	wc->ws = w;
	wc->down = below;
	rmq_conn_over(&wc->up, below, wc);
	wc->up.layer = &ws_layer;
	*out = &wc->up;
	return 0;
}

struct rmq_conn *
rmq_ws_upper(struct rmq_conn *below)
{
	struct ws_conn *wc = below->data;
	return &wc->up;
}

int
rmq_ws_holds_framer(struct rmq_conn *c)
{
	return WS_CONN(c)->ctx != NULL;
}

/* ---- the listener's ---- */

int
rmq_ws_new(const struct rmq_ws_conf *conf, const char *name,
    struct rmq_ws **out)
{
	struct rmq_ws *w = calloc(1, sizeof(*w));
	if (w == NULL)
		return -ENOMEM;
	w->conf = *conf;
	if (w->conf.headers_max == 0)
		w->conf.headers_max = RMQ_WS_HEADERS_DEFAULT;
	snprintf(w->name, sizeof(w->name), "%s", name);
	*out = w;
	return 0;
}

void
rmq_ws_free(struct rmq_ws *w)
{
	free(w);
}

void
rmq_ws_stats(const struct rmq_ws *w, struct rmq_ws_stats *out)
{
	struct rmq_ws *m = (struct rmq_ws *)w;
	out->upgrades = atomic_load(&m->upgrades);
	out->refused = atomic_load(&m->refused);
	out->protocol_errors = atomic_load(&m->protocol_errors);
}
