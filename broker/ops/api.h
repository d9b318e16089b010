/* broker/ops/api.h: the admin API, JSON under /api/v1/ on the admin
 * listener (api.c lists the endpoints), and what it counts. */
#ifndef RMQ_API_H
#define RMQ_API_H

#include <stdatomic.h>
#include <stdint.h>

#include "node.h"
#include "text.h"

#define RMQ_API_PREFIX "/api/v1/"

struct rmq_api {
	struct rmq_broker *b;
	int loopback; /* the admin listener is: no token needed */
	/* Every connection presented a certificate of admin_tls_cafile (the
	 * handshake requires it): no token needed. */
	int certified;
	char node[64]; /* node_name, else the host name */
	char token[256]; /* admin_token_file's; "": none */
	_Atomic uint64_t requests, refused;
};

/* Read the token (admin_token_file); 0, or -EINVAL with err set. */
int rmq_api_init(struct rmq_api *api, struct rmq_broker *b, char *err,
    size_t errlen);

/* Serve the API on NNG's HTTP server `server`; 0 or an NNG error. */
int rmq_api_add(struct rmq_api *api, void *server);

/* Its counters, as Prometheus text. */
void rmq_api_metrics(struct rmq_api *api, struct rmq_text *t);

#endif
