/* core/subset.c: a filter's subscribers, one array when small, a directory
 * of chunks when large (see subset.h for why and for the rules).
 *
 * A directory's chunks are full but for the last, except where removals
 * thinned them: a chunk that falls under a quarter is merged with a
 * neighbour when the two fit in one, and a set that falls to half a chunk
 * becomes one array again.  Every change builds a new directory (a copy of
 * the chunk pointers, 8 bytes per 128 entries) around the one or two new
 * chunks and publishes it with one rcu_assign_pointer; the chunks it
 * shares with the old directory are not copied.
 */
#define _LGPL_SOURCE
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "subset.h"

/* The writer's map from owner to the chunk holding it: open addressing,
 * linear probing, at most half full, deletion by backward shift. */
struct subset_map {
	uint32_t cap, n;
	struct subset_slot {
		uint64_t owner;
		struct rmq_subset *chunk; /* NULL: a free slot */
	} e[];
};

struct subset_dir {
	struct rcu_head rcu;
	uint32_t n; /* entries in all chunks */
	uint32_t tag; /* SUBSET_DIR */
	uint32_t nchunks;
	struct subset_map *map;
	struct rmq_subset *c[];
};

static uint32_t
map_home(const struct subset_map *m, uint64_t owner)
{
	return (uint32_t)((owner * 0x9E3779B97F4A7C15ull) >> 32) & (m->cap - 1);
}

static struct subset_slot *
map_find(struct subset_map *m, uint64_t owner)
{
	for (uint32_t i = map_home(m, owner);; i = (i + 1) & (m->cap - 1)) {
		if (m->e[i].chunk == NULL)
			return NULL;
		if (m->e[i].owner == owner)
			return &m->e[i];
	}
}

static struct subset_map *
map_new(uint32_t cap)
{
	struct subset_map *m = calloc(1, sizeof(*m) + cap * sizeof(m->e[0]));
	if (m)
		m->cap = cap;
	return m;
}

/* Insert or update; the map has room (see map_reserve). */
static void
map_set(struct subset_map *m, uint64_t owner, struct rmq_subset *chunk)
{
	uint32_t i = map_home(m, owner);
	while (m->e[i].chunk && m->e[i].owner != owner)
		i = (i + 1) & (m->cap - 1);
	if (m->e[i].chunk == NULL)
		m->n++;
	m->e[i] = (struct subset_slot){ owner, chunk };
}

/* Room for one more entry, growing the table when half full. */
static int
map_reserve(struct subset_map **mp)
{
	struct subset_map *m = *mp;
	if ((m->n + 1) * 2 <= m->cap)
		return 0;
	struct subset_map *g = map_new(m->cap * 2);
	if (g == NULL)
		return -ENOMEM;
	for (uint32_t i = 0; i < m->cap; i++)
		if (m->e[i].chunk)
			map_set(g, m->e[i].owner, m->e[i].chunk);
	free(m);
	*mp = g;
	return 0;
}

static void
map_del(struct subset_map *m, uint64_t owner)
{
	uint32_t i = map_home(m, owner);
	while (m->e[i].chunk && m->e[i].owner != owner)
		i = (i + 1) & (m->cap - 1);
	if (m->e[i].chunk == NULL)
		return;
	m->n--;
	/* Pull later entries of the run back over the hole. */
	for (uint32_t j = (i + 1) & (m->cap - 1); m->e[j].chunk;
	     j = (j + 1) & (m->cap - 1)) {
		uint32_t h = map_home(m, m->e[j].owner);
		/* Movable when its home is not in (i, j], cyclically. */
		if ((j > i && (h <= i || h > j)) ||
		    (j < i && h <= i && h > j)) {
			m->e[i] = m->e[j];
			i = j;
		}
	}
	m->e[i].chunk = NULL;
}

static void
map_point(struct subset_map *m, struct rmq_subset *chunk)
{
	for (uint32_t i = 0; i < chunk->n; i++)
		map_set(m, chunk->e[i].owner, chunk);
}

static struct rmq_subset *
array_new(uint32_t n, uint32_t tag)
{
	struct rmq_subset *a = malloc(sizeof(*a) + n * sizeof(a->e[0]));
	if (a) {
		a->n = n;
		a->tag = tag;
	}
	return a;
}

static struct subset_dir *
dir_new(uint32_t nchunks)
{
	struct subset_dir *d = malloc(sizeof(*d) + nchunks * sizeof(d->c[0]));
	if (d) {
		d->tag = SUBSET_DIR;
		d->nchunks = nchunks;
	}
	return d;
}

static void
free_rcu(struct rcu_head *h)
{
	free(h); /* arrays and directories start with their rcu_head */
}

static void
dir_free_all_rcu(struct rcu_head *h)
{
	rmq_subset_free_now((struct rmq_subset *)h);
}

/* The copy of array a with entry `at` replaced by *sub, appended when at
 * is a->n, or dropped when sub is NULL. */
static struct rmq_subset *
array_edit(const struct rmq_subset *a, uint32_t at, const struct rmq_sub *sub,
    uint32_t tag)
{
	uint32_t n = a ? a->n : 0;
	uint32_t m = sub ? (at < n ? n : n + 1) : n - 1;
	struct rmq_subset *c = array_new(m, tag);
	if (c == NULL)
		return NULL;
	if (sub) {
		if (n)
			memcpy(c->e, a->e, n * sizeof(c->e[0]));
		c->e[at] = *sub;
	} else {
		memcpy(c->e, a->e, at * sizeof(c->e[0]));
		memcpy(c->e + at, a->e + at + 1,
		    (n - at - 1) * sizeof(c->e[0]));
	}
	return c;
}

static uint32_t
array_find(const struct rmq_subset *a, uint64_t owner)
{
	uint32_t n = a ? a->n : 0;
	for (uint32_t i = 0; i < n; i++)
		if (a->e[i].owner == owner)
			return i;
	return n;
}

size_t
rmq_subset_visit(struct rmq_subset *const *slot, rmq_index_visit_fn visit,
    void *ctx)
{
	const struct rmq_subset *s = rcu_dereference(*slot);
	if (s == NULL)
		return 0;
	if (s->tag != SUBSET_DIR) {
		visit(ctx, s->e, s->n, NULL);
		return s->n;
	}
	/* A published directory never changes: plain loads inside it. */
	const struct subset_dir *d = (const struct subset_dir *)s;
	for (uint32_t i = 0; i < d->nchunks; i++)
		visit(ctx, d->c[i]->e, d->c[i]->n, NULL);
	return d->n;
}

const struct rmq_sub *
rmq_subset_pick(struct rmq_subset *const *slot, uint32_t k)
{
	const struct rmq_subset *s = rcu_dereference(*slot);
	if (s == NULL || s->n == 0)
		return NULL;
	if (s->tag != SUBSET_DIR)
		return &s->e[k % s->n];
	/* A published directory never changes: plain loads inside it. */
	const struct subset_dir *d = (const struct subset_dir *)s;
	uint32_t i = k % d->n;
	for (uint32_t c = 0; c < d->nchunks; i -= d->c[c]->n, c++)
		if (i < d->c[c]->n)
			return &d->c[c]->e[i];
	return NULL; /* not reached: d->n is the sum of the chunks' n */
}

/* A small set grows past one chunk: it becomes chunk 0 of a directory,
 * with sub in chunk 1. */
static int
subset_to_dir(struct rmq_subset **slot, struct rmq_subset *a,
    const struct rmq_sub *sub)
{
	struct subset_dir *d = dir_new(2);
	struct rmq_subset *c = array_new(1, 1);
	struct subset_map *m = map_new(4 * SUBSET_CHUNK);
	if (d == NULL || c == NULL || m == NULL) {
		free(d);
		free(c);
		free(m);
		return -ENOMEM;
	}
	c->e[0] = *sub;
	d->c[0] = a; /* its tag is 0 already, as a chunk 0's must be */
	d->c[1] = c;
	d->n = a->n + 1;
	d->map = m;
	map_point(m, a);
	map_point(m, c);
	rcu_assign_pointer(*slot, (struct rmq_subset *)d);
	return 0;
}

/* Publish d in place of old, whose chunks d shares except `gone` ones. */
static void
dir_publish(struct rmq_subset **slot, struct subset_dir *old,
    struct subset_dir *d, struct rmq_subset *gone1, struct rmq_subset *gone2)
{
	d->map = old->map;
	for (uint32_t i = 0; i < d->nchunks; i++)
		if (d->c[i]->tag != i) /* unchanged ones are not written */
			d->c[i]->tag = i;
	rcu_assign_pointer(*slot, (struct rmq_subset *)d);
	call_rcu(&old->rcu, free_rcu);
	if (gone1)
		call_rcu(&gone1->rcu, free_rcu);
	if (gone2)
		call_rcu(&gone2->rcu, free_rcu);
}

static int
dir_put(struct rmq_subset **slot, struct subset_dir *old,
    const struct rmq_sub *sub, int *found)
{
	struct subset_slot *ms = map_find(old->map, sub->owner);
	*found = ms != NULL;
	struct rmq_subset *c, *nc;
	uint32_t k, nchunks = old->nchunks;
	if (ms) {
		c = ms->chunk;
		k = c->tag;
		nc = array_edit(c, array_find(c, sub->owner), sub, k);
	} else {
		if (map_reserve(&old->map) != 0)
			return -ENOMEM;
		c = old->c[nchunks - 1];
		if (c->n < SUBSET_CHUNK) {
			k = nchunks - 1;
			nc = array_edit(c, c->n, sub, k);
		} else {
			c = NULL;
			k = nchunks++;
			nc = array_new(1, k);
			if (nc)
				nc->e[0] = *sub;
		}
	}
	struct subset_dir *d = nc ? dir_new(nchunks) : NULL;
	if (d == NULL) {
		free(nc);
		return -ENOMEM;
	}
	memcpy(d->c, old->c, old->nchunks * sizeof(d->c[0]));
	d->c[k] = nc;
	d->n = old->n + !*found;
	map_point(old->map, nc);
	dir_publish(slot, old, d, c, NULL);
	return 0;
}

/* The whole set as one array again. */
static int
dir_to_array(struct rmq_subset **slot, struct subset_dir *old, uint64_t owner)
{
	struct rmq_subset *a = array_new(old->n - 1, 0);
	if (a == NULL)
		return -ENOMEM;
	uint32_t k = 0;
	for (uint32_t i = 0; i < old->nchunks; i++)
		for (uint32_t j = 0; j < old->c[i]->n; j++)
			if (old->c[i]->e[j].owner != owner)
				a->e[k++] = old->c[i]->e[j];
	free(old->map);
	old->map = NULL;
	rcu_assign_pointer(*slot, a);
	call_rcu(&old->rcu, dir_free_all_rcu);
	return 0;
}

static int
dir_del(struct rmq_subset **slot, struct subset_dir *old, uint64_t owner,
    int *found)
{
	struct subset_slot *ms = map_find(old->map, owner);
	*found = ms != NULL;
	if (ms == NULL)
		return 0;
	if (old->n - 1 <= SUBSET_CHUNK / 2)
		return dir_to_array(slot, old, owner);
	struct rmq_subset *c = ms->chunk, *nc = NULL, *nb = NULL;
	uint32_t k = c->tag, nchunks = old->nchunks;
	uint32_t left = c->n - 1;
	/* A thin chunk joins a neighbour when both fit in one. */
	uint32_t b = k + 1 < nchunks ? k + 1 : k - 1;
	int merge = nchunks > 1 && left > 0 && left < SUBSET_CHUNK / 4 &&
	    left + old->c[b]->n <= SUBSET_CHUNK;
	if (left > 0) {
		nc = array_edit(c, array_find(c, owner), NULL, k);
		if (nc == NULL)
			return -ENOMEM;
	}
	if (merge) {
		struct rmq_subset *o = old->c[b];
		struct rmq_subset *m = array_new(left + o->n, 0);
		if (m == NULL) {
			free(nc);
			return -ENOMEM;
		}
		memcpy(m->e, nc->e, left * sizeof(m->e[0]));
		memcpy(m->e + left, o->e, o->n * sizeof(m->e[0]));
		free(nc);
		nc = m;
		nb = o;
	}
	uint32_t drop = left == 0 ? k : merge ? b : UINT32_MAX;
	struct subset_dir *d = dir_new(nchunks - (drop != UINT32_MAX));
	if (d == NULL) {
		free(nc);
		return -ENOMEM;
	}
	uint32_t j = 0;
	for (uint32_t i = 0; i < nchunks; i++) {
		if (i == drop)
			continue;
		d->c[j++] = i == k ? nc : old->c[i];
	}
	d->n = old->n - 1;
	map_del(old->map, owner);
	if (nc)
		map_point(old->map, nc);
	dir_publish(slot, old, d, c, nb);
	return 0;
}

int
rmq_subset_put(struct rmq_subset **slot, const struct rmq_sub *sub, int *found)
{
	struct rmq_subset *s = *slot;
	if (s && s->tag == SUBSET_DIR)
		return dir_put(slot, (struct subset_dir *)s, sub, found);
	uint32_t at = array_find(s, sub->owner);
	*found = s && at < s->n;
	if (!*found && s && s->n >= SUBSET_CHUNK)
		return subset_to_dir(slot, s, sub);
	struct rmq_subset *a = array_edit(s, at, sub, 0);
	if (a == NULL)
		return -ENOMEM;
	rcu_assign_pointer(*slot, a);
	if (s)
		call_rcu(&s->rcu, free_rcu);
	return 0;
}

int
rmq_subset_del(struct rmq_subset **slot, uint64_t owner, int *found)
{
	struct rmq_subset *s = *slot;
	*found = 0;
	if (s == NULL)
		return 0;
	if (s->tag == SUBSET_DIR)
		return dir_del(slot, (struct subset_dir *)s, owner, found);
	uint32_t at = array_find(s, owner);
	if (at == s->n)
		return 0;
	*found = 1;
	struct rmq_subset *a = NULL;
	if (s->n > 1 && (a = array_edit(s, at, NULL, 0)) == NULL)
		return -ENOMEM;
	rcu_assign_pointer(*slot, a);
	call_rcu(&s->rcu, free_rcu);
	return 0;
}

void
rmq_subset_free_now(struct rmq_subset *s)
{
	if (s && s->tag == SUBSET_DIR) {
		struct subset_dir *d = (struct subset_dir *)s;
		for (uint32_t i = 0; i < d->nchunks; i++)
			free(d->c[i]);
		free(d->map);
	}
	free(s);
}
