/* broker/auth/guard.h: what the node remembers of source addresses:
 * failed logins, so that guessing passwords from one address gets slower
 * the more it fails, and CONNECTs per second, so that one address cannot
 * flood the node with connections.
 *
 * The node keeps one guard.  A refusal by the authenticator (a wrong
 * password, an unknown user, an anonymous client where none may come)
 * counts against the client's address, the IP without the port (the
 * PROXY protocol's address behind a load balancer); past a few free
 * failures each further refusal from that address is held back before it
 * is sent, twice as long each time up to a bound, and the address is
 * forgotten after a quiet while.  Successful logins do not clear it, so
 * one valid account does not buy an attacker more guesses.  The table is
 * fixed in size (the oldest address gives way), so a flood of addresses
 * costs no memory.
 */
#ifndef RMQ_GUARD_H
#define RMQ_GUARD_H

#include <stdint.h>

#define RMQ_GUARD_SLOTS 4096 /* addresses remembered */
#define RMQ_GUARD_FREE 3 /* failures without delay */
#define RMQ_GUARD_FIRST_MS 250 /* the first delay, doubled each failure */
#define RMQ_GUARD_FORGET_MS (10u * 60u * 1000u) /* quiet time to forget */

struct rmq_guard;

/* A guard whose delays go up to max_ms (0: failures are only counted).
 * NULL when out of memory. */
struct rmq_guard *rmq_guard_new(uint32_t max_ms);
void rmq_guard_free(struct rmq_guard *g);

/* A new bound for the delays (a reload).  Any thread. */
void rmq_guard_set_max(struct rmq_guard *g, uint32_t max_ms);

/* A login from host (an address as text, "203.0.113.7" or "2001:db8::7")
 * failed at now_ms: the time, in milliseconds, to hold its refusal back.
 * Any thread. */
uint32_t
rmq_guard_failed(struct rmq_guard *g, const char *host, uint64_t now_ms);

/* A CONNECT from host at now_ms: 1 when host has already sent
 * per_second CONNECTs in this second of the clock (refuse it: 0x9F
 * Connection rate exceeded), else 0.  per_second 0: no limit.  Any
 * thread. */
int rmq_guard_connect(struct rmq_guard *g, const char *host, uint64_t now_ms,
    uint32_t per_second);

/* Refusals held back so far.  Any thread. */
uint64_t rmq_guard_delayed(const struct rmq_guard *g);

#endif
