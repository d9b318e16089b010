/* broker/io/psk.h: the pre-shared keys of TLS-PSK listeners (Mosquitto's
 * `psk_file`).
 *
 * Devices too small for certificates share a secret with the broker: one
 * `identity:key` a line, the key in hexadecimal, as Mosquitto reads it.
 * The TLS layer looks a client's identity up during its handshake; with
 * `use_identity_as_username` the identity is then the client's user name.
 * The table is read whole at the start and at each SIGHUP, and a bad line
 * refuses the file naming PATH:LINE, so a typo never locks out or lets in
 * a device unnoticed.
 */
#ifndef RMQ_PSK_H
#define RMQ_PSK_H

#include <stddef.h>
#include <stdint.h>

#define RMQ_PSK_IDENTITY_MAX 128 /* bytes of an identity (TLS allows 65535) */
#define RMQ_PSK_KEY_MAX 64 /* bytes of a key: 128 hex digits */

struct rmq_psk;

/* Read the file at `path`.  Returns 0 with *out, or a negative errno with
 * "PATH:LINE: why" (or "PATH: why") in err. */
int
rmq_psk_load(const char *path, struct rmq_psk **out, char *err, size_t errlen);

/* The key of `identity` into key[0..cap): its length, or 0 when the
 * identity is not in the table (or the key does not fit). */
size_t rmq_psk_find(const struct rmq_psk *p, const char *identity, uint8_t *key,
    size_t cap);

/* Identities in the table. */
size_t rmq_psk_count(const struct rmq_psk *p);

void rmq_psk_free(struct rmq_psk *p);

#endif
