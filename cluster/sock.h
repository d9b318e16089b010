/* cluster/sock.h: the chores of the cluster's NNG sockets: listening at
 * HOST:PORT, and closing within a bounded time.
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

/* Listen on host ("" or "*": every address) at port (0: any free one);
 * *bound is the port taken.  0, or -1 with "WHAT HOST:PORT: reason" in
 * err. */
int rmq_nng_listen(nng_socket sock, const char *host, uint16_t port,
    const char *what, uint16_t *bound, char *err, size_t errlen);

/* Close n sockets at once, one thread each, waiting at most wait_ms for
 * them all; `what` names them in the log line when the wait runs out. */
void rmq_nng_close_all(const nng_socket *socks, unsigned n, unsigned wait_ms,
    const char *what);

#endif
