/* cluster/channel.c: forwarded messages between nodes over NNG push/pull
 * (channel.h), the streams of forward.h driven here.
 */
#include "channel.h"
#include "channel_impl.h"

#include <errno.h>
#include <nng/nng.h>
#include <nng/protocol/pipeline0/pull.h>
#include <nng/protocol/pipeline0/push.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cluster.h"
#include "emit.h"
#include "forward.h"
#include "grow.h"
#include "hash.h"
#include "link.h"
#include "members.h"
#include "msg.h"
#include "sock.h"
#include "wire.h"

#include <urcu-qsbr.h>

uint64_t
rmq_cluster_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

struct rmq_channel *
rmq_channel_new(struct rmq_broker *b, const char *self, uint64_t epoch,
    size_t queue_bytes, rmq_channel_control_fn control, void *control_arg)
{
	struct rmq_channel *ch = calloc(1, sizeof(*ch));
	if (ch == NULL)
		return NULL;
	ch->b = b;
	snprintf(ch->self, sizeof(ch->self), "%s", self);
	ch->epoch = epoch;
	ch->nworkers = rmq_cluster_workers(b);
	if (ch->nworkers > WORKERS_MAX)
		ch->nworkers = WORKERS_MAX;
	if (ch->nworkers == 0)
		ch->nworkers = 1;
	ch->stream_limit = queue_bytes / ch->nworkers;
	ch->queue_bytes = queue_bytes;
	ch->control = control;
	ch->control_arg = control_arg;
	ch->dirty = calloc(ch->nworkers, sizeof(*ch->dirty));
	ch->pending = calloc(ch->nworkers, sizeof(*ch->pending));
	ch->turn = calloc(ch->nworkers, sizeof(*ch->turn));
	ch->xid = calloc(ch->nworkers, sizeof(*ch->xid));
	if (ch->dirty == NULL || ch->pending == NULL || ch->turn == NULL ||
	    ch->xid == NULL) {
		free(ch->dirty);
		free(ch->pending);
		free(ch->turn);
		free(ch->xid);
		free(ch);
		return NULL;
	}
	return ch;
}

uint16_t
rmq_channel_port(const struct rmq_channel *ch)
{
	return ch->port;
}

/* ---- sending (workers, and the channel's thread) ---- */

static int
push_send(void *arg, const uint8_t *p, size_t len)
{
	struct peer *pe = arg;
	nng_msg *msg;
	if (nng_msg_alloc(&msg, len) != 0)
		return -ENOMEM;
	memcpy(nng_msg_body(msg), p, len);
	int rv = nng_sendmsg(pe->push, msg, NNG_FLAG_NONBLOCK);
	if (rv != 0)
		nng_msg_free(msg);
	else
		bump(&pe->sent_bytes, len);
	return rv;
}

/* Seal what worker w's turn put in the stream and send what waits. */
static void
stream_send(struct rmq_channel *ch, struct peer *pe, unsigned w)
{
	pthread_mutex_lock(&pe->mu[w]);
	(void)rmq_fwd_seal_at(&pe->out[w], 0, ch->turn[w] + 1);
	if (!atomic_load_explicit(&ch->live, memory_order_relaxed))
		;
	else if (peer_links(ch, pe))
		/* Its link, on this worker's loop; none up: it waits. */
		rmq_link_pump(pe->wlink[w], &pe->out[w], rmq_cluster_now_ms());
	else
		(void)rmq_fwd_pump(&pe->out[w], rmq_cluster_now_ms(), push_send,
		    pe);
	pthread_mutex_unlock(&pe->mu[w]);
}

int
rmq_channel_forward(struct rmq_channel *ch, unsigned worker, uint32_t number,
    const struct rmq_msg *m, const struct rmq_str *groups, uint32_t ngroups)
{
	struct peer *pe = peer_at(ch, number);
	if (pe == NULL || worker >= ch->nworkers)
		return 0; /* not met yet: its routes cannot be here either */
	size_t len = rmq_cluster_msg_size(m);
	if (len == 0)
		return 0; /* expired: delivered to no one anywhere */
	size_t glen = ngroups ? rmq_msg_groups_size(groups, ngroups) : 0;
	/* Its identity, the same to every peer (a moving session's two
	 * nodes tell its copies apart by it): given by the worker that
	 * routes it, before it is shared. */
	if (m->xid == 0)
		((struct rmq_msg *)m)->xid =
		    (uint64_t)worker << 56 | ++ch->xid[worker];
	struct rmq_fwd_stream *st = &pe->out[worker];
	uint8_t *at =
	    rmq_fwd_add(st, rmq_fwd_msg_head_size(m->xid) + glen + len);
	if (at == NULL)
		return -ENOSPC; /* past the bound (or no memory): counted */
	at = rmq_fwd_msg_head_put(at, m->xid, ngroups != 0);
	if (ngroups)
		rmq_msg_groups_encode(groups, ngroups, at);
	rmq_cluster_msg_encode(m, at + glen);
	ch->dirty[worker][(number - 1) / 64] |= 1ull << ((number - 1) % 64);
	if (rmq_fwd_full(st))
		stream_send(ch, pe, worker);
	return 0;
}

void
rmq_channel_flush(struct rmq_channel *ch, unsigned worker)
{
	if (worker >= ch->nworkers)
		return;
	for (unsigned i = 0; i < MASK_WORDS; i++) {
		uint64_t bits = ch->dirty[worker][i];
		ch->dirty[worker][i] = 0;
		for (; bits; bits &= bits - 1) {
			uint32_t number =
			    i * 64 + (uint32_t)__builtin_ctzll(bits) + 1;
			stream_send(ch, peer_at(ch, number), worker);
		}
	}
	ch->turn[worker]++;
}

uint64_t
rmq_channel_sent(const struct rmq_channel *ch, unsigned worker)
{
	return worker < ch->nworkers ? ch->turn[worker] + 1 : 0;
}

uint64_t
rmq_channel_taken(struct rmq_channel *ch, unsigned worker)
{
	if (worker >= ch->nworkers)
		return UINT64_MAX;
	/* Every turn flushed, but those a peer up still has to take. */
	uint64_t low = ch->turn[worker];
	for (unsigned i = 0; i < RMQ_MEMBERS_MAX; i++) {
		struct peer *pe = peer_at(ch, i + 1);
		if (pe == NULL || !atomic_load(&pe->up))
			continue;
		pthread_mutex_lock(&pe->mu[worker]);
		uint64_t t = rmq_fwd_waiting_tag(&pe->out[worker]);
		pthread_mutex_unlock(&pe->mu[worker]);
		if (t != 0 && t - 1 < low)
			low = t - 1;
	}
	return low;
}

/* ---- the control stream ---- */

/* The histogram's bounds, in milliseconds (the last one: +Inf). */
static const uint64_t applied_ms[] = { 1, 2, 5, 10, 25, 50, 100, 250, 500, 1000,
	2500 };

static void
control_acked(void *arg, uint64_t ms, uint64_t tag)
{
	struct peer *pe = arg;
	struct rmq_channel *ch = pe->ch;
	/* Under the stream's lock, on the channel's thread. */
	if (tag & RMQ_CHANNEL_TAG_SNAPSHOT) {
		pe->ctl_synced = 1;
		tag &= ~RMQ_CHANNEL_TAG_SNAPSHOT;
	} else if (!pe->ctl_synced) {
		tag = 0; /* taken before a snapshot: maybe not applied */
	}
	if (tag > atomic_load(&pe->ctl_applied)) {
		atomic_store(&pe->ctl_applied, tag);
		ch->applied_moved = 1; /* the channel's thread's */
	}
	unsigned i = 0;
	while (i < sizeof(applied_ms) / sizeof(applied_ms[0]) &&
	    ms > applied_ms[i])
		i++;
	bump(&ch->applied_le[i], 1);
	bump(&ch->applied_count, 1);
	bump(&ch->applied_sum_ms, ms);
}

/* Under pe's control lock: its open batch sealed with the highest tag of
 * what it holds (a snapshot's flag kept), and what waits sent. */
static void
control_seal(struct rmq_channel *ch, struct peer *pe, uint64_t tag)
{
	uint64_t plain = tag & ~RMQ_CHANNEL_TAG_SNAPSHOT;
	if (pe->ctl_open_tag > plain)
		tag = (tag & RMQ_CHANNEL_TAG_SNAPSHOT) | pe->ctl_open_tag;
	pe->ctl_open_tag = 0;
	uint64_t now = rmq_cluster_now_ms();
	(void)rmq_fwd_seal_at(&pe->ctl, now, tag);
	if (atomic_load_explicit(&ch->live, memory_order_relaxed))
		(void)rmq_fwd_pump(&pe->ctl, now, push_send, pe);
}

/* n records into one batch of pe's control stream, tagged. */
static int
control_one(struct rmq_channel *ch, struct peer *pe, const uint8_t *const *p,
    const size_t *len, unsigned n, uint64_t tag)
{
	unsigned sent = 0;
	pthread_mutex_lock(&pe->ctl_mu);
	for (; sent < n; sent++) {
		uint8_t *at = rmq_fwd_add(&pe->ctl, len[sent]);
		if (at == NULL)
			break;
		memcpy(at, p[sent], len[sent]);
	}
	control_seal(ch, pe, tag);
	pthread_mutex_unlock(&pe->ctl_mu);
	bump(&ch->control_sent, sent);
	bump(&ch->control_dropped, n - sent);
	return sent == n ? 0 : -ENOSPC;
}

int
rmq_channel_control_tagged(struct rmq_channel *ch, uint32_t number,
    const uint8_t *const *p, const size_t *len, unsigned n, uint64_t tag)
{
	if (number != 0) {
		struct peer *pe = peer_at(ch, number);
		return pe ? control_one(ch, pe, p, len, n, tag) : -ENOENT;
	}
	int rc = 0;
	for (unsigned i = 0; i < RMQ_MEMBERS_MAX; i++) {
		struct peer *pe = peer_at(ch, i + 1);
		if (pe != NULL && atomic_load(&pe->up) &&
		    control_one(ch, pe, p, len, n, tag) != 0)
			rc = -ENOSPC;
	}
	return rc;
}

int
rmq_channel_control_n(struct rmq_channel *ch, uint32_t number,
    const uint8_t *const *p, const size_t *len, unsigned n)
{
	return rmq_channel_control_tagged(ch, number, p, len, n, 0);
}

int
rmq_channel_control(struct rmq_channel *ch, uint32_t number, const uint8_t *p,
    size_t len)
{
	return rmq_channel_control_tagged(ch, number, &p, &len, 1, 0);
}

uint64_t
rmq_channel_uid(struct rmq_channel *ch, uint32_t number)
{
	const char *name = ch->self;
	uint64_t epoch = ch->epoch;
	if (number != 0) {
		struct peer *pe = peer_at(ch, number);
		if (pe == NULL)
			return 0;
		name = pe->name;
		epoch = atomic_load(&pe->epoch);
	}
	return rmq_hash64(name, strlen(name)) ^ (epoch * 0x9E3779B97F4A7C15ull);
}

unsigned
rmq_channel_unacked(struct rmq_channel *ch)
{
	unsigned n = 0;
	for (unsigned i = 0; i < RMQ_MEMBERS_MAX; i++) {
		struct peer *pe = peer_at(ch, i + 1);
		if (pe == NULL || !atomic_load(&pe->up))
			continue;
		size_t kept = atomic_load(&pe->ctl.kept);
		for (unsigned w = 0; w < ch->nworkers; w++)
			kept += atomic_load(&pe->out[w].kept);
		n += kept != 0;
	}
	return n;
}

unsigned
rmq_channel_up(struct rmq_channel *ch, uint64_t *mask)
{
	unsigned n = 0;
	memset(mask, 0, RMQ_MEMBERS_MAX / 8);
	for (unsigned i = 0; i < RMQ_MEMBERS_MAX; i++) {
		struct peer *pe = peer_at(ch, i + 1);
		if (pe == NULL || !atomic_load(&pe->up))
			continue;
		mask[i / 64] |= 1ull << (i % 64);
		n++;
	}
	return n;
}

int
rmq_channel_control_defer(struct rmq_channel *ch, const uint8_t *p, size_t len,
    uint64_t tag)
{
	unsigned sent = 0, dropped = 0;
	for (unsigned i = 0; i < RMQ_MEMBERS_MAX; i++) {
		struct peer *pe = peer_at(ch, i + 1);
		if (pe == NULL || !atomic_load(&pe->up))
			continue;
		pthread_mutex_lock(&pe->ctl_mu);
		uint8_t *at = rmq_fwd_add(&pe->ctl, len);
		if (at != NULL) {
			memcpy(at, p, len);
			if (tag > pe->ctl_open_tag)
				pe->ctl_open_tag = tag;
			sent++;
		} else {
			dropped++;
		}
		if (rmq_fwd_full(&pe->ctl))
			control_seal(ch, pe, 0);
		pthread_mutex_unlock(&pe->ctl_mu);
	}
	/* After the records are in: a seal that clears the flag before this
	 * store leaves it set for the next one, which seals them. */
	atomic_store(&ch->ctl_open, 1);
	bump(&ch->control_sent, sent);
	bump(&ch->control_dropped, dropped);
	return dropped ? -ENOSPC : 0;
}

void
rmq_channel_control_seal(struct rmq_channel *ch)
{
	if (!atomic_load_explicit(&ch->ctl_open, memory_order_relaxed) ||
	    !atomic_exchange(&ch->ctl_open, 0))
		return;
	for (unsigned i = 0; i < RMQ_MEMBERS_MAX; i++) {
		struct peer *pe = peer_at(ch, i + 1);
		if (pe == NULL)
			continue;
		pthread_mutex_lock(&pe->ctl_mu);
		control_seal(ch, pe, 0);
		pthread_mutex_unlock(&pe->ctl_mu);
	}
}

uint64_t
rmq_channel_peer_queued(struct rmq_channel *ch, uint32_t number)
{
	struct peer *pe = peer_at(ch, number);
	if (pe == NULL)
		return 0;
	uint64_t kept = atomic_load(&pe->ctl.kept);
	for (unsigned w = 0; w < pe->nstreams; w++)
		kept += atomic_load(&pe->out[w].kept);
	return kept;
}

uint64_t
rmq_channel_peer_applied(struct rmq_channel *ch, uint32_t number)
{
	struct peer *pe = peer_at(ch, number);
	return pe ? atomic_load(&pe->ctl_applied) : 0;
}

uint64_t
rmq_channel_applied(struct rmq_channel *ch)
{
	uint64_t low = UINT64_MAX;
	for (unsigned i = 0; i < RMQ_MEMBERS_MAX; i++) {
		struct peer *pe = peer_at(ch, i + 1);
		if (pe == NULL || !atomic_load(&pe->up))
			continue;
		uint64_t a = atomic_load(&pe->ctl_applied);
		if (a < low)
			low = a;
	}
	return low;
}

/* ---- fences ---- */

static void
fence_gp_passed(struct rcu_head *h)
{
	struct fence_gp *g = caa_container_of(h, struct fence_gp, rcu);
	if (atomic_exchange(&g->state, 1) == 2)
		free(g);
}

static void
fence_gp_drop(struct fence_gp *g)
{
	if (g != NULL && atomic_exchange(&g->state, 2) == 1)
		free(g);
}

static void
fence_put(uint8_t *rec, uint8_t kind, uint64_t f)
{
	struct rmq_wout o = { rec, 0, FENCE_REC, 0 };
	rmq_wput(&o, (const uint8_t[]){ 'R', kind, 1 }, 3);
	rmq_wput_u(&o, f, 8);
}

static void
store_max(_Atomic uint64_t *at, uint64_t v)
{
	uint64_t old = atomic_load(at);
	while (old < v && !atomic_compare_exchange_weak(at, &old, v))
		;
}

static void
fence_ask(struct rmq_channel *ch, struct peer *pe, uint64_t f)
{
	uint8_t rec[FENCE_REC];
	const uint8_t *p = rec;
	size_t len = sizeof(rec);
	fence_put(rec, 'W', f);
	if (control_one(ch, pe, &p, &len, 1, 0) == 0) {
		store_max(&pe->fence_asked, f);
		bump(&ch->fences_asked, 1);
	}
}

uint64_t
rmq_channel_fence(struct rmq_channel *ch)
{
	uint64_t f = atomic_fetch_add(&ch->fence_seq, 1) + 1;
	for (unsigned i = 0; i < RMQ_MEMBERS_MAX; i++) {
		struct peer *pe = peer_at(ch, i + 1);
		if (pe != NULL && atomic_load(&pe->up))
			fence_ask(ch, pe, f);
	}
	return f;
}

int
rmq_channel_fenced(struct rmq_channel *ch, uint64_t f)
{
	int passed = 1;
	for (unsigned i = 0; i < RMQ_MEMBERS_MAX; i++) {
		struct peer *pe = peer_at(ch, i + 1);
		if (pe == NULL || !atomic_load(&pe->up) ||
		    atomic_load(&pe->fence_passed) >= f)
			continue;
		passed = 0;
		/* Met since, back from down, or in a new life: asked now. */
		if (atomic_load(&pe->fence_asked) < f)
			fence_ask(ch, pe, f);
	}
	return passed;
}

/* The peer's grace period is asked for; without memory, at the next
 * look. */
static void
fence_gp_begin(struct peer *pe)
{
	struct fence_gp *g = calloc(1, sizeof(*g));
	if (g == NULL)
		return;
	pe->fence_gp = g;
	rcu_thread_online();
	call_rcu(&g->rcu, fence_gp_passed);
	rcu_thread_offline();
}

static void
fence_start(struct rmq_channel *ch, struct peer *pe)
{
	pe->fence_cur = pe->fence_want;
	pe->fence_stage = 1;
	ch->fences_held++;
	fence_gp_begin(pe);
}

static void
fence_end(struct rmq_channel *ch, struct peer *pe)
{
	fence_gp_drop(pe->fence_gp);
	pe->fence_gp = NULL;
	pe->fence_stage = 0;
	ch->fences_held--;
}

/* A new life of the peer, or the peer down: what it asked is forgotten
 * (a fence asked again is worked on again). */
static void
fence_forget(struct rmq_channel *ch, struct peer *pe)
{
	if (pe->fence_stage)
		fence_end(ch, pe);
	pe->fence_want = pe->fence_cur = 0;
}

/* The channel's thread: a peer asks for a fence (its control stream, in
 * order, so after every route change it sent before). */
static void
fence_asked_by(struct rmq_channel *ch, struct peer *pe, uint64_t f)
{
	if (atomic_exchange(&pe->fence_reset, 0))
		fence_forget(ch, pe);
	if (f <= pe->fence_want)
		return;
	pe->fence_want = f;
	if (pe->fence_stage == 0)
		fence_start(ch, pe);
}

/* The channel's thread: every peer's fence taken as far as it goes.  A
 * fence passes once every worker of this node has ended the turn it was
 * in when the fence came (a grace period of the index's readers: no
 * message is routed any more on an index older than the fence), and the
 * peer has acknowledged every batch this node's workers sealed for it by
 * then; then it is told, on this node's control stream to it. */
static void
fences_run(struct rmq_channel *ch)
{
	for (unsigned i = 0; i < RMQ_MEMBERS_MAX && ch->fences_held; i++) {
		struct peer *pe = peer_at(ch, i + 1);
		if (pe == NULL)
			continue;
		if (atomic_exchange(&pe->fence_reset, 0) ||
		    (pe->fence_stage && !atomic_load(&pe->up))) {
			fence_forget(ch, pe);
			continue;
		}
		if (pe->fence_stage == 1) {
			if (pe->fence_gp == NULL)
				fence_gp_begin(pe);
			if (pe->fence_gp == NULL ||
			    atomic_load(&pe->fence_gp->state) != 1)
				continue;
			free(pe->fence_gp);
			pe->fence_gp = NULL;
			for (unsigned w = 0; w < pe->nstreams; w++) {
				pthread_mutex_lock(&pe->mu[w]);
				pe->fence_target[w] = pe->out[w].next_seq - 1;
				pthread_mutex_unlock(&pe->mu[w]);
			}
			pe->fence_stage = 2;
		}
		if (pe->fence_stage != 2)
			continue;
		int acked = 1;
		for (unsigned w = 0; acked && w < pe->nstreams; w++) {
			pthread_mutex_lock(&pe->mu[w]);
			acked = pe->out[w].acked >= pe->fence_target[w];
			pthread_mutex_unlock(&pe->mu[w]);
		}
		uint8_t rec[FENCE_REC];
		const uint8_t *p = rec;
		size_t len = sizeof(rec);
		fence_put(rec, 'P', pe->fence_cur);
		if (!acked || control_one(ch, pe, &p, &len, 1, 0) != 0)
			continue;
		bump(&ch->fences_passed, 1);
		fence_end(ch, pe);
		if (pe->fence_want > pe->fence_cur)
			fence_start(ch, pe);
	}
}

/* A fence record ('W' asked, 'P' passed) taken from pe's control
 * stream; 0 when the record is none. */
static int
fence_record(struct rmq_channel *ch, struct peer *pe, const uint8_t *p,
    size_t len)
{
	if (len != FENCE_REC || p[0] != 'R' || p[2] != 1 ||
	    (p[1] != 'W' && p[1] != 'P'))
		return 0;
	struct rmq_win in = { p + 3, len - 3, 0 };
	uint64_t f = rmq_wget_u(&in, 8);
	if (p[1] == 'W')
		fence_asked_by(ch, pe, f);
	else
		store_max(&pe->fence_passed, f);
	return 1;
}

/* ---- members (the bus's thread) ---- */

/* NNG's thread: the push socket has a new connection to the peer.  What
 * the one before carried when it broke is lost (a reset loses a TCP
 * connection's buffers), so the channel's thread sends everything not
 * acknowledged again at its next pump rather than after the resend
 * interval, which may have grown to seconds while the link was bad. */
static void
push_connected(nng_pipe p, nng_pipe_ev ev, void *arg)
{
	(void)p;
	(void)ev;
	struct peer *pe = arg;
	atomic_store(&pe->kick, 1);
	/* Soon, not at the end of an idle wait (a second): a peer met anew
	 * waits for this node's snapshot of routes before it is ready.  No
	 * NNG call here (NNG's thread, its locks held): the channel's thread
	 * waits briefly for a while after a peer is met or moved
	 * (rmq_channel_peer), and sees this then. */
	atomic_store(&pe->ch->kicked, 1);
}

static void
peer_arrays_free(struct peer *pe)
{
	free(pe->mu);
	free(pe->out);
	free(pe->fence_target);
	free(pe->wlink);
	free(pe->lstate);
	free(pe->lretry);
	free(pe->lbackoff);
	free(pe->nudge);
}

static struct peer *
peer_new(struct rmq_channel *ch, const char *name)
{
	struct peer *pe = calloc(1, sizeof(*pe));
	if (pe == NULL)
		return NULL;
	snprintf(pe->name, sizeof(pe->name), "%s", name);
	pe->nstreams = ch->nworkers;
	pe->mu = calloc(ch->nworkers, sizeof(*pe->mu));
	pe->out = calloc(ch->nworkers, sizeof(*pe->out));
	pe->fence_target = calloc(ch->nworkers, sizeof(*pe->fence_target));
	pe->wlink = calloc(ch->nworkers, sizeof(*pe->wlink));
	pe->lstate = calloc(ch->nworkers, sizeof(*pe->lstate));
	pe->lretry = calloc(ch->nworkers, sizeof(*pe->lretry));
	pe->lbackoff = calloc(ch->nworkers, sizeof(*pe->lbackoff));
	pe->nudge = calloc(ch->nworkers, sizeof(*pe->nudge));
	if (pe->mu == NULL || pe->out == NULL || pe->fence_target == NULL ||
	    pe->wlink == NULL || pe->lstate == NULL || pe->lretry == NULL ||
	    pe->lbackoff == NULL || pe->nudge == NULL ||
	    nng_push0_open(&pe->push) != 0) {
		peer_arrays_free(pe);
		free(pe);
		return NULL;
	}
	for (unsigned w = 0; w < WORKERS_MAX; w++)
		pthread_mutex_init(&pe->in_mu[w], NULL);
	for (unsigned w = 0; w < ch->nworkers; w++)
		pe->nudge[w] = (struct link_nudge){ pe, w, 0 };
	nng_pipe_notify(pe->push, NNG_PIPE_EV_ADD_POST, push_connected, pe);
	nng_socket_set_ms(pe->push, NNG_OPT_RECONNMINT, 100);
	nng_socket_set_ms(pe->push, NNG_OPT_RECONNMAXT, 1000);
	nng_socket_set_int(pe->push, NNG_OPT_SENDBUF, SENDBUF);
	for (unsigned w = 0; w < ch->nworkers; w++) {
		pthread_mutex_init(&pe->mu[w], NULL);
		rmq_fwd_stream_init(&pe->out[w], ch->self, ch->epoch,
		    (uint8_t)w, ch->stream_limit, RMQ_CHANNEL_RESEND_MS);
	}
	pthread_mutex_init(&pe->ctl_mu, NULL);
	pthread_mutex_init(&pe->dial_mu, NULL);
	rmq_fwd_stream_init(&pe->ctl, ch->self, ch->epoch, CONTROL,
	    ch->queue_bytes, RMQ_CHANNEL_RESEND_MS);
	pe->ch = ch;
	pe->ctl.on_acked = control_acked;
	pe->ctl.on_acked_arg = pe;
	return pe;
}

static void
peer_free(struct peer *pe)
{
	for (unsigned w = 0; w < pe->nstreams; w++) {
		rmq_fwd_stream_fini(&pe->out[w]);
		pthread_mutex_destroy(&pe->mu[w]);
	}
	rmq_fwd_stream_fini(&pe->ctl);
	pthread_mutex_destroy(&pe->ctl_mu);
	pthread_mutex_destroy(&pe->dial_mu);
	for (unsigned w = 0; w < WORKERS_MAX; w++)
		pthread_mutex_destroy(&pe->in_mu[w]);
	fence_gp_drop(pe->fence_gp);
	peer_arrays_free(pe);
	free(pe);
}

/* Under dial_mu: a new dialer to pe->url, the one before closed (NNG
 * reaps it later: nothing here waits). */
static void
peer_dial(struct peer *pe)
{
	if (pe->dialing)
		nng_dialer_close(pe->dialer);
	pe->dialing = 0;
	int rv = rmq_nng_dial(pe->push, pe->url, &pe->dialer, pe->ch->tls);
	if (rv == 0)
		pe->dialing = 1;
	else
		rmq_cluster_log(LOG_WARNING,
		    "cannot dial node %s's channel at %s: %s", pe->name,
		    pe->url, nng_strerror(rv));
}

/* The channel's thread: a peer that is up (its hellos come) but has taken
 * nothing this node sent it for STALL_MS is dialled again.  NNG 1.5.2
 * redials a lost connection only once its reaper has destroyed the old
 * one, and that reaper can wedge for good (a connection closed while a
 * message was half read: docs/clustering.md); then no dialer of the
 * process ever redials again, and this is what keeps the channel
 * going.  At most once per STALL_MS per peer. */
static void
peer_stalled(struct peer *pe, uint64_t waited, uint64_t now)
{
	if (waited < STALL_MS || now - pe->redialed_ms < STALL_MS)
		return;
	pthread_mutex_lock(&pe->dial_mu);
	if (pe->url[0]) {
		pe->redialed_ms = now;
		atomic_fetch_add(&pe->redials, 1);
		rmq_cluster_log(LOG_WARNING,
		    "channel to node %s: nothing taken for %llu ms while it is up; dialling %s again",
		    pe->name, (unsigned long long)waited, pe->url);
		peer_dial(pe);
	}
	pthread_mutex_unlock(&pe->dial_mu);
}

void
rmq_channel_peer(struct rmq_channel *ch, uint32_t number, const char *name,
    uint64_t epoch, const char *url, uint16_t lport)
{
	if (number == 0 || number > RMQ_MEMBERS_MAX || !atomic_load(&ch->live))
		return;
	struct peer *pe = peer_at(ch, number);
	if (pe == NULL) {
		if ((pe = peer_new(ch, name)) == NULL)
			return;
		atomic_store_explicit(&ch->peers[number - 1], pe,
		    memory_order_release);
	}
	/* Met, back, moved or in a new life: its push socket connects
	 * soon, looked for at a brisk pace. */
	if (strcmp(pe->url, url) != 0 || atomic_load(&pe->epoch) != epoch ||
	    !atomic_load(&pe->up))
		atomic_store(&ch->brisk_until,
		    rmq_cluster_now_ms() + BRISK_FOR_MS);
	uint32_t gen0 = atomic_load(&pe->lgen);
	pthread_mutex_lock(&pe->dial_mu);
	if (strcmp(pe->url, url) != 0) {
		snprintf(pe->url, sizeof(pe->url), "%s", url);
		peer_dial(pe);
		atomic_fetch_add(&pe->lgen, 1);
	}
	pthread_mutex_unlock(&pe->dial_mu);
	/* Its links' port (0: it takes none, or links are off here). */
	if (atomic_exchange(&pe->lport, ch->links ? lport : 0) !=
	    (ch->links ? lport : 0))
		atomic_fetch_add(&pe->lgen, 1);
	int new_life = atomic_load(&pe->epoch) != epoch;
	if (new_life) {
		uint64_t lost = 0, now = rmq_cluster_now_ms();
		for (unsigned w = 0; w < pe->nstreams; w++) {
			pthread_mutex_lock(&pe->mu[w]);
			lost += rmq_fwd_peer(&pe->out[w], epoch, now);
			pthread_mutex_unlock(&pe->mu[w]);
		}
		/* Route changes for its old life are moot: it asks for a
		 * snapshot. */
		pthread_mutex_lock(&pe->ctl_mu);
		(void)rmq_fwd_peer(&pe->ctl, epoch, now);
		atomic_store(&pe->ctl_applied, 0);
		pe->ctl_synced = 0;
		pthread_mutex_unlock(&pe->ctl_mu);
		/* Its new life is asked again; what its old one asked is
		 * moot. */
		atomic_store(&pe->fence_asked, 0);
		atomic_store(&pe->fence_passed, 0);
		atomic_store(&pe->fence_reset, 1);
		if (lost) {
			bump(&pe->lost, lost);
			rmq_cluster_log(LOG_NOTICE,
			    "node %s restarted: %llu messages it had not taken are lost",
			    name, (unsigned long long)lost);
		}
		atomic_store(&pe->epoch, epoch);
	}
	int was_up = atomic_exchange(&pe->up, 1);
	int moved = atomic_load(&pe->lgen) != gen0 || new_life;
	/* Its links dialled now (a message routed to it meanwhile waits
	 * in its stream for them). */
	if (!was_up || moved) {
		for (unsigned w = 0; w < pe->nstreams; w++)
			atomic_store(&pe->lretry[w], 0);
		rmq_links_wake(ch->links);
	}
}

void
rmq_channel_down(struct rmq_channel *ch, uint32_t number)
{
	struct peer *pe = peer_at(ch, number);
	if (pe != NULL) {
		atomic_store(&pe->up, 0);
		/* Asked again when it is back: its side forgets. */
		atomic_store(&pe->fence_asked, 0);
		/* What waited for it (acknowledgements) no longer does. */
		rmq_cluster_applied_changed(ch->b);
	}
}

/* ---- the channel's thread ---- */

struct peer *
rmq_channel_peer_named(struct rmq_channel *ch, const char *name)
{
	for (unsigned i = 0; i < RMQ_MEMBERS_MAX; i++) {
		struct peer *pe = peer_at(ch, i + 1);
		if (pe != NULL && strcmp(pe->name, name) == 0)
			return pe;
	}
	return NULL;
}

uint32_t
rmq_channel_peer_number(struct rmq_channel *ch, const struct peer *pe)
{
	for (uint32_t i = 0; i < RMQ_MEMBERS_MAX; i++)
		if (peer_at(ch, i + 1) == pe)
			return i + 1;
	return 0;
}

static void
send_ack(struct rmq_channel *ch, struct peer *pe, uint8_t worker,
    const struct rmq_fwd_in *in)
{
	uint8_t buf[64 + RMQ_NODE_NAME_MAX];
	size_t k = rmq_fwd_ack_encode(buf, sizeof(buf), ch->self, ch->epoch,
	    in->epoch, worker, rmq_fwd_in_acked(in));
	if (k)
		(void)push_send(pe, buf, k);
}

/* The end of a drain: one acknowledgement per stream taken from (however
 * many of its batches came), and one hand-over per worker of what they
 * hold. */
static void
drain_end(struct rmq_channel *ch)
{
	for (unsigned i = 0; i < RMQ_MEMBERS_MAX; i++) {
		struct peer *pe = peer_at(ch, i + 1);
		if (pe == NULL || (pe->ack_due == 0 && !pe->ack_ctl))
			continue;
		for (uint64_t due = pe->ack_due; due; due &= due - 1) {
			unsigned w = (unsigned)__builtin_ctzll(due);
			pthread_mutex_lock(&pe->in_mu[w]);
			struct rmq_fwd_in in = pe->in[w];
			pthread_mutex_unlock(&pe->in_mu[w]);
			send_ack(ch, pe, (uint8_t)w, &in);
		}
		if (pe->ack_ctl)
			send_ack(ch, pe, CONTROL, &pe->ctl_in);
		pe->ack_due = 0;
		pe->ack_ctl = 0;
	}
	if (ch->applied_moved || ch->taken_moved) {
		ch->applied_moved = ch->taken_moved = 0;
		rmq_cluster_applied_changed(ch->b);
	}
	for (unsigned w = 0; w < ch->nworkers; w++) {
		struct pending *q = &ch->pending[w];
		if (q->n == 0)
			continue;
		(void)rmq_cluster_publish(ch->b, w, q->m, q->n);
		q->m = NULL;
		q->n = q->cap = 0;
	}
}

int
rmq_channel_take(struct rmq_channel *ch, struct peer *pe, uint32_t number,
    uint32_t count, const uint8_t *body, size_t left, struct rmq_msg ***m,
    uint32_t *n, uint32_t *cap)
{
	if ((uint64_t)*n + count > UINT32_MAX ||
	    rmq_grow(m, cap, *n + count, sizeof(**m), 256, UINT32_MAX) != 0)
		return -1;
	uint32_t k = 0;
	const uint8_t *p;
	size_t len;
	uint64_t now = rmq_cluster_now_ms();
	while (k < count && rmq_fwd_next(&body, &left, &p, &len) == 1) {
		const char *why =
		    "a malformed head or list of shared subscriptions";
		/* Its head (forward.h), its shared groups when flagged, then
		 * the message. */
		uint64_t xid = 0;
		int flagged = 0;
		int h = rmq_fwd_msg_head_get(p, len, &xid, &flagged);
		int ok = h >= 0;
		size_t glen = 0;
		if (ok) {
			p += h;
			len -= (size_t)h;
		}
		if (ok && flagged)
			ok = (glen = rmq_msg_groups_check(p, len)) != 0;
		uint8_t *groups = NULL;
		int rc = -EINVAL;
		struct rmq_msg **at = &(*m)[*n + k];
		if (ok && glen > 2 && (groups = malloc(glen)) != NULL)
			memcpy(groups, p, glen);
		if (ok && (glen <= 2 || groups != NULL))
			rc = rmq_cluster_msg_decode(p + glen, len - glen,
			    RMQ_CLUSTER_OWNER(number), now, at, &why);
		else if (ok)
			why = NULL; /* no memory */
		if (rc == 0) {
			(*at)->groups = groups;
			(*at)->xid = xid;
			k++;
		} else if (rc == -ETIME) {
			free(groups);
			bump(&ch->expired, 1);
		} else {
			free(groups);
			if (atomic_fetch_add(&ch->undecodable, 1) < 10)
				rmq_cluster_log(LOG_WARNING,
				    "a message from node %s dropped: %s",
				    pe->name, why ? why : "out of memory");
		}
	}
	bump(&pe->taken, k);
	*n += k;
	return 0;
}

/* A batch's messages to the broker, on the worker its stream maps to, so
 * that one publisher's messages keep their order. */
static void
take_batch(struct rmq_channel *ch, struct peer *pe, uint32_t number,
    const struct rmq_fwd_head *h, const uint8_t *body, size_t left)
{
	unsigned w = (number * 31u + h->worker) % ch->nworkers;
	struct pending *q = &ch->pending[w];
	(void)rmq_channel_take(ch, pe, number, h->count, body, left, &q->m,
	    &q->n, &q->cap);
}

/* A control batch's records to the bus's handler, in order. */
static void
take_control(struct rmq_channel *ch, struct peer *pe, const uint8_t *body,
    size_t left)
{
	uint32_t number = rmq_channel_peer_number(ch, pe);
	const uint8_t *p;
	size_t len;
	while (rmq_fwd_next(&body, &left, &p, &len) == 1) {
		bump(&ch->control_taken, 1);
		if (fence_record(ch, pe, p, len))
			continue;
		if (ch->control)
			ch->control(ch->control_arg, number, p, len);
	}
}

void
rmq_channel_refused(struct rmq_channel *ch, const uint8_t *p, size_t len)
{
	bump(&ch->bad, 1);
	char name[RMQ_NODE_NAME_MAX + 1];
	int v = rmq_fwd_foreign(p, len, name, sizeof(name));
	if (v && atomic_fetch_add(&ch->foreign, 1) < 10)
		rmq_cluster_log(LOG_WARNING,
		    "node %s sends forwarded messages in wire version %d, this node reads version %d: refused (the nodes of a cluster run builds of one version; docs/clustering.md, \"Versions\")",
		    name, v, RMQ_FWD_VERSION);
}

static void
read_batch(struct rmq_channel *ch, const uint8_t *p, size_t len)
{
	struct rmq_fwd_head h;
	const uint8_t *body;
	size_t blen;
	if (rmq_fwd_batch_decode(p, len, &h, &body, &blen) != 0 ||
	    (h.worker >= WORKERS_MAX && h.worker != CONTROL)) {
		rmq_channel_refused(ch, p, len);
		return;
	}
	struct peer *pe = rmq_channel_peer_named(ch, h.name);
	/* Not met yet, or for another life of either node: it comes again
	 * once both sides agree. */
	if (pe == NULL || h.to_epoch != ch->epoch ||
	    h.epoch != atomic_load(&pe->epoch)) {
		bump(&ch->stale, 1);
		return;
	}
	bump(&pe->received_bytes, len);
	int ctl = h.worker == CONTROL;
	struct rmq_fwd_in *in = ctl ? &pe->ctl_in : &pe->in[h.worker];
	/* A worker stream's: a link may take it too (link.c). */
	if (!ctl)
		pthread_mutex_lock(&pe->in_mu[h.worker]);
	enum rmq_fwd_verdict v = rmq_fwd_in_check(in, h.epoch, h.seq);
	if (v == RMQ_FWD_TAKE && ctl)
		take_control(ch, pe, body, blen);
	else if (v == RMQ_FWD_TAKE)
		take_batch(ch, pe, rmq_channel_peer_number(ch, pe), &h, body,
		    blen);
	else if (v == RMQ_FWD_COPY)
		bump(&pe->copies, 1);
	else
		bump(&pe->gaps, 1);
	if (!ctl)
		pthread_mutex_unlock(&pe->in_mu[h.worker]);
	if (v == RMQ_FWD_GAP)
		return;
	if (ctl)
		pe->ack_ctl = 1;
	else
		pe->ack_due |= 1ull << h.worker;
}

static void
read_ack(struct rmq_channel *ch, const uint8_t *p, size_t len)
{
	struct rmq_fwd_head h;
	if (rmq_fwd_ack_decode(p, len, &h) != 0) {
		rmq_channel_refused(ch, p, len);
		return;
	}
	struct peer *pe = rmq_channel_peer_named(ch, h.name);
	if (pe == NULL || h.to_epoch != ch->epoch ||
	    (h.worker >= pe->nstreams && h.worker != CONTROL)) {
		bump(&ch->stale, 1);
		return;
	}
	bump(&pe->received_bytes, len);
	uint64_t now = rmq_cluster_now_ms();
	pthread_mutex_t *mu =
	    h.worker == CONTROL ? &pe->ctl_mu : &pe->mu[h.worker];
	struct rmq_fwd_stream *st =
	    h.worker == CONTROL ? &pe->ctl : &pe->out[h.worker];
	pthread_mutex_lock(mu);
	uint64_t before = st->acked;
	rmq_fwd_ack(st, h.epoch, h.seq, now);
	if (st->acked != before && h.worker != CONTROL)
		ch->taken_moved = 1;
	/* A worker stream on links is sent by its worker only. */
	if (h.worker == CONTROL || !peer_links(ch, pe))
		(void)rmq_fwd_pump(st, now, push_send, pe);
	pthread_mutex_unlock(mu);
}

/* Every stream to a peer that is up: what waits goes, and again what has
 * not been acknowledged for the resend interval. */
static int
pump_all(struct rmq_channel *ch, uint64_t now)
{
	int waits = 0;
	rmq_channel_control_seal(ch); /* what no worker's turn sealed */
	for (unsigned i = 0; i < RMQ_MEMBERS_MAX; i++) {
		struct peer *pe = peer_at(ch, i + 1);
		if (pe == NULL || !atomic_load(&pe->up))
			continue;
		int kick = atomic_exchange(&pe->kick, 0);
		uint64_t waited = 0, wt;
		for (unsigned w = 0; w < pe->nstreams && peer_links(ch, pe);
		     w++) {
			/* Its worker sends them, and looks after the link. */
			pthread_mutex_lock(&pe->mu[w]);
			int due = pe->out[w].head != NULL;
			pthread_mutex_unlock(&pe->mu[w]);
			if (due)
				rmq_link_nudge(ch, pe, w);
			waits |= due;
		}
		for (unsigned w = 0; w < pe->nstreams && !peer_links(ch, pe);
		     w++) {
			pthread_mutex_lock(&pe->mu[w]);
			if (kick)
				rmq_fwd_kick(&pe->out[w], now);
			(void)rmq_fwd_pump(&pe->out[w], now, push_send, pe);
			waits |= pe->out[w].head != NULL;
			if ((wt = rmq_fwd_waited(&pe->out[w], now)) > waited)
				waited = wt;
			pthread_mutex_unlock(&pe->mu[w]);
		}
		pthread_mutex_lock(&pe->ctl_mu);
		if (kick)
			rmq_fwd_kick(&pe->ctl, now);
		(void)rmq_fwd_pump(&pe->ctl, now, push_send, pe);
		waits |= pe->ctl.head != NULL;
		if ((wt = rmq_fwd_waited(&pe->ctl, now)) > waited)
			waited = wt;
		pthread_mutex_unlock(&pe->ctl_mu);
		peer_stalled(pe, waited, now);
	}
	return waits;
}

static void *
channel_run(void *arg)
{
	struct rmq_channel *ch = arg;
	uint64_t next_pump = 0;
	/* The control handler writes the index (routes.h): a reader of
	 * liburcu's QSBR flavour, online only inside it. */
	rcu_register_thread();
	rcu_thread_offline();
	/* Take what is there without waiting; when nothing is left (or
	 * after DRAIN_MAX), acknowledge and hand over once, then wait. */
	int waiting = 0, wait_ms = PUMP_MS;
	unsigned taken = 0;
	while (!atomic_load(&ch->stop)) {
		nng_msg *msg = NULL;
		int rv;
		if (waiting) {
			nng_aio_set_timeout(ch->wait,
			    ch->fences_held || atomic_load(&ch->kicked)
				? FENCE_POLL_MS
				: rmq_cluster_now_ms() <
				    atomic_load(&ch->brisk_until)
				? BRISK_MS
				: wait_ms);
			nng_recv_aio(ch->pull, ch->wait);
			nng_aio_wait(ch->wait);
			rv = nng_aio_result(ch->wait);
			if (rv == 0)
				msg = nng_aio_get_msg(ch->wait);
		} else {
			rv = nng_recvmsg(ch->pull, &msg, NNG_FLAG_NONBLOCK);
		}
		if (rv == 0) {
			const uint8_t *p = nng_msg_body(msg);
			size_t len = nng_msg_len(msg);
			if (len >= 2 && p[1] == 'F')
				read_batch(ch, p, len);
			else if (len >= 2 && p[1] == 'K')
				read_ack(ch, p, len);
			else
				bump(&ch->bad, 1);
			nng_msg_free(msg);
			waiting = 0;
			if (++taken == DRAIN_MAX) {
				drain_end(ch);
				taken = 0;
			}
		} else if (rv == NNG_EAGAIN) {
			drain_end(ch);
			taken = 0;
			waiting = 1;
		} else if (rv == NNG_ECLOSED) {
			break;
		}
		if (ch->fences_held)
			fences_run(ch);
		if (atomic_exchange(&ch->kicked, 0))
			next_pump = 0; /* a push socket connected: send now */
		uint64_t now = rmq_cluster_now_ms();
		if (now >= next_pump) {
			/* Every 50 ms while batches wait for acknowledgement,
			 * else a wait of a second (a worker sends what it makes
			 * itself; only a resend needs this thread). */
			wait_ms = pump_all(ch, now) ? PUMP_MS : IDLE_MS;
			next_pump = now + PUMP_MS;
		}
	}
	rcu_thread_online();
	rcu_unregister_thread();
	return NULL;
}

int
rmq_channel_start(struct rmq_channel *ch, const char *host, uint16_t port,
    const struct rmq_nng_tls *tls, char *err, size_t errlen)
{
	ch->tls = tls;
	if (nng_pull0_open(&ch->pull) != 0) {
		snprintf(err, errlen, "cluster channel: no socket");
		return -1;
	}
	ch->open = 1;
	if (nng_aio_alloc(&ch->wait, NULL, NULL) != 0) {
		snprintf(err, errlen, "cluster channel: out of memory");
		return -1;
	}
	nng_socket_set_int(ch->pull, NNG_OPT_RECVBUF, RECVBUF);
	nng_socket_set_size(ch->pull, NNG_OPT_RECVMAXSZ,
	    (size_t)RMQ_FWD_MSG_MAX + RMQ_FWD_BATCH_BYTES + 4096);
	if (rmq_nng_listen(ch->pull, host, port, tls, "cluster_forward_port",
		&ch->port, err, errlen) != 0)
		return -1;
	atomic_store(&ch->live, 1);
	if (pthread_create(&ch->thread, NULL, channel_run, ch) != 0) {
		snprintf(err, errlen, "cluster channel: no thread");
		return -1;
	}
	ch->started = 1;
	return 0;
}

int
rmq_channel_links(struct rmq_channel *ch, const char *host, uint16_t port,
    char *err, size_t errlen)
{
	struct rmq_links *ls = rmq_links_start(ch, host, port, err, errlen);
	if (ls == NULL)
		return -1;
	ch->links = ls;
	return 0;
}

uint16_t
rmq_channel_link_port(const struct rmq_channel *ch)
{
	return rmq_links_port(ch->links);
}

unsigned
rmq_channel_stop(struct rmq_channel *ch, const nng_socket *also, unsigned nalso)
{
	if (ch == NULL)
		return 0;
	atomic_store(&ch->live, 0);
	atomic_store(&ch->stop, 1);
	if (ch->started) {
		nng_aio_stop(ch->wait); /* its wait ends, and no other starts */
		pthread_join(ch->thread, NULL);
		ch->started = 0;
	}
	/* No link dialled or accepted from now; those the workers carry
	 * close as the workers stop. */
	rmq_links_stop(ch->links);
	/* Every socket at once, with the caller's.  A worker still routing
	 * sends on a closed socket: NNG refuses it, and the batch stays in
	 * its stream until the free. */
	nng_socket *socks =
	    malloc((RMQ_MEMBERS_MAX + 1 + nalso) * sizeof(*socks));
	unsigned n = 0, left = 0;
	for (unsigned i = 0; socks && i < nalso; i++)
		socks[n++] = also[i];
	if (socks && ch->open)
		socks[n++] = ch->pull;
	for (unsigned i = 0; socks && i < RMQ_MEMBERS_MAX && !ch->closed; i++) {
		struct peer *pe = peer_at(ch, i + 1);
		if (pe != NULL)
			socks[n++] = pe->push;
	}
	if (socks != NULL) {
		left = rmq_nng_close_all(socks, n, CLOSE_MS, "the cluster");
		ch->open = 0;
		ch->closed = 1;
	}
	free(socks);
	return left;
}

void
rmq_channel_free(struct rmq_channel *ch)
{
	if (ch == NULL)
		return;
	rmq_channel_stop(ch, NULL, 0);
	for (unsigned i = 0; i < RMQ_MEMBERS_MAX; i++) {
		struct peer *pe = peer_at(ch, i + 1);
		if (pe != NULL)
			peer_free(pe);
	}
	for (unsigned w = 0; w < ch->nworkers; w++) {
		for (uint32_t i = 0; i < ch->pending[w].n; i++)
			rmq_msg_rele(ch->pending[w].m[i]);
		free(ch->pending[w].m);
	}
	rmq_links_free(ch->links);
	free(ch->pending);
	free(ch->dirty);
	free(ch->turn);
	free(ch->xid);
	if (ch->wait != NULL)
		nng_aio_free(ch->wait);
	free(ch);
}

/* ---- metrics ---- */

void
rmq_channel_metrics(struct rmq_channel *ch, rmq_put_fn put, void *arg)
{
	static const struct {
		const char *name, *type, *help;
	} per[] = {
		{ "ringmq_cluster_forwarded_messages_total", "counter",
		    "Messages routed to a peer's subscriptions, taken into its stream, by peer." },
		{ "ringmq_cluster_forward_dropped_total", "counter",
		    "Messages for a peer dropped: its queue (cluster_forward_queue) was full, or memory short, by peer." },
		{ "ringmq_cluster_forward_batches_total", "counter",
		    "Batches of messages made for a peer (one per worker turn at most), by peer." },
		{ "ringmq_cluster_forward_resent_total", "counter",
		    "Batches sent to a peer again: not acknowledged within the resend interval, by peer." },
		{ "ringmq_cluster_forward_lost_total", "counter",
		    "Messages a peer had not acknowledged when it restarted, dropped, by peer." },
		{ "ringmq_cluster_forward_queued_bytes", "gauge",
		    "Bytes waiting for a peer: not sent or not acknowledged yet, by peer." },
		{ "ringmq_cluster_received_messages_total", "counter",
		    "Messages taken from a peer and routed to this node's subscribers, by peer." },
		{ "ringmq_cluster_received_copies_total", "counter",
		    "Batches from a peer taken before (a resend), dropped, by peer." },
		{ "ringmq_cluster_received_gaps_total", "counter",
		    "Batches from a peer that came after a missing one, dropped until it is sent again, by peer." },
		{ "ringmq_cluster_channel_sent_bytes_total", "counter",
		    "Bytes sent to a peer on the channel: messages, route changes, snapshots and retained messages in batches (resends included), and acknowledgements, by peer." },
		{ "ringmq_cluster_channel_received_bytes_total", "counter",
		    "Bytes read from a peer on the channel (copies of batches taken before included), by peer." },
		{ "ringmq_cluster_channel_redials_total", "counter",
		    "Times a peer that was up took nothing sent to it for 5 s and its connection was dialled again, by peer." },
	};
	enum { NPER = sizeof(per) / sizeof(per[0]) };
	for (unsigned k = 0; k < NPER; k++) {
		rmq_emit_head(put, arg, per[k].name, per[k].type, per[k].help);
		for (unsigned i = 0; i < RMQ_MEMBERS_MAX; i++) {
			struct peer *pe = peer_at(ch, i + 1);
			if (pe == NULL)
				continue;
			uint64_t v[NPER] = { 0 };
			for (unsigned w = 0; w < pe->nstreams; w++) {
				struct rmq_fwd_stream *st = &pe->out[w];
				v[0] += atomic_load(&st->msgs);
				v[1] += atomic_load(&st->dropped);
				v[5] += atomic_load(&st->kept);
				pthread_mutex_lock(&pe->mu[w]);
				v[2] += st->batches;
				v[3] += st->resent;
				pthread_mutex_unlock(&pe->mu[w]);
			}
			v[4] = atomic_load(&pe->lost);
			v[6] = atomic_load(&pe->taken);
			v[7] = atomic_load(&pe->copies);
			v[8] = atomic_load(&pe->gaps);
			v[9] = atomic_load(&pe->sent_bytes);
			v[10] = atomic_load(&pe->received_bytes);
			v[11] = atomic_load(&pe->redials);
			rmq_emit(put, arg, "%s{peer=\"%s\"} %llu\n",
			    per[k].name, pe->name, (unsigned long long)v[k]);
		}
	}
	uint64_t ctl_resent = 0;
	for (unsigned i = 0; i < RMQ_MEMBERS_MAX; i++) {
		struct peer *pe = peer_at(ch, i + 1);
		if (pe == NULL)
			continue;
		pthread_mutex_lock(&pe->ctl_mu);
		ctl_resent += pe->ctl.resent;
		pthread_mutex_unlock(&pe->ctl_mu);
	}
	const struct {
		const char *name, *help;
		uint64_t v;
	} one[] = {
		{ "ringmq_cluster_channel_bad_total",
		    "Messages on the cluster channel that were not understood, dropped.",
		    atomic_load(&ch->bad) },
		{ "ringmq_cluster_channel_stale_total",
		    "Batches and acknowledgements for another life of this node or the sender (or from a node not met yet), dropped.",
		    atomic_load(&ch->stale) },
		{ "ringmq_cluster_received_expired_total",
		    "Messages from peers whose expiry ran out on the way, dropped.",
		    atomic_load(&ch->expired) },
		{ "ringmq_cluster_received_undecodable_total",
		    "Messages from peers that could not be read back (logged), dropped.",
		    atomic_load(&ch->undecodable) },
		{ "ringmq_cluster_control_sent_total",
		    "Route changes, snapshot parts and requests put on peers' control streams.",
		    atomic_load(&ch->control_sent) },
		{ "ringmq_cluster_control_dropped_total",
		    "Records a peer's control stream had no room for (its queue at the bound); the peer repairs from a snapshot.",
		    atomic_load(&ch->control_dropped) },
		{ "ringmq_cluster_control_resent_total",
		    "Control batches sent to a peer again: not acknowledged within the resend interval.",
		    ctl_resent },
		{ "ringmq_cluster_control_received_total",
		    "Records taken from peers' control streams.",
		    atomic_load(&ch->control_taken) },
		{ "ringmq_cluster_fences_asked_total",
		    "Fences this node asked peers for (a session that moved away ends once every peer up passed one).",
		    atomic_load(&ch->fences_asked) },
		{ "ringmq_cluster_fences_passed_total",
		    "Fences peers asked of this node, passed: its workers routed on the index the fence found, and the peer took what they sent it.",
		    atomic_load(&ch->fences_passed) },
	};
	for (size_t i = 0; i < sizeof(one) / sizeof(one[0]); i++)
		rmq_emit_one(put, arg, one[i].name, "counter", one[i].help,
		    one[i].v);
	const char *h = "ringmq_cluster_control_applied_seconds";
	rmq_emit_head(put, arg, h, "histogram",
	    "Time from a control record's sending (a route change, a snapshot, a retained message) to the peer's acknowledgement, by which it is applied: a subscription made here is in the peers' indexes after this (the SUBACK window).");
	uint64_t cum = 0;
	size_t nb = sizeof(applied_ms) / sizeof(applied_ms[0]);
	for (size_t i = 0; i <= nb; i++) {
		cum += atomic_load(&ch->applied_le[i]);
		if (i < nb)
			rmq_emit(put, arg, "%s_bucket{le=\"%g\"} %llu\n", h,
			    (double)applied_ms[i] / 1000,
			    (unsigned long long)cum);
		else
			rmq_emit(put, arg, "%s_bucket{le=\"+Inf\"} %llu\n", h,
			    (unsigned long long)cum);
	}
	rmq_emit(put, arg, "%s_sum %g\n%s_count %llu\n", h,
	    (double)atomic_load(&ch->applied_sum_ms) / 1000, h,
	    (unsigned long long)atomic_load(&ch->applied_count));
	rmq_links_metrics(ch->links, put, arg);
}
