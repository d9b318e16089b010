/* broker/platform/arena.h: an allocator arena of its own for each worker loop.
 *
 * A loop allocates its sessions, queues and messages from a jemalloc arena
 * that no other thread is bound to, rather than one jemalloc picks by
 * load (and may share with NNG's or the admin server's threads): a loop's
 * memory stays together, its refills take no lock another loop holds, and
 * its footprint can be read on its own.  Without jemalloc binding is
 * refused and the loop uses the default allocator; under a sanitizer,
 * whose malloc replaces jemalloc's, the binding holds but carries no
 * allocations.  Nothing else changes.
 */
#ifndef RMQ_ARENA_H
#define RMQ_ARENA_H

#include <stdint.h>

/* Create an arena and bind the calling thread to it.  Returns its index
 * (> 0), or a negative errno: -ENOTSUP without jemalloc. */
int rmq_arena_bind_new(void);

/* The arena the calling thread allocates from, or a negative errno. */
int rmq_arena_current(void);

/* Bring jemalloc's statistics up to date (once per reading of several
 * arenas: it merges every thread's counts).  0 or a negative errno. */
int rmq_arena_refresh(void);

/* How many threads are bound to arena `a`, and the bytes allocated from
 * it (small and large), as of the last rmq_arena_refresh; negative errno
 * if unknown. */
int64_t rmq_arena_threads(unsigned a);
int64_t rmq_arena_allocated(unsigned a);

#endif
