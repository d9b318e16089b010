/* broker/store/record.c: a message to and from its stored form
 * (record.h). */
#include "record.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "codec.h"
#include "topic.h"
#include "utf8.h"

#define RECORD_VERSION 1
#define RECORD_RETAIN 0x1
#define RECORD_EXPIRY 0x2
#define SESSION_VERSION 3 /* 1: no key; 2: no will (both read) */
#define SESSION_WILL 0x1 /* head byte 2: a will follows the subscriptions */
#define WILL_FIXED 16 /* delay, when it ends, the record's length */
#define SESSION_HEAD (RMQ_RECORD_HEAD + 8) /* the head, then the key */
#define QUEUED_VERSION 1
#define SUB_FIXED 10 /* a subscription's bytes besides its filter */
#define SUB_FLAGS (RMQ_SUB_NO_LOCAL | RMQ_SUB_RETAIN_AS_PUBLISHED)

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
	    2 + tlen + plen > RMQ_VARINT_MAX || ylen > RMQ_VARINT_MAX) {
		*why = "lengths that do not add up to the record";
		return -EINVAL;
	}
	struct rmq_str topic = { (const char *)p + RMQ_RECORD_HEAD,
		(uint32_t)tlen };
	const uint8_t *props = p + RMQ_RECORD_HEAD + tlen;
	struct rmq_str payload = { (const char *)props + plen, (uint32_t)ylen };
	if (tlen == 0 || rmq_topic_name_check(topic.p, tlen) != 0) {
		*why = "not a valid topic name";
		return -EINVAL;
	}
	/* The block is the message's shared properties as they were
	 * encoded, copied as they are once checked (most have none). */
	if (plen && rmq_msg_props_check(props, (uint32_t)plen) != 0) {
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
	}
	struct rmq_msg *m = rmq_msg_new_shared(p[1],
	    (p[2] & RECORD_RETAIN) != 0, topic, props, (uint32_t)plen, payload);
	if (m == NULL)
		return -ENOMEM;
	if (p[2] & RECORD_EXPIRY) {
		m->has_expiry = 1;
		m->expire_ms = now_mono + left_ms;
	}
	*out = m;
	return 0;
}

static void
put_u16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static uint16_t
get_u16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

size_t
rmq_record_session_size(const struct rmq_record_session *s)
{
	size_t n = SESSION_HEAD + s->client_id_len;
	for (uint32_t i = 0; i < s->nsubs; i++)
		n += SUB_FIXED + s->subs[i].len;
	if (s->will)
		n += WILL_FIXED + rmq_record_msg_size(s->will);
	return n;
}

void
rmq_record_session_encode(const struct rmq_record_session *s, uint8_t *buf)
{
	memset(buf, 0, SESSION_HEAD);
	buf[0] = SESSION_VERSION;
	buf[1] = s->version;
	put_u32(buf + 4, s->session_expiry);
	put_u64(buf + 8, s->offline_since);
	put_u16(buf + 16, s->client_id_len);
	put_u32(buf + 18, s->nsubs);
	put_u64(buf + RMQ_RECORD_HEAD, s->key);
	uint8_t *d = buf + SESSION_HEAD;
	memcpy(d, s->client_id, s->client_id_len);
	d += s->client_id_len;
	for (uint32_t i = 0; i < s->nsubs; i++) {
		const struct rmq_record_sub *r = &s->subs[i];
		put_u16(d, r->len);
		memcpy(d + 2, r->filter, r->len);
		d += 2 + r->len;
		d[0] = r->opt.qos;
		d[1] = r->opt.flags & SUB_FLAGS;
		d[2] = r->opt.retain_handling;
		d[3] = 0;
		put_u32(d + 4, r->opt.subid);
		d += 8;
	}
	if (s->will) {
		buf[2] = SESSION_WILL;
		uint32_t n = (uint32_t)rmq_record_msg_size(s->will);
		put_u32(d, s->will_delay);
		put_u64(d + 4, s->will_at);
		put_u32(d + 12, n);
		rmq_record_msg_encode(s->will, s->wall_minus_mono,
		    d + WILL_FIXED);
	}
}

int
rmq_record_session_decode(const uint8_t *p, size_t len,
    struct rmq_record_session *out, const char **why)
{
	memset(out, 0, sizeof(*out));
	*why = NULL;
	if (len < RMQ_RECORD_HEAD) {
		*why = "shorter than a record's head";
		return -EINVAL;
	}
	if (p[0] < 1 || p[0] > SESSION_VERSION) {
		*why = "a record version this build does not know";
		return -EINVAL;
	}
	size_t head = p[0] == 1 ? RMQ_RECORD_HEAD : SESSION_HEAD;
	if (len < head) {
		*why = "shorter than a record's head";
		return -EINVAL;
	}
	if ((p[1] != RMQ_V31 && p[1] != RMQ_V311 && p[1] != RMQ_V5) ||
	    (p[2] & ~(p[0] >= 3 ? SESSION_WILL : 0)) || p[3] || p[22] ||
	    p[23]) {
		*why = "a protocol level or flag out of range";
		return -EINVAL;
	}
	out->version = p[1];
	out->session_expiry = get_u32(p + 4);
	out->offline_since = get_u64(p + 8);
	out->client_id_len = get_u16(p + 16);
	out->nsubs = get_u32(p + 18);
	out->key = head == SESSION_HEAD ? get_u64(p + RMQ_RECORD_HEAD) : 0;
	size_t off = head + (size_t)out->client_id_len;
	out->client_id = (const char *)p + head;
	if (out->session_expiry == 0 || off > len ||
	    (size_t)out->nsubs > (len - off) / SUB_FIXED) {
		*why = "lengths that do not add up to the record";
		return -EINVAL;
	}
	if (out->client_id_len == 0 ||
	    !rmq_utf8_valid(out->client_id, out->client_id_len)) {
		*why = "not a valid client identifier";
		return -EINVAL;
	}
	if (out->nsubs &&
	    (out->subs = calloc(out->nsubs, sizeof(*out->subs))) == NULL)
		return -ENOMEM;
	for (uint32_t i = 0; i < out->nsubs; i++) {
		struct rmq_record_sub *r = &out->subs[i];
		if (len - off < SUB_FIXED ||
		    len - off - SUB_FIXED < get_u16(p + off)) {
			*why = "lengths that do not add up to the record";
			goto bad;
		}
		r->len = get_u16(p + off);
		r->filter = (const char *)p + off + 2;
		const uint8_t *o = p + off + 2 + r->len;
		r->opt.qos = o[0];
		r->opt.flags = o[1];
		r->opt.retain_handling = o[2];
		r->opt.subid = get_u32(o + 4);
		r->opt.version = out->version;
		off += SUB_FIXED + r->len;
		if (rmq_topic_filter_check(r->filter, r->len) != 0) {
			*why = "not a valid topic filter";
			goto bad;
		}
		if (r->opt.qos > 2 || (r->opt.flags & ~SUB_FLAGS) ||
		    r->opt.retain_handling > 2 || o[3] ||
		    r->opt.subid > RMQ_VARINT_MAX ||
		    (r->opt.subid && out->version != RMQ_V5)) {
			*why = "subscription options out of range";
			goto bad;
		}
	}
	if (p[2] & SESSION_WILL) {
		if (len - off < WILL_FIXED ||
		    len - off - WILL_FIXED != get_u32(p + off + 12)) {
			*why = "lengths that do not add up to the record";
			goto bad;
		}
		out->will_delay = get_u32(p + off);
		out->will_at = get_u64(p + off + 4);
		out->will_rec = p + off + WILL_FIXED;
		out->will_rec_len = get_u32(p + off + 12);
		off = len;
	}
	if (off != len) {
		*why = "lengths that do not add up to the record";
		goto bad;
	}
	return 0;
bad:
	free(out->subs);
	out->subs = NULL;
	return -EINVAL;
}

void
rmq_record_queued_encode(const struct rmq_record_queued *q,
    uint8_t buf[RMQ_RECORD_QUEUED])
{
	buf[0] = QUEUED_VERSION;
	buf[1] = q->qos;
	buf[2] = q->state;
	buf[3] = 0;
	put_u16(buf + 4, q->pid);
	buf[6] = buf[7] = 0;
}

int
rmq_record_queued_decode(const uint8_t *p, size_t len,
    struct rmq_record_queued *out, const char **why)
{
	*why = NULL;
	if (len != RMQ_RECORD_QUEUED || p[0] != QUEUED_VERSION) {
		*why = len != RMQ_RECORD_QUEUED
		    ? "not the size of a queued message's record"
		    : "a record version this build does not know";
		return -EINVAL;
	}
	out->qos = p[1];
	out->state = p[2];
	out->pid = get_u16(p + 4);
	if (out->qos < 1 || out->qos > 2 || out->state > RMQ_QUEUED_RELEASED ||
	    p[3] || p[6] || p[7] ||
	    (out->state == RMQ_QUEUED_RELEASED && out->qos != 2) ||
	    ((out->state != RMQ_QUEUED_WAITING) != (out->pid != 0))) {
		*why = "a QoS, state or packet id out of range";
		return -EINVAL;
	}
	return 0;
}
