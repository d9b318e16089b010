/* test/broker/platform/test_arena.c: broker/platform/arena.c, an allocator arena per loop:
 * a thread that binds gets an arena no other thread has, two threads get
 * two, what the bound thread allocates is counted in its arena, and a
 * started broker's loops each run on one of their own. */
#include <criterion/criterion.h>

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "arena.h"
#include "broker.h"
#include "rmq_config.h"
#include "rmq_test_broker.h"
#include "worker.h"

/* Under a sanitizer its malloc, not jemalloc's, serves allocations. */
#if defined(__SANITIZE_ADDRESS__)
#define ARENA_SEES_MALLOC 0
#else
#define ARENA_SEES_MALLOC 1
#endif

/* Where allocations escape to, so the compiler keeps them.  Shared by
 * the threads: each frees its own pointer, never what sink holds. */
static void *volatile sink;

struct bound {
	int arena;
	int current;
	int64_t threads;
	int64_t before, after;
};

static void *
bind_and_allocate(void *arg)
{
	struct bound *b = arg;
	b->arena = rmq_arena_bind_new();
	b->current = rmq_arena_current();
	if (b->arena > 0) {
		rmq_arena_refresh();
		b->threads = rmq_arena_threads((unsigned)b->arena);
		b->before = rmq_arena_allocated((unsigned)b->arena);
		/* Large enough to bypass the thread cache. */
		void *p = malloc(1 << 20);
		sink = p;
		rmq_arena_refresh();
		b->after = rmq_arena_allocated((unsigned)b->arena);
		free(p);
	}
	return NULL;
}

Test(arena, each_bound_thread_has_its_own)
{
	if (rmq_arena_bind_new() == -ENOTSUP)
		cr_skip_test("built without jemalloc");
	int mine = rmq_arena_current();
	struct bound b[2];
	memset(b, 0, sizeof(b));
	pthread_t t[2];
	for (int i = 0; i < 2; i++)
		cr_assert_eq(pthread_create(&t[i], NULL, bind_and_allocate,
				 &b[i]),
		    0);
	for (int i = 0; i < 2; i++) {
		pthread_join(t[i], NULL);
		cr_assert_gt(b[i].arena, 0, "bind: %s", strerror(-b[i].arena));
		cr_assert_eq(b[i].current, b[i].arena);
		cr_assert_neq(b[i].arena, mine);
		cr_assert_eq(b[i].threads, 1, "arena %d: %lld threads",
		    b[i].arena, (long long)b[i].threads);
		if (ARENA_SEES_MALLOC)
			cr_assert_geq(b[i].after - b[i].before, 1 << 20,
			    "arena %d: %lld -> %lld", b[i].arena,
			    (long long)b[i].before, (long long)b[i].after);
	}
	cr_assert_neq(b[0].arena, b[1].arena);
}

Test(arena, a_started_broker_runs_each_loop_on_its_own)
{
	if (rmq_arena_current() == -ENOTSUP)
		cr_skip_test("built without jemalloc");
	struct rmq_config cfg;
	rmq_test_broker_config(&cfg, 2);
	static struct rmq_broker br;
	cr_assert_eq(rmq_broker_init(&br, &cfg), 0);
	cr_assert_eq(rmq_broker_start(&br), 0);
	int a[2] = { 0, 0 };
	/* The loops bind as they start; wait for both (bounded). */
	for (int tries = 0; tries < 1000 && (a[0] <= 0 || a[1] <= 0); tries++) {
		for (int i = 0; i < 2; i++)
			a[i] = __atomic_load_n(&br.workers[i]->arena,
			    __ATOMIC_ACQUIRE);
		nanosleep(&(struct timespec){ 0, 10000000 }, NULL);
	}
	rmq_broker_stop(&br);
	rmq_broker_fini(&br);
	cr_assert_gt(a[0], 0);
	cr_assert_gt(a[1], 0);
	cr_assert_neq(a[0], a[1]);
	cr_assert_neq(a[0], rmq_arena_current());
}
