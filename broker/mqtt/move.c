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
 * Image: a version byte, the session record (u32 length first), the QoS 2
 * ids (u16 count, u16 each), then the messages (u32 count; each its QoS,
 * state, packet id, retain flag, subscription identifiers and stored
 * flag, then its record, u32 length first; a released QoS 2 message may
 * come without one).  Integers are little-endian, as in the records.
 */
#include <errno.h>
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

#define IMAGE_VERSION 1
#define ITEM_FIXED 12 /* an item's bytes besides its ids and record */

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
	uint8_t *p;
	size_t len, cap;
	int failed;
	uint32_t n;
};

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
	struct image_out o = { 0 };
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

/* One message of the image into the session. */
static int
import_item(struct rmq_session *s, struct image_in *in, uint64_t now,
    const char **why)
{
	const uint8_t *h = img_take(in, 8);
	if (h == NULL) {
		*why = "a message cut short";
		return -EINVAL;
	}
	struct rmq_qitem it = {
		.qos = h[0],
		.retain = (uint8_t)(h[4] != 0),
		.nsubid = h[5],
		.stored = (uint8_t)(h[6] != 0),
	};
	uint8_t state = h[1];
	uint16_t pid = (uint16_t)get_le(h + 2, 2);
	if (it.qos > 2 || state > RMQ_QUEUED_RELEASED ||
	    it.nsubid > RMQ_QITEM_SUBIDS ||
	    (state != RMQ_QUEUED_WAITING && (pid == 0 || it.qos == 0))) {
		*why = "a message with a bad QoS, state or packet id";
		return -EINVAL;
	}
	const uint8_t *ids = img_take(in, 4u * it.nsubid);
	const uint8_t *lp = img_take(in, 4);
	size_t mlen = lp ? (size_t)get_le(lp, 4) : 0;
	const uint8_t *rec = lp ? img_take(in, mlen) : NULL;
	if (ids == NULL || rec == NULL) {
		*why = "a message cut short";
		return -EINVAL;
	}
	for (unsigned i = 0; i < it.nsubid; i++)
		it.subid[i] = (uint32_t)get_le(ids + 4 * i, 4);
	if (mlen == 0) {
		if (state != RMQ_QUEUED_RELEASED) {
			*why = "a message without its record";
			return -EINVAL;
		}
		return rmq_session_restore_item(s, &it, state, pid);
	}
	struct rmq_msg *m = NULL;
	int rc = rmq_record_msg_decode(rec, mlen, now, 0, &m, why);
	if (rc == -ETIME)
		return 0; /* expired on the way: dropped, as it would be */
	if (rc != 0)
		return rc;
	it.msg = m;
	/* Kept by this node's data directory from now on. */
	if (rmq_session_kept(s))
		it.kept = (uint8_t)rmq_worker_keep(s->w, m, s->key, it.qos);
	rc = rmq_session_restore_item(s, &it, state, pid);
	rmq_msg_rele(m);
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
	uint64_t now = rmq_loop_clock_ms();
	for (uint32_t i = 0; i < n && rc == 0; i++)
		rc = import_item(s, &in, now, why);
	if (rc == 0 && in.left) {
		*why = "bytes after the last message";
		rc = -EINVAL;
	}
	return rc;
}

/* ---- a peer's claim on a session of this node ---- */

void
rmq_cluster_release(struct rmq_broker *b, const char *id, size_t len,
    uint64_t stamp, int clean, rmq_release_done done, void *arg)
{
	rmq_cluster_stamp_seen(stamp);
	uint64_t key;
	if (!rmq_registry_find(b->registry, id, len, &key)) {
		done(arg, RMQ_RELEASE_NONE, NULL, 0);
		return;
	}
	struct rmq_release *r = malloc(sizeof(*r) + len);
	struct rmq_inbox_msg *m = calloc(1, sizeof(*m));
	if (r == NULL || m == NULL || len > UINT16_MAX) {
		/* Without memory the session stays here: the claim loses,
		 * rather than the identifier being held twice. */
		free(r);
		free(m);
		done(arg, RMQ_RELEASE_NEWER, NULL, 0);
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
    uint8_t *image, size_t len)
{
	r->done(r->arg, res, image, len);
	free(r);
}

/* The session's connection is gone (or it had none): it leaves. */
static void
release_finish(struct rmq_session *s)
{
	struct rmq_release *r = s->rare->release;
	s->rare->release = NULL;
	uint8_t *image = NULL;
	size_t len = 0;
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
	rmq_session_destroy(s);
	release_answer(r, RMQ_RELEASE_ENDED, image, len);
}

void
rmq_worker_release(struct rmq_worker *w, uint64_t key, struct rmq_release *r)
{
	struct rmq_session *s = w ? rmq_worker_session(w, key) : NULL;
	if (s == NULL || !s->registered || s->client_id_len != r->len ||
	    memcmp(s->client_id, r->id, r->len) != 0) {
		release_answer(r, RMQ_RELEASE_NONE, NULL, 0);
		return;
	}
	struct rmq_session_rare *rare = rmq_session_rare(s);
	if (rare == NULL || rare->claim_stamp > r->stamp) {
		release_answer(r, RMQ_RELEASE_NEWER, NULL, 0);
		return;
	}
	if (rare->release) {
		/* Two claims wait for one connection: the newer goes on. */
		struct rmq_release *older = rare->release;
		if (older->stamp > r->stamp) {
			release_answer(r, RMQ_RELEASE_NEWER, NULL, 0);
			return;
		}
		rare->release = r;
		release_answer(older, RMQ_RELEASE_NEWER, NULL, 0);
		return;
	}
	rare->release = r;
	if (s->conn == NULL) {
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
	release_finish(s);
	return 1;
}

void
rmq_session_release_gone(struct rmq_session *s)
{
	struct rmq_release *r = s->rare->release;
	s->rare->release = NULL;
	release_answer(r, RMQ_RELEASE_ENDED, NULL, 0);
}

/* ---- the answer to a claim of this node's ---- */

void
rmq_cluster_claimed(struct rmq_broker *b, uint64_t key, int lost,
    uint8_t *image, size_t len)
{
	struct rmq_inbox_msg *m = calloc(1, sizeof(*m));
	if (m == NULL) {
		/* The CONNECT times out (connect_timeout). */
		free(image);
		return;
	}
	m->kind = RMQ_INBOX_CLAIMED;
	m->claimed.key = key;
	m->claimed.lost = (uint8_t)(lost != 0);
	m->claimed.image = image;
	m->claimed.len = len;
	rmq_worker_post(b->workers[RMQ_KEY_WORKER(key)], m);
}
