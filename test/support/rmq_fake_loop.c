/* test/support/rmq_fake_loop.c: the unit tests' loop backend (see
 * rmq_fake_loop.h).
 *
 * Everything runs on the test's thread.  Each fake loop keeps its
 * connections on a list; a turn walks it three times: closes asked for
 * before the turn end (pending write cancelled, close or detach callback,
 * memory freed), writes complete (their bytes join the client's `out`),
 * and what the client sent is read.  Then the generic turn runs
 * (rmq_loop_after_events), where the worker flushes and drains its inbox.
 */
#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "rmq_fake_loop.h"

struct rmq_fake_conn {
	struct rmq_conn base; /* first: the generic part */
	struct rmq_fake_client *cl;
	rmq_read_cb read_cb;
	rmq_write_cb write_cb; /* a write in progress */
	struct iovec *wiov;
	int wn;
	int close_asked; /* 1: close, 2: detach */
	rmq_close_cb close_cb;
	rmq_detach_cb detach_cb;
	int eof_read;
	struct rmq_fake_conn *next;
};

struct fake_loop {
	struct rmq_loop base; /* first: the generic part */
	struct rmq_fake_conn *conns;
	atomic_int woken;
	struct fake_loop *next;
};

static struct fake_loop *fake_loops;
static struct rmq_fake_client *fake_clients;
static unsigned fake_live;
static uint64_t fake_clock = 1000000;

uint64_t
rmq_fake_now(void)
{
	return fake_clock;
}

void
rmq_fake_advance(uint64_t ms)
{
	fake_clock += ms;
}

static void
fake_append(uint8_t **buf, size_t *len, size_t *cap, const void *p, size_t n)
{
	if (*len + n > *cap) {
		size_t c = *cap ? *cap : 256;
		while (c < *len + n)
			c *= 2;
		uint8_t *nb = realloc(*buf, c);
		if (nb == NULL)
			abort(); /* a test helper: no way to go on */
		*buf = nb;
		*cap = c;
	}
	if (n)
		memcpy(*buf + *len, p, n);
	*len += n;
}

static int
fake_create(unsigned id, struct rmq_loop **out)
{
	struct fake_loop *l = calloc(1, sizeof(*l));
	if (l == NULL)
		return -ENOMEM;
	l->base.ops = &rmq_fake_loop_ops;
	l->base.id = id;
	l->base.now_ms = fake_clock;
	l->next = fake_loops;
	fake_loops = l;
	*out = &l->base;
	return 0;
}

static void
fake_conn_free(struct fake_loop *l, struct rmq_fake_conn *c)
{
	for (struct rmq_fake_conn **pp = &l->conns; *pp; pp = &(*pp)->next)
		if (*pp == c) {
			*pp = c->next;
			break;
		}
	if (c->cl && c->cl->conn == c)
		c->cl->conn = NULL;
	atomic_fetch_sub(&l->base.nconns, 1);
	fake_live--;
	free(c);
}

static void
fake_destroy(struct rmq_loop *loop)
{
	struct fake_loop *l = (struct fake_loop *)loop;
	while (l->conns) {
		struct rmq_fake_conn *c = l->conns;
		if (c->cl)
			c->cl->closed = 1;
		close(c->base.fd);
		fake_conn_free(l, c);
	}
	for (struct fake_loop **pp = &fake_loops; *pp; pp = &(*pp)->next)
		if (*pp == l) {
			*pp = l->next;
			break;
		}
	free(l);
}

static int
fake_run(struct rmq_loop *loop)
{
	(void)loop;
	return -ENOTSUP; /* the test runs the turns (rmq_fake_settle) */
}

static void
fake_wake(struct rmq_loop *loop)
{
	atomic_store(&((struct fake_loop *)loop)->woken, 1);
}

static int
fake_listen(struct rmq_loop *loop, int fd, rmq_accept_cb cb, void *arg)
{
	(void)loop, (void)cb, (void)arg;
	close(fd); /* clients come through rmq_fake_connect */
	return 0;
}

static struct rmq_fake_client *
fake_client_by_fd(int fd)
{
	for (struct rmq_fake_client *c = fake_clients; c; c = c->next)
		if (c->fd == fd)
			return c;
	return NULL;
}

static int
fake_conn_open(struct rmq_loop *loop, int fd, struct rmq_conn **out)
{
	struct fake_loop *l = (struct fake_loop *)loop;
	struct rmq_fake_client *cl = fake_client_by_fd(fd);
	if (cl == NULL || cl->conn != NULL)
		return -EBADF;
	struct rmq_fake_conn *c = calloc(1, sizeof(*c));
	if (c == NULL)
		return -ENOMEM;
	c->base.loop = loop;
	c->base.fd = fd;
	c->cl = cl;
	cl->conn = c;
	c->next = l->conns;
	l->conns = c;
	atomic_fetch_add(&loop->nconns, 1);
	fake_live++;
	*out = &c->base;
	return 0;
}

static int
fake_read_start(struct rmq_conn *conn, rmq_read_cb cb)
{
	struct rmq_fake_conn *c = (struct rmq_fake_conn *)conn;
	if (c->close_asked)
		return -EPIPE;
	c->read_cb = cb;
	return 0;
}

static int
fake_write(struct rmq_conn *conn, struct iovec *iov, int n, rmq_write_cb cb)
{
	struct rmq_fake_conn *c = (struct rmq_fake_conn *)conn;
	if (c->close_asked || c->cl->shut)
		return -EPIPE;
	if (c->write_cb)
		return -EBUSY;
	if (n <= 0 || n > RMQ_LOOP_IOV_MAX)
		return -EINVAL;
	c->write_cb = cb;
	c->wiov = iov;
	c->wn = n;
	return 0;
}

static int
fake_shutdown(struct rmq_conn *conn)
{
	struct rmq_fake_conn *c = (struct rmq_fake_conn *)conn;
	if (c->close_asked)
		return -EPIPE;
	if (c->write_cb)
		return -EBUSY;
	c->cl->shut = 1;
	return 0;
}

static void
fake_close(struct rmq_conn *conn, rmq_close_cb cb)
{
	struct rmq_fake_conn *c = (struct rmq_fake_conn *)conn;
	if (c->close_asked)
		return;
	c->close_asked = 1;
	c->close_cb = cb;
	conn->closing = 1;
}

static void
fake_detach(struct rmq_conn *conn, rmq_detach_cb cb)
{
	struct rmq_fake_conn *c = (struct rmq_fake_conn *)conn;
	if (c->close_asked)
		return;
	c->close_asked = 2;
	c->detach_cb = cb;
	conn->closing = 1;
}

static uint64_t
fake_now(struct rmq_loop *loop)
{
	(void)loop;
	return fake_clock;
}

const struct rmq_loop_ops rmq_fake_loop_ops = {
	.name = "fake",
	.create = fake_create,
	.destroy = fake_destroy,
	.run = fake_run,
	.wake = fake_wake,
	.listen = fake_listen,
	.conn_open = fake_conn_open,
	.read_start = fake_read_start,
	.write = fake_write,
	.shutdown = fake_shutdown,
	.close = fake_close,
	.detach = fake_detach,
	.now = fake_now,
};

struct rmq_fake_client *
rmq_fake_connect(struct rmq_loop *loop, rmq_accept_cb cb, void *arg)
{
	struct rmq_fake_client *cl = calloc(1, sizeof(*cl));
	if (cl == NULL)
		abort();
	cl->fd = eventfd(0, EFD_CLOEXEC);
	if (cl->fd < 0)
		abort();
	cl->next = fake_clients;
	fake_clients = cl;
	cb(loop, cl->fd, arg);
	return cl;
}

void
rmq_fake_send(struct rmq_fake_client *c, const void *bytes, size_t n)
{
	fake_append(&c->in, &c->in_len, &c->in_cap, bytes, n);
}

void
rmq_fake_hangup(struct rmq_fake_client *c)
{
	c->peer_closed = 1;
}

unsigned
rmq_fake_hangup_shut(void)
{
	unsigned n = 0;
	for (struct rmq_fake_client *c = fake_clients; c; c = c->next)
		if (c->shut && !c->closed && !c->peer_closed) {
			c->peer_closed = 1;
			n++;
		}
	return n;
}

size_t
rmq_fake_take(struct rmq_fake_client *c, void *buf, size_t n)
{
	if (n > c->out_len)
		n = c->out_len;
	if (n == 0)
		return 0; /* out may be NULL */
	if (buf)
		memcpy(buf, c->out, n);
	memmove(c->out, c->out + n, c->out_len - n);
	c->out_len -= n;
	return n;
}

void
rmq_fake_stall(struct rmq_fake_client *c, int stalled)
{
	c->stalled = stalled;
}

/* Whether a connection has a completion to deliver. */
static int
fake_conn_ready(const struct rmq_fake_conn *c)
{
	if (c->close_asked)
		return 1;
	if (c->write_cb && !c->cl->stalled)
		return 1;
	return c->read_cb &&
	    (c->cl->in_len > 0 || (c->cl->peer_closed && !c->eof_read));
}

/* The first connection of the loop matching `pick`, or NULL; callbacks
 * may change the list, so each completion starts the walk again. */
static struct rmq_fake_conn *
fake_find(struct fake_loop *l, int (*pick)(const struct rmq_fake_conn *))
{
	for (struct rmq_fake_conn *c = l->conns; c; c = c->next)
		if (pick(c))
			return c;
	return NULL;
}

static int
fake_pick_close(const struct rmq_fake_conn *c)
{
	return c->close_asked != 0;
}

static int
fake_pick_write(const struct rmq_fake_conn *c)
{
	return !c->close_asked && c->write_cb && !c->cl->stalled;
}

static int
fake_pick_read(const struct rmq_fake_conn *c)
{
	return !c->close_asked && c->read_cb &&
	    (c->cl->in_len > 0 || (c->cl->peer_closed && !c->eof_read));
}

unsigned
rmq_fake_turn(struct rmq_loop *loop)
{
	struct fake_loop *l = (struct fake_loop *)loop;
	unsigned events = 0;
	atomic_store(&l->woken, 0);

	/* Closes asked before this turn: a close asked by a callback below
	 * ends in the next turn, as a real backend's would. */
	struct rmq_fake_conn *closing[256];
	unsigned nclosing = 0;
	for (struct rmq_fake_conn *c = l->conns; c && nclosing < 256;
	     c = c->next)
		if (fake_pick_close(c))
			closing[nclosing++] = c;
	for (unsigned i = 0; i < nclosing; i++) {
		struct rmq_fake_conn *c = closing[i];
		events++;
		if (c->write_cb) {
			rmq_write_cb cb = c->write_cb;
			c->write_cb = NULL;
			cb(&c->base, -ECANCELED);
		}
		struct rmq_fake_client *cl = c->cl;
		if (c->close_asked == 2) {
			c->cl = NULL; /* the descriptor goes on elsewhere */
			cl->conn = NULL;
			if (c->detach_cb) {
				struct rmq_conn_move mv = { .fd = c->base.fd };
				c->detach_cb(&c->base, &mv);
			}
		} else {
			if (c->close_cb)
				c->close_cb(&c->base);
			close(c->base.fd);
			cl->closed = 1;
		}
		fake_conn_free(l, c);
	}

	struct rmq_fake_conn *c;
	unsigned guard = 0;
	while ((c = fake_find(l, fake_pick_write)) && guard++ < 100000) {
		events++;
		for (int i = 0; i < c->wn; i++)
			fake_append(&c->cl->out, &c->cl->out_len,
			    &c->cl->out_cap, c->wiov[i].iov_base,
			    c->wiov[i].iov_len);
		rmq_write_cb cb = c->write_cb;
		c->write_cb = NULL;
		cb(&c->base, 0);
		/* A write the callback started completes next turn. */
		if (c->write_cb)
			break;
	}

	/* One read per connection per turn, as a backend's recv. */
	struct rmq_fake_conn *readers[256];
	unsigned nreaders = 0;
	for (c = l->conns; c && nreaders < 256; c = c->next)
		if (fake_pick_read(c))
			readers[nreaders++] = c;
	for (unsigned i = 0; i < nreaders; i++) {
		c = readers[i];
		int still = 0;
		for (struct rmq_fake_conn *d = l->conns; d; d = d->next)
			still |= d == c;
		if (!still || !fake_pick_read(c))
			continue; /* closed by an earlier callback */
		events++;
		struct rmq_fake_client *cl = c->cl;
		if (cl->in_len == 0) {
			c->eof_read = 1;
			c->read_cb(&c->base, NULL, 0);
			continue;
		}
		size_t n = cl->in_len;
		if (cl->read_max && n > cl->read_max)
			n = cl->read_max;
		/* A buffer of the loop's, lent to the callback only. */
		uint8_t *buf = malloc(n);
		if (buf == NULL)
			abort();
		memcpy(buf, cl->in, n);
		memmove(cl->in, cl->in + n, cl->in_len - n);
		cl->in_len -= n;
		c->read_cb(&c->base, buf, (ssize_t)n);
		free(buf);
	}

	rmq_loop_after_events(loop);
	return events;
}

static int
fake_loop_busy(struct fake_loop *l)
{
	if (atomic_load(&l->woken) || l->base.later)
		return 1;
	if (l->base.hooks.pending && l->base.hooks.pending(&l->base))
		return 1;
	if (l->base.tick_ms && fake_clock >= l->base.next_tick_ms)
		return 1;
	for (struct rmq_fake_conn *c = l->conns; c; c = c->next)
		if (fake_conn_ready(c))
			return 1;
	return 0;
}

unsigned
rmq_fake_settle(void)
{
	unsigned turns = 0;
	for (;;) {
		int busy = 0;
		for (struct fake_loop *l = fake_loops; l; l = l->next)
			if (fake_loop_busy(l)) {
				busy = 1;
				rmq_fake_turn(&l->base);
				turns++;
			}
		if (!busy)
			return turns ? turns : 1;
		if (turns > 10000)
			return 0;
	}
}

unsigned
rmq_fake_live_conns(void)
{
	return fake_live;
}

void
rmq_fake_reset(void)
{
	while (fake_clients) {
		struct rmq_fake_client *c = fake_clients;
		fake_clients = c->next;
		/* Its descriptor is the broker's to close (a worker closes
		 * one it was handed and never opened). */
		if (c->conn)
			c->conn->cl = NULL;
		free(c->in);
		free(c->out);
		free(c);
	}
}
