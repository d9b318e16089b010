/* broker/retain.c: retained messages by topic: an open-addressing hash
 * table behind a mutex.  Matching a filter without wildcards is one
 * lookup; with wildcards, a walk of the table. */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "retain.h"
#include "topic.h"

#define RET_TOMB ((struct rmq_msg *)1)

struct rmq_retain {
	pthread_mutex_t lock;
	struct rmq_msg **t;
	size_t cap, used, live;
};

static uint64_t
ret_hash(const char *s, size_t n)
{
	uint64_t h = 0xcbf29ce484222325ull;
	for (size_t i = 0; i < n; i++)
		h = (h ^ (unsigned char)s[i]) * 0x100000001b3ull;
	return h ^ (h >> 29);
}

int
rmq_retain_new(struct rmq_retain **out)
{
	struct rmq_retain *r = calloc(1, sizeof(*r));
	if (r == NULL)
		return -ENOMEM;
	r->cap = 256;
	r->t = calloc(r->cap, sizeof(*r->t));
	if (r->t == NULL) {
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
	for (size_t i = 0; i < r->cap; i++)
		if (r->t[i] && r->t[i] != RET_TOMB)
			rmq_msg_rele(r->t[i]);
	free(r->t);
	pthread_mutex_destroy(&r->lock);
	free(r);
}

static struct rmq_msg **
ret_find(struct rmq_retain *r, const char *topic, size_t len)
{
	size_t mask = r->cap - 1, i = ret_hash(topic, len) & mask;
	struct rmq_msg **tomb = NULL;
	for (;;) {
		struct rmq_msg **e = &r->t[i];
		if (*e == NULL)
			return tomb ? tomb : e;
		if (*e == RET_TOMB) {
			if (tomb == NULL)
				tomb = e;
		} else if ((*e)->topic.len == len &&
		    memcmp((*e)->topic.p, topic, len) == 0) {
			return e;
		}
		i = (i + 1) & mask;
	}
}

static int
ret_grow(struct rmq_retain *r)
{
	struct rmq_msg **old = r->t;
	size_t oldcap = r->cap;
	struct rmq_msg **t = calloc(oldcap * 2, sizeof(*t));
	if (t == NULL)
		return -ENOMEM;
	r->t = t;
	r->cap = oldcap * 2;
	r->used = r->live;
	for (size_t i = 0; i < oldcap; i++)
		if (old[i] && old[i] != RET_TOMB)
			*ret_find(r, old[i]->topic.p, old[i]->topic.len) =
			    old[i];
	free(old);
	return 0;
}

int
rmq_retain_put(struct rmq_retain *r, struct rmq_msg *m)
{
	int rc = 0;
	struct rmq_msg *old = NULL;
	pthread_mutex_lock(&r->lock);
	if ((r->used + 1) * 4 > r->cap * 3 && ret_grow(r) != 0) {
		rc = -ENOMEM;
		goto out;
	}
	struct rmq_msg **e = ret_find(r, m->topic.p, m->topic.len);
	int live = *e != NULL && *e != RET_TOMB;
	if (live)
		old = *e;
	if (m->payload.len == 0) {
		if (live) {
			*e = RET_TOMB;
			r->live--;
		}
	} else {
		if (*e == NULL)
			r->used++;
		if (!live)
			r->live++;
		rmq_msg_hold(m, 1);
		*e = m;
	}
out:
	pthread_mutex_unlock(&r->lock);
	if (old)
		rmq_msg_rele(old);
	return rc;
}

size_t
rmq_retain_match(struct rmq_retain *r, const char *filter, size_t len,
    uint64_t now_ms, void (*fn)(void *ctx, struct rmq_msg *m), void *ctx)
{
	size_t n = 0, cap = 0;
	struct rmq_msg **hits = NULL;
	pthread_mutex_lock(&r->lock);
	if (!rmq_topic_has_wildcard(filter, len)) {
		struct rmq_msg **e = ret_find(r, filter, len);
		if (*e && *e != RET_TOMB) {
			hits = malloc(sizeof(*hits));
			if (hits) {
				hits[n++] = *e;
				rmq_msg_hold(*e, 1);
			}
		}
	} else {
		for (size_t i = 0; i < r->cap; i++) {
			struct rmq_msg *m = r->t[i];
			if (m == NULL || m == RET_TOMB)
				continue;
			if (rmq_msg_expired(m, now_ms)) {
				r->t[i] = RET_TOMB;
				r->live--;
				rmq_msg_rele(m);
				continue;
			}
			if (!rmq_topic_match(filter, len, m->topic.p,
				m->topic.len))
				continue;
			if (n == cap) {
				cap = cap ? cap * 2 : 16;
				struct rmq_msg **h =
				    realloc(hits, cap * sizeof(*h));
				if (h == NULL)
					break;
				hits = h;
			}
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

size_t
rmq_retain_count(struct rmq_retain *r)
{
	pthread_mutex_lock(&r->lock);
	size_t n = r->live;
	pthread_mutex_unlock(&r->lock);
	return n;
}
