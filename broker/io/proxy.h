/* broker/io/proxy.h: the PROXY protocol (HAProxy's, versions 1 and 2) as
 * the lowest layer of a connection (conn.h), so that a broker behind a
 * load balancer knows its clients' addresses.
 *
 * On a listener with `enable_proxy_protocol 1` or `2` (Mosquitto 2.1's
 * key), every connection must open with a header of that version, sent by
 * the load balancer before anything of the client's (before TLS, when the
 * broker terminates it).  The layer reads it, keeps the client's address
 * for RMQ_PEER_ADDR, and from then on hands bytes through untouched.  A
 * connection without a valid header is closed: on such a listener only
 * the load balancer may connect, and what it says is believed.
 */
#ifndef RMQ_PROXY_H
#define RMQ_PROXY_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "loop.h"

struct rmq_proxy;

/* A listener's PROXY protocol of `version` (1 or 2); `name` (ADDRESS:PORT)
 * goes into messages.  Returns 0 or -ENOMEM. */
int rmq_proxy_new(int version, const char *name, struct rmq_proxy **out);

/* After every connection that used it is gone. */
void rmq_proxy_free(struct rmq_proxy *p);

/* Put the PROXY protocol over backend connection `below`.  Returns 0 or
 * -ENOMEM. */
int rmq_proxy_wrap(struct rmq_proxy *p, struct rmq_conn *below,
    struct rmq_conn **out);

/* The connection the layer above holds over backend connection `below`
 * (one rmq_proxy_wrap made or adopted): for tests and debuggers. */
struct rmq_conn *rmq_proxy_upper(struct rmq_conn *below);

/* A header at the start of data[0..n): the bytes it takes (> 0), 0 when
 * more are needed, -1 when it is not a valid header of `version`.  On a
 * header that carries addresses *src is the client's and *has_src is 1;
 * a LOCAL (v2) or UNKNOWN (v1) header leaves *has_src 0. */
long rmq_proxy_parse(int version, const uint8_t *data, size_t n,
    struct sockaddr_storage *src, int *has_src);

/* Counts for /metrics.  Any thread. */
struct rmq_proxy_stats {
	uint64_t headers; /* headers read */
	uint64_t refused; /* connections closed for a missing or bad header */
};
void rmq_proxy_stats(const struct rmq_proxy *p, struct rmq_proxy_stats *out);

#endif
