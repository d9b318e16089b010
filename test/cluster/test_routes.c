/* test/cluster/test_routes.c: routes as the cluster replicates them
 * (cluster/routes.c): this node's routes from its sessions' entries, the
 * delta, request and snapshot messages both ways and refused when
 * malformed, and a peer's routes applied in order, a gap and an old copy
 * told apart, snapshots of many parts installed by difference.  The index
 * is a recording stand-in.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "routes.h"

/* ---- the index stand-in: what was written, and the resulting set ---- */

static struct rmq_strmap held; /* filter -> qos + 1 */
static unsigned adds, removes;

static void
ix_add(void *arg, uint32_t node, const char *f, size_t len, uint8_t qos)
{
	(void)arg;
	cr_assert_eq(node, 7);
	void *old;
	cr_assert_eq(rmq_strmap_put(&held, f, len, (void *)(uintptr_t)(qos + 1),
			 &old),
	    0);
	adds++;
}

static void
ix_remove(void *arg, uint32_t node, const char *f, size_t len)
{
	(void)arg;
	cr_assert_eq(node, 7);
	cr_assert_not_null(rmq_strmap_del(&held, f, len), "%.*s was held",
	    (int)len, f);
	removes++;
}

static const struct rmq_routes_index ix = { NULL, ix_add, ix_remove };

static int
held_qos(const char *f)
{
	void *v = rmq_strmap_get(&held, f, strlen(f));
	return v ? (int)((uintptr_t)v - 1) : -1;
}

static struct rmq_local_routes local;
static struct rmq_peer_routes peer;

static void
setup(void)
{
	cr_assert_eq(rmq_strmap_init(&held), 0);
	cr_assert_eq(rmq_local_routes_init(&local), 0);
	cr_assert_eq(rmq_peer_routes_init(&peer), 0);
	adds = removes = 0;
}

static void
teardown(void)
{
	rmq_peer_routes_fini(&peer);
	rmq_local_routes_fini(&local);
	rmq_strmap_fini(&held);
}

TestSuite(routes, .init = setup, .fini = teardown);

static int
change(const char *f, int old_qos, int new_qos, enum rmq_route_op *op,
    uint8_t *qos)
{
	return rmq_local_routes_change(&local, f, strlen(f), old_qos, new_qos,
	    op, qos);
}

Test(routes, one_route_per_filter_at_the_highest_qos)
{
	enum rmq_route_op op;
	uint8_t q;
	cr_assert_eq(change("a/+", -1, 0, &op, &q), 1);
	cr_assert_eq(op, RMQ_ROUTE_PUT);
	cr_assert_eq(q, 0);
	cr_assert_eq(change("a/+", -1, 0, &op, &q), 0, "a second QoS 0");
	cr_assert_eq(change("a/+", -1, 2, &op, &q), 1);
	cr_assert_eq(q, 2, "the highest QoS now 2");
	cr_assert_eq(change("a/+", 2, 1, &op, &q), 1);
	cr_assert_eq(q, 1, "down to 1");
	cr_assert_eq(change("a/+", 0, -1, &op, &q), 0, "a QoS 0 one left");
	cr_assert_eq(change("a/+", 1, -1, &op, &q), 1);
	cr_assert_eq(q, 0, "the last QoS 0 one remains");
	cr_assert_eq(change("a/+", 0, -1, &op, &q), 1);
	cr_assert_eq(op, RMQ_ROUTE_DEL);
	cr_assert_eq(local.filters.live, 0);
	cr_assert_eq(local.seq, 5, "one number per change of the route");
	/* A shared subscription is a route of its own: the node becomes
	 * one member of the group on the others. */
	cr_assert_eq(change("$share/g/a", -1, 1, &op, &q), 1);
	cr_assert_eq(op, RMQ_ROUTE_PUT);
	cr_assert_eq(change("$share/g/a", 1, -1, &op, &q), 1);
	cr_assert_eq(op, RMQ_ROUTE_DEL);
	cr_assert_eq(change("never", 1, -1, &op, &q), 0);
}

static uint8_t msgbuf[1 << 17];

static struct rmq_delta
delta(uint64_t epoch, uint64_t seq, enum rmq_route_op op, uint8_t qos,
    const char *f)
{
	size_t n = rmq_delta_encode(msgbuf, sizeof(msgbuf), "peer", epoch, seq,
	    op, qos, f, strlen(f));
	cr_assert_gt(n, 0);
	cr_assert_eq(rmq_cluster_msg_kind(msgbuf, n), 'D');
	struct rmq_delta d;
	cr_assert_eq(rmq_delta_decode(msgbuf, n, &d), 0);
	cr_assert_str_eq(d.node, "peer");
	cr_assert_eq(d.seq, seq);
	return d;
}

/* A snapshot of the local routes, installed into the peer's. */
struct sent {
	unsigned parts;
	int installed;
	int copy; /* no newer than what the peer has: not installed */
};

static int
send_to_peer(void *arg, const uint8_t *p, size_t n)
{
	struct sent *s = arg;
	struct rmq_snap_part part;
	cr_assert_leq(n, RMQ_ROUTES_PART_MAX);
	cr_assert_eq(rmq_cluster_msg_kind(p, n), 'S');
	cr_assert_eq(rmq_snap_part_decode(p, n, &part), 0);
	cr_assert_str_eq(part.to, "me");
	cr_assert_eq(part.part, s->parts);
	s->parts++;
	int r = rmq_peer_routes_part(&peer, 7, &part, &ix);
	cr_assert_eq(r, !s->copy && part.part + 1 == part.parts ? 1 : 0);
	s->installed = r == 1;
	return 0;
}

static struct sent
snapshot(uint64_t epoch)
{
	struct sent s = { 0, 0, 0 };
	cr_assert_eq(rmq_local_routes_snapshot(&local, "peer", epoch, "me",
			 send_to_peer, &s),
	    0);
	return s;
}

Test(routes, deltas_in_order_after_a_snapshot)
{
	struct rmq_delta d = delta(5, 1, RMQ_ROUTE_PUT, 1, "x/#");
	cr_assert_eq(rmq_peer_routes_delta(&peer, 7, &d, &ix),
	    RMQ_DELTA_UNSYNCED, "nothing before a snapshot");
	struct sent s = snapshot(5); /* an empty node: one part, none */
	cr_assert_eq(s.parts, 1);
	cr_assert(s.installed);
	d = delta(5, 1, RMQ_ROUTE_PUT, 1, "x/#");
	cr_assert_eq(rmq_peer_routes_delta(&peer, 7, &d, &ix),
	    RMQ_DELTA_APPLIED);
	cr_assert_eq(held_qos("x/#"), 1);
	cr_assert_eq(rmq_peer_routes_delta(&peer, 7, &d, &ix), RMQ_DELTA_OLD,
	    "the second pipe's copy");
	d = delta(5, 3, RMQ_ROUTE_DEL, 0, "x/#");
	cr_assert_eq(rmq_peer_routes_delta(&peer, 7, &d, &ix), RMQ_DELTA_GAP);
	cr_assert_eq(peer.gaps, 1);
	cr_assert_eq(held_qos("x/#"), 1, "nothing applied past a gap");
	d = delta(5, 2, RMQ_ROUTE_PUT, 2, "x/#");
	cr_assert_eq(rmq_peer_routes_delta(&peer, 7, &d, &ix),
	    RMQ_DELTA_APPLIED);
	cr_assert_eq(held_qos("x/#"), 2);
	d = delta(5, 3, RMQ_ROUTE_DEL, 0, "x/#");
	cr_assert_eq(rmq_peer_routes_delta(&peer, 7, &d, &ix),
	    RMQ_DELTA_APPLIED);
	cr_assert_eq(held_qos("x/#"), -1);
	d = delta(6, 4, RMQ_ROUTE_PUT, 0, "y");
	cr_assert_eq(rmq_peer_routes_delta(&peer, 7, &d, &ix),
	    RMQ_DELTA_UNSYNCED, "another epoch: the node restarted");
}

Test(routes, snapshot_of_many_parts_installed_by_difference)
{
	enum rmq_route_op op;
	uint8_t q;
	char f[64];
	/* 30,000 filters of about 40 bytes: over 1 MB, several parts. */
	for (int i = 0; i < 30000; i++) {
		snprintf(f, sizeof(f), "site/%05d/building/floor/+/sensor", i);
		cr_assert_eq(change(f, -1, i % 3, &op, &q), 1);
	}
	struct sent s = snapshot(9);
	cr_assert_gt(s.parts, 3, "%u parts", s.parts);
	cr_assert(s.installed);
	cr_assert_eq(held.live, 30000);
	cr_assert_eq(peer.filters.live, 30000);
	cr_assert_eq(peer.seq, 30000);
	cr_assert_eq(held_qos("site/00005/building/floor/+/sensor"), 2);
	/* Changed: one removed, one QoS changed, one added; the next
	 * snapshot writes those three and nothing else. */
	change("site/00000/building/floor/+/sensor", 0, -1, &op, &q);
	change("site/00001/building/floor/+/sensor", 1, 2, &op, &q);
	change("new/one", -1, 1, &op, &q);
	adds = removes = 0;
	s = snapshot(9);
	cr_assert(s.installed);
	cr_assert_eq(removes, 1);
	cr_assert_eq(adds, 2);
	cr_assert_eq(held.live, 30000);
	cr_assert_eq(held_qos("site/00001/building/floor/+/sensor"), 2);
	cr_assert_eq(held_qos("new/one"), 1);
	cr_assert_eq(held_qos("site/00000/building/floor/+/sensor"), -1);
	/* The same again is a copy: nothing written. */
	adds = removes = 0;
	struct sent again = { 0, 0, 1 };
	cr_assert_eq(rmq_local_routes_snapshot(&local, "peer", 9, "me",
			 send_to_peer, &again),
	    0);
	cr_assert_eq(adds + removes, 0);
	rmq_peer_routes_clear(&peer, 7, &ix);
	cr_assert_eq(held.live, 0, "a node down: all of its routes go");
	cr_assert_eq(peer.synced, 0);
}

static int
refuse_parts(void *arg, const uint8_t *p, size_t n)
{
	(void)p, (void)n;
	unsigned *calls = arg;
	return ++*calls == 2 ? -1 : 0;
}

Test(routes, a_refused_part_stops_the_snapshot)
{
	enum rmq_route_op op;
	uint8_t q;
	char f[64];
	for (int i = 0; i < 20000; i++) {
		snprintf(f, sizeof(f), "t/%05d/aaaaaaaaaaaaaaaaaaaa/bbbbbbbbbb",
		    i);
		change(f, -1, 0, &op, &q);
	}
	unsigned calls = 0;
	cr_assert_eq(rmq_local_routes_snapshot(&local, "p", 1, "me",
			 refuse_parts, &calls),
	    -1);
	cr_assert_eq(calls, 2, "no part sent after the refused one");
}

Test(routes, messages_that_are_not_one)
{
	struct rmq_delta d;
	size_t n = rmq_delta_encode(msgbuf, sizeof(msgbuf), "p", 1, 1,
	    RMQ_ROUTE_PUT, 1, "a/#/b", 5);
	cr_assert_eq(rmq_delta_decode(msgbuf, n, &d), -1,
	    "an invalid filter is refused");
	n = rmq_delta_encode(msgbuf, sizeof(msgbuf), "p", 1, 1, RMQ_ROUTE_PUT,
	    1, "$share/g+/a", 11);
	cr_assert_eq(rmq_delta_decode(msgbuf, n, &d), -1,
	    "and a malformed shared one");
	n = rmq_delta_encode(msgbuf, sizeof(msgbuf), "p", 1, 1, RMQ_ROUTE_PUT,
	    1, "$share/g/a", 10);
	cr_assert_eq(rmq_delta_decode(msgbuf, n, &d), 0,
	    "a shared one is a route");
	n = rmq_delta_encode(msgbuf, sizeof(msgbuf), "p", 1, 1, RMQ_ROUTE_PUT,
	    3, "a", 1);
	cr_assert_eq(rmq_delta_decode(msgbuf, n, &d), -1, "QoS 3");
	n = rmq_delta_encode(msgbuf, sizeof(msgbuf), "p", 1, 1, RMQ_ROUTE_PUT,
	    1, "a/b", 3);
	for (size_t k = 0; k < n; k++)
		cr_assert_eq(rmq_delta_decode(msgbuf, k, &d), -1, "cut at %zu",
		    k);
	char from[RMQ_NODE_NAME_MAX], to[RMQ_NODE_NAME_MAX];
	n = rmq_snapreq_encode(msgbuf, sizeof(msgbuf), "a", "b");
	cr_assert_eq(rmq_snapreq_decode(msgbuf, n, from, to), 0);
	cr_assert_str_eq(from, "a");
	cr_assert_str_eq(to, "b");
	cr_assert_eq(rmq_snapreq_decode(msgbuf, n - 1, from, to), -1);
	cr_assert_eq(rmq_cluster_msg_kind((const uint8_t *)"RX\1", 3), 0);
	cr_assert_eq(rmq_cluster_msg_kind((const uint8_t *)"RQ\2", 3), 0);
	struct rmq_snap_part s;
	static const uint8_t lies[] = { 'R', 'S', 1, 1, 'a', 1, 'b', 0, 0, 0, 0,
		0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
		0, 0, 1, 0, 0, 0, 5, 1, 0, 1, 'x' };
	/* seq 0, part 0 of 1, count 5 but one entry: refused. */
	cr_assert_eq(rmq_snap_part_decode(lies, sizeof(lies), &s), -1);
}
