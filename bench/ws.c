/* bench/ws.c: WebSocket framing for ringmq-bench (ws.h), on OpenSSL's
 * SHA-1, base64 and random bytes. */
#include "ws.h"

#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define WS_GUID "258EAFA5-E914-47DA-95CA-C5AB0DC85B11" /* RFC 6455 1.3 */

size_t
rmq_bench_ws_request(struct rmq_bench_ws *ws, const char *host,
    const char *path, char *buf, size_t cap)
{
	uint8_t nonce[16];
	if (RAND_bytes(nonce, sizeof(nonce)) != 1 ||
	    RAND_bytes((uint8_t *)&ws->mask, sizeof(ws->mask)) != 1)
		return 0;
	EVP_EncodeBlock((uint8_t *)ws->key, nonce, sizeof(nonce));
	int n = snprintf(buf, cap,
	    "GET %s HTTP/1.1\r\n"
	    "Host: %s\r\n"
	    "Upgrade: websocket\r\n"
	    "Connection: Upgrade\r\n"
	    "Sec-WebSocket-Key: %s\r\n"
	    "Sec-WebSocket-Version: 13\r\n"
	    "Sec-WebSocket-Protocol: mqtt\r\n"
	    "\r\n",
	    path, host, ws->key);
	return n > 0 && (size_t)n < cap ? (size_t)n : 0;
}

/* The value of header `name` in the response's head, into v (trimmed);
 * 0, or -1 when it is not there. */
static int
ws_header(const char *head, const char *name, char *v, size_t cap)
{
	size_t nl = strlen(name);
	for (const char *l = strstr(head, "\r\n"); l != NULL;
	     l = strstr(l, "\r\n")) {
		l += 2;
		if (strncasecmp(l, name, nl) != 0 || l[nl] != ':')
			continue;
		const char *s = l + nl + 1, *e = strstr(s, "\r\n");
		while (*s == ' ' || *s == '\t')
			s++;
		size_t n = e ? (size_t)(e - s) : strlen(s);
		while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t'))
			n--;
		if (n >= cap)
			return -1;
		memcpy(v, s, n);
		v[n] = '\0';
		return 0;
	}
	return -1;
}

ssize_t
rmq_bench_ws_response(struct rmq_bench_ws *ws, const uint8_t *p, size_t n,
    char *err, size_t errlen)
{
	size_t before = ws->resp_len;
	size_t take = sizeof(ws->resp) - 1 - before;
	if (take > n)
		take = n;
	memcpy(ws->resp + before, p, take);
	ws->resp_len += (uint32_t)take;
	ws->resp[ws->resp_len] = '\0';
	char *end = strstr(ws->resp, "\r\n\r\n");
	if (end == NULL) {
		if (ws->resp_len == sizeof(ws->resp) - 1) {
			snprintf(err, errlen,
			    "WebSocket upgrade: a response over %u bytes",
			    RMQ_BENCH_WS_RESPONSE_MAX);
			return -1;
		}
		return 0;
	}
	size_t head = (size_t)(end - ws->resp) + 4;
	end[2] = '\0'; /* the head, its last line ending in \r\n */
	char v[128];
	if (strncmp(ws->resp, "HTTP/1.1 101", 12) != 0) {
		const char *eol = strstr(ws->resp, "\r\n");
		snprintf(err, errlen, "WebSocket upgrade refused: %.*s",
		    (int)(eol ? eol - ws->resp : 80), ws->resp);
		return -1;
	}
	if (ws_header(ws->resp, "Upgrade", v, sizeof(v)) != 0 ||
	    strcasecmp(v, "websocket") != 0) {
		snprintf(err, errlen,
		    "WebSocket upgrade: no Upgrade: websocket");
		return -1;
	}
	char src[64], want[64];
	uint8_t md[SHA_DIGEST_LENGTH];
	snprintf(src, sizeof(src), "%s%s", ws->key, WS_GUID);
	SHA1((const uint8_t *)src, strlen(src), md);
	EVP_EncodeBlock((uint8_t *)want, md, sizeof(md));
	if (ws_header(ws->resp, "Sec-WebSocket-Accept", v, sizeof(v)) != 0 ||
	    strcmp(v, want) != 0) {
		snprintf(err, errlen,
		    "WebSocket upgrade: Sec-WebSocket-Accept is not the key's");
		return -1;
	}
	if (ws_header(ws->resp, "Sec-WebSocket-Protocol", v, sizeof(v)) != 0 ||
	    strcmp(v, "mqtt") != 0) {
		snprintf(err, errlen,
		    "WebSocket upgrade: the server did not choose the mqtt subprotocol");
		return -1;
	}
	ws->handshaken = 1;
	return (ssize_t)(head - before);
}

int
rmq_bench_ws_frame(struct rmq_bench_ws *ws, const uint8_t *p, size_t n)
{
	if (ws->ooff == ws->olen)
		ws->ooff = ws->olen = 0;
	size_t need = ws->olen + RMQ_BENCH_WS_HEADER_MAX + n;
	if (need > UINT32_MAX)
		return -1;
	if (need > ws->ocap) {
		size_t cap = ws->ocap ? ws->ocap : 4096;
		while (cap < need)
			cap *= 2;
		uint8_t *o = realloc(ws->out, cap);
		if (o == NULL)
			return -1;
		ws->out = o;
		ws->ocap = (uint32_t)cap;
	}
	uint8_t *h = ws->out + ws->olen, *d;
	h[0] = 0x82; /* FIN, binary */
	if (n < 126) {
		h[1] = (uint8_t)(0x80 | n);
		d = h + 2;
	} else if (n <= 0xFFFF) {
		h[1] = 0x80 | 126;
		h[2] = (uint8_t)(n >> 8);
		h[3] = (uint8_t)n;
		d = h + 4;
	} else {
		h[1] = 0x80 | 127;
		for (int i = 0; i < 8; i++)
			h[2 + i] = (uint8_t)((uint64_t)n >> (56 - 8 * i));
		d = h + 10;
	}
	uint8_t key[4];
	memcpy(key, &ws->mask, 4);
	memcpy(d, key, 4);
	d += 4;
	for (size_t i = 0; i < n; i++)
		d[i] = p[i] ^ key[i & 3];
	ws->olen = (uint32_t)(d + n - ws->out);
	return 0;
}

/* The header in ws->hdr, once whole: its length, or 0 while it is not;
 * -1 for a frame the bench does not take. */
static int
ws_header_done(struct rmq_bench_ws *ws, char *err, size_t errlen)
{
	if (ws->hdr_len < 2)
		return 0;
	uint8_t b0 = ws->hdr[0], b1 = ws->hdr[1];
	size_t want = 2 + ((b1 & 0x7F) == 126 ? 2 : (b1 & 0x7F) == 127 ? 8 : 0);
	if (ws->hdr_len < want)
		return 0;
	if (b1 & 0x80) {
		snprintf(err, errlen,
		    "WebSocket: a masked frame from the server (RFC 6455 5.1)");
		return -1;
	}
	if (b0 & 0x70) {
		snprintf(err, errlen, "WebSocket: a reserved bit set");
		return -1;
	}
	uint8_t op = b0 & 0x0F;
	if (op == 0x8) {
		snprintf(err, errlen,
		    "WebSocket: the server sent a close frame");
		return -1;
	}
	if (op != 0x0 && op != 0x2 && op != 0x9 && op != 0xA) {
		snprintf(err, errlen, "WebSocket: a frame of opcode %u", op);
		return -1;
	}
	uint64_t len = b1 & 0x7F;
	if (len == 126)
		len = (uint64_t)ws->hdr[2] << 8 | ws->hdr[3];
	else if (len == 127)
		for (int i = 0; i < 8; i++)
			len = len << 8 | ws->hdr[2 + i];
	ws->opcode = op;
	ws->left = len;
	return (int)want;
}

ssize_t
rmq_bench_ws_unframe(struct rmq_bench_ws *ws, uint8_t *p, size_t n, char *err,
    size_t errlen)
{
	size_t in = 0, out = 0;
	while (in < n) {
		if (ws->left == 0) {
			/* Between frames: header bytes until it is whole (a
			 * frame of no payload ends there). */
			ws->hdr[ws->hdr_len++] = p[in++];
			int h = ws_header_done(ws, err, errlen);
			if (h < 0)
				return -1;
			if (h > 0)
				ws->hdr_len = 0;
			continue;
		}
		size_t k = n - in;
		if (k > ws->left)
			k = (size_t)ws->left;
		/* Data frames carry MQTT bytes; a ping's or pong's payload
		 * is dropped (the broker sends none unasked). */
		if (ws->opcode == 0x0 || ws->opcode == 0x2) {
			memmove(p + out, p + in, k);
			out += k;
		}
		in += k;
		ws->left -= k;
	}
	return (ssize_t)out;
}

void
rmq_bench_ws_free(struct rmq_bench_ws *ws)
{
	if (ws == NULL)
		return;
	free(ws->out);
	free(ws);
}
