/* cluster/members.h: the nodes of the cluster as this node knows them, and
 * the heartbeat they learn each other from.
 *
 * Every node sends a heartbeat (a hello) on the cluster bus at a fixed
 * interval: its name, its epoch (new at every start, so a restart is told
 * from a node that was only silent), the port of its cluster listener and,
 * once a second, the members it knows, so that a node that knows one seed
 * comes to know them all.  A member silent for the peer timeout is down;
 * a hello from it brings it back.  Pure bookkeeping: no I/O, no clock of
 * its own, no threads (bus.c drives it), so tests run it as it is.
 */
#ifndef RMQ_MEMBERS_H
#define RMQ_MEMBERS_H

#include <stddef.h>
#include <stdint.h>

#define RMQ_MEMBERS_MAX 256 /* nodes one cluster may have */
#define RMQ_NODE_NAME_MAX 64 /* with its NUL */
#define RMQ_NODE_URL_MAX 128 /* tcp://HOST:PORT, with its NUL */
#define RMQ_HELLO_MAX                                                          \
	(16 + RMQ_NODE_NAME_MAX + RMQ_NODE_URL_MAX +                           \
	    RMQ_MEMBERS_MAX * (2 + RMQ_NODE_NAME_MAX + RMQ_NODE_URL_MAX))

enum rmq_member_state {
	RMQ_MEMBER_UP = 1,
	RMQ_MEMBER_DOWN,
};

struct rmq_member {
	char name[RMQ_NODE_NAME_MAX];
	char url[RMQ_NODE_URL_MAX]; /* where its cluster listener is */
	uint64_t epoch;
	uint64_t heard_ms; /* its last hello */
	uint32_t number; /* 1..: this node's number for it (cluster.h) */
	uint8_t state;
	uint8_t bye; /* it said it leaves (this epoch): its hellos ignored */
};

struct rmq_members {
	char self[RMQ_NODE_NAME_MAX];
	uint64_t epoch;
	uint32_t timeout_ms; /* silence after which a member is down */
	unsigned n;
	struct rmq_member m[RMQ_MEMBERS_MAX];
	/* Counts since start, for metrics. */
	uint64_t joins, departures, restarts;
};

/* A hello as sent and read. */
struct rmq_hello_peer {
	char name[RMQ_NODE_NAME_MAX];
	char url[RMQ_NODE_URL_MAX];
};

struct rmq_hello {
	char name[RMQ_NODE_NAME_MAX];
	/* What to dial (room left for tcp:// and :PORT); "": the address
	 * seen. */
	char host[RMQ_NODE_URL_MAX - 16];
	uint64_t epoch;
	uint16_t port;
	unsigned npeers; /* members it lists (up ones), 0 when it lists none */
	struct rmq_hello_peer peers[RMQ_MEMBERS_MAX];
	uint64_t seq; /* the sender's last route delta (routes.h) */
	uint16_t fport; /* its channel's port (channel.h); 0: none */
	uint16_t lport; /* its links' port (link.h); 0: none */
};

/* Encode h into buf (RMQ_HELLO_MAX bytes are always enough): its length,
 * or 0 if cap is too small. */
size_t rmq_hello_encode(const struct rmq_hello *h, uint8_t *buf, size_t cap);

/* Decode a hello: 0, or -1 when the bytes are not one (wrong magic or
 * version, a length past the end, a name that is empty or too long). */
int rmq_hello_decode(const uint8_t *p, size_t n, struct rmq_hello *h);

enum rmq_member_event {
	RMQ_MEMBER_SAME = 0,
	RMQ_MEMBER_JOINED, /* new, or up again after being down */
	RMQ_MEMBER_RESTARTED, /* up, and now with another epoch */
	RMQ_MEMBER_LEFT, /* silent past the timeout */
};

void rmq_members_init(struct rmq_members *t, const char *self, uint64_t epoch,
    uint32_t timeout_ms);

/* A hello from `name` (not this node) at `url`, heard at now_ms.  *out is
 * the member (NULL when the table is full, or when the member said it
 * leaves, in that epoch).  Returns what changed. */
enum rmq_member_event rmq_members_heard(struct rmq_members *t, const char *name,
    uint64_t epoch, const char *url, uint64_t now_ms, struct rmq_member **out);

/* Members silent past the timeout at now_ms go down; each is handed to
 * cb.  Returns how many went down. */
unsigned rmq_members_expire(struct rmq_members *t, uint64_t now_ms,
    void (*cb)(void *arg, struct rmq_member *m), void *arg);

/* m (up) says it leaves the cluster: down at once, handed to cb; hellos
 * of its epoch that come after are not taken for a return. */
void rmq_members_bye(struct rmq_members *t, struct rmq_member *m,
    void (*cb)(void *arg, struct rmq_member *m), void *arg);

/* The member called name, or NULL. */
struct rmq_member *rmq_members_find(struct rmq_members *t, const char *name);

/* Members up now. */
unsigned rmq_members_up(const struct rmq_members *t);

/* List the members that are up into h's peers. */
void rmq_members_list(const struct rmq_members *t, struct rmq_hello *h);

#endif
