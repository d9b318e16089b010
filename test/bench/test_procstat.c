/* test/bench/test_procstat.c: bench/procstat.c: parsing /proc/PID/stat
 * and /proc/PID/status, and sampling this very process. */
#include <criterion/criterion.h>
#include <errno.h>
#include <unistd.h>

#include "procstat.h"

Test(procstat, stat_fields_counted_after_the_command_name)
{
	/* A command name with spaces and parentheses must not shift the
	 * fields: utime 250 and stime 50 ticks at 100 Hz are 3 s. */
	const char *line = "1234 (my (odd) broker) S 1 1234 1234 0 -1 4194560 "
			   "100 0 0 0 250 50 0 0 20 0 1 0 555 1000000 200 "
			   "18446744073709551615\n";
	double cpu = 0;
	cr_assert_eq(rmq_bench_procstat_parse_stat(line, 100, &cpu), 0);
	cr_assert_float_eq(cpu, 3.0, 1e-9);
}

Test(procstat, truncated_stat_is_refused)
{
	double cpu;
	cr_assert_eq(rmq_bench_procstat_parse_stat("1234 (x) S 1 2 3", 100,
			 &cpu),
	    -EPROTO);
	cr_assert_eq(rmq_bench_procstat_parse_stat("no parenthesis", 100, &cpu),
	    -EPROTO);
}

Test(procstat, status_keys)
{
	const char *st = "Name:\tmosquitto\nVmHWM:\t    9000 kB\n"
			 "VmRSS:\t    8192 kB\nThreads:\t1\n";
	uint64_t b = 0;
	cr_assert_eq(rmq_bench_procstat_parse_status(st, "VmRSS", &b), 0);
	cr_assert_eq(b, 8192ull * 1024);
	cr_assert_eq(rmq_bench_procstat_parse_status(st, "VmHWM", &b), 0);
	cr_assert_eq(b, 9000ull * 1024);
	cr_assert_eq(rmq_bench_procstat_parse_status(st, "VmSwap", &b),
	    -ENOENT);
}

Test(procstat, sample_self)
{
	struct rmq_bench_procstat ps;
	cr_assert_eq(rmq_bench_procstat_sample(getpid(), &ps), 0);
	cr_assert_gt(ps.rss, 0);
	cr_assert_geq(ps.cpu_s, 0);
	cr_assert_geq(rmq_bench_procstat_self_cpu(), 0);
}
