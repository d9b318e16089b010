/* test/broker/platform/test_affinity.c: broker/platform/affinity.c, the CPU each worker loop
 * runs on: CPU lists as taskset writes them, the plan for each mode, a
 * started broker's loops on the CPUs the plan gave them, and the cgroup CPU
 * quota that bounds how many loops there are by default. */
#include <criterion/criterion.h>
#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "affinity.h"
#include "broker.h"
#include "rmq_test_broker.h"
#include "worker.h"

static cpu_set_t
set_of(const char *list)
{
	cpu_set_t s;
	cr_assert_eq(rmq_cpulist_parse(list, &s), 0, "%s", list);
	return s;
}

Test(affinity, cpu_lists_parse_as_taskset_writes_them)
{
	static const struct {
		const char *in, *canonical;
		int count;
	} ok[] = {
		{ "0", "0", 1 },
		{ "0-3,8", "0-3,8", 5 },
		{ "8,0-3", "0-3,8", 5 },
		{ "1,1,2", "1-2", 2 },
		{ "5-5", "5", 1 },
		{ "0,2,4", "0,2,4", 3 },
		{ "1023", "1023", 1 },
	};
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		cpu_set_t s = set_of(ok[i].in);
		char buf[64];
		rmq_cpulist_format(&s, buf, sizeof(buf));
		cr_expect_str_eq(buf, ok[i].canonical, "%s", ok[i].in);
		cr_expect_eq(CPU_COUNT(&s), ok[i].count, "%s", ok[i].in);
	}
	static const char *bad[] = { "", "a", "3-1", "1,", ",1", "0-", "-1",
		"1 2", "1024", "0-1024", "1;2", "99999999999" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		cpu_set_t s;
		cr_expect_eq(rmq_cpulist_parse(bad[i], &s), -1, "'%s'", bad[i]);
	}
}

Test(affinity, a_value_is_auto_none_or_a_list_and_a_bad_one_changes_nothing)
{
	enum rmq_affinity_mode m = RMQ_AFFINITY_NONE;
	cpu_set_t l = set_of("7"), was = l;
	cr_assert_eq(rmq_affinity_parse("auto", &m, &l), 0);
	cr_assert_eq(m, RMQ_AFFINITY_AUTO);
	cr_assert_eq(rmq_affinity_parse("none", &m, &l), 0);
	cr_assert_eq(m, RMQ_AFFINITY_NONE);
	cr_assert(CPU_EQUAL(&l, &was));
	cr_assert_eq(rmq_affinity_parse("0-1,4", &m, &l), 0);
	cr_assert_eq(m, RMQ_AFFINITY_LIST);
	cpu_set_t want = set_of("0,1,4");
	cr_assert(CPU_EQUAL(&l, &want));
	static const char *bad[] = { "Auto", "2-", "" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		cr_assert_eq(rmq_affinity_parse(bad[i], &m, &l), -1, "'%s'",
		    bad[i]);
		cr_assert_eq(m, RMQ_AFFINITY_LIST);
		cr_assert(CPU_EQUAL(&l, &want));
	}
}

Test(affinity, a_list_too_long_for_the_buffer_is_cut_and_terminated)
{
	cpu_set_t s = set_of("0,2,4,6,8,10,12");
	char buf[8];
	memset(buf, 'x', sizeof(buf));
	rmq_cpulist_format(&s, buf, sizeof(buf));
	cr_assert_str_eq(buf, "0,2,4,6");
	CPU_ZERO(&s);
	rmq_cpulist_format(&s, buf, sizeof(buf));
	cr_assert_str_eq(buf, "");
}

Test(affinity, auto_pins_only_one_loop_per_allowed_cpu)
{
	cpu_set_t allowed = set_of("2-3,6"), none;
	CPU_ZERO(&none);
	int cpu[4];
	char why[128];
	cr_assert_eq(rmq_affinity_plan(RMQ_AFFINITY_AUTO, &none, &allowed, 3,
			 cpu, why, sizeof(why)),
	    0);
	cr_expect_eq(cpu[0], 2);
	cr_expect_eq(cpu[1], 3);
	cr_expect_eq(cpu[2], 6);
	/* Fewer loops than CPUs, or more: the kernel places them. */
	for (unsigned n = 1; n <= 4; n += 3) {
		memset(cpu, 0, sizeof(cpu));
		cr_assert_eq(rmq_affinity_plan(RMQ_AFFINITY_AUTO, &none,
				 &allowed, n, cpu, why, sizeof(why)),
		    0);
		for (unsigned i = 0; i < n; i++)
			cr_expect_eq(cpu[i], -1, "%u loops, loop %u", n, i);
	}
}

Test(affinity, none_never_pins)
{
	cpu_set_t allowed = set_of("0-1");
	int cpu[2] = { 0, 0 };
	char why[128];
	cr_assert_eq(rmq_affinity_plan(RMQ_AFFINITY_NONE, &allowed, &allowed, 2,
			 cpu, why, sizeof(why)),
	    0);
	cr_expect_eq(cpu[0], -1);
	cr_expect_eq(cpu[1], -1);
}

Test(affinity, a_list_is_taken_in_order_and_wraps)
{
	cpu_set_t allowed = set_of("0-7"), list = set_of("5,3");
	int cpu[5];
	char why[128];
	cr_assert_eq(rmq_affinity_plan(RMQ_AFFINITY_LIST, &list, &allowed, 5,
			 cpu, why, sizeof(why)),
	    0);
	int want[5] = { 3, 5, 3, 5, 3 };
	for (int i = 0; i < 5; i++)
		cr_expect_eq(cpu[i], want[i], "loop %d", i);
}

Test(affinity, a_listed_cpu_the_process_may_not_use_is_refused_by_name)
{
	cpu_set_t allowed = set_of("0-1"), list = set_of("1,5,9-10");
	int cpu[2] = { 0, 0 };
	char why[160];
	cr_assert_eq(rmq_affinity_plan(RMQ_AFFINITY_LIST, &list, &allowed, 2,
			 cpu, why, sizeof(why)),
	    -EINVAL);
	cr_expect(strstr(why, "cpu_affinity") != NULL, "%s", why);
	cr_expect(strstr(why, "CPU 5,9-10 ") != NULL, "%s", why);
	cr_expect(strstr(why, "(0-1)") != NULL, "%s", why);
}

Test(affinity, the_allowed_set_is_the_process_affinity)
{
	cpu_set_t mine, got;
	cr_assert_eq(sched_getaffinity(0, sizeof(mine), &mine), 0);
	unsigned n = rmq_affinity_allowed(&got);
	cr_assert_eq(n, (unsigned)CPU_COUNT(&mine));
	cr_assert(CPU_EQUAL(&mine, &got));
	cr_assert_eq(rmq_affinity_allowed(NULL), n);
}

/* Start a broker with `threads` loops and `mode`, and read each loop
 * thread's affinity while it runs. */
static void
started_broker_affinity(unsigned threads, enum rmq_affinity_mode mode,
    const cpu_set_t *list, cpu_set_t *got, int *planned)
{
	struct rmq_config cfg;
	rmq_test_broker_config(&cfg, threads);
	cfg.cpu_affinity = mode;
	if (list)
		cfg.cpu_list = *list;
	static struct rmq_broker br;
	cr_assert_eq(rmq_broker_init(&br, &cfg), 0);
	cr_assert_eq(rmq_broker_start(&br), 0);
	for (unsigned i = 0; i < threads; i++) {
		cr_assert_eq(pthread_getaffinity_np(br.threads[i],
				 sizeof(got[i]), &got[i]),
		    0);
		planned[i] = br.workers[i]->cpu;
	}
	rmq_broker_stop(&br);
	rmq_broker_fini(&br);
}

Test(affinity, a_started_broker_runs_each_loop_on_its_planned_cpu)
{
	cpu_set_t allowed;
	unsigned n = rmq_affinity_allowed(&allowed);
	if (n > RMQ_MAX_WORKERS)
		n = RMQ_MAX_WORKERS;
	cpu_set_t got[RMQ_MAX_WORKERS];
	int planned[RMQ_MAX_WORKERS];

	/* auto, one loop per allowed CPU: loop i on the i-th of them. */
	started_broker_affinity(n, RMQ_AFFINITY_AUTO, NULL, got, planned);
	cpu_set_t seen;
	CPU_ZERO(&seen);
	for (unsigned i = 0; i < n; i++) {
		cr_expect_eq(CPU_COUNT(&got[i]), 1, "loop %u", i);
		cr_expect(CPU_ISSET((unsigned)planned[i], &got[i]), "loop %u",
		    i);
		CPU_OR(&seen, &seen, &got[i]);
	}
	cr_expect(CPU_EQUAL(&seen, &allowed), "every allowed CPU has a loop");

	/* none: each loop may run anywhere the process may. */
	started_broker_affinity(2, RMQ_AFFINITY_NONE, NULL, got, planned);
	for (unsigned i = 0; i < 2; i++) {
		cr_expect_eq(planned[i], -1);
		cr_expect(CPU_EQUAL(&got[i], &allowed), "loop %u", i);
	}

	/* A list of one allowed CPU: every loop on it. */
	cpu_set_t one;
	CPU_ZERO(&one);
	for (unsigned c = 0; c < CPU_SETSIZE; c++)
		if (CPU_ISSET(c, &allowed)) {
			CPU_SET(c, &one);
			break;
		}
	started_broker_affinity(3, RMQ_AFFINITY_LIST, &one, got, planned);
	for (unsigned i = 0; i < 3; i++)
		cr_expect(CPU_EQUAL(&got[i], &one), "loop %u", i);
}

Test(affinity, a_broker_refuses_to_start_on_a_cpu_it_may_not_use)
{
	cpu_set_t allowed, outside;
	rmq_affinity_allowed(&allowed);
	CPU_ZERO(&outside);
	for (unsigned c = CPU_SETSIZE; c-- > 0;)
		if (!CPU_ISSET(c, &allowed)) {
			CPU_SET(c, &outside);
			break;
		}
	struct rmq_config cfg;
	rmq_test_broker_config(&cfg, 1);
	cfg.cpu_affinity = RMQ_AFFINITY_LIST;
	cfg.cpu_list = outside;
	static struct rmq_broker br;
	cr_assert_eq(rmq_broker_init(&br, &cfg), -EINVAL);
	rmq_broker_fini(&br);
}

/* A cgroup tree under a temporary directory: put(root, "a/b/cpu.max",
 * "max 100000") makes the directories on the way. */
static void
put(const char *root, const char *rel, const char *text)
{
	char path[4096];
	snprintf(path, sizeof(path), "%s/%s", root, rel);
	for (char *p = path + strlen(root) + 1; (p = strchr(p, '/')); p++) {
		*p = '\0';
		mkdir(path, 0700);
		*p = '/';
	}
	FILE *f = fopen(path, "w");
	cr_assert_not_null(f, "%s", path);
	fputs(text, f);
	fclose(f);
}

static int
rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static char trees[4][64];
static int ntrees;

/* Trees made by a test go when it ends. */
static void
trees_remove(void)
{
	while (ntrees > 0)
		nftw(trees[--ntrees], rm_one, 8, FTW_DEPTH | FTW_PHYS);
}

static char *
tree(void)
{
	cr_assert_lt(ntrees, 4);
	char *dir = trees[ntrees];
	snprintf(dir, sizeof(trees[0]), "/tmp/rmq-cgroup-XXXXXX");
	cr_assert_not_null(mkdtemp(dir));
	ntrees++;
	return dir;
}

Test(affinity, cgroup_v2_quota_is_the_smallest_on_the_way_up_rounded_up,
    .fini = trees_remove)
{
	char *r = tree();
	put(r, "kube/pod/cpu.max", "150000 100000\n");
	put(r, "kube/cpu.max", "max 100000\n");
	cr_expect_eq(rmq_cgroup_cpu_quota(r, "0::/kube/pod\n"), 2);
	put(r, "kube/cpu.max", "50000 100000\n");
	cr_expect_eq(rmq_cgroup_cpu_quota(r, "0::/kube/pod\n"), 1);
	put(r, "kube/cpu.max", "max 100000\n");
	put(r, "kube/pod/cpu.max", "max 100000\n");
	cr_expect_eq(rmq_cgroup_cpu_quota(r, "0::/kube/pod\n"), 0);
	/* In a cgroup namespace the process's own cgroup is the root. */
	put(r, "cpu.max", "400000 100000\n");
	cr_expect_eq(rmq_cgroup_cpu_quota(r, "0::/\n"), 4);
}

Test(affinity, cgroup_v1_quota_under_either_mount_name, .fini = trees_remove)
{
	char *r = tree();
	put(r, "cpu,cpuacct/kube/pod/cpu.cfs_quota_us", "250000\n");
	put(r, "cpu,cpuacct/kube/pod/cpu.cfs_period_us", "100000\n");
	cr_expect_eq(rmq_cgroup_cpu_quota(r,
			 "4:memory:/kube/pod\n3:cpu,cpuacct:/kube/"
			 "pod\n0::/\n"),
	    3);
	char *s = tree();
	put(s, "cpu/x/cpu.cfs_quota_us", "-1\n");
	put(s, "cpu/x/cpu.cfs_period_us", "100000\n");
	cr_expect_eq(rmq_cgroup_cpu_quota(s, "2:cpuacct:/x\n1:cpu:/x\n"), 0);
	put(s, "cpu/x/cpu.cfs_quota_us", "100000\n");
	cr_expect_eq(rmq_cgroup_cpu_quota(s, "2:cpuacct:/x\n1:cpu:/x\n"), 1);
	/* A container sees the host's path but its own cgroup mounted at
	 * the top: the walk up finds the quota there. */
	char *t = tree();
	put(t, "cpu/cpu.cfs_quota_us", "200000\n");
	put(t, "cpu/cpu.cfs_period_us", "100000\n");
	cr_expect_eq(rmq_cgroup_cpu_quota(t, "1:cpu:/kubepods/burstable/abc\n"),
	    2);
}

Test(affinity, no_cgroup_or_nonsense_means_no_quota, .fini = trees_remove)
{
	char *r = tree();
	cr_expect_eq(rmq_cgroup_cpu_quota(r, ""), 0);
	cr_expect_eq(rmq_cgroup_cpu_quota(r, "garbage\n::\n0::/none\n"), 0);
	put(r, "cpu.max", "lots\n");
	cr_expect_eq(rmq_cgroup_cpu_quota(r, "0::/\n"), 0);
	put(r, "cpu.max", "100000 0\n");
	cr_expect_eq(rmq_cgroup_cpu_quota(r, "0::/\n"), 0);
}
