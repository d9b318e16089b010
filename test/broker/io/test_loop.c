/* test/broker/io/test_loop.c: the loop backends (broker/io/loop_uv.c and
 * broker/io/loop_uring.c) against the contract in broker/io/loop.h.
 *
 * Every scenario runs on each backend (a parameter: libuv always, io_uring
 * when built and the kernel allows it, else a visible skip).  A loop runs
 * on its own thread, which creates, runs and destroys it as loop.h asks;
 * the test thread talks to it over 127.0.0.1 with plain blocking sockets.
 * Every wait is bounded (10 s) and every scenario ends by checking that no
 * connection is left open; LeakSanitizer checks the memory at exit.
 */
#include <criterion/criterion.h>
#include <criterion/parameterized.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "loop.h"
#include "rmq_config.h"

#define WAIT_MS 10000 /* safety bound on every wait: a hang fails */
#define ECHO_BYTES (1u << 20)
#define NCLIENTS 200
#define BIG_BYTES (16u << 20)

enum backend_kind { BACKEND_UV, BACKEND_URING };

static void
loop_suite_init(void)
{
	/* The clients send with MSG_NOSIGNAL; this covers the rest. */
	signal(SIGPIPE, SIG_IGN);
}

TestSuite(loop, .init = loop_suite_init, .timeout = 120);

/* ------------------------------------------------------------------ */
/* the server side: runs on the loop thread                           */
/* ------------------------------------------------------------------ */

struct sconn;

struct harness {
	const struct rmq_loop_ops *ops;
	const char *name;
	struct rmq_loop *loop;
	pthread_t th;
	int lfd;
	struct sockaddr_in addr;
	uint32_t tick_ms;

	/* What the scenario adds to the echo server. */
	int no_read;
	rmq_read_cb read_cb;
	void (*on_conn)(struct sconn *sc);
	void (*on_turn)(struct harness *h);
	/* For the write scenarios: the iovecs to send, copied per write. */
	struct iovec *tmpl;
	int ntmpl;
	uint8_t *src;

	struct sconn *conns; /* loop thread only */
	unsigned seq; /* loop thread only: orders callbacks */

	atomic_int started, finished, release;
	atomic_int create_rc, listen_rc, run_rc;
	atomic_uint nconns_end;
	atomic_int accepted, open_failed, read_start_bad, closes, close2;
	atomic_int eofs, read_errs, reads_after_end;
	atomic_int echo_write_bad, echo_write_errs;
	atomic_int stoppings, ticks, order_bad;
	/* One big write per connection. */
	atomic_int big_started, big_rc, big_cbs, big_status;
	atomic_uint big_seq, close_seq;
	atomic_int close_req, close_done, busy_rc, epipe_rc;
	atomic_int detach_req, detach_done, detaches, detach_fd_bad;
};

struct sconn {
	struct harness *h;
	struct rmq_conn *c;
	struct sconn *next;
	struct sconn **pprev;
	uint8_t ended; /* a read with n <= 0 came */
	uint8_t writing; /* between write() and its callback */
	uint8_t big; /* the write in flight is the big one */
	/* echo: what arrived while a write was in flight, and the write */
	uint8_t *pend;
	size_t plen, pcap;
	uint8_t *wbuf;
	struct iovec wiov;
	/* big write: a copy of the template, which the backend advances */
	struct iovec *iov;
};

static struct harness H;

static void
sconn_free(struct sconn *sc)
{
	struct harness *h = sc->h;
	if (sc->writing)
		atomic_fetch_add(&h->order_bad, 1); /* close before write cb */
	atomic_store(&h->close_seq, ++h->seq);
	*sc->pprev = sc->next;
	if (sc->next)
		sc->next->pprev = sc->pprev;
	free(sc->pend);
	free(sc->wbuf);
	free(sc->iov);
	free(sc);
}

static void
sconn_closed(struct rmq_conn *c)
{
	struct harness *h = ((struct sconn *)c->data)->h;
	sconn_free(c->data);
	atomic_fetch_add(&h->closes, 1);
}

/* A second close must not call its callback. */
static void
sconn_closed_again(struct rmq_conn *c)
{
	struct sconn *sc = c->data;
	atomic_fetch_add(&sc->h->close2, 1);
}

/* May free sc before it returns (a backend may finish a close at once). */
static void
sconn_close(struct sconn *sc)
{
	sc->h->ops->close(sc->c, sconn_closed);
}

static void echo_flush(struct sconn *sc);

static void
echo_written(struct rmq_conn *c, int status)
{
	struct sconn *sc = c->data;
	struct harness *h = sc->h;
	sc->writing = 0;
	free(sc->wbuf);
	sc->wbuf = NULL;
	if (status != 0) {
		atomic_fetch_add(&h->echo_write_errs, 1);
		return;
	}
	if (sc->plen > 0 && !c->closing)
		echo_flush(sc);
}

static void
echo_flush(struct sconn *sc)
{
	struct harness *h = sc->h;
	sc->wbuf = sc->pend;
	sc->wiov.iov_base = sc->pend;
	sc->wiov.iov_len = sc->plen;
	sc->pend = NULL;
	sc->plen = sc->pcap = 0;
	sc->writing = 1;
	int rc = h->ops->write(sc->c, &sc->wiov, 1, echo_written);
	if (rc != 0) {
		sc->writing = 0;
		atomic_fetch_add(&h->echo_write_bad, 1);
	}
}

static void
echo_read(struct rmq_conn *c, const uint8_t *data, ssize_t n)
{
	struct sconn *sc = c->data;
	struct harness *h = sc->h;
	if (sc->ended) {
		atomic_fetch_add(&h->reads_after_end, 1);
		return;
	}
	if (n > 0) {
		if (sc->plen + (size_t)n > sc->pcap) {
			size_t cap = sc->pcap ? sc->pcap : 4096;
			while (cap < sc->plen + (size_t)n)
				cap *= 2;
			uint8_t *p = realloc(sc->pend, cap);
			if (p == NULL)
				abort(); /* no cr_assert off the test thread */
			sc->pend = p;
			sc->pcap = cap;
		}
		memcpy(sc->pend + sc->plen, data, (size_t)n);
		sc->plen += (size_t)n;
		if (!sc->writing)
			echo_flush(sc);
		return;
	}
	sc->ended = 1;
	atomic_fetch_add(n == 0 ? &h->eofs : &h->read_errs, 1);
	sconn_close(sc); /* from inside the read callback, on purpose */
}

static void
on_accept(struct rmq_loop *loop, int fd, void *arg)
{
	struct harness *h = arg;
	struct rmq_conn *c;
	struct sconn *sc;
	if (h->ops->conn_open(loop, fd, &c) != 0) {
		close(fd);
		atomic_fetch_add(&h->open_failed, 1);
		return;
	}
	sc = calloc(1, sizeof(*sc));
	if (sc == NULL)
		abort();
	sc->h = h;
	sc->c = c;
	c->data = sc;
	sc->next = h->conns;
	if (sc->next)
		sc->next->pprev = &sc->next;
	sc->pprev = &h->conns;
	h->conns = sc;
	atomic_fetch_add(&h->accepted, 1);
	if (!h->no_read &&
	    h->ops->read_start(c, h->read_cb ? h->read_cb : echo_read) != 0)
		atomic_fetch_add(&h->read_start_bad, 1);
	if (h->on_conn)
		h->on_conn(sc);
}

static void
on_turn(struct rmq_loop *loop)
{
	struct harness *h = loop->data;
	if (h->on_turn)
		h->on_turn(h);
}

static void
on_tick(struct rmq_loop *loop)
{
	struct harness *h = loop->data;
	atomic_fetch_add(&h->ticks, 1);
}

static void
on_stopping(struct rmq_loop *loop)
{
	struct harness *h = loop->data;
	atomic_fetch_add(&h->stoppings, 1);
	for (struct sconn *sc = h->conns, *next; sc; sc = next) {
		next = sc->next;
		sconn_close(sc);
	}
}

/* Wait until *v >= want, at most WAIT_MS.  Any thread. */
static int
wait_until(atomic_int *v, int want)
{
	for (int i = 0; i < WAIT_MS && atomic_load(v) < want; i++)
		usleep(1000);
	return atomic_load(v) >= want;
}

static void *
loop_thread(void *arg)
{
	struct harness *h = arg;
	struct rmq_loop *loop = NULL;
	int rc = h->ops->create(0, &loop);
	if (rc == 0) {
		loop->data = h;
		loop->tick_ms = h->tick_ms;
		loop->hooks.turn = on_turn;
		loop->hooks.tick = on_tick;
		loop->hooks.stopping = on_stopping;
		rc = h->ops->listen(loop, h->lfd, on_accept, h);
		atomic_store(&h->listen_rc, rc);
		if (rc != 0)
			close(h->lfd); /* still ours */
		h->loop = loop;
	}
	atomic_store(&h->create_rc, rc);
	atomic_store(&h->started, 1);
	if (rc == 0) {
		atomic_store(&h->run_rc, rmq_loop_run(loop));
		atomic_store(&h->nconns_end, loop->nconns);
		/* Destroy only once the test thread is done calling
		 * rmq_loop_stop() or wake() on it. */
		wait_until(&h->release, 1);
	}
	if (loop)
		h->ops->destroy(loop);
	atomic_store(&h->finished, 1);
	return NULL;
}

/* ------------------------------------------------------------------ */
/* the test side                                                      */
/* ------------------------------------------------------------------ */

#if RMQ_HAVE_URING
struct probe {
	int rc;
	char why[160];
};

static void *
probe_thread(void *arg)
{
	struct probe *p = arg;
	p->rc = rmq_loop_uring_probe(p->why, sizeof(p->why));
	return NULL;
}
#endif

static const struct rmq_loop_ops *
backend_ops(int kind)
{
	if (kind == BACKEND_UV)
		return &rmq_loop_uv_ops;
#if RMQ_HAVE_URING
	/* On a thread of its own: tearing a ring down leaves task work
	 * that fails the thread's next timed socket wait with EINTR. */
	struct probe p = { .rc = -EINVAL, .why = "probe thread failed" };
	pthread_t th;
	if (pthread_create(&th, NULL, probe_thread, &p) == 0)
		pthread_join(th, NULL);
	if (p.rc == 0)
		return &rmq_loop_uring_ops;
	cr_skip_test("io_uring backend: unavailable here: %s", p.why);
#else
	cr_skip_test("io_uring backend: not built (liburing missing)");
#endif
	return NULL;
}

/* Listen on 127.0.0.1:0 and start a loop thread serving it. */
static struct harness *
h_start(int kind, uint32_t tick_ms)
{
	struct harness *h = &H;
	socklen_t alen = sizeof(h->addr);
	int one = 1;

	h->ops = backend_ops(kind);
	h->name = h->ops->name;
	h->tick_ms = tick_ms;
	h->lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	cr_assert_geq(h->lfd, 0, "socket: %s", strerror(errno));
	setsockopt(h->lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	h->addr.sin_family = AF_INET;
	h->addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	h->addr.sin_port = 0;
	cr_assert_eq(bind(h->lfd, (struct sockaddr *)&h->addr, sizeof(h->addr)),
	    0, "bind: %s", strerror(errno));
	cr_assert_eq(listen(h->lfd, 1024), 0, "listen: %s", strerror(errno));
	cr_assert_eq(getsockname(h->lfd, (struct sockaddr *)&h->addr, &alen), 0,
	    "getsockname: %s", strerror(errno));
	cr_assert_eq(pthread_create(&h->th, NULL, loop_thread, h), 0);
	cr_assert(wait_until(&h->started, 1), "%s: loop thread did not start",
	    h->name);
	cr_assert_eq(atomic_load(&h->create_rc), 0, "%s: create: %s", h->name,
	    strerror(-atomic_load(&h->create_rc)));
	cr_assert_eq(atomic_load(&h->listen_rc), 0, "%s: listen: %s", h->name,
	    strerror(-atomic_load(&h->listen_rc)));
	return h;
}

/* Stop the loop from this thread, join it, and check what every scenario
 * must end with. */
static void
h_stop(struct harness *h)
{
	rmq_loop_stop(h->loop);
	atomic_store(&h->release, 1);
	cr_assert(wait_until(&h->finished, 1),
	    "%s: run() did not return within %d ms of rmq_loop_stop()", h->name,
	    WAIT_MS);
	pthread_join(h->th, NULL);
	cr_assert_eq(atomic_load(&h->run_rc), 0, "%s: run() returned %d",
	    h->name, atomic_load(&h->run_rc));
	cr_assert_eq(atomic_load(&h->nconns_end), 0,
	    "%s: %u connections left after run()", h->name,
	    atomic_load(&h->nconns_end));
	cr_assert_eq(atomic_load(&h->stoppings), 1,
	    "%s: stopping hook ran %d times", h->name,
	    atomic_load(&h->stoppings));
	cr_assert_eq(atomic_load(&h->closes) + atomic_load(&h->detaches),
	    atomic_load(&h->accepted),
	    "%s: %d close and %d detach callbacks for %d connections", h->name,
	    atomic_load(&h->closes), atomic_load(&h->detaches),
	    atomic_load(&h->accepted));
	cr_assert_eq(atomic_load(&h->close2), 0,
	    "%s: a second close() called its callback", h->name);
	cr_assert_eq(atomic_load(&h->order_bad), 0,
	    "%s: a close callback came before its write callback", h->name);
	cr_assert_eq(atomic_load(&h->open_failed), 0, "%s: conn_open failed",
	    h->name);
	cr_assert_eq(atomic_load(&h->read_start_bad), 0,
	    "%s: read_start failed", h->name);
	cr_assert_eq(atomic_load(&h->reads_after_end), 0,
	    "%s: a read callback came after EOF or an error", h->name);
	cr_assert_eq(atomic_load(&h->echo_write_bad), 0,
	    "%s: write() refused an echo", h->name);
}

static int
client_connect(struct harness *h, int rcvbuf)
{
	struct timeval tv = { .tv_sec = WAIT_MS / 1000 };
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	cr_assert_geq(fd, 0, "socket: %s", strerror(errno));
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	if (rcvbuf > 0) /* before connect, so the window starts small */
		setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
	cr_assert_eq(connect(fd, (struct sockaddr *)&h->addr, sizeof(h->addr)),
	    0, "%s: connect: %s", h->name, strerror(errno));
	return fd;
}

static void
send_all(struct harness *h, int fd, const uint8_t *p, size_t len)
{
	while (len > 0) {
		ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		cr_assert_gt(n, 0, "%s: send: %s", h->name,
		    n < 0 ? strerror(errno) : "0");
		p += n;
		len -= (size_t)n;
	}
}

/* Read exactly len bytes, at most `chunk` per recv. */
static void
recv_exact(struct harness *h, int fd, uint8_t *p, size_t len, size_t chunk)
{
	while (len > 0) {
		ssize_t n = recv(fd, p, len < chunk ? len : chunk, 0);
		if (n < 0 && errno == EINTR)
			continue;
		cr_assert_gt(n, 0, "%s: recv with %zu bytes to go: %s", h->name,
		    len, n < 0 ? strerror(errno) : "EOF");
		p += n;
		len -= (size_t)n;
	}
}

/* The peer's end: the next recv must see EOF (the server closed). */
static void
expect_eof(struct harness *h, int fd)
{
	uint8_t b;
	ssize_t n;
	do
		n = recv(fd, &b, 1, 0);
	while (n < 0 && errno == EINTR);
	cr_assert(n == 0 || (n < 0 && errno == ECONNRESET),
	    "%s: want EOF, recv returned %zd (%s)", h->name, n,
	    n < 0 ? strerror(errno) : "data");
}

static uint32_t
rnd(uint32_t *s)
{
	/* xorshift32: deterministic, so a failure replays. */
	*s ^= *s << 13;
	*s ^= *s >> 17;
	*s ^= *s << 5;
	return *s;
}

static void
fill(uint8_t *p, size_t n, uint32_t seed)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)(rnd(&seed) >> 24);
}

/* ------------------------------------------------------------------ */
/* scenarios                                                          */
/* ------------------------------------------------------------------ */

static void
scenario_echo(int kind)
{
	struct harness *h = h_start(kind, 0);
	int fd = client_connect(h, 0);
	uint8_t *out = malloc(ECHO_BYTES), *back = malloc(ECHO_BYTES);
	uint32_t seed = 0x2545F491u;
	size_t off = 0, got = 0;

	cr_assert(out && back);
	fill(out, ECHO_BYTES, 7);
	while (off < ECHO_BYTES) {
		size_t piece = 1 + rnd(&seed) % 65536;
		if (piece > ECHO_BYTES - off)
			piece = ECHO_BYTES - off;
		send_all(h, fd, out + off, piece);
		off += piece;
		/* Take what has come back so far, without blocking. */
		while (got < ECHO_BYTES) {
			ssize_t n = recv(fd, back + got, ECHO_BYTES - got,
			    MSG_DONTWAIT);
			if (n <= 0)
				break;
			got += (size_t)n;
		}
	}
	recv_exact(h, fd, back + got, ECHO_BYTES - got, 65536);
	cr_assert_eq(memcmp(out, back, ECHO_BYTES), 0,
	    "%s: the echo differs from what was sent", h->name);
	h_stop(h);
	expect_eof(h, fd);
	cr_assert_eq(atomic_load(&h->accepted), 1);
	cr_assert_eq(atomic_load(&h->echo_write_errs), 0,
	    "%s: an echo write failed", h->name);
	close(fd);
	free(out);
	free(back);
}

static void
scenario_many(int kind)
{
	struct harness *h = h_start(kind, 0);
	static int fds[NCLIENTS];
	char msg[600], back[600];

	for (int i = 0; i < NCLIENTS; i++)
		fds[i] = client_connect(h, 0);
	for (int i = 0; i < NCLIENTS; i++) {
		int len = snprintf(msg, sizeof(msg), "client %d says %0*d", i,
		    i * 2 + 1, i);
		send_all(h, fds[i], (uint8_t *)msg, (size_t)len);
	}
	for (int i = 0; i < NCLIENTS; i++) {
		int len = snprintf(msg, sizeof(msg), "client %d says %0*d", i,
		    i * 2 + 1, i);
		recv_exact(h, fds[i], (uint8_t *)back, (size_t)len, 65536);
		cr_assert_eq(memcmp(msg, back, (size_t)len), 0,
		    "%s: client %d got someone else's echo", h->name, i);
	}
	cr_assert_eq(atomic_load(&h->accepted), NCLIENTS);
	h_stop(h);
	for (int i = 0; i < NCLIENTS; i++) {
		expect_eof(h, fds[i]);
		close(fds[i]);
	}
	cr_assert_eq(atomic_load(&h->closes), NCLIENTS);
}

static void
scenario_peer_close(int kind)
{
	struct harness *h = h_start(kind, 0);
	int fd = client_connect(h, 0);
	uint8_t back[3];

	send_all(h, fd, (const uint8_t *)"bye", 3);
	recv_exact(h, fd, back, 3, 3);
	close(fd);
	cr_assert(wait_until(&h->closes, 1),
	    "%s: no close callback after the peer closed", h->name);
	cr_assert_eq(atomic_load(&h->eofs), 1, "%s: %d EOF reads, want 1",
	    h->name, atomic_load(&h->eofs));
	cr_assert_eq(atomic_load(&h->read_errs), 0, "%s: a read error",
	    h->name);
	h_stop(h);
	cr_assert_eq(atomic_load(&h->closes), 1,
	    "%s: the close callback ran %d times", h->name,
	    atomic_load(&h->closes));
}

/* Write the template's iovecs on a new connection: the big write. */
static void
big_written(struct rmq_conn *c, int status)
{
	struct sconn *sc = c->data;
	struct harness *h = sc->h;
	sc->writing = 0;
	atomic_store(&h->big_status, status);
	atomic_store(&h->big_seq, ++h->seq);
	atomic_fetch_add(&h->big_cbs, 1);
}

static void
big_on_conn(struct sconn *sc)
{
	struct harness *h = sc->h;
	size_t sz = (size_t)h->ntmpl * sizeof(struct iovec);
	sc->iov = malloc(sz);
	if (sc->iov == NULL)
		abort();
	memcpy(sc->iov, h->tmpl, sz);
	sc->writing = 1;
	sc->big = 1;
	int rc = h->ops->write(sc->c, sc->iov, h->ntmpl, big_written);
	if (rc != 0)
		sc->writing = 0;
	atomic_store(&h->big_rc, rc);
	atomic_store(&h->big_started, 1);
}

/* Ignore what the silent client sends (nothing) but see the end. */
static void
quiet_read(struct rmq_conn *c, const uint8_t *data, ssize_t n)
{
	struct sconn *sc = c->data;
	(void)data;
	if (n <= 0)
		sc->ended = 1;
}

/* On the loop thread, when the test asks: with the big write pending,
 * check -EBUSY, close, check -EPIPE, close again. */
static void
close_on_request(struct harness *h)
{
	static struct iovec one = { .iov_base = "x", .iov_len = 1 };
	if (!atomic_load(&h->close_req) || atomic_load(&h->close_done))
		return;
	atomic_store(&h->close_done, 1);
	struct sconn *sc = h->conns;
	if (sc == NULL)
		return;
	struct rmq_conn *c = sc->c;
	int pending = sc->writing;
	atomic_store(&h->busy_rc, h->ops->write(c, &one, 1, big_written));
	h->ops->close(c, sconn_closed);
	/* With a write pending, c lives on until its write callback at
	 * least; without one the close may have freed it already. */
	if (pending) {
		atomic_store(&h->epipe_rc,
		    h->ops->write(c, &one, 1, big_written));
		h->ops->close(c, sconn_closed_again);
	}
}

static void
scenario_close_pending_write(int kind)
{
	struct harness *h = &H;
	struct iovec tmpl;
	h->src = malloc(BIG_BYTES);
	cr_assert_not_null(h->src);
	memset(h->src, 'w', BIG_BYTES);
	tmpl.iov_base = h->src;
	tmpl.iov_len = BIG_BYTES;
	h->tmpl = &tmpl;
	h->ntmpl = 1;
	h->read_cb = quiet_read;
	h->on_conn = big_on_conn;
	h->on_turn = close_on_request;
	h_start(kind, 0);

	/* A client that never reads, with a small window: the write can
	 * not finish. */
	int fd = client_connect(h, 65536);
	cr_assert(wait_until(&h->big_started, 1), "%s: no connection", h->name);
	cr_assert_eq(atomic_load(&h->big_rc), 0, "%s: write: %s", h->name,
	    strerror(-atomic_load(&h->big_rc)));
	usleep(50000); /* let some of it go out: not needed, more realistic */
	atomic_store(&h->close_req, 1);
	h->ops->wake(h->loop);
	cr_assert(wait_until(&h->closes, 1), "%s: no close callback", h->name);
	cr_assert_eq(atomic_load(&h->big_cbs), 1,
	    "%s: the write callback ran %d times", h->name,
	    atomic_load(&h->big_cbs));
	int st = atomic_load(&h->big_status);
	cr_assert(st == -ECANCELED || st == 0,
	    "%s: the pending write ended with %d (%s), want -ECANCELED",
	    h->name, st, strerror(-st));
	cr_assert_lt(atomic_load(&h->big_seq), atomic_load(&h->close_seq),
	    "%s: the write callback came after the close callback", h->name);
	cr_assert_eq(atomic_load(&h->busy_rc), -EBUSY,
	    "%s: a second write returned %d, want -EBUSY", h->name,
	    atomic_load(&h->busy_rc));
	cr_assert_eq(atomic_load(&h->epipe_rc), -EPIPE,
	    "%s: a write after close returned %d, want -EPIPE", h->name,
	    atomic_load(&h->epipe_rc));
	h_stop(h);
	cr_assert_eq(atomic_load(&h->closes), 1,
	    "%s: the close callback ran %d times", h->name,
	    atomic_load(&h->closes));
	close(fd);
	free(h->src);
}

static void
closing_written(struct rmq_conn *c, int status)
{
	big_written(c, status);
	sconn_close(c->data); /* from inside the write callback, on purpose */
}

static void
hello_on_conn(struct sconn *sc)
{
	struct harness *h = sc->h;
	sc->wiov.iov_base = "hello";
	sc->wiov.iov_len = 5;
	sc->writing = 1;
	int rc = h->ops->write(sc->c, &sc->wiov, 1, closing_written);
	if (rc != 0)
		sc->writing = 0;
	atomic_store(&h->big_rc, rc);
	atomic_store(&h->big_started, 1);
}

/* A connection that is not reading closes itself from its write
 * callback: nothing else of it is in flight then. */
static void
scenario_close_in_write_cb(int kind)
{
	struct harness *h = &H;
	uint8_t back[5];
	h->no_read = 1;
	h->on_conn = hello_on_conn;
	h_start(kind, 0);

	int fd = client_connect(h, 0);
	recv_exact(h, fd, back, sizeof(back), sizeof(back));
	cr_assert_eq(memcmp(back, "hello", 5), 0);
	expect_eof(h, fd);
	cr_assert(wait_until(&h->closes, 1), "%s: no close callback", h->name);
	cr_assert_eq(atomic_load(&h->big_rc), 0);
	cr_assert_eq(atomic_load(&h->big_status), 0,
	    "%s: the write ended with %d", h->name,
	    atomic_load(&h->big_status));
	h_stop(h);
	cr_assert_eq(atomic_load(&h->closes), 1,
	    "%s: the close callback ran %d times", h->name,
	    atomic_load(&h->closes));
	close(fd);
}

/* The socket is ours again: adopt it afresh, as a connection moving to
 * another loop would be. */
static void
on_detached(struct rmq_conn *c, struct rmq_conn_move *mv)
{
	int fd = mv->fd;
	struct sconn *sc = c->data;
	struct harness *h = sc->h;
	struct rmq_loop *loop = c->loop;
	sconn_free(sc);
	atomic_fetch_add(&h->detaches, 1);
	if (fd < 0) {
		atomic_fetch_add(&h->detach_fd_bad, 1);
		return;
	}
	on_accept(loop, fd, h);
}

static void
detach_on_request(struct harness *h)
{
	if (!atomic_load(&h->detach_req) || atomic_load(&h->detach_done))
		return;
	atomic_store(&h->detach_done, 1);
	if (h->conns)
		h->ops->detach(h->conns->c, on_detached);
}

static void
scenario_detach(int kind)
{
	struct harness *h = &H;
	uint8_t back[5];
	h->on_turn = detach_on_request;
	h_start(kind, 0);
	if (h->ops->detach == NULL)
		cr_skip_test("%s: no detach", h->name);

	int fd = client_connect(h, 0);
	send_all(h, fd, (const uint8_t *)"first", 5);
	recv_exact(h, fd, back, 5, 5);
	atomic_store(&h->detach_req, 1);
	h->ops->wake(h->loop);
	cr_assert(wait_until(&h->accepted, 2),
	    "%s: the detached socket was not adopted again", h->name);
	cr_assert_eq(atomic_load(&h->detach_fd_bad), 0, "%s: detach gave no fd",
	    h->name);
	/* The same TCP connection, now served by the new rmq_conn. */
	send_all(h, fd, (const uint8_t *)"again", 5);
	recv_exact(h, fd, back, 5, 5);
	cr_assert_eq(memcmp(back, "again", 5), 0);
	h_stop(h);
	expect_eof(h, fd);
	cr_assert_eq(atomic_load(&h->detaches), 1);
	cr_assert_eq(atomic_load(&h->closes), 1);
	close(fd);
}

static void
scenario_partial_writes(int kind)
{
	struct harness *h = &H;
	static struct iovec tmpl[RMQ_LOOP_IOV_MAX];
	const size_t srclen = 65536;
	uint32_t seed = 0x9E3779B9u;
	size_t total = 0;

	/* RMQ_LOOP_IOV_MAX slices of one buffer, of random length (a few
	 * empty) at random places, so that a wrong advance shows. */
	h->src = malloc(srclen);
	cr_assert_not_null(h->src);
	fill(h->src, srclen, 11);
	for (int i = 0; i < RMQ_LOOP_IOV_MAX; i++) {
		size_t len = i % 97 == 5 ? 0 : 1 + rnd(&seed) % 12288;
		size_t off = rnd(&seed) % (srclen - len + 1);
		tmpl[i].iov_base = h->src + off;
		tmpl[i].iov_len = len;
		total += len;
	}
	uint8_t *want = malloc(total), *got = malloc(total);
	cr_assert(want && got);
	for (size_t i = 0, at = 0; i < RMQ_LOOP_IOV_MAX; i++) {
		memcpy(want + at, tmpl[i].iov_base, tmpl[i].iov_len);
		at += tmpl[i].iov_len;
	}
	h->tmpl = tmpl;
	h->ntmpl = RMQ_LOOP_IOV_MAX;
	h->read_cb = quiet_read;
	h->on_conn = big_on_conn;
	h_start(kind, 0);

	int fd = client_connect(h, 16384);
	cr_assert(wait_until(&h->big_started, 1), "%s: no connection", h->name);
	cr_assert_eq(atomic_load(&h->big_rc), 0, "%s: write: %s", h->name,
	    strerror(-atomic_load(&h->big_rc)));
	/* Read slowly: small reads, a pause now and then. */
	for (size_t at = 0, i = 0; at < total; i++) {
		size_t n = total - at < 1000 ? total - at : 1000;
		recv_exact(h, fd, got + at, n, n);
		at += n;
		if (i % 64 == 0)
			usleep(200);
	}
	cr_assert_eq(memcmp(want, got, total), 0,
	    "%s: %zu bytes in %d iovecs arrived altered", h->name, total,
	    RMQ_LOOP_IOV_MAX);
	cr_assert(wait_until(&h->big_cbs, 1), "%s: no write callback", h->name);
	cr_assert_eq(atomic_load(&h->big_status), 0,
	    "%s: the write ended with %d", h->name,
	    atomic_load(&h->big_status));
	h_stop(h);
	expect_eof(h, fd); /* and not a byte more */
	cr_assert_eq(atomic_load(&h->big_cbs), 1);
	close(fd);
	free(want);
	free(got);
	free(h->src);
}

static void
scenario_stop_wakes(int kind)
{
	/* A tick far away: only wake() can end the wait in time. */
	struct harness *h = h_start(kind, 3600 * 1000);
	int fd = client_connect(h, 0);
	cr_assert(wait_until(&h->accepted, 1), "%s: no connection", h->name);
	for (int i = 0; i < 3; i++)
		h->ops->wake(h->loop); /* wakes without a stop are harmless */
	usleep(100000); /* let the loop go to sleep */
	h_stop(h); /* fails if run() is not back within 10 s */
	expect_eof(h, fd);
	close(fd);
}

static void
scenario_tick(int kind)
{
	struct harness *h = h_start(kind, 5);
	cr_assert(wait_until(&h->ticks, 3), "%s: %d ticks, want 3 or more",
	    h->name, atomic_load(&h->ticks));
	h_stop(h);
}

/* ---- lending: another thread runs a sleeping loop's work ---------- */

/* A tick far away: only a wake-up at give-back finishes in time what a
 * borrower left. */
#define LENT_TICK_MS (3600u * 1000)

/* Borrow the loop once it sleeps, as a sending loop would.  Returns 0
 * when the backend cannot lend (then it must never be taken). */
static int
h_borrow(struct harness *h, struct rmq_loop *by)
{
	if (h->ops->lent_end == NULL) {
		usleep(20000);
		cr_assert_eq(rmq_loop_borrow(h->loop, by), 0,
		    "%s: a backend that cannot lend was borrowed", h->name);
		return 0;
	}
	for (int i = 0; i < WAIT_MS; i++) {
		if (rmq_loop_borrow(h->loop, by))
			return 1;
		usleep(1000);
	}
	cr_assert_fail("%s: the loop never slept", h->name);
	return 0;
}

/* A loop serving one connection that it does not read (so it does not
 * see what the peer does): the test's fd. */
static int
h_lent_start(struct harness *h, int kind, int rcvbuf)
{
	h->no_read = 1;
	h_start(kind, LENT_TICK_MS);
	int fd = client_connect(h, rcvbuf);
	cr_assert(wait_until(&h->accepted, 1), "%s: no connection", h->name);
	return fd;
}

/* A loop woken by its own I/O while lent waits for the borrower. */
static void
h_assert_lent(struct harness *h)
{
	cr_assert_eq(atomic_load(&h->loop->state), RMQ_LOOP_LENT,
	    "%s: state %d while lent", h->name, atomic_load(&h->loop->state));
	cr_assert(rmq_loop_lent(h->loop));
}

static struct sconn *
h_big_write_lent(struct harness *h)
{
	struct sconn *sc = h->conns;
	cr_assert_not_null(sc);
	sc->iov = malloc(sizeof(*sc->iov));
	cr_assert_not_null(sc->iov);
	*sc->iov = (struct iovec){ h->src, BIG_BYTES };
	sc->writing = 1;
	cr_assert_eq(h->ops->write(sc->c, sc->iov, 1, big_written), 0);
	/* The socket cannot take 16 MiB: nothing is done yet, and the rest
	 * is the owner's. */
	cr_assert_eq(h->ops->lent_complete(h->loop), 0,
	    "%s: a 16 MiB write finished inside the borrow", h->name);
	cr_assert_eq(atomic_load(&h->big_cbs), 0);
	return sc;
}

/* A write on a lent loop goes out from the borrower's thread; what the
 * socket does not take the loop finishes once it is given back. */
static void
scenario_lent_write(int kind)
{
	struct harness *h = &H;
	struct rmq_loop by = { 0 };
	h->src = malloc(BIG_BYTES);
	cr_assert_not_null(h->src);
	fill(h->src, BIG_BYTES, 7);
	int fd = h_lent_start(h, kind, 65536);
	if (!h_borrow(h, &by))
		goto out;
	h_assert_lent(h);

	/* A small write is done at once; its callback runs here. */
	struct sconn *sc = h->conns;
	sc->wiov = (struct iovec){ "hello", 5 };
	sc->writing = 1;
	cr_assert_eq(h->ops->write(sc->c, &sc->wiov, 1, big_written), 0);
	cr_assert_eq(h->ops->lent_complete(h->loop), 1);
	cr_assert_eq(atomic_load(&h->big_cbs), 1);
	cr_assert_eq(atomic_load(&h->big_status), 0);
	cr_assert_eq(sc->writing, 0);
	atomic_store(&h->big_cbs, 0);

	h_big_write_lent(h);
	rmq_loop_give_back(h->loop, 0);

	uint8_t hello[5];
	recv_exact(h, fd, hello, 5, 5);
	cr_assert_eq(memcmp(hello, "hello", 5), 0);
	uint8_t *got = malloc(BIG_BYTES);
	cr_assert_not_null(got);
	recv_exact(h, fd, got, BIG_BYTES, 65536);
	cr_assert_eq(memcmp(got, h->src, BIG_BYTES), 0, "%s: the bytes differ",
	    h->name);
	free(got);
	cr_assert(wait_until(&h->big_cbs, 1), "%s: no write callback", h->name);
	cr_assert_eq(atomic_load(&h->big_status), 0,
	    "%s: the write ended with %d", h->name,
	    atomic_load(&h->big_status));
out:
	h_stop(h);
	close(fd);
	free(h->src);
}

/* Closed while lent, with the rest of a write left for the owner: the
 * write ends with -ECANCELED before the close callback. */
static void
scenario_lent_close_pending(int kind)
{
	struct harness *h = &H;
	struct rmq_loop by = { 0 };
	h->src = malloc(BIG_BYTES);
	cr_assert_not_null(h->src);
	memset(h->src, 'c', BIG_BYTES);
	int fd = h_lent_start(h, kind, 65536);
	if (!h_borrow(h, &by))
		goto out;
	struct sconn *sc = h_big_write_lent(h);
	sconn_close(sc);
	rmq_loop_give_back(h->loop, 0);
	cr_assert(wait_until(&h->closes, 1), "%s: no close callback", h->name);
	cr_assert_eq(atomic_load(&h->big_cbs), 1);
	cr_assert_eq(atomic_load(&h->big_status), -ECANCELED,
	    "%s: the write ended with %d", h->name,
	    atomic_load(&h->big_status));
	cr_assert_lt(atomic_load(&h->big_seq), atomic_load(&h->close_seq),
	    "%s: the write callback came after the close callback", h->name);
	/* The peer sees what was sent, then the end. */
	uint8_t buf[65536];
	ssize_t n;
	do
		n = recv(fd, buf, sizeof(buf), 0);
	while (n > 0 || (n < 0 && errno == EINTR));
	cr_assert(n == 0 || errno == ECONNRESET, "%s: recv: %s", h->name,
	    strerror(errno));
out:
	h_stop(h);
	close(fd);
	free(h->src);
}

/* A peer gone (reset) before a lent write: the write fails with the
 * socket's error, and a close then finishes on the owner's thread. */
static void
scenario_lent_write_error(int kind)
{
	struct harness *h = &H;
	struct rmq_loop by = { 0 };
	struct linger lg = { .l_onoff = 1, .l_linger = 0 };
	int fd = h_lent_start(h, kind, 0);
	setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	close(fd);
	usleep(20000);
	if (!h_borrow(h, &by))
		goto out;
	struct sconn *sc = h->conns;
	sc->wiov = (struct iovec){ "lost", 4 };
	sc->writing = 1;
	cr_assert_eq(h->ops->write(sc->c, &sc->wiov, 1, big_written), 0);
	cr_assert_eq(h->ops->lent_complete(h->loop), 1);
	int st = atomic_load(&h->big_status);
	cr_assert(st == -ECONNRESET || st == -EPIPE,
	    "%s: a write to a reset peer ended with %d", h->name, st);
	sconn_close(sc);
	cr_assert_eq(atomic_load(&h->closes), 0,
	    "%s: closed on the borrower's thread", h->name);
	rmq_loop_give_back(h->loop, 0);
	cr_assert(wait_until(&h->closes, 1), "%s: no close callback", h->name);
out:
	h_stop(h);
}

/* ------------------------------------------------------------------ */
/* each scenario on each backend                                      */
/* ------------------------------------------------------------------ */

static int backends[] = { BACKEND_UV, BACKEND_URING };

#define LOOP_TEST(name)                                                        \
	ParameterizedTestParameters(loop, name)                                \
	{                                                                      \
		return cr_make_param_array(int, backends,                      \
		    sizeof(backends) / sizeof(backends[0]));                   \
	}                                                                      \
	ParameterizedTest(int *kind, loop, name)                               \
	{                                                                      \
		scenario_##name(*kind);                                        \
	}

LOOP_TEST(echo)
LOOP_TEST(many)
LOOP_TEST(peer_close)
LOOP_TEST(close_pending_write)
LOOP_TEST(close_in_write_cb)
LOOP_TEST(detach)
LOOP_TEST(partial_writes)
LOOP_TEST(stop_wakes)
LOOP_TEST(tick)
LOOP_TEST(lent_write)
LOOP_TEST(lent_close_pending)
LOOP_TEST(lent_write_error)
