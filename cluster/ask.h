/* cluster/ask.h: the admin API's questions to the peers (cluster.h's ask
 * hook): the records that carry a question and its answers on the
 * control streams, and this node's questions waiting for answers.
 *
 * A question goes to every peer up; it is settled once each has
 * answered, gone down, or when the peer timeout passes.  At most
 * RMQ_ASKS_MAX wait at once: past it a question is asked of no peer
 * (counted).  Not thread-safe: the caller holds its lock.
 */
#ifndef RMQ_CLUSTER_ASK_H
#define RMQ_CLUSTER_ASK_H

#include <stddef.h>
#include <stdint.h>

#include "claims.h" /* RMQ_PEER_WORDS */

#define RMQ_ASKS_MAX 64

typedef void (*rmq_ask_answer_fn)(void *arg, const char *node, int found,
    const char *json, size_t len);
typedef void (*rmq_ask_end_fn)(void *arg, unsigned asked, unsigned answered);

struct rmq_ask {
	uint64_t id;
	uint64_t waiting[RMQ_PEER_WORDS]; /* peers (number - 1) to answer */
	uint64_t deadline_ms;
	unsigned asked, answered;
	rmq_ask_answer_fn answer;
	rmq_ask_end_fn end;
	void *arg;
};

struct rmq_asks {
	struct rmq_ask a[RMQ_ASKS_MAX];
	unsigned n;
	uint64_t seq;
	uint64_t refused; /* past RMQ_ASKS_MAX */
};

/* A question to the peers in `up`: its id in *id; -ENOSPC past the
 * bound.  The caller sends it, and calls rmq_asks_down for a peer it
 * could not send it to. */
int rmq_asks_open(struct rmq_asks *t, const uint64_t up[RMQ_PEER_WORDS],
    unsigned asked, uint64_t deadline_ms, rmq_ask_answer_fn answer,
    rmq_ask_end_fn end, void *arg, uint64_t *id);

/* Peer `number` answered question id: its answer told (here, under the
 * caller's lock); the question, settled, is copied to *done and 1
 * returned (the caller calls its end after unlocking); else 0. */
int rmq_asks_answer(struct rmq_asks *t, uint64_t id, uint32_t number,
    const char *node, int found, const char *json, size_t len,
    struct rmq_ask *done);

/* Peer `number` down (0: none), and questions past their deadline at
 * now: those settled copied into done (room for RMQ_ASKS_MAX); returns
 * how many. */
unsigned rmq_asks_expire(struct rmq_asks *t, uint32_t number, uint64_t now_ms,
    struct rmq_ask *done);

/* The records: 'Y' a question (the asker's name, the id, the question's
 * bytes), 'Z' an answer (the answerer's name, the id, found as a signed
 * 32-bit integer, the JSON).  Encode: the length, 0 when cap is short. */
struct rmq_ask_rec {
	char node[64];
	uint64_t id;
	int32_t found; /* 'Z' */
	const uint8_t *body; /* 'Y': the question; 'Z': the JSON */
	size_t body_len;
};
size_t rmq_ask_encode(uint8_t *buf, size_t cap, char kind, const char *node,
    uint64_t id, int32_t found, const void *body, size_t len);
int
rmq_ask_decode(const uint8_t *p, size_t len, char kind, struct rmq_ask_rec *r);

#endif
