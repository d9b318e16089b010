/* broker/ops/metrics.h: the node's state in the Prometheus text exposition
 * format (version 0.0.4): counters summed over the workers at scrape
 * time, gauges of connections, sessions, subscriptions and retained
 * messages, build info and process metrics. */
#ifndef RMQ_METRICS_H
#define RMQ_METRICS_H

#include <stddef.h>

#include "node.h"

/* Render the exposition into a new buffer (*out, *len); the caller frees
 * it.  Any thread.  Returns 0 or -ENOMEM. */
int rmq_metrics_render(struct rmq_broker *b, char **out, size_t *len);

#endif
