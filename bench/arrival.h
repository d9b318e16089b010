/* bench/arrival.h: when each paced publisher sends (-I).  Every publisher
 * sends once per interval; the arrival pattern (--arrival) says at which
 * offset within the interval:
 *
 *   even     publishers spread evenly over the interval, across all loops
 *            (publisher k of K at k * interval / K): no two messages meet;
 *   random   each publisher its own fixed offset, from a seeded hash of its
 *            number: independent devices with their own clocks, whose
 *            messages now and then meet (the same seed gives both brokers
 *            of a comparison the same pattern);
 *   aligned  all at offset 0: devices that report on one shared clock
 *            tick, so every interval starts with a burst of K messages.
 *
 * A loop's schedule holds its publishers' offsets sorted once, so taking
 * the next send is constant time whatever the pattern.
 */
#ifndef RMQ_BENCH_ARRIVAL_H
#define RMQ_BENCH_ARRIVAL_H

#include <stdint.h>

enum rmq_bench_arrival {
	RMQ_ARRIVAL_EVEN = 0,
	RMQ_ARRIVAL_RANDOM,
	RMQ_ARRIVAL_ALIGNED,
};

/* "even", "random" or "aligned"; -1 for anything else. */
int rmq_bench_arrival_from(const char *name);
const char *rmq_bench_arrival_name(enum rmq_bench_arrival a);

struct rmq_bench_slot {
	uint64_t off; /* ns into the interval, < period */
	uint32_t who; /* the loop's publisher number, 0..n-1 */
};

struct rmq_bench_sched {
	uint64_t period; /* the interval, ns */
	uint32_t n;
	uint32_t cursor; /* next slot */
	uint64_t round; /* whole intervals done */
	struct rmq_bench_slot *slot; /* n, by offset */
};

/* A schedule for the n publishers of one loop, whose publisher j is
 * publisher first + j * stride of the total in the run.  Returns 0 or
 * -ENOMEM (n == 0 allocates nothing and is valid). */
int rmq_bench_sched_init(struct rmq_bench_sched *s, enum rmq_bench_arrival a,
    uint64_t period_ns, uint32_t n, uint32_t first, uint32_t stride,
    uint32_t total, uint64_t seed);
void rmq_bench_sched_fini(struct rmq_bench_sched *s);

/* When the next slot is due, in ns after the schedule's start (n > 0). */
static inline uint64_t
rmq_bench_sched_due(const struct rmq_bench_sched *s)
{
	return s->round * s->period + s->slot[s->cursor].off;
}

/* Take the next slot: returns its publisher and moves on. */
uint32_t rmq_bench_sched_take(struct rmq_bench_sched *s);

/* Drop every slot whose next turn is also due by `now` (a whole interval
 * late: sending it would only pile up); returns how many were dropped. */
uint64_t rmq_bench_sched_skip(struct rmq_bench_sched *s, uint64_t now);

#endif
