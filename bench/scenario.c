/* bench/scenario.c: the command line, the named scenarios and the plan of
 * clients (see scenario.h).  A hand-written parser rather than getopt, so
 * that it is re-entrant (the tests call it many times) and -h can be the
 * host as in emqtt-bench.
 */
#include "scenario.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "topic.h"

static const char *const bench_scn_names[] = {
	[RMQ_SCN_NONE] = "none",
	[RMQ_SCN_P2P] = "p2p",
	[RMQ_SCN_FANOUT] = "fanout",
	[RMQ_SCN_FANIN] = "fanin",
	[RMQ_SCN_SHAREDSUB] = "sharedsub",
	[RMQ_SCN_CONN] = "conn",
};

const char *
rmq_bench_scenario_name(enum rmq_bench_scenario s)
{
	if ((unsigned)s >= sizeof(bench_scn_names) / sizeof(bench_scn_names[0]))
		return "none";
	return bench_scn_names[s];
}

enum rmq_bench_scenario
rmq_bench_scenario_from(const char *name)
{
	for (unsigned i = 1;
	     i < sizeof(bench_scn_names) / sizeof(*bench_scn_names); i++)
		if (strcmp(name, bench_scn_names[i]) == 0)
			return (enum rmq_bench_scenario)i;
	if (strcmp(name, "fan-out") == 0)
		return RMQ_SCN_FANOUT;
	if (strcmp(name, "fan-in") == 0)
		return RMQ_SCN_FANIN;
	return RMQ_SCN_NONE;
}

void
rmq_bench_cfg_defaults(struct rmq_bench_cfg *cfg, enum rmq_bench_mode mode,
    enum rmq_bench_scenario scenario)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->mode = mode;
	cfg->scenario = scenario;
	cfg->port = 1883;
	cfg->clients = mode == RMQ_BENCH_RUN ? 100 : 1;
	cfg->qos = 0;
	cfg->version = 5;
	cfg->size = 256;
	/* emqtt-bench paces each publisher at 1 s and connects every 10 ms;
	 * scenarios run unlimited, with a window, and connect at once. */
	cfg->interval_ms = mode == RMQ_BENCH_RUN ? 0 : 1000;
	cfg->conn_interval_ms = mode == RMQ_BENCH_RUN ? 0 : 10;
	cfg->arrival = RMQ_ARRIVAL_EVEN;
	cfg->arrival_seed = 1;
	cfg->duration_s = 10;
	cfg->warmup_s = mode == RMQ_BENCH_RUN ? 1 : 0;
	cfg->drain_s = 5;
	cfg->connect_timeout_s = 10;
	cfg->inflight = 0; /* resolved after parsing: 100, or 1000 direct */
	cfg->keepalive = 60;
	cfg->share_group = "bench";
	cfg->client_prefix = "rmqb";
	switch (scenario) {
	case RMQ_SCN_P2P:
		cfg->topic = "bench/p2p/%i";
		cfg->filter = "bench/p2p/%i";
		break;
	case RMQ_SCN_FANOUT:
		cfg->topic = "bench/fanout";
		cfg->filter = "bench/fanout";
		break;
	case RMQ_SCN_FANIN:
		cfg->topic = "bench/fanin/%i";
		cfg->filter = "bench/fanin/+";
		break;
	case RMQ_SCN_SHAREDSUB:
		cfg->topic = "bench/shared/%i";
		cfg->filter = "bench/shared/+";
		break;
	default: break;
	}
}

static int
bench_fail(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return -EINVAL;
}

static int
bench_num(const char *s, double lo, double hi, double *out)
{
	char *end;
	errno = 0;
	double v = strtod(s, &end);
	if (errno != 0 || end == s || *end != '\0' || !isfinite(v) || v < lo ||
	    v > hi)
		return -EINVAL;
	*out = v;
	return 0;
}

static int
bench_uint(const char *s, uint64_t lo, uint64_t hi, uint64_t *out)
{
	char *end;
	if (*s == '-' || *s == '\0')
		return -EINVAL;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno != 0 || *end != '\0' || v < lo || v > hi)
		return -EINVAL;
	*out = v;
	return 0;
}

/* Split a comma-separated list into list[*n...], in place (the strings
 * point into argv). */
static int
bench_list(char *s, const char **list, unsigned *n, unsigned max)
{
	char *save = NULL;
	for (char *tok = strtok_r(s, ",", &save); tok;
	     tok = strtok_r(NULL, ",", &save)) {
		if (*n >= max)
			return -E2BIG;
		list[(*n)++] = tok;
	}
	return 0;
}

enum bench_opt {
	OPT_HOST = 1,
	OPT_PORT,
	OPT_CLIENTS,
	OPT_TOPIC,
	OPT_FILTER,
	OPT_QOS,
	OPT_SIZE,
	OPT_INTERVAL,
	OPT_CONN_INTERVAL,
	OPT_CONN_RATE,
	OPT_DURATION,
	OPT_WARMUP,
	OPT_DRAIN,
	OPT_CONNECT_TIMEOUT,
	OPT_JSON,
	OPT_BROKER_PID,
	OPT_VERSION_LEVEL,
	OPT_THREADS,
	OPT_INFLIGHT,
	OPT_LIMIT,
	OPT_KEEPALIVE,
	OPT_PUBS,
	OPT_SUBS,
	OPT_IFADDR,
	OPT_TLS,
	OPT_DIRECT,
	OPT_USER,
	OPT_PASS,
	OPT_GROUP,
	OPT_PREFIX,
	OPT_SHARD,
	OPT_QUIET,
	OPT_HELP,
	OPT_SHOW_VERSION,
	OPT_CACERT,
	OPT_WS,
	OPT_WS_PATH,
	OPT_TLS_RESUME,
	OPT_RETAIN,
	OPT_PERSISTENT,
	OPT_CERT,
	OPT_KEY,
	OPT_ARRIVAL,
	OPT_SEED,
	OPT_CPU_AFFINITY,
	OPT_APART,
	OPT_HOSTS_APART,
	OPT_ALL_ADDRESSES,
};

struct bench_optdef {
	char short_name;
	const char *long_name;
	uint8_t arg; /* 0 none, 1 required, 2 optional (--x=v only) */
	enum bench_opt id;
};

static const struct bench_optdef bench_opts[] = {
	{ 'h', "host", 1, OPT_HOST },
	{ 'p', "port", 1, OPT_PORT },
	{ 'c', "count", 1, OPT_CLIENTS },
	{ 0, "clients", 1, OPT_CLIENTS },
	{ 't', "topic", 1, OPT_TOPIC },
	{ 0, "filter", 1, OPT_FILTER },
	{ 'q', "qos", 1, OPT_QOS },
	{ 's', "size", 1, OPT_SIZE },
	{ 'I', "interval_of_msg", 1, OPT_INTERVAL },
	{ 'i', "interval", 1, OPT_CONN_INTERVAL },
	{ 0, "connect-rate", 1, OPT_CONN_RATE },
	{ 0, "arrival", 1, OPT_ARRIVAL },
	{ 0, "seed", 1, OPT_SEED },
	{ 0, "duration", 1, OPT_DURATION },
	{ 0, "warmup", 1, OPT_WARMUP },
	{ 0, "drain", 1, OPT_DRAIN },
	{ 0, "connect-timeout", 1, OPT_CONNECT_TIMEOUT },
	{ 0, "json", 1, OPT_JSON },
	{ 0, "broker-pid", 1, OPT_BROKER_PID },
	{ 'V', "version", 1, OPT_VERSION_LEVEL },
	{ 'T', "threads", 1, OPT_THREADS },
	{ 0, "cpu-affinity", 1, OPT_CPU_AFFINITY },
	{ 0, "apart", 0, OPT_APART },
	{ 0, "hosts-apart", 0, OPT_HOSTS_APART },
	{ 0, "all-addresses", 0, OPT_ALL_ADDRESSES },
	{ 0, "inflight", 1, OPT_INFLIGHT },
	{ 'L', "limit", 1, OPT_LIMIT },
	{ 'k', "keepalive", 1, OPT_KEEPALIVE },
	{ 0, "pubs", 1, OPT_PUBS },
	{ 0, "subs", 1, OPT_SUBS },
	{ 0, "ifaddr", 1, OPT_IFADDR },
	{ 'S', "ssl", 0, OPT_TLS },
	{ 0, "tls", 0, OPT_TLS },
	{ 0, "direct", 2, OPT_DIRECT },
	{ 'u', "username", 1, OPT_USER },
	{ 'P', "password", 1, OPT_PASS },
	{ 0, "group", 1, OPT_GROUP },
	{ 0, "prefix", 1, OPT_PREFIX },
	{ 0, "shard", 1, OPT_SHARD },
	{ 0, "quiet", 0, OPT_QUIET },
	{ 0, "help", 0, OPT_HELP },
	{ 0, "tool-version", 0, OPT_SHOW_VERSION },
	{ 0, "cacert", 1, OPT_CACERT },
	{ 0, "ws", 0, OPT_WS },
	{ 0, "tls-resume", 0, OPT_TLS_RESUME },
	{ 0, "retain", 0, OPT_RETAIN },
	{ 0, "persistent", 0, OPT_PERSISTENT },
	{ 0, "ws-path", 1, OPT_WS_PATH },
	{ 0, "cafile", 1, OPT_CACERT },
	{ 0, "cert", 1, OPT_CERT },
	{ 0, "certfile", 1, OPT_CERT },
	{ 0, "key", 1, OPT_KEY },
	{ 0, "keyfile", 1, OPT_KEY },
};

static const struct bench_optdef *
bench_find_opt(const char *arg, const char **inline_val)
{
	*inline_val = NULL;
	size_t n = sizeof(bench_opts) / sizeof(bench_opts[0]);
	if (arg[0] == '-' && arg[1] == '-') {
		const char *name = arg + 2;
		const char *eq = strchr(name, '=');
		size_t len = eq ? (size_t)(eq - name) : strlen(name);
		for (size_t i = 0; i < n; i++)
			if (strlen(bench_opts[i].long_name) == len &&
			    strncmp(bench_opts[i].long_name, name, len) == 0) {
				if (eq)
					*inline_val = eq + 1;
				return &bench_opts[i];
			}
		return NULL;
	}
	if (arg[0] == '-' && arg[1] != '\0') {
		for (size_t i = 0; i < n; i++)
			if (bench_opts[i].short_name == arg[1]) {
				if (arg[2] != '\0')
					*inline_val = arg + 2;
				return &bench_opts[i];
			}
	}
	return NULL;
}

static int
bench_apply(struct rmq_bench_cfg *cfg, enum bench_opt id, const char *name,
    char *val, char *err, size_t errlen)
{
	double d;
	uint64_t u;
	switch (id) {
	case OPT_HOST:
		if (bench_list(val, cfg->hosts, &cfg->nhosts,
			RMQ_BENCH_MAX_HOSTS) != 0)
			return bench_fail(err, errlen, "at most %d hosts",
			    RMQ_BENCH_MAX_HOSTS);
		return 0;
	case OPT_IFADDR:
		if (bench_list(val, cfg->src, &cfg->nsrc, RMQ_BENCH_MAX_SRC) !=
		    0)
			return bench_fail(err, errlen,
			    "at most %d source addresses", RMQ_BENCH_MAX_SRC);
		return 0;
	case OPT_PORT:
		if (bench_uint(val, 1, 65535, &u) != 0)
			break;
		cfg->port = (uint16_t)u;
		return 0;
	case OPT_CLIENTS:
		if (bench_uint(val, 1, 10000000, &u) != 0)
			break;
		cfg->clients = (uint32_t)u;
		return 0;
	case OPT_PUBS:
	case OPT_SUBS:
		if (bench_uint(val, 1, 10000000, &u) != 0)
			break;
		if (id == OPT_PUBS)
			cfg->pubs = (uint32_t)u;
		else
			cfg->subs = (uint32_t)u;
		return 0;
	case OPT_TOPIC:
		if (cfg->mode == RMQ_BENCH_SUB)
			cfg->filter = val;
		else
			cfg->topic = val;
		return 0;
	case OPT_FILTER: cfg->filter = val; return 0;
	case OPT_QOS:
		if (bench_uint(val, 0, 2, &u) != 0)
			break;
		cfg->qos = (uint8_t)u;
		return 0;
	case OPT_SIZE:
		if (bench_uint(val, 0, 256u << 20, &u) != 0)
			break;
		cfg->size = (uint32_t)u;
		return 0;
	case OPT_INTERVAL:
		if (bench_num(val, 0, 86400000, &d) != 0)
			break;
		cfg->interval_ms = d;
		return 0;
	case OPT_CONN_INTERVAL:
		if (bench_num(val, 0, 86400000, &d) != 0)
			break;
		cfg->conn_interval_ms = d;
		return 0;
	case OPT_CONN_RATE:
		if (bench_num(val, 0.001, 1e9, &d) != 0)
			break;
		cfg->conn_interval_ms = 1000.0 / d;
		return 0;
	case OPT_ARRIVAL: {
		int a = rmq_bench_arrival_from(val);
		if (a < 0)
			return bench_fail(err, errlen,
			    "--arrival takes even, random or aligned, not '%s'",
			    val);
		cfg->arrival = (enum rmq_bench_arrival)a;
		return 0;
	}
	case OPT_SEED:
		if (bench_uint(val, 0, UINT64_MAX, &u) != 0)
			break;
		cfg->arrival_seed = u;
		return 0;
	case OPT_DURATION:
		if (bench_num(val, 0.001, 86400 * 7, &d) != 0)
			break;
		cfg->duration_s = d;
		return 0;
	case OPT_WARMUP:
	case OPT_DRAIN:
	case OPT_CONNECT_TIMEOUT:
		if (bench_num(val, 0, 86400, &d) != 0)
			break;
		if (id == OPT_WARMUP)
			cfg->warmup_s = d;
		else if (id == OPT_DRAIN)
			cfg->drain_s = d;
		else if (d <= 0)
			break;
		else
			cfg->connect_timeout_s = d;
		return 0;
	case OPT_JSON: cfg->json = val; return 0;
	case OPT_BROKER_PID: {
		char copy[128], *save = NULL;
		snprintf(copy, sizeof(copy), "%s", val);
		cfg->nbroker_pids = 0;
		for (char *t = strtok_r(copy, ",", &save); t;
		     t = strtok_r(NULL, ",", &save)) {
			if (cfg->nbroker_pids == 8 ||
			    bench_uint(t, 1, 4194304, &u) != 0)
				return bench_fail(err, errlen,
				    "--broker-pid: up to 8 process ids separated by commas");
			cfg->broker_pids[cfg->nbroker_pids++] = (int)u;
		}
		if (cfg->nbroker_pids == 0)
			break;
		cfg->broker_pid = cfg->broker_pids[0];
		return 0;
	}
	case OPT_VERSION_LEVEL:
		if (bench_uint(val, 3, 5, &u) != 0)
			return bench_fail(err, errlen,
			    "-V takes 3 (MQTT 3.1), 4 (3.1.1) or 5 (5.0), not '%s'",
			    val);
		cfg->version = (uint8_t)u;
		return 0;
	case OPT_THREADS:
		if (bench_uint(val, 1, 1024, &u) != 0)
			break;
		cfg->threads = (unsigned)u;
		return 0;
	case OPT_INFLIGHT:
		if (bench_uint(val, 1, 1u << 30, &u) != 0)
			break;
		cfg->inflight = (uint32_t)u;
		return 0;
	case OPT_LIMIT:
		if (bench_uint(val, 0, UINT32_MAX, &u) != 0)
			break;
		cfg->limit = u;
		return 0;
	case OPT_KEEPALIVE:
		if (bench_uint(val, 0, 65535, &u) != 0)
			break;
		cfg->keepalive = (uint16_t)u;
		return 0;
	case OPT_TLS: cfg->tls = 1; return 0;
	case OPT_DIRECT:
		if (val == NULL || strcmp(val, "unix") == 0)
			cfg->direct = RMQ_DIRECT_UNIX;
		else if (strcmp(val, "tcp") == 0)
			cfg->direct = RMQ_DIRECT_TCP;
		else
			return bench_fail(err, errlen,
			    "--direct takes unix or tcp, not '%s'", val);
		return 0;
	case OPT_USER: cfg->username = val; return 0;
	case OPT_PASS: cfg->password = val; return 0;
	case OPT_GROUP: cfg->share_group = val; return 0;
	case OPT_PREFIX: cfg->client_prefix = val; return 0;
	case OPT_SHARD: {
		unsigned si, sn;
		char tail;
		if (sscanf(val, "%u/%u%c", &si, &sn, &tail) != 2 || sn == 0 ||
		    si >= sn || sn > 10000)
			return bench_fail(err, errlen,
			    "--shard takes I/N, 0 <= I < N <= 10000, not '%s'",
			    val);
		cfg->shard_i = si;
		cfg->shard_n = sn;
		return 0;
	}
	case OPT_QUIET: cfg->quiet = 1; return 0;
	case OPT_CPU_AFFINITY:
		if (strcmp(val, "auto") == 0)
			cfg->pin = 1;
		else if (strcmp(val, "none") == 0)
			cfg->pin = 0;
		else
			return bench_fail(err, errlen,
			    "--cpu-affinity takes auto or none, not '%s'", val);
		return 0;
	case OPT_APART: cfg->apart = 1; return 0;
	case OPT_HOSTS_APART: cfg->hosts_apart = 1; return 0;
	case OPT_ALL_ADDRESSES: cfg->all_addresses = 1; return 0;
	case OPT_HELP: cfg->help = 1; return 0;
	case OPT_SHOW_VERSION: cfg->show_version = 1; return 0;
	case OPT_CACERT: cfg->tls_cacert = val; return 0;
	case OPT_WS: cfg->ws = 1; return 0;
	case OPT_RETAIN: cfg->retain = 1; return 0;
	case OPT_PERSISTENT: cfg->persistent = 1; return 0;
	case OPT_TLS_RESUME:
		cfg->tls_resume = 1;
		cfg->tls = 1;
		return 0;
	case OPT_WS_PATH:
		if (val[0] != '/')
			return bench_fail(err, errlen,
			    "--ws-path takes a path beginning with /, not '%s'",
			    val);
		cfg->ws_path = val;
		cfg->ws = 1;
		return 0;
	case OPT_CERT: cfg->tls_cert = val; return 0;
	case OPT_KEY: cfg->tls_key = val; return 0;
	}
	return bench_fail(err, errlen, "bad value for %s: '%s'", name, val);
}

int
rmq_bench_cfg_parse(struct rmq_bench_cfg *cfg, int argc, char **argv, char *err,
    size_t errlen)
{
	if (argc < 1)
		return bench_fail(err, errlen, "no subcommand");
	enum rmq_bench_mode mode;
	enum rmq_bench_scenario scn = RMQ_SCN_NONE;
	int i = 1;
	if (strcmp(argv[0], "pub") == 0)
		mode = RMQ_BENCH_PUB;
	else if (strcmp(argv[0], "sub") == 0)
		mode = RMQ_BENCH_SUB;
	else if (strcmp(argv[0], "conn") == 0)
		mode = RMQ_BENCH_CONN;
	else if (strcmp(argv[0], "run") == 0) {
		mode = RMQ_BENCH_RUN;
		if (argc < 2 || argv[1][0] == '-') {
			if (argc >= 2 && strcmp(argv[1], "--help") == 0) {
				rmq_bench_cfg_defaults(cfg, mode, RMQ_SCN_P2P);
				cfg->help = 1;
				return 0;
			}
			return bench_fail(err, errlen,
			    "run needs a scenario: p2p, fanout, fanin, sharedsub or conn");
		}
		scn = rmq_bench_scenario_from(argv[1]);
		if (scn == RMQ_SCN_NONE)
			return bench_fail(err, errlen,
			    "unknown scenario '%s' (p2p, fanout, fanin, sharedsub, conn)",
			    argv[1]);
		i = 2;
	} else
		return bench_fail(err, errlen,
		    "unknown subcommand '%s' (pub, sub, conn, run)", argv[0]);

	rmq_bench_cfg_defaults(cfg, mode, scn);
	for (; i < argc; i++) {
		const char *inl;
		const struct bench_optdef *o = bench_find_opt(argv[i], &inl);
		if (o == NULL)
			return bench_fail(err, errlen, "unknown option '%s'",
			    argv[i]);
		char *val = NULL;
		if (o->arg == 1) {
			if (inl)
				val = (char *)inl;
			else if (i + 1 < argc)
				val = argv[++i];
			else
				return bench_fail(err, errlen,
				    "option '%s' needs a value", argv[i]);
		} else if (o->arg == 2) {
			val = (char *)inl;
		} else if (inl) {
			return bench_fail(err, errlen,
			    "option '%s' takes no value", argv[i]);
		}
		int rc = bench_apply(cfg, o->id, argv[i], val, err, errlen);
		if (rc != 0)
			return rc;
	}
	if (cfg->help || cfg->show_version)
		return 0;
	if (cfg->nhosts == 0 && cfg->direct == RMQ_DIRECT_OFF)
		cfg->hosts[cfg->nhosts++] = "127.0.0.1";
	if ((cfg->tls_cacert || cfg->tls_cert) && !cfg->tls)
		cfg->tls = 1;
	if (cfg->ws && cfg->direct != RMQ_DIRECT_OFF)
		return bench_fail(err, errlen,
		    "--ws and --direct do not go together (no broker)");
	if (cfg->tls && cfg->direct != RMQ_DIRECT_OFF)
		return bench_fail(err, errlen,
		    "--tls and --direct do not go together (no broker)");
	if (mode == RMQ_BENCH_PUB && cfg->topic == NULL)
		return bench_fail(err, errlen, "pub needs -t TOPIC");
	if (mode == RMQ_BENCH_SUB && cfg->filter == NULL)
		return bench_fail(err, errlen, "sub needs -t TOPIC");
	if (mode != RMQ_BENCH_CONN && scn != RMQ_SCN_CONN && cfg->size < 20 &&
	    mode != RMQ_BENCH_SUB)
		return bench_fail(err, errlen,
		    "-s %u is too small: the payload carries a 20-byte stamp (publisher, sequence, send time)",
		    cfg->size);
	if (cfg->direct != RMQ_DIRECT_OFF && scn != RMQ_SCN_P2P)
		return bench_fail(err, errlen, "--direct runs p2p only");
	if (cfg->direct != RMQ_DIRECT_OFF && cfg->apart)
		return bench_fail(err, errlen,
		    "--apart and --direct do not go together (a direct pair is one socket pair in one loop)");
	if (cfg->apart && cfg->threads == 1)
		return bench_fail(err, errlen, "--apart needs -T 2 or more");
	if (cfg->shard_n &&
	    (mode != RMQ_BENCH_RUN ||
		(scn != RMQ_SCN_P2P && scn != RMQ_SCN_CONN) ||
		(scn == RMQ_SCN_P2P &&
		    (cfg->pubs ? cfg->pubs : cfg->clients) !=
			(cfg->subs ? cfg->subs
				   : (cfg->pubs ? cfg->pubs : cfg->clients))) ||
		cfg->direct != RMQ_DIRECT_OFF))
		return bench_fail(err, errlen,
		    "--shard splits run p2p and run conn only (pairs or connections a shard keeps to itself; a shared topic would cross shards)");
	if (cfg->inflight == 0)
		cfg->inflight = cfg->direct != RMQ_DIRECT_OFF ? 1000 : 100;
	if (cfg->qos > 0 && cfg->inflight > 65535)
		cfg->inflight = 65535;
	return 0;
}

int
rmq_bench_topic_expand(const char *tmpl, uint32_t index, char *buf, size_t cap)
{
	size_t n = 0;
	for (const char *p = tmpl; *p; p++) {
		char tmp[16];
		const char *add = tmp;
		size_t len;
		if (*p != '%') {
			tmp[0] = *p;
			len = 1;
		} else if (p[1] == 'i') {
			len = (size_t)snprintf(tmp, sizeof(tmp), "%u", index);
			p++;
		} else if (p[1] == '%') {
			tmp[0] = '%';
			len = 1;
			p++;
		} else {
			return -EINVAL;
		}
		if (n + len + 1 > cap)
			return -ENOBUFS;
		memcpy(buf + n, add, len);
		n += len;
	}
	if (n + 1 > cap)
		return -ENOBUFS;
	buf[n] = '\0';
	return (int)n;
}

/* ---- the plan ---- */

static int
bench_plan_add(struct rmq_bench_plan *plan, size_t *cap, const char *tmpl,
    const char *prefix, struct rmq_bench_client *c, char *err, size_t errlen)
{
	char buf[1024];
	size_t plen = prefix ? strlen(prefix) : 0;
	if (plen >= sizeof(buf) / 2)
		return bench_fail(err, errlen, "share group name too long");
	memcpy(buf, prefix ? prefix : "", plen);
	int n = rmq_bench_topic_expand(tmpl, plan->first + c->idx, buf + plen,
	    sizeof(buf) - plen);
	if (n < 0)
		return bench_fail(err, errlen,
		    "bad topic template '%s' (%%i and %%%% only, under 500 bytes)",
		    tmpl);
	size_t len = plen + (size_t)n;
	if (plan->arena_len + len + 1 > *cap) {
		size_t ncap = *cap ? *cap * 2 : 4096;
		while (ncap < plan->arena_len + len + 1)
			ncap *= 2;
		char *a = realloc(plan->arena, ncap);
		if (a == NULL)
			return -ENOMEM;
		plan->arena = a;
		*cap = ncap;
	}
	memcpy(plan->arena + plan->arena_len, buf, len + 1);
	c->topic_off = (uint32_t)plan->arena_len;
	c->topic_len = (uint16_t)len;
	plan->arena_len += len + 1;
	return 0;
}

static int
bench_pub_cmp(const void *a, const void *b, void *arg)
{
	const struct rmq_bench_plan *plan = arg;
	const struct rmq_bench_client *x = &plan->pubs[*(const uint32_t *)a];
	const struct rmq_bench_client *y = &plan->pubs[*(const uint32_t *)b];
	return strcmp(plan->arena + x->topic_off, plan->arena + y->topic_off);
}

/* Count, for each publisher, the receivers due each of its messages, and
 * for each subscriber the publishers it hears. */
static int
bench_plan_match(struct rmq_bench_plan *plan)
{
	uint32_t *order = NULL;
	if (plan->npubs > 0) {
		order = malloc(sizeof(*order) * plan->npubs);
		if (order == NULL)
			return -ENOMEM;
		for (uint32_t i = 0; i < plan->npubs; i++)
			order[i] = i;
		qsort_r(order, plan->npubs, sizeof(*order), bench_pub_cmp,
		    plan);
	}
	for (uint32_t s = 0; s < plan->nsubs; s++) {
		struct rmq_bench_client *sub = &plan->subs[s];
		const char *f = plan->arena + sub->topic_off;
		size_t flen = sub->topic_len;
		struct rmq_str group, inner = { f, (uint32_t)flen };
		int shared =
		    rmq_topic_share_parse(f, flen, &group, &inner) == 1;
		sub->shared = (uint8_t)shared;
		/* A $share group counts once: only its first member adds to
		 * the publishers' receiver counts. */
		int first = 1;
		if (shared)
			for (uint32_t k = 0; k < s && first; k++)
				if (plan->subs[k].topic_len == flen &&
				    memcmp(plan->arena +
					    plan->subs[k].topic_off,
					f, flen) == 0)
					first = 0;
		if (rmq_topic_has_wildcard(inner.p, inner.len)) {
			for (uint32_t p = 0; p < plan->npubs; p++) {
				struct rmq_bench_client *pub = &plan->pubs[p];
				if (rmq_topic_match(inner.p, inner.len,
					plan->arena + pub->topic_off,
					pub->topic_len)) {
					sub->nmatch++;
					pub->nmatch += (uint32_t)first;
				}
			}
			continue;
		}
		/* Exact filter: binary search the sorted publisher topics. */
		size_t lo = 0, hi = plan->npubs;
		char key[1024];
		if (inner.len >= sizeof(key))
			continue;
		memcpy(key, inner.p, inner.len);
		key[inner.len] = '\0';
		while (lo < hi) {
			size_t mid = (lo + hi) / 2;
			if (strcmp(plan->arena +
				    plan->pubs[order[mid]].topic_off,
				key) < 0)
				lo = mid + 1;
			else
				hi = mid;
		}
		for (; lo < plan->npubs &&
		     strcmp(plan->arena + plan->pubs[order[lo]].topic_off,
			 key) == 0;
		     lo++) {
			sub->nmatch++;
			plan->pubs[order[lo]].nmatch += (uint32_t)first;
		}
	}
	free(order);
	plan->receivers_total = 0;
	for (uint32_t p = 0; p < plan->npubs; p++)
		plan->receivers_total += plan->pubs[p].nmatch;
	return 0;
}

int
rmq_bench_plan_build(struct rmq_bench_plan *plan,
    const struct rmq_bench_cfg *cfg, char *err, size_t errlen)
{
	memset(plan, 0, sizeof(*plan));
	uint32_t npubs = 0, nsubs = 0;
	switch (cfg->mode) {
	case RMQ_BENCH_PUB: npubs = cfg->clients; break;
	case RMQ_BENCH_SUB: nsubs = cfg->clients; break;
	case RMQ_BENCH_CONN: plan->nconns = cfg->clients; break;
	case RMQ_BENCH_RUN:
		switch (cfg->scenario) {
		case RMQ_SCN_P2P:
			npubs = cfg->pubs ? cfg->pubs : cfg->clients;
			nsubs = cfg->subs ? cfg->subs : npubs;
			break;
		case RMQ_SCN_FANOUT:
			npubs = cfg->pubs ? cfg->pubs : 1;
			nsubs = cfg->subs ? cfg->subs : cfg->clients;
			break;
		case RMQ_SCN_FANIN:
			npubs = cfg->pubs ? cfg->pubs : cfg->clients;
			nsubs = cfg->subs ? cfg->subs : 1;
			break;
		case RMQ_SCN_SHAREDSUB:
			npubs = cfg->pubs ? cfg->pubs : cfg->clients;
			nsubs = cfg->subs ? cfg->subs : 4;
			break;
		case RMQ_SCN_CONN: plan->nconns = cfg->clients; break;
		default: return bench_fail(err, errlen, "no scenario");
		}
		break;
	}
	/* A shard keeps its slice: pairs (p2p: publisher k and subscriber
	 * k share topic k) or connections, numbered as in the whole load. */
	uint32_t first = 0;
	if (cfg->shard_n) {
		uint64_t total = plan->nconns ? plan->nconns : npubs;
		first = (uint32_t)(total * cfg->shard_i / cfg->shard_n);
		uint32_t n =
		    (uint32_t)(total * (cfg->shard_i + 1) / cfg->shard_n) -
		    first;
		if (plan->nconns)
			plan->nconns = n;
		else
			npubs = nsubs = n;
	}
	plan->first = first;
	plan->npubs = npubs;
	plan->nsubs = nsubs;
	plan->pubs = calloc(npubs ? npubs : 1, sizeof(*plan->pubs));
	plan->subs = calloc(nsubs ? nsubs : 1, sizeof(*plan->subs));
	if (plan->pubs == NULL || plan->subs == NULL) {
		rmq_bench_plan_fini(plan);
		return -ENOMEM;
	}
	size_t cap = 0;
	int rc = 0;
	const char *prefix = NULL;
	char share[512];
	if (cfg->mode == RMQ_BENCH_RUN && cfg->scenario == RMQ_SCN_SHAREDSUB) {
		snprintf(share, sizeof(share), "$share/%s/", cfg->share_group);
		prefix = share;
	}
	for (uint32_t i = 0; i < npubs && rc == 0; i++) {
		plan->pubs[i].idx = i;
		rc = bench_plan_add(plan, &cap, cfg->topic, NULL,
		    &plan->pubs[i], err, errlen);
		if (rc == 0 &&
		    rmq_topic_name_check(plan->arena + plan->pubs[i].topic_off,
			plan->pubs[i].topic_len) != 0)
			rc = bench_fail(err, errlen,
			    "'%s' is not a valid topic name",
			    plan->arena + plan->pubs[i].topic_off);
	}
	for (uint32_t i = 0; i < nsubs && rc == 0; i++) {
		plan->subs[i].idx = i;
		rc = bench_plan_add(plan, &cap, cfg->filter, prefix,
		    &plan->subs[i], err, errlen);
		if (rc == 0 &&
		    rmq_topic_filter_check(plan->arena +
			    plan->subs[i].topic_off,
			plan->subs[i].topic_len) != 0)
			rc = bench_fail(err, errlen,
			    "'%s' is not a valid topic filter",
			    plan->arena + plan->subs[i].topic_off);
	}
	if (rc == 0)
		rc = bench_plan_match(plan);
	if (rc != 0)
		rmq_bench_plan_fini(plan);
	return rc;
}

void
rmq_bench_plan_fini(struct rmq_bench_plan *plan)
{
	free(plan->pubs);
	free(plan->subs);
	free(plan->arena);
	memset(plan, 0, sizeof(*plan));
}

uint32_t
rmq_bench_loop_first_pub(unsigned id, unsigned nloops, int apart)
{
	return apart && nloops > 1 ? (id + nloops - 1) % nloops : id;
}

uint32_t
rmq_bench_dealt(uint32_t n, uint32_t first, unsigned nloops)
{
	return n > first ? (n - first + nloops - 1) / nloops : 0;
}

int
rmq_bench_loop_cpu(unsigned id, const int *cpus, unsigned n)
{
	return n ? cpus[id % n] : -1;
}
