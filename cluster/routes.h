/* cluster/routes.h: which filters each node has subscribers for, as the
 * cluster replicates them, and the messages that carry them.
 *
 * A node is the only writer of its own routes: one per filter its
 * sessions subscribe to, with the highest QoS among them, whatever the
 * number of subscribers behind it.  Each change is a delta numbered
 * (node, epoch, seq), sent to every peer on its control stream (channel.h:
 * reliable and in order); a peer applies a node's deltas in order to the
 * entries it keeps for that node in its own index (owned by
 * RMQ_CLUSTER_OWNER(number)).  A gap, a new epoch or a new member makes
 * the peer ask for a snapshot, which replaces what it had; the deltas
 * after it follow it on the same stream.  A delta the stream had no room
 * for (at its bound) shows as a gap, or in the hellos (which carry the
 * sender's seq), and is repaired.
 *
 * A shared subscription ($share/{group}/{filter}) is a route like any
 * other: the node is one member of the group in the others' indexes,
 * which gives it a turn when the publishing node has no member.
 *
 * Pure bookkeeping (bus.c does the I/O, and the index writes through the
 * callbacks given), so tests run it as it is.
 */
#ifndef RMQ_ROUTES_H
#define RMQ_ROUTES_H

#include <stddef.h>
#include <stdint.h>

#include "members.h"
#include "strmap.h"

enum rmq_route_op {
	RMQ_ROUTE_PUT = 1, /* the node has the filter, at this QoS */
	RMQ_ROUTE_DEL = 2, /* the node has it no more */
};

/* ---- this node's routes ---- */

struct rmq_local_routes {
	struct rmq_strmap filters; /* filter -> struct counts of QoS 0-2 */
	uint64_t seq; /* deltas made so far: the last one's number */
};

int rmq_local_routes_init(struct rmq_local_routes *r);
void rmq_local_routes_fini(struct rmq_local_routes *r);

/* A session's entry for filter went from old_qos to new_qos (-1: none).
 * Returns 1 when the node's route changed (*op, *qos set and seq moved
 * on), 0 when not, -ENOMEM. */
int rmq_local_routes_change(struct rmq_local_routes *r, const char *filter,
    size_t len, int old_qos, int new_qos, enum rmq_route_op *op, uint8_t *qos);

/* ---- messages ---- */

#define RMQ_ROUTES_PART_MAX (256u << 10) /* a snapshot part's bytes */

/* A delta: encode into buf (RMQ_NODE_NAME_MAX + 32 + len is enough);
 * returns its length or 0. */
size_t rmq_delta_encode(uint8_t *buf, size_t cap, const char *node,
    uint64_t epoch, uint64_t seq, enum rmq_route_op op, uint8_t qos,
    const char *filter, size_t len);

struct rmq_delta {
	char node[RMQ_NODE_NAME_MAX];
	uint64_t epoch, seq;
	uint8_t op, qos;
	const uint8_t *filter; /* into the message */
	size_t len;
};
int rmq_delta_decode(const uint8_t *p, size_t n, struct rmq_delta *d);

/* A snapshot request from `from` to `to`. */
size_t
rmq_snapreq_encode(uint8_t *buf, size_t cap, const char *from, const char *to);
int rmq_snapreq_decode(const uint8_t *p, size_t n, char *from, char *to);

/* A snapshot: this node's routes cut into parts of at most
 * RMQ_ROUTES_PART_MAX bytes, each handed to send(arg, bytes, len). */
int rmq_local_routes_snapshot(struct rmq_local_routes *r, const char *node,
    uint64_t epoch, const char *to,
    int (*send)(void *arg, const uint8_t *p, size_t n), void *arg);

struct rmq_snap_part {
	char node[RMQ_NODE_NAME_MAX], to[RMQ_NODE_NAME_MAX];
	uint64_t epoch, seq;
	uint32_t part, parts, count;
	const uint8_t *entries; /* count times: qos(1) len(2) filter */
	size_t entries_len;
};
int rmq_snap_part_decode(const uint8_t *p, size_t n, struct rmq_snap_part *s);

/* The message's kind: 'H' hello, 'D' delta, 'Q' snapshot request, 'S'
 * snapshot part, 'T' retained message (retained.h), 'C' claim, 'A'
 * answer, 'U' cut, 'L' tail, 'I' identifiers and 'J' an older session's state
 * (claims.h); 0 when it is none. */
int rmq_cluster_msg_kind(const uint8_t *p, size_t n);

/* ---- a peer's routes, as this node's index holds them ---- */

struct rmq_routes_index {
	void *arg;
	/* Put node's route (replacing its QoS), or take it out. */
	void (*add)(void *arg, uint32_t node, const char *filter, size_t len,
	    uint8_t qos);
	void (
	    *remove)(void *arg, uint32_t node, const char *filter, size_t len);
};

struct rmq_peer_routes {
	struct rmq_strmap filters; /* filter -> (uintptr_t)(qos + 1) */
	uint64_t epoch, seq; /* what is applied */
	int synced; /* a snapshot was installed for this epoch */
	/* The snapshot being received. */
	struct rmq_strmap snap;
	uint64_t snap_epoch, snap_seq;
	uint32_t snap_parts, snap_got;
	int snapping;
	/* Counts for metrics. */
	uint64_t deltas, gaps, snapshots;
};

int rmq_peer_routes_init(struct rmq_peer_routes *p);
void rmq_peer_routes_fini(struct rmq_peer_routes *p);

/* Take every route of node out of the index and forget them (the node
 * is down, or restarted). */
void rmq_peer_routes_clear(struct rmq_peer_routes *p, uint32_t node,
    const struct rmq_routes_index *ix);

enum rmq_delta_result {
	RMQ_DELTA_APPLIED = 0,
	RMQ_DELTA_OLD, /* had already (the second pipe's copy) */
	RMQ_DELTA_GAP, /* one or more before it are missing: snapshot */
	RMQ_DELTA_UNSYNCED, /* no snapshot of this epoch yet */
};

enum rmq_delta_result
rmq_peer_routes_delta(struct rmq_peer_routes *p, uint32_t node,
    const struct rmq_delta *d, const struct rmq_routes_index *ix);

/* A snapshot part; when the last one is in, the snapshot replaces what
 * the index had of node (only what differs is written).  Returns 1 once
 * installed, 0 while parts are missing, -1 for a part that does not fit
 * the snapshot under way (a new one starts with it). */
int rmq_peer_routes_part(struct rmq_peer_routes *p, uint32_t node,
    const struct rmq_snap_part *s, const struct rmq_routes_index *ix);

#endif
