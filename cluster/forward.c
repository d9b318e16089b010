/* cluster/forward.c: the streams of messages between nodes and their wire
 * form (forward.h). */
#include "forward.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "wire.h"

#define MAGIC0 'R'
#define BATCH 'F'
#define ACK 'K'
#define VERSION RMQ_FWD_VERSION

/* A batch's head: magic, version, name, then these at fixed offsets. */
static size_t
head_len(const struct rmq_fwd_stream *st)
{
	return 4 + strlen(st->self) + 8 + 8 + 1 + 8 + 4;
}

/* One writer, readers elsewhere: no read-modify-write needed. */
static void
count(_Atomic uint64_t *c, uint64_t n)
{
	atomic_store_explicit(c,
	    atomic_load_explicit(c, memory_order_relaxed) + n,
	    memory_order_relaxed);
}

static void
put_be(uint8_t *p, uint64_t v, unsigned bytes)
{
	for (unsigned i = 0; i < bytes; i++)
		p[i] = (uint8_t)(v >> (8 * (bytes - 1 - i)));
}

void
rmq_fwd_stream_init(struct rmq_fwd_stream *st, const char *self, uint64_t epoch,
    uint8_t worker, size_t limit, uint32_t resend_ms)
{
	memset(st, 0, sizeof(*st));
	st->self = self;
	st->epoch = epoch;
	st->worker = worker;
	st->limit = limit;
	st->resend_ms = resend_ms;
	st->next_seq = 1;
	atomic_init(&st->kept, 0);
}

/* A batch gone: its buffer kept as a spare when there is room and it
 * is not oversized (one message of megabytes is not worth keeping). */
static void
batch_free(struct rmq_fwd_stream *st, struct rmq_fwd_batch *b)
{
	if (st->nspare < RMQ_FWD_SPARES && b->cap <= 2 * RMQ_FWD_BATCH_BYTES) {
		st->spare[st->nspare] = b->data;
		st->spare_cap[st->nspare++] = b->cap;
	} else {
		free(b->data);
	}
	free(b);
}

/* Drop the list: the messages it held, for the caller to count. */
static uint64_t
drop_all(struct rmq_fwd_stream *st)
{
	uint64_t msgs = 0;
	while (st->head) {
		struct rmq_fwd_batch *b = st->head;
		st->head = b->next;
		msgs += b->count;
		batch_free(st, b);
	}
	st->tail = NULL;
	atomic_store_explicit(&st->kept, 0, memory_order_relaxed);
	return msgs;
}

void
rmq_fwd_stream_fini(struct rmq_fwd_stream *st)
{
	drop_all(st);
	free(st->cur);
	st->cur = NULL;
	while (st->nspare)
		free(st->spare[--st->nspare]);
}

uint8_t *
rmq_fwd_add(struct rmq_fwd_stream *st, size_t len)
{
	size_t head = st->cur_len ? 0 : head_len(st);
	size_t vlen = rmq_wvar_len(len);
	size_t need = st->cur_len + head + vlen + len;
	if (len > RMQ_FWD_MSG_MAX ||
	    need + atomic_load_explicit(&st->kept, memory_order_relaxed) >
		st->limit) {
		count(&st->dropped, 1);
		return NULL;
	}
	if (need > st->cur_cap) {
		size_t cap = st->cur_cap ? st->cur_cap : 16 * 1024;
		while (cap < need)
			cap *= 2;
		uint8_t *p = realloc(st->cur, cap);
		if (p == NULL) {
			count(&st->dropped, 1);
			return NULL;
		}
		st->cur = p;
		st->cur_cap = cap;
	}
	if (head) {
		/* The head's numbers are filled in when it is sealed. */
		struct rmq_wout o = { st->cur, 0, head, 0 };
		static const uint8_t magic[] = { MAGIC0, BATCH, VERSION };
		rmq_wput(&o, magic, sizeof(magic));
		rmq_wput_str(&o, st->self, strlen(st->self), 1);
		rmq_wput_u(&o, st->epoch, 8);
		static const uint8_t later[8 + 1 + 8 + 4];
		rmq_wput(&o, later, sizeof(later));
		st->cur_len = o.len;
	}
	uint8_t *at = rmq_wvar_put(st->cur + st->cur_len, len);
	st->cur_len += vlen + len;
	st->cur_count++;
	count(&st->msgs, 1);
	return at;
}

int
rmq_fwd_seal(struct rmq_fwd_stream *st)
{
	return rmq_fwd_seal_at(st, 0, 0);
}

int
rmq_fwd_seal_at(struct rmq_fwd_stream *st, uint64_t now_ms, uint64_t tag)
{
	if (st->cur_count == 0)
		return 0;
	struct rmq_fwd_batch *b = malloc(sizeof(*b));
	if (b == NULL) {
		count(&st->dropped, st->cur_count);
		st->cur_len = 0;
		st->cur_count = 0;
		return -ENOMEM;
	}
	size_t at = head_len(st) - (8 + 1 + 8 + 4);
	put_be(st->cur + at, st->peer_epoch, 8);
	st->cur[at + 8] = st->worker;
	put_be(st->cur + at + 9, st->next_seq, 8);
	put_be(st->cur + at + 17, st->cur_count, 4);
	/* The buffer becomes the batch, and a spare the next turn's. */
	*b = (struct rmq_fwd_batch){
		.seq = st->next_seq++,
		.count = st->cur_count,
		.len = st->cur_len,
		.cap = st->cur_cap,
		.born_ms = now_ms,
		.tag = tag,
		.data = st->cur,
	};
	st->cur = NULL;
	st->cur_cap = 0;
	if (st->nspare) {
		st->cur = st->spare[--st->nspare];
		st->cur_cap = st->spare_cap[st->nspare];
	}
	st->cur_len = 0;
	st->cur_count = 0;
	if (st->tail)
		st->tail->next = b;
	else
		st->head = b;
	st->tail = b;
	st->batches++;
	atomic_fetch_add_explicit(&st->kept, b->len, memory_order_relaxed);
	return 0;
}

unsigned
rmq_fwd_pump(struct rmq_fwd_stream *st, uint64_t now_ms, rmq_fwd_send_fn send,
    void *arg)
{
	if (st->head == NULL || st->peer_epoch == 0)
		return 0;
	/* Sent, and no word for the wait: everything again, and the next
	 * wait twice as long. */
	if (st->wait_ms < st->resend_ms)
		st->wait_ms = st->resend_ms;
	if (st->head->sent && now_ms - st->progress_ms >= st->wait_ms) {
		for (struct rmq_fwd_batch *b = st->head; b && b->sent;
		     b = b->next) {
			b->sent = 0;
			st->resent++;
		}
		st->progress_ms = now_ms;
		if (st->wait_ms < st->resend_ms * RMQ_FWD_BACKOFF_MAX)
			st->wait_ms *= 2;
	}
	unsigned n = 0;
	for (struct rmq_fwd_batch *b = st->head; b; b = b->next) {
		if (b->sent)
			continue;
		if (send(arg, b->data, b->len) != 0)
			break;
		if (b == st->head)
			st->progress_ms = now_ms; /* the wait starts now */
		if (b->first_ms == 0)
			b->first_ms = now_ms ? now_ms : 1;
		b->sent = 1;
		n++;
	}
	return n;
}

void
rmq_fwd_kick(struct rmq_fwd_stream *st, uint64_t now_ms)
{
	for (struct rmq_fwd_batch *b = st->head; b && b->sent; b = b->next) {
		b->sent = 0;
		b->first_ms = 0; /* a new connection: its wait starts anew */
		st->resent++;
	}
	st->progress_ms = now_ms;
	st->wait_ms = st->resend_ms;
}

void
rmq_fwd_ack(struct rmq_fwd_stream *st, uint64_t peer_epoch, uint64_t seq,
    uint64_t now_ms)
{
	if (peer_epoch != st->peer_epoch || seq <= st->acked ||
	    seq >= st->next_seq)
		return;
	st->acked = seq;
	st->progress_ms = now_ms;
	st->wait_ms = st->resend_ms;
	size_t freed = 0;
	while (st->head && st->head->seq <= seq) {
		struct rmq_fwd_batch *b = st->head;
		st->head = b->next;
		freed += b->len;
		if (st->on_acked && b->born_ms)
			st->on_acked(st->on_acked_arg,
			    now_ms > b->born_ms ? now_ms - b->born_ms : 0,
			    b->tag);
		batch_free(st, b);
	}
	if (st->head == NULL)
		st->tail = NULL;
	atomic_fetch_sub_explicit(&st->kept, freed, memory_order_relaxed);
}

uint64_t
rmq_fwd_peer(struct rmq_fwd_stream *st, uint64_t epoch, uint64_t now_ms)
{
	if (epoch == st->peer_epoch)
		return 0;
	uint64_t lost = drop_all(st);
	st->lost += lost;
	st->peer_epoch = epoch;
	st->next_seq = 1;
	st->acked = 0;
	st->progress_ms = now_ms;
	st->wait_ms = st->resend_ms;
	return lost;
}

enum rmq_fwd_verdict
rmq_fwd_in_check(struct rmq_fwd_in *in, uint64_t epoch, uint64_t seq)
{
	if (epoch != in->epoch) {
		/* A sender met for the first time, or restarted: its
		 * streams start at 1. */
		in->epoch = epoch;
		in->next = 1;
	}
	if (seq == in->next) {
		in->next++;
		return RMQ_FWD_TAKE;
	}
	return seq < in->next ? RMQ_FWD_COPY : RMQ_FWD_GAP;
}

/* ---- wire ---- */

static int
head_decode(struct rmq_win *in, uint8_t kind, struct rmq_fwd_head *h)
{
	if (rmq_wget_u(in, 1) != MAGIC0 || rmq_wget_u(in, 1) != kind ||
	    rmq_wget_u(in, 1) != VERSION)
		return -1;
	rmq_wget_name(in, h->name, sizeof(h->name), 0);
	h->epoch = rmq_wget_u(in, 8);
	h->to_epoch = rmq_wget_u(in, 8);
	h->worker = (uint8_t)rmq_wget_u(in, 1);
	h->seq = rmq_wget_u(in, 8);
	return in->bad || h->seq == 0 || h->epoch == 0 ? -1 : 0;
}

int
rmq_fwd_batch_decode(const uint8_t *p, size_t len, struct rmq_fwd_head *h,
    const uint8_t **body, size_t *body_len)
{
	struct rmq_win in = { p, len, 0 };
	if (head_decode(&in, BATCH, h) != 0)
		return -1;
	h->count = (uint32_t)rmq_wget_u(&in, 4);
	if (in.bad || h->count == 0)
		return -1;
	*body = in.p;
	*body_len = in.left;
	/* Every length must land on the end, and the count must match. */
	const uint8_t *b = in.p, *m;
	size_t left = in.left, mlen;
	uint32_t n = 0;
	int rc;
	while ((rc = rmq_fwd_next(&b, &left, &m, &mlen)) == 1)
		n++;
	return rc == 0 && n == h->count ? 0 : -1;
}

int
rmq_fwd_next(const uint8_t **body, size_t *left, const uint8_t **msg,
    size_t *msg_len)
{
	if (*left == 0)
		return 0;
	struct rmq_win in = { *body, *left, 0 };
	uint64_t n = rmq_wget_var(&in);
	const uint8_t *p =
	    n > RMQ_FWD_MSG_MAX ? NULL : rmq_wget_bytes(&in, (size_t)n);
	if (p == NULL)
		return -1;
	*msg = p;
	*msg_len = n;
	*body = in.p;
	*left = in.left;
	return 1;
}

size_t
rmq_fwd_ack_encode(uint8_t *buf, size_t cap, const char *self, uint64_t epoch,
    uint64_t to_epoch, uint8_t worker, uint64_t seq)
{
	struct rmq_wout o = { buf, 0, cap, 0 };
	static const uint8_t magic[] = { MAGIC0, ACK, VERSION };
	rmq_wput(&o, magic, sizeof(magic));
	rmq_wput_str(&o, self, strlen(self), 1);
	rmq_wput_u(&o, epoch, 8);
	rmq_wput_u(&o, to_epoch, 8);
	rmq_wput_u(&o, worker, 1);
	rmq_wput_u(&o, seq, 8);
	return o.full ? 0 : o.len;
}

int
rmq_fwd_ack_decode(const uint8_t *p, size_t len, struct rmq_fwd_head *h)
{
	struct rmq_win in = { p, len, 0 };
	h->count = 0;
	if (head_decode(&in, ACK, h) != 0 || in.left != 0)
		return -1;
	return 0;
}

int
rmq_fwd_foreign(const uint8_t *p, size_t len, char *name, size_t cap)
{
	if (len < 4 || p[0] != MAGIC0 || (p[1] != BATCH && p[1] != ACK) ||
	    p[2] == VERSION || cap == 0)
		return 0;
	/* The head's first fields have kept their places in every version. */
	size_t n = p[3] < len - 4 ? p[3] : len - 4;
	if (n >= cap)
		n = cap - 1;
	for (size_t i = 0; i < n; i++)
		name[i] =
		    p[4 + i] >= 0x20 && p[4 + i] < 0x7f ? (char)p[4 + i] : '?';
	name[n] = '\0';
	return p[2];
}

size_t
rmq_fwd_msg_head_size(uint64_t xid)
{
	return 2 + rmq_wvar_len(xid & RMQ_FWD_XID_COUNT);
}

uint8_t *
rmq_fwd_msg_head_put(uint8_t *p, uint64_t xid, int groups)
{
	p[0] = groups ? RMQ_FWD_GROUPS : 0;
	p[1] = (uint8_t)(xid >> 56);
	return rmq_wvar_put(p + 2, xid & RMQ_FWD_XID_COUNT);
}

int
rmq_fwd_msg_head_get(const uint8_t *p, size_t len, uint64_t *xid, int *groups)
{
	struct rmq_win in = { p, len, 0 };
	uint8_t flags = (uint8_t)rmq_wget_u(&in, 1);
	uint64_t worker = rmq_wget_u(&in, 1);
	uint64_t count = rmq_wget_var(&in);
	if (in.bad || (flags & ~RMQ_FWD_GROUPS) || count > RMQ_FWD_XID_COUNT)
		return -1;
	*xid = worker << 56 | count;
	*groups = (flags & RMQ_FWD_GROUPS) != 0;
	return (int)(len - in.left);
}
