/* test/fuzz/fuzz_layers.c: libFuzzer target for the layers of a connection
 * that read what the network sends before MQTT does (broker/io/proxy.c,
 * broker/io/ws.c).
 *
 * The first byte picks what the rest is:
 * - 0: a PROXY protocol header, given to the parser of both versions;
 * - 1: raw bytes sent, in pieces, to a node on the fake loop backend whose
 *      listener speaks WebSocket behind the PROXY protocol (of the version
 *      the second byte picks, or none): the header, the HTTP upgrade and
 *      the frames as an attacker writes them;
 * - 2: the same node, a valid header and upgrade sent first, then frames
 *      this harness builds (masked, as a client must) from the input: a
 *      byte of FIN and opcode, a length, the payload; so that MQTT in
 *      frames reaches the session as a real browser's does.
 *
 * What is checked, besides ASan and UBSan (LeakSanitizer included): the
 * parser never takes more bytes than it was given and names an address
 * it can write; the node stops with every connection closed and freed.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <urcu-qsbr.h>

#include "broker.h"
#include "conn.h"
#include "log.h"
#include "proxy.h"
#include "rmq_fake_loop.h"
#include "rmq_test_broker.h"
#include "worker_impl.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                            \
	do {                                                                   \
		if (!(cond)) {                                                 \
			fprintf(stderr, "fuzz_layers: %s:%d: %s\n", __FILE__,  \
			    __LINE__, #cond);                                  \
			abort();                                               \
		}                                                              \
	} while (0)

static struct rmq_broker fz_node;

static void
fz_parse(const uint8_t *data, size_t n)
{
	for (int version = 1; version <= 2; version++) {
		struct sockaddr_storage ss;
		int has = 0;
		long r = rmq_proxy_parse(version, data, n, &ss, &has);
		CHECK(r >= -1 && r <= (long)n);
		if (r > 0 && has) {
			char a[64];
			CHECK(rmq_conn_addr_text((struct sockaddr *)&ss, a,
				  sizeof(a)) == 0);
		}
	}
}

static void
fz_settle(void)
{
	CHECK(rmq_fake_settle() != 0);
}

static const char fz_upgrade[] =
    "GET /mqtt HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
    "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
    "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: mqtt\r\n\r\n";

/* A client frame of payload p[0..n), masked. */
static size_t
fz_frame(uint8_t *out, uint8_t b0, const uint8_t *p, size_t n)
{
	static const uint8_t key[4] = { 0x11, 0x22, 0x33, 0x44 };
	size_t h = 0;
	out[h++] = b0;
	if (n < 126) {
		out[h++] = (uint8_t)(0x80 | n);
	} else {
		out[h++] = 0x80 | 126;
		out[h++] = (uint8_t)(n >> 8);
		out[h++] = (uint8_t)n;
	}
	memcpy(out + h, key, 4);
	h += 4;
	for (size_t i = 0; i < n; i++)
		out[h + i] = p[i] ^ key[i % 4];
	return h + n;
}

static void
fz_node_run(int mode, int proxy, const uint8_t *data, size_t size)
{
	struct rmq_config cfg;
	rmq_test_broker_config(&cfg, 1);
	cfg.cpu_affinity = RMQ_AFFINITY_NONE;
	cfg.log_level = RMQ_LOG_ERROR;
	cfg.connection_messages = 0;
	cfg.max_packet_size = 2048;
	cfg.listeners[0].protocol = RMQ_PROTO_WEBSOCKETS;
	cfg.listeners[0].proxy_protocol = proxy;
	cfg.listeners[0].ws.headers_max = 1024;
	if (rmq_broker_init_on(&fz_node, &cfg, &rmq_fake_loop_ops) != 0)
		abort();
	rcu_register_thread();
	struct rmq_worker *w = fz_node.workers[0];
	struct rmq_fake_client *c =
	    rmq_fake_connect(w->loop, rmq_worker_accept, &w->listeners[0]);
	CHECK(c != NULL);
	fz_settle();
	if (mode == 2) {
		if (proxy == 1) {
			const char *h =
			    "PROXY TCP4 203.0.113.7 192.0.2.1 4242 1883\r\n";
			rmq_fake_send(c, h, strlen(h));
		} else if (proxy == 2) {
			static const uint8_t h[28] = { 0x0d, 0x0a, 0x0d, 0x0a,
				0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a,
				0x21, 0x11, 0x00, 0x0c, 203, 0, 113, 7, 192, 0,
				2, 1, 0x10, 0x92, 0x07, 0x5b };
			rmq_fake_send(c, h, sizeof(h));
		}
		rmq_fake_send(c, fz_upgrade, sizeof(fz_upgrade) - 1);
		fz_settle();
	}
	size_t i = 0;
	unsigned ops = 0;
	uint8_t frame[300];
	while (i < size && ops++ < 256) {
		if (mode == 1) {
			/* A length, then that many bytes. */
			size_t n = (size_t)data[i++] + 1;
			if (n > size - i)
				n = size - i;
			rmq_fake_send(c, data + i, n);
			i += n;
		} else {
			/* FIN and opcode, a length, the payload. */
			if (size - i < 2)
				break;
			uint8_t b0 = data[i] & 0x8f, len = data[i + 1];
			i += 2;
			size_t n = len < size - i ? len : size - i;
			rmq_fake_send(c, frame,
			    fz_frame(frame, b0, data + i, n));
			i += n;
		}
		fz_settle();
		if (c->out_len)
			rmq_fake_take(c, NULL, c->out_len);
		if (c->closed)
			break;
	}
	fz_settle();
	rmq_loop_stop(w->loop);
	rmq_fake_advance(cfg.shutdown_grace_ms + 1000);
	fz_settle();
	rmq_fake_advance(cfg.shutdown_grace_ms + 1000);
	fz_settle();
	CHECK(rmq_fake_live_conns() == 0);
	rcu_unregister_thread();
	rmq_broker_fini(&fz_node);
	rmq_fake_reset();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int once;
	if (!once) {
		rmq_log_set(RMQ_LOG_ERROR, RMQ_LOG_TEXT);
		once = 1;
	}
	if (size < 2)
		return 0;
	int mode = data[0] % 3;
	if (mode == 0)
		fz_parse(data + 1, size - 1);
	else
		fz_node_run(mode, data[1] % 3, data + 2, size - 2);
	return 0;
}
