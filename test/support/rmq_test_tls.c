/* test/support/rmq_test_tls.c: test certificates and a memory-BIO TLS
 * client for nodes on the fake loop backend (rmq_test_tls.h).
 */
#include "rmq_test_tls.h"

#include <criterion/criterion.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct rmq_test_tls {
	struct rmq_fake_client *fc;
	SSL_CTX *ctx;
	SSL *ssl;
	BIO *rb, *wb; /* the client's: from the broker, to the broker */
	char err[256];
	/* TLS-PSK (rmq_test_tls_psk): the identity and key offered, and
	 * the hint the server sent. */
	char psk_identity[256], psk_hint[256];
	uint8_t psk[128];
	size_t psk_len;
	int hold_finished; /* rmq_test_tls_hold_finished */
};

/* ---- certificates ---- */

static void
cert_ext(X509 *x, X509 *issuer, int nid, const char *value)
{
	X509V3_CTX ctx;
	X509V3_set_ctx(&ctx, issuer, x, NULL, NULL, 0);
	X509_EXTENSION *e = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
	cr_assert_not_null(e, "extension %s", value);
	X509_add_ext(x, e, -1);
	X509_EXTENSION_free(e);
}

/* A certificate for key, subject [O=o,] CN=cn, signed by issuer (itself
 * when NULL). */
static X509 *
cert_new(EVP_PKEY *key, const char *o, const char *cn, X509 *issuer,
    EVP_PKEY *ikey, long serial, const char *san)
{
	X509 *x = X509_new();
	cr_assert_not_null(x);
	X509_set_version(x, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(x), serial);
	X509_gmtime_adj(X509_getm_notBefore(x), -3600);
	X509_gmtime_adj(X509_getm_notAfter(x), 86400);
	X509_set_pubkey(x, key);
	X509_NAME *n = X509_get_subject_name(x);
	if (o)
		X509_NAME_add_entry_by_txt(n, "O", MBSTRING_ASC,
		    (const unsigned char *)o, -1, -1, 0);
	X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC,
	    (const unsigned char *)cn, -1, -1, 0);
	X509_set_issuer_name(x, issuer ? X509_get_subject_name(issuer) : n);
	X509 *by = issuer ? issuer : x;
	if (issuer == NULL) {
		cert_ext(x, by, NID_basic_constraints, "critical,CA:TRUE");
		cert_ext(x, by, NID_key_usage, "critical,keyCertSign,cRLSign");
		cert_ext(x, by, NID_subject_key_identifier, "hash");
	} else {
		cert_ext(x, by, NID_basic_constraints, "CA:FALSE");
		if (san)
			cert_ext(x, by, NID_subject_alt_name, san);
	}
	cr_assert_gt(X509_sign(x, ikey ? ikey : key, EVP_sha256()), 0);
	return x;
}

static void
pem_write(const char *path, X509 *x, EVP_PKEY *key)
{
	FILE *f = fopen(path, "w");
	cr_assert_not_null(f, "%s", path);
	if (x)
		cr_assert_eq(PEM_write_X509(f, x), 1);
	if (key)
		cr_assert_eq(PEM_write_PrivateKey(f, key, NULL, NULL, 0, NULL,
				 NULL),
		    1);
	fclose(f);
}

static void
certs_path(char *out, size_t len, const struct rmq_test_certs *c,
    const char *name)
{
	snprintf(out, len, "%s/%s", c->dir, name);
}

void
rmq_test_certs_make(struct rmq_test_certs *c)
{
	memset(c, 0, sizeof(*c));
	snprintf(c->dir, sizeof(c->dir), "/tmp/rmq-tls-XXXXXX");
	cr_assert_not_null(mkdtemp(c->dir));
	certs_path(c->ca, sizeof(c->ca), c, "ca.pem");
	certs_path(c->server_cert, sizeof(c->server_cert), c, "server.pem");
	certs_path(c->server_key, sizeof(c->server_key), c, "server.key");
	certs_path(c->server2_cert, sizeof(c->server2_cert), c, "server2.pem");
	certs_path(c->server2_key, sizeof(c->server2_key), c, "server2.key");
	certs_path(c->client_cert, sizeof(c->client_cert), c, "client.pem");
	certs_path(c->client_key, sizeof(c->client_key), c, "client.key");
	certs_path(c->rogue_cert, sizeof(c->rogue_cert), c, "rogue.pem");
	certs_path(c->rogue_key, sizeof(c->rogue_key), c, "rogue.key");

	EVP_PKEY *cak = EVP_EC_gen("P-256"), *rk = EVP_EC_gen("P-256");
	EVP_PKEY *sk = EVP_EC_gen("P-256"), *s2k = EVP_EC_gen("P-256");
	EVP_PKEY *ck = EVP_EC_gen("P-256"), *rck = EVP_EC_gen("P-256");
	cr_assert(cak && rk && sk && s2k && ck && rck);
	X509 *ca = cert_new(cak, NULL, "ringmq test CA", NULL, NULL, 1, NULL);
	X509 *rca = cert_new(rk, NULL, "rogue CA", NULL, NULL, 1, NULL);
	const char *san = "DNS:localhost,IP:127.0.0.1";
	X509 *s = cert_new(sk, "RingMQ one", "localhost", ca, cak, 2, san);
	X509 *s2 = cert_new(s2k, "RingMQ two", "localhost", ca, cak, 3, san);
	X509 *cl = cert_new(ck, "Example", "alice", ca, cak, 4, NULL);
	X509 *rc = cert_new(rck, "Example", "mallory", rca, rk, 5, NULL);
	pem_write(c->ca, ca, NULL);
	pem_write(c->server_cert, s, NULL);
	pem_write(c->server_key, NULL, sk);
	pem_write(c->server2_cert, s2, NULL);
	pem_write(c->server2_key, NULL, s2k);
	pem_write(c->client_cert, cl, NULL);
	pem_write(c->client_key, NULL, ck);
	pem_write(c->rogue_cert, rc, NULL);
	pem_write(c->rogue_key, NULL, rck);
	X509 *xs[] = { ca, rca, s, s2, cl, rc };
	EVP_PKEY *ks[] = { cak, rk, sk, s2k, ck, rck };
	for (size_t i = 0; i < 6; i++) {
		X509_free(xs[i]);
		EVP_PKEY_free(ks[i]);
	}
}

void
rmq_test_certs_remove(struct rmq_test_certs *c)
{
	const char *files[] = { c->ca, c->server_cert, c->server_key,
		c->server2_cert, c->server2_key, c->client_cert, c->client_key,
		c->rogue_cert, c->rogue_key };
	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++)
		if (files[i][0])
			unlink(files[i]);
	if (c->dir[0])
		rmdir(c->dir);
}

/* ---- the client ---- */

struct rmq_test_tls *
rmq_test_tls_new(struct rmq_fake_client *fc, const char *cafile,
    const char *cert, const char *key, int max_version)
{
	struct rmq_test_tls *t = calloc(1, sizeof(*t));
	cr_assert_not_null(t);
	t->fc = fc;
	t->ctx = SSL_CTX_new(TLS_client_method());
	cr_assert_not_null(t->ctx);
	if (max_version)
		SSL_CTX_set_max_proto_version(t->ctx, max_version);
	if (cafile) {
		cr_assert_eq(SSL_CTX_load_verify_locations(t->ctx, cafile,
				 NULL),
		    1);
		SSL_CTX_set_verify(t->ctx, SSL_VERIFY_PEER, NULL);
	}
	if (cert) {
		cr_assert_eq(SSL_CTX_use_certificate_file(t->ctx, cert,
				 SSL_FILETYPE_PEM),
		    1);
		cr_assert_eq(SSL_CTX_use_PrivateKey_file(t->ctx, key,
				 SSL_FILETYPE_PEM),
		    1);
	}
	t->ssl = SSL_new(t->ctx);
	t->rb = BIO_new(BIO_s_mem());
	t->wb = BIO_new(BIO_s_mem());
	cr_assert(t->ssl && t->rb && t->wb);
	BIO_set_mem_eof_return(t->rb, -1);
	SSL_set_bio(t->ssl, t->rb, t->wb);
	SSL_set_connect_state(t->ssl);
	SSL_set_tlsext_host_name(t->ssl, "localhost");
	SSL_set1_host(t->ssl, "localhost");
	return t;
}

static unsigned int
tls_psk_client(SSL *ssl, const char *hint, char *identity,
    unsigned int max_identity_len, unsigned char *psk, unsigned int max_psk_len)
{
	struct rmq_test_tls *t = SSL_get_app_data(ssl);
	snprintf(t->psk_hint, sizeof(t->psk_hint), "%s", hint ? hint : "");
	if (strlen(t->psk_identity) >= max_identity_len ||
	    t->psk_len > max_psk_len)
		return 0;
	snprintf(identity, max_identity_len, "%s", t->psk_identity);
	memcpy(psk, t->psk, t->psk_len);
	return (unsigned int)t->psk_len;
}

void
rmq_test_tls_psk(struct rmq_test_tls *t, const char *identity,
    const uint8_t *key, size_t n)
{
	cr_assert_lt(n, sizeof(t->psk));
	snprintf(t->psk_identity, sizeof(t->psk_identity), "%s", identity);
	memcpy(t->psk, key, n);
	t->psk_len = n;
	SSL_set_app_data(t->ssl, t);
	SSL_set_psk_client_callback(t->ssl, tls_psk_client);
}

const char *
rmq_test_tls_psk_hint(struct rmq_test_tls *t)
{
	return t->psk_hint;
}

/* What the client wrote goes to the broker; the loops settle; what the
 * broker wrote comes back to the client's BIO. */
static void
tls_pump(struct rmq_test_tls *t)
{
	static uint8_t buf[1 << 16];
	int n;
	while ((n = BIO_read(t->wb, buf, sizeof(buf))) > 0)
		rmq_fake_send(t->fc, buf, (size_t)n);
	rmq_fake_settle();
	size_t k;
	while ((k = rmq_fake_take(t->fc, buf, sizeof(buf))) > 0)
		BIO_write(t->rb, buf, (int)k);
}

static void
tls_note_error(struct rmq_test_tls *t)
{
	unsigned long e = ERR_peek_last_error();
	if (e)
		ERR_error_string_n(e, t->err, sizeof(t->err));
	ERR_clear_error();
}

int
rmq_test_tls_handshake(struct rmq_test_tls *t)
{
	for (int round = 0; round < 20; round++) {
		int r = SSL_do_handshake(t->ssl);
		if (r == 1) {
			if (!t->hold_finished)
				tls_pump(t); /* the client's Finished */
			return 1;
		}
		int e = SSL_get_error(t->ssl, r);
		if (e != SSL_ERROR_WANT_READ) {
			tls_note_error(t);
			return 0;
		}
		tls_pump(t);
		if (t->fc->closed && BIO_ctrl_pending(t->rb) == 0 &&
		    round > 0) {
			r = SSL_do_handshake(t->ssl);
			tls_note_error(t);
			return r == 1;
		}
	}
	return 0;
}

void
rmq_test_tls_hello(struct rmq_test_tls *t)
{
	cr_assert_neq(SSL_do_handshake(t->ssl), 1);
	rmq_test_tls_send(t, NULL, 0);
}

struct rmq_fake_client *
rmq_test_tls_fake(struct rmq_test_tls *t)
{
	return t->fc;
}

int
rmq_test_tls_peer_org(struct rmq_test_tls *t, char *buf, size_t len)
{
	X509 *x = SSL_get0_peer_certificate(t->ssl);
	if (x == NULL)
		return -1;
	int n = X509_NAME_get_text_by_NID(X509_get_subject_name(x),
	    NID_organizationName, buf, (int)len);
	return n < 0 ? -1 : 0;
}

const char *
rmq_test_tls_error(struct rmq_test_tls *t)
{
	return t->err;
}

void
rmq_test_tls_send(struct rmq_test_tls *t, const void *p, size_t n)
{
	size_t done;
	if (n > 0)
		cr_assert_eq(SSL_write_ex(t->ssl, p, n, &done), 1);
	static uint8_t buf[1 << 16];
	int k;
	while ((k = BIO_read(t->wb, buf, sizeof(buf))) > 0)
		rmq_fake_send(t->fc, buf, (size_t)k);
}

size_t
rmq_test_tls_recv(struct rmq_test_tls *t, void *buf, size_t cap, int *closed)
{
	size_t got = 0;
	int ended = 0;
	tls_pump(t);
	while (got < cap) {
		size_t n;
		if (SSL_read_ex(t->ssl, (uint8_t *)buf + got, cap - got, &n)) {
			got += n;
			continue;
		}
		int e = SSL_get_error(t->ssl, 0);
		if (e != SSL_ERROR_WANT_READ) {
			tls_note_error(t);
			ended = 1;
		}
		break;
	}
	tls_pump(t); /* anything the reads made the client write */
	if (closed)
		*closed = ended ||
		    (t->fc->closed && BIO_ctrl_pending(t->rb) == 0 &&
			SSL_pending(t->ssl) == 0);
	return got;
}

void
rmq_test_tls_hold_finished(struct rmq_test_tls *t)
{
	t->hold_finished = 1;
}

SSL *
rmq_test_tls_ssl(struct rmq_test_tls *t)
{
	return t->ssl;
}

size_t
rmq_test_tls_seal(struct rmq_test_tls *t, const void *p, size_t n, uint8_t *out,
    size_t cap)
{
	size_t done;
	if (n > 0)
		cr_assert_eq(SSL_write_ex(t->ssl, p, n, &done), 1);
	int k = BIO_read(t->wb, out, (int)cap);
	cr_assert_eq(BIO_ctrl_pending(t->wb), 0, "the records fit in cap");
	return k > 0 ? (size_t)k : 0;
}

int
rmq_test_tls_version(struct rmq_test_tls *t)
{
	return SSL_version(t->ssl);
}

void
rmq_test_tls_free(struct rmq_test_tls *t)
{
	if (t == NULL)
		return;
	SSL_free(t->ssl);
	SSL_CTX_free(t->ctx);
	free(t);
}
