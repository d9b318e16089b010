/* broker/options.c: the option table, every setting of ringmq in one row
 * (options.h), and the parsers of its types.
 *
 * The configuration file, the RINGMQ_* environment and the command line
 * all read these rows (options_load.c), and --help and the key tables of
 * docs/configuration.md are written from them (options_help.c), so a
 * setting has one name, one set of bounds and one default everywhere.
 * Mosquitto's keys keep Mosquitto's names and meanings; a key whose
 * feature has not landed yet is refused as "not supported yet", never
 * ignored, but for the one value that matches what ringmq does anyway.
 */
#include <ctype.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "log.h"
#include "options.h"

/* Where a value lives: one member of struct rmq_config, or members
 * first to last. */
#define FIELD(f)                                                               \
	{                                                                      \
		offsetof(struct rmq_config, f),                                \
		    sizeof(((struct rmq_config *)0)->f)                        \
	}
#define SPAN(first, last)                                                      \
	{                                                                      \
		offsetof(struct rmq_config, first),                            \
		    offsetof(struct rmq_config, last) +                        \
		    sizeof(((struct rmq_config *)0)->last) -                   \
		    offsetof(struct rmq_config, first)                         \
	}

/* The same for a listener's setting (RMQ_OPT_PER_LISTENER). */
#define LFIELD(f)                                                              \
	{                                                                      \
		offsetof(struct rmq_listen_addr, f),                           \
		    sizeof(((struct rmq_listen_addr *)0)->f)                   \
	}

/* Where a row's value goes: struct rmq_config, or for a listener's
 * setting the listener the latest `listener` line made (the first one
 * before any). */
static void *
opt_field(const struct rmq_option *o, struct rmq_opt_ctx *c)
{
	if (o->bits & RMQ_OPT_PER_LISTENER) {
		struct rmq_config *cfg = c->cfg;
		unsigned i = cfg->nlisteners ? cfg->nlisteners - 1 : 0;
		return (char *)&cfg->listeners[i] + o->at.offset;
	}
	return (char *)c->cfg + o->at.offset;
}

static void
opt_store(void *p, size_t size, unsigned long long v)
{
	switch (size) {
	case 1: *(uint8_t *)p = (uint8_t)v; break;
	case 2: *(uint16_t *)p = (uint16_t)v; break;
	case 4: *(uint32_t *)p = (uint32_t)v; break;
	default: *(uint64_t *)p = (uint64_t)v; break;
	}
}

/* A whole number from min to max (no sign, no blanks). */
static int
opt_u64(const char *s, unsigned long long min, unsigned long long max,
    unsigned long long *out)
{
	char *end;
	if (!isdigit((unsigned char)*s))
		return -1;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno || *end != '\0' || v < min || v > max)
		return -1;
	*out = v;
	return 0;
}

static int
opt_set_bool(const struct rmq_option *o, struct rmq_opt_ctx *c, unsigned nargs,
    const char *const *args, char *err, size_t errlen)
{
	(void)nargs, (void)err, (void)errlen;
	int *p = opt_field(o, c);
	if (strcmp(args[0], "true") == 0)
		*p = 1;
	else if (strcmp(args[0], "false") == 0)
		*p = 0;
	else
		return RMQ_OPT_BAD;
	return 0;
}

static int
opt_set_int(const struct rmq_option *o, struct rmq_opt_ctx *c, unsigned nargs,
    const char *const *args, char *err, size_t errlen)
{
	(void)nargs, (void)err, (void)errlen;
	unsigned long long v;
	if ((o->bits & RMQ_OPT_MINUS1_NOLIMIT) && strcmp(args[0], "-1") == 0)
		v = o->nolimit;
	else if ((o->bits & RMQ_OPT_ZERO_NOLIMIT) &&
	    opt_u64(args[0], 0, 0, &v) == 0)
		v = o->nolimit;
	else if (opt_u64(args[0], (unsigned long long)o->min,
		     (unsigned long long)o->max, &v) == 0)
		v *= o->scale ? o->scale : 1;
	else
		return RMQ_OPT_BAD;
	opt_store(opt_field(o, c), o->at.size, v);
	return 0;
}

static int
opt_set_enum(const struct rmq_option *o, struct rmq_opt_ctx *c, unsigned nargs,
    const char *const *args, char *err, size_t errlen)
{
	(void)nargs, (void)err, (void)errlen;
	for (unsigned i = 0; o->names[i]; i++) {
		if (strcmp(args[0], o->names[i]) == 0) {
			opt_store(opt_field(o, c), o->at.size, i);
			return 0;
		}
	}
	return RMQ_OPT_BAD;
}

/* The words joined by one blank (a value that runs to the end of the
 * line: a path, a strftime format). */
static int
opt_join(const struct rmq_option *o, unsigned nargs, const char *const *args,
    char *out, size_t len, char *err, size_t errlen)
{
	size_t n = 0;
	out[0] = '\0';
	for (unsigned i = 0; i < nargs; i++) {
		int k =
		    snprintf(out + n, len - n, "%s%s", i ? " " : "", args[i]);
		if (k < 0 || (size_t)k >= len - n) {
			snprintf(err, errlen, "longer than %zu bytes", len - 1);
			return -1;
		}
		n += (size_t)k;
	}
	(void)o;
	return 0;
}

static int
opt_set_string(const struct rmq_option *o, struct rmq_opt_ctx *c,
    unsigned nargs, const char *const *args, char *err, size_t errlen)
{
	char *p = opt_field(o, c);
	char v[4096];
	if (opt_join(o, nargs, args, v,
		o->at.size < sizeof(v) ? o->at.size : sizeof(v), err,
		errlen) != 0)
		return -1;
	memset(p, 0, o->at.size);
	memcpy(p, v, strlen(v));
	return 0;
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
	    opt_u64(colon + 1, 0, 65535, &port) != 0)
		return -1;
	memcpy(a->host, s, (size_t)(colon - s));
	a->host[colon - s] = '\0';
	a->port = (uint16_t)port;
	return 0;
}

static int
opt_set_hostport(const struct rmq_option *o, struct rmq_opt_ctx *c,
    unsigned nargs, const char *const *args, char *err, size_t errlen)
{
	(void)nargs, (void)err, (void)errlen;
	struct rmq_listen_addr a;
	memset(&a, 0, sizeof(a));
	if (rmq_options_hostport(args[0], &a) != 0)
		return RMQ_OPT_BAD;
	memcpy(opt_field(o, c), &a, sizeof(a));
	return 0;
}

/* One more listener for this layer; the layer's first one replaces the
 * listeners the layers before it set (the built-in one included). */
static int
opt_listener_add(struct rmq_opt_ctx *c, const char *host, uint16_t port,
    char *err, size_t errlen)
{
	struct rmq_config *cfg = c->cfg;
	if (!c->listeners_set) {
		memset(cfg->listeners, 0, sizeof(cfg->listeners));
		cfg->nlisteners = 0;
		c->listeners_set = 1;
	}
	if (cfg->nlisteners == RMQ_MAX_LISTENERS) {
		snprintf(err, errlen, "more than %d listeners",
		    RMQ_MAX_LISTENERS);
		return -1;
	}
	struct rmq_listen_addr *a = &cfg->listeners[cfg->nlisteners];
	memset(a, 0, sizeof(*a));
	if (strlen(host) >= sizeof(a->host)) {
		snprintf(err, errlen, "address too long");
		return -1;
	}
	snprintf(a->host, sizeof(a->host), "%s", host);
	a->port = port;
	cfg->nlisteners++;
	return 0;
}

/* PORT [ADDRESS], as Mosquitto: without an address, every interface.
 * Listener keys met before the layer's first listener line set the
 * listener it replaces: `port` (Mosquitto's default listener) keeps them,
 * as Mosquitto does; `listener` would drop them, so it is refused. */
static int
opt_set_listener(const struct rmq_option *o, struct rmq_opt_ctx *c,
    unsigned nargs, const char *const *args, char *err, size_t errlen)
{
	unsigned long long port;
	if (opt_u64(args[0], 0, 65535, &port) != 0)
		return RMQ_OPT_BAD;
	struct rmq_listen_addr early = c->cfg->listeners[0];
	const char *key = c->listeners_set ? NULL : c->listener_keys_early;
	if (key && strcmp(o->key, "port") != 0) {
		snprintf(err, errlen,
		    "`%s` above this line sets the listener this first `listener` line replaces: move it below the `listener` line it is for",
		    key);
		return -1;
	}
	int rc = opt_listener_add(c, nargs > 1 ? args[1] : "", (uint16_t)port,
	    err, errlen);
	if (rc == 0 && key) { /* keep the settings, not the address */
		memcpy(early.host, c->cfg->listeners[0].host,
		    sizeof(early.host));
		early.port = c->cfg->listeners[0].port;
		c->cfg->listeners[0] = early;
	}
	return rc;
}

/* -p [HOST:]PORT: the host 127.0.0.1 when left out, '*' for every
 * interface. */
static int
opt_flag_listener(const struct rmq_option *o, struct rmq_opt_ctx *c,
    unsigned nargs, const char *const *args, char *err, size_t errlen)
{
	(void)o, (void)nargs;
	const char *arg = args[0];
	const char *colon = strrchr(arg, ':');
	char host[64] = "127.0.0.1";
	unsigned long long port;
	if (opt_u64(colon ? colon + 1 : arg, 0, 65535, &port) != 0)
		return RMQ_OPT_BAD;
	if (colon) {
		size_t n = (size_t)(colon - arg);
		if (n >= sizeof(host)) {
			snprintf(err, errlen, "address too long");
			return -1;
		}
		memcpy(host, arg, n);
		host[n] = '\0';
		if (strcmp(host, "*") == 0)
			host[0] = '\0';
	}
	return opt_listener_add(c, host, (uint16_t)port, err, errlen);
}

/* A path clients put in the upgrade request: it begins with '/'. */
static int
opt_set_ws_path(const struct rmq_option *o, struct rmq_opt_ctx *c,
    unsigned nargs, const char *const *args, char *err, size_t errlen)
{
	(void)nargs;
	const char *p = args[0];
	if (p[0] != '/' || strpbrk(p, " \t?#") != NULL)
		return RMQ_OPT_BAD;
	if (strlen(p) >= o->at.size) {
		snprintf(err, errlen, "longer than %zu bytes", o->at.size - 1);
		return -1;
	}
	memcpy(opt_field(o, c), p, strlen(p) + 1);
	return 0;
}

/* cluster_seeds: HOST:PORT[,HOST:PORT...]; cluster_dns: one NAME:PORT.
 * Kept as written; every item must name a host and a port. */
static int
opt_set_peers(const struct rmq_option *o, struct rmq_opt_ctx *c, unsigned nargs,
    const char *const *args, char *err, size_t errlen, int one)
{
	(void)nargs;
	const char *v = args[0];
	if (strlen(v) >= o->at.size) {
		snprintf(err, errlen, "longer than %zu bytes", o->at.size - 1);
		return -1;
	}
	char copy[1024], *save = NULL;
	snprintf(copy, sizeof(copy), "%s", v);
	unsigned k = 0;
	for (char *t = strtok_r(copy, ",", &save); t;
	     t = strtok_r(NULL, ",", &save), k++) {
		struct rmq_listen_addr a;
		if (rmq_options_hostport(t, &a) != 0 || a.host[0] == '\0' ||
		    a.port == 0 || strpbrk(t, " \t") != NULL)
			return RMQ_OPT_BAD;
	}
	if (k == 0 || (one && k > 1))
		return RMQ_OPT_BAD;
	memset(opt_field(o, c), 0, o->at.size);
	memcpy(opt_field(o, c), v, strlen(v));
	return 0;
}

static int
opt_set_seeds(const struct rmq_option *o, struct rmq_opt_ctx *c, unsigned nargs,
    const char *const *args, char *err, size_t errlen)
{
	return opt_set_peers(o, c, nargs, args, err, errlen, 0);
}

static int
opt_set_dns(const struct rmq_option *o, struct rmq_opt_ctx *c, unsigned nargs,
    const char *const *args, char *err, size_t errlen)
{
	return opt_set_peers(o, c, nargs, args, err, errlen, 1);
}

/* memory_limit: auto (-1), 0 for none, or bytes, at least 1 MiB. */
static int
opt_set_memory_limit(const struct rmq_option *o, struct rmq_opt_ctx *c,
    unsigned nargs, const char *const *args, char *err, size_t errlen)
{
	(void)nargs, (void)err, (void)errlen;
	int64_t *p = opt_field(o, c);
	unsigned long long v;
	if (strcmp(args[0], "auto") == 0 || strcmp(args[0], "-1") == 0)
		*p = -1;
	else if (strcmp(args[0], "0") == 0)
		*p = 0;
	else if (opt_u64(args[0], 1u << 20, 1ull << 50, &v) == 0)
		*p = (int64_t)v;
	else
		return RMQ_OPT_BAD;
	return 0;
}

/* durability: always, interval MS (interval=MS: one word, for a flag), or
 * off (persistence false). */
static int
opt_set_durability(const struct rmq_option *o, struct rmq_opt_ctx *c,
    unsigned nargs, const char *const *args, char *err, size_t errlen)
{
	(void)o, (void)err, (void)errlen;
	unsigned long long v;
	if (nargs == 1 && strcmp(args[0], "always") == 0) {
		c->cfg->persistence = 1;
		c->cfg->durability = RMQ_DURABLE_ALWAYS;
	} else if (nargs == 1 && strcmp(args[0], "off") == 0) {
		c->cfg->persistence = 0;
	} else if ((nargs == 2 && strcmp(args[0], "interval") == 0 &&
		       opt_u64(args[1], 1, 3600000, &v) == 0) ||
	    (nargs == 1 && strncmp(args[0], "interval=", 9) == 0 &&
		opt_u64(args[0] + 9, 1, 3600000, &v) == 0)) {
		c->cfg->persistence = 1;
		c->cfg->durability = RMQ_DURABLE_INTERVAL;
		c->cfg->durability_interval_ms = (uint32_t)v;
	} else {
		return RMQ_OPT_BAD;
	}
	return 0;
}

/* Mosquitto's autosave_interval SECONDS: the interval policy; 0 (save at
 * exit only) the longest interval. */
static int
opt_set_autosave(const struct rmq_option *o, struct rmq_opt_ctx *c,
    unsigned nargs, const char *const *args, char *err, size_t errlen)
{
	(void)o, (void)nargs, (void)err, (void)errlen;
	unsigned long long v;
	if (opt_u64(args[0], 0, 3600, &v) != 0)
		return RMQ_OPT_BAD;
	c->cfg->durability = RMQ_DURABLE_INTERVAL;
	c->cfg->durability_interval_ms = v ? (uint32_t)v * 1000u : 3600000u;
	return 0;
}

/* true or false; unset is a third value (loopback listeners only). */
static int
opt_set_anonymous(const struct rmq_option *o, struct rmq_opt_ctx *c,
    unsigned nargs, const char *const *args, char *err, size_t errlen)
{
	(void)nargs, (void)err, (void)errlen;
	enum rmq_anonymous *p = opt_field(o, c);
	if (strcmp(args[0], "true") == 0)
		*p = RMQ_ANON_YES;
	else if (strcmp(args[0], "false") == 0)
		*p = RMQ_ANON_NO;
	else
		return RMQ_OPT_BAD;
	return 0;
}

static int
opt_set_bind_address(const struct rmq_option *o, struct rmq_opt_ctx *c,
    unsigned nargs, const char *const *args, char *err, size_t errlen)
{
	(void)o, (void)nargs;
	struct rmq_listen_addr *a = &c->cfg->listeners[0];
	if (strlen(args[0]) >= sizeof(a->host)) {
		snprintf(err, errlen, "address too long");
		return -1;
	}
	memset(a->host, 0, sizeof(a->host));
	snprintf(a->host, sizeof(a->host), "%s", args[0]);
	return 0;
}

static int
opt_set_cpulist(const struct rmq_option *o, struct rmq_opt_ctx *c,
    unsigned nargs, const char *const *args, char *err, size_t errlen)
{
	(void)o, (void)nargs, (void)err, (void)errlen;
	struct rmq_config *cfg = c->cfg;
	enum rmq_affinity_mode mode;
	cpu_set_t list;
	CPU_ZERO(&list);
	if (rmq_affinity_parse(args[0], &mode, &list) != 0)
		return RMQ_OPT_BAD;
	cfg->cpu_affinity = mode;
	cfg->cpu_list = list;
	return 0;
}

static int
opt_set_response_info(const struct rmq_option *o, struct rmq_opt_ctx *c,
    unsigned nargs, const char *const *args, char *err, size_t errlen)
{
	static const char *const none[] = { "" };
	if (strcmp(args[0], "none") == 0)
		args = none;
	return opt_set_string(o, c, nargs, args, err, errlen);
}

/* Mosquitto's log_type: one line per kind wanted; the most verbose kind
 * named sets the level. */
static int
opt_set_log_type(const struct rmq_option *o, struct rmq_opt_ctx *c,
    unsigned nargs, const char *const *args, char *err, size_t errlen)
{
	static const struct {
		const char *type;
		int level;
	} types[] = { { "none", RMQ_LOG_ERROR }, { "error", RMQ_LOG_ERROR },
		{ "warning", RMQ_LOG_WARNING }, { "notice", RMQ_LOG_NOTICE },
		{ "information", RMQ_LOG_INFO }, { "subscribe", RMQ_LOG_DEBUG },
		{ "unsubscribe", RMQ_LOG_DEBUG },
		{ "websockets", RMQ_LOG_DEBUG }, { "debug", RMQ_LOG_DEBUG },
		{ "all", RMQ_LOG_DEBUG } };
	(void)o, (void)nargs;
	for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
		if (strcmp(args[0], types[i].type) != 0)
			continue;
		if (!c->log_type_set || types[i].level > c->cfg->log_level)
			c->cfg->log_level = types[i].level;
		c->log_type_set = 1;
		return 0;
	}
	snprintf(err, errlen, "unknown log type '%s'", args[0]);
	return -1;
}

/* Mosquitto's log_dest: one destination a line, the layer's first line
 * replacing the destinations before it. */
static int
opt_set_log_dest(const struct rmq_option *o, struct rmq_opt_ctx *c,
    unsigned nargs, const char *const *args, char *err, size_t errlen)
{
	struct rmq_log_dest *d = &c->cfg->log_dest;
	static const struct {
		const char *name;
		unsigned to;
	} dests[] = { { "stderr", RMQ_LOG_TO_STDERR },
		{ "stdout", RMQ_LOG_TO_STDOUT },
		{ "syslog", RMQ_LOG_TO_SYSLOG }, { "file", RMQ_LOG_TO_FILE },
		{ "none", 0 } };
	size_t i;
	(void)o;
	for (i = 0; i < sizeof(dests) / sizeof(dests[0]); i++)
		if (strcmp(args[0], dests[i].name) == 0)
			break;
	if (i == sizeof(dests) / sizeof(dests[0])) {
		if (strcmp(args[0], "topic") == 0) {
			snprintf(err, errlen,
			    "topic: not supported yet (not built in this version: log messages on $SYS/broker/log topics)");
			return -1;
		}
		if (strcmp(args[0], "dlt") == 0) {
			snprintf(err, errlen,
			    "dlt: not supported yet (not built in this version: the Diagnostic Log and Trace destination)");
			return -1;
		}
		return RMQ_OPT_BAD;
	}
	if ((dests[i].to == RMQ_LOG_TO_FILE) != (nargs > 1)) {
		snprintf(err, errlen, "%s",
		    nargs > 1 ? "only file takes a path"
			      : "file needs a path: log_dest file PATH");
		return -1;
	}
	if (!c->log_dest_set) {
		d->to = 0;
		memset(d->file, 0, sizeof(d->file));
		c->log_dest_set = 1;
	}
	if (dests[i].to == RMQ_LOG_TO_FILE) {
		char path[sizeof(d->file)];
		if (opt_join(o, nargs - 1, args + 1, path, sizeof(path), err,
			errlen) != 0)
			return -1;
		if ((d->to & RMQ_LOG_TO_FILE) && strcmp(path, d->file) != 0) {
			snprintf(err, errlen,
			    "only one file destination (%s already)", d->file);
			return -1;
		}
		memset(d->file, 0, sizeof(d->file));
		memcpy(d->file, path, strlen(path));
	}
	d->to |= dests[i].to;
	return 0;
}

/* Mosquitto's log_facility N: syslog's local N; daemon without it. */
static int
opt_set_log_facility(const struct rmq_option *o, struct rmq_opt_ctx *c,
    unsigned nargs, const char *const *args, char *err, size_t errlen)
{
	(void)o, (void)nargs, (void)err, (void)errlen;
	unsigned long long v;
	if (opt_u64(args[0], 0, 7, &v) != 0)
		return RMQ_OPT_BAD;
	c->cfg->log_dest.facility = (int)v + 1;
	return 0;
}

static int
opt_set_refused(const struct rmq_option *o, struct rmq_opt_ctx *c,
    unsigned nargs, const char *const *args, char *err, size_t errlen)
{
	(void)c;
	if (nargs == 1 && o->accepted) {
		/* A value that matches what ringmq does anyway. */
		size_t n = strlen(args[0]);
		for (const char *a = o->accepted; *a;) {
			size_t k = strcspn(a, " ");
			if (k == n && strncmp(a, args[0], n) == 0)
				return 0;
			a += k;
			a += *a == ' ';
		}
	}
	if (o->feature) {
		snprintf(err, errlen,
		    "not supported yet (not built in this version: %s)",
		    o->feature);
		return -1;
	}
	/* "only true or false (why)" */
	size_t n = (size_t)snprintf(err, errlen, "only ");
	for (const char *a = o->accepted; *a && n < errlen;) {
		size_t k = strcspn(a, " ");
		n += (size_t)snprintf(err + n, errlen - n, "%.*s", (int)k, a);
		a += k;
		if (*a == ' ' && n < errlen) {
			a++;
			n += (size_t)snprintf(err + n, errlen - n, " or ");
		}
	}
	if (n < errlen)
		snprintf(err + n, errlen - n, " (%s)", o->why);
	return -1;
}

static const rmq_opt_set_fn opt_type_set[] = {
	[RMQ_OPT_BOOL] = opt_set_bool,
	[RMQ_OPT_INT] = opt_set_int,
	[RMQ_OPT_ENUM] = opt_set_enum,
	[RMQ_OPT_STRING] = opt_set_string,
	[RMQ_OPT_HOSTPORT] = opt_set_hostport,
	[RMQ_OPT_LISTENER] = opt_set_listener,
	[RMQ_OPT_CPULIST] = opt_set_cpulist,
	[RMQ_OPT_SPECIAL] = NULL,
	[RMQ_OPT_REFUSED] = opt_set_refused,
};

int
rmq_option_apply(const struct rmq_option *o, struct rmq_opt_ctx *c,
    rmq_opt_set_fn set, unsigned nargs, const char *const *args, char *err,
    size_t errlen)
{
	unsigned lo = o->maxargs ? o->minargs : 1;
	unsigned hi = o->maxargs ? o->maxargs : 1;
	if (o->type == RMQ_OPT_REFUSED) {
		lo = 0;
		hi = RMQ_CONF_MAX_ARGS;
	}
	if (nargs < lo || nargs > hi) {
		if (hi == 1)
			snprintf(err, errlen, "expected one value");
		else
			snprintf(err, errlen, "expected %s", o->arg);
		return -1;
	}
	if (set == NULL)
		set = o->set ? o->set : opt_type_set[o->type];
	int rc = set(o, c, nargs, args, err, errlen);
	if (rc == 0 && (o->bits & RMQ_OPT_PER_LISTENER) && !c->listeners_set)
		c->listener_keys_early = o->key;
	return rc;
}

void
rmq_option_expect(const struct rmq_option *o, char *buf, size_t len)
{
	size_t n = 0;
	if (o->expect) {
		snprintf(buf, len, "%s", o->expect);
		return;
	}
	switch (o->type) {
	case RMQ_OPT_BOOL: snprintf(buf, len, "true or false"); break;
	case RMQ_OPT_INT:
		n = (size_t)snprintf(buf, len,
		    "a whole number from %lld to %lld", o->min, o->max);
		if (n < len && (o->bits & RMQ_OPT_ZERO_NOLIMIT))
			n += (size_t)snprintf(buf + n, len - n, ", or 0%s",
			    (o->bits & RMQ_OPT_MINUS1_NOLIMIT) ? " or -1" : "");
		else if (n < len && (o->bits & RMQ_OPT_MINUS1_NOLIMIT))
			n += (size_t)snprintf(buf + n, len - n, ", or -1");
		if (n < len &&
		    (o->bits & (RMQ_OPT_ZERO_NOLIMIT | RMQ_OPT_MINUS1_NOLIMIT)))
			snprintf(buf + n, len - n, " for no limit");
		break;
	case RMQ_OPT_ENUM:
		buf[0] = '\0';
		for (unsigned i = 0; o->names[i] && n < len; i++)
			n += (size_t)snprintf(buf + n, len - n, "%s%s",
			    i == 0                ? ""
				: o->names[i + 1] ? ", "
						  : " or ",
			    o->names[i]);
		break;
	case RMQ_OPT_HOSTPORT:
		snprintf(buf, len, "ADDRESS:PORT or none");
		break;
	case RMQ_OPT_LISTENER: snprintf(buf, len, "a port (0 to 65535)"); break;
	case RMQ_OPT_CPULIST:
		snprintf(buf, len, "auto, none or a CPU list such as 0-3,8");
		break;
	default: snprintf(buf, len, "%s", o->arg ? o->arg : "valid"); break;
	}
}

void
rmq_option_args(const struct rmq_option *o, char *buf, size_t len)
{
	size_t n = 0;
	if (o->arg) {
		snprintf(buf, len, "%s", o->arg);
		return;
	}
	switch (o->type) {
	case RMQ_OPT_BOOL: snprintf(buf, len, "`true`, `false`"); break;
	case RMQ_OPT_INT:
		n = (size_t)snprintf(buf, len, "%lld-%lld%s%s", o->min, o->max,
		    o->unit ? " " : "", o->unit ? o->unit : "");
		if (n < len && (o->bits & RMQ_OPT_ZERO_NOLIMIT))
			n += (size_t)snprintf(buf + n, len - n, ", 0%s",
			    (o->bits & RMQ_OPT_MINUS1_NOLIMIT) ? " or -1" : "");
		else if (n < len && (o->bits & RMQ_OPT_MINUS1_NOLIMIT))
			n += (size_t)snprintf(buf + n, len - n, ", -1");
		if (n < len &&
		    (o->bits & (RMQ_OPT_ZERO_NOLIMIT | RMQ_OPT_MINUS1_NOLIMIT)))
			snprintf(buf + n, len - n, " = no limit");
		break;
	case RMQ_OPT_ENUM:
		buf[0] = '\0';
		for (unsigned i = 0; o->names[i] && n < len; i++)
			n += (size_t)snprintf(buf + n, len - n, "%s`%s`",
			    i ? ", " : "", o->names[i]);
		break;
	default: snprintf(buf, len, "VALUE"); break;
	}
}

/* Rows of Mosquitto keys taken only where they match what ringmq does:
 * LATER for a feature still to come, ONLY for a choice ringmq made. */
#define LATER(k, acc, feat)                                                    \
	{                                                                      \
		.key = k, .type = RMQ_OPT_REFUSED, .accepted = acc,            \
		.feature = feat, .help = "not supported yet: " feat            \
	}
#define ONLY(k, acc, reason)                                                   \
	{                                                                      \
		.key = k, .type = RMQ_OPT_REFUSED, .accepted = acc,            \
		.why = reason, .help = reason                                  \
	}

static const char *const opt_backends[] = { "auto", "uring", "uv", NULL };
static const char *const opt_placements[] = { "cpu", "hash", NULL };
static const char *const opt_levels[] = { "error", "warning", "notice", "info",
	"debug", NULL };
static const char *const opt_formats[] = { "text", "json", NULL };
static const char *const opt_tls_versions[] = { "tlsv1.2", "tlsv1.3", NULL };
static const char *const opt_protocols[] = { "mqtt", "websockets", NULL };

#define AUTH "authentication"
#define WS "WebSocket listeners"
#define PERSIST "persistence"
#define BRIDGE "bridging"

/* The table keeps one field a line: clang-format, which lays out a braced
 * initializer this long as one expression, would reflow all of it when a
 * row is added. */
/* clang-format off */
const struct rmq_option rmq_options[] = {
	/* Listeners and loops. */
	{ .key = "listener",
	    .flags = "-p --port",
	    .type = RMQ_OPT_LISTENER,
	    .flag_set = opt_flag_listener,
	    .at = SPAN(listeners, nlisteners),
	    .bits = RMQ_OPT_REPEAT,
	    .minargs = 1,
	    .maxargs = 2,
	    .reload = RMQ_RELOAD_RESTART,
	    .arg = "PORT [ADDRESS]",
	    .flag_arg = "[HOST:]PORT",
	    .def = "1883 127.0.0.1",
	    .help = "listen for MQTT (repeatable, up to 8)",
	    .flag_help = "HOST 127.0.0.1 when left out, * for every interface",
	    .doc =
		"listen for MQTT on ADDRESS (every interface when left out, as in Mosquitto); may repeat, up to 8; a layer's first `listener` replaces the listeners before it (the built-in one, or the file's when the environment or the flags set one).  `-p`/`--port` take `[HOST:]PORT` instead: HOST 127.0.0.1 when left out, `*` for every interface" },
	{ .key = "port",
	    .type = RMQ_OPT_LISTENER,
	    .bits = RMQ_OPT_NO_FLAG,
	    .reload = RMQ_RELOAD_RESTART,
	    .arg = "PORT",
	    .unset = "see `listener`",
	    .help = "Mosquitto's older form: listener PORT",
	    .doc =
		"Mosquitto's older form: `listener PORT` (every interface).  No flag of its own: `--port` is `listener`'s" },
	{ .key = "bind_address",
	    .type = RMQ_OPT_SPECIAL,
	    .set = opt_set_bind_address,
	    .reload = RMQ_RELOAD_RESTART,
	    .arg = "ADDRESS",
	    .unset = "see `listener`",
	    .help =
		"Mosquitto's older form: the address of the first listener" },
	/* A listener's TLS: each key sets the listener of the `listener` (or
	 * `port`) line above it. */
	{ .key = "certfile",
	    .type = RMQ_OPT_STRING,
	    .at = LFIELD(tls.certfile),
	    .bits = RMQ_OPT_PER_LISTENER,
	    .reload = RMQ_RELOAD_RESTART,
	    .arg = "PATH",
	    .unset = "none",
	    .help = "TLS on this listener: its certificate chain (PEM)",
	    .doc =
		"Mosquitto's: TLS on the listener above, with this certificate (PEM, the server's first, then the chain).  Read again at each SIGHUP, so a renewed certificate takes effect for new connections while open ones keep theirs" },
	{ .key = "keyfile",
	    .type = RMQ_OPT_STRING,
	    .at = LFIELD(tls.keyfile),
	    .bits = RMQ_OPT_PER_LISTENER,
	    .reload = RMQ_RELOAD_RESTART,
	    .arg = "PATH",
	    .unset = "none",
	    .help = "the private key of certfile (PEM)",
	    .doc =
		"Mosquitto's: certfile's private key (PEM, not encrypted); read again at each SIGHUP with certfile" },
	{ .key = "cafile",
	    .type = RMQ_OPT_STRING,
	    .at = LFIELD(tls.cafile),
	    .bits = RMQ_OPT_PER_LISTENER,
	    .reload = RMQ_RELOAD_RESTART,
	    .arg = "PATH",
	    .unset = "none",
	    .help = "CA certificates client certificates are checked against",
	    .doc =
		"Mosquitto's: the CA certificates (PEM) client certificates are checked against, and named to clients as acceptable issuers" },
	{ .key = "capath",
	    .type = RMQ_OPT_STRING,
	    .at = LFIELD(tls.capath),
	    .bits = RMQ_OPT_PER_LISTENER,
	    .reload = RMQ_RELOAD_RESTART,
	    .arg = "DIR",
	    .unset = "none",
	    .help = "a directory of CA certificates (c_rehash)",
	    .doc =
		"Mosquitto's: a directory of CA certificates in OpenSSL's hashed form (`openssl rehash DIR`), as cafile" },
	{ .key = "crlfile",
	    .type = RMQ_OPT_STRING,
	    .at = LFIELD(tls.crlfile),
	    .bits = RMQ_OPT_PER_LISTENER,
	    .reload = RMQ_RELOAD_RESTART,
	    .arg = "PATH",
	    .unset = "none",
	    .help = "a certificate revocation list (PEM)",
	    .doc =
		"Mosquitto's: client certificates listed in this CRL (PEM) are refused; the CA's CRL must be there for every client certificate checked" },
	{ .key = "dhparamfile",
	    .type = RMQ_OPT_STRING,
	    .at = LFIELD(tls.dhparamfile),
	    .bits = RMQ_OPT_PER_LISTENER,
	    .reload = RMQ_RELOAD_RESTART,
	    .arg = "PATH",
	    .unset = "none",
	    .help = "Diffie-Hellman parameters for DHE ciphers (PEM)",
	    .doc =
		"Mosquitto's: Diffie-Hellman parameters (PEM) for TLS 1.2 DHE ciphers; without, OpenSSL picks parameters matching the key's strength" },
	{ .key = "ciphers",
	    .type = RMQ_OPT_STRING,
	    .at = LFIELD(tls.ciphers),
	    .bits = RMQ_OPT_PER_LISTENER,
	    .reload = RMQ_RELOAD_RESTART,
	    .arg = "LIST",
	    .unset = "none",
	    .help = "TLS 1.2 ciphers, OpenSSL's list syntax",
	    .doc =
		"Mosquitto's: the TLS 1.2 ciphers, in OpenSSL's syntax (`openssl ciphers`); OpenSSL's default when unset" },
	{ .key = "ciphers_tls1.3",
	    .type = RMQ_OPT_STRING,
	    .at = LFIELD(tls.ciphers13),
	    .bits = RMQ_OPT_PER_LISTENER,
	    .reload = RMQ_RELOAD_RESTART,
	    .arg = "LIST",
	    .unset = "none",
	    .help = "TLS 1.3 cipher suites, colon separated",
	    .doc =
		"Mosquitto's: the TLS 1.3 cipher suites, colon separated (`TLS_AES_128_GCM_SHA256:TLS_CHACHA20_POLY1305_SHA256`); OpenSSL's default when unset" },
	{ .key = "tls_groups",
	    .type = RMQ_OPT_STRING,
	    .at = LFIELD(tls.groups),
	    .bits = RMQ_OPT_PER_LISTENER,
	    .reload = RMQ_RELOAD_RESTART,
	    .arg = "LIST",
	    .unset = "none",
	    .help = "key exchange groups, colon separated (X25519:P-256)",
	    .doc =
		"the key exchange groups offered, most preferred first, colon separated (`X25519:P-256`); OpenSSL's default when unset" },
	{ .key = "tls_version",
	    .type = RMQ_OPT_ENUM,
	    .at = LFIELD(tls.min_version),
	    .names = opt_tls_versions,
	    .bits = RMQ_OPT_PER_LISTENER,
	    .reload = RMQ_RELOAD_RESTART,
	    .def = "tlsv1.2",
	    .help = "the oldest TLS version taken: tlsv1.2 or tlsv1.3",
	    .doc =
		"Mosquitto's: the oldest TLS version the listener takes, `tlsv1.2` (1.2 and 1.3) or `tlsv1.3`; older versions are not offered" },
	{ .key = "tls_keep_openssl_state",
	    .type = RMQ_OPT_BOOL,
	    .at = LFIELD(tls.keep_ssl),
	    .bits = RMQ_OPT_PER_LISTENER,
	    .reload = RMQ_RELOAD_RESTART,
	    .def = "false",
	    .help = "keep OpenSSL's per-connection state after a TLS 1.3 handshake",
	    .doc =
		"after a TLS 1.3 handshake with an AES-GCM or ChaCha20-Poly1305 suite, RingMQ keeps only the traffic keys (about 1 KB) and seals and opens records itself with OpenSSL's ciphers; `true` keeps OpenSSL's whole connection state (about 15 KB) for the connection's life instead.  TLS 1.2 always keeps it" },
	{ .key = "require_certificate",
	    .type = RMQ_OPT_BOOL,
	    .at = LFIELD(tls.require_certificate),
	    .bits = RMQ_OPT_PER_LISTENER,
	    .reload = RMQ_RELOAD_RESTART,
	    .def = "false",
	    .help = "clients must present a certificate cafile or capath vouches for",
	    .doc =
		"Mosquitto's: a client must present a certificate that cafile or capath vouches for, or the handshake fails" },
	{ .key = "use_identity_as_username",
	    .type = RMQ_OPT_BOOL,
	    .at = LFIELD(tls.use_identity_as_username),
	    .bits = RMQ_OPT_PER_LISTENER,
	    .reload = RMQ_RELOAD_RESTART,
	    .def = "false",
	    .help = "the client certificate's Common Name is the user name",
	    .doc =
		"Mosquitto's: the client certificate's Common Name is the client's user name (what it sends as one is not used); needs `require_certificate true`" },
	{ .key = "use_subject_as_username",
	    .type = RMQ_OPT_BOOL,
	    .at = LFIELD(tls.use_subject_as_username),
	    .bits = RMQ_OPT_PER_LISTENER,
	    .reload = RMQ_RELOAD_RESTART,
	    .def = "false",
	    .help = "the client certificate's whole subject is the user name",
	    .doc =
		"Mosquitto's: the client certificate's subject, as RFC 2253 writes it (`CN=alice,O=Example`), is the client's user name; needs `require_certificate true`" },
	{ .key = "psk_hint",
	    .type = RMQ_OPT_STRING,
	    .at = LFIELD(tls.psk_hint),
	    .bits = RMQ_OPT_PER_LISTENER,
	    .reload = RMQ_RELOAD_RESTART,
	    .arg = "HINT",
	    .unset = "no pre-shared keys",
	    .help = "TLS with pre-shared keys (psk_file) on this listener",
	    .doc =
		"Mosquitto's: the listener above takes TLS with pre-shared keys (TLS-PSK, 1.2 and 1.3) from the clients in `psk_file`, and sends them this hint (free text naming the listener).  Without `certfile` the listener takes PSK clients only; with it, both.  With `use_identity_as_username`, a PSK client's identity is its user name and it needs no password" },
	/* What a listener speaks, and its WebSocket. */
	{ .key = "protocol",
	    .type = RMQ_OPT_ENUM,
	    .at = LFIELD(protocol),
	    .names = opt_protocols,
	    .bits = RMQ_OPT_PER_LISTENER,
	    .reload = RMQ_RELOAD_RESTART,
	    .def = "mqtt",
	    .help = "what the listener speaks: mqtt, or websockets",
	    .doc =
		"Mosquitto's: `mqtt` straight over TCP (or TLS, with `certfile`), or `websockets`: MQTT over WebSocket, the subprotocol `mqtt` (and `mqttv3.1`), secure WebSocket with `certfile`; browsers connect to `ws://HOST:PORT/` or `wss://`" },
	{ .key = "enable_proxy_protocol",
	    .type = RMQ_OPT_INT,
	    .at = LFIELD(proxy_protocol),
	    .min = 0,
	    .max = 2,
	    .bits = RMQ_OPT_PER_LISTENER,
	    .reload = RMQ_RELOAD_RESTART,
	    .arg = "1|2",
	    .def = "0",
	    .help = "the listener is behind a load balancer speaking the PROXY protocol (version 1 or 2)",
	    .doc =
		"Mosquitto 2.1's: every connection to the listener opens with a PROXY protocol header of this version (HAProxy's `send-proxy` is 1, `send-proxy-v2` is 2), sent by the load balancer before the client's bytes (before TLS when the listener has `certfile`); the client's address it carries is the one logged.  A connection without a valid header is closed (counted in `ringmq_proxy_refused_total`): only the load balancer may reach such a listener.  0, the default: no header" },
	{ .key = "websockets_path",
	    .type = RMQ_OPT_SPECIAL,
	    .set = opt_set_ws_path,
	    .at = LFIELD(ws.path),
	    .bits = RMQ_OPT_PER_LISTENER,
	    .reload = RMQ_RELOAD_RESTART,
	    .arg = "PATH",
	    .expect = "a path beginning with /, without blanks",
	    .unset = "any path",
	    .help = "WebSocket: the only path upgraded (others get HTTP 404)",
	    .doc =
		"with `protocol websockets`: upgrade requests for this path only (`/mqtt`, the path most clients use by default), the query string aside; other paths are answered HTTP 404.  Unset, as in Mosquitto, any path is taken" },
	{ .key = "websockets_headers_size",
	    .type = RMQ_OPT_INT,
	    .at = LFIELD(ws.headers_max),
	    .min = 512,
	    .max = 65535,
	    .unit = "bytes",
	    .bits = RMQ_OPT_PER_LISTENER,
	    .reload = RMQ_RELOAD_RESTART,
	    .unset = "8192",
	    .help = "WebSocket: the largest upgrade request taken, in bytes",
	    .doc =
		"with `protocol websockets`: the largest HTTP upgrade request taken (request line and headers), 512 to 65535 bytes, 8192 when unset; a longer one is answered HTTP 431 and closed (counted in `ringmq_ws_refused_total`).  Mosquitto's key of the same name sizes libwebsockets' header buffer" },
	{ .key = "threads",
	    .type = RMQ_OPT_INT,
	    .at = FIELD(threads),
	    .min = 0,
	    .max = RMQ_MAX_WORKERS,
	    .reload = RMQ_RELOAD_RESTART,
	    .arg = "0-64, 0 = one per CPU",
	    .def = "0",
	    .help =
		"worker loops; 0: one per CPU the process may run on, within its cgroup's CPU quota",
	    .doc =
		"worker loops; 0, the default, counts the process's CPU affinity, so a container's cpuset (`taskset`, Kubernetes' static CPU manager) narrows it, and takes no more than the CPU quota of the process's cgroup and its ancestors, rounded up (cgroup v2 `cpu.max`, v1 `cpu.cfs_quota_us`; a container limited to 1.5 CPUs gets 2 loops)" },
	{ .key = "cpu_affinity",
	    .type = RMQ_OPT_CPULIST,
	    .at = FIELD(cpu_affinity),
	    .reload = RMQ_RELOAD_RESTART,
	    .arg = "`auto`, `none`, or a CPU list such as `0-3,8`",
	    .def = "auto",
	    .help =
		"auto: pin one loop per CPU; none; or a CPU list such as 0-3,8",
	    .doc =
		"which CPU each worker loop runs on.  `auto` pins loop *i* to the *i*-th CPU the process may run on when there is one loop per such CPU (the default shape), and leaves placement to the kernel otherwise; a list pins loop *i* to the *i*-th listed CPU in ascending order, around again when there are more loops than CPUs (a listed CPU the process may not use refuses the start, naming it); `none` never pins.  Pinned, a loop is woken on its own CPU and not moved next to the thread that woke it: p50 latency at a modest load about 0.75x unpinned (`docs/lab-notebook.md`).  Choose `none` where other busy processes share the CPUs and no cpuset keeps them apart" },
	{ .key = "connection_placement",
	    .type = RMQ_OPT_ENUM,
	    .at = FIELD(placement),
	    .names = opt_placements,
	    .reload = RMQ_RELOAD_RESTART,
	    .def = "cpu",
	    .help =
		"cpu: the loop of the CPU that received the connection; hash: the kernel's",
	    .doc =
		"which worker loop takes a new connection.  `cpu`, when each loop is pinned to a CPU of its own: the loop pinned to the CPU that received the connection's handshake, which is where the kernel goes on receiving its packets (the NIC queue's CPU; on loopback, the client's), so a loop is woken by its own CPU.  A loop holding more than its share (an eighth of the mean past the least loaded loop, and at least 256, so that a burst of connections from one client thread is not split half way) passes further connections to the least loaded one, so clients crowding onto a few CPUs still spread over all loops.  Without pinned loops, and with `hash`, the kernel spreads connections by a hash of their addresses" },
	{ .key = "io_backend",
	    .flags = "--loop",
	    .type = RMQ_OPT_ENUM,
	    .at = FIELD(loop),
	    .names = opt_backends,
	    .reload = RMQ_RELOAD_RESTART,
	    .def = "auto",
	    .help =
		"event loop backend; auto probes io_uring and falls back to libuv" },

	/* Limits. */
	{ .key = "max_packet_size",
	    .type = RMQ_OPT_INT,
	    .at = FIELD(max_packet_size),
	    .min = 20,
	    .max = 268435460,
	    .bits = RMQ_OPT_ZERO_NOLIMIT,
	    .nolimit = 268435460,
	    .unit = "bytes",
	    .reload = RMQ_RELOAD_NEW_CONNECTIONS,
	    .def = "16777216",
	    .help = "largest packet in either direction",
	    .doc =
		"largest packet in either direction (Mosquitto's bounds: not below 20); a larger one from a client is refused on its header (5.0: DISCONNECT 0x95); 5.0 clients are told it in CONNACK" },
	{ .key = "max_queued_messages",
	    .flags = "--max-queued",
	    .type = RMQ_OPT_INT,
	    .at = FIELD(max_queued),
	    .min = 1,
	    .max = 100000000,
	    .bits = RMQ_OPT_ZERO_NOLIMIT,
	    .nolimit = 100000000,
	    .reload = RMQ_RELOAD_NOW,
	    .def = "1000",
	    .help = "messages that may arrive for an offline session",
	    .doc =
		"QoS 1/2 messages that may arrive for a session while its client is not connected, after the backlog it held when the client left (or brought when it moved from another node or was read back from disk): past it a new message is dropped for that session, counted in `ringmq_messages_dropped_total{reason=\"queue_full\"}`.  A connected session's queue is bounded by `max_queued_bytes` alone, so a subscriber that keeps up on average takes a burst of many small messages, and one behind by thousands keeps them when its client reconnects or its session moves" },
	{ .key = "max_subscriptions",
	    .type = RMQ_OPT_INT,
	    .at = FIELD(max_subscriptions),
	    .min = 1,
	    .max = 100000000,
	    .bits = RMQ_OPT_ZERO_NOLIMIT,
	    .nolimit = 0,
	    .reload = RMQ_RELOAD_NOW,
	    .def = "100000",
	    .help = "subscriptions one client may hold",
	    .doc =
		"subscriptions one client may hold; a SUBSCRIBE for one more is refused for that filter (5.0: 0x97 Quota exceeded, 3.x: 0x80), counted in `ringmq_subscriptions_refused_total`" },
	{ .key = "max_queued_bytes",
	    .type = RMQ_OPT_INT,
	    .at = FIELD(max_queued_bytes),
	    .min = 1,
	    .max = 1ll << 40,
	    .bits = RMQ_OPT_ZERO_NOLIMIT,
	    .nolimit = UINT64_MAX,
	    .unit = "bytes",
	    .reload = RMQ_RELOAD_NOW,
	    .def = "67108864",
	    .help = "bytes queued per session, connected or not",
	    .doc =
		"bytes queued per session, connected or not: each message counts its size plus 32 bytes for its place in the queue; past it a new message is dropped for that session.  Unlike Mosquitto's (no limit by default, messages past those in flight), it counts every message a session holds.  A queue's memory goes back once it empties" },
	{ .key = "max_inflight_messages",
	    .flags = "--max-inflight",
	    .type = RMQ_OPT_INT,
	    .at = FIELD(max_inflight),
	    .min = 1,
	    .max = RMQ_MAX_INFLIGHT,
	    .bits = RMQ_OPT_ZERO_NOLIMIT,
	    .nolimit = RMQ_MAX_INFLIGHT,
	    .reload = RMQ_RELOAD_NEW_CONNECTIONS,
	    .arg = "1-1024, 0 = 1024",
	    .def = "64",
	    .help = "QoS 1/2 messages in flight to a client",
	    .doc =
		"QoS 1/2 messages sent to a client and not yet acknowledged (also bounded by the client's Receive Maximum)" },
	{ .key = "max_connections",
	    .type = RMQ_OPT_INT,
	    .at = FIELD(max_connections),
	    .min = 1,
	    .max = 100000000,
	    .bits = RMQ_OPT_ZERO_NOLIMIT | RMQ_OPT_MINUS1_NOLIMIT,
	    .nolimit = 0,
	    .reload = RMQ_RELOAD_NOW,
	    .def = "-1",
	    .help = "connections at once",
	    .doc =
		"connections at once; a new one past the limit is closed at once, counted in `ringmq_connections_refused_total{reason=\"max_connections\"}`.  Unset, or higher than the descriptor limit allows, it is what that limit leaves room for: at start the soft `RLIMIT_NOFILE` is raised to the hard one, and the descriptors the broker holds itself plus a reserve of 64 (the admin endpoint, files, logs) are kept out of it; the start log and `ringmq_connections_max` say what applies" },
	{ .key = "packet_timeout",
	    .type = RMQ_OPT_INT,
	    .at = FIELD(packet_timeout_ms),
	    .min = 100,
	    .max = 3600000,
	    .bits = RMQ_OPT_ZERO_NOLIMIT,
	    .nolimit = 0,
	    .unit = "milliseconds",
	    .reload = RMQ_RELOAD_NOW,
	    .def = "60000",
	    .help = "time a client has to finish a packet it began",
	    .doc =
		"time a connected client has to finish a packet it began sending, whatever its keep alive (0 too): past it the connection closes (5.0: DISCONNECT 0x8D), so that a client stopping mid-packet is not held forever; 0 for no limit" },
	{ .key = "connect_timeout",
	    .type = RMQ_OPT_INT,
	    .at = FIELD(connect_timeout_ms),
	    .min = 100,
	    .max = 3600000,
	    .unit = "milliseconds",
	    .reload = RMQ_RELOAD_NOW,
	    .def = "10000",
	    .help = "time a new connection has to send CONNECT" },
	{ .key = "failed_login_delay",
	    .type = RMQ_OPT_INT,
	    .at = FIELD(failed_login_delay_ms),
	    .min = 0,
	    .max = 60000,
	    .unit = "milliseconds",
	    .reload = RMQ_RELOAD_NOW,
	    .def = "10000",
	    .help = "longest time a refused login is held back, 0 = never",
	    .doc =
		"slows password guessing per source address: after 3 refused logins from one address (the IP, or the PROXY protocol's), each further refusal from it waits before its CONNACK, 250 ms, then twice as long each time up to this bound; an address is forgotten after 10 minutes without a refusal.  4,096 addresses are remembered (the one refused longest ago gives way).  Counted in `ringmq_auth_delayed_total`; 0: refusals are immediate" },
	{ .key = "max_connection_rate",
	    .type = RMQ_OPT_INT,
	    .at = FIELD(max_connection_rate),
	    .min = 0,
	    .max = 1000000,
	    .reload = RMQ_RELOAD_NOW,
	    .arg = "CONNECTs per second, 0 = no limit",
	    .def = "0",
	    .help = "CONNECTs one source address may send per second",
	    .doc =
		"CONNECTs one source address (the IP, or the PROXY protocol's) may send in a second of the clock; more are refused at once, before any password is checked: 5.0 CONNACK 0x9F Connection rate exceeded, 3.x return code 3 (server unavailable), counted in `ringmq_connections_refused_total{reason=\"connection_rate_exceeded\"}`.  Clients already connected are not affected.  0, the default: no limit (`max_connections` still bounds the total).  Addresses share the table of `failed_login_delay` (4,096 remembered)" },
	{ .key = "max_retained_messages",
	    .type = RMQ_OPT_INT,
	    .at = FIELD(max_retained),
	    .min = 1,
	    .max = 1000000000,
	    .bits = RMQ_OPT_ZERO_NOLIMIT,
	    .nolimit = 0,
	    .reload = RMQ_RELOAD_NOW,
	    .def = "1000000",
	    .help = "retained messages the node keeps",
	    .doc =
		"retained messages the node keeps (one per topic); a retained PUBLISH for one more topic is not retained: a 5.0 QoS 1/2 publisher is answered 0x97 Quota exceeded and the message goes nowhere, one that cannot be told (QoS 0, 3.x) has it delivered but not retained; counted in `ringmq_retained_refused_total`.  Replacing or clearing a topic's message is always taken; the server's own `$SYS` topics are kept whatever the count.  0: no limit" },
	{ .key = "max_retained_bytes",
	    .type = RMQ_OPT_INT,
	    .at = FIELD(max_retained_bytes),
	    .min = 1,
	    .max = 1ll << 40,
	    .bits = RMQ_OPT_ZERO_NOLIMIT,
	    .nolimit = 0,
	    .unit = "bytes",
	    .reload = RMQ_RELOAD_NOW,
	    .def = "1073741824",
	    .help = "bytes of retained messages the node keeps",
	    .doc =
		"the retained messages' sizes (topic, payload, properties), summed; a retained PUBLISH that would pass it is refused as past `max_retained_messages` (a smaller message replacing a larger one is always taken).  `ringmq_retained_bytes` reports the sum.  0: no limit" },
	{ .key = "memory_limit",
	    .type = RMQ_OPT_SPECIAL,
	    .set = opt_set_memory_limit,
	    .at = FIELD(memory_limit),
	    .reload = RMQ_RELOAD_NOW,
	    .arg = "auto, 0 or 1048576-2^50 bytes",
	    .expect = "auto, 0 (no limit) or a number of bytes from 1048576",
	    .def = "auto",
	    .help = "resident bytes past which new work is refused",
	    .doc =
		"Mosquitto's key, with a budget that holds before the kernel's out-of-memory killer acts: when the broker's resident memory (what the kernel counts against a container's limit) reaches this many bytes, it refuses new work and keeps serving what it holds: a CONNECT gets CONNACK 0x97 Quota exceeded (3.x: 3, server unavailable), a 5.0 QoS 1/2 PUBLISH is answered 0x97 and goes nowhere (3.x: acknowledged as an ACL refusal is; QoS 0 dropped), a SUBSCRIBE 0x97 (3.1.1: 0x80) for each filter.  Work is taken again once memory is below 95% of the limit.  Measured every 250 ms; the log says when the limit is reached and left; `ringmq_memory_resident_bytes`, `ringmq_memory_limit_bytes`, `ringmq_memory_over_limit` and `ringmq_memory_refused_total` report it.  `auto`, the default: 90% of the memory limit of the process's cgroup (a container's `resources.limits.memory`), none without one.  0: no limit.  Unlike Mosquitto's, a limit on what the process holds, not on each allocation" },
	{ .key = "max_sessions",
	    .type = RMQ_OPT_INT,
	    .at = FIELD(max_sessions),
	    .min = 1,
	    .max = 1000000000,
	    .bits = RMQ_OPT_ZERO_NOLIMIT,
	    .nolimit = 0,
	    .reload = RMQ_RELOAD_NOW,
	    .def = "1000000",
	    .help = "sessions the node keeps, connected or not",
	    .doc =
		"sessions (client identifiers) the node keeps, connected or kept for a client that left; a CONNECT that would start one more is refused: 5.0 CONNACK 0x97 Quota exceeded, 3.x return code 3 (server unavailable), counted in `ringmq_sessions_refused_total`.  A client resuming or taking over its session is not refused.  Sessions end with their expiry (`max_session_expiry` bounds it), so a node filled with sessions that never end refuses new ones rather than grow.  0: no limit" },
	{ .key = "socket_send_buffer",
	    .type = RMQ_OPT_INT,
	    .at = FIELD(socket_send_buffer),
	    .min = 4096,
	    .max = 1 << 30,
	    .bits = RMQ_OPT_ZERO_NOLIMIT,
	    .nolimit = 0,
	    .unit = "bytes",
	    .reload = RMQ_RELOAD_NEW_CONNECTIONS,
	    .def = "262144",
	    .help = "kernel send buffer of each client connection",
	    .doc =
		"the kernel's send buffer of each client connection (SO_SNDBUF; Linux reserves twice this): what the kernel holds for a client, written by the broker and not yet read.  Left to the kernel's autotuning, a client that does not read can hold megabytes, and a few thousand such clients reach the host's TCP memory limit (`net.ipv4.tcp_mem`), past which every connection crawls: 2,000 subscribers that read nothing and three 16 MiB messages to them made a publisher wait 24-31 s for each PUBACK.  256 KiB keeps a connection at full speed on a LAN (a 1 ms round trip moves 256 MB/s) and bounds what slow readers hold; raise it for clients far away that must receive fast, 0 leaves it to the kernel" },
	{ .key = "max_publish_rate",
	    .type = RMQ_OPT_INT,
	    .at = FIELD(max_publish_rate),
	    .min = 0,
	    .max = 100000000,
	    .reload = RMQ_RELOAD_NOW,
	    .arg = "PUBLISHes per second, 0 = no limit",
	    .def = "0",
	    .help = "PUBLISHes one client may send per second",
	    .doc =
		"PUBLISH packets one client may send in a second of the clock; more are refused at once and go nowhere: a 5.0 client's QoS 1/2 PUBLISH is answered 0x97 Quota exceeded (PUBACK, PUBREC), a 3.x client's acknowledged without a code as an ACL refusal is, QoS 0 dropped; counted in `ringmq_publishes_refused_total{reason=\"rate\"}`.  The client stays connected and other clients are not affected.  A QoS 2 PUBLISH sent again for an id already received is not counted.  0, the default: no limit" },
	{ .key = "receive_maximum",
	    .type = RMQ_OPT_INT,
	    .at = FIELD(receive_maximum),
	    .min = 1,
	    .max = 65535,
	    .reload = RMQ_RELOAD_NEW_CONNECTIONS,
	    .def = "128",
	    .help = "QoS 2 messages a client may have in flight to us",
	    .doc =
		"QoS 2 messages a client may have in flight to us (5.0: told in CONNACK; past it DISCONNECT 0x93)" },
	{ .key = "max_topic_alias",
	    .aliases = "topic_alias_maximum",
	    .type = RMQ_OPT_INT,
	    .at = FIELD(topic_alias_max),
	    .min = 0,
	    .max = 65535,
	    .reload = RMQ_RELOAD_RESTART,
	    .def = "64",
	    .help = "topic aliases a 5.0 client may set",
	    .doc =
		"topic aliases a 5.0 client may set (told in CONNACK); 0 allows none.  Mosquitto's name and meaning; Mosquitto's default is 10" },
	{ .key = "max_session_expiry",
	    .type = RMQ_OPT_INT,
	    .at = FIELD(max_session_expiry),
	    .min = 0,
	    .max = 4294967294ll,
	    .unit = "seconds",
	    .reload = RMQ_RELOAD_NOW,
	    .def = "4294967294",
	    .help = "cap on the Session Expiry Interval a 5.0 client asks for",
	    .doc =
		"cap on the Session Expiry Interval a 5.0 client asks for (the granted value is told in CONNACK)" },
	{ .key = "max_keepalive",
	    .type = RMQ_OPT_INT,
	    .at = FIELD(max_keepalive),
	    .min = 0,
	    .max = 65535,
	    .reload = RMQ_RELOAD_NOW,
	    .arg = "0-65535 seconds, 0 = no limit",
	    .def = "65535",
	    .help = "longest keep alive a client may use",
	    .doc =
		"longest keep alive a client may use: a 5.0 client asking more, or 0 (none), is told this value as Server Keep Alive in CONNACK and held to it, as Mosquitto does (whose default is also 65535), so no 5.0 connection stays silent for ever; a 3.x client cannot be told: one asking more is refused with return code 2 (Mosquitto 2.0.11 lets it in with what it asked), one asking 0 is let in, as with Mosquitto.  0: no limit" },
	{ .key = "max_qos",
	    .aliases = "maximum_qos", /* Mosquitto reads both */
	    .type = RMQ_OPT_INT,
	    .at = FIELD(max_qos),
	    .min = 0,
	    .max = 2,
	    .reload = RMQ_RELOAD_NEW_CONNECTIONS,
	    .def = "2",
	    .help = "highest QoS clients may use",
	    .doc =
		"highest QoS clients may use, as Mosquitto's key: a 5.0 client is told it (Maximum QoS in CONNACK); a PUBLISH above it closes the connection (5.0: DISCONNECT 0x9B); a will above it is refused (5.0: CONNACK 0x9B, 3.x: return code 5); a SUBSCRIBE above it is granted `max_qos`" },
	{ .key = "retain_available",
	    .type = RMQ_OPT_BOOL,
	    .at = FIELD(retain_available),
	    .reload = RMQ_RELOAD_NEW_CONNECTIONS,
	    .def = "true",
	    .help = "whether retained messages are kept",
	    .doc =
		"whether retained messages are kept; with `false` a retained PUBLISH is refused (5.0: 0x9A)" },
	/* Who gets in (auth/authn.h). */
	{ .key = "allow_anonymous",
	    .type = RMQ_OPT_SPECIAL,
	    .set = opt_set_anonymous,
	    .at = FIELD(allow_anonymous),
	    .arg = "true|false",
	    .expect = "true or false",
	    .reload = RMQ_RELOAD_NOW,
	    .unset = "on loopback listeners only",
	    .help = "let in clients that send nothing to check",
	    .doc =
		"Mosquitto's: whether clients that send nothing that can be checked (no user name, or a user name with no `password_file` to check it against) get in.  Unset, as in Mosquitto 2: only on listeners bound to loopback addresses (127.0.0.0/8, ::1, localhost), so a broker opened to the network refuses them until this says `true`.  Refused clients get CONNACK 0x87 (3.x: 5, not authorised).  Unlike Mosquitto, a user name alone is not enough without a password file" },
	{ .key = "password_file",
	    .type = RMQ_OPT_STRING,
	    .at = FIELD(password_file),
	    .minargs = 1,
	    .maxargs = RMQ_CONF_MAX_ARGS,
	    .reload = RMQ_RELOAD_NOW,
	    .arg = "PATH",
	    .unset = "none",
	    .help = "user names and password hashes, mosquitto_passwd's format",
	    .doc =
		"Mosquitto's: user names and password hashes, one `user:hash` a line, as `mosquitto_passwd` (or `ringmq passwd`) writes them: `$7$` (PBKDF2-SHA512, Mosquitto 2) and `$6$` (SHA-512, Mosquitto 1.x), and `$scram-sha-256$` (`ringmq passwd -S`; not Mosquitto's), whose users may also log in with MQTT 5.0 enhanced authentication, SCRAM-SHA-256.  A client's user name and password must match a line (CONNACK 0x86, 3.x: 4, otherwise).  Read at start and again at each SIGHUP; a file with a bad line stops the start, or is refused by the reload (which keeps the file before), naming PATH:LINE.  Checks of files hashed with more than 2,000 rounds run on a thread of their own, off the loops" },
	{ .key = "acl_file",
	    .type = RMQ_OPT_STRING,
	    .at = FIELD(acl_file),
	    .minargs = 1,
	    .maxargs = RMQ_CONF_MAX_ARGS,
	    .reload = RMQ_RELOAD_NOW,
	    .arg = "PATH",
	    .unset = "none: every client may do everything",
	    .help = "what each client may publish, subscribe to and receive",
	    .doc =
		"Mosquitto's: the access control list, in Mosquitto's format (`topic [read|write|readwrite|deny] TOPIC` lines, for anonymous clients before any `user NAME` line and for that user after one; `pattern` lines for everyone, `%c` the client identifier and `%u` the user name).  Checked on SUBSCRIBE (5.0 0x87, 3.x 0x80 for that filter: a topic the client may not read, or a wildcard filter no topic could be read through; Mosquitto grants the latter and delivers nothing), PUBLISH (dropped; 5.0 acknowledgement 0x87), every delivery (retained messages, wills and `$SYS` included) and a will at CONNECT (refused, 0x87).  Answers are remembered per session until the next reload.  Read at start and again at SIGHUP; a bad line stops the start or is refused by the reload, naming PATH:LINE" },
	{ .key = "psk_file",
	    .type = RMQ_OPT_STRING,
	    .at = FIELD(psk_file),
	    .reload = RMQ_RELOAD_RESTART,
	    .arg = "PATH",
	    .unset = "none",
	    .help = "identities and pre-shared keys for listeners with psk_hint",
	    .doc =
		"Mosquitto's: one `identity:key` a line, the key in hexadecimal (at most 64 bytes), for the listeners with `psk_hint`; `#` begins a comment line.  A client whose identity is not in the file, or whose key differs, fails its handshake (counted in `ringmq_tls_handshake_failures_total`).  Its contents are read again at each SIGHUP with the certificates; a bad line stops the start, or is refused by the reload (which keeps the file before), naming PATH:LINE" },
	{ .key = "persistence",
	    .type = RMQ_OPT_BOOL,
	    .at = FIELD(persistence),
	    .reload = RMQ_RELOAD_RESTART,
	    .def = "true",
	    .help = "keep retained messages and sessions on disk",
	    .doc =
		"Mosquitto's key, on by default: retained messages and persistent sessions (their expiry, subscriptions, wills, queued and in-flight QoS 1/2 messages and QoS 2 ids received) are kept in `persistence_location` and read back at start, so a restart or a crash keeps them; a change is on disk as `durability` says (by default before the PUBACK/PUBREC of the PUBLISH, or the SUBACK/UNSUBACK, that made it).  `false`: memory only, as Mosquitto's default.  The directory is opened before the listeners: one that cannot be made, is locked by another broker, holds a newer format or is damaged stops the start, naming the path (docs/operations.md)" },
	{ .key = "persistence_location",
	    .flags = "--data-dir",
	    .type = RMQ_OPT_STRING,
	    .at = FIELD(persistence_location),
	    .minargs = 1,
	    .maxargs = RMQ_CONF_MAX_ARGS,
	    .reload = RMQ_RELOAD_RESTART,
	    .arg = "DIR",
	    .def = "./data",
	    .help = "the data directory (made when missing)",
	    .doc =
		"Mosquitto's key: the directory the node keeps its state in (an LMDB environment and `ringmq.lock`), made (mode 0700) when missing; relative to the working directory.  One broker at a time: a second one started on it is refused, naming the pid that holds it" },
	{ .key = "persistence_max_bytes",
	    .type = RMQ_OPT_INT,
	    .at = FIELD(persistence_max_bytes),
	    .min = 1ll << 20,
	    .max = 1ll << 44,
	    .unit = "bytes",
	    .reload = RMQ_RELOAD_RESTART,
	    .def = "68719476736",
	    .help = "the most the data directory may hold",
	    .doc =
		"the most the data directory may hold (LMDB's map, reserved as address space, not memory).  Past it, or when the filesystem is full, a commit fails: the log says so once, `ringmq_store_commit_failures_total` counts it and `ringmq_store_failing` is 1, 5.0 publishers waiting on it are answered 0x97 Quota exceeded (the message was delivered, not kept), and what it held is retried every second until it fits.  A directory that holds more already keeps its size" },
	{ .key = "durability",
	    .type = RMQ_OPT_SPECIAL,
	    .set = opt_set_durability,
	    .minargs = 1,
	    .maxargs = 2,
	    .reload = RMQ_RELOAD_RESTART,
	    .arg = "always, interval MS (1-3600000) or off",
	    .flag_arg = "always|interval=MS|off",
	    .expect = "always, interval MS (1-3600000) or off",
	    .def = "always",
	    .help = "when a change is committed to disk",
	    .doc =
		"when what `persistence` keeps reaches the disk.  `always`, the default: committed and synced before the packet that made it is acknowledged (PUBACK, PUBREC, SUBACK, UNSUBACK), many changes to one commit; a crash or a power loss loses nothing acknowledged.  `interval MS` (`--durability interval=MS` as a flag): acknowledged at once and committed at most every MS milliseconds; a broker killed, or a power loss, loses what the last MS milliseconds changed.  `off`: `persistence false`.  Every policy commits what is left when the broker stops.  Mosquitto's `autosave_interval SECONDS` is `interval` in seconds (its 0, saving at exit only, is the longest interval, 3,600 s)" },
	{ .key = "autosave_interval",
	    .type = RMQ_OPT_SPECIAL,
	    .set = opt_set_autosave,
	    .reload = RMQ_RELOAD_RESTART,
	    .arg = "SECONDS (0-3600)",
	    .expect = "a number of seconds from 0 to 3600",
	    .unset = "see `durability`",
	    .help = "Mosquitto's: durability interval SECONDS",
	    .doc =
		"Mosquitto's key: `durability interval` in seconds; 0 (Mosquitto's save at exit only) is 3,600 s.  Commits still happen when the broker stops" },
	{ .key = "allow_zero_length_clientid",
	    .type = RMQ_OPT_BOOL,
	    .at = FIELD(allow_zero_length_clientid),
	    .reload = RMQ_RELOAD_NOW,
	    .def = "true",
	    .help = "whether a client may connect without an identifier",
	    .doc =
		"whether a client may connect without an identifier and be given one, `ringmq-` and 32 hex digits, unique in the cluster and across restarts (3.1.1 needs clean session for it; 3.1 never allows it)" },
	{ .key = "response_information",
	    .type = RMQ_OPT_STRING,
	    .set = opt_set_response_info,
	    .at = FIELD(response_info),
	    .reload = RMQ_RELOAD_NOW,
	    .arg = "text with `%c` for the client identifier, or `none`",
	    .def = "response/%c",
	    .help =
		"Response Information for 5.0 clients that ask; %c: the client identifier",
	    .doc =
		"the Response Information sent in CONNACK to a 5.0 client that sets Request Response Information; a requester builds its Response Topics under it" },

	/* Operations. */
	{ .key = "admin_listener",
	    .type = RMQ_OPT_HOSTPORT,
	    .at = FIELD(admin),
	    .reload = RMQ_RELOAD_RESTART,
	    .arg =
		"ADDRESS:PORT (port 0: any free port, logged at start), or `none`",
	    .def = "127.0.0.1:9883",
	    .help =
		"/metrics, /healthz and /readyz over HTTP; none to turn off",
	    .doc =
		"HTTP endpoint: `/metrics` (Prometheus text format), `/healthz` (alive), `/readyz` (200 once the listeners are open and, in a cluster, the index is synced; 503 before, and while draining)" },
	{ .key = "admin_token_file",
	    .type = RMQ_OPT_STRING,
	    .at = FIELD(admin_token_file),
	    .reload = RMQ_RELOAD_RESTART,
	    .arg = "PATH",
	    .unset = "none",
	    .help = "the admin API's token: the first line of this file",
	    .doc =
		"the admin API (`/api/v1/`, `ringmq ctl`) takes requests that carry `Authorization: Bearer TOKEN`, TOKEN this file's first line (a Kubernetes Secret mounted as a file, say); unset, the API answers only when `admin_listener` is a loopback address, and refuses (403) elsewhere.  `/metrics`, `/healthz` and `/readyz` need no token" },
	{ .key = "admin_tls_certfile",
	    .type = RMQ_OPT_STRING,
	    .at = FIELD(admin_tls_certfile),
	    .reload = RMQ_RELOAD_RESTART,
	    .arg = "PATH",
	    .unset = "none",
	    .help = "HTTPS on admin_listener: its certificate (PEM)",
	    .doc =
		"`admin_listener` speaks HTTPS (NNG's TLS) with this certificate chain (PEM, its own first) and `admin_tls_keyfile`, both or neither.  Prometheus and the probes then use the `https` scheme" },
	{ .key = "admin_tls_keyfile",
	    .type = RMQ_OPT_STRING,
	    .at = FIELD(admin_tls_keyfile),
	    .reload = RMQ_RELOAD_RESTART,
	    .arg = "PATH",
	    .unset = "none",
	    .help = "HTTPS on admin_listener: the key of its certificate (PEM)",
	    .doc = "the private key (PEM, unencrypted) of `admin_tls_certfile`" },
	{ .key = "admin_tls_cafile",
	    .type = RMQ_OPT_STRING,
	    .at = FIELD(admin_tls_cafile),
	    .reload = RMQ_RELOAD_RESTART,
	    .arg = "PATH",
	    .unset = "none",
	    .help =
		"HTTPS on admin_listener: every client presents a certificate of this CA",
	    .doc =
		"with `admin_tls_certfile`: every connection to `admin_listener` must present a certificate that chains to these CA certificates (PEM), or its handshake fails; the API then takes requests without a token (the certificate is the credential), on any address.  Every endpoint needs a certificate then, `/metrics`, `/healthz` and `/readyz` too: give Prometheus one, and probe with `ringmq ctl health` (an exec probe) rather than an HTTP one" },
	{ .key = "node_name",
	    .type = RMQ_OPT_STRING,
	    .at = FIELD(node_name),
	    .reload = RMQ_RELOAD_RESTART,
	    .arg = "NAME",
	    .unset = "the host name",
	    .help = "this node's name in the cluster",
	    .doc =
		"this node's name in the cluster, unique in it; unset, the host name, which in a Kubernetes StatefulSet is the pod's name (ringmq-0, ringmq-1...).  Metrics and logs name peers by it" },
	{ .key = "cluster_listener",
	    .type = RMQ_OPT_HOSTPORT,
	    .at = FIELD(cluster_listener),
	    .reload = RMQ_RELOAD_RESTART,
	    .arg = "ADDRESS:PORT (`*` for every address; port 0: any free port, logged), or `none`",
	    .def = "none",
	    .help = "where peers reach this node; none: a single node",
	    .doc =
		"the cluster bus (NNG over TCP) that other nodes dial; with it this node joins the peers it is given (`cluster_seeds`, `cluster_dns`) and any they know.  `none`, the default: a single node, nothing of the cluster runs" },
	{ .key = "cluster_advertise",
	    .type = RMQ_OPT_STRING,
	    .at = FIELD(cluster_advertise),
	    .reload = RMQ_RELOAD_RESTART,
	    .arg = "HOST",
	    .unset = "the address peers see",
	    .help = "the host name or address peers dial this node at",
	    .doc =
		"the host name or address other nodes dial this node at (with the cluster listener's port), as this node tells them; unset, each peer uses the address this node's connection comes from, which is right unless a NAT stands between nodes" },
	{ .key = "cluster_seeds",
	    .type = RMQ_OPT_SPECIAL,
	    .set = opt_set_seeds,
	    .at = FIELD(cluster_seeds),
	    .reload = RMQ_RELOAD_RESTART,
	    .arg = "HOST:PORT[,HOST:PORT...]",
	    .expect = "HOST:PORT items separated by commas",
	    .unset = "none",
	    .help = "cluster listeners of nodes to join through",
	    .doc =
		"cluster listeners of other nodes to dial at start (and keep dialing while they are away); each node tells the others of the members it knows, so one reachable seed is enough to meet the whole cluster" },
	{ .key = "cluster_dns",
	    .type = RMQ_OPT_SPECIAL,
	    .set = opt_set_dns,
	    .at = FIELD(cluster_dns),
	    .reload = RMQ_RELOAD_RESTART,
	    .arg = "NAME:PORT",
	    .expect = "one NAME:PORT",
	    .unset = "none",
	    .help = "a DNS name whose addresses are the peers (a headless Service)",
	    .doc =
		"a DNS name whose every address is a node's cluster listener at PORT, resolved at start and again every `cluster_dns_interval`, each new address dialled: a Kubernetes headless Service with `publishNotReadyAddresses: true`.  An address that turns out to be this node is not dialled again" },
	{ .key = "cluster_dns_interval",
	    .type = RMQ_OPT_INT,
	    .at = FIELD(cluster_dns_interval_ms),
	    .min = 100,
	    .max = 3600000,
	    .unit = "milliseconds",
	    .reload = RMQ_RELOAD_RESTART,
	    .def = "5000",
	    .help = "how often cluster_dns is resolved again" },
	{ .key = "cluster_peer_timeout",
	    .type = RMQ_OPT_INT,
	    .at = FIELD(cluster_peer_timeout_ms),
	    .min = 100,
	    .max = 60000,
	    .unit = "milliseconds",
	    .reload = RMQ_RELOAD_RESTART,
	    .def = "1500",
	    .help = "silence after which a peer is down",
	    .doc =
		"a peer not heard from for this long is down (logged, `ringmq_cluster_peers{state=\"down\"}`); each node sends a hello six times in this time, so a dead peer is found between this and this plus a sixth, and a live one survives five lost hellos in a row.  A session moving between nodes may take four times this before its ends give it up, and a CONNECT's claim of its client identifier waits for a peer up at most five times this" },
	{ .key = "cluster_forward_port",
	    .type = RMQ_OPT_INT,
	    .at = FIELD(cluster_forward_port),
	    .min = 0,
	    .max = 65535,
	    .reload = RMQ_RELOAD_RESTART,
	    .def = "0",
	    .arg = "PORT (0: the cluster listener's port + 1)",
	    .help = "where peers send this node the messages it subscribes to",
	    .doc =
		"the port of the cluster channel (NNG over TCP, on the cluster listener's address) that carries messages between nodes: a message goes only to the nodes whose subscriptions it matches, once each, acknowledged and sent again until taken.  0, the default: the cluster listener's port plus one (any free port when that is 0); this node tells its peers the port in its hellos" },
	{ .key = "cluster_links",
	    .type = RMQ_OPT_BOOL,
	    .at = FIELD(cluster_links),
	    .reload = RMQ_RELOAD_RESTART,
	    .def = "true",
	    .help = "carry forwarded messages on the worker loops' own connections",
	    .doc =
		"`true`, the default: each worker's messages for a peer travel on a TCP connection of its own loop (a link, on `cluster_link_port`), read and routed by a worker loop of the peer, with no thread of NNG's or the channel's in their path; route changes and the rest stay on the NNG channel.  A peer that offers no links (`false` there, or an older version) is sent to over the channel, as with `false` here.  Links are plain TCP: with `cluster_tls_certfile` set, forwarded messages stay on the channel's TLS and links are off" },
	{ .key = "cluster_link_port",
	    .type = RMQ_OPT_INT,
	    .at = FIELD(cluster_link_port),
	    .min = 0,
	    .max = 65535,
	    .reload = RMQ_RELOAD_RESTART,
	    .def = "0",
	    .arg = "PORT (0: the channel's port + 1)",
	    .help = "where peers' links connect (cluster_links)",
	    .doc =
		"the port links are taken on (on the cluster listener's address; see `cluster_links`).  0, the default: the channel's port (`cluster_forward_port`) plus one, any free port when the cluster listener's port is 0; this node tells its peers the port in its hellos" },
	{ .key = "cluster_forward_queue",
	    .type = RMQ_OPT_INT,
	    .at = FIELD(cluster_forward_queue),
	    .min = 65536,
	    .max = 1ll << 40,
	    .unit = "bytes",
	    .reload = RMQ_RELOAD_RESTART,
	    .def = "67108864",
	    .help = "bytes of messages that may wait for one peer",
	    .doc =
		"bytes of messages that may wait for one peer, not yet sent or not yet acknowledged, shared evenly among the worker threads; past it a message for that peer is dropped, counted in `ringmq_cluster_forward_dropped_total{peer}`.  A worker never waits for a peer" },
	{ .key = "cluster_subscribe_wait",
	    .type = RMQ_OPT_INT,
	    .at = FIELD(cluster_subscribe_wait_ms),
	    .min = 0,
	    .max = 60000,
	    .unit = "milliseconds",
	    .reload = RMQ_RELOAD_NOW,
	    .def = "0",
	    .help = "hold a SUBACK until every peer has the subscription (0: no)",
	    .doc =
		"a SUBACK waits until every peer up has applied the subscription's route, so that nothing published on another node after the SUBACK misses it, for at most this long (then it goes anyway, counted in `ringmq_cluster_suback_wait_expired_total`).  0, the default: the SUBACK goes at once, and for the time the route takes to reach the peers (`ringmq_cluster_control_applied_seconds`, under a millisecond on a LAN) a message published elsewhere may miss the new subscription" },
	{ .key = "cluster_tls_certfile",
	    .type = RMQ_OPT_STRING,
	    .at = FIELD(cluster_tls_certfile),
	    .reload = RMQ_RELOAD_RESTART,
	    .arg = "PATH",
	    .unset = "none",
	    .help = "TLS between nodes: this node's certificate (PEM)",
	    .doc =
		"TLS between nodes (NNG's `tls+tcp`, on the cluster listener and the channel): this node's certificate chain (PEM, its own first).  With `cluster_tls_keyfile` and `cluster_tls_cafile`, all three or none: every node presents its certificate and checks its peer's against the CA, both ways, so only nodes holding a certificate of the cluster's CA join.  Every node of a cluster must have it, or none" },
	{ .key = "cluster_tls_keyfile",
	    .type = RMQ_OPT_STRING,
	    .at = FIELD(cluster_tls_keyfile),
	    .reload = RMQ_RELOAD_RESTART,
	    .arg = "PATH",
	    .unset = "none",
	    .help = "TLS between nodes: this node's private key (PEM)",
	    .doc = "the private key (PEM, unencrypted) of `cluster_tls_certfile`" },
	{ .key = "cluster_tls_cafile",
	    .type = RMQ_OPT_STRING,
	    .at = FIELD(cluster_tls_cafile),
	    .reload = RMQ_RELOAD_RESTART,
	    .arg = "PATH",
	    .unset = "none",
	    .help = "TLS between nodes: the CA peers' certificates are checked against",
	    .doc =
		"the CA certificates (PEM) a peer's certificate must chain to, whichever node dialled" },
	{ .key = "cluster_tls_peer_name",
	    .type = RMQ_OPT_STRING,
	    .at = FIELD(cluster_tls_peer_name),
	    .reload = RMQ_RELOAD_RESTART,
	    .arg = "NAME",
	    .unset = "none",
	    .help = "TLS between nodes: the name peers' certificates must carry",
	    .doc =
		"the name (a DNS name in the certificate, or its Common Name) a node this node dials must have in its certificate, as well as the CA's signature; for a certificate the cluster's nodes share.  Unset: the CA's signature is enough (peers are dialled at addresses, which certificates seldom name)" },
	{ .key = "cluster_ack",
	    .type = RMQ_OPT_BOOL,
	    .at = FIELD(cluster_ack),
	    .reload = RMQ_RELOAD_NOW,
	    .def = "false",
	    .help = "acknowledge a PUBLISH once every node it goes to has it",
	    .doc =
		"`true`: a QoS 1 or 2 PUBLISH whose message goes to other nodes is acknowledged (PUBACK, PUBREC) only once each of them has taken it, so that this node dying after the acknowledgement loses nothing it acknowledged; a node that goes down meanwhile stops counting (at most `cluster_peer_timeout`).  A message that could not go to a node (its `cluster_forward_queue` full) is answered 0x97 to a 5.0 publisher; a 3.x one cannot be told.  Held acknowledgements are counted in `ringmq_cluster_ack_waits_total`, refusals in `ringmq_cluster_ack_refused_total`.  `false`, the default: acknowledged once the message is queued toward them" },
	{ .key = "sys_interval",
	    .type = RMQ_OPT_INT,
	    .at = FIELD(sys_interval),
	    .min = 0,
	    .max = 86400,
	    .reload = RMQ_RELOAD_NOW,
	    .arg = "0-86400 seconds, 0 = off",
	    .def = "10",
	    .help = "how often the $SYS/broker topics are published",
	    .doc =
		"how often the `$SYS/broker/...` topics are published (retained): version, uptime, clients connected/total/disconnected, messages and bytes received/sent, subscriptions, retained messages, 1-minute loads" },
	{ .key = "shutdown_grace",
	    .type = RMQ_OPT_INT,
	    .at = FIELD(shutdown_grace_ms),
	    .min = 0,
	    .max = 3600,
	    .scale = 1000,
	    .unit = "seconds",
	    .reload = RMQ_RELOAD_NOW,
	    .def = "5",
	    .help = "SIGTERM: seconds clients get to drain",
	    .doc =
		"at SIGTERM, how long clients get to take what is written to them (5.0 clients first get DISCONNECT 0x8B) before their connections are closed; in a cluster, first as long again at most for the persistent sessions of the clients it disconnected to move to the nodes they reconnect to" },
	{ .key = "server_reference",
	    .type = RMQ_OPT_STRING,
	    .at = FIELD(server_reference),
	    .reload = RMQ_RELOAD_NOW,
	    .arg = "host:port, or a name clients resolve",
	    .unset = "none",
	    .help = "Server Reference for 5.0 clients when this node stops",
	    .doc =
		"the Server Reference a 5.0 client is told at SIGTERM (with DISCONNECT 0x8B) and when its CONNECT comes while the node drains (CONNACK 0x9C, Use another server): where to reconnect, the Service in front of the cluster, say; empty: none is told, and a CONNECT while draining gets 0x88" },
	{ .key = "pid_file",
	    .type = RMQ_OPT_STRING,
	    .at = FIELD(pid_file),
	    .bits = RMQ_OPT_PROCESS,
	    .minargs = 1,
	    .maxargs = RMQ_CONF_MAX_ARGS,
	    .reload = RMQ_RELOAD_RESTART,
	    .arg = "PATH",
	    .unset = "none",
	    .help = "write the pid here once listening; removed at exit",
	    .doc =
		"Mosquitto's: the process id is written to PATH once the listeners are open (before `user` is taken on, so PATH may be root's) and the file is removed at exit (which needs `user` to be allowed to, as with Mosquitto); a file that cannot be written stops the start" },
	{ .key = "user",
	    .type = RMQ_OPT_STRING,
	    .at = FIELD(user),
	    .bits = RMQ_OPT_PROCESS,
	    .reload = RMQ_RELOAD_RESTART,
	    .arg = "NAME",
	    .unset = "none: stay as started",
	    .help = "started as root: become this user once listening",
	    .doc =
		"Mosquitto's: started as root, ringmq becomes NAME (its group and supplementary groups: setgid, initgroups, setuid) once every listening socket is bound and the pid file written; a user that does not exist stops the start.  Started as any other user it is not used, as in Mosquitto.  Unlike Mosquitto there is no default user (Mosquitto's is `mosquitto`); a reload reads the file as NAME" },
	{ .key = "include_dir",
	    .type = RMQ_OPT_SPECIAL,
	    .set = rmq_options_include_dir,
	    .bits = RMQ_OPT_REPEAT,
	    .minargs = 1,
	    .maxargs = RMQ_CONF_MAX_ARGS,
	    .reload = RMQ_RELOAD_NOW,
	    .arg = "DIRECTORY",
	    .unset = "none",
	    .help = "read DIRECTORY's *.conf files here, in Mosquitto's order",
	    .doc =
		"Mosquitto's: the files of DIRECTORY whose names end in `.conf` are read where the line stands, in Mosquitto's order (by name, each letter's upper case before its lower case: `00.conf`, `A.conf`, `a.conf`, `B.conf`); several lines are read in their order.  Only the main file (or the environment, or a flag) may include: an `include_dir` in an included file is refused.  An error names the included file and its line" },

	/* Logging. */
	{ .key = "log_level",
	    .flags = "-v=debug --verbose=debug",
	    .type = RMQ_OPT_ENUM,
	    .at = FIELD(log_level),
	    .names = opt_levels,
	    .reload = RMQ_RELOAD_NOW,
	    .def = "info",
	    .help = "the least severe lines logged (-v: debug)",
	    .doc =
		"the least severe lines logged: `notice` start, stop and reload; `info` connections; `debug` every PUBLISH and SUBSCRIBE" },
	{ .key = "log_type",
	    .type = RMQ_OPT_SPECIAL,
	    .set = opt_set_log_type,
	    .bits = RMQ_OPT_REPEAT,
	    .reload = RMQ_RELOAD_NOW,
	    .arg =
		"Mosquitto's kinds: `none`, `error`, `warning`, `notice`, `information`, `subscribe`, `unsubscribe`, `websockets`, `debug`, `all`",
	    .def = "information",
	    .help =
		"Mosquitto's form of log_level: the most verbose kind named sets it",
	    .doc =
		"for mosquitto.conf files: one kind a line, the most verbose kind named sets `log_level` (`subscribe`, `unsubscribe`, `websockets` and `all` mean `debug`)" },
	{ .key = "log_format",
	    .type = RMQ_OPT_ENUM,
	    .at = FIELD(log_format),
	    .names = opt_formats,
	    .reload = RMQ_RELOAD_NOW,
	    .def = "text",
	    .help = "text, or json: one object a line",
	    .doc =
		"text: `TIME LEVEL ringmq: message`; json: one `{\"time\",\"level\",\"msg\"}` object per line" },
	{ .key = "log_dest",
	    .type = RMQ_OPT_SPECIAL,
	    .set = opt_set_log_dest,
	    .at = FIELD(log_dest.to),
	    .bits = RMQ_OPT_REPEAT | RMQ_OPT_PROCESS,
	    .minargs = 1,
	    .maxargs = RMQ_CONF_MAX_ARGS,
	    .reload = RMQ_RELOAD_NOW,
	    .arg = "`stderr`, `stdout`, `file` PATH, `syslog`, `none`",
	    .expect = "stderr, stdout, file PATH, syslog or none",
	    .def = "stderr",
	    .help = "where log lines go (repeatable)",
	    .doc =
		"Mosquitto's: where log lines go, one destination a line, several lines for several (a layer's first line replaces the default).  `file` appends to PATH (created 0644) and opens it again at SIGHUP, for logrotate; only one file.  `syslog` sends each message at its level to syslog(3) (facility `log_facility`).  `none`: no log at all.  `topic` ($SYS/broker/log) and `dlt` are refused: not supported yet" },
	{ .key = "log_timestamp",
	    .type = RMQ_OPT_BOOL,
	    .at = FIELD(log_dest.timestamp),
	    .bits = RMQ_OPT_PROCESS,
	    .reload = RMQ_RELOAD_NOW,
	    .def = "true",
	    .help = "a time at the start of each line",
	    .doc =
		"Mosquitto's: a time at the start of each line (JSON: the `time` member); syslog adds its own" },
	{ .key = "log_timestamp_format",
	    .type = RMQ_OPT_STRING,
	    .at = FIELD(log_dest.timestamp_format),
	    .bits = RMQ_OPT_PROCESS,
	    .minargs = 1,
	    .maxargs = RMQ_CONF_MAX_ARGS,
	    .reload = RMQ_RELOAD_NOW,
	    .arg = "a strftime(3) format",
	    .unset = "ISO 8601 in UTC with milliseconds",
	    .help = "the time's strftime(3) format, in local time",
	    .doc =
		"Mosquitto's: the time's strftime(3) format, in local time as Mosquitto's (`%Y-%m-%dT%H:%M:%S`); the rest of the line, blanks included" },
	{ .key = "log_facility",
	    .type = RMQ_OPT_SPECIAL,
	    .set = opt_set_log_facility,
	    .at = FIELD(log_dest.facility),
	    .bits = RMQ_OPT_PROCESS,
	    .reload = RMQ_RELOAD_NOW,
	    .arg = "0-7",
	    .expect = "a whole number from 0 to 7",
	    .unset = "daemon",
	    .help = "log_dest syslog: the facility local0 to local7",
	    .doc =
		"Mosquitto's: with `log_dest syslog`, log to the facility local*N* instead of daemon" },
	{ .key = "connection_messages",
	    .type = RMQ_OPT_BOOL,
	    .at = FIELD(connection_messages),
	    .reload = RMQ_RELOAD_NOW,
	    .def = "true",
	    .help = "log connections and disconnections (at info)" },

	/* Mosquitto's keys that ringmq takes where they match what it does. */
	LATER("per_listener_settings", "false",
	    "settings per listener (listener blocks)"),
	ONLY("set_tcp_nodelay", "true",
	    "client sockets always have TCP_NODELAY set"),
	ONLY("check_retain_source", "true false",
	    "without access control every retained message's source passes the check"),
	ONLY("allow_duplicate_messages", "true false",
	    "a client with overlapping subscriptions gets one copy of a message, which both values allow"),
	ONLY("auto_id_prefix", "ringmq-",
	    "identifiers ringmq assigns are ringmq- and 32 hex digits"),
	LATER("queue_qos0_messages", "false",
	    "queueing QoS 0 messages for offline sessions"),
	LATER("upgrade_outgoing_qos", "false",
	    "upgrading QoS to the subscription's"),
	LATER("max_inflight_bytes", "0",
	    "a bound in bytes on messages in flight"),
	LATER("message_size_limit", "0",
	    "a payload size limit apart from max_packet_size"),
	LATER("retain_expiry_interval", "0", "expiry of retained messages"),
	LATER("clientid_prefixes", NULL, "client identifier prefixes"),
	LATER("bind_interface", NULL, "binding a listener to an interface"),
	LATER("socket_domain", NULL, "choosing a listener's address family"),
	LATER("mount_point", NULL, "listener mount points"),
	LATER("use_username_as_clientid", "false", AUTH),

	/* Features still to come. */
	LATER("auth_plugin", NULL, AUTH),
	LATER("auth_plugin_deny_special_chars", NULL, AUTH),
	LATER("auth_opt_*", NULL, AUTH),
	LATER("plugin", NULL, AUTH),
	LATER("plugin_opt_*", NULL, AUTH),
	LATER("tls_engine", NULL, "OpenSSL engines"),
	LATER("tls_engine_kpass_sha1", NULL, "OpenSSL engines"),
	ONLY("tls_keyform", "pem", "keys are read from PEM files"),
	LATER("http_dir", NULL, "serving files over HTTP"),
	ONLY("websockets_log_level", "0",
	    "WebSocket messages follow log_type and log_level"),
	LATER("persistence_file", NULL, PERSIST),
	LATER("autosave_on_changes", NULL, PERSIST),
	LATER("fsync", NULL, PERSIST),
	LATER("persistent_client_expiration", NULL, PERSIST),
	LATER("connection", NULL, BRIDGE),
	LATER("address", NULL, BRIDGE),
	LATER("addresses", NULL, BRIDGE),
	LATER("topic", NULL, BRIDGE),
	LATER("bridge_*", NULL, BRIDGE),
	LATER("cleansession", NULL, BRIDGE),
	LATER("local_cleansession", NULL, BRIDGE),
	LATER("local_clientid", NULL, BRIDGE),
	LATER("local_password", NULL, BRIDGE),
	LATER("local_username", NULL, BRIDGE),
	LATER("remote_clientid", NULL, BRIDGE),
	LATER("remote_password", NULL, BRIDGE),
	LATER("remote_username", NULL, BRIDGE),
	LATER("notifications", NULL, BRIDGE),
	LATER("notifications_local_only", NULL, BRIDGE),
	LATER("notification_topic", NULL, BRIDGE),
	LATER("keepalive_interval", NULL, BRIDGE),
	LATER("idle_timeout", NULL, BRIDGE),
	LATER("restart_timeout", NULL, BRIDGE),
	LATER("round_robin", NULL, BRIDGE),
	LATER("start_type", NULL, BRIDGE),
	LATER("threshold", NULL, BRIDGE),
	LATER("try_private", NULL, BRIDGE),
};
/* clang-format on */

const size_t rmq_options_count = sizeof(rmq_options) / sizeof(rmq_options[0]);
