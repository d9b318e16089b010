/* broker/store/retain.c: retained messages by topic: a string map behind a
 * mutex.  Matching a filter without wildcards is one lookup; with
 * wildcards, a walk of the map.  Marked topics (persistence) are a second
 * map, of topics only. */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "grow.h"
#include "retain.h"
#include "strmap.h"
#include "topic.h"

struct rmq_retain {
	pthread_mutex_t lock;
	struct rmq_strmap map; /* topic -> struct rmq_msg * */
	uint64_t bytes; /* the messages' sizes, summed */
	_Atomic uint64_t *gen; /* tracking: the writer's generation */
	struct rmq_strmap marked; /* topics changed since the last take */
};

/* Under the lock: note a change of the topic.  The server's own $SYS
 * topics are not kept: they describe the process that runs.  A mark that
 * cannot be kept (no memory) is lost: the topic is written at its next
 * change. */
static uint64_t
retain_mark(struct rmq_retain *r, const char *topic, size_t len)
{
	void *old;
	if (r->gen == NULL || (len >= 5 && memcmp(topic, "$SYS/", 5) == 0))
		return 0;
	if (rmq_strmap_get(&r->marked, topic, len) == NULL)
		(void)rmq_strmap_put(&r->marked, topic, len, (void *)1, &old);
	return atomic_load(r->gen);
}

int
rmq_retain_new(struct rmq_retain **out)
{
	struct rmq_retain *r = calloc(1, sizeof(*r));
	if (r == NULL || rmq_strmap_init(&r->map) != 0) {
		free(r);
		return -ENOMEM;
	}
	if (rmq_strmap_init(&r->marked) != 0) {
		rmq_strmap_fini(&r->map);
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
	rmq_strmap_fini(&r->marked);
	pthread_mutex_destroy(&r->lock);
	free(r);
}

int
rmq_retain_put(struct rmq_retain *r, struct rmq_msg *m, size_t max_count,
    uint64_t max_bytes)
{
	uint64_t gen;
	return rmq_retain_put_gen(r, m, max_count, max_bytes, &gen);
}

static int
retain_put(struct rmq_retain *r, struct rmq_msg *m, size_t max_count,
    uint64_t max_bytes, uint64_t *gen, int newer_only)
{
	void *old = NULL;
	int rc = 0;
	*gen = 0;
	pthread_mutex_lock(&r->lock);
	if (newer_only) {
		const struct rmq_msg *cur =
		    rmq_strmap_get(&r->map, m->topic.p, m->topic.len);
		if (cur && cur->stamp >= m->stamp) {
			pthread_mutex_unlock(&r->lock);
			return 1;
		}
	}
	if (m->payload.len == 0) {
		old = rmq_strmap_del(&r->map, m->topic.p, m->topic.len);
		if (old)
			*gen = retain_mark(r, m->topic.p, m->topic.len);
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
			*gen = retain_mark(r, m->topic.p, m->topic.len);
		}
	}
	if (old)
		r->bytes -= ((struct rmq_msg *)old)->size;
	pthread_mutex_unlock(&r->lock);
	if (old)
		rmq_msg_rele(old);
	return rc;
}

int
rmq_retain_put_gen(struct rmq_retain *r, struct rmq_msg *m, size_t max_count,
    uint64_t max_bytes, uint64_t *gen)
{
	return retain_put(r, m, max_count, max_bytes, gen, 0);
}

int
rmq_retain_put_newer(struct rmq_retain *r, struct rmq_msg *m, size_t max_count,
    uint64_t max_bytes, uint64_t *gen)
{
	return retain_put(r, m, max_count, max_bytes, gen, 1);
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
				retain_mark(r, m->topic.p, m->topic.len);
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

void
rmq_retain_track(struct rmq_retain *r, _Atomic uint64_t *gen)
{
	pthread_mutex_lock(&r->lock);
	r->gen = gen;
	pthread_mutex_unlock(&r->lock);
}

long
rmq_retain_take(struct rmq_retain *r, struct rmq_retain_change **out)
{
	*out = NULL;
	pthread_mutex_lock(&r->lock);
	long n = 0;
	struct rmq_strmap fresh;
	struct rmq_retain_change *c = NULL;
	if (r->marked.live == 0)
		goto done;
	if ((c = calloc(r->marked.live, sizeof(*c))) == NULL)
		goto nomem;
	struct rmq_strmap_entry *e;
	size_t i = 0;
	while ((e = rmq_strmap_next(&r->marked, &i)) != NULL) {
		if ((c[n].topic = malloc(e->len ? e->len : 1)) == NULL)
			goto nomem;
		memcpy(c[n].topic, e->key, e->len);
		c[n].len = e->len;
		c[n].m = rmq_strmap_get(&r->map, e->key, e->len);
		if (c[n].m)
			rmq_msg_hold(c[n].m, 1);
		n++;
	}
	if (rmq_strmap_init(&fresh) != 0)
		goto nomem;
	rmq_strmap_fini(&r->marked);
	r->marked = fresh;
	*out = c;
done:
	pthread_mutex_unlock(&r->lock);
	return n;
nomem:
	pthread_mutex_unlock(&r->lock);
	rmq_retain_changes_free(c, n);
	return -ENOMEM;
}

void
rmq_retain_remark(struct rmq_retain *r, struct rmq_retain_change *c, long n)
{
	pthread_mutex_lock(&r->lock);
	for (long i = 0; i < n; i++)
		retain_mark(r, c[i].topic, c[i].len);
	pthread_mutex_unlock(&r->lock);
	rmq_retain_changes_free(c, n);
}

void
rmq_retain_changes_free(struct rmq_retain_change *c, long n)
{
	for (long i = 0; i < n; i++) {
		free(c[i].topic);
		if (c[i].m)
			rmq_msg_rele(c[i].m);
	}
	free(c);
}
