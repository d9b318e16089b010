/* broker/ctl_https.c: one HTTPS request of `ringmq ctl` (ctl_https.h). */
#include "ctl_https.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#define ANSWER_MAX (256u << 20) /* retained lists: 10,000 of 4 KiB */

static void
tls_error(const char *what)
{
	unsigned long e = ERR_get_error();
	char buf[256] = "";
	if (e)
		ERR_error_string_n(e, buf, sizeof(buf));
	fprintf(stderr, "ringmq ctl: %s%s%s\n", what, buf[0] ? ": " : "", buf);
}

static int
dial(const struct rmq_ctl_https *r)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *res, *a;
	int rv = getaddrinfo(r->host, r->port, &hints, &res);
	if (rv != 0) {
		fprintf(stderr, "ringmq ctl: %s: %s\n", r->host,
		    gai_strerror(rv));
		return -1;
	}
	int fd = -1, err = 0;
	struct timeval tv = { r->timeout_ms / 1000,
		(r->timeout_ms % 1000) * 1000 };
	for (a = res; a && fd < 0; a = a->ai_next) {
		fd = socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC,
		    a->ai_protocol);
		if (fd < 0)
			continue;
		/* Bounds the connect too, and every read and write. */
		setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
		setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
		if (connect(fd, a->ai_addr, a->ai_addrlen) != 0) {
			err = errno;
			close(fd);
			fd = -1;
		}
	}
	freeaddrinfo(res);
	if (fd < 0)
		fprintf(stderr, "ringmq ctl: %s:%s: %s\n", r->host, r->port,
		    strerror(err ? err : EHOSTUNREACH));
	return fd;
}

static SSL_CTX *
context(const struct rmq_ctl_https *r)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
	if (ctx == NULL) {
		tls_error("TLS");
		return NULL;
	}
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
	if (SSL_CTX_load_verify_locations(ctx, r->ca, NULL) != 1) {
		fprintf(stderr, "ringmq ctl: --cafile %s: ", r->ca);
		tls_error("not read");
		SSL_CTX_free(ctx);
		return NULL;
	}
	if (r->cert &&
	    (SSL_CTX_use_certificate_chain_file(ctx, r->cert) != 1 ||
		SSL_CTX_use_PrivateKey_file(ctx, r->key, SSL_FILETYPE_PEM) !=
		    1 ||
		SSL_CTX_check_private_key(ctx) != 1)) {
		fprintf(stderr, "ringmq ctl: --cert %s, --key %s: ", r->cert,
		    r->key);
		tls_error("not a certificate and its key");
		SSL_CTX_free(ctx);
		return NULL;
	}
	return ctx;
}

/* The node's certificate must carry the name (a DNS name, or an address
 * among its IP addresses); a DNS name is also sent as SNI. */
static int
expect_name(SSL *ssl, const char *name)
{
	unsigned char a[16];
	if (inet_pton(AF_INET, name, a) == 1 ||
	    inet_pton(AF_INET6, name, a) == 1)
		return X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl),
			   name) == 1
		    ? 0
		    : -1;
	if (SSL_set_tlsext_host_name(ssl, name) != 1 ||
	    SSL_set1_host(ssl, name) != 1)
		return -1;
	return 0;
}

/* The status and the body of a whole answer (Content-Length, or up to
 * the connection's end). */
static int
parse(char *buf, size_t n, unsigned *status, char **body, size_t *len)
{
	char *end = memmem(buf, n, "\r\n\r\n", 4);
	unsigned code;
	if (end == NULL || sscanf(buf, "HTTP/1.%*c %u", &code) != 1) {
		fprintf(stderr, "ringmq ctl: not an HTTP answer\n");
		return -1;
	}
	*end = '\0';
	char *b = end + 4;
	size_t blen = n - (size_t)(b - buf);
	for (char *h = strstr(buf, "\r\n"); h; h = strstr(h + 2, "\r\n")) {
		if (strncasecmp(h + 2, "Content-Length:", 15) == 0) {
			size_t cl = strtoull(h + 17, NULL, 10);
			if (cl > blen) {
				fprintf(stderr,
				    "ringmq ctl: the answer ended early\n");
				return -1;
			}
			blen = cl;
		} else if (strncasecmp(h + 2, "Transfer-Encoding:", 18) == 0) {
			fprintf(stderr, "ringmq ctl: a chunked answer\n");
			return -1;
		}
	}
	*body = malloc(blen + 1);
	if (*body == NULL)
		return -1;
	memcpy(*body, b, blen);
	(*body)[blen] = '\0';
	*len = blen;
	*status = code;
	return 0;
}

/* Whether buf[0..n) holds a whole answer: its head and, when it says
 * its length, that much body. */
static int
whole(const char *buf, size_t n)
{
	const char *end = memmem(buf, n, "\r\n\r\n", 4);
	if (end == NULL)
		return 0;
	size_t head = (size_t)(end - buf) + 4;
	for (const char *h = memmem(buf, head, "\r\n", 2); h && h < end;
	     h = memmem(h + 2, (size_t)(end - h), "\r\n", 2))
		if (strncasecmp(h + 2, "Content-Length:", 15) == 0)
			return n - head >= strtoull(h + 17, NULL, 10);
	return 0;
}

int
rmq_ctl_https(const struct rmq_ctl_https *r, unsigned *status, char **body,
    size_t *len)
{
	int rc = -1, fd = -1;
	SSL *ssl = NULL;
	char *buf = NULL;
	SSL_CTX *ctx = context(r);
	if (ctx == NULL)
		return -1;
	if ((fd = dial(r)) < 0)
		goto out;
	if ((ssl = SSL_new(ctx)) == NULL || SSL_set_fd(ssl, fd) != 1 ||
	    expect_name(ssl, r->name ? r->name : r->host) != 0) {
		tls_error("TLS");
		goto out;
	}
	if (SSL_connect(ssl) != 1) {
		long v = SSL_get_verify_result(ssl);
		if (v != X509_V_OK)
			fprintf(stderr,
			    "ringmq ctl: https://%s:%s: the node's certificate: %s\n",
			    r->host, r->port, X509_verify_cert_error_string(v));
		else
			tls_error("the TLS handshake failed");
		goto out;
	}
	/* Not "Connection: close": NNG 1.5.2's server then closes its TLS
	 * connection once its answer is handed to the TLS layer, before
	 * the layer has sent it all (measured: 4 answers in 80 cut after
	 * their head).  The answer's Content-Length ends the read. */
	char req[8192];
	int k = snprintf(req, sizeof(req),
	    "%s %s HTTP/1.1\r\nHost: %s\r\nContent-Length: 0\r\n%s%s%s\r\n",
	    r->method, r->path, r->host,
	    r->token[0] ? "Authorization: Bearer " : "", r->token,
	    r->token[0] ? "\r\n" : "");
	if (k < 0 || (size_t)k >= sizeof(req)) {
		fprintf(stderr, "ringmq ctl: the request is too long\n");
		goto out;
	}
	if (SSL_write(ssl, req, k) != k) {
		tls_error("the request was not sent");
		goto out;
	}
	size_t cap = 16384, n = 0;
	if ((buf = malloc(cap)) == NULL)
		goto out;
	for (;;) {
		if (n + 1 == cap) {
			if (cap >= ANSWER_MAX) {
				fprintf(stderr,
				    "ringmq ctl: an answer of over %u bytes\n",
				    ANSWER_MAX);
				goto out;
			}
			char *more = realloc(buf, cap * 2);
			if (more == NULL)
				goto out;
			buf = more;
			cap *= 2;
		}
		int got = SSL_read(ssl, buf + n, (int)(cap - 1 - n));
		if (got <= 0)
			break; /* the node closed, or the timeout */
		n += (size_t)got;
		if (whole(buf, n))
			break;
	}
	if (n == 0) {
		tls_error("no answer");
		goto out;
	}
	buf[n] = '\0';
	rc = parse(buf, n, status, body, len);
out:
	free(buf);
	if (ssl) {
		SSL_shutdown(ssl);
		SSL_free(ssl);
	}
	if (fd >= 0)
		close(fd);
	SSL_CTX_free(ctx);
	return rc;
}
