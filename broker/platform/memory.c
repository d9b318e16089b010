/* broker/platform/memory.c: the memory budget's measures (memory.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "memory.h"

/* The first line of `path` as a number; "max" or a v1 value near 2^63
 * (its way of saying none) gives 0, and so does a file that is not
 * there. */
static uint64_t
mem_read_limit(const char *path)
{
	FILE *f = fopen(path, "re");
	if (f == NULL)
		return 0;
	char line[64];
	uint64_t v = 0;
	if (fgets(line, sizeof(line), f) != NULL && line[0] >= '0' &&
	    line[0] <= '9') {
		char *end;
		errno = 0;
		unsigned long long n = strtoull(line, &end, 10);
		if (errno == 0 && (*end == '\n' || *end == '\0') &&
		    n < (1ull << 60))
			v = n;
	}
	fclose(f);
	return v;
}

/* The smaller of two limits, 0 meaning none. */
static uint64_t
mem_min(uint64_t a, uint64_t b)
{
	if (a == 0)
		return b;
	if (b == 0)
		return a;
	return a < b ? a : b;
}

/* The smallest limit in `file` of the cgroup `cg` and of each parent up
 * to the hierarchy's mount `mnt` (a container sees its own cgroup as the
 * root): a parent's limit bounds its children. */
static uint64_t
mem_walk(const char *root, const char *mnt, const char *cg, const char *file)
{
	char dir[4096];
	int n = snprintf(dir, sizeof(dir), "%s%s%s", root, mnt,
	    strcmp(cg, "/") == 0 ? "" : cg);
	if (n < 0 || (size_t)n >= sizeof(dir))
		return 0;
	size_t base = strlen(root) + strlen(mnt);
	uint64_t lim = 0;
	for (;;) {
		char path[4200];
		snprintf(path, sizeof(path), "%s/%s", dir, file);
		lim = mem_min(lim, mem_read_limit(path));
		char *slash = strrchr(dir, '/');
		if (slash == NULL || (size_t)(slash - dir) < base)
			break;
		*slash = '\0';
	}
	return lim;
}

uint64_t
rmq_mem_cgroup_limit(const char *root)
{
	char path[4096];
	snprintf(path, sizeof(path), "%s/proc/self/cgroup", root);
	FILE *f = fopen(path, "re");
	if (f == NULL)
		return 0;
	char line[4096];
	uint64_t lim = 0;
	while (fgets(line, sizeof(line), f) != NULL) {
		line[strcspn(line, "\n")] = '\0';
		/* ID:CONTROLLERS:PATH */
		char *c1 = strchr(line, ':');
		char *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
		if (c2 == NULL || c2[1] != '/')
			continue;
		*c1 = *c2 = '\0';
		const char *ctrls = c1 + 1, *cg = c2 + 1;
		if (strcmp(line, "0") == 0 && *ctrls == '\0') {
			lim = mem_min(lim,
			    mem_walk(root, "/sys/fs/cgroup", cg, "memory.max"));
			continue;
		}
		/* v1: the memory controller's line, alone or with others. */
		char list[256];
		snprintf(list, sizeof(list), ",%s,", ctrls);
		if (strstr(list, ",memory,") == NULL)
			continue;
		lim = mem_min(lim,
		    mem_walk(root, "/sys/fs/cgroup/memory", cg,
			"memory.limit_in_bytes"));
	}
	fclose(f);
	return lim;
}

uint64_t
rmq_mem_resident(void)
{
	FILE *f = fopen("/proc/self/statm", "re");
	if (f == NULL)
		return 0;
	unsigned long long size, resident;
	int n = fscanf(f, "%llu %llu", &size, &resident);
	fclose(f);
	long page = sysconf(_SC_PAGESIZE);
	if (n != 2 || page <= 0)
		return 0;
	return (uint64_t)resident * (uint64_t)page;
}

uint64_t
rmq_mem_budget(int64_t setting, uint64_t cgroup)
{
	if (setting >= 0)
		return (uint64_t)setting;
	return cgroup / 100 * RMQ_MEM_AUTO_PERCENT;
}

int
rmq_mem_over(uint64_t budget, uint64_t resident, int was)
{
	if (budget == 0)
		return 0;
	if (resident >= budget)
		return 1;
	return was && resident >= budget / 100 * RMQ_MEM_RESUME_PERCENT;
}
