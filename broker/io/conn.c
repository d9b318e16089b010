/* broker/io/conn.c: building a connection's stack of layers (conn.h) when a
 * listener accepts it or a loop adopts it after a move.
 */
#include "conn.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include "proxy.h"
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
	if (t->proxy && (rc = rmq_proxy_wrap(t->proxy, c, out)) != 0) {
		c->data = NULL;
		c->loop->ops->close(c, NULL); /* closes fd */
		return rc;
	}
	struct rmq_conn *below = *out;
	if (t->tls && (rc = rmq_tls_wrap(t->tls, below, out)) != 0) {
		if (below == c)
			c->data = NULL;
		rmq_conn_close(below, NULL); /* and the layers below it */
		return rc;
	}
	below = *out;
	if (t->ws && (rc = rmq_ws_wrap(t->ws, below, out)) != 0) {
		if (below == c)
			c->data = NULL;
		rmq_conn_close(below, NULL); /* and the layers below it */
		return rc;
	}
	return 0;
}

int
rmq_conn_below_adopt(void **below_layers, struct rmq_conn *below,
    struct rmq_conn **on)
{
	*on = below;
	if (*below_layers == NULL)
		return 0;
	const struct rmq_conn_layer *layer =
	    *(const struct rmq_conn_layer **)*below_layers;
	int rc = layer->adopt(*below_layers, below, on);
	if (rc == 0)
		*below_layers = NULL;
	return rc;
}

void
rmq_conn_below_drop(void **below_layers)
{
	if (*below_layers) {
		const struct rmq_conn_layer *layer =
		    *(const struct rmq_conn_layer **)*below_layers;
		layer->drop(*below_layers);
		*below_layers = NULL;
	}
}

int
rmq_conn_adopt(struct rmq_loop *loop, struct rmq_conn_move *mv,
    struct rmq_conn **out)
{
	struct rmq_conn *c;
	int rc = loop->ops->conn_open(loop, mv->fd, &c);
	if (rc != 0)
		return rc;
	mv->fd = -1; /* the backend's connection has it now */
	rc = rmq_conn_below_adopt(&mv->layers, c, out);
	if (rc != 0) {
		c->data = NULL;
		c->loop->ops->close(c, NULL); /* closes the fd */
	}
	return rc;
}

void
rmq_conn_move_drop(struct rmq_conn_move *mv)
{
	if (mv->fd >= 0)
		close(mv->fd);
	mv->fd = -1;
	rmq_conn_below_drop(&mv->layers);
	free(mv->early);
	mv->early = NULL;
	mv->early_len = 0;
}

int
rmq_conn_addr_text(const struct sockaddr *sa, char *buf, size_t len)
{
	char host[INET6_ADDRSTRLEN];
	unsigned port;
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *in = (const void *)sa;
		inet_ntop(AF_INET, &in->sin_addr, host, sizeof(host));
		port = ntohs(in->sin_port);
	} else if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const void *)sa;
		inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof(host));
		port = ntohs(in6->sin6_port);
	} else {
		return -ENOENT;
	}
	int n = snprintf(buf, len,
	    sa->sa_family == AF_INET6 ? "[%s]:%u" : "%s:%u", host, port);
	return n < 0 || (size_t)n >= len ? -ENOSPC : 0;
}

int
rmq_conn_peer(struct rmq_conn *c, enum rmq_conn_peer what, char *buf,
    size_t len)
{
	if (c->layer && c->layer->peer)
		return c->layer->peer(c, what, buf, len);
	if (c->layer || what != RMQ_PEER_ADDR)
		return -ENOENT;
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	if (getpeername(c->fd, (struct sockaddr *)&ss, &sl) != 0)
		return -ENOENT;
	return rmq_conn_addr_text((const struct sockaddr *)&ss, buf, len);
}
