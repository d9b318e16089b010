/* test/bench/test_hist.c: bench/hist.c, the log-linear histogram: bucket
 * bounds, the 1/64 relative error, percentiles, merging. */
#include <criterion/criterion.h>
#include <stdint.h>

#include "hist.h"

static struct rmq_bench_hist h, h2;

Test(hist, small_values_are_exact)
{
	for (uint64_t v = 0; v < RMQ_BENCH_HIST_SUB; v++) {
		unsigned b = rmq_bench_hist_bucket(v);
		cr_assert_eq(b, v);
		cr_assert_eq(rmq_bench_hist_bucket_low(b), v);
		cr_assert_eq(rmq_bench_hist_bucket_high(b), v);
	}
}

Test(hist, every_value_falls_within_its_bucket)
{
	uint64_t vals[] = { 64, 65, 127, 128, 129, 1000, 4095, 4096, 123456789,
		(uint64_t)1 << 40, ((uint64_t)1 << 40) + 12345,
		(uint64_t)1 << 63, UINT64_MAX - 1, UINT64_MAX };
	for (size_t i = 0; i < sizeof(vals) / sizeof(vals[0]); i++) {
		uint64_t v = vals[i];
		unsigned b = rmq_bench_hist_bucket(v);
		cr_assert_lt(b, RMQ_BENCH_HIST_BUCKETS, "value %llu",
		    (unsigned long long)v);
		cr_assert_leq(rmq_bench_hist_bucket_low(b), v);
		cr_assert_geq(rmq_bench_hist_bucket_high(b), v);
		/* width at most 1/64 of the bucket's low bound */
		uint64_t lo = rmq_bench_hist_bucket_low(b),
			 hi = rmq_bench_hist_bucket_high(b);
		cr_assert_leq(hi - lo, lo / 64, "bucket %u [%llu, %llu]", b,
		    (unsigned long long)lo, (unsigned long long)hi);
	}
	cr_assert_eq(rmq_bench_hist_bucket(UINT64_MAX),
	    RMQ_BENCH_HIST_BUCKETS - 1);
}

Test(hist, buckets_are_contiguous_and_increasing)
{
	for (unsigned b = 1; b < RMQ_BENCH_HIST_BUCKETS; b++)
		cr_assert_eq(rmq_bench_hist_bucket_low(b),
		    rmq_bench_hist_bucket_high(b - 1) + 1, "bucket %u", b);
}

Test(hist, empty_histogram_reports_zero)
{
	rmq_bench_hist_init(&h);
	cr_assert_eq(h.count, 0);
	cr_assert_eq(rmq_bench_hist_percentile(&h, 50), 0);
	cr_assert_eq(rmq_bench_hist_percentile(&h, 100), 0);
	cr_assert_float_eq(rmq_bench_hist_mean(&h), 0.0, 1e-12);
}

Test(hist, percentiles_of_a_uniform_range)
{
	rmq_bench_hist_init(&h);
	for (uint64_t v = 1; v <= 100000; v++)
		rmq_bench_hist_record(&h, v);
	cr_assert_eq(h.count, 100000);
	cr_assert_eq(h.min, 1);
	cr_assert_eq(h.max, 100000);
	struct {
		double p;
		double want;
	} cases[] = { { 50, 50000 }, { 90, 90000 }, { 99, 99000 },
		{ 99.9, 99900 } };
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		double got = (double)rmq_bench_hist_percentile(&h, cases[i].p);
		cr_assert_geq(got, cases[i].want, "p%g = %g", cases[i].p, got);
		cr_assert_leq(got, cases[i].want * (1 + 1.0 / 64), "p%g = %g",
		    cases[i].p, got);
	}
	cr_assert_eq(rmq_bench_hist_percentile(&h, 100), 100000);
	cr_assert_eq(rmq_bench_hist_percentile(&h, 0), 1);
	cr_assert_float_eq(rmq_bench_hist_mean(&h), 50000.5, 1e-6);
}

Test(hist, percentile_never_exceeds_max_nor_goes_below_min)
{
	rmq_bench_hist_init(&h);
	rmq_bench_hist_record(&h, 1000001);
	cr_assert_eq(rmq_bench_hist_percentile(&h, 50), 1000001);
	cr_assert_eq(rmq_bench_hist_percentile(&h, 99.9), 1000001);
	cr_assert_eq(rmq_bench_hist_percentile(&h, 0.001), 1000001);
}

Test(hist, a_rare_slow_value_shows_at_the_tail_only)
{
	rmq_bench_hist_init(&h);
	rmq_bench_hist_record_n(&h, 10, 999);
	rmq_bench_hist_record(&h, 5000000);
	cr_assert_eq(h.count, 1000);
	cr_assert_eq(rmq_bench_hist_percentile(&h, 50), 10);
	cr_assert_eq(rmq_bench_hist_percentile(&h, 99.9), 10);
	cr_assert_eq(rmq_bench_hist_percentile(&h, 99.95), 5000000);
	cr_assert_eq(rmq_bench_hist_percentile(&h, 100), 5000000);
}

Test(hist, merge_equals_recording_into_one)
{
	struct rmq_bench_hist *all = malloc(sizeof(*all));
	cr_assert_not_null(all);
	rmq_bench_hist_init(&h);
	rmq_bench_hist_init(&h2);
	rmq_bench_hist_init(all);
	for (uint64_t v = 0; v < 50000; v += 7) {
		rmq_bench_hist_record(v % 2 ? &h : &h2, v * 13);
		rmq_bench_hist_record(all, v * 13);
	}
	rmq_bench_hist_merge(&h, &h2);
	cr_assert_eq(h.count, all->count);
	cr_assert_eq(h.sum, all->sum);
	cr_assert_eq(h.min, all->min);
	cr_assert_eq(h.max, all->max);
	cr_assert_eq(memcmp(h.b, all->b, sizeof(h.b)), 0);
	/* merging an empty histogram changes nothing */
	rmq_bench_hist_init(&h2);
	rmq_bench_hist_merge(&h, &h2);
	cr_assert_eq(h.min, all->min);
	cr_assert_eq(h.count, all->count);
	free(all);
}
