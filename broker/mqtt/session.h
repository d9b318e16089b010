/* broker/mqtt/session.h: one MQTT session and, while it is connected, its
 * connection.
 *
 * A session belongs to exactly one worker and only that worker's thread
 * touches it.  Others name it by key, (worker, slot, generation), never by
 * pointer, so a message for a session that has ended is simply dropped.
 * The session owns its decoder state, its subscriptions, the messages
 * queued for it and in flight to it, and its will.
 */
#ifndef RMQ_SESSION_H
#define RMQ_SESSION_H

#ifndef RMQ_LAYER_MQTT
#error "session.h is private to broker/mqtt/ (and its tests)"
#endif

#include <stdint.h>
#include <stdlib.h>
#include <sys/uio.h>

#include "auth.h"
#include "bounds.h"
#include "cluster.h"
#include "codec.h"
#include "conn.h"
#include "index.h"
#include "invariant.h"
#include "msg.h"

struct rmq_worker;
struct rmq_strmap;

/* Session keys: worker in the top 8 bits, slot in the next 24, generation
 * in the low 32. */
#define RMQ_KEY(w, slot, gen)                                                  \
	((uint64_t)(w) << 56 | (uint64_t)(slot) << 32 | (uint64_t)(gen))
#define RMQ_KEY_WORKER(k) ((unsigned)((k) >> 56))
#define RMQ_KEY_SLOT(k) ((uint32_t)(((k) >> 32) & 0xFFFFFF))
#define RMQ_KEY_GEN(k) ((uint32_t)(k))
_Static_assert(RMQ_MAX_WORKERS <= 128,
    "a key's worker fits its top byte and leaves the top bit to the cluster");

enum rmq_sess_state {
	RMQ_SESS_CONNECTING, /* waiting for CONNECT */
	RMQ_SESS_LIVE, /* CONNACK sent */
	RMQ_SESS_CLOSING, /* connection closing */
	RMQ_SESS_OFFLINE, /* persistent, no connection */
	RMQ_SESS_PARKED, /* a new connection waiting for the old one to
			      * close before it takes the session over */
	RMQ_SESS_AUTHENTICATING, /* CONNECT waiting for its verdict */
	RMQ_SESS_REFUSING, /* a refusal held back (auth/guard.h) */
	RMQ_SESS_CLAIMING, /* CONNECT waiting for the cluster's peers to
			    * give up the identifier (move.c) */
	RMQ_SESS_MOVING, /* sent to another node: a stub collecting what
			  * still comes for it, until its tail is taken */
};

#define RMQ_QITEM_SUBIDS 4

/* A message on its way to this session. */
struct rmq_qitem {
	struct rmq_msg *msg;
	uint8_t qos;
	uint8_t retain;
	uint8_t nsubid;
	uint8_t stored; /* a retained copy sent on SUBSCRIBE */
	uint8_t kept; /* the data directory holds it for this session
		       * (msg->disk_id, under the session's key) */
	uint32_t subid[RMQ_QITEM_SUBIDS];
};

/* A QoS 1/2 message sent and not yet acknowledged, or a QoS 0 message
 * being written: the header bytes must live as long as the write.  DONE:
 * acknowledged while a write was in progress, which may still read the
 * message's bytes (a client may acknowledge what it has not received
 * whole); the message is released, and the slot freed, when the write
 * completes.  A RELEASED slot keeps its message until the PUBCOMP (its
 * record on disk, its identity when the session moves: move.c). */
/* DISK: given its packet id, not yet written: under `durability always`
 * a kept message waits until the disk knows that id (so that a restart
 * sends it with the one the client may have), and what follows it in the
 * queue waits behind it. */
enum {
	RMQ_OUT_SENT = 1,
	RMQ_OUT_RELEASED = 2,
	RMQ_OUT_DONE = 3,
	RMQ_OUT_DISK = 4,
};

/* s->writing: a write is in progress; LATE: acknowledged messages wait
 * for its completion to be released. */
#define RMQ_WRITING 1
#define RMQ_WRITING_LATE 2
struct rmq_outslot {
	struct rmq_qitem it;
	uint16_t pid;
	uint8_t state;
	uint8_t wseq; /* the write it was last put in (rmq_wbatch.seq) */
	uint8_t hdr[RMQ_PUB_HDR_MAX];
};

/* One write in progress: its iovecs, control bytes and QoS 0 slots. */
struct rmq_wbatch {
	struct iovec *iov;
	uint8_t *ctrl;
	struct rmq_outslot *q0;
	uint32_t nq0;
	/* The write's number (it goes on across writes, wrapping): a slot
	 * whose wseq is the number of the write in progress may be read by
	 * it.  nlate: such slots acknowledged meanwhile (RMQ_OUT_DONE). */
	uint8_t seq;
	uint16_t nlate;
};

/* One outbound topic alias (5.0). */
#define RMQ_ALIAS_OUT_MAX 64 /* aliases given per connection at most */
#define RMQ_ALIAS_OUT_SLOTS 128 /* open-addressing table, a power of 2 */
struct rmq_alias_out {
	char *topic;
	uint32_t hash;
	uint16_t len;
	uint16_t alias;
	uint8_t sent; /* the client has seen topic and alias together */
};

struct rmq_subrec {
	char *filter;
	uint16_t len;
	struct rmq_sub opt;
};

/* Fields are ordered by size, so that the struct has no holes: an idle
 * connection's memory is mostly this struct (docs/benchmarks.md). */
struct rmq_session {
	struct rmq_worker *w;
	struct rmq_conn *conn;
	uint64_t key; /* worker, slot and generation: RMQ_KEY() */
	struct rmq_session *next_dirty;
	struct rmq_decoder dec;
	char *client_id;
	uint64_t last_rx_ms;
	uint64_t deadline_ms; /* CONNECT timeout, session expiry, the close's
				* grace, or when live the packet begun must end */
	struct rmq_session_rare *rare; /* NULL until first needed */

	/* Will. */
	struct rmq_msg *will;

	/* Outbound: queued (not yet sent) and in flight. */
	struct rmq_qitem *pending;
	uint64_t pend_bytes;
	struct rmq_outslot *inflight;
	/* Control packets waiting to be written. */
	uint8_t *ctrl;
	struct rmq_wbatch wb;
	struct rmq_subrec *subs;

	uint32_t pend_head, pend_len, pend_cap;
	uint32_t ctrl_len, ctrl_cap;
	uint32_t nsubs, subs_cap;
	uint32_t session_expiry; /* seconds, 0xFFFFFFFF never */
	uint32_t will_delay;
	uint32_t peer_max_packet; /* what the client told us (5.0) */

	uint16_t win, infl_head, infl_len;
	uint16_t next_pid;
	uint16_t client_id_len;
	uint16_t keepalive; /* seconds, as granted */
	uint16_t peer_receive_max;
	uint16_t peer_alias_max; /* topic aliases the client takes (5.0) */
	uint16_t receive_max; /* ours, as told in this connection's CONNACK */

	uint8_t state;
	uint8_t version;
	uint8_t clean;
	uint8_t will_pending;
	uint8_t dirty; /* on the worker's flush list */
	uint8_t writing;
	uint8_t close_after_write;
	uint8_t listener; /* the listener its connection came in on */
	uint8_t counted; /* in the connected-clients gauge */
	uint8_t graceful; /* DISCONNECT 0x00 received: no will */
	uint8_t registered; /* client_id is ours in the registry */
	uint8_t handed_off; /* the connection went to another worker */
	uint8_t retain_ok; /* retain_available when this client connected */
	uint8_t max_qos; /* max_qos when this client connected */
};

/* docs/benchmarks.md counts an idle connection's memory with this size;
 * a field added must take the place of padding or of another. */
_Static_assert(sizeof(struct rmq_session) == 256,
    "struct rmq_session is 256 bytes");

/* What few sessions use, allocated the first time it is needed, so that
 * an idle connection stays small (docs/benchmarks.md). */
struct rmq_session_rare {
	/* Takeover: on the old session, the parked newcomer; on the
	 * newcomer, the bytes to replay (its CONNECT and what followed)
	 * and, after a hand-off, the session it went to. */
	struct rmq_session *parked;
	uint64_t parked_on; /* on a parked newcomer: the session it waits for */
	uint8_t *replay;
	uint32_t replay_len;
	uint64_t handoff_key;
	/* Inbound QoS 2 packet ids waiting for PUBREL. */
	uint16_t *q2in;
	uint16_t nq2in;
	uint32_t q2in_cap;
	/* Topic aliases (5.0): the client's, and ours towards it. */
	struct rmq_str *alias_in;
	struct rmq_alias_out *alias_out;
	uint16_t alias_out_n;
	/* When a delayed will goes out (will_pending). */
	uint64_t will_at_ms;
	/* This connection passed authentication: a CONNECT replayed for it
	 * (after a later verdict, or a takeover) is not asked again. */
	uint8_t authed;
	/* Resuming: the window's QoS 1/2 messages go again, DUP set, from
	 * resend_next (counted from the window's head) on, as the flush
	 * has room. */
	uint8_t resending;
	uint16_t resend_next;
	/* Filter -> index in subs + 1, once a client holds more than a few
	 * subscriptions, so that finding one is not a walk of them all. */
	struct rmq_strmap *subidx;
	/* The user name the client was let in with (its certificate's or
	 * its CONNECT's), for the ACL; NULL: anonymous (access.c). */
	char *user;
	uint16_t user_len;
	struct rmq_access_memo *memo; /* recent ACL answers (access.c) */
	/* The reason the broker closed the connection for, for its log
	 * line; 0: it did not. */
	uint8_t closed_for;
	/* Acknowledgements of this connection held in the worker's queue
	 * until the disk has what they acknowledge (durable.c), and the
	 * connection they belong to (bumped when it ends). */
	uint32_t acks_held;
	uint32_t acks_epoch;
	/* The data directory holds a record of this session, and maybe
	 * queued messages or QoS 2 ids under its key (durable.c). */
	uint8_t stored;
	uint8_t disk_q;
	/* RMQ_OUT_DISK slots in the window, and the commits they wait for
	 * (held in the worker's queue with the acknowledgements). */
	uint16_t disk_slots, disk_waits;
	uint8_t refuse_reason; /* RMQ_SESS_REFUSING: the CONNACK's code */
	/* Messages queued when the client went away, or brought in since
	 * (a moved or restored session's): max_queued_messages bounds what
	 * arrives after them (outq.c). */
	uint32_t away_held;
	/* Enhanced authentication (auth.h): the exchange under way, and
	 * what it is for; xauth_on once the connection authenticated with
	 * the authenticator's method (AUTH packets are taken from then). */
	void *xauth;
	uint8_t *xauth_data; /* its last data, for the CONNACK */
	uint32_t xauth_data_len;
	uint8_t xauth_phase; /* RMQ_XAUTH_CONNECT, RMQ_XAUTH_REAUTH */
	uint8_t xauth_on;
	/* The cluster (move.c): the stamp of this connection's claim to
	 * its identifier, where the claim stands (RMQ_CLAIM_*), and a
	 * peer's claim waiting for the connection to close. */
	uint64_t claim_stamp;
	uint8_t claim;
	struct rmq_release *release;
	/* Arrived from another node: the move whose tail is awaited (0:
	 * none), and the messages held meanwhile, in the order they came. */
	uint64_t move;
	struct rmq_qitem *held;
	uint32_t held_n, held_cap;
	uint64_t held_bytes; /* bounded by max_queued_bytes */
	/* The identities of the messages its image and tail brought
	 * (sorted), so that a copy of one held here, or arriving late, is
	 * not delivered again; kept until moved_until_ms once the tail is
	 * in. */
	struct rmq_ident *moved_ids;
	uint32_t nmoved_ids;
	uint64_t moved_until_ms;
	/* Disconnected by the drain, counted in the worker's drained_left
	 * until it leaves. */
	uint8_t drained;
	/* max_publish_rate: the second of the clock PUBLISHes are counted
	 * in, and how many came in it. */
	uint32_t pub_n;
	uint64_t pub_sec;
};

/* The session's rare part, made when missing; NULL when out of memory. */
static inline struct rmq_session_rare *
rmq_session_rare(struct rmq_session *s)
{
	if (s->rare == NULL)
		s->rare = calloc(1, sizeof(*s->rare));
	return s->rare;
}

/* The parked newcomer of a session, or NULL. */
static inline struct rmq_session *
rmq_session_parked(const struct rmq_session *s)
{
	return s->rare ? s->rare->parked : NULL;
}

/* ---- access.c: what the ACL lets the session do ---- */

/* Keep the user name the session was let in with (len 0 and p NULL:
 * anonymous).  Returns 0 or -ENOMEM. */
int rmq_session_set_user(struct rmq_session *s, const char *p, size_t len);

/* Whether the node's ACL lets the session read (a delivery), write (a
 * PUBLISH, its will) or subscribe to topic; answers are remembered per
 * session until a reload.  Without an ACL, yes at the cost of a load. */
int rmq_session_may(struct rmq_session *s, const char *topic, size_t len,
    enum rmq_access access);

/* Let go of what access.c keeps in the session. */
void rmq_session_access_free(struct rmq_session *s);

/* ---- session.c: lifecycle and the read path ---- */

/* Start serving a new connection: a session waiting for CONNECT. */
int rmq_session_start(struct rmq_worker *w, struct rmq_conn *conn,
    uint8_t listener, const uint8_t *early, size_t early_len);

/* How long a connection may take to write its last packets (a refusing
 * CONNACK, a DISCONNECT) before it is closed regardless. */
#define RMQ_CLOSE_GRACE_MS 5000

/* Write what is queued, then end the stream (rmq_session_end); closed
 * after RMQ_CLOSE_GRACE_MS whatever happens. */
void rmq_session_close_after_write(struct rmq_session *s);

/* Everything owed is written: the connection lingers (linger.h), and the
 * session ends as if it had closed.  s may be freed. */
void rmq_session_end(struct rmq_session *s);

/* Close the connection now, without a word to the client. */
void rmq_session_close(struct rmq_session *s);

/* End the connection: what the session owes is written, then a 5.0
 * client is sent DISCONNECT with `reason` when reason != 0 and the
 * session is live (a 3.x client gets no packet), then the connection
 * lingers (linger.h).  The will is published unless the client ended the
 * connection normally. */
void rmq_session_disconnect(struct rmq_session *s, uint8_t reason);

/* A packet the protocol forbids (err: the reason code and why): counted
 * by reason, a refused CONNECT answered with a CONNACK where the version
 * allows, a live 5.0 session told DISCONNECT with the reason, then the
 * connection closes (the will is published). */
void rmq_session_refuse(struct rmq_session *s, const struct rmq_packet *p,
    const struct rmq_codec_err *err);

/* Keep alive, CONNECT timeout, will delay and session expiry. */
void rmq_session_tick(struct rmq_session *s, uint64_t now_ms);

/* Remove the session entirely: subscriptions, registry entry, queues. */
void rmq_session_destroy(struct rmq_session *s);

/* Publish the session's will now, if it has one. */
void rmq_session_publish_will(struct rmq_session *s);

/* ---- connect.c ---- */

void rmq_session_on_connect(struct rmq_session *s, const struct rmq_packet *p,
    const uint8_t *rest, size_t rest_len);

/* A connection handed over by another worker (or this one) because its
 * CONNECT names a session that lives here: `bytes` are its CONNECT and
 * what followed; ownership of *mv (socket, layers) and bytes passes to
 * the session. */
void rmq_session_adopt(struct rmq_worker *w, uint64_t key,
    struct rmq_conn_move *mv, uint8_t listener, uint8_t *bytes, size_t len);

/* A refusal held back (RMQ_SESS_REFUSING) goes out now (connect.c). */
void rmq_session_refuse_held(struct rmq_session *s);

/* The verdict on a CONNECT whose authentication answered later
 * (auth/auth.h), for session `key`: the CONNECT is replayed, or refused
 * with `reason`.  Worker's thread, from its inbox. */
void rmq_session_auth_verdict(struct rmq_worker *w, uint64_t key, int allowed,
    uint8_t reason);

enum { RMQ_XAUTH_CONNECT = 1, RMQ_XAUTH_REAUTH = 2 };

/* An AUTH packet (MQTT 5.0 4.12): the next step of the enhanced
 * authentication of the CONNECT, or a re-authentication.  Returns 1 when
 * it took the rest of the read (rest[0..rest_len)) with it, which the
 * caller must not read again; 0 otherwise. */
int rmq_session_on_auth(struct rmq_session *s, const struct rmq_packet *p,
    const uint8_t *rest, size_t rest_len);

/* An enhanced authentication ends with its session (or connection). */
void rmq_session_xauth_end(struct rmq_session *s);

/* Read again what the session kept (rare->replay): a CONNECT and what
 * followed it.  The session's connection reads already. */
void rmq_session_replay(struct rmq_session *s);

/* The old connection of a session is gone: let the parked newcomer in. */
void rmq_session_unpark(struct rmq_session *s);

/* The session a newcomer waited for is gone: it starts one of its own. */
void rmq_session_release_parked(struct rmq_session *p);

/* ---- move.c: a session leaving for another node, or arriving ---- */

enum {
	RMQ_CLAIM_ASKED = 1, /* the peers are asked */
	RMQ_CLAIM_NONE = 2, /* answered: no state came */
	RMQ_CLAIM_MOVED = 3, /* answered: the state came and is in */
};

/* A peer's claim to the identifier (cluster.h), on this worker. */
struct rmq_release;
void
rmq_worker_release(struct rmq_worker *w, uint64_t key, struct rmq_release *r);

/* The session's connection closed: a peer's claim waiting for it ends the
 * session.  Returns 1 when it did (s is freed), 0 when none waits. */
int rmq_session_release_closed(struct rmq_session *s);

/* A message for a session whose tail is awaited: held, in order, up to
 * max_queued_bytes (past it dropped and counted as a full queue).
 * Takes over the item's reference.  Returns 0 or -ENOBUFS. */
int rmq_session_hold(struct rmq_session *s, const struct rmq_qitem *it);

/* Whether m is a copy of a message the session's image or tail brought
 * (dropped by the caller, counted). */
int rmq_session_moved_twice(struct rmq_session *s, const struct rmq_msg *m);

/* How long a moved session keeps telling late copies apart. */
#define RMQ_MOVE_DEDUP_MS 5000

/* The wait for the tail ends without it: what was held is queued. */
void rmq_session_hold_end(struct rmq_session *s);

/* The cluster's calls on this worker (cluster.h): the tail of stub key
 * taken, and a tail given to session key. */
void rmq_worker_tail_take(struct rmq_worker *w, uint64_t key,
    void (*done)(void *arg, uint8_t *tail, size_t len), void *arg);

/* The workers' pass before a tail is taken (rmq_cluster_tail_take): this
 * worker has handed on what it was given before (its batches for other
 * workers are queued); the last to pass queues the take.  At shutdown
 * (ran 0), the take is told nothing instead. */
struct rmq_pass;
void rmq_worker_pass(struct rmq_broker *b, struct rmq_pass *p, int ran);

/* The admin API's delete of a retained message (m: its topic, an empty
 * payload, retain; the reference taken): the store, the data directory
 * and the cluster as a client's empty retained PUBLISH changes them, and
 * no subscriber told. */
void rmq_worker_retain_clear(struct rmq_worker *w, struct rmq_msg *m);

/* A question of the admin API (node.h), answered for this worker's
 * sessions (w NULL: unread at shutdown, answered with none). */
struct rmq_query;
void rmq_worker_query(struct rmq_worker *w, struct rmq_query *q, uint64_t key);
void rmq_session_tail_give(struct rmq_worker *w, uint64_t key, uint64_t move,
    uint8_t *tail, size_t len);

/* A peer's older session's image: its messages queued for session key
 * (cluster.h's rmq_cluster_state_give); the image is freed. */
void rmq_session_state_merge(struct rmq_worker *w, uint64_t key, uint8_t *image,
    size_t len);

/* The worker's sessions with identifiers to fn (cluster.h's
 * rmq_cluster_sessions_each), then its end. */
void rmq_worker_list(struct rmq_worker *w, rmq_session_list_fn fn, void *arg);

/* The session ends (destroyed) while a peer's claim waits: answered. */
void rmq_session_release_gone(struct rmq_session *s);

/* The answer to the session's own claim (cluster.h). */
void rmq_session_claimed(struct rmq_worker *w, uint64_t key, int lost,
    uint8_t *image, size_t len, uint64_t move);

/* The session's state as an image: its record (durable.h), its QoS 2
 * ids, then its messages in flight and queued.  Returns 0 with *out
 * (malloc'd) or -ENOMEM. */
int rmq_session_export(struct rmq_session *s, uint8_t **out, size_t *len);

/* An image read into a session that has none yet: its expiry,
 * subscriptions, QoS 2 ids and messages.  Returns 0, -ENOMEM, or
 * -EINVAL with what is wrong in *why. */
int rmq_session_import(struct rmq_session *s, const uint8_t *p, size_t len,
    const char **why);

/* ---- publish.c ---- */

void rmq_session_on_publish(struct rmq_session *s, struct rmq_packet *p);

void rmq_session_on_pubrel(struct rmq_session *s, const struct rmq_packet *p);

/* ---- subscribe.c ---- */

void
rmq_session_on_subscribe(struct rmq_session *s, const struct rmq_packet *p);

void
rmq_session_on_unsubscribe(struct rmq_session *s, const struct rmq_packet *p);

/* Remove every subscription of the session from the index. */
void rmq_session_unsubscribe_all(struct rmq_session *s);

/* Mark the session's subscriptions as kept on disk (RMQ_SUB_KEPT) or
 * not, in the index too. */
void rmq_session_subs_keep(struct rmq_session *s, int keep);

/* A subscription of a session read back from the data directory: into
 * the index and the session's list.  Returns 0 or a negative errno. */
int rmq_session_subscribe_restored(struct rmq_session *s, const char *filter,
    size_t len, const struct rmq_sub *opt);

/* ---- outq.c ---- */

/* Queue a message for the session (taking over the item's reference):
 * dropped and counted when the session's queue is full or the message has
 * expired.  Returns 0 or -ENOBUFS when dropped. */
int rmq_session_enqueue(struct rmq_session *s, const struct rmq_qitem *it);

/* Encode a control packet into the session's output. */
int rmq_session_send(struct rmq_session *s, const struct rmq_packet *p);

/* Write what is queued: one write per turn per connection. */
void rmq_session_flush(struct rmq_session *s);

void rmq_session_on_ack(struct rmq_session *s, const struct rmq_packet *p);

/* After a session is resumed: resend what was in flight, DUP set. */
void rmq_session_resend(struct rmq_session *s);

/* A message read back from the data directory: at the queue's end
 * (state RMQ_QUEUED_WAITING), or in the window with its packet id (a
 * QoS 2 message sent, or released).  Takes its own reference.  Returns 0
 * or -ENOMEM. */
int rmq_session_restore_item(struct rmq_session *s, const struct rmq_qitem *it,
    uint8_t state, uint16_t pid);

/* Each message of the session's window (its state as the data directory
 * keeps it, RMQ_QUEUED_SENT or RMQ_QUEUED_RELEASED, and packet id; a released
 * message read back from an image may be NULL), then each queued one
 * (RMQ_QUEUED_WAITING), in order; fn's non-zero return stops the walk
 * and is returned. */
int rmq_session_each_item(struct rmq_session *s,
    int (*fn)(void *arg, const struct rmq_qitem *it, uint8_t state,
	uint16_t pid),
    void *arg);

/* Drop the QoS 0 messages waiting in the queue. */
void rmq_session_drop_qos0(struct rmq_session *s);

/* Forget the aliases given on a connection that ended. */
void rmq_session_aliases_reset(struct rmq_session *s);

/* Drop everything queued and in flight. */
void rmq_session_outq_clear(struct rmq_session *s);

#endif
