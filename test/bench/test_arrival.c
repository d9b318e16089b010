/* test/bench/test_arrival.c: bench/arrival.c, the paced publishers'
 * schedule: the three patterns' offsets, every publisher once per
 * interval in time order, the same offsets however publishers are split
 * over loops, and dropping only turns a whole interval late. */
#include <criterion/criterion.h>
#include <stdlib.h>

#include "arrival.h"

#define MS 1000000ull

/* Take a whole round and check it: due times never go back, each
 * publisher of the loop comes exactly once, all within round r. */
static void
take_round(struct rmq_bench_sched *s, uint64_t r, uint64_t *offs)
{
	char *seen = calloc(s->n, 1);
	uint64_t prev = 0;
	for (uint32_t i = 0; i < s->n; i++) {
		uint64_t due = rmq_bench_sched_due(s);
		cr_assert_geq(due, prev);
		cr_assert_geq(due, r * s->period);
		cr_assert_lt(due, (r + 1) * s->period);
		uint32_t who = rmq_bench_sched_take(s);
		cr_assert_lt(who, s->n);
		cr_assert_eq(seen[who], 0, "publisher %u twice", who);
		seen[who] = 1;
		if (offs)
			offs[who] = due - r * s->period;
		prev = due;
	}
	free(seen);
}

Test(arrival, names)
{
	cr_assert_eq(rmq_bench_arrival_from("even"), RMQ_ARRIVAL_EVEN);
	cr_assert_eq(rmq_bench_arrival_from("random"), RMQ_ARRIVAL_RANDOM);
	cr_assert_eq(rmq_bench_arrival_from("aligned"), RMQ_ARRIVAL_ALIGNED);
	cr_assert_eq(rmq_bench_arrival_from("Even"), -1);
	cr_assert_eq(rmq_bench_arrival_from(""), -1);
	cr_assert_str_eq(rmq_bench_arrival_name(RMQ_ARRIVAL_ALIGNED),
	    "aligned");
}

/* Even: publisher k of K at k * interval / K, so the loops interleave
 * and the whole run's sends are interval / K apart. */
Test(arrival, even_spreads_all_loops_over_the_interval)
{
	enum { K = 200, LOOPS = 2 };
	uint64_t period = 10 * MS;
	char hit[K] = { 0 };
	for (uint32_t l = 0; l < LOOPS; l++) {
		struct rmq_bench_sched s;
		cr_assert_eq(rmq_bench_sched_init(&s, RMQ_ARRIVAL_EVEN, period,
				 K / LOOPS, l, LOOPS, K, 1),
		    0);
		uint64_t offs[K / LOOPS];
		for (uint64_t r = 0; r < 3; r++)
			take_round(&s, r, offs);
		for (uint32_t j = 0; j < K / LOOPS; j++) {
			uint32_t k = l + j * LOOPS;
			cr_assert_eq(offs[j], k * (period / K),
			    "publisher %u at %llu", k,
			    (unsigned long long)offs[j]);
			hit[offs[j] / (period / K)]++;
		}
		rmq_bench_sched_fini(&s);
	}
	for (uint32_t k = 0; k < K; k++)
		cr_assert_eq(hit[k], 1, "slot %u", k);
}

/* Random: an offset depends on the publisher's number and the seed only,
 * not on how publishers are split over loops; another seed moves them. */
Test(arrival, random_offsets_follow_the_publisher_and_seed)
{
	enum { K = 300 };
	uint64_t period = 10 * MS;
	struct rmq_bench_sched one, a, b, other;
	cr_assert_eq(rmq_bench_sched_init(&one, RMQ_ARRIVAL_RANDOM, period, K,
			 0, 1, K, 42),
	    0);
	cr_assert_eq(rmq_bench_sched_init(&a, RMQ_ARRIVAL_RANDOM, period, K / 3,
			 1, 3, K, 42),
	    0);
	cr_assert_eq(rmq_bench_sched_init(&b, RMQ_ARRIVAL_RANDOM, period, K / 3,
			 1, 3, K, 42),
	    0);
	cr_assert_eq(rmq_bench_sched_init(&other, RMQ_ARRIVAL_RANDOM, period, K,
			 0, 1, K, 43),
	    0);
	uint64_t o1[K], oa[K / 3], ob[K / 3], oo[K];
	take_round(&one, 0, o1);
	take_round(&a, 0, oa);
	take_round(&b, 0, ob);
	take_round(&other, 0, oo);
	uint32_t moved = 0, low = 0;
	for (uint32_t j = 0; j < K / 3; j++) {
		cr_assert_eq(oa[j], ob[j]);
		cr_assert_eq(oa[j], o1[1 + j * 3], "publisher %u", 1 + j * 3);
	}
	for (uint32_t k = 0; k < K; k++) {
		moved += o1[k] != oo[k];
		low += o1[k] < period / 2;
	}
	cr_assert_geq(moved, K - 2);
	/* Spread over the interval, not bunched: a fair coin's 300 tosses
	 * fall outside 100..200 heads with probability below 1e-8. */
	cr_assert(low > 100 && low < 200, "%u of %u in the first half", low, K);
	rmq_bench_sched_fini(&one);
	rmq_bench_sched_fini(&a);
	rmq_bench_sched_fini(&b);
	rmq_bench_sched_fini(&other);
}

Test(arrival, aligned_sends_all_at_the_start_of_each_interval)
{
	struct rmq_bench_sched s;
	cr_assert_eq(rmq_bench_sched_init(&s, RMQ_ARRIVAL_ALIGNED, 5 * MS, 50,
			 0, 2, 100, 1),
	    0);
	for (uint64_t r = 0; r < 4; r++)
		for (uint32_t i = 0; i < 50; i++) {
			cr_assert_eq(rmq_bench_sched_due(&s), r * 5 * MS);
			rmq_bench_sched_take(&s);
		}
	rmq_bench_sched_fini(&s);
}

/* Skipping drops exactly the turns whose next turn is due too: checked
 * against taking turns one by one, for stalls shorter and much longer than
 * an interval, from the start of a round and from its middle. */
Test(arrival, skip_drops_only_turns_an_interval_late)
{
	uint64_t period = 10 * MS;
	uint64_t stalls[] = { 0, 1, period - 1, period, period + 3 * MS,
		2 * period + 1, 7 * period + 4 * MS, 1000 * period + 123 };
	uint32_t starts[] = { 0, 17, 39 };
	for (size_t i = 0; i < sizeof(stalls) / sizeof(stalls[0]); i++)
		for (size_t j = 0; j < 3; j++) {
			struct rmq_bench_sched s, m;
			cr_assert_eq(rmq_bench_sched_init(&s,
					 RMQ_ARRIVAL_RANDOM, period, 40, 0, 1,
					 40, 9),
			    0);
			cr_assert_eq(rmq_bench_sched_init(&m,
					 RMQ_ARRIVAL_RANDOM, period, 40, 0, 1,
					 40, 9),
			    0);
			for (uint32_t t = 0; t < starts[j]; t++) {
				rmq_bench_sched_take(&s);
				rmq_bench_sched_take(&m);
			}
			uint64_t now = rmq_bench_sched_due(&s) + stalls[i];
			uint64_t want = 0;
			while (rmq_bench_sched_due(&m) + period <= now) {
				rmq_bench_sched_take(&m);
				want++;
			}
			cr_assert_eq(rmq_bench_sched_skip(&s, now), want,
			    "stall %llu from slot %u",
			    (unsigned long long)stalls[i], starts[j]);
			cr_assert_eq(s.round, m.round);
			cr_assert_eq(s.cursor, m.cursor);
			/* What is left is due within the last interval. */
			cr_assert_gt(rmq_bench_sched_due(&s) + period, now);
			rmq_bench_sched_fini(&s);
			rmq_bench_sched_fini(&m);
		}
}

Test(arrival, no_publishers)
{
	struct rmq_bench_sched s;
	cr_assert_eq(rmq_bench_sched_init(&s, RMQ_ARRIVAL_RANDOM, MS, 0, 0, 1,
			 0, 1),
	    0);
	cr_assert_eq(rmq_bench_sched_skip(&s, 50 * MS), 0);
	rmq_bench_sched_fini(&s);
}
