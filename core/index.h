/* core/index.h: the subscription index.
 *
 * A trie of topic levels that every worker loop reads at once without
 * locks, while subscription changes, which are rare next to lookups, take a
 * writer lock.  Readers run under liburcu's QSBR flavour: the calling
 * thread must be registered (rcu_register_thread) and online, which the
 * broker's loops are.  Replaced arrays and removed nodes are freed after a
 * grace period (call_rcu).
 *
 * Entries are opaque to the index: an owner (a local session, or a remote
 * node in a cluster) and its subscription options.  Lookup cost grows with
 * the depth of the topic and the wildcards that match, not with the number
 * of subscriptions.
 */
#ifndef RMQ_INDEX_H
#define RMQ_INDEX_H

#include <stddef.h>
#include <stdint.h>

#include "props.h"

/* Subscription option flags. */
#define RMQ_SUB_NO_LOCAL 0x01
#define RMQ_SUB_RETAIN_AS_PUBLISHED 0x02
#define RMQ_SUB_KEPT                                                           \
	0x40 /* owner is a persistent session whose queue
			   * the data directory keeps */
#define RMQ_SUB_REMOTE 0x80 /* owner is a cluster node, not a session */

/* One subscription, as stored. */
struct rmq_sub {
	uint64_t owner; /* who receives: the broker's session key or node */
	uint32_t subid; /* 5.0 Subscription Identifier, 0 for none */
	uint8_t qos; /* maximum QoS granted */
	uint8_t flags; /* RMQ_SUB_* */
	uint8_t version; /* the owner's protocol level */
	uint8_t retain_handling;
};

struct rmq_index;

/* A matching node's subscribers, or the one member of a shared-subscription
 * group whose turn it is (group: the whole $share/{group}/{filter}): the
 * group's members take turns, one per match, whichever thread matches;
 * members flagged RMQ_SUB_REMOTE only when the group has no other.  The
 * array is valid until the caller's next quiescent state. */
typedef void (*rmq_index_visit_fn)(void *ctx, const struct rmq_sub *subs,
    uint32_t n, const struct rmq_str *group);

/* New empty index.  Returns 0 or -ENOMEM. */
int rmq_index_new(struct rmq_index **out);

/* Free the index and everything in it, after waiting for pending RCU
 * frees.  No other reader may use it any more.  The caller must be a
 * registered RCU thread, online or offline: the teardown walks the tables
 * as a reader and waits for grace periods offline, and leaves the thread
 * as it found it. */
void rmq_index_free(struct rmq_index *ix);

/* Subscribe sub->owner to `filter` (a valid filter, possibly
 * $share/{group}/{filter}).  An existing subscription of the same owner to
 * the same filter is replaced, as [MQTT-3.8.4-3] asks.  Returns 1 when it
 * replaced one, 0 when it is new, -ENOMEM.  Any registered thread; writers
 * are serialized inside. */
int rmq_index_add(struct rmq_index *ix, const char *filter, size_t len,
    const struct rmq_sub *sub);

/* Remove owner's subscription to `filter`.  Returns 0, or -ENOENT if it
 * had none. */
int rmq_index_remove(struct rmq_index *ix, const char *filter, size_t len,
    uint64_t owner);

/* Call visit for every node whose filter matches `topic` (a valid topic
 * name), and for one member of every shared group among them, following
 * [MQTT-4.7.2-1]:
 * a topic starting with '$' matches no filter that starts with a wildcard.
 * Returns the number of subscriptions visited.  Caller: a registered,
 * online RCU reader; no lock taken. */
size_t rmq_index_match(struct rmq_index *ix, const char *topic, size_t len,
    rmq_index_visit_fn visit, void *ctx);

/* How rmq_index_match_groups picks a shared group's member. */
enum {
	/* Members not flagged RMQ_SUB_REMOTE take turns; when there is
	 * none, the remote ones do (rmq_index_match's way). */
	RMQ_INDEX_GROUPS_LOCAL_FIRST,
	/* Only members not flagged RMQ_SUB_REMOTE; a group without any is
	 * not visited. */
	RMQ_INDEX_GROUPS_LOCAL_ONLY,
};

/* Whether a shared group (its whole filter) takes part in this match; a
 * group that does not is skipped without using a turn. */
typedef int (*rmq_index_group_fn)(void *ctx, const struct rmq_str *group);

size_t
rmq_index_match_groups(struct rmq_index *ix, const char *topic, size_t len,
    rmq_index_visit_fn visit, void *ctx, int groups, rmq_index_group_fn want);

/* Subscriptions in the index (shared group members included).  Any
 * thread. */
size_t rmq_index_count(struct rmq_index *ix);

/* Trie nodes in the index, the root included: for tests and metrics. */
size_t rmq_index_nodes(const struct rmq_index *ix);

#endif
