/* broker/store/retain.h: the retained messages of the node.
 *
 * One message per topic name, replaced by a newer retained PUBLISH and
 * deleted by one with an empty payload [MQTT-3.3.1-6], [MQTT-3.3.1-7].
 * Touched only by retained PUBLISHes and by SUBSCRIBE, behind a mutex;
 * a subscription with a wildcard walks every retained message, which is
 * the cost to lift when a node holds very many.
 *
 * With persistence on, the store marks each topic that changes (put,
 * cleared, expired) for the data directory's writer (persist.h), which
 * takes the marked topics with their messages as they are then: a topic
 * changed many times between two commits is written once, and the disk
 * ends in the order the store did, whichever worker made the changes.
 */
#ifndef RMQ_RETAIN_H
#define RMQ_RETAIN_H

#include <stdatomic.h>
#include <stddef.h>

#include "msg.h"

struct rmq_retain;

int rmq_retain_new(struct rmq_retain **out);

void rmq_retain_free(struct rmq_retain *r);

/* Store m (taking a reference) as the retained message of its topic, or
 * delete the topic's retained message when m's payload is empty.  Past
 * the bounds (0: none) m is not stored and -ENOSPC returned: a new topic
 * when max_count are stored, a message that takes the sum of the stored
 * messages' sizes over max_bytes (a smaller one replacing a larger is
 * always taken).  Returns 0, -ENOSPC or -ENOMEM. */
int rmq_retain_put(struct rmq_retain *r, struct rmq_msg *m, size_t max_count,
    uint64_t max_bytes);

/* Call fn for every retained message whose topic matches `filter` (a
 * valid filter without a $share prefix), holding a reference for the call;
 * expired messages are dropped on the way.  Returns how many matched. */
size_t rmq_retain_match(struct rmq_retain *r, const char *filter, size_t len,
    uint64_t now_ms, void (*fn)(void *ctx, struct rmq_msg *m), void *ctx);

size_t rmq_retain_count(struct rmq_retain *r);

/* Mark changes from now on, each tagged with *gen as read under the
 * store's lock: a change tagged G is in the changes a writer takes after
 * it moved *gen past G (persist.h).  Before the workers start. */
void rmq_retain_track(struct rmq_retain *r, _Atomic uint64_t *gen);

/* As rmq_retain_put; *gen (when tracked, else 0) is the generation of
 * the change, 0 when nothing changed. */
int rmq_retain_put_gen(struct rmq_retain *r, struct rmq_msg *m,
    size_t max_count, uint64_t max_bytes, uint64_t *gen);

/* As rmq_retain_put_gen, for a change another node made: applied only
 * when m->stamp is above the stamp of the message the topic holds (a
 * delete too, by an empty payload).  Returns 0 (applied), 1 (not newer:
 * nothing changed), -ENOSPC or -ENOMEM. */
int rmq_retain_put_newer(struct rmq_retain *r, struct rmq_msg *m,
    size_t max_count, uint64_t max_bytes, uint64_t *gen);

/* A marked topic and its message when taken (held; NULL: none). */
struct rmq_retain_change {
	char *topic;
	uint32_t len;
	struct rmq_msg *m;
};

/* Take the topics marked so far, and clear the marks.  Returns how many
 * with the array in *out (rmq_retain_changes_free), or -ENOMEM (the
 * marks stay). */
long rmq_retain_take(struct rmq_retain *r, struct rmq_retain_change **out);

/* Mark the topics of changes again (a commit that failed: the next one
 * writes them), then free them. */
void
rmq_retain_remark(struct rmq_retain *r, struct rmq_retain_change *c, long n);

void rmq_retain_changes_free(struct rmq_retain_change *c, long n);

/* The stored messages' sizes, summed. */
uint64_t rmq_retain_bytes(struct rmq_retain *r);

#endif
