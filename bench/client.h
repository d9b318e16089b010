/* bench/client.h: MQTT client connections and the epoll loop that drives
 * them, one loop per thread.  A loop owns its connections outright: their
 * sockets, decoders, output buffers, publish templates and receive tracks.
 * Publishers copy a pre-encoded PUBLISH per message and patch the packet
 * id and stamp in place, many per write; reads are 256 KiB at a time; no
 * memory is allocated per message.
 */
#ifndef RMQ_BENCH_CLIENT_H
#define RMQ_BENCH_CLIENT_H

#include <pthread.h>
#include <stdint.h>

#include "arrival.h"
#include "codec.h"
#include "hist.h"
#include "run.h"
#include "stamp.h"

enum rmq_bench_role {
	RMQ_ROLE_PUB = 1,
	RMQ_ROLE_SUB,
	RMQ_ROLE_CONN,
};

struct rmq_bench_ws;

enum rmq_bench_cstate {
	RMQ_CS_IDLE = 0,
	RMQ_CS_TCP, /* connect() in progress */
	RMQ_CS_TLS, /* TLS handshake in progress */
	RMQ_CS_WS, /* WebSocket upgrade sent, waiting for its 101 */
	RMQ_CS_CONNECT, /* CONNECT sent, waiting for CONNACK */
	RMQ_CS_SUBSCRIBE, /* SUBSCRIBE sent, waiting for SUBACK */
	RMQ_CS_READY,
	RMQ_CS_DONE, /* failed or closed */
};

struct rmq_bench_conn {
	int fd;
	void *ssl; /* tls.h session, when TLS */
	struct rmq_bench_ws *ws; /* ws.h framing, when WebSocket */
	uint8_t state;
	uint8_t role;
	uint8_t want_out; /* EPOLLOUT registered */
	uint8_t shared;
	uint32_t gid; /* global client number: client id, host, source */
	uint32_t hix; /* the address it connects to (run->addrs) */
	uint32_t ridx; /* index in its role: publisher id, %i */
	uint64_t t0; /* connect started */
	uint64_t last_tx;
	struct rmq_decoder dec;
	uint8_t *out;
	uint32_t olen, ooff, ocap;
	/* publisher */
	uint8_t *tmpl;
	uint32_t tlen, pay_off, pid_off;
	uint32_t seq; /* messages sent */
	uint32_t acked;
	uint32_t win; /* QoS 1/2 window: min(--inflight, Receive Maximum) */
	uint32_t nmatch;
	/* subscriber */
	struct rmq_bench_track_table tt;
	const char *topic;
	uint16_t topic_len;
};

#define RMQ_BENCH_DIRTY_MAX 4096

struct rmq_bench_loop {
	struct rmq_bench_run *run;
	unsigned id;
	pthread_t thread;
	int ep;
	struct rmq_bench_conn *conns;
	uint32_t nconns;
	uint32_t range[4]; /* subs [0]..[1], pubs [1]..[2], conn [2]..[3] */
	uint32_t start_next; /* next connection to start in this phase */
	int start_phase;
	uint64_t phase_t0;
	uint64_t t_start, t_measure, t_end; /* copies, once RUN is seen */
	uint32_t connecting;
	int e2e_blocked; /* a publisher waits for receivers' progress */
	struct rmq_bench_sched sched; /* paced publishers (-I) */
	uint64_t next_scan;
	uint64_t next_ping_scan;
	uint8_t *rbuf;
	size_t rcap;
	struct rmq_bench_hist lat; /* measured window */
	struct rmq_bench_hist ivl; /* this second */
	struct rmq_bench_hist conn_lat;
	struct rmq_bench_stats st; /* owned by the loop thread */
	struct rmq_bench_stats pub; /* published copy */
	struct rmq_bench_tick *ticks;
	unsigned ntick; /* next tick to write */
	struct rmq_bench_track *dirty[RMQ_BENCH_DIRTY_MAX];
	uint32_t ndirty;
	char err[256]; /* first error, written once by the loop */
	int err_set;
};

/* Prepare loop `id` of run with its share of the plan's clients (client k
 * of a role goes to loop k % nloops).  In --direct mode the publisher and
 * subscriber of each pair are connected here by a socketpair or a
 * loopback TCP pair.  Returns 0, or a negative errno with loop->err set. */
int rmq_bench_loop_init(struct rmq_bench_loop *loop, struct rmq_bench_run *run,
    unsigned id);

/* Free everything; the sockets are closed already by the loop's exit. */
void rmq_bench_loop_fini(struct rmq_bench_loop *loop);

/* Thread body: runs until the run's phase is RMQ_PH_STOP, then
 * disconnects its clients and returns. */
void *rmq_bench_loop_main(void *arg);

/* Read the published copy of a loop's counters (any thread). */
void rmq_bench_loop_stats(const struct rmq_bench_loop *loop,
    struct rmq_bench_stats *out);

#endif
