/* broker/store/retain.c: retained messages by topic: a string map behind a
 * mutex.  Matching a filter without wildcards is one lookup; with
 * wildcards, a walk of the map. */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>

#include "grow.h"
#include "retain.h"
#include "strmap.h"
#include "topic.h"

struct rmq_retain {
	pthread_mutex_t lock;
	struct rmq_strmap map; /* topic -> struct rmq_msg * */
	uint64_t bytes; /* the messages' sizes, summed */
};

int
rmq_retain_new(struct rmq_retain **out)
{
	struct rmq_retain *r = calloc(1, sizeof(*r));
	if (r == NULL || rmq_strmap_init(&r->map) != 0) {
		free(r);
		return -ENOMEM;
	}
	pthread_mutex_init(&r->lock, NULL);
	*out = r;
	return 0;
}

void
rmq_retain_free(struct rmq_retain *r)
{
	if (r == NULL)
		return;
	struct rmq_strmap_entry *e;
	size_t i = 0;
	while ((e = rmq_strmap_next(&r->map, &i)) != NULL)
		rmq_msg_rele(e->val);
	rmq_strmap_fini(&r->map);
	pthread_mutex_destroy(&r->lock);
	free(r);
}

int
rmq_retain_put(struct rmq_retain *r, struct rmq_msg *m, size_t max_count,
    uint64_t max_bytes)
{
	void *old = NULL;
	int rc = 0;
	pthread_mutex_lock(&r->lock);
	if (m->payload.len == 0) {
		old = rmq_strmap_del(&r->map, m->topic.p, m->topic.len);
	} else {
		const struct rmq_msg *cur =
		    rmq_strmap_get(&r->map, m->topic.p, m->topic.len);
		uint64_t after = r->bytes + m->size - (cur ? cur->size : 0);
		if ((max_count && cur == NULL && r->map.live >= max_count) ||
		    (max_bytes && after > max_bytes && after > r->bytes))
			rc = -ENOSPC;
		else
			rc = rmq_strmap_put(&r->map, m->topic.p, m->topic.len,
			    m, &old);
		if (rc == 0) {
			rmq_msg_hold(m, 1);
			r->bytes += m->size;
		}
	}
	if (old)
		r->bytes -= ((struct rmq_msg *)old)->size;
	pthread_mutex_unlock(&r->lock);
	if (old)
		rmq_msg_rele(old);
	return rc;
}

size_t
rmq_retain_match(struct rmq_retain *r, const char *filter, size_t len,
    uint64_t now_ms, void (*fn)(void *ctx, struct rmq_msg *m), void *ctx)
{
	size_t n = 0;
	uint32_t cap = 0;
	struct rmq_msg **hits = NULL;
	pthread_mutex_lock(&r->lock);
	if (!rmq_topic_has_wildcard(filter, len)) {
		struct rmq_msg *m = rmq_strmap_get(&r->map, filter, len);
		if (m && (hits = malloc(sizeof(*hits))) != NULL) {
			hits[n++] = m;
			rmq_msg_hold(m, 1);
		}
	} else {
		struct rmq_strmap_entry *e;
		size_t i = 0;
		while ((e = rmq_strmap_next(&r->map, &i)) != NULL) {
			struct rmq_msg *m = e->val;
			if (rmq_msg_expired(m, now_ms)) {
				r->bytes -= m->size;
				rmq_strmap_del_at(&r->map, e);
				rmq_msg_rele(m);
				continue;
			}
			if (!rmq_topic_match(filter, len, m->topic.p,
				m->topic.len))
				continue;
			if (rmq_grow(&hits, &cap, (uint32_t)n + 1,
				sizeof(*hits), 16, UINT32_MAX) != 0)
				break;
			hits[n++] = m;
			rmq_msg_hold(m, 1);
		}
	}
	pthread_mutex_unlock(&r->lock);
	/* Deliver outside the lock. */
	for (size_t i = 0; i < n; i++) {
		if (!rmq_msg_expired(hits[i], now_ms))
			fn(ctx, hits[i]);
		rmq_msg_rele(hits[i]);
	}
	free(hits);
	return n;
}

uint64_t
rmq_retain_bytes(struct rmq_retain *r)
{
	pthread_mutex_lock(&r->lock);
	uint64_t n = r->bytes;
	pthread_mutex_unlock(&r->lock);
	return n;
}

size_t
rmq_retain_count(struct rmq_retain *r)
{
	pthread_mutex_lock(&r->lock);
	size_t n = r->map.live;
	pthread_mutex_unlock(&r->lock);
	return n;
}
