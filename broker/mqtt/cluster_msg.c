/* broker/mqtt/cluster_msg.c: a message in the form it crosses between
 * nodes (../cluster.h), on every forwarded message and retained change.
 *
 * Kept short because it is written for each message a peer takes: a
 * flags byte, the time left before it expires (only when it can), the
 * topic after its length, the shared properties after theirs (only when
 * there are some), and the payload to the end.  So a message without
 * expiry or properties and with a topic under 128 bytes takes two bytes
 * besides its topic and payload.  Lengths are MQTT's Variable Byte
 * Integers (core/wire.h), the time left 8 bytes big-endian in
 * milliseconds (relative, so the nodes' clocks need not agree).
 */
#include <errno.h>
#include <string.h>

#include "cluster.h"
#include "loop.h"
#include "msg.h"
#include "packet.h"
#include "topic.h"
#include "wire.h"

#define QOS_MASK 0x03
#define RETAIN 0x04
#define EXPIRY 0x08
#define PROPS 0x10
#define EXPIRY_MAX_MS (0xFFFFFFFFull * 1000u) /* MQTT's interval, in ms */

size_t
rmq_cluster_msg_size(const struct rmq_msg *m)
{
	/* The clock only for a message that can expire (few do). */
	if (m->has_expiry && rmq_msg_expired(m, rmq_loop_clock_ms()))
		return 0;
	uint32_t plen = m->v5.props_len;
	return 1 + (m->has_expiry ? 8 : 0) + rmq_varint_size(m->topic.len) +
	    m->topic.len + (plen ? rmq_varint_size(plen) + plen : 0) +
	    m->payload.len;
}

void
rmq_cluster_msg_encode(const struct rmq_msg *m, uint8_t *buf)
{
	uint32_t plen = m->v5.props_len;
	uint8_t *d = buf + 1;
	buf[0] = (uint8_t)((m->qos & QOS_MASK) | (m->retain ? RETAIN : 0) |
	    (m->has_expiry ? EXPIRY : 0) | (plen ? PROPS : 0));
	if (m->has_expiry) {
		uint64_t now = rmq_loop_clock_ms();
		uint64_t left = m->expire_ms > now ? m->expire_ms - now : 1;
		for (int i = 0; i < 8; i++)
			*d++ = (uint8_t)(left >> (56 - 8 * i));
	}
	d = rmq_put_varint(d, m->topic.len);
	memcpy(d, m->topic.p, m->topic.len);
	d += m->topic.len;
	if (plen) {
		d = rmq_put_varint(d, plen);
		memcpy(d, m->v5.props, plen);
		d += plen;
	}
	if (m->payload.len)
		memcpy(d, m->payload.p, m->payload.len);
}

int
rmq_cluster_msg_decode(const uint8_t *p, size_t len, uint64_t origin,
    uint64_t now_ms, struct rmq_msg **out, const char **why)
{
	*why = NULL;
	const uint8_t *end = p + len;
	if (len < 2 || (p[0] & ~(QOS_MASK | RETAIN | EXPIRY | PROPS)) ||
	    (p[0] & QOS_MASK) > 2) {
		*why = "a QoS or flag out of range";
		return -EINVAL;
	}
	uint8_t flags = *p++;
	uint64_t left_ms = 0;
	if (flags & EXPIRY) {
		if (end - p < 8) {
			*why = "cut short";
			return -EINVAL;
		}
		for (int i = 0; i < 8; i++)
			left_ms = left_ms << 8 | *p++;
		if (left_ms > EXPIRY_MAX_MS) {
			*why = "an expiry further away than MQTT allows";
			return -EINVAL;
		}
	}
	uint32_t tlen = 0, plen = 0;
	int n = rmq_varint_decode(p, (size_t)(end - p), &tlen, 1);
	if (n <= 0 || tlen == 0 || tlen > 65535 ||
	    tlen > (size_t)(end - p) - (size_t)n) {
		*why = "a topic's length that does not fit the message";
		return -EINVAL;
	}
	struct rmq_str topic = { (const char *)p + n, tlen };
	p += (size_t)n + tlen;
	const uint8_t *props = p;
	if (flags & PROPS) {
		n = rmq_varint_decode(p, (size_t)(end - p), &plen, 1);
		if (n <= 0 || plen == 0 ||
		    plen > (size_t)(end - p) - (size_t)n) {
			*why =
			    "properties' length that does not fit the message";
			return -EINVAL;
		}
		props = p + n;
		p = props + plen;
	}
	struct rmq_str payload = { (const char *)p, (uint32_t)(end - p) };
	if (2u + tlen + plen > RMQ_VARINT_MAX ||
	    (size_t)(end - p) > RMQ_VARINT_MAX) {
		*why = "past MQTT's bounds";
		return -EINVAL;
	}
	if (rmq_topic_name_check(topic.p, tlen) != 0) {
		*why = "not a valid topic name";
		return -EINVAL;
	}
	/* The block is the message's shared properties as they were
	 * encoded, copied as they are once checked (most have none). */
	if (plen && rmq_msg_props_check(props, (uint32_t)plen) != 0) {
		*why = "properties that are not a message's";
		return -EINVAL;
	}
	if ((flags & EXPIRY) && left_ms == 0)
		return -ETIME;
	struct rmq_msg *m = rmq_msg_new_shared(flags & QOS_MASK,
	    (flags & RETAIN) != 0, topic, props, plen, payload);
	if (m == NULL)
		return -ENOMEM;
	if (flags & EXPIRY) {
		m->has_expiry = 1;
		m->expire_ms = now_ms + left_ms;
	}
	m->origin = origin;
	*out = m;
	return 0;
}
