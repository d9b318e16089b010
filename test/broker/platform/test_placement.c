/* test/broker/platform/test_placement.c: broker/platform/placement.c, which loop takes a new
 * connection: the values, when loops can be chosen by CPU, the balance
 * that keeps a crowded loop from taking everything, and the kernel
 * program run on real listening sockets. */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sched.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "placement.h"

Test(placement, a_value_is_cpu_or_hash_and_a_bad_one_changes_nothing)
{
	enum rmq_placement p = RMQ_PLACE_HASH;
	cr_assert_eq(rmq_placement_parse("cpu", &p), 0);
	cr_assert_eq(p, RMQ_PLACE_CPU);
	cr_assert_eq(rmq_placement_parse("hash", &p), 0);
	cr_assert_eq(p, RMQ_PLACE_HASH);
	static const char *bad[] = { "", "CPU", "cpu ", "round-robin", "h" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		cr_expect_eq(rmq_placement_parse(bad[i], &p), -1, "'%s'",
		    bad[i]);
		cr_expect_eq(p, RMQ_PLACE_HASH, "'%s'", bad[i]);
	}
}

Test(placement, by_cpu_needs_two_loops_each_pinned_to_a_cpu_of_its_own)
{
	int two[] = { 0, 1 }, three[] = { 3, 1, 2 }, one[] = { 0 };
	int unpinned[] = { -1, -1 }, half[] = { 0, -1 }, shared[] = { 2, 5, 2 };
	cr_expect(rmq_placement_by_cpu(two, 2));
	cr_expect(rmq_placement_by_cpu(three, 3));
	cr_expect_not(rmq_placement_by_cpu(one, 1));
	cr_expect_not(rmq_placement_by_cpu(unpinned, 2));
	cr_expect_not(rmq_placement_by_cpu(half, 2));
	cr_expect_not(rmq_placement_by_cpu(shared, 3));
}

Test(placement, a_loop_keeps_its_connections_until_it_holds_slack_more)
{
	/* Slack is 256 while an eighth of the mean is smaller. */
	uint32_t a[] = { 255, 0 };
	cr_expect_eq(rmq_placement_balance(a, 2, 0), 0);
	uint32_t b[] = { 256, 0 };
	cr_expect_eq(rmq_placement_balance(b, 2, 0), 1);
	uint32_t c[] = { 0, 256 };
	cr_expect_eq(rmq_placement_balance(c, 2, 0), 0, "the lighter stays");
	cr_expect_eq(rmq_placement_balance(c, 2, 1), 0);
	/* 1,900 open: an eighth of the mean is 118, so slack is 256. */
	uint32_t d[] = { 1070, 830 };
	cr_expect_eq(rmq_placement_balance(d, 2, 0), 0);
	uint32_t e[] = { 1080, 820 };
	cr_expect_eq(rmq_placement_balance(e, 2, 0), 1);
	/* 20,000 open: mean 10,000, slack 1,250. */
	uint32_t g[] = { 10620, 9380 };
	cr_expect_eq(rmq_placement_balance(g, 2, 0), 0);
	uint32_t h[] = { 10630, 9370 };
	cr_expect_eq(rmq_placement_balance(h, 2, 0), 1);
	/* More loops: the least loaded one gets it. */
	uint32_t f[] = { 400, 300, 20, 90 };
	cr_expect_eq(rmq_placement_balance(f, 4, 0), 2);
	cr_expect_eq(rmq_placement_balance(f, 4, 1), 2);
	cr_expect_eq(rmq_placement_balance(f, 4, 3), 3);
}

Test(placement, one_cpu_crowding_ends_within_slack_of_even)
{
	/* Every connection steered to loop 0, one after another. */
	uint32_t n[3] = { 0, 0, 0 };
	for (int i = 0; i < 30000; i++)
		n[rmq_placement_balance(n, 3, 0)]++;
	cr_expect_eq(n[0] + n[1] + n[2], 30000);
	/* mean 10,000: slack 1,250. */
	cr_expect_leq(n[0], n[1] + 1250, "%u %u", n[0], n[1]);
	cr_expect_leq(n[0], n[2] + 1250, "%u %u", n[0], n[2]);
	cr_expect_geq(n[0], 10000);
	cr_expect_leq(n[1] > n[2] ? n[1] - n[2] : n[2] - n[1], 1);
}

/* Two listening sockets of one SO_REUSEPORT group on loopback, bound in
 * order; *port tells where. */
static void
group_of_two(int fd[2], uint16_t *port)
{
	struct sockaddr_in a = { .sin_family = AF_INET,
		.sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t alen = sizeof(a);
	int one = 1;
	for (int i = 0; i < 2; i++) {
		fd[i] = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
		cr_assert_geq(fd[i], 0);
		cr_assert_eq(setsockopt(fd[i], SOL_SOCKET, SO_REUSEPORT, &one,
				 sizeof(one)),
		    0);
		cr_assert_eq(bind(fd[i], (struct sockaddr *)&a, sizeof(a)), 0,
		    "%s", strerror(errno));
		cr_assert_eq(listen(fd[i], 16), 0);
		if (i == 0) {
			cr_assert_eq(getsockname(fd[0], (struct sockaddr *)&a,
					 &alen),
			    0);
			*port = ntohs(a.sin_port);
		}
	}
}

/* Connect to port from `cpu` (this thread pinned there meanwhile) and
 * return which of fd[0], fd[1] got the connection, or -1. */
static int
taken_by(const int fd[2], uint16_t port, int cpu)
{
	cpu_set_t was, on;
	cr_assert_eq(pthread_getaffinity_np(pthread_self(), sizeof(was), &was),
	    0);
	CPU_ZERO(&on);
	CPU_SET((unsigned)cpu, &on);
	cr_assert_eq(pthread_setaffinity_np(pthread_self(), sizeof(on), &on),
	    0);
	struct sockaddr_in a = { .sin_family = AF_INET,
		.sin_addr.s_addr = htonl(INADDR_LOOPBACK),
		.sin_port = htons(port) };
	int c = socket(AF_INET, SOCK_STREAM, 0);
	cr_assert_eq(connect(c, (struct sockaddr *)&a, sizeof(a)), 0);
	cr_assert_eq(pthread_setaffinity_np(pthread_self(), sizeof(was), &was),
	    0);
	int got = -1;
	for (int i = 0; i < 2; i++) {
		int s = accept(fd[i], NULL, NULL);
		if (s >= 0) {
			cr_assert_eq(got, -1, "both sockets took it");
			got = i;
			close(s);
		} else {
			cr_assert_eq(errno, EAGAIN);
		}
	}
	close(c);
	return got;
}

/* The first two CPUs this process may run on, or skip. */
static void
two_cpus(int cpu[2])
{
	cpu_set_t s;
	int n = 0;
	cr_assert_eq(sched_getaffinity(0, sizeof(s), &s), 0);
	for (int i = 0; i < CPU_SETSIZE && n < 2; i++)
		if (CPU_ISSET(i, &s))
			cpu[n++] = i;
	if (n < 2)
		cr_skip_test("one CPU: every connection has the same one");
}

Test(placement, the_kernel_gives_each_connection_to_the_socket_of_its_cpu)
{
	int cpu[2], fd[2];
	uint16_t port;
	two_cpus(cpu);
	group_of_two(fd, &port);
	cr_assert_eq(rmq_placement_attach(fd[0], cpu, 2), 0);
	for (int round = 0; round < 8; round++) {
		cr_expect_eq(taken_by(fd, port, cpu[0]), 0);
		cr_expect_eq(taken_by(fd, port, cpu[1]), 1);
	}
	/* The order of the list is the order of the sockets. */
	int swapped[2] = { cpu[1], cpu[0] };
	cr_assert_eq(rmq_placement_attach(fd[0], swapped, 2), 0);
	for (int round = 0; round < 8; round++) {
		cr_expect_eq(taken_by(fd, port, cpu[0]), 1);
		cr_expect_eq(taken_by(fd, port, cpu[1]), 0);
	}
	close(fd[0]);
	close(fd[1]);
}

Test(placement, a_cpu_without_a_loop_gets_the_kernels_hash)
{
	int cpu[2], fd[2];
	uint16_t port;
	two_cpus(cpu);
	group_of_two(fd, &port);
	/* Only cpu[0] has a socket; connections from cpu[1] are spread by
	 * the hash of their addresses, so over 64 of them both sockets
	 * take some (each misses with odds of 2^-64). */
	int lone[1] = { cpu[0] };
	cr_assert_eq(rmq_placement_attach(fd[0], lone, 1), 0);
	int seen[2] = { 0, 0 };
	for (int i = 0; i < 64; i++) {
		int s = taken_by(fd, port, cpu[1]);
		cr_assert_geq(s, 0);
		seen[s]++;
	}
	cr_expect_gt(seen[0], 0);
	cr_expect_gt(seen[1], 0);
	close(fd[0]);
	close(fd[1]);
}
