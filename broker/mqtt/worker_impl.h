/* broker/mqtt/worker_impl.h: what only broker/mqtt/ sees of a worker:
 * the messages of its inbox, its slot table's use, the delivery batches
 * for other workers and the list of sessions to flush.  The layers
 * above see worker.h.
 */
#ifndef RMQ_WORKER_IMPL_H
#define RMQ_WORKER_IMPL_H

#ifndef RMQ_LAYER_MQTT
#error "worker_impl.h is private to broker/mqtt/ (and its tests)"
#endif

#include <stdint.h>
#include <urcu/wfcqueue.h>

#include "linger.h"
#include "session.h"
#include "worker.h"

/* One delivery to a session of another worker. */
struct rmq_delivery {
	uint64_t key;
	struct rmq_qitem it;
};

enum rmq_inbox_kind {
	RMQ_INBOX_DELIVER, /* a batch of deliveries */
	RMQ_INBOX_ADOPT, /* a connection whose session lives here */
	RMQ_INBOX_ACCEPT, /* a new connection another loop passed on */
	RMQ_INBOX_ROUTE, /* a message from a peer node (cluster.h) */
	RMQ_INBOX_CONFIG, /* a reloaded configuration */
	RMQ_INBOX_AUTH, /* the verdict on a CONNECT (auth/auth.h) */
	RMQ_INBOX_RELEASE, /* a peer claims a session's identifier */
	RMQ_INBOX_CLAIMED, /* the peers answered a session's claim */
	RMQ_INBOX_TAIL_TAKE, /* a stub's tail is asked for */
	RMQ_INBOX_TAIL, /* a moved session's tail arrived */
	RMQ_INBOX_LIST, /* the cluster asks for the worker's sessions */
	RMQ_INBOX_STATE, /* a peer's older session's messages, to queue */
	RMQ_INBOX_DRAIN, /* SIGTERM in a cluster: clients told to go */
	RMQ_INBOX_PASS, /* every worker passes before a tail is taken */
	RMQ_INBOX_QUERY, /* the admin API asks about sessions (query.c) */
	RMQ_INBOX_RETAIN_CLEAR, /* the admin API deletes a retained message */
	RMQ_INBOX_RUN, /* the cluster's work on this loop (cluster.h) */
};

struct rmq_inbox_msg {
	struct cds_wfcq_node node;
	enum rmq_inbox_kind kind;
	union {
		struct {
			uint32_t n, cap;
			struct rmq_delivery *d;
		} deliver;
		struct { /* RMQ_INBOX_ROUTE: from a peer, in order */
			uint32_t n;
			struct rmq_msg **m;
		} route;
		struct rmq_config *config; /* RMQ_INBOX_CONFIG */
		struct { /* RMQ_INBOX_AUTH */
			uint64_t key;
			uint8_t allowed;
			uint8_t reason;
		} auth;
		struct { /* RMQ_INBOX_RELEASE */
			uint64_t key;
			struct rmq_release *r;
		} release;
		struct { /* RMQ_INBOX_CLAIMED, RMQ_INBOX_TAIL (image: the
			  * tail), RMQ_INBOX_STATE */
			uint64_t key;
			uint64_t move;
			uint8_t lost;
			uint8_t *image;
			size_t len;
		} claimed;
		struct { /* RMQ_INBOX_LIST */
			rmq_session_list_fn fn;
			void *arg;
		} list;
		struct rmq_pass *pass; /* RMQ_INBOX_PASS */
		struct rmq_msg
		    *clear; /* RMQ_INBOX_RETAIN_CLEAR: empty, retain */
		struct { /* RMQ_INBOX_QUERY */
			struct rmq_query *q;
			uint64_t key; /* the session asked about, or 0 */
		} query;
		struct { /* RMQ_INBOX_RUN: fn(arg, 1) here, (arg, 0) unrun */
			void (*fn)(void *arg, int run);
			void *arg;
		} run;
		struct { /* RMQ_INBOX_TAIL_TAKE */
			uint64_t key;
			void (*done)(void *arg, uint8_t *tail, size_t len);
			void *arg;
		} take;
		struct
		{ /* RMQ_INBOX_ADOPT, RMQ_INBOX_ACCEPT (mv.fd, listener) */
			uint64_t key; /* the session it belongs to */
			struct rmq_conn_move mv; /* socket, layers (conn.h) */
			uint8_t listener; /* the listener it came in on */
			uint8_t *bytes; /* CONNECT and what followed it */
			uint32_t len;
		} adopt;
	};
};

/* Allocate a slot and key for a new session; NULL when out of memory. */
struct rmq_session *rmq_worker_session_alloc(struct rmq_worker *w);

/* Allocate the slot and key `key` names, for a session read back from the
 * data directory (before the loops run).  Returns 0 with *out, -EEXIST
 * when the slot is taken or the key is not this worker's, -ENOMEM. */
int rmq_worker_session_alloc_at(struct rmq_worker *w, uint64_t key,
    struct rmq_session **out);

/* Return the session's slot; the session must be unlinked already. */
void rmq_worker_session_release(struct rmq_worker *w, struct rmq_session *s);

/* The live session for key on this worker, or NULL. */
struct rmq_session *rmq_worker_session(struct rmq_worker *w, uint64_t key);

/* Queue m in dst's inbox and wake dst if it sleeps.  Any thread. */
void rmq_worker_post(struct rmq_worker *dst, struct rmq_inbox_msg *m);

/* Add a delivery for session `key` on another worker to this turn's
 * batch for it.  Takes over the item's message reference. */
void rmq_worker_deliver_remote(struct rmq_worker *w, uint64_t key,
    const struct rmq_qitem *it);

/* Close the cluster's connections on this worker (cluster_conn.c): the
 * worker stops. */
void rmq_cluster_conns_close(struct rmq_worker *w);

/* Mark a session to flush at the end of this turn. */
static inline void
rmq_worker_dirty(struct rmq_worker *w, struct rmq_session *s)
{
	if (!s->dirty && s->conn) {
		s->dirty = 1;
		s->next_dirty = NULL;
		*w->dirty_tail = s;
		w->dirty_tail = &s->next_dirty;
	}
}

#endif
