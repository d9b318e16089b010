/* test/broker/mqtt/test_membudget.c: memory_limit on the fake loop
 * backend: once worker 0's tick finds the node over its budget, new work
 * is refused with the codes docs/configuration.md gives (CONNECT 0x97 /
 * 3.x 3, PUBLISH 0x97 / acknowledged, SUBSCRIBE 0x97 / 0x80) while what
 * the node holds keeps being served, and it is all taken again once the
 * node is back under.  The budget is measured against this process's
 * real resident set: 1 MiB is always passed, 0 never. */
#include <criterion/criterion.h>

#include "rmq_test.h"
#include "rmq_test_node.h"

RMQ_NODE_SUITE(membudget, 1, NULL);

/* The budget set as a reload would, then one tick of worker 0. */
static void
budget(uint64_t bytes)
{
	atomic_store(&rmq_test_node.mem_limit, bytes);
	rmq_fake_advance(250);
	rmq_fake_settle();
}

static uint64_t
refused(size_t offset)
{
	return rmq_workers_sum(&rmq_test_node, offset);
}

Test(membudget, over_the_budget_new_work_is_refused_and_held_work_served)
{
	struct rmq_fake_client *s = rmq_test_connect(0, RMQ_V5, "s", 1, NULL),
			       *p = rmq_test_connect(0, RMQ_V5, "p", 1, NULL),
			       *p3 =
				   rmq_test_connect(0, RMQ_V311, "p3", 1, NULL);
	rmq_test_subscribe(s, RMQ_V5, "t", 1, 1);
	rmq_test_publish(p, RMQ_V5, "t", "x", 2, 9);
	RMQ_EXPECT(p, 0x50, 2, 0, 9); /* PUBREC, before the budget */
	RMQ_EXPECT(s, 0x32, 7, 0, 1, 't', 0, 1, 0, 'x');

	budget(1u << 20);
	cr_assert_eq(atomic_load(&rmq_test_node.mem_over), 1);
	cr_assert_gt(atomic_load(&rmq_test_node.mem_resident), 1u << 20);
	cr_assert_eq(atomic_load(&rmq_test_node.mem_over_total), 1);

	/* A new connection: 5.0 CONNACK 0x97, 3.1.1 return code 3. */
	RMQ_CONNECT_REFUSED(0, RMQ_V5, "c", 0x97);
	RMQ_CONNECT_REFUSED(0, RMQ_V311, "d", 3);
	cr_assert_eq(refused(RMQ_STAT(mem_refused_connect)), 2);

	/* PUBLISHes: 5.0 QoS 1 and 2 answered 0x97 and sent nowhere, 3.1.1
	 * acknowledged without a code, QoS 0 dropped. */
	rmq_test_publish(p, RMQ_V5, "t", "y", 1, 1);
	RMQ_EXPECT(p, 0x40, 3, 0, 1, 0x97);
	rmq_test_publish(p, RMQ_V5, "t", "y", 2, 2);
	RMQ_EXPECT(p, 0x50, 3, 0, 2, 0x97);
	rmq_test_publish(p3, RMQ_V311, "t", "y", 1, 3);
	RMQ_EXPECT(p3, 0x40, 2, 0, 3);
	rmq_test_publish(p, RMQ_V5, "t", "y", 0, 0);
	RMQ_EXPECT_NOTHING(s);
	cr_assert_eq(refused(RMQ_STAT(mem_refused_publish)), 4);

	/* Work held before goes on: the QoS 2 flow taken before the
	 * budget is released, and the subscriber's acknowledgement
	 * taken. */
	RMQ_SEND(p, 0x62, 2, 0, 9); /* PUBREL */
	RMQ_EXPECT(p, 0x70, 2, 0, 9); /* PUBCOMP */
	RMQ_SEND(s, 0x40, 2, 0, 1); /* PUBACK */
	RMQ_EXPECT_NOTHING(s);

	/* A new filter: 5.0 0x97, 3.1.1 0x80; one held is updated. */
	RMQ_SEND(s, 0x82, 11, 0, 2, 0, 0, 1, 'u', 1, 0, 1, 't', 1);
	RMQ_EXPECT(s, 0x90, 5, 0, 2, 0, 0x97, 1);
	RMQ_SEND(p3, 0x82, 6, 0, 3, 0, 1, 'u', 0);
	RMQ_EXPECT(p3, 0x90, 3, 0, 3, 0x80);
	cr_assert_eq(refused(RMQ_STAT(mem_refused_subscribe)), 2);
	cr_assert_not(s->closed || s->shut || p->closed || p->shut);

	/* Back under (no budget): all of it is taken again. */
	budget(0);
	cr_assert_eq(atomic_load(&rmq_test_node.mem_over), 0);
	rmq_test_publish(p, RMQ_V5, "t", "z", 1, 4);
	RMQ_EXPECT(p, 0x40, 2, 0, 4);
	RMQ_EXPECT(s, 0x32, 7, 0, 1, 't', 0, 2, 0, 'z');
	rmq_test_connect(0, RMQ_V5, "c", 1, NULL);
}

Test(membudget, clearing_a_retained_message_is_taken_over_the_budget)
{
	struct rmq_fake_client *p = rmq_test_connect(0, RMQ_V5, "p", 1, NULL);
	RMQ_SEND(p, 0x33, 8, 0, 1, 'r', 0, 1, 0, 'v', 'v'); /* retained */
	RMQ_EXPECT(p, 0x40, 3, 0, 1, 0x10); /* no matching subscribers */
	budget(1u << 20);
	RMQ_SEND(p, 0x33, 6, 0, 1, 'r', 0, 2, 0); /* empty: clears it */
	RMQ_EXPECT(p, 0x40, 3, 0, 2, 0x10);
	/* Under again, a subscriber to it gets nothing: it was cleared. */
	budget(0);
	struct rmq_fake_client *s = rmq_test_connect(0, RMQ_V5, "s", 1, NULL);
	rmq_test_subscribe(s, RMQ_V5, "r", 0, 0);
	RMQ_EXPECT_NOTHING(s);
}
