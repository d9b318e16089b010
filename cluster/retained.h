/* cluster/retained.h: retained messages across the cluster.
 *
 * Every node keeps every retained message (but those of $ topics, which
 * describe the node).  A change on one node (a set, or a delete by an
 * empty payload) goes to every peer on its control stream, stamped
 * (broker/cluster.h's rmq_cluster_stamp: wall-clock microseconds and the
 * node's tag); a node applies it when it is newer than what it holds, so
 * two nodes changing one topic at once end with the same message
 * everywhere: the newer change.  A node that joins gets every peer's
 * retained messages with its snapshot of routes.
 *
 * A delete leaves nothing in the store to compare a late, older set
 * against, so the newest delete of each topic is remembered here for
 * RMQ_TOMB_MS (a tombstone): a set no newer than it is refused.  Past
 * that, an older set still in flight (a partition longer than it) could
 * bring the topic back; the next change of it settles it.
 *
 * The wire form of a change, integers big-endian:
 *   'R' 'T' version(1)  name_len(1) name  stamp(8)  message
 * (the message in the form broker/cluster.h's rmq_cluster_msg_encode
 * writes).  Pure bookkeeping: no I/O, no lock (bus.c holds one).
 */
#ifndef RMQ_CLUSTER_RETAINED_H
#define RMQ_CLUSTER_RETAINED_H

#include <stddef.h>
#include <stdint.h>

#include "strmap.h"

#define RMQ_TOMB_MS 60000 /* how long a delete is remembered */
#define RMQ_TOMBS_MAX 100000 /* deletes remembered at most */

/* The head of a change: its length (the message follows it), or 0 when
 * cap is short. */
size_t rmq_retained_head_encode(uint8_t *buf, size_t cap, const char *node,
    uint64_t stamp);

struct rmq_retained_change {
	char node[64];
	uint64_t stamp;
	const uint8_t *msg; /* into the record */
	size_t msg_len;
};

/* 0, or -1 when the bytes are not a change. */
int
rmq_retained_decode(const uint8_t *p, size_t n, struct rmq_retained_change *c);

/* The deletes remembered, by topic. */
struct rmq_tombs {
	struct rmq_strmap map; /* topic -> (void *)stamp */
	uint64_t refused; /* sets refused for an newer delete */
};

int rmq_tombs_init(struct rmq_tombs *t);
void rmq_tombs_fini(struct rmq_tombs *t);

/* A delete of topic at stamp: remembered when newer than the one held
 * (and while fewer than RMQ_TOMBS_MAX are). */
void rmq_tombs_put(struct rmq_tombs *t, const char *topic, size_t len,
    uint64_t stamp);

/* Whether a set of topic at stamp is older than a delete remembered
 * (counted in refused). */
int rmq_tombs_refuse(struct rmq_tombs *t, const char *topic, size_t len,
    uint64_t stamp);

/* Forget the deletes older than RMQ_TOMB_MS at now_us (the wall clock's
 * microseconds, as stamps carry). */
void rmq_tombs_expire(struct rmq_tombs *t, uint64_t now_us);

#endif
