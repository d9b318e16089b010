/* cluster/close.h: closing an NNG socket within a bounded time.
 *
 * NNG 1.5.2's nng_close() was seen to wait forever now and then (1 stop
 * in 10 on a bus socket with peers still up, the process idle in it), and
 * a node that is stopping must exit within its grace period.  The close
 * runs on a thread of its own; after wait_ms the caller goes on without
 * it (logged), and whichever of the two ends last frees what they share.
 */
#ifndef RMQ_CLUSTER_CLOSE_H
#define RMQ_CLUSTER_CLOSE_H

#include <nng/nng.h>

/* what names the socket in the log line when the wait runs out. */
void rmq_nng_close_bounded(nng_socket sock, unsigned wait_ms, const char *what);

#endif
