/* cluster/members.c: the member table and the hello's wire form
 * (members.h).
 *
 * A hello, all integers big-endian:
 *   'R' 'H' version(1)
 *   name_len(1) name   epoch(8)   port(2)   host_len(1) host
 *   npeers(2), then npeers times: name_len(1) name url_len(1) url
 *   seq(8): the sender's last route delta (routes.h)
 *   fport(2): the port of its channel (channel.h)
 *   lport(2): the port of its links (link.h), 0: none; a hello without it
 *   is read as 0
 * A reader takes what it knows and ignores bytes after it, so a later
 * version can add fields at the end.
 */
#include "members.h"

#include <string.h>

#include "wire.h"

#define MAGIC0 'R'
#define MAGIC1 'H'
#define VERSION 1

static void
put_name(struct rmq_wout *o, const char *s)
{
	rmq_wput_str(o, s, strlen(s), 1);
}

size_t
rmq_hello_encode(const struct rmq_hello *h, uint8_t *buf, size_t cap)
{
	struct rmq_wout o = { buf, 0, cap, 0 };
	static const uint8_t head[] = { MAGIC0, MAGIC1, VERSION };
	rmq_wput(&o, head, sizeof(head));
	put_name(&o, h->name);
	rmq_wput_u(&o, h->epoch, 8);
	rmq_wput_u(&o, h->port, 2);
	put_name(&o, h->host);
	rmq_wput_u(&o, h->npeers, 2);
	for (unsigned i = 0; i < h->npeers; i++) {
		put_name(&o, h->peers[i].name);
		put_name(&o, h->peers[i].url);
	}
	rmq_wput_u(&o, h->seq, 8);
	rmq_wput_u(&o, h->fport, 2);
	rmq_wput_u(&o, h->lport, 2);
	return o.full ? 0 : o.len;
}

int
rmq_hello_decode(const uint8_t *p, size_t n, struct rmq_hello *h)
{
	struct rmq_win in = { p, n, 0 };
	if (rmq_wget_u(&in, 1) != MAGIC0 || rmq_wget_u(&in, 1) != MAGIC1 ||
	    rmq_wget_u(&in, 1) != VERSION)
		return -1;
	rmq_wget_name(&in, h->name, sizeof(h->name), 0);
	h->epoch = rmq_wget_u(&in, 8);
	h->port = (uint16_t)rmq_wget_u(&in, 2);
	rmq_wget_name(&in, h->host, sizeof(h->host), 1);
	h->npeers = (unsigned)rmq_wget_u(&in, 2);
	if (in.bad || h->npeers > RMQ_MEMBERS_MAX)
		return -1;
	for (unsigned i = 0; i < h->npeers; i++) {
		rmq_wget_name(&in, h->peers[i].name, sizeof(h->peers[i].name),
		    0);
		rmq_wget_name(&in, h->peers[i].url, sizeof(h->peers[i].url), 0);
	}
	h->seq = rmq_wget_u(&in, 8);
	h->fport = (uint16_t)rmq_wget_u(&in, 2);
	if (in.bad)
		return -1;
	/* Later than fport: a node before links sends none. */
	h->lport = in.left >= 2 ? (uint16_t)rmq_wget_u(&in, 2) : 0;
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
	} else if (m->bye && m->epoch == epoch) {
		return RMQ_MEMBER_SAME; /* a hello sent before its bye */
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
	m->bye = 0;
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

void
rmq_members_bye(struct rmq_members *t, struct rmq_member *m,
    void (*cb)(void *arg, struct rmq_member *m), void *arg)
{
	m->bye = 1;
	if (m->state != RMQ_MEMBER_UP)
		return;
	m->state = RMQ_MEMBER_DOWN;
	t->departures++;
	if (cb)
		cb(arg, m);
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
