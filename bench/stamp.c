/* bench/stamp.c: payload stamps and loss, duplicate and order accounting
 * per (subscriber, publisher); see stamp.h for the layout and the window
 * rule.
 */
#include "stamp.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static inline void
bench_stamp_put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
	p[2] = (uint8_t)(v >> 16);
	p[3] = (uint8_t)(v >> 24);
}

static inline uint32_t
bench_stamp_get32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	    (uint32_t)p[3] << 24;
}

static inline uint32_t
bench_stamp_check(const struct rmq_bench_stamp *s, uint32_t run)
{
	return s->pub ^ s->seq ^ (uint32_t)s->ts ^ (uint32_t)(s->ts >> 32) ^
	    RMQ_BENCH_STAMP_MAGIC ^ run;
}

void
rmq_bench_stamp_put(uint8_t *p, const struct rmq_bench_stamp *s, uint32_t run)
{
	bench_stamp_put32(p, s->pub);
	bench_stamp_put32(p + 4, s->seq);
	bench_stamp_put32(p + 8, (uint32_t)s->ts);
	bench_stamp_put32(p + 12, (uint32_t)(s->ts >> 32));
	bench_stamp_put32(p + 16, bench_stamp_check(s, run));
}

int
rmq_bench_stamp_get(const uint8_t *p, size_t len, uint32_t run,
    struct rmq_bench_stamp *s)
{
	if (len < RMQ_BENCH_STAMP_SIZE)
		return -EINVAL;
	s->pub = bench_stamp_get32(p);
	s->seq = bench_stamp_get32(p + 4);
	s->ts = (uint64_t)bench_stamp_get32(p + 8) |
	    (uint64_t)bench_stamp_get32(p + 12) << 32;
	if (bench_stamp_get32(p + 16) != bench_stamp_check(s, run))
		return -EINVAL;
	return 0;
}

enum rmq_bench_track_verdict
rmq_bench_track_add(struct rmq_bench_track *t, uint32_t seq)
{
	uint64_t s = seq;
	if (s >= t->high) {
		uint64_t shift = s - t->high + 1;
		enum rmq_bench_track_verdict v = RMQ_BENCH_TRACK_NEW;
		t->win = shift >= 64 ? 0 : t->win << shift;
		t->win |= 1;
		t->high = s + 1;
		t->uniq++;
		return v;
	}
	uint64_t d = t->high - 1 - s;
	if (d < 64) {
		uint64_t bit = (uint64_t)1 << d;
		if (t->win & bit) {
			t->dup++;
			return RMQ_BENCH_TRACK_DUP;
		}
		t->win |= bit;
	}
	t->uniq++;
	t->ooo++;
	return RMQ_BENCH_TRACK_OOO;
}

uint64_t
rmq_bench_track_gaps(const struct rmq_bench_track *t)
{
	return t->high > t->uniq ? t->high - t->uniq : 0;
}

int
rmq_bench_track_table_init(struct rmq_bench_track_table *tt, uint32_t expect)
{
	uint64_t cap = 8;
	while (cap < (uint64_t)expect * 2)
		cap <<= 1;
	if (cap > ((uint64_t)1 << 31))
		return -ENOMEM;
	memset(tt, 0, sizeof(*tt));
	tt->slot = calloc(cap, sizeof(*tt->slot));
	if (tt->slot == NULL)
		return -ENOMEM;
	tt->mask = (uint32_t)cap - 1;
	return 0;
}

void
rmq_bench_track_table_fini(struct rmq_bench_track_table *tt)
{
	free(tt->slot);
	tt->slot = NULL;
}

struct rmq_bench_track *
rmq_bench_track_table_get(struct rmq_bench_track_table *tt, uint32_t pub)
{
	uint32_t i = (pub * 2654435761u) & tt->mask;
	for (uint32_t n = 0; n <= tt->mask; n++, i = (i + 1) & tt->mask) {
		struct rmq_bench_track *t = &tt->slot[i];
		if (t->used && t->pub == pub)
			return t;
		if (!t->used) {
			/* Keep one slot in eight free so lookups stay short. */
			if ((uint64_t)(tt->n + 1) * 8 >
			    (uint64_t)(tt->mask + 1) * 7)
				break;
			memset(t, 0, sizeof(*t));
			t->used = 1;
			t->pub = pub;
			tt->n++;
			return t;
		}
	}
	tt->untracked++;
	return NULL;
}

void
rmq_bench_track_sum_add(struct rmq_bench_track_sum *s,
    const struct rmq_bench_track *t)
{
	s->uniq += t->uniq;
	s->dup += t->dup;
	s->ooo += t->ooo;
	s->gaps += rmq_bench_track_gaps(t);
}
