/* broker/ops/sys.c: $SYS topics (see sys.h).
 *
 * Worker 0 publishes them from its tick through the ordinary message path,
 * retained, with its own key as origin.  Counts are the same per-worker
 * counters /metrics sums; loads are per-minute rates over the last
 * interval.  Clients cannot publish under $SYS/ (publish.c), and '#' or
 * '+' at the first level never match it [MQTT-4.7.2-1].
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "registry.h"
#include "retain.h"
#include "rmq_config.h"
#include "sys.h"
#include "worker.h"

static void sys_publish(struct rmq_worker *w, const char *topic,
    const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static void
sys_publish(struct rmq_worker *w, const char *topic, const char *fmt, ...)
{
	char payload[128];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(payload, sizeof(payload), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(payload))
		return;
	struct rmq_publish pub = {
		.retain = 1,
		.topic = { topic, (uint32_t)strlen(topic) },
		.payload = { payload, (uint32_t)n },
	};
	struct rmq_msg *m = rmq_msg_new(&pub, 0, w->loop->now_ms);
	if (m == NULL)
		return;
	rmq_route(w, m);
	rmq_msg_rele(m);
}

void
rmq_sys_tick(struct rmq_worker *w)
{
	struct rmq_broker *b = w->b;
	uint64_t now = w->loop->now_ms;
	if (w->cfg.sys_interval == 0 || now < b->sys_next_ms)
		return;
	uint64_t elapsed = b->sys_last_ms ? now - b->sys_last_ms : 0;
	b->sys_next_ms = now + (uint64_t)w->cfg.sys_interval * 1000u;
	b->sys_last_ms = now;

	uint64_t in = rmq_workers_sum(b, RMQ_STAT(pkts_in[RMQ_PUBLISH])),
		 out = rmq_workers_sum(b, RMQ_STAT(pkts_out[RMQ_PUBLISH]));
	uint64_t bin = rmq_workers_sum(b, RMQ_STAT(bytes_in)),
		 bout = rmq_workers_sum(b, RMQ_STAT(bytes_out));
	uint64_t sessions = rmq_workers_sum(b, RMQ_STAT(sessions));
	uint64_t connected = atomic_load(&b->connections);

	sys_publish(w, "$SYS/broker/version", "ringmq %s", RMQ_VERSION);
	sys_publish(w, "$SYS/broker/uptime", "%llu seconds",
	    (unsigned long long)((now - b->start_ms) / 1000u));
	sys_publish(w, "$SYS/broker/clients/connected", "%llu",
	    (unsigned long long)connected);
	sys_publish(w, "$SYS/broker/clients/total", "%llu",
	    (unsigned long long)sessions);
	sys_publish(w, "$SYS/broker/clients/disconnected", "%llu",
	    (unsigned long long)(sessions > connected ? sessions - connected
						      : 0));
	sys_publish(w, "$SYS/broker/messages/received", "%llu",
	    (unsigned long long)in);
	sys_publish(w, "$SYS/broker/messages/sent", "%llu",
	    (unsigned long long)out);
	sys_publish(w, "$SYS/broker/bytes/received", "%llu",
	    (unsigned long long)bin);
	sys_publish(w, "$SYS/broker/bytes/sent", "%llu",
	    (unsigned long long)bout);
	sys_publish(w, "$SYS/broker/subscriptions/count", "%zu",
	    rmq_index_count(b->index));
	sys_publish(w, "$SYS/broker/retained messages/count", "%zu",
	    rmq_retain_count(b->retain));
	if (elapsed) {
		/* Per-minute rates over the interval just ended. */
		double k = 60000.0 / (double)elapsed;
		sys_publish(w, "$SYS/broker/load/messages/received/1min",
		    "%.2f", (double)(in - b->sys_prev_in) * k);
		sys_publish(w, "$SYS/broker/load/messages/sent/1min", "%.2f",
		    (double)(out - b->sys_prev_out) * k);
		sys_publish(w, "$SYS/broker/load/bytes/received/1min", "%.2f",
		    (double)(bin - b->sys_prev_bin) * k);
		sys_publish(w, "$SYS/broker/load/bytes/sent/1min", "%.2f",
		    (double)(bout - b->sys_prev_bout) * k);
	}
	b->sys_prev_in = in;
	b->sys_prev_out = out;
	b->sys_prev_bin = bin;
	b->sys_prev_bout = bout;
}
