/* cluster/members.c: the member table and the hello's wire form
 * (members.h).
 *
 * A hello, all integers big-endian:
 *   'R' 'H' version(1)
 *   name_len(1) name   epoch(8)   port(2)   host_len(1) host
 *   npeers(2), then npeers times: name_len(1) name url_len(1) url
 * A reader takes what it knows and ignores bytes after the peers, so a
 * later version can add fields at the end.
 */
#include "members.h"

#include <string.h>

#define MAGIC0 'R'
#define MAGIC1 'H'
#define VERSION 1

struct out {
	uint8_t *p;
	size_t len, cap;
	int full;
};

static void
put(struct out *o, const void *p, size_t n)
{
	if (o->full || n > o->cap - o->len) {
		o->full = 1;
		return;
	}
	memcpy(o->p + o->len, p, n);
	o->len += n;
}

static void
put_u(struct out *o, uint64_t v, unsigned bytes)
{
	uint8_t b[8];
	for (unsigned i = 0; i < bytes; i++)
		b[i] = (uint8_t)(v >> (8 * (bytes - 1 - i)));
	put(o, b, bytes);
}

static void
put_str(struct out *o, const char *s)
{
	size_t n = strlen(s);
	put_u(o, n, 1);
	put(o, s, n);
}

size_t
rmq_hello_encode(const struct rmq_hello *h, uint8_t *buf, size_t cap)
{
	struct out o = { buf, 0, cap, 0 };
	static const uint8_t head[] = { MAGIC0, MAGIC1, VERSION };
	put(&o, head, sizeof(head));
	put_str(&o, h->name);
	put_u(&o, h->epoch, 8);
	put_u(&o, h->port, 2);
	put_str(&o, h->host);
	put_u(&o, h->npeers, 2);
	for (unsigned i = 0; i < h->npeers; i++) {
		put_str(&o, h->peers[i].name);
		put_str(&o, h->peers[i].url);
	}
	return o.full ? 0 : o.len;
}

struct in {
	const uint8_t *p;
	size_t left;
	int bad;
};

static uint64_t
get_u(struct in *in, unsigned bytes)
{
	if (in->bad || in->left < bytes) {
		in->bad = 1;
		return 0;
	}
	uint64_t v = 0;
	for (unsigned i = 0; i < bytes; i++)
		v = v << 8 | in->p[i];
	in->p += bytes;
	in->left -= bytes;
	return v;
}

/* A string of at most cap - 1 bytes, no NUL in it; empty allowed when
 * empty_ok. */
static void
get_str(struct in *in, char *out, size_t cap, int empty_ok)
{
	size_t n = (size_t)get_u(in, 1);
	if (in->bad || n > in->left || n >= cap || (n == 0 && !empty_ok) ||
	    memchr(in->p, '\0', n) != NULL) {
		in->bad = 1;
		out[0] = '\0';
		return;
	}
	memcpy(out, in->p, n);
	out[n] = '\0';
	in->p += n;
	in->left -= n;
}

int
rmq_hello_decode(const uint8_t *p, size_t n, struct rmq_hello *h)
{
	struct in in = { p, n, 0 };
	if (get_u(&in, 1) != MAGIC0 || get_u(&in, 1) != MAGIC1 ||
	    get_u(&in, 1) != VERSION)
		return -1;
	get_str(&in, h->name, sizeof(h->name), 0);
	h->epoch = get_u(&in, 8);
	h->port = (uint16_t)get_u(&in, 2);
	get_str(&in, h->host, sizeof(h->host), 1);
	h->npeers = (unsigned)get_u(&in, 2);
	if (in.bad || h->npeers > RMQ_MEMBERS_MAX)
		return -1;
	for (unsigned i = 0; i < h->npeers; i++) {
		get_str(&in, h->peers[i].name, sizeof(h->peers[i].name), 0);
		get_str(&in, h->peers[i].url, sizeof(h->peers[i].url), 0);
	}
	return in.bad ? -1 : 0;
}

void
rmq_members_init(struct rmq_members *t, const char *self, uint64_t epoch,
    uint32_t timeout_ms)
{
	memset(t, 0, sizeof(*t));
	strncpy(t->self, self, sizeof(t->self) - 1);
	t->epoch = epoch;
	t->timeout_ms = timeout_ms;
}

struct rmq_member *
rmq_members_find(struct rmq_members *t, const char *name)
{
	for (unsigned i = 0; i < t->n; i++)
		if (strcmp(t->m[i].name, name) == 0)
			return &t->m[i];
	return NULL;
}

enum rmq_member_event
rmq_members_heard(struct rmq_members *t, const char *name, uint64_t epoch,
    const char *url, uint64_t now_ms, struct rmq_member **out)
{
	struct rmq_member *m = rmq_members_find(t, name);
	enum rmq_member_event ev = RMQ_MEMBER_SAME;
	*out = NULL;
	if (m == NULL) {
		/* Members are never taken out, so a node's number stays
		 * its own for this node's life, through its restarts. */
		if (t->n == RMQ_MEMBERS_MAX)
			return RMQ_MEMBER_SAME;
		m = &t->m[t->n];
		memset(m, 0, sizeof(*m));
		strncpy(m->name, name, sizeof(m->name) - 1);
		m->number = ++t->n;
		ev = RMQ_MEMBER_JOINED;
	} else if (m->state != RMQ_MEMBER_UP) {
		ev = RMQ_MEMBER_JOINED;
	} else if (m->epoch != epoch) {
		ev = RMQ_MEMBER_RESTARTED;
	}
	if (ev == RMQ_MEMBER_JOINED)
		t->joins++;
	else if (ev == RMQ_MEMBER_RESTARTED)
		t->restarts++;
	m->state = RMQ_MEMBER_UP;
	m->epoch = epoch;
	m->heard_ms = now_ms;
	strncpy(m->url, url, sizeof(m->url) - 1);
	m->url[sizeof(m->url) - 1] = '\0';
	*out = m;
	return ev;
}

unsigned
rmq_members_expire(struct rmq_members *t, uint64_t now_ms,
    void (*cb)(void *arg, struct rmq_member *m), void *arg)
{
	unsigned n = 0;
	for (unsigned i = 0; i < t->n; i++) {
		struct rmq_member *m = &t->m[i];
		if (m->state != RMQ_MEMBER_UP ||
		    now_ms - m->heard_ms <= t->timeout_ms)
			continue;
		m->state = RMQ_MEMBER_DOWN;
		t->departures++;
		n++;
		if (cb)
			cb(arg, m);
	}
	return n;
}

unsigned
rmq_members_up(const struct rmq_members *t)
{
	unsigned n = 0;
	for (unsigned i = 0; i < t->n; i++)
		n += t->m[i].state == RMQ_MEMBER_UP;
	return n;
}

void
rmq_members_list(const struct rmq_members *t, struct rmq_hello *h)
{
	h->npeers = 0;
	for (unsigned i = 0; i < t->n; i++) {
		if (t->m[i].state != RMQ_MEMBER_UP)
			continue;
		struct rmq_hello_peer *p = &h->peers[h->npeers++];
		memcpy(p->name, t->m[i].name, sizeof(p->name));
		memcpy(p->url, t->m[i].url, sizeof(p->url));
	}
}
