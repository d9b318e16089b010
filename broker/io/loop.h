/* broker/io/loop.h: the event loop contract every backend fills in.
 *
 * Completion-shaped, like NNG's aio and libuv's streams, because io_uring
 * is: a read lends a loop-owned buffer to a callback, a write keeps its
 * buffers until its callback, a close ends in a callback after which the
 * backend frees the connection.  Two backends implement it, io_uring
 * (loop_uring.c) and libuv (loop_uv.c); rmq_loop_backend() picks one at
 * start by probing the kernel, so a container that refuses io_uring still
 * runs.  Everything here runs on the loop's own thread unless it says
 * "any thread".
 *
 * Lending: while a loop sleeps in its wait, another loop's thread may take
 * it (rmq_loop_borrow), run the owner's work for it, and give it back.
 * The state word makes that exclusive: a waking loop waits for the
 * borrower to finish before it touches its own state.  A borrower never
 * touches the sleeping loop's kernel queues: the backend writes with a
 * plain non-blocking syscall, and whatever needs the loop's own ring (the
 * rest of a short write, a cancel) is left for the owner, woken once the
 * loop is given back.  This takes the wake-up of a sleeping loop off the
 * path of a message handed over at low load.
 */
#ifndef RMQ_LOOP_H
#define RMQ_LOOP_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>

#include "config.h"
#include "counter.h"

struct rmq_loop;
struct rmq_conn;

/* A new connection was accepted on a listening socket: fd is the caller's
 * (hand it to conn_open, or close it). */
typedef void (*rmq_accept_cb)(struct rmq_loop *loop, int fd, void *arg);

/* n > 0: data[0..n) arrived, lent until the callback returns.  n == 0: the
 * peer closed its side.  n < 0: a negative errno.  After n <= 0 no more
 * reads come. */
typedef void (*rmq_read_cb)(struct rmq_conn *c, const uint8_t *data, ssize_t n);

/* A write finished: 0 when every byte was written, else a negative errno
 * (-ECANCELED when the connection was closed first). */
typedef void (*rmq_write_cb)(struct rmq_conn *c, int status);

/* The connection is closed and its callbacks are done: free what hangs off
 * it.  The backend frees the connection itself when this returns. */
typedef void (*rmq_close_cb)(struct rmq_conn *c);

/* What a detached connection takes to the loop that adopts it
 * (rmq_conn_adopt, conn.h): its socket, the state of its layers (NULL for
 * a bare socket), and bytes that arrived and were decoded by a layer but
 * not read yet, to be read after what the caller already holds. */
struct rmq_conn_move {
	int fd;
	void *layers;
	uint8_t *early; /* malloc'd; the callback's to keep or free */
	size_t early_len;
};

/* The connection is detached: *mv is the caller's now (fd, layers and
 * early bytes: rmq_conn_move_drop() lets go of all three). */
typedef void (*rmq_detach_cb)(struct rmq_conn *c, struct rmq_conn_move *mv);

struct rmq_loop_ops {
	const char *name; /* "io_uring" or "libuv" */

	/* Make a loop for worker `id`.  Returns 0 or a negative errno. */
	int (*create)(unsigned id, struct rmq_loop **out);
	/* Free a loop whose run() has returned. */
	void (*destroy)(struct rmq_loop *loop);
	/* Run until rmq_loop_stop() and until every listener and
	 * connection is closed.  Returns 0 or a negative errno. */
	int (*run)(struct rmq_loop *loop);
	/* Make run() return from its wait soon.  Any thread. */
	void (*wake)(struct rmq_loop *loop);

	/* Accept connections on a listening socket; the loop owns fd from
	 * then on and closes it when the loop stops. */
	int (*listen)(struct rmq_loop *loop, int fd, rmq_accept_cb cb,
	    void *arg);
	/* Adopt a connected socket.  On success *out belongs to the loop
	 * until its close callback; on error the fd is still the caller's. */
	int (*conn_open)(struct rmq_loop *loop, int fd, struct rmq_conn **out);
	/* Deliver what arrives to cb, until EOF or an error.  Called again
	 * on a connection that reads, it replaces cb. */
	int (*read_start)(struct rmq_conn *c, rmq_read_cb cb);
	/* Write all of iov[0..n): the buffers and the iovec array itself stay
	 * the caller's to keep valid, and the backend's to advance, until cb
	 * runs.  One write at a time per connection (-EBUSY otherwise);
	 * -EPIPE once closing.  n is at most RMQ_LOOP_IOV_MAX. */
	int (*write)(struct rmq_conn *c, struct iovec *iov, int n,
	    rmq_write_cb cb);
	/* End the writing side (a FIN after the last byte written) and
	 * keep reading: the peer sees the end of what it was sent, and
	 * what it still sends is read, not answered by a reset.  -EBUSY
	 * while a write is pending, -EPIPE once closing. */
	int (*shutdown)(struct rmq_conn *c);
	/* Stop reading and writing (a pending write completes with
	 * -ECANCELED), close the socket, then call cb.  Idempotent. */
	void (*close)(struct rmq_conn *c, rmq_close_cb cb);
	/* As close, but the socket is handed to cb instead of closed: the
	 * fd is the caller's from then on (a connection moving to another
	 * loop; mv->layers and mv->early are NULL).  The backend frees the
	 * connection when cb returns. */
	void (*detach)(struct rmq_conn *c, rmq_detach_cb cb);
	/* Lending, on the borrower's thread; NULL when the backend cannot
	 * lend.  lent_complete runs the callbacks of writes done while lent
	 * (they may ask for more writes) and returns how many ran;
	 * lent_end says whether the owner must wake to finish what was
	 * started (nonzero) before the loop is given back. */
	unsigned (*lent_complete)(struct rmq_loop *loop);
	int (*lent_end)(struct rmq_loop *loop);
	/* The loop's clock in milliseconds, read once per turn into
	 * now_ms; NULL: the monotonic clock (rmq_loop_clock_ms).  A test
	 * backend sets the time it wants. */
	uint64_t (*now)(struct rmq_loop *loop);
};

#define RMQ_LOOP_IOV_MAX 1024

/* Work put off to a later turn (rmq_loop_later): a layer that has spent
 * the turn's budget of costly work queues the rest here, and the loop
 * runs it at the end of the turn, with a fresh budget, before the turn
 * hook, and does not sleep while any waits. */
struct rmq_loop_later {
	struct rmq_loop_later *next, **pprev; /* pprev NULL: not queued */
	void (*run)(struct rmq_loop_later *l);
};

/* Costly work (TLS handshakes) a loop does in one turn before it puts
 * the rest off, so that a storm of new connections cannot stall the
 * established ones for more than about this long per turn. */
#define RMQ_LOOP_TURN_BUDGET_US 2000

/* What the owner of the loop (the broker) is told each turn. */
struct rmq_loop_hooks {
	/* After a batch of completions: flush output, drain queues. */
	void (*turn)(struct rmq_loop *loop);
	/* Every tick_ms milliseconds, before that turn's turn hook (so
	 * what it writes goes out with the turn): keep alive, expiry,
	 * housekeeping. */
	void (*tick)(struct rmq_loop *loop);
	/* Asked to stop: close every connection this loop owns. */
	void (*stopping)(struct rmq_loop *loop);
	/* Whether other threads queued work for the loop (checked before
	 * it sleeps, so that a wake-up can be skipped while it runs). */
	int (*pending)(struct rmq_loop *loop);
};

/* The part of a loop every backend shares; backends embed it first. */
struct rmq_loop {
	const struct rmq_loop_ops *ops;
	struct rmq_loop_hooks hooks;
	void *data; /* the owner's per-loop state */
	unsigned id;
	uint32_t tick_ms;
	uint64_t now_ms; /* monotonic, updated every turn */
	uint64_t next_tick_ms;
	atomic_int stop;
	atomic_int state; /* RMQ_LOOP_RUNNING, _ASLEEP, _LENT, _LENT_WAITED */
	int stop_seen;
	/* Open connections (listeners not counted); read by other loops
	 * to keep new connections balanced (placement.h). */
	_Atomic uint32_t nconns;
	rmq_counter turns; /* read by metrics scrapes */
	rmq_counter events; /* completions handled, likewise */
	/* Clock (rmq_loop_clock_us) when the backend last came back from
	 * waiting for I/O: when what it hands over now had arrived.  Taken
	 * once per wait, not per read. */
	uint64_t wake_us;
	/* Costly work done this turn, microseconds (RMQ_LOOP_TURN_BUDGET_US),
	 * and what was put off to the next turn. */
	uint32_t spent_us;
	struct rmq_loop_later *later;
	rmq_counter deferred; /* rmq_loop_later calls, for metrics */
};

/* A loop's state word.  ASLEEP: about to wait or waiting, so a wake-up
 * must reach it (and a borrower may take it).  LENT: another thread runs
 * its work; the loop waits for the state to leave LENT before it runs. */
enum {
	RMQ_LOOP_RUNNING = 0,
	RMQ_LOOP_ASLEEP = 1,
	RMQ_LOOP_LENT = 2,
	RMQ_LOOP_LENT_WAITED = 3, /* lent, and the owner sleeps until back */
};

struct rmq_conn_layer;

/* The part of a connection every backend shares.  A layer (conn.h) makes
 * one of its own over the backend's: `layer` is NULL for the backend's,
 * and callers go through conn.h's rmq_conn_* calls, which pick. */
struct rmq_conn {
	struct rmq_loop *loop;
	void *data; /* the owner's (the session) */
	const struct rmq_conn_layer *layer;
	int fd;
	uint8_t closing;
};

/* ---- generic helpers (loop.c) ---- */

/* Pick the backend: `want` forces one (-ENOTSUP if it was not built or the
 * kernel refuses it); AUTO probes io_uring and falls back to libuv.  Writes
 * the reason for the choice into why[0..len). */
int rmq_loop_backend(enum rmq_loop_kind want, const struct rmq_loop_ops **ops,
    char *why, size_t len);

extern const struct rmq_loop_ops rmq_loop_uring_ops;
extern const struct rmq_loop_ops rmq_loop_uv_ops;

/* Probe io_uring for what loop_uring.c needs: 0 when usable, else a
 * negative errno and a reason. */
int rmq_loop_uring_probe(char *why, size_t len);

/* Run the loop on the calling thread until it stops: registers the thread
 * with RCU (QSBR: the index is read without locks) and calls ops->run. */
int rmq_loop_run(struct rmq_loop *loop);

/* Ask the loop to stop.  Any thread. */
void rmq_loop_stop(struct rmq_loop *loop);

/* Take a sleeping loop to run its owner's work on the calling loop's
 * thread (`by`, a loop thread registered with RCU).  Returns 1 when taken,
 * 0 when the loop runs, is lent already, or its backend cannot lend.  Any
 * loop thread. */
int rmq_loop_borrow(struct rmq_loop *loop, const struct rmq_loop *by);

/* Give a borrowed loop back; wakes it when the borrower left it work (the
 * backend's, or `owed`: the owner's own, such as batches for other loops)
 * or other threads queued some meanwhile. */
void rmq_loop_give_back(struct rmq_loop *loop, int owed);

/* Whether a borrower runs the loop's work now: the backend's I/O must not
 * touch the loop's own kernel queues then.  The thread running the loop's
 * work (owner or borrower). */
static inline int
rmq_loop_lent(struct rmq_loop *loop)
{
	return atomic_load_explicit(&loop->state, memory_order_relaxed) >=
	    RMQ_LOOP_LENT;
}

/* For backends: the loop has come back from its wait; returns once the
 * loop is its own again (a borrower may still be running its work). */
void rmq_loop_reclaim(struct rmq_loop *loop);

/* Run l->run(l) at the end of this turn (a fresh budget), unless it is
 * queued already.  The loop's thread. */
void rmq_loop_later(struct rmq_loop *loop, struct rmq_loop_later *l,
    void (*run)(struct rmq_loop_later *l));

/* Take l off the queue if it is on it (its owner is going away). */
void rmq_loop_later_cancel(struct rmq_loop_later *l);

/* Whether the turn's budget of costly work is spent. */
static inline int
rmq_loop_over_budget(const struct rmq_loop *loop)
{
	return loop->spent_us >= RMQ_LOOP_TURN_BUDGET_US;
}

/* Monotonic milliseconds. */
uint64_t rmq_loop_clock_ms(void);

/* The same clock in microseconds. */
uint64_t rmq_loop_clock_us(void);

/* For backends: called once per turn after completions are handled; runs
 * the stop sequence, the tick when due, then the turn hook.  Returns the
 * milliseconds the backend may wait before the next turn. */
uint32_t rmq_loop_after_events(struct rmq_loop *loop);

/* For backends: the wait for I/O has returned; what it brings is handed
 * over now.  Sets wake_us, and now_ms, so that what the completions
 * compute (a new connection's deadline) starts from the time they
 * arrived, not from before the wait. */
void rmq_loop_woke(struct rmq_loop *loop);

/* For backends: the loop thread is about to block, or has woken.  Keeps
 * the thread's RCU read side quiescent while it sleeps. */
void rmq_loop_sleep_begin(struct rmq_loop *loop);
void rmq_loop_sleep_end(struct rmq_loop *loop);

#endif
