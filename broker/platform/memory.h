/* broker/platform/memory.h: the broker-wide memory budget.
 *
 * In a container the kernel kills a process that passes its cgroup's
 * memory limit, and every client goes with it.  Long before that, the
 * broker can say no: past `memory_limit` bytes resident it refuses new
 * work (connections, PUBLISHes, subscriptions) and keeps serving what it
 * holds, so that queues drain and memory comes back.  This file measures
 * the two sides: what the process holds (its resident set, what the
 * kernel counts) and what the cgroup allows.  broker.c samples them at
 * each tick and flips the flag the loops read.
 */
#ifndef RMQ_MEMORY_H
#define RMQ_MEMORY_H

#include <stdint.h>

/* memory_limit unset (`auto`): this share, in percent, of the cgroup's
 * limit; none when the process has no cgroup limit. */
#define RMQ_MEM_AUTO_PERCENT 90
/* Once over the budget, new work is taken again below this share of it
 * (percent), so that a process at the edge does not flap. */
#define RMQ_MEM_RESUME_PERCENT 95

/* The memory limit of the cgroup the process runs in (v2 memory.max, the
 * smallest up the hierarchy, or v1 memory.limit_in_bytes), in bytes; 0
 * when there is none or it cannot be read.  `root` prefixes /proc and
 * /sys ("" for the real ones; a directory in tests). */
uint64_t rmq_mem_cgroup_limit(const char *root);

/* The process's resident set in bytes (/proc/self/statm); 0 if unread. */
uint64_t rmq_mem_resident(void);

/* The budget that applies: `setting` bytes, 0 for none, or -1 (`auto`)
 * for RMQ_MEM_AUTO_PERCENT of `cgroup` (none without one). */
uint64_t rmq_mem_budget(int64_t setting, uint64_t cgroup);

/* Whether the broker is over its `budget` with `resident` bytes, given
 * whether it was at the last sample (`was`): over at the budget, under
 * again below RMQ_MEM_RESUME_PERCENT of it.  No budget: never over. */
int rmq_mem_over(uint64_t budget, uint64_t resident, int was);

#endif
