/* broker/platform/placement.h: which loop takes a new connection
 * (`connection_placement`).
 *
 * With `hash`, the kernel spreads connections over the loops' listening
 * sockets by a hash of the addresses.  With `cpu` (the default), when
 * each loop is pinned to a CPU of its own, a connection goes to the loop
 * pinned to the CPU that received its handshake: the CPU where the
 * kernel goes on processing its packets (the NIC queue's CPU; on
 * loopback, the client's).  Its data is then read on the CPU the kernel
 * received it on, and the loop is woken there, without an interrupt to
 * another CPU.  Where clients crowd onto a few CPUs, a loop that holds
 * more than its share passes new connections to the least loaded loop,
 * so the loops stay within an eighth of the mean of each other (or
 * RMQ_PLACEMENT_SLACK_MIN connections, when that is more).
 */
#ifndef RMQ_PLACEMENT_H
#define RMQ_PLACEMENT_H

#include <stdint.h>

enum rmq_placement {
	RMQ_PLACE_CPU = 0, /* the loop of the receiving CPU, kept balanced */
	RMQ_PLACE_HASH, /* the kernel's hash of the addresses */
};

/* A `connection_placement` value: "cpu" or "hash".  Returns 0, or -1
 * with *out unchanged. */
int rmq_placement_parse(const char *s, enum rmq_placement *out);

/* Whether loops pinned to cpu[0..n-1] (-1: not pinned) can take
 * connections by CPU: at least two loops, each pinned to a CPU no other
 * loop has. */
int rmq_placement_by_cpu(const int *cpu, unsigned n);

/* Attach to a listening socket, the first of its SO_REUSEPORT group, the
 * program that picks the group's i-th socket for a connection received
 * on cpu[i]; a connection received on any other CPU gets the kernel's
 * hash.  The group's sockets must be bound in loop order.  Returns 0 or
 * a negative errno. */
int rmq_placement_attach(int fd, const int *cpu, unsigned n);

/* The least slack a loop is given before it passes connections on.  A
 * client that opens many connections at once from one thread lands them
 * all on one CPU for a moment; below this many, such a burst stays on
 * that loop instead of being split between loops half way through. */
#define RMQ_PLACEMENT_SLACK_MIN 256

/* The loop that should take a connection the kernel gave to loop `here`,
 * given each loop's open connections: `here`, unless it holds `slack` or
 * more connections than the least loaded loop (slack: an eighth of the
 * mean, at least RMQ_PLACEMENT_SLACK_MIN), in which case the least
 * loaded one. */
unsigned
rmq_placement_balance(const uint32_t *nconns, unsigned n, unsigned here);

#endif
