/* test/broker/platform/test_memory.c: the memory budget's measures
 * (broker/platform/memory.c): cgroup limits read as the kernel lays them
 * out (v2, v1, nested, none), the resident set, the budget derived from
 * `memory_limit`, and the hysteresis of the over-budget flag. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "memory.h"
#include "rmq_test_dir.h"

static char root[64];

static void
put(const char *rel, const char *text)
{
	char path[512], dir[512];
	snprintf(path, sizeof(path), "%s%s", root, rel);
	/* mkdir -p of the file's directory */
	snprintf(dir, sizeof(dir), "%s", path);
	for (char *p = dir + strlen(root) + 1; (p = strchr(p, '/')); p++) {
		*p = '\0';
		mkdir(dir, 0700);
		*p = '/';
	}
	rmq_test_write_file(path, text, strlen(text));
}

static void
setup(void)
{
	rmq_test_dir_make(root, sizeof(root), "memory");
}

static void
teardown(void)
{
	rmq_test_dir_remove(root);
}

TestSuite(memory, .init = setup, .fini = teardown);

Test(memory, a_v2_limit_is_read_from_the_process_cgroup)
{
	put("/proc/self/cgroup", "0::/kubepods/pod1/ctr\n");
	put("/sys/fs/cgroup/kubepods/pod1/ctr/memory.max", "536870912\n");
	cr_assert_eq(rmq_mem_cgroup_limit(root), 536870912ull);
}

Test(memory, a_parent_limit_bounds_its_children)
{
	put("/proc/self/cgroup", "0::/kubepods/pod1/ctr\n");
	put("/sys/fs/cgroup/kubepods/pod1/ctr/memory.max", "max\n");
	put("/sys/fs/cgroup/kubepods/pod1/memory.max", "268435456\n");
	put("/sys/fs/cgroup/kubepods/memory.max", "1073741824\n");
	cr_assert_eq(rmq_mem_cgroup_limit(root), 268435456ull);
}

Test(memory, a_container_sees_its_cgroup_as_the_root)
{
	put("/proc/self/cgroup", "0::/\n");
	put("/sys/fs/cgroup/memory.max", "134217728\n");
	cr_assert_eq(rmq_mem_cgroup_limit(root), 134217728ull);
}

Test(memory, max_everywhere_is_no_limit)
{
	put("/proc/self/cgroup", "0::/user.slice/session-1.scope\n");
	put("/sys/fs/cgroup/user.slice/session-1.scope/memory.max", "max\n");
	put("/sys/fs/cgroup/user.slice/memory.max", "max\n");
	cr_assert_eq(rmq_mem_cgroup_limit(root), 0);
}

Test(memory, a_v1_limit_is_read_and_its_huge_none_ignored)
{
	put("/proc/self/cgroup",
	    "4:memory:/docker/abc\n3:cpu,cpuacct:/docker/abc\n0::/\n");
	put("/sys/fs/cgroup/memory/docker/abc/memory.limit_in_bytes",
	    "209715200\n");
	put("/sys/fs/cgroup/memory/memory.limit_in_bytes",
	    "9223372036854771712\n");
	cr_assert_eq(rmq_mem_cgroup_limit(root), 209715200ull);

	put("/sys/fs/cgroup/memory/docker/abc/memory.limit_in_bytes",
	    "9223372036854771712\n");
	cr_assert_eq(rmq_mem_cgroup_limit(root), 0, "2^63 less a page: none");
}

Test(memory, no_cgroup_file_is_no_limit)
{
	cr_assert_eq(rmq_mem_cgroup_limit(root), 0);
	put("/proc/self/cgroup", "0::/gone\n");
	cr_assert_eq(rmq_mem_cgroup_limit(root), 0, "no memory.max anywhere");
}

Test(memory, the_resident_set_grows_with_touched_memory)
{
	uint64_t before = rmq_mem_resident();
	cr_assert_gt(before, 0);
	size_t n = 64u << 20;
	char *p = malloc(n);
	cr_assert_not_null(p);
	memset(p, 1, n);
	uint64_t after = rmq_mem_resident();
	cr_assert_geq(after, before + n / 2, "%llu -> %llu",
	    (unsigned long long)before, (unsigned long long)after);
	free(p);
}

Test(memory, the_budget_is_the_setting_or_a_share_of_the_cgroup)
{
	cr_assert_eq(rmq_mem_budget(0, 1ull << 30), 0, "0: no limit");
	cr_assert_eq(rmq_mem_budget(1 << 20, 1ull << 30), 1u << 20);
	cr_assert_eq(rmq_mem_budget(-1, 1000ull << 20),
	    1000ull / 100 * RMQ_MEM_AUTO_PERCENT << 20);
	cr_assert_eq(rmq_mem_budget(-1, 0), 0, "auto without a cgroup limit");
}

Test(memory, over_at_the_budget_and_under_again_below_the_resume_share)
{
	uint64_t b = 1000000;
	cr_assert_eq(rmq_mem_over(b, b - 1, 0), 0);
	cr_assert_eq(rmq_mem_over(b, b, 0), 1);
	cr_assert_eq(rmq_mem_over(b, b - 1, 1), 1, "still within 5%");
	cr_assert_eq(rmq_mem_over(b, b / 100 * RMQ_MEM_RESUME_PERCENT, 1), 1);
	cr_assert_eq(rmq_mem_over(b, b / 100 * RMQ_MEM_RESUME_PERCENT - 1, 1),
	    0);
	cr_assert_eq(rmq_mem_over(0, UINT64_MAX, 1), 0, "no budget");
}
