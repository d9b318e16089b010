/* cluster/bus.h: this node as a member of a cluster: the NNG bus it
 * speaks on, the peers it dials (seeds, names from DNS, members others
 * told of), the hellos it sends and reads, and what it tells the broker
 * and its operators (cluster.h's hooks: metrics; log lines).
 *
 * One thread of its own runs it; NNG does the I/O on its own threads.
 * Nothing here runs on a worker loop, so a slow or dead peer never stalls
 * one.  A node without a cluster listener has none of this.
 */
#ifndef RMQ_CLUSTER_BUS_H
#define RMQ_CLUSTER_BUS_H

#include <stddef.h>
#include <stdint.h>

struct rmq_broker;
struct rmq_cluster_node;

struct rmq_cluster_conf {
	char name[64]; /* this node's name; "" for the host name */
	char listen_host[64]; /* "" or "*": every address */
	uint16_t listen_port; /* 0: any free port (tests) */
	char advertise[64]; /* the host peers dial; "": the address they see */
	char seeds[512]; /* HOST:PORT[,HOST:PORT...] */
	char dns[256]; /* NAME:PORT, resolved again every dns_interval_ms */
	uint32_t peer_timeout_ms; /* silence before a peer is down */
	uint32_t dns_interval_ms;
	/* The channel forwarded messages travel on (channel.h): its port, 0
	 * for listen_port + 1 (any free port when listen_port is 0), and
	 * the bytes that may wait for one peer. */
	uint16_t forward_port;
	size_t forward_queue;
	/* Links (link.h): on or off, and their port (0: the channel's + 1,
	 * any free one when listen_port is 0).  Off with TLS. */
	int links;
	uint16_t link_port;
	/* TLS between nodes (sock.h): the three files, or none. */
	char tls_cert[256], tls_key[256], tls_ca[256];
	char tls_peer_name[128];
};

/* The node, its hooks attached to b (before rmq_broker_start).  0, or -1
 * with the reason in err. */
int rmq_cluster_node_new(struct rmq_broker *b, const struct rmq_cluster_conf *c,
    struct rmq_cluster_node **out, char *err, size_t errlen);

/* Listen, dial the seeds, start the thread.  0, or -1 with the reason in
 * err (the listener's address taken, say). */
int
rmq_cluster_node_start(struct rmq_cluster_node *n, char *err, size_t errlen);

/* The port the cluster listener is bound to (after start). */
uint16_t rmq_cluster_node_port(const struct rmq_cluster_node *n);

/* A node that stops on purpose says so to every peer up, on its control
 * streams after what it sent before, and sends no more hellos: they take
 * it down at once rather than after a peer timeout of silence.  The wait
 * for their acknowledgements is rmq_cluster_node_moving's.  Any thread. */
void rmq_cluster_node_leave(struct rmq_cluster_node *n);

/* What a node that drains waits for: session moves under way with it at
 * either end (claims.h), and peers that have not acknowledged all it
 * sent them.  Any thread. */
unsigned rmq_cluster_node_moving(struct rmq_cluster_node *n);

/* Stop the thread and close the bus: peers see this node go silent. */
void rmq_cluster_node_stop(struct rmq_cluster_node *n);

/* After the stop: whether some of NNG's sockets did not close in time
 * (its threads are wedged: NNG 1.5.2's reaper can hang on a close).
 * Then NNG is not to be waited on again (the admin server's stop), the
 * free leaves the node's memory to the exit, and the process ends with
 * _exit once its own state is on disk. */
int rmq_cluster_node_wedged(const struct rmq_cluster_node *n);

void rmq_cluster_node_free(struct rmq_cluster_node *n);

#endif
