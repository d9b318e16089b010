/* bench/tls.h: TLS for ringmq-bench's connections, over OpenSSL, kept
 * behind opaque pointers so that client.c sees no OpenSSL type.  A context
 * per run (CA file, optional client certificate); a session per connection
 * driven by the connection's non-blocking socket and the loop's epoll.
 */
#ifndef RMQ_BENCH_TLS_H
#define RMQ_BENCH_TLS_H

#include <stddef.h>
#include <sys/types.h>

struct rmq_bench_cfg;

/* Create the run's client context from cfg (--cacert, --cert, --key;
 * --tls-resume: each loop offers the last session ticket it received, so
 * that its connections after the first resume, as returning clients do).
 * Returns 0 with *ctx set, or -EINVAL with a message in err. */
int rmq_bench_tls_ctx_new(const struct rmq_bench_cfg *cfg, void **ctx,
    char *err, size_t errlen);

void rmq_bench_tls_ctx_free(void *ctx);

/* A session on connected socket fd for server `host` (used for SNI and,
 * when the context verifies, for the name or IP address check).  Returns
 * 0 with *ssl set, or -ENOMEM. */
int rmq_bench_tls_new(void *ctx, int fd, const char *host, void **ssl);

void rmq_bench_tls_free(void *ssl);

/* A loop thread's end: the session it kept for --tls-resume goes. */
void rmq_bench_tls_thread_end(void);

/* Whether the handshake resumed a session (--tls-resume). */
int rmq_bench_tls_resumed(void *ssl);

/* Advance the handshake.  Returns 0 when done, -EAGAIN when it waits for
 * the socket to be readable, -EINPROGRESS when it waits for it to be
 * writable, or -EPROTO with the reason in err. */
int rmq_bench_tls_handshake(void *ssl, char *err, size_t errlen);

/* Read plaintext.  Returns bytes (> 0), 0 when the peer closed, -EAGAIN
 * when nothing is buffered, or -EIO with the reason in err. */
ssize_t
rmq_bench_tls_read(void *ssl, void *buf, size_t len, char *err, size_t errlen);

/* Write plaintext (partial writes allowed).  Returns bytes written,
 * -EAGAIN when the socket is full, or -EIO with the reason in err. */
ssize_t rmq_bench_tls_write(void *ssl, const void *buf, size_t len, char *err,
    size_t errlen);

#endif
