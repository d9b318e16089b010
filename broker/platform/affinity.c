/* broker/platform/affinity.c: CPU lists, and the CPU each worker loop is pinned to
 * (see affinity.h for why loops are pinned). */
#include "affinity.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* One decimal CPU number at *p, below CPU_SETSIZE. */
static int
cpulist_number(const char **p, unsigned *out)
{
	const char *s = *p;
	unsigned v = 0;
	if (*s < '0' || *s > '9')
		return -1;
	while (*s >= '0' && *s <= '9') {
		v = v * 10 + (unsigned)(*s - '0');
		if (v >= CPU_SETSIZE)
			return -1;
		s++;
	}
	*p = s;
	*out = v;
	return 0;
}

int
rmq_cpulist_parse(const char *s, cpu_set_t *out)
{
	CPU_ZERO(out);
	if (*s == '\0')
		return -1;
	for (;;) {
		unsigned lo, hi;
		if (cpulist_number(&s, &lo) != 0)
			return -1;
		hi = lo;
		if (*s == '-') {
			s++;
			if (cpulist_number(&s, &hi) != 0 || hi < lo)
				return -1;
		}
		for (unsigned c = lo; c <= hi; c++)
			CPU_SET(c, out);
		if (*s == '\0')
			return 0;
		if (*s++ != ',')
			return -1;
	}
}

int
rmq_affinity_parse(const char *s, enum rmq_affinity_mode *mode, cpu_set_t *list)
{
	cpu_set_t l;
	if (strcmp(s, "auto") == 0)
		*mode = RMQ_AFFINITY_AUTO;
	else if (strcmp(s, "none") == 0)
		*mode = RMQ_AFFINITY_NONE;
	else if (rmq_cpulist_parse(s, &l) == 0) {
		*mode = RMQ_AFFINITY_LIST;
		*list = l;
	} else
		return -1;
	return 0;
}

void
rmq_cpulist_format(const cpu_set_t *set, char *buf, size_t len)
{
	size_t n = 0;
	if (len == 0)
		return;
	buf[0] = '\0';
	for (unsigned c = 0; c < CPU_SETSIZE; c++) {
		if (!CPU_ISSET(c, set))
			continue;
		unsigned hi = c;
		while (hi + 1 < CPU_SETSIZE && CPU_ISSET(hi + 1, set))
			hi++;
		int w = hi == c
		    ? snprintf(buf + n, len - n, "%s%u", n ? "," : "", c)
		    : snprintf(buf + n, len - n, "%s%u-%u", n ? "," : "", c,
			  hi);
		if (w < 0 || (size_t)w >= len - n)
			return; /* truncated, still terminated */
		n += (size_t)w;
		c = hi;
	}
}

unsigned
rmq_affinity_allowed(cpu_set_t *out)
{
	cpu_set_t s;
	if (sched_getaffinity(0, sizeof(s), &s) != 0 || CPU_COUNT(&s) == 0) {
		long n = sysconf(_SC_NPROCESSORS_ONLN);
		CPU_ZERO(&s);
		for (long c = 0; c < n && c < CPU_SETSIZE; c++)
			CPU_SET((unsigned)c, &s);
		if (n < 1)
			CPU_SET(0, &s);
	}
	if (out)
		*out = s;
	return (unsigned)CPU_COUNT(&s);
}

/* The i-th CPU of `set` (ascending), counting around. */
static int
cpuset_nth(const cpu_set_t *set, unsigned i)
{
	unsigned n = (unsigned)CPU_COUNT(set);
	if (n == 0)
		return -1;
	i %= n;
	for (unsigned c = 0; c < CPU_SETSIZE; c++)
		if (CPU_ISSET(c, set) && i-- == 0)
			return (int)c;
	return -1;
}

int
rmq_affinity_plan(enum rmq_affinity_mode mode, const cpu_set_t *list,
    const cpu_set_t *allowed, unsigned nloops, int *cpu, char *why,
    size_t whylen)
{
	const cpu_set_t *from = NULL;
	if (whylen)
		why[0] = '\0';
	switch (mode) {
	case RMQ_AFFINITY_NONE: break;
	case RMQ_AFFINITY_AUTO:
		/* Only the per-core shape: with fewer loops than CPUs, which
		 * CPUs to take is the operator's choice (a list); with more,
		 * loops would share CPUs the scheduler could spread them
		 * over. */
		if ((unsigned)CPU_COUNT(allowed) == nloops)
			from = allowed;
		break;
	case RMQ_AFFINITY_LIST: {
		cpu_set_t outside;
		CPU_XOR(&outside, list, allowed);
		CPU_AND(&outside, &outside, list);
		if (CPU_COUNT(list) == 0 || CPU_COUNT(&outside) != 0) {
			char l[128], a[128];
			rmq_cpulist_format(&outside, l, sizeof(l));
			rmq_cpulist_format(allowed, a, sizeof(a));
			snprintf(why, whylen,
			    "cpu_affinity: CPU %s is not one this process may run on (%s)",
			    CPU_COUNT(list) ? l : "(none)", a);
			return -EINVAL;
		}
		from = list;
		break;
	}
	default:
		snprintf(why, whylen, "cpu_affinity: unknown mode %d",
		    (int)mode);
		return -EINVAL;
	}
	for (unsigned i = 0; i < nloops; i++)
		cpu[i] = from ? cpuset_nth(from, i) : -1;
	return 0;
}

int
rmq_affinity_attr(pthread_attr_t *attr, int cpu)
{
	cpu_set_t s;
	if (cpu < 0 || cpu >= CPU_SETSIZE)
		return -EINVAL;
	CPU_ZERO(&s);
	CPU_SET((unsigned)cpu, &s);
	return -pthread_attr_setaffinity_np(attr, sizeof(s), &s);
}

/* dir/name opened for reading, or NULL (a path too long is not there). */
static FILE *
cgroup_file(const char *dir, const char *name)
{
	char path[4200];
	size_t a = strlen(dir), b = strlen(name);
	if (a + 1 + b + 1 > sizeof(path))
		return NULL;
	memcpy(path, dir, a);
	path[a] = '/';
	memcpy(path + a + 1, name, b + 1);
	return fopen(path, "r");
}

/* One cgroup directory's quota in millionths of a CPU, or 0 for none or
 * unreadable. */
static unsigned long long
cgroup_dir_quota(const char *dir, int v2)
{
	char buf[128];
	unsigned long long quota = 0, period = 0;
	FILE *f;
	if (v2) {
		if ((f = cgroup_file(dir, "cpu.max")) == NULL)
			return 0;
		/* "max 100000" or "150000 100000" */
		if (fgets(buf, sizeof(buf), f) == NULL ||
		    sscanf(buf, "%llu %llu", &quota, &period) != 2)
			quota = 0;
		fclose(f);
	} else {
		long long q = -1;
		if ((f = cgroup_file(dir, "cpu.cfs_quota_us")) == NULL)
			return 0;
		if (fscanf(f, "%lld", &q) != 1)
			q = -1;
		fclose(f);
		if (q <= 0 ||
		    (f = cgroup_file(dir, "cpu.cfs_period_us")) == NULL)
			return 0;
		if (fscanf(f, "%llu", &period) != 1)
			period = 0;
		fclose(f);
		quota = (unsigned long long)q;
	}
	if (quota == 0 || period == 0)
		return 0;
	return quota * 1000000ull / period;
}

/* The smallest quota from `base` + `path` up to `base`. */
static unsigned long long
cgroup_walk(const char *base, const char *path, int v2)
{
	char dir[4096];
	unsigned long long best = 0;
	int n = snprintf(dir, sizeof(dir), "%s%s", base, path);
	if (n < 0 || (size_t)n >= sizeof(dir))
		return 0;
	size_t stop = strlen(base);
	for (;;) {
		unsigned long long q = cgroup_dir_quota(dir, v2);
		if (q && (best == 0 || q < best))
			best = q;
		char *slash = strrchr(dir, '/');
		if (slash == NULL || (size_t)(slash - dir) < stop)
			break;
		*slash = '\0';
	}
	return best;
}

/* The quota of one line of /proc/self/cgroup, "ID:CONTROLLERS:PATH", in
 * millionths of a CPU, or 0. */
static unsigned long long
cgroup_line_quota(const char *root, const char *line, size_t len)
{
	char ctl[256], path[2048], base[4096];
	const char *c1 = memchr(line, ':', len);
	const char *c2 =
	    c1 ? memchr(c1 + 1, ':', len - (size_t)(c1 + 1 - line)) : NULL;
	if (c2 == NULL)
		return 0;
	size_t cl = (size_t)(c2 - c1 - 1), pl = len - (size_t)(c2 + 1 - line);
	if (cl >= sizeof(ctl) || pl >= sizeof(path))
		return 0;
	memcpy(ctl, c1 + 1, cl);
	ctl[cl] = '\0';
	memcpy(path, c2 + 1, pl);
	path[pl] = '\0';
	if (strcmp(path, "/") == 0)
		path[0] = '\0';
	/* v2; on a hybrid host a v2 tree without the cpu controller has no
	 * cpu.max and limits nothing. */
	if (strncmp(line, "0::", 3) == 0)
		return cgroup_walk(root, path, 1);
	/* v1, where "cpu" is among the controllers: mounted as
	 * "cpu,cpuacct" or "cpu" (with a "cpu,cpuacct" link or not). */
	char list[sizeof(ctl) + 2];
	snprintf(list, sizeof(list), ",%s,", ctl);
	if (strstr(list, ",cpu,") == NULL)
		return 0;
	snprintf(base, sizeof(base), "%s/%s", root, ctl);
	unsigned long long q = cgroup_walk(base, path, 0);
	if (q == 0) {
		snprintf(base, sizeof(base), "%s/cpu", root);
		q = cgroup_walk(base, path, 0);
	}
	return q;
}

unsigned
rmq_cgroup_cpu_quota(const char *root, const char *cgroup)
{
	unsigned long long best = 0;
	for (const char *line = cgroup; line && *line;) {
		const char *end = strchr(line, '\n');
		size_t len = end ? (size_t)(end - line) : strlen(line);
		unsigned long long q = cgroup_line_quota(root, line, len);
		if (q && (best == 0 || q < best))
			best = q;
		line = end ? end + 1 : NULL;
	}
	return best ? (unsigned)((best + 999999ull) / 1000000ull) : 0;
}
