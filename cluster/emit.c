/* cluster/emit.c: Prometheus text lines (emit.h). */
#include "emit.h"

#include <stdarg.h>
#include <stdio.h>

void
rmq_emit(rmq_put_fn put, void *arg, const char *fmt, ...)
{
	char line[512];
	va_list ap;
	va_start(ap, fmt);
	int k = vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (k > 0)
		put(arg, line,
		    (size_t)k < sizeof(line) ? (size_t)k : sizeof(line) - 1);
}

void
rmq_emit_head(rmq_put_fn put, void *arg, const char *name, const char *type,
    const char *help)
{
	rmq_emit(put, arg, "# HELP %s %s\n# TYPE %s %s\n", name, help, name,
	    type);
}

void
rmq_emit_one(rmq_put_fn put, void *arg, const char *name, const char *type,
    const char *help, uint64_t v)
{
	rmq_emit_head(put, arg, name, type, help);
	rmq_emit(put, arg, "%s %llu\n", name, (unsigned long long)v);
}
