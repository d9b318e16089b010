/* broker/mqtt/node.h: the node's shared state, as the workers and the
 * operations endpoints see it: the configuration, the worker loops, the
 * subscription index, the client identifier registry and the retained
 * store.
 *
 * Shared state is read lock-free (the index) or touched only on rare paths
 * behind a mutex (registry: CONNECT and session end; retained store:
 * retained PUBLISH and SUBSCRIBE).  Everything per message stays inside a
 * worker (worker.h).
 */
#ifndef RMQ_NODE_H
#define RMQ_NODE_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include "bounds.h"
#include "config.h"
#include "conn.h"
#include "index.h"
#include "loop.h"

struct rmq_worker;
struct rmq_registry;
struct rmq_retain;
struct rmq_persist;
struct rmq_cluster_hooks;
struct rmq_authenticator;
struct rmq_authn;
struct rmq_guard;
struct rmq_authz;

struct rmq_broker {
	struct rmq_config cfg;
	const struct rmq_loop_ops *ops;
	struct rmq_worker *workers[RMQ_MAX_WORKERS];
	unsigned nworkers;
	pthread_t threads[RMQ_MAX_WORKERS];
	struct rmq_index *index;
	struct rmq_registry *registry;
	struct rmq_retain *retain;
	/* The data directory's writer (store/persist.h); NULL: persistence
	 * off.  Acknowledgements wait for it when hold_acks is set
	 * (durability always).  loops_up: the worker loops run, and the
	 * writer may wake them. */
	struct rmq_persist *persist;
	int hold_acks;
	atomic_int loops_up;
	atomic_uint connections;
	/* Connections the descriptor limit leaves room for (fdlimit.h), and
	 * the bound in force: max_connections, or that room when unset or
	 * higher. */
	uint32_t fd_conns;
	atomic_uint conn_limit;
	atomic_int ready; /* listeners open: /readyz says so */
	/* Random for this process's life, in the identifiers the broker
	 * assigns to clients that bring none: with the session's key (unique
	 * on this node only), no other node of the cluster, and not this one
	 * after a restart, assigns the same [MQTT-3.1.3-6]. */
	uint64_t id_nonce;
	/* SIGTERM in a cluster (rmq_broker_drain): clients are told to go,
	 * new CONNECTs refused, while persistent sessions move away. */
	atomic_int draining;
	/* The memory budget (platform/memory.h): the bytes it allows (0:
	 * none), the resident bytes last sampled, whether the node is over
	 * it (new work refused, read by the loops), and how many times it
	 * went over.  Sampled on worker 0's tick and at a reload. */
	_Atomic uint64_t mem_limit, mem_resident;
	atomic_int mem_over;
	_Atomic uint64_t mem_over_total;
	double start_time_unix;
	void *admin; /* the NNG HTTP server, when running */
	/* NNG's threads wedged at a close (the cluster's sockets did not
	 * close in time): the fini stops once the store is closed, since
	 * the HTTP server cannot be stopped and its handlers read the
	 * rest; the process then ends (main.c). */
	int nng_wedged;
	void *api; /* its admin API (ops/api.h), when running */
	const struct rmq_cluster_hooks *cluster; /* cluster.h; NULL: one node */
	/* Who gets in (auth/auth.h); NULL: everyone.  Set before the
	 * start. */
	const struct rmq_authenticator *auth;
	/* What clients may do (auth.h); NULL: everything.  Swapped at a
	 * reload that adds or drops acl_file, read by the loops. */
	const struct rmq_authorizer *_Atomic authz;
	struct rmq_authz *authz_impl; /* the settings' (authz.h) */
	struct rmq_authn *authn; /* the settings' authenticator (authn.h) */
	struct rmq_guard *guard; /* failed logins by address (guard.h) */
	/* Run on worker 0's thread at each of its ticks, after its
	 * sessions' own: how $SYS (sys.h) publishes without the worker
	 * calling it.  NULL: nothing to run.  Set before the start. */
	void (*tick_hook)(struct rmq_worker *w);
	uint64_t start_ms; /* monotonic, for $SYS uptime */
	/* $SYS state, touched by worker 0 only. */
	uint64_t sys_next_ms, sys_last_ms;
	uint64_t sys_prev_in, sys_prev_out, sys_prev_bin, sys_prev_bout;
	int listen_fds[RMQ_MAX_WORKERS][RMQ_MAX_LISTENERS];
	uint16_t bound_ports[RMQ_MAX_LISTENERS]; /* actual, when port 0 */
	/* Each listener's layers (conn.h); a member NULL when unused. */
	struct rmq_transport transports[RMQ_MAX_LISTENERS];
	/* New connections go to the loop of their CPU (placement.h). */
	int by_cpu;
};

/* SIGTERM in a cluster, before the broker stops: /readyz says stopping,
 * new CONNECTs are refused (5.0: 0x9C with server_reference, else 0x88),
 * and every connection ends (5.0 clients told 0x8B and server_reference),
 * while the loops go on serving the cluster: the persistent sessions of
 * those clients move to the nodes they reconnect to.  Main thread. */
void rmq_node_drain(struct rmq_broker *b);

/* Persistent sessions disconnected by the drain still on this node (not
 * moved away, nor ended).  Any thread. */
uint64_t rmq_node_drained_left(struct rmq_broker *b);

/* ---- the admin API's questions about sessions (query.c) ---- */

enum rmq_query_op {
	RMQ_QUERY_LIST, /* the sessions, as the filters below pick them */
	RMQ_QUERY_SHOW, /* one, with its subscriptions */
	RMQ_QUERY_KICK, /* its connection closed (5.0: 0x98), session kept */
	RMQ_QUERY_DROP, /* its connection closed and the session ended */
};

struct rmq_query_args {
	enum rmq_query_op op;
	const char *id; /* SHOW, KICK, DROP: the client identifier */
	size_t id_len;
	int connected; /* LIST: -1 any, 0 without a connection, 1 with */
	const char *match; /* LIST: identifiers containing it ("": all) */
	size_t match_len;
	const char *user; /* LIST: let in with this user name (NULL: any) */
	size_t user_len;
	const char *node; /* each session's "node" in the answer (NULL: none) */
};

/* LIST answers at most this many sessions of a node (then "truncated"). */
#define RMQ_QUERY_LIST_MAX 10000

/* The question as bytes for another node (rmq_cluster_query reads them;
 * node not included): its length, or 0 when cap is short. */
size_t
rmq_query_encode(const struct rmq_query_args *a, uint8_t *buf, size_t cap);

/* The answer, on a worker's thread (or at once): found is the number of
 * sessions (LIST; with RMQ_QUERY_TRUNCATED set when there were more than
 * RMQ_QUERY_LIST_MAX), 1 or 0 (the others: 0 when no such session here,
 * or one that is connecting or moving), or -ENOMEM; json (malloc'd, the
 * callee's, NULL when empty) is LIST's objects joined by commas, SHOW's
 * object. */
#define RMQ_QUERY_TRUNCATED (1 << 30)
typedef void (*rmq_query_done)(void *arg, int found, char *json, size_t len);

/* Ask the workers; 0, or -ENOMEM (done not called).  Any thread. */
int rmq_node_query(struct rmq_broker *b, const struct rmq_query_args *a,
    rmq_query_done done, void *arg);

/* ---- the admin API's retained messages (query.c) ---- */

/* The retained messages whose topics match filter as JSON objects joined
 * by commas into t (topic, QoS, size, the payload when it is UTF-8 of at
 * most 4096 bytes, seconds to expiry), at most `limit` of them; returns
 * how many matched (more than listed when past the limit).  Any thread. */
struct rmq_text;
size_t rmq_node_retained_json(struct rmq_broker *b, const char *filter,
    size_t len, size_t limit, struct rmq_text *t);

/* Delete topic's retained message, as an empty retained PUBLISH would,
 * here and on every node, telling no subscriber: 0, -ENOENT (none),
 * -EINVAL (not a topic name), -ENOMEM.  Any thread. */
int
rmq_node_retained_delete(struct rmq_broker *b, const char *topic, size_t len);

/* Whether the node is over its memory budget: new work is refused. */
static inline int
rmq_node_mem_over(struct rmq_broker *b)
{
	return atomic_load_explicit(&b->mem_over, memory_order_relaxed);
}

#endif
