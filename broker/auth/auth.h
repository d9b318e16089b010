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

#include <stddef.h>
#include <stdint.h>

#include "props.h"

enum rmq_auth_verdict {
	RMQ_AUTH_ALLOW = 0,
	RMQ_AUTH_DENY, /* with a 5.0 reason code: 0x86, 0x87, 0x8C... */
	RMQ_AUTH_LATER, /* done() brings the verdict */
	RMQ_AUTH_CONTINUE, /* enhanced authentication: data for the client */
};

/* Who asks.  The strings are the CONNECT's and live only during the
 * call; a method that answers later copies what it needs. */
struct rmq_auth_request {
	uint8_t version; /* RMQ_V31, RMQ_V311 or RMQ_V5 */
	uint8_t listener; /* the listener the connection came in on */
	uint8_t has_username, has_password;
	/* The user name is the client certificate's (the listener's
	 * use_identity_as_username or use_subject_as_username): the TLS
	 * handshake proved it, so no password is asked for. */
	uint8_t certified;
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

	/* MQTT 5.0 enhanced authentication (section 4.12), at CONNECT and
	 * again later (re-authentication): the method offered, NULL when
	 * none.  start() takes the Authentication Data of the CONNECT (or
	 * of an AUTH 0x19), step() that of each AUTH 0x18 after; each
	 * answers at once, on the worker's thread: CONTINUE with data to
	 * send back in an AUTH 0x18, ALLOW with data for the CONNACK (or
	 * the AUTH 0x00), DENY with *reason.  *out stays valid until the
	 * next call on the exchange.  user() says whom the exchange proved;
	 * end() lets the exchange go, whatever came of it. */
	const char *method;
	enum rmq_auth_verdict (*start)(void *ctx,
	    const struct rmq_auth_request *rq, const uint8_t *data, size_t n,
	    void **exchange, const uint8_t **out, size_t *outlen,
	    uint8_t *reason);
	enum rmq_auth_verdict (*step)(void *ctx, void *exchange,
	    const uint8_t *data, size_t n, const uint8_t **out, size_t *outlen,
	    uint8_t *reason);
	const char *(*user)(void *exchange, size_t *len);
	void (*end)(void *exchange);
};

/* What a client may do with a topic, as an ACL says it. */
enum rmq_access {
	RMQ_ACCESS_READ = 1, /* receive a message published to the topic */
	RMQ_ACCESS_WRITE = 2, /* publish to it (a will too) */
	RMQ_ACCESS_SUBSCRIBE = 4, /* subscribe to the filter */
};

/* The contract between the message path and whatever decides what a
 * client may do (the ACL file).  The message path asks on SUBSCRIBE, on
 * PUBLISH, on each delivery (retained messages and wills included) and
 * caches answers per session; a NULL authorizer lets everything pass. */
struct rmq_authorizer {
	void *ctx;
	/* 1 allowed, 0 refused.  user NULL: an anonymous client.  On a
	 * loop thread (an RCU reader); must not block. */
	int (*check)(void *ctx, const char *user, size_t ulen,
	    const char *client_id, size_t clen, const char *topic, size_t tlen,
	    enum rmq_access access);
	/* Moves on at each reload: answers cached before are stale. */
	uint64_t (*generation)(void *ctx);
};

#endif
