/* bench/hist.c: log-linear latency histogram (see hist.h): bucket bounds,
 * merging and percentiles.  Recording is inline in the header because it
 * runs once per delivered message.
 */
#include "hist.h"

#include <string.h>

void
rmq_bench_hist_init(struct rmq_bench_hist *h)
{
	memset(h, 0, sizeof(*h));
	h->min = UINT64_MAX;
}

uint64_t
rmq_bench_hist_bucket_low(unsigned i)
{
	if (i < RMQ_BENCH_HIST_SUB)
		return i;
	unsigned shift = (i - RMQ_BENCH_HIST_SUB) / RMQ_BENCH_HIST_SUB;
	uint64_t top =
	    RMQ_BENCH_HIST_SUB + (i - RMQ_BENCH_HIST_SUB) % RMQ_BENCH_HIST_SUB;
	return top << shift;
}

uint64_t
rmq_bench_hist_bucket_high(unsigned i)
{
	if (i < RMQ_BENCH_HIST_SUB)
		return i;
	unsigned shift = (i - RMQ_BENCH_HIST_SUB) / RMQ_BENCH_HIST_SUB;
	/* low + width - 1: the last bucket ends at UINT64_MAX, so the
	 * subtraction comes first. */
	return (rmq_bench_hist_bucket_low(i) - 1) + ((uint64_t)1 << shift);
}

void
rmq_bench_hist_merge(struct rmq_bench_hist *dst,
    const struct rmq_bench_hist *src)
{
	if (src->count == 0)
		return;
	for (unsigned i = 0; i < RMQ_BENCH_HIST_BUCKETS; i++)
		dst->b[i] += src->b[i];
	dst->count += src->count;
	dst->sum += src->sum;
	if (src->min < dst->min)
		dst->min = src->min;
	if (src->max > dst->max)
		dst->max = src->max;
}

uint64_t
rmq_bench_hist_percentile(const struct rmq_bench_hist *h, double p)
{
	if (h->count == 0)
		return 0;
	if (p <= 0)
		return h->min;
	if (p >= 100)
		return h->max;
	/* The small tolerance keeps 99.9% of 1000 at rank 999, not 1000,
	 * despite 0.999 having no exact binary form. */
	double want = p / 100.0 * (double)h->count - 1e-9;
	uint64_t rank = (uint64_t)want;
	if ((double)rank < want)
		rank++;
	if (rank == 0)
		rank = 1;
	uint64_t seen = 0;
	for (unsigned i = 0; i < RMQ_BENCH_HIST_BUCKETS; i++) {
		seen += h->b[i];
		if (seen >= rank) {
			uint64_t v = rmq_bench_hist_bucket_high(i);
			if (v > h->max)
				v = h->max;
			if (v < h->min)
				v = h->min;
			return v;
		}
	}
	return h->max;
}

double
rmq_bench_hist_mean(const struct rmq_bench_hist *h)
{
	return h->count ? (double)h->sum / (double)h->count : 0.0;
}
