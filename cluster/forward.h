/* cluster/forward.h: messages toward other nodes, each crossing once and
 * in order, whatever the connection between two nodes loses.
 *
 * Each worker of this node has a stream to each peer: the messages it
 * routed to that peer, in batches (one per worker turn, or more when a
 * turn's passes RMQ_FWD_BATCH_BYTES), numbered 1, 2, ... for the pair of
 * epochs (this node's, the peer's).  A batch is kept until the peer
 * acknowledges its number; when the peer has acknowledged nothing new for
 * a resend interval while batches wait, all of them are sent again in
 * order (go-back-N), and again after twice as long while nothing comes
 * (up to 16 times the interval).  The receiver takes a stream's batches in
 * order only:
 * one it took already is a copy (acknowledged again, dropped), one after
 * a missing one is dropped until the missing one comes again.  So each
 * batch is taken exactly once, in order, which is what QoS 2 subscribers
 * on the other node need.  A peer that restarts (a new epoch) starts its
 * streams over at 1: what the old one had not taken is dropped and
 * counted as lost.
 *
 * The bound: the bytes a stream keeps (being filled, waiting to be sent,
 * or sent and not acknowledged).  A message that would pass it is
 * dropped and counted; the worker never waits for a peer.
 *
 * Pure bookkeeping: no I/O, no clock and no lock of its own (channel.c
 * drives it and says which parts run under its lock), so tests run it
 * as it is.
 *
 * A batch, integers big-endian (var: wire.h's 7 bits a byte):
 *   'R' 'F' version(1)  name_len(1) name  epoch(8)  to_epoch(8)
 *   worker(1)  seq(8)  count(4), then count times: len(var) message
 * (on a worker's stream a message is its identity, its shared groups
 * and the message itself, channel.c; on the control stream a record of
 * routes.h, retained.h or claims.h)
 * An acknowledgement, from the receiver back to the sender:
 *   'R' 'K' version(1)  name_len(1) name  epoch(8)  to_epoch(8)
 *   worker(1)  seq(8): every batch up to seq is taken
 */
#ifndef RMQ_CLUSTER_FORWARD_H
#define RMQ_CLUSTER_FORWARD_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#define RMQ_FWD_BATCH_BYTES (12u * 1024) /* a batch is sealed past it */
#define RMQ_FWD_MSG_MAX (268435455u + 64) /* MQTT's largest, and a head */
#define RMQ_FWD_SPARES 4
#define RMQ_FWD_BACKOFF_MAX 16

struct rmq_fwd_batch {
	struct rmq_fwd_batch *next;
	uint64_t seq;
	uint32_t count; /* messages */
	uint8_t sent;
	uint64_t first_ms; /* when it was first sent; 0: not yet */
	uint64_t born_ms; /* when sealed (rmq_fwd_seal_at), 0: not kept */
	uint64_t tag; /* the sealer's (rmq_fwd_seal_at), told on_acked */
	size_t len, cap;
	uint8_t *data; /* the whole wire message */
};

/* The sending end of one (worker, peer) stream.  A worker stream's
 * messages are each the shared subscriptions the receiver serves it to
 * (core/msg.h's list; a count of 0 for none), then the message. */
struct rmq_fwd_stream {
	/* Fixed at init. */
	const char *self;
	uint64_t epoch;
	uint8_t worker;
	size_t limit; /* bytes kept at most */
	uint32_t resend_ms;

	/* The worker's own: the batch being filled this turn. */
	uint8_t *cur;
	size_t cur_len, cur_cap;
	uint32_t cur_count;
	/* Counted by the worker, read by the metrics. */
	_Atomic uint64_t dropped; /* messages past the bound */
	_Atomic uint64_t msgs; /* messages taken into batches */

	/* Under the channel's lock for the stream. */
	struct rmq_fwd_batch *head, *tail; /* oldest first */
	uint64_t peer_epoch; /* 0: the peer not met yet */
	uint64_t next_seq; /* the number the next batch gets */
	uint64_t acked; /* every batch up to it is taken */
	uint64_t progress_ms; /* last time something was acknowledged */
	/* The wait before the next resend: resend_ms, doubled at each
	 * resend that brought no acknowledgement (a receiver that is slow,
	 * not a link that lost them, is not sent everything again and
	 * again), at most RMQ_FWD_BACKOFF_MAX times it. */
	uint32_t wait_ms;
	uint64_t batches, resent, lost;
	atomic_size_t kept; /* bytes in the list (the worker reads it) */
	/* Buffers of batches acknowledged, for the next turns to fill:
	 * reused rather than given back, since the allocator hands a large
	 * buffer back to the kernel and faults it in again (measured). */
	uint8_t *spare[RMQ_FWD_SPARES];
	size_t spare_cap[RMQ_FWD_SPARES];
	unsigned nspare;
	/* Told, when set, of each batch acknowledged: the time from its
	 * sealing (rmq_fwd_seal_at) to the acknowledgement, and its tag. */
	void (*on_acked)(void *arg, uint64_t ms, uint64_t tag);
	void *on_acked_arg;
};

void rmq_fwd_stream_init(struct rmq_fwd_stream *st, const char *self,
    uint64_t epoch, uint8_t worker, size_t limit, uint32_t resend_ms);
void rmq_fwd_stream_fini(struct rmq_fwd_stream *st);

/* The worker's: room for a message of len bytes in this turn's batch.
 * Returns where to write it, or NULL when the bound is reached or memory
 * is short (the message is counted dropped). */
uint8_t *rmq_fwd_add(struct rmq_fwd_stream *st, size_t len);

/* Whether this turn's batch is worth sealing before the turn ends. */
static inline int
rmq_fwd_full(const struct rmq_fwd_stream *st)
{
	return st->cur_len >= RMQ_FWD_BATCH_BYTES;
}

/* Under the lock: this turn's batch joins the list with the next number,
 * addressed to the peer's current epoch.  Returns 0, or -ENOMEM (its
 * messages counted dropped). */
int rmq_fwd_seal(struct rmq_fwd_stream *st);

/* The same, the batch marked sealed at now_ms with tag (both told the
 * on_acked callback). */
int rmq_fwd_seal_at(struct rmq_fwd_stream *st, uint64_t now_ms, uint64_t tag);

/* How a batch is sent: 0 when the transport took it; anything else
 * leaves it (and those after it) for later. */
typedef int (*rmq_fwd_send_fn)(void *arg, const uint8_t *p, size_t len);

/* Under the lock: send what waits, in order, and everything again when
 * nothing has been acknowledged for resend_ms while batches wait.
 * Returns the number of batches sent. */
unsigned rmq_fwd_pump(struct rmq_fwd_stream *st, uint64_t now_ms,
    rmq_fwd_send_fn send, void *arg);

/* Under the lock: the connection to the peer was made again, and what it
 * carried may be lost: every batch sent and not acknowledged goes again
 * at the next pump, without waiting out the resend interval, and the
 * interval is back at resend_ms. */
void rmq_fwd_kick(struct rmq_fwd_stream *st, uint64_t now_ms);

/* Under the lock: how long the oldest batch not acknowledged has waited
 * since it was first sent (0: none waits).  Resends do not restart it,
 * a new connection (rmq_fwd_kick) does: it says how long the peer has
 * taken nothing of this stream on the connection there is. */
static inline uint64_t
rmq_fwd_waited(const struct rmq_fwd_stream *st, uint64_t now_ms)
{
	const struct rmq_fwd_batch *b = st->head;
	if (b == NULL || b->first_ms == 0 || now_ms < b->first_ms)
		return 0;
	return now_ms - b->first_ms;
}

/* Under the lock: the tag of the oldest batch not acknowledged; 0 when
 * every batch sealed is. */
static inline uint64_t
rmq_fwd_waiting_tag(const struct rmq_fwd_stream *st)
{
	return st->head ? st->head->tag : 0;
}

/* Under the lock: the peer (at peer_epoch) took every batch up to seq. */
void rmq_fwd_ack(struct rmq_fwd_stream *st, uint64_t peer_epoch, uint64_t seq,
    uint64_t now_ms);

/* Under the lock: the peer is at `epoch`.  A new one (a restart, or the
 * first met) starts the stream over; what the old one had not
 * acknowledged is dropped and counted lost.  Returns the messages lost. */
uint64_t
rmq_fwd_peer(struct rmq_fwd_stream *st, uint64_t epoch, uint64_t now_ms);

/* ---- the receiving end ---- */

/* One sender's stream as the receiver has taken it. */
struct rmq_fwd_in {
	uint64_t epoch; /* the sender's; 0: nothing taken yet */
	uint64_t next; /* the number to take next */
};

enum rmq_fwd_verdict {
	RMQ_FWD_TAKE, /* the next one: take it */
	RMQ_FWD_COPY, /* taken before: acknowledge again, drop */
	RMQ_FWD_GAP, /* one before it is missing: drop, it comes again */
};

enum rmq_fwd_verdict
rmq_fwd_in_check(struct rmq_fwd_in *in, uint64_t epoch, uint64_t seq);

/* The number to acknowledge: every batch up to it is taken. */
static inline uint64_t
rmq_fwd_in_acked(const struct rmq_fwd_in *in)
{
	return in->next ? in->next - 1 : 0;
}

/* ---- wire ---- */

struct rmq_fwd_head {
	char name[64]; /* the sender's (a batch) or the receiver's (an ack) */
	uint64_t epoch; /* of that node */
	uint64_t to_epoch; /* of the node it goes to */
	uint8_t worker; /* the sending worker: the stream */
	uint64_t seq;
	uint32_t count; /* a batch's messages */
};

/* The version of the batches and acknowledgements this build writes and
 * reads; a node refuses those of another (2: a message's shared groups
 * before it; 3: and its identity before them; 4: lengths, identities and
 * messages in their compact forms). */
#define RMQ_FWD_VERSION 4

/* A batch or acknowledgement of another version than this build's: that
 * version, with its sender's name (as much as is there) in name; 0 for
 * anything else. */
int rmq_fwd_foreign(const uint8_t *p, size_t len, char *name, size_t cap);

/* A message on a worker's stream begins with a head: flags(1), then its
 * identity as the worker of its node (1) and the count there (var, the
 * identity's low 56 bits).  Its shared groups follow when flagged
 * (core/msg.h's list), then broker/cluster.h's form of the message. */
#define RMQ_FWD_GROUPS 0x1 /* flag: a list of shared groups follows */
#define RMQ_FWD_XID_COUNT ((1ull << 56) - 1) /* an identity's count */

/* The bytes of a head for identity xid. */
size_t rmq_fwd_msg_head_size(uint64_t xid);

/* The head at p (rmq_fwd_msg_head_size(xid) bytes); returns past it. */
uint8_t *rmq_fwd_msg_head_put(uint8_t *p, uint64_t xid, int groups);

/* The head of the message at p: its length, or -1 when malformed (a flag
 * no node sets, a count in more bytes than it needs). */
int
rmq_fwd_msg_head_get(const uint8_t *p, size_t len, uint64_t *xid, int *groups);

/* A batch: its head, and its messages' bytes in *body (count of them, each
 * after its length, checked by rmq_fwd_next).  0, or -1 when
 * the bytes are not a batch. */
int rmq_fwd_batch_decode(const uint8_t *p, size_t len, struct rmq_fwd_head *h,
    const uint8_t **body, size_t *body_len);

/* The next message of a batch's body: 1 with *msg and *msg_len, 0 at the
 * end, -1 when a length runs past it. */
int rmq_fwd_next(const uint8_t **body, size_t *left, const uint8_t **msg,
    size_t *msg_len);

/* An acknowledgement into buf: its length, or 0 when cap is short. */
size_t rmq_fwd_ack_encode(uint8_t *buf, size_t cap, const char *self,
    uint64_t epoch, uint64_t to_epoch, uint8_t worker, uint64_t seq);
int rmq_fwd_ack_decode(const uint8_t *p, size_t len, struct rmq_fwd_head *h);

#endif
