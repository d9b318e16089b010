/* test/bench/test_ws.c: ringmq-bench's WebSocket framing (bench/ws.c): the
 * upgrade request and the checks of its response (RFC 6455 section 4,
 * with the key and accept value of its section 1.3), client frames
 * masked at each length form (section 5.2), and the server's frames read
 * back into a byte stream however they are cut. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ws.h"

static struct rmq_bench_ws *
ws_new(void)
{
	struct rmq_bench_ws *ws = calloc(1, sizeof(*ws));
	cr_assert_not_null(ws);
	return ws;
}

Test(ws, the_request_asks_for_mqtt)
{
	struct rmq_bench_ws *ws = ws_new();
	char buf[512];
	size_t n =
	    rmq_bench_ws_request(ws, "127.0.0.1", "/mqtt", buf, sizeof(buf));
	cr_assert_gt(n, 0);
	buf[n] = '\0';
	cr_assert(strncmp(buf, "GET /mqtt HTTP/1.1\r\n", 20) == 0);
	cr_assert(strstr(buf, "\r\nUpgrade: websocket\r\n"));
	cr_assert(strstr(buf, "\r\nSec-WebSocket-Version: 13\r\n"));
	cr_assert(strstr(buf, "\r\nSec-WebSocket-Protocol: mqtt\r\n"));
	cr_assert_eq(strlen(ws->key), 24, "16 bytes in base64");
	cr_assert(strstr(buf, ws->key));
	cr_assert_eq(strcmp(buf + n - 4, "\r\n\r\n"), 0);
	cr_assert_eq(rmq_bench_ws_request(ws, "h", "/p", buf, 40), 0,
	    "too small");
	rmq_bench_ws_free(ws);
}

/* The server's response for the key of RFC 6455 section 1.3. */
static const char ok[] =
    "HTTP/1.1 101 Switching Protocols\r\n"
    "upgrade: WebSocket\r\n"
    "Connection: Upgrade\r\n"
    "Sec-WebSocket-Accept:  s3pPLMBiTxaQ9kYGzzhZRbK+xOo= \r\n"
    "Sec-WebSocket-Protocol: mqtt\r\n"
    "\r\n";

static struct rmq_bench_ws *
ws_keyed(void)
{
	struct rmq_bench_ws *ws = ws_new();
	snprintf(ws->key, sizeof(ws->key), "dGhlIHNhbXBsZSBub25jZQ==");
	return ws;
}

Test(ws, a_response_in_pieces_is_taken_and_what_follows_left)
{
	struct rmq_bench_ws *ws = ws_keyed();
	char err[128];
	uint8_t buf[512];
	size_t n = strlen(ok);
	memcpy(buf, ok, n);
	buf[n] = 0x82; /* a frame right behind it */
	cr_assert_eq(rmq_bench_ws_response(ws, buf, 10, err, sizeof(err)), 0);
	cr_assert_eq(rmq_bench_ws_response(ws, buf + 10, n - 10 + 1, err,
			 sizeof(err)),
	    (ssize_t)(n - 10), "%s", err);
	cr_assert_eq(ws->handshaken, 1);
	rmq_bench_ws_free(ws);
}

Test(ws, a_bad_response_says_why)
{
	static const char *const bad[][2] = {
		{ "HTTP/1.1 404 Not Found\r\n\r\n", "refused: HTTP/1.1 404" },
		{ "HTTP/1.1 101 x\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"
		  "Sec-WebSocket-Protocol: mqtt\r\n\r\n",
		    "no Upgrade" },
		{ "HTTP/1.1 101 x\r\nUpgrade: websocket\r\n"
		  "Sec-WebSocket-Accept: AAAALMBiTxaQ9kYGzzhZRbK+xOo=\r\n"
		  "Sec-WebSocket-Protocol: mqtt\r\n\r\n",
		    "not the key's" },
		{ "HTTP/1.1 101 x\r\nUpgrade: websocket\r\n"
		  "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n",
		    "mqtt subprotocol" },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct rmq_bench_ws *ws = ws_keyed();
		char err[128] = "";
		cr_assert_eq(rmq_bench_ws_response(ws,
				 (const uint8_t *)bad[i][0], strlen(bad[i][0]),
				 err, sizeof(err)),
		    -1);
		cr_assert(strstr(err, bad[i][1]), "%s: %s", bad[i][1], err);
		rmq_bench_ws_free(ws);
	}
	struct rmq_bench_ws *ws = ws_keyed();
	uint8_t junk[1024];
	memset(junk, 'x', sizeof(junk));
	char err[128] = "";
	ssize_t rc = 0;
	for (int i = 0; i < 5 && rc == 0; i++)
		rc = rmq_bench_ws_response(ws, junk, sizeof(junk), err,
		    sizeof(err));
	cr_assert_eq(rc, -1);
	cr_assert(strstr(err, "over 4096 bytes"), "%s", err);
	rmq_bench_ws_free(ws);
}

/* Unmask a client frame at out[0..n): its payload into p, length back. */
static size_t
client_frame(const uint8_t *f, size_t n, uint8_t *p)
{
	cr_assert_eq(f[0], 0x82, "FIN and binary");
	cr_assert(f[1] & 0x80, "masked [RFC 6455 5.1]");
	uint64_t len = f[1] & 0x7F;
	size_t h = 2;
	if (len == 126) {
		len = (uint64_t)f[2] << 8 | f[3];
		h = 4;
	} else if (len == 127) {
		len = 0;
		for (int i = 0; i < 8; i++)
			len = len << 8 | f[2 + i];
		h = 10;
	}
	cr_assert_eq(h + 4 + len, n);
	for (uint64_t i = 0; i < len; i++)
		p[i] = f[h + 4 + i] ^ f[h + (i & 3)];
	return (size_t)len;
}

Test(ws, client_frames_at_each_length_form)
{
	static const size_t lens[] = { 0, 1, 125, 126, 65535, 65536, 100000 };
	uint8_t *src = malloc(100000), *back = malloc(100000);
	for (size_t i = 0; i < 100000; i++)
		src[i] = (uint8_t)(i * 7);
	for (size_t k = 0; k < sizeof(lens) / sizeof(lens[0]); k++) {
		struct rmq_bench_ws *ws = ws_new();
		ws->mask = 0xA1B2C3D4u;
		cr_assert_eq(rmq_bench_ws_frame(ws, src, lens[k]), 0);
		cr_assert_eq(client_frame(ws->out, ws->olen, back), lens[k]);
		cr_assert_eq(memcmp(src, back, lens[k]), 0);
		rmq_bench_ws_free(ws);
	}
	free(src);
	free(back);
}

Test(ws, server_frames_cut_anywhere_give_the_stream)
{
	/* Three frames: 3 bytes, an empty one, a ping (dropped), 300
	 * bytes (16-bit length). */
	uint8_t in[400], want[303];
	size_t n = 0;
	for (size_t i = 0; i < sizeof(want); i++)
		want[i] = (uint8_t)(i + 1);
	in[n++] = 0x82, in[n++] = 3;
	memcpy(in + n, want, 3), n += 3;
	in[n++] = 0x82, in[n++] = 0;
	in[n++] = 0x89, in[n++] = 2, in[n++] = 'h', in[n++] = 'i';
	in[n++] = 0x82, in[n++] = 126, in[n++] = 300 >> 8, in[n++] = 300 & 255;
	memcpy(in + n, want + 3, 300), n += 300;
	for (size_t cut = 1; cut < n; cut += 7) {
		struct rmq_bench_ws *ws = ws_new();
		uint8_t buf[400], got[400];
		size_t gl = 0;
		char err[128];
		for (size_t off = 0; off < n; off += cut) {
			size_t k = n - off < cut ? n - off : cut;
			memcpy(buf, in + off, k);
			ssize_t m =
			    rmq_bench_ws_unframe(ws, buf, k, err, sizeof(err));
			cr_assert_geq(m, 0, "%s", err);
			memcpy(got + gl, buf, (size_t)m);
			gl += (size_t)m;
		}
		cr_assert_eq(gl, sizeof(want), "cut %zu", cut);
		cr_assert_eq(memcmp(got, want, gl), 0, "cut %zu", cut);
		rmq_bench_ws_free(ws);
	}
}

Test(ws, frames_the_bench_does_not_take)
{
	static const uint8_t masked[] = { 0x82, 0x81, 1, 2, 3, 4, 5 },
			     text[] = { 0x81, 1, 'x' }, close[] = { 0x88, 0 },
			     rsv[] = { 0xC2, 0 };
	static const struct {
		const uint8_t *f;
		size_t n;
		const char *why;
	} bad[] = { { masked, sizeof(masked), "masked" },
		{ text, sizeof(text), "opcode 1" },
		{ close, sizeof(close), "close" },
		{ rsv, sizeof(rsv), "reserved" } };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct rmq_bench_ws *ws = ws_new();
		uint8_t buf[16];
		char err[128] = "";
		memcpy(buf, bad[i].f, bad[i].n);
		cr_assert_eq(rmq_bench_ws_unframe(ws, buf, bad[i].n, err,
				 sizeof(err)),
		    -1);
		cr_assert(strstr(err, bad[i].why), "%s: %s", bad[i].why, err);
		rmq_bench_ws_free(ws);
	}
}
