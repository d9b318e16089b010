/* test/support/rmq_test_tls.h: certificates a test makes for itself, and a
 * TLS client that talks to a node on the fake loop backend.
 *
 * The client is OpenSSL over memory BIOs: what it writes is sent through
 * the fake client (rmq_fake_send), what the broker wrote is taken from it
 * (rmq_fake_take) and fed to OpenSSL, the loops settling in between, so a
 * whole handshake runs on the test's thread with the test's clock.
 */
#ifndef RMQ_TEST_TLS_H
#define RMQ_TEST_TLS_H

#include <stddef.h>
#include <stdint.h>

#include "rmq_fake_loop.h"

/* PEM files in a fresh directory under /tmp: a CA, a server certificate
 * (CN=localhost, SAN DNS:localhost and IP:127.0.0.1) and a second one of
 * another subject (server2, for a reload), a client certificate (subject
 * O=Example, CN=alice) from the CA, and one (rogue) from another CA. */
struct rmq_test_certs {
	char dir[64];
	char ca[128];
	char server_cert[128], server_key[128];
	char server2_cert[128], server2_key[128];
	char client_cert[128], client_key[128];
	char rogue_cert[128], rogue_key[128];
};

/* Make them (the test fails if it cannot). */
void rmq_test_certs_make(struct rmq_test_certs *c);

/* Remove the files and the directory. */
void rmq_test_certs_remove(struct rmq_test_certs *c);

struct rmq_test_tls;

/* A TLS client over fake client fc, checking the server against cafile
 * (NULL: no check) and presenting cert/key when not NULL; max_version is
 * 0 (any) or a TLS1_x_VERSION. */
struct rmq_test_tls *rmq_test_tls_new(struct rmq_fake_client *fc,
    const char *cafile, const char *cert, const char *key, int max_version);

/* Offer TLS-PSK with `identity` and key[0..n), before the handshake (with
 * cafile NULL the client then needs no certificate from the server). */
void rmq_test_tls_psk(struct rmq_test_tls *t, const char *identity,
    const uint8_t *key, size_t n);

/* The PSK identity hint the server sent, after the handshake ("" if
 * none; TLS 1.3 sends none). */
const char *rmq_test_tls_psk_hint(struct rmq_test_tls *t);

/* Run the handshake, settling the loops between flights.  Returns 1 when
 * it finished, 0 when it failed (the reason in the client's OpenSSL error
 * queue, printed by rmq_test_tls_error). */
int rmq_test_tls_handshake(struct rmq_test_tls *t);

/* The last OpenSSL error the client saw, as text ("" if none). */
const char *rmq_test_tls_error(struct rmq_test_tls *t);

/* Send the ClientHello only (no settling). */
void rmq_test_tls_hello(struct rmq_test_tls *t);

/* The fake client under it. */
struct rmq_fake_client *rmq_test_tls_fake(struct rmq_test_tls *t);

/* The server certificate's organisation (O=) into buf; 0 or -1. */
int rmq_test_tls_peer_org(struct rmq_test_tls *t, char *buf, size_t len);

/* Encrypt and send plaintext. */
void rmq_test_tls_send(struct rmq_test_tls *t, const void *p, size_t n);

/* Settle, then decrypt what the broker sent: up to cap bytes into buf.
 * Returns the count; *closed (when not NULL) tells that the broker closed
 * the connection or the TLS session ended. */
size_t
rmq_test_tls_recv(struct rmq_test_tls *t, void *buf, size_t cap, int *closed);

/* Keep the client's Finished back at the end of the handshake: it goes
 * with what is sent next, in one write. */
void rmq_test_tls_hold_finished(struct rmq_test_tls *t);

/* The client's SSL object, for what these helpers do not do. */
struct ssl_st *rmq_test_tls_ssl(struct rmq_test_tls *t);

/* Encrypt plaintext (none when n is 0) and return what the client would
 * send, up to cap bytes, instead of sending it. */
size_t rmq_test_tls_seal(struct rmq_test_tls *t, const void *p, size_t n,
    uint8_t *out, size_t cap);

/* The negotiated protocol version (TLS1_2_VERSION, TLS1_3_VERSION), and
 * whether the session was resumed. */
int rmq_test_tls_version(struct rmq_test_tls *t);

void rmq_test_tls_free(struct rmq_test_tls *t);

#endif
