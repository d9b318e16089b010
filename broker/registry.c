/* broker/registry.c: client identifier -> session key, an open-addressing
 * hash table behind a mutex (CONNECT and session end only). */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "registry.h"

struct reg_entry {
	char *id; /* NULL: empty; REG_TOMB: deleted */
	uint32_t len;
	uint64_t key;
	uint64_t hash;
};

#define REG_TOMB ((char *)1)

struct rmq_registry {
	pthread_mutex_t lock;
	struct reg_entry *t;
	size_t cap, used, live;
};

static uint64_t
reg_hash(const char *s, size_t n)
{
	uint64_t h = 0xcbf29ce484222325ull;
	for (size_t i = 0; i < n; i++)
		h = (h ^ (unsigned char)s[i]) * 0x100000001b3ull;
	return h ^ (h >> 31);
}

int
rmq_registry_new(struct rmq_registry **out)
{
	struct rmq_registry *r = calloc(1, sizeof(*r));
	if (r == NULL)
		return -ENOMEM;
	r->cap = 1024;
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
rmq_registry_free(struct rmq_registry *r)
{
	if (r == NULL)
		return;
	for (size_t i = 0; i < r->cap; i++)
		if (r->t[i].id && r->t[i].id != REG_TOMB)
			free(r->t[i].id);
	free(r->t);
	pthread_mutex_destroy(&r->lock);
	free(r);
}

/* The entry for id, or the empty slot where it would go. */
static struct reg_entry *
reg_find(struct rmq_registry *r, const char *id, size_t len, uint64_t h)
{
	size_t mask = r->cap - 1, i = h & mask;
	struct reg_entry *tomb = NULL;
	for (;;) {
		struct reg_entry *e = &r->t[i];
		if (e->id == NULL)
			return tomb ? tomb : e;
		if (e->id == REG_TOMB) {
			if (tomb == NULL)
				tomb = e;
		} else if (e->hash == h && e->len == len &&
		    memcmp(e->id, id, len) == 0) {
			return e;
		}
		i = (i + 1) & mask;
	}
}

static int
reg_grow(struct rmq_registry *r)
{
	struct reg_entry *old = r->t;
	size_t oldcap = r->cap;
	r->cap *= 2;
	r->t = calloc(r->cap, sizeof(*r->t));
	if (r->t == NULL) {
		r->t = old;
		r->cap = oldcap;
		return -ENOMEM;
	}
	r->used = r->live;
	for (size_t i = 0; i < oldcap; i++) {
		if (old[i].id == NULL || old[i].id == REG_TOMB)
			continue;
		*reg_find(r, old[i].id, old[i].len, old[i].hash) = old[i];
	}
	free(old);
	return 0;
}

int
rmq_registry_claim(struct rmq_registry *r, const char *id, size_t len,
    uint64_t key, uint64_t *owner)
{
	uint64_t h = reg_hash(id, len);
	int rc = 0;
	pthread_mutex_lock(&r->lock);
	if ((r->used + 1) * 4 > r->cap * 3 && reg_grow(r) != 0) {
		rc = -ENOMEM;
		goto out;
	}
	struct reg_entry *e = reg_find(r, id, len, h);
	if (e->id != NULL && e->id != REG_TOMB) {
		*owner = e->key;
		rc = 1;
		goto out;
	}
	char *copy = malloc(len ? len : 1);
	if (copy == NULL) {
		rc = -ENOMEM;
		goto out;
	}
	memcpy(copy, id, len);
	if (e->id == NULL)
		r->used++;
	*e = (struct reg_entry){ copy, (uint32_t)len, key, h };
	r->live++;
out:
	pthread_mutex_unlock(&r->lock);
	return rc;
}

void
rmq_registry_release(struct rmq_registry *r, const char *id, size_t len,
    uint64_t key)
{
	uint64_t h = reg_hash(id, len);
	pthread_mutex_lock(&r->lock);
	struct reg_entry *e = reg_find(r, id, len, h);
	if (e->id != NULL && e->id != REG_TOMB && e->key == key) {
		free(e->id);
		e->id = REG_TOMB;
		r->live--;
	}
	pthread_mutex_unlock(&r->lock);
}

void
rmq_registry_rekey(struct rmq_registry *r, const char *id, size_t len,
    uint64_t old_key, uint64_t new_key)
{
	uint64_t h = reg_hash(id, len);
	pthread_mutex_lock(&r->lock);
	struct reg_entry *e = reg_find(r, id, len, h);
	if (e->id != NULL && e->id != REG_TOMB && e->key == old_key)
		e->key = new_key;
	pthread_mutex_unlock(&r->lock);
}

size_t
rmq_registry_count(struct rmq_registry *r)
{
	pthread_mutex_lock(&r->lock);
	size_t n = r->live;
	pthread_mutex_unlock(&r->lock);
	return n;
}
