/* core/msg.h: the immutable, reference-counted application message.
 *
 * One allocation holds a published message in wire form: the topic with
 * its length prefix, the properties every copy carries, and the payload.
 * Both the 3.x and the 5.0 shared encodings point into it (3.x simply has
 * no properties), so a message is encoded once when it is received and
 * every subscriber's copy is a few header bytes plus iovecs into it.
 * Loops share messages: the reference count is atomic, taken once per
 * batch of deliveries rather than once per subscriber where possible.
 */
#ifndef RMQ_MSG_H
#define RMQ_MSG_H

#include <stdatomic.h>
#include <stdint.h>

#include "codec.h"

struct rmq_msg {
	atomic_uint refs;
	uint8_t qos; /* as published */
	uint8_t retain; /* as published */
	uint8_t has_expiry;
	uint8_t from_peer; /* forwarded by another node: local delivery only */
	uint64_t expire_ms; /* monotonic deadline when has_expiry */
	uint64_t origin; /* publisher's session key, for No Local */
	uint64_t born_us; /* the loop's wake_us when it was read, for the
			   * latency histogram; 0: not measured (wills,
			   * $SYS) */
	uint64_t disk_id; /* its id in the data directory when kept for a
			   * persistent session; 0: not kept.  Set by the
			   * worker that routes it, before it is shared */
	uint64_t stamp; /* a retained message's order among the cluster's
			 * changes of its topic (broker/cluster.h); 0: none */
	uint64_t xid; /* its identity among the messages of the node it was
		       * published on, given when that node first forwards
		       * it (the worker's, before it is shared), carried to
		       * the peers; 0: never forwarded */
	/* A peer's message: the shared subscriptions whose turn on this
	 * node it is, as rmq_msg_groups_encode writes them; malloc'd,
	 * freed with the message.  NULL: none. */
	uint8_t *groups;
	uint32_t size; /* bytes held, for queue limits */
	struct rmq_str topic;
	struct rmq_str payload;
	struct rmq_pub_shared v3; /* 3.1 and 3.1.1 */
	struct rmq_pub_shared v5;
	uint8_t data[];
};

/* Build a message from a decoded PUBLISH (or will): copies topic, shared
 * properties and payload once.  now_ms anchors the Message Expiry
 * Interval.  Returns NULL when out of memory.  One reference. */
struct rmq_msg *
rmq_msg_new(const struct rmq_publish *pub, uint64_t origin, uint64_t now_ms);

/* The same message from its parts in their shared form already: topic a
 * valid topic name (not checked here), props the block of its shared
 * properties (without its length; checked by the caller), as a stored or
 * forwarded message carries them.  No encoding, one copy; no expiry
 * (the caller sets has_expiry and expire_ms).  NULL when out of memory or
 * past MQTT's bounds.  One reference. */
struct rmq_msg *
rmq_msg_new_shared(uint8_t qos, uint8_t retain, struct rmq_str topic,
    const uint8_t *props, uint32_t props_len, struct rmq_str payload);

/* Whether p[0..len) is a block of a message's shared properties, as
 * rmq_msg_new_shared takes it: well-formed PUBLISH properties without
 * those that differ per subscriber or per hop (Topic Alias, Subscription
 * Identifier, Message Expiry Interval).  0, or -1. */
int rmq_msg_props_check(const uint8_t *p, uint32_t len);

static inline void
rmq_msg_hold(struct rmq_msg *m, unsigned n)
{
	atomic_fetch_add_explicit(&m->refs, n, memory_order_relaxed);
}

void rmq_msg_rele(struct rmq_msg *m);

/* Shared subscriptions ($share/{group}/{filter}) named with a message,
 * in bytes: count(2), then each as len(2) and its bytes, big-endian.
 * rmq_msg_groups_size: what n filters take (0 for none: nothing is
 * written); _encode writes them at buf.  rmq_msg_groups_check: the length
 * of a well-formed list at the start of p (len bytes), or 0. */
size_t rmq_msg_groups_size(const struct rmq_str *g, uint32_t n);
void rmq_msg_groups_encode(const struct rmq_str *g, uint32_t n, uint8_t *buf);
size_t rmq_msg_groups_check(const uint8_t *p, size_t len);

/* Whether m->groups names filter. */
int rmq_msg_has_group(const struct rmq_msg *m, const char *filter, size_t len);

/* The shared encoding for a protocol version. */
static inline const struct rmq_pub_shared *
rmq_msg_shared(const struct rmq_msg *m, uint8_t version)
{
	return version >= RMQ_V5 ? &m->v5 : &m->v3;
}

/* Whether the message has expired by now_ms. */
static inline int
rmq_msg_expired(const struct rmq_msg *m, uint64_t now_ms)
{
	return m->has_expiry && now_ms >= m->expire_ms;
}

/* Seconds of expiry left, rounded up, for the copy sent now. */
uint32_t rmq_msg_expiry_left(const struct rmq_msg *m, uint64_t now_ms);

#endif
