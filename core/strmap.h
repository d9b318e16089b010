/* core/strmap.h: a map from byte strings to pointers.
 *
 * Open addressing with linear probing and tombstones, growing at 3/4 load,
 * with a hash seeded per map.
 * It copies keys and never touches values.  Not thread-safe: the broker
 * puts it behind the mutex of whatever owns it (client identifiers,
 * retained messages).
 */
#ifndef RMQ_STRMAP_H
#define RMQ_STRMAP_H

#include <stddef.h>
#include <stdint.h>

struct rmq_strmap_entry { /* 24 bytes: the map holds a client id each */
	char *key; /* NULL: empty; RMQ_STRMAP_TOMB: deleted */
	void *val;
	uint32_t hash;
	uint32_t len;
};

struct rmq_strmap {
	struct rmq_strmap_entry *t;
	size_t cap; /* a power of two */
	size_t used; /* live entries and tombstones */
	size_t live;
	/* Mixed into every hash, different for each map: a map filled by
	 * walking another (in the other's slot order) would otherwise fill
	 * runs of neighbouring slots, and linear probing turns quadratic
	 * (measured: a 333,333-route snapshot installed from one map into
	 * another spent half its time probing). */
	uint64_t seed;
};

/* Empty map.  Returns 0 or -ENOMEM. */
int rmq_strmap_init(struct rmq_strmap *m);

/* Free the map and its keys; values are the caller's. */
void rmq_strmap_fini(struct rmq_strmap *m);

/* The value stored for key, or NULL. */
void *rmq_strmap_get(const struct rmq_strmap *m, const char *key, size_t len);

/* Store val for key, copying the key.  The value it replaces, if any, goes
 * to *old (NULL otherwise).  Returns 0 or -ENOMEM (nothing changed). */
int rmq_strmap_put(struct rmq_strmap *m, const char *key, size_t len, void *val,
    void **old);

/* Remove key; returns its value, or NULL if it was not there. */
void *rmq_strmap_del(struct rmq_strmap *m, const char *key, size_t len);

/* Walk the entries: *i starts at 0; returns the next live entry or NULL.
 * Entries may be removed with rmq_strmap_del_at() during the walk. */
struct rmq_strmap_entry *rmq_strmap_next(struct rmq_strmap *m, size_t *i);

/* Remove an entry found by rmq_strmap_next(). */
void rmq_strmap_del_at(struct rmq_strmap *m, struct rmq_strmap_entry *e);

#endif
