/* broker/mqtt/cluster_conn.c: the cluster's connections on the worker
 * loops (../cluster.h), and its work run there.
 *
 * A link between two nodes is read and written by the worker that routes
 * what it carries, so a forwarded message crosses no thread of its own:
 * the broker lends the cluster its loop (a bare connection, no layers) and
 * closes what is left of them when the worker stops, as it closes its
 * sessions.
 */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include "cluster.h"
#include "conn.h"
#include "loop.h"
#include "worker_impl.h"

struct rmq_cluster_conn {
	struct rmq_cluster_conn *next, **pprev;
	struct rmq_conn *c;
	struct rmq_worker *w;
	const struct rmq_cluster_conn_ops *ops;
	void *arg;
};

int
rmq_cluster_run_on(struct rmq_broker *b, unsigned worker,
    void (*fn)(void *arg, int run), void *arg)
{
	struct rmq_inbox_msg *m = calloc(1, sizeof(*m));
	if (m == NULL)
		return -ENOMEM;
	m->kind = RMQ_INBOX_RUN;
	m->run.fn = fn;
	m->run.arg = arg;
	rmq_worker_post(b->workers[worker % b->nworkers], m);
	return 0;
}

static void
cconn_read(struct rmq_conn *c, const uint8_t *p, ssize_t n)
{
	struct rmq_cluster_conn *cc = c->data;
	if (cc != NULL)
		cc->ops->read(cc->arg, p, n);
}

static void
cconn_wrote(struct rmq_conn *c, int status)
{
	struct rmq_cluster_conn *cc = c->data;
	if (cc != NULL)
		cc->ops->wrote(cc->arg, status);
}

static void
cconn_closed(struct rmq_conn *c)
{
	struct rmq_cluster_conn *cc = c->data;
	if (cc == NULL)
		return;
	if ((*cc->pprev = cc->next) != NULL)
		cc->next->pprev = cc->pprev;
	cc->ops->closed(cc->arg);
	free(cc);
}

int
rmq_cluster_conn_open(struct rmq_broker *b, unsigned worker, int fd,
    const struct rmq_cluster_conn_ops *ops, void *arg,
    struct rmq_cluster_conn **out)
{
	struct rmq_worker *w = b->workers[worker % b->nworkers];
	struct rmq_cluster_conn *cc = calloc(1, sizeof(*cc));
	if (cc == NULL) {
		close(fd);
		return -ENOMEM;
	}
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	int rc = rmq_conn_open(w->loop, fd, NULL, &cc->c);
	if (rc != 0) {
		free(cc);
		return rc;
	}
	cc->w = w;
	cc->ops = ops;
	cc->arg = arg;
	cc->c->data = cc;
	if ((cc->next = w->cconns) != NULL)
		cc->next->pprev = &cc->next;
	cc->pprev = &w->cconns;
	w->cconns = cc;
	if ((rc = rmq_conn_read_start(cc->c, cconn_read)) != 0) {
		/* Closed (its socket with it) without a word to the caller,
		 * who is told the error. */
		if ((*cc->pprev = cc->next) != NULL)
			cc->next->pprev = cc->pprev;
		cc->c->data = NULL;
		rmq_conn_close(cc->c, NULL);
		free(cc);
		return rc;
	}
	*out = cc;
	return 0;
}

int
rmq_cluster_conn_write(struct rmq_cluster_conn *cc, struct iovec *iov, int n)
{
	return rmq_conn_write(cc->c, iov, n, cconn_wrote);
}

void
rmq_cluster_conn_close(struct rmq_cluster_conn *cc)
{
	rmq_conn_close(cc->c, cconn_closed);
}

void
rmq_cluster_conns_close(struct rmq_worker *w)
{
	struct rmq_cluster_conn *cc = w->cconns, *next;
	for (; cc != NULL; cc = next) {
		next = cc->next; /* the close may end it at once */
		rmq_conn_close(cc->c, cconn_closed);
	}
}
