/* broker/options.c: what the configuration keys mean.
 *
 * One table of keys, shared by the configuration file and the RINGMQ_*
 * environment variables, so both accept the same things with the same
 * checks.  The common Mosquitto directives are understood, so a
 * mosquitto.conf mostly just works; a directive whose feature has not
 * landed yet is refused as "not supported yet", never ignored, and an
 * unknown key or a bad value stops the start with the file and line.
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf.h"
#include "config.h"
#include "log.h"
#include "options.h"

struct config_ctx {
	struct rmq_config *cfg;
	int listeners_set; /* the first listener line replaces the default */
	int log_type_set; /* the first log_type line replaces the default */
};

static int
config_u64(const char *s, unsigned long long min, unsigned long long max,
    unsigned long long *out)
{
	char *end;
	if (*s == '\0' || *s == '-')
		return -1;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno || *end != '\0' || v < min || v > max)
		return -1;
	*out = v;
	return 0;
}

static int
config_bool(const char *s, int *out)
{
	if (strcmp(s, "true") == 0) {
		*out = 1;
		return 0;
	}
	if (strcmp(s, "false") == 0) {
		*out = 0;
		return 0;
	}
	return -1;
}

static int
config_listener(struct config_ctx *c, const struct rmq_conf_line *l, char *err,
    size_t errlen)
{
	struct rmq_config *cfg = c->cfg;
	unsigned long long port;
	if (config_u64(l->args[0], 0, 65535, &port) != 0) {
		snprintf(err, errlen, "%s: '%s' is not a port (0 to 65535)",
		    l->key, l->args[0]);
		return -1;
	}
	if (!c->listeners_set) {
		cfg->nlisteners = 0;
		c->listeners_set = 1;
	}
	if (cfg->nlisteners == RMQ_MAX_LISTENERS) {
		snprintf(err, errlen, "%s: more than %d listeners", l->key,
		    RMQ_MAX_LISTENERS);
		return -1;
	}
	struct rmq_listen_addr *a = &cfg->listeners[cfg->nlisteners];
	/* As in Mosquitto: without an address, every interface. */
	const char *host = l->nargs > 1 ? l->args[1] : "";
	if (strlen(host) >= sizeof(a->host)) {
		snprintf(err, errlen, "%s: address too long", l->key);
		return -1;
	}
	snprintf(a->host, sizeof(a->host), "%s", host);
	a->port = (uint16_t)port;
	cfg->nlisteners++;
	return 0;
}

/* Keys of features that are not built yet: refused, with what brings
 * them. */
static const struct {
	const char *key;
	const char *accepted; /* the one value that matches today's
			       * behaviour, or NULL */
	const char *feature;
} config_later[] = {
	{ "allow_anonymous", "true", "authentication" },
	{ "password_file", NULL, "authentication" },
	{ "acl_file", NULL, "access control" },
	{ "psk_file", NULL, "TLS" },
	{ "certfile", NULL, "TLS" },
	{ "keyfile", NULL, "TLS" },
	{ "cafile", NULL, "TLS" },
	{ "capath", NULL, "TLS" },
	{ "require_certificate", "false", "TLS" },
	{ "use_identity_as_username", "false", "TLS" },
	{ "tls_version", NULL, "TLS" },
	{ "protocol", "mqtt", "WebSocket listeners" },
	{ "persistence", "false", "persistence" },
	{ "persistence_location", NULL, "persistence" },
	{ "persistence_file", NULL, "persistence" },
	{ "autosave_interval", NULL, "persistence" },
	{ "fsync", NULL, "persistence" },
	{ "persistent_client_expiration", NULL, "persistence" },
	{ "cluster_seeds", NULL, "clustering" },
	{ "cluster_dns", NULL, "clustering" },
};

/* Numeric keys: where the value goes and its range.  Mosquitto's "0 means
 * no limit" is kept where Mosquitto has it. */
enum config_field {
	F_THREADS,
	F_MAX_PACKET,
	F_MAX_QUEUED,
	F_MAX_QUEUED_BYTES,
	F_MAX_INFLIGHT,
	F_MAX_CONNECTIONS,
	F_CONNECT_TIMEOUT,
	F_TOPIC_ALIAS_MAX,
	F_RECEIVE_MAX,
	F_MAX_SESSION_EXPIRY,
	F_SYS_INTERVAL,
	F_MAX_KEEPALIVE,
	F_SHUTDOWN_GRACE,
	F_MAX_QOS,
};

static const struct {
	const char *key;
	enum config_field field;
	long long min, max; /* min -1: -1 means no limit (Mosquitto) */
	int zero_unlimited;
} config_numbers[] = {
	{ "threads", F_THREADS, 1, RMQ_MAX_WORKERS, 0 },
	{ "max_packet_size", F_MAX_PACKET, 0, 268435460, 1 },
	{ "max_queued_messages", F_MAX_QUEUED, 0, 100000000, 1 },
	{ "max_queued_bytes", F_MAX_QUEUED_BYTES, 0, (1ll << 40), 1 },
	{ "max_inflight_messages", F_MAX_INFLIGHT, 0, RMQ_MAX_INFLIGHT, 1 },
	{ "max_connections", F_MAX_CONNECTIONS, -1, 100000000, 0 },
	{ "connect_timeout", F_CONNECT_TIMEOUT, 100, 3600000, 0 },
	{ "topic_alias_maximum", F_TOPIC_ALIAS_MAX, 0, 65535, 0 },
	{ "receive_maximum", F_RECEIVE_MAX, 1, 65535, 0 },
	{ "max_session_expiry", F_MAX_SESSION_EXPIRY, 0, 4294967294ll, 0 },
	{ "sys_interval", F_SYS_INTERVAL, 0, 86400, 0 },
	{ "max_keepalive", F_MAX_KEEPALIVE, 0, 65535, 0 },
	{ "shutdown_grace", F_SHUTDOWN_GRACE, 0, 3600, 0 },
	{ "max_qos", F_MAX_QOS, 0, 2, 0 },
};

static void
config_set_number(struct rmq_config *cfg, enum config_field f, long long v,
    int unlimited)
{
	switch (f) {
	case F_THREADS: cfg->threads = (unsigned)v; break;
	case F_MAX_PACKET:
		cfg->max_packet_size = unlimited ? 268435460u : (uint32_t)v;
		break;
	case F_MAX_QUEUED:
		cfg->max_queued = unlimited ? 100000000u : (uint32_t)v;
		break;
	case F_MAX_QUEUED_BYTES:
		cfg->max_queued_bytes = unlimited ? UINT64_MAX : (uint64_t)v;
		break;
	case F_MAX_INFLIGHT:
		cfg->max_inflight = unlimited ? RMQ_MAX_INFLIGHT : (uint16_t)v;
		break;
	case F_MAX_CONNECTIONS:
		cfg->max_connections = v < 0 ? 0 : (uint32_t)v;
		break;
	case F_CONNECT_TIMEOUT: cfg->connect_timeout_ms = (uint32_t)v; break;
	case F_TOPIC_ALIAS_MAX: cfg->topic_alias_max = (uint16_t)v; break;
	case F_RECEIVE_MAX: cfg->receive_maximum = (uint16_t)v; break;
	case F_MAX_SESSION_EXPIRY: cfg->max_session_expiry = (uint32_t)v; break;
	case F_SYS_INTERVAL: cfg->sys_interval = (uint32_t)v; break;
	case F_MAX_KEEPALIVE: cfg->max_keepalive = (uint16_t)v; break;
	case F_SHUTDOWN_GRACE:
		cfg->shutdown_grace_ms = (uint32_t)v * 1000u;
		break;
	case F_MAX_QOS: cfg->max_qos = (uint8_t)v; break;
	}
}

static int
config_apply(void *ctx, const struct rmq_conf_line *l, char *err, size_t errlen)
{
	struct config_ctx *c = ctx;
	struct rmq_config *cfg = c->cfg;
	const char *k = l->key;
	int b;

	for (size_t i = 0;
	     i < sizeof(config_numbers) / sizeof(config_numbers[0]); i++) {
		if (strcmp(k, config_numbers[i].key) != 0)
			continue;
		long long v;
		unsigned long long u;
		if (l->nargs != 1)
			goto one_value;
		if (config_numbers[i].min < 0 && strcmp(l->args[0], "-1") == 0)
			v = -1;
		else if (config_u64(l->args[0],
			     config_numbers[i].min < 0
				 ? 0
				 : (unsigned long long)config_numbers[i].min,
			     (unsigned long long)config_numbers[i].max,
			     &u) == 0)
			v = (long long)u;
		else {
			snprintf(err, errlen,
			    "%s: '%s' is not a whole number from %lld to %lld",
			    k, l->args[0], config_numbers[i].min,
			    config_numbers[i].max);
			return -1;
		}
		config_set_number(cfg, config_numbers[i].field, v,
		    config_numbers[i].zero_unlimited && v == 0);
		return 0;
	}
	for (size_t i = 0; i < sizeof(config_later) / sizeof(config_later[0]);
	     i++) {
		if (strcmp(k, config_later[i].key) != 0)
			continue;
		if (config_later[i].accepted && l->nargs == 1 &&
		    strcmp(l->args[0], config_later[i].accepted) == 0)
			return 0; /* what ringmq does anyway */
		snprintf(err, errlen,
		    "%s: not supported yet (%s is not built in this version)",
		    k, config_later[i].feature);
		return -1;
	}
	if (strcmp(k, "listener") == 0 || strcmp(k, "port") == 0) {
		if (l->nargs < 1 || l->nargs > 2 ||
		    (strcmp(k, "port") == 0 && l->nargs != 1)) {
			snprintf(err, errlen, "%s: expected PORT%s", k,
			    strcmp(k, "port") == 0 ? "" : " [ADDRESS]");
			return -1;
		}
		return config_listener(c, l, err, errlen);
	}
	if (strcmp(k, "admin_listener") == 0) {
		if (l->nargs != 1)
			goto one_value;
		if (rmq_options_hostport(l->args[0], &cfg->admin) != 0) {
			snprintf(err, errlen,
			    "%s: '%s' is not ADDRESS:PORT or none", k,
			    l->args[0]);
			return -1;
		}
		return 0;
	}
	if (strcmp(k, "response_information") == 0) {
		if (l->nargs != 1)
			goto one_value;
		const char *v =
		    strcmp(l->args[0], "none") == 0 ? "" : l->args[0];
		if (strlen(v) >= sizeof(cfg->response_info)) {
			snprintf(err, errlen, "%s: longer than %zu bytes", k,
			    sizeof(cfg->response_info) - 1);
			return -1;
		}
		snprintf(cfg->response_info, sizeof(cfg->response_info), "%s",
		    v);
		return 0;
	}
	if (strcmp(k, "bind_address") == 0) {
		if (l->nargs != 1)
			goto one_value;
		struct rmq_listen_addr *a = &cfg->listeners[0];
		if (strlen(l->args[0]) >= sizeof(a->host)) {
			snprintf(err, errlen, "%s: address too long", k);
			return -1;
		}
		snprintf(a->host, sizeof(a->host), "%s", l->args[0]);
		return 0;
	}
	if (strcmp(k, "cpu_affinity") == 0) {
		if (l->nargs != 1)
			goto one_value;
		if (rmq_affinity_parse(l->args[0], &cfg->cpu_affinity,
			&cfg->cpu_list) != 0) {
			snprintf(err, errlen,
			    "%s: '%s' is not auto, none or a CPU list such as 0-3,8",
			    k, l->args[0]);
			return -1;
		}
		return 0;
	}
	if (strcmp(k, "connection_placement") == 0) {
		if (l->nargs != 1)
			goto one_value;
		if (rmq_placement_parse(l->args[0], &cfg->placement) != 0) {
			snprintf(err, errlen, "%s: '%s' is not cpu or hash", k,
			    l->args[0]);
			return -1;
		}
		return 0;
	}
	if (strcmp(k, "io_backend") == 0) {
		if (l->nargs != 1)
			goto one_value;
		if (strcmp(l->args[0], "auto") == 0)
			cfg->loop = RMQ_LOOP_AUTO;
		else if (strcmp(l->args[0], "uring") == 0)
			cfg->loop = RMQ_LOOP_URING;
		else if (strcmp(l->args[0], "uv") == 0)
			cfg->loop = RMQ_LOOP_UV;
		else {
			snprintf(err, errlen,
			    "%s: '%s' is not auto, uring or uv", k, l->args[0]);
			return -1;
		}
		return 0;
	}
	int *flag = strcmp(k, "retain_available") == 0 ? &cfg->retain_available
	    : strcmp(k, "allow_zero_length_clientid") == 0
	    ? &cfg->allow_zero_length_clientid
	    : strcmp(k, "connection_messages") == 0 ? &cfg->connection_messages
						    : NULL;
	if (flag) {
		if (l->nargs != 1 || config_bool(l->args[0], &b) != 0) {
			snprintf(err, errlen, "%s: expected true or false", k);
			return -1;
		}
		*flag = b;
		return 0;
	}
	if (strcmp(k, "log_level") == 0) {
		if (l->nargs != 1)
			goto one_value;
		int lv = rmq_log_level_parse(l->args[0]);
		if (lv < 0) {
			snprintf(err, errlen,
			    "%s: '%s' is not error, warning, notice, info or debug",
			    k, l->args[0]);
			return -1;
		}
		cfg->log_level = lv;
		return 0;
	}
	if (strcmp(k, "log_type") == 0) {
		/* Mosquitto's: one line per kind wanted; the most verbose
		 * kind named sets the level. */
		static const struct {
			const char *type;
			int level;
		} types[] = { { "none", RMQ_LOG_ERROR },
			{ "error", RMQ_LOG_ERROR },
			{ "warning", RMQ_LOG_WARNING },
			{ "notice", RMQ_LOG_NOTICE },
			{ "information", RMQ_LOG_INFO },
			{ "subscribe", RMQ_LOG_DEBUG },
			{ "unsubscribe", RMQ_LOG_DEBUG },
			{ "debug", RMQ_LOG_DEBUG }, { "all", RMQ_LOG_DEBUG } };
		if (l->nargs != 1)
			goto one_value;
		for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
			if (strcmp(l->args[0], types[i].type) != 0)
				continue;
			if (!c->log_type_set || types[i].level > cfg->log_level)
				cfg->log_level = types[i].level;
			c->log_type_set = 1;
			return 0;
		}
		snprintf(err, errlen, "%s: unknown log type '%s'", k,
		    l->args[0]);
		return -1;
	}
	if (strcmp(k, "log_format") == 0) {
		if (l->nargs != 1)
			goto one_value;
		int f = rmq_log_format_parse(l->args[0]);
		if (f < 0) {
			snprintf(err, errlen, "%s: '%s' is not text or json", k,
			    l->args[0]);
			return -1;
		}
		cfg->log_format = f;
		return 0;
	}
	if (strcmp(k, "log_dest") == 0) {
		if (l->nargs == 1 && strcmp(l->args[0], "stderr") == 0)
			return 0;
		snprintf(err, errlen, "%s: only stderr is supported", k);
		return -1;
	}
	snprintf(err, errlen, "unknown key '%s'", k);
	return -1;
one_value:
	snprintf(err, errlen, "%s: expected one value", k);
	return -1;
}

int
rmq_options_hostport(const char *s, struct rmq_listen_addr *a)
{
	if (strcmp(s, "none") == 0) {
		a->host[0] = '\0';
		a->port = 0;
		return 0;
	}
	const char *colon = strrchr(s, ':');
	unsigned long long port;
	if (colon == NULL || colon == s ||
	    (size_t)(colon - s) >= sizeof(a->host) ||
	    config_u64(colon + 1, 0, 65535, &port) != 0)
		return -1;
	memcpy(a->host, s, (size_t)(colon - s));
	a->host[colon - s] = '\0';
	a->port = (uint16_t)port;
	return 0;
}

int
rmq_options_load_text(struct rmq_config *cfg, const char *file,
    const char *text, size_t len, char *err, size_t errlen)
{
	struct config_ctx c = { .cfg = cfg };
	return rmq_conf_parse(file, text, len, config_apply, &c, err, errlen);
}

int
rmq_options_load_file(struct rmq_config *cfg, const char *path, char *err,
    size_t errlen)
{
	FILE *f = fopen(path, "rb");
	if (f == NULL) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -errno;
	}
	char *text = NULL;
	size_t len = 0, cap = 0, n;
	char chunk[8192];
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0) {
		if (len + n > cap) {
			cap = (len + n) * 2;
			char *t = realloc(text, cap);
			if (t == NULL) {
				free(text);
				fclose(f);
				snprintf(err, errlen, "%s: out of memory",
				    path);
				return -ENOMEM;
			}
			text = t;
		}
		memcpy(text + len, chunk, n);
		len += n;
	}
	int rc = ferror(f) ? -EIO : 0;
	fclose(f);
	if (rc == 0)
		rc = rmq_options_load_text(cfg, path, text ? text : "", len,
		    err, errlen);
	else
		snprintf(err, errlen, "%s: read error", path);
	free(text);
	return rc;
}

int
rmq_options_load_env(struct rmq_config *cfg, char **envp, char *err,
    size_t errlen)
{
	struct config_ctx c = { .cfg = cfg };
	for (char **e = envp; *e; e++) {
		if (strncmp(*e, "RINGMQ_", 7) != 0)
			continue;
		const char *eq = strchr(*e, '=');
		if (eq == NULL)
			continue;
		/* RINGMQ_MAX_QUEUED_MESSAGES=10 is "max_queued_messages 10". */
		char line[1024];
		size_t klen = (size_t)(eq - *e) - 7;
		if (klen + 1 + strlen(eq + 1) + 1 > sizeof(line)) {
			snprintf(err, errlen, "environment: %.*s: too long",
			    (int)(eq - *e), *e);
			return -EINVAL;
		}
		for (size_t i = 0; i < klen; i++)
			line[i] = (char)tolower((unsigned char)(*e)[7 + i]);
		line[klen] = ' ';
		strcpy(line + klen + 1, eq + 1);
		char label[160];
		snprintf(label, sizeof(label), "environment %.*s",
		    (int)(eq - *e), *e);
		int rc = rmq_conf_parse(label, line, strlen(line), config_apply,
		    &c, err, errlen);
		if (rc != 0)
			return rc;
	}
	return 0;
}
