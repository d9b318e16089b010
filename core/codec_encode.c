/* core/codec_encode.c: struct rmq_packet to MQTT bytes.
 *
 * Two passes over the packet, one to size it and one to write it, into
 * memory the caller owns; nothing allocates.  A PUBLISH can also be encoded
 * as a shared part plus a per-subscriber header, so a message delivered to
 * many subscribers is encoded once and its payload never copied.
 */
#include <errno.h>
#include <string.h>

#include "codec.h"
#include "topic.h"
#include "wire.h"

#define BAD ((size_t)-1)

static size_t
enc_str_size(const struct rmq_str *s)
{
	return s->len > RMQ_STRING_MAX ? BAD : 2 + (size_t)s->len;
}

/* A property block with its length prefix, 5.0 only. */
static size_t
enc_props_size(const struct rmq_props *props, uint8_t version)
{
	if (version < RMQ_V5)
		return 0;
	size_t n = rmq_props_size(props);
	if (n == BAD || n > RMQ_VARINT_MAX)
		return BAD;
	return rmq_varint_size((uint32_t)n) + n;
}

static uint8_t *
enc_props(uint8_t *d, const struct rmq_props *props, uint8_t version)
{
	if (version < RMQ_V5)
		return d;
	size_t n = rmq_props_size(props);
	d = rmq_put_varint(d, (uint32_t)n);
	return d + rmq_props_encode(props, d);
}

/* Add sizes, keeping BAD sticky. */
static size_t
enc_add(size_t a, size_t b)
{
	return a == BAD || b == BAD ? BAD : a + b;
}

static size_t
enc_connect_size(const struct rmq_connect *c, uint8_t version)
{
	size_t n = 2 + (version == RMQ_V31 ? 6 : 4) + 1 + 1 + 2;
	if (c->will_qos > 2 || (!c->will && (c->will_qos || c->will_retain)))
		return BAD;
	if (version < RMQ_V5 && c->password.p && !c->username.p)
		return BAD;
	n = enc_add(n, enc_props_size(&c->props, version));
	n = enc_add(n, enc_str_size(&c->client_id));
	if (c->will) {
		n = enc_add(n, enc_props_size(&c->will_props, version));
		n = enc_add(n, enc_str_size(&c->will_topic));
		n = enc_add(n, enc_str_size(&c->will_payload));
	}
	if (c->username.p)
		n = enc_add(n, enc_str_size(&c->username));
	if (c->password.p)
		n = enc_add(n, enc_str_size(&c->password));
	return n;
}

static uint8_t *
enc_connect(uint8_t *d, const struct rmq_connect *c, uint8_t version)
{
	static const struct rmq_str mqtt = { "MQTT", 4 },
				    mqisdp = { "MQIsdp", 6 };
	d = rmq_put_str(d, version == RMQ_V31 ? &mqisdp : &mqtt);
	*d++ = version;
	*d++ = (uint8_t)((c->username.p ? 0x80 : 0) |
	    (c->password.p ? 0x40 : 0) | (c->will_retain ? 0x20 : 0) |
	    (c->will_qos << 3) | (c->will ? 0x04 : 0) | (c->clean ? 0x02 : 0));
	d = rmq_put_u16(d, c->keepalive);
	d = enc_props(d, &c->props, version);
	d = rmq_put_str(d, &c->client_id);
	if (c->will) {
		d = enc_props(d, &c->will_props, version);
		d = rmq_put_str(d, &c->will_topic);
		d = rmq_put_str(d, &c->will_payload);
	}
	if (c->username.p)
		d = rmq_put_str(d, &c->username);
	if (c->password.p)
		d = rmq_put_str(d, &c->password);
	return d;
}

/* Whether an acknowledgement-like packet needs its reason code and
 * properties, or takes the 5.0 short form. */
static size_t
enc_reasoned_size(uint8_t reason, const struct rmq_props *props,
    uint8_t version)
{
	if (version < RMQ_V5)
		return 0;
	size_t p = rmq_props_size(props);
	if (p == BAD)
		return BAD;
	if (p == 0)
		return reason == 0 ? 0 : 1;
	return enc_add(1, enc_props_size(props, version));
}

static uint8_t *
enc_reasoned(uint8_t *d, uint8_t reason, const struct rmq_props *props,
    uint8_t version)
{
	if (version < RMQ_V5)
		return d;
	size_t p = rmq_props_size(props);
	if (p == 0 && reason == 0)
		return d;
	*d++ = reason;
	if (p == 0)
		return d;
	return enc_props(d, props, version);
}

static size_t
enc_body_size(const struct rmq_packet *pkt, uint8_t version)
{
	size_t n;
	uint32_t off;
	switch (pkt->type) {
	case RMQ_CONNECT: return enc_connect_size(&pkt->connect, version);
	case RMQ_CONNACK:
		if (!rmq_reason_allowed(pkt->connack.reason, RMQ_CONNACK,
			version) ||
		    (pkt->connack.reason && pkt->connack.session_present))
			return BAD; /* [MQTT-3.2.2-6] */
		return enc_add(2, enc_props_size(&pkt->connack.props, version));
	case RMQ_PUBLISH: {
		const struct rmq_publish *p = &pkt->publish;
		if (p->qos > 2 || (p->qos > 0 && p->packet_id == 0) ||
		    (p->dup && p->qos == 0 && version != RMQ_V31))
			return BAD; /* [MQTT-3.3.1-4], [MQTT-2.2.1-3], [MQTT-3.3.1-2] */
		if (p->topic.len == 0
			? version < RMQ_V5 ||
			    !RMQ_PROP_HAS(&p->props, RMQ_PROP_TOPIC_ALIAS)
			: rmq_topic_has_wildcard(p->topic.p, p->topic.len))
			return BAD; /* [MQTT-4.7.3-1], 3.3.2.3.4, [MQTT-3.3.2-2] */
		n = enc_add(enc_str_size(&p->topic), p->qos ? 2 : 0);
		n = enc_add(n, enc_props_size(&p->props, version));
		return enc_add(n, p->payload.len);
	}
	case RMQ_PUBACK:
	case RMQ_PUBREC:
	case RMQ_PUBREL:
	case RMQ_PUBCOMP:
		if (pkt->ack.packet_id == 0 ||
		    (version >= RMQ_V5 &&
			!rmq_reason_allowed(pkt->ack.reason, pkt->type,
			    version)))
			return BAD;
		return enc_add(2,
		    enc_reasoned_size(pkt->ack.reason, &pkt->ack.props,
			version));
	case RMQ_SUBSCRIBE: {
		const struct rmq_subscribe *s = &pkt->subscribe;
		struct rmq_sub_entry e;
		if (s->packet_id == 0 || s->count == 0)
			return BAD;
		n = enc_add(2, enc_props_size(&s->props, version));
		off = 0;
		while (rmq_subscribe_next(s, version, &off, &e)) {
			struct rmq_str g, in;
			if (e.qos > 2 || e.retain_handling > 2)
				return BAD;
			if (version >= RMQ_V5 && e.no_local &&
			    rmq_topic_share_parse(e.filter.p, e.filter.len, &g,
				&in) == 1)
				return BAD; /* [MQTT-3.8.3-4] */
			n = enc_add(n, enc_add(enc_str_size(&e.filter), 1));
		}
		return n;
	}
	case RMQ_UNSUBSCRIBE: {
		const struct rmq_unsubscribe *u = &pkt->unsubscribe;
		struct rmq_str f;
		if (u->packet_id == 0 || u->count == 0)
			return BAD;
		n = enc_add(2, enc_props_size(&u->props, version));
		off = 0;
		while (rmq_unsubscribe_next(u, &off, &f))
			n = enc_add(n, enc_str_size(&f));
		return n;
	}
	case RMQ_SUBACK:
	case RMQ_UNSUBACK:
		if (pkt->suback.packet_id == 0)
			return BAD;
		if (pkt->type == RMQ_UNSUBACK && version < RMQ_V5)
			return 2;
		if (pkt->suback.count == 0)
			return BAD;
		for (uint32_t i = 0; i < pkt->suback.count; i++)
			if (!rmq_reason_allowed(pkt->suback.codes[i], pkt->type,
				version))
				return BAD;
		n = enc_add(2, enc_props_size(&pkt->suback.props, version));
		return enc_add(n, pkt->suback.count);
	case RMQ_PINGREQ:
	case RMQ_PINGRESP: return 0;
	case RMQ_DISCONNECT:
		if (version >= RMQ_V5 &&
		    !rmq_reason_allowed(pkt->disconnect.reason, RMQ_DISCONNECT,
			version))
			return BAD;
		return enc_reasoned_size(pkt->disconnect.reason,
		    &pkt->disconnect.props, version);
	case RMQ_AUTH:
		if (version < RMQ_V5 ||
		    !rmq_reason_allowed(pkt->auth.reason, RMQ_AUTH, version))
			return BAD;
		/* 3.15.2.2.2: the method is required unless the short
		 * form (success, no properties) is used. */
		if ((pkt->auth.reason || rmq_props_size(&pkt->auth.props)) &&
		    !RMQ_PROP_HAS(&pkt->auth.props, RMQ_PROP_AUTH_METHOD))
			return BAD;
		return enc_reasoned_size(pkt->auth.reason, &pkt->auth.props,
		    version);
	default: return BAD;
	}
}

static uint8_t
enc_first(const struct rmq_packet *pkt)
{
	uint8_t t = (uint8_t)(pkt->type << 4);
	switch (pkt->type) {
	case RMQ_PUBLISH:
		return t |
		    (uint8_t)((pkt->publish.dup ? 0x08 : 0) |
			(pkt->publish.qos & 3) << 1 |
			(pkt->publish.retain ? 1 : 0));
	case RMQ_PUBREL:
	case RMQ_SUBSCRIBE:
	case RMQ_UNSUBSCRIBE: return t | 2;
	default: return t;
	}
}

static uint8_t *
enc_body(uint8_t *d, const struct rmq_packet *pkt, uint8_t version)
{
	uint32_t off = 0;
	switch (pkt->type) {
	case RMQ_CONNECT: return enc_connect(d, &pkt->connect, version);
	case RMQ_CONNACK:
		*d++ =
		    version == RMQ_V31 ? 0 : pkt->connack.session_present & 1;
		*d++ = pkt->connack.reason;
		return enc_props(d, &pkt->connack.props, version);
	case RMQ_PUBLISH:
		d = rmq_put_str(d, &pkt->publish.topic);
		if (pkt->publish.qos)
			d = rmq_put_u16(d, pkt->publish.packet_id);
		d = enc_props(d, &pkt->publish.props, version);
		if (pkt->publish.payload.len)
			memcpy(d, pkt->publish.payload.p,
			    pkt->publish.payload.len);
		return d + pkt->publish.payload.len;
	case RMQ_PUBACK:
	case RMQ_PUBREC:
	case RMQ_PUBREL:
	case RMQ_PUBCOMP:
		d = rmq_put_u16(d, pkt->ack.packet_id);
		return enc_reasoned(d, pkt->ack.reason, &pkt->ack.props,
		    version);
	case RMQ_SUBSCRIBE: {
		struct rmq_sub_entry e;
		d = rmq_put_u16(d, pkt->subscribe.packet_id);
		d = enc_props(d, &pkt->subscribe.props, version);
		while (rmq_subscribe_next(&pkt->subscribe, version, &off, &e)) {
			d = rmq_put_str(d, &e.filter);
			uint8_t opt = e.qos;
			if (version >= RMQ_V5)
				opt |= (uint8_t)((e.no_local ? 0x04 : 0) |
				    (e.retain_as_published ? 0x08 : 0) |
				    e.retain_handling << 4);
			*d++ = opt;
		}
		return d;
	}
	case RMQ_UNSUBSCRIBE: {
		struct rmq_str f;
		d = rmq_put_u16(d, pkt->unsubscribe.packet_id);
		d = enc_props(d, &pkt->unsubscribe.props, version);
		while (rmq_unsubscribe_next(&pkt->unsubscribe, &off, &f))
			d = rmq_put_str(d, &f);
		return d;
	}
	case RMQ_SUBACK:
	case RMQ_UNSUBACK:
		d = rmq_put_u16(d, pkt->suback.packet_id);
		if (pkt->type == RMQ_UNSUBACK && version < RMQ_V5)
			return d;
		d = enc_props(d, &pkt->suback.props, version);
		memcpy(d, pkt->suback.codes, pkt->suback.count);
		return d + pkt->suback.count;
	case RMQ_DISCONNECT:
		return enc_reasoned(d, pkt->disconnect.reason,
		    &pkt->disconnect.props, version);
	case RMQ_AUTH:
		return enc_reasoned(d, pkt->auth.reason, &pkt->auth.props,
		    version);
	default: /* PINGREQ, PINGRESP */ return d;
	}
}

static size_t
enc_packet_size(const struct rmq_packet *pkt, uint8_t version, size_t *body)
{
	if (version < RMQ_V31 || version > RMQ_V5)
		return 0;
	*body = enc_body_size(pkt, version);
	if (*body == BAD || *body > RMQ_VARINT_MAX)
		return 0;
	return 1 + rmq_varint_size((uint32_t)*body) + *body;
}

size_t
rmq_codec_size(const struct rmq_packet *pkt, uint8_t version)
{
	size_t body;
	return enc_packet_size(pkt, version, &body);
}

long
rmq_codec_encode(const struct rmq_packet *pkt, uint8_t version, uint8_t *buf,
    size_t cap)
{
	size_t body, total = enc_packet_size(pkt, version, &body);
	if (total == 0)
		return -EINVAL;
	if (total > cap)
		return -ENOBUFS;
	uint8_t *d = buf;
	*d++ = enc_first(pkt);
	d = rmq_put_varint(d, (uint32_t)body);
	d = enc_body(d, pkt, version);
	return (long)(d - buf);
}

/* ---- PUBLISH in a shared part and a per-subscriber part ---- */

/* The properties that stay the same for every copy: all but Topic Alias,
 * Subscription Identifier and Message Expiry Interval (counted down). */
#define SHARED_PROPS                                                           \
	(~((uint64_t)1 << RMQ_PROP_TOPIC_ALIAS |                               \
	    (uint64_t)1 << RMQ_PROP_SUBSCRIPTION_ID |                          \
	    (uint64_t)1 << RMQ_PROP_MESSAGE_EXPIRY))

static void
enc_shared_props(const struct rmq_props *in, struct rmq_props *out)
{
	*out = *in;
	out->present &= SHARED_PROPS;
}

/* The shared properties' bytes (0 for none, as most messages carry), or
 * BAD. */
static size_t
enc_shared_props_size(const struct rmq_props *props)
{
	if ((props->present & SHARED_PROPS) == 0)
		return 0;
	struct rmq_props shared;
	enc_shared_props(props, &shared);
	return rmq_props_size(&shared);
}

size_t
rmq_codec_publish_shared_size(const struct rmq_publish *pub, uint8_t version)
{
	if (pub->topic.len == 0 ||
	    rmq_topic_has_wildcard(pub->topic.p, pub->topic.len))
		return 0; /* a message has a real topic name */
	size_t n = enc_str_size(&pub->topic);
	if (version >= RMQ_V5)
		n = enc_add(n, enc_shared_props_size(&pub->props));
	return n == BAD || n > RMQ_VARINT_MAX ? 0 : n;
}

int
rmq_codec_publish_shared(const struct rmq_publish *pub, uint8_t version,
    uint8_t *buf, size_t cap, struct rmq_pub_shared *sh)
{
	size_t need = rmq_codec_publish_shared_size(pub, version);
	if (need == 0 || version < RMQ_V31 || version > RMQ_V5 ||
	    pub->payload.len > RMQ_VARINT_MAX)
		return -EINVAL;
	if (need > cap)
		return -ENOBUFS;
	rmq_codec_publish_shared_put(pub, version, buf, sh);
	return 0;
}

void
rmq_codec_publish_shared_put(const struct rmq_publish *pub, uint8_t version,
    uint8_t *buf, struct rmq_pub_shared *sh)
{
	uint8_t *d = rmq_put_str(buf, &pub->topic);
	sh->version = version;
	sh->topic = buf;
	sh->topic_len = (uint32_t)(d - buf);
	sh->props = d;
	sh->props_len = 0;
	if (version >= RMQ_V5 && (pub->props.present & SHARED_PROPS) != 0) {
		struct rmq_props shared;
		enc_shared_props(&pub->props, &shared);
		sh->props_len = (uint32_t)rmq_props_encode(&shared, d);
	}
	sh->payload = (const uint8_t *)pub->payload.p;
	sh->payload_len = pub->payload.len;
}

int
rmq_codec_publish_iov(const struct rmq_pub_shared *sh,
    const struct rmq_pub_var *var, uint8_t *hdr, size_t hdr_cap,
    struct iovec iov[5], size_t *size)
{
	int v5 = sh->version >= RMQ_V5;
	uint64_t vprops = 0;
	if (var->qos > 2 || (var->qos > 0 && var->packet_id == 0) ||
	    (var->dup && var->qos == 0 && sh->version != RMQ_V31) ||
	    (var->omit_topic && var->topic_alias == 0))
		return -EINVAL;
	if (v5) {
		vprops += var->topic_alias ? 3 : 0;
		vprops += var->has_expiry ? 5 : 0;
		for (uint32_t i = 0; i < var->n_subid; i++) {
			if (var->subids[i] == 0 ||
			    var->subids[i] > RMQ_VARINT_MAX)
				return -EINVAL;
			vprops += 1 + rmq_varint_size(var->subids[i]);
		}
	} else if (var->omit_topic) {
		return -EINVAL; /* no aliases before 5.0 */
	}
	uint64_t plen = vprops + sh->props_len;
	uint64_t topic = var->omit_topic ? 2 : sh->topic_len;
	uint64_t body = topic + (var->qos ? 2 : 0) + sh->payload_len +
	    (v5 ? rmq_varint_size(
		      (uint32_t)(plen > RMQ_VARINT_MAX ? 0 : plen)) +
			plen
		: 0);
	if (plen > RMQ_VARINT_MAX || body > RMQ_VARINT_MAX)
		return -EINVAL;
	if (1 + 4 + 2 + 2 + 4 + vprops > hdr_cap)
		return -EINVAL;

	uint8_t *d = hdr;
	*d++ = (uint8_t)(RMQ_PUBLISH << 4 | (var->dup ? 0x08 : 0) |
	    var->qos << 1 | (var->retain ? 1 : 0));
	d = rmq_put_varint(d, (uint32_t)body);
	int n = 0;
	uint8_t *mid = d;
	if (var->omit_topic) {
		d = rmq_put_u16(d, 0);
	} else {
		iov[n++] = (struct iovec){ hdr, (size_t)(d - hdr) };
		iov[n++] = (struct iovec){ (void *)sh->topic, sh->topic_len };
	}
	if (var->qos)
		d = rmq_put_u16(d, var->packet_id);
	if (v5) {
		d = rmq_put_varint(d, (uint32_t)plen);
		/* Per-subscriber properties, then the shared ones; order
		 * within a block carries no meaning but for repeats. */
		if (var->has_expiry) {
			*d++ = RMQ_PROP_MESSAGE_EXPIRY;
			d = rmq_put_u32(d, var->message_expiry);
		}
		for (uint32_t i = 0; i < var->n_subid; i++) {
			*d++ = RMQ_PROP_SUBSCRIPTION_ID;
			d = rmq_put_varint(d, var->subids[i]);
		}
		if (var->topic_alias) {
			*d++ = RMQ_PROP_TOPIC_ALIAS;
			d = rmq_put_u16(d, var->topic_alias);
		}
	}
	if (var->omit_topic)
		iov[n++] = (struct iovec){ hdr, (size_t)(d - hdr) };
	else if (d > mid)
		iov[n++] = (struct iovec){ mid, (size_t)(d - mid) };
	if (sh->props_len)
		iov[n++] = (struct iovec){ (void *)sh->props, sh->props_len };
	if (sh->payload_len)
		iov[n++] =
		    (struct iovec){ (void *)sh->payload, sh->payload_len };
	*size = 1 + rmq_varint_size((uint32_t)body) + (size_t)body;
	return n;
}
