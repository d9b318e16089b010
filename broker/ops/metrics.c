/* broker/ops/metrics.c: the Prometheus exposition of the node (see metrics.h).
 *
 * Names follow Prometheus conventions: ringmq_ prefix, _total for counters,
 * base units (_bytes, _seconds), and the standard process_ metrics.  Each
 * counter lives in its worker, written only by that worker's thread; a
 * scrape reads them with relaxed loads and sums them, so the message path
 * pays no shared atomic for being measured.
 */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/time.h>
#include <unistd.h>

#include "api.h"
#include "arena.h"
#include "cluster.h"
#include "guard.h"
#include "metrics.h"
#include "persist.h"
#include "proxy.h"
#include "reason.h"
#include "registry.h"
#include "retain.h"
#include "rmq_config.h"
#include "text.h"
#include "tls.h"
#include "worker.h"
#include "ws.h"

/* Text another part wrote (the cluster's metrics, cluster.h). */
static void
metrics_put(void *arg, const char *text, size_t len)
{
	rmq_text_printf(arg, "%.*s", (int)len, text);
}

static void
metrics_head(struct rmq_text *m, const char *name, const char *type,
    const char *help)
{
	rmq_text_printf(m, "# HELP %s %s\n# TYPE %s %s\n", name, help, name,
	    type);
}

/* A metric of one sample, without labels. */
static void
metrics_value(struct rmq_text *m, const char *name, const char *type,
    const char *help, uint64_t v)
{
	metrics_head(m, name, type, help);
	rmq_text_printf(m, "%s %llu\n", name, (unsigned long long)v);
}

/* A counter summed over the workers. */
static void
metrics_sum(struct rmq_text *m, struct rmq_broker *b, const char *name,
    const char *help, size_t offset)
{
	metrics_value(m, name, "counter", help, rmq_workers_sum(b, offset));
}

#define ST(field) RMQ_STAT(field)

/* The data directory's writer (persist.h); nothing when persistence is
 * off, but the acknowledgement counts. */
static void
metrics_store(struct rmq_text *m, struct rmq_broker *b)
{
	metrics_value(m, "ringmq_store_enabled", "gauge",
	    "1 when persistence keeps state in the data directory.",
	    b->persist != NULL);
	metrics_sum(m, b, "ringmq_store_acks_held_total",
	    "PUBACKs, PUBRECs, SUBACKs and UNSUBACKs held until the data directory committed what they acknowledge (durability always).",
	    ST(acks_held));
	metrics_sum(m, b, "ringmq_store_acks_failed_total",
	    "Acknowledgements sent 0x97 (5.0) because what they acknowledge could not be written.",
	    ST(acks_failed));
	metrics_sum(m, b, "ringmq_store_kept_total",
	    "QoS 1/2 messages handed to the data directory for a persistent session (one per session).",
	    ST(kept));
	metrics_sum(m, b, "ringmq_store_kept_failed_total",
	    "Changes to kept queues lost for want of memory (the message is delivered, not kept; or kept and delivered again after a restart).",
	    ST(kept_failed));
	if (b->persist == NULL)
		return;
	const struct rmq_persist_stats *st = rmq_persist_stats(b->persist);
	metrics_value(m, "ringmq_store_queued_written_total", "counter",
	    "Queued messages of persistent sessions written to the data directory.",
	    atomic_load(&st->queued_written));
	metrics_value(m, "ringmq_store_queued_skipped_total", "counter",
	    "Queued messages of persistent sessions delivered and acknowledged before their commit, so never written.",
	    atomic_load(&st->queued_skipped));
	metrics_value(m, "ringmq_store_backlog", "gauge",
	    "Queue changes handed to the writer and not yet committed.",
	    atomic_load(&st->backlog));
	metrics_value(m, "ringmq_store_behind_total", "counter",
	    "Times the backlog passed 262144 changes, after which PUBACKs and PUBRECs wait for the commit under every policy.",
	    atomic_load(&st->behind));
	metrics_value(m, "ringmq_store_queued_loaded", "gauge",
	    "Queued and in-flight messages of persistent sessions read back at start.",
	    atomic_load(&st->loaded_queued));
	metrics_value(m, "ringmq_store_orphans_at_load", "gauge",
	    "Queued messages found at start for no session (left by a session that ended as they were queued) and removed.",
	    atomic_load(&st->orphans_at_load));
	metrics_value(m, "ringmq_store_commits_total", "counter",
	    "Transactions the data directory's writer committed (each one sync).",
	    atomic_load(&st->commits));
	metrics_value(m, "ringmq_store_records_total", "counter",
	    "Records written or deleted by those commits.",
	    atomic_load(&st->records));
	metrics_value(m, "ringmq_store_commit_failures_total", "counter",
	    "Commits that did not reach the disk (a full disk, an I/O error); retried every second.",
	    atomic_load(&st->failures));
	metrics_value(m, "ringmq_store_failing", "gauge",
	    "1 while the last commit failed.",
	    (uint64_t)atomic_load(&st->failing));
	metrics_head(m, "ringmq_store_commit_seconds_total", "counter",
	    "Time spent writing and syncing commits.");
	rmq_text_printf(m, "ringmq_store_commit_seconds_total %.6f\n",
	    (double)atomic_load(&st->sync_us) / 1e6);
	metrics_value(m, "ringmq_store_retained_loaded", "gauge",
	    "Retained messages read back from the data directory at start.",
	    atomic_load(&st->loaded_retained));
	metrics_value(m, "ringmq_store_sessions_loaded", "gauge",
	    "Persistent sessions read back from the data directory at start.",
	    atomic_load(&st->loaded_sessions));
	metrics_value(m, "ringmq_store_sessions_expired_at_load", "gauge",
	    "Persistent sessions found expired at start (the time the broker was down counts) and removed.",
	    atomic_load(&st->expired_sessions_at_load));
	metrics_value(m, "ringmq_store_expired_at_load", "gauge",
	    "Retained messages found expired at start (the time the broker was down counts) and removed.",
	    atomic_load(&st->expired_at_load));
}

/* A reason code as a label value: "Packet too large" is
 * packet_too_large. */
static void
metrics_reason_label(uint8_t code, char *out, size_t len)
{
	const char *name = rmq_reason_name(code, 0);
	size_t n = 0;
	for (; *name && n + 1 < len; name++)
		out[n++] = isalnum((unsigned char)*name)
		    ? (char)tolower((unsigned char)*name)
		    : '_';
	out[n] = '\0';
}

/* Reason codes shown even at zero, so that a dashboard has the series
 * before the first event. */
static const uint8_t metrics_refused_always[] = {
	RMQ_RC_UNSUPPORTED_PROTOCOL_VERSION, RMQ_RC_CLIENT_ID_NOT_VALID,
	RMQ_RC_BAD_AUTHENTICATION_METHOD, RMQ_RC_SERVER_UNAVAILABLE, 0
};
static const uint8_t metrics_errors_always[] = { RMQ_RC_MALFORMED_PACKET,
	RMQ_RC_PROTOCOL_ERROR, RMQ_RC_PACKET_TOO_LARGE, 0 };

/* A counter with one series per reason code (an array of 256 counters in
 * the worker stats at `offset`). */
static void
metrics_by_reason(struct rmq_text *m, struct rmq_broker *b, const char *name,
    const char *help, size_t offset, const uint8_t *always)
{
	metrics_head(m, name, "counter", help);
	for (unsigned code = 0; code < 256; code++) {
		uint64_t v =
		    rmq_workers_sum(b, offset + code * sizeof(rmq_counter));
		int shown = v != 0;
		for (const uint8_t *a = always; *a && !shown; a++)
			shown = *a == code;
		if (!shown)
			continue;
		char label[64];
		metrics_reason_label((uint8_t)code, label, sizeof(label));
		rmq_text_printf(m, "%s{reason=\"%s\"} %llu\n", name, label,
		    (unsigned long long)v);
	}
}

static const char *const metrics_qos_names[] = { "0", "1", "2", NULL };
static const char *const metrics_packet_names[] = { "", "connect", "connack",
	"publish", "puback", "pubrec", "pubrel", "pubcomp", "subscribe",
	"suback", "unsubscribe", "unsuback", "pingreq", "pingresp",
	"disconnect", "auth", NULL };

/* A counter with one series per value of `label`: names[i] (an empty name
 * is skipped) for the counter at offset + i in the worker stats. */
static void
metrics_labelled(struct rmq_text *m, struct rmq_broker *b, const char *name,
    const char *help, size_t offset, const char *label,
    const char *const *names)
{
	metrics_head(m, name, "counter", help);
	for (unsigned i = 0; names[i]; i++)
		if (names[i][0])
			rmq_text_printf(m, "%s{%s=\"%s\"} %llu\n", name, label,
			    names[i],
			    (unsigned long long)rmq_workers_sum(b,
				offset + i * sizeof(rmq_counter)));
}

/* One series per worker loop: the counter at `offset` in the loop itself
 * (of_loop) or in its worker's stats. */
static void
metrics_per_loop(struct rmq_text *m, struct rmq_broker *b, const char *name,
    const char *type, const char *help, int of_loop, size_t offset)
{
	metrics_head(m, name, type, help);
	for (unsigned i = 0; i < b->nworkers; i++) {
		const char *base = of_loop ? (const char *)b->workers[i]->loop
					   : (const char *)&b->workers[i]->st;
		rmq_text_printf(m, "%s{loop=\"%u\"} %llu\n", name, i,
		    (unsigned long long)rmq_counter_get(
			(const rmq_counter *)(base + offset)));
	}
}

/* The protocol label of listener j: mqtt, mqtts, ws or wss. */
static const char *
metrics_protocol(const struct rmq_broker *b, unsigned j)
{
	if (b->transports[j].ws)
		return b->transports[j].tls ? "wss" : "ws";
	return b->transports[j].tls ? "mqtts" : "mqtt";
}

static void
metrics_listeners(struct rmq_text *m, struct rmq_broker *b)
{
	static const struct {
		const char *name, *type, *help;
		size_t offset;
	} fams[] = {
		{ "ringmq_listener_connections", "gauge",
		    "Network connections open now, by listener.",
		    ST(listener_conns) },
		{ "ringmq_listener_accepted_total", "counter",
		    "Connections accepted, by listener.",
		    ST(listener_accepts) },
	};
	for (size_t f = 0; f < sizeof(fams) / sizeof(fams[0]); f++) {
		metrics_head(m, fams[f].name, fams[f].type, fams[f].help);
		for (unsigned j = 0; j < b->cfg.nlisteners; j++) {
			const struct rmq_listen_addr *a = &b->cfg.listeners[j];
			rmq_text_printf(m,
			    "%s{listener=\"%s:%u\",protocol=\"%s\"} "
			    "%llu\n",
			    fams[f].name, a->host[0] ? a->host : "*",
			    b->bound_ports[j], metrics_protocol(b, j),
			    (unsigned long long)rmq_workers_sum(b,
				fams[f].offset + j * sizeof(rmq_counter)));
		}
	}
}

/* Counters a layer of the connections keeps per listener (TLS,
 * WebSocket): `get` fills st for listener j, or returns 0 when that
 * listener has no such layer. */
struct metrics_layer_fam {
	const char *name, *help;
	size_t offset; /* of a uint64_t in the layer's stats */
};

static void
metrics_layer(struct rmq_text *m, struct rmq_broker *b,
    const struct metrics_layer_fam *fams, size_t nfams,
    int (*get)(struct rmq_broker *b, unsigned j, void *st), void *st)
{
	int any = 0;
	for (unsigned j = 0; j < b->cfg.nlisteners; j++)
		any |= get(b, j, st);
	if (!any)
		return;
	for (size_t f = 0; f < nfams; f++) {
		metrics_head(m, fams[f].name, "counter", fams[f].help);
		for (unsigned j = 0; j < b->cfg.nlisteners; j++) {
			const struct rmq_listen_addr *a = &b->cfg.listeners[j];
			if (!get(b, j, st))
				continue;
			uint64_t v;
			memcpy(&v, (const char *)st + fams[f].offset,
			    sizeof(v));
			rmq_text_printf(m, "%s{listener=\"%s:%u\"} %llu\n",
			    fams[f].name, a->host[0] ? a->host : "*",
			    b->bound_ports[j], (unsigned long long)v);
		}
	}
}

static int
metrics_tls_get(struct rmq_broker *b, unsigned j, void *st)
{
	if (b->transports[j].tls == NULL)
		return 0;
	rmq_tls_stats(b->transports[j].tls, st);
	return 1;
}

/* TLS listeners' handshakes and certificate reloads. */
static void
metrics_tls(struct rmq_text *m, struct rmq_broker *b)
{
	static const struct metrics_layer_fam fams[] = {
		{ "ringmq_tls_handshakes_total",
		    "TLS handshakes finished, by listener.",
		    offsetof(struct rmq_tls_stats, handshakes) },
		{ "ringmq_tls_handshake_failures_total",
		    "TLS handshakes that failed (bad certificate, version, cipher, or not TLS), by listener.",
		    offsetof(struct rmq_tls_stats, failures) },
		{ "ringmq_tls_resumed_total",
		    "TLS handshakes that resumed an earlier session, by listener.",
		    offsetof(struct rmq_tls_stats, resumed) },
		{ "ringmq_tls_reloads_total",
		    "Certificate files read again at a reload, by listener.",
		    offsetof(struct rmq_tls_stats, reloads) },
		{ "ringmq_tls_reload_failures_total",
		    "Reloads whose certificate files could not be used (the listener kept its own), by listener.",
		    offsetof(struct rmq_tls_stats, reload_failures) },
		{ "ringmq_tls_released_total",
		    "TLS 1.3 handshakes after which OpenSSL's connection state was given back and RingMQ's record layer took the connection, by listener.",
		    offsetof(struct rmq_tls_stats, released) },
		{ "ringmq_tls_key_updates_total",
		    "TLS 1.3 KeyUpdate messages read from clients by RingMQ's record layer, by listener.",
		    offsetof(struct rmq_tls_stats, key_updates) },
	};
	struct rmq_tls_stats st;
	metrics_layer(m, b, fams, sizeof(fams) / sizeof(fams[0]),
	    metrics_tls_get, &st);
}

static int
metrics_ws_get(struct rmq_broker *b, unsigned j, void *st)
{
	if (b->transports[j].ws == NULL)
		return 0;
	rmq_ws_stats(b->transports[j].ws, st);
	return 1;
}

/* WebSocket listeners' upgrades. */
static void
metrics_ws(struct rmq_text *m, struct rmq_broker *b)
{
	static const struct metrics_layer_fam fams[] = {
		{ "ringmq_ws_upgrades_total",
		    "HTTP requests upgraded to WebSocket, by listener.",
		    offsetof(struct rmq_ws_stats, upgrades) },
		{ "ringmq_ws_refused_total",
		    "HTTP requests refused (not a WebSocket upgrade, wrong path or version, headers too large), by listener.",
		    offsetof(struct rmq_ws_stats, refused) },
		{ "ringmq_ws_protocol_errors_total",
		    "WebSocket connections closed for frames that break RFC 6455 or MQTT's rules (text frames, unmasked frames), by listener.",
		    offsetof(struct rmq_ws_stats, protocol_errors) },
	};
	struct rmq_ws_stats st;
	metrics_layer(m, b, fams, sizeof(fams) / sizeof(fams[0]),
	    metrics_ws_get, &st);
}

static int
metrics_proxy_get(struct rmq_broker *b, unsigned j, void *st)
{
	if (b->transports[j].proxy == NULL)
		return 0;
	rmq_proxy_stats(b->transports[j].proxy, st);
	return 1;
}

/* PROXY protocol listeners' headers. */
static void
metrics_proxy(struct rmq_text *m, struct rmq_broker *b)
{
	static const struct metrics_layer_fam fams[] = {
		{ "ringmq_proxy_headers_total",
		    "PROXY protocol headers read, by listener.",
		    offsetof(struct rmq_proxy_stats, headers) },
		{ "ringmq_proxy_refused_total",
		    "Connections closed for a missing or invalid PROXY protocol header, by listener.",
		    offsetof(struct rmq_proxy_stats, refused) },
	};
	struct rmq_proxy_stats st;
	metrics_layer(m, b, fams, sizeof(fams) / sizeof(fams[0]),
	    metrics_proxy_get, &st);
}

/* The publish-to-delivery histogram, in seconds as Prometheus wants. */
static void
metrics_latency(struct rmq_text *m, struct rmq_broker *b)
{
	const char *name = "ringmq_delivery_latency_seconds";
	metrics_head(m, name, "histogram",
	    "Time from the read that brought a PUBLISH in to the write that sends it to a subscriber.");
	uint64_t cum = 0;
	for (unsigned i = 0; i < RMQ_LAT_BUCKETS; i++) {
		cum += rmq_workers_sum(b,
		    ST(lat_bucket) + i * sizeof(rmq_counter));
		if (i < RMQ_LAT_BUCKETS - 1)
			rmq_text_printf(m, "%s_bucket{le=\"%g\"} %llu\n", name,
			    (double)rmq_lat_bounds_us[i] / 1e6,
			    (unsigned long long)cum);
		else
			rmq_text_printf(m, "%s_bucket{le=\"+Inf\"} %llu\n",
			    name, (unsigned long long)cum);
	}
	rmq_text_printf(m, "%s_sum %.6f\n", name,
	    (double)rmq_workers_sum(b, ST(lat_sum_us)) / 1e6);
	/* The count is the +Inf bucket, read once, so the two agree. */
	rmq_text_printf(m, "%s_count %llu\n", name, (unsigned long long)cum);
}

static void
metrics_process(struct rmq_text *m, struct rmq_broker *b)
{
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	double cpu = (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 +
	    (double)ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
	metrics_head(m, "process_cpu_seconds_total", "counter",
	    "Total user and system CPU time spent in seconds.");
	rmq_text_printf(m, "process_cpu_seconds_total %.3f\n", cpu);

	long rss_pages = 0;
	FILE *f = fopen("/proc/self/statm", "r");
	if (f) {
		long size;
		if (fscanf(f, "%ld %ld", &size, &rss_pages) != 2)
			rss_pages = 0;
		fclose(f);
	}
	metrics_head(m, "process_resident_memory_bytes", "gauge",
	    "Resident memory size in bytes.");
	rmq_text_printf(m, "process_resident_memory_bytes %ld\n",
	    rss_pages * sysconf(_SC_PAGESIZE));

	long fds = 0;
	DIR *d = opendir("/proc/self/fd");
	if (d) {
		while (readdir(d))
			fds++;
		closedir(d);
		fds -= 3; /* ".", ".." and the directory's own descriptor */
	}
	metrics_head(m, "process_open_fds", "gauge",
	    "Number of open file descriptors.");
	rmq_text_printf(m, "process_open_fds %ld\n", fds);
	struct rlimit rl;
	getrlimit(RLIMIT_NOFILE, &rl);
	metrics_head(m, "process_max_fds", "gauge",
	    "Maximum number of open file descriptors.");
	rmq_text_printf(m, "process_max_fds %llu\n",
	    (unsigned long long)rl.rlim_cur);
	metrics_head(m, "process_start_time_seconds", "gauge",
	    "Start time of the process since unix epoch in seconds.");
	rmq_text_printf(m, "process_start_time_seconds %.3f\n",
	    b->start_time_unix);
}

int
rmq_metrics_render(struct rmq_broker *b, char **out, size_t *len)
{
	struct rmq_text m = { 0 };

	metrics_head(&m, "ringmq_build_info", "gauge",
	    "RingMQ version and the event loop backend in use.");
	rmq_text_printf(&m, "ringmq_build_info{version=\"%s\",loop=\"%s\"} 1\n",
	    RMQ_VERSION, b->ops->name);

	metrics_head(&m, "ringmq_connections", "gauge",
	    "Network connections open now.");
	rmq_text_printf(&m, "ringmq_connections %u\n",
	    atomic_load(&b->connections));
	metrics_head(&m, "ringmq_connections_max", "gauge",
	    "Connections allowed at once: max_connections, or what the descriptor limit leaves room for when unset or higher.");
	rmq_text_printf(&m, "ringmq_connections_max %u\n",
	    atomic_load(&b->conn_limit));
	metrics_sum(&m, b, "ringmq_connects_total",
	    "Clients whose CONNECT was accepted.", ST(connects));
	metrics_sum(&m, b, "ringmq_disconnects_total",
	    "Connections of sessions that ended.", ST(disconnects));
	metrics_value(&m, "ringmq_connections_lingering", "gauge",
	    "Connections shut down after the broker's last packet, read and discarded until the client's end (at most 2 s).",
	    rmq_workers_sum(b, ST(lingering)));
	metrics_sum(&m, b, "ringmq_linger_total",
	    "Connections ended gracefully: shut down after the broker's last packet, then read to the client's end.",
	    ST(lingered));
	metrics_sum(&m, b, "ringmq_linger_timeouts_total",
	    "Lingering connections closed after 2 s rather than at the client's end.",
	    ST(linger_timeouts));
	metrics_sum(&m, b, "ringmq_linger_discarded_bytes_total",
	    "Bytes clients sent after the broker's last packet, read and discarded.",
	    ST(linger_discarded));
	metrics_by_reason(&m, b, "ringmq_connections_refused_total",
	    "CONNECTs refused with a CONNACK, and connections closed at accept over max_connections, by reason.",
	    ST(refused), metrics_refused_always);
	rmq_text_printf(&m,
	    "ringmq_connections_refused_total{reason=\"max_connections\"} "
	    "%llu\n",
	    (unsigned long long)rmq_workers_sum(b,
		ST(refused_max_connections)));
	metrics_by_reason(&m, b, "ringmq_protocol_errors_total",
	    "Connections closed for a packet against the protocol, by the reason code given.",
	    ST(protocol_errors), metrics_errors_always);
	metrics_sum(&m, b, "ringmq_auth_failures_total",
	    "Clients refused at authentication: bad user name or password, anonymous where it is not allowed, a method not offered.",
	    ST(auth_failures));
	metrics_value(&m, "ringmq_auth_delayed_total", "counter",
	    "Refused logins held back before their CONNACK: the source address had failed more than 3 times (failed_login_delay).",
	    rmq_guard_delayed(b->guard));
	metrics_sum(&m, b, "ringmq_acl_denied_total",
	    "What the ACL refused: PUBLISHes dropped, filters refused in a SUBACK, deliveries not made, wills refused at CONNECT.",
	    ST(acl_denied));

	static const char *const versions[] = { "3.1", "3.1.1", "5.0" };
	metrics_head(&m, "ringmq_clients_connected", "gauge",
	    "Clients connected now (CONNACK sent), by protocol version.");
	for (unsigned v = 0; v < 3; v++)
		rmq_text_printf(&m,
		    "ringmq_clients_connected{version=\"%s\"} %llu\n",
		    versions[v],
		    (unsigned long long)rmq_workers_sum(b,
			ST(clients) + v * sizeof(rmq_counter)));
	metrics_listeners(&m, b);
	metrics_tls(&m, b);
	if (b->cluster != NULL && b->cluster->metrics != NULL)
		b->cluster->metrics(b->cluster->ctx, metrics_put, &m);
	if (b->cluster != NULL) {
		metrics_sum(&m, b, "ringmq_cluster_suback_waits_total",
		    "SUBACKs held until every peer up had the subscription's route (cluster_subscribe_wait).",
		    ST(suback_waits));
		metrics_sum(&m, b, "ringmq_cluster_suback_wait_expired_total",
		    "SUBACKs sent at the cluster_subscribe_wait bound, before every peer up had the route.",
		    ST(suback_wait_expired));
		metrics_sum(&m, b, "ringmq_cluster_ack_waits_total",
		    "PUBACKs and PUBRECs held until every node the message went to had taken it (cluster_ack).",
		    ST(cluster_ack_waits));
		metrics_sum(&m, b, "ringmq_cluster_ack_refused_total",
		    "PUBACKs and PUBRECs with reason 0x97 under cluster_ack: a node's queue was full and the message did not go to it.",
		    ST(cluster_ack_refused));
	}
	metrics_ws(&m, b);
	metrics_proxy(&m, b);

	uint64_t sessions = rmq_workers_sum(b, RMQ_STAT(sessions));
	metrics_value(&m, "ringmq_sessions", "gauge",
	    "Sessions, connected or kept for a client that left.", sessions);
	metrics_value(&m, "ringmq_sessions_offline", "gauge",
	    "Sessions kept for clients that are not connected (sampled every 250 ms).",
	    rmq_workers_sum(b, ST(sessions_offline)));
	metrics_value(&m, "ringmq_sessions_persistent", "gauge",
	    "Sessions that outlive their connection (session expiry above 0), connected or not (sampled every 250 ms).",
	    rmq_workers_sum(b, ST(sessions_persistent)));
	metrics_head(&m, "ringmq_subscriptions", "gauge",
	    "Subscriptions in the index, shared group members included.");
	rmq_text_printf(&m, "ringmq_subscriptions %zu\n",
	    rmq_index_count(b->index));
	metrics_head(&m, "ringmq_retained_messages", "gauge",
	    "Retained messages stored.");
	rmq_text_printf(&m, "ringmq_retained_messages %zu\n",
	    rmq_retain_count(b->retain));

	metrics_labelled(&m, b, "ringmq_messages_received_total",
	    "PUBLISH packets received from clients, by QoS.", ST(msgs_in_qos),
	    "qos", metrics_qos_names);
	metrics_labelled(&m, b, "ringmq_messages_sent_total",
	    "PUBLISH packets sent to clients, by QoS.", ST(msgs_out_qos), "qos",
	    metrics_qos_names);
	metrics_labelled(&m, b, "ringmq_packets_received_total",
	    "MQTT packets received from clients, by type.", ST(pkts_in), "type",
	    metrics_packet_names);
	metrics_labelled(&m, b, "ringmq_packets_sent_total",
	    "MQTT packets sent to clients, by type.", ST(pkts_out), "type",
	    metrics_packet_names);
	metrics_sum(&m, b, "ringmq_received_bytes_total",
	    "Bytes received from clients.", ST(bytes_in));
	metrics_sum(&m, b, "ringmq_sent_bytes_total", "Bytes sent to clients.",
	    ST(bytes_out));

	metrics_sum(&m, b, "ringmq_retained_refused_total",
	    "Retained PUBLISHes not retained: past max_retained_messages or max_retained_bytes.",
	    ST(retained_refused));
	metrics_sum(&m, b, "ringmq_sessions_refused_total",
	    "CONNECTs refused because max_sessions sessions are kept.",
	    ST(sessions_refused));
	metrics_value(&m, "ringmq_retained_bytes", "gauge",
	    "The retained messages' sizes, summed.",
	    rmq_retain_bytes(b->retain));
	metrics_head(&m, "ringmq_publishes_refused_total", "counter",
	    "PUBLISHes refused from a client and sent nowhere, by reason (rate: past max_publish_rate; memory: over memory_limit).");
	rmq_text_printf(&m,
	    "ringmq_publishes_refused_total{reason=\"rate\"} %llu\n",
	    (unsigned long long)rmq_workers_sum(b, ST(publish_rate_refused)));
	rmq_text_printf(&m,
	    "ringmq_publishes_refused_total{reason=\"memory\"} %llu\n",
	    (unsigned long long)rmq_workers_sum(b, ST(mem_refused_publish)));

	metrics_store(&m, b);

	metrics_value(&m, "ringmq_memory_resident_bytes", "gauge",
	    "The broker's resident memory, as last sampled for memory_limit (every 250 ms).",
	    atomic_load(&b->mem_resident));
	metrics_value(&m, "ringmq_memory_limit_bytes", "gauge",
	    "memory_limit as it applies, in resident bytes; 0: none.",
	    atomic_load(&b->mem_limit));
	metrics_value(&m, "ringmq_memory_over_limit", "gauge",
	    "1 while the broker is over memory_limit and refuses new work.",
	    atomic_load(&b->mem_over));
	metrics_value(&m, "ringmq_memory_limit_reached_total", "counter",
	    "Times the broker went over memory_limit.",
	    atomic_load(&b->mem_over_total));
	metrics_head(&m, "ringmq_memory_refused_total", "counter",
	    "Work refused over memory_limit: CONNECTs, PUBLISHes, subscriptions.");
	rmq_text_printf(&m,
	    "ringmq_memory_refused_total{what=\"connect\"} %llu\n"
	    "ringmq_memory_refused_total{what=\"publish\"} %llu\n"
	    "ringmq_memory_refused_total{what=\"subscribe\"} %llu\n",
	    (unsigned long long)rmq_workers_sum(b, ST(mem_refused_connect)),
	    (unsigned long long)rmq_workers_sum(b, ST(mem_refused_publish)),
	    (unsigned long long)rmq_workers_sum(b, ST(mem_refused_subscribe)));
	metrics_sum(&m, b, "ringmq_subscriptions_refused_total",
	    "Subscriptions refused: the client held max_subscriptions already.",
	    ST(subscriptions_refused));

	metrics_head(&m, "ringmq_messages_dropped_total", "counter",
	    "Messages not delivered to a session, by reason (moved_twice: a copy of a message its session brought from another node when it moved).");
	for (size_t i = 0; i < RMQ_DROP_REASONS; i++) {
		uint64_t total = rmq_workers_sum(b, rmq_drop_reasons[i].at);
		rmq_text_printf(&m,
		    "ringmq_messages_dropped_total{reason=\"%s\"} %llu\n",
		    rmq_drop_reasons[i].why, (unsigned long long)total);
	}

	metrics_per_loop(&m, b, "ringmq_loop_turns_total", "counter",
	    "Event loop turns, per worker loop.", 1,
	    offsetof(struct rmq_loop, turns));
	metrics_per_loop(&m, b, "ringmq_loop_events_total", "counter",
	    "I/O completions handled, per worker loop.", 1,
	    offsetof(struct rmq_loop, events));
	metrics_per_loop(&m, b, "ringmq_loop_deferred_total", "counter",
	    "Costly work (TLS handshakes) put off to a later turn because the turn's budget was spent, per worker loop.",
	    1, offsetof(struct rmq_loop, deferred));
	metrics_head(&m, "ringmq_loop_connections", "gauge",
	    "Network connections open now, per worker loop.");
	for (unsigned i = 0; i < b->nworkers; i++)
		rmq_text_printf(&m, "ringmq_loop_connections{loop=\"%u\"} %u\n",
		    i,
		    (unsigned)atomic_load_explicit(&b->workers[i]->loop->nconns,
			memory_order_relaxed));
	metrics_per_loop(&m, b, "ringmq_loop_connections_passed_total",
	    "counter",
	    "New connections the kernel gave this loop that it passed to a less loaded one (connection_placement cpu).",
	    0, ST(accepts_passed));
	metrics_head(&m, "ringmq_loop_handoffs_total", "counter",
	    "Delivery batches for another loop, per sending loop: queued to its inbox, or delivered in place while it slept (lent).");
	for (unsigned i = 0; i < b->nworkers; i++) {
		const struct rmq_worker_stats *st = &b->workers[i]->st;
		rmq_text_printf(&m,
		    "ringmq_loop_handoffs_total{loop=\"%u\",path=\"queued\"} "
		    "%llu\n"
		    "ringmq_loop_handoffs_total{loop=\"%u\",path=\"lent\"} "
		    "%llu\n",
		    i,
		    (unsigned long long)rmq_counter_get(&st->handoffs_queued),
		    i, (unsigned long long)rmq_counter_get(&st->handoffs_lent));
	}
	metrics_head(&m, "ringmq_loop_allocated_bytes", "gauge",
	    "Bytes allocated from each worker loop's own allocator arena (jemalloc; absent without it).");
	int arenas = rmq_arena_refresh() == 0;
	for (unsigned i = 0; arenas && i < b->nworkers; i++) {
		int a =
		    __atomic_load_n(&b->workers[i]->arena, __ATOMIC_ACQUIRE);
		int64_t v = a > 0 ? rmq_arena_allocated((unsigned)a) : -1;
		if (v >= 0)
			rmq_text_printf(&m,
			    "ringmq_loop_allocated_bytes{loop=\"%u\"} %lld\n",
			    i, (long long)v);
	}
	metrics_per_loop(&m, b, "ringmq_queued_messages", "gauge",
	    "Messages waiting in sessions' queues, per worker loop (sampled every 250 ms).",
	    0, ST(queued));
	metrics_per_loop(&m, b, "ringmq_inflight_messages", "gauge",
	    "QoS 1/2 messages sent and not yet acknowledged, per worker loop (sampled every 250 ms).",
	    0, ST(inflight));
	metrics_latency(&m, b);

	metrics_process(&m, b);
	if (b->api)
		rmq_api_metrics(b->api, &m);
	if (m.failed) {
		free(m.p);
		return -ENOMEM;
	}
	*out = m.p;
	*len = m.len;
	return 0;
}
