/* cluster/link.h: links, the TCP connections that carry the workers'
 * streams between nodes on the worker loops themselves.
 *
 * Over NNG a forwarded batch crossed NNG's threads on both nodes and the
 * channel's thread before a worker routed it, and each handover was a
 * futex wake (docs/clustering.md, "The data path").  A link takes those
 * threads out: worker w of the sending node writes its stream to a peer on
 * a connection its own loop carries, and on the receiving node the worker
 * the stream maps to reads it, routes its messages and writes the
 * acknowledgement back on the same connection.  The streams themselves,
 * their numbering, resends and bounds, are forward.h's, unchanged; a
 * link is only their transport, and the control stream stays on NNG.
 *
 * Connections: each worker's stream to a peer has one, dialled by this
 * node's links thread to the port the peer's hellos name and handed to
 * the worker; the peer's links thread accepts it, reads its hello and
 * hands it to the worker the stream maps to.  That thread never carries
 * a byte of a batch.  A link that breaks is dialled again (200 ms, then
 * twice as long up to 2 s while it fails), and what its stream had not
 * had acknowledged goes again on the new one.
 *
 * On the wire, integers big-endian, first from the dialling side:
 *   'R' 'L' version(1)  name_len(1) name  epoch(8)  to_epoch(8)  worker(1)
 * then in both directions frames: len(4) message, a message being a batch
 * or an acknowledgement of forward.h (batches from the dialling side,
 * acknowledgements back).
 */
#ifndef RMQ_CLUSTER_LINK_H
#define RMQ_CLUSTER_LINK_H

#include <stddef.h>
#include <stdint.h>

struct rmq_channel;
struct rmq_links;
struct rmq_link;
struct peer;

#define RMQ_LINK_HELLO_MAX (3 + 1 + 255 + 8 + 8 + 1)
/* Bytes a link holds to write before its stream waits (the rest stays
 * in the stream, bounded there). */
#define RMQ_LINK_OUT_MAX (512u * 1024)

/* A link hello into buf (RMQ_LINK_HELLO_MAX): its length, 0 when the name
 * is too long. */
size_t rmq_link_hello_encode(uint8_t *buf, const char *name, uint64_t epoch,
    uint64_t to_epoch, uint8_t worker);

/* A hello from p[0..len): the bytes it takes (0: more are needed, -1:
 * not a hello). */
int rmq_link_hello_decode(const uint8_t *p, size_t len, char *name,
    size_t name_cap, uint64_t *epoch, uint64_t *to_epoch, uint8_t *worker);

/* The largest frame: a batch holding one message of MQTT's largest. */
#define RMQ_LINK_FRAME_MAX (268435455u + 64 + 12u * 1024 + 4096)

/* The frame at p[0..len): 1 with its message's length in *flen (the
 * message at p + 4), 0 when more bytes are needed (*flen set once its
 * four bytes of length are there), -1 when it is no
 * frame a link sends (a length past RMQ_LINK_FRAME_MAX, a message neither
 * a batch nor an acknowledgement). */
int rmq_link_frame(const uint8_t *p, size_t len, size_t *flen);

/* A link's reading side: the frame a read began and the next must end.
 * A batch is often longer than one read brings, so frames are taken
 * where they lie whole in what was read, and only a frame cut by the end
 * of a read is copied here, and then only until it is whole. */
struct rmq_link_in {
	uint8_t *p;
	size_t len;
	uint32_t cap;
	uint64_t copied; /* bytes copied into p so far */
};

/* Each whole frame's message to take (the frame without its length); a
 * take that returns 1 stops the feed (the link closed), -1 refuses the
 * frame. */
typedef int (*rmq_link_take_fn)(void *arg, const uint8_t *msg, size_t len);

/* The n bytes a read brought at p, after those of reads before.  Returns
 * 0, -1 for a frame no link sends (rmq_link_frame, or refused by take)
 * or -2 out of memory. */
int rmq_link_in_feed(struct rmq_link_in *in, const uint8_t *p, size_t n,
    rmq_link_take_fn take, void *arg);

void rmq_link_in_free(struct rmq_link_in *in);

/* The links of channel ch, listening on host at port (0: any free one).
 * NULL with err set when it cannot listen. */
struct rmq_links *rmq_links_start(struct rmq_channel *ch, const char *host,
    uint16_t port, char *err, size_t errlen);

uint16_t rmq_links_port(const struct rmq_links *ls);

/* Stop the thread and close the listener and the connections not yet
 * handed to a worker (those are the workers' to close as they stop). */
void rmq_links_stop(struct rmq_links *ls);

/* After the workers have stopped. */
void rmq_links_free(struct rmq_links *ls);

/* A peer was met, moved or is back, or a link closed: the thread looks
 * for links to dial now rather than at its next tick.  Any thread. */
void rmq_links_wake(struct rmq_links *ls);

/* The channel's thread: worker w's stream to pe waits (batches not
 * acknowledged): that worker sends what is due on its link, and gives up
 * a link that has carried nothing for the stall time.  Any thread. */
void rmq_link_nudge(struct rmq_channel *ch, struct peer *pe, unsigned w);

/* rmq_fwd_pump of st onto link l (NULL: none up, nothing sent), the link
 * kept alive through it.  Worker w's thread, under the stream's lock. */
struct rmq_fwd_stream;
void
rmq_link_pump(struct rmq_link *l, struct rmq_fwd_stream *st, uint64_t now_ms);

/* Metrics of the links, in Prometheus text. */
void rmq_links_metrics(struct rmq_links *ls,
    void (*put)(void *arg, const char *text, size_t len), void *arg);

#endif
