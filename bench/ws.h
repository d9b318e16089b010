/* bench/ws.h: MQTT over WebSocket for ringmq-bench's connections (--ws),
 * as a browser's MQTT.js speaks it: an HTTP/1.1 upgrade with the `mqtt`
 * subprotocol (RFC 6455 section 4, MQTT 5.0 section 6), then every write
 * of the connection one masked binary frame, and the server's frames
 * (unmasked) read back into the MQTT byte stream.  The frames carry MQTT
 * packets as a stream: a frame may hold several or a part of one.  Over
 * TLS (--tls) it is secure WebSocket.
 */
#ifndef RMQ_BENCH_WS_H
#define RMQ_BENCH_WS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define RMQ_BENCH_WS_RESPONSE_MAX 4096 /* bytes of the 101 response */
#define RMQ_BENCH_WS_HEADER_MAX 14 /* a client frame's header */

struct rmq_bench_ws {
	char key[25]; /* Sec-WebSocket-Key sent, base64 */
	uint8_t handshaken;
	/* The response while it comes. */
	char resp[RMQ_BENCH_WS_RESPONSE_MAX];
	uint32_t resp_len;
	/* Reading frames: the header as it comes, then its payload. */
	uint8_t hdr[RMQ_BENCH_WS_HEADER_MAX];
	uint8_t hdr_len;
	uint8_t opcode; /* of the frame being read */
	uint64_t left; /* payload bytes of it still to read */
	uint32_t mask; /* this connection's masking key */
	/* Framed output, written before more is framed. */
	uint8_t *out;
	uint32_t olen, ooff, ocap;
};

/* Start: a fresh key (and masking key) into ws, and the upgrade request
 * for `host` and `path` into buf.  Returns its length, 0 if buf is too
 * small. */
size_t rmq_bench_ws_request(struct rmq_bench_ws *ws, const char *host,
    const char *path, char *buf, size_t cap);

/* Take bytes of the server's response.  Returns 0 while it is not whole,
 * the count of bytes of p[0..n) it used once it is whole and valid (101,
 * Upgrade, the key's Sec-WebSocket-Accept, subprotocol mqtt), or -1 with
 * the reason in err. */
ssize_t rmq_bench_ws_response(struct rmq_bench_ws *ws, const uint8_t *p,
    size_t n, char *err, size_t errlen);

/* Frame p[0..n) as one masked binary frame appended to ws->out.  Returns
 * 0, or -1 out of memory. */
int rmq_bench_ws_frame(struct rmq_bench_ws *ws, const uint8_t *p, size_t n);

/* The server's bytes p[0..n), in place, into the MQTT bytes they carry:
 * returns their count (at the start of p), or -1 with the reason in err
 * (a masked or text frame, a close, a reserved bit or opcode). */
ssize_t rmq_bench_ws_unframe(struct rmq_bench_ws *ws, uint8_t *p, size_t n,
    char *err, size_t errlen);

void rmq_bench_ws_free(struct rmq_bench_ws *ws);

#endif
