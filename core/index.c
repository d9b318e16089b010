/* core/index.c: the subscription index, a trie of topic levels under RCU.
 *
 * Design: filters without wildcards, most of them in practice, live in a
 * lock-free hash table (liburcu's cds_lfht) keyed by the whole filter, so
 * their subscribers cost one probe whatever the depth of the topic.  The
 * filters with '+' or '#' live in a trie whose literal edges sit in a
 * second hash table keyed by (parent node, level); a node costs no table of
 * its own, its '+' and '#' children are plain pointers, and a node without
 * literal children is not probed at all.  A lookup is one probe for the
 * exact filters plus a walk of the trie along the topic, which stops as
 * soon as no wildcard filter shares the prefix.  A node's subscribers are a
 * subset (subset.h): a copy-on-write array, or chunks of one when a filter
 * has many subscribers, published with rcu_assign_pointer; readers walk it
 * without locks; writers, serialized by one mutex, replace what changed and
 * free the old copy after a grace period.  Empty nodes are pruned upwards.
 *
 * Locking: `lock` serializes writers only.  Readers rely on RCU: a node,
 * array or group stays allocated until every reader has passed a
 * quiescent state after it was unlinked.
 */
#define _LGPL_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <urcu-qsbr.h>
#include <urcu/rculfhash.h>

#include "index.h"
#include "subset.h"
#include "topic.h"

struct index_group {
	struct rcu_head rcu;
	struct rmq_subset *members; /* RCU-published (subset.h) */
	/* Members flagged RMQ_SUB_REMOTE (other nodes of a cluster), apart:
	 * they take turns only when no local member is there. */
	struct rmq_subset *remote;
	/* Whose turn it is: every reader that routes to the group takes the
	 * member at `next` (`rnext` among the remote ones) and moves it on,
	 * so the members take turns whatever other groups or topics the
	 * same loop routes to. */
	atomic_uint next, rnext;
	uint32_t name_len; /* the group's name, at filter + SHARE_PREFIX */
	uint32_t filter_len;
	char filter[]; /* the whole $share/{group}/{filter} */
};

#define SHARE_PREFIX 7 /* "$share/" */

struct index_groups {
	struct rcu_head rcu;
	uint32_t n;
	struct index_group *g[];
};

struct index_node {
	struct cds_lfht_node edge;
	struct rcu_head rcu;
	struct index_node *parent; /* NULL: an exact filter's node */
	struct rmq_subset *subs; /* RCU-published */
	struct index_groups *groups; /* RCU-published */
	struct index_node *plus, *hash; /* RCU-published children */
	uint32_t nchildren; /* writers only */
	uint32_t nliteral; /* literal children; read with CMM_LOAD_SHARED */
	uint32_t level_len;
	char level[]; /* the level, or the whole filter for an exact node */
};

struct rmq_index {
	pthread_mutex_t lock;
	struct cds_lfht *edges; /* the trie's edges */
	struct cds_lfht *exact; /* filters without wildcards */
	struct index_node *root;
	_Atomic size_t count; /* written under lock, read by anyone */
	size_t nodes;
};

struct index_key {
	const struct index_node *parent;
	const char *level;
	size_t len;
};

static unsigned long
index_hash(const struct index_node *parent, const char *s, size_t n)
{
	uint64_t h = (uint64_t)(uintptr_t)parent * 0x9E3779B97F4A7C15ull;
	for (size_t i = 0; i < n; i++)
		h = (h ^ (unsigned char)s[i]) * 0x100000001B3ull;
	h ^= h >> 32;
	h *= 0xD6E8FEB86659FD93ull;
	h ^= h >> 32;
	return (unsigned long)h;
}

static int
index_key_match(struct cds_lfht_node *ln, const void *key)
{
	const struct index_key *k = key;
	const struct index_node *n =
	    caa_container_of(ln, struct index_node, edge);
	return n->parent == k->parent && n->level_len == k->len &&
	    memcmp(n->level, k->level, k->len) == 0;
}

static struct index_node *
index_probe(struct cds_lfht *t, const struct index_node *parent, const char *s,
    size_t n)
{
	struct index_key k = { parent, s, n };
	struct cds_lfht_iter it;
	cds_lfht_lookup(t, index_hash(parent, s, n), index_key_match, &k, &it);
	struct cds_lfht_node *ln = cds_lfht_iter_get_node(&it);
	return ln ? caa_container_of(ln, struct index_node, edge) : NULL;
}

/* The child of a trie node for one filter level. */
static struct index_node *
index_child(const struct rmq_index *ix, const struct index_node *parent,
    const char *s, size_t n)
{
	if (n == 1 && s[0] == '+')
		return rcu_dereference(parent->plus);
	if (n == 1 && s[0] == '#')
		return rcu_dereference(parent->hash);
	if (CMM_LOAD_SHARED(parent->nliteral) == 0)
		return NULL;
	return index_probe(ix->edges, parent, s, n);
}

static int
index_has_wildcard(const char *f, size_t len)
{
	return memchr(f, '+', len) != NULL || memchr(f, '#', len) != NULL;
}

static void
index_free_rcu(struct rcu_head *h)
{
	/* Every RCU-freed object here starts with its rcu_head but for the
	 * node, which index_free_node_rcu handles. */
	free(h);
}

static void
index_free_node_rcu(struct rcu_head *h)
{
	free(caa_container_of(h, struct index_node, rcu));
}

static void
index_free_group_rcu(struct rcu_head *h)
{
	struct index_group *g = caa_container_of(h, struct index_group, rcu);
	rmq_subset_free_now(g->members);
	rmq_subset_free_now(g->remote);
	free(g);
}

int
rmq_index_new(struct rmq_index **out)
{
	struct rmq_index *ix = calloc(1, sizeof(*ix));
	if (ix == NULL)
		return -ENOMEM;
	ix->root = calloc(1, sizeof(*ix->root));
	ix->edges = cds_lfht_new(1024, 1024, 0,
	    CDS_LFHT_AUTO_RESIZE | CDS_LFHT_ACCOUNTING, NULL);
	ix->exact = cds_lfht_new(1024, 1024, 0,
	    CDS_LFHT_AUTO_RESIZE | CDS_LFHT_ACCOUNTING, NULL);
	if (ix->root == NULL || ix->edges == NULL || ix->exact == NULL) {
		if (ix->edges)
			cds_lfht_destroy(ix->edges, NULL);
		if (ix->exact)
			cds_lfht_destroy(ix->exact, NULL);
		free(ix->root);
		free(ix);
		return -ENOMEM;
	}
	pthread_mutex_init(&ix->lock, NULL);
	ix->nodes = 1;
	*out = ix;
	return 0;
}

static void
index_node_free_now(struct index_node *n)
{
	struct index_groups *gs = n->groups;
	if (gs) {
		for (uint32_t i = 0; i < gs->n; i++) {
			rmq_subset_free_now(gs->g[i]->members);
			rmq_subset_free_now(gs->g[i]->remote);
			free(gs->g[i]);
		}
		free(gs);
	}
	rmq_subset_free_now(n->subs);
	free(n);
}

/* Free every node of one table; the caller is an online reader. */
static void
index_free_table(struct cds_lfht *t)
{
	struct cds_lfht_iter it;
	struct cds_lfht_node *ln;
	cds_lfht_for_each(t, &it, ln)
	{
		cds_lfht_del(t, ln);
		index_node_free_now(
		    caa_container_of(ln, struct index_node, edge));
	}
}

void
rmq_index_free(struct rmq_index *ix)
{
	if (ix == NULL)
		return;
	/* A QSBR reader that is online holds back every grace period, and
	 * rcu_barrier(), like the tables' pending resize work, waits for
	 * one: offline for those waits, online (as a reader must be, while
	 * a resize may still free bucket arrays) for the walk. */
	int online = rcu_read_ongoing();
	if (online)
		rcu_thread_offline();
	/* Frees already queued must run before the nodes go. */
	rcu_barrier();
	rcu_thread_online();
	index_free_table(ix->edges);
	index_free_table(ix->exact);
	rcu_thread_offline();
	cds_lfht_destroy(ix->edges, NULL);
	cds_lfht_destroy(ix->exact, NULL);
	index_node_free_now(ix->root);
	pthread_mutex_destroy(&ix->lock);
	free(ix);
	if (online)
		rcu_thread_online();
}

/* Split off the next level of s[*pos..len); returns its length and moves
 * *pos past the separator.  *pos == len + 1 marks the end. */
static size_t
index_next_level(const char *s, size_t len, size_t *pos)
{
	const char *start = s + *pos;
	const char *slash = memchr(start, '/', len - *pos);
	size_t n = slash ? (size_t)(slash - start) : len - *pos;
	*pos += n + 1;
	return n;
}

/* ---- writers (ix->lock held) ---- */

static struct index_node *
index_node_new(struct index_node *parent, const char *lv, size_t n)
{
	struct index_node *node = calloc(1, sizeof(*node) + n);
	if (node == NULL)
		return NULL;
	node->parent = parent;
	node->level_len = (uint32_t)n;
	memcpy(node->level, lv, n);
	cds_lfht_node_init(&node->edge);
	return node;
}

/* The node of filter f (found, or made when create is set). */
static struct index_node *
index_node_get(struct rmq_index *ix, const char *f, size_t len, int create)
{
	if (!index_has_wildcard(f, len)) {
		struct index_node *node = index_probe(ix->exact, NULL, f, len);
		if (node || !create)
			return node;
		if ((node = index_node_new(NULL, f, len)) == NULL)
			return NULL;
		cds_lfht_add(ix->exact, index_hash(NULL, f, len), &node->edge);
		ix->nodes++;
		return node;
	}
	struct index_node *node = ix->root;
	size_t pos = 0;
	while (pos <= len) {
		const char *lv = f + pos;
		size_t n = index_next_level(f, len, &pos);
		struct index_node *child = index_child(ix, node, lv, n);
		if (child == NULL) {
			if (!create)
				return NULL;
			if ((child = index_node_new(node, lv, n)) == NULL)
				return NULL;
			/* Every trie node is in the edge table, so that the
			 * teardown finds it; wildcard children are also
			 * published as pointers, which is how they are
			 * read. */
			cds_lfht_add(ix->edges, index_hash(node, lv, n),
			    &child->edge);
			node->nchildren++;
			ix->nodes++;
			if (n == 1 && lv[0] == '+')
				rcu_assign_pointer(node->plus, child);
			else if (n == 1 && lv[0] == '#')
				rcu_assign_pointer(node->hash, child);
			else /* after the edge exists */
				CMM_STORE_SHARED(node->nliteral,
				    node->nliteral + 1);
		}
		node = child;
	}
	return node;
}

static struct index_group *
index_group_find(const struct index_groups *gs, const struct rmq_str *name,
    uint32_t *at)
{
	for (uint32_t i = 0; gs && i < gs->n; i++) {
		struct index_group *g = gs->g[i];
		if (g->name_len == name->len &&
		    memcmp(g->filter + SHARE_PREFIX, name->p, name->len) == 0) {
			*at = i;
			return g;
		}
	}
	return NULL;
}

/* Publish a copy of node->groups with g added (add) or g[at] dropped. */
static int
index_groups_edit(struct index_node *node, struct index_group *g, uint32_t at,
    int add)
{
	struct index_groups *old = node->groups, *gs = NULL;
	uint32_t n = old ? old->n : 0, m = add ? n + 1 : n - 1;
	if (m > 0) {
		gs = malloc(sizeof(*gs) + m * sizeof(gs->g[0]));
		if (gs == NULL)
			return -ENOMEM;
		gs->n = m;
		uint32_t k = 0;
		for (uint32_t i = 0; i < n; i++)
			if (add || i != at)
				gs->g[k++] = old->g[i];
		if (add)
			gs->g[k] = g;
	}
	rcu_assign_pointer(node->groups, gs);
	if (old)
		call_rcu(&old->rcu, index_free_rcu);
	return 0;
}

/* Unlink empty nodes from `node` up to the root. */
static void
index_prune(struct rmq_index *ix, struct index_node *node)
{
	if (node->parent == NULL && node != ix->root) {
		/* An exact filter's node. */
		if (node->subs == NULL && node->groups == NULL) {
			cds_lfht_del(ix->exact, &node->edge);
			ix->nodes--;
			call_rcu(&node->rcu, index_free_node_rcu);
		}
		return;
	}
	while (node != ix->root && node->subs == NULL && node->groups == NULL &&
	    node->nchildren == 0) {
		struct index_node *parent = node->parent;
		if (node->level_len == 1 && node->level[0] == '+')
			rcu_assign_pointer(parent->plus, NULL);
		else if (node->level_len == 1 && node->level[0] == '#')
			rcu_assign_pointer(parent->hash, NULL);
		else
			CMM_STORE_SHARED(parent->nliteral,
			    parent->nliteral - 1);
		cds_lfht_del(ix->edges, &node->edge);
		parent->nchildren--;
		ix->nodes--;
		call_rcu(&node->rcu, index_free_node_rcu);
		node = parent;
	}
}

/* The filter to walk, and for $share/{group}/{filter} the group: returns
 * whether it is a shared subscription. */
static int
index_split(const char *filter, size_t len, struct rmq_str *group,
    struct rmq_str *walk)
{
	if (rmq_topic_share_parse(filter, len, group, walk) == 1)
		return 1;
	walk->p = filter;
	walk->len = (uint32_t)len;
	return 0;
}

int
rmq_index_add(struct rmq_index *ix, const char *filter, size_t len,
    const struct rmq_sub *sub)
{
	struct rmq_str group, f;
	int shared = index_split(filter, len, &group, &f);
	int found = 0, rc = -ENOMEM;

	pthread_mutex_lock(&ix->lock);
	rcu_read_lock();
	struct index_node *node = index_node_get(ix, f.p, f.len, 1);
	if (node == NULL)
		goto out;
	if (!shared) {
		rc = rmq_subset_put(&node->subs, sub, &found);
	} else {
		uint32_t at;
		struct index_group *g =
		    index_group_find(node->groups, &group, &at);
		int remote = (sub->flags & RMQ_SUB_REMOTE) != 0;
		if (g == NULL) {
			g = calloc(1, sizeof(*g) + len);
			if (g == NULL)
				goto out;
			g->name_len = group.len;
			g->filter_len = (uint32_t)len;
			memcpy(g->filter, filter, len);
			rc = rmq_subset_put(remote ? &g->remote : &g->members,
			    sub, &found);
			if (rc == 0)
				rc = index_groups_edit(node, g, 0, 1);
			if (rc != 0) {
				rmq_subset_free_now(g->members);
				rmq_subset_free_now(g->remote);
				free(g);
			}
		} else {
			rc = rmq_subset_put(remote ? &g->remote : &g->members,
			    sub, &found);
		}
	}
	if (rc == 0 && !found)
		atomic_fetch_add_explicit(&ix->count, 1, memory_order_relaxed);
out:
	if (rc != 0 && node)
		index_prune(ix, node);
	rcu_read_unlock();
	pthread_mutex_unlock(&ix->lock);
	return rc != 0 ? rc : found;
}

int
rmq_index_remove(struct rmq_index *ix, const char *filter, size_t len,
    uint64_t owner)
{
	struct rmq_str group, f;
	int shared = index_split(filter, len, &group, &f);
	int found = 0, rc = -ENOENT;

	pthread_mutex_lock(&ix->lock);
	rcu_read_lock();
	struct index_node *node = index_node_get(ix, f.p, f.len, 0);
	if (node == NULL)
		goto out;
	if (!shared) {
		rc = rmq_subset_del(&node->subs, owner, &found);
	} else {
		uint32_t at;
		struct index_group *g =
		    index_group_find(node->groups, &group, &at);
		if (g == NULL)
			goto out;
		rc = rmq_subset_del(&g->members, owner, &found);
		if (rc == 0 && !found)
			rc = rmq_subset_del(&g->remote, owner, &found);
		if (rc == 0 && found && g->members == NULL &&
		    g->remote == NULL) {
			rc = index_groups_edit(node, g, at, 0);
			if (rc == 0)
				call_rcu(&g->rcu, index_free_group_rcu);
		}
	}
	if (rc == 0 && !found)
		rc = -ENOENT;
	if (rc == 0) {
		atomic_fetch_sub_explicit(&ix->count, 1, memory_order_relaxed);
		index_prune(ix, node);
	}
out:
	rcu_read_unlock();
	pthread_mutex_unlock(&ix->lock);
	return rc;
}

/* ---- readers ---- */

struct index_walk {
	struct rmq_index *ix;
	const char *topic;
	size_t len;
	rmq_index_visit_fn visit;
	void *ctx;
	size_t visited;
	int groups; /* RMQ_INDEX_GROUPS_* */
	rmq_index_group_fn want; /* NULL: every group */
};

static void
index_visit_node(struct index_walk *w, const struct index_node *node)
{
	w->visited += rmq_subset_visit(&node->subs, w->visit, w->ctx);
	const struct index_groups *gs = rcu_dereference(node->groups);
	for (uint32_t i = 0; gs && i < gs->n; i++) {
		struct index_group *g = gs->g[i];
		struct rmq_str name = { g->filter, g->filter_len };
		if (w->want != NULL && !w->want(w->ctx, &name))
			continue;
		/* One member per message: MQTT 5.0 4.8.2 distributes a
		 * shared subscription's messages across its sessions; the
		 * local ones first, other nodes' when none is here. */
		const struct rmq_sub *m = NULL;
		if (rcu_dereference(g->members) != NULL) {
			unsigned k = atomic_fetch_add_explicit(&g->next, 1,
			    memory_order_relaxed);
			m = rmq_subset_pick(&g->members, k);
		}
		if (m == NULL && w->groups == RMQ_INDEX_GROUPS_LOCAL_FIRST &&
		    rcu_dereference(g->remote) != NULL) {
			unsigned k = atomic_fetch_add_explicit(&g->rnext, 1,
			    memory_order_relaxed);
			m = rmq_subset_pick(&g->remote, k);
		}
		if (m) {
			w->visit(w->ctx, m, 1, &name);
			w->visited++;
		}
	}
}

/* Match the levels of the topic from `pos` against the wildcard trie's
 * subtree at node. */
static void
index_walk(struct index_walk *w, const struct index_node *node, size_t pos)
{
	for (;;) {
		const struct index_node *h = rcu_dereference(node->hash);
		if (pos > w->len) {
			/* All levels matched: this node, and its '#' child
			 * ("sport/#" matches "sport", [MQTT-4.7.1-2]). */
			index_visit_node(w, node);
			if (h)
				index_visit_node(w, h);
			return;
		}
		/* [MQTT-4.7.2-1]: no leading wildcard for '$' topics. */
		int wild = !(pos == 0 && w->topic[0] == '$');
		size_t next = pos;
		const char *lv = w->topic + pos;
		size_t n = index_next_level(w->topic, w->len, &next);
		if (wild && h)
			index_visit_node(w, h);
		const struct index_node *p = rcu_dereference(node->plus);
		if (wild && p)
			index_walk(w, p, next);
		if (CMM_LOAD_SHARED(node->nliteral) == 0)
			return;
		node = index_probe(w->ix->edges, node, lv, n);
		if (node == NULL)
			return;
		pos = next;
	}
}

size_t
rmq_index_match(struct rmq_index *ix, const char *topic, size_t len,
    rmq_index_visit_fn visit, void *ctx)
{
	return rmq_index_match_groups(ix, topic, len, visit, ctx,
	    RMQ_INDEX_GROUPS_LOCAL_FIRST, NULL);
}

size_t
rmq_index_match_groups(struct rmq_index *ix, const char *topic, size_t len,
    rmq_index_visit_fn visit, void *ctx, int groups, rmq_index_group_fn want)
{
	struct index_walk w = { ix, topic, len, visit, ctx, 0, groups, want };
	rcu_read_lock();
	/* A topic name has no wildcards: it is the key of the exact
	 * filters that match it. */
	const struct index_node *e = index_probe(ix->exact, NULL, topic, len);
	if (e)
		index_visit_node(&w, e);
	index_walk(&w, ix->root, 0);
	rcu_read_unlock();
	return w.visited;
}

size_t
rmq_index_count(struct rmq_index *ix)
{
	return atomic_load_explicit(&ix->count, memory_order_relaxed);
}

size_t
rmq_index_nodes(const struct rmq_index *ix)
{
	return ix->nodes;
}
