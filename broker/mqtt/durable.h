/* broker/mqtt/durable.h: acknowledgements held until the disk has what
 * they acknowledge (durable.c); private to broker/mqtt/. */
#ifndef RMQ_DURABLE_H
#define RMQ_DURABLE_H

#include <stdint.h>

struct rmq_session;
struct rmq_worker;

/* Send a PUBACK or PUBREC (type) for packet id pid with reason (5.0) once
 * the writer has committed generation gen (0: nothing to wait for) and
 * every acknowledgement this connection holds back before it has gone. */
void rmq_session_ack(struct rmq_session *s, uint8_t type, uint16_t pid,
    uint8_t reason, uint64_t gen);

/* The same, and once every peer up has taken forward token fwd of the
 * session's worker (broker/cluster.h's taken; 0: no wait). */
void rmq_session_ack_fwd(struct rmq_session *s, uint8_t type, uint16_t pid,
    uint8_t reason, uint64_t gen, uint64_t fwd);

/* A SUBACK or UNSUBACK (type) with its codes, after generation gen as
 * rmq_session_ack, and once the cluster has applied token `cluster`
 * everywhere (broker/cluster.h's applied hook; 0: no wait) or the loop's
 * clock has passed until_ms. */
void rmq_session_ack_codes(struct rmq_session *s, uint8_t type, uint16_t pid,
    const uint8_t *codes, uint32_t n, uint64_t gen, uint64_t cluster,
    uint64_t until_ms);

/* Queue the session's record for the data directory (a persistent
 * session: its expiry, subscriptions, and whether it is connected), or
 * its removal when its expiry is 0 and it had one.  Returns the
 * generation of the change, 0 when there is none (persistence off, not
 * persistent, no memory). */
uint64_t rmq_session_store(struct rmq_session *s);

/* The session's record (store/record.h) as the data directory keeps it:
 * 0 with *out (malloc'd), or -ENOMEM. */
int rmq_session_record(struct rmq_session *s, uint8_t **out, size_t *len);

/* The session ends: its record, if any, is removed. */
uint64_t rmq_session_unstore(struct rmq_session *s);

/* A generation that is this turn's: the acknowledgement waits for the
 * commit of the queue changes the turn hands the writer at its end. */
#define RMQ_GEN_TURN UINT64_MAX

struct rmq_msg;
struct rmq_qitem;

/* Whether the data directory keeps the session's queue: persistence is
 * on and the session outlives its connection. */
int rmq_session_kept(const struct rmq_session *s);

/* Keep m for session `key` at qos on disk (and m itself, the first
 * time).  Returns 1 when the change is queued, 0 when it could not be
 * (no memory: the message is delivered, not kept). */
int rmq_worker_keep(struct rmq_worker *w, struct rmq_msg *m, uint64_t key,
    uint8_t qos);

/* A kept item is done with: delivered, dropped, expired. */
void rmq_session_kept_done(struct rmq_session *s, const struct rmq_qitem *it);
void rmq_worker_kept_done(struct rmq_worker *w, uint64_t key,
    const struct rmq_qitem *it);

/* A kept QoS 2 item went out with pid, or its PUBREC came
 * (RMQ_QUEUED_SENT, RMQ_QUEUED_RELEASED). */
void rmq_session_kept_state(struct rmq_session *s, const struct rmq_qitem *it,
    uint8_t state, uint16_t pid);

/* A QoS 2 packet id received (put) or released by a persistent session.
 * Returns 1 when the change is queued. */
int rmq_session_kept_q2in(struct rmq_session *s, uint16_t pid, int put);

/* The window's RMQ_OUT_DISK slots wait for this turn's commit: once it is
 * done the session is flushed again and writes them. */
void rmq_session_disk_wait(struct rmq_session *s);

/* Everything the disk keeps of the session's queue goes (its session
 * ends, or starts clean). */
void rmq_session_kept_drop(struct rmq_session *s);

/* Wake the workers that hold acknowledgements (for the disk or the
 * cluster): what they wait for may have come.  Any thread. */
struct rmq_broker;
void rmq_workers_wake_held(struct rmq_broker *b);

/* Send what the writer's commits have freed; each turn. */
void rmq_worker_acks_release(struct rmq_worker *w);

/* The session's connection ended: what it held back is dropped. */
void rmq_session_acks_drop(struct rmq_session *s);

#endif
