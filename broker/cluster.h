/* broker/cluster.h: the one interface between the broker and cluster/.
 *
 * The broker knows other nodes only as entries of the subscription index
 * flagged RMQ_SUB_REMOTE, owned by RMQ_CLUSTER_OWNER(node) for a node
 * number the cluster chose.
 * The cluster keeps those entries in the index (rmq_index_add/remove on
 * b->index, from its own registered RCU thread) and installs its hooks
 * before the broker starts.  A message published on this node that
 * matches remote entries goes to the forward hook once per node; a
 * message a peer forwarded comes back in through rmq_cluster_publish and
 * reaches local sessions only, so that nothing loops between nodes.
 * Without hooks, remote entries are skipped.
 */
#ifndef RMQ_CLUSTER_H
#define RMQ_CLUSTER_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>

#include "msg.h"

struct rmq_broker;

/* The owner of a remote index entry: a node number with the top bit set,
 * which no session key has (a key's top byte is its worker, below 64). */
#define RMQ_CLUSTER_OWNER(node) ((1ull << 63) | (uint64_t)(node))

struct rmq_cluster_hooks {
	void *ctx;
	/* m, published on this node, matched subscriptions of `node`; qos is
	 * the highest QoS among them, already capped by the message's.
	 * Called on the thread of the worker that routed it, which must not
	 * block: the hook takes its own reference (rmq_msg_hold) for
	 * whatever it keeps.  groups: the shared subscriptions
	 * ($share/{group}/{filter}) whose turn fell to that node, which it
	 * is to serve the message to, one member each (the node reads them
	 * back into the message's groups, core/msg.h).  Returns 0 when the
	 * message is on its way, anything else when it was not taken (past
	 * the bound toward that node, or no memory: counted by the hook). */
	int (*forward)(void *ctx, unsigned worker, uint64_t node,
	    struct rmq_msg *m, uint8_t qos, const struct rmq_str *groups,
	    uint32_t ngroups);
	/* A retained message published on this node changed its store: a
	 * set, or a delete by an empty payload (whether or not the topic
	 * held one), stamped by rmq_cluster_stamp().  The other nodes are to
	 * apply it with rmq_cluster_retain_apply().  On the worker's thread,
	 * which must not block.  NULL: retained messages stay on their node
	 * (and are not stamped).  $ topics ($SYS...) never come here. */
	void (*retain)(void *ctx, unsigned worker, struct rmq_msg *m);
	/* This node's tag, in the low 12 bits of the stamps it gives. */
	uint16_t tag;
	/* The end of a worker's turn in which it called forward or filter:
	 * what that turn forwarded, and its route changes, may go out now,
	 * as one batch per node.  On the
	 * worker's thread, which must not block.  NULL: not told. */
	void (*flush)(void *ctx, unsigned worker);
	/* For cluster_ack: the token of what worker's turn has forwarded
	 * so far (what its flush will send), and the highest token of that
	 * worker every peer up has taken.  Tokens only grow; a peer that
	 * goes down stops counting.  On the worker's thread.  NULL: no
	 * acknowledgement waits for peers. */
	uint64_t (*sent)(void *ctx, unsigned worker);
	uint64_t (*taken)(void *ctx, unsigned worker);
	/* This node's subscriptions to `filter` changed: a session's entry
	 * went from old_qos to new_qos, -1 meaning none (a new filter for
	 * the session, or one it left).  On the thread of the session's
	 * worker, which must not block.  Returns a token that `applied`
	 * reaches once every peer up has the change (0: nothing to wait
	 * for).  NULL: not told. */
	uint64_t (*filter)(void *ctx, const char *filter, size_t len,
	    int old_qos, int new_qos);
	/* The highest token (of filter's) every peer up has applied;
	 * UINT64_MAX with no peer up.  Any thread.  NULL: never wait. */
	uint64_t (*applied)(void *ctx);
	/* 1 once this node holds the cluster's index: every peer it knows
	 * up has had its routes installed (and, with no peer met yet, once a
	 * peer timeout has passed since start).  /readyz says starting until
	 * then.  Any thread.  NULL: always. */
	int (*ready)(void *ctx);
	/* A CONNECT for client identifier id found no session on this node:
	 * every peer up is asked to end the one it may have (its connection
	 * told 0x8E) and to send its state over unless clean.  stamp orders
	 * two connections of one identifier (rmq_cluster_stamp(): the newer
	 * wins).  Returns 0 when no peer is asked (none up: go on now), 1
	 * when the answer comes later through rmq_cluster_claimed() for key,
	 * or a negative errno when no claim could be made (too many wait, no
	 * memory): the CONNECT is refused (0x89), since going on could leave
	 * the identifier held twice.  On
	 * the worker's thread, which must not block.  NULL: ids are the
	 * node's own. */
	int (*claim)(void *ctx, unsigned worker, uint64_t key, const char *id,
	    size_t len, uint64_t stamp, int clean);
	/* Session key read the image of move `move` (rmq_cluster_claimed):
	 * once this node's route changes so far are applied everywhere, the
	 * old node is asked for the tail.  On the worker's thread. */
	void (
	    *moved_in)(void *ctx, unsigned worker, uint64_t key, uint64_t move);
	/* The node a message came from, as a number unique in the cluster
	 * (its name and epoch hashed): for origin RMQ_CLUSTER_OWNER(n) peer
	 * n, else this node.  With a message's xid it names the message
	 * across nodes.  Any thread. */
	uint64_t (*origin_uid)(void *ctx, uint64_t origin);
	/* Append the cluster's metrics (Prometheus text: HELP, TYPE and
	 * samples) with put(arg, text, len), from the admin server's thread
	 * while /metrics is asked.  NULL: none. */
	void (*metrics)(void *ctx,
	    void (*put)(void *arg, const char *text, size_t len), void *arg);
	/* The cluster as this node sees it, one JSON object (the admin
	 * API's /api/v1/cluster), with put(arg, text, len).  Any thread. */
	void (*status)(void *ctx,
	    void (*put)(void *arg, const char *text, size_t len), void *arg);
	/* The admin API's question (rmq_query_encode's bytes) to every peer
	 * up: answer(arg, node, found, json, len) for each that answers
	 * (json not kept), then end(arg) once all have, or the peer timeout
	 * passed, or at once with no peer up.  From the admin server's
	 * thread; the calls on the cluster's threads. */
	void (*ask)(void *ctx, const uint8_t *req, size_t len,
	    void (*answer)(void *arg, const char *node, int found,
		const char *json, size_t jlen),
	    void (*end)(void *arg, unsigned asked, unsigned answered),
	    void *arg);
};

/* The index remote entries go in (core/index.h), for a thread
 * registered with liburcu-qsbr and online while it calls the index. */
struct rmq_index *rmq_cluster_index(struct rmq_broker *b);

/* The node's log, for the cluster's lines (levels as the broker's: 0
 * error, 1 warning, 2 notice, 3 info, 4 debug).  Any thread. */
void rmq_cluster_log(int level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* The number of worker loops (each forward and flush names one). */
unsigned rmq_cluster_workers(const struct rmq_broker *b);

/* A message in the form it crosses between nodes: its QoS, retain flag,
 * topic, properties and payload, and the expiry left (relative, so
 * nodes' clocks need not agree).  rmq_cluster_msg_size() bytes, written
 * by rmq_cluster_msg_encode(); 0 for a message that has expired, which
 * is not sent. */
size_t rmq_cluster_msg_size(const struct rmq_msg *m);
void rmq_cluster_msg_encode(const struct rmq_msg *m, uint8_t *buf);

/* A message back from those bytes at now_ms (the monotonic clock's
 * milliseconds), as published by `origin` (an
 * RMQ_CLUSTER_OWNER(node), which no session is, so No Local keeps it for
 * every local subscriber).  0 with *out (one reference), -ETIME when it
 * expired on the way, -ENOMEM, or -EINVAL with what is wrong in *why. */
int rmq_cluster_msg_decode(const uint8_t *p, size_t len, uint64_t origin,
    uint64_t now_ms, struct rmq_msg **out, const char **why);

/* `applied` or `taken` moved on, or a peer went down: workers holding
 * an acknowledgement for the peers look again.  Any thread. */
void rmq_cluster_applied_changed(struct rmq_broker *b);

/* A stamp for a retained message published now on the node tagged `tag`:
 * the wall clock's microseconds above the tag, above every stamp this
 * process gave before.  Any thread. */
uint64_t rmq_cluster_stamp(uint16_t tag);

/* A retained message (set or delete) another node published, stamped
 * there: applied to this node's store when newer than what the topic
 * holds.  Returns 0 (applied), 1 (older, or retained messages are off:
 * nothing changed), -ENOSPC (past max_retained or max_retained_bytes),
 * -ENOMEM.  The caller keeps its reference.  Any thread. */
int rmq_cluster_retain_apply(struct rmq_broker *b, struct rmq_msg *m);

/* fn for every retained message of this node but those of $ topics, with
 * a reference held for the call; returns how many.  Any thread. */
size_t rmq_cluster_retained_each(struct rmq_broker *b,
    void (*fn)(void *arg, struct rmq_msg *m), void *arg);

/* A peer's admin question about sessions (node.h's rmq_query_encode),
 * answered for this node's sessions, each marked with node: done as
 * rmq_node_query's.  Returns 0, -EINVAL (not a question: done is not
 * called), -ENOMEM.  Any thread. */
int rmq_cluster_query(struct rmq_broker *b, const char *node,
    const uint8_t *req, size_t len,
    void (*done)(void *arg, int found, char *json, size_t jlen), void *arg);

/* A stamp another node gave: stamps given here from now on are above
 * it, so that the newer of two connections is the later one whatever the
 * nodes' clocks say (a hybrid logical clock).  Any thread. */
void rmq_cluster_stamp_seen(uint64_t stamp);

/* What rmq_cluster_release() found. */
enum rmq_release_result {
	RMQ_RELEASE_NONE = 0, /* no session for the id here */
	RMQ_RELEASE_ENDED = 1, /* it ended here; its state, if it was asked
				* for and the session outlives its connection,
				* comes with the answer */
	RMQ_RELEASE_NEWER = 2, /* the session here is a newer connection's:
				* the claim loses */
};

/* A peer claims client identifier id for a connection stamped `stamp`
 * (clean: its Clean Start).  The session this node holds for it, if
 * older, ends: its connection is told 0x8E (3.x: closed), its will goes
 * out or not as for a takeover on one node [MQTT-3.1.4-3], and unless
 * clean its state (subscriptions, queued and in-flight messages, QoS 2
 * ids) is written as an image (malloc'd, handed over with the call).
 * A session that sends an image stays as a stub, its subscriptions in
 * the index, collecting what still comes for it until the claimant's
 * routes are everywhere: `stub` names it for rmq_cluster_tail_take (0:
 * none).  done(arg, result, image, len, stub) is called once, on the
 * session's worker or at once on the caller's thread.  Any thread. */
typedef void (*rmq_release_done)(void *arg, enum rmq_release_result result,
    uint8_t *image, size_t len, uint64_t stub);
void rmq_cluster_release(struct rmq_broker *b, const char *id, size_t len,
    uint64_t stamp, int clean, rmq_release_done done, void *arg);

/* The answer to claim `key` made: lost (a newer connection of the id
 * holds it elsewhere: the CONNECT is refused), or the session's image
 * from the node that held it (NULL: none; taken over by this call), and
 * the CONNECT goes on.  With an image, `move` (not 0) names what follows:
 * the session holds what it is sent from now on, the moved_in hook is
 * told once the image is read, and rmq_cluster_tail_give brings the
 * rest.  Any thread. */
void rmq_cluster_claimed(struct rmq_broker *b, uint64_t key, int lost,
    uint8_t *image, size_t len, uint64_t move);

/* The old node's side: the stub's messages collected since its image (the
 * tail), each with its identity, go to done(arg, tail, len) (malloc'd,
 * handed over; NULL when the stub is gone) and the stub ends.  The tail
 * is taken once every worker has handed on what it was given before this
 * call (messages from peers, its clients' publishes), so that a message
 * routed to the stub by then is in it.  done NULL: the stub ends at once,
 * its messages dropped (the claimant is gone).  Any thread; done on a
 * worker or at once. */
void rmq_cluster_tail_take(struct rmq_broker *b, uint64_t stub,
    void (*done)(void *arg, uint8_t *tail, size_t len), void *arg);

/* The new node's side: the tail of move `move` for session key (NULL:
 * none will come), merged with what the session held meanwhile: a
 * message that came both ways (the same identity from the same node)
 * once, the tail's first, then the rest in the order it came, which keeps
 * each publisher's order.  The tail is taken over.  Any thread. */
void rmq_cluster_tail_give(struct rmq_broker *b, uint64_t key, uint64_t move,
    uint8_t *tail, size_t len);

/* Every session of this node that holds a client identifier (connected
 * or not), with the stamp of the connection that claimed it (0: none, a
 * session read back from disk or made with no peer to ask), as fn(arg,
 * worker, id, len, stamp) on its worker's thread; each worker ends its
 * part with fn(arg, worker, NULL, 0, 0).  So a node that meets a peer
 * again after a partition tells it which identifiers it holds, and the
 * older of two sessions of one identifier ends (rmq_cluster_release).
 * Any thread. */
typedef void (*rmq_session_list_fn)(void *arg, unsigned worker, const char *id,
    size_t len, uint64_t stamp);
void rmq_cluster_sessions_each(struct rmq_broker *b, rmq_session_list_fn fn,
    void *arg);

/* What a peer's older session of client identifier id held, as an image
 * (taken over by this call): its session ended there because this node
 * holds a newer connection of id (after a partition, or its node's
 * restart).  Its messages, in flight or queued, are queued for this
 * node's session of id, after what that has; its subscriptions and QoS 2
 * ids are not taken (the client, told no session was present, made its
 * own).  Any thread. */
void rmq_cluster_state_give(struct rmq_broker *b, const char *id, size_t len,
    uint8_t *image, size_t ilen);

/* Install the hooks.  Before rmq_broker_start; they live as long as the
 * broker. */
void
rmq_cluster_attach(struct rmq_broker *b, const struct rmq_cluster_hooks *h);

/* Route n messages a peer forwarded, in their order, to the local
 * subscribers of this node, on worker `worker` (a peer's messages from one
 * publisher go through one worker to keep their order).  A message
 * forwarded is not stored as retained here: the node it was published on
 * keeps it.  Any thread; takes over the caller's references (and m, an
 * array from malloc).  Returns 0, or -ENOMEM (all released). */
int rmq_cluster_publish(struct rmq_broker *b, unsigned worker,
    struct rmq_msg **m, uint32_t n);

/* The same on worker `worker`'s own thread (a peer's link read there,
 * cluster/link.h): routed now, in order.  m[0..n) are released; the array
 * stays the caller's. */
void rmq_cluster_publish_here(struct rmq_broker *b, unsigned worker,
    struct rmq_msg **m, uint32_t n);

/* fn(arg, 1) on worker `worker`'s thread at its next turn, or fn(arg, 0)
 * wherever the worker stops first (free what arg holds).  Any thread.
 * 0, or -ENOMEM (fn not called). */
int rmq_cluster_run_on(struct rmq_broker *b, unsigned worker,
    void (*fn)(void *arg, int run), void *arg);

/* A connection of the cluster's own (a link to a peer) carried by a
 * worker's loop, as a session's is: the cluster reads and writes it on
 * that worker's thread without a thread of its own in the path. */
struct rmq_cluster_conn;
struct rmq_cluster_conn_ops {
	/* n > 0: bytes lent until the call returns; 0: the peer closed;
	 * < 0: a negative errno.  No read follows n <= 0. */
	void (*read)(void *arg, const uint8_t *p, ssize_t n);
	/* The write finished: 0, or a negative errno. */
	void (*wrote)(void *arg, int status);
	/* Closed (by either side, or the worker stopping): the last call;
	 * the connection is gone. */
	void (*closed)(void *arg);
};

/* On worker `worker`'s thread: connected socket fd runs on its loop,
 * reading at once.  0 with *out, or a negative errno (fd closed, and
 * closed is not called). */
int rmq_cluster_conn_open(struct rmq_broker *b, unsigned worker, int fd,
    const struct rmq_cluster_conn_ops *ops, void *arg,
    struct rmq_cluster_conn **out);

/* Write iov[0..n) (kept valid by the caller until wrote): one write at a
 * time.  0, or a negative errno (-EBUSY, -EPIPE).  The worker's thread. */
int
rmq_cluster_conn_write(struct rmq_cluster_conn *c, struct iovec *iov, int n);

/* Close it; closed follows.  The worker's thread. */
void rmq_cluster_conn_close(struct rmq_cluster_conn *c);

#endif
