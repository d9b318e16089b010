/* broker/store/record.h: the stored form of a message, as the data
 * directory keeps it (a retained message today; queued ones later).
 *
 * A fixed 24-byte head (the record's version, QoS, retain and expiry
 * flags, the wall-clock time the Message Expiry Interval ends, the three
 * lengths), then the topic, the 5.0 properties every copy carries and
 * the payload.  Expiry is kept in wall-clock time so that the time the
 * broker was down counts against it.  Reading one back checks all of it
 * as the decoder checks a PUBLISH: stored bytes are input like any other.
 */
#ifndef RMQ_RECORD_H
#define RMQ_RECORD_H

#include <stddef.h>
#include <stdint.h>

#include "msg.h"

#define RMQ_RECORD_HEAD 24

/* Bytes the record of m takes. */
size_t rmq_record_msg_size(const struct rmq_msg *m);

/* Write m's record into buf (rmq_record_msg_size() bytes).  wall_minus_mono
 * is the wall clock's milliseconds minus the monotonic clock's, to turn
 * m's expiry deadline into a wall-clock time. */
void rmq_record_msg_encode(const struct rmq_msg *m, int64_t wall_minus_mono,
    uint8_t *buf);

/* Build a message from a record read at now_mono (the monotonic clock's
 * ms) and now_wall (the wall clock's).  Returns 0 with *out (one
 * reference; its origin 0: no session published it), -ETIME when it has
 * expired meanwhile, -ENOMEM, or -EINVAL with what is wrong in why. */
int rmq_record_msg_decode(const uint8_t *p, size_t len, uint64_t now_mono,
    uint64_t now_wall, struct rmq_msg **out, const char **why);

#endif
