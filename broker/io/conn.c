/* broker/io/conn.c: building a connection's stack of layers (conn.h) when a
 * listener accepts it or a loop adopts it after a move.
 */
#include "conn.h"

#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

#include "tls.h"
#include "ws.h"

int
rmq_conn_open(struct rmq_loop *loop, int fd, const struct rmq_transport *t,
    struct rmq_conn **out)
{
	struct rmq_conn *c;
	int rc = loop->ops->conn_open(loop, fd, &c);
	if (rc != 0) {
		close(fd);
		return rc;
	}
	*out = c;
	if (t == NULL)
		return 0;
	if (t->tls && (rc = rmq_tls_wrap(t->tls, c, out)) != 0) {
		c->data = NULL;
		c->loop->ops->close(c, NULL); /* closes fd */
		return rc;
	}
	struct rmq_conn *below = *out;
	if (t->ws && (rc = rmq_ws_wrap(t->ws, below, out)) != 0) {
		if (below == c)
			c->data = NULL;
		rmq_conn_close(below, NULL); /* and the layers below it */
		return rc;
	}
	return 0;
}

int
rmq_conn_adopt(struct rmq_loop *loop, struct rmq_conn_move *mv,
    struct rmq_conn **out)
{
	struct rmq_conn *c;
	int rc = loop->ops->conn_open(loop, mv->fd, &c);
	if (rc != 0)
		return rc;
	if (mv->layers == NULL) {
		mv->fd = -1;
		*out = c;
		return 0;
	}
	const struct rmq_conn_layer *layer =
	    *(const struct rmq_conn_layer **)mv->layers;
	rc = layer->adopt(mv->layers, c, out);
	if (rc != 0) {
		c->data = NULL;
		c->loop->ops->close(c, NULL); /* closes the fd */
		mv->fd = -1;
		return rc;
	}
	mv->layers = NULL;
	mv->fd = -1;
	return 0;
}

void
rmq_conn_move_drop(struct rmq_conn_move *mv)
{
	if (mv->fd >= 0)
		close(mv->fd);
	mv->fd = -1;
	if (mv->layers) {
		const struct rmq_conn_layer *layer =
		    *(const struct rmq_conn_layer **)mv->layers;
		layer->drop(mv->layers);
		mv->layers = NULL;
	}
	free(mv->early);
	mv->early = NULL;
	mv->early_len = 0;
}

int
rmq_conn_peer(struct rmq_conn *c, enum rmq_conn_peer what, char *buf,
    size_t len)
{
	if (c->layer == NULL || c->layer->peer == NULL)
		return -ENOENT;
	return c->layer->peer(c, what, buf, len);
}
