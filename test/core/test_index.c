/* test/core/test_index.c: tests core/index.c, the subscription index:
 * matching with wildcards and the '$' rule (spec 4.7), replacement of a
 * subscription by the same owner, shared groups, pruning of empty nodes,
 * and lock-free readers running while a writer changes the trie.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <urcu-qsbr.h>

#include "index.h"

static void
setup(void)
{
	rcu_register_thread();
}

static void
teardown(void)
{
	rcu_unregister_thread();
}

TestSuite(index, .init = setup, .fini = teardown);

/* Collects what a match visits. */
struct seen {
	uint64_t owners[64];
	uint8_t qos[64];
	int shared[64];
	size_t n;
};

static void
collect(void *ctx, const struct rmq_sub *subs, uint32_t n,
    const struct rmq_str *group)
{
	struct seen *s = ctx;
	for (uint32_t i = 0; i < n && s->n < 64; i++) {
		s->owners[s->n] = subs[i].owner;
		s->qos[s->n] = subs[i].qos;
		s->shared[s->n] = group != NULL;
		s->n++;
	}
}

static struct seen
match(struct rmq_index *ix, const char *topic)
{
	struct seen s = { 0 };
	size_t v = rmq_index_match(ix, topic, strlen(topic), collect, &s);
	cr_assert_eq(v, s.n);
	return s;
}

static int
has(const struct seen *s, uint64_t owner)
{
	for (size_t i = 0; i < s->n; i++)
		if (s->owners[i] == owner)
			return 1;
	return 0;
}

static void
add(struct rmq_index *ix, const char *filter, uint64_t owner, uint8_t qos)
{
	struct rmq_sub sub = { .owner = owner, .qos = qos };
	cr_assert_geq(rmq_index_add(ix, filter, strlen(filter), &sub), 0);
}

Test(index, spec_examples)
{
	struct rmq_index *ix;
	cr_assert_eq(rmq_index_new(&ix), 0);
	/* 4.7.1.2: "sport/tennis/player1/#" matches sport/tennis/player1,
	 * .../ranking and .../score/wimbledon. */
	add(ix, "sport/tennis/player1/#", 1, 0);
	/* 4.7.1.2: "sport/#" also matches "sport". */
	add(ix, "sport/#", 2, 0);
	/* 4.7.1.3: "sport/tennis/+" matches sport/tennis/player1 but not
	 * sport/tennis/player1/ranking; "sport/+" does not match "sport"
	 * but matches "sport/". */
	add(ix, "sport/tennis/+", 3, 0);
	add(ix, "sport/+", 4, 0);
	/* "+/+" and "/+" match "/finance"; "+" does not. */
	add(ix, "+/+", 5, 0);
	add(ix, "/+", 6, 0);
	add(ix, "+", 7, 0);
	add(ix, "#", 8, 0);

	struct seen s = match(ix, "sport/tennis/player1");
	cr_assert(has(&s, 1) && has(&s, 2) && has(&s, 3) && !has(&s, 4));
	s = match(ix, "sport/tennis/player1/ranking");
	cr_assert(has(&s, 1) && has(&s, 2) && !has(&s, 3));
	s = match(ix, "sport/tennis/player1/score/wimbledon");
	cr_assert(has(&s, 1) && has(&s, 8));
	s = match(ix, "sport");
	cr_assert(has(&s, 2) && !has(&s, 4) && has(&s, 7) && has(&s, 8));
	s = match(ix, "sport/");
	cr_assert(has(&s, 4) && has(&s, 5) && has(&s, 2));
	s = match(ix, "/finance");
	cr_assert(has(&s, 5) && has(&s, 6) && !has(&s, 7) && has(&s, 8));
	cr_assert_eq(rmq_index_count(ix), 8);
	rmq_index_free(ix);
}

Test(index, dollar_topics_skip_leading_wildcards)
{
	/* [MQTT-4.7.2-1]: "#" and "+/monitor/Clients" do not match
	 * "$SYS/monitor/Clients"; "$SYS/#" and "$SYS/monitor/+" do. */
	struct rmq_index *ix;
	cr_assert_eq(rmq_index_new(&ix), 0);
	add(ix, "#", 1, 0);
	add(ix, "+/monitor/Clients", 2, 0);
	add(ix, "$SYS/#", 3, 0);
	add(ix, "$SYS/monitor/+", 4, 0);
	struct seen s = match(ix, "$SYS/monitor/Clients");
	cr_assert_eq(s.n, 2);
	cr_assert(has(&s, 3) && has(&s, 4));
	s = match(ix, "SYS/monitor/Clients");
	cr_assert(has(&s, 1) && has(&s, 2) && !has(&s, 3));
	rmq_index_free(ix);
}

Test(index, exact_and_wildcard_filters_together)
{
	/* Filters without wildcards are found by the whole topic, the
	 * others by the trie walk: a topic gets both, and each exact filter
	 * only its own topic. */
	struct rmq_index *ix;
	cr_assert_eq(rmq_index_new(&ix), 0);
	add(ix, "a/b", 1, 0);
	add(ix, "a/+", 2, 1);
	add(ix, "a/b/c", 3, 0);
	add(ix, "$SYS/load", 4, 0); /* exact: the '$' rule is for wildcards */
	add(ix, "a//b", 5, 0);
	add(ix, "/", 6, 0);
	add(ix, "$share/g/a/b", 7, 2);
	struct seen s = match(ix, "a/b");
	cr_assert_eq(s.n, 3);
	cr_assert(has(&s, 1) && has(&s, 2) && has(&s, 7));
	s = match(ix, "a/b/c");
	cr_assert(s.n == 1 && has(&s, 3));
	s = match(ix, "a/bb");
	cr_assert(s.n == 1 && has(&s, 2));
	cr_assert(match(ix, "a").n == 0);
	s = match(ix, "$SYS/load");
	cr_assert(s.n == 1 && has(&s, 4));
	s = match(ix, "a//b");
	cr_assert(s.n == 1 && has(&s, 5));
	s = match(ix, "/");
	cr_assert(s.n == 1 && has(&s, 6));
	/* Removing the exact filter leaves the wildcard one. */
	cr_assert_eq(rmq_index_remove(ix, "a/b", 3, 1), 0);
	cr_assert_eq(rmq_index_remove(ix, "a/b", 3, 1), -ENOENT);
	s = match(ix, "a/b");
	cr_assert(s.n == 2 && has(&s, 2) && has(&s, 7));
	cr_assert_eq(rmq_index_remove(ix, "$share/g/a/b", 12, 7), 0);
	s = match(ix, "a/b");
	cr_assert(s.n == 1 && has(&s, 2));
	cr_assert_eq(rmq_index_count(ix), 5);
	rmq_index_free(ix);
}

Test(index, same_owner_replaces)
{
	/* [MQTT-3.8.4-3]: a SUBSCRIBE for an existing filter replaces the
	 * subscription; a new filter adds one. */
	struct rmq_index *ix;
	struct rmq_sub sub = { .owner = 42, .qos = 0 };
	cr_assert_eq(rmq_index_new(&ix), 0);
	cr_assert_eq(rmq_index_add(ix, "a/b", 3, &sub), 0);
	sub.qos = 2;
	cr_assert_eq(rmq_index_add(ix, "a/b", 3, &sub), 1);
	cr_assert_eq(rmq_index_count(ix), 1);
	struct seen s = match(ix, "a/b");
	cr_assert_eq(s.n, 1);
	cr_assert_eq(s.qos[0], 2);
	cr_assert_eq(rmq_index_remove(ix, "a/b", 3, 42), 0);
	cr_assert_eq(rmq_index_remove(ix, "a/b", 3, 42), -ENOENT);
	cr_assert_eq(rmq_index_remove(ix, "x/y", 3, 42), -ENOENT);
	rmq_index_free(ix);
}

Test(index, empty_nodes_are_pruned)
{
	struct rmq_index *ix;
	cr_assert_eq(rmq_index_new(&ix), 0);
	/* The exact filter is one node of its own; the wildcard filters
	 * share the trie path a -> b. */
	add(ix, "a/b/c/d", 1, 0);
	add(ix, "a/b/+", 2, 0);
	add(ix, "a/#", 3, 0);
	cr_assert_eq(rmq_index_nodes(ix), 1 + 1 + 3 + 1);
	cr_assert_eq(rmq_index_remove(ix, "a/b/c/d", 7, 1), 0);
	cr_assert_eq(rmq_index_nodes(ix), 1 + 3 + 1);
	cr_assert_eq(match(ix, "a/b/c/d").n, 1); /* a/# still */
	cr_assert_eq(rmq_index_remove(ix, "a/b/+", 5, 2), 0);
	cr_assert_eq(rmq_index_remove(ix, "a/#", 3, 3), 0);
	cr_assert_eq(rmq_index_nodes(ix), 1);
	cr_assert_eq(rmq_index_count(ix), 0);
	struct seen s = match(ix, "a/b/c/d");
	cr_assert_eq(s.n, 0);
	rmq_index_free(ix);
}

Test(index, shared_groups)
{
	struct rmq_index *ix;
	cr_assert_eq(rmq_index_new(&ix), 0);
	add(ix, "$share/g1/a/+", 1, 1);
	add(ix, "$share/g1/a/+", 2, 1);
	add(ix, "$share/g2/a/+", 3, 1);
	add(ix, "a/+", 4, 1);
	/* A shared filter is not the plain filter "$share/...". */
	struct seen s = match(ix, "$share/g1/a/x");
	cr_assert_eq(s.n, 0);
	/* The plain subscriber, and one member of each group: g1's two
	 * take turns. */
	uint64_t g1 = 0;
	for (int round = 0; round < 2; round++) {
		s = match(ix, "a/x");
		cr_assert_eq(s.n, 3);
		int shared = 0;
		for (size_t i = 0; i < s.n; i++) {
			shared += s.shared[i];
			if (s.shared[i] && s.owners[i] != 3)
				g1 |= 1ull << s.owners[i];
		}
		cr_assert_eq(shared, 2);
	}
	cr_assert_eq(g1, (1ull << 1) | (1ull << 2), "each of g1 once");
	cr_assert_eq(rmq_index_remove(ix, "$share/g1/a/+", 13, 1), 0);
	cr_assert_eq(rmq_index_remove(ix, "$share/g1/a/+", 13, 2), 0);
	cr_assert_eq(rmq_index_remove(ix, "$share/g1/a/+", 13, 2), -ENOENT);
	s = match(ix, "a/x");
	cr_assert_eq(s.n, 2);
	cr_assert_eq(rmq_index_remove(ix, "$share/g2/a/+", 13, 3), 0);
	cr_assert_eq(rmq_index_remove(ix, "a/+", 3, 4), 0);
	cr_assert_eq(rmq_index_nodes(ix), 1);
	rmq_index_free(ix);
}

/* What a match visits with a group policy, and the group's name given. */
static char last_group[64];

static void
collect_named(void *ctx, const struct rmq_sub *subs, uint32_t n,
    const struct rmq_str *group)
{
	collect(ctx, subs, n, group);
	if (group)
		snprintf(last_group, sizeof(last_group), "%.*s",
		    (int)group->len, group->p);
}

static struct seen
match_groups(struct rmq_index *ix, const char *topic, int groups)
{
	struct seen s = { 0 };
	size_t v = rmq_index_match_groups(ix, topic, strlen(topic),
	    collect_named, &s, groups, NULL);
	cr_assert_eq(v, s.n);
	return s;
}

/* A cluster's nodes as members of a group: a local member first, other
 * nodes only when none is here, and none at all for LOCAL_ONLY (a
 * message another node forwarded).  The visit names the whole shared
 * filter. */
Test(index, shared_groups_local_members_first)
{
	struct rmq_index *ix;
	cr_assert_eq(rmq_index_new(&ix), 0);
	struct rmq_sub remote = { .owner = (1ull << 63) | 2,
		.qos = 1,
		.flags = RMQ_SUB_REMOTE };
	cr_assert_eq(rmq_index_add(ix, "$share/g/s/#", 12, &remote), 0);
	remote.owner = (1ull << 63) | 3;
	cr_assert_eq(rmq_index_add(ix, "$share/g/s/#", 12, &remote), 0);
	/* Only other nodes: they take turns. */
	uint64_t seen = 0;
	for (int i = 0; i < 4; i++) {
		struct seen s =
		    match_groups(ix, "s/1", RMQ_INDEX_GROUPS_LOCAL_FIRST);
		cr_assert_eq(s.n, 1);
		cr_assert(s.shared[0]);
		seen |= 1ull << (s.owners[0] & 63);
		cr_assert_str_eq(last_group, "$share/g/s/#");
	}
	cr_assert_eq(seen, (1ull << 2) | (1ull << 3));
	cr_assert_eq(match_groups(ix, "s/1", RMQ_INDEX_GROUPS_LOCAL_ONLY).n, 0);
	/* A local member: every message is its. */
	add(ix, "$share/g/s/#", 7, 1);
	for (int i = 0; i < 4; i++) {
		struct seen s =
		    match_groups(ix, "s/1", RMQ_INDEX_GROUPS_LOCAL_FIRST);
		cr_assert_eq(s.n, 1);
		cr_assert_eq(s.owners[0], 7);
		s = match_groups(ix, "s/1", RMQ_INDEX_GROUPS_LOCAL_ONLY);
		cr_assert_eq(s.n, 1);
		cr_assert_eq(s.owners[0], 7);
	}
	/* It leaves: the other nodes again; they leave: nothing left. */
	cr_assert_eq(rmq_index_remove(ix, "$share/g/s/#", 12, 7), 0);
	cr_assert_eq(match_groups(ix, "s/1", RMQ_INDEX_GROUPS_LOCAL_FIRST).n,
	    1);
	cr_assert_eq(rmq_index_remove(ix, "$share/g/s/#", 12, (1ull << 63) | 2),
	    0);
	cr_assert_eq(rmq_index_remove(ix, "$share/g/s/#", 12, (1ull << 63) | 3),
	    0);
	cr_assert_eq(rmq_index_count(ix), 0);
	cr_assert_eq(rmq_index_nodes(ix), 1);
	rmq_index_free(ix);
}

static int
want_none(void *ctx, const struct rmq_str *group)
{
	(void)ctx, (void)group;
	return 0;
}

/* A group left out of a match keeps its turn: the members still
 * alternate over the matches that take part. */
Test(index, a_group_left_out_keeps_its_turn)
{
	struct rmq_index *ix;
	cr_assert_eq(rmq_index_new(&ix), 0);
	add(ix, "$share/g/t", 1, 1);
	add(ix, "$share/g/t", 2, 1);
	uint64_t got = 0;
	for (int i = 0; i < 2; i++) {
		struct seen s = { 0 };
		cr_assert_eq(rmq_index_match_groups(ix, "t", 1, collect, &s,
				 RMQ_INDEX_GROUPS_LOCAL_ONLY, want_none),
		    0);
		s = match(ix, "t");
		cr_assert_eq(s.n, 1);
		got |= 1ull << s.owners[0];
	}
	cr_assert_eq(got, (1ull << 1) | (1ull << 2));
	rmq_index_free(ix);
}

/* Each group keeps its own turn: a publisher alternating between two
 * topics, each with a group of two, reaches all four members equally
 * (one cursor shared by the groups would give each group the same member
 * every time). */
Test(index, shared_groups_take_turns_per_group)
{
	struct rmq_index *ix;
	cr_assert_eq(rmq_index_new(&ix), 0);
	add(ix, "$share/a/t/1", 1, 1);
	add(ix, "$share/a/t/1", 2, 1);
	add(ix, "$share/b/t/2", 3, 1);
	add(ix, "$share/b/t/2", 4, 1);
	unsigned got[5] = { 0 };
	for (int i = 0; i < 400; i++) {
		struct seen s = match(ix, i % 2 ? "t/2" : "t/1");
		cr_assert_eq(s.n, 1);
		got[s.owners[0]]++;
	}
	for (int o = 1; o <= 4; o++)
		cr_assert_eq(got[o], 100, "member %d got %u of 400", o, got[o]);
	rmq_index_free(ix);
}

/* A group of thousands: joining costs a chunk, not the whole member list,
 * and every member still gets its turn once per round. */
Test(index, a_large_group_takes_turns)
{
	struct rmq_index *ix;
	cr_assert_eq(rmq_index_new(&ix), 0);
	enum { N = 5000 };
	for (uint64_t o = 0; o < N; o++)
		add(ix, "$share/big/jobs/+", o, 1);
	cr_assert_eq(rmq_index_count(ix), N);
	static uint8_t turns[N];
	for (int i = 0; i < N; i++) {
		struct seen s = match(ix, "jobs/x");
		cr_assert_eq(s.n, 1);
		cr_assert_lt(s.owners[0], N);
		turns[s.owners[0]]++;
	}
	for (int o = 0; o < N; o++)
		cr_assert_eq(turns[o], 1, "member %d: %u turns", o, turns[o]);
	for (uint64_t o = 0; o < N; o++)
		cr_assert_eq(rmq_index_remove(ix, "$share/big/jobs/+", 17, o),
		    0);
	cr_assert_eq(rmq_index_count(ix), 0);
	rmq_index_free(ix);
}

Test(index, many_subscriptions_one_topic_each)
{
	struct rmq_index *ix;
	char f[64];
	cr_assert_eq(rmq_index_new(&ix), 0);
	for (uint64_t i = 0; i < 20000; i++) {
		snprintf(f, sizeof(f), "dev/%llu/temp", (unsigned long long)i);
		add(ix, f, i, 1);
	}
	cr_assert_eq(rmq_index_count(ix), 20000);
	struct seen s = match(ix, "dev/12345/temp");
	cr_assert_eq(s.n, 1);
	cr_assert_eq(s.owners[0], 12345);
	for (uint64_t i = 0; i < 20000; i++) {
		snprintf(f, sizeof(f), "dev/%llu/temp", (unsigned long long)i);
		cr_assert_eq(rmq_index_remove(ix, f, strlen(f), i), 0);
	}
	cr_assert_eq(rmq_index_nodes(ix), 1);
	rmq_index_free(ix);
}

/* Readers match continuously while the writer adds and removes: every
 * visited entry must be one that was in the index at some point, and the
 * permanent subscriber must always be seen. */
struct race {
	struct rmq_index *ix;
	atomic_int stop;
	atomic_long matches;
	atomic_int bad;
};

static void
race_visit(void *ctx, const struct rmq_sub *subs, uint32_t n,
    const struct rmq_str *group)
{
	int *saw = ctx;
	(void)group;
	for (uint32_t i = 0; i < n; i++) {
		if (subs[i].owner == 7)
			*saw = 1;
		else if (subs[i].owner < 1000 || subs[i].owner >= 1100)
			*saw = -1000000;
	}
}

static void *
race_reader(void *arg)
{
	struct race *r = arg;
	rcu_register_thread();
	while (!atomic_load(&r->stop)) {
		int saw = 0;
		rmq_index_match(r->ix, "x/y/z", 5, race_visit, &saw);
		if (saw != 1)
			atomic_store(&r->bad, 1);
		atomic_fetch_add(&r->matches, 1);
		rcu_quiescent_state();
	}
	rcu_unregister_thread();
	return NULL;
}

Test(index, readers_during_writes)
{
	struct race r = { 0 };
	pthread_t t[2];
	cr_assert_eq(rmq_index_new(&r.ix), 0);
	add(r.ix, "x/+/z", 7, 0);
	for (int i = 0; i < 2; i++)
		pthread_create(&t[i], NULL, race_reader, &r);
	static const char *filters[] = { "x/y/z", "x/#", "+/y/+", "#", "x/y/#",
		"x/+/+", "$share/g/x/y/z" };
	/* 300 rounds at least, and on until the readers have matched a
	 * hundred times meanwhile (on a busy host they may not have run at
	 * all in the first 300: seen in CI), at most 200,000. */
	for (int round = 0;
	     round < 300 || (atomic_load(&r.matches) < 100 && round < 200000);
	     round++) {
		for (uint64_t o = 1000; o < 1100; o++) {
			const char *f = filters[o % 7];
			add(r.ix, f, o, 1);
		}
		for (uint64_t o = 1000; o < 1100; o++) {
			const char *f = filters[o % 7];
			cr_assert_eq(rmq_index_remove(r.ix, f, strlen(f), o),
			    0);
		}
		rcu_quiescent_state();
	}
	atomic_store(&r.stop, 1);
	rcu_thread_offline();
	for (int i = 0; i < 2; i++)
		pthread_join(t[i], NULL);
	rcu_thread_online();
	cr_assert_eq(atomic_load(&r.bad), 0);
	cr_assert_geq(atomic_load(&r.matches), 100);
	cr_assert_eq(rmq_index_count(r.ix), 1);
	rmq_index_free(r.ix);
}
