/* broker/platform/arena.c: per-loop jemalloc arenas (see arena.h). */
#include "arena.h"

#include <errno.h>
#include <stdio.h>

#include "rmq_config.h"

#if RMQ_HAVE_JEMALLOC
#include <jemalloc/jemalloc.h>

int
rmq_arena_bind_new(void)
{
	unsigned a;
	size_t sz = sizeof(a);
	int rc = mallctl("arenas.create", &a, &sz, NULL, 0);
	if (rc != 0)
		return -rc;
	rc = mallctl("thread.arena", NULL, NULL, &a, sizeof(a));
	if (rc != 0)
		return -rc;
	/* Objects cached for the old arena go back to it now. */
	(void)mallctl("thread.tcache.flush", NULL, NULL, NULL, 0);
	return (int)a;
}

int
rmq_arena_current(void)
{
	unsigned a;
	size_t sz = sizeof(a);
	int rc = mallctl("thread.arena", &a, &sz, NULL, 0);
	return rc != 0 ? -rc : (int)a;
}

int
rmq_arena_refresh(void)
{
	uint64_t epoch = 1;
	size_t sz = sizeof(epoch);
	return -mallctl("epoch", &epoch, &sz, &epoch, sz);
}

static int64_t
arena_stat(unsigned a, const char *what, size_t width)
{
	char name[64];
	snprintf(name, sizeof(name), "stats.arenas.%u.%s", a, what);
	if (width == sizeof(unsigned)) {
		unsigned v;
		size_t sz = sizeof(v);
		int rc = mallctl(name, &v, &sz, NULL, 0);
		return rc != 0 ? -rc : (int64_t)v;
	}
	size_t v;
	size_t sz = sizeof(v);
	int rc = mallctl(name, &v, &sz, NULL, 0);
	return rc != 0 ? -rc : (int64_t)v;
}

int64_t
rmq_arena_threads(unsigned a)
{
	return arena_stat(a, "nthreads", sizeof(unsigned));
}

int64_t
rmq_arena_allocated(unsigned a)
{
	int64_t s = arena_stat(a, "small.allocated", sizeof(size_t));
	int64_t l = arena_stat(a, "large.allocated", sizeof(size_t));
	return s < 0 ? s : l < 0 ? l : s + l;
}

#else

int
rmq_arena_bind_new(void)
{
	return -ENOTSUP;
}

int
rmq_arena_current(void)
{
	return -ENOTSUP;
}

int
rmq_arena_refresh(void)
{
	return -ENOTSUP;
}

int64_t
rmq_arena_threads(unsigned a)
{
	(void)a;
	return -ENOTSUP;
}

int64_t
rmq_arena_allocated(unsigned a)
{
	(void)a;
	return -ENOTSUP;
}

#endif
