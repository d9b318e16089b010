/* broker/ops/admin.h: the admin HTTP listener: /metrics for Prometheus,
 * /healthz for liveness and /readyz for readiness, served by NNG's HTTP
 * server on its own threads, off the worker loops. */
#ifndef RMQ_ADMIN_H
#define RMQ_ADMIN_H

#include "node.h"

/* Start serving on b->cfg.admin (host:port).  Returns 0 or a negative
 * errno, with a message on stderr. */
int rmq_admin_start(struct rmq_broker *b);

/* Finish an NNG HTTP handler's aio with a response of status, type and
 * body (copied); without memory, the aio fails.  Any thread. */
void rmq_admin_reply(void *aio, uint16_t status, const char *type,
    const void *body, size_t len);

/* Whether the admin listener's TLS settings go together and their files
 * read: 0, or -EINVAL with the reason in err. */
int rmq_admin_tls_check(const struct rmq_config *cfg, char *err, size_t errlen);

/* Stop serving; idempotent. */
void rmq_admin_stop(struct rmq_broker *b);

#endif
