/* bench/report.c: progress lines, the summary and the JSON object of a
 * run (see report.h).  Latencies are kept in nanoseconds and shown in
 * microseconds; rates are per second of the measured window.
 */
#include "report.h"

#include <string.h>
#include <unistd.h>

#include "hist.h"

FILE *
rmq_bench_report_stream(const struct rmq_bench_cfg *cfg)
{
	return cfg->json && strcmp(cfg->json, "-") == 0 ? stderr : stdout;
}

static int
bench_report_live(const struct rmq_bench_cfg *cfg)
{
	return !cfg->quiet && isatty(fileno(rmq_bench_report_stream(cfg)));
}

void
rmq_bench_report_connecting(const struct rmq_bench_cfg *cfg, const char *what,
    unsigned long long up, unsigned long long want, double elapsed_s)
{
	if (!bench_report_live(cfg))
		return;
	fprintf(rmq_bench_report_stream(cfg), "%6.1fs %s: %llu/%llu up\n",
	    elapsed_s, what, up, want);
}

void
rmq_bench_report_progress(const struct rmq_bench_cfg *cfg, unsigned sec,
    const struct rmq_bench_tick *t, const struct rmq_bench_tick *prev,
    const struct rmq_bench_stats *s)
{
	if (!bench_report_live(cfg))
		return;
	uint64_t sent = t->sent - (prev ? prev->sent : 0);
	uint64_t dlv = t->delivered - (prev ? prev->delivered : 0);
	uint64_t errs = s->closed + s->proto_errors + s->other_errors;
	fprintf(rmq_bench_report_stream(cfg),
	    "%5us sent %10llu/s  recv %10llu/s  p50 %8.1fus  p99 %8.1fus  "
	    "dup %llu ooo %llu  errors %llu%s\n",
	    sec, (unsigned long long)sent, (unsigned long long)dlv,
	    (double)t->p50 / 1e3, (double)t->p99 / 1e3,
	    (unsigned long long)s->dup, (unsigned long long)s->ooo,
	    (unsigned long long)errs,
	    (double)sec <= cfg->warmup_s ? "  (warm-up)" : "");
}

static const char *
bench_report_what(const struct rmq_bench_cfg *cfg)
{
	switch (cfg->mode) {
	case RMQ_BENCH_PUB: return "pub";
	case RMQ_BENCH_SUB: return "sub";
	case RMQ_BENCH_CONN: return "conn";
	default: return rmq_bench_scenario_name(cfg->scenario);
	}
}

static double
bench_report_rate(uint64_t n, double s)
{
	return s > 0 ? (double)n / s : 0;
}

void
rmq_bench_report_summary(FILE *f, const struct rmq_bench_cfg *cfg,
    const struct rmq_bench_result *r)
{
	const struct rmq_bench_stats *s = &r->st;
	fprintf(f,
	    "\nringmq-bench %s%s: %u publishers, %u subscribers, %u "
	    "connections, QoS %u, %u-byte payload, MQTT level %u%s, %u "
	    "threads%s%s\n",
	    bench_report_what(cfg),
	    cfg->direct == RMQ_DIRECT_UNIX      ? " --direct=unix"
		: cfg->direct == RMQ_DIRECT_TCP ? " --direct=tcp"
						: "",
	    r->npubs, r->nsubs, r->nconns, cfg->qos, cfg->size, cfg->version,
	    cfg->ws && cfg->tls ? " over secure WebSocket"
		: cfg->ws       ? " over WebSocket"
		: cfg->tls      ? " over TLS"
				: "",
	    r->nloops, cfg->pin ? " (pinned, one per CPU)" : "",
	    cfg->apart ? ", publishers apart from their subscribers" : "");
	fprintf(f, "  result       %s\n",
	    r->completed ? "completed" : "NOT completed");
	if (!r->completed)
		fprintf(f, "  error        %s\n", r->error);
	if (r->warning[0])
		fprintf(f, "  warning      %s\n", r->warning);
	fprintf(f, "  connections  %llu up of %llu started in %.3f s (%.0f/s)",
	    (unsigned long long)s->conn_ok, (unsigned long long)s->conn_started,
	    r->connect_s, bench_report_rate(s->conn_ok, r->connect_s));
	if (r->conn_lat.count)
		fprintf(f,
		    ", connect latency p50 %.2f ms p99 %.2f ms max "
		    "%.2f ms",
		    (double)rmq_bench_hist_percentile(&r->conn_lat, 50) / 1e6,
		    (double)rmq_bench_hist_percentile(&r->conn_lat, 99) / 1e6,
		    (double)r->conn_lat.max / 1e6);
	if (s->tls_resumed)
		fprintf(f, ", TLS sessions resumed %llu",
		    (unsigned long long)s->tls_resumed);
	fprintf(f, "\n");
	if (s->conn_failed)
		fprintf(f,
		    "  failures     %llu (refused %llu, timeouts %llu, "
		    "CONNACK refused %llu, SUBACK refused %llu, fd "
		    "limit %llu)\n",
		    (unsigned long long)s->conn_failed,
		    (unsigned long long)s->refused,
		    (unsigned long long)s->timeouts,
		    (unsigned long long)s->connack_refused,
		    (unsigned long long)s->suback_refused,
		    (unsigned long long)s->fd_limit);
	if (r->npubs || r->nsubs) {
		fprintf(f,
		    "  window       %.2f s measured after %.2f s "
		    "warm-up\n",
		    r->window_s, cfg->warmup_s);
		fprintf(f, "  sent         %llu (%.0f msg/s in the window)\n",
		    (unsigned long long)s->sent,
		    bench_report_rate(s->sent_win, r->window_s));
		fprintf(f, "  delivered    %llu (%.0f msg/s in the window)",
		    (unsigned long long)s->delivered,
		    bench_report_rate(s->delivered_win, r->window_s));
		if (r->expected_known)
			fprintf(f, ", expected %llu",
			    (unsigned long long)s->expected);
		fprintf(f, "\n  lost %llu, duplicated %llu, out of order %llu",
		    (unsigned long long)r->lost, (unsigned long long)s->dup,
		    (unsigned long long)s->ooo);
		if (s->foreign || s->untracked)
			fprintf(f, ", unstamped %llu, untracked %llu",
			    (unsigned long long)s->foreign,
			    (unsigned long long)s->untracked);
		fprintf(f, "\n");
		if (r->lat.count)
			fprintf(f,
			    "  latency us   p50 %.1f  p90 %.1f  p99 %.1f  "
			    "p99.9 %.1f  max %.1f  (mean %.1f, %llu "
			    "samples)\n",
			    (double)rmq_bench_hist_percentile(&r->lat, 50) /
				1e3,
			    (double)rmq_bench_hist_percentile(&r->lat, 90) /
				1e3,
			    (double)rmq_bench_hist_percentile(&r->lat, 99) /
				1e3,
			    (double)rmq_bench_hist_percentile(&r->lat, 99.9) /
				1e3,
			    (double)r->lat.max / 1e3,
			    rmq_bench_hist_mean(&r->lat) / 1e3,
			    (unsigned long long)r->lat.count);
	}
	if (r->broker_ok) {
		fprintf(f, "  broker       pid %d: %.2f CPU s in the window",
		    cfg->broker_pid, r->broker_cpu_s);
		if (s->delivered_win)
			fprintf(f, " (%.3f CPU-us per delivered message)",
			    r->broker_cpu_s * 1e6 / (double)s->delivered_win);
		fprintf(f, ", RSS %.1f MiB",
		    (double)r->broker_rss_end / 1048576.0);
		uint64_t conns = s->conn_ok;
		if (conns && r->broker_rss_conn > r->broker_rss_base)
			fprintf(f, " (%.0f bytes per connection)",
			    (double)(r->broker_rss_conn - r->broker_rss_base) /
				(double)conns);
		if (conns)
			fprintf(f,
			    "; connecting: %.2f CPU s, %.1f CPU-us per connection",
			    r->broker_conn_cpu_s,
			    r->broker_conn_cpu_s * 1e6 / (double)conns);
		fprintf(f, "\n");
	}
	fprintf(f, "  this tool    %.2f CPU s in the window", r->self_cpu_s);
	if (s->delivered_win)
		fprintf(f, " (%.3f CPU-us per delivered message)",
		    r->self_cpu_s * 1e6 / (double)s->delivered_win);
	fprintf(f, "\n");
}

static void
bench_report_str(FILE *f, const char *s)
{
	fputc('"', f);
	for (; s && *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (c == '"' || c == '\\')
			fprintf(f, "\\%c", c);
		else if (c < 0x20)
			fprintf(f, "\\u%04x", c);
		else
			fputc(c, f);
	}
	fputc('"', f);
}

static void
bench_report_lat(FILE *f, const char *key, const struct rmq_bench_hist *h,
    double div)
{
	fprintf(f,
	    "\"%s\":{\"count\":%llu,\"p50\":%.3f,\"p90\":%.3f,"
	    "\"p99\":%.3f,\"p999\":%.3f,\"max\":%.3f,\"mean\":%.3f}",
	    key, (unsigned long long)h->count,
	    (double)rmq_bench_hist_percentile(h, 50) / div,
	    (double)rmq_bench_hist_percentile(h, 90) / div,
	    (double)rmq_bench_hist_percentile(h, 99) / div,
	    (double)rmq_bench_hist_percentile(h, 99.9) / div,
	    (double)(h->count ? h->max : 0) / div,
	    rmq_bench_hist_mean(h) / div);
}

void
rmq_bench_report_json(FILE *f, const struct rmq_bench_cfg *cfg,
    const struct rmq_bench_result *r)
{
	const struct rmq_bench_stats *s = &r->st;
	double w = r->window_s;
	fprintf(f, "{\"tool\":\"ringmq-bench\",\"command\":");
	bench_report_str(f,
	    cfg->mode == RMQ_BENCH_RUN ? "run" : bench_report_what(cfg));
	fprintf(f, ",\"scenario\":");
	bench_report_str(f, bench_report_what(cfg));
	fprintf(f, ",\"direct\":");
	bench_report_str(f,
	    cfg->direct == RMQ_DIRECT_UNIX      ? "unix"
		: cfg->direct == RMQ_DIRECT_TCP ? "tcp"
						: "off");
	if (cfg->shard_n)
		fprintf(f, ",\"shard\":{\"index\":%u,\"of\":%u}", cfg->shard_i,
		    cfg->shard_n);
	else
		fprintf(f, ",\"shard\":null");
	fprintf(f, ",\"hosts\":[");
	for (unsigned i = 0; i < cfg->nhosts; i++) {
		if (i)
			fputc(',', f);
		bench_report_str(f, cfg->hosts[i]);
	}
	fprintf(f, "],\"addresses\":%u", r->naddrs);
	fprintf(f,
	    ",\"port\":%u,\"publishers\":%u,\"subscribers\":%u,"
	    "\"connections\":%u,\"qos\":%u,\"size\":%u,"
	    "\"protocol\":%u,\"transport\":\"%s\",\"interval_ms\":%g,"
	    "\"arrival\":\"%s\","
	    "\"inflight\":%u,"
	    "\"threads\":%u,\"cpu_affinity\":\"%s\",\"apart\":%s,"
	    "\"warmup_s\":%g,\"duration_s\":%g,",
	    cfg->port, r->npubs, r->nsubs, r->nconns, cfg->qos, cfg->size,
	    cfg->version,
	    cfg->ws && cfg->tls ? "wss"
		: cfg->ws       ? "ws"
		: cfg->tls      ? "tls"
				: "tcp",
	    cfg->interval_ms, rmq_bench_arrival_name(cfg->arrival),
	    cfg->inflight, r->nloops, cfg->pin ? "auto" : "none",
	    cfg->apart ? "true" : "false", cfg->warmup_s, cfg->duration_s);
	fprintf(f,
	    "\"completed\":%s,\"error\":", r->completed ? "true" : "false");
	if (r->completed)
		fprintf(f, "null");
	else
		bench_report_str(f, r->error);
	fprintf(f, ",\"warning\":");
	if (r->warning[0])
		bench_report_str(f, r->warning);
	else
		fprintf(f, "null");
	fprintf(f,
	    ",\"window_start_unix\":%.6f,"
	    "\"window_s\":%.6f,\"sent\":%llu,\"sent_in_window\":%llu,"
	    "\"delivered\":%llu,\"delivered_in_window\":%llu,"
	    "\"unique\":%llu,",
	    r->window_start_unix, w, (unsigned long long)s->sent,
	    (unsigned long long)s->sent_win, (unsigned long long)s->delivered,
	    (unsigned long long)s->delivered_win, (unsigned long long)s->uniq);
	if (r->expected_known)
		fprintf(f, "\"expected\":%llu,",
		    (unsigned long long)s->expected);
	else
		fprintf(f, "\"expected\":null,");
	fprintf(f,
	    "\"lost\":%llu,\"duplicated\":%llu,\"out_of_order\":%llu,"
	    "\"unstamped\":%llu,\"untracked\":%llu,\"acked\":%llu,"
	    "\"behind_schedule\":%llu,",
	    (unsigned long long)r->lost, (unsigned long long)s->dup,
	    (unsigned long long)s->ooo, (unsigned long long)s->foreign,
	    (unsigned long long)s->untracked, (unsigned long long)s->acked,
	    (unsigned long long)s->behind);
	fprintf(f, "\"sent_per_s\":%.1f,\"delivered_per_s\":%.1f,",
	    bench_report_rate(s->sent_win, w),
	    bench_report_rate(s->delivered_win, w));
	bench_report_lat(f, "latency_us", &r->lat, 1e3);
	fprintf(f, ",\"latency_percentiles_us\":[");
	static const double pct[] = { 0, 10, 20, 30, 40, 50, 60, 70, 75, 80, 85,
		90, 95, 97, 98, 99, 99.5, 99.9, 99.95, 99.99, 99.999, 100 };
	for (size_t i = 0; i < sizeof(pct) / sizeof(pct[0]); i++)
		fprintf(f, "%s[%g,%.3f]", i ? "," : "", pct[i],
		    (double)(r->lat.count
			    ? rmq_bench_hist_percentile(&r->lat, pct[i])
			    : 0) /
			1e3);
	/* The histogram itself, so that shards' runs merge exactly
	 * (bench/merge): each bucket that counted, as its upper bound. */
	fprintf(f,
	    "],\"latency_hist_ns\":{\"count\":%llu,\"sum\":%llu,"
	    "\"min\":%llu,\"max\":%llu,\"buckets\":[",
	    (unsigned long long)r->lat.count, (unsigned long long)r->lat.sum,
	    (unsigned long long)(r->lat.count ? r->lat.min : 0),
	    (unsigned long long)r->lat.max);
	int first = 1;
	for (unsigned i = 0; i < RMQ_BENCH_HIST_BUCKETS; i++) {
		if (r->lat.b[i] == 0)
			continue;
		fprintf(f, "%s[%llu,%llu]", first ? "" : ",",
		    (unsigned long long)rmq_bench_hist_bucket_high(i),
		    (unsigned long long)r->lat.b[i]);
		first = 0;
	}
	fprintf(f,
	    "]},\"connect\":{\"started\":%llu,\"connected\":%llu,"
	    "\"failed\":%llu,\"refused\":%llu,\"timeouts\":%llu,"
	    "\"connack_refused\":%llu,\"suback_refused\":%llu,"
	    "\"fd_limit\":%llu,\"tls_resumed\":%llu,\"seconds\":%.6f,"
	    "\"rate_per_s\":%.1f,",
	    (unsigned long long)s->conn_started, (unsigned long long)s->conn_ok,
	    (unsigned long long)s->conn_failed, (unsigned long long)s->refused,
	    (unsigned long long)s->timeouts,
	    (unsigned long long)s->connack_refused,
	    (unsigned long long)s->suback_refused,
	    (unsigned long long)s->fd_limit, (unsigned long long)s->tls_resumed,
	    r->connect_s, bench_report_rate(s->conn_ok, r->connect_s));
	bench_report_lat(f, "latency_ms", &r->conn_lat, 1e6);
	fprintf(f,
	    "},\"fd_limit\":{\"soft\":%llu,\"hard\":%llu,\"raised\":%s},",
	    (unsigned long long)r->fd_soft, (unsigned long long)r->fd_hard,
	    r->fd_raised ? "true" : "false");
	fprintf(f, "\"broker\":");
	if (r->broker_ok) {
		uint64_t conns = s->conn_ok;
		double per_conn =
		    conns && r->broker_rss_conn > r->broker_rss_base
		    ? (double)(r->broker_rss_conn - r->broker_rss_base) /
			(double)conns
		    : 0;
		fprintf(f,
		    "{\"pid\":%d,\"cpu_s\":%.4f,\"cpu_us_per_msg\":%.4f,"
		    "\"rss_base_bytes\":%llu,\"rss_connected_bytes\":%llu,"
		    "\"rss_end_bytes\":%llu,\"rss_peak_bytes\":%llu,"
		    "\"rss_per_conn_bytes\":%.1f,\"connect_cpu_s\":%.4f,"
		    "\"cpu_us_per_conn\":%.2f}",
		    cfg->broker_pid, r->broker_cpu_s,
		    s->delivered_win
			? r->broker_cpu_s * 1e6 / (double)s->delivered_win
			: 0,
		    (unsigned long long)r->broker_rss_base,
		    (unsigned long long)r->broker_rss_conn,
		    (unsigned long long)r->broker_rss_end,
		    (unsigned long long)r->broker_hwm, per_conn,
		    r->broker_conn_cpu_s,
		    conns ? r->broker_conn_cpu_s * 1e6 / (double)conns : 0);
	} else {
		fprintf(f, "null");
	}
	fprintf(f, ",\"self\":{\"cpu_s\":%.4f,\"cpu_us_per_msg\":%.4f},",
	    r->self_cpu_s,
	    s->delivered_win ? r->self_cpu_s * 1e6 / (double)s->delivered_win
			     : 0);
	fprintf(f, "\"series\":[");
	for (unsigned k = 0; k < r->nticks; k++) {
		const struct rmq_bench_tick *t = &r->ticks[k];
		const struct rmq_bench_tick *p = k ? &r->ticks[k - 1] : NULL;
		fprintf(f,
		    "%s{\"t\":%u,\"sent\":%llu,\"delivered\":%llu,"
		    "\"p50_us\":%.3f,\"p99_us\":%.3f,\"max_us\":%.3f}",
		    k ? "," : "", k + 1,
		    (unsigned long long)(t->sent - (p ? p->sent : 0)),
		    (unsigned long long)(t->delivered - (p ? p->delivered : 0)),
		    (double)t->p50 / 1e3, (double)t->p99 / 1e3,
		    (double)t->max / 1e3);
	}
	fprintf(f, "]}\n");
	fflush(f);
}
