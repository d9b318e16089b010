/* cluster/sock.h: the chores of the cluster's NNG sockets: the bus
 * socket's options, listening at HOST:PORT, and closing within a bounded
 * time.
 *
 * NNG 1.5.2's nng_close() was seen to wait forever now and then (1 stop
 * in 10 on a bus socket with peers still up, the process idle in it), and
 * a node that is stopping must exit within its grace period.  Each close
 * runs on a thread of its own, all at once (a push socket whose peer is
 * gone was seen to take up to its redial interval, a second, to close);
 * after wait_ms the caller goes on without them (logged), and whichever
 * ends last frees what they share.
 */
#ifndef RMQ_CLUSTER_SOCK_H
#define RMQ_CLUSTER_SOCK_H

#include <stddef.h>
#include <stdint.h>

#include <nng/nng.h>
#include <nng/supplemental/tls/tls.h>

#define RMQ_NNG_URL_MAX 300 /* a URL the cluster dials, at most */

/* TLS between nodes: the two NNG configurations (a listener's, a
 * dialer's) made from the node's certificate, key and CA, each side
 * requiring the other's certificate; and the name a dialled node's
 * certificate must have, when given. */
struct rmq_nng_tls {
	nng_tls_config *server, *client;
};

/* From the three files (PEM) and the peer name ("" for none).  NULL in
 * *out when no file is given; -1 with the reason in err when some are
 * and not all, or one cannot be read or used. */
int rmq_nng_tls_new(const char *cert, const char *key, const char *ca,
    const char *peer_name, struct rmq_nng_tls **out, char *err, size_t errlen);
void rmq_nng_tls_free(struct rmq_nng_tls *t);

/* The scheme of the cluster's URLs: "tls+tcp" with TLS, else "tcp". */
const char *rmq_nng_scheme(const struct rmq_nng_tls *t);

/* The messages NNG holds for a bus socket's reader (its default is 1).
 *
 * NNG 1.5.2's bus keeps what pipes receive in the socket's message queue.
 * When a pipe closes while its receive callback is between starting its
 * put and scheduling it, and the queue has room but writers already wait
 * on it, the put is left on the queue's list of writers without a cancel
 * callback; the pipe is then freed, and the reader's next receive
 * completes the freed put.  A node was seen to abort on it once, in NNG's
 * "pthread_mutex_lock: Invalid argument", just after joining its peers.
 * Writers wait only on a full queue: with room for this many messages
 * they wait only while the bus thread is that far behind (the receive
 * callbacks otherwise hold one message per pipe).  At most this many
 * messages of at most RMQ_ROUTES_PART_MAX are held, 64 MiB, and only
 * while the thread is held up (a snapshot being installed). */
#define RMQ_NNG_BUS_RECVBUF 256

/* A bus socket for the nodes' hellos, deltas and snapshot parts: its
 * receive queue RMQ_NNG_BUS_RECVBUF, messages up to recv_max bytes, and
 * redials after 100 ms, backing off to 1 s.  0, or NNG's error. */
int rmq_nng_bus_open(nng_socket *sock, size_t recv_max);

/* Listen on host ("" or "*": every address) at port (0: any free one),
 * with TLS when tls is given; *bound is the port taken.  0, or -1 with
 * "WHAT HOST:PORT: reason" in err. */
int rmq_nng_listen(nng_socket sock, const char *host, uint16_t port,
    const struct rmq_nng_tls *tls, const char *what, uint16_t *bound, char *err,
    size_t errlen);

/* Dial url (tcp://HOST:PORT, the form the cluster keeps addresses in)
 * without blocking, with TLS when tls is given.  NNG's code. */
int rmq_nng_dial(nng_socket sock, const char *url, nng_dialer *d,
    const struct rmq_nng_tls *tls);

/* Close n sockets at once, one thread each, waiting at most wait_ms for
 * them all; `what` names them in the log line when the wait runs out.
 * Returns how many did not close in time: NNG's threads still hold them
 * (NNG 1.5.2's reaper can wedge), and nothing NNG may still call into
 * can be freed. */
unsigned rmq_nng_close_all(const nng_socket *socks, unsigned n,
    unsigned wait_ms, const char *what);

#endif
