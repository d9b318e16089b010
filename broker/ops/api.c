/* broker/ops/api.c: the admin API (api.h): JSON over the admin listener,
 * for operators and `ringmq ctl`.
 *
 *   GET    /api/v1/cluster                     the cluster as this node sees it
 *   POST   /api/v1/node/leave                  this node drains and leaves (SIGTERM's way)
 *   GET    /api/v1/clients?connected=&match=&user=   this node's sessions
 *   GET    /api/v1/clients/ID                  one, with its subscriptions
 *   GET    /api/v1/clients/ID/subscriptions    the same
 *   DELETE /api/v1/clients/ID                  its connection closed (kick)
 *   GET    /api/v1/sessions/ID                 the session (connected or not)
 *   DELETE /api/v1/sessions/ID                 the session ended (drop)
 *   GET    /api/v1/retained?filter=&limit=     retained messages
 *   DELETE /api/v1/retained?topic=             one deleted, on every node
 *
 * Sessions are asked of the workers (node.h's rmq_node_query), so a
 * request is answered when they have: the handler keeps NNG's aio and
 * finishes it from the workers' answer.  Identifiers in paths are
 * percent-encoded.  A request needs `Authorization: Bearer TOKEN` when
 * admin_token_file is set; without one the API answers on a loopback
 * listener only.  On a listener whose TLS requires clients' certificates
 * (admin_tls_cafile), the certificate is the credential: no token.
 */
#include <errno.h>
#include <nng/nng.h>
#include <nng/supplemental/http/http.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "admin.h"
#include "api.h"
#include "cluster.h"
#include "log.h"
#include "text.h"

#define ID_MAX 65535 /* an MQTT string's longest */

static void
reply(nng_aio *aio, uint16_t status, const char *body, size_t len)
{
	rmq_admin_reply(aio, status, "application/json", body, len);
}

static void
reply_error(nng_aio *aio, uint16_t status, const char *why)
{
	struct rmq_text t = { 0 };
	RMQ_TEXT_LIT(&t, "{\"error\":");
	rmq_text_json_str(&t, why, strlen(why));
	RMQ_TEXT_LIT(&t, "}\n");
	if (t.failed)
		nng_aio_finish(aio, NNG_ENOMEM);
	else
		reply(aio, status, t.p, t.len);
	rmq_text_free(&t);
}

/* t as the reply (500 when it could not be written whole); t freed. */
static void
reply_text(nng_aio *aio, uint16_t status, struct rmq_text *t)
{
	if (t->failed)
		reply_error(aio, 500, "out of memory");
	else
		reply(aio, status, t->p, t->len);
	rmq_text_free(t);
}

static int
hex(char c)
{
	return c >= '0' && c <= '9' ? c - '0'
	    : c >= 'a' && c <= 'f'  ? c - 'a' + 10
	    : c >= 'A' && c <= 'F'  ? c - 'A' + 10
				    : -1;
}

/* %XX decoded in place; -1 when one is broken.  '+' stays '+'. */
static long
pct_decode(char *s, size_t n)
{
	size_t o = 0;
	for (size_t i = 0; i < n; i++) {
		if (s[i] != '%') {
			s[o++] = s[i];
			continue;
		}
		if (i + 2 >= n)
			return -1;
		int hi = hex(s[i + 1]), lo = hex(s[i + 2]);
		if (hi < 0 || lo < 0)
			return -1;
		s[o++] = (char)(hi << 4 | lo);
		i += 2;
	}
	return (long)o;
}

/* The value of `key` in the query string q (decoded, malloc'd), or NULL. */
static char *
query_param(const char *q, const char *key, size_t *len)
{
	size_t k = strlen(key);
	while (q && *q) {
		const char *end = strchr(q, '&');
		size_t n = end ? (size_t)(end - q) : strlen(q);
		if (n > k && q[k] == '=' && memcmp(q, key, k) == 0) {
			char *v = strndup(q + k + 1, n - k - 1);
			long d = v ? pct_decode(v, n - k - 1) : -1;
			if (d < 0) {
				free(v);
				return NULL;
			}
			v[d] = '\0';
			*len = (size_t)d;
			return v;
		}
		q = end ? end + 1 : NULL;
	}
	return NULL;
}

/* ---- who may ask ---- */

static int
loopback(const char *host)
{
	return strncmp(host, "127.", 4) == 0 || strcmp(host, "::1") == 0 ||
	    strcmp(host, "[::1]") == 0 || strcmp(host, "localhost") == 0;
}

/* 0 when the request may go on; else the reply is sent. */
static int
api_allowed(struct rmq_api *api, nng_aio *aio, nng_http_req *req)
{
	if (api->certified)
		return 0; /* its TLS handshake checked the client's certificate */
	if (api->token[0] == '\0') {
		if (api->loopback)
			return 0;
		reply_error(aio, 403,
		    "the admin API answers on a listener that is not loopback only with admin_token_file set");
		return -1;
	}
	const char *h = nng_http_req_get_header(req, "Authorization");
	size_t want = strlen(api->token);
	unsigned diff = 1;
	if (h != NULL && strncmp(h, "Bearer ", 7) == 0 &&
	    strlen(h + 7) == want) {
		diff = 0;
		for (size_t i = 0; i < want; i++)
			diff |= (unsigned char)(h[7 + i] ^ api->token[i]);
	}
	if (diff == 0)
		return 0;
	atomic_fetch_add(&api->refused, 1);
	reply_error(aio, 401, "a token is needed: Authorization: Bearer TOKEN");
	return -1;
}

/* ---- sessions ---- */

/* A question's answers gathered: this node's and, unless the request says
 * local=true, every peer's (cluster.h's ask); the reply goes once both
 * are in. */
struct gather {
	nng_aio *aio;
	struct rmq_api *api;
	enum rmq_query_op op;
	pthread_mutex_t mu;
	int left; /* this node's answer, the peers' */
	int found, failed, truncated;
	unsigned asked, answered;
	struct rmq_text items;
	char *id; /* for KICK's and DROP's reply */
	size_t id_len;
};

static void
gather_add(struct gather *g, int found, const char *json, size_t len)
{
	pthread_mutex_lock(&g->mu);
	if (found < 0) {
		g->failed = 1;
	} else {
		if (found & RMQ_QUERY_TRUNCATED)
			g->truncated = 1;
		found &= ~RMQ_QUERY_TRUNCATED;
		/* SHOW: the first node's (an identifier has one session in
		 * the cluster but after a partition, until it is resolved). */
		if (found && json && len &&
		    (g->op == RMQ_QUERY_LIST || g->found == 0)) {
			if (g->items.len)
				RMQ_TEXT_LIT(&g->items, ",");
			rmq_text_put(&g->items, json, len);
		}
		g->found += found;
	}
	pthread_mutex_unlock(&g->mu);
}

static void
gather_reply(struct gather *g)
{
	struct rmq_text t = { 0 };
	if (g->failed || g->items.failed) {
		reply_error(g->aio, 500, "out of memory");
	} else if (g->op == RMQ_QUERY_LIST) {
		rmq_text_printf(&t,
		    "{\"nodes_asked\":%u,\"nodes_answered\":%u,\"count\":%d,"
		    "\"truncated\":%s,\"clients\":[",
		    g->asked + 1, g->answered + 1, g->found,
		    g->truncated ? "true" : "false");
		if (g->items.len)
			rmq_text_put(&t, g->items.p, g->items.len);
		RMQ_TEXT_LIT(&t, "]}\n");
	} else if (g->found == 0) {
		reply_error(g->aio, 404,
		    g->op == RMQ_QUERY_SHOW
			? "no session of that client identifier in the cluster"
			: "no session of that client identifier in the cluster, or it is connecting or moving");
	} else if (g->op == RMQ_QUERY_SHOW) {
		rmq_text_put(&t, g->items.p, g->items.len);
		RMQ_TEXT_LIT(&t, "\n");
	} else {
		RMQ_TEXT_LIT(&t, "{\"client_id\":");
		rmq_text_json_str(&t, g->id, g->id_len);
		rmq_text_printf(&t, ",\"%s\":true,\"sessions\":%d}\n",
		    g->op == RMQ_QUERY_KICK ? "kicked" : "dropped", g->found);
	}
	if (t.failed)
		reply_error(g->aio, 500, "out of memory");
	else if (t.len)
		reply(g->aio, 200, t.p, t.len);
	rmq_text_free(&t);
	rmq_text_free(&g->items);
	pthread_mutex_destroy(&g->mu);
	free(g->id);
	free(g);
}

static void
gather_part_done(struct gather *g)
{
	pthread_mutex_lock(&g->mu);
	int last = --g->left == 0;
	pthread_mutex_unlock(&g->mu);
	if (last)
		gather_reply(g);
}

static void
local_answered(void *arg, int found, char *json, size_t len)
{
	gather_add(arg, found, json, len);
	free(json);
	gather_part_done(arg);
}

static void
peer_answered(void *arg, const char *node, int found, const char *json,
    size_t len)
{
	(void)node; /* each session says its node */
	gather_add(arg, found, json, len);
}

static void
peers_done(void *arg, unsigned asked, unsigned answered)
{
	struct gather *g = arg;
	pthread_mutex_lock(&g->mu);
	g->asked = asked;
	g->answered = answered;
	pthread_mutex_unlock(&g->mu);
	gather_part_done(g);
}

static void
ask(struct rmq_api *api, nng_aio *aio, struct rmq_query_args *a, int local)
{
	const struct rmq_cluster_hooks *c = api->b->cluster;
	int peers = !local && c != NULL && c->ask != NULL;
	size_t cap = 16 + a->id_len + a->match_len + a->user_len;
	uint8_t *req = peers ? malloc(cap) : NULL;
	size_t rlen = req ? rmq_query_encode(a, req, cap) : 0;
	struct gather *g = calloc(1, sizeof(*g));
	if (g != NULL && a->id_len && (g->id = malloc(a->id_len)) == NULL) {
		free(g);
		g = NULL;
	}
	if (g == NULL) {
		free(req);
		reply_error(aio, 500, "out of memory");
		return;
	}
	if (a->id_len)
		memcpy(g->id, a->id, a->id_len);
	g->id_len = a->id_len;
	g->aio = aio;
	g->api = api;
	g->op = a->op;
	g->left = rlen ? 2 : 1;
	pthread_mutex_init(&g->mu, NULL);
	a->node = api->node;
	if (rlen)
		c->ask(c->ctx, req, rlen, peer_answered, peers_done, g);
	free(req);
	if (rmq_node_query(api->b, a, local_answered, g) != 0) {
		gather_add(g, -ENOMEM, NULL, 0);
		gather_part_done(g);
	}
}

/* ?local=true: this node's sessions only. */
static int
local_only(const char *query)
{
	size_t n = 0;
	char *v = query_param(query, "local", &n);
	int local = v != NULL && strcmp(v, "true") == 0;
	free(v);
	return local;
}

/* GET /api/v1/clients?connected=true|false&match=S&user=U&local=true */
static void
list_clients(struct rmq_api *api, nng_aio *aio, const char *query)
{
	struct rmq_query_args a = { .op = RMQ_QUERY_LIST, .connected = -1 };
	size_t n = 0;
	char *connected = query_param(query, "connected", &n);
	char *match = query_param(query, "match", &a.match_len);
	char *user = query_param(query, "user", &a.user_len);
	if (connected != NULL)
		a.connected = strcmp(connected, "true") == 0 ? 1
		    : strcmp(connected, "false") == 0        ? 0
							     : -2;
	a.match = match;
	a.user = user;
	if (a.connected == -2)
		reply_error(aio, 400, "connected is true or false");
	else
		ask(api, aio, &a, local_only(query));
	free(connected);
	free(match);
	free(user);
}

/* ---- retained messages: every node holds every one (but $ topics), so
 * this node answers for the cluster ---- */

#define RETAINED_LIMIT_MAX 10000

/* GET /api/v1/retained?filter=F&limit=N */
static void
list_retained(struct rmq_api *api, nng_aio *aio, const char *query)
{
	size_t flen = 1, n = 0;
	char *filter = query_param(query, "filter", &flen);
	char *lim = query_param(query, "limit", &n);
	char *end = NULL;
	unsigned long limit = lim ? strtoul(lim, &end, 10) : 1000;
	int bad = (lim && (*end || limit == 0 || limit > RETAINED_LIMIT_MAX)) ||
	    (filter && flen == 0);
	free(lim);
	if (bad) {
		free(filter);
		reply_error(aio, 400,
		    "filter is a topic filter; limit is 1 to 10000");
		return;
	}
	struct rmq_text items = { 0 }, t = { 0 };
	size_t found = rmq_node_retained_json(api->b, filter ? filter : "#",
	    filter ? flen : 1, limit, &items);
	rmq_text_printf(&t, "{\"count\":%zu,\"truncated\":%s,\"retained\":[",
	    found, found > limit ? "true" : "false");
	if (items.len)
		rmq_text_put(&t, items.p, items.len);
	RMQ_TEXT_LIT(&t, "]}\n");
	t.failed |= items.failed;
	rmq_text_free(&items);
	reply_text(aio, 200, &t);
	free(filter);
}

/* DELETE /api/v1/retained?topic=T */
static void
delete_retained(struct rmq_api *api, nng_aio *aio, const char *query)
{
	size_t len = 0;
	char *topic = query_param(query, "topic", &len);
	int rc = topic ? rmq_node_retained_delete(api->b, topic, len) : -EINVAL;
	if (rc == 0) {
		struct rmq_text t = { 0 };
		RMQ_TEXT_LIT(&t, "{\"topic\":");
		rmq_text_json_str(&t, topic, len);
		RMQ_TEXT_LIT(&t, ",\"deleted\":true}\n");
		reply_text(aio, 200, &t);
	} else {
		reply_error(aio,
		    rc == -ENOENT       ? 404
			: rc == -EINVAL ? 400
					: 500,
		    rc == -ENOENT       ? "no retained message on that topic"
			: rc == -EINVAL ? "topic is a topic name (no wildcards)"
					: "out of memory");
	}
	free(topic);
}

/* ---- the tree ---- */

static void
text_put(void *arg, const char *p, size_t len)
{
	rmq_text_put(arg, p, len);
}

static void
api_handle(nng_aio *aio)
{
	nng_http_req *req = nng_aio_get_input(aio, 0);
	nng_http_handler *h = nng_aio_get_input(aio, 1);
	struct rmq_api *api = nng_http_handler_get_data(h);
	const char *method = nng_http_req_get_method(req);
	const char *uri = nng_http_req_get_uri(req);
	if (api_allowed(api, aio, req) != 0)
		return;
	atomic_fetch_add(&api->requests, 1);
	/* The path after /api/v1/, and the query. */
	const char *path = uri + strlen(RMQ_API_PREFIX);
	const char *q = strchr(path, '?');
	size_t plen = q ? (size_t)(q - path) : strlen(path);
	q = q ? q + 1 : "";
	int get = strcmp(method, "GET") == 0;
	int del = strcmp(method, "DELETE") == 0;
	int post = strcmp(method, "POST") == 0;
	if (!get && !del && !post) {
		reply_error(aio, 405, "GET, POST or DELETE");
		return;
	}
	int cluster = plen == 7 && memcmp(path, "cluster", 7) == 0;
	int leave = plen == 10 && memcmp(path, "node/leave", 10) == 0;
	int list = plen == 7 && memcmp(path, "clients", 7) == 0;
	if ((cluster && !get) || (leave && !post) || (list && !get)) {
		reply_error(aio, 405, leave ? "POST only" : "GET only");
		return;
	}
	if (cluster) {
		const struct rmq_cluster_hooks *c = api->b->cluster;
		struct rmq_text t = { 0 };
		if (c == NULL || c->status == NULL) {
			RMQ_TEXT_LIT(&t, "{\"node\":");
			rmq_text_json_str(&t, api->node, strlen(api->node));
			RMQ_TEXT_LIT(&t, ",\"cluster\":false}");
		} else {
			c->status(c->ctx, text_put, &t);
		}
		RMQ_TEXT_LIT(&t, "\n");
		reply_text(aio, 200, &t);
		return;
	}
	if (leave) {
		static const char ok[] = "{\"leaving\":true}\n";
		rmq_log(RMQ_LOG_NOTICE,
		    "the admin API asks this node to leave: it drains and stops, as at SIGTERM");
		reply(aio, 202, ok, sizeof(ok) - 1);
		kill(getpid(), SIGTERM);
		return;
	}
	if (list) {
		list_clients(api, aio, q);
		return;
	}
	if (plen == 8 && memcmp(path, "retained", 8) == 0) {
		if (get)
			list_retained(api, aio, q);
		else if (del)
			delete_retained(api, aio, q);
		else
			reply_error(aio, 405, "GET or DELETE");
		return;
	}
	/* clients/ID, clients/ID/subscriptions, sessions/ID */
	int clients = plen > 8 && memcmp(path, "clients/", 8) == 0;
	int sessions = plen > 9 && memcmp(path, "sessions/", 9) == 0;
	if (!clients && !sessions) {
		reply_error(aio, 404, "no such endpoint");
		return;
	}
	const char *id = path + (clients ? 8 : 9);
	size_t idn = plen - (size_t)(id - path);
	int subs = 0;
	if (clients && idn > 14 &&
	    memcmp(id + idn - 14, "/subscriptions", 14) == 0) {
		subs = 1;
		idn -= 14;
	}
	/* One segment: a '/' of the identifier comes as %2F. */
	char *dec = idn <= 3 * ID_MAX && !memchr(id, '/', idn)
	    ? strndup(id, idn)
	    : NULL;
	long dn = dec ? pct_decode(dec, idn) : -1;
	if (dn <= 0 || dn > ID_MAX) {
		free(dec);
		reply_error(aio, 400,
		    "a client identifier, percent-encoded, is needed");
		return;
	}
	struct rmq_query_args a = { .id = dec, .id_len = (size_t)dn };
	if (get)
		a.op = RMQ_QUERY_SHOW;
	else if (del && !subs)
		a.op = clients ? RMQ_QUERY_KICK : RMQ_QUERY_DROP;
	else {
		free(dec);
		reply_error(aio, 405, "not with this method");
		return;
	}
	ask(api, aio, &a, local_only(q));
	free(dec);
}

int
rmq_api_init(struct rmq_api *api, struct rmq_broker *b, char *err,
    size_t errlen)
{
	memset(api, 0, sizeof(*api));
	api->b = b;
	api->loopback = loopback(b->cfg.admin.host);
	if (b->cfg.node_name[0])
		snprintf(api->node, sizeof(api->node), "%s", b->cfg.node_name);
	else if (gethostname(api->node, sizeof(api->node) - 1) != 0)
		snprintf(api->node, sizeof(api->node), "ringmq");
	const char *path = b->cfg.admin_token_file;
	if (path[0] == '\0')
		return 0;
	FILE *f = fopen(path, "r");
	if (f == NULL) {
		snprintf(err, errlen, "admin_token_file %s: %s", path,
		    strerror(errno));
		return -EINVAL;
	}
	char line[sizeof(api->token) + 2] = "";
	if (fgets(line, sizeof(line), f) == NULL)
		line[0] = '\0';
	fclose(f);
	line[strcspn(line, "\r\n")] = '\0';
	if (strlen(line) < 16 || strlen(line) >= sizeof(api->token)) {
		snprintf(err, errlen,
		    "admin_token_file %s: its first line is the token, 16 to %zu characters",
		    path, sizeof(api->token) - 1);
		return -EINVAL;
	}
	snprintf(api->token, sizeof(api->token), "%s", line);
	explicit_bzero(line, sizeof(line));
	return 0;
}

void
rmq_api_metrics(struct rmq_api *api, struct rmq_text *t)
{
	rmq_text_printf(t,
	    "# HELP ringmq_admin_api_requests_total Requests the admin API took (past the token check).\n"
	    "# TYPE ringmq_admin_api_requests_total counter\n"
	    "ringmq_admin_api_requests_total %llu\n"
	    "# HELP ringmq_admin_api_refused_total Requests the admin API refused: no token, or a wrong one (401).\n"
	    "# TYPE ringmq_admin_api_refused_total counter\n"
	    "ringmq_admin_api_refused_total %llu\n",
	    (unsigned long long)atomic_load(&api->requests),
	    (unsigned long long)atomic_load(&api->refused));
}

int
rmq_api_add(struct rmq_api *api, void *server)
{
	nng_http_handler *h;
	int rv;
	if ((rv = nng_http_handler_alloc(&h, "/api/v1", api_handle)) != 0)
		return rv;
	nng_http_handler_set_method(h, NULL); /* api_handle looks */
	nng_http_handler_set_tree(h);
	nng_http_handler_collect_body(h, true, 4096);
	nng_http_handler_set_data(h, api, NULL);
	if ((rv = nng_http_server_add_handler(server, h)) != 0)
		nng_http_handler_free(h);
	return rv;
}
