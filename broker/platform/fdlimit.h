/* broker/platform/fdlimit.h: the process's descriptor budget.
 *
 * Every client connection holds a descriptor; so do the admin endpoint's
 * HTTP connections, the files read at a reload, the log file, and the
 * loops themselves.  Were connections allowed to take the last ones,
 * accept() would fail on every listener at once, the admin endpoint
 * included, and /metrics and /healthz would go unanswered just when they
 * are needed.  So the broker raises its soft limit to the hard one at
 * start, and bounds connections (max_connections, when it is unset or
 * higher) so that RMQ_FD_RESERVE descriptors stay free.
 */
#ifndef RMQ_FDLIMIT_H
#define RMQ_FDLIMIT_H

#include <stdint.h>

/* Descriptors kept free of client connections. */
#define RMQ_FD_RESERVE 64

/* Raise the soft RLIMIT_NOFILE to the hard one.  *limit gets the soft
 * limit in force after, *was the one before.  Returns 0, or a negative
 * errno (the limit is then unchanged, and still reported). */
int rmq_fd_raise(uint64_t *limit, uint64_t *was);

/* Descriptors this process has open now. */
unsigned rmq_fd_open_count(void);

/* Connections that fit: `limit` less the `open` descriptors the broker
 * holds itself and RMQ_FD_RESERVE; at least 1. */
uint32_t rmq_fd_conn_budget(uint64_t limit, unsigned open);

#endif
