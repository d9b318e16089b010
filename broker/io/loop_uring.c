/* broker/io/loop_uring.c: the io_uring loop backend (liburing).
 *
 * One ring per loop, owned by the loop's thread (SINGLE_ISSUER and
 * DEFER_TASKRUN where the kernel has them).  Reads are multishot recvs into
 * a ring of provided buffers shared by every connection of the loop, so an
 * idle connection holds no receive buffer; a buffer goes back to the ring
 * as soon as the read callback returns.  Accepts are multishot too.  Every
 * SQE of a turn goes in with the one submit-and-wait call that ends it.
 * What the kernel lacks is probed at start and left out: single-shot recv
 * and accept, re-armed per completion, and plain ring flags.
 *
 * user_data carries a pointer with the operation in its low 3 bits.  A
 * connection counts its SQEs in flight; close cancels them and frees the
 * connection only when the last completion is in, so no completion can
 * find freed memory.
 */
#include <errno.h>
#include <liburing.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "log.h"
#include "loop.h"

enum uring_op {
	URING_OP_RECV = 1,
	URING_OP_SEND = 2,
	URING_OP_CANCEL = 3,
	URING_OP_ACCEPT = 4,
	URING_OP_WAKE = 5,
	URING_OP_LCANCEL = 6, /* cancel of a listener's accept */
};

#define URING_BGID 0
#define URING_ENTRIES 4096u
#define URING_CQ_ENTRIES 16384u

/* What the probe found the kernel to support. */
static struct {
	int probed;
	unsigned ring_flags;
	int multishot_recv;
	int multishot_accept;
} uring_caps;

struct uring_listener {
	struct uring_listener *next;
	int fd;
	rmq_accept_cb cb;
	void *arg;
	unsigned inflight;
	uint8_t closing;
	uint8_t closed;
	uint8_t paused; /* accept failed (EMFILE...): retry later */
	uint64_t resume_ms;
};

struct uring_conn {
	struct rmq_conn base;
	rmq_read_cb read_cb;
	rmq_write_cb write_cb;
	rmq_close_cb close_cb;
	rmq_detach_cb detach_cb;
	/* The write in progress: what is left of the caller's iovecs.  A
	 * writev needs no msghdr, which keeps an idle connection small. */
	struct iovec *wiov;
	int wiovcnt;
	unsigned inflight;
	uint8_t reading; /* read_start was called and no EOF/error yet */
	uint8_t recv_armed;
	uint8_t sending;
	uint8_t starved; /* recv stopped by ENOBUFS, on the starved list */
	uint8_t reaping; /* closed, on the reap list */
	uint8_t lent_todo; /* URING_LENT_* left for the owner by a borrower */
	uint8_t lent_err; /* errno of a write done while lent */
	/* The starved list; while the loop is lent (when nothing is
	 * starved) the list of what the borrower left the owner. */
	struct uring_conn *next_starved;
	/* The reap list; while lent, the writes done and not yet called
	 * back (counted in inflight, so never reaped meanwhile). */
	struct uring_conn *next_reap;
};

/* What a borrower could not do without the loop's ring. */
enum {
	URING_LENT_SEND = 1, /* the rest of a short write: send it */
	URING_LENT_CANCEL = 2, /* closed with operations in the ring */
};

struct uring_loop {
	struct rmq_loop base;
	struct io_uring ring;
	struct io_uring_buf_ring *br;
	uint8_t *bufs;
	unsigned nbufs;
	unsigned bufsize;
	unsigned br_added; /* buffers handed back this turn */
	int wake_fd;
	uint64_t wake_val;
	unsigned wake_inflight;
	struct uring_listener *listeners;
	unsigned nlisteners;
	struct uring_conn *starved;
	struct uring_conn *reap; /* closed connections to finish */
	struct uring_conn *lent_done; /* writes done by a borrower */
	struct uring_conn *lent_todo; /* what a borrower left the owner */
	int disabled; /* created R_DISABLED: enable in run() */
};

static inline void *
uring_tag(void *p, enum uring_op op)
{
	return (void *)((uintptr_t)p | (uintptr_t)op);
}

static struct io_uring_sqe *
uring_sqe(struct uring_loop *l)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&l->ring);
	while (sqe == NULL) {
		/* The SQ is full: hand it to the kernel and retry. */
		io_uring_submit(&l->ring);
		sqe = io_uring_get_sqe(&l->ring);
	}
	return sqe;
}

/* ---- probing ---- */

static int
uring_ring_init(struct io_uring *ring, unsigned *flags_out, unsigned extra)
{
	static const unsigned tries[] = {
		IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN |
		    IORING_SETUP_CQSIZE | IORING_SETUP_SUBMIT_ALL,
		IORING_SETUP_COOP_TASKRUN | IORING_SETUP_CQSIZE |
		    IORING_SETUP_SUBMIT_ALL,
		IORING_SETUP_CQSIZE,
		0,
	};
	int rc = -EINVAL;
	for (size_t i = 0; i < sizeof(tries) / sizeof(tries[0]); i++) {
		struct io_uring_params p;
		memset(&p, 0, sizeof(p));
		p.flags = tries[i] | extra;
		p.cq_entries = URING_CQ_ENTRIES;
		rc = io_uring_queue_init_params(URING_ENTRIES, ring, &p);
		if (rc == 0) {
			*flags_out = tries[i];
			return 0;
		}
		if (rc != -EINVAL)
			return rc; /* EPERM, ENOSYS, ENOMEM: no use trying */
	}
	return rc;
}

static int
uring_buf_ring_setup(struct uring_loop *l, unsigned nbufs, unsigned bufsize)
{
	struct io_uring_buf_reg reg;
	void *mem;
	if (posix_memalign(&mem, 4096, nbufs * sizeof(struct io_uring_buf)))
		return -ENOMEM;
	l->br = mem;
	l->bufs = malloc((size_t)nbufs * bufsize);
	if (l->bufs == NULL)
		return -ENOMEM;
	l->nbufs = nbufs;
	l->bufsize = bufsize;
	memset(&reg, 0, sizeof(reg));
	reg.ring_addr = (uintptr_t)l->br;
	reg.ring_entries = nbufs;
	reg.bgid = URING_BGID;
	int rc = io_uring_register_buf_ring(&l->ring, &reg, 0);
	if (rc != 0)
		return rc;
	io_uring_buf_ring_init(l->br);
	for (unsigned i = 0; i < nbufs; i++)
		io_uring_buf_ring_add(l->br, l->bufs + (size_t)i * bufsize,
		    bufsize, (unsigned short)i, io_uring_buf_ring_mask(nbufs),
		    (int)i);
	io_uring_buf_ring_advance(l->br, (int)nbufs);
	return 0;
}

/* Submit one SQE and wait for its CQE: for the probe only. */
static int
uring_probe_one(struct io_uring *ring, struct io_uring_cqe *out)
{
	struct io_uring_cqe *cqe;
	struct __kernel_timespec ts = { .tv_sec = 1 };
	int rc = io_uring_submit_and_wait_timeout(ring, &cqe, 1, &ts, NULL);
	if (rc < 0)
		return rc;
	*out = *cqe;
	io_uring_cqe_seen(ring, cqe);
	return 0;
}

int
rmq_loop_uring_probe(char *why, size_t len)
{
	struct uring_loop l;
	struct io_uring_sqe *sqe;
	struct io_uring_cqe cqe;
	int sv[2] = { -1, -1 }, rc;

	memset(&l, 0, sizeof(l));
	rc = uring_ring_init(&l.ring, &uring_caps.ring_flags, 0);
	if (rc != 0) {
		snprintf(why, len, "io_uring_setup: %s", strerror(-rc));
		return rc;
	}
	rc = uring_buf_ring_setup(&l, 8, 64);
	if (rc != 0) {
		snprintf(why, len, "provided buffer rings: %s", strerror(-rc));
		goto out;
	}
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) {
		rc = -errno;
		snprintf(why, len, "socketpair: %s", strerror(errno));
		goto out;
	}
	/* Multishot recv with a provided buffer: a byte must arrive with
	 * IORING_CQE_F_MORE set.  Kernels before 6.0 refuse it (EINVAL). */
	sqe = io_uring_get_sqe(&l.ring);
	io_uring_prep_recv_multishot(sqe, sv[0], NULL, 0, 0);
	sqe->flags |= IOSQE_BUFFER_SELECT;
	sqe->buf_group = URING_BGID;
	if (write(sv[1], "x", 1) != 1) {
		rc = -errno;
		snprintf(why, len, "probe write: %s", strerror(errno));
		goto out;
	}
	rc = uring_probe_one(&l.ring, &cqe);
	if (rc != 0) {
		snprintf(why, len, "recv probe: %s", strerror(-rc));
		goto out;
	}
	uring_caps.multishot_recv =
	    cqe.res == 1 && (cqe.flags & IORING_CQE_F_MORE);
	if (cqe.res < 0 && cqe.res != -EINVAL) {
		rc = cqe.res;
		snprintf(why, len, "recv with provided buffers: %s",
		    strerror(-rc));
		goto out;
	}
	/* Multishot accept came in 5.19; the op code tells. */
	struct io_uring_probe *pr = io_uring_get_probe_ring(&l.ring);
	if (pr == NULL || !io_uring_opcode_supported(pr, IORING_OP_ACCEPT) ||
	    !io_uring_opcode_supported(pr, IORING_OP_WRITEV) ||
	    !io_uring_opcode_supported(pr, IORING_OP_ASYNC_CANCEL) ||
	    !io_uring_opcode_supported(pr, IORING_OP_READ)) {
		rc = -ENOTSUP;
		snprintf(why, len,
		    "the kernel lacks accept, writev, read or cancel in io_uring");
		if (pr)
			io_uring_free_probe(pr);
		goto out;
	}
	/* SOCKET (5.19) is a fair stand-in for multishot accept (5.19). */
	uring_caps.multishot_accept =
	    io_uring_opcode_supported(pr, IORING_OP_SOCKET);
	io_uring_free_probe(pr);
	uring_caps.probed = 1;
	snprintf(why, len, "%s%s, %s recv, %s accept",
	    uring_caps.ring_flags & IORING_SETUP_SINGLE_ISSUER
		? "single issuer, deferred task run"
		: "shared task run",
	    "", uring_caps.multishot_recv ? "multishot" : "single-shot",
	    uring_caps.multishot_accept ? "multishot" : "single-shot");
	rc = 0;
out:
	if (sv[0] >= 0)
		close(sv[0]);
	if (sv[1] >= 0)
		close(sv[1]);
	io_uring_queue_exit(&l.ring);
	free(l.br);
	free(l.bufs);
	return rc;
}

/* ---- submission helpers ---- */

static void
uring_arm_wake(struct uring_loop *l)
{
	struct io_uring_sqe *sqe = uring_sqe(l);
	io_uring_prep_read(sqe, l->wake_fd, &l->wake_val, sizeof(l->wake_val),
	    0);
	io_uring_sqe_set_data(sqe, uring_tag(l, URING_OP_WAKE));
	l->wake_inflight++;
}

static void
uring_arm_accept(struct uring_loop *l, struct uring_listener *ls)
{
	struct io_uring_sqe *sqe = uring_sqe(l);
	if (uring_caps.multishot_accept)
		io_uring_prep_multishot_accept(sqe, ls->fd, NULL, NULL,
		    SOCK_CLOEXEC);
	else
		io_uring_prep_accept(sqe, ls->fd, NULL, NULL, SOCK_CLOEXEC);
	io_uring_sqe_set_data(sqe, uring_tag(ls, URING_OP_ACCEPT));
	ls->inflight++;
}

static void
uring_arm_recv(struct uring_loop *l, struct uring_conn *c)
{
	struct io_uring_sqe *sqe = uring_sqe(l);
	if (uring_caps.multishot_recv)
		io_uring_prep_recv_multishot(sqe, c->base.fd, NULL, 0, 0);
	else
		io_uring_prep_recv(sqe, c->base.fd, NULL, l->bufsize, 0);
	sqe->flags |= IOSQE_BUFFER_SELECT;
	sqe->buf_group = URING_BGID;
	io_uring_sqe_set_data(sqe, uring_tag(c, URING_OP_RECV));
	c->recv_armed = 1;
	c->inflight++;
}

static void
uring_arm_send(struct uring_loop *l, struct uring_conn *c)
{
	struct io_uring_sqe *sqe = uring_sqe(l);
	/* Offset -1: the stream's own position, as write(2) has it.  A
	 * peer that is gone gives EPIPE; SIGPIPE is ignored by the broker. */
	io_uring_prep_writev(sqe, c->base.fd, c->wiov, (unsigned)c->wiovcnt,
	    (uint64_t)-1);
	io_uring_sqe_set_data(sqe, uring_tag(c, URING_OP_SEND));
	c->inflight++;
}

/* ---- ops ---- */

static int
uring_create(unsigned id, struct rmq_loop **out)
{
	struct uring_loop *l = calloc(1, sizeof(*l));
	unsigned flags;
	int rc;
	if (l == NULL)
		return -ENOMEM;
	l->wake_fd = -1;
	/* Created disabled: the thread that runs the loop enables it and so
	 * becomes its single issuer. */
	rc = uring_ring_init(&l->ring, &flags, IORING_SETUP_R_DISABLED);
	if (rc != 0)
		goto fail_free;
	l->disabled = 1;
	rc = uring_buf_ring_setup(l, 64, 32768);
	if (rc != 0)
		goto fail_ring;
	l->wake_fd = eventfd(0, EFD_CLOEXEC);
	if (l->wake_fd < 0) {
		rc = -errno;
		goto fail_ring;
	}
	l->base.ops = &rmq_loop_uring_ops;
	l->base.id = id;
	uring_arm_wake(l);
	*out = &l->base;
	return 0;
fail_ring:
	io_uring_queue_exit(&l->ring);
	free(l->br);
	free(l->bufs);
fail_free:
	free(l);
	return rc;
}

static void
uring_destroy(struct rmq_loop *loop)
{
	struct uring_loop *l = (struct uring_loop *)loop;
	io_uring_queue_exit(&l->ring);
	if (l->wake_fd >= 0)
		close(l->wake_fd);
	while (l->listeners) {
		struct uring_listener *ls = l->listeners;
		l->listeners = ls->next;
		if (!ls->closed)
			close(ls->fd);
		free(ls);
	}
	free(l->br);
	free(l->bufs);
	free(l);
}

static void
uring_wake(struct rmq_loop *loop)
{
	struct uring_loop *l = (struct uring_loop *)loop;
	uint64_t one = 1;
	/* A loop that is running sees queued work before it sleeps (when
	 * its owner says where that work is): only a sleeping one needs the
	 * eventfd, and only once. */
	int v = RMQ_LOOP_ASLEEP;
	if (loop->hooks.pending &&
	    !atomic_compare_exchange_strong(&loop->state, &v, RMQ_LOOP_RUNNING))
		return; /* running, or lent: the borrower looks when done */
	/* EAGAIN means the counter is full: the loop is due to wake. */
	if (write(l->wake_fd, &one, sizeof(one)) < 0 && errno != EAGAIN)
		perror("ringmq: eventfd write");
}

static int
uring_listen(struct rmq_loop *loop, int fd, rmq_accept_cb cb, void *arg)
{
	struct uring_loop *l = (struct uring_loop *)loop;
	struct uring_listener *ls = calloc(1, sizeof(*ls));
	if (ls == NULL)
		return -ENOMEM;
	ls->fd = fd;
	ls->cb = cb;
	ls->arg = arg;
	ls->next = l->listeners;
	l->listeners = ls;
	l->nlisteners++;
	uring_arm_accept(l, ls);
	return 0;
}

static int
uring_conn_open(struct rmq_loop *loop, int fd, struct rmq_conn **out)
{
	struct uring_conn *c = calloc(1, sizeof(*c));
	if (c == NULL)
		return -ENOMEM;
	c->base.loop = loop;
	c->base.fd = fd;
	loop->nconns++;
	*out = &c->base;
	return 0;
}

static int
uring_read_start(struct rmq_conn *conn, rmq_read_cb cb)
{
	struct uring_conn *c = (struct uring_conn *)conn;
	if (conn->closing)
		return -EPIPE;
	c->read_cb = cb;
	c->reading = 1;
	if (!c->recv_armed && !c->starved)
		uring_arm_recv((struct uring_loop *)conn->loop, c);
	return 0;
}

static void uring_on_send(struct uring_loop *l, struct uring_conn *c, int res);
static void uring_conn_finish(struct uring_loop *l, struct uring_conn *c);

/* Advance the write in progress past `done` bytes, which may end inside an
 * iovec.  Returns whether anything is left. */
static int
uring_advance(struct uring_conn *c, size_t done)
{
	while (c->wiovcnt > 0 && done >= c->wiov->iov_len) {
		done -= c->wiov->iov_len;
		c->wiov++;
		c->wiovcnt--;
	}
	if (c->wiovcnt == 0)
		return 0;
	c->wiov->iov_base = (uint8_t *)c->wiov->iov_base + done;
	c->wiov->iov_len -= done;
	return 1;
}

/* Cancel what c has in the ring; the completion finishes the close. */
static void
uring_cancel(struct uring_loop *l, struct uring_conn *c)
{
	struct io_uring_sqe *sqe = uring_sqe(l);
	io_uring_prep_cancel_fd(sqe, c->base.fd, IORING_ASYNC_CANCEL_ALL);
	io_uring_sqe_set_data(sqe, uring_tag(c, URING_OP_CANCEL));
	c->inflight++;
}

/* Leave c for the owner to finish (what), once the loop is back. */
static void
uring_lent_leave(struct uring_loop *l, struct uring_conn *c, uint8_t what)
{
	if (c->lent_todo == 0) {
		c->next_starved = l->lent_todo;
		l->lent_todo = c;
	}
	c->lent_todo |= what;
}

/* A write on a lent loop: one non-blocking sendmsg from the borrower's
 * thread.  Whatever the socket does not take is left to the owner. */
static void
uring_write_lent(struct uring_loop *l, struct uring_conn *c)
{
	struct msghdr mh = { .msg_iov = c->wiov,
		.msg_iovlen = (size_t)c->wiovcnt };
	ssize_t r = sendmsg(c->base.fd, &mh, MSG_DONTWAIT | MSG_NOSIGNAL);
	c->inflight++; /* until its callback, or the owner's send */
	if (r < 0 && errno != EAGAIN && errno != EWOULDBLOCK) {
		c->lent_err = (uint8_t)(errno < 255 ? errno : EIO);
		goto done;
	}
	if (uring_advance(c, r > 0 ? (size_t)r : 0)) {
		uring_lent_leave(l, c, URING_LENT_SEND);
		return;
	}
	c->lent_err = 0;
done:
	c->next_reap = l->lent_done;
	l->lent_done = c;
}

static unsigned
uring_lent_complete(struct rmq_loop *loop)
{
	struct uring_loop *l = (struct uring_loop *)loop;
	unsigned n = 0;
	while (l->lent_done) {
		struct uring_conn *c = l->lent_done;
		l->lent_done = c->next_reap;
		c->next_reap = NULL;
		n++;
		/* As if the ring had said so: every byte, or the error. */
		uring_on_send(l, c, c->lent_err ? -(int)c->lent_err : 0);
	}
	return n;
}

static int
uring_lent_end(struct rmq_loop *loop)
{
	struct uring_loop *l = (struct uring_loop *)loop;
	uring_lent_complete(loop);
	return l->lent_todo != NULL || l->reap != NULL;
}

/* The owner, back from its wait: finish what a borrower left. */
static void
uring_take_back(struct uring_loop *l)
{
	while (l->lent_todo) {
		struct uring_conn *c = l->lent_todo;
		l->lent_todo = c->next_starved;
		c->next_starved = NULL;
		uint8_t what = c->lent_todo;
		c->lent_todo = 0;
		if (what & URING_LENT_SEND) {
			if (c->base.closing) {
				uring_on_send(l, c, -ECANCELED);
			} else {
				c->inflight--;
				uring_arm_send(l, c);
			}
		}
		if (what & URING_LENT_CANCEL) {
			if (c->inflight > 0)
				uring_cancel(l, c);
			else
				uring_conn_finish(l, c);
		}
	}
}

static int
uring_write(struct rmq_conn *conn, struct iovec *iov, int n, rmq_write_cb cb)
{
	struct uring_conn *c = (struct uring_conn *)conn;
	if (conn->closing)
		return -EPIPE;
	if (c->sending)
		return -EBUSY;
	if (n <= 0 || n > RMQ_LOOP_IOV_MAX)
		return -EINVAL;
	c->wiov = iov;
	c->wiovcnt = n;
	c->write_cb = cb;
	c->sending = 1;
	if (rmq_loop_lent(conn->loop))
		uring_write_lent((struct uring_loop *)conn->loop, c);
	else
		uring_arm_send((struct uring_loop *)conn->loop, c);
	return 0;
}

/* Once nothing of a closing connection is left in the ring, queue it to
 * be finished at a safe point of the turn, never inside a callback that
 * may still touch it. */
static void
uring_conn_finish(struct uring_loop *l, struct uring_conn *c)
{
	if (!c->base.closing || c->inflight > 0 || c->reaping)
		return;
	c->reaping = 1;
	c->next_reap = l->reap;
	l->reap = c;
}

static void
uring_reap(struct uring_loop *l)
{
	while (l->reap) {
		struct uring_conn *c = l->reap;
		l->reap = c->next_reap;
		l->base.nconns--;
		if (c->detach_cb) {
			struct rmq_conn_move mv = { .fd = c->base.fd };
			c->detach_cb(&c->base, &mv);
		} else {
			close(c->base.fd);
			c->base.fd = -1;
			if (c->close_cb)
				c->close_cb(&c->base);
		}
		free(c);
	}
}

static int
uring_shutdown(struct rmq_conn *conn)
{
	struct uring_conn *c = (struct uring_conn *)conn;
	if (conn->closing)
		return -EPIPE;
	if (c->sending)
		return -EBUSY;
	return shutdown(conn->fd, SHUT_WR) == 0 ? 0 : -errno;
}

static void
uring_close(struct rmq_conn *conn, rmq_close_cb cb)
{
	struct uring_conn *c = (struct uring_conn *)conn;
	struct uring_loop *l = (struct uring_loop *)conn->loop;
	if (conn->closing)
		return;
	conn->closing = 1;
	c->close_cb = cb;
	c->reading = 0;
	if (c->starved) {
		struct uring_conn **pp = &l->starved;
		while (*pp != c)
			pp = &(*pp)->next_starved;
		*pp = c->next_starved;
		c->starved = 0;
	}
	if (c->inflight > 0 && rmq_loop_lent(conn->loop))
		uring_lent_leave(l, c, URING_LENT_CANCEL);
	else if (c->inflight > 0)
		uring_cancel(l, c);
	else
		uring_conn_finish(l, c);
}

static void
uring_detach(struct rmq_conn *conn, rmq_detach_cb cb)
{
	struct uring_conn *c = (struct uring_conn *)conn;
	if (conn->closing)
		return;
	c->detach_cb = cb;
	uring_close(conn, NULL);
}

/* ---- completions ---- */

static void
uring_recycle(struct uring_loop *l, unsigned bid)
{
	io_uring_buf_ring_add(l->br, l->bufs + (size_t)bid * l->bufsize,
	    l->bufsize, (unsigned short)bid, io_uring_buf_ring_mask(l->nbufs),
	    (int)l->br_added++);
}

static void
uring_on_recv(struct uring_loop *l, struct uring_conn *c,
    struct io_uring_cqe *cqe)
{
	int more = (cqe->flags & IORING_CQE_F_MORE) != 0;
	int res = cqe->res;
	if (!more) {
		c->inflight--;
		c->recv_armed = 0;
	}
	if (res > 0) {
		unsigned bid = cqe->flags >> IORING_CQE_BUFFER_SHIFT;
		if (c->reading && !c->base.closing)
			c->read_cb(&c->base, l->bufs + (size_t)bid * l->bufsize,
			    res);
		uring_recycle(l, bid);
		if (!more && c->reading && !c->base.closing)
			uring_arm_recv(l, c);
	} else if (res == -ENOBUFS) {
		/* Every buffer is lent out: wait for this turn's returns. */
		if (!more && c->reading && !c->base.closing && !c->starved) {
			c->starved = 1;
			c->next_starved = l->starved;
			l->starved = c;
		}
	} else if (c->reading && !c->base.closing) {
		/* 0 is EOF; -ECANCELED only follows our own close. */
		c->reading = 0;
		c->read_cb(&c->base, NULL, res);
	}
	uring_conn_finish(l, c);
}

static void
uring_on_send(struct uring_loop *l, struct uring_conn *c, int res)
{
	c->inflight--;
	if (res >= 0 && !c->base.closing) {
		/* Advance past what was written; send the rest. */
		if (uring_advance(c, (size_t)res)) {
			if (res == 0) {
				res =
				    -EPIPE; /* no progress: the peer is gone */
				goto done;
			}
			uring_arm_send(l, c);
			return;
		}
		res = 0;
	} else if (c->base.closing && res >= 0) {
		res = -ECANCELED;
	}
done:
	c->sending = 0;
	if (c->write_cb)
		c->write_cb(&c->base, res);
	uring_conn_finish(l, c);
}

static void
uring_on_accept(struct uring_loop *l, struct uring_listener *ls,
    struct io_uring_cqe *cqe)
{
	int more = (cqe->flags & IORING_CQE_F_MORE) != 0;
	if (!more)
		ls->inflight--;
	if (cqe->res >= 0) {
		if (ls->closing)
			close(cqe->res);
		else
			ls->cb(&l->base, cqe->res, ls->arg);
	} else if (cqe->res != -ECANCELED && !ls->closing) {
		/* EMFILE, ENFILE, ENOMEM: pause accepting for a while
		 * rather than spin on the error. */
		rmq_log(RMQ_LOG_ERROR, "accept: %s; pausing accepts for 100 ms",
		    strerror(-cqe->res));
		if (more) {
			struct io_uring_sqe *sqe = uring_sqe(l);
			io_uring_prep_cancel_fd(sqe, ls->fd, 0);
			io_uring_sqe_set_data(sqe,
			    uring_tag(ls, URING_OP_LCANCEL));
			ls->inflight++;
		}
		ls->paused = 1;
		ls->resume_ms = l->base.now_ms + 100;
	}
	if (!more && !ls->closing && !ls->paused && ls->inflight == 0)
		uring_arm_accept(l, ls);
	if (ls->closing && ls->inflight == 0 && !ls->closed) {
		close(ls->fd);
		ls->closed = 1;
		l->nlisteners--;
	}
}

static void
uring_close_listeners(struct uring_loop *l)
{
	for (struct uring_listener *ls = l->listeners; ls; ls = ls->next) {
		if (ls->closing)
			continue;
		ls->closing = 1;
		struct io_uring_sqe *sqe = uring_sqe(l);
		io_uring_prep_cancel_fd(sqe, ls->fd, IORING_ASYNC_CANCEL_ALL);
		io_uring_sqe_set_data(sqe, uring_tag(ls, URING_OP_LCANCEL));
		ls->inflight++;
	}
}

static void
uring_dispatch(struct uring_loop *l, struct io_uring_cqe *cqe)
{
	uintptr_t ud = (uintptr_t)io_uring_cqe_get_data(cqe);
	void *p = (void *)(ud & ~(uintptr_t)7);
	switch ((enum uring_op)(ud & 7)) {
	case URING_OP_RECV: uring_on_recv(l, p, cqe); break;
	case URING_OP_SEND: uring_on_send(l, p, cqe->res); break;
	case URING_OP_CANCEL: {
		struct uring_conn *c = p;
		c->inflight--;
		uring_conn_finish(l, c);
		break;
	}
	case URING_OP_ACCEPT: uring_on_accept(l, p, cqe); break;
	case URING_OP_LCANCEL: {
		struct uring_listener *ls = p;
		ls->inflight--;
		if (ls->closing && ls->inflight == 0 && !ls->closed) {
			close(ls->fd);
			ls->closed = 1;
			l->nlisteners--;
		}
		break;
	}
	case URING_OP_WAKE:
		l->wake_inflight--;
		if (!l->base.stop_seen || l->base.nconns || l->nlisteners)
			uring_arm_wake(l);
		break;
	}
}

/* Hand buffers back and re-arm the connections that ran out of them;
 * resume paused listeners. */
static void
uring_end_turn(struct uring_loop *l)
{
	for (struct uring_listener *ls = l->listeners; ls; ls = ls->next) {
		if (ls->paused && !ls->closing && ls->inflight == 0 &&
		    l->base.now_ms >= ls->resume_ms) {
			ls->paused = 0;
			uring_arm_accept(l, ls);
		}
	}
	if (l->br_added) {
		io_uring_buf_ring_advance(l->br, (int)l->br_added);
		l->br_added = 0;
	}
	/* A recv that found the ring empty is re-armed now, whether or not
	 * this turn returned buffers: an ENOBUFS means buffers sat in the
	 * completion queue, and they have been handed back by now (they
	 * are never kept past a read callback). */
	struct uring_conn *c = l->starved;
	l->starved = NULL;
	while (c) {
		struct uring_conn *next = c->next_starved;
		c->starved = 0;
		if (c->reading && !c->base.closing)
			uring_arm_recv(l, c);
		c = next;
	}
}

static int
uring_run(struct rmq_loop *loop)
{
	struct uring_loop *l = (struct uring_loop *)loop;
	if (l->disabled) {
		/* liburing 2.3 declares io_uring_enable_rings but does not
		 * export it: the register call is all it does. */
		int rc = (int)syscall(__NR_io_uring_register, l->ring.ring_fd,
		    IORING_REGISTER_ENABLE_RINGS, NULL, 0);
		if (rc != 0)
			rc = -errno;
		if (rc != 0) {
			rmq_log(RMQ_LOG_ERROR, "io_uring_enable_rings: %s",
			    strerror(-rc));
			return rc;
		}
		l->disabled = 0;
	}
	for (;;) {
		uring_reap(l);
		uint32_t wait_ms = rmq_loop_after_events(loop);
		if (loop->stop_seen)
			uring_close_listeners(l);
		uring_end_turn(l);
		if (l->reap)
			wait_ms = 0; /* finish closes before sleeping */
		if (loop->stop_seen && loop->nconns == 0 && l->nlisteners == 0)
			break;

		struct io_uring_cqe *cqe;
		struct __kernel_timespec ts = {
			.tv_sec = wait_ms / 1000,
			.tv_nsec = (long long)(wait_ms % 1000) * 1000000,
		};
		/* Say we sleep, then look for work queued meanwhile: a
		 * thread that queues after this sees the flag and wakes us;
		 * one that queued before is seen here. */
		atomic_store(&loop->state, RMQ_LOOP_ASLEEP);
		/* A full fence: the checks below must not be ordered before
		 * the store on any CPU (the queue's loads are not seq_cst). */
		atomic_thread_fence(memory_order_seq_cst);
		if ((loop->hooks.pending && loop->hooks.pending(loop)) ||
		    atomic_load(&loop->stop))
			ts.tv_sec = ts.tv_nsec = 0;
		rmq_loop_sleep_begin(loop);
		int rc = io_uring_submit_and_wait_timeout(&l->ring, &cqe, 1,
		    &ts, NULL);
		rmq_loop_sleep_end(loop);
		rmq_loop_reclaim(loop);
		uring_take_back(l);
		rmq_loop_woke(loop);
		if (rc < 0 && rc != -ETIME && rc != -EINTR && rc != -EBUSY) {
			rmq_log(RMQ_LOG_ERROR, "io_uring_submit_and_wait: %s",
			    strerror(-rc));
			return rc;
		}
		unsigned head, n = 0;
		io_uring_for_each_cqe(&l->ring, head, cqe)
		{
			uring_dispatch(l, cqe);
			n++;
		}
		io_uring_cq_advance(&l->ring, n);
		rmq_count(&loop->events, n);
	}
	return 0;
}

const struct rmq_loop_ops rmq_loop_uring_ops = {
	.name = "io_uring",
	.create = uring_create,
	.destroy = uring_destroy,
	.run = uring_run,
	.wake = uring_wake,
	.listen = uring_listen,
	.conn_open = uring_conn_open,
	.read_start = uring_read_start,
	.write = uring_write,
	.shutdown = uring_shutdown,
	.close = uring_close,
	.detach = uring_detach,
	.lent_complete = uring_lent_complete,
	.lent_end = uring_lent_end,
};
