/* bench/hist.h: log-linear latency histogram.
 *
 * Values (nanoseconds, or any unsigned 64-bit quantity) fall into buckets
 * that are exact below 64 and then 64 per power of two, so a percentile is
 * within 1/64 (1.6%) of the true value.  Fixed size, no allocation: record
 * is a count-leading-zeros and an increment, merge adds the arrays.
 */
#ifndef RMQ_BENCH_HIST_H
#define RMQ_BENCH_HIST_H

#include <stddef.h>
#include <stdint.h>

#define RMQ_BENCH_HIST_SUB_BITS 6
#define RMQ_BENCH_HIST_SUB (1u << RMQ_BENCH_HIST_SUB_BITS)
/* Exact buckets [0, 64), then 58 octaves (msb 6..63) of 64 buckets. */
#define RMQ_BENCH_HIST_BUCKETS                                                 \
	(RMQ_BENCH_HIST_SUB +                                                  \
	    (64 - RMQ_BENCH_HIST_SUB_BITS) * RMQ_BENCH_HIST_SUB)

struct rmq_bench_hist {
	uint64_t count;
	uint64_t sum;
	uint64_t min;
	uint64_t max;
	uint64_t b[RMQ_BENCH_HIST_BUCKETS];
};

/* Empty the histogram (the caller owns its storage). */
void rmq_bench_hist_init(struct rmq_bench_hist *h);

/* Bucket index of value v. */
static inline unsigned
rmq_bench_hist_bucket(uint64_t v)
{
	if (v < RMQ_BENCH_HIST_SUB)
		return (unsigned)v;
	unsigned msb = 63u - (unsigned)__builtin_clzll(v);
	unsigned shift = msb - RMQ_BENCH_HIST_SUB_BITS;
	return RMQ_BENCH_HIST_SUB + shift * RMQ_BENCH_HIST_SUB +
	    (unsigned)((v >> shift) - RMQ_BENCH_HIST_SUB);
}

/* Smallest and largest value that fall into bucket i. */
uint64_t rmq_bench_hist_bucket_low(unsigned i);
uint64_t rmq_bench_hist_bucket_high(unsigned i);

/* Count `n` occurrences of value v. */
static inline void
rmq_bench_hist_record_n(struct rmq_bench_hist *h, uint64_t v, uint64_t n)
{
	h->b[rmq_bench_hist_bucket(v)] += n;
	h->count += n;
	h->sum += v * n;
	if (v < h->min)
		h->min = v;
	if (v > h->max)
		h->max = v;
}

static inline void
rmq_bench_hist_record(struct rmq_bench_hist *h, uint64_t v)
{
	rmq_bench_hist_record_n(h, v, 1);
}

/* Add every count of src into dst. */
void rmq_bench_hist_merge(struct rmq_bench_hist *dst,
    const struct rmq_bench_hist *src);

/* Value at percentile p (0 < p <= 100): the upper bound of the bucket that
 * holds the ceil(p/100 * count)-th smallest value, clamped to [min, max],
 * so that p100 is the exact maximum.  0 for an empty histogram. */
uint64_t rmq_bench_hist_percentile(const struct rmq_bench_hist *h, double p);

/* Mean of the recorded values, 0 when empty. */
double rmq_bench_hist_mean(const struct rmq_bench_hist *h);

#endif
