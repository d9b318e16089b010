/* broker/mqtt/cluster.c: the broker's side of the seam to cluster/
 * (../cluster.h): the hooks the cluster installs, and a message a peer
 * forwarded, which enters the worker's inbox and reaches local sessions
 * only.  Routing itself, which calls the forward hook once per node, is in
 * publish.c.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "cluster.h"
#include "log.h"
#include "worker_impl.h"

void
rmq_cluster_log(int level, const char *fmt, ...)
{
	if (!rmq_log_on(level))
		return;
	char line[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	rmq_log_write(level, "cluster: %s", line);
}

struct rmq_index *
rmq_cluster_index(struct rmq_broker *b)
{
	return b->index;
}

void
rmq_cluster_attach(struct rmq_broker *b, const struct rmq_cluster_hooks *h)
{
	b->cluster = h;
}

int
rmq_cluster_publish(struct rmq_broker *b, unsigned worker, struct rmq_msg *m)
{
	struct rmq_inbox_msg *im = calloc(1, sizeof(*im));
	if (im == NULL) {
		rmq_msg_rele(m);
		return -ENOMEM;
	}
	m->from_peer = 1;
	im->kind = RMQ_INBOX_ROUTE;
	im->route = m;
	rmq_worker_post(b->workers[worker % b->nworkers], im);
	return 0;
}
