/* broker/io/tls.c: the TLS layer of a connection (tls.h), OpenSSL driven
 * from the loop's reads and writes.
 *
 * The layer's BIO reads straight from the buffer the backend lends to its
 * read callback and appends what OpenSSL writes to the connection's next
 * output buffer; the backend writes one buffer at a time while the next
 * one fills.  A write from the session is encrypted at once, small iovecs
 * gathered into records of up to 16 KiB, and its callback runs when the
 * ciphertext is written, so the session's back-pressure is the socket's.
 * On a detach (the client's session lives on another loop) what was read
 * is decrypted first and travels, as plaintext, with the SSL object; the
 * adopting loop goes on with the same TLS session.
 *
 * Once a TLS 1.3 handshake is over, the connection gives its SSL object
 * back (about 15 KB) and keeps only its traffic keys (tls_record.h): the
 * secrets come from OpenSSL's key log callback as the handshake derives
 * them, and the number of records OpenSSL sealed under ours (its session
 * tickets) from its message callback.  TLS 1.2, and suites the record
 * layer does not seal, stay with OpenSSL throughout.
 */
#include "tls.h"

#include <errno.h>
#include <openssl/bio.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "conn.h"
#include "iobuf.h"
#include "log.h"
#include "psk.h"
#include "tls_record.h"

#define TLS_RECORD 16384

struct rmq_tls {
	struct rmq_tls_conf conf;
	char name[80];
	pthread_mutex_t mu; /* guards ctx */
	SSL_CTX *ctx;
	_Atomic uint64_t handshakes, failures, resumed, reloads,
	    reload_failures, released, key_updates;
};

struct tls_conn {
	/* First: a moving connection's state names its layer (conn.h). */
	const struct rmq_conn_layer *layer;
	struct rmq_conn up; /* what the session holds */
	struct rmq_conn *down; /* the one below; NULL once closed or moved */
	void *below_layers; /* while moving: the state of the layers below */
	struct rmq_tls *t;
	SSL *ssl;
	rmq_read_cb up_read;
	rmq_write_cb up_write; /* the session's write, until written */
	rmq_close_cb up_close;
	rmq_detach_cb up_detach;
	struct rmq_iobuf out; /* ciphertext the backend is writing */
	struct rmq_iobuf next; /* ciphertext to write after it */
	struct rmq_iobuf early; /* plaintext decrypted while detaching */
	/* Ciphertext put off to a later turn: the loop's budget for
	 * handshakes was spent (loop.h), or input before it waits. */
	struct rmq_iobuf in;
	struct rmq_loop_later later;
	ssize_t eof; /* the end of stream read behind `in`, for after it */
	uint8_t eof_pending;
	struct iovec wiov;
	const uint8_t *feed; /* ciphertext lent by the backend, not read */
	size_t feed_len;
	uint8_t in_input; /* tls_input runs (a detach waits for its end) */
	uint8_t writing; /* `out` is with the backend */
	uint8_t out_has_up, next_has_up; /* the session's bytes are in it */
	uint8_t handshaken, failed, detaching;
	/* Ending the stream: 1 while the close_notify is written, 2 once the
	 * connection below is shut down too. */
	uint8_t shutting;
	uint8_t fail_told; /* the session heard of the failure */
	uint8_t secrets; /* traffic secrets logged: 1 the client's, 2 ours */
	uint8_t peer_done; /* the client's close_notify was read */
	uint16_t tickets; /* records OpenSSL sealed with our traffic key */
	/* The identity a TLS-PSK client proved (OpenSSL keeps it for TLS
	 * 1.2 only); NULL otherwise. */
	char *psk_identity;
	/* Once the SSL object is given back (ssl NULL): the record layer,
	 * a record read in part, and what tls_peer answers from the client's
	 * certificate (NULL: none, or not verified). */
	struct rmq_tls_rec *rec;
	struct rmq_iobuf part;
	char *cert_cn, *cert_subject;
};

static const struct rmq_conn_layer tls_layer;

#define TLS_CONN(c)                                                            \
	((struct tls_conn *)(void *)((char *)(c)-offsetof(struct tls_conn, up)))

/* ---- the BIO between OpenSSL and the loop ---- */

static BIO_METHOD *tls_bio_method;
static pthread_once_t tls_bio_once = PTHREAD_ONCE_INIT;

static int
tls_bio_write(BIO *bio, const char *data, size_t len, size_t *written)
{
	struct tls_conn *tc = BIO_get_data(bio);
	BIO_clear_retry_flags(bio);
	if (rmq_iobuf_put(&tc->next, data, len) != 0)
		return 0;
	*written = len;
	return 1;
}

static int
tls_bio_read(BIO *bio, char *data, size_t len, size_t *got)
{
	struct tls_conn *tc = BIO_get_data(bio);
	BIO_clear_retry_flags(bio);
	if (tc->feed_len == 0) {
		BIO_set_retry_read(bio);
		return 0;
	}
	size_t n = len < tc->feed_len ? len : tc->feed_len;
	memcpy(data, tc->feed, n);
	tc->feed += n;
	tc->feed_len -= n;
	*got = n;
	return 1;
}

static long
tls_bio_ctrl(BIO *bio, int cmd, long num, void *ptr)
{
	(void)bio, (void)num, (void)ptr;
	switch (cmd) {
	case BIO_CTRL_FLUSH: return 1;
	default: return 0;
	}
}

static int
tls_bio_create(BIO *bio)
{
	BIO_set_init(bio, 1);
	return 1;
}

/* A context's pre-shared keys (psk.h) live in its ex data, so that a
 * reload swaps keys and certificates together and a context freed by its
 * last connection frees its table. */
static int tls_psk_index = -1;

static void
tls_psk_ex_free(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx, long argl,
    void *argp)
{
	(void)parent, (void)ad, (void)idx, (void)argl, (void)argp;
	rmq_psk_free(ptr);
}

/* OpenSSL asks for the key of the identity a client names (TLS 1.2, and
 * TLS 1.3 through the same callback); 0 fails the handshake. */
static unsigned int
tls_psk_server(SSL *ssl, const char *identity, unsigned char *psk,
    unsigned int max_psk_len)
{
	const struct rmq_psk *p =
	    SSL_CTX_get_ex_data(SSL_get_SSL_CTX(ssl), tls_psk_index);
	if (identity == NULL)
		return 0;
	size_t n = rmq_psk_find(p, identity, psk, max_psk_len);
	struct tls_conn *tc = BIO_get_data(SSL_get_rbio(ssl));
	if (n > 0 && tc != NULL) {
		free(tc->psk_identity);
		tc->psk_identity = strdup(identity);
		if (tc->psk_identity == NULL)
			return 0;
	}
	return (unsigned int)n;
}

/* The traffic secrets of a TLS 1.3 handshake, from OpenSSL's key log
 * lines ("CLIENT_TRAFFIC_SECRET_0 <client random> <secret>", RFC 8446
 * 7.1's names), kept for the record layer. */
static void
tls_keylog(const SSL *ssl, const char *line)
{
	static const char cl[] = "CLIENT_TRAFFIC_SECRET_0 ",
			  sv[] = "SERVER_TRAFFIC_SECRET_0 ";
	struct tls_conn *tc = BIO_get_data(SSL_get_rbio(ssl));
	uint8_t bit;
	if (tc == NULL)
		return;
	if (strncmp(line, cl, sizeof(cl) - 1) == 0)
		bit = 1;
	else if (strncmp(line, sv, sizeof(sv) - 1) == 0)
		bit = 2;
	else
		return;
	const char *hex = strchr(line + sizeof(cl) - 1, ' ');
	if (hex == NULL)
		return;
	hex++;
	size_t n = strlen(hex) / 2;
	if (n > sizeof(tc->rec->rd.secret) ||
	    (tc->rec == NULL &&
		(tc->rec = calloc(1, sizeof(*tc->rec))) == NULL))
		return;
	uint8_t *out = bit == 1 ? tc->rec->rd.secret : tc->rec->wr.secret;
	for (size_t i = 0; i < n; i++) {
		int hi = OPENSSL_hexchar2int((unsigned char)hex[2 * i]),
		    lo = OPENSSL_hexchar2int((unsigned char)hex[2 * i + 1]);
		if (hi < 0 || lo < 0)
			return;
		out[i] = (uint8_t)(hi << 4 | lo);
	}
	tc->rec->secret_len = (uint8_t)n;
	tc->secrets |= bit;
}

/* Every record OpenSSL seals with our traffic key before the record
 * layer takes over is a session ticket (RFC 8446 4.6.1), one a record;
 * their count is where our record numbers go on from. */
static void
tls_msg(int write_p, int version, int content_type, const void *buf, size_t len,
    SSL *ssl, void *arg)
{
	(void)version, (void)arg;
	if (!write_p || content_type != SSL3_RT_HANDSHAKE || len == 0 ||
	    ((const uint8_t *)buf)[0] != SSL3_MT_NEWSESSION_TICKET)
		return;
	struct tls_conn *tc = BIO_get_data(SSL_get_wbio(ssl));
	if (tc != NULL)
		tc->tickets++;
}

static void
tls_bio_init(void)
{
	tls_psk_index =
	    SSL_CTX_get_ex_new_index(0, NULL, NULL, NULL, tls_psk_ex_free);
	BIO_METHOD *m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK,
	    "ringmq loop");
	if (m == NULL)
		return;
	BIO_meth_set_write_ex(m, tls_bio_write);
	BIO_meth_set_read_ex(m, tls_bio_read);
	BIO_meth_set_ctrl(m, tls_bio_ctrl);
	BIO_meth_set_create(m, tls_bio_create);
	tls_bio_method = m;
}

/* ---- the listener's context ---- */

static void
tls_err(char *err, size_t errlen, const char *what, const char *path)
{
	unsigned long e = ERR_peek_last_error();
	char buf[256] = "unknown error";
	if (e)
		ERR_error_string_n(e, buf, sizeof(buf));
	if (path)
		snprintf(err, errlen, "%s %s: %s", what, path, buf);
	else
		snprintf(err, errlen, "%s: %s", what, buf);
	ERR_clear_error();
}

/* A file the settings name must be readable: say so plainly rather than
 * through OpenSSL's message. */
static int
tls_readable(const char *key, const char *path, char *err, size_t errlen)
{
	if (path[0] && access(path, R_OK) != 0) {
		snprintf(err, errlen, "%s %s: %s", key, path, strerror(errno));
		return -1;
	}
	return 0;
}

static SSL_CTX *
tls_ctx_build(const struct rmq_tls_conf *c, char *err, size_t errlen)
{
	if (tls_readable("psk_file", c->psk_file, err, errlen) ||
	    tls_readable("certfile", c->certfile, err, errlen) ||
	    tls_readable("keyfile", c->keyfile, err, errlen) ||
	    tls_readable("cafile", c->cafile, err, errlen) ||
	    tls_readable("capath", c->capath, err, errlen) ||
	    tls_readable("crlfile", c->crlfile, err, errlen) ||
	    tls_readable("dhparamfile", c->dhparamfile, err, errlen))
		return NULL;
	SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
	if (ctx == NULL) {
		tls_err(err, errlen, "SSL_CTX_new", NULL);
		return NULL;
	}
	SSL_CTX_set_min_proto_version(ctx,
	    c->min_version == RMQ_TLS_V13 ? TLS1_3_VERSION : TLS1_2_VERSION);
	/* Renegotiation is a client's way to make the server work hard;
	 * MQTT has no use for it. */
	SSL_CTX_set_options(ctx,
	    SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE |
		SSL_OP_NO_COMPRESSION);
	/* An idle connection keeps no record buffers. */
	SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
	/* Resumption: the internal cache (TLS 1.2) and tickets (1.3). */
	static const unsigned char sid[] = "ringmq";
	SSL_CTX_set_session_id_context(ctx, sid, sizeof(sid) - 1);
	SSL_CTX_set_num_tickets(ctx, 1);
	if (!c->keep_ssl) {
		SSL_CTX_set_keylog_callback(ctx, tls_keylog);
		SSL_CTX_set_msg_callback(ctx, tls_msg);
	}
	if (c->psk_hint[0]) {
		struct rmq_psk *keys;
		if (!c->psk_file[0]) {
			snprintf(err, errlen,
			    "psk_hint is set but psk_file is not");
			goto fail;
		}
		if (rmq_psk_load(c->psk_file, &keys, err, errlen) != 0)
			goto fail;
		if (SSL_CTX_set_ex_data(ctx, tls_psk_index, keys) != 1) {
			rmq_psk_free(keys);
			tls_err(err, errlen, "psk_file", c->psk_file);
			goto fail;
		}
		if (SSL_CTX_use_psk_identity_hint(ctx, c->psk_hint) != 1) {
			tls_err(err, errlen, "psk_hint", c->psk_hint);
			goto fail;
		}
		SSL_CTX_set_psk_server_callback(ctx, tls_psk_server);
	}
	if (!c->certfile[0])
		goto no_certificate; /* TLS-PSK alone */
	if (SSL_CTX_use_certificate_chain_file(ctx, c->certfile) != 1) {
		tls_err(err, errlen, "certfile", c->certfile);
		goto fail;
	}
	if (SSL_CTX_use_PrivateKey_file(ctx, c->keyfile, SSL_FILETYPE_PEM) !=
	    1) {
		tls_err(err, errlen, "keyfile", c->keyfile);
		goto fail;
	}
	if (SSL_CTX_check_private_key(ctx) != 1) {
		snprintf(err, errlen,
		    "keyfile %s is not the key of certfile %s", c->keyfile,
		    c->certfile);
		ERR_clear_error();
		goto fail;
	}
no_certificate:
	if (c->ciphers[0] && SSL_CTX_set_cipher_list(ctx, c->ciphers) != 1) {
		tls_err(err, errlen, "ciphers", c->ciphers);
		goto fail;
	}
	if (c->ciphers13[0] &&
	    SSL_CTX_set_ciphersuites(ctx, c->ciphers13) != 1) {
		tls_err(err, errlen, "ciphers_tls1.3", c->ciphers13);
		goto fail;
	}
	if (c->groups[0] && SSL_CTX_set1_groups_list(ctx, c->groups) != 1) {
		tls_err(err, errlen, "tls_groups", c->groups);
		goto fail;
	}
	if (c->cafile[0] || c->capath[0]) {
		if (SSL_CTX_load_verify_locations(ctx,
			c->cafile[0] ? c->cafile : NULL,
			c->capath[0] ? c->capath : NULL) != 1) {
			tls_err(err, errlen, c->cafile[0] ? "cafile" : "capath",
			    c->cafile[0] ? c->cafile : c->capath);
			goto fail;
		}
		if (c->cafile[0]) {
			STACK_OF(X509_NAME) *names =
			    SSL_load_client_CA_file(c->cafile);
			if (names)
				SSL_CTX_set_client_CA_list(ctx, names);
			ERR_clear_error();
		}
	}
	if (c->crlfile[0]) {
		X509_STORE *store = SSL_CTX_get_cert_store(ctx);
		X509_LOOKUP *lk =
		    X509_STORE_add_lookup(store, X509_LOOKUP_file());
		if (lk == NULL ||
		    X509_load_crl_file(lk, c->crlfile, X509_FILETYPE_PEM) < 1) {
			tls_err(err, errlen, "crlfile", c->crlfile);
			goto fail;
		}
		X509_STORE_set_flags(store, X509_V_FLAG_CRL_CHECK);
	}
	if (c->dhparamfile[0]) {
		BIO *bio = BIO_new_file(c->dhparamfile, "r");
		EVP_PKEY *dh = bio ? PEM_read_bio_Parameters(bio, NULL) : NULL;
		BIO_free(bio);
		if (dh == NULL || SSL_CTX_set0_tmp_dh_pkey(ctx, dh) != 1) {
			EVP_PKEY_free(dh);
			tls_err(err, errlen, "dhparamfile", c->dhparamfile);
			goto fail;
		}
	}
	if (c->require_certificate) {
		if (!c->cafile[0] && !c->capath[0]) {
			snprintf(err, errlen,
			    "require_certificate needs cafile or capath to check certificates against");
			goto fail;
		}
		SSL_CTX_set_verify(ctx,
		    SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
	}
	return ctx;
fail:
	SSL_CTX_free(ctx);
	return NULL;
}

int
rmq_tls_new(const struct rmq_tls_conf *conf, const char *name,
    struct rmq_tls **out, char *err, size_t errlen)
{
	pthread_once(&tls_bio_once, tls_bio_init);
	if (tls_bio_method == NULL) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	if (conf->certfile[0] && !conf->keyfile[0]) {
		snprintf(err, errlen, "certfile is set but keyfile is not");
		return -EINVAL;
	}
	/* A PSK client proves its identity, as a certificate's holder does
	 * its Common Name. */
	if (((conf->use_identity_as_username && !conf->psk_hint[0]) ||
		conf->use_subject_as_username) &&
	    !conf->require_certificate) {
		snprintf(err, errlen,
		    "%s needs require_certificate true (a client without a certificate would have no user name)",
		    conf->use_identity_as_username ? "use_identity_as_username"
						   : "use_subject_as_username");
		return -EINVAL;
	}
	struct rmq_tls *t = calloc(1, sizeof(*t));
	if (t == NULL) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	t->conf = *conf;
	snprintf(t->name, sizeof(t->name), "%s", name);
	pthread_mutex_init(&t->mu, NULL);
	t->ctx = tls_ctx_build(conf, err, errlen);
	if (t->ctx == NULL) {
		pthread_mutex_destroy(&t->mu);
		free(t);
		return -EINVAL;
	}
	*out = t;
	return 0;
}

int
rmq_tls_reload(struct rmq_tls *t, char *err, size_t errlen)
{
	SSL_CTX *ctx = tls_ctx_build(&t->conf, err, errlen);
	if (ctx == NULL) {
		atomic_fetch_add(&t->reload_failures, 1);
		return -EINVAL;
	}
	pthread_mutex_lock(&t->mu);
	SSL_CTX *old = t->ctx;
	t->ctx = ctx;
	pthread_mutex_unlock(&t->mu);
	SSL_CTX_free(old); /* connections using it hold references */
	atomic_fetch_add(&t->reloads, 1);
	return 0;
}

void
rmq_tls_free(struct rmq_tls *t)
{
	if (t == NULL)
		return;
	SSL_CTX_free(t->ctx);
	pthread_mutex_destroy(&t->mu);
	free(t);
}

void
rmq_tls_stats(const struct rmq_tls *t, struct rmq_tls_stats *out)
{
	out->handshakes = atomic_load(&t->handshakes);
	out->failures = atomic_load(&t->failures);
	out->resumed = atomic_load(&t->resumed);
	out->reloads = atomic_load(&t->reloads);
	out->reload_failures = atomic_load(&t->reload_failures);
	out->released = atomic_load(&t->released);
	out->key_updates = atomic_load(&t->key_updates);
}

/* ---- a connection ---- */

static void tls_flush(struct tls_conn *tc);
static void tls_detach_go(struct tls_conn *tc);
static int tls_shutdown_go(struct tls_conn *tc);

static void
tls_conn_free(struct tls_conn *tc)
{
	rmq_loop_later_cancel(&tc->later);
	rmq_iobuf_free(&tc->in);
	SSL_free(tc->ssl); /* and its BIO */
	rmq_iobuf_free(&tc->out);
	rmq_iobuf_free(&tc->next);
	rmq_iobuf_free(&tc->early);
	rmq_iobuf_free(&tc->part);
	free(tc->psk_identity);
	free(tc->cert_cn);
	free(tc->cert_subject);
	if (tc->rec != NULL) {
		rmq_tls_rec_clear(tc->rec);
		free(tc->rec);
	}
	free(tc);
}

static void
tls_tell_failed(struct tls_conn *tc)
{
	tc->fail_told = 1;
	if (tc->up_read && !tc->up.closing)
		tc->up_read(&tc->up, NULL, -EPROTO);
}

/* The connection cannot go on: say why, then tell the session. */
static void
tls_fail_why(struct tls_conn *tc, const char *why)
{
	tc->failed = 1;
	if (!tc->handshaken) {
		atomic_fetch_add(&tc->t->failures, 1);
		rmq_log(RMQ_LOG_INFO, "listener %s: TLS handshake failed: %s",
		    tc->t->name, why);
	} else {
		rmq_log(RMQ_LOG_DEBUG, "listener %s: TLS error: %s",
		    tc->t->name, why);
	}
	/* The alert written goes out first, so the client learns why
	 * (bounded: it is one record; the session closes after). */
	if (tc->next.len && tc->down && !tc->down->closing && !tc->detaching) {
		tc->fail_told = 0;
		tls_flush(tc);
		return;
	}
	tls_tell_failed(tc);
}

static void
tls_fail(struct tls_conn *tc, int ssl_err)
{
	char why[256];
	unsigned long e = ERR_peek_last_error();
	if (e)
		ERR_error_string_n(e, why, sizeof(why));
	else
		snprintf(why, sizeof(why), "%s",
		    ssl_err == SSL_ERROR_SYSCALL ? "unexpected end of stream"
						 : "protocol error");
	ERR_clear_error();
	tls_fail_why(tc, why);
}

/* The record layer's refusal: the alert (RFC 8446 6.2), sealed, then
 * the end. */
static void
tls_rec_fail(struct tls_conn *tc, int alert, const char *what)
{
	uint8_t a[2] = { 2, (uint8_t)alert }; /* fatal */
	struct iovec v = { a, sizeof(a) };
	char why[96];
	(void)rmq_tls_rec_seal(tc->rec, RMQ_TLS_ALERT, &v, 1, &tc->next);
	ERR_clear_error();
	snprintf(why, sizeof(why), "%s (alert %d)", what, alert);
	tls_fail_why(tc, why);
}

/* A copy of what tls_peer tells of a client certificate: 0, -ENOENT
 * (none, or not verified) or -ENOSPC. */
static int
tls_peer_cert(SSL *ssl, enum rmq_conn_peer what, char *buf, size_t len);

static char *
tls_peer_keep(SSL *ssl, enum rmq_conn_peer what)
{
	char buf[1024];
	return tls_peer_cert(ssl, what, buf, sizeof(buf)) == 0 ? strdup(buf)
							       : NULL;
}

/* The handshake is done: when it was TLS 1.3 with a suite the record
 * layer seals, and OpenSSL holds nothing unread, keep the keys and give
 * the SSL object back.  OpenSSL reads a record at a time (no read
 * ahead), so what follows the client's Finished is still in the feed. */
static void
tls_release(struct tls_conn *tc)
{
	SSL *ssl = tc->ssl;
	struct rmq_tls_rec *r = tc->rec;
	const SSL_CIPHER *cipher = SSL_get_current_cipher(ssl);
	uint16_t id = cipher ? SSL_CIPHER_get_protocol_id(cipher) : 0;
	SSL_SESSION *sess = SSL_get_session(ssl);
	uint8_t secret[48];
	tc->rec = NULL;
	if (r == NULL)
		return;
	if (tc->secrets != 3 || SSL_version(ssl) != TLS1_3_VERSION ||
	    !rmq_tls_rec_supported(id) || SSL_has_pending(ssl) ||
	    (sess &&
		SSL_SESSION_get_max_fragment_length(sess) !=
		    TLSEXT_max_fragment_length_DISABLED))
		goto keep;
	if (SSL_get0_peer_certificate(ssl) != NULL) {
		tc->cert_cn = tls_peer_keep(ssl, RMQ_PEER_CN);
		tc->cert_subject = tls_peer_keep(ssl, RMQ_PEER_SUBJECT);
	} else if (tc->psk_identity == NULL && SSL_get_psk_identity(ssl)) {
		tc->psk_identity = strdup(SSL_get_psk_identity(ssl));
	}
	memcpy(secret, r->wr.secret, sizeof(secret));
	if (rmq_tls_rec_start(r, id, r->rd.secret, secret, r->secret_len,
		tc->tickets) != 0) {
		OPENSSL_cleanse(secret, sizeof(secret));
		goto keep;
	}
	OPENSSL_cleanse(secret, sizeof(secret));
	/* Quiet: an SSL freed without a close_notify would take its session
	 * out of the cache. */
	SSL_set_shutdown(ssl, SSL_SENT_SHUTDOWN | SSL_RECEIVED_SHUTDOWN);
	SSL_free(ssl);
	tc->ssl = NULL;
	tc->rec = r;
	atomic_fetch_add(&tc->t->released, 1);
	return;
keep:
	rmq_tls_rec_clear(r);
	free(r);
	ERR_clear_error();
}

/* The next whole record: from the feed when it is all there, else
 * gathered in `part`.  Returns 1 (*rec, *len set), 0 when it is not all
 * here yet (what is here kept), or an alert. */
static int
tls_rec_next(struct tls_conn *tc, const uint8_t **rec, size_t *len)
{
	if (tc->part.len == 0 && tc->feed_len >= RMQ_TLS_HEADER) {
		int alert = rmq_tls_rec_header(tc->feed);
		if (alert)
			return -alert;
		size_t need = rmq_tls_rec_len(tc->feed);
		if (tc->feed_len >= need) {
			*rec = tc->feed;
			*len = need;
			tc->feed += need;
			tc->feed_len -= need;
			return 1;
		}
	}
	size_t need;
	for (;;) {
		need = tc->part.len < RMQ_TLS_HEADER
		    ? RMQ_TLS_HEADER
		    : rmq_tls_rec_len(tc->part.p);
		size_t k = need - tc->part.len;
		if (k > tc->feed_len)
			k = tc->feed_len;
		if (rmq_iobuf_put(&tc->part, tc->feed, k) != 0)
			return -RMQ_TLS_INTERNAL_ERROR;
		tc->feed += k;
		tc->feed_len -= k;
		if (tc->part.len < need)
			return 0;
		if (need > RMQ_TLS_HEADER)
			break;
		/* The header is whole: a body always follows it. */
		int alert = rmq_tls_rec_header(tc->part.p);
		if (alert)
			return -alert;
	}
	*rec = tc->part.p;
	*len = need;
	return 1;
}

/* Input once the record layer has it: open each whole record, hand
 * application data up, answer what the protocol asks. */
static void
tls_rec_input(struct tls_conn *tc)
{
	uint8_t plain[RMQ_TLS_PLAIN_MAX + 256];
	while (!tc->failed && !tc->peer_done &&
	    (!tc->up.closing || tc->detaching) && tc->feed_len > 0) {
		const uint8_t *rec;
		size_t len, got;
		uint8_t type;
		int r = tls_rec_next(tc, &rec, &len);
		if (r == 0)
			break;
		if (r < 0) {
			tls_rec_fail(tc, -r, "bad record header");
			break;
		}
		int alert =
		    rmq_tls_rec_open(tc->rec, rec, len, plain, &got, &type);
		if (tc->part.len)
			rmq_iobuf_free(&tc->part); /* an idle one keeps none */
		if (alert) {
			tls_rec_fail(tc, alert, "record refused");
			break;
		}
		if (type == RMQ_TLS_DATA) {
			if (got == 0)
				continue;
			if (tc->detaching) {
				if (rmq_iobuf_put(&tc->early, plain, got) != 0)
					tc->failed = 1;
			} else {
				tc->up_read(&tc->up, plain, (ssize_t)got);
			}
		} else if (type == RMQ_TLS_HANDSHAKE) {
			alert = rmq_tls_rec_handshake(tc->rec, plain, got,
			    &tc->next);
			if (alert) {
				tls_rec_fail(tc, alert,
				    "post-handshake message");
				break;
			}
			atomic_fetch_add(&tc->t->key_updates, 1);
		} else if (type == RMQ_TLS_ALERT && got == 2 &&
		    plain[1] == RMQ_TLS_CLOSE_NOTIFY) {
			tc->peer_done = 1;
			if (!tc->detaching && !tc->up.closing)
				tc->up_read(&tc->up, NULL, 0);
		} else if (type == RMQ_TLS_ALERT && got == 2 &&
		    plain[1] == RMQ_TLS_USER_CANCELED) {
			continue; /* a close_notify follows */
		} else if (type == RMQ_TLS_ALERT && got == 2) {
			char why[64];
			snprintf(why, sizeof(why), "the client sent alert %d",
			    plain[1]);
			tc->peer_done = 1;
			tls_fail_why(tc, why);
		} else {
			tls_rec_fail(tc,
			    type == RMQ_TLS_ALERT ? RMQ_TLS_DECODE_ERROR
						  : RMQ_TLS_UNEXPECTED_MESSAGE,
			    "record refused");
		}
	}
	/* Input after the client's close_notify is not read. */
	tc->feed_len = 0;
}

/* Ciphertext lent by the backend: finish the handshake, then decrypt and
 * hand the plaintext up, a record at a time. */
static void
tls_input(struct tls_conn *tc, const uint8_t *data, size_t n)
{
	uint8_t plain[TLS_RECORD];
	tc->feed = data;
	tc->feed_len = n;
	tc->in_input = 1;
	if (!tc->handshaken) {
		ERR_clear_error();
		uint64_t t0 = rmq_loop_clock_us();
		int r = SSL_do_handshake(tc->ssl);
		/* Charged to the loop's turn, so that a storm of handshakes
		 * is spread over turns (tls_on_read). */
		tc->up.loop->spent_us += (uint32_t)(rmq_loop_clock_us() - t0);
		if (r != 1) {
			int e = SSL_get_error(tc->ssl, r);
			if (e != SSL_ERROR_WANT_READ &&
			    e != SSL_ERROR_WANT_WRITE)
				tls_fail(tc, e);
			goto out;
		}
		tc->handshaken = 1;
		atomic_fetch_add(&tc->t->handshakes, 1);
		if (SSL_session_reused(tc->ssl))
			atomic_fetch_add(&tc->t->resumed, 1);
		tls_release(tc);
	}
	if (tc->ssl == NULL) {
		tls_rec_input(tc);
		goto out;
	}
	while (!tc->failed && (!tc->up.closing || tc->detaching)) {
		size_t got;
		/* Only read when something is there: a read that finds
		 * nothing would take a 16 KiB record buffer again, and an idle
		 * connection would keep it. */
		if (tc->feed_len == 0 && !SSL_has_pending(tc->ssl))
			break;
		ERR_clear_error();
		if (SSL_read_ex(tc->ssl, plain, sizeof(plain), &got)) {
			if (tc->detaching) {
				if (rmq_iobuf_put(&tc->early, plain, got) != 0)
					tc->failed = 1;
			} else {
				tc->up_read(&tc->up, plain, (ssize_t)got);
			}
			continue;
		}
		int e = SSL_get_error(tc->ssl, 0);
		if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
			break;
		if (e == SSL_ERROR_ZERO_RETURN) { /* close_notify */
			if (!tc->detaching && !tc->up.closing)
				tc->up_read(&tc->up, NULL, 0);
			break;
		}
		tls_fail(tc, e);
	}
out:
	tc->feed = NULL;
	tc->feed_len = 0;
	tc->in_input = 0;
	if (tc->detaching)
		tls_detach_go(tc);
	else
		tls_flush(tc);
}

static void tls_later_run(struct rmq_loop_later *l);

/* Keep input for a later turn: the loop's handshake budget is spent. */
static void
tls_put_off(struct tls_conn *tc, const uint8_t *data, size_t n)
{
	if (n && rmq_iobuf_put(&tc->in, data, n) != 0) {
		tls_fail(tc, SSL_ERROR_SSL);
		return;
	}
	rmq_loop_later(tc->up.loop, &tc->later, tls_later_run);
}

static void
tls_later_run(struct rmq_loop_later *l)
{
	struct tls_conn *tc = (struct tls_conn *)(void *)((char *)l -
	    offsetof(struct tls_conn, later));
	if (tc->up.closing && !tc->detaching)
		return;
	if (!tc->handshaken && rmq_loop_over_budget(tc->up.loop)) {
		tls_put_off(tc, NULL, 0);
		return;
	}
	struct rmq_iobuf in = tc->in;
	tc->in = (struct rmq_iobuf){ 0 };
	if (in.len)
		tls_input(tc, in.p, in.len);
	rmq_iobuf_free(&in);
	if (tc->eof_pending && tc->up_read && !tc->up.closing)
		tc->up_read(&tc->up, NULL, tc->eof);
}

static void
tls_on_read(struct rmq_conn *down, const uint8_t *data, ssize_t n)
{
	struct tls_conn *tc = down->data;
	if (n > 0) {
		/* Input after input put off waits behind it; a handshake
		 * waits for the next turn once this one's budget is spent. */
		if (tc->in.len ||
		    (!tc->handshaken && rmq_loop_over_budget(tc->up.loop)))
			tls_put_off(tc, data, (size_t)n);
		else
			tls_input(tc, data, (size_t)n);
		return;
	}
	if (tc->in.len) {
		tc->eof = n; /* told after what came before it */
		tc->eof_pending = 1;
		return;
	}
	if (tc->up_read && !tc->up.closing)
		tc->up_read(&tc->up, NULL, n);
}

static void
tls_on_written(struct rmq_conn *down, int status)
{
	struct tls_conn *tc = down->data;
	int had_up = tc->out_has_up;
	tc->writing = 0;
	tc->out_has_up = 0;
	rmq_iobuf_free(&tc->out);
	if (tc->detaching) {
		if (status != 0) { /* the peer is gone: so is the move */
			tc->failed = 1;
			rmq_iobuf_free(&tc->next);
		}
		tls_detach_go(tc);
	} else if (tc->failed && !tc->fail_told) {
		tls_tell_failed(tc); /* the alert is out */
	} else if (status == 0) {
		tls_flush(tc);
		if (tc->shutting == 1)
			(void)tls_shutdown_go(tc);
	}
	if (had_up && tc->up_write) {
		rmq_write_cb cb = tc->up_write;
		tc->up_write = NULL;
		cb(&tc->up, status);
	}
}

/* Hand `next` to the backend when it writes nothing. */
static void
tls_flush(struct tls_conn *tc)
{
	if (tc->writing || tc->next.len == 0 || tc->down == NULL ||
	    tc->down->closing)
		return;
	struct rmq_iobuf b = tc->out;
	tc->out = tc->next;
	tc->next = b;
	tc->out_has_up = tc->next_has_up;
	tc->next_has_up = 0;
	tc->wiov.iov_base = tc->out.p;
	tc->wiov.iov_len = tc->out.len;
	tc->writing = 1;
	if (rmq_conn_write(tc->down, &tc->wiov, 1, tls_on_written) != 0)
		tc->writing = 0; /* closing: the close ends the session's */
}

static int
tls_read_start(struct rmq_conn *c, rmq_read_cb cb)
{
	struct tls_conn *tc = TLS_CONN(c);
	tc->up_read = cb;
	return rmq_conn_read_start(tc->down, tls_on_read);
}

static int
tls_write(struct rmq_conn *c, struct iovec *iov, int n, rmq_write_cb cb)
{
	struct tls_conn *tc = TLS_CONN(c);
	uint8_t stage[TLS_RECORD];
	size_t sl = 0, done;
	if (c->closing || tc->shutting)
		return -EPIPE;
	if (tc->up_write)
		return -EBUSY;
	if (!tc->handshaken || tc->failed)
		return -ENOTCONN;
	if (tc->ssl == NULL) {
		if (rmq_tls_rec_seal(tc->rec, RMQ_TLS_DATA, iov, n,
			&tc->next) != 0) {
			ERR_clear_error();
			tc->failed = 1;
			return -EPROTO;
		}
		tc->up_write = cb;
		tc->next_has_up = 1;
		tls_flush(tc);
		return 0;
	}
	ERR_clear_error();
	/* Small pieces are gathered into full records: one record, one
	 * seal, however many packets it holds. */
	for (int i = 0; i < n; i++) {
		const uint8_t *p = iov[i].iov_base;
		size_t len = iov[i].iov_len;
		while (len > 0) {
			if (sl == 0 && len >= sizeof(stage)) {
				if (!SSL_write_ex(tc->ssl, p, len, &done))
					goto fail;
				len = 0;
				break;
			}
			size_t k = sizeof(stage) - sl;
			if (k > len)
				k = len;
			memcpy(stage + sl, p, k);
			sl += k;
			p += k;
			len -= k;
			if (sl == sizeof(stage)) {
				if (!SSL_write_ex(tc->ssl, stage, sl, &done))
					goto fail;
				sl = 0;
			}
		}
	}
	if (sl > 0 && !SSL_write_ex(tc->ssl, stage, sl, &done))
		goto fail;
	tc->up_write = cb;
	tc->next_has_up = 1;
	tls_flush(tc);
	return 0;
fail:
	ERR_clear_error();
	tc->failed = 1;
	return -EPROTO;
}

/* Shut the connection below down once every record is out. */
static int
tls_shutdown_go(struct tls_conn *tc)
{
	if (tc->down == NULL || tc->down->closing)
		return -EPIPE;
	if (tc->writing || tc->next.len) {
		tls_flush(tc);
		return 0;
	}
	tc->shutting = 2;
	return rmq_conn_shutdown(tc->down);
}

/* A close_notify (RFC 8446 6.1) tells the client that it read all there
 * was, before the FIN; what it still sends is decrypted and handed up,
 * for the session to discard, until its own close_notify or end. */
static int
tls_shutdown(struct rmq_conn *c)
{
	struct tls_conn *tc = TLS_CONN(c);
	if (c->closing)
		return -EPIPE;
	if (tc->up_write)
		return -EBUSY;
	if (tc->shutting)
		return 0;
	tc->shutting = 1;
	if (tc->ssl == NULL && !tc->failed) {
		static const uint8_t a[2] = { 1, RMQ_TLS_CLOSE_NOTIFY };
		struct iovec v = { (void *)a, sizeof(a) };
		(void)rmq_tls_rec_seal(tc->rec, RMQ_TLS_ALERT, &v, 1,
		    &tc->next);
		ERR_clear_error();
	} else if (tc->handshaken && !tc->failed) {
		/* Our BIO takes every byte, so the record is in `next` now;
		 * 0 (the client's close_notify not yet read) is the usual
		 * answer and no error. */
		ERR_clear_error();
		(void)SSL_shutdown(tc->ssl);
		ERR_clear_error();
	}
	return tls_shutdown_go(tc);
}

static void
tls_on_down_closed(struct rmq_conn *down)
{
	struct tls_conn *tc = down->data;
	tc->down = NULL;
	if (tc->up_write) {
		rmq_write_cb cb = tc->up_write;
		tc->up_write = NULL;
		cb(&tc->up, -ECANCELED);
	}
	if (tc->up_close)
		tc->up_close(&tc->up);
	tls_conn_free(tc);
}

static void
tls_close(struct rmq_conn *c, rmq_close_cb cb)
{
	struct tls_conn *tc = TLS_CONN(c);
	if (c->closing)
		return;
	c->closing = 1;
	tc->up_close = cb;
	if (!tc->handshaken && !tc->failed) {
		/* The client left, or was timed out (connect_timeout), in the
		 * middle of its handshake. */
		atomic_fetch_add(&tc->t->failures, 1);
		rmq_log(RMQ_LOG_INFO,
		    "listener %s: TLS handshake failed: not finished when the connection closed",
		    tc->t->name);
	}
	rmq_conn_close(tc->down, tls_on_down_closed);
}

static void
tls_on_down_detached(struct rmq_conn *down, struct rmq_conn_move *below)
{
	struct tls_conn *tc = down->data;
	/* The layers below TLS (the PROXY protocol's) decode nothing, so
	 * they bring no early bytes. */
	free(below->early);
	below->early = NULL;
	tc->below_layers = below->layers;
	struct rmq_conn_move mv = {
		.fd = below->fd,
		.layers = tc,
		.early = tc->early.p,
		.early_len = tc->early.len,
	};
	tc->down = NULL;
	tc->early = (struct rmq_iobuf){ 0 };
	tc->up_detach(&tc->up, &mv);
}

/* Detach once the input being read is decrypted and what OpenSSL wrote
 * (a session ticket, say) has left. */
static void
tls_detach_go(struct tls_conn *tc)
{
	if (tc->in_input || tc->down == NULL || tc->down->closing)
		return;
	if (tc->writing || tc->next.len) {
		tls_flush(tc);
		return;
	}
	rmq_conn_detach(tc->down, tls_on_down_detached);
}

static void
tls_detach(struct rmq_conn *c, rmq_detach_cb cb)
{
	struct tls_conn *tc = TLS_CONN(c);
	if (c->closing)
		return;
	c->closing = 1;
	tc->detaching = 1;
	tc->up_detach = cb;
	tls_detach_go(tc);
}

static int
tls_adopt(void *layers, struct rmq_conn *below, struct rmq_conn **out)
{
	struct tls_conn *tc = layers;
	if (tc->failed)
		return -EPROTO;
	int rc = rmq_conn_below_adopt(&tc->below_layers, below, &below);
	if (rc != 0)
		return rc;
	tc->down = below;
	rmq_conn_over(&tc->up, below, tc);
	tc->up_read = NULL;
	tc->up_detach = NULL;
	tc->detaching = 0;
	*out = &tc->up;
	return 0;
}

static void
tls_drop(void *layers)
{
	struct tls_conn *tc = layers;
	rmq_conn_below_drop(&tc->below_layers);
	tls_conn_free(tc);
}

static int
tls_copy(char *buf, size_t len, const char *s, size_t n)
{
	if (memchr(s, '\0', n) != NULL)
		return -ENOENT; /* a name with a NUL in it names nobody */
	if (n + 1 > len)
		return -ENOSPC;
	memcpy(buf, s, n);
	buf[n] = '\0';
	return 0;
}

static int
tls_peer_cert(SSL *ssl, enum rmq_conn_peer what, char *buf, size_t len)
{
	X509 *x = SSL_get0_peer_certificate(ssl);
	if (x == NULL || SSL_get_verify_result(ssl) != X509_V_OK)
		return -ENOENT;
	X509_NAME *name = X509_get_subject_name(x);
	int rc = -ENOENT;
	if (what == RMQ_PEER_CN) {
		int i = X509_NAME_get_index_by_NID(name, NID_commonName, -1);
		unsigned char *s = NULL;
		int n = i < 0 ? -1
			      : ASN1_STRING_to_UTF8(&s,
				    X509_NAME_ENTRY_get_data(
					X509_NAME_get_entry(name, i)));
		if (n >= 0)
			rc = tls_copy(buf, len, (const char *)s, (size_t)n);
		OPENSSL_free(s);
	} else {
		BIO *bio = BIO_new(BIO_s_mem());
		char *s;
		if (bio &&
		    X509_NAME_print_ex(bio, name, 0, XN_FLAG_RFC2253) >= 0) {
			long n = BIO_get_mem_data(bio, &s);
			rc = tls_copy(buf, len, s, (size_t)n);
		}
		BIO_free(bio);
	}
	ERR_clear_error();
	return rc;
}

static int
tls_peer(struct rmq_conn *c, enum rmq_conn_peer what, char *buf, size_t len)
{
	struct tls_conn *tc = TLS_CONN(c);
	if (what == RMQ_PEER_ADDR)
		return tc->down ? rmq_conn_peer(tc->down, what, buf, len)
				: -ENOENT;
	const char *kept = what == RMQ_PEER_CN ? tc->cert_cn : tc->cert_subject;
	int cert = tc->ssl ? SSL_get0_peer_certificate(tc->ssl) != NULL
			   : tc->cert_cn != NULL || tc->cert_subject != NULL;
	const char *psk = cert ? NULL
	    : tc->psk_identity ? tc->psk_identity
	    : tc->ssl          ? SSL_get_psk_identity(tc->ssl)
			       : NULL;
	if (psk != NULL && what == RMQ_PEER_CN)
		return tls_copy(buf, len, psk, strlen(psk));
	if (tc->ssl != NULL)
		return tls_peer_cert(tc->ssl, what, buf, len);
	return kept ? tls_copy(buf, len, kept, strlen(kept)) : -ENOENT;
}

static const struct rmq_conn_layer tls_layer = {
	.name = "tls",
	.read_start = tls_read_start,
	.write = tls_write,
	.shutdown = tls_shutdown,
	.close = tls_close,
	.detach = tls_detach,
	.peer = tls_peer,
	.adopt = tls_adopt,
	.drop = tls_drop,
};

int
rmq_tls_wrap(struct rmq_tls *t, struct rmq_conn *below, struct rmq_conn **out)
{
	struct tls_conn *tc = calloc(1, sizeof(*tc));
	if (tc == NULL)
		return -ENOMEM;
	pthread_mutex_lock(&t->mu);
	tc->ssl = SSL_new(t->ctx);
	pthread_mutex_unlock(&t->mu);
	BIO *bio = tc->ssl ? BIO_new(tls_bio_method) : NULL;
	if (bio == NULL) {
		SSL_free(tc->ssl);
		free(tc);
		ERR_clear_error();
		return -ENOMEM;
	}
	BIO_set_data(bio, tc);
	SSL_set_bio(tc->ssl, bio, bio);
	SSL_set_accept_state(tc->ssl);
	tc->layer = &tls_layer;
	tc->t = t;
	tc->down = below;
	rmq_conn_over(&tc->up, below, tc);
	tc->up.layer = &tls_layer;
	*out = &tc->up;
	return 0;
}

struct rmq_conn *
rmq_tls_upper(struct rmq_conn *below)
{
	struct tls_conn *tc = below->data;
	return &tc->up;
}
