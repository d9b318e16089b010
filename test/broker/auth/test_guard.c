/* test/broker/auth/test_guard.c: broker/auth/guard.c, failed logins by
 * source address: the free failures, the doubling delay and its bound,
 * forgetting after a quiet while, addresses apart, and a table that
 * stays bounded under a flood of addresses. */
#include <criterion/criterion.h>
#include <stdio.h>

#include "guard.h"

Test(guard, free_failures_then_a_doubling_delay_up_to_the_bound)
{
	struct rmq_guard *g = rmq_guard_new(3000);
	cr_assert_not_null(g);
	uint64_t t = 1000000;
	for (int i = 0; i < RMQ_GUARD_FREE; i++)
		cr_assert_eq(rmq_guard_failed(g, "203.0.113.7", t++), 0);
	uint32_t want[] = { 250, 500, 1000, 2000, 3000, 3000 };
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++)
		cr_assert_eq(rmq_guard_failed(g, "203.0.113.7", t++), want[i],
		    "failure %zu", i + RMQ_GUARD_FREE + 1);
	cr_assert_eq(rmq_guard_delayed(g), 6);
	/* Another address starts afresh. */
	cr_assert_eq(rmq_guard_failed(g, "2001:db8::7", t++), 0);
	rmq_guard_free(g);
}

Test(guard, quiet_addresses_are_forgiven)
{
	struct rmq_guard *g = rmq_guard_new(10000);
	uint64_t t = 1000000;
	for (int i = 0; i < 5; i++)
		rmq_guard_failed(g, "198.51.100.4", t);
	cr_assert_gt(rmq_guard_failed(g, "198.51.100.4", t), 0);
	/* Failing again before the quiet time keeps the count... */
	t += RMQ_GUARD_FORGET_MS - 1;
	cr_assert_gt(rmq_guard_failed(g, "198.51.100.4", t), 0);
	/* ...after it, the count starts again. */
	t += RMQ_GUARD_FORGET_MS + 1;
	cr_assert_eq(rmq_guard_failed(g, "198.51.100.4", t), 0);
	rmq_guard_free(g);
}

Test(guard, zero_bound_counts_without_delay)
{
	struct rmq_guard *g = rmq_guard_new(0);
	for (int i = 0; i < 20; i++)
		cr_assert_eq(rmq_guard_failed(g, "203.0.113.7", 1000), 0);
	cr_assert_eq(rmq_guard_delayed(g), 0);
	rmq_guard_free(g);
}

Test(guard, a_flood_of_addresses_stays_in_the_table)
{
	struct rmq_guard *g = rmq_guard_new(10000);
	uint64_t t = 1000000;
	/* Ten times the table's size of addresses, each failing once:
	 * none is slowed by another's failures however they collide in
	 * the fixed table (the one failed longest ago gives way). */
	char host[32];
	for (int i = 0; i < 10 * RMQ_GUARD_SLOTS; i++) {
		snprintf(host, sizeof(host), "10.%d.%d.%d", (i >> 16) & 255,
		    (i >> 8) & 255, i & 255);
		cr_assert_eq(rmq_guard_failed(g, host, ++t), 0);
	}
	/* An address guessing after the flood is counted as ever. */
	for (int i = 0; i < 4; i++)
		rmq_guard_failed(g, "192.0.2.99", ++t);
	cr_assert_eq(rmq_guard_failed(g, "192.0.2.99", ++t), 500);
	/* Hostile input: no address, or one too long to be one. */
	cr_assert_eq(rmq_guard_failed(g, "", t), 0);
	cr_assert_eq(rmq_guard_failed(g,
			 "0123456789012345678901234567890123456789012345678",
			 t),
	    0);
	rmq_guard_free(g);
}

Test(guard, connects_per_second_per_address)
{
	struct rmq_guard *g = rmq_guard_new(10000);
	uint64_t t = 5000000; /* the start of a second */
	for (int i = 0; i < 3; i++)
		cr_assert_eq(rmq_guard_connect(g, "203.0.113.7", t + 10 * i, 3),
		    0);
	cr_assert_eq(rmq_guard_connect(g, "203.0.113.7", t + 900, 3), 1,
	    "the fourth in the same second");
	cr_assert_eq(rmq_guard_connect(g, "203.0.113.7", t + 950, 3), 1);
	cr_assert_eq(rmq_guard_connect(g, "198.51.100.1", t + 950, 3), 0,
	    "another address has its own count");
	cr_assert_eq(rmq_guard_connect(g, "203.0.113.7", t + 1000, 3), 0,
	    "the next second starts afresh");
	/* No limit: never refused. */
	for (int i = 0; i < 100; i++)
		cr_assert_eq(rmq_guard_connect(g, "192.0.2.1", t, 0), 0);
	/* Connects do not make failures forgotten later or sooner. */
	for (int i = 0; i < 5; i++)
		rmq_guard_failed(g, "192.0.2.2", t);
	rmq_guard_connect(g, "192.0.2.2", t + RMQ_GUARD_FORGET_MS, 3);
	cr_assert_eq(rmq_guard_failed(g, "192.0.2.2",
			 t + RMQ_GUARD_FORGET_MS + 1),
	    0, "forgotten 10 minutes after its last failure");
	rmq_guard_free(g);
}
