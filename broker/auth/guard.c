/* broker/auth/guard.c: failed logins and CONNECTs per source address
 * (guard.h).
 *
 * An open-addressed table of RMQ_GUARD_SLOTS entries under one mutex: it
 * is touched only when a login fails, or at a CONNECT when a connection
 * rate is set, never on the message path.  An
 * address hashes to a group of four slots; a new address takes a free or
 * forgotten slot of its group, or the one failed longest ago.
 */
#include "guard.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#define GUARD_WAYS 4
#define GUARD_KEY 46 /* INET6_ADDRSTRLEN */

struct guard_slot {
	char host[GUARD_KEY];
	uint32_t failures;
	uint32_t conns; /* CONNECTs in the second `second` */
	uint64_t last_ms; /* the last failure or CONNECT: for eviction */
	uint64_t failed_ms; /* the last failure: for forgetting */
	uint64_t second;
};

struct rmq_guard {
	pthread_mutex_t mu;
	_Atomic uint32_t max_ms;
	_Atomic uint64_t delayed;
	struct guard_slot slots[RMQ_GUARD_SLOTS];
};

struct rmq_guard *
rmq_guard_new(uint32_t max_ms)
{
	struct rmq_guard *g = calloc(1, sizeof(*g));
	if (g == NULL)
		return NULL;
	pthread_mutex_init(&g->mu, NULL);
	g->max_ms = max_ms;
	return g;
}

void
rmq_guard_free(struct rmq_guard *g)
{
	if (g == NULL)
		return;
	pthread_mutex_destroy(&g->mu);
	free(g);
}

static uint32_t
guard_hash(const char *s)
{
	uint32_t h = 2166136261u; /* FNV-1a */
	for (; *s; s++)
		h = (h ^ (uint8_t)*s) * 16777619u;
	return h;
}

/* The slot of host, found or claimed (a free one of its group, else the
 * one used longest ago); under g->mu. */
static struct guard_slot *
guard_slot(struct rmq_guard *g, const char *host)
{
	size_t base =
	    (guard_hash(host) % (RMQ_GUARD_SLOTS / GUARD_WAYS)) * GUARD_WAYS;
	struct guard_slot *victim = NULL;
	for (size_t i = 0; i < GUARD_WAYS; i++) {
		struct guard_slot *e = &g->slots[base + i];
		if (e->host[0] == '\0') {
			if (victim == NULL || victim->host[0])
				victim = e; /* a free slot first */
		} else if (strcmp(e->host, host) == 0) {
			return e;
		} else if (victim == NULL ||
		    (victim->host[0] && e->last_ms < victim->last_ms)) {
			victim = e; /* else the one used longest ago */
		}
	}
	memset(victim, 0, sizeof(*victim));
	strcpy(victim->host, host);
	return victim;
}

static int
guard_host_ok(const char *host)
{
	return host && host[0] && strlen(host) < GUARD_KEY;
}

uint32_t
rmq_guard_failed(struct rmq_guard *g, const char *host, uint64_t now_ms)
{
	if (g == NULL || !guard_host_ok(host))
		return 0;
	pthread_mutex_lock(&g->mu);
	struct guard_slot *slot = guard_slot(g, host);
	if (slot->failures && now_ms - slot->failed_ms > RMQ_GUARD_FORGET_MS)
		slot->failures = 0; /* quiet long enough: forgiven */
	if (slot->failures < UINT32_MAX)
		slot->failures++;
	slot->failed_ms = now_ms;
	if (slot->last_ms < now_ms)
		slot->last_ms = now_ms;
	uint32_t n = slot->failures;
	pthread_mutex_unlock(&g->mu);

	uint32_t max = atomic_load(&g->max_ms);
	if (n <= RMQ_GUARD_FREE || max == 0)
		return 0;
	uint32_t shift = n - RMQ_GUARD_FREE - 1;
	uint64_t d =
	    shift >= 32 ? UINT64_MAX : (uint64_t)RMQ_GUARD_FIRST_MS << shift;
	atomic_fetch_add(&g->delayed, 1);
	return d > max ? max : (uint32_t)d;
}

int
rmq_guard_connect(struct rmq_guard *g, const char *host, uint64_t now_ms,
    uint32_t per_second)
{
	if (g == NULL || per_second == 0 || !guard_host_ok(host))
		return 0;
	uint64_t second = now_ms / 1000;
	pthread_mutex_lock(&g->mu);
	struct guard_slot *slot = guard_slot(g, host);
	if (slot->second != second) {
		slot->second = second;
		slot->conns = 0;
	}
	int over = slot->conns >= per_second;
	if (!over)
		slot->conns++;
	if (slot->last_ms < now_ms)
		slot->last_ms = now_ms;
	pthread_mutex_unlock(&g->mu);
	return over;
}

void
rmq_guard_set_max(struct rmq_guard *g, uint32_t max_ms)
{
	if (g)
		atomic_store(&g->max_ms, max_ms);
}

uint64_t
rmq_guard_delayed(const struct rmq_guard *g)
{
	return g ? atomic_load(&((struct rmq_guard *)g)->delayed) : 0;
}
