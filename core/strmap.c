/* core/strmap.c: string-keyed open-addressing map (see strmap.h). */
#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "hash.h"
#include "strmap.h"

static char strmap_tomb_mark;
#define RMQ_STRMAP_TOMB (&strmap_tomb_mark)

/* FNV-1a, then the seed, then a finaliser (MurmurHash3's fmix64) that
 * spreads every bit over the low ones the table's mask keeps. */
static uint32_t
strmap_hash(const struct rmq_strmap *m, const char *s, size_t n)
{
	uint64_t h = rmq_hash64(s, n) ^ m->seed;
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdull;
	h ^= h >> 33;
	h *= 0xc4ceb9fe1a85ec53ull;
	h ^= h >> 33;
	return (uint32_t)h;
}

/* Seeds: a counter's values, spread (splitmix64's step). */
static uint64_t
strmap_seed(void)
{
	static _Atomic uint64_t next;
	uint64_t z = atomic_fetch_add_explicit(&next, 0x9e3779b97f4a7c15ull,
	    memory_order_relaxed);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static int
strmap_live(const struct rmq_strmap_entry *e)
{
	return e->key != NULL && e->key != RMQ_STRMAP_TOMB;
}

int
rmq_strmap_init(struct rmq_strmap *m)
{
	memset(m, 0, sizeof(*m));
	m->seed = strmap_seed();
	m->cap = 64;
	m->t = calloc(m->cap, sizeof(*m->t));
	return m->t ? 0 : -ENOMEM;
}

void
rmq_strmap_fini(struct rmq_strmap *m)
{
	for (size_t i = 0; i < m->cap; i++)
		if (strmap_live(&m->t[i]))
			free(m->t[i].key);
	free(m->t);
	memset(m, 0, sizeof(*m));
}

/* The entry for key, or where it would go (the first tombstone met). */
static struct rmq_strmap_entry *
strmap_find(const struct rmq_strmap *m, const char *key, size_t len, uint32_t h)
{
	size_t mask = m->cap - 1, i = h & mask;
	struct rmq_strmap_entry *tomb = NULL;
	for (;;) {
		struct rmq_strmap_entry *e = &m->t[i];
		if (e->key == NULL)
			return tomb ? tomb : e;
		if (e->key == RMQ_STRMAP_TOMB) {
			if (tomb == NULL)
				tomb = e;
		} else if (e->hash == h && e->len == len &&
		    memcmp(e->key, key, len) == 0) {
			return e;
		}
		i = (i + 1) & mask;
	}
}

static int
strmap_grow(struct rmq_strmap *m)
{
	struct rmq_strmap_entry *old = m->t;
	size_t oldcap = m->cap;
	/* Only tombstones: rehash at the same size. */
	size_t cap = m->live * 2 >= oldcap ? oldcap * 2 : oldcap;
	struct rmq_strmap_entry *t = calloc(cap, sizeof(*t));
	if (t == NULL)
		return -ENOMEM;
	m->t = t;
	m->cap = cap;
	m->used = m->live;
	for (size_t i = 0; i < oldcap; i++)
		if (strmap_live(&old[i]))
			*strmap_find(m, old[i].key, old[i].len, old[i].hash) =
			    old[i];
	free(old);
	return 0;
}

void *
rmq_strmap_get(const struct rmq_strmap *m, const char *key, size_t len)
{
	struct rmq_strmap_entry *e =
	    strmap_find(m, key, len, strmap_hash(m, key, len));
	return strmap_live(e) ? e->val : NULL;
}

int
rmq_strmap_put(struct rmq_strmap *m, const char *key, size_t len, void *val,
    void **old)
{
	uint32_t h = strmap_hash(m, key, len);
	*old = NULL;
	if ((m->used + 1) * 4 > m->cap * 3 && strmap_grow(m) != 0)
		return -ENOMEM;
	struct rmq_strmap_entry *e = strmap_find(m, key, len, h);
	if (strmap_live(e)) {
		*old = e->val;
		e->val = val;
		return 0;
	}
	char *copy = malloc(len ? len : 1);
	if (copy == NULL)
		return -ENOMEM;
	memcpy(copy, key, len);
	if (e->key == NULL)
		m->used++;
	*e = (struct rmq_strmap_entry){ .key = copy,
		.val = val,
		.hash = h,
		.len = (uint32_t)len };
	m->live++;
	return 0;
}

void
rmq_strmap_del_at(struct rmq_strmap *m, struct rmq_strmap_entry *e)
{
	free(e->key);
	e->key = RMQ_STRMAP_TOMB;
	e->val = NULL;
	m->live--;
}

void *
rmq_strmap_del(struct rmq_strmap *m, const char *key, size_t len)
{
	struct rmq_strmap_entry *e =
	    strmap_find(m, key, len, strmap_hash(m, key, len));
	if (!strmap_live(e))
		return NULL;
	void *val = e->val;
	rmq_strmap_del_at(m, e);
	return val;
}

struct rmq_strmap_entry *
rmq_strmap_next(struct rmq_strmap *m, size_t *i)
{
	while (*i < m->cap) {
		struct rmq_strmap_entry *e = &m->t[(*i)++];
		if (strmap_live(e))
			return e;
	}
	return NULL;
}
