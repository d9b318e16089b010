/* cluster/ask.c: the admin API's questions to the peers (ask.h). */
#include "ask.h"

#include <errno.h>
#include <string.h>

#include "wire.h"

int
rmq_asks_open(struct rmq_asks *t, const uint64_t up[RMQ_PEER_WORDS],
    unsigned asked, uint64_t deadline_ms, rmq_ask_answer_fn answer,
    rmq_ask_end_fn end, void *arg, uint64_t *id)
{
	if (t->n == RMQ_ASKS_MAX) {
		t->refused++;
		return -ENOSPC;
	}
	struct rmq_ask *a = &t->a[t->n++];
	memset(a, 0, sizeof(*a));
	a->id = ++t->seq;
	memcpy(a->waiting, up, sizeof(a->waiting));
	a->asked = asked;
	a->deadline_ms = deadline_ms;
	a->answer = answer;
	a->end = end;
	a->arg = arg;
	*id = a->id;
	return 0;
}

static int
waiting_none(const struct rmq_ask *a)
{
	for (unsigned w = 0; w < RMQ_PEER_WORDS; w++)
		if (a->waiting[w])
			return 0;
	return 1;
}

static void
take(struct rmq_asks *t, unsigned i, struct rmq_ask *out)
{
	*out = t->a[i];
	t->a[i] = t->a[--t->n];
}

int
rmq_asks_answer(struct rmq_asks *t, uint64_t id, uint32_t number,
    const char *node, int found, const char *json, size_t len,
    struct rmq_ask *done)
{
	if (number == 0 || number > RMQ_PEER_WORDS * 64)
		return 0;
	uint64_t bit = 1ull << ((number - 1) % 64);
	for (unsigned i = 0; i < t->n; i++) {
		struct rmq_ask *a = &t->a[i];
		if (a->id != id || !(a->waiting[(number - 1) / 64] & bit))
			continue;
		a->waiting[(number - 1) / 64] &= ~bit;
		a->answered++;
		a->answer(a->arg, node, found, json, len);
		if (!waiting_none(a))
			return 0;
		take(t, i, done);
		return 1;
	}
	return 0; /* late, or a copy: dropped */
}

unsigned
rmq_asks_expire(struct rmq_asks *t, uint32_t number, uint64_t now_ms,
    struct rmq_ask *done)
{
	unsigned k = 0;
	for (unsigned i = 0; i < t->n;) {
		struct rmq_ask *a = &t->a[i];
		if (number && number <= RMQ_PEER_WORDS * 64)
			a->waiting[(number - 1) / 64] &=
			    ~(1ull << ((number - 1) % 64));
		if (waiting_none(a) || now_ms >= a->deadline_ms)
			take(t, i, &done[k++]);
		else
			i++;
	}
	return k;
}

size_t
rmq_ask_encode(uint8_t *buf, size_t cap, char kind, const char *node,
    uint64_t id, int32_t found, const void *body, size_t len)
{
	struct rmq_wout o = { buf, 0, cap, 0 };
	rmq_wput(&o, (const uint8_t[]){ 'R', (uint8_t)kind, 1 }, 3);
	rmq_wput_str(&o, node, strlen(node), 1);
	rmq_wput_u(&o, id, 8);
	if (kind == 'Z')
		rmq_wput_u(&o, (uint32_t)found, 4);
	rmq_wput(&o, body, len);
	return o.full ? 0 : o.len;
}

int
rmq_ask_decode(const uint8_t *p, size_t len, char kind, struct rmq_ask_rec *r)
{
	if (len < 3 || p[0] != 'R' || p[1] != (uint8_t)kind || p[2] != 1)
		return -1;
	struct rmq_win in = { p + 3, len - 3, 0 };
	rmq_wget_name(&in, r->node, sizeof(r->node), 0);
	r->id = rmq_wget_u(&in, 8);
	r->found = kind == 'Z' ? (int32_t)(uint32_t)rmq_wget_u(&in, 4) : 0;
	if (in.bad)
		return -1;
	r->body = in.p;
	r->body_len = in.left;
	return 0;
}
