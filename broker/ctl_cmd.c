/* broker/ctl_cmd.c: `ringmq ctl`, the operator's command over the admin
 * API (broker/ops/api.c) of a running node: one HTTP request, its JSON
 * answer printed.  Where the node is and its token come from the flags,
 * or from the node's configuration file (-c): its admin_listener (an
 * address of every interface is asked on loopback), admin_token_file, and
 * HTTPS when admin_tls_certfile is set.
 */
#include "ctl_cmd.h"

#include <nng/nng.h>
#include <nng/supplemental/http/http.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl_https.h"
#include "options.h"

#define CTL_TIMEOUT_MS 10000

static int
ctl_usage(void)
{
	fprintf(stderr,
	    "usage: ringmq ctl [-c FILE] [--admin HOST:PORT] [--token-file PATH]\n"
	    "                  [--tls] [--cafile PATH] [--servername NAME] [--cert PATH --key PATH]\n"
	    "                  [--local] COMMAND\n"
	    "  cluster status                 the nodes as this one sees them\n"
	    "  node leave                     this node drains and stops (as at SIGTERM)\n"
	    "  clients list [--connected|--offline] [--match TEXT] [--user NAME]\n"
	    "  clients show ID                one client, with its subscriptions\n"
	    "  clients kick ID                its connection closed, its session kept\n"
	    "  sessions show ID               the session, connected or not\n"
	    "  sessions drop ID               the session ended\n"
	    "  subscriptions ID               a client's subscriptions\n"
	    "  retained list [FILTER] [--limit N]   retained messages (FILTER: #)\n"
	    "  retained delete TOPIC          one deleted, on every node\n"
	    "  health                         alive (/healthz): exit 0, or 1 or 2\n"
	    "  ready                          ready for clients (/readyz): exit 0, or 1 or 2\n"
	    "Sessions are looked for on every node; --local: on the node asked only.\n"
	    "-c FILE: the node's configuration (admin_listener, admin_token_file;\n"
	    "HTTPS when admin_tls_certfile is set, the node checked against\n"
	    "admin_tls_cafile); --admin: default 127.0.0.1:9883.  --tls: HTTPS, the\n"
	    "node's certificate checked against --cafile and for --servername (by\n"
	    "default --admin's host, a name or an address); --cert and --key:\n"
	    "this client's certificate, for a node with admin_tls_cafile.\n"
	    "Prints the node's JSON; exits 1 when the node says no (the reason on\n"
	    "stderr), 2 on a usage or connection error.\n");
	return 2;
}

/* Percent-encoding of everything but unreserved characters. */
static void
pct_encode(char *out, size_t cap, const char *s)
{
	static const char hexd[] = "0123456789ABCDEF";
	size_t o = 0;
	for (; *s && o + 4 < cap; s++) {
		unsigned char c = (unsigned char)*s;
		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || strchr("-._~", c)) {
			out[o++] = (char)c;
		} else {
			out[o++] = '%';
			out[o++] = hexd[c >> 4];
			out[o++] = hexd[c & 15];
		}
	}
	out[o] = '\0';
}

static int
read_token(const char *path, char *out, size_t cap)
{
	FILE *f = fopen(path, "r");
	if (f == NULL) {
		perror(path);
		return -1;
	}
	if (fgets(out, (int)cap, f) == NULL)
		out[0] = '\0';
	fclose(f);
	out[strcspn(out, "\r\n")] = '\0';
	return 0;
}

/* HTTPS to the node: the CA its certificate is checked against, and
 * this client's certificate and key if any. */
struct ctl_tls {
	int on;
	const char *ca, *cert, *key;
	const char *name; /* the node's certificate must carry it; NULL: the
			   * host asked */
};

static struct ctl_tls ctl_tls;

/* One request over HTTPS (ctl_https.h): base is https://HOST:PORT/...,
 * the node checked as ctl_tls says.  The exit status, as transact's. */
static int
transact_https(const char *base, const char *token, const char *method,
    const char *path)
{
	const struct ctl_tls *t = &ctl_tls;
	if (t->ca == NULL || !t->ca[0]) {
		fprintf(stderr,
		    "ringmq ctl: HTTPS needs the CA to check the node's certificate: --cafile PATH\n");
		return 2;
	}
	if ((t->cert != NULL) != (t->key != NULL)) {
		fprintf(stderr, "ringmq ctl: --cert and --key go together\n");
		return 2;
	}
	char hostport[160], host[160], full[4200];
	const char *hp = base + strlen("https://");
	const char *slash = strchr(hp, '/');
	size_t hl = slash ? (size_t)(slash - hp) : strlen(hp);
	if (hl >= sizeof(hostport))
		return ctl_usage();
	memcpy(hostport, hp, hl);
	hostport[hl] = '\0';
	snprintf(full, sizeof(full), "%s%s", slash ? slash : "/", path);
	char *port = strrchr(hostport, ':');
	if (port == NULL)
		return ctl_usage();
	*port++ = '\0';
	snprintf(host, sizeof(host), "%s", hostport);
	if (host[0] == '[') { /* [v6]:port */
		size_t n = strlen(host);
		if (n < 2 || host[n - 1] != ']')
			return ctl_usage();
		memmove(host, host + 1, n - 2);
		host[n - 2] = '\0';
	}
	struct rmq_ctl_https r = {
		.host = host,
		.port = port,
		.method = method,
		.path = full,
		.token = token,
		.ca = t->ca,
		.name = t->name,
		.cert = t->cert,
		.key = t->key,
		.timeout_ms = CTL_TIMEOUT_MS,
	};
	unsigned code;
	char *body;
	size_t len;
	if (rmq_ctl_https(&r, &code, &body, &len) != 0)
		return 2;
	fwrite(body, 1, len, code / 100 == 2 ? stdout : stderr);
	free(body);
	return code / 100 == 2 ? 0 : 1;
}

static int
transact(const char *base, const char *token, const char *method,
    const char *path)
{
	if (ctl_tls.on)
		return transact_https(base, token, method, path);
	char url[4096];
	snprintf(url, sizeof(url), "%s%s", base, path);
	nng_url *u = NULL;
	nng_http_client *cli = NULL;
	nng_http_req *req = NULL;
	nng_http_res *res = NULL;
	nng_aio *aio = NULL;
	int rv, status = 2;
	if ((rv = nng_url_parse(&u, url)) != 0 ||
	    (rv = nng_http_client_alloc(&cli, u)) != 0 ||
	    (rv = nng_http_req_alloc(&req, u)) != 0 ||
	    (rv = nng_http_res_alloc(&res)) != 0 ||
	    (rv = nng_aio_alloc(&aio, NULL, NULL)) != 0) {
		fprintf(stderr, "ringmq ctl: %s: %s\n", url, nng_strerror(rv));
		goto out;
	}
	nng_http_req_set_method(req, method);
	if (token[0]) {
		char auth[300];
		snprintf(auth, sizeof(auth), "Bearer %s", token);
		nng_http_req_set_header(req, "Authorization", auth);
	}
	nng_aio_set_timeout(aio, CTL_TIMEOUT_MS);
	nng_http_client_transact(cli, req, res, aio);
	nng_aio_wait(aio);
	if ((rv = nng_aio_result(aio)) != 0) {
		fprintf(stderr, "ringmq ctl: %s: %s\n", url, nng_strerror(rv));
		goto out;
	}
	void *body;
	size_t len;
	nng_http_res_get_data(res, &body, &len);
	unsigned code = nng_http_res_get_status(res);
	fwrite(body, 1, len, code / 100 == 2 ? stdout : stderr);
	status = code / 100 == 2 ? 0 : 1;
out:
	if (aio)
		nng_aio_free(aio);
	if (res)
		nng_http_res_free(res);
	if (req)
		nng_http_req_free(req);
	if (cli)
		nng_http_client_free(cli);
	if (u)
		nng_url_free(u);
	return status;
}

int
rmq_ctl_command(int argc, char **argv)
{
	static struct rmq_config cfg;
	char admin[128] = "127.0.0.1:9883", token[260] = "";
	const char *token_file = NULL;
	int i = 2, local = 0;
	for (; i < argc && argv[i][0] == '-'; i++) {
		if (strcmp(argv[i], "-c") == 0 && i + 1 < argc) {
			char err[1024];
			rmq_config_defaults(&cfg);
			if (rmq_options_load_file(&cfg, argv[++i], NULL, NULL,
				err, sizeof(err)) != 0) {
				fprintf(stderr, "ringmq ctl: %s\n", err);
				return 2;
			}
			const char *h = cfg.admin.host;
			if (strcmp(h, "0.0.0.0") == 0 || strcmp(h, "*") == 0 ||
			    h[0] == '\0')
				h = "127.0.0.1";
			else if (strcmp(h, "::") == 0 || strcmp(h, "[::]") == 0)
				h = "[::1]";
			snprintf(admin, sizeof(admin), "%s:%u", h,
			    cfg.admin.port);
			if (cfg.admin_token_file[0])
				token_file = cfg.admin_token_file;
			if (cfg.admin_tls_certfile[0]) {
				ctl_tls.on = 1;
				if (cfg.admin_tls_cafile[0] && !ctl_tls.ca)
					ctl_tls.ca = cfg.admin_tls_cafile;
			}
		} else if (strcmp(argv[i], "--tls") == 0) {
			ctl_tls.on = 1;
		} else if (strcmp(argv[i], "--cafile") == 0 && i + 1 < argc) {
			ctl_tls.ca = argv[++i];
			ctl_tls.on = 1;
		} else if (strcmp(argv[i], "--cert") == 0 && i + 1 < argc) {
			ctl_tls.cert = argv[++i];
			ctl_tls.on = 1;
		} else if (strcmp(argv[i], "--key") == 0 && i + 1 < argc) {
			ctl_tls.key = argv[++i];
			ctl_tls.on = 1;
		} else if (strcmp(argv[i], "--servername") == 0 &&
		    i + 1 < argc) {
			ctl_tls.name = argv[++i];
			ctl_tls.on = 1;
		} else if (strcmp(argv[i], "--admin") == 0 && i + 1 < argc) {
			snprintf(admin, sizeof(admin), "%s", argv[++i]);
		} else if (strcmp(argv[i], "--token-file") == 0 &&
		    i + 1 < argc) {
			token_file = argv[++i];
		} else if (strcmp(argv[i], "--local") == 0) {
			local = 1;
		} else {
			return ctl_usage();
		}
	}
	char base[160];
	int left = argc - i;
	const char *what = left > 0 ? argv[i] : "";
	const char *verb = left > 1 ? argv[i + 1] : "";
	/* The probes' endpoints, for a container's health check: no token,
	 * nor its file read (the checking user may not read it). */
	if (left == 1 &&
	    (strcmp(what, "health") == 0 || strcmp(what, "ready") == 0)) {
		snprintf(base, sizeof(base), "%s://%s/",
		    ctl_tls.on ? "https" : "http", admin);
		return transact(base, "", "GET",
		    what[0] == 'h' ? "healthz" : "readyz");
	}
	if (token_file && read_token(token_file, token, sizeof(token)) != 0)
		return 2;
	snprintf(base, sizeof(base), "%s://%s/api/v1/",
	    ctl_tls.on ? "https" : "http", admin);
	char path[2048], id[1024];
	if (left == 2 && strcmp(what, "cluster") == 0 &&
	    strcmp(verb, "status") == 0)
		return transact(base, token, "GET", "cluster");
	if (left == 2 && strcmp(what, "node") == 0 &&
	    strcmp(verb, "leave") == 0)
		return transact(base, token, "POST", "node/leave");
	if (left >= 2 && strcmp(what, "clients") == 0 &&
	    strcmp(verb, "list") == 0) {
		size_t o = (size_t)snprintf(path, sizeof(path), "clients?");
		for (int k = i + 2; k < argc; k++) {
			const char *key = NULL, *val = NULL;
			if (strcmp(argv[k], "--connected") == 0)
				key = "connected", val = "true";
			else if (strcmp(argv[k], "--offline") == 0)
				key = "connected", val = "false";
			else if (strcmp(argv[k], "--match") == 0 &&
			    k + 1 < argc)
				key = "match", val = argv[++k];
			else if (strcmp(argv[k], "--user") == 0 && k + 1 < argc)
				key = "user", val = argv[++k];
			else
				return ctl_usage();
			pct_encode(id, sizeof(id), val);
			o += (size_t)snprintf(path + o, sizeof(path) - o,
			    "%s=%s&", key, id);
			if (o >= sizeof(path))
				return ctl_usage();
		}
		if (local)
			o += (size_t)snprintf(path + o, sizeof(path) - o,
			    "local=true&");
		path[o - 1] = '\0';
		return transact(base, token, "GET", path);
	}
	if (left >= 2 && strcmp(what, "retained") == 0 &&
	    strcmp(verb, "list") == 0) {
		const char *filter = "#", *limit = "1000";
		for (int k = i + 2; k < argc; k++) {
			if (strcmp(argv[k], "--limit") == 0 && k + 1 < argc)
				limit = argv[++k];
			else if (argv[k][0] != '-' || argv[k][1] == '\0')
				filter = argv[k];
			else
				return ctl_usage();
		}
		pct_encode(id, sizeof(id), filter);
		snprintf(path, sizeof(path), "retained?filter=%s&limit=%s", id,
		    limit);
		return transact(base, token, "GET", path);
	}
	if (left == 3 && strcmp(what, "retained") == 0 &&
	    strcmp(verb, "delete") == 0) {
		pct_encode(id, sizeof(id), argv[i + 2]);
		snprintf(path, sizeof(path), "retained?topic=%s", id);
		return transact(base, token, "DELETE", path);
	}
	if (left == 2 && strcmp(what, "subscriptions") == 0) {
		pct_encode(id, sizeof(id), verb);
		snprintf(path, sizeof(path), "clients/%s/subscriptions%s", id,
		    local ? "?local=true" : "");
		return transact(base, token, "GET", path);
	}
	if (left == 3 &&
	    (strcmp(what, "clients") == 0 || strcmp(what, "sessions") == 0)) {
		const char *method = strcmp(verb, "show") == 0 ? "GET"
		    : (strcmp(verb, "kick") == 0 && what[0] == 'c') ||
			(strcmp(verb, "drop") == 0 && what[0] == 's')
		    ? "DELETE"
		    : NULL;
		if (method == NULL)
			return ctl_usage();
		pct_encode(id, sizeof(id), argv[i + 2]);
		snprintf(path, sizeof(path), "%s/%s%s", what, id,
		    local ? "?local=true" : "");
		return transact(base, token, method, path);
	}
	return ctl_usage();
}
