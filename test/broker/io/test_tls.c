/* test/broker/io/test_tls.c: the TLS layer of a connection (broker/io/tls.c)
 * on a node on the fake loop backend, against an OpenSSL client over
 * memory BIOs (rmq_test_tls.h): handshakes, MQTT over them both ways in
 * small and large writes, refusals, client certificates as user names, a
 * connection moving to another loop mid-stream, and certificate reloads.
 */
#include <criterion/criterion.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth.h"
#include "codec.h"
#include "rmq_test.h"
#include "rmq_test_node.h"
#include "rmq_test_seen.h"
#include "rmq_test_tls.h"
#include "tls.h"

static struct rmq_test_certs certs;
static int mutual, identity, keep_ssl;

static void
tls_tweak(struct rmq_config *cfg)
{
	struct rmq_tls_conf *t = &cfg->listeners[0].tls;
	snprintf(t->certfile, sizeof(t->certfile), "%s", certs.server_cert);
	snprintf(t->keyfile, sizeof(t->keyfile), "%s", certs.server_key);
	if (mutual) {
		snprintf(t->cafile, sizeof(t->cafile), "%s", certs.ca);
		t->require_certificate = 1;
	}
	t->use_identity_as_username = identity == 1;
	t->use_subject_as_username = identity == 2;
	t->keep_ssl = keep_ssl;
}

static void
start(unsigned workers, int want_mutual, int want_identity)
{
	rmq_test_certs_make(&certs);
	mutual = want_mutual;
	identity = want_identity;
	rmq_test_node_start(workers, tls_tweak);
	cr_assert_not_null(rmq_test_node.transports[0].tls);
}

static void
stop(void)
{
	rmq_test_node_stop();
	rmq_test_certs_remove(&certs);
}

static void
start_plain(void)
{
	start(1, 0, 0);
}
static void
start_two(void)
{
	start(2, 0, 0);
}
static void
start_mutual(void)
{
	start(1, 1, 0);
}

TestSuite(tls, .init = start_plain, .fini = stop, .timeout = 30);
TestSuite(tls_handoff, .init = start_two, .fini = stop, .timeout = 30);
TestSuite(tls_mutual, .init = start_mutual, .fini = stop, .timeout = 30);

static struct rmq_tls_stats
stats(void)
{
	struct rmq_tls_stats st;
	rmq_tls_stats(rmq_test_node.transports[0].tls, &st);
	return st;
}

/* Read until `n` bytes came, or nothing more comes. */
static size_t
recv_n(struct rmq_test_tls *t, uint8_t *buf, size_t n, int *closed)
{
	size_t got = 0;
	int idle = 0;
	*closed = 0;
	while (got < n && idle < 3 && !*closed) {
		size_t k = rmq_test_tls_recv(t, buf + got, n - got, closed);
		idle = k ? 0 : idle + 1;
		got += k;
	}
	return got;
}

/* The broker ended the stream after its last packet: a close_notify
 * (RFC 8446 6.1), then a FIN; a record the client sends after it is read
 * and thrown away, and the connection closes when the client hangs up. */
static void
expect_graceful_end(struct rmq_test_tls *t, struct rmq_fake_client *fc)
{
	uint8_t b[16];
	int closed;
	cr_assert_eq(recv_n(t, b, sizeof(b), &closed), 0,
	    "nothing but the end");
	cr_assert(closed, "a close_notify");
	cr_assert(fc->shut, "shut down after the close_notify");
	cr_assert_not(fc->closed, "open until the client's end");
	static const uint8_t ping[] = { 0xc0, 0x00 };
	rmq_test_tls_send(t, ping, 2);
	rmq_fake_settle();
	cr_assert_eq(fc->out_len, 0, "nothing written after the close_notify");
	cr_assert_not(fc->closed);
	rmq_fake_hangup(fc);
	rmq_fake_settle();
	cr_assert(fc->closed, "closed at the client's end");
}

/* A TLS client on `worker`, handshake done, connected as id. */
static struct rmq_test_tls *
tls_connect(unsigned worker, const char *id, const char *cert, const char *key)
{
	struct rmq_fake_client *fc = rmq_test_client(worker);
	struct rmq_test_tls *t = rmq_test_tls_new(fc, certs.ca, cert, key, 0);
	cr_assert_eq(rmq_test_tls_handshake(t), 1, "handshake: %s",
	    rmq_test_tls_error(t));
	uint8_t b[64];
	rmq_test_tls_send(t, b, rmq_test_connect_bytes(id, 1, b, sizeof(b)));
	int closed;
	cr_assert_eq(recv_n(t, b, 4, &closed), 4);
	static const uint8_t ack[] = { 0x20, 0x02, 0x00, 0x00 };
	cr_assert_arr_eq(b, ack, 4, "CONNACK over TLS");
	return t;
}

static void
subscribe(struct rmq_test_tls *t, const char *filter)
{
	uint8_t b[128];
	rmq_test_tls_send(t, b, rmq_test_subscribe_bytes(filter, b, sizeof(b)));
	int closed;
	cr_assert_eq(recv_n(t, b, 5, &closed), 5);
	static const uint8_t suback[] = { 0x90, 0x03, 0x00, 0x01, 0x00 };
	cr_assert_arr_eq(b, suback, 5, "SUBACK over TLS");
}

Test(tls, handshake_then_mqtt_both_ways)
{
	struct rmq_test_tls *t = tls_connect(0, "a", NULL, NULL);
	cr_assert_eq(rmq_test_tls_version(t), TLS1_3_VERSION);
	subscribe(t, "t/+");
	uint8_t pub[64], got[64];
	size_t n = rmq_test_publish_bytes("t/1", (const uint8_t *)"hello", 5,
	    pub, sizeof(pub));
	rmq_test_tls_send(t, pub, n);
	int closed;
	cr_assert_eq(recv_n(t, got, n, &closed), n);
	cr_assert_arr_eq(got, pub, n, "the PUBLISH came back decrypted");
	cr_assert_eq(stats().handshakes, 1);
	cr_assert_eq(stats().failures, 0);
	cr_assert_eq(stats().released, 1, "OpenSSL's state given back");
	rmq_test_tls_free(t);
}

Test(tls, tls12_is_taken)
{
	struct rmq_fake_client *fc = rmq_test_client(0);
	struct rmq_test_tls *t =
	    rmq_test_tls_new(fc, certs.ca, NULL, NULL, TLS1_2_VERSION);
	cr_assert_eq(rmq_test_tls_handshake(t), 1, "%s", rmq_test_tls_error(t));
	cr_assert_eq(rmq_test_tls_version(t), TLS1_2_VERSION);
	uint8_t b[64];
	rmq_test_tls_send(t, b, rmq_test_connect_bytes("v12", 1, b, sizeof(b)));
	int closed;
	cr_assert_eq(recv_n(t, b, 4, &closed), 4);
	cr_assert_eq(b[0], 0x20);
	cr_assert_eq(stats().released, 0, "TLS 1.2 stays with OpenSSL");
	rmq_test_tls_free(t);
}

/* A PUBLISH to itself and back: the connection still works. */
static void
echo(struct rmq_test_tls *t, const char *topic, const char *what)
{
	uint8_t pub[64], got[64];
	size_t n = rmq_test_publish_bytes(topic, (const uint8_t *)what,
	    strlen(what), pub, sizeof(pub));
	rmq_test_tls_send(t, pub, n);
	int closed;
	cr_assert_eq(recv_n(t, got, n, &closed), n, "%s came back", what);
	cr_assert_arr_eq(got, pub, n);
}

/* RFC 8446 4.6.3: a KeyUpdate asking for ours is answered with one, and
 * both sides go on under their new keys. */
Test(tls, key_updates_from_the_client)
{
	struct rmq_test_tls *t = tls_connect(0, "ku", NULL, NULL);
	subscribe(t, "ku");
	for (int i = 0; i < 3; i++) {
		cr_assert_eq(SSL_key_update(rmq_test_tls_ssl(t),
				 i == 1 ? SSL_KEY_UPDATE_NOT_REQUESTED
					: SSL_KEY_UPDATE_REQUESTED),
		    1);
		echo(t, "ku", "after an update");
	}
	cr_assert_eq(stats().key_updates, 3);
	rmq_test_tls_free(t);
}

/* The client's Finished and its CONNECT in one read: what follows the
 * Finished is the record layer's, and nothing is lost between. */
Test(tls, connect_in_the_read_that_finishes_the_handshake)
{
	struct rmq_fake_client *fc = rmq_test_client(0);
	struct rmq_test_tls *t = rmq_test_tls_new(fc, certs.ca, NULL, NULL, 0);
	rmq_test_tls_hold_finished(t);
	cr_assert_eq(rmq_test_tls_handshake(t), 1, "%s", rmq_test_tls_error(t));
	uint8_t b[64];
	size_t n = rmq_test_connect_bytes("piped", 1, b, sizeof(b));
	rmq_test_tls_send(t, b, n); /* the Finished, then the CONNECT */
	int closed;
	cr_assert_eq(recv_n(t, b, 4, &closed), 4);
	cr_assert_eq(b[0], 0x20, "CONNACK");
	cr_assert_eq(stats().released, 1);
	subscribe(t, "x");
	echo(t, "x", "-");
	rmq_test_tls_free(t);
}

/* Records arriving a byte at a time, and several in one read. */
Test(tls, records_split_and_joined)
{
	struct rmq_test_tls *t = tls_connect(0, "split", NULL, NULL);
	subscribe(t, "sp");
	uint8_t pub[64], wire[512], got[192];
	size_t n = rmq_test_publish_bytes("sp", (const uint8_t *)"abc", 3, pub,
	    sizeof(pub));
	size_t w = rmq_test_tls_seal(t, pub, n, wire, sizeof(wire));
	for (size_t i = 0; i < w; i++) {
		rmq_fake_send(rmq_test_tls_fake(t), wire + i, 1);
		rmq_fake_settle();
	}
	int closed;
	cr_assert_eq(recv_n(t, got, n, &closed), n);
	cr_assert_arr_eq(got, pub, n, "a record read a byte at a time");
	w = 0;
	for (int i = 0; i < 3; i++)
		w += rmq_test_tls_seal(t, pub, n, wire + w, sizeof(wire) - w);
	rmq_fake_send(rmq_test_tls_fake(t), wire, w);
	cr_assert_eq(recv_n(t, got, 3 * n, &closed), 3 * n);
	for (int i = 0; i < 3; i++)
		cr_assert_arr_eq(got + i * n, pub, n,
		    "three records, one read");
	rmq_test_tls_free(t);
}

/* RFC 8446 5.2: a record that does not decrypt ends the connection with
 * bad_record_mac; the client reads the alert; others go on. */
Test(tls, a_changed_record_gets_bad_record_mac)
{
	struct rmq_test_tls *t = tls_connect(0, "evil", NULL, NULL);
	uint8_t ping[2] = { 0xc0, 0x00 }, wire[128], b[16];
	size_t w = rmq_test_tls_seal(t, ping, 2, wire, sizeof(wire));
	wire[w - 1] ^= 0x80; /* the tag */
	rmq_fake_send(rmq_test_tls_fake(t), wire, w);
	int closed;
	cr_assert_eq(recv_n(t, b, sizeof(b), &closed), 0, "no PINGRESP");
	cr_assert(closed);
	cr_assert(strstr(rmq_test_tls_error(t), "bad record mac") != NULL,
	    "the client heard why: %s", rmq_test_tls_error(t));
	cr_assert(rmq_test_tls_fake(t)->closed);
	rmq_test_tls_free(t);
	struct rmq_test_tls *c = tls_connect(0, "canary", NULL, NULL);
	subscribe(c, "c");
	echo(c, "c", "still served");
	rmq_test_tls_free(c);
}

/* RFC 8446 6.1: the client's close_notify is the end of its stream. */
Test(tls, close_notify_from_the_client_ends_it)
{
	struct rmq_test_tls *t = tls_connect(0, "bye", NULL, NULL);
	cr_assert_eq(SSL_shutdown(rmq_test_tls_ssl(t)), 0);
	rmq_test_tls_send(t, NULL, 0);
	rmq_fake_settle();
	uint8_t b[16];
	int closed;
	recv_n(t, b, sizeof(b), &closed);
	cr_assert(closed, "the broker ended it too");
	cr_assert_eq(stats().failures, 0);
	rmq_test_tls_free(t);
}

static void
start_keep(void)
{
	keep_ssl = 1;
	start(1, 0, 0);
}

static void
stop_keep(void)
{
	stop();
	keep_ssl = 0;
}

TestSuite(tls_keep, .init = start_keep, .fini = stop_keep, .timeout = 30);

Test(tls_keep, openssl_keeps_the_connection_when_asked)
{
	struct rmq_test_tls *t = tls_connect(0, "kept", NULL, NULL);
	subscribe(t, "k");
	cr_assert_eq(SSL_key_update(rmq_test_tls_ssl(t),
			 SSL_KEY_UPDATE_REQUESTED),
	    1);
	echo(t, "k", "through OpenSSL");
	cr_assert_eq(stats().handshakes, 1);
	cr_assert_eq(stats().released, 0);
	rmq_test_tls_free(t);
}

/* One payload larger than a record, and larger than the layer's gather
 * buffer: it goes out as many records and comes back whole. */
Test(tls, payload_of_many_records)
{
	struct rmq_test_tls *t = tls_connect(0, "big", NULL, NULL);
	subscribe(t, "big");
	size_t plen = 200 * 1024;
	uint8_t *payload = malloc(plen);
	for (size_t i = 0; i < plen; i++)
		payload[i] = (uint8_t)(i * 7 + (i >> 9));
	size_t cap = plen + 64;
	uint8_t *pub = malloc(cap), *got = malloc(cap);
	size_t n = rmq_test_publish_bytes("big", payload, plen, pub, cap);
	rmq_test_tls_send(t, pub, n);
	int closed;
	cr_assert_eq(recv_n(t, got, n, &closed), n);
	cr_assert_eq(memcmp(got, pub, n), 0, "200 KiB came back intact");
	free(payload);
	free(pub);
	free(got);
	rmq_test_tls_free(t);
}

/* Many small packets in one write from the session: gathered into
 * records, all delivered, in order. */
Test(tls, many_small_packets_in_order)
{
	struct rmq_test_tls *t = tls_connect(0, "small", NULL, NULL);
	subscribe(t, "s");
	enum { N = 300 };
	uint8_t all[N * 16], want[N * 16];
	size_t len = 0;
	for (int i = 0; i < N; i++) {
		uint8_t p[3] = { (uint8_t)i, (uint8_t)(i >> 8), 0x5a };
		len += rmq_test_publish_bytes("s", p, 3, all + len,
		    sizeof(all) - len);
	}
	memcpy(want, all, len);
	rmq_test_tls_send(t, all, len);
	uint8_t *got = malloc(len);
	int closed;
	cr_assert_eq(recv_n(t, got, len, &closed), len);
	cr_assert_eq(memcmp(got, want, len), 0);
	free(got);
	rmq_test_tls_free(t);
}

/* Plain MQTT to a TLS listener: not a TLS record, so no alert (OpenSSL
 * sends none for a stream that is not TLS at all); the connection is
 * closed unanswered, the failure counted, and the broker goes on. */
Test(tls, plain_mqtt_is_closed_unanswered)
{
	struct rmq_fake_client *fc = rmq_test_client(0);
	uint8_t b[64];
	rmq_fake_send(fc, b, rmq_test_connect_bytes("plain", 1, b, sizeof(b)));
	rmq_fake_settle();
	cr_assert(fc->closed, "closed");
	cr_assert(fc->out_len == 0 || fc->out[0] == 0x15,
	    "nothing, or a TLS alert record, went back");
	cr_assert_eq(stats().failures, 1);
	struct rmq_test_tls *t = tls_connect(0, "canary", NULL, NULL);
	rmq_test_tls_free(t);
}

/* A failed handshake sends its alert before the close, so the client
 * learns why (RFC 8446 6.2: "protocol_version" when no version is
 * common). */
static void
tweak_tls13(struct rmq_config *cfg)
{
	tls_tweak(cfg);
	cfg->listeners[0].tls.min_version = RMQ_TLS_V13;
}

static void
start_tls13(void)
{
	rmq_test_certs_make(&certs);
	mutual = identity = 0;
	rmq_test_node_start(1, tweak_tls13);
}

TestSuite(tls13_only, .init = start_tls13, .fini = stop, .timeout = 30);

Test(tls13_only, tls12_client_hears_protocol_version)
{
	struct rmq_fake_client *fc = rmq_test_client(0);
	struct rmq_test_tls *t =
	    rmq_test_tls_new(fc, certs.ca, NULL, NULL, TLS1_2_VERSION);
	cr_assert_eq(rmq_test_tls_handshake(t), 0);
	cr_assert(strstr(rmq_test_tls_error(t), "protocol version") != NULL,
	    "the client read the alert: %s", rmq_test_tls_error(t));
	cr_assert(fc->closed);
	cr_assert_eq(stats().failures, 1);
	rmq_test_tls_free(t);
	struct rmq_test_tls *ok = tls_connect(0, "v13", NULL, NULL);
	cr_assert_eq(rmq_test_tls_version(ok), TLS1_3_VERSION);
	rmq_test_tls_free(ok);
}

Test(tls, hangup_in_the_handshake)
{
	struct rmq_fake_client *fc = rmq_test_client(0);
	struct rmq_test_tls *t = rmq_test_tls_new(fc, certs.ca, NULL, NULL, 0);
	/* Only the ClientHello goes, then the client leaves. */
	rmq_test_tls_hello(t);
	rmq_fake_hangup(fc);
	rmq_fake_settle();
	cr_assert(fc->closed);
	cr_assert_eq(stats().handshakes, 0);
	rmq_test_tls_free(t);
}

/* A subscriber that reads nothing while output piles up, then leaves:
 * the pending write is cancelled through the layer and nothing leaks
 * (the node's stop checks). */
Test(tls, stalled_reader_leaves)
{
	struct rmq_test_tls *sub = tls_connect(0, "slow", NULL, NULL);
	subscribe(sub, "f");
	struct rmq_fake_client *sfc = rmq_test_tls_fake(sub);
	rmq_fake_stall(sfc, 1);
	struct rmq_test_tls *pub = tls_connect(0, "fast", NULL, NULL);
	uint8_t p[1024], b[1100];
	memset(p, 'x', sizeof(p));
	size_t n = rmq_test_publish_bytes("f", p, sizeof(p), b, sizeof(b));
	for (int i = 0; i < 50; i++)
		rmq_test_tls_send(pub, b, n);
	rmq_fake_settle();
	cr_assert(!sfc->closed);
	rmq_fake_hangup(sfc);
	rmq_fake_settle();
	cr_assert(sfc->closed);
	rmq_test_tls_free(sub);
	rmq_test_tls_free(pub);
}

/* ---- a connection that moves to the loop of its session ---- */

/* A persistent session `id` made on loop 0 over TLS, its client gone
 * (the TLS client is returned, ended, for the test to free). */
static struct rmq_test_tls *
persistent_session_on_loop_0(const char *id)
{
	struct rmq_fake_client *fc0 = rmq_test_client(0);
	struct rmq_test_tls *a = rmq_test_tls_new(fc0, certs.ca, NULL, NULL, 0);
	cr_assert_eq(rmq_test_tls_handshake(a), 1);
	uint8_t b[128];
	rmq_test_tls_send(a, b, rmq_test_connect_bytes(id, 0, b, sizeof(b)));
	int closed;
	cr_assert_eq(recv_n(a, b, 4, &closed), 4);
	static const uint8_t disconnect[] = { 0xe0, 0x00 };
	rmq_test_tls_send(a, disconnect, 2);
	expect_graceful_end(a, fc0);
	return a;
}

Test(tls_handoff, session_on_another_loop_keeps_the_tls_session)
{
	struct rmq_test_tls *a = persistent_session_on_loop_0("mover");
	uint8_t b[128];
	int closed;

	/* The client comes back on loop 1 and sends CONNECT and PINGREQ in
	 * one record: the connection moves to loop 0 with its TLS state,
	 * and the PINGREQ, decrypted on loop 1, is answered on loop 0. */
	struct rmq_fake_client *fc1 = rmq_test_client(1);
	struct rmq_test_tls *t = rmq_test_tls_new(fc1, certs.ca, NULL, NULL, 0);
	cr_assert_eq(rmq_test_tls_handshake(t), 1);
	size_t n = rmq_test_connect_bytes("mover", 0, b, sizeof(b));
	b[n++] = 0xc0;
	b[n++] = 0x00;
	rmq_test_tls_send(t, b, n);
	cr_assert_eq(recv_n(t, b, 6, &closed), 6);
	static const uint8_t want[] = { 0x20, 0x02, 0x01, 0x00, 0xd0, 0x00 };
	cr_assert_arr_eq(b, want, 6,
	    "CONNACK with Session Present, then PINGRESP, over the moved TLS session");
	cr_assert_not_null(fc1->conn);
	struct rmq_session *s =
	    rmq_tls_upper((struct rmq_conn *)fc1->conn)->data;
	cr_assert_not_null(s);
	cr_assert_eq(s->w->id, 0, "the connection is served by loop 0 now");
	/* And it goes on working there, both ways. */
	subscribe(t, "m");
	uint8_t pub[64], got[64];
	size_t pn = rmq_test_publish_bytes("m", (const uint8_t *)"moved", 5,
	    pub, sizeof(pub));
	rmq_test_tls_send(t, pub, pn);
	cr_assert_eq(recv_n(t, got, pn, &closed), pn);
	cr_assert_arr_eq(got, pub, pn);
	rmq_test_tls_free(a);
	rmq_test_tls_free(t);
}

/* A record read in part when the connection moves goes with it and is
 * finished on the other loop. */
Test(tls_handoff, a_record_in_part_moves_with_the_connection)
{
	struct rmq_test_tls *a = persistent_session_on_loop_0("half");
	uint8_t b[128], wire[512];
	int closed;

	struct rmq_fake_client *fc1 = rmq_test_client(1);
	struct rmq_test_tls *t = rmq_test_tls_new(fc1, certs.ca, NULL, NULL, 0);
	cr_assert_eq(rmq_test_tls_handshake(t), 1);
	size_t n = rmq_test_connect_bytes("half", 0, b, sizeof(b));
	size_t w = rmq_test_tls_seal(t, b, n, wire, sizeof(wire));
	static const uint8_t ping[] = { 0xc0, 0x00 };
	size_t w2 = rmq_test_tls_seal(t, ping, 2, wire + w, sizeof(wire) - w);
	rmq_fake_send(fc1, wire, w + 7); /* the CONNECT, 7 bytes of a PINGREQ */
	rmq_fake_settle();
	rmq_fake_send(fc1, wire + w + 7, w2 - 7);
	cr_assert_eq(recv_n(t, b, 6, &closed), 6);
	static const uint8_t want[] = { 0x20, 0x02, 0x01, 0x00, 0xd0, 0x00 };
	cr_assert_arr_eq(b, want, 6, "CONNACK, then PINGRESP from loop 0");
	struct rmq_session *s =
	    rmq_tls_upper((struct rmq_conn *)fc1->conn)->data;
	cr_assert_eq(s->w->id, 0);
	struct rmq_tls_stats st;
	rmq_tls_stats(rmq_test_node.transports[0].tls, &st);
	cr_assert_eq(st.released, 2);
	rmq_test_tls_free(a);
	rmq_test_tls_free(t);
}

/* ---- client certificates ---- */

Test(tls_mutual, client_certificate_from_the_ca_is_taken)
{
	struct rmq_test_tls *t =
	    tls_connect(0, "alice", certs.client_cert, certs.client_key);
	cr_assert_eq(stats().failures, 0);
	rmq_test_tls_free(t);
}

static void
refused(const char *cert, const char *key)
{
	struct rmq_fake_client *fc = rmq_test_client(0);
	struct rmq_test_tls *t = rmq_test_tls_new(fc, certs.ca, cert, key, 0);
	/* In TLS 1.3 the client may finish before the server has judged
	 * its certificate: what counts is that no CONNECT is answered. */
	rmq_test_tls_handshake(t);
	uint8_t b[64];
	rmq_test_tls_send(t, b, rmq_test_connect_bytes("x", 1, b, sizeof(b)));
	int closed;
	cr_assert_eq(recv_n(t, b, 4, &closed), 0, "no CONNACK");
	cr_assert(fc->closed, "closed by the broker");
	cr_assert_eq(stats().failures, 1);
	cr_assert_eq(stats().handshakes, 0);
	rmq_test_tls_free(t);
}

Test(tls_mutual, no_certificate_is_refused)
{
	refused(NULL, NULL);
}

Test(tls_mutual, certificate_of_another_ca_is_refused)
{
	refused(certs.rogue_cert, certs.rogue_key);
}

/* ---- the certificate as the user name ---- */

static void
start_identity(void)
{
	start(1, 1, 1);
	memset(&rmq_test_seen, 0, sizeof(rmq_test_seen));
	rmq_test_node.auth = &rmq_test_seen_auth;
}

static void
start_subject(void)
{
	start(1, 1, 2);
	memset(&rmq_test_seen, 0, sizeof(rmq_test_seen));
	rmq_test_node.auth = &rmq_test_seen_auth;
}

TestSuite(tls_identity, .init = start_identity, .fini = stop, .timeout = 30);
TestSuite(tls_subject, .init = start_subject, .fini = stop, .timeout = 30);

/* Mosquitto's use_identity_as_username: the certificate's CN, whatever
 * user name the CONNECT carries. */
Test(tls_identity, common_name_is_the_user_name)
{
	struct rmq_fake_client *fc = rmq_test_client(0);
	struct rmq_test_tls *t = rmq_test_tls_new(fc, certs.ca,
	    certs.client_cert, certs.client_key, 0);
	cr_assert_eq(rmq_test_tls_handshake(t), 1);
	struct rmq_packet p = { .type = RMQ_CONNECT };
	p.connect.version = RMQ_V5;
	p.connect.clean = 1;
	p.connect.client_id = rmq_test_str("c1");
	p.connect.username = rmq_test_str("claimed");
	p.connect.password = rmq_test_str("pw");
	uint8_t b[128];
	rmq_test_tls_send(t, b, rmq_test_encode(&p, RMQ_V5, b, sizeof(b)));
	int closed;
	cr_assert_geq(recv_n(t, b, 3, &closed), 3);
	cr_assert_eq(b[0], 0x20);
	cr_assert_eq(rmq_test_seen.calls, 1);
	cr_assert_str_eq(rmq_test_seen.username, "alice");
	cr_assert_eq(rmq_test_seen.certified, 1);
	cr_assert_eq(stats().released, 1, "the name kept past the SSL object");
	rmq_test_tls_free(t);
}

/* use_subject_as_username: the whole subject, RFC 2253. */
Test(tls_subject, subject_is_the_user_name)
{
	struct rmq_test_tls *t =
	    tls_connect(0, "c2", certs.client_cert, certs.client_key);
	cr_assert_eq(rmq_test_seen.calls, 1);
	cr_assert_str_eq(rmq_test_seen.username, "CN=alice,O=Example");
	cr_assert_eq(rmq_test_seen.certified, 1);
	rmq_test_tls_free(t);
}

/* ---- reload ---- */

static void
copy_file(const char *from, const char *to)
{
	FILE *in = fopen(from, "r"), *out = fopen(to, "w");
	cr_assert(in && out);
	char buf[4096];
	size_t n;
	while ((n = fread(buf, 1, sizeof(buf), in)) > 0)
		fwrite(buf, 1, n, out);
	fclose(in);
	fclose(out);
}

/* The server certificate's organisation as a new client sees it. */
static void
peer_org(char *buf, size_t len)
{
	struct rmq_fake_client *fc = rmq_test_client(0);
	struct rmq_test_tls *t = rmq_test_tls_new(fc, certs.ca, NULL, NULL, 0);
	cr_assert_eq(rmq_test_tls_handshake(t), 1);
	cr_assert_eq(rmq_test_tls_peer_org(t, buf, len), 0);
	rmq_test_tls_free(t);
	rmq_fake_hangup(fc);
	rmq_fake_settle();
}

Test(tls, reload_serves_the_new_certificate_to_new_connections)
{
	char org[64];
	peer_org(org, sizeof(org));
	cr_assert_str_eq(org, "RingMQ one");
	struct rmq_test_tls *old = tls_connect(0, "old", NULL, NULL);
	subscribe(old, "r");

	copy_file(certs.server2_cert, certs.server_cert);
	copy_file(certs.server2_key, certs.server_key);
	char err[256] = "";
	cr_assert_eq(rmq_tls_reload(rmq_test_node.transports[0].tls, err,
			 sizeof(err)),
	    0, "%s", err);
	peer_org(org, sizeof(org));
	cr_assert_str_eq(org, "RingMQ two");

	/* A broken file: the listener keeps what it had. */
	FILE *f = fopen(certs.server_cert, "w");
	fputs("not a certificate\n", f);
	fclose(f);
	cr_assert_neq(rmq_tls_reload(rmq_test_node.transports[0].tls, err,
			  sizeof(err)),
	    0);
	cr_assert(strstr(err, certs.server_cert) != NULL, "names the file: %s",
	    err);
	peer_org(org, sizeof(org));
	cr_assert_str_eq(org, "RingMQ two");
	cr_assert_eq(stats().reloads, 1);
	cr_assert_eq(stats().reload_failures, 1);

	/* The connection from before the reloads still works. */
	uint8_t pub[64], got[64];
	size_t n = rmq_test_publish_bytes("r", (const uint8_t *)"still", 5, pub,
	    sizeof(pub));
	rmq_test_tls_send(old, pub, n);
	int closed;
	cr_assert_eq(recv_n(old, got, n, &closed), n);
	cr_assert_arr_eq(got, pub, n);
	rmq_test_tls_free(old);
}

/* ---- a storm of handshakes ---- */

/* Once a turn's budget of costly work is spent (loop.h), a handshake is
 * put off past the turn's reads, to run with a fresh budget at the turn's
 * end (and further when that is spent too): the established clients'
 * input is read first, and at most two budgets of handshakes run in a
 * turn. */
Test(tls, handshakes_past_the_turn_budget_wait_their_turn)
{
	struct rmq_test_tls *old = tls_connect(0, "established", NULL, NULL);
	struct rmq_loop *loop = rmq_test_node.workers[0]->loop;
	uint64_t deferred = rmq_counter_get(&loop->deferred);
	enum { N = 8 };
	struct rmq_test_tls *t[N];
	for (int i = 0; i < N; i++) {
		t[i] = rmq_test_tls_new(rmq_test_client(0), certs.ca, NULL,
		    NULL, 0);
		rmq_test_tls_hello(t[i]);
	}
	static const uint8_t ping[] = { 0xc0, 0x00 };
	rmq_test_tls_send(old, ping, sizeof(ping));
	/* The budget is spent before this turn's reads. */
	loop->spent_us = RMQ_LOOP_TURN_BUDGET_US;
	rmq_fake_turn(loop);
	cr_assert_geq(rmq_counter_get(&loop->deferred) - deferred, N,
	    "every ClientHello put off");
	/* The PINGREQ is answered all the same. */
	uint8_t b[8];
	int closed;
	cr_assert_eq(rmq_test_tls_recv(old, b, sizeof(b), &closed), 2);
	cr_assert_eq(b[0], 0xd0);
	/* And every handshake finishes in the turns after. */
	for (int i = 0; i < N; i++) {
		cr_assert_eq(rmq_test_tls_handshake(t[i]), 1, "%d: %s", i,
		    rmq_test_tls_error(t[i]));
		uint8_t c[64];
		char id[16];
		snprintf(id, sizeof(id), "storm%d", i);
		rmq_test_tls_send(t[i], c,
		    rmq_test_connect_bytes(id, 1, c, sizeof(c)));
		cr_assert_eq(recv_n(t[i], c, 4, &closed), 4);
		cr_assert_eq(c[0], 0x20);
		rmq_test_tls_free(t[i]);
	}
	cr_assert_eq(stats().failures, 0);
	rmq_test_tls_free(old);
}
