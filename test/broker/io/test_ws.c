/* test/broker/io/test_ws.c: the WebSocket layer of a connection
 * (broker/io/ws.c) on a node on the fake loop backend: the HTTP upgrade
 * and its refusals, MQTT in binary frames both ways however frames and
 * packets are cut, control frames, frames MQTT and RFC 6455 forbid, a
 * connection moving to another loop mid-stream, and all of it over TLS
 * (secure WebSocket).  The client side is written here byte by byte, as
 * RFC 6455 lays frames out, so that the test does not share the broker's
 * framing library.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec.h"
#include "rmq_test.h"
#include "rmq_test_node.h"
#include "rmq_test_tls.h"
#include "tls.h"
#include "ws.h"

static struct rmq_test_certs certs;
static int secure;
static const char *path;
static uint32_t headers_max = 1024;

static void
ws_tweak(struct rmq_config *cfg)
{
	struct rmq_listen_addr *a = &cfg->listeners[0];
	a->protocol = RMQ_PROTO_WEBSOCKETS;
	if (path)
		snprintf(a->ws.path, sizeof(a->ws.path), "%s", path);
	a->ws.headers_max = headers_max;
	if (secure) {
		snprintf(a->tls.certfile, sizeof(a->tls.certfile), "%s",
		    certs.server_cert);
		snprintf(a->tls.keyfile, sizeof(a->tls.keyfile), "%s",
		    certs.server_key);
	}
}

static void
start(unsigned workers, int want_secure, const char *want_path)
{
	secure = want_secure;
	path = want_path;
	if (secure)
		rmq_test_certs_make(&certs);
	rmq_test_node_start(workers, ws_tweak);
	cr_assert_not_null(rmq_test_node.transports[0].ws);
}

static void
stop(void)
{
	rmq_test_node_stop();
	if (secure)
		rmq_test_certs_remove(&certs);
}

static void
start_ws(void)
{
	start(1, 0, NULL);
}
static void
start_two(void)
{
	start(2, 0, NULL);
}
static void
start_path(void)
{
	start(1, 0, "/mqtt");
}
static void
start_wss(void)
{
	start(2, 1, NULL);
}
static void
start_unset(void)
{
	headers_max = 0;
	start(1, 0, NULL);
}

TestSuite(ws, .init = start_ws, .fini = stop, .timeout = 30);
TestSuite(ws_handoff, .init = start_two, .fini = stop, .timeout = 30);
TestSuite(ws_path, .init = start_path, .fini = stop, .timeout = 30);
TestSuite(wss, .init = start_wss, .fini = stop, .timeout = 30);
TestSuite(ws_unset, .init = start_unset, .fini = stop, .timeout = 30);

static struct rmq_ws_stats
stats(void)
{
	struct rmq_ws_stats st;
	rmq_ws_stats(rmq_test_node.transports[0].ws, &st);
	return st;
}

/* ---- the client's end: plain, or over the test's TLS client ---- */

struct wsc {
	struct rmq_fake_client *fc;
	struct rmq_test_tls *tls;
	uint8_t in[1 << 21]; /* bytes from the broker, not parsed yet */
	size_t in_len;
	int closed;
};

static void
raw_send(struct wsc *c, const void *p, size_t n)
{
	if (c->tls)
		rmq_test_tls_send(c->tls, p, n);
	else
		rmq_fake_send(c->fc, p, n);
}

/* Settle and take what came, into c->in. */
static void
raw_pump(struct wsc *c)
{
	if (c->tls) {
		int closed = 0;
		for (;;) {
			size_t k = rmq_test_tls_recv(c->tls, c->in + c->in_len,
			    sizeof(c->in) - c->in_len, &closed);
			c->in_len += k;
			if (k == 0 || closed)
				break;
		}
		c->closed = closed;
		return;
	}
	rmq_fake_settle();
	c->in_len +=
	    rmq_fake_take(c->fc, c->in + c->in_len, sizeof(c->in) - c->in_len);
	c->closed = c->fc->closed;
}

static struct wsc *
wsc_new(unsigned worker)
{
	struct wsc *c = calloc(1, sizeof(*c));
	cr_assert_not_null(c);
	c->fc = rmq_test_client(worker);
	if (secure) {
		c->tls = rmq_test_tls_new(c->fc, certs.ca, NULL, NULL, 0);
		cr_assert_eq(rmq_test_tls_handshake(c->tls), 1, "handshake: %s",
		    rmq_test_tls_error(c->tls));
	}
	return c;
}

static void
wsc_free(struct wsc *c)
{
	if (c->tls)
		rmq_test_tls_free(c->tls);
	free(c);
}

/* The HTTP answer, once whole, into out (NUL terminated); what follows
 * it stays in c->in.  Returns its length, 0 if none came. */
static size_t
http_answer(struct wsc *c, char *out, size_t cap)
{
	raw_pump(c);
	for (size_t i = 0; i + 4 <= c->in_len; i++)
		if (memcmp(c->in + i, "\r\n\r\n", 4) == 0) {
			size_t n = i + 4;
			cr_assert_lt(n, cap);
			memcpy(out, c->in, n);
			out[n] = '\0';
			memmove(c->in, c->in + n, c->in_len - n);
			c->in_len -= n;
			return n;
		}
	out[0] = '\0';
	return 0;
}

static const char upgrade_fmt[] =
    "GET %s HTTP/1.1\r\n"
    "Host: 127.0.0.1\r\n"
    "Upgrade: websocket\r\n"
    "Connection: keep-alive, Upgrade\r\n"
    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
    "Sec-WebSocket-Version: 13\r\n"
    "Sec-WebSocket-Protocol: mqtt\r\n"
    "\r\n";

static void
upgrade(struct wsc *c)
{
	char req[512], ans[1024];
	int n = snprintf(req, sizeof(req), upgrade_fmt, "/mqtt");
	raw_send(c, req, (size_t)n);
	cr_assert_gt(http_answer(c, ans, sizeof(ans)), 0, "no answer");
	cr_assert(strncmp(ans, "HTTP/1.1 101 ", 13) == 0, "%s", ans);
}

/* A client frame: FIN as given, masked with a fixed key, as RFC 6455
 * section 5.3 requires of clients. */
static size_t
frame(uint8_t *out, int fin, uint8_t opcode, const void *payload, size_t n,
    int masked)
{
	static const uint8_t key[4] = { 0x37, 0xfa, 0x21, 0x3d };
	size_t h = 0;
	out[h++] = (uint8_t)((fin ? 0x80 : 0) | opcode);
	uint8_t m = masked ? 0x80 : 0;
	if (n < 126) {
		out[h++] = (uint8_t)(m | n);
	} else if (n < 65536) {
		out[h++] = m | 126;
		out[h++] = (uint8_t)(n >> 8);
		out[h++] = (uint8_t)n;
	} else {
		out[h++] = m | 127;
		for (int i = 7; i >= 0; i--)
			out[h++] = (uint8_t)((uint64_t)n >> (8 * i));
	}
	if (masked) {
		memcpy(out + h, key, 4);
		h += 4;
	}
	const uint8_t *p = payload;
	for (size_t i = 0; i < n; i++)
		out[h + i] = masked ? (uint8_t)(p[i] ^ key[i % 4]) : p[i];
	return h + n;
}

static void
send_frame(struct wsc *c, int fin, uint8_t opcode, const void *p, size_t n)
{
	uint8_t *b = malloc(n + 14);
	cr_assert_not_null(b);
	raw_send(c, b, frame(b, fin, opcode, p, n, 1));
	free(b);
}

/* One server frame from c->in: its opcode, FIN and payload (into buf).
 * Returns the payload length, or -1 when no whole frame is there. */
static long
next_frame(struct wsc *c, uint8_t *opcode, int *fin, uint8_t *buf, size_t cap)
{
	if (c->in_len < 2)
		raw_pump(c);
	if (c->in_len < 2)
		return -1;
	const uint8_t *p = c->in;
	cr_assert_eq(p[1] & 0x80, 0, "RFC 6455 5.1: a server must not mask");
	size_t h = 2, n = p[1] & 0x7f;
	if (n == 126) {
		if (c->in_len < 4)
			return -1;
		n = (size_t)p[2] << 8 | p[3];
		h = 4;
	} else if (n == 127) {
		if (c->in_len < 10)
			return -1;
		n = 0;
		for (int i = 0; i < 8; i++)
			n = n << 8 | p[2 + i];
		h = 10;
	}
	if (c->in_len < h + n) {
		raw_pump(c);
		if (c->in_len < h + n)
			return -1;
		p = c->in;
	}
	cr_assert_leq(n, cap);
	*opcode = p[0] & 0x0f;
	*fin = !!(p[0] & 0x80);
	memcpy(buf, p + h, n);
	memmove(c->in, c->in + h + n, c->in_len - h - n);
	c->in_len -= h + n;
	return (long)n;
}

/* The payload of binary (and continuation) frames, until n bytes came. */
static size_t
recv_mqtt(struct wsc *c, uint8_t *buf, size_t n)
{
	size_t got = 0;
	static uint8_t f[1 << 21];
	while (got < n) {
		uint8_t op;
		int fin;
		long k = next_frame(c, &op, &fin, f, sizeof(f));
		if (k < 0)
			break;
		cr_assert(op == 2 || op == 0,
		    "opcode %u: MQTT goes in binary frames", op);
		cr_assert_leq(got + (size_t)k, n);
		memcpy(buf + got, f, (size_t)k);
		got += (size_t)k;
	}
	return got;
}

/* The broker ended the stream after its last packet: a close frame with
 * 1000 (RFC 6455 5.5.1), under TLS a close_notify, and a FIN; what the
 * client sends after it is read and thrown away, and the connection
 * closes when the client hangs up. */
static void
expect_graceful_end(struct wsc *c)
{
	uint8_t op, f[128];
	int fin;
	long k = next_frame(c, &op, &fin, f, sizeof(f));
	cr_assert(k >= 2 && op == 8 && f[0] == 0x03 && f[1] == 0xe8,
	    "a close frame with 1000, got opcode %u, %ld bytes", op, k);
	cr_assert(c->fc->shut, "shut down after the close frame");
	cr_assert_not(c->fc->closed, "open until the client's end");
	if (c->tls)
		cr_assert(c->closed, "a close_notify after the close frame");
	const uint8_t ping[] = { 0xc0, 0x00 }; /* PINGREQ: not answered */
	send_frame(c, 1, 2, ping, 2);
	raw_pump(c);
	cr_assert_eq(c->in_len, 0, "nothing written after the close frame");
	cr_assert_not(c->fc->closed);
	rmq_fake_hangup(c->fc);
	rmq_fake_settle();
	cr_assert(c->fc->closed, "closed at the client's end");
}

static const uint8_t connack[] = { 0x20, 0x02, 0x00, 0x00 };
static const uint8_t suback[] = { 0x90, 0x03, 0x00, 0x01, 0x00 };

/* Upgraded, connected as id, subscribed to filter. */
static struct wsc *
ws_client(unsigned worker, const char *id, const char *filter)
{
	struct wsc *c = wsc_new(worker);
	uint8_t b[128];
	upgrade(c);
	send_frame(c, 1, 2, b, rmq_test_connect_bytes(id, 1, b, sizeof(b)));
	cr_assert_eq(recv_mqtt(c, b, 4), 4);
	cr_assert_arr_eq(b, connack, 4, "CONNACK in a binary frame");
	if (filter) {
		send_frame(c, 1, 2, b,
		    rmq_test_subscribe_bytes(filter, b, sizeof(b)));
		cr_assert_eq(recv_mqtt(c, b, 5), 5);
		cr_assert_arr_eq(b, suback, 5);
	}
	return c;
}

/* ---- the upgrade ---- */

Test(ws, upgrade_answers_with_the_accept_key_and_mqtt)
{
	struct wsc *c = wsc_new(0);
	char req[512], ans[1024];
	raw_send(c, req, (size_t)snprintf(req, sizeof(req), upgrade_fmt, "/"));
	cr_assert_gt(http_answer(c, ans, sizeof(ans)), 0);
	/* RFC 6455 section 1.3's example key and its answer. */
	cr_assert(strstr(ans, "HTTP/1.1 101 Switching Protocols\r\n") == ans,
	    "%s", ans);
	cr_assert_not_null(
	    strstr(ans,
		"\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"),
	    "%s", ans);
	/* MQTT 5.0 section 6.0: "The WebSocket Subprotocol name selected and
	 * returned by the Server MUST be "mqtt"" [MQTT-6.0.0-4]. */
	cr_assert_not_null(strstr(ans, "\r\nSec-WebSocket-Protocol: mqtt\r\n"),
	    "%s", ans);
	cr_assert_eq(stats().upgrades, 1);
	wsc_free(c);
}

Test(ws, request_a_byte_at_a_time_is_taken)
{
	struct wsc *c = wsc_new(0);
	char req[512], ans[1024];
	int n = snprintf(req, sizeof(req), upgrade_fmt, "/mqtt");
	for (int i = 0; i < n; i++) {
		rmq_fake_send(c->fc, req + i, 1);
		rmq_fake_settle();
	}
	cr_assert_gt(http_answer(c, ans, sizeof(ans)), 0);
	cr_assert(strncmp(ans, "HTTP/1.1 101 ", 13) == 0, "%s", ans);
	wsc_free(c);
}

/* The answer to request `req`: its status line's code. */
static int
status_of(const char *req, char *ans, size_t cap)
{
	struct wsc *c = wsc_new(0);
	raw_send(c, req, strlen(req));
	int code = 0;
	if (http_answer(c, ans, cap) > 0)
		sscanf(ans, "HTTP/1.1 %d", &code);
	raw_pump(c);
	cr_assert(c->closed, "the connection is closed after %d", code);
	wsc_free(c);
	return code;
}

Test(ws, refusals_carry_their_http_status)
{
	char ans[1024];
	cr_assert_eq(status_of("GET / HTTP/1.1\r\nHost: x\r\n\r\n", ans,
			 sizeof(ans)),
	    426, "a plain GET: %s", ans);
	cr_assert_not_null(strstr(ans, "Upgrade: websocket\r\n"));
	cr_assert_eq(status_of("POST / HTTP/1.1\r\nUpgrade: websocket\r\n"
			       "Connection: Upgrade\r\n\r\n",
			 ans, sizeof(ans)),
	    405, "%s", ans);
	cr_assert_eq(
	    status_of("GET / HTTP/1.1\r\nUpgrade: websocket\r\n"
		      "Connection: Upgrade\r\n"
		      "Sec-WebSocket-Version: 12\r\n"
		      "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n",
		ans, sizeof(ans)),
	    426, "%s", ans);
	/* RFC 6455 section 4.4: the versions the server takes. */
	cr_assert_not_null(strstr(ans, "Sec-WebSocket-Version: 13\r\n"));
	cr_assert_eq(status_of("GET / HTTP/1.1\r\nUpgrade: websocket\r\n"
			       "Connection: Upgrade\r\n"
			       "Sec-WebSocket-Version: 13\r\n\r\n",
			 ans, sizeof(ans)),
	    400, "no key: %s", ans);
	cr_assert_eq(status_of("GET / HTTP/1.1\r\nUpgrade: websocket\r\n"
			       "Connection: Upgrade\r\n"
			       "Sec-WebSocket-Version: 13\r\n"
			       "Sec-WebSocket-Key: short==\r\n\r\n",
			 ans, sizeof(ans)),
	    400, "a key that is not 16 bytes: %s", ans);
	cr_assert_eq(
	    status_of("GET / HTTP/1.1\r\nUpgrade: websocket\r\n"
		      "Connection: Upgrade\r\n"
		      "Sec-WebSocket-Version: 13\r\n"
		      "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
		      "Sec-WebSocket-Protocol: wamp, graphql-ws\r\n\r\n",
		ans, sizeof(ans)),
	    400, "no MQTT subprotocol offered: %s", ans);
	cr_assert_eq(status_of("GET / HTTP/1.0 extra\r\n\r\n", ans,
			 sizeof(ans)),
	    400, "%s", ans);
	cr_assert_eq(stats().refused, 7);
	cr_assert_eq(stats().upgrades, 0);
}

Test(ws, request_past_the_bound_gets_431)
{
	/* headers_max is 1024 here: a header line of 2000 bytes. */
	char req[2200], ans[1024];
	int n = snprintf(req, sizeof(req), "GET / HTTP/1.1\r\nX-Pad: ");
	memset(req + n, 'a', 2000);
	memcpy(req + n + 2000, "\r\n\r\n", 5);
	cr_assert_eq(status_of(req, ans, sizeof(ans)), 431, "%s", ans);
	cr_assert_eq(stats().refused, 1);
}

/* An upgrade request of `pad` bytes of cookie besides the usual. */
static int
request_with_cookie(size_t pad, char *ans, size_t cap)
{
	char *req = malloc(pad + 512);
	cr_assert_not_null(req);
	int n = snprintf(req, 512,
	    "GET /mqtt HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
	    "Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
	    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
	    "Sec-WebSocket-Protocol: mqtt\r\nCookie: c=");
	memset(req + n, 'x', pad);
	memcpy(req + n + pad, "\r\n\r\n", 5);
	struct wsc *c = wsc_new(0);
	raw_send(c, req, strlen(req));
	int code = 0;
	if (http_answer(c, ans, cap) > 0)
		sscanf(ans, "HTTP/1.1 %d", &code);
	wsc_free(c);
	free(req);
	return code;
}

Test(ws_unset, the_default_bound_is_8192_bytes)
{
	char ans[1024];
	/* A browser's request with cookies: well past 512 bytes. */
	cr_assert_eq(request_with_cookie(4000, ans, sizeof(ans)), 101, "%s",
	    ans);
	cr_assert_eq(request_with_cookie(RMQ_WS_HEADERS_DEFAULT, ans,
			 sizeof(ans)),
	    431, "%s", ans);
}

Test(ws, no_subprotocol_offered_is_answered_without_one)
{
	struct wsc *c = wsc_new(0);
	const char *req = "GET / HTTP/1.1\r\nUpgrade: WebSocket\r\n"
			  "Connection: upgrade\r\n"
			  "Sec-WebSocket-Version: 13\r\n"
			  "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n";
	char ans[1024];
	raw_send(c, req, strlen(req));
	cr_assert_gt(http_answer(c, ans, sizeof(ans)), 0);
	cr_assert(strncmp(ans, "HTTP/1.1 101 ", 13) == 0, "%s", ans);
	cr_assert_null(strstr(ans, "Sec-WebSocket-Protocol"), "%s", ans);
	wsc_free(c);
}

Test(ws_path, only_the_configured_path_is_upgraded)
{
	char req[512], ans[1024];
	snprintf(req, sizeof(req), upgrade_fmt, "/other");
	cr_assert_eq(status_of(req, ans, sizeof(ans)), 404, "%s", ans);
	/* The query string is not part of the path. */
	struct wsc *c = wsc_new(0);
	raw_send(c, req,
	    (size_t)snprintf(req, sizeof(req), upgrade_fmt, "/mqtt?x=1"));
	cr_assert_gt(http_answer(c, ans, sizeof(ans)), 0);
	cr_assert(strncmp(ans, "HTTP/1.1 101 ", 13) == 0, "%s", ans);
	wsc_free(c);
}

/* ---- MQTT in frames ---- */

static void
pubsub_both_ways(void)
{
	struct wsc *sub = ws_client(0, "sub", "t/#");
	struct wsc *pub = ws_client(0, "pub", NULL);
	uint8_t b[256], got[256];
	size_t n = rmq_test_publish_bytes("t/1", (const uint8_t *)"over ws", 7,
	    b, sizeof(b));
	send_frame(pub, 1, 2, b, n);
	cr_assert_eq(recv_mqtt(sub, got, n), n);
	cr_assert_arr_eq(got, b, n, "the PUBLISH as sent, in a binary frame");
	wsc_free(sub);
	wsc_free(pub);
}

Test(ws, mqtt_both_ways_in_binary_frames)
{
	pubsub_both_ways();
}

Test(ws, packets_cut_across_frames_and_frames_holding_several)
{
	struct wsc *c = wsc_new(0);
	upgrade(c);
	uint8_t b[256], got[16];
	size_t n = rmq_test_connect_bytes("cut", 1, b, sizeof(b));
	/* MQTT 5.0 section 6.0: "A single WebSocket data frame can contain
	 * multiple or partial MQTT Control Packets" and "The receiver MUST
	 * NOT assume that MQTT Control Packets are aligned on WebSocket
	 * frame boundaries" [MQTT-6.0.0-2]: CONNECT in a fragmented
	 * message (binary, then a continuation frame), then SUBSCRIBE and
	 * PINGREQ in one frame. */
	send_frame(c, 0, 2, b, 5);
	send_frame(c, 1, 0, b + 5, n - 5);
	cr_assert_eq(recv_mqtt(c, got, 4), 4);
	cr_assert_arr_eq(got, connack, 4);
	size_t k = rmq_test_subscribe_bytes("a", b, sizeof(b));
	b[k++] = 0xc0;
	b[k++] = 0x00;
	send_frame(c, 1, 2, b, k);
	cr_assert_eq(recv_mqtt(c, got, 7), 7);
	cr_assert_arr_eq(got, suback, 5);
	cr_assert_eq(got[5], 0xd0, "PINGRESP after the SUBACK");
	wsc_free(c);
}

/* wslay's context (two 4 KiB buffers) is held only while something is
 * under way: not by an idle connection, but across a header cut in two
 * reads and across the frames of one message. */
static int
holds_framer(struct wsc *c)
{
	return rmq_ws_holds_framer(
	    rmq_ws_upper((struct rmq_conn *)c->fc->conn));
}

Test(ws, an_idle_connection_holds_no_framer)
{
	struct wsc *c = wsc_new(0);
	upgrade(c);
	cr_assert_not(holds_framer(c), "none before the first frame");
	uint8_t b[256], f[300], got[16];
	size_t n = rmq_test_connect_bytes("idle", 1, b, sizeof(b));
	send_frame(c, 1, 2, b, n);
	cr_assert_eq(recv_mqtt(c, got, 4), 4);
	cr_assert_arr_eq(got, connack, 4);
	cr_assert_not(holds_framer(c), "none once the CONNACK is out");
	/* A PINGREQ frame sent one byte at a time: held while the header
	 * is in part, and while the payload is. */
	static const uint8_t ping[] = { 0xc0, 0x00 };
	size_t k = frame(f, 1, 2, ping, 2, 1);
	for (size_t i = 0; i < k; i++) {
		rmq_fake_send(c->fc, f + i, 1);
		rmq_fake_settle();
		if (i + 1 < k)
			cr_assert(holds_framer(c), "byte %zu of %zu", i + 1, k);
	}
	cr_assert_eq(recv_mqtt(c, got, 2), 2);
	cr_assert_eq(got[0], 0xd0);
	cr_assert_not(holds_framer(c));
	/* A message of two frames: held between them. */
	send_frame(c, 0, 2, ping, 1);
	rmq_fake_settle();
	cr_assert(holds_framer(c), "a message begun");
	send_frame(c, 1, 0, ping + 1, 1);
	cr_assert_eq(recv_mqtt(c, got, 2), 2);
	cr_assert_not(holds_framer(c));
	wsc_free(c);
}

Test(ws, ping_between_fragments_is_not_mqtt)
{
	struct wsc *c = wsc_new(0);
	upgrade(c);
	uint8_t b[256], got[16];
	size_t n = rmq_test_connect_bytes("frag", 1, b, sizeof(b));
	/* RFC 6455 section 5.4: control frames may be injected in the
	 * middle of a fragmented message; their payload is not the
	 * message's. */
	send_frame(c, 0, 2, b, 3);
	send_frame(c, 1, 9, "zz", 2);
	send_frame(c, 1, 0, b + 3, n - 3);
	uint8_t op;
	int fin;
	cr_assert_eq(next_frame(c, &op, &fin, got, sizeof(got)), 2);
	cr_assert_eq(op, 10, "the pong first");
	cr_assert_eq(recv_mqtt(c, got, 4), 4);
	cr_assert_arr_eq(got, connack, 4,
	    "the CONNECT whole, without the ping's bytes");
	wsc_free(c);
}

Test(ws, payload_of_a_megabyte_both_ways)
{
	struct wsc *sub = ws_client(0, "big-sub", "big");
	struct wsc *pub = ws_client(0, "big-pub", NULL);
	size_t plen = 1u << 20;
	uint8_t *payload = malloc(plen);
	uint8_t *b = malloc(plen + 64), *got = malloc(plen + 64);
	cr_assert(payload && b && got);
	for (size_t i = 0; i < plen; i++)
		payload[i] = (uint8_t)(i * 7 + 3);
	size_t n = rmq_test_publish_bytes("big", payload, plen, b, plen + 64);
	send_frame(pub, 1, 2, b, n);
	cr_assert_eq(recv_mqtt(sub, got, n), n);
	cr_assert(memcmp(got, b, n) == 0, "a megabyte, byte for byte");
	free(payload);
	free(b);
	free(got);
	wsc_free(sub);
	wsc_free(pub);
}

/* ---- control frames and frames that are refused ---- */

Test(ws, ping_is_answered_with_its_payload)
{
	struct wsc *c = ws_client(0, "pinger", NULL);
	send_frame(c, 1, 9, "hi!", 3);
	uint8_t op, f[16];
	int fin;
	long n = next_frame(c, &op, &fin, f, sizeof(f));
	cr_assert_eq(n, 3);
	cr_assert_eq(op, 10, "a pong");
	cr_assert(memcmp(f, "hi!", 3) == 0);
	wsc_free(c);
}

/* The close frame the broker sent, its status code; 0 if none. */
static unsigned
close_code(struct wsc *c)
{
	uint8_t op = 0, f[128];
	int fin;
	long n;
	while ((n = next_frame(c, &op, &fin, f, sizeof(f))) >= 0)
		if (op == 8)
			return n >= 2 ? (unsigned)(f[0] << 8 | f[1]) : 1005;
	return 0;
}

Test(ws, close_frame_is_answered_and_the_connection_ends)
{
	struct wsc *c = ws_client(0, "closer", NULL);
	const uint8_t code[2] = { 0x03, 0xe8 }; /* 1000 */
	send_frame(c, 1, 8, code, 2);
	cr_assert_eq(close_code(c), 1000);
	raw_pump(c);
	cr_assert(c->closed);
	cr_assert_eq(stats().protocol_errors, 0);
	wsc_free(c);
}

Test(ws, text_frame_closes_the_connection)
{
	struct wsc *c = ws_client(0, "texter", NULL);
	uint8_t b[64];
	size_t n =
	    rmq_test_publish_bytes("t", (const uint8_t *)"x", 1, b, sizeof(b));
	/* MQTT 5.0 section 6.0: "If any other type of data frame is
	 * received the recipient MUST close the Network Connection"
	 * [MQTT-6.0.0-1]. */
	send_frame(c, 1, 1, b, n);
	cr_assert_eq(close_code(c), 1003, "unsupported data");
	raw_pump(c);
	cr_assert(c->closed);
	cr_assert_eq(stats().protocol_errors, 1);
	wsc_free(c);
}

Test(ws, unmasked_frame_closes_the_connection)
{
	struct wsc *c = ws_client(0, "bare", NULL);
	uint8_t b[64], f[80];
	b[0] = 0xc0;
	b[1] = 0x00;
	/* RFC 6455 section 5.1: "The server MUST close the connection upon
	 * receiving a frame that is not masked." */
	raw_send(c, f, frame(f, 1, 2, b, 2, 0));
	cr_assert_eq(close_code(c), 1002, "protocol error");
	raw_pump(c);
	cr_assert(c->closed);
	cr_assert_eq(stats().protocol_errors, 1);
	wsc_free(c);
}

Test(ws, malformed_mqtt_in_frames_closes_as_over_tcp)
{
	struct wsc *c = ws_client(0, "bad", NULL);
	const uint8_t reserved[2] = { 0xf0, 0x00 }; /* packet type 15 */
	send_frame(c, 1, 2, reserved, 2);
	/* 3.1.1 has no DISCONNECT from the server [MQTT-4.8.0-1]: the
	 * connection ends, as over TCP, gracefully. */
	expect_graceful_end(c);
	wsc_free(c);
}

/* ---- a connection that moves to the loop of its session ---- */

static void
moves_with_its_frames(void)
{
	/* A persistent session made on loop 0. */
	struct wsc *a = wsc_new(0);
	uint8_t b[256], got[64];
	upgrade(a);
	send_frame(a, 1, 2, b,
	    rmq_test_connect_bytes("mover", 0, b, sizeof(b)));
	cr_assert_eq(recv_mqtt(a, got, 4), 4);
	const uint8_t disconnect[] = { 0xe0, 0x00 };
	send_frame(a, 1, 2, disconnect, 2);
	expect_graceful_end(a);

	/* Back on loop 1 with CONNECT, then PINGREQ in the same frame, and
	 * a ping frame behind it: the connection moves to loop 0 with its
	 * WebSocket (and TLS) state and what was decoded on loop 1. */
	struct wsc *c = wsc_new(1);
	upgrade(c);
	size_t n = rmq_test_connect_bytes("mover", 0, b, sizeof(b));
	b[n++] = 0xc0;
	b[n++] = 0x00;
	uint8_t f[512];
	size_t fl = frame(f, 1, 2, b, n, 1);
	fl += frame(f + fl, 1, 9, "p", 1, 1);
	raw_send(c, f, fl);
	uint8_t op;
	int fin;
	size_t mq = 0;
	int pong = 0;
	for (int i = 0; i < 8 && (mq < 6 || !pong); i++) {
		long k = next_frame(c, &op, &fin, got + mq, sizeof(got) - mq);
		if (k < 0)
			continue;
		if (op == 10)
			pong = 1;
		else
			mq += (size_t)k;
	}
	static const uint8_t want[] = { 0x20, 0x02, 0x01, 0x00, 0xd0, 0x00 };
	cr_assert_eq(mq, 6);
	cr_assert_arr_eq(got, want, 6,
	    "CONNACK with Session Present, then PINGRESP, after the move");
	cr_assert(pong, "the ping read before the move is answered");
	struct rmq_conn *top = (struct rmq_conn *)c->fc->conn;
	if (c->tls)
		top = rmq_tls_upper(top);
	struct rmq_session *s = rmq_ws_upper(top)->data;
	cr_assert_not_null(s);
	cr_assert_eq(s->w->id, 0, "served by loop 0 now");
	/* It goes on working there, both ways. */
	send_frame(c, 1, 2, b, rmq_test_subscribe_bytes("m", b, sizeof(b)));
	cr_assert_eq(recv_mqtt(c, got, 5), 5);
	cr_assert_arr_eq(got, suback, 5);
	n = rmq_test_publish_bytes("m", (const uint8_t *)"moved", 5, b,
	    sizeof(b));
	send_frame(c, 1, 2, b, n);
	cr_assert_eq(recv_mqtt(c, got, n), n);
	cr_assert_arr_eq(got, b, n);
	wsc_free(a);
	wsc_free(c);
}

Test(ws_handoff, session_on_another_loop_keeps_the_websocket)
{
	moves_with_its_frames();
}

/* ---- secure WebSocket: the same over TLS ---- */

Test(wss, mqtt_both_ways_over_tls)
{
	pubsub_both_ways();
	cr_assert_eq(stats().upgrades, 2);
}

Test(wss, session_on_another_loop_keeps_tls_and_websocket)
{
	moves_with_its_frames();
}

Test(wss, text_frame_over_tls_closes)
{
	struct wsc *c = ws_client(0, "texter", NULL);
	send_frame(c, 1, 1, "{}", 2);
	cr_assert_eq(close_code(c), 1003);
	raw_pump(c);
	cr_assert(c->closed);
	wsc_free(c);
}
