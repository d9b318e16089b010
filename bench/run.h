/* bench/run.h: one run of the tool, as the loops and the main thread share
 * it.  The main thread owns the phases (subscribers connect, publishers
 * connect, warm-up and measurement, drain, stop) and the clock marks; each
 * loop owns its clients and counters and publishes a copy of the counters
 * (relaxed atomic stores) that the main thread reads for progress and
 * stop decisions.  Per-publisher progress is the only cross-loop write.
 */
#ifndef RMQ_BENCH_RUN_H
#define RMQ_BENCH_RUN_H

#include <pthread.h>
#include <stdint.h>
#include <sys/socket.h>

#include "hist.h"
#include "scenario.h"

enum rmq_bench_phase {
	RMQ_PH_INIT = 0,
	RMQ_PH_SUBS, /* subscribers connect and subscribe */
	RMQ_PH_PUBS, /* publishers connect */
	RMQ_PH_CONNS, /* connection-only clients connect */
	RMQ_PH_RUN, /* warm-up, then the measured window */
	RMQ_PH_DRAIN, /* publishing stopped; waiting for the last messages */
	RMQ_PH_STOP, /* loops disconnect and return */
};

/* Counters of one loop.  All uint64_t, so that the published copy can be
 * written and read field by field with atomic operations. */
struct rmq_bench_stats {
	uint64_t sent;
	uint64_t sent_win; /* sent in the measured window */
	uint64_t acked; /* QoS 1/2 publishes completed */
	uint64_t inflight; /* QoS 1/2 publishes not yet completed */
	uint64_t expected; /* sum over sent messages of their receivers */
	uint64_t delivered; /* PUBLISH packets received */
	uint64_t delivered_win; /* ... in the measured window */
	uint64_t uniq; /* distinct stamped messages received */
	uint64_t dup;
	uint64_t ooo;
	uint64_t foreign; /* payloads without our stamp */
	uint64_t untracked;
	uint64_t behind; /* scheduled publishes that could not go out */
	uint64_t bytes_out;
	uint64_t bytes_in;
	uint64_t conn_started;
	uint64_t conn_ok; /* CONNACK accepted */
	uint64_t tls_resumed; /* TLS handshakes that resumed a session */
	uint64_t sub_ok; /* SUBACK granted */
	uint64_t conn_failed; /* every failure below, once per client */
	uint64_t refused; /* TCP connection refused */
	uint64_t timeouts;
	uint64_t connack_refused;
	uint64_t suback_refused;
	uint64_t proto_errors;
	uint64_t closed; /* closed by the peer after being up */
	uint64_t fd_limit; /* socket() failed with EMFILE/ENFILE */
	uint64_t other_errors;
	uint64_t last_connack_ns; /* when the last CONNACK arrived */
};

#define RMQ_BENCH_NSTATS (sizeof(struct rmq_bench_stats) / sizeof(uint64_t))

/* One second of the run, written once by each loop. */
struct rmq_bench_tick {
	uint64_t sent; /* cumulative */
	uint64_t delivered; /* cumulative */
	uint64_t lat_count; /* latencies recorded in this second */
	uint64_t p50; /* ns, this loop's deliveries in this second */
	uint64_t p99;
	uint64_t max;
	int done;
};

#define RMQ_BENCH_MAX_TICKS 4096

struct rmq_bench_addr {
	struct sockaddr_storage ss;
	socklen_t len;
	unsigned host; /* its name in cfg->hosts (TLS SNI, WebSocket Host) */
	char name[80];
};

struct rmq_bench_loop;

struct rmq_bench_run {
	const struct rmq_bench_cfg *cfg;
	struct rmq_bench_plan plan;
	/* The addresses clients go round: each host's first, or with
	 * --all-addresses every one it resolves to, in order. */
	struct rmq_bench_addr addrs[RMQ_BENCH_MAX_ADDRS];
	unsigned naddrs;
	struct rmq_bench_addr srcs[RMQ_BENCH_MAX_SRC];
	uint32_t stamp_run; /* folded into payload stamps (stamp.h): random
			     * for `run`, 0 for pub and sub */
	unsigned nloops;
	struct rmq_bench_loop *loops;
	int phase; /* enum rmq_bench_phase, atomic */
	/* Set before the phase becomes RUN (release), read after. */
	uint64_t t_start; /* publishing starts */
	uint64_t t_measure; /* warm-up over */
	uint64_t t_end; /* measured window over, publishing stops */
	uint64_t *progress; /* per publisher, atomic: receptions seen */
	uint64_t fd_soft, fd_hard; /* RLIMIT_NOFILE after raising it */
	int fd_raised;
	void *tls_ctx; /* tls.h context when cfg->tls */
};

/* Monotonic clock in nanoseconds. */
uint64_t rmq_bench_now(void);

static inline int
rmq_bench_phase_get(const struct rmq_bench_run *r)
{
	return __atomic_load_n(&r->phase, __ATOMIC_ACQUIRE);
}

/* Results of a run, filled by rmq_bench_run_exec() for report.c. */
struct rmq_bench_result {
	int completed; /* the run did what it was asked */
	char error[512]; /* why not, when !completed */
	char warning[512];
	struct rmq_bench_stats st; /* summed over loops */
	uint64_t expected_known; /* expected is meaningful */
	uint64_t lost;
	struct rmq_bench_hist lat; /* ns, measured window */
	struct rmq_bench_hist conn_lat; /* ns, TCP connect to CONNACK */
	double window_s; /* measured window length */
	double window_start_unix; /* when it began, wall clock (seconds) */
	double connect_s; /* first connect start to last CONNACK */
	uint32_t npubs, nsubs, nconns, nloops;
	uint32_t naddrs; /* the addresses clients went round */
	/* Broker (cfg->broker_pid) over the measured window. */
	int broker_ok;
	double broker_cpu_s;
	double broker_conn_cpu_s; /* while the clients connected */
	uint64_t broker_rss_base; /* before any connection */
	uint64_t broker_rss_conn; /* all clients connected */
	uint64_t broker_rss_end; /* end of the window */
	uint64_t broker_hwm;
	double self_cpu_s; /* this process over the window */
	unsigned nticks;
	struct rmq_bench_tick ticks[RMQ_BENCH_MAX_TICKS]; /* merged */
	uint64_t fd_soft, fd_hard;
	int fd_raised;
};

/* Run cfg to the end.  Fills *res (which the caller owns; it is large).
 * Returns 0 when the run completed, or a negative errno with res->error
 * saying what failed and what was reached. */
int rmq_bench_run_exec(const struct rmq_bench_cfg *cfg,
    struct rmq_bench_result *res);

#endif
