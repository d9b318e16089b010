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
    uint8_t reason, uint8_t *codes, uint64_t gen);

void
rmq_session_ack(struct rmq_session *s, uint8_t type, uint16_t pid,
    uint8_t reason, uint64_t gen)
{
	int behind = s->rare && s->rare->acks_held;
	if (gen == 0 && !behind) {
		ack_send(s, type, pid, reason);
		return;
	}
	held_push(s, type, pid, reason, NULL, gen);
}

void
rmq_session_ack_codes(struct rmq_session *s, uint8_t type, uint16_t pid,
    const uint8_t *codes, uint32_t n, uint64_t gen)
{
	int behind = s->rare && s->rare->acks_held;
	if (gen == 0 && !behind) {
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
	held_push(s, type, pid, 0, copy, gen);
}

static void
held_push(struct rmq_session *s, uint8_t type, uint16_t pid, uint8_t reason,
    uint8_t *codes, uint64_t gen)
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
	w->acks[w->acks_len++] = (struct rmq_held_ack){
		.key = s->key,
		.gen = gen,
		.epoch = r->acks_epoch,
		.packet_id = pid,
		.type = type,
		.reason = reason,
		.codes = codes,
	};
	r->acks_held++;
	rmq_count(&w->st.acks_held, 1);
	/* Set before the next read of the writer's progress (the turn's
	 * release): either this loop sees the commit, or the writer sees
	 * this flag and wakes it. */
	atomic_store(&w->disk_wait, 1);
}

void
rmq_worker_acks_release(struct rmq_worker *w)
{
	if (w->acks_head == w->acks_len || w->b->persist == NULL)
		return;
	const struct rmq_persist *p = w->b->persist;
	uint64_t done = rmq_persist_committed(p);
	while (
	    w->acks_head < w->acks_len && w->acks[w->acks_head].gen <= done) {
		struct rmq_held_ack a = w->acks[w->acks_head++];
		struct rmq_session *s = rmq_worker_session(w, a.key);
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
		if (a.reason < 0x80 && rmq_persist_failed(p, a.gen)) {
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
		/* A commit that came between the last read and the clear is
		 * not missed: the next turn reads it again. */
	}
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
rmq_broker_disk_committed(void *ctx, uint64_t gen, int ok)
{
	struct rmq_broker *b = ctx;
	(void)gen, (void)ok;
	if (!atomic_load(&b->loops_up))
		return;
	for (unsigned i = 0; i < b->nworkers; i++) {
		struct rmq_worker *w = b->workers[i];
		if (atomic_load(&w->disk_wait))
			b->ops->wake(w->loop);
	}
}

static uint64_t
wall_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

uint64_t
rmq_session_store(struct rmq_session *s)
{
	struct rmq_persist *p = s->w->b->persist;
	if (p == NULL || !s->registered || s->client_id == NULL)
		return 0;
	if (s->session_expiry == 0)
		return rmq_session_unstore(s);
	struct rmq_session_rare *r = rmq_session_rare(s);
	struct rmq_record_sub *subs =
	    s->nsubs ? malloc(s->nsubs * sizeof(*subs)) : NULL;
	if (r == NULL || (s->nsubs && subs == NULL)) {
		free(subs);
		return 0;
	}
	for (uint32_t i = 0; i < s->nsubs; i++)
		subs[i] = (struct rmq_record_sub){ s->subs[i].filter,
			s->subs[i].len, s->subs[i].opt };
	struct rmq_record_session rec = {
		.version = s->version,
		.session_expiry = s->session_expiry,
		.offline_since = s->conn ? 0 : wall_ms(),
		.client_id = s->client_id,
		.client_id_len = s->client_id_len,
		.nsubs = s->nsubs,
		.subs = subs,
	};
	size_t n = rmq_record_session_size(&rec);
	uint8_t *buf = malloc(n);
	if (buf == NULL) {
		free(subs);
		return 0;
	}
	rmq_record_session_encode(&rec, buf);
	free(subs);
	r->stored = 1;
	return rmq_persist_session(p, s->client_id, s->client_id_len, buf, n);
}

uint64_t
rmq_session_unstore(struct rmq_session *s)
{
	struct rmq_persist *p = s->w->b->persist;
	if (p == NULL || s->rare == NULL || !s->rare->stored)
		return 0;
	s->rare->stored = 0;
	return rmq_persist_session(p, s->client_id, s->client_id_len, NULL, 0);
}

int
rmq_worker_restore_session(struct rmq_worker *w,
    const struct rmq_record_session *r, uint64_t left_ms)
{
	struct rmq_session *s = rmq_worker_session_alloc(w);
	if (s == NULL)
		return -ENOMEM;
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
	for (uint32_t i = 0; i < r->nsubs; i++) {
		struct rmq_sub opt = r->subs[i].opt;
		opt.owner = s->key;
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
