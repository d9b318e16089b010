/* broker/store/record.h: the stored forms the data directory keeps: a
 * message (a retained message today; queued ones later), and a persistent
 * session (what a restart needs to bring it back, offline).
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

#include "index.h"
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

/* A persistent session as stored: its protocol level, its expiry, when
 * its connection ended (wall-clock ms; 0: it was connected when the record
 * was written), and its subscriptions with every option (the owner of
 * each is the restored session's, and not stored).  The session record
 * leads with the same 24-byte head size and the 8-byte session key (version
 * 2; version 1 had none and is still read), then the client identifier, then
 * the subscriptions: each a 2-byte length, the filter, QoS, flags,
 * Retain Handling, a zero byte and the 4-byte Subscription Identifier;
 * then, when byte 2 of the head says so (version 3), the will: its delay,
 * when the delay ends, its message record's length and the record. */
struct rmq_record_session {
	uint64_t key; /* the session's key when written (0: not known, a
		       * version 1 record); its queued messages are kept
		       * under it */
	uint8_t version; /* RMQ_V31, RMQ_V311, RMQ_V5 */
	uint32_t session_expiry; /* seconds; 0xFFFFFFFF: never */
	uint64_t offline_since; /* wall-clock ms; 0: connected */
	const char *client_id;
	uint16_t client_id_len;
	uint32_t nsubs;
	struct rmq_record_sub {
		const char *filter;
		uint16_t len;
		struct rmq_sub opt; /* subid, qos, flags, retain_handling */
	} * subs;
	/* Its will (NULL: none; encode: the message; decode: its record's
	 * bytes, read with rmq_record_msg_decode), the Will Delay Interval,
	 * and when the delay ends (wall-clock ms; 0: its connection had not
	 * ended when the record was written). */
	const struct rmq_msg *will;
	const uint8_t *will_rec;
	uint32_t will_rec_len;
	uint32_t will_delay;
	uint64_t will_at;
	int64_t wall_minus_mono; /* encode: for the will's expiry */
};

/* Bytes the record of s takes. */
size_t rmq_record_session_size(const struct rmq_record_session *s);

/* Write s's record into buf (rmq_record_session_size() bytes). */
void
rmq_record_session_encode(const struct rmq_record_session *s, uint8_t *buf);

/* Read a session record.  *out points into p (the client identifier and
 * the filters) except subs, allocated here (free it).  Returns 0, -ENOMEM,
 * or -EINVAL with what is wrong in why. */
int rmq_record_session_decode(const uint8_t *p, size_t len,
    struct rmq_record_session *out, const char **why);

/* A message queued for a persistent session, or in flight to it: the
 * value under (session key, message id) in the `queues` database; the
 * message itself is the record above, under its id in `msgs`. */
enum {
	RMQ_QUEUED_WAITING = 0, /* not sent yet */
	RMQ_QUEUED_SENT = 1, /* sent with pid, not acknowledged yet */
	RMQ_QUEUED_RELEASED = 2, /* QoS 2 PUBREC came, PUBREL sent */
};
#define RMQ_RECORD_QUEUED 8
struct rmq_record_queued {
	uint8_t qos; /* 1 or 2, as it goes to the session */
	uint8_t state; /* RMQ_QUEUED_* */
	uint16_t pid; /* SENT, RELEASED: its packet id */
};

void rmq_record_queued_encode(const struct rmq_record_queued *q,
    uint8_t buf[RMQ_RECORD_QUEUED]);

/* Returns 0 or -EINVAL with what is wrong in why. */
int rmq_record_queued_decode(const uint8_t *p, size_t len,
    struct rmq_record_queued *out, const char **why);

#endif
