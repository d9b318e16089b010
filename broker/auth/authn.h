/* broker/auth/authn.h: the node's authenticator (auth.h) as its settings
 * make it: Mosquitto's password_file and allow_anonymous, and client
 * certificates that name their user (the TLS listener's
 * use_identity_as_username).
 *
 * A client is anonymous when nothing it sent can be checked: no user
 * name, or a user name with no password file to check it against.
 * Anonymous clients get in where allow_anonymous says: `true` on every
 * listener, `false` on none, and when unset only on listeners bound to
 * loopback addresses (Mosquitto 2's local-only default).  A user name
 * and password are checked against the password file; a certified user
 * name (TLS) needs no password.
 *
 * Checks that cost more than a loop should spend (a file hashed with many
 * rounds, as Mosquitto 2.1 writes them) run on a thread of their own and
 * answer later, so a login never stalls the clients of its loop.  The
 * file is read again at each reload; a file that cannot be read keeps
 * the one before.
 */
#ifndef RMQ_AUTHN_H
#define RMQ_AUTHN_H

#include <stddef.h>
#include <stdint.h>

#include "auth.h"
#include "config.h"

struct rmq_authn;

/* From cfg: its password file read now (an error names PATH:LINE), its
 * listeners' loopback-ness fixed.  Returns 0, or a negative errno with
 * the reason in err. */
int rmq_authn_new(const struct rmq_config *cfg, struct rmq_authn **out,
    char *err, size_t errlen);

/* The contract CONNECT handling calls (auth.h). */
const struct rmq_authenticator *rmq_authn_contract(struct rmq_authn *a);

/* A reload: allow_anonymous as cfg says, the password file read again
 * (another path, or the same one changed).  On error the authenticator
 * keeps its file and err says why.  The thread that reloads, while the
 * loops run; readers are RCU (QSBR) loop threads. */
int rmq_authn_reload(struct rmq_authn *a, const struct rmq_config *cfg,
    char *err, size_t errlen);

/* Users in the password file now; -1 when there is no file. */
long rmq_authn_users(struct rmq_authn *a);

/* After the loops have stopped. */
void rmq_authn_free(struct rmq_authn *a);

/* Whether an address a listener binds is loopback only (127.0.0.0/8,
 * ::1, localhost); "" (every interface) is not. */
int rmq_authn_loopback(const char *host);

#endif
