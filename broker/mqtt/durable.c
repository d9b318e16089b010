/* broker/mqtt/durable.c: what the disk keeps of sessions, and the
 * acknowledgements that wait for it.
 *
 * A persistent session's record (store/record.h: its expiry, its
 * subscriptions, whether it is connected) is queued for the writer
 * whenever one of them changes: at CONNECT, SUBSCRIBE, UNSUBSCRIBE and when
 * its connection ends; its removal when it ends.  At start the records are
 * read back into offline sessions, spread over the workers.
 *
 * Under `durability always` a PUBACK or PUBREC that acknowledges a change
 * the data directory keeps (a retained message), or a SUBACK or UNSUBACK
 * of a persistent session, goes out only once
 * the writer has committed it (store/persist.h).  The worker holds such
 * acknowledgements in one queue in the order they were made; generations
 * only grow, so the queue is also in the order of the commits that free
 * them.  Once a connection holds one back, its later acknowledgements
 * queue behind it, whatever they acknowledge: a client hears them in the
 * order it sent its PUBLISHes [MQTT-4.6.0-2], [MQTT-4.6.0-3].  When a
 * connection ends, what it held is dropped: the client sends those
 * messages again, as it does any it had no acknowledgement for.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cluster.h"
#include "durable.h"
#include "grow.h"
#include "persist.h"
#include "record.h"
#include "registry.h"
#include "worker_impl.h"

static void
ack_send(struct rmq_session *s, uint8_t type, uint16_t pid, uint8_t reason)
{
	struct rmq_packet ack = { .type = type };
	ack.ack.packet_id = pid;
	ack.ack.reason = s->version == RMQ_V5 ? reason : 0;
	rmq_session_send(s, &ack);
}

static void
codes_send(struct rmq_session *s, uint8_t type, uint16_t pid,
    const uint8_t *codes, uint32_t n)
{
	struct rmq_packet ack = { .type = type };
	ack.suback.packet_id = pid;
	ack.suback.count = n;
	ack.suback.codes = codes;
	rmq_session_send(s, &ack);
}

static void held_push(struct rmq_session *s, uint8_t type, uint16_t pid,
    uint8_t reason, uint8_t *codes, uint64_t gen, uint64_t cluster,
    uint64_t until_ms, uint64_t fwd);

void
rmq_session_ack_fwd(struct rmq_session *s, uint8_t type, uint16_t pid,
    uint8_t reason, uint64_t gen, uint64_t fwd)
{
	int behind = s->rare && s->rare->acks_held;
	if (gen == 0 && fwd == 0 && !behind) {
		ack_send(s, type, pid, reason);
		return;
	}
	held_push(s, type, pid, reason, NULL, gen, 0, 0, fwd);
}

void
rmq_session_ack(struct rmq_session *s, uint8_t type, uint16_t pid,
    uint8_t reason, uint64_t gen)
{
	rmq_session_ack_fwd(s, type, pid, reason, gen, 0);
}

void
rmq_session_ack_codes(struct rmq_session *s, uint8_t type, uint16_t pid,
    const uint8_t *codes, uint32_t n, uint64_t gen, uint64_t cluster,
    uint64_t until_ms)
{
	int behind = s->rare && s->rare->acks_held;
	if (gen == 0 && cluster == 0 && !behind) {
		codes_send(s, type, pid, codes, n);
		return;
	}
	uint8_t *copy = malloc(4 + (size_t)n);
	if (copy == NULL) {
		rmq_session_disconnect(s, RMQ_RC_SERVER_BUSY);
		return;
	}
	memcpy(copy, &n, 4);
	memcpy(copy + 4, codes, n);
	held_push(s, type, pid, 0, copy, gen, cluster, until_ms, 0);
}

static void
held_push(struct rmq_session *s, uint8_t type, uint16_t pid, uint8_t reason,
    uint8_t *codes, uint64_t gen, uint64_t cluster, uint64_t until_ms,
    uint64_t fwd)
{
	struct rmq_worker *w = s->w;
	struct rmq_session_rare *r = rmq_session_rare(s);
	if (w->acks_head > 0 && w->acks_head == w->acks_len)
		w->acks_head = w->acks_len = 0;
	if (r != NULL && w->acks_len == w->acks_cap && w->acks_head > 0 &&
	    w->acks_head >= w->acks_cap / 2) {
		/* Slide the queue down rather than grow it. */
		uint32_t n = w->acks_len - w->acks_head;
		memmove(w->acks, w->acks + w->acks_head, n * sizeof(*w->acks));
		w->acks_head = 0;
		w->acks_len = n;
	}
	if (r == NULL ||
	    rmq_grow(&w->acks, &w->acks_cap, w->acks_len + 1, sizeof(*w->acks),
		64, UINT32_MAX) != 0) {
		/* Not held, not sent: the client sends the PUBLISH again on
		 * a connection that has the memory. */
		free(codes);
		rmq_session_disconnect(s, RMQ_RC_SERVER_BUSY);
		return;
	}
	/* Behind another: wait for the commit it waits for (a later change
	 * has a later generation anyway). */
	if (w->acks_len > w->acks_head && w->acks[w->acks_len - 1].gen > gen)
		gen = w->acks[w->acks_len - 1].gen;
	/* The cluster's tokens only grow too (the node's route changes, in
	 * order), and the queue goes out in order. */
	if (w->acks_len > w->acks_head &&
	    w->acks[w->acks_len - 1].cluster > cluster)
		cluster = w->acks[w->acks_len - 1].cluster;
	/* The worker's forward tokens as well (its turns, in order). */
	if (w->acks_len > w->acks_head && w->acks[w->acks_len - 1].fwd > fwd)
		fwd = w->acks[w->acks_len - 1].fwd;
	w->acks[w->acks_len++] = (struct rmq_held_ack){
		.key = s->key,
		.gen = gen,
		.cluster = cluster,
		.until_ms = until_ms,
		.fwd = fwd,
		.epoch = r->acks_epoch,
		.packet_id = pid,
		.type = type,
		.reason = reason,
		.codes = codes,
	};
	if (type == 0) {
		r->disk_waits++; /* a wake-up, not an acknowledgement */
	} else {
		r->acks_held++;
		rmq_count(&w->st.acks_held, 1);
	}
	/* Set before the next read of the writer's progress (the turn's
	 * release): either this loop sees the commit, or the writer sees
	 * this flag and wakes it. */
	if (gen || !(cluster || fwd))
		atomic_store(&w->disk_wait, 1);
	if (cluster || fwd)
		atomic_store(&w->cluster_wait, 1);
}

void
rmq_worker_acks_release(struct rmq_worker *w)
{
	if (w->acks_head == w->acks_len)
		return;
	const struct rmq_persist *p = w->b->persist;
	uint64_t done = p ? rmq_persist_committed(p) : UINT64_MAX;
	const struct rmq_cluster_hooks *h = w->b->cluster;
	uint64_t applied = UINT64_MAX, now = w->loop->now_ms;
	uint64_t taken = UINT64_MAX;
	int asked = 0, asked_taken = 0;
	while (
	    w->acks_head < w->acks_len && w->acks[w->acks_head].gen <= done) {
		struct rmq_held_ack *head = &w->acks[w->acks_head];
		if (head->cluster) {
			/* The peers' progress, read once a release. */
			if (!asked && h && h->applied)
				applied = h->applied(h->ctx);
			asked = 1;
			if (head->cluster > applied && now < head->until_ms)
				break;
			if (head->cluster > applied)
				rmq_count(&w->st.suback_wait_expired, 1);
		}
		if (head->fwd) {
			/* What the peers have taken of this worker's. */
			if (!asked_taken && h && h->taken)
				taken = h->taken(h->ctx, w->id);
			asked_taken = 1;
			if (head->fwd > taken)
				break;
		}
		struct rmq_held_ack a = w->acks[w->acks_head++];
		struct rmq_session *s = rmq_worker_session(w, a.key);
		if (a.type == 0) {
			/* The window's waiting messages may go (outq.c),
			 * once the last commit they wait for is done. */
			if (s && s->rare && s->rare->disk_waits &&
			    --s->rare->disk_waits == 0)
				rmq_worker_dirty(w, s);
			continue;
		}
		if (s == NULL || s->rare == NULL || s->conn == NULL ||
		    s->rare->acks_epoch != a.epoch) {
			free(a.codes);
			continue; /* its connection is gone */
		}
		s->rare->acks_held--;
		if (a.codes) {
			uint32_t n;
			memcpy(&n, a.codes, 4);
			codes_send(s, a.type, a.packet_id, a.codes + 4, n);
			free(a.codes);
			continue;
		}
		if ((a.type == RMQ_PUBACK || a.type == RMQ_PUBREC) &&
		    a.reason < 0x80 && p && rmq_persist_failed(p, a.gen)) {
			/* Delivered, but not kept: a 5.0 client hears that
			 * the broker could not store it. */
			a.reason = RMQ_RC_QUOTA_EXCEEDED;
			rmq_count(&w->st.acks_failed, 1);
		}
		ack_send(s, a.type, a.packet_id, a.reason);
	}
	if (w->acks_head == w->acks_len) {
		w->acks_head = w->acks_len = 0;
		atomic_store(&w->disk_wait, 0);
		atomic_store(&w->cluster_wait, 0);
		/* A commit that came between the last read and the clear is
		 * not missed: the next turn reads it again. */
	}
}

void
rmq_session_disk_wait(struct rmq_session *s)
{
	held_push(s, 0, 0, 0, NULL, RMQ_GEN_TURN, 0, 0, 0);
}

void
rmq_session_acks_drop(struct rmq_session *s)
{
	if (s->rare && s->rare->acks_held) {
		s->rare->acks_held = 0;
		s->rare->acks_epoch++;
	}
}

void
rmq_workers_wake_held(struct rmq_broker *b)
{
	if (!atomic_load(&b->loops_up))
		return;
	for (unsigned i = 0; i < b->nworkers; i++) {
		struct rmq_worker *w = b->workers[i];
		if (atomic_load(&w->disk_wait) || atomic_load(&w->cluster_wait))
			b->ops->wake(w->loop);
	}
}

void
rmq_broker_disk_committed(void *ctx, uint64_t gen, int ok)
{
	(void)gen, (void)ok;
	rmq_workers_wake_held(ctx);
}

static uint64_t
wall_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

int
rmq_session_record(struct rmq_session *s, uint8_t **out, size_t *len)
{
	struct rmq_session_rare *r = rmq_session_rare(s);
	struct rmq_record_sub *subs =
	    s->nsubs ? malloc(s->nsubs * sizeof(*subs)) : NULL;
	if (r == NULL || (s->nsubs && subs == NULL)) {
		free(subs);
		return -ENOMEM;
	}
	for (uint32_t i = 0; i < s->nsubs; i++)
		subs[i] = (struct rmq_record_sub){ s->subs[i].filter,
			s->subs[i].len, s->subs[i].opt };
	uint64_t wall = wall_ms(), mono = s->w->loop->now_ms;
	struct rmq_record_session rec = {
		.version = s->version,
		.session_expiry = s->session_expiry,
		.offline_since = s->conn ? 0 : wall,
		/* The will, and when its delay ends once its connection
		 * has: sent then, or when the session ends, after a restart
		 * too. */
		.will = s->will,
		.will_delay = s->will_delay,
		.will_at = s->will && s->will_pending
		    ? wall + (r->will_at_ms > mono ? r->will_at_ms - mono : 0)
		    : 0,
		.wall_minus_mono = (int64_t)wall - (int64_t)mono,
		.client_id = s->client_id,
		.client_id_len = s->client_id_len,
		.key = s->key,
		.nsubs = s->nsubs,
		.subs = subs,
	};
	size_t n = rmq_record_session_size(&rec);
	uint8_t *buf = malloc(n);
	if (buf == NULL) {
		free(subs);
		return -ENOMEM;
	}
	rmq_record_session_encode(&rec, buf);
	free(subs);
	*out = buf;
	*len = n;
	return 0;
}

uint64_t
rmq_session_store(struct rmq_session *s)
{
	struct rmq_persist *p = s->w->b->persist;
	if (p == NULL || !s->registered || s->client_id == NULL)
		return 0;
	if (s->session_expiry == 0) {
		/* No longer kept: its subscriptions stop putting what they
		 * match on disk. */
		rmq_session_subs_keep(s, 0);
		return rmq_session_unstore(s);
	}
	struct rmq_session_rare *r = rmq_session_rare(s);
	if (r != NULL && !r->stored)
		rmq_session_subs_keep(s, 1);
	uint8_t *buf;
	size_t n;
	if (r == NULL || rmq_session_record(s, &buf, &n) != 0)
		return 0;
	r->stored = 1;
	return rmq_persist_session(p, s->client_id, s->client_id_len, buf, n);
}

uint64_t
rmq_session_unstore(struct rmq_session *s)
{
	struct rmq_persist *p = s->w->b->persist;
	rmq_session_kept_drop(s);
	if (p == NULL || s->rare == NULL || !s->rare->stored)
		return 0;
	s->rare->stored = 0;
	return rmq_persist_session(p, s->client_id, s->client_id_len, NULL, 0);
}

int
rmq_worker_restore_session(struct rmq_worker *w,
    const struct rmq_record_session *r, uint64_t left_ms, uint64_t key,
    uint64_t *out)
{
	struct rmq_session *s;
	if (key != 0) {
		int e = rmq_worker_session_alloc_at(w, key, &s);
		if (e != 0)
			return e;
	} else if ((s = rmq_worker_session_alloc(w)) == NULL) {
		return -ENOMEM;
	}
	*out = s->key;
	rmq_decoder_init(&s->dec, RMQ_FROM_CLIENT, 0, w->cfg.max_packet_size);
	s->state = RMQ_SESS_OFFLINE;
	s->version = r->version;
	s->session_expiry = r->session_expiry;
	uint64_t now = w->loop->ops->now ? w->loop->ops->now(w->loop)
					 : rmq_loop_clock_ms();
	s->deadline_ms = left_ms == UINT64_MAX ? UINT64_MAX : now + left_ms;
	int rc = -ENOMEM;
	struct rmq_session_rare *rare = rmq_session_rare(s);
	if (rare == NULL || (s->client_id = malloc(r->client_id_len)) == NULL)
		goto fail;
	memcpy(s->client_id, r->client_id, r->client_id_len);
	s->client_id_len = r->client_id_len;
	uint64_t owner = 0;
	rc = rmq_registry_claim(w->b->registry, s->client_id, s->client_id_len,
	    s->key, 0, &owner);
	if (rc != 0) {
		rc = rc < 0 ? rc : -EEXIST;
		goto fail;
	}
	s->registered = 1;
	rare->stored = 1;
	if (r->will) {
		/* Its connection ended (or, connected when the record was
		 * written, ends with this restart): the will goes out when
		 * its delay is over, or when the session ends. */
		uint64_t wall = wall_ms();
		uint64_t at = r->will_at
		    ? r->will_at
		    : wall + (uint64_t)r->will_delay * 1000u;
		s->will = (struct rmq_msg *)r->will;
		rmq_msg_hold(s->will, 1);
		s->will_delay = r->will_delay;
		s->will_pending = 1;
		rare->will_at_ms = now + (at > wall ? at - wall : 0);
	}
	for (uint32_t i = 0; i < r->nsubs; i++) {
		struct rmq_sub opt = r->subs[i].opt;
		opt.owner = s->key;
		/* Read back from the disk, so kept there (b->persist is
		 * not set while the directory is being read). */
		opt.flags |= RMQ_SUB_KEPT;
		if ((rc = rmq_session_subscribe_restored(s, r->subs[i].filter,
			 r->subs[i].len, &opt)) != 0)
			goto fail;
	}
	return 0;
fail:
	/* Not the disk's to forget: the record stays. */
	if (s->rare)
		s->rare->stored = 0;
	rmq_session_destroy(s);
	return rc;
}

/* ---- the queues the data directory keeps ---- */

int
rmq_session_kept(const struct rmq_session *s)
{
	return s->w->b->persist != NULL && s->session_expiry != 0 &&
	    s->registered;
}

static int
disk_push(struct rmq_worker *w, const struct rmq_qchange *c)
{
	if (rmq_grow(&w->dq, &w->dq_cap, w->dq_n + 1, sizeof(*w->dq), 64,
		UINT32_MAX) != 0)
		return 0;
	w->dq[w->dq_n++] = *c;
	return 1;
}

int
rmq_worker_keep(struct rmq_worker *w, struct rmq_msg *m, uint64_t key,
    uint8_t qos)
{
	struct rmq_persist *p = w->b->persist;
	if (m->disk_id == 0) {
		uint64_t id = rmq_persist_msg_id(p);
		struct rmq_qchange c = { .op = RMQ_QOP_MSG,
			.id = id,
			.msg = m };
		if (!disk_push(w, &c))
			return 0;
		rmq_msg_hold(m, 1);
		m->disk_id = id;
	}
	struct rmq_qchange c = { .op = RMQ_QOP_PUT,
		.key = key,
		.id = m->disk_id,
		.qos = qos };
	if (!disk_push(w, &c)) {
		rmq_count(&w->st.kept_failed, 1);
		return 0;
	}
	rmq_count(&w->st.kept, 1);
	return 1;
}

void
rmq_worker_kept_done(struct rmq_worker *w, uint64_t key,
    const struct rmq_qitem *it)
{
	if (!it->kept || it->msg == NULL)
		return;
	struct rmq_qchange c = { .op = RMQ_QOP_DEL,
		.key = key,
		.id = it->msg->disk_id };
	/* Without the memory to say so, the entry stays on disk and comes
	 * back after a restart: delivered again, never lost. */
	if (!disk_push(w, &c))
		rmq_count(&w->st.kept_failed, 1);
}

void
rmq_session_kept_done(struct rmq_session *s, const struct rmq_qitem *it)
{
	rmq_worker_kept_done(s->w, s->key, it);
}

void
rmq_session_kept_state(struct rmq_session *s, const struct rmq_qitem *it,
    uint8_t state, uint16_t pid)
{
	if (!it->kept || it->msg == NULL)
		return;
	struct rmq_qchange c = { .op = RMQ_QOP_STATE,
		.key = s->key,
		.id = it->msg->disk_id,
		.qos = it->qos,
		.state = state,
		.pid = pid };
	if (!disk_push(s->w, &c))
		rmq_count(&s->w->st.kept_failed, 1);
}

int
rmq_session_kept_q2in(struct rmq_session *s, uint16_t pid, int put)
{
	if (s->w->b->persist == NULL || s->rare == NULL ||
	    (put ? !s->rare->stored : !s->rare->disk_q))
		return 0;
	struct rmq_qchange c = {
		.op = put ? RMQ_QOP_Q2IN_PUT : RMQ_QOP_Q2IN_DEL,
		.key = s->key,
		.pid = pid,
	};
	if (!disk_push(s->w, &c)) {
		rmq_count(&s->w->st.kept_failed, 1);
		return 0;
	}
	s->rare->disk_q = 1;
	return 1;
}

void
rmq_session_kept_drop(struct rmq_session *s)
{
	if (s->w->b->persist == NULL || s->rare == NULL || !s->rare->disk_q)
		return;
	struct rmq_qchange c = { .op = RMQ_QOP_DROP, .key = s->key };
	if (disk_push(s->w, &c))
		s->rare->disk_q = 0;
	else
		rmq_count(&s->w->st.kept_failed, 1);
}

void
rmq_worker_disk_flush(struct rmq_worker *w)
{
	struct rmq_persist *p = w->b->persist;
	if (p == NULL)
		return;
	uint64_t gen;
	if (w->dq_n == 0) {
		/* Nothing handed over (a change that found no memory):
		 * what waits for this turn waits for nothing. */
		if (w->acks_len == w->acks_head ||
		    w->acks[w->acks_len - 1].gen != RMQ_GEN_TURN)
			return;
		gen = rmq_persist_committed(p);
	} else {
		gen = rmq_persist_lane_put(p, w->id, w->dq, w->dq_n);
		if (gen == 0)
			return; /* no memory: the next turn tries again */
		w->dq = NULL;
		w->dq_n = w->dq_cap = 0;
	}
	/* This turn's acknowledgements are the queue's tail. */
	for (uint32_t i = w->acks_len; i > w->acks_head; i--) {
		if (w->acks[i - 1].gen != RMQ_GEN_TURN)
			break;
		w->acks[i - 1].gen = gen;
	}
}

/* ---- reading the queues back ---- */

int
rmq_worker_restore_queued(struct rmq_worker *w, uint64_t key, struct rmq_msg *m,
    const struct rmq_record_queued *q)
{
	struct rmq_session *s = rmq_worker_session(w, key);
	if (s == NULL)
		return -ENOENT;
	struct rmq_session_rare *r = rmq_session_rare(s);
	if (r == NULL)
		return -ENOMEM;
	struct rmq_qitem it = { .msg = m, .qos = q->qos, .kept = 1 };
	int rc = rmq_session_restore_item(s, &it, q->state, q->pid);
	if (rc == 0)
		r->disk_q = 1;
	return rc;
}

int
rmq_worker_restore_q2in(struct rmq_worker *w, uint64_t key, uint16_t pid)
{
	struct rmq_session *s = rmq_worker_session(w, key);
	if (s == NULL)
		return -ENOENT;
	struct rmq_session_rare *r = rmq_session_rare(s);
	if (r == NULL ||
	    rmq_grow(&r->q2in, &r->q2in_cap, r->nq2in + 1u, sizeof(*r->q2in), 8,
		65535) != 0)
		return -ENOMEM;
	r->q2in[r->nq2in++] = pid;
	r->disk_q = 1;
	return 0;
}
