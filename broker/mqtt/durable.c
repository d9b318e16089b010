/* broker/mqtt/durable.c: acknowledgements that wait for the disk.
 *
 * Under `durability always` a PUBACK or PUBREC that acknowledges a change
 * the data directory keeps (a retained message, today) goes out only once
 * the writer has committed it (store/persist.h).  The worker holds such
 * acknowledgements in one queue in the order they were made; generations
 * only grow, so the queue is also in the order of the commits that free
 * them.  Once a connection holds one back, its later acknowledgements
 * queue behind it, whatever they acknowledge: a client hears them in the
 * order it sent its PUBLISHes [MQTT-4.6.0-2], [MQTT-4.6.0-3].  When a
 * connection ends, what it held is dropped: the client sends those
 * messages again, as it does any it had no acknowledgement for.
 */
#include <stdlib.h>
#include <string.h>

#include "durable.h"
#include "grow.h"
#include "persist.h"
#include "worker_impl.h"

static void
ack_send(struct rmq_session *s, uint8_t type, uint16_t pid, uint8_t reason)
{
	struct rmq_packet ack = { .type = type };
	ack.ack.packet_id = pid;
	ack.ack.reason = s->version == RMQ_V5 ? reason : 0;
	rmq_session_send(s, &ack);
}

void
rmq_session_ack(struct rmq_session *s, uint8_t type, uint16_t pid,
    uint8_t reason, uint64_t gen)
{
	struct rmq_worker *w = s->w;
	int behind = s->rare && s->rare->acks_held;
	if (gen == 0 && !behind) {
		ack_send(s, type, pid, reason);
		return;
	}
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
		    s->rare->acks_epoch != a.epoch)
			continue; /* its connection is gone */
		s->rare->acks_held--;
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
