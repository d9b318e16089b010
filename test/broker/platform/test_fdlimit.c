/* test/broker/platform/test_fdlimit.c: the descriptor budget
 * (broker/platform/fdlimit.c): the soft limit raised to the hard one, the
 * descriptors counted, and the room left for connections. */
#include <criterion/criterion.h>
#include <sys/resource.h>
#include <unistd.h>

#include "fdlimit.h"

Test(fdlimit, the_soft_limit_is_raised_to_the_hard_one)
{
	struct rlimit rl;
	cr_assert_eq(getrlimit(RLIMIT_NOFILE, &rl), 0);
	if (rl.rlim_max > 256) {
		struct rlimit low = { 256, rl.rlim_max };
		cr_assert_eq(setrlimit(RLIMIT_NOFILE, &low), 0);
	}
	uint64_t limit = 0, was = 0;
	cr_assert_eq(rmq_fd_raise(&limit, &was), 0);
	cr_assert_eq(limit, (uint64_t)rl.rlim_max);
	if (rl.rlim_max > 256)
		cr_assert_eq(was, 256);
	cr_assert_eq(getrlimit(RLIMIT_NOFILE, &rl), 0);
	cr_assert_eq(rl.rlim_cur, rl.rlim_max);
}

Test(fdlimit, open_descriptors_are_counted)
{
	unsigned before = rmq_fd_open_count();
	cr_assert_geq(before, 3, "stdin, stdout and stderr at least");
	int p[2];
	cr_assert_eq(pipe(p), 0);
	cr_assert_eq(rmq_fd_open_count(), before + 2);
	close(p[0]);
	close(p[1]);
	cr_assert_eq(rmq_fd_open_count(), before);
}

Test(fdlimit, room_is_the_limit_less_what_is_open_and_the_reserve)
{
	cr_assert_eq(rmq_fd_conn_budget(1024, 20), 1024 - 20 - RMQ_FD_RESERVE);
	cr_assert_eq(rmq_fd_conn_budget(200, 11), 200 - 11 - RMQ_FD_RESERVE);
	/* A limit the broker's own descriptors and the reserve fill:
	 * one connection still, so that the broker starts and says so. */
	cr_assert_eq(rmq_fd_conn_budget(70, 10), 1);
	cr_assert_eq(rmq_fd_conn_budget(1ull << 40, 10), UINT32_MAX);
}
