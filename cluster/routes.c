/* cluster/routes.c: this node's routes and its peers', and the messages
 * that replicate them (routes.h).
 *
 * Messages, integers big-endian, names with a one-byte length, filters
 * with a two-byte one:
 *   delta     'R' 'D' 1  node epoch(8) seq(8) op(1) qos(1) filter
 *   request   'R' 'Q' 1  from to
 *   snapshot  'R' 'S' 1  node to epoch(8) seq(8) part(4) parts(4)
 *                        count(4), then count times: qos(1) filter
 */
#include "routes.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "topic.h"
#include "wire.h"

struct counts {
	uint32_t n[3]; /* local entries at QoS 0, 1, 2 */
};

static int
top_qos(const struct counts *c)
{
	for (int q = 2; q >= 0; q--)
		if (c->n[q])
			return q;
	return -1;
}

int
rmq_local_routes_init(struct rmq_local_routes *r)
{
	r->seq = 0;
	return rmq_strmap_init(&r->filters);
}

void
rmq_local_routes_fini(struct rmq_local_routes *r)
{
	size_t i = 0;
	struct rmq_strmap_entry *e;
	while ((e = rmq_strmap_next(&r->filters, &i)) != NULL)
		free(e->val);
	rmq_strmap_fini(&r->filters);
}

int
rmq_local_routes_change(struct rmq_local_routes *r, const char *filter,
    size_t len, int old_qos, int new_qos, enum rmq_route_op *op, uint8_t *qos)
{
	struct counts *c = rmq_strmap_get(&r->filters, filter, len);
	if (c == NULL) {
		if (new_qos < 0)
			return 0;
		c = calloc(1, sizeof(*c));
		void *old;
		if (c == NULL ||
		    rmq_strmap_put(&r->filters, filter, len, c, &old) != 0) {
			free(c);
			return -ENOMEM;
		}
	}
	int before = top_qos(c);
	if (old_qos >= 0 && old_qos <= 2 && c->n[old_qos] > 0)
		c->n[old_qos]--;
	if (new_qos >= 0 && new_qos <= 2)
		c->n[new_qos]++;
	int after = top_qos(c);
	if (after < 0) {
		free(rmq_strmap_del(&r->filters, filter, len));
	}
	if (after == before)
		return 0;
	*op = after < 0 ? RMQ_ROUTE_DEL : RMQ_ROUTE_PUT;
	*qos = after < 0 ? 0 : (uint8_t)after;
	r->seq++;
	return 1;
}

/* ---- messages ---- */

static void
head(struct rmq_wout *o, char kind)
{
	const uint8_t h[3] = { 'R', (uint8_t)kind, 1 };
	rmq_wput(o, h, sizeof(h));
}

static int
head_ok(struct rmq_win *in, char kind)
{
	return rmq_wget_u(in, 1) == 'R' && rmq_wget_u(in, 1) == (uint8_t)kind &&
	    rmq_wget_u(in, 1) == 1;
}

int
rmq_cluster_msg_kind(const uint8_t *p, size_t n)
{
	if (n < 3 || p[0] != 'R' || p[2] != 1)
		return 0;
	switch (p[1]) {
	case 'H':
	case 'D':
	case 'Q':
	case 'S':
	case 'T':
	case 'C':
	case 'A':
	case 'U':
	case 'L':
	case 'I':
	case 'J':
	case 'B':
	case 'Y':
	case 'Z': return p[1];
	default: return 0;
	}
}

size_t
rmq_delta_encode(uint8_t *buf, size_t cap, const char *node, uint64_t epoch,
    uint64_t seq, enum rmq_route_op op, uint8_t qos, const char *filter,
    size_t len)
{
	struct rmq_wout o = { buf, 0, cap, 0 };
	head(&o, 'D');
	rmq_wput_str(&o, node, strlen(node), 1);
	rmq_wput_u(&o, epoch, 8);
	rmq_wput_u(&o, seq, 8);
	rmq_wput_u(&o, op, 1);
	rmq_wput_u(&o, qos, 1);
	rmq_wput_str(&o, filter, len, 2);
	return o.full ? 0 : o.len;
}

/* A filter as a route carries it: a valid filter, or a valid shared
 * subscription ($share/{group}/{filter}). */
static int
filter_ok(const uint8_t *f, size_t len)
{
	return len > 0 && rmq_topic_filter_check((const char *)f, len) == 0;
}

int
rmq_delta_decode(const uint8_t *p, size_t n, struct rmq_delta *d)
{
	struct rmq_win in = { p, n, 0 };
	if (!head_ok(&in, 'D'))
		return -1;
	rmq_wget_name(&in, d->node, sizeof(d->node), 0);
	d->epoch = rmq_wget_u(&in, 8);
	d->seq = rmq_wget_u(&in, 8);
	d->op = (uint8_t)rmq_wget_u(&in, 1);
	d->qos = (uint8_t)rmq_wget_u(&in, 1);
	d->len = (size_t)rmq_wget_u(&in, 2);
	d->filter = rmq_wget_bytes(&in, d->len);
	if (in.bad || (d->op != RMQ_ROUTE_PUT && d->op != RMQ_ROUTE_DEL) ||
	    d->qos > 2 || !filter_ok(d->filter, d->len))
		return -1;
	return 0;
}

size_t
rmq_snapreq_encode(uint8_t *buf, size_t cap, const char *from, const char *to)
{
	struct rmq_wout o = { buf, 0, cap, 0 };
	head(&o, 'Q');
	rmq_wput_str(&o, from, strlen(from), 1);
	rmq_wput_str(&o, to, strlen(to), 1);
	return o.full ? 0 : o.len;
}

int
rmq_snapreq_decode(const uint8_t *p, size_t n, char *from, char *to)
{
	struct rmq_win in = { p, n, 0 };
	if (!head_ok(&in, 'Q'))
		return -1;
	rmq_wget_name(&in, from, RMQ_NODE_NAME_MAX, 0);
	rmq_wget_name(&in, to, RMQ_NODE_NAME_MAX, 0);
	return in.bad ? -1 : 0;
}

/* The fixed part of a snapshot part, written again for each. */
static void
part_head(struct rmq_wout *o, const char *node, const char *to, uint64_t epoch,
    uint64_t seq, uint32_t part, uint32_t parts, uint32_t count)
{
	o->len = 0;
	o->full = 0;
	head(o, 'S');
	rmq_wput_str(o, node, strlen(node), 1);
	rmq_wput_str(o, to, strlen(to), 1);
	rmq_wput_u(o, epoch, 8);
	rmq_wput_u(o, seq, 8);
	rmq_wput_u(o, part, 4);
	rmq_wput_u(o, parts, 4);
	rmq_wput_u(o, count, 4);
}

int
rmq_local_routes_snapshot(struct rmq_local_routes *r, const char *node,
    uint64_t epoch, const char *to,
    int (*send)(void *arg, const uint8_t *p, size_t n), void *arg)
{
	/* Parts are counted first, so that each says how many there are. */
	size_t hdr = 3 + 2 + strlen(node) + strlen(to) + 28;
	uint32_t parts = 1;
	size_t fill = hdr, i = 0;
	struct rmq_strmap_entry *e;
	while ((e = rmq_strmap_next(&r->filters, &i)) != NULL) {
		size_t one = 3 + e->len;
		if (fill + one > RMQ_ROUTES_PART_MAX) {
			parts++;
			fill = hdr;
		}
		fill += one;
	}
	uint8_t *buf = malloc(RMQ_ROUTES_PART_MAX);
	if (buf == NULL)
		return -ENOMEM;
	struct rmq_wout o = { buf, 0, RMQ_ROUTES_PART_MAX, 0 };
	uint32_t part = 0, count = 0;
	int rc = 0;
	part_head(&o, node, to, epoch, r->seq, part, parts, 0);
	i = 0;
	for (;;) {
		e = rmq_strmap_next(&r->filters, &i);
		if (e == NULL || o.len + 3 + e->len > RMQ_ROUTES_PART_MAX) {
			/* The count goes in its place, the last 4 bytes of
			 * the head. */
			for (int k = 0; k < 4; k++)
				buf[hdr - 1 - k] = (uint8_t)(count >> (8 * k));
			if (o.full || (rc = send(arg, buf, o.len)) != 0)
				break;
			if (e == NULL)
				break;
			part_head(&o, node, to, epoch, r->seq, ++part, parts,
			    0);
			count = 0;
		}
		int q = top_qos(e->val);
		rmq_wput_u(&o, (uint64_t)q, 1);
		rmq_wput_str(&o, e->key, e->len, 2);
		count++;
	}
	free(buf);
	return o.full ? -EMSGSIZE : rc;
}

/* A snapshot entry: qos(1) then a filter of a two-byte length.  Returns
 * the filter (into the message), NULL past the end. */
static const uint8_t *
snap_entry(struct rmq_win *in, uint8_t *qos, size_t *len)
{
	*qos = (uint8_t)rmq_wget_u(in, 1);
	*len = (size_t)rmq_wget_u(in, 2);
	return rmq_wget_bytes(in, *len);
}

int
rmq_snap_part_decode(const uint8_t *p, size_t n, struct rmq_snap_part *s)
{
	struct rmq_win in = { p, n, 0 };
	if (!head_ok(&in, 'S'))
		return -1;
	rmq_wget_name(&in, s->node, sizeof(s->node), 0);
	rmq_wget_name(&in, s->to, sizeof(s->to), 0);
	s->epoch = rmq_wget_u(&in, 8);
	s->seq = rmq_wget_u(&in, 8);
	s->part = (uint32_t)rmq_wget_u(&in, 4);
	s->parts = (uint32_t)rmq_wget_u(&in, 4);
	s->count = (uint32_t)rmq_wget_u(&in, 4);
	if (in.bad || s->parts == 0 || s->part >= s->parts)
		return -1;
	s->entries = in.p;
	s->entries_len = in.left;
	/* Every entry is checked here, so that installing cannot fail
	 * halfway on a bad one. */
	for (uint32_t k = 0; k < s->count; k++) {
		uint8_t q;
		size_t len;
		const uint8_t *f = snap_entry(&in, &q, &len);
		if (in.bad || q > 2 || !filter_ok(f, len))
			return -1;
	}
	return in.left == 0 ? 0 : -1;
}

/* ---- a peer's routes ---- */

int
rmq_peer_routes_init(struct rmq_peer_routes *p)
{
	memset(p, 0, sizeof(*p));
	if (rmq_strmap_init(&p->filters) != 0)
		return -ENOMEM;
	if (rmq_strmap_init(&p->snap) != 0) {
		rmq_strmap_fini(&p->filters);
		return -ENOMEM;
	}
	return 0;
}

void
rmq_peer_routes_fini(struct rmq_peer_routes *p)
{
	rmq_strmap_fini(&p->filters);
	rmq_strmap_fini(&p->snap);
}

static void
snap_drop(struct rmq_peer_routes *p)
{
	size_t i = 0;
	struct rmq_strmap_entry *e;
	while ((e = rmq_strmap_next(&p->snap, &i)) != NULL)
		rmq_strmap_del_at(&p->snap, e);
	p->snapping = 0;
	p->snap_got = 0;
}

void
rmq_peer_routes_clear(struct rmq_peer_routes *p, uint32_t node,
    const struct rmq_routes_index *ix)
{
	size_t i = 0;
	struct rmq_strmap_entry *e;
	while ((e = rmq_strmap_next(&p->filters, &i)) != NULL) {
		ix->remove(ix->arg, node, e->key, e->len);
		rmq_strmap_del_at(&p->filters, e);
	}
	snap_drop(p);
	p->synced = 0;
	p->epoch = 0;
	p->seq = 0;
}

static void
route_put(struct rmq_peer_routes *p, uint32_t node, const char *f, size_t len,
    uint8_t qos, const struct rmq_routes_index *ix)
{
	void *old;
	if (rmq_strmap_put(&p->filters, f, len, (void *)(uintptr_t)(qos + 1),
		&old) != 0)
		return; /* out of memory: the index keeps what it had */
	if (old != (void *)(uintptr_t)(qos + 1))
		ix->add(ix->arg, node, f, len, qos);
}

static void
route_del(struct rmq_peer_routes *p, uint32_t node, const char *f, size_t len,
    const struct rmq_routes_index *ix)
{
	if (rmq_strmap_del(&p->filters, f, len) != NULL)
		ix->remove(ix->arg, node, f, len);
}

enum rmq_delta_result
rmq_peer_routes_delta(struct rmq_peer_routes *p, uint32_t node,
    const struct rmq_delta *d, const struct rmq_routes_index *ix)
{
	if (!p->synced || d->epoch != p->epoch)
		return RMQ_DELTA_UNSYNCED;
	if (d->seq <= p->seq)
		return RMQ_DELTA_OLD;
	if (d->seq != p->seq + 1) {
		p->gaps++;
		return RMQ_DELTA_GAP;
	}
	const char *f = (const char *)d->filter;
	if (d->op == RMQ_ROUTE_PUT)
		route_put(p, node, f, d->len, d->qos, ix);
	else
		route_del(p, node, f, d->len, ix);
	p->seq = d->seq;
	p->deltas++;
	return RMQ_DELTA_APPLIED;
}

int
rmq_peer_routes_part(struct rmq_peer_routes *p, uint32_t node,
    const struct rmq_snap_part *s, const struct rmq_routes_index *ix)
{
	if (!p->snapping && p->synced && s->epoch == p->epoch &&
	    s->seq <= p->seq)
		return 0; /* no newer than what is applied (a second copy) */
	int fits = p->snapping && s->epoch == p->snap_epoch &&
	    s->seq == p->snap_seq && s->parts == p->snap_parts &&
	    s->part == p->snap_got;
	int rc = 0;
	if (!fits) {
		snap_drop(p);
		if (s->part != 0)
			return -1; /* the middle of another one: wait */
		rc = p->snapping ? -1 : 0;
		p->snapping = 1;
		p->snap_epoch = s->epoch;
		p->snap_seq = s->seq;
		p->snap_parts = s->parts;
	}
	struct rmq_win in = { s->entries, s->entries_len, 0 };
	for (uint32_t k = 0; k < s->count; k++) {
		uint8_t q;
		size_t len;
		const uint8_t *f = snap_entry(&in, &q, &len);
		void *old;
		if (rmq_strmap_put(&p->snap, (const char *)f, len,
			(void *)(uintptr_t)(q + 1), &old) != 0) {
			snap_drop(p);
			return -1;
		}
	}
	p->snap_got++;
	if (p->snap_got < p->snap_parts)
		return rc;
	/* Installed: routes gone from the snapshot are taken out, new or
	 * changed ones put in; the rest is not touched. */
	size_t i = 0;
	struct rmq_strmap_entry *e;
	while ((e = rmq_strmap_next(&p->filters, &i)) != NULL) {
		if (rmq_strmap_get(&p->snap, e->key, e->len) == NULL) {
			ix->remove(ix->arg, node, e->key, e->len);
			rmq_strmap_del_at(&p->filters, e);
		}
	}
	i = 0;
	while ((e = rmq_strmap_next(&p->snap, &i)) != NULL)
		route_put(p, node, e->key, e->len,
		    (uint8_t)((uintptr_t)e->val - 1), ix);
	p->epoch = p->snap_epoch;
	p->seq = p->snap_seq;
	p->synced = 1;
	p->snapshots++;
	snap_drop(p);
	return 1;
}
