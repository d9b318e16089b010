/* broker/platform/counter.h: counters written by one thread and read by others.
 *
 * A loop or worker counts its own events; the metrics scrape reads them
 * from another thread.  Relaxed atomics keep that race defined without a
 * locked instruction on the hot path (a plain load and store on x86).  A
 * gauge kept as +1/-1 by several writers, each on its own counter, sums
 * right modulo 2^64.
 */
#ifndef RMQ_COUNTER_H
#define RMQ_COUNTER_H

#include <stdatomic.h>
#include <stdint.h>

typedef _Atomic uint64_t rmq_counter;

/* Add n; the owning thread only. */
static inline void
rmq_count(rmq_counter *c, uint64_t n)
{
	atomic_store_explicit(c,
	    atomic_load_explicit(c, memory_order_relaxed) + n,
	    memory_order_relaxed);
}

/* Subtract one from a gauge; the owning thread only. */
static inline void
rmq_uncount(rmq_counter *c)
{
	rmq_count(c, UINT64_MAX);
}

/* Any thread. */
static inline uint64_t
rmq_counter_get(const rmq_counter *c)
{
	return atomic_load_explicit(c, memory_order_relaxed);
}

#endif
