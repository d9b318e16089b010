/* bench/stamp.h: what a publisher writes into each payload and what a
 * subscriber learns from it.  The first RMQ_BENCH_STAMP_SIZE bytes carry the
 * publisher id, its sequence number, the send time and a check word; a
 * receiver keeps one track per (subscriber, publisher) that sorts every
 * arrival into new, duplicate or out-of-order with a 64-message window.
 */
#ifndef RMQ_BENCH_STAMP_H
#define RMQ_BENCH_STAMP_H

#include <stddef.h>
#include <stdint.h>

/* Layout, little-endian: u32 publisher id, u32 sequence (from 0), u64 send
 * time (CLOCK_MONOTONIC ns), u32 check = id ^ seq ^ low32(ts) ^ high32(ts)
 * ^ RMQ_BENCH_STAMP_MAGIC ^ run.  `run` is not written: a reader that
 * expects another run's (a `run` of the tool before or beside this one,
 * on the same topics) finds the check wrong and the payload not its own.
 * The pub and sub commands, two processes of one load, use run 0. */
#define RMQ_BENCH_STAMP_SIZE 20u
#define RMQ_BENCH_STAMP_MAGIC 0x524d5142u /* "RMQB" */

struct rmq_bench_stamp {
	uint32_t pub;
	uint32_t seq;
	uint64_t ts;
};

/* Write run's stamp into p[0..RMQ_BENCH_STAMP_SIZE). */
void
rmq_bench_stamp_put(uint8_t *p, const struct rmq_bench_stamp *s, uint32_t run);

/* Read a stamp of run's from p[0..len).  Returns 0, or -EINVAL when len is
 * short or the check word does not match (a payload that is not ours). */
int rmq_bench_stamp_get(const uint8_t *p, size_t len, uint32_t run,
    struct rmq_bench_stamp *s);

/* What one subscriber has received from one publisher. */
struct rmq_bench_track {
	uint32_t pub; /* publisher id */
	uint16_t used; /* slot taken (in a table) */
	uint16_t dirty; /* progress not yet published (see client.c) */
	uint64_t high; /* highest sequence seen + 1; 0 before the first */
	uint64_t win; /* bit i: sequence high - 1 - i was seen */
	uint64_t uniq; /* distinct sequences received */
	uint64_t dup; /* arrivals of a sequence already seen */
	uint64_t ooo; /* new sequences that arrived after a higher one */
	uint64_t reported; /* progress already published (see run.c) */
};

enum rmq_bench_track_verdict {
	RMQ_BENCH_TRACK_NEW = 0, /* in order, first time */
	RMQ_BENCH_TRACK_OOO = 1, /* first time, but after a higher sequence */
	RMQ_BENCH_TRACK_DUP = 2, /* seen before */
};

/* Account one arrival of sequence seq.  A sequence more than 64 behind
 * the highest cannot be told apart from a duplicate; it counts as out of
 * order (and unique).  Returns the verdict. */
enum rmq_bench_track_verdict
rmq_bench_track_add(struct rmq_bench_track *t, uint32_t seq);

/* Sequences below the highest seen that have not arrived (yet): the gaps
 * a receiver can see without knowing how many were sent. */
uint64_t rmq_bench_track_gaps(const struct rmq_bench_track *t);

/* Open-addressing table of tracks keyed by publisher id, sized once, never
 * grown: no allocation per message. */
struct rmq_bench_track_table {
	struct rmq_bench_track *slot;
	uint32_t mask; /* capacity - 1, capacity a power of two */
	uint32_t n;
	uint64_t untracked; /* arrivals from publishers that did not fit */
};

/* Allocate room for at least `expect` publishers (twice that, rounded up
 * to a power of two, at least 8).  Returns 0 or -ENOMEM. */
int
rmq_bench_track_table_init(struct rmq_bench_track_table *tt, uint32_t expect);

void rmq_bench_track_table_fini(struct rmq_bench_track_table *tt);

/* The track of publisher `pub`, created on first use; NULL when the table
 * is full (counted in untracked). */
struct rmq_bench_track *
rmq_bench_track_table_get(struct rmq_bench_track_table *tt, uint32_t pub);

/* Per-publisher totals over the tracks of every receiver. */
struct rmq_bench_track_sum {
	uint64_t uniq;
	uint64_t dup;
	uint64_t ooo;
	uint64_t gaps;
};

void rmq_bench_track_sum_add(struct rmq_bench_track_sum *s,
    const struct rmq_bench_track *t);

#endif
