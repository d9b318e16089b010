/* test/cluster/test_retained.c: a retained change's wire form both ways
 * (and refused when malformed), and the deletes remembered: a set no newer
 * than a remembered delete refused, newer ones taken, the bound, and
 * deletes forgotten after RMQ_TOMB_MS.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "retained.h"

Test(retained, a_change_both_ways)
{
	uint8_t buf[128];
	size_t h = rmq_retained_head_encode(buf, sizeof(buf), "node-a", 77);
	cr_assert_gt(h, 0);
	memcpy(buf + h, "MSG", 3);
	struct rmq_retained_change c;
	cr_assert_eq(rmq_retained_decode(buf, h + 3, &c), 0);
	cr_assert_str_eq(c.node, "node-a");
	cr_assert_eq(c.stamp, 77);
	cr_assert_eq(c.msg_len, 3);
	cr_assert_eq(memcmp(c.msg, "MSG", 3), 0);
	/* No message, every cut of the head, a stamp of 0, another kind. */
	for (size_t cut = 0; cut <= h; cut++)
		cr_assert_eq(rmq_retained_decode(buf, cut, &c), -1, "cut %zu",
		    cut);
	cr_assert_eq(rmq_retained_head_encode(buf, 5, "node-a", 77), 0);
	h = rmq_retained_head_encode(buf, sizeof(buf), "node-a", 0);
	cr_assert_eq(rmq_retained_decode(buf, h + 1, &c), -1);
	buf[1] = 'D';
	cr_assert_eq(rmq_retained_decode(buf, h + 1, &c), -1);
}

Test(retained, a_delete_refuses_older_sets_for_a_while)
{
	struct rmq_tombs t;
	cr_assert_eq(rmq_tombs_init(&t), 0);
	uint64_t now_us = 1000000000000ull;
	uint64_t at = now_us << 12;
	cr_assert_eq(rmq_tombs_refuse(&t, "x", 1, at), 0);
	rmq_tombs_put(&t, "x", 1, at);
	cr_assert_eq(rmq_tombs_refuse(&t, "x", 1, at - 1), 1);
	cr_assert_eq(rmq_tombs_refuse(&t, "x", 1, at), 1);
	cr_assert_eq(rmq_tombs_refuse(&t, "x", 1, at + 1), 0);
	cr_assert_eq(rmq_tombs_refuse(&t, "y", 1, 1), 0);
	cr_assert_eq(t.refused, 2);
	/* An older delete does not move it back. */
	rmq_tombs_put(&t, "x", 1, at - 100);
	cr_assert_eq(rmq_tombs_refuse(&t, "x", 1, at - 50), 1);
	/* Kept within RMQ_TOMB_MS, forgotten after. */
	rmq_tombs_expire(&t, now_us + (RMQ_TOMB_MS - 1) * 1000ull);
	cr_assert_eq(t.map.live, 1);
	rmq_tombs_expire(&t, now_us + (RMQ_TOMB_MS + 1) * 1000ull);
	cr_assert_eq(t.map.live, 0);
	cr_assert_eq(rmq_tombs_refuse(&t, "x", 1, at - 1), 0);
	rmq_tombs_fini(&t);
}

Test(retained, deletes_remembered_are_bounded)
{
	struct rmq_tombs t;
	cr_assert_eq(rmq_tombs_init(&t), 0);
	char topic[32];
	for (unsigned i = 0; i < RMQ_TOMBS_MAX + 10; i++) {
		int n = snprintf(topic, sizeof(topic), "t/%u", i);
		rmq_tombs_put(&t, topic, (size_t)n, 100 + i);
	}
	cr_assert_eq(t.map.live, RMQ_TOMBS_MAX);
	/* One already held still moves forward. */
	rmq_tombs_put(&t, "t/0", 3, 1u << 30);
	cr_assert_eq(rmq_tombs_refuse(&t, "t/0", 3, (1u << 30) - 1), 1);
	rmq_tombs_fini(&t);
}
