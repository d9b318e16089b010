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
 * the peer timeout (the members list in one of four), reads what came,
 * marks silent members down, and resolves the DNS name again when due.
 */
#include "bus.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <nng/nng.h>
#include <nng/protocol/bus0/bus.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cluster.h"
#include "members.h"

#define DIALS_MAX 512
#define LOG_ERROR 0
#define LOG_WARNING 1
#define LOG_NOTICE 2
#define LOG_INFO 3

struct dial {
	char url[RMQ_NODE_URL_MAX];
	nng_dialer d;
	uint8_t self; /* it reached this node: closed, never again */
};

struct rmq_cluster_node {
	struct rmq_broker *b;
	struct rmq_cluster_conf conf;
	struct rmq_cluster_hooks hooks;
	nng_socket sock;
	nng_listener listener;
	uint16_t port; /* bound */
	int open, started;
	pthread_t thread;
	atomic_int stop;
	pthread_mutex_t mu; /* guards members and the counters below */
	struct rmq_members members;
	uint64_t hellos_sent, hellos_read, bad_messages, send_failures;
	unsigned ndials;
	struct dial dials[DIALS_MAX];
	struct rmq_hello hello; /* scratch: the one read */
	struct rmq_hello mine; /* scratch: the one sent */
	uint8_t buf[RMQ_HELLO_MAX];
};

static uint64_t
now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* ---- metrics (the admin server's thread) ---- */

static void
node_metrics(void *ctx, void (*put)(void *arg, const char *text, size_t len),
    void *arg)
{
	struct rmq_cluster_node *n = ctx;
	char line[512];
	int k;
#define EMIT(...)                                                              \
	do {                                                                   \
		k = snprintf(line, sizeof(line), __VA_ARGS__);                 \
		if (k > 0)                                                     \
			put(arg, line,                                         \
			    (size_t)k < sizeof(line) ? (size_t)k               \
						     : sizeof(line) - 1);      \
	} while (0)
	pthread_mutex_lock(&n->mu);
	struct rmq_members *t = &n->members;
	unsigned up = rmq_members_up(t);
	EMIT(
	    "# HELP ringmq_cluster_peers Peers this node knows, by state (up: heard within cluster_peer_timeout).\n"
	    "# TYPE ringmq_cluster_peers gauge\n"
	    "ringmq_cluster_peers{state=\"up\"} %u\n"
	    "ringmq_cluster_peers{state=\"down\"} %u\n",
	    up, t->n - up);
	EMIT(
	    "# HELP ringmq_cluster_peer_up Whether a peer is up (1) or down (0), by its node name.\n"
	    "# TYPE ringmq_cluster_peer_up gauge\n");
	for (unsigned i = 0; i < t->n; i++)
		EMIT("ringmq_cluster_peer_up{peer=\"%s\"} %d\n", t->m[i].name,
		    t->m[i].state == RMQ_MEMBER_UP);
	EMIT(
	    "# HELP ringmq_cluster_joins_total Peers that came up: new, or back after being down.\n"
	    "# TYPE ringmq_cluster_joins_total counter\n"
	    "ringmq_cluster_joins_total %llu\n",
	    (unsigned long long)t->joins);
	EMIT(
	    "# HELP ringmq_cluster_departures_total Peers that went down: silent past cluster_peer_timeout.\n"
	    "# TYPE ringmq_cluster_departures_total counter\n"
	    "ringmq_cluster_departures_total %llu\n",
	    (unsigned long long)t->departures);
	EMIT(
	    "# HELP ringmq_cluster_restarts_total Peers heard with a new epoch while up: restarted between two hellos.\n"
	    "# TYPE ringmq_cluster_restarts_total counter\n"
	    "ringmq_cluster_restarts_total %llu\n",
	    (unsigned long long)t->restarts);
	EMIT(
	    "# HELP ringmq_cluster_hellos_sent_total Hellos sent on the cluster bus.\n"
	    "# TYPE ringmq_cluster_hellos_sent_total counter\n"
	    "ringmq_cluster_hellos_sent_total %llu\n",
	    (unsigned long long)n->hellos_sent);
	EMIT(
	    "# HELP ringmq_cluster_hellos_received_total Hellos read from peers (each pair of nodes has two pipes, so each hello comes twice).\n"
	    "# TYPE ringmq_cluster_hellos_received_total counter\n"
	    "ringmq_cluster_hellos_received_total %llu\n",
	    (unsigned long long)n->hellos_read);
	EMIT(
	    "# HELP ringmq_cluster_bad_messages_total Messages on the cluster bus that were not understood, dropped.\n"
	    "# TYPE ringmq_cluster_bad_messages_total counter\n"
	    "ringmq_cluster_bad_messages_total %llu\n",
	    (unsigned long long)n->bad_messages);
	pthread_mutex_unlock(&n->mu);
#undef EMIT
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

/* Dial url unless it is dialled already or known to be this node. */
static void
dial(struct rmq_cluster_node *n, const char *url)
{
	if (dial_find(n, url) != NULL || n->ndials == DIALS_MAX)
		return;
	struct dial *d = &n->dials[n->ndials];
	snprintf(d->url, sizeof(d->url), "%s", url);
	d->self = 0;
	int rv = nng_dial(n->sock, url, &d->d, NNG_FLAG_NONBLOCK);
	if (rv != 0) {
		rmq_cluster_log(LOG_WARNING, "cannot dial %s: %s", url,
		    nng_strerror(rv));
		return;
	}
	n->ndials++;
	rmq_cluster_log(LOG_INFO, "dialing %s", url);
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
		dial(n, url);
	}
}

/* Every address the DNS name has, at its port (a Kubernetes headless
 * Service lists one per pod, ready or not). */
static void
dial_dns(struct rmq_cluster_node *n)
{
	char name[sizeof(n->conf.dns)];
	snprintf(name, sizeof(name), "%s", n->conf.dns);
	char *colon = strrchr(name, ':');
	if (colon == NULL)
		return;
	*colon = '\0';
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *res = NULL;
	int rv = getaddrinfo(name, colon + 1, &hints, &res);
	if (rv != 0) {
		rmq_cluster_log(LOG_INFO, "cluster_dns %s: %s", n->conf.dns,
		    gai_strerror(rv));
		return;
	}
	for (struct addrinfo *a = res; a; a = a->ai_next) {
		char host[INET6_ADDRSTRLEN], url[RMQ_NODE_URL_MAX];
		if (a->ai_family == AF_INET) {
			struct sockaddr_in *s = (void *)a->ai_addr;
			inet_ntop(AF_INET, &s->sin_addr, host, sizeof(host));
			snprintf(url, sizeof(url), "tcp://%s:%s", host,
			    colon + 1);
		} else if (a->ai_family == AF_INET6) {
			struct sockaddr_in6 *s = (void *)a->ai_addr;
			inet_ntop(AF_INET6, &s->sin6_addr, host, sizeof(host));
			snprintf(url, sizeof(url), "tcp://[%s]:%s", host,
			    colon + 1);
		} else {
			continue;
		}
		dial(n, url);
	}
	freeaddrinfo(res);
}

/* ---- hellos ---- */

static void
send_hello(struct rmq_cluster_node *n, int with_members)
{
	struct rmq_hello *h = &n->mine;
	snprintf(h->name, sizeof(h->name), "%s", n->members.self);
	snprintf(h->host, sizeof(h->host), "%s", n->conf.advertise);
	h->epoch = n->members.epoch;
	h->port = n->port;
	pthread_mutex_lock(&n->mu);
	if (with_members)
		rmq_members_list(&n->members, h);
	else
		h->npeers = 0;
	pthread_mutex_unlock(&n->mu);
	size_t len = rmq_hello_encode(h, n->buf, sizeof(n->buf));
	/* Non-blocking: a peer that does not read loses hellos, never
	 * holds this thread. */
	int rv = len ? nng_send(n->sock, n->buf, len, NNG_FLAG_NONBLOCK)
		     : NNG_EINVAL;
	pthread_mutex_lock(&n->mu);
	if (rv == 0)
		n->hellos_sent++;
	else
		n->send_failures++;
	pthread_mutex_unlock(&n->mu);
}

/* Where the sender of msg is dialled: the host it names, or the address
 * its pipe comes from, at the port it listens on. */
static void
sender_url(nng_msg *msg, const struct rmq_hello *h, char *out, size_t len)
{
	if (h->host[0]) {
		snprintf(out, len, "tcp://%s:%u", h->host, h->port);
		return;
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
	if (strchr(host, ':'))
		snprintf(out, len, "tcp://[%s]:%u", host, h->port);
	else
		snprintf(out, len, "tcp://%s:%u", host, h->port);
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
		pthread_mutex_lock(&n->mu);
		n->bad_messages++;
		pthread_mutex_unlock(&n->mu);
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
	sender_url(msg, h, url, sizeof(url));
	struct rmq_member *m;
	pthread_mutex_lock(&n->mu);
	n->hellos_read++;
	enum rmq_member_event ev = rmq_members_heard(&n->members, h->name,
	    h->epoch, url, now_ms(), &m);
	unsigned up = rmq_members_up(&n->members);
	pthread_mutex_unlock(&n->mu);
	if (m == NULL) {
		rmq_cluster_log(LOG_WARNING,
		    "node %s not taken: %d members already", h->name,
		    RMQ_MEMBERS_MAX);
		return;
	}
	if (ev != RMQ_MEMBER_SAME)
		rmq_cluster_log(LOG_NOTICE, "node %s %s at %s; %u peers up",
		    h->name, event_words[ev], url, up);
	dial(n, url);
	for (unsigned i = 0; i < h->npeers; i++)
		if (strcmp(h->peers[i].name, n->members.self) != 0)
			dial(n, h->peers[i].url);
}

static void
on_down(void *arg, struct rmq_member *m)
{
	struct rmq_cluster_node *n = arg;
	rmq_cluster_log(LOG_NOTICE, "node %s left: silent for over %u ms",
	    m->name, n->members.timeout_ms);
}

static void *
node_run(void *arg)
{
	struct rmq_cluster_node *n = arg;
	uint32_t every = n->conf.peer_timeout_ms / 6;
	if (every < 10)
		every = 10;
	uint64_t next_hello = 0, next_dns = 0;
	unsigned hellos = 0;
	while (!atomic_load(&n->stop)) {
		uint64_t now = now_ms();
		if (now >= next_hello) {
			send_hello(n, hellos++ % 4 == 0);
			next_hello = now + every;
		}
		if (n->conf.dns[0] && now >= next_dns) {
			dial_dns(n);
			next_dns = now + n->conf.dns_interval_ms;
		}
		pthread_mutex_lock(&n->mu);
		unsigned went =
		    rmq_members_expire(&n->members, now, on_down, n);
		pthread_mutex_unlock(&n->mu);
		(void)went;
		nng_msg *msg;
		int rv = nng_recvmsg(n->sock, &msg, 0);
		if (rv == 0) {
			read_hello(n, msg);
			nng_msg_free(msg);
		} else if (rv != NNG_ETIMEDOUT && rv != NNG_EAGAIN) {
			if (rv == NNG_ECLOSED)
				break;
			rmq_cluster_log(LOG_WARNING, "bus: %s",
			    nng_strerror(rv));
		}
	}
	return NULL;
}

/* ---- life ---- */

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
	pthread_mutex_init(&n->mu, NULL);
	n->hooks.ctx = n;
	n->hooks.metrics = node_metrics;
	rmq_cluster_attach(b, &n->hooks);
	*out = n;
	return 0;
}

int
rmq_cluster_node_start(struct rmq_cluster_node *n, char *err, size_t errlen)
{
	char url[RMQ_NODE_URL_MAX];
	const char *host = n->conf.listen_host;
	if (host[0] == '\0' || strcmp(host, "*") == 0)
		snprintf(url, sizeof(url), "tcp://:%u", n->conf.listen_port);
	else
		snprintf(url, sizeof(url), "tcp://%s:%u", host,
		    n->conf.listen_port);
	int rv = nng_bus0_open(&n->sock);
	if (rv == 0) {
		n->open = 1;
		nng_socket_set_ms(n->sock, NNG_OPT_RECVTIMEO, 50);
		nng_socket_set_ms(n->sock, NNG_OPT_RECONNMINT, 100);
		nng_socket_set_ms(n->sock, NNG_OPT_RECONNMAXT, 1000);
		nng_socket_set_size(n->sock, NNG_OPT_RECVMAXSZ, RMQ_HELLO_MAX);
		rv = nng_listen(n->sock, url, &n->listener, 0);
	}
	if (rv != 0) {
		snprintf(err, errlen, "cluster_listener %s: %s", url + 6,
		    nng_strerror(rv));
		return -1;
	}
	int port = 0;
	nng_listener_get_int(n->listener, NNG_OPT_TCP_BOUND_PORT, &port);
	n->port = (uint16_t)port;
	rmq_cluster_log(LOG_NOTICE,
	    "node %s on tcp://%s:%u; peers silent for %u ms are down",
	    n->members.self, host[0] ? host : "*", n->port,
	    n->conf.peer_timeout_ms);
	if (n->conf.seeds[0])
		dial_list(n, n->conf.seeds);
	if (pthread_create(&n->thread, NULL, node_run, n) != 0) {
		snprintf(err, errlen, "cluster: no thread");
		return -1;
	}
	n->started = 1;
	return 0;
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
	if (n->started) {
		pthread_join(n->thread, NULL);
		n->started = 0;
	}
	if (n->open) {
		nng_close(n->sock);
		n->open = 0;
	}
}

void
rmq_cluster_node_free(struct rmq_cluster_node *n)
{
	if (n == NULL)
		return;
	rmq_cluster_node_stop(n);
	pthread_mutex_destroy(&n->mu);
	free(n);
}
