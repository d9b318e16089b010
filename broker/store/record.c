/* broker/store/record.c: a message to and from its stored form
 * (record.h). */
#include "record.h"

#include <errno.h>
#include <string.h>

#include "codec.h"
#include "props.h"
#include "topic.h"

#define RECORD_VERSION 1
#define RECORD_RETAIN 0x1
#define RECORD_EXPIRY 0x2

static void
put_u32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static uint32_t
get_u32(const uint8_t *p)
{
	uint32_t v = 0;
	for (int i = 0; i < 4; i++)
		v |= (uint32_t)p[i] << (8 * i);
	return v;
}

static void
put_u64(uint8_t *p, uint64_t v)
{
	put_u32(p, (uint32_t)v);
	put_u32(p + 4, (uint32_t)(v >> 32));
}

static uint64_t
get_u64(const uint8_t *p)
{
	return get_u32(p) | (uint64_t)get_u32(p + 4) << 32;
}

size_t
rmq_record_msg_size(const struct rmq_msg *m)
{
	return RMQ_RECORD_HEAD + m->topic.len + m->v5.props_len +
	    m->payload.len;
}

void
rmq_record_msg_encode(const struct rmq_msg *m, int64_t wall_minus_mono,
    uint8_t *buf)
{
	buf[0] = RECORD_VERSION;
	buf[1] = m->qos;
	buf[2] = (uint8_t)((m->retain ? RECORD_RETAIN : 0) |
	    (m->has_expiry ? RECORD_EXPIRY : 0));
	buf[3] = 0;
	put_u64(buf + 4,
	    m->has_expiry ? (uint64_t)((int64_t)m->expire_ms + wall_minus_mono)
			  : 0);
	put_u32(buf + 12, m->topic.len);
	put_u32(buf + 16, m->v5.props_len);
	put_u32(buf + 20, m->payload.len);
	uint8_t *d = buf + RMQ_RECORD_HEAD;
	memcpy(d, m->topic.p, m->topic.len);
	d += m->topic.len;
	if (m->v5.props_len)
		memcpy(d, m->v5.props, m->v5.props_len);
	d += m->v5.props_len;
	if (m->payload.len)
		memcpy(d, m->payload.p, m->payload.len);
}

int
rmq_record_msg_decode(const uint8_t *p, size_t len, uint64_t now_mono,
    uint64_t now_wall, struct rmq_msg **out, const char **why)
{
	*why = NULL;
	if (len < RMQ_RECORD_HEAD) {
		*why = "shorter than a record's head";
		return -EINVAL;
	}
	if (p[0] != RECORD_VERSION) {
		*why = "a record version this build does not know";
		return -EINVAL;
	}
	uint64_t tlen = get_u32(p + 12), plen = get_u32(p + 16),
		 ylen = get_u32(p + 20);
	if (p[1] > 2 || (p[2] & ~(RECORD_RETAIN | RECORD_EXPIRY)) || p[3]) {
		*why = "a QoS or flag out of range";
		return -EINVAL;
	}
	if (RMQ_RECORD_HEAD + tlen + plen + ylen != len || tlen > 65535 ||
	    plen > RMQ_VARINT_MAX || ylen > RMQ_VARINT_MAX) {
		*why = "lengths that do not add up to the record";
		return -EINVAL;
	}
	struct rmq_publish pub = { .qos = p[1],
		.retain = (p[2] & RECORD_RETAIN) != 0 };
	pub.topic.p = (const char *)p + RMQ_RECORD_HEAD;
	pub.topic.len = (uint32_t)tlen;
	pub.payload.p = pub.topic.p + tlen + plen;
	pub.payload.len = (uint32_t)ylen;
	if (tlen == 0 || rmq_topic_name_check(pub.topic.p, tlen) != 0) {
		*why = "not a valid topic name";
		return -EINVAL;
	}
	struct rmq_codec_err err;
	if (rmq_props_decode(p + RMQ_RECORD_HEAD + tlen, plen, RMQ_PUBLISH, 0,
		&pub.props, &err) != 0 ||
	    RMQ_PROP_HAS(&pub.props, RMQ_PROP_TOPIC_ALIAS) ||
	    RMQ_PROP_HAS(&pub.props, RMQ_PROP_SUBSCRIPTION_ID) ||
	    RMQ_PROP_HAS(&pub.props, RMQ_PROP_MESSAGE_EXPIRY)) {
		*why = "properties that are not a message's";
		return -EINVAL;
	}
	uint64_t left_ms = 0;
	if (p[2] & RECORD_EXPIRY) {
		uint64_t at = get_u64(p + 4);
		if (at <= now_wall)
			return -ETIME;
		left_ms = at - now_wall;
		if (left_ms > 0xFFFFFFFFull * 1000u) {
			*why = "an expiry further away than MQTT allows";
			return -EINVAL;
		}
		RMQ_PROP_SET(&pub.props, RMQ_PROP_MESSAGE_EXPIRY);
		pub.props.message_expiry = (uint32_t)((left_ms + 999) / 1000);
	}
	struct rmq_msg *m = rmq_msg_new(&pub, 0, now_mono);
	if (m == NULL)
		return -ENOMEM;
	if (m->has_expiry)
		m->expire_ms = now_mono + left_ms;
	*out = m;
	return 0;
}
