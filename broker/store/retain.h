/* broker/store/retain.h: the retained messages of the node.
 *
 * One message per topic name, replaced by a newer retained PUBLISH and
 * deleted by one with an empty payload [MQTT-3.3.1-6], [MQTT-3.3.1-7].
 * Touched only by retained PUBLISHes and by SUBSCRIBE, behind a mutex;
 * a subscription with a wildcard walks every retained message, which is
 * the cost to lift when a node holds very many.
 */
#ifndef RMQ_RETAIN_H
#define RMQ_RETAIN_H

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

/* The stored messages' sizes, summed. */
uint64_t rmq_retain_bytes(struct rmq_retain *r);

#endif
