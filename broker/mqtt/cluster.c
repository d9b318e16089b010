/* broker/mqtt/cluster.c: the broker's side of the seam to cluster/
 * (../cluster.h): the hooks the cluster installs, and a message a peer
 * forwarded, which enters the worker's inbox and reaches local sessions
 * only.  Routing itself, which calls the forward hook once per node, is in
 * publish.c.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "cluster.h"
#include "durable.h"
#include "log.h"
#include "loop.h"
#include "persist.h"
#include "retain.h"
#include "worker_impl.h"

void
rmq_cluster_log(int level, const char *fmt, ...)
{
	if (!rmq_log_on(level))
		return;
	char line[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	rmq_log_write(level, "cluster: %s", line);
}

struct rmq_index *
rmq_cluster_index(struct rmq_broker *b)
{
	return b->index;
}

void
rmq_cluster_attach(struct rmq_broker *b, const struct rmq_cluster_hooks *h)
{
	b->cluster = h;
}

unsigned
rmq_cluster_workers(const struct rmq_broker *b)
{
	return b->nworkers;
}

void
rmq_cluster_applied_changed(struct rmq_broker *b)
{
	rmq_workers_wake_held(b);
}

/* The last stamp given, or seen from another node. */
static _Atomic uint64_t stamp_last;

uint64_t
rmq_cluster_stamp(uint16_t tag)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	uint64_t us =
	    (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000;
	uint64_t want = us << 12 | (tag & 0xFFFu);
	uint64_t prev = atomic_load(&stamp_last), next;
	/* Strictly increasing, even for two in one microsecond or a clock
	 * stepped back: a tie would be taken here and refused elsewhere. */
	do
		next = want > prev ? want
				   : ((prev >> 12) + 1) << 12 | (tag & 0xFFFu);
	while (!atomic_compare_exchange_weak(&stamp_last, &prev, next));
	return next;
}

void
rmq_cluster_stamp_seen(uint64_t stamp)
{
	uint64_t prev = atomic_load(&stamp_last);
	while (stamp > prev &&
	    !atomic_compare_exchange_weak(&stamp_last, &prev, stamp))
		;
}

int
rmq_cluster_retain_apply(struct rmq_broker *b, struct rmq_msg *m)
{
	if (!b->cfg.retain_available)
		return 1;
	uint64_t gen = 0;
	int rc = rmq_retain_put_newer(b->retain, m, b->cfg.max_retained,
	    b->cfg.max_retained_bytes, &gen);
	if (gen)
		rmq_persist_changed(b->persist);
	return rc;
}

size_t
rmq_cluster_retained_each(struct rmq_broker *b,
    void (*fn)(void *arg, struct rmq_msg *m), void *arg)
{
	return rmq_retain_match(b->retain, "#", 1, rmq_loop_clock_ms(), fn,
	    arg);
}

void
rmq_cluster_publish_here(struct rmq_broker *b, unsigned worker,
    struct rmq_msg **m, uint32_t n)
{
	struct rmq_worker *w = b->workers[worker % b->nworkers];
	uint64_t now_us = rmq_loop_clock_us();
	for (uint32_t i = 0; i < n; i++) {
		m[i]->from_peer = 1;
		m[i]->born_us = now_us;
		rmq_route(w, m[i]);
		rmq_msg_rele(m[i]);
	}
}

int
rmq_cluster_publish(struct rmq_broker *b, unsigned worker, struct rmq_msg **m,
    uint32_t n)
{
	struct rmq_inbox_msg *im = calloc(1, sizeof(*im));
	if (im == NULL) {
		for (uint32_t i = 0; i < n; i++)
			rmq_msg_rele(m[i]);
		free(m);
		return -ENOMEM;
	}
	/* Their delivery latency starts here, as a client's publish starts
	 * at its read: this node's part (peers' clocks are not this one's). */
	uint64_t now_us = rmq_loop_clock_us();
	for (uint32_t i = 0; i < n; i++) {
		m[i]->from_peer = 1;
		m[i]->born_us = now_us;
	}
	im->kind = RMQ_INBOX_ROUTE;
	im->route.m = m;
	im->route.n = n;
	rmq_worker_post(b->workers[worker % b->nworkers], im);
	return 0;
}
