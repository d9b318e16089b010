/* bench/run.c: one run from start to end (see run.h): resolving targets,
 * raising the fd limit, starting the loop threads, stepping through the
 * phases, sampling the broker and this process at the edges of the
 * measured window, and summing what the loops counted into a result.
 */
#include "run.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "client.h"
#include "procstat.h"
#include "report.h"
#include "tls.h"

#define NS 1000000000ull

uint64_t
rmq_bench_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * NS + (uint64_t)ts.tv_nsec;
}

/* A run's own number, for its stamps: not 0 (the pub and sub commands'),
 * and unlike another run's beside or before it. */
static uint32_t
bench_run_nonce(void)
{
	uint32_t v = 0;
	if (getrandom(&v, sizeof(v), 0) != (ssize_t)sizeof(v))
		v = (uint32_t)rmq_bench_now() ^ (uint32_t)getpid() << 16;
	return v ? v : 1;
}

static void
bench_run_sleep_until(uint64_t t)
{
	struct timespec ts = { (time_t)(t / NS), (long)(t % NS) };
	while (
	    clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
		;
}

/* Whether a is among the first n addresses of run. */
static int
bench_run_has_addr(const struct rmq_bench_run *run, unsigned n,
    const struct sockaddr *sa, socklen_t len)
{
	for (unsigned i = 0; i < n; i++)
		if (run->addrs[i].len == len &&
		    memcmp(&run->addrs[i].ss, sa, len) == 0)
			return 1;
	return 0;
}

static int
bench_run_resolve(struct rmq_bench_run *run, struct rmq_bench_result *res)
{
	const struct rmq_bench_cfg *cfg = run->cfg;
	char port[8];
	snprintf(port, sizeof(port), "%u", cfg->port);
	run->naddrs = 0;
	for (unsigned i = 0; i < cfg->nhosts; i++) {
		struct addrinfo hints = { 0 }, *ai = NULL;
		hints.ai_socktype = SOCK_STREAM;
		int rc = getaddrinfo(cfg->hosts[i], port, &hints, &ai);
		if (rc != 0 || ai == NULL) {
			snprintf(res->error, sizeof(res->error),
			    "cannot resolve host '%s': %s", cfg->hosts[i],
			    gai_strerror(rc));
			return -ENOENT;
		}
		for (struct addrinfo *at = ai; at; at = at->ai_next) {
			if (at->ai_addrlen > sizeof(struct sockaddr_storage) ||
			    (cfg->all_addresses &&
				bench_run_has_addr(run, run->naddrs,
				    at->ai_addr, at->ai_addrlen)))
				continue;
			if (run->naddrs == RMQ_BENCH_MAX_ADDRS) {
				freeaddrinfo(ai);
				snprintf(res->error, sizeof(res->error),
				    "the hosts stand for more than %d addresses",
				    RMQ_BENCH_MAX_ADDRS);
				return -E2BIG;
			}
			struct rmq_bench_addr *a = &run->addrs[run->naddrs++];
			memcpy(&a->ss, at->ai_addr, at->ai_addrlen);
			a->len = at->ai_addrlen;
			a->host = i;
			/* The name as given; when it stands for several
			 * addresses, which one. */
			char ip[INET6_ADDRSTRLEN + 4] = "";
			if (cfg->all_addresses) {
				const void *bin = at->ai_family == AF_INET6
				    ? (const void *)&(
					  (struct sockaddr_in6 *)at->ai_addr)
					  ->sin6_addr
				    : (const void *)&(
					  (struct sockaddr_in *)at->ai_addr)
					  ->sin_addr;
				ip[0] = ' ';
				ip[1] = '(';
				if (inet_ntop(at->ai_family, bin, ip + 2,
					INET6_ADDRSTRLEN) == NULL)
					ip[0] = '\0';
				else
					strcat(ip, ")");
			}
			snprintf(a->name, sizeof(a->name),
			    at->ai_family == AF_INET6 ? "[%s]:%u%s" : "%s:%u%s",
			    cfg->hosts[i], cfg->port, ip);
			if (!cfg->all_addresses)
				break;
		}
		freeaddrinfo(ai);
	}
	for (unsigned i = 0; i < cfg->nsrc; i++) {
		struct rmq_bench_addr *a = &run->srcs[i];
		struct sockaddr_in *v4 = (struct sockaddr_in *)&a->ss;
		struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)&a->ss;
		if (inet_pton(AF_INET, cfg->src[i], &v4->sin_addr) == 1) {
			v4->sin_family = AF_INET;
			a->len = sizeof(*v4);
		} else if (inet_pton(AF_INET6, cfg->src[i], &v6->sin6_addr) ==
		    1) {
			v6->sin6_family = AF_INET6;
			a->len = sizeof(*v6);
		} else {
			snprintf(res->error, sizeof(res->error),
			    "--ifaddr '%s' is not an IP address", cfg->src[i]);
			return -EINVAL;
		}
		snprintf(a->name, sizeof(a->name), "%s", cfg->src[i]);
	}
	return 0;
}

static void
bench_run_fdlimit(struct rmq_bench_run *run, uint64_t need,
    struct rmq_bench_result *res)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
		return;
	if (rl.rlim_cur < rl.rlim_max) {
		rlim_t old = rl.rlim_cur;
		rl.rlim_cur = rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl) == 0)
			run->fd_raised = 1;
		else
			rl.rlim_cur = old;
	}
	run->fd_soft = rl.rlim_cur;
	run->fd_hard = rl.rlim_max;
	res->fd_soft = rl.rlim_cur;
	res->fd_hard = rl.rlim_max;
	res->fd_raised = run->fd_raised;
	if (need + 32 > rl.rlim_cur)
		snprintf(res->warning, sizeof(res->warning),
		    "%llu sockets needed but the file descriptor limit is %llu (hard limit %llu): the run will stop when it is reached",
		    (unsigned long long)need, (unsigned long long)rl.rlim_cur,
		    (unsigned long long)rl.rlim_max);
}

static void
bench_run_sum(struct rmq_bench_run *run, struct rmq_bench_stats *sum)
{
	memset(sum, 0, sizeof(*sum));
	for (unsigned i = 0; i < run->nloops; i++) {
		struct rmq_bench_stats s;
		rmq_bench_loop_stats(&run->loops[i], &s);
		const uint64_t *a = (const uint64_t *)&s;
		uint64_t *b = (uint64_t *)sum;
		for (size_t k = 0; k < RMQ_BENCH_NSTATS; k++)
			b[k] += a[k];
		if (s.last_connack_ns > sum->last_connack_ns)
			sum->last_connack_ns = s.last_connack_ns;
	}
	/* last_connack_ns is a time, not a count: keep the latest. */
	uint64_t last = 0;
	for (unsigned i = 0; i < run->nloops; i++) {
		uint64_t t = __atomic_load_n(&run->loops[i].pub.last_connack_ns,
		    __ATOMIC_RELAXED);
		if (t > last)
			last = t;
	}
	sum->last_connack_ns = last;
}

static const char *
bench_run_loop_error(struct rmq_bench_run *run)
{
	for (unsigned i = 0; i < run->nloops; i++)
		if (__atomic_load_n(&run->loops[i].err_set, __ATOMIC_ACQUIRE))
			return run->loops[i].err;
	return NULL;
}

static void
bench_run_set_phase(struct rmq_bench_run *run, int ph)
{
	__atomic_store_n(&run->phase, ph, __ATOMIC_RELEASE);
}

/* Wait until `ok(sum) >= want` or a failure.  Returns 0 or -EIO. */
static int
bench_run_wait_up(struct rmq_bench_run *run, const char *what, uint64_t want,
    int subs, struct rmq_bench_result *res, uint64_t t_conn0)
{
	const struct rmq_bench_cfg *cfg = run->cfg;
	uint64_t next_print = rmq_bench_now() + NS, failed_at = 0;
	for (;;) {
		struct rmq_bench_stats s;
		bench_run_sum(run, &s);
		uint64_t ok = subs ? s.sub_ok : s.conn_ok;
		if (s.conn_failed > 0 && !failed_at) {
			/* Let the connections already under way finish (up to
			 * 3 s), so that the report says what was reached. */
			failed_at = rmq_bench_now();
			continue;
		}
		if (failed_at &&
		    (s.conn_ok + s.conn_failed >= s.conn_started ||
			rmq_bench_now() - failed_at > 3 * NS)) {
			const char *e = bench_run_loop_error(run);
			snprintf(res->error, sizeof(res->error),
			    "%s: %s; %llu of %llu %s up when it stopped (%llu refused, %llu timed out, %llu CONNACK refused, %llu SUBACK refused, %llu at the fd limit)",
			    what, e ? e : "connection failed",
			    (unsigned long long)ok, (unsigned long long)want,
			    subs ? "subscriptions" : "connections",
			    (unsigned long long)s.refused,
			    (unsigned long long)s.timeouts,
			    (unsigned long long)s.connack_refused,
			    (unsigned long long)s.suback_refused,
			    (unsigned long long)s.fd_limit);
			return -EIO;
		}
		if (ok >= want && !failed_at)
			return 0;
		uint64_t now = rmq_bench_now();
		if (now >= next_print) {
			rmq_bench_report_connecting(cfg, what, ok, want,
			    (double)(now - t_conn0) / 1e9);
			next_print += NS;
		}
		bench_run_sleep_until(now + NS / 100);
	}
}

/* Merge tick k of every loop into res->ticks[k]; waits up to 300 ms for a
 * loop that has not written it yet. */
static void
bench_run_merge_tick(struct rmq_bench_run *run, unsigned k,
    struct rmq_bench_result *res)
{
	struct rmq_bench_tick m = { 0 };
	double p50w = 0;
	uint64_t deadline = rmq_bench_now() + 300000000ull;
	for (unsigned i = 0; i < run->nloops; i++) {
		struct rmq_bench_tick *t = &run->loops[i].ticks[k];
		while (!__atomic_load_n(&t->done, __ATOMIC_ACQUIRE) &&
		    rmq_bench_now() < deadline)
			bench_run_sleep_until(rmq_bench_now() + 1000000);
		if (!__atomic_load_n(&t->done, __ATOMIC_ACQUIRE))
			continue;
		m.sent += t->sent;
		m.delivered += t->delivered;
		m.lat_count += t->lat_count;
		p50w += (double)t->p50 * (double)t->lat_count;
		if (t->p99 > m.p99)
			m.p99 = t->p99;
		if (t->max > m.max)
			m.max = t->max;
	}
	m.p50 = m.lat_count ? (uint64_t)(p50w / (double)m.lat_count) : 0;
	m.done = 1;
	res->ticks[k] = m;
	res->nticks = k + 1;
}

static void
bench_run_sample_broker(const struct rmq_bench_cfg *cfg,
    struct rmq_bench_procstat *ps, int *ok)
{
	*ok = 0;
	if (cfg->broker_pid <= 0)
		return;
	/* Several (a cluster's nodes): their sum. */
	struct rmq_bench_procstat one;
	*ps = (struct rmq_bench_procstat){ 0 };
	for (unsigned i = 0; i < cfg->nbroker_pids; i++) {
		if (rmq_bench_procstat_sample(cfg->broker_pids[i], &one) != 0)
			return;
		ps->cpu_s += one.cpu_s;
		ps->rss += one.rss;
		ps->hwm += one.hwm;
	}
	*ok = 1;
}

static void
bench_run_tracks_sum(struct rmq_bench_run *run, struct rmq_bench_track_sum *ts)
{
	memset(ts, 0, sizeof(*ts));
	for (unsigned i = 0; i < run->nloops; i++) {
		struct rmq_bench_loop *L = &run->loops[i];
		for (uint32_t j = L->range[0]; j < L->range[1]; j++) {
			struct rmq_bench_track_table *tt = &L->conns[j].tt;
			if (tt->slot == NULL)
				continue;
			for (uint32_t s = 0; s <= tt->mask; s++)
				if (tt->slot[s].used)
					rmq_bench_track_sum_add(ts,
					    &tt->slot[s]);
		}
	}
}

/* The CPUs this process may run on, in order (--cpu-affinity auto). */
static unsigned
bench_run_cpus(int *cpus)
{
	cpu_set_t set;
	unsigned n = 0;
	if (sched_getaffinity(0, sizeof(set), &set) != 0)
		return 0;
	for (int c = 0; c < CPU_SETSIZE; c++)
		if (CPU_ISSET(c, &set))
			cpus[n++] = c;
	return n;
}

int
rmq_bench_run_exec(const struct rmq_bench_cfg *cfg,
    struct rmq_bench_result *res)
{
	int rc = 0;
	unsigned started = 0;
	uint64_t t_conn0 = 0;
	struct rmq_bench_run *run = calloc(1, sizeof(*run));
	memset(res, 0, offsetof(struct rmq_bench_result, ticks));
	rmq_bench_hist_init(&res->lat);
	rmq_bench_hist_init(&res->conn_lat);
	if (run == NULL)
		return -ENOMEM;
	run->cfg = cfg;
	if (cfg->mode == RMQ_BENCH_RUN)
		run->stamp_run = bench_run_nonce();
	rc = rmq_bench_plan_build(&run->plan, cfg, res->error,
	    sizeof(res->error));
	if (rc != 0)
		goto out_free;
	res->npubs = run->plan.npubs;
	res->nsubs = run->plan.nsubs;
	res->nconns = run->plan.nconns;
	rc = bench_run_resolve(run, res);
	if (rc != 0)
		goto out_plan;
	res->naddrs = run->naddrs;

	uint64_t nclients =
	    (uint64_t)run->plan.npubs + run->plan.nsubs + run->plan.nconns;
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	run->nloops =
	    cfg->threads ? cfg->threads : (unsigned)(ncpu > 0 ? ncpu : 1);
	if (cfg->direct != RMQ_DIRECT_OFF && run->nloops > run->plan.npubs)
		run->nloops = run->plan.npubs;
	if (run->nloops > nclients)
		run->nloops = (unsigned)nclients;
	if (run->nloops == 0)
		run->nloops = 1;
	res->nloops = run->nloops;
	if (cfg->apart && run->nloops < 2) {
		snprintf(res->error, sizeof(res->error),
		    "--apart needs two loops or more (-T)");
		rc = -EINVAL;
		goto out_plan;
	}
	bench_run_fdlimit(run, nclients + run->nloops, res);
	if (run->fd_raised && !cfg->quiet)
		fprintf(stderr,
		    "ringmq-bench: raised the file descriptor soft limit to the hard limit, %llu\n",
		    (unsigned long long)run->fd_soft);
	if (res->warning[0] && !cfg->quiet)
		fprintf(stderr, "ringmq-bench: warning: %s\n", res->warning);

	run->progress = calloc(run->plan.npubs ? run->plan.npubs : 1,
	    sizeof(*run->progress));
	run->loops = calloc(run->nloops, sizeof(*run->loops));
	if (run->progress == NULL || run->loops == NULL) {
		rc = -ENOMEM;
		snprintf(res->error, sizeof(res->error), "out of memory");
		goto out_loops;
	}
	struct rmq_bench_procstat b_base, b_conn, b0, b1;
	int b_ok = 0, b_ok1 = 0;
	bench_run_sample_broker(cfg, &b_base, &b_ok);
	if (cfg->broker_pid > 0 && !b_ok) {
		rc = -ESRCH;
		snprintf(res->error, sizeof(res->error),
		    "--broker-pid %d: cannot read /proc/%d/stat (no such process?)",
		    cfg->broker_pid, cfg->broker_pid);
		goto out_loops;
	}
	if (cfg->tls) {
		rc = rmq_bench_tls_ctx_new(cfg, &run->tls_ctx, res->error,
		    sizeof(res->error));
		if (rc != 0)
			goto out_loops;
		if (!cfg->tls_cacert && !cfg->quiet)
			fprintf(stderr,
			    "ringmq-bench: TLS without --cacert: the server certificate is not verified\n");
	}
	for (unsigned i = 0; i < run->nloops; i++) {
		rc = rmq_bench_loop_init(&run->loops[i], run, i);
		if (rc != 0) {
			snprintf(res->error, sizeof(res->error), "setup: %s",
			    run->loops[i].err[0] ? run->loops[i].err
						 : strerror(-rc));
			run->nloops = i + 1;
			goto out_loops;
		}
	}
	int cpus[CPU_SETSIZE];
	unsigned ncpus = cfg->pin ? bench_run_cpus(cpus) : 0;
	for (; started < run->nloops; started++) {
		pthread_attr_t attr;
		cpu_set_t one;
		pthread_attr_init(&attr);
		if (ncpus) {
			CPU_ZERO(&one);
			CPU_SET(rmq_bench_loop_cpu(started, cpus, ncpus), &one);
			pthread_attr_setaffinity_np(&attr, sizeof(one), &one);
		}
		rc = -pthread_create(&run->loops[started].thread, &attr,
		    rmq_bench_loop_main, &run->loops[started]);
		pthread_attr_destroy(&attr);
		if (rc != 0) {
			snprintf(res->error, sizeof(res->error),
			    "pthread_create: %s", strerror(-rc));
			goto out_stop;
		}
	}

	/* Subscribers first, then publishers, then connection-only
	 * clients: nothing is published before every receiver is there. */
	t_conn0 = rmq_bench_now();
	if (run->plan.nsubs) {
		bench_run_set_phase(run, RMQ_PH_SUBS);
		rc = bench_run_wait_up(run, "subscribing", run->plan.nsubs, 1,
		    res, t_conn0);
		if (rc != 0)
			goto out_stop;
	}
	if (run->plan.npubs) {
		bench_run_set_phase(run, RMQ_PH_PUBS);
		rc = bench_run_wait_up(run, "connecting publishers",
		    (uint64_t)run->plan.nsubs + run->plan.npubs, 0, res,
		    t_conn0);
		if (rc != 0)
			goto out_stop;
	}
	if (run->plan.nconns) {
		bench_run_set_phase(run, RMQ_PH_CONNS);
		rc = bench_run_wait_up(run, "connecting", run->plan.nconns, 0,
		    res, t_conn0);
		if (rc != 0)
			goto out_stop;
	}
	struct rmq_bench_stats s;
	bench_run_sum(run, &s);
	res->connect_s = s.last_connack_ns > t_conn0
	    ? (double)(s.last_connack_ns - t_conn0) / 1e9
	    : 0;
	int bc_ok;
	bench_run_sample_broker(cfg, &b_conn, &bc_ok);

	uint64_t now = rmq_bench_now();
	run->t_start = now;
	run->t_measure = now + (uint64_t)(cfg->warmup_s * 1e9);
	run->t_end = run->t_measure + (uint64_t)(cfg->duration_s * 1e9);
	bench_run_set_phase(run, RMQ_PH_RUN);

	int measuring = 0;
	double self0 = 0;
	unsigned k = 0;
	uint64_t limit_total = cfg->limit * run->plan.npubs;
	for (;;) {
		uint64_t tick_at = run->t_start + (uint64_t)(k + 1) * NS;
		uint64_t next = tick_at;
		if (!measuring && run->t_measure < next)
			next = run->t_measure;
		if (run->t_end < next)
			next = run->t_end;
		bench_run_sleep_until(next);
		now = rmq_bench_now();
		if (!measuring && now >= run->t_measure) {
			struct timespec wall;
			clock_gettime(CLOCK_REALTIME, &wall);
			res->window_start_unix =
			    (double)wall.tv_sec + (double)wall.tv_nsec / 1e9;
			bench_run_sample_broker(cfg, &b0, &b_ok);
			self0 = rmq_bench_procstat_self_cpu();
			measuring = 1;
		}
		if (now >= run->t_end) {
			bench_run_sample_broker(cfg, &b1, &b_ok1);
			res->self_cpu_s = rmq_bench_procstat_self_cpu() - self0;
			break;
		}
		if (now >= tick_at && k < RMQ_BENCH_MAX_TICKS) {
			bench_run_merge_tick(run, k, res);
			bench_run_sum(run, &s);
			rmq_bench_report_progress(cfg, k + 1, &res->ticks[k],
			    k ? &res->ticks[k - 1] : NULL, &s);
			k++;
		}
		bench_run_sum(run, &s);
		if (s.closed || s.proto_errors) {
			const char *e = bench_run_loop_error(run);
			snprintf(res->error, sizeof(res->error),
			    "stopped after %.1f s: %s",
			    (double)(now - run->t_start) / 1e9,
			    e ? e : "connection lost");
			rc = -EIO;
			break;
		}
		if (limit_total && s.sent >= limit_total && s.inflight == 0 &&
		    s.uniq >= s.expected) {
			/* -L reached: the window ends here. */
			bench_run_sample_broker(cfg, &b1, &b_ok1);
			res->self_cpu_s = rmq_bench_procstat_self_cpu() - self0;
			run->t_end = now;
			break;
		}
	}
	res->window_s = run->t_end > run->t_measure
	    ? (double)(run->t_end - run->t_measure) / 1e9
	    : 0;

	/* Drain: publishing has stopped; wait for the messages in flight,
	 * until everything due arrived, nothing moved for a second, or
	 * --drain seconds. */
	bench_run_set_phase(run, RMQ_PH_DRAIN);
	uint64_t drain_end = rmq_bench_now() + (uint64_t)(cfg->drain_s * 1e9);
	uint64_t last_move = rmq_bench_now(), last_uniq = UINT64_MAX;
	uint64_t last_acked = UINT64_MAX;
	while (rc == 0) {
		bench_run_sum(run, &s);
		now = rmq_bench_now();
		if (s.inflight == 0 &&
		    (run->plan.nsubs == 0 || s.uniq >= s.expected))
			break;
		if (s.uniq != last_uniq || s.acked != last_acked) {
			last_uniq = s.uniq;
			last_acked = s.acked;
			last_move = now;
		}
		if (now >= drain_end || now - last_move > NS)
			break;
		bench_run_sleep_until(now + NS / 100);
	}

out_stop:
	bench_run_set_phase(run, RMQ_PH_STOP);
	for (unsigned i = 0; i < started; i++)
		pthread_join(run->loops[i].thread, NULL);
	bench_run_sum(run, &res->st);
	if (res->connect_s == 0 && t_conn0 && res->st.last_connack_ns > t_conn0)
		res->connect_s =
		    (double)(res->st.last_connack_ns - t_conn0) / 1e9;
	for (unsigned i = 0; i < run->nloops && run->loops[i].conns; i++) {
		rmq_bench_hist_merge(&res->lat, &run->loops[i].lat);
		rmq_bench_hist_merge(&res->conn_lat, &run->loops[i].conn_lat);
	}
	if (rc == 0 && (res->st.closed || res->st.proto_errors)) {
		const char *e = bench_run_loop_error(run);
		snprintf(res->error, sizeof(res->error),
		    "connections lost while draining: %s",
		    e ? e : "closed by the peer");
		rc = -EIO;
	}
	{
		struct rmq_bench_track_sum ts;
		bench_run_tracks_sum(run, &ts);
		res->expected_known = cfg->mode == RMQ_BENCH_RUN;
		if (res->expected_known)
			res->lost = res->st.expected > res->st.uniq
			    ? res->st.expected - res->st.uniq
			    : 0;
		else
			res->lost = ts.gaps;
	}
	if (cfg->broker_pid > 0 && b_ok && b_ok1 && rc == 0) {
		res->broker_ok = 1;
		res->broker_cpu_s = b1.cpu_s - b0.cpu_s;
		res->broker_rss_base = b_base.rss;
		res->broker_rss_conn = bc_ok ? b_conn.rss : 0;
		res->broker_conn_cpu_s =
		    bc_ok ? b_conn.cpu_s - b_base.cpu_s : 0;
		res->broker_rss_end = b1.rss;
		res->broker_hwm = b1.hwm;
	}
	if (rc == 0 && res->st.behind > 0)
		snprintf(res->warning, sizeof(res->warning),
		    "%llu scheduled publishes could not go out on time (window full or socket blocked)",
		    (unsigned long long)res->st.behind);
	res->completed = rc == 0;
out_loops:
	for (unsigned i = 0; i < run->nloops && run->loops; i++)
		rmq_bench_loop_fini(&run->loops[i]);
	free(run->loops);
	free(run->progress);
	if (run->tls_ctx)
		rmq_bench_tls_ctx_free(run->tls_ctx);
out_plan:
	rmq_bench_plan_fini(&run->plan);
out_free:
	free(run);
	return rc;
}
