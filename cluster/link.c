/* cluster/link.c: the workers' streams on connections of their own loops
 * (link.h): the links thread that dials and accepts, and each link's
 * reading and writing on its worker.
 */
#include "link.h"

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "channel_impl.h"
#include "cluster.h"
#include "emit.h"
#include "grow.h"
#include "wire.h"

#define RETRY_MIN_MS 200 /* a link that failed is dialled again after */
#define RETRY_MAX_MS 2000 /* and twice as long each time, up to this */
#define CONNECT_MS 2000 /* a dial that has not connected by then fails */
#define HELLO_MS 5000 /* an accepted connection's hello must come by then */
#define TICK_MS 100 /* the links thread's wait */
#define PENDING_MAX 512 /* dials and accepted connections in hand */

struct buf {
	uint8_t *p;
	size_t len;
	uint32_t cap; /* a frame is below 4 GiB (RMQ_LINK_FRAME_MAX) */
};

struct rmq_link {
	struct rmq_links *ls;
	struct peer *pe;
	unsigned worker; /* whose loop carries it */
	uint32_t number; /* the peer's member number (batches it sends) */
	uint8_t stream; /* the sending node's worker: the stream */
	uint8_t dialed; /* this node sends the stream on it */
	uint8_t writing, closing, refused, dead;
	uint8_t heard; /* something came on it: the peer took it */
	uint8_t ack_held; /* an ack waits for the write under way */
	unsigned busy; /* inside one of its callbacks: freed after */
	uint32_t gen; /* the peer's lgen when dialled */
	int fd;
	uint64_t opened_ms;
	struct rmq_cluster_conn *cc;
	struct rmq_link_in in;
	struct buf out[2]; /* out[fill] takes frames, the other is written */
	int fill;
	struct iovec iov;
	/* The receiving side's read: messages to route, the ack due. */
	struct rmq_msg **m;
	uint32_t n, cap;
	int ack_due, moved;
	uint64_t ack_seq, ack_epoch;
};

/* A socket the links thread holds: a dial connecting, or an accepted
 * connection whose hello has not all come. */
struct pend {
	int fd;
	struct rmq_link *l; /* a dial's link; NULL: accepted */
	int accepted;
	int whole; /* its hello is all here (not read from again) */
	uint64_t deadline;
	size_t hlen;
	uint8_t hello[RMQ_LINK_HELLO_MAX];
};

struct rmq_links {
	struct rmq_channel *ch;
	int lfd, efd;
	uint16_t port;
	pthread_t thread;
	int started;
	atomic_int stop;
	struct pend pend[PENDING_MAX];
	unsigned npend;
	/* Accepted connections among them: at most half, so that peers'
	 * dials (or anyone's) never leave this node's own without room. */
	unsigned naccepting;
	uint64_t accept_pause_until; /* out of descriptors: accept later */
	_Atomic uint64_t dials, dial_failures, accepted, refused, opened,
	    closed, stalled, bad;
};

/* ---- a link on its worker ---- */

static void link_close(struct rmq_link *l, const char *why);

static void
link_free(struct rmq_link *l)
{
	for (uint32_t i = 0; i < l->n; i++)
		rmq_msg_rele(l->m[i]);
	free(l->m);
	rmq_link_in_free(&l->in);
	free(l->out[0].p);
	free(l->out[1].p);
	free(l);
}

/* The end of a callback: a link closed meanwhile is freed now. */
static void
link_leave(struct rmq_link *l)
{
	if (--l->busy == 0 && l->dead)
		link_free(l);
}

static int
buf_room(struct buf *b, size_t more)
{
	if (b->len + more > UINT32_MAX)
		return -1;
	return rmq_grow(&b->p, &b->cap, (uint32_t)(b->len + more), 1, 16384,
	    UINT32_MAX);
}

/* Start writing what out[fill] holds, unless a write is under way. */
static void
link_flush(struct rmq_link *l)
{
	struct buf *b = &l->out[l->fill];
	if (l->writing || l->closing || b->len == 0)
		return;
	l->iov = (struct iovec){ b->p, b->len };
	l->fill ^= 1;
	l->writing = 1;
	int rc = rmq_cluster_conn_write(l->cc, &l->iov, 1);
	if (rc != 0) {
		l->writing = 0;
		link_close(l, strerror(-rc));
	}
}

/* A frame onto the link; force: whatever it holds already (an
 * acknowledgement, which is small and must not wait). */
static int
link_put(struct rmq_link *l, const uint8_t *p, size_t len, int force)
{
	if (l == NULL || l->closing)
		return -1;
	struct buf *b = &l->out[l->fill];
	size_t held = b->len + (l->writing ? l->iov.iov_len : 0);
	if (!force && held > 0 && held + len > RMQ_LINK_OUT_MAX) {
		l->refused = 1;
		return -1;
	}
	if (buf_room(b, 4 + len) != 0)
		return -1;
	uint8_t *at = b->p + b->len;
	at[0] = (uint8_t)(len >> 24);
	at[1] = (uint8_t)(len >> 16);
	at[2] = (uint8_t)(len >> 8);
	at[3] = (uint8_t)len;
	memcpy(at + 4, p, len);
	b->len += 4 + len;
	bump(&l->pe->sent_bytes, len);
	link_flush(l);
	return 0;
}

static int
link_send(void *arg, const uint8_t *p, size_t len)
{
	return link_put(arg, p, len, 0);
}

void
rmq_link_pump(struct rmq_link *l, struct rmq_fwd_stream *st, uint64_t now_ms)
{
	if (l == NULL)
		return;
	/* A write that fails at once closes the link; it is freed only
	 * once the pump is done with it. */
	l->busy++;
	(void)rmq_fwd_pump(st, now_ms, link_send, l);
	link_leave(l);
}

/* Under nothing: send what waits in the stream, on worker w's thread. */
static void
link_pump(struct rmq_link *l)
{
	struct peer *pe = l->pe;
	unsigned w = l->stream;
	pthread_mutex_lock(&pe->mu[w]);
	(void)rmq_fwd_pump(&pe->out[w], rmq_cluster_now_ms(), link_send, l);
	pthread_mutex_unlock(&pe->mu[w]);
}

/* The link is no longer its stream's, either way. */
static void
link_unhook(struct rmq_link *l)
{
	struct peer *pe = l->pe;
	if (l->dialed && pe->wlink[l->stream] == l) {
		pe->wlink[l->stream] = NULL;
		atomic_store(&pe->lstate[l->stream], LINK_NONE);
	} else if (!l->dialed && pe->rlink[l->stream] == l) {
		pe->rlink[l->stream] = NULL;
	}
}

/* Close the link, saying why in the log (a link is long-lived: its end
 * is news to an operator). */
static void
link_close(struct rmq_link *l, const char *why)
{
	if (l->closing)
		return;
	l->closing = 1;
	rmq_cluster_log(LOG_INFO,
	    "link %s node %s (worker %u's stream) closed: %s",
	    l->dialed ? "to" : "from", l->pe->name, l->stream, why);
	link_unhook(l);
	l->busy++;
	rmq_cluster_conn_close(l->cc);
	link_leave(l);
}

static void
link_closed(void *arg)
{
	struct rmq_link *l = arg;
	if (!l->closing) {
		l->closing = 1;
		link_unhook(l);
	}
	bump(&l->ls->closed, 1);
	/* Dialled again at once, unless the peer closed it before a word:
	 * it refused the hello (it has not met this node yet), and is given
	 * a moment rather than a dial per tick. */
	if (l->dialed && l->heard)
		rmq_links_wake(l->ls);
	else if (l->dialed)
		atomic_store(&l->pe->lretry[l->stream],
		    rmq_cluster_now_ms() + RETRY_MIN_MS);
	l->dead = 1;
	if (l->busy == 0)
		link_free(l);
}

/* A batch of the peer's stream: taken in order, as the channel's thread
 * takes one from NNG. */
static void
link_batch(struct rmq_link *l, const uint8_t *p, size_t len)
{
	struct rmq_channel *ch = l->ls->ch;
	struct peer *pe = l->pe;
	struct rmq_fwd_head h;
	const uint8_t *body;
	size_t blen;
	if (l->dialed || rmq_fwd_batch_decode(p, len, &h, &body, &blen) != 0 ||
	    h.worker != l->stream || strcmp(h.name, pe->name) != 0) {
		rmq_channel_refused(ch, p, len);
		return;
	}
	/* Stopped (this node leaves): nothing more taken, as when the
	 * channel's socket is closed; the sender keeps it. */
	if (h.to_epoch != ch->epoch || h.epoch != atomic_load(&pe->epoch) ||
	    !atomic_load(&ch->live)) {
		bump(&ch->stale, 1);
		return;
	}
	bump(&pe->received_bytes, len);
	struct rmq_fwd_in *in = &pe->in[h.worker];
	pthread_mutex_lock(&pe->in_mu[h.worker]);
	switch (rmq_fwd_in_check(in, h.epoch, h.seq)) {
	case RMQ_FWD_TAKE:
		(void)rmq_channel_take(ch, pe, l->number, h.count, body, blen,
		    &l->m, &l->n, &l->cap);
		break;
	case RMQ_FWD_COPY: bump(&pe->copies, 1); break;
	case RMQ_FWD_GAP:
		bump(&pe->gaps, 1);
		pthread_mutex_unlock(&pe->in_mu[h.worker]);
		return;
	}
	l->ack_due = 1;
	l->ack_seq = rmq_fwd_in_acked(in);
	l->ack_epoch = in->epoch;
	pthread_mutex_unlock(&pe->in_mu[h.worker]);
}

/* The peer's acknowledgement of this node's stream. */
static void
link_ack(struct rmq_link *l, const uint8_t *p, size_t len)
{
	struct rmq_channel *ch = l->ls->ch;
	struct peer *pe = l->pe;
	struct rmq_fwd_head h;
	if (!l->dialed || rmq_fwd_ack_decode(p, len, &h) != 0 ||
	    h.worker != l->stream || strcmp(h.name, pe->name) != 0) {
		rmq_channel_refused(ch, p, len);
		return;
	}
	if (h.to_epoch != ch->epoch) {
		bump(&ch->stale, 1);
		return;
	}
	bump(&pe->received_bytes, len);
	uint64_t now = rmq_cluster_now_ms();
	struct rmq_fwd_stream *st = &pe->out[l->stream];
	pthread_mutex_lock(&pe->mu[l->stream]);
	uint64_t before = st->acked;
	rmq_fwd_ack(st, h.epoch, h.seq, now);
	if (st->acked != before)
		l->moved = 1;
	(void)rmq_fwd_pump(st, now, link_send, l);
	pthread_mutex_unlock(&pe->mu[l->stream]);
}

/* A frame's message: a batch or an acknowledgement (link.h's take). */
static int
link_take(void *arg, const uint8_t *f, size_t flen)
{
	struct rmq_link *l = arg;
	if (f[1] == 'F')
		link_batch(l, f, flen);
	else if (f[1] == 'K')
		link_ack(l, f, flen);
	else
		return -1;
	return l->closing ? 1 : 0;
}

/* The acknowledgement of what the link's stream took so far. */
static void
link_ack_out(struct rmq_link *l)
{
	struct rmq_channel *ch = l->ls->ch;
	uint8_t buf[64 + RMQ_NODE_NAME_MAX];
	size_t k = rmq_fwd_ack_encode(buf, sizeof(buf), ch->self, ch->epoch,
	    l->ack_epoch, l->stream, l->ack_seq);
	if (k)
		(void)link_put(l, buf, k, 1);
}

static void
link_read(void *arg, const uint8_t *p, ssize_t n)
{
	struct rmq_link *l = arg;
	struct rmq_channel *ch = l->ls->ch;
	if (n <= 0 || l->closing) {
		if (!l->closing)
			link_close(l,
			    n == 0 ? "the peer closed it" : strerror((int)-n));
		return;
	}
	l->busy++;
	l->heard = 1;
	int rc = rmq_link_in_feed(&l->in, p, (size_t)n, link_take, l);
	if (rc < 0 && !l->closing) {
		if (rc == -1)
			bump(&l->ls->bad, 1);
		link_close(l,
		    rc == -2 ? "out of memory" : "a frame no link sends");
	}
	/* What the read took is routed here, then acknowledged. */
	if (l->n) {
		rmq_cluster_publish_here(ch->b, l->worker, l->m, l->n);
		l->n = 0;
	}
	if (l->ack_due && !l->closing) {
		/* While a write is under way the newest numbers wait for its
		 * end (one acknowledgement says all before it): a peer that
		 * reads nothing gets no pile of them. */
		l->ack_due = 0;
		if (l->writing)
			l->ack_held = 1;
		else
			link_ack_out(l);
	}
	if (l->moved) {
		l->moved = 0;
		rmq_cluster_applied_changed(ch->b);
	}
	link_leave(l);
}

static void
link_wrote(void *arg, int status)
{
	struct rmq_link *l = arg;
	l->busy++;
	l->writing = 0;
	l->out[l->fill ^ 1].len = 0;
	if (status != 0) {
		link_close(l, strerror(-status));
	} else {
		if (l->ack_held) {
			l->ack_held = 0;
			link_ack_out(l);
		}
		link_flush(l);
		if (l->refused && l->dialed && !l->closing) {
			l->refused = 0;
			link_pump(l);
		}
	}
	link_leave(l);
}

static const struct rmq_cluster_conn_ops link_ops = {
	.read = link_read,
	.wrote = link_wrote,
	.closed = link_closed,
};

/* On the link's worker: its loop takes the socket. */
static void
link_open(void *arg, int run)
{
	struct rmq_link *l = arg;
	struct rmq_channel *ch = l->ls->ch;
	struct peer *pe = l->pe;
	if (!run || !atomic_load(&ch->live) ||
	    rmq_cluster_conn_open(ch->b, l->worker, l->fd, &link_ops, l,
		&l->cc) != 0) {
		if (!run || !atomic_load(&ch->live))
			close(l->fd);
		if (l->dialed)
			atomic_store(&pe->lstate[l->stream], LINK_NONE);
		link_free(l);
		return;
	}
	bump(&l->ls->opened, 1);
	l->opened_ms = rmq_cluster_now_ms();
	if (!l->dialed) {
		/* The peer dialled again: the link before, if it is still
		 * open (its end lost in a partition), is done. */
		struct rmq_link *old = pe->rlink[l->stream];
		pe->rlink[l->stream] = l;
		if (old != NULL)
			link_close(old, "the peer dialled a new one");
		return;
	}
	struct rmq_link *old = pe->wlink[l->stream];
	pe->wlink[l->stream] = l;
	atomic_store(&pe->lstate[l->stream], LINK_UP);
	if (old != NULL)
		link_close(old, "a new one replaces it");
	/* What the link before carried may be lost with it: all of what
	 * was not acknowledged goes now. */
	l->busy++;
	pthread_mutex_lock(&pe->mu[l->stream]);
	rmq_fwd_kick(&pe->out[l->stream], l->opened_ms);
	(void)rmq_fwd_pump(&pe->out[l->stream], l->opened_ms, link_send, l);
	pthread_mutex_unlock(&pe->mu[l->stream]);
	link_leave(l);
}

static void
nudge_run(void *arg, int run)
{
	struct link_nudge *nu = arg;
	atomic_store(&nu->queued, 0);
	if (!run)
		return;
	struct peer *pe = nu->pe;
	struct rmq_channel *ch = pe->ch;
	struct rmq_link *l = pe->wlink[nu->w];
	if (l == NULL)
		return;
	uint64_t now = rmq_cluster_now_ms();
	l->busy++;
	pthread_mutex_lock(&pe->mu[nu->w]);
	uint64_t waited = rmq_fwd_waited(&pe->out[nu->w], now);
	(void)rmq_fwd_pump(&pe->out[nu->w], now, link_send, l);
	pthread_mutex_unlock(&pe->mu[nu->w]);
	if (l->gen != atomic_load(&pe->lgen)) {
		link_close(l, "the peer moved: dialled at its new address");
	} else if (waited >= STALL_MS && now - l->opened_ms >= STALL_MS) {
		bump(&ch->links->stalled, 1);
		rmq_cluster_log(LOG_WARNING,
		    "link to node %s (worker %u): nothing taken for %llu ms while it is up; dialling again",
		    pe->name, nu->w, (unsigned long long)waited);
		link_close(l, "stalled");
	}
	link_leave(l);
}

void
rmq_link_nudge(struct rmq_channel *ch, struct peer *pe, unsigned w)
{
	struct link_nudge *nu = &pe->nudge[w];
	if (atomic_exchange(&nu->queued, 1))
		return;
	if (rmq_cluster_run_on(ch->b, w, nudge_run, nu) != 0)
		atomic_store(&nu->queued, 0);
}

/* ---- the links thread ---- */

static void
pend_drop(struct rmq_links *ls, unsigned i, int failed)
{
	struct pend *pd = &ls->pend[i];
	if (pd->accepted) {
		ls->naccepting--;
		if (pd->fd >= 0 && !atomic_load(&ls->stop))
			bump(&ls->refused, 1); /* no worker took it */
	}
	if (pd->fd >= 0)
		close(pd->fd);
	struct rmq_link *l = pd->l;
	if (l != NULL) {
		struct peer *pe = l->pe;
		unsigned w = l->stream;
		if (failed) {
			bump(&ls->dial_failures, 1);
			pe->laddr_stale = 1; /* looked up again, in a while */
			uint64_t b = pe->lbackoff[w] ? pe->lbackoff[w] * 2
						     : RETRY_MIN_MS;
			pe->lbackoff[w] = b > RETRY_MAX_MS ? RETRY_MAX_MS : b;
			pe->lretry[w] = rmq_cluster_now_ms() + pe->lbackoff[w];
		}
		atomic_store(&pe->lstate[w], LINK_NONE);
		link_free(l);
	}
	ls->pend[i] = ls->pend[--ls->npend];
}

/* A link whose peer vanished without a word (its end lost in a
 * partition, a host gone) is found dead by TCP itself after about 25 s
 * of silence, rather than held open for good. */
static void
keepalive(int fd)
{
	int on = 1, idle = 10, intvl = 5, cnt = 3;
	setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &on, sizeof(on));
	setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof(idle));
	setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &intvl, sizeof(intvl));
	setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &cnt, sizeof(cnt));
}

/* The host of a url tcp://HOST:PORT ([HOST] for IPv6). */
static int
url_host(const char *url, char *host, size_t cap)
{
	const char *p = strstr(url, "://");
	p = p ? p + 3 : url;
	const char *end = strrchr(p, ':');
	if (end == NULL)
		return -1;
	if (*p == '[' && end > p && end[-1] == ']') {
		p++;
		end--;
	}
	size_t n = (size_t)(end - p);
	if (n == 0 || n >= cap)
		return -1;
	memcpy(host, p, n);
	host[n] = '\0';
	return 0;
}

/* The peer's links address for its address generation gen: looked up
 * (a name may take the resolver's time: this thread's alone) unless known
 * already.  0, or -1. */
static int
peer_addr(struct peer *pe, uint32_t gen, uint64_t now)
{
	if (pe->laddr_len != 0 && pe->laddr_gen == gen &&
	    !(pe->laddr_stale && now - pe->laddr_at >= RETRY_MAX_MS))
		return 0;
	pe->laddr_at = now;
	pe->laddr_stale = 0;
	char url[RMQ_NODE_URL_MAX], host[RMQ_NODE_URL_MAX], port[8];
	pthread_mutex_lock(&pe->dial_mu);
	snprintf(url, sizeof(url), "%s", pe->url);
	pthread_mutex_unlock(&pe->dial_mu);
	snprintf(port, sizeof(port), "%u", (unsigned)atomic_load(&pe->lport));
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM,
		.ai_flags = AI_NUMERICSERV },
			*ai = NULL;
	pe->laddr_len = 0;
	if (url_host(url, host, sizeof(host)) != 0 ||
	    getaddrinfo(host, port, &hints, &ai) != 0 || ai == NULL)
		return -1;
	if (ai->ai_addrlen <= sizeof(pe->laddr)) {
		memcpy(&pe->laddr, ai->ai_addr, ai->ai_addrlen);
		pe->laddr_len = ai->ai_addrlen;
		pe->laddr_gen = gen;
	}
	freeaddrinfo(ai);
	return pe->laddr_len ? 0 : -1;
}

static void
dial_one(struct rmq_links *ls, struct peer *pe, unsigned w, uint64_t now)
{
	uint32_t gen = atomic_load(&pe->lgen);
	if (peer_addr(pe, gen, now) != 0) {
		pe->lretry[w] = now + RETRY_MAX_MS;
		bump(&ls->dial_failures, 1);
		return;
	}
	int fd = socket(pe->laddr.ss_family,
	    SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd >= 0)
		keepalive(fd);
	struct rmq_link *l = fd >= 0 ? calloc(1, sizeof(*l)) : NULL;
	if (l == NULL ||
	    (connect(fd, (struct sockaddr *)&pe->laddr, pe->laddr_len) != 0 &&
		errno != EINPROGRESS)) {
		if (fd >= 0)
			close(fd);
		free(l);
		pe->laddr_stale = 1; /* looked up again, in a while */
		pe->lretry[w] = now + RETRY_MIN_MS;
		bump(&ls->dial_failures, 1);
		return;
	}
	bump(&ls->dials, 1);
	l->ls = ls;
	l->pe = pe;
	l->stream = (uint8_t)w;
	l->worker = w;
	l->dialed = 1;
	l->gen = gen;
	l->fd = fd;
	atomic_store(&pe->lstate[w], LINK_DIALING);
	ls->pend[ls->npend++] =
	    (struct pend){ .fd = fd, .l = l, .deadline = now + CONNECT_MS };
}

/* Every stream of a peer up that has no link: dialled. */
static void
dial_due(struct rmq_links *ls, uint64_t now)
{
	struct rmq_channel *ch = ls->ch;
	for (unsigned i = 0; i < RMQ_MEMBERS_MAX; i++) {
		struct peer *pe = peer_at(ch, i + 1);
		if (pe == NULL || !atomic_load(&pe->up) ||
		    atomic_load(&pe->lport) == 0 || pe->url[0] == '\0')
			continue;
		for (unsigned w = 0; w < pe->nstreams; w++) {
			if (ls->npend == PENDING_MAX)
				return;
			if (atomic_load(&pe->lstate[w]) == LINK_NONE &&
			    now >= pe->lretry[w])
				dial_one(ls, pe, w, now);
		}
	}
}

/* A dial's socket is writable: connected, or failed. */
static void
dial_done(struct rmq_links *ls, unsigned i)
{
	struct rmq_channel *ch = ls->ch;
	struct pend *pd = &ls->pend[i];
	struct rmq_link *l = pd->l;
	struct peer *pe = l->pe;
	int err = 0;
	socklen_t elen = sizeof(err);
	uint8_t hello[RMQ_LINK_HELLO_MAX];
	size_t k = rmq_link_hello_encode(hello, ch->self, ch->epoch,
	    atomic_load(&pe->epoch), l->stream);
	if (getsockopt(pd->fd, SOL_SOCKET, SO_ERROR, &err, &elen) != 0 ||
	    err != 0 || k == 0 ||
	    send(pd->fd, hello, k, MSG_NOSIGNAL) != (ssize_t)k) {
		pend_drop(ls, i, 1);
		return;
	}
	pe->lbackoff[l->stream] = 0;
	pd->l = NULL;
	pd->fd = -1;
	if (rmq_cluster_run_on(ch->b, l->stream, link_open, l) != 0) {
		close(l->fd);
		atomic_store(&pe->lstate[l->stream], LINK_NONE);
		link_free(l);
	}
	pend_drop(ls, i, 0);
}

/* An accepted connection whose hello is whole: handed to the worker its
 * stream maps to, or kept (until its deadline) while this node has not
 * met the dialler in that life yet: its hellos on the bus may come a
 * little after its first dial. */
static void
hello_take(struct rmq_links *ls, unsigned i, uint64_t now)
{
	struct rmq_channel *ch = ls->ch;
	struct pend *pd = &ls->pend[i];
	char name[RMQ_NODE_NAME_MAX];
	uint64_t epoch, to_epoch;
	uint8_t worker;
	int got = rmq_link_hello_decode(pd->hello, pd->hlen, name, sizeof(name),
	    &epoch, &to_epoch, &worker);
	if (got <= 0 || to_epoch != ch->epoch || worker >= WORKERS_MAX) {
		/* Not a hello, or for another life of this node. */
		pend_drop(ls, i, 0);
		return;
	}
	struct peer *pe = rmq_channel_peer_named(ch, name);
	if (pe == NULL || epoch != atomic_load(&pe->epoch) ||
	    !atomic_load(&pe->up)) {
		if (now >= pd->deadline)
			pend_drop(ls, i, 0); /* the dialler tries again */
		return;
	}
	struct rmq_link *l = calloc(1, sizeof(*l));
	if (l == NULL) {
		pend_drop(ls, i, 0);
		return;
	}
	uint32_t number = rmq_channel_peer_number(ch, pe);
	l->ls = ls;
	l->pe = pe;
	l->stream = worker;
	l->number = number;
	/* The worker the channel's thread would hand this stream's messages
	 * to: one stream's keep their order across its links. */
	l->worker = (number * 31u + worker) % ch->nworkers;
	l->fd = pd->fd;
	pd->fd = -1;
	bump(&ls->accepted, 1);
	if (rmq_cluster_run_on(ch->b, l->worker, link_open, l) != 0) {
		close(l->fd);
		link_free(l);
	}
	pend_drop(ls, i, 0);
}

/* An accepted connection's hello, read a part at a time, never past its
 * end (what follows it is the worker's). */
static void
hello_read(struct rmq_links *ls, unsigned i, uint64_t now)
{
	struct pend *pd = &ls->pend[i];
	size_t want = pd->hlen < 4 ? 4 - pd->hlen
				   : 4 + (size_t)pd->hello[3] + 17 - pd->hlen;
	ssize_t r = recv(pd->fd, pd->hello + pd->hlen, want, 0);
	if (r == 0 || (r < 0 && errno != EAGAIN && errno != EINTR)) {
		pend_drop(ls, i, 0);
		return;
	}
	if (r < 0)
		return;
	pd->hlen += (size_t)r;
	char name[RMQ_NODE_NAME_MAX];
	uint64_t epoch, to_epoch;
	uint8_t worker;
	int got = rmq_link_hello_decode(pd->hello, pd->hlen, name, sizeof(name),
	    &epoch, &to_epoch, &worker);
	if (got < 0) {
		pend_drop(ls, i, 0);
		return;
	}
	if (got == 0)
		return;
	pd->whole = 1;
	hello_take(ls, i, now);
}

static void
accept_all(struct rmq_links *ls, uint64_t now)
{
	for (;;) {
		int fd =
		    accept4(ls->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			/* Out of descriptors or memory: the listener stays
			 * readable, and is left alone for a tick rather than
			 * polled in a spin. */
			if (errno == EMFILE || errno == ENFILE ||
			    errno == ENOBUFS || errno == ENOMEM)
				ls->accept_pause_until = now + TICK_MS;
			return;
		}
		if (ls->naccepting >= PENDING_MAX / 2) {
			close(fd);
			bump(&ls->refused, 1);
			continue;
		}
		keepalive(fd);
		ls->naccepting++;
		ls->pend[ls->npend++] = (struct pend){ .fd = fd,
			.accepted = 1,
			.deadline = now + HELLO_MS };
	}
}

static void *
links_run(void *arg)
{
	struct rmq_links *ls = arg;
	struct pollfd pfd[PENDING_MAX + 2];
	while (!atomic_load(&ls->stop)) {
		uint64_t now = rmq_cluster_now_ms();
		if (atomic_load(&ls->ch->live))
			dial_due(ls, now);
		pfd[0] = (struct pollfd){ ls->efd, POLLIN, 0 };
		pfd[1] = (struct pollfd){ ls->lfd,
			now >= ls->accept_pause_until ? POLLIN : 0, 0 };
		unsigned n = ls->npend;
		for (unsigned i = 0; i < n; i++)
			pfd[2 + i] = (struct pollfd){ ls->pend[i].fd,
				ls->pend[i].l           ? POLLOUT
				    : ls->pend[i].whole ? 0
							: POLLIN,
				0 };
		if (poll(pfd, 2 + n, TICK_MS) < 0 && errno != EINTR) {
			rmq_cluster_log(LOG_WARNING, "links: poll: %s",
			    strerror(errno));
			usleep(TICK_MS * 1000);
			continue;
		}
		if (pfd[0].revents) {
			uint64_t v;
			(void)!read(ls->efd, &v, sizeof(v));
		}
		now = rmq_cluster_now_ms();
		/* From the last, so that a drop (which moves the last into
		 * its place) leaves the ones still to see where they were. */
		for (unsigned i = n; i-- > 0;) {
			struct pend *pd = &ls->pend[i];
			if (pfd[2 + i].revents && pd->l)
				dial_done(ls, i);
			else if (pd->whole && pfd[2 + i].revents)
				pend_drop(ls, i, 0); /* the dialler hung up */
			else if (pd->whole)
				hello_take(ls, i, now); /* met by now? */
			else if (pfd[2 + i].revents)
				hello_read(ls, i, now);
			else if (now >= pd->deadline)
				pend_drop(ls, i, pd->l != NULL);
		}
		if (pfd[1].revents)
			accept_all(ls, now);
	}
	return NULL;
}

struct rmq_links *
rmq_links_start(struct rmq_channel *ch, const char *host, uint16_t port,
    char *err, size_t errlen)
{
	struct rmq_links *ls = calloc(1, sizeof(*ls));
	if (ls == NULL) {
		snprintf(err, errlen, "cluster links: out of memory");
		return NULL;
	}
	ls->ch = ch;
	ls->lfd = ls->efd = -1;
	char ps[8];
	snprintf(ps, sizeof(ps), "%u", port);
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM,
		.ai_flags = AI_PASSIVE | AI_NUMERICSERV },
			*ai = NULL;
	const char *h = host && host[0] && strcmp(host, "*") != 0 ? host : NULL;
	int rc = getaddrinfo(h, ps, &hints, &ai);
	if (rc != 0) {
		snprintf(err, errlen, "cluster_link_port: %s: %s", h ? h : "*",
		    gai_strerror(rc));
		free(ls);
		return NULL;
	}
	int one = 1;
	ls->lfd = socket(ai->ai_family,
	    SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (ls->lfd < 0 ||
	    setsockopt(ls->lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) !=
		0 ||
	    bind(ls->lfd, ai->ai_addr, ai->ai_addrlen) != 0 ||
	    listen(ls->lfd, 128) != 0) {
		snprintf(err, errlen, "cluster_link_port %s:%u: %s",
		    h ? h : "*", port, strerror(errno));
		freeaddrinfo(ai);
		if (ls->lfd >= 0)
			close(ls->lfd);
		free(ls);
		return NULL;
	}
	freeaddrinfo(ai);
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	getsockname(ls->lfd, (struct sockaddr *)&ss, &sl);
	ls->port = ntohs(ss.ss_family == AF_INET6
		? ((struct sockaddr_in6 *)&ss)->sin6_port
		: ((struct sockaddr_in *)&ss)->sin_port);
	ls->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (ls->efd < 0 ||
	    pthread_create(&ls->thread, NULL, links_run, ls) != 0) {
		snprintf(err, errlen, "cluster links: no thread");
		close(ls->lfd);
		if (ls->efd >= 0)
			close(ls->efd);
		free(ls);
		return NULL;
	}
	ls->started = 1;
	return ls;
}

uint16_t
rmq_links_port(const struct rmq_links *ls)
{
	return ls ? ls->port : 0;
}

void
rmq_links_wake(struct rmq_links *ls)
{
	uint64_t one = 1;
	if (ls != NULL && ls->efd >= 0)
		(void)!write(ls->efd, &one, sizeof(one));
}

void
rmq_links_stop(struct rmq_links *ls)
{
	if (ls == NULL || !ls->started)
		return;
	atomic_store(&ls->stop, 1);
	uint64_t one = 1;
	(void)!write(ls->efd, &one, sizeof(one));
	pthread_join(ls->thread, NULL);
	ls->started = 0;
	while (ls->npend)
		pend_drop(ls, ls->npend - 1, 0);
	close(ls->lfd);
	ls->lfd = -1;
}

void
rmq_links_free(struct rmq_links *ls)
{
	if (ls == NULL)
		return;
	rmq_links_stop(ls);
	if (ls->efd >= 0)
		close(ls->efd);
	free(ls);
}

void
rmq_links_metrics(struct rmq_links *ls, rmq_put_fn put, void *arg)
{
	if (ls == NULL)
		return;
	static const struct {
		const char *name, *type, *help;
		size_t at;
	} rows[] = {
		{ "ringmq_cluster_link_dials_total", "counter",
		    "Links to peers dialled (a worker's stream each).",
		    offsetof(struct rmq_links, dials) },
		{ "ringmq_cluster_link_dial_failures_total", "counter",
		    "Link dials that did not connect.",
		    offsetof(struct rmq_links, dial_failures) },
		{ "ringmq_cluster_link_accepted_total", "counter",
		    "Links from peers accepted (their hello read).",
		    offsetof(struct rmq_links, accepted) },
		{ "ringmq_cluster_link_refused_total", "counter",
		    "Connections to the link port closed before a worker took them: no hello in time, an unknown node or epoch, or too many in hand.",
		    offsetof(struct rmq_links, refused) },
		{ "ringmq_cluster_link_opened_total", "counter",
		    "Links a worker loop took, both ways.",
		    offsetof(struct rmq_links, opened) },
		{ "ringmq_cluster_link_closed_total", "counter",
		    "Links closed, both ways.",
		    offsetof(struct rmq_links, closed) },
		{ "ringmq_cluster_link_stalled_total", "counter",
		    "Links given up because the peer took nothing on them for 5 s while it was up.",
		    offsetof(struct rmq_links, stalled) },
		{ "ringmq_cluster_link_bad_frames_total", "counter",
		    "Links closed for a frame no link sends.",
		    offsetof(struct rmq_links, bad) },
	};
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		_Atomic uint64_t *v =
		    (_Atomic uint64_t *)((char *)ls + rows[i].at);
		rmq_emit_one(put, arg, rows[i].name, rows[i].type, rows[i].help,
		    atomic_load(v));
	}
}
