/* broker/auth/authz.h: the node's authorizer (auth.h) as its settings make
 * it: Mosquitto's acl_file, read at start and again at each reload.
 *
 * The loops ask it on every delivery, so the file in use is read under
 * RCU (the loops are QSBR readers): a reload swaps in the new file and
 * frees the old one once no loop can be reading it, and moves the
 * generation on so the sessions' cached answers are asked again.
 */
#ifndef RMQ_AUTHZ_H
#define RMQ_AUTHZ_H

#include <stddef.h>
#include <stdint.h>

#include "auth.h"
#include "config.h"

struct rmq_authz;

/* From cfg.acl_file (none: *out is NULL, everything is allowed).
 * Returns 0, or a negative errno with "PATH:LINE: why" in err. */
int rmq_authz_new(const struct rmq_config *cfg, struct rmq_authz **out,
    char *err, size_t errlen);

const struct rmq_authorizer *rmq_authz_contract(struct rmq_authz *z);

/* Read cfg.acl_file again (a changed path too).  On error the file before
 * stays.  The reloading thread, not a loop's; it waits for the loops to
 * leave the old file. */
int rmq_authz_reload(struct rmq_authz *z, const struct rmq_config *cfg,
    char *err, size_t errlen);

/* Rules in the file now. */
size_t rmq_authz_rules(struct rmq_authz *z);

/* After the loops have stopped. */
void rmq_authz_free(struct rmq_authz *z);

#endif
