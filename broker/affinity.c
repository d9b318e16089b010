/* broker/affinity.c: CPU lists, and the CPU each worker loop is pinned to
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
			    "cpu_affinity: CPU %s is not one this process may "
			    "run on (%s)",
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
