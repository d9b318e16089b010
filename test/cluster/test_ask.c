/* test/cluster/test_ask.c: the admin API's questions to the peers
 * (cluster/ask.c): answers gathered, settled by the last answer, a peer
 * down or the deadline, the bound, and the records. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "ask.h"

static struct rmq_asks t;
static int answers, found_sum, ends;
static char last_node[64];

static void
on_answer(void *arg, const char *node, int found, const char *json, size_t len)
{
	(void)arg;
	(void)json;
	(void)len;
	answers++;
	found_sum += found;
	snprintf(last_node, sizeof(last_node), "%s", node);
}

static void
setup(void)
{
	memset(&t, 0, sizeof(t));
	answers = found_sum = ends = 0;
}

TestSuite(ask, .init = setup);

/* Peers 1, 2 and 70 (a second word of the mask). */
static uint64_t
open3(uint64_t deadline)
{
	uint64_t up[RMQ_PEER_WORDS] = { 0 }, id;
	up[0] = 1u << 0 | 1u << 1;
	up[1] = 1ull << (70 - 1 - 64);
	cr_assert_eq(rmq_asks_open(&t, up, 3, deadline, on_answer, NULL, NULL,
			 &id),
	    0);
	return id;
}

Test(ask, settled_by_the_last_answer_once)
{
	uint64_t id = open3(1000);
	struct rmq_ask done;
	cr_assert_eq(rmq_asks_answer(&t, id, 2, "b", 3, "{}", 2, &done), 0);
	cr_assert_eq(rmq_asks_answer(&t, id, 2, "b", 3, "{}", 2, &done), 0,
	    "a copy is not a second answer");
	cr_assert_eq(rmq_asks_answer(&t, id, 5, "e", 1, NULL, 0, &done), 0,
	    "a peer not asked");
	cr_assert_eq(rmq_asks_answer(&t, id + 1, 1, "a", 1, NULL, 0, &done), 0,
	    "another question");
	cr_assert_eq(rmq_asks_answer(&t, id, 1, "a", 1, NULL, 0, &done), 0);
	cr_assert_eq(rmq_asks_answer(&t, id, 70, "z", 0, NULL, 0, &done), 1);
	cr_assert_eq(answers, 3);
	cr_assert_eq(found_sum, 4);
	cr_assert_str_eq(last_node, "z");
	cr_assert_eq(done.asked, 3);
	cr_assert_eq(done.answered, 3);
	cr_assert_eq(t.n, 0);
	cr_assert_eq(rmq_asks_answer(&t, id, 1, "a", 1, NULL, 0, &done), 0,
	    "late: dropped");
	cr_assert_eq(answers, 3);
}

Test(ask, settled_by_peers_down_and_by_the_deadline)
{
	uint64_t id = open3(1000);
	(void)open3(5000);
	struct rmq_ask done[RMQ_ASKS_MAX];
	cr_assert_eq(rmq_asks_expire(&t, 0, 999, done), 0);
	struct rmq_ask one;
	cr_assert_eq(rmq_asks_answer(&t, id, 1, "a", 1, NULL, 0, &one), 0);
	cr_assert_eq(rmq_asks_expire(&t, 2, 0, done), 0);
	cr_assert_eq(rmq_asks_expire(&t, 70, 0, done), 1,
	    "the first: no one left to wait for");
	cr_assert_eq(done[0].id, id);
	cr_assert_eq(done[0].answered, 1);
	cr_assert_eq(rmq_asks_expire(&t, 0, 5000, done), 1, "the deadline");
	cr_assert_eq(t.n, 0);
}

Test(ask, a_bound_on_questions_waiting)
{
	for (unsigned i = 0; i < RMQ_ASKS_MAX; i++)
		(void)open3(1000);
	uint64_t up[RMQ_PEER_WORDS] = { 1 }, id;
	cr_assert_eq(rmq_asks_open(&t, up, 1, 1000, on_answer, NULL, NULL, &id),
	    -ENOSPC);
	cr_assert_eq(t.refused, 1);
}

Test(ask, records_both_ways_and_cut_ones_refused)
{
	uint8_t buf[256];
	size_t n = rmq_ask_encode(buf, sizeof(buf), 'Z', "node-1", 77, -12,
	    "[1,2]", 5);
	cr_assert_gt(n, 0);
	struct rmq_ask_rec r;
	cr_assert_eq(rmq_ask_decode(buf, n, 'Z', &r), 0);
	cr_assert_str_eq(r.node, "node-1");
	cr_assert_eq(r.id, 77);
	cr_assert_eq(r.found, -12);
	cr_assert_eq(r.body_len, 5);
	cr_assert_eq(memcmp(r.body, "[1,2]", 5), 0);
	cr_assert_neq(rmq_ask_decode(buf, n, 'Y', &r), 0, "not a question");
	for (size_t cut = 0; cut < 3 + 1 + 6 + 8 + 4; cut++)
		cr_assert_neq(rmq_ask_decode(buf, cut, 'Z', &r), 0, "%zu", cut);
	n = rmq_ask_encode(buf, sizeof(buf), 'Y', "n", 5, 0, "q", 1);
	cr_assert_eq(rmq_ask_decode(buf, n, 'Y', &r), 0);
	cr_assert_eq(r.body_len, 1);
	cr_assert_eq(rmq_ask_encode(buf, 10, 'Y', "node-1", 5, 0, "q", 1), 0,
	    "no room");
}
