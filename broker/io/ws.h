/* broker/io/ws.h: MQTT over WebSocket (RFC 6455) as a layer of a
 * connection (conn.h), for browsers and the clients that follow them.
 *
 * The layer answers the HTTP upgrade itself (a bounded request, checked
 * as RFC 6455 section 4.2 asks, subprotocol "mqtt"), then hands the
 * payload of binary frames up as one byte stream: an MQTT packet may span
 * frames and a frame may hold several packets (MQTT 5.0 section 6.0).
 * Framing, masking, ping, pong and close are libwslay's.  It sits on the
 * backend's connection, or on TLS's for secure WebSocket, and reads and
 * writes through conn.h so it never learns which.  One struct rmq_ws per
 * WebSocket listener holds its settings and counts.
 */
#ifndef RMQ_WS_H
#define RMQ_WS_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "loop.h"

struct rmq_ws;

/* A listener's WebSocket from its settings; `name` (ADDRESS:PORT) goes
 * into messages.  Returns 0 or -ENOMEM. */
int rmq_ws_new(const struct rmq_ws_conf *conf, const char *name,
    struct rmq_ws **out);

/* After every connection that used it is gone. */
void rmq_ws_free(struct rmq_ws *w);

/* Put WebSocket over connection `below` (a backend's, or a layer's):
 * *out is what the session holds.  Returns 0 or -ENOMEM. */
int
rmq_ws_wrap(struct rmq_ws *w, struct rmq_conn *below, struct rmq_conn **out);

/* The connection the session holds over `below` (one rmq_ws_wrap made or
 * adopted): for tests and debuggers. */
struct rmq_conn *rmq_ws_upper(struct rmq_conn *below);

/* Whether the connection the session holds (one rmq_ws_wrap made) keeps
 * wslay's context now: only while a frame, a message or a write is under
 * way.  For tests and debuggers. */
int rmq_ws_holds_framer(struct rmq_conn *c);

/* Counts for /metrics.  Any thread. */
struct rmq_ws_stats {
	uint64_t upgrades; /* requests answered 101 */
	uint64_t refused; /* requests answered with an HTTP error */
	uint64_t
	    protocol_errors; /* frames that broke RFC 6455 or MQTT's rules */
};
void rmq_ws_stats(const struct rmq_ws *w, struct rmq_ws_stats *out);

#endif
