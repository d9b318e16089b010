/* broker/broker.c: building, starting and stopping the node: the chosen
 * loop backend, the shared index, registry and retained store, one worker
 * per loop, and for every listener one listening socket per worker bound
 * with SO_REUSEPORT, so the kernel spreads new connections over the loops.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <urcu-qsbr.h>

#include "admin.h"
#include "arena.h"
#include "authn.h"
#include "authz.h"
#include "broker.h"
#include "fdlimit.h"
#include "guard.h"
#include "hash.h"
#include "log.h"
#include "memory.h"
#include "persist.h"
#include "proxy.h"
#include "record.h"
#include "registry.h"
#include "retain.h"
#include "sys.h"
#include "tls.h"
#include "worker.h"
#include "ws.h"

/* A listening socket on host:port with SO_REUSEPORT.  port 0 picks one;
 * *bound tells which. */
static int
broker_listen_socket(const char *host, uint16_t port, uint16_t *bound)
{
	struct addrinfo hints = { .ai_family = AF_UNSPEC,
		.ai_socktype = SOCK_STREAM,
		.ai_flags = AI_PASSIVE | AI_NUMERICSERV };
	struct addrinfo *res;
	char pstr[8];
	snprintf(pstr, sizeof(pstr), "%u", port);
	int rc = getaddrinfo(host[0] ? host : NULL, pstr, &hints, &res);
	if (rc != 0) {
		rmq_log(RMQ_LOG_ERROR, "listener %s:%u: %s", host, port,
		    gai_strerror(rc));
		return -EINVAL;
	}
	int fd = socket(res->ai_family,
	    res->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	int one = 1;
	if (fd < 0) {
		rc = -errno;
		goto out;
	}
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one));
	if (bind(fd, res->ai_addr, res->ai_addrlen) != 0 ||
	    listen(fd, 4096) != 0) {
		rc = -errno;
		rmq_log(RMQ_LOG_ERROR, "listener %s:%u: %s", host, port,
		    strerror(errno));
		close(fd);
		goto out;
	}
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	getsockname(fd, (struct sockaddr *)&ss, &sl);
	*bound = ntohs(ss.ss_family == AF_INET6
		? ((struct sockaddr_in6 *)&ss)->sin6_port
		: ((struct sockaddr_in *)&ss)->sin_port);
	rc = fd;
out:
	freeaddrinfo(res);
	return rc;
}

/* The process's cgroup CPU quota in whole CPUs (affinity.h), 0 if none. */
static unsigned
broker_cpu_quota(void)
{
	char text[4096];
	FILE *f = fopen("/proc/self/cgroup", "r");
	if (f == NULL)
		return 0;
	size_t n = fread(text, 1, sizeof(text) - 1, f);
	fclose(f);
	text[n] = '\0';
	return rmq_cgroup_cpu_quota("/sys/fs/cgroup", text);
}

/* "ADDRESS:PORT" of a listener, for messages. */
static void
broker_listener_name(const struct rmq_listen_addr *a, uint16_t port, char *buf,
    size_t len)
{
	snprintf(buf, len, "%s:%u", a->host[0] ? a->host : "*", port);
}

/* A listener's TLS from its settings: *out NULL when it has none.  Returns
 * 0, or -EINVAL with "listener ADDRESS:PORT: why" in err. */
static int
broker_tls_new(const struct rmq_config *cfg, const struct rmq_listen_addr *a,
    uint16_t port, struct rmq_tls **out, char *err, size_t errlen)
{
	struct rmq_tls_conf conf = a->tls;
	const struct rmq_tls_conf *tc = &conf;
	char name[80], why[512];
	broker_listener_name(a, port, name, sizeof(name));
	snprintf(conf.psk_file, sizeof(conf.psk_file), "%s", cfg->psk_file);
	*out = NULL;
	if (!tc->certfile[0] && !tc->psk_hint[0]) {
		const char *k = tc->keyfile[0]     ? "keyfile"
		    : tc->cafile[0]                ? "cafile"
		    : tc->capath[0]                ? "capath"
		    : tc->crlfile[0]               ? "crlfile"
		    : tc->require_certificate      ? "require_certificate"
		    : tc->use_identity_as_username ? "use_identity_as_username"
		    : tc->use_subject_as_username  ? "use_subject_as_username"
						   : NULL;
		if (k == NULL)
			return 0;
		snprintf(err, errlen,
		    "listener %s: %s is set but certfile is not (TLS needs certfile and keyfile, or psk_hint and psk_file)",
		    name, k);
		return -EINVAL;
	}
	if (rmq_tls_new(tc, name, out, why, sizeof(why)) != 0) {
		snprintf(err, errlen, "listener %s: %s", name, why);
		return -EINVAL;
	}
	return 0;
}

/* A PROXY protocol listener's layer; NULL when the listener takes none. */
static int
broker_proxy_new(const struct rmq_listen_addr *a, uint16_t port,
    struct rmq_proxy **out, char *err, size_t errlen)
{
	char name[80];
	*out = NULL;
	if (a->proxy_protocol == 0)
		return 0;
	broker_listener_name(a, port, name, sizeof(name));
	if (rmq_proxy_new(a->proxy_protocol, name, out) != 0) {
		snprintf(err, errlen, "listener %s: out of memory", name);
		return -ENOMEM;
	}
	return 0;
}

/* A WebSocket listener's layer; NULL for an MQTT one, whose WebSocket
 * keys are refused rather than left without effect. */
static int
broker_ws_new(const struct rmq_listen_addr *a, uint16_t port,
    struct rmq_ws **out, char *err, size_t errlen)
{
	char name[80];
	broker_listener_name(a, port, name, sizeof(name));
	*out = NULL;
	if (a->protocol != RMQ_PROTO_WEBSOCKETS) {
		const char *k = a->ws.path[0] ? "websockets_path"
		    : a->ws.headers_max       ? "websockets_headers_size"
					      : NULL;
		if (k == NULL)
			return 0;
		snprintf(err, errlen,
		    "listener %s: %s is set but the listener's protocol is mqtt (add `protocol websockets` under its `listener` line)",
		    name, k);
		return -EINVAL;
	}
	if (rmq_ws_new(&a->ws, name, out) != 0) {
		snprintf(err, errlen, "listener %s: out of memory", name);
		return -ENOMEM;
	}
	return 0;
}

int
rmq_broker_check_files(const struct rmq_config *cfg, char *err, size_t errlen)
{
	char why[512];
	for (unsigned j = 0; j < cfg->nlisteners; j++) {
		struct rmq_tls *t;
		const struct rmq_listen_addr *a = &cfg->listeners[j];
		if (broker_tls_new(cfg, a, a->port, &t, err, errlen) != 0)
			return -EINVAL;
		rmq_tls_free(t);
		struct rmq_ws *ws;
		if (broker_ws_new(a, a->port, &ws, err, errlen) != 0)
			return -EINVAL;
		rmq_ws_free(ws);
	}
	struct rmq_authn *an;
	if (rmq_authn_new(cfg, &an, why, sizeof(why)) != 0) {
		snprintf(err, errlen, "password_file %s", why);
		return -EINVAL;
	}
	rmq_authn_free(an);
	struct rmq_authz *az;
	if (rmq_authz_new(cfg, &az, why, sizeof(why)) != 0) {
		snprintf(err, errlen, "acl_file %s", why);
		return -EINVAL;
	}
	rmq_authz_free(az);
	if (rmq_admin_tls_check(cfg, err, errlen) != 0)
		return -EINVAL;
	return 0;
}

/* max_connections as it applies: unset, or more than the descriptors
 * allow, it is what they allow. */
static void
broker_conn_limit(struct rmq_broker *b, struct rmq_config *cfg)
{
	if (cfg->max_connections > b->fd_conns)
		rmq_log(RMQ_LOG_WARNING,
		    "max_connections %u is more than the descriptor limit leaves room for; %u applies",
		    cfg->max_connections, b->fd_conns);
	if (cfg->max_connections == 0 || cfg->max_connections > b->fd_conns)
		cfg->max_connections = b->fd_conns;
	atomic_store(&b->conn_limit, cfg->max_connections);
}

/* The memory budget (memory.h): sampled, and the loops told through
 * b->mem_over when the node goes over it or comes back.  Worker 0's
 * thread at each tick; the main thread at the start and a reload. */
static void
broker_mem_sample(struct rmq_broker *b)
{
	uint64_t limit = atomic_load(&b->mem_limit);
	uint64_t rss = rmq_mem_resident();
	atomic_store(&b->mem_resident, rss);
	int was = atomic_load(&b->mem_over);
	int over = rmq_mem_over(limit, rss, was);
	/* A reload samples too: one of the two threads makes the change. */
	if (over == was ||
	    !atomic_compare_exchange_strong(&b->mem_over, &was, over))
		return;
	if (over) {
		atomic_fetch_add(&b->mem_over_total, 1);
		rmq_log(RMQ_LOG_WARNING,
		    "memory: %llu MiB resident, at the memory_limit of %llu MiB: new connections, PUBLISHes and subscriptions are refused",
		    (unsigned long long)(rss >> 20),
		    (unsigned long long)(limit >> 20));
	} else {
		rmq_log(RMQ_LOG_NOTICE,
		    "memory: %llu MiB resident, below %u%% of the memory_limit: new work is taken again",
		    (unsigned long long)(rss >> 20), RMQ_MEM_RESUME_PERCENT);
	}
}

/* memory_limit as it applies: a number, none, or (auto) a share of the
 * cgroup's limit, read again at each reload. */
static void
broker_mem_limit(struct rmq_broker *b, const struct rmq_config *cfg,
    int at_start)
{
	uint64_t cgroup = rmq_mem_cgroup_limit("");
	uint64_t limit = rmq_mem_budget(cfg->memory_limit, cgroup);
	if (limit != atomic_load(&b->mem_limit) || at_start) {
		if (limit == 0)
			rmq_log(RMQ_LOG_NOTICE, "memory: no memory_limit%s",
			    cfg->memory_limit < 0 ? " (no cgroup limit)" : "");
		else if (cfg->memory_limit < 0)
			rmq_log(RMQ_LOG_NOTICE,
			    "memory: memory_limit %llu MiB, %u%% of the cgroup's %llu MiB",
			    (unsigned long long)(limit >> 20),
			    RMQ_MEM_AUTO_PERCENT,
			    (unsigned long long)(cgroup >> 20));
		else
			rmq_log(RMQ_LOG_NOTICE, "memory: memory_limit %llu MiB",
			    (unsigned long long)(limit >> 20));
	}
	atomic_store(&b->mem_limit, limit);
	broker_mem_sample(b);
}

/* Worker 0's tick: the memory budget, then $SYS. */
static void
broker_tick(struct rmq_worker *w)
{
	broker_mem_sample(w->b);
	rmq_sys_tick(w);
}

/* The descriptors: the soft limit raised to the hard one, and the
 * connections it leaves room for once the broker's own (loops,
 * listeners) and the reserve are counted. */
static void
broker_fd_budget(struct rmq_broker *b)
{
	uint64_t limit = 0, was = 0;
	int rc = rmq_fd_raise(&limit, &was);
	unsigned open = rmq_fd_open_count();
	b->fd_conns = rmq_fd_conn_budget(limit, open);
	if (rc != 0)
		rmq_log(RMQ_LOG_WARNING,
		    "descriptor limit %llu could not be raised: %s",
		    (unsigned long long)limit, strerror(-rc));
	char raised[48] = "";
	if (limit != was)
		snprintf(raised, sizeof(raised), " (raised from %llu)",
		    (unsigned long long)was);
	rmq_log(RMQ_LOG_NOTICE,
	    "descriptor limit %llu%s: room for %u connections, %u kept for the admin endpoint and files",
	    (unsigned long long)limit, raised, b->fd_conns, RMQ_FD_RESERVE);
	broker_conn_limit(b, &b->cfg);
	for (unsigned i = 0; i < b->nworkers; i++)
		b->workers[i]->cfg.max_connections = b->cfg.max_connections;
}

/* A session read back: to the worker its identifier hashes to, where a
 * reconnecting client's CONNECT is handed. */
static int
broker_restore_session(void *ctx, const struct rmq_record_session *r,
    uint64_t left_ms, uint64_t *key)
{
	struct rmq_broker *b = ctx;
	/* Under the key it had, so that its queue finds it; when that
	 * worker is gone (fewer threads now) or its slot taken, under a new
	 * one on the worker its identifier hashes to. */
	if (r->key && rmq_key_worker(r->key) < b->nworkers) {
		int rc = rmq_worker_restore_session(b->workers[rmq_key_worker(
							r->key)],
		    r, left_ms, r->key, key);
		if (rc != -EEXIST)
			return rc;
	}
	uint64_t h = rmq_hash64(r->client_id, r->client_id_len);
	return rmq_worker_restore_session(b->workers[h % b->nworkers], r,
	    left_ms, 0, key);
}

static int
broker_restore_queued(void *ctx, uint64_t key, struct rmq_msg *m,
    const struct rmq_record_queued *q)
{
	struct rmq_broker *b = ctx;
	if (rmq_key_worker(key) >= b->nworkers)
		return -ENOENT;
	return rmq_worker_restore_queued(b->workers[rmq_key_worker(key)], key,
	    m, q);
}

static int
broker_restore_q2in(void *ctx, uint64_t key, uint16_t pid)
{
	struct rmq_broker *b = ctx;
	if (rmq_key_worker(key) >= b->nworkers)
		return -ENOENT;
	return rmq_worker_restore_q2in(b->workers[rmq_key_worker(key)], key,
	    pid);
}

/* The data directory, read back before any listener opens and after the
 * workers are made (sessions go back to them). */
static int
broker_persist_open(struct rmq_broker *b)
{
	if (!b->cfg.persistence) {
		rmq_log(RMQ_LOG_NOTICE,
		    "persistence off: retained messages are kept in memory only");
		return 0;
	}
	const struct rmq_config *cfg = &b->cfg;
	struct rmq_persist_conf pc = {
		.dir = cfg->persistence_location,
		.interval_ms = cfg->durability == RMQ_DURABLE_INTERVAL
		    ? cfg->durability_interval_ms
		    : 0,
		.max_bytes = cfg->persistence_max_bytes,
		.retain = b->retain,
		.committed = rmq_broker_disk_committed,
		.session = broker_restore_session,
		.queued = broker_restore_queued,
		.q2in = broker_restore_q2in,
		.lanes = b->nworkers,
		.ctx = b,
	};
	char err[1024];
	int rc = rmq_persist_open(&pc, &b->persist, err, sizeof(err));
	if (rc != 0) {
		rmq_log(RMQ_LOG_ERROR, "persistence: %s", err);
		return rc;
	}
	for (unsigned i = 0; i < b->nworkers; i++)
		rmq_worker_restore_done(b->workers[i]);
	b->hold_acks = pc.interval_ms == 0;
	const struct rmq_persist_stats *st = rmq_persist_stats(b->persist);
	char policy[64] = "always";
	if (pc.interval_ms)
		snprintf(policy, sizeof(policy), "interval %u ms",
		    pc.interval_ms);
	rmq_log(RMQ_LOG_NOTICE,
	    "persistence in %s (durability %s): %llu retained message%s read back, %llu expired; %llu session%s, %llu expired",
	    cfg->persistence_location, policy,
	    (unsigned long long)atomic_load(&st->loaded_retained),
	    atomic_load(&st->loaded_retained) == 1 ? "" : "s",
	    (unsigned long long)atomic_load(&st->expired_at_load),
	    (unsigned long long)atomic_load(&st->loaded_sessions),
	    atomic_load(&st->loaded_sessions) == 1 ? "" : "s",
	    (unsigned long long)atomic_load(&st->expired_sessions_at_load));
	return 0;
}

int
rmq_broker_init(struct rmq_broker *b, const struct rmq_config *cfg)
{
	return rmq_broker_init_on(b, cfg, NULL);
}

int
rmq_broker_init_on(struct rmq_broker *b, const struct rmq_config *cfg,
    const struct rmq_loop_ops *ops)
{
	char why[256];
	int rc;
	memset(b, 0, sizeof(*b));
	b->cfg = *cfg;
	b->tick_hook = broker_tick;
	if (getrandom(&b->id_nonce, sizeof(b->id_nonce), GRND_NONBLOCK) !=
	    (ssize_t)sizeof(b->id_nonce)) {
		/* the pool not ready yet (early boot), or getrandom refused
		 * (a seccomp filter): the clock, distinct between restarts,
		 * rather than a start that waits */
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		b->id_nonce = (uint64_t)ts.tv_sec * 1000000000ULL ^
		    (uint64_t)ts.tv_nsec ^ (uint64_t)getpid() << 40;
	}
	for (unsigned i = 0; i < RMQ_MAX_WORKERS; i++)
		for (unsigned j = 0; j < RMQ_MAX_LISTENERS; j++)
			b->listen_fds[i][j] = -1;
	cpu_set_t allowed;
	unsigned ncpu = rmq_affinity_allowed(&allowed);
	if (b->cfg.threads == 0) {
		/* One loop per CPU the process may run on, and no more than
		 * its cgroup's CPU quota lets run at once. */
		unsigned quota = broker_cpu_quota();
		b->cfg.threads = ncpu;
		if (quota > 0 && quota < ncpu) {
			b->cfg.threads = quota;
			rmq_log(RMQ_LOG_NOTICE,
			    "%u worker loop%s, not %u: the cgroup's CPU quota is %u CPU%s",
			    quota, quota == 1 ? "" : "s", ncpu, quota,
			    quota == 1 ? "" : "s");
		}
	}
	if (b->cfg.threads > RMQ_MAX_WORKERS)
		b->cfg.threads = RMQ_MAX_WORKERS;
	int cpus[RMQ_MAX_WORKERS];
	rc = rmq_affinity_plan(b->cfg.cpu_affinity, &b->cfg.cpu_list, &allowed,
	    b->cfg.threads, cpus, why, sizeof(why));
	if (rc != 0) {
		rmq_log(RMQ_LOG_ERROR, "%s", why);
		return rc;
	}
	if (ops != NULL) {
		b->ops = ops;
		snprintf(why, sizeof(why), "%s (chosen by the caller)",
		    ops->name);
	} else if ((rc = rmq_loop_backend(cfg->loop, &b->ops, why,
			sizeof(why))) != 0) {
		rmq_log(RMQ_LOG_ERROR, "%s", why);
		return rc;
	}
	rmq_log(RMQ_LOG_NOTICE, "%u worker loop%s on %s", b->cfg.threads,
	    b->cfg.threads == 1 ? "" : "s", why);
	if (cpus[0] >= 0) {
		cpu_set_t used;
		CPU_ZERO(&used);
		for (unsigned i = 0; i < b->cfg.threads; i++)
			CPU_SET((unsigned)cpus[i], &used);
		rmq_cpulist_format(&used, why, sizeof(why));
		b->by_cpu = b->cfg.placement == RMQ_PLACE_CPU &&
		    rmq_placement_by_cpu(cpus, b->cfg.threads);
		rmq_log(RMQ_LOG_NOTICE,
		    "worker loops pinned to CPU%s %s, in order; new connections go to %s",
		    CPU_COUNT(&used) == 1 ? "" : "s", why,
		    b->by_cpu ? "the loop of the CPU that received them"
			      : "loops by the kernel's hash");
	} else {
		rmq_log(RMQ_LOG_INFO,
		    "worker loops not pinned (cpu_affinity %s, %u loop%s, %u CPU%s)",
		    b->cfg.cpu_affinity == RMQ_AFFINITY_NONE ? "none" : "auto",
		    b->cfg.threads, b->cfg.threads == 1 ? "" : "s", ncpu,
		    ncpu == 1 ? "" : "s");
	}
	char aerr[512];
	if ((rc = rmq_authn_new(&b->cfg, &b->authn, aerr, sizeof(aerr))) != 0) {
		rmq_log(RMQ_LOG_ERROR, "password_file %s", aerr);
		return rc;
	}
	b->auth = rmq_authn_contract(b->authn);
	if ((b->guard = rmq_guard_new(b->cfg.failed_login_delay_ms)) == NULL)
		return -ENOMEM;
	if ((rc = rmq_authz_new(&b->cfg, &b->authz_impl, aerr, sizeof(aerr))) !=
	    0) {
		rmq_log(RMQ_LOG_ERROR, "acl_file %s", aerr);
		return rc;
	}
	atomic_store(&b->authz,
	    b->cfg.acl_file[0] ? rmq_authz_contract(b->authz_impl) : NULL);
	if ((rc = rmq_index_new(&b->index)) != 0 ||
	    (rc = rmq_registry_new(&b->registry)) != 0 ||
	    (rc = rmq_retain_new(&b->retain)) != 0)
		return rc;
	for (unsigned i = 0; i < b->cfg.threads; i++) {
		rc = rmq_worker_new(b, i, &b->workers[i]);
		if (rc != 0) {
			rmq_log(RMQ_LOG_ERROR, "worker %u: %s", i,
			    strerror(-rc));
			return rc;
		}
		b->workers[i]->cpu = cpus[i];
		b->nworkers++;
	}
	if ((rc = broker_persist_open(b)) != 0)
		return rc;
	for (unsigned j = 0; j < b->cfg.nlisteners; j++) {
		const struct rmq_listen_addr *a = &b->cfg.listeners[j];
		uint16_t port = a->port;
		for (unsigned i = 0; i < b->nworkers; i++) {
			int fd = broker_listen_socket(a->host, port, &port);
			if (fd < 0)
				return fd;
			/* The program goes with the group's first socket; the
			 * others join it in loop order. */
			if (i == 0 && b->by_cpu &&
			    (rc = rmq_placement_attach(fd, cpus,
				 b->nworkers)) != 0)
				rmq_log(RMQ_LOG_WARNING,
				    "listener %s:%u: connections placed by the kernel's hash, not by CPU: %s",
				    a->host[0] ? a->host : "*", port,
				    strerror(-rc));
			b->listen_fds[i][j] = fd;
			b->workers[i]->listeners[j].tp = &b->transports[j];
			rc = b->ops->listen(b->workers[i]->loop, fd,
			    rmq_worker_accept, &b->workers[i]->listeners[j]);
			if (rc != 0)
				return rc;
			b->listen_fds[i][j] = -1; /* the loop owns it now */
		}
		b->bound_ports[j] = port;
		/* Built once the port is known, for its messages; no loop
		 * runs before the start. */
		char err[768];
		struct rmq_transport *tp = &b->transports[j];
		if (broker_proxy_new(a, port, &tp->proxy, err, sizeof(err)) !=
			0 ||
		    broker_tls_new(&b->cfg, a, port, &tp->tls, err,
			sizeof(err)) != 0 ||
		    broker_ws_new(a, port, &tp->ws, err, sizeof(err)) != 0) {
			rmq_log(RMQ_LOG_ERROR, "%s", err);
			return -EINVAL;
		}
		rmq_log(RMQ_LOG_NOTICE, "listening on %s:%u (MQTT%s%s%s%s)",
		    a->host[0] ? a->host : "*", port,
		    tp->ws ? " over WebSocket" : "", tp->tls ? " over TLS" : "",
		    !tp->tls || !a->tls.psk_hint[0] ? ""
			: a->tls.certfile[0] ? ", certificate or pre-shared key"
					     : ", pre-shared keys only",
		    a->proxy_protocol == 1       ? ", behind PROXY protocol v1"
			: a->proxy_protocol == 2 ? ", behind PROXY protocol v2"
						 : "");
	}
	broker_fd_budget(b);
	broker_mem_limit(b, &b->cfg, 1);
	return 0;
}

static void *
broker_thread(void *arg)
{
	struct rmq_worker *w = arg;
	/* Named so that top -H, perf and taskset can tell the loops apart. */
	char name[16];
	snprintf(name, sizeof(name), "ringmq-loop%u", w->id);
	pthread_setname_np(pthread_self(), name);
	int a = rmq_arena_bind_new();
	if (a > 0) {
		__atomic_store_n(&w->arena, a, __ATOMIC_RELEASE);
		rmq_log(RMQ_LOG_DEBUG,
		    "worker %u allocates from jemalloc arena %d", w->id, a);
	} else if (a != -ENOTSUP) {
		rmq_log(RMQ_LOG_WARNING,
		    "worker %u: no allocator arena of its own (%s); it shares jemalloc's",
		    w->id, strerror(-a));
	}
	int rc = rmq_loop_run(w->loop);
	if (rc != 0)
		rmq_log(RMQ_LOG_ERROR, "worker %u stopped: %s", w->id,
		    strerror(-rc));
	return NULL;
}

void
rmq_broker_reload(struct rmq_broker *b, const struct rmq_config *cfg,
    const char **needs_restart)
{
	struct rmq_config next = *cfg;
	/* What the running node was built with stays: listeners, loops,
	 * the admin endpoint, and the topic alias maximum that sized the
	 * sessions' alias tables. */
	*needs_restart = NULL;
	if (memcmp(next.listeners, b->cfg.listeners, sizeof(next.listeners)) ||
	    next.nlisteners != b->cfg.nlisteners)
		*needs_restart = "listener";
	else if (next.threads && next.threads != b->cfg.threads)
		*needs_restart = "threads";
	else if (next.loop != b->cfg.loop)
		*needs_restart = "io_backend";
	else if (next.cpu_affinity != b->cfg.cpu_affinity ||
	    (next.cpu_affinity == RMQ_AFFINITY_LIST &&
		!CPU_EQUAL(&next.cpu_list, &b->cfg.cpu_list)))
		*needs_restart = "cpu_affinity";
	else if (next.placement != b->cfg.placement)
		*needs_restart = "connection_placement";
	else if (memcmp(&next.admin, &b->cfg.admin, sizeof(next.admin)))
		*needs_restart = "admin_listener";
	else if (strcmp(next.admin_token_file, b->cfg.admin_token_file) != 0)
		*needs_restart = "admin_token_file"; /* read at the start */
	else if (strcmp(next.admin_tls_certfile, b->cfg.admin_tls_certfile))
		*needs_restart = "admin_tls_certfile";
	else if (strcmp(next.admin_tls_keyfile, b->cfg.admin_tls_keyfile))
		*needs_restart = "admin_tls_keyfile";
	else if (strcmp(next.admin_tls_cafile, b->cfg.admin_tls_cafile))
		*needs_restart = "admin_tls_cafile";
	else if (next.topic_alias_max != b->cfg.topic_alias_max)
		*needs_restart = "topic_alias_maximum";
	else if (strcmp(next.psk_file, b->cfg.psk_file) != 0)
		*needs_restart = "psk_file"; /* its contents are read again */
	else if (next.persistence != b->cfg.persistence)
		*needs_restart = "persistence";
	else if (strcmp(next.persistence_location,
		     b->cfg.persistence_location) != 0)
		*needs_restart = "persistence_location";
	else if (next.persistence_max_bytes != b->cfg.persistence_max_bytes)
		*needs_restart = "persistence_max_bytes";
	else if (next.persistence &&
	    (next.durability != b->cfg.durability ||
		next.durability_interval_ms != b->cfg.durability_interval_ms))
		*needs_restart = "durability";
	else if (strcmp(next.node_name, b->cfg.node_name))
		*needs_restart = "node_name";
	else if (memcmp(&next.cluster_listener, &b->cfg.cluster_listener,
		     sizeof(next.cluster_listener)))
		*needs_restart = "cluster_listener";
	else if (strcmp(next.cluster_advertise, b->cfg.cluster_advertise))
		*needs_restart = "cluster_advertise";
	else if (strcmp(next.cluster_seeds, b->cfg.cluster_seeds))
		*needs_restart = "cluster_seeds";
	else if (strcmp(next.cluster_dns, b->cfg.cluster_dns))
		*needs_restart = "cluster_dns";
	else if (next.cluster_dns_interval_ms != b->cfg.cluster_dns_interval_ms)
		*needs_restart = "cluster_dns_interval";
	else if (next.cluster_peer_timeout_ms != b->cfg.cluster_peer_timeout_ms)
		*needs_restart = "cluster_peer_timeout";
	else if (next.cluster_forward_port != b->cfg.cluster_forward_port)
		*needs_restart = "cluster_forward_port";
	else if (next.cluster_forward_queue != b->cfg.cluster_forward_queue)
		*needs_restart = "cluster_forward_queue";
	else if (next.cluster_links != b->cfg.cluster_links)
		*needs_restart = "cluster_links";
	else if (next.cluster_link_port != b->cfg.cluster_link_port)
		*needs_restart = "cluster_link_port";
	else if (strcmp(next.cluster_tls_certfile, b->cfg.cluster_tls_certfile))
		*needs_restart = "cluster_tls_certfile";
	else if (strcmp(next.cluster_tls_keyfile, b->cfg.cluster_tls_keyfile))
		*needs_restart = "cluster_tls_keyfile";
	else if (strcmp(next.cluster_tls_cafile, b->cfg.cluster_tls_cafile))
		*needs_restart = "cluster_tls_cafile";
	else if (strcmp(next.cluster_tls_peer_name,
		     b->cfg.cluster_tls_peer_name))
		*needs_restart = "cluster_tls_peer_name";
	memcpy(next.listeners, b->cfg.listeners, sizeof(next.listeners));
	next.nlisteners = b->cfg.nlisteners;
	next.threads = b->cfg.threads;
	next.loop = b->cfg.loop;
	next.cpu_affinity = b->cfg.cpu_affinity;
	next.cpu_list = b->cfg.cpu_list;
	next.placement = b->cfg.placement;
	next.admin = b->cfg.admin;
	memcpy(next.psk_file, b->cfg.psk_file, sizeof(next.psk_file));
	next.persistence = b->cfg.persistence;
	memcpy(next.persistence_location, b->cfg.persistence_location,
	    sizeof(next.persistence_location));
	next.durability = b->cfg.durability;
	next.durability_interval_ms = b->cfg.durability_interval_ms;
	next.persistence_max_bytes = b->cfg.persistence_max_bytes;
	/* The cluster (cluster/bus.h) is built from these once, at start. */
	memcpy(next.node_name, b->cfg.node_name, sizeof(next.node_name));
	next.cluster_listener = b->cfg.cluster_listener;
	memcpy(next.cluster_advertise, b->cfg.cluster_advertise,
	    sizeof(next.cluster_advertise));
	memcpy(next.cluster_seeds, b->cfg.cluster_seeds,
	    sizeof(next.cluster_seeds));
	memcpy(next.cluster_dns, b->cfg.cluster_dns, sizeof(next.cluster_dns));
	next.cluster_dns_interval_ms = b->cfg.cluster_dns_interval_ms;
	next.cluster_peer_timeout_ms = b->cfg.cluster_peer_timeout_ms;
	next.cluster_forward_port = b->cfg.cluster_forward_port;
	next.cluster_forward_queue = b->cfg.cluster_forward_queue;
	next.cluster_links = b->cfg.cluster_links;
	next.cluster_link_port = b->cfg.cluster_link_port;
	memcpy(next.cluster_tls_certfile, b->cfg.cluster_tls_certfile,
	    sizeof(next.cluster_tls_certfile));
	memcpy(next.cluster_tls_keyfile, b->cfg.cluster_tls_keyfile,
	    sizeof(next.cluster_tls_keyfile));
	memcpy(next.cluster_tls_cafile, b->cfg.cluster_tls_cafile,
	    sizeof(next.cluster_tls_cafile));
	memcpy(next.cluster_tls_peer_name, b->cfg.cluster_tls_peer_name,
	    sizeof(next.cluster_tls_peer_name));
	next.topic_alias_max = b->cfg.topic_alias_max;

	rmq_log_set(next.log_level, (enum rmq_log_format)next.log_format);
	rmq_guard_set_max(b->guard, next.failed_login_delay_ms);
	char aerr[512];
	if (rmq_authn_reload(b->authn, &next, aerr, sizeof(aerr)) != 0)
		rmq_log(RMQ_LOG_ERROR,
		    "reload: password_file %s; the file read before stays",
		    aerr);
	else if (next.password_file[0])
		rmq_log(RMQ_LOG_NOTICE,
		    "reload: password_file %s read, %ld users",
		    next.password_file, rmq_authn_users(b->authn));
	/* The ACL: the loops stop asking before a file is dropped, and
	 * start once the new one is in. */
	if (!next.acl_file[0])
		atomic_store(&b->authz, NULL);
	if (rmq_authz_reload(b->authz_impl, &next, aerr, sizeof(aerr)) != 0) {
		rmq_log(RMQ_LOG_ERROR,
		    "reload: acl_file %s; the file read before stays", aerr);
	} else if (next.acl_file[0]) {
		atomic_store(&b->authz, rmq_authz_contract(b->authz_impl));
		rmq_log(RMQ_LOG_NOTICE, "reload: acl_file %s read, %zu rules",
		    next.acl_file, rmq_authz_rules(b->authz_impl));
	}
	/* Certificates are read again (renewed files), for the
	 * connections to come. */
	for (unsigned j = 0; j < b->cfg.nlisteners; j++) {
		char name[80], err[512];
		if (b->transports[j].tls == NULL)
			continue;
		broker_listener_name(&b->cfg.listeners[j], b->bound_ports[j],
		    name, sizeof(name));
		if (rmq_tls_reload(b->transports[j].tls, err, sizeof(err)) != 0)
			rmq_log(RMQ_LOG_ERROR,
			    "reload: listener %s keeps its certificates: %s",
			    name, err);
		else
			rmq_log(RMQ_LOG_NOTICE,
			    "reload: listener %s: certificates read again",
			    name);
	}
	broker_conn_limit(b, &next);
	broker_mem_limit(b, &next, 0);
	for (unsigned i = 0; i < b->nworkers; i++)
		if (rmq_worker_reconfigure(b->workers[i], &next) != 0)
			rmq_log(RMQ_LOG_ERROR,
			    "reload: out of memory; worker %u keeps its configuration",
			    i);
	/* The main thread reports the grace period at SIGTERM. */
	b->cfg.shutdown_grace_ms = next.shutdown_grace_ms;
}

int
rmq_broker_start(struct rmq_broker *b)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	b->start_time_unix = (double)ts.tv_sec + ts.tv_nsec / 1e9;
	b->start_ms = rmq_loop_clock_ms();
	if (b->cfg.admin.host[0] != '\0' && rmq_admin_start(b) != 0)
		return -EINVAL;
	if (b->persist) {
		int rc = rmq_persist_start(b->persist);
		if (rc != 0)
			return rc;
	}
	atomic_store(&b->loops_up, 1);
	for (unsigned i = 0; i < b->nworkers; i++) {
		struct rmq_worker *w = b->workers[i];
		pthread_attr_t attr;
		int rc = pthread_attr_init(&attr);
		if (rc != 0)
			return -rc;
		/* Pinned from its first instruction: its stack, its arena and
		 * its ring are first touched on its own CPU. */
		if (w->cpu >= 0)
			rc = -rmq_affinity_attr(&attr, w->cpu);
		if (rc == 0)
			rc = pthread_create(&b->threads[i], &attr,
			    broker_thread, w);
		if (rc != 0 && w->cpu >= 0) {
			rmq_log(RMQ_LOG_WARNING,
			    "worker %u: not pinned to CPU %d (%s); the kernel places it",
			    i, w->cpu, strerror(rc));
			w->cpu = -1;
			rc = pthread_create(&b->threads[i], NULL, broker_thread,
			    w);
		}
		pthread_attr_destroy(&attr);
		if (rc != 0)
			return -rc;
	}
	atomic_store(&b->ready, 1);
	return 0;
}

void
rmq_broker_stop(struct rmq_broker *b)
{
	atomic_store(&b->ready, 0);
	for (unsigned i = 0; i < b->nworkers; i++)
		rmq_loop_stop(b->workers[i]->loop);
	for (unsigned i = 0; i < b->nworkers; i++)
		pthread_join(b->threads[i], NULL);
	atomic_store(&b->loops_up, 0);
}

void
rmq_broker_fini(struct rmq_broker *b)
{
	/* Checks waiting on the authenticator's thread are answered (no)
	 * into the workers' inboxes, which go next. */
	rmq_authn_free(b->authn);
	rmq_guard_free(b->guard);
	b->guard = NULL;
	b->authn = NULL;
	atomic_store(&b->authz, NULL);
	rmq_authz_free(b->authz_impl);
	b->authz_impl = NULL;
	/* What changed last is committed while the stores are still there:
	 * the workers' last queue changes too (their loops have stopped). */
	for (unsigned i = 0; b->persist && i < b->nworkers; i++)
		rmq_worker_disk_flush(b->workers[i]);
	rmq_persist_close(b->persist);
	b->persist = NULL;
	if (b->nng_wedged) {
		/* NNG's threads are stuck and its HTTP server cannot be
		 * stopped: its handlers may still read what follows.  All of
		 * it is left to the process's exit (main.c's _exit). */
		return;
	}
	/* Sessions leave the index as their workers go. */
	rcu_register_thread();
	for (unsigned i = 0; i < b->nworkers; i++)
		rmq_worker_free(b->workers[i]);
	for (unsigned i = 0; i < RMQ_MAX_WORKERS; i++)
		for (unsigned j = 0; j < RMQ_MAX_LISTENERS; j++)
			if (b->listen_fds[i][j] >= 0)
				close(b->listen_fds[i][j]);
	rmq_admin_stop(b);
	for (unsigned j = 0; j < RMQ_MAX_LISTENERS; j++) {
		rmq_tls_free(b->transports[j].tls);
		b->transports[j].tls = NULL;
		rmq_ws_free(b->transports[j].ws);
		b->transports[j].ws = NULL;
		rmq_proxy_free(b->transports[j].proxy);
		b->transports[j].proxy = NULL;
	}
	rmq_retain_free(b->retain);
	rmq_registry_free(b->registry);
	rmq_index_free(b->index); /* as a registered reader, as it asks */
	rcu_unregister_thread();
}
