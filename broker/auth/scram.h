/* broker/auth/scram.h: SCRAM-SHA-256 (RFC 5802, RFC 7677), the server's
 * side, as MQTT 5.0 enhanced authentication carries it (section 4.12):
 * the client-first message in the Authentication Data of a CONNECT (or of
 * an AUTH 0x19 that re-authenticates), the server-first in an AUTH 0x18,
 * the client-final in the client's AUTH 0x18, and the server-final in the
 * CONNACK (or in an AUTH 0x00).
 *
 * The server keeps what RFC 5802 keeps per user, never the password: a
 * salt, an iteration count, StoredKey and ServerKey.  Proving a password
 * costs the server two HMACs and a hash; the iterations are the client's
 * work.  A user without credentials goes through the same exchange with
 * made-up ones, derived from the name, so the answers tell nobody which
 * users exist; it fails at the proof.
 *
 * Not offered: channel binding (a client that requires it is refused;
 * one that says it could use it but thinks the server cannot, "y", is
 * taken), an authorization identity other than the user, and SASLprep
 * (RFC 4013): names and passwords are used as their bytes, which changes
 * nothing for ASCII ones.
 */
#ifndef RMQ_SCRAM_H
#define RMQ_SCRAM_H

#include <stddef.h>
#include <stdint.h>

#define RMQ_SCRAM_METHOD "SCRAM-SHA-256"
#define RMQ_SCRAM_KEY_LEN 32 /* SHA-256's output */
#define RMQ_SCRAM_SALT_MAX 64
/* Iterations `ringmq passwd -S` uses unless told: RFC 7677's minimum. */
#define RMQ_SCRAM_DEFAULT_ITERATIONS 4096u
/* The longest message taken from a client. */
#define RMQ_SCRAM_MSG_MAX 4096u

struct rmq_scram_creds {
	uint32_t iterations;
	uint8_t salt_len;
	uint8_t salt[RMQ_SCRAM_SALT_MAX];
	uint8_t stored_key[RMQ_SCRAM_KEY_LEN];
	uint8_t server_key[RMQ_SCRAM_KEY_LEN];
};

/* The credentials a password gives under salt and iterations.  Returns 0
 * or -EINVAL (a salt of 0 or more than 64 bytes, no iterations) or -EIO
 * (OpenSSL failed). */
int rmq_scram_derive(const char *pw, size_t pwlen, const uint8_t *salt,
    size_t salt_len, uint32_t iterations, struct rmq_scram_creds *out);

/* Made-up credentials for a user the server has none for: a salt derived
 * from the name with a key of the process's, so asking twice gives the
 * same one, and keys no password gives. */
void rmq_scram_mock(const char *user, size_t ulen, struct rmq_scram_creds *out);

struct rmq_scram;

/* Read a client-first message: *out holds the exchange from then on.
 * Returns 0, -EINVAL (not a client-first message), -EOPNOTSUPP (channel
 * binding required, an authorization identity, a mandatory extension) or
 * -ENOMEM. */
int rmq_scram_start(const uint8_t *msg, size_t n, struct rmq_scram **out);

/* The user the client names (unescaped), valid as long as the exchange. */
const char *rmq_scram_user(const struct rmq_scram *st, size_t *len);

/* The server-first message for the user's credentials (or a mock's),
 * with a fresh nonce (`nonce`, when not NULL, is used instead: tests),
 * into *out (the exchange's, valid until it is freed).  Returns 0, -EIO
 * or -ENOMEM. */
int rmq_scram_server_first(struct rmq_scram *st,
    const struct rmq_scram_creds *creds, const char *nonce, const char **out,
    size_t *outlen);

/* Read the client-final message.  Returns 0 when the proof is right
 * (*out the server-final message, the exchange's), -EACCES when it is not,
 * -EINVAL when the message is not one (or not of this exchange: another
 * nonce, another header). */
int rmq_scram_finish(struct rmq_scram *st, const uint8_t *msg, size_t n,
    const char **out, size_t *outlen);

/* NULL is fine. */
void rmq_scram_free(struct rmq_scram *st);

#endif
