/* broker/main.c: the ringmq executable: command line, signals, and the
 * node's start and stop.
 *
 * Mosquitto's habits where they exist (-p, -v, -c), plus --threads and
 * --loop.  With no arguments it runs with embedded defaults: MQTT on
 * 127.0.0.1:1883, one worker loop per CPU, io_uring where the kernel
 * allows it.
 */
#include <errno.h>
#include <nng/nng.h>
#include <openssl/crypto.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "broker.h"
#include "log.h"
#include "options.h"
#include "rmq_config.h"

#if RMQ_HAVE_JEMALLOC
#include <jemalloc/jemalloc.h>
#endif

static void
main_version(FILE *out)
{
	const char *je = "not linked";
#if RMQ_HAVE_JEMALLOC
	size_t len = sizeof(je);
	if (mallctl("version", &je, &len, NULL, 0) != 0)
		je = "unknown";
#endif
	fprintf(out, "ringmq %s\n", RMQ_VERSION);
	fprintf(out, "  io_uring loop: %s\n",
	    RMQ_HAVE_URING ? "built (liburing)" : "not built");
	fprintf(out, "  libuv %s, %s, nng %s, jemalloc %s\n",
	    uv_version_string(), OpenSSL_version(OPENSSL_VERSION),
	    nng_version(), je);
}

static void
main_usage(FILE *out)
{
	fprintf(out,
	    "usage: ringmq [options]\n"
	    "       ringmq check-config FILE\n"
	    "  -p, --port [HOST:]PORT  listen for MQTT (repeatable; default\n"
	    "                          127.0.0.1:1883; HOST '*' for all)\n"
	    "  --threads N             worker loops (default: one per CPU the\n"
	    "                          process may run on)\n"
	    "  --cpu-affinity A        auto (default: pin one loop per CPU),\n"
	    "                          none, or a CPU list such as 0-3,8\n"
	    "  --connection-placement P  cpu (default: the loop of the CPU\n"
	    "                          that received it) or hash\n"
	    "  --loop uring|uv|auto    event loop backend (default auto)\n"
	    "  --max-packet-size N     largest packet, bytes (16777216)\n"
	    "  --max-queued N          messages queued per session (1000)\n"
	    "  --max-inflight N        QoS 1/2 in flight per client (64)\n"
	    "  --max-connections N     0 for no limit (0)\n"
	    "  --connect-timeout MS    time to send CONNECT (10000)\n"
	    "  --admin-listener A:P    /metrics, /healthz, /readyz over HTTP\n"
	    "                          (127.0.0.1:9883; none to turn off)\n"
	    "  --shutdown-grace S      SIGTERM: seconds clients get to drain (5)\n"
	    "  --log-level L           error, warning, notice, info (default)\n"
	    "                          or debug\n"
	    "  --log-format F          text (default) or json\n"
	    "  -v, --verbose           the same as --log-level debug\n"
	    "  -c, --config FILE       configuration file (Mosquitto's format;\n"
	    "                          keys in docs/configuration.md)\n"
	    "  --version               versions of ringmq and its libraries\n"
	    "  -h, --help              this text\n");
}

static int
main_parse_listener(const char *arg, struct rmq_listen_addr *a)
{
	const char *colon = strrchr(arg, ':');
	const char *port = colon ? colon + 1 : arg;
	char *end;
	long p = strtol(port, &end, 10);
	if (*port == '\0' || *end != '\0' || p < 0 || p > 65535)
		return -1;
	a->port = (uint16_t)p;
	if (colon) {
		size_t n = (size_t)(colon - arg);
		if (n >= sizeof(a->host))
			return -1;
		memcpy(a->host, arg, n);
		a->host[n] = '\0';
		if (strcmp(a->host, "*") == 0)
			a->host[0] = '\0';
	} else {
		snprintf(a->host, sizeof(a->host), "127.0.0.1");
	}
	return 0;
}

/* Numeric limit flags: 1 when `a` was one (and v its valid value), 0
 * when it is not a limit flag; exits on a bad value. */
static int
main_numeric(const char *a, const char *v, struct rmq_config *cfg)
{
	static const struct {
		const char *flag;
		unsigned long long min, max;
	} flags[] = {
		{ "--max-packet-size", 64, 268435460ull },
		{ "--max-queued", 1, 100000000ull },
		{ "--max-inflight", 1, RMQ_MAX_INFLIGHT },
		{ "--max-connections", 0, 100000000ull },
		{ "--connect-timeout", 100, 3600000ull },
		{ "--shutdown-grace", 0, 3600 },
	};
	for (size_t k = 0; k < sizeof(flags) / sizeof(flags[0]); k++) {
		if (strcmp(a, flags[k].flag) != 0)
			continue;
		char *end;
		unsigned long long n = v ? strtoull(v, &end, 10) : 0;
		if (v == NULL || *v == '\0' || *end != '\0' ||
		    n < flags[k].min || n > flags[k].max) {
			fprintf(stderr, "ringmq: %s takes %llu to %llu\n", a,
			    flags[k].min, flags[k].max);
			exit(2);
		}
		switch (k) {
		case 0: cfg->max_packet_size = (uint32_t)n; break;
		case 1: cfg->max_queued = (uint32_t)n; break;
		case 2: cfg->max_inflight = (uint16_t)n; break;
		case 3: cfg->max_connections = (uint32_t)n; break;
		case 4: cfg->connect_timeout_ms = (uint32_t)n; break;
		default: cfg->shutdown_grace_ms = (uint32_t)n * 1000u; break;
		}
		return 1;
	}
	return 0;
}

/* Apply the command line flags to cfg (the last layer).  Returns 0, or 2
 * after a message for a bad flag. */
static int
main_flags(int argc, char **argv, struct rmq_config *cfg)
{
	int ports = 0;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		const char *v = i + 1 < argc ? argv[i + 1] : NULL;
		if (strcmp(a, "-v") == 0 || strcmp(a, "--verbose") == 0) {
			cfg->log_level = RMQ_LOG_DEBUG;
		} else if (strcmp(a, "--log-level") == 0 && v) {
			int lv = rmq_log_level_parse(v);
			if (lv < 0) {
				fprintf(stderr,
				    "ringmq: --log-level takes error, warning, notice, info or debug\n");
				return 2;
			}
			cfg->log_level = lv;
			i++;
		} else if (strcmp(a, "--log-format") == 0 && v) {
			int f = rmq_log_format_parse(v);
			if (f < 0) {
				fprintf(stderr,
				    "ringmq: --log-format takes text or json\n");
				return 2;
			}
			cfg->log_format = f;
			i++;
		} else if ((strcmp(a, "-p") == 0 || strcmp(a, "--port") == 0) &&
		    v) {
			if (ports == RMQ_MAX_LISTENERS ||
			    main_parse_listener(v, &cfg->listeners[ports]) !=
				0) {
				fprintf(stderr, "ringmq: bad listener '%s'\n",
				    v);
				return 2;
			}
			cfg->nlisteners = (unsigned)++ports;
			i++;
		} else if (strcmp(a, "--threads") == 0 && v) {
			char *end;
			long n = strtol(v, &end, 10);
			if (*end || n < 1 || n > RMQ_MAX_WORKERS) {
				fprintf(stderr,
				    "ringmq: --threads takes 1 to %d\n",
				    RMQ_MAX_WORKERS);
				return 2;
			}
			cfg->threads = (unsigned)n;
			i++;
		} else if (strcmp(a, "--admin-listener") == 0 && v) {
			if (rmq_options_hostport(v, &cfg->admin) != 0) {
				fprintf(stderr,
				    "ringmq: --admin-listener takes ADDRESS:PORT or none\n");
				return 2;
			}
			i++;
		} else if (main_numeric(a, v, cfg) == 1) {
			i++;
		} else if (strcmp(a, "--cpu-affinity") == 0 && v) {
			if (rmq_affinity_parse(v, &cfg->cpu_affinity,
				&cfg->cpu_list) != 0) {
				fprintf(stderr,
				    "ringmq: --cpu-affinity takes auto, none or a CPU list such as 0-3,8\n");
				return 2;
			}
			i++;
		} else if (strcmp(a, "--connection-placement") == 0 && v) {
			if (rmq_placement_parse(v, &cfg->placement) != 0) {
				fprintf(stderr,
				    "ringmq: --connection-placement takes cpu or hash\n");
				return 2;
			}
			i++;
		} else if (strcmp(a, "--loop") == 0 && v) {
			if (strcmp(v, "uring") == 0)
				cfg->loop = RMQ_LOOP_URING;
			else if (strcmp(v, "uv") == 0)
				cfg->loop = RMQ_LOOP_UV;
			else if (strcmp(v, "auto") == 0)
				cfg->loop = RMQ_LOOP_AUTO;
			else {
				fprintf(stderr,
				    "ringmq: --loop takes uring, uv or auto\n");
				return 2;
			}
			i++;
		} else if ((strcmp(a, "-c") == 0 ||
			       strcmp(a, "--config") == 0) &&
		    v) {
			i++; /* read before the other flags */
		} else {
			fprintf(stderr,
			    "ringmq: unknown or incomplete argument '%s'\n", a);
			main_usage(stderr);
			return 2;
		}
	}
	return 0;
}

extern char **environ;

/* The configuration from its layers: built-in defaults < file <
 * environment < flags.  Returns 0, or the exit status after a message
 * (at start) or with the reason in err (at a reload). */
static int
main_load(int argc, char **argv, const char *file, struct rmq_config *cfg,
    char *err, size_t errlen)
{
	rmq_config_defaults(cfg);
	err[0] = '\0';
	if (file && rmq_options_load_file(cfg, file, err, errlen) != 0)
		return 2;
	if (rmq_options_load_env(cfg, environ, err, errlen) != 0)
		return 2;
	return main_flags(argc, argv, cfg);
}

/* SIGHUP: read the configuration again and apply what can change while
 * running; a bad one is refused and the running one kept. */
static void
main_reload(struct rmq_broker *b, int argc, char **argv, const char *file)
{
	static struct rmq_config next;
	char err[1024];
	rmq_log(RMQ_LOG_NOTICE, "SIGHUP: reloading %s",
	    file ? file : "the environment and flags");
	if (main_load(argc, argv, file, &next, err, sizeof(err)) != 0) {
		rmq_log(RMQ_LOG_ERROR,
		    "reload refused, the running configuration stays: %s",
		    err[0] ? err : "bad command line");
		return;
	}
	const char *restart;
	rmq_broker_reload(b, &next, &restart);
	if (restart)
		rmq_log(RMQ_LOG_WARNING,
		    "reload: '%s' changed but takes effect only at a restart",
		    restart);
	rmq_log(RMQ_LOG_NOTICE, "reloaded (log level %s)",
	    rmq_log_level_name(next.log_level));
}

int
main(int argc, char **argv)
{
	static struct rmq_config cfg;
	const char *file = NULL;
	char err[1024];

	if (argc == 3 && strcmp(argv[1], "check-config") == 0) {
		rmq_config_defaults(&cfg);
		if (rmq_options_load_file(&cfg, argv[2], err, sizeof(err)) !=
		    0) {
			fprintf(stderr, "ringmq: %s\n", err);
			return 1;
		}
		printf("%s: configuration OK\n", argv[2]);
		return 0;
	}
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--version") == 0) {
			main_version(stdout);
			return 0;
		}
		if (strcmp(argv[i], "-h") == 0 ||
		    strcmp(argv[i], "--help") == 0) {
			main_usage(stdout);
			return 0;
		}
		if ((strcmp(argv[i], "-c") == 0 ||
			strcmp(argv[i], "--config") == 0) &&
		    i + 1 < argc)
			file = argv[++i];
	}
	int rc = main_load(argc, argv, file, &cfg, err, sizeof(err));
	if (rc != 0) {
		if (err[0])
			fprintf(stderr, "ringmq: %s\n", err);
		return rc;
	}
	rmq_log_set(cfg.log_level, (enum rmq_log_format)cfg.log_format);

	/* Workers inherit a mask that leaves the signals to main. */
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);

	static struct rmq_broker b;
	rmq_log(RMQ_LOG_NOTICE, "version %s starting%s%s", RMQ_VERSION,
	    file ? " with " : " with embedded defaults", file ? file : "");
	/* What this build does not do yet, said where an operator looks. */
	rmq_log(RMQ_LOG_NOTICE,
	    "anonymous access (authentication is not built yet); sessions and retained messages are kept in memory (no persistence yet)");
	if (rmq_broker_init(&b, &cfg) != 0 || rmq_broker_start(&b) != 0) {
		rmq_log(RMQ_LOG_ERROR, "could not start");
		return 1;
	}
	for (;;) {
		int sig = 0;
		sigwait(&set, &sig);
		if (sig == SIGHUP) {
			main_reload(&b, argc, argv, file);
			continue;
		}
		rmq_log(RMQ_LOG_NOTICE,
		    "%s, stopping: no new connections, clients get up to %u ms to drain",
		    sig == SIGINT ? "SIGINT" : "SIGTERM",
		    b.cfg.shutdown_grace_ms);
		break;
	}
	rmq_broker_stop(&b);
	rmq_broker_fini(&b);
	rmq_log(RMQ_LOG_NOTICE, "stopped");
	return 0;
}
