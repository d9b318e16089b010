/* broker/io/loop_uv.c: the libuv loop backend, for kernels or containers that
 * refuse io_uring.  One uv_loop_t per loop, run one iteration at a time so
 * that rmq_loop_after_events() runs once per turn after the I/O callbacks;
 * a timer armed in the prepare phase bounds each wait by what it returned.
 * Connections read into the loop's one 64 KiB buffer, lent for the length
 * of a read callback, so an idle connection holds no receive buffer.
 *
 * RCU: the prepare handle takes the thread offline just before libuv
 * blocks and the check handle brings it back; libuv dispatches I/O
 * callbacks inside that same poll call, so every callback here brings the
 * thread back online (uvb_awake) before it calls the owner.  Connection
 * memory is freed only in libuv's close callback.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <uv.h>

#include "log.h"
#include "loop.h"

#define UVB_RBUF_SIZE 65536u
#define UVB_PAUSE_MS 100u
#define UVB_NHANDLES 4 /* wake, timer, prepare, check */

/* The write fast path hands the caller's iovecs to libuv as they are. */
_Static_assert(sizeof(uv_buf_t) == sizeof(struct iovec) &&
	offsetof(uv_buf_t, base) == offsetof(struct iovec, iov_base) &&
	offsetof(uv_buf_t, len) == offsetof(struct iovec, iov_len),
    "uv_buf_t must be layout-compatible with struct iovec");

struct uv_loop_backend;

struct uvb_listener {
	struct uvb_listener *next;
	struct uv_loop_backend *l;
	uv_poll_t poll;
	int fd;
	rmq_accept_cb cb;
	void *arg;
	uint8_t polling;
	uint8_t closing;
	uint8_t closed;
	uint8_t paused; /* accept failed (EMFILE...): retry at resume_ms */
	uint8_t logged; /* the pause was logged; cleared by a good accept */
	uint64_t resume_ms;
};

struct uvb_conn {
	struct rmq_conn base;
	uv_tcp_t tcp;
	uv_write_t wreq;
	rmq_read_cb read_cb;
	rmq_write_cb write_cb;
	rmq_close_cb close_cb;
	rmq_detach_cb detach_cb;
	int detach_fd; /* a dup of the socket, or -errno */
	struct uvb_conn *next_done; /* on the loop's done list */
	int done_status; /* for the done list */
	uint8_t reading;
	uint8_t writing; /* a write was accepted and its cb has not run */
	uint8_t done; /* its completion waits on the done list */
};

struct uv_loop_backend {
	struct rmq_loop base;
	uv_loop_t uv;
	uv_async_t wake;
	uv_timer_t timer;
	uv_prepare_t prepare;
	uv_check_t check;
	unsigned handles_open; /* of wake, timer, prepare, check */
	unsigned handles_closed; /* their close callbacks so far */
	uint64_t deadline; /* uv_now() by which this turn's wait ends */
	uint8_t uv_inited;
	uint8_t asleep; /* RCU offline between prepare and check */
	uint8_t stamp; /* the first callback after the poll sets wake_us */
	uint8_t rbuf_lent;
	uint8_t *rbuf;
	struct uvb_listener *listeners;
	unsigned nlisteners; /* not yet closed */
	/* Writes finished (or failed) inside write(): their callbacks run
	 * from the loop, never from inside the call that submitted them. */
	struct uvb_conn *done_head;
	struct uvb_conn **done_tail;
};

static struct uv_loop_backend *
uvb_of(struct rmq_loop *loop)
{
	return (struct uv_loop_backend *)loop;
}

/* ---- RCU around the wait ---- */

/* Every callback starts here: back online for RCU, one event, and the
 * time the poll returned. */
static void
uvb_awake(struct uv_loop_backend *l)
{
	rmq_count(&l->base.events, 1);
	if (l->stamp) {
		l->stamp = 0;
		rmq_loop_woke(&l->base);
	}
	if (l->asleep) {
		l->asleep = 0;
		rmq_loop_sleep_end(&l->base);
	}
}

static void
uvb_on_timer(uv_timer_t *h)
{
	uvb_awake(h->data);
}

/* Arm the timer here, after libuv ran its due timers and just before it
 * computes the poll timeout: armed any earlier, a short timer could fire
 * before the poll and leave it to block without a bound. */
static void
uvb_on_prepare(uv_prepare_t *h)
{
	struct uv_loop_backend *l = h->data;
	uint64_t now = uv_now(&l->uv);
	uint64_t wait = l->deadline > now ? l->deadline - now : 0;
	uv_timer_start(&l->timer, uvb_on_timer, wait, 0);
	l->stamp = 1;
	if (wait > 0 && !l->asleep) {
		l->asleep = 1;
		rmq_loop_sleep_begin(&l->base);
	}
}

static void
uvb_on_check(uv_check_t *h)
{
	uvb_awake(h->data);
}

static void
uvb_on_wake(uv_async_t *h)
{
	/* Nothing to do: uv_run returns and the turn sees the stop flag. */
	uvb_awake(h->data);
}

static void
uvb_handle_closed(uv_handle_t *h)
{
	struct uv_loop_backend *l = h->data;
	l->handles_closed++;
}

/* ---- listeners ---- */

static void
uvb_listener_closed(uv_handle_t *h)
{
	struct uvb_listener *ls = h->data;
	close(ls->fd);
	ls->closed = 1;
	ls->l->nlisteners--;
}

static void
uvb_close_listeners(struct uv_loop_backend *l)
{
	for (struct uvb_listener *ls = l->listeners; ls; ls = ls->next) {
		if (ls->closing)
			continue;
		ls->closing = 1;
		uv_close((uv_handle_t *)&ls->poll, uvb_listener_closed);
	}
}

/* Stop accepting for a while rather than spin on EMFILE and the like. */
static void
uvb_listener_pause(struct uvb_listener *ls, int err)
{
	if (!ls->logged) {
		rmq_log(RMQ_LOG_ERROR, "accept: %s; pausing accepts for %u ms",
		    strerror(err), UVB_PAUSE_MS);
		ls->logged = 1;
	}
	if (ls->polling) {
		uv_poll_stop(&ls->poll);
		ls->polling = 0;
	}
	ls->paused = 1;
	ls->resume_ms = rmq_loop_clock_ms() + UVB_PAUSE_MS;
}

static void
uvb_on_listen(uv_poll_t *h, int status, int events)
{
	struct uvb_listener *ls = h->data;
	struct uv_loop_backend *l = ls->l;
	(void)events;
	uvb_awake(l);
	if (ls->closing)
		return;
	if (status < 0) {
		uvb_listener_pause(ls, -status);
		return;
	}
	/* Accept what is queued; the poll is level-triggered, so stopping
	 * early would only cost another wakeup. */
	while (!ls->closing && !ls->paused) {
		int fd = accept4(ls->fd, NULL, NULL, SOCK_CLOEXEC);
		if (fd >= 0) {
			ls->logged = 0;
			ls->cb(&l->base, fd, ls->arg);
			continue;
		}
		if (errno == EAGAIN || errno == EWOULDBLOCK)
			break;
		if (errno == EINTR || errno == ECONNABORTED ||
		    errno == EPROTO || errno == EPERM)
			continue; /* that one connection failed */
		uvb_listener_pause(ls, errno);
	}
}

static int
uvb_listener_start(struct uvb_listener *ls)
{
	int rc = uv_poll_start(&ls->poll, UV_READABLE, uvb_on_listen);
	if (rc == 0)
		ls->polling = 1;
	return rc;
}

/* Resume paused listeners that are due; returns the wait, shortened to the
 * next resume. */
static uint32_t
uvb_resume_listeners(struct uv_loop_backend *l, uint32_t wait_ms)
{
	uint64_t now = rmq_loop_clock_ms();
	for (struct uvb_listener *ls = l->listeners; ls; ls = ls->next) {
		if (!ls->paused || ls->closing)
			continue;
		if (now >= ls->resume_ms) {
			ls->paused = 0;
			int rc = uvb_listener_start(ls);
			if (rc < 0)
				uvb_listener_pause(ls, -rc);
		}
		if (ls->paused && ls->resume_ms - now < wait_ms)
			wait_ms = (uint32_t)(ls->resume_ms - now);
	}
	return wait_ms;
}

/* ---- connections ---- */

static void
uvb_conn_closed(uv_handle_t *h)
{
	struct uvb_conn *c = h->data;
	struct uv_loop_backend *l = uvb_of(c->base.loop);
	uvb_awake(l);
	if (c->done) {
		/* It finished inside write() and was closed before the loop
		 * delivered it: deliver it now, before the close callback. */
		struct uvb_conn **pp = &l->done_head;
		while (*pp != c)
			pp = &(*pp)->next_done;
		*pp = c->next_done;
		if (l->done_tail == &c->next_done)
			l->done_tail = pp;
		c->done = 0;
		c->writing = 0;
		if (c->write_cb)
			c->write_cb(&c->base, c->done_status);
	}
	c->base.fd = -1;
	l->base.nconns--;
	if (c->detach_cb) {
		struct rmq_conn_move mv = { .fd = c->detach_fd };
		c->detach_cb(&c->base, &mv);
	} else if (c->close_cb)
		c->close_cb(&c->base);
	free(c);
}

/* A conn_open that failed after uv_tcp_init: the fd stays the caller's. */
static void
uvb_conn_discard(uv_handle_t *h)
{
	free(h->data);
}

static void
uvb_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	struct uvb_conn *c = h->data;
	struct uv_loop_backend *l = uvb_of(c->base.loop);
	(void)suggested;
	/* libuv calls the read callback right after this one, so a single
	 * buffer per loop is enough; lending it twice would be a bug. */
	if (l->rbuf_lent) {
		*buf = uv_buf_init(NULL, 0);
		return;
	}
	l->rbuf_lent = 1;
	*buf = uv_buf_init((char *)l->rbuf, UVB_RBUF_SIZE);
}

static void
uvb_on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
	struct uvb_conn *c = s->data;
	struct uv_loop_backend *l = uvb_of(c->base.loop);
	(void)buf;
	uvb_awake(l);
	/* nread == 0 is EAGAIN; UV_ENOBUFS cannot come (alloc never fails
	 * outside a read callback) and would end reading like an error. */
	if (nread > 0 && c->reading && !c->base.closing)
		c->read_cb(&c->base, l->rbuf, nread);
	l->rbuf_lent = 0;
	if (nread >= 0 || !c->reading || c->base.closing)
		return;
	/* EOF or an error: no more reads after it. */
	c->reading = 0;
	uv_read_stop(s);
	c->read_cb(&c->base, NULL, nread == UV_EOF ? 0 : nread);
}

static void
uvb_on_write(uv_write_t *req, int status)
{
	struct uvb_conn *c = req->data;
	uvb_awake(uvb_of(c->base.loop));
	c->writing = 0;
	if (c->write_cb)
		c->write_cb(&c->base, status);
}

/* Queue the completion of a write that finished inside write(). */
static void
uvb_write_done_later(struct uv_loop_backend *l, struct uvb_conn *c, int status)
{
	c->done = 1;
	c->done_status = status;
	c->next_done = NULL;
	*l->done_tail = c;
	l->done_tail = &c->next_done;
}

static void
uvb_deliver_writes(struct uv_loop_backend *l)
{
	/* A write callback may submit again and finish at once: bound the
	 * pass to what was queued when it began. */
	struct uvb_conn *c = l->done_head;
	l->done_head = NULL;
	l->done_tail = &l->done_head;
	while (c) {
		struct uvb_conn *next = c->next_done;
		c->done = 0;
		c->writing = 0;
		if (c->write_cb)
			c->write_cb(&c->base, c->done_status);
		c = next;
	}
}

/* ---- ops ---- */

static int
uvb_create(unsigned id, struct rmq_loop **out)
{
	struct uv_loop_backend *l = calloc(1, sizeof(*l));
	struct sigaction sa;
	int rc;
	if (l == NULL)
		return -ENOMEM;
	/* libuv writes with writev(), which has no MSG_NOSIGNAL: a peer
	 * that resets must cost an EPIPE, not the process. */
	if (sigaction(SIGPIPE, NULL, &sa) == 0 && sa.sa_handler == SIG_DFL)
		signal(SIGPIPE, SIG_IGN);
	l->rbuf = malloc(UVB_RBUF_SIZE);
	if (l->rbuf == NULL) {
		rc = -ENOMEM;
		goto fail_free;
	}
	rc = uv_loop_init(&l->uv);
	if (rc != 0)
		goto fail_free;
	l->uv_inited = 1;
	rc = uv_async_init(&l->uv, &l->wake, uvb_on_wake);
	if (rc != 0)
		goto fail_loop;
	l->handles_open++;
	uv_timer_init(&l->uv, &l->timer);
	l->handles_open++;
	uv_prepare_init(&l->uv, &l->prepare);
	l->handles_open++;
	uv_check_init(&l->uv, &l->check);
	l->handles_open++;
	l->wake.data = l->timer.data = l->prepare.data = l->check.data = l;
	l->done_tail = &l->done_head;
	l->base.ops = &rmq_loop_uv_ops;
	l->base.id = id;
	*out = &l->base;
	return 0;
fail_loop:
	uv_loop_close(&l->uv);
fail_free:
	free(l->rbuf);
	free(l);
	return rc;
}

/* Close the loop's own handles that are still open, all but wake (which
 * other threads may still poke until destroy) unless `all`. */
static void
uvb_close_handles(struct uv_loop_backend *l, int all)
{
	uv_handle_t *hs[] = {
		(uv_handle_t *)&l->timer,
		(uv_handle_t *)&l->prepare,
		(uv_handle_t *)&l->check,
		(uv_handle_t *)&l->wake,
	};
	size_t n = all ? 4 : 3;
	for (size_t i = 0; i < n; i++) {
		if (!uv_is_closing(hs[i]))
			uv_close(hs[i], uvb_handle_closed);
	}
}

static void
uvb_destroy(struct rmq_loop *loop)
{
	struct uv_loop_backend *l = uvb_of(loop);
	if (l->uv_inited) {
		uvb_close_listeners(l);
		uvb_close_handles(l, 1);
		/* Close callbacks run within one iteration; bound it anyway. */
		for (int i = 0; i < 16; i++) {
			if (l->handles_closed == l->handles_open &&
			    l->nlisteners == 0)
				break;
			uv_run(&l->uv, UV_RUN_NOWAIT);
		}
		int rc = uv_loop_close(&l->uv);
		if (rc != 0)
			rmq_log(RMQ_LOG_ERROR, "uv_loop_close: %s",
			    uv_strerror(rc));
	}
	while (l->listeners) {
		struct uvb_listener *ls = l->listeners;
		l->listeners = ls->next;
		free(ls);
	}
	free(l->rbuf);
	free(l);
}

static void
uvb_wake(struct rmq_loop *loop)
{
	struct uv_loop_backend *l = uvb_of(loop);
	int rc = uv_async_send(&l->wake);
	if (rc != 0)
		rmq_log(RMQ_LOG_ERROR, "uv_async_send: %s", uv_strerror(rc));
}

static int
uvb_listen(struct rmq_loop *loop, int fd, rmq_accept_cb cb, void *arg)
{
	struct uv_loop_backend *l = uvb_of(loop);
	struct uvb_listener *ls = calloc(1, sizeof(*ls));
	int rc;
	if (ls == NULL)
		return -ENOMEM;
	ls->l = l;
	ls->fd = fd;
	ls->cb = cb;
	ls->arg = arg;
	/* uv_poll_init makes fd non-blocking, which the accept loop needs. */
	rc = uv_poll_init(&l->uv, &ls->poll, fd);
	if (rc != 0) {
		free(ls);
		return rc;
	}
	ls->poll.data = ls;
	ls->next = l->listeners;
	l->listeners = ls;
	l->nlisteners++;
	rc = uvb_listener_start(ls);
	if (rc < 0)
		uvb_listener_pause(ls, -rc);
	return 0;
}

static int
uvb_conn_open(struct rmq_loop *loop, int fd, struct rmq_conn **out)
{
	struct uv_loop_backend *l = uvb_of(loop);
	struct uvb_conn *c = calloc(1, sizeof(*c));
	int rc;
	if (c == NULL)
		return -ENOMEM;
	rc = uv_tcp_init(&l->uv, &c->tcp);
	if (rc != 0) {
		free(c);
		return rc;
	}
	c->tcp.data = c;
	c->wreq.data = c;
	/* uv_tcp_open makes the socket non-blocking. */
	rc = uv_tcp_open(&c->tcp, fd);
	if (rc != 0) {
		/* The handle is known to the loop now: only its close
		 * callback may free it.  libuv never took the fd. */
		uv_close((uv_handle_t *)&c->tcp, uvb_conn_discard);
		return rc;
	}
	c->base.loop = loop;
	c->base.fd = fd;
	loop->nconns++;
	*out = &c->base;
	return 0;
}

static int
uvb_read_start(struct rmq_conn *conn, rmq_read_cb cb)
{
	struct uvb_conn *c = (struct uvb_conn *)conn;
	if (conn->closing)
		return -EPIPE;
	c->read_cb = cb;
	if (c->reading)
		return 0;
	int rc = uv_read_start((uv_stream_t *)&c->tcp, uvb_alloc, uvb_on_read);
	if (rc != 0)
		return rc;
	c->reading = 1;
	return 0;
}

static int
uvb_write(struct rmq_conn *conn, struct iovec *iov, int n, rmq_write_cb cb)
{
	struct uvb_conn *c = (struct uvb_conn *)conn;
	struct uv_loop_backend *l = uvb_of(conn->loop);
	if (conn->closing)
		return -EPIPE;
	if (c->writing)
		return -EBUSY;
	if (n <= 0 || n > RMQ_LOOP_IOV_MAX)
		return -EINVAL;
	c->write_cb = cb;
	c->writing = 1;

	int rc =
	    uv_try_write((uv_stream_t *)&c->tcp, (uv_buf_t *)iov, (unsigned)n);
	if (rc < 0 && rc != UV_EAGAIN) {
		uvb_write_done_later(l, c, rc);
		return 0;
	}
	/* Advance over what went out, which may end inside an iovec. */
	size_t left = rc > 0 ? (size_t)rc : 0;
	while (n > 0 && left >= iov->iov_len) {
		left -= iov->iov_len;
		iov++;
		n--;
	}
	if (n == 0) {
		uvb_write_done_later(l, c, 0);
		return 0;
	}
	iov->iov_base = (uint8_t *)iov->iov_base + left;
	iov->iov_len -= left;
	/* libuv copies the uv_buf_t array; the bytes stay the caller's. */
	rc = uv_write(&c->wreq, (uv_stream_t *)&c->tcp, (uv_buf_t *)iov,
	    (unsigned)n, uvb_on_write);
	if (rc != 0)
		uvb_write_done_later(l, c, rc);
	return 0;
}

/* The socket's own shutdown, not uv_shutdown(): no write is pending, so
 * there is nothing for libuv to wait for, and reading goes on. */
static int
uvb_shutdown(struct rmq_conn *conn)
{
	struct uvb_conn *c = (struct uvb_conn *)conn;
	if (conn->closing)
		return -EPIPE;
	if (c->writing)
		return -EBUSY;
	return shutdown(conn->fd, SHUT_WR) == 0 ? 0 : -errno;
}

static void
uvb_close(struct rmq_conn *conn, rmq_close_cb cb)
{
	struct uvb_conn *c = (struct uvb_conn *)conn;
	if (conn->closing)
		return;
	conn->closing = 1;
	c->close_cb = cb;
	if (c->reading) {
		c->reading = 0;
		uv_read_stop((uv_stream_t *)&c->tcp);
	}
	/* Closing the handle closes the socket and ends a pending uv_write
	 * with UV_ECANCELED before uvb_conn_closed runs. */
	uv_close((uv_handle_t *)&c->tcp, uvb_conn_closed);
}

/* libuv has no way to let go of a stream's socket without closing it, so
 * the caller gets a duplicate and libuv closes the original; the two share
 * one open file (still O_NONBLOCK).  If dup fails (EMFILE), the socket is
 * closed and cb gets the negative errno for fd. */
static void
uvb_detach(struct rmq_conn *conn, rmq_detach_cb cb)
{
	struct uvb_conn *c = (struct uvb_conn *)conn;
	if (conn->closing)
		return;
	int fd = fcntl(conn->fd, F_DUPFD_CLOEXEC, 3);
	c->detach_fd = fd >= 0 ? fd : -errno;
	c->detach_cb = cb;
	uvb_close(conn, NULL);
}

static int
uvb_run(struct rmq_loop *loop)
{
	struct uv_loop_backend *l = uvb_of(loop);
	int rc = uv_prepare_start(&l->prepare, uvb_on_prepare);
	if (rc == 0)
		rc = uv_check_start(&l->check, uvb_on_check);
	if (rc != 0)
		return rc;
	for (;;) {
		uvb_deliver_writes(l);
		uint32_t wait_ms = rmq_loop_after_events(loop);
		if (loop->stop_seen)
			uvb_close_listeners(l);
		wait_ms = uvb_resume_listeners(l, wait_ms);
		if (loop->stop_seen && loop->nconns == 0 && l->nlisteners == 0)
			break;
		/* The hooks may have finished writes: no sleeping on them. */
		if (l->done_head)
			wait_ms = 0;
		uv_update_time(&l->uv);
		l->deadline = uv_now(&l->uv) + wait_ms;
		uv_run(&l->uv, UV_RUN_ONCE);
		uvb_awake(l);
	}
	/* Keep wake open until destroy: other threads may still call it. */
	uv_prepare_stop(&l->prepare);
	uv_check_stop(&l->check);
	uvb_close_handles(l, 0);
	for (int i = 0; i < 16 && l->handles_closed < l->handles_open - 1; i++)
		uv_run(&l->uv, UV_RUN_NOWAIT);
	uvb_awake(l);
	return 0;
}

const struct rmq_loop_ops rmq_loop_uv_ops = {
	.name = "libuv",
	.create = uvb_create,
	.destroy = uvb_destroy,
	.run = uvb_run,
	.wake = uvb_wake,
	.listen = uvb_listen,
	.conn_open = uvb_conn_open,
	.read_start = uvb_read_start,
	.write = uvb_write,
	.shutdown = uvb_shutdown,
	.close = uvb_close,
	.detach = uvb_detach,
};
