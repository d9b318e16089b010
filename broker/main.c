/* broker/main.c: the ringmq executable: the configuration's layers,
 * signals, and the process's start and stop (pid file, giving up root).
 *
 * Every flag is a row of the option table (options.h): Mosquitto's -p, -v
 * and -c, and --key-with-dashes for every key.  With no arguments it runs
 * with embedded defaults: MQTT on 127.0.0.1:1883, one worker loop per CPU,
 * io_uring where the kernel allows it.
 */
#include <errno.h>
#include <nng/nng.h>
#include <openssl/crypto.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <uv.h>

#include "authn.h"
#include "broker.h"
#include "bus.h"
#include "ctl_cmd.h"
#include "log.h"
#include "notify.h"
#include "options.h"
#include "passwd_cmd.h"
#include "process.h"
#include "rmq_config.h"
#include "store_cmd.h"
#include "worker.h"

#if RMQ_HAVE_JEMALLOC
#include <jemalloc/jemalloc.h>

/* Freed memory goes back to the system even when the loop that freed it
 * idles after: jemalloc's background threads purge a page 5 s after it
 * was freed, where otherwise only more allocation in the same arena
 * would (100,000 retained messages cleared kept their memory for good). */
const char *malloc_conf = "background_thread:true,dirty_decay_ms:5000";
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

extern char **environ;

/* The configuration from its layers: built-in defaults < file <
 * environment < flags.  `included` is told each file an include_dir
 * line reads.  Returns 0, or 2 with the reason in err. */
static int
main_load(int argc, char **argv, const char *file, struct rmq_config *cfg,
    void (*included)(void *arg, const char *path), void *arg, char *err,
    size_t errlen)
{
	rmq_config_defaults(cfg);
	err[0] = '\0';
	if (file &&
	    rmq_options_load_file(cfg, file, included, arg, err, errlen) != 0)
		return 2;
	if (rmq_options_load_env(cfg, environ, err, errlen) != 0)
		return 2;
	if (rmq_options_load_args(cfg, argc, argv, err, errlen) != 0)
		return 2;
	return 0;
}

/* The files include_dir read at start, logged once the log is set up. */
static struct {
	unsigned n, more;
	char path[32][256];
} main_included;

static void
main_included_keep(void *arg, const char *path)
{
	(void)arg;
	if (main_included.n == 32) {
		main_included.more++;
		return;
	}
	snprintf(main_included.path[main_included.n++],
	    sizeof(main_included.path[0]), "%s", path);
}

static void
main_included_print(void *arg, const char *path)
{
	(void)arg;
	printf("included %s\n", path);
}

static void
main_included_log(void *arg, const char *path)
{
	(void)arg;
	rmq_log(RMQ_LOG_NOTICE, "configuration: included %s", path);
}

/* SIGHUP: read the configuration again and apply what can change while
 * running; a bad one is refused and the running one kept.  `started` is
 * the configuration the process started with. */
static void
main_reload(struct rmq_broker *b, int argc, char **argv, const char *file,
    const struct rmq_config *started)
{
	static struct rmq_config next;
	char err[1024];
	rmq_log(RMQ_LOG_NOTICE, "SIGHUP: reloading %s",
	    file ? file : "the environment and flags");
	if (main_load(argc, argv, file, &next, main_included_log, NULL, err,
		sizeof(err)) != 0) {
		rmq_log(RMQ_LOG_ERROR,
		    "reload refused, the running configuration stays: %s",
		    err[0] ? err : "bad command line");
		return;
	}
	/* The log file is opened again: after logrotate, a new one. */
	if (rmq_log_dest_set(&next.log_dest, err, sizeof(err)) != 0)
		rmq_log(RMQ_LOG_ERROR,
		    "reload: %s; log lines go where they went", err);
	/* What the process applies only as it starts (pid_file, user). */
	for (size_t i = 0; i < rmq_options_count; i++) {
		const struct rmq_option *o = &rmq_options[i];
		if ((o->bits & RMQ_OPT_PROCESS) && o->at.size &&
		    o->reload == RMQ_RELOAD_RESTART &&
		    memcmp((const char *)started + o->at.offset,
			(const char *)&next + o->at.offset, o->at.size) != 0)
			rmq_log(RMQ_LOG_WARNING,
			    "reload: '%s' changed but takes effect only at a restart",
			    o->key);
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

/* Who gets in, said once at the start. */
static void
main_log_access(const struct rmq_config *cfg, struct rmq_broker *b)
{
	if (cfg->password_file[0])
		rmq_log(RMQ_LOG_NOTICE, "password_file %s: %ld users",
		    cfg->password_file, rmq_authn_users(b->authn));
	for (unsigned j = 0; j < cfg->nlisteners; j++) {
		const struct rmq_listen_addr *a = &cfg->listeners[j];
		int loop = rmq_authn_loopback(a->host);
		int anon = cfg->allow_anonymous == RMQ_ANON_YES ||
		    (cfg->allow_anonymous == RMQ_ANON_LOOPBACK && loop);
		rmq_log(anon && !loop ? RMQ_LOG_WARNING : RMQ_LOG_NOTICE,
		    "listener %s:%u: anonymous clients %s%s",
		    a->host[0] ? a->host : "*", b->bound_ports[j],
		    anon ? "let in" : "refused",
		    anon && !loop ? " from the network (allow_anonymous true)"
			: !anon && cfg->allow_anonymous == RMQ_ANON_LOOPBACK
			? " (not loopback; allow_anonymous true lets them in)"
			: "");
	}
}

/* The cluster side of this node, from the settings (cluster/bus.h). */
static int
main_cluster_new(struct rmq_broker *b, const struct rmq_config *cfg,
    struct rmq_cluster_node **out, char *err, size_t errlen)
{
	struct rmq_cluster_conf c = {
		.listen_port = cfg->cluster_listener.port,
		.peer_timeout_ms = cfg->cluster_peer_timeout_ms,
		.dns_interval_ms = cfg->cluster_dns_interval_ms,
		.forward_port = (uint16_t)cfg->cluster_forward_port,
		.forward_queue = (size_t)cfg->cluster_forward_queue,
		.links = cfg->cluster_links,
		.link_port = (uint16_t)cfg->cluster_link_port,
	};
	snprintf(c.name, sizeof(c.name), "%s", cfg->node_name);
	snprintf(c.listen_host, sizeof(c.listen_host), "%s",
	    cfg->cluster_listener.host);
	snprintf(c.advertise, sizeof(c.advertise), "%s",
	    cfg->cluster_advertise);
	snprintf(c.seeds, sizeof(c.seeds), "%s", cfg->cluster_seeds);
	snprintf(c.dns, sizeof(c.dns), "%s", cfg->cluster_dns);
	snprintf(c.tls_cert, sizeof(c.tls_cert), "%s",
	    cfg->cluster_tls_certfile);
	snprintf(c.tls_key, sizeof(c.tls_key), "%s", cfg->cluster_tls_keyfile);
	snprintf(c.tls_ca, sizeof(c.tls_ca), "%s", cfg->cluster_tls_cafile);
	snprintf(c.tls_peer_name, sizeof(c.tls_peer_name), "%s",
	    cfg->cluster_tls_peer_name);
	return rmq_cluster_node_new(b, &c, out, err, errlen);
}

/* In a cluster: clients are told to go (0x8B), and the node stays in the
 * cluster until their persistent sessions have moved to the nodes they
 * reconnect to, or shutdown_grace has passed. */
static void
main_drain(struct rmq_broker *b, struct rmq_cluster_node *cluster)
{
	uint64_t t0 = rmq_loop_clock_ms();
	uint64_t end = t0 + b->cfg.shutdown_grace_ms;
	rmq_node_drain(b);
	/* Give the workers a moment to disconnect before counting. */
	struct timespec pause = { 0, 20 * 1000000L };
	nanosleep(&pause, NULL);
	uint64_t left;
	unsigned moving;
	while (((left = rmq_node_drained_left(b)) != 0 ||
		   (moving = rmq_cluster_node_moving(cluster)) != 0) &&
	    rmq_loop_clock_ms() < end)
		nanosleep(&pause, NULL);
	left = rmq_node_drained_left(b);
	moving = rmq_cluster_node_moving(cluster);
	/* Then out of the cluster, told to the peers: within the grace. */
	rmq_cluster_node_leave(cluster);
	while (
	    rmq_cluster_node_moving(cluster) != 0 && rmq_loop_clock_ms() < end)
		nanosleep(&pause, NULL);
	rmq_log(left || moving ? RMQ_LOG_WARNING : RMQ_LOG_NOTICE,
	    "drained in %llu ms: %llu persistent sessions of the clients told to go still here (kept%s), %u moves or peers' acknowledgements awaited",
	    (unsigned long long)(rmq_loop_clock_ms() - t0),
	    (unsigned long long)left,
	    b->persist ? " on disk until this node returns" : ", and lost",
	    moving);
}

int
main(int argc, char **argv)
{
	static struct rmq_config cfg;
	static struct rmq_broker b;
	char err[1024];

	if (argc >= 2 && strcmp(argv[1], "passwd") == 0)
		return rmq_passwd_command(argc, argv);
	if (argc >= 2 && strcmp(argv[1], "store") == 0)
		return rmq_store_command(argc, argv);
	if (argc >= 2 && strcmp(argv[1], "ctl") == 0)
		return rmq_ctl_command(argc, argv);
	if (argc >= 3 && argc <= 4 && strcmp(argv[1], "check-config") == 0) {
		/* --syntax-only: the file alone, not the files it names
		 * (certificates mounted only where the broker runs). */
		int syntax = argc == 4 && strcmp(argv[2], "--syntax-only") == 0;
		const char *path = argv[argc - 1];
		if (argc == 4 && !syntax) {
			fprintf(stderr,
			    "ringmq: check-config takes [--syntax-only] FILE\n");
			return 2;
		}
		rmq_config_defaults(&cfg);
		if (rmq_options_load_file(&cfg, path, main_included_print, NULL,
			err, sizeof(err)) != 0) {
			fprintf(stderr, "ringmq: %s\n", err);
			return 1;
		}
		if (!syntax &&
		    rmq_broker_check_files(&cfg, err, sizeof(err)) != 0) {
			fprintf(stderr, "ringmq: %s: %s\n", path, err);
			return 1;
		}
		printf("%s: configuration OK\n", path);
		return 0;
	}
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--version") == 0) {
			main_version(stdout);
			return 0;
		}
		if (strcmp(argv[i], "-h") == 0 ||
		    strcmp(argv[i], "--help") == 0) {
			rmq_options_usage(stdout);
			return 0;
		}
		if (strcmp(argv[i], "--help-config") == 0) {
			const char *how = i + 1 < argc ? argv[i + 1] : "text";
			if (strcmp(how, "markdown") == 0)
				return rmq_options_markdown(stdout, NULL) ? 1
									  : 0;
			if (strcmp(how, "man5") == 0 ||
			    strcmp(how, "man8") == 0)
				return rmq_options_man(stdout, how[3] - '0')
				    ? 1
				    : 0;
			if (strcmp(how, "text") != 0 && how[0] != '-') {
				fprintf(stderr,
				    "ringmq: --help-config takes text, markdown, man5 or man8, not '%s'\n",
				    how);
				return 2;
			}
			rmq_options_describe(stdout);
			return 0;
		}
	}
	const char *file = rmq_options_config_file(argc, argv);
	int rc = main_load(argc, argv, file, &cfg, main_included_keep, NULL,
	    err, sizeof(err));
	if (rc != 0) {
		fprintf(stderr, "ringmq: %s\n", err);
		return rc;
	}
	rmq_log_set(cfg.log_level, (enum rmq_log_format)cfg.log_format);
	if (rmq_log_dest_set(&cfg.log_dest, err, sizeof(err)) != 0) {
		fprintf(stderr, "ringmq: %s\n", err);
		return 1;
	}
	struct rmq_process_user user;
	int become = rmq_process_user_find(cfg.user, &user, err, sizeof(err));
	if (become < 0) {
		rmq_log(RMQ_LOG_ERROR, "%s", err);
		return 1;
	}

	/* Workers inherit a mask that leaves the signals to main. */
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);

	rmq_log(RMQ_LOG_NOTICE, "version %s starting%s%s", RMQ_VERSION,
	    file ? " with " : " with embedded defaults", file ? file : "");
	for (unsigned i = 0; i < main_included.n; i++)
		rmq_log(RMQ_LOG_NOTICE, "configuration: included %s",
		    main_included.path[i]);
	if (main_included.more)
		rmq_log(RMQ_LOG_NOTICE, "configuration: included %u more files",
		    main_included.more);
	if (rmq_broker_init(&b, &cfg) != 0) {
		rmq_log(RMQ_LOG_ERROR, "could not start");
		return 1;
	}
	struct rmq_cluster_node *cluster = NULL;
	if (cfg.cluster_listener.host[0] &&
	    main_cluster_new(&b, &cfg, &cluster, err, sizeof(err)) != 0) {
		rmq_log(RMQ_LOG_ERROR, "%s", err);
		rmq_log(RMQ_LOG_ERROR, "could not start");
		return 1;
	}
	if (rmq_broker_start(&b) != 0) {
		rmq_log(RMQ_LOG_ERROR, "could not start");
		return 1;
	}
	if (cluster && rmq_cluster_node_start(cluster, err, sizeof(err)) != 0) {
		rmq_log(RMQ_LOG_ERROR, "%s", err);
		rmq_broker_stop(&b);
		rmq_broker_fini(&b);
		rmq_cluster_node_free(cluster);
		rmq_log(RMQ_LOG_NOTICE, "stopped: could not start");
		return 1;
	}
	main_log_access(&cfg, &b);
	/* Listening: the pid file, then root is given up (as Mosquitto:
	 * the pid file may be in a directory only root writes). */
	int failed = 0, pid_written = 0;
	if (cfg.pid_file[0] &&
	    rmq_process_pid_write(cfg.pid_file, err, sizeof(err)) != 0) {
		rmq_log(RMQ_LOG_ERROR, "%s", err);
		failed = 1;
	} else {
		pid_written = cfg.pid_file[0] != '\0';
	}
	if (!failed && become > 0) {
		if (rmq_process_user_become(&user, err, sizeof(err)) != 0) {
			rmq_log(RMQ_LOG_ERROR, "%s", err);
			failed = 1;
		} else {
			rmq_log(RMQ_LOG_NOTICE,
			    "running as user %s (uid %u, gid %u)", user.name,
			    (unsigned)user.uid, (unsigned)user.gid);
		}
	} else if (!failed && cfg.user[0]) {
		rmq_log(RMQ_LOG_INFO,
		    "user %s: not started as root, so nothing to give up (uid %u)",
		    cfg.user, (unsigned)geteuid());
	}
	/* A service manager that asked (systemd's Type=notify) is told the
	 * broker listens, reloads and stops. */
	if (!failed && (rc = rmq_notify("READY=1\nSTATUS=listening")) < 0)
		rmq_log(RMQ_LOG_WARNING, "NOTIFY_SOCKET: not told: %s",
		    strerror(-rc));
	while (!failed) {
		int sig = 0;
		sigwait(&set, &sig);
		if (sig == SIGHUP) {
			rmq_notify_reloading();
			main_reload(&b, argc, argv, file, &cfg);
			rmq_notify("READY=1\nSTATUS=listening (reloaded)");
			continue;
		}
		rmq_notify("STOPPING=1\nSTATUS=draining");
		rmq_log(RMQ_LOG_NOTICE,
		    "%s, stopping: no new connections, clients get up to %u ms to drain",
		    sig == SIGINT ? "SIGINT" : "SIGTERM",
		    b.cfg.shutdown_grace_ms);
		if (cluster)
			main_drain(&b, cluster);
		break;
	}
	/* Off the bus first: peers see this node go. */
	rmq_cluster_node_stop(cluster);
	int wedged = rmq_cluster_node_wedged(cluster);
	b.nng_wedged = wedged;
	rmq_broker_stop(&b);
	rmq_workers_log_dropped(&b);
	rmq_broker_fini(&b);
	rmq_cluster_node_free(cluster);
	if (pid_written && (rc = rmq_process_pid_remove(cfg.pid_file)) != 0)
		rmq_log(RMQ_LOG_WARNING, "pid_file %s: not removed: %s",
		    cfg.pid_file, strerror(-rc));
	if (wedged) {
		/* Everything of this node's is on disk and its peers were
		 * told; what is left is NNG's, whose threads wait on a close
		 * that does not end.  The exit does not wait for them (nor do
		 * the exit handlers run, which would count NNG's memory as a
		 * leak). */
		rmq_log(RMQ_LOG_NOTICE,
		    "stopped (NNG's threads left behind: its sockets did not close)");
		fflush(NULL);
		_exit(failed);
	}
	rmq_log(RMQ_LOG_NOTICE,
	    failed ? "stopped: could not start" : "stopped");
	return failed;
}
