/* test/cluster/test_resolve.c: the DNS name's resolver (cluster/resolve.c):
 * a lookup that does not end holds neither the taker nor a stop; answers
 * and failures taken once, the newest one; woke called for each answer
 * and never after a stop; the C library's lookup of a real name. */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "resolve.h"

/* A lookup the test lets end: it answers the host with one address per
 * call so far (tcp://10.0.0.K:PORT), or fails when the host says so. */
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static int hold, inside, calls, returned;
static atomic_int woken;

static void
reset(void)
{
	hold = inside = calls = returned = 0;
	atomic_store(&woken, 0);
}

TestSuite(resolve, .init = reset);

static int
held_lookup(const char *host, const char *port, char (*urls)[RMQ_NODE_URL_MAX],
    unsigned max, unsigned *n, char *err, size_t errlen)
{
	pthread_mutex_lock(&mu);
	calls++;
	inside = 1;
	pthread_cond_broadcast(&cv);
	while (hold)
		pthread_cond_wait(&cv, &mu);
	inside = 0;
	int k = calls;
	pthread_mutex_unlock(&mu);
	*n = 0;
	int rv = 0;
	if (strcmp(host, "fails") == 0) {
		snprintf(err, errlen, "no such name");
		rv = -1;
	} else {
		for (int i = 1; i <= k && *n < max; i++)
			snprintf(urls[(*n)++], RMQ_NODE_URL_MAX,
			    "tcp://10.0.0.%d:%s", i, port);
	}
	pthread_mutex_lock(&mu);
	returned++;
	pthread_cond_broadcast(&cv);
	pthread_mutex_unlock(&mu);
	return rv;
}

static void
on_woke(void *arg)
{
	(void)arg;
	atomic_fetch_add(&woken, 1);
}

static void
wait_inside(void)
{
	pthread_mutex_lock(&mu);
	while (!inside)
		pthread_cond_wait(&cv, &mu);
	pthread_mutex_unlock(&mu);
}

static void
let_go(void)
{
	pthread_mutex_lock(&mu);
	hold = 0;
	pthread_cond_broadcast(&cv);
	pthread_mutex_unlock(&mu);
}

static void
wait_returned(int k)
{
	pthread_mutex_lock(&mu);
	while (returned < k)
		pthread_cond_wait(&cv, &mu);
	pthread_mutex_unlock(&mu);
}

static void
nap(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
	nanosleep(&ts, NULL);
}

static char urls[RMQ_RESOLVE_MAX][RMQ_NODE_URL_MAX];

/* Once `answers` answers were stored: the take's result (1: one came),
 * its URLs into urls and their number into *n. */
static int
take_after(struct rmq_resolver *r, int answers, unsigned *n, char *err,
    size_t errlen)
{
	while (atomic_load(&woken) < answers)
		nap(1);
	return rmq_resolver_take(r, urls, RMQ_RESOLVE_MAX, n, err, errlen);
}

Test(resolve, a_lookup_under_way_holds_no_taker)
{
	hold = 1;
	struct rmq_resolver *r = rmq_resolver_start("peers.example:7000", 60000,
	    held_lookup, on_woke, NULL);
	cr_assert_not_null(r);
	wait_inside();
	unsigned n = 99;
	char err[64] = "x";
	/* The lookup does not end: a take answers at once, with nothing. */
	cr_assert_eq(rmq_resolver_take(r, urls, RMQ_RESOLVE_MAX, &n, err,
			 sizeof(err)),
	    0);
	cr_assert_eq(n, 0);
	struct rmq_resolver_stats s;
	nap(5);
	rmq_resolver_stats(r, &s);
	cr_assert_eq(s.lookups, 0);
	cr_assert_gt(s.running_us, 0, "the lookup under way is timed");
	cr_assert_eq(atomic_load(&woken), 0);

	let_go();
	wait_returned(1);
	cr_assert_eq(take_after(r, 1, &n, err, sizeof(err)), 1);
	cr_assert_eq(n, 1);
	cr_assert_str_eq(urls[0], "tcp://10.0.0.1:7000");
	cr_assert_str_eq(err, "");
	/* Taken once. */
	cr_assert_eq(rmq_resolver_take(r, urls, RMQ_RESOLVE_MAX, &n, err,
			 sizeof(err)),
	    0);
	rmq_resolver_stats(r, &s);
	cr_assert_eq(s.lookups, 1);
	cr_assert_eq(s.failures, 0);
	cr_assert_eq(s.running_us, 0);
	rmq_resolver_stop(r); /* waiting its interval: joined */
}

Test(resolve, a_stop_does_not_wait_for_a_lookup, .timeout = 30)
{
	hold = 1;
	struct rmq_resolver *r = rmq_resolver_start("peers.example:7000", 60000,
	    held_lookup, on_woke, NULL);
	cr_assert_not_null(r);
	wait_inside();
	/* The lookup is still held: a stop that waited would never end
	 * (the test's timeout). */
	rmq_resolver_stop(r);
	cr_assert_eq(returned, 0);
	let_go();
	wait_returned(1);
	/* Its answer goes nowhere: no woke after the stop. */
	nap(50);
	cr_assert_eq(atomic_load(&woken), 0);
}

Test(resolve, the_newest_answer_and_failures)
{
	struct rmq_resolver *r = rmq_resolver_start("peers.example:7001", 1,
	    held_lookup, on_woke, NULL);
	cr_assert_not_null(r);
	unsigned n = 0;
	char err[64];
	cr_assert_eq(take_after(r, 5, &n, err, sizeof(err)), 1);
	/* Several lookups ended: the take has the newest (one address per
	 * lookup so far), not the first. */
	cr_assert_geq(n, 5);
	char want[RMQ_NODE_URL_MAX];
	snprintf(want, sizeof(want), "tcp://10.0.0.%u:7001", n);
	cr_assert_str_eq(urls[n - 1], want);
	rmq_resolver_stop(r);
	cr_assert_geq(atomic_load(&woken), 5);

	reset();
	r = rmq_resolver_start("fails:7000", 60000, held_lookup, on_woke, NULL);
	cr_assert_not_null(r);
	cr_assert_eq(take_after(r, 1, &n, err, sizeof(err)), 1);
	cr_assert_eq(n, 0);
	cr_assert_str_eq(err, "no such name");
	struct rmq_resolver_stats s;
	rmq_resolver_stats(r, &s);
	cr_assert_eq(s.lookups, 1);
	cr_assert_eq(s.failures, 1);
	rmq_resolver_stop(r);
}

Test(resolve, the_c_library_looks_up_a_real_name)
{
	struct rmq_resolver *r =
	    rmq_resolver_start("localhost:7000", 60000, NULL, on_woke, NULL);
	cr_assert_not_null(r);
	unsigned n = 0;
	char err[64];
	cr_assert_eq(take_after(r, 1, &n, err, sizeof(err)), 1);
	cr_assert_gt(n, 0, "%s", err);
	int loopback = 0;
	for (unsigned i = 0; i < n; i++)
		loopback |= strcmp(urls[i], "tcp://127.0.0.1:7000") == 0 ||
		    strcmp(urls[i], "tcp://[::1]:7000") == 0;
	cr_assert(loopback, "first answer %s", urls[0]);
	rmq_resolver_stop(r);
}

Test(resolve, a_name_without_a_port_is_refused)
{
	cr_assert_null(rmq_resolver_start("peers.example", 1000, held_lookup,
	    on_woke, NULL));
	cr_assert_null(rmq_resolver_start("peers.example:", 1000, held_lookup,
	    on_woke, NULL));
	cr_assert_eq(calls, 0);
}
