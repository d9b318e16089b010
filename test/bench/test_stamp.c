/* test/bench/test_stamp.c: bench/stamp.c: the payload stamp's layout and
 * check word, and the per-publisher accounting of new, duplicate and
 * out-of-order arrivals. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "stamp.h"

Test(stamp, round_trip)
{
	uint8_t buf[64];
	memset(buf, 0xee, sizeof(buf));
	struct rmq_bench_stamp s = { 7, 123456, 0x0102030405060708ull }, g;
	rmq_bench_stamp_put(buf, &s, 0);
	cr_assert_eq(rmq_bench_stamp_get(buf, sizeof(buf), 0, &g), 0);
	cr_assert_eq(g.pub, 7);
	cr_assert_eq(g.seq, 123456);
	cr_assert_eq(g.ts, 0x0102030405060708ull);
	cr_assert_eq(buf[RMQ_BENCH_STAMP_SIZE], 0xee, "wrote past the stamp");
}

Test(stamp, layout_is_little_endian_as_documented)
{
	uint8_t buf[RMQ_BENCH_STAMP_SIZE];
	struct rmq_bench_stamp s = { 0x11223344, 0x55667788,
		0x0102030405060708ull };
	rmq_bench_stamp_put(buf, &s, 0);
	const uint8_t want[16] = { 0x44, 0x33, 0x22, 0x11, 0x88, 0x77, 0x66,
		0x55, 0x08, 0x07, 0x06, 0x05, 0x04, 0x03, 0x02, 0x01 };
	cr_assert_eq(memcmp(buf, want, 16), 0);
	uint32_t check = 0x11223344u ^ 0x55667788u ^ 0x05060708u ^ 0x01020304u ^
	    RMQ_BENCH_STAMP_MAGIC;
	cr_assert_eq(buf[16] | buf[17] << 8 | buf[18] << 16 |
		(uint32_t)buf[19] << 24,
	    check);
}

Test(stamp, another_runs_stamp_is_not_ours)
{
	/* Two runs on the same topics: each reads its own stamps only, and
	 * run 0 (the pub and sub commands) keeps the layout above. */
	uint8_t buf[RMQ_BENCH_STAMP_SIZE];
	struct rmq_bench_stamp s = { 3, 41, 0x0102030405060708ull }, g;
	rmq_bench_stamp_put(buf, &s, 0x9e3779b9u);
	cr_assert_eq(rmq_bench_stamp_get(buf, sizeof(buf), 0x9e3779b9u, &g), 0);
	cr_assert_eq(g.seq, 41);
	cr_assert_eq(rmq_bench_stamp_get(buf, sizeof(buf), 0x9e3779bau, &g),
	    -EINVAL);
	cr_assert_eq(rmq_bench_stamp_get(buf, sizeof(buf), 0, &g), -EINVAL);
	rmq_bench_stamp_put(buf, &s, 0);
	cr_assert_eq(rmq_bench_stamp_get(buf, sizeof(buf), 0x9e3779b9u, &g),
	    -EINVAL);
}

Test(stamp, foreign_or_short_payload_is_refused)
{
	uint8_t buf[RMQ_BENCH_STAMP_SIZE];
	struct rmq_bench_stamp s = { 1, 2, 3 }, g;
	rmq_bench_stamp_put(buf, &s, 0);
	cr_assert_eq(rmq_bench_stamp_get(buf, RMQ_BENCH_STAMP_SIZE - 1, 0, &g),
	    -EINVAL);
	buf[5] ^= 0x40; /* a flipped sequence bit breaks the check word */
	cr_assert_eq(rmq_bench_stamp_get(buf, sizeof(buf), 0, &g), -EINVAL);
	memset(buf, 0, sizeof(buf));
	cr_assert_eq(rmq_bench_stamp_get(buf, sizeof(buf), 0, &g), -EINVAL);
}

Test(track, in_order_stream)
{
	struct rmq_bench_track t = { 0 };
	for (uint32_t i = 0; i < 1000; i++)
		cr_assert_eq(rmq_bench_track_add(&t, i), RMQ_BENCH_TRACK_NEW);
	cr_assert_eq(t.uniq, 1000);
	cr_assert_eq(t.high, 1000);
	cr_assert_eq(t.dup, 0);
	cr_assert_eq(t.ooo, 0);
	cr_assert_eq(rmq_bench_track_gaps(&t), 0);
}

Test(track, duplicate_is_recognised)
{
	struct rmq_bench_track t = { 0 };
	for (uint32_t i = 0; i < 10; i++)
		rmq_bench_track_add(&t, i);
	cr_assert_eq(rmq_bench_track_add(&t, 9), RMQ_BENCH_TRACK_DUP);
	cr_assert_eq(rmq_bench_track_add(&t, 3), RMQ_BENCH_TRACK_DUP);
	cr_assert_eq(t.dup, 2);
	cr_assert_eq(t.uniq, 10);
	cr_assert_eq(t.ooo, 0);
}

Test(track, late_arrival_is_out_of_order_then_a_duplicate)
{
	struct rmq_bench_track t = { 0 };
	rmq_bench_track_add(&t, 0);
	rmq_bench_track_add(&t, 1);
	rmq_bench_track_add(&t, 3); /* 2 is missing for now */
	cr_assert_eq(rmq_bench_track_gaps(&t), 1);
	cr_assert_eq(rmq_bench_track_add(&t, 2), RMQ_BENCH_TRACK_OOO);
	cr_assert_eq(rmq_bench_track_gaps(&t), 0);
	cr_assert_eq(rmq_bench_track_add(&t, 2), RMQ_BENCH_TRACK_DUP);
	cr_assert_eq(t.uniq, 4);
	cr_assert_eq(t.ooo, 1);
	cr_assert_eq(t.dup, 1);
}

Test(track, loss_shows_as_gaps)
{
	struct rmq_bench_track t = { 0 };
	for (uint32_t i = 0; i < 100; i += 2)
		rmq_bench_track_add(&t, i);
	cr_assert_eq(t.uniq, 50);
	cr_assert_eq(t.high, 99);
	cr_assert_eq(rmq_bench_track_gaps(&t), 49);
}

Test(track, jump_beyond_the_window)
{
	struct rmq_bench_track t = { 0 };
	rmq_bench_track_add(&t, 0);
	cr_assert_eq(rmq_bench_track_add(&t, 500), RMQ_BENCH_TRACK_NEW);
	/* 1 is 499 behind the highest: new to us, counted out of order */
	cr_assert_eq(rmq_bench_track_add(&t, 1), RMQ_BENCH_TRACK_OOO);
	/* 0 is too old to tell apart from a duplicate: also out of order */
	cr_assert_eq(rmq_bench_track_add(&t, 0), RMQ_BENCH_TRACK_OOO);
	/* within the window the bitmap still knows */
	cr_assert_eq(rmq_bench_track_add(&t, 470), RMQ_BENCH_TRACK_OOO);
	cr_assert_eq(rmq_bench_track_add(&t, 470), RMQ_BENCH_TRACK_DUP);
	cr_assert_eq(rmq_bench_track_add(&t, 500), RMQ_BENCH_TRACK_DUP);
}

Test(track, window_edge)
{
	struct rmq_bench_track t = { 0 };
	for (uint32_t i = 0; i < 64; i++)
		if (i != 0)
			rmq_bench_track_add(&t, i);
	/* 0 is exactly 63 behind the highest (63): still in the window */
	cr_assert_eq(rmq_bench_track_add(&t, 0), RMQ_BENCH_TRACK_OOO);
	cr_assert_eq(rmq_bench_track_add(&t, 0), RMQ_BENCH_TRACK_DUP);
}

Test(track_table, same_publisher_same_track)
{
	struct rmq_bench_track_table tt;
	cr_assert_eq(rmq_bench_track_table_init(&tt, 100), 0);
	struct rmq_bench_track *a = rmq_bench_track_table_get(&tt, 42);
	struct rmq_bench_track *b = rmq_bench_track_table_get(&tt, 43);
	cr_assert_not_null(a);
	cr_assert_not_null(b);
	cr_assert_neq(a, b);
	cr_assert_eq(rmq_bench_track_table_get(&tt, 42), a);
	cr_assert_eq(a->pub, 42);
	cr_assert_eq(tt.n, 2);
	rmq_bench_track_table_fini(&tt);
}

Test(track_table, full_table_counts_untracked)
{
	struct rmq_bench_track_table tt;
	cr_assert_eq(rmq_bench_track_table_init(&tt, 1), 0);
	cr_assert_eq(tt.mask + 1, 8);
	for (uint32_t p = 0; p < 7; p++)
		cr_assert_not_null(rmq_bench_track_table_get(&tt, p * 1000));
	cr_assert_null(rmq_bench_track_table_get(&tt, 99));
	cr_assert_eq(tt.untracked, 1);
	/* known publishers are still found */
	cr_assert_not_null(rmq_bench_track_table_get(&tt, 6000));
	rmq_bench_track_table_fini(&tt);
}

Test(track_table, thousands_of_publishers)
{
	struct rmq_bench_track_table tt;
	cr_assert_eq(rmq_bench_track_table_init(&tt, 5000), 0);
	for (uint32_t p = 0; p < 5000; p++) {
		struct rmq_bench_track *t = rmq_bench_track_table_get(&tt, p);
		cr_assert_not_null(t);
		rmq_bench_track_add(t, 0);
	}
	struct rmq_bench_track_sum sum = { 0 };
	for (uint32_t s = 0; s <= tt.mask; s++)
		if (tt.slot[s].used)
			rmq_bench_track_sum_add(&sum, &tt.slot[s]);
	cr_assert_eq(sum.uniq, 5000);
	cr_assert_eq(tt.untracked, 0);
	rmq_bench_track_table_fini(&tt);
}
