/* broker/io/conn.h: a connection as the session sees it, a stack of layers
 * over the backend's socket connection.
 *
 * A listener's transport (the PROXY protocol, TLS, WebSocket, or
 * several, in that order from the socket up) wraps each connection it accepts in layers that keep loop.h's
 * contract: a layer's connection reads, writes, shuts down, closes and detaches as a
 * backend's does, and hands MQTT bytes up.  The session calls the
 * rmq_conn_* functions below and never learns which layers sit under it,
 * so no layer appears as a branch in the worker or the session.  A bare
 * connection (no layer) costs one pointer test per call.
 *
 * A connection that moves to another loop (a client whose session lives
 * there) is detached with the state of its layers and adopted there, so a
 * TLS session keeps its keys across the move.
 */
#ifndef RMQ_CONN_H
#define RMQ_CONN_H

#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "loop.h"

/* What is known of the peer: what it proved about itself (a TLS client
 * certificate), and where it is. */
enum rmq_conn_peer {
	RMQ_PEER_CN, /* the subject's Common Name */
	RMQ_PEER_SUBJECT, /* the whole subject, RFC 2253 */
	/* The client's address, ADDRESS:PORT ([ADDRESS]:PORT for IPv6): the
	 * socket's peer, or what a PROXY protocol header said. */
	RMQ_PEER_ADDR,
};

/* A layer's calls: loop.h's per-connection ops, with the same contract,
 * plus what the layer alone knows. */
struct rmq_conn_layer {
	const char *name; /* "tls", "websocket" */
	int (*read_start)(struct rmq_conn *c, rmq_read_cb cb);
	int (*write)(struct rmq_conn *c, struct iovec *iov, int n,
	    rmq_write_cb cb);
	/* The layer's own end of stream (a TLS close_notify, a WebSocket
	 * close frame) goes out first, then the shutdown below. */
	int (*shutdown)(struct rmq_conn *c);
	void (*close)(struct rmq_conn *c, rmq_close_cb cb);
	void (*detach)(struct rmq_conn *c, rmq_detach_cb cb);
	/* What the peer proved, into buf[0..len) with a NUL; -ENOENT when
	 * it proved nothing, -ENOSPC when buf is too small. */
	int (*peer)(struct rmq_conn *c, enum rmq_conn_peer what, char *buf,
	    size_t len);
	/* Carried state (rmq_conn_move.layers, which starts with a pointer
	 * to this struct): rebuild the connection over `below`, a backend
	 * connection on the adopting loop, or let the state go. */
	int (*adopt)(void *layers, struct rmq_conn *below,
	    struct rmq_conn **out);
	void (*drop)(void *layers);
};

/* The layers a listener puts over its connections; NULL members are
 * layers it does not use. */
struct rmq_proxy;
struct rmq_tls;
struct rmq_ws;
struct rmq_transport {
	struct rmq_proxy *proxy; /* next to the socket */
	struct rmq_tls *tls; /* over PROXY when both are used */
	struct rmq_ws *ws; /* over TLS when both are used */
};

static inline int
rmq_conn_read_start(struct rmq_conn *c, rmq_read_cb cb)
{
	return c->layer ? c->layer->read_start(c, cb)
			: c->loop->ops->read_start(c, cb);
}

static inline int
rmq_conn_write(struct rmq_conn *c, struct iovec *iov, int n, rmq_write_cb cb)
{
	return c->layer ? c->layer->write(c, iov, n, cb)
			: c->loop->ops->write(c, iov, n, cb);
}

/* End the stream once what was written is out, and keep reading (see
 * loop.h): the session calls it when it has said its last word. */
static inline int
rmq_conn_shutdown(struct rmq_conn *c)
{
	return c->layer ? c->layer->shutdown(c) : c->loop->ops->shutdown(c);
}

static inline void
rmq_conn_close(struct rmq_conn *c, rmq_close_cb cb)
{
	if (c->layer)
		c->layer->close(c, cb);
	else
		c->loop->ops->close(c, cb);
}

static inline void
rmq_conn_detach(struct rmq_conn *c, rmq_detach_cb cb)
{
	if (c->layer)
		c->layer->detach(c, cb);
	else
		c->loop->ops->detach(c, cb);
}

/* Adopt accepted socket fd on `loop` with the layers of transport t (NULL:
 * none).  On success *out belongs to the loop until its close callback;
 * the fd is taken either way (closed on error).  Returns 0 or a negative
 * errno. */
int rmq_conn_open(struct rmq_loop *loop, int fd, const struct rmq_transport *t,
    struct rmq_conn **out);

/* Adopt a detached connection on `loop`: its socket and the state of its
 * layers, which *mv no longer holds on success (mv->early stays the
 * caller's).  The caller drops *mv after, whatever the result.  Returns 0
 * or a negative errno. */
int rmq_conn_adopt(struct rmq_loop *loop, struct rmq_conn_move *mv,
    struct rmq_conn **out);

/* Let go of a detached connection: close its socket, free its layers'
 * state and its early bytes. */
void rmq_conn_move_drop(struct rmq_conn_move *mv);

/* What is known of the peer (enum rmq_conn_peer) into buf, NUL
 * terminated; -ENOENT when nothing (no TLS, or no client certificate;
 * an address the socket no longer has), -ENOSPC when buf is too small. */
int rmq_conn_peer(struct rmq_conn *c, enum rmq_conn_peer what, char *buf,
    size_t len);

/* For a layer's wrap and adopt: the connection `up` it gives the layer
 * above, set over connection `on` below it, whose callbacks find the
 * layer's state `st`. */
static inline void
rmq_conn_over(struct rmq_conn *up, struct rmq_conn *on, void *st)
{
	on->data = st;
	up->loop = on->loop;
	up->fd = on->fd;
	up->data = NULL;
	up->closing = 0;
}

/* For a layer's adopt and drop after a move: the layers below it that
 * travelled with it (*below_layers; NULL when it sits on the socket),
 * rebuilt over backend connection `below` (*on: what the layer sits on
 * then, `below` itself when there are none), or let go.  On error
 * *below_layers is kept, for the drop that follows. */
int rmq_conn_below_adopt(void **below_layers, struct rmq_conn *below,
    struct rmq_conn **on);
void rmq_conn_below_drop(void **below_layers);

/* A socket address as RMQ_PEER_ADDR writes it.  0, -ENOENT (not IPv4
 * or IPv6) or -ENOSPC. */
struct sockaddr;
int rmq_conn_addr_text(const struct sockaddr *sa, char *buf, size_t len);

#endif
