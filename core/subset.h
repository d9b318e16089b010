/* core/subset.h: the subscribers of one filter, read under RCU.
 *
 * Most filters have a handful of subscribers: for them the set is one
 * copy-on-write array, replaced whole on every change and freed after a
 * grace period.  A filter that many clients share (a broadcast topic with
 * 100,000 subscribers) would copy megabytes on every subscribe that way, so
 * past SUBSET_CHUNK entries the set becomes a directory of fixed-size
 * chunks: a change copies one chunk and the directory's pointers, and a
 * writer-only map from owner to chunk finds the entry without a scan.
 * Every change publishes one new top-level pointer, so a reader sees the
 * set before or after it, never a mix (a reader walking a directory never
 * misses an entry that another subscriber's change moved).
 *
 * Writers are serialized by the caller (the index's lock); readers are
 * online RCU readers.  The visit order is unspecified and a set's entries
 * may come in several calls (one per chunk).  A shared group's members are
 * a set too: a reader takes one of them by position (rmq_subset_pick),
 * walking the directory's chunk counts, not its entries.
 */
#ifndef RMQ_SUBSET_H
#define RMQ_SUBSET_H

#include <stddef.h>
#include <stdint.h>
#include <urcu-qsbr.h>

#include "index.h"

#define SUBSET_CHUNK 128u

/* An array of entries: a whole small set, or one chunk of a directory. */
struct rmq_subset {
	struct rcu_head rcu;
	uint32_t n;
	uint32_t tag; /* SUBSET_DIR for a directory; else the writer's */
	struct rmq_sub e[];
};

#define SUBSET_DIR UINT32_MAX

/* Visit every entry of the set at *slot: calls visit(ctx, e, n, NULL)
 * once per array.  Returns the number of entries.  Online RCU reader. */
size_t rmq_subset_visit(struct rmq_subset *const *slot,
    rmq_index_visit_fn visit, void *ctx);

/* The entry at position k modulo the set's size (in visit order), or
 * NULL when the set is empty: the same k gives the same entry until the
 * set changes.  Online RCU reader; the entry lives as the set does. */
const struct rmq_sub *
rmq_subset_pick(struct rmq_subset *const *slot, uint32_t k);

/* Add sub, or replace the entry of the same owner (*found = 1 then).
 * Returns 0 or -ENOMEM; the set is unchanged on error.  Writer. */
int
rmq_subset_put(struct rmq_subset **slot, const struct rmq_sub *sub, int *found);

/* Remove owner's entry (*found = 0 when it had none).  *slot becomes NULL
 * when the set is empty.  Returns 0 or -ENOMEM.  Writer. */
int rmq_subset_del(struct rmq_subset **slot, uint64_t owner, int *found);

/* Free a set at once: no reader may see it any more. */
void rmq_subset_free_now(struct rmq_subset *s);

#endif
