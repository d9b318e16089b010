/* broker/broker.h: the node as a whole: its configuration, its worker
 * loops, and the state they share (the subscription index, the client
 * identifier registry, the retained messages).
 *
 * Shared state is read lock-free (the index) or touched only on rare paths
 * behind a mutex (registry: CONNECT and session end; retained store:
 * retained PUBLISH and SUBSCRIBE).  Everything per message stays inside a
 * worker (worker.h).
 */
#ifndef RMQ_BROKER_H
#define RMQ_BROKER_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include "affinity.h"
#include "index.h"
#include "loop.h"
#include "placement.h"

#define RMQ_MAX_LISTENERS 8
#define RMQ_MAX_WORKERS 64
#define RMQ_MAX_INFLIGHT 1024 /* per session: the window's slots */

struct rmq_listen_addr {
	char host[64];
	uint16_t port;
};

struct rmq_config {
	struct rmq_listen_addr listeners[RMQ_MAX_LISTENERS];
	unsigned nlisteners;
	unsigned threads; /* worker loops; 0: one per CPU the process may use */
	enum rmq_affinity_mode cpu_affinity; /* affinity.h */
	cpu_set_t cpu_list; /* with RMQ_AFFINITY_LIST */
	enum rmq_placement placement; /* placement.h */
	enum rmq_loop_kind loop;
	int log_level; /* log.h: RMQ_LOG_ERROR .. RMQ_LOG_DEBUG */
	int log_format; /* RMQ_LOG_TEXT or RMQ_LOG_JSON */
	int connection_messages; /* log connections (at info) */
	uint32_t shutdown_grace_ms; /* SIGTERM: time for clients to drain */
	uint32_t max_packet_size; /* bytes, whole packet, both directions */
	uint16_t max_inflight; /* QoS 1/2 in flight to one client */
	uint16_t receive_maximum; /* QoS 1/2 in flight from one client */
	uint32_t max_queued; /* messages queued per session */
	uint64_t max_queued_bytes; /* bytes queued per session */
	uint32_t max_connections; /* 0: no limit but the fd limit */
	uint16_t topic_alias_max; /* aliases a client may set */
	uint32_t connect_timeout_ms;
	uint32_t max_session_expiry; /* seconds */
	int retain_available;
	int allow_zero_length_clientid;
	struct rmq_listen_addr admin; /* port 0: no admin listener */
	uint32_t sys_interval; /* seconds; 0: no $SYS topics */
	uint16_t max_keepalive; /* seconds; 0: any keep alive is accepted */
	/* Response Information for 5.0 clients that ask for it, "%c" standing
	 * for the client identifier; empty: none is sent. */
	char response_info[128];
};

/* Defaults: loopback port 1883, one loop per CPU, limits as documented in
 * docs/configuration.md. */
void rmq_config_defaults(struct rmq_config *cfg);

struct rmq_worker;
struct rmq_registry;
struct rmq_retain;
struct rmq_cluster_hooks;

struct rmq_broker {
	struct rmq_config cfg;
	const struct rmq_loop_ops *ops;
	struct rmq_worker *workers[RMQ_MAX_WORKERS];
	unsigned nworkers;
	pthread_t threads[RMQ_MAX_WORKERS];
	struct rmq_index *index;
	struct rmq_registry *registry;
	struct rmq_retain *retain;
	atomic_uint connections;
	atomic_int ready; /* listeners open: /readyz says so */
	double start_time_unix;
	void *admin; /* the NNG HTTP server, when running */
	const struct rmq_cluster_hooks *cluster; /* cluster.h; NULL: one node */
	uint64_t start_ms; /* monotonic, for $SYS uptime */
	/* $SYS state, touched by worker 0 only. */
	uint64_t sys_next_ms, sys_last_ms;
	uint64_t sys_prev_in, sys_prev_out, sys_prev_bin, sys_prev_bout;
	int listen_fds[RMQ_MAX_WORKERS][RMQ_MAX_LISTENERS];
	uint16_t bound_ports[RMQ_MAX_LISTENERS]; /* actual, when port 0 */
	/* New connections go to the loop of their CPU (placement.h). */
	int by_cpu;
};

/* Create the node: index, registry, workers and their listening sockets
 * (one per worker per listener, SO_REUSEPORT).  Nothing runs yet.
 * Returns 0 or a negative errno, with a message on stderr. */
int rmq_broker_init(struct rmq_broker *b, const struct rmq_config *cfg);

/* Apply the reloadable part of cfg (limits, logging; docs/configuration.md
 * says which keys) to the running node: each worker takes its copy on its
 * own thread.  Writes to *changed_restart the name of a key that differs
 * but needs a restart, or NULL.  Main thread. */
void rmq_broker_reload(struct rmq_broker *b, const struct rmq_config *cfg,
    const char **needs_restart);

/* Start one thread per worker loop. */
int rmq_broker_start(struct rmq_broker *b);

/* Ask every loop to close its connections and stop; wait for them. */
void rmq_broker_stop(struct rmq_broker *b);

void rmq_broker_fini(struct rmq_broker *b);

#endif
