/* broker/io/loop.c: what every loop backend shares: the run-time choice of
 * backend, the clock, the per-turn hooks and tick, the stop sequence, and
 * the RCU quiescent-state bookkeeping around waits.
 *
 * RCU design: worker loops read the subscription index under liburcu's
 * QSBR flavour, whose read-side lock costs nothing.  In exchange each loop
 * reports a quiescent state once per turn and goes offline while it
 * blocks, so writers' grace periods never wait on a sleeping loop.
 */
#include <errno.h>
#include <linux/futex.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>
#include <urcu-qsbr.h>

#include "loop.h"
#include "rmq_config.h"

uint64_t
rmq_loop_clock_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

uint64_t
rmq_loop_clock_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

int
rmq_loop_backend(enum rmq_loop_kind want, const struct rmq_loop_ops **ops,
    char *why, size_t len)
{
	char probe[160] = "";
	int rc = -ENOTSUP;

	if (want == RMQ_LOOP_UV) {
		*ops = &rmq_loop_uv_ops;
		snprintf(why, len, "libuv (forced)");
		return 0;
	}
#if RMQ_HAVE_URING
	rc = rmq_loop_uring_probe(probe, sizeof(probe));
	if (rc == 0) {
		*ops = &rmq_loop_uring_ops;
		snprintf(why, len, "io_uring (%s)", probe);
		return 0;
	}
#else
	snprintf(probe, sizeof(probe), "not built: liburing was missing");
#endif
	if (want == RMQ_LOOP_URING) {
		snprintf(why, len, "io_uring unavailable: %s", probe);
		return rc;
	}
	*ops = &rmq_loop_uv_ops;
	snprintf(why, len, "libuv (io_uring unavailable: %s)", probe);
	return 0;
}

static uint64_t
loop_now(struct rmq_loop *loop)
{
	return loop->ops->now ? loop->ops->now(loop) : rmq_loop_clock_ms();
}

void
rmq_loop_woke(struct rmq_loop *loop)
{
	loop->wake_us = rmq_loop_clock_us();
	loop->now_ms =
	    loop->ops->now ? loop->ops->now(loop) : loop->wake_us / 1000u;
}

int
rmq_loop_run(struct rmq_loop *loop)
{
	rcu_register_thread();
	loop->now_ms = loop_now(loop);
	loop->next_tick_ms = loop->now_ms + loop->tick_ms;
	int rc = loop->ops->run(loop);
	rcu_unregister_thread();
	return rc;
}

void
rmq_loop_stop(struct rmq_loop *loop)
{
	atomic_store(&loop->stop, 1);
	loop->ops->wake(loop);
}

void
rmq_loop_later(struct rmq_loop *loop, struct rmq_loop_later *l,
    void (*run)(struct rmq_loop_later *l))
{
	if (l->pprev)
		return;
	l->run = run;
	l->next = loop->later;
	if (loop->later)
		loop->later->pprev = &l->next;
	l->pprev = &loop->later;
	loop->later = l;
	rmq_count(&loop->deferred, 1);
}

void
rmq_loop_later_cancel(struct rmq_loop_later *l)
{
	if (l->pprev == NULL)
		return;
	*l->pprev = l->next;
	if (l->next)
		l->next->pprev = l->pprev;
	l->next = NULL;
	l->pprev = NULL;
}

/* What was put off runs with a fresh budget; what it puts off again
 * waits for the next turn. */
static void
loop_run_later(struct rmq_loop *loop)
{
	struct rmq_loop_later *list = loop->later;
	loop->later = NULL;
	if (list)
		list->pprev = &list;
	loop->spent_us = 0;
	while (list) {
		struct rmq_loop_later *l = list;
		list = l->next;
		if (list)
			list->pprev = &list;
		l->next = NULL;
		l->pprev = NULL;
		l->run(l);
	}
}

uint32_t
rmq_loop_after_events(struct rmq_loop *loop)
{
	loop->now_ms = loop_now(loop);
	loop_run_later(loop);
	rmq_count(&loop->turns, 1);
	if (atomic_load_explicit(&loop->stop, memory_order_relaxed) &&
	    !loop->stop_seen) {
		loop->stop_seen = 1;
		if (loop->hooks.stopping)
			loop->hooks.stopping(loop);
	}
	/* The tick before the turn: what it produces (a keep alive
	 * DISCONNECT, a delayed will) goes out with this turn's flush, not
	 * a tick later. */
	if (loop->tick_ms && loop->now_ms >= loop->next_tick_ms) {
		loop->next_tick_ms = loop->now_ms + loop->tick_ms;
		if (loop->hooks.tick)
			loop->hooks.tick(loop);
	}
	if (loop->hooks.turn)
		loop->hooks.turn(loop);
	rcu_quiescent_state();
	loop->spent_us = 0;
	if (loop->later)
		return 0; /* no sleeping on work put off */
	if (!loop->tick_ms)
		return 1000;
	return loop->next_tick_ms > loop->now_ms
	    ? (uint32_t)(loop->next_tick_ms - loop->now_ms)
	    : 0;
}

/* A thread that waits for a borrower to give its loop back sleeps on the
 * state word; the borrower wakes it. */
static void
loop_futex(atomic_int *word, int op, int val)
{
	syscall(SYS_futex, (int *)word, op | FUTEX_PRIVATE_FLAG, val, NULL,
	    NULL, 0);
}

int
rmq_loop_borrow(struct rmq_loop *loop, const struct rmq_loop *by)
{
	if (loop->ops->lent_end == NULL)
		return 0;
	int v = RMQ_LOOP_ASLEEP;
	if (!atomic_compare_exchange_strong(&loop->state, &v, RMQ_LOOP_LENT))
		return 0;
	/* The sleeper's clock stopped when it went to sleep. */
	if (loop->now_ms < by->now_ms)
		loop->now_ms = by->now_ms;
	return 1;
}

void
rmq_loop_give_back(struct rmq_loop *loop, int owed)
{
	int wake = loop->ops->lent_end(loop) || owed;
	if (atomic_exchange(&loop->state, RMQ_LOOP_ASLEEP) ==
	    RMQ_LOOP_LENT_WAITED)
		loop_futex(&loop->state, FUTEX_WAKE, 1);
	/* Work queued, or a stop asked, while the loop was lent found it
	 * LENT and left the wake-up to us: look for it only after the
	 * exchange (a full barrier, as in the backend's own check before it
	 * sleeps). */
	if (wake || atomic_load(&loop->stop) ||
	    (loop->hooks.pending && loop->hooks.pending(loop)))
		loop->ops->wake(loop);
}

void
rmq_loop_reclaim(struct rmq_loop *loop)
{
	int v = atomic_load(&loop->state);
	unsigned spins = 0;
	for (;;) {
		if (v == RMQ_LOOP_RUNNING)
			return; /* a waker marked it already */
		if (v == RMQ_LOOP_ASLEEP) {
			if (atomic_compare_exchange_weak(&loop->state, &v,
				RMQ_LOOP_RUNNING))
				return;
			continue;
		}
		/* Lent.  A borrower's turn is one small batch: spin a
		 * little, then sleep rather than burn a CPU the borrower
		 * (preempted, say) or anyone else may need. */
		if (spins++ < 64) {
			caa_cpu_relax();
		} else if (v == RMQ_LOOP_LENT_WAITED ||
		    atomic_compare_exchange_weak(&loop->state, &v,
			RMQ_LOOP_LENT_WAITED)) {
			loop_futex(&loop->state, FUTEX_WAIT,
			    RMQ_LOOP_LENT_WAITED);
		}
		v = atomic_load(&loop->state);
	}
}

void
rmq_loop_sleep_begin(struct rmq_loop *loop)
{
	(void)loop;
	rcu_thread_offline();
}

void
rmq_loop_sleep_end(struct rmq_loop *loop)
{
	(void)loop;
	rcu_thread_online();
}
