/* test/support/rmq_fake_loop.h: a loop backend for unit tests, with no
 * sockets and no threads.
 *
 * It fills struct rmq_loop_ops (broker/io/loop.h) so that a broker built
 * with rmq_broker_init_on() runs its workers on it, and gives the test the
 * other end of every connection: bytes the test sends are read by the
 * session, bytes the session writes are kept for the test to check.  The
 * test runs the loops' turns itself (rmq_fake_settle), on its own thread,
 * and sets the clock (rmq_fake_advance), so keep alive and expiry happen
 * when the test says.  Each connection holds a real file descriptor (an
 * eventfd) only so that the broker's close() and setsockopt() calls have
 * something to act on.
 *
 * Completions come in the turn after the call, as with a real backend: a
 * write's bytes appear, and its callback runs, at the next turn; a close
 * ends (callback, descriptor closed, memory freed) at the next turn.
 */
#ifndef RMQ_FAKE_LOOP_H
#define RMQ_FAKE_LOOP_H

#include <stddef.h>
#include <stdint.h>

#include "loop.h"

extern const struct rmq_loop_ops rmq_fake_loop_ops;

/* The test's end of one connection.  It outlives the broker's side: after
 * the broker closes, `closed` is set and `out` keeps what was written. */
struct rmq_fake_client {
	int fd;
	struct rmq_fake_conn *conn; /* the broker's side, NULL when none */
	uint8_t *in; /* sent by the test, not read by the broker yet */
	size_t in_len, in_cap;
	uint8_t *out; /* written by the broker, not taken by the test */
	size_t out_len, out_cap;
	size_t read_max; /* at most this much per read; 0: all there is */
	int peer_closed; /* the test closed its side: EOF after `in` */
	int shut; /* the broker ended its side (shutdown: a FIN) */
	int closed; /* the broker closed the connection */
	int stalled; /* writes do not complete (a client that reads nothing) */
	struct rmq_fake_client *next;
};

/* The fake clock, in milliseconds; starts at 1,000,000. */
uint64_t rmq_fake_now(void);
void rmq_fake_advance(uint64_t ms);

/* A new connection on `loop`, handed to cb as an accepted descriptor (a
 * worker's rmq_worker_accept).  The client is the test's until
 * rmq_fake_reset. */
struct rmq_fake_client *
rmq_fake_connect(struct rmq_loop *loop, rmq_accept_cb cb, void *arg);

/* Bytes from the client, read at the next turn of the connection's loop. */
void rmq_fake_send(struct rmq_fake_client *c, const void *bytes, size_t n);

/* The client closes its side: the broker reads EOF after what was sent. */
void rmq_fake_hangup(struct rmq_fake_client *c);

/* Every client whose connection the broker shut down hangs up, as a
 * client that reads the end of stream does.  Returns how many did. */
unsigned rmq_fake_hangup_shut(void);

/* Take n bytes the broker wrote (fewer when fewer are there): copied to
 * buf when buf is not NULL.  Returns how many were taken. */
size_t rmq_fake_take(struct rmq_fake_client *c, void *buf, size_t n);

/* Stop or resume completing the client's writes. */
void rmq_fake_stall(struct rmq_fake_client *c, int stalled);

/* One turn of `loop`: what completed (closes, writes, reads) goes to its
 * callbacks, then the loop's turn hook (and tick, when due) runs.
 * Returns how many completions there were. */
unsigned rmq_fake_turn(struct rmq_loop *loop);

/* Turns of every fake loop until none has anything to do (no completion,
 * no wake-up, no work queued by another loop).  Returns the number of
 * turns run, or 0 when the loops were still busy after 10,000 (a livelock
 * the test should report). */
unsigned rmq_fake_settle(void);

/* Connections the backend holds now (opened and not yet freed). */
unsigned rmq_fake_live_conns(void);

/* Free every client; the loops must be gone (after rmq_broker_fini). */
void rmq_fake_reset(void);

#endif
