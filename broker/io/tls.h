/* broker/io/tls.h: TLS as a layer of a connection (conn.h), over OpenSSL.
 *
 * OpenSSL never touches the socket: ciphertext comes from the backend's
 * reads and goes to the backend's writes through a BIO of our own, so
 * io_uring and libuv keep doing all the I/O on the worker loops, and no
 * byte is copied on its way in.  One struct rmq_tls per TLS listener holds
 * its SSL_CTX; SIGHUP builds a new one from the same files (renewed
 * certificates) for the connections that come after, while those open
 * keep theirs.
 */
#ifndef RMQ_TLS_H
#define RMQ_TLS_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "loop.h"

struct rmq_tls;

/* A listener's TLS from its settings; `name` (ADDRESS:PORT) goes into
 * messages.  Returns 0, or -EINVAL with the reason in err (a file that
 * cannot be read, a key that does not match its certificate...). */
int rmq_tls_new(const struct rmq_tls_conf *conf, const char *name,
    struct rmq_tls **out, char *err, size_t errlen);

/* Read the files again; connections accepted from now on use what was
 * read.  On error the listener keeps what it had.  Any thread. */
int rmq_tls_reload(struct rmq_tls *t, char *err, size_t errlen);

/* After every connection that used it is gone. */
void rmq_tls_free(struct rmq_tls *t);

/* Put TLS over backend connection `below`: *out is what the session
 * holds.  Returns 0 or -ENOMEM. */
int
rmq_tls_wrap(struct rmq_tls *t, struct rmq_conn *below, struct rmq_conn **out);

/* The connection the session holds over backend connection `below`
 * (one rmq_tls_wrap made or adopted): for tests and debuggers. */
struct rmq_conn *rmq_tls_upper(struct rmq_conn *below);

/* Counts for /metrics.  Any thread. */
struct rmq_tls_stats {
	uint64_t handshakes; /* finished */
	uint64_t failures; /* handshakes that failed */
	uint64_t resumed; /* finished with a resumed session */
	uint64_t reloads, reload_failures;
	uint64_t released; /* handshakes whose SSL object was given back */
	uint64_t key_updates; /* KeyUpdates read from clients */
};
void rmq_tls_stats(const struct rmq_tls *t, struct rmq_tls_stats *out);

#endif
