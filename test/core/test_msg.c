/* test/core/test_msg.c: messages built from a decoded PUBLISH and from
 * their shared form (core/msg.c). */
#include <criterion/criterion.h>

#include <string.h>

#include "msg.h"

static struct rmq_publish
publish(const char *topic, const char *payload)
{
	struct rmq_publish pub = { .qos = 2, .retain = 1 };
	pub.topic.p = topic;
	pub.topic.len = (uint32_t)strlen(topic);
	pub.payload.p = payload;
	pub.payload.len = (uint32_t)strlen(payload);
	return pub;
}

static void
same_shared(const struct rmq_pub_shared *a, const struct rmq_pub_shared *b)
{
	cr_assert_eq(a->version, b->version);
	cr_assert_eq(a->topic_len, b->topic_len);
	cr_assert_eq(memcmp(a->topic, b->topic, a->topic_len), 0);
	cr_assert_eq(a->props_len, b->props_len);
	cr_assert_eq(memcmp(a->props, b->props, a->props_len), 0);
	cr_assert_eq(a->payload_len, b->payload_len);
	cr_assert_eq(memcmp(a->payload, b->payload, a->payload_len), 0);
}

/* What rmq_msg_new builds, built again from its shared form. */
static void
rebuilt_alike(const struct rmq_publish *pub)
{
	struct rmq_msg *m = rmq_msg_new(pub, 9, 1000);
	cr_assert_not_null(m);
	struct rmq_msg *r = rmq_msg_new_shared(m->qos, m->retain, m->topic,
	    m->v5.props, m->v5.props_len, m->payload);
	cr_assert_not_null(r);
	cr_assert_eq(r->qos, m->qos);
	cr_assert_eq(r->retain, m->retain);
	cr_assert_eq(r->size, m->size);
	cr_assert_eq(r->has_expiry, 0);
	cr_assert_eq(r->origin, 0);
	cr_assert_eq(r->from_peer, 0);
	cr_assert_null(r->groups);
	cr_assert_eq(r->topic.len, m->topic.len);
	cr_assert_eq(memcmp(r->topic.p, m->topic.p, m->topic.len), 0);
	cr_assert_eq(r->payload.len, m->payload.len);
	cr_assert_eq(memcmp(r->payload.p, m->payload.p, m->payload.len), 0);
	same_shared(&r->v5, &m->v5);
	same_shared(&r->v3, &m->v3);
	/* Its views point into its own copy. */
	cr_assert(r->v5.topic >= r->data && r->v5.payload >= r->data);
	cr_assert(r->payload.p == (const char *)r->v5.payload);
	rmq_msg_rele(r);
	rmq_msg_rele(m);
}

Test(msg, without_properties_the_shared_form_builds_the_same_message)
{
	struct rmq_publish pub = publish("a/b/c", "hello");
	rebuilt_alike(&pub);
	pub.payload.len = 0; /* an empty payload (a retained delete) */
	rebuilt_alike(&pub);
}

Test(msg, with_properties_the_shared_form_builds_the_same_message)
{
	struct rmq_publish pub = publish("sensors/1", "21.5");
	RMQ_PROP_SET(&pub.props, RMQ_PROP_CONTENT_TYPE);
	pub.props.content_type = (struct rmq_str){ "text/plain", 10 };
	RMQ_PROP_SET(&pub.props, RMQ_PROP_PAYLOAD_FORMAT);
	pub.props.payload_format = 1;
	RMQ_PROP_SET(&pub.props, RMQ_PROP_RESPONSE_TOPIC);
	pub.props.response_topic = (struct rmq_str){ "reply/1", 7 };
	rebuilt_alike(&pub);
}

Test(msg, per_delivery_properties_stay_out_of_the_shared_form)
{
	/* Topic Alias, Subscription Identifier and Message Expiry differ
	 * per copy [MQTT-3.3.2-5, MQTT-3.3.4-3]: none of them is in the
	 * shared bytes, so a message with only those has none. */
	struct rmq_publish pub = publish("t", "x");
	RMQ_PROP_SET(&pub.props, RMQ_PROP_TOPIC_ALIAS);
	pub.props.topic_alias = 3;
	RMQ_PROP_SET(&pub.props, RMQ_PROP_MESSAGE_EXPIRY);
	pub.props.message_expiry = 30;
	struct rmq_msg *m = rmq_msg_new(&pub, 0, 1000);
	cr_assert_not_null(m);
	cr_assert_eq(m->v5.props_len, 0);
	cr_assert(m->has_expiry);
	cr_assert_eq(m->expire_ms, 1000 + 30000);
	cr_assert_eq(rmq_msg_expiry_left(m, 1000 + 29001), 1);
	rmq_msg_rele(m);
	rebuilt_alike(&pub);
}

Test(msg, a_message_past_the_bounds_is_not_built)
{
	/* A topic name with a wildcard is no message's [MQTT-3.3.2-2]. */
	struct rmq_publish pub = publish("a/+", "x");
	cr_assert_null(rmq_msg_new(&pub, 0, 0));
	pub = publish("a", "x");
	pub.payload.len = RMQ_VARINT_MAX + 1u; /* refused before any copy */
	cr_assert_null(rmq_msg_new(&pub, 0, 0));
	struct rmq_str t = { "a", 1 }, none = { "", 0 };
	struct rmq_str huge = { "x", RMQ_VARINT_MAX + 1u };
	cr_assert_null(rmq_msg_new_shared(0, 0, t, NULL, 0, huge));
	cr_assert_null(rmq_msg_new_shared(0, 0, none, NULL, 0, t));
	struct rmq_str long_topic = { "a", 65536 };
	cr_assert_null(rmq_msg_new_shared(0, 0, long_topic, NULL, 0, t));
	cr_assert_null(rmq_msg_new_shared(0, 0, t, (const uint8_t *)"",
	    RMQ_VARINT_MAX, t));
}
