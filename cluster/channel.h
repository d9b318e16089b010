/* cluster/channel.h: the point-to-point channel that carries forwarded
 * messages between nodes, beside the bus.
 *
 * The bus reaches every member at once, which suits hellos and route
 * changes; a message must go only to the nodes whose routes it matched,
 * once each.  So each node listens on a second port with an NNG pull
 * socket (the port named in its hellos), and keeps one push socket
 * dialled to each member's.  Over them travel the batches of the streams
 * (forward.h), from the worker that routed them, and the
 * acknowledgements, from the receiving node's channel thread.  Beside the
 * workers' streams each pair of nodes has a control stream, as reliable
 * and ordered, for the route changes and snapshots of routes.h: so a
 * change is never lost on the way and comes after the snapshot it
 * follows.
 *
 * Threads: the workers fill and send their streams (the forward and flush
 * hooks of broker/cluster.h), never waiting: a send the socket does not
 * take waits in the stream.  The channel's own thread reads the pull
 * socket, hands batches to the broker's workers, acknowledges them, takes
 * acknowledgements and sends again what waits.  The bus's thread tells it
 * of members (rmq_channel_peer, rmq_channel_down).
 */
#ifndef RMQ_CLUSTER_CHANNEL_H
#define RMQ_CLUSTER_CHANNEL_H

#include <nng/nng.h>
#include <stddef.h>
#include <stdint.h>

struct rmq_broker;
struct rmq_msg;
struct rmq_str;
struct rmq_channel;

#define RMQ_CHANNEL_RESEND_MS 500 /* no acknowledgement for this: resend */

/* The monotonic clock in milliseconds, as every part of cluster/ reads
 * it. */
uint64_t rmq_cluster_now_ms(void);

/* What the control stream brings: one record a peer (member `number`)
 * sent with rmq_channel_control, on the channel's thread, which is
 * registered with liburcu-qsbr and offline. */
typedef void (*rmq_channel_control_fn)(void *arg, uint32_t number,
    const uint8_t *p, size_t len);

/* A channel for node `self` at `epoch`; queue_bytes bounds what waits for
 * one peer (shared evenly among the workers' streams to it, and as much
 * again for its control stream).  NULL when out of memory. */
struct rmq_channel *
rmq_channel_new(struct rmq_broker *b, const char *self, uint64_t epoch,
    size_t queue_bytes, rmq_channel_control_fn control, void *control_arg);

/* Listen on host (""/"*": every address) at port (0: any free one), with
 * TLS when tls is given (it lives as long as the channel, and peers are
 * dialled with it), start the thread.  0, or -1 with the reason in err. */
struct rmq_nng_tls;
int rmq_channel_start(struct rmq_channel *ch, const char *host, uint16_t port,
    const struct rmq_nng_tls *tls, char *err, size_t errlen);

uint16_t rmq_channel_port(const struct rmq_channel *ch);

/* After rmq_channel_start: the workers' streams go on links (link.h) to
 * the peers that take them, listened for on host at port (0: any free
 * one).  Plain TCP only.  0, or -1 with the reason in err. */
int rmq_channel_links(struct rmq_channel *ch, const char *host, uint16_t port,
    char *err, size_t errlen);

/* The port links are taken on; 0 with links off. */
uint16_t rmq_channel_link_port(const struct rmq_channel *ch);

/* The bus's thread: member `number` (1..) called `name` is up at `epoch`,
 * its channel at url (tcp://HOST:PORT).  Dials it, or again elsewhere when
 * the url changed; a new epoch starts the streams to it over.  lport: the
 * port it takes links on (link.h; 0: none, its worker streams go over
 * NNG). */
void rmq_channel_peer(struct rmq_channel *ch, uint32_t number, const char *name,
    uint64_t epoch, const char *url, uint16_t lport);

/* The bus's thread: member `number` is down.  What waits for it stays
 * (bounded) for its return at the same epoch. */
void rmq_channel_down(struct rmq_channel *ch, uint32_t number);

/* Send a record on the control stream to member `number`, or to every
 * member up when number is 0: reliable and in order, like the messages,
 * for the routes (routes.h).  Any thread; never waits.  0, or -ENOSPC
 * when a peer's control stream is at its bound (the record is not sent to
 * it; counted). */
int rmq_channel_control(struct rmq_channel *ch, uint32_t number,
    const uint8_t *p, size_t len);

/* n records at once, in one batch per peer (a snapshot's many). */
int rmq_channel_control_n(struct rmq_channel *ch, uint32_t number,
    const uint8_t *const *p, const size_t *len, unsigned n);

/* The same with a tag: once the peer acknowledges the batch (it has
 * applied the records), rmq_channel_applied counts the tag for it.
 * Tags from one node only grow (its route changes' numbers). */
int rmq_channel_control_tagged(struct rmq_channel *ch, uint32_t number,
    const uint8_t *const *p, const size_t *len, unsigned n, uint64_t tag);

/* A record for every peer up, put in its open control batch with tag
 * rather than sealed into a batch of its own: the records of a worker's
 * turn (its route changes) cross as one batch, sealed by
 * rmq_channel_control_seal at the turn's end, or at once when the batch
 * is full, or by the next record sent with rmq_channel_control*, which
 * joins the same batch after them.  Order is kept: every record of a
 * peer's stream goes through one buffer.  The channel's thread seals what
 * is left open at its next pump (at most a second later).  0, or -ENOSPC
 * as rmq_channel_control. */
int rmq_channel_control_defer(struct rmq_channel *ch, const uint8_t *p,
    size_t len, uint64_t tag);
void rmq_channel_control_seal(struct rmq_channel *ch);

/* A tag with this bit is a snapshot's last part: the peer holds every
 * change up to the number in the other bits.  Until a peer has
 * acknowledged one (for its life), its other tags do not count: a change
 * it took before holding a snapshot was not applied. */
#define RMQ_CHANNEL_TAG_SNAPSHOT (1ull << 63)

/* A number unique in the cluster for member `number` (0: this node):
 * its name and epoch hashed.  Any thread. */
uint64_t rmq_channel_uid(struct rmq_channel *ch, uint32_t number);

/* Peers up that have not acknowledged all this node sent them (messages
 * or control records): what a node that stops waits for.  Any thread. */
unsigned rmq_channel_unacked(struct rmq_channel *ch);

/* The peers up now, as bits (number - 1) of mask (RMQ_MEMBERS_MAX bits);
 * returns how many.  Any thread. */
unsigned rmq_channel_up(struct rmq_channel *ch, uint64_t *mask);

/* For member `number`: the bytes waiting for it (not sent, or not
 * acknowledged: messages and control records), and the highest tag it
 * acknowledged.  Any thread. */
uint64_t rmq_channel_peer_queued(struct rmq_channel *ch, uint32_t number);
uint64_t rmq_channel_peer_applied(struct rmq_channel *ch, uint32_t number);

/* The lowest of the highest tags every peer up has acknowledged (and
 * applied: after a snapshot); UINT64_MAX with none up.  Any thread. */
uint64_t rmq_channel_applied(struct rmq_channel *ch);

/* Fences: what lets a node tell that the peers will send it nothing
 * more that they routed on an index older than now.  rmq_channel_fence
 * asks every peer up for one and returns its number; a peer passes it
 * once each of its workers has ended the turn it was in when the fence
 * came, and this node has acknowledged every batch they sealed for it by
 * then; rmq_channel_fenced says whether every peer up has passed f
 * (asking the peers met since, or back, again).  A session that moved
 * away ends then (bus.c): a peer's message routed before the session's
 * new routes were in its index has reached the session's old node.
 * Either call: any thread. */
uint64_t rmq_channel_fence(struct rmq_channel *ch);
int rmq_channel_fenced(struct rmq_channel *ch, uint64_t f);

/* The hooks (broker/cluster.h), on worker `worker`'s thread.  forward:
 * 0 when m is in the stream, -ENOSPC past its bound, -ENOMEM.  Each
 * flush is a turn of the worker's, numbered 1, 2, ...: its batches carry
 * that number as their tag.  sent: the number of the turn under way;
 * taken: the highest every peer up has taken all of. */
int
rmq_channel_forward(struct rmq_channel *ch, unsigned worker, uint32_t number,
    const struct rmq_msg *m, const struct rmq_str *groups, uint32_t ngroups);
void rmq_channel_flush(struct rmq_channel *ch, unsigned worker);
uint64_t rmq_channel_sent(const struct rmq_channel *ch, unsigned worker);
uint64_t rmq_channel_taken(struct rmq_channel *ch, unsigned worker);

/* The channel's metrics in Prometheus text (the admin server's thread);
 * put as cluster.h's metrics hook gives it. */
void rmq_channel_metrics(struct rmq_channel *ch,
    void (*put)(void *arg, const char *text, size_t len), void *arg);

/* Stop the thread and close the sockets, with the caller's `also` (the
 * bus), all at once, waiting a bounded time; the hooks send nothing
 * after.  Returns how many sockets did not close in time (then nothing
 * of the channel may be freed: rmq_nng_close_all). */
unsigned rmq_channel_stop(struct rmq_channel *ch, const nng_socket *also,
    unsigned nalso);

/* After the broker's workers have stopped. */
void rmq_channel_free(struct rmq_channel *ch);

#endif
