/* cluster/claims.h: one client identifier in the whole cluster.
 *
 * A CONNECT that finds no session on its node makes a claim (broker/
 * cluster.h's claim hook): a record to every peer up on its control
 * stream, naming the identifier, the connection's stamp (a hybrid logical
 * clock: the newer connection wins) and its Clean Start.  Each peer
 * answers on its own control stream: it had no session for the
 * identifier, or it ended the one it had (with the session's image when
 * the state is to move), or its own connection is newer and the claim
 * loses.  The claim is settled once every peer asked has answered, has
 * gone down, or the wait (the peer timeout) has passed; the broker then
 * gets the image, if one came, or the loss (rmq_cluster_claimed).
 *
 * A session that moves leaves a stub on its old node, collecting what
 * still comes for it (broker/mqtt/move.c); the new node, once its own
 * route changes are applied by every peer, sends the old one a cut, and
 * the old one answers with the stub's tail.  Both sides keep the moves
 * under way (struct rmq_moves) with a deadline: a peer gone or silent
 * past it ends the move without its tail.
 *
 * The wire forms, integers big-endian:
 *   'R' 'C' version(1)  name_len(1) name  claim(8) stamp(8) flags(1)
 *       id_len(2) id                          (flags: 1, Clean Start)
 *   'R' 'A' version(1)  name_len(1) name  claim(8) result(1)  image
 *   'R' 'U' version(1)  name_len(1) name  claim(8)
 *   'R' 'L' version(1)  name_len(1) name  claim(8)  tail
 *   'R' 'I' version(1)  name_len(1) name  count(4), then count times:
 *       stamp(8) id_len(2) id
 *   'R' 'J' version(1)  name_len(1) name  id_len(2) id  image
 * 'I' is a part of the identifiers a node holds, with their connections'
 * stamps, sent to a peer it meets (again): of two sessions of one
 * identifier, after a partition or a restart, the older ends, and 'J'
 * takes what it held to the node of the newer.
 * (image and tail to the record's end, as broker/mqtt/move.c writes
 * them).
 *
 * Pure bookkeeping: no I/O, no lock (bus.c holds one), so tests run it as
 * it is.
 */
#ifndef RMQ_CLUSTER_CLAIMS_H
#define RMQ_CLUSTER_CLAIMS_H

#include <stddef.h>
#include <stdint.h>

#include "members.h"

#define RMQ_CLAIMS_MAX 65536 /* claims waiting for answers at once */
#define RMQ_CLAIM_CLEAN 0x1

/* ---- records ---- */

size_t rmq_claim_encode(uint8_t *buf, size_t cap, const char *node,
    uint64_t claim, uint64_t stamp, uint8_t flags, const char *id, size_t len);

struct rmq_claim_rec {
	char node[RMQ_NODE_NAME_MAX];
	uint64_t claim, stamp;
	uint8_t flags;
	const char *id; /* into the record */
	size_t len;
};
int rmq_claim_decode(const uint8_t *p, size_t n, struct rmq_claim_rec *c);

/* An answer's head: its length (the image follows it), 0 when cap is
 * short. */
size_t rmq_answer_head_encode(uint8_t *buf, size_t cap, const char *node,
    uint64_t claim, uint8_t result);

struct rmq_answer_rec {
	char node[RMQ_NODE_NAME_MAX];
	uint64_t claim;
	uint8_t result; /* broker/cluster.h's enum rmq_release_result */
	const uint8_t *image; /* into the record; NULL when none */
	size_t image_len;
};
int rmq_answer_decode(const uint8_t *p, size_t n, struct rmq_answer_rec *a);

/* A cut (kind 'U', no body) or a tail's head (kind 'L', the tail after
 * it): its length, 0 when cap is short. */
size_t rmq_move_rec_encode(uint8_t *buf, size_t cap, char kind,
    const char *node, uint64_t claim);

struct rmq_move_rec {
	char node[RMQ_NODE_NAME_MAX];
	uint64_t claim;
	const uint8_t *body; /* a tail's; NULL when none */
	size_t body_len;
};
int rmq_move_rec_decode(const uint8_t *p, size_t n, char kind,
    struct rmq_move_rec *r);

/* A part of a node's identifiers: the head (its length; the count is
 * filled in with rmq_ids_count), then entries, each put with
 * rmq_ids_put into buf[len..) (its length, 0 when cap is short). */
size_t rmq_ids_head_encode(uint8_t *buf, size_t cap, const char *node);
void rmq_ids_count(uint8_t *buf, size_t head, uint32_t count);
size_t rmq_ids_put(uint8_t *buf, size_t cap, uint64_t stamp, const char *id,
    size_t len);
#define RMQ_IDS_ENTRY_MAX (10u + 65535u)

struct rmq_ids_rec {
	char node[RMQ_NODE_NAME_MAX];
	uint32_t count;
	const uint8_t *entries; /* count entries, checked whole */
	size_t entries_len;
};
int rmq_ids_decode(const uint8_t *p, size_t n, struct rmq_ids_rec *r);

/* The next entry of a decoded part: 1 with it, 0 at the end. */
int rmq_ids_next(const uint8_t **p, size_t *left, uint64_t *stamp,
    const char **id, size_t *len);

/* An older session's state for a peer's session of id: the head's
 * length (the image follows it), 0 when cap is short. */
size_t rmq_state_head_encode(uint8_t *buf, size_t cap, const char *node,
    const char *id, size_t len);

struct rmq_state_rec {
	char node[RMQ_NODE_NAME_MAX];
	const char *id;
	size_t len;
	const uint8_t *image;
	size_t image_len;
};
int rmq_state_decode(const uint8_t *p, size_t n, struct rmq_state_rec *r);

/* ---- this node's claims waiting for answers ---- */

#define RMQ_PEER_WORDS (RMQ_MEMBERS_MAX / 64)

struct rmq_claim {
	uint64_t id; /* 0: the slot is free */
	uint64_t key; /* the claiming session's */
	uint64_t deadline_ms;
	uint64_t waiting[RMQ_PEER_WORDS]; /* peers (number - 1) not answered */
	uint8_t *image; /* the first that came (malloc'd) */
	size_t image_len;
	uint32_t image_from; /* the peer that sent it */
	uint8_t lost;
};

/* Settled: the claim, the session's key, whether it lost, and the image
 * (handed over, or NULL) with the peer that sent it. */
typedef void (*rmq_claim_settled)(void *arg, uint64_t id, uint64_t key,
    int lost, uint8_t *image, size_t len, uint32_t from);

struct rmq_claims {
	struct rmq_claim *slot;
	uint32_t cap, live;
	uint32_t *free_slots;
	uint32_t nfree;
	uint32_t seq; /* the high half of the next id */
	/* Counts for metrics. */
	uint64_t asked, settled_none, moved, ended, lost, timed_out, refused;
	uint64_t answers_late; /* for no claim waiting (after a timeout) */
};

void rmq_claims_init(struct rmq_claims *c);
void rmq_claims_fini(struct rmq_claims *c);

/* A claim for session key waiting for the peers in `waiting` (not all
 * zero) until deadline_ms.  0 with *id, -ENOSPC past RMQ_CLAIMS_MAX
 * (counted in refused), -ENOMEM. */
int rmq_claims_open(struct rmq_claims *c, uint64_t key,
    const uint64_t waiting[RMQ_PEER_WORDS], uint64_t deadline_ms, uint64_t *id);

/* Peer `number`'s answer to claim id, with its image (copied when it is
 * the first).  Settles the claim through fn when it was the last one
 * awaited.  0, or -ENOENT when no claim waits for it. */
int rmq_claims_answer(struct rmq_claims *c, uint64_t id, uint32_t number,
    uint8_t result, const uint8_t *image, size_t len, rmq_claim_settled fn,
    void *arg);

/* Peer `number` went down: it is waited for no more. */
void rmq_claims_down(struct rmq_claims *c, uint32_t number,
    rmq_claim_settled fn, void *arg);

/* The claims whose wait is over at now_ms are settled with what came. */
void rmq_claims_expire(struct rmq_claims *c, uint64_t now_ms,
    rmq_claim_settled fn, void *arg);

/* ---- moves under way ---- */

/* One move, on either side: the claim it came from, the peer at the
 * other end, the session (the new one, or the old one's stub), and when
 * it is given up.  The new node's side waits for token (its route
 * changes up to it applied everywhere; 0: the image not read yet) and
 * then sends the cut once. */
struct rmq_move {
	uint64_t claim;
	uint32_t peer;
	uint8_t cut_sent;
	uint64_t key;
	uint64_t token;
	uint64_t deadline_ms;
	uint64_t fence; /* a stub cut: the fence it ends after (channel.h) */
};

struct rmq_moves {
	struct rmq_move *m;
	uint32_t n, cap;
	uint64_t done, given_up; /* counts for metrics */
};

/* Add one; 0 or -ENOSPC past RMQ_CLAIMS_MAX, -ENOMEM. */
int rmq_moves_add(struct rmq_moves *t, const struct rmq_move *m);

/* The move of (claim, peer), or NULL. */
struct rmq_move *
rmq_moves_find(struct rmq_moves *t, uint64_t claim, uint32_t peer);

/* Take m (found above) out, copied to *out. */
void
rmq_moves_take(struct rmq_moves *t, struct rmq_move *m, struct rmq_move *out);

void rmq_moves_fini(struct rmq_moves *t);

#endif
