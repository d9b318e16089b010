/* broker/store/persist.h: the node's persistence: what the data directory
 * (disk.h) holds is read back at start, and one writer thread keeps it up
 * to date from then on.
 *
 * The loops never wait on the disk.  A change is made in memory as
 * before (today: the retained store, retain.h, which marks the topic) and
 * tagged with the writer's current generation; the writer moves the
 * generation on, takes every change made so far, writes them in one
 * transaction and commits it (one sync for the batch: group commit), then
 * publishes the generation it committed and calls the `committed` hook,
 * which wakes the loops that hold acknowledgements back until then
 * (policy `always`).  Under `interval` the writer commits at most every
 * interval, and nothing waits for it.  Stopping commits what is left.
 *
 * A commit that fails (a full disk: LMDB's map, or ENOSPC) is logged and
 * counted; its changes are marked again and retried a second later, and
 * the hook is told the generation failed so that 5.0 publishers can be
 * told (0x97).  The broker keeps serving from memory meanwhile.
 */
#ifndef RMQ_PERSIST_H
#define RMQ_PERSIST_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

struct rmq_persist;
struct rmq_retain;
struct rmq_record_session;
struct rmq_record_queued;
struct rmq_msg;

/* A change to what persistent sessions have queued and in flight, made
 * by a worker and handed to the writer through the worker's lane
 * (rmq_persist_lane_put).  A message queued for several sessions is one
 * MSG followed by a PUT for each of them. */
enum rmq_qop {
	RMQ_QOP_MSG = 1, /* message `id` is msg: written once, for its PUTs */
	RMQ_QOP_PUT, /* (key, id) queued for the session at qos */
	RMQ_QOP_STATE, /* (key, id) in flight: state and pid */
	RMQ_QOP_DEL, /* (key, id) delivered, dropped or expired */
	RMQ_QOP_DROP, /* every queued message and QoS 2 id of session key */
	RMQ_QOP_Q2IN_PUT, /* (key, pid): a QoS 2 PUBLISH taken, not released */
	RMQ_QOP_Q2IN_DEL, /* (key, pid) released */
};

struct rmq_qchange {
	uint64_t key; /* the session's key (not MSG) */
	uint64_t id; /* the message's id (MSG, PUT, STATE, DEL) */
	struct rmq_msg *msg; /* MSG: a reference the writer lets go of */
	uint16_t pid;
	uint8_t op; /* enum rmq_qop */
	uint8_t qos; /* PUT */
	uint8_t state; /* STATE: RMQ_QUEUED_* (record.h) */
};

struct rmq_persist_conf {
	const char *dir;
	uint32_t interval_ms; /* 0: commit at once (`always`) */
	uint64_t max_bytes; /* what the directory may hold; 0: 64 GiB */
	struct rmq_retain *retain;
	/* Called on the writer's thread after each commit, with its
	 * generation and whether it reached the disk. */
	void (*committed)(void *ctx, uint64_t gen, int ok);
	/* Called at the open for each persistent session on disk, with the
	 * milliseconds of expiry it has left (UINT64_MAX: never); one that
	 * expired while the broker was down is removed instead.  Returns 0,
	 * or a negative errno that stops the open. */
	int (*session)(void *ctx, const struct rmq_record_session *r,
	    uint64_t left_ms, uint64_t *key);
	/* Called at the open, after the sessions, for each message queued
	 * for one, oldest first per session, with the key the session
	 * callback gave (m->disk_id set; the callee takes its own
	 * reference if it keeps m).  Returns 0, -ENOENT when there is no
	 * such session (the record is removed), or another negative errno
	 * that stops the open. */
	int (*queued)(void *ctx, uint64_t key, struct rmq_msg *m,
	    const struct rmq_record_queued *q);
	/* Likewise for each QoS 2 packet id a session received and had not
	 * seen released. */
	int (*q2in)(void *ctx, uint64_t key, uint16_t pid);
	unsigned lanes; /* the workers that hand changes in (rmq_qchange) */
	void *ctx;
};

/* Counters for the scrape; any thread. */
struct rmq_persist_stats {
	_Atomic uint64_t commits; /* transactions committed */
	_Atomic uint64_t records; /* records written or deleted */
	_Atomic uint64_t failures; /* commits that did not reach the disk */
	_Atomic uint64_t sync_us; /* time spent committing, summed */
	_Atomic uint64_t loaded_retained; /* read back at start */
	_Atomic uint64_t expired_at_load; /* dropped then: expired */
	_Atomic uint64_t loaded_sessions, expired_sessions_at_load;
	_Atomic uint64_t loaded_queued; /* queued messages read back */
	_Atomic uint64_t orphans_at_load; /* queued for no session: removed */
	_Atomic uint64_t queued_written; /* queue records put on disk */
	_Atomic uint64_t queued_skipped; /* queued and done within a batch:
					 * never written */
	_Atomic uint64_t backlog; /* queue changes handed in, not committed */
	_Atomic uint64_t behind; /* times the backlog passed its bound */
	_Atomic int failing; /* the last commit failed */
};

/* Open the directory (made when missing) and read its retained messages
 * into conf->retain.  Returns 0 with *out, or a negative errno with
 * "PATH: what is wrong" in err (nothing on disk changed). */
int rmq_persist_open(const struct rmq_persist_conf *conf,
    struct rmq_persist **out, char *err, size_t errlen);

/* Start tracking changes and the writer thread.  Returns 0 or a negative
 * errno. */
int rmq_persist_start(struct rmq_persist *p);

/* Queue a persistent session's record (record.h, malloc'd: the writer
 * takes it) under its client identifier, or its removal (rec NULL).
 * Changes are written in the order they are queued, whichever thread
 * queues them.  Returns the generation of the change and wakes the
 * writer; 0 and nothing queued when out of memory (rec is freed). */
uint64_t rmq_persist_session(struct rmq_persist *p, const char *id,
    size_t id_len, uint8_t *rec, size_t rec_len);

/* A new message id, for a message kept for persistent sessions.  Any
 * thread. */
uint64_t rmq_persist_msg_id(struct rmq_persist *p);

/* Hand the writer n queue changes (c: malloc'd, the writer's on success)
 * from worker `lane`, in the order they were made; the writer applies them
 * in that order with respect to the lane's other changes and to the
 * changes to the same session and message from other lanes (a message is
 * put before it is taken off).  Returns the generation they are committed
 * in, and wakes the writer; 0 when out of memory (c is still the
 * caller's). */
uint64_t rmq_persist_lane_put(struct rmq_persist *p, unsigned lane,
    struct rmq_qchange *c, size_t n);

/* Queue changes handed in and not yet committed past which the workers
 * hold acknowledgements for the commit under every policy (`interval`
 * too): the writer falls behind only when publishers outrun the disk, and
 * they are slowed to its pace rather than fill memory. */
#define RMQ_PERSIST_BACKLOG_MAX (256u * 1024u)

/* Whether the writer is behind by more than RMQ_PERSIST_BACKLOG_MAX
 * changes.  Any thread. */
int rmq_persist_behind(const struct rmq_persist *p);

/* A change was made: the writer commits it (now under `always`, at the
 * interval's end otherwise).  Any thread. */
void rmq_persist_changed(struct rmq_persist *p);

/* The last generation committed (or failed): changes tagged with it or
 * earlier are done.  Any thread. */
uint64_t rmq_persist_committed(const struct rmq_persist *p);

/* Whether commit `gen` failed (one of the last 64 that did).  Any
 * thread. */
int rmq_persist_failed(const struct rmq_persist *p, uint64_t gen);

const struct rmq_persist_stats *rmq_persist_stats(const struct rmq_persist *p);

/* Offline: call fn for each retained message of the directory d (opened
 * read-only, as `ringmq store dump` does), read as at start; those
 * expired by now are counted in *expired, not passed.  Returns 0, or a
 * negative errno with "PATH: what is wrong" in err. */
struct rmq_disk;
struct rmq_msg;
int rmq_persist_dump_retained(struct rmq_disk *d,
    void (*fn)(void *ctx, const struct rmq_msg *m, uint64_t now_mono),
    void *ctx, uint64_t *expired, char *err, size_t errlen);

/* Offline, as rmq_persist_dump_retained: fn for each session record, with
 * the number of messages it has queued or in flight. */
int rmq_persist_dump_sessions(struct rmq_disk *d,
    void (*fn)(void *ctx, const struct rmq_record_session *r, uint64_t queued),
    void *ctx, char *err, size_t errlen);

/* Commit what is left, stop the writer and close the directory.  NULL is
 * fine. */
void rmq_persist_close(struct rmq_persist *p);

#endif
