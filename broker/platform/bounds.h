/* broker/platform/bounds.h: the compile-time bounds that array sizes and
 * bit masks rely on.  The configuration may set lower limits, never higher
 * ones; docs/configuration.md states them.  (Not limits.h: that name would
 * hide the C library's from every file on this include path.) */
#ifndef RMQ_BOUNDS_H
#define RMQ_BOUNDS_H

#define RMQ_MAX_LISTENERS 8
#define RMQ_MAX_WORKERS 64 /* a worker is a bit of a 64-bit mask */
#define RMQ_MAX_INFLIGHT 1024 /* per session: the window's slots */

#endif
