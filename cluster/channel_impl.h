/* cluster/channel_impl.h: the channel's state, shared by channel.c (NNG,
 * the channel's thread) and link.c (the links the worker loops carry).
 * Nothing outside those two includes it.
 */
#ifndef RMQ_CLUSTER_CHANNEL_IMPL_H
#define RMQ_CLUSTER_CHANNEL_IMPL_H

#include <nng/nng.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/socket.h>

#include "channel.h"
#include "forward.h"
#include "members.h"

#include <urcu-qsbr.h>

struct rmq_links;
struct rmq_link;

#define LOG_WARNING 1
#define LOG_NOTICE 2
#define LOG_INFO 3
#define WORKERS_MAX 64 /* a stream's worker is one byte; the broker's cap */
#define PUMP_MS 50 /* the thread's sweep, while something waits */
#define IDLE_MS 1000 /* its wait when nothing does (NNG's timed waits cost) */
#define SENDBUF 128 /* batches NNG holds per push socket */
#define RECVBUF 256 /* batches NNG holds for the channel's thread */
#define DRAIN_MAX 256 /* batches taken before acknowledging */
#define MASK_WORDS (RMQ_MEMBERS_MAX / 64)
#define CONTROL 0xFF /* the worker byte of a control stream */
#define CLOSE_MS 2500 /* the wait for NNG's closes at a stop, in all */
#define FENCE_POLL_MS 2 /* the thread's wait while a fence is held */
#define BRISK_MS 10 /* its wait for a while after a peer is met */
#define BRISK_FOR_MS 2000 /* that while */
#define STALL_MS 5000 /* a peer up that takes nothing this long: redial */
#define FENCE_REC 11 /* 'R', kind, version, the fence's number (u64) */

/* A grace period of the index's readers (liburcu's call_rcu), waited for
 * by a fence: 0 waiting, 1 passed, 2 no longer wanted (freed by the
 * callback). */
struct fence_gp {
	struct rcu_head rcu;
	atomic_int state;
};

/* A peer as the channel knows it.  Made by the bus's thread when the
 * member is first met and kept until the channel is freed, so a worker
 * that read the pointer may use it whatever happens meanwhile. */
struct peer {
	char name[RMQ_NODE_NAME_MAX];
	char url[RMQ_NODE_URL_MAX]; /* dialled; the bus's thread's */
	_Atomic uint64_t epoch; /* as its hellos say */
	atomic_int up;
	atomic_int kick; /* its push socket connected again: resend now */
	_Atomic uint64_t sent_bytes, received_bytes; /* batches and acks */
	nng_socket push;
	/* Its dialer and URL: the bus's thread dials, the channel's thread
	 * dials again when the peer takes nothing (peer_stalled). */
	pthread_mutex_t dial_mu;
	nng_dialer dialer;
	int dialing;
	uint64_t redialed_ms; /* when the channel's thread last did */
	_Atomic uint64_t redials;
	/* What this node sends it, one stream per worker, each with its
	 * lock (the worker that fills it, and the channel's thread). */
	unsigned nstreams;
	pthread_mutex_t *mu;
	struct rmq_fwd_stream *out;
	/* What this node took from it, per its workers: the channel's
	 * thread's alone. */
	struct rmq_fwd_in in[WORKERS_MAX];
	_Atomic uint64_t taken, copies, gaps, lost;
	/* Streams taken from since the last acknowledgements went out (the
	 * channel's thread): bit w for worker w's, ack_ctl for control. */
	uint64_t ack_due;
	uint8_t ack_ctl;
	uint64_t ack_epoch; /* the sender's epoch those are for */
	/* The control stream, both ways; the highest tag it acknowledged
	 * (route changes it has applied, rmq_channel_applied). */
	struct rmq_channel *ch;
	_Atomic uint64_t ctl_applied;
	int ctl_synced; /* it acknowledged a snapshot of ours (this life) */
	pthread_mutex_t ctl_mu;
	struct rmq_fwd_stream ctl;
	uint64_t ctl_open_tag; /* the highest tag in its open batch */
	struct rmq_fwd_in ctl_in;
	/* Fences (rmq_channel_fence): the highest this node asked the peer
	 * for and the highest it passed (any thread); the peer's own, which
	 * this node passes (the channel's thread's): the highest asked, the
	 * one being worked on and its stage (0 none, 1 waiting for the
	 * grace period, 2 for the acknowledgements of what this node's
	 * streams to the peer held then). */
	_Atomic uint64_t fence_asked, fence_passed;
	atomic_int fence_reset; /* its epoch changed: its fences are moot */
	uint64_t fence_want, fence_cur;
	int fence_stage;
	struct fence_gp *fence_gp;
	uint64_t *fence_target; /* per worker stream: the seq to see acked */
	/* Links (link.h): the port the peer takes them on (0: none, its
	 * worker streams go over NNG), and per worker of this node the link
	 * its stream goes on (that worker's thread alone), its state (the
	 * links' thread dials it: LINK_NONE, LINK_DIALING, LINK_UP), and
	 * the nudge the channel's thread gives that worker while batches
	 * wait (resends, and a link that carries nothing). */
	_Atomic uint32_t lport;
	_Atomic uint32_t lgen; /* moves when its address does */
	struct rmq_link **wlink;
	atomic_int *lstate;
	/* Not dialled again before lretry (the links' thread's, and a
	 * worker's whose link the peer refused), lbackoff the wait after
	 * the next failure (the links' thread's). */
	_Atomic uint64_t *lretry;
	uint64_t *lbackoff;
	/* Its links' address, looked up once per address it moves to and
	 * again after a dial fails (the links' thread's). */
	struct sockaddr_storage laddr;
	socklen_t laddr_len;
	uint32_t laddr_gen;
	struct link_nudge {
		struct peer *pe;
		unsigned w;
		atomic_int queued;
	} * nudge;
	/* What this node took of its worker streams (in[]), when links
	 * carry them: taken on a worker, under this lock per stream. */
	pthread_mutex_t in_mu[WORKERS_MAX];
	/* Per worker of the peer, the link this node takes its stream on
	 * (the thread of the worker the stream maps to alone): a newer one
	 * retires it. */
	struct rmq_link *rlink[WORKERS_MAX];
	/* The links' address: when it was looked up, and whether a dial
	 * to it failed since (looked up again, at most every 2 s). */
	uint64_t laddr_at;
	int laddr_stale;
};

struct rmq_channel {
	struct rmq_broker *b;
	char self[RMQ_NODE_NAME_MAX];
	uint64_t epoch;
	unsigned nworkers;
	size_t stream_limit;
	nng_socket pull;
	int open, started, closed;
	uint16_t port;
	atomic_int live; /* sockets open: the hooks may send */
	atomic_int stop;
	pthread_t thread;
	nng_aio *wait; /* the thread's wait when idle; a stop ends it */
	const struct rmq_nng_tls *tls; /* NULL: plain TCP */
	_Atomic(struct peer *) peers[RMQ_MEMBERS_MAX]; /* by number - 1 */
	/* Per worker, the peers its turn added to, and its turns flushed
	 * (the worker's own). */
	uint64_t (*dirty)[MASK_WORDS];
	uint64_t *turn;
	uint64_t *xid; /* per worker: the last message identity given */
	_Atomic uint64_t bad, stale, expired, undecodable;
	_Atomic uint64_t foreign; /* batches of another version (logged) */
	_Atomic uint64_t control_sent, control_dropped, control_taken;
	atomic_int ctl_open; /* deferred control records wait for a seal */
	/* Time from a control batch's sending to the peer's acknowledgement
	 * (it is applied by then): the bound of the SUBACK window. */
	_Atomic uint64_t applied_le[12], applied_count, applied_sum_ms;
	int applied_moved; /* a peer's ctl_applied moved (this drain) */
	int taken_moved; /* a worker stream's acknowledgement moved */
	size_t queue_bytes;
	/* Messages taken in this drain, per worker of this node, handed
	 * over once at its end (the channel's thread). */
	struct pending {
		struct rmq_msg **m;
		uint32_t n, cap;
	} * pending;
	rmq_channel_control_fn control;
	void *control_arg;
	_Atomic uint64_t fence_seq; /* the last fence this node asked for */
	unsigned fences_held; /* peers' fences under way (the thread's) */
	_Atomic uint64_t fences_asked, fences_passed;
	atomic_int kicked; /* a push socket connected (NNG's thread) */
	_Atomic uint64_t brisk_until; /* short waits until then */
	struct rmq_links *links; /* NULL: worker streams go over NNG */
};

enum { LINK_NONE, LINK_DIALING, LINK_UP };

/* Whether worker streams to pe go over links. */
static inline int
peer_links(const struct rmq_channel *ch, const struct peer *pe)
{
	return ch->links != NULL &&
	    atomic_load_explicit(&pe->lport, memory_order_relaxed) != 0;
}

/* channel.c: a peer by name, its number (0: none). */
struct peer *rmq_channel_peer_named(struct rmq_channel *ch, const char *name);
uint32_t rmq_channel_peer_number(struct rmq_channel *ch, const struct peer *pe);

/* channel.c: a batch or acknowledgement refused (p, len: its bytes):
 * counted, and one of another version logged, the first few times. */
void rmq_channel_refused(struct rmq_channel *ch, const uint8_t *p, size_t len);

/* channel.c: a worker batch's messages (body, left: rmq_fwd_next's), read
 * into (*m)[*n...], grown as needed; counts what it drops.  -1 when the
 * array cannot grow (nothing taken). */
int rmq_channel_take(struct rmq_channel *ch, struct peer *pe, uint32_t number,
    uint32_t count, const uint8_t *body, size_t left, struct rmq_msg ***m,
    uint32_t *n, uint32_t *cap);

static inline struct peer *
peer_at(struct rmq_channel *ch, uint32_t number)
{
	if (number == 0 || number > RMQ_MEMBERS_MAX)
		return NULL;
	return atomic_load_explicit(&ch->peers[number - 1],
	    memory_order_acquire);
}

static inline void
bump(_Atomic uint64_t *c, uint64_t n)
{
	atomic_fetch_add_explicit(c, n, memory_order_relaxed);
}

#endif
