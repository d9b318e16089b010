/* test/broker/mqtt/test_worker.c: broker/mqtt/worker.c, a worker's sessions: the
 * list of sessions with output this turn, which its flush walks from the
 * head, keeps the order they were marked in (the message that came in
 * first goes out first) through sessions leaving it from any place. */
#include <criterion/criterion.h>

#include <stdlib.h>

#include "broker.h"
#include "rmq_test_broker.h"
#include "worker_impl.h"

static struct rmq_broker br;
static struct rmq_worker *w;
static int conn_stand_in; /* a session is marked only with a connection */

static void
setup(void)
{
	struct rmq_config cfg;
	rmq_test_broker_config(&cfg, 1);
	cr_assert_eq(rmq_broker_init(&br, &cfg), 0);
	w = br.workers[0];
}

static void
teardown(void)
{
	rmq_broker_fini(&br);
}

static struct rmq_session *
session(void)
{
	struct rmq_session *s = rmq_worker_session_alloc(w);
	cr_assert_not_null(s);
	s->conn = (struct rmq_conn *)&conn_stand_in;
	return s;
}

static void
drop(struct rmq_session *s)
{
	rmq_worker_session_release(w, s);
	free(s);
}

/* The flush list from its head must be exactly want[0..n-1]. */
static void
expect_list(struct rmq_session *const *want, size_t n)
{
	struct rmq_session *s = w->dirty;
	for (size_t i = 0; i < n; i++, s = s->next_dirty) {
		cr_assert_not_null(s, "list ends at %zu of %zu", i, n);
		cr_assert_eq(s, want[i], "place %zu", i);
		cr_assert(s->dirty);
	}
	cr_assert_null(s, "list longer than %zu", n);
}

Test(worker, sessions_are_flushed_in_the_order_they_got_output, .init = setup,
    .fini = teardown)
{
	struct rmq_session *s[6];
	for (int i = 0; i < 6; i++)
		s[i] = session();
	rmq_worker_dirty(w, s[0]);
	rmq_worker_dirty(w, s[1]);
	rmq_worker_dirty(w, s[2]);
	rmq_worker_dirty(w, s[1]); /* marked already: keeps its place */
	expect_list((struct rmq_session *[]){ s[0], s[1], s[2] }, 3);

	/* Leaving from the middle, then from the end: what comes next
	 * still goes to the end. */
	drop(s[1]);
	expect_list((struct rmq_session *[]){ s[0], s[2] }, 2);
	rmq_worker_dirty(w, s[3]);
	expect_list((struct rmq_session *[]){ s[0], s[2], s[3] }, 3);
	drop(s[3]);
	rmq_worker_dirty(w, s[4]);
	expect_list((struct rmq_session *[]){ s[0], s[2], s[4] }, 3);

	/* Leaving from the head, down to nothing, and marked again. */
	drop(s[0]);
	drop(s[2]);
	drop(s[4]);
	expect_list(NULL, 0);
	rmq_worker_dirty(w, s[5]);
	expect_list((struct rmq_session *[]){ s[5] }, 1);

	/* Without a connection there is nothing to flush. */
	struct rmq_session *gone = rmq_worker_session_alloc(w);
	cr_assert_not_null(gone);
	rmq_worker_dirty(w, gone);
	expect_list((struct rmq_session *[]){ s[5] }, 1);
	drop(gone);
	drop(s[5]);
}
