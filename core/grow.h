/* core/grow.h: the one way an array grows here: by doubling, from a first
 * capacity, to at most a bound, with realloc.  Every growing array of the
 * session, the worker, routing and the retained store goes through it, so
 * the overflow and out-of-memory cases are handled once.
 */
#ifndef RMQ_GROW_H
#define RMQ_GROW_H

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>

/* Make *arrp (an array of elements of `size` bytes, with room for *cap)
 * hold at least `need` elements: the capacity doubles from `first` (or
 * from *cap) and never passes `max`.  Returns 0, or -ENOMEM when memory
 * or the bound runs out; the array and *cap are unchanged then.  arrp is
 * the address of the array pointer (T **). */
static inline int
rmq_grow(void *arrp, uint32_t *cap, uint32_t need, size_t size, uint32_t first,
    uint32_t max)
{
	void **arr = arrp;
	if (need <= *cap)
		return 0;
	if (need > max)
		return -ENOMEM;
	uint64_t c = *cap ? *cap : first;
	while (c < need)
		c *= 2;
	if (c > max)
		c = max;
	if (c > SIZE_MAX / size)
		return -ENOMEM;
	void *p = realloc(*arr, (size_t)c * size);
	if (p == NULL)
		return -ENOMEM;
	*arr = p;
	*cap = (uint32_t)c;
	return 0;
}

#endif
