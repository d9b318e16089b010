/* broker/mqtt/move.c: a session leaving this node for another, or
 * arriving from one (broker/cluster.h's claims).
 *
 * A client identifier names one session in the cluster.  A CONNECT that
 * finds no session on its node has the cluster ask the peers for the
 * identifier (connect.c); a peer that holds it ends its session here:
 * the connection, if any, is told 0x8E and closed first, and then the
 * session's state leaves as an image, unless the claim starts clean.  The
 * image is the session's record as the data directory keeps it
 * (store/record.h), its inbound QoS 2 ids, and its messages in flight
 * (with their packet ids and states) and queued, each as a message
 * record; the claiming node reads it into the new session before its
 * CONNECT goes on, so that Session Present and what follows are what they
 * would have been on one node.
 *
 * Nothing published while the session moves is lost or delivered twice.
 * The old node keeps the session as a stub (RMQ_SESS_MOVING: no
 * connection, no identifier, its subscriptions in the index) that
 * collects what still comes for it, while the new node holds what comes
 * for the new session; once the new node's routes are in every index,
 * the stub's messages since the image (its tail) go over and the stub
 * ends.  The new node queues the tail first, then what it held, leaving
 * out what came both ways: a message that crossed nodes carries its
 * publishing node's identity (origin_uid) and its own (xid), the same on
 * every copy.  Each publisher's order holds: what went only to the stub
 * was routed before what reached the new node.
 *
 * Image: a version byte, the session record (u32 length first), the QoS 2
 * ids (u16 count, u16 each), then the messages (u32 count; each its
 * node's identity and its own, u64 each, its QoS, state, packet id,
 * retain flag, subscription identifiers and stored flag, then its record,
 * u32 length first; a released QoS 2 message may come without one).
 * Tail: a version byte and the messages, as in the image (their state
 * waiting).  Integers are little-endian, as in the records.  What the new
 * node held is queued but for the messages the image or the tail brought.
 */
#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "cluster.h"
#include "durable.h"
#include "grow.h"
#include "log.h"
#include "loop.h"
#include "record.h"
#include "registry.h"
#include "worker_impl.h"

#define IMAGE_VERSION 2 /* 2: each message's identity */
#define TAIL_VERSION 1
#define ITEM_FIXED                                                             \
	28 /* an item's bytes besides its subscription ids and
		       * record */

struct rmq_release {
	uint64_t stamp;
	uint8_t clean;
	rmq_release_done done;
	void *arg;
	uint16_t len;
	char id[];
};

/* ---- the image ---- */

struct image_out {
	struct rmq_worker *w; /* whose cluster names the messages' nodes */
	uint8_t *p;
	size_t len, cap;
	int failed;
	uint32_t n;
};

/* A message's identity across the cluster: its node's and its own (0:
 * it never crossed nodes, and has no copy elsewhere). */
struct rmq_ident {
	uint64_t uid, xid;
};

static int
ident_cmp(const void *a, const void *b)
{
	const struct rmq_ident *x = a, *y = b;
	if (x->uid != y->uid)
		return x->uid < y->uid ? -1 : 1;
	return x->xid < y->xid ? -1 : x->xid > y->xid;
}

static uint64_t
origin_uid(struct rmq_worker *w, const struct rmq_msg *m)
{
	const struct rmq_cluster_hooks *h = w->b->cluster;
	return h && h->origin_uid ? h->origin_uid(h->ctx, m->origin) : 0;
}

static uint8_t *
img_room(struct image_out *o, size_t n)
{
	if (o->failed)
		return NULL;
	if (o->len + n > o->cap) {
		size_t cap = o->cap ? o->cap : 256;
		while (cap < o->len + n)
			cap *= 2;
		uint8_t *p = realloc(o->p, cap);
		if (p == NULL) {
			o->failed = 1;
			return NULL;
		}
		o->p = p;
		o->cap = cap;
	}
	uint8_t *at = o->p + o->len;
	o->len += n;
	return at;
}

static void
put_le(uint8_t *p, uint64_t v, unsigned bytes)
{
	for (unsigned i = 0; i < bytes; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t
get_le(const uint8_t *p, unsigned bytes)
{
	uint64_t v = 0;
	for (unsigned i = 0; i < bytes; i++)
		v |= (uint64_t)p[i] << (8 * i);
	return v;
}

static int
image_item(void *arg, const struct rmq_qitem *it, uint8_t state, uint16_t pid)
{
	struct image_out *o = arg;
	size_t mlen = it->msg ? rmq_record_msg_size(it->msg) : 0;
	uint8_t *p = img_room(o, ITEM_FIXED + 4u * it->nsubid + mlen);
	if (p == NULL)
		return -ENOMEM;
	uint64_t xid = it->msg ? it->msg->xid : 0;
	put_le(p, xid ? origin_uid(o->w, it->msg) : 0, 8);
	put_le(p + 8, xid, 8);
	p += 16;
	p[0] = it->qos;
	p[1] = state;
	put_le(p + 2, pid, 2);
	p[4] = it->retain;
	p[5] = it->nsubid;
	p[6] = it->stored;
	p[7] = 0;
	for (unsigned i = 0; i < it->nsubid; i++)
		put_le(p + 8 + 4 * i, it->subid[i], 4);
	p += 8 + 4u * it->nsubid;
	put_le(p, mlen, 4);
	/* The expiry relative to now, as between nodes (cluster.h). */
	if (it->msg)
		rmq_record_msg_encode(it->msg, -(int64_t)rmq_loop_clock_ms(),
		    p + 4);
	o->n++;
	return 0;
}

int
rmq_session_export(struct rmq_session *s, uint8_t **out, size_t *len)
{
	struct image_out o = { .w = s->w };
	uint8_t *rec;
	size_t rlen;
	if (rmq_session_record(s, &rec, &rlen) != 0)
		return -ENOMEM;
	const struct rmq_session_rare *r = s->rare;
	uint16_t nq2 = r ? r->nq2in : 0;
	uint8_t *p = img_room(&o, 1 + 4 + rlen + 2 + 2u * nq2);
	if (p != NULL) {
		p[0] = IMAGE_VERSION;
		put_le(p + 1, rlen, 4);
		memcpy(p + 5, rec, rlen);
		p += 5 + rlen;
		put_le(p, nq2, 2);
		for (uint16_t i = 0; i < nq2; i++)
			put_le(p + 2 + 2 * i, r->q2in[i], 2);
	}
	free(rec);
	size_t count_at = o.len;
	(void)img_room(&o, 4);
	if (!o.failed)
		(void)rmq_session_each_item(s, image_item, &o);
	if (o.failed) {
		free(o.p);
		return -ENOMEM;
	}
	put_le(o.p + count_at, o.n, 4);
	*out = o.p;
	*len = o.len;
	return 0;
}

struct image_in {
	const uint8_t *p;
	size_t left;
};

static const uint8_t *
img_take(struct image_in *in, size_t n)
{
	if (n > in->left)
		return NULL;
	const uint8_t *p = in->p;
	in->p += n;
	in->left -= n;
	return p;
}

/* One message of an image or a tail: *it with its message (one
 * reference; NULL for a released QoS 2 message that came without its
 * record), its state, packet id and identity.  Returns 0, 1 when it
 * expired on the way (nothing to take), -ENOMEM, or -EINVAL with why. */
static int
item_read(struct image_in *in, uint64_t now, struct rmq_qitem *it,
    uint8_t *state, uint16_t *pid, struct rmq_ident *k, const char **why)
{
	const uint8_t *idp = img_take(in, 16);
	const uint8_t *h = idp ? img_take(in, 8) : NULL;
	if (h == NULL) {
		*why = "a message cut short";
		return -EINVAL;
	}
	*k = (struct rmq_ident){ get_le(idp, 8), get_le(idp + 8, 8) };
	*it = (struct rmq_qitem){
		.qos = h[0],
		.retain = (uint8_t)(h[4] != 0),
		.nsubid = h[5],
		.stored = (uint8_t)(h[6] != 0),
	};
	*state = h[1];
	*pid = (uint16_t)get_le(h + 2, 2);
	if (it->qos > 2 || *state > RMQ_QUEUED_RELEASED ||
	    it->nsubid > RMQ_QITEM_SUBIDS ||
	    (*state != RMQ_QUEUED_WAITING && (*pid == 0 || it->qos == 0))) {
		*why = "a message with a bad QoS, state or packet id";
		return -EINVAL;
	}
	const uint8_t *ids = img_take(in, 4u * it->nsubid);
	const uint8_t *lp = img_take(in, 4);
	size_t mlen = lp ? (size_t)get_le(lp, 4) : 0;
	const uint8_t *rec = lp ? img_take(in, mlen) : NULL;
	if (ids == NULL || rec == NULL) {
		*why = "a message cut short";
		return -EINVAL;
	}
	for (unsigned i = 0; i < it->nsubid; i++)
		it->subid[i] = (uint32_t)get_le(ids + 4 * i, 4);
	if (mlen == 0) {
		if (*state != RMQ_QUEUED_RELEASED) {
			*why = "a message without its record";
			return -EINVAL;
		}
		return 0;
	}
	int rc = rmq_record_msg_decode(rec, mlen, now, 0, &it->msg, why);
	return rc == -ETIME ? 1 : rc;
}

/* A message read is kept by this node's data directory from now on, if
 * the session's queue is kept. */
static void
item_keep(struct rmq_session *s, struct rmq_qitem *it)
{
	if (it->msg && rmq_session_kept(s))
		it->kept =
		    (uint8_t)rmq_worker_keep(s->w, it->msg, s->key, it->qos);
}

/* One message of the image into the session; its identity, if any, into
 * ids_out[*nids]. */
static int
import_item(struct rmq_session *s, struct image_in *in, uint64_t now,
    struct rmq_ident *ids_out, uint32_t *nids, const char **why)
{
	struct rmq_qitem it;
	uint8_t state;
	uint16_t pid;
	struct rmq_ident k;
	int rc = item_read(in, now, &it, &state, &pid, &k, why);
	if (rc != 0)
		return rc == 1 ? 0 : rc; /* expired: dropped, as it would be */
	if (k.xid)
		ids_out[(*nids)++] = k;
	item_keep(s, &it);
	rc = rmq_session_restore_item(s, &it, state, pid);
	if (it.msg)
		rmq_msg_rele(it.msg);
	return rc;
}

int
rmq_session_import(struct rmq_session *s, const uint8_t *p, size_t len,
    const char **why)
{
	struct image_in in = { p, len };
	const uint8_t *v = img_take(&in, 5);
	if (v == NULL || v[0] != IMAGE_VERSION) {
		*why = v ? "an image of an unknown version" : "an empty image";
		return -EINVAL;
	}
	size_t rlen = (size_t)get_le(v + 1, 4);
	const uint8_t *rp = img_take(&in, rlen);
	if (rp == NULL) {
		*why = "the session record cut short";
		return -EINVAL;
	}
	struct rmq_record_session rec;
	int rc = rmq_record_session_decode(rp, rlen, &rec, why);
	if (rc != 0)
		return rc;
	struct rmq_session_rare *r = rmq_session_rare(s);
	if (r == NULL) {
		free(rec.subs);
		return -ENOMEM;
	}
	s->session_expiry = rec.session_expiry;
	for (uint32_t i = 0; i < rec.nsubs && rc == 0; i++) {
		struct rmq_sub opt = rec.subs[i].opt;
		opt.owner = s->key;
		opt.flags &= (uint8_t)~RMQ_SUB_KEPT; /* the store marks it */
		rc = rmq_session_subscribe_restored(s, rec.subs[i].filter,
		    rec.subs[i].len, &opt);
	}
	free(rec.subs);
	if (rc != 0)
		return rc;
	const uint8_t *q = img_take(&in, 2);
	uint16_t nq2 = q ? (uint16_t)get_le(q, 2) : 0;
	const uint8_t *ids = q ? img_take(&in, 2u * nq2) : NULL;
	if (ids == NULL) {
		*why = "the QoS 2 ids cut short";
		return -EINVAL;
	}
	if (nq2 &&
	    rmq_grow(&r->q2in, &r->q2in_cap, (uint32_t)r->nq2in + nq2,
		sizeof(*r->q2in), 8, 65535) != 0)
		return -ENOMEM;
	for (uint16_t i = 0; i < nq2; i++)
		r->q2in[r->nq2in++] = (uint16_t)get_le(ids + 2 * i, 2);
	const uint8_t *c = img_take(&in, 4);
	if (c == NULL) {
		*why = "the message count cut short";
		return -EINVAL;
	}
	uint32_t n = (uint32_t)get_le(c, 4);
	/* Each item takes ITEM_FIXED bytes at least: a count past what is
	 * left is a lie, refused before anything is allocated for it. */
	if (n > in.left / ITEM_FIXED) {
		*why = "more messages than bytes";
		return -EINVAL;
	}
	struct rmq_ident *known = n ? malloc(n * sizeof(*known)) : NULL;
	if (n && known == NULL)
		return -ENOMEM;
	uint32_t nknown = 0;
	uint64_t now = rmq_loop_clock_ms();
	for (uint32_t i = 0; i < n && rc == 0; i++)
		rc = import_item(s, &in, now, known, &nknown, why);
	if (rc == 0 && in.left) {
		*why = "bytes after the last message";
		rc = -EINVAL;
	}
	if (rc != 0 || nknown == 0) {
		free(known);
		return rc;
	}
	qsort(known, nknown, sizeof(*known), ident_cmp);
	free(r->moved_ids);
	r->moved_ids = known;
	r->nmoved_ids = nknown;
	r->moved_until_ms = 0; /* until the tail is in */
	return 0;
}

/* ---- a peer's claim on a session of this node ---- */

void
rmq_cluster_release(struct rmq_broker *b, const char *id, size_t len,
    uint64_t stamp, int clean, rmq_release_done done, void *arg)
{
	rmq_cluster_stamp_seen(stamp);
	uint64_t key;
	if (!rmq_registry_find(b->registry, id, len, &key)) {
		done(arg, RMQ_RELEASE_NONE, NULL, 0, 0);
		return;
	}
	struct rmq_release *r = malloc(sizeof(*r) + len);
	struct rmq_inbox_msg *m = calloc(1, sizeof(*m));
	if (r == NULL || m == NULL || len > UINT16_MAX) {
		/* Without memory the session stays here: the claim loses,
		 * rather than the identifier being held twice. */
		free(r);
		free(m);
		done(arg, RMQ_RELEASE_NEWER, NULL, 0, 0);
		return;
	}
	*r = (struct rmq_release){ stamp, (uint8_t)(clean != 0), done, arg,
		(uint16_t)len };
	memcpy(r->id, id, len);
	m->kind = RMQ_INBOX_RELEASE;
	m->release.key = key;
	m->release.r = r;
	rmq_worker_post(b->workers[RMQ_KEY_WORKER(key)], m);
}

static void
release_answer(struct rmq_release *r, enum rmq_release_result res,
    uint8_t *image, size_t len, uint64_t stub)
{
	r->done(r->arg, res, image, len, stub);
	free(r);
}

/* The session's connection is gone (or it had none): it leaves, as an
 * image and a stub, or ends. */
static void
release_finish(struct rmq_session *s)
{
	struct rmq_release *r = s->rare->release;
	s->rare->release = NULL;
	uint8_t *image = NULL;
	size_t len = 0;
	/* Arrived here itself and still waiting for its tail: what it held
	 * goes in its queue, and so into the image; its tail will find it
	 * gone. */
	rmq_session_hold_end(s);
	if (!r->clean && s->session_expiry != 0) {
		/* Resumed elsewhere before its delay passed: the will is not
		 * sent [MQTT-3.1.3-9]. */
		if (s->will) {
			rmq_msg_rele(s->will);
			s->will = NULL;
			s->will_pending = 0;
		}
		if (rmq_session_export(s, &image, &len) != 0)
			rmq_log(RMQ_LOG_WARNING,
			    "client %.*s: its session could not be written for the node that claims it (no memory); it starts anew there",
			    s->client_id_len, s->client_id);
	} else {
		/* Its session ends [MQTT-3.1.3-9]. */
		rmq_session_publish_will(s);
	}
	if (s->w->cfg.connection_messages)
		rmq_log(RMQ_LOG_INFO,
		    "client %.*s: session taken over by another node%s",
		    s->client_id_len, s->client_id,
		    image ? ", its state sent there" : "");
	rmq_session_unstore(s);
	if (image == NULL || s->w->b->cluster == NULL) {
		rmq_session_destroy(s);
		release_answer(r, RMQ_RELEASE_ENDED, image, len, 0);
		return;
	}
	/* The stub: what the image holds is the claimant's now; what comes
	 * from here on is collected for the tail.  The identifier is free
	 * for a connection here, which claims it anew. */
	rmq_session_outq_clear(s);
	s->rare->nq2in = 0;
	rmq_registry_release(s->w->b->registry, s->client_id, s->client_id_len,
	    s->key);
	s->registered = 0;
	s->state = RMQ_SESS_MOVING;
	release_answer(r, RMQ_RELEASE_ENDED, image, len, s->key);
}

void
rmq_worker_release(struct rmq_worker *w, uint64_t key, struct rmq_release *r)
{
	struct rmq_session *s = w ? rmq_worker_session(w, key) : NULL;
	if (s == NULL || !s->registered || s->client_id_len != r->len ||
	    memcmp(s->client_id, r->id, r->len) != 0) {
		release_answer(r, RMQ_RELEASE_NONE, NULL, 0, 0);
		return;
	}
	struct rmq_session_rare *rare = rmq_session_rare(s);
	if (rare == NULL || rare->claim_stamp > r->stamp) {
		release_answer(r, RMQ_RELEASE_NEWER, NULL, 0, 0);
		return;
	}
	if (rare->release) {
		/* Two claims wait for one connection: the newer goes on. */
		struct rmq_release *older = rare->release;
		if (older->stamp > r->stamp) {
			release_answer(r, RMQ_RELEASE_NEWER, NULL, 0, 0);
			return;
		}
		rare->release = r;
		release_answer(older, RMQ_RELEASE_NEWER, NULL, 0, 0);
		return;
	}
	rare->release = r;
	if (s->conn == NULL) {
		/* Arrived here itself, its tail not in yet: it leaves once
		 * the tail is, so that nothing of it is left behind. */
		if (rare->move == 0)
			release_finish(s);
		return;
	}
	/* [MQTT-3.1.4-3]: the connection is told and closed; its close
	 * (session_gone) lets the session leave. */
	if (s->state == RMQ_SESS_LIVE) {
		rare->closed_for = RMQ_RC_SESSION_TAKEN_OVER;
		rmq_session_disconnect(s, RMQ_RC_SESSION_TAKEN_OVER);
	} else if (s->state != RMQ_SESS_CLOSING) {
		rmq_session_close(s);
	}
}

int
rmq_session_release_closed(struct rmq_session *s)
{
	if (s->rare == NULL || s->rare->release == NULL)
		return 0;
	if (s->rare->move) {
		/* Offline until its tail is in (or given up). */
		s->state = RMQ_SESS_OFFLINE;
		s->deadline_ms = UINT64_MAX;
		return 1;
	}
	release_finish(s);
	return 1;
}

void
rmq_session_release_gone(struct rmq_session *s)
{
	struct rmq_release *r = s->rare->release;
	s->rare->release = NULL;
	release_answer(r, RMQ_RELEASE_ENDED, NULL, 0, 0);
}

/* ---- the answer to a claim of this node's ---- */

/* Bytes from the cluster (an image, a tail) for session key, into its
 * worker's inbox as `kind`; 0, or -ENOMEM with the bytes freed. */
static int
post_bytes(struct rmq_broker *b, enum rmq_inbox_kind kind, uint64_t key,
    uint64_t move, int lost, uint8_t *bytes, size_t len)
{
	struct rmq_inbox_msg *m = calloc(1, sizeof(*m));
	if (m == NULL) {
		free(bytes);
		return -ENOMEM;
	}
	m->kind = kind;
	m->claimed.key = key;
	m->claimed.move = move;
	m->claimed.lost = (uint8_t)(lost != 0);
	m->claimed.image = bytes;
	m->claimed.len = len;
	rmq_worker_post(b->workers[RMQ_KEY_WORKER(key)], m);
	return 0;
}

void
rmq_cluster_claimed(struct rmq_broker *b, uint64_t key, int lost,
    uint8_t *image, size_t len, uint64_t move)
{
	/* Without memory the CONNECT times out (connect_timeout). */
	(void)post_bytes(b, RMQ_INBOX_CLAIMED, key, move, lost, image, len);
}

/* ---- the tail ---- */

struct rmq_pass {
	atomic_uint left; /* workers yet to pass */
	uint64_t stub;
	void (*done)(void *arg, uint8_t *tail, size_t len);
	void *arg;
};

static void
tail_take_post(struct rmq_broker *b, uint64_t stub,
    void (*done)(void *arg, uint8_t *tail, size_t len), void *arg)
{
	struct rmq_inbox_msg *m = calloc(1, sizeof(*m));
	if (m == NULL) {
		/* The stub stays until its worker stops; the claimant
		 * goes on at its deadline without the tail. */
		if (done)
			done(arg, NULL, 0);
		return;
	}
	m->kind = RMQ_INBOX_TAIL_TAKE;
	m->take.key = stub;
	m->take.done = done;
	m->take.arg = arg;
	rmq_worker_post(b->workers[RMQ_KEY_WORKER(stub)], m);
}

void
rmq_cluster_tail_take(struct rmq_broker *b, uint64_t stub,
    void (*done)(void *arg, uint8_t *tail, size_t len), void *arg)
{
	/* A worker's publish (or a peer's message it was given) routed to
	 * the stub is in the stub's worker's inbox once that worker's turn
	 * ends: every worker passes first, each handing its batches on. */
	struct rmq_pass *p = done ? calloc(1, sizeof(*p)) : NULL;
	struct rmq_inbox_msg *m[RMQ_MAX_WORKERS];
	unsigned n = 0;
	for (; p != NULL && n < b->nworkers; n++)
		if ((m[n] = calloc(1, sizeof(*m[n]))) == NULL)
			break;
	if (p == NULL || n < b->nworkers) {
		for (unsigned i = 0; i < n; i++)
			free(m[i]);
		free(p);
		tail_take_post(b, stub, done, arg);
		return;
	}
	atomic_init(&p->left, b->nworkers);
	p->stub = stub;
	p->done = done;
	p->arg = arg;
	for (unsigned i = 0; i < n; i++) {
		m[i]->kind = RMQ_INBOX_PASS;
		m[i]->pass = p;
		rmq_worker_post(b->workers[i], m[i]);
	}
}

void
rmq_worker_pass(struct rmq_broker *b, struct rmq_pass *p, int ran)
{
	if (atomic_fetch_sub(&p->left, 1) != 1)
		return;
	if (ran)
		tail_take_post(b, p->stub, p->done, p->arg);
	else
		p->done(p->arg, NULL, 0);
	free(p);
}

void
rmq_worker_tail_take(struct rmq_worker *w, uint64_t key,
    void (*done)(void *arg, uint8_t *tail, size_t len), void *arg)
{
	struct rmq_session *s = rmq_worker_session(w, key);
	if (s == NULL || s->state != RMQ_SESS_MOVING) {
		if (done)
			done(arg, NULL, 0);
		return;
	}
	struct image_out o = { .w = w };
	uint8_t *p = img_room(&o, 5);
	if (p != NULL)
		p[0] = TAIL_VERSION;
	for (uint32_t i = 0; done && !o.failed && i < s->pend_len; i++) {
		const struct rmq_qitem *it =
		    &s->pending[(s->pend_head + i) % s->pend_cap];
		/* The image's item form, waiting. */
		if (image_item(&o, it, RMQ_QUEUED_WAITING, 0) != 0)
			break;
	}
	if (!o.failed && o.p)
		put_le(o.p + 1, o.n, 4);
	/* Sent before the stub ends: a node that drains counts the stub
	 * until then, and its tail is on the control stream by then. */
	if (done && o.failed) {
		rmq_log(RMQ_LOG_WARNING,
		    "worker %u: a moved session's tail could not be written (no memory); its %u messages are lost",
		    w->id, s->pend_len);
		done(arg, NULL, 0);
	} else if (done) {
		done(arg, o.p, o.len);
		o.p = NULL;
	}
	free(o.p);
	rmq_session_destroy(s);
}

int
rmq_session_hold(struct rmq_session *s, const struct rmq_qitem *it)
{
	struct rmq_session_rare *r = s->rare;
	struct rmq_worker *w = s->w;
	/* Bounded as a connected session's queue is: in bytes. */
	uint64_t charge = it->msg->size + sizeof(*it);
	if (r->held_bytes + charge > w->cfg.max_queued_bytes ||
	    rmq_grow(&r->held, &r->held_cap, r->held_n + 1, sizeof(*r->held),
		16, UINT32_MAX) != 0) {
		rmq_count(&w->st.dropped_queue_full, 1);
		rmq_session_kept_done(s, it);
		rmq_msg_rele(it->msg);
		return -ENOBUFS;
	}
	r->held[r->held_n++] = *it;
	r->held_bytes += charge;
	return 0;
}

/* What was held goes into the queue, in order, but the messages whose
 * identity is in seen[0..n) (sorted): the image or the tail brought them
 * already.  The session holds no more. */
static void
hold_release_but(struct rmq_session *s, const struct rmq_ident *seen,
    uint32_t n)
{
	struct rmq_session_rare *r = s->rare;
	struct rmq_qitem *held = r->held;
	uint32_t nheld = r->held_n;
	r->held = NULL;
	r->held_n = r->held_cap = 0;
	r->held_bytes = 0;
	r->move = 0;
	uint32_t twice = 0;
	for (uint32_t i = 0; i < nheld; i++) {
		struct rmq_ident k = { 0, held[i].msg->xid };
		if (k.xid && n) {
			k.uid = origin_uid(s->w, held[i].msg);
			if (bsearch(&k, seen, n, sizeof(*seen), ident_cmp)) {
				rmq_session_kept_done(s, &held[i]);
				rmq_msg_rele(held[i].msg);
				twice++;
				continue;
			}
		}
		(void)rmq_session_enqueue(s, &held[i]);
	}
	free(held);
	if (nheld)
		rmq_log(RMQ_LOG_DEBUG,
		    "worker %u: client %.*s: %u messages held while its session moved here, %u of them come already",
		    s->w->id, s->client_id_len, s->client_id, nheld, twice);
}

/* The identities a move brought stay a while: a copy routed to this node
 * before its routes were everywhere may arrive after the tail (another
 * stream), and is dropped. */
static void
moved_keep(struct rmq_session *s, struct rmq_ident *ids, uint32_t n)
{
	struct rmq_session_rare *r = s->rare;
	if (ids != r->moved_ids)
		free(r->moved_ids);
	r->moved_ids = n ? ids : NULL;
	r->nmoved_ids = n;
	r->moved_until_ms = s->w->loop->now_ms + RMQ_MOVE_DEDUP_MS;
	if (n == 0)
		free(ids);
}

int
rmq_session_moved_twice(struct rmq_session *s, const struct rmq_msg *m)
{
	struct rmq_session_rare *r = s->rare;
	/* 0: the move is under way (its tail awaited): kept. */
	if (r->moved_until_ms && s->w->loop->now_ms >= r->moved_until_ms) {
		free(r->moved_ids);
		r->moved_ids = NULL;
		r->nmoved_ids = 0;
		return 0;
	}
	if (m->xid == 0)
		return 0;
	struct rmq_ident k = { origin_uid(s->w, m), m->xid };
	return bsearch(&k, r->moved_ids, r->nmoved_ids, sizeof(k), ident_cmp) !=
	    NULL;
}

static void
hold_release(struct rmq_session *s)
{
	struct rmq_session_rare *r = s->rare;
	hold_release_but(s, r->moved_ids, r->nmoved_ids);
	moved_keep(s, r->moved_ids, r->nmoved_ids);
}

void
rmq_session_hold_end(struct rmq_session *s)
{
	if (s->rare == NULL || s->rare->move == 0)
		return;
	hold_release(s);
}

void
rmq_cluster_tail_give(struct rmq_broker *b, uint64_t key, uint64_t move,
    uint8_t *tail, size_t len)
{
	/* Without memory the session holds until its worker stops. */
	(void)post_bytes(b, RMQ_INBOX_TAIL, key, move, 0, tail, len);
}

/* The tail's messages into the session, then what it held but for the
 * messages the image or the tail brought. */
static void
tail_merge(struct rmq_session *s, const uint8_t *p, size_t len)
{
	struct rmq_worker *w = s->w;
	struct rmq_session_rare *r = s->rare;
	/* Not holding while the tail goes in. */
	uint64_t move = r->move;
	r->move = 0;
	struct image_in in = { p, len };
	const uint8_t *h = img_take(&in, 5);
	int bad = h == NULL || h[0] != TAIL_VERSION;
	uint32_t n = bad ? 0 : (uint32_t)get_le(h + 1, 4);
	if (n > in.left / ITEM_FIXED)
		bad = 1;
	uint32_t nseen = r->nmoved_ids;
	struct rmq_ident *seen =
	    bad ? NULL : malloc((nseen + (size_t)n + 1) * sizeof(*seen));
	if (seen != NULL && nseen)
		memcpy(seen, r->moved_ids, nseen * sizeof(*seen));
	uint64_t now = rmq_loop_clock_ms();
	for (uint32_t i = 0; i < n && !bad; i++) {
		struct rmq_qitem it;
		uint8_t state;
		uint16_t pid;
		struct rmq_ident k;
		const char *why = NULL;
		int rc = item_read(&in, now, &it, &state, &pid, &k, &why);
		if (rc == -EINVAL)
			bad = 1;
		if (k.xid && seen && rc != -EINVAL)
			seen[nseen++] = k;
		if (rc != 0 || it.msg == NULL)
			continue;
		item_keep(s, &it);
		(void)rmq_session_enqueue(s, &it);
	}
	if (bad)
		rmq_log(RMQ_LOG_WARNING,
		    "worker %u: client %.*s: the tail of its session from another node is malformed; what was read of it is queued",
		    w->id, s->client_id_len, s->client_id);
	rmq_log(RMQ_LOG_DEBUG,
	    "worker %u: client %.*s: its session's tail in (%u messages)",
	    w->id, s->client_id_len, s->client_id, n);
	r->move = move;
	if (seen == NULL) {
		/* No memory for the look-up: what the image brought is
		 * still told apart. */
		hold_release(s);
		return;
	}
	qsort(seen, nseen, sizeof(*seen), ident_cmp);
	hold_release_but(s, seen, nseen);
	moved_keep(s, seen, nseen);
}

void
rmq_session_tail_give(struct rmq_worker *w, uint64_t key, uint64_t move,
    uint8_t *tail, size_t len)
{
	struct rmq_session *s = rmq_worker_session(w, key);
	if (s == NULL || s->rare == NULL || s->rare->move != move ||
	    move == 0) {
		/* The session left meanwhile, or the image was not read. */
		free(tail);
		return;
	}
	if (tail == NULL)
		hold_release(s);
	else
		tail_merge(s, tail, len);
	free(tail);
	/* Claimed by another node meanwhile: it leaves now, tail and all. */
	if (s->rare->release && s->conn == NULL)
		release_finish(s);
}

/* ---- the identifiers this node holds ---- */

void
rmq_cluster_sessions_each(struct rmq_broker *b, rmq_session_list_fn fn,
    void *arg)
{
	for (unsigned i = 0; i < b->nworkers; i++) {
		struct rmq_inbox_msg *m = calloc(1, sizeof(*m));
		if (m == NULL) {
			/* That worker's part is empty: the peer keeps what
			 * it holds of those identifiers until the next time
			 * they meet, or a claim. */
			fn(arg, i, NULL, 0, 0);
			continue;
		}
		m->kind = RMQ_INBOX_LIST;
		m->list.fn = fn;
		m->list.arg = arg;
		rmq_worker_post(b->workers[i], m);
	}
}

void
rmq_worker_list(struct rmq_worker *w, rmq_session_list_fn fn, void *arg)
{
	for (uint32_t i = 0; i < w->table_used; i++) {
		const struct rmq_session *s = w->table[i];
		if (s == NULL || !s->registered || s->client_id == NULL)
			continue;
		fn(arg, w->id, s->client_id, s->client_id_len,
		    s->rare ? s->rare->claim_stamp : 0);
	}
	fn(arg, w->id, NULL, 0, 0);
}

/* ---- an older session's messages, after a partition or a restart ---- */

void
rmq_cluster_state_give(struct rmq_broker *b, const char *id, size_t len,
    uint8_t *image, size_t ilen)
{
	uint64_t key;
	int rc = -ENOENT;
	if (rmq_registry_find(b->registry, id, len, &key))
		rc = post_bytes(b, RMQ_INBOX_STATE, key, 0, 0, image, ilen);
	else
		free(image);
	if (rc != 0)
		/* Its client left here too meanwhile (or no memory). */
		rmq_log(RMQ_LOG_WARNING,
		    "client %.*s: the messages of its older session on another node could not be queued here (%s); dropped",
		    (int)len, id, rc == -ENOENT ? "no session" : "no memory");
}

void
rmq_session_state_merge(struct rmq_worker *w, uint64_t key, uint8_t *image,
    size_t len)
{
	struct rmq_session *s = rmq_worker_session(w, key);
	struct image_in in = { image, len };
	const uint8_t *v = img_take(&in, 5);
	const uint8_t *q = NULL, *c = NULL;
	if (s != NULL && v != NULL && v[0] == IMAGE_VERSION &&
	    img_take(&in, (size_t)get_le(v + 1, 4)) != NULL &&
	    (q = img_take(&in, 2)) != NULL &&
	    img_take(&in, 2u * (size_t)get_le(q, 2)) != NULL)
		c = img_take(&in, 4);
	uint32_t n = c ? (uint32_t)get_le(c, 4) : 0, took = 0;
	uint64_t now = rmq_loop_clock_ms();
	const char *why = "a part cut short";
	int rc = 0;
	for (uint32_t i = 0; i < n && rc >= 0; i++) {
		struct rmq_qitem it;
		uint8_t state;
		uint16_t pid;
		struct rmq_ident k;
		rc = item_read(&in, now, &it, &state, &pid, &k, &why);
		if (rc != 0 || it.msg == NULL)
			continue;
		/* In flight there or queued, it goes out anew: the client's
		 * session state of it went with that session. */
		item_keep(s, &it);
		(void)rmq_session_enqueue(s, &it);
		took++;
	}
	if (s != NULL && (c == NULL || rc < 0))
		rmq_log(RMQ_LOG_WARNING,
		    "worker %u: client %.*s: the messages of its older session on another node are malformed (%s); %u taken",
		    w->id, s->client_id_len, s->client_id, why, took);
	else if (s != NULL)
		rmq_log(RMQ_LOG_INFO,
		    "worker %u: client %.*s: %u messages of its older session on another node queued",
		    w->id, s->client_id_len, s->client_id, took);
	free(image);
}
