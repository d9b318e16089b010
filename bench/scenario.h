/* bench/scenario.h: what a run is asked to do.  Owns the command line
 * (emqtt-bench's flags plus ours), the named scenarios of the standard
 * matrix (p2p, fanout, fanin, sharedsub, conn), topic templates with %i,
 * and the plan: which publishers and subscribers exist, their topics, and
 * how many subscribers each publisher's messages are due to reach.
 */
#ifndef RMQ_BENCH_SCENARIO_H
#define RMQ_BENCH_SCENARIO_H

#include <stddef.h>
#include <stdint.h>

#include "arrival.h"

#define RMQ_BENCH_MAX_HOSTS 16
/* Addresses the hosts stand for (--all-addresses: every one a name
 * resolves to, a headless Service's pods say). */
#define RMQ_BENCH_MAX_ADDRS 256
#define RMQ_BENCH_MAX_SRC 64

enum rmq_bench_mode {
	RMQ_BENCH_PUB = 1,
	RMQ_BENCH_SUB,
	RMQ_BENCH_CONN,
	RMQ_BENCH_RUN,
};

enum rmq_bench_scenario {
	RMQ_SCN_NONE = 0,
	RMQ_SCN_P2P,
	RMQ_SCN_FANOUT,
	RMQ_SCN_FANIN,
	RMQ_SCN_SHAREDSUB,
	RMQ_SCN_CONN,
};

enum rmq_bench_direct {
	RMQ_DIRECT_OFF = 0,
	RMQ_DIRECT_UNIX, /* socketpair(AF_UNIX) */
	RMQ_DIRECT_TCP, /* TCP pairs over 127.0.0.1 */
};

struct rmq_bench_cfg {
	enum rmq_bench_mode mode;
	enum rmq_bench_scenario scenario;
	const char *hosts[RMQ_BENCH_MAX_HOSTS];
	unsigned nhosts;
	const char *src[RMQ_BENCH_MAX_SRC]; /* --ifaddr */
	unsigned nsrc;
	uint16_t port;
	uint32_t clients; /* -c / --clients */
	uint32_t pubs; /* --pubs, 0: from the scenario */
	uint32_t subs; /* --subs, 0: from the scenario */
	const char *topic; /* -t: publishers' topic template */
	const char *filter; /* --filter (sub: -t): subscribers' filter */
	const char *share_group; /* sharedsub group name */
	uint8_t qos;
	uint8_t version; /* 3, 4 or 5 */
	uint8_t tls;
	uint8_t quiet;
	uint8_t help;
	uint8_t show_version;
	enum rmq_bench_direct direct;
	uint32_t size; /* payload bytes */
	double interval_ms; /* -I: per publisher; 0 = unlimited */
	double conn_interval_ms; /* -i: between connection starts */
	enum rmq_bench_arrival arrival; /* --arrival: offsets within -I */
	uint64_t arrival_seed; /* --seed: random arrivals */
	double duration_s;
	double warmup_s;
	double drain_s;
	double connect_timeout_s;
	uint32_t inflight; /* window per publisher */
	uint64_t limit; /* -L: messages per publisher, 0 = no limit */
	uint16_t keepalive;
	unsigned threads; /* 0: one per online CPU */
	uint8_t pin; /* --cpu-affinity auto: loop i on the i-th allowed CPU */
	uint8_t apart; /* --apart: publisher k on another loop than
			  subscriber k */
	int broker_pid; /* 0: none; the first of broker_pids */
	int broker_pids[8]; /* --broker-pid P[,P...]: their CPU and memory
			     * summed (the nodes of a cluster) */
	unsigned nbroker_pids;
	uint8_t hosts_apart; /* --hosts-apart: publisher k on the host after
				subscriber k's (p2p across cluster nodes) */
	uint8_t all_addresses; /* --all-addresses: a host stands for every
				  address it resolves to */
	const char *json; /* NULL, "-" or a path */
	const char *username;
	const char *password;
	const char *client_prefix;
	/* --shard I/N: this process is shard I of N of one load (several
	 * processes, or the pods of a Kubernetes Job): it runs its share of
	 * the clients, those of indices [I*clients/N, (I+1)*clients/N), with
	 * identifiers and topics no other shard has.  shard_n 0: not split. */
	uint32_t shard_i, shard_n;
	const char *tls_cacert; /* verify the server with this CA file */
	uint8_t ws; /* MQTT over WebSocket (ws.h) */
	uint8_t tls_resume; /* offer the last session ticket (tls.h) */
	uint8_t retain; /* publish with the retain flag */
	uint8_t persistent; /* subscribers keep their sessions: clean session
			    * 0, or Session Expiry 3600 s (5.0) */
	const char *ws_path; /* the upgrade's path; NULL: /mqtt */
	const char *tls_cert; /* client certificate (PEM) */
	const char *tls_key; /* its key, when not in tls_cert */
};

/* Defaults for `mode` (and `scenario` for run). */
void rmq_bench_cfg_defaults(struct rmq_bench_cfg *cfg, enum rmq_bench_mode mode,
    enum rmq_bench_scenario scenario);

/* Parse argv (argv[0] is the subcommand: pub, sub, conn or run; run
 * takes the scenario next).  argv strings must outlive cfg.  Returns 0, or
 * -EINVAL with a message in err[0..errlen).  --help sets cfg->help. */
int rmq_bench_cfg_parse(struct rmq_bench_cfg *cfg, int argc, char **argv,
    char *err, size_t errlen);

/* Name of a scenario ("p2p"), and the reverse (RMQ_SCN_NONE if unknown). */
const char *rmq_bench_scenario_name(enum rmq_bench_scenario s);
enum rmq_bench_scenario rmq_bench_scenario_from(const char *name);

/* Expand a topic template: %i becomes `index`, %% a single %.  Writes a
 * NUL-terminated string into buf[0..cap) and returns its length, or
 * -ENOBUFS when it does not fit, -EINVAL for another % sequence. */
int
rmq_bench_topic_expand(const char *tmpl, uint32_t index, char *buf, size_t cap);

/* One client of the plan. */
struct rmq_bench_client {
	uint32_t idx; /* index within its role, the %i value */
	uint32_t topic_off; /* into plan.arena: topic (pub) or filter (sub) */
	uint16_t topic_len;
	uint8_t shared; /* subscriber of a $share group */
	uint32_t nmatch; /* pub: receivers due each message; sub: publishers it
			    hears */
};

struct rmq_bench_plan {
	uint32_t npubs;
	uint32_t nsubs;
	uint32_t nconns; /* connection-only clients (conn) */
	uint32_t first; /* --shard: index of client 0 in the whole load */
	struct rmq_bench_client *pubs;
	struct rmq_bench_client *subs;
	char *arena;
	size_t arena_len;
	uint64_t receivers_total; /* sum of pubs[].nmatch */
};

/* Build the plan for cfg: clients, topics, and the match counts (exact
 * filters by a sorted lookup, wildcard filters by a scan; a $share group
 * counts once per message).  Returns 0, -EINVAL with a message, or
 * -ENOMEM. */
int rmq_bench_plan_build(struct rmq_bench_plan *plan,
    const struct rmq_bench_cfg *cfg, char *err, size_t errlen);

void rmq_bench_plan_fini(struct rmq_bench_plan *plan);

/* Clients are dealt to the `nloops` loops in turn: loop `id` takes
 * subscribers id, id + nloops, ...  The first publisher it takes (one
 * loop further on with --apart, so that a p2p pair's two clients are on
 * two loops), and how many of `n` clients a loop takes when its first is
 * `first`. */
uint32_t rmq_bench_loop_first_pub(unsigned id, unsigned nloops, int apart);
uint32_t rmq_bench_dealt(uint32_t n, uint32_t first, unsigned nloops);

/* The CPU that loop `id` is pinned to with --cpu-affinity auto: the
 * id-th of the `n` allowed CPUs cpus[], round and round. */
int rmq_bench_loop_cpu(unsigned id, const int *cpus, unsigned n);

static inline const char *
rmq_bench_plan_topic(const struct rmq_bench_plan *plan,
    const struct rmq_bench_client *c)
{
	return plan->arena + c->topic_off;
}

#endif
