/* cluster/claims.c: the records of claims and answers, and the claims of
 * this node waiting for answers (claims.h). */
#include "claims.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cluster.h"
#include "wire.h"

static void
head(struct rmq_wout *o, char kind, const char *node)
{
	const uint8_t h[3] = { 'R', (uint8_t)kind, 1 };
	rmq_wput(o, h, sizeof(h));
	rmq_wput_str(o, node, strlen(node), 1);
}

static int
head_ok(struct rmq_win *in, char kind, char node[RMQ_NODE_NAME_MAX])
{
	int ok = rmq_wget_u(in, 1) == 'R' &&
	    rmq_wget_u(in, 1) == (uint8_t)kind && rmq_wget_u(in, 1) == 1;
	rmq_wget_name(in, node, RMQ_NODE_NAME_MAX, 0);
	return ok && !in->bad;
}

size_t
rmq_claim_encode(uint8_t *buf, size_t cap, const char *node, uint64_t claim,
    uint64_t stamp, uint8_t flags, const char *id, size_t len)
{
	struct rmq_wout o = { buf, 0, cap, 0 };
	head(&o, 'C', node);
	rmq_wput_u(&o, claim, 8);
	rmq_wput_u(&o, stamp, 8);
	rmq_wput_u(&o, flags, 1);
	rmq_wput_str(&o, id, len, 2);
	return o.full ? 0 : o.len;
}

int
rmq_claim_decode(const uint8_t *p, size_t n, struct rmq_claim_rec *c)
{
	struct rmq_win in = { p, n, 0 };
	if (!head_ok(&in, 'C', c->node))
		return -1;
	c->claim = rmq_wget_u(&in, 8);
	c->stamp = rmq_wget_u(&in, 8);
	c->flags = (uint8_t)rmq_wget_u(&in, 1);
	c->len = (size_t)rmq_wget_u(&in, 2);
	c->id = (const char *)rmq_wget_bytes(&in, c->len);
	/* An identifier is UTF-8 without U+0000 [MQTT-1.5.4-2]. */
	if (in.bad || in.left || c->claim == 0 ||
	    (c->len && memchr(c->id, '\0', c->len)))
		return -1;
	return 0;
}

size_t
rmq_answer_head_encode(uint8_t *buf, size_t cap, const char *node,
    uint64_t claim, uint8_t result)
{
	struct rmq_wout o = { buf, 0, cap, 0 };
	head(&o, 'A', node);
	rmq_wput_u(&o, claim, 8);
	rmq_wput_u(&o, result, 1);
	return o.full ? 0 : o.len;
}

int
rmq_answer_decode(const uint8_t *p, size_t n, struct rmq_answer_rec *a)
{
	struct rmq_win in = { p, n, 0 };
	if (!head_ok(&in, 'A', a->node))
		return -1;
	a->claim = rmq_wget_u(&in, 8);
	a->result = (uint8_t)rmq_wget_u(&in, 1);
	if (in.bad || a->result > RMQ_RELEASE_NEWER)
		return -1;
	a->image_len = in.left;
	a->image = in.left ? in.p : NULL;
	/* Only a session that ended here sends its state. */
	if (a->image && a->result != RMQ_RELEASE_ENDED)
		return -1;
	return 0;
}

size_t
rmq_move_rec_encode(uint8_t *buf, size_t cap, char kind, const char *node,
    uint64_t claim)
{
	struct rmq_wout o = { buf, 0, cap, 0 };
	head(&o, kind, node);
	rmq_wput_u(&o, claim, 8);
	return o.full ? 0 : o.len;
}

int
rmq_move_rec_decode(const uint8_t *p, size_t n, char kind,
    struct rmq_move_rec *r)
{
	struct rmq_win in = { p, n, 0 };
	if ((kind != 'U' && kind != 'L') || !head_ok(&in, kind, r->node))
		return -1;
	r->claim = rmq_wget_u(&in, 8);
	if (in.bad || r->claim == 0 || (kind == 'U' && in.left))
		return -1;
	r->body_len = in.left;
	r->body = in.left ? in.p : NULL;
	return 0;
}

size_t
rmq_ids_head_encode(uint8_t *buf, size_t cap, const char *node)
{
	struct rmq_wout o = { buf, 0, cap, 0 };
	head(&o, 'I', node);
	rmq_wput_u(&o, 0, 4);
	return o.full ? 0 : o.len;
}

void
rmq_ids_count(uint8_t *buf, size_t head_len, uint32_t count)
{
	for (int i = 0; i < 4; i++)
		buf[head_len - 4 + i] = (uint8_t)(count >> (24 - 8 * i));
}

size_t
rmq_ids_put(uint8_t *buf, size_t cap, uint64_t stamp, const char *id,
    size_t len)
{
	struct rmq_wout o = { buf, 0, cap, 0 };
	rmq_wput_u(&o, stamp, 8);
	rmq_wput_str(&o, id, len, 2);
	return o.full ? 0 : o.len;
}

int
rmq_ids_next(const uint8_t **p, size_t *left, uint64_t *stamp, const char **id,
    size_t *len)
{
	if (*left == 0)
		return 0;
	struct rmq_win in = { *p, *left, 0 };
	*stamp = rmq_wget_u(&in, 8);
	*len = (size_t)rmq_wget_u(&in, 2);
	*id = (const char *)rmq_wget_bytes(&in, *len);
	if (in.bad)
		return 0;
	*p = in.p;
	*left = in.left;
	return 1;
}

int
rmq_ids_decode(const uint8_t *p, size_t n, struct rmq_ids_rec *r)
{
	struct rmq_win in = { p, n, 0 };
	if (!head_ok(&in, 'I', r->node))
		return -1;
	r->count = (uint32_t)rmq_wget_u(&in, 4);
	if (in.bad)
		return -1;
	r->entries = in.p;
	r->entries_len = in.left;
	/* Every entry whole, and no more or fewer than counted. */
	const uint8_t *q = in.p;
	size_t left = in.left;
	uint64_t stamp;
	const char *id;
	size_t len;
	uint32_t k = 0;
	while (rmq_ids_next(&q, &left, &stamp, &id, &len)) {
		if (len && memchr(id, '\0', len))
			return -1;
		k++;
	}
	return left == 0 && k == r->count ? 0 : -1;
}

size_t
rmq_state_head_encode(uint8_t *buf, size_t cap, const char *node,
    const char *id, size_t len)
{
	struct rmq_wout o = { buf, 0, cap, 0 };
	head(&o, 'J', node);
	rmq_wput_str(&o, id, len, 2);
	return o.full ? 0 : o.len;
}

int
rmq_state_decode(const uint8_t *p, size_t n, struct rmq_state_rec *r)
{
	struct rmq_win in = { p, n, 0 };
	if (!head_ok(&in, 'J', r->node))
		return -1;
	r->len = (size_t)rmq_wget_u(&in, 2);
	r->id = (const char *)rmq_wget_bytes(&in, r->len);
	if (in.bad || in.left == 0 || (r->len && memchr(r->id, '\0', r->len)))
		return -1;
	r->image = in.p;
	r->image_len = in.left;
	return 0;
}

/* ---- the claims waiting ---- */

void
rmq_claims_init(struct rmq_claims *c)
{
	memset(c, 0, sizeof(*c));
	c->seq = 1;
}

void
rmq_claims_fini(struct rmq_claims *c)
{
	for (uint32_t i = 0; i < c->cap; i++)
		free(c->slot[i].image);
	free(c->slot);
	free(c->free_slots);
	memset(c, 0, sizeof(*c));
}

int
rmq_claims_open(struct rmq_claims *c, uint64_t key,
    const uint64_t waiting[RMQ_PEER_WORDS], uint64_t deadline_ms, uint64_t *id)
{
	if (c->nfree == 0) {
		if (c->cap >= RMQ_CLAIMS_MAX) {
			c->refused++;
			return -ENOSPC;
		}
		uint32_t cap = c->cap ? c->cap * 2 : 64;
		struct rmq_claim *s = realloc(c->slot, cap * sizeof(*s));
		if (s == NULL)
			return -ENOMEM;
		c->slot = s;
		uint32_t *f = realloc(c->free_slots, cap * sizeof(*f));
		if (f == NULL)
			return -ENOMEM;
		c->free_slots = f;
		memset(s + c->cap, 0, (cap - c->cap) * sizeof(*s));
		/* The lowest slots are taken first. */
		for (uint32_t i = cap; i > c->cap; i--)
			c->free_slots[c->nfree++] = i - 1;
		c->cap = cap;
	}
	uint32_t i = c->free_slots[--c->nfree];
	struct rmq_claim *cl = &c->slot[i];
	if (++c->seq == 0)
		c->seq = 1;
	*cl = (struct rmq_claim){
		.id = (uint64_t)c->seq << 32 | i,
		.key = key,
		.deadline_ms = deadline_ms,
	};
	memcpy(cl->waiting, waiting, sizeof(cl->waiting));
	c->live++;
	c->asked++;
	*id = cl->id;
	return 0;
}

static struct rmq_claim *
claims_find(struct rmq_claims *c, uint64_t id)
{
	uint32_t i = (uint32_t)id;
	if (id == 0 || i >= c->cap || c->slot[i].id != id)
		return NULL;
	return &c->slot[i];
}

static int
waiting_none(const struct rmq_claim *cl)
{
	for (unsigned k = 0; k < RMQ_PEER_WORDS; k++)
		if (cl->waiting[k])
			return 0;
	return 1;
}

static void
claims_settle(struct rmq_claims *c, struct rmq_claim *cl, rmq_claim_settled fn,
    void *arg)
{
	if (cl->lost)
		c->lost++;
	else if (cl->image)
		c->moved++;
	else
		c->settled_none++;
	uint64_t id = cl->id, key = cl->key;
	int lost = cl->lost;
	uint8_t *image = cl->image;
	size_t len = cl->image_len;
	uint32_t from = cl->image_from;
	if (lost) {
		free(image);
		image = NULL;
		len = 0;
	}
	c->free_slots[c->nfree++] = (uint32_t)cl->id;
	*cl = (struct rmq_claim){ 0 };
	c->live--;
	fn(arg, id, key, lost, image, len, from);
}

int
rmq_claims_answer(struct rmq_claims *c, uint64_t id, uint32_t number,
    uint8_t result, const uint8_t *image, size_t len, rmq_claim_settled fn,
    void *arg)
{
	struct rmq_claim *cl = claims_find(c, id);
	unsigned b = number - 1;
	if (cl == NULL || number == 0 || number > RMQ_MEMBERS_MAX ||
	    !(cl->waiting[b / 64] & (1ull << (b % 64)))) {
		c->answers_late++;
		return -ENOENT;
	}
	cl->waiting[b / 64] &= ~(1ull << (b % 64));
	if (result == RMQ_RELEASE_NEWER)
		cl->lost = 1;
	else if (result == RMQ_RELEASE_ENDED)
		c->ended++;
	if (image && len && cl->image == NULL) {
		cl->image = malloc(len);
		if (cl->image) {
			memcpy(cl->image, image, len);
			cl->image_len = len;
			cl->image_from = number;
		}
	}
	if (waiting_none(cl))
		claims_settle(c, cl, fn, arg);
	return 0;
}

void
rmq_claims_down(struct rmq_claims *c, uint32_t number, rmq_claim_settled fn,
    void *arg)
{
	if (number == 0 || number > RMQ_MEMBERS_MAX)
		return;
	unsigned b = number - 1;
	for (uint32_t i = 0; i < c->cap; i++) {
		struct rmq_claim *cl = &c->slot[i];
		if (cl->id == 0 || !(cl->waiting[b / 64] & (1ull << (b % 64))))
			continue;
		cl->waiting[b / 64] &= ~(1ull << (b % 64));
		if (waiting_none(cl))
			claims_settle(c, cl, fn, arg);
	}
}

void
rmq_claims_expire(struct rmq_claims *c, uint64_t now_ms, rmq_claim_settled fn,
    void *arg)
{
	for (uint32_t i = 0; c->live && i < c->cap; i++) {
		struct rmq_claim *cl = &c->slot[i];
		if (cl->id == 0 || now_ms < cl->deadline_ms)
			continue;
		c->timed_out++;
		claims_settle(c, cl, fn, arg);
	}
}

/* ---- moves under way ---- */

int
rmq_moves_add(struct rmq_moves *t, const struct rmq_move *m)
{
	if (t->n == t->cap) {
		if (t->cap >= RMQ_CLAIMS_MAX)
			return -ENOSPC;
		uint32_t cap = t->cap ? t->cap * 2 : 16;
		struct rmq_move *p = realloc(t->m, cap * sizeof(*p));
		if (p == NULL)
			return -ENOMEM;
		t->m = p;
		t->cap = cap;
	}
	t->m[t->n++] = *m;
	return 0;
}

struct rmq_move *
rmq_moves_find(struct rmq_moves *t, uint64_t claim, uint32_t peer)
{
	for (uint32_t i = 0; i < t->n; i++)
		if (t->m[i].claim == claim && t->m[i].peer == peer)
			return &t->m[i];
	return NULL;
}

void
rmq_moves_take(struct rmq_moves *t, struct rmq_move *m, struct rmq_move *out)
{
	*out = *m;
	*m = t->m[--t->n];
}

void
rmq_moves_fini(struct rmq_moves *t)
{
	free(t->m);
	memset(t, 0, sizeof(*t));
}
