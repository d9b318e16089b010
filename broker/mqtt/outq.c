/* broker/mqtt/outq.c: what a session sends: control packets, the queue of
 * messages waiting for it, the window of QoS 1 and 2 messages in flight,
 * and the one write per turn that carries them.
 *
 * A flush gathers the control bytes and as many queued messages as the
 * write can carry (RMQ_LOOP_IOV_MAX iovecs) into a single write.  Each
 * message costs a few header bytes of its own and iovecs into the shared
 * message: its payload is never copied.  QoS 1 and 2 messages move into
 * the in-flight window, bounded by the client's Receive Maximum and the
 * configured maximum, where they stay until acknowledged; QoS 0 messages
 * are released when their write completes.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "durable.h"
#include "grow.h"
#include "record.h"
#include "worker_impl.h"

/* From 2 us: a message read and written in the same turn takes a few
 * microseconds, and the low buckets tell that apart from one that waited
 * for a turn of its own or for another loop. */
const uint64_t rmq_lat_bounds_us[RMQ_LAT_BUCKETS - 1] = { 2, 5, 10, 25, 50, 100,
	250, 500, 1000, 2500, 5000, 10000, 25000, 50000, 100000, 250000,
	1000000, 2500000, 10000000 };

/* Publish to delivery: from the wake-up that read the message in to the
 * turn that writes it to this subscriber. */
static void
outq_latency(struct rmq_worker *w, uint64_t born_us)
{
	uint64_t d = w->turn_us > born_us ? w->turn_us - born_us : 0;
	unsigned b = 0;
	while (b < RMQ_LAT_BUCKETS - 1 && d > rmq_lat_bounds_us[b])
		b++;
	rmq_count(&w->st.lat_bucket[b], 1);
	rmq_count(&w->st.lat_sum_us, d);
}

int
rmq_session_send(struct rmq_session *s, const struct rmq_packet *p)
{
	size_t n = rmq_codec_size(p, s->version ? s->version : RMQ_V311);
	if (n == 0)
		return -EINVAL;
	if (rmq_grow(&s->ctrl, &s->ctrl_cap, (uint32_t)(s->ctrl_len + n), 1, 64,
		UINT32_MAX) != 0)
		return -ENOMEM;
	long w = rmq_codec_encode(p, s->version ? s->version : RMQ_V311,
	    s->ctrl + s->ctrl_len, s->ctrl_cap - s->ctrl_len);
	if (w < 0)
		return (int)w;
	s->ctrl_len += (uint32_t)w;
	rmq_count(&s->w->st.bytes_out, (uint64_t)w);
	rmq_count(&s->w->st.pkts_out[p->type & 15], 1);
	rmq_worker_dirty(s->w, s);
	return 0;
}

/* Queue slots a session keeps when its queue is empty (8 KiB). */
#define RMQ_PEND_KEPT 256

/* What a queued message costs its session's max_queued_bytes: the
 * message (shared with other sessions, but charged to each) and its place
 * in the queue. */
_Static_assert(sizeof(struct rmq_qitem) == 32,
    "max_queued_bytes is documented as charging 32 bytes per message");

static inline uint64_t
outq_charge(const struct rmq_qitem *it)
{
	return it->msg->size + sizeof(struct rmq_qitem);
}

static void
outq_drop(struct rmq_session *s, struct rmq_qitem *it, rmq_counter *counter)
{
	rmq_count(counter, 1);
	rmq_session_kept_done(s, it);
	rmq_msg_rele(it->msg);
}

/* Put it at the queue's end (the ring doubled when full) and charge it.
 * Returns 0 or -ENOMEM. */
static int
outq_pending_push(struct rmq_session *s, const struct rmq_qitem *it)
{
	if (s->pend_len == s->pend_cap) {
		uint32_t cap = s->pend_cap ? s->pend_cap * 2 : 8;
		struct rmq_qitem *q = malloc(cap * sizeof(*q));
		if (q == NULL)
			return -ENOMEM;
		for (uint32_t i = 0; i < s->pend_len; i++)
			q[i] = s->pending[(s->pend_head + i) % s->pend_cap];
		free(s->pending);
		s->pending = q;
		s->pend_cap = cap;
		s->pend_head = 0;
	}
	RMQ_ASSERT(s->pend_len < s->pend_cap);
	s->pending[(s->pend_head + s->pend_len) % s->pend_cap] = *it;
	s->pend_len++;
	s->pend_bytes += outq_charge(it);
	return 0;
}

int
rmq_session_enqueue(struct rmq_session *s, const struct rmq_qitem *it)
{
	struct rmq_worker *w = s->w;
	const struct rmq_config *cfg = &w->cfg;
	struct rmq_qitem copy = *it;

	if (rmq_msg_expired(it->msg, w->loop->now_ms)) {
		outq_drop(s, &copy, &w->st.dropped_expired);
		return -ENOBUFS;
	}
	/* Not the subscriber's to read (the ACL: its filter may be wider
	 * than what it may see, $SYS/# say): not delivered. */
	if (!rmq_session_may(s, it->msg->topic.p, it->msg->topic.len,
		RMQ_ACCESS_READ)) {
		outq_drop(s, &copy, &w->st.acl_denied);
		return 0;
	}
	/* Arrived from another node, its tail awaited: held, so that what
	 * the old node still collected goes first (move.c). */
	if (s->rare && s->rare->move)
		return rmq_session_hold(s, &copy);
	/* A late copy of what a move brought: delivered once already. */
	if (s->rare && s->rare->moved_ids &&
	    rmq_session_moved_twice(s, it->msg)) {
		outq_drop(s, &copy, &w->st.dropped_moved_twice);
		return 0;
	}
	/* QoS 0 is not kept for an offline session. */
	if (s->conn == NULL && it->qos == 0) {
		rmq_msg_rele(copy.msg);
		return 0;
	}
	/* The disk holds it under this session's key: what it holds goes
	 * when the session ends. */
	if (it->kept) {
		if (rmq_session_rare(s) == NULL) {
			outq_drop(s, &copy, &w->st.dropped_queue_full);
			return -ENOMEM;
		}
		s->rare->disk_q = 1;
	}
	/* A connected session's queue is bounded in bytes: a subscriber
	 * that keeps up on average takes a burst of many small messages
	 * (50 publishers to one at QoS 0 queue thousands within a
	 * millisecond).  An offline one's is bounded in messages as well:
	 * max_queued_messages of them may arrive while its client is away,
	 * after the backlog it had when it left (a subscriber behind by
	 * thousands that reconnects, or whose session moves to another
	 * node, misses nothing for that backlog). */
	if ((s->conn == NULL &&
		s->pend_len >= (uint64_t)cfg->max_queued +
			(s->rare ? s->rare->away_held : 0)) ||
	    s->pend_bytes + outq_charge(it) > cfg->max_queued_bytes) {
		outq_drop(s, &copy, &w->st.dropped_queue_full);
		return -ENOBUFS;
	}
	if (outq_pending_push(s, &copy) != 0) {
		outq_drop(s, &copy, &w->st.dropped_queue_full);
		return -ENOMEM;
	}
	rmq_worker_dirty(w, s);
	return 0;
}

static uint16_t
outq_next_pid(struct rmq_session *s)
{
	if (++s->next_pid == 0)
		s->next_pid = 1;
	return s->next_pid;
}

/* Outbound topic aliases (5.0, 3.3.2.3.4): the first RMQ_ALIAS_OUT_MAX
 * topics a connection receives, within the client's Topic Alias Maximum,
 * get an alias; later messages on them carry the alias and an empty
 * topic.  Mappings last as long as the connection [MQTT-3.3.2-7]. */
static uint32_t
outq_alias_hash(const struct rmq_str *t)
{
	uint32_t h = 2166136261u;
	for (uint32_t i = 0; i < t->len; i++)
		h = (h ^ (unsigned char)t->p[i]) * 16777619u;
	return h;
}

static struct rmq_alias_out *
outq_alias(struct rmq_session *s, const struct rmq_str *topic)
{
	if (s->version != RMQ_V5 || s->peer_alias_max == 0)
		return NULL;
	struct rmq_session_rare *r = rmq_session_rare(s);
	if (r == NULL)
		return NULL;
	if (r->alias_out == NULL) {
		r->alias_out =
		    calloc(RMQ_ALIAS_OUT_SLOTS, sizeof(*r->alias_out));
		if (r->alias_out == NULL)
			return NULL;
	}
	uint32_t h = outq_alias_hash(topic);
	for (uint32_t i = 0; i < RMQ_ALIAS_OUT_SLOTS; i++) {
		struct rmq_alias_out *a =
		    &r->alias_out[(h + i) & (RMQ_ALIAS_OUT_SLOTS - 1)];
		if (a->topic == NULL) {
			uint16_t max = s->peer_alias_max < RMQ_ALIAS_OUT_MAX
			    ? s->peer_alias_max
			    : RMQ_ALIAS_OUT_MAX;
			if (r->alias_out_n >= max)
				return NULL; /* all given: send the topic */
			a->topic = malloc(topic->len);
			if (a->topic == NULL)
				return NULL;
			memcpy(a->topic, topic->p, topic->len);
			a->len = (uint16_t)topic->len;
			a->hash = h;
			a->alias = ++r->alias_out_n;
			a->sent = 0;
			return a;
		}
		if (a->hash == h && a->len == topic->len &&
		    memcmp(a->topic, topic->p, topic->len) == 0)
			return a;
	}
	return NULL;
}

void
rmq_session_aliases_reset(struct rmq_session *s)
{
	struct rmq_session_rare *r = s->rare;
	if (r == NULL || r->alias_out == NULL)
		return;
	for (uint32_t i = 0; i < RMQ_ALIAS_OUT_SLOTS; i++)
		free(r->alias_out[i].topic);
	free(r->alias_out);
	r->alias_out = NULL;
	r->alias_out_n = 0;
}

/* Describe one PUBLISH of item `it` into iov; header bytes go to hdr.
 * Returns the number of iovecs, or -EMSGSIZE when the packet would be
 * larger than the client's Maximum Packet Size, or -EINVAL. */
static int
outq_publish_iov(struct rmq_session *s, const struct rmq_qitem *it,
    uint16_t pid, uint8_t dup, uint8_t *hdr, struct iovec *iov)
{
	struct rmq_pub_var var = {
		.qos = it->qos,
		.dup = dup,
		.retain = it->retain,
		.packet_id = pid,
		.n_subid = s->version == RMQ_V5 ? it->nsubid : 0,
		.subids = it->subid,
	};
	if (s->version == RMQ_V5 && it->msg->has_expiry) {
		var.has_expiry = 1;
		var.message_expiry =
		    rmq_msg_expiry_left(it->msg, s->w->loop->now_ms);
	}
	struct rmq_alias_out *a = outq_alias(s, &it->msg->topic);
	if (a) {
		var.topic_alias = a->alias;
		var.omit_topic = a->sent;
	}
	size_t size;
	int n = rmq_codec_publish_iov(rmq_msg_shared(it->msg, s->version), &var,
	    hdr, RMQ_PUB_HDR_MAX, iov, &size);
	/* [MQTT-3.1.2-24]: nothing larger than the client accepts, measured
	 * on the packet itself (this client's header, alias, expiry and
	 * subscription identifiers included). */
	if (n > 0 && s->peer_max_packet && size > s->peer_max_packet)
		return -EMSGSIZE;
	if (n > 0 && a)
		a->sent = 1; /* the client knows this alias from now on */
	return n;
}

static void outq_on_write(struct rmq_conn *conn, int status);
static void outq_late(struct rmq_session *s, uint16_t nlate);

static void
outq_wb_release(struct rmq_wbatch *wb)
{
	for (uint32_t i = 0; i < wb->nq0; i++)
		rmq_msg_rele(wb->q0[i].it.msg);
	free(wb->q0);
	free(wb->ctrl);
	free(wb->iov);
	uint8_t next = (uint8_t)(wb->seq + 1);
	memset(wb, 0, sizeof(*wb));
	wb->seq = next;
}

/* Slots of the in-flight window hold QoS 1/2 messages; a slot with
 * state 0 is free.  The window is a ring from infl_head. */
static struct rmq_outslot *
outq_slot(struct rmq_session *s, uint16_t i)
{
	return &s->inflight[(s->infl_head + i) % s->win];
}

static int
outq_window_init(struct rmq_session *s)
{
	if (s->inflight)
		return 0;
	uint32_t win = s->w->cfg.max_inflight;
	if (s->peer_receive_max && s->peer_receive_max < win)
		win = s->peer_receive_max;
	s->inflight = calloc(win, sizeof(*s->inflight));
	if (s->inflight == NULL)
		return -ENOMEM;
	s->win = (uint16_t)win;
	return 0;
}

/* Put a window slot's PUBLISH (DUP as dup) in write wb at iov k; returns
 * the iovecs used, 0 when it was too large for the client's limit and was
 * discarded as if sent [MQTT-3.1.2-25]. */
static int
outq_window_write(struct rmq_session *s, struct rmq_outslot *slot, uint8_t dup,
    struct rmq_wbatch *wb, int k)
{
	struct rmq_worker *w = s->w;
	slot->wseq = wb->seq;
	int n = outq_publish_iov(s, &slot->it, slot->pid, dup, slot->hdr,
	    wb->iov + k);
	if (n < 0) {
		outq_drop(s, &slot->it, &w->st.dropped_too_large);
		slot->it.msg = NULL;
		slot->state = 0;
		return 0;
	}
	rmq_count(&w->st.msgs_out_qos[slot->it.qos], 1);
	rmq_count(&w->st.pkts_out[RMQ_PUBLISH], 1);
	return n;
}

void
rmq_session_flush(struct rmq_session *s)
{
	struct rmq_worker *w = s->w;
	struct rmq_conn *c = s->conn;
	if (c == NULL || c->closing || s->writing)
		return;
	int live = s->state == RMQ_SESS_LIVE;
	struct rmq_session_rare *r =
	    live && s->rare && s->rare->resending ? s->rare : NULL;
	uint32_t max_items = live ? s->pend_len : 0;
	if (r)
		max_items += s->infl_len - r->resend_next;
	/* Messages in the window waiting for the disk (RMQ_OUT_DISK): none
	 * goes out, nor anything behind them, until their commit is done. */
	uint16_t disk = s->rare ? s->rare->disk_slots : 0;
	int disk_wait = disk && s->rare->disk_waits;
	if (live && disk && !disk_wait)
		max_items += disk;
	if (max_items > (RMQ_LOOP_IOV_MAX - 1) / 5)
		max_items = (RMQ_LOOP_IOV_MAX - 1) / 5;
	if (s->ctrl_len == 0 && max_items == 0) {
		if (s->close_after_write)
			rmq_session_end(s);
		return;
	}
	struct rmq_wbatch wb = { .seq = s->wb.seq };
	wb.iov = malloc((1 + 5 * (size_t)max_items) * sizeof(*wb.iov));
	if (wb.iov == NULL)
		return;
	int k = 0;
	uint32_t taken = 0;
	uint64_t now = w->loop->now_ms;

	if (s->ctrl_len) {
		wb.iov[k++] = (struct iovec){ s->ctrl, s->ctrl_len };
		wb.ctrl = s->ctrl;
		s->ctrl = NULL;
		s->ctrl_len = s->ctrl_cap = 0;
	}
	/* A resumed session's window first, in its order, DUP set
	 * [MQTT-4.4.0-1]; then what waits in the queue. */
	while (r && r->resend_next < s->infl_len && taken < max_items) {
		struct rmq_outslot *slot = outq_slot(s, r->resend_next++);
		if (slot->state != RMQ_OUT_SENT)
			continue; /* released: its PUBREL went as control */
		taken++;
		k += outq_window_write(s, slot, 1, &wb, k);
	}
	if (r && r->resend_next >= s->infl_len)
		r->resending = 0;
	/* The window's messages the disk now knows the ids of, in order. */
	for (uint16_t i = 0;
	     live && disk && !disk_wait && !(r && r->resending) &&
	     i < s->infl_len && k + 5 <= RMQ_LOOP_IOV_MAX && taken < max_items;
	     i++) {
		struct rmq_outslot *slot = outq_slot(s, i);
		if (slot->state != RMQ_OUT_DISK)
			continue;
		s->rare->disk_slots--;
		disk--;
		taken++;
		slot->state = RMQ_OUT_SENT;
		int n = outq_window_write(s, slot, 0, &wb, k);
		k += n;
		if (n && slot->it.msg->born_us && !slot->it.stored)
			outq_latency(w, slot->it.msg->born_us);
	}
	/* Nothing new before the window is resent: a new message would
	 * join the window behind the cursor and go twice. */
	int held = 0; /* this flush put messages in the window to wait */
	while (!(r && r->resending) && live && s->pend_len && !disk_wait &&
	    disk == 0 && k + 5 <= RMQ_LOOP_IOV_MAX && taken < max_items) {
		struct rmq_qitem *it = &s->pending[s->pend_head];
		taken++;
		struct rmq_outslot *slot;
		if (rmq_msg_expired(it->msg, now)) {
			/* [MQTT-3.3.2-5]: not yet on its way: dropped. */
			RMQ_ASSERT(s->pend_bytes >= outq_charge(it));
			s->pend_bytes -= outq_charge(it);
			outq_drop(s, it, &w->st.dropped_expired);
			goto pop;
		}
		if (held && it->qos == 0)
			break; /* behind messages that wait */
		if (it->qos > 0) {
			if (outq_window_init(s) != 0 || s->infl_len >= s->win)
				break; /* window full: wait for acks */
			slot = outq_slot(s, s->infl_len);
			s->infl_len++;
			slot->pid = outq_next_pid(s);
			slot->state = RMQ_OUT_SENT;
			slot->wseq = wb.seq;
			/* A restart sends a kept message again with this
			 * id, the one the client knows it by
			 * [MQTT-4.4.0-1]. */
			if (it->kept)
				rmq_session_kept_state(s, it, RMQ_QUEUED_SENT,
				    slot->pid);
			/* Under `always` a kept QoS 2 message goes out
			 * only once the disk has its id: a client that
			 * took it (and may have handed it on) is sent the
			 * same id after a crash, never a new one, so it is
			 * not delivered twice.  Those behind it wait with
			 * it. */
			if (held ||
			    (it->kept && it->qos == 2 && w->b->hold_acks &&
				s->rare)) {
				slot->it = *it;
				slot->state = RMQ_OUT_DISK;
				s->rare->disk_slots++;
				held = 1;
				RMQ_ASSERT(s->pend_bytes >= outq_charge(it));
				s->pend_bytes -= outq_charge(it);
				goto pop;
			}
		} else {
			if (wb.q0 == NULL) {
				wb.q0 = malloc(max_items * sizeof(*wb.q0));
				if (wb.q0 == NULL)
					break;
			}
			slot = &wb.q0[wb.nq0++];
			slot->pid = 0;
		}
		slot->it = *it;
		RMQ_ASSERT(s->pend_bytes >= outq_charge(it));
		s->pend_bytes -= outq_charge(it);
		int n = outq_publish_iov(s, &slot->it, slot->pid, 0, slot->hdr,
		    wb.iov + k);
		if (n < 0) {
			/* Too large for this client, or cannot be encoded for
			 * it: discarded as if sent [MQTT-3.1.2-25].  Its slot
			 * is the last one taken: give it back. */
			if (slot->pid) {
				slot->state = 0;
				s->infl_len--;
			} else {
				wb.nq0--;
			}
			outq_drop(s, &slot->it, &w->st.dropped_too_large);
			goto pop;
		}
		k += n;
		rmq_count(&w->st.msgs_out_qos[slot->it.qos], 1);
		rmq_count(&w->st.pkts_out[RMQ_PUBLISH], 1);
		/* Retained copies sent on SUBSCRIBE are as old as the
		 * message: not a delivery latency. */
		if (slot->it.msg->born_us && !slot->it.stored)
			outq_latency(w, slot->it.msg->born_us);
	pop:
		s->pend_head = (s->pend_head + 1) % s->pend_cap;
		s->pend_len--;
	}
	if (held)
		rmq_session_disk_wait(s);
	/* A burst grew the queue; once it is empty its memory goes back,
	 * so a session keeps no more than a small queue between bursts. */
	if (s->pend_len == 0 && s->pend_cap > RMQ_PEND_KEPT) {
		free(s->pending);
		s->pending = NULL;
		s->pend_cap = 0;
		s->pend_head = 0;
	}
	if (k == 0) {
		outq_wb_release(&wb);
		return;
	}
	for (int i = 0; i < k; i++)
		rmq_count(&w->st.bytes_out, wb.iov[i].iov_len);
	s->wb = wb;
	s->writing = RMQ_WRITING;
	int rc = rmq_conn_write(c, s->wb.iov, k, outq_on_write);
	if (rc != 0) {
		s->writing = 0;
		outq_wb_release(&s->wb);
		rmq_session_close(s);
	}
}

static void
outq_on_write(struct rmq_conn *conn, int status)
{
	struct rmq_session *s = conn->data;
	if (s == NULL)
		return;
	int late = s->writing & RMQ_WRITING_LATE;
	uint16_t nlate = s->wb.nlate;
	s->writing = 0;
	outq_wb_release(&s->wb);
	if (late)
		outq_late(s, nlate);
	if (status < 0) {
		if (!conn->closing)
			rmq_session_close(s);
		return;
	}
	if (s->close_after_write && s->ctrl_len == 0) {
		rmq_session_end(s);
		return;
	}
	if (s->ctrl_len ||
	    ((s->pend_len ||
		 (s->rare &&
		     (s->rare->resending ||
			 (s->rare->disk_slots && !s->rare->disk_waits)))) &&
		s->state == RMQ_SESS_LIVE))
		rmq_worker_dirty(s->w, s);
}

/* Move the head of the window past freed slots. */
static void
outq_window_compact(struct rmq_session *s)
{
	RMQ_ASSERT(s->infl_len <= s->win);
	while (s->infl_len && s->inflight[s->infl_head].state == 0) {
		s->infl_head = (uint16_t)((s->infl_head + 1) % s->win);
		s->infl_len--;
		/* The resend cursor counts from the head. */
		if (s->rare && s->rare->resend_next)
			s->rare->resend_next--;
	}
	if (s->pend_len)
		rmq_worker_dirty(s->w, s);
}

/* The slot in flight with packet id pid, whatever its QoS and state (but
 * DONE: acknowledged already). */
static struct rmq_outslot *
outq_find(struct rmq_session *s, uint16_t pid)
{
	for (uint16_t i = 0; i < s->infl_len; i++) {
		struct rmq_outslot *slot = outq_slot(s, i);
		if ((slot->state == RMQ_OUT_SENT ||
			slot->state == RMQ_OUT_RELEASED) &&
		    slot->pid == pid)
			return slot;
	}
	return NULL;
}

/* Which acknowledgement a slot waits for: PUBACK (QoS 1), PUBREC (QoS 2
 * sent), PUBCOMP (QoS 2 released). */
static uint8_t
outq_awaits(const struct rmq_outslot *slot)
{
	if (slot->it.qos == 1)
		return RMQ_PUBACK;
	return slot->state == RMQ_OUT_RELEASED ? RMQ_PUBCOMP : RMQ_PUBREC;
}

/* The slot's message is acknowledged: the slot goes to `next` (0, free,
 * or RELEASED) and its message is released, unless a write in progress
 * may still read it: then both wait for the write (outq_late). */
static void
outq_acked(struct rmq_session *s, struct rmq_outslot *slot, uint8_t next)
{
	if (next == RMQ_OUT_RELEASED) {
		/* The message stays until the PUBCOMP: the disk keeps it as
		 * released, with its id, which names its record; and a
		 * session that moves to another node takes its identity
		 * along, so that a copy of it there is not delivered again
		 * (move.c). */
		if (slot->it.kept && slot->it.msg != NULL)
			rmq_session_kept_state(s, &slot->it,
			    RMQ_QUEUED_RELEASED, slot->pid);
		slot->state = next;
		return;
	}
	if (slot->it.kept && slot->it.msg != NULL)
		rmq_session_kept_done(s, &slot->it);
	if (slot->it.msg != NULL && (s->writing & RMQ_WRITING) &&
	    slot->wseq == s->wb.seq) {
		slot->state = next == 0 ? RMQ_OUT_DONE : next;
		s->writing |= RMQ_WRITING_LATE;
		s->wb.nlate++;
		return;
	}
	if (slot->it.msg != NULL)
		rmq_msg_rele(slot->it.msg);
	slot->it.msg = NULL;
	slot->state = next;
	if (next == 0)
		outq_window_compact(s);
}

/* The write that may have read them is done: what was acknowledged
 * meanwhile lets go of its message. */
static void
outq_late(struct rmq_session *s, uint16_t nlate)
{
	/* Acknowledgements come for the oldest messages first, so the walk
	 * from the head finds the nlate slots early. */
	for (uint16_t i = 0; i < s->infl_len && nlate; i++) {
		struct rmq_outslot *slot = outq_slot(s, i);
		if (slot->state == RMQ_OUT_DONE) {
			nlate--;
			rmq_msg_rele(slot->it.msg);
			slot->it.msg = NULL;
			slot->state = 0;
		}
	}
	outq_window_compact(s);
}

void
rmq_session_on_ack(struct rmq_session *s, const struct rmq_packet *p)
{
	uint16_t pid = p->ack.packet_id;
	struct rmq_outslot *slot = outq_find(s, pid);
	if (slot != NULL && outq_awaits(slot) != p->type &&
	    !(p->type == RMQ_PUBREC && slot->state == RMQ_OUT_RELEASED)) {
		/* An acknowledgement of another flow than the one this id
		 * is in [MQTT-4.3.2-*, MQTT-4.3.3-*] is a Protocol Error
		 * (5.0 4.13.1).  A second PUBREC for a released message is
		 * only late: it changes nothing. */
		struct rmq_codec_err err = {
			RMQ_RC_PROTOCOL_ERROR,
			"acknowledgement of the wrong kind for a packet id in flight"
		};
		rmq_session_refuse(s, p, &err);
		return;
	}
	switch (p->type) {
	case RMQ_PUBREC:
		if (slot == NULL) {
			/* 4.3.3: answer a PUBREC for an unknown id so the
			 * client can finish; 5.0 says it was not found. */
			struct rmq_packet rel = { .type = RMQ_PUBREL };
			rel.ack.packet_id = pid;
			rel.ack.reason = s->version == RMQ_V5
			    ? RMQ_RC_PACKET_ID_NOT_FOUND
			    : 0;
			rmq_session_send(s, &rel);
			return;
		}
		if (slot->state == RMQ_OUT_RELEASED)
			return;
		if (p->ack.reason >= 0x80) {
			/* 5.0: a refused message ends its flow here. */
			outq_acked(s, slot, 0);
			return;
		}
		int kept = slot->it.kept;
		outq_acked(s, slot, RMQ_OUT_RELEASED);
		/* Under `always` the PUBREL of a kept message waits until
		 * the disk knows it was released: after a crash the broker
		 * sends the PUBREL again, never the PUBLISH, which a client
		 * that completed the flow would take as new. */
		rmq_session_ack(s, RMQ_PUBREL, pid, 0,
		    kept && s->w->b->hold_acks ? RMQ_GEN_TURN : 0);
		return;
	case RMQ_PUBACK:
	case RMQ_PUBCOMP:
		if (slot != NULL) /* unknown id: nothing to release */
			outq_acked(s, slot, 0);
		return;
	default: return;
	}
}

void
rmq_session_resend(struct rmq_session *s)
{
	/* [MQTT-4.4.0-1]: unacknowledged PUBLISHes again with DUP set, and
	 * PUBRELs, in their original order, before anything new.  PUBRELs
	 * are control packets, queued now; the PUBLISHes go through the
	 * flush, as much of the window per write as fits. */
	uint16_t n = s->infl_len, sent = 0;
	for (uint16_t i = 0; i < n; i++) {
		struct rmq_outslot *slot = outq_slot(s, i);
		if (slot->state == RMQ_OUT_RELEASED) {
			struct rmq_packet rel = { .type = RMQ_PUBREL };
			rel.ack.packet_id = slot->pid;
			rmq_session_send(s, &rel);
		}
		sent += slot->state == RMQ_OUT_SENT;
	}
	if (sent) {
		if (rmq_session_rare(s) == NULL) {
			rmq_session_disconnect(s, RMQ_RC_SERVER_BUSY);
			return;
		}
		s->rare->resending = 1;
		s->rare->resend_next = 0;
	}
	rmq_worker_dirty(s->w, s);
}

int
rmq_session_restore_item(struct rmq_session *s, const struct rmq_qitem *it,
    uint8_t state, uint16_t pid)
{
	if (state != RMQ_QUEUED_WAITING && outq_window_init(s) == 0 &&
	    s->infl_len < s->win) {
		struct rmq_outslot *slot = outq_slot(s, s->infl_len);
		s->infl_len++;
		slot->it = *it;
		slot->pid = pid;
		slot->state = state == RMQ_QUEUED_RELEASED ? RMQ_OUT_RELEASED
							   : RMQ_OUT_SENT;
		slot->wseq = (uint8_t)(s->wb.seq - 1);
		if (pid > s->next_pid)
			s->next_pid = pid;
		if (it->msg)
			rmq_msg_hold(it->msg, 1);
		return 0;
	}
	/* Waiting, or more in flight than the window takes now: queued, to
	 * go out anew (a released message without its bytes cannot). */
	if (it->msg == NULL)
		return 0;
	if (outq_pending_push(s, it) != 0)
		return -ENOMEM;
	rmq_msg_hold(it->msg, 1);
	/* Held before this node had the session: not counted against what
	 * may arrive while its client is away. */
	if (s->conn == NULL && rmq_session_rare(s))
		s->rare->away_held = s->pend_len;
	return 0;
}

int
rmq_session_each_item(struct rmq_session *s,
    int (*fn)(void *arg, const struct rmq_qitem *it, uint8_t state,
	uint16_t pid),
    void *arg)
{
	int rc;
	for (uint16_t i = 0; s->inflight && i < s->infl_len; i++) {
		const struct rmq_outslot *slot = outq_slot(s, i);
		uint8_t st = slot->state == RMQ_OUT_SENT ? RMQ_QUEUED_SENT
		    : slot->state == RMQ_OUT_RELEASED    ? RMQ_QUEUED_RELEASED
		    : slot->state == RMQ_OUT_DISK        ? RMQ_QUEUED_WAITING
							 : 0xFF;
		/* DISK: never written, so the client has not seen it. */
		if (st != 0xFF && (rc = fn(arg, &slot->it, st, slot->pid)) != 0)
			return rc;
	}
	for (uint32_t i = 0; i < s->pend_len; i++) {
		const struct rmq_qitem *it =
		    &s->pending[(s->pend_head + i) % s->pend_cap];
		if ((rc = fn(arg, it, RMQ_QUEUED_WAITING, 0)) != 0)
			return rc;
	}
	return 0;
}

void
rmq_session_drop_qos0(struct rmq_session *s)
{
	uint32_t kept = 0;
	for (uint32_t i = 0; i < s->pend_len; i++) {
		struct rmq_qitem *it =
		    &s->pending[(s->pend_head + i) % s->pend_cap];
		if (it->qos == 0) {
			RMQ_ASSERT(s->pend_bytes >= outq_charge(it));
			s->pend_bytes -= outq_charge(it);
			rmq_msg_rele(it->msg);
		} else {
			s->pending[(s->pend_head + kept) % s->pend_cap] = *it;
			kept++;
		}
	}
	s->pend_len = kept;
}

void
rmq_session_outq_clear(struct rmq_session *s)
{
	for (uint32_t i = 0; i < s->pend_len; i++)
		rmq_msg_rele(s->pending[(s->pend_head + i) % s->pend_cap].msg);
	free(s->pending);
	s->pending = NULL;
	s->pend_len = s->pend_cap = s->pend_head = 0;
	s->pend_bytes = 0;
	for (uint16_t i = 0; s->inflight && i < s->infl_len; i++) {
		struct rmq_outslot *slot = outq_slot(s, i);
		if (slot->state && slot->it.msg)
			rmq_msg_rele(slot->it.msg);
	}
	free(s->inflight);
	s->inflight = NULL;
	s->infl_len = s->infl_head = s->win = 0;
	if (!s->writing)
		outq_wb_release(&s->wb);
	free(s->ctrl);
	s->ctrl = NULL;
	s->ctrl_len = s->ctrl_cap = 0;
}
