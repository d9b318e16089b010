/* broker/ctl_https.h: `ringmq ctl`'s requests over HTTPS, on OpenSSL.
 *
 * NNG's HTTP client over its TLS (mbed TLS 2.28) lost about one request
 * in 30 against the admin listener ("Timed out", "Connection shutdown"),
 * and mbed TLS matches no IP address in a certificate.  ctl's HTTPS is
 * one blocking request on one connection, with OpenSSL, already linked
 * for the listeners' TLS.
 */
#ifndef RMQ_CTL_HTTPS_H
#define RMQ_CTL_HTTPS_H

#include <stddef.h>

struct rmq_ctl_https {
	const char *host, *port; /* the node: a name or an address */
	const char *method, *path, *token; /* token "": none */
	const char *ca; /* the node's certificate must chain to it */
	const char *name; /* and carry this name or address; NULL: host */
	const char *cert, *key; /* this client's, or NULL */
	int timeout_ms;
};

/* The request made and its answer read: 0 with the status and the body
 * (malloc'd, NUL-terminated), or -1 with the reason printed. */
int rmq_ctl_https(const struct rmq_ctl_https *r, unsigned *status, char **body,
    size_t *len);

#endif
