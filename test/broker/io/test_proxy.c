/* test/broker/io/test_proxy.c: the PROXY protocol layer (broker/io/proxy.c):
 * the parser on the specification's forms and on what it must refuse,
 * then a node on the fake loop behind it: the client's address taken
 * from the header (in one read with the CONNECT, or a byte at a time),
 * a connection without a header closed, TLS over the layer, and the
 * address kept when the connection moves to another loop.
 */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

#include "codec.h"
#include "conn.h"
#include "proxy.h"
#include "rmq_test.h"
#include "rmq_test_node.h"
#include "rmq_test_tls.h"
#include "tls.h"

/* ---- the parser ---- */

static long
parse(int version, const void *h, size_t n, char *addr, size_t len)
{
	struct sockaddr_storage ss;
	int has = -1;
	long r = rmq_proxy_parse(version, h, n, &ss, &has);
	addr[0] = '\0';
	if (r > 0 && has == 1)
		cr_assert_eq(rmq_conn_addr_text((struct sockaddr *)&ss, addr,
				 len),
		    0);
	else if (r > 0)
		snprintf(addr, len, "none");
	return r;
}

Test(proxy_parse, version_1_lines)
{
	char a[64];
	const char *l = "PROXY TCP4 203.0.113.7 192.0.2.1 4242 1883\r\nMQTT";
	cr_assert_eq(parse(1, l, strlen(l), a, sizeof(a)), (long)strlen(l) - 4);
	cr_assert_str_eq(a, "203.0.113.7:4242");
	l = "PROXY TCP6 2001:db8::7 2001:db8::1 65535 8883\r\n";
	cr_assert_eq(parse(1, l, strlen(l), a, sizeof(a)), (long)strlen(l));
	cr_assert_str_eq(a, "[2001:db8::7]:65535");
	l = "PROXY UNKNOWN whatever follows\r\n";
	cr_assert_eq(parse(1, l, strlen(l), a, sizeof(a)), (long)strlen(l));
	cr_assert_str_eq(a, "none", "UNKNOWN: the socket's own address");
	/* Incomplete: more is needed. */
	l = "PROXY TCP4 203.0.113.7 192.0.2.1 42";
	cr_assert_eq(parse(1, l, strlen(l), a, sizeof(a)), 0);
}

Test(proxy_parse, version_1_refusals)
{
	char a[64];
	const char *bad[] = {
		"GET / HTTP/1.1\r\n",
		"PROXY TCP4 203.0.113.7 192.0.2.1 4242 1883\n", /* no CR */
		"PROXY TCP4 203.0.113.7 192.0.2.1 4242\r\n",
		"PROXY TCP4 203.0.113.7 192.0.2.1 4242 1883 x\r\n",
		"PROXY TCP4 203.0.113.777 192.0.2.1 4242 1883\r\n",
		"PROXY TCP4 2001:db8::7 192.0.2.1 4242 1883\r\n",
		"PROXY TCP4 203.0.113.7 192.0.2.1 65536 1883\r\n",
		"PROXY TCP4 203.0.113.7 192.0.2.1 04242 1883\r\n",
		"PROXY TCP4 203.0.113.7 192.0.2.1 -1 1883\r\n",
		"PROXY UDP4 203.0.113.7 192.0.2.1 4242 1883\r\n",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		cr_expect_eq(parse(1, bad[i], strlen(bad[i]), a, sizeof(a)), -1,
		    "%s", bad[i]);
	const char nul[] = "PROXY TCP4 203.0.113.7 192.0.2.1 4242 1883\r\x00\n";
	cr_expect_eq(parse(1, nul, sizeof(nul) - 1, a, sizeof(a)), -1);
	const char nul2[] =
	    "PROXY TCP4 203.0.113.7\x00 192.0.2.1 4242 1883\r\n";
	cr_expect_eq(parse(1, nul2, sizeof(nul2) - 1, a, sizeof(a)), -1);
	/* An MQTT CONNECT where the header should be: refused from its
	 * first byte, not after 107. */
	const uint8_t mqtt[] = { 0x10, 0x0c, 0x00, 0x04, 'M', 'Q' };
	cr_expect_eq(parse(1, mqtt, 1, a, sizeof(a)), -1);
	cr_expect_eq(parse(1, mqtt, sizeof(mqtt), a, sizeof(a)), -1);
	cr_expect_eq(parse(1, "PROX", 4, a, sizeof(a)), 0, "a header begun");
	/* The specification's bound: 107 bytes with the CRLF. */
	char longer[200];
	memset(longer, 'x', sizeof(longer));
	memcpy(longer, "PROXY ", 6);
	cr_assert_eq(parse(1, longer, sizeof(longer), a, sizeof(a)), -1);
}

static const uint8_t sig[12] = { 0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51,
	0x55, 0x49, 0x54, 0x0a };

/* A v2 header: command, family, addresses and `tlv` bytes of TLVs. */
static size_t
v2(uint8_t *b, uint8_t cmd, uint8_t fam, const void *addrs, size_t alen,
    size_t tlv)
{
	memcpy(b, sig, 12);
	b[12] = (uint8_t)(0x20 | cmd);
	b[13] = fam;
	b[14] = (uint8_t)((alen + tlv) >> 8);
	b[15] = (uint8_t)(alen + tlv);
	if (alen)
		memcpy(b + 16, addrs, alen);
	memset(b + 16 + alen, 0x04, tlv); /* a NOOP TLV's type, and padding */
	return 16 + alen + tlv;
}

Test(proxy_parse, version_2_headers)
{
	char a[64];
	uint8_t b[600];
	uint8_t in4[12] = { 203, 0, 113, 7, 192, 0, 2, 1, 0x10, 0x92, 0x07,
		0x5b }; /* 4242 -> 1883 */
	size_t n = v2(b, 1, 0x11, in4, sizeof(in4), 0);
	cr_assert_eq(parse(2, b, n, a, sizeof(a)), (long)n);
	cr_assert_str_eq(a, "203.0.113.7:4242");
	uint8_t in6[36] = { 0x20, 0x01, 0x0d, 0xb8 };
	in6[15] = 7;
	in6[32] = 0x01;
	in6[33] = 0xbb; /* 443 */
	n = v2(b, 1, 0x21, in6, sizeof(in6), 500); /* TLVs are skipped */
	cr_assert_eq(parse(2, b, n, a, sizeof(a)), (long)n);
	cr_assert_str_eq(a, "[2001:db8::7]:443");
	n = v2(b, 0, 0x00, NULL, 0, 0); /* LOCAL: a health check */
	cr_assert_eq(parse(2, b, n, a, sizeof(a)), (long)n);
	cr_assert_str_eq(a, "none");
	/* Short: more is needed, from the signature on. */
	n = v2(b, 1, 0x11, in4, sizeof(in4), 0);
	for (size_t k = 1; k < n; k++)
		cr_expect_eq(parse(2, b, k, a, sizeof(a)), 0, "%zu bytes", k);
}

Test(proxy_parse, version_2_refusals)
{
	char a[64];
	uint8_t b[5000];
	uint8_t in4[12] = { 0 };
	size_t n = v2(b, 1, 0x11, in4, sizeof(in4), 0);
	b[12] = 0x11; /* version 1 in a v2 head */
	cr_expect_eq(parse(2, b, n, a, sizeof(a)), -1);
	n = v2(b, 2, 0x11, in4, sizeof(in4), 0); /* command 2 */
	cr_expect_eq(parse(2, b, n, a, sizeof(a)), -1);
	n = v2(b, 1, 0x12, in4, sizeof(in4), 0); /* UDP */
	cr_expect_eq(parse(2, b, n, a, sizeof(a)), -1);
	n = v2(b, 1, 0x21, in4, sizeof(in4), 0); /* IPv6, 12 bytes */
	cr_expect_eq(parse(2, b, n, a, sizeof(a)), -1);
	n = v2(b, 1, 0x11, in4, sizeof(in4), 4090); /* past the bound */
	cr_expect_eq(parse(2, b, n, a, sizeof(a)), -1);
	b[3] = 'X'; /* not the signature */
	cr_expect_eq(parse(2, b, 4, a, sizeof(a)), -1);
	const char *v1 = "PROXY TCP4 203.0.113.7 192.0.2.1 4242 1883\r\n";
	cr_expect_eq(parse(2, v1, strlen(v1), a, sizeof(a)), -1,
	    "a v1 line where v2 is asked for");
}

/* ---- a node behind the layer ---- */

static int version = 1, secure;
static struct rmq_test_certs certs;

static void
proxy_tweak(struct rmq_config *cfg)
{
	struct rmq_listen_addr *a = &cfg->listeners[0];
	a->proxy_protocol = version;
	if (secure) {
		snprintf(a->tls.certfile, sizeof(a->tls.certfile), "%s",
		    certs.server_cert);
		snprintf(a->tls.keyfile, sizeof(a->tls.keyfile), "%s",
		    certs.server_key);
	}
}

static void
start(unsigned workers, int want_version, int want_secure)
{
	version = want_version;
	secure = want_secure;
	if (secure)
		rmq_test_certs_make(&certs);
	rmq_test_node_start(workers, proxy_tweak);
	cr_assert_not_null(rmq_test_node.transports[0].proxy);
}

static void
stop(void)
{
	rmq_test_node_stop();
	if (secure)
		rmq_test_certs_remove(&certs);
}

static void
start_v1(void)
{
	start(1, 1, 0);
}
static void
start_v2(void)
{
	start(1, 2, 0);
}
static void
start_tls(void)
{
	start(2, 2, 1);
}
static void
start_two(void)
{
	start(2, 1, 0);
}

TestSuite(proxy_v1, .init = start_v1, .fini = stop, .timeout = 30);
TestSuite(proxy_v2, .init = start_v2, .fini = stop, .timeout = 30);
TestSuite(proxy_tls, .init = start_tls, .fini = stop, .timeout = 30);
TestSuite(proxy_handoff, .init = start_two, .fini = stop, .timeout = 30);

static struct rmq_proxy_stats
stats(void)
{
	struct rmq_proxy_stats st;
	rmq_proxy_stats(rmq_test_node.transports[0].proxy, &st);
	return st;
}

static const uint8_t connack[] = { 0x20, 0x02, 0x00, 0x00 };

/* The address the session's connection reports. */
static void
expect_addr(struct rmq_conn *top, const char *want)
{
	char a[64];
	cr_assert_eq(rmq_conn_peer(top, RMQ_PEER_ADDR, a, sizeof(a)), 0);
	cr_assert_str_eq(a, want);
}

Test(proxy_v1, header_and_connect_in_one_read)
{
	struct rmq_fake_client *c = rmq_test_client(0);
	uint8_t b[256];
	const char *h = "PROXY TCP4 203.0.113.7 192.0.2.1 4242 1883\r\n";
	size_t n = strlen(h);
	memcpy(b, h, n);
	n += rmq_test_connect_bytes("behind", 1, b + n, sizeof(b) - n);
	rmq_fake_send(c, b, n);
	RMQ_EXPECT(c, 0x20, 0x02, 0x00, 0x00);
	expect_addr(rmq_proxy_upper((struct rmq_conn *)c->conn),
	    "203.0.113.7:4242");
	cr_assert_eq(stats().headers, 1);
}

Test(proxy_v1, header_a_byte_at_a_time)
{
	struct rmq_fake_client *c = rmq_test_client(0);
	const char *h = "PROXY TCP6 2001:db8::7 2001:db8::1 50000 1883\r\n";
	for (size_t i = 0; h[i]; i++) {
		rmq_fake_send(c, h + i, 1);
		rmq_fake_settle();
	}
	uint8_t b[64];
	rmq_fake_send(c, b, rmq_test_connect_bytes("slow", 1, b, sizeof(b)));
	rmq_test_expect(c, connack, 4, __FILE__, __LINE__);
	expect_addr(rmq_proxy_upper((struct rmq_conn *)c->conn),
	    "[2001:db8::7]:50000");
}

Test(proxy_v1, no_header_is_closed_unanswered)
{
	struct rmq_fake_client *c = rmq_test_client(0);
	uint8_t b[64];
	rmq_fake_send(c, b, rmq_test_connect_bytes("direct", 1, b, sizeof(b)));
	RMQ_EXPECT_CLOSED(c);
	cr_assert_eq(c->out_len, 0, "no CONNACK");
	cr_assert_eq(stats().refused, 1);
	cr_assert_eq(stats().headers, 0);
}

Test(proxy_v2, header_then_connect)
{
	struct rmq_fake_client *c = rmq_test_client(0);
	uint8_t b[256];
	uint8_t in4[12] = { 198, 51, 100, 9, 192, 0, 2, 1, 0xea, 0x60, 0x07,
		0x5b }; /* 60000 */
	size_t n = v2(b, 1, 0x11, in4, sizeof(in4), 7);
	n += rmq_test_connect_bytes("v2", 1, b + n, sizeof(b) - n);
	/* Cut in the middle of the header. */
	rmq_fake_send(c, b, 10);
	rmq_fake_settle();
	rmq_fake_send(c, b + 10, n - 10);
	rmq_test_expect(c, connack, 4, __FILE__, __LINE__);
	expect_addr(rmq_proxy_upper((struct rmq_conn *)c->conn),
	    "198.51.100.9:60000");
}

Test(proxy_v2, local_header_keeps_the_socket_s_address)
{
	struct rmq_fake_client *c = rmq_test_client(0);
	uint8_t b[128];
	size_t n = v2(b, 0, 0, NULL, 0, 0);
	n += rmq_test_connect_bytes("check", 1, b + n, sizeof(b) - n);
	rmq_fake_send(c, b, n);
	rmq_test_expect(c, connack, 4, __FILE__, __LINE__);
	char a[64];
	/* The fake backend's sockets are eventfds: no peer to name. */
	cr_assert_eq(rmq_conn_peer(rmq_proxy_upper((struct rmq_conn *)c->conn),
			 RMQ_PEER_ADDR, a, sizeof(a)),
	    -ENOENT);
}

/* ---- TLS over the layer, and a move ---- */

Test(proxy_tls, tls_after_the_header)
{
	struct rmq_fake_client *fc = rmq_test_client(0);
	uint8_t b[128];
	uint8_t in4[12] = { 203, 0, 113, 8, 192, 0, 2, 1, 0x00, 0x50, 0x22,
		0xb3 }; /* 80 -> 8883 */
	rmq_fake_send(fc, b, v2(b, 1, 0x11, in4, sizeof(in4), 0));
	struct rmq_test_tls *t = rmq_test_tls_new(fc, certs.ca, NULL, NULL, 0);
	cr_assert_eq(rmq_test_tls_handshake(t), 1, "%s", rmq_test_tls_error(t));
	rmq_test_tls_send(t, b, rmq_test_connect_bytes("tls", 1, b, sizeof(b)));
	int closed;
	cr_assert_eq(rmq_test_tls_recv(t, b, 4, &closed), 4);
	cr_assert_arr_eq(b, connack, 4);
	struct rmq_conn *top =
	    rmq_tls_upper(rmq_proxy_upper((struct rmq_conn *)fc->conn));
	expect_addr(top, "203.0.113.8:80");
	rmq_test_tls_free(t);
}

Test(proxy_tls, moves_with_tls_and_keeps_the_address)
{
	/* A persistent session on loop 0, then the client back on loop 1
	 * through the load balancer with CONNECT and PINGREQ. */
	uint8_t b[128];
	uint8_t in4[12] = { 203, 0, 113, 9, 192, 0, 2, 1, 0x30, 0x39, 0x22,
		0xb3 }; /* 12345 */
	struct rmq_fake_client *fc0 = rmq_test_client(0);
	rmq_fake_send(fc0, b, v2(b, 1, 0x11, in4, sizeof(in4), 0));
	struct rmq_test_tls *a = rmq_test_tls_new(fc0, certs.ca, NULL, NULL, 0);
	cr_assert_eq(rmq_test_tls_handshake(a), 1);
	rmq_test_tls_send(a, b,
	    rmq_test_connect_bytes("mover", 0, b, sizeof(b)));
	int closed;
	cr_assert_eq(rmq_test_tls_recv(a, b, 4, &closed), 4);
	static const uint8_t disconnect[] = { 0xe0, 0x00 };
	rmq_test_tls_send(a, disconnect, 2);
	/* Ended gracefully: a close_notify, a FIN, closed at the client's
	 * end (test_tls.c checks each step). */
	cr_assert_eq(rmq_test_tls_recv(a, b, sizeof(b), &closed), 0);
	cr_assert(closed && fc0->shut && !fc0->closed);
	rmq_fake_hangup(fc0);
	rmq_fake_settle();
	cr_assert(fc0->closed);

	struct rmq_fake_client *fc1 = rmq_test_client(1);
	rmq_fake_send(fc1, b, v2(b, 1, 0x11, in4, sizeof(in4), 0));
	struct rmq_test_tls *t = rmq_test_tls_new(fc1, certs.ca, NULL, NULL, 0);
	cr_assert_eq(rmq_test_tls_handshake(t), 1);
	size_t n = rmq_test_connect_bytes("mover", 0, b, sizeof(b));
	b[n++] = 0xc0;
	b[n++] = 0x00;
	rmq_test_tls_send(t, b, n);
	uint8_t got[8];
	size_t k = 0;
	for (int i = 0; i < 4 && k < 6; i++)
		k += rmq_test_tls_recv(t, got + k, 6 - k, &closed);
	static const uint8_t want[] = { 0x20, 0x02, 0x01, 0x00, 0xd0, 0x00 };
	cr_assert_eq(k, 6);
	cr_assert_arr_eq(got, want, 6);
	struct rmq_conn *top =
	    rmq_tls_upper(rmq_proxy_upper((struct rmq_conn *)fc1->conn));
	struct rmq_session *s = top->data;
	cr_assert_not_null(s);
	cr_assert_eq(s->w->id, 0, "served by loop 0 now");
	expect_addr(top, "203.0.113.9:12345");
	rmq_test_tls_free(a);
	rmq_test_tls_free(t);
}

Test(proxy_handoff, plain_move_keeps_the_address)
{
	uint8_t b[128];
	const char *h = "PROXY TCP4 192.0.2.50 192.0.2.1 5555 1883\r\n";
	struct rmq_fake_client *c0 = rmq_test_client(0);
	size_t n = strlen(h);
	memcpy(b, h, n);
	n += rmq_test_connect_bytes("p-mover", 0, b + n, sizeof(b) - n);
	rmq_fake_send(c0, b, n);
	rmq_test_expect(c0, connack, 4, __FILE__, __LINE__);
	static const uint8_t disconnect[] = { 0xe0, 0x00 };
	rmq_fake_send(c0, disconnect, 2);
	RMQ_EXPECT_CLOSED(c0);

	struct rmq_fake_client *c1 = rmq_test_client(1);
	n = strlen(h);
	memcpy(b, h, n);
	n += rmq_test_connect_bytes("p-mover", 0, b + n, sizeof(b) - n);
	rmq_fake_send(c1, b, n);
	RMQ_EXPECT(c1, 0x20, 0x02, 0x01, 0x00);
	struct rmq_session *s =
	    rmq_proxy_upper((struct rmq_conn *)c1->conn)->data;
	cr_assert_not_null(s);
	cr_assert_eq(s->w->id, 0);
	expect_addr(rmq_proxy_upper((struct rmq_conn *)c1->conn),
	    "192.0.2.50:5555");
}
