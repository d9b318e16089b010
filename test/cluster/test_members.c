/* test/cluster/test_members.c: the member table (cluster/members.c): joins,
 * restarts told by the epoch, departures after the timeout and returns,
 * stable node numbers, a full table; and the hello's wire form, both ways
 * and against bytes that are not one.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "members.h"

static struct rmq_members t;

static void
setup(void)
{
	rmq_members_init(&t, "self", 7, 1500);
}

TestSuite(members, .init = setup);

static enum rmq_member_event
heard(const char *name, uint64_t epoch, uint64_t now)
{
	struct rmq_member *m;
	enum rmq_member_event ev =
	    rmq_members_heard(&t, name, epoch, "tcp://127.0.0.1:1", now, &m);
	cr_assert_not_null(m);
	cr_assert_str_eq(m->name, name);
	return ev;
}

static int downs;

static void
count_down(void *arg, struct rmq_member *m)
{
	(void)arg;
	cr_assert_eq(m->state, RMQ_MEMBER_DOWN);
	downs++;
}

Test(members, join_same_restart)
{
	cr_assert_eq(heard("a", 1, 100), RMQ_MEMBER_JOINED);
	cr_assert_eq(heard("a", 1, 200), RMQ_MEMBER_SAME);
	cr_assert_eq(heard("b", 5, 200), RMQ_MEMBER_JOINED);
	cr_assert_eq(heard("a", 2, 300), RMQ_MEMBER_RESTARTED);
	cr_assert_eq(heard("a", 2, 400), RMQ_MEMBER_SAME);
	cr_assert_eq(t.joins, 2);
	cr_assert_eq(t.restarts, 1);
	cr_assert_eq(rmq_members_up(&t), 2);
}

Test(members, silent_past_the_timeout_is_down_then_back)
{
	heard("a", 1, 1000);
	heard("b", 1, 1000);
	downs = 0;
	cr_assert_eq(rmq_members_expire(&t, 2500, count_down, NULL), 0,
	    "1500 ms of silence is not yet past the timeout");
	heard("b", 1, 2000);
	cr_assert_eq(rmq_members_expire(&t, 2501, count_down, NULL), 1);
	cr_assert_eq(downs, 1);
	cr_assert_eq(rmq_members_find(&t, "a")->state, RMQ_MEMBER_DOWN);
	cr_assert_eq(rmq_members_find(&t, "b")->state, RMQ_MEMBER_UP);
	cr_assert_eq(rmq_members_expire(&t, 2600, count_down, NULL), 0,
	    "down once");
	cr_assert_eq(t.departures, 1);
	/* Back, with the same epoch or a new one: joined either way. */
	cr_assert_eq(heard("a", 1, 3000), RMQ_MEMBER_JOINED);
	cr_assert_eq(t.joins, 3);
	cr_assert_eq(t.restarts, 0);
}

/* A member that says it leaves is down at once; a hello of that life
 * that was on its way is not a return, a new life's is. */
Test(members, a_bye_is_down_at_once_and_stays)
{
	heard("a", 4, 1000);
	downs = 0;
	rmq_members_bye(&t, rmq_members_find(&t, "a"), count_down, NULL);
	cr_assert_eq(downs, 1);
	cr_assert_eq(t.departures, 1);
	cr_assert_eq(rmq_members_up(&t), 0);
	struct rmq_member *m;
	cr_assert_eq(rmq_members_heard(&t, "a", 4, "tcp://127.0.0.1:1", 1100,
			 &m),
	    RMQ_MEMBER_SAME);
	cr_assert_null(m, "a hello sent before the bye is not taken");
	cr_assert_eq(rmq_members_up(&t), 0);
	cr_assert_eq(rmq_members_expire(&t, 9000, count_down, NULL), 0,
	    "down once");
	cr_assert_eq(heard("a", 5, 1200), RMQ_MEMBER_JOINED);
	cr_assert_eq(rmq_members_up(&t), 1);
	/* Its next life may leave again; a bye for a member down is none. */
	rmq_members_bye(&t, rmq_members_find(&t, "a"), count_down, NULL);
	rmq_members_bye(&t, rmq_members_find(&t, "a"), count_down, NULL);
	cr_assert_eq(downs, 2);
}

Test(members, numbers_stay_with_names)
{
	heard("a", 1, 0);
	heard("b", 1, 0);
	uint32_t na = rmq_members_find(&t, "a")->number;
	uint32_t nb = rmq_members_find(&t, "b")->number;
	cr_assert_neq(na, 0);
	cr_assert_neq(na, nb);
	rmq_members_expire(&t, 10000, NULL, NULL);
	heard("a", 9, 10001);
	cr_assert_eq(rmq_members_find(&t, "a")->number, na,
	    "the same number after a departure and a restart");
	cr_assert_null(rmq_members_find(&t, "c"));
}

Test(members, a_full_table_takes_no_more)
{
	char name[16];
	for (int i = 0; i < RMQ_MEMBERS_MAX; i++) {
		snprintf(name, sizeof(name), "n%d", i);
		heard(name, 1, 0);
	}
	struct rmq_member *m;
	cr_assert_eq(rmq_members_heard(&t, "one-more", 1, "tcp://x:1", 0, &m),
	    RMQ_MEMBER_SAME);
	cr_assert_null(m);
	cr_assert_eq(t.n, RMQ_MEMBERS_MAX);
	cr_assert_eq(rmq_members_heard(&t, "n3", 2, "tcp://x:1", 0, &m),
	    RMQ_MEMBER_RESTARTED, "members already known are still heard");
}

Test(members, list_holds_members_up)
{
	heard("a", 1, 0);
	heard("b", 1, 5000);
	rmq_members_expire(&t, 6000, NULL, NULL);
	static struct rmq_hello h;
	rmq_members_list(&t, &h);
	cr_assert_eq(h.npeers, 1);
	cr_assert_str_eq(h.peers[0].name, "b");
	cr_assert_str_eq(h.peers[0].url, "tcp://127.0.0.1:1");
}

static struct rmq_hello in, out;
static uint8_t buf[RMQ_HELLO_MAX];

Test(hello, both_ways)
{
	memset(&in, 0, sizeof(in));
	strcpy(in.name, "ringmq-0");
	strcpy(in.host, "ringmq-0.ringmq-headless.default.svc.cluster.local");
	in.epoch = 0x0102030405060708ull;
	in.port = 7400;
	in.fport = 7401;
	in.lport = 7402;
	in.npeers = 2;
	strcpy(in.peers[0].name, "ringmq-1");
	strcpy(in.peers[0].url, "tcp://10.0.0.2:7400");
	strcpy(in.peers[1].name, "ringmq-2");
	strcpy(in.peers[1].url, "tcp://[fd00::3]:7400");
	size_t n = rmq_hello_encode(&in, buf, sizeof(buf));
	cr_assert_gt(n, 0);
	cr_assert_eq(buf[0], 'R');
	cr_assert_eq(rmq_hello_decode(buf, n, &out), 0);
	cr_assert_str_eq(out.name, in.name);
	cr_assert_str_eq(out.host, in.host);
	cr_assert_eq(out.epoch, in.epoch);
	cr_assert_eq(out.port, 7400);
	cr_assert_eq(out.fport, 7401);
	cr_assert_eq(out.lport, 7402);
	cr_assert_eq(out.npeers, 2);
	cr_assert_str_eq(out.peers[1].url, "tcp://[fd00::3]:7400");
	/* Bytes after the peers are a later version's: ignored. */
	buf[n] = 0xAB;
	cr_assert_eq(rmq_hello_decode(buf, n + 1, &out), 0);
	/* Too small a buffer: 0, nothing claimed. */
	cr_assert_eq(rmq_hello_encode(&in, buf, n - 1), 0);
}

Test(hello, every_cut_is_refused)
{
	memset(&in, 0, sizeof(in));
	strcpy(in.name, "a");
	in.npeers = 1;
	strcpy(in.peers[0].name, "b");
	strcpy(in.peers[0].url, "tcp://b:1");
	in.lport = 9;
	size_t n = rmq_hello_encode(&in, buf, sizeof(buf));
	/* Every field up to fport is needed; lport came later, and a hello
	 * without it (an older node's) has none: 0. */
	for (size_t k = 0; k < n - 2; k++)
		cr_assert_eq(rmq_hello_decode(buf, k, &out), -1,
		    "%zu of %zu bytes", k, n);
	for (size_t k = n - 2; k < n; k++) {
		cr_assert_eq(rmq_hello_decode(buf, k, &out), 0);
		cr_assert_eq(out.lport, 0, "%zu of %zu bytes", k, n);
	}
	cr_assert_eq(rmq_hello_decode(buf, n, &out), 0);
	cr_assert_eq(out.lport, 9);
}

Test(hello, not_a_hello)
{
	memset(&in, 0, sizeof(in));
	strcpy(in.name, "a");
	size_t n = rmq_hello_encode(&in, buf, sizeof(buf));
	buf[2] = 9; /* a version this node does not read */
	cr_assert_eq(rmq_hello_decode(buf, n, &out), -1);
	buf[2] = 1;
	buf[3] = 0; /* an empty name */
	cr_assert_eq(rmq_hello_decode(buf, n, &out), -1);
	static const uint8_t many[] = { 'R', 'H', 1, 1, 'a', 0, 0, 0, 0, 0, 0,
		0, 0, 0, 0, 0, 0xff, 0xff };
	cr_assert_eq(rmq_hello_decode(many, sizeof(many), &out), -1,
	    "more peers than a cluster may have");
	static const uint8_t nul[] = { 'R', 'H', 1, 2, 'a', 0, 0, 0, 0, 0, 0, 0,
		0, 0, 0, 0, 0, 0, 0 };
	cr_assert_eq(rmq_hello_decode(nul, sizeof(nul), &out), -1,
	    "a NUL in a name");
}
