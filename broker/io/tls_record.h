/* broker/io/tls_record.h: TLS 1.3 record protection (RFC 8446 section 5)
 * for a connection whose handshake OpenSSL has finished.
 *
 * OpenSSL keeps about 15 KB per connection for the connection's whole
 * life, most of it for a handshake that is over: an idle TLS connection
 * cost thirty times a plain one.  Once a TLS 1.3 handshake is done, all a
 * connection needs is its two traffic secrets, the AEAD contexts keyed
 * from them and two record counters; this is that state, the sealing and
 * opening of records, and the one post-handshake message a server must
 * answer (KeyUpdate, RFC 8446 4.6.3).  Every cryptographic operation is
 * OpenSSL's (its AEAD ciphers and HKDF); the handshake, certificates and
 * tickets stay OpenSSL's.  Kernel TLS makes the same split one level down.
 */
#ifndef RMQ_TLS_RECORD_H
#define RMQ_TLS_RECORD_H

#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "iobuf.h"

#define RMQ_TLS_PLAIN_MAX 16384 /* a record's plaintext, 2^14 */
#define RMQ_TLS_HEADER 5
/* A whole protected record: header, plaintext, content type, expansion
 * (RFC 8446 5.2: at most 2^14 + 256 after the header). */
#define RMQ_TLS_RECORD_MAX (RMQ_TLS_HEADER + RMQ_TLS_PLAIN_MAX + 256)
/* Records sealed under one key before a KeyUpdate of our own: AES-GCM's
 * bound is 2^24.5 full records (RFC 8446 5.5); ChaCha20's is far above. */
#define RMQ_TLS_UPDATE_AT (UINT64_C(1) << 24)

enum rmq_tls_content {
	RMQ_TLS_ALERT = 21,
	RMQ_TLS_HANDSHAKE = 22,
	RMQ_TLS_DATA = 23,
};

/* Alert descriptions this layer sends (RFC 8446 6.2). */
enum rmq_tls_alert {
	RMQ_TLS_CLOSE_NOTIFY = 0,
	RMQ_TLS_UNEXPECTED_MESSAGE = 10,
	RMQ_TLS_BAD_RECORD_MAC = 20,
	RMQ_TLS_RECORD_OVERFLOW = 22,
	RMQ_TLS_ILLEGAL_PARAMETER = 47,
	RMQ_TLS_DECODE_ERROR = 50,
	RMQ_TLS_INTERNAL_ERROR = 80,
	RMQ_TLS_USER_CANCELED = 90,
};

struct evp_cipher_ctx_st;

/* One direction's keys. */
struct rmq_tls_keys {
	struct evp_cipher_ctx_st *ctx; /* keyed from secret */
	uint64_t seq; /* records under this key so far */
	uint8_t iv[12];
	uint8_t secret[48];
};

struct rmq_tls_rec {
	struct rmq_tls_keys rd; /* the client's: what we open */
	struct rmq_tls_keys wr; /* ours: what we seal */
	uint64_t update_at; /* wr.seq at which we update our key */
	uint8_t suite; /* index into the suites tls_record.c knows */
	uint8_t secret_len;
	uint64_t updates_in, updates_out; /* KeyUpdates taken and sent */
};

/* Whether the TLS 1.3 cipher suite `id` (0x1301...) is one this layer
 * seals: the AES-GCM and ChaCha20-Poly1305 suites. */
int rmq_tls_rec_supported(uint16_t id);

/* Key both directions for suite `id`: the client's traffic secret for
 * what we open, ours for what we seal, both secret_len bytes (the
 * suite's hash length), and the count of records already sealed under
 * ours (the tickets OpenSSL sent).  Returns 0, or -1 (the suite is not
 * supported, the length is wrong, or OpenSSL failed). */
int rmq_tls_rec_start(struct rmq_tls_rec *r, uint16_t id,
    const uint8_t *client_secret, const uint8_t *server_secret,
    size_t secret_len, uint64_t sealed);

/* Forget the keys (wiped) and free the contexts. */
void rmq_tls_rec_clear(struct rmq_tls_rec *r);

/* Seal iov[0..n) as records of `type` appended to out, at most
 * RMQ_TLS_PLAIN_MAX plaintext each, the first of them preceded by a
 * KeyUpdate of our own when wr.seq has reached update_at.  Returns 0, or
 * -1 (out of memory, or OpenSSL failed: the connection cannot go on). */
int rmq_tls_rec_seal(struct rmq_tls_rec *r, uint8_t type,
    const struct iovec *iov, int n, struct rmq_iobuf *out);

/* The length of the record whose header is at p (RMQ_TLS_HEADER bytes
 * there), header included. */
static inline size_t
rmq_tls_rec_len(const uint8_t *p)
{
	return RMQ_TLS_HEADER + ((size_t)p[3] << 8 | p[4]);
}

/* Check a record header before its body is here: 0, or the alert. */
int rmq_tls_rec_header(const uint8_t *p);

/* Open the whole record rec[0..len) into plain (RMQ_TLS_PLAIN_MAX + 256
 * bytes): *plen and *type are its plaintext and inner content type.
 * Returns 0, or the alert to end the connection with. */
int rmq_tls_rec_open(struct rmq_tls_rec *r, const uint8_t *rec, size_t len,
    uint8_t *plain, size_t *plen, uint8_t *type);

/* A handshake record's plaintext, after the handshake: a KeyUpdate
 * (RFC 8446 4.6.3) updates the client's key and, when it asks, ours,
 * announced by a KeyUpdate sealed into out.  Anything else is refused.
 * Returns 0, or the alert to end the connection with. */
int rmq_tls_rec_handshake(struct rmq_tls_rec *r, const uint8_t *p, size_t n,
    struct rmq_iobuf *out);

#endif
