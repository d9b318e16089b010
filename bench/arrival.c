/* bench/arrival.c: the paced publishers' schedule (see arrival.h). */
#include "arrival.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static const char *const arrival_names[] = { "even", "random", "aligned" };

int
rmq_bench_arrival_from(const char *name)
{
	for (int i = 0; i < 3; i++)
		if (strcmp(name, arrival_names[i]) == 0)
			return i;
	return -1;
}

const char *
rmq_bench_arrival_name(enum rmq_bench_arrival a)
{
	return (unsigned)a < 3 ? arrival_names[a] : "?";
}

/* splitmix64's finaliser: every bit of x reaches every bit of the result. */
static uint64_t
arrival_mix(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ull;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
	return x ^ (x >> 31);
}

static int
arrival_cmp(const void *a, const void *b)
{
	const struct rmq_bench_slot *x = a, *y = b;
	if (x->off != y->off)
		return x->off < y->off ? -1 : 1;
	return x->who < y->who ? -1 : x->who > y->who;
}

int
rmq_bench_sched_init(struct rmq_bench_sched *s, enum rmq_bench_arrival a,
    uint64_t period_ns, uint32_t n, uint32_t first, uint32_t stride,
    uint32_t total, uint64_t seed)
{
	memset(s, 0, sizeof(*s));
	s->period = period_ns ? period_ns : 1;
	s->n = n;
	if (n == 0)
		return 0;
	s->slot = calloc(n, sizeof(*s->slot));
	if (s->slot == NULL)
		return -ENOMEM;
	if (total < first + (uint64_t)(n - 1) * stride + 1)
		total = first + (n - 1) * stride + 1;
	for (uint32_t j = 0; j < n; j++) {
		uint64_t k = first + (uint64_t)j * stride;
		uint64_t off = 0;
		if (a == RMQ_ARRIVAL_EVEN)
			off = (uint64_t)((double)k * (double)s->period /
			    (double)total);
		else if (a == RMQ_ARRIVAL_RANDOM)
			off = arrival_mix(seed ^ arrival_mix(k)) % s->period;
		if (off >= s->period)
			off = s->period - 1;
		s->slot[j] = (struct rmq_bench_slot){ off, j };
	}
	qsort(s->slot, n, sizeof(*s->slot), arrival_cmp);
	return 0;
}

void
rmq_bench_sched_fini(struct rmq_bench_sched *s)
{
	free(s->slot);
	memset(s, 0, sizeof(*s));
}

uint32_t
rmq_bench_sched_take(struct rmq_bench_sched *s)
{
	uint32_t who = s->slot[s->cursor].who;
	if (++s->cursor == s->n) {
		s->cursor = 0;
		s->round++;
	}
	return who;
}

uint64_t
rmq_bench_sched_skip(struct rmq_bench_sched *s, uint64_t now)
{
	if (s->n == 0 || now < s->period)
		return 0;
	uint64_t dropped = 0;
	uint64_t last = s->slot[s->n - 1].off;
	for (;;) {
		/* Whole rounds at once: round r can go entirely when its last
		 * slot's next turn is due, r * period + last + period <= now. */
		if (s->cursor == 0 && now >= last + s->period) {
			uint64_t rmax = (now - last - s->period) / s->period;
			if (s->round <= rmax) {
				dropped += (rmax + 1 - s->round) * s->n;
				s->round = rmax + 1;
			}
		}
		if (rmq_bench_sched_due(s) + s->period > now)
			break;
		rmq_bench_sched_take(s);
		dropped++;
	}
	return dropped;
}
