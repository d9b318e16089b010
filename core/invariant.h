/* core/invariant.h: RMQ_ASSERT, a check of an internal invariant in debug
 * builds (the sanitizer and fuzzing builds among them), compiled out of
 * release builds like assert(3).
 *
 * It is for facts the code itself keeps (a window never longer than its
 * size, a queue's byte count equal to what it holds), never for what a
 * peer sends: peer input gets a reason code and a closed connection, not
 * an abort (docs/architecture.md).
 */
#ifndef RMQ_INVARIANT_H
#define RMQ_INVARIANT_H

#include <stdio.h>
#include <stdlib.h>

#ifndef NDEBUG
__attribute__((noreturn, cold)) static inline void
rmq_assert_fail(const char *what, const char *file, int line)
{
	fprintf(stderr, "ringmq: %s:%d: invariant broken: %s\n", file, line,
	    what);
	abort();
}
#define RMQ_ASSERT(cond)                                                       \
	((cond) ? (void)0 : rmq_assert_fail(#cond, __FILE__, __LINE__))
#else
#define RMQ_ASSERT(cond) ((void)0)
#endif

#endif
