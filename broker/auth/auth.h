/* broker/auth/auth.h: the contract between CONNECT handling and whatever
 * decides who gets in: a password file, a client certificate's identity,
 * SCRAM through AUTH.  CONNECT handling (broker/mqtt/connect.c) asks the
 * node's authenticator once per connection, after the packet's own checks
 * and before the client identifier is claimed, so a refused client never
 * takes over anyone's session.
 *
 * A method answers at once, or later: one that must wait (a file being
 * reloaded, a service asked over the network) says RMQ_AUTH_LATER and
 * calls the request's done() when it knows, from any thread.  The session
 * waits meanwhile, reading nothing but keeping what arrives, so a slow
 * method never blocks the loop.  Without an authenticator every client is
 * let in, as today.
 */
#ifndef RMQ_AUTH_H
#define RMQ_AUTH_H

#include <stdint.h>

#include "props.h"

enum rmq_auth_verdict {
	RMQ_AUTH_ALLOW = 0,
	RMQ_AUTH_DENY, /* with a 5.0 reason code: 0x86, 0x87, 0x8C... */
	RMQ_AUTH_LATER, /* done() brings the verdict */
};

/* Who asks.  The strings are the CONNECT's and live only during the
 * call; a method that answers later copies what it needs. */
struct rmq_auth_request {
	uint8_t version; /* RMQ_V31, RMQ_V311 or RMQ_V5 */
	uint8_t listener; /* the listener the connection came in on */
	uint8_t has_username, has_password;
	struct rmq_str client_id; /* empty when the server assigns one */
	struct rmq_str username, password;
	/* For a method that answers later: call done(done_arg, verdict,
	 * reason) exactly once, from any thread.  It takes ownership of
	 * done_arg. */
	void (*done)(void *done_arg, enum rmq_auth_verdict v, uint8_t reason);
	void *done_arg;
};

struct rmq_authenticator {
	void *ctx;
	/* Called on the worker's thread; must not block.  Returns ALLOW,
	 * DENY with *reason set (a 5.0 reason code; a 3.x client hears the
	 * return code it maps to), or LATER.  On ALLOW and DENY, done() is
	 * not called. */
	enum rmq_auth_verdict (*connect)(void *ctx,
	    const struct rmq_auth_request *rq, uint8_t *reason);
};

#endif
