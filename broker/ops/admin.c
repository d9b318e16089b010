/* broker/ops/admin.c: the admin HTTP endpoints (see admin.h).
 *
 * NNG's HTTP server (already linked for the cluster bus) parses requests;
 * the handlers only render.  /readyz says ready once the listeners are
 * open and, in a cluster, the index is synced, and no more once the node
 * drains: the readiness probe of a pod.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <nng/nng.h>
#include <nng/supplemental/http/http.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "admin.h"
#include "api.h"
#include "cluster.h"
#include "log.h"
#include "metrics.h"

void
rmq_admin_reply(void *aio_, uint16_t status, const char *type, const void *body,
    size_t len)
{
	nng_aio *aio = aio_;
	nng_http_res *res;
	if (nng_http_res_alloc(&res) != 0) {
		nng_aio_finish(aio, NNG_ENOMEM);
		return;
	}
	nng_http_res_set_status(res, status);
	nng_http_res_set_header(res, "Content-Type", type);
	if (nng_http_res_copy_data(res, body, len) != 0) {
		nng_http_res_free(res);
		nng_aio_finish(aio, NNG_ENOMEM);
		return;
	}
	nng_aio_set_output(aio, 0, res);
	nng_aio_finish(aio, 0);
}

static void
admin_metrics(nng_aio *aio)
{
	nng_http_handler *h = nng_aio_get_input(aio, 1);
	struct rmq_broker *b = nng_http_handler_get_data(h);
	char *text;
	size_t len;
	if (rmq_metrics_render(b, &text, &len) != 0) {
		static const char oom[] = "out of memory\n";
		rmq_admin_reply(aio, 500, "text/plain", oom, sizeof(oom) - 1);
		return;
	}
	rmq_admin_reply(aio, 200, "text/plain; version=0.0.4; charset=utf-8",
	    text, len);
	free(text);
}

static void
admin_healthz(nng_aio *aio)
{
	static const char ok[] = "ok\n";
	rmq_admin_reply(aio, 200, "text/plain", ok, sizeof(ok) - 1);
}

static void
admin_readyz(nng_aio *aio)
{
	nng_http_handler *h = nng_aio_get_input(aio, 1);
	struct rmq_broker *b = nng_http_handler_get_data(h);
	const struct rmq_cluster_hooks *c = b->cluster;
	if (atomic_load(&b->draining)) {
		static const char stop[] = "stopping\n";
		rmq_admin_reply(aio, 503, "text/plain", stop, sizeof(stop) - 1);
	} else if (atomic_load(&b->ready) && c != NULL && c->ready != NULL &&
	    !c->ready(c->ctx)) {
		static const char sync[] = "starting: the cluster's index\n";
		rmq_admin_reply(aio, 503, "text/plain", sync, sizeof(sync) - 1);
	} else if (atomic_load(&b->ready)) {
		static const char ok[] = "ready\n";
		rmq_admin_reply(aio, 200, "text/plain", ok, sizeof(ok) - 1);
	} else {
		static const char no[] = "starting\n";
		rmq_admin_reply(aio, 503, "text/plain", no, sizeof(no) - 1);
	}
}

int
rmq_admin_start(struct rmq_broker *b)
{
	static const struct {
		const char *path;
		void (*fn)(nng_aio *);
	} routes[] = {
		{ "/metrics", admin_metrics },
		{ "/healthz", admin_healthz },
		{ "/readyz", admin_readyz },
	};
	char url[128];
	nng_url *u = NULL;
	nng_http_server *srv = NULL;
	struct rmq_api *api = NULL;
	int rv;

	snprintf(url, sizeof(url), "http://%s:%u", b->cfg.admin.host,
	    b->cfg.admin.port);
	if ((rv = nng_url_parse(&u, url)) != 0 ||
	    (rv = nng_http_server_hold(&srv, u)) != 0)
		goto fail;
	for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++) {
		nng_http_handler *h;
		if ((rv = nng_http_handler_alloc(&h, routes[i].path,
			 routes[i].fn)) != 0)
			goto fail;
		nng_http_handler_set_method(h, "GET");
		nng_http_handler_set_data(h, b, NULL);
		if ((rv = nng_http_server_add_handler(srv, h)) != 0) {
			nng_http_handler_free(h);
			goto fail;
		}
	}
	char why[512];
	if ((api = calloc(1, sizeof(*api))) == NULL) {
		rv = NNG_ENOMEM;
		goto fail;
	}
	if (rmq_api_init(api, b, why, sizeof(why)) != 0) {
		rmq_log(RMQ_LOG_ERROR, "%s", why);
		free(api);
		nng_http_server_release(srv);
		nng_url_free(u);
		return -EINVAL;
	}
	if ((rv = rmq_api_add(api, srv)) != 0 ||
	    (rv = nng_http_server_start(srv)) != 0)
		goto fail;
	b->api = api;
	nng_url_free(u);
	b->admin = srv;
	/* Port 0 asks the kernel for one; report the one it gave. */
	unsigned port = b->cfg.admin.port;
	nng_sockaddr sa;
	if (nng_http_server_get_addr(srv, &sa) == 0) {
		if (sa.s_family == NNG_AF_INET)
			port = ntohs(sa.s_in.sa_port);
		else if (sa.s_family == NNG_AF_INET6)
			port = ntohs(sa.s_in6.sa_port);
	}
	rmq_log(RMQ_LOG_NOTICE,
	    "admin on http://%s:%u (/metrics, /healthz, /readyz; the API under %s%s)",
	    b->cfg.admin.host, port, RMQ_API_PREFIX,
	    api->token[0]       ? ", with a token"
		: api->loopback ? ""
				: ": off, no admin_token_file");
	return 0;
fail:
	rmq_log(RMQ_LOG_ERROR, "admin listener %s: %s", url, nng_strerror(rv));
	free(api);
	if (srv)
		nng_http_server_release(srv);
	if (u)
		nng_url_free(u);
	return -EINVAL;
}

void
rmq_admin_stop(struct rmq_broker *b)
{
	if (b->admin == NULL)
		return;
	nng_http_server_stop(b->admin);
	nng_http_server_release(b->admin);
	b->admin = NULL;
	free(b->api);
	b->api = NULL;
}
