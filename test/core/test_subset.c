/* test/core/test_subset.c: tests core/subset.c, a filter's subscriber set:
 * against a model through growth past a chunk, thinning, merging and the
 * way back to one array, by visit and by position (a shared group's member
 * whose turn it is); and readers that never miss or repeat an entry
 * another writer's change moved.
 */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <urcu-qsbr.h>

#include "subset.h"

static void
setup(void)
{
	rcu_register_thread();
}

static void
teardown(void)
{
	/* Let pending frees run, so that a leak check sees none. */
	rcu_thread_offline();
	rcu_barrier();
	rcu_thread_online();
	rcu_unregister_thread();
}

TestSuite(subset, .init = setup, .fini = teardown);

#define OWNERS 1000u

/* What a visit saw: how often each owner, with what QoS. */
struct seen {
	uint32_t times[OWNERS];
	uint8_t qos[OWNERS];
	uint32_t calls, most;
	int dup;
};

static void
collect(void *ctx, const struct rmq_sub *e, uint32_t n,
    const struct rmq_str *group)
{
	struct seen *s = ctx;
	(void)group;
	s->calls++;
	if (n > s->most)
		s->most = n;
	for (uint32_t i = 0; i < n; i++) {
		uint64_t o = e[i].owner;
		if (o >= OWNERS) {
			s->dup = 1;
			continue;
		}
		if (s->times[o]++)
			s->dup = 1;
		s->qos[o] = e[i].qos;
	}
}

static uint32_t
rnd(uint32_t *x)
{
	*x ^= *x << 13;
	*x ^= *x >> 17;
	*x ^= *x << 5;
	return *x;
}

static int
is_dir(struct rmq_subset *s)
{
	return s && s->tag == SUBSET_DIR;
}

/* Random puts and removes against a model, checked after every step.
 * Sizes sweep up past several chunks and back down to empty. */
Test(subset, matches_a_model_through_growth_and_shrinking)
{
	struct rmq_subset *set = NULL;
	int8_t model[OWNERS]; /* -1 absent, else the QoS */
	memset(model, -1, sizeof(model));
	uint32_t x = 12345, size = 0, was_dir = 0, back_to_array = 0;
	for (int step = 0; step < 40000; step++) {
		/* Phases: mostly adding, then mostly removing. */
		int grow = (step / 5000) % 2 == 0;
		uint32_t o = rnd(&x) % OWNERS;
		int put = (rnd(&x) % 100) < (grow ? 80u : 4u);
		int found = -1;
		if (put) {
			struct rmq_sub sub = { .owner = o,
				.qos = (uint8_t)(rnd(&x) % 3) };
			cr_assert_eq(rmq_subset_put(&set, &sub, &found), 0);
			cr_assert_eq(found, model[o] >= 0, "step %d", step);
			size += model[o] < 0;
			model[o] = (int8_t)sub.qos;
		} else {
			cr_assert_eq(rmq_subset_del(&set, o, &found), 0);
			cr_assert_eq(found, model[o] >= 0, "step %d", step);
			size -= model[o] >= 0;
			model[o] = -1;
		}
		if (is_dir(set))
			was_dir = 1;
		else if (was_dir && set)
			back_to_array = 1;
		struct seen s = { 0 };
		size_t n = rmq_subset_visit(&set, collect, &s);
		cr_assert_eq(n, size, "step %d: %zu visited, %u in the model",
		    step, n, size);
		cr_assert_not(s.dup, "step %d: an entry seen twice", step);
		cr_assert_leq(s.most, is_dir(set) ? SUBSET_CHUNK : OWNERS);
		for (uint32_t i = 0; i < OWNERS; i++) {
			cr_assert_eq(s.times[i], model[i] >= 0 ? 1u : 0u,
			    "step %d: owner %u seen %u times", step, i,
			    s.times[i]);
			if (model[i] >= 0)
				cr_assert_eq(s.qos[i], (uint8_t)model[i]);
		}
		cr_assert_eq(set == NULL, size == 0);
		/* By position: positions 0..size-1 are each entry once. */
		if (step % 16 == 0) {
			uint8_t by_pos[OWNERS] = { 0 };
			for (uint32_t k = 0; k < size; k++) {
				const struct rmq_sub *e =
				    rmq_subset_pick(&set, k);
				cr_assert_not_null(e, "step %d: position %u",
				    step, k);
				by_pos[e->owner]++;
			}
			for (uint32_t i = 0; i < OWNERS; i++)
				cr_assert_eq(by_pos[i], model[i] >= 0 ? 1 : 0,
				    "step %d: owner %u at %u positions", step,
				    i, by_pos[i]);
			if (size == 0)
				cr_assert_null(rmq_subset_pick(&set, step));
		}
		/* A directory only for a set past half a chunk. */
		if (is_dir(set))
			cr_assert_gt(size, SUBSET_CHUNK / 2);
		if (size > SUBSET_CHUNK)
			cr_assert(is_dir(set),
			    "step %d: %u entries in one array", step, size);
		if (step % 64 == 0)
			rcu_quiescent_state();
	}
	cr_assert(was_dir && back_to_array,
	    "the sweep must reach both representations");
	for (uint32_t o = 0; o < OWNERS; o++) {
		int found;
		cr_assert_eq(rmq_subset_del(&set, o, &found), 0);
	}
	cr_assert_null(set);
}

/* A shared group of many members is chunked like any set, and taking
 * turns by position reaches every member once per round, in visit order. */
Test(subset, positions_take_every_entry_in_turn)
{
	struct rmq_subset *set = NULL;
	cr_assert_null(rmq_subset_pick(&set, 0));
	const uint32_t n = 3 * SUBSET_CHUNK + 5;
	for (uint32_t o = 0; o < n; o++) {
		struct rmq_sub sub = { .owner = o, .qos = 1 };
		int found;
		cr_assert_eq(rmq_subset_put(&set, &sub, &found), 0);
		cr_assert_not(found);
	}
	cr_assert(is_dir(set));
	struct seen s = { 0 };
	cr_assert_eq(rmq_subset_visit(&set, collect, &s), n);
	cr_assert_gt(s.calls, 1);
	static uint8_t seen_at[3 * SUBSET_CHUNK + 5];
	for (uint32_t k = 0; k < n; k++) {
		const struct rmq_sub *e = rmq_subset_pick(&set, k);
		cr_assert_not_null(e);
		cr_assert_lt(e->owner, n);
		seen_at[e->owner]++;
		/* The next round gives the same order. */
		cr_assert_eq(rmq_subset_pick(&set, k + n), e);
	}
	for (uint32_t o = 0; o < n; o++)
		cr_assert_eq(seen_at[o], 1, "owner %u", o);
	rmq_subset_free_now(set);
}

/* Readers walk the set while a writer adds and removes other owners; the
 * owners nobody touches are seen exactly once by every visit. */
struct race {
	struct rmq_subset *set;
	atomic_int stop;
	atomic_int bad, visits;
};

#define STABLE 300u /* owners 0..STABLE-1 never change */

static void *
reader(void *arg)
{
	struct race *r = arg;
	rcu_register_thread();
	while (!atomic_load(&r->stop)) {
		struct seen *s = calloc(1, sizeof(*s));
		rmq_subset_visit(&r->set, collect, s);
		for (uint32_t o = 0; o < STABLE; o++)
			if (s->times[o] != 1)
				atomic_fetch_add(&r->bad, 1);
		if (s->dup)
			atomic_fetch_add(&r->bad, 1);
		free(s);
		atomic_fetch_add(&r->visits, 1);
		rcu_quiescent_state();
	}
	rcu_unregister_thread();
	return NULL;
}

Test(subset, readers_never_miss_an_untouched_entry)
{
	struct race r = { 0 };
	uint32_t x = 777;
	int found;
	/* The stable owners, interleaved with churning ones, so removals
	 * thin and merge chunks that hold stable entries. */
	for (uint32_t o = 0; o < OWNERS; o++) {
		struct rmq_sub sub = { .owner =
					   (o % 2) ? STABLE + o / 2 : o / 2 };
		if (sub.owner >= OWNERS || (o % 2 == 0 && o / 2 >= STABLE))
			continue;
		cr_assert_eq(rmq_subset_put(&r.set, &sub, &found), 0);
	}
	pthread_t th[2];
	for (int i = 0; i < 2; i++)
		cr_assert_eq(pthread_create(&th[i], NULL, reader, &r), 0);
	for (int step = 0; step < 20000; step++) {
		struct rmq_sub sub = { .owner = STABLE +
			    rnd(&x) % (OWNERS - STABLE) };
		if (rnd(&x) % 2)
			cr_assert_eq(rmq_subset_put(&r.set, &sub, &found), 0);
		else
			cr_assert_eq(rmq_subset_del(&r.set, sub.owner, &found),
			    0);
		if (step % 16 == 0)
			rcu_quiescent_state();
	}
	/* The readers must have overlapped the writer at least a little. */
	while (atomic_load(&r.visits) < 10)
		rcu_quiescent_state();
	atomic_store(&r.stop, 1);
	rcu_thread_offline();
	for (int i = 0; i < 2; i++)
		pthread_join(th[i], NULL);
	rcu_thread_online();
	cr_assert_eq(atomic_load(&r.bad), 0,
	    "%d visits missed or repeated an untouched owner",
	    atomic_load(&r.bad));
	rmq_subset_free_now(r.set);
}

/* The last chunk emptied is dropped from the directory, and the next
 * owner gets a new one. */
Test(subset, emptied_chunk_dropped)
{
	struct rmq_subset *set = NULL;
	int found;
	for (uint32_t o = 0; o <= 2 * SUBSET_CHUNK; o++) {
		struct rmq_sub sub = { .owner = o };
		cr_assert_eq(rmq_subset_put(&set, &sub, &found), 0);
	}
	cr_assert(is_dir(set));
	cr_assert_eq(rmq_subset_del(&set, 2 * SUBSET_CHUNK, &found), 0);
	cr_assert(found);
	struct seen s = { 0 };
	cr_assert_eq(rmq_subset_visit(&set, collect, &s), 2 * SUBSET_CHUNK);
	cr_assert_eq(s.calls, 2, "%u arrays after the last one emptied",
	    s.calls);
	struct rmq_sub sub = { .owner = 999, .qos = 2 };
	cr_assert_eq(rmq_subset_put(&set, &sub, &found), 0);
	memset(&s, 0, sizeof(s));
	cr_assert_eq(rmq_subset_visit(&set, collect, &s), 2 * SUBSET_CHUNK + 1);
	cr_assert_eq(s.calls, 3);
	cr_assert_eq(s.times[999], 1);
	cr_assert_eq(s.qos[999], 2);
	cr_assert_not(s.dup);
	rmq_subset_free_now(set);
}
