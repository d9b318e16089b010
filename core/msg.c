/* core/msg.c: building and releasing messages (see msg.h). */
#include <stdlib.h>
#include <string.h>

#include "msg.h"
#include "props.h"

/* A message of `bytes` bytes of data, its fields but the encodings set. */
static struct rmq_msg *
msg_alloc(uint8_t qos, uint8_t retain, uint64_t origin, size_t bytes)
{
	struct rmq_msg *m = malloc(sizeof(*m) + bytes);
	if (m == NULL)
		return NULL;
	atomic_init(&m->refs, 1);
	m->qos = qos;
	m->retain = retain;
	m->has_expiry = 0;
	m->expire_ms = 0;
	m->origin = origin;
	m->from_peer = 0;
	m->born_us = 0;
	m->disk_id = 0;
	m->stamp = 0;
	m->xid = 0;
	m->groups = NULL;
	m->size = (uint32_t)bytes;
	return m;
}

/* The 3.x encoding is the 5.0 one without its properties. */
static void
msg_views(struct rmq_msg *m, const uint8_t *payload, uint32_t len)
{
	m->v3 = m->v5;
	m->v3.version = RMQ_V311;
	m->v3.props_len = 0;
	m->topic.p = (const char *)m->data + 2;
	m->topic.len = m->v5.topic_len - 2;
	m->payload.p = (const char *)payload;
	m->payload.len = len;
}

struct rmq_msg *
rmq_msg_new(const struct rmq_publish *pub, uint64_t origin, uint64_t now_ms)
{
	size_t shared = rmq_codec_publish_shared_size(pub, RMQ_V5);
	if (shared == 0 || pub->payload.len > RMQ_VARINT_MAX)
		return NULL;
	struct rmq_msg *m =
	    msg_alloc(pub->qos, pub->retain, origin, shared + pub->payload.len);
	if (m == NULL)
		return NULL;
	m->has_expiry = RMQ_PROP_HAS(&pub->props, RMQ_PROP_MESSAGE_EXPIRY);
	m->expire_ms = m->has_expiry
	    ? now_ms + (uint64_t)pub->props.message_expiry * 1000u
	    : 0;

	/* The payload lives right after the shared bytes, and both
	 * encodings point at this copy, not at the received bytes. */
	uint8_t *payload = m->data + shared;
	if (pub->payload.len)
		memcpy(payload, pub->payload.p, pub->payload.len);
	rmq_codec_publish_shared_put(pub, RMQ_V5, m->data, &m->v5);
	m->v5.payload = payload;
	msg_views(m, payload, pub->payload.len);
	return m;
}

struct rmq_msg *
rmq_msg_new_shared(uint8_t qos, uint8_t retain, struct rmq_str topic,
    const uint8_t *props, uint32_t props_len, struct rmq_str payload)
{
	if (topic.len == 0 || topic.len > 65535 ||
	    2u + (uint64_t)topic.len + props_len > RMQ_VARINT_MAX ||
	    payload.len > RMQ_VARINT_MAX)
		return NULL;
	size_t shared = 2 + (size_t)topic.len + props_len;
	struct rmq_msg *m =
	    msg_alloc(qos, retain, 0, shared + (size_t)payload.len);
	if (m == NULL)
		return NULL;
	uint8_t *d = m->data;
	d[0] = (uint8_t)(topic.len >> 8);
	d[1] = (uint8_t)topic.len;
	memcpy(d + 2, topic.p, topic.len);
	if (props_len)
		memcpy(d + 2 + topic.len, props, props_len);
	if (payload.len)
		memcpy(d + shared, payload.p, payload.len);
	m->v5 = (struct rmq_pub_shared){ .version = RMQ_V5,
		.topic = d,
		.topic_len = 2 + topic.len,
		.props = d + 2 + topic.len,
		.props_len = props_len,
		.payload = d + shared,
		.payload_len = payload.len };
	msg_views(m, d + shared, payload.len);
	return m;
}

int
rmq_msg_props_check(const uint8_t *p, uint32_t len)
{
	struct rmq_props dec;
	struct rmq_codec_err err;
	if (rmq_props_decode(p, len, RMQ_PUBLISH, 0, &dec, &err) != 0 ||
	    RMQ_PROP_HAS(&dec, RMQ_PROP_TOPIC_ALIAS) ||
	    RMQ_PROP_HAS(&dec, RMQ_PROP_SUBSCRIPTION_ID) ||
	    RMQ_PROP_HAS(&dec, RMQ_PROP_MESSAGE_EXPIRY))
		return -1;
	return 0;
}

void
rmq_msg_rele(struct rmq_msg *m)
{
	if (atomic_fetch_sub_explicit(&m->refs, 1, memory_order_acq_rel) == 1) {
		free(m->groups);
		free(m);
	}
}

size_t
rmq_msg_groups_size(const struct rmq_str *g, uint32_t n)
{
	if (n == 0)
		return 0;
	size_t len = 2;
	for (uint32_t i = 0; i < n; i++)
		len += 2 + g[i].len;
	return len;
}

void
rmq_msg_groups_encode(const struct rmq_str *g, uint32_t n, uint8_t *buf)
{
	buf[0] = (uint8_t)(n >> 8);
	buf[1] = (uint8_t)n;
	buf += 2;
	for (uint32_t i = 0; i < n; i++) {
		buf[0] = (uint8_t)(g[i].len >> 8);
		buf[1] = (uint8_t)g[i].len;
		memcpy(buf + 2, g[i].p, g[i].len);
		buf += 2 + g[i].len;
	}
}

size_t
rmq_msg_groups_check(const uint8_t *p, size_t len)
{
	if (len < 2)
		return 0;
	size_t n = (size_t)p[0] << 8 | p[1], at = 2;
	for (size_t i = 0; i < n; i++) {
		if (len - at < 2)
			return 0;
		size_t l = (size_t)p[at] << 8 | p[at + 1];
		if (len - at - 2 < l)
			return 0;
		at += 2 + l;
	}
	return at;
}

int
rmq_msg_has_group(const struct rmq_msg *m, const char *filter, size_t len)
{
	const uint8_t *p = m->groups;
	if (p == NULL)
		return 0;
	size_t n = (size_t)p[0] << 8 | p[1];
	p += 2;
	for (size_t i = 0; i < n; i++) {
		size_t l = (size_t)p[0] << 8 | p[1];
		if (l == len && memcmp(p + 2, filter, len) == 0)
			return 1;
		p += 2 + l;
	}
	return 0;
}

uint32_t
rmq_msg_expiry_left(const struct rmq_msg *m, uint64_t now_ms)
{
	if (!m->has_expiry || now_ms >= m->expire_ms)
		return 0;
	return (uint32_t)((m->expire_ms - now_ms + 999) / 1000);
}
