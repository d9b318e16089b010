/* broker/platform/config.c: the built-in defaults of every setting (config.h);
 * docs/configuration.md lists them. */
#include <stdio.h>
#include <string.h>

#include "config.h"
#include "log.h"

void
rmq_config_defaults(struct rmq_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	snprintf(cfg->listeners[0].host, sizeof(cfg->listeners[0].host),
	    "127.0.0.1");
	cfg->listeners[0].port = 1883;
	cfg->nlisteners = 1;
	cfg->max_packet_size = 16u << 20;
	cfg->max_inflight = 64;
	cfg->receive_maximum = 128;
	cfg->max_queued = 1000;
	cfg->max_queued_bytes = 64u << 20;
	cfg->memory_limit = -1; /* auto: a share of the cgroup limit */
	cfg->topic_alias_max = 64;
	cfg->connect_timeout_ms = 10000;
	cfg->max_session_expiry = 0xFFFFFFFEu;
	cfg->max_keepalive = 65535;
	cfg->retain_available = 1;
	cfg->max_qos = 2;
	cfg->max_subscriptions = 100000;
	cfg->max_retained = 1000000;
	cfg->max_retained_bytes = 1ull << 30;
	cfg->max_sessions = 1000000;
	cfg->socket_send_buffer = 256u << 10;
	cfg->packet_timeout_ms = 60000;
	cfg->failed_login_delay_ms = 10000;
	cfg->allow_zero_length_clientid = 1;
	cfg->persistence = 1;
	snprintf(cfg->persistence_location, sizeof(cfg->persistence_location),
	    "./data");
	cfg->durability = RMQ_DURABLE_ALWAYS;
	cfg->persistence_max_bytes = 64ull << 30;
	snprintf(cfg->admin.host, sizeof(cfg->admin.host), "127.0.0.1");
	cfg->admin.port = 9883;
	cfg->cluster_peer_timeout_ms = 1500;
	cfg->cluster_forward_queue = 64u << 20;
	cfg->cluster_links = 1;
	cfg->cluster_dns_interval_ms = 5000;
	cfg->sys_interval = 10;
	cfg->log_level = RMQ_LOG_INFO;
	cfg->log_format = RMQ_LOG_TEXT;
	cfg->log_dest.to = RMQ_LOG_TO_STDERR;
	cfg->log_dest.timestamp = 1;
	cfg->connection_messages = 1;
	cfg->shutdown_grace_ms = 5000;
	snprintf(cfg->response_info, sizeof(cfg->response_info),
	    "response/%%c");
}
