/* broker/mqtt/worker.h: the broker's state on one worker loop, as the
 * layers above mqtt/ (ops/, the node's start and stop) see it: its
 * counters, its loop, making and freeing it, reconfiguring it, and
 * routing a message from it.  What only mqtt/ touches (the inbox's
 * messages, the slot table's use, the flush list) is in worker_impl.h.
 *
 * A worker owns a shard of the sessions (a slot table, so that keys from
 * other workers can be checked without touching freed memory), the list of
 * sessions with output to flush at the end of the turn, the batches of
 * deliveries bound for each other worker, and its counters.  Other workers
 * reach it only through its inbox, a wait-free multi-producer queue
 * (liburcu's wfcqueue) drained once per turn, with one wake-up per batch.
 */
#ifndef RMQ_WORKER_H
#define RMQ_WORKER_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <urcu/wfcqueue.h>

#include "node.h"

struct rmq_session;
struct rmq_linger;
struct rmq_inbox_msg;
struct rmq_msg;
struct rmq_cluster_conn;

/* A worker is a bit of a 64-bit mask (outmask) and the top byte of a
 * session key (session.h), below the cluster's flag bit (cluster.h). */
_Static_assert(RMQ_MAX_WORKERS <= 64, "outmask has one bit per worker");
_Static_assert(RMQ_MAX_LISTENERS <= 255, "a listener index is a uint8_t");
_Static_assert(RMQ_MAX_INFLIGHT <= 65535, "the window's size is a uint16_t");

#define RMQ_LAT_BUCKETS 20

/* Per-worker counters (counter.h): written only by the worker's thread,
 * or by a loop that borrowed it (never both at once: loop.h), summed by
 * the metrics scrape. */
struct rmq_worker_stats {
	rmq_counter bytes_in, bytes_out;
	rmq_counter dropped_queue_full, dropped_expired, dropped_too_large;
	rmq_counter dropped_moved_twice; /* a copy of what a move brought */
	rmq_counter subscriptions_refused; /* past max_subscriptions */
	rmq_counter publish_rate_refused; /* past max_publish_rate */
	/* Refused over memory_limit (node.h mem_over). */
	rmq_counter mem_refused_connect, mem_refused_publish,
	    mem_refused_subscribe;
	rmq_counter retained_refused; /* past max_retained_messages, _bytes */
	rmq_counter sessions_refused; /* past max_sessions */
	rmq_counter connects, disconnects;
	rmq_counter refused_max_connections; /* closed at accept */
	rmq_counter auth_failures;
	rmq_counter acl_denied; /* reads, writes, subscriptions refused */
	/* CONNECTs refused with a CONNACK, by 5.0 reason code (a 3.x
	 * client's return code is counted under the code it stands for). */
	rmq_counter refused[256];
	/* Connections closed for a packet against the protocol, by the
	 * reason code the broker gave (0x81, 0x82, 0x95, ...). */
	rmq_counter protocol_errors[256];
	rmq_counter sessions; /* a gauge: sessions in the slot table */
	/* Packets by type, both ways (pkts_*[RMQ_PUBLISH] are the messages);
	 * PUBLISH by QoS. */
	rmq_counter pkts_in[16], pkts_out[16];
	rmq_counter msgs_in_qos[3], msgs_out_qos[3];
	/* Gauges kept as sums of +1/-1 over the workers (a connection may
	 * be counted in on one worker and out on another; the sum is right
	 * modulo 2^64). */
	rmq_counter clients[3]; /* connected, by 3.1, 3.1.1, 5.0 */
	rmq_counter listener_conns[RMQ_MAX_LISTENERS];
	rmq_counter listener_accepts[RMQ_MAX_LISTENERS];
	/* Sampled at each tick from the sessions of this worker. */
	rmq_counter queued, inflight;
	rmq_counter sessions_offline, sessions_persistent;
	/* Publish to delivery latency (msg.h born_us to the write). */
	rmq_counter lat_bucket[RMQ_LAT_BUCKETS];
	rmq_counter lat_sum_us;
	/* Delivery batches for another worker, counted by the sender:
	 * queued to its inbox (and woken if asleep), or run in place on
	 * the sender's thread because the receiver slept (lent). */
	rmq_counter handoffs_queued, handoffs_lent;
	/* New connections passed to a less loaded loop (placement.h). */
	rmq_counter accepts_passed;
	/* Connections read to their end before the close (linger.h): how
	 * many began to, how many are now (a gauge, +1/-1), how many were
	 * closed at the deadline rather than at the client's end, and the
	 * bytes thrown away meanwhile. */
	rmq_counter lingered, lingering, linger_timeouts, linger_discarded;
	/* Acknowledgements held for the disk (durable.c): how many, and how
	 * many went out 0x97 because their change did not reach it. */
	rmq_counter acks_held, acks_failed;
	rmq_counter suback_waits, suback_wait_expired;
	rmq_counter cluster_ack_waits, cluster_ack_refused;
	rmq_counter kept; /* messages put on disk for a session */
	rmq_counter kept_failed; /* queue changes lost to no memory */
};

/* Upper bounds of the latency buckets, microseconds (the last one is
 * +Inf). */
extern const uint64_t rmq_lat_bounds_us[RMQ_LAT_BUCKETS - 1];

/* A listening socket's context: which worker, which configured listener. */
struct rmq_worker_listener {
	struct rmq_worker *w;
	const struct rmq_transport *tp; /* its layers (conn.h); NULL: none */
	uint8_t idx;
};

struct rmq_worker {
	struct rmq_broker *b;
	/* This worker's copy of the configuration: replaced on its own
	 * thread at a reload, so reading it needs no lock. */
	struct rmq_config cfg;
	struct rmq_loop *loop;
	unsigned id;
	int arena; /* its own jemalloc arena (arena.h), 0 if none; atomic */
	int cpu; /* the CPU it is pinned to (affinity.h), -1 if none */
	/* Connections other loops passed here and this one has not opened
	 * yet: counted with its open ones when placing (placement.h). */
	_Atomic uint32_t incoming;
	/* Persistent sessions the drain disconnected that are still here
	 * (rmq_broker_drain); written by this worker alone. */
	_Atomic uint64_t drained_left;

	struct rmq_session **table;
	uint32_t table_cap, table_used;
	uint32_t *free_slots; /* a stack, grown as slots are freed */
	uint32_t nfree, free_cap;
	uint32_t gen;

	/* Sessions with output to flush this turn, first marked first. */
	struct rmq_session *dirty, **dirty_tail;

	/* Connections read to their end before they close (linger.h),
	 * oldest first; once the worker stops, none past linger_stop_at. */
	struct rmq_linger *linger_head, *linger_tail;
	uint64_t linger_stop_at;

	struct cds_wfcq_head inbox_head;
	struct cds_wfcq_tail inbox_tail;
	struct rmq_inbox_msg *out[RMQ_MAX_WORKERS]; /* deliveries to send */
	uint64_t outmask;
	uint8_t forwarded; /* this turn called the cluster's forward or filter
			    * hook: its flush is due at the turn's end */
	/* The message being routed: nodes it went to, and nodes it did
	 * not reach (their queue full). */
	uint32_t route_fwd, route_fwd_lost;

	/* Scratch for routing: the subscriptions one message matched. */
	struct rmq_match {
		uint64_t owner;
		uint32_t subid;
		uint8_t qos;
		uint8_t flags;
	} * matches;
	uint32_t nmatch, match_cap;
	/* The message being routed, and the shared groups whose turn fell
	 * to another node (its owner key, the group's whole filter, valid
	 * for the routing), gathered per node into pick_groups. */
	const struct rmq_msg *routing;
	struct rmq_pick {
		uint64_t owner;
		struct rmq_str group;
	} * picks;
	uint32_t npick, pick_cap;
	struct rmq_str *pick_groups;
	uint32_t pick_groups_cap;

	/* Acknowledgements waiting for the data directory's writer
	 * (durable.c), oldest first: entries [acks_head, acks_len) of acks;
	 * disk_wait is set while there are any, for the writer to wake the
	 * loop when it commits. */
	struct rmq_held_ack {
		uint64_t key; /* the session */
		uint64_t gen; /* the writer's generation it waits for */
		/* The cluster's token it waits for (cluster.h's applied),
		 * 0: none; sent anyway at until_ms. */
		uint64_t cluster, until_ms;
		/* The forward token it waits for (cluster.h's taken), 0:
		 * none. */
		uint64_t fwd;
		uint32_t epoch; /* the session's connection (acks_epoch) */
		uint16_t packet_id;
		uint8_t type; /* RMQ_PUBACK, PUBREC, SUBACK or UNSUBACK */
		uint8_t reason;
		/* SUBACK, UNSUBACK: the count, then the codes (malloc'd). */
		uint8_t *codes;
	} * acks;
	uint32_t acks_head, acks_len, acks_cap;
	atomic_int disk_wait;
	atomic_int cluster_wait; /* an acknowledgement waits for peers */
	/* This turn's changes to the queues the data directory keeps
	 * (store/persist.h), handed to the writer at the turn's end. */
	struct rmq_qchange *dq;
	uint32_t dq_n, dq_cap;

	/* The cluster's connections to peers on this loop (cluster.h),
	 * closed when the worker stops. */
	struct rmq_cluster_conn *cconns;

	struct rmq_worker_stats st;
	struct rmq_worker_listener listeners[RMQ_MAX_LISTENERS];
	uint64_t turn_us; /* clock when this turn's output is written */
};

/* A counter of struct rmq_worker_stats (its offsetof) summed over the
 * workers: what /metrics and $SYS report.  Any thread. */
uint64_t rmq_workers_sum(struct rmq_broker *b, size_t offset);

#define RMQ_STAT(field) offsetof(struct rmq_worker_stats, field)

/* Why a message is not delivered to a session, and its counter in
 * struct rmq_worker_stats (an offset): the reasons /metrics and the
 * stop's log line name. */
struct rmq_drop_reason {
	const char *why;
	size_t at;
};
#define RMQ_DROP_REASONS 4
extern const struct rmq_drop_reason rmq_drop_reasons[RMQ_DROP_REASONS];

/* Once the workers have stopped: the messages dropped for sessions since
 * the start, by reason, in the log (a warning), when there are any.  A
 * stopping node's counters leave with it; its log line stays. */
void rmq_workers_log_dropped(struct rmq_broker *b);

int rmq_worker_new(struct rmq_broker *b, unsigned id, struct rmq_worker **out);

void rmq_worker_free(struct rmq_worker *w);

/* A connection that came in on `listener` is gone (closed, or failed to
 * start): the connection counts go down. */
void rmq_worker_conn_gone(struct rmq_worker *w, uint8_t listener);

/* A new connection accepted on this worker; arg is the
 * rmq_worker_listener it came in on. */
void rmq_worker_accept(struct rmq_loop *loop, int fd, void *arg);

/* Give worker w a reloaded configuration: posted to its inbox, taken on
 * its own thread.  Returns 0 or -ENOMEM (w keeps the one it has).  Any
 * thread. */
int rmq_worker_reconfigure(struct rmq_worker *w, const struct rmq_config *cfg);

/* The data directory's writer committed generation gen (ok: it reached
 * the disk): wake the loops that hold acknowledgements for it
 * (durable.c).  The writer's thread. */
void rmq_broker_disk_committed(void *ctx, uint64_t gen, int ok);

/* A persistent session read back from the data directory, made here
 * offline with its subscriptions, to expire in left_ms (UINT64_MAX:
 * never), under `key` when it is nonzero (the key it had, so that the
 * entries of its queue find it; -EEXIST when that slot is taken), else a
 * new one; *out is the key it got.  Before the loops run.  Returns 0 or a
 * negative errno. */
struct rmq_record_session;
int rmq_worker_restore_session(struct rmq_worker *w,
    const struct rmq_record_session *r, uint64_t left_ms, uint64_t key,
    uint64_t *out);

/* A message queued for (or in flight to) session key, read back: into
 * its queue, or its window when it was in flight as QoS 2.  Returns 0,
 * -ENOENT (no such session) or -ENOMEM. */
struct rmq_record_queued;
int rmq_worker_restore_queued(struct rmq_worker *w, uint64_t key,
    struct rmq_msg *m, const struct rmq_record_queued *q);

/* A QoS 2 packet id session key had received and not seen released. */
int rmq_worker_restore_q2in(struct rmq_worker *w, uint64_t key, uint16_t pid);

/* The restore is over: slots left empty between restored ones are
 * free for new sessions. */
void rmq_worker_restore_done(struct rmq_worker *w);

/* The worker a session key belongs to. */
unsigned rmq_key_worker(uint64_t key);

/* Hand this turn's queue changes to the writer and give the
 * acknowledgements waiting on them their generation (durable.c). */
void rmq_worker_disk_flush(struct rmq_worker *w);

/* Route a message to every matching subscription in the node, from
 * worker w's thread (a publish, a will, $SYS).  The caller keeps its
 * reference. */
void rmq_route(struct rmq_worker *w, struct rmq_msg *m);

#endif
