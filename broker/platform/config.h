/* broker/platform/config.h: the node's settings as one plain struct, and their
 * built-in defaults.  Every layer reads its own settings from it; where
 * the values come from (file, environment, flags) is options.c's
 * business, above all of them. */
#ifndef RMQ_CONFIG_H
#define RMQ_CONFIG_H

#include <sched.h>
#include <stdint.h>

#include "affinity.h"
#include "bounds.h"
#include "log.h"
#include "placement.h"

/* Which backend to use. */
enum rmq_loop_kind {
	RMQ_LOOP_AUTO = 0,
	RMQ_LOOP_URING,
	RMQ_LOOP_UV,
};

/* A listener's TLS (Mosquitto's keys of the same names); TLS is on when
 * certfile is set.  Paths are empty when not set. */
enum rmq_tls_version {
	RMQ_TLS_V12 = 0, /* TLS 1.2 and 1.3 (the default) */
	RMQ_TLS_V13, /* TLS 1.3 only */
};

struct rmq_tls_conf {
	char certfile[256], keyfile[256];
	char cafile[256], capath[256], crlfile[256], dhparamfile[256];
	char ciphers[256]; /* TLS 1.2 cipher list; empty: OpenSSL's */
	char ciphers13[256]; /* TLS 1.3 suites; empty: OpenSSL's */
	char groups[128]; /* key exchange groups; empty: OpenSSL's */
	int min_version; /* enum rmq_tls_version */
	int require_certificate;
	int use_identity_as_username;
	int use_subject_as_username;
	/* TLS-PSK: the hint sent to clients (empty: no PSK), and the
	 * settings' psk_file, copied in when the listener is opened. */
	char psk_hint[128];
	char psk_file[256];
	/* Keep OpenSSL's whole connection state after a TLS 1.3 handshake
	 * (`tls_keep_openssl_state`), rather than the traffic keys alone
	 * with io/tls_record.c protecting the records. */
	int keep_ssl;
};

/* What a listener speaks (Mosquitto's `protocol`). */
enum rmq_listen_protocol {
	RMQ_PROTO_MQTT = 0, /* MQTT straight over TCP or TLS */
	RMQ_PROTO_WEBSOCKETS, /* MQTT over WebSocket (or secure WebSocket) */
};

/* A WebSocket listener's settings. */
#define RMQ_WS_HEADERS_DEFAULT 8192 /* headers_max when not set */
struct rmq_ws_conf {
	char path[128]; /* the only path upgraded; empty: any */
	uint32_t headers_max; /* bytes of upgrade request; 0: the default */
};

/* One listener: where, and its settings (a `listener` block). */
struct rmq_listen_addr {
	char host[64];
	uint16_t port;
	int protocol; /* enum rmq_listen_protocol */
	int proxy_protocol; /* 0, or the PROXY protocol version required */
	struct rmq_tls_conf tls;
	struct rmq_ws_conf ws;
};

struct rmq_config {
	struct rmq_listen_addr listeners[RMQ_MAX_LISTENERS];
	unsigned nlisteners;
	unsigned threads; /* worker loops; 0: one per CPU the process may use */
	enum rmq_affinity_mode cpu_affinity; /* affinity.h */
	cpu_set_t cpu_list; /* with RMQ_AFFINITY_LIST */
	enum rmq_placement placement; /* placement.h */
	enum rmq_loop_kind loop;
	int log_level; /* log.h: RMQ_LOG_ERROR .. RMQ_LOG_DEBUG */
	int log_format; /* RMQ_LOG_TEXT or RMQ_LOG_JSON */
	struct rmq_log_dest log_dest; /* where log lines go (log.h) */
	int connection_messages; /* log connections (at info) */
	uint32_t shutdown_grace_ms; /* SIGTERM: time for clients to drain */
	/* Told to 5.0 clients as the Server Reference at SIGTERM (with
	 * 0x8B) and to a CONNECT while the node drains (0x9C); "": none. */
	char server_reference[256];
	/* The admin API's bearer token is this file's first line; "": none
	 * (the API then answers on a loopback admin_listener only). */
	char admin_token_file[256];
	/* HTTPS on admin_listener: its certificate and key; with a CA, every
	 * client must present a certificate of it (and the API then needs
	 * no token).  "": none. */
	char admin_tls_certfile[256], admin_tls_keyfile[256];
	char admin_tls_cafile[256];
	uint32_t max_packet_size; /* bytes, whole packet, both directions */
	uint16_t max_inflight; /* QoS 1/2 in flight to one client */
	uint16_t receive_maximum; /* QoS 1/2 in flight from one client */
	uint32_t max_queued; /* messages queued per session */
	uint32_t max_subscriptions; /* per client; 0: no limit */
	uint64_t max_queued_bytes; /* bytes queued per session */
	uint32_t max_connections; /* 0: no limit but the fd limit */
	uint16_t topic_alias_max; /* aliases a client may set */
	uint32_t connect_timeout_ms;
	uint32_t packet_timeout_ms; /* to finish a packet begun; 0: none */
	/* Longest a refused login is held back (auth/guard.h); 0: never. */
	uint32_t failed_login_delay_ms;
	/* CONNECTs per second from one source address; 0: no limit. */
	uint32_t max_connection_rate;
	/* PUBLISHes per second from one client; 0: no limit. */
	uint32_t max_publish_rate;
	/* Retained messages, and their bytes; 0: no limit. */
	uint32_t max_retained;
	uint64_t max_retained_bytes;
	/* Sessions (client identifiers) the node keeps; 0: no limit. */
	uint32_t max_sessions;
	/* Resident bytes past which new work is refused (memory.h); 0: no
	 * limit, -1: a share of the cgroup's limit. */
	int64_t memory_limit;
	/* SO_SNDBUF of client sockets; 0: the kernel's autotuning. */
	uint32_t socket_send_buffer;
	uint32_t max_session_expiry; /* seconds */
	int retain_available;
	uint8_t max_qos; /* highest QoS clients may publish (5.0 Maximum QoS) */
	int allow_zero_length_clientid;
	/* Clients that send nothing to check (auth/authn.h). */
	enum rmq_anonymous {
		RMQ_ANON_LOOPBACK = 0, /* unset: let in on loopback listeners */
		RMQ_ANON_NO,
		RMQ_ANON_YES,
	} allow_anonymous;
	char password_file[256]; /* Mosquitto's format; empty: none */
	char acl_file[256]; /* Mosquitto's format; empty: no ACL */
	char psk_file[256]; /* TLS-PSK keys (io/psk.h); empty: none */
	/* Persistence (store/persist.h): whether the node keeps its state in
	 * persistence_location, and when a change is committed to it. */
	int persistence;
	char persistence_location[256];
	enum rmq_durability {
		RMQ_DURABLE_ALWAYS = 0, /* before the acknowledgement */
		RMQ_DURABLE_INTERVAL, /* every durability_interval_ms */
	} durability;
	uint32_t durability_interval_ms;
	uint64_t persistence_max_bytes; /* the data directory's bound */
	struct rmq_listen_addr admin; /* port 0: no admin listener */
	/* The cluster (cluster/bus.h): without a cluster_listener, one
	 * node. */
	char node_name[64]; /* empty: the host name */
	struct rmq_listen_addr cluster_listener; /* host "": none */
	char cluster_advertise[64]; /* the host peers dial; "": as seen */
	char cluster_seeds[512]; /* HOST:PORT[,HOST:PORT...] */
	char cluster_dns[256]; /* NAME:PORT */
	uint32_t cluster_peer_timeout_ms;
	uint32_t cluster_dns_interval_ms;
	uint32_t cluster_forward_port; /* 0: the cluster listener's + 1 */
	uint64_t cluster_forward_queue; /* bytes waiting for one peer */
	int cluster_links; /* workers' streams on links of their loops */
	uint32_t cluster_link_port; /* 0: the forward port + 1 */
	uint32_t cluster_subscribe_wait_ms; /* SUBACK held for peers; 0: no */
	int cluster_ack; /* PUBACK/PUBREC once the peers have it */
	/* Node-to-node TLS: all three files, or none. */
	char cluster_tls_certfile[256], cluster_tls_keyfile[256];
	char cluster_tls_cafile[256];
	char cluster_tls_peer_name[128]; /* "": the CA's word is enough */
	uint32_t sys_interval; /* seconds; 0: no $SYS topics */
	uint16_t max_keepalive; /* seconds; 0: any keep alive is accepted */
	/* Response Information for 5.0 clients that ask for it, "%c" standing
	 * for the client identifier; empty: none is sent. */
	char response_info[128];
	/* The process's own (main.c): a file holding the pid while the node
	 * runs, and the user to become after binding when started as root;
	 * empty: none. */
	char pid_file[256];
	char user[64];
};

/* Defaults: loopback port 1883, one loop per CPU, limits as documented in
 * docs/configuration.md. */
void rmq_config_defaults(struct rmq_config *cfg);

#endif
