/* test/broker/store/test_retain.c: the retained store (broker/store/
 * retain.c): one message per topic, replaced, deleted by an empty payload
 * [MQTT-3.3.1-6, MQTT-3.3.1-7], matched by filter, bounded; and a change
 * from another node applied only when its stamp is newer.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "msg.h"
#include "retain.h"

static struct rmq_retain *r;

static void
setup(void)
{
	cr_assert_eq(rmq_retain_new(&r), 0);
}

static void
teardown(void)
{
	rmq_retain_free(r);
}

TestSuite(retain, .init = setup, .fini = teardown);

static struct rmq_msg *
msg(const char *topic, const char *payload, uint64_t stamp)
{
	struct rmq_publish p = { .qos = 1, .retain = 1 };
	p.topic.p = topic;
	p.topic.len = (uint32_t)strlen(topic);
	p.payload.p = payload;
	p.payload.len = (uint32_t)strlen(payload);
	struct rmq_msg *m = rmq_msg_new(&p, 0, 0);
	cr_assert_not_null(m);
	m->stamp = stamp;
	return m;
}

static char held[64];

static void
grab(void *ctx, struct rmq_msg *m)
{
	(void)ctx;
	snprintf(held, sizeof(held), "%.*s", (int)m->payload.len, m->payload.p);
}

/* The payload topic holds, "" for none. */
static const char *
holds(const char *topic)
{
	held[0] = '\0';
	rmq_retain_match(r, topic, strlen(topic), 0, grab, NULL);
	return held;
}

/* Put m (the caller's reference released) the way a peer's change is. */
static int
newer(struct rmq_msg *m)
{
	uint64_t gen;
	int rc = rmq_retain_put_newer(r, m, 0, 0, &gen);
	rmq_msg_rele(m);
	return rc;
}

Test(retain, set_replace_delete)
{
	uint64_t gen;
	struct rmq_msg *m = msg("a/b", "one", 0);
	cr_assert_eq(rmq_retain_put_gen(r, m, 0, 0, &gen), 0);
	rmq_msg_rele(m);
	cr_assert_str_eq(holds("a/b"), "one");
	m = msg("a/b", "two", 0);
	cr_assert_eq(rmq_retain_put_gen(r, m, 0, 0, &gen), 0);
	rmq_msg_rele(m);
	cr_assert_str_eq(holds("a/+"), "two");
	cr_assert_eq(rmq_retain_count(r), 1);
	m = msg("a/b", "", 0);
	cr_assert_eq(rmq_retain_put_gen(r, m, 0, 0, &gen), 0);
	rmq_msg_rele(m);
	cr_assert_str_eq(holds("a/b"), "");
	cr_assert_eq(rmq_retain_count(r), 0);
	cr_assert_eq(rmq_retain_bytes(r), 0);
}

Test(retain, a_peer_change_applies_only_when_newer)
{
	cr_assert_eq(newer(msg("t", "at 10", 10)), 0);
	cr_assert_str_eq(holds("t"), "at 10");
	/* Older and equal are refused; the store is as it was. */
	cr_assert_eq(newer(msg("t", "at 5", 5)), 1);
	cr_assert_eq(newer(msg("t", "also 10", 10)), 1);
	cr_assert_str_eq(holds("t"), "at 10");
	cr_assert_eq(newer(msg("t", "at 11", 11)), 0);
	cr_assert_str_eq(holds("t"), "at 11");
	/* A delete: older is refused, newer deletes. */
	cr_assert_eq(newer(msg("t", "", 7)), 1);
	cr_assert_str_eq(holds("t"), "at 11");
	cr_assert_eq(newer(msg("t", "", 12)), 0);
	cr_assert_str_eq(holds("t"), "");
	/* Nothing held: any stamp is newer. */
	cr_assert_eq(newer(msg("t", "back", 3)), 0);
	cr_assert_str_eq(holds("t"), "back");
}

Test(retain, a_peer_change_keeps_the_bounds)
{
	uint64_t gen;
	struct rmq_msg *m = msg("one", "x", 1);
	cr_assert_eq(rmq_retain_put_newer(r, m, 1, 0, &gen), 0);
	rmq_msg_rele(m);
	m = msg("two", "x", 2);
	cr_assert_eq(rmq_retain_put_newer(r, m, 1, 0, &gen), -ENOSPC);
	rmq_msg_rele(m);
	cr_assert_eq(rmq_retain_count(r), 1);
}
