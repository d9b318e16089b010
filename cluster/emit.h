/* cluster/emit.h: lines of Prometheus text for the cluster's metrics
 * (cluster.h's metrics hook), written through the put function it gives.
 */
#ifndef RMQ_CLUSTER_EMIT_H
#define RMQ_CLUSTER_EMIT_H

#include <stddef.h>
#include <stdint.h>

typedef void (*rmq_put_fn)(void *arg, const char *text, size_t len);

/* One line (or a few), printf-style, at most 511 bytes. */
void rmq_emit(rmq_put_fn put, void *arg, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* A metric's HELP and TYPE lines. */
void rmq_emit_head(rmq_put_fn put, void *arg, const char *name,
    const char *type, const char *help);

/* A metric of one sample. */
void rmq_emit_one(rmq_put_fn put, void *arg, const char *name, const char *type,
    const char *help, uint64_t v);

#endif
