/* cluster/bus.c: the node's membership over an NNG bus (bus.h).
 *
 * One bus socket listens on the cluster listener and dials every peer it
 * learns of (seeds, the addresses a DNS name has, the members others
 * list), so the bus is a full mesh and a hello sent once reaches every
 * member.  Both ends of a pair dial each other, so a pair has two pipes
 * and a message sent on the bus arrives twice: hellos are idempotent, and
 * what is sent later (index deltas) carries sequence numbers.  A dialer
 * that turns out to reach this node itself (a DNS name that lists it) is
 * closed and not dialled again.  NNG redials a lost peer by itself, from
 * 100 ms up to 1 s apart.
 *
 * The thread wakes at least every 50 ms: it sends a hello every sixth of
 * the peer timeout (with the members list after a change of membership,
 * and in one hello of LIST_EVERY otherwise), reads what came,
 * marks silent members down, and dials what the DNS name's resolver
 * (resolve.h, a thread of its own) last answered.
 */
#include "bus.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <nng/nng.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ask.h"
#include "channel.h"
#include "claims.h"
#include "cluster.h"
#include "emit.h"
#include "hash.h"
#include "index.h"
#include "members.h"
#include "msg.h"
#include "resolve.h"
#include "retained.h"
#include "routes.h"
#include "sock.h"
#include "text.h"
#include "wire.h"

#include <urcu-qsbr.h>

#define DIALS_MAX 512
#define LIST_EVERY 16 /* hellos: 4 s at the default peer timeout */
#define LOG_ERROR 0
#define LOG_WARNING 1
#define LOG_NOTICE 2
#define LOG_INFO 3
#define LOG_DEBUG 4

struct dial {
	char url[RMQ_NODE_URL_MAX];
	nng_dialer d;
	uint64_t at_ms; /* when first dialled */
	uint8_t given; /* by the seeds or the DNS name (not a member's) */
	uint8_t self; /* it reached this node: closed, never again */
};

struct rmq_cluster_node {
	struct rmq_broker *b;
	struct rmq_cluster_conf conf;
	struct rmq_cluster_hooks hooks;
	nng_socket sock;
	uint16_t port; /* bound */
	int open, started;
	int wedged; /* sockets NNG did not close in time (node_stop) */
	atomic_int live; /* the bus is open: deltas may be sent */
	uint64_t started_ms; /* when the bus opened */
	pthread_t thread;
	atomic_int stop;
	/* The thread's wait for a hello: cut short by a new pipe (a hello
	 * goes to it at once) and ended for good by a stop. */
	nng_aio *wait;
	atomic_int hello_now;
	int members_moved; /* the bus thread's: the list goes in the next hello */
	struct rmq_nng_tls *tls; /* NULL: plain TCP between nodes */
	pthread_mutex_t mu; /* guards members, peers and the counters below */
	struct rmq_members members;
	uint64_t hellos_read, bad_messages;
	_Atomic uint64_t hellos_sent, send_failures; /* the bus thread's */
	_Atomic uint64_t bus_sent_bytes, bus_received_bytes;
	uint64_t snapshots_sent, snapshots_asked;
	/* The routes of each member, by its number - 1, as this node's
	 * index holds them; with when a snapshot was last asked of it and
	 * since when its hellos say it is ahead of what was applied. */
	struct rmq_peer_routes peers[RMQ_MEMBERS_MAX];
	uint64_t asked_ms[RMQ_MEMBERS_MAX], behind_ms[RMQ_MEMBERS_MAX];
	uint64_t part_ms[RMQ_MEMBERS_MAX]; /* its last snapshot part came */
	struct rmq_routes_index ix;
	struct rmq_channel *ch; /* forwarded messages (channel.h) */
	/* Client identifiers (claims.h): this node's claims waiting for
	 * answers, and the answers it gave. */
	pthread_mutex_t cmu;
	struct rmq_claims claims;
	/* Moves under way (claims.h): sessions come here waiting for their
	 * tails, and stubs here waiting to send theirs. */
	struct rmq_moves moves_in, stubs;
	struct rmq_asks asks; /* the admin API's questions (ask.h), cmu */
	_Atomic uint64_t releases[3], answers_dropped, image_bytes;
	_Atomic uint64_t tail_bytes;
	/* Identifiers told to peers met (again), and sessions ended here
	 * because a peer held a newer connection of theirs. */
	_Atomic uint64_t ids_sent, duplicates_ended;
	atomic_int moves_now; /* a move waits: the bus thread looks soon */
	/* Readiness (node_ready): the addresses dialled all met, or given
	 * their time (the bus thread's view); ready once already. */
	atomic_int dials_settled, was_ready;
	atomic_int leaving; /* peers told it leaves (rmq_cluster_node_leave) */
	/* Retained messages (retained.h): deletes remembered, counts. */
	pthread_mutex_t tmu;
	struct rmq_tombs tombs;
	_Atomic uint64_t retained_sent, retained_applied, retained_older,
	    retained_refused;
	/* This node's routes, changed by the workers' hook (cluster.h). */
	pthread_mutex_t rmu;
	struct rmq_local_routes local;
	uint64_t deltas_sent, deltas_dropped;
	unsigned ndials;
	struct dial dials[DIALS_MAX];
	/* The DNS name's lookups (resolve.h): NULL without cluster_dns; an
	 * answer taken once (the bus thread's); its last answer. */
	struct rmq_resolver *dns;
	int dns_answered;
	char dns_urls[RMQ_RESOLVE_MAX][RMQ_NODE_URL_MAX];
	struct rmq_hello hello; /* scratch: the one read */
	struct rmq_hello mine; /* scratch: the one sent */
	uint8_t buf[RMQ_HELLO_MAX];
};

/* ---- metrics (the admin server's thread) ---- */

/* Whether every address the seeds and the DNS name gave was met (a
 * member there, or this node) or has been dialled for a peer timeout (the
 * bus thread, mu held). */
static int
dials_settled(struct rmq_cluster_node *n, uint64_t now)
{
	if (n->dns != NULL && !n->dns_answered)
		return 0; /* the DNS name's addresses are not known yet */
	for (unsigned i = 0; i < n->ndials; i++) {
		const struct dial *d = &n->dials[i];
		if (!d->given || d->self ||
		    now - d->at_ms >= n->members.timeout_ms)
			continue;
		int met = 0;
		for (unsigned k = 0; !met && k < n->members.n; k++)
			met = strcmp(n->members.m[k].url, d->url) == 0;
		if (!met)
			return 0;
	}
	return 1;
}

/* cluster.h's ready: every member up has its routes installed; a node
 * that has met no one waits a peer timeout for its seeds first.  Until it
 * is first ready, it also waits for every address its seeds and DNS name
 * gave (each a peer timeout at most, once the DNS name's first lookup
 * ended): a pod of a StatefulSet that took
 * clients having met one of its peers would route their publishes to that
 * one's subscribers alone.  After, a pod appearing in the DNS name does
 * not make it unready. */
static int
node_ready(void *ctx)
{
	struct rmq_cluster_node *n = ctx;
	int ready = 1;
	pthread_mutex_lock(&n->mu);
	const struct rmq_members *t = &n->members;
	if (!atomic_load(&n->live) ||
	    (t->n == 0 &&
		rmq_cluster_now_ms() - n->started_ms < t->timeout_ms) ||
	    (!atomic_load(&n->was_ready) && !atomic_load(&n->dials_settled)))
		ready = 0;
	for (unsigned i = 0; ready && i < t->n; i++) {
		const struct rmq_peer_routes *pr =
		    &n->peers[t->m[i].number - 1];
		if (t->m[i].state == RMQ_MEMBER_UP &&
		    (!pr->synced || pr->epoch != t->m[i].epoch))
			ready = 0;
	}
	pthread_mutex_unlock(&n->mu);
	if (ready)
		atomic_store(&n->was_ready, 1);
	return ready;
}

static const char *const member_states[] = { "unknown", "up", "down" };

/* cluster.h's status: the members as this node sees them, for the admin
 * API (the admin server's thread). */
static void
node_status(void *ctx, rmq_put_fn put, void *arg)
{
	struct rmq_cluster_node *n = ctx;
	struct rmq_text t = { 0 };
	int ready = node_ready(n);
	pthread_mutex_lock(&n->rmu);
	uint64_t seq = n->local.seq;
	size_t routes = n->local.filters.live;
	pthread_mutex_unlock(&n->rmu);
	pthread_mutex_lock(&n->mu);
	const struct rmq_members *ms = &n->members;
	RMQ_TEXT_LIT(&t, "{\"node\":");
	rmq_text_json_str(&t, ms->self, strlen(ms->self));
	rmq_text_printf(&t,
	    ",\"epoch\":%llu,\"ready\":%s,\"leaving\":%s,\"routes\":%zu,"
	    "\"route_changes\":%llu,\"peers\":[",
	    (unsigned long long)ms->epoch, ready ? "true" : "false",
	    atomic_load(&n->leaving) ? "true" : "false", routes,
	    (unsigned long long)seq);
	for (unsigned i = 0; i < ms->n; i++) {
		const struct rmq_member *m = &ms->m[i];
		const struct rmq_peer_routes *pr = &n->peers[m->number - 1];
		uint64_t applied = rmq_channel_peer_applied(n->ch, m->number);
		if (i)
			RMQ_TEXT_LIT(&t, ",");
		RMQ_TEXT_LIT(&t, "{\"name\":");
		rmq_text_json_str(&t, m->name, strlen(m->name));
		RMQ_TEXT_LIT(&t, ",\"url\":");
		rmq_text_json_str(&t, m->url, strlen(m->url));
		rmq_text_printf(&t,
		    ",\"state\":\"%s\",\"left\":%s,\"epoch\":%llu,"
		    "\"routes\":%zu,\"synced\":%s,\"queued_bytes\":%llu,"
		    "\"route_changes_unapplied\":%llu}",
		    member_states[m->state < 3 ? m->state : 0],
		    m->bye ? "true" : "false", (unsigned long long)m->epoch,
		    pr->filters.t ? pr->filters.live : 0,
		    pr->synced && pr->epoch == m->epoch ? "true" : "false",
		    (unsigned long long)rmq_channel_peer_queued(n->ch,
			m->number),
		    (unsigned long long)(m->state == RMQ_MEMBER_UP &&
				seq > applied
			    ? seq - applied
			    : 0));
	}
	pthread_mutex_unlock(&n->mu);
	RMQ_TEXT_LIT(&t, "]}");
	if (!t.failed)
		put(arg, t.p, t.len);
	rmq_text_free(&t);
}

static void
node_metrics(void *ctx, rmq_put_fn put, void *arg)
{
	struct rmq_cluster_node *n = ctx;
	rmq_emit_one(put, arg, "ringmq_cluster_ready", "gauge",
	    "1 once this node holds the cluster's index (every peer up has its routes installed); /readyz waits for it.",
	    (uint64_t)node_ready(n));
	pthread_mutex_lock(&n->mu);
	struct rmq_members *t = &n->members;
	unsigned up = rmq_members_up(t);
	uint64_t applied = 0, gaps = 0, installed = 0;
	rmq_emit_head(put, arg, "ringmq_cluster_peers", "gauge",
	    "Peers this node knows, by state (up: heard within cluster_peer_timeout).");
	rmq_emit(put, arg,
	    "ringmq_cluster_peers{state=\"up\"} %u\n"
	    "ringmq_cluster_peers{state=\"down\"} %u\n",
	    up, t->n - up);
	rmq_emit_head(put, arg, "ringmq_cluster_peer_up", "gauge",
	    "Whether a peer is up (1) or down (0), by its node name.");
	for (unsigned i = 0; i < t->n; i++)
		rmq_emit(put, arg, "ringmq_cluster_peer_up{peer=\"%s\"} %d\n",
		    t->m[i].name, t->m[i].state == RMQ_MEMBER_UP);
	rmq_emit_head(put, arg, "ringmq_cluster_routes", "gauge",
	    "Routes (filters with subscribers) this node holds for a peer, by peer.");
	for (unsigned i = 0; i < t->n; i++) {
		const struct rmq_peer_routes *pr =
		    &n->peers[t->m[i].number - 1];
		rmq_emit(put, arg, "ringmq_cluster_routes{peer=\"%s\"} %zu\n",
		    t->m[i].name, pr->filters.t ? pr->filters.live : 0);
		applied += pr->deltas;
		gaps += pr->gaps;
		installed += pr->snapshots;
	}
	struct rmq_resolver_stats dns;
	rmq_resolver_stats(n->dns, &dns); /* a stop takes it under mu */
	const struct {
		const char *name, *type, *help;
		uint64_t v;
	} one[] = {
		{ "ringmq_cluster_joins_total", "counter",
		    "Peers that came up: new, or back after being down.",
		    t->joins },
		{ "ringmq_cluster_departures_total", "counter",
		    "Peers that went down: silent past cluster_peer_timeout.",
		    t->departures },
		{ "ringmq_cluster_restarts_total", "counter",
		    "Peers heard with a new epoch while up: restarted between two hellos.",
		    t->restarts },
		{ "ringmq_cluster_hellos_sent_total", "counter",
		    "Hellos sent on the cluster bus.",
		    atomic_load(&n->hellos_sent) },
		{ "ringmq_cluster_hellos_received_total", "counter",
		    "Hellos read from peers (each pair of nodes has two pipes, so each hello comes twice).",
		    n->hellos_read },
		{ "ringmq_cluster_bus_sent_bytes_total", "counter",
		    "Bytes of hellos put on the cluster bus (the bus sends each to every peer).",
		    atomic_load(&n->bus_sent_bytes) },
		{ "ringmq_cluster_bus_received_bytes_total", "counter",
		    "Bytes read from the cluster bus.",
		    atomic_load(&n->bus_received_bytes) },
		{ "ringmq_cluster_bus_send_failures_total", "counter",
		    "Hellos the cluster bus refused (its send queue full): not sent.",
		    atomic_load(&n->send_failures) },
		{ "ringmq_cluster_dns_lookups_total", "counter",
		    "Lookups of cluster_dns ended, on the resolver's own thread.",
		    dns.lookups },
		{ "ringmq_cluster_dns_failures_total", "counter",
		    "Lookups of cluster_dns that failed (no answer in the resolver's timeouts, or no such name).",
		    dns.failures },
		{ "ringmq_cluster_route_deltas_applied_total", "counter",
		    "Route changes of peers applied to this node's index, in order.",
		    applied },
		{ "ringmq_cluster_route_gaps_total", "counter",
		    "Route changes of peers that came after a missing one (a snapshot was asked).",
		    gaps },
		{ "ringmq_cluster_snapshots_installed_total", "counter",
		    "Peers' route snapshots installed in this node's index.",
		    installed },
		{ "ringmq_cluster_snapshots_asked_total", "counter",
		    "Route snapshots this node asked of peers.",
		    n->snapshots_asked },
		{ "ringmq_cluster_snapshots_sent_total", "counter",
		    "Snapshots of this node's routes sent to peers that asked.",
		    n->snapshots_sent },
		{ "ringmq_cluster_bad_messages_total", "counter",
		    "Messages on the cluster bus that were not understood, dropped.",
		    n->bad_messages },
	};
	pthread_mutex_unlock(&n->mu);
	for (size_t i = 0; i < sizeof(one) / sizeof(one[0]); i++)
		rmq_emit_one(put, arg, one[i].name, one[i].type, one[i].help,
		    one[i].v);
	rmq_emit_head(put, arg, "ringmq_cluster_dns_lookup_seconds", "gauge",
	    "How long the lookup of cluster_dns under way has taken, or else the last one took.");
	rmq_emit(put, arg, "ringmq_cluster_dns_lookup_seconds %.3f\n",
	    (double)(dns.running_us ? dns.running_us : dns.last_us) / 1e6);
	pthread_mutex_lock(&n->rmu);
	size_t local = n->local.filters.live;
	uint64_t sent = n->deltas_sent, dropped = n->deltas_dropped;
	pthread_mutex_unlock(&n->rmu);
	rmq_emit_one(put, arg, "ringmq_cluster_local_routes", "gauge",
	    "This node's routes: filters its sessions subscribe to (shared ones aside).",
	    local);
	rmq_emit_one(put, arg, "ringmq_cluster_route_deltas_sent_total",
	    "counter",
	    "Changes of this node's routes sent to its peers (on their control streams).",
	    sent);
	rmq_emit_one(put, arg, "ringmq_cluster_route_deltas_dropped_total",
	    "counter",
	    "Changes of this node's routes a peer's control stream had no room for (at its bound); that peer repairs them from a snapshot.",
	    dropped);
	pthread_mutex_lock(&n->tmu);
	size_t tombs = n->tombs.map.live;
	pthread_mutex_unlock(&n->tmu);
	const struct {
		const char *name, *type, *help;
		uint64_t v;
	} ret[] = {
		{ "ringmq_cluster_retained_sent_total", "counter",
		    "Retained messages published here (sets and deletes) sent to the peers.",
		    atomic_load(&n->retained_sent) },
		{ "ringmq_cluster_retained_applied_total", "counter",
		    "Retained messages from peers applied to this node's store (newer than what it held).",
		    atomic_load(&n->retained_applied) },
		{ "ringmq_cluster_retained_older_total", "counter",
		    "Retained messages from peers not applied: the store held a newer one, or a newer delete was remembered.",
		    atomic_load(&n->retained_older) },
		{ "ringmq_cluster_retained_refused_total", "counter",
		    "Retained messages from peers refused by this node's bounds (max_retained, max_retained_bytes).",
		    atomic_load(&n->retained_refused) },
		{ "ringmq_cluster_retained_deletes_remembered", "gauge",
		    "Deletes of retained messages remembered (for a minute) to refuse older sets arriving late.",
		    tombs },
	};
	for (size_t i = 0; i < sizeof(ret) / sizeof(ret[0]); i++)
		rmq_emit_one(put, arg, ret[i].name, ret[i].type, ret[i].help,
		    ret[i].v);
	pthread_mutex_lock(&n->cmu);
	struct rmq_claims c = n->claims;
	struct rmq_moves in = n->moves_in, stubs = n->stubs;
	uint64_t asks_refused = n->asks.refused;
	pthread_mutex_unlock(&n->cmu);
	rmq_emit_head(put, arg, "ringmq_cluster_moves", "gauge",
	    "Sessions moving between nodes now: in (come here, holding what arrives until the old node's tail is in), stub (left from here, collecting what still comes until the new node's cut).");
	rmq_emit(put, arg,
	    "ringmq_cluster_moves{side=\"in\"} %u\n"
	    "ringmq_cluster_moves{side=\"stub\"} %u\n",
	    in.n, stubs.n);
	rmq_emit_head(put, arg, "ringmq_cluster_moves_total", "counter",
	    "Session moves ended, by side and result: done (the tail went or came), given_up (the other node went down or was silent past four peer timeouts: what was held goes out without the tail, or the stub's messages are dropped).");
	rmq_emit(put, arg,
	    "ringmq_cluster_moves_total{side=\"in\",result=\"done\"} %llu\n"
	    "ringmq_cluster_moves_total{side=\"in\",result=\"given_up\"} %llu\n"
	    "ringmq_cluster_moves_total{side=\"stub\",result=\"done\"} %llu\n"
	    "ringmq_cluster_moves_total{side=\"stub\",result=\"given_up\"} %llu\n",
	    (unsigned long long)in.done, (unsigned long long)in.given_up,
	    (unsigned long long)stubs.done, (unsigned long long)stubs.given_up);
	rmq_emit_one(put, arg, "ringmq_cluster_tail_bytes_total", "counter",
	    "Bytes of stubs' tails (messages that came for a session after its state left) sent to the nodes it moved to.",
	    atomic_load(&n->tail_bytes));
	rmq_emit_head(put, arg, "ringmq_cluster_claims_total", "counter",
	    "Claims of client identifiers this node made for its CONNECTs, by how they were settled: moved (the session's state came), none (no state came: no peer had it, or it started clean), lost (a newer connection of the identifier was on a peer: the CONNECT refused), timed_out (a peer asked did not answer within cluster_peer_timeout).");
	rmq_emit(put, arg,
	    "ringmq_cluster_claims_total{result=\"moved\"} %llu\n"
	    "ringmq_cluster_claims_total{result=\"none\"} %llu\n"
	    "ringmq_cluster_claims_total{result=\"lost\"} %llu\n"
	    "ringmq_cluster_claims_total{result=\"timed_out\"} %llu\n",
	    (unsigned long long)c.moved, (unsigned long long)c.settled_none,
	    (unsigned long long)c.lost, (unsigned long long)c.timed_out);
	rmq_emit_head(put, arg, "ringmq_cluster_releases_total", "counter",
	    "Peers' claims of client identifiers this node answered, by answer: none (no session here), ended (the session here ended, its state sent when asked), newer (the connection here is newer: the claim lost).");
	rmq_emit(put, arg,
	    "ringmq_cluster_releases_total{result=\"none\"} %llu\n"
	    "ringmq_cluster_releases_total{result=\"ended\"} %llu\n"
	    "ringmq_cluster_releases_total{result=\"newer\"} %llu\n",
	    (unsigned long long)atomic_load(&n->releases[0]),
	    (unsigned long long)atomic_load(&n->releases[1]),
	    (unsigned long long)atomic_load(&n->releases[2]));
	const struct {
		const char *name, *type, *help;
		uint64_t v;
	} cl[] = {
		{ "ringmq_cluster_claims_waiting", "gauge",
		    "Claims of this node waiting for peers' answers.", c.live },
		{ "ringmq_cluster_claims_refused_total", "counter",
		    "CONNECTs refused (0x89) because 65536 claims already waited for answers.",
		    c.refused },
		{ "ringmq_cluster_admin_asks_refused_total", "counter",
		    "Admin API questions asked of no peer (answered for this node only) because 64 already waited for peers' answers.",
		    asks_refused },
		{ "ringmq_cluster_claim_answers_late_total", "counter",
		    "Answers to claims that were settled already (past their wait, or the peer was taken for down).",
		    c.answers_late },
		{ "ringmq_cluster_session_image_bytes_total", "counter",
		    "Bytes of session state this node sent to peers that took its clients' identifiers over.",
		    atomic_load(&n->image_bytes) },
		{ "ringmq_cluster_identifiers_sent_total", "counter",
		    "Client identifiers held here told to peers met or met again (connections claimed in the cluster only), so that one held on both sides ends on one.",
		    atomic_load(&n->ids_sent) },
		{ "ringmq_cluster_duplicates_ended_total", "counter",
		    "Sessions ended here (0x8E) because a peer met again held a newer connection of their identifier: after a partition or a restart.",
		    atomic_load(&n->duplicates_ended) },
		{ "ringmq_cluster_claim_answers_dropped_total", "counter",
		    "Answers to peers' claims that found no room on the control stream to the peer (cluster_forward_queue); that peer's client starts without the state.",
		    atomic_load(&n->answers_dropped) },
	};
	for (size_t i = 0; i < sizeof(cl) / sizeof(cl[0]); i++)
		rmq_emit_one(put, arg, cl[i].name, cl[i].type, cl[i].help,
		    cl[i].v);
	rmq_channel_metrics(n->ch, put, arg);
}

/* ---- dialing ---- */

static struct dial *
dial_find(struct rmq_cluster_node *n, const char *url)
{
	for (unsigned i = 0; i < n->ndials; i++)
		if (strcmp(n->dials[i].url, url) == 0)
			return &n->dials[i];
	return NULL;
}

/* Dial url unless it is dialled already or known to be this node; given:
 * by the seeds or the DNS name (readiness waits for those). */
static void
dial(struct rmq_cluster_node *n, const char *url, int given)
{
	struct dial *d = dial_find(n, url);
	if (d != NULL && given && !d->given) {
		d->given = 1;
		d->at_ms = rmq_cluster_now_ms();
	}
	if (d != NULL || n->ndials == DIALS_MAX)
		return;
	d = &n->dials[n->ndials];
	snprintf(d->url, sizeof(d->url), "%s", url);
	d->self = 0;
	d->given = (uint8_t)given;
	d->at_ms = rmq_cluster_now_ms();
	int rv = rmq_nng_dial(n->sock, url, &d->d, n->tls);
	if (rv != 0) {
		rmq_cluster_log(LOG_WARNING, "cannot dial %s: %s", url,
		    nng_strerror(rv));
		return;
	}
	n->ndials++;
	rmq_cluster_log(LOG_INFO, "dialing %s%s", n->tls ? "tls+" : "", url);
}

/* HOST:PORT into tcp://HOST:PORT (brackets kept for IPv6). */
static void
url_of(char *out, size_t len, const char *hostport)
{
	snprintf(out, len, "tcp://%s", hostport);
}

static void
dial_list(struct rmq_cluster_node *n, const char *list)
{
	char copy[sizeof(n->conf.seeds)], *save = NULL, url[RMQ_NODE_URL_MAX];
	snprintf(copy, sizeof(copy), "%s", list);
	for (char *t = strtok_r(copy, ", ", &save); t;
	     t = strtok_r(NULL, ", ", &save)) {
		url_of(url, sizeof(url), t);
		dial(n, url, 1);
	}
}

/* Every address the DNS name had at its last lookup, at its port (a
 * Kubernetes headless Service lists one per pod, ready or not). */
static void
dial_dns(struct rmq_cluster_node *n)
{
	unsigned k = 0;
	char err[128];
	if (!rmq_resolver_take(n->dns, n->dns_urls, RMQ_RESOLVE_MAX, &k, err,
		sizeof(err)))
		return;
	n->dns_answered = 1;
	if (err[0])
		rmq_cluster_log(LOG_INFO, "cluster_dns %s: %s", n->conf.dns,
		    err);
	for (unsigned i = 0; i < k; i++)
		dial(n, n->dns_urls[i], 1);
}

/* The resolver's thread: an answer came; the bus thread dials it now. */
static void
dns_answered(void *arg)
{
	struct rmq_cluster_node *n = arg;
	nng_aio_cancel(n->wait);
}

/* ---- routes (routes.h) ---- */

/* Between two writes of the index, every so often: a quiescent state of
 * the writing thread (online for a whole snapshot install, seconds at a
 * million routes).  The index's hash tables grow only after a grace
 * period; without one they stayed at their first size while a snapshot
 * went in, and lookups walked chains thousands long (measured: 79% of a
 * joiner's time in cds_lfht_lookup).  No reference into the index is
 * held between two writes. */
static void
ix_breathe(void)
{
	static __thread unsigned ops;
	if ((++ops & 255) == 0)
		rcu_quiescent_state();
}

static void
ix_add(void *arg, uint32_t node, const char *f, size_t len, uint8_t qos)
{
	struct rmq_cluster_node *n = arg;
	ix_breathe();
	struct rmq_sub sub = {
		.owner = RMQ_CLUSTER_OWNER(node),
		.qos = qos,
		.flags = RMQ_SUB_REMOTE,
		.version = 5,
	};
	(void)rmq_index_add(rmq_cluster_index(n->b), f, len, &sub);
}

static void
ix_remove(void *arg, uint32_t node, const char *f, size_t len)
{
	struct rmq_cluster_node *n = arg;
	ix_breathe();
	(void)rmq_index_remove(rmq_cluster_index(n->b), f, len,
	    RMQ_CLUSTER_OWNER(node));
}

/* The workers' hook (cluster.h): a change of this node's routes goes to
 * every peer up, on the channel's control streams (reliable and in
 * order), without blocking, tagged with its number.  A turn's changes
 * cross as one batch per peer, sealed by the turn's flush (measured: a
 * million subscriptions made on three nodes were in every index 7.5-8.5 s
 * after the first, against 190-200 s with a message per change).  The
 * token returned for a subscription is the number of the last change
 * made: once every peer has applied that, the route is in every index. */
static uint64_t
node_filter(void *ctx, const char *filter, size_t len, int old_qos, int new_qos)
{
	struct rmq_cluster_node *n = ctx;
	enum rmq_route_op op;
	uint8_t qos;
	pthread_mutex_lock(&n->rmu);
	int rc = rmq_local_routes_change(&n->local, filter, len, old_qos,
	    new_qos, &op, &qos);
	if (rc == 1 && atomic_load(&n->live)) {
		uint8_t small[512], *buf = small;
		size_t cap = RMQ_NODE_NAME_MAX + 32 + len, k = 0;
		if (cap > sizeof(small))
			buf = malloc(cap);
		if (buf != NULL)
			k = rmq_delta_encode(buf, cap, n->members.self,
			    n->members.epoch, n->local.seq, op, qos, filter,
			    len);
		if (k &&
		    rmq_channel_control_defer(n->ch, buf, k, n->local.seq) == 0)
			n->deltas_sent++;
		else
			n->deltas_dropped++;
		if (buf != small)
			free(buf);
	}
	uint64_t token = new_qos >= 0 ? n->local.seq : 0;
	pthread_mutex_unlock(&n->rmu);
	return token;
}

static uint64_t
node_applied(void *ctx)
{
	struct rmq_cluster_node *n = ctx;
	return rmq_channel_applied(n->ch);
}

/* ---- retained messages (retained.h) ---- */

/* A change's record: head, then the message (malloc'd; NULL when out of
 * memory or expired). */
static uint8_t *
retained_record(const char *self, const struct rmq_msg *m, size_t *len)
{
	size_t mlen = rmq_cluster_msg_size(m);
	uint8_t head[RMQ_NODE_NAME_MAX + 16];
	size_t h = rmq_retained_head_encode(head, sizeof(head), self, m->stamp);
	uint8_t *buf = mlen && h ? malloc(h + mlen) : NULL;
	if (buf == NULL)
		return NULL;
	memcpy(buf, head, h);
	rmq_cluster_msg_encode(m, buf + h);
	*len = h + mlen;
	return buf;
}

/* The workers' hook (cluster.h): a retained message published here goes
 * to every peer up; a delete is remembered. */
static void
node_retain(void *ctx, unsigned worker, struct rmq_msg *m)
{
	struct rmq_cluster_node *n = ctx;
	(void)worker;
	if (m->payload.len == 0) {
		pthread_mutex_lock(&n->tmu);
		rmq_tombs_put(&n->tombs, m->topic.p, m->topic.len, m->stamp);
		pthread_mutex_unlock(&n->tmu);
	}
	size_t len;
	uint8_t *rec = retained_record(n->members.self, m, &len);
	if (rec != NULL && atomic_load(&n->live) &&
	    rmq_channel_control(n->ch, 0, rec, len) == 0)
		atomic_fetch_add(&n->retained_sent, 1);
	free(rec);
}

/* A peer's retained change, on the channel's thread: applied when newer
 * than what the store holds and than a delete remembered. */
static void
read_retained(struct rmq_cluster_node *n, uint32_t number, const uint8_t *p,
    size_t len)
{
	struct rmq_retained_change c;
	struct rmq_msg *m = NULL;
	const char *why = NULL;
	if (rmq_retained_decode(p, len, &c) != 0 ||
	    rmq_cluster_msg_decode(c.msg, c.msg_len, RMQ_CLUSTER_OWNER(number),
		rmq_cluster_now_ms(), &m, &why) == -EINVAL) {
		n->bad_messages++;
		return;
	}
	if (m == NULL)
		return; /* expired on the way, or no memory */
	m->stamp = c.stamp;
	m->retain = 1;
	pthread_mutex_lock(&n->tmu);
	int refused = 0;
	if (m->payload.len == 0)
		rmq_tombs_put(&n->tombs, m->topic.p, m->topic.len, m->stamp);
	else
		refused = rmq_tombs_refuse(&n->tombs, m->topic.p, m->topic.len,
		    m->stamp);
	pthread_mutex_unlock(&n->tmu);
	int rc = refused ? 1 : rmq_cluster_retain_apply(n->b, m);
	if (rc == 0)
		atomic_fetch_add(&n->retained_applied, 1);
	else if (rc == 1)
		atomic_fetch_add(&n->retained_older, 1);
	else
		atomic_fetch_add(&n->retained_refused, 1);
	rmq_msg_rele(m);
}

/* Every retained message of this node to one peer (that asked for a
 * snapshot), in batches of up to 256 records. */
struct retained_out {
	struct rmq_cluster_node *n;
	uint32_t number;
	unsigned k;
	uint8_t *rec[256];
	size_t len[256];
	size_t sent;
};

static void
retained_flush(struct retained_out *o)
{
	if (o->k &&
	    rmq_channel_control_n(o->n->ch, o->number,
		(const uint8_t *const *)o->rec, o->len, o->k) == 0)
		o->sent += o->k;
	for (unsigned i = 0; i < o->k; i++)
		free(o->rec[i]);
	o->k = 0;
}

static void
retained_one(void *arg, struct rmq_msg *m)
{
	struct retained_out *o = arg;
	o->rec[o->k] = retained_record(o->n->members.self, m, &o->len[o->k]);
	if (o->rec[o->k] != NULL && ++o->k == 256)
		retained_flush(o);
}

static size_t
send_retained(struct rmq_cluster_node *n, uint32_t number)
{
	struct retained_out *o = calloc(1, sizeof(*o));
	if (o == NULL)
		return 0;
	o->n = n;
	o->number = number;
	(void)rmq_cluster_retained_each(n->b, retained_one, o);
	retained_flush(o);
	size_t sent = o->sent;
	free(o);
	return sent;
}

/* ---- client identifiers (claims.h) ---- */

/* A control record not understood, read without the members' lock. */
static void
bad_message(struct rmq_cluster_node *n)
{
	pthread_mutex_lock(&n->mu);
	n->bad_messages++;
	pthread_mutex_unlock(&n->mu);
}

/* How long a move may take before its ends give it up: the new node's
 * routes reach every peer up (a peer slower than the timeout is down),
 * then a cut and a tail cross. */
static uint64_t
move_deadline(const struct rmq_cluster_node *n)
{
	return rmq_cluster_now_ms() + 4ull * n->members.timeout_ms;
}

/* Claims settled (cmu held): an image that came starts a move whose
 * tail this node will ask for. */
static void
claim_settled(void *arg, uint64_t id, uint64_t key, int lost, uint8_t *image,
    size_t len, uint32_t from)
{
	struct rmq_cluster_node *n = arg;
	uint64_t move = 0;
	if (image != NULL) {
		struct rmq_move m = { .claim = id,
			.peer = from,
			.key = key,
			.deadline_ms = move_deadline(n) };
		if (rmq_moves_add(&n->moves_in, &m) == 0)
			move = id;
	}
	rmq_cluster_claimed(n->b, key, lost, image, len, move);
}

/* The workers' hook (cluster.h): the session read the image; its route
 * changes are the node's up to now. */
static void
node_moved_in(void *ctx, unsigned worker, uint64_t key, uint64_t move)
{
	struct rmq_cluster_node *n = ctx;
	(void)worker;
	pthread_mutex_lock(&n->rmu);
	uint64_t token = n->local.seq;
	pthread_mutex_unlock(&n->rmu);
	pthread_mutex_lock(&n->cmu);
	for (uint32_t i = 0; i < n->moves_in.n; i++) {
		struct rmq_move *m = &n->moves_in.m[i];
		if (m->claim == move && m->key == key) {
			m->token = token ? token : 1;
			rmq_cluster_log(LOG_DEBUG,
			    "move %llx: image read, waiting for route %llu",
			    (unsigned long long)move,
			    (unsigned long long)m->token);
		}
	}
	pthread_mutex_unlock(&n->cmu);
	/* The bus thread may be in a long wait: it looks now, and every
	 * few milliseconds while moves wait. */
	atomic_store(&n->moves_now, 1);
	nng_aio_cancel(n->wait);
}

/* The hook: a message's node as a number unique in the cluster. */
static uint64_t
node_origin_uid(void *ctx, uint64_t origin)
{
	struct rmq_cluster_node *n = ctx;
	uint32_t number = origin >> 63 ? (uint32_t)origin : 0;
	return rmq_channel_uid(n->ch, number);
}

/* A stub's tail, to the node that sent the cut. */
struct tail_to {
	struct rmq_cluster_node *n;
	uint32_t number;
	uint64_t claim;
};

static void
tail_send(void *arg, uint8_t *tail, size_t len)
{
	struct tail_to *t = arg;
	struct rmq_cluster_node *n = t->n;
	uint8_t head[RMQ_NODE_NAME_MAX + 16];
	size_t h = rmq_move_rec_encode(head, sizeof(head), 'L', n->members.self,
	    t->claim);
	uint8_t *rec = tail && h ? malloc(h + len) : NULL;
	if (rec != NULL) {
		memcpy(rec, head, h);
		memcpy(rec + h, tail, len);
		if (rmq_channel_control(n->ch, t->number, rec, h + len) == 0)
			atomic_fetch_add(&n->tail_bytes, len);
	}
	free(rec);
	free(tail);
	free(t);
}

/* A stub's end: its tail goes to the node that cut it. */
static void
stub_end(struct rmq_cluster_node *n, const struct rmq_move *gone)
{
	struct tail_to *t = malloc(sizeof(*t));
	if (t != NULL) {
		*t = (struct tail_to){ n, gone->peer, gone->claim };
		rmq_cluster_tail_take(n->b, gone->key, tail_send, t);
	} else {
		rmq_cluster_tail_take(n->b, gone->key, NULL, NULL);
	}
}

/* A move ends without its tail (cmu held): the session that came here
 * lets out what it held, or the stub here ends, its messages dropped; a
 * stub cut but past its deadline (late) sends what it has. */
static void
move_give_up(struct rmq_cluster_node *n, struct rmq_moves *t,
    struct rmq_move *m, int late)
{
	struct rmq_move gone;
	rmq_moves_take(t, m, &gone);
	t->given_up++;
	if (t == &n->moves_in)
		rmq_cluster_tail_give(n->b, gone.key, gone.claim, NULL, 0);
	else if (gone.fence && late)
		stub_end(n, &gone); /* a peer slow to pass the fence */
	else
		rmq_cluster_tail_take(n->b, gone.key, NULL, NULL);
}

/* Give up the moves of t with peer `number` (0: those past their
 * deadline at now). */
static void
moves_give_up(struct rmq_cluster_node *n, struct rmq_moves *t, uint32_t number,
    uint64_t now)
{
	for (uint32_t i = 0; i < t->n;) {
		struct rmq_move *m = &t->m[i];
		if (number ? m->peer == number : now >= m->deadline_ms) {
			if (t == &n->moves_in && !number)
				rmq_cluster_log(LOG_WARNING,
				    "a session moved here got no tail from its old node within %llu ms: what it held goes out without it",
				    4ull * n->members.timeout_ms);
			move_give_up(n, t, m, !number);
		} else {
			i++;
		}
	}
}

/* The bus thread: moves past their deadline are given up; cuts whose
 * routes are everywhere go.  Returns whether moves wait (the thread then
 * looks again soon). */
static int
moves_run(struct rmq_cluster_node *n, uint64_t now)
{
	uint8_t buf[RMQ_NODE_NAME_MAX + 16];
	uint64_t applied = rmq_channel_applied(n->ch);
	pthread_mutex_lock(&n->cmu);
	moves_give_up(n, &n->moves_in, 0, now);
	moves_give_up(n, &n->stubs, 0, now);
	for (uint32_t i = 0; i < n->moves_in.n; i++) {
		struct rmq_move *m = &n->moves_in.m[i];
		if (!m->token || m->cut_sent || applied < m->token)
			continue;
		size_t k = rmq_move_rec_encode(buf, sizeof(buf), 'U',
		    n->members.self, m->claim);
		if (k && rmq_channel_control(n->ch, m->peer, buf, k) == 0) {
			m->cut_sent = 1;
			rmq_cluster_log(LOG_DEBUG,
			    "move %llx: routes applied everywhere (%llu), cut sent",
			    (unsigned long long)m->claim,
			    (unsigned long long)m->token);
		}
	}
	int waiting = n->moves_in.n != 0;
	/* Stubs whose fences passed end. */
	struct rmq_move ended[16];
	unsigned nended = 0;
	for (uint32_t i = 0; i < n->stubs.n;) {
		struct rmq_move *m = &n->stubs.m[i];
		if (!m->fence) {
			i++;
			continue;
		}
		waiting = 1;
		if (nended == 16 || !rmq_channel_fenced(n->ch, m->fence)) {
			i++;
			continue;
		}
		rmq_cluster_log(LOG_DEBUG, "move %llx: fence %llu passed",
		    (unsigned long long)m->claim, (unsigned long long)m->fence);
		rmq_moves_take(&n->stubs, m, &ended[nended++]);
		n->stubs.done++;
	}
	pthread_mutex_unlock(&n->cmu);
	for (unsigned i = 0; i < nended; i++)
		stub_end(n, &ended[i]);
	return waiting;
}

/* A peer went down (cmu held): the moves with it end without tails. */
static void
moves_down(struct rmq_cluster_node *n, uint32_t number)
{
	moves_give_up(n, &n->moves_in, number, 0);
	moves_give_up(n, &n->stubs, number, 0);
}

/* The new node's routes are in every index: the stub ends once every peer
 * passed a fence asked now (channel.h), so that what a peer routed on an
 * older index, to this node only, is in the stub's tail. */
static void
read_cut(struct rmq_cluster_node *n, uint32_t number, const uint8_t *p,
    size_t len)
{
	struct rmq_move_rec r;
	if (rmq_move_rec_decode(p, len, 'U', &r) != 0)
		return;
	pthread_mutex_lock(&n->cmu);
	struct rmq_move *m = rmq_moves_find(&n->stubs, r.claim, number);
	if (m != NULL && !m->fence) {
		m->fence = rmq_channel_fence(n->ch);
		rmq_cluster_log(LOG_DEBUG, "move %llx: cut, fence %llu asked",
		    (unsigned long long)r.claim, (unsigned long long)m->fence);
	}
	pthread_mutex_unlock(&n->cmu);
	atomic_store(&n->moves_now, 1);
	nng_aio_cancel(n->wait);
}

static void
read_tail(struct rmq_cluster_node *n, uint32_t number, const uint8_t *p,
    size_t len)
{
	struct rmq_move_rec r;
	if (rmq_move_rec_decode(p, len, 'L', &r) != 0 || r.body == NULL)
		return;
	struct rmq_move gone;
	int found = 0;
	pthread_mutex_lock(&n->cmu);
	struct rmq_move *m = rmq_moves_find(&n->moves_in, r.claim, number);
	if (m != NULL) {
		rmq_moves_take(&n->moves_in, m, &gone);
		n->moves_in.done++;
		found = 1;
	}
	pthread_mutex_unlock(&n->cmu);
	uint8_t *tail = found ? malloc(r.body_len) : NULL;
	if (tail != NULL)
		memcpy(tail, r.body, r.body_len);
	if (found)
		rmq_cluster_tail_give(n->b, gone.key, gone.claim, tail,
		    tail ? r.body_len : 0);
}

/* ---- the admin API's questions (ask.h) ---- */

/* Settled questions told their end (no lock held). */
static void
asks_ended(struct rmq_ask *done, unsigned k)
{
	for (unsigned i = 0; i < k; i++)
		done[i].end(done[i].arg, done[i].asked, done[i].answered);
}

/* cluster.h's ask: the question to every peer up, answered within a peer
 * timeout. */
static void
node_ask(void *ctx, const uint8_t *req, size_t len, rmq_ask_answer_fn answer,
    rmq_ask_end_fn end, void *arg)
{
	struct rmq_cluster_node *n = ctx;
	uint64_t up[RMQ_PEER_WORDS], id;
	unsigned k = atomic_load(&n->live) ? rmq_channel_up(n->ch, up) : 0;
	size_t cap = RMQ_NODE_NAME_MAX + 16 + len;
	uint8_t *rec = k ? malloc(cap) : NULL;
	pthread_mutex_lock(&n->cmu);
	int rc = rec ? rmq_asks_open(&n->asks, up, k,
			   rmq_cluster_now_ms() + n->members.timeout_ms, answer,
			   end, arg, &id)
		     : -ENOMEM;
	pthread_mutex_unlock(&n->cmu);
	if (rc != 0) {
		free(rec);
		end(arg, 0, 0);
		return;
	}
	size_t rlen =
	    rmq_ask_encode(rec, cap, 'Y', n->members.self, id, 0, req, len);
	for (unsigned i = 0; i < RMQ_MEMBERS_MAX; i++) {
		if (!(up[i / 64] & (1ull << (i % 64))) ||
		    (rlen && rmq_channel_control(n->ch, i + 1, rec, rlen) == 0))
			continue;
		/* Not on its way to that peer: not waited for. */
		struct rmq_ask done[RMQ_ASKS_MAX];
		pthread_mutex_lock(&n->cmu);
		unsigned d = rmq_asks_expire(&n->asks, i + 1, 0, done);
		pthread_mutex_unlock(&n->cmu);
		asks_ended(done, d);
	}
	free(rec);
}

struct ask_from {
	struct rmq_cluster_node *n;
	uint32_t number;
	uint64_t id;
};

/* This node's answer to a peer's question, on its control stream. */
static void
ask_reply(void *arg, int found, char *json, size_t len)
{
	struct ask_from *f = arg;
	struct rmq_cluster_node *n = f->n;
	size_t cap = RMQ_NODE_NAME_MAX + 24 + len;
	uint8_t *rec = malloc(cap);
	size_t rlen = rec ? rmq_ask_encode(rec, cap, 'Z', n->members.self,
				f->id, found, json, len)
			  : 0;
	if (rlen)
		(void)rmq_channel_control(n->ch, f->number, rec, rlen);
	free(rec);
	free(json);
	free(f);
}

static void
read_ask(struct rmq_cluster_node *n, uint32_t number, const uint8_t *p,
    size_t len)
{
	struct rmq_ask_rec r;
	if (rmq_ask_decode(p, len, 'Y', &r) != 0) {
		bad_message(n);
		return;
	}
	struct ask_from *f = malloc(sizeof(*f));
	if (f == NULL)
		return; /* unanswered: the asker goes on at its deadline */
	*f = (struct ask_from){ n, number, r.id };
	int rc = rmq_cluster_query(n->b, n->members.self, r.body, r.body_len,
	    ask_reply, f);
	if (rc == -EINVAL) {
		free(f);
		bad_message(n);
	} else if (rc != 0) {
		ask_reply(f, rc, NULL, 0);
	}
}

static void
read_ask_answer(struct rmq_cluster_node *n, uint32_t number, const uint8_t *p,
    size_t len)
{
	struct rmq_ask_rec r;
	if (rmq_ask_decode(p, len, 'Z', &r) != 0) {
		bad_message(n);
		return;
	}
	struct rmq_ask done;
	pthread_mutex_lock(&n->cmu);
	int settled = rmq_asks_answer(&n->asks, r.id, number, r.node, r.found,
	    (const char *)r.body, r.body_len, &done);
	pthread_mutex_unlock(&n->cmu);
	if (settled)
		asks_ended(&done, 1);
}

/* The workers' hook (cluster.h): the claim goes to every peer up, and
 * waits for their answers at most a move's deadline and one peer timeout
 * more: a peer holding the session may be waiting for its tail (a move
 * to it not ended: four peer timeouts at most) before it can answer with
 * all of it.  A peer that goes down meanwhile is not waited for. */
static int
node_claim(void *ctx, unsigned worker, uint64_t key, const char *id, size_t len,
    uint64_t stamp, int clean)
{
	struct rmq_cluster_node *n = ctx;
	(void)worker;
	uint64_t up[RMQ_PEER_WORDS];
	if (!atomic_load(&n->live) || rmq_channel_up(n->ch, up) == 0)
		return 0;
	size_t cap = RMQ_NODE_NAME_MAX + 32 + len;
	uint8_t *buf = malloc(cap);
	if (buf == NULL)
		return -ENOMEM;
	uint64_t cid;
	pthread_mutex_lock(&n->cmu);
	int rc = rmq_claims_open(&n->claims, key, up,
	    move_deadline(n) + n->members.timeout_ms, &cid);
	pthread_mutex_unlock(&n->cmu);
	if (rc != 0) {
		free(buf);
		return rc;
	}
	size_t rlen = rmq_claim_encode(buf, cap, n->members.self, cid, stamp,
	    clean ? RMQ_CLAIM_CLEAN : 0, id, len);
	for (unsigned i = 0; i < RMQ_MEMBERS_MAX; i++) {
		if (!(up[i / 64] & (1ull << (i % 64))))
			continue;
		if (rlen && rmq_channel_control(n->ch, i + 1, buf, rlen) == 0)
			continue;
		/* Not on its way to that peer (its stream at its bound):
		 * not waited for. */
		pthread_mutex_lock(&n->cmu);
		rmq_claims_down(&n->claims, i + 1, claim_settled, n);
		pthread_mutex_unlock(&n->cmu);
	}
	free(buf);
	return 1;
}

/* A peer's claim being answered: to whom, and which. */
struct claim_from {
	struct rmq_cluster_node *n;
	uint32_t number;
	uint64_t claim;
};

/* broker/cluster.h's release done: the answer goes back on the control
 * stream, with the session's image. */
static void
claim_answer(void *arg, enum rmq_release_result result, uint8_t *image,
    size_t len, uint64_t stub)
{
	struct claim_from *f = arg;
	struct rmq_cluster_node *n = f->n;
	uint8_t head[RMQ_NODE_NAME_MAX + 16];
	size_t h = rmq_answer_head_encode(head, sizeof(head), n->members.self,
	    f->claim, (uint8_t)result);
	uint8_t *rec = h ? malloc(h + len) : NULL;
	if (rec != NULL) {
		memcpy(rec, head, h);
		if (len)
			memcpy(rec + h, image, len);
	}
	/* The stub waits for the claimant's cut, which can come back
	 * before this thread runs again (the claimant reads the image and
	 * answers within a millisecond): it is in the table before the
	 * answer leaves, or the cut would find nothing and the stub's tail
	 * would be dropped at its deadline. */
	struct rmq_move m = { .claim = f->claim,
		.peer = f->number,
		.key = stub,
		.deadline_ms = move_deadline(n) };
	int kept = 0;
	if (stub && rec != NULL) {
		pthread_mutex_lock(&n->cmu);
		kept = rmq_moves_add(&n->stubs, &m) == 0;
		pthread_mutex_unlock(&n->cmu);
	}
	int sent = rec != NULL &&
	    rmq_channel_control(n->ch, f->number, rec, h + len) == 0;
	if (!sent) {
		/* The claimant waits until its deadline and goes on without
		 * the state. */
		atomic_fetch_add(&n->answers_dropped, 1);
		rmq_cluster_log(LOG_WARNING,
		    "a claim's answer (%zu bytes of session state) could not go to its node: no room on the control stream",
		    len);
	} else {
		atomic_fetch_add(&n->releases[result], 1);
		atomic_fetch_add(&n->image_bytes, len);
	}
	if (kept && !sent) {
		/* No answer went, so no cut will come: the stub ends now,
		 * unless its peer went down meanwhile and ended it. */
		pthread_mutex_lock(&n->cmu);
		struct rmq_move *at =
		    rmq_moves_find(&n->stubs, f->claim, f->number);
		struct rmq_move gone;
		if (at != NULL)
			rmq_moves_take(&n->stubs, at, &gone);
		pthread_mutex_unlock(&n->cmu);
		if (at == NULL)
			stub = 0;
		kept = 0;
	}
	if (stub && !kept)
		rmq_cluster_tail_take(n->b, stub, NULL, NULL);
	free(rec);
	free(image);
	free(f);
}

static void
read_claim(struct rmq_cluster_node *n, uint32_t number, const uint8_t *p,
    size_t len)
{
	struct rmq_claim_rec c;
	if (rmq_claim_decode(p, len, &c) != 0) {
		bad_message(n);
		return;
	}
	struct claim_from *f = malloc(sizeof(*f));
	if (f == NULL) {
		/* Unanswered: the claimant goes on at its deadline. */
		atomic_fetch_add(&n->answers_dropped, 1);
		return;
	}
	*f = (struct claim_from){ n, number, c.claim };
	rmq_cluster_release(n->b, c.id, c.len, c.stamp,
	    (c.flags & RMQ_CLAIM_CLEAN) != 0, claim_answer, f);
}

static void
read_answer(struct rmq_cluster_node *n, uint32_t number, const uint8_t *p,
    size_t len)
{
	struct rmq_answer_rec a;
	if (rmq_answer_decode(p, len, &a) != 0) {
		bad_message(n);
		return;
	}
	pthread_mutex_lock(&n->cmu);
	(void)rmq_claims_answer(&n->claims, a.claim, number, a.result, a.image,
	    a.image_len, claim_settled, n);
	pthread_mutex_unlock(&n->cmu);
}

/* ---- identifiers held twice (after a partition, a restart) ---- */

/* The identifiers this node holds, to one peer, a part per worker. */
struct ids_part {
	uint8_t *buf;
	size_t len, head;
	uint32_t count;
};

struct ids_out {
	struct rmq_cluster_node *n;
	uint32_t number;
	atomic_uint left; /* workers yet to end their part */
	unsigned nparts;
	struct ids_part part[];
};

static void
ids_flush(struct ids_out *o, struct ids_part *pt)
{
	if (pt->count == 0)
		return;
	rmq_ids_count(pt->buf, pt->head, pt->count);
	if (rmq_channel_control(o->n->ch, o->number, pt->buf, pt->len) == 0)
		atomic_fetch_add(&o->n->ids_sent, pt->count);
	pt->len = pt->head;
	pt->count = 0;
}

static void
ids_free(struct ids_out *o)
{
	for (unsigned i = 0; i < o->nparts; i++)
		free(o->part[i].buf);
	free(o);
}

/* broker/cluster.h's list function, on each worker. */
static void
ids_one(void *arg, unsigned worker, const char *id, size_t len, uint64_t stamp)
{
	struct ids_out *o = arg;
	struct ids_part *pt = &o->part[worker < o->nparts ? worker : 0];
	if (id == NULL) {
		if (pt->buf)
			ids_flush(o, pt);
		if (atomic_fetch_sub(&o->left, 1) == 1)
			ids_free(o);
		return;
	}
	/* A session no connection claimed in the cluster (read back from
	 * disk) is no newer than any: the peer's, if it has one, stays. */
	if (stamp == 0)
		return;
	if (pt->buf == NULL) {
		pt->buf = malloc(RMQ_ROUTES_PART_MAX);
		if (pt->buf == NULL)
			return;
		pt->len = pt->head = rmq_ids_head_encode(pt->buf,
		    RMQ_ROUTES_PART_MAX, o->n->members.self);
	}
	size_t k = rmq_ids_put(pt->buf + pt->len, RMQ_ROUTES_PART_MAX - pt->len,
	    stamp, id, len);
	if (k == 0) {
		ids_flush(o, pt);
		k = rmq_ids_put(pt->buf + pt->len,
		    RMQ_ROUTES_PART_MAX - pt->len, stamp, id, len);
	}
	if (k) {
		pt->len += k;
		pt->count++;
	}
}

/* A peer met, or met again: it is told which identifiers this node holds
 * (it tells this node its own likewise). */
static void
send_ids(struct rmq_cluster_node *n, uint32_t number)
{
	unsigned w = rmq_cluster_workers(n->b);
	struct ids_out *o = calloc(1, sizeof(*o) + w * sizeof(o->part[0]));
	if (o == NULL)
		return;
	o->n = n;
	o->number = number;
	o->nparts = w;
	atomic_store(&o->left, w);
	rmq_cluster_sessions_each(n->b, ids_one, o);
}

/* A session here that a peer's newer connection outranks: which peer,
 * and its identifier. */
struct ids_release {
	struct rmq_cluster_node *n;
	uint32_t number;
	uint16_t len;
	char id[];
};

/* It ended here: what it held goes to the peer's session. */
static void
ids_release_done(void *arg, enum rmq_release_result result, uint8_t *image,
    size_t len, uint64_t stub)
{
	struct ids_release *r = arg;
	struct rmq_cluster_node *n = r->n;
	if (result == RMQ_RELEASE_ENDED)
		atomic_fetch_add(&n->duplicates_ended, 1);
	/* No cut comes for this stub: its few messages go with it. */
	if (stub)
		rmq_cluster_tail_take(n->b, stub, NULL, NULL);
	size_t cap = RMQ_NODE_NAME_MAX + 8 + (size_t)r->len;
	uint8_t *rec = image ? malloc(cap + len) : NULL;
	size_t h = rec
	    ? rmq_state_head_encode(rec, cap, n->members.self, r->id, r->len)
	    : 0;
	if (h != 0) {
		memcpy(rec + h, image, len);
		if (rmq_channel_control(n->ch, r->number, rec, h + len) == 0)
			atomic_fetch_add(&n->image_bytes, len);
		else
			atomic_fetch_add(&n->answers_dropped, 1);
	}
	free(rec);
	free(image);
	free(r);
}

/* A peer's identifiers: a session here of one it holds with a newer
 * connection ends, as if that connection had claimed it now. */
static void
read_ids(struct rmq_cluster_node *n, uint32_t number, const uint8_t *p,
    size_t len)
{
	struct rmq_ids_rec r;
	if (rmq_ids_decode(p, len, &r) != 0) {
		bad_message(n);
		return;
	}
	const uint8_t *q = r.entries;
	size_t left = r.entries_len;
	uint64_t stamp;
	const char *id;
	size_t idlen;
	while (rmq_ids_next(&q, &left, &stamp, &id, &idlen)) {
		struct ids_release *rel =
		    stamp ? malloc(sizeof(*rel) + idlen) : NULL;
		if (rel == NULL)
			continue;
		*rel = (struct ids_release){ n, number, (uint16_t)idlen };
		memcpy(rel->id, id, idlen);
		/* Not clean: its state goes over, its will does not (its
		 * client is connected elsewhere). */
		rmq_cluster_release(n->b, id, idlen, stamp, 0, ids_release_done,
		    rel);
	}
}

/* An older session's state, for this node's session of its identifier. */
static void
read_state(struct rmq_cluster_node *n, const uint8_t *p, size_t len)
{
	struct rmq_state_rec r;
	if (rmq_state_decode(p, len, &r) != 0) {
		bad_message(n);
		return;
	}
	uint8_t *image = malloc(r.image_len);
	if (image == NULL)
		return;
	memcpy(image, r.image, r.image_len);
	rmq_cluster_state_give(n->b, r.id, r.len, image, r.image_len);
}

/* The workers' hooks (cluster.h): a message for node `node`'s
 * subscriptions joins this worker's stream to it; the turn's end sends
 * the batch. */
static int
node_forward(void *ctx, unsigned worker, uint64_t node, struct rmq_msg *m,
    uint8_t qos, const struct rmq_str *groups, uint32_t ngroups)
{
	struct rmq_cluster_node *n = ctx;
	(void)qos; /* the receiving node grants per subscription */
	return rmq_channel_forward(n->ch, worker,
	    (uint32_t)(node & ~(1ull << 63)), m, groups, ngroups);
}

static uint64_t
node_sent(void *ctx, unsigned worker)
{
	struct rmq_cluster_node *n = ctx;
	return rmq_channel_sent(n->ch, worker);
}

static uint64_t
node_taken(void *ctx, unsigned worker)
{
	struct rmq_cluster_node *n = ctx;
	return rmq_channel_taken(n->ch, worker);
}

static void
node_flush(void *ctx, unsigned worker)
{
	struct rmq_cluster_node *n = ctx;
	rmq_channel_flush(n->ch, worker);
	rmq_channel_control_seal(n->ch);
}

/* Ask m for its routes, unless it was asked, or sent a part of a
 * snapshot, within SNAP_RETRY_MS: a large snapshot takes longer than a
 * hello's interval to build, send and install, and asking again would
 * start it over (measured: a joiner of three nodes of 333,333 routes
 * each, asking once a second, took 9.4 s; the control stream loses
 * nothing, so an answer is coming). */
#define SNAP_RETRY_MS 2000
static void
ask_snapshot(struct rmq_cluster_node *n, struct rmq_member *m, uint64_t now)
{
	unsigned i = m->number - 1;
	uint64_t last =
	    n->asked_ms[i] > n->part_ms[i] ? n->asked_ms[i] : n->part_ms[i];
	if (last != 0 && now - last < SNAP_RETRY_MS)
		return;
	n->asked_ms[i] = now;
	uint8_t buf[2 * RMQ_NODE_NAME_MAX + 8];
	size_t k =
	    rmq_snapreq_encode(buf, sizeof(buf), n->members.self, m->name);
	if (k && rmq_channel_control(n->ch, m->number, buf, k) == 0)
		n->snapshots_asked++;
}

static struct rmq_peer_routes *
peer_routes(struct rmq_cluster_node *n, const struct rmq_member *m)
{
	struct rmq_peer_routes *p = &n->peers[m->number - 1];
	if (p->filters.t == NULL && rmq_peer_routes_init(p) != 0)
		return NULL;
	return p;
}

/* Where a snapshot's parts go: the asker's control stream. */
struct snap_to {
	struct rmq_cluster_node *n;
	uint32_t number;
};

/* The last part is tagged with the snapshot's number: acknowledged, it
 * is installed, and every change up to that number with it. */
static int
snap_send(void *arg, const uint8_t *p, size_t len)
{
	struct snap_to *to = arg;
	struct rmq_snap_part s;
	uint64_t tag =
	    rmq_snap_part_decode(p, len, &s) == 0 && s.part + 1 == s.parts
	    ? s.seq | RMQ_CHANNEL_TAG_SNAPSHOT
	    : 0;
	return rmq_channel_control_tagged(to->n->ch, to->number, &p, &len, 1,
		   tag) == 0
	    ? 0
	    : -EAGAIN;
}

static void
read_snapreq(struct rmq_cluster_node *n, const uint8_t *p, size_t len)
{
	char from[RMQ_NODE_NAME_MAX], to[RMQ_NODE_NAME_MAX];
	if (rmq_snapreq_decode(p, len, from, to) != 0) {
		n->bad_messages++;
		return;
	}
	struct rmq_member *m = rmq_members_find(&n->members, from);
	if (strcmp(to, n->members.self) != 0 || m == NULL)
		return;
	struct snap_to dest = { n, m->number };
	pthread_mutex_lock(&n->rmu);
	int rc = rmq_local_routes_snapshot(&n->local, n->members.self,
	    n->members.epoch, from, snap_send, &dest);
	size_t count = n->local.filters.live;
	pthread_mutex_unlock(&n->rmu);
	if (rc == 0)
		n->snapshots_sent++;
	/* Its retained messages come with the routes: a node that asks is
	 * new, back or restarted. */
	size_t retained = send_retained(n, m->number);
	rmq_cluster_log(LOG_INFO, "retained messages sent to %s: %zu", from,
	    retained);
	rmq_cluster_log(LOG_INFO, "routes sent to %s: %zu%s", from, count,
	    rc == 0
		? ""
		: " (its control stream had no room for a part: it will ask again)");
}

static void
read_delta(struct rmq_cluster_node *n, const uint8_t *p, size_t len,
    uint64_t now)
{
	struct rmq_delta d;
	if (rmq_delta_decode(p, len, &d) != 0) {
		n->bad_messages++;
		return;
	}
	struct rmq_member *m = rmq_members_find(&n->members, d.node);
	struct rmq_peer_routes *pr;
	if (m == NULL || m->state != RMQ_MEMBER_UP ||
	    (pr = peer_routes(n, m)) == NULL)
		return; /* its hello comes first, then a snapshot */
	enum rmq_delta_result r =
	    rmq_peer_routes_delta(pr, m->number, &d, &n->ix);
	if (r == RMQ_DELTA_GAP || r == RMQ_DELTA_UNSYNCED)
		ask_snapshot(n, m, now);
	else if (r == RMQ_DELTA_APPLIED)
		/* Progress: hellos ahead of it mean deltas on their way (a
		 * storm of subscribes), not one lost. */
		n->behind_ms[m->number - 1] = 0;
}

static void
read_snap(struct rmq_cluster_node *n, const uint8_t *p, size_t len)
{
	static struct rmq_snap_part s;
	if (rmq_snap_part_decode(p, len, &s) != 0) {
		n->bad_messages++;
		return;
	}
	if (strcmp(s.to, n->members.self) != 0)
		return;
	struct rmq_member *m = rmq_members_find(&n->members, s.node);
	struct rmq_peer_routes *pr;
	if (m == NULL || m->state != RMQ_MEMBER_UP || s.epoch != m->epoch ||
	    (pr = peer_routes(n, m)) == NULL)
		return;
	n->part_ms[m->number - 1] = rmq_cluster_now_ms();
	if (rmq_peer_routes_part(pr, m->number, &s, &n->ix) == 1) {
		n->behind_ms[m->number - 1] = 0;
		rmq_cluster_log(LOG_INFO,
		    "routes of node %s: %zu, from its snapshot at %llu",
		    m->name, pr->filters.live, (unsigned long long)pr->seq);
	}
}

/* What a hello says of the sender's routes: a member new, back or
 * restarted has its old routes taken out and is asked for its own; one
 * whose hellos stay ahead of what was applied (a delta the bus dropped)
 * is asked again. */
static void
hello_routes(struct rmq_cluster_node *n, struct rmq_member *m,
    enum rmq_member_event ev, const struct rmq_hello *h, uint64_t now)
{
	struct rmq_peer_routes *pr = peer_routes(n, m);
	unsigned i = m->number - 1;
	if (pr == NULL)
		return;
	if (ev == RMQ_MEMBER_JOINED || ev == RMQ_MEMBER_RESTARTED) {
		rmq_peer_routes_clear(pr, m->number, &n->ix);
		n->asked_ms[i] = 0;
		n->part_ms[i] = 0;
		n->behind_ms[i] = 0;
	}
	if (!pr->synced || pr->epoch != h->epoch) {
		ask_snapshot(n, m, now);
	} else if (h->seq > pr->seq) {
		if (n->behind_ms[i] == 0)
			n->behind_ms[i] = now;
		else if (now - n->behind_ms[i] > 500)
			ask_snapshot(n, m, now);
	} else {
		n->behind_ms[i] = 0;
	}
}

/* ---- hellos ---- */

/* The host peers are told to dial: cluster_advertise, else the
 * listener's address when it is bound to one (a peer would otherwise see
 * this node's connections come from whatever source address the kernel
 * picks, which need not be one this node listens on), else "": the
 * address the peer sees. */
static const char *
advertised(const struct rmq_cluster_node *n)
{
	const char *h = n->conf.listen_host;
	if (n->conf.advertise[0])
		return n->conf.advertise;
	if (h[0] == '\0' || strcmp(h, "*") == 0 || strcmp(h, "0.0.0.0") == 0 ||
	    strcmp(h, "::") == 0 || strcmp(h, "[::]") == 0)
		return "";
	return h;
}

/* 1 when the hello went with the members list. */
static int
send_hello(struct rmq_cluster_node *n, int with_members)
{
	struct rmq_hello *h = &n->mine;
	if (atomic_load(&n->leaving))
		return 0; /* its peers were told it leaves */
	snprintf(h->name, sizeof(h->name), "%s", n->members.self);
	snprintf(h->host, sizeof(h->host), "%s", advertised(n));
	h->epoch = n->members.epoch;
	h->port = n->port;
	h->fport = rmq_channel_port(n->ch);
	h->lport = rmq_channel_link_port(n->ch);
	/* A hello goes on time whatever holds the locks (a snapshot being
	 * built holds rmu, one being installed mu, for seconds at a million
	 * routes): its seq may be the last one read, and the members list
	 * waits for the next hello.  Peers would take a node whose hellos
	 * stop for a dead one. */
	if (pthread_mutex_trylock(&n->rmu) == 0) {
		h->seq = n->local.seq;
		pthread_mutex_unlock(&n->rmu);
	}
	h->npeers = 0;
	int listed = 0;
	if (with_members && pthread_mutex_trylock(&n->mu) == 0) {
		rmq_members_list(&n->members, h);
		pthread_mutex_unlock(&n->mu);
		listed = 1;
	}
	size_t len = rmq_hello_encode(h, n->buf, sizeof(n->buf));
	/* Non-blocking: a peer that does not read loses hellos, never
	 * holds this thread. */
	int rv = len ? nng_send(n->sock, n->buf, len, NNG_FLAG_NONBLOCK)
		     : NNG_EINVAL;
	atomic_fetch_add(rv == 0 ? &n->hellos_sent : &n->send_failures, 1);
	if (rv == 0)
		atomic_fetch_add(&n->bus_sent_bytes, len);
	return listed && rv == 0;
}

/* Where the sender of msg is dialled: the host it names, or the address
 * its pipe comes from, at the port it listens on; -1 when neither is
 * known (the pipe closed since the hello came). */
static int
sender_url(nng_msg *msg, const struct rmq_hello *h, uint16_t port, char *out,
    size_t len)
{
	if (h->host[0]) {
		snprintf(out, len, "tcp://%s:%u", h->host, port);
		return 0;
	}
	nng_sockaddr sa;
	char host[INET6_ADDRSTRLEN] = "";
	if (nng_pipe_get_addr(nng_msg_get_pipe(msg), NNG_OPT_REMADDR, &sa) ==
	    0) {
		if (sa.s_family == NNG_AF_INET)
			inet_ntop(AF_INET, &sa.s_in.sa_addr, host,
			    sizeof(host));
		else if (sa.s_family == NNG_AF_INET6)
			inet_ntop(AF_INET6, sa.s_in6.sa_addr, host,
			    sizeof(host));
	}
	if (host[0] == '\0')
		return -1;
	if (strchr(host, ':'))
		snprintf(out, len, "tcp://[%s]:%u", host, port);
	else
		snprintf(out, len, "tcp://%s:%u", host, port);
	return 0;
}

static const char *const event_words[] = {
	[RMQ_MEMBER_JOINED] = "joined",
	[RMQ_MEMBER_RESTARTED] = "restarted (a new epoch)",
};

static void
read_hello(struct rmq_cluster_node *n, nng_msg *msg)
{
	struct rmq_hello *h = &n->hello;
	if (rmq_hello_decode(nng_msg_body(msg), nng_msg_len(msg), h) != 0) {
		n->bad_messages++;
		return;
	}
	if (strcmp(h->name, n->members.self) == 0) {
		/* Our own hello: one of our dialers reaches us. */
		nng_dialer d = nng_pipe_dialer(nng_msg_get_pipe(msg));
		for (unsigned i = 0; i < n->ndials; i++) {
			struct dial *x = &n->dials[i];
			if (!x->self && nng_dialer_id(d) > 0 &&
			    nng_dialer_id(x->d) == nng_dialer_id(d)) {
				x->self = 1;
				nng_dialer_close(x->d);
				rmq_cluster_log(LOG_INFO,
				    "%s is this node: not dialled", x->url);
			}
		}
		return;
	}
	char url[RMQ_NODE_URL_MAX];
	/* A hello whose pipe closed meanwhile, from a node that names no
	 * host: its address is unknown (it was dialled as tcp://:PORT); the
	 * next one comes on a pipe that is open. */
	if (sender_url(msg, h, h->port, url, sizeof(url)) != 0)
		return;
	struct rmq_member *m;
	uint64_t now = rmq_cluster_now_ms();
	n->hellos_read++;
	enum rmq_member_event ev =
	    rmq_members_heard(&n->members, h->name, h->epoch, url, now, &m);
	unsigned up = rmq_members_up(&n->members);
	if (m == NULL && ev == RMQ_MEMBER_SAME &&
	    (m = rmq_members_find(&n->members, h->name)) != NULL && m->bye)
		return; /* sent before its bye */
	if (m == NULL) {
		rmq_cluster_log(LOG_WARNING,
		    "node %s not taken: %d members already", h->name,
		    RMQ_MEMBERS_MAX);
		return;
	}
	if (ev != RMQ_MEMBER_SAME) {
		rmq_cluster_log(LOG_NOTICE, "node %s %s at %s; %u peers up",
		    h->name, event_words[ev], url, up);
		n->members_moved = 1;
	}
	/* Its channel first: the snapshot request hello_routes makes goes
	 * on it (measured: asked before, the request had nowhere to go and
	 * the next one waited a second). */
	if (h->fport) {
		char furl[RMQ_NODE_URL_MAX];
		/* Its pipe may have closed since the url above: then the
		 * next hello tells the channel. */
		if (sender_url(msg, h, h->fport, furl, sizeof(furl)) == 0)
			rmq_channel_peer(n->ch, m->number, m->name, h->epoch,
			    furl, h->lport);
	}
	hello_routes(n, m, ev, h, now);
	/* Met, or met again: which identifiers each holds (a partition or
	 * a restart may have let one connect on both sides). */
	if ((ev == RMQ_MEMBER_JOINED || ev == RMQ_MEMBER_RESTARTED) && h->fport)
		send_ids(n, m->number);
	dial(n, url, 0);
	for (unsigned i = 0; i < h->npeers; i++)
		if (strcmp(h->peers[i].name, n->members.self) != 0)
			dial(n, h->peers[i].url, 0);
}

static void
on_down(void *arg, struct rmq_member *m)
{
	struct rmq_cluster_node *n = arg;
	struct rmq_peer_routes *pr = peer_routes(n, m);
	size_t had = pr ? pr->filters.live : 0;
	if (pr)
		rmq_peer_routes_clear(pr, m->number, &n->ix);
	rmq_channel_down(n->ch, m->number);
	pthread_mutex_lock(&n->cmu);
	rmq_claims_down(&n->claims, m->number, claim_settled, n);
	moves_down(n, m->number);
	struct rmq_ask done[RMQ_ASKS_MAX];
	unsigned d = rmq_asks_expire(&n->asks, m->number, 0, done);
	pthread_mutex_unlock(&n->cmu);
	asks_ended(done, d);
	n->members_moved = 1;
	if (m->bye)
		rmq_cluster_log(LOG_NOTICE,
		    "node %s left: it said so; its %zu routes withdrawn",
		    m->name, had);
	else
		rmq_cluster_log(LOG_NOTICE,
		    "node %s left: silent for over %u ms; its %zu routes withdrawn",
		    m->name, n->members.timeout_ms, had);
}

/* A peer's bye (its control stream, after everything it sent before):
 * down at once, not a peer timeout later. */
static void
read_bye(struct rmq_cluster_node *n, const uint8_t *p, size_t len)
{
	struct rmq_win in = { p + 3, len - 3, 0 };
	char name[RMQ_NODE_NAME_MAX];
	rmq_wget_name(&in, name, sizeof(name), 0);
	uint64_t epoch = rmq_wget_u(&in, 8);
	struct rmq_member *m =
	    in.bad ? NULL : rmq_members_find(&n->members, name);
	if (in.bad) {
		n->bad_messages++;
		return;
	}
	if (m != NULL && m->epoch == epoch)
		rmq_members_bye(&n->members, m, on_down, n);
}

/* One message from the bus (hellos only), with the members' lock held and
 * this thread online for the index. */
static void
read_msg(struct rmq_cluster_node *n, nng_msg *msg)
{
	const uint8_t *p = nng_msg_body(msg);
	size_t len = nng_msg_len(msg);
	if (rmq_cluster_msg_kind(p, len) == 'H')
		read_hello(n, msg);
	else
		n->bad_messages++;
}

/* One record of a peer's control stream (channel.h): a route change, a
 * snapshot request or a snapshot part, in the order the peer sent them.
 * On the channel's thread. */
static void
node_control(void *arg, uint32_t number, const uint8_t *p, size_t len)
{
	struct rmq_cluster_node *n = arg;
	/* Claims need neither the index nor the members' lock. */
	switch (rmq_cluster_msg_kind(p, len)) {
	case 'C': read_claim(n, number, p, len); return;
	case 'A': read_answer(n, number, p, len); return;
	case 'U': read_cut(n, number, p, len); return;
	case 'L': read_tail(n, number, p, len); return;
	case 'I': read_ids(n, number, p, len); return;
	case 'J': read_state(n, p, len); return;
	case 'Y': read_ask(n, number, p, len); return;
	case 'Z': read_ask_answer(n, number, p, len); return;
	default: break;
	}
	rcu_thread_online();
	pthread_mutex_lock(&n->mu);
	switch (rmq_cluster_msg_kind(p, len)) {
	case 'D': read_delta(n, p, len, rmq_cluster_now_ms()); break;
	case 'Q': read_snapreq(n, p, len); break;
	case 'S': read_snap(n, p, len); break;
	case 'T': read_retained(n, number, p, len); break;
	case 'B': read_bye(n, p, len); break;
	default: n->bad_messages++; break;
	}
	pthread_mutex_unlock(&n->mu);
	rcu_thread_offline();
}

/* Take mu, waiting until the monotonic clock's until_ms at most: 0, or
 * ETIMEDOUT. */
static int
lock_by(pthread_mutex_t *mu, uint64_t until_ms)
{
	uint64_t now = rmq_cluster_now_ms();
	if (until_ms <= now)
		return pthread_mutex_trylock(mu) == 0 ? 0 : ETIMEDOUT;
	struct timespec at;
	clock_gettime(CLOCK_REALTIME, &at);
	uint64_t ns = (uint64_t)at.tv_nsec + (until_ms - now) * 1000000u;
	at.tv_sec += (time_t)(ns / 1000000000u);
	at.tv_nsec = (long)(ns % 1000000000u);
	return pthread_mutex_timedlock(mu, &at) == 0 ? 0 : ETIMEDOUT;
}

static void *
node_run(void *arg)
{
	struct rmq_cluster_node *n = arg;
	uint32_t every = n->conf.peer_timeout_ms / 6;
	if (every < 10)
		every = 10;
	uint64_t next_hello = 0, next_tombs = 0;
	unsigned hellos = 0;
	uint64_t catch_up_until = 0, last_pass = 0;
	int stalled = 0; /* caught up after a late pass, not looked since */
	/* The index is written from here (remote routes): a reader of
	 * liburcu's QSBR flavour, online only while it touches it. */
	rcu_register_thread();
	rcu_thread_offline();
	while (!atomic_load(&n->stop)) {
		uint64_t now = rmq_cluster_now_ms();
		/* A pass comes at least every hello interval.  One much later
		 * means this thread was held (the process paused, or starved
		 * of CPU): the peers' hellos of meanwhile are still on their
		 * way to it, so they are read before anyone is found
		 * silent.  Once only until the next look, so that passes
		 * late one after another still look every other pass. */
		if (last_pass && now - last_pass >= 2ull * every && !stalled) {
			catch_up_until = now + every;
			stalled = 1;
		}
		last_pass = now;
		if (atomic_exchange(&n->hello_now, 0)) {
			send_hello(n, 1);
			hellos = 1;
			next_hello = now + every;
		} else if (now >= next_hello) {
			/* The members list when membership moved, and in one
			 * hello of LIST_EVERY otherwise (a list lost on the way
			 * is repaired): it is most of the bus's bytes, which
			 * grow with the square of the nodes. */
			if (send_hello(n,
				n->members_moved || hellos % LIST_EVERY == 0))
				n->members_moved = 0;
			hellos++;
			next_hello = now + every;
		}
		if (now >= next_tombs) {
			struct timespec ts;
			clock_gettime(CLOCK_REALTIME, &ts);
			pthread_mutex_lock(&n->tmu);
			rmq_tombs_expire(&n->tombs,
			    (uint64_t)ts.tv_sec * 1000000u +
				(uint64_t)ts.tv_nsec / 1000);
			pthread_mutex_unlock(&n->tmu);
			next_tombs = now + 5000;
		}
		pthread_mutex_lock(&n->cmu);
		rmq_claims_expire(&n->claims, now, claim_settled, n);
		pthread_mutex_unlock(&n->cmu);
		int moving = moves_run(n, now);
		if (n->asks.n) {
			struct rmq_ask done[RMQ_ASKS_MAX];
			pthread_mutex_lock(&n->cmu);
			unsigned d = rmq_asks_expire(&n->asks, 0, now, done);
			pthread_mutex_unlock(&n->cmu);
			asks_ended(done, d);
		}
		if (n->dns != NULL)
			dial_dns(n);
		/* The silent are found once the hellos that came meanwhile
		 * are read: not while this thread catches up after a wait for
		 * the lock (a snapshot being installed), which would find
		 * every peer silent: what queued meanwhile is read within a
		 * hello interval. */
		if (now >= catch_up_until &&
		    pthread_mutex_trylock(&n->mu) == 0) {
			rcu_thread_online();
			(void)rmq_members_expire(&n->members, now, on_down, n);
			stalled = 0;
			atomic_store(&n->dials_settled, dials_settled(n, now));
			pthread_mutex_unlock(&n->mu);
			rcu_thread_offline();
		}
		/* Wait for a hello until the next one is due (the silent are
		 * found at that pace): few timed waits, since each costs NNG
		 * 1.5.2's expiry thread about a millisecond of CPU
		 * (measured: 50 ms waits kept an idle node at 3.6%). */
		now = rmq_cluster_now_ms();
		int w = next_hello > now ? (int)(next_hello - now) : 1;
		if ((moving || atomic_exchange(&n->moves_now, 0)) && w > 2)
			w = 2; /* a cut goes as soon as its routes are in */
		nng_aio_set_timeout(n->wait, w);
		nng_recv_aio(n->sock, n->wait);
		nng_aio_wait(n->wait);
		int rv = nng_aio_result(n->wait);
		if (rv == 0) {
			nng_msg *msg = nng_aio_get_msg(n->wait);
			atomic_fetch_add(&n->bus_received_bytes,
			    nng_msg_len(msg));
			uint64_t before = rmq_cluster_now_ms();
			/* The lock, but the hellos go on time meanwhile. */
			while (lock_by(&n->mu, next_hello) != 0) {
				send_hello(n, 0);
				hellos++;
				next_hello = rmq_cluster_now_ms() + every;
			}
			rcu_thread_online();
			uint64_t got = rmq_cluster_now_ms();
			if (got - before >= every)
				catch_up_until = got + every;
			read_msg(n, msg);
			pthread_mutex_unlock(&n->mu);
			rcu_thread_offline();
			nng_msg_free(msg);
		} else if (rv == NNG_ECLOSED) {
			break;
		} else if (rv != NNG_ETIMEDOUT && rv != NNG_ECANCELED) {
			rmq_cluster_log(LOG_WARNING, "bus: %s",
			    nng_strerror(rv));
		}
	}
	rcu_thread_online();
	rcu_unregister_thread();
	return NULL;
}

/* ---- life ---- */

/* A pipe added (a node dialled us, or we reached one): a hello to it now
 * rather than at the next beat, so nodes meet in a round trip.  NNG's
 * thread; the bus thread does the sending. */
static void
pipe_added(nng_pipe p, nng_pipe_ev ev, void *arg)
{
	(void)p;
	(void)ev;
	struct rmq_cluster_node *n = arg;
	atomic_store(&n->hello_now, 1);
	nng_aio_cancel(n->wait);
}

int
rmq_cluster_node_new(struct rmq_broker *b, const struct rmq_cluster_conf *c,
    struct rmq_cluster_node **out, char *err, size_t errlen)
{
	struct rmq_cluster_node *n = calloc(1, sizeof(*n));
	if (n == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	n->b = b;
	n->conf = *c;
	char name[RMQ_NODE_NAME_MAX];
	if (c->name[0]) {
		snprintf(name, sizeof(name), "%s", c->name);
	} else if (gethostname(name, sizeof(name)) != 0) {
		snprintf(err, errlen, "node_name: unset, and no host name: %s",
		    strerror(errno));
		free(n);
		return -1;
	}
	name[sizeof(name) - 1] = '\0';
	/* The epoch tells a restart from silence: the start's wall clock in
	 * nanoseconds, which a restarted node never repeats. */
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	uint64_t epoch =
	    (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
	rmq_members_init(&n->members, name, epoch, c->peer_timeout_ms);
	if (rmq_local_routes_init(&n->local) != 0) {
		snprintf(err, errlen, "out of memory");
		free(n);
		return -1;
	}
	pthread_mutex_init(&n->mu, NULL);
	pthread_mutex_init(&n->rmu, NULL);
	pthread_mutex_init(&n->cmu, NULL);
	rmq_claims_init(&n->claims);
	n->ix.arg = n;
	n->ix.add = ix_add;
	n->ix.remove = ix_remove;
	n->hooks.ctx = n;
	n->hooks.metrics = node_metrics;
	n->hooks.status = node_status;
	n->hooks.ask = node_ask;
	n->hooks.filter = node_filter;
	n->hooks.ready = node_ready;
	n->hooks.forward = node_forward;
	n->hooks.flush = node_flush;
	n->hooks.sent = node_sent;
	n->hooks.taken = node_taken;
	n->hooks.retain = node_retain;
	n->hooks.applied = node_applied;
	n->hooks.claim = node_claim;
	n->hooks.moved_in = node_moved_in;
	n->hooks.origin_uid = node_origin_uid;
	/* The tag in retained stamps: ties between nodes broken by name. */
	n->hooks.tag = (uint16_t)(rmq_hash64(name, strlen(name)) & 0xFFF);
	pthread_mutex_init(&n->tmu, NULL);
	if (rmq_tombs_init(&n->tombs) != 0) {
		snprintf(err, errlen, "out of memory");
		rmq_local_routes_fini(&n->local);
		free(n);
		return -1;
	}
	n->ch = rmq_channel_new(b, name, epoch,
	    c->forward_queue ? c->forward_queue : 64u << 20, node_control, n);
	if (n->ch == NULL) {
		snprintf(err, errlen, "out of memory");
		rmq_local_routes_fini(&n->local);
		free(n);
		return -1;
	}
	rmq_cluster_attach(b, &n->hooks);
	*out = n;
	return 0;
}

int
rmq_cluster_node_start(struct rmq_cluster_node *n, char *err, size_t errlen)
{
	const char *host = n->conf.listen_host;
	if (rmq_nng_tls_new(n->conf.tls_cert, n->conf.tls_key, n->conf.tls_ca,
		n->conf.tls_peer_name, &n->tls, err, errlen) != 0)
		return -1;
	int rv =
	    rmq_nng_bus_open(&n->sock, RMQ_ROUTES_PART_MAX + RMQ_HELLO_MAX);
	if (rv != 0) {
		snprintf(err, errlen, "cluster_listener: no socket: %s",
		    nng_strerror(rv));
		return -1;
	}
	n->open = 1;
	if (nng_aio_alloc(&n->wait, NULL, NULL) != 0) {
		snprintf(err, errlen, "cluster_listener: out of memory");
		return -1;
	}
	nng_pipe_notify(n->sock, NNG_PIPE_EV_ADD_POST, pipe_added, n);
	if (rmq_nng_listen(n->sock, host, n->conf.listen_port, n->tls,
		"cluster_listener", &n->port, err, errlen) != 0)
		return -1;
	/* The channel beside it: listen_port + 1 unless named. */
	uint16_t fport = n->conf.forward_port;
	if (fport == 0 && n->conf.listen_port != 0)
		fport = (uint16_t)(n->conf.listen_port + 1);
	if (rmq_channel_start(n->ch, host, fport, n->tls, err, errlen) != 0)
		return -1;
	uint16_t lport = n->conf.link_port;
	if (lport == 0 && fport != 0)
		lport = (uint16_t)(fport + 1);
	if (n->tls != NULL && n->conf.links)
		rmq_cluster_log(LOG_NOTICE,
		    "cluster_links: off, since links are plain TCP and the cluster uses TLS: forwarded messages go on the channel");
	else if (n->conf.links &&
	    rmq_channel_links(n->ch, host, lport, err, errlen) != 0)
		return -1;
	n->started_ms = rmq_cluster_now_ms();
	atomic_store(&n->live, 1);
	char links[48] = "";
	if (rmq_channel_link_port(n->ch))
		snprintf(links, sizeof(links), ", links on port %u",
		    rmq_channel_link_port(n->ch));
	rmq_cluster_log(LOG_NOTICE,
	    "node %s on %s://%s:%u, channel on port %u%s; peers silent for %u ms are down",
	    n->members.self, rmq_nng_scheme(n->tls), host[0] ? host : "*",
	    n->port, rmq_channel_port(n->ch), links, n->conf.peer_timeout_ms);
	if (n->conf.seeds[0])
		dial_list(n, n->conf.seeds);
	if (n->conf.dns[0] &&
	    (n->dns = rmq_resolver_start(n->conf.dns, n->conf.dns_interval_ms,
		 NULL, dns_answered, n)) == NULL) {
		snprintf(err, errlen, "cluster_dns %s: no resolver thread",
		    n->conf.dns);
		return -1;
	}
	if (pthread_create(&n->thread, NULL, node_run, n) != 0) {
		rmq_resolver_stop(n->dns);
		n->dns = NULL;
		snprintf(err, errlen, "cluster: no thread");
		return -1;
	}
	n->started = 1;
	return 0;
}

void
rmq_cluster_node_leave(struct rmq_cluster_node *n)
{
	if (n == NULL || atomic_exchange(&n->leaving, 1))
		return;
	uint8_t buf[RMQ_NODE_NAME_MAX + 16];
	struct rmq_wout o = { buf, 0, sizeof(buf), 0 };
	rmq_wput(&o, (const uint8_t[]){ 'R', 'B', 1 }, 3);
	rmq_wput_str(&o, n->members.self, strlen(n->members.self), 1);
	rmq_wput_u(&o, n->members.epoch, 8);
	uint64_t up[RMQ_PEER_WORDS];
	unsigned told = rmq_channel_up(n->ch, up);
	if (o.full || rmq_channel_control(n->ch, 0, buf, o.len) != 0)
		rmq_cluster_log(LOG_WARNING,
		    "leaving the cluster: not every peer could be told (its control stream full); it finds this node silent");
	else
		rmq_cluster_log(LOG_NOTICE,
		    "leaving the cluster: %u peers told", told);
}

unsigned
rmq_cluster_node_moving(struct rmq_cluster_node *n)
{
	if (n == NULL)
		return 0;
	pthread_mutex_lock(&n->cmu);
	unsigned k = n->moves_in.n + n->stubs.n;
	pthread_mutex_unlock(&n->cmu);
	return k + rmq_channel_unacked(n->ch);
}

uint16_t
rmq_cluster_node_port(const struct rmq_cluster_node *n)
{
	return n->port;
}

void
rmq_cluster_node_stop(struct rmq_cluster_node *n)
{
	if (n == NULL)
		return;
	atomic_store(&n->stop, 1);
	pthread_mutex_lock(&n->rmu);
	atomic_store(&n->live, 0); /* no hook sends on a closing socket */
	pthread_mutex_unlock(&n->rmu);
	if (n->started) {
		nng_aio_stop(n->wait); /* its wait ends, and no other starts */
		pthread_join(n->thread, NULL);
		n->started = 0;
	}
	/* Once the bus thread, which takes its answers, is gone; no lookup
	 * is waited for, and the metrics read it under mu.  (A woke call
	 * until then cancels a stopped aio: nothing.) */
	pthread_mutex_lock(&n->mu);
	rmq_resolver_stop(n->dns);
	n->dns = NULL;
	pthread_mutex_unlock(&n->mu);
	if (rmq_channel_stop(n->ch, &n->sock, n->open ? 1 : 0))
		n->wedged = 1;
	n->open = 0;
}

int
rmq_cluster_node_wedged(const struct rmq_cluster_node *n)
{
	return n != NULL && n->wedged;
}

void
rmq_cluster_node_free(struct rmq_cluster_node *n)
{
	if (n == NULL)
		return;
	rmq_cluster_node_stop(n);
	if (n->wedged)
		return; /* NNG's threads may still call into it: the exit's */
	if (n->wait != NULL)
		nng_aio_free(n->wait);
	rmq_nng_tls_free(n->tls); /* the sockets that used it are closed */
	for (unsigned i = 0; i < RMQ_MEMBERS_MAX; i++)
		if (n->peers[i].filters.t != NULL)
			rmq_peer_routes_fini(&n->peers[i]);
	rmq_local_routes_fini(&n->local);
	rmq_channel_free(n->ch);
	rmq_tombs_fini(&n->tombs);
	pthread_mutex_destroy(&n->tmu);
	pthread_mutex_destroy(&n->mu);
	pthread_mutex_destroy(&n->rmu);
	rmq_claims_fini(&n->claims);
	rmq_moves_fini(&n->moves_in);
	rmq_moves_fini(&n->stubs);
	pthread_mutex_destroy(&n->cmu);
	free(n);
}
