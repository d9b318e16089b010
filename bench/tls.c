/* bench/tls.c: OpenSSL client sessions for ringmq-bench (see tls.h).
 * Partial writes and moving write buffers are allowed, so that a
 * connection's output buffer can be compacted or grown between retries of
 * a blocked write.
 */
#include "tls.h"

#include <arpa/inet.h>
#include <errno.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <string.h>

#include "scenario.h"

static void
bench_tls_errstr(char *err, size_t errlen, const char *what, int ssl_err)
{
	unsigned long e = ERR_get_error();
	char buf[256];
	if (e != 0)
		ERR_error_string_n(e, buf, sizeof(buf));
	else if (ssl_err == SSL_ERROR_SYSCALL)
		snprintf(buf, sizeof(buf), "%s",
		    errno ? strerror(errno) : "unexpected EOF");
	else
		snprintf(buf, sizeof(buf), "SSL error %d", ssl_err);
	snprintf(err, errlen, "%s: %s", what, buf);
	ERR_clear_error();
}

/* --tls-resume: the last session a loop's thread was given (TLS 1.3
 * tickets come after the handshake, with the first reads). */
static __thread SSL_SESSION *bench_tls_last;

static int
bench_tls_new_session(SSL *ssl, SSL_SESSION *sess)
{
	(void)ssl;
	SSL_SESSION_free(bench_tls_last);
	bench_tls_last = sess;
	return 1; /* the reference is kept */
}

int
rmq_bench_tls_ctx_new(const struct rmq_bench_cfg *cfg, void **out, char *err,
    size_t errlen)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
	if (ctx == NULL) {
		bench_tls_errstr(err, errlen, "SSL_CTX_new", 0);
		return -EINVAL;
	}
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	SSL_CTX_set_mode(ctx,
	    SSL_MODE_ENABLE_PARTIAL_WRITE |
		SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
	if (cfg->tls_cacert) {
		if (SSL_CTX_load_verify_locations(ctx, cfg->tls_cacert, NULL) !=
		    1) {
			bench_tls_errstr(err, errlen, cfg->tls_cacert, 0);
			goto fail;
		}
		SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
	} else {
		SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
	}
	if (cfg->tls_cert &&
	    (SSL_CTX_use_certificate_chain_file(ctx, cfg->tls_cert) != 1 ||
		SSL_CTX_use_PrivateKey_file(ctx,
		    cfg->tls_key ? cfg->tls_key : cfg->tls_cert,
		    SSL_FILETYPE_PEM) != 1)) {
		bench_tls_errstr(err, errlen, cfg->tls_cert, 0);
		goto fail;
	}
	if (cfg->tls_resume) {
		SSL_CTX_set_session_cache_mode(ctx,
		    SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE);
		SSL_CTX_sess_set_new_cb(ctx, bench_tls_new_session);
	}
	*out = ctx;
	return 0;
fail:
	SSL_CTX_free(ctx);
	return -EINVAL;
}

void
rmq_bench_tls_ctx_free(void *ctx)
{
	SSL_CTX_free(ctx);
}

int
rmq_bench_tls_new(void *ctx, int fd, const char *host, void **out)
{
	SSL *ssl = SSL_new(ctx);
	if (ssl == NULL)
		return -ENOMEM;
	SSL_set_fd(ssl, fd);
	unsigned char ip[16];
	int is_ip = inet_pton(AF_INET, host, ip) == 1 ||
	    inet_pton(AF_INET6, host, ip) == 1;
	if (is_ip) {
		X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), host);
	} else {
		SSL_set_tlsext_host_name(ssl, host);
		SSL_set1_host(ssl, host);
	}
	SSL_set_connect_state(ssl);
	if (bench_tls_last != NULL && SSL_SESSION_is_resumable(bench_tls_last))
		(void)SSL_set_session(ssl, bench_tls_last);
	*out = ssl;
	return 0;
}

void
rmq_bench_tls_thread_end(void)
{
	SSL_SESSION_free(bench_tls_last);
	bench_tls_last = NULL;
}

int
rmq_bench_tls_resumed(void *ssl)
{
	return SSL_session_reused(ssl);
}

void
rmq_bench_tls_free(void *ssl)
{
	SSL_free(ssl);
}

int
rmq_bench_tls_handshake(void *ssl, char *err, size_t errlen)
{
	int rc = SSL_do_handshake(ssl);
	if (rc == 1)
		return 0;
	int e = SSL_get_error(ssl, rc);
	if (e == SSL_ERROR_WANT_READ)
		return -EAGAIN;
	if (e == SSL_ERROR_WANT_WRITE)
		return -EINPROGRESS;
	long v = SSL_get_verify_result(ssl);
	if (v != X509_V_OK) {
		snprintf(err, errlen, "TLS handshake: certificate: %s",
		    X509_verify_cert_error_string(v));
		ERR_clear_error();
		return -EPROTO;
	}
	bench_tls_errstr(err, errlen, "TLS handshake", e);
	return -EPROTO;
}

ssize_t
rmq_bench_tls_read(void *ssl, void *buf, size_t len, char *err, size_t errlen)
{
	size_t n = 0;
	if (SSL_read_ex(ssl, buf, len, &n) == 1)
		return (ssize_t)n;
	int e = SSL_get_error(ssl, 0);
	if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
		return -EAGAIN;
	if (e == SSL_ERROR_ZERO_RETURN) {
		ERR_clear_error();
		return 0;
	}
	bench_tls_errstr(err, errlen, "TLS read", e);
	return -EIO;
}

ssize_t
rmq_bench_tls_write(void *ssl, const void *buf, size_t len, char *err,
    size_t errlen)
{
	size_t n = 0;
	if (SSL_write_ex(ssl, buf, len, &n) == 1)
		return (ssize_t)n;
	int e = SSL_get_error(ssl, 0);
	if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
		return -EAGAIN;
	bench_tls_errstr(err, errlen, "TLS write", e);
	return -EIO;
}
