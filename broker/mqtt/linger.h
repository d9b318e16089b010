/* broker/mqtt/linger.h: connections the broker is done with, read to
 * their end before they close.
 *
 * Closing a socket whose peer is still sending makes the kernel answer
 * with a reset, and a reset can throw away what was just written to the
 * peer: the DISCONNECT or CONNACK that says why.  So once a session has
 * written its last packet, its connection is shut down (a FIN after that
 * packet; a TLS close_notify or WebSocket close frame before it), what
 * the client still sends is read and discarded, and the connection closes
 * at the client's end of stream or RMQ_LINGER_MS later, whichever is
 * first.  The session does not wait for it: it ends at once, so a client
 * taking over a session never waits on the old connection's linger.
 */
#ifndef RMQ_LINGER_H
#define RMQ_LINGER_H

#include <stdint.h>

struct rmq_conn;
struct rmq_worker;

/* How long a connection lingers at most. */
#define RMQ_LINGER_MS 2000

/* Shut c down and keep it, on its worker w, until it ends; `listener`
 * is the one it came in on, for the connection counts, which go down
 * when it closes.  c's data and read callback are the linger's from then
 * on.  Returns 0, or a negative errno when c could not be shut down (the
 * caller closes it). */
int
rmq_linger_start(struct rmq_worker *w, struct rmq_conn *c, uint8_t listener);

/* From the worker's tick: close the connections whose time is up. */
void rmq_linger_tick(struct rmq_worker *w, uint64_t now);

/* The worker stops: no connection lingers past `deadline`. */
void rmq_linger_stop(struct rmq_worker *w, uint64_t deadline);

#endif
