/* broker/platform/affinity.h: the CPUs the worker loops get: how many there are
 * by default (the CPUs the process may run on, within its cgroup's CPU
 * quota) and which CPU each runs on (`cpu_affinity`).
 *
 * RingMQ's loops are per core.  Pinned, a loop is always woken on its own
 * CPU: the scheduler does not move it next to the thread that woke it (to
 * wait there until that thread sleeps), nor away from its caches.  The
 * default (`auto`) pins only the per-core shape, one loop for each CPU the
 * process may run on; a CPU list pins any shape; `none` leaves placement
 * to the kernel.
 */
#ifndef RMQ_AFFINITY_H
#define RMQ_AFFINITY_H

#include <pthread.h>
#include <sched.h>
#include <stddef.h>

enum rmq_affinity_mode {
	RMQ_AFFINITY_AUTO = 0, /* pin when loops == CPUs allowed */
	RMQ_AFFINITY_NONE, /* never pin */
	RMQ_AFFINITY_LIST, /* loop i on the i-th listed CPU, wrapping */
};

/* Parse a CPU list as taskset and cpusets write it ("0-3,8,10-11") into
 * `out`.  Returns 0, or -1 (empty, malformed, descending range, or a CPU
 * past CPU_SETSIZE). */
int rmq_cpulist_parse(const char *s, cpu_set_t *out);

/* A `cpu_affinity` value: "auto", "none" or a CPU list (into *list).
 * Returns 0, or -1 with *mode and *list unchanged. */
int rmq_affinity_parse(const char *s, enum rmq_affinity_mode *mode,
    cpu_set_t *list);

/* Write `set` as a CPU list ("0-3,8"; "" when empty) into buf, truncated
 * to len. */
void rmq_cpulist_format(const cpu_set_t *set, char *buf, size_t len);

/* The CPUs this process may run on (its affinity, which a container's
 * cpuset narrows).  Returns their count, at least 1; `out` may be NULL. */
unsigned rmq_affinity_allowed(cpu_set_t *out);

/* The CPU quota of the cgroup at `cgroup` (the text of /proc/self/cgroup)
 * and of its ancestors under `root` (/sys/fs/cgroup), in whole CPUs
 * rounded up: the smallest of cgroup v2's cpu.max and v1's
 * cpu.cfs_quota_us / cpu.cfs_period_us found on the way up.  A container
 * limited to 1.5 CPUs gets 2.  Returns 0 when nothing limits it. */
unsigned rmq_cgroup_cpu_quota(const char *root, const char *cgroup);

/* Decide the CPU of each of `nloops` loops: cpu[i] is a CPU number, or -1
 * for not pinned.  `list` is read in RMQ_AFFINITY_LIST mode only; every
 * listed CPU must be in `allowed`.  Returns 0, or -EINVAL with the reason
 * in why. */
int rmq_affinity_plan(enum rmq_affinity_mode mode, const cpu_set_t *list,
    const cpu_set_t *allowed, unsigned nloops, int *cpu, char *why,
    size_t whylen);

/* Start the thread that `attr` creates on `cpu` only, from its first
 * instruction.  Returns 0 or a negative errno. */
int rmq_affinity_attr(pthread_attr_t *attr, int cpu);

#endif
