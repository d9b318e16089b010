/* cluster/resolve.h: the cluster's DNS name (cluster_dns) looked up again
 * and again on a thread of its own.
 *
 * A lookup that its DNS server does not answer waits out the C library's
 * timeouts: 5 s and two tries by default, and nothing can cut a
 * getaddrinfo short.  Made on the bus thread, such a lookup held the
 * node's hellos for that long and its peers took it for dead, withdrew
 * its routes and dropped what was published for its subscribers
 * meanwhile (measured on the StatefulSet stand-in: two nodes of three
 * stalled 5 s at once, 127-241 acknowledged messages of 2,400 not
 * delivered).  Here the bus thread only takes the newest answer when one
 * has come; a stop never waits for a lookup under way.
 */
#ifndef RMQ_CLUSTER_RESOLVE_H
#define RMQ_CLUSTER_RESOLVE_H

#include <stddef.h>
#include <stdint.h>

#include "members.h" /* RMQ_NODE_URL_MAX */

#define RMQ_RESOLVE_MAX 256 /* addresses kept of one answer */

/* One lookup of host and port: up to max tcp:// URLs into urls, their
 * number into *n; 0, or -1 with the reason in err. */
typedef int (*rmq_resolve_fn)(const char *host, const char *port,
    char (*urls)[RMQ_NODE_URL_MAX], unsigned max, unsigned *n, char *err,
    size_t errlen);

struct rmq_resolver;

/* Looks up hostport (NAME:PORT) at once, then every_ms after each lookup
 * ends; fn NULL is getaddrinfo.  woke(arg) is called on the resolver's
 * thread when an answer comes (never after rmq_resolver_stop returned).
 * NULL when hostport has no port or no thread could start. */
struct rmq_resolver *rmq_resolver_start(const char *hostport, uint32_t every_ms,
    rmq_resolve_fn fn, void (*woke)(void *), void *arg);

/* The newest answer, if one came since the last take: 1 with its URLs
 * (*n of them; 0 and err set when the lookup failed), or 0. */
int rmq_resolver_take(struct rmq_resolver *r, char (*urls)[RMQ_NODE_URL_MAX],
    unsigned max, unsigned *n, char *err, size_t errlen);

struct rmq_resolver_stats {
	uint64_t lookups, failures;
	uint64_t last_us; /* how long the last lookup that ended took */
	uint64_t running_us; /* how long the one under way has taken, or 0 */
};

void rmq_resolver_stats(struct rmq_resolver *r, struct rmq_resolver_stats *s);

/* No lookup after this one and no more woke calls; returns at once, the
 * resolver's memory going with its thread once a lookup under way ends. */
void rmq_resolver_stop(struct rmq_resolver *r);

#endif
