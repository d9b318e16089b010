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
#include <nng/supplemental/tls/tls.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "admin.h"
#include "api.h"
#include "cluster.h"
#include "log.h"
#include "metrics.h"
#include "readfile.h"

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

/* The admin listener's TLS (admin_tls_*): *out NULL without a
 * certificate.  With a CA, every client's certificate is required and
 * checked against it.  0, or -EINVAL with the reason in err. */
static int
admin_tls(const struct rmq_config *cfg, nng_tls_config **out, char *err,
    size_t errlen)
{
	const char *cert = cfg->admin_tls_certfile;
	const char *key = cfg->admin_tls_keyfile, *ca = cfg->admin_tls_cafile;
	*out = NULL;
	if (!cert[0] || !key[0]) {
		if (!cert[0] && !key[0] && !ca[0])
			return 0;
		snprintf(err, errlen, "%s is set but %s is not",
		    cert[0]      ? "admin_tls_certfile"
			: key[0] ? "admin_tls_keyfile"
				 : "admin_tls_cafile",
		    cert[0] ? "admin_tls_keyfile" : "admin_tls_certfile");
		return -EINVAL;
	}
	char name[300], *certpem = NULL, *keypem = NULL;
	size_t certlen = 0, keylen = 0;
	snprintf(name, sizeof(name), "admin_tls_certfile %s", cert);
	if (rmq_readfile(cert, name, &certpem, &certlen, NULL, err, errlen))
		return -EINVAL;
	snprintf(name, sizeof(name), "admin_tls_keyfile %s", key);
	if (rmq_readfile(key, name, &keypem, &keylen, NULL, err, errlen)) {
		free(certpem);
		return -EINVAL;
	}
	certpem[certlen] = '\0';
	keypem[keylen] = '\0';
	nng_tls_config *c = NULL;
	int rv = nng_tls_config_alloc(&c, NNG_TLS_MODE_SERVER);
	if (rv != 0)
		snprintf(err, errlen, "admin TLS: %s", nng_strerror(rv));
	else if ((rv = nng_tls_config_own_cert(c, certpem, keypem, NULL)) != 0)
		snprintf(err, errlen,
		    "admin_tls_certfile and admin_tls_keyfile: not a certificate and its key: %s",
		    nng_strerror(rv));
	else if (ca[0] && (rv = nng_tls_config_ca_file(c, ca)) != 0)
		snprintf(err, errlen, "admin_tls_cafile %s: %s", ca,
		    nng_strerror(rv));
	else if ((rv = nng_tls_config_auth_mode(c,
		      ca[0] ? NNG_TLS_AUTH_MODE_REQUIRED
			    : NNG_TLS_AUTH_MODE_NONE)) != 0)
		snprintf(err, errlen, "admin TLS: %s", nng_strerror(rv));
	/* The key's copy is not kept about. */
	memset(keypem, 0, keylen);
	free(keypem);
	free(certpem);
	if (rv != 0) {
		if (c)
			nng_tls_config_free(c);
		return -EINVAL;
	}
	*out = c;
	return 0;
}

int
rmq_admin_tls_check(const struct rmq_config *cfg, char *err, size_t errlen)
{
	nng_tls_config *c;
	if (admin_tls(cfg, &c, err, errlen) != 0)
		return -EINVAL;
	if (c)
		nng_tls_config_free(c);
	return 0;
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
	nng_tls_config *tls = NULL;
	int rv;

	char why[512];
	if (admin_tls(&b->cfg, &tls, why, sizeof(why)) != 0) {
		rmq_log(RMQ_LOG_ERROR, "%s", why);
		return -EINVAL;
	}
	snprintf(url, sizeof(url), "%s://%s:%u", tls ? "https" : "http",
	    b->cfg.admin.host, b->cfg.admin.port);
	if ((rv = nng_url_parse(&u, url)) != 0 ||
	    (rv = nng_http_server_hold(&srv, u)) != 0)
		goto fail;
	/* The server's listener holds the configuration from here. */
	if (tls && (rv = nng_http_server_set_tls(srv, tls)) != 0)
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
	if ((api = calloc(1, sizeof(*api))) == NULL) {
		rv = NNG_ENOMEM;
		goto fail;
	}
	if (rmq_api_init(api, b, why, sizeof(why)) != 0) {
		rmq_log(RMQ_LOG_ERROR, "%s", why);
		free(api);
		nng_http_server_release(srv);
		nng_url_free(u);
		if (tls)
			nng_tls_config_free(tls);
		return -EINVAL;
	}
	api->certified = b->cfg.admin_tls_cafile[0] != '\0';
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
	    "admin on %s://%s:%u%s (/metrics, /healthz, /readyz; the API under %s%s)",
	    tls ? "https" : "http", b->cfg.admin.host, port,
	    api->certified
		? ", every client with a certificate of admin_tls_cafile"
		: "",
	    RMQ_API_PREFIX,
	    api->certified      ? ""
		: api->token[0] ? ", with a token"
		: api->loopback ? ""
				: ": off, no admin_token_file");
	if (tls)
		nng_tls_config_free(tls);
	return 0;
fail:
	rmq_log(RMQ_LOG_ERROR, "admin listener %s: %s", url, nng_strerror(rv));
	if (tls)
		nng_tls_config_free(tls);
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
